/* The local terminal of an interactive session: raw mode and window size. */
#ifndef EMBERCTL_TERMINAL_H
#define EMBERCTL_TERMINAL_H

#include <stdint.h>

/* Saves fd's terminal settings and switches it to raw mode, so that every
 * key (Ctrl-C included) goes to the remote PTY. The saved settings are put
 * back by terminal_restore(), which also runs at exit. Returns 0 or -errno. */
int terminal_raw_enter(int fd);

/* Puts back the settings saved by terminal_raw_enter(); safe to call twice. */
void terminal_restore(void);

/* Reads fd's window size. Returns 0, or -errno when fd is not a terminal. */
int terminal_size(int fd, uint32_t *rows, uint32_t *cols);

#endif
