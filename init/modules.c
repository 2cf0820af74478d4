/* Kernel modules from the config, loaded in the listed order (the image
 * builder resolves their dependencies) with finit_module(2). Only
 * uncompressed .ko files: in-kernel decompression is often not built. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

void modules_load(struct init *init)
{
	for (size_t i = 0; i < init->cfg.modules.n; i++) {
		const char *path = init->cfg.modules.v[i];
		int fd;

		/* A module is loaded into the kernel shared by every namespace. */
		if (!init->initial_pidns) {
			log_info("skipped loading module %s: not in the initial PID namespace", path);
			continue;
		}
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			log_error("failed to open module %s: %s; the devices it drives will be "
				  "missing", path, strerror(errno));
			continue;
		}
		/* EEXIST: the initramfs' init loaded it before switching root. */
		if (syscall(SYS_finit_module, fd, "", 0) == 0)
			log_info("loaded module %s", path);
		else if (errno == EEXIST)
			log_debug("module %s is already loaded", path);
		else
			log_error("failed to load module %s: %s; the devices it drives will be "
				  "missing", path, strerror(errno));
		close(fd);
	}
}
