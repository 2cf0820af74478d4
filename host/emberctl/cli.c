/* Shared helpers of emberctl's commands. */
#include "cli.h"
#include "signame.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int string_list_add(struct string_list *list, char *item)
{
	char **items;

	if (list->count >= CLI_LIST_MAX)
		return -E2BIG;
	items = realloc(list->items, (list->count + 2) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	items[list->count++] = item;
	items[list->count] = NULL;
	list->items = items;
	return 0;
}

void string_list_free(struct string_list *list)
{
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

int cli_fail(const struct cli *cli, const struct ember_error *err)
{
	/* Only errors that involve the agent name its address. */
	if (err->kind == EMBER_ERROR_USAGE || err->kind == EMBER_ERROR_LOCAL)
		fprintf(stderr, "emberctl: %s: %s\n", cli->command, err->message);
	else
		fprintf(stderr, "emberctl: %s: %s: %s\n",
			cli->address ? cli->address : "(no address)", cli->command, err->message);
	switch (err->kind) {
	case EMBER_ERROR_USAGE:
		return EXIT_USAGE;
	case EMBER_ERROR_CONNECT:
		return EXIT_CONNECT;
	case EMBER_ERROR_LOCAL:
		return EXIT_LOCAL;
	case EMBER_ERROR_PROTOCOL:
		/* A connection that dropped is a connection failure; any other
		 * protocol violation is the agent's fault. */
		return err->errno_value == ECONNRESET ? EXIT_CONNECT : EXIT_REMOTE;
	default:
		return EXIT_REMOTE;
	}
}

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "emberctl: %s: ", cli->command ? cli->command : "usage");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cli->command)
		fprintf(stderr, " (see 'emberctl %s --help')\n", cli->command);
	else
		fputs(" (see 'emberctl --help')\n", stderr);
	return EXIT_USAGE;
}

int parse_u64(const char *text, uint64_t *value)
{
	char *end;
	unsigned long long v;

	if (!text[0] || text[0] == '-' || text[0] == '+' || text[0] == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*value = v;
	return 0;
}

int parse_seconds(const char *text, uint32_t *ms)
{
	char *end;
	double seconds;

	if (!text[0] || text[0] == '-' || text[0] == '+' || text[0] == ' ')
		return -EINVAL;
	errno = 0;
	seconds = strtod(text, &end);
	if (errno || *end || seconds != seconds || seconds * 1000.0 > (double)UINT32_MAX)
		return -EINVAL;
	*ms = (uint32_t)(seconds * 1000.0 + 0.5);
	return 0;
}

int parse_signal(const char *text, int *signal_number)
{
	uint64_t number;
	int named;

	if (parse_u64(text, &number) == 0) {
		if (number < 1 || number > 64)
			return -EINVAL;
		*signal_number = (int)number;
		return 0;
	}
	named = signal_from_name(text);
	if (named < 0)
		return named;
	*signal_number = named;
	return 0;
}

char *env_entry(char *item)
{
	size_t key_len = strcspn(item, "=");

	if (key_len == 0)
		return NULL;
	if (item[key_len] == '=')
		return item;
	for (char **e = environ; *e; e++) {
		if (strncmp(*e, item, key_len) == 0 && (*e)[key_len] == '=')
			return *e;
	}
	return NULL;
}
