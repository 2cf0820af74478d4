/* Exec and attach sessions: the request, then output, lost-output and exit
 * events in, and stdin, resize and signal frames out. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "validate.h"

/* Bytes of stdin read and sent per frame; below EMBER_CHUNK_MAX. */
#define STDIN_CHUNK (64u * 1024u)

struct ember_session {
	struct ember_conn conn;
	char id[EMBER_SESSION_ID_MAX];
	int pid;
	uint64_t offset[2];             /* next expected byte of stdout and stderr */
	Ember__AgentFrame *frame;       /* the frame the last event's data points into */
	Ember__AgentFrame *pending;     /* a frame read while starting, not yet delivered */
	bool finished;
};

static int protocol_error(struct ember_error *err, const char *description)
{
	return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO, "agent sent %s", description);
}

/* Session ids are printed and passed back on command lines: printable ASCII only. */
static int set_session_id(struct ember_session *session, const char *id, struct ember_error *err)
{
	int r = ember_copy_string(session->id, sizeof(session->id), id, "session id", err);

	if (r < 0)
		return r;
	if (session->id[0] == '\0')
		return protocol_error(err, "an empty session id");
	for (const char *p = session->id; *p; p++) {
		if (*p <= ' ' || *p > '~')
			return protocol_error(err, "a session id with a character that is not "
					      "printable ASCII");
	}
	return 0;
}

/* Opens the connection and reads the first frame: ExecStarted, or for an
 * attach possibly the first output, which is kept for ember_session_next. */
static int session_open(struct ember_client *client, Ember__Request *request, bool attach,
			struct ember_session **out, struct ember_error *err)
{
	struct ember_session *session = calloc(1, sizeof(*session));
	Ember__AgentFrame *frame = NULL;
	int r;

	if (!session)
		return ember_error_set(err, EMBER_ERROR_USAGE, -ENOMEM, "out of memory");
	r = ember_conn_open(client, request, &session->conn, err);
	if (r < 0) {
		free(session);
		return r;
	}
	r = ember_conn_recv(&session->conn, client->io_timeout_ms > 0 ?
			    client->io_timeout_ms : -1, &frame, err);
	if (r < 0)
		goto out;
	if (frame->kind_case == EMBER__AGENT_FRAME__KIND_EXEC_STARTED) {
		const Ember__ExecStarted *started = frame->exec_started;

		if (!attach || (started->session_id && started->session_id[0]))
			r = set_session_id(session, started->session_id, err);
		session->pid = started->pid > 0 ? started->pid : 0;
		ember__agent_frame__free_unpacked(frame, NULL);
	} else if (attach) {
		session->pending = frame;
	} else {
		r = ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO, "agent sent a '%s' frame "
				    "where 'exec_started' was expected",
				    ember_frame_kind_name(frame->kind_case));
		ember__agent_frame__free_unpacked(frame, NULL);
	}
out:
	if (r < 0) {
		ember_session_free(session);
		return r;
	}
	*out = session;
	return 0;
}

int ember_exec_start(struct ember_client *client, const struct ember_exec_request *exec,
		     struct ember_session **session, struct ember_error *err)
{
	Ember__Request request = EMBER__REQUEST__INIT;
	Ember__ExecRequest op = EMBER__EXEC_REQUEST__INIT;
	int r;

	r = ember_bytes_list(exec->argv, EMBER_REQUEST_LIST_MAX, &op.argv, &op.n_argv);
	if (r == 0)
		r = ember_bytes_list(exec->env, EMBER_REQUEST_LIST_MAX, &op.env, &op.n_env);
	if (r < 0) {
		r = ember_error_set(err, EMBER_ERROR_USAGE, r, "invalid exec request: %s",
				    r == -E2BIG ? "more than 65536 entries in argv or env" :
				    "out of memory");
		goto out;
	}
	if (op.n_argv == 0 && !exec->shell) {
		r = ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL,
				    "invalid exec request: no command given");
		goto out;
	}
	op.clear_env = exec->clear_env;
	op.cwd = ember_bytes(exec->cwd);
	op.user = (char *)(uintptr_t)(exec->user ? exec->user : "");
	op.stdin = exec->send_stdin;
	op.tty = exec->tty;
	op.rows = exec->rows;
	op.cols = exec->cols;
	op.term = (char *)(uintptr_t)(exec->term ? exec->term : "");
	op.timeout_ms = exec->timeout_ms;
	op.detach = exec->detach;
	op.ttl_s = exec->ttl_s;
	op.shell = exec->shell;
	request.op_case = EMBER__REQUEST__OP_EXEC;
	request.exec = &op;
	r = session_open(client, &request, false, session, err);
out:
	free(op.argv);
	free(op.env);
	return r;
}

int ember_attach_start(struct ember_client *client, const char *session_id,
		       uint64_t stdout_offset, uint64_t stderr_offset, bool stdin,
		       struct ember_session **session, struct ember_error *err)
{
	Ember__Request request = EMBER__REQUEST__INIT;
	Ember__AttachRequest op = EMBER__ATTACH_REQUEST__INIT;
	size_t len = session_id ? strnlen(session_id, EMBER_SESSION_ID_MAX) : 0;
	int r;

	if (len == 0 || len >= EMBER_SESSION_ID_MAX)
		return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL, "invalid session id "
				       "'%s': expected 1 to %d bytes", session_id ? session_id : "",
				       EMBER_SESSION_ID_MAX - 1);
	op.session_id = (char *)(uintptr_t)session_id;
	op.stdout_offset = stdout_offset;
	op.stderr_offset = stderr_offset;
	op.stdin = stdin;
	request.op_case = EMBER__REQUEST__OP_ATTACH;
	request.attach = &op;
	r = session_open(client, &request, true, session, err);
	if (r < 0)
		return r;
	if ((*session)->id[0] == '\0')
		memcpy((*session)->id, session_id, len + 1);
	(*session)->offset[EMBER_STREAM_STDOUT] = stdout_offset;
	(*session)->offset[EMBER_STREAM_STDERR] = stderr_offset;
	return 0;
}

void ember_session_free(struct ember_session *session)
{
	if (!session)
		return;
	ember_conn_close(&session->conn);
	if (session->frame)
		ember__agent_frame__free_unpacked(session->frame, NULL);
	if (session->pending)
		ember__agent_frame__free_unpacked(session->pending, NULL);
	free(session);
}

const char *ember_session_id(const struct ember_session *session)
{
	return session->id;
}

int ember_session_pid(const struct ember_session *session)
{
	return session->pid;
}

int ember_session_fd(const struct ember_session *session)
{
	return session->conn.fd;
}

uint64_t ember_session_offset(const struct ember_session *session, enum ember_stream stream)
{
	if (stream != EMBER_STREAM_STDOUT && stream != EMBER_STREAM_STDERR)
		return 0;
	return session->offset[stream];
}

static int send_frame(struct ember_session *session, Ember__ClientFrame *frame,
		      struct ember_error *err)
{
	return ember_conn_send(&session->conn, frame, false, err);
}

int ember_session_send_stdin(struct ember_session *session, const void *data, size_t len,
			     struct ember_error *err)
{
	Ember__ClientFrame frame = EMBER__CLIENT_FRAME__INIT;
	Ember__StdinData stdin_data = EMBER__STDIN_DATA__INIT;

	if (len > EMBER_CHUNK_MAX)
		return ember_error_set(err, EMBER_ERROR_USAGE, -EMSGSIZE, "stdin chunk of %zu "
				       "bytes is larger than the limit of %u", len,
				       EMBER_CHUNK_MAX);
	stdin_data.data.data = (uint8_t *)(uintptr_t)data;
	stdin_data.data.len = len;
	frame.kind_case = EMBER__CLIENT_FRAME__KIND_STDIN;
	frame.stdin = &stdin_data;
	return send_frame(session, &frame, err);
}

int ember_session_close_stdin(struct ember_session *session, struct ember_error *err)
{
	Ember__ClientFrame frame = EMBER__CLIENT_FRAME__INIT;
	Ember__StdinEof eof = EMBER__STDIN_EOF__INIT;

	frame.kind_case = EMBER__CLIENT_FRAME__KIND_STDIN_EOF;
	frame.stdin_eof = &eof;
	return send_frame(session, &frame, err);
}

int ember_session_resize(struct ember_session *session, uint32_t rows, uint32_t cols,
			 struct ember_error *err)
{
	Ember__ClientFrame frame = EMBER__CLIENT_FRAME__INIT;
	Ember__Resize resize = EMBER__RESIZE__INIT;

	resize.rows = rows;
	resize.cols = cols;
	frame.kind_case = EMBER__CLIENT_FRAME__KIND_RESIZE;
	frame.resize = &resize;
	return send_frame(session, &frame, err);
}

int ember_session_signal(struct ember_session *session, int signal_number, bool process_group,
			 struct ember_error *err)
{
	Ember__ClientFrame frame = EMBER__CLIENT_FRAME__INIT;
	Ember__SignalRequest signal_request = EMBER__SIGNAL_REQUEST__INIT;

	signal_request.signal = signal_number;
	signal_request.process_group = process_group;
	frame.kind_case = EMBER__CLIENT_FRAME__KIND_SIGNAL;
	frame.signal = &signal_request;
	return send_frame(session, &frame, err);
}

/* Turns an Output frame into an event, trimming bytes already delivered.
 * Returns 1 for an event, 0 for a frame with nothing new, or -EPROTO. */
static int output_event(struct ember_session *session, const Ember__Output *out,
			struct ember_event *event, struct ember_error *err)
{
	uint64_t *expected;
	uint64_t skip;

	if (out->stream != EMBER__OUTPUT__STREAM__STDOUT &&
	    out->stream != EMBER__OUTPUT__STREAM__STDERR)
		return protocol_error(err, "output on a stream other than stdout and stderr");
	if (out->data.len > EMBER_CHUNK_MAX)
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO, "agent sent an "
				       "output chunk of %zu bytes, more than the limit of %u",
				       out->data.len, EMBER_CHUNK_MAX);
	if (out->offset > UINT64_MAX - out->data.len)
		return protocol_error(err, "an output offset beyond 2^64");
	expected = &session->offset[out->stream];
	if (out->offset > *expected)
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO, "agent sent %s at "
				       "offset %llu where %llu was expected, without reporting "
				       "the bytes between as lost",
				       out->stream ? "stderr" : "stdout",
				       (unsigned long long)out->offset,
				       (unsigned long long)*expected);
	skip = *expected - out->offset;
	if (skip >= out->data.len)
		return 0;
	event->type = EMBER_EVENT_OUTPUT;
	event->stream = (enum ember_stream)out->stream;
	event->offset = *expected;
	event->data = out->data.data + skip;
	event->len = out->data.len - (size_t)skip;
	*expected += event->len;
	return 1;
}

static int lost_event(struct ember_session *session, const Ember__OutputLost *lost,
		      struct ember_event *event, struct ember_error *err)
{
	uint64_t *expected;

	if (lost->stream != EMBER__OUTPUT__STREAM__STDOUT &&
	    lost->stream != EMBER__OUTPUT__STREAM__STDERR)
		return protocol_error(err, "lost output on a stream other than stdout and stderr");
	expected = &session->offset[lost->stream];
	if (lost->offset != *expected || lost->length == 0 ||
	    lost->offset > UINT64_MAX - lost->length)
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO, "agent reported "
				       "%llu lost bytes at offset %llu where %llu was expected",
				       (unsigned long long)lost->length,
				       (unsigned long long)lost->offset,
				       (unsigned long long)*expected);
	event->type = EMBER_EVENT_LOST;
	event->stream = (enum ember_stream)lost->stream;
	event->offset = lost->offset;
	event->lost_length = lost->length;
	*expected += lost->length;
	return 1;
}

/* Converts a frame into an event. Returns 1, 0 to skip, or a negative errno. */
static int frame_event(struct ember_session *session, const Ember__AgentFrame *frame,
		       struct ember_event *event, struct ember_error *err)
{
	int r;

	memset(event, 0, sizeof(*event));
	switch (frame->kind_case) {
	case EMBER__AGENT_FRAME__KIND_OUTPUT:
		return output_event(session, frame->output, event, err);
	case EMBER__AGENT_FRAME__KIND_OUTPUT_LOST:
		return lost_event(session, frame->output_lost, event, err);
	case EMBER__AGENT_FRAME__KIND_EXIT:
		r = ember_exit_from_frame(frame->exit, &event->exit, err);
		if (r < 0)
			return r;
		event->type = EMBER_EVENT_EXIT;
		session->finished = true;
		return 1;
	default:
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO, "agent sent a '%s' "
				       "frame inside an exec session",
				       ember_frame_kind_name(frame->kind_case));
	}
}

/* Delivers the next event if a whole frame is there. block waits for one.
 * Returns 1 with *event, 0 when none is ready, or a negative errno. */
static int session_poll_event(struct ember_session *session, struct ember_event *event,
			      bool block, struct ember_error *err)
{
	if (session->frame) {
		ember__agent_frame__free_unpacked(session->frame, NULL);
		session->frame = NULL;
	}
	if (session->finished)
		return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL,
				       "the session already delivered its exit status");
	for (;;) {
		Ember__AgentFrame *frame = session->pending;
		int r;

		session->pending = NULL;
		if (!frame) {
			r = block ? ember_conn_recv(&session->conn, -1, &frame, err) :
				    ember_conn_try_recv(&session->conn, &frame, err);
			if (r == 0 && !block)
				return 0;
			if (r < 0)
				return r;
		}
		r = frame_event(session, frame, event, err);
		if (r <= 0) {
			ember__agent_frame__free_unpacked(frame, NULL);
			if (r < 0)
				return r;
			continue;
		}
		session->frame = frame;
		return 1;
	}
}

int ember_session_next(struct ember_session *session, struct ember_event *event,
		       struct ember_error *err)
{
	int r = session_poll_event(session, event, true, err);

	return r < 0 ? r : 0;
}

/* Writes all of data to fd, waiting when fd is non-blocking and full (a
 * terminal shared with a program that set O_NONBLOCK, for example). */
static int write_output(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return -EIO;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}

static int deliver_output(const struct ember_session_io *io, const struct ember_event *event,
			  struct ember_error *err)
{
	int fd = event->stream == EMBER_STREAM_STDERR ? io->stderr_fd : io->stdout_fd;
	int r;

	if (io->on_output)
		return io->on_output(io->context, event->stream, event->data, event->len);
	if (fd < 0)
		return 0;
	r = write_output(fd, event->data, event->len);
	if (r < 0)
		return ember_error_set(err, EMBER_ERROR_USAGE, r, "failed to write %s: %s",
				       event->stream == EMBER_STREAM_STDERR ? "stderr" : "stdout",
				       strerror(-r));
	return 0;
}

/* Reads one chunk of stdin and sends it, or the end of stdin. Returns 1 while
 * stdin stays open, 0 after its end, or a negative errno. */
static int pump_stdin(struct ember_session *session, int fd, struct ember_error *err)
{
	char buf[STDIN_CHUNK];
	ssize_t n = read(fd, buf, sizeof(buf));
	int r;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	/* A terminal that hung up reads as EIO: treat it as the end of input. */
	if (n <= 0) {
		r = ember_session_close_stdin(session, err);
		return r < 0 ? r : 0;
	}
	r = ember_session_send_stdin(session, buf, (size_t)n, err);
	return r < 0 ? r : 1;
}

/* Handles every event already complete. Returns 1 after the exit event. */
static int drain_events(struct ember_session *session, const struct ember_session_io *io,
			struct ember_exit *exit, uint64_t *lost_bytes, struct ember_error *err)
{
	struct ember_event event;
	int r;

	while ((r = session_poll_event(session, &event, false, err)) == 1) {
		if (event.type == EMBER_EVENT_EXIT) {
			*exit = event.exit;
			return 1;
		}
		if (event.type == EMBER_EVENT_LOST && lost_bytes)
			*lost_bytes += event.lost_length;
		if (event.type == EMBER_EVENT_OUTPUT) {
			r = deliver_output(io, &event, err);
			if (r < 0)
				return r;
		}
	}
	return r;
}

int ember_session_run(struct ember_session *session, const struct ember_session_io *io,
		      struct ember_exit *exit, uint64_t *lost_bytes, struct ember_error *err)
{
	bool stdin_open = io->stdin_fd >= 0;
	int r;

	if (lost_bytes)
		*lost_bytes = 0;
	for (;;) {
		struct pollfd pfds[3] = {
			{ .fd = session->conn.fd, .events = POLLIN },
			{ .fd = -1, .events = POLLIN },
			{ .fd = io->on_event ? io->event_fd : -1, .events = POLLIN },
		};

		r = drain_events(session, io, exit, lost_bytes, err);
		if (r != 0)
			return r < 0 ? r : 0;
		if (ember_conn_pending(&session->conn))
			pfds[0].events |= POLLOUT;
		else if (stdin_open)
			pfds[1].fd = io->stdin_fd;
		if (poll(pfds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return ember_error_set(err, EMBER_ERROR_USAGE, -errno,
					       "failed to poll: %s", strerror(errno));
		}
		if (pfds[0].revents & POLLOUT) {
			r = ember_conn_flush(&session->conn, false, err);
			if (r < 0)
				return r;
		}
		if (pfds[1].revents) {
			r = pump_stdin(session, io->stdin_fd, err);
			if (r < 0)
				return r;
			stdin_open = r == 1;
		}
		if (pfds[2].revents) {
			r = io->on_event(io->context, session);
			if (r < 0)
				return r;
		}
	}
}
