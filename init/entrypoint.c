/* The entrypoint: the image's process, started with OCI image semantics
 * (args, env with PATH defaulted, working directory, user and groups from the
 * image's own files), its output relayed to the console and the log ring. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "control.h"
#include "io.h"
#include "log.h"
#include "loop.h"
#include "user.h"

#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127
#define RELAY_CHUNK 65536

/* The child's arguments, prepared before fork so that the child allocates nothing. */
struct launch {
	char **argv;
	struct strv env;
	const char *cwd;
	struct user user;
	const char *path_env;
	const char *pty_name;
	int output_fd; /* write end of the output pipe, or -1 with a PTY */
};

static const char *env_get(const struct strv *env, const char *key)
{
	size_t len = strlen(key);

	for (size_t i = 0; i < env->n; i++) {
		if (strncmp(env->v[i], key, len) == 0 && env->v[i][len] == '=')
			return env->v[i] + len + 1;
	}
	return NULL;
}

/* Sets KEY=VALUE, replacing an earlier entry of the same key. */
static int env_set(struct strv *env, const char *assignment)
{
	size_t key_len = strcspn(assignment, "=");

	for (size_t i = 0; i < env->n; i++) {
		if (strncmp(env->v[i], assignment, key_len + 1) == 0) {
			char *copy = strdup(assignment);

			if (!copy)
				return -ENOMEM;
			free(env->v[i]);
			env->v[i] = copy;
			return 0;
		}
	}
	return strv_push(env, assignment);
}

static int build_env(const struct config *process, const struct strv *secrets,
		     const struct user *user, struct strv *env)
{
	char line[USER_HOME_MAX + 8];
	int r = 0;

	for (size_t i = 0; r == 0 && i < process->env.n; i++)
		r = env_set(env, process->env.v[i]);
	if (r == 0 && !env_get(env, "PATH"))
		r = env_set(env, "PATH=" CONFIG_DEFAULT_PATH_ENV);
	if (r == 0 && !env_get(env, "HOME")) {
		snprintf(line, sizeof(line), "HOME=%s", user->home);
		r = env_set(env, line);
	}
	if (r == 0 && process->terminal && !env_get(env, "TERM"))
		r = env_set(env, "TERM=xterm");
	for (size_t i = 0; r == 0 && secrets && i < secrets->n; i++)
		r = env_set(env, secrets->v[i]);
	return r;
}

/* Finds name in the PATH list the way execvp does. Returns 0 with the path in
 * out, -ENOENT when no candidate exists, -EACCES when one exists but cannot be
 * executed. */
static int find_program(const char *name, const char *path_env, char *out, size_t len)
{
	int r = -ENOENT;

	if (!*name)
		return -ENOENT;
	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return access(name, X_OK) == 0 ? 0 : -errno;
	}
	for (const char *dir = path_env; dir; ) {
		const char *colon = strchr(dir, ':');
		int dir_len = colon ? (int)(colon - dir) : (int)strlen(dir);
		struct stat st;

		snprintf(out, len, "%.*s/%s", dir_len, dir_len ? dir : ".", name);
		if (stat(out, &st) == 0) {
			if (S_ISREG(st.st_mode) && access(out, X_OK) == 0)
				return 0;
			r = -EACCES;
		}
		dir = colon ? colon + 1 : NULL;
	}
	return r;
}

static void __attribute__((noreturn)) child_fail(const char *what, const char *value, int err,
						int code)
{
	char line[PATH_MAX + 256];
	int n = snprintf(line, sizeof(line), "ember-init: error: failed to %s '%s': %s\n", what,
			 value, strerror(err));

	if (n > 0)
		write_full(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line));
	_exit(code);
}

static void child_setup_stdio(const struct launch *l)
{
	int null_fd, tty_fd;

	if (l->pty_name) {
		tty_fd = open(l->pty_name, O_RDWR);
		if (tty_fd < 0)
			child_fail("open terminal", l->pty_name, errno, EXIT_NOT_EXECUTABLE);
		ioctl(tty_fd, TIOCSCTTY, 0);
		dup2(tty_fd, 0);
		dup2(tty_fd, 1);
		dup2(tty_fd, 2);
		return;
	}
	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0)
		null_fd = open("/", O_RDONLY | O_DIRECTORY); /* reads fail, as from /dev/null */
	dup2(null_fd, 0);
	dup2(l->output_fd, 1);
	dup2(l->output_fd, 2);
}

static void __attribute__((noreturn)) child_exec(const struct launch *l)
{
	char program[PATH_MAX];
	int r;

	setsid();
	child_setup_stdio(l);
	cgroup_enter(CGROUP_WORKLOAD);
	write_file("/proc/self/oom_score_adj", "0\n", 2, 0644);

	if (setgroups(l->user.n_groups, l->user.groups) < 0)
		child_fail("set the groups of user", "process.user", errno, EXIT_NOT_EXECUTABLE);
	if (setgid(l->user.gid) < 0)
		child_fail("set group id for", "process.user", errno, EXIT_NOT_EXECUTABLE);
	if (setuid(l->user.uid) < 0)
		child_fail("set user id for", "process.user", errno, EXIT_NOT_EXECUTABLE);
	if (chdir(l->cwd) < 0)
		child_fail("change to working directory", l->cwd, errno, EXIT_NOT_EXECUTABLE);

	r = find_program(l->argv[0], l->path_env, program, sizeof(program));
	if (r < 0)
		child_fail("execute", l->argv[0], -r,
			   r == -ENOENT || r == -ENOTDIR ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE);
	signals_reset_for_child();
	close_fds_from(3);
	execve(program, l->argv, l->env.v);
	child_fail("execute", program, errno,
		   errno == ENOENT || errno == ENOTDIR ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE);
}

static void close_output(struct init *init)
{
	if (init->output_fd < 0)
		return;
	loop_remove(init->loop, init->output_fd);
	if (init->pty_fd >= 0 && console_input_fd() >= 0)
		loop_remove(init->loop, console_input_fd());
	close(init->output_fd);
	init->output_fd = -1;
	init->pty_fd = -1;
	if (init->ring_ready)
		logring_mark_closed(&init->ring);
}

/* Moves what the entrypoint wrote to the console and the ring. Returns false
 * at end of output. */
static bool relay_once(struct init *init)
{
	char buf[RELAY_CHUNK];
	ssize_t n = read(init->output_fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return errno == EINTR;
	if (n <= 0) {
		/* EOF on a pipe; EIO on a PTY master once every slave is closed. */
		close_output(init);
		return false;
	}
	console_write(buf, (size_t)n);
	if (init->ring_ready)
		logring_write(&init->ring, buf, (size_t)n);
	return true;
}

static void on_output(struct loop *loop, int fd, uint32_t events, void *data)
{
	(void)loop;
	(void)fd;
	(void)events;
	relay_once(data);
}

static void on_console_input(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct init *init = data;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		loop_remove(loop, fd); /* the console closed: nothing more to relay */
		return;
	}
	if (init->pty_fd >= 0 && write_full(init->pty_fd, buf, (size_t)n) < 0)
		log_debug("dropped %zd bytes of console input: the terminal is full", n);
}

void entrypoint_drain(struct init *init)
{
	while (init->output_fd >= 0 && relay_once(init))
		;
}

static int open_pty(struct init *init, char *name, size_t len)
{
	struct winsize ws;
	int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (grantpt(fd) < 0 || unlockpt(fd) < 0 || ptsname_r(fd, name, len) != 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	if (ioctl(console_input_fd(), TIOCGWINSZ, &ws) == 0)
		ioctl(fd, TIOCSWINSZ, &ws);
	init->pty_fd = fd;
	return fd;
}

static int prepare_output(struct init *init, const struct config *process, struct launch *l,
			  char *pty_name, size_t len)
{
	int fds[2];

	if (process->terminal) {
		int fd = open_pty(init, pty_name, len);

		if (fd < 0)
			return fd;
		l->pty_name = pty_name;
		l->output_fd = -1;
		init->output_fd = fd;
		return 0;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	init->output_fd = fds[0];
	l->output_fd = fds[1];
	return 0;
}

static void watch_output(struct init *init)
{
	fd_set_nonblock(init->output_fd, true);
	loop_add(init->loop, init->output_fd, EPOLLIN, on_output, init);
	if (init->pty_fd >= 0 && console_input_fd() >= 0) {
		struct termios raw;

		/* The PTY's line discipline does the echo, line editing and Ctrl-C;
		 * a cooked console would do them a second time. */
		if (tcgetattr(console_input_fd(), &raw) == 0) {
			cfmakeraw(&raw);
			if (tcsetattr(console_input_fd(), TCSANOW, &raw) < 0)
				log_warn("failed to put the console in raw mode: %s; input is echoed "
					 "twice", strerror(errno));
		}
		fd_set_nonblock(console_input_fd(), true);
		loop_add(init->loop, console_input_fd(), EPOLLIN, on_console_input, init);
	}
}

int entrypoint_start_with(struct init *init, const struct config *process,
			  const struct strv *secrets, char *err, size_t len)
{
	struct launch l = { .output_fd = -1 };
	char pty_name[64];
	pid_t pid;
	int r;

	if (process->args.n == 0) {
		snprintf(err, len, "no entrypoint: process.args is empty (set it in %s or after "
			 "'--' on the kernel command line)", CONFIG_PATH);
		return -EINVAL;
	}
	if (user_resolve("/", process->user, &l.user, err, len) < 0)
		return -EINVAL;
	if ((r = build_env(process, secrets, &l.user, &l.env)) < 0) {
		snprintf(err, len, "failed to build the environment: %s", strerror(-r));
		goto out;
	}
	l.argv = process->args.v;
	l.cwd = process->cwd ? process->cwd : "/";
	l.path_env = env_get(&l.env, "PATH");
	if ((r = prepare_output(init, process, &l, pty_name, sizeof(pty_name))) < 0) {
		snprintf(err, len, "failed to create the entrypoint's %s: %s",
			 process->terminal ? "terminal" : "output pipe", strerror(-r));
		goto out;
	}

	pid = fork();
	if (pid < 0) {
		r = -errno;
		snprintf(err, len, "failed to fork the entrypoint: %s", strerror(-r));
		goto out;
	}
	if (pid == 0)
		child_exec(&l);

	init->entry_pid = pid;
	init->entry_started = true;
	init->state = STATE_RUNNING;
	watch_output(init);
	log_info("started the entrypoint '%s' as pid %d", l.argv[0], (int)pid);
	timings_mark(init, TIMING_ENTRYPOINT);
	status_write(init);
	r = 0;
out:
	if (l.output_fd >= 0)
		close(l.output_fd);
	if (r < 0 && init->output_fd >= 0) {
		close(init->output_fd);
		init->output_fd = -1;
		init->pty_fd = -1;
	}
	strv_free(&l.env);
	return r;
}

int entrypoint_start(struct init *init, const struct config *process, char *err, size_t len)
{
	return entrypoint_start_with(init, process, NULL, err, len);
}

void entrypoint_exited(struct init *init, int status)
{
	init->entry_exited = true;
	/* Its last output goes first, on a line of its own. */
	entrypoint_drain(init);
	console_end_line();
	if (WIFSIGNALED(status)) {
		init->entry_code = -1;
		init->entry_signal = WTERMSIG(status);
		init->entry_status = 128 + WTERMSIG(status);
		log_info("the entrypoint (pid %d) was killed by signal %d (%s)", (int)init->entry_pid,
			 init->entry_signal, strsignal(init->entry_signal));
	} else {
		init->entry_code = WEXITSTATUS(status);
		init->entry_signal = 0;
		init->entry_status = WEXITSTATUS(status);
		log_info("the entrypoint (pid %d) exited with status %d", (int)init->entry_pid,
			 init->entry_code);
	}
	if (init->state != STATE_STOPPING)
		init->state = STATE_EXITED;
	status_write(init);
	control_notify_exit(init);
	shutdown_begin(init, "the entrypoint exited", init->cfg.exit_action);
}

int entrypoint_check_config(const struct config *cfg, const char *root, char *err,
			    size_t err_len)
{
	struct user user;
	struct strv env = { 0 };
	char program[PATH_MAX];
	int r;

	if ((r = user_resolve(root, cfg->user, &user, err, err_len)) < 0)
		return r;
	if ((r = build_env(cfg, NULL, &user, &env)) < 0) {
		snprintf(err, err_len, "failed to build the environment: %s", strerror(-r));
		return r;
	}
	printf("args:");
	for (size_t i = 0; i < cfg->args.n; i++)
		printf(" '%s'", cfg->args.v[i]);
	printf("\n");
	/* The executable is looked up only in this machine's own root. */
	if (cfg->args.n > 0 && !strchr(cfg->args.v[0], '/') && strcmp(root, "/") == 0 &&
	    find_program(cfg->args.v[0], env_get(&env, "PATH"), program, sizeof(program)) == 0)
		printf("path:  %s\n", program);
	printf("env:\n");
	for (size_t i = 0; i < env.n; i++)
		printf("  %s\n", env.v[i]);
	printf("user:  uid=%u gid=%u groups=", (unsigned)user.uid, (unsigned)user.gid);
	for (size_t i = 0; i < user.n_groups; i++)
		printf("%s%u", i ? "," : "", (unsigned)user.groups[i]);
	printf(" home=%s\n", user.home);
	printf("cwd:   %s\n", cfg->cwd ? cfg->cwd : "/");
	printf("terminal: %s\n", cfg->terminal ? "true" : "false");
	strv_free(&env);
	return 0;
}
