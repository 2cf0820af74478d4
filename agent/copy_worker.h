/* The process that performs one copy-in or copy-out. It is forked per request
 * and takes on the requested user's credentials, so every file it reads or
 * creates is checked with that user's permissions. It exchanges copy frames
 * with the agent over one end of a socket pair. */
#ifndef EMBER_AGENT_COPY_WORKER_H
#define EMBER_AGENT_COPY_WORKER_H

#include "agent.pb-c.h"

/* Runs the copy of request on fd (blocking) and returns the process exit
 * status: 0 after a CopyResult was sent, 1 after an Error or when the agent
 * went away. */
int copy_worker_run(int fd, const Ember__Request *request);

#endif
