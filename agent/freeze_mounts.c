/* Builds the freeze plan from /proc/self/mountinfo: one entry per requested
 * mount, de-duplicated by superblock and ordered innermost first. */
#include "freeze_mounts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* One parsed mountinfo line; the strings point into a private copy. */
struct mount_line {
	char *mountpoint;
	char *fstype;
	char *source;
	dev_t dev;
	bool read_only;
};

void freeze_unescape(char *field)
{
	char *out = field;

	for (char *in = field; *in; out++) {
		if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' &&
		    in[3] >= '0' && in[3] <= '7') {
			*out = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
			in += 4;
		} else {
			*out = *in++;
		}
	}
	*out = '\0';
}

static bool has_option(const char *options, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = options; p && *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == len && strncmp(p, name, len) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* Splits one line (modified in place) into its fields. Returns 0, or -EINVAL
 * for a line that does not have the mountinfo layout. */
static int parse_line(char *line, struct mount_line *out)
{
	char *fields[6], *save = NULL, *word;
	unsigned int major, minor;
	size_t n = 0;

	for (word = strtok_r(line, " ", &save); word && n < 6; word = strtok_r(NULL, " ", &save))
		fields[n++] = word;
	if (n < 6)
		return -EINVAL;

	/* Optional fields run until a lone "-". */
	while (word && strcmp(word, "-") != 0)
		word = strtok_r(NULL, " ", &save);
	if (!word)
		return -EINVAL;
	char *fstype = strtok_r(NULL, " ", &save);
	char *source = strtok_r(NULL, " ", &save);
	char *super_options = strtok_r(NULL, " ", &save);
	if (!fstype || !source || !super_options)
		return -EINVAL;
	if (sscanf(fields[2], "%u:%u", &major, &minor) != 2)
		return -EINVAL;

	freeze_unescape(fields[4]);
	freeze_unescape(source);
	out->mountpoint = fields[4];
	out->fstype = fstype;
	out->source = source;
	out->dev = makedev(major, minor);
	out->read_only = has_option(super_options, "ro");
	return 0;
}

/* Parses the whole table into lines[] (pointing into text, which is modified).
 * Returns the number of lines or -errno. */
static ssize_t parse_table(char *text, struct mount_line **lines)
{
	size_t count = 0, capacity = 0;
	char *save = NULL;

	*lines = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (count == capacity) {
			size_t grown = capacity ? capacity * 2 : 64;
			struct mount_line *bigger = realloc(*lines, grown * sizeof(**lines));

			if (!bigger)
				return -ENOMEM;
			*lines = bigger;
			capacity = grown;
		}
		if (parse_line(line, &(*lines)[count]) == 0)
			count++;
	}
	return (ssize_t)count;
}

/* The index of the visible mount at path (the last one listed), or -1. */
static ssize_t find_mount(const struct mount_line *lines, size_t count, const char *path)
{
	for (size_t i = count; i-- > 0;)
		if (strcmp(lines[i].mountpoint, path) == 0)
			return (ssize_t)i;
	return -1;
}

static int target_init(struct freeze_target *target, const struct mount_line *line)
{
	memset(target, 0, sizeof(*target));
	target->fd = -1;
	target->primary = -1;
	target->dev = line->dev;
	target->mountpoint = strdup(line->mountpoint);
	target->fstype = strdup(line->fstype);
	target->device = strdup(line->source);
	if (!target->mountpoint || !target->fstype || !target->device)
		return -ENOMEM;
	target->state = line->read_only ? FREEZE_TARGET_SKIPPED : FREEZE_TARGET_PENDING;
	if (line->read_only)
		return freeze_target_set_reason(target, "read-only");
	return 0;
}

int freeze_target_set_reason(struct freeze_target *target, const char *reason)
{
	char *copy = strdup(reason);

	if (!copy)
		return -ENOMEM;
	free(target->reason);
	target->reason = copy;
	return 0;
}

/* Marks every target whose superblock an earlier target already covers. */
static int mark_duplicates(struct freeze_plan *plan)
{
	for (size_t i = 0; i < plan->count; i++) {
		struct freeze_target *target = &plan->targets[i];

		for (size_t j = 0; j < i; j++) {
			const struct freeze_target *first = &plan->targets[j];
			char reason[4200];

			if (first->dev != target->dev || first->state == FREEZE_TARGET_DUPLICATE)
				continue;
			snprintf(reason, sizeof(reason), "same filesystem as '%s'", first->mountpoint);
			target->state = FREEZE_TARGET_DUPLICATE;
			target->primary = (ssize_t)j;
			if (freeze_target_set_reason(target, reason) < 0)
				return -ENOMEM;
			break;
		}
	}
	return 0;
}

/* Chooses the mountinfo lines the plan covers: selected[i] is true for each. */
static int select_lines(const struct mount_line *lines, size_t count, const char *const *paths,
			size_t path_count, bool *selected, const char **bad_path)
{
	if (path_count == 0) {
		/* Everything visible: a mount hidden under a later one at the same
		 * path cannot be opened by its path. */
		for (size_t i = 0; i < count; i++)
			selected[i] = find_mount(lines, count, lines[i].mountpoint) == (ssize_t)i;
		return 0;
	}
	for (size_t i = 0; i < path_count; i++) {
		ssize_t index = find_mount(lines, count, paths[i]);

		if (index < 0) {
			*bad_path = paths[i];
			return -EINVAL;
		}
		selected[index] = true;
	}
	return 0;
}

int freeze_plan_build(const char *mountinfo, const char *const *paths, size_t count,
		      struct freeze_plan *plan, const char **bad_path)
{
	struct mount_line *lines = NULL;
	bool *selected = NULL;
	char *text = NULL;
	ssize_t line_count;
	int ret;

	memset(plan, 0, sizeof(*plan));
	if (count > FREEZE_MOUNTS_MAX)
		return -E2BIG;
	text = strdup(mountinfo);
	if (!text)
		return -ENOMEM;
	line_count = parse_table(text, &lines);
	if (line_count < 0) {
		ret = (int)line_count;
		goto out;
	}
	selected = calloc((size_t)line_count + 1, sizeof(*selected));
	plan->targets = calloc((size_t)line_count + 1, sizeof(*plan->targets));
	if (!selected || !plan->targets) {
		ret = -ENOMEM;
		goto out;
	}
	ret = select_lines(lines, (size_t)line_count, paths, count, selected, bad_path);
	if (ret < 0)
		goto out;

	/* Innermost first: mountinfo lists a mount after the one it sits on. */
	for (size_t i = (size_t)line_count; i-- > 0;) {
		if (!selected[i])
			continue;
		ret = target_init(&plan->targets[plan->count++], &lines[i]);
		if (ret < 0)
			goto out;
	}
	ret = mark_duplicates(plan);
out:
	if (ret < 0)
		freeze_plan_free(plan);
	free(selected);
	free(lines);
	free(text);
	return ret;
}

void freeze_plan_free(struct freeze_plan *plan)
{
	for (size_t i = 0; i < plan->count; i++) {
		struct freeze_target *target = &plan->targets[i];

		if (target->fd >= 0)
			close(target->fd);
		free(target->mountpoint);
		free(target->fstype);
		free(target->device);
		free(target->reason);
	}
	free(plan->targets);
	memset(plan, 0, sizeof(*plan));
}

const char *freeze_plan_state_name(const struct freeze_plan *plan, size_t index)
{
	const struct freeze_target *target = &plan->targets[index];

	if (target->state == FREEZE_TARGET_DUPLICATE && target->primary >= 0)
		target = &plan->targets[target->primary];
	switch (target->state) {
	case FREEZE_TARGET_PENDING:
		return "pending";
	case FREEZE_TARGET_FROZEN:
		return "frozen";
	case FREEZE_TARGET_THAWED:
		return "thawed";
	case FREEZE_TARGET_SKIPPED:
		return "skipped";
	case FREEZE_TARGET_DUPLICATE:
		break;
	}
	return "unknown";
}
