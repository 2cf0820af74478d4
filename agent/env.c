/* The child environment builder. */
#include "env.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct env_list {
	char **items;
	size_t count;
	size_t cap;
};

static size_t key_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

/* Takes ownership of entry, replacing an entry with the same key. */
static int env_set(struct env_list *list, char *entry)
{
	size_t len = key_len(entry);

	for (size_t i = 0; i < list->count; i++) {
		if (key_len(list->items[i]) == len && memcmp(list->items[i], entry, len) == 0) {
			free(list->items[i]);
			list->items[i] = entry;
			return 0;
		}
	}
	if (list->count + 2 > list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 32;
		char **items = realloc(list->items, cap * sizeof(char *));

		if (!items) {
			free(entry);
			return -ENOMEM;
		}
		list->items = items;
		list->cap = cap;
	}
	list->items[list->count++] = entry;
	list->items[list->count] = NULL;
	return 0;
}

static int env_set_pair(struct env_list *list, const char *key, const char *value)
{
	size_t klen = strlen(key), vlen = strlen(value);
	char *entry = malloc(klen + vlen + 2);

	if (!entry)
		return -ENOMEM;
	memcpy(entry, key, klen);
	entry[klen] = '=';
	memcpy(entry + klen + 1, value, vlen + 1);
	return env_set(list, entry);
}

static bool env_has(const struct env_list *list, const char *key)
{
	return env_get(list->items, key) != NULL;
}

static int env_check_entry(const struct env_bytes *entry)
{
	const uint8_t *eq;

	/* An empty entry may have no buffer at all. */
	if (entry->len == 0)
		return -EINVAL;
	eq = memchr(entry->data, '=', entry->len);
	if (!eq || eq == entry->data || memchr(entry->data, '\0', entry->len))
		return -EINVAL;
	return 0;
}

int env_build(const struct env_spec *spec, char ***envp, size_t *bad_index)
{
	struct env_list list = { 0 };
	int r = 0;

	for (size_t i = 0; i < spec->entry_count; i++) {
		if (env_check_entry(&spec->entries[i]) < 0) {
			*bad_index = i;
			return -EINVAL;
		}
	}
	/* Allocated up front so that an empty environment is still an array. */
	list.cap = 32;
	list.items = calloc(list.cap, sizeof(char *));
	if (!list.items)
		return -ENOMEM;

	for (const char *const *p = spec->base; p && *p && r == 0; p++) {
		char *entry = strdup(*p);

		r = entry ? env_set(&list, entry) : -ENOMEM;
	}
	if (r == 0 && spec->home)
		r = env_set_pair(&list, "HOME", spec->home);
	if (r == 0 && !env_has(&list, "PATH"))
		r = env_set_pair(&list, "PATH", ENV_DEFAULT_PATH);
	if (r == 0 && spec->term)
		r = env_set_pair(&list, "TERM", spec->term);
	for (size_t i = 0; i < spec->entry_count && r == 0; i++) {
		char *entry = malloc(spec->entries[i].len + 1);

		if (!entry) {
			r = -ENOMEM;
			break;
		}
		if (spec->entries[i].len)
			memcpy(entry, spec->entries[i].data, spec->entries[i].len);
		entry[spec->entries[i].len] = '\0';
		r = env_set(&list, entry);
	}
	if (r < 0) {
		env_free(list.items);
		return r;
	}
	*envp = list.items;
	return 0;
}

void env_free(char **envp)
{
	for (char **p = envp; p && *p; p++)
		free(*p);
	free(envp);
}

const char *env_get(char *const *envp, const char *key)
{
	size_t len = strlen(key);

	for (char *const *p = envp; p && *p; p++)
		if (strncmp(*p, key, len) == 0 && (*p)[len] == '=')
			return *p + len + 1;
	return NULL;
}
