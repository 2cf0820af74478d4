/* User resolution from the guest's /etc/passwd and /etc/group. */
#include "user.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

/* Reads a whole file into a new NUL-terminated buffer. A missing file reads
 * as empty, as in a minimal image without /etc/group. */
static int slurp(const char *path, char **out)
{
	char *buf = malloc(USER_FILE_MAX + 1);
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	n = read_file(path, buf, USER_FILE_MAX + 1);
	if (n == -ENOENT) {
		n = 0;
		buf[0] = '\0';
	}
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	*out = buf;
	return 0;
}

/* Parses a decimal id; ids of (uid_t)-1 are invalid. */
static bool parse_id(const char *text, uint32_t *id)
{
	char *end;
	unsigned long value;

	if (*text < '0' || *text > '9')
		return false;
	errno = 0;
	value = strtoul(text, &end, 10);
	if (errno || *end || value >= UINT32_MAX)
		return false;
	*id = (uint32_t)value;
	return true;
}

/* Splits line into at most max ':'-separated fields in place. Returns the
 * field count. */
static size_t split_fields(char *line, char **fields, size_t max)
{
	size_t count = 0;

	fields[count++] = line;
	for (char *p = line; *p && count < max; p++) {
		if (*p == ':') {
			*p = '\0';
			fields[count++] = p + 1;
		}
	}
	return count;
}

/* Calls match for each line of a colon-separated file until it returns
 * true; the fields point into the buffer. */
static bool find_entry(char *buf, size_t nfields,
		       bool (*match)(char **fields, void *ctx), void *ctx, char **found)
{
	char *line = buf;

	while (line && *line) {
		char *next = strchr(line, '\n');

		if (next)
			*next++ = '\0';
		if (line[0] != '#' && split_fields(line, found, nfields) == nfields &&
		    match(found, ctx))
			return true;
		line = next;
	}
	return false;
}

struct lookup {
	const char *name;  /* match by name when set */
	uint32_t id;       /* else by id */
};

static bool match_entry(char **fields, void *ctx)
{
	const struct lookup *want = ctx;
	uint32_t id;

	if (want->name)
		return strcmp(fields[0], want->name) == 0;
	return parse_id(fields[2], &id) && id == want->id;
}

static bool member_of(const char *members, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = members; *p;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n == len && strncmp(p, name, len) == 0)
			return true;
		if (!comma)
			break;
		p = comma + 1;
	}
	return false;
}

/* Collects gid and every group that lists name as a member. */
static int collect_groups(const char *group_text, const char *name, gid_t gid,
			  struct user_info *info)
{
	char *copy = strdup(group_text);
	char *line = copy;

	if (!copy)
		return -ENOMEM;
	info->groups = calloc(USER_GROUPS_MAX, sizeof(gid_t));
	if (!info->groups) {
		free(copy);
		return -ENOMEM;
	}
	info->groups[info->group_count++] = gid;
	while (name && line && *line) {
		char *next = strchr(line, '\n');
		char *fields[4];
		uint32_t id;
		bool seen = false;

		if (next)
			*next++ = '\0';
		if (split_fields(line, fields, 4) == 4 && parse_id(fields[2], &id) &&
		    member_of(fields[3], name)) {
			for (size_t i = 0; i < info->group_count; i++)
				seen = seen || info->groups[i] == id;
			if (!seen && info->group_count == USER_GROUPS_MAX) {
				free(copy);
				return -E2BIG;
			}
			if (!seen)
				info->groups[info->group_count++] = id;
		}
		line = next;
	}
	free(copy);
	return 0;
}

/* Resolves the group part of a spec to a gid. */
static int resolve_group(const char *group_text, const char *spec, gid_t *gid,
			 const char **missing)
{
	char *copy;
	char *fields[4];
	struct lookup want = { 0 };
	uint32_t id;
	int r = 0;

	if (parse_id(spec, &id)) {
		*gid = id;
		return 0;
	}
	if (!*spec || strchr(spec, ':'))
		return -EINVAL;
	copy = strdup(group_text);
	if (!copy)
		return -ENOMEM;
	want.name = spec;
	if (find_entry(copy, 4, match_entry, &want, fields) && parse_id(fields[2], &id)) {
		*gid = id;
	} else {
		*missing = "group";
		r = -ENOENT;
	}
	free(copy);
	return r;
}

static int fill_from_passwd(char **fields, struct user_info *info, gid_t *gid)
{
	uint32_t uid, pgid;

	if (!parse_id(fields[2], &uid) || !parse_id(fields[3], &pgid))
		return -EINVAL;
	info->uid = uid;
	*gid = pgid;
	info->name = strdup(fields[0]);
	info->home = strdup(fields[5][0] ? fields[5] : "/");
	info->shell = strdup(fields[6][0] ? fields[6] : "/bin/sh");
	if (!info->name || !info->home || !info->shell)
		return -ENOMEM;
	return 0;
}

int user_resolve(const char *spec, const char *passwd_path, const char *group_path,
		 struct user_info *info, const char **missing)
{
	char user_part[USER_SPEC_MAX + 1];
	const char *group_part = NULL;
	char *passwd = NULL, *group = NULL;
	char *fields[7];
	struct lookup want = { 0 };
	gid_t gid = 0;
	uint32_t id;
	bool numeric;
	int r;

	memset(info, 0, sizeof(*info));
	if (!spec || !*spec)
		spec = "0";
	if (strlen(spec) > USER_SPEC_MAX)
		return -EINVAL;
	strcpy(user_part, spec);
	if (strchr(user_part, ':')) {
		*strchr(user_part, ':') = '\0';
		group_part = spec + strlen(user_part) + 1;
	}
	if (!user_part[0])
		return -EINVAL;
	numeric = parse_id(user_part, &id);
	if (!numeric && (user_part[0] >= '0' && user_part[0] <= '9'))
		return -EINVAL;

	r = slurp(passwd_path ? passwd_path : USER_PASSWD_PATH, &passwd);
	if (r < 0)
		goto out;
	r = slurp(group_path ? group_path : USER_GROUP_PATH, &group);
	if (r < 0)
		goto out;

	if (numeric)
		want.id = id;
	else
		want.name = user_part;
	if (find_entry(passwd, 7, match_entry, &want, fields)) {
		r = fill_from_passwd(fields, info, &gid);
		if (r < 0)
			goto out;
	} else if (numeric) {
		/* A uid without an entry, as container runtimes allow. */
		info->uid = id;
		gid = id;
		info->home = strdup("/");
		info->shell = strdup("/bin/sh");
		if (!info->home || !info->shell) {
			r = -ENOMEM;
			goto out;
		}
	} else {
		*missing = "user";
		r = -ENOENT;
		goto out;
	}

	if (group_part) {
		r = resolve_group(group, group_part, &gid, missing);
		if (r < 0)
			goto out;
	}
	info->gid = gid;
	r = collect_groups(group, info->name, gid, info);
out:
	free(passwd);
	free(group);
	if (r < 0)
		user_info_free(info);
	return r;
}

void user_info_free(struct user_info *info)
{
	free(info->groups);
	free(info->name);
	free(info->home);
	free(info->shell);
	memset(info, 0, sizeof(*info));
}
