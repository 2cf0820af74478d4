/* Entry-name checks and symlink-free resolution beneath a copy's destination. */
#include "copy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int copy_name_check(const char *name, size_t len)
{
	/* An empty protobuf-c bytes field has a NULL buffer, which memchr must
	 * not get even with a zero length. */
	if (len == 0)
		return 0;
	if (len > COPY_NAME_MAX || memchr(name, '\0', len) != NULL)
		return -EINVAL;

	const char *p = name, *end = name + len;
	while (p <= end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *stop = slash ? slash : end;
		size_t part = (size_t)(stop - p);
		if (part == 0)
			return -EINVAL;  /* leading '/', "//" or a trailing '/' */
		if ((part == 1 && p[0] == '.') || (part == 2 && p[0] == '.' && p[1] == '.'))
			return -EINVAL;
		if (!slash)
			break;
		p = slash + 1;
	}
	return 0;
}

int copy_link_check(const char *name, const char *target)
{
	if (target[0] == '\0' || target[0] == '/')
		return -EXDEV;

	/* The link sits in the directory of name, that many levels below the root. */
	long depth = 0;
	for (const char *p = name; *p; p++)
		if (*p == '/')
			depth++;

	const char *p = target;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t part = slash ? (size_t)(slash - p) : strlen(p);
		if (part == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return -EXDEV;
		} else if (part > 0 && !(part == 1 && p[0] == '.')) {
			depth++;
		}
		if (!slash)
			break;
		p = slash + 1;
	}
	return 0;
}

int copy_open_by_walk(int dirfd, const char *path, int flags, mode_t mode)
{
	if (path[0] == '\0')
		path = ".";
	if (path[0] == '/')
		return -EXDEV;
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;

	int fd = dup(dirfd);
	int err = fd < 0 ? -errno : 0;
	char *part = copy;
	while (err == 0) {
		char *slash = strchr(part, '/');
		if (slash)
			*slash = '\0';
		if (strcmp(part, "..") == 0 || part[0] == '\0') {
			err = -EXDEV;  /* as RESOLVE_BENEATH reports an escape */
			close(fd);
			fd = -1;
			break;
		}
		int next = slash ? openat(fd, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
				 : openat(fd, part, flags | O_NOFOLLOW | O_CLOEXEC, mode);
		if (next < 0)
			err = -errno;
		close(fd);
		fd = next;
		if (!slash)
			break;
		part = slash + 1;
	}
	free(copy);
	return err < 0 ? err : fd;
}

int copy_open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	if (path[0] == '\0')
		path = ".";

	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd;
	do {
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	} while (fd < 0 && (errno == EINTR || errno == EAGAIN));
	if (fd >= 0)
		return fd;
	if (errno != ENOSYS)
		return -errno;
	return copy_open_by_walk(dirfd, path, flags, mode);
}
