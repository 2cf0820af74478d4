/* The operation table and the checks every Request passes before its
 * handler runs: the token on TCP, the protocol version, the operation's
 * availability. To add an operation, set its start function below. */
#include "agent.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "printable.h"

/* Maximum length of the client name (Request.client) printed in the log. */
#define DISPATCH_CLIENT_NAME_MAX 64

const struct op_def op_table[] = {
	{ EMBER__REQUEST__OP_PING, "ping", op_ping, OP_WHILE_FROZEN },
	{ EMBER__REQUEST__OP_INFO, "info", op_info, OP_WHILE_FROZEN },
	{ EMBER__REQUEST__OP_EXEC, "exec", op_exec, 0 },
	{ EMBER__REQUEST__OP_ATTACH, "attach", op_attach, OP_WHILE_FROZEN },
	{ EMBER__REQUEST__OP_SIGNAL, "signal", op_signal, OP_WHILE_FROZEN },
	{ EMBER__REQUEST__OP_LIST, "list", op_list, OP_WHILE_FROZEN },
	{ EMBER__REQUEST__OP_LOGS, "logs", op_logs, OP_NEEDS_INIT | OP_WHILE_FROZEN },
	{ EMBER__REQUEST__OP_WAIT, "wait", op_wait, OP_NEEDS_INIT | OP_WHILE_FROZEN },
	{ EMBER__REQUEST__OP_SHUTDOWN, "shutdown", op_shutdown, OP_NEEDS_INIT | OP_WHILE_FROZEN },
	{ EMBER__REQUEST__OP_START, "start", op_start, OP_NEEDS_INIT },
	{ EMBER__REQUEST__OP_COPY_IN, "copy_in", op_copy_in, 0 },
	{ EMBER__REQUEST__OP_COPY_OUT, "copy_out", op_copy_out, 0 },
	{ EMBER__REQUEST__OP_FREEZE, "freeze", op_freeze, OP_WHILE_FROZEN },
	{ EMBER__REQUEST__OP_THAW, "thaw", op_thaw, OP_WHILE_FROZEN },
	{ EMBER__REQUEST__OP_FS_STATUS, "fs_status", op_fs_status, OP_WHILE_FROZEN },
	{ EMBER__REQUEST__OP_RESUME, "resume", op_resume, OP_WHILE_FROZEN },
	{ EMBER__REQUEST__OP_NET_CONFIG, "net_config", op_net_config, 0 },
};

const size_t op_table_len = sizeof(op_table) / sizeof(op_table[0]);

const struct op_def *op_find(Ember__Request__OpCase op)
{
	for (size_t i = 0; i < op_table_len; i++)
		if (op_table[i].op == op)
			return &op_table[i];
	return NULL;
}

bool op_available(const struct agent *agent, const struct op_def *def)
{
	if (!def->start)
		return false;
	return !(def->flags & OP_NEEDS_INIT) || agent->opts.under_init;
}

/* Compares every byte of the stored token whatever the first difference,
 * so the time taken does not reveal how much of a guess was right. */
static bool token_matches(const struct agent *agent, const ProtobufCBinaryData *given)
{
	size_t stored_len = agent->token_len;
	unsigned diff = (unsigned)(given->len ^ stored_len);

	for (size_t i = 0; i < stored_len; i++) {
		uint8_t byte = given->len ? given->data[i % given->len] : 0;

		diff |= (unsigned)(byte ^ agent->token[i]);
	}
	return diff == 0 && agent->have_token;
}

void dispatch_request(struct conn *conn, const Ember__Request *request)
{
	struct agent *agent = conn_agent(conn);
	const struct op_def *def;
	char client[DISPATCH_CLIENT_NAME_MAX];
	int r;

	if (listener_needs_token(conn) && !token_matches(agent, &request->token)) {
		log_warn("rejected %s: missing or wrong token", conn_peer(conn));
		ember_error(conn, EMBER__CODE__CODE_UNAUTHENTICATED, 0,
			    "missing or wrong token: TCP clients must send the agent's token "
			    "in Request.token (emberctl: --token-file FILE)");
		return;
	}
	if (request->version < EMBER_PROTOCOL_MIN_VERSION || request->version > EMBER_PROTOCOL_VERSION) {
		ember_error(conn, EMBER__CODE__CODE_FAILED_PRECONDITION, 0,
			    "unsupported protocol version %u: this agent speaks versions %d to %d",
			    request->version, EMBER_PROTOCOL_MIN_VERSION, EMBER_PROTOCOL_VERSION);
		return;
	}
	def = op_find(request->op_case);
	if (!def) {
		ember_error(conn, EMBER__CODE__CODE_UNSUPPORTED, 0,
			    "unknown operation (Request field %d): this agent does not support it",
			    (int)request->op_case);
		return;
	}
	printable_copy(client, sizeof(client), request->client, strlen(request->client));
	log_info("%s: %s from %s%s%s", conn_id(conn), def->name, conn_peer(conn),
		 client[0] ? " client " : "", client);
	if (!def->start) {
		ember_error(conn, EMBER__CODE__CODE_UNSUPPORTED, 0,
			    "operation '%s' is not supported by this agent", def->name);
		return;
	}
	if ((def->flags & OP_NEEDS_INIT) && !agent->opts.under_init) {
		ember_error(conn, EMBER__CODE__CODE_UNSUPPORTED, 0,
			    "operation '%s' is not supported by a standalone agent: it needs "
			    "ember-init", def->name);
		return;
	}
	if (agent->frozen && !(def->flags & OP_WHILE_FROZEN)) {
		ember_error(conn, EMBER__CODE__CODE_FAILED_PRECONDITION, 0,
			    "operation '%s' is not allowed while filesystems are frozen: thaw first",
			    def->name);
		return;
	}
	r = def->start(conn, request);
	if (r < 0)
		ember_error(conn, EMBER__CODE__CODE_INTERNAL, -r, "operation '%s' failed: %s",
			    def->name, strerror(-r));
}
