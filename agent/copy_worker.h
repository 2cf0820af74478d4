/* The process that performs one copy-in or copy-out. It is forked per request
 * and takes on the requested user's credentials, so every file it reads or
 * creates is checked with that user's permissions. It takes over the
 * client's connection and exchanges the copy frames with the client itself. */
#ifndef EMBER_AGENT_COPY_WORKER_H
#define EMBER_AGENT_COPY_WORKER_H

#include <stdbool.h>
#include <sys/types.h>

#include "agent.pb-c.h"

/* The first argument that starts ember-agent as a copy worker:
 *   ember-agent --copy-worker CONN_ID LOG_LEVEL KMSG
 * with the connection on fd 3 and the packed Request on fd 4. */
#define COPY_WORKER_ARG "--copy-worker"
#define COPY_WORKER_CONN_FD 3
#define COPY_WORKER_REQUEST_FD 4

/* Opens the agent's own executable for starting copy workers. Called once at
 * startup; returns 0 or -errno. Without it, each copy tries again. */
int copy_op_setup(void);

/* Ends the copy whose worker pid the agent's SIGCHLD reaper collected with
 * wait status status. Returns false when pid is no copy worker. The exec
 * that starts a worker resets its exit signal to SIGCHLD, so the reaper's
 * waitpid(-1) may collect a worker before its pidfd is read. */
bool copy_op_reaped(pid_t pid, int status);

/* The main function of the copy worker mode: reads the Request, sets up the
 * log, runs the copy and returns the exit status of copy_worker_run, or 1
 * for arguments or a request that do not parse. */
int copy_worker_main(int argc, char **argv);

/* Runs the copy of request on the connection fd, logging as connection id,
 * and returns the process exit status: 0 once the final frame (CopyResult or
 * Error) was written, 1 when the client went away first. */
int copy_worker_run(int fd, const Ember__Request *request, const char *id);

#endif
