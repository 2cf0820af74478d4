# ember-rootfs: container images to bootable root filesystems (host tool, dynamic).
ROOTFS_SRCS := $(wildcard rootfs-builder/*.c)
ROOTFS_OBJS := $(call host_objs,$(ROOTFS_SRCS))
ROOTFS_LIBS := -larchive -ljansson -lcrypto -lext2fs -lcom_err

$(BIN)/ember-rootfs: $(ROOTFS_OBJS) $(LIB_HOST_A)
	@mkdir -p $(BIN)
	$(HOST_CC) -o $@ $^ $(ROOTFS_LIBS)

ifeq ($(BUILD_HOST_TOOLS),yes)
ALL_TARGETS += $(BIN)/ember-rootfs
HOST_BINS += $(BIN)/ember-rootfs
endif
