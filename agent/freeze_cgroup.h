/* Freezing the workload: cgroup v2's cgroup.freeze on the cgroup that contains
 * the entrypoint and every exec session, then waiting until cgroup.events
 * reports "frozen 1" (the kernel stops the tasks asynchronously). */
#ifndef EMBER_FREEZE_CGROUP_H
#define EMBER_FREEZE_CGROUP_H

#include <stdbool.h>

/* Time the workload may take to report frozen before the freeze is undone. */
#define FREEZE_CGROUP_TIMEOUT_MS 5000

/* Writes frozen (1 or 0) to DIR/cgroup.freeze and waits until DIR/cgroup.events
 * reports the same state. Returns 0, -ETIMEDOUT (a freeze is then undone), or
 * -errno from the cgroup files. */
int freeze_cgroup_set(const char *cgroup_dir, bool frozen, unsigned int timeout_ms);

#endif
