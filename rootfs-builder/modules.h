/* Kernel modules: finds the named modules and their dependencies (from each module's
 * "depends=" in .modinfo, so an unpacked kernel package without modules.dep works),
 * decompresses them and adds them to the tree in load order. */
#ifndef EMBER_ROOTFS_MODULES_H
#define EMBER_ROOTFS_MODULES_H

#include <jansson.h>
#include <stddef.h>

#include "tree.h"

/* Maximum modules in one module directory, and maximum names in --modules. */
#define MODULES_MAX_FILES 16384
#define MODULES_MAX_REQUESTED 256

/* Extracts the value of key from a .modinfo section ("key=value\0key=value\0...") into
 * value. Returns 0, or -ENOENT when the key is absent. */
int modinfo_get(const char *modinfo, size_t size, const char *key, char *value, size_t value_size);

/* Finds the .modinfo section of an ELF64 object. Returns 0 or -EINVAL for anything that
 * is not a well-formed little-endian ELF64 file. */
int elf_find_modinfo(const unsigned char *elf, size_t size, const char **section,
		     size_t *section_size);

/* Normalizes a module name in place: '-' becomes '_'. */
void module_normalize_name(char *name);

/* Adds the modules named in the comma-separated list (and their dependencies) from dir
 * to the tree under /lib/modules/VERSION, uncompressed, and returns their absolute paths
 * in load order in *paths (a new JSON array). dir is a lib/modules/VERSION directory, a
 * directory holding one, or an unpacked package root. Logs what failed. */
int modules_add(struct tree *tree, const char *dir, const char *names, json_t **paths);

#endif
