/* One client connection: reading frames, the send queue with its watermarks,
 * finishing with a final frame, and tearing down from the loop. */
#include "agent.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "printable.h"

/* Time a client has to send its Request after connecting. */
#define CONN_REQUEST_TIMEOUT_MS 10000
/* Time a client has to read the final frame; a client that stops reading
 * cannot hold its connection open forever. */
#define CONN_FINISH_TIMEOUT_MS 30000
/* Longest Error.message, in bytes. */
#define CONN_ERROR_MESSAGE_MAX 1024

struct send_buf {
	struct send_buf *next;
	size_t len;
	size_t off;
	uint8_t *data;
};

enum conn_state {
	CONN_WAIT_REQUEST,  /* the first frame has not arrived */
	CONN_ACTIVE,        /* a handler owns the connection */
	CONN_HANDED_OVER,   /* another process uses the descriptor */
	CONN_FINISHING,     /* a final frame is queued */
	CONN_LINGERING,     /* final frame written, reading to EOF */
	CONN_DEAD,          /* teardown scheduled */
};

struct conn {
	struct agent *agent;
	struct listener *listener;
	struct conn *next;
	struct conn *prev;
	int fd;
	enum conn_state state;
	char id[24];
	char peer[96];

	struct frame_reader reader;
	Ember__Request *request;

	struct conn_handler handler;
	void *handler_data;

	struct send_buf *head;
	struct send_buf *tail;
	size_t queued;
	bool above_high;
	bool paused;
	uint32_t events;

	int close_err;
	uint64_t timer;
	uint64_t teardown_timer;
};

static void conn_io(struct loop *loop, int fd, uint32_t events, void *data);

static void conn_update_events(struct conn *conn)
{
	uint32_t events = 0;

	if (conn->state == CONN_DEAD)
		return;
	if (conn->state == CONN_HANDED_OVER)
		return;  /* only a hang-up is watched until conn_hand_back */
	if (conn->state == CONN_LINGERING || (!conn->paused && conn->state != CONN_FINISHING))
		events |= EPOLLIN;
	if (conn->head)
		events |= EPOLLOUT;
	if (events != conn->events) {
		loop_modify(conn->agent->loop, conn->fd, events);
		conn->events = events;
	}
}

static void conn_destroy(struct conn *conn)
{
	struct agent *agent = conn->agent;

	if (conn->handler.on_close)
		conn->handler.on_close(conn, conn->close_err, conn->handler_data);
	loop_timer_cancel(agent->loop, conn->timer);
	loop_remove(agent->loop, conn->fd);
	close(conn->fd);
	while (conn->head) {
		struct send_buf *buf = conn->head;

		conn->head = buf->next;
		free(buf->data);
		free(buf);
	}
	frame_reader_release(&conn->reader);
	if (conn->request)
		ember__request__free_unpacked(conn->request, NULL);
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		agent->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	agent->conn_count--;
	log_debug("%s: closed", conn->id);
	free(conn);
}

static void conn_teardown_timer(struct loop *loop, void *data)
{
	conn_destroy(data);
}

/* Schedules the teardown from the loop, so that no callback runs inside a
 * conn_* call its handler made. */
static void conn_kill(struct conn *conn, int err)
{
	if (conn->state == CONN_DEAD)
		return;
	conn->state = CONN_DEAD;
	conn->close_err = err;
	loop_timer_cancel(conn->agent->loop, conn->timer);
	conn->timer = 0;
	/* No more events: the descriptor stays open until conn_destroy. */
	loop_modify(conn->agent->loop, conn->fd, 0);
	conn->events = 0;
	conn->teardown_timer = loop_timer_add(conn->agent->loop, 0, conn_teardown_timer, conn);
	if (!conn->teardown_timer)
		conn_destroy(conn);
}

static void conn_linger_timeout(struct loop *loop, void *data)
{
	struct conn *conn = data;

	conn->timer = 0;
	conn_kill(conn, 0);
}

/* The final frame is on its way: half-close and wait for the client's EOF. */
static void conn_start_linger(struct conn *conn)
{
	conn->state = CONN_LINGERING;
	shutdown(conn->fd, SHUT_WR);
	loop_timer_cancel(conn->agent->loop, conn->timer);
	conn->timer = loop_timer_add(conn->agent->loop, CONN_LINGER_MS, conn_linger_timeout, conn);
	conn_update_events(conn);
}

/* Writes queued frames until the socket is full. Returns 0 or -errno. */
static int conn_flush(struct conn *conn)
{
	while (conn->head) {
		struct send_buf *buf = conn->head;
		ssize_t n = send(conn->fd, buf->data + buf->off, buf->len - buf->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		buf->off += (size_t)n;
		conn->queued -= (size_t)n;
		if (buf->off == buf->len) {
			conn->head = buf->next;
			if (!conn->head)
				conn->tail = NULL;
			free(buf->data);
			free(buf);
		}
	}
	return 0;
}

/* Flushes and reacts: linger after a final frame, call on_drained. */
static void conn_after_flush(struct conn *conn)
{
	int r = conn_flush(conn);

	if (r < 0) {
		log_debug("%s: failed to write to %s: %s", conn->id, conn->peer, strerror(-r));
		conn_kill(conn, r);
		return;
	}
	if (conn->state == CONN_FINISHING && !conn->head) {
		conn_start_linger(conn);
		return;
	}
	conn_update_events(conn);
	if (conn->above_high && conn->queued < CONN_SEND_LOW_WATERMARK &&
	    conn->state == CONN_ACTIVE) {
		conn->above_high = false;
		if (conn->handler.on_drained)
			conn->handler.on_drained(conn, conn->handler_data);
	}
}

static int conn_queue(struct conn *conn, const Ember__AgentFrame *frame)
{
	struct send_buf *buf;
	uint8_t *data;
	size_t len;
	int r;

	if (conn->state != CONN_ACTIVE && conn->state != CONN_WAIT_REQUEST)
		return -EPIPE;
	r = frame_encode(&frame->base, &data, &len);
	if (r < 0)
		return r;
	if (conn->queued + len > CONN_SEND_QUEUE_MAX) {
		free(data);
		return -ENOBUFS;
	}
	buf = calloc(1, sizeof(*buf));
	if (!buf) {
		free(data);
		return -ENOMEM;
	}
	buf->data = data;
	buf->len = len;
	if (conn->tail)
		conn->tail->next = buf;
	else
		conn->head = buf;
	conn->tail = buf;
	conn->queued += len;
	if (conn->queued >= CONN_SEND_HIGH_WATERMARK)
		conn->above_high = true;
	return 0;
}

int conn_send(struct conn *conn, const Ember__AgentFrame *frame)
{
	int r = conn_queue(conn, frame);

	if (r < 0)
		return r;
	r = conn_flush(conn);
	if (r < 0) {
		conn_kill(conn, r);
		return r;
	}
	conn_update_events(conn);
	return 0;
}

static void conn_finish_timeout(struct loop *loop, void *data)
{
	struct conn *conn = data;

	conn->timer = 0;
	log_warn("%s: %s did not read the final frame within %d ms; closing", conn->id,
		 conn->peer, CONN_FINISH_TIMEOUT_MS);
	conn_kill(conn, -ETIMEDOUT);
}

int conn_finish(struct conn *conn, const Ember__AgentFrame *frame)
{
	int r = conn_queue(conn, frame);

	if (r < 0) {
		conn_kill(conn, r);
		return r;
	}
	conn->state = CONN_FINISHING;
	loop_timer_cancel(conn->agent->loop, conn->timer);
	conn->timer = loop_timer_add(conn->agent->loop, CONN_FINISH_TIMEOUT_MS,
				     conn_finish_timeout, conn);
	conn_after_flush(conn);
	return 0;
}

int conn_ack(struct conn *conn)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__Ack ack = EMBER__ACK__INIT;

	frame.kind_case = EMBER__AGENT_FRAME__KIND_ACK;
	frame.ack = &ack;
	return conn_finish(conn, &frame);
}

static const char *code_name(Ember__Code code)
{
	const ProtobufCEnumValue *value =
		protobuf_c_enum_descriptor_get_value(&ember__code__descriptor, (int)code);

	return value ? value->name : "CODE_UNKNOWN";
}

int ember_verror(struct conn *conn, Ember__Code code, int errno_value, const char *path,
		 const char *fmt, va_list ap)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__Error error = EMBER__ERROR__INIT;
	char raw[CONN_ERROR_MESSAGE_MAX];
	char message[CONN_ERROR_MESSAGE_MAX];
	char printable_path[PATH_MAX];
	int len = vsnprintf(raw, sizeof(raw), fmt, ap);

	/* Messages quote peer-supplied values (argv, paths, session ids). */
	if (len < 0)
		len = 0;
	printable_copy(message, sizeof(message), raw,
		       (size_t)len < sizeof(raw) ? (size_t)len : sizeof(raw) - 1);
	log_warn("%s: %s: %s", conn->id, code_name(code), message);
	if (conn->state != CONN_ACTIVE && conn->state != CONN_WAIT_REQUEST)
		return 0;
	error.code = code;
	error.errno_value = errno_value;
	error.message = message;
	/* Error.path is a proto3 string too: a path that is not UTF-8 is sent
	 * with '?' in place of the invalid bytes. */
	printable_copy(printable_path, sizeof(printable_path), path ? path : "",
		       path ? strlen(path) : 0);
	error.path = printable_path;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_ERROR;
	frame.error = &error;
	conn_finish(conn, &frame);
	return 0;
}

int ember_error(struct conn *conn, Ember__Code code, int errno_value, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ember_verror(conn, code, errno_value, NULL, fmt, ap);
	va_end(ap);
	return 0;
}

int ember_error_path(struct conn *conn, Ember__Code code, int errno_value, const char *path,
		     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ember_verror(conn, code, errno_value, path, fmt, ap);
	va_end(ap);
	return 0;
}

int conn_hand_over(struct conn *conn)
{
	if (conn->state != CONN_ACTIVE || conn->head)
		return -EBUSY;
	conn->state = CONN_HANDED_OVER;
	loop_timer_cancel(conn->agent->loop, conn->timer);
	conn->timer = 0;
	/* Watched edge-triggered for a hang-up only: epoll reports EPOLLHUP and
	 * EPOLLERR whatever the mask, and level-triggered the agent would spin
	 * on a client that left while the other process still runs. */
	loop_modify(conn->agent->loop, conn->fd, EPOLLET);
	conn->events = EPOLLET;
	return conn->fd;
}

void conn_hand_back(struct conn *conn, enum conn_hand_back outcome)
{
	if (conn->state != CONN_HANDED_OVER)
		return;
	fd_set_nonblock(conn->fd, true);
	switch (outcome) {
	case CONN_BACK_UNUSED:
		conn->state = CONN_ACTIVE;
		conn_update_events(conn);
		break;
	case CONN_BACK_FINISHED:
		conn_start_linger(conn);
		break;
	case CONN_BACK_ABORTED:
		conn_kill(conn, -ECONNABORTED);
		break;
	}
}

void conn_set_handler(struct conn *conn, const struct conn_handler *handler, void *data)
{
	if (handler)
		conn->handler = *handler;
	else
		memset(&conn->handler, 0, sizeof(conn->handler));
	conn->handler_data = data;
}

bool conn_send_ready(const struct conn *conn)
{
	return conn->state == CONN_ACTIVE && conn->queued < CONN_SEND_HIGH_WATERMARK;
}

size_t conn_queued_bytes(const struct conn *conn)
{
	return conn->queued;
}

void conn_pause_reading(struct conn *conn, bool paused)
{
	conn->paused = paused;
	conn_update_events(conn);
}

bool conn_is_closing(const struct conn *conn)
{
	return conn->state != CONN_ACTIVE && conn->state != CONN_WAIT_REQUEST;
}

const char *conn_id(const struct conn *conn)
{
	return conn->id;
}

const char *conn_peer(const struct conn *conn)
{
	return conn->peer;
}

struct agent *conn_agent(const struct conn *conn)
{
	return conn->agent;
}

struct loop *conn_loop(const struct conn *conn)
{
	return conn->agent->loop;
}

const struct agent_options *conn_options(const struct conn *conn)
{
	return &conn->agent->opts;
}

bool listener_needs_token(const struct conn *conn)
{
	return conn->listener && conn->listener->addr.kind == LISTEN_TCP;
}

static void conn_request_timeout(struct loop *loop, void *data)
{
	struct conn *conn = data;

	conn->timer = 0;
	ember_error(conn, EMBER__CODE__CODE_TIMED_OUT, ETIMEDOUT,
		    "no request from %s within %d ms of connecting", conn->peer,
		    CONN_REQUEST_TIMEOUT_MS);
}

static void conn_handle_request(struct conn *conn, const uint8_t *body, size_t len)
{
	loop_timer_cancel(conn->agent->loop, conn->timer);
	conn->timer = 0;
	conn->request = ember__request__unpack(NULL, len, body);
	if (!conn->request) {
		ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
			    "invalid Request: the first frame (%zu bytes) is not a valid "
			    "protobuf Request message", len);
		return;
	}
	conn->state = CONN_ACTIVE;
	dispatch_request(conn, conn->request);
}

static void conn_handle_client_frame(struct conn *conn, const uint8_t *body, size_t len)
{
	Ember__ClientFrame *frame = ember__client_frame__unpack(NULL, len, body);

	if (!frame) {
		ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
			    "invalid ClientFrame of %zu bytes: not a valid protobuf message", len);
		return;
	}
	if (!conn->handler.on_frame)
		ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
			    "unexpected ClientFrame (kind %d): this operation takes no frames "
			    "after its Request", (int)frame->kind_case);
	else
		conn->handler.on_frame(conn, frame, conn->handler_data);
	ember__client_frame__free_unpacked(frame, NULL);
}

/* Reads to EOF after the final frame; the data is discarded. */
static void conn_drain_input(struct conn *conn)
{
	uint8_t scratch[16384];

	for (;;) {
		ssize_t n = recv(conn->fd, scratch, sizeof(scratch), MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_kill(conn, 0);
		return;
	}
}

static void conn_read(struct conn *conn)
{
	/* Bound the frames handled per wakeup so one client cannot starve the
	 * others. */
	for (int i = 0; i < 64 && !conn->paused; i++) {
		uint8_t *body;
		size_t len;
		int r;

		if (conn->state != CONN_ACTIVE && conn->state != CONN_WAIT_REQUEST)
			return;
		r = frame_reader_read(&conn->reader, conn->fd, &body, &len);
		if (r == 0)
			return;
		if (r == -EMSGSIZE) {
			ember_error(conn, EMBER__CODE__CODE_RESOURCE_EXHAUSTED, EMSGSIZE,
				    "frame too large: the length prefix exceeds the limit of %u "
				    "bytes (EMBER_FRAME_MAX)", EMBER_FRAME_MAX);
			return;
		}
		if (r < 0) {
			if (r != -ENODATA)
				log_debug("%s: failed to read from %s: %s", conn->id, conn->peer,
					  strerror(-r));
			conn_kill(conn, r == -ENODATA ? -ECONNRESET : r);
			return;
		}
		if (conn->state == CONN_WAIT_REQUEST)
			conn_handle_request(conn, body, len);
		else
			conn_handle_client_frame(conn, body, len);
		free(body);
	}
}

static void conn_io(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct conn *conn = data;

	if (conn->state == CONN_DEAD)
		return;
	if (conn->state == CONN_HANDED_OVER) {
		if ((events & (EPOLLHUP | EPOLLERR)) && conn->handler.on_hangup)
			conn->handler.on_hangup(conn, conn->handler_data);
		return;
	}
	if (events & EPOLLOUT)
		conn_after_flush(conn);
	if (conn->state == CONN_LINGERING && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		conn_drain_input(conn);
		return;
	}
	if (events & EPOLLIN)
		conn_read(conn);
	else if (events & (EPOLLHUP | EPOLLERR))
		conn_kill(conn, -ECONNRESET);
}

struct conn *conn_accept(struct agent *agent, struct listener *listener, int fd,
			 const char *peer)
{
	struct conn *conn = calloc(1, sizeof(*conn));
	int r;

	if (!conn) {
		log_error("failed to accept a connection from %s: out of memory", peer);
		close(fd);
		return NULL;
	}
	conn->agent = agent;
	conn->listener = listener;
	conn->fd = fd;
	conn->state = CONN_WAIT_REQUEST;
	snprintf(conn->id, sizeof(conn->id), "c%llu", (unsigned long long)++agent->next_conn_id);
	snprintf(conn->peer, sizeof(conn->peer), "%s", peer);
	frame_reader_init(&conn->reader, EMBER_FRAME_MAX);
	conn->events = EPOLLIN;
	r = loop_add(agent->loop, fd, EPOLLIN, conn_io, conn);
	if (r < 0) {
		log_error("failed to watch connection fd %d from %s: %s", fd, peer, strerror(-r));
		close(fd);
		free(conn);
		return NULL;
	}
	conn->next = agent->conns;
	if (agent->conns)
		agent->conns->prev = conn;
	agent->conns = conn;
	agent->conn_count++;
	conn->timer = loop_timer_add(agent->loop, CONN_REQUEST_TIMEOUT_MS, conn_request_timeout, conn);
	log_debug("%s: accepted from %s", conn->id, peer);
	return conn;
}

void conn_close_all(struct agent *agent)
{
	while (agent->conns) {
		struct conn *conn = agent->conns;

		loop_timer_cancel(agent->loop, conn->teardown_timer);
		if (conn->state != CONN_DEAD)
			conn->close_err = -ECONNABORTED;
		conn_destroy(conn);
	}
}
