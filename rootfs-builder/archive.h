/* libarchive plumbing: unpacking an image archive into a staging directory, reading a
 * layer's tar stream while hashing the bytes underneath it, and decompressing a file. */
#ifndef EMBER_ROOTFS_ARCHIVE_H
#define EMBER_ROOTFS_ARCHIVE_H

#include <archive.h>
#include <stdint.h>

#include "digest.h"
#include "image.h"

/* Bytes read from a blob per call. */
#define ARCHIVE_READ_CHUNK (256 * 1024)
/* Maximum size of a file that decompress_file() returns in memory (a kernel module). */
#define ARCHIVE_MAX_MEMORY_FILE (256 * 1024 * 1024)

/* Unpacks an oci-archive or docker-archive file into the existing empty directory dir,
 * refusing absolute names, ".." and writes through symlinks. Logs what failed. */
int archive_unpack(const char *file, const char *dir);

typedef void (*progress_fn)(uint64_t bytes, void *arg);

/* A layer being read: the libarchive reader over the blob file. */
struct layer_reader {
	struct archive *archive;
	int fd;
	unsigned char *buffer;
	uint64_t bytes_read;
	progress_fn progress;
	void *progress_arg;
};

/* Opens a tar layer with the decompressor its media type (or its first bytes) calls for.
 * The blob must have been verified already (image_verify). */
int layer_reader_open(struct layer_reader *reader, const struct image_layer *layer,
		      progress_fn progress, void *progress_arg);
void layer_reader_close(struct layer_reader *reader);

/* Hashes the uncompressed stream of a (possibly compressed) file with the algorithm of
 * expected, writing the result to actual. */
int digest_uncompressed(const char *path, const char *expected, char actual[DIGEST_MAX_TEXT],
			digest_progress_fn progress, void *progress_arg);

/* Reads a file, decompressing gzip, xz or zstd detected from its first bytes, into a new
 * buffer of *size bytes (at most ARCHIVE_MAX_MEMORY_FILE). Returns 0 or -errno. */
int decompress_file(const char *path, unsigned char **data, size_t *size);

#endif
