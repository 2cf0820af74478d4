/* Signal names, shared by ember-init's config parser and emberctl. */
#ifndef EMBER_SIGNAME_H
#define EMBER_SIGNAME_H

/* Returns the number of a standard signal named with or without the "SIG"
 * prefix, in any case ("TERM", "sigterm"), or -EINVAL for any other text.
 * Numbers and real-time signals are left to the caller. */
int signal_from_name(const char *name);

#endif
