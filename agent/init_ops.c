/* The operations relayed to ember-init: logs (the entrypoint's output
 * ring), wait, shutdown and start (the control channel). A standalone agent
 * never reaches these because dispatch rejects them with CODE_UNSUPPORTED. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "control.h"
#include "control_client.h"
#include "log.h"
#include "logring.h"

/* How often `logs --follow` looks for new output. */
#define LOGS_POLL_MS 100
/* Largest Output frame payload of the logs stream. */
#define LOGS_CHUNK (64u * 1024u)

/* ------------------------------------------------------------ logs */

struct logs_stream {
	struct conn *conn;
	struct logring ring;
	uint64_t offset;
	bool follow;
	uint64_t timer;
};

static void logs_pump(struct logs_stream *logs);

static void logs_poll(struct loop *loop, void *data)
{
	struct logs_stream *logs = data;

	logs->timer = 0;
	logs_pump(logs);
}

/* Sends the ring's contents from logs->offset while the client keeps up,
 * then finishes or polls again. */
static void logs_pump(struct logs_stream *logs)
{
	uint8_t buf[LOGS_CHUNK];

	for (;;) {
		bool closed = logring_is_closed(&logs->ring);
		uint64_t before = logs->offset;
		uint64_t lost = 0;
		size_t n;

		if (!conn_send_ready(logs->conn))
			return; /* on_drained resumes */
		n = logring_read(&logs->ring, &logs->offset, buf, sizeof(buf), &lost);
		if (lost) {
			Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
			Ember__OutputLost gap = EMBER__OUTPUT_LOST__INIT;

			gap.stream = EMBER__OUTPUT__STREAM__LOG;
			gap.offset = before;
			gap.length = lost;
			frame.kind_case = EMBER__AGENT_FRAME__KIND_OUTPUT_LOST;
			frame.output_lost = &gap;
			if (conn_send(logs->conn, &frame) < 0)
				return;
		}
		if (n) {
			Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
			Ember__Output output = EMBER__OUTPUT__INIT;

			output.stream = EMBER__OUTPUT__STREAM__LOG;
			output.offset = before + lost;
			output.data.data = buf;
			output.data.len = n;
			frame.kind_case = EMBER__AGENT_FRAME__KIND_OUTPUT;
			frame.output = &output;
			if (conn_send(logs->conn, &frame) < 0)
				return;
			continue;
		}
		/* Nothing new: done unless following output that may still come.
		 * A stopping agent ends the stream with what the ring contains. */
		if (!logs->follow || closed || conn_agent(logs->conn)->stopping) {
			conn_ack(logs->conn);
			return;
		}
		/* on_drained can run while a poll is pending: keep one timer. */
		loop_timer_cancel(conn_loop(logs->conn), logs->timer);
		logs->timer = loop_timer_add(conn_loop(logs->conn), LOGS_POLL_MS, logs_poll, logs);
		return;
	}
}

static void logs_on_drained(struct conn *conn, void *data)
{
	logs_pump(data);
}

static void logs_on_close(struct conn *conn, int err, void *data)
{
	struct logs_stream *logs = data;

	loop_timer_cancel(conn_loop(conn), logs->timer);
	logring_close(&logs->ring);
	free(logs);
}

static const struct conn_handler logs_handler = {
	.on_drained = logs_on_drained,
	.on_close = logs_on_close,
};

int op_logs(struct conn *conn, const Ember__Request *request)
{
	const Ember__LogsRequest *req = request->logs;
	struct logs_stream *logs = calloc(1, sizeof(*logs));
	uint64_t written;
	int r;

	if (!logs)
		return -ENOMEM;
	r = logring_open(&logs->ring, LOGRING_PATH);
	if (r < 0) {
		free(logs);
		return ember_error_path(conn, EMBER__CODE__CODE_UNAVAILABLE, -r, LOGRING_PATH,
					"failed to open the entrypoint output ring '%s': %s",
					LOGRING_PATH, strerror(-r));
	}
	written = logring_written(&logs->ring);
	if (req->offset > written) {
		logring_close(&logs->ring);
		free(logs);
		return ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				   "logs offset %llu lies past the output (%llu bytes so far)",
				   (unsigned long long)req->offset, (unsigned long long)written);
	}
	logs->offset = req->offset;
	if (req->offset == 0 && req->tail_bytes)
		logs->offset = req->tail_bytes < written ? written - req->tail_bytes : 0;
	logs->conn = conn;
	logs->follow = req->follow;
	conn_set_handler(conn, &logs_handler, logs);
	logs_pump(logs);
	return 0;
}

/* ------------------------------------------------------------ control calls */

/* One relayed request: the connection and its control call. */
struct relay {
	struct conn *conn;
	struct control_call *call;
	const char *op;
};

static void relay_on_close(struct conn *conn, int err, void *data)
{
	struct relay *relay = data;

	control_call_free(relay->call);
	free(relay);
}

static const struct conn_handler relay_handler = {
	.on_close = relay_on_close,
};

/* Reports a failed or rejected control call. Returns true when it did. */
static bool relay_failed(struct relay *relay, json_t *reply, int err)
{
	json_t *error;

	if (err) {
		ember_error(relay->conn, EMBER__CODE__CODE_UNAVAILABLE, -err,
			    "failed to relay '%s' to ember-init over %s: %s", relay->op,
			    CONTROL_SOCKET_PATH, strerror(-err));
		return true;
	}
	if (json_is_true(json_object_get(reply, "ok")))
		return false;
	error = json_object_get(reply, "error");
	ember_error(relay->conn, EMBER__CODE__CODE_FAILED_PRECONDITION, 0,
		    "ember-init rejected '%s': %s", relay->op,
		    json_is_string(error) ? json_string_value(error) : "no reason given");
	return true;
}

static void relay_ack_reply(struct control_call *call, json_t *reply, int err, void *data)
{
	struct relay *relay = data;

	if (!relay_failed(relay, reply, err))
		conn_ack(relay->conn);
}

static int json_int(json_t *reply, const char *key)
{
	json_t *value = json_object_get(reply, key);

	return json_is_integer(value) ? (int)json_integer_value(value) : 0;
}

static void wait_reply(struct control_call *call, json_t *reply, int err, void *data)
{
	struct relay *relay = data;
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__EntrypointExit status = EMBER__ENTRYPOINT_EXIT__INIT;
	json_t *ack;

	if (relay_failed(relay, reply, err))
		return;
	/* A client that already left gets nothing, so nothing is acknowledged. */
	if (conn_is_closing(relay->conn))
		return;
	status.code = json_int(reply, "code");
	status.signal = json_int(reply, "signal");
	status.status = json_int(reply, "status");
	frame.kind_case = EMBER__AGENT_FRAME__KIND_ENTRYPOINT_EXIT;
	frame.entrypoint_exit = &status;
	conn_finish(relay->conn, &frame);
	/* The status is handed over: init may now go on with its shutdown. */
	ack = json_pack("{s:s}", "op", "ack");
	if (ack && control_call_send(call, ack) < 0)
		log_warn("%s: failed to acknowledge the entrypoint status to ember-init",
			 conn_id(relay->conn));
	json_decref(ack);
}

/* Starts a relay of request (consumed) with fn handling the reply. */
static int relay_start(struct conn *conn, const char *op, json_t *request, control_reply_fn fn)
{
	struct relay *relay;
	int r;

	if (!request)
		return -ENOMEM;
	relay = calloc(1, sizeof(*relay));
	if (!relay) {
		json_decref(request);
		return -ENOMEM;
	}
	relay->conn = conn;
	relay->op = op;
	r = control_call_start(conn_agent(conn), request, fn, relay, &relay->call);
	json_decref(request);
	if (r < 0) {
		free(relay);
		if (r == -EMSGSIZE)
			return ember_error(conn, EMBER__CODE__CODE_RESOURCE_EXHAUSTED, EMSGSIZE,
					   "'%s' request exceeds the control message limit of %u "
					   "bytes (CONTROL_MESSAGE_MAX)", op, CONTROL_MESSAGE_MAX);
		return ember_error(conn, EMBER__CODE__CODE_UNAVAILABLE, -r,
				   "failed to reach ember-init at %s: %s", CONTROL_SOCKET_PATH,
				   strerror(-r));
	}
	conn_set_handler(conn, &relay_handler, relay);
	return 0;
}

int op_wait(struct conn *conn, const Ember__Request *request)
{
	return relay_start(conn, "wait", json_pack("{s:s}", "op", "wait"), wait_reply);
}

int op_shutdown(struct conn *conn, const Ember__Request *request)
{
	static const char *const actions[] = { "poweroff", "reboot", "halt" };
	const Ember__ShutdownRequest *req = request->shutdown;

	if ((unsigned)req->action >= sizeof(actions) / sizeof(actions[0]))
		return ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				   "invalid shutdown action %d: expected 0 (poweroff), 1 (reboot) "
				   "or 2 (halt)", (int)req->action);
	return relay_start(conn, "shutdown",
			   json_pack("{s:s, s:s, s:I}", "op", "shutdown", "action",
				     actions[req->action], "timeout_s", (json_int_t)req->timeout_s),
			   relay_ack_reply);
}

/* Converts repeated bytes to a JSON array of strings. Returns NULL with
 * *bad set to the index of an entry that is not UTF-8 (or on ENOMEM, with
 * *bad left at SIZE_MAX). */
static json_t *bytes_array(const ProtobufCBinaryData *items, size_t count, size_t *bad)
{
	json_t *array = json_array();

	*bad = SIZE_MAX;
	for (size_t i = 0; array && i < count; i++) {
		json_t *item = json_stringn((const char *)items[i].data, items[i].len);

		if (!item || json_array_append_new(array, item) < 0) {
			*bad = item ? SIZE_MAX : i;
			json_decref(array);
			return NULL;
		}
	}
	return array;
}

/* Length of the key of a "KEY=VALUE" string (the whole string without '='). */
static size_t key_length(const char *entry, size_t len)
{
	const char *eq = memchr(entry, '=', len);

	return eq ? (size_t)(eq - entry) : len;
}

/* Puts the image's environment in front of the request's entries, so that
 * StartRequest.env adds to the configured environment (init replaces the
 * configured one with any env list it is given). A request entry replaces
 * an image entry with the same key. Returns 0 or -ENOMEM. */
static int merge_image_env(const struct agent *agent, json_t *env)
{
	json_t *merged;
	size_t i;
	json_t *item;

	if (!agent->image_env)
		return 0;
	merged = json_array();
	if (!merged)
		return -ENOMEM;
	for (char **p = agent->image_env; *p; p++) {
		size_t klen = key_length(*p, strlen(*p));
		bool replaced = false;

		json_array_foreach(env, i, item) {
			const char *text = json_string_value(item);

			if (key_length(text, json_string_length(item)) == klen &&
			    memcmp(text, *p, klen) == 0)
				replaced = true;
		}
		if (!replaced && json_array_append_new(merged, json_string(*p)) < 0) {
			json_decref(merged);
			return -ENOMEM;
		}
	}
	json_array_extend(merged, env);
	json_array_clear(env);
	json_array_extend(env, merged);
	json_decref(merged);
	return 0;
}

int op_start(struct conn *conn, const Ember__Request *request)
{
	const Ember__StartRequest *req = request->start;
	const char *names[] = { "args", "env", "secrets" };
	const ProtobufCBinaryData *lists[] = { req->args, req->env, req->secrets };
	size_t counts[] = { req->n_args, req->n_env, req->n_secrets };
	json_t *message = json_pack("{s:s}", "op", "start");
	json_t *cwd;

	if (!message)
		return -ENOMEM;
	for (int i = 0; i < 3; i++) {
		size_t bad;
		json_t *array;

		/* An empty list keeps the configured one. */
		if (counts[i] == 0)
			continue;
		array = bytes_array(lists[i], counts[i], &bad);
		if (!array) {
			json_decref(message);
			if (bad == SIZE_MAX)
				return -ENOMEM;
			/* The index only: a secret's value is never logged. */
			return ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
					   "invalid start %s[%zu]: not UTF-8 (the control channel is "
					   "JSON)", names[i], bad);
		}
		if (i == 1 && merge_image_env(conn_agent(conn), array) < 0) {
			json_decref(array);
			json_decref(message);
			return -ENOMEM;
		}
		json_object_set_new(message, names[i], array);
	}
	if (req->cwd.len) {
		cwd = json_stringn((const char *)req->cwd.data, req->cwd.len);
		if (!cwd) {
			json_decref(message);
			return ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
					   "invalid start cwd: not UTF-8");
		}
		json_object_set_new(message, "cwd", cwd);
	}
	if (req->user[0])
		json_object_set_new(message, "user", json_string(req->user));
	return relay_start(conn, "start", message, relay_ack_reply);
}
