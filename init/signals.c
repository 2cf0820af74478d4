/* Signals: every asynchronous signal is blocked and read from a signalfd in
 * the event loop. Job-control and user signals go to the entrypoint's process
 * group. SIGINT (Ctrl-Alt-Del), SIGTERM and SIGPWR start a graceful shutdown,
 * and SIGCHLD reaps. Synchronous faults (SIGSEGV, SIGBUS, ...) stay unblocked. */
#include "init.h"

#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

static const int synchronous_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS,
	SIGABRT };

static bool is_forwarded(int sig)
{
	switch (sig) {
	case SIGHUP:
	case SIGQUIT:
	case SIGUSR1:
	case SIGUSR2:
	case SIGWINCH:
	case SIGALRM:
	case SIGCONT:
	case SIGTSTP:
	case SIGTTIN:
	case SIGTTOU:
	case SIGURG:
	case SIGVTALRM:
	case SIGPROF:
	case SIGIO:
	case SIGXCPU:
	case SIGXFSZ:
		return true;
	default:
		return sig >= SIGRTMIN && sig <= SIGRTMAX;
	}
}

static void forward(struct init *init, int sig)
{
	if (!init->entry_started || init->entry_exited) {
		log_info("received signal %d (%s) with no entrypoint running; ignored", sig,
			 strsignal(sig));
		return;
	}
	/* A resized console is copied to the PTY first: the kernel then signals the
	 * terminal's foreground process group itself. */
	if (sig == SIGWINCH && init->pty_fd >= 0) {
		struct winsize ws;

		if (ioctl(console_input_fd(), TIOCGWINSZ, &ws) == 0 &&
		    ioctl(init->pty_fd, TIOCSWINSZ, &ws) == 0)
			return;
	}
	if (kill(-init->entry_pid, sig) < 0 && errno != ESRCH)
		log_warn("failed to forward signal %d to process group %d: %s", sig,
			 (int)init->entry_pid, strerror(errno));
}

static void on_signal(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct init *init = data;
	struct signalfd_siginfo si;
	bool reap = false;

	(void)loop;
	for (;;) {
		ssize_t n = read(fd, &si, sizeof(si));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			break;
		int sig = (int)si.ssi_signo;

		if (sig == SIGCHLD) {
			reap = true;
		} else if (sig == SIGTERM || sig == SIGINT || sig == SIGPWR) {
			log_info("received %s from pid %u", strsignal(sig), si.ssi_pid);
			shutdown_begin(init, sig == SIGINT ? "Ctrl-Alt-Del" : strsignal(sig),
				       init->cfg.exit_action);
		} else if (is_forwarded(sig)) {
			forward(init, sig);
		}
	}
	/* Coalesced SIGCHLDs are one wakeup: the reaper waits for every child
	 * whichever signal woke the loop, so a lost SIGCHLD cannot hang init. */
	if (reap || events)
		reaper_reap(init);
}

static void fill_blocked_set(sigset_t *set)
{
	sigfillset(set);
	for (size_t i = 0; i < sizeof(synchronous_signals) / sizeof(int); i++)
		sigdelset(set, synchronous_signals[i]);
}

int signals_setup(struct init *init)
{
	sigset_t set;

	fill_blocked_set(&set);
	if (sigprocmask(SIG_SETMASK, &set, NULL) < 0)
		return -errno;
	init->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (init->signal_fd < 0)
		return -errno;
	return loop_add(init->loop, init->signal_fd, EPOLLIN, on_signal, init);
}

/* The kernel's struct sigaction (x86-64 and aarch64 both have sa_restorer). */
struct kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

/* Runs in a child before execve: every disposition back to the default and
 * nothing blocked, as a process started by a shell expects. The raw system
 * call also resets signals 32-34, which musl's signal() reserves for itself
 * and rejects, but which a parent may have left ignored. */
void signals_reset_for_child(void)
{
	struct kernel_sigaction dfl = { .handler = SIG_DFL };
	sigset_t empty;

	for (int sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask));
	}
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);
}
