/* Agent address parsing: every form, its limits and its error messages.
 * vsock addresses are only parsed here, never connected. */
#include <string.h>

#include "check.h"
#include "ember.h"

static struct ember_address addr;
static char message[256];

static int parse(const char *text)
{
	message[0] = '\0';
	return ember_address_parse(text, &addr, message, sizeof(message));
}

static void test_unix(void)
{
	CHECK_INT(parse("unix:/run/agent.sock"), 0);
	CHECK_INT(addr.transport, EMBER_TRANSPORT_UNIX);
	CHECK_STR(addr.path, "/run/agent.sock");
	CHECK_INT(parse("unix:relative/with:colon"), 0);
	CHECK_STR(addr.path, "relative/with:colon");
	CHECK_INT(parse("unix:"), -22);
	CHECK(strstr(message, "empty") != NULL);
}

static void test_unix_path_limit(void)
{
	char text[200] = "unix:";

	memset(text + 5, 'a', 108);
	text[5 + 108] = '\0';
	CHECK_INT(parse(text), -22);
	CHECK(strstr(message, "107") != NULL);
	text[5 + 107] = '\0';
	CHECK_INT(parse(text), 0);
}

static void test_tcp(void)
{
	CHECK_INT(parse("tcp:127.0.0.1:1023"), 0);
	CHECK_INT(addr.transport, EMBER_TRANSPORT_TCP);
	CHECK_STR(addr.host, "127.0.0.1");
	CHECK_INT(addr.port, 1023);
	CHECK_INT(parse("tcp:[::1]:80"), 0);
	CHECK_STR(addr.host, "::1");
	CHECK_INT(parse("tcp:localhost:65535"), 0);
	CHECK_INT(parse("tcp:localhost:65536"), -22);
	CHECK(strstr(message, "65535") != NULL);
	CHECK_INT(parse("tcp:localhost:0"), -22);
	CHECK_INT(parse("tcp:localhost"), -22);
	CHECK_INT(parse("tcp::80"), -22);
	CHECK_INT(parse("tcp:h:8o"), -22);
	CHECK_INT(parse("tcp:h:-1"), -22);
}

static void test_vsock(void)
{
	CHECK_INT(parse("vsock:3:1023"), 0);
	CHECK_INT(addr.transport, EMBER_TRANSPORT_VSOCK);
	CHECK_INT(addr.cid, 3);
	CHECK_INT(addr.port, 1023);
	CHECK_INT(parse("vsock:4294967294:4294967294"), 0);
	CHECK_INT(addr.cid, 4294967294u);
	CHECK_INT(parse("vsock:2:0"), 0);
}

static void test_vsock_invalid(void)
{
	/* VMADDR_CID_ANY and VMADDR_PORT_ANY cannot be connected to. */
	CHECK_INT(parse("vsock:4294967295:1023"), -22);
	CHECK(strstr(message, "CID") != NULL);
	CHECK_INT(parse("vsock:3:4294967295"), -22);
	CHECK(strstr(message, "port") != NULL);
	CHECK_INT(parse("vsock:4294967296:1"), -22);
	CHECK_INT(parse("vsock:3"), -22);
	CHECK(strstr(message, "vsock:CID:PORT") != NULL);
	CHECK_INT(parse("vsock::1023"), -22);
	CHECK_INT(parse("vsock:3:"), -22);
	CHECK_INT(parse("vsock:0x3:1023"), -22);
	CHECK_INT(parse("vsock:+3:1023"), -22);
	CHECK_INT(parse("vsock: 3:1023"), -22);
	CHECK_INT(parse("vsock:3:1023:1"), -22);
}

static void test_hvsock(void)
{
	CHECK_INT(parse("hvsock:/var/run/fc/v.sock:1023"), 0);
	CHECK_INT(addr.transport, EMBER_TRANSPORT_HVSOCK);
	CHECK_STR(addr.path, "/var/run/fc/v.sock");
	CHECK_INT(addr.port, 1023);
	CHECK_INT(parse("hvsock:/a:b/v.sock:52"), 0);
	CHECK_STR(addr.path, "/a:b/v.sock");
	CHECK_INT(parse("hvsock:/v.sock"), -22);
	CHECK_INT(parse("hvsock::1023"), -22);
	CHECK_INT(parse("hvsock:/v.sock:port"), -22);
}

static void test_unknown_scheme(void)
{
	CHECK_INT(parse("http://x"), -22);
	CHECK(strstr(message, "'http://x'") != NULL);
	CHECK(strstr(message, "hvsock:PATH:PORT") != NULL);
	CHECK_INT(parse(""), -22);
	CHECK_INT(parse("UNIX:/x"), -22);
}

int main(void)
{
	RUN(test_unix);
	RUN(test_unix_path_limit);
	RUN(test_tcp);
	RUN(test_vsock);
	RUN(test_vsock_invalid);
	RUN(test_hvsock);
	RUN(test_unknown_scheme);
	return check_summary("host/test_address");
}
