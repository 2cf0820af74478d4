/* The files under /run/ember that the agent reads: status and boot-timings. */
#include "init.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "control.h"
#include "io.h"
#include "log.h"

static const char *const state_names[] = {
	[STATE_BOOTING] = "booting",
	[STATE_WAITING_FOR_START] = "waiting-for-start",
	[STATE_RUNNING] = "running",
	[STATE_EXITED] = "exited",
	[STATE_STOPPING] = "stopping",
};

static const char *const step_names[TIMING_COUNT] = {
	[TIMING_INIT] = "init",
	[TIMING_MOUNTS] = "mounts",
	[TIMING_NETWORK] = "network",
	[TIMING_AGENT] = "agent",
	[TIMING_ENTRYPOINT] = "entrypoint",
};

const char *status_state_name(enum init_state state)
{
	return state_names[state];
}

void status_write(const struct init *init)
{
	char buf[256];
	int n;

	if (init->entry_exited)
		n = snprintf(buf, sizeof(buf),
			     "{\"state\": \"%s\", \"pid\": %d, \"code\": %d, \"signal\": %d, "
			     "\"status\": %d}\n", state_names[init->state], (int)init->entry_pid,
			     init->entry_code, init->entry_signal, init->entry_status);
	else
		n = snprintf(buf, sizeof(buf), "{\"state\": \"%s\", \"pid\": %d}\n",
			     state_names[init->state], (int)init->entry_pid);
	/* Written whole to a new name and renamed, so a reader never sees half. */
	if (write_file(CONTROL_STATUS_PATH ".tmp", buf, (size_t)n, 0644) < 0 ||
	    rename(CONTROL_STATUS_PATH ".tmp", CONTROL_STATUS_PATH) < 0)
		log_debug("failed to write %s", CONTROL_STATUS_PATH);
}

void timings_mark(struct init *init, enum timing_step step)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	init->timings_ns[step] = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (step == TIMING_ENTRYPOINT || step == TIMING_AGENT)
		timings_write(init);
}

/* "kernel 0" is the origin of CLOCK_MONOTONIC, the kernel's start. */
void timings_write(const struct init *init)
{
	char buf[512];
	size_t used = (size_t)snprintf(buf, sizeof(buf), "kernel 0\n");

	for (int i = 0; i < TIMING_COUNT; i++) {
		if (init->timings_ns[i])
			used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s %llu\n",
						 step_names[i],
						 (unsigned long long)init->timings_ns[i]);
	}
	if (write_file(CONTROL_TIMINGS_PATH ".tmp", buf, used, 0644) < 0 ||
	    rename(CONTROL_TIMINGS_PATH ".tmp", CONTROL_TIMINGS_PATH) < 0)
		log_debug("failed to write %s", CONTROL_TIMINGS_PATH);
	if (init->timings_ns[TIMING_ENTRYPOINT])
		log_info("boot: entrypoint started %.3f ms after init started, %.3f ms after the "
			 "kernel started",
			 (double)(init->timings_ns[TIMING_ENTRYPOINT] - init->timings_ns[TIMING_INIT]) /
				 1e6,
			 (double)init->timings_ns[TIMING_ENTRYPOINT] / 1e6);
}
