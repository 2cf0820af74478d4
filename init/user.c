/* User and group lookup in the image's passwd and group files. */
#include "user.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits a colon-separated line into at most max fields; returns the count. */
static int split_fields(char *line, char **fields, int max)
{
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	while (n < max) {
		fields[n++] = line;
		line = strchr(line, ':');
		if (!line)
			break;
		*line++ = '\0';
	}
	return n;
}

static bool parse_id(const char *text, unsigned long *id)
{
	char *end;

	if (!*text || *text == '-' || *text == '+')
		return false;
	errno = 0;
	*id = strtoul(text, &end, 10);
	return *end == '\0' && errno == 0 && *id < 0xffffffffUL;
}

static FILE *open_db(const char *root, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/etc/%s", strcmp(root, "/") == 0 ? "" : root, name);
	return fopen(path, "re");
}

/* Finds the passwd entry by name (or by uid when name is NULL). */
static bool find_passwd(const char *root, const char *name, uid_t uid, struct user *user,
			char *login, size_t login_len)
{
	FILE *f = open_db(root, "passwd");
	char line[USER_LINE_MAX], *fields[7];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long id, gid;

		if (split_fields(line, fields, 7) < 7 || !parse_id(fields[2], &id) ||
		    !parse_id(fields[3], &gid))
			continue;
		if (name ? strcmp(fields[0], name) != 0 : id != uid)
			continue;
		user->uid = (uid_t)id;
		user->gid = (gid_t)gid;
		snprintf(user->home, sizeof(user->home), "%s", *fields[5] ? fields[5] : "/");
		snprintf(login, login_len, "%s", fields[0]);
		found = true;
	}
	fclose(f);
	return found;
}

static bool find_group(const char *root, const char *name, gid_t *gid)
{
	FILE *f = open_db(root, "group");
	char line[USER_LINE_MAX], *fields[4];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long id;

		if (split_fields(line, fields, 4) < 3 || !parse_id(fields[2], &id))
			continue;
		if (strcmp(fields[0], name) == 0) {
			*gid = (gid_t)id;
			found = true;
		}
	}
	fclose(f);
	return found;
}

static void add_group(struct user *user, gid_t gid)
{
	for (size_t i = 0; i < user->n_groups; i++) {
		if (user->groups[i] == gid)
			return;
	}
	if (user->n_groups < USER_MAX_GROUPS)
		user->groups[user->n_groups++] = gid;
}

/* Adds every group that lists login as a member. */
static void add_member_groups(const char *root, const char *login, struct user *user)
{
	FILE *f = open_db(root, "group");
	char line[USER_LINE_MAX], *fields[4];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long id;
		char *save = NULL;

		if (split_fields(line, fields, 4) < 4 || !parse_id(fields[2], &id))
			continue;
		for (char *m = strtok_r(fields[3], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
			if (strcmp(m, login) == 0)
				add_group(user, (gid_t)id);
		}
	}
	fclose(f);
}

int user_resolve(const char *root, const char *spec, struct user *user, char *err,
		 size_t err_len)
{
	char name[256], login[256] = "";
	const char *group;
	unsigned long id;
	bool known;

	memset(user, 0, sizeof(*user));
	strcpy(user->home, "/");
	if (!spec || !*spec)
		spec = "0";
	if (strlen(spec) >= sizeof(name)) {
		snprintf(err, err_len, "invalid user '%.64s...': too long", spec);
		return -EINVAL;
	}
	group = strchr(spec, ':');
	snprintf(name, sizeof(name), "%.*s", group ? (int)(group - spec) : (int)strlen(spec),
		 spec);
	if (group)
		group++;

	if (parse_id(name, &id)) {
		/* A numeric uid need not exist in passwd; without an entry its group is 0. */
		known = find_passwd(root, NULL, (uid_t)id, user, login, sizeof(login));
		user->uid = (uid_t)id;
		if (!known)
			user->gid = 0;
	} else if (!find_passwd(root, name, 0, user, login, sizeof(login))) {
		snprintf(err, err_len, "unknown user '%s': not found in %s/etc/passwd", name,
			 strcmp(root, "/") == 0 ? "" : root);
		return -EINVAL;
	}

	if (group) {
		gid_t gid;

		if (parse_id(group, &id)) {
			user->gid = (gid_t)id;
		} else if (find_group(root, group, &gid)) {
			user->gid = gid;
		} else {
			snprintf(err, err_len, "unknown group '%s': not found in %s/etc/group", group,
				 strcmp(root, "/") == 0 ? "" : root);
			return -EINVAL;
		}
	}

	add_group(user, user->gid);
	if (*login)
		add_member_groups(root, login, user);
	return 0;
}
