/* Unit tests of the hooks runner: order, argument, skipped entries, failure,
 * timeout and a missing directory, with shell scripts in a temporary
 * directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "freeze_hooks.h"
#include "io.h"

static char dir[] = "/tmp/ember-hooks-XXXXXX";
static char log_path[256];

static void write_hook(const char *name, const char *body, mode_t mode)
{
	char path[512], text[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(text, sizeof(text), "#!/bin/sh\necho \"%s $1\" >> %s\n%s\n", name, log_path, body);
	CHECK_INT(write_file(path, text, strlen(text), mode), 0);
}

static void reset(void)
{
	char command[600];

	snprintf(command, sizeof(command), "rm -f %s/* %s", dir, log_path);
	CHECK_INT(system(command), 0);
}

static const char *read_log(void)
{
	static char text[4096];

	if (read_file(log_path, text, sizeof(text)) < 0)
		text[0] = '\0';
	return text;
}

static void test_sorted_with_argument(void)
{
	struct hooks_report report;

	reset();
	write_hook("20-b", "exit 0", 0755);
	write_hook("10-a", "exit 0", 0755);
	write_hook(".hidden", "exit 0", 0755);
	write_hook("30-not-executable", "exit 0", 0644);
	CHECK_INT(hooks_run(dir, "freeze", 5000, true, &report), 0);
	CHECK_STR(read_log(), "10-a freeze\n20-b freeze\n");
	CHECK_INT(report.count, 2);
	if (report.count > 0)
		CHECK_STR(report.lines[0], "10-a: exit status 0");
	CHECK(report.failure == NULL);
	hooks_report_free(&report);
}

static void test_failure_stops_run(void)
{
	struct hooks_report report;

	reset();
	write_hook("10-fail", "exit 4", 0755);
	write_hook("20-after", "exit 0", 0755);
	CHECK_INT(hooks_run(dir, "freeze", 5000, true, &report), 1);
	CHECK_STR(read_log(), "10-fail freeze\n");
	CHECK(report.failure != NULL);
	if (report.failure)
		CHECK(strstr(report.failure, "failed with exit status 4") != NULL);
	hooks_report_free(&report);
}

static void test_failure_continues_without_stop(void)
{
	struct hooks_report report;

	reset();
	write_hook("10-fail", "exit 4", 0755);
	write_hook("20-after", "exit 0", 0755);
	CHECK_INT(hooks_run(dir, "thaw", 5000, false, &report), 1);
	CHECK_STR(read_log(), "10-fail thaw\n20-after thaw\n");
	CHECK_INT(report.count, 2);
	hooks_report_free(&report);
}

static void test_timeout_kills_hook(void)
{
	struct hooks_report report;
	struct timespec start, end;
	long elapsed_ms;

	reset();
	write_hook("10-hang", "sleep 30", 0755);
	clock_gettime(CLOCK_MONOTONIC, &start);
	CHECK_INT(hooks_run(dir, "freeze", 200, true, &report), 1);
	clock_gettime(CLOCK_MONOTONIC, &end);
	elapsed_ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
	CHECK(elapsed_ms < 5000);
	CHECK(report.failure != NULL);
	if (report.failure)
		CHECK(strstr(report.failure, "timed out after 200 ms") != NULL);
	CHECK_INT(report.count, 1);
	if (report.count > 0)
		CHECK_STR(report.lines[0], "10-hang: timed out after 200 ms");
	hooks_report_free(&report);
}

static void test_signal_status(void)
{
	struct hooks_report report;

	reset();
	write_hook("10-killed", "kill -9 $$", 0755);
	CHECK_INT(hooks_run(dir, "resume", 5000, false, &report), 1);
	CHECK_INT(report.count, 1);
	if (report.count > 0)
		CHECK_STR(report.lines[0], "10-killed: exit status 137");
	hooks_report_free(&report);
}

static void test_missing_directory(void)
{
	struct hooks_report report;

	CHECK_INT(hooks_run("/nonexistent/ember-hooks", "freeze", 5000, true, &report), 0);
	CHECK_INT(report.count, 0);
	hooks_report_free(&report);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(log_path, sizeof(log_path), "%s.log", dir);
	RUN(test_sorted_with_argument);
	RUN(test_failure_stops_run);
	RUN(test_failure_continues_without_stop);
	RUN(test_timeout_kills_hook);
	RUN(test_signal_status);
	RUN(test_missing_directory);
	reset();
	rmdir(dir);
	return check_summary("test_freeze_hooks");
}
