/* Listener addresses ("vsock:PORT", "unix:PATH", "tcp:HOST:PORT") and the
 * listening sockets made from them. */
#ifndef EMBER_AGENT_LISTEN_H
#define EMBER_AGENT_LISTEN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

enum listen_kind {
	LISTEN_VSOCK,
	LISTEN_UNIX,
	LISTEN_TCP,
};

struct listen_addr {
	enum listen_kind kind;
	uint32_t port;                     /* vsock and tcp */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* unix */
	char host[64];                     /* tcp: a numeric IPv4 or IPv6 address */
	int family;                        /* tcp: AF_INET or AF_INET6 */
};

struct listener {
	struct listen_addr addr;
	const char *text;                  /* the address as given */
	int fd;
	struct agent *agent;
};

/* Parses a listener address. Returns 0, or -EINVAL with *reason set to a
 * static description of what is wrong. */
int listen_parse(const char *text, struct listen_addr *addr, const char **reason);

/* Creates, binds and listens (non-blocking, close-on-exec). A Unix socket is
 * created with mode 0600, replacing a stale socket file at the path.
 * Returns the descriptor or -errno. */
int listen_open(const struct listen_addr *addr);

#endif
