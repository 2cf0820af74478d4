/* FIFREEZE and FITHAW with rollback, and the run-directory record of what is
 * frozen. */
#include "freeze_engine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "io.h"
#include "log.h"

int freeze_plan_open(struct freeze_plan *plan, size_t *failed)
{
	for (size_t i = 0; i < plan->count; i++) {
		struct freeze_target *target = &plan->targets[i];

		if (target->state != FREEZE_TARGET_PENDING || target->fd >= 0)
			continue;
		target->fd = open(target->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (target->fd < 0) {
			*failed = i;
			return -errno;
		}
	}
	return 0;
}

void freeze_plan_close_unfrozen(struct freeze_plan *plan)
{
	for (size_t i = 0; i < plan->count; i++) {
		struct freeze_target *target = &plan->targets[i];

		if (target->state == FREEZE_TARGET_FROZEN || target->fd < 0)
			continue;
		close(target->fd);
		target->fd = -1;
	}
}

static int thaw_target(struct freeze_target *target)
{
	/* EINVAL means the filesystem is not frozen: someone thawed it already,
	 * which is the state wanted. */
	if (ioctl(target->fd, FITHAW, 0) < 0 && errno != EINVAL)
		return -errno;
	target->state = FREEZE_TARGET_THAWED;
	return 0;
}

static void roll_back(struct freeze_plan *plan, size_t failed)
{
	for (size_t i = failed; i-- > 0;) {
		struct freeze_target *target = &plan->targets[i];
		int ret;

		if (target->state != FREEZE_TARGET_FROZEN)
			continue;
		ret = thaw_target(target);
		if (ret < 0)
			log_error("failed to thaw '%s' after a failed freeze: %s", target->mountpoint,
				  strerror(-ret));
	}
}

/* Freezes one target. Returns 0 when frozen or skipped, else -errno. */
static int freeze_target(struct freeze_target *target)
{
	/* FIFREEZE syncs the filesystem itself; syncfs first keeps the time the
	 * filesystem spends with writers blocked short. */
	if (syncfs(target->fd) < 0)
		return -errno;
	if (ioctl(target->fd, FIFREEZE, 0) == 0) {
		target->state = FREEZE_TARGET_FROZEN;
		return 0;
	}
	switch (errno) {
	case EOPNOTSUPP:
		target->state = FREEZE_TARGET_SKIPPED;
		return freeze_target_set_reason(target, "filesystem does not support freezing");
	case EBUSY:
		/* Frozen by someone else: thawing it is that freezer's job. */
		target->state = FREEZE_TARGET_SKIPPED;
		return freeze_target_set_reason(target, "already frozen by another process");
	default:
		return -errno;
	}
}

int freeze_plan_freeze(struct freeze_plan *plan, size_t *failed)
{
	for (size_t i = 0; i < plan->count; i++) {
		struct freeze_target *target = &plan->targets[i];
		int ret;

		if (target->state != FREEZE_TARGET_PENDING)
			continue;
		ret = freeze_target(target);
		if (ret < 0) {
			*failed = i;
			roll_back(plan, i);
			return ret;
		}
	}
	return 0;
}

int freeze_plan_thaw(struct freeze_plan *plan, size_t *failed)
{
	int first = 0;

	for (size_t i = plan->count; i-- > 0;) {
		struct freeze_target *target = &plan->targets[i];
		int ret;

		if (target->state != FREEZE_TARGET_FROZEN)
			continue;
		ret = thaw_target(target);
		if (ret < 0 && first == 0) {
			first = ret;
			*failed = i;
		}
	}
	return first;
}

static int record_path(const char *run_dir, char *path, size_t size)
{
	int n = snprintf(path, size, "%s/%s", run_dir, FREEZE_RECORD_NAME);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int freeze_record_write(const char *run_dir, const struct freeze_plan *plan)
{
	char path[4096];
	char *text = NULL;
	size_t len = 0;
	FILE *out;
	int ret;

	ret = record_path(run_dir, path, sizeof(path));
	if (ret < 0)
		return ret;
	out = open_memstream(&text, &len);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < plan->count; i++) {
		const struct freeze_target *target = &plan->targets[i];

		if (target->state != FREEZE_TARGET_PENDING)
			continue;
		if (strchr(target->mountpoint, '\n')) {
			fclose(out);
			free(text);
			return -EINVAL;
		}
		fprintf(out, "%s\n", target->mountpoint);
	}
	if (fclose(out) != 0) {
		free(text);
		return -ENOMEM;
	}
	ret = write_file(path, text, len, 0600);
	free(text);
	return ret;
}

int freeze_record_remove(const char *run_dir)
{
	char path[4096];
	int ret = record_path(run_dir, path, sizeof(path));

	if (ret < 0)
		return ret;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Thaws one mount point named by the record. Returns 1 when it was frozen,
 * 0 when it was not, or -errno. */
static int thaw_path(const char *mountpoint)
{
	int fd = open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 1;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, FITHAW, 0) < 0)
		ret = errno == EINVAL ? 0 : -errno;
	close(fd);
	return ret;
}

int freeze_record_thaw_all(const char *run_dir)
{
	char path[4096], *text;
	int thawed = 0;
	ssize_t len;
	int ret;

	ret = record_path(run_dir, path, sizeof(path));
	if (ret < 0)
		return ret;
	text = malloc(FREEZE_RECORD_MAX);
	if (!text)
		return -ENOMEM;
	len = read_file(path, text, FREEZE_RECORD_MAX);
	if (len < 0) {
		free(text);
		return len == -ENOENT ? 0 : (int)len;
	}

	/* Walk the lines backwards: the record is in freeze order. */
	for (ssize_t end = len; end > 0;) {
		ssize_t start = end - 1;

		while (start > 0 && text[start - 1] != '\n')
			start--;
		if (text[end - 1] == '\n')
			text[end - 1] = '\0';
		if (text[start] != '\0') {
			ret = thaw_path(&text[start]);
			if (ret < 0)
				log_error("failed to thaw '%s' listed in %s: %s", &text[start], path,
					  strerror(-ret));
			else
				thawed += ret;
		}
		end = start;
	}
	free(text);
	ret = freeze_record_remove(run_dir);
	return ret < 0 ? ret : thawed;
}
