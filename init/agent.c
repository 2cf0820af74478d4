/* The agent: started before the entrypoint so the host can connect early,
 * kept in ember/ with oom_score_adj -1000, restarted with a backoff when it
 * dies. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "io.h"
#include "log.h"
#include "loop.h"

#define AGENT_MAX_ARGS 64

static char default_agent_path[] = CONFIG_DEFAULT_AGENT_PATH;

static char *agent_path(const struct init *init)
{
	return init->cfg.agent_path ? init->cfg.agent_path : default_agent_path;
}

static void __attribute__((noreturn)) agent_child(const struct init *init)
{
	char *argv[AGENT_MAX_ARGS + 5];
	char *envp[] = { "PATH=" CONFIG_DEFAULT_PATH_ENV, "HOME=/", NULL };
	size_t n = 0;
	int null_fd;

	setsid();
	null_fd = open("/dev/null", O_RDONLY);
	if (null_fd >= 0)
		dup2(null_fd, 0);
	dup2(console_output_fd(), 1);
	dup2(console_output_fd(), 2);
	argv[n++] = agent_path(init);
	argv[n++] = "--under-init";
	argv[n++] = "--config";
	argv[n++] = CONFIG_PATH;
	for (size_t i = 0; i < init->cfg.agent_args.n && i < AGENT_MAX_ARGS; i++)
		argv[n++] = init->cfg.agent_args.v[i];
	argv[n] = NULL;
	signals_reset_for_child();
	close_fds_from(3);
	execve(argv[0], argv, envp);
	dprintf(STDERR_FILENO, "ember-init: error: failed to execute '%s': %s\n", argv[0],
		strerror(errno));
	_exit(127);
}

static void on_restart(struct loop *loop, void *data);

/* Starts the agent again after the current backoff, which then doubles. */
static void schedule_restart(struct init *init)
{
	init->agent_timer = loop_timer_add(init->loop, init->agent_backoff_ms, on_restart, init);
	init->agent_backoff_ms *= 2;
	if (init->agent_backoff_ms > INIT_AGENT_BACKOFF_MAX_MS)
		init->agent_backoff_ms = INIT_AGENT_BACKOFF_MAX_MS;
}

static void spawn(struct init *init)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_error("failed to fork %s: %s; retrying in %u ms", agent_path(init),
			  strerror(errno), init->agent_backoff_ms);
		schedule_restart(init);
		return;
	}
	if (pid == 0)
		agent_child(init);
	init->agent_pid = pid;
	init->agent_started_ms = monotonic_ms();
	log_info("started %s as pid %d", agent_path(init), (int)pid);
}

static void on_restart(struct loop *loop, void *data)
{
	struct init *init = data;

	(void)loop;
	init->agent_timer = 0;
	if (init->state == STATE_STOPPING)
		return;
	spawn(init);
}

void agent_start(struct init *init)
{
	if (access(agent_path(init), X_OK) < 0) {
		log_info("%s is not present (%s); running without the agent", agent_path(init),
			 strerror(errno));
		return;
	}
	init->agent_backoff_ms = INIT_AGENT_BACKOFF_MIN_MS;
	/* The agent inherits init's cgroup ember/ and its oom_score_adj of -1000. */
	spawn(init);
}

void agent_exited(struct init *init, int status)
{
	char how[64];

	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
	init->agent_pid = 0;
	if (init->state == STATE_STOPPING) {
		log_info("%s %s", agent_path(init), how);
		return;
	}
	if (monotonic_ms() - init->agent_started_ms >= INIT_AGENT_STABLE_MS)
		init->agent_backoff_ms = INIT_AGENT_BACKOFF_MIN_MS;
	init->agent_restarts++;
	log_warn("%s %s; restarting it in %u ms (restart %u)", agent_path(init), how,
		 init->agent_backoff_ms, init->agent_restarts);
	schedule_restart(init);
}

void agent_stop(struct init *init, int sig)
{
	loop_timer_cancel(init->loop, init->agent_timer);
	init->agent_timer = 0;
	if (init->agent_pid > 0 && kill(init->agent_pid, sig) < 0 && errno != ESRCH)
		log_warn("failed to send signal %d to the agent (pid %d): %s", sig,
			 (int)init->agent_pid, strerror(errno));
}
