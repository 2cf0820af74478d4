/* Unit tests for user resolution against sample passwd and group files. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "io.h"
#include "user.h"

static char dir[] = "/tmp/ember-user-XXXXXX";
static char passwd[64], group[64];

static const char passwd_text[] =
	"root:x:0:0:root:/root:/bin/bash\n"
	"# a comment line\n"
	"alice:x:1000:1000:Alice:/home/alice:/bin/zsh\n"
	"bob:x:1001:1001::/home/bob:\n"
	"broken line without fields\n"
	"nohome:x:1002:1002:::\n";

static const char group_text[] =
	"root:x:0:\n"
	"alice:x:1000:\n"
	"bob:x:1001:\n"
	"staff:x:50:alice,bob\n"
	"devs:x:2000:alice\n"
	"ops:x:3000:carol,alice\n"
	"alicex:x:4000:alicex\n";

static bool has_group(const struct user_info *info, gid_t gid)
{
	for (size_t i = 0; i < info->group_count; i++)
		if (info->groups[i] == gid)
			return true;
	return false;
}

static void name_resolves_with_groups(void)
{
	struct user_info info;
	const char *missing = NULL;

	CHECK_INT(user_resolve("alice", passwd, group, &info, &missing), 0);
	CHECK_INT(info.uid, 1000);
	CHECK_INT(info.gid, 1000);
	CHECK_STR(info.name, "alice");
	CHECK_STR(info.home, "/home/alice");
	CHECK_STR(info.shell, "/bin/zsh");
	CHECK_INT(info.group_count, 4);
	CHECK(has_group(&info, 1000));
	CHECK(has_group(&info, 50));
	CHECK(has_group(&info, 2000));
	CHECK(has_group(&info, 3000));
	CHECK(!has_group(&info, 4000));
	user_info_free(&info);
}

static void empty_spec_is_root(void)
{
	struct user_info info;
	const char *missing = NULL;

	CHECK_INT(user_resolve("", passwd, group, &info, &missing), 0);
	CHECK_INT(info.uid, 0);
	CHECK_INT(info.gid, 0);
	CHECK_STR(info.home, "/root");
	CHECK_STR(info.shell, "/bin/bash");
	user_info_free(&info);
	CHECK_INT(user_resolve(NULL, passwd, group, &info, &missing), 0);
	CHECK_INT(info.uid, 0);
	user_info_free(&info);
}

static void uid_resolves_through_passwd(void)
{
	struct user_info info;
	const char *missing = NULL;

	CHECK_INT(user_resolve("1001", passwd, group, &info, &missing), 0);
	CHECK_STR(info.name, "bob");
	CHECK_INT(info.gid, 1001);
	CHECK_STR(info.shell, "/bin/sh");
	CHECK(has_group(&info, 50));
	user_info_free(&info);
}

static void unknown_uid_is_allowed(void)
{
	struct user_info info;
	const char *missing = NULL;

	CHECK_INT(user_resolve("4242", passwd, group, &info, &missing), 0);
	CHECK_INT(info.uid, 4242);
	CHECK_INT(info.gid, 4242);
	CHECK(info.name == NULL);
	CHECK_STR(info.home, "/");
	CHECK_INT(info.group_count, 1);
	user_info_free(&info);
}

static void uid_gid_pair_resolves(void)
{
	struct user_info info;
	const char *missing = NULL;

	CHECK_INT(user_resolve("1000:50", passwd, group, &info, &missing), 0);
	CHECK_INT(info.uid, 1000);
	CHECK_INT(info.gid, 50);
	user_info_free(&info);
	CHECK_INT(user_resolve("alice:devs", passwd, group, &info, &missing), 0);
	CHECK_INT(info.gid, 2000);
	user_info_free(&info);
	CHECK_INT(user_resolve("4242:4243", passwd, group, &info, &missing), 0);
	CHECK_INT(info.uid, 4242);
	CHECK_INT(info.gid, 4243);
	user_info_free(&info);
}

static void empty_home_falls_back(void)
{
	struct user_info info;
	const char *missing = NULL;

	CHECK_INT(user_resolve("nohome", passwd, group, &info, &missing), 0);
	CHECK_STR(info.home, "/");
	CHECK_STR(info.shell, "/bin/sh");
	user_info_free(&info);
}

static void missing_user_and_group_reported(void)
{
	struct user_info info;
	const char *missing = NULL;

	CHECK_INT(user_resolve("carol", passwd, group, &info, &missing), -ENOENT);
	CHECK_STR(missing, "user");
	missing = NULL;
	CHECK_INT(user_resolve("alice:wheel", passwd, group, &info, &missing), -ENOENT);
	CHECK_STR(missing, "group");
}

static void malformed_specs_rejected(void)
{
	static const char *const bad[] = { ":", ":0", "alice:", "1x", "0:1:2", "4294967295" };
	char long_spec[USER_SPEC_MAX + 2];
	struct user_info info;
	const char *missing = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(user_resolve(bad[i], passwd, group, &info, &missing), -EINVAL);
	memset(long_spec, 'a', sizeof(long_spec) - 1);
	long_spec[sizeof(long_spec) - 1] = '\0';
	CHECK_INT(user_resolve(long_spec, passwd, group, &info, &missing), -EINVAL);
}

static void missing_group_file_is_empty(void)
{
	struct user_info info;
	const char *missing = NULL;

	CHECK_INT(user_resolve("alice", passwd, "/nonexistent/group", &info, &missing), 0);
	CHECK_INT(info.group_count, 1);
	user_info_free(&info);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(passwd, sizeof(passwd), "%s/passwd", dir);
	snprintf(group, sizeof(group), "%s/group", dir);
	if (write_file(passwd, passwd_text, sizeof(passwd_text) - 1, 0644) < 0 ||
	    write_file(group, group_text, sizeof(group_text) - 1, 0644) < 0)
		return 1;
	RUN(name_resolves_with_groups);
	RUN(empty_spec_is_root);
	RUN(uid_resolves_through_passwd);
	RUN(unknown_uid_is_allowed);
	RUN(uid_gid_pair_resolves);
	RUN(empty_home_falls_back);
	RUN(missing_user_and_group_reported);
	RUN(malformed_specs_rejected);
	RUN(missing_group_file_is_empty);
	unlink(passwd);
	unlink(group);
	rmdir(dir);
	return check_summary("agent/user");
}
