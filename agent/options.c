/* Command-line options and the boot config's `agent` section. The command
 * line overrides the config: a list given on the command line (listeners,
 * uids, CIDs) replaces the config's list. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "log.h"

/* Largest max_sessions and grace_s accepted. */
#define OPTIONS_SESSIONS_LIMIT 65536u
/* Largest max_copies accepted. Each copy uses one of the agent's
 * connections, so more could never run at once. */
#define OPTIONS_COPIES_LIMIT AGENT_CONNECTIONS_MAX
#define OPTIONS_GRACE_MAX_S (7u * 24u * 3600u)

/* PID namespace inode of the initial namespace (PROC_PID_INIT_INO in the
 * kernel's include/linux/proc_ns.h). */
#define PROC_PID_INIT_INO 0xEFFFFFFCu

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ember-agent --listen ADDR [--listen ADDR]... [options]\n"
		"\n"
		"Serves ember's host tools: exec, shell, sessions, and under ember-init\n"
		"logs, wait, shutdown and start.\n"
		"\n"
		"  --listen ADDR      vsock:PORT, unix:PATH or tcp:HOST:PORT (repeatable)\n"
		"  --config FILE      read the \"agent\" section of an ember boot config\n"
		"  --under-init       started by ember-init (enables logs, wait, shutdown, start)\n"
		"  --token-file FILE  token that TCP clients must send (required with tcp:)\n"
		"  --allow-uid N      Unix peer uid allowed to connect (repeatable; default 0)\n"
		"  --allow-cid N      vsock peer CID allowed to connect (repeatable; default 2)\n"
		"  --max-sessions N   concurrent exec sessions (default %d)\n"
		"  --max-copies N     concurrent copy_in and copy_out requests (default %d)\n"
		"  --grace S          seconds a disconnected session waits for attach (default %d)\n"
		"  --freeze-all       allow freeze without a mount list (real guest only)\n"
		"  --machine-wide     allow resume to set the clock and feed the RNG, and\n"
		"                     net_config to re-address interfaces, without ember-init\n"
		"  --run-dir DIR      where the record of frozen mounts is kept (default /run/ember)\n"
		"  --hooks-dir DIR    holds freeze.d and resume.d (default /etc/ember/hooks)\n"
		"  --workload-cgroup DIR  cgroup that freeze --processes freezes\n"
		"                     (default /sys/fs/cgroup/workload)\n"
		"  --resume-signal N  signal number sent to the entrypoint on resume (default: none)\n"
		"  --log-level L      error, warning, info or debug (default info)\n"
		"  --help             show this help\n"
		"\n"
		"Exit codes: 0 stopped by SIGTERM or SIGINT, 1 runtime failure, 2 usage error.\n",
		AGENT_DEFAULT_MAX_SESSIONS, AGENT_DEFAULT_MAX_COPIES, AGENT_DEFAULT_GRACE_S);
}

static int parse_uint(const char *text, unsigned long max, unsigned long *value)
{
	char *end;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	*value = strtoul(text, &end, 10);
	if (errno || *end || *value > max)
		return -EINVAL;
	return 0;
}

static int add_listener(struct agent *agent, const char *text, const char *source)
{
	struct listener *listener;
	const char *reason = "";

	if (agent->listener_count == AGENT_LISTENERS_MAX) {
		fprintf(stderr, "ember-agent: too many listeners: the limit is %d\n",
			AGENT_LISTENERS_MAX);
		return -EINVAL;
	}
	listener = &agent->listeners[agent->listener_count];
	if (listen_parse(text, &listener->addr, &reason) < 0) {
		fprintf(stderr, "ember-agent: invalid listen address '%s' in %s: %s\n", text,
			source, reason);
		return -EINVAL;
	}
	listener->text = text;
	listener->fd = -1;
	agent->listener_count++;
	return 0;
}

/* ------------------------------------------------------------ config */

static int config_error(const char *path, const char *key, const char *expected)
{
	fprintf(stderr, "ember-agent: invalid config '%s': agent.%s must be %s\n", path, key,
		expected);
	return -EINVAL;
}

/* Reads an integer from min to max; the error names the value found. */
static int config_uint(const char *path, const char *key, json_t *value, unsigned long min,
		       unsigned long max, unsigned long *out)
{
	if (!json_is_integer(value) || json_integer_value(value) < 0 ||
	    (unsigned long long)json_integer_value(value) < min ||
	    (unsigned long long)json_integer_value(value) > max) {
		char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);

		fprintf(stderr, "ember-agent: invalid config '%s': agent.%s is %.64s; expected an "
			"integer from %lu to %lu\n", path, key, text ? text : "not readable", min,
			max);
		free(text);
		return -EINVAL;
	}
	*out = (unsigned long)json_integer_value(value);
	return 0;
}

static int config_uint_list(const char *path, const char *key, json_t *value,
			    unsigned long max, uint32_t *items, size_t *count)
{
	size_t i;
	json_t *item;

	if (!json_is_array(value) || json_array_size(value) > AGENT_ALLOW_MAX)
		return config_error(path, key, "an array of at most 64 integers");
	*count = 0;
	json_array_foreach(value, i, item) {
		unsigned long n;

		if (config_uint(path, key, item, 0, max, &n) < 0)
			return -EINVAL;
		items[(*count)++] = (uint32_t)n;
	}
	return 0;
}

/* Strings that outlive the config object. */
static char *keep_string(json_t *value)
{
	return strdup(json_string_value(value));
}

static int config_agent_key(struct agent *agent, const char *path, const char *key,
			    json_t *value)
{
	struct agent_options *opts = &agent->opts;
	unsigned long n;

	if (strcmp(key, "path") == 0 || strcmp(key, "args") == 0)
		return 0; /* ember-init's: how to start the agent */
	if (strcmp(key, "listen") == 0) {
		size_t i;
		json_t *item;

		if (!json_is_array(value))
			return config_error(path, key, "an array of addresses");
		json_array_foreach(value, i, item) {
			char *text;

			if (!json_is_string(item))
				return config_error(path, key, "an array of address strings");
			text = keep_string(item);
			if (!text || add_listener(agent, text, path) < 0)
				return -EINVAL;
		}
		return 0;
	}
	if (strcmp(key, "token_file") == 0) {
		if (!json_is_string(value))
			return config_error(path, key, "a path string");
		opts->token_file = keep_string(value);
		return 0;
	}
	if (strcmp(key, "allow_cids") == 0)
		return config_uint_list(path, key, value, UINT32_MAX, opts->allow_cids,
					&opts->allow_cid_count);
	if (strcmp(key, "allow_uids") == 0) {
		uint32_t uids[AGENT_ALLOW_MAX];
		int r = config_uint_list(path, key, value, UINT32_MAX - 1, uids,
					 &opts->allow_uid_count);

		for (size_t i = 0; i < opts->allow_uid_count; i++)
			opts->allow_uids[i] = uids[i];
		return r;
	}
	if (strcmp(key, "max_sessions") == 0) {
		if (config_uint(path, key, value, 1, OPTIONS_SESSIONS_LIMIT, &n) < 0)
			return -EINVAL;
		opts->max_sessions = (unsigned)n;
		return 0;
	}
	if (strcmp(key, "max_copies") == 0) {
		if (config_uint(path, key, value, 1, OPTIONS_COPIES_LIMIT, &n) < 0)
			return -EINVAL;
		opts->max_copies = (unsigned)n;
		return 0;
	}
	if (strcmp(key, "grace_s") == 0) {
		if (config_uint(path, key, value, 0, OPTIONS_GRACE_MAX_S, &n) < 0)
			return -EINVAL;
		opts->grace_s = (unsigned)n;
		return 0;
	}
	if (strcmp(key, "freeze_all") == 0) {
		if (!json_is_boolean(value))
			return config_error(path, key, "true or false");
		opts->freeze_all = json_is_true(value);
		return 0;
	}
	fprintf(stderr, "ember-agent: invalid config '%s': unknown key 'agent.%s'\n", path, key);
	return -EINVAL;
}

/* Keeps process.env, the image's environment that sessions inherit. */
static int config_process_env(struct agent *agent, const char *path, json_t *process)
{
	json_t *env = json_object_get(process, "env");
	size_t i;
	json_t *item;

	if (!env)
		return 0;
	if (!json_is_array(env) || json_array_size(env) > AGENT_IMAGE_ENV_MAX) {
		fprintf(stderr, "ember-agent: invalid config '%s': process.env must be an array "
			"of at most %d strings\n", path, AGENT_IMAGE_ENV_MAX);
		return -EINVAL;
	}
	agent->image_env = calloc(json_array_size(env) + 1, sizeof(char *));
	if (!agent->image_env)
		return -ENOMEM;
	json_array_foreach(env, i, item) {
		if (!json_is_string(item)) {
			fprintf(stderr, "ember-agent: invalid config '%s': process.env[%zu] must be "
				"a string\n", path, i);
			return -EINVAL;
		}
		agent->image_env[i] = keep_string(item);
		if (!agent->image_env[i])
			return -ENOMEM;
	}
	return 0;
}

static int config_load(struct agent *agent, const char *path)
{
	json_error_t error;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
	json_t *section, *process, *value;
	const char *key;
	int r = 0;

	if (!root && error.line < 0) {
		/* jansson reports a file it cannot open or read with line -1. */
		fprintf(stderr, "ember-agent: failed to read config '%s': %s\n", path, error.text);
		return -EINVAL;
	}
	if (!root) {
		fprintf(stderr, "ember-agent: invalid config '%s' at line %d, column %d: %s\n",
			path, error.line, error.column, error.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		fprintf(stderr, "ember-agent: invalid config '%s': expected a JSON object\n", path);
		json_decref(root);
		return -EINVAL;
	}
	process = json_object_get(root, "process");
	if (json_is_object(process))
		r = config_process_env(agent, path, process);
	section = json_object_get(root, "agent");
	if (r == 0 && section && !json_is_object(section)) {
		fprintf(stderr, "ember-agent: invalid config '%s': agent must be an object\n", path);
		r = -EINVAL;
	}
	if (r == 0 && section) {
		json_object_foreach(section, key, value) {
			r = config_agent_key(agent, path, key, value);
			if (r < 0)
				break;
		}
	}
	json_decref(root);
	return r;
}

/* ------------------------------------------------------------ command line */

enum {
	OPT_LISTEN = 256,
	OPT_CONFIG,
	OPT_UNDER_INIT,
	OPT_TOKEN_FILE,
	OPT_ALLOW_UID,
	OPT_ALLOW_CID,
	OPT_MAX_SESSIONS,
	OPT_MAX_COPIES,
	OPT_GRACE,
	OPT_FREEZE_ALL,
	OPT_MACHINE_WIDE,
	OPT_RUN_DIR,
	OPT_HOOKS_DIR,
	OPT_WORKLOAD_CGROUP,
	OPT_RESUME_SIGNAL,
	OPT_LOG_LEVEL,
	OPT_HELP,
};

static const struct option long_options[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "under-init", no_argument, NULL, OPT_UNDER_INIT },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "allow-uid", required_argument, NULL, OPT_ALLOW_UID },
	{ "allow-cid", required_argument, NULL, OPT_ALLOW_CID },
	{ "max-sessions", required_argument, NULL, OPT_MAX_SESSIONS },
	{ "max-copies", required_argument, NULL, OPT_MAX_COPIES },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "freeze-all", no_argument, NULL, OPT_FREEZE_ALL },
	{ "machine-wide", no_argument, NULL, OPT_MACHINE_WIDE },
	{ "run-dir", required_argument, NULL, OPT_RUN_DIR },
	{ "hooks-dir", required_argument, NULL, OPT_HOOKS_DIR },
	{ "workload-cgroup", required_argument, NULL, OPT_WORKLOAD_CGROUP },
	{ "resume-signal", required_argument, NULL, OPT_RESUME_SIGNAL },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* Command-line values, applied over the config afterwards. */
struct cli {
	const char *listen[AGENT_LISTENERS_MAX];
	size_t listen_count;
	uint32_t uids[AGENT_ALLOW_MAX];
	size_t uid_count;
	uint32_t cids[AGENT_ALLOW_MAX];
	size_t cid_count;
	long max_sessions;
	long max_copies;
	long grace_s;
	bool freeze_all;
	const char *token_file;
};

static int cli_bad(const char *option, const char *value, const char *expected)
{
	fprintf(stderr, "ember-agent: invalid %s '%s': expected %s\n", option, value, expected);
	return -EINVAL;
}

static int cli_option(struct agent *agent, struct cli *cli, int opt, const char *arg)
{
	unsigned long n;
	enum log_level level;

	switch (opt) {
	case OPT_LISTEN:
		if (cli->listen_count == AGENT_LISTENERS_MAX)
			return cli_bad("--listen", arg, "at most 16 listeners");
		cli->listen[cli->listen_count++] = arg;
		return 0;
	case OPT_CONFIG:
		agent->opts.config_path = arg;
		return 0;
	case OPT_UNDER_INIT:
		agent->opts.under_init = true;
		return 0;
	case OPT_TOKEN_FILE:
		cli->token_file = arg;
		return 0;
	case OPT_ALLOW_UID:
		if (parse_uint(arg, UINT32_MAX - 1, &n) < 0 || cli->uid_count == AGENT_ALLOW_MAX)
			return cli_bad("--allow-uid", arg, "a uid (at most 64 of them)");
		cli->uids[cli->uid_count++] = (uint32_t)n;
		return 0;
	case OPT_ALLOW_CID:
		if (parse_uint(arg, UINT32_MAX, &n) < 0 || cli->cid_count == AGENT_ALLOW_MAX)
			return cli_bad("--allow-cid", arg, "a CID (at most 64 of them)");
		cli->cids[cli->cid_count++] = (uint32_t)n;
		return 0;
	case OPT_MAX_SESSIONS:
		if (parse_uint(arg, OPTIONS_SESSIONS_LIMIT, &n) < 0 || n == 0)
			return cli_bad("--max-sessions", arg, "a number from 1 to 65536");
		cli->max_sessions = (long)n;
		return 0;
	case OPT_MAX_COPIES:
		if (parse_uint(arg, OPTIONS_COPIES_LIMIT, &n) < 0 || n == 0)
			return cli_bad("--max-copies", arg, "a number from 1 to 1024");
		cli->max_copies = (long)n;
		return 0;
	case OPT_GRACE:
		if (parse_uint(arg, OPTIONS_GRACE_MAX_S, &n) < 0)
			return cli_bad("--grace", arg, "seconds from 0 to 604800");
		cli->grace_s = (long)n;
		return 0;
	case OPT_FREEZE_ALL:
		cli->freeze_all = true;
		return 0;
	case OPT_MACHINE_WIDE:
		agent->opts.machine_wide = true;
		return 0;
	case OPT_RUN_DIR:
		agent->opts.run_dir = arg;
		return 0;
	case OPT_HOOKS_DIR:
		agent->opts.hooks_dir = arg;
		return 0;
	case OPT_WORKLOAD_CGROUP:
		agent->opts.workload_cgroup = arg;
		return 0;
	case OPT_RESUME_SIGNAL:
		if (parse_uint(arg, 64, &n) < 0 || n == 0)
			return cli_bad("--resume-signal", arg, "a signal number from 1 to 64");
		agent->opts.resume_signal = (int)n;
		return 0;
	case OPT_LOG_LEVEL:
		if (log_parse_level(arg, &level) < 0)
			return cli_bad("--log-level", arg, "error, warning, info or debug");
		agent->opts.log_level = level;
		return 0;
	case OPT_HELP:
		usage(stdout);
		exit(0);
	default:
		usage(stderr);
		return -EINVAL;
	}
}

static int apply_cli(struct agent *agent, const struct cli *cli)
{
	struct agent_options *opts = &agent->opts;

	if (cli->listen_count) {
		agent->listener_count = 0;
		for (size_t i = 0; i < cli->listen_count; i++)
			if (add_listener(agent, cli->listen[i], "--listen") < 0)
				return -EINVAL;
	}
	if (cli->uid_count) {
		for (size_t i = 0; i < cli->uid_count; i++)
			opts->allow_uids[i] = cli->uids[i];
		opts->allow_uid_count = cli->uid_count;
	}
	if (cli->cid_count) {
		memcpy(opts->allow_cids, cli->cids, cli->cid_count * sizeof(uint32_t));
		opts->allow_cid_count = cli->cid_count;
	}
	if (cli->max_sessions >= 0)
		opts->max_sessions = (unsigned)cli->max_sessions;
	if (cli->max_copies >= 0)
		opts->max_copies = (unsigned)cli->max_copies;
	if (cli->grace_s >= 0)
		opts->grace_s = (unsigned)cli->grace_s;
	if (cli->freeze_all)
		opts->freeze_all = true;
	if (cli->token_file)
		opts->token_file = cli->token_file;
	return 0;
}

static bool in_initial_pid_ns(void)
{
	struct stat st;

	return stat("/proc/self/ns/pid", &st) == 0 && st.st_ino == PROC_PID_INIT_INO;
}

int options_parse(struct agent *agent, int argc, char **argv)
{
	struct agent_options *opts = &agent->opts;
	struct cli cli = { .max_sessions = -1, .max_copies = -1, .grace_s = -1 };
	int opt;

	opts->allow_uids[0] = 0;
	opts->allow_uid_count = 1;
	opts->allow_cids[0] = 2;
	opts->allow_cid_count = 1;
	opts->max_sessions = AGENT_DEFAULT_MAX_SESSIONS;
	opts->max_copies = AGENT_DEFAULT_MAX_COPIES;
	opts->grace_s = AGENT_DEFAULT_GRACE_S;
	opts->log_level = LOG_LEVEL_INFO;
	while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1)
		if (cli_option(agent, &cli, opt, optarg) < 0)
			return -EINVAL;
	if (optind < argc) {
		fprintf(stderr, "ember-agent: unexpected argument '%s'; see --help\n", argv[optind]);
		return -EINVAL;
	}
	if (opts->config_path && config_load(agent, opts->config_path) < 0)
		return -EINVAL;
	if (apply_cli(agent, &cli) < 0)
		return -EINVAL;
	if (agent->listener_count == 0) {
		fprintf(stderr, "ember-agent: no listener: give --listen ADDR (vsock:PORT, "
			"unix:PATH or tcp:HOST:PORT) or agent.listen in the config\n");
		return -EINVAL;
	}
	for (size_t i = 0; i < agent->listener_count; i++) {
		if (agent->listeners[i].addr.kind == LISTEN_TCP && !opts->token_file) {
			fprintf(stderr, "ember-agent: listener '%s' needs a token: give --token-file "
				"FILE\n", agent->listeners[i].text);
			return -EINVAL;
		}
	}
	opts->initial_pid_ns = in_initial_pid_ns();
	for (size_t i = 0; i < agent->listener_count; i++)
		opts->listen[i] = agent->listeners[i].text;
	opts->listen_count = agent->listener_count;
	return 0;
}

int options_load_token(struct agent *agent)
{
	const char *path = agent->opts.token_file;
	char buf[AGENT_TOKEN_MAX + 2];
	ssize_t n;

	if (!path)
		return 0;
	n = read_file(path, buf, sizeof(buf));
	if (n == -EFBIG || n > AGENT_TOKEN_MAX) {
		log_error("failed to read token file '%s': longer than %d bytes", path,
			  AGENT_TOKEN_MAX);
		return -EFBIG;
	}
	if (n < 0) {
		log_error("failed to read token file '%s': %s", path, strerror((int)-n));
		return (int)n;
	}
	/* One trailing newline is not part of the token (echo TOKEN > FILE). */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n == 0) {
		log_error("failed to read token file '%s': the token is empty", path);
		return -EINVAL;
	}
	memcpy(agent->token, buf, (size_t)n);
	agent->token_len = (size_t)n;
	agent->have_token = true;
	return 0;
}
