/* Unit tests for user and group resolution from an image's files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "user.h"

static char root[] = "/tmp/ember-user-XXXXXX";
static char err[256];

static void write_text(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/etc/%s", root, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void name_gives_uid_gid_home_groups(void)
{
	struct user u;

	CHECK_INT(user_resolve(root, "alice", &u, err, sizeof(err)), 0);
	CHECK_INT(u.uid, 1000);
	CHECK_INT(u.gid, 1000);
	CHECK_STR(u.home, "/home/alice");
	CHECK_INT(u.n_groups, 3);
	CHECK_INT(u.groups[0], 1000);
	CHECK_INT(u.groups[1], 50);
	CHECK_INT(u.groups[2], 2000);
}

static void numeric_uid_without_entry(void)
{
	struct user u;

	CHECK_INT(user_resolve(root, "4242", &u, err, sizeof(err)), 0);
	CHECK_INT(u.uid, 4242);
	CHECK_INT(u.gid, 0);
	CHECK_STR(u.home, "/");
	CHECK_INT(user_resolve(root, "1001", &u, err, sizeof(err)), 0);
	CHECK_INT(u.gid, 1001);
	CHECK_STR(u.home, "/home/bob");
}

static void uid_gid_and_name_group(void)
{
	struct user u;

	CHECK_INT(user_resolve(root, "1000:77", &u, err, sizeof(err)), 0);
	CHECK_INT(u.uid, 1000);
	CHECK_INT(u.gid, 77);
	CHECK_INT(u.groups[0], 77);
	CHECK_INT(user_resolve(root, "bob:devs", &u, err, sizeof(err)), 0);
	CHECK_INT(u.uid, 1001);
	CHECK_INT(u.gid, 2000);
}

static void empty_is_root(void)
{
	struct user u;

	CHECK_INT(user_resolve(root, "", &u, err, sizeof(err)), 0);
	CHECK_INT(u.uid, 0);
	CHECK_STR(u.home, "/root");
	CHECK_INT(user_resolve(root, NULL, &u, err, sizeof(err)), 0);
	CHECK_INT(u.uid, 0);
}

static void unknown_names_are_errors(void)
{
	struct user u;

	CHECK_INT(user_resolve(root, "mallory", &u, err, sizeof(err)), -22);
	CHECK(strstr(err, "unknown user 'mallory'") != NULL);
	CHECK_INT(user_resolve(root, "alice:wheel", &u, err, sizeof(err)), -22);
	CHECK(strstr(err, "unknown group 'wheel'") != NULL);
}

int main(void)
{
	char dir[256];

	if (!mkdtemp(root))
		return 1;
	snprintf(dir, sizeof(dir), "%s/etc", root);
	mkdir(dir, 0755);
	write_text("passwd", "root:x:0:0:root:/root:/bin/sh\n"
		   "# a comment line\n"
		   "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
		   "bob:x:1001:1001::/home/bob:/bin/sh\n"
		   "broken line\n");
	write_text("group", "root:x:0:\nstaff:x:50:alice,bob\nalice:x:1000:\nbob:x:1001:\n"
		   "devs:x:2000:alice\n");
	RUN(name_gives_uid_gid_home_groups);
	RUN(numeric_uid_without_entry);
	RUN(uid_gid_and_name_group);
	RUN(empty_is_root);
	RUN(unknown_names_are_errors);
	snprintf(dir, sizeof(dir), "rm -rf '%s'", root);
	if (system(dir) != 0)
		fprintf(stderr, "failed to remove %s\n", root);
	return check_summary("init/user");
}
