/* ember-bench: times one operation in a loop from a single client process and
 * prints one sample per line, "OPERATION NANOSECONDS", read by the bench/ scripts.
 *
 * Usage:
 *   ember-bench [-w WARMUP] exec-floor N
 *   ember-bench [-w WARMUP] exec-qga SOCKET N
 *   ember-bench [-w WARMUP] exec-ember ADDRESS N
 *   ember-bench [-w WARMUP] freeze-qga SOCKET N MOUNTPOINT...
 *   ember-bench [-w WARMUP] freeze-ember ADDRESS N MOUNTPOINT...
 *
 * exec-floor forks and execs `sh -c true`, the local fork+exec floor.
 * exec-qga runs /bin/true with guest-exec and polls guest-exec-status until it
 * has exited, all on one connection. exec-ember runs /bin/true through
 * libember, with one connection per exec as ember's protocol requires.
 * freeze-qga freezes only the listed mount points with
 * guest-fsfreeze-freeze-list, then thaws them with guest-fsfreeze-thaw.
 * freeze-ember does the same with libember's freeze and thaw. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ember_ops.h"
#include "qga_client.h"

#define EXIT_USAGE 2
#define EXIT_FAILURE_OP 1
/* Largest JSON command the driver builds (a freeze list of mount points). */
#define COMMAND_MAX 8192

static int run_floor_once(void)
{
	char *const argv[] = { "sh", "-c", "true", NULL };
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execv("/bin/sh", argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

static int run_qga_exec_once(int fd)
{
	static const char exec_command[] =
		"{\"execute\":\"guest-exec\",\"arguments\":"
		"{\"path\":\"/bin/true\",\"capture-output\":false}}";
	char reply[QGA_REPLY_MAX];
	char status_command[128];
	long long pid;
	ssize_t len;

	len = qga_call(fd, exec_command, reply, sizeof(reply));
	if (len < 0)
		return (int)len;
	pid = qga_reply_int(reply, "pid");
	if (pid <= 0)
		return -EPROTO;
	snprintf(status_command, sizeof(status_command),
		 "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":%lld}}", pid);
	for (;;) {
		len = qga_call(fd, status_command, reply, sizeof(reply));
		if (len < 0)
			return (int)len;
		if (qga_reply_true(reply, "exited"))
			return qga_reply_int(reply, "exitcode") == 0 ? 0 : -ECHILD;
	}
}

/* Builds guest-fsfreeze-freeze-list for the mount points. Paths come from the
 * benchmark's own temporary directory and need no JSON escaping; one that
 * would is rejected. */
static int build_freeze_command(char *out, size_t max, char **mounts, int count)
{
	size_t used;
	int i;

	used = (size_t)snprintf(out, max, "{\"execute\":\"guest-fsfreeze-freeze-list\","
					  "\"arguments\":{\"mountpoints\":[");
	for (i = 0; i < count; i++) {
		if (strpbrk(mounts[i], "\"\\"))
			return -EINVAL;
		used += (size_t)snprintf(out + used, max - used, "%s\"%s\"", i ? "," : "",
					 mounts[i]);
		if (used >= max)
			return -E2BIG;
	}
	used += (size_t)snprintf(out + used, max - used, "]}}");
	return used < max ? 0 : -E2BIG;
}

static int run_qga_freeze_once(int fd, const char *freeze_command, int count,
			       uint64_t *freeze_ns, uint64_t *thaw_ns)
{
	static const char thaw_command[] = "{\"execute\":\"guest-fsfreeze-thaw\"}";
	char reply[QGA_REPLY_MAX];
	uint64_t start;
	ssize_t len;

	start = now_ns();
	len = qga_call(fd, freeze_command, reply, sizeof(reply));
	*freeze_ns = now_ns() - start;
	if (len < 0)
		return (int)len;
	start = now_ns();
	len = qga_call(fd, thaw_command, reply, sizeof(reply));
	*thaw_ns = now_ns() - start;
	if (len < 0)
		return (int)len;
	if (qga_reply_int(reply, "return") != count)
		return -EPROTO;
	return 0;
}

static int parse_count(const char *text, long *count)
{
	char *end;

	errno = 0;
	*count = strtol(text, &end, 10);
	if (errno || *end || *count < 0)
		return -EINVAL;
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: ember-bench [-w WARMUP] exec-floor N\n"
			"       ember-bench [-w WARMUP] exec-qga SOCKET N\n"
			"       ember-bench [-w WARMUP] exec-ember ADDRESS N\n"
			"       ember-bench [-w WARMUP] freeze-qga SOCKET N MOUNTPOINT...\n"
			"       ember-bench [-w WARMUP] freeze-ember ADDRESS N MOUNTPOINT...\n");
	return EXIT_USAGE;
}

static int bench_exec_floor(long warmup, long runs)
{
	for (long i = 0; i < warmup + runs; i++) {
		uint64_t start = now_ns();
		int err = run_floor_once();
		if (err < 0) {
			fprintf(stderr, "ember-bench: failed to run sh -c true: %s\n", strerror(-err));
			return EXIT_FAILURE_OP;
		}
		if (i >= warmup)
			printf("exec %llu\n", (unsigned long long)(now_ns() - start));
	}
	return 0;
}

static int bench_exec_qga(const char *socket_path, long warmup, long runs)
{
	int fd = qga_connect(socket_path);

	if (fd < 0) {
		fprintf(stderr, "ember-bench: failed to connect to qemu-ga at '%s': %s\n",
			socket_path, strerror(-fd));
		return EXIT_FAILURE_OP;
	}
	for (long i = 0; i < warmup + runs; i++) {
		uint64_t start = now_ns();
		int err = run_qga_exec_once(fd);
		if (err < 0) {
			fprintf(stderr, "ember-bench: guest-exec of /bin/true failed: %s\n",
				strerror(-err));
			close(fd);
			return EXIT_FAILURE_OP;
		}
		if (i >= warmup)
			printf("exec %llu\n", (unsigned long long)(now_ns() - start));
	}
	close(fd);
	return 0;
}

static int bench_exec_ember(const char *address, long warmup, long runs)
{
	struct ember_client *client;
	struct ember_error err;
	int ret;

	ret = ember_client_new(address, NULL, &client, &err);
	if (ret < 0) {
		fprintf(stderr, "ember-bench: invalid address '%s': %s\n", address, err.message);
		return EXIT_USAGE;
	}
	for (long i = 0; i < warmup + runs; i++) {
		uint64_t start = now_ns();
		ret = ember_exec_true(client, &err);
		if (ret < 0) {
			fprintf(stderr, "ember-bench: %s: exec /bin/true failed: %s\n", address,
				ret == -ECHILD ? "it exited with a non-zero status" : err.message);
			ember_client_free(client);
			return EXIT_FAILURE_OP;
		}
		if (i >= warmup)
			printf("exec %llu\n", (unsigned long long)(now_ns() - start));
	}
	ember_client_free(client);
	return 0;
}

static int bench_freeze_qga(const char *socket_path, long warmup, long runs, char **mounts,
			    int count)
{
	char command[COMMAND_MAX];
	int fd, err;

	err = build_freeze_command(command, sizeof(command), mounts, count);
	if (err < 0) {
		fprintf(stderr, "ember-bench: invalid mount point list: %s\n", strerror(-err));
		return EXIT_USAGE;
	}
	fd = qga_connect(socket_path);
	if (fd < 0) {
		fprintf(stderr, "ember-bench: failed to connect to qemu-ga at '%s': %s\n",
			socket_path, strerror(-fd));
		return EXIT_FAILURE_OP;
	}
	for (long i = 0; i < warmup + runs; i++) {
		uint64_t freeze_ns = 0, thaw_ns = 0;
		err = run_qga_freeze_once(fd, command, count, &freeze_ns, &thaw_ns);
		if (err < 0) {
			fprintf(stderr, "ember-bench: qemu-ga freeze and thaw failed: %s\n",
				strerror(-err));
			close(fd);
			return EXIT_FAILURE_OP;
		}
		if (i >= warmup)
			printf("freeze %llu\nthaw %llu\n", (unsigned long long)freeze_ns,
			       (unsigned long long)thaw_ns);
	}
	close(fd);
	return 0;
}

static int bench_freeze_ember(const char *address, long warmup, long runs, char **mounts)
{
	struct ember_client *client;
	struct ember_error err;
	int ret;

	ret = ember_client_new(address, NULL, &client, &err);
	if (ret < 0) {
		fprintf(stderr, "ember-bench: invalid address '%s': %s\n", address, err.message);
		return EXIT_USAGE;
	}
	for (long i = 0; i < warmup + runs; i++) {
		uint64_t freeze_ns = 0, thaw_ns = 0;
		ret = ember_freeze_thaw(client, (const char *const *)mounts, &freeze_ns, &thaw_ns,
					&err);
		if (ret < 0) {
			fprintf(stderr, "ember-bench: %s: freeze and thaw failed: %s\n", address,
				err.message);
			ember_client_free(client);
			return EXIT_FAILURE_OP;
		}
		if (i >= warmup)
			printf("freeze %llu\nthaw %llu\n", (unsigned long long)freeze_ns,
			       (unsigned long long)thaw_ns);
	}
	ember_client_free(client);
	return 0;
}

int main(int argc, char **argv)
{
	long warmup = 0, runs;
	int opt;

	while ((opt = getopt(argc, argv, "+w:")) != -1) {
		if (opt != 'w' || parse_count(optarg, &warmup) < 0)
			return usage();
	}
	argc -= optind;
	argv += optind;
	if (argc >= 2 && strcmp(argv[0], "exec-floor") == 0 && parse_count(argv[1], &runs) == 0)
		return bench_exec_floor(warmup, runs);
	if (argc >= 3 && parse_count(argv[2], &runs) == 0) {
		if (strcmp(argv[0], "exec-qga") == 0)
			return bench_exec_qga(argv[1], warmup, runs);
		if (strcmp(argv[0], "exec-ember") == 0)
			return bench_exec_ember(argv[1], warmup, runs);
		if (strcmp(argv[0], "freeze-qga") == 0 && argc >= 4)
			return bench_freeze_qga(argv[1], warmup, runs, argv + 3, argc - 3);
		/* argv is NULL-terminated, so argv + 3 is the request's list. */
		if (strcmp(argv[0], "freeze-ember") == 0 && argc >= 4)
			return bench_freeze_ember(argv[1], warmup, runs, argv + 3);
	}
	return usage();
}
