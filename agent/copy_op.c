/* The copy_in and copy_out operations. Each request gets a worker process
 * (copy_worker.c) connected by a socket pair. This file relays frames between
 * the client's connection and the worker on the agent's loop, and pauses
 * either side while the other is full, so memory stays bounded. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "copy.h"
#include "copy_worker.h"
#include "frame.h"
#include "io.h"
#include "log.h"
#include "op.h"

/* The clone3 argument block (linux/sched.h, kernel 5.3 and later). */
struct copy_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

struct copy_op {
	struct conn *conn;       /* NULL once the connection is gone */
	struct loop *loop;
	const char *name;        /* "copy_in" or "copy_out" */
	char conn_id[32];
	int sock;                /* the agent's end of the socket pair, -1 when closed */
	int pidfd;
	pid_t pid;
	uint8_t header[EMBER_FRAME_HEADER];  /* the worker's frame being read */
	size_t header_have;
	uint8_t *body;           /* EMBER_FRAME_MAX bytes, reused for every frame */
	uint32_t body_len;
	size_t body_have;
	struct copy_arena arena; /* unpacks the worker's frames */
	uint8_t *out;            /* buffer of the client frame being written to the worker */
	size_t out_size, out_len, out_off;
	bool out_pending;        /* out contains bytes the worker has not read yet */
	bool worker_paused;      /* reading from the worker waits for on_drained */
	bool finished;           /* the worker's final frame went to the client */
};

static void op_free_if_done(struct copy_op *op)
{
	if (op->conn || op->pidfd >= 0)
		return;
	free(op->body);
	copy_arena_release(&op->arena);
	free(op->out);
	free(op);
}

static void close_sock(struct copy_op *op)
{
	if (op->sock < 0)
		return;
	loop_remove(op->loop, op->sock);
	close(op->sock);
	op->sock = -1;
}

static void update_events(struct copy_op *op)
{
	if (op->sock < 0)
		return;
	uint32_t events = 0;
	if (!op->worker_paused && !op->finished)
		events |= EPOLLIN;
	if (op->out_pending)
		events |= EPOLLOUT;
	loop_modify(op->loop, op->sock, events);
}

static void fail_op(struct copy_op *op, const char *reason)
{
	if (op->conn && !op->finished && !conn_is_closing(op->conn))
		ember_error(op->conn, EMBER__CODE__CODE_INTERNAL, 0, "%s failed: %s", op->name, reason);
	op->finished = true;
	close_sock(op);
}

/* Writes the pending client frame to the worker; resumes the client once it
 * is all written. */
static void flush_to_worker(struct copy_op *op)
{
	while (op->out_pending && op->out_off < op->out_len) {
		ssize_t n = send(op->sock, op->out + op->out_off, op->out_len - op->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			/* The worker stopped reading: its Error frame, if any, is
			 * still readable from the socket. */
			op->out_pending = false;
			break;
		}
		op->out_off += (size_t)n;
	}
	if (op->out_pending && op->out_off == op->out_len)
		op->out_pending = false;
	if (op->conn)
		conn_pause_reading(op->conn, op->out_pending);
	update_events(op);
}

static void on_frame(struct conn *conn, const Ember__ClientFrame *frame, void *data)
{
	struct copy_op *op = data;
	if (op->sock < 0 || op->finished)
		return;
	if (op->out_pending) {
		/* Reading is paused while a frame is pending, so this cannot happen. */
		fail_op(op, "client frame arrived while the worker was busy");
		return;
	}
	/* The buffer is reused for every frame: a copy-in sends thousands of
	 * chunk-sized frames. */
	size_t body = protobuf_c_message_get_packed_size(&frame->base);
	size_t len = EMBER_FRAME_HEADER + body;
	if (body > EMBER_FRAME_MAX) {
		fail_op(op, "client frame exceeds the frame limit");
		return;
	}
	if (len > op->out_size) {
		uint8_t *grown = realloc(op->out, len);
		if (!grown) {
			fail_op(op, strerror(ENOMEM));
			return;
		}
		op->out = grown;
		op->out_size = len;
	}
	op->out[0] = (uint8_t)(body >> 24);
	op->out[1] = (uint8_t)(body >> 16);
	op->out[2] = (uint8_t)(body >> 8);
	op->out[3] = (uint8_t)body;
	protobuf_c_message_pack(&frame->base, op->out + EMBER_FRAME_HEADER);
	op->out_len = len;
	op->out_off = 0;
	op->out_pending = true;
	flush_to_worker(op);
}

/* Reads what the socket has of the worker's next frame. Returns 1 once the
 * frame is complete in op->body, 0 when the socket is empty, -ENODATA when
 * the worker closed between frames, or another negative errno. */
static int read_worker_frame(struct copy_op *op)
{
	while (op->header_have < EMBER_FRAME_HEADER) {
		ssize_t n = read(op->sock, op->header + op->header_have,
				 EMBER_FRAME_HEADER - op->header_have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0)
			return op->header_have ? -ECONNRESET : -ENODATA;
		op->header_have += (size_t)n;
		if (op->header_have == EMBER_FRAME_HEADER) {
			int r = frame_parse_header(op->header, EMBER_FRAME_MAX, &op->body_len);
			if (r < 0)
				return r;
			op->body_have = 0;
		}
	}
	while (op->body_have < op->body_len) {
		ssize_t n = read(op->sock, op->body + op->body_have, op->body_len - op->body_have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0)
			return -ECONNRESET;
		op->body_have += (size_t)n;
	}
	op->header_have = 0;
	return 1;
}

/* Forwards complete frames from the worker until the client's queue is full. */
static void read_worker(struct copy_op *op)
{
	while (op->sock >= 0 && !op->finished && !op->worker_paused) {
		int r = read_worker_frame(op);
		if (r == 0)
			break;
		if (r < 0) {
			fail_op(op, r == -ENODATA ? "the copy worker exited before finishing"
						  : strerror(-r));
			return;
		}
		copy_arena_reset(&op->arena);
		ProtobufCAllocator allocator = copy_arena_allocator(&op->arena);
		Ember__AgentFrame *frame = ember__agent_frame__unpack(&allocator, op->body_len,
								      op->body);
		if (!frame) {
			fail_op(op, "the copy worker sent an invalid frame");
			return;
		}
		bool final = frame->kind_case == EMBER__AGENT_FRAME__KIND_ERROR ||
			     frame->kind_case == EMBER__AGENT_FRAME__KIND_COPY_RESULT;
		if (!op->conn) {
			r = -EPIPE;
		} else if (final) {
			if (frame->kind_case == EMBER__AGENT_FRAME__KIND_ERROR)
				log_warn("%s: %s failed on '%s': %s", op->conn_id, op->name,
					 frame->error->path, frame->error->message);
			r = conn_finish(op->conn, frame);
			op->finished = true;
		} else {
			r = conn_send(op->conn, frame);
			if (r == 0 && !conn_send_ready(op->conn))
				op->worker_paused = true;
		}
		ember__agent_frame__free_unpacked(frame, &allocator);
		if (r < 0 || op->finished) {
			close_sock(op);
			return;
		}
	}
	update_events(op);
}

static void on_sock(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct copy_op *op = data;
	if (events & EPOLLOUT)
		flush_to_worker(op);
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		read_worker(op);
}

static void on_drained(struct conn *conn, void *data)
{
	struct copy_op *op = data;
	if (!op->worker_paused)
		return;
	op->worker_paused = false;
	read_worker(op);
}

static void on_close(struct conn *conn, int err, void *data)
{
	struct copy_op *op = data;
	if (err != 0 && !op->finished)
		log_warn("%s: %s ended: the client left: %s", op->conn_id, op->name,
			 strerror(-err));
	/* Closing our end makes the worker's next read or write fail, so it
	 * discards the file it was writing and exits. */
	op->conn = NULL;
	close_sock(op);
	op_free_if_done(op);
}

static void on_worker_exit(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct copy_op *op = data;
	siginfo_t info = { 0 };
	if (waitid((idtype_t)P_PIDFD, (id_t)op->pidfd, &info, WEXITED | WNOHANG | __WALL) < 0 ||
	    info.si_pid == 0)
		return;
	loop_remove(loop, op->pidfd);
	close(op->pidfd);
	op->pidfd = -1;
	if (info.si_code != CLD_EXITED)
		log_warn("%s: %s worker %d was killed by signal %d", op->conn_id, op->name,
			 (int)op->pid, info.si_status);
	/* Frames the worker wrote before exiting are still in the socket. */
	if (op->conn && op->sock >= 0)
		read_worker(op);
	op_free_if_done(op);
}

/* Starts a worker with an exit signal of 0, so the agent's SIGCHLD reaper does
 * not collect it; it is reaped here through its pidfd. */
static int spawn_worker(struct copy_op *op, int worker_fd, const Ember__Request *request)
{
	struct copy_clone_args args = { 0 };
	int pidfd = -1;
	args.flags = CLONE_PIDFD;
	args.pidfd = (uint64_t)(uintptr_t)&pidfd;
	args.exit_signal = 0;
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* NOTE: the agent may have worker threads, and this child calls
		 * malloc after a raw clone. That is safe only if no other thread
		 * held the allocator's lock at the moment of the clone. */
		if (dup2(worker_fd, 3) < 0)
			_exit(1);
		close_fds_from(4);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		_exit(copy_worker_run(3, request));
	}
	op->pid = (pid_t)pid;
	op->pidfd = pidfd;
	return 0;
}

static int start_copy(struct conn *conn, const Ember__Request *request, const char *name)
{
	struct copy_op *op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->conn = conn;
	op->loop = conn_loop(conn);
	op->name = name;
	op->sock = -1;
	op->pidfd = -1;
	snprintf(op->conn_id, sizeof(op->conn_id), "%s", conn_id(conn));
	op->body = malloc(EMBER_FRAME_MAX);
	if (!op->body) {
		free(op);
		return -ENOMEM;
	}

	int pair[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
		int err = errno;
		free(op->body);
		free(op);
		return ember_error(conn, EMBER__CODE__CODE_RESOURCE_EXHAUSTED, err,
				   "failed to create a socket pair for %s: %s", name, strerror(err));
	}
	int r = spawn_worker(op, pair[1], request);
	close(pair[1]);
	if (r < 0) {
		close(pair[0]);
		free(op->body);
		free(op);
		return ember_error(conn, EMBER__CODE__CODE_RESOURCE_EXHAUSTED, -r,
				   "failed to start the %s worker: %s", name, strerror(-r));
	}
	op->sock = pair[0];
	fd_set_nonblock(op->sock, true);
	loop_add(op->loop, op->sock, EPOLLIN, on_sock, op);
	loop_add(op->loop, op->pidfd, EPOLLIN, on_worker_exit, op);

	static const struct conn_handler handler = {
		.on_frame = on_frame,
		.on_drained = on_drained,
		.on_close = on_close,
	};
	conn_set_handler(conn, &handler, op);
	log_info("%s: %s by %s, worker %d", op->conn_id, name, conn_peer(conn), (int)op->pid);
	return 0;
}

int op_copy_in(struct conn *conn, const Ember__Request *request)
{
	return start_copy(conn, request, "copy_in");
}

int op_copy_out(struct conn *conn, const Ember__Request *request)
{
	return start_copy(conn, request, "copy_out");
}
