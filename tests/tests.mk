# Unit tests: tests/unit/COMPONENT/test_*.c, each a program linked with that
# component's objects (its main.c left out), built like the component so that
# guest code is tested as musl builds it. `make test` runs them, then pytest.
UNIT := $(OUT)/tests/unit
LIB_GUEST_OBJS := $(LIB_GUEST_A)
UNIT_CFLAGS = $(GUEST_CFLAGS) -Itests/unit

unit_bins = $(patsubst tests/unit/%.c,$(UNIT)/%,$(wildcard tests/unit/$(1)/test_*.c))

$(UNIT)/lib/%: tests/unit/lib/%.c $(PROTO_GUEST_OBJS) $(LIB_GUEST_OBJS)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(UNIT_CFLAGS) $(GUEST_LDFLAGS) -o $@ $^ -lprotobuf-c

$(UNIT)/init/%: tests/unit/init/%.c $(filter-out %/main.o,$(INIT_OBJS)) $(LIB_GUEST_OBJS)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(UNIT_CFLAGS) -Iinit $(GUEST_LDFLAGS) -o $@ $^ $(INIT_LIBS)

$(UNIT)/agent/%: tests/unit/agent/%.c $(filter-out %/main.o,$(AGENT_OBJS)) \
		$(PROTO_GUEST_OBJS) $(LIB_GUEST_OBJS)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(UNIT_CFLAGS) -Iagent $(GUEST_LDFLAGS) -o $@ $^ $(AGENT_LIBS)

$(UNIT)/host/%: tests/unit/host/%.c $(filter-out %/main.o,$(EMBERCTL_OBJS)) \
		$(LIBEMBER_GUEST_OBJS) $(PROTO_GUEST_OBJS) $(LIB_GUEST_OBJS)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(UNIT_CFLAGS) -Ihost/libember -Ihost/emberctl $(GUEST_LDFLAGS) -o $@ $^ \
		-lprotobuf-c

$(UNIT)/rootfs/%: tests/unit/rootfs/%.c $(filter-out %/main.o,$(ROOTFS_OBJS)) \
		$(LIB_HOST_A)
	@mkdir -p $(dir $@)
	$(HOST_CC) $(HOST_CFLAGS) -Itests/unit -Irootfs-builder -o $@ $^ $(ROOTFS_LIBS)

UNIT_COMPONENTS := lib init agent host $(if $(BUILD_HOST_TOOLS),rootfs)
UNIT_BINS := $(foreach c,$(UNIT_COMPONENTS),$(call unit_bins,$(c)))

test-unit: all $(UNIT_BINS)
	UNIT_RUNNER='$(UNIT_RUNNER)' /usr/bin/python3 tests/run.py --unit-only $(UNIT_BINS)

# TESTS narrows pytest, e.g. `make test TESTS=tests/init`.
test: all $(UNIT_BINS)
	UNIT_RUNNER='$(UNIT_RUNNER)' EMBER_BUILD=$(OUT) ARCH=$(ARCH) \
		/usr/bin/python3 tests/run.py $(UNIT_BINS) -- $(TESTS)
