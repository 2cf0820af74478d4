/* ember-init's state and the steps that main runs, one file per concept. */
#ifndef EMBER_INIT_INIT_H
#define EMBER_INIT_INIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cmdline.h"
#include "config.h"
#include "logring.h"

struct loop;

/* Exit status reported when init panics before the entrypoint ran: no process
 * exit status (0-255) can take this value. */
#define INIT_PANIC_STATUS 256
#define INIT_USAGE_STATUS 2
#define INIT_CONSOLE_BUFFER (64u * 1024u)
#define INIT_FINAL_FLUSH_MS 2000
#define INIT_AGENT_BACKOFF_MIN_MS 100
#define INIT_AGENT_BACKOFF_MAX_MS 10000
/* An agent that ran this long before dying restarts at the minimum backoff. */
#define INIT_AGENT_STABLE_MS 30000
#define INIT_AGENT_STOP_MS 1000
#define INIT_KILL_WAIT_MS 2000
#define INIT_POLL_MS 20

enum init_state {
	STATE_BOOTING,
	STATE_WAITING_FOR_START,
	STATE_RUNNING,
	STATE_EXITED,
	STATE_STOPPING,
};

enum shutdown_phase {
	PHASE_NONE,
	PHASE_TERM,       /* stop signal sent, waiting for the workload */
	PHASE_KILL,       /* SIGKILL sent after the stop timeout */
	PHASE_WAITERS,    /* handing the status to the agent's waiters */
	PHASE_AGENT,      /* stopping the agent */
};

enum timing_step {
	TIMING_INIT,
	TIMING_MOUNTS,
	TIMING_NETWORK,
	TIMING_AGENT,
	TIMING_ENTRYPOINT,
	TIMING_COUNT,
};

struct init {
	struct config cfg;
	struct cmdline cmdline;
	struct loop *loop;
	bool initial_pidns; /* a real guest: PID 1 of the initial PID namespace */
	char config_error[CONFIG_ERROR_MAX];
	bool config_invalid;
	enum init_state state;

	int signal_fd;

	/* The entrypoint. */
	bool entry_started;
	bool entry_exited;
	pid_t entry_pid;
	int entry_status;    /* exit code, or 128 + signal */
	int entry_code;      /* exit code, -1 when killed */
	int entry_signal;    /* signal that killed it, 0 when it exited */
	int output_fd;       /* pipe or PTY master, -1 when closed */
	int pty_fd;          /* the PTY master when terminal is true, else -1 */
	struct logring ring;
	bool ring_ready;
	uint64_t start_timer;

	/* The agent. */
	pid_t agent_pid;
	unsigned agent_backoff_ms;
	uint64_t agent_started_ms;
	unsigned agent_restarts;
	uint64_t agent_timer;

	/* Shutdown. */
	enum shutdown_phase phase;
	int exit_action;     /* enum exit_action */
	unsigned stop_timeout_s;
	uint64_t phase_deadline_ms;
	uint64_t poll_timer;

	uint64_t timings_ns[TIMING_COUNT];

	/* Interfaces init brought up, by index; in a child PID namespace only
	 * these are taken down at shutdown. */
	int configured_ifindex[16];
	size_t n_configured;
};

/* pidns.c */
enum ns_kind { NS_UTS, NS_CGROUP, NS_NET };
bool pidns_is_initial(void);
bool ns_is_private(const struct init *init, enum ns_kind kind);

/* mounts.c */
int mounts_early(struct init *init);
void mounts_extra(struct init *init);
void mounts_unmount_all(const struct init *init);
int mount_options_parse(const char *options, unsigned long *flags, char *data, size_t len);
int mkdir_p(const char *path, mode_t mode);

/* console.c */
void console_fill_std_fds(void);
void console_open(struct loop *loop);
void console_write(const void *buf, size_t len);
void console_flush(int timeout_ms);
void console_end_line(void);
void console_prepare_kernel_quiet(void);
void console_quiet_kernel(void);
uint64_t console_dropped_bytes(void);
int console_input_fd(void);
int console_output_fd(void);

/* boot.c: configuration from the file and the kernel command line */
void boot_read_config(struct init *init);
const char *boot_cmdline_source(bool initial_pidns);
int boot_read_cmdline(struct cmdline *cmdline, bool initial_pidns);

/* modules.c */
void modules_load(struct init *init);

/* switchroot.c */
void switchroot_maybe(struct init *init, char **argv);

/* naming.c */
void naming_set_hostname(const struct init *init, const char *hostname);
void naming_write_resolv(const struct strv *dns, const struct strv *search);

/* network.c */
void network_up(struct init *init);
void network_down(const struct init *init);

/* limits.c */
void limits_apply(struct init *init);

/* cgroup.c */
void cgroup_setup(struct init *init);
int cgroup_enter(const char *dir);
void cgroup_kill_workload(void);
void cgroup_thaw_workload(void);

/* agent.c */
void agent_start(struct init *init);
void agent_exited(struct init *init, int status);
void agent_stop(struct init *init, int sig);

/* entrypoint.c */
int entrypoint_start(struct init *init, const struct config *process, char *err, size_t len);
/* Also adds secrets (KEY=VALUE) to the environment; they are never logged. */
int entrypoint_start_with(struct init *init, const struct config *process,
			  const struct strv *secrets, char *err, size_t len);
void entrypoint_exited(struct init *init, int status);
void entrypoint_drain(struct init *init);
/* Prints the resolved process for --check-config; returns 0 or -errno with err set. */
int entrypoint_check_config(const struct config *cfg, const char *root, char *err,
			    size_t err_len);

/* reaper.c */
void reaper_reap(struct init *init);

/* signals.c */
int signals_setup(struct init *init);
void signals_reset_for_child(void);

/* control.c */
int control_listen(struct init *init);
void control_notify_exit(struct init *init);
unsigned control_pending_acks(void);
void control_close(void);

/* status.c */
const char *status_state_name(enum init_state state);
void status_write(const struct init *init);
void timings_mark(struct init *init, enum timing_step step);
void timings_write(const struct init *init);

/* shutdown.c */
void shutdown_begin(struct init *init, const char *reason, int action);
void shutdown_thaw(void);
void shutdown_poweroff(int action, int status) __attribute__((noreturn));

/* panic.c */
void panic(struct init *init, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

#endif
