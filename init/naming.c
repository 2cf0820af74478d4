/* The guest's names: hostname, its /etc/hosts entry and /etc/resolv.conf. */
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

#include "control.h"
#include "io.h"
#include "log.h"

#define HOSTS_PATH "/etc/hosts"
#define RESOLV_PATH "/etc/resolv.conf"
#define RESOLV_RUN_PATH EMBER_RUN_DIR "/resolv.conf"
#define NAMING_FILE_MAX 65536

/* Adds "127.0.1.1 NAME" unless a line already names the host. */
static void add_hosts_entry(const char *hostname)
{
	char buf[NAMING_FILE_MAX], line[128];
	ssize_t len = read_file(HOSTS_PATH, buf, sizeof(buf));
	int fd, n;

	if (len < 0 && len != -ENOENT) {
		log_warn("failed to read %s: %s; no entry for %s added", HOSTS_PATH,
			 strerror((int)-len), hostname);
		return;
	}
	if (len < 0) {
		len = snprintf(buf, sizeof(buf), "127.0.0.1\tlocalhost\n::1\tlocalhost\n");
		if (write_file(HOSTS_PATH, buf, (size_t)len, 0644) < 0)
			len = -1;
	}
	for (char *l = buf; len > 0 && l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *p = l;

		while (*p && *p != '\n' && *p != '#') {
			size_t word = strcspn(p, " \t\n#");

			if (word == strlen(hostname) && strncmp(p, hostname, word) == 0)
				return;
			p += word;
			p += strspn(p, " \t");
		}
	}
	n = snprintf(line, sizeof(line), "127.0.1.1\t%s\n", hostname);
	fd = open(HOSTS_PATH, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0 || write_full(fd, line, (size_t)n) < 0)
		log_warn("failed to add %s to %s: %s; the name resolves only through DNS", hostname,
			 HOSTS_PATH, strerror(errno));
	if (fd >= 0)
		close(fd);
}

void naming_set_hostname(const struct init *init, const char *hostname)
{
	if (!hostname || !*hostname)
		return;
	if (!ns_is_private(init, NS_UTS)) {
		log_warn("skipped setting the hostname to '%s': this namespace shares the machine's "
			 "UTS namespace", hostname);
		return;
	}
	if (sethostname(hostname, strlen(hostname)) < 0) {
		log_warn("failed to set the hostname to '%s': %s; keeping the kernel's", hostname,
			 strerror(errno));
		return;
	}
	log_info("hostname set to %s", hostname);
	add_hosts_entry(hostname);
}

/* Writes path, creating its directory; path may be the target of a symlink. */
static int write_creating(const char *path, const char *text, size_t len)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	if (strrchr(dir, '/') && strrchr(dir, '/') != dir) {
		*strrchr(dir, '/') = '\0';
		mkdir_p(dir, 0755);
	}
	return write_file(path, text, len, 0644);
}

/* Writes /etc/resolv.conf. When it is a symlink (systemd-resolved images link
 * it to /run/systemd/resolve/stub-resolv.conf, which dangles at boot), the
 * link's target is written, creating its directories. When that fails (a
 * read-only root), the content goes to /run/ember/resolv.conf and that file is
 * bind-mounted over /etc/resolv.conf, or replaces the link when /etc is
 * writable. */
void naming_write_resolv(const struct strv *dns, const struct strv *search)
{
	char text[4096], target[PATH_MAX], resolved[PATH_MAX + 8];
	size_t used = 0;
	struct stat st;
	int r;

	if (dns->n == 0)
		return;
	if (search->n > 0) {
		used += (size_t)snprintf(text + used, sizeof(text) - used, "search");
		for (size_t i = 0; i < search->n && used < sizeof(text); i++)
			used += (size_t)snprintf(text + used, sizeof(text) - used, " %s", search->v[i]);
		/* Past the end, sizeof(text) - used would wrap around to a huge size. */
		if (used < sizeof(text))
			used += (size_t)snprintf(text + used, sizeof(text) - used, "\n");
	}
	for (size_t i = 0; i < dns->n && used < sizeof(text); i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used, "nameserver %s\n",
					 dns->v[i]);
	if (used >= sizeof(text)) {
		log_warn("the DNS settings exceed %zu bytes; %s not written", sizeof(text),
			 RESOLV_PATH);
		return;
	}

	if (lstat(RESOLV_PATH, &st) == 0 && S_ISLNK(st.st_mode)) {
		ssize_t n = readlink(RESOLV_PATH, target, sizeof(target) - 1);

		if (n > 0) {
			target[n] = '\0';
			snprintf(resolved, sizeof(resolved), "%s%s", target[0] == '/' ? "" : "/etc/",
				 target);
			if (write_creating(resolved, text, used) == 0) {
				log_info("wrote %s (the target of %s)", resolved, RESOLV_PATH);
				return;
			}
		}
	} else if ((r = write_file(RESOLV_PATH, text, used, 0644)) == 0) {
		log_info("wrote %s", RESOLV_PATH);
		return;
	}

	if ((r = write_creating(RESOLV_RUN_PATH, text, used)) < 0) {
		log_warn("failed to write %s: %s; DNS is not configured", RESOLV_RUN_PATH,
			 strerror(-r));
		return;
	}
	if (unlink(RESOLV_PATH) == 0 || errno == ENOENT) {
		if (symlink(RESOLV_RUN_PATH, RESOLV_PATH) == 0) {
			log_info("linked %s to %s", RESOLV_PATH, RESOLV_RUN_PATH);
			return;
		}
	}
	if (mount(RESOLV_RUN_PATH, RESOLV_PATH, NULL, MS_BIND, NULL) == 0) {
		log_info("bind-mounted %s over %s (the root is read-only)", RESOLV_RUN_PATH,
			 RESOLV_PATH);
		return;
	}
	log_warn("failed to write %s or mount %s over it: %s; DNS is not configured",
		 RESOLV_PATH, RESOLV_RUN_PATH, strerror(errno));
}
