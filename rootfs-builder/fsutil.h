/* Filesystem helpers for the builder's own temporary files and directories. */
#ifndef EMBER_ROOTFS_FSUTIL_H
#define EMBER_ROOTFS_FSUTIL_H

#include <stddef.h>

#include <signal.h>

/* The signal (SIGINT, SIGTERM, SIGHUP) that asked the build to stop, or 0. Long loops check
 * it and return -EINTR, so the normal cleanup removes temporary files. */
extern volatile sig_atomic_t stop_signal_received;

/* Removes path and everything below it without following symlinks. Returns 0 or -errno. */
int remove_tree(const char *path);

/* Writes the directory part of path (or "." when it has none) into dir. */
void parent_dir(const char *path, char *dir, size_t size);

#endif
