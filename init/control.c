/* The control socket: the agent's requests to init (start, shutdown, wait,
 * status), one JSON object per SOCK_SEQPACKET packet, uid 0 peers only. */
#include "init.h"

#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "loop.h"

#define CONTROL_MAX_CLIENTS 64

struct client {
	int fd;
	bool waiting;    /* sent "wait" and has no reply yet */
	bool needs_ack;  /* got the "wait" reply and has not sent "ack" yet */
	struct init *init;
};

static int listen_fd = -1;
static struct client clients[CONTROL_MAX_CLIENTS];

/* Sends a fixed error reply when building the reply failed, because the agent
 * waits for one reply per request and has no timeout of its own. */
static void send_json(struct client *c, json_t *reply)
{
	static const char fallback[] = "{\"ok\":false,\"error\":\"failed to encode the reply\"}";
	char *text = json_dumps(reply, JSON_COMPACT);
	const char *out = text ? text : fallback;

	if (send(c->fd, out, strlen(out), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("failed to send a control reply on fd %d: %s", c->fd, strerror(errno));
	free(text);
	json_decref(reply);
}

/* Drops a character that a cut at the end of s left incomplete, so that the
 * message stays valid UTF-8, which jansson requires. */
static void trim_cut_character(char *s)
{
	size_t len = strlen(s), start = len, need;

	while (start > 0 && ((unsigned char)s[start - 1] & 0xc0) == 0x80)
		start--;
	if (start == 0 || (unsigned char)s[start - 1] < 0xc0)
		return;
	start--;
	need = (unsigned char)s[start] >= 0xf0 ? 4 : (unsigned char)s[start] >= 0xe0 ? 3 : 2;
	if (len - start < need)
		s[start] = '\0';
}

static void send_error(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void send_error(struct client *c, const char *fmt, ...)
{
	char message[CONFIG_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(message, sizeof(message), fmt, ap) >= (int)sizeof(message))
		trim_cut_character(message);
	va_end(ap);
	send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", message));
}

static void send_exit(struct client *c)
{
	const struct init *init = c->init;

	send_json(c, json_pack("{s:b, s:i, s:i, s:i}", "ok", 1, "code", init->entry_code,
			       "signal", init->entry_signal, "status", init->entry_status));
	c->waiting = false;
	c->needs_ack = true;
}

static void drop_client(struct loop *loop, struct client *c)
{
	loop_remove(loop, c->fd);
	close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* Reads a list of UTF-8 strings (jansson has validated the encoding). */
static int read_strings(json_t *value, const char *field, struct strv *out, struct client *c)
{
	json_t *item;
	size_t i;

	if (!value)
		return 0;
	if (!json_is_array(value) || json_array_size(value) > CONFIG_MAX_LIST) {
		send_error(c, "invalid '%s': expected an array of at most %d strings", field,
			   CONFIG_MAX_LIST);
		return -EINVAL;
	}
	strv_free(out);
	json_array_foreach(value, i, item) {
		if (!json_is_string(item) ||
		    strlen(json_string_value(item)) != json_string_length(item)) {
			send_error(c, "invalid '%s': entry %zu is not a string without NUL", field, i);
			return -EINVAL;
		}
		if (strv_push(out, json_string_value(item)) < 0)
			return -ENOMEM;
	}
	return 0;
}

static bool all_assignments(const struct strv *list)
{
	for (size_t i = 0; i < list->n; i++) {
		if (!strchr(list->v[i], '=') || list->v[i][0] == '=')
			return false;
	}
	return true;
}

static void handle_start(struct client *c, json_t *req)
{
	struct init *init = c->init;
	struct config process;
	struct strv secrets = { 0 };
	char err[CONFIG_ERROR_MAX];
	json_t *cwd = json_object_get(req, "cwd"), *user = json_object_get(req, "user");

	if (init->entry_started || init->state != STATE_WAITING_FOR_START) {
		send_error(c, "the entrypoint was already started (state %s)",
			   status_state_name(init->state));
		return;
	}
	/* The request's fields replace the configured ones. */
	config_init(&process);
	process.terminal = init->cfg.terminal;
	if (read_strings(json_object_get(req, "args"), "args", &process.args, c) < 0 ||
	    read_strings(json_object_get(req, "env"), "env", &process.env, c) < 0 ||
	    read_strings(json_object_get(req, "secrets"), "secrets", &secrets, c) < 0)
		goto out;
	if (!json_object_get(req, "args")) {
		for (size_t i = 0; i < init->cfg.args.n; i++)
			strv_push(&process.args, init->cfg.args.v[i]);
	}
	if (!json_object_get(req, "env")) {
		for (size_t i = 0; i < init->cfg.env.n; i++)
			strv_push(&process.env, init->cfg.env.v[i]);
	}
	if (!all_assignments(&process.env) || !all_assignments(&secrets)) {
		send_error(c, "invalid 'env' or 'secrets': every entry must be KEY=VALUE");
		goto out;
	}
	if ((cwd && !json_is_string(cwd)) || (user && !json_is_string(user))) {
		send_error(c, "invalid 'cwd' or 'user': expected a string");
		goto out;
	}
	const char *default_cwd = init->cfg.cwd ? init->cfg.cwd : "/";
	const char *default_user = init->cfg.user ? init->cfg.user : "";

	process.cwd = strdup(cwd ? json_string_value(cwd) : default_cwd);
	process.user = strdup(user ? json_string_value(user) : default_user);
	if (!process.cwd || !process.user) {
		send_error(c, "out of memory");
		goto out;
	}
	if (process.cwd[0] != '/') {
		send_error(c, "invalid 'cwd' '%s': not an absolute path", process.cwd);
		goto out;
	}
	/* A failed start leaves the start timeout running: the host may retry. */
	if (entrypoint_start_with(init, &process, &secrets, err, sizeof(err)) < 0) {
		log_error("start request failed: %s", err);
		send_error(c, "%s", err);
		goto out;
	}
	loop_timer_cancel(init->loop, init->start_timer);
	init->start_timer = 0;
	log_info("started the entrypoint on the host's request (%zu args, %zu env, %zu secrets)",
		 process.args.n, process.env.n, secrets.n);
	send_json(c, json_pack("{s:b, s:i}", "ok", 1, "pid", (int)init->entry_pid));
out:
	config_free(&process);
	strv_free(&secrets);
}

static void handle_shutdown(struct client *c, json_t *req)
{
	struct init *init = c->init;
	const char *action = NULL;
	json_int_t timeout = 0;
	int act = init->cfg.exit_action;

	if (json_unpack(req, "{s?s, s?I}", "action", &action, "timeout_s", &timeout) < 0 ||
	    timeout < 0 || timeout > CONFIG_MAX_TIMEOUT_S) {
		send_error(c, "invalid shutdown request: 'action' must be a string and 'timeout_s' "
			   "an integer from 0 to %d", CONFIG_MAX_TIMEOUT_S);
		return;
	}
	if (action && strcmp(action, "poweroff") == 0)
		act = EXIT_ACTION_POWEROFF;
	else if (action && strcmp(action, "reboot") == 0)
		act = EXIT_ACTION_REBOOT;
	else if (action && strcmp(action, "halt") == 0)
		act = EXIT_ACTION_HALT;
	else if (action) {
		send_error(c, "invalid action '%s': expected poweroff, reboot or halt", action);
		return;
	}
	if (timeout > 0)
		init->stop_timeout_s = (unsigned)timeout;
	send_json(c, json_pack("{s:b}", "ok", 1));
	shutdown_begin(init, "the host requested it", act);
}

static void handle_request(struct client *c, json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op"));

	if (!op) {
		send_error(c, "invalid request: missing \"op\"");
	} else if (strcmp(op, "start") == 0) {
		handle_start(c, req);
	} else if (strcmp(op, "shutdown") == 0) {
		handle_shutdown(c, req);
	} else if (strcmp(op, "wait") == 0) {
		c->waiting = true;
		if (c->init->entry_exited)
			send_exit(c);
	} else if (strcmp(op, "ack") == 0) {
		c->needs_ack = false;
	} else if (strcmp(op, "status") == 0) {
		send_json(c, json_pack("{s:b, s:s, s:i}", "ok", 1, "state",
				       status_state_name(c->init->state), "pid",
				       (int)c->init->entry_pid));
	} else {
		send_error(c, "unknown op '%s': expected start, shutdown, wait, status or ack", op);
	}
}

static void on_client(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct client *c = data;
	static char buf[CONTROL_MESSAGE_MAX + 1];
	json_error_t error;
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_TRUNC | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop_client(loop, c);
		return;
	}
	if ((size_t)n > CONTROL_MESSAGE_MAX) {
		send_error(c, "request of %zd bytes exceeds the limit of %u", n, CONTROL_MESSAGE_MAX);
		return;
	}
	json_t *req = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, &error);

	if (!json_is_object(req))
		send_error(c, "invalid request: %s", req ? "not a JSON object" : error.text);
	else
		handle_request(c, req);
	json_decref(req);
}

/* How long the control socket stops accepting after accept4 ran out of
 * descriptors or memory: the pending connection keeps the socket readable,
 * and retrying at once would spin PID 1. */
#define CONTROL_ACCEPT_PAUSE_MS 500

static void on_accept(struct loop *loop, int fd, uint32_t events, void *data);

static void resume_accepting(struct loop *loop, void *data)
{
	int r = listen_fd >= 0 ? loop_add(loop, listen_fd, EPOLLIN, on_accept, data) : 0;

	if (r < 0)
		log_error("failed to watch the control socket again: %s; the agent cannot "
			  "reach init until it restarts", strerror(-r));
}

static void on_accept(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct init *init = data;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	size_t i;

	if (conn < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
			log_warn("failed to accept a control connection: %s; pausing for %d ms",
				 strerror(errno), CONTROL_ACCEPT_PAUSE_MS);
			loop_remove(loop, fd);
			loop_timer_add(loop, CONTROL_ACCEPT_PAUSE_MS, resume_accepting, init);
		}
		return;
	}
	if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warn("failed to read the credentials of control connection fd %d: %s; "
			 "closing it", conn, strerror(errno));
		close(conn);
		return;
	}
	if (cred.uid != 0) {
		log_warn("rejected a control connection from uid %d (pid %d): only uid 0 may "
			 "connect", (int)cred.uid, (int)cred.pid);
		close(conn);
		return;
	}
	for (i = 0; i < CONTROL_MAX_CLIENTS && clients[i].fd >= 0; i++)
		;
	if (i == CONTROL_MAX_CLIENTS) {
		log_warn("rejected a control connection from pid %d: %d connections are open",
			 (int)cred.pid, CONTROL_MAX_CLIENTS);
		close(conn);
		return;
	}
	clients[i] = (struct client){ .fd = conn, .init = init };
	if (loop_add(loop, conn, EPOLLIN, on_client, &clients[i]) < 0) {
		close(conn);
		clients[i].fd = -1;
	}
}

int control_listen(struct init *init)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	mode_t old;
	int r;

	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
		clients[i].fd = -1;
	listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listen_fd < 0)
		return -errno;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", CONTROL_SOCKET_PATH);
	unlink(CONTROL_SOCKET_PATH);
	old = umask(0177); /* the socket file gets mode 0600 */
	r = bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (r < 0 || listen(listen_fd, 16) < 0 ||
	    loop_add(init->loop, listen_fd, EPOLLIN, on_accept, init) < 0) {
		r = -errno;
		close(listen_fd);
		listen_fd = -1;
		return r;
	}
	return 0;
}

void control_notify_exit(struct init *init)
{
	(void)init;
	if (listen_fd < 0)
		return;
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		if (clients[i].fd >= 0 && clients[i].waiting)
			send_exit(&clients[i]);
	}
}

unsigned control_pending_acks(void)
{
	unsigned n = 0;

	if (listen_fd < 0)
		return 0;
	for (size_t i = 0; i < CONTROL_MAX_CLIENTS; i++)
		n += clients[i].fd >= 0 && clients[i].needs_ack;
	return n;
}

void control_close(void)
{
	if (listen_fd >= 0)
		close(listen_fd);
	listen_fd = -1;
	unlink(CONTROL_SOCKET_PATH);
}
