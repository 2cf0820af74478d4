/* Frames on an ember connection: a 4-byte big-endian length, then that many
 * bytes of one protobuf message (proto/agent.proto). Both the agent and the
 * host tools use these helpers, and both check every length against
 * EMBER_FRAME_MAX before allocating. */
#ifndef EMBER_FRAME_H
#define EMBER_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#define EMBER_PROTOCOL_VERSION 1
#define EMBER_PROTOCOL_MIN_VERSION 1

/* Default agent port on vsock; below 1024 so no unprivileged guest process can
 * bind it first. */
#define EMBER_DEFAULT_VSOCK_PORT 1023

/* Largest encoded message in one frame (the length prefix excluded). */
#define EMBER_FRAME_MAX (1024u * 1024u)
/* Largest payload of one data frame (stdin, output, copy data). */
#define EMBER_CHUNK_MAX (256u * 1024u)

#define EMBER_FRAME_HEADER 4

/* Encodes msg with its length prefix into a new buffer owned by the caller.
 * Returns 0, -EMSGSIZE when it exceeds EMBER_FRAME_MAX, or -ENOMEM. */
int frame_encode(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len);

/* Decodes a frame header. Returns 0, or -EMSGSIZE when the length exceeds max. */
int frame_parse_header(const uint8_t header[EMBER_FRAME_HEADER], size_t max, uint32_t *len);

/* Blocking: writes msg as one frame. Returns 0 or -errno. */
int frame_write(int fd, const ProtobufCMessage *msg);

/* Blocking: reads one frame body into a new buffer owned by the caller.
 * Returns 0; -ENODATA when the peer closed between frames; -ECONNRESET when it
 * closed inside a frame; -EMSGSIZE when the length exceeds max; or -errno. */
int frame_read(int fd, size_t max, uint8_t **body, size_t *len);

/* Incremental reader for non-blocking descriptors. */
struct frame_reader {
	size_t max;
	uint8_t header[EMBER_FRAME_HEADER];
	size_t header_have;
	uint8_t *body;
	uint32_t body_len;
	size_t body_have;
};

void frame_reader_init(struct frame_reader *reader, size_t max);
void frame_reader_release(struct frame_reader *reader);

/* Reads the bytes fd has now. Returns 1 with a complete frame in *body (the
 * caller frees it) and its length in *len. Returns 0 when the descriptor has
 * no more data yet, or one of frame_read's negative codes. */
int frame_reader_read(struct frame_reader *reader, int fd, uint8_t **body, size_t *len);

#endif
