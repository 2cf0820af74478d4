/* Building a child's environment: the base (the image's or the agent's),
 * then HOME from the user, PATH when missing, TERM for a terminal, then the
 * request's entries, each replacing an earlier entry with the same key.
 * Entries are exact bytes: values may hold '=', newlines or non-UTF-8 bytes,
 * but no NUL byte, because execve takes C strings. */
#ifndef EMBER_AGENT_ENV_H
#define EMBER_AGENT_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENV_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct env_bytes {
	const uint8_t *data;
	size_t len;
};

struct env_spec {
	const char *const *base;     /* NULL-terminated; NULL for none */
	const char *home;            /* NULL: leave HOME alone */
	const char *term;            /* NULL: no TERM */
	const struct env_bytes *entries;
	size_t entry_count;
};

/* Builds a NULL-terminated array of new strings (free with env_free).
 * Returns 0; -EINVAL with *bad_index set to the request entry that has no
 * '=', an empty key, or a NUL byte; or -ENOMEM. */
int env_build(const struct env_spec *spec, char ***envp, size_t *bad_index);

void env_free(char **envp);

/* Returns the value of key in envp, or NULL. */
const char *env_get(char *const *envp, const char *key);

#endif
