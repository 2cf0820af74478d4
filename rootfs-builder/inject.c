/* The files ember adds to every image. */
#include "inject.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "io.h"
#include "log.h"

#define CONSOLE_MAJOR 5
#define CONSOLE_MINOR 1

struct mount_point {
	const char *path;
	mode_t mode;
};

static const struct mount_point mount_points[] = {
	{"proc", 0555}, {"sys", 0555}, {"dev", 0755}, {"run", 0755}, {"tmp", 01777},
};

static int read_whole(const char *path, unsigned char **data, size_t *size)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > INJECT_MAX_FILE) {
		close(fd);
		return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
	}
	*data = malloc((size_t)st.st_size + 1);
	if (!*data) {
		close(fd);
		return -ENOMEM;
	}
	n = read_full(fd, *data, (size_t)st.st_size);
	close(fd);
	if (n < 0) {
		free(*data);
		return (int)n;
	}
	*size = (size_t)n;
	return 0;
}

static int elf_machine(const char *path)
{
	Elf64_Ehdr header;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read_full(fd, &header, sizeof(header));
	close(fd);
	if (n != (ssize_t)sizeof(header) || memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
		return -ENOEXEC;
	return header.e_machine;
}

static int check_binaries(const char *dir, const char *architecture, int quiet)
{
	static const char *const names[] = {"ember-init", "ember-agent"};
	int want = strcmp(architecture, "arm64") == 0 ? EM_AARCH64 : EM_X86_64;

	for (size_t i = 0; i < 2; i++) {
		char path[PATH_MAX];
		int machine;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		machine = elf_machine(path);
		if (machine == want)
			continue;
		if (!quiet && machine < 0)
			log_error("failed to read '%s': %s (build it with `make%s` or pass "
				  "--ember-bin DIR)", path, strerror(-machine),
				  want == EM_AARCH64 ? " ARCH=arm64" : "");
		else if (!quiet)
			log_error("'%s' is built for ELF machine %d, not for %s: pass --ember-bin "
				  "with the %s build", path, machine, architecture, architecture);
		return -ENOEXEC;
	}
	return 0;
}

int inject_find_binaries(const char *explicit_dir, const char *architecture, char *dir,
			 size_t size)
{
	char self[PATH_MAX], self_dir[PATH_MAX], candidates[3][PATH_MAX];
	ssize_t n;

	if (strcmp(architecture, "amd64") != 0 && strcmp(architecture, "arm64") != 0) {
		log_error("unsupported image architecture '%s': ember runs on amd64 and arm64",
			  architecture);
		return -ENOTSUP;
	}
	if (explicit_dir) {
		snprintf(dir, size, "%s", explicit_dir);
		return check_binaries(dir, architecture, 0);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	parent_dir(self, self_dir, sizeof(self_dir));
	/* build/bin contains the amd64 build, build/arm64/bin the arm64 one; an installed
	 * ember-rootfs finds them in PREFIX/share/ember/ARCH. */
	if (strcmp(architecture, "amd64") == 0)
		snprintf(candidates[0], sizeof(candidates[0]), "%s", self_dir);
	else
		snprintf(candidates[0], sizeof(candidates[0]), "%.4000s/../arm64/bin", self_dir);
	snprintf(candidates[1], sizeof(candidates[1]), "%.4000s/../share/ember/%.16s", self_dir,
		 architecture);
	snprintf(candidates[2], sizeof(candidates[2]), "%.4000s/../../%.16s/bin", self_dir, architecture);
	for (size_t i = 0; i < 3; i++) {
		if (check_binaries(candidates[i], architecture, 1) == 0) {
			snprintf(dir, size, "%s", candidates[i]);
			return 0;
		}
	}
	snprintf(dir, size, "%s", candidates[0]);
	return check_binaries(dir, architecture, 0);
}

int inject_file(struct tree *tree, const char *path, const void *data, size_t size, mode_t mode)
{
	char copy[TREE_MAX_PATH + 1];
	struct tree_dentry *parent;
	struct tree_inode *inode;
	const char *leaf;
	int err;

	snprintf(copy, sizeof(copy), "%s", path);
	err = tree_resolve_parent(tree, copy, &parent, &leaf);
	if (err < 0) {
		log_error("failed to add '%s' to the image: %s", path, strerror(-err));
		return err;
	}
	inode = tree_new_inode(S_IFREG | mode, 0, 0, tree->default_mtime);
	if (!inode)
		return -ENOMEM;
	inode->size = size;
	inode->spool_offset = tree->spool_size;
	err = tree_spool_write(tree, data, size);
	if (err < 0) {
		free(inode);
		log_error("failed to write the spool file: %s", strerror(-err));
		return err;
	}
	return tree_put(tree, parent, leaf, inode) ? 0 : -ENOMEM;
}

static int inject_binary(struct tree *tree, const char *bin_dir, const char *name,
			 const char *path)
{
	char source[PATH_MAX];
	unsigned char *data;
	size_t size;
	int err;

	snprintf(source, sizeof(source), "%s/%s", bin_dir, name);
	err = read_whole(source, &data, &size);
	if (err < 0) {
		log_error("failed to read '%s': %s", source, strerror(-err));
		return err;
	}
	/* Checked again on the bytes read: a build running meanwhile may have replaced it. */
	if (size < sizeof(Elf64_Ehdr) || memcmp(data, ELFMAG, SELFMAG) != 0) {
		log_error("'%s' is not an ELF executable (%zu bytes): rebuild it and retry", source,
			  size);
		free(data);
		return -ENOEXEC;
	}
	err = inject_file(tree, path, data, size, 0755);
	free(data);
	return err;
}

/* Adds a directory or node only where the image has nothing of that name. */
static int add_if_missing(struct tree *tree, const char *path, mode_t mode, uint32_t major,
			  uint32_t minor, int replace)
{
	char copy[TREE_MAX_PATH + 1];
	struct tree_dentry *parent, *existing;
	struct tree_inode *inode;
	const char *leaf;
	int err;

	snprintf(copy, sizeof(copy), "%s", path);
	err = tree_resolve_parent(tree, copy, &parent, &leaf);
	if (err < 0) {
		log_error("failed to add '/%s' to the image: %s", path, strerror(-err));
		return err;
	}
	existing = tree_lookup(tree, parent, leaf);
	if (existing && !replace) {
		if (!S_ISDIR(existing->inode->mode) && !S_ISLNK(existing->inode->mode))
			log_warn("'/%s' in the image is not a directory: ember-init cannot mount "
				 "on it", path);
		return 0;
	}
	inode = tree_new_inode(mode, 0, 0, tree->default_mtime);
	if (!inode)
		return -ENOMEM;
	inode->rdev_major = major;
	inode->rdev_minor = minor;
	return tree_put(tree, parent, leaf, inode) ? 0 : -ENOMEM;
}

/* Creates the process's working directory when the image lacks it, as `docker run` does. */
static int add_workdir(struct tree *tree, json_t *boot_config)
{
	const char *cwd = json_string_value(
		json_object_get(json_object_get(boot_config, "process"), "cwd"));
	char path[TREE_MAX_PATH + 1];
	struct tree_dentry *parent;
	struct tree_inode *inode;
	const char *leaf;
	int err;

	if (!cwd || tree_find(tree, cwd, 1))
		return 0;
	snprintf(path, sizeof(path), "%s", cwd);
	err = tree_resolve_parent(tree, path, &parent, &leaf);
	if (err < 0) {
		log_error("failed to create the working directory '%s' in the image: %s", cwd,
			  strerror(-err));
		return err;
	}
	if (!*leaf)
		return 0;
	inode = tree_new_inode(S_IFDIR | 0755, 0, 0, tree->default_mtime);
	if (!inode)
		return -ENOMEM;
	return tree_put(tree, parent, leaf, inode) ? 0 : -ENOMEM;
}

/* Largest /etc/passwd or /etc/group read to check the process's user. */
#define INJECT_MAX_ACCOUNTS_FILE (4 * 1024 * 1024)

static int is_number(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return 1;
}

/* Whether the image's etc/FILE (passwd or group) has an entry whose first
 * field is name. Returns 1, 0, or -errno when the file cannot be read. */
static int accounts_have_name(struct tree *tree, const char *file, const char *name,
			      size_t name_len)
{
	char path[32];
	struct tree_dentry *dentry;
	struct tree_inode *inode;
	char *text;
	int found = 0;

	snprintf(path, sizeof(path), "etc/%s", file);
	dentry = tree_find(tree, path, 1);
	if (!dentry || !S_ISREG(dentry->inode->mode))
		return 0;
	inode = dentry->inode;
	if (inode->size > INJECT_MAX_ACCOUNTS_FILE)
		return -EFBIG;
	text = malloc(inode->size + 1);
	if (!text)
		return -ENOMEM;
	if (pread(tree->spool_fd, text, inode->size, (off_t)inode->spool_offset) !=
	    (ssize_t)inode->size) {
		free(text);
		return -EIO;
	}
	text[inode->size] = '\0';
	char *line = text;

	while (line && *line && !found) {
		const char *colon = strchr(line, ':');
		char *next = strchr(line, '\n');

		found = colon && (!next || colon < next) && (size_t)(colon - line) == name_len &&
			memcmp(line, name, name_len) == 0;
		line = next ? next + 1 : NULL;
	}
	free(text);
	return found;
}

/* Checks that a user or group given by name exists in the image, as ember-init
 * will require at boot: a numeric uid or gid needs no entry. */
static int check_user(struct tree *tree, json_t *boot_config)
{
	const char *spec = json_string_value(
		json_object_get(json_object_get(boot_config, "process"), "user"));
	const char *colon;
	int found;

	if (!spec || !*spec)
		return 0;
	colon = strchr(spec, ':');

	size_t user_len = colon ? (size_t)(colon - spec) : strlen(spec);

	if (!is_number(spec, user_len)) {
		found = accounts_have_name(tree, "passwd", spec, user_len);
		if (found <= 0) {
			log_error("invalid user '%s': no user '%.*s' in the image's /etc/passwd; "
				  "give a uid or a user the image has (--user)", spec, (int)user_len,
				  spec);
			return found < 0 ? found : -EINVAL;
		}
	}
	if (colon && !is_number(colon + 1, strlen(colon + 1))) {
		found = accounts_have_name(tree, "group", colon + 1, strlen(colon + 1));
		if (found <= 0) {
			log_error("invalid user '%s': no group '%s' in the image's /etc/group; "
				  "give a gid or a group the image has (--user)", spec, colon + 1);
			return found < 0 ? found : -EINVAL;
		}
	}
	return 0;
}

int inject_all(struct tree *tree, const char *bin_dir, json_t *boot_config,
	       const char *token_path, int initramfs)
{
	char *text;
	int err;

	err = check_user(tree, boot_config);
	if (err < 0)
		return err;
	err = add_workdir(tree, boot_config);
	if (err < 0)
		return err;

	for (size_t i = 0; i < sizeof(mount_points) / sizeof(mount_points[0]); i++) {
		err = add_if_missing(tree, mount_points[i].path, S_IFDIR | mount_points[i].mode, 0,
				     0, 0);
		if (err < 0)
			return err;
	}
	/* The kernel opens /dev/console for init's stdio before anything mounts devtmpfs. */
	err = add_if_missing(tree, "dev/console", S_IFCHR | 0600, CONSOLE_MAJOR, CONSOLE_MINOR, 1);
	if (err < 0)
		return err;
	err = inject_binary(tree, bin_dir, "ember-init", "sbin/ember-init");
	if (err == 0)
		err = inject_binary(tree, bin_dir, "ember-agent", "sbin/ember-agent");
	if (err == 0 && initramfs) {
		struct tree_dentry *init = tree_find(tree, "sbin/ember-init", 0);
		struct tree_dentry *root = tree->root, *old = tree_lookup(tree, root, "init");

		if (old)
			tree_remove(tree, old);
		err = init ? tree_link(tree, root, "init", init) : -ENOENT;
	}
	if (err < 0)
		return err;
	if (token_path) {
		unsigned char *token;
		size_t size;

		err = read_whole(token_path, &token, &size);
		if (err < 0) {
			log_error("failed to read the agent token '%s': %s", token_path,
				  strerror(-err));
			return err;
		}
		err = inject_file(tree, BOOT_TOKEN_PATH, token, size, 0600);
		free(token);
		if (err < 0)
			return err;
	}
	text = json_dumps(boot_config, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!text)
		return -ENOMEM;
	err = inject_file(tree, BOOT_CONFIG_PATH, text, strlen(text), 0644);
	free(text);
	return err;
}
