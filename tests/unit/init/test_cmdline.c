/* Unit tests for the kernel command line parser. */
#include "check.h"
#include "cmdline.h"

static void collects_ember_parameters(void)
{
	struct cmdline c;

	CHECK_INT(cmdline_parse(&c, "console=ttyS0 ember.hostname=box quiet root=/dev/vda "
				"rootfstype=ext4 rootflags=noatime ro ip=10.0.0.2::10.0.0.1 "
				"ember.process.user=alice\n"), 0);
	CHECK_INT(c.overrides.n, 2);
	CHECK_STR(c.overrides.v[0], "hostname=box");
	CHECK_STR(c.overrides.v[1], "process.user=alice");
	CHECK_STR(c.root, "/dev/vda");
	CHECK_STR(c.rootfstype, "ext4");
	CHECK_STR(c.rootflags, "noatime");
	CHECK_INT(c.root_readonly, 1);
	CHECK_STR(c.ip, "10.0.0.2::10.0.0.1");
	CHECK(!c.has_cmd);
	cmdline_free(&c);
}

static void words_after_dashes_are_the_cmd(void)
{
	struct cmdline c;

	CHECK_INT(cmdline_parse(&c, "quiet -- /bin/echo \"hello world\" ember.x=1 --"), 0);
	CHECK(c.has_cmd);
	CHECK_INT(c.cmd.n, 4);
	CHECK_STR(c.cmd.v[0], "/bin/echo");
	CHECK_STR(c.cmd.v[1], "hello world");
	/* After "--" nothing is a parameter any more. */
	CHECK_STR(c.cmd.v[2], "ember.x=1");
	CHECK_STR(c.cmd.v[3], "--");
	CHECK_INT(c.overrides.n, 0);
	cmdline_free(&c);
}

static void quotes_group_values(void)
{
	struct cmdline c;

	CHECK_INT(cmdline_parse(&c, "ember.process.args=[\"sh\",\"-c\",\"echo a b\"] rw"), 0);
	CHECK_INT(c.overrides.n, 1);
	CHECK_STR(c.overrides.v[0], "process.args=[\"sh\",\"-c\",\"echo a b\"]");
	CHECK_INT(c.root_readonly, 0);
	cmdline_free(&c);
	CHECK_INT(cmdline_parse(&c, "ember.hostname=\"a b\""), 0);
	CHECK_STR(c.overrides.v[0], "hostname=a b");
	cmdline_free(&c);
	CHECK_INT(cmdline_parse(&c, "\"ember.hostname=c d\" x"), 0);
	CHECK_STR(c.overrides.v[0], "hostname=c d");
	cmdline_free(&c);
}

static void empty_line_has_nothing(void)
{
	struct cmdline c;

	CHECK_INT(cmdline_parse(&c, ""), 0);
	CHECK_INT(c.overrides.n, 0);
	CHECK(!c.has_cmd);
	CHECK(c.ip == NULL);
	CHECK_INT(c.root_readonly, -1);
	cmdline_free(&c);
}

int main(void)
{
	RUN(collects_ember_parameters);
	RUN(words_after_dashes_are_the_cmd);
	RUN(quotes_group_values);
	RUN(empty_line_has_nothing);
	return check_summary("init/cmdline");
}
