/* Kernel module selection: an index of the .ko files under a module directory, a
 * depth-first walk of "depends=" that puts every dependency before its users, and the
 * copy of each module, decompressed, into the tree. */
#define _XOPEN_SOURCE 700
#include "modules.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "log.h"

#define MODULES_MAX_DEPTH 64
#define MODULE_NAME_MAX 64

static const char *const module_suffixes[] = {".ko", ".ko.xz", ".ko.zst", ".ko.gz"};

struct module {
	char name[MODULE_NAME_MAX]; /* normalized */
	char *relative;             /* path below the version directory */
	int state;                  /* 0 unvisited, 1 visiting, 2 added */
};

struct module_index {
	char root[PATH_MAX];
	char *builtin; /* modules.builtin, "" when the directory has none */
	char version[128];
	struct module *modules;
	size_t count;
	size_t root_len;
};

static struct module_index *current_index;

void module_normalize_name(char *name)
{
	for (; *name; name++) {
		if (*name == '-')
			*name = '_';
	}
}

int modinfo_get(const char *modinfo, size_t size, const char *key, char *value, size_t value_size)
{
	size_t key_len = strlen(key), i = 0;

	while (i < size) {
		const char *entry = modinfo + i;
		size_t len = strnlen(entry, size - i);

		if (len > key_len && strncmp(entry, key, key_len) == 0 && entry[key_len] == '=') {
			snprintf(value, value_size, "%.*s", (int)(len - key_len - 1),
				 entry + key_len + 1);
			return 0;
		}
		i += len + 1;
	}
	return -ENOENT;
}

int elf_find_modinfo(const unsigned char *elf, size_t size, const char **section,
		     size_t *section_size)
{
	const Elf64_Ehdr *header = (const Elf64_Ehdr *)elf;
	const Elf64_Shdr *sections, *names;

	if (size < sizeof(*header) || memcmp(elf, ELFMAG, SELFMAG) != 0 ||
	    elf[EI_CLASS] != ELFCLASS64 || elf[EI_DATA] != ELFDATA2LSB)
		return -EINVAL;
	if (header->e_shentsize != sizeof(Elf64_Shdr) || header->e_shoff > size ||
	    header->e_shnum > (size - header->e_shoff) / sizeof(Elf64_Shdr) ||
	    header->e_shstrndx >= header->e_shnum)
		return -EINVAL;
	sections = (const Elf64_Shdr *)(elf + header->e_shoff);
	names = &sections[header->e_shstrndx];
	if (names->sh_offset > size || names->sh_size > size - names->sh_offset)
		return -EINVAL;
	for (size_t i = 0; i < header->e_shnum; i++) {
		const Elf64_Shdr *s = &sections[i];
		const char *name;

		if (s->sh_name >= names->sh_size)
			continue;
		name = (const char *)elf + names->sh_offset + s->sh_name;
		if (strnlen(name, names->sh_size - s->sh_name) == names->sh_size - s->sh_name)
			continue;
		if (strcmp(name, ".modinfo") != 0)
			continue;
		if (s->sh_offset > size || s->sh_size > size - s->sh_offset)
			return -EINVAL;
		*section = (const char *)elf + s->sh_offset;
		*section_size = s->sh_size;
		return 0;
	}
	return -ENOENT;
}

static size_t module_suffix_length(const char *path)
{
	size_t len = strlen(path);

	for (size_t i = 0; i < sizeof(module_suffixes) / sizeof(module_suffixes[0]); i++) {
		size_t n = strlen(module_suffixes[i]);

		if (len > n && strcmp(path + len - n, module_suffixes[i]) == 0)
			return n;
	}
	return 0;
}

static int index_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct module_index *index = current_index;
	const char *base = path + ftw->base;
	size_t suffix = module_suffix_length(base), len = strlen(base) - suffix;
	struct module *m;

	if (type != FTW_F || !suffix)
		return 0;
	if (index->count == MODULES_MAX_FILES)
		return -E2BIG;
	if (len >= MODULE_NAME_MAX)
		return 0;
	m = &index->modules[index->count];
	snprintf(m->name, sizeof(m->name), "%.*s", (int)len, base);
	module_normalize_name(m->name);
	m->relative = strdup(path + index->root_len + 1);
	m->state = 0;
	if (!m->relative)
		return -ENOMEM;
	index->count++;
	return 0;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The only subdirectory of parent, if it has exactly one. */
static int only_subdir(const char *parent, char *out, size_t size)
{
	DIR *dir = opendir(parent);
	struct dirent *entry;
	int found = 0;

	if (!dir)
		return -errno;
	while ((entry = readdir(dir))) {
		char path[PATH_MAX];

		if (entry->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", parent, entry->d_name) >= (int)sizeof(path) ||
		    !is_dir(path))
			continue;
		found++;
		snprintf(out, size, "%s", path);
	}
	closedir(dir);
	return found == 1 ? 0 : -ENOENT;
}

/* Accepts lib/modules/VERSION itself, a directory holding one VERSION directory, or a
 * package root with lib/modules/VERSION (or usr/lib/modules/VERSION). */
static int find_version_dir(const char *dir, char *out, size_t size)
{
	static const char *const parents[] = {"", "/lib/modules", "/usr/lib/modules"};
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/kernel", dir);
	if (is_dir(path)) {
		snprintf(out, size, "%s", dir);
		return 0;
	}
	for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
		char parent[PATH_MAX], candidate[PATH_MAX];

		snprintf(parent, sizeof(parent), "%.4000s%s", dir, parents[i]);
		if (only_subdir(parent, candidate, sizeof(candidate)) < 0)
			continue;
		if (snprintf(path, sizeof(path), "%s/kernel", candidate) < (int)sizeof(path) &&
		    is_dir(path)) {
			snprintf(out, size, "%s", candidate);
			return 0;
		}
	}
	log_error("no kernel module directory in '%s': give lib/modules/VERSION (the directory "
		  "with kernel/ in it) or an unpacked kernel package", dir);
	return -ENOENT;
}

static struct module *find_module(struct module_index *index, const char *name)
{
	for (size_t i = 0; i < index->count; i++) {
		if (strcmp(index->modules[i].name, name) == 0)
			return &index->modules[i];
	}
	return NULL;
}

/* The module's version comes from its vermagic ("6.1.0-28-cloud-amd64 SMP ..."). */
static void take_version(struct module_index *index, const char *modinfo, size_t size)
{
	char vermagic[256];

	if (index->version[0] || modinfo_get(modinfo, size, "vermagic", vermagic,
					     sizeof(vermagic)) < 0)
		return;
	vermagic[strcspn(vermagic, " ")] = '\0';
	snprintf(index->version, sizeof(index->version), "%.127s", vermagic);
}

/* modules.builtin lists "kernel/PATH/NAME.ko" lines for modules built into the kernel. */
static void read_builtin(struct module_index *index)
{
	char path[PATH_MAX];
	unsigned char *data = NULL;
	size_t size = 0;

	index->builtin = NULL;
	if (snprintf(path, sizeof(path), "%s/modules.builtin", index->root) < (int)sizeof(path) &&
	    access(path, R_OK) == 0 && decompress_file(path, &data, &size) == 0) {
		index->builtin = realloc(data, size + 1);
		if (!index->builtin)
			index->builtin = (char *)data;
		else
			index->builtin[size] = '\0';
	}
	if (!index->builtin)
		index->builtin = strdup("");
	if (index->builtin)
		module_normalize_name(index->builtin);
}

static int is_builtin(const struct module_index *index, const char *name)
{
	const char *line = index->builtin;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *base = memrchr(line, '/', len);

		base = base ? base + 1 : line;
		if ((size_t)(line + len - base) == strlen(name) + 3 &&
		    strncmp(base, name, strlen(name)) == 0 && strncmp(base + strlen(name), ".ko", 3) == 0)
			return 1;
		line = end ? end + 1 : NULL;
	}
	return 0;
}

struct loaded_module {
	struct module *module;
	unsigned char *data;
	size_t size;
};

struct walk_state {
	struct module_index *index;
	struct loaded_module *order;
	size_t count;
};

static int visit(struct walk_state *st, const char *name, const char *needed_by, int depth)
{
	struct module *m = find_module(st->index, name);
	char path[PATH_MAX], depends[4096], *save = NULL, *dep;
	unsigned char *data = NULL;
	const char *modinfo;
	size_t size, modinfo_size;
	int err;

	if (!m && is_builtin(st->index, name)) {
		log_info("module '%s' is built into the kernel; nothing to add", name);
		return 0;
	}
	if (!m) {
		if (needed_by)
			log_error("module '%s', needed by '%s', not found in '%s'", name, needed_by,
				  st->index->root);
		else
			log_error("module '%s' not found in '%s' (it may be built into the kernel: "
				  "drop it from --modules)", name, st->index->root);
		return -ENOENT;
	}
	if (m->state == 2)
		return 0;
	if (m->state == 1 || depth > MODULES_MAX_DEPTH) {
		log_error("module dependencies loop through '%s'", name);
		return -ELOOP;
	}
	m->state = 1;
	if (snprintf(path, sizeof(path), "%s/%s", st->index->root, m->relative) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	err = decompress_file(path, &data, &size);
	if (err < 0)
		return err;
	err = elf_find_modinfo(data, size, &modinfo, &modinfo_size);
	if (err < 0) {
		log_error("'%s' is not a kernel module: no .modinfo section in a 64-bit ELF file",
			  path);
		free(data);
		return -EINVAL;
	}
	take_version(st->index, modinfo, modinfo_size);
	/* NOTE: softdep= (optional companions such as crc32c for ext4) is not followed. */
	if (modinfo_get(modinfo, modinfo_size, "depends", depends, sizeof(depends)) == 0) {
		for (dep = strtok_r(depends, ",", &save); dep; dep = strtok_r(NULL, ",", &save)) {
			module_normalize_name(dep);
			err = visit(st, dep, m->name, depth + 1);
			if (err < 0) {
				free(data);
				return err;
			}
		}
	}
	m->state = 2;
	st->order[st->count++] = (struct loaded_module){m, data, size};
	return 0;
}

static int add_to_tree(struct tree *tree, struct walk_state *st, json_t *paths)
{
	for (size_t i = 0; i < st->count; i++) {
		struct loaded_module *lm = &st->order[i];
		char path[PATH_MAX];
		struct tree_dentry *parent;
		struct tree_inode *inode;
		const char *leaf;
		size_t rel_len = strlen(lm->module->relative) -
				 module_suffix_length(lm->module->relative);
		int err;

		snprintf(path, sizeof(path), "/lib/modules/%s/%.*s.ko", st->index->version,
			 (int)rel_len, lm->module->relative);
		json_array_append_new(paths, json_string(path));
		inode = tree_new_inode(S_IFREG | 0644, 0, 0, tree->default_mtime);
		if (!inode)
			return -ENOMEM;
		inode->size = lm->size;
		inode->spool_offset = tree->spool_size;
		err = tree_spool_write(tree, lm->data, lm->size);
		if (err == 0)
			err = tree_resolve_parent(tree, path, &parent, &leaf);
		if (err < 0 || !tree_put(tree, parent, leaf, inode)) {
			log_error("failed to add module '%s' to the image: %s", path,
				  strerror(err < 0 ? -err : ENOMEM));
			return err < 0 ? err : -ENOMEM;
		}
	}
	return 0;
}

int modules_add(struct tree *tree, const char *dir, const char *names, json_t **paths)
{
	struct module_index index = {0};
	struct walk_state st = {&index, NULL, 0};
	char *list = strdup(names), *save = NULL, *name;
	int err, requested = 0;

	*paths = json_array();
	index.modules = calloc(MODULES_MAX_FILES, sizeof(*index.modules));
	st.order = calloc(MODULES_MAX_FILES, sizeof(*st.order));
	if (!list || !index.modules || !st.order || !*paths) {
		err = -ENOMEM;
		goto out;
	}
	err = find_version_dir(dir, index.root, sizeof(index.root));
	if (err < 0)
		goto out;
	index.root_len = strlen(index.root);
	read_builtin(&index);
	current_index = &index;
	err = nftw(index.root, index_file, 32, FTW_PHYS);
	current_index = NULL;
	if (err != 0) {
		err = err < 0 && err != -1 ? err : -errno;
		if (err == -E2BIG)
			log_error("'%s' contains more than %d modules, the limit", index.root,
				  MODULES_MAX_FILES);
		else
			log_error("failed to index modules in '%s': %s", index.root,
				  strerror(-err));
		goto out;
	}
	for (name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		if (++requested > MODULES_MAX_REQUESTED) {
			log_error("--modules names more than %d modules", MODULES_MAX_REQUESTED);
			err = -E2BIG;
			goto out;
		}
		module_normalize_name(name);
		err = visit(&st, name, NULL, 0);
		if (err < 0)
			goto out;
	}
	if (!index.version[0]) {
		const char *base = strrchr(index.root, '/');

		snprintf(index.version, sizeof(index.version), "%.127s", base ? base + 1 : index.root);
	}
	err = add_to_tree(tree, &st, *paths);
out:
	for (size_t i = 0; i < st.count; i++)
		free(st.order[i].data);
	for (size_t i = 0; i < index.count; i++)
		free(index.modules[i].relative);
	free(index.modules);
	free(index.builtin);
	free(st.order);
	free(list);
	if (err < 0) {
		json_decref(*paths);
		*paths = NULL;
	}
	return err;
}
