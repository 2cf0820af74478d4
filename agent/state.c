/* Accessors of the agent's state for operations that see only op.h. */
#include "agent.h"

#include "log.h"

const struct agent_options *agent_options(const struct agent *agent)
{
	return &agent->opts;
}

struct loop *agent_loop(const struct agent *agent)
{
	return agent->loop;
}

bool agent_is_frozen(const struct agent *agent)
{
	return agent->frozen;
}

void agent_set_frozen(struct agent *agent, bool frozen)
{
	if (agent->frozen != frozen)
		log_info("filesystems %s", frozen ? "frozen: exec is rejected until thaw" : "thawed");
	agent->frozen = frozen;
}
