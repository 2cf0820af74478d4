/* The agent's command line and the `agent` section of the boot config. */
#ifndef EMBER_AGENT_OPTIONS_H
#define EMBER_AGENT_OPTIONS_H

#include "agent.h"

/* Exit code for a usage error (bad option or config). */
#define AGENT_EXIT_USAGE 2

/* Fills agent->opts and agent->listeners from argv and the config file the
 * command line names. Returns 0, or -EINVAL after printing what is wrong. */
int options_parse(struct agent *agent, int argc, char **argv);

/* Reads the TCP token file, when one is configured. Returns 0 or -errno
 * (logged). */
int options_load_token(struct agent *agent);

#endif
