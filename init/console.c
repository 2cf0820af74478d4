/* The console: init's log lines and the entrypoint's output, written without
 * ever blocking PID 1. Bytes that do not fit the buffer are dropped and
 * counted. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "io.h"
#include "log.h"
#include "loop.h"

static int console_fd = -1;
static int console_in = -1;
static struct loop *console_loop;
static bool console_watched;
static char pending[INIT_CONSOLE_BUFFER];
static size_t pending_len;
static uint64_t dropped;
static char last_byte = '\n';

static void console_write_line(const char *line, size_t len);

static void flush_some(void)
{
	while (pending_len > 0) {
		ssize_t n = write(console_fd, pending, pending_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		memmove(pending, pending + n, pending_len - (size_t)n);
		pending_len -= (size_t)n;
	}
	if (console_watched)
		loop_modify(console_loop, console_fd, pending_len ? EPOLLOUT : 0);
}

static void on_writable(struct loop *loop, int fd, uint32_t events, void *data)
{
	if (events & (EPOLLERR | EPOLLHUP)) {
		dropped += pending_len;
		pending_len = 0;
		loop_modify(loop, fd, 0);
		return;
	}
	flush_some();
}

/* Opens whatever is missing of descriptors 0, 1 and 2, so that no later
 * descriptor (the epoll or signal fd) takes their place and receives log lines.
 * The kernel starts init without them when it has no console. */
void console_fill_std_fds(void)
{
	static const char *const candidates[] = { "/dev/console", "/dev/null", "/" };

	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
			int opened = open(candidates[i], i < 2 ? O_RDWR | O_NOCTTY : O_RDONLY);

			if (opened < 0)
				continue;
			if (opened != fd) {
				dup2(opened, fd);
				close(opened);
			}
			break;
		}
	}
}

/* The kernel gives PID 1 the console as descriptors 0, 1 and 2; in a test they
 * are the harness's pipes. Init keeps its own non-blocking copies, and its log
 * lines share the buffer with the entrypoint's output so they stay in order. */
void console_open(struct loop *loop)
{
	console_loop = loop;
	console_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	if (console_fd < 0)
		return;
	fd_set_nonblock(console_fd, true);
	console_in = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
	log_set_output(console_fd);
	log_set_sink(console_write_line);
	/* epoll rejects regular files and /dev/null, whose writes do not block. */
	console_watched = loop_add(loop, console_fd, 0, on_writable, NULL) == 0;
}

int console_input_fd(void)
{
	return console_in;
}

int console_output_fd(void)
{
	return console_fd;
}

void console_write(const void *buf, size_t len)
{
	if (console_fd < 0 || len == 0)
		return;
	last_byte = ((const char *)buf)[len - 1];
	if (pending_len == 0) {
		while (len > 0) {
			ssize_t n = write(console_fd, buf, len);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			buf = (const char *)buf + n;
			len -= (size_t)n;
		}
		if (len == 0)
			return;
	}
	size_t room = sizeof(pending) - pending_len;
	size_t take = len < room ? len : room;

	memcpy(pending + pending_len, buf, take);
	pending_len += take;
	dropped += len - take;
	if (console_watched)
		loop_modify(console_loop, console_fd, EPOLLOUT);
}

/* A log line: it starts on a line of its own even after partial output. */
static void console_write_line(const char *line, size_t len)
{
	console_end_line();
	console_write(line, len);
}

/* Waits up to timeout_ms for the buffered bytes to reach the console. */
void console_flush(int timeout_ms)
{
	uint64_t deadline = monotonic_ms() + (uint64_t)timeout_ms;

	while (pending_len > 0 && console_fd >= 0) {
		struct pollfd pfd = { .fd = console_fd, .events = POLLOUT };
		uint64_t now = monotonic_ms();

		if (now >= deadline)
			break;
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			break;
		if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
			break;
		flush_some();
	}
	if (pending_len > 0) {
		dropped += pending_len;
		pending_len = 0;
	}
}

uint64_t console_dropped_bytes(void)
{
	return dropped + log_dropped_bytes();
}

/* Ends a line the entrypoint left open, so that the next line starts at the
 * beginning of the console. */
void console_end_line(void)
{
	if (last_byte != '\n')
		console_write("\n", 1);
}

/* /proc/sys/kernel/printk, opened early in a real guest so that it still works
 * after /proc is unmounted at shutdown. */
static int printk_fd = -1;

void console_prepare_kernel_quiet(void)
{
	printk_fd = open("/proc/sys/kernel/printk", O_WRONLY | O_CLOEXEC);
}

/* Silences the kernel's console messages, so that its "reboot: Power down"
 * does not follow init's exit status line. Only in a real guest: printk
 * levels are global to the machine. */
void console_quiet_kernel(void)
{
	if (printk_fd >= 0 && write(printk_fd, "0", 1) < 0)
		log_debug("failed to lower the kernel console log level: %s", strerror(errno));
}
