/* Full-transfer I/O and descriptor helpers.
 *
 * Every function returns 0 (or a byte count) on success and -errno on failure,
 * retries EINTR, and continues after short transfers. */
#ifndef EMBER_IO_H
#define EMBER_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Reads until len bytes or end of file. Returns the bytes read (less than len
 * only at end of file) or -errno. EAGAIN on a non-blocking fd is an error. */
ssize_t read_full(int fd, void *buf, size_t len);

/* Writes all len bytes. A write that transfers nothing is -EIO. */
int write_full(int fd, const void *buf, size_t len);

/* Writes a whole file: creates or truncates path with mode, writes, closes. */
int write_file(const char *path, const void *buf, size_t len, mode_t mode);

/* Reads at most max - 1 bytes of path into buf and NUL-terminates it.
 * Returns the length or -errno; -EFBIG when the file does not fit. */
ssize_t read_file(const char *path, char *buf, size_t max);

int fd_set_nonblock(int fd, bool nonblock);
int fd_set_cloexec(int fd, bool cloexec);

/* Closes every descriptor >= first, for a child about to execve. */
void close_fds_from(int first);

#endif
