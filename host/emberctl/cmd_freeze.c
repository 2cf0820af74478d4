/* emberctl freeze, thaw, fsstatus, resume and netconfig.
 *
 * Mount lines read "STATE MOUNTPOINT FSTYPE DEVICE" with the reason in
 * parentheses when there is one, so scripts can split on spaces (mount points
 * with spaces aside). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

/* Largest --timeout of freeze, in seconds (the agent enforces its own too). */
#define FREEZE_TIMEOUT_S_MAX 3600

static void print_mounts(const struct ember_freeze_state *state)
{
	for (size_t i = 0; i < state->mount_count; i++) {
		const struct ember_mount_state *mount = &state->mounts[i];

		printf("%-8s %s %s %s", mount->state, mount->mountpoint, mount->fstype,
		       mount->device);
		if (mount->reason[0])
			printf(" (%s)", mount->reason);
		printf("\n");
	}
}

static void print_notes(const char *label, const char (*notes)[EMBER_NOTE_MAX], size_t count)
{
	for (size_t i = 0; i < count; i++)
		printf("%s: %s\n", label, notes[i]);
}

static void print_resume(const struct ember_resume_result *result)
{
	printf("clock skew: %+.3f s (%s)\n", (double)result->clock_skew_ns / 1e9,
	       result->clock_set ? "corrected" : "not corrected");
	printf("entropy: %" PRIu32 " bytes added, RNG %s\n", result->entropy_bytes,
	       result->reseeded ? "reseeded" : "not reseeded");
	print_notes("skipped", result->skipped, result->skipped_count);
	print_notes("hook", result->hooks, result->hook_count);
}

/* Allocates a zeroed result: struct ember_freeze_state is too big for a stack. */
static struct ember_freeze_state *new_state(const struct cli *cli)
{
	struct ember_freeze_state *state = calloc(1, sizeof(*state));

	if (!state)
		fprintf(stderr, "emberctl: %s: out of memory\n", cli->command);
	return state;
}

static void free_state(struct ember_freeze_state *state)
{
	if (!state)
		return;
	ember_freeze_state_release(state);
	free(state);
}

static int finish(const struct cli *cli, int r, const struct ember_error *err)
{
	return r < 0 ? cli_fail(cli, err) : 0;
}

int cmd_freeze(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "processes", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct ember_freeze_request request = { 0 };
	struct ember_freeze_state *state;
	struct ember_error err = { 0 };
	uint32_t timeout_ms;
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "+t:p", options, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (parse_seconds(optarg, &timeout_ms) < 0 || timeout_ms % 1000 != 0 ||
			    timeout_ms == 0 || timeout_ms / 1000 > FREEZE_TIMEOUT_S_MAX)
				return cli_usage_error(cli,
						       "invalid --timeout '%s': give whole seconds "
						       "from 1 to %d",
						       optarg, FREEZE_TIMEOUT_S_MAX);
			request.timeout_s = timeout_ms / 1000;
			break;
		case 'p':
			request.processes = true;
			break;
		default:
			return cli_usage_error(cli, "invalid option");
		}
	}
	if (argc - optind > EMBER_FREEZE_MOUNTS_MAX)
		return cli_usage_error(cli, "more than %d mount points", EMBER_FREEZE_MOUNTS_MAX);
	request.mountpoints = (const char *const *)&argv[optind];

	state = new_state(cli);
	if (!state)
		return EXIT_REMOTE;
	r = ember_freeze(cli->client, &request, state, &err);
	if (r == 0) {
		print_mounts(state);
		print_notes("hook", (const char (*)[EMBER_NOTE_MAX])state->hooks, state->hook_count);
		if (state->processes_frozen)
			printf("processes: frozen\n");
		printf("auto-thaw in %" PRIu64 " s\n", state->deadline_ms / 1000);
	}
	free_state(state);
	return finish(cli, r, &err);
}

/* Parses the options thaw and resume share; returns 0 or an exit code. */
static int parse_host_options(struct cli *cli, int argc, char **argv, bool *send_clock,
			      bool *send_entropy)
{
	static const struct option options[] = {
		{ "no-clock", no_argument, NULL, 'c' },
		{ "no-entropy", no_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	*send_clock = *send_entropy = true;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+", options, NULL)) != -1) {
		if (opt == 'c')
			*send_clock = false;
		else if (opt == 'e')
			*send_entropy = false;
		else
			return cli_usage_error(cli, "invalid option");
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* The host state to send: this machine's clock and fresh entropy by default. */
static int host_state(struct cli *cli, int argc, char **argv, struct ember_host_state *host,
		      struct ember_error *err)
{
	bool send_clock, send_entropy;
	int r = parse_host_options(cli, argc, argv, &send_clock, &send_entropy);

	if (r != 0)
		return r;
	r = ember_host_state_now(host, err);
	if (r < 0)
		return cli_fail(cli, err);
	if (!send_clock)
		host->wall_time_ns = 0;
	if (!send_entropy)
		host->entropy_len = 0;
	return 0;
}

int cmd_thaw(struct cli *cli, int argc, char **argv)
{
	struct ember_host_state host;
	struct ember_freeze_state *state;
	struct ember_error err = { 0 };
	int r;

	r = host_state(cli, argc, argv, &host, &err);
	if (r != 0)
		return r;
	state = new_state(cli);
	if (!state)
		return EXIT_REMOTE;
	r = ember_thaw(cli->client, &host, state, &err);
	if (r == 0) {
		if (state->mount_count == 0)
			printf("nothing was frozen\n");
		print_mounts(state);
		print_notes("hook", (const char (*)[EMBER_NOTE_MAX])state->hooks, state->hook_count);
		if (state->has_resume)
			print_resume(&state->resume);
	}
	free_state(state);
	return finish(cli, r, &err);
}

int cmd_resume(struct cli *cli, int argc, char **argv)
{
	struct ember_host_state host;
	struct ember_resume_result *result;
	struct ember_error err = { 0 };
	int r;

	r = host_state(cli, argc, argv, &host, &err);
	if (r != 0)
		return r;
	result = calloc(1, sizeof(*result));
	if (!result)
		return EXIT_REMOTE;
	r = ember_resume(cli->client, &host, result, &err);
	if (r == 0)
		print_resume(result);
	free(result);
	return finish(cli, r, &err);
}

int cmd_fsstatus(struct cli *cli, int argc, char **argv)
{
	struct ember_freeze_state *state;
	struct ember_error err = { 0 };
	int r;

	if (argc > 1)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[1]);
	state = new_state(cli);
	if (!state)
		return EXIT_REMOTE;
	r = ember_fs_status(cli->client, state, &err);
	if (r == 0) {
		printf("frozen: %s\n", state->frozen ? "yes" : "no");
		printf("processes frozen: %s\n", state->processes_frozen ? "yes" : "no");
		if (state->deadline_ms > 0)
			printf("auto-thaw in %" PRIu64 " s\n", (state->deadline_ms + 999) / 1000);
		print_mounts(state);
	}
	free_state(state);
	return finish(cli, r, &err);
}

int cmd_netconfig(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "mac", required_argument, NULL, 'm' },
		{ "new-mac", required_argument, NULL, 'n' },
		{ "address", required_argument, NULL, 'a' },
		{ "route", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct string_list addresses = { 0 }, routes = { 0 };
	struct ember_net_config config = { 0 };
	struct ember_error err = { 0 };
	char interface[EMBER_IFNAME_MAX];
	int opt, r = 0;

	optind = 0;
	while (r == 0 && (opt = getopt_long(argc, argv, "+i:m:n:a:r:", options, NULL)) != -1) {
		if (opt == 'i')
			config.interface = optarg;
		else if (opt == 'm')
			config.current_mac = optarg;
		else if (opt == 'n')
			config.new_mac = optarg;
		else if (opt == 'a')
			r = string_list_add(&addresses, optarg);
		else if (opt == 'r')
			r = string_list_add(&routes, optarg);
		else
			r = -EINVAL;
	}
	if (r == 0 && optind < argc)
		r = -EINVAL;
	if (r == 0 && !config.interface && !config.current_mac)
		r = -ENOENT;
	if (r == 0) {
		config.addresses = (const char *const *)addresses.items;
		config.routes = (const char *const *)routes.items;
		r = ember_net_config(cli->client, &config, interface, &err);
		if (r == 0)
			printf("configured %s\n", interface);
		r = finish(cli, r, &err);
	} else if (r == -ENOENT) {
		r = cli_usage_error(cli, "name the interface with --interface or --mac");
	} else {
		r = cli_usage_error(cli, "invalid arguments");
	}
	string_list_free(&addresses);
	string_list_free(&routes);
	return r;
}
