/* The in-memory root filesystem: dentries in a hash table keyed by (parent, name), inodes
 * shared by hardlinks, and file contents in an unlinked spool file. */
#include "tree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

#define TREE_INITIAL_BUCKETS 4096
#define TREE_BLOCK_SIZE 4096

static size_t hash_key(const struct tree_dentry *parent, const char *name)
{
	uint64_t hash = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)parent;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		hash = (hash ^ *p) * 1099511628211ULL;
	return (size_t)(hash ^ (hash >> 29));
}

static int grow_buckets(struct tree *tree)
{
	size_t count = tree->bucket_count * 2;
	struct tree_dentry **buckets = calloc(count, sizeof(*buckets));

	if (!buckets)
		return -ENOMEM;
	for (size_t i = 0; i < tree->bucket_count; i++) {
		struct tree_dentry *d = tree->buckets[i], *next;

		for (; d; d = next) {
			size_t slot = hash_key(d->parent, d->name) & (count - 1);

			next = d->hash_next;
			d->hash_next = buckets[slot];
			buckets[slot] = d;
		}
	}
	free(tree->buckets);
	tree->buckets = buckets;
	tree->bucket_count = count;
	return 0;
}

static void hash_insert(struct tree *tree, struct tree_dentry *d)
{
	size_t slot = hash_key(d->parent, d->name) & (tree->bucket_count - 1);

	d->hash_next = tree->buckets[slot];
	tree->buckets[slot] = d;
}

static void hash_delete(struct tree *tree, struct tree_dentry *d)
{
	size_t slot = hash_key(d->parent, d->name) & (tree->bucket_count - 1);

	for (struct tree_dentry **p = &tree->buckets[slot]; *p; p = &(*p)->hash_next) {
		if (*p == d) {
			*p = d->hash_next;
			return;
		}
	}
}

struct tree_inode *tree_new_inode(mode_t mode, uint32_t uid, uint32_t gid, int64_t mtime)
{
	struct tree_inode *inode = calloc(1, sizeof(*inode));

	if (!inode)
		return NULL;
	inode->mode = mode;
	inode->uid = uid;
	inode->gid = gid;
	inode->mtime = mtime;
	return inode;
}

static void inode_put(struct tree_inode *inode)
{
	if (inode->nlink > 1) {
		inode->nlink--;
		return;
	}
	for (size_t i = 0; i < inode->xattr_count; i++) {
		free(inode->xattrs[i].name);
		free(inode->xattrs[i].value);
	}
	free(inode->xattrs);
	free(inode->link_target);
	free(inode);
}

int tree_init(struct tree *tree, const char *spool_dir, int64_t default_mtime)
{
	memset(tree, 0, sizeof(*tree));
	tree->spool_fd = -1;
	tree->default_mtime = default_mtime;
	tree->bucket_count = TREE_INITIAL_BUCKETS;
	tree->buckets = calloc(tree->bucket_count, sizeof(*tree->buckets));
	tree->root = calloc(1, sizeof(*tree->root));
	if (!tree->buckets || !tree->root)
		goto fail_nomem;
	tree->root->name = strdup("");
	tree->root->inode = tree_new_inode(S_IFDIR | 0755, 0, 0, default_mtime);
	if (!tree->root->name || !tree->root->inode)
		goto fail_nomem;
	tree->root->inode->nlink = 1;

	/* The spool has no name (O_TMPFILE), so the kernel frees it however the build ends. */
	tree->spool_fd = open(spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (tree->spool_fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
		/* Filesystems without O_TMPFILE: a named file, unlinked at once. */
		char path[TREE_MAX_PATH];

		snprintf(path, sizeof(path), "%s/.ember-rootfs-spool.XXXXXX", spool_dir);
		tree->spool_fd = mkostemp(path, O_CLOEXEC);
		if (tree->spool_fd >= 0)
			unlink(path);
	}
	if (tree->spool_fd < 0) {
		int err = -errno;

		tree_free(tree);
		return err;
	}
	return 0;

fail_nomem:
	tree_free(tree);
	return -ENOMEM;
}

static void free_subtree(struct tree_dentry *d)
{
	struct tree_dentry *child = d->first_child, *next;

	for (; child; child = next) {
		next = child->next_sibling;
		free_subtree(child);
	}
	if (d->inode)
		inode_put(d->inode);
	free(d->name);
	free(d);
}

void tree_free(struct tree *tree)
{
	if (tree->root)
		free_subtree(tree->root);
	free(tree->buckets);
	if (tree->spool_fd >= 0)
		close(tree->spool_fd);
	memset(tree, 0, sizeof(*tree));
	tree->spool_fd = -1;
}

int tree_clean_path(char *path)
{
	size_t len = strlen(path), out = 0;
	int components = 0;

	if (len >= TREE_MAX_PATH)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < len;) {
		size_t start, end;

		while (i < len && path[i] == '/')
			i++;
		start = i;
		while (i < len && path[i] != '/')
			i++;
		end = i;
		if (end == start || (end - start == 1 && path[start] == '.'))
			continue;
		if (end - start > TREE_MAX_NAME)
			return -ENAMETOOLONG;
		if (out > 0)
			path[out++] = '/';
		memmove(path + out, path + start, end - start);
		out += end - start;
		components++;
	}
	path[out] = '\0';
	return components;
}

struct tree_dentry *tree_lookup(struct tree *tree, struct tree_dentry *dir, const char *name)
{
	size_t slot = hash_key(dir, name) & (tree->bucket_count - 1);

	for (struct tree_dentry *d = tree->buckets[slot]; d; d = d->hash_next) {
		if (d->parent == dir && strcmp(d->name, name) == 0)
			return d;
	}
	return NULL;
}

static void attach(struct tree *tree, struct tree_dentry *parent, struct tree_dentry *d)
{
	d->parent = parent;
	d->next_sibling = parent->first_child;
	if (parent->first_child)
		parent->first_child->prev_sibling = d;
	parent->first_child = d;
	parent->child_count++;
	hash_insert(tree, d);
	tree->dentry_count++;
}

static void detach(struct tree *tree, struct tree_dentry *d)
{
	struct tree_dentry *parent = d->parent;

	hash_delete(tree, d);
	if (d->prev_sibling)
		d->prev_sibling->next_sibling = d->next_sibling;
	else
		parent->first_child = d->next_sibling;
	if (d->next_sibling)
		d->next_sibling->prev_sibling = d->prev_sibling;
	parent->child_count--;
	tree->dentry_count--;
}

static void forget_subtree(struct tree *tree, struct tree_dentry *d)
{
	for (struct tree_dentry *c = d->first_child; c; c = c->next_sibling) {
		forget_subtree(tree, c);
		hash_delete(tree, c);
		tree->dentry_count--;
	}
}

void tree_remove(struct tree *tree, struct tree_dentry *dentry)
{
	if (dentry == tree->root)
		return;
	forget_subtree(tree, dentry);
	detach(tree, dentry);
	free_subtree(dentry);
}

static struct tree_dentry *new_dentry(struct tree *tree, struct tree_dentry *parent,
				      const char *name, struct tree_inode *inode)
{
	struct tree_dentry *d;

	if (tree->dentry_count + 1 > tree->bucket_count && grow_buckets(tree) < 0)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->name = strdup(name);
	if (!d->name) {
		free(d);
		return NULL;
	}
	d->inode = inode;
	d->layer = tree->layer;
	inode->nlink++;
	attach(tree, parent, d);
	return d;
}

/* Marks dentry and every directory above it as touched by the current layer. */
static void touch(struct tree *tree, struct tree_dentry *d)
{
	for (; d && d->layer != tree->layer; d = d->parent)
		d->layer = tree->layer;
}

/* Modes of walk_path for missing or non-directory components. */
enum walk_mode {
	WALK_FIND,           /* nothing: fail with -ENOENT or -ENOTDIR */
	WALK_CREATE,         /* create missing directories */
	WALK_CREATE_REPLACE, /* also replace lower layers' files by directories */
};

static int walk_path(struct tree *tree, struct tree_dentry *start, const char *path,
		     enum walk_mode mode, int follow_last, int *follows,
		     struct tree_dentry **result);

/* Resolves a symlink's target from the directory that contains the link. */
static int follow_link(struct tree *tree, struct tree_dentry *link, enum walk_mode mode,
		       int *follows, struct tree_dentry **result)
{
	const char *target = link->inode->link_target;

	if (++*follows > TREE_MAX_SYMLINK_FOLLOWS)
		return -ELOOP;
	if (!target || !*target)
		return -ENOENT;
	/* A link's target is never replaced: a path through a link to a file fails. */
	return walk_path(tree, target[0] == '/' ? tree->root : link->parent, target,
			 mode == WALK_FIND ? WALK_FIND : WALK_CREATE, 1, follows, result);
}

/* Walks path from start, creating or replacing components as mode allows. */
static int walk_path(struct tree *tree, struct tree_dentry *start, const char *path,
		     enum walk_mode mode, int follow_last, int *follows,
		     struct tree_dentry **result)
{
	struct tree_dentry *dir = start;
	char name[TREE_MAX_NAME + 1];
	const char *p = path;

	while (*p) {
		const char *end;
		struct tree_dentry *child;
		size_t len;
		int last, err;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		end = strchr(p, '/');
		len = end ? (size_t)(end - p) : strlen(p);
		if (len > TREE_MAX_NAME)
			return -ENAMETOOLONG;
		memcpy(name, p, len);
		name[len] = '\0';
		p += len;
		last = strspn(p, "/") == strlen(p);

		if (!S_ISDIR(dir->inode->mode))
			return -ENOTDIR;
		if (strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0) {
			if (dir->parent)
				dir = dir->parent;
			continue;
		}
		child = tree_lookup(tree, dir, name);
		/* A lower layer's file in the middle of a new path gives way to a directory, as
		 * in an overlay mount where the upper directory hides the lower file. */
		if (child && mode == WALK_CREATE_REPLACE && child->layer != tree->layer &&
		    !S_ISDIR(child->inode->mode) && !S_ISLNK(child->inode->mode)) {
			tree_remove(tree, child);
			child = NULL;
		}
		if (!child) {
			struct tree_inode *inode;

			if (mode == WALK_FIND)
				return -ENOENT;
			inode = tree_new_inode(S_IFDIR | 0755, 0, 0, tree->default_mtime);
			if (!inode)
				return -ENOMEM;
			child = new_dentry(tree, dir, name, inode);
			if (!child) {
				free(inode);
				return -ENOMEM;
			}
		}
		if (S_ISLNK(child->inode->mode) && (!last || follow_last)) {
			err = follow_link(tree, child, mode, follows, &child);
			if (err < 0)
				return err;
		}
		dir = child;
	}
	*result = dir;
	return 0;
}

int tree_resolve_parent(struct tree *tree, char *path, struct tree_dentry **parent,
			const char **leaf)
{
	int follows = 0, err;
	char *slash;

	err = tree_clean_path(path);
	if (err < 0)
		return err;

	/* A trailing ".." names a directory, not an entry: resolve it whole. */
	slash = strrchr(path, '/');
	*leaf = slash ? slash + 1 : path;
	if (strcmp(*leaf, "..") == 0) {
		err = walk_path(tree, tree->root, path, WALK_CREATE_REPLACE, 0, &follows, parent);
		if (err < 0)
			return err;
		*leaf = "";
		return S_ISDIR((*parent)->inode->mode) ? 0 : -ENOTDIR;
	}
	if (slash) {
		*slash = '\0';
		err = walk_path(tree, tree->root, path, WALK_CREATE_REPLACE, 1, &follows, parent);
	} else {
		*parent = tree->root;
	}
	if (err < 0)
		return err;
	if (!S_ISDIR((*parent)->inode->mode))
		return -ENOTDIR;
	touch(tree, *parent);
	return 0;
}

struct tree_dentry *tree_find(struct tree *tree, const char *path, int follow_last)
{
	struct tree_dentry *result;
	int follows = 0;

	if (walk_path(tree, tree->root, path, WALK_FIND, follow_last, &follows, &result) < 0)
		return NULL;
	return result;
}

struct tree_dentry *tree_put(struct tree *tree, struct tree_dentry *parent, const char *name,
			     struct tree_inode *inode)
{
	struct tree_dentry *old = tree_lookup(tree, parent, name);
	struct tree_dentry *d;

	if (!*name) {
		/* The root itself: take the new metadata. */
		old = tree->root;
	}
	if (old && S_ISDIR(old->inode->mode) && S_ISDIR(inode->mode)) {
		struct tree_inode *dir = old->inode;

		dir->mode = inode->mode;
		dir->uid = inode->uid;
		dir->gid = inode->gid;
		dir->mtime = inode->mtime;
		for (size_t i = 0; i < inode->xattr_count; i++)
			tree_set_xattr(dir, inode->xattrs[i].name, inode->xattrs[i].value,
				       inode->xattrs[i].size);
		inode_put(inode);
		touch(tree, old);
		return old;
	}
	if (!*name) {
		inode_put(inode);
		return NULL;
	}
	if (old)
		tree_remove(tree, old);
	d = new_dentry(tree, parent, name, inode);
	if (!d) {
		inode_put(inode);
		return NULL;
	}
	touch(tree, d);
	return d;
}

int tree_link(struct tree *tree, struct tree_dentry *parent, const char *name,
	      struct tree_dentry *target)
{
	struct tree_inode *inode = target->inode;
	struct tree_dentry *old;

	if (S_ISDIR(inode->mode))
		return -EPERM;
	if (!*name)
		return -EEXIST;
	old = tree_lookup(tree, parent, name);
	if (old == target)
		return 0;
	/* Keep the inode alive while the old entry goes away: it may be the target's own
	 * directory, which takes the target dentry with it. */
	inode->nlink++;
	if (old)
		tree_remove(tree, old);
	if (!new_dentry(tree, parent, name, inode)) {
		inode_put(inode);
		return -ENOMEM;
	}
	inode_put(inode);
	touch(tree, tree_lookup(tree, parent, name));
	return 0;
}

/* Removes what lower layers left below d; entries of the current layer stay. */
static void prune_lower(struct tree *tree, struct tree_dentry *d)
{
	struct tree_dentry *child = d->first_child, *next;

	for (; child; child = next) {
		next = child->next_sibling;
		if (child->layer != tree->layer)
			tree_remove(tree, child);
		else if (S_ISDIR(child->inode->mode))
			prune_lower(tree, child);
	}
}

void tree_whiteout(struct tree *tree, struct tree_dentry *dir, const char *name)
{
	struct tree_dentry *d = tree_lookup(tree, dir, name);

	if (!d)
		return;
	if (d->layer != tree->layer)
		tree_remove(tree, d);
	else if (S_ISDIR(d->inode->mode))
		prune_lower(tree, d);
}

void tree_make_opaque(struct tree *tree, struct tree_dentry *dir)
{
	prune_lower(tree, dir);
}

int tree_spool_write(struct tree *tree, const void *buf, size_t len)
{
	ssize_t n;
	size_t done = 0;

	while (done < len) {
		n = pwrite(tree->spool_fd, (const char *)buf + done, len - done,
			   (off_t)(tree->spool_size + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	tree->spool_size += len;
	return 0;
}

int tree_spool_hole(struct tree *tree, uint64_t len)
{
	if (!len)
		return 0;
	tree->spool_size += len;
	/* Extend the file, so that a hole at the end reads back as zeros. */
	return ftruncate(tree->spool_fd, (off_t)tree->spool_size) < 0 ? -errno : 0;
}

int tree_spool_read(struct tree *tree, uint64_t offset, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(tree->spool_fd, (char *)buf + done, len - done,
				  (off_t)(offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int tree_set_xattr(struct tree_inode *inode, const char *name, const void *value, size_t size)
{
	struct tree_xattr *x = NULL, *grown;
	void *copy = malloc(size ? size : 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, value, size);
	for (size_t i = 0; i < inode->xattr_count; i++) {
		if (strcmp(inode->xattrs[i].name, name) == 0)
			x = &inode->xattrs[i];
	}
	if (!x) {
		grown = realloc(inode->xattrs, (inode->xattr_count + 1) * sizeof(*grown));
		if (!grown) {
			free(copy);
			return -ENOMEM;
		}
		inode->xattrs = grown;
		x = &inode->xattrs[inode->xattr_count];
		x->name = strdup(name);
		if (!x->name) {
			free(copy);
			return -ENOMEM;
		}
		inode->xattr_count++;
	} else {
		free(x->value);
	}
	x->value = copy;
	x->size = size;
	return 0;
}

static int compare_names(const void *a, const void *b)
{
	const struct tree_dentry *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

struct tree_dentry **tree_sorted_children(struct tree_dentry *dir)
{
	struct tree_dentry **children;
	size_t i = 0;

	if (!dir->child_count)
		return NULL;
	children = malloc(dir->child_count * sizeof(*children));
	if (!children)
		return NULL;
	for (struct tree_dentry *c = dir->first_child; c; c = c->next_sibling)
		children[i++] = c;
	qsort(children, dir->child_count, sizeof(*children), compare_names);
	return children;
}

int tree_path(const struct tree_dentry *dentry, char *buf, size_t size)
{
	const struct tree_dentry *chain[TREE_MAX_PATH / 2];
	size_t depth = 0, len = 0;

	for (; dentry && dentry->parent; dentry = dentry->parent) {
		if (depth == sizeof(chain) / sizeof(chain[0]))
			return -ENAMETOOLONG;
		chain[depth++] = dentry;
	}
	if (size == 0)
		return -ENAMETOOLONG;
	buf[0] = '\0';
	while (depth--) {
		size_t n = strlen(chain[depth]->name);

		if (len + n + 2 > size)
			return -ENAMETOOLONG;
		if (len)
			buf[len++] = '/';
		memcpy(buf + len, chain[depth]->name, n + 1);
		len += n;
	}
	return 0;
}

static int walk_sorted(struct tree_dentry *d, int (*fn)(struct tree_dentry *, void *), void *arg)
{
	struct tree_dentry **children;
	int err = fn(d, arg);

	if (err || !d->child_count)
		return err;
	children = tree_sorted_children(d);
	if (!children)
		return -ENOMEM;
	for (size_t i = 0; i < d->child_count && !err; i++)
		err = walk_sorted(children[i], fn, arg);
	free(children);
	return err;
}

int tree_walk(struct tree *tree, int (*fn)(struct tree_dentry *dentry, void *arg), void *arg)
{
	return walk_sorted(tree->root, fn, arg);
}

static int count_dentry(struct tree_dentry *d, void *arg)
{
	struct tree_stats *stats = arg;
	struct tree_inode *inode = d->inode;
	size_t xattr_bytes = 0;

	if (inode->out_ino)
		return 0;
	inode->out_ino = 1; /* counted; reset after the walk */
	stats->inodes++;
	if (S_ISDIR(inode->mode)) {
		/* A directory entry is 8 bytes plus the name, 4-aligned; "." and ".." take 24. */
		uint64_t bytes = 24;

		for (struct tree_dentry *c = d->first_child; c; c = c->next_sibling)
			bytes += (8 + strlen(c->name) + 3) & ~(uint64_t)3;
		stats->dirs++;
		stats->data_blocks += (bytes + TREE_BLOCK_SIZE - 13) / (TREE_BLOCK_SIZE - 12);
	} else if (S_ISREG(inode->mode)) {
		stats->regular_bytes += inode->size;
		stats->data_blocks += (inode->size + TREE_BLOCK_SIZE - 1) / TREE_BLOCK_SIZE;
	} else if (S_ISLNK(inode->mode) && inode->link_target &&
		   strlen(inode->link_target) >= 60) {
		stats->data_blocks++;
	}
	for (size_t i = 0; i < inode->xattr_count; i++)
		xattr_bytes += 16 + strlen(inode->xattrs[i].name) + inode->xattrs[i].size;
	/* A 256-byte inode has about 100 bytes for extended attributes in the inode itself. */
	if (xattr_bytes > 100)
		stats->xattr_blocks++;
	return 0;
}

static int reset_out_ino(struct tree_dentry *d, void *arg)
{
	d->inode->out_ino = 0;
	return 0;
}

void tree_stats(struct tree *tree, struct tree_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	tree_walk(tree, count_dentry, stats);
	tree_walk(tree, reset_out_ino, NULL);
}
