/* The entrypoint's log and exit status, served by an agent under ember-init. */
#include <errno.h>
#include <string.h>

#include "conn.h"
#include "validate.h"

/* Linux signal numbers run from 1 to SIGRTMAX, which is 64. */
#define SIGNAL_NUMBER_MAX 64

struct log_state {
	uint64_t offset;                /* next expected byte of the log */
	bool started;                   /* offset is known (the first frame sets it) */
	uint64_t lost;
};

/* Delivers one Output or OutputLost frame of the log. The first frame's
 * offset starts the stream (a tail request cannot know it in advance);
 * afterwards the offsets must follow on without gaps. */
static int log_frame(struct log_state *state, const Ember__AgentFrame *frame, ember_log_fn fn,
		     void *context, struct ember_error *err)
{
	if (frame->kind_case == EMBER__AGENT_FRAME__KIND_OUTPUT_LOST) {
		const Ember__OutputLost *lost = frame->output_lost;

		if (lost->stream != EMBER__OUTPUT__STREAM__LOG ||
		    (state->started && lost->offset != state->offset) ||
		    lost->offset > UINT64_MAX - lost->length)
			return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO,
					       "agent sent an invalid lost-output report for the log");
		state->lost += lost->length;
		state->offset = lost->offset + lost->length;
		state->started = true;
		return 0;
	}

	const Ember__Output *out = frame->output;
	uint64_t skip;

	if (out->stream != EMBER__OUTPUT__STREAM__LOG)
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO,
				       "agent sent output of a stream other than the log");
	if (out->data.len > EMBER_CHUNK_MAX || out->offset > UINT64_MAX - out->data.len)
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO, "agent sent a log "
				       "chunk of %zu bytes at offset %llu, beyond the limits",
				       out->data.len, (unsigned long long)out->offset);
	if (!state->started) {
		state->offset = out->offset;
		state->started = true;
	}
	if (out->offset > state->offset)
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO, "agent sent the log "
				       "at offset %llu where %llu was expected",
				       (unsigned long long)out->offset,
				       (unsigned long long)state->offset);
	skip = state->offset - out->offset;
	if (skip >= out->data.len)
		return 0;
	state->offset += out->data.len - skip;
	return fn(context, out->offset + skip, out->data.data + skip, out->data.len - (size_t)skip);
}

int ember_logs(struct ember_client *client, bool follow, uint64_t offset, uint64_t tail_bytes,
	       ember_log_fn fn, void *context, uint64_t *lost_bytes, struct ember_error *err)
{
	Ember__Request request = EMBER__REQUEST__INIT;
	Ember__LogsRequest op = EMBER__LOGS_REQUEST__INIT;
	struct log_state state = { .offset = offset, .started = offset != 0 };
	struct ember_conn conn;
	int r;

	op.follow = follow;
	op.offset = offset;
	op.tail_bytes = tail_bytes;
	request.op_case = EMBER__REQUEST__OP_LOGS;
	request.logs = &op;
	r = ember_conn_open(client, &request, &conn, err);
	if (r < 0)
		return r;
	for (;;) {
		Ember__AgentFrame *frame;

		r = ember_conn_recv(&conn, -1, &frame, err);
		if (r < 0)
			break;
		switch (frame->kind_case) {
		case EMBER__AGENT_FRAME__KIND_OUTPUT:
		case EMBER__AGENT_FRAME__KIND_OUTPUT_LOST:
			r = log_frame(&state, frame, fn, context, err);
			break;
		case EMBER__AGENT_FRAME__KIND_ACK:
		case EMBER__AGENT_FRAME__KIND_ENTRYPOINT_EXIT:
			r = 1;
			break;
		default:
			r = ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO, "agent sent a '%s' "
					    "frame inside a log stream",
					    ember_frame_kind_name(frame->kind_case));
		}
		ember__agent_frame__free_unpacked(frame, NULL);
		if (r != 0)
			break;
	}
	ember_conn_close(&conn);
	if (lost_bytes)
		*lost_bytes = state.lost;
	return r < 0 ? r : 0;
}

int ember_wait(struct ember_client *client, struct ember_entrypoint_exit *result,
	       struct ember_error *err)
{
	Ember__Request request = EMBER__REQUEST__INIT;
	Ember__WaitRequest op = EMBER__WAIT_REQUEST__INIT;
	struct ember_conn conn;
	Ember__AgentFrame *frame;
	const Ember__EntrypointExit *exit;
	int r;

	request.op_case = EMBER__REQUEST__OP_WAIT;
	request.wait = &op;
	r = ember_conn_open(client, &request, &conn, err);
	if (r < 0)
		return r;
	r = ember_conn_recv(&conn, -1, &frame, err);
	ember_conn_close(&conn);
	if (r < 0)
		return r;
	if (frame->kind_case != EMBER__AGENT_FRAME__KIND_ENTRYPOINT_EXIT) {
		r = ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO, "agent sent a '%s' frame "
				    "where 'entrypoint_exit' was expected",
				    ember_frame_kind_name(frame->kind_case));
		goto out;
	}
	exit = frame->entrypoint_exit;
	if (exit->signal < 0 || exit->signal > SIGNAL_NUMBER_MAX ||
	    (exit->signal == 0 && (exit->code < 0 || exit->code > 255))) {
		r = ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO, "agent sent an invalid "
				    "entrypoint exit (code %d, signal %d)", exit->code,
				    exit->signal);
		goto out;
	}
	result->code = exit->signal ? -1 : exit->code;
	result->signal = exit->signal;
	result->status = exit->signal ? 128 + exit->signal : exit->code;
out:
	ember__agent_frame__free_unpacked(frame, NULL);
	return r;
}
