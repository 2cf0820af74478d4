/* Unit tests for the boot config parser and its command-line overrides. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

static char err[CONFIG_ERROR_MAX];

static const char full_config[] =
	"{\n"
	"  \"process\": {\"args\": [\"/bin/sh\", \"-c\", \"echo hi\"], \"entrypoint_args\": 1,\n"
	"    \"env\": [\"PATH=/usr/bin:/bin\", \"K=V\"], \"cwd\": \"/srv\", \"user\": \"1000:50\",\n"
	"    \"terminal\": true, \"stop_signal\": \"SIGQUIT\", \"stop_timeout\": 3},\n"
	"  \"start_mode\": \"host\", \"start_timeout\": 30, \"exit_action\": \"reboot\",\n"
	"  \"hostname\": \"box\",\n"
	"  \"network\": {\"interfaces\": [{\"name\": \"eth0\", \"mac\": \"52:54:00:12:34:56\",\n"
	"      \"addresses\": [\"10.0.2.15/24\", \"fd00::15/64\"], \"gateway\": \"10.0.2.2\",\n"
	"      \"gateway6\": \"fd00::1\", \"mtu\": 1400,\n"
	"      \"routes\": [{\"to\": \"192.168.0.0/16\", \"via\": \"10.0.2.2\"}]}],\n"
	"    \"dns\": [\"10.0.2.3\"], \"search\": [\"example.internal\"], \"link_timeout_ms\": 700},\n"
	"  \"root\": {\"device\": \"/dev/vda\", \"fstype\": \"ext4\", \"options\": \"rw\",\n"
	"    \"timeout_ms\": 900},\n"
	"  \"modules\": [\"/lib/modules/x/virtio_blk.ko\"],\n"
	"  \"mounts\": [{\"source\": \"/dev/vdb\", \"target\": \"/data\", \"type\": \"ext4\",\n"
	"    \"options\": \"noatime\"}],\n"
	"  \"rlimits\": {\"NOFILE\": [4096, 8192], \"CORE\": [\"unlimited\", \"unlimited\"]},\n"
	"  \"sysctls\": {\"net.ipv4.ip_forward\": \"1\", \"vm.swappiness\": 10},\n"
	"  \"cgroup\": {\"memory_max\": \"512M\", \"pids_max\": 1024},\n"
	"  \"log_ring_size\": 65536, \"log_level\": \"debug\",\n"
	"  \"agent\": {\"path\": \"/sbin/ember-agent\", \"args\": [\"-v\"], \"listen\": [\"vsock:1023\"],\n"
	"    \"token_file\": \"/etc/ember/token\", \"allow_cids\": [2], \"allow_uids\": [0],\n"
	"    \"max_sessions\": 64, \"max_copies\": 16, \"grace_s\": 60, \"freeze_all\": true}\n"
	"}\n";

static void full_config_parses(void)
{
	struct config c;

	config_init(&c);
	CHECK_INT(config_parse_string(&c, full_config, "config.json", err, sizeof(err)), 0);
	CHECK_INT(c.args.n, 3);
	CHECK_STR(c.args.v[2], "echo hi");
	CHECK(c.args.v[3] == NULL);
	CHECK_INT(c.entrypoint_args, 1);
	CHECK_STR(c.env.v[1], "K=V");
	CHECK_STR(c.cwd, "/srv");
	CHECK_STR(c.user, "1000:50");
	CHECK(c.terminal);
	CHECK_INT(c.stop_signal, SIGQUIT);
	CHECK_INT(c.stop_timeout_s, 3);
	CHECK_INT(c.start_mode, START_MODE_HOST);
	CHECK_INT(c.start_timeout_s, 30);
	CHECK_INT(c.exit_action, EXIT_ACTION_REBOOT);
	CHECK_STR(c.hostname, "box");
	CHECK_INT(c.n_interfaces, 1);
	CHECK_STR(c.interfaces[0].mac, "52:54:00:12:34:56");
	CHECK_STR(c.interfaces[0].addresses.v[1], "fd00::15/64");
	CHECK_STR(c.interfaces[0].gateway6, "fd00::1");
	CHECK_INT(c.interfaces[0].mtu, 1400);
	CHECK_INT(c.interfaces[0].n_routes, 1);
	CHECK_STR(c.interfaces[0].routes[0].via, "10.0.2.2");
	CHECK_STR(c.dns.v[0], "10.0.2.3");
	CHECK_STR(c.search.v[0], "example.internal");
	CHECK_INT(c.link_timeout_ms, 700);
	CHECK_STR(c.root_device, "/dev/vda");
	CHECK_INT(c.root_timeout_ms, 900);
	CHECK_STR(c.modules.v[0], "/lib/modules/x/virtio_blk.ko");
	CHECK_INT(c.n_mounts, 1);
	CHECK_STR(c.mounts[0].options, "noatime");
	CHECK_INT(c.n_rlimits, 2);
	CHECK_INT(c.rlimits[0].soft, 4096);
	CHECK_INT(c.rlimits[0].hard, 8192);
	CHECK(c.rlimits[1].hard == RLIM_INFINITY);
	CHECK_INT(c.n_sysctls, 2);
	CHECK_STR(c.sysctls[1].value, "10");
	CHECK_STR(c.memory_max, "536870912");
	CHECK_STR(c.pids_max, "1024");
	CHECK_INT(c.log_ring_size, 65536);
	CHECK_STR(c.log_level, "debug");
	CHECK_STR(c.agent_path, "/sbin/ember-agent");
	CHECK_STR(c.agent_args.v[0], "-v");
	config_free(&c);
}

static void empty_object_gives_defaults(void)
{
	struct config c;

	config_init(&c);
	CHECK_INT(config_parse_string(&c, "{}", "config.json", err, sizeof(err)), 0);
	CHECK_INT(c.args.n, 0);
	CHECK_INT(c.stop_signal, SIGTERM);
	CHECK_INT(c.stop_timeout_s, CONFIG_DEFAULT_STOP_TIMEOUT_S);
	CHECK_INT(c.start_mode, START_MODE_AUTO);
	CHECK_INT(c.exit_action, EXIT_ACTION_POWEROFF);
	CHECK_INT(c.link_timeout_ms, CONFIG_DEFAULT_LINK_TIMEOUT_MS);
	CHECK(!c.terminal);
	config_free(&c);
}

static void syntax_error_names_line_and_column(void)
{
	struct config c;

	config_init(&c);
	CHECK_INT(config_parse_string(&c, "{\n  \"hostname\": \"a\",\n  oops\n}", "cfg.json", err,
				      sizeof(err)), -22);
	CHECK(strncmp(err, "cfg.json:3:", 11) == 0);
	CHECK_INT(config_parse_string(&c, "{\"hostname\": \"a\", \"hostname\": \"b\"}", "cfg.json",
				      err, sizeof(err)), -22);
	CHECK(strstr(err, "duplicate") != NULL);
	config_free(&c);
}

static void schema_errors_name_the_key(void)
{
	static const struct {
		const char *json;
		const char *message_part;
	} cases[] = {
		{ "{\"hostnme\": \"x\"}", "key 'hostnme': unknown key" },
		{ "{\"process\": {\"argz\": []}}", "key 'process.argz': unknown key" },
		{ "{\"process\": {\"args\": \"sh\"}}", "key 'process.args': expected an array" },
		{ "{\"process\": {\"args\": [1]}}", "key 'process.args': entry 0 is not a string" },
		{ "{\"process\": {\"env\": [\"NOEQUALS\"]}}", "'NOEQUALS' is not KEY=VALUE" },
		{ "{\"process\": {\"cwd\": \"rel\"}}", "'rel' is not an absolute path" },
		{ "{\"process\": {\"stop_signal\": \"SIGNOPE\"}}", "key 'process.stop_signal'" },
		{ "{\"process\": {\"stop_timeout\": -1}}", "key 'process.stop_timeout'" },
		{ "{\"process\": {\"terminal\": \"yes\"}}", "expected true or false" },
		{ "{\"start_mode\": \"later\"}", "'later' is neither \"auto\" nor \"host\"" },
		{ "{\"exit_action\": \"explode\"}", "key 'exit_action'" },
		{ "{\"network\": {\"interfaces\": [{\"mtu\": 1500}]}}", "needs a \"name\" or a \"mac\"" },
		{ "{\"network\": {\"interfaces\": [{\"name\": \"e\", \"mtu\": 10}]}}", "out of range" },
		{ "{\"network\": {\"interfaces\": [{\"name\": \"e\", \"routes\": [{\"via\": \"1.2.3.4\"}]}]}}",
		  "has no \"to\"" },
		{ "{\"mounts\": [{\"target\": \"data\", \"type\": \"tmpfs\"}]}", "absolute \"target\"" },
		{ "{\"mounts\": [{\"target\": \"/data\", \"type\": \"ext4\"}]}", "needs a \"source\"" },
		{ "{\"rlimits\": {\"FILES\": [1, 1]}}", "key 'rlimits.FILES': unknown resource" },
		{ "{\"rlimits\": {\"NOFILE\": [10, 5]}}", "soft limit exceeds the hard limit" },
		{ "{\"sysctls\": {\"../x\": \"1\"}}", "not a sysctl name" },
		{ "{\"cgroup\": {\"memory_max\": \"lots\"}}", "'lots' is not \"max\" or a size" },
		{ "{\"cgroup\": {\"memory_max\": \"-5\"}}", "'-5' is not \"max\" or a size" },
		{ "{\"cgroup\": {\"pids_max\": \" 7\"}}", "' 7' is not \"max\" or a positive" },
		{ "{\"modules\": [\"virtio.ko.xz\"]}", "not an absolute path to a .ko file" },
		{ "{\"log_level\": \"loud\"}", "key 'log_level'" },
		{ "{\"log_ring_size\": 100}", "out of range" },
		{ "{\"agent\": {\"listn\": []}}", "key 'agent.listn': unknown key" },
		{ "{\"agent\": {\"path\": \"ember-agent\"}}", "not an absolute path" },
		{ "[1, 2]", "not a JSON object" },
		{ "{\"debug\": \"always\"}", "key 'debug'" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c;

		config_init(&c);
		err[0] = '\0';
		CHECK_INT(config_parse_string(&c, cases[i].json, "config.json", err, sizeof(err)), -22);
		if (!strstr(err, cases[i].message_part))
			fprintf(stderr, "case %zu: %s gave '%s'\n", i, cases[i].json, err);
		CHECK(strstr(err, cases[i].message_part) != NULL);
		config_free(&c);
	}
}

static void override_sets_nested_keys(void)
{
	struct config c;

	config_init(&c);
	CHECK_INT(config_parse_string(&c, "{\"process\": {\"args\": [\"a\"]}}", "c", err,
				      sizeof(err)), 0);
	CHECK_INT(config_apply_override(&c, "hostname=box", err, sizeof(err)), 0);
	CHECK_STR(c.hostname, "box");
	CHECK_INT(config_apply_override(&c, "process.stop_timeout=4", err, sizeof(err)), 0);
	CHECK_INT(c.stop_timeout_s, 4);
	CHECK_INT(config_apply_override(&c, "process.args=[\"sh\",\"-c\",\"x y\"]", err,
					sizeof(err)), 0);
	CHECK_INT(c.args.n, 3);
	CHECK_STR(c.args.v[2], "x y");
	CHECK_INT(config_apply_override(&c, "network.dns=[\"1.1.1.1\"]", err, sizeof(err)), 0);
	CHECK_STR(c.dns.v[0], "1.1.1.1");
	/* A number-like hostname stays valid because the value falls back to a string. */
	CHECK_INT(config_apply_override(&c, "debug=shell", err, sizeof(err)), 0);
	CHECK(c.debug_shell);
	config_free(&c);
}

static void invalid_override_is_not_applied(void)
{
	struct config c;

	config_init(&c);
	CHECK_INT(config_parse_string(&c, "{\"hostname\": \"keep\"}", "c", err, sizeof(err)), 0);
	CHECK_INT(config_apply_override(&c, "hostnme=x", err, sizeof(err)), -22);
	CHECK(strstr(err, "hostnme") != NULL);
	CHECK_INT(config_apply_override(&c, "process.stop_timeout=soon", err, sizeof(err)), -22);
	CHECK_INT(config_apply_override(&c, "hostname.x=1", err, sizeof(err)), -22);
	CHECK_INT(config_apply_override(&c, "novalue", err, sizeof(err)), -22);
	CHECK_STR(c.hostname, "keep");
	CHECK_INT(c.stop_timeout_s, CONFIG_DEFAULT_STOP_TIMEOUT_S);
	config_free(&c);
}

/* The kernel command line is raw bytes, but the config document is JSON. */
static void non_utf8_override_is_rejected(void)
{
	struct config c;

	config_init(&c);
	CHECK_INT(config_parse_string(&c, "{\"hostname\": \"keep\"}", "c", err, sizeof(err)), 0);
	err[0] = '\0';
	CHECK_INT(config_apply_override(&c, "hostname=\xff\xfe", err, sizeof(err)), -22);
	CHECK(strstr(err, "not valid UTF-8") != NULL);
	err[0] = '\0';
	CHECK_INT(config_apply_override(&c, "\xff.x=1", err, sizeof(err)), -22);
	CHECK(strstr(err, "does not name a config key") != NULL);
	CHECK_STR(c.hostname, "keep");
	config_free(&c);
}

static void cmd_replaces_args_after_entrypoint(void)
{
	struct config c;
	char *words[] = { "echo", "new" };

	config_init(&c);
	CHECK_INT(config_parse_string(&c, "{\"process\": {\"args\": [\"/init.sh\", \"--flag\", "
				      "\"old\"], \"entrypoint_args\": 2}}", "c", err, sizeof(err)), 0);
	CHECK_INT(config_replace_cmd(&c, words, 2), 0);
	CHECK_INT(c.args.n, 4);
	CHECK_STR(c.args.v[0], "/init.sh");
	CHECK_STR(c.args.v[1], "--flag");
	CHECK_STR(c.args.v[2], "echo");
	CHECK_STR(c.args.v[3], "new");
	config_free(&c);

	config_init(&c);
	CHECK_INT(config_parse_string(&c, "{\"process\": {\"args\": [\"old\"]}}", "c", err,
				      sizeof(err)), 0);
	CHECK_INT(config_replace_cmd(&c, words, 2), 0);
	CHECK_INT(c.args.n, 2);
	CHECK_STR(c.args.v[0], "echo");
	config_free(&c);
}

static void signal_names_parse(void)
{
	CHECK_INT(config_parse_signal("SIGTERM"), SIGTERM);
	CHECK_INT(config_parse_signal("quit"), SIGQUIT);
	CHECK_INT(config_parse_signal("9"), 9);
	CHECK_INT(config_parse_signal("RTMIN+2"), SIGRTMIN + 2);
	CHECK_INT(config_parse_signal("0"), -22);
	CHECK_INT(config_parse_signal("SIGFOO"), -22);
	CHECK_INT(config_parse_signal("RTMIN+"), -22);
	CHECK_INT(config_parse_signal("RTMIN+99999999999999999999"), -22);
	CHECK_INT(config_parse_signal("RTMIN+2147483647"), -22);
	CHECK_INT(config_parse_signal(""), -22);
}

static void missing_file_is_enoent(void)
{
	struct config c;

	config_init(&c);
	CHECK_INT(config_parse_file(&c, "/nonexistent/config.json", err, sizeof(err)), -2);
	config_free(&c);
}

int main(void)
{
	RUN(full_config_parses);
	RUN(empty_object_gives_defaults);
	RUN(syntax_error_names_line_and_column);
	RUN(schema_errors_name_the_key);
	RUN(override_sets_nested_keys);
	RUN(invalid_override_is_not_applied);
	RUN(non_utf8_override_is_rejected);
	RUN(cmd_replaces_args_after_entrypoint);
	RUN(signal_names_parse);
	RUN(missing_file_is_enoent);
	return check_summary("init/config");
}
