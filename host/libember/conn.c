/* One connection to the agent: the request, then frames in both directions. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int closed_error(struct ember_error *err)
{
	return ember_error_set(err, EMBER_ERROR_PROTOCOL, -ECONNRESET,
			       "agent closed the connection");
}

bool ember_conn_pending(const struct ember_conn *conn)
{
	return conn->out != NULL;
}

int ember_conn_flush(struct ember_conn *conn, bool block, struct ember_error *err)
{
	while (conn->out) {
		ssize_t n = send(conn->fd, conn->out + conn->out_off, conn->out_len - conn->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			conn->out_off += (size_t)n;
			if (conn->out_off == conn->out_len) {
				free(conn->out);
				conn->out = NULL;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = conn->fd, .events = POLLOUT };

			if (!block)
				return 0;
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				return ember_error_set(err, EMBER_ERROR_PROTOCOL, -errno,
						       "failed to wait for the socket: %s",
						       strerror(errno));
			continue;
		}
		if (n < 0 && errno != EPIPE && errno != ECONNRESET)
			return ember_error_set(err, EMBER_ERROR_PROTOCOL, -errno,
					       "failed to send a frame: %s", strerror(errno));
		return closed_error(err);
	}
	return 0;
}

static int queue_message(struct ember_conn *conn, const ProtobufCMessage *msg, bool block,
			 struct ember_error *err)
{
	int r = ember_conn_flush(conn, true, err);

	if (r < 0)
		return r;
	r = frame_encode(msg, &conn->out, &conn->out_len);
	if (r == -EMSGSIZE)
		return ember_error_set(err, EMBER_ERROR_USAGE, r, "the request is larger than "
				       "the frame limit of %u bytes", EMBER_FRAME_MAX);
	if (r < 0)
		return ember_error_set(err, EMBER_ERROR_USAGE, r, "failed to encode a frame: %s",
				       strerror(-r));
	conn->out_off = 0;
	return ember_conn_flush(conn, block, err);
}

int ember_conn_send(struct ember_conn *conn, const Ember__ClientFrame *frame, bool block,
		    struct ember_error *err)
{
	return queue_message(conn, &frame->base, block, err);
}

int ember_conn_open(struct ember_client *client, Ember__Request *request, struct ember_conn *conn,
		    struct ember_error *err)
{
	int r;

	memset(conn, 0, sizeof(*conn));
	conn->fd = -1;
	frame_reader_init(&conn->reader, EMBER_FRAME_MAX);
	r = ember_transport_connect(client, &conn->fd, err);
	if (r < 0)
		return r;
	request->version = EMBER_PROTOCOL_VERSION;
	request->client = client->client_name;
	if (client->token) {
		request->token.data = client->token;
		request->token.len = client->token_len;
	}
	r = queue_message(conn, &request->base, true, err);
	request->token.data = NULL;
	request->token.len = 0;
	if (r < 0)
		ember_conn_close(conn);
	return r;
}

void ember_conn_close(struct ember_conn *conn)
{
	if (conn->fd >= 0)
		close(conn->fd);
	conn->fd = -1;
	frame_reader_release(&conn->reader);
	free(conn->out);
	conn->out = NULL;
}

/* Waits until the socket is readable, writing pending bytes meanwhile. */
static int wait_readable(struct ember_conn *conn, int64_t deadline, struct ember_error *err)
{
	for (;;) {
		struct pollfd pfd = { .fd = conn->fd, .events = POLLIN };
		int timeout = -1;
		int r;

		if (conn->out)
			pfd.events |= POLLOUT;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();

			timeout = left > 0 ? (int)left : 0;
		}
		r = poll(&pfd, 1, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return ember_error_set(err, EMBER_ERROR_PROTOCOL, -errno,
					       "failed to wait for the socket: %s", strerror(errno));
		if (r == 0)
			return ember_error_set(err, EMBER_ERROR_PROTOCOL, -ETIMEDOUT,
					       "timed out waiting for the agent's response");
		if (pfd.revents & POLLOUT) {
			r = ember_conn_flush(conn, false, err);
			if (r < 0)
				return r;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			return 0;
	}
}

/* Unpacks one frame body. Returns 1 with *frame, 0 for a frame to skip, or
 * a negative errno (-EREMOTEIO for an Error frame). */
static int decode_frame(uint8_t *body, size_t len, Ember__AgentFrame **frame,
			struct ember_error *err)
{
	Ember__AgentFrame *f = ember__agent_frame__unpack(NULL, len, body);
	int r;

	free(body);
	if (!f)
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO, "agent sent a frame "
				       "of %zu bytes that is not a valid AgentFrame", len);
	/* A frame kind newer than this library reads as "not set": skip it,
	 * because the protocol's rule is that unknown fields are ignored. */
	if (f->kind_case == EMBER__AGENT_FRAME__KIND__NOT_SET) {
		ember__agent_frame__free_unpacked(f, NULL);
		return 0;
	}
	if (f->kind_case == EMBER__AGENT_FRAME__KIND_ERROR) {
		r = ember_error_remote(err, f->error);
		ember__agent_frame__free_unpacked(f, NULL);
		return r;
	}
	*frame = f;
	return 1;
}

static int reader_error(struct ember_conn *conn, int r, struct ember_error *err)
{
	if (r == -ENODATA)
		conn->closed_between_frames = true;
	if (r == -ENODATA || r == -ECONNRESET || r == -EPIPE)
		return closed_error(err);
	if (r == -EMSGSIZE)
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, r, "agent sent a frame "
				       "larger than the limit of %u bytes", EMBER_FRAME_MAX);
	return ember_error_set(err, EMBER_ERROR_PROTOCOL, r, "failed to read a frame: %s",
			       strerror(-r));
}

int ember_conn_try_recv(struct ember_conn *conn, Ember__AgentFrame **frame,
			struct ember_error *err)
{
	for (;;) {
		uint8_t *body;
		size_t len;
		int r = frame_reader_read(&conn->reader, conn->fd, &body, &len);

		if (r == 0)
			return 0;
		if (r < 0)
			return reader_error(conn, r, err);
		r = decode_frame(body, len, frame, err);
		if (r != 0)
			return r;
	}
}

int ember_conn_recv(struct ember_conn *conn, int timeout_ms, Ember__AgentFrame **frame,
		    struct ember_error *err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	for (;;) {
		int r = ember_conn_try_recv(conn, frame, err);

		if (r == 1)
			return 0;
		if (r < 0)
			return r;
		r = wait_readable(conn, deadline, err);
		if (r < 0)
			return r;
	}
}

int ember_conn_unary(struct ember_client *client, Ember__Request *request,
		     Ember__AgentFrame__KindCase expected, Ember__AgentFrame **frame,
		     struct ember_error *err)
{
	struct ember_conn conn;
	Ember__AgentFrame *f = NULL;
	int r = ember_conn_open(client, request, &conn, err);

	if (r < 0)
		return r;
	r = ember_conn_recv(&conn, client->io_timeout_ms > 0 ? client->io_timeout_ms : -1, &f,
			    err);
	ember_conn_close(&conn);
	if (r < 0)
		return r;
	if (f->kind_case != expected) {
		r = ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO,
				    "agent sent a '%s' frame where '%s' was expected",
				    ember_frame_kind_name(f->kind_case),
				    ember_frame_kind_name(expected));
		ember__agent_frame__free_unpacked(f, NULL);
		return r;
	}
	if (frame)
		*frame = f;
	else
		ember__agent_frame__free_unpacked(f, NULL);
	return 0;
}

ProtobufCBinaryData ember_bytes(const char *text)
{
	ProtobufCBinaryData bytes = { 0, NULL };

	if (text) {
		/* protobuf-c only reads the data when packing, so dropping const is safe. */
		bytes.data = (uint8_t *)(uintptr_t)text;
		bytes.len = strlen(text);
	}
	return bytes;
}

int ember_bytes_list(const char *const *list, size_t max, ProtobufCBinaryData **items,
		     size_t *count)
{
	size_t n = 0;

	while (list && list[n]) {
		if (++n > max)
			return -E2BIG;
	}
	*items = NULL;
	*count = n;
	if (n == 0)
		return 0;
	*items = calloc(n, sizeof(**items));
	if (!*items)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		(*items)[i] = ember_bytes(list[i]);
	return 0;
}
