/* A one-line progress display on stderr while a terminal is attached; silent on a pipe. */
#ifndef EMBER_ROOTFS_PROGRESS_H
#define EMBER_ROOTFS_PROGRESS_H

#include <stdint.h>

/* Redraws at most this often, in milliseconds. */
#define PROGRESS_INTERVAL_MS 100

struct progress {
	int enabled;
	const char *stage;
	uint64_t step, steps;   /* e.g. layer 2 of 5 */
	uint64_t base, total;   /* amount of the steps already done, and of all steps */
	int in_bytes;           /* amounts are bytes (shown in MiB), else item counts */
	uint64_t last_draw_ms;
};

/* Enables the display when stderr is a terminal and quiet is zero. */
void progress_init(struct progress *progress, int quiet);

/* Starts a stage of steps (0 for a stage without steps) with a total in bytes when
 * in_bytes is non-zero, else in items. */
void progress_stage(struct progress *progress, const char *stage, uint64_t steps, uint64_t total,
		    int in_bytes);

/* Moves to the next step; base is the total of the steps before it. */
void progress_step(struct progress *progress, uint64_t step, uint64_t base);

/* Shows done bytes (or items) of the current step. */
void progress_update(struct progress *progress, uint64_t done);

/* Clears the line. */
void progress_finish(struct progress *progress);

#endif
