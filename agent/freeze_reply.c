/* MountState lists and error codes for the freeze operations' replies. */
#include "freeze_reply.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* A MountState with room for its state name, freed in one piece. */
struct reply_mount {
	Ember__MountState message;
	char state[16];
};

Ember__MountState **freeze_reply_mounts(const struct freeze_plan *plan, size_t *count)
{
	Ember__MountState **mounts;

	*count = 0;
	if (plan->count == 0)
		return NULL;
	mounts = calloc(plan->count, sizeof(*mounts));
	if (!mounts)
		return NULL;
	for (size_t i = 0; i < plan->count; i++) {
		const struct freeze_target *target = &plan->targets[i];
		struct reply_mount *reply = malloc(sizeof(*reply));
		Ember__MountState *mount = &reply->message;

		if (!reply) {
			freeze_reply_mounts_free(mounts, i);
			return NULL;
		}
		ember__mount_state__init(mount);
		snprintf(reply->state, sizeof(reply->state), "%s", freeze_plan_state_name(plan, i));
		mount->mountpoint.data = (uint8_t *)target->mountpoint;
		mount->mountpoint.len = strlen(target->mountpoint);
		mount->fstype = target->fstype;
		mount->device = target->device;
		mount->state = reply->state;
		mount->reason = target->reason ? target->reason : "";
		mounts[i] = mount;
	}
	*count = plan->count;
	return mounts;
}

void freeze_reply_mounts_free(Ember__MountState **mounts, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(mounts[i]);
	free(mounts);
}

Ember__Code freeze_reply_code(int errno_value)
{
	switch (errno_value) {
	case EINVAL:
	case ENOTDIR:
	case ENAMETOOLONG:
		return EMBER__CODE__CODE_INVALID_ARGUMENT;
	case ENOENT:
		return EMBER__CODE__CODE_NOT_FOUND;
	case EPERM:
	case EACCES:
		return EMBER__CODE__CODE_PERMISSION_DENIED;
	case E2BIG:
	case ENOMEM:
		return EMBER__CODE__CODE_RESOURCE_EXHAUSTED;
	case ETIMEDOUT:
		return EMBER__CODE__CODE_TIMED_OUT;
	case EBUSY:
	case ECANCELED:
		return EMBER__CODE__CODE_FAILED_PRECONDITION;
	default:
		return EMBER__CODE__CODE_INTERNAL;
	}
}
