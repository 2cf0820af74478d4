/* How an operation plugs into ember-agent's server, and the connection API it
 * uses.
 *
 * The server accepts a connection, checks the peer (CID, SO_PEERCRED or token),
 * reads the first frame, decodes the Request, checks its version and looks its
 * operation up in the table of agent/dispatch.c. The entry's start function
 * then owns the connection until it sends a final frame: an Error, an Ack, a
 * unary response, or the last frame of a stream.
 *
 * Threading: everything here runs on the agent's single loop thread, except
 * the work function passed to agent_run_work, which runs on a worker thread
 * and must touch no connection, session or loop.
 *
 * Lifetime of a connection, seen from a handler:
 *   1. start(conn, request) is called. The request stays valid until the
 *      connection is torn down, so a handler may keep pointers into it.
 *   2. The handler may install callbacks with conn_set_handler: later
 *      ClientFrames, "send queue drained" and "connection closed".
 *   3. The handler ends the operation with conn_finish (a final frame) or
 *      ember_error (a structured Error). Both queue the frame and stop
 *      reading frames. Once the queue is flushed the agent half-closes and
 *      waits for the client's EOF (at most CONN_LINGER_MS). After either
 *      call no frame callback runs again, and conn_send fails with -EPIPE.
 *   4. on_close of the handler installed last runs once, from the loop and
 *      never inside a conn_* call the handler made. It runs after the final
 *      frame was written and the client closed (or CONN_LINGER_MS passed),
 *      when the peer closed or failed first, or when the agent stops. The
 *      handler frees its state there; the conn and the request are freed
 *      right after on_close returns. A handler that installed no callbacks
 *      has nothing to free.
 *
 * Back-pressure: conn_send always queues the whole frame (up to
 * CONN_SEND_QUEUE_MAX). A producer checks conn_send_ready before producing
 * more; once it returns false, the producer stops reading its source and waits
 * for on_drained, which runs when the queue falls below
 * CONN_SEND_LOW_WATERMARK. A sink that fills up (a pipe to a slow process, a
 * disk) pauses the client with conn_pause_reading(conn, true) and resumes it
 * when the sink drains. Memory stays bounded by the watermarks plus one frame. */
#ifndef EMBER_AGENT_OP_H
#define EMBER_AGENT_OP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent.pb-c.h"
#include "frame.h"
#include "loop.h"
#include "user.h"

/* Bytes queued for sending above which conn_send_ready returns false. */
#define CONN_SEND_HIGH_WATERMARK (1024u * 1024u)
/* Queue size below which on_drained runs again after a high watermark. */
#define CONN_SEND_LOW_WATERMARK (256u * 1024u)
/* Hard cap on one connection's send queue; conn_send fails with -ENOBUFS
 * beyond it, which means a producer ignored conn_send_ready. */
#define CONN_SEND_QUEUE_MAX (CONN_SEND_HIGH_WATERMARK + 4u * EMBER_FRAME_MAX)

/* After the final frame was written, time to wait for the client's EOF
 * before closing. Reading to EOF first keeps close(2) from sending a reset
 * that could discard the final frame on the client's side. */
#define CONN_LINGER_MS 2000

/* Maximum listeners, allowed uids and allowed CIDs on one command line. */
#define AGENT_LISTENERS_MAX 16
#define AGENT_ALLOW_MAX 64

struct agent;
struct conn;

/* The agent's settings: the `agent` section of the boot config, overridden
 * by command-line options. Read-only once the server runs. */
struct agent_options {
	bool under_init;           /* started by ember-init (--under-init) */
	bool initial_pid_ns;       /* runs in the initial PID namespace, i.e. a real guest */
	const char *config_path;   /* --config, or NULL */
	const char *listen[AGENT_LISTENERS_MAX];
	size_t listen_count;
	const char *token_file;    /* required by tcp: listeners */
	uid_t allow_uids[AGENT_ALLOW_MAX];   /* Unix peers; default {0} */
	size_t allow_uid_count;
	uint32_t allow_cids[AGENT_ALLOW_MAX]; /* vsock peers; default {2}, the host */
	size_t allow_cid_count;
	unsigned max_sessions;     /* concurrent exec sessions */
	unsigned max_copies;       /* concurrent copy workers (copy_in and copy_out) */
	unsigned grace_s;          /* seconds a disconnected session waits for attach */
	bool freeze_all;           /* freeze without a mount list (real guest only) */
	bool machine_wide;         /* --machine-wide: clock, RNG and network changes standalone */
	const char *run_dir;       /* --run-dir: the frozen record's directory; NULL: EMBER_RUN_DIR */
	const char *hooks_dir;     /* --hooks-dir: contains freeze.d and resume.d; NULL: /etc/ember/hooks */
	const char *workload_cgroup; /* --workload-cgroup: frozen by freeze --processes; NULL: CGROUP_WORKLOAD */
	int resume_signal;         /* --resume-signal: sent to the entrypoint on resume; 0: none */
	int log_level;             /* enum log_level */
};

/* Operation handlers, one per Request.op case; the table is in dispatch.c.
 * A handler returns 0 once it has sent, or arranged to send, a final frame.
 * A negative errno means it sent nothing, and the server then sends
 * CODE_INTERNAL naming the operation and the errno. So a handler that
 * already called ember_error or conn_finish must return 0. */
typedef int (*op_start_fn)(struct conn *conn, const Ember__Request *request);

enum op_flags {
	OP_NEEDS_INIT = 1 << 0,    /* a standalone agent rejects it with CODE_UNSUPPORTED */
	OP_WHILE_FROZEN = 1 << 1,  /* allowed while filesystems are frozen */
};

struct op_def {
	Ember__Request__OpCase op;
	const char *name;          /* "exec", "copy_in", ... as in logs and InfoResponse */
	op_start_fn start;         /* NULL: not implemented, rejected with CODE_UNSUPPORTED */
	unsigned flags;
};

/* Looks an operation up; NULL for an unknown case. */
const struct op_def *op_find(Ember__Request__OpCase op);
/* The table itself, for InfoResponse.operations. */
extern const struct op_def op_table[];
extern const size_t op_table_len;

/* Every handler. Copy and freeze engineers define theirs in their own files
 * and set the pointer in dispatch.c. */
int op_ping(struct conn *conn, const Ember__Request *request);
int op_info(struct conn *conn, const Ember__Request *request);
int op_exec(struct conn *conn, const Ember__Request *request);
int op_attach(struct conn *conn, const Ember__Request *request);
int op_signal(struct conn *conn, const Ember__Request *request);
int op_list(struct conn *conn, const Ember__Request *request);
int op_logs(struct conn *conn, const Ember__Request *request);
int op_wait(struct conn *conn, const Ember__Request *request);
int op_shutdown(struct conn *conn, const Ember__Request *request);
int op_start(struct conn *conn, const Ember__Request *request);
int op_copy_in(struct conn *conn, const Ember__Request *request);
int op_copy_out(struct conn *conn, const Ember__Request *request);
int op_freeze(struct conn *conn, const Ember__Request *request);
int op_thaw(struct conn *conn, const Ember__Request *request);
int op_fs_status(struct conn *conn, const Ember__Request *request);
int op_resume(struct conn *conn, const Ember__Request *request);
int op_net_config(struct conn *conn, const Ember__Request *request);

/* ------------------------------------------------------------ connection */

struct conn_handler {
	/* A ClientFrame arrived. The frame is freed after the call returns; copy
	 * what must outlive it. NULL: any ClientFrame gets the error
	 * CODE_INVALID_ARGUMENT ("unexpected frame"). */
	void (*on_frame)(struct conn *conn, const Ember__ClientFrame *frame, void *data);
	/* The send queue fell below CONN_SEND_LOW_WATERMARK after conn_send_ready
	 * had returned false. May be NULL. */
	void (*on_drained)(struct conn *conn, void *data);
	/* The connection is going away (see the lifetime above). err is 0 after a
	 * final frame was flushed, -ECONNRESET when the peer left first, or the
	 * -errno of a failed read or write. May be NULL. */
	void (*on_close)(struct conn *conn, int err, void *data);
	/* The peer hung up while the connection was handed over (conn_hand_over),
	 * and the other process may be blocked where it cannot notice. Epoll
	 * reports the hang-up edge-triggered, so a repeat is rare but possible.
	 * May be NULL. */
	void (*on_hangup)(struct conn *conn, void *data);
};

/* Installs callbacks and their data; replaces earlier ones. */
void conn_set_handler(struct conn *conn, const struct conn_handler *handler, void *data);

/* Queues one frame. Returns 0; -EPIPE after a final frame or once the peer is
 * gone; -EMSGSIZE when the encoded frame exceeds EMBER_FRAME_MAX; -ENOBUFS
 * beyond CONN_SEND_QUEUE_MAX; -ENOMEM. */
int conn_send(struct conn *conn, const Ember__AgentFrame *frame);

/* Whether the queue is below CONN_SEND_HIGH_WATERMARK (and the connection
 * still open). A producer that gets false waits for on_drained. */
bool conn_send_ready(const struct conn *conn);

/* Bytes queued but not yet written to the socket. */
size_t conn_queued_bytes(const struct conn *conn);

/* Stops (true) or resumes (false) reading ClientFrames from the peer, for a
 * sink that is full. A peer that hangs up completely is still noticed while
 * paused. A peer that only half-closes is noticed once reading resumes. */
void conn_pause_reading(struct conn *conn, bool paused);

/* Lends the connection's descriptor to another process (a copy worker) that
 * speaks the rest of the operation on it, final frame included. From here
 * the agent neither reads nor writes the connection; on_close still runs if
 * the agent stops first. Only valid right after start(conn, request), before
 * any frame was sent. Returns the descriptor, or -EBUSY. */
int conn_hand_over(struct conn *conn);

/* The state in which the other process leaves a handed-over connection. */
enum conn_hand_back {
	CONN_BACK_UNUSED,    /* it never used it: the handler owns it again */
	CONN_BACK_FINISHED,  /* it wrote the final frame: wait for the client's EOF */
	CONN_BACK_ABORTED,   /* it stopped anywhere in the stream: close at once */
};

/* Takes the descriptor back once the other process is done with it, and makes
 * it non-blocking again. */
void conn_hand_back(struct conn *conn, enum conn_hand_back outcome);

/* Sends frame as the operation's final frame and closes after it. Returns 0 or
 * the errors of conn_send (the connection is closed either way). */
int conn_finish(struct conn *conn, const Ember__AgentFrame *frame);

/* Finishes with an Ack frame. */
int conn_ack(struct conn *conn);

/* Finishes with a structured Error and logs it at warning level with the
 * connection's id. errno_value is a positive errno or 0. The message names the
 * value and, where useful, what to do: "no such user 'bob'". Returns 0. */
int ember_error(struct conn *conn, Ember__Code code, int errno_value, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Same, with Error.path set (copy and freeze). */
int ember_error_path(struct conn *conn, Ember__Code code, int errno_value, const char *path,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int ember_verror(struct conn *conn, Ember__Code code, int errno_value, const char *path,
		 const char *fmt, va_list ap);

/* Whether a final frame was sent or the peer left; handlers that finish
 * asynchronously check it before sending. */
bool conn_is_closing(const struct conn *conn);

/* A short id ("c17") used in log lines about this connection. */
const char *conn_id(const struct conn *conn);
/* Description of the peer ("unix uid 0", "tcp 127.0.0.1:5122", "vsock cid 2"). */
const char *conn_peer(const struct conn *conn);

struct agent *conn_agent(const struct conn *conn);
struct loop *conn_loop(const struct conn *conn);
const struct agent_options *conn_options(const struct conn *conn);

/* Accessors for the generated fields named "stdin": C libraries define
 * stdin as a macro, so `frame->stdin` does not compile where stdio.h is
 * included. */
#pragma push_macro("stdin")
#undef stdin
static inline const Ember__StdinData *client_frame_stdin(const Ember__ClientFrame *frame)
{
	return frame->stdin;
}

static inline bool exec_request_stdin(const Ember__ExecRequest *request)
{
	return request->stdin;
}

static inline bool attach_request_stdin(const Ember__AttachRequest *request)
{
	return request->stdin;
}
#pragma pop_macro("stdin")

/* ------------------------------------------------------------ agent state */

const struct agent_options *agent_options(const struct agent *agent);
struct loop *agent_loop(const struct agent *agent);

/* Whether filesystems are frozen. While frozen, exec and shell fail with
 * CODE_FAILED_PRECONDITION and the agent writes nothing to disk. The freeze
 * operations set it. */
bool agent_is_frozen(const struct agent *agent);
void agent_set_frozen(struct agent *agent, bool frozen);

/* Slow work (FIFREEZE, fsync of a big file) on a worker thread.
 *
 * work(data) runs on a new thread and returns 0 or -errno; it must not touch
 * the loop, connections or sessions. done(agent, result, data) then runs on the
 * loop thread with work's return value. done always runs, even when the
 * connection that requested the work has closed meanwhile. So data must stay
 * valid until done, which frees it and checks conn_is_closing before sending.
 * Returns 0, or -errno when the thread could not be started (then neither
 * callback runs). */
typedef int (*agent_work_fn)(void *data);
typedef void (*agent_work_done_fn)(struct agent *agent, int result, void *data);
int agent_run_work(struct agent *agent, agent_work_fn work, agent_work_done_fn done, void *data);

#endif
