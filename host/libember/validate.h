/* libember internals: checks on values the agent sent, each against a named
 * limit from ember.h, before the library copies or uses them. */
#ifndef EMBER_VALIDATE_H
#define EMBER_VALIDATE_H

#include <stddef.h>

#include "agent.pb-c.h"
#include "ember.h"

/* Copies the agent's string src (NULL reads as "") into dst of size bytes.
 * Returns 0, or -EPROTO naming field_name when it does not fit. */
int ember_copy_string(char *dst, size_t size, const char *src, const char *field_name,
		      struct ember_error *err);

/* Returns 0, or -EPROTO when the agent sent more than max of items (a plural
 * noun for the message, e.g. "sessions"). */
int ember_check_count(size_t count, size_t max, const char *items, struct ember_error *err);

/* Converts an Exit frame, checking that code, signal and status are in range. */
int ember_exit_from_frame(const Ember__Exit *frame, struct ember_exit *exit,
			  struct ember_error *err);

#endif
