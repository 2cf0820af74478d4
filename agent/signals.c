/* SIGCHLD, SIGTERM and SIGINT through a signalfd; reaping every child,
 * including orphans the agent inherits as a subreaper. */
#include "agent.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "copy_worker.h"
#include "log.h"
#include "session.h"

static void reap_children(struct agent *agent)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid <= 0)
			return;
		if (!copy_op_reaped(pid, status))
			session_on_exit(agent, pid, status);
	}
}

/* Ends the loop once every connection is gone or the stop grace period
 * has passed. */
static void stop_check(struct loop *loop, void *data)
{
	struct agent *agent = data;

	if (agent->conn_count == 0 || monotonic_ms() >= agent->stop_deadline_ms) {
		loop_stop(loop);
		return;
	}
	if (!loop_timer_add(loop, AGENT_STOP_POLL_MS, stop_check, agent))
		loop_stop(loop);
}

/* Stops accepting and gives open connections a moment to send their final
 * frames (a `logs --follow` client gets the end of the output). */
static void start_stop(struct agent *agent, unsigned signo)
{
	if (agent->stopping)
		return;
	log_info("received signal %u; stopping", signo);
	agent->stopping = true;
	agent->stop_deadline_ms = monotonic_ms() + AGENT_STOP_GRACE_MS;
	server_stop(agent);
	stop_check(agent->loop, agent);
}

static void signals_io(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct agent *agent = data;
	struct signalfd_siginfo info;

	while (read(fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
		if (info.ssi_signo != SIGCHLD)
			start_stop(agent, info.ssi_signo);
	}
	/* One SIGCHLD may stand for several children: reap them all. */
	reap_children(agent);
}

int signals_init(struct agent *agent)
{
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	/* Writes to a vanished peer fail with EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	agent->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (agent->signal_fd < 0)
		return -errno;
	/* Orphans of session processes become the agent's children, so their
	 * exits are reaped here instead of piling up as zombies. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("failed to become a child subreaper: %s; orphans go to PID 1",
			 strerror(errno));
	r = loop_add(agent->loop, agent->signal_fd, EPOLLIN, signals_io, agent);
	return r;
}

void signals_cleanup(struct agent *agent)
{
	if (agent->signal_fd >= 0) {
		loop_remove(agent->loop, agent->signal_fd);
		close(agent->signal_fd);
		agent->signal_fd = -1;
	}
}
