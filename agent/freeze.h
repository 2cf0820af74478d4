/* The freeze, thaw and fs_status operations, and the agent-wide freeze state.
 *
 * A freeze runs on a worker thread: freeze hooks, then the workload cgroup
 * (when asked), then FIFREEZE per superblock, innermost first. While anything
 * is frozen, or a freeze or thaw is under way, freeze_active() is true and the
 * agent runs nothing from disk and writes nothing to it. Every freeze has a
 * deadline after which the agent thaws by itself. */
#ifndef EMBER_FREEZE_H
#define EMBER_FREEZE_H

#include <stdbool.h>
#include <stdint.h>

#include "op.h"

/* Auto-thaw deadline when the request gives none, and the largest allowed. */
#define FREEZE_TIMEOUT_DEFAULT_S 60
#define FREEZE_TIMEOUT_MAX_S 3600

/* The message of the error that exec and copy-in return while frozen. */
#define FREEZE_REJECT_MESSAGE "filesystems are frozen"

/* Whether a filesystem or the workload is frozen, or a freeze or thaw is in
 * progress. A finished freeze that skipped every mount does not count. */
bool freeze_active(void);

/* At agent start: thaws whatever the run directory's record lists (left by an
 * agent that died while frozen). Returns the number of filesystems thawed or
 * -errno for a record that cannot be read; failures per mount are logged. */
int freeze_startup(const struct agent_options *options);

/* At agent exit: thaws synchronously what this agent froze, so no writer
 * stays blocked, and removes the record. */
void freeze_shutdown(const struct agent_options *options);

/* The directories and cgroup in effect, with their defaults applied. */
const char *freeze_run_dir(const struct agent_options *options);
const char *freeze_hooks_dir(const struct agent_options *options);
const char *freeze_workload_cgroup(const struct agent_options *options);

#endif
