/* The initramfs writer: a newc cpio archive (optionally gzip-compressed) through
 * libarchive, in name order, with hardlinks sharing an inode number. The kernel's
 * unpacker creates a hardlinked file from its first entry and links later ones to it, so
 * the data goes with the first entry and the others carry none. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "log.h"
#include "output.h"

struct cpio_writer {
	struct archive *archive;
	struct tree *tree;
	const struct output_options *options;
	struct archive_entry *entry;
	unsigned char *buffer;
	uint64_t next_ino;
	uint64_t xattr_files; /* files whose extended attributes newc cannot carry */
};

static int write_content(struct cpio_writer *w, const struct tree_inode *in, const char *name)
{
	uint64_t done = 0;

	if (S_ISLNK(in->mode))
		return 0;
	while (done < in->size) {
		size_t chunk = in->size - done < OUTPUT_COPY_CHUNK ? (size_t)(in->size - done)
								    : OUTPUT_COPY_CHUNK;
		int err = tree_spool_read(w->tree, in->spool_offset + done, w->buffer, chunk);

		if (err < 0) {
			log_error("failed to read the spool file: %s", strerror(-err));
			return err;
		}
		if (archive_write_data(w->archive, w->buffer, chunk) != (la_ssize_t)chunk) {
			log_error("failed to write '%s' to the initramfs: %s", name,
				  archive_error_string(w->archive));
			return -EIO;
		}
		done += chunk;
	}
	return 0;
}

static int write_entry(struct tree_dentry *d, void *arg)
{
	struct cpio_writer *w = arg;
	struct tree_inode *in = d->inode;
	char name[TREE_MAX_PATH];
	int first = !in->out_ino;
	int err;

	if (stop_signal_received)
		return -EINTR;
	err = tree_path(d, name, sizeof(name));
	if (err < 0)
		return err;
	if (first)
		in->out_ino = w->next_ino++;
	if (first && in->xattr_count)
		w->xattr_files++;

	archive_entry_clear(w->entry);
	archive_entry_set_pathname(w->entry, name[0] ? name : ".");
	archive_entry_set_mode(w->entry, in->mode);
	archive_entry_set_uid(w->entry, in->uid);
	archive_entry_set_gid(w->entry, in->gid);
	archive_entry_set_mtime(w->entry, in->mtime, 0);
	archive_entry_set_ino64(w->entry, (la_int64_t)in->out_ino);
	archive_entry_set_dev(w->entry, 0);
	archive_entry_set_nlink(w->entry, S_ISDIR(in->mode) ? 2 : in->nlink);
	if (S_ISCHR(in->mode) || S_ISBLK(in->mode)) {
		archive_entry_set_rdevmajor(w->entry, in->rdev_major);
		archive_entry_set_rdevminor(w->entry, in->rdev_minor);
	}
	if (S_ISLNK(in->mode)) {
		archive_entry_set_symlink(w->entry, in->link_target);
		archive_entry_set_size(w->entry, (la_int64_t)strlen(in->link_target));
	} else if (S_ISREG(in->mode)) {
		archive_entry_set_size(w->entry, first ? (la_int64_t)in->size : 0);
	} else {
		archive_entry_set_size(w->entry, 0);
	}
	if (archive_write_header(w->archive, w->entry) != ARCHIVE_OK) {
		log_error("failed to write '%s' to the initramfs: %s", name,
			  archive_error_string(w->archive));
		return -EIO;
	}
	if (S_ISREG(in->mode) && first)
		return write_content(w, in, name);
	return 0;
}

static int reset_ino(struct tree_dentry *d, void *arg)
{
	d->inode->out_ino = 0;
	return 0;
}

int cpio_write(struct tree *tree, const char *path, const struct output_options *options)
{
	struct cpio_writer w = {.tree = tree, .options = options, .next_ino = 1};
	int err = 0;

	w.archive = archive_write_new();
	w.entry = archive_entry_new();
	w.buffer = malloc(OUTPUT_COPY_CHUNK);
	if (!w.archive || !w.entry || !w.buffer) {
		err = -ENOMEM;
		goto out;
	}
	archive_write_set_format_cpio_newc(w.archive);
	if (options->compress) {
		archive_write_add_filter_gzip(w.archive);
		/* No timestamp in the gzip header, so the same input gives the same bytes. */
		archive_write_set_filter_option(w.archive, "gzip", "timestamp", NULL);
	}
	archive_write_set_bytes_in_last_block(w.archive, 1);
	if (archive_write_open_filename(w.archive, path) != ARCHIVE_OK) {
		log_error("failed to create '%s': %s", path, archive_error_string(w.archive));
		err = -EIO;
		goto out;
	}
	tree_walk(tree, reset_ino, NULL);
	err = tree_walk(tree, write_entry, &w);
	tree_walk(tree, reset_ino, NULL);
	if (err == 0 && archive_write_close(w.archive) != ARCHIVE_OK) {
		log_error("failed to finish '%s': %s", path, archive_error_string(w.archive));
		err = -EIO;
	}
	if (err == 0 && w.xattr_files)
		/* NOTE: newc has no field for extended attributes; file capabilities are lost. */
		log_warn("%llu files have extended attributes (such as file capabilities) that "
			 "a cpio initramfs cannot keep; use --format ext4 to keep them",
			 (unsigned long long)w.xattr_files);
out:
	if (w.archive)
		archive_write_free(w.archive);
	if (w.entry)
		archive_entry_free(w.entry);
	free(w.buffer);
	return err;
}
