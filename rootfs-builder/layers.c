/* Layer application: each tar entry becomes a tree entry; ".wh." names become removals. The
 * tree resolves every path inside itself, so hostile names ("../x", "/x") and links (to
 * absolute or parent paths) land inside the image or are skipped, never outside it. */
#include "layers.h"

#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "log.h"

enum whiteout_kind whiteout_classify(const char *name)
{
	if (strncmp(name, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) != 0)
		return WHITEOUT_NONE;
	if (strcmp(name, WHITEOUT_OPAQUE) == 0)
		return WHITEOUT_DIR_OPAQUE;
	if (strncmp(name, WHITEOUT_PREFIX WHITEOUT_PREFIX, 2 * strlen(WHITEOUT_PREFIX)) == 0)
		return WHITEOUT_META;
	if (!name[strlen(WHITEOUT_PREFIX)])
		return WHITEOUT_META;
	return WHITEOUT_FILE;
}

/* Hardlinks of a directory read from the disk, matched by device and inode number. */
struct disk_link {
	dev_t dev;
	ino_t ino;
	struct tree_dentry *dentry;
};

struct apply_state {
	struct tree *tree;
	struct archive *archive;
	const char *source;
	int whiteouts;
	struct disk_link *links;
	size_t link_count, link_capacity;
	uint64_t skipped;
};

/* Copies the entry's data into the spool; holes of sparse entries stay holes there. */
static int spool_data(struct apply_state *st, struct tree_inode *inode, const char *name)
{
	uint64_t position = 0, size = inode->size;
	const void *block;
	size_t len;
	la_int64_t offset;
	int r, err;

	inode->spool_offset = st->tree->spool_size;
	while ((r = archive_read_data_block(st->archive, &block, &len, &offset)) == ARCHIVE_OK) {
		if ((uint64_t)offset < position || (uint64_t)offset + len > size) {
			log_error("invalid data block at offset %lld for '%s' in %s",
				  (long long)offset, name, st->source);
			return -EINVAL;
		}
		err = tree_spool_hole(st->tree, (uint64_t)offset - position);
		if (err == 0)
			err = tree_spool_write(st->tree, block, len);
		if (err < 0) {
			log_error("failed to write the spool file: %s", strerror(-err));
			return err;
		}
		position = (uint64_t)offset + len;
	}
	if (r != ARCHIVE_EOF) {
		log_error("failed to read '%s' from %s: %s", name, st->source,
			  archive_error_string(st->archive));
		return -EIO;
	}
	err = tree_spool_hole(st->tree, size - position);
	if (err < 0)
		log_error("failed to write the spool file: %s", strerror(-err));
	return err;
}

static int copy_xattrs(struct archive_entry *entry, struct tree_inode *inode)
{
	const char *name;
	const void *value;
	size_t size;

	archive_entry_xattr_reset(entry);
	while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
		int err = tree_set_xattr(inode, name, value, size);

		if (err < 0)
			return err;
	}
	return 0;
}

static void skip_entry(struct apply_state *st, const char *name, const char *reason)
{
	log_warn("skipped '%s' in %s: %s", name, st->source, reason);
	st->skipped++;
}

static int apply_hardlink(struct apply_state *st, struct tree_dentry *parent, const char *leaf,
			  const char *name, const char *target_name)
{
	char target_path[TREE_MAX_PATH + 1];
	struct tree_dentry *target;
	int err;

	if (strlen(target_name) > TREE_MAX_PATH) {
		skip_entry(st, name, "hardlink target name too long");
		return 0;
	}
	strcpy(target_path, target_name);
	if (tree_clean_path(target_path) < 0) {
		skip_entry(st, name, "invalid hardlink target");
		return 0;
	}
	target = tree_find(st->tree, target_path, 0);
	if (!target || target == st->tree->root) {
		log_warn("skipped hardlink '%s' in %s: target '%s' not found in the image", name,
			 st->source, target_name);
		st->skipped++;
		return 0;
	}
	err = tree_link(st->tree, parent, leaf, target);
	if (err == -EPERM || err == -EEXIST) {
		skip_entry(st, name, "hardlink to a directory or to the root");
		return 0;
	}
	return err;
}

/* Records a disk file with several links, or links to the copy already recorded. */
static int disk_hardlink(struct apply_state *st, struct archive_entry *entry,
			 struct tree_dentry *parent, const char *leaf, int *linked)
{
	dev_t dev = archive_entry_dev(entry);
	ino_t ino = archive_entry_ino64(entry);

	*linked = 0;
	for (size_t i = 0; i < st->link_count; i++) {
		if (st->links[i].dev == dev && st->links[i].ino == ino) {
			*linked = 1;
			return tree_link(st->tree, parent, leaf, st->links[i].dentry);
		}
	}
	return 0;
}

static int remember_disk_link(struct apply_state *st, struct archive_entry *entry,
			      struct tree_dentry *dentry)
{
	if (st->link_count == st->link_capacity) {
		size_t capacity = st->link_capacity ? st->link_capacity * 2 : 64;
		struct disk_link *grown = realloc(st->links, capacity * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		st->links = grown;
		st->link_capacity = capacity;
	}
	st->links[st->link_count++] = (struct disk_link){
		archive_entry_dev(entry), archive_entry_ino64(entry), dentry};
	return 0;
}

static int apply_entry(struct apply_state *st, struct archive_entry *entry, const char *name)
{
	char path[TREE_MAX_PATH + 1];
	struct tree_dentry *parent, *dentry;
	struct tree_inode *inode;
	const char *leaf;
	mode_t type = archive_entry_filetype(entry);
	int err, linked = 0;

	if (strlen(name) > TREE_MAX_PATH) {
		skip_entry(st, name, "name longer than 4096 bytes");
		return 0;
	}
	strcpy(path, name);
	err = tree_resolve_parent(st->tree, path, &parent, &leaf);
	if (err == -ENOTDIR || err == -ELOOP || err == -ENAMETOOLONG || err == -ENOENT) {
		skip_entry(st, name, strerror(-err));
		return 0;
	}
	if (err < 0)
		return err;

	if (st->whiteouts) {
		switch (whiteout_classify(leaf)) {
		case WHITEOUT_NONE:
			break;
		case WHITEOUT_FILE:
			tree_whiteout(st->tree, parent, leaf + strlen(WHITEOUT_PREFIX));
			return 0;
		case WHITEOUT_DIR_OPAQUE:
			tree_make_opaque(st->tree, parent);
			return 0;
		case WHITEOUT_META:
			return 0;
		}
	}

	if (archive_entry_hardlink(entry)) {
		if (!*leaf) {
			skip_entry(st, name, "a hardlink cannot replace the root");
			return 0;
		}
		return apply_hardlink(st, parent, leaf, name, archive_entry_hardlink(entry));
	}
	if (type != AE_IFDIR && type != AE_IFREG && type != AE_IFLNK && type != AE_IFCHR &&
	    type != AE_IFBLK && type != AE_IFIFO) {
		skip_entry(st, name, "unsupported file type (sockets are not kept)");
		return 0;
	}
	if (!*leaf && type != AE_IFDIR) {
		skip_entry(st, name, "only a directory can replace the root");
		return 0;
	}
	if (st->links && type == AE_IFREG && archive_entry_nlink(entry) > 1) {
		err = disk_hardlink(st, entry, parent, leaf, &linked);
		if (err < 0 || linked)
			return err;
	}

	inode = tree_new_inode(type | (archive_entry_perm(entry) & 07777),
			       (uint32_t)archive_entry_uid(entry), (uint32_t)archive_entry_gid(entry),
			       archive_entry_mtime(entry));
	if (!inode)
		return -ENOMEM;
	if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(entry);

		inode->link_target = strdup(target ? target : "");
		if (!inode->link_target) {
			free(inode);
			return -ENOMEM;
		}
	} else if (type == AE_IFCHR || type == AE_IFBLK) {
		inode->rdev_major = (uint32_t)archive_entry_rdevmajor(entry);
		inode->rdev_minor = (uint32_t)archive_entry_rdevminor(entry);
	} else if (type == AE_IFREG) {
		inode->size = archive_entry_size_is_set(entry) ? (uint64_t)archive_entry_size(entry) : 0;
		err = spool_data(st, inode, name);
		if (err < 0) {
			free(inode);
			return err;
		}
	}
	err = copy_xattrs(entry, inode);
	if (err < 0) {
		free(inode);
		return err;
	}
	dentry = tree_put(st->tree, parent, leaf, inode);
	if (!dentry)
		return -ENOMEM;
	if (st->links && type == AE_IFREG && archive_entry_nlink(entry) > 1)
		return remember_disk_link(st, entry, dentry);
	return 0;
}

int layer_apply(struct tree *tree, struct archive *archive, const char *source, int whiteouts)
{
	struct apply_state st = {tree, archive, source, whiteouts, NULL, 0, 0, 0};
	struct archive_entry *entry;
	int r, err = 0;

	while ((r = archive_read_next_header(archive, &entry)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(entry);

		if (!name) {
			skip_entry(&st, "(no name)", "entry without a name");
			continue;
		}
		if (stop_signal_received)
			return -EINTR;
		err = apply_entry(&st, entry, name);
		if (err < 0)
			return err;
	}
	if (r != ARCHIVE_EOF) {
		log_error("failed to read %s: %s", source, archive_error_string(archive));
		return -EINVAL;
	}
	return 0;
}

int layer_apply_directory(struct tree *tree, const char *dir)
{
	struct apply_state st = {tree, NULL, dir, 0, NULL, 0, 0, 0};
	struct archive_entry *entry = archive_entry_new();
	size_t prefix = strlen(dir);
	int r, err = 0;

	st.archive = archive_read_disk_new();
	st.links = calloc(1, sizeof(*st.links));
	st.link_capacity = 1;
	if (!st.archive || !entry || !st.links) {
		err = -ENOMEM;
		goto out;
	}
	archive_read_disk_set_symlink_physical(st.archive);
	if (archive_read_disk_open(st.archive, dir) != ARCHIVE_OK) {
		log_error("failed to open '%s': %s", dir, archive_error_string(st.archive));
		err = -EINVAL;
		goto out;
	}
	while ((r = archive_read_next_header2(st.archive, entry)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(entry);

		if (archive_read_disk_can_descend(st.archive))
			archive_read_disk_descend(st.archive);
		if (!name || strncmp(name, dir, prefix) != 0)
			continue;
		err = stop_signal_received ? -EINTR : apply_entry(&st, entry, name + prefix);
		if (err < 0)
			goto out;
	}
	if (r != ARCHIVE_EOF) {
		log_error("failed to read '%s': %s", dir, archive_error_string(st.archive));
		err = -EIO;
	}
out:
	if (st.archive)
		archive_read_free(st.archive);
	archive_entry_free(entry);
	free(st.links);
	return err;
}
