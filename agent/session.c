/* Exec sessions: output rings, stdin, exit status, drain window, grace
 * period and TTL, and streaming to the attached connection. */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"
#include "control.h"
#include "io.h"
#include "log.h"
#include "spawn.h"

/* Reads of one stream per wakeup, so one chatty process cannot starve the
 * loop. */
#define SESSION_READS_PER_WAKEUP 4
/* Reads of one stream when the drain window closes; a background child
 * writing without pause cannot keep the agent here. */
#define SESSION_FINAL_READS 64

static void session_update(struct session *session);
static bool session_pump(struct session *session);
static void session_free(struct session *session);
static void stdin_flush(struct session *session);

static const struct conn_handler session_conn_handler;

int session_prepare_id(struct agent *agent, char *id, char *cgroup, size_t cgroup_len)
{
	uint8_t bytes[SESSION_ID_LEN / 2];
	static uint64_t counter;

	do {
		if (getrandom(bytes, sizeof(bytes), GRND_NONBLOCK) != (ssize_t)sizeof(bytes)) {
			uint64_t value = monotonic_ms() ^ ((uint64_t)getpid() << 32) ^ ++counter;

			memcpy(bytes, &value, sizeof(bytes));
		}
		for (size_t i = 0; i < sizeof(bytes); i++)
			snprintf(id + 2 * i, 3, "%02x", bytes[i]);
	} while (session_find(agent, id));

	cgroup[0] = '\0';
	if (agent->opts.under_init && access(CGROUP_WORKLOAD, W_OK) == 0) {
		snprintf(cgroup, cgroup_len, "%s/%s", CGROUP_WORKLOAD, id);
		if (mkdir(cgroup, 0755) < 0) {
			int r = -errno;

			log_warn("failed to create cgroup '%s': %s; the session runs without one",
				 cgroup, strerror(-r));
			cgroup[0] = '\0';
		}
	}
	return 0;
}

struct session *session_find(struct agent *agent, const char *id)
{
	for (struct session *s = agent->sessions; s; s = s->next)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

size_t session_count(const struct agent *agent)
{
	return agent->session_count;
}

/* ------------------------------------------------------------ output */

/* Whether stream i may be read now. With a client, reading follows its
 * pace. Without one, a detached session keeps reading and overwrites its
 * oldest output. A session in its grace period stops when the ring is full,
 * so a client that reattaches loses nothing the ring contained. */
static bool stream_readable(const struct session *session, int i)
{
	const struct session_stream *stream = &session->out[i];

	if (stream->fd < 0)
		return false;
	if (session->drain_expired)
		return true;
	if (session->conn)
		return conn_send_ready(session->conn);
	if (session->detached)
		return true;
	return ring_free_space(&stream->ring) > 0;
}

static void stream_close(struct session *session, int i)
{
	struct session_stream *stream = &session->out[i];

	if (stream->fd < 0)
		return;
	if (stream->watched)
		loop_remove(session->agent->loop, stream->fd);
	stream->watched = false;
	/* On a PTY stdin_fd is a duplicate of the same master; it stays. */
	close(stream->fd);
	stream->fd = -1;
}

/* Reads stream i into its ring. Returns false at EOF. */
static bool stream_read_once(struct session *session, int i)
{
	struct session_stream *stream = &session->out[i];
	uint8_t buf[SESSION_OUTPUT_CHUNK];
	size_t want = sizeof(buf);
	ssize_t n;

	if (!session->conn && !session->detached && !session->drain_expired) {
		size_t space = ring_free_space(&stream->ring);

		if (space < want)
			want = space;
		if (want == 0)
			return true;
	}
	n = read(stream->fd, buf, want);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return true;
	if (n <= 0) {
		/* 0 is EOF on a pipe; EIO is how a PTY master reports that every
		 * slave descriptor is closed. */
		stream_close(session, i);
		return false;
	}
	if (ring_write(&stream->ring, buf, (size_t)n) < 0) {
		log_error("session %s: out of memory for output; %zd bytes dropped",
			  session->id, n);
		stream->ring.written += (uint64_t)n;
	}
	return (size_t)n == want;
}

static void stream_io(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct session *session = data;
	int i = session->out[0].fd == fd ? 0 : 1;

	for (int k = 0; k < SESSION_READS_PER_WAKEUP && stream_readable(session, i); k++)
		if (!stream_read_once(session, i))
			break;
	if (session_pump(session))
		session_update(session);
}

static void stdin_io(struct loop *loop, int fd, uint32_t events, void *data)
{
	stdin_flush(data);
}

static void session_update(struct session *session)
{
	struct loop *loop = session->agent->loop;

	for (int i = 0; i < 2; i++) {
		struct session_stream *stream = &session->out[i];
		bool want = stream_readable(session, i);

		if (stream->fd < 0 || want == stream->watched)
			continue;
		if (want && loop_add(loop, stream->fd, EPOLLIN, stream_io, session) == 0)
			stream->watched = true;
		else if (!want && loop_remove(loop, stream->fd) == 0)
			stream->watched = false;
	}
	if (session->stdin_fd >= 0) {
		bool want = session->stdin_len > 0;

		if (want && !session->stdin_watched &&
		    loop_add(loop, session->stdin_fd, EPOLLOUT, stdin_io, session) == 0)
			session->stdin_watched = true;
		else if (!want && session->stdin_watched &&
			 loop_remove(loop, session->stdin_fd) == 0)
			session->stdin_watched = false;
	}
}

void session_exit_frame(const struct session *session, Ember__Exit *exit_frame)
{
	int status = session->wait_status;

	if (WIFSIGNALED(status)) {
		exit_frame->code = -1;
		exit_frame->signal = WTERMSIG(status);
		exit_frame->core_dumped = WCOREDUMP(status) != 0;
		exit_frame->status = 128 + WTERMSIG(status);
	} else {
		exit_frame->code = WEXITSTATUS(status);
		exit_frame->status = WEXITSTATUS(status);
	}
	exit_frame->timed_out = session->timed_out;
	exit_frame->stdout_bytes = session->out[0].ring.written;
	exit_frame->stderr_bytes = session->out[1].ring.written;
}

/* Sends the Exit frame once the process exited, both streams ended and the
 * client has everything; the session is then collected and freed. Returns
 * false when it freed the session. */
static bool session_maybe_finish(struct session *session)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__Exit exit_frame = EMBER__EXIT__INIT;
	struct conn *conn = session->conn;

	if (session->running || session->out[0].fd >= 0 || session->out[1].fd >= 0 || !conn)
		return true;
	for (int i = 0; i < 2; i++)
		if (session->out[i].sent < session->out[i].ring.written)
			return true;
	session_exit_frame(session, &exit_frame);
	frame.kind_case = EMBER__AGENT_FRAME__KIND_EXIT;
	frame.exit = &exit_frame;
	conn_set_handler(conn, NULL, NULL);
	session->conn = NULL;
	conn_finish(conn, &frame);
	log_info("session %s: exit status %d collected by %s", session->id, exit_frame.status,
		 conn_id(conn));
	session_free(session);
	return false;
}

static int send_output(struct conn *conn, int i, uint64_t offset, const uint8_t *data, size_t len)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__Output output = EMBER__OUTPUT__INIT;

	output.stream = i == 0 ? EMBER__OUTPUT__STREAM__STDOUT : EMBER__OUTPUT__STREAM__STDERR;
	output.offset = offset;
	output.data.data = (uint8_t *)(uintptr_t)data;
	output.data.len = len;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_OUTPUT;
	frame.output = &output;
	return conn_send(conn, &frame);
}

static int send_output_lost(struct conn *conn, int i, uint64_t offset, uint64_t length)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__OutputLost lost = EMBER__OUTPUT_LOST__INIT;

	lost.stream = i == 0 ? EMBER__OUTPUT__STREAM__STDOUT : EMBER__OUTPUT__STREAM__STDERR;
	lost.offset = offset;
	lost.length = length;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_OUTPUT_LOST;
	frame.output_lost = &lost;
	return conn_send(conn, &frame);
}

/* Forwards ring contents the client has not been sent, while it keeps up.
 * Returns false when the session was collected and freed. */
static bool session_pump(struct session *session)
{
	struct conn *conn = session->conn;
	uint8_t buf[SESSION_OUTPUT_CHUNK];

	if (!conn)
		return true;
	for (int i = 0; i < 2; i++) {
		struct session_stream *stream = &session->out[i];

		while (stream->sent < stream->ring.written && conn_send_ready(conn)) {
			uint64_t oldest = ring_oldest(&stream->ring);
			size_t n;

			if (stream->sent < oldest) {
				if (send_output_lost(conn, i, stream->sent, oldest - stream->sent) < 0)
					return true;
				stream->sent = oldest;
			}
			n = ring_read(&stream->ring, stream->sent, buf, sizeof(buf));
			if (send_output(conn, i, stream->sent, buf, n) < 0)
				return true;
			stream->sent += n;
		}
	}
	return session_maybe_finish(session);
}

/* ------------------------------------------------------------ stdin */

static void stdin_close(struct session *session)
{
	if (session->stdin_fd < 0)
		return;
	if (session->stdin_watched)
		loop_remove(session->agent->loop, session->stdin_fd);
	session->stdin_watched = false;
	close(session->stdin_fd);
	session->stdin_fd = -1;
	session->stdin_len = 0;
}

/* Ends a PTY's input the way a terminal user does, with ^D (VEOF) at the
 * start of a line. A partial line needs a second ^D because the first only
 * submits that line. */
static void stdin_send_tty_eof(struct session *session, bool partial_line)
{
	struct termios tio;
	uint8_t eof[2];
	ssize_t n;

	eof[0] = tcgetattr(session->stdin_fd, &tio) == 0 && tio.c_cc[VEOF] ? tio.c_cc[VEOF] : 4;
	eof[1] = eof[0];
	n = write(session->stdin_fd, eof, partial_line ? 2 : 1);
	(void)n;
}

static void stdin_flush(struct session *session)
{
	while (session->stdin_len > 0 && session->stdin_fd >= 0) {
		ssize_t n = write(session->stdin_fd, session->stdin_buf, session->stdin_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			/* The process closed its stdin: drop what it will never read. */
			log_debug("session %s: stdin closed by the process: %s", session->id,
				  strerror(errno));
			session->stdin_len = 0;
			if (!session->tty)
				stdin_close(session);
			break;
		}
		if (n > 0) {
			uint8_t last = session->stdin_buf[n - 1];

			session->tty_partial_line = last != '\n' && last != '\r';
		}
		memmove(session->stdin_buf, session->stdin_buf + n, session->stdin_len - (size_t)n);
		session->stdin_len -= (size_t)n;
	}
	if (session->stdin_len == 0 && session->stdin_eof && session->stdin_fd >= 0) {
		if (session->tty) {
			stdin_send_tty_eof(session, session->tty_partial_line);
			session->stdin_eof = false;
		} else {
			stdin_close(session);
		}
	}
	if (session->conn && session->stdin_len < SESSION_STDIN_MAX / 2)
		conn_pause_reading(session->conn, false);
	session_update(session);
}

static void session_on_stdin(struct session *session, struct conn *conn,
			     const ProtobufCBinaryData *data)
{
	uint8_t *grown;

	if (!session->client_stdin || session->stdin_eof) {
		ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
			    "unexpected stdin data for session %s: %s", session->id,
			    session->stdin_eof ? "stdin already ended" : "the request did not ask for stdin");
		return;
	}
	if (session->stdin_fd < 0 || data->len == 0)
		return;
	grown = realloc(session->stdin_buf, session->stdin_len + data->len);
	if (!grown) {
		ember_error(conn, EMBER__CODE__CODE_RESOURCE_EXHAUSTED, ENOMEM,
			    "out of memory buffering %zu stdin bytes for session %s", data->len,
			    session->id);
		return;
	}
	session->stdin_buf = grown;
	memcpy(session->stdin_buf + session->stdin_len, data->data, data->len);
	session->stdin_len += data->len;
	/* A client that sends faster than the process reads waits here. */
	if (session->stdin_len >= SESSION_STDIN_MAX)
		conn_pause_reading(conn, true);
	stdin_flush(session);
}

/* ------------------------------------------------------------ connection */

static void session_on_frame(struct conn *conn, const Ember__ClientFrame *frame, void *data)
{
	struct session *session = data;

	switch (frame->kind_case) {
	case EMBER__CLIENT_FRAME__KIND_STDIN:
		session_on_stdin(session, conn, &client_frame_stdin(frame)->data);
		break;
	case EMBER__CLIENT_FRAME__KIND_STDIN_EOF:
		if (!session->client_stdin) {
			ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				    "unexpected StdinEof for session %s: the request did not ask for stdin",
				    session->id);
			break;
		}
		session->stdin_eof = true;
		stdin_flush(session);
		break;
	case EMBER__CLIENT_FRAME__KIND_RESIZE: {
		struct winsize size = { .ws_row = (unsigned short)frame->resize->rows,
					.ws_col = (unsigned short)frame->resize->cols };
		int fd = session->stdin_fd >= 0 ? session->stdin_fd : session->out[0].fd;

		if (!session->tty) {
			ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				    "cannot resize session %s: it has no terminal (tty false)",
				    session->id);
			break;
		}
		if (frame->resize->rows == 0 || frame->resize->cols == 0 ||
		    frame->resize->rows > 0xffff || frame->resize->cols > 0xffff) {
			ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				    "invalid terminal size %ux%u: rows and cols must be 1 to 65535",
				    frame->resize->rows, frame->resize->cols);
			break;
		}
		if (fd >= 0)
			ioctl(fd, TIOCSWINSZ, &size);
		break;
	}
	case EMBER__CLIENT_FRAME__KIND_SIGNAL: {
		int r = session_signal(session, frame->signal->signal, frame->signal->process_group);

		if (r < 0 && r != -ESRCH)
			ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, -r,
				    "failed to send signal %d to session %s: %s",
				    frame->signal->signal, session->id, strerror(-r));
		break;
	}
	default:
		ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
			    "unexpected ClientFrame (kind %d) for an exec session",
			    (int)frame->kind_case);
	}
}

static void session_on_drained(struct conn *conn, void *data)
{
	struct session *session = data;

	if (session_pump(session))
		session_update(session);
}

static void session_idle_expired(struct loop *loop, void *data)
{
	struct session *session = data;

	session->idle_timer = 0;
	if (session->conn)
		return;
	if (!session->running) {
		log_info("session %s: exit status not collected within its %s; discarded",
			 session->id, session->detached ? "TTL" : "grace period");
		session_free(session);
		return;
	}
	log_info("session %s: no client within its %s; killing it", session->id,
		 session->detached ? "TTL" : "grace period");
	session->abandoned = true;
	session_kill(session);
}

/* Starts the grace period (or TTL) of a session without a client. */
static void session_start_idle(struct session *session)
{
	uint64_t ms = session->detached ? (uint64_t)session->ttl_s * 1000u
					: (uint64_t)session->agent->opts.grace_s * 1000u;

	loop_timer_cancel(session->agent->loop, session->idle_timer);
	session->idle_timer = loop_timer_add(session->agent->loop, ms, session_idle_expired, session);
}

static void session_on_close(struct conn *conn, int err, void *data)
{
	struct session *session = data;

	if (session->conn != conn)
		return;
	session->conn = NULL;
	log_info("session %s: client %s left (%s); waiting %u s for an attach", session->id,
		 conn_id(conn), err ? strerror(-err) : "closed",
		 session->detached ? session->ttl_s : session->agent->opts.grace_s);
	session_start_idle(session);
	session_update(session);
}

static const struct conn_handler session_conn_handler = {
	.on_frame = session_on_frame,
	.on_drained = session_on_drained,
	.on_close = session_on_close,
};

static int send_started(struct conn *conn, struct session *session, bool final)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__ExecStarted started = EMBER__EXEC_STARTED__INIT;

	started.session_id = session->id;
	started.pid = session->pid;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_EXEC_STARTED;
	frame.exec_started = &started;
	return final ? conn_finish(conn, &frame) : conn_send(conn, &frame);
}

int session_attach(struct session *session, struct conn *conn, uint64_t stdout_offset,
		   uint64_t stderr_offset, bool client_stdin)
{
	struct conn *old = session->conn;

	if (stdout_offset > session->out[0].ring.written || stderr_offset > session->out[1].ring.written)
		return -ERANGE;
	if (old) {
		conn_set_handler(old, NULL, NULL);
		session->conn = NULL;
		ember_error(old, EMBER__CODE__CODE_UNAVAILABLE, 0,
			    "session %s was attached by another connection (%s)", session->id,
			    conn_id(conn));
	}
	loop_timer_cancel(session->agent->loop, session->idle_timer);
	session->idle_timer = 0;
	/* Killed after its grace period but not yet reaped: the new client
	 * still gets the exit status. */
	session->abandoned = false;
	session->conn = conn;
	session->client_stdin = client_stdin;
	session->out[0].sent = stdout_offset;
	session->out[1].sent = stderr_offset;
	conn_set_handler(conn, &session_conn_handler, session);
	send_started(conn, session, false);
	if (session_pump(session))
		session_update(session);
	return 0;
}

void session_detach(struct session *session, uint32_t ttl_s)
{
	session->detached = true;
	session->ttl_s = ttl_s ? ttl_s : SESSION_DEFAULT_TTL_S;
	if (!session->conn) {
		session_start_idle(session);
		session_update(session);
	}
}

/* Used by exec --detach: ExecStarted is the final frame. */
int session_finish_detached(struct session *session, struct conn *conn, uint32_t ttl_s)
{
	session_detach(session, ttl_s);
	return send_started(conn, session, true);
}

/* ------------------------------------------------------------ process */

static void session_timeout_expired(struct loop *loop, void *data)
{
	struct session *session = data;

	session->timeout_timer = 0;
	if (!session->running)
		return;
	log_info("session %s: timed out; killing its processes", session->id);
	session->timed_out = true;
	session_kill(session);
}

void session_set_timeout(struct session *session, uint32_t timeout_ms)
{
	if (timeout_ms)
		session->timeout_timer = loop_timer_add(session->agent->loop, timeout_ms,
							session_timeout_expired, session);
}

int session_signal(struct session *session, int sig, bool process_group)
{
	if (sig < 0 || sig >= NSIG)
		return -EINVAL;
	if (!session->running && !process_group)
		return -ESRCH;
	if (kill(process_group ? -session->pid : session->pid, sig) < 0)
		return -errno;
	return 0;
}

void session_kill(struct session *session)
{
	if (session->cgroup[0]) {
		char path[sizeof(session->cgroup) + 16];

		snprintf(path, sizeof(path), "%s/cgroup.kill", session->cgroup);
		if (write_file(path, "1", 1, 0644) == 0)
			return;
	}
	/* Without cgroup.kill, a process that left the group with setsid
	 * escapes this. */
	kill(-session->pid, SIGKILL);
	if (session->running)
		kill(session->pid, SIGKILL);
}

static void session_drain_expired(struct loop *loop, void *data)
{
	struct session *session = data;

	session->drain_timer = 0;
	session->drain_expired = true;
	for (int i = 0; i < 2; i++) {
		for (int k = 0; k < SESSION_FINAL_READS && session->out[i].fd >= 0; k++)
			if (!stream_read_once(session, i))
				break;
		if (session->out[i].fd >= 0)
			log_info("session %s: %s still open %d ms after the process exited; "
				 "closing it", session->id, i ? "stderr" : "stdout", SESSION_DRAIN_MS);
		stream_close(session, i);
	}
	session_pump(session);
}

void session_on_exit(struct agent *agent, pid_t pid, int status)
{
	struct session *session = NULL;

	for (struct session *s = agent->sessions; s; s = s->next)
		if (s->pid == pid && s->running)
			session = s;
	if (!session)
		return;
	session->running = false;
	session->wait_status = status;
	loop_timer_cancel(agent->loop, session->timeout_timer);
	session->timeout_timer = 0;
	log_debug("session %s: pid %d exited with wait status 0x%x", session->id, (int)pid, status);
	if (session->abandoned) {
		session_free(session);
		return;
	}
	if (session->out[0].fd >= 0 || session->out[1].fd >= 0) {
		session->drain_timer = loop_timer_add(agent->loop, SESSION_DRAIN_MS,
						      session_drain_expired, session);
		return;
	}
	session_pump(session);
}

void session_register(struct agent *agent, struct session *session,
		      const struct spawn_result *result, char **argv, size_t argc, bool tty)
{
	session->agent = agent;
	session->pid = result->pid;
	session->running = true;
	session->tty = tty;
	session->argv = argv;
	session->argc = argc;
	session->started_ms = monotonic_ms();
	session->stdin_fd = result->stdin_fd;
	session->out[0].fd = result->stdout_fd;
	session->out[1].fd = result->stderr_fd;
	for (int i = 0; i < 2; i++)
		ring_init(&session->out[i].ring, SESSION_RING_MAX);
	session->next = agent->sessions;
	if (agent->sessions)
		agent->sessions->prev = session;
	agent->sessions = session;
	agent->session_count++;
}

static void session_free(struct session *session)
{
	struct agent *agent = session->agent;

	loop_timer_cancel(agent->loop, session->timeout_timer);
	loop_timer_cancel(agent->loop, session->drain_timer);
	loop_timer_cancel(agent->loop, session->idle_timer);
	if (session->conn) {
		conn_set_handler(session->conn, NULL, NULL);
		ember_error(session->conn, EMBER__CODE__CODE_UNAVAILABLE, 0,
			    "session %s ended before its exit status was sent", session->id);
	}
	for (int i = 0; i < 2; i++) {
		stream_close(session, i);
		ring_free(&session->out[i].ring);
	}
	stdin_close(session);
	free(session->stdin_buf);
	/* NOTE: background children that outlive the session keep its cgroup
	 * busy; the directory then stays behind until the VM stops. */
	if (session->cgroup[0] && rmdir(session->cgroup) < 0 && errno != ENOENT)
		log_info("failed to remove cgroup '%s': %s; left in place", session->cgroup,
			 strerror(errno));
	for (size_t i = 0; i < session->argc; i++)
		free(session->argv[i]);
	free(session->argv);
	if (session->prev)
		session->prev->next = session->next;
	else
		agent->sessions = session->next;
	if (session->next)
		session->next->prev = session->prev;
	agent->session_count--;
	log_debug("session %s: freed", session->id);
	free(session);
}

void session_unattached(struct session *session)
{
	/* A client may have attached by id while the process was starting. */
	if (session->conn)
		return;
	session_start_idle(session);
	session_update(session);
}

void session_discard(struct session *session)
{
	session_free(session);
}

void session_free_all(struct agent *agent)
{
	while (agent->sessions) {
		struct session *session = agent->sessions;

		if (session->running)
			session_kill(session);
		session_free(session);
	}
}
