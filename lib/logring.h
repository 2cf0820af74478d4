/* The entrypoint's output ring: a shared-memory file under /run/ember that
 * ember-init writes and ember-agent reads (the `logs` operation).
 *
 * The file is a 64-byte header followed by `capacity` data bytes. Byte number
 * N of the output (counting from 0 since boot) lives at data[N % capacity].
 * The writer copies data first and then publishes the new total with a release
 * store. A reader loads the total with acquire, copies, and loads it again to
 * find which of the copied bytes were overwritten meanwhile. There is one
 * writer, and readers never block it. */
#ifndef EMBER_LOGRING_H
#define EMBER_LOGRING_H

#include <stddef.h>
#include <stdint.h>

#define LOGRING_PATH "/run/ember/entrypoint.log"
#define LOGRING_MAGIC 0x454d4252u /* "EMBR" */
#define LOGRING_DEFAULT_CAPACITY (1024u * 1024u)
#define LOGRING_MIN_CAPACITY 4096u
#define LOGRING_MAX_CAPACITY (64u * 1024u * 1024u)

struct logring_header {
	uint32_t magic;
	uint32_t version;
	uint64_t capacity;
	uint64_t written;   /* total bytes ever written; published with release */
	uint64_t closed;    /* non-zero once the entrypoint exited and its output drained */
	uint8_t reserved[32];
};

struct logring {
	struct logring_header *header;
	uint8_t *data;
	size_t map_len;
};

/* Creates (or truncates) the ring file at path with capacity data bytes and
 * maps it writable. Returns 0 or -errno; -EINVAL for a capacity out of range. */
int logring_create(struct logring *ring, const char *path, uint64_t capacity);

/* Maps an existing ring read-only. Returns 0, -errno, or -EINVAL when the file
 * is not a ring. */
int logring_open(struct logring *ring, const char *path);

void logring_close(struct logring *ring);

/* Appends len bytes, overwriting the oldest ones when full. */
void logring_write(struct logring *ring, const void *buf, size_t len);

/* Marks the stream finished; readers that follow it stop after the last byte. */
void logring_mark_closed(struct logring *ring);

/* Total bytes written so far. */
uint64_t logring_written(const struct logring *ring);
int logring_is_closed(const struct logring *ring);

/* Copies up to len bytes starting at *offset into buf. When *offset is older
 * than the oldest byte still held, *lost receives the skipped byte count and
 * *offset moves forward past them. Returns the bytes copied (0 when nothing new)
 * and advances *offset by them. */
size_t logring_read(const struct logring *ring, uint64_t *offset, void *buf, size_t len,
		    uint64_t *lost);

#endif
