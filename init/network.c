/* Network over rtnetlink (libnl-route-3): loopback, the config's interfaces
 * and the kernel's ip= parameter, each waited for with a bounded timeout. */
#include "init.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ipconfig.h"
#include "log.h"
#include "loop.h"

#define NETWORK_POLL_MS 10

struct net {
	struct nl_sock *sock;
	struct nl_cache *links;
	uint64_t deadline_ms;
	unsigned timeout_ms;
};

static int net_open(struct net *net)
{
	int r;

	net->sock = nl_socket_alloc();
	if (!net->sock)
		return -ENOMEM;
	if ((r = nl_connect(net->sock, NETLINK_ROUTE)) < 0 ||
	    (r = rtnl_link_alloc_cache(net->sock, AF_UNSPEC, &net->links)) < 0) {
		log_error("failed to open rtnetlink: %s; the network is not configured",
			  nl_geterror(r));
		nl_socket_free(net->sock);
		net->sock = NULL;
		return -EIO;
	}
	return 0;
}

static void net_close(struct net *net)
{
	if (net->links)
		nl_cache_free(net->links);
	if (net->sock)
		nl_socket_free(net->sock);
	memset(net, 0, sizeof(*net));
}

static struct rtnl_link *find_by_mac(struct net *net, const char *mac)
{
	struct nl_addr *want = NULL;
	struct rtnl_link *found = NULL;

	if (nl_addr_parse(mac, AF_LLC, &want) < 0)
		return NULL;
	for (struct nl_object *obj = nl_cache_get_first(net->links); obj;
	     obj = nl_cache_get_next(obj)) {
		struct rtnl_link *link = (struct rtnl_link *)obj;
		struct nl_addr *addr = rtnl_link_get_addr(link);

		if (addr && nl_addr_get_len(addr) == nl_addr_get_len(want) &&
		    memcmp(nl_addr_get_binary_addr(addr), nl_addr_get_binary_addr(want),
			   nl_addr_get_len(want)) == 0) {
			nl_object_get(obj);
			found = link;
			break;
		}
	}
	nl_addr_put(want);
	return found;
}

/* The first link that is not loopback, for an ip= without a device. */
static struct rtnl_link *find_first(struct net *net)
{
	for (struct nl_object *obj = nl_cache_get_first(net->links); obj;
	     obj = nl_cache_get_next(obj)) {
		if (!(rtnl_link_get_flags((struct rtnl_link *)obj) & IFF_LOOPBACK)) {
			nl_object_get(obj);
			return (struct rtnl_link *)obj;
		}
	}
	return NULL;
}

static struct rtnl_link *find_link(struct net *net, const char *name, const char *mac)
{
	if (nl_cache_refill(net->sock, net->links) < 0)
		return NULL;
	if (name)
		return rtnl_link_get_by_name(net->links, name);
	if (mac)
		return find_by_mac(net, mac);
	return find_first(net);
}

/* Waits until the link exists, up to the shared deadline. */
static struct rtnl_link *wait_for_link(struct net *net, const char *name, const char *mac)
{
	for (;;) {
		struct rtnl_link *link = find_link(net, name, mac);

		if (link || monotonic_ms() >= net->deadline_ms)
			return link;
		usleep(NETWORK_POLL_MS * 1000);
	}
}

static bool wait_for_carrier(struct net *net, int ifindex)
{
	for (;;) {
		struct rtnl_link *link;
		bool up = false;

		if (nl_cache_refill(net->sock, net->links) == 0 &&
		    (link = rtnl_link_get(net->links, ifindex)) != NULL) {
			up = (rtnl_link_get_flags(link) & IFF_LOWER_UP) != 0;
			rtnl_link_put(link);
		}
		if (up)
			return true;
		if (monotonic_ms() >= net->deadline_ms)
			return false;
		usleep(NETWORK_POLL_MS * 1000);
	}
}

static int link_up(struct net *net, struct rtnl_link *link, int mtu)
{
	struct rtnl_link *change = rtnl_link_alloc();
	int r;

	if (!change)
		return -NLE_NOMEM;
	rtnl_link_set_flags(change, IFF_UP);
	if (mtu > 0)
		rtnl_link_set_mtu(change, (unsigned)mtu);
	r = rtnl_link_change(net->sock, link, change, 0);
	rtnl_link_put(change);
	return r;
}

static void add_address(struct net *net, int ifindex, const char *ifname, const char *text)
{
	struct rtnl_addr *addr = rtnl_addr_alloc();
	struct nl_addr *local = NULL;
	int r;

	if (!addr)
		return;
	if ((r = nl_addr_parse(text, AF_UNSPEC, &local)) < 0 ||
	    nl_addr_get_family(local) == AF_LLC) {
		log_warn("invalid address '%s' for %s: expected ADDRESS/PREFIX; skipped", text, ifname);
		goto out;
	}
	rtnl_addr_set_ifindex(addr, ifindex);
	rtnl_addr_set_local(addr, local);
	rtnl_addr_set_prefixlen(addr, nl_addr_get_prefixlen(local));
	/* A microVM's address is its own: duplicate address detection would only
	 * delay IPv6 by a second or more. */
	if (nl_addr_get_family(local) == AF_INET6)
		rtnl_addr_set_flags(addr, IFA_F_NODAD);
	r = rtnl_addr_add(net->sock, addr, 0);
	if (r < 0 && r != -NLE_EXIST)
		log_warn("failed to add address %s to %s: %s; continuing without it", text, ifname,
			 nl_geterror(r));
	else
		log_info("added address %s to %s", text, ifname);
out:
	if (local)
		nl_addr_put(local);
	rtnl_addr_put(addr);
}

/* Adds a route to `to` ("default" or ADDRESS/PREFIX) via a gateway (or NULL
 * for a route on the link). */
static void add_route(struct net *net, int ifindex, const char *ifname, const char *to,
		      const char *via)
{
	struct rtnl_route *route = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *dst = NULL, *gw = NULL;
	int family, r;

	if (!route || !nh)
		goto out;
	family = via && strchr(via, ':') ? AF_INET6 : strchr(to, ':') ? AF_INET6 : AF_INET;
	if ((r = nl_addr_parse(to, family, &dst)) < 0 ||
	    (via && (r = nl_addr_parse(via, family, &gw)) < 0)) {
		log_warn("invalid route to '%s' via '%s' on %s: %s; skipped", to, via ? via : "-",
			 ifname, nl_geterror(r));
		goto out;
	}
	rtnl_route_set_family(route, (uint8_t)family);
	rtnl_route_set_dst(route, dst);
	rtnl_route_set_table(route, RT_TABLE_MAIN);
	rtnl_route_set_protocol(route, RTPROT_STATIC);
	rtnl_route_set_scope(route, via ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	rtnl_route_nh_set_ifindex(nh, ifindex);
	if (gw)
		rtnl_route_nh_set_gateway(nh, gw);
	rtnl_route_add_nexthop(route, nh);
	nh = NULL; /* owned by the route now */
	r = rtnl_route_add(net->sock, route, 0);
	if (r < 0 && r != -NLE_EXIST)
		log_warn("failed to add route to %s via %s on %s: %s; continuing without it", to,
			 via ? via : "-", ifname, nl_geterror(r));
	else
		log_info("added route to %s via %s on %s", to, via ? via : "-", ifname);
out:
	if (dst)
		nl_addr_put(dst);
	if (gw)
		nl_addr_put(gw);
	if (nh)
		rtnl_route_nh_free(nh);
	if (route)
		rtnl_route_put(route);
}

static void configure(struct init *init, struct net *net, const struct config_interface *itf)
{
	const char *label = itf->name ? itf->name : itf->mac;
	struct rtnl_link *link = wait_for_link(net, itf->name, itf->mac);
	char ifname[IF_NAMESIZE];
	int ifindex, r;

	if (!label)
		label = "the first interface";
	if (!link) {
		log_error("interface %s did not appear within %u ms; it is not configured", label,
			  net->timeout_ms);
		return;
	}
	ifindex = rtnl_link_get_ifindex(link);
	snprintf(ifname, sizeof(ifname), "%s", rtnl_link_get_name(link));
	r = link_up(net, link, itf->mtu);
	rtnl_link_put(link);
	if (r < 0) {
		log_error("failed to bring up %s: %s; it is not configured", ifname, nl_geterror(r));
		return;
	}
	if (init->n_configured < sizeof(init->configured_ifindex) / sizeof(int))
		init->configured_ifindex[init->n_configured++] = ifindex;
	for (size_t i = 0; i < itf->addresses.n; i++)
		add_address(net, ifindex, ifname, itf->addresses.v[i]);
	if (!wait_for_carrier(net, ifindex))
		log_warn("interface %s has no carrier yet; adding its routes anyway", ifname);
	if (itf->gateway)
		add_route(net, ifindex, ifname, "default", itf->gateway);
	if (itf->gateway6)
		add_route(net, ifindex, ifname, "default", itf->gateway6);
	for (size_t i = 0; i < itf->n_routes; i++)
		add_route(net, ifindex, ifname, itf->routes[i].to, itf->routes[i].via);
	log_info("configured interface %s", ifname);
}

static void loopback_up(struct net *net)
{
	struct rtnl_link *lo = find_link(net, "lo", NULL);
	int r = lo ? link_up(net, lo, 0) : -NLE_OBJ_NOTFOUND;

	if (r < 0)
		log_warn("failed to bring up lo: %s; continuing without loopback", nl_geterror(r));
	if (lo)
		rtnl_link_put(lo);
}

/* Turns ip= into an interface entry, its hostname and DNS servers. */
static int from_ipconfig(struct init *init, struct config_interface *itf, char *address,
			 char *gateway, struct strv *dns)
{
	struct ipconfig ip;
	char err[256];

	if (ipconfig_parse(init->cmdline.ip, &ip, err, sizeof(err)) < 0) {
		log_warn("%s; ip= is ignored", err);
		return -EINVAL;
	}
	if (ip.mode == IPCONFIG_OFF)
		return -ENOENT;
	if (ip.mode == IPCONFIG_DYNAMIC) {
		log_warn("ip=%s asks for %s, which ember does not support; use the static form "
			 "ip=CLIENT::GATEWAY:NETMASK:HOSTNAME:DEVICE:off:DNS0:DNS1 or the config's "
			 "network.interfaces", init->cmdline.ip, ip.autoconf);
		return -ENOTSUP;
	}
	memset(itf, 0, sizeof(*itf));
	itf->name = ip.device[0] ? strdup(ip.device) : NULL;
	snprintf(address, 32, "%s/%d", inet_ntoa(ip.client), ip.prefix_len);
	strv_push(&itf->addresses, address);
	if (ip.has_gateway) {
		snprintf(gateway, 16, "%s", inet_ntoa(ip.gateway));
		itf->gateway = gateway;
	}
	for (int i = 0; i < ip.n_dns; i++)
		strv_push(dns, inet_ntoa(ip.dns[i]));
	if (ip.hostname[0] && !init->cfg.hostname)
		init->cfg.hostname = strdup(ip.hostname);
	return 0;
}

void network_up(struct init *init)
{
	struct net net = { 0 };
	struct config_interface from_ip;
	struct strv ip_dns = { 0 };
	char address[32], gateway[16];

	if (!ns_is_private(init, NS_NET)) {
		log_warn("skipped the network: this namespace shares the machine's network "
			 "namespace");
		return;
	}
	if (net_open(&net) < 0)
		return;
	net.timeout_ms = init->cfg.link_timeout_ms;
	net.deadline_ms = monotonic_ms() + init->cfg.link_timeout_ms;
	loopback_up(&net);
	for (size_t i = 0; i < init->cfg.n_interfaces; i++)
		configure(init, &net, &init->cfg.interfaces[i]);
	/* ip= DNS servers apply when the config names none. */
	if (init->cmdline.ip && from_ipconfig(init, &from_ip, address, gateway, &ip_dns) == 0) {
		configure(init, &net, &from_ip);
		free(from_ip.name);
		strv_free(&from_ip.addresses);
		if (init->cfg.dns.n == 0) {
			init->cfg.dns = ip_dns;
			ip_dns = (struct strv){ 0 };
		}
	}
	strv_free(&ip_dns);
	net_close(&net);
}

static bool was_configured(const struct init *init, int ifindex)
{
	for (size_t i = 0; i < init->n_configured; i++) {
		if (init->configured_ifindex[i] == ifindex)
			return true;
	}
	return false;
}

/* Takes every interface but loopback down before power-off: a microvm guest
 * can hang in virtio-net polling otherwise. In a child PID namespace only the
 * interfaces init configured itself are touched. */
void network_down(const struct init *init)
{
	struct net net = { 0 };

	if (!init->initial_pidns && init->n_configured == 0)
		return;
	if (net_open(&net) < 0)
		return;
	for (struct nl_object *obj = nl_cache_get_first(net.links); obj;
	     obj = nl_cache_get_next(obj)) {
		struct rtnl_link *link = (struct rtnl_link *)obj;
		struct rtnl_link *change;

		if ((rtnl_link_get_flags(link) & IFF_LOOPBACK) || !(rtnl_link_get_flags(link) & IFF_UP))
			continue;
		if (!init->initial_pidns && !was_configured(init, rtnl_link_get_ifindex(link)))
			continue;
		change = rtnl_link_alloc();
		if (!change)
			break;
		rtnl_link_unset_flags(change, IFF_UP);
		rtnl_link_change(net.sock, link, change, 0);
		rtnl_link_put(change);
	}
	net_close(&net);
}
