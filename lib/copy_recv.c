/* The receiving side of a copy: checks every entry the peer sends, creates it
 * beneath the destination without following symlinks, and moves each file into
 * place only after its content, length and SHA-256 were verified and fsync'd. */
#include "copy.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "sha256.h"

/* A directory whose mode, owner and mtime are applied after its contents,
 * because writing inside it changes its mtime and its mode may forbid writes. */
struct pending_dir {
	char *path;
	uint32_t mode, uid, gid;
	struct timespec mtime;
};

/* An open-addressing hash index from a path to its position in one of the
 * receiver's arrays, so lookups stay constant-time in large trees. */
struct name_index {
	size_t *slots;           /* position + 1, or 0 for an empty slot */
	size_t capacity;         /* a power of two */
};

/* The file being received. */
struct open_file {
	int fd;                  /* -1 when no file is open */
	int dir_fd;
	char *path;              /* relative to the receiver's parent_fd */
	char *temp_name;         /* named temporary file, when O_TMPFILE is unsupported */
	uint64_t written;        /* end of the last data range */
	struct sha256 hash;
	Ember__CopyEntry meta;
};

struct receiver {
	struct copy_stream *stream;
	struct copy_report *report;
	const struct copy_recv_options *options;
	int parent_fd;
	const char *root_name;
	uint64_t size_max;
	struct pending_dir *dirs;
	size_t dir_count, dir_capacity;
	struct name_index dir_index;
	char **files;            /* paths of received files, the valid hardlink targets */
	size_t file_count, file_capacity;
	struct name_index file_index;
	uint64_t entry_count;
	unsigned temp_counter;
	struct open_file file;
};

/* Maps an entry name to its path below parent_fd. Returns a new string or NULL. */
static char *entry_path(const struct receiver *receiver, const char *name)
{
	const char *root = receiver->root_name ? receiver->root_name : "";
	size_t root_len = strlen(root), name_len = strlen(name);
	char *path = malloc(root_len + name_len + 2);
	if (!path)
		return NULL;
	memcpy(path, root, root_len);
	size_t at = root_len;
	if (root_len > 0 && name_len > 0)
		path[at++] = '/';
	memcpy(path + at, name, name_len + 1);
	return path;
}

/* Opens the directory that contains path and points *base at the last
 * component. Returns a descriptor or -errno. */
static int open_parent(const struct receiver *receiver, char *path, const char **base)
{
	char *slash = strrchr(path, '/');
	if (!slash) {
		*base = path;
		return copy_open_beneath(receiver->parent_fd, "", O_RDONLY | O_DIRECTORY, 0);
	}
	*slash = '\0';
	int fd = copy_open_beneath(receiver->parent_fd, path, O_RDONLY | O_DIRECTORY, 0);
	*slash = '/';
	*base = slash + 1;
	return fd;
}

static void make_temp_name(struct receiver *receiver, char *buf, size_t size)
{
	snprintf(buf, size, ".ember-copy.%d.%u", (int)getpid(), receiver->temp_counter++);
}

static mode_t entry_mode(const struct receiver *receiver, uint32_t mode)
{
	return receiver->options->preserve_special ? (mode & 07777) : (mode & 0777);
}

static int fail(struct receiver *receiver, int err, const char *path, const char *action)
{
	return copy_report_fail(receiver->report, err, path, "failed to %s '%s': %s", action, path,
				strerror(-err));
}

typedef const char *(*index_key_fn)(const struct receiver *receiver, size_t position);

static size_t hash_name(const char *name)
{
	size_t hash = 14695981039346656037ull;  /* FNV-1a */
	for (; *name; name++)
		hash = (hash ^ (unsigned char)*name) * 1099511628211ull;
	return hash;
}

/* Returns the position stored for name, or -1. */
static long index_find(const struct receiver *receiver, const struct name_index *index,
		       index_key_fn key, const char *name)
{
	if (index->capacity == 0)
		return -1;
	for (size_t i = hash_name(name) & (index->capacity - 1);; i = (i + 1) & (index->capacity - 1)) {
		if (index->slots[i] == 0)
			return -1;
		if (strcmp(key(receiver, index->slots[i] - 1), name) == 0)
			return (long)(index->slots[i] - 1);
	}
}

static void index_put(const struct receiver *receiver, struct name_index *index,
		      index_key_fn key, size_t position)
{
	size_t i = hash_name(key(receiver, position)) & (index->capacity - 1);
	while (index->slots[i] != 0)
		i = (i + 1) & (index->capacity - 1);
	index->slots[i] = position + 1;
}

/* Adds position (the newest of count entries), growing the table to keep
 * it at most half full. */
static int index_add(const struct receiver *receiver, struct name_index *index, index_key_fn key,
		     size_t position, size_t count)
{
	if (2 * count > index->capacity) {
		size_t capacity = index->capacity ? 2 * index->capacity : 64;
		while (2 * count > capacity)
			capacity *= 2;
		size_t *slots = calloc(capacity, sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		free(index->slots);
		index->slots = slots;
		index->capacity = capacity;
		for (size_t i = 0; i < count; i++)
			if (i != position)
				index_put(receiver, index, key, i);
	}
	index_put(receiver, index, key, position);
	return 0;
}

static const char *dir_key(const struct receiver *receiver, size_t position)
{
	return receiver->dirs[position].path;
}

static const char *file_key(const struct receiver *receiver, size_t position)
{
	return receiver->files[position];
}

/* Records a directory's metadata for finish_directories. A directory named
 * twice (a tar archive may list a parent after a synthesized one) keeps the
 * last metadata. */
static int remember_dir(struct receiver *receiver, const char *path, const Ember__CopyEntry *entry)
{
	long known = index_find(receiver, &receiver->dir_index, dir_key, path);
	if (known >= 0) {
		struct pending_dir *dir = &receiver->dirs[known];
		dir->mode = entry->mode;
		dir->uid = entry->uid;
		dir->gid = entry->gid;
		dir->mtime = (struct timespec){ entry->mtime_sec, entry->mtime_nsec };
		return 0;
	}
	if (receiver->dir_count == receiver->dir_capacity) {
		size_t capacity = receiver->dir_capacity ? 2 * receiver->dir_capacity : 32;
		struct pending_dir *dirs = realloc(receiver->dirs, capacity * sizeof(*dirs));
		if (!dirs)
			return -ENOMEM;
		receiver->dirs = dirs;
		receiver->dir_capacity = capacity;
	}
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	receiver->dirs[receiver->dir_count++] = (struct pending_dir){
		.path = copy,
		.mode = entry->mode,
		.uid = entry->uid,
		.gid = entry->gid,
		.mtime = { entry->mtime_sec, entry->mtime_nsec },
	};
	return index_add(receiver, &receiver->dir_index, dir_key, receiver->dir_count - 1,
			 receiver->dir_count);
}

static int remember_file(struct receiver *receiver, const char *name)
{
	if (index_find(receiver, &receiver->file_index, file_key, name) >= 0)
		return 0;  /* replaced by a later entry of the same name */
	if (receiver->file_count == receiver->file_capacity) {
		size_t capacity = receiver->file_capacity ? 2 * receiver->file_capacity : 64;
		char **files = realloc(receiver->files, capacity * sizeof(*files));
		if (!files)
			return -ENOMEM;
		receiver->files = files;
		receiver->file_capacity = capacity;
	}
	char *copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	receiver->files[receiver->file_count++] = copy;
	return index_add(receiver, &receiver->file_index, file_key, receiver->file_count - 1,
			 receiver->file_count);
}

static bool is_received_file(const struct receiver *receiver, const char *name)
{
	return index_find(receiver, &receiver->file_index, file_key, name) >= 0;
}

/* Replaces base in dir_fd with the entry already linked as temp_name. */
static int move_into_place(int dir_fd, const char *temp_name, const char *base)
{
	if (renameat(dir_fd, temp_name, dir_fd, base) < 0) {
		int err = -errno;
		unlinkat(dir_fd, temp_name, 0);
		return err;
	}
	return 0;
}

static void close_file(struct receiver *receiver)
{
	struct open_file *file = &receiver->file;
	if (file->fd >= 0)
		close(file->fd);
	if (file->temp_name)
		unlinkat(file->dir_fd, file->temp_name, 0);
	if (file->dir_fd >= 0)
		close(file->dir_fd);
	free(file->path);
	free(file->temp_name);
	free(file->meta.name.data);
	memset(file, 0, sizeof(*file));
	file->fd = -1;
	file->dir_fd = -1;
}

static int start_file(struct receiver *receiver, const Ember__CopyEntry *entry, char *path)
{
	struct open_file *file = &receiver->file;
	const char *base;
	int dir_fd = open_parent(receiver, path, &base);
	if (dir_fd < 0)
		return fail(receiver, dir_fd, path, "open the directory of");

	file->dir_fd = dir_fd;
	file->meta = *entry;
	file->meta.name.data = NULL;
	file->meta.link_target.len = 0;
	file->meta.link_target.data = NULL;
	file->meta.user_name = NULL;
	file->meta.group_name = NULL;
	sha256_init(&file->hash);

	/* An unnamed file disappears by itself if this process dies. A named
	 * temporary file is the fallback for filesystems without O_TMPFILE.
	 * NOTE: the tests run only on filesystems with O_TMPFILE, and a named
	 * file stays behind if the process is killed before it unlinks it. */
	file->fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (file->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		char temp[64];
		make_temp_name(receiver, temp, sizeof(temp));
		file->fd = openat(dir_fd, temp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
				  0600);
		if (file->fd >= 0)
			file->temp_name = strdup(temp);
	}
	if (file->fd < 0)
		return fail(receiver, -errno, path, "create");
	(void)base;
	file->path = path;
	return 0;
}

static int receive_data(struct receiver *receiver, const Ember__CopyData *data)
{
	struct open_file *file = &receiver->file;
	if (file->fd < 0)
		return copy_report_fail(receiver->report, -EBADMSG, "",
					"invalid copy stream: data outside a file");
	if (data->offset < file->written)
		return copy_report_fail(receiver->report, -EBADMSG, file->path,
					"invalid copy stream: data for '%s' at offset %llu goes "
					"backwards from %llu", file->path,
					(unsigned long long)data->offset,
					(unsigned long long)file->written);
	if (data->offset > receiver->size_max ||
	    data->data.len > receiver->size_max - data->offset)
		return copy_report_fail(receiver->report, -EFBIG, file->path,
					"'%s' is larger than the limit of %llu bytes", file->path,
					(unsigned long long)receiver->size_max);

	sha256_update_zeros(&file->hash, data->offset - file->written);
	sha256_update(&file->hash, data->data.data, data->data.len);

	size_t done = 0;
	while (done < data->data.len) {
		ssize_t n = pwrite(file->fd, data->data.data + done, data->data.len - done,
				   (off_t)(data->offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(receiver, -errno, file->path, "write");
		if (n == 0)
			return fail(receiver, -EIO, file->path, "write");
		done += (size_t)n;
	}
	file->written = data->offset + data->data.len;
	return 0;
}

/* An fsync running on its own thread, so the receiver can keep sending
 * progress frames while a large file reaches the disk. */
struct fsync_job {
	int fd;
	int result;
	bool done;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void *run_fsync(void *data)
{
	struct fsync_job *job = data;
	int result = fsync(job->fd) < 0 ? -errno : 0;
	pthread_mutex_lock(&job->lock);
	job->result = result;
	job->done = true;
	pthread_cond_signal(&job->cond);
	pthread_mutex_unlock(&job->lock);
	return NULL;
}

/* Returns 0 or -errno of fsync. With send_progress, a CopyProgress frame goes
 * out every COPY_PROGRESS_INTERVAL_MS until the fsync ends. */
static int fsync_with_progress(struct receiver *receiver, int fd)
{
	struct fsync_job job = { .fd = fd };
	pthread_t thread;
	if (!receiver->options->send_progress)
		return fsync(fd) < 0 ? -errno : 0;
	pthread_mutex_init(&job.lock, NULL);
	pthread_cond_init(&job.cond, NULL);
	if (pthread_create(&thread, NULL, run_fsync, &job) != 0) {
		run_fsync(&job);
	} else {
		pthread_mutex_lock(&job.lock);
		while (!job.done) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += COPY_PROGRESS_INTERVAL_MS / 1000;
			pthread_cond_timedwait(&job.cond, &job.lock, &until);
			if (job.done)
				break;
			pthread_mutex_unlock(&job.lock);
			copy_stream_send_progress(receiver->stream);
			pthread_mutex_lock(&job.lock);
		}
		pthread_mutex_unlock(&job.lock);
		pthread_join(thread, NULL);
	}
	pthread_mutex_destroy(&job.lock);
	pthread_cond_destroy(&job.cond);
	return job.result;
}

/* Applies owner, mode and mtime to an open file. The owner comes first because
 * fchown clears the setuid and setgid bits. */
static int apply_metadata(struct receiver *receiver, int fd, uint32_t mode, uint32_t uid,
			  uint32_t gid, struct timespec mtime)
{
	if (receiver->options->preserve_owner && fchown(fd, uid, gid) < 0)
		return -errno;
	if (fchmod(fd, entry_mode(receiver, mode)) < 0)
		return -errno;
	struct timespec times[2] = { { .tv_nsec = UTIME_OMIT }, mtime };
	if (futimens(fd, times) < 0)
		return -errno;
	return 0;
}

static int finish_file(struct receiver *receiver, const Ember__CopyFileEnd *end)
{
	struct open_file *file = &receiver->file;
	if (file->fd < 0)
		return copy_report_fail(receiver->report, -EBADMSG, "",
					"invalid copy stream: end of a file that was not started");
	if (end->size > receiver->size_max)
		return copy_report_fail(receiver->report, -EFBIG, file->path,
					"'%s' is larger than the limit of %llu bytes", file->path,
					(unsigned long long)receiver->size_max);
	if (end->size < file->written)
		return copy_report_fail(receiver->report, -EBADMSG, file->path,
					"invalid copy stream: '%s' has data beyond its length %llu",
					file->path, (unsigned long long)end->size);
	if (end->sha256.len != SHA256_DIGEST_SIZE)
		return copy_report_fail(receiver->report, -EBADMSG, file->path,
					"invalid copy stream: '%s' has no SHA-256", file->path);

	/* Extending the length creates the trailing hole, if any. */
	if (ftruncate(file->fd, (off_t)end->size) < 0)
		return fail(receiver, -errno, file->path, "set the length of");
	sha256_update_zeros(&file->hash, end->size - file->written);
	uint8_t digest[SHA256_DIGEST_SIZE];
	sha256_final(&file->hash, digest);
	if (memcmp(digest, end->sha256.data, SHA256_DIGEST_SIZE) != 0)
		return copy_report_fail(receiver->report, -EILSEQ, file->path,
					"checksum mismatch for '%s': the received content differs "
					"from the sender's SHA-256", file->path);

	struct timespec mtime = { file->meta.mtime_sec, file->meta.mtime_nsec };
	int r = apply_metadata(receiver, file->fd, file->meta.mode, file->meta.uid, file->meta.gid,
			       mtime);
	if (r < 0)
		return fail(receiver, r, file->path, "set owner, mode or mtime of");
	if (receiver->options->send_progress) {
		r = copy_stream_send_progress(receiver->stream);
		if (r < 0)
			return fail(receiver, r, file->path, "send progress for");
	}
	r = fsync_with_progress(receiver, file->fd);
	if (r < 0)
		return fail(receiver, r, file->path, "fsync");

	char *slash = strrchr(file->path, '/');
	const char *base = slash ? slash + 1 : file->path;
	if (!file->temp_name) {
		char temp[64], proc_path[64];
		make_temp_name(receiver, temp, sizeof(temp));
		snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", file->fd);
		r = linkat(AT_FDCWD, proc_path, file->dir_fd, temp, AT_SYMLINK_FOLLOW);
		if (r < 0 && errno == ENOENT)
			r = linkat(file->fd, "", file->dir_fd, temp, AT_EMPTY_PATH);
		if (r < 0)
			return fail(receiver, -errno, file->path, "link");
		file->temp_name = strdup(temp);
		if (!file->temp_name) {
			unlinkat(file->dir_fd, temp, 0);
			return fail(receiver, -ENOMEM, file->path, "link");
		}
	}
	r = move_into_place(file->dir_fd, file->temp_name, base);
	free(file->temp_name);
	file->temp_name = NULL;
	if (r < 0)
		return fail(receiver, r, file->path, "rename into place");

	r = remember_file(receiver, file->path);
	receiver->report->bytes += end->size;
	close_file(receiver);
	return r;
}

static int make_directory(struct receiver *receiver, const Ember__CopyEntry *entry, char *path)
{
	if (path[0] == '\0')
		return 0;  /* the root merges into an existing directory */

	const char *base;
	int dir_fd = open_parent(receiver, path, &base);
	if (dir_fd < 0)
		return fail(receiver, dir_fd, path, "open the directory of");
	int r = 0;
	bool existed = false;
	if (mkdirat(dir_fd, base, 0700) < 0) {
		struct stat st;
		existed = true;
		if (errno != EEXIST)
			r = fail(receiver, -errno, path, "create directory");
		else if (fstatat(dir_fd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
			r = fail(receiver, -errno, path, "stat");
		else if (!S_ISDIR(st.st_mode))
			r = copy_report_fail(receiver->report, -EEXIST, path,
					     "failed to create directory '%s': a file that is not a "
					     "directory exists there", path);
	}
	close(dir_fd);
	if (r == 0 && !(entry->implied && existed))
		r = remember_dir(receiver, path, entry);
	return r;
}

static int make_link(struct receiver *receiver, const Ember__CopyEntry *entry, char *path,
		     const char *target)
{
	const char *base;
	int dir_fd = open_parent(receiver, path, &base);
	if (dir_fd < 0)
		return fail(receiver, dir_fd, path, "open the directory of");

	char temp[64];
	make_temp_name(receiver, temp, sizeof(temp));
	int r = 0;
	if (entry->type == EMBER__COPY_ENTRY__TYPE__SYMLINK) {
		if (symlinkat(target, dir_fd, temp) < 0) {
			r = fail(receiver, -errno, path, "create symlink");
			goto out;
		}
		struct timespec times[2] = { { .tv_nsec = UTIME_OMIT },
					     { entry->mtime_sec, entry->mtime_nsec } };
		if ((receiver->options->preserve_owner &&
		     fchownat(dir_fd, temp, entry->uid, entry->gid, AT_SYMLINK_NOFOLLOW) < 0) ||
		    utimensat(dir_fd, temp, times, AT_SYMLINK_NOFOLLOW) < 0) {
			r = fail(receiver, -errno, path, "set owner or mtime of symlink");
			unlinkat(dir_fd, temp, 0);
			goto out;
		}
	} else {
		char *target_path = entry_path(receiver, target);
		const char *target_base;
		int target_dir = target_path ? open_parent(receiver, target_path, &target_base)
					     : -ENOMEM;
		if (target_dir < 0) {
			r = fail(receiver, target_dir, path, "open the hardlink target of");
			free(target_path);
			goto out;
		}
		if (linkat(target_dir, target_base, dir_fd, temp, 0) < 0)
			r = fail(receiver, -errno, path, "create hardlink");
		close(target_dir);
		free(target_path);
		if (r < 0)
			goto out;
	}
	r = move_into_place(dir_fd, temp, base);
	if (r < 0)
		r = fail(receiver, r, path, "rename into place");
out:
	close(dir_fd);
	return r;
}

static int receive_entry(struct receiver *receiver, const Ember__CopyEntry *entry)
{
	if (receiver->file.fd >= 0)
		return copy_report_fail(receiver->report, -EBADMSG, receiver->file.path,
					"invalid copy stream: a new entry before the end of '%s'",
					receiver->file.path);
	if (++receiver->entry_count > COPY_ENTRIES_MAX)
		return copy_report_fail(receiver->report, -E2BIG, "",
					"the copy has more than %u entries", COPY_ENTRIES_MAX);

	char name[COPY_NAME_MAX + 1];
	if (copy_name_check((const char *)entry->name.data, entry->name.len) < 0) {
		snprintf(name, sizeof(name), "%.*s", (int)entry->name.len,
			 (const char *)entry->name.data);
		return copy_report_fail(receiver->report, -EINVAL, "",
					"invalid entry name '%s': names must be relative, without "
					"'.' or '..' components", name);
	}
	if (entry->name.len > 0)
		memcpy(name, entry->name.data, entry->name.len);
	name[entry->name.len] = '\0';

	char target[COPY_NAME_MAX + 1] = "";
	if (entry->type == EMBER__COPY_ENTRY__TYPE__SYMLINK ||
	    entry->type == EMBER__COPY_ENTRY__TYPE__HARDLINK) {
		if (entry->link_target.len > COPY_NAME_MAX ||
		    (entry->link_target.len > 0 &&
		     memchr(entry->link_target.data, '\0', entry->link_target.len)))
			return copy_report_fail(receiver->report, -EINVAL, name,
						"invalid link target for '%s'", name);
		if (entry->link_target.len > 0)
			memcpy(target, entry->link_target.data, entry->link_target.len);
		target[entry->link_target.len] = '\0';
	}

	char *path = entry_path(receiver, name);
	if (!path)
		return copy_report_fail(receiver->report, -ENOMEM, name, "out of memory");
	if (path[0] == '\0' && entry->type != EMBER__COPY_ENTRY__TYPE__DIRECTORY) {
		free(path);
		return copy_report_fail(receiver->report, -EISDIR, name,
					"cannot copy a file into the directory itself: name a "
					"destination inside it");
	}

	int r;
	switch (entry->type) {
	case EMBER__COPY_ENTRY__TYPE__FILE:
		if (entry->size > receiver->size_max) {
			r = copy_report_fail(receiver->report, -EFBIG, path,
					     "'%s' is larger than the limit of %llu bytes", path,
					     (unsigned long long)receiver->size_max);
			break;
		}
		r = start_file(receiver, entry, path);
		if (r == 0) {
			receiver->file.meta.name.data = (uint8_t *)strdup(name);
			return 0;  /* path now belongs to the open file */
		}
		break;
	case EMBER__COPY_ENTRY__TYPE__DIRECTORY:
		r = make_directory(receiver, entry, path);
		break;
	case EMBER__COPY_ENTRY__TYPE__SYMLINK:
		if (copy_link_check(name, target) < 0) {
			r = copy_report_fail(receiver->report, -EXDEV, path,
					     "rejected symlink '%s' -> '%s': it points outside the "
					     "destination; leave it out of the copy, or copy out to "
					     "'-' for a tar archive that keeps it", path, target);
			break;
		}
		r = make_link(receiver, entry, path, target);
		break;
	case EMBER__COPY_ENTRY__TYPE__HARDLINK: {
		char *target_path = entry_path(receiver, target);
		bool known = copy_name_check(target, strlen(target)) == 0 && target_path &&
			     is_received_file(receiver, target_path);
		free(target_path);
		if (!known) {
			r = copy_report_fail(receiver->report, -EINVAL, path,
					     "rejected hardlink '%s' -> '%s': the target is not a "
					     "file received earlier in this copy", path, target);
			break;
		}
		r = make_link(receiver, entry, path, target);
		break;
	}
	default:
		r = copy_report_fail(receiver->report, -EINVAL, path,
				     "rejected entry '%s': unsupported type %d", path,
				     (int)entry->type);
		break;
	}
	free(path);
	return r;
}

/* Applies the directories' metadata, deepest first, once their contents exist. */
/* Gives each received directory its mode, owner and mtime, innermost first,
 * and fsyncs it. */
static int finish_directories(struct receiver *receiver)
{
	for (size_t i = receiver->dir_count; i-- > 0;) {
		struct pending_dir *dir = &receiver->dirs[i];
		int fd = copy_open_beneath(receiver->parent_fd, dir->path,
					   O_RDONLY | O_DIRECTORY, 0);
		if (fd < 0)
			return fail(receiver, fd, dir->path, "open directory");
		int r = apply_metadata(receiver, fd, dir->mode, dir->uid, dir->gid, dir->mtime);
		if (r == 0 && fsync(fd) < 0)
			r = -errno;
		close(fd);
		if (r < 0)
			return fail(receiver, r, dir->path, "set owner, mode or mtime of directory");
	}
	return 0;
}

/* After a failure, gives the directories created so far their modes, so they
 * do not stay at the 0700 they were created with. Errors are ignored: the
 * copy has already failed. */
static void restore_directory_modes(struct receiver *receiver)
{
	for (size_t i = receiver->dir_count; i-- > 0;) {
		struct pending_dir *dir = &receiver->dirs[i];
		int fd = copy_open_beneath(receiver->parent_fd, dir->path,
					   O_RDONLY | O_DIRECTORY, 0);
		if (fd < 0)
			continue;
		apply_metadata(receiver, fd, dir->mode, dir->uid, dir->gid, dir->mtime);
		close(fd);
	}
}

static int peer_error(struct receiver *receiver, const Ember__Error *error)
{
	copy_stream_set_peer_error(receiver->stream, error);
	int err = error->errno_value > 0 ? -error->errno_value : -EPROTO;
	int r = copy_report_fail(receiver->report, err, error->path, "%s", error->message);
	receiver->report->peer_failed = true;
	return r;
}

int copy_recv_tree(struct copy_stream *stream, int parent_fd, const char *root_name,
		   const struct copy_recv_options *options, struct copy_report *report)
{
	struct receiver receiver = {
		.stream = stream,
		.report = report,
		.options = options,
		.parent_fd = parent_fd,
		.root_name = root_name,
		.size_max = options->file_size_max ? options->file_size_max
						   : COPY_FILE_SIZE_DEFAULT_MAX,
	};
	receiver.file.fd = -1;
	receiver.file.dir_fd = -1;

	int r = 0;
	bool done = false;
	while (r == 0 && !done) {
		struct copy_frame frame;
		r = copy_stream_recv(stream, &frame);
		if (r < 0) {
			const char *reason = r == -ENODATA || r == -ECONNRESET
					? "the peer closed the connection" : strerror(-r);
			r = copy_report_fail(report, r == -ENODATA ? -ECONNRESET : r,
					     receiver.file.path, "copy interrupted: %s", reason);
			break;
		}
		switch (frame.kind) {
		case COPY_FRAME_ENTRY:
			if (frame.entry->name.len == 0 && !stream->total_bytes &&
			    frame.entry->type == EMBER__COPY_ENTRY__TYPE__FILE)
				stream->total_bytes = frame.entry->size;
			r = receive_entry(&receiver, frame.entry);
			break;
		case COPY_FRAME_DATA:
			r = receive_data(&receiver, frame.data);
			stream->bytes += frame.data->data.len;
			break;
		case COPY_FRAME_FILE_END:
			r = finish_file(&receiver, frame.file_end);
			break;
		case COPY_FRAME_END:
			if (receiver.file.fd >= 0)
				r = copy_report_fail(report, -EBADMSG, receiver.file.path,
						     "invalid copy stream: end before '%s' ended",
						     receiver.file.path);
			else
				r = finish_directories(&receiver);
			done = true;
			break;
		case COPY_FRAME_PROGRESS:
			if (frame.progress->total_bytes)
				stream->total_bytes = frame.progress->total_bytes;
			break;
		case COPY_FRAME_ERROR:
			r = peer_error(&receiver, frame.error);
			break;
		default:
			r = copy_report_fail(report, -EBADMSG, "",
					     "invalid copy stream: unexpected frame");
			break;
		}
		copy_frame_free(&frame);

		if (r == 0 && stream->on_progress && frame.kind != COPY_FRAME_ENTRY)
			stream->on_progress(stream, stream->progress_data);
		if (r == 0 && options->send_progress &&
		    copy_now_ms() - stream->last_progress_ms >= COPY_PROGRESS_INTERVAL_MS)
			r = copy_stream_send_progress(stream);
	}
	stream->entries = receiver.entry_count;
	report->entries = receiver.entry_count;

	close_file(&receiver);
	if (r < 0)
		restore_directory_modes(&receiver);
	for (size_t i = 0; i < receiver.dir_count; i++)
		free(receiver.dirs[i].path);
	free(receiver.dirs);
	for (size_t i = 0; i < receiver.file_count; i++)
		free(receiver.files[i]);
	free(receiver.files);
	free(receiver.dir_index.slots);
	free(receiver.file_index.slots);
	return r;
}
