/* Entry-name and symlink checks of the copy receiver, and resolution beneath
 * a directory without following symlinks. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "copy.h"

static int name_check(const char *name)
{
	return copy_name_check(name, strlen(name));
}

static void test_name_check_accepts_relative(void)
{
	CHECK_INT(name_check(""), 0);
	CHECK_INT(name_check("a"), 0);
	CHECK_INT(name_check("a/b/c.txt"), 0);
	CHECK_INT(name_check("..."), 0);
	CHECK_INT(name_check(".hidden/..x"), 0);
}

static void test_name_check_rejects_escapes(void)
{
	CHECK_INT(name_check("/etc/passwd"), -EINVAL);
	CHECK_INT(name_check(".."), -EINVAL);
	CHECK_INT(name_check("../evil"), -EINVAL);
	CHECK_INT(name_check("a/../../evil"), -EINVAL);
	CHECK_INT(name_check("a/./b"), -EINVAL);
	CHECK_INT(name_check("a//b"), -EINVAL);
	CHECK_INT(name_check("a/"), -EINVAL);
	CHECK_INT(name_check("."), -EINVAL);
	CHECK_INT(copy_name_check("a\0b", 3), -EINVAL);
}

static void test_name_check_rejects_long_name(void)
{
	char *name = malloc(COPY_NAME_MAX + 2);
	CHECK(name != NULL);
	memset(name, 'x', COPY_NAME_MAX + 1);
	name[COPY_NAME_MAX + 1] = '\0';
	CHECK_INT(copy_name_check(name, COPY_NAME_MAX), 0);
	CHECK_INT(copy_name_check(name, COPY_NAME_MAX + 1), -EINVAL);
	free(name);
}

static void test_link_check(void)
{
	CHECK_INT(copy_link_check("link", "target"), 0);
	CHECK_INT(copy_link_check("a/link", "../target"), 0);
	CHECK_INT(copy_link_check("a/b/link", "../../x/../y"), 0);
	CHECK_INT(copy_link_check("link", "missing/dangling"), 0);
	CHECK_INT(copy_link_check("link", "../outside"), -EXDEV);
	CHECK_INT(copy_link_check("a/link", "../../outside"), -EXDEV);
	CHECK_INT(copy_link_check("a/link", "x/../../../outside"), -EXDEV);
	CHECK_INT(copy_link_check("link", "/etc/passwd"), -EXDEV);
	CHECK_INT(copy_link_check("link", ""), -EXDEV);
	CHECK_INT(copy_link_check("", ".."), -EXDEV);
}

typedef int (*open_fn)(int dirfd, const char *path, int flags, mode_t mode);

static bool is_symlink_error(int r)
{
	return r == -ELOOP || r == -ENOTDIR;
}

static void check_open_rejects_symlinks(open_fn open_beneath)
{
	char dir[] = "/tmp/ember-copy-unit-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dir_fd >= 0);
	CHECK_INT(mkdirat(dir_fd, "real", 0755), 0);
	CHECK_INT(symlinkat("real", dir_fd, "link"), 0);
	CHECK_INT(symlinkat("/tmp", dir_fd, "out"), 0);

	int fd = open_beneath(dir_fd, "real", O_RDONLY | O_DIRECTORY, 0);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	fd = open_beneath(dir_fd, "", O_RDONLY | O_DIRECTORY, 0);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(is_symlink_error(open_beneath(dir_fd, "link", O_RDONLY | O_DIRECTORY, 0)));
	CHECK(is_symlink_error(open_beneath(dir_fd, "link", O_RDONLY, 0)));
	CHECK(is_symlink_error(open_beneath(dir_fd, "out/x", O_RDONLY, 0)));
	CHECK_INT(open_beneath(dir_fd, "../x", O_RDONLY, 0), -EXDEV);
	CHECK_INT(open_beneath(dir_fd, "real/../../x", O_RDONLY, 0), -EXDEV);

	unlinkat(dir_fd, "out", 0);
	unlinkat(dir_fd, "link", 0);
	unlinkat(dir_fd, "real", AT_REMOVEDIR);
	close(dir_fd);
	rmdir(dir);
}

static void test_open_beneath_rejects_symlinks(void)
{
	check_open_rejects_symlinks(copy_open_beneath);
}

static void test_open_by_walk_rejects_symlinks(void)
{
	check_open_rejects_symlinks(copy_open_by_walk);
}

static void test_report_prefix(void)
{
	struct copy_report report;
	copy_report_init(&report);
	copy_report_fail(&report, -ENOSPC, "src/big", "failed to write '%s': %s", "src/big",
			 "No space left on device");
	copy_report_prefix(&report, "/work");
	CHECK_STR(report.error_path, "/work/src/big");
	CHECK_STR(report.error_message, "failed to write '/work/src/big': No space left on device");

	copy_report_init(&report);
	copy_report_fail(&report, -ENOENT, "", "failed to stat '%s': %s", "", "No such file");
	copy_report_prefix(&report, "/var/log/app.log");
	CHECK_STR(report.error_path, "/var/log/app.log");
	CHECK_STR(report.error_message, "failed to stat '/var/log/app.log': No such file");
}

static void test_report_keeps_first_failure(void)
{
	struct copy_report report;
	copy_report_init(&report);
	CHECK_INT(copy_report_fail(&report, -EIO, "a", "first"), -EIO);
	CHECK_INT(copy_report_fail(&report, -ENOSPC, "b", "second"), -ENOSPC);
	CHECK_INT(report.error, -EIO);
	CHECK_STR(report.error_message, "first");
}

static void test_report_bounds_warnings(void)
{
	struct copy_report report;
	copy_report_init(&report);
	for (int i = 0; i < COPY_WARNINGS_MAX + 5; i++)
		copy_report_warn(&report, "skipped FIFO 'p%d'", i);
	CHECK_INT(report.warning_count, COPY_WARNINGS_MAX);
	CHECK_INT(report.warnings_dropped, 5);
	CHECK_STR(report.warnings[0], "skipped FIFO 'p0'");
	copy_report_free(&report);
}

int main(void)
{
	RUN(test_name_check_accepts_relative);
	RUN(test_name_check_rejects_escapes);
	RUN(test_name_check_rejects_long_name);
	RUN(test_link_check);
	RUN(test_open_beneath_rejects_symlinks);
	RUN(test_open_by_walk_rejects_symlinks);
	RUN(test_report_prefix);
	RUN(test_report_keeps_first_failure);
	RUN(test_report_bounds_warnings);
	return check_summary("test_copy_path");
}
