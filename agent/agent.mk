# ember-agent: the static request server.
AGENT_SRCS := $(wildcard agent/*.c)
AGENT_OBJS := $(call guest_objs,$(AGENT_SRCS))
AGENT_LIBS := -lprotobuf-c -lnl-route-3 -lnl-3 -ljansson -lpthread

$(BIN)/ember-agent: $(AGENT_OBJS) $(PROTO_GUEST_OBJS) $(LIB_GUEST_A)
	@mkdir -p $(BIN)
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $^ $(AGENT_LIBS)

ALL_TARGETS += $(BIN)/ember-agent $(BIN)/ember-agent.stripped
GUEST_BINS += $(BIN)/ember-agent
