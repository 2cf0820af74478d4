/* The freeze plan: which mounted filesystems a freeze request covers, one
 * entry per superblock, in the order they are frozen (innermost first).
 *
 * The plan is built from the text of /proc/self/mountinfo, so it is a pure
 * function of that text and the request, and unit tests feed it fixed tables. */
#ifndef EMBER_FREEZE_MOUNTS_H
#define EMBER_FREEZE_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Largest number of mount points one freeze request may list. */
#define FREEZE_MOUNTS_MAX 256
/* Largest mountinfo table the agent reads (bytes). */
#define FREEZE_MOUNTINFO_MAX (4u * 1024u * 1024u)

enum freeze_target_state {
	FREEZE_TARGET_PENDING,   /* to be frozen */
	FREEZE_TARGET_FROZEN,
	FREEZE_TARGET_THAWED,
	FREEZE_TARGET_SKIPPED,   /* reason gives the cause */
	FREEZE_TARGET_DUPLICATE, /* same superblock as the entry named in reason */
};

struct freeze_target {
	char *mountpoint;
	char *fstype;
	char *device;
	dev_t dev;                  /* superblock's device number, from mountinfo */
	int fd;                     /* opened before freezing; -1 when closed */
	enum freeze_target_state state;
	char *reason;
	ssize_t primary;            /* DUPLICATE: index of the target it shares a superblock with */
};

struct freeze_plan {
	struct freeze_target *targets;
	size_t count;
};

/* Builds a plan from a mountinfo table. With count == 0 every writable mount
 * is taken; otherwise each of paths must name a mount point exactly (after the
 * caller resolved symlinks). Read-only mounts become SKIPPED; a superblock
 * seen before becomes DUPLICATE. Targets are ordered innermost first: the
 * reverse of mountinfo order, where a mount follows the mount it sits on.
 * Returns 0; -EINVAL with *bad_path set to the path that is not a mount point;
 * -E2BIG when count exceeds FREEZE_MOUNTS_MAX; or -ENOMEM. */
int freeze_plan_build(const char *mountinfo, const char *const *paths, size_t count,
		      struct freeze_plan *plan, const char **bad_path);

/* Closes the plan's descriptors and frees it. */
void freeze_plan_free(struct freeze_plan *plan);

/* Decodes the octal escapes (\040 and friends) of a mountinfo field in place. */
void freeze_unescape(char *field);

/* Replaces target->reason with a copy of reason. Returns 0 or -ENOMEM. */
int freeze_target_set_reason(struct freeze_target *target, const char *reason);

/* Returns the state sent to clients: "frozen", "thawed" or "skipped". A
 * DUPLICATE entry reports the state of its primary. A PENDING target returns
 * "pending", but no reply carries one: a failed freeze marks the targets it
 * never reached THAWED. */
const char *freeze_plan_state_name(const struct freeze_plan *plan, size_t index);

#endif
