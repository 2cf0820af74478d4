/* Filesystems: the early kernel mounts, the config's extra mounts, and the
 * unmount or read-only remount at shutdown. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define MOUNTS_MAX 1024

struct early_mount {
	const char *source;
	const char *target;
	const char *type;
	unsigned long flags;
	const char *data;
	mode_t mode;
	bool required;
};

static const struct early_mount early_mounts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555, true },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555, true },
	{ "devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", 0755, true },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
	  "newinstance,ptmxmode=0666,mode=0620,gid=5", 0755, false },
	{ "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 01777, false },
	{ "mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0755, false },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", 0755, true },
	{ "cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	  "nsdelegate", 0755, false },
};

static const struct {
	const char *path;
	const char *target;
} dev_links[] = {
	{ "/dev/fd", "/proc/self/fd" },
	{ "/dev/stdin", "/proc/self/fd/0" },
	{ "/dev/stdout", "/proc/self/fd/1" },
	{ "/dev/stderr", "/proc/self/fd/2" },
	{ "/dev/ptmx", "pts/ptmx" },
};

int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* A path is a mount point when it sits on another device than its parent. */
static bool is_mount_point(const char *path)
{
	char parent[PATH_MAX];
	struct stat st, pst;

	if (snprintf(parent, sizeof(parent), "%s/..", path) >= (int)sizeof(parent))
		return false;
	if (stat(path, &st) < 0 || stat(parent, &pst) < 0)
		return false;
	return st.st_dev != pst.st_dev || st.st_ino == pst.st_ino;
}

static int mount_early(const struct early_mount *m)
{
	int r;

	if ((r = mkdir_p(m->target, m->mode)) < 0)
		return r;
	if (is_mount_point(m->target)) {
		log_debug("%s is already mounted; kept as it is", m->target);
		return 0;
	}
	if (mount(m->source, m->target, m->type, m->flags, m->data) < 0)
		return -errno;
	if (m->mode & S_ISVTX)
		chmod(m->target, m->mode);
	return 0;
}

/* /dev/ptmx must lead to this devpts instance: a node of devtmpfs would open
 * the machine's initial instance instead. */
static void make_dev_links(void)
{
	for (size_t i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++) {
		char target[PATH_MAX];
		ssize_t n = readlink(dev_links[i].path, target, sizeof(target) - 1);

		if (n >= 0) {
			target[n] = '\0';
			if (strcmp(target, dev_links[i].target) == 0)
				continue;
		}
		unlink(dev_links[i].path);
		if (symlink(dev_links[i].target, dev_links[i].path) < 0)
			log_warn("failed to link %s to %s: %s; continuing without it",
				 dev_links[i].path, dev_links[i].target, strerror(errno));
	}
}

int mounts_early(struct init *init)
{
	(void)init;
	for (size_t i = 0; i < sizeof(early_mounts) / sizeof(early_mounts[0]); i++) {
		const struct early_mount *m = &early_mounts[i];
		int r = mount_early(m);

		if (r == 0)
			continue;
		if (m->required) {
			log_error("failed to mount %s on %s: %s", m->type, m->target, strerror(-r));
			return r;
		}
		log_warn("failed to mount %s on %s: %s; continuing without it", m->type, m->target,
			 strerror(-r));
	}
	make_dev_links();
	return 0;
}

static const struct {
	const char *name;
	unsigned long set;
	unsigned long clear;
} mount_flags[] = {
	{ "ro", MS_RDONLY, 0 }, { "rw", 0, MS_RDONLY }, { "nosuid", MS_NOSUID, 0 },
	{ "suid", 0, MS_NOSUID }, { "nodev", MS_NODEV, 0 }, { "dev", 0, MS_NODEV },
	{ "noexec", MS_NOEXEC, 0 }, { "exec", 0, MS_NOEXEC }, { "sync", MS_SYNCHRONOUS, 0 },
	{ "async", 0, MS_SYNCHRONOUS }, { "noatime", MS_NOATIME, 0 },
	{ "atime", 0, MS_NOATIME }, { "nodiratime", MS_NODIRATIME, 0 },
	{ "relatime", MS_RELATIME, 0 }, { "norelatime", 0, MS_RELATIME },
	{ "strictatime", MS_STRICTATIME, 0 }, { "lazytime", MS_LAZYTIME, 0 },
	{ "dirsync", MS_DIRSYNC, 0 }, { "bind", MS_BIND, 0 }, { "rbind", MS_BIND | MS_REC, 0 },
	{ "defaults", 0, 0 },
};

/* Splits "ro,noatime,size=64m" into mount flags and the filesystem's data. */
int mount_options_parse(const char *options, unsigned long *flags, char *data, size_t len)
{
	char *copy, *save = NULL;
	size_t used = 0;

	*flags = 0;
	data[0] = '\0';
	if (!options || !*options)
		return 0;
	copy = strdup(options);
	if (!copy)
		return -ENOMEM;
	for (char *opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		size_t i, n = sizeof(mount_flags) / sizeof(mount_flags[0]);

		for (i = 0; i < n; i++) {
			if (strcmp(opt, mount_flags[i].name) == 0) {
				*flags = (*flags | mount_flags[i].set) & ~mount_flags[i].clear;
				break;
			}
		}
		if (i < n)
			continue;
		int w = snprintf(data + used, len - used, "%s%s", used ? "," : "", opt);

		if (w < 0 || (size_t)w >= len - used) {
			free(copy);
			return -E2BIG;
		}
		used += (size_t)w;
	}
	free(copy);
	return 0;
}

static int mount_one(const struct config_mount *m)
{
	unsigned long flags;
	char data[4096];
	bool bind = strcmp(m->type, "bind") == 0;
	int r = mount_options_parse(m->options, &flags, data, sizeof(data));

	if (r < 0)
		return r;
	if (bind) {
		struct stat st;

		flags |= MS_BIND;
		/* A file is bound onto a file, a directory onto a directory. */
		if (stat(m->source, &st) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode)) {
			char parent[PATH_MAX];
			int fd;

			snprintf(parent, sizeof(parent), "%s", m->target);
			*strrchr(parent, '/') = '\0';
			if (*parent && (r = mkdir_p(parent, 0755)) < 0)
				return r;
			fd = open(m->target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
			if (fd < 0)
				return -errno;
			close(fd);
		} else if ((r = mkdir_p(m->target, 0755)) < 0) {
			return r;
		}
	} else if ((r = mkdir_p(m->target, 0755)) < 0) {
		return r;
	}

	if (mount(m->source ? m->source : m->type, m->target, bind ? NULL : m->type,
		  flags & ~(bind ? (unsigned long)MS_RDONLY : 0UL), *data ? data : NULL) < 0)
		return -errno;
	/* A bind mount takes its flags only through a remount. */
	if (bind && (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME)) &&
	    mount(NULL, m->target, NULL, MS_REMOUNT | MS_BIND | flags, NULL) < 0)
		return -errno;
	return 0;
}

void mounts_extra(struct init *init)
{
	for (size_t i = 0; i < init->cfg.n_mounts; i++) {
		const struct config_mount *m = &init->cfg.mounts[i];
		int r = mount_one(m);

		if (r < 0)
			log_error("failed to mount %s '%s' on %s: %s; continuing without it", m->type,
				  m->source ? m->source : m->type, m->target, strerror(-r));
		else
			log_info("mounted %s '%s' on %s", m->type, m->source ? m->source : m->type,
				 m->target);
	}
}

/* Decodes the octal escapes (\040 for a space) of /proc/self/mounts. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* Whether the root is a tmpfs or a loop device, per /proc/self/mounts. */
static bool root_is_disposable(void)
{
	char line[8192], source[4096], target[4096], type[64];
	bool disposable = false;
	FILE *f = fopen("/proc/self/mounts", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%4095s %4095s %63s", source, target, type) == 3 &&
		    strcmp(target, "/") == 0)
			disposable = strcmp(type, "tmpfs") == 0 ||
				     strncmp(source, "/dev/loop", 9) == 0;
	}
	fclose(f);
	return disposable;
}

/* Unmounts every mount but the root, newest first, then remounts the root
 * read-only. A busy mount of a device (a source starting with '/') is
 * remounted read-only instead, so its data is on disk before power-off. Kernel
 * filesystems such as cgroup2 are never remounted, because their superblock
 * can be shared beyond this namespace. /proc/self/mounts lists only the mounts
 * below this process's root, so in a test's chroot only the test's own
 * filesystems are touched. */
void mounts_unmount_all(const struct init *init)
{
	char *targets[MOUNTS_MAX];
	bool device[MOUNTS_MAX];
	size_t n = 0;
	char line[8192];
	bool remount_root = init->initial_pidns || root_is_disposable();
	FILE *f = fopen("/proc/self/mounts", "re");

	if (!f) {
		log_warn("failed to read /proc/self/mounts: %s; only remounting / read-only",
			 strerror(errno));
	} else {
		while (n < MOUNTS_MAX && fgets(line, sizeof(line), f)) {
			char source[4096], target[4096];

			if (sscanf(line, "%4095s %4095s", source, target) != 2)
				continue;
			unescape(target);
			if (strcmp(target, "/") == 0)
				continue;
			targets[n] = strdup(target);
			device[n] = source[0] == '/';
			if (targets[n])
				n++;
		}
		fclose(f);
	}

	while (n > 0) {
		char *target = targets[--n];

		if (umount2(target, 0) < 0 && errno != EINVAL && errno != ENOENT) {
			int err = errno;

			if (!device[n] || !init->initial_pidns)
				log_debug("failed to unmount %s: %s", target, strerror(err));
			else if (mount(NULL, target, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
				log_warn("failed to unmount %s (%s) or remount it read-only: %s",
					 target, strerror(err), strerror(errno));
		}
		free(target);
	}
	if (!remount_root) {
		log_info("skipped remounting / read-only: in a child PID namespace only a tmpfs or "
			 "loop-device root is remounted, since any other may be the machine's own");
		return;
	}
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		log_warn("failed to remount / read-only: %s", strerror(errno));
}
