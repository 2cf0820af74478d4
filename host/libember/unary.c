/* Unary operations: one request, one response. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "validate.h"

int ember_ping(struct ember_client *client, uint32_t *agent_version, struct ember_error *err)
{
	Ember__Request request = EMBER__REQUEST__INIT;
	Ember__PingRequest ping = EMBER__PING_REQUEST__INIT;
	Ember__AgentFrame *frame;
	int r;

	request.op_case = EMBER__REQUEST__OP_PING;
	request.ping = &ping;
	r = ember_conn_unary(client, &request, EMBER__AGENT_FRAME__KIND_PONG, &frame, err);
	if (r < 0)
		return r;
	if (agent_version)
		*agent_version = frame->pong->version;
	ember__agent_frame__free_unpacked(frame, NULL);
	return 0;
}

/* How long one readiness ping waits for its reply. A VMM's user-mode network
 * (QEMU slirp) accepts a forwarded connection before the guest listens, and no
 * reply ever comes on it. A short wait lets the next attempt connect again
 * instead of sitting on that connection until the overall timeout. */
#define EMBER_READY_REPLY_MS 1000

int ember_wait_ready(struct ember_client *client, int timeout_ms, struct ember_error *err)
{
	struct timespec start, now;
	int saved_connect = client->connect_timeout_ms;
	int saved_io = client->io_timeout_ms;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (bool tried = false;; tried = true) {
		long elapsed, left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		left = timeout_ms > elapsed ? timeout_ms - elapsed : 0;
		if (tried && left == 0)
			break;
		/* The connect retries with backoff cover most of the wait; the
		 * loop repeats after a connection was accepted but got no reply. */
		client->connect_timeout_ms = (int)left;
		client->io_timeout_ms = left > EMBER_READY_REPLY_MS ? EMBER_READY_REPLY_MS
				      : left > 0 ? (int)left : 1;
		r = ember_ping(client, NULL, err);
		if (r == 0 || left == 0)
			break;
		if (r == -EREMOTEIO && (!err || err->code != EMBER_CODE_UNAVAILABLE))
			break;
		struct timespec pause = { 0, EMBER_RETRY_DELAY_MS_MAX * 1000000L / 5 };

		nanosleep(&pause, NULL);
	}
	client->connect_timeout_ms = saved_connect;
	client->io_timeout_ms = saved_io;
	if (r < 0 && err) {
		char last[EMBER_ERROR_MESSAGE_MAX];

		memcpy(last, err->message, sizeof(last));
		snprintf(err->message, sizeof(err->message), "agent not ready within %d ms: %.400s",
			 timeout_ms, last);
	}
	return r;
}

static int copy_info(const Ember__InfoResponse *in, struct ember_info *info,
		     struct ember_error *err)
{
	int r;

	memset(info, 0, sizeof(*info));
	r = ember_check_count(in->n_operations, EMBER_INFO_OPERATIONS_MAX, "operations", err);
	if (r == 0)
		r = ember_check_count(in->n_boot_timings, EMBER_INFO_TIMINGS_MAX, "boot timings",
				      err);
	if (r == 0)
		r = ember_copy_string(info->agent_version, EMBER_INFO_STRING_MAX,
				      in->agent_version, "agent version", err);
	if (r == 0)
		r = ember_copy_string(info->boot_id, EMBER_INFO_STRING_MAX, in->boot_id,
				      "boot id", err);
	if (r == 0)
		r = ember_copy_string(info->hostname, EMBER_INFO_STRING_MAX, in->hostname,
				      "hostname", err);
	if (r == 0)
		r = ember_copy_string(info->kernel, EMBER_INFO_STRING_MAX, in->kernel, "kernel",
				      err);
	if (r == 0)
		r = ember_copy_string(info->arch, EMBER_INFO_STRING_MAX, in->arch, "arch", err);
	for (size_t i = 0; r == 0 && i < in->n_operations; i++)
		r = ember_copy_string(info->operations[i], EMBER_INFO_STRING_MAX,
				      in->operations[i], "operation name", err);
	for (size_t i = 0; r == 0 && i < in->n_boot_timings; i++) {
		r = ember_copy_string(info->timings[i].step, EMBER_INFO_STRING_MAX,
				      in->boot_timings[i]->step, "boot timing step", err);
		info->timings[i].monotonic_ns = in->boot_timings[i]->monotonic_ns;
	}
	if (r < 0)
		return r;
	info->operation_count = in->n_operations;
	info->timing_count = in->n_boot_timings;
	info->protocol_version = in->protocol_version;
	info->protocol_min_version = in->protocol_min_version;
	info->uptime_ms = in->uptime_ms;
	info->under_init = in->under_init;
	info->sessions = in->sessions;
	info->frozen = in->frozen;
	return 0;
}

int ember_info(struct ember_client *client, struct ember_info *info, struct ember_error *err)
{
	Ember__Request request = EMBER__REQUEST__INIT;
	Ember__InfoRequest op = EMBER__INFO_REQUEST__INIT;
	Ember__AgentFrame *frame;
	int r;

	request.op_case = EMBER__REQUEST__OP_INFO;
	request.info = &op;
	r = ember_conn_unary(client, &request, EMBER__AGENT_FRAME__KIND_INFO, &frame, err);
	if (r < 0)
		return r;
	r = copy_info(frame->info, info, err);
	ember__agent_frame__free_unpacked(frame, NULL);
	return r;
}

/* Joins argv with spaces into dst, ending with "..." when it does not fit, and
 * replaces control characters so that a listing cannot move the cursor. */
static void join_argv(char *dst, size_t size, const Ember__SessionInfo *in)
{
	size_t len = 0;

	dst[0] = '\0';
	for (size_t i = 0; i < in->n_argv; i++) {
		size_t extra = i > 0 ? 1 : 0;

		for (size_t j = 0; j < in->argv[i].len + extra; j++) {
			unsigned char c = j < extra ? ' ' : in->argv[i].data[j - extra];

			if (len + 4 >= size) {
				memcpy(dst + len, "...", 4);
				return;
			}
			dst[len++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
			dst[len] = '\0';
		}
	}
}

static int copy_session(const Ember__SessionInfo *in, struct ember_session_info *out,
			struct ember_error *err)
{
	int r = ember_copy_string(out->session_id, EMBER_SESSION_ID_MAX, in->session_id,
				  "session id", err);

	if (r < 0)
		return r;
	out->pid = in->pid;
	join_argv(out->argv, sizeof(out->argv), in);
	out->running = in->running;
	out->attached = in->attached;
	out->detached = in->detached;
	out->tty = in->tty;
	out->started_ms = in->started_ms;
	out->has_exit = in->exit != NULL;
	if (in->exit)
		return ember_exit_from_frame(in->exit, &out->exit, err);
	return 0;
}

int ember_list(struct ember_client *client, struct ember_session_info **sessions, size_t *count,
	       struct ember_error *err)
{
	Ember__Request request = EMBER__REQUEST__INIT;
	Ember__ListRequest op = EMBER__LIST_REQUEST__INIT;
	Ember__AgentFrame *frame;
	struct ember_session_info *list = NULL;
	size_t n;
	int r;

	request.op_case = EMBER__REQUEST__OP_LIST;
	request.list = &op;
	r = ember_conn_unary(client, &request, EMBER__AGENT_FRAME__KIND_LIST, &frame, err);
	if (r < 0)
		return r;
	n = frame->list->n_sessions;
	r = ember_check_count(n, EMBER_LIST_SESSIONS_MAX, "sessions", err);
	if (r == 0 && n > 0) {
		list = calloc(n, sizeof(*list));
		if (!list)
			r = ember_error_set(err, EMBER_ERROR_USAGE, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; r == 0 && i < n; i++)
		r = copy_session(frame->list->sessions[i], &list[i], err);
	ember__agent_frame__free_unpacked(frame, NULL);
	if (r < 0) {
		free(list);
		return r;
	}
	*sessions = list;
	*count = n;
	return 0;
}

static int check_session_id(const char *session_id, struct ember_error *err)
{
	size_t len = session_id ? strnlen(session_id, EMBER_SESSION_ID_MAX) : 0;

	if (len == 0 || len >= EMBER_SESSION_ID_MAX)
		return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL, "invalid session id '%s': "
				       "expected 1 to %d bytes", session_id ? session_id : "",
				       EMBER_SESSION_ID_MAX - 1);
	return 0;
}

int ember_signal(struct ember_client *client, const char *session_id, int signal_number,
		 bool process_group, struct ember_error *err)
{
	Ember__Request request = EMBER__REQUEST__INIT;
	Ember__SignalRequest op = EMBER__SIGNAL_REQUEST__INIT;
	int r = check_session_id(session_id, err);

	if (r < 0)
		return r;
	op.session_id = (char *)(uintptr_t)session_id;
	op.signal = signal_number;
	op.process_group = process_group;
	request.op_case = EMBER__REQUEST__OP_SIGNAL;
	request.signal = &op;
	return ember_conn_unary(client, &request, EMBER__AGENT_FRAME__KIND_ACK, NULL, err);
}

int ember_shutdown(struct ember_client *client, enum ember_shutdown_action action,
		   uint32_t timeout_s, struct ember_error *err)
{
	Ember__Request request = EMBER__REQUEST__INIT;
	Ember__ShutdownRequest op = EMBER__SHUTDOWN_REQUEST__INIT;

	op.action = (Ember__ShutdownRequest__Action)action;
	op.timeout_s = timeout_s;
	request.op_case = EMBER__REQUEST__OP_SHUTDOWN;
	request.shutdown = &op;
	return ember_conn_unary(client, &request, EMBER__AGENT_FRAME__KIND_ACK, NULL, err);
}

int ember_start(struct ember_client *client, const struct ember_start_request *start,
		struct ember_error *err)
{
	Ember__Request request = EMBER__REQUEST__INIT;
	Ember__StartRequest op = EMBER__START_REQUEST__INIT;
	int r;

	r = ember_bytes_list(start->args, EMBER_REQUEST_LIST_MAX, &op.args, &op.n_args);
	if (r == 0)
		r = ember_bytes_list(start->env, EMBER_REQUEST_LIST_MAX, &op.env, &op.n_env);
	if (r == 0)
		r = ember_bytes_list(start->secrets, EMBER_REQUEST_LIST_MAX, &op.secrets,
				     &op.n_secrets);
	if (r < 0) {
		r = ember_error_set(err, EMBER_ERROR_USAGE, r, "invalid start request: %s",
				    r == -E2BIG ? "more than 65536 entries in a list" :
				    "out of memory");
		goto out;
	}
	op.cwd = ember_bytes(start->cwd);
	op.user = (char *)(uintptr_t)(start->user ? start->user : "");
	request.op_case = EMBER__REQUEST__OP_START;
	request.start = &op;
	r = ember_conn_unary(client, &request, EMBER__AGENT_FRAME__KIND_ACK, NULL, err);
out:
	free(op.args);
	free(op.env);
	free(op.secrets);
	return r;
}
