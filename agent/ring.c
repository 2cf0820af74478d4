/* The session output ring. */
#include "ring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* First allocation; doubled as output arrives. */
#define RING_INITIAL_CAPACITY 4096u

void ring_init(struct ring *ring, size_t max)
{
	memset(ring, 0, sizeof(*ring));
	ring->max = max;
}

void ring_free(struct ring *ring)
{
	free(ring->data);
	ring_init(ring, ring->max);
}

static size_t ring_held(const struct ring *ring)
{
	return ring->written < ring->capacity ? (size_t)ring->written : ring->capacity;
}

uint64_t ring_oldest(const struct ring *ring)
{
	return ring->written - ring_held(ring);
}

size_t ring_free_space(const struct ring *ring)
{
	return ring->max - ring_held(ring);
}

/* Grows the buffer towards need bytes (at most max), keeping the held bytes
 * at their offset modulo the new capacity. */
static int ring_grow(struct ring *ring, size_t need)
{
	size_t capacity = ring->capacity ? ring->capacity : RING_INITIAL_CAPACITY;
	uint8_t *data;
	size_t held = ring_held(ring);
	uint64_t oldest = ring_oldest(ring);

	while (capacity < need && capacity < ring->max)
		capacity *= 2;
	if (capacity > ring->max)
		capacity = ring->max;
	if (capacity == ring->capacity)
		return 0;
	data = malloc(capacity);
	if (!data)
		return -ENOMEM;
	for (size_t i = 0; i < held; i++)
		data[(oldest + i) % capacity] = ring->data[(oldest + i) % ring->capacity];
	free(ring->data);
	ring->data = data;
	ring->capacity = capacity;
	return 0;
}

int ring_write(struct ring *ring, const void *buf, size_t len)
{
	const uint8_t *src = buf;

	if (ring_held(ring) + len > ring->capacity && ring->capacity < ring->max) {
		int r = ring_grow(ring, ring_held(ring) + len);

		if (r < 0)
			return r;
	}
	/* Only the last capacity bytes of a long write survive. */
	if (len > ring->capacity) {
		ring->written += len - ring->capacity;
		src += len - ring->capacity;
		len = ring->capacity;
	}
	while (len > 0) {
		size_t pos = (size_t)(ring->written % ring->capacity);
		size_t n = ring->capacity - pos;

		if (n > len)
			n = len;
		memcpy(ring->data + pos, src, n);
		ring->written += n;
		src += n;
		len -= n;
	}
	return 0;
}

size_t ring_read(const struct ring *ring, uint64_t offset, void *buf, size_t len)
{
	uint8_t *dst = buf;
	size_t copied = 0;

	if (offset < ring_oldest(ring) || offset >= ring->written)
		return 0;
	if (len > ring->written - offset)
		len = (size_t)(ring->written - offset);
	while (copied < len) {
		size_t pos = (size_t)((offset + copied) % ring->capacity);
		size_t n = ring->capacity - pos;

		if (n > len - copied)
			n = len - copied;
		memcpy(dst + copied, ring->data + pos, n);
		copied += n;
	}
	return copied;
}
