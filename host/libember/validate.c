/* Checks on values the agent sent (see validate.h). */
#include "validate.h"

#include <errno.h>
#include <string.h>

#include "conn.h"

/* Linux signal numbers run from 1 to SIGRTMAX, which is 64. */
#define SIGNAL_NUMBER_MAX 64

int ember_copy_string(char *dst, size_t size, const char *src, const char *field_name,
		      struct ember_error *err)
{
	size_t len = src ? strnlen(src, size) : 0;

	if (len >= size)
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO,
				       "agent sent a %s longer than %zu bytes", field_name, size - 1);
	memcpy(dst, src ? src : "", len);
	dst[len] = '\0';
	return 0;
}

int ember_check_count(size_t count, size_t max, const char *items, struct ember_error *err)
{
	if (count > max)
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO,
				       "agent sent %zu %s, more than the limit of %zu", count,
				       items, max);
	return 0;
}

int ember_exit_from_frame(const Ember__Exit *frame, struct ember_exit *exit,
			  struct ember_error *err)
{
	bool signalled = frame->signal != 0;

	if (frame->signal < 0 || frame->signal > SIGNAL_NUMBER_MAX)
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO,
				       "agent sent an exit with invalid signal %d", frame->signal);
	if (!signalled && (frame->code < 0 || frame->code > 255))
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO,
				       "agent sent an invalid exit code %d", frame->code);
	if (frame->status < 0 || frame->status > 128 + SIGNAL_NUMBER_MAX)
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO,
				       "agent sent an invalid exit status %d", frame->status);
	exit->code = signalled ? -1 : frame->code;
	exit->signal = frame->signal;
	exit->core_dumped = frame->core_dumped;
	exit->timed_out = frame->timed_out;
	exit->stdout_bytes = frame->stdout_bytes;
	exit->stderr_bytes = frame->stderr_bytes;
	/* The status is derived here rather than trusted: it must agree with code and signal. */
	exit->status = signalled ? 128 + frame->signal : frame->code;
	return 0;
}
