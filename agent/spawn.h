/* Starting a session's process: pipes or a PTY, a new session and process
 * group, the cgroup, the user's credentials, the directory, then execve with
 * a PATH lookup in the child's own environment. */
#ifndef EMBER_AGENT_SPAWN_H
#define EMBER_AGENT_SPAWN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "user.h"

struct spawn_request {
	char *const *argv;
	char *const *envp;
	const char *cwd;             /* NULL: HOME when it exists, else "/" */
	const struct user_info *user;
	bool tty;
	uint16_t rows;
	uint16_t cols;
	bool stdin_pipe;             /* false: stdin is /dev/null (pipes only) */
	const char *cgroup_procs;    /* cgroup.procs file to join, or NULL */
};

struct spawn_result {
	pid_t pid;
	int stdin_fd;                /* pipe or PTY master (dup), -1 when none */
	int stdout_fd;               /* pipe, or PTY master for the merged output */
	int stderr_fd;               /* pipe, -1 on a PTY */
};

/* Starts the process. Returns 0; or -errno with *stage set to the step that
 * failed ("execute", "change directory to", ...) when the child could not
 * start; or -errno from creating pipes, the PTY or the process. All
 * descriptors are non-blocking and close-on-exec on the agent's side. */
int spawn_process(const struct spawn_request *request, struct spawn_result *result,
		  const char **stage);

#endif
