/* The boot configuration: /etc/ember/config.json with the kernel command
 * line's ember.KEY=VALUE overrides applied (docs/config.md lists every key). */
#ifndef EMBER_INIT_CONFIG_H
#define EMBER_INIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#define CONFIG_PATH "/etc/ember/config.json"
#define CONFIG_DEFAULT_PATH_ENV "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define CONFIG_DEFAULT_AGENT_PATH "/sbin/ember-agent"
#define CONFIG_DEFAULT_STOP_TIMEOUT_S 10
#define CONFIG_DEFAULT_START_TIMEOUT_S 300
#define CONFIG_DEFAULT_LINK_TIMEOUT_MS 5000
#define CONFIG_DEFAULT_ROOT_TIMEOUT_MS 10000
#define CONFIG_MAX_TIMEOUT_S 86400
#define CONFIG_MAX_LINK_TIMEOUT_MS 600000
/* Lists (args, env, mounts, interfaces...) longer than this are rejected. */
#define CONFIG_MAX_LIST 4096
#define CONFIG_ERROR_MAX 512

/* A NULL-terminated array of strings and its length. */
struct strv {
	char **v;
	size_t n;
};

enum start_mode { START_MODE_AUTO, START_MODE_HOST };
enum exit_action { EXIT_ACTION_POWEROFF, EXIT_ACTION_REBOOT, EXIT_ACTION_HALT };

struct config_route {
	char *to;
	char *via;
};

struct config_interface {
	char *name;
	char *mac;
	struct strv addresses;
	char *gateway;
	char *gateway6;
	int mtu; /* 0: leave the kernel's */
	struct config_route *routes;
	size_t n_routes;
};

struct config_mount {
	char *source;
	char *target;
	char *type;
	char *options;
};

struct config_rlimit {
	int resource;
	rlim_t soft;
	rlim_t hard;
};

struct config_sysctl {
	char *key;
	char *value;
};

struct config {
	/* process */
	struct strv args;
	size_t entrypoint_args; /* leading args from the image's Entrypoint */
	struct strv env;
	char *cwd;
	char *user;
	bool terminal;
	int stop_signal;
	unsigned stop_timeout_s;

	enum start_mode start_mode;
	unsigned start_timeout_s;
	enum exit_action exit_action;
	char *hostname;

	/* network */
	struct config_interface *interfaces;
	size_t n_interfaces;
	struct strv dns;
	struct strv search;
	unsigned link_timeout_ms;

	/* root, for an initramfs */
	char *root_device;
	char *root_fstype;
	char *root_options;
	unsigned root_timeout_ms;

	struct strv modules;
	struct config_mount *mounts;
	size_t n_mounts;
	struct config_rlimit *rlimits;
	size_t n_rlimits;
	struct config_sysctl *sysctls;
	size_t n_sysctls;
	char *memory_max;
	char *pids_max;
	uint64_t log_ring_size;
	char *log_level;
	bool debug_shell;

	char *agent_path;
	struct strv agent_args;

	void *doc; /* the parsed JSON document (json_t), kept for overrides */
};

/* Fills cfg with the defaults (every key absent). */
void config_init(struct config *cfg);
void config_free(struct config *cfg);

/* Parses a config document. On failure returns -EINVAL (or -ENOMEM) and writes
 * "FILE:LINE:COLUMN: reason" or "FILE: key 'a.b': reason" into err. */
int config_parse_string(struct config *cfg, const char *text, const char *name, char *err,
			size_t err_len);

/* Parses path; a missing file leaves the defaults and returns -ENOENT. */
int config_parse_file(struct config *cfg, const char *path, char *err, size_t err_len);

/* Applies one "KEY=VALUE" override (KEY without the "ember." prefix, dotted for
 * nested keys). VALUE is read as JSON when it parses as JSON, otherwise as a
 * string. An override that makes the config invalid is not applied: returns
 * -EINVAL with the reason in err and leaves cfg unchanged. */
int config_apply_override(struct config *cfg, const char *assignment, char *err,
			  size_t err_len);

/* Replaces the image's Cmd (the args after the Entrypoint) with words. */
int config_replace_cmd(struct config *cfg, char *const *words, size_t n);

/* Parses a signal name ("SIGTERM", "TERM") or number; returns it or -EINVAL. */
int config_parse_signal(const char *text);

int strv_push(struct strv *list, const char *s);
void strv_free(struct strv *list);

#endif
