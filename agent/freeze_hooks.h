/* Runs the hook executables of a directory, as qemu-guest-agent's
 * fsfreeze-hook.d does: every executable regular file, sorted by name, with one
 * argument ("freeze", "thaw" or "resume"), each bounded by a timeout.
 *
 * Each hook runs under a waiter process created with an exit signal of 0 and
 * waited for through a pidfd (or by polling where clone rejects CLONE_PIDFD),
 * so the agent's SIGCHLD reaper (waitpid without __WALL) never collects it and
 * this code can run on a worker thread. */
#ifndef EMBER_FREEZE_HOOKS_H
#define EMBER_FREEZE_HOOKS_H

#include <stdbool.h>
#include <stddef.h>

/* Default hooks directory; freeze.d and resume.d live below it. */
#define HOOKS_DIR_DEFAULT "/etc/ember/hooks"
/* Time one hook may run before it and its process group are killed. */
#define HOOK_TIMEOUT_MS 10000
/* Largest number of hooks run from one directory. */
#define HOOKS_MAX 64

struct hooks_report {
	char **lines;    /* "NAME: exit status N" per hook run, in order */
	size_t count;
	char *failure;   /* set when a hook failed: "hook 'PATH' ..." */
};

/* Runs the hooks in dir with arg. A missing directory runs nothing. With
 * stop_on_failure the first failing hook (non-zero status, killed, timed
 * out) ends the run. Returns 0 when every hook succeeded, 1 when one failed
 * (report->failure names the hook and the cause), or -errno when dir cannot be read or
 * a hook cannot be started. */
int hooks_run(const char *dir, const char *arg, unsigned int timeout_ms, bool stop_on_failure,
	      struct hooks_report *report);

void hooks_report_free(struct hooks_report *report);

#endif
