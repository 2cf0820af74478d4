/* The resume operation, and the host-state part that thaw shares with it:
 * clock and entropy (resume.h), resume hooks, and the optional signal to the
 * entrypoint. */
#ifndef EMBER_RESUME_OP_H
#define EMBER_RESUME_OP_H

#include <stdbool.h>
#include <stddef.h>

#include "op.h"
#include "resume.h"

/* Copies a request's HostState into request (entropy copied, arrival time
 * taken now). *has_host is false when host is NULL. Returns 0; -1 after
 * sending an Error for entropy over RESUME_ENTROPY_MAX; or -ENOMEM. */
int resume_op_take_host(struct conn *conn, const Ember__HostState *host,
			struct resume_request *request, bool *has_host);

/* Worker thread: applies the host state, then (with run_hooks) the resume.d
 * hooks and the configured signal to the entrypoint. Returns 0, or -errno
 * with message describing the failure. */
/* Returns why clock, RNG and network changes are not allowed here, or NULL when
 * they are: only in the initial PID namespace, and there only under ember-init
 * or with --machine-wide. */
const char *resume_machine_blocked(const struct agent_options *options);

int resume_op_apply(const struct agent_options *options, const struct resume_request *request,
		    bool run_hooks, struct resume_result *result, char *message, size_t size);

/* Points response's fields at result (no copies). */
void resume_op_fill(struct resume_result *result, Ember__ResumeResponse *response);

#endif
