/* exec, shell and attach: run or resume a session and relay its streams. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "terminal.h"

/* Window size sent when emberctl has no terminal to measure. */
#define DEFAULT_ROWS 24
#define DEFAULT_COLS 80
/* Reattaches one command makes after dropped connections (--reattach). */
#define REATTACH_MAX 16

/* Relay state of one session: its terminal mode, stdin use and signalfd. */
struct relay {
	struct cli *cli;
	bool tty;                       /* the remote side runs on a PTY */
	bool interactive;               /* emberctl's stdin is sent */
	bool reattach;                  /* attach again after a dropped connection */
	int signal_fd;
};

/* Signals relayed to the session instead of ending emberctl. */
static void relayed_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGWINCH);
}

/* Called from ember_session_run when the signalfd is readable: SIGWINCH
 * resizes the remote PTY; the others go to the remote process group. */
static int on_signal(void *context, struct ember_session *session)
{
	struct relay *relay = context;
	struct signalfd_siginfo info;
	struct ember_error err = { 0 };
	uint32_t rows, cols;
	int r = 0;

	if (read(relay->signal_fd, &info, sizeof(info)) != sizeof(info))
		return 0;
	if (info.ssi_signo == SIGWINCH) {
		if (relay->tty && terminal_size(STDIN_FILENO, &rows, &cols) == 0)
			r = ember_session_resize(session, rows, cols, &err);
	} else {
		r = ember_session_signal(session, (int)info.ssi_signo, true, &err);
	}
	return r < 0 ? r : 0;
}

static int report_lost_connection(const struct cli *cli, struct ember_session *session,
				  const struct ember_error *err)
{
	fprintf(stderr, "emberctl: %s: %s: %s; session %s may still run: resume with "
		"'emberctl attach --stdout-offset %llu --stderr-offset %llu %s'\n",
		cli->address, cli->command, err->message, ember_session_id(session),
		(unsigned long long)ember_session_offset(session, EMBER_STREAM_STDOUT),
		(unsigned long long)ember_session_offset(session, EMBER_STREAM_STDERR),
		ember_session_id(session));
	return EXIT_CONNECT;
}

static bool is_lost_connection(const struct ember_error *err)
{
	return err->kind == EMBER_ERROR_PROTOCOL && err->errno_value == ECONNRESET;
}

/* Runs the session until its exit. With relay->reattach, a dropped connection
 * is followed by an attach from the offsets received so far, which replaces
 * *session. Returns the result of the last ember_session_run. */
static int run_reattaching(struct relay *relay, struct ember_session **session,
			   const struct ember_session_io *io, struct ember_exit *exit,
			   uint64_t *lost, struct ember_error *err)
{
	const struct cli *cli = relay->cli;

	for (int reattaches = 0;; reattaches++) {
		struct ember_error attach_err = { 0 };
		struct ember_session *next;
		uint64_t lost_now = 0;
		int r = ember_session_run(*session, io, exit, &lost_now, err);

		*lost += lost_now;
		if (r == 0 || !relay->reattach || !is_lost_connection(err) ||
		    reattaches >= REATTACH_MAX)
			return r;
		fprintf(stderr, "emberctl: %s: %s: %s; reattaching to session %s\n", cli->address,
			cli->command, err->message, ember_session_id(*session));
		if (ember_attach_start(cli->client, ember_session_id(*session),
				       ember_session_offset(*session, EMBER_STREAM_STDOUT),
				       ember_session_offset(*session, EMBER_STREAM_STDERR),
				       relay->interactive, &next, &attach_err) < 0) {
			fprintf(stderr, "emberctl: %s: %s: failed to reattach: %s\n", cli->address,
				cli->command, attach_err.message);
			return r;
		}
		ember_session_free(*session);
		*session = next;
	}
}

/* Relays the session until its exit; *session may be replaced by a reattach.
 * Returns emberctl's exit status. */
static int relay_session(struct relay *relay, struct ember_session **session)
{
	struct ember_error err = { 0 };
	struct ember_exit exit = { 0 };
	sigset_t set, old;
	uint64_t lost = 0;
	bool raw = false;
	int r;

	relayed_signals(&set);
	sigprocmask(SIG_BLOCK, &set, &old);
	relay->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (relay->tty && relay->interactive && isatty(STDIN_FILENO))
		raw = terminal_raw_enter(STDIN_FILENO) == 0;

	struct ember_session_io io = {
		.stdin_fd = relay->interactive ? STDIN_FILENO : -1,
		.stdout_fd = STDOUT_FILENO,
		.stderr_fd = STDERR_FILENO,
		.event_fd = relay->signal_fd,
		.on_event = relay->signal_fd >= 0 ? on_signal : NULL,
		.context = relay,
	};

	r = run_reattaching(relay, session, &io, &exit, &lost, &err);
	if (raw)
		terminal_restore();
	if (relay->signal_fd >= 0)
		close(relay->signal_fd);
	sigprocmask(SIG_SETMASK, &old, NULL);

	if (r < 0 && is_lost_connection(&err))
		return report_lost_connection(relay->cli, *session, &err);
	if (r < 0)
		return cli_fail(relay->cli, &err);
	if (lost)
		fprintf(stderr, "emberctl: %s: %s: %llu bytes of output had already left the "
			"agent's buffer\n", relay->cli->address, relay->cli->command,
			(unsigned long long)lost);
	if (exit.timed_out) {
		fprintf(stderr, "emberctl: %s: %s: timed out; the process group was killed\n",
			relay->cli->address, relay->cli->command);
		return EXIT_TIMED_OUT;
	}
	return exit.status;
}

static void fill_window(struct ember_exec_request *request)
{
	if (terminal_size(STDIN_FILENO, &request->rows, &request->cols) < 0 &&
	    terminal_size(STDOUT_FILENO, &request->rows, &request->cols) < 0) {
		request->rows = DEFAULT_ROWS;
		request->cols = DEFAULT_COLS;
	}
	request->term = getenv("TERM") ? getenv("TERM") : "xterm";
}

/* Reports a failed exec start. The agent reports a program or directory that
 * does not exist as "not found" with errno ENOENT, and a file it may not
 * execute as "permission denied" with EACCES: those get the shell's codes 127
 * and 126, as docker exec gives them. */
static int exec_start_failed(struct cli *cli, const struct ember_error *err)
{
	int status = cli_fail(cli, err);

	if (err->kind != EMBER_ERROR_REMOTE)
		return status;
	if (err->code == EMBER_CODE_NOT_FOUND && err->errno_value == ENOENT)
		return EXIT_NOT_FOUND;
	if (err->code == EMBER_CODE_PERMISSION_DENIED && err->errno_value == EACCES)
		return EXIT_CANNOT_EXECUTE;
	return status;
}

static int start_and_relay(struct cli *cli, struct ember_exec_request *request, bool reattach)
{
	struct relay relay = { .cli = cli, .tty = request->tty, .interactive = request->send_stdin,
			       .reattach = reattach };
	struct ember_error err = { 0 };
	struct ember_session *session;
	int status;

	if (request->tty)
		fill_window(request);
	if (ember_exec_start(cli->client, request, &session, &err) < 0)
		return exec_start_failed(cli, &err);
	if (request->detach) {
		printf("%s\n", ember_session_id(session));
		ember_session_free(session);
		return 0;
	}
	status = relay_session(&relay, &session);
	ember_session_free(session);
	return status;
}

int cmd_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "detach", no_argument, NULL, 'd' },
		{ "ttl", required_argument, NULL, 'L' },
		{ "clear-env", no_argument, NULL, 'E' },
		{ "reattach", no_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	struct ember_exec_request request = { 0 };
	bool reattach = false;
	struct string_list env = { 0 };
	uint32_t ttl_ms = 0;
	char *entry;
	int c, status = EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "+ite:w:u:d", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			request.send_stdin = true;
			break;
		case 't':
			request.tty = true;
			break;
		case 'e':
			entry = env_entry(optarg);
			if (!entry) {
				cli_usage_error(cli, "invalid -e '%s': expected KEY=VALUE, or KEY "
						"set in emberctl's environment", optarg);
				goto out;
			}
			if (string_list_add(&env, entry) < 0) {
				cli_usage_error(cli, "too many -e options (at most %d)",
						CLI_LIST_MAX);
				goto out;
			}
			break;
		case 'w':
			request.cwd = optarg;
			break;
		case 'u':
			request.user = optarg;
			break;
		case 'T':
			if (parse_seconds(optarg, &request.timeout_ms) < 0) {
				cli_usage_error(cli, "invalid --timeout '%s': expected seconds, "
						"e.g. 10 or 0.5", optarg);
				goto out;
			}
			break;
		case 'd':
			request.detach = true;
			break;
		case 'L':
			if (parse_seconds(optarg, &ttl_ms) < 0) {
				cli_usage_error(cli, "invalid --ttl '%s': expected seconds", optarg);
				goto out;
			}
			request.ttl_s = (ttl_ms + 999) / 1000;
			break;
		case 'E':
			request.clear_env = true;
			break;
		case 'A':
			reattach = true;
			break;
		default:
			cli_usage_error(cli, "invalid option");
			goto out;
		}
	}
	if (optind >= argc) {
		cli_usage_error(cli, "no command given: emberctl exec [OPTIONS] -- CMD [ARG...]");
		goto out;
	}
	if (request.detach && request.send_stdin) {
		cli_usage_error(cli, "--detach and -i cannot be combined: a detached session "
				"has no client to read stdin from");
		goto out;
	}
	request.argv = (const char *const *)(argv + optind);
	request.env = (const char *const *)env.items;
	status = start_and_relay(cli, &request, reattach);
out:
	string_list_free(&env);
	return status;
}

int cmd_shell(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	struct ember_exec_request request = { .shell = true, .tty = true, .send_stdin = true };
	int c;

	while ((c = getopt_long(argc, argv, "+u:", longopts, NULL)) != -1) {
		if (c != 'u')
			return cli_usage_error(cli, "invalid option");
		request.user = optarg;
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	return start_and_relay(cli, &request, false);
}

int cmd_attach(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "interactive", no_argument, NULL, 'i' },
		{ "tty", no_argument, NULL, 't' },
		{ "stdout-offset", required_argument, NULL, 'O' },
		{ "stderr-offset", required_argument, NULL, 'R' },
		{ "reattach", no_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	struct relay relay = { .cli = cli };
	struct ember_error err = { 0 };
	struct ember_session *session;
	uint64_t offsets[2] = { 0, 0 };
	int c, status;

	while ((c = getopt_long(argc, argv, "+it", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			relay.interactive = true;
			break;
		case 't':
			relay.tty = true;
			break;
		case 'A':
			relay.reattach = true;
			break;
		case 'O':
		case 'R':
			if (parse_u64(optarg, &offsets[c == 'R']) < 0)
				return cli_usage_error(cli, "invalid --%s-offset '%s': expected a "
						       "byte offset", c == 'R' ? "stderr" : "stdout",
						       optarg);
			break;
		default:
			return cli_usage_error(cli, "invalid option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(cli, "expected one session id: emberctl attach SESSION");
	if (ember_attach_start(cli->client, argv[optind], offsets[0], offsets[1],
			       relay.interactive, &session, &err) < 0)
		return cli_fail(cli, &err);
	status = relay_session(&relay, &session);
	ember_session_free(session);
	return status;
}
