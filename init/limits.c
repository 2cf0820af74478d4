/* Resource limits and kernel settings from the config. */
#include "init.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "io.h"
#include "log.h"

/* NOFILE is raised to this (or to the hard limit when that is lower) unless
 * the config sets it: the kernel's default soft limit of 1024 is too low for
 * servers. */
#define LIMITS_DEFAULT_NOFILE 1048576

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_max < LIMITS_DEFAULT_NOFILE) {
		struct rlimit wanted = { LIMITS_DEFAULT_NOFILE, LIMITS_DEFAULT_NOFILE };

		if (setrlimit(RLIMIT_NOFILE, &wanted) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max < LIMITS_DEFAULT_NOFILE ? rl.rlim_max : LIMITS_DEFAULT_NOFILE;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("failed to raise RLIMIT_NOFILE to %llu: %s", (unsigned long long)rl.rlim_cur,
			 strerror(errno));
}

static void apply_sysctl(const struct init *init, const struct config_sysctl *s)
{
	char path[512];
	int r;

	/* Settings outside net.* are global to the kernel, not to a namespace. */
	if (!init->initial_pidns && strncmp(s->key, "net.", 4) != 0) {
		log_info("skipped sysctl %s=%s: outside net.* it would change the machine, not "
			 "this namespace", s->key, s->value);
		return;
	}
	if (!ns_is_private(init, NS_NET)) {
		log_info("skipped sysctl %s=%s: this namespace shares the machine's network "
			 "namespace", s->key, s->value);
		return;
	}
	snprintf(path, sizeof(path), "/proc/sys/%s", s->key);
	for (char *p = path + strlen("/proc/sys/"); *p; p++) {
		if (*p == '.')
			*p = '/';
	}
	r = write_file(path, s->value, strlen(s->value), 0644);
	if (r < 0)
		log_warn("failed to set sysctl %s to '%s': %s; continuing without it", s->key,
			 s->value, strerror(-r));
	else
		log_info("set sysctl %s=%s", s->key, s->value);
}

void limits_apply(struct init *init)
{
	bool nofile_set = false;

	for (size_t i = 0; i < init->cfg.n_rlimits; i++) {
		const struct config_rlimit *l = &init->cfg.rlimits[i];
		struct rlimit rl = { l->soft, l->hard };

		nofile_set |= l->resource == RLIMIT_NOFILE;
		if (setrlimit(l->resource, &rl) < 0)
			log_warn("failed to set resource limit %d to [%llu, %llu]: %s; keeping the "
				 "kernel's", l->resource, (unsigned long long)l->soft,
				 (unsigned long long)l->hard, strerror(errno));
	}
	if (!nofile_set)
		raise_nofile();
	for (size_t i = 0; i < init->cfg.n_sysctls; i++)
		apply_sysctl(init, &init->cfg.sysctls[i]);
}
