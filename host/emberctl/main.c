/* emberctl: drive ember-agent from the host.
 *
 * emberctl [-c ADDRESS] [--token-file FILE] [--connect-timeout S] COMMAND [ARGS]
 *
 * Each command is a thin layer over one libember call; see usage() for the
 * list and the exit codes. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "frame.h"

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *usage;
};

/* One line per command; the copy and freeze commands are added here. */
static const struct command commands[] = {
	{ "ping", cmd_ping, "ping                      check that the agent answers" },
	{ "info", cmd_info, "info [--json]             agent, protocol and guest facts" },
	{ "wait-ready", cmd_wait_ready,
	  "wait-ready [--timeout S]  wait until the agent answers a ping (default 60 s)" },
	{ "exec", cmd_exec,
	  "exec [-i] [-t] [-e K=V]... [-w DIR] [-u USER] [--timeout S] [--detach [--ttl S]]\n"
	  "          [--clear-env] [--reattach] -- CMD [ARG...]\n"
	  "                            run a command; exits with its code, or 128 + signal;\n"
	  "                            --reattach resumes it after a dropped connection" },
	{ "shell", cmd_shell, "shell [-u USER]           interactive login shell on a PTY" },
	{ "attach", cmd_attach,
	  "attach [-i] [-t] [--reattach] [--stdout-offset N] [--stderr-offset N] SESSION\n"
	  "                            resume a session's output from the given byte offsets" },
	{ "kill", cmd_kill,
	  "kill [-s SIGNAL] [--leader] SESSION\n"
	  "                            signal a session's process group (or only its leader)" },
	{ "ps", cmd_ps, "ps                        list sessions" },
	{ "logs", cmd_logs, "logs [-f] [--tail BYTES]  the entrypoint's output (under ember-init)" },
	{ "wait", cmd_wait, "wait                      wait for the entrypoint; exit with its status" },
	{ "shutdown", cmd_shutdown,
	  "shutdown [--reboot|--halt] [--timeout S]\n"
	  "                            graceful power-off through ember-init" },
	{ "start", cmd_start,
	  "start [-e K=V]... [--secret-file F]... [-w DIR] [-u USER] [-- ARGS...]\n"
	  "                            start the entrypoint (boot config start_mode \"host\")" },
	{ "freeze", cmd_freeze,
	  "freeze [--timeout S] [--processes] [MOUNTPOINT...]\n"
	  "                            freeze filesystems (and the workload); auto-thaw after S s" },
	{ "thaw", cmd_thaw,
	  "thaw [--no-clock] [--no-entropy]\n"
	  "                            thaw, then send this host's time and entropy" },
	{ "fsstatus", cmd_fsstatus, "fsstatus                  what is frozen and the auto-thaw deadline" },
	{ "resume", cmd_resume,
	  "resume [--no-clock] [--no-entropy]\n"
	  "                            after a restore: fix the clock, add entropy, run resume hooks" },
	{ "cp", cmd_cp,
	  "cp [-a] [-u USER] [-L] [--keep-special-bits] [--max-file-size BYTES]\n"
	  "   [--idle-timeout S] SRC DST\n"
	  "                            copy between host and guest; a guest path is ':PATH',\n"
	  "                            '-' streams a tar archive on stdin or stdout" },
	{ "netconfig", cmd_netconfig,
	  "netconfig (--interface NAME | --mac MAC) [--new-mac MAC] [--address CIDR]...\n"
	  "          [--route 'default via GW']...\n"
	  "                            re-address a guest interface (for clones)" },
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fputs("usage: emberctl [-c ADDRESS] [--token-file FILE] [--connect-timeout S] COMMAND ...\n"
	      "\n"
	      "  -c, --address ADDRESS   the agent: unix:PATH, tcp:HOST:PORT, vsock:CID:PORT or\n"
	      "                          hvsock:PATH:PORT (default: $EMBER_ADDR)\n"
	      "  --token-file FILE       token for tcp: addresses (one trailing newline ignored)\n"
	      "  --connect-timeout S     keep retrying the connection for S seconds (default 3)\n"
	      "\ncommands (emberctl COMMAND --help prints one command's usage):\n", out);
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		fprintf(out, "  %s\n", commands[i].usage);
	fprintf(out, "\nexit status:\n"
		"  0-255    exec, shell, attach: the remote exit code, or 128 + N for signal N;\n"
		"           wait: the entrypoint's status; other commands: 0 on success\n"
		"  %d      usage error (invalid command line)\n"
		"  %d      connection failure (agent unreachable, connection lost)\n"
		"  %d      exec --timeout expired (the process group was killed)\n"
		"  %d      remote failure (the agent returned an error or broke the protocol)\n"
		"  %d      exec, shell: the command cannot be executed (permission denied)\n"
		"  %d      exec, shell: the command or the working directory was not found\n"
		"  %d        cp: a local file could not be read or written\n"
		"  (a remote process may exit with these codes too)\n",
		EXIT_USAGE, EXIT_CONNECT, EXIT_TIMED_OUT, EXIT_REMOTE, EXIT_CANNOT_EXECUTE,
		EXIT_NOT_FOUND, EXIT_LOCAL);
}

struct global_options {
	const char *address;
	const char *token_file;
	int connect_timeout_ms;
};

/* Parses the options before COMMAND. Returns the index of COMMAND, or -1
 * after printing a usage error, or 0 when --help or --version was handled. */
static int parse_global(int argc, char **argv, struct global_options *opts, struct cli *cli)
{
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, 'c' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t ms;
	int c;

	opts->address = getenv("EMBER_ADDR");
	opts->connect_timeout_ms = -1;
	while ((c = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opts->address = optarg;
			break;
		case 'T':
			opts->token_file = optarg;
			break;
		case 'C':
			if (parse_seconds(optarg, &ms) < 0 || ms > INT32_MAX) {
				cli_usage_error(cli, "invalid --connect-timeout '%s': expected "
						"seconds, e.g. 5 or 0.5", optarg);
				return -1;
			}
			opts->connect_timeout_ms = (int)ms;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("emberctl %s (protocol %d)\n", EMBER_VERSION, EMBER_PROTOCOL_VERSION);
			return 0;
		default:
			cli_usage_error(cli, "invalid option");
			return -1;
		}
	}
	if (optind >= argc) {
		cli_usage_error(cli, "no command given");
		return -1;
	}
	return optind;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < COMMAND_COUNT; i++) {
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	}
	return NULL;
}

/* Returns whether the command's options (those before "--" or its first
 * operand) include --help or -h. */
static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

/* Creates the client from the global options. Returns 0 or an exit code. */
static int open_client(struct cli *cli, const struct global_options *opts)
{
	struct ember_client_options options = {
		.connect_timeout_ms = opts->connect_timeout_ms,
		.io_timeout_ms = RESPONSE_TIMEOUT_MS,
		.client_name = "emberctl/" EMBER_VERSION,
	};
	struct ember_error err = { 0 };
	void *token = NULL;
	int r;

	if (!opts->address || !opts->address[0])
		return cli_usage_error(cli, "no agent address: pass -c ADDRESS or set EMBER_ADDR");
	if (opts->token_file) {
		r = ember_read_token_file(opts->token_file, &token, &options.token_len, &err);
		if (r < 0)
			return cli_fail(cli, &err);
		options.token = token;
	}
	r = ember_client_new(opts->address, &options, &cli->client, &err);
	if (token) {
		memset(token, 0, options.token_len);
		free(token);
	}
	if (r < 0)
		return cli_fail(cli, &err);
	return 0;
}

int main(int argc, char **argv)
{
	struct global_options opts = { 0 };
	struct cli cli = { .command = NULL };
	const struct command *command;
	int first, status;

	/* Step 1: options before the command. */
	first = parse_global(argc, argv, &opts, &cli);
	if (first <= 0)
		return first == 0 ? 0 : EXIT_USAGE;

	/* Step 2: the command. */
	command = find_command(argv[first]);
	if (!command)
		return cli_usage_error(&cli, "unknown command '%s'", argv[first]);
	cli.command = command->name;
	cli.address = opts.address;
	/* A command's --help needs no agent. */
	if (wants_help(argc - first, argv + first)) {
		printf("usage: emberctl [-c ADDRESS] %s\n", command->usage);
		return 0;
	}

	/* Step 3: the client, then the command's own options and its call. */
	status = open_client(&cli, &opts);
	if (status != 0)
		return status;
	optind = 1;
	status = command->run(&cli, argc - first, argv + first);
	ember_client_free(cli.client);
	return status;
}
