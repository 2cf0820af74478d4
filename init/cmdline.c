/* Kernel command line parsing: ember.KEY=VALUE, ip=, root=, and the words
 * after "--" that replace the image's Cmd. */
#include "cmdline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Copies the next word of *text into word (the caller's buffer is at least as
 * long as the text) and advances *text. Returns false at the end. */
static bool next_word(const char **text, char *word)
{
	const char *s = *text;
	bool quoted = false;
	size_t n = 0;

	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s == '"') {
			quoted = !quoted;
			continue;
		}
		if (!quoted && (*s == ' ' || *s == '\t' || *s == '\n'))
			break;
		word[n++] = *s;
	}
	word[n] = '\0';
	*text = s;
	return true;
}

static int set_value(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
	return *field ? 0 : -ENOMEM;
}

static int take_word(struct cmdline *cmdline, const char *word)
{
	if (strncmp(word, "ember.", 6) == 0)
		return strv_push(&cmdline->overrides, word + 6);
	if (strncmp(word, "ip=", 3) == 0)
		return set_value(&cmdline->ip, word + 3);
	if (strncmp(word, "root=", 5) == 0)
		return set_value(&cmdline->root, word + 5);
	if (strncmp(word, "rootfstype=", 11) == 0)
		return set_value(&cmdline->rootfstype, word + 11);
	if (strncmp(word, "rootflags=", 10) == 0)
		return set_value(&cmdline->rootflags, word + 10);
	if (strcmp(word, "ro") == 0)
		cmdline->root_readonly = 1;
	else if (strcmp(word, "rw") == 0)
		cmdline->root_readonly = 0;
	return 0;
}

int cmdline_parse(struct cmdline *cmdline, const char *text)
{
	char *word = malloc(strlen(text) + 1);
	int r = 0;

	memset(cmdline, 0, sizeof(*cmdline));
	cmdline->root_readonly = -1;
	if (!word)
		return -ENOMEM;
	while (r == 0 && next_word(&text, word)) {
		if (cmdline->has_cmd)
			r = strv_push(&cmdline->cmd, word);
		else if (strcmp(word, "--") == 0)
			cmdline->has_cmd = true;
		else
			r = take_word(cmdline, word);
	}
	free(word);
	return r;
}

void cmdline_free(struct cmdline *cmdline)
{
	strv_free(&cmdline->overrides);
	strv_free(&cmdline->cmd);
	free(cmdline->ip);
	free(cmdline->root);
	free(cmdline->rootfstype);
	free(cmdline->rootflags);
	memset(cmdline, 0, sizeof(*cmdline));
}
