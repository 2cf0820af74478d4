/* Unit tests for where init reads its kernel command line from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "init.h"
#include "log.h"

static char path[] = "/tmp/ember-cmdline-XXXXXX";

static void file_used_outside_initial_namespace(void)
{
	struct cmdline c;

	setenv(CMDLINE_FILE_ENV, path, 1);
	CHECK_INT(boot_read_cmdline(&c, false), 0);
	CHECK_INT(c.overrides.n, 1);
	CHECK_STR(c.overrides.v[0], "hostname=from-file");
	CHECK(c.has_cmd);
	cmdline_free(&c);
}

/* In a real guest the variable is ignored for /proc/cmdline. The test only
 * checks the path: it never reads the machine's own command line. */
static void file_ignored_in_initial_namespace(void)
{
	setenv(CMDLINE_FILE_ENV, path, 1);
	CHECK_STR(boot_cmdline_source(true), CMDLINE_PATH);
	CHECK_STR(boot_cmdline_source(false), path);
}

static void nothing_read_without_file(void)
{
	struct cmdline c;

	unsetenv(CMDLINE_FILE_ENV);
	CHECK_INT(boot_read_cmdline(&c, false), 0);
	CHECK_INT(c.overrides.n, 0);
	CHECK(!c.has_cmd);
	CHECK(c.ip == NULL);
	CHECK(boot_cmdline_source(false) == NULL);
	cmdline_free(&c);
}

int main(void)
{
	log_set_output(-1); /* the expected warning is not a failure */
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, "ember.hostname=from-file -- /bin/true\n", 38) != 38)
		return 1;
	close(fd);
	RUN(file_used_outside_initial_namespace);
	RUN(file_ignored_in_initial_namespace);
	RUN(nothing_read_without_file);
	unlink(path);
	return check_summary("init/boot");
}
