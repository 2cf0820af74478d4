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

#include "log.h"
#include "session.h"

static void reap_children(struct agent *agent)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid <= 0)
			return;
		session_on_exit(agent, pid, status);
	}
}

static void signals_io(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct agent *agent = data;
	struct signalfd_siginfo info;

	while (read(fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
		if (info.ssi_signo == SIGCHLD)
			continue;
		if (!agent->stopping)
			log_info("received signal %u; stopping", info.ssi_signo);
		agent->stopping = true;
		loop_stop(loop);
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
