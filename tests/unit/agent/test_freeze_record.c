/* Unit tests of the run-directory record of frozen mount points. No
 * filesystem is frozen or thawed here: the record lists paths that do not
 * exist, so thawing them stops at open(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "freeze_engine.h"
#include "io.h"

static char dir[] = "/tmp/ember-record-XXXXXX";

static const char MOUNTINFO[] =
	"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
	"31 22 7:0 / /nonexistent/ember/a rw - ext4 /dev/loop0 rw\n"
	"32 22 7:1 / /nonexistent/ember/b rw - ext4 /dev/loop1 rw\n"
	"33 22 7:2 / /nonexistent/ember/ro ro - ext4 /dev/loop2 ro\n";

static const char *record_text(void)
{
	static char text[1024];
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, FREEZE_RECORD_NAME);
	if (read_file(path, text, sizeof(text)) < 0)
		return NULL;
	return text;
}

static void test_write_lists_pending_in_order(void)
{
	const char *paths[] = { "/nonexistent/ember/a", "/nonexistent/ember/b",
				"/nonexistent/ember/ro" };
	struct freeze_plan plan;
	const char *bad = NULL;

	CHECK_INT(freeze_plan_build(MOUNTINFO, paths, 3, &plan, &bad), 0);
	CHECK_INT(freeze_record_write(dir, &plan), 0);
	CHECK_STR(record_text(), "/nonexistent/ember/b\n/nonexistent/ember/a\n");
	freeze_plan_free(&plan);
}

static void test_write_rejects_newline(void)
{
	const char table[] = "40 1 7:3 / /nonexistent/new\\012line rw - ext4 /dev/loop3 rw\n";
	const char *paths[] = { "/nonexistent/new\nline" };
	struct freeze_plan plan;
	const char *bad = NULL;

	CHECK_INT(freeze_plan_build(table, paths, 1, &plan, &bad), 0);
	CHECK_INT(freeze_record_write(dir, &plan), -EINVAL);
	freeze_plan_free(&plan);
}

static void test_thaw_all_removes_record(void)
{
	const char text[] = "/nonexistent/ember/b\n/nonexistent/ember/a\n";
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, FREEZE_RECORD_NAME);
	CHECK_INT(write_file(path, text, strlen(text), 0600), 0);
	/* Both opens fail, which is logged; nothing counts as thawed. */
	CHECK_INT(freeze_record_thaw_all(dir), 0);
	CHECK(access(path, F_OK) < 0);
}

static void test_thaw_all_without_record(void)
{
	CHECK_INT(freeze_record_thaw_all(dir), 0);
	CHECK_INT(freeze_record_remove(dir), 0);
}

static void test_run_dir_too_long(void)
{
	char long_dir[5000];
	struct freeze_plan plan = { 0 };

	memset(long_dir, 'a', sizeof(long_dir) - 1);
	long_dir[0] = '/';
	long_dir[sizeof(long_dir) - 1] = '\0';
	CHECK_INT(freeze_record_write(long_dir, &plan), -ENAMETOOLONG);
	CHECK_INT(freeze_record_thaw_all(long_dir), -ENAMETOOLONG);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_write_lists_pending_in_order);
	RUN(test_write_rejects_newline);
	RUN(test_thaw_all_removes_record);
	RUN(test_thaw_all_without_record);
	RUN(test_run_dir_too_long);
	freeze_record_remove(dir);
	rmdir(dir);
	return check_summary("test_freeze_record");
}
