/* Copy frames on a blocking descriptor: the same sub-messages wrapped in a
 * ClientFrame (host side) or an AgentFrame (agent side), and the results and
 * warnings of a copy. */
#include "copy.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/vm_sockets.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "io.h"

uint64_t copy_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void frame_from_client(struct copy_frame *frame, const Ember__ClientFrame *client)
{
	switch (client->kind_case) {
	case EMBER__CLIENT_FRAME__KIND_COPY_ENTRY:
		frame->kind = COPY_FRAME_ENTRY;
		frame->entry = client->copy_entry;
		break;
	case EMBER__CLIENT_FRAME__KIND_COPY_DATA:
		frame->kind = COPY_FRAME_DATA;
		frame->data = client->copy_data;
		break;
	case EMBER__CLIENT_FRAME__KIND_COPY_FILE_END:
		frame->kind = COPY_FRAME_FILE_END;
		frame->file_end = client->copy_file_end;
		break;
	case EMBER__CLIENT_FRAME__KIND_COPY_END:
		frame->kind = COPY_FRAME_END;
		break;
	default:
		frame->kind = COPY_FRAME_OTHER;
		break;
	}
}

static void frame_from_agent(struct copy_frame *frame, const Ember__AgentFrame *agent)
{
	switch (agent->kind_case) {
	case EMBER__AGENT_FRAME__KIND_COPY_ENTRY:
		frame->kind = COPY_FRAME_ENTRY;
		frame->entry = agent->copy_entry;
		break;
	case EMBER__AGENT_FRAME__KIND_COPY_DATA:
		frame->kind = COPY_FRAME_DATA;
		frame->data = agent->copy_data;
		break;
	case EMBER__AGENT_FRAME__KIND_COPY_FILE_END:
		frame->kind = COPY_FRAME_FILE_END;
		frame->file_end = agent->copy_file_end;
		break;
	case EMBER__AGENT_FRAME__KIND_COPY_END:
		frame->kind = COPY_FRAME_END;
		break;
	case EMBER__AGENT_FRAME__KIND_COPY_PROGRESS:
		frame->kind = COPY_FRAME_PROGRESS;
		frame->progress = agent->copy_progress;
		break;
	case EMBER__AGENT_FRAME__KIND_COPY_RESULT:
		frame->kind = COPY_FRAME_RESULT;
		frame->result = agent->copy_result;
		break;
	case EMBER__AGENT_FRAME__KIND_ERROR:
		frame->kind = COPY_FRAME_ERROR;
		frame->error = agent->error;
		break;
	default:
		frame->kind = COPY_FRAME_OTHER;
		break;
	}
}

static void *arena_alloc(void *data, size_t size)
{
	struct copy_arena *arena = data;
	size_t aligned = (size + 15) & ~(size_t)15;
	if (arena->base && aligned <= arena->size - arena->used) {
		void *p = arena->base + arena->used;
		arena->used += aligned;
		return p;
	}
	return malloc(size);
}

static void arena_free(void *data, void *pointer)
{
	struct copy_arena *arena = data;
	uint8_t *p = pointer;
	if (arena->base && p >= arena->base && p < arena->base + arena->size)
		return;  /* released all at once by copy_arena_reset */
	free(pointer);
}

ProtobufCAllocator copy_arena_allocator(struct copy_arena *arena)
{
	if (!arena->base) {
		arena->base = malloc(COPY_ARENA_SIZE);
		arena->size = arena->base ? COPY_ARENA_SIZE : 0;
	}
	return (ProtobufCAllocator){ arena_alloc, arena_free, arena };
}

void copy_arena_reset(struct copy_arena *arena)
{
	arena->used = 0;
}

void copy_arena_release(struct copy_arena *arena)
{
	free(arena->base);
	arena->base = NULL;
	arena->used = arena->size = 0;
}

void copy_socket_buffers(int fd)
{
	int size = COPY_SOCKET_BUFFER;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	/* vsock has its own receive buffer, which caps what the peer may send
	 * ahead; on other sockets these options fail. */
	unsigned long long vsock_size = COPY_SOCKET_BUFFER;
	setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MAX_SIZE, &vsock_size, sizeof(vsock_size));
	setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &vsock_size, sizeof(vsock_size));
}

int copy_stream_set_read_timeout(struct copy_stream *stream)
{
	struct timeval timeout = {
		.tv_sec = stream->idle_timeout_ms / 1000,
		.tv_usec = (stream->idle_timeout_ms % 1000) * 1000,
	};
	if (setsockopt(stream->fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0)
		return -errno;
	return 0;
}

void copy_stream_release(struct copy_stream *stream)
{
	free(stream->recv_body);
	free(stream->send_frame);
	stream->recv_body = stream->send_frame = NULL;
	stream->send_size = 0;
	copy_arena_release(&stream->arena);
}

/* Reads one frame body into the stream's reusable buffer. Returns its length
 * or the negative codes of frame_read. */
static ssize_t read_body(struct copy_stream *stream)
{
	uint8_t header[EMBER_FRAME_HEADER];
	ssize_t got = read_full(stream->fd, header, sizeof(header));
	if (got == -EAGAIN)
		return -ETIMEDOUT;
	if (got < 0)
		return got;
	if (got == 0)
		return -ENODATA;
	if ((size_t)got < sizeof(header))
		return -ECONNRESET;
	uint32_t len;
	int r = frame_parse_header(header, EMBER_FRAME_MAX, &len);
	if (r < 0)
		return r;
	if (!stream->recv_body) {
		stream->recv_body = malloc(EMBER_FRAME_MAX);
		if (!stream->recv_body)
			return -ENOMEM;
	}
	got = read_full(stream->fd, stream->recv_body, len);
	if (got == -EAGAIN)
		return -ETIMEDOUT;  /* SO_RCVTIMEO expired inside a frame */
	if (got < 0)
		return got;
	return (size_t)got < len ? -ECONNRESET : (ssize_t)len;
}

/* Reads a protobuf varint at *p. Returns false when it runs past end or
 * over ten bytes. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *value)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t byte = *(*p)++;
		v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			*value = v;
			return true;
		}
	}
	return false;
}

/* Protobuf wire types. */
#define WIRE_VARINT 0
#define WIRE_LEN 2

/* The field number of CopyData in the frames this side receives. */
static uint32_t data_field_in(const struct copy_stream *stream)
{
	return stream->side == COPY_SIDE_AGENT ? EMBER__CLIENT_FRAME__KIND_COPY_DATA
					       : EMBER__AGENT_FRAME__KIND_COPY_DATA;
}

/* The field number of CopyData in the frames this side sends. */
static uint32_t data_field_out(const struct copy_stream *stream)
{
	return stream->side == COPY_SIDE_CLIENT ? EMBER__CLIENT_FRAME__KIND_COPY_DATA
						: EMBER__AGENT_FRAME__KIND_COPY_DATA;
}

/* Decodes a frame that contains exactly one CopyData of offset and data fields
 * without copying its data, which then points into recv_body. Returns false
 * for any other frame, which goes through the generated decoder. Most frames
 * of a copy are CopyData, and the decoder would copy each chunk once more. */
static bool decode_data_in_place(struct copy_stream *stream, size_t len, struct copy_frame *frame)
{
	const uint8_t *p = stream->recv_body, *end = p + len;
	uint64_t key, inner_len;
	if (!read_varint(&p, end, &key) || key != ((uint64_t)data_field_in(stream) << 3 | WIRE_LEN))
		return false;
	if (!read_varint(&p, end, &inner_len) || inner_len != (uint64_t)(end - p))
		return false;

	Ember__CopyData *data = &stream->data_in_place;
	ember__copy_data__init(data);
	while (p < end) {
		uint64_t value;
		if (!read_varint(&p, end, &key))
			return false;
		if (key == (1u << 3 | WIRE_VARINT)) {
			if (!read_varint(&p, end, &value))
				return false;
			data->offset = value;
		} else if (key == (2u << 3 | WIRE_LEN)) {
			if (!read_varint(&p, end, &value) || value > (uint64_t)(end - p))
				return false;
			data->data.data = (uint8_t *)(uintptr_t)p;
			data->data.len = (size_t)value;
			p += value;
		} else {
			return false;
		}
	}
	frame->kind = COPY_FRAME_DATA;
	frame->data = data;
	frame->stream = stream;
	return true;
}

int copy_stream_recv(struct copy_stream *stream, struct copy_frame *frame)
{
	memset(frame, 0, sizeof(*frame));

	if (stream->idle_timeout_ms > 0) {
		struct pollfd pfd = { .fd = stream->fd, .events = POLLIN };
		int n;
		do {
			n = poll(&pfd, 1, stream->idle_timeout_ms);
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
	}

	ssize_t len = read_body(stream);
	if (len < 0)
		return (int)len;
	if (decode_data_in_place(stream, (size_t)len, frame))
		return 0;
	copy_arena_reset(&stream->arena);
	ProtobufCAllocator allocator = copy_arena_allocator(&stream->arena);
	frame->stream = stream;

	if (stream->side == COPY_SIDE_AGENT) {
		Ember__ClientFrame *client =
			ember__client_frame__unpack(&allocator, (size_t)len, stream->recv_body);
		if (!client)
			return -EBADMSG;
		frame->outer = &client->base;
		frame_from_client(frame, client);
	} else {
		Ember__AgentFrame *agent =
			ember__agent_frame__unpack(&allocator, (size_t)len, stream->recv_body);
		if (!agent)
			return -EBADMSG;
		frame->outer = &agent->base;
		frame_from_agent(frame, agent);
	}
	return 0;
}

void copy_frame_free(struct copy_frame *frame)
{
	if (frame->outer) {
		ProtobufCAllocator allocator = copy_arena_allocator(&frame->stream->arena);
		protobuf_c_message_free_unpacked(frame->outer, &allocator);
		copy_arena_reset(&frame->stream->arena);
	}
	frame->outer = NULL;
}

void copy_stream_set_peer_error(struct copy_stream *stream, const Ember__Error *error)
{
	stream->peer_failed = true;
	stream->peer_code = error->code;
	stream->peer_errno = error->errno_value;
	snprintf(stream->peer_path, sizeof(stream->peer_path), "%s", error->path ? error->path : "");
	snprintf(stream->peer_message, sizeof(stream->peer_message), "%s",
		 error->message ? error->message : "");
}

/* Reads what the agent sent while the client was sending: progress, or an
 * Error that ends the copy. */
static int drain_incoming(struct copy_stream *stream)
{
	for (;;) {
		struct pollfd pfd = { .fd = stream->fd, .events = POLLIN };
		int n = poll(&pfd, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || !(pfd.revents & POLLIN))
			return 0;

		struct copy_frame frame;
		int timeout = stream->idle_timeout_ms;
		stream->idle_timeout_ms = 0;
		int r = copy_stream_recv(stream, &frame);
		stream->idle_timeout_ms = timeout;
		if (r < 0)
			return r;
		if (frame.kind == COPY_FRAME_ERROR)
			copy_stream_set_peer_error(stream, frame.error);
		else if (frame.kind == COPY_FRAME_PROGRESS && frame.progress->total_bytes)
			stream->total_bytes = frame.progress->total_bytes;
		copy_frame_free(&frame);
		if (stream->peer_failed)
			return -EREMOTEIO;
	}
}

/* Sends an encoded frame without raising SIGPIPE when the peer is gone. */
static int send_message(struct copy_stream *stream, const ProtobufCMessage *message)
{
	if (stream->drain_incoming) {
		int r = drain_incoming(stream);
		if (r < 0)
			return r;
	}

	size_t body = protobuf_c_message_get_packed_size(message);
	if (body > EMBER_FRAME_MAX)
		return -EMSGSIZE;
	size_t len = EMBER_FRAME_HEADER + body;
	if (len > stream->send_size) {
		uint8_t *grown = realloc(stream->send_frame, len);
		if (!grown)
			return -ENOMEM;
		stream->send_frame = grown;
		stream->send_size = len;
	}
	uint8_t *buf = stream->send_frame;
	buf[0] = (uint8_t)(body >> 24);
	buf[1] = (uint8_t)(body >> 16);
	buf[2] = (uint8_t)(body >> 8);
	buf[3] = (uint8_t)body;
	protobuf_c_message_pack(message, buf + EMBER_FRAME_HEADER);
	int r = 0;
	size_t done = 0;
	while (done < len) {
		ssize_t n = send(stream->fd, buf + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(stream->fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			stream->send_failed = true;
			break;
		}
		done += (size_t)n;
	}
	return r;
}

/* Wraps one sub-message in the frame type of this side and writes it. The
 * case numbers are the field numbers of agent.proto. */
static int send_wrapped(struct copy_stream *stream, int client_case, int agent_case,
			void *message)
{
	if (stream->side == COPY_SIDE_CLIENT) {
		Ember__ClientFrame frame = EMBER__CLIENT_FRAME__INIT;
		frame.kind_case = (Ember__ClientFrame__KindCase)client_case;
		switch (client_case) {
		case EMBER__CLIENT_FRAME__KIND_COPY_ENTRY: frame.copy_entry = message; break;
		case EMBER__CLIENT_FRAME__KIND_COPY_DATA: frame.copy_data = message; break;
		case EMBER__CLIENT_FRAME__KIND_COPY_FILE_END: frame.copy_file_end = message; break;
		case EMBER__CLIENT_FRAME__KIND_COPY_END: frame.copy_end = message; break;
		default: return -EINVAL;
		}
		return send_message(stream, &frame.base);
	}

	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	frame.kind_case = (Ember__AgentFrame__KindCase)agent_case;
	switch (agent_case) {
	case EMBER__AGENT_FRAME__KIND_COPY_ENTRY: frame.copy_entry = message; break;
	case EMBER__AGENT_FRAME__KIND_COPY_DATA: frame.copy_data = message; break;
	case EMBER__AGENT_FRAME__KIND_COPY_FILE_END: frame.copy_file_end = message; break;
	case EMBER__AGENT_FRAME__KIND_COPY_END: frame.copy_end = message; break;
	case EMBER__AGENT_FRAME__KIND_COPY_PROGRESS: frame.copy_progress = message; break;
	default: return -EINVAL;
	}
	return send_message(stream, &frame.base);
}

int copy_stream_send_entry(struct copy_stream *stream, const Ember__CopyEntry *entry)
{
	stream->entries++;
	return send_wrapped(stream, EMBER__CLIENT_FRAME__KIND_COPY_ENTRY,
			    EMBER__AGENT_FRAME__KIND_COPY_ENTRY, (void *)(uintptr_t)entry);
}

static size_t put_varint(uint8_t *out, uint64_t value)
{
	size_t n = 0;
	while (value >= 0x80) {
		out[n++] = (uint8_t)(value | 0x80);
		value >>= 7;
	}
	out[n++] = (uint8_t)value;
	return n;
}

/* Writes the iovecs in full; the data is the caller's and is not copied. */
static int send_iov(struct copy_stream *stream, struct iovec *iov, int count)
{
	while (count > 0) {
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)count };
		ssize_t n = sendmsg(stream->fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = writev(stream->fd, iov, count);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			stream->send_failed = true;
			return -errno;
		}
		size_t done = (size_t)n;
		while (count > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			count--;
		}
		if (count > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return 0;
}

/* Sends one CopyData frame. The frame header and the message's field keys and
 * lengths are encoded here, in the form the generated encoder gives, and the
 * chunk goes to the socket straight from the caller's buffer. */
static int send_data_frame(struct copy_stream *stream, uint64_t offset, const void *data,
			   size_t len)
{
	if (len > EMBER_CHUNK_MAX)
		return -EMSGSIZE;
	if (stream->drain_incoming) {
		int r = drain_incoming(stream);
		if (r < 0)
			return r;
	}
	/* CopyData: offset (field 1, omitted when 0) and data (field 2). */
	uint8_t inner[1 + 10 + 1 + 10];
	size_t inner_len = 0;
	if (offset != 0) {
		inner[inner_len++] = 1u << 3 | WIRE_VARINT;
		inner_len += put_varint(inner + inner_len, offset);
	}
	if (len > 0) {
		inner[inner_len++] = 2u << 3 | WIRE_LEN;
		inner_len += put_varint(inner + inner_len, len);
	}
	uint64_t message_len = inner_len + len;

	uint8_t head[EMBER_FRAME_HEADER + 5 + 10 + sizeof(inner)];
	size_t n = EMBER_FRAME_HEADER;
	n += put_varint(head + n, (uint64_t)data_field_out(stream) << 3 | WIRE_LEN);
	n += put_varint(head + n, message_len);
	memcpy(head + n, inner, inner_len);
	n += inner_len;
	uint64_t body = n - EMBER_FRAME_HEADER + len;
	head[0] = (uint8_t)(body >> 24);
	head[1] = (uint8_t)(body >> 16);
	head[2] = (uint8_t)(body >> 8);
	head[3] = (uint8_t)body;

	struct iovec iov[2] = {
		{ .iov_base = head, .iov_len = n },
		{ .iov_base = (void *)(uintptr_t)data, .iov_len = len },
	};
	return send_iov(stream, iov, len > 0 ? 2 : 1);
}

int copy_stream_send_data(struct copy_stream *stream, uint64_t offset, const void *data,
			  size_t len)
{
	int r = send_data_frame(stream, offset, data, len);
	if (r == 0) {
		stream->bytes += len;
		if (stream->on_progress)
			stream->on_progress(stream, stream->progress_data);
	}
	return r;
}

int copy_stream_send_file_end(struct copy_stream *stream, const uint8_t sha256[32], uint64_t size)
{
	Ember__CopyFileEnd message = EMBER__COPY_FILE_END__INIT;
	message.sha256.data = (uint8_t *)(uintptr_t)sha256;
	message.sha256.len = 32;
	message.size = size;
	return send_wrapped(stream, EMBER__CLIENT_FRAME__KIND_COPY_FILE_END,
			    EMBER__AGENT_FRAME__KIND_COPY_FILE_END, &message);
}

int copy_stream_send_end(struct copy_stream *stream)
{
	Ember__CopyEnd message = EMBER__COPY_END__INIT;
	return send_wrapped(stream, EMBER__CLIENT_FRAME__KIND_COPY_END,
			    EMBER__AGENT_FRAME__KIND_COPY_END, &message);
}

int copy_stream_send_progress(struct copy_stream *stream)
{
	Ember__CopyProgress message = EMBER__COPY_PROGRESS__INIT;
	message.bytes = stream->bytes;
	message.entries = stream->entries;
	message.total_bytes = stream->total_bytes;
	stream->last_progress_ms = copy_now_ms();
	return send_wrapped(stream, -1, EMBER__AGENT_FRAME__KIND_COPY_PROGRESS, &message);
}

void copy_report_init(struct copy_report *report)
{
	memset(report, 0, sizeof(*report));
}

void copy_report_free(struct copy_report *report)
{
	for (size_t i = 0; i < report->warning_count; i++)
		free(report->warnings[i]);
	report->warning_count = 0;
}

void copy_report_warn(struct copy_report *report, const char *fmt, ...)
{
	if (report->warning_count == COPY_WARNINGS_MAX) {
		report->warnings_dropped++;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	char *text = NULL;
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		report->warnings_dropped++;
		return;
	}
	report->warnings[report->warning_count++] = text;
}

int copy_report_fail(struct copy_report *report, int err, const char *path, const char *fmt, ...)
{
	if (report->error != 0)
		return err;
	report->error = err;
	snprintf(report->error_path, sizeof(report->error_path), "%s", path ? path : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(report->error_message, sizeof(report->error_message), fmt, ap);
	va_end(ap);
	return err;
}

void copy_report_prefix(struct copy_report *report, const char *root)
{
	if (report->error == 0 || !root || !root[0])
		return;

	/* full = root + "/" + error_path; a result that does not fit is left alone. */
	char full[sizeof(report->error_path)];
	size_t root_len = strlen(root), path_len = strlen(report->error_path);
	bool slash = root[root_len - 1] == '/' || path_len == 0;
	size_t full_len = root_len + (slash ? 0 : 1) + path_len;
	if (full_len >= sizeof(full))
		return;
	memcpy(full, root, root_len);
	if (!slash)
		full[root_len] = '/';
	memcpy(full + full_len - path_len, report->error_path, path_len + 1);

	/* Replace the first quoted occurrence of the old path in the message. */
	char quoted[sizeof(report->error_path) + 2];
	quoted[0] = '\'';
	memcpy(quoted + 1, report->error_path, path_len);
	quoted[path_len + 1] = '\'';
	quoted[path_len + 2] = '\0';
	char *at = strstr(report->error_message, quoted);
	size_t before = at ? (size_t)(at - report->error_message) : 0;
	size_t after = at ? strlen(at + path_len + 2) : 0;
	if (at && before + full_len + 2 + after < sizeof(report->error_message)) {
		char message[sizeof(report->error_message)];
		memcpy(message, report->error_message, before);
		message[before] = '\'';
		memcpy(message + before + 1, full, full_len);
		message[before + 1 + full_len] = '\'';
		memcpy(message + before + full_len + 2, at + path_len + 2, after + 1);
		memcpy(report->error_message, message, sizeof(message));
	}
	memcpy(report->error_path, full, full_len + 1);
}

Ember__Code copy_errno_code(int err)
{
	switch (-err) {
	case 0: return EMBER__CODE__CODE_OK;
	case EACCES:
	case EPERM: return EMBER__CODE__CODE_PERMISSION_DENIED;
	case ENOENT:
	case ENOTDIR: return EMBER__CODE__CODE_NOT_FOUND;
	case EEXIST:
	case EISDIR: return EMBER__CODE__CODE_ALREADY_EXISTS;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
	case E2BIG:
	case ENOMEM: return EMBER__CODE__CODE_RESOURCE_EXHAUSTED;
	case EINVAL:
	case EXDEV:
	case ELOOP:
	case ENAMETOOLONG:
	case EBADMSG:
	case EPROTO: return EMBER__CODE__CODE_INVALID_ARGUMENT;
	case EILSEQ: return EMBER__CODE__CODE_FAILED_PRECONDITION;
	case ETIMEDOUT: return EMBER__CODE__CODE_TIMED_OUT;
	case ECONNRESET:
	case EPIPE: return EMBER__CODE__CODE_UNAVAILABLE;
	default: return EMBER__CODE__CODE_INTERNAL;
	}
}
