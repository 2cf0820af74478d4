/* Reaping: PID 1 adopts every orphan and waits for all of them. */
#include "init.h"

#include <errno.h>
#include <sys/wait.h>

#include "log.h"

void reaper_reap(struct init *init)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		if (pid == init->entry_pid && init->entry_started && !init->entry_exited)
			entrypoint_exited(init, status);
		else if (pid == init->agent_pid)
			agent_exited(init, status);
		else
			log_debug("reaped process %d", (int)pid);
	}
}
