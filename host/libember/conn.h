/* libember internals: the client structure, one connection carrying one
 * operation, and the error helpers. Operation files (exec.c, unary.c, and the
 * copy and freeze calls) build on these; nothing here is installed.
 *
 * A new operation follows the same steps: fill an Ember__Request with its op,
 * ember_conn_open() (connects with retry, adds version, token and client
 * name, sends the request), then ember_conn_recv() frames until the final one
 * and ember_conn_close(). ember_conn_recv() already turns an Error frame into
 * -EREMOTEIO and checks the frame size; the operation checks the fields it
 * reads against its own named limits (see validate.h). */
#ifndef EMBER_CONN_H
#define EMBER_CONN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.pb-c.h"
#include "ember.h"
#include "frame.h"

struct ember_client {
	char *address_text;
	struct ember_address address;
	uint8_t *token;
	size_t token_len;
	int connect_timeout_ms;
	int io_timeout_ms;
	char client_name[64];
};

struct ember_conn {
	int fd;
	struct frame_reader reader;
	uint8_t *out;                   /* an encoded frame not yet fully sent */
	size_t out_len;
	size_t out_off;
	bool closed_between_frames;     /* the last read saw a clean close, not a cut frame */
};

/* Connects (unix, tcp, vsock or hvsock, retrying as ember.h describes) and
 * returns the connected, non-blocking, close-on-exec descriptor in *fd. */
int ember_transport_connect(const struct ember_client *client, int *fd, struct ember_error *err);

/* Connects and sends request after setting its version, token and client name. */
int ember_conn_open(struct ember_client *client, Ember__Request *request, struct ember_conn *conn,
		    struct ember_error *err);
void ember_conn_close(struct ember_conn *conn);

/* Queues frame and writes what the socket takes; block waits until all of
 * it (and anything queued before) is written. A frame may be queued only when
 * nothing is pending: a caller that does not block flushes first. */
int ember_conn_send(struct ember_conn *conn, const Ember__ClientFrame *frame, bool block,
		    struct ember_error *err);
/* Writes pending bytes; block waits until none are left. */
int ember_conn_flush(struct ember_conn *conn, bool block, struct ember_error *err);
bool ember_conn_pending(const struct ember_conn *conn);

/* Waits up to timeout_ms (< 0: no limit) for one AgentFrame, writing pending
 * bytes meanwhile. Returns 0 with *frame (free with
 * ember__agent_frame__free_unpacked(frame, NULL)); -EREMOTEIO for an Error
 * frame; -ECONNRESET when the agent closed the connection; -ETIMEDOUT;
 * -EMSGSIZE or -EPROTO for a frame that breaks the protocol. */
int ember_conn_recv(struct ember_conn *conn, int timeout_ms, Ember__AgentFrame **frame,
		    struct ember_error *err);

/* Reads a frame if a whole one has arrived, without waiting. Returns 1 with
 * *frame, 0 when none is complete yet, or the negative codes of ember_conn_recv. */
int ember_conn_try_recv(struct ember_conn *conn, Ember__AgentFrame **frame,
			struct ember_error *err);

/* One request, one response of kind expected (or Ack when expected is Ack). */
int ember_conn_unary(struct ember_client *client, Ember__Request *request,
		     Ember__AgentFrame__KindCase expected, Ember__AgentFrame **frame,
		     struct ember_error *err);

/* Points a ProtobufCBinaryData at a caller's string without copying it. */
ProtobufCBinaryData ember_bytes(const char *text);

/* Builds an array of ProtobufCBinaryData over a NULL-terminated string list
 * (NULL reads as empty). Returns 0 with *items malloc'ed (free only the array)
 * or -ENOMEM; more than max entries is -E2BIG. */
int ember_bytes_list(const char *const *list, size_t max, ProtobufCBinaryData **items,
		     size_t *count);

/* Names a frame kind for messages, e.g. "exit". */
const char *ember_frame_kind_name(Ember__AgentFrame__KindCase kind);

/* Fills err (when not NULL) and returns negative_errno. */
int ember_error_set(struct ember_error *err, enum ember_error_kind kind, int negative_errno,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Copies an agent's Error frame into err; returns -EREMOTEIO. */
int ember_error_remote(struct ember_error *err, const Ember__Error *remote);

#endif
