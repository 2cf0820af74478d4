/* The files every image gets on top of its layers: /sbin/ember-init and /sbin/ember-agent for
 * the image's architecture, /etc/ember/config.json, /dev/console (character 5:1), the mount
 * points ember-init uses (/proc /sys /dev /run /tmp), and /init for an initramfs. */
#ifndef EMBER_ROOTFS_INJECT_H
#define EMBER_ROOTFS_INJECT_H

#include <jansson.h>

#include "tree.h"

/* Maximum size of an ember binary or token file copied into an image. */
#define INJECT_MAX_FILE (64 * 1024 * 1024)

/* Finds the directory with ember-init and ember-agent for architecture ("amd64" or
 * "arm64"): explicit when non-NULL, else next to this program (build/bin, build/arm64/bin,
 * or PREFIX/share/ember/ARCH). Checks each binary's ELF machine. Logs what failed. */
int inject_find_binaries(const char *explicit_dir, const char *architecture, char *dir,
			 size_t size);

/* Adds the ember binaries from bin_dir, the boot config, /dev/console, the mount points,
 * the process's working directory when missing, the agent token (when token_path is
 * non-NULL) and, when initramfs is non-zero, /init. */
int inject_all(struct tree *tree, const char *bin_dir, json_t *boot_config,
	       const char *token_path, int initramfs);

/* Adds a regular file with the given contents, replacing whatever is at path. */
int inject_file(struct tree *tree, const char *path, const void *data, size_t size, mode_t mode);

#endif
