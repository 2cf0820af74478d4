/* ember's side of the benchmark driver: operations through libember, each on
 * a connection of its own as the protocol requires. */
#ifndef EMBER_BENCH_EMBER_OPS_H
#define EMBER_BENCH_EMBER_OPS_H

#include <stdint.h>

#include "ember.h"

/* Runs /bin/true through the agent and waits for its exit status. Returns 0,
 * -ECHILD when true did not exit with 0, or the libember error. */
int ember_exec_true(struct ember_client *client, struct ember_error *err);

/* Freezes exactly the NULL-terminated mountpoints and thaws them again,
 * timing each half. The thaw carries no host clock or entropy, so the agent
 * never touches the machine's clock or RNG. Returns 0 or the libember error. */
int ember_freeze_thaw(struct ember_client *client, const char *const *mountpoints,
		      uint64_t *freeze_ns, uint64_t *thaw_ns, struct ember_error *err);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);

#endif
