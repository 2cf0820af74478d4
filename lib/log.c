/* Leveled log lines to one output descriptor and, optionally, /dev/kmsg. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024

static const char *log_component = "ember";
static enum log_level log_threshold = LOG_LEVEL_INFO;
static int log_fd = STDERR_FILENO;
static int log_kmsg_fd = -1;
static uint64_t log_dropped;
static void (*log_sink)(const char *line, size_t len);

void log_init(const char *component)
{
	log_component = component;
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

enum log_level log_get_level(void)
{
	return log_threshold;
}

int log_parse_level(const char *name, enum log_level *level)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "error", LOG_LEVEL_ERROR },
		{ "warning", LOG_LEVEL_WARN },
		{ "info", LOG_LEVEL_INFO },
		{ "debug", LOG_LEVEL_DEBUG },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i].name) == 0) {
			*level = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

void log_set_output(int fd)
{
	log_fd = fd;
}

void log_set_sink(void (*sink)(const char *line, size_t len))
{
	log_sink = sink;
}

int log_enable_kmsg(int enable)
{
	if (!enable) {
		if (log_kmsg_fd >= 0)
			close(log_kmsg_fd);
		log_kmsg_fd = -1;
		return 0;
	}
	if (log_kmsg_fd >= 0)
		return 0;
	log_kmsg_fd = open("/dev/kmsg", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	return log_kmsg_fd < 0 ? -errno : 0;
}

bool log_kmsg_enabled(void)
{
	return log_kmsg_fd >= 0;
}

uint64_t log_dropped_bytes(void)
{
	return log_dropped;
}

static const char *level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERROR:
		return "error";
	case LOG_LEVEL_WARN:
		return "warning";
	case LOG_LEVEL_INFO:
		return "info";
	default:
		return "debug";
	}
}

/* Writes a whole line or counts it as dropped; a partial write counts the rest. */
static void emit(int fd, const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, line, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_dropped += len;
			return;
		}
		line += n;
		len -= (size_t)n;
	}
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	int saved_errno = errno;
	int prefix, body;

	if (level > log_threshold)
		return;

	/* "<N>" for /dev/kmsg, then the console line. */
	prefix = snprintf(line, sizeof(line), "<%d>%s: %s: ", (int)level, log_component,
			  level_name(level));
	if (prefix < 0 || (size_t)prefix >= sizeof(line))
		return;
	body = vsnprintf(line + prefix, sizeof(line) - (size_t)prefix - 1, fmt, ap);
	if (body < 0)
		return;
	if ((size_t)prefix + (size_t)body > sizeof(line) - 2)
		body = (int)(sizeof(line) - 2 - (size_t)prefix);
	line[prefix + body] = '\n';

	size_t total = (size_t)prefix + (size_t)body + 1;
	const char *console = strchr(line, '>') + 1;

	if (log_sink)
		log_sink(console, total - (size_t)(console - line));
	else if (log_fd >= 0)
		emit(log_fd, console, total - (size_t)(console - line));
	if (log_kmsg_fd >= 0) {
		ssize_t ignored = write(log_kmsg_fd, line, total);
		(void)ignored; /* the kernel ring is best effort; the console already has it */
	}
	errno = saved_errno;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
