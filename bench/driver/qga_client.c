/* qemu-guest-agent over a Unix socket, for the benchmark driver. */
#include "qga_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "io.h"

/* The id guest-sync echoes back, so replies to earlier commands are skipped. */
#define QGA_SYNC_ID 424242

int qga_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char reply[QGA_REPLY_MAX];
	char command[128];
	int fd, err;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		err = -errno;
		goto fail;
	}
	snprintf(command, sizeof(command),
		 "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":%d}}", QGA_SYNC_ID);
	err = (int)qga_call(fd, command, reply, sizeof(reply));
	if (err < 0)
		goto fail;
	if (qga_reply_int(reply, "return") != QGA_SYNC_ID) {
		err = -EPROTO;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

/* Reads one newline-terminated reply a byte block at a time. qemu-ga sends
 * nothing unrequested, so no bytes of a later reply are read here. */
static ssize_t read_reply(int fd, char *reply, size_t max)
{
	size_t have = 0;

	while (have + 1 < max) {
		ssize_t n = read(fd, reply + have, max - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		have += (size_t)n;
		if (reply[have - 1] == '\n') {
			reply[have] = '\0';
			return (ssize_t)have;
		}
	}
	return -EPROTO;
}

ssize_t qga_call(int fd, const char *command, char *reply, size_t max)
{
	ssize_t len;
	int err;

	err = write_full(fd, command, strlen(command));
	if (err < 0)
		return err;
	err = write_full(fd, "\n", 1);
	if (err < 0)
		return err;
	len = read_reply(fd, reply, max);
	if (len < 0)
		return len;
	if (strstr(reply, "\"error\""))
		return -EPROTO;
	return len;
}

long long qga_reply_int(const char *reply, const char *key)
{
	char pattern[64];
	const char *at;

	snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	at = strstr(reply, pattern);
	if (!at)
		return -1;
	return strtoll(at + strlen(pattern), NULL, 10);
}

int qga_reply_true(const char *reply, const char *key)
{
	char pattern[64];
	const char *at;

	snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	at = strstr(reply, pattern);
	if (!at)
		return 0;
	at += strlen(pattern);
	while (*at == ' ')
		at++;
	return strncmp(at, "true", 4) == 0;
}
