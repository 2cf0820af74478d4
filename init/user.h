/* Resolution of an OCI "User" (name, uid, uid:gid, name:group) from the
 * image's own /etc/passwd and /etc/group, without NSS. */
#ifndef EMBER_INIT_USER_H
#define EMBER_INIT_USER_H

#include <stddef.h>
#include <sys/types.h>

#define USER_MAX_GROUPS 64
#define USER_LINE_MAX 4096
#define USER_HOME_MAX 512

struct user {
	uid_t uid;
	gid_t gid;
	char home[USER_HOME_MAX]; /* from passwd; "/" when the user has no entry */
	size_t n_groups;
	gid_t groups[USER_MAX_GROUPS]; /* supplementary groups, the primary one first */
};

/* Resolves spec (NULL or "" is root) against ROOT/etc/passwd and
 * ROOT/etc/group. Returns 0 or -EINVAL with the reason in err. */
int user_resolve(const char *root, const char *spec, struct user *user, char *err,
		 size_t err_len);

#endif
