/* The entrypoint's output ring, shared through a mapped file. */
#include "logring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOGRING_VERSION 1

int logring_create(struct logring *ring, const char *path, uint64_t capacity)
{
	size_t len = sizeof(struct logring_header) + capacity;
	int fd, r = 0;

	if (capacity < LOGRING_MIN_CAPACITY || capacity > LOGRING_MAX_CAPACITY)
		return -EINVAL;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0) {
		r = -errno;
		goto out;
	}

	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (map == MAP_FAILED) {
		r = -errno;
		goto out;
	}
	ring->header = map;
	ring->data = (uint8_t *)map + sizeof(struct logring_header);
	ring->map_len = len;
	ring->header->version = LOGRING_VERSION;
	ring->header->capacity = capacity;
	ring->header->written = 0;
	ring->header->closed = 0;
	__atomic_store_n(&ring->header->magic, LOGRING_MAGIC, __ATOMIC_RELEASE);
out:
	close(fd);
	return r;
}

int logring_open(struct logring *ring, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if ((size_t)st.st_size < sizeof(struct logring_header) + LOGRING_MIN_CAPACITY) {
		r = -EINVAL;
		goto out;
	}

	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);

	if (map == MAP_FAILED) {
		r = -errno;
		goto out;
	}

	const struct logring_header *header = map;

	if (__atomic_load_n(&header->magic, __ATOMIC_ACQUIRE) != LOGRING_MAGIC ||
	    header->capacity + sizeof(*header) != (uint64_t)st.st_size) {
		munmap(map, (size_t)st.st_size);
		r = -EINVAL;
		goto out;
	}
	ring->header = map;
	ring->data = (uint8_t *)map + sizeof(*header);
	ring->map_len = (size_t)st.st_size;
out:
	close(fd);
	return r;
}

void logring_close(struct logring *ring)
{
	if (ring->header)
		munmap(ring->header, ring->map_len);
	memset(ring, 0, sizeof(*ring));
}

void logring_write(struct logring *ring, const void *buf, size_t len)
{
	uint64_t capacity = ring->header->capacity;
	uint64_t written = ring->header->written;
	const uint8_t *src = buf;

	/* Only the last `capacity` bytes can survive. */
	if (len > capacity) {
		written += len - capacity;
		src += len - capacity;
		len = (size_t)capacity;
	}
	while (len > 0) {
		size_t pos = (size_t)(written % capacity);
		size_t n = (size_t)capacity - pos < len ? (size_t)capacity - pos : len;

		memcpy(ring->data + pos, src, n);
		src += n;
		len -= n;
		written += n;
	}
	__atomic_store_n(&ring->header->written, written, __ATOMIC_RELEASE);
}

void logring_mark_closed(struct logring *ring)
{
	__atomic_store_n(&ring->header->closed, 1, __ATOMIC_RELEASE);
}

uint64_t logring_written(const struct logring *ring)
{
	return __atomic_load_n(&ring->header->written, __ATOMIC_ACQUIRE);
}

int logring_is_closed(const struct logring *ring)
{
	return __atomic_load_n(&ring->header->closed, __ATOMIC_ACQUIRE) != 0;
}

size_t logring_read(const struct logring *ring, uint64_t *offset, void *buf, size_t len,
		    uint64_t *lost)
{
	uint64_t capacity = ring->header->capacity;
	uint64_t end = logring_written(ring);
	uint64_t start = *offset;
	uint8_t *dst = buf;
	size_t copied = 0;

	*lost = 0;
	if (end > capacity && start < end - capacity) {
		*lost = end - capacity - start;
		start = end - capacity;
	}
	if (start > end)
		start = end; /* an offset from the future: nothing to read yet */
	while (copied < len && start + copied < end) {
		uint64_t at = start + copied;
		size_t pos = (size_t)(at % capacity);
		size_t n = (size_t)capacity - pos;

		if (n > len - copied)
			n = len - copied;
		if (n > end - at)
			n = (size_t)(end - at);
		memcpy(dst + copied, ring->data + pos, n);
		copied += n;
	}

	/* Bytes the writer overwrote while they were being copied are discarded. */
	uint64_t after = logring_written(ring);

	if (after > capacity && start < after - capacity) {
		uint64_t clobbered = after - capacity - start;

		if (clobbered >= copied) {
			*lost += copied;
			copied = 0;
		} else {
			memmove(dst, dst + clobbered, copied - (size_t)clobbered);
			copied -= (size_t)clobbered;
			*lost += clobbered;
		}
		start += clobbered;
	}
	*offset = start + copied;
	return copied;
}
