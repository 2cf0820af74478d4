/* ember_copy_in_tar and ember_copy_out_tar: `emberctl cp -` in both
 * directions, translating between a tar stream and copy frames. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "copy.h"
#include "copy_client.h"
#include "copy_tar.h"
#include "frame.h"
#include "io.h"
#include "sha256.h"

/* Largest content held in memory for a file whose announced size was 0 (files
 * of /proc), whose tar header can only be written once its length is known. */
#define COPY_TAR_SPOOL_MAX (64u * 1024u * 1024u)

/* The tar writer's state for the file being received. */
struct tar_out {
	int fd;
	const char *root;          /* tar name of the root entry */
	uint64_t size_max;
	struct tar_header header;  /* of the open file; name NULL when none */
	bool spooling;
	uint8_t *spool;
	uint64_t written;          /* content bytes emitted or spooled */
	struct sha256 hash;
	struct copy_report *report;
};

static char *tar_name(const char *root, const Ember__CopyEntry *entry)
{
	size_t root_len = strlen(root), len = entry->name.len;
	char *name = malloc(root_len + len + 2);
	if (!name)
		return NULL;
	memcpy(name, root, root_len);
	size_t at = root_len;
	if (len > 0) {
		if (root_len > 0)
			name[at++] = '/';
		memcpy(name + at, entry->name.data, len);
		at += len;
	}
	name[at] = '\0';
	return name;
}

static int write_zeros(int fd, uint64_t len)
{
	static const uint8_t zeros[65536];
	while (len > 0) {
		size_t take = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		int r = write_full(fd, zeros, take);
		if (r < 0)
			return r;
		len -= take;
	}
	return 0;
}

static int out_entry(struct tar_out *out, const Ember__CopyEntry *entry)
{
	char name_text[COPY_NAME_MAX + 1];
	if (out->header.name)
		return copy_report_fail(out->report, -EBADMSG, out->header.name,
					"invalid copy stream: a new entry before the end of '%s'",
					out->header.name);
	if (copy_name_check((const char *)entry->name.data, entry->name.len) < 0 ||
	    entry->link_target.len > COPY_NAME_MAX ||
	    (entry->link_target.len > 0 &&
	     memchr(entry->link_target.data, '\0', entry->link_target.len))) {
		snprintf(name_text, sizeof(name_text), "%.*s", (int)entry->name.len,
			 entry->name.len ? (const char *)entry->name.data : "");
		return copy_report_fail(out->report, -EINVAL, name_text,
					"invalid entry name '%s'", name_text);
	}

	struct tar_header header = { 0 };
	header.name = tar_name(out->root, entry);
	header.link_target = malloc(entry->link_target.len + 1);
	if (!header.name || !header.link_target) {
		tar_header_free(&header);
		return copy_report_fail(out->report, -ENOMEM, "", "out of memory");
	}
	if (entry->link_target.len > 0)
		memcpy(header.link_target, entry->link_target.data, entry->link_target.len);
	header.link_target[entry->link_target.len] = '\0';
	header.mode = entry->mode & 07777;
	header.uid = entry->uid;
	header.gid = entry->gid;
	header.mtime_sec = entry->mtime_sec;
	header.mtime_nsec = entry->mtime_nsec;

	int r = 0;
	switch (entry->type) {
	case EMBER__COPY_ENTRY__TYPE__FILE:
		if (entry->size > out->size_max) {
			r = copy_report_fail(out->report, -EFBIG, header.name,
					     "'%s' is larger than the limit of %llu bytes",
					     header.name, (unsigned long long)out->size_max);
			break;
		}
		header.type = TAR_FILE;
		header.typeflag = '0';
		header.size = entry->size;
		out->header = header;
		out->written = 0;
		out->spooling = entry->size == 0;
		sha256_init(&out->hash);
		if (!out->spooling && (r = tar_write_header(out->fd, &out->header)) < 0)
			r = copy_report_fail(out->report, r, header.name, "failed to write the archive: %s",
					     strerror(-r));
		return r;
	case EMBER__COPY_ENTRY__TYPE__DIRECTORY:
		header.type = TAR_DIRECTORY;
		header.typeflag = '5';
		break;
	case EMBER__COPY_ENTRY__TYPE__SYMLINK:
		header.type = TAR_SYMLINK;
		header.typeflag = '2';
		break;
	case EMBER__COPY_ENTRY__TYPE__HARDLINK: {
		Ember__CopyEntry target = *entry;
		target.name = entry->link_target;
		if (copy_name_check((const char *)target.name.data, target.name.len) < 0) {
			r = copy_report_fail(out->report, -EINVAL, header.name,
					     "rejected hardlink '%s': invalid target", header.name);
			break;
		}
		free(header.link_target);
		header.link_target = tar_name(out->root, &target);
		header.type = TAR_HARDLINK;
		header.typeflag = '1';
		break;
	}
	default:
		r = copy_report_fail(out->report, -EINVAL, header.name,
				     "rejected entry '%s': unsupported type %d", header.name,
				     (int)entry->type);
		break;
	}
	if (r == 0 && header.link_target && (r = tar_write_header(out->fd, &header)) < 0)
		r = copy_report_fail(out->report, r, header.name, "failed to write the archive: %s",
				     strerror(-r));
	tar_header_free(&header);
	return r;
}

static int out_data(struct tar_out *out, const Ember__CopyData *data)
{
	const char *name = out->header.name;
	if (!name)
		return copy_report_fail(out->report, -EBADMSG, "",
					"invalid copy stream: data outside a file");
	uint64_t limit = out->spooling ? COPY_TAR_SPOOL_MAX : out->header.size;
	if (data->offset < out->written || data->offset > limit ||
	    data->data.len > limit - data->offset)
		return copy_report_fail(out->report, -EBADMSG, name,
					"invalid copy stream: data for '%s' at offset %llu is out "
					"of order or beyond its length", name,
					(unsigned long long)data->offset);

	uint64_t gap = data->offset - out->written;
	sha256_update_zeros(&out->hash, gap);
	sha256_update(&out->hash, data->data.data, data->data.len);
	int r = 0;
	if (out->spooling) {
		uint8_t *grown = realloc(out->spool, (size_t)(data->offset + data->data.len));
		if (!grown)
			return copy_report_fail(out->report, -ENOMEM, name, "out of memory");
		out->spool = grown;
		memset(grown + out->written, 0, (size_t)gap);
		memcpy(grown + data->offset, data->data.data, data->data.len);
	} else {
		r = write_zeros(out->fd, gap);
		if (r == 0)
			r = write_full(out->fd, data->data.data, data->data.len);
	}
	if (r < 0)
		return copy_report_fail(out->report, r, name, "failed to write the archive: %s",
					strerror(-r));
	out->written = data->offset + data->data.len;
	return 0;
}

static int out_file_end(struct tar_out *out, const Ember__CopyFileEnd *end)
{
	const char *name = out->header.name;
	if (!name)
		return copy_report_fail(out->report, -EBADMSG, "",
					"invalid copy stream: end of a file that was not started");
	uint64_t expected = out->spooling ? out->written : out->header.size;
	if (end->size < out->written || (out->spooling ? end->size > COPY_TAR_SPOOL_MAX
						     : end->size != expected))
		return copy_report_fail(out->report, -EBADMSG, name,
					"'%s' changed its length from %llu to %llu bytes during "
					"the copy", name, (unsigned long long)out->header.size,
					(unsigned long long)end->size);

	sha256_update_zeros(&out->hash, end->size - out->written);
	uint8_t digest[SHA256_DIGEST_SIZE];
	sha256_final(&out->hash, digest);
	if (end->sha256.len != SHA256_DIGEST_SIZE ||
	    memcmp(digest, end->sha256.data, SHA256_DIGEST_SIZE) != 0)
		return copy_report_fail(out->report, -EILSEQ, name,
					"checksum mismatch for '%s': the received content differs "
					"from the sender's SHA-256", name);

	int r = 0;
	if (out->spooling) {
		out->header.size = end->size;
		r = tar_write_header(out->fd, &out->header);
		if (r == 0)
			r = write_full(out->fd, out->spool, (size_t)out->written);
	}
	if (r == 0)
		r = write_zeros(out->fd, end->size - out->written);
	if (r == 0)
		r = tar_write_padding(out->fd, end->size);
	if (r < 0)
		return copy_report_fail(out->report, r, name, "failed to write the archive: %s",
					strerror(-r));
	out->report->bytes += end->size;
	tar_header_free(&out->header);
	free(out->spool);
	out->spool = NULL;
	return 0;
}

int ember_copy_out_tar(struct ember_client *client, const char *guest_src, int tar_fd,
		       const struct ember_copy_options *options, struct ember_copy_result *result,
		       struct ember_error *err)
{
	static const struct ember_copy_options defaults;
	if (!options)
		options = &defaults;
	if (!guest_src || guest_src[0] != '/')
		return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL,
				       "invalid guest path '%s': it must be absolute",
				       guest_src ? guest_src : "");
	char root[256] = ".";
	if (!copy_path_is_contents(guest_src) && copy_base_name(guest_src, root, sizeof(root)) < 0)
		return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL,
				       "invalid guest source '%s': name a file or directory",
				       guest_src);

	Ember__CopyOutRequest copy = EMBER__COPY_OUT_REQUEST__INIT;
	copy.src = ember_bytes(guest_src);
	copy.user = (char *)(uintptr_t)(options->user ? options->user : "");
	copy.follow_root_link = options->follow_link;
	Ember__Request request = EMBER__REQUEST__INIT;
	request.op_case = EMBER__REQUEST__OP_COPY_OUT;
	request.copy_out = &copy;

	struct copy_client session;
	int r = copy_client_open(&session, client, &request, options, err);
	if (r < 0)
		return r;

	struct copy_report report;
	copy_report_init(&report);
	struct tar_out out = {
		.fd = tar_fd,
		.root = root,
		.size_max = options->file_size_max ? options->file_size_max
						   : COPY_FILE_SIZE_DEFAULT_MAX,
		.report = &report,
	};
	bool done = false;
	while (r == 0 && !done) {
		struct copy_frame frame;
		r = copy_stream_recv(&session.stream, &frame);
		if (r < 0) {
			r = copy_report_fail(&report, r == -ENODATA ? -ECONNRESET : r, "",
					     "copy interrupted: %s", strerror(-r));
			break;
		}
		switch (frame.kind) {
		case COPY_FRAME_ENTRY:
			r = out_entry(&out, frame.entry);
			break;
		case COPY_FRAME_DATA:
			r = out_data(&out, frame.data);
			session.stream.bytes += frame.data->data.len;
			break;
		case COPY_FRAME_FILE_END:
			r = out_file_end(&out, frame.file_end);
			break;
		case COPY_FRAME_END:
			r = tar_write_end(tar_fd);
			if (r < 0)
				r = copy_report_fail(&report, r, "", "failed to write the archive: %s",
						     strerror(-r));
			done = true;
			break;
		case COPY_FRAME_PROGRESS:
			break;
		case COPY_FRAME_ERROR:
			copy_stream_set_peer_error(&session.stream, frame.error);
			r = -EREMOTEIO;
			break;
		default:
			r = copy_report_fail(&report, -EBADMSG, "",
					     "invalid copy stream: unexpected frame");
			break;
		}
		copy_frame_free(&frame);
	}
	if (r < 0)
		r = copy_client_fail(&session, r, &report, err);
	else
		r = copy_client_wait_result(&session, result, err);
	tar_header_free(&out.header);
	free(out.spool);
	copy_report_free(&report);
	copy_client_close(&session);
	return r;
}

/* Directory names already sent, so a member whose parents the archive does
 * not list gets them created first (tar archives of single files omit them). */
struct dir_set {
	char **slots;
	size_t capacity, count;
};

static size_t hash_name(const char *name)
{
	size_t hash = 14695981039346656037ull;  /* FNV-1a */
	for (; *name; name++)
		hash = (hash ^ (unsigned char)*name) * 1099511628211ull;
	return hash;
}

static bool dir_set_contains(const struct dir_set *set, const char *name, size_t len)
{
	if (set->capacity == 0)
		return false;
	char key[COPY_NAME_MAX + 1];
	memcpy(key, name, len);
	key[len] = '\0';
	for (size_t i = hash_name(key) & (set->capacity - 1);; i = (i + 1) & (set->capacity - 1)) {
		if (!set->slots[i])
			return false;
		if (strcmp(set->slots[i], key) == 0)
			return true;
	}
}

static void dir_set_put(struct dir_set *set, char *name)
{
	size_t i = hash_name(name) & (set->capacity - 1);
	while (set->slots[i])
		i = (i + 1) & (set->capacity - 1);
	set->slots[i] = name;
}

static int dir_set_add(struct dir_set *set, const char *name, size_t len)
{
	if (set->count >= COPY_ENTRIES_MAX)
		return -E2BIG;
	if (2 * (set->count + 1) > set->capacity) {
		size_t capacity = set->capacity ? 2 * set->capacity : 64;
		char **slots = calloc(capacity, sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		char **old = set->slots;
		size_t old_capacity = set->capacity;
		set->slots = slots;
		set->capacity = capacity;
		for (size_t i = 0; i < old_capacity; i++)
			if (old[i])
				dir_set_put(set, old[i]);
		free(old);
	}
	char *copy = strndup(name, len);
	if (!copy)
		return -ENOMEM;
	dir_set_put(set, copy);
	set->count++;
	return 0;
}

static void dir_set_free(struct dir_set *set)
{
	for (size_t i = 0; i < set->capacity; i++)
		free(set->slots[i]);
	free(set->slots);
	memset(set, 0, sizeof(*set));
}

/* Sends a DIRECTORY entry for every parent of name not sent yet. */
static int send_missing_parents(struct copy_client *session, struct dir_set *sent,
				const char *name)
{
	if (copy_name_check(name, strlen(name)) < 0)
		return 0;  /* the receiver rejects the member itself, naming it */
	for (const char *slash = strchr(name, '/'); slash; slash = strchr(slash + 1, '/')) {
		size_t len = (size_t)(slash - name);
		if (len == 0 || len > COPY_NAME_MAX || dir_set_contains(sent, name, len))
			continue;
		char parent[COPY_NAME_MAX + 1];
		memcpy(parent, name, len);
		parent[len] = '\0';
		Ember__CopyEntry entry = EMBER__COPY_ENTRY__INIT;
		entry.name = ember_bytes(parent);
		entry.type = EMBER__COPY_ENTRY__TYPE__DIRECTORY;
		entry.mode = 0755;
		entry.mtime_sec = time(NULL);
		entry.implied = true;
		int r = copy_stream_send_entry(&session->stream, &entry);
		if (r == 0)
			r = dir_set_add(sent, name, len);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Waits until tar_fd is readable while reading the agent's frames, so that an
 * Error or a closed connection ends a copy whose producer is idle. Returns 0,
 * -EREMOTEIO after an Error frame (see peer_failed), -ENODATA when the agent
 * closed the connection, -EBADMSG (in report) for an unexpected frame, or
 * -errno. */
static int wait_for_archive(struct copy_client *session, int tar_fd,
			    struct copy_report *report)
{
	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = session->stream.fd, .events = POLLIN },
			{ .fd = tar_fd, .events = POLLIN },
		};
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (fds[0].revents) {
			struct copy_frame frame;
			int r = copy_stream_recv(&session->stream, &frame);
			if (r < 0)
				return r;
			if (frame.kind == COPY_FRAME_ERROR) {
				copy_stream_set_peer_error(&session->stream, frame.error);
				r = -EREMOTEIO;
			} else if (frame.kind == COPY_FRAME_PROGRESS) {
				if (frame.progress->total_bytes)
					session->stream.total_bytes = frame.progress->total_bytes;
			} else {
				r = copy_report_fail(report, -EBADMSG, "", "invalid copy stream: "
						     "an unexpected frame during a copy-in");
			}
			copy_frame_free(&frame);
			if (r < 0)
				return r;
			continue;
		}
		if (fds[1].revents)
			return 0;
	}
}

/* Reads exactly len bytes of member name's content, waiting for each part
 * with wait_for_archive. Returns 0 or a negative errno, and a failure to read
 * the archive is described in report. */
static int read_content(struct copy_client *session, int tar_fd, const char *name,
			uint8_t *buf, size_t len, struct copy_report *report)
{
	size_t done = 0;
	while (done < len) {
		int r = wait_for_archive(session, tar_fd, report);
		if (r < 0)
			return r;
		ssize_t n = read(tar_fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			session->local_failed = true;
		if (n < 0)
			return copy_report_fail(report, -errno, name, "failed to read '%s' from "
						"the archive: %s", name, strerror(errno));
		if (n == 0)
			return copy_report_fail(report, -EBADMSG, name, "failed to read '%s' from "
						"the archive: the archive ends early", name);
		done += (size_t)n;
	}
	return 0;
}

/* Skips a member's content (or only its padding). A failure is the archive's,
 * so it is reported as a local one. */
static int skip_content(struct copy_client *session, int tar_fd, const struct tar_header *header,
			bool skip_content, struct copy_report *report)
{
	int r = tar_skip(tar_fd, header->size, skip_content);
	if (r < 0) {
		session->local_failed = true;
		r = copy_report_fail(report, r, header->name, "failed to read '%s' from the "
				     "archive: %s", header->name,
				     r == -EBADMSG ? "the archive ends early" : strerror(-r));
	}
	return r;
}

/* Sends one archive member as copy entries: its header, then for a file its
 * content in chunks and its SHA-256. */
static int send_member(struct copy_client *session, int tar_fd, const struct tar_header *header,
		       uint8_t *buffer, struct dir_set *sent, struct copy_report *report)
{
	const char *name = header->name;
	while (strncmp(name, "./", 2) == 0)
		name += 2;
	if (strcmp(name, ".") == 0)
		return skip_content(session, tar_fd, header, true, report);  /* the destination */

	Ember__CopyEntry entry = EMBER__COPY_ENTRY__INIT;
	entry.name = ember_bytes(name);
	entry.mode = header->mode;
	entry.uid = header->uid;
	entry.gid = header->gid;
	entry.mtime_sec = header->mtime_sec;
	entry.mtime_nsec = header->mtime_nsec;
	entry.size = header->type == TAR_FILE ? header->size : 0;
	const char *target = header->link_target;
	if (header->type == TAR_HARDLINK)
		while (strncmp(target, "./", 2) == 0)
			target += 2;
	entry.link_target = ember_bytes(target);
	switch (header->type) {
	case TAR_FILE: entry.type = EMBER__COPY_ENTRY__TYPE__FILE; break;
	case TAR_DIRECTORY: entry.type = EMBER__COPY_ENTRY__TYPE__DIRECTORY; break;
	case TAR_SYMLINK: entry.type = EMBER__COPY_ENTRY__TYPE__SYMLINK; break;
	case TAR_HARDLINK: entry.type = EMBER__COPY_ENTRY__TYPE__HARDLINK; break;
	default:
		copy_report_warn(report, "skipped '%s': unsupported tar entry type '%c'", name,
				 header->typeflag);
		return skip_content(session, tar_fd, header, true, report);
	}
	int r = send_missing_parents(session, sent, name);
	if (r == 0)
		r = copy_stream_send_entry(&session->stream, &entry);
	if (r == 0 && header->type == TAR_DIRECTORY && !dir_set_contains(sent, name, strlen(name)))
		r = dir_set_add(sent, name, strlen(name));
	if (r < 0 || header->type != TAR_FILE)
		return r < 0 ? r : skip_content(session, tar_fd, header, header->type != TAR_FILE,
						report);

	struct sha256 hash;
	sha256_init(&hash);
	uint64_t offset = 0;
	while (offset < header->size) {
		size_t take = EMBER_CHUNK_MAX;
		if (header->size - offset < take)
			take = (size_t)(header->size - offset);
		r = read_content(session, tar_fd, name, buffer, take, report);
		if (r < 0)
			return r;
		sha256_update(&hash, buffer, take);
		r = copy_stream_send_data(&session->stream, offset, buffer, take);
		if (r < 0)
			return r;
		offset += take;
	}
	uint8_t digest[SHA256_DIGEST_SIZE];
	sha256_final(&hash, digest);
	r = copy_stream_send_file_end(&session->stream, digest, header->size);
	if (r < 0)
		return r;
	return skip_content(session, tar_fd, header, false, report);
}

int ember_copy_in_tar(struct ember_client *client, int tar_fd, const char *guest_dest,
		      const struct ember_copy_options *options, struct ember_copy_result *result,
		      struct ember_error *err)
{
	static const struct ember_copy_options defaults;
	if (!options)
		options = &defaults;
	if (!guest_dest || guest_dest[0] != '/')
		return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL,
				       "invalid guest path '%s': it must be absolute",
				       guest_dest ? guest_dest : "");

	/* The archive's members are merged into guest_dest, which must exist. */
	Ember__CopyInRequest copy = EMBER__COPY_IN_REQUEST__INIT;
	copy.dest = ember_bytes(guest_dest);
	copy.user = (char *)(uintptr_t)(options->user ? options->user : "");
	copy.preserve_owner = options->preserve_owner;
	copy.dest_is_dir = true;
	copy.contents_only = true;
	Ember__Request request = EMBER__REQUEST__INIT;
	request.op_case = EMBER__REQUEST__OP_COPY_IN;
	request.copy_in = &copy;

	uint8_t *buffer = malloc(EMBER_CHUNK_MAX);
	if (!buffer)
		return ember_error_set(err, EMBER_ERROR_LOCAL, -ENOMEM, "out of memory");
	struct copy_client session;
	int r = copy_client_open(&session, client, &request, options, err);
	if (r < 0) {
		free(buffer);
		return r;
	}
	session.stream.drain_incoming = true;

	struct copy_report report;
	copy_report_init(&report);
	struct dir_set sent = { 0 };
	Ember__CopyEntry root = EMBER__COPY_ENTRY__INIT;
	root.type = EMBER__COPY_ENTRY__TYPE__DIRECTORY;
	root.mode = 0755;
	r = copy_stream_send_entry(&session.stream, &root);
	while (r == 0) {
		struct tar_header header;
		/* NOTE: only the start of each header is waited for this way, so a
		 * producer that stops inside a 512-byte header block blocks the copy
		 * until it writes again. */
		r = wait_for_archive(&session, tar_fd, &report);
		if (r < 0)
			break;
		r = tar_read_header(tar_fd, &header);
		if (r == 0)
			break;
		if (r < 0) {
			session.local_failed = true;
			r = copy_report_fail(&report, r, "", "failed to read the tar archive: %s",
					     r == -EBADMSG ? "the archive is damaged"
					     : r == -EOPNOTSUPP ? "sparse members are not supported"
					     : strerror(-r));
			break;
		}
		r = send_member(&session, tar_fd, &header, buffer, &sent, &report);
		tar_header_free(&header);
	}
	if (r == 0)
		r = copy_stream_send_end(&session.stream);
	if (r < 0)
		r = copy_client_fail(&session, r, &report, err);
	else
		r = copy_client_wait_result(&session, result, err);
	copy_report_free(&report);
	dir_set_free(&sent);
	copy_client_close(&session);
	free(buffer);
	return r;
}
