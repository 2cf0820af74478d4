/* Unit tests of freeze_plan_close_unfrozen: which descriptors a plan keeps
 * after a freeze or thaw. Nothing is frozen here. The targets get
 * descriptors of "/" opened by the test, and their states are set by hand. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

#include "check.h"
#include "freeze_engine.h"

static const char MOUNTINFO[] =
	"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
	"31 22 7:0 / /nonexistent/ember/a rw - ext4 /dev/loop0 rw\n"
	"32 22 7:1 / /nonexistent/ember/b rw - ext4 /dev/loop1 rw\n"
	"33 22 7:2 / /nonexistent/ember/c rw - ext4 /dev/loop2 rw\n"
	"34 22 7:3 / /nonexistent/ember/d rw - ext4 /dev/loop3 rw\n";

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

static void test_keeps_only_frozen_descriptors(void)
{
	const char *paths[] = { "/nonexistent/ember/a", "/nonexistent/ember/b",
				"/nonexistent/ember/c", "/nonexistent/ember/d" };
	const enum freeze_target_state states[] = {
		FREEZE_TARGET_FROZEN, FREEZE_TARGET_THAWED, FREEZE_TARGET_SKIPPED,
		FREEZE_TARGET_PENDING,
	};
	struct freeze_plan plan;
	const char *bad = NULL;
	int fds[4];

	CHECK_INT(freeze_plan_build(MOUNTINFO, paths, 4, &plan, &bad), 0);
	CHECK_INT((int)plan.count, 4);
	for (size_t i = 0; i < plan.count; i++) {
		fds[i] = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		CHECK(fds[i] >= 0);
		plan.targets[i].fd = fds[i];
		plan.targets[i].state = states[i];
	}

	freeze_plan_close_unfrozen(&plan);
	CHECK_INT(plan.targets[0].fd, fds[0]);
	CHECK(fd_is_open(fds[0]));
	for (size_t i = 1; i < plan.count; i++) {
		CHECK_INT(plan.targets[i].fd, -1);
		CHECK(!fd_is_open(fds[i]));
	}

	/* A second call, as after a later thaw, closes nothing twice. */
	freeze_plan_close_unfrozen(&plan);
	CHECK(fd_is_open(fds[0]));

	freeze_plan_free(&plan);
	CHECK(!fd_is_open(fds[0]));
}

int main(void)
{
	RUN(test_keeps_only_frozen_descriptors);
	return check_summary("test_freeze_close");
}
