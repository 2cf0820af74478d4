/* A small epoll event loop with one-shot timers, the core of ember-init and
 * ember-agent.
 *
 * Callbacks run on the loop's thread. A callback may add or remove any
 * descriptor or timer, including its own: events still queued for a descriptor
 * that was removed (or removed and reused) during the same wakeup are dropped. */
#ifndef EMBER_LOOP_H
#define EMBER_LOOP_H

#include <stdint.h>

struct loop;

typedef void (*loop_io_fn)(struct loop *loop, int fd, uint32_t events, void *data);
typedef void (*loop_timer_fn)(struct loop *loop, void *data);

/* Returns NULL with errno set on failure. */
struct loop *loop_new(void);
void loop_free(struct loop *loop);

/* Watches fd for events (EPOLLIN, EPOLLOUT...). Returns 0 or -errno. */
int loop_add(struct loop *loop, int fd, uint32_t events, loop_io_fn fn, void *data);
int loop_modify(struct loop *loop, int fd, uint32_t events);
/* Stops watching fd; the caller still owns and closes it. */
int loop_remove(struct loop *loop, int fd);

/* Calls fn once after delay_ms of CLOCK_MONOTONIC time. Returns a non-zero
 * timer id, or 0 when out of memory. */
uint64_t loop_timer_add(struct loop *loop, uint64_t delay_ms, loop_timer_fn fn, void *data);
/* Cancels a pending timer; an id that already fired or is 0 is ignored. */
void loop_timer_cancel(struct loop *loop, uint64_t id);

/* Waits for events up to max_wait_ms (-1: until the next timer or event) and
 * dispatches them. Returns 0 or -errno from epoll_wait (never -EINTR). */
int loop_run_once(struct loop *loop, int max_wait_ms);

/* Dispatches until loop_stop is called. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

/* CLOCK_MONOTONIC in milliseconds; it does not advance while a VM is paused. */
uint64_t monotonic_ms(void);

#endif
