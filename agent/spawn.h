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

/* Forks the child and returns at once: 0 with result filled in and
 * *report_fd set to a non-blocking descriptor that becomes readable when the
 * child has called execve or failed (read it with spawn_read_report), or
 * -errno from creating pipes, the PTY or the process. The agent's
 * descriptors are non-blocking and close-on-exec. */
int spawn_start(const struct spawn_request *request, struct spawn_result *result, int *report_fd);

/* Reads the child's report. Returns 0 once execve succeeded, or -EAGAIN
 * while the child has not got there yet. Otherwise returns the child's
 * -errno with *stage set to the failed step ("execute", "change directory
 * to", ...). */
int spawn_read_report(int report_fd, const char **stage);

#endif
