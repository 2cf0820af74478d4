/* Parsing of the kernel's ip= parameter into a static interface config. */
#include "ipconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define IPCONFIG_FIELDS 10

static const char *const field_names[IPCONFIG_FIELDS] = {
	"client address", "server address", "gateway", "netmask", "hostname", "device",
	"autoconf", "first DNS server", "second DNS server", "NTP server",
};

static bool is_dynamic(const char *word)
{
	static const char *const words[] = { "dhcp", "bootp", "rarp", "on", "any", "both",
		"dhcp6", "auto6", NULL };

	for (size_t i = 0; words[i]; i++) {
		if (strcmp(word, words[i]) == 0)
			return true;
	}
	return false;
}

static int parse_address(const char *value, int field, struct in_addr *addr, bool *has,
			 char *err, size_t err_len)
{
	if (!*value)
		return 0;
	if (inet_pton(AF_INET, value, addr) != 1) {
		snprintf(err, err_len, "invalid %s '%s' in ip=: expected a dotted IPv4 address",
			 field_names[field], value);
		return -EINVAL;
	}
	if (has)
		*has = true;
	return 0;
}

/* Returns the prefix length of a contiguous netmask, or -1. */
static int netmask_prefix(struct in_addr mask)
{
	uint32_t m = ntohl(mask.s_addr);
	int len = 0;

	while (len < 32 && (m & (0x80000000u >> len)))
		len++;
	if (len < 32 && (m << len) != 0)
		return -1;
	return len;
}

/* The kernel's default for a missing netmask: the address class. */
static int class_prefix(struct in_addr addr)
{
	uint32_t a = ntohl(addr.s_addr);

	if ((a >> 31) == 0)
		return 8;
	if ((a >> 30) == 2)
		return 16;
	return 24;
}

static int parse_field(struct ipconfig *ip, int field, const char *value, char *err,
		       size_t err_len)
{
	switch (field) {
	case 0:
		return parse_address(value, field, &ip->client, &ip->has_client, err, err_len);
	case 1:
		return parse_address(value, field, &ip->server, &ip->has_server, err, err_len);
	case 2:
		return parse_address(value, field, &ip->gateway, &ip->has_gateway, err, err_len);
	case 3:
		if (parse_address(value, field, &ip->netmask, &ip->has_netmask, err, err_len) < 0)
			return -EINVAL;
		if (ip->has_netmask && netmask_prefix(ip->netmask) < 0) {
			snprintf(err, err_len, "invalid netmask '%s' in ip=: its bits are not "
				 "contiguous", value);
			return -EINVAL;
		}
		return 0;
	case 4:
		if (strlen(value) > IPCONFIG_HOSTNAME_MAX) {
			snprintf(err, err_len, "invalid hostname '%s' in ip=: longer than %d "
				 "characters", value, IPCONFIG_HOSTNAME_MAX);
			return -EINVAL;
		}
		strcpy(ip->hostname, value);
		return 0;
	case 5:
		if (strlen(value) >= IPCONFIG_DEVICE_MAX || strchr(value, '/')) {
			snprintf(err, err_len, "invalid device '%s' in ip=: not an interface name",
				 value);
			return -EINVAL;
		}
		strcpy(ip->device, value);
		return 0;
	case 6:
		if (strlen(value) >= sizeof(ip->autoconf) ||
		    (*value && strcmp(value, "off") != 0 && strcmp(value, "none") != 0 &&
		     !is_dynamic(value))) {
			snprintf(err, err_len, "invalid autoconf '%s' in ip=: expected off, none or "
				 "dhcp", value);
			return -EINVAL;
		}
		strcpy(ip->autoconf, value);
		return 0;
	case 7:
	case 8: {
		bool has = false;

		if (parse_address(value, field, &ip->dns[ip->n_dns], &has, err, err_len) < 0)
			return -EINVAL;
		if (has)
			ip->n_dns++;
		return 0;
	}
	default:
		/* NOTE: the NTP server is accepted and ignored: ember runs no NTP client. */
		return parse_address(value, field, &(struct in_addr){ 0 }, NULL, err, err_len);
	}
}

int ipconfig_parse(const char *text, struct ipconfig *ip, char *err, size_t err_len)
{
	char value[256];
	int field = 0;

	memset(ip, 0, sizeof(*ip));
	if (!*text || strcmp(text, "off") == 0 || strcmp(text, "none") == 0) {
		ip->mode = IPCONFIG_OFF;
		return 0;
	}
	if (is_dynamic(text)) {
		ip->mode = IPCONFIG_DYNAMIC;
		strcpy(ip->autoconf, text);
		return 0;
	}

	for (const char *s = text;; field++) {
		const char *colon = strchr(s, ':');
		size_t len = colon ? (size_t)(colon - s) : strlen(s);

		if (field >= IPCONFIG_FIELDS) {
			snprintf(err, err_len, "invalid ip='%s': more than %d fields", text,
				 IPCONFIG_FIELDS);
			return -EINVAL;
		}
		if (len >= sizeof(value)) {
			snprintf(err, err_len, "invalid ip='%s': field %s is too long", text,
				 field_names[field]);
			return -EINVAL;
		}
		memcpy(value, s, len);
		value[len] = '\0';
		if (parse_field(ip, field, value, err, err_len) < 0)
			return -EINVAL;
		if (!colon)
			break;
		s = colon + 1;
	}

	if (is_dynamic(ip->autoconf)) {
		ip->mode = IPCONFIG_DYNAMIC;
		return 0;
	}
	if (!ip->has_client) {
		snprintf(err, err_len, "invalid ip='%s': the static form needs a client address",
			 text);
		return -EINVAL;
	}
	ip->mode = IPCONFIG_STATIC;
	ip->prefix_len = ip->has_netmask ? netmask_prefix(ip->netmask) : class_prefix(ip->client);
	return 0;
}
