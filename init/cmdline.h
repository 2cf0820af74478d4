/* The kernel command line: the words ember-init reads from it. */
#ifndef EMBER_INIT_CMDLINE_H
#define EMBER_INIT_CMDLINE_H

#include "config.h"

#define CMDLINE_PATH "/proc/cmdline"
#define CMDLINE_FILE_ENV "EMBER_CMDLINE_FILE"
#define CMDLINE_MAX 65536

struct cmdline {
	struct strv overrides; /* "KEY=VALUE" of each ember.KEY=VALUE, in order */
	char *ip;              /* the value of ip= */
	char *root;
	char *rootfstype;
	char *rootflags;
	int root_readonly;     /* 1 for "ro", 0 for "rw", -1 when absent */
	bool has_cmd;          /* "--" was present */
	struct strv cmd;       /* the words after "--" */
};

/* Splits text into words the way the kernel does (double quotes group a word
 * and are removed) and collects ember's parameters. Returns 0 or -ENOMEM. */
int cmdline_parse(struct cmdline *cmdline, const char *text);
void cmdline_free(struct cmdline *cmdline);

#endif
