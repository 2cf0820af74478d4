/* Putting a guest right after it was restored from a snapshot: the wall
 * clock from the host's time, and fresh entropy into the kernel's pool.
 *
 * Both act on the whole machine, so they run only when the agent is in the
 * initial PID namespace (a real guest). Elsewhere the result lists what would
 * have been done. CLOCK_MONOTONIC is never changed. */
#ifndef EMBER_RESUME_H
#define EMBER_RESUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Skew (either sign) below which the clock is left alone. */
#define RESUME_CLOCK_SKEW_MAX_NS (50LL * 1000 * 1000)
/* Largest entropy buffer one request may carry (bytes). */
#define RESUME_ENTROPY_MAX 4096u
/* Largest number of actions and hooks reported in one result. */
#define RESUME_NOTES_MAX 80

struct resume_request {
	int64_t host_wall_ns;      /* host CLOCK_REALTIME when sent; 0: not sent */
	uint64_t received_mono_ns; /* guest CLOCK_MONOTONIC when the request arrived */
	uint8_t *entropy;
	size_t entropy_len;
};

struct resume_result {
	int64_t skew_ns;           /* guest minus host before correction */
	bool clock_set;
	uint32_t entropy_bytes;
	bool reseeded;
	char *skipped[RESUME_NOTES_MAX];
	size_t skipped_count;
	char *hooks[RESUME_NOTES_MAX];  /* resume hooks run, "NAME: exit status N" */
	size_t hooks_count;
};

/* Adds a line to result->skipped (printf-style); lines past RESUME_NOTES_MAX
 * are dropped. */
void resume_add_skipped(struct resume_result *result, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Guest minus host, as of the moment the request arrived. */
int64_t resume_clock_skew(int64_t guest_wall_ns, int64_t host_wall_ns);

/* Whether a skew is large enough to set the clock. */
bool resume_skew_needs_correction(int64_t skew_ns);

/* The host's wall time now: host_wall_ns plus the guest monotonic time that
 * passed since the request arrived. */
int64_t resume_corrected_time(int64_t host_wall_ns, uint64_t received_mono_ns,
			      uint64_t now_mono_ns);

/* Applies the request: clock (when the skew needs it), RNDADDENTROPY and
 * RNDRESEEDCRNG. Outside the initial PID namespace nothing is changed and
 * result->skipped lists what would have been done. Returns 0, -EINVAL for more
 * than RESUME_ENTROPY_MAX bytes, or -errno of the step that failed, with
 * *failed_step naming it ("set the clock", "add entropy and reseed the RNG"). */
int resume_apply(const struct resume_request *request, const char *blocked_reason,
		 struct resume_result *result, const char **failed_step);

/* Whether this process is in the kernel's initial PID namespace (the inode of
 * /proc/self/ns/pid is PROC_PID_INIT_INO). The freeze and resume code checks
 * it on top of the agent's option before acting on the whole machine. */
bool resume_pid_namespace_is_initial(void);

/* Guest CLOCK_MONOTONIC and CLOCK_REALTIME in nanoseconds. */
uint64_t resume_monotonic_ns(void);
int64_t resume_realtime_ns(void);

void resume_result_free(struct resume_result *result);

#endif
