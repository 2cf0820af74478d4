/* Shutdown: thaw, stop the workload (stop signal, then SIGTERM to everyone,
 * then SIGKILL after the stop timeout), hand the exit status to waiting
 * agents, stop the agent, take the network down, sync, unmount, and power off,
 * reboot or halt. It runs as timer steps of the event loop so that output is
 * still relayed and children still reaped while it waits. */
#include "init.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <unistd.h>

#include "control.h"
#include "io.h"
#include "log.h"
#include "loop.h"

#define FROZEN_MAX 256
/* A kernel thread (PF_KTHREAD in include/linux/sched.h). */
#define PF_KTHREAD 0x00200000u

/* Thaws what the agent froze, in reverse order: a writer blocked on a frozen
 * filesystem cannot be killed, so this comes before any signal. */
void shutdown_thaw(void)
{
	char buf[FROZEN_MAX * 256], *lines[FROZEN_MAX], *save = NULL;
	ssize_t len = read_file(CONTROL_FROZEN_PATH, buf, sizeof(buf));
	size_t n = 0;

	cgroup_thaw_workload();
	if (len <= 0)
		return;
	for (char *l = strtok_r(buf, "\n", &save); l && n < FROZEN_MAX; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	while (n > 0) {
		const char *path = lines[--n];
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0) {
			log_warn("failed to open frozen mount %s: %s; not thawed", path, strerror(errno));
			continue;
		}
		/* EINVAL means it was not frozen (the agent thawed it already). */
		if (ioctl(fd, FITHAW, 0) < 0 && errno != EINVAL)
			log_warn("failed to thaw %s: %s", path, strerror(errno));
		else
			log_info("thawed %s", path);
		close(fd);
	}
	unlink(CONTROL_FROZEN_PATH);
}

/* Sends sig to every process but init, the agent and kernel threads, and
 * returns how many there are. */
static unsigned signal_others(const struct init *init, int sig, pid_t skip_group)
{
	DIR *dir = opendir("/proc");
	struct dirent *entry;
	unsigned count = 0;

	if (!dir)
		return 0;
	while ((entry = readdir(dir)) != NULL) {
		char path[64], stat[512];
		pid_t pid = (pid_t)atoi(entry->d_name);
		unsigned long flags = 0;
		char state = 0;
		int pgrp = 0;

		if (pid <= 1 || pid == init->agent_pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		if (read_file(path, stat, sizeof(stat)) <= 0)
			continue;
		char *after = strrchr(stat, ')');

		if (!after || sscanf(after + 2, "%c %*d %d %*d %*d %*d %lu", &state, &pgrp,
				     &flags) != 3)
			continue;
		if ((flags & PF_KTHREAD) || state == 'Z')
			continue;
		count++;
		if (sig && pgrp != skip_group) {
			kill(pid, sig);
			if (sig == SIGTERM)
				kill(pid, SIGCONT);
		}
	}
	closedir(dir);
	return count;
}

static const char *action_name(int action)
{
	return action == EXIT_ACTION_REBOOT ? "reboot" :
	       action == EXIT_ACTION_HALT ? "halt" : "power-off";
}

void shutdown_poweroff(int action, int status)
{
	int cmd = action == EXIT_ACTION_REBOOT ? RB_AUTOBOOT :
		  action == EXIT_ACTION_HALT ? RB_HALT_SYSTEM : RB_POWER_OFF;
	char line[64];
	int n;

	sync();
	console_flush(INIT_FINAL_FLUSH_MS);
	console_quiet_kernel();
	console_end_line();
	n = snprintf(line, sizeof(line), "ember: exit status %d\n", status);
	console_write(line, (size_t)n);
	console_flush(INIT_FINAL_FLUSH_MS);
	/* The caller checked this too; reboot(2) is never reached outside PID 1. */
	if (getpid() == 1)
		reboot(cmd);
	log_error("failed to %s: %s; halting here", action_name(action), strerror(errno));
	for (;;)
		pause();
}

static void finish(struct init *init)
{
	int status = init->entry_exited ? init->entry_status : 0;

	if (init->phase == PHASE_NONE)
		return;
	entrypoint_drain(init);
	if (init->ring_ready)
		logring_mark_closed(&init->ring);
	control_close();
	status_write(init);
	network_down(init);
	if (console_dropped_bytes())
		log_warn("dropped %llu bytes of console output: the console was too slow",
			 (unsigned long long)console_dropped_bytes());
	log_info("%s: syncing and unmounting", action_name(init->exit_action));
	sync();
	mounts_unmount_all(init);
	shutdown_poweroff(init->exit_action, status);
}

static void step(struct loop *loop, void *data);
static bool agent_killed;

static void schedule(struct init *init)
{
	init->poll_timer = loop_timer_add(init->loop, INIT_POLL_MS, step, init);
}

static void enter_agent_phase(struct init *init)
{
	init->phase = PHASE_AGENT;
	init->phase_deadline_ms = monotonic_ms() + INIT_AGENT_STOP_MS;
	agent_stop(init, SIGTERM);
}

/* Advances the shutdown by one phase when its condition holds; returns true
 * when it did, so that the caller checks the next phase at once. */
static bool advance(struct init *init, uint64_t now)
{
	switch (init->phase) {
	case PHASE_TERM:
	case PHASE_KILL:
		if (signal_others(init, 0, 0) == 0) {
			init->phase = PHASE_WAITERS;
			init->phase_deadline_ms = now + CONTROL_WAIT_ACK_MS;
			return true;
		}
		if (now < init->phase_deadline_ms)
			return false;
		if (init->phase == PHASE_TERM) {
			log_warn("processes still running after the stop timeout of %u s; killing them",
				 init->stop_timeout_s);
			init->phase = PHASE_KILL;
			init->phase_deadline_ms = now + INIT_KILL_WAIT_MS;
			cgroup_kill_workload();
			signal_others(init, SIGKILL, 0);
			return false;
		}
		log_warn("processes survived SIGKILL for %d ms; shutting down anyway",
			 INIT_KILL_WAIT_MS);
		init->phase = PHASE_WAITERS;
		init->phase_deadline_ms = now + CONTROL_WAIT_ACK_MS;
		return true;
	case PHASE_WAITERS:
		if (control_pending_acks() > 0 && now < init->phase_deadline_ms && init->agent_pid)
			return false;
		enter_agent_phase(init);
		return true;
	case PHASE_AGENT:
		if (!init->agent_pid || (now >= init->phase_deadline_ms && agent_killed))
			finish(init);
		if (now >= init->phase_deadline_ms) {
			log_warn("the agent (pid %d) did not stop within %d ms; killing it",
				 (int)init->agent_pid, INIT_AGENT_STOP_MS);
			agent_stop(init, SIGKILL);
			agent_killed = true;
			init->phase_deadline_ms = now + INIT_KILL_WAIT_MS;
		}
		return false;
	default:
		return false;
	}
}

/* One check of the shutdown's progress, every INIT_POLL_MS. */
static void step(struct loop *loop, void *data)
{
	struct init *init = data;

	(void)loop;
	init->poll_timer = 0;
	reaper_reap(init);
	while (advance(init, monotonic_ms()))
		reaper_reap(init);
	schedule(init);
}

void shutdown_begin(struct init *init, const char *reason, int action)
{
	if (init->phase != PHASE_NONE)
		return;
	init->state = STATE_STOPPING;
	init->phase = PHASE_TERM;
	init->exit_action = action;
	if (!init->stop_timeout_s)
		init->stop_timeout_s = init->cfg.stop_timeout_s;
	init->phase_deadline_ms = monotonic_ms() + init->stop_timeout_s * 1000ull;
	loop_timer_cancel(init->loop, init->start_timer);
	init->start_timer = 0;
	log_info("shutting down (%s): %s", action_name(action), reason);
	status_write(init);

	shutdown_thaw();
	if (init->entry_started && !init->entry_exited) {
		if (kill(-init->entry_pid, init->cfg.stop_signal) < 0 && errno != ESRCH)
			log_warn("failed to send signal %d to process group %d: %s",
				 init->cfg.stop_signal, (int)init->entry_pid, strerror(errno));
		/* A stopped process acts on the stop signal only once continued. */
		kill(-init->entry_pid, SIGCONT);
	}
	/* Everyone else, including processes that left the group with setsid. */
	signal_others(init, SIGTERM, init->entry_started ? init->entry_pid : 0);
	step(init->loop, init);
}
