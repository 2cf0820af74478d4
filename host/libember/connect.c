/* Connecting to the agent over each transport, with retries while it is not
 * there yet (see ember.h), and the hybrid vsock handshake. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "conn.h"

/* The single attempt of a zero connect timeout still needs a bound, because a
 * TCP connect or a VMM that never replies to the handshake would block forever. */
#define CONNECT_ATTEMPT_MS_MIN 1000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Waits for events on fd until deadline. Returns the revents or -ETIMEDOUT. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int r = poll(&pfd, 1, remaining_ms(deadline));

		if (r > 0)
			return pfd.revents;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Connects the non-blocking socket fd, waiting at most until deadline. */
static int connect_until(int fd, const struct sockaddr *sa, socklen_t len, uint64_t deadline)
{
	int error = 0;
	socklen_t error_len = sizeof(error);
	int r;

	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -errno;
	r = wait_fd(fd, POLLOUT, deadline);
	if (r < 0)
		return r;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len) < 0)
		return -errno;
	return -error;
}

static int connect_unix_path(const char *path, uint64_t deadline, int *out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, r;

	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	r = connect_until(fd, (const struct sockaddr *)&sun, sizeof(sun), deadline);
	if (r < 0) {
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

static int connect_tcp(const struct ember_address *addr, uint64_t deadline, int *out,
		       struct ember_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *list, *ai;
	char port[16];
	int r = -ECONNREFUSED;

	snprintf(port, sizeof(port), "%u", addr->port);
	r = getaddrinfo(addr->host, port, &hints, &list);
	if (r != 0)
		return ember_error_set(err, EMBER_ERROR_CONNECT, -EHOSTUNREACH,
				       "failed to resolve host '%s': %s", addr->host,
				       gai_strerror(r));
	r = -ECONNREFUSED;
	for (ai = list; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
				ai->ai_protocol);

		if (fd < 0) {
			r = -errno;
			continue;
		}
		r = connect_until(fd, ai->ai_addr, ai->ai_addrlen, deadline);
		if (r == 0) {
			*out = fd;
			break;
		}
		close(fd);
	}
	freeaddrinfo(list);
	return r;
}

/* NOTE: never run on the development machines, whose vsock leads to a
 * hypervisor that is not ours; the QEMU guest tests exercise it. */
static int connect_vsock(const struct ember_address *addr, uint64_t deadline, int *out)
{
	struct sockaddr_vm svm = {
		.svm_family = AF_VSOCK,
		.svm_cid = addr->cid,
		.svm_port = addr->port,
	};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r;

	if (fd < 0)
		return -errno;
	r = connect_until(fd, (const struct sockaddr *)&svm, sizeof(svm), deadline);
	if (r < 0) {
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

/* Reads the VMM's reply line one byte at a time, so that nothing after the
 * newline is consumed. Returns 0 for "OK ...", -ECONNREFUSED when the VMM
 * closed the connection or rejected the port (the guest is not listening yet),
 * -EPROTO for a reply that is not a line. */
static int read_hvsock_reply(int fd, uint64_t deadline, char *line, size_t size)
{
	size_t len = 0;

	while (len + 1 < size) {
		ssize_t n = read(fd, line + len, 1);

		if (n == 1) {
			if (line[len] == '\n') {
				line[len] = '\0';
				return strncmp(line, "OK ", 3) == 0 ? 0 : -ECONNREFUSED;
			}
			len++;
			continue;
		}
		if (n == 0)
			return -ECONNREFUSED;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return errno == ECONNRESET ? -ECONNREFUSED : -errno;
		n = wait_fd(fd, POLLIN, deadline);
		if (n < 0)
			return (int)n;
	}
	line[len] = '\0';
	return -EPROTO;
}

static int connect_hvsock(const struct ember_address *addr, uint64_t deadline, int *out,
			  struct ember_error *err)
{
	char request[32], reply[EMBER_HVSOCK_REPLY_MAX];
	int fd, len, r;

	r = connect_unix_path(addr->path, deadline, &fd);
	if (r < 0)
		return r;
	len = snprintf(request, sizeof(request), "CONNECT %u\n", addr->port);
	/* The request is far below any socket buffer, so one send writes it all. */
	if (send(fd, request, (size_t)len, MSG_NOSIGNAL) != len) {
		r = -ECONNREFUSED;
		goto out;
	}
	r = read_hvsock_reply(fd, deadline, reply, sizeof(reply));
	if (r == -EPROTO)
		ember_error_set(err, EMBER_ERROR_CONNECT, r, "hybrid vsock handshake on '%s' "
				"failed: the reply to CONNECT %u is not a line of at most %d bytes",
				addr->path, addr->port, EMBER_HVSOCK_REPLY_MAX - 1);
out:
	if (r < 0)
		close(fd);
	else
		*out = fd;
	return r;
}

static int connect_once(const struct ember_address *addr, uint64_t deadline, int *fd,
			struct ember_error *err)
{
	switch (addr->transport) {
	case EMBER_TRANSPORT_UNIX:
		return connect_unix_path(addr->path, deadline, fd);
	case EMBER_TRANSPORT_TCP:
		return connect_tcp(addr, deadline, fd, err);
	case EMBER_TRANSPORT_VSOCK:
		return connect_vsock(addr, deadline, fd);
	case EMBER_TRANSPORT_HVSOCK:
		return connect_hvsock(addr, deadline, fd, err);
	}
	return -EINVAL;
}

/* Failures that mean "not there yet": a guest still booting, an agent still
 * starting, a VMM that rejects the port until the guest listens. */
static bool is_retryable(int r)
{
	return r == -ENOENT || r == -ECONNREFUSED || r == -ECONNRESET || r == -EAGAIN ||
	       r == -ETIMEDOUT || r == -ENODEV;
}

int ember_transport_connect(const struct ember_client *client, int *fd, struct ember_error *err)
{
	uint64_t start = now_ms();
	int timeout = client->connect_timeout_ms;
	uint64_t deadline = start + (uint64_t)(timeout > CONNECT_ATTEMPT_MS_MIN ?
					       timeout : CONNECT_ATTEMPT_MS_MIN);
	uint64_t retry_until = start + (uint64_t)timeout;
	unsigned delay = EMBER_RETRY_DELAY_MS_MIN;
	int attempts = 0;
	int r;

	for (;;) {
		if (err)
			err->kind = EMBER_ERROR_NONE;
		r = connect_once(&client->address, deadline, fd, err);
		attempts++;
		if (r == 0)
			return 0;
		if (err && err->kind != EMBER_ERROR_NONE)
			return r;
		if (!is_retryable(r) || now_ms() >= retry_until)
			break;
		/* The last pause ends at the deadline, for one final attempt. */
		unsigned pause_ms = (unsigned)remaining_ms(retry_until);

		if (pause_ms > delay)
			pause_ms = delay;
		struct timespec pause = { .tv_sec = pause_ms / 1000,
					  .tv_nsec = (long)(pause_ms % 1000) * 1000000 };

		nanosleep(&pause, NULL);
		delay = delay * 2 > EMBER_RETRY_DELAY_MS_MAX ? EMBER_RETRY_DELAY_MS_MAX : delay * 2;
	}
	if (client->address.transport == EMBER_TRANSPORT_HVSOCK && r == -ECONNREFUSED)
		return ember_error_set(err, EMBER_ERROR_CONNECT, r,
				       "failed to connect: the VMM rejected CONNECT %u (guest "
				       "not listening?) after %d attempt%s in %llu ms",
				       client->address.port, attempts, attempts == 1 ? "" : "s",
				       (unsigned long long)(now_ms() - start));
	return ember_error_set(err, EMBER_ERROR_CONNECT, r,
			       "failed to connect: %s (%d attempt%s in %llu ms)", strerror(-r),
			       attempts, attempts == 1 ? "" : "s",
			       (unsigned long long)(now_ms() - start));
}
