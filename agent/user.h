/* Resolving a user specification ("name", "uid", "uid:gid", "name:group",
 * "uid:group", "name:gid") against the guest's passwd and group files into the
 * credentials a child process takes on.
 *
 * The files are parsed directly (no NSS: the agent is static and the guest's
 * files are the only source). A numeric uid that has no passwd entry is still
 * valid, with gid = uid unless given, no supplementary groups, HOME "/" and
 * shell /bin/sh, as container runtimes do. */
#ifndef EMBER_AGENT_USER_H
#define EMBER_AGENT_USER_H

#include <stddef.h>
#include <sys/types.h>

#define USER_PASSWD_PATH "/etc/passwd"
#define USER_GROUP_PATH "/etc/group"
/* Largest passwd or group file read, in bytes. */
#define USER_FILE_MAX (4u * 1024u * 1024u)
/* Most supplementary groups kept for one user (the kernel's NGROUPS_MAX is
 * 65536; container images rarely list more than a few). */
#define USER_GROUPS_MAX 256
/* Maximum length of a user specification, in bytes. */
#define USER_SPEC_MAX 256

struct user_info {
	uid_t uid;
	gid_t gid;
	gid_t *groups;         /* supplementary groups, including gid */
	size_t group_count;
	char *name;            /* NULL for a uid without a passwd entry */
	char *home;
	char *shell;
};

/* Resolves spec (NULL or "" means root) using the given files (NULL: the
 * defaults above). Returns 0; -EINVAL for a malformed spec; -ENOENT when a
 * named user or group does not exist (*missing points at "user" or "group");
 * -EFBIG when a file exceeds USER_FILE_MAX; -E2BIG for more than
 * USER_GROUPS_MAX groups; or -errno from reading a file. */
int user_resolve(const char *spec, const char *passwd_path, const char *group_path,
		 struct user_info *info, const char **missing);

void user_info_free(struct user_info *info);

#endif
