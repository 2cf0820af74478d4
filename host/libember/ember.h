/* libember: the host's client for ember-agent.
 *
 * A client (struct ember_client) contains an agent address and the connection
 * options. Each operation opens its own connection, because the protocol runs
 * one operation per connection: unary calls (ember_ping, ember_info, ...)
 * connect, send one request, read one response and close. Streaming calls
 * (exec, attach) return a struct ember_session that owns its connection until
 * ember_session_free.
 *
 * Addresses:
 *   unix:PATH            a Unix stream socket
 *   tcp:HOST:PORT        TCP; the agent requires the client's token
 *   vsock:CID:PORT       AF_VSOCK (CID 2 is the host, 3 and up are guests)
 *   hvsock:PATH:PORT     Firecracker / Cloud Hypervisor hybrid vsock: connect to
 *                        the VMM's Unix socket PATH, send "CONNECT PORT\n" and
 *                        expect "OK ...\n" before the protocol starts
 *
 * Connecting retries with backoff while the agent is not there yet (a socket
 * path that does not exist, a refused connection, a hybrid vsock handshake the
 * VMM rejects because the guest is still booting), for at most the client's
 * connect timeout.
 *
 * Errors: every call returns 0 or a negative errno value and, when err is not
 * NULL, fills *err with the kind of failure and a one-line message naming the
 * value involved. The message does not repeat the address or the operation; a
 * caller that prints it adds both (emberctl prints "ADDRESS: OPERATION:
 * MESSAGE"). A failure reported by the agent returns -EREMOTEIO with
 * err->kind EMBER_ERROR_REMOTE and the agent's code, errno and message.
 *
 * Trust: the agent runs inside a guest that may be hostile. Every length,
 * count and size it sends is checked against the limits below before the
 * library allocates or writes anything; a violation fails the call with
 * EMBER_ERROR_PROTOCOL and -EPROTO (or -EMSGSIZE for an oversized frame).
 *
 * Ownership: strings passed in are copied or used only during the call.
 * Results are written into caller-provided structures of fixed size; nothing
 * returned needs freeing except a client and a session. The library installs
 * no signal handlers; it sends with MSG_NOSIGNAL so a closed socket is -EPIPE,
 * not SIGPIPE. A client or session must not be used by two threads at once. */
#ifndef EMBER_H
#define EMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits on values that come from the agent (and on a few from the caller). */
#define EMBER_ERROR_MESSAGE_MAX 512     /* bytes of an error message, NUL included */
#define EMBER_SESSION_ID_MAX 64         /* bytes of a session id, NUL included */
#define EMBER_INFO_STRING_MAX 256       /* bytes of each string in ember_info */
#define EMBER_INFO_OPERATIONS_MAX 64    /* operations listed by ember_info */
#define EMBER_INFO_TIMINGS_MAX 64       /* boot timings listed by ember_info */
#define EMBER_LIST_SESSIONS_MAX 1024    /* sessions in one ember_list result */
#define EMBER_LIST_ARGV_MAX 256         /* bytes of the argv summary per listed session */
#define EMBER_TOKEN_MAX 4096            /* bytes of a TCP token */
#define EMBER_ADDRESS_MAX 4096          /* bytes of an address string */
#define EMBER_UNIX_PATH_MAX 108         /* sun_path, NUL included */
#define EMBER_HOST_MAX 256              /* bytes of a TCP host name, NUL included */
#define EMBER_HVSOCK_REPLY_MAX 64       /* bytes of the VMM's "OK ...\n" line */
/* Entries of an argv, env, args or secrets list the caller passes. The whole
 * request must also fit in one frame of at most 1 MiB (EMBER_FRAME_MAX). */
#define EMBER_REQUEST_LIST_MAX 65536

/* Default for ember_client_options.connect_timeout_ms. */
#define EMBER_CONNECT_TIMEOUT_MS_DEFAULT 3000
/* First and largest delay between connection attempts. */
#define EMBER_RETRY_DELAY_MS_MIN 10
#define EMBER_RETRY_DELAY_MS_MAX 500

/* ------------------------------------------------------------ addresses */

enum ember_transport {
	EMBER_TRANSPORT_UNIX,
	EMBER_TRANSPORT_TCP,
	EMBER_TRANSPORT_VSOCK,
	EMBER_TRANSPORT_HVSOCK,
};

struct ember_address {
	enum ember_transport transport;
	char path[EMBER_UNIX_PATH_MAX]; /* unix, hvsock */
	char host[EMBER_HOST_MAX];      /* tcp: a name, an IPv4 or a bracketed IPv6 address */
	uint32_t cid;                   /* vsock */
	uint32_t port;                  /* tcp (1-65535), vsock and hvsock */
};

/* Parses one of the address forms above. Returns 0, or -EINVAL with a message
 * naming the part that is wrong. */
int ember_address_parse(const char *text, struct ember_address *addr, char *message,
			size_t message_size);

/* ------------------------------------------------------------ errors */

enum ember_error_kind {
	EMBER_ERROR_NONE = 0,
	EMBER_ERROR_USAGE,      /* invalid argument from the caller (address, option, limit) */
	EMBER_ERROR_CONNECT,    /* the agent could not be reached or rejected the handshake */
	EMBER_ERROR_PROTOCOL,   /* the agent broke the protocol, exceeded a limit or hung up */
	EMBER_ERROR_REMOTE,     /* the agent returned an error */
	EMBER_ERROR_LOCAL,      /* a local file operation failed (copy: read, write, disk full) */
};

/* The agent's status codes (proto/agent.proto enum Code). */
enum ember_code {
	EMBER_CODE_OK = 0,
	EMBER_CODE_INVALID_ARGUMENT = 1,
	EMBER_CODE_NOT_FOUND = 2,
	EMBER_CODE_PERMISSION_DENIED = 3,
	EMBER_CODE_ALREADY_EXISTS = 4,
	EMBER_CODE_RESOURCE_EXHAUSTED = 5,
	EMBER_CODE_FAILED_PRECONDITION = 6,
	EMBER_CODE_UNAVAILABLE = 7,
	EMBER_CODE_UNSUPPORTED = 8,
	EMBER_CODE_INTERNAL = 9,
	EMBER_CODE_TIMED_OUT = 10,
	EMBER_CODE_UNAUTHENTICATED = 11,
};

struct ember_error {
	enum ember_error_kind kind;
	enum ember_code code;           /* EMBER_ERROR_REMOTE only */
	int errno_value;                /* positive errno: local, or the agent's */
	char message[EMBER_ERROR_MESSAGE_MAX];
};

/* Returns the lower-case name of a code, e.g. "not found". */
const char *ember_code_name(enum ember_code code);

/* ------------------------------------------------------------ clients */

struct ember_client_options {
	const void *token;              /* TCP token bytes, copied; NULL for none */
	size_t token_len;               /* at most EMBER_TOKEN_MAX */
	int connect_timeout_ms;         /* retry budget; 0: one attempt of at most 1 s; < 0: default */
	int io_timeout_ms;              /* unary calls: limit for each response; <= 0 none */
	const char *client_name;        /* sent to the agent's log; NULL: "libember/VERSION" */
};

struct ember_client;

/* Parses address and creates a client. No connection is made yet. Returns 0
 * with *out owned by the caller (ember_client_free), or -EINVAL / -ENOMEM. */
int ember_client_new(const char *address, const struct ember_client_options *options,
		     struct ember_client **out, struct ember_error *err);
void ember_client_free(struct ember_client *client);

/* The address text the client was created with. */
const char *ember_client_address(const struct ember_client *client);

/* Reads a token file: at most EMBER_TOKEN_MAX bytes, one trailing "\n" or
 * "\r\n" removed, empty rejected. Returns 0 with *token malloc'ed (free it). */
int ember_read_token_file(const char *path, void **token, size_t *token_len,
			  struct ember_error *err);

/* ------------------------------------------------------------ unary operations */

/* Checks that the agent responds. *agent_version (may be NULL) gets its protocol version. */
int ember_ping(struct ember_client *client, uint32_t *agent_version, struct ember_error *err);

/* Pings until the agent responds or timeout_ms passes, reconnecting with
 * backoff after every failure. Returns 0, or the last failure's negative errno
 * with its message prefixed by "agent not ready within N ms". A remote error
 * other than "unavailable" ends the wait at once. */
int ember_wait_ready(struct ember_client *client, int timeout_ms, struct ember_error *err);

struct ember_boot_timing {
	char step[EMBER_INFO_STRING_MAX];
	uint64_t monotonic_ns;
};

struct ember_info {
	char agent_version[EMBER_INFO_STRING_MAX];
	uint32_t protocol_version;
	uint32_t protocol_min_version;
	char boot_id[EMBER_INFO_STRING_MAX];
	uint64_t uptime_ms;
	char hostname[EMBER_INFO_STRING_MAX];
	char kernel[EMBER_INFO_STRING_MAX];
	char arch[EMBER_INFO_STRING_MAX];
	size_t timing_count;
	struct ember_boot_timing timings[EMBER_INFO_TIMINGS_MAX];
	size_t operation_count;
	char operations[EMBER_INFO_OPERATIONS_MAX][EMBER_INFO_STRING_MAX];
	bool under_init;
	uint32_t sessions;
	bool frozen;
};

/* Fills *info (about 50 KiB: allocate it rather than put it on a small stack). */
int ember_info(struct ember_client *client, struct ember_info *info, struct ember_error *err);

struct ember_exit {
	int code;                       /* exit code, or -1 when killed by a signal */
	int signal;                     /* 0 unless killed by a signal */
	bool core_dumped;
	bool timed_out;                 /* the request's timeout killed the process */
	uint64_t stdout_bytes;          /* total bytes the process wrote to each stream */
	uint64_t stderr_bytes;
	int status;                     /* shell style: code, or 128 + signal */
};

struct ember_session_info {
	char session_id[EMBER_SESSION_ID_MAX];
	int pid;
	char argv[EMBER_LIST_ARGV_MAX]; /* argv joined by spaces, shortened with "..." */
	bool running;
	bool attached;
	bool detached;
	bool tty;
	bool has_exit;
	struct ember_exit exit;
	uint64_t started_ms;            /* guest monotonic */
};

/* Lists the agent's sessions into a malloc'ed array (free it) of *count entries. */
int ember_list(struct ember_client *client, struct ember_session_info **sessions, size_t *count,
	       struct ember_error *err);

/* Sends signal_number to a session's process, or to its process group. */
int ember_signal(struct ember_client *client, const char *session_id, int signal_number,
		 bool process_group, struct ember_error *err);

enum ember_shutdown_action {
	EMBER_SHUTDOWN_POWEROFF = 0,
	EMBER_SHUTDOWN_REBOOT = 1,
	EMBER_SHUTDOWN_HALT = 2,
};

/* Asks ember-init (through the agent) for a graceful shutdown; timeout_s 0
 * keeps the configured stop timeout. A standalone agent returns "unsupported". */
int ember_shutdown(struct ember_client *client, enum ember_shutdown_action action,
		   uint32_t timeout_s, struct ember_error *err);

struct ember_start_request {
	const char *const *args;        /* NULL-terminated; NULL or empty keeps the configured args */
	const char *const *env;         /* NULL-terminated "KEY=VALUE" */
	const char *const *secrets;     /* NULL-terminated "KEY=VALUE", never logged */
	const char *cwd;                /* NULL: the configured one */
	const char *user;
};

/* Starts the entrypoint of a guest whose boot config has start_mode "host". */
int ember_start(struct ember_client *client, const struct ember_start_request *request,
		struct ember_error *err);

struct ember_entrypoint_exit {
	int code;
	int signal;
	int status;                     /* code, or 128 + signal */
};

/* Blocks until the entrypoint exits (no time limit) and fills *result. */
int ember_wait(struct ember_client *client, struct ember_entrypoint_exit *result,
	       struct ember_error *err);

/* Called with each chunk of the entrypoint's output log; offset is the byte
 * offset of data[0] in the log. A negative return stops the call with it. */
typedef int (*ember_log_fn)(void *context, uint64_t offset, const void *data, size_t len);

/* Streams the entrypoint's log from offset (tail_bytes: that many bytes before
 * the end, when offset is 0). Without follow it returns at the end of the log;
 * with follow it returns when the entrypoint has exited and the log is drained.
 * *lost_bytes (may be NULL) counts bytes that had already left the ring. */
int ember_logs(struct ember_client *client, bool follow, uint64_t offset, uint64_t tail_bytes,
	       ember_log_fn fn, void *context, uint64_t *lost_bytes, struct ember_error *err);

/* ------------------------------------------------------------ exec and attach */

enum ember_stream {
	EMBER_STREAM_STDOUT = 0,
	EMBER_STREAM_STDERR = 1,
	EMBER_STREAM_LOG = 2,
};

struct ember_exec_request {
	const char *const *argv;        /* NULL-terminated; must be empty or NULL when shell */
	const char *const *env;         /* NULL-terminated "KEY=VALUE", exact bytes; may be NULL */
	bool clear_env;                 /* start from an empty environment */
	const char *cwd;                /* NULL: the user's HOME, else "/" */
	const char *user;               /* "name", "uid", "uid:gid", "name:group"; NULL: root */
	bool send_stdin;                /* the caller will send stdin (and its end) */
	bool tty;                       /* run on a PTY of rows x cols with TERM term */
	uint32_t rows;
	uint32_t cols;
	const char *term;
	uint32_t timeout_ms;            /* 0: none; the agent kills the process group after it */
	bool detach;                    /* keep the session for ttl_s without a client */
	uint32_t ttl_s;
	bool shell;                     /* run the user's login shell */
};

struct ember_session;

/* Starts an exec and waits for the agent's ExecStarted. Returns 0 with
 * *session owned by the caller, and ember_session_free closes its connection.
 * The agent keeps a session without a client for its grace period, or for its
 * TTL when detached. */
int ember_exec_start(struct ember_client *client, const struct ember_exec_request *request,
		     struct ember_session **session, struct ember_error *err);

/* Reconnects to a running or finished session. Output resumes at the given
 * byte offsets of stdout and stderr; bytes older than the agent's ring are
 * reported as EMBER_EVENT_LOST. */
int ember_attach_start(struct ember_client *client, const char *session_id,
		       uint64_t stdout_offset, uint64_t stderr_offset, bool stdin,
		       struct ember_session **session, struct ember_error *err);

void ember_session_free(struct ember_session *session);

const char *ember_session_id(const struct ember_session *session);
/* The process id in the guest, or 0 when the agent sent none. */
int ember_session_pid(const struct ember_session *session);
/* The connection's descriptor, to poll for input; do not read or close it. */
int ember_session_fd(const struct ember_session *session);
/* The next byte offset this session expects on stream: pass it to a later
 * ember_attach_start to resume without losing or repeating bytes. */
uint64_t ember_session_offset(const struct ember_session *session, enum ember_stream stream);

/* Client frames. Each queues one frame and writes as much as the socket takes
 * without blocking; ember_session_next and ember_session_run write the rest. */
int ember_session_send_stdin(struct ember_session *session, const void *data, size_t len,
			     struct ember_error *err);
int ember_session_close_stdin(struct ember_session *session, struct ember_error *err);
int ember_session_resize(struct ember_session *session, uint32_t rows, uint32_t cols,
			 struct ember_error *err);
int ember_session_signal(struct ember_session *session, int signal_number, bool process_group,
			 struct ember_error *err);

enum ember_event_type {
	EMBER_EVENT_OUTPUT,             /* data on stream at offset */
	EMBER_EVENT_LOST,               /* lost_length bytes at offset left the ring */
	EMBER_EVENT_EXIT,               /* the final event: exit is filled */
};

struct ember_event {
	enum ember_event_type type;
	enum ember_stream stream;
	uint64_t offset;
	const void *data;               /* valid until the next call on the session */
	size_t len;
	uint64_t lost_length;
	struct ember_exit exit;
};

/* Blocks until the next event. Output that repeats bytes already delivered is
 * trimmed; a gap without a matching "lost" report is a protocol error.
 * Returns 0; -ECONNRESET when the connection dropped before the exit event
 * (reattach with ember_session_offset); or another negative errno. */
int ember_session_next(struct ember_session *session, struct ember_event *event,
		       struct ember_error *err);

/* Input and output descriptors and callbacks of ember_session_run. */
struct ember_session_io {
	int stdin_fd;                   /* read until end of file and sent as stdin; -1: none */
	int stdout_fd;                  /* output of each stream is written in full here */
	int stderr_fd;
	/* When set, called with output instead of writing to the fds; a negative
	 * return stops ember_session_run with that value. */
	int (*on_output)(void *context, enum ember_stream stream, const void *data, size_t len);
	/* When event_fd >= 0, on_event is called each time it is readable (a
	 * signalfd for SIGWINCH, for example); a negative return stops the run. */
	int event_fd;
	int (*on_event)(void *context, struct ember_session *session);
	void *context;
};

/* Pumps stdin to the session and output from it until the exit event, which
 * fills *exit. Lost output (an attach from an offset the ring no longer has) is
 * counted in *lost_bytes when not NULL. Returns 0 or a negative errno as
 * ember_session_next does. */
int ember_session_run(struct ember_session *session, const struct ember_session_io *io,
		      struct ember_exit *exit, uint64_t *lost_bytes, struct ember_error *err);

/* ------------------------------------------------------------ freeze, thaw and resume */

#define EMBER_FREEZE_MOUNTS_MAX 256     /* mount points in one request and in one result */
#define EMBER_MOUNT_PATH_MAX 4096       /* bytes of a mount point, NUL included */
#define EMBER_MOUNT_FIELD_MAX 1024      /* bytes of a filesystem type or device, NUL included */
#define EMBER_MOUNT_REASON_MAX 4608     /* bytes of a reason (it may quote a mount point) */
#define EMBER_NOTES_MAX 80              /* hook lines and skipped actions in one result */
#define EMBER_NOTE_MAX 512              /* bytes of each, NUL included */
#define EMBER_ENTROPY_MAX 4096          /* entropy bytes one request may carry */
#define EMBER_ENTROPY_DEFAULT 64        /* entropy bytes ember_host_state_now draws */

struct ember_freeze_request {
	const char *const *mountpoints; /* NULL-terminated absolute paths; NULL or empty:
					 * every filesystem, which the agent allows only in a
					 * real guest started with freeze_all */
	uint32_t timeout_s;             /* auto-thaw deadline; 0: the agent's default (60 s) */
	bool processes;                 /* freeze the workload cgroup first */
};

struct ember_mount_state {
	char mountpoint[EMBER_MOUNT_PATH_MAX];
	char fstype[EMBER_MOUNT_FIELD_MAX];
	char device[EMBER_MOUNT_FIELD_MAX];
	char state[EMBER_MOUNT_FIELD_MAX]; /* "frozen", "thawed" or "skipped" */
	char reason[EMBER_MOUNT_REASON_MAX];
};

/* The host's wall clock and entropy, sent with thaw and resume. */
struct ember_host_state {
	int64_t wall_time_ns;           /* CLOCK_REALTIME; 0: not sent */
	uint8_t entropy[EMBER_ENTROPY_MAX];
	size_t entropy_len;             /* at most EMBER_ENTROPY_MAX */
};

struct ember_resume_result {
	int64_t clock_skew_ns;          /* guest minus host before correction */
	bool clock_set;
	uint32_t entropy_bytes;         /* bytes credited with RNDADDENTROPY */
	bool reseeded;                  /* RNDRESEEDCRNG succeeded */
	size_t skipped_count;           /* actions not taken, with the reason */
	char skipped[EMBER_NOTES_MAX][EMBER_NOTE_MAX];
	size_t hook_count;              /* resume hooks run, with their exit status */
	char hooks[EMBER_NOTES_MAX][EMBER_NOTE_MAX];
};

/* The result of freeze, thaw and fs_status (about 130 KiB: allocate it).
 * mounts is malloc'ed: release it with ember_freeze_state_release. */
struct ember_freeze_state {
	bool frozen;                    /* fs_status only; freeze and thaw report it by their outcome */
	bool processes_frozen;
	uint64_t deadline_ms;           /* milliseconds until the agent thaws by itself */
	size_t mount_count;
	struct ember_mount_state *mounts;
	size_t hook_count;              /* freeze or thaw hooks run, with their exit status */
	char hooks[EMBER_NOTES_MAX][EMBER_NOTE_MAX];
	bool has_resume;                /* thaw with a host state: what it did */
	struct ember_resume_result resume;
};

void ember_freeze_state_release(struct ember_freeze_state *state);

/* Fills *state with this machine's CLOCK_REALTIME and EMBER_ENTROPY_DEFAULT
 * bytes from getrandom(2). Returns 0 or -errno. */
int ember_host_state_now(struct ember_host_state *state, struct ember_error *err);

/* Freezes the listed filesystems (see struct ember_freeze_request). A freeze
 * that fails part-way has thawed what it froze; err names the mount point. */
int ember_freeze(struct ember_client *client, const struct ember_freeze_request *request,
		 struct ember_freeze_state *state, struct ember_error *err);

/* Thaws what the agent froze, then applies host (may be NULL) as
 * ember_resume does. Thawing when nothing is frozen succeeds with no mounts
 * in state. */
int ember_thaw(struct ember_client *client, const struct ember_host_state *host,
	       struct ember_freeze_state *state, struct ember_error *err);

/* The agent's freeze state. state->frozen is true while filesystems are frozen. */
int ember_fs_status(struct ember_client *client, struct ember_freeze_state *state,
		    struct ember_error *err);

/* After a restore: sets the guest clock when it is off by more than the
 * agent's threshold, credits the entropy, runs the resume hooks. */
int ember_resume(struct ember_client *client, const struct ember_host_state *host,
		 struct ember_resume_result *result, struct ember_error *err);

#define EMBER_NET_ADDRESSES_MAX 64      /* addresses or routes in one net_config */
#define EMBER_IFNAME_MAX 16             /* IFNAMSIZ */

struct ember_net_config {
	const char *interface;          /* name; NULL: match current_mac */
	const char *current_mac;        /* "aa:bb:cc:dd:ee:ff"; NULL with interface */
	const char *new_mac;            /* NULL: keep the MAC */
	const char *const *addresses;   /* NULL-terminated CIDRs replacing every global address */
	const char *const *routes;      /* NULL-terminated "default via GW" or "NET/LEN via GW" */
};

/* Re-addresses a guest interface (for clones of one snapshot). interface
 * (EMBER_IFNAME_MAX bytes) gets the name of the interface changed. */
int ember_net_config(struct ember_client *client, const struct ember_net_config *config,
		     char *interface, struct ember_error *err);

/* ------------------------------------------------------------ copy */

/* Copy between a host path and a guest path with docker cp's rules: a
 * destination that is an existing directory receives the source under its
 * own name, or only its contents when the source ends in "/."; otherwise the
 * destination names the copy itself, replacing a file there. A destination
 * ending in '/' must be an existing directory. Each file is written under a
 * temporary name, verified against the sender's SHA-256, fsync'd and renamed,
 * so a failure leaves no partial file; err names the path and the reason.
 *
 * Copy-out does not trust the guest: entries resolve beneath the destination
 * without following symlinks, escaping names and links are rejected, sizes are
 * checked against file_size_max, no device node is created, and owners and
 * setuid/setgid/sticky bits are restored only when asked. */
#define EMBER_COPY_WARNINGS_MAX 64      /* warnings kept in a result */

struct ember_copy_progress {
	uint64_t bytes;                 /* content bytes transferred so far */
	uint64_t total_bytes;           /* 0 when unknown */
	uint64_t entries;
};

struct ember_copy_options {
	const char *user;               /* guest user to read or write as; NULL: root */
	bool preserve_owner;            /* keep numeric owners (copy-in: as root only) */
	bool keep_special_bits;         /* copy-out: restore setuid, setgid, sticky */
	bool follow_link;               /* copy-out: follow the source if it is a symlink */
	uint64_t file_size_max;         /* copy-out: largest file accepted; 0: 1 TiB */
	int idle_timeout_ms;            /* fail after this long without data from the agent;
					 * 0: 60 s */
	/* Called as data moves, at most a few times per second of transfer. */
	void (*progress)(const struct ember_copy_progress *progress, void *data);
	void *progress_data;
};

struct ember_copy_result {
	uint64_t entries;
	uint64_t bytes;
	size_t warning_count;
	char warnings[EMBER_COPY_WARNINGS_MAX][EMBER_ERROR_MESSAGE_MAX];
};

/* Copies the host path local_src into the guest at guest_dest (absolute). */
int ember_copy_in(struct ember_client *client, const char *local_src, const char *guest_dest,
		  const struct ember_copy_options *options, struct ember_copy_result *result,
		  struct ember_error *err);

/* Copies the guest path guest_src (absolute) to the host path local_dest. */
int ember_copy_out(struct ember_client *client, const char *guest_src, const char *local_dest,
		   const struct ember_copy_options *options, struct ember_copy_result *result,
		   struct ember_error *err);

/* Like ember_copy_in, reading a tar archive (ustar or pax) from tar_fd; its
 * entries are placed inside guest_dest, which must be a directory. */
int ember_copy_in_tar(struct ember_client *client, int tar_fd, const char *guest_dest,
		      const struct ember_copy_options *options, struct ember_copy_result *result,
		      struct ember_error *err);

/* Like ember_copy_out, writing a pax tar archive of guest_src to tar_fd. */
int ember_copy_out_tar(struct ember_client *client, const char *guest_src, int tar_fd,
		       const struct ember_copy_options *options, struct ember_copy_result *result,
		       struct ember_error *err);

#endif
