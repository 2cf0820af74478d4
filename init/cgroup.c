/* The cgroup v2 layout: "ember/" contains init and the agent, and "workload/"
 * the entrypoint and one child per exec session (created by the agent). */
#include "init.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "io.h"
#include "log.h"

static bool cgroup_ready;

/* Moves the calling process into dir. */
int cgroup_enter(const char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	return write_file(path, "0\n", 2, 0644);
}

static void write_limit(const char *name, const char *value)
{
	char path[256];
	int r;

	snprintf(path, sizeof(path), "%s/%s", CGROUP_WORKLOAD, name);
	r = write_file(path, value, strlen(value), 0644);
	if (r < 0)
		log_warn("failed to set %s to '%s': %s; the workload runs without this limit", path,
			 value, strerror(-r));
	else
		log_info("set %s to %s", path, value);
}

/* Enables every available controller for the children of the root, one by
 * one so that a controller the kernel refuses does not block the others. */
static void enable_controllers(void)
{
	char available[1024], request[64];
	char *save = NULL;
	ssize_t n = read_file(CGROUP_ROOT "/cgroup.controllers", available, sizeof(available));

	if (n <= 0)
		return;
	for (char *c = strtok_r(available, " \n", &save); c; c = strtok_r(NULL, " \n", &save)) {
		int len = snprintf(request, sizeof(request), "+%s", c);
		int r = write_file(CGROUP_ROOT "/cgroup.subtree_control", request, (size_t)len, 0644);

		if (r < 0)
			log_info("cgroup controller %s not enabled: %s; its limits are unavailable", c,
				 strerror(-r));
	}
}

void cgroup_setup(struct init *init)
{
	struct stat st;
	int r;

	/* The kernel's root cgroup has no cgroup.events (it cannot be frozen or
	 * removed), so a namespace whose root lacks it is rooted at the machine's
	 * root cgroup, even when the namespace itself is new.
	 * NOTE: no test runs this refusal: a test of it would risk the machine's
	 * own root cgroup if the check were wrong. */
	if (!init->initial_pidns &&
	    (!ns_is_private(init, NS_CGROUP) || access(CGROUP_ROOT "/cgroup.events", F_OK) < 0)) {
		log_warn("skipped the cgroup layout: %s is the machine's root cgroup; run init in a "
			 "cgroup namespace created inside a cgroup of its own", CGROUP_ROOT);
		return;
	}
	if (stat(CGROUP_ROOT "/cgroup.procs", &st) < 0) {
		log_warn("no cgroup2 hierarchy at %s; running without the ember/ and workload/ "
			 "cgroups", CGROUP_ROOT);
		return;
	}
	if (mkdir(CGROUP_EMBER, 0755) < 0 && errno != EEXIST) {
		log_warn("failed to create %s: %s; running without cgroups", CGROUP_EMBER,
			 strerror(errno));
		return;
	}
	/* The no-internal-processes rule: init leaves the root before the root
	 * enables controllers for its children. */
	if ((r = cgroup_enter(CGROUP_EMBER)) < 0) {
		log_warn("failed to move init into %s: %s; running without cgroups", CGROUP_EMBER,
			 strerror(-r));
		return;
	}
	enable_controllers();
	if (mkdir(CGROUP_WORKLOAD, 0755) < 0 && errno != EEXIST) {
		log_warn("failed to create %s: %s; running without a workload cgroup",
			 CGROUP_WORKLOAD, strerror(errno));
		return;
	}
	cgroup_ready = true;
	if (init->cfg.memory_max)
		write_limit("memory.max", init->cfg.memory_max);
	if (init->cfg.pids_max)
		write_limit("pids.max", init->cfg.pids_max);
}

/* Kills every process of workload/ and its children at once (Linux 5.14+). */
void cgroup_kill_workload(void)
{
	int r;

	if (!cgroup_ready)
		return;
	r = write_file(CGROUP_WORKLOAD "/cgroup.kill", "1", 1, 0644);
	if (r < 0 && r != -ENOENT)
		log_debug("failed to write %s/cgroup.kill: %s", CGROUP_WORKLOAD, strerror(-r));
}

void cgroup_thaw_workload(void)
{
	int r;

	if (!cgroup_ready)
		return;
	r = write_file(CGROUP_WORKLOAD "/cgroup.freeze", "0", 1, 0644);
	if (r < 0 && r != -ENOENT)
		log_warn("failed to thaw %s: %s", CGROUP_WORKLOAD, strerror(-r));
}
