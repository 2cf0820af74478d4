/* Unit tests of the freeze plan: mountinfo parsing, superblock
 * de-duplication, innermost-first order and the explicit-list rules. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "check.h"
#include "freeze_mounts.h"

/* A table like a test namespace's: two loop images, a bind mount of the first,
 * a tmpfs, a read-only image and a mount point with a space in its name. */
static const char MOUNTINFO[] =
	"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	"30 22 0:40 / /tmp/t rw,nosuid - tmpfs tmpfs rw,size=1024k\n"
	"31 30 7:0 / /tmp/t/a rw,relatime - ext4 /dev/loop0 rw\n"
	"32 30 7:1 / /tmp/t/b rw,relatime - ext4 /dev/loop1 rw\n"
	"33 31 7:1 /sub /tmp/t/a/inner rw,relatime - ext4 /dev/loop1 rw\n"
	"34 30 7:0 / /tmp/t/bind rw,relatime - ext4 /dev/loop0 rw\n"
	"35 30 7:2 / /tmp/t/ro ro,relatime - ext4 /dev/loop2 ro\n"
	"36 30 7:3 / /tmp/t/with\\040space rw shared:7 master:2 - ext4 /dev/loop3 rw,errors=remount-ro\n";

static const struct freeze_target *find(const struct freeze_plan *plan, const char *mountpoint)
{
	for (size_t i = 0; i < plan->count; i++)
		if (strcmp(plan->targets[i].mountpoint, mountpoint) == 0)
			return &plan->targets[i];
	return NULL;
}

static size_t position(const struct freeze_plan *plan, const char *mountpoint)
{
	const struct freeze_target *target = find(plan, mountpoint);

	return target ? (size_t)(target - plan->targets) : (size_t)-1;
}

static void test_bind_mount_frozen_once(void)
{
	const char *paths[] = { "/tmp/t/a", "/tmp/t/b", "/tmp/t/bind" };
	struct freeze_plan plan;
	const char *bad = NULL;

	CHECK_INT(freeze_plan_build(MOUNTINFO, paths, 3, &plan, &bad), 0);
	CHECK_INT(plan.count, 3);
	CHECK_INT(find(&plan, "/tmp/t/bind")->state, FREEZE_TARGET_PENDING);
	CHECK_INT(find(&plan, "/tmp/t/a")->state, FREEZE_TARGET_DUPLICATE);
	CHECK_STR(find(&plan, "/tmp/t/a")->reason, "same filesystem as '/tmp/t/bind'");
	CHECK_INT(find(&plan, "/tmp/t/b")->state, FREEZE_TARGET_PENDING);
	CHECK_INT(find(&plan, "/tmp/t/b")->dev, makedev(7, 1));
	freeze_plan_free(&plan);
}

static void test_innermost_first(void)
{
	const char *paths[] = { "/tmp/t", "/tmp/t/a", "/tmp/t/a/inner" };
	struct freeze_plan plan;
	const char *bad = NULL;

	CHECK_INT(freeze_plan_build(MOUNTINFO, paths, 3, &plan, &bad), 0);
	CHECK_INT(plan.count, 3);
	CHECK_INT(position(&plan, "/tmp/t/a/inner"), 0);
	CHECK_INT(position(&plan, "/tmp/t/a"), 1);
	CHECK_INT(position(&plan, "/tmp/t"), 2);
	freeze_plan_free(&plan);
}

static void test_not_a_mount_point(void)
{
	const char *paths[] = { "/tmp/t/a", "/tmp/t/a/dir" };
	struct freeze_plan plan;
	const char *bad = NULL;

	CHECK_INT(freeze_plan_build(MOUNTINFO, paths, 2, &plan, &bad), -EINVAL);
	CHECK_STR(bad, "/tmp/t/a/dir");
	CHECK_INT(plan.count, 0);
}

static void test_read_only_skipped(void)
{
	const char *paths[] = { "/tmp/t/ro" };
	struct freeze_plan plan;
	const char *bad = NULL;

	CHECK_INT(freeze_plan_build(MOUNTINFO, paths, 1, &plan, &bad), 0);
	CHECK_INT(plan.targets[0].state, FREEZE_TARGET_SKIPPED);
	CHECK_STR(plan.targets[0].reason, "read-only");
	CHECK_STR(freeze_plan_state_name(&plan, 0), "skipped");
	freeze_plan_free(&plan);
}

static void test_escaped_mount_point(void)
{
	const char *paths[] = { "/tmp/t/with space" };
	struct freeze_plan plan;
	const char *bad = NULL;

	CHECK_INT(freeze_plan_build(MOUNTINFO, paths, 1, &plan, &bad), 0);
	CHECK_INT(plan.count, 1);
	CHECK_STR(plan.targets[0].fstype, "ext4");
	CHECK_STR(plan.targets[0].device, "/dev/loop3");
	freeze_plan_free(&plan);
}

static void test_everything_without_list(void)
{
	struct freeze_plan plan;
	const char *bad = NULL;

	CHECK_INT(freeze_plan_build(MOUNTINFO, NULL, 0, &plan, &bad), 0);
	CHECK_INT(plan.count, 8);
	CHECK_STR(plan.targets[0].mountpoint, "/tmp/t/with space");
	CHECK_STR(plan.targets[plan.count - 1].mountpoint, "/");
	freeze_plan_free(&plan);
}

static void test_duplicate_reports_primary_state(void)
{
	const char *paths[] = { "/tmp/t/a", "/tmp/t/bind" };
	struct freeze_plan plan;
	const char *bad = NULL;

	CHECK_INT(freeze_plan_build(MOUNTINFO, paths, 2, &plan, &bad), 0);
	plan.targets[position(&plan, "/tmp/t/bind")].state = FREEZE_TARGET_FROZEN;
	CHECK_STR(freeze_plan_state_name(&plan, position(&plan, "/tmp/t/a")), "frozen");
	plan.targets[position(&plan, "/tmp/t/bind")].state = FREEZE_TARGET_THAWED;
	CHECK_STR(freeze_plan_state_name(&plan, position(&plan, "/tmp/t/a")), "thawed");
	freeze_plan_free(&plan);
}

static void test_too_many_paths(void)
{
	static const char *paths[FREEZE_MOUNTS_MAX + 1];
	struct freeze_plan plan;
	const char *bad = NULL;

	for (size_t i = 0; i <= FREEZE_MOUNTS_MAX; i++)
		paths[i] = "/tmp/t/a";
	CHECK_INT(freeze_plan_build(MOUNTINFO, paths, FREEZE_MOUNTS_MAX + 1, &plan, &bad), -E2BIG);
}

static void test_malformed_lines_ignored(void)
{
	const char table[] = "garbage\n"
			     "40 1 7:9 / /x rw - ext4\n"
			     "41 1 7:8 / /y rw - ext4 /dev/loop8 rw\n";
	const char *paths[] = { "/y" };
	struct freeze_plan plan;
	const char *bad = NULL;

	CHECK_INT(freeze_plan_build(table, paths, 1, &plan, &bad), 0);
	CHECK_INT(plan.count, 1);
	freeze_plan_free(&plan);
}

static void test_unescape(void)
{
	char field[] = "/a\\040b\\011c\\134d";

	freeze_unescape(field);
	CHECK_STR(field, "/a b\tc\\d");
}

int main(void)
{
	RUN(test_bind_mount_frozen_once);
	RUN(test_innermost_first);
	RUN(test_not_a_mount_point);
	RUN(test_read_only_skipped);
	RUN(test_escaped_mount_point);
	RUN(test_everything_without_list);
	RUN(test_duplicate_reports_primary_state);
	RUN(test_too_many_paths);
	RUN(test_malformed_lines_ignored);
	RUN(test_unescape);
	return check_summary("test_freeze_plan");
}
