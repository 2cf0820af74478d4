/* The sending side of a copy: walks a file or tree without following symlinks
 * and streams entries, file contents (data ranges only, so holes stay holes)
 * and each file's SHA-256. */
#include "copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame.h"
#include "sha256.h"

/* A file with more than one link, remembered so later links become HARDLINK
 * entries naming the first. */
struct link_seen {
	dev_t dev;
	ino_t ino;
	char *name;
};

struct sender {
	struct copy_stream *stream;
	struct copy_report *report;
	uint8_t *buffer;         /* EMBER_CHUNK_MAX bytes */
	struct link_seen *links;
	size_t link_count, link_capacity;
	int stream_error;        /* set when the peer is gone */
};

static void fill_entry(Ember__CopyEntry *entry, const char *name, const struct stat *st)
{
	entry->name.data = (uint8_t *)(uintptr_t)name;
	entry->name.len = strlen(name);
	entry->mode = st->st_mode & 07777;
	entry->uid = st->st_uid;
	entry->gid = st->st_gid;
	entry->mtime_sec = st->st_mtim.tv_sec;
	entry->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
}

static int send_failed(struct sender *sender, int err, const char *name)
{
	sender->stream_error = err;
	return copy_report_fail(sender->report, err, name, "failed to send '%s': %s", name,
				strerror(-err));
}

static const char *hardlink_source(struct sender *sender, const struct stat *st)
{
	for (size_t i = 0; i < sender->link_count; i++)
		if (sender->links[i].dev == st->st_dev && sender->links[i].ino == st->st_ino)
			return sender->links[i].name;
	return NULL;
}

static int remember_link(struct sender *sender, const struct stat *st, const char *name)
{
	if (sender->link_count == sender->link_capacity) {
		if (sender->link_capacity >= COPY_ENTRIES_MAX)
			return -E2BIG;
		size_t capacity = sender->link_capacity ? 2 * sender->link_capacity : 64;
		struct link_seen *links = realloc(sender->links, capacity * sizeof(*links));
		if (!links)
			return -ENOMEM;
		sender->links = links;
		sender->link_capacity = capacity;
	}
	char *copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	sender->links[sender->link_count++] = (struct link_seen){ st->st_dev, st->st_ino, copy };
	return 0;
}

/* Sends [offset, end) of fd, or up to end of file when end is UINT64_MAX.
 * Returns the offset reached or -errno. */
static int64_t send_range(struct sender *sender, int fd, uint64_t offset, uint64_t end,
			  struct sha256 *hash, const char *name)
{
	while (offset < end) {
		size_t want = EMBER_CHUNK_MAX;
		if (end - offset < want)
			want = (size_t)(end - offset);
		ssize_t n = pread(fd, sender->buffer, want, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return copy_report_fail(sender->report, -errno, name,
						"failed to read '%s': %s", name, strerror(errno));
		if (n == 0)
			break;
		sha256_update(hash, sender->buffer, (size_t)n);
		int r = copy_stream_send_data(sender->stream, offset, sender->buffer, (size_t)n);
		if (r < 0)
			return send_failed(sender, r, name);
		offset += (uint64_t)n;
	}
	return (int64_t)offset;
}

/* Sends the data ranges of a sparse file, found with SEEK_DATA and SEEK_HOLE;
 * the holes between them are hashed as zeros. Stores the file's final length
 * in *final_size. Returns 0 or -errno; -EOPNOTSUPP when the filesystem cannot
 * tell data from holes (then nothing was sent). */
static int64_t send_sparse(struct sender *sender, int fd, uint64_t size, struct sha256 *hash,
			   const char *name, uint64_t *final_size)
{
	uint64_t hashed = 0;
	while (hashed < size) {
		off_t data = lseek(fd, (off_t)hashed, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;  /* only a hole remains */
		if (data < 0 && errno == EINVAL && hashed == 0)
			return -EOPNOTSUPP;
		if (data < 0)
			return copy_report_fail(sender->report, -errno, name,
						"failed to find data in '%s': %s", name,
						strerror(errno));
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return copy_report_fail(sender->report, -errno, name,
						"failed to find a hole in '%s': %s", name,
						strerror(errno));
		sha256_update_zeros(hash, (uint64_t)data - hashed);
		int64_t reached = send_range(sender, fd, (uint64_t)data, (uint64_t)hole, hash, name);
		if (reached < 0)
			return reached;
		hashed = (uint64_t)reached;
		if (reached < hole) {
			*final_size = hashed;  /* the file ended early */
			return 0;
		}
	}

	/* A trailing hole, then whatever was appended after the stat. */
	sha256_update_zeros(hash, size - hashed);
	int64_t reached = send_range(sender, fd, size, UINT64_MAX, hash, name);
	if (reached < 0)
		return reached;
	*final_size = (uint64_t)reached;
	return 0;
}

static int send_file(struct sender *sender, int at_fd, const char *base, const char *name,
		     const struct stat *st)
{
	/* O_NONBLOCK: a FIFO swapped in after the lstat must not block the
	 * open, and a file whose reads would wait forever fails instead. */
	int fd = openat(at_fd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return copy_report_fail(sender->report, -errno, name, "failed to open '%s': %s",
					name, strerror(errno));
	struct stat opened;
	if (fstat(fd, &opened) < 0 || !S_ISREG(opened.st_mode)) {
		close(fd);
		return copy_report_fail(sender->report, -EAGAIN, name,
					"failed to open '%s': it stopped being a regular file "
					"during the copy; copy it again", name);
	}

	Ember__CopyEntry entry = EMBER__COPY_ENTRY__INIT;
	fill_entry(&entry, name, st);
	entry.type = EMBER__COPY_ENTRY__TYPE__FILE;
	entry.size = (uint64_t)st->st_size;
	int r = copy_stream_send_entry(sender->stream, &entry);
	if (r < 0) {
		close(fd);
		return send_failed(sender, r, name);
	}

	/* A file whose allocated blocks cover less than its size has holes, and
	 * only its data ranges are sent. Files of /proc report size 0 and are read
	 * to end of file; /sys files report 4096 bytes and no blocks, so a data
	 * range that ends early also ends the file. */
	struct sha256 hash;
	sha256_init(&hash);
	uint64_t size = (uint64_t)st->st_size;
	int64_t reached = -EOPNOTSUPP;
	uint64_t final_size = 0;
	if ((uint64_t)st->st_blocks * 512 < size)
		reached = send_sparse(sender, fd, size, &hash, name, &final_size);
	if (reached == -EOPNOTSUPP) {
		sha256_init(&hash);
		reached = send_range(sender, fd, 0, UINT64_MAX, &hash, name);
		final_size = reached < 0 ? 0 : (uint64_t)reached;
	}
	close(fd);
	if (reached < 0)
		return (int)reached;

	uint8_t digest[SHA256_DIGEST_SIZE];
	sha256_final(&hash, digest);
	r = copy_stream_send_file_end(sender->stream, digest, final_size);
	if (r < 0)
		return send_failed(sender, r, name);
	sender->report->bytes += final_size;
	return 0;
}

static int send_symlink(struct sender *sender, int at_fd, const char *base, const char *name,
			const struct stat *st)
{
	char target[COPY_NAME_MAX + 1];
	ssize_t n = readlinkat(at_fd, base, target, sizeof(target));
	if (n < 0)
		return copy_report_fail(sender->report, -errno, name,
					"failed to read symlink '%s': %s", name, strerror(errno));
	if ((size_t)n > COPY_NAME_MAX)
		return copy_report_fail(sender->report, -ENAMETOOLONG, name,
					"symlink target of '%s' is longer than %d bytes", name,
					COPY_NAME_MAX);

	Ember__CopyEntry entry = EMBER__COPY_ENTRY__INIT;
	fill_entry(&entry, name, st);
	entry.type = EMBER__COPY_ENTRY__TYPE__SYMLINK;
	entry.link_target.data = (uint8_t *)target;
	entry.link_target.len = (size_t)n;
	int r = copy_stream_send_entry(sender->stream, &entry);
	return r < 0 ? send_failed(sender, r, name) : 0;
}

static int send_entry(struct sender *sender, int at_fd, const char *base, const char *name,
		      int depth);

static int send_directory(struct sender *sender, int at_fd, const char *base, const char *name,
			  const struct stat *st, int depth)
{
	if (depth >= COPY_DEPTH_MAX)
		return copy_report_fail(sender->report, -ELOOP, name,
					"'%s' is nested deeper than %d directories", name,
					COPY_DEPTH_MAX);

	int fd = openat(at_fd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return copy_report_fail(sender->report, -errno, name,
					"failed to open directory '%s': %s", name, strerror(errno));
	DIR *dir = fdopendir(fd);
	if (!dir) {
		int err = -errno;
		close(fd);
		return copy_report_fail(sender->report, err, name,
					"failed to open directory '%s': %s", name, strerror(-err));
	}

	Ember__CopyEntry entry = EMBER__COPY_ENTRY__INIT;
	fill_entry(&entry, name, st);
	entry.type = EMBER__COPY_ENTRY__TYPE__DIRECTORY;
	int r = copy_stream_send_entry(sender->stream, &entry);
	if (r < 0) {
		closedir(dir);
		return send_failed(sender, r, name);
	}

	struct dirent *child;
	while (r == 0) {
		errno = 0;
		child = readdir(dir);
		if (!child) {
			if (errno != 0)
				r = copy_report_fail(sender->report, -errno, name,
						     "failed to read directory '%s': %s", name,
						     strerror(errno));
			break;
		}
		if (strcmp(child->d_name, ".") == 0 || strcmp(child->d_name, "..") == 0)
			continue;

		size_t len = strlen(name) + 1 + strlen(child->d_name);
		if (len > COPY_NAME_MAX) {
			r = copy_report_fail(sender->report, -ENAMETOOLONG, name,
					     "a name in '%s' is longer than %d bytes", name,
					     COPY_NAME_MAX);
			break;
		}
		char *child_name = malloc(len + 1);
		if (!child_name) {
			r = -ENOMEM;
			break;
		}
		size_t name_len = strlen(name);
		char *p = child_name;
		if (name_len > 0) {
			memcpy(p, name, name_len);
			p += name_len;
			*p++ = '/';
		}
		memcpy(p, child->d_name, strlen(child->d_name) + 1);
		r = send_entry(sender, dirfd(dir), child->d_name, child_name, depth + 1);
		free(child_name);
	}
	closedir(dir);
	return r;
}

static int send_entry(struct sender *sender, int at_fd, const char *base, const char *name,
		      int depth)
{
	struct stat st;
	if (fstatat(at_fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return copy_report_fail(sender->report, -errno, name, "failed to stat '%s': %s",
					name, strerror(errno));

	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		break;
	case S_IFDIR:
		return send_directory(sender, at_fd, base, name, &st, depth);
	case S_IFLNK:
		return send_symlink(sender, at_fd, base, name, &st);
	case S_IFIFO:
		copy_report_warn(sender->report, "skipped FIFO '%s'", name);
		return 0;
	case S_IFSOCK:
		copy_report_warn(sender->report, "skipped socket '%s'", name);
		return 0;
	default:
		copy_report_warn(sender->report, "skipped device node '%s'", name);
		return 0;
	}

	if (st.st_nlink > 1) {
		const char *first = hardlink_source(sender, &st);
		if (first) {
			Ember__CopyEntry entry = EMBER__COPY_ENTRY__INIT;
			fill_entry(&entry, name, &st);
			entry.type = EMBER__COPY_ENTRY__TYPE__HARDLINK;
			entry.link_target.data = (uint8_t *)(uintptr_t)first;
			entry.link_target.len = strlen(first);
			int r = copy_stream_send_entry(sender->stream, &entry);
			return r < 0 ? send_failed(sender, r, name) : 0;
		}
		int r = remember_link(sender, &st, name);
		if (r < 0)
			return copy_report_fail(sender->report, r, name,
						"failed to remember hardlink '%s': %s", name,
						strerror(-r));
	}
	return send_file(sender, at_fd, base, name, &st);
}

int copy_send_tree(struct copy_stream *stream, const char *path,
		   const struct copy_send_options *options, struct copy_report *report)
{
	struct sender sender = { .stream = stream, .report = report };
	sender.buffer = malloc(EMBER_CHUNK_MAX);
	if (!sender.buffer)
		return copy_report_fail(report, -ENOMEM, path, "out of memory");

	/* The root is opened through its parent so that a symlink as the source
	 * is sent as a symlink, unless the caller asked to follow it. */
	char *parent = options && options->follow_root_link ? realpath(path, NULL) : strdup(path);
	char *base = parent ? strrchr(parent, '/') : NULL;
	int r;
	int parent_fd = -1;
	if (!parent) {
		r = copy_report_fail(report, -errno, path, "failed to resolve '%s': %s", path,
				     strerror(errno));
		goto out;
	}
	if (base) {
		*base++ = '\0';
		parent_fd = open(parent[0] ? parent : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	} else {
		base = parent;
		parent_fd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	if (parent_fd < 0) {
		r = copy_report_fail(report, -errno, path, "failed to open '%s': %s", path,
				     strerror(errno));
		goto out;
	}
	if (base[0] == '\0')
		base = ".";  /* "/" itself, or a path ending in '/' */

	r = send_entry(&sender, parent_fd, base, "", 0);
	if (r == 0) {
		r = copy_stream_send_end(stream);
		if (r < 0)
			r = send_failed(&sender, r, "");
		else
			report->entries = stream->entries;  /* for CopyResult.entries */
	}
out:
	if (parent_fd >= 0)
		close(parent_fd);
	free(parent);
	for (size_t i = 0; i < sender.link_count; i++)
		free(sender.links[i].name);
	free(sender.links);
	free(sender.buffer);
	return r;
}
