/* Raw mode for the local terminal, restored on every way out. */
#include "terminal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static int saved_fd = -1;
static bool restore_registered;

void terminal_restore(void)
{
	if (saved_fd < 0)
		return;
	/* TCSADRAIN lets queued output reach the screen before echo returns. */
	tcsetattr(saved_fd, TCSADRAIN, &saved);
	saved_fd = -1;
}

int terminal_raw_enter(int fd)
{
	struct termios raw;

	if (tcgetattr(fd, &saved) < 0)
		return -errno;
	raw = saved;
	cfmakeraw(&raw);
	saved_fd = fd;
	if (!restore_registered) {
		atexit(terminal_restore);
		restore_registered = true;
	}
	if (tcsetattr(fd, TCSADRAIN, &raw) < 0) {
		int e = errno;

		saved_fd = -1;
		return -e;
	}
	return 0;
}

int terminal_size(int fd, uint32_t *rows, uint32_t *cols)
{
	struct winsize ws;

	if (ioctl(fd, TIOCGWINSZ, &ws) < 0)
		return -errno;
	if (ws.ws_row == 0 || ws.ws_col == 0)
		return -EINVAL;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return 0;
}
