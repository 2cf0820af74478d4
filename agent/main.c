/* ember-agent: the request server that ember's host tools drive over vsock
 * (or a Unix socket or TCP in tests). It runs standalone or under
 * ember-init, one epoll loop for every connection and session.
 *
 * Usage: ember-agent --listen ADDR [--listen ADDR]... [options]; see --help. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "copy_worker.h"
#include "freeze.h"
#include "log.h"
#include "options.h"
#include "session.h"

static struct agent agent_state = {
	.signal_fd = -1,
	.work_event_fd = -1,
};

static int agent_setup(struct agent *agent)
{
	int r;

	agent->loop = loop_new();
	if (!agent->loop) {
		log_error("failed to create the event loop: %s", strerror(errno));
		return -errno;
	}
	r = signals_init(agent);
	if (r < 0) {
		log_error("failed to set up signal handling: %s", strerror(-r));
		return r;
	}
	r = work_init(agent);
	if (r < 0) {
		log_error("failed to set up the worker eventfd: %s", strerror(-r));
		return r;
	}
	r = copy_op_setup();
	if (r < 0)
		log_warn("failed to open the agent's executable for copy workers: %s; "
			 "copies will try again", strerror(-r));
	return options_load_token(agent);
}

static void agent_shutdown(struct agent *agent)
{
	freeze_shutdown(&agent->opts);
	server_stop(agent);
	conn_close_all(agent);
	session_free_all(agent);
	work_cleanup(agent);
	signals_cleanup(agent);
	loop_free(agent->loop);
}

int main(int argc, char **argv)
{
	struct agent *agent = &agent_state;
	int r;

	/* A copy worker is this binary started again by a running agent. */
	if (argc > 1 && strcmp(argv[1], COPY_WORKER_ARG) == 0)
		return copy_worker_main(argc, argv);

	/* 1. Options and config; a usage error exits before anything starts. */
	log_init("ember-agent");
	if (options_parse(agent, argc, argv) < 0)
		return AGENT_EXIT_USAGE;
	log_set_level(agent->opts.log_level);
	/* /dev/kmsg only in a real guest: in a test namespace it would be the
	 * host machine's kernel log. */
	if (agent->opts.under_init && agent->opts.initial_pid_ns)
		log_enable_kmsg(1);

	/* 2. Loop, signals, worker eventfd, token. */
	r = agent_setup(agent);

	/* 3. Thaw what an agent that died while frozen left behind, then listen. */
	if (r == 0)
		freeze_startup(&agent->opts);
	if (r == 0)
		r = server_start(agent);
	if (r == 0) {
		log_info("ember-agent %s ready (%s, %s PID namespace)", EMBER_VERSION,
			 agent->opts.under_init ? "under ember-init" : "standalone",
			 agent->opts.initial_pid_ns ? "initial" : "child");
		/* 4. Serve until SIGTERM or SIGINT. */
		r = loop_run(agent->loop);
		if (r < 0)
			log_error("event loop failed: %s", strerror(-r));
	}

	/* 5. Close listeners and connections, kill sessions. */
	if (agent->loop)
		agent_shutdown(agent);
	return r < 0 ? 1 : 0;
}
