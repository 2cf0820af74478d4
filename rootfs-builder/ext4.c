/* The ext4 writer: mke2fs makes an empty filesystem of the planned size, then libext2fs
 * fills it from the tree, so owners, modes, device nodes and extended attributes come
 * from the image and no root privileges are needed. Directories are packed into blocks
 * here in name order (one write per directory instead of one ext2fs_link() scan per
 * entry), which keeps large directories fast and the output reproducible.
 * NOTE: the directories have no htree index, so the guest looks names up linearly in
 * them; `e2fsck -fD` on the image adds the index. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <et/com_err.h>
#include <ext2fs/ext2fs.h>
#include <openssl/sha.h>

#include "fsutil.h"
#include "log.h"
#include "output.h"

#define LOST_FOUND_INO 11
#define FAST_SYMLINK_MAX 59
#define DIRENT_TAIL_SIZE 12
#define EXT4_LINK_MAX 65000

extern char **environ;

struct ext4_writer {
	ext2_filsys fs;
	struct tree *tree;
	const struct output_options *options;
	unsigned char *copy_buffer;
	int csum; /* metadata_csum: directory blocks end with a checksum tail */
	uint64_t inodes_total, inodes_done;
};

void ext4_plan(const struct tree_stats *stats, const struct output_options *options,
	       uint64_t *size, uint64_t *inodes)
{
	uint64_t blocks = stats->data_blocks + stats->xattr_blocks;
	uint64_t bytes;

	/* Reserved inodes (1-10), lost+found, and headroom for what the guest creates. */
	*inodes = stats->inodes + 16 + stats->inodes * EXT4_HEADROOM_PERCENT / 100 +
		  EXT4_INODE_HEADROOM + options->free / EXT4_FREE_BYTES_PER_INODE;
	/* Extent tree blocks for fragmented files are a fraction of a percent; the headroom
	 * covers them. */
	bytes = blocks * EXT4_BLOCK_SIZE;
	bytes += bytes * EXT4_HEADROOM_PERCENT / 100;
	bytes += *inodes * EXT4_INODE_SIZE + EXT4_FIXED_HEADROOM + options->free;
	/* mke2fs gives a filesystem over 1 GiB a 64 MiB journal, smaller ones 16 MiB. */
	if (bytes > 1024ULL * 1024 * 1024)
		bytes += 64ULL * 1024 * 1024;
	*size = (bytes + (1 << 22) - 1) & ~(uint64_t)((1 << 22) - 1);
}

static void format_uuid(const unsigned char hash[SHA256_DIGEST_LENGTH], char uuid[37])
{
	unsigned char b[16];

	memcpy(b, hash, 16);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 layout */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(uuid, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}

/* Runs mkfs.ext4 on the already sized file. With SOURCE_DATE_EPOCH the UUID, hash seed and
 * timestamps are derived from the input, so the same input gives the same bytes. */
static int run_mkfs(const char *path, uint64_t inodes, const struct output_options *options)
{
	char inode_arg[32], extended[160], uuid[37], fake_time[64], path_arg[PATH_MAX];
	char *argv[24], **envp = environ, *env_with_time[512];
	int argc = 0, status;
	pid_t pid;

	snprintf(inode_arg, sizeof(inode_arg), "%llu", (unsigned long long)inodes);
	argv[argc++] = "mkfs.ext4";
	argv[argc++] = "-q";
	argv[argc++] = "-F";
	argv[argc++] = "-b";
	argv[argc++] = "4096";
	argv[argc++] = "-I";
	argv[argc++] = "256";
	argv[argc++] = "-N";
	argv[argc++] = inode_arg;
	argv[argc++] = "-m";
	argv[argc++] = "0";
	argv[argc++] = "-L";
	argv[argc++] = "ember-root";
	snprintf(extended, sizeof(extended), "root_owner=0:0,lazy_itable_init=0,nodiscard");
	if (options->epoch >= 0) {
		unsigned char hash[SHA256_DIGEST_LENGTH];
		char seed[512];
		size_t n, count = 0;

		snprintf(seed, sizeof(seed), "%s/%lld", options->seed ? options->seed : "",
			 (long long)options->epoch);
		SHA256((const unsigned char *)seed, strlen(seed), hash);
		format_uuid(hash, uuid);
		argv[argc++] = "-U";
		argv[argc++] = uuid;
		n = strlen(extended);
		snprintf(extended + n, sizeof(extended) - n, ",hash_seed=%s", uuid);

		/* mke2fs reads E2FSPROGS_FAKE_TIME for every timestamp it writes. */
		snprintf(fake_time, sizeof(fake_time), "E2FSPROGS_FAKE_TIME=%lld",
			 (long long)options->epoch);
		for (char **e = environ; *e && count < 510; e++)
			env_with_time[count++] = *e;
		env_with_time[count++] = fake_time;
		env_with_time[count] = NULL;
		envp = env_with_time;
	}
	argv[argc++] = "-E";
	argv[argc++] = extended;
	snprintf(path_arg, sizeof(path_arg), "%s", path);
	argv[argc++] = path_arg;
	argv[argc] = NULL;

	status = posix_spawnp(&pid, "mkfs.ext4", NULL, NULL, argv, envp);
	if (status != 0) {
		log_error("failed to run mkfs.ext4: %s (install e2fsprogs)", strerror(status));
		return -status;
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_error("mkfs.ext4 failed on '%s' (status %d)", path, status);
		return -EIO;
	}
	return 0;
}

static int ext2_error(const char *what, const char *name, errcode_t code)
{
	if (code == EXT2_ET_BLOCK_ALLOC_FAIL || code == EXT2_ET_INODE_ALLOC_FAIL ||
	    code == EXT2_ET_DIR_NO_SPACE) {
		log_error("failed to %s '%s': the image is full (raise --size or --free)", what,
			  name);
		return -ENOSPC;
	}
	log_error("failed to %s '%s': %s", what, name, error_message(code));
	return -EIO;
}

static int file_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return EXT2_FT_REG_FILE;
	case S_IFDIR:
		return EXT2_FT_DIR;
	case S_IFCHR:
		return EXT2_FT_CHRDEV;
	case S_IFBLK:
		return EXT2_FT_BLKDEV;
	case S_IFIFO:
		return EXT2_FT_FIFO;
	case S_IFSOCK:
		return EXT2_FT_SOCK;
	case S_IFLNK:
		return EXT2_FT_SYMLINK;
	}
	return EXT2_FT_UNKNOWN;
}

/* Inode numbers first, so that directories can name their children. */
static int assign_inode(struct tree_dentry *d, void *arg)
{
	struct ext4_writer *w = arg;
	ext2_ino_t ino;
	errcode_t code;

	if (d->inode->out_ino)
		return 0;
	if (!d->parent) {
		d->inode->out_ino = EXT2_ROOT_INO;
		return 0;
	}
	code = ext2fs_new_inode(w->fs, (ext2_ino_t)d->parent->inode->out_ino,
				(int)(d->inode->mode & S_IFMT), NULL, &ino);
	if (code)
		return ext2_error("allocate an inode for", d->name, code);
	ext2fs_inode_alloc_stats2(w->fs, ino, +1, S_ISDIR(d->inode->mode));
	d->inode->out_ino = ino;
	w->inodes_total++;
	return 0;
}

static void fill_inode(struct ext4_writer *w, const struct tree_inode *in,
		       struct ext2_inode_large *inode, uint16_t links)
{
	memset(inode, 0, sizeof(*inode));
	inode->i_mode = (uint16_t)in->mode;
	inode->i_uid = (uint16_t)in->uid;
	inode->osd2.linux2.l_i_uid_high = (uint16_t)(in->uid >> 16);
	inode->i_gid = (uint16_t)in->gid;
	inode->osd2.linux2.l_i_gid_high = (uint16_t)(in->gid >> 16);
	inode->i_atime = inode->i_ctime = inode->i_mtime = (uint32_t)in->mtime;
	inode->i_links_count = links;
}

static int start_extents(struct ext4_writer *w, ext2_ino_t ino, struct ext2_inode_large *inode)
{
	ext2_extent_handle_t handle;
	errcode_t code;

	if (!ext2fs_has_feature_extents(w->fs->super))
		return 0;
	code = ext2fs_extent_open2(w->fs, ino, (struct ext2_inode *)inode, &handle);
	if (code)
		return ext2_error("set up extents for inode", "", code);
	ext2fs_extent_free(handle);
	return 0;
}

/* Times outside 1901-2038 need ext4's epoch bits in the *_extra fields, which
 * ext2fs_write_new_inode() leaves zero: rewrite them in the full inode. */
static int write_time_extra(struct ext4_writer *w, ext2_ino_t ino, int64_t mtime,
			    const char *name)
{
	struct ext2_inode_large inode;
	uint32_t epoch_bits = (uint32_t)(((mtime - (int32_t)mtime) >> 32) & 3);
	errcode_t code;

	code = ext2fs_read_inode_full(w->fs, ino, (struct ext2_inode *)&inode, sizeof(inode));
	if (code)
		return ext2_error("read the inode of", name, code);
	if (inode.i_extra_isize < 16)
		return 0;
	inode.i_atime_extra = inode.i_ctime_extra = inode.i_mtime_extra = epoch_bits;
	code = ext2fs_write_inode_full(w->fs, ino, (struct ext2_inode *)&inode, sizeof(inode));
	return code ? ext2_error("write the inode of", name, code) : 0;
}

static int write_new(struct ext4_writer *w, ext2_ino_t ino, struct ext2_inode_large *inode,
		     const char *name, int64_t mtime)
{
	errcode_t code = ext2fs_write_new_inode(w->fs, ino, (struct ext2_inode *)inode);

	if (code)
		return ext2_error("write the inode of", name, code);
	if (mtime < INT32_MIN || mtime > INT32_MAX)
		return write_time_extra(w, ino, mtime, name);
	return 0;
}

/* Returns the length of the block at offset in data: up to the next 4 KiB boundary. */
static size_t block_run(const void *data, size_t offset, size_t len)
{
	size_t end = (offset / EXT4_BLOCK_SIZE + 1) * EXT4_BLOCK_SIZE;

	(void)data;
	return (end < len ? end : len) - offset;
}

static int is_zero_block(const void *data, size_t offset, size_t len)
{
	const unsigned char *p = (const unsigned char *)data + offset;
	size_t n = block_run(data, offset, len);

	for (size_t i = 0; i < n; i++) {
		if (p[i])
			return 0;
	}
	return 1;
}

/* Writes len bytes from buf (or from the spool at offset when buf is NULL) as the inode's
 * data and sets its size. */
static int write_data(struct ext4_writer *w, ext2_ino_t ino, const void *buf, uint64_t offset,
		      uint64_t len, const char *name)
{
	ext2_file_t file;
	errcode_t code;
	uint64_t done = 0;
	int err = 0;

	code = ext2fs_file_open(w->fs, ino, EXT2_FILE_WRITE, &file);
	if (code)
		return ext2_error("open", name, code);
	while (done < len) {
		size_t chunk = len - done < OUTPUT_COPY_CHUNK ? (size_t)(len - done) : OUTPUT_COPY_CHUNK;
		const void *data = buf ? (const void *)((const char *)buf + done)
				       : (const void *)w->copy_buffer;
		size_t written = 0;

		if (!buf) {
			err = tree_spool_read(w->tree, offset + done, w->copy_buffer, chunk);
			if (err < 0) {
				log_error("failed to read the spool file: %s", strerror(-err));
				break;
			}
		}
		while (written < chunk) {
			size_t run = block_run(data, written, chunk);
			unsigned int n = 0;

			/* A block of zeros becomes a hole: it reads the same and takes no space.
			 * NOTE: swapon rejects files with holes, so a swap file from an image
			 * must be written again (dd, then mkswap) inside the guest. */
			if (!buf && is_zero_block(data, written, chunk)) {
				code = ext2fs_file_llseek(file, done + written + run, EXT2_SEEK_SET,
							  NULL);
				n = (unsigned int)run;
			} else {
				code = ext2fs_file_write(file, (const char *)data + written,
							 (unsigned int)run, &n);
			}
			if (code || n == 0) {
				err = ext2_error("write", name, code ? code : EXT2_ET_SHORT_WRITE);
				break;
			}
			written += n;
		}
		if (err < 0)
			break;
		done += chunk;
	}
	if (err == 0) {
		code = ext2fs_file_set_size2(file, len);
		if (code)
			err = ext2_error("set the size of", name, code);
	}
	code = ext2fs_file_close(file);
	if (code && err == 0)
		err = ext2_error("close", name, code);
	return err;
}

/* The namespaces ext4 stores; others (such as an image's "foo.bar") cannot be kept. */
static int ext4_xattr_supported(const char *xattr)
{
	static const char *const prefixes[] = {"user.", "trusted.", "security.",
					       "system.posix_acl_access",
					       "system.posix_acl_default"};

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (strncmp(xattr, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	}
	return 0;
}

static int write_xattrs(struct ext4_writer *w, ext2_ino_t ino, const struct tree_inode *in,
			const char *name)
{
	struct ext2_xattr_handle *handle;
	errcode_t code;

	if (!in->xattr_count)
		return 0;
	code = ext2fs_xattrs_open(w->fs, ino, &handle);
	if (code)
		return ext2_error("open the extended attributes of", name, code);
	for (size_t i = 0; i < in->xattr_count && !code; i++) {
		if (!ext4_xattr_supported(in->xattrs[i].name)) {
			log_warn("skipped extended attribute '%s' of '%s': ext4 has no such "
				 "namespace", in->xattrs[i].name, name);
			continue;
		}
		code = ext2fs_xattr_set(handle, in->xattrs[i].name, in->xattrs[i].value,
					in->xattrs[i].size);
	}
	if (code) {
		ext2fs_xattrs_close(&handle);
		return ext2_error("set the extended attributes of", name, code);
	}
	code = ext2fs_xattrs_close(&handle);
	return code ? ext2_error("write the extended attributes of", name, code) : 0;
}

struct dir_packer {
	unsigned char *buf;
	size_t capacity, block_start, pos, usable, last_entry;
	int has_entry;
};

static int pack_entry(struct ext4_writer *w, struct dir_packer *p, ext2_ino_t ino,
		      const char *name, int type)
{
	size_t name_len = strlen(name), rec = (8 + name_len + 3) & ~(size_t)3;
	struct ext2_dir_entry_2 *entry;

	if (!p->has_entry || p->pos + rec > p->block_start + p->usable) {
		if (p->has_entry) {
			entry = (struct ext2_dir_entry_2 *)(p->buf + p->last_entry);
			ext2fs_set_rec_len(w->fs, (unsigned int)(p->block_start + p->usable -
								 p->last_entry),
					   (struct ext2_dir_entry *)entry);
			p->block_start += EXT4_BLOCK_SIZE;
		}
		if (p->block_start + EXT4_BLOCK_SIZE > p->capacity) {
			size_t capacity = p->capacity ? p->capacity * 2 : 4 * EXT4_BLOCK_SIZE;
			unsigned char *grown = realloc(p->buf, capacity);

			if (!grown)
				return -ENOMEM;
			memset(grown + p->capacity, 0, capacity - p->capacity);
			p->buf = grown;
			p->capacity = capacity;
		}
		p->pos = p->block_start;
	}
	entry = (struct ext2_dir_entry_2 *)(p->buf + p->pos);
	entry->inode = ino;
	entry->name_len = (uint8_t)name_len;
	entry->file_type = (uint8_t)type;
	memcpy(entry->name, name, name_len);
	ext2fs_set_rec_len(w->fs, (unsigned int)rec, (struct ext2_dir_entry *)entry);
	p->last_entry = p->pos;
	p->pos += rec;
	p->has_entry = 1;
	return 0;
}

/* Ends the last block and adds checksum tails. Returns the directory's size in bytes. */
static int finish_dir(struct ext4_writer *w, struct dir_packer *p, ext2_ino_t ino,
		      size_t *size)
{
	errcode_t code;

	ext2fs_set_rec_len(w->fs, (unsigned int)(p->block_start + p->usable - p->last_entry),
			   (struct ext2_dir_entry *)(p->buf + p->last_entry));
	*size = p->block_start + EXT4_BLOCK_SIZE;
	if (!w->csum)
		return 0;
	for (size_t block = 0; block < *size; block += EXT4_BLOCK_SIZE) {
		ext2fs_initialize_dirent_tail(
			w->fs, (struct ext2_dir_entry_tail *)(p->buf + block + p->usable));
		code = ext2fs_dir_block_csum_set(w->fs, ino,
						 (struct ext2_dir_entry *)(p->buf + block));
		if (code)
			return ext2_error("checksum a directory block of inode", "", code);
	}
	return 0;
}

static int write_dir(struct ext4_writer *w, struct tree_dentry *d, const char *name)
{
	struct tree_inode *in = d->inode;
	ext2_ino_t ino = (ext2_ino_t)in->out_ino;
	ext2_ino_t parent = d->parent ? (ext2_ino_t)d->parent->inode->out_ino : EXT2_ROOT_INO;
	struct dir_packer packer = {0};
	struct tree_dentry **children = tree_sorted_children(d);
	struct ext2_inode_large inode;
	unsigned int subdirs = 0;
	size_t size = 0;
	errcode_t code;
	int err;

	if (d->child_count && !children)
		return -ENOMEM;
	packer.usable = EXT4_BLOCK_SIZE - (w->csum ? DIRENT_TAIL_SIZE : 0);
	err = pack_entry(w, &packer, ino, ".", EXT2_FT_DIR);
	if (err == 0)
		err = pack_entry(w, &packer, parent, "..", EXT2_FT_DIR);
	if (err == 0 && !d->parent) {
		err = pack_entry(w, &packer, LOST_FOUND_INO, "lost+found", EXT2_FT_DIR);
		subdirs++;
	}
	for (size_t i = 0; i < d->child_count && err == 0; i++) {
		struct tree_dentry *c = children[i];

		subdirs += S_ISDIR(c->inode->mode);
		err = pack_entry(w, &packer, (ext2_ino_t)c->inode->out_ino, c->name,
				 file_type(c->inode->mode));
	}
	free(children);
	if (err < 0)
		goto out;

	if (!d->parent) {
		/* mke2fs made the root with one block of its own: replace it. */
		code = ext2fs_punch(w->fs, ino, NULL, NULL, 0, ~0ULL);
		if (code) {
			err = ext2_error("clear the root directory of", "/", code);
			goto out;
		}
	}
	fill_inode(w, in, &inode, (uint16_t)(2 + subdirs > EXT4_LINK_MAX ? 1 : 2 + subdirs));
	err = start_extents(w, ino, &inode);
	if (err == 0)
		err = write_new(w, ino, &inode, name, in->mtime);
	if (err == 0)
		err = finish_dir(w, &packer, ino, &size);
	if (err == 0)
		err = write_data(w, ino, packer.buf, 0, size, name);
out:
	free(packer.buf);
	return err;
}

static void encode_device(struct ext2_inode_large *inode, uint32_t major, uint32_t minor)
{
	/* The old 16-bit encoding where it fits, as the kernel writes it. */
	if (major < 256 && minor < 256) {
		inode->i_block[0] = major << 8 | minor;
		inode->i_block[1] = 0;
	} else {
		inode->i_block[0] = 0;
		inode->i_block[1] = (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
	}
}

static int write_inode(struct tree_dentry *d, void *arg)
{
	struct ext4_writer *w = arg;
	struct tree_inode *in = d->inode;
	ext2_ino_t ino = (ext2_ino_t)in->out_ino;
	struct ext2_inode_large inode;
	char name[TREE_MAX_PATH];
	int err = 0;

	if (stop_signal_received)
		return -EINTR;
	/* A hardlinked inode is written once, at its first name. */
	if (in->out_data)
		return 0;
	in->out_data = d;
	if (tree_path(d, name, sizeof(name)) < 0)
		snprintf(name, sizeof(name), "%s", d->name);

	if (S_ISDIR(in->mode)) {
		err = write_dir(w, d, name[0] ? name : "/");
	} else if (S_ISLNK(in->mode) && strlen(in->link_target) <= FAST_SYMLINK_MAX) {
		/* A fast symlink keeps its target in the inode's block array. */
		fill_inode(w, in, &inode, (uint16_t)in->nlink);
		memcpy(inode.i_block, in->link_target, strlen(in->link_target));
		inode.i_size = (uint32_t)strlen(in->link_target);
		err = write_new(w, ino, &inode, name, in->mtime);
	} else if (S_ISLNK(in->mode) || S_ISREG(in->mode)) {
		fill_inode(w, in, &inode, (uint16_t)in->nlink);
		err = start_extents(w, ino, &inode);
		if (err == 0)
			err = write_new(w, ino, &inode, name, in->mtime);
		if (err == 0 && S_ISLNK(in->mode))
			err = write_data(w, ino, in->link_target, 0, strlen(in->link_target), name);
		else if (err == 0 && in->size)
			err = write_data(w, ino, NULL, in->spool_offset, in->size, name);
	} else {
		fill_inode(w, in, &inode, (uint16_t)in->nlink);
		if (S_ISCHR(in->mode) || S_ISBLK(in->mode))
			encode_device(&inode, in->rdev_major, in->rdev_minor);
		err = write_new(w, ino, &inode, name, in->mtime);
	}
	if (err == 0)
		err = write_xattrs(w, ino, in, name);
	if (err == 0 && w->options->progress && (++w->inodes_done & 1023) == 0)
		w->options->progress(w->inodes_done, w->inodes_total, w->options->progress_arg);
	return err;
}

static int reset_output_state(struct tree_dentry *d, void *arg)
{
	d->inode->out_ino = 0;
	d->inode->out_data = NULL;
	return 0;
}

static int fill_filesystem(struct ext4_writer *w)
{
	int err;

	tree_walk(w->tree, reset_output_state, NULL);
	err = tree_walk(w->tree, assign_inode, w);
	if (err == 0)
		err = tree_walk(w->tree, write_inode, w);
	tree_walk(w->tree, reset_output_state, NULL);
	return err;
}

int ext4_write(struct tree *tree, const char *path, const struct output_options *options)
{
	struct ext4_writer w = {.tree = tree, .options = options};
	struct tree_stats stats;
	struct tree_dentry *lost_found;
	uint64_t size, inodes, planned_size;
	errcode_t code;
	int fd, err;

	/* mke2fs makes lost+found; an image's own copy would be a second entry. */
	lost_found = tree_lookup(tree, tree->root, "lost+found");
	if (lost_found)
		tree_remove(tree, lost_found);
	tree_stats(tree, &stats);
	ext4_plan(&stats, options, &planned_size, &inodes);
	size = options->size ? options->size : planned_size;
	if (size < EXT4_MIN_SIZE || size > EXT4_MAX_SIZE) {
		log_error("invalid image size %llu bytes: it must be between %llu and %llu "
			  "(%llu MiB to %llu TiB); change --size or --free",
			  (unsigned long long)size, EXT4_MIN_SIZE, EXT4_MAX_SIZE,
			  EXT4_MIN_SIZE >> 20, EXT4_MAX_SIZE >> 40);
		return -EINVAL;
	}
	if (options->size && inodes > size / EXT4_BLOCK_SIZE)
		inodes = size / EXT4_BLOCK_SIZE;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		log_error("failed to create '%s': %s", path, strerror(-err));
		return err;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		err = -errno;
		close(fd);
		log_error("failed to size '%s' to %llu bytes: %s", path, (unsigned long long)size,
			  strerror(-err));
		return err;
	}
	close(fd);
	err = run_mkfs(path, inodes, options);
	if (err < 0)
		return err;

	code = ext2fs_open(path, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &w.fs);
	if (code)
		return ext2_error("open the new filesystem", path, code);
	w.fs->now = options->epoch >= 0 ? options->epoch : time(NULL);
	w.csum = ext2fs_has_feature_metadata_csum(w.fs->super);
	w.copy_buffer = malloc(OUTPUT_COPY_CHUNK);
	code = ext2fs_read_bitmaps(w.fs);
	if (code || !w.copy_buffer) {
		err = code ? ext2_error("read the bitmaps of", path, code) : -ENOMEM;
		goto out;
	}
	err = fill_filesystem(&w);
out:
	free(w.copy_buffer);
	if (err < 0) {
		ext2fs_free(w.fs);
		return err;
	}
	code = ext2fs_close_free(&w.fs);
	if (code)
		return ext2_error("write the filesystem", path, code);
	return 0;
}
