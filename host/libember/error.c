/* Filling struct ember_error, and names for codes and frame kinds. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "validate.h"

int ember_error_set(struct ember_error *err, enum ember_error_kind kind, int negative_errno,
		    const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return negative_errno;
	err->kind = kind;
	err->code = EMBER_CODE_OK;
	err->errno_value = -negative_errno;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return negative_errno;
}

/* Copies text into a message, replacing control characters so that a hostile
 * agent cannot forge further lines on the user's terminal. */
static void copy_printable(char *dst, size_t size, const char *src)
{
	size_t i = 0;

	for (; src && *src && i + 1 < size; src++, i++) {
		unsigned char c = (unsigned char)*src;

		dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[i] = '\0';
}

int ember_error_remote(struct ember_error *err, const Ember__Error *remote)
{
	if (!err)
		return -EREMOTEIO;
	err->kind = EMBER_ERROR_REMOTE;
	err->code = (enum ember_code)remote->code;
	err->errno_value = remote->errno_value;
	copy_printable(err->message, sizeof(err->message), remote->message);
	if (err->message[0] == '\0')
		snprintf(err->message, sizeof(err->message), "%s",
			 ember_code_name((enum ember_code)remote->code));
	return -EREMOTEIO;
}

const char *ember_code_name(enum ember_code code)
{
	static const char *const names[] = {
		[EMBER_CODE_OK] = "ok",
		[EMBER_CODE_INVALID_ARGUMENT] = "invalid argument",
		[EMBER_CODE_NOT_FOUND] = "not found",
		[EMBER_CODE_PERMISSION_DENIED] = "permission denied",
		[EMBER_CODE_ALREADY_EXISTS] = "already exists",
		[EMBER_CODE_RESOURCE_EXHAUSTED] = "resource exhausted",
		[EMBER_CODE_FAILED_PRECONDITION] = "failed precondition",
		[EMBER_CODE_UNAVAILABLE] = "unavailable",
		[EMBER_CODE_UNSUPPORTED] = "unsupported",
		[EMBER_CODE_INTERNAL] = "internal error",
		[EMBER_CODE_TIMED_OUT] = "timed out",
		[EMBER_CODE_UNAUTHENTICATED] = "unauthenticated",
	};

	if ((unsigned)code < sizeof(names) / sizeof(names[0]) && names[code])
		return names[code];
	return "unknown error code";
}

const char *ember_frame_kind_name(Ember__AgentFrame__KindCase kind)
{
	const ProtobufCFieldDescriptor *field =
		protobuf_c_message_descriptor_get_field(&ember__agent_frame__descriptor,
							(unsigned)kind);

	return field ? field->name : "empty frame";
}
