/* The one path for fatal errors before the entrypoint starts: log the reason,
 * thaw, optionally give the console a shell, sync and power off with
 * INIT_PANIC_STATUS as the exit status. */
#include "init.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"
#include "log.h"

#define PANIC_SHELL "/bin/sh"

static void run_debug_shell(void)
{
	char *argv[] = { PANIC_SHELL, NULL };
	char *envp[] = { "PATH=" CONFIG_DEFAULT_PATH_ENV, "HOME=/", "TERM=linux", NULL };
	pid_t pid;

	log_warn("ember.debug=shell: starting %s on the console; exit it to power off",
		 PANIC_SHELL);
	console_flush(INIT_FINAL_FLUSH_MS);
	/* The shell expects a blocking terminal; init's console copy shares its flags. */
	fd_set_nonblock(STDOUT_FILENO, false);
	pid = fork();
	if (pid < 0) {
		log_error("failed to fork %s: %s", PANIC_SHELL, strerror(errno));
		return;
	}
	if (pid == 0) {
		setsid();
		signals_reset_for_child();
		close_fds_from(3);
		execve(argv[0], argv, envp);
		dprintf(STDERR_FILENO, "ember-init: error: failed to execute '%s': %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	/* Reap everything until the shell itself exits. */
	for (;;) {
		pid_t done = waitpid(-1, NULL, 0);

		if (done == pid || (done < 0 && errno == ECHILD))
			break;
	}
}

void panic(struct init *init, const char *fmt, ...)
{
	char reason[CONFIG_ERROR_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_error("panic: %s", reason);
	shutdown_thaw();
	if (init->cfg.debug_shell)
		run_debug_shell();
	log_error("powering off after a fatal error");
	shutdown_poweroff(EXIT_ACTION_POWEROFF, INIT_PANIC_STATUS);
}
