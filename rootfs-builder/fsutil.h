/* Filesystem helpers for the builder's own temporary files and directories. */
#ifndef EMBER_ROOTFS_FSUTIL_H
#define EMBER_ROOTFS_FSUTIL_H

#include <stddef.h>

/* Removes path and everything below it without following symlinks. Returns 0 or -errno. */
int remove_tree(const char *path);

/* Writes the directory part of path (or "." when it has none) into dir. */
void parent_dir(const char *path, char *dir, size_t size);

#endif
