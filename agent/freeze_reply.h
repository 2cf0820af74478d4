/* Protocol replies of the freeze operations: MountState lists built from a
 * freeze plan, and errno to Error code mapping. */
#ifndef EMBER_FREEZE_REPLY_H
#define EMBER_FREEZE_REPLY_H

#include <stddef.h>

#include "agent.pb-c.h"
#include "freeze_mounts.h"

/* A MountState per target. The messages point into the plan's strings, so the
 * plan must outlive the reply; free the array with freeze_reply_mounts_free.
 * Returns NULL (with *count 0) for an empty plan or when out of memory. */
Ember__MountState **freeze_reply_mounts(const struct freeze_plan *plan, size_t *count);
void freeze_reply_mounts_free(Ember__MountState **mounts, size_t count);

/* The Error code for a failure with this positive errno. */
Ember__Code freeze_reply_code(int errno_value);

#endif
