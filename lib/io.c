/* Full-transfer I/O and descriptor helpers. */
#include "io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, mode);
	int r;

	if (fd < 0)
		return -errno;
	r = write_full(fd, buf, len);
	if (close(fd) < 0 && r == 0 && errno != EINTR)
		r = -errno;
	return r;
}

ssize_t read_file(const char *path, char *buf, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t n;
	char extra;

	if (fd < 0)
		return -errno;
	n = read_full(fd, buf, max - 1);
	if (n >= 0 && (size_t)n == max - 1 && read_full(fd, &extra, 1) == 1)
		n = -EFBIG;
	close(fd);
	if (n < 0)
		return n;
	buf[n] = '\0';
	return n;
}

int fd_set_nonblock(int fd, bool nonblock)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return -errno;
	flags = nonblock ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

int fd_set_cloexec(int fd, bool cloexec)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0)
		return -errno;
	flags = cloexec ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
	return fcntl(fd, F_SETFD, flags) < 0 ? -errno : 0;
}

void close_fds_from(int first)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned int)first, ~0U, 0) == 0)
		return;
#endif
	/* Kernels before 5.9: walk /proc/self/fd, or fall back to the rlimit. */
	DIR *dir = opendir("/proc/self/fd");

	if (dir) {
		int dir_fd = dirfd(dir);
		struct dirent *entry;

		while ((entry = readdir(dir)) != NULL) {
			int fd = atoi(entry->d_name);

			if (fd >= first && fd != dir_fd && entry->d_name[0] != '.')
				close(fd);
		}
		closedir(dir);
		return;
	}
	long max = sysconf(_SC_OPEN_MAX);

	for (long fd = first; fd < (max > 0 ? max : 1024); fd++)
		close((int)fd);
}
