/* kill and ps: signal and list the agent's sessions. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"

int cmd_kill(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "signal", required_argument, NULL, 's' },
		{ "leader", no_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	struct ember_error err = { 0 };
	int signal_number = 15;
	bool group = true;
	int c;

	while ((c = getopt_long(argc, argv, "+s:", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_signal(optarg, &signal_number) < 0)
				return cli_usage_error(cli, "invalid signal '%s': expected a name "
						       "such as TERM or KILL, or a number from 1 "
						       "to 64", optarg);
			break;
		case 'l':
			group = false;
			break;
		default:
			return cli_usage_error(cli, "invalid option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(cli, "expected one session id: emberctl kill [-s SIGNAL] "
				       "SESSION");
	if (ember_signal(cli->client, argv[optind], signal_number, group, &err) < 0)
		return cli_fail(cli, &err);
	return 0;
}

static void print_state(const struct ember_session_info *s)
{
	char state[32];

	if (s->running)
		snprintf(state, sizeof(state), "running");
	else if (s->has_exit && s->exit.signal)
		snprintf(state, sizeof(state), "killed(%d)", s->exit.signal);
	else if (s->has_exit)
		snprintf(state, sizeof(state), "exited(%d)", s->exit.code);
	else
		snprintf(state, sizeof(state), "ended");
	printf("%-12s", state);
}

int cmd_ps(struct cli *cli, int argc, char **argv)
{
	struct ember_error err = { 0 };
	struct ember_session_info *sessions = NULL;
	size_t count = 0;

	if (argc > 1)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[1]);
	if (ember_list(cli->client, &sessions, &count, &err) < 0)
		return cli_fail(cli, &err);
	printf("%-20s %-8s %-12s %-9s %-4s %s\n", "SESSION", "PID", "STATE", "CLIENT", "TTY",
	       "COMMAND");
	for (size_t i = 0; i < count; i++) {
		const struct ember_session_info *s = &sessions[i];

		const char *client = "none";

		if (s->attached)
			client = "attached";
		else if (s->detached)
			client = "detached";
		printf("%-20s %-8d ", s->session_id, s->pid);
		print_state(s);
		printf(" %-9s %-4s %s\n", client, s->tty ? "yes" : "no", s->argv);
	}
	free(sessions);
	return 0;
}
