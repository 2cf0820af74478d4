# libember (the client library) and emberctl (the CLI over it).
# emberctl is static musl like the guest binaries, so it also runs in a guest;
# libember is built twice: with musl for emberctl, and with the machine's
# compiler as the installable static library with its header and pkg-config file.
LIBEMBER_SRCS := $(wildcard host/libember/*.c)
EMBERCTL_SRCS := $(wildcard host/emberctl/*.c)
EMBERCTL_OBJS := $(call guest_objs,$(EMBERCTL_SRCS))
LIBEMBER_GUEST_OBJS := $(call guest_objs,$(LIBEMBER_SRCS))
# emberctl includes the public header as "ember.h", as installed users do.
$(EMBERCTL_OBJS): GUEST_CFLAGS += -Ihost/libember
# libember carries the lib/ helpers it needs; they must not depend on jansson.
LIBEMBER_LIB_SRCS := lib/io.c lib/log.c lib/sha256.c $(wildcard lib/copy*.c)
LIBEMBER_HOST_OBJS := $(call host_objs,$(LIBEMBER_SRCS) $(LIBEMBER_LIB_SRCS)) $(PROTO_HOST_OBJS)
LIBEMBER_A := $(OUT)/lib/libember.a
LIBEMBER_PC := $(OUT)/lib/pkgconfig/libember.pc

$(BIN)/emberctl: $(EMBERCTL_OBJS) $(LIBEMBER_GUEST_OBJS) $(PROTO_GUEST_OBJS) $(LIB_GUEST_A)
	@mkdir -p $(BIN)
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $^ -lprotobuf-c

$(LIBEMBER_A): $(LIBEMBER_HOST_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBEMBER_PC): host/libember/libember.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< >$@

ALL_TARGETS += $(BIN)/emberctl $(BIN)/emberctl.stripped
ifeq ($(BUILD_HOST_TOOLS),yes)
ALL_TARGETS += $(LIBEMBER_A) $(LIBEMBER_PC)
endif
HOST_BINS += $(BIN)/emberctl
# The installed .pc is written at install time: build/lib's copy keeps the
# PREFIX of its first build, and `make install PREFIX=...` must not inherit it.
INSTALL_EXTRA += install -m 0644 $(LIBEMBER_A) $(DESTDIR)$(PREFIX)/lib/ && \
	install -m 0644 host/libember/ember.h $(DESTDIR)$(PREFIX)/include/ember/ && \
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' host/libember/libember.pc.in \
		>$(DESTDIR)$(PREFIX)/lib/pkgconfig/libember.pc ;
