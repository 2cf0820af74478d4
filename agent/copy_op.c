/* The copy_in and copy_out operations. Each request gets a worker process
 * (copy_worker.c) that takes over the client's connection: it reads and
 * writes the copy's frames on the socket itself, final frame included, so the
 * data crosses no other process. The agent only waits for the worker's exit
 * and then closes the connection. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "copy.h"
#include "copy_worker.h"
#include "io.h"
#include "log.h"
#include "op.h"

/* How long a stopping agent waits for a copy worker to exit after shutting its
 * connection down, before it kills the worker, in milliseconds. */
#define COPY_WORKER_STOP_MS 2000

/* The clone3 argument block (linux/sched.h, kernel 5.3 and later). */
struct copy_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

struct copy_op {
	struct conn *conn;       /* NULL once the connection is gone */
	const char *name;        /* "copy_in" or "copy_out" */
	char conn_id[32];
	int fd;                  /* the connection's descriptor, which the worker uses */
	int pidfd;               /* -1 once the worker was reaped */
	pid_t pid;
	struct loop *loop;
	uint64_t hangup_timer;   /* runs from the client's hang-up to the kill */
	struct copy_op *next;    /* in running_ops while the worker runs */
};

/* The operations with a running worker, and their count, which max_copies
 * limits. Only the loop thread starts, reaps and counts workers. */
static struct copy_op *running_ops;
static unsigned workers_running;

static void track_worker(struct copy_op *op)
{
	op->next = running_ops;
	running_ops = op;
	workers_running++;
}

static void op_free_if_done(struct copy_op *op)
{
	if (op->conn || op->pidfd >= 0)
		return;
	free(op);
}

/* Forgets a worker that was reaped or left behind, which frees its slot. */
static void release_worker(struct copy_op *op, struct loop *loop)
{
	for (struct copy_op **link = &running_ops; *link; link = &(*link)->next) {
		if (*link == op) {
			*link = op->next;
			workers_running--;
			break;
		}
	}
	loop_remove(loop, op->pidfd);
	close(op->pidfd);
	op->pidfd = -1;
	loop_timer_cancel(loop, op->hangup_timer);
	op->hangup_timer = 0;
}

/* Waits up to COPY_WORKER_STOP_MS for the worker to exit, kills it after that,
 * and reaps it, so a stopping agent leaves no worker behind. */
static void stop_worker(struct copy_op *op, struct loop *loop)
{
	struct pollfd pfd = { .fd = op->pidfd, .events = POLLIN };
	int n;
	do {
		n = poll(&pfd, 1, COPY_WORKER_STOP_MS);
	} while (n < 0 && errno == EINTR);
	if (n == 0) {
		log_warn("%s: %s worker %d still runs %d ms after the agent began stopping; "
			 "killing it", op->conn_id, op->name, (int)op->pid, COPY_WORKER_STOP_MS);
		syscall(SYS_pidfd_send_signal, op->pidfd, SIGKILL, NULL, 0);
	}
	/* A killed worker in uninterruptible sleep (a hung network filesystem)
	 * is left behind rather than hanging the agent's exit. */
	do {
		n = poll(&pfd, 1, COPY_WORKER_STOP_MS);
	} while (n < 0 && errno == EINTR);
	siginfo_t info = { 0 };
	if (n <= 0)
		log_warn("%s: %s worker %d did not exit after SIGKILL; leaving it", op->conn_id,
			 op->name, (int)op->pid);
	else if (waitid((idtype_t)P_PIDFD, (id_t)op->pidfd, &info, WEXITED | __WALL) < 0)
		log_warn("%s: failed to reap %s worker %d: %s", op->conn_id, op->name,
			 (int)op->pid, strerror(errno));
	release_worker(op, loop);
}

static void on_close(struct conn *conn, int err, void *data)
{
	struct copy_op *op = data;
	/* Only a stopping agent closes a connection while its worker runs.
	 * Shutting the socket down makes the worker's next read or write fail,
	 * so it discards the file it was writing and exits.
	 * NOTE: connections close one after another, so several stuck workers
	 * delay the agent's exit by COPY_WORKER_STOP_MS each. */
	if (op->pidfd >= 0) {
		shutdown(op->fd, SHUT_RDWR);
		stop_worker(op, conn_loop(conn));
	}
	op->conn = NULL;
	op_free_if_done(op);
}

/* Ends the operation of a reaped worker. signal is the signal that killed
 * it, or 0 when it exited with exit_status. */
static void end_worker(struct copy_op *op, int signal, int exit_status)
{
	release_worker(op, op->loop);
	bool finished = signal == 0 && exit_status == 0;
	if (signal != 0)
		log_warn("%s: %s worker %d was killed by signal %d", op->conn_id, op->name,
			 (int)op->pid, signal);
	else if (!finished)
		log_debug("%s: %s worker %d ended without a final frame", op->conn_id, op->name,
			  (int)op->pid);
	if (!op->conn) {
		free(op);
		return;
	}
	/* The worker wrote its final frame (CopyResult or Error) itself. The
	 * connection's on_close frees op, during this call or later. */
	conn_hand_back(op->conn, finished ? CONN_BACK_FINISHED : CONN_BACK_ABORTED);
}

static void on_worker_exit(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct copy_op *op = data;
	siginfo_t info = { 0 };
	if (waitid((idtype_t)P_PIDFD, (id_t)op->pidfd, &info, WEXITED | WNOHANG | __WALL) < 0) {
		/* Not expected: the only other reaper, the SIGCHLD handler, ends
		 * the operation through copy_op_reaped. Ending it here anyway keeps
		 * the readable pidfd from waking the loop forever. */
		log_warn("%s: failed to reap %s worker %d: %s", op->conn_id, op->name,
			 (int)op->pid, strerror(errno));
		end_worker(op, 0, 1);
		return;
	}
	if (info.si_pid == 0)
		return;
	if (info.si_code == CLD_EXITED)
		end_worker(op, 0, info.si_status);
	else
		end_worker(op, info.si_status, 0);
}

bool copy_op_reaped(pid_t pid, int status)
{
	struct copy_op *op = running_ops;
	while (op && op->pid != pid)
		op = op->next;
	if (!op)
		return false;
	if (WIFSIGNALED(status))
		end_worker(op, WTERMSIG(status), 0);
	else
		end_worker(op, 0, WEXITSTATUS(status));
	return true;
}

static void kill_after_hangup(struct loop *loop, void *data)
{
	struct copy_op *op = data;
	op->hangup_timer = 0;
	if (op->pidfd < 0)
		return;
	log_warn("%s: %s worker %d still runs %d ms after the client left; killing it",
		 op->conn_id, op->name, (int)op->pid, COPY_WORKER_STOP_MS);
	syscall(SYS_pidfd_send_signal, op->pidfd, SIGKILL, NULL, 0);
}

/* The client left while the worker runs. A worker blocked on the socket fails
 * at once and exits; one blocked elsewhere (reading a file that never ends) is
 * killed after COPY_WORKER_STOP_MS. */
static void on_hangup(struct conn *conn, void *data)
{
	struct copy_op *op = data;
	if (op->pidfd < 0 || op->hangup_timer)
		return;
	op->hangup_timer = loop_timer_add(op->loop, COPY_WORKER_STOP_MS, kill_after_hangup, op);
}

/* The agent's own executable, opened once, for starting workers. Opened by
 * descriptor, the binary stays the one that runs even if a newer one replaces
 * it on disk. */
static int agent_exe_fd = -1;

int copy_op_setup(void)
{
	if (agent_exe_fd < 0)
		agent_exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	return agent_exe_fd < 0 ? -errno : 0;
}

/* Writes the request into a new memfd for the worker. Returns it or -errno. */
static int request_memfd(const Ember__Request *request)
{
	size_t len = ember__request__get_packed_size(request);
	uint8_t *packed = malloc(len ? len : 1);
	if (!packed)
		return -ENOMEM;
	ember__request__pack(request, packed);
	int fd = memfd_create("ember-copy-request", MFD_CLOEXEC);
	int r = fd < 0 ? -errno : 0;
	if (r == 0)
		r = write_full(fd, packed, len);
	free(packed);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd;
}

/* Starts a worker: a clone with a pidfd that executes the agent binary again
 * in copy worker mode. The exec resets the exit signal of 0 to SIGCHLD, so
 * the worker is reaped either here through its pidfd or by the agent's
 * SIGCHLD reaper, which calls copy_op_reaped. Between the clone and the exec
 * the child makes only system calls: it shares the parent's libc state, which
 * is safe to use only after the exec. */
static int spawn_worker(struct copy_op *op, int worker_fd, const Ember__Request *request)
{
	int r = copy_op_setup();
	if (r < 0)
		return r;
	int request_fd = request_memfd(request);
	if (request_fd < 0)
		return request_fd;

	char level[16];
	snprintf(level, sizeof(level), "%d", (int)log_get_level());
	char *argv[] = { "ember-agent", COPY_WORKER_ARG, op->conn_id, level,
			 log_kmsg_enabled() ? "1" : "0", NULL };
	/* Descriptors the child renumbers must not be the targets themselves. */
	int conn_fd = fcntl(worker_fd, F_DUPFD_CLOEXEC, COPY_WORKER_REQUEST_FD + 1);
	int req_fd = fcntl(request_fd, F_DUPFD_CLOEXEC, COPY_WORKER_REQUEST_FD + 1);
	close(request_fd);
	if (conn_fd < 0 || req_fd < 0) {
		int err = errno;
		if (conn_fd >= 0)
			close(conn_fd);
		if (req_fd >= 0)
			close(req_fd);
		return -err;
	}

	struct copy_clone_args args = { 0 };
	int pidfd = -1;
	args.flags = CLONE_PIDFD;
	args.pidfd = (uint64_t)(uintptr_t)&pidfd;
	args.exit_signal = 0;
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	int err = errno;
	if (pid == 0) {
		sigset_t all;
		sigemptyset(&all);
		if (dup2(conn_fd, COPY_WORKER_CONN_FD) < 0 ||
		    dup2(req_fd, COPY_WORKER_REQUEST_FD) < 0)
			_exit(127);
		sigprocmask(SIG_SETMASK, &all, NULL);
		syscall(SYS_execveat, agent_exe_fd, "", argv, environ, AT_EMPTY_PATH);
		_exit(127);
	}
	close(conn_fd);
	close(req_fd);
	if (pid < 0)
		return -err;
	op->pid = (pid_t)pid;
	op->pidfd = pidfd;
	return 0;
}

static int start_copy(struct conn *conn, const Ember__Request *request, const char *name)
{
	unsigned max_copies = conn_options(conn)->max_copies;
	if (workers_running >= max_copies)
		return ember_error(conn, EMBER__CODE__CODE_RESOURCE_EXHAUSTED, 0,
				   "too many copies: %u already running and the limit is %u "
				   "(max_copies); wait for one to finish", workers_running,
				   max_copies);

	struct copy_op *op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->conn = conn;
	op->name = name;
	op->pidfd = -1;
	snprintf(op->conn_id, sizeof(op->conn_id), "%s", conn_id(conn));
	op->fd = conn_hand_over(conn);
	if (op->fd < 0) {
		int err = -op->fd;
		free(op);
		return ember_error(conn, EMBER__CODE__CODE_INTERNAL, err,
				   "failed to start %s: the connection is busy", name);
	}
	int r = spawn_worker(op, op->fd, request);
	if (r < 0) {
		free(op);
		conn_hand_back(conn, CONN_BACK_UNUSED);
		return ember_error(conn, EMBER__CODE__CODE_RESOURCE_EXHAUSTED, -r,
				   "failed to start the %s worker: %s", name, strerror(-r));
	}
	op->loop = conn_loop(conn);
	r = loop_add(op->loop, op->pidfd, EPOLLIN, on_worker_exit, op);
	if (r < 0) {
		log_error("%s: failed to watch the %s worker %d: %s; stopping it", op->conn_id,
			  name, (int)op->pid, strerror(-r));
		shutdown(op->fd, SHUT_RDWR);
		syscall(SYS_pidfd_send_signal, op->pidfd, SIGKILL, NULL, 0);
		siginfo_t info = { 0 };
		waitid((idtype_t)P_PIDFD, (id_t)op->pidfd, &info, WEXITED | __WALL);
		close(op->pidfd);
		free(op);
		conn_hand_back(conn, CONN_BACK_ABORTED);
		return 0;
	}

	track_worker(op);

	static const struct conn_handler handler = {
		.on_close = on_close,
		.on_hangup = on_hangup,
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
