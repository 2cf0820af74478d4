/* FIFREEZE and FITHAW over a freeze plan, and the record of frozen mount
 * points kept in the run directory so that ember-init or a restarted agent can
 * thaw them.
 *
 * Everything here blocks because FIFREEZE waits for writeback, so the agent
 * calls it from a worker thread. The record lives on tmpfs and is written
 * before the first FIFREEZE. */
#ifndef EMBER_FREEZE_ENGINE_H
#define EMBER_FREEZE_ENGINE_H

#include <stddef.h>

#include "freeze_mounts.h"

/* Name of the record inside the run directory (see lib/control.h). */
#define FREEZE_RECORD_NAME "frozen"
/* Largest record the agent reads back at start (bytes). */
#define FREEZE_RECORD_MAX (FREEZE_MOUNTS_MAX * 4200u)

/* Opens the directory of every PENDING target (O_RDONLY), so that no path
 * lookup is needed while anything is frozen. Returns 0, or -errno with
 * *failed set to the target that could not be opened. */
int freeze_plan_open(struct freeze_plan *plan, size_t *failed);

/* Closes the descriptor of every target that is not FROZEN and sets it to
 * -1, so that the plan kept for fs_status keeps no mount point busy. A
 * FROZEN target keeps its descriptor for FITHAW. */
void freeze_plan_close_unfrozen(struct freeze_plan *plan);

/* Syncs and freezes the PENDING targets in plan order. A filesystem that
 * fails with EOPNOTSUPP, or EBUSY because someone else froze it, becomes SKIPPED
 * with its reason. On any other error every target frozen so far is thawed in
 * reverse order; returns that -errno with *failed set to the failing target. */
int freeze_plan_freeze(struct freeze_plan *plan, size_t *failed);

/* Thaws the FROZEN targets in reverse order, continuing past errors. Returns
 * 0, or the first -errno with *failed set. */
int freeze_plan_thaw(struct freeze_plan *plan, size_t *failed);

/* Writes run_dir/frozen listing the PENDING targets, one per line, in freeze
 * order. Returns 0 or -errno; -EINVAL when a mount point contains a newline. */
int freeze_record_write(const char *run_dir, const struct freeze_plan *plan);

/* Removes the record; a missing record is not an error. Returns 0 or -errno. */
int freeze_record_remove(const char *run_dir);

/* Thaws every mount point the record lists, in reverse order, and removes the
 * record. Mount points that are not frozen any more are fine. Returns the
 * number of filesystems thawed, 0 when there is no record, or -errno for a
 * record that cannot be read. Each failure to thaw is logged. */
int freeze_record_thaw_all(const char *run_dir);

#endif
