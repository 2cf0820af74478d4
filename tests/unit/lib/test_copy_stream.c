/* Wire compatibility of the hand-written CopyData encoder (send_data_frame)
 * and in-place decoder (decode_data_in_place) of lib/copy_stream.c with the
 * protobuf-c generated code, over a socket pair with a copy_stream on each
 * end. Senders of chunk-sized frames run in a child process, so a frame larger
 * than the socket buffer cannot block the test. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "check.h"
#include "copy.h"
#include "frame.h"
#include "io.h"

struct data_case {
	const char *name;
	uint64_t offset;
	size_t len;
};

static const struct data_case data_cases[] = {
	{ "offset 0", 0, 100 },
	{ "offset 1", 1, 100 },
	{ "offset above 2^32", (1ull << 32) + 7, 100 },
	{ "offset 2^64-1", UINT64_MAX, 100 },
	{ "1 byte", 12345, 1 },
	{ "EMBER_CHUNK_MAX bytes", 1u << 20, EMBER_CHUNK_MAX },
	{ "0 bytes", 4096, 0 },
	{ "0 bytes at offset 0", 0, 0 },
};

#define CASE_COUNT (sizeof(data_cases) / sizeof(data_cases[0]))

static const enum copy_side sides[] = { COPY_SIDE_CLIENT, COPY_SIDE_AGENT };

static enum copy_side other_side(enum copy_side side)
{
	return side == COPY_SIDE_CLIENT ? COPY_SIDE_AGENT : COPY_SIDE_CLIENT;
}

static const char *side_name(enum copy_side side)
{
	return side == COPY_SIDE_CLIENT ? "client" : "agent";
}

/* A deterministic pattern, so a byte out of place is visible. */
static uint8_t *pattern(size_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len ? len : 1);
	uint32_t x = seed | 1;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
	return buf;
}

static void open_pair(int fds[2])
{
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
}

/* Waits for a sender child; returns its exit status, or -1 if it did not
 * exit normally. The status is -errno of the failed send, or 0. */
static int wait_sender(pid_t pid)
{
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Forks a child that sends one CopyData frame with copy_stream_send_data as
 * side on fd, then exits with -errno of the result. */
static pid_t send_data_in_child(int fd, enum copy_side side, uint64_t offset,
				const uint8_t *data, size_t len)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct copy_stream stream = { .fd = fd, .side = side };
		int r = copy_stream_send_data(&stream, offset, data, len);
		copy_stream_release(&stream);
		_exit(-r);
	}
	CHECK(pid > 0);
	return pid;
}

/* Forks a child that packs one CopyData frame with protobuf-c (frame_write of
 * a ClientFrame or AgentFrame, as side sends) on fd. */
static pid_t pack_data_in_child(int fd, enum copy_side side, uint64_t offset,
				const uint8_t *data, size_t len)
{
	pid_t pid = fork();
	if (pid == 0) {
		Ember__CopyData message = EMBER__COPY_DATA__INIT;
		message.offset = offset;
		message.data.data = (uint8_t *)(uintptr_t)data;
		message.data.len = len;
		int r;
		if (side == COPY_SIDE_CLIENT) {
			Ember__ClientFrame frame = EMBER__CLIENT_FRAME__INIT;
			frame.kind_case = EMBER__CLIENT_FRAME__KIND_COPY_DATA;
			frame.copy_data = &message;
			r = frame_write(fd, &frame.base);
		} else {
			Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
			frame.kind_case = EMBER__AGENT_FRAME__KIND_COPY_DATA;
			frame.copy_data = &message;
			r = frame_write(fd, &frame.base);
		}
		_exit(-r);
	}
	CHECK(pid > 0);
	return pid;
}

/* Packs CopyData{offset, data} in the frame type side sends, with protobuf-c.
 * The caller frees the result. */
static uint8_t *pack_expected(enum copy_side side, uint64_t offset, const uint8_t *data,
			      size_t len, size_t *packed_len)
{
	Ember__CopyData message = EMBER__COPY_DATA__INIT;
	message.offset = offset;
	message.data.data = (uint8_t *)(uintptr_t)data;
	message.data.len = len;
	Ember__ClientFrame client = EMBER__CLIENT_FRAME__INIT;
	Ember__AgentFrame agent = EMBER__AGENT_FRAME__INIT;
	const ProtobufCMessage *outer;
	if (side == COPY_SIDE_CLIENT) {
		client.kind_case = EMBER__CLIENT_FRAME__KIND_COPY_DATA;
		client.copy_data = &message;
		outer = &client.base;
	} else {
		agent.kind_case = EMBER__AGENT_FRAME__KIND_COPY_DATA;
		agent.copy_data = &message;
		outer = &agent.base;
	}
	*packed_len = protobuf_c_message_get_packed_size(outer);
	uint8_t *out = malloc(*packed_len ? *packed_len : 1);
	protobuf_c_message_pack(outer, out);
	return out;
}

/* Decodes body as the frame type side sends and checks that it is a CopyData
 * of offset and data. */
static void check_generated_decode(enum copy_side side, const uint8_t *body, size_t body_len,
				   const struct data_case *c, const uint8_t *data)
{
	const Ember__CopyData *decoded = NULL;
	ProtobufCMessage *outer = NULL;
	if (side == COPY_SIDE_CLIENT) {
		Ember__ClientFrame *client = ember__client_frame__unpack(NULL, body_len, body);
		CHECK(client != NULL);
		if (client) {
			CHECK_INT(client->kind_case, EMBER__CLIENT_FRAME__KIND_COPY_DATA);
			decoded = client->copy_data;
			outer = &client->base;
		}
	} else {
		Ember__AgentFrame *agent = ember__agent_frame__unpack(NULL, body_len, body);
		CHECK(agent != NULL);
		if (agent) {
			CHECK_INT(agent->kind_case, EMBER__AGENT_FRAME__KIND_COPY_DATA);
			decoded = agent->copy_data;
			outer = &agent->base;
		}
	}
	if (decoded) {
		CHECK(decoded->offset == c->offset);
		CHECK_INT(decoded->data.len, c->len);
		if (decoded->data.len == c->len && c->len > 0)
			CHECK(memcmp(decoded->data.data, data, c->len) == 0);
	}
	if (outer)
		protobuf_c_message_free_unpacked(outer, NULL);
}

static void sent_data_decodes_with_protobuf_c(void)
{
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; i < CASE_COUNT; i++) {
			const struct data_case *c = &data_cases[i];
			int start_failed = check_current_failed;
			check_current_failed = 0;
			uint8_t *data = pattern(c->len, (uint32_t)i + 1);
			int fds[2];
			open_pair(fds);
			pid_t pid = send_data_in_child(fds[0], sides[s], c->offset, data, c->len);

			uint8_t *body = NULL;
			size_t body_len = 0;
			CHECK_INT(frame_read(fds[1], EMBER_FRAME_MAX, &body, &body_len), 0);
			CHECK_INT(wait_sender(pid), 0);
			if (body) {
				check_generated_decode(sides[s], body, body_len, c, data);
				/* The hand encoder gives the bytes protobuf-c gives. */
				size_t expected_len;
				uint8_t *expected = pack_expected(sides[s], c->offset, data,
								  c->len, &expected_len);
				CHECK_INT(body_len, expected_len);
				if (body_len == expected_len)
					CHECK(memcmp(body, expected, body_len) == 0);
				free(expected);
			}
			if (check_current_failed)
				fprintf(stderr, "  case: %s sends %s\n", side_name(sides[s]),
					c->name);
			check_current_failed |= start_failed;
			free(body);
			free(data);
			close(fds[0]);
			close(fds[1]);
		}
	}
}

static void packed_data_decodes_in_place(void)
{
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; i < CASE_COUNT; i++) {
			const struct data_case *c = &data_cases[i];
			int start_failed = check_current_failed;
			check_current_failed = 0;
			uint8_t *data = pattern(c->len, (uint32_t)i + 101);
			int fds[2];
			open_pair(fds);
			pid_t pid = pack_data_in_child(fds[0], other_side(sides[s]), c->offset,
						       data, c->len);

			struct copy_stream stream = { .fd = fds[1], .side = sides[s] };
			struct copy_frame frame;
			CHECK_INT(copy_stream_recv(&stream, &frame), 0);
			CHECK_INT(wait_sender(pid), 0);
			CHECK_INT(frame.kind, COPY_FRAME_DATA);
			if (frame.kind == COPY_FRAME_DATA && frame.data) {
				CHECK(frame.data->offset == c->offset);
				CHECK_INT(frame.data->data.len, c->len);
				if (frame.data->data.len == c->len && c->len > 0)
					CHECK(memcmp(frame.data->data.data, data, c->len) == 0);
			}
			copy_frame_free(&frame);
			if (check_current_failed)
				fprintf(stderr, "  case: %s receives %s\n", side_name(sides[s]),
					c->name);
			check_current_failed |= start_failed;
			copy_stream_release(&stream);
			free(data);
			close(fds[0]);
			close(fds[1]);
		}
	}
}

/* ------------------------------------------------------------ raw frames */

/* A frame body built byte by byte. */
struct raw {
	uint8_t bytes[256];
	size_t len;
};

static void raw_byte(struct raw *raw, uint8_t byte)
{
	raw->bytes[raw->len++] = byte;
}

static void raw_varint(struct raw *raw, uint64_t value)
{
	while (value >= 0x80) {
		raw_byte(raw, (uint8_t)(value | 0x80));
		value >>= 7;
	}
	raw_byte(raw, (uint8_t)value);
}

static void raw_bytes(struct raw *raw, const void *data, size_t len)
{
	memcpy(raw->bytes + raw->len, data, len);
	raw->len += len;
}

/* Appends a length-delimited field (wire type 2). */
static void raw_len_field(struct raw *raw, uint32_t field, const void *data, size_t len)
{
	raw_varint(raw, (uint64_t)field << 3 | 2);
	raw_varint(raw, len);
	raw_bytes(raw, data, len);
}

/* The field number of CopyData in the frames the receiver of side reads. */
static uint32_t copy_data_field(enum copy_side receiver)
{
	return receiver == COPY_SIDE_AGENT ? EMBER__CLIENT_FRAME__KIND_COPY_DATA
					   : EMBER__AGENT_FRAME__KIND_COPY_DATA;
}

/* Writes body as one frame, its length prefix first. */
static void write_raw_frame(int fd, const uint8_t *body, size_t len)
{
	uint8_t header[EMBER_FRAME_HEADER] = {
		(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len,
	};
	CHECK_INT(write_full(fd, header, sizeof(header)), 0);
	if (len > 0)
		CHECK_INT(write_full(fd, body, len), 0);
}

/* Receives body through copy_stream_recv as receiver and checks that it gives
 * what the generated decoder gives for the same bytes: a CopyData of the same
 * offset and data. */
static void check_same_as_generated(enum copy_side receiver, const struct raw *body)
{
	int fds[2];
	open_pair(fds);
	write_raw_frame(fds[0], body->bytes, body->len);

	const Ember__CopyData *expected = NULL;
	ProtobufCMessage *outer = NULL;
	if (receiver == COPY_SIDE_AGENT) {
		Ember__ClientFrame *client = ember__client_frame__unpack(NULL, body->len, body->bytes);
		CHECK(client != NULL);
		if (client) {
			CHECK_INT(client->kind_case, EMBER__CLIENT_FRAME__KIND_COPY_DATA);
			expected = client->copy_data;
			outer = &client->base;
		}
	} else {
		Ember__AgentFrame *agent = ember__agent_frame__unpack(NULL, body->len, body->bytes);
		CHECK(agent != NULL);
		if (agent) {
			CHECK_INT(agent->kind_case, EMBER__AGENT_FRAME__KIND_COPY_DATA);
			expected = agent->copy_data;
			outer = &agent->base;
		}
	}

	struct copy_stream stream = { .fd = fds[1], .side = receiver };
	struct copy_frame frame;
	CHECK_INT(copy_stream_recv(&stream, &frame), 0);
	CHECK_INT(frame.kind, COPY_FRAME_DATA);
	if (expected && frame.kind == COPY_FRAME_DATA && frame.data) {
		CHECK(frame.data->offset == expected->offset);
		CHECK_INT(frame.data->data.len, expected->data.len);
		if (frame.data->data.len == expected->data.len && expected->data.len > 0)
			CHECK(memcmp(frame.data->data.data, expected->data.data,
				     expected->data.len) == 0);
	}
	copy_frame_free(&frame);
	copy_stream_release(&stream);
	if (outer)
		protobuf_c_message_free_unpacked(outer, NULL);
	close(fds[0]);
	close(fds[1]);
}

static void unknown_field_falls_back(void)
{
	for (size_t s = 0; s < 2; s++) {
		/* CopyData{offset 5, data "abc", field 3 = 42, field 9 = "zz"}. */
		struct raw inner = { .len = 0 };
		raw_byte(&inner, 1 << 3 | 0);
		raw_varint(&inner, 5);
		raw_len_field(&inner, 2, "abc", 3);
		raw_byte(&inner, 3 << 3 | 0);
		raw_varint(&inner, 42);
		raw_len_field(&inner, 9, "zz", 2);
		struct raw body = { .len = 0 };
		raw_len_field(&body, copy_data_field(sides[s]), inner.bytes, inner.len);
		check_same_as_generated(sides[s], &body);
	}
}

static void repeated_field_keeps_last(void)
{
	for (size_t s = 0; s < 2; s++) {
		/* data twice, then offset twice, in reverse order: the last of each wins. */
		struct raw inner = { .len = 0 };
		raw_len_field(&inner, 2, "first", 5);
		raw_len_field(&inner, 2, "xy", 2);
		raw_byte(&inner, 1 << 3 | 0);
		raw_varint(&inner, 1ull << 40);
		raw_byte(&inner, 1 << 3 | 0);
		raw_varint(&inner, 77);
		struct raw body = { .len = 0 };
		raw_len_field(&body, copy_data_field(sides[s]), inner.bytes, inner.len);
		check_same_as_generated(sides[s], &body);

		/* Checked against the protobuf rule itself, not only protobuf-c. */
		int fds[2];
		open_pair(fds);
		write_raw_frame(fds[0], body.bytes, body.len);
		struct copy_stream stream = { .fd = fds[1], .side = sides[s] };
		struct copy_frame frame;
		CHECK_INT(copy_stream_recv(&stream, &frame), 0);
		CHECK_INT(frame.kind, COPY_FRAME_DATA);
		if (frame.kind == COPY_FRAME_DATA && frame.data) {
			CHECK_INT(frame.data->offset, 77);
			CHECK_INT(frame.data->data.len, 2);
			if (frame.data->data.len == 2)
				CHECK(memcmp(frame.data->data.data, "xy", 2) == 0);
		}
		copy_frame_free(&frame);
		copy_stream_release(&stream);
		close(fds[0]);
		close(fds[1]);
	}
}

static void split_copy_data_merges(void)
{
	for (size_t s = 0; s < 2; s++) {
		/* The CopyData field twice in one frame: protobuf merges the two
		 * messages, so offset comes from the first and data from the second. */
		struct raw first = { .len = 0 }, second = { .len = 0 };
		raw_byte(&first, 1 << 3 | 0);
		raw_varint(&first, 9);
		raw_len_field(&second, 2, "tail", 4);
		struct raw body = { .len = 0 };
		raw_len_field(&body, copy_data_field(sides[s]), first.bytes, first.len);
		raw_len_field(&body, copy_data_field(sides[s]), second.bytes, second.len);
		check_same_as_generated(sides[s], &body);
	}
}

static void entry_and_file_end_frames_decode(void)
{
	for (size_t s = 0; s < 2; s++) {
		enum copy_side sender = other_side(sides[s]);
		int fds[2];
		open_pair(fds);
		struct copy_stream out = { .fd = fds[0], .side = sender };
		struct copy_stream in = { .fd = fds[1], .side = sides[s] };

		Ember__CopyEntry entry = EMBER__COPY_ENTRY__INIT;
		entry.name.data = (uint8_t *)"dir/file";
		entry.name.len = 8;
		entry.type = EMBER__COPY_ENTRY__TYPE__FILE;
		entry.mode = 0640;
		entry.size = 3;
		uint8_t sha256[32];
		memset(sha256, 0xab, sizeof(sha256));
		CHECK_INT(copy_stream_send_entry(&out, &entry), 0);
		CHECK_INT(copy_stream_send_data(&out, 0, "abc", 3), 0);
		CHECK_INT(copy_stream_send_file_end(&out, sha256, 3), 0);
		CHECK_INT(copy_stream_send_end(&out), 0);

		struct copy_frame frame;
		CHECK_INT(copy_stream_recv(&in, &frame), 0);
		CHECK_INT(frame.kind, COPY_FRAME_ENTRY);
		if (frame.kind == COPY_FRAME_ENTRY && frame.entry) {
			CHECK_INT(frame.entry->name.len, 8);
			if (frame.entry->name.len == 8)
				CHECK(memcmp(frame.entry->name.data, "dir/file", 8) == 0);
			CHECK_INT(frame.entry->mode, 0640);
			CHECK_INT(frame.entry->size, 3);
		}
		copy_frame_free(&frame);

		CHECK_INT(copy_stream_recv(&in, &frame), 0);
		CHECK_INT(frame.kind, COPY_FRAME_DATA);
		if (frame.kind == COPY_FRAME_DATA && frame.data) {
			CHECK_INT(frame.data->data.len, 3);
			if (frame.data->data.len == 3)
				CHECK(memcmp(frame.data->data.data, "abc", 3) == 0);
		}
		copy_frame_free(&frame);

		CHECK_INT(copy_stream_recv(&in, &frame), 0);
		CHECK_INT(frame.kind, COPY_FRAME_FILE_END);
		if (frame.kind == COPY_FRAME_FILE_END && frame.file_end) {
			CHECK_INT(frame.file_end->size, 3);
			CHECK_INT(frame.file_end->sha256.len, 32);
			if (frame.file_end->sha256.len == 32)
				CHECK(memcmp(frame.file_end->sha256.data, sha256, 32) == 0);
		}
		copy_frame_free(&frame);

		CHECK_INT(copy_stream_recv(&in, &frame), 0);
		CHECK_INT(frame.kind, COPY_FRAME_END);
		copy_frame_free(&frame);

		copy_stream_release(&out);
		copy_stream_release(&in);
		close(fds[0]);
		close(fds[1]);
	}
}

/* Each malformed frame follows a valid one whose bytes stay in the stream's
 * reused receive buffer. A decoder that read past the malformed frame's end
 * would read those stale bytes, so the "data length past the frame" case
 * would decode instead of failing. */
static void malformed_frames_are_bad_message(void)
{
	for (size_t s = 0; s < 2; s++) {
		uint32_t field = copy_data_field(sides[s]);
		uint8_t payload[32];
		memset(payload, 'p', sizeof(payload));

		/* The valid frame: CopyData{offset 3, data 32 bytes}. */
		struct raw inner = { .len = 0 };
		raw_byte(&inner, 1 << 3 | 0);
		raw_varint(&inner, 3);
		raw_len_field(&inner, 2, payload, sizeof(payload));
		struct raw valid = { .len = 0 };
		raw_len_field(&valid, field, inner.bytes, inner.len);

		struct raw cases[6];
		const char *names[6];
		size_t count = 0;

		/* Cut inside the varint of the outer length. */
		names[count] = "outer length varint truncated";
		cases[count].len = 0;
		raw_varint(&cases[count], (uint64_t)field << 3 | 2);
		raw_byte(&cases[count], 0x80);
		count++;

		/* Cut inside the offset varint, the outer length matching. */
		names[count] = "offset varint truncated";
		cases[count].len = 0;
		raw_varint(&cases[count], (uint64_t)field << 3 | 2);
		raw_varint(&cases[count], 3);
		raw_byte(&cases[count], 1 << 3 | 0);
		raw_byte(&cases[count], 0xff);
		raw_byte(&cases[count], 0xff);
		count++;

		/* The valid frame cut short: its outer length runs past the frame. */
		names[count] = "outer length past the frame";
		cases[count].len = 0;
		raw_bytes(&cases[count], valid.bytes, valid.len - 10);
		count++;

		/* The data length runs past the frame, the outer length matching. */
		names[count] = "data length past the frame";
		cases[count].len = 0;
		raw_varint(&cases[count], (uint64_t)field << 3 | 2);
		raw_varint(&cases[count], 4);
		raw_byte(&cases[count], 2 << 3 | 2);
		raw_varint(&cases[count], sizeof(payload));
		raw_bytes(&cases[count], payload, 2);
		count++;

		/* An offset varint of eleven bytes, longer than any 64-bit value. */
		names[count] = "offset varint over ten bytes";
		cases[count].len = 0;
		raw_varint(&cases[count], (uint64_t)field << 3 | 2);
		raw_varint(&cases[count], 12);
		raw_byte(&cases[count], 1 << 3 | 0);
		for (int i = 0; i < 10; i++)
			raw_byte(&cases[count], 0xff);
		raw_byte(&cases[count], 0x01);
		count++;

		/* A frame whose last byte is a field key with no value. */
		names[count] = "key without a value";
		cases[count].len = 0;
		raw_varint(&cases[count], (uint64_t)field << 3 | 2);
		raw_varint(&cases[count], 1);
		raw_byte(&cases[count], 2 << 3 | 2);
		count++;

		for (size_t i = 0; i < count; i++) {
			int start_failed = check_current_failed;
			check_current_failed = 0;
			int fds[2];
			open_pair(fds);
			struct copy_stream stream = { .fd = fds[1], .side = sides[s] };
			struct copy_frame frame;

			write_raw_frame(fds[0], valid.bytes, valid.len);
			CHECK_INT(copy_stream_recv(&stream, &frame), 0);
			CHECK_INT(frame.kind, COPY_FRAME_DATA);
			copy_frame_free(&frame);

			write_raw_frame(fds[0], cases[i].bytes, cases[i].len);
			CHECK_INT(copy_stream_recv(&stream, &frame), -EBADMSG);
			copy_frame_free(&frame);
			if (check_current_failed)
				fprintf(stderr, "  case: %s receives %s\n", side_name(sides[s]),
					names[i]);
			check_current_failed |= start_failed;
			copy_stream_release(&stream);
			close(fds[0]);
			close(fds[1]);
		}
	}
}

static void oversized_chunk_rejected(void)
{
	for (size_t s = 0; s < 2; s++) {
		uint8_t *data = pattern(EMBER_CHUNK_MAX + 1, 7);
		/* Non-blocking, so a send that went ahead fails the test at once
		 * instead of blocking on the full socket. */
		int fds[2];
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
		struct copy_stream stream = { .fd = fds[0], .side = sides[s] };

		CHECK_INT(copy_stream_send_data(&stream, 0, data, EMBER_CHUNK_MAX + 1), -EMSGSIZE);
		CHECK_INT(stream.bytes, 0);
		/* Nothing of the frame reached the socket. */
		uint8_t byte;
		CHECK_INT(recv(fds[1], &byte, 1, MSG_DONTWAIT), -1);
		CHECK_INT(errno, EAGAIN);

		copy_stream_release(&stream);
		free(data);
		close(fds[0]);
		close(fds[1]);
	}
}

int main(void)
{
	RUN(sent_data_decodes_with_protobuf_c);
	RUN(packed_data_decodes_in_place);
	RUN(unknown_field_falls_back);
	RUN(repeated_field_keeps_last);
	RUN(split_copy_data_merges);
	RUN(entry_and_file_end_frames_decode);
	RUN(malformed_frames_are_bad_message);
	RUN(oversized_chunk_rejected);
	return check_summary("lib/test_copy_stream");
}
