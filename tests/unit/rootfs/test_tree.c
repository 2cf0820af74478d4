/* Unit tests for the in-memory tree: path cleaning, resolution inside the root, whiteouts,
 * opaque directories and hardlinks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "layers.h"
#include "tree.h"

static struct tree tree;

static void setup(void)
{
	if (tree_init(&tree, "/tmp", 1000) < 0) {
		fprintf(stderr, "failed to set up a tree with its spool in /tmp\n");
		exit(1);
	}
}

/* Adds a file or directory at path in the current layer. */
static struct tree_dentry *add(const char *path, mode_t mode)
{
	char copy[TREE_MAX_PATH + 1];
	struct tree_dentry *parent;
	const char *leaf;

	strcpy(copy, path);
	if (tree_resolve_parent(&tree, copy, &parent, &leaf) < 0)
		return NULL;
	return tree_put(&tree, parent, leaf, tree_new_inode(mode, 0, 0, 1));
}

static struct tree_dentry *add_symlink(const char *path, const char *target)
{
	struct tree_dentry *d = add(path, S_IFLNK | 0777);

	if (d)
		d->inode->link_target = strdup(target);
	return d;
}

static void test_clean_path(void)
{
	char a[] = "./a//b/./c/", b[] = "/../x", c[] = "", d[] = "/./";
	char long_name[300];

	CHECK_INT(tree_clean_path(a), 3);
	CHECK_STR(a, "a/b/c");
	CHECK_INT(tree_clean_path(b), 2);
	CHECK_STR(b, "../x");
	CHECK_INT(tree_clean_path(c), 0);
	CHECK_INT(tree_clean_path(d), 0);
	CHECK_STR(d, "");
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	CHECK_INT(tree_clean_path(long_name), -ENAMETOOLONG);
}

static void test_dotdot_stays_inside(void)
{
	setup();
	tree.layer = 1;
	CHECK(add("../../x", S_IFREG | 0644) != NULL);
	CHECK(tree_lookup(&tree, tree.root, "x") != NULL);
	CHECK(add("/abs/y", S_IFREG | 0644) != NULL);
	CHECK(tree_find(&tree, "abs/y", 0) != NULL);
	tree_free(&tree);
}

static void test_symlink_resolved_in_root(void)
{
	setup();
	tree.layer = 1;
	add("usr/lib", S_IFDIR | 0755);
	add_symlink("lib", "/usr/lib");
	add_symlink("up", "../../..");
	add_symlink("host", "/tmp/canary");
	/* Intermediate symlinks are followed inside the tree; the last component is not. */
	CHECK(add("lib/libc.so", S_IFREG | 0644) != NULL);
	CHECK(tree_find(&tree, "usr/lib/libc.so", 0) != NULL);
	CHECK(add("up/z", S_IFREG | 0644) != NULL);
	CHECK(tree_lookup(&tree, tree.root, "z") != NULL);
	CHECK(add("host/w", S_IFREG | 0644) != NULL);
	CHECK(tree_find(&tree, "tmp/canary/w", 0) != NULL);
	CHECK(add("host", S_IFREG | 0644) != NULL);
	CHECK(S_ISREG(tree_lookup(&tree, tree.root, "host")->inode->mode));
	tree_free(&tree);
}

static void test_symlink_loop(void)
{
	char path[] = "a/file";
	struct tree_dentry *parent;
	const char *leaf;

	setup();
	add_symlink("a", "b");
	add_symlink("b", "a");
	CHECK_INT(tree_resolve_parent(&tree, path, &parent, &leaf), -ELOOP);
	tree_free(&tree);
}

static void test_opaque_after_new_entries(void)
{
	setup();
	tree.layer = 1;
	add("opq/old", S_IFREG | 0644);
	add("opq/sub/old2", S_IFREG | 0644);
	tree.layer = 2;
	add("opq/new", S_IFREG | 0644);
	add("opq/sub/new2", S_IFREG | 0644);
	tree_make_opaque(&tree, tree_find(&tree, "opq", 0));
	CHECK(tree_find(&tree, "opq/new", 0) != NULL);
	CHECK(tree_find(&tree, "opq/old", 0) == NULL);
	CHECK(tree_find(&tree, "opq/sub/new2", 0) != NULL);
	CHECK(tree_find(&tree, "opq/sub/old2", 0) == NULL);
	tree_free(&tree);
}

static void test_whiteout_lower_only(void)
{
	struct tree_dentry *root;

	setup();
	tree.layer = 1;
	add("x", S_IFREG | 0644);
	add("sub/x", S_IFREG | 0644);
	add("gone/inner", S_IFREG | 0644);
	tree.layer = 2;
	root = tree.root;
	tree_whiteout(&tree, root, "x");
	tree_whiteout(&tree, root, "gone");
	CHECK(tree_lookup(&tree, root, "x") == NULL);
	CHECK(tree_find(&tree, "sub/x", 0) != NULL);
	CHECK(tree_lookup(&tree, root, "gone") == NULL);
	/* An entry of the same layer is not hidden by that layer's whiteout. */
	add("same", S_IFREG | 0644);
	tree_whiteout(&tree, root, "same");
	CHECK(tree_lookup(&tree, root, "same") != NULL);
	tree.layer = 3;
	add("gone/new", S_IFREG | 0644);
	CHECK(tree_find(&tree, "gone/new", 0) != NULL);
	CHECK(tree_find(&tree, "gone/inner", 0) == NULL);
	tree_free(&tree);
}

static void test_hardlink_outlives_target(void)
{
	struct tree_dentry *target, *link;

	setup();
	tree.layer = 1;
	target = add("a", S_IFREG | 0644);
	CHECK_INT(tree_link(&tree, tree.root, "b", target), 0);
	link = tree_lookup(&tree, tree.root, "b");
	CHECK(link != NULL);
	CHECK(link->inode == target->inode);
	CHECK_INT(link->inode->nlink, 2);
	tree_remove(&tree, target);
	CHECK_INT(link->inode->nlink, 1);
	CHECK_INT(tree_link(&tree, tree.root, "c", tree_find(&tree, "", 0)), -EPERM);
	/* A hardlink that replaces its own target's directory keeps the content. */
	target = add("dir/file", S_IFREG | 0644);
	CHECK_INT(tree_link(&tree, tree.root, "dir", target), 0);
	link = tree_lookup(&tree, tree.root, "dir");
	CHECK(link != NULL);
	CHECK(S_ISREG(link->inode->mode));
	CHECK_INT(link->inode->nlink, 1);
	tree_free(&tree);
}

static void test_file_replaced_by_directory(void)
{
	struct tree_dentry *d;

	setup();
	tree.layer = 1;
	add("f2d", S_IFREG | 0644);
	add("d2f/child", S_IFREG | 0644);
	tree.layer = 2;
	add("f2d/child", S_IFREG | 0644);
	d = tree_lookup(&tree, tree.root, "f2d");
	CHECK(d != NULL);
	CHECK(S_ISDIR(d->inode->mode));
	/* A path through a link to a lower file fails; the file stays. */
	add_symlink("to_file", "/d2f/child");
	CHECK(add("to_file/x", S_IFREG | 0644) == NULL);
	CHECK(tree_find(&tree, "d2f/child", 0) != NULL);
	CHECK(S_ISREG(tree_find(&tree, "d2f/child", 0)->inode->mode));
	/* A file of this layer in the middle of a path is an error, not replaced. */
	add("mine", S_IFREG | 0644);
	CHECK(add("mine/child", S_IFREG | 0644) == NULL);
	add("d2f", S_IFREG | 0600);
	d = tree_lookup(&tree, tree.root, "d2f");
	CHECK(d != NULL);
	CHECK(S_ISREG(d->inode->mode));
	CHECK(tree_find(&tree, "d2f/child", 0) == NULL);
	/* A directory entry over an existing directory keeps its children. */
	add("keep/a", S_IFREG | 0644);
	add("keep", S_IFDIR | 0700);
	CHECK(tree_find(&tree, "keep/a", 0) != NULL);
	CHECK_INT(tree_find(&tree, "keep", 0)->inode->mode & 07777, 0700);
	tree_free(&tree);
}

static void test_whiteout_classify(void)
{
	CHECK_INT(whiteout_classify("file"), WHITEOUT_NONE);
	CHECK_INT(whiteout_classify(".whx"), WHITEOUT_NONE);
	CHECK_INT(whiteout_classify(".wh.file"), WHITEOUT_FILE);
	CHECK_INT(whiteout_classify(".wh..wh..opq"), WHITEOUT_DIR_OPAQUE);
	CHECK_INT(whiteout_classify(".wh..wh.plnk"), WHITEOUT_META);
	CHECK_INT(whiteout_classify(".wh."), WHITEOUT_META);
}

static void test_spool_round_trip(void)
{
	char buf[6] = {0};

	setup();
	CHECK_INT(tree_spool_write(&tree, "hello", 5), 0);
	CHECK_INT(tree_spool_read(&tree, 1, buf, 4), 0);
	CHECK_STR(buf, "ello");
	CHECK_INT(tree_spool_read(&tree, 3, buf, 4), -EIO);
	tree_free(&tree);
}

int main(void)
{
	RUN(test_clean_path);
	RUN(test_dotdot_stays_inside);
	RUN(test_symlink_resolved_in_root);
	RUN(test_symlink_loop);
	RUN(test_opaque_after_new_entries);
	RUN(test_whiteout_lower_only);
	RUN(test_hardlink_outlives_target);
	RUN(test_file_replaced_by_directory);
	RUN(test_whiteout_classify);
	RUN(test_spool_round_trip);
	return check_summary("rootfs_tree");
}
