/* The listening sockets and the checks every peer passes before its first
 * frame is read: the vsock CID, the Unix peer's uid, the connection limit. */
#include "agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

/* Connections accepted per listener wakeup. */
#define SERVER_ACCEPT_BATCH 32
/* Pause of a listener after accept ran out of descriptors or memory: the
 * pending connection keeps the listener readable, so watching it at once
 * would spin. */
#define SERVER_ACCEPT_RETRY_MS 100

static void server_accept(struct loop *loop, int fd, uint32_t events, void *data);

static void server_resume_listener(struct loop *loop, void *data)
{
	struct listener *listener = data;

	if (listener->fd >= 0 &&
	    loop_add(loop, listener->fd, EPOLLIN, server_accept, listener) < 0)
		log_error("failed to watch listener '%s' again; it accepts no more connections",
			  listener->text);
}

/* Stops watching a listener for SERVER_ACCEPT_RETRY_MS after err. */
static void server_pause_listener(struct listener *listener, int err)
{
	struct loop *loop = listener->agent->loop;

	log_warn("failed to accept on %s: %s; retrying in %d ms", listener->text, strerror(err),
		 SERVER_ACCEPT_RETRY_MS);
	loop_remove(loop, listener->fd);
	if (!loop_timer_add(loop, SERVER_ACCEPT_RETRY_MS, server_resume_listener, listener))
		server_resume_listener(loop, listener);
}

static bool uid_allowed(const struct agent_options *opts, uid_t uid)
{
	for (size_t i = 0; i < opts->allow_uid_count; i++)
		if (opts->allow_uids[i] == uid)
			return true;
	return false;
}

static bool cid_allowed(const struct agent_options *opts, uint32_t cid)
{
	for (size_t i = 0; i < opts->allow_cid_count; i++)
		if (opts->allow_cids[i] == cid)
			return true;
	return false;
}

/* Describes the peer and decides whether it may talk to the agent. Returns
 * NULL when allowed, else the reason sent back. */
static const char *check_peer(struct agent *agent, struct listener *listener, int fd,
			      const struct sockaddr_storage *ss, char *peer, size_t peer_len)
{
	static char reason[128];

	if (listener->addr.kind == LISTEN_UNIX) {
		struct ucred cred;
		socklen_t len = sizeof(cred);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			snprintf(peer, peer_len, "unix peer (fd %d)", fd);
			return "failed to read the peer's credentials (SO_PEERCRED)";
		}
		snprintf(peer, peer_len, "unix uid %u pid %d", (unsigned)cred.uid, (int)cred.pid);
		if (!uid_allowed(&agent->opts, cred.uid)) {
			snprintf(reason, sizeof(reason),
				 "permission denied: uid %u is not allowed (--allow-uid)",
				 (unsigned)cred.uid);
			return reason;
		}
		return NULL;
	}
	if (listener->addr.kind == LISTEN_VSOCK) {
		const struct sockaddr_vm *svm = (const struct sockaddr_vm *)ss;

		snprintf(peer, peer_len, "vsock cid %u port %u", svm->svm_cid, svm->svm_port);
		if (!cid_allowed(&agent->opts, svm->svm_cid)) {
			snprintf(reason, sizeof(reason),
				 "permission denied: CID %u is not allowed (--allow-cid)",
				 svm->svm_cid);
			return reason;
		}
		return NULL;
	}

	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
	}
	/* The token is checked with the Request, before any operation. */
	snprintf(peer, peer_len, "tcp %s port %u", host, port);
	return NULL;
}

static void server_accept(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct listener *listener = data;
	struct agent *agent = listener->agent;

	for (int i = 0; i < SERVER_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char peer[96];
		const char *reason;
		struct conn *conn;
		int client = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (client < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				server_pause_listener(listener, errno);
			else if (errno == EINTR || errno == ECONNABORTED)
				continue;
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("failed to accept on %s: %s", listener->text, strerror(errno));
			return;
		}
		reason = check_peer(agent, listener, client, &ss, peer, sizeof(peer));
		conn = conn_accept(agent, listener, client, peer);
		if (!conn)
			continue;
		if (reason) {
			log_warn("rejected %s on %s: %s", peer, listener->text, reason);
			ember_error(conn, EMBER__CODE__CODE_PERMISSION_DENIED, EACCES, "%s", reason);
		} else if (agent->conn_count > AGENT_CONNECTIONS_MAX) {
			ember_error(conn, EMBER__CODE__CODE_RESOURCE_EXHAUSTED, 0,
				    "too many connections: the agent serves at most %d at once "
				    "(AGENT_CONNECTIONS_MAX); retry later", AGENT_CONNECTIONS_MAX);
		}
	}
}

int server_start(struct agent *agent)
{
	for (size_t i = 0; i < agent->listener_count; i++) {
		struct listener *listener = &agent->listeners[i];
		int fd = listen_open(&listener->addr);
		int r;

		if (fd < 0) {
			log_error("failed to listen on '%s': %s%s", listener->text, strerror(-fd),
				  fd == -EADDRINUSE ? " (another process listens there: stop it or "
				  "choose another address)" : "");
			return fd;
		}
		listener->fd = fd;
		listener->agent = agent;
		r = loop_add(agent->loop, fd, EPOLLIN, server_accept, listener);
		if (r < 0) {
			log_error("failed to watch listener '%s': %s", listener->text, strerror(-r));
			return r;
		}
		log_info("listening on %s", listener->text);
	}
	return 0;
}

void server_stop(struct agent *agent)
{
	for (size_t i = 0; i < agent->listener_count; i++) {
		struct listener *listener = &agent->listeners[i];

		if (listener->fd < 0)
			continue;
		loop_remove(agent->loop, listener->fd);
		close(listener->fd);
		listener->fd = -1;
		if (listener->addr.kind == LISTEN_UNIX)
			unlink(listener->addr.path);
	}
}
