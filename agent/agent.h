/* The agent's internal state shared by its own files (the server, sessions,
 * signals). Operations outside this set use op.h only. */
#ifndef EMBER_AGENT_AGENT_H
#define EMBER_AGENT_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "listen.h"
#include "op.h"

/* Maximum bytes of a TCP token. */
#define AGENT_TOKEN_MAX 4096
/* Maximum open client connections; more are rejected with
 * CODE_RESOURCE_EXHAUSTED. */
#define AGENT_CONNECTIONS_MAX 1024
/* Defaults of the options in struct agent_options. */
#define AGENT_DEFAULT_MAX_SESSIONS 64
/* Copy workers running at once. Each is a process whose connection gets
 * COPY_SOCKET_BUFFER (4 MiB) send and receive buffers, so 16 workers with
 * full buffers take about 128 MiB of the guest's memory (the kernel counts up
 * to twice that). --max-copies or agent.max_copies changes it. */
#define AGENT_DEFAULT_MAX_COPIES 16
#define AGENT_DEFAULT_GRACE_S 60
/* After SIGTERM, how long open connections get to finish, and how often
 * the agent checks whether they have. */
#define AGENT_STOP_GRACE_MS 500
#define AGENT_STOP_POLL_MS 20
/* Maximum environment entries taken from the boot config's process.env. */
#define AGENT_IMAGE_ENV_MAX 4096

struct session;
struct work_item;

struct agent {
	struct agent_options opts;
	struct loop *loop;
	bool frozen;
	bool stopping;
	uint64_t stop_deadline_ms;
	int exit_code;

	struct listener listeners[AGENT_LISTENERS_MAX];
	size_t listener_count;
	uint8_t token[AGENT_TOKEN_MAX];
	size_t token_len;
	bool have_token;

	/* The image's environment (process.env of the boot config) when under
	 * ember-init; NULL standalone, where sessions inherit the agent's own. */
	char **image_env;

	int signal_fd;
	struct conn *conns;
	size_t conn_count;
	uint64_t next_conn_id;

	struct session *sessions;
	size_t session_count;

	int work_event_fd;
	pthread_mutex_t work_lock;
	struct work_item *work_done;
	size_t work_pending;
};

/* Server: listeners and connections (server.c, conn.c). */
int server_start(struct agent *agent);
void server_stop(struct agent *agent);
struct conn *conn_accept(struct agent *agent, struct listener *listener, int fd,
			 const char *peer);
void conn_close_all(struct agent *agent);

/* Dispatching the first frame (dispatch.c). */
void dispatch_request(struct conn *conn, const Ember__Request *request);
bool listener_needs_token(const struct conn *conn);
/* Whether def has a handler that runs in this agent (init or standalone). */
bool op_available(const struct agent *agent, const struct op_def *def);

/* Worker threads (work.c). */
int work_init(struct agent *agent);
void work_cleanup(struct agent *agent);

/* Signals and reaping (signals.c). */
int signals_init(struct agent *agent);
void signals_cleanup(struct agent *agent);

#endif
