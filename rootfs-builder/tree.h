/* The in-memory root filesystem that image layers are applied to and that every output
 * format is written from.
 *
 * Layers never touch the host's filesystem. Entries become dentries and inodes here, and
 * file contents go to one spool file. Paths are resolved inside the tree only: a symlink in
 * the middle of a path is followed within the tree's root, and ".." stops at the root. So
 * no entry name or link can make the builder write outside its output. */
#ifndef EMBER_ROOTFS_TREE_H
#define EMBER_ROOTFS_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Symlinks followed while resolving one path before it fails with -ELOOP (Linux's limit). */
#define TREE_MAX_SYMLINK_FOLLOWS 40
/* Maximum length of a path from a layer entry or a link target, in bytes. */
#define TREE_MAX_PATH 4096
/* Maximum length of one name component, in bytes (ext4's limit). */
#define TREE_MAX_NAME 255

struct tree_xattr {
	char *name;
	void *value;
	size_t size;
};

struct tree_inode {
	mode_t mode; /* file type and permission bits */
	uint32_t uid, gid;
	int64_t mtime;
	uint32_t rdev_major, rdev_minor;
	uint64_t size;         /* regular files: content bytes, stored in the spool */
	uint64_t spool_offset; /* regular files: where the content starts in the spool */
	char *link_target;     /* symlinks */
	struct tree_xattr *xattrs;
	size_t xattr_count;
	uint32_t nlink;   /* dentries that point here */
	uint64_t out_ino; /* inode number an output writer assigned, 0 before */
	void *out_data;   /* output writer's per-inode state (a first path for hardlinks) */
};

struct tree_dentry {
	char *name;
	struct tree_inode *inode;
	struct tree_dentry *parent;
	struct tree_dentry *first_child, *next_sibling, *prev_sibling;
	struct tree_dentry *hash_next;
	size_t child_count;
	unsigned layer; /* the last layer that created this entry or something below it */
};

struct tree_stats {
	uint64_t inodes;
	uint64_t dirs;
	uint64_t regular_bytes;
	uint64_t data_blocks; /* 4 KiB blocks for file contents, long symlinks, directories */
	uint64_t xattr_blocks;
};

struct tree {
	struct tree_dentry *root;
	struct tree_dentry **buckets;
	size_t bucket_count, dentry_count;
	int spool_fd;
	uint64_t spool_size;
	unsigned layer;       /* the layer being applied, from 1; 0 for the builder's own entries */
	int64_t default_mtime; /* for directories the builder creates implicitly */
};

/* Sets up an empty tree (a root directory 0755 root:root) with its spool in spool_dir. */
int tree_init(struct tree *tree, const char *spool_dir, int64_t default_mtime);
void tree_free(struct tree *tree);

/* Splits path into a clean relative form in place: drops leading "/", "./", empty and "."
 * components. Returns the number of components or -ENAMETOOLONG. ".." is kept (resolution
 * stops it at the root). */
int tree_clean_path(char *path);

/* Finds the parent directory of path and its last component, creating missing
 * directories (0755 root:root) on the way, following symlinks inside the tree. On
 * success *leaf points into path (modified in place); *leaf is "" when path names the
 * root. Returns 0, -ENOTDIR, -ELOOP or -ENAMETOOLONG. */
int tree_resolve_parent(struct tree *tree, char *path, struct tree_dentry **parent,
			const char **leaf);

/* Looks up one child by name; NULL when missing. */
struct tree_dentry *tree_lookup(struct tree *tree, struct tree_dentry *dir, const char *name);

/* Resolves a whole path without creating anything, following symlinks (including the last
 * component when follow_last is non-zero). Returns the dentry or NULL. */
struct tree_dentry *tree_find(struct tree *tree, const char *path, int follow_last);

/* Creates a new inode of the given mode and owner; the caller fills in the rest. */
struct tree_inode *tree_new_inode(mode_t mode, uint32_t uid, uint32_t gid, int64_t mtime);

/* Puts inode at parent/name. An existing entry of that name is removed first (a whole
 * subtree for a directory), unless both are directories: then the existing directory keeps
 * its children and takes the new metadata, and the new inode is released. Returns the
 * dentry now at that name, or NULL on allocation failure (the inode is released). */
struct tree_dentry *tree_put(struct tree *tree, struct tree_dentry *parent, const char *name,
			     struct tree_inode *inode);

/* Adds a hardlink parent/name to an existing non-directory dentry. Returns 0 or -errno. */
int tree_link(struct tree *tree, struct tree_dentry *parent, const char *name,
	      struct tree_dentry *target);

/* Removes a dentry and everything below it. */
void tree_remove(struct tree *tree, struct tree_dentry *dentry);

/* Applies a whiteout: removes dir/name if it came from a lower layer. When the current
 * layer already touched it, only its lower-layer contents below it go. */
void tree_whiteout(struct tree *tree, struct tree_dentry *dir, const char *name);

/* Makes dir opaque: removes every entry below it that no entry of the current layer
 * created or touched, whichever order the layer lists them in. */
void tree_make_opaque(struct tree *tree, struct tree_dentry *dir);

/* Appends len bytes of file content to the spool. */
int tree_spool_write(struct tree *tree, const void *buf, size_t len);

/* Appends len zero bytes to the spool as a hole. */
int tree_spool_hole(struct tree *tree, uint64_t len);

/* Reads len bytes of spooled content at offset. Returns 0 or -errno (-EIO when short). */
int tree_spool_read(struct tree *tree, uint64_t offset, void *buf, size_t len);

/* Sets or replaces one extended attribute. Returns 0 or -ENOMEM. */
int tree_set_xattr(struct tree_inode *inode, const char *name, const void *value, size_t size);

/* Returns the children of dir sorted by name (byte order) in a new array of
 * dir->child_count entries, or NULL on allocation failure or when there are none. */
struct tree_dentry **tree_sorted_children(struct tree_dentry *dir);

/* Writes the path of dentry relative to the root ("" for the root) into buf. */
int tree_path(const struct tree_dentry *dentry, char *buf, size_t size);

/* Counts inodes and blocks for sizing an output. */
void tree_stats(struct tree *tree, struct tree_stats *stats);

/* Calls fn for every dentry, parents before children, siblings in name order. Stops at
 * the first non-zero return and returns it. */
int tree_walk(struct tree *tree, int (*fn)(struct tree_dentry *dentry, void *arg), void *arg);

#endif
