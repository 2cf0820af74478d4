/* A minimal tar reader and writer for `emberctl cp -`: ustar headers, with pax
 * extended headers for names, link targets and sizes that do not fit, and GNU
 * long-name records when reading. */
#ifndef EMBER_COPY_TAR_H
#define EMBER_COPY_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAR_BLOCK 512
/* Largest pax extended header or GNU long name record read, in bytes. */
#define TAR_EXTENDED_MAX (64u * 1024u)

enum tar_type {
	TAR_FILE,
	TAR_HARDLINK,
	TAR_SYMLINK,
	TAR_DIRECTORY,
	TAR_OTHER,       /* devices, FIFOs and other kinds, skipped by the reader */
};

struct tar_header {
	enum tar_type type;
	char typeflag;
	char *name;          /* malloc'ed, without a trailing '/' */
	char *link_target;   /* malloc'ed, "" when none */
	uint32_t mode, uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t size;
};

void tar_header_free(struct tar_header *header);

/* Writes the header of one entry (and a pax header first when needed).
 * Returns 0 or -errno. */
int tar_write_header(int fd, const struct tar_header *header);
/* Writes zeros up to the next 512-byte boundary after size bytes of content. */
int tar_write_padding(int fd, uint64_t size);
/* Writes the two zero blocks that end an archive. */
int tar_write_end(int fd);

/* Reads the next header, applying pax and GNU long-name records. Returns 1 with
 * *header filled, 0 at the end of the archive, -EBADMSG for a damaged archive,
 * -EOPNOTSUPP for an unsupported kind (sparse files), or -errno. */
int tar_read_header(int fd, struct tar_header *header);
/* Reads exactly len bytes of content. Returns 0, -EBADMSG when the archive
 * ends early, or -errno. */
int tar_read_content(int fd, void *buf, size_t len);
/* Skips the padding after size bytes of content, or the whole content plus
 * padding when skip_content is set. */
int tar_skip(int fd, uint64_t size, bool skip_content);

#endif
