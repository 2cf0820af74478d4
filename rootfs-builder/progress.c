/* The progress line: "layer 2/5  34.5 MiB / 120.0 MiB", redrawn in place with "\r". */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024.0 * 1024.0)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void progress_init(struct progress *progress, int quiet)
{
	memset(progress, 0, sizeof(*progress));
	progress->enabled = !quiet && isatty(STDERR_FILENO);
}

void progress_stage(struct progress *progress, const char *stage, uint64_t steps, uint64_t total,
		    int in_bytes)
{
	progress->in_bytes = in_bytes;
	progress->stage = stage;
	progress->steps = steps;
	progress->total = total;
	progress->step = 0;
	progress->base = 0;
	progress->last_draw_ms = 0;
}

void progress_step(struct progress *progress, uint64_t step, uint64_t base)
{
	progress->step = step;
	progress->base = base;
	progress->last_draw_ms = 0;
	progress_update(progress, 0);
}

void progress_update(struct progress *progress, uint64_t done)
{
	uint64_t now;

	if (!progress->enabled)
		return;
	now = now_ms();
	if (progress->last_draw_ms && now - progress->last_draw_ms < PROGRESS_INTERVAL_MS)
		return;
	progress->last_draw_ms = now;
	if (progress->steps)
		fprintf(stderr, "\r\033[K%s %llu/%llu  %.1f / %.1f MiB", progress->stage,
			(unsigned long long)progress->step, (unsigned long long)progress->steps,
			(double)(progress->base + done) / MIB, (double)progress->total / MIB);
	else if (progress->in_bytes)
		fprintf(stderr, "\r\033[K%s  %.1f / %.1f MiB", progress->stage, (double)done / MIB,
			(double)progress->total / MIB);
	else
		fprintf(stderr, "\r\033[K%s  %llu / %llu", progress->stage,
			(unsigned long long)done, (unsigned long long)progress->total);
	fflush(stderr);
}

void progress_finish(struct progress *progress)
{
	if (progress->enabled)
		fprintf(stderr, "\r\033[K");
}
