/* The directory writer: creates every entry fresh below a new directory, always relative to
 * an open parent descriptor with O_EXCL and O_NOFOLLOW, so nothing is written through a
 * symlink. Owners and device nodes need root; without it they are reported and skipped. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsutil.h"
#include "io.h"
#include "log.h"
#include "output.h"

struct dir_writer {
	struct tree *tree;
	const char *root;
	unsigned char *buffer;
	uint64_t owner_failures, node_failures, xattr_failures;
};

static void set_times(int dirfd, const char *name, int64_t mtime, int flags)
{
	struct timespec times[2] = {{mtime, 0}, {mtime, 0}};

	utimensat(dirfd, name, times, flags);
}

static int copy_content(struct dir_writer *w, int fd, const struct tree_inode *in)
{
	uint64_t done = 0;

	while (done < in->size) {
		size_t chunk = in->size - done < OUTPUT_COPY_CHUNK ? (size_t)(in->size - done)
								    : OUTPUT_COPY_CHUNK;
		int err = tree_spool_read(w->tree, in->spool_offset + done, w->buffer, chunk);

		if (err == 0)
			err = write_full(fd, w->buffer, chunk);
		if (err < 0)
			return err;
		done += chunk;
	}
	return 0;
}

static void apply_xattrs(struct dir_writer *w, int fd, const struct tree_inode *in)
{
	for (size_t i = 0; i < in->xattr_count; i++) {
		if (fsetxattr(fd, in->xattrs[i].name, in->xattrs[i].value, in->xattrs[i].size, 0) < 0)
			w->xattr_failures++;
	}
}

/* Owner first, then mode and extended attributes: chown clears the setuid and setgid bits
 * and security.capability. */
static void apply_owner_mode(struct dir_writer *w, int fd, const struct tree_inode *in)
{
	if (fchown(fd, in->uid, in->gid) < 0)
		w->owner_failures++;
	fchmod(fd, in->mode & 07777);
}

static int write_children(struct dir_writer *w, struct tree_dentry *dir, int dirfd,
			  const char *dir_path);

static int write_child(struct dir_writer *w, struct tree_dentry *d, int dirfd,
		       const char *dir_path)
{
	struct tree_inode *in = d->inode;
	char path[PATH_MAX];
	int fd, err = 0;

	if (stop_signal_received)
		return -EINTR;
	snprintf(path, sizeof(path), "%s/%s", dir_path, d->name);
	if (in->out_data) {
		/* A later name of a hardlinked file. */
		if (linkat(AT_FDCWD, in->out_data, dirfd, d->name, 0) < 0)
			goto fail;
		return 0;
	}
	if (S_ISDIR(in->mode)) {
		if (mkdirat(dirfd, d->name, 0700) < 0)
			goto fail;
		fd = openat(dirfd, d->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			goto fail;
		err = write_children(w, d, fd, path);
		if (err == 0) {
			apply_owner_mode(w, fd, in);
			apply_xattrs(w, fd, in);
		}
		close(fd);
		set_times(dirfd, d->name, in->mtime, AT_SYMLINK_NOFOLLOW);
		return err;
	}
	if (S_ISREG(in->mode)) {
		fd = openat(dirfd, d->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd < 0)
			goto fail;
		err = copy_content(w, fd, in);
		if (err == 0) {
			apply_owner_mode(w, fd, in);
			apply_xattrs(w, fd, in);
		}
		close(fd);
		if (err < 0) {
			log_error("failed to write '%s': %s", path, strerror(-err));
			return err;
		}
		in->out_data = strdup(path);
		if (!in->out_data)
			return -ENOMEM;
	} else if (S_ISLNK(in->mode)) {
		if (symlinkat(in->link_target, dirfd, d->name) < 0)
			goto fail;
		if (fchownat(dirfd, d->name, in->uid, in->gid, AT_SYMLINK_NOFOLLOW) < 0)
			w->owner_failures++;
	} else {
		if (mknodat(dirfd, d->name, in->mode,
			    makedev(in->rdev_major, in->rdev_minor)) < 0) {
			if (errno != EPERM)
				goto fail;
			w->node_failures++;
			return 0;
		}
		if (fchownat(dirfd, d->name, in->uid, in->gid, AT_SYMLINK_NOFOLLOW) < 0)
			w->owner_failures++;
		fchmodat(dirfd, d->name, in->mode & 07777, 0);
	}
	set_times(dirfd, d->name, in->mtime, AT_SYMLINK_NOFOLLOW);
	return 0;
fail:
	err = -errno;
	log_error("failed to create '%s': %s", path, strerror(-err));
	return err;
}

static int write_children(struct dir_writer *w, struct tree_dentry *dir, int dirfd,
			  const char *dir_path)
{
	struct tree_dentry **children = tree_sorted_children(dir);
	int err = 0;

	if (dir->child_count && !children)
		return -ENOMEM;
	for (size_t i = 0; i < dir->child_count && err == 0; i++)
		err = write_child(w, children[i], dirfd, dir_path);
	free(children);
	return err;
}

static int release_paths(struct tree_dentry *d, void *arg)
{
	if (S_ISREG(d->inode->mode)) {
		free(d->inode->out_data);
		d->inode->out_data = NULL;
	}
	return 0;
}

int dir_write(struct tree *tree, const char *path, const struct output_options *options)
{
	struct dir_writer w = {.tree = tree, .root = path};
	int fd, err;

	if (mkdir(path, 0700) < 0) {
		err = -errno;
		log_error("failed to create '%s': %s", path, strerror(-err));
		return err;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	w.buffer = malloc(OUTPUT_COPY_CHUNK);
	if (fd < 0 || !w.buffer) {
		err = fd < 0 ? -errno : -ENOMEM;
		if (fd >= 0)
			close(fd);
		free(w.buffer);
		return err;
	}
	err = write_children(&w, tree->root, fd, path);
	if (err == 0) {
		apply_owner_mode(&w, fd, tree->root->inode);
		apply_xattrs(&w, fd, tree->root->inode);
	}
	close(fd);
	set_times(AT_FDCWD, path, tree->root->inode->mtime, 0);
	tree_walk(tree, release_paths, NULL);
	free(w.buffer);
	if (err == 0 && (w.owner_failures || w.node_failures || w.xattr_failures))
		log_warn("the directory lacks %llu owners, %llu device nodes and %llu extended "
			 "attributes of the image (they need root): use --format ext4 to keep "
			 "them without root", (unsigned long long)w.owner_failures,
			 (unsigned long long)w.node_failures, (unsigned long long)w.xattr_failures);
	return err;
}
