/* Unit tests for the parser of the kernel's ip= parameter. */
#include <arpa/inet.h>
#include <string.h>

#include "check.h"
#include "ipconfig.h"

static char err[256];

static const char *addr(struct in_addr a)
{
	return inet_ntoa(a);
}

static void static_form_sets_every_field(void)
{
	struct ipconfig ip;

	CHECK_INT(ipconfig_parse("10.0.2.15:10.0.2.1:10.0.2.2:255.255.255.0:guest:eth1:off:"
				 "10.0.2.3:1.1.1.1:10.0.2.4", &ip, err, sizeof(err)), 0);
	CHECK_INT(ip.mode, IPCONFIG_STATIC);
	CHECK_STR(addr(ip.client), "10.0.2.15");
	CHECK(ip.has_server);
	CHECK_STR(addr(ip.server), "10.0.2.1");
	CHECK(ip.has_gateway);
	CHECK_STR(addr(ip.gateway), "10.0.2.2");
	CHECK_INT(ip.prefix_len, 24);
	CHECK_STR(ip.hostname, "guest");
	CHECK_STR(ip.device, "eth1");
	CHECK_STR(ip.autoconf, "off");
	CHECK_INT(ip.n_dns, 2);
	CHECK_STR(addr(ip.dns[0]), "10.0.2.3");
	CHECK_STR(addr(ip.dns[1]), "1.1.1.1");
}

static void empty_fields_are_absent(void)
{
	struct ipconfig ip;

	CHECK_INT(ipconfig_parse("192.168.1.5::::::none", &ip, err, sizeof(err)), 0);
	CHECK_INT(ip.mode, IPCONFIG_STATIC);
	CHECK(!ip.has_gateway);
	CHECK(!ip.has_server);
	CHECK_STR(ip.device, "");
	CHECK_STR(ip.hostname, "");
	CHECK_INT(ip.n_dns, 0);
	/* Without a netmask the prefix follows the address class, as the kernel does. */
	CHECK_INT(ip.prefix_len, 24);
	CHECK_INT(ipconfig_parse("10.1.2.3", &ip, err, sizeof(err)), 0);
	CHECK_INT(ip.prefix_len, 8);
	CHECK_INT(ipconfig_parse("172.16.0.9", &ip, err, sizeof(err)), 0);
	CHECK_INT(ip.prefix_len, 16);
}

static void netmask_gives_prefix(void)
{
	struct ipconfig ip;

	CHECK_INT(ipconfig_parse("10.0.0.2::10.0.0.1:255.255.240.0", &ip, err, sizeof(err)), 0);
	CHECK_INT(ip.prefix_len, 20);
	CHECK_INT(ipconfig_parse("10.0.0.2:::255.255.255.255", &ip, err, sizeof(err)), 0);
	CHECK_INT(ip.prefix_len, 32);
}

static void off_words_disable(void)
{
	struct ipconfig ip;

	CHECK_INT(ipconfig_parse("off", &ip, err, sizeof(err)), 0);
	CHECK_INT(ip.mode, IPCONFIG_OFF);
	CHECK_INT(ipconfig_parse("none", &ip, err, sizeof(err)), 0);
	CHECK_INT(ip.mode, IPCONFIG_OFF);
	CHECK_INT(ipconfig_parse("", &ip, err, sizeof(err)), 0);
	CHECK_INT(ip.mode, IPCONFIG_OFF);
}

static void dhcp_is_dynamic(void)
{
	struct ipconfig ip;

	CHECK_INT(ipconfig_parse("dhcp", &ip, err, sizeof(err)), 0);
	CHECK_INT(ip.mode, IPCONFIG_DYNAMIC);
	CHECK_STR(ip.autoconf, "dhcp");
	CHECK_INT(ipconfig_parse(":::::eth0:dhcp", &ip, err, sizeof(err)), 0);
	CHECK_INT(ip.mode, IPCONFIG_DYNAMIC);
	CHECK_INT(ipconfig_parse("on", &ip, err, sizeof(err)), 0);
	CHECK_INT(ip.mode, IPCONFIG_DYNAMIC);
}

static void malformed_strings_are_rejected(void)
{
	static const struct {
		const char *text;
		const char *message_part;
	} cases[] = {
		{ "10.0.0.300", "invalid client address '10.0.0.300'" },
		{ "10.0.0.2:x", "invalid server address 'x'" },
		{ "10.0.0.2::gw", "invalid gateway 'gw'" },
		{ "10.0.0.2:::255.0.255.0", "invalid netmask '255.0.255.0'" },
		{ "10.0.0.2:::::eth0:sometimes", "invalid autoconf 'sometimes'" },
		{ "10.0.0.2:::::a/b", "invalid device 'a/b'" },
		{ "10.0.0.2:::::averyveryverylongname", "invalid device" },
		{ "10.0.0.2:::::::8.8.8", "invalid first DNS server '8.8.8'" },
		{ "10.0.0.2::::::::1.1.1.1.1", "invalid second DNS server" },
		{ "10.0.0.2:::::::::::extra", "more than 10 fields" },
		{ "::10.0.0.1:255.255.255.0::eth0:off", "needs a client address" },
		{ "10.0.0.2::::this-hostname-is-far-too-long-to-be-accepted-by-the-kernel-as-a-name",
		  "invalid hostname" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ipconfig ip;

		err[0] = '\0';
		CHECK_INT(ipconfig_parse(cases[i].text, &ip, err, sizeof(err)), -22);
		if (!strstr(err, cases[i].message_part))
			fprintf(stderr, "case %zu: '%s' gave '%s'\n", i, cases[i].text, err);
		CHECK(strstr(err, cases[i].message_part) != NULL);
	}
}

int main(void)
{
	RUN(static_form_sets_every_field);
	RUN(empty_fields_are_absent);
	RUN(netmask_gives_prefix);
	RUN(off_words_disable);
	RUN(dhcp_is_dynamic);
	RUN(malformed_strings_are_rejected);
	return check_summary("init/ipconfig");
}
