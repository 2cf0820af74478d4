/* An epoll event loop with one-shot timers. */
#include "loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define LOOP_EVENTS_MAX 64

struct loop_watch {
	loop_io_fn fn;
	void *data;
	uint32_t generation;
	bool active;
};

struct loop_timer {
	uint64_t id;
	uint64_t deadline_ms;
	loop_timer_fn fn;
	void *data;
};

struct loop {
	int epoll_fd;
	bool stopped;
	/* Indexed by descriptor number, grown on demand. */
	struct loop_watch *watches;
	size_t watches_len;
	uint32_t next_generation;
	struct loop_timer *timers;
	size_t timers_len;
	size_t timers_cap;
	uint64_t next_timer_id;
};

uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct loop *loop_new(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epoll_fd < 0) {
		int saved = errno;

		free(loop);
		errno = saved;
		return NULL;
	}
	loop->next_timer_id = 1;
	loop->next_generation = 1;
	return loop;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	close(loop->epoll_fd);
	free(loop->watches);
	free(loop->timers);
	free(loop);
}

static int reserve_watch(struct loop *loop, int fd)
{
	size_t len = loop->watches_len;

	if ((size_t)fd < len)
		return 0;
	while (len <= (size_t)fd)
		len = len ? len * 2 : 64;

	struct loop_watch *grown = realloc(loop->watches, len * sizeof(*grown));

	if (!grown)
		return -ENOMEM;
	memset(grown + loop->watches_len, 0, (len - loop->watches_len) * sizeof(*grown));
	loop->watches = grown;
	loop->watches_len = len;
	return 0;
}

int loop_add(struct loop *loop, int fd, uint32_t events, loop_io_fn fn, void *data)
{
	struct epoll_event ev = { .events = events };
	int r;

	if (fd < 0)
		return -EBADF;
	r = reserve_watch(loop, fd);
	if (r < 0)
		return r;

	struct loop_watch *watch = &loop->watches[fd];

	if (watch->active)
		return -EEXIST;
	watch->generation = loop->next_generation++;
	ev.data.u64 = (uint64_t)watch->generation << 32 | (uint32_t)fd;
	if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	watch->fn = fn;
	watch->data = data;
	watch->active = true;
	return 0;
}

int loop_modify(struct loop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };

	if (fd < 0 || (size_t)fd >= loop->watches_len || !loop->watches[fd].active)
		return -ENOENT;
	ev.data.u64 = (uint64_t)loop->watches[fd].generation << 32 | (uint32_t)fd;
	return epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int loop_remove(struct loop *loop, int fd)
{
	if (fd < 0 || (size_t)fd >= loop->watches_len || !loop->watches[fd].active)
		return -ENOENT;
	loop->watches[fd].active = false;
	/* ENOENT/EBADF: the descriptor was closed first, which removed it already. */
	if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != EBADF &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

uint64_t loop_timer_add(struct loop *loop, uint64_t delay_ms, loop_timer_fn fn, void *data)
{
	if (loop->timers_len == loop->timers_cap) {
		size_t cap = loop->timers_cap ? loop->timers_cap * 2 : 16;
		struct loop_timer *grown = realloc(loop->timers, cap * sizeof(*grown));

		if (!grown)
			return 0;
		loop->timers = grown;
		loop->timers_cap = cap;
	}

	struct loop_timer *timer = &loop->timers[loop->timers_len++];

	timer->id = loop->next_timer_id++;
	timer->deadline_ms = monotonic_ms() + delay_ms;
	timer->fn = fn;
	timer->data = data;
	return timer->id;
}

void loop_timer_cancel(struct loop *loop, uint64_t id)
{
	for (size_t i = 0; i < loop->timers_len; i++) {
		if (loop->timers[i].id == id) {
			loop->timers[i] = loop->timers[--loop->timers_len];
			return;
		}
	}
}

/* Milliseconds until the earliest timer, or -1 when none is pending. */
static int next_timeout(struct loop *loop, uint64_t now)
{
	uint64_t earliest = UINT64_MAX;

	for (size_t i = 0; i < loop->timers_len; i++) {
		if (loop->timers[i].deadline_ms < earliest)
			earliest = loop->timers[i].deadline_ms;
	}
	if (earliest == UINT64_MAX)
		return -1;
	if (earliest <= now)
		return 0;
	return earliest - now > 60000 ? 60000 : (int)(earliest - now);
}

/* Fires every expired timer; a callback may add or cancel timers meanwhile. */
static void run_timers(struct loop *loop)
{
	uint64_t now = monotonic_ms();
	bool fired;

	do {
		fired = false;
		for (size_t i = 0; i < loop->timers_len; i++) {
			if (loop->timers[i].deadline_ms > now)
				continue;

			struct loop_timer timer = loop->timers[i];

			loop->timers[i] = loop->timers[--loop->timers_len];
			timer.fn(loop, timer.data);
			fired = true;
			break;
		}
	} while (fired);
}

int loop_run_once(struct loop *loop, int max_wait_ms)
{
	struct epoll_event events[LOOP_EVENTS_MAX];
	int timeout = next_timeout(loop, monotonic_ms());
	int n;

	if (max_wait_ms >= 0 && (timeout < 0 || max_wait_ms < timeout))
		timeout = max_wait_ms;
	n = epoll_wait(loop->epoll_fd, events, LOOP_EVENTS_MAX, timeout);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return -errno;
	}
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)events[i].data.u64;
		uint32_t generation = (uint32_t)(events[i].data.u64 >> 32);

		if ((size_t)fd >= loop->watches_len)
			continue;

		struct loop_watch *watch = &loop->watches[fd];

		if (!watch->active || watch->generation != generation)
			continue;
		watch->fn(loop, fd, events[i].events, watch->data);
	}
	run_timers(loop);
	return 0;
}

int loop_run(struct loop *loop)
{
	loop->stopped = false;
	while (!loop->stopped) {
		int r = loop_run_once(loop, -1);

		if (r < 0)
			return r;
	}
	return 0;
}

void loop_stop(struct loop *loop)
{
	loop->stopped = true;
}
