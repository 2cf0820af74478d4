/* The fork/exec path of a session. */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "env.h"
#include "io.h"

enum spawn_stage {
	STAGE_TERMINAL,
	STAGE_CGROUP,
	STAGE_GROUPS,
	STAGE_GID,
	STAGE_UID,
	STAGE_CWD,
	STAGE_EXEC,
};

static const char *const stage_names[] = {
	[STAGE_TERMINAL] = "set up the terminal",
	[STAGE_CGROUP] = "join the session cgroup",
	[STAGE_GROUPS] = "set supplementary groups",
	[STAGE_GID] = "set gid",
	[STAGE_UID] = "set uid",
	[STAGE_CWD] = "change directory to",
	[STAGE_EXEC] = "execute",
};

struct child_failure {
	int stage;
	int err;
};

/* Reports a failed step to the parent and exits; the exit code matches the
 * shell's: 127 not found, 126 not executable or other failures. */
static void __attribute__((noreturn)) child_fail(int report_fd, int stage, int err)
{
	struct child_failure failure = { stage, err };
	ssize_t n = write(report_fd, &failure, sizeof(failure));

	(void)n;
	_exit(err == ENOENT ? 127 : 126);
}

static void child_reset_signals(void)
{
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static int child_join_cgroup(const char *procs)
{
	int fd = open(procs, O_WRONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return errno;
	if (write(fd, "0", 1) != 1)
		r = errno;
	close(fd);
	return r;
}

static int child_set_user(const struct user_info *user, int *stage)
{
	if (!user)
		return 0;
	/* An agent that is not root can only run processes as itself, and
	 * setgroups would fail for it. */
	if (getuid() != 0 && user->uid == getuid() && user->gid == getgid())
		return 0;
	*stage = STAGE_GROUPS;
	if (setgroups(user->group_count, user->groups) < 0 && !(errno == EPERM && getuid() == user->uid))
		return errno;
	*stage = STAGE_GID;
	if (setgid(user->gid) < 0 && !(errno == EPERM && getgid() == user->gid))
		return errno;
	*stage = STAGE_UID;
	if (setuid(user->uid) < 0)
		return errno;
	return 0;
}

/* execve with a PATH lookup that uses the child's environment, not the
 * agent's. Returns the errno to report. */
static int child_exec(char *const *argv, char *const *envp)
{
	const char *path;
	char candidate[PATH_MAX];
	int err = ENOENT;

	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, envp);
		return errno;
	}
	path = env_get(envp, "PATH");
	if (!path)
		path = ENV_DEFAULT_PATH;
	while (*path) {
		const char *colon = strchrnul(path, ':');
		size_t dir_len = (size_t)(colon - path);
		int n = snprintf(candidate, sizeof(candidate), "%.*s%s%s", (int)dir_len, path,
				 dir_len ? "/" : "", argv[0]);

		if (n > 0 && (size_t)n < sizeof(candidate)) {
			execve(candidate, argv, envp);
			if (errno == EACCES)
				err = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR)
				return errno;
		}
		path = *colon ? colon + 1 : colon;
	}
	return err;
}

static int child_open_tty(const char *slave_path, const struct spawn_request *request)
{
	int fd = open(slave_path, O_RDWR);
	struct winsize size = { .ws_row = request->rows, .ws_col = request->cols };

	if (fd < 0)
		return errno;
	if (ioctl(fd, TIOCSCTTY, 0) < 0)
		return errno;
	if (size.ws_row && size.ws_col)
		ioctl(fd, TIOCSWINSZ, &size);
	if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		return errno;
	if (fd > 2)
		close(fd);
	return 0;
}

/* Runs in the child; never returns. */
static void __attribute__((noreturn)) child_main(const struct spawn_request *request,
						 int report_fd, const char *slave_path,
						 int pipes[3][2])
{
	int stage = STAGE_TERMINAL;
	int err;

	child_reset_signals();
	setsid();
	if (request->tty) {
		err = child_open_tty(slave_path, request);
		if (err)
			child_fail(report_fd, STAGE_TERMINAL, err);
	} else {
		int in = pipes[0][0];

		if (!request->stdin_pipe) {
			in = open("/dev/null", O_RDONLY);
			if (in < 0)
				child_fail(report_fd, STAGE_TERMINAL, errno);
		}
		if (dup2(in, 0) < 0 || dup2(pipes[1][1], 1) < 0 || dup2(pipes[2][1], 2) < 0)
			child_fail(report_fd, STAGE_TERMINAL, errno);
	}
	/* Keep only 0-2 and the report pipe (close-on-exec) open. */
	if (report_fd != 3) {
		if (dup3(report_fd, 3, O_CLOEXEC) < 0)
			_exit(126);
		report_fd = 3;
	}
	close_fds_from(4);
	if (request->cgroup_procs) {
		err = child_join_cgroup(request->cgroup_procs);
		if (err)
			child_fail(report_fd, STAGE_CGROUP, err);
	}
	err = child_set_user(request->user, &stage);
	if (err)
		child_fail(report_fd, stage, err);
	if (request->cwd) {
		if (chdir(request->cwd) < 0)
			child_fail(report_fd, STAGE_CWD, errno);
	} else if (!request->user || chdir(request->user->home) < 0) {
		if (chdir("/") < 0)
			child_fail(report_fd, STAGE_CWD, errno);
	}
	child_fail(report_fd, STAGE_EXEC, child_exec(request->argv, request->envp));
}

static void close_pair(int pair[2])
{
	if (pair[0] >= 0)
		close(pair[0]);
	if (pair[1] >= 0)
		close(pair[1]);
	pair[0] = pair[1] = -1;
}

static int open_pty(int *master, char *slave_path, size_t len)
{
	int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (grantpt(fd) < 0 || unlockpt(fd) < 0 || ptsname_r(fd, slave_path, len) != 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	*master = fd;
	return 0;
}

int spawn_read_report(int report_fd, const char **stage)
{
	struct child_failure failure;
	ssize_t n;

	do
		n = read(report_fd, &failure, sizeof(failure));
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	if (n < 0)
		return -errno;
	/* EOF: the report pipe closed on execve (close-on-exec). */
	if (n == 0)
		return 0;
	/* The child writes one record of fewer than PIPE_BUF bytes, which
	 * arrives whole. */
	if (n != (ssize_t)sizeof(failure)) {
		*stage = "start";
		return -EIO;
	}
	*stage = (failure.stage >= 0 && failure.stage <= STAGE_EXEC)
		 ? stage_names[failure.stage] : "start";
	return -failure.err;
}

int spawn_start(const struct spawn_request *request, struct spawn_result *result, int *report_fd)
{
	int pipes[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	int report[2] = { -1, -1 };
	int master = -1, master_copy = -1;
	char slave_path[64];
	pid_t pid;
	int r = 0;

	result->pid = -1;
	result->stdin_fd = result->stdout_fd = result->stderr_fd = -1;
	if (pipe2(report, O_CLOEXEC) < 0)
		return -errno;
	if (request->tty) {
		r = open_pty(&master, slave_path, sizeof(slave_path));
		if (r == 0) {
			master_copy = fcntl(master, F_DUPFD_CLOEXEC, 3);
			if (master_copy < 0)
				r = -errno;
		}
	} else {
		for (int i = 0; i < 3 && r == 0; i++) {
			if (i == 0 && !request->stdin_pipe)
				continue;
			if (pipe2(pipes[i], O_CLOEXEC) < 0)
				r = -errno;
		}
	}
	if (r < 0)
		goto out;

	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0)
		child_main(request, report[1], slave_path, pipes);

	result->pid = pid;
	if (request->tty) {
		result->stdout_fd = master;
		result->stdin_fd = master_copy;
		master = master_copy = -1;
	} else {
		result->stdin_fd = pipes[0][1];
		result->stdout_fd = pipes[1][0];
		result->stderr_fd = pipes[2][0];
		pipes[0][1] = pipes[1][0] = pipes[2][0] = -1;
	}
	/* O_NONBLOCK belongs to the agent's open file descriptions only; the
	 * child's ends of the pipes and the PTY slave stay blocking. */
	fd_set_nonblock(result->stdout_fd, true);
	if (result->stdin_fd >= 0)
		fd_set_nonblock(result->stdin_fd, true);
	if (result->stderr_fd >= 0)
		fd_set_nonblock(result->stderr_fd, true);
	fd_set_nonblock(report[0], true);
	*report_fd = report[0];
	report[0] = -1;
out:
	for (int i = 0; i < 3; i++)
		close_pair(pipes[i]);
	close_pair(report);
	if (master >= 0)
		close(master);
	if (master_copy >= 0)
		close(master_copy);
	return r;
}
