/* The kernel's ip= parameter (Documentation/admin-guide/nfs/nfsroot.rst):
 * ip=CLIENT:SERVER:GATEWAY:NETMASK:HOSTNAME:DEVICE:AUTOCONF:DNS0:DNS1:NTP0,
 * or a bare autoconf word. ember honours the static form itself because the
 * kernels microVMs boot often lack CONFIG_IP_PNP. */
#ifndef EMBER_INIT_IPCONFIG_H
#define EMBER_INIT_IPCONFIG_H

#include <netinet/in.h>
#include <stdbool.h>

#define IPCONFIG_HOSTNAME_MAX 64
#define IPCONFIG_DEVICE_MAX 16 /* IFNAMSIZ */

enum ipconfig_mode {
	IPCONFIG_OFF,     /* "off", "none" or an empty ip= */
	IPCONFIG_STATIC,  /* a client address without a dynamic autoconf */
	IPCONFIG_DYNAMIC, /* "dhcp", "bootp", "rarp", "on", "any", "both": unsupported */
};

struct ipconfig {
	enum ipconfig_mode mode;
	bool has_client, has_server, has_gateway, has_netmask;
	struct in_addr client, server, gateway, netmask;
	int prefix_len; /* from netmask, or the class default when absent */
	char hostname[IPCONFIG_HOSTNAME_MAX + 1];
	char device[IPCONFIG_DEVICE_MAX];
	char autoconf[16];
	int n_dns;
	struct in_addr dns[2];
};

/* Parses the value of ip=. Returns 0, or -EINVAL with the reason in err
 * (naming the field and its value). */
int ipconfig_parse(const char *text, struct ipconfig *ip, char *err, size_t err_len);

#endif
