/* Exec sessions: a process with its output rings, exit status, timers and
 * at most one attached connection. A session outlives its connection: it
 * waits the grace period for an attach (or its TTL when detached), and keeps
 * its exit status until a client collects it. */
#ifndef EMBER_AGENT_SESSION_H
#define EMBER_AGENT_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "op.h"
#include "ring.h"

/* Output kept per stream (stdout, stderr), in bytes. It covers what a cut
 * Unix or vsock connection can have in flight (the send queue's high
 * watermark plus a few hundred KiB of socket buffers), and costs at most
 * 4 MiB per chatty session, 256 MiB at the default 64 sessions. */
#define SESSION_RING_MAX (2u * 1024u * 1024u)
/* After the process exits, how long to wait for stdout and stderr to reach
 * EOF before the exit status is sent anyway (a background child may hold
 * them open). */
#define SESSION_DRAIN_MS 1000
/* Stdin bytes buffered for a process that is not reading; beyond it the
 * client's frames are no longer read. */
#define SESSION_STDIN_MAX (1024u * 1024u)
/* Largest Output frame payload. */
#define SESSION_OUTPUT_CHUNK (64u * 1024u)
/* TTL of a detached session when the request gives none, and the maximum. */
#define SESSION_DEFAULT_TTL_S 3600u
#define SESSION_TTL_MAX_S (7u * 24u * 3600u)
/* Hex characters of a session id. */
#define SESSION_ID_LEN 16

struct session;

struct session_stream {
	int fd;                  /* -1 once at EOF */
	struct ring ring;
	uint64_t sent;           /* next offset to send to the attached connection */
	bool watched;
};

struct session {
	struct agent *agent;
	struct session *next;
	struct session *prev;
	char id[SESSION_ID_LEN + 1];
	pid_t pid;
	bool running;
	int wait_status;
	bool timed_out;
	bool tty;
	bool detached;
	uint32_t ttl_s;
	bool abandoned;          /* grace or TTL expired: free once reaped */
	uint64_t started_ms;
	char **argv;
	size_t argc;

	struct session_stream out[2];
	bool drain_expired;

	int stdin_fd;
	bool stdin_watched;
	uint8_t *stdin_buf;
	size_t stdin_len;
	bool stdin_eof;          /* close (or send ^D) once stdin_buf is written */
	bool client_stdin;       /* the attached client may send stdin */
	bool tty_partial_line;   /* the last byte written to the PTY ended no line */

	struct conn *conn;

	uint64_t timeout_timer;
	uint64_t drain_timer;
	uint64_t idle_timer;     /* grace or TTL without a client */

	char cgroup[96];         /* the session's cgroup directory, "" without one */
};

/* Registers a zeroed session (its id and cgroup already set by
 * session_prepare_id) for a started process; takes ownership of the fds in
 * result and of argv. */
struct spawn_result;
void session_register(struct agent *agent, struct session *session,
		      const struct spawn_result *result, char **argv, size_t argc, bool tty);

/* Picks a new id and, under ember-init, creates the cgroup directory.
 * Returns 0 or -errno. */
int session_prepare_id(struct agent *agent, char *id, char *cgroup, size_t cgroup_len);

struct session *session_find(struct agent *agent, const char *id);

/* Number of sessions counted against max_sessions. */
size_t session_count(const struct agent *agent);

/* Attaches conn, replacing a connection attached before, and streams output
 * from the given offsets; -ERANGE when an offset lies past the output. */
int session_attach(struct session *session, struct conn *conn, uint64_t stdout_offset,
		   uint64_t stderr_offset, bool client_stdin);

/* Lets a session run without a client for ttl_s seconds (0: the default). */
void session_detach(struct session *session, uint32_t ttl_s);

/* Finishes exec --detach with ExecStarted as the final frame; the TTL then runs. */
int session_finish_detached(struct session *session, struct conn *conn, uint32_t ttl_s);

void session_set_timeout(struct session *session, uint32_t timeout_ms);

/* Sends sig to the leader or the whole process group. Returns 0 or -errno. */
int session_signal(struct session *session, int sig, bool process_group);

/* Kills everything in the session (cgroup.kill where available). */
void session_kill(struct session *session);

/* Called by the reaper with a child's wait status. */
void session_on_exit(struct agent *agent, pid_t pid, int status);

/* Starts the grace period (or TTL) of a session that has no client yet. */
void session_unattached(struct session *session);

/* Frees a session whose process failed to start. */
void session_discard(struct session *session);

/* Kills every session and frees them, at agent exit. */
void session_free_all(struct agent *agent);

/* Fills Exit from the session's status. */
void session_exit_frame(const struct session *session, Ember__Exit *exit_frame);

#endif
