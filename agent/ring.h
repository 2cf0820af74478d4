/* A byte ring with absolute offsets: the last `max` bytes of a stream that
 * began at offset 0. Memory grows on demand up to max, so an idle session
 * costs little. */
#ifndef EMBER_AGENT_RING_H
#define EMBER_AGENT_RING_H

#include <stddef.h>
#include <stdint.h>

struct ring {
	uint8_t *data;
	size_t capacity;   /* bytes allocated, doubled on demand up to max */
	size_t max;        /* bytes kept at most */
	uint64_t written;  /* total bytes ever written */
};

void ring_init(struct ring *ring, size_t max);
void ring_free(struct ring *ring);

/* Offset of the oldest byte still held. */
uint64_t ring_oldest(const struct ring *ring);

/* Bytes that can be written before the oldest byte is overwritten. */
size_t ring_free_space(const struct ring *ring);

/* Appends len bytes, overwriting the oldest ones beyond max. Returns 0 or
 * -ENOMEM (nothing written) when growing fails. */
int ring_write(struct ring *ring, const void *buf, size_t len);

/* Copies up to len bytes starting at offset, which must lie between
 * ring_oldest and written. Returns the bytes copied. */
size_t ring_read(const struct ring *ring, uint64_t offset, void *buf, size_t len);

#endif
