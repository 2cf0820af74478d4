/* Output formats written from the tree: an ext4 image (ext4.c), a newc cpio initramfs
 * (cpio.c) and a plain directory (dirout.c). Each writes to the path it is given (a
 * temporary name that main.c renames into place on success) and logs what failed. */
#ifndef EMBER_ROOTFS_OUTPUT_H
#define EMBER_ROOTFS_OUTPUT_H

#include <stdint.h>

#include "tree.h"

/* Headroom of an automatically sized ext4 image: a share of the tree's blocks and inodes,
 * and a fixed amount for the journal and metadata. */
#define EXT4_HEADROOM_PERCENT 20
#define EXT4_FIXED_HEADROOM (48ULL * 1024 * 1024)
#define EXT4_INODE_HEADROOM 1024
#define EXT4_BLOCK_SIZE 4096
#define EXT4_INODE_SIZE 256
/* One inode per this many bytes of --free space (mke2fs's default inode ratio). */
#define EXT4_FREE_BYTES_PER_INODE 16384
/* Smallest and largest image accepted. */
#define EXT4_MIN_SIZE (8ULL * 1024 * 1024)
#define EXT4_MAX_SIZE (16ULL * 1024 * 1024 * 1024 * 1024)
/* Bytes copied from the spool per write. */
#define OUTPUT_COPY_CHUNK (1024 * 1024)

struct output_options {
	uint64_t size;      /* ext4: total bytes, 0 for automatic */
	uint64_t free;      /* ext4: extra free bytes on top of the automatic size */
	int64_t epoch;      /* SOURCE_DATE_EPOCH, or -1 */
	const char *seed;   /* input identity, for a reproducible filesystem UUID */
	int compress;       /* initramfs: gzip */
	void (*progress)(uint64_t done, uint64_t total, void *arg);
	void *progress_arg;
};

/* The automatic ext4 size and inode count for a tree. */
void ext4_plan(const struct tree_stats *stats, const struct output_options *options,
	       uint64_t *size, uint64_t *inodes);

int ext4_write(struct tree *tree, const char *path, const struct output_options *options);
int cpio_write(struct tree *tree, const char *path, const struct output_options *options);
int dir_write(struct tree *tree, const char *path, const struct output_options *options);

#endif
