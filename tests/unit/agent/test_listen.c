/* Unit tests for listener address parsing and Unix socket reuse. The vsock
 * cases only parse (no AF_VSOCK socket may be created on a host). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "listen.h"

static void vsock_port_parses(void)
{
	struct listen_addr addr;
	const char *reason = NULL;

	CHECK_INT(listen_parse("vsock:1023", &addr, &reason), 0);
	CHECK_INT(addr.kind, LISTEN_VSOCK);
	CHECK_INT(addr.port, 1023);
	CHECK_INT(listen_parse("vsock:4294967294", &addr, &reason), 0);
	CHECK_INT(addr.port, 4294967294u);
}

static void vsock_bad_ports_rejected(void)
{
	static const char *const bad[] = {
		"vsock:", "vsock:0", "vsock:-1", "vsock:4294967295", "vsock:99999999999",
		"vsock:12x", "vsock: 12", "vsock:2:1023", "vsock:+5",
	};
	struct listen_addr addr;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *reason = NULL;

		CHECK_INT(listen_parse(bad[i], &addr, &reason), -EINVAL);
		CHECK(reason != NULL);
	}
}

static void unix_path_parses(void)
{
	struct listen_addr addr;
	const char *reason = NULL;

	CHECK_INT(listen_parse("unix:/run/ember/agent.sock", &addr, &reason), 0);
	CHECK_INT(addr.kind, LISTEN_UNIX);
	CHECK_STR(addr.path, "/run/ember/agent.sock");
}

static void unix_bad_paths_rejected(void)
{
	char long_path[200] = "unix:/";
	struct listen_addr addr;
	const char *reason = NULL;

	memset(long_path + 6, 'a', 120);
	long_path[126] = '\0';
	CHECK_INT(listen_parse("unix:", &addr, &reason), -EINVAL);
	CHECK_INT(listen_parse("unix:relative.sock", &addr, &reason), -EINVAL);
	CHECK_INT(listen_parse(long_path, &addr, &reason), -EINVAL);
}

static void tcp_addresses_parse(void)
{
	struct listen_addr addr;
	const char *reason = NULL;

	CHECK_INT(listen_parse("tcp:127.0.0.1:7000", &addr, &reason), 0);
	CHECK_INT(addr.kind, LISTEN_TCP);
	CHECK_INT(addr.family, AF_INET);
	CHECK_STR(addr.host, "127.0.0.1");
	CHECK_INT(addr.port, 7000);
	CHECK_INT(listen_parse("tcp:[::1]:65535", &addr, &reason), 0);
	CHECK_INT(addr.family, AF_INET6);
	CHECK_STR(addr.host, "::1");
	CHECK_INT(addr.port, 65535);
}

static void tcp_bad_addresses_rejected(void)
{
	static const char *const bad[] = {
		"tcp:", "tcp:127.0.0.1", "tcp:127.0.0.1:", "tcp:127.0.0.1:0", "tcp:127.0.0.1:65536",
		"tcp:localhost:80", "tcp::80", "tcp:::1:80", "tcp:[::1:80", "tcp:[]:80",
		"tcp:999.0.0.1:80",
	};
	struct listen_addr addr;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *reason = NULL;

		CHECK_INT(listen_parse(bad[i], &addr, &reason), -EINVAL);
		CHECK(reason != NULL);
	}
}

static void unknown_scheme_rejected(void)
{
	struct listen_addr addr;
	const char *reason = NULL;

	CHECK_INT(listen_parse("udp:127.0.0.1:1", &addr, &reason), -EINVAL);
	CHECK_INT(listen_parse("", &addr, &reason), -EINVAL);
	CHECK_INT(listen_parse("/tmp/agent.sock", &addr, &reason), -EINVAL);
}

/* A socket file whose listener closed is replaced, one with a listener is not. */
static void unix_socket_reuse(void)
{
	char dir[] = "/tmp/ember-listen-unit-XXXXXX";
	char text[sizeof(dir) + 16];
	struct listen_addr addr;
	const char *reason;
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(text, sizeof(text), "unix:%s/a.sock", dir);
	CHECK_INT(listen_parse(text, &addr, &reason), 0);

	int first = listen_open(&addr);
	CHECK(first >= 0);
	CHECK_INT(listen_open(&addr), -EADDRINUSE);
	CHECK_INT(stat(addr.path, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));

	close(first);
	int second = listen_open(&addr);
	CHECK(second >= 0);
	close(second);
	unlink(addr.path);
	rmdir(dir);
}

int main(void)
{
	RUN(vsock_port_parses);
	RUN(vsock_bad_ports_rejected);
	RUN(unix_path_parses);
	RUN(unix_bad_paths_rejected);
	RUN(tcp_addresses_parse);
	RUN(tcp_bad_addresses_rejected);
	RUN(unknown_scheme_rejected);
	RUN(unix_socket_reuse);
	return check_summary("agent/listen");
}
