/* A minimal qemu-guest-agent client for the benchmark driver: one persistent
 * connection to qemu-ga's Unix socket, one JSON command per call, the reply
 * read up to its terminating newline. */
#ifndef EMBER_BENCH_QGA_CLIENT_H
#define EMBER_BENCH_QGA_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

/* Largest reply the driver accepts; guest-exec-status and freeze replies are
 * a few dozen bytes. */
#define QGA_REPLY_MAX 4096

/* Connects to qemu-ga listening on the Unix socket path and synchronizes the
 * stream with guest-sync. Returns a descriptor or -errno. */
int qga_connect(const char *path);

/* Sends one command (a JSON object without the newline) and reads its reply
 * into reply (NUL-terminated). Returns the reply length; -EPROTO when the
 * reply is an error object or too long; or -errno. */
ssize_t qga_call(int fd, const char *command, char *reply, size_t max);

/* Returns the integer that follows "key": in reply, or -1 when it is absent. */
long long qga_reply_int(const char *reply, const char *key);

/* Returns 1 when "key": true appears in reply, else 0. */
int qga_reply_true(const char *reply, const char *key);

#endif
