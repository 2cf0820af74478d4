/* Reading the boot configuration: the config file, then the kernel command
 * line's overrides, then its "--" words as the new Cmd. */
#include "init.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "log.h"

/* Outside the initial PID namespace (a test, a container) /proc/cmdline is the
 * machine's, not this guest's: only EMBER_CMDLINE_FILE is read there, and no
 * command line at all (NULL) when it is unset. */
const char *boot_cmdline_source(bool initial_pidns)
{
	const char *file = getenv(CMDLINE_FILE_ENV);

	if (!initial_pidns)
		return file && *file ? file : NULL;
	if (file && *file)
		log_warn("ignored %s=%s: it is honoured only outside the initial PID namespace",
			 CMDLINE_FILE_ENV, file);
	return CMDLINE_PATH;
}

int boot_read_cmdline(struct cmdline *cmdline, bool initial_pidns)
{
	const char *path = boot_cmdline_source(initial_pidns);
	static char text[CMDLINE_MAX];
	ssize_t n;

	text[0] = '\0';
	if (path) {
		n = read_file(path, text, sizeof(text));
		if (n < 0) {
			log_warn("failed to read the kernel command line from %s: %s; using an empty "
				 "one", path, strerror((int)-n));
			text[0] = '\0';
		}
	}
	return cmdline_parse(cmdline, text);
}

/* Reads the config into init->cfg. An invalid file is recorded in
 * init->config_error for the panic path; an invalid override is skipped with
 * a warning naming it. */
void boot_read_config(struct init *init)
{
	char err[CONFIG_ERROR_MAX];
	int r;

	config_free(&init->cfg);
	r = config_parse_file(&init->cfg, CONFIG_PATH, err, sizeof(err));
	if (r == -ENOENT) {
		log_info("no %s; using the defaults and the kernel command line", CONFIG_PATH);
	} else if (r < 0) {
		init->config_invalid = true;
		snprintf(init->config_error, sizeof(init->config_error), "%s", err);
	}
	for (size_t i = 0; i < init->cmdline.overrides.n; i++) {
		const char *assignment = init->cmdline.overrides.v[i];
		/* The environment may carry secrets: only its key is logged. */
		bool hide_value = strncmp(assignment, "process.env", 11) == 0 ||
				  strncmp(assignment, "process=", 8) == 0;
		int logged_len = hide_value ? (int)strcspn(assignment, "=") : (int)strlen(assignment);
		const char *suffix = hide_value ? "=..." : "";

		if (config_apply_override(&init->cfg, assignment, err, sizeof(err)) < 0)
			log_warn("ignored ember.%.*s%s from the kernel command line: %s", logged_len,
				 assignment, suffix, err);
		else
			log_info("applied ember.%.*s%s from the kernel command line", logged_len,
				 assignment, suffix);
	}
	if (init->cmdline.has_cmd &&
	    config_replace_cmd(&init->cfg, init->cmdline.cmd.v, init->cmdline.cmd.n) < 0)
		log_error("failed to replace the command: out of memory");
}
