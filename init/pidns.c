/* Detection of the namespaces ember-init shares with the machine. In a real
 * guest it is PID 1 of the initial namespaces. In a test or benchmark it runs
 * in child namespaces, so it must leave alone whatever it still shares with the
 * machine (a cgroup, UTS or network namespace that was not unshared). */
#include "init.h"

#include <sys/stat.h>

/* The inode numbers the kernel gives its initial namespaces
 * (include/linux/proc_ns.h). PID, UTS and cgroup are fixed since Linux 4.6;
 * the network one only in recent kernels, so its check can miss on older ones. */
#define PROC_UTS_INIT_INO 0xEFFFFFFEu
#define PROC_PID_INIT_INO 0xEFFFFFFCu
#define PROC_CGROUP_INIT_INO 0xEFFFFFFBu
#define PROC_NET_INIT_INO 0xEFFFFFF9u

static bool ns_has_inode(const char *path, unsigned long ino)
{
	struct stat st;

	return stat(path, &st) == 0 && st.st_ino == ino;
}

/* Reads /proc/self/ns/pid, so proc must be mounted. NSpid in /proc/self/status
 * cannot tell: a proc mounted from inside a child namespace shows one field.
 * When proc is unreadable it returns false, which skips the actions that
 * reach past a namespace rather than risking them. */
bool pidns_is_initial(void)
{
	return ns_has_inode("/proc/self/ns/pid", PROC_PID_INIT_INO);
}

/* True when init may change the namespace of this kind: always in a real
 * guest, and in a child PID namespace only when this namespace was unshared
 * too (or cannot be identified as the machine's). */
bool ns_is_private(const struct init *init, enum ns_kind kind)
{
	if (init->initial_pidns)
		return true;
	switch (kind) {
	case NS_UTS:
		return !ns_has_inode("/proc/self/ns/uts", PROC_UTS_INIT_INO);
	case NS_CGROUP:
		return !ns_has_inode("/proc/self/ns/cgroup", PROC_CGROUP_INIT_INO);
	case NS_NET:
		return !ns_has_inode("/proc/self/ns/net", PROC_NET_INIT_INO);
	}
	return false;
}
