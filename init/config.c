/* The boot configuration parser: one strict JSON document (jansson), every
 * key optional, unknown keys rejected by their dotted path. */
#include "config.h"
#include "signame.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ROOT_KEYS "process", "start_mode", "start_timeout", "exit_action", "hostname", \
	"network", "root", "modules", "mounts", "rlimits", "sysctls", "cgroup", \
	"log_ring_size", "log_level", "agent", "debug"

struct parser {
	const char *name;
	char *err;
	size_t err_len;
};

static int fail(struct parser *p, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, const char *key, const char *fmt, ...)
{
	char reason[CONFIG_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->err_len, "%s: key '%s': %s", p->name, key, reason);
	return -EINVAL;
}

int strv_push(struct strv *list, const char *s)
{
	char **v = realloc(list->v, (list->n + 2) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	list->v = v;
	v[list->n] = strdup(s);
	if (!v[list->n])
		return -ENOMEM;
	v[++list->n] = NULL;
	return 0;
}

void strv_free(struct strv *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->v[i]);
	free(list->v);
	list->v = NULL;
	list->n = 0;
}

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->stop_signal = SIGTERM;
	cfg->stop_timeout_s = CONFIG_DEFAULT_STOP_TIMEOUT_S;
	cfg->start_mode = START_MODE_AUTO;
	cfg->start_timeout_s = CONFIG_DEFAULT_START_TIMEOUT_S;
	cfg->exit_action = EXIT_ACTION_POWEROFF;
	cfg->link_timeout_ms = CONFIG_DEFAULT_LINK_TIMEOUT_MS;
	cfg->root_timeout_ms = CONFIG_DEFAULT_ROOT_TIMEOUT_MS;
	cfg->log_ring_size = 1024 * 1024;
}

static void free_interface(struct config_interface *itf)
{
	free(itf->name);
	free(itf->mac);
	strv_free(&itf->addresses);
	free(itf->gateway);
	free(itf->gateway6);
	for (size_t i = 0; i < itf->n_routes; i++) {
		free(itf->routes[i].to);
		free(itf->routes[i].via);
	}
	free(itf->routes);
}

void config_free(struct config *cfg)
{
	strv_free(&cfg->args);
	strv_free(&cfg->env);
	free(cfg->cwd);
	free(cfg->user);
	free(cfg->hostname);
	for (size_t i = 0; i < cfg->n_interfaces; i++)
		free_interface(&cfg->interfaces[i]);
	free(cfg->interfaces);
	strv_free(&cfg->dns);
	strv_free(&cfg->search);
	free(cfg->root_device);
	free(cfg->root_fstype);
	free(cfg->root_options);
	strv_free(&cfg->modules);
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		free(cfg->mounts[i].source);
		free(cfg->mounts[i].target);
		free(cfg->mounts[i].type);
		free(cfg->mounts[i].options);
	}
	free(cfg->mounts);
	free(cfg->rlimits);
	for (size_t i = 0; i < cfg->n_sysctls; i++) {
		free(cfg->sysctls[i].key);
		free(cfg->sysctls[i].value);
	}
	free(cfg->sysctls);
	free(cfg->memory_max);
	free(cfg->pids_max);
	free(cfg->log_level);
	free(cfg->agent_path);
	strv_free(&cfg->agent_args);
	json_decref(cfg->doc);
	config_init(cfg);
}

/* Rejects any key of obj not in allowed (NULL-terminated). */
static int check_keys(struct parser *p, json_t *obj, const char *path, const char *const *allowed)
{
	const char *key;
	json_t *value;

	json_object_foreach(obj, key, value) {
		size_t i;

		for (i = 0; allowed[i]; i++) {
			if (strcmp(key, allowed[i]) == 0)
				break;
		}
		if (!allowed[i]) {
			char full[256];

			snprintf(full, sizeof(full), "%s%s%s", path, *path ? "." : "", key);
			return fail(p, full, "unknown key (check its spelling in docs/config.md)");
		}
	}
	return 0;
}

static int get_object(struct parser *p, json_t *parent, const char *key, const char *path,
		      json_t **out)
{
	json_t *value = json_object_get(parent, key);

	*out = NULL;
	if (!value)
		return 0;
	if (!json_is_object(value))
		return fail(p, path, "expected an object");
	*out = value;
	return 0;
}

static int get_string(struct parser *p, json_t *obj, const char *key, const char *path,
		      char **out)
{
	json_t *value = json_object_get(obj, key);

	if (!value)
		return 0;
	if (!json_is_string(value))
		return fail(p, path, "expected a string");
	if (strlen(json_string_value(value)) != json_string_length(value))
		return fail(p, path, "contains a NUL character");
	free(*out);
	*out = strdup(json_string_value(value));
	return *out ? 0 : -ENOMEM;
}

static int get_bool(struct parser *p, json_t *obj, const char *key, const char *path, bool *out)
{
	json_t *value = json_object_get(obj, key);

	if (!value)
		return 0;
	if (!json_is_boolean(value))
		return fail(p, path, "expected true or false");
	*out = json_is_true(value);
	return 0;
}

static int get_uint(struct parser *p, json_t *obj, const char *key, const char *path,
		    uint64_t min, uint64_t max, uint64_t *out)
{
	json_t *value = json_object_get(obj, key);

	if (!value)
		return 0;
	if (!json_is_integer(value) || json_integer_value(value) < 0)
		return fail(p, path, "expected a non-negative integer");
	if ((uint64_t)json_integer_value(value) < min || (uint64_t)json_integer_value(value) > max)
		return fail(p, path, "%lld is out of range [%llu, %llu]",
			    (long long)json_integer_value(value), (unsigned long long)min,
			    (unsigned long long)max);
	*out = (uint64_t)json_integer_value(value);
	return 0;
}

static int get_unsigned(struct parser *p, json_t *obj, const char *key, const char *path,
			uint64_t min, uint64_t max, unsigned *out)
{
	uint64_t v = *out;
	int r = get_uint(p, obj, key, path, min, max, &v);

	*out = (unsigned)v;
	return r;
}

static int get_strv(struct parser *p, json_t *obj, const char *key, const char *path,
		    struct strv *out)
{
	json_t *value = json_object_get(obj, key);
	json_t *item;
	size_t i;

	if (!value)
		return 0;
	if (!json_is_array(value))
		return fail(p, path, "expected an array of strings");
	if (json_array_size(value) > CONFIG_MAX_LIST)
		return fail(p, path, "%zu entries exceed the limit of %d", json_array_size(value),
			    CONFIG_MAX_LIST);
	strv_free(out);
	json_array_foreach(value, i, item) {
		if (!json_is_string(item))
			return fail(p, path, "entry %zu is not a string", i);
		if (strlen(json_string_value(item)) != json_string_length(item))
			return fail(p, path, "entry %zu contains a NUL character", i);
		if (strv_push(out, json_string_value(item)) < 0)
			return -ENOMEM;
	}
	return 0;
}

int config_parse_signal(const char *text)
{
	char *end;
	long n;
	int named;

	if (!text || !*text)
		return -EINVAL;
	n = strtol(text, &end, 10);
	if (*end == '\0')
		return n >= 1 && n < NSIG ? (int)n : -EINVAL;
	named = signal_from_name(text);
	if (named > 0)
		return named;
	if (strncasecmp(text, "SIG", 3) == 0)
		text += 3;
	if (strncasecmp(text, "RTMIN+", 6) == 0 && text[6] >= '0' && text[6] <= '9') {
		n = strtol(text + 6, &end, 10);
		if (*end == '\0' && n <= SIGRTMAX - SIGRTMIN)
			return SIGRTMIN + (int)n;
	}
	return -EINVAL;
}

static int parse_process(struct parser *p, json_t *root, struct config *cfg)
{
	static const char *const keys[] = { "args", "entrypoint_args", "env", "cwd", "user",
		"terminal", "stop_signal", "stop_timeout", NULL };
	json_t *proc, *value;
	uint64_t n;
	int r;

	if ((r = get_object(p, root, "process", "process", &proc)) < 0 || !proc)
		return r;
	if ((r = check_keys(p, proc, "process", keys)) < 0 ||
	    (r = get_strv(p, proc, "args", "process.args", &cfg->args)) < 0 ||
	    (r = get_strv(p, proc, "env", "process.env", &cfg->env)) < 0 ||
	    (r = get_string(p, proc, "cwd", "process.cwd", &cfg->cwd)) < 0 ||
	    (r = get_string(p, proc, "user", "process.user", &cfg->user)) < 0 ||
	    (r = get_bool(p, proc, "terminal", "process.terminal", &cfg->terminal)) < 0 ||
	    (r = get_unsigned(p, proc, "stop_timeout", "process.stop_timeout", 0,
			      CONFIG_MAX_TIMEOUT_S, &cfg->stop_timeout_s)) < 0)
		return r;

	n = cfg->entrypoint_args;
	if ((r = get_uint(p, proc, "entrypoint_args", "process.entrypoint_args", 0, cfg->args.n,
			  &n)) < 0)
		return r;
	cfg->entrypoint_args = (size_t)n;

	for (size_t i = 0; i < cfg->env.n; i++) {
		if (!strchr(cfg->env.v[i], '=') || cfg->env.v[i][0] == '=')
			return fail(p, "process.env", "entry '%s' is not KEY=VALUE", cfg->env.v[i]);
	}
	if (cfg->cwd && cfg->cwd[0] != '/')
		return fail(p, "process.cwd", "'%s' is not an absolute path", cfg->cwd);

	value = json_object_get(proc, "stop_signal");
	if (value) {
		int sig = -EINVAL;

		if (json_is_string(value))
			sig = config_parse_signal(json_string_value(value));
		else if (json_is_integer(value) && json_integer_value(value) > 0 &&
			 json_integer_value(value) < NSIG)
			sig = (int)json_integer_value(value);
		if (sig < 0)
			return fail(p, "process.stop_signal",
				    "not a signal name like \"SIGTERM\" or a number");
		cfg->stop_signal = sig;
	}
	return 0;
}

static int parse_enums(struct parser *p, json_t *root, struct config *cfg)
{
	char *mode = NULL, *action = NULL, *debug = NULL;
	int r;

	if ((r = get_string(p, root, "start_mode", "start_mode", &mode)) < 0 ||
	    (r = get_string(p, root, "exit_action", "exit_action", &action)) < 0 ||
	    (r = get_string(p, root, "debug", "debug", &debug)) < 0)
		goto out;
	if (mode) {
		if (strcmp(mode, "auto") == 0)
			cfg->start_mode = START_MODE_AUTO;
		else if (strcmp(mode, "host") == 0)
			cfg->start_mode = START_MODE_HOST;
		else
			r = fail(p, "start_mode", "'%s' is neither \"auto\" nor \"host\"", mode);
	}
	if (r == 0 && action) {
		if (strcmp(action, "poweroff") == 0)
			cfg->exit_action = EXIT_ACTION_POWEROFF;
		else if (strcmp(action, "reboot") == 0)
			cfg->exit_action = EXIT_ACTION_REBOOT;
		else if (strcmp(action, "halt") == 0)
			cfg->exit_action = EXIT_ACTION_HALT;
		else
			r = fail(p, "exit_action", "'%s' is not \"poweroff\", \"reboot\" or \"halt\"",
				 action);
	}
	if (r == 0 && debug) {
		if (strcmp(debug, "shell") == 0)
			cfg->debug_shell = true;
		else if (strcmp(debug, "off") == 0)
			cfg->debug_shell = false;
		else
			r = fail(p, "debug", "'%s' is neither \"shell\" nor \"off\"", debug);
	}
out:
	free(mode);
	free(action);
	free(debug);
	return r;
}

static int parse_routes(struct parser *p, json_t *list, const char *path,
			struct config_interface *itf)
{
	static const char *const keys[] = { "to", "via", NULL };
	json_t *item;
	size_t i;
	int r;

	if (!json_is_array(list))
		return fail(p, path, "expected an array of objects");
	if (json_array_size(list) > CONFIG_MAX_LIST)
		return fail(p, path, "too many entries (limit %d)", CONFIG_MAX_LIST);
	itf->routes = calloc(json_array_size(list) + 1, sizeof(*itf->routes));
	if (!itf->routes)
		return -ENOMEM;
	json_array_foreach(list, i, item) {
		struct config_route *route = &itf->routes[i];

		itf->n_routes = i + 1;
		if (!json_is_object(item))
			return fail(p, path, "entry %zu is not an object", i);
		if ((r = check_keys(p, item, path, keys)) < 0 ||
		    (r = get_string(p, item, "to", path, &route->to)) < 0 ||
		    (r = get_string(p, item, "via", path, &route->via)) < 0)
			return r;
		if (!route->to)
			return fail(p, path, "entry %zu has no \"to\"", i);
	}
	return 0;
}

static int parse_interface(struct parser *p, json_t *item, struct config_interface *itf)
{
	static const char *const keys[] = { "name", "mac", "addresses", "gateway", "gateway6",
		"mtu", "routes", NULL };
	const char *path = "network.interfaces";
	uint64_t mtu = 0;
	json_t *routes;
	int r;

	if (!json_is_object(item))
		return fail(p, path, "expected an array of objects");
	if ((r = check_keys(p, item, path, keys)) < 0 ||
	    (r = get_string(p, item, "name", "network.interfaces.name", &itf->name)) < 0 ||
	    (r = get_string(p, item, "mac", "network.interfaces.mac", &itf->mac)) < 0 ||
	    (r = get_strv(p, item, "addresses", "network.interfaces.addresses",
			  &itf->addresses)) < 0 ||
	    (r = get_string(p, item, "gateway", "network.interfaces.gateway", &itf->gateway)) < 0 ||
	    (r = get_string(p, item, "gateway6", "network.interfaces.gateway6",
			    &itf->gateway6)) < 0 ||
	    (r = get_uint(p, item, "mtu", "network.interfaces.mtu", 68, 65535, &mtu)) < 0)
		return r;
	itf->mtu = (int)mtu;
	if (!itf->name && !itf->mac)
		return fail(p, path, "an interface needs a \"name\" or a \"mac\"");
	routes = json_object_get(item, "routes");
	if (routes)
		return parse_routes(p, routes, "network.interfaces.routes", itf);
	return 0;
}

static int parse_network(struct parser *p, json_t *root, struct config *cfg)
{
	static const char *const keys[] = { "interfaces", "dns", "search", "link_timeout_ms",
		NULL };
	json_t *net, *list, *item;
	size_t i;
	int r;

	if ((r = get_object(p, root, "network", "network", &net)) < 0 || !net)
		return r;
	if ((r = check_keys(p, net, "network", keys)) < 0 ||
	    (r = get_strv(p, net, "dns", "network.dns", &cfg->dns)) < 0 ||
	    (r = get_strv(p, net, "search", "network.search", &cfg->search)) < 0 ||
	    (r = get_unsigned(p, net, "link_timeout_ms", "network.link_timeout_ms", 0,
			      CONFIG_MAX_LINK_TIMEOUT_MS, &cfg->link_timeout_ms)) < 0)
		return r;
	list = json_object_get(net, "interfaces");
	if (!list)
		return 0;
	if (!json_is_array(list))
		return fail(p, "network.interfaces", "expected an array of objects");
	if (json_array_size(list) > CONFIG_MAX_LIST)
		return fail(p, "network.interfaces", "too many entries (limit %d)", CONFIG_MAX_LIST);
	cfg->interfaces = calloc(json_array_size(list) + 1, sizeof(*cfg->interfaces));
	if (!cfg->interfaces)
		return -ENOMEM;
	json_array_foreach(list, i, item) {
		cfg->n_interfaces = i + 1;
		if ((r = parse_interface(p, item, &cfg->interfaces[i])) < 0)
			return r;
	}
	return 0;
}

static int parse_root(struct parser *p, json_t *root, struct config *cfg)
{
	static const char *const keys[] = { "device", "fstype", "options", "timeout_ms", NULL };
	json_t *obj;
	int r;

	if ((r = get_object(p, root, "root", "root", &obj)) < 0 || !obj)
		return r;
	if ((r = check_keys(p, obj, "root", keys)) < 0 ||
	    (r = get_string(p, obj, "device", "root.device", &cfg->root_device)) < 0 ||
	    (r = get_string(p, obj, "fstype", "root.fstype", &cfg->root_fstype)) < 0 ||
	    (r = get_string(p, obj, "options", "root.options", &cfg->root_options)) < 0 ||
	    (r = get_unsigned(p, obj, "timeout_ms", "root.timeout_ms", 0,
			      CONFIG_MAX_TIMEOUT_S * 1000ull, &cfg->root_timeout_ms)) < 0)
		return r;
	return 0;
}

static int parse_mounts(struct parser *p, json_t *root, struct config *cfg)
{
	static const char *const keys[] = { "source", "target", "type", "options", NULL };
	json_t *list = json_object_get(root, "mounts"), *item;
	size_t i;
	int r;

	if (!list)
		return 0;
	if (!json_is_array(list))
		return fail(p, "mounts", "expected an array of objects");
	if (json_array_size(list) > CONFIG_MAX_LIST)
		return fail(p, "mounts", "too many entries (limit %d)", CONFIG_MAX_LIST);
	cfg->mounts = calloc(json_array_size(list) + 1, sizeof(*cfg->mounts));
	if (!cfg->mounts)
		return -ENOMEM;
	json_array_foreach(list, i, item) {
		struct config_mount *m = &cfg->mounts[i];

		cfg->n_mounts = i + 1;
		if (!json_is_object(item))
			return fail(p, "mounts", "entry %zu is not an object", i);
		if ((r = check_keys(p, item, "mounts", keys)) < 0 ||
		    (r = get_string(p, item, "source", "mounts.source", &m->source)) < 0 ||
		    (r = get_string(p, item, "target", "mounts.target", &m->target)) < 0 ||
		    (r = get_string(p, item, "type", "mounts.type", &m->type)) < 0 ||
		    (r = get_string(p, item, "options", "mounts.options", &m->options)) < 0)
			return r;
		if (!m->target || m->target[0] != '/')
			return fail(p, "mounts.target", "entry %zu needs an absolute \"target\"", i);
		if (!m->type)
			return fail(p, "mounts.type", "entry %zu needs a \"type\" (e.g. \"ext4\", "
				    "\"tmpfs\", \"bind\")", i);
		if (!m->source && strcmp(m->type, "tmpfs") != 0)
			return fail(p, "mounts.source", "entry %zu needs a \"source\"", i);
	}
	return 0;
}

static int rlimit_by_name(const char *name)
{
	static const struct {
		const char *name;
		int resource;
	} names[] = {
		{ "AS", RLIMIT_AS }, { "CORE", RLIMIT_CORE }, { "CPU", RLIMIT_CPU },
		{ "DATA", RLIMIT_DATA }, { "FSIZE", RLIMIT_FSIZE }, { "LOCKS", RLIMIT_LOCKS },
		{ "MEMLOCK", RLIMIT_MEMLOCK }, { "MSGQUEUE", RLIMIT_MSGQUEUE },
		{ "NICE", RLIMIT_NICE }, { "NOFILE", RLIMIT_NOFILE }, { "NPROC", RLIMIT_NPROC },
		{ "RSS", RLIMIT_RSS }, { "RTPRIO", RLIMIT_RTPRIO }, { "RTTIME", RLIMIT_RTTIME },
		{ "SIGPENDING", RLIMIT_SIGPENDING }, { "STACK", RLIMIT_STACK },
	};

	if (strncmp(name, "RLIMIT_", 7) == 0)
		name += 7;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i].name) == 0)
			return names[i].resource;
	}
	return -EINVAL;
}

/* A limit value: a non-negative integer or "unlimited". */
static int rlimit_value(json_t *value, rlim_t *out)
{
	if (json_is_string(value) && strcmp(json_string_value(value), "unlimited") == 0) {
		*out = RLIM_INFINITY;
		return 0;
	}
	if (!json_is_integer(value) || json_integer_value(value) < 0)
		return -EINVAL;
	*out = (rlim_t)json_integer_value(value);
	return 0;
}

static int parse_rlimits(struct parser *p, json_t *root, struct config *cfg)
{
	json_t *obj, *value;
	const char *key;
	int r;

	if ((r = get_object(p, root, "rlimits", "rlimits", &obj)) < 0 || !obj)
		return r;
	cfg->rlimits = calloc(json_object_size(obj) + 1, sizeof(*cfg->rlimits));
	if (!cfg->rlimits)
		return -ENOMEM;
	json_object_foreach(obj, key, value) {
		struct config_rlimit *limit = &cfg->rlimits[cfg->n_rlimits];
		char path[128];

		snprintf(path, sizeof(path), "rlimits.%s", key);
		limit->resource = rlimit_by_name(key);
		if (limit->resource < 0)
			return fail(p, path, "unknown resource (use NOFILE, NPROC, CORE, ...)");
		if (!json_is_array(value) || json_array_size(value) != 2 ||
		    rlimit_value(json_array_get(value, 0), &limit->soft) < 0 ||
		    rlimit_value(json_array_get(value, 1), &limit->hard) < 0)
			return fail(p, path, "expected [soft, hard] with integers or \"unlimited\"");
		if (limit->soft > limit->hard)
			return fail(p, path, "the soft limit exceeds the hard limit");
		cfg->n_rlimits++;
	}
	return 0;
}

static int parse_sysctls(struct parser *p, json_t *root, struct config *cfg)
{
	json_t *obj, *value;
	const char *key;
	int r;

	if ((r = get_object(p, root, "sysctls", "sysctls", &obj)) < 0 || !obj)
		return r;
	cfg->sysctls = calloc(json_object_size(obj) + 1, sizeof(*cfg->sysctls));
	if (!cfg->sysctls)
		return -ENOMEM;
	json_object_foreach(obj, key, value) {
		struct config_sysctl *s = &cfg->sysctls[cfg->n_sysctls];
		char path[256];

		snprintf(path, sizeof(path), "sysctls.%s", key);
		if (!*key || strstr(key, "..") || key[0] == '.' || strchr(key, '/'))
			return fail(p, path, "not a sysctl name like \"net.ipv4.ip_forward\"");
		if (json_is_string(value))
			s->value = strdup(json_string_value(value));
		else if (json_is_integer(value) && asprintf(&s->value, "%lld",
						       (long long)json_integer_value(value)) < 0)
			s->value = NULL;
		else if (!json_is_integer(value))
			return fail(p, path, "expected a string or an integer");
		s->key = strdup(key);
		if (!s->key || !s->value) {
			free(s->key);
			free(s->value);
			return -ENOMEM;
		}
		cfg->n_sysctls++;
	}
	return 0;
}

/* A cgroup limit: "max", a byte count with an optional K/M/G/T suffix, or an integer. */
static int parse_cgroup_value(struct parser *p, json_t *obj, const char *key, const char *path,
			      bool sizes, char **out)
{
	json_t *value = json_object_get(obj, key);
	unsigned long long n;
	char *end;

	if (!value)
		return 0;
	free(*out);
	*out = NULL;
	if (json_is_integer(value) && json_integer_value(value) > 0)
		return asprintf(out, "%lld", (long long)json_integer_value(value)) < 0 ? -ENOMEM : 0;
	if (!json_is_string(value))
		return fail(p, path, "expected a positive integer or a string");
	if (strcmp(json_string_value(value), "max") == 0)
		return (*out = strdup("max")) ? 0 : -ENOMEM;
	/* strtoull would accept leading blanks and a minus sign, which wraps. */
	n = strtoull(json_string_value(value), &end, 10);
	if (isdigit((unsigned char)json_string_value(value)[0]) && n > 0) {
		int shift = -1;

		if (*end == '\0')
			shift = 0;
		else if (sizes && end[1] == '\0' && strchr("KMGT", *end))
			shift = 10 * (int)(strchr("KMGT", *end) - "KMGT" + 1);
		if (shift >= 0 && n <= (~0ull >> shift))
			return asprintf(out, "%llu", n << shift) < 0 ? -ENOMEM : 0;
	}
	return fail(p, path, "'%s' is not %s", json_string_value(value),
		    sizes ? "\"max\" or a size like \"512M\"" : "\"max\" or a positive integer");
}

static int parse_cgroup(struct parser *p, json_t *root, struct config *cfg)
{
	static const char *const keys[] = { "memory_max", "pids_max", NULL };
	json_t *obj;
	int r;

	if ((r = get_object(p, root, "cgroup", "cgroup", &obj)) < 0 || !obj)
		return r;
	if ((r = check_keys(p, obj, "cgroup", keys)) < 0 ||
	    (r = parse_cgroup_value(p, obj, "memory_max", "cgroup.memory_max", true,
				    &cfg->memory_max)) < 0 ||
	    (r = parse_cgroup_value(p, obj, "pids_max", "cgroup.pids_max", false,
				    &cfg->pids_max)) < 0)
		return r;
	return 0;
}

/* The agent section belongs to ember-agent: init reads only path and args and
 * checks the other keys' names so that a typo is still caught at boot. */
static int parse_agent(struct parser *p, json_t *root, struct config *cfg)
{
	static const char *const keys[] = { "path", "args", "listen", "token_file", "allow_cids",
		"allow_uids", "max_sessions", "max_copies", "grace_s", "freeze_all", NULL };
	json_t *obj;
	int r;

	if ((r = get_object(p, root, "agent", "agent", &obj)) < 0 || !obj)
		return r;
	if ((r = check_keys(p, obj, "agent", keys)) < 0 ||
	    (r = get_string(p, obj, "path", "agent.path", &cfg->agent_path)) < 0 ||
	    (r = get_strv(p, obj, "args", "agent.args", &cfg->agent_args)) < 0)
		return r;
	if (cfg->agent_path && cfg->agent_path[0] != '/')
		return fail(p, "agent.path", "'%s' is not an absolute path", cfg->agent_path);
	return 0;
}

static int parse_misc(struct parser *p, json_t *root, struct config *cfg)
{
	uint64_t ring = cfg->log_ring_size;
	int r;

	if ((r = get_unsigned(p, root, "start_timeout", "start_timeout", 1, CONFIG_MAX_TIMEOUT_S,
			      &cfg->start_timeout_s)) < 0 ||
	    (r = get_string(p, root, "hostname", "hostname", &cfg->hostname)) < 0 ||
	    (r = get_strv(p, root, "modules", "modules", &cfg->modules)) < 0 ||
	    (r = get_uint(p, root, "log_ring_size", "log_ring_size", 4096, 64ull << 20,
			  &ring)) < 0 ||
	    (r = get_string(p, root, "log_level", "log_level", &cfg->log_level)) < 0)
		return r;
	cfg->log_ring_size = ring;
	if (cfg->hostname && (strlen(cfg->hostname) == 0 || strlen(cfg->hostname) > 64))
		return fail(p, "hostname", "'%s' must be 1 to 64 characters", cfg->hostname);
	for (size_t i = 0; i < cfg->modules.n; i++) {
		size_t len = strlen(cfg->modules.v[i]);

		if (cfg->modules.v[i][0] != '/' || len < 4 ||
		    strcmp(cfg->modules.v[i] + len - 3, ".ko") != 0)
			return fail(p, "modules", "'%s' is not an absolute path to a .ko file",
				    cfg->modules.v[i]);
	}
	if (cfg->log_level && strcmp(cfg->log_level, "error") != 0 &&
	    strcmp(cfg->log_level, "warning") != 0 && strcmp(cfg->log_level, "info") != 0 &&
	    strcmp(cfg->log_level, "debug") != 0)
		return fail(p, "log_level", "'%s' is not error, warning, info or debug",
			    cfg->log_level);
	return 0;
}

/* Fills a fresh cfg from a parsed document; takes a reference to doc. */
static int config_from_json(struct config *cfg, json_t *doc, struct parser *p)
{
	static const char *const keys[] = { ROOT_KEYS, NULL };
	int r;

	config_init(cfg);
	cfg->doc = json_incref(doc);
	if (!json_is_object(doc)) {
		snprintf(p->err, p->err_len, "%s: the document is not a JSON object", p->name);
		return -EINVAL;
	}
	if ((r = check_keys(p, doc, "", keys)) < 0 || (r = parse_process(p, doc, cfg)) < 0 ||
	    (r = parse_enums(p, doc, cfg)) < 0 || (r = parse_network(p, doc, cfg)) < 0 ||
	    (r = parse_root(p, doc, cfg)) < 0 || (r = parse_mounts(p, doc, cfg)) < 0 ||
	    (r = parse_rlimits(p, doc, cfg)) < 0 || (r = parse_sysctls(p, doc, cfg)) < 0 ||
	    (r = parse_cgroup(p, doc, cfg)) < 0 || (r = parse_agent(p, doc, cfg)) < 0 ||
	    (r = parse_misc(p, doc, cfg)) < 0)
		return r;
	return 0;
}

static int finish_parse(struct config *cfg, json_t *doc, struct parser *p)
{
	struct config parsed;
	int r = config_from_json(&parsed, doc, p);

	json_decref(doc);
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(p->err, p->err_len, "%s: out of memory", p->name);
		config_free(&parsed);
		return r;
	}
	config_free(cfg);
	*cfg = parsed;
	return 0;
}

int config_parse_string(struct config *cfg, const char *text, const char *name, char *err,
			size_t err_len)
{
	struct parser p = { name, err, err_len };
	json_error_t error;
	json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &error);

	if (!doc) {
		snprintf(err, err_len, "%s:%d:%d: %s", name, error.line, error.column, error.text);
		return -EINVAL;
	}
	return finish_parse(cfg, doc, &p);
}

int config_parse_file(struct config *cfg, const char *path, char *err, size_t err_len)
{
	struct parser p = { path, err, err_len };
	json_error_t error;
	json_t *doc;
	FILE *f = fopen(path, "re");

	if (!f) {
		int r = -errno;

		snprintf(err, err_len, "failed to open '%s': %s", path, strerror(-r));
		return r;
	}
	doc = json_loadf(f, JSON_REJECT_DUPLICATES, &error);
	fclose(f);
	if (!doc) {
		snprintf(err, err_len, "%s:%d:%d: %s", path, error.line, error.column, error.text);
		return -EINVAL;
	}
	return finish_parse(cfg, doc, &p);
}

/* Sets doc[a][b]...= value for the dotted key, creating objects on the way. */
static int set_path(json_t *doc, const char *key, json_t *value)
{
	char *copy = strdup(key), *save = NULL, *part, *next;
	json_t *obj = doc;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	part = strtok_r(copy, ".", &save);
	while (part) {
		next = strtok_r(NULL, ".", &save);
		if (!next) {
			r = json_object_set(obj, part, value) < 0 ? -EINVAL : 0;
			break;
		}
		json_t *child = json_object_get(obj, part);

		if (!child) {
			child = json_object();
			if (!child) {
				r = -ENOMEM;
				break;
			}
			/* jansson rejects a key that is not valid UTF-8. */
			if (json_object_set_new(obj, part, child) < 0) {
				r = -EINVAL;
				break;
			}
		} else if (!json_is_object(child)) {
			r = -EINVAL;
			break;
		}
		obj = child;
		part = next;
	}
	free(copy);
	return r;
}

int config_apply_override(struct config *cfg, const char *assignment, char *err,
			  size_t err_len)
{
	const char *eq = strchr(assignment, '=');
	struct parser p = { "kernel command line", err, err_len };
	json_t *doc, *value;
	char *key;
	int r;

	if (!eq || eq == assignment) {
		snprintf(err, err_len, "'ember.%s' is not ember.KEY=VALUE", assignment);
		return -EINVAL;
	}
	key = strndup(assignment, (size_t)(eq - assignment));
	if (!key)
		return -ENOMEM;
	value = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
	if (!value)
		value = json_string(eq + 1);
	/* NOTE: json_string also fails when out of memory, reported the same way. */
	if (!value) {
		snprintf(err, err_len, "the value of '%s' is not valid UTF-8 (use JSON \\u escapes)",
			 key);
		r = -EINVAL;
		goto out;
	}
	doc = cfg->doc ? json_deep_copy(cfg->doc) : json_object();
	if (!doc) {
		snprintf(err, err_len, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	r = set_path(doc, key, value);
	if (r < 0) {
		snprintf(err, err_len, "'%s' does not name a config key", key);
		json_decref(doc);
		goto out;
	}
	r = finish_parse(cfg, doc, &p);
out:
	json_decref(value);
	free(key);
	return r;
}

int config_replace_cmd(struct config *cfg, char *const *words, size_t n)
{
	struct strv args = { 0 };
	size_t keep = cfg->entrypoint_args;

	for (size_t i = 0; i < keep; i++) {
		if (strv_push(&args, cfg->args.v[i]) < 0)
			goto nomem;
	}
	for (size_t i = 0; i < n; i++) {
		if (strv_push(&args, words[i]) < 0)
			goto nomem;
	}
	strv_free(&cfg->args);
	cfg->args = args;
	return 0;
nomem:
	strv_free(&args);
	return -ENOMEM;
}
