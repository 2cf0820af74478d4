/* Control channel client. */
#include "control_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "control.h"

struct control_call {
	struct agent *agent;
	int fd;
	control_reply_fn fn;
	void *data;
	bool replied;
};

static int send_json(int fd, json_t *message)
{
	char *text = json_dumps(message, JSON_COMPACT);
	size_t len;
	int r = 0;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	if (len > CONTROL_MESSAGE_MAX)
		r = -EMSGSIZE;
	else if (send(fd, text, len, MSG_NOSIGNAL) < 0)
		r = -errno;
	free(text);
	return r;
}

static void control_io(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct control_call *call = data;
	char *buf = malloc(CONTROL_MESSAGE_MAX + 1);
	json_t *reply = NULL;
	json_error_t error;
	ssize_t n;
	int err = 0;

	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	n = recv(fd, buf, CONTROL_MESSAGE_MAX, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		free(buf);
		return;
	}
	if (n < 0)
		err = -errno;
	else if (n == 0)
		err = -ECONNRESET;
	else if (!(reply = json_loadb(buf, (size_t)n, 0, &error)) || !json_is_object(reply))
		err = -EBADMSG;
out:
	free(buf);
	/* One reply per call: stop watching, so a closed socket does not wake
	 * the loop again. */
	loop_remove(call->agent->loop, call->fd);
	call->replied = true;
	call->fn(call, err ? NULL : reply, err, call->data);
	json_decref(reply);
}

int control_call_start(struct agent *agent, json_t *request, control_reply_fn fn, void *data,
		       struct control_call **out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct control_call *call = calloc(1, sizeof(*call));
	int r;

	if (!call)
		return -ENOMEM;
	call->agent = agent;
	call->fn = fn;
	call->data = data;
	call->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (call->fd < 0) {
		r = -errno;
		free(call);
		return r;
	}
	strcpy(sun.sun_path, CONTROL_SOCKET_PATH);
	/* A Unix connect completes at once or fails; EAGAIN means init's
	 * backlog is full, reported as unavailable. */
	if (connect(call->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		r = -errno;
	else
		r = send_json(call->fd, request);
	if (r == 0)
		r = loop_add(agent->loop, call->fd, EPOLLIN, control_io, call);
	if (r < 0) {
		close(call->fd);
		free(call);
		return r;
	}
	*out = call;
	return 0;
}

int control_call_send(struct control_call *call, json_t *message)
{
	return send_json(call->fd, message);
}

void control_call_free(struct control_call *call)
{
	if (!call)
		return;
	if (!call->replied)
		loop_remove(call->agent->loop, call->fd);
	close(call->fd);
	free(call);
}
