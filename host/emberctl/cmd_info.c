/* ping, info and wait-ready: is the agent there, and what is it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"
#include "commands.h"

static const struct option no_options[] = { { NULL, 0, NULL, 0 } };

/* Rejects any option or argument of a command that takes none. */
static int no_arguments(struct cli *cli, int argc, char **argv)
{
	if (getopt_long(argc, argv, "+", no_options, NULL) != -1)
		return cli_usage_error(cli, "invalid option");
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	return 0;
}

int cmd_ping(struct cli *cli, int argc, char **argv)
{
	struct ember_error err = { 0 };
	struct timespec start, end;
	uint32_t version = 0;
	int r = no_arguments(cli, argc, argv);

	if (r != 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &start);
	if (ember_ping(cli->client, &version, &err) < 0)
		return cli_fail(cli, &err);
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("ok: protocol version %u, %.3f ms\n", version,
	       (double)(end.tv_sec - start.tv_sec) * 1e3 +
	       (double)(end.tv_nsec - start.tv_nsec) / 1e6);
	return 0;
}

/* Prints s as a JSON string. The agent's strings may hold any byte: control
 * characters are escaped and bytes above 0x7f pass through unchanged. */
static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_info_json(const struct ember_info *info)
{
	printf("{\"agent_version\": ");
	print_json_string(info->agent_version);
	printf(", \"protocol_version\": %u, \"protocol_min_version\": %u, \"boot_id\": ",
	       info->protocol_version, info->protocol_min_version);
	print_json_string(info->boot_id);
	printf(", \"uptime_ms\": %llu, \"hostname\": ", (unsigned long long)info->uptime_ms);
	print_json_string(info->hostname);
	printf(", \"kernel\": ");
	print_json_string(info->kernel);
	printf(", \"arch\": ");
	print_json_string(info->arch);
	printf(", \"under_init\": %s, \"sessions\": %u, \"frozen\": %s, \"operations\": [",
	       info->under_init ? "true" : "false", info->sessions,
	       info->frozen ? "true" : "false");
	for (size_t i = 0; i < info->operation_count; i++) {
		printf(i ? ", " : "");
		print_json_string(info->operations[i]);
	}
	printf("], \"boot_timings\": [");
	for (size_t i = 0; i < info->timing_count; i++) {
		printf(i ? ", {\"step\": " : "{\"step\": ");
		print_json_string(info->timings[i].step);
		printf(", \"monotonic_ns\": %llu}",
		       (unsigned long long)info->timings[i].monotonic_ns);
	}
	printf("]}\n");
}

/* Prints a string from the agent with control characters replaced. */
static void print_clean(const char *label, const char *s)
{
	printf("%-18s", label);
	for (; *s; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
	putchar('\n');
}

static void print_info_text(const struct ember_info *info)
{
	print_clean("agent version:", info->agent_version);
	printf("%-18s%u (oldest supported %u)\n", "protocol:", info->protocol_version,
	       info->protocol_min_version);
	print_clean("hostname:", info->hostname);
	print_clean("kernel:", info->kernel);
	print_clean("arch:", info->arch);
	print_clean("boot id:", info->boot_id);
	printf("%-18s%.3f s\n", "uptime:", (double)info->uptime_ms / 1000.0);
	printf("%-18s%s\n", "under ember-init:", info->under_init ? "yes" : "no");
	printf("%-18s%u\n", "sessions:", info->sessions);
	printf("%-18s%s\n", "frozen:", info->frozen ? "yes" : "no");
	printf("%-18s", "operations:");
	for (size_t i = 0; i < info->operation_count; i++)
		printf("%s%s", i ? " " : "", info->operations[i]);
	putchar('\n');
	for (size_t i = 0; i < info->timing_count; i++)
		printf("boot timing:      %-24s %.3f ms\n", info->timings[i].step,
		       (double)info->timings[i].monotonic_ns / 1e6);
}

int cmd_info(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct ember_error err = { 0 };
	struct ember_info *info;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (c != 'j')
			return cli_usage_error(cli, "invalid option");
		json = true;
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	info = malloc(sizeof(*info));
	if (!info)
		return cli_usage_error(cli, "out of memory");
	if (ember_info(cli->client, info, &err) < 0) {
		free(info);
		return cli_fail(cli, &err);
	}
	if (json)
		print_info_json(info);
	else
		print_info_text(info);
	free(info);
	return 0;
}

int cmd_wait_ready(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct ember_error err = { 0 };
	uint32_t timeout_ms = WAIT_READY_TIMEOUT_S_DEFAULT * 1000;
	int c;

	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (c != 't')
			return cli_usage_error(cli, "invalid option");
		if (parse_seconds(optarg, &timeout_ms) < 0 || timeout_ms > INT32_MAX)
			return cli_usage_error(cli, "invalid --timeout '%s': expected seconds, "
					       "e.g. 30 or 0.5", optarg);
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	if (ember_wait_ready(cli->client, (int)timeout_ms, &err) < 0)
		return cli_fail(cli, &err);
	return 0;
}
