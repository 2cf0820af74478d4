/* net_config: a new MAC, addresses and routes for one interface, over
 * rtnetlink with libnl-route. */
#include "netconfig.h"

#include <errno.h>
#include <net/if.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

#include "log.h"
#include "op.h"
#include "resume.h"
#include "resume_op.h"

int netconfig_parse_mac(const char *text, uint8_t mac[6])
{
	unsigned int bytes[6];
	char tail;

	if (strlen(text) != 17 ||
	    sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &bytes[0], &bytes[1], &bytes[2], &bytes[3],
		   &bytes[4], &bytes[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)bytes[i];
	return mac[0] & 1 ? -EINVAL : 0;
}

int netconfig_parse_route(const char *text, char *dst, char *gateway, size_t size)
{
	char first[NETCONFIG_STRING_MAX], via[8], second[NETCONFIG_STRING_MAX], extra[2];

	if (strlen(text) >= NETCONFIG_STRING_MAX)
		return -EINVAL;
	if (sscanf(text, "%127s %7s %127s %1s", first, via, second, extra) != 3 ||
	    strcmp(via, "via") != 0)
		return -EINVAL;
	if (strcmp(first, "default") != 0 && !strchr(first, '/'))
		return -EINVAL;
	if (strlen(first) >= size || strlen(second) >= size)
		return -EINVAL;
	strcpy(dst, first);
	strcpy(gateway, second);
	return 0;
}

/* One request's work; the first failure's message is kept for the client. */
struct netconfig_run {
	struct nl_sock *sock;
	struct rtnl_link *link;
	int ifindex;
	char name[IF_NAMESIZE];
	Ember__Code code;
	char message[512];
};

static int run_fail(struct netconfig_run *run, Ember__Code code, int nl_err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int run_fail(struct netconfig_run *run, Ember__Code code, int nl_err, const char *fmt, ...)
{
	va_list ap;
	int used;

	run->code = code;
	va_start(ap, fmt);
	used = vsnprintf(run->message, sizeof(run->message), fmt, ap);
	va_end(ap);
	if (nl_err && used >= 0 && (size_t)used < sizeof(run->message))
		snprintf(run->message + used, sizeof(run->message) - (size_t)used, ": %s",
			 nl_geterror(nl_err));
	return -1;
}

static int find_by_mac(struct netconfig_run *run, const char *mac_text)
{
	struct nl_cache *cache = NULL;
	struct nl_addr *wanted = NULL;
	uint8_t mac[6];
	int ret;

	if (netconfig_parse_mac(mac_text, mac) < 0)
		return run_fail(run, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				"invalid MAC address '%s': give six hex bytes such as "
				"02:00:00:00:00:01", mac_text);
	wanted = nl_addr_build(AF_LLC, mac, sizeof(mac));
	ret = rtnl_link_alloc_cache(run->sock, AF_UNSPEC, &cache);
	if (ret < 0 || !wanted) {
		nl_addr_put(wanted);
		return run_fail(run, EMBER__CODE__CODE_INTERNAL, ret, "failed to list interfaces");
	}
	for (struct nl_object *obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_link *link = (struct rtnl_link *)obj;
		struct nl_addr *addr = rtnl_link_get_addr(link);

		if (addr && nl_addr_get_len(addr) == sizeof(mac) &&
		    memcmp(nl_addr_get_binary_addr(addr), mac, sizeof(mac)) == 0) {
			nl_object_get(obj);
			run->link = link;
			break;
		}
	}
	nl_cache_free(cache);
	nl_addr_put(wanted);
	if (!run->link)
		return run_fail(run, EMBER__CODE__CODE_NOT_FOUND, 0,
				"no interface has MAC address '%s'", mac_text);
	return 0;
}

static int find_link(struct netconfig_run *run, const Ember__NetConfigRequest *request)
{
	int ret;

	if (request->interface[0]) {
		if (strlen(request->interface) >= IF_NAMESIZE)
			return run_fail(run, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
					"invalid interface name '%.32s': at most %d bytes",
					request->interface, IF_NAMESIZE - 1);
		ret = rtnl_link_get_kernel(run->sock, 0, request->interface, &run->link);
		if (ret < 0)
			return run_fail(run, EMBER__CODE__CODE_NOT_FOUND, ret,
					"no interface named '%s'", request->interface);
	} else if (request->current_mac[0]) {
		if (find_by_mac(run, request->current_mac) < 0)
			return -1;
	} else {
		return run_fail(run, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				"name the interface or give its current MAC address");
	}
	run->ifindex = rtnl_link_get_ifindex(run->link);
	snprintf(run->name, sizeof(run->name), "%s", rtnl_link_get_name(run->link));
	return 0;
}

/* Sets the MAC, taking the link down around the change: many drivers reject
 * a new address on a running interface. */
static int set_mac(struct netconfig_run *run, const char *mac_text)
{
	bool was_up = rtnl_link_get_flags(run->link) & IFF_UP;
	struct rtnl_link *change = rtnl_link_alloc();
	struct nl_addr *addr = NULL;
	uint8_t mac[6];
	int ret = 0;

	if (!change)
		return run_fail(run, EMBER__CODE__CODE_RESOURCE_EXHAUSTED, 0, "out of memory");
	if (netconfig_parse_mac(mac_text, mac) < 0) {
		rtnl_link_put(change);
		return run_fail(run, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				"invalid new MAC address '%s': give six hex bytes of a unicast "
				"address such as 02:00:00:00:00:01", mac_text);
	}
	addr = nl_addr_build(AF_LLC, mac, sizeof(mac));
	if (was_up) {
		rtnl_link_unset_flags(change, IFF_UP);
		ret = rtnl_link_change(run->sock, run->link, change, 0);
	}
	if (ret == 0) {
		rtnl_link_set_addr(change, addr);
		ret = rtnl_link_change(run->sock, run->link, change, 0);
	}
	if (was_up) {
		struct rtnl_link *up = rtnl_link_alloc();
		int up_ret;

		rtnl_link_set_flags(up, IFF_UP);
		up_ret = rtnl_link_change(run->sock, run->link, up, 0);
		if (ret == 0)
			ret = up_ret;
		rtnl_link_put(up);
	}
	nl_addr_put(addr);
	rtnl_link_put(change);
	if (ret < 0)
		return run_fail(run, EMBER__CODE__CODE_INTERNAL, ret,
				"failed to set MAC address '%s' on '%s'", mac_text, run->name);
	return 0;
}

/* Deletes every global (scope universe) address of the interface. */
static int delete_addresses(struct netconfig_run *run)
{
	struct nl_cache *cache = NULL;
	int ret = rtnl_addr_alloc_cache(run->sock, &cache);

	if (ret < 0)
		return run_fail(run, EMBER__CODE__CODE_INTERNAL, ret, "failed to list addresses");
	for (struct nl_object *obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_addr *addr = (struct rtnl_addr *)obj;

		if (rtnl_addr_get_ifindex(addr) != run->ifindex ||
		    rtnl_addr_get_scope(addr) != RT_SCOPE_UNIVERSE)
			continue;
		ret = rtnl_addr_delete(run->sock, addr, 0);
		if (ret < 0 && ret != -NLE_NOADDR && ret != -NLE_OBJ_NOTFOUND)
			break;
		ret = 0;
	}
	nl_cache_free(cache);
	if (ret < 0)
		return run_fail(run, EMBER__CODE__CODE_INTERNAL, ret,
				"failed to delete the addresses of '%s'", run->name);
	return 0;
}

static int add_address(struct netconfig_run *run, const char *cidr)
{
	struct rtnl_addr *addr = rtnl_addr_alloc();
	struct nl_addr *local = NULL;
	int ret;

	if (!addr)
		return run_fail(run, EMBER__CODE__CODE_RESOURCE_EXHAUSTED, 0, "out of memory");
	if (!strchr(cidr, '/') || nl_addr_parse(cidr, AF_UNSPEC, &local) < 0 ||
	    (nl_addr_get_family(local) != AF_INET && nl_addr_get_family(local) != AF_INET6)) {
		nl_addr_put(local);
		rtnl_addr_put(addr);
		return run_fail(run, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				"invalid address '%s': give ADDRESS/PREFIX, e.g. 10.0.2.15/24",
				cidr);
	}
	rtnl_addr_set_ifindex(addr, run->ifindex);
	rtnl_addr_set_local(addr, local);
	ret = rtnl_addr_add(run->sock, addr, 0);
	nl_addr_put(local);
	rtnl_addr_put(addr);
	if (ret < 0)
		return run_fail(run, EMBER__CODE__CODE_INTERNAL, ret,
				"failed to add address '%s' to '%s'", cidr, run->name);
	return 0;
}

static bool route_uses_link(struct rtnl_route *route, int ifindex)
{
	for (int i = 0; i < rtnl_route_get_nnexthops(route); i++)
		if (rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(route, i)) == ifindex)
			return true;
	return false;
}

/* Deletes the main table's routes through the interface that the kernel did
 * not create itself (prefix routes go with their addresses). */
static int delete_routes(struct netconfig_run *run)
{
	struct nl_cache *cache = NULL;
	int ret = rtnl_route_alloc_cache(run->sock, AF_UNSPEC, 0, &cache);

	if (ret < 0)
		return run_fail(run, EMBER__CODE__CODE_INTERNAL, ret, "failed to list routes");
	for (struct nl_object *obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_route *route = (struct rtnl_route *)obj;

		if (rtnl_route_get_table(route) != RT_TABLE_MAIN ||
		    rtnl_route_get_protocol(route) == RTPROT_KERNEL ||
		    !route_uses_link(route, run->ifindex))
			continue;
		ret = rtnl_route_delete(run->sock, route, 0);
		if (ret < 0 && ret != -NLE_OBJ_NOTFOUND)
			break;
		ret = 0;
	}
	nl_cache_free(cache);
	if (ret < 0)
		return run_fail(run, EMBER__CODE__CODE_INTERNAL, ret,
				"failed to delete the routes of '%s'", run->name);
	return 0;
}

static int add_route(struct netconfig_run *run, const char *text)
{
	char dst_text[NETCONFIG_STRING_MAX], gateway_text[NETCONFIG_STRING_MAX];
	struct nl_addr *dst = NULL, *gateway = NULL;
	struct rtnl_route *route = NULL;
	struct rtnl_nexthop *nexthop;
	int ret;

	if (netconfig_parse_route(text, dst_text, gateway_text, sizeof(dst_text)) < 0 ||
	    nl_addr_parse(gateway_text, AF_UNSPEC, &gateway) < 0 ||
	    nl_addr_parse(dst_text, nl_addr_get_family(gateway), &dst) < 0) {
		nl_addr_put(gateway);
		return run_fail(run, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				"invalid route '%s': give 'default via GATEWAY' or "
				"'NETWORK/PREFIX via GATEWAY'", text);
	}
	route = rtnl_route_alloc();
	nexthop = rtnl_route_nh_alloc();
	rtnl_route_set_family(route, (uint8_t)nl_addr_get_family(gateway));
	rtnl_route_set_table(route, RT_TABLE_MAIN);
	rtnl_route_set_protocol(route, RTPROT_STATIC);
	rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
	rtnl_route_set_dst(route, dst);
	rtnl_route_nh_set_gateway(nexthop, gateway);
	rtnl_route_nh_set_ifindex(nexthop, run->ifindex);
	rtnl_route_add_nexthop(route, nexthop);
	ret = rtnl_route_add(run->sock, route, NLM_F_CREATE | NLM_F_REPLACE);
	rtnl_route_put(route);
	nl_addr_put(dst);
	nl_addr_put(gateway);
	if (ret < 0)
		return run_fail(run, EMBER__CODE__CODE_INTERNAL, ret,
				"failed to add route '%s' on '%s'", text, run->name);
	return 0;
}

static int check_request(struct netconfig_run *run, const Ember__NetConfigRequest *request)
{
	if (request->n_addresses > NETCONFIG_ENTRIES_MAX || request->n_routes > NETCONFIG_ENTRIES_MAX)
		return run_fail(run, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				"%zu addresses and %zu routes exceed the maximum of %d each",
				request->n_addresses, request->n_routes, NETCONFIG_ENTRIES_MAX);
	for (size_t i = 0; i < request->n_addresses; i++)
		if (strlen(request->addresses[i]) >= NETCONFIG_STRING_MAX)
			return run_fail(run, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
					"address %zu is longer than %d bytes", i,
					NETCONFIG_STRING_MAX - 1);
	for (size_t i = 0; i < request->n_routes; i++) {
		char dst[NETCONFIG_STRING_MAX], gateway[NETCONFIG_STRING_MAX];

		if (netconfig_parse_route(request->routes[i], dst, gateway, sizeof(dst)) < 0)
			return run_fail(run, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
					"invalid route '%.128s': give 'default via GATEWAY' or "
					"'NETWORK/PREFIX via GATEWAY'", request->routes[i]);
	}
	return 0;
}

/* Applies the request in order: MAC, addresses, routes. */
static int apply(struct netconfig_run *run, const Ember__NetConfigRequest *request)
{
	if (check_request(run, request) < 0 || find_link(run, request) < 0)
		return -1;
	if (request->new_mac[0] && set_mac(run, request->new_mac) < 0)
		return -1;
	if (request->n_addresses > 0 || request->n_routes > 0) {
		if (delete_routes(run) < 0)
			return -1;
	}
	if (request->n_addresses > 0 && delete_addresses(run) < 0)
		return -1;
	for (size_t i = 0; i < request->n_addresses; i++)
		if (add_address(run, request->addresses[i]) < 0)
			return -1;
	for (size_t i = 0; i < request->n_routes; i++)
		if (add_route(run, request->routes[i]) < 0)
			return -1;
	return 0;
}

/* Whether the agent's network namespace differs from PID 1's: a namespace
 * created for the agent, not the machine's (or the guest's) own network. */
static bool netconfig_in_own_netns(void)
{
	struct stat mine, init;

	if (stat("/proc/self/ns/net", &mine) < 0 || stat("/proc/1/ns/net", &init) < 0)
		return false;
	return mine.st_ino != init.st_ino || mine.st_dev != init.st_dev;
}

int op_net_config(struct conn *conn, const Ember__Request *request)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__NetConfigResponse response = EMBER__NET_CONFIG_RESPONSE__INIT;
	struct netconfig_run run = { 0 };
	const struct agent_options *options = agent_options(conn_agent(conn));
	int ret;

	/* In the initial PID namespace and PID 1's network namespace, a standalone
	 * agent would re-address the machine it runs on: only ember-init's agent
	 * or --machine-wide may. A network namespace of the agent's own is fine. */
	if (options->initial_pid_ns && resume_pid_namespace_is_initial() &&
	    !options->under_init && !options->machine_wide && !netconfig_in_own_netns())
		return ember_error(conn, EMBER__CODE__CODE_FAILED_PRECONDITION, 0,
				   "net_config refused: %s", resume_machine_blocked(options));
	run.sock = nl_socket_alloc();
	if (!run.sock)
		return -ENOMEM;
	ret = nl_connect(run.sock, NETLINK_ROUTE);
	if (ret < 0)
		run_fail(&run, EMBER__CODE__CODE_INTERNAL, ret, "failed to open rtnetlink");
	else
		ret = apply(&run, request->net_config);
	if (run.link)
		rtnl_link_put(run.link);
	nl_socket_free(run.sock);

	if (ret < 0)
		return ember_error(conn, run.code, 0, "%s", run.message);
	log_info("%s: net_config re-addressed '%s'", conn_id(conn), run.name);
	response.interface = run.name;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_NET_CONFIG;
	frame.net_config = &response;
	conn_finish(conn, &frame);
	return 0;
}
