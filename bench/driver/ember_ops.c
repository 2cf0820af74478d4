/* Timed operations through libember for the benchmark driver. */
#include "ember_ops.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ember_exec_true(struct ember_client *client, struct ember_error *err)
{
	static const char *const argv[] = { "/bin/true", NULL };
	struct ember_exec_request request = { .argv = argv };
	struct ember_session *session;
	struct ember_event event;
	int ret;

	ret = ember_exec_start(client, &request, &session, err);
	if (ret < 0)
		return ret;
	do {
		ret = ember_session_next(session, &event, err);
	} while (ret == 0 && event.type != EMBER_EVENT_EXIT);
	ember_session_free(session);
	if (ret < 0)
		return ret;
	return event.exit.code == 0 ? 0 : -ECHILD;
}

int ember_freeze_thaw(struct ember_client *client, const char *const *mountpoints,
		      uint64_t *freeze_ns, uint64_t *thaw_ns, struct ember_error *err)
{
	struct ember_freeze_request request = { .mountpoints = mountpoints };
	struct ember_freeze_state *state;
	uint64_t start;
	int ret;

	/* The state is about 130 KiB, too large for the stack of a loop. */
	state = calloc(1, sizeof(*state));
	if (!state)
		return -ENOMEM;
	start = now_ns();
	ret = ember_freeze(client, &request, state, err);
	*freeze_ns = now_ns() - start;
	ember_freeze_state_release(state);
	if (ret < 0)
		goto out;
	start = now_ns();
	ret = ember_thaw(client, NULL, state, err);
	*thaw_ns = now_ns() - start;
	ember_freeze_state_release(state);
out:
	free(state);
	return ret;
}
