/* cgroup.freeze on the workload cgroup, waiting for cgroup.events. */
#include "freeze_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Returns 1 when cgroup.events has "frozen WANT", 0 when not, or -errno. */
static int events_report(int events_fd, bool frozen)
{
	char text[512];
	ssize_t len = pread(events_fd, text, sizeof(text) - 1, 0);

	if (len < 0)
		return -errno;
	text[len] = '\0';
	return strstr(text, frozen ? "frozen 1" : "frozen 0") != NULL;
}

static int write_freeze(const char *path, bool frozen)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = write_full(fd, frozen ? "1" : "0", 1);
	close(fd);
	return ret;
}

int freeze_cgroup_set(const char *cgroup_dir, bool frozen, unsigned int timeout_ms)
{
	char freeze_path[4096], events_path[4096];
	uint64_t deadline = now_ms() + timeout_ms;
	int events_fd, ret;

	snprintf(freeze_path, sizeof(freeze_path), "%s/cgroup.freeze", cgroup_dir);
	snprintf(events_path, sizeof(events_path), "%s/cgroup.events", cgroup_dir);
	events_fd = open(events_path, O_RDONLY | O_CLOEXEC);
	if (events_fd < 0)
		return -errno;
	ret = write_freeze(freeze_path, frozen);
	if (ret < 0)
		goto out;

	/* The kernel signals a change of cgroup.events with POLLPRI; the poll
	 * timeout also covers a change that happened before the first poll. */
	while ((ret = events_report(events_fd, frozen)) == 0) {
		struct pollfd pfd = { .fd = events_fd, .events = POLLPRI };
		uint64_t now = now_ms();

		if (now >= deadline) {
			ret = -ETIMEDOUT;
			break;
		}
		poll(&pfd, 1, deadline - now < 20 ? (int)(deadline - now) : 20);
	}
	if (ret > 0)
		ret = 0;
	if (ret == -ETIMEDOUT && frozen)
		write_freeze(freeze_path, false);
out:
	close(events_fd);
	return ret;
}
