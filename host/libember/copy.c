/* ember_copy_in and ember_copy_out: docker cp's path rules on the host side,
 * then the shared sender and receiver of lib/copy.h over one connection. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn.h"
#include "copy.h"
#include "copy_client.h"
#include "io.h"

/* Shortest interval between two progress callbacks, in milliseconds. */
#define COPY_PROGRESS_CALLBACK_MS 200

bool copy_path_is_contents(const char *path)
{
	size_t len = strlen(path);
	return (len == 1 && path[0] == '.') || (len >= 2 && strcmp(path + len - 2, "/.") == 0);
}

bool copy_path_has_slash(const char *path)
{
	size_t len = strlen(path);
	return len > 0 && path[len - 1] == '/';
}

int copy_base_name(const char *path, char *name, size_t size)
{
	size_t end = strlen(path);
	while (end > 1 && path[end - 1] == '/')
		end--;
	size_t start = end;
	while (start > 0 && path[start - 1] != '/')
		start--;
	size_t len = end - start;
	if (len == 0 || len >= size || (len == 1 && path[start] == '.') ||
	    (len == 2 && path[start] == '.' && path[start + 1] == '.'))
		return -EINVAL;
	memcpy(name, path + start, len);
	name[len] = '\0';
	return 0;
}

static void report_progress(const struct copy_stream *stream, void *data)
{
	struct copy_client *client = data;
	if (!client->options || !client->options->progress)
		return;
	uint64_t now = copy_now_ms();
	if (now - client->last_callback_ms < COPY_PROGRESS_CALLBACK_MS)
		return;
	client->last_callback_ms = now;
	struct ember_copy_progress progress = {
		.bytes = stream->bytes,
		.total_bytes = stream->total_bytes,
		.entries = stream->entries,
	};
	client->options->progress(&progress, client->options->progress_data);
}

int copy_client_open(struct copy_client *client, struct ember_client *ember,
		     Ember__Request *request, const struct ember_copy_options *options,
		     struct ember_error *err)
{
	memset(client, 0, sizeof(*client));
	client->options = options;
	int r = ember_conn_open(ember, request, &client->conn, err);
	if (r < 0)
		return r;
	/* The copy code uses blocking reads and writes with its own timeout. */
	r = fd_set_nonblock(client->conn.fd, false);
	if (r < 0) {
		ember_conn_close(&client->conn);
		return ember_error_set(err, EMBER_ERROR_CONNECT, r, "failed to set up the connection: %s",
				       strerror(-r));
	}
	client->stream.fd = client->conn.fd;
	copy_socket_buffers(client->conn.fd);
	client->stream.side = COPY_SIDE_CLIENT;
	client->stream.idle_timeout_ms = options && options->idle_timeout_ms > 0
						 ? options->idle_timeout_ms : COPY_IDLE_TIMEOUT_MS;
	/* NOTE: sends have no timeout, because the agent stops reading while it
	 * fsyncs a large file; an agent that never reads again blocks the caller. */
	r = copy_stream_set_read_timeout(&client->stream);
	if (r < 0) {
		ember_conn_close(&client->conn);
		return ember_error_set(err, EMBER_ERROR_CONNECT, r, "failed to set up the connection: %s",
				       strerror(-r));
	}
	client->stream.on_progress = report_progress;
	client->stream.progress_data = client;
	return 0;
}

void copy_client_close(struct copy_client *client)
{
	if (client->options && client->options->progress) {
		struct ember_copy_progress progress = {
			.bytes = client->stream.bytes,
			.total_bytes = client->stream.total_bytes,
			.entries = client->stream.entries,
		};
		client->options->progress(&progress, client->options->progress_data);
	}
	copy_stream_release(&client->stream);
	ember_conn_close(&client->conn);
}

int copy_client_peer_error(struct copy_client *client, struct ember_error *err)
{
	Ember__Error remote = EMBER__ERROR__INIT;
	remote.code = client->stream.peer_code;
	remote.errno_value = client->stream.peer_errno;
	remote.message = client->stream.peer_message;
	remote.path = client->stream.peer_path;
	return ember_error_remote(err, &remote);
}

/* Turns a failed copy into err: the agent's Error, the local failure, or a
 * connection that broke. */
int copy_client_fail(struct copy_client *client, int r, const struct copy_report *report,
		     struct ember_error *err)
{
	if (client->stream.peer_failed)
		return copy_client_peer_error(client, err);
	if (client->local_failed)
		return ember_error_set(err, EMBER_ERROR_LOCAL, r, "%s", report->error_message);
	if (r == -ETIMEDOUT)
		return ember_error_set(err, EMBER_ERROR_CONNECT, r,
				       "timed out: the agent sent nothing for %d ms",
				       client->stream.idle_timeout_ms);
	if (r == -EPIPE || r == -ECONNRESET || r == -ENODATA) {
		/* The agent may have closed after an Error frame still unread.
		 * -ENODATA: a read between two sends found the connection closed. */
		r = copy_client_wait_result(client, NULL, err);
		if (r != 0 && r != -ECONNRESET)
			return r;
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -ECONNRESET,
				       "the agent closed the connection during the copy");
	}
	if (r == -EBADMSG || r == -EXDEV || (r == -EINVAL && report->error_path[0]) ||
	    r == -EFBIG)
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, r, "%s", report->error_message);
	return ember_error_set(err, EMBER_ERROR_LOCAL, r, "%s",
			       report->error_message[0] ? report->error_message : strerror(-r));
}

static void fill_result(struct ember_copy_result *result, const Ember__CopyResult *copy)
{
	if (!result)
		return;
	result->entries = copy->entries;
	result->bytes = copy->bytes;
	result->warning_count = 0;
	for (size_t i = 0; i < copy->n_warnings && i < EMBER_COPY_WARNINGS_MAX; i++)
		snprintf(result->warnings[result->warning_count++], EMBER_ERROR_MESSAGE_MAX, "%s",
			 copy->warnings[i]);
}

int copy_client_wait_result(struct copy_client *client, struct ember_copy_result *result,
			    struct ember_error *err)
{
	for (;;) {
		struct copy_frame frame;
		int r = copy_stream_recv(&client->stream, &frame);
		if (r < 0)
			return ember_error_set(err, EMBER_ERROR_PROTOCOL,
					       r == -ENODATA ? -ECONNRESET : r,
					       "failed to read the copy result: %s",
					       r == -ENODATA ? "the agent closed the connection"
							     : strerror(-r));
		switch (frame.kind) {
		case COPY_FRAME_PROGRESS:
			if (frame.progress->total_bytes)
				client->stream.total_bytes = frame.progress->total_bytes;
			report_progress(&client->stream, client);
			copy_frame_free(&frame);
			continue;
		case COPY_FRAME_RESULT:
			fill_result(result, frame.result);
			r = 0;
			break;
		case COPY_FRAME_ERROR:
			r = ember_error_remote(err, frame.error);
			break;
		default:
			r = ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO,
					    "the agent sent an unexpected frame instead of the "
					    "copy result");
			break;
		}
		copy_frame_free(&frame);
		return r;
	}
}

int ember_copy_in(struct ember_client *client, const char *local_src, const char *guest_dest,
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

	char root_name[256] = "";
	bool contents = copy_path_is_contents(local_src);
	struct stat st;
	int stat_result = options->follow_link ? stat(local_src, &st) : lstat(local_src, &st);
	/* "FILE/." fails with ENOTDIR. */
	if (stat_result < 0 && !(contents && errno == ENOTDIR))
		return ember_error_set(err, EMBER_ERROR_LOCAL, -errno, "failed to stat '%s': %s",
				       local_src, strerror(errno));
	if (contents && (stat_result < 0 || !S_ISDIR(st.st_mode)))
		return ember_error_set(err, EMBER_ERROR_LOCAL, -ENOTDIR,
				       "source '%s' is not a directory: SRC/. copies a directory's "
				       "contents", local_src);
	if (!contents && copy_base_name(local_src, root_name, sizeof(root_name)) < 0)
		return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL,
				       "invalid source '%s': name a file or directory", local_src);

	Ember__CopyInRequest copy = EMBER__COPY_IN_REQUEST__INIT;
	copy.dest = ember_bytes(guest_dest);
	copy.user = (char *)(uintptr_t)(options->user ? options->user : "");
	copy.preserve_owner = options->preserve_owner;
	copy.dest_is_dir = copy_path_has_slash(guest_dest);
	copy.root_name = ember_bytes(root_name);
	copy.contents_only = contents;
	Ember__Request request = EMBER__REQUEST__INIT;
	request.op_case = EMBER__REQUEST__OP_COPY_IN;
	request.copy_in = &copy;

	struct copy_client session;
	int r = copy_client_open(&session, client, &request, options, err);
	if (r < 0)
		return r;
	session.stream.drain_incoming = true;
	if (S_ISREG(st.st_mode))
		session.stream.total_bytes = (uint64_t)st.st_size;

	struct copy_report report;
	copy_report_init(&report);
	struct copy_send_options send_options = { .follow_root_link = options->follow_link };
	r = copy_send_tree(&session.stream, local_src, &send_options, &report);
	if (r < 0) {
		copy_report_prefix(&report, local_src);
		r = copy_client_fail(&session, r, &report, err);
	}
	else
		r = copy_client_wait_result(&session, result, err);
	if (r == 0 && result) {
		/* Warnings of the local walk (skipped FIFOs) come first. */
		size_t have = result->warning_count;
		for (size_t i = 0; i < report.warning_count && have < EMBER_COPY_WARNINGS_MAX; i++)
			snprintf(result->warnings[have++], EMBER_ERROR_MESSAGE_MAX, "%s",
				 report.warnings[i]);
		result->warning_count = have;
	}
	copy_report_free(&report);
	copy_client_close(&session);
	return r;
}

/* The host side of docker cp's rules for copy-out: where the root entry goes. */
static int local_destination(const char *guest_src, const char *local_dest, int *parent_fd,
			     char *root_name, size_t root_size, bool *merge, char *parent_path,
			     size_t parent_size, struct ember_error *err)
{
	struct stat st;
	*merge = false;
	int stat_result = stat(local_dest, &st);
	if (stat_result == 0 && S_ISDIR(st.st_mode)) {
		snprintf(parent_path, parent_size, "%s", local_dest);
		*parent_fd = open(local_dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (*parent_fd < 0)
			return ember_error_set(err, EMBER_ERROR_LOCAL, -errno,
					       "failed to open '%s': %s", local_dest,
					       strerror(errno));
		if (copy_path_is_contents(guest_src)) {
			*merge = true;
			return 0;
		}
		if (copy_base_name(guest_src, root_name, root_size) < 0) {
			close(*parent_fd);
			return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL,
					       "invalid guest source '%s': name a file or directory",
					       guest_src);
		}
		return 0;
	}
	if (copy_path_has_slash(local_dest)) {
		/* stat fails with ENOTDIR for "FILE/" and for a path through a file. */
		int stat_errno = stat_result == 0 ? ENOTDIR : errno;
		if (stat_errno != ENOTDIR && stat_errno != ENOENT)
			return ember_error_set(err, EMBER_ERROR_LOCAL, -stat_errno,
					       "failed to stat destination directory '%s': %s",
					       local_dest, strerror(stat_errno));
		bool is_file = stat_errno == ENOTDIR;
		return ember_error_set(err, EMBER_ERROR_LOCAL, is_file ? -ENOTDIR : -ENOENT,
				       "destination directory '%s' %s: name an existing directory",
				       local_dest, is_file ? "is not a directory" : "does not exist");
	}
	if (copy_base_name(local_dest, root_name, root_size) < 0)
		return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL,
				       "invalid destination '%s'", local_dest);

	char *dir = strdup(local_dest);
	if (!dir)
		return ember_error_set(err, EMBER_ERROR_LOCAL, -ENOMEM, "out of memory");
	char *slash = strrchr(dir, '/');
	const char *dir_path = ".";
	if (slash) {
		*slash = '\0';
		dir_path = dir[0] ? dir : "/";
	}
	snprintf(parent_path, parent_size, "%s", dir_path);
	*parent_fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;
	if (*parent_fd < 0)
		r = ember_error_set(err, EMBER_ERROR_LOCAL, -errno,
				    "failed to open destination directory '%s': %s", dir_path,
				    strerror(errno));
	free(dir);
	return r;
}

int ember_copy_out(struct ember_client *client, const char *guest_src, const char *local_dest,
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

	int parent_fd = -1;
	char root_name[256];
	char parent_path[COPY_NAME_MAX + 1];
	bool merge;
	int r = local_destination(guest_src, local_dest, &parent_fd, root_name, sizeof(root_name),
				  &merge, parent_path, sizeof(parent_path), err);
	if (r < 0)
		return r;

	Ember__CopyOutRequest copy = EMBER__COPY_OUT_REQUEST__INIT;
	copy.src = ember_bytes(guest_src);
	copy.user = (char *)(uintptr_t)(options->user ? options->user : "");
	copy.follow_root_link = options->follow_link;
	Ember__Request request = EMBER__REQUEST__INIT;
	request.op_case = EMBER__REQUEST__OP_COPY_OUT;
	request.copy_out = &copy;

	struct copy_client session;
	r = copy_client_open(&session, client, &request, options, err);
	if (r < 0) {
		close(parent_fd);
		return r;
	}

	struct copy_recv_options recv_options = {
		.preserve_owner = options->preserve_owner,
		.preserve_special = options->keep_special_bits,
		.file_size_max = options->file_size_max,
	};
	struct copy_report report;
	copy_report_init(&report);
	r = copy_recv_tree(&session.stream, parent_fd, merge ? NULL : root_name, &recv_options,
			   &report);
	if (r < 0) {
		copy_report_prefix(&report, parent_path);
		r = copy_client_fail(&session, r, &report, err);
	}
	else
		r = copy_client_wait_result(&session, result, err);
	copy_report_free(&report);
	copy_client_close(&session);
	close(parent_fd);
	return r;
}
