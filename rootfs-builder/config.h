/* The boot config, /etc/ember/config.json: made from the image config (Entrypoint, Cmd,
 * Env, WorkingDir, User, StopSignal) and the command line's overrides, with only the keys
 * that ember-init's parser accepts. */
#ifndef EMBER_ROOTFS_CONFIG_H
#define EMBER_ROOTFS_CONFIG_H

#include <jansson.h>
#include <stddef.h>

#define BOOT_CONFIG_PATH "etc/ember/config.json"
#define BOOT_TOKEN_PATH "/etc/ember/token"
/* Docker's PATH for images whose config has none. */
#define DEFAULT_PATH_ENV "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* Maximum number of --env options, and of --listen options. */
#define BOOT_MAX_OVERRIDES 256

struct boot_overrides {
	const char *entrypoint; /* JSON array or one word; "" clears; NULL keeps the image's */
	const char *cmd;        /* same forms as entrypoint */
	const char *env[BOOT_MAX_OVERRIDES];
	size_t env_count;
	const char *listen[BOOT_MAX_OVERRIDES];
	size_t listen_count;
	const char *workdir, *user, *hostname, *start_mode;
	int has_token; /* an agent token is installed at BOOT_TOKEN_PATH */
};

/* Parses an --entrypoint or --cmd value into a new JSON array of strings: a JSON array
 * ("[\"sh\", \"-c\", \"x\"]"), "" (empty), or any other text as one argument. Returns
 * NULL for an invalid JSON array. */
json_t *boot_parse_args(const char *value);

/* Builds the boot config. modules is an array of absolute module paths (may be NULL).
 * Logs what is invalid and returns -EINVAL; on success *out is a new object. */
int boot_config_build(json_t *image_config, const struct boot_overrides *overrides,
		      json_t *modules, json_t **out);

#endif
