/* The agent's side of ember-init's control channel (lib/control.h): one
 * SOCK_SEQPACKET connection per call, a JSON request, a JSON reply, read
 * from the loop. */
#ifndef EMBER_AGENT_CONTROL_CLIENT_H
#define EMBER_AGENT_CONTROL_CLIENT_H

#include <jansson.h>

#include "op.h"

struct control_call;

/* Receives the reply object (borrowed, valid during the call), or NULL with
 * err a negative errno when the channel failed. The call stays open until
 * control_call_free, so a "wait" can still send its ack. */
typedef void (*control_reply_fn)(struct control_call *call, json_t *reply, int err, void *data);

/* Connects to init's control socket and sends request (a JSON object, not
 * consumed). Returns 0 or -errno; the reply arrives through fn. */
int control_call_start(struct agent *agent, json_t *request, control_reply_fn fn, void *data,
		       struct control_call **out);

/* Sends another packet on the same connection (the ack after "wait").
 * Returns 0 or -errno. */
int control_call_send(struct control_call *call, json_t *message);

/* Closes the connection; no callback runs afterwards. */
void control_call_free(struct control_call *call);

#endif
