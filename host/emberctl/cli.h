/* emberctl internals: the state every command gets, exit codes, and helpers
 * for options and error lines. */
#ifndef EMBERCTL_CLI_H
#define EMBERCTL_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ember.h"

/* Exit codes of emberctl itself. exec, shell and attach otherwise exit with the
 * remote process's code, or 128 + N when signal N killed it. */
#define EXIT_USAGE 122          /* invalid command line */
#define EXIT_CONNECT 123        /* the agent could not be reached, or the connection dropped */
#define EXIT_TIMED_OUT 124      /* exec --timeout expired (as timeout(1) does) */
#define EXIT_REMOTE 125         /* the agent rejected the request or broke the protocol */
#define EXIT_LOCAL 1            /* cp: a local file could not be read or written */
#define EXIT_CANNOT_EXECUTE 126 /* exec: the command exists but cannot be executed */
#define EXIT_NOT_FOUND 127      /* exec: the command or the working directory does not exist */

/* How long a command waits for the agent's response to its request (wait,
 * logs -f and exec output have no limit). */
#define RESPONSE_TIMEOUT_MS 30000
/* Default for wait-ready --timeout, in seconds. */
#define WAIT_READY_TIMEOUT_S_DEFAULT 60
/* Largest file read by start --secret-file. */
#define SECRET_FILE_MAX (64u * 1024u)
/* Entries of repeated options such as -e. */
#define CLI_LIST_MAX 4096

struct cli {
	const char *address;
	struct ember_client *client;
	const char *command;            /* for error lines, e.g. "exec" */
};

/* A NULL-terminated list of strings built from repeated options. */
struct string_list {
	char **items;
	size_t count;
};

/* Adds item (not copied: it must outlive the list). Returns 0 or -ENOMEM/-E2BIG. */
int string_list_add(struct string_list *list, char *item);
void string_list_free(struct string_list *list);

/* Prints "emberctl: ADDRESS: COMMAND: MESSAGE" ("emberctl: COMMAND: MESSAGE"
 * for usage and local errors, which do not involve the agent) and returns the
 * exit code for err's kind. */
int cli_fail(const struct cli *cli, const struct ember_error *err);

/* Prints "emberctl: COMMAND: MESSAGE" followed by a pointer to --help, and
 * returns EXIT_USAGE. */
int cli_usage_error(const struct cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parses seconds ("10", "0.5") into milliseconds. Returns 0 or -EINVAL. */
int parse_seconds(const char *text, uint32_t *ms);
/* Parses a decimal uint64. Returns 0 or -EINVAL. */
int parse_u64(const char *text, uint64_t *value);
/* Parses a signal: a number, or a name with or without "SIG" ("TERM", "SIGKILL"). */
int parse_signal(const char *text, int *signal_number);

/* Checks an environment entry for -e: "KEY=VALUE", or "KEY", which takes the
 * value from emberctl's own environment. Returns the entry to send (item
 * itself, or a static string from environ) or NULL when invalid. */
char *env_entry(char *item);

#endif
