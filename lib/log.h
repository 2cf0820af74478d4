/* Leveled log lines shared by ember's programs.
 *
 * A line reads "COMPONENT: LEVEL: message", for example
 * "ember-init: warning: failed to mount mqueue on /dev/mqueue: No such device".
 * Lines go to one output descriptor (stderr unless changed) and, when enabled,
 * to /dev/kmsg with the matching syslog priority. A non-blocking output never
 * stalls the caller: a line that does not fit is dropped and counted. */
#ifndef EMBER_LOG_H
#define EMBER_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERROR = 3,
	LOG_LEVEL_WARN = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Sets the component name printed on every line (a static string). */
void log_init(const char *component);

/* Lines above this level are discarded. The default is LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);

/* Returns the level set by log_set_level. */
enum log_level log_get_level(void);

/* Parses "error", "warning", "info" or "debug"; returns 0 or -EINVAL. */
int log_parse_level(const char *name, enum log_level *level);

/* Sends lines to fd instead of stderr. The descriptor stays owned by the caller. */
void log_set_output(int fd);

/* Hands each console line (without the kmsg prefix) to sink instead of the
 * output descriptor, e.g. to a buffer that keeps log lines in order with other
 * console output. NULL goes back to the descriptor. */
void log_set_sink(void (*sink)(const char *line, size_t len));

/* Also writes every line to /dev/kmsg when enable is non-zero. Returns 0 or -errno
 * from opening /dev/kmsg; on failure lines still reach the output descriptor. */
int log_enable_kmsg(int enable);

/* Returns whether lines also go to /dev/kmsg. */
bool log_kmsg_enabled(void);

/* Bytes of log lines dropped because the output descriptor was full. */
uint64_t log_dropped_bytes(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
