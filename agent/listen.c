/* Parsing listener addresses and opening the listening sockets. */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define LISTEN_BACKLOG 128

/* Parses a decimal port in 1..max. */
static int parse_port(const char *text, uint32_t max, uint32_t *port)
{
	char *end;
	unsigned long value;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno || *end || value == 0 || value > max)
		return -EINVAL;
	*port = (uint32_t)value;
	return 0;
}

static int parse_vsock(const char *rest, struct listen_addr *addr, const char **reason)
{
	addr->kind = LISTEN_VSOCK;
	/* VMADDR_PORT_ANY (0xffffffff) means "any port", so it cannot be listened on. */
	if (parse_port(rest, UINT32_MAX - 1, &addr->port) < 0) {
		*reason = "expected vsock:PORT with PORT a number from 1 to 4294967294";
		return -EINVAL;
	}
	return 0;
}

static int parse_unix(const char *rest, struct listen_addr *addr, const char **reason)
{
	addr->kind = LISTEN_UNIX;
	if (*rest != '/') {
		*reason = "expected unix:PATH with an absolute PATH";
		return -EINVAL;
	}
	if (strlen(rest) >= sizeof(addr->path)) {
		*reason = "the socket path is longer than 107 bytes";
		return -EINVAL;
	}
	strcpy(addr->path, rest);
	return 0;
}

static int parse_tcp(const char *rest, struct listen_addr *addr, const char **reason)
{
	const char *colon = strrchr(rest, ':');
	size_t host_len;
	uint8_t scratch[sizeof(struct in6_addr)];

	addr->kind = LISTEN_TCP;
	*reason = "expected tcp:HOST:PORT with a numeric IPv4 address or a bracketed IPv6 address";
	if (!colon || colon == rest)
		return -EINVAL;
	host_len = (size_t)(colon - rest);
	if (rest[0] == '[') {
		if (host_len < 3 || rest[host_len - 1] != ']')
			return -EINVAL;
		rest++;
		host_len -= 2;
		addr->family = AF_INET6;
	} else {
		addr->family = AF_INET;
	}
	if (host_len >= sizeof(addr->host))
		return -EINVAL;
	memcpy(addr->host, rest, host_len);
	addr->host[host_len] = '\0';
	if (inet_pton(addr->family, addr->host, scratch) != 1)
		return -EINVAL;
	if (parse_port(colon + 1, 65535, &addr->port) < 0) {
		*reason = "expected tcp:HOST:PORT with PORT a number from 1 to 65535";
		return -EINVAL;
	}
	return 0;
}

int listen_parse(const char *text, struct listen_addr *addr, const char **reason)
{
	memset(addr, 0, sizeof(*addr));
	if (strncmp(text, "vsock:", 6) == 0)
		return parse_vsock(text + 6, addr, reason);
	if (strncmp(text, "unix:", 5) == 0)
		return parse_unix(text + 5, addr, reason);
	if (strncmp(text, "tcp:", 4) == 0)
		return parse_tcp(text + 4, addr, reason);
	*reason = "expected vsock:PORT, unix:PATH or tcp:HOST:PORT";
	return -EINVAL;
}

/* Checks whether a process accepts connections on the socket file at path.
 * A socket whose listener exited refuses with ECONNREFUSED. */
static bool socket_has_listener(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	strcpy(sun.sun_path, path);
	live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 || errno != ECONNREFUSED;
	close(fd);
	return live;
}

/* Removes a socket file left by an earlier agent that exited. A socket that a
 * running agent listens on, and anything that is not a socket, is left alone
 * so that bind fails with EADDRINUSE. */
static void remove_stale_socket(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && !socket_has_listener(path))
		unlink(path);
}

static int bind_unix(int fd, const struct listen_addr *addr)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old_mask;
	int r = 0;

	strcpy(sun.sun_path, addr->path);
	remove_stale_socket(addr->path);
	/* The umask makes the socket 0600 from the moment it exists. */
	old_mask = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		r = -errno;
	umask(old_mask);
	if (r == 0 && chmod(addr->path, 0600) < 0)
		r = -errno;
	return r;
}

static int bind_tcp(int fd, const struct listen_addr *addr)
{
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->family == AF_INET) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)addr->port) };

		inet_pton(AF_INET, addr->host, &sin.sin_addr);
		return bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ? -errno : 0;
	}
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)addr->port) };

	inet_pton(AF_INET6, addr->host, &sin6.sin6_addr);
	return bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0 ? -errno : 0;
}

static int bind_vsock(int fd, const struct listen_addr *addr)
{
	struct sockaddr_vm svm = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
		.svm_port = addr->port,
	};

	return bind(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0 ? -errno : 0;
}

int listen_open(const struct listen_addr *addr)
{
	int family = addr->kind == LISTEN_VSOCK ? AF_VSOCK
		     : addr->kind == LISTEN_UNIX ? AF_UNIX
		     : addr->family;
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int r;

	if (fd < 0)
		return -errno;
	if (addr->kind == LISTEN_UNIX)
		r = bind_unix(fd, addr);
	else if (addr->kind == LISTEN_TCP)
		r = bind_tcp(fd, addr);
	else
		r = bind_vsock(fd, addr);
	if (r == 0 && listen(fd, LISTEN_BACKLOG) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}
