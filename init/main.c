/* ember-init: the PID 1 of an ember microVM.
 *
 * It mounts the kernel filesystems, reads /etc/ember/config.json and the
 * kernel command line, and configures the network. Then it starts ember-agent
 * and the image's entrypoint, relays the entrypoint's output and reaps every
 * process. When the entrypoint exits it powers the machine off, with
 * "ember: exit status N" as the last console line. Single-threaded: one epoll
 * loop reads signals (signalfd), output and control requests.
 *
 * Usage: as the kernel's init (PID 1), or `ember-init --check-config [FILE]`
 * on any machine to validate a config and print the resolved process. */
#include "init.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "io.h"
#include "log.h"
#include "loop.h"

static struct init init_state = {
	.output_fd = -1,
	.pty_fd = -1,
	.signal_fd = -1,
};

static int check_config(int argc, char **argv)
{
	const char *path = CONFIG_PATH, *root = "/";
	char err[CONFIG_ERROR_MAX];
	struct config cfg;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
			root = argv[++i];
		else if (argv[i][0] != '-')
			path = argv[i];
		else {
			fprintf(stderr, "ember-init: unknown option '%s'\n", argv[i]);
			return INIT_USAGE_STATUS;
		}
	}
	config_init(&cfg);
	if (config_parse_file(&cfg, path, err, sizeof(err)) < 0) {
		fprintf(stderr, "ember-init: invalid config: %s\n", err);
		return 1;
	}
	if (entrypoint_check_config(&cfg, root, err, sizeof(err)) < 0) {
		fprintf(stderr, "ember-init: invalid config %s: %s\n", path, err);
		config_free(&cfg);
		return 1;
	}
	printf("%s: valid\n", path);
	config_free(&cfg);
	return 0;
}

static int usage(const char *name, int status)
{
	fprintf(status ? stderr : stdout,
		"Usage: %s                      (as PID 1: boot this machine)\n"
		"       %s --check-config [FILE] [--root DIR]\n"
		"            validate FILE (default %s) and print the resolved process;\n"
		"            users and groups are looked up in DIR/etc (default /)\n"
		"       %s --version\n", name, name, CONFIG_PATH, name);
	return status;
}

/* Steps before the config can be read: signals, console, kernel mounts. */
static void start_up(struct init *init)
{
	int r;

	timings_mark(init, TIMING_INIT);
	console_fill_std_fds();
	log_init("ember-init");
	init->loop = loop_new();
	if (!init->loop || (r = signals_setup(init)) < 0) {
		/* Nothing to log with yet: the console is stdout. */
		fprintf(stderr, "ember-init: error: failed to set up the event loop: %s\n",
			strerror(init->loop ? -r : errno));
		shutdown_poweroff(EXIT_ACTION_POWEROFF, INIT_PANIC_STATUS);
	}
	console_open(init->loop);
	if ((r = mounts_early(init)) < 0)
		panic(init, "the kernel filesystems are missing");
	init->initial_pidns = pidns_is_initial();
	if (init->initial_pidns) {
		log_enable_kmsg(1);
		console_prepare_kernel_quiet();
		/* Ctrl-Alt-Del then arrives as SIGINT and starts a graceful shutdown. */
		if (reboot(RB_DISABLE_CAD) < 0)
			log_warn("failed to disable Ctrl-Alt-Del: %s", strerror(errno));
	} else {
		log_info("running in a child PID namespace: module loading, sysctls outside "
			 "net.* and switching root are skipped");
	}
	if ((r = write_file("/proc/self/oom_score_adj", "-1000\n", 6, 0644)) < 0)
		log_msg(init->initial_pidns ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, "failed to set init's oom_score_adj to -1000: %s; the OOM killer may "
			 "choose init", strerror(-r));
	timings_mark(init, TIMING_MOUNTS);
}

static void read_config(struct init *init, char **argv)
{
	enum log_level level;

	if (boot_read_cmdline(&init->cmdline, init->initial_pidns) < 0)
		panic(init, "failed to parse the kernel command line: out of memory");
	boot_read_config(init);
	if (init->cfg.log_level && log_parse_level(init->cfg.log_level, &level) == 0)
		log_set_level(level);
	if (init->config_invalid)
		panic(init, "invalid config: %s", init->config_error);
	modules_load(init);
	switchroot_maybe(init, argv);
	if (init->config_invalid)
		panic(init, "invalid config: %s", init->config_error);
}

static void configure_system(struct init *init)
{
	limits_apply(init);
	network_up(init);
	naming_set_hostname(init, init->cfg.hostname);
	naming_write_resolv(&init->cfg.dns, &init->cfg.search);
	timings_mark(init, TIMING_NETWORK);
	mounts_extra(init);
	cgroup_setup(init);
}

static void prepare_run_dir(struct init *init)
{
	int r;

	if ((r = mkdir_p(EMBER_RUN_DIR, 0755)) < 0)
		panic(init, "failed to create %s: %s", EMBER_RUN_DIR, strerror(-r));
	r = logring_create(&init->ring, LOGRING_PATH, init->cfg.log_ring_size);
	if (r < 0)
		log_warn("failed to create the output ring %s: %s; the agent cannot serve logs",
			 LOGRING_PATH, strerror(-r));
	init->ring_ready = r == 0;
	if ((r = control_listen(init)) < 0)
		log_warn("failed to listen on %s: %s; the agent cannot control init",
			 CONTROL_SOCKET_PATH, strerror(-r));
	status_write(init);
}

static void on_start_timeout(struct loop *loop, void *data)
{
	struct init *init = data;

	(void)loop;
	init->start_timer = 0;
	if (!init->entry_started)
		panic(init, "no start request arrived within %u s (start_mode \"host\"); check "
		      "that the host reaches ember-agent", init->cfg.start_timeout_s);
}

static void start_workload(struct init *init)
{
	char err[CONFIG_ERROR_MAX];

	agent_start(init);
	timings_mark(init, TIMING_AGENT);
	if (init->cfg.start_mode == START_MODE_HOST) {
		init->state = STATE_WAITING_FOR_START;
		status_write(init);
		log_info("waiting up to %u s for the host's start request", init->cfg.start_timeout_s);
		init->start_timer = loop_timer_add(init->loop, init->cfg.start_timeout_s * 1000ull,
						   on_start_timeout, init);
		return;
	}
	if (entrypoint_start(init, &init->cfg, err, sizeof(err)) < 0)
		panic(init, "failed to start the entrypoint: %s", err);
}

int main(int argc, char **argv)
{
	struct init *init = &init_state;

	if (argc > 1 && strcmp(argv[1], "--check-config") == 0)
		return check_config(argc, argv);
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("ember-init %s\n", EMBER_VERSION);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--help") == 0)
		return usage(argv[0], 0);
	/* Only PID 1 may power the machine off; anything else is a mistake. */
	if (getpid() != 1) {
		fprintf(stderr, "ember-init: this is PID %d, not PID 1: ember-init runs only as a "
			"machine's init and powers it off when the entrypoint exits.\n"
			"To validate a config, run '%s --check-config [FILE]'.\n", (int)getpid(),
			argv[0]);
		return INIT_USAGE_STATUS;
	}

	config_init(&init->cfg);
	start_up(init);
	read_config(init, argv);
	configure_system(init);
	prepare_run_dir(init);
	start_workload(init);

	/* PID 1 never returns: the loop ends only in reboot(2). */
	for (;;) {
		int r = loop_run(init->loop);

		log_error("the event loop failed: %s; restarting it", strerror(-r));
	}
}
