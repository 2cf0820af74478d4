/* The body of a copy worker process: user switch, destination rules, then the
 * shared sender or receiver of lib/copy.h. */
#include "copy_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "copy.h"
#include "frame.h"
#include "io.h"
#include "log.h"
#include "printable.h"
#include "user.h"

/* Whether the operation's final frame (CopyResult or Error) reached the
 * socket, which decides how the agent closes the connection. */
static bool final_sent;
/* The connection's id, for the log. */
static const char *log_id = "";

static int send_error(int fd, Ember__Code code, int err, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int send_error(int fd, Ember__Code code, int err, const char *path, const char *fmt, ...)
{
	char raw[1024], message[1024], printable_path[PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);

	/* Error.message and Error.path are proto3 strings: guest file names
	 * that are not UTF-8 are sent with '?' in place of the invalid bytes. */
	if (len < 0)
		len = 0;
	printable_copy(message, sizeof(message), raw,
		       (size_t)len < sizeof(raw) ? (size_t)len : sizeof(raw) - 1);
	printable_copy(printable_path, sizeof(printable_path), path ? path : "",
		       path ? strlen(path) : 0);
	Ember__Error error = EMBER__ERROR__INIT;
	error.code = code;
	error.errno_value = err < 0 ? -err : err;
	error.message = message;
	error.path = printable_path;
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_ERROR;
	frame.error = &error;
	if (frame_write(fd, &frame.base) == 0)
		final_sent = true;
	log_warn("%s: copy failed on '%s': %s", log_id, printable_path, message);
	return 1;
}

static int send_result(int fd, struct copy_report *report)
{
	Ember__CopyResult result = EMBER__COPY_RESULT__INIT;
	result.entries = report->entries;
	result.bytes = report->bytes;
	result.n_warnings = report->warning_count;
	result.warnings = report->warnings;
	/* Warnings quote file names; '?' replaces bytes that are not UTF-8
	 * (one byte for one, so each fits where it is). */
	for (size_t i = 0; i < report->warning_count; i++) {
		size_t len = strlen(report->warnings[i]);
		char *clean = malloc(len + 1);
		if (!clean)
			continue;
		printable_copy(clean, len + 1, report->warnings[i], len);
		memcpy(report->warnings[i], clean, strlen(clean) + 1);
		free(clean);
	}
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_COPY_RESULT;
	frame.copy_result = &result;
	if (frame_write(fd, &frame.base) < 0)
		return 1;
	final_sent = true;
	return 0;
}

/* Becomes the requested user, with its groups. Returns 0 or sends an Error. */
static int switch_user(int fd, const char *spec)
{
	if (!spec || !spec[0])
		return 0;

	struct user_info info;
	const char *missing = NULL;
	int r = user_resolve(spec, NULL, NULL, &info, &missing);
	if (r == -ENOENT)
		return send_error(fd, EMBER__CODE__CODE_NOT_FOUND, r, NULL,
				  "invalid user '%s': no such %s in %s", spec, missing ? missing : "user",
				  missing && strcmp(missing, "group") == 0 ? USER_GROUP_PATH :
				  USER_PASSWD_PATH);
	if (r < 0)
		return send_error(fd, EMBER__CODE__CODE_INVALID_ARGUMENT, r, NULL,
				  "invalid user '%s': %s", spec, strerror(-r));
	if (setgroups(info.group_count, info.groups) < 0 || setgid(info.gid) < 0 ||
	    setuid(info.uid) < 0)
		r = -errno;
	user_info_free(&info);
	if (r < 0)
		return send_error(fd, EMBER__CODE__CODE_PERMISSION_DENIED, r, NULL,
				  "failed to switch to user '%s': %s", spec, strerror(-r));
	return 0;
}

static char *bytes_string(const ProtobufCBinaryData *bytes)
{
	if (bytes->len > 0 && memchr(bytes->data, '\0', bytes->len))
		return NULL;
	char *text = malloc(bytes->len + 1);
	if (text) {
		if (bytes->len > 0)
			memcpy(text, bytes->data, bytes->len);
		text[bytes->len] = '\0';
	}
	return text;
}

/* The copy-in destination rules, as docker cp has them: into an existing
 * directory under the source's name (or merged, for SRC/.), otherwise as dest
 * itself, replacing a file that is there. */
static int resolve_dest(int fd, const Ember__CopyInRequest *request, const char *dest,
			int *parent_fd, char **root_name, char **parent_path)
{
	struct stat st;
	bool exists = stat(dest, &st) == 0;
	/* "FILE/" and a path through a file fail with ENOTDIR: reported below as
	 * a destination that is not a directory. */
	bool not_dir = exists || errno == ENOTDIR;
	if (!exists && errno != ENOENT && errno != ENOTDIR)
		return send_error(fd, copy_errno_code(-errno), -errno, dest,
				  "failed to stat '%s': %s", dest, strerror(errno));

	if (exists && S_ISDIR(st.st_mode)) {
		*parent_fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (*parent_fd < 0)
			return send_error(fd, copy_errno_code(-errno), -errno, dest,
					  "failed to open '%s': %s", dest, strerror(errno));
		*parent_path = strdup(dest);
		if (request->contents_only)
			return 0;
		*root_name = bytes_string(&request->root_name);
		if (!*root_name || !(*root_name)[0] || strchr(*root_name, '/') ||
		    copy_name_check(*root_name, strlen(*root_name)) < 0)
			return send_error(fd, EMBER__CODE__CODE_INVALID_ARGUMENT, EINVAL, dest,
					  "invalid root name for a copy into directory '%s'",
					  dest);
		return 0;
	}
	if (request->dest_is_dir)
		return send_error(fd, EMBER__CODE__CODE_NOT_FOUND, not_dir ? ENOTDIR : ENOENT, dest,
				  "destination directory '%s' %s: name an existing directory", dest,
				  not_dir ? "is not a directory" : "does not exist");

	/* dest names the root entry itself, in a directory that must exist. */
	char *copy = strdup(dest);
	char *slash = copy ? strrchr(copy, '/') : NULL;
	if (!slash || slash[1] == '\0') {
		free(copy);
		return send_error(fd, EMBER__CODE__CODE_INVALID_ARGUMENT, EINVAL, dest,
				  "invalid destination '%s'", dest);
	}
	*slash = '\0';
	const char *dir = copy[0] ? copy : "/";
	*parent_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*parent_fd < 0) {
		int err = errno;
		send_error(fd, copy_errno_code(-err), err, dir,
			   "failed to open destination directory '%s': %s", dir, strerror(err));
		free(copy);
		return 1;
	}
	*root_name = strdup(slash + 1);
	*parent_path = strdup(dir);
	free(copy);
	return 0;
}

static int copy_in(int fd, const Ember__CopyInRequest *request)
{
	char *dest = bytes_string(&request->dest);
	if (!dest || dest[0] != '/') {
		free(dest);
		return send_error(fd, EMBER__CODE__CODE_INVALID_ARGUMENT, EINVAL, NULL,
				  "invalid destination: a guest path must be absolute");
	}
	if (request->preserve_owner && geteuid() != 0) {
		free(dest);
		return send_error(fd, EMBER__CODE__CODE_PERMISSION_DENIED, EPERM, NULL,
				  "keeping owners needs a copy as root, not as user '%s'",
				  request->user);
	}

	int parent_fd = -1;
	char *root_name = NULL, *dest_dir = NULL;
	int status = resolve_dest(fd, request, dest, &parent_fd, &root_name, &dest_dir);
	if (status != 0)
		goto out;

	struct copy_stream stream = { .fd = fd, .side = COPY_SIDE_AGENT,
				      .idle_timeout_ms = COPY_IDLE_TIMEOUT_MS };
	copy_stream_set_read_timeout(&stream);
	struct copy_recv_options options = {
		.preserve_owner = request->preserve_owner,
		.preserve_special = true,
		.send_progress = true,
	};
	struct copy_report report;
	copy_report_init(&report);
	stream.last_progress_ms = copy_now_ms();
	int r = copy_recv_tree(&stream, parent_fd, root_name, &options, &report);
	if (stream.send_failed) {
		status = 1;  /* the client is gone or stopped reading */
	} else if (r == 0) {
		status = send_result(fd, &report);
	} else if (r != -ECONNRESET) {
		copy_report_prefix(&report, dest_dir);
		status = send_error(fd, copy_errno_code(r), r, report.error_path, "%s",
				    report.error_message);
	} else {
		status = 1;
	}
	copy_report_free(&report);
	copy_stream_release(&stream);
out:
	if (parent_fd >= 0)
		close(parent_fd);
	free(root_name);
	free(dest_dir);
	free(dest);
	return status;
}

static int copy_out(int fd, const Ember__CopyOutRequest *request)
{
	char *src = bytes_string(&request->src);
	if (!src || src[0] != '/') {
		free(src);
		return send_error(fd, EMBER__CODE__CODE_INVALID_ARGUMENT, EINVAL, NULL,
				  "invalid source: a guest path must be absolute");
	}

	struct copy_stream stream = { .fd = fd, .side = COPY_SIDE_AGENT };
	struct copy_send_options options = { .follow_root_link = request->follow_root_link };
	struct copy_report report;
	copy_report_init(&report);
	int r = copy_send_tree(&stream, src, &options, &report);
	int status;
	if (stream.send_failed) {
		status = 1;  /* the client is gone or stopped reading */
	} else if (r == 0) {
		status = send_result(fd, &report);
	} else if (r == -EPIPE || r == -ECONNRESET) {
		status = 1;  /* the agent, and so the client, went away */
	} else {
		copy_report_prefix(&report, src);
		status = send_error(fd, copy_errno_code(r), r, report.error_path, "%s",
				    report.error_message);
	}
	copy_report_free(&report);
	copy_stream_release(&stream);
	free(src);
	return status;
}

int copy_worker_run(int fd, const Ember__Request *request, const char *id)
{
	signal(SIGPIPE, SIG_IGN);
	log_id = id;

	/* The descriptor is the agent's non-blocking connection, and this
	 * process blocks on it. A client that stops reading or writing for too
	 * long ends the copy, so it cannot hold the worker forever. */
	/* Before the user switch: beyond the system limit needs CAP_NET_ADMIN. */
	copy_socket_buffers(fd);
	struct timeval timeout = { .tv_sec = COPY_SEND_TIMEOUT_MS / 1000 };
	if (fd_set_nonblock(fd, false) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)) < 0)
		return 1;

	const char *user = request->op_case == EMBER__REQUEST__OP_COPY_IN ? request->copy_in->user
									   : request->copy_out->user;
	if (switch_user(fd, user) == 0) {
		if (request->op_case == EMBER__REQUEST__OP_COPY_IN)
			copy_in(fd, request->copy_in);
		else
			copy_out(fd, request->copy_out);
	}
	shutdown(fd, SHUT_WR);
	return final_sent ? 0 : 1;
}

int copy_worker_main(int argc, char **argv)
{
	log_init("ember-agent");
	if (argc != 5) {
		log_error("invalid copy worker arguments: expected CONN_ID LOG_LEVEL KMSG");
		return 1;
	}
	close_fds_from(COPY_WORKER_REQUEST_FD + 1);
	log_set_level((enum log_level)atoi(argv[3]));
	if (strcmp(argv[4], "1") == 0)
		log_enable_kmsg(1);

	/* The agent wrote the Request it received into a memfd. */
	struct stat st;
	uint8_t *packed = NULL;
	Ember__Request *request = NULL;
	if (fstat(COPY_WORKER_REQUEST_FD, &st) < 0 || st.st_size <= 0 ||
	    (uint64_t)st.st_size > EMBER_FRAME_MAX || !(packed = malloc((size_t)st.st_size)) ||
	    pread(COPY_WORKER_REQUEST_FD, packed, (size_t)st.st_size, 0) != st.st_size ||
	    !(request = ember__request__unpack(NULL, (size_t)st.st_size, packed))) {
		log_error("%s: failed to read the copy request from fd %d: copy workers "
			  "start only from a running ember-agent", argv[2], COPY_WORKER_REQUEST_FD);
		free(packed);
		return 1;
	}
	free(packed);
	close(COPY_WORKER_REQUEST_FD);
	int status = copy_worker_run(COPY_WORKER_CONN_FD, request, argv[2]);
	ember__request__free_unpacked(request, NULL);
	return status;
}
