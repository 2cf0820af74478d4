/* The initramfs case: mount the real root, move the kernel mounts onto it,
 * free the initramfs and continue there, through the new root's own
 * /sbin/ember-init when it has one. */
#include "init.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "loop.h"
#include "log.h"

#define NEW_ROOT "/sysroot"
#define NEW_INIT "/sbin/ember-init"
#define ROOT_POLL_MS 10

static const char *const moved_mounts[] = { "/dev", "/proc", "/sys", "/run" };

static bool root_is_ram(void)
{
	struct statfs sfs;

	return statfs("/", &sfs) == 0 &&
	       (sfs.f_type == RAMFS_MAGIC || sfs.f_type == TMPFS_MAGIC);
}

/* Deletes a directory's contents on one filesystem, not crossing mounts. */
static void delete_tree(int dir_fd, dev_t dev)
{
	DIR *dir = fdopendir(dir_fd);
	struct dirent *entry;

	if (!dir) {
		close(dir_fd);
		return;
	}
	while ((entry = readdir(dir)) != NULL) {
		struct stat st;

		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_dev != dev)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd(dir), entry->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (fd >= 0)
				delete_tree(fd, dev);
			unlinkat(dirfd(dir), entry->d_name, AT_REMOVEDIR);
		} else {
			unlinkat(dirfd(dir), entry->d_name, 0);
		}
	}
	closedir(dir);
}

static int wait_for_device(const char *device, unsigned timeout_ms)
{
	uint64_t deadline = monotonic_ms() + timeout_ms;
	struct stat st;

	while (stat(device, &st) < 0) {
		if (monotonic_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(ROOT_POLL_MS * 1000);
	}
	return 0;
}

static int mount_new_root(struct init *init, const char *device)
{
	const char *fstype = init->cmdline.rootfstype ? init->cmdline.rootfstype :
			     init->cfg.root_fstype ? init->cfg.root_fstype : "ext4";
	const char *options = init->cmdline.rootflags ? init->cmdline.rootflags :
			      init->cfg.root_options;
	unsigned long flags;
	char data[1024];
	int r;

	if ((r = wait_for_device(device, init->cfg.root_timeout_ms)) < 0)
		return r;
	if ((r = mount_options_parse(options, &flags, data, sizeof(data))) < 0)
		return r;
	if (init->cmdline.root_readonly == 1)
		flags |= MS_RDONLY;
	mkdir(NEW_ROOT, 0755);
	if (mount(device, NEW_ROOT, fstype, flags, *data ? data : NULL) < 0)
		return -errno;
	return 0;
}

void switchroot_maybe(struct init *init, char **argv)
{
	const char *device = init->cmdline.root ? init->cmdline.root : init->cfg.root_device;
	char target[PATH_MAX];
	struct stat st;
	int r, old_root;

	if (!device || !root_is_ram())
		return;
	if (!init->initial_pidns) {
		log_info("skipped switching to root %s: not in the initial PID namespace", device);
		return;
	}
	if ((r = mount_new_root(init, device)) < 0)
		panic(init, "failed to mount the root %s on %s: %s", device, NEW_ROOT, strerror(-r));

	for (size_t i = 0; i < sizeof(moved_mounts) / sizeof(moved_mounts[0]); i++) {
		snprintf(target, sizeof(target), NEW_ROOT "%s", moved_mounts[i]);
		mkdir(target, 0755);
		if (mount(moved_mounts[i], target, NULL, MS_MOVE, NULL) < 0)
			log_warn("failed to move %s to %s: %s", moved_mounts[i], target,
				 strerror(errno));
	}

	old_root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (chdir(NEW_ROOT) < 0 || mount(NEW_ROOT, "/", NULL, MS_MOVE, NULL) < 0 ||
	    chroot(".") < 0 || chdir("/") < 0)
		panic(init, "failed to switch to the root %s: %s", device, strerror(errno));
	/* Free the initramfs's memory: its files are unreachable from now on. */
	if (old_root >= 0 && fstat(old_root, &st) == 0)
		delete_tree(old_root, st.st_dev);
	log_info("switched to the root %s", device);

	if (access(NEW_INIT, X_OK) == 0) {
		execv(NEW_INIT, argv);
		log_warn("failed to execute %s on the new root: %s; continuing with this init",
			 NEW_INIT, strerror(errno));
	}
	/* The config of the new root applies from here on. */
	boot_read_config(init);
}
