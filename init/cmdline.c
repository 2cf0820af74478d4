/* Kernel command line parsing: ember.KEY=VALUE, ip=, root=, and the words
 * after "--" that replace the image's Cmd. */
#include "cmdline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Copies the next word of *text into word (the caller's buffer is at least as
 * long as the text) and advances *text. Like the kernel's next_arg(), double
 * quotes protect spaces and stay in the word, except a quote that opens the
 * word or its value after '=', which is removed with the word's closing quote:
 * ember.hostname="a b" gives hostname=a b, ember.process.args=["sh","-c","x y"]
 * keeps its JSON quotes. */
static bool next_word(const char **text, char *word)
{
	const char *s = *text;
	bool quoted = false;
	size_t n = 0;
	char *value;

	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s == '"')
			quoted = !quoted;
		else if (!quoted && (*s == ' ' || *s == '\t' || *s == '\n'))
			break;
		word[n++] = *s;
	}
	word[n] = '\0';
	*text = s;

	if (word[0] == '"') {
		memmove(word, word + 1, n--);
		if (n > 0 && word[n - 1] == '"')
			word[--n] = '\0';
	} else if ((value = strchr(word, '=')) != NULL && value[1] == '"') {
		size_t len = strlen(value + 1);

		memmove(value + 1, value + 2, len);
		if (len > 1 && value[len - 1] == '"')
			value[len - 1] = '\0';
	}
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
