# ember-init: static PID 1.
INIT_SRCS := $(wildcard init/*.c)
INIT_OBJS := $(call guest_objs,$(INIT_SRCS))
INIT_LIBS := -lnl-route-3 -lnl-3 -ljansson

$(BIN)/ember-init: $(INIT_OBJS) $(LIB_GUEST_A)
	@mkdir -p $(BIN)
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $^ $(INIT_LIBS)

ALL_TARGETS += $(BIN)/ember-init $(BIN)/ember-init.stripped
GUEST_BINS += $(BIN)/ember-init
