/* Unit tests of the net_config input parsers: MAC addresses and routes. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "netconfig.h"

static void test_mac_valid(void)
{
	uint8_t mac[6];

	CHECK_INT(netconfig_parse_mac("02:00:0a:FF:10:42", mac), 0);
	CHECK_INT(mac[0], 0x02);
	CHECK_INT(mac[3], 0xff);
	CHECK_INT(mac[5], 0x42);
}

static void test_mac_invalid(void)
{
	const char *bad[] = {
		"", "02:00:00:00:00", "02:00:00:00:00:00:00", "02-00-00-00-00-01",
		"0g:00:00:00:00:01", "02:00:00:00:00:1", "02:00:00:00:00:01 ",
		"01:00:5e:00:00:01", /* multicast */
	};
	uint8_t mac[6];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = netconfig_parse_mac(bad[i], mac);

		if (ret != -EINVAL)
			fprintf(stderr, "accepted MAC '%s'\n", bad[i]);
		CHECK_INT(ret, -EINVAL);
	}
}

static void test_route_default(void)
{
	char dst[NETCONFIG_STRING_MAX], gateway[NETCONFIG_STRING_MAX];

	CHECK_INT(netconfig_parse_route("default via 10.0.2.2", dst, gateway, sizeof(dst)), 0);
	CHECK_STR(dst, "default");
	CHECK_STR(gateway, "10.0.2.2");
}

static void test_route_network(void)
{
	char dst[NETCONFIG_STRING_MAX], gateway[NETCONFIG_STRING_MAX];

	CHECK_INT(netconfig_parse_route("fd00:1::/64 via fd00::1", dst, gateway, sizeof(dst)), 0);
	CHECK_STR(dst, "fd00:1::/64");
	CHECK_STR(gateway, "fd00::1");
}

static void test_route_invalid(void)
{
	const char *bad[] = {
		"", "default", "via 10.0.0.1", "default via", "10.0.0.0 via 10.0.0.1",
		"default gw 10.0.0.1", "default via 10.0.0.1 dev eth0",
	};
	char dst[NETCONFIG_STRING_MAX], gateway[NETCONFIG_STRING_MAX];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = netconfig_parse_route(bad[i], dst, gateway, sizeof(dst));

		if (ret != -EINVAL)
			fprintf(stderr, "accepted route '%s'\n", bad[i]);
		CHECK_INT(ret, -EINVAL);
	}
}

static void test_route_too_long(void)
{
	char text[NETCONFIG_STRING_MAX + 16], dst[NETCONFIG_STRING_MAX];
	char gateway[NETCONFIG_STRING_MAX];

	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	memcpy(text, "default via ", 12);
	CHECK_INT(netconfig_parse_route(text, dst, gateway, sizeof(dst)), -EINVAL);
}

int main(void)
{
	RUN(test_mac_valid);
	RUN(test_mac_invalid);
	RUN(test_route_default);
	RUN(test_route_network);
	RUN(test_route_invalid);
	RUN(test_route_too_long);
	return check_summary("test_resume_netconfig");
}
