/* The hooks runner: sorted executables, one argument, a timeout each. */
#include "freeze_hooks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

extern char **environ;

/* Polling interval when no pidfd is available (see spawn_hook). */
#define HOOK_POLL_MS 10

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_hook(int dir_fd, const char *name)
{
	struct stat st;

	if (name[0] == '.')
		return false;
	if (fstatat(dir_fd, name, &st, 0) < 0)
		return false;
	return S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

/* Lists the hook names in dir, sorted. Returns the count or -errno. */
static ssize_t list_hooks(const char *dir, char ***names)
{
	size_t count = 0;
	struct dirent *entry;
	DIR *stream;
	int ret = 0;

	*names = NULL;
	stream = opendir(dir);
	if (!stream)
		return errno == ENOENT ? 0 : -errno;
	*names = calloc(HOOKS_MAX, sizeof(**names));
	if (!*names) {
		closedir(stream);
		return -ENOMEM;
	}
	while ((entry = readdir(stream))) {
		if (!is_hook(dirfd(stream), entry->d_name))
			continue;
		if (count == HOOKS_MAX) {
			ret = -E2BIG;
			break;
		}
		(*names)[count] = strdup(entry->d_name);
		if (!(*names)[count++]) {
			ret = -ENOMEM;
			break;
		}
	}
	closedir(stream);
	if (ret < 0) {
		for (size_t i = 0; i < count; i++)
			free((*names)[i]);
		free(*names);
		*names = NULL;
		return ret;
	}
	qsort(*names, count, sizeof(**names), compare_names);
	return (ssize_t)count;
}

/* In the child: only raw system calls until execve. */
__attribute__((noreturn)) static void exec_hook(char *path, char *arg)
{
	char *argv[] = { path, arg, NULL };
	sigset_t all;
	int null_fd;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < 65; sig++)
		signal(sig, SIG_DFL);
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd >= 0)
		dup2(null_fd, 0);
	dup2(2, 1);
	if (chdir("/") == 0)
		execve(path, argv, environ);
	_exit(127);
}

/* In the child: waits for the hook and exits with its shell-style status.
 * This waiter never calls execve, so it keeps the exit signal 0 it was
 * created with. An execve resets the exit signal to SIGCHLD, and the agent's
 * waitpid(-1) reaper would then collect the process before wait_hook could. */
__attribute__((noreturn)) static void wait_for_hook(char *path, char *arg)
{
	int status;
	long pid;

	/* The hook joins this process group, which the agent kills on timeout.
	 * clone with SIGCHLD and no stack is fork without musl's atfork work. */
	setpgid(0, 0);
	pid = syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0)
		exec_hook(path, arg);
	if (pid < 0)
		_exit(127);
	while (syscall(SYS_wait4, (pid_t)pid, &status, 0, NULL) < 0)
		if (errno != EINTR)
			_exit(127);
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* Starts the waiter with exit signal 0 and, where the kernel offers it, a
 * pidfd (CLONE_PIDFD, Linux 5.2). The clone argument holding the pidfd is the
 * third on every architecture. Without a pidfd (qemu-user rejects
 * CLONE_PIDFD), *pidfd is -1 and wait_hook polls. */
static int spawn_hook(char *path, char *arg, int *pidfd, pid_t *pid)
{
	int fd = -1;
	long ret;

	ret = syscall(SYS_clone, CLONE_PIDFD, NULL, &fd, NULL, NULL);
	if (ret < 0 && (errno == EINVAL || errno == ENOSYS)) {
		fd = -1;
		ret = syscall(SYS_clone, 0, NULL, NULL, NULL, NULL);
	}
	/* NOTE: qemu-user also rejects exit signal 0. The plain fork below lets
	 * a waitpid(-1) reaper collect the waiter, which only the unit tests
	 * under emulation meet: a guest kernel has CLONE_PIDFD. */
	if (ret < 0 && errno == EINVAL)
		ret = syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		wait_for_hook(path, arg);
	*pidfd = fd;
	*pid = (pid_t)ret;
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits up to wait_ms for the waiter to exit, without reaping it. Returns 1
 * when it exited, 0 when the time passed, or -errno. */
static int wait_exit(int pidfd, pid_t pid, int wait_ms)
{
	if (pidfd >= 0) {
		struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
		int ready = poll(&pfd, 1, wait_ms);

		return ready < 0 ? -errno : ready > 0;
	}
	for (;;) {
		siginfo_t info;
		int step;

		memset(&info, 0, sizeof(info));
		if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT | WNOHANG | __WALL) < 0)
			return -errno;
		if (info.si_pid != 0)
			return 1;
		if (wait_ms <= 0)
			return 0;
		step = wait_ms < HOOK_POLL_MS ? wait_ms : HOOK_POLL_MS;
		poll(NULL, 0, step);
		wait_ms -= step;
	}
}

/* Waits for the hook; kills its process group at the deadline. Sets *status
 * to the shell-style status and *timed_out. Returns 0 or -errno. */
static int wait_hook(int pidfd, pid_t pid, unsigned int timeout_ms, int *status, bool *timed_out)
{
	uint64_t deadline = now_ms() + timeout_ms;
	idtype_t id_type = pidfd >= 0 ? (idtype_t)P_PIDFD : P_PID;
	id_t id = pidfd >= 0 ? (id_t)pidfd : (id_t)pid;
	siginfo_t info;

	*timed_out = false;
	for (;;) {
		uint64_t now = now_ms();
		int ret = wait_exit(pidfd, pid, now >= deadline ? 0 : (int)(deadline - now));

		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return ret;
		if (ret > 0)
			break;
		if (now_ms() >= deadline) {
			/* The unreaped waiter keeps its pid and group id reserved. */
			kill(-pid, SIGKILL);
			*timed_out = true;
			break;
		}
	}
	memset(&info, 0, sizeof(info));
	while (waitid(id_type, id, &info, WEXITED | __WALL) < 0)
		if (errno != EINTR)
			return -errno;
	/* The waiter exits with the hook's shell-style status; a signal here
	 * is the timeout's SIGKILL. */
	*status = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
	return 0;
}

static int report_add(struct hooks_report *report, const char *line)
{
	char **bigger = realloc(report->lines, (report->count + 1) * sizeof(*bigger));

	if (!bigger)
		return -ENOMEM;
	report->lines = bigger;
	report->lines[report->count] = strdup(line);
	if (!report->lines[report->count])
		return -ENOMEM;
	report->count++;
	return 0;
}

/* Runs one hook and records its outcome. Returns 0, 1 when it failed, or -errno. */
static int run_one(const char *dir, const char *name, const char *arg, unsigned int timeout_ms,
		   struct hooks_report *report)
{
	char path[4096], arg_copy[64], line[4400];
	bool timed_out = false;
	int pidfd = -1, status = 0, ret;
	pid_t pid = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	if ((size_t)snprintf(arg_copy, sizeof(arg_copy), "%s", arg) >= sizeof(arg_copy))
		return -EINVAL;
	ret = spawn_hook(path, arg_copy, &pidfd, &pid);
	if (ret < 0)
		return ret;
	ret = wait_hook(pidfd, pid, timeout_ms, &status, &timed_out);
	close(pidfd);
	if (ret < 0)
		return ret;

	if (timed_out)
		snprintf(line, sizeof(line), "%s: timed out after %u ms", name, timeout_ms);
	else
		snprintf(line, sizeof(line), "%s: exit status %d", name, status);
	ret = report_add(report, line);
	if (ret < 0)
		return ret;
	if (!timed_out && status == 0)
		return 0;
	if (timed_out)
		snprintf(line, sizeof(line), "hook '%s' timed out after %u ms", path, timeout_ms);
	else
		snprintf(line, sizeof(line), "hook '%s' failed with exit status %d", path, status);
	if (!report->failure)
		report->failure = strdup(line);
	return 1;
}

int hooks_run(const char *dir, const char *arg, unsigned int timeout_ms, bool stop_on_failure,
	      struct hooks_report *report)
{
	char **names;
	ssize_t count = list_hooks(dir, &names);
	int result = 0;

	memset(report, 0, sizeof(*report));
	if (count < 0)
		return (int)count;
	for (ssize_t i = 0; i < count; i++) {
		bool stopped = result < 0 || (result > 0 && stop_on_failure);
		int ret = stopped ? 0 : run_one(dir, names[i], arg, timeout_ms, report);

		if (ret < 0 || (ret > 0 && result == 0))
			result = ret;
		free(names[i]);
	}
	free(names);
	return result;
}

void hooks_report_free(struct hooks_report *report)
{
	for (size_t i = 0; i < report->count; i++)
		free(report->lines[i]);
	free(report->lines);
	free(report->failure);
	memset(report, 0, sizeof(*report));
}
