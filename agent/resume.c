/* Clock correction and entropy for a restored guest. */
#include "resume.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_SEC 1000000000LL
/* The fixed inode number of the initial PID namespace (include/linux/proc_ns.h). */
#define PROC_PID_INIT_INO 0xEFFFFFFCu

int64_t resume_clock_skew(int64_t guest_wall_ns, int64_t host_wall_ns)
{
	return guest_wall_ns - host_wall_ns;
}

bool resume_skew_needs_correction(int64_t skew_ns)
{
	return skew_ns > RESUME_CLOCK_SKEW_MAX_NS || skew_ns < -RESUME_CLOCK_SKEW_MAX_NS;
}

int64_t resume_corrected_time(int64_t host_wall_ns, uint64_t received_mono_ns,
			      uint64_t now_mono_ns)
{
	uint64_t elapsed = now_mono_ns > received_mono_ns ? now_mono_ns - received_mono_ns : 0;

	return host_wall_ns + (int64_t)elapsed;
}

bool resume_pid_namespace_is_initial(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == PROC_PID_INIT_INO;
}

uint64_t resume_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

int64_t resume_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

void resume_add_skipped(struct resume_result *result, const char *fmt, ...)
{
	va_list ap;
	char *line = NULL;

	if (result->skipped_count == RESUME_NOTES_MAX)
		return;
	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) >= 0)
		result->skipped[result->skipped_count++] = line;
	va_end(ap);
}

static int set_clock(const struct resume_request *request)
{
	int64_t now = resume_corrected_time(request->host_wall_ns, request->received_mono_ns,
					    resume_monotonic_ns());
	struct timespec ts = { .tv_sec = now / NS_PER_SEC, .tv_nsec = now % NS_PER_SEC };

	if (clock_settime(CLOCK_REALTIME, &ts) < 0)
		return -errno;
	return 0;
}

/* Credits the bytes to the input pool, then forces the CRNG to reseed from it. */
static int add_entropy(const uint8_t *bytes, size_t len, bool *reseeded)
{
	struct rand_pool_info *info = calloc(1, sizeof(*info) + len);
	int fd, ret = 0;

	if (!info)
		return -ENOMEM;
	fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		free(info);
		return -errno;
	}
	info->entropy_count = (int)(len * 8);
	info->buf_size = (int)len;
	memcpy(info->buf, bytes, len);
	if (ioctl(fd, RNDADDENTROPY, info) < 0)
		ret = -errno;
	else if (ioctl(fd, RNDRESEEDCRNG) < 0)
		ret = -errno;
	else
		*reseeded = true;
	explicit_bzero(info->buf, len);
	free(info);
	close(fd);
	return ret;
}

int resume_apply(const struct resume_request *request, const char *blocked_reason,
		 struct resume_result *result, const char **failed_step)
{
	const char *reason = blocked_reason;
	bool initial_pid_namespace = blocked_reason == NULL;
	bool correct = false;
	int ret;

	memset(result, 0, sizeof(*result));
	if (request->entropy_len > RESUME_ENTROPY_MAX)
		return -EINVAL;
	if (request->host_wall_ns != 0) {
		result->skew_ns = resume_clock_skew(resume_realtime_ns(), request->host_wall_ns);
		correct = resume_skew_needs_correction(result->skew_ns);
	} else {
		resume_add_skipped(result, "clock: the request carried no host time");
	}

	if (correct && !initial_pid_namespace) {
		resume_add_skipped(result, "clock: not set (skew %+.3f s): %s",
			    (double)result->skew_ns / NS_PER_SEC, reason);
	} else if (correct) {
		ret = set_clock(request);
		if (ret < 0) {
			*failed_step = "set the clock";
			return ret;
		}
		result->clock_set = true;
	}

	if (request->entropy_len == 0) {
		resume_add_skipped(result, "entropy: the request carried none");
	} else if (!initial_pid_namespace) {
		resume_add_skipped(result, "entropy: %zu bytes not added and the RNG not reseeded: %s",
			    request->entropy_len, reason);
	} else {
		ret = add_entropy(request->entropy, request->entropy_len, &result->reseeded);
		if (ret < 0) {
			*failed_step = "add entropy and reseed the RNG";
			return ret;
		}
		result->entropy_bytes = (uint32_t)request->entropy_len;
	}
	return 0;
}

void resume_result_free(struct resume_result *result)
{
	for (size_t i = 0; i < result->skipped_count; i++)
		free(result->skipped[i]);
	for (size_t i = 0; i < result->hooks_count; i++)
		free(result->hooks[i]);
	result->skipped_count = 0;
	result->hooks_count = 0;
}
