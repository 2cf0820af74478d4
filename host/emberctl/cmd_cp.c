/* cp: copy files between the host and the guest with docker cp's habits. A
 * guest path is written ":PATH"; "-" as the source or destination streams a
 * tar archive on stdin or stdout. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

/* Width of the progress bar's bar, in characters. */
#define PROGRESS_BAR_WIDTH 30

struct progress_bar {
	struct timespec start;
	bool drawn;
};

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void format_bytes(double bytes, char *out, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t unit = 0;
	while (bytes >= 1024 && unit + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1024;
		unit++;
	}
	snprintf(out, size, unit ? "%.1f %s" : "%.0f %s", bytes, units[unit]);
}

/* Draws "[=====>    ]  40%  1.2 GiB / 3.0 GiB  250.0 MiB/s  ETA 0:07" on stderr,
 * or the bytes and rate alone when the total is unknown. */
static void draw_progress(const struct ember_copy_progress *progress, void *data)
{
	struct progress_bar *bar = data;
	double elapsed = seconds_since(&bar->start);
	double rate = elapsed > 0 ? (double)progress->bytes / elapsed : 0;
	char done[32], total[32], speed[32];
	format_bytes((double)progress->bytes, done, sizeof(done));
	format_bytes(rate, speed, sizeof(speed));

	if (progress->total_bytes > 0) {
		double fraction = (double)progress->bytes / (double)progress->total_bytes;
		if (fraction > 1)
			fraction = 1;
		int filled = (int)(fraction * PROGRESS_BAR_WIDTH);
		char line[PROGRESS_BAR_WIDTH + 1];
		for (int i = 0; i < PROGRESS_BAR_WIDTH; i++)
			line[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
		line[PROGRESS_BAR_WIDTH] = '\0';
		format_bytes((double)progress->total_bytes, total, sizeof(total));
		long eta = rate > 0 ? (long)((double)(progress->total_bytes - progress->bytes) / rate)
				    : 0;
		if (eta < 0)
			eta = 0;
		fprintf(stderr, "\r[%s] %3d%%  %s / %s  %s/s  ETA %ld:%02ld\033[K", line,
			(int)(fraction * 100), done, total, speed, eta / 60, eta % 60);
	} else {
		fprintf(stderr, "\r%s  %llu entries  %s/s\033[K", done,
			(unsigned long long)progress->entries, speed);
	}
	bar->drawn = true;
}

static const struct option cp_options[] = {
	{ "archive", no_argument, NULL, 'a' },
	{ "user", required_argument, NULL, 'u' },
	{ "follow-link", no_argument, NULL, 'L' },
	{ "keep-special-bits", no_argument, NULL, 'S' },
	{ "max-file-size", required_argument, NULL, 'M' },
	{ "idle-timeout", required_argument, NULL, 'T' },
	{ NULL, 0, NULL, 0 },
};

static void print_warnings(const struct ember_copy_result *result)
{
	for (size_t i = 0; i < result->warning_count; i++)
		fprintf(stderr, "emberctl: cp: warning: %s\n", result->warnings[i]);
}

int cmd_cp(struct cli *cli, int argc, char **argv)
{
	struct ember_copy_options options = { 0 };
	int opt;
	while ((opt = getopt_long(argc, argv, "+au:L", cp_options, NULL)) != -1) {
		switch (opt) {
		case 'a':
			options.preserve_owner = true;
			break;
		case 'u':
			options.user = optarg;
			break;
		case 'L':
			options.follow_link = true;
			break;
		case 'S':
			options.keep_special_bits = true;
			break;
		case 'M':
			if (parse_u64(optarg, &options.file_size_max) < 0 ||
			    options.file_size_max == 0)
				return cli_usage_error(cli, "invalid --max-file-size '%s': give a "
							    "positive number of bytes", optarg);
			break;
		case 'T': {
			uint32_t ms;
			if (parse_seconds(optarg, &ms) < 0 || ms == 0 || ms > INT32_MAX)
				return cli_usage_error(cli, "invalid --idle-timeout '%s': give a "
							    "positive number of seconds", optarg);
			options.idle_timeout_ms = (int)ms;
			break;
		}
		default:
			return cli_usage_error(cli, "invalid option");
		}
	}
	if (argc - optind != 2)
		return cli_usage_error(cli, "expected SRC and DST, one of them a guest path "
					    "written ':PATH'");
	const char *src = argv[optind], *dst = argv[optind + 1];
	bool src_guest = src[0] == ':', dst_guest = dst[0] == ':';
	if (src_guest == dst_guest)
		return cli_usage_error(cli, "exactly one of SRC and DST must be a guest path "
					    "written ':PATH', got '%s' and '%s'", src, dst);

	struct progress_bar bar = { 0 };
	clock_gettime(CLOCK_MONOTONIC, &bar.start);
	bool streaming = strcmp(src, "-") == 0 || strcmp(dst, "-") == 0;
	if (!streaming && isatty(STDERR_FILENO)) {
		options.progress = draw_progress;
		options.progress_data = &bar;
	}

	struct ember_copy_result result = { 0 };
	struct ember_error err = { 0 };
	int r;
	if (dst_guest && strcmp(src, "-") == 0)
		r = ember_copy_in_tar(cli->client, STDIN_FILENO, dst + 1, &options, &result, &err);
	else if (dst_guest)
		r = ember_copy_in(cli->client, src, dst + 1, &options, &result, &err);
	else if (strcmp(dst, "-") == 0)
		r = ember_copy_out_tar(cli->client, src + 1, STDOUT_FILENO, &options, &result, &err);
	else
		r = ember_copy_out(cli->client, src + 1, dst, &options, &result, &err);

	if (bar.drawn)
		fputc('\n', stderr);
	if (r < 0) {
		/* A copy-out rejects a file over --max-file-size with EFBIG as a
		 * protocol error (the agent exceeded a limit). */
		if (!dst_guest && err.kind == EMBER_ERROR_PROTOCOL && err.errno_value == EFBIG) {
			size_t len = strlen(err.message);
			snprintf(err.message + len, sizeof(err.message) - len,
				 ": raise --max-file-size to copy it");
		}
		return cli_fail(cli, &err);
	}
	print_warnings(&result);
	return 0;
}
