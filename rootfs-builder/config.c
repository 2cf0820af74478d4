/* The boot config generator. Docker's rules for the process: --entrypoint replaces the
 * image's Entrypoint and drops its Cmd unless --cmd is given too; --env replaces a variable
 * of the same name; PATH gets Docker's default when the image sets none. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "log.h"

json_t *boot_parse_args(const char *value)
{
	json_error_t error;
	json_t *array, *item;
	size_t i;

	if (!*value)
		return json_array();
	if (value[0] != '[')
		return json_pack("[s]", value);
	array = json_loads(value, 0, &error);
	if (!json_is_array(array))
		goto invalid;
	json_array_foreach(array, i, item) {
		if (!json_is_string(item))
			goto invalid;
	}
	return array;
invalid:
	json_decref(array);
	return NULL;
}

static int take_args(const char *option, const char *value, json_t **args)
{
	*args = boot_parse_args(value);
	if (!*args) {
		log_error("invalid %s '%s': expected a JSON array of strings or one word", option,
			  value);
		return -EINVAL;
	}
	return 0;
}

/* Entrypoint + Cmd, each from the image unless overridden. *entrypoint_count
 * receives how many leading args came from the Entrypoint, so that ember-init
 * replaces only the Cmd with the words after `--` on the kernel command line. */
static int build_args(json_t *image, const struct boot_overrides *o, json_t **args,
		      size_t *entrypoint_count)
{
	json_t *entrypoint = NULL, *cmd = NULL;
	int err = 0;

	if (o->entrypoint)
		err = take_args("--entrypoint", o->entrypoint, &entrypoint);
	else
		entrypoint = json_incref(json_object_get(image, "Entrypoint"));
	if (err == 0 && o->cmd)
		err = take_args("--cmd", o->cmd, &cmd);
	else if (err == 0 && !o->entrypoint)
		cmd = json_incref(json_object_get(image, "Cmd"));
	if (err < 0)
		goto out;
	*args = json_array();
	*entrypoint_count = json_is_array(entrypoint) ? json_array_size(entrypoint) : 0;
	if (json_is_array(entrypoint))
		json_array_extend(*args, entrypoint);
	if (json_is_array(cmd))
		json_array_extend(*args, cmd);
	if (json_array_size(*args) == 0) {
		log_error("the image has no Entrypoint or Cmd: give the process with --cmd or "
			  "--entrypoint");
		json_decref(*args);
		*args = NULL;
		err = -EINVAL;
	}
out:
	json_decref(entrypoint);
	json_decref(cmd);
	return err;
}

static size_t name_length(const char *variable)
{
	const char *equals = strchr(variable, '=');

	return equals ? (size_t)(equals - variable) : strlen(variable);
}

/* Replaces the variable of the same name, or appends. */
static void set_env(json_t *env, const char *variable)
{
	size_t i, len = name_length(variable);
	json_t *item;

	json_array_foreach(env, i, item) {
		const char *existing = json_string_value(item);

		if (existing && name_length(existing) == len && strncmp(existing, variable, len) == 0) {
			json_array_set_new(env, i, json_string(variable));
			return;
		}
	}
	json_array_append_new(env, json_string(variable));
}

static int build_env(json_t *image, const struct boot_overrides *o, json_t **env)
{
	json_t *image_env = json_object_get(image, "Env"), *item;
	int has_path = 0;
	size_t i;

	*env = json_array();
	json_array_foreach(image_env, i, item) {
		const char *variable = json_string_value(item);

		if (!variable || !strchr(variable, '=') || variable[0] == '=') {
			log_warn("skipped the image's Env entry %zu: expected NAME=VALUE", i + 1);
			continue;
		}
		set_env(*env, variable);
	}
	for (i = 0; i < o->env_count; i++) {
		if (!strchr(o->env[i], '=') || o->env[i][0] == '=') {
			log_error("invalid --env '%s': expected NAME=VALUE", o->env[i]);
			json_decref(*env);
			return -EINVAL;
		}
		set_env(*env, o->env[i]);
	}
	json_array_foreach(*env, i, item) {
		if (strncmp(json_string_value(item), "PATH=", 5) == 0)
			has_path = 1;
	}
	if (!has_path)
		json_array_insert_new(*env, 0, json_string(DEFAULT_PATH_ENV));
	return 0;
}

static const char *string_or(json_t *object, const char *key, const char *override)
{
	const char *value = json_string_value(json_object_get(object, key));

	if (override)
		return override;
	return value && *value ? value : NULL;
}

static int build_agent(const struct boot_overrides *o, json_t *config)
{
	json_t *agent, *listen;
	int tcp = 0;

	if (!o->listen_count && !o->has_token)
		return 0;
	agent = json_object();
	if (o->listen_count) {
		listen = json_array();
		for (size_t i = 0; i < o->listen_count; i++) {
			const char *address = o->listen[i];

			if (strncmp(address, "vsock:", 6) != 0 && strncmp(address, "unix:", 5) != 0 &&
			    strncmp(address, "tcp:", 4) != 0) {
				log_error("invalid --listen '%s': expected vsock:PORT, unix:PATH or "
					  "tcp:HOST:PORT", address);
				json_decref(listen);
				json_decref(agent);
				return -EINVAL;
			}
			tcp |= strncmp(address, "tcp:", 4) == 0;
			json_array_append_new(listen, json_string(address));
		}
		json_object_set_new(agent, "listen", listen);
	}
	if (tcp && !o->has_token) {
		log_error("a tcp: listener needs a token: pass --agent-token FILE");
		json_decref(agent);
		return -EINVAL;
	}
	if (o->has_token)
		json_object_set_new(agent, "token_file", json_string(BOOT_TOKEN_PATH));
	json_object_set_new(config, "agent", agent);
	return 0;
}

int boot_config_build(json_t *image_config, const struct boot_overrides *o, json_t *modules,
		      json_t **out)
{
	json_t *image = json_object_get(image_config, "config");
	json_t *config = json_object(), *process = json_object(), *args = NULL, *env = NULL;
	const char *value;
	size_t entrypoint_count = 0;
	int err;

	err = build_args(image, o, &args, &entrypoint_count);
	if (err == 0)
		err = build_env(image, o, &env);
	if (err < 0) {
		json_decref(args);
		goto fail;
	}
	json_object_set_new(process, "args", args);
	if (entrypoint_count > 0)
		json_object_set_new(process, "entrypoint_args", json_integer((json_int_t)entrypoint_count));
	json_object_set_new(process, "env", env);
	value = string_or(image, "WorkingDir", o->workdir);
	if (value && value[0] != '/') {
		log_error("invalid working directory '%s': it must be an absolute path", value);
		err = -EINVAL;
		goto fail;
	}
	json_object_set_new(process, "cwd", json_string(value ? value : "/"));
	value = string_or(image, "User", o->user);
	if (value)
		json_object_set_new(process, "user", json_string(value));
	value = string_or(image, "StopSignal", NULL);
	if (value)
		json_object_set_new(process, "stop_signal", json_string(value));
	json_object_set_new(config, "process", process);
	process = NULL;

	if (o->start_mode) {
		if (strcmp(o->start_mode, "auto") != 0 && strcmp(o->start_mode, "host") != 0) {
			log_error("invalid --start-mode '%s': expected auto or host", o->start_mode);
			err = -EINVAL;
			goto fail;
		}
		json_object_set_new(config, "start_mode", json_string(o->start_mode));
	}
	if (o->hostname)
		json_object_set_new(config, "hostname", json_string(o->hostname));
	if (modules && json_array_size(modules))
		json_object_set(config, "modules", modules);
	err = build_agent(o, config);
	if (err < 0)
		goto fail;
	*out = config;
	return 0;
fail:
	json_decref(process);
	json_decref(config);
	return err;
}
