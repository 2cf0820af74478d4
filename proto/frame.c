/* Length-prefixed protobuf frames. */
#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

int frame_encode(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf;

	if (len > EMBER_FRAME_MAX)
		return -EMSGSIZE;
	buf = malloc(EMBER_FRAME_HEADER + len);
	if (!buf)
		return -ENOMEM;
	buf[0] = (uint8_t)(len >> 24);
	buf[1] = (uint8_t)(len >> 16);
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	protobuf_c_message_pack(msg, buf + EMBER_FRAME_HEADER);
	*out = buf;
	*out_len = EMBER_FRAME_HEADER + len;
	return 0;
}

int frame_parse_header(const uint8_t header[EMBER_FRAME_HEADER], size_t max, uint32_t *len)
{
	uint32_t n = (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 |
		     (uint32_t)header[2] << 8 | header[3];

	if (n > max)
		return -EMSGSIZE;
	*len = n;
	return 0;
}

int frame_write(int fd, const ProtobufCMessage *msg)
{
	uint8_t *buf;
	size_t len;
	int r = frame_encode(msg, &buf, &len);

	if (r < 0)
		return r;
	r = write_full(fd, buf, len);
	free(buf);
	return r;
}

int frame_read(int fd, size_t max, uint8_t **body, size_t *len)
{
	uint8_t header[EMBER_FRAME_HEADER];
	uint32_t n;
	ssize_t got = read_full(fd, header, sizeof(header));
	int r;

	if (got < 0)
		return (int)got;
	if (got == 0)
		return -ENODATA;
	if ((size_t)got < sizeof(header))
		return -ECONNRESET;
	r = frame_parse_header(header, max, &n);
	if (r < 0)
		return r;

	uint8_t *buf = malloc(n ? n : 1);

	if (!buf)
		return -ENOMEM;
	got = read_full(fd, buf, n);
	if (got < 0 || (size_t)got < n) {
		free(buf);
		return got < 0 ? (int)got : -ECONNRESET;
	}
	*body = buf;
	*len = n;
	return 0;
}

void frame_reader_init(struct frame_reader *reader, size_t max)
{
	memset(reader, 0, sizeof(*reader));
	reader->max = max;
}

void frame_reader_release(struct frame_reader *reader)
{
	free(reader->body);
	frame_reader_init(reader, reader->max);
}

/* One read(2) into dst. Returns bytes read, 0 on EAGAIN, or a negative code. */
static ssize_t read_some(int fd, void *dst, size_t want, bool inside_frame)
{
	for (;;) {
		ssize_t n = read(fd, dst, want);

		if (n > 0)
			return n;
		if (n == 0)
			return inside_frame ? -ECONNRESET : -ENODATA;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -errno;
	}
}

int frame_reader_read(struct frame_reader *reader, int fd, uint8_t **body, size_t *len)
{
	while (reader->header_have < EMBER_FRAME_HEADER) {
		ssize_t n = read_some(fd, reader->header + reader->header_have,
				      EMBER_FRAME_HEADER - reader->header_have,
				      reader->header_have > 0);

		if (n <= 0)
			return (int)n;
		reader->header_have += (size_t)n;
		if (reader->header_have == EMBER_FRAME_HEADER) {
			int r = frame_parse_header(reader->header, reader->max, &reader->body_len);

			if (r < 0)
				return r;
			reader->body = malloc(reader->body_len ? reader->body_len : 1);
			if (!reader->body)
				return -ENOMEM;
			reader->body_have = 0;
		}
	}
	while (reader->body_have < reader->body_len) {
		ssize_t n = read_some(fd, reader->body + reader->body_have,
				      reader->body_len - reader->body_have, true);

		if (n <= 0)
			return (int)n;
		reader->body_have += (size_t)n;
	}
	*body = reader->body;
	*len = reader->body_len;
	reader->body = NULL;
	reader->header_have = 0;
	reader->body_have = 0;
	reader->body_len = 0;
	return 1;
}
