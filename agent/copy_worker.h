/* The process that performs one copy-in or copy-out. It is forked per request
 * and takes on the requested user's credentials, so every file it reads or
 * creates is checked with that user's permissions. It takes over the
 * client's connection and exchanges the copy frames with the client itself. */
#ifndef EMBER_AGENT_COPY_WORKER_H
#define EMBER_AGENT_COPY_WORKER_H

#include "agent.pb-c.h"

/* Runs the copy of request on the connection fd, logging as connection id,
 * and returns the process exit status: 0 once the final frame (CopyResult or
 * Error) was written, 1 when the client went away first. */
int copy_worker_run(int fd, const Ember__Request *request, const char *id);

#endif
