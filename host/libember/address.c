/* Parsing agent addresses: unix:PATH, tcp:HOST:PORT, vsock:CID:PORT and
 * hvsock:PATH:PORT. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ember.h"

/* VMADDR_CID_ANY and VMADDR_PORT_ANY: wildcards that a connect cannot use. */
#define VSOCK_ANY 0xffffffffu

/* Parses a decimal number without sign, spaces or leading "0x". */
static int parse_u32(const char *text, size_t len, uint32_t *value)
{
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(text[i] - '0');
	}
	if (v > UINT32_MAX)
		return -EINVAL;
	*value = (uint32_t)v;
	return 0;
}

static int fail(char *message, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *message, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (message && size) {
		va_start(ap, fmt);
		vsnprintf(message, size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int parse_unix(const char *rest, struct ember_address *addr, char *msg, size_t size)
{
	size_t len = strlen(rest);

	if (len == 0)
		return fail(msg, size, "invalid address 'unix:%s': the socket path is empty", rest);
	if (len >= sizeof(addr->path))
		return fail(msg, size, "invalid address 'unix:%s': the socket path is longer "
			    "than 107 bytes", rest);
	memcpy(addr->path, rest, len + 1);
	return 0;
}

static int parse_tcp(const char *rest, struct ember_address *addr, char *msg, size_t size)
{
	const char *colon = strrchr(rest, ':');
	size_t host_len;

	if (!colon)
		return fail(msg, size, "invalid address 'tcp:%s': expected tcp:HOST:PORT", rest);
	if (parse_u32(colon + 1, strlen(colon + 1), &addr->port) < 0 || addr->port == 0 ||
	    addr->port > 65535)
		return fail(msg, size, "invalid address 'tcp:%s': the port must be a number "
			    "from 1 to 65535", rest);
	host_len = (size_t)(colon - rest);
	if (host_len >= 2 && rest[0] == '[' && rest[host_len - 1] == ']') {
		rest++;
		host_len -= 2;
	}
	if (host_len == 0)
		return fail(msg, size, "invalid address 'tcp:%s': the host is empty", rest);
	if (host_len >= sizeof(addr->host))
		return fail(msg, size, "invalid address 'tcp:%s': the host is longer than "
			    "255 bytes", rest);
	memcpy(addr->host, rest, host_len);
	addr->host[host_len] = '\0';
	return 0;
}

static int parse_vsock(const char *rest, struct ember_address *addr, char *msg, size_t size)
{
	const char *colon = strchr(rest, ':');

	if (!colon)
		return fail(msg, size, "invalid address 'vsock:%s': expected vsock:CID:PORT", rest);
	if (parse_u32(rest, (size_t)(colon - rest), &addr->cid) < 0 || addr->cid == VSOCK_ANY)
		return fail(msg, size, "invalid address 'vsock:%s': the CID must be a number "
			    "below 4294967295", rest);
	if (parse_u32(colon + 1, strlen(colon + 1), &addr->port) < 0 || addr->port == VSOCK_ANY)
		return fail(msg, size, "invalid address 'vsock:%s': the port must be a number "
			    "below 4294967295", rest);
	return 0;
}

static int parse_hvsock(const char *rest, struct ember_address *addr, char *msg, size_t size)
{
	const char *colon = strrchr(rest, ':');
	size_t path_len;

	if (!colon)
		return fail(msg, size, "invalid address 'hvsock:%s': expected hvsock:PATH:PORT",
			    rest);
	if (parse_u32(colon + 1, strlen(colon + 1), &addr->port) < 0 || addr->port == VSOCK_ANY)
		return fail(msg, size, "invalid address 'hvsock:%s': the port must be a number "
			    "below 4294967295", rest);
	path_len = (size_t)(colon - rest);
	if (path_len == 0)
		return fail(msg, size, "invalid address 'hvsock:%s': the socket path is empty",
			    rest);
	if (path_len >= sizeof(addr->path))
		return fail(msg, size, "invalid address 'hvsock:%s': the socket path is longer "
			    "than 107 bytes", rest);
	memcpy(addr->path, rest, path_len);
	addr->path[path_len] = '\0';
	return 0;
}

int ember_address_parse(const char *text, struct ember_address *addr, char *message,
			size_t message_size)
{
	static const struct {
		const char *prefix;
		enum ember_transport transport;
		int (*parse)(const char *rest, struct ember_address *addr, char *msg, size_t size);
	} forms[] = {
		{ "unix:", EMBER_TRANSPORT_UNIX, parse_unix },
		{ "tcp:", EMBER_TRANSPORT_TCP, parse_tcp },
		{ "vsock:", EMBER_TRANSPORT_VSOCK, parse_vsock },
		{ "hvsock:", EMBER_TRANSPORT_HVSOCK, parse_hvsock },
	};

	memset(addr, 0, sizeof(*addr));
	if (strnlen(text, EMBER_ADDRESS_MAX) >= EMBER_ADDRESS_MAX)
		return fail(message, message_size, "invalid address: longer than %d bytes", EMBER_ADDRESS_MAX - 1);
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		size_t len = strlen(forms[i].prefix);

		if (strncmp(text, forms[i].prefix, len) == 0) {
			addr->transport = forms[i].transport;
			return forms[i].parse(text + len, addr, message, message_size);
		}
	}
	return fail(message, message_size, "invalid address '%s': expected unix:PATH, "
		    "tcp:HOST:PORT, vsock:CID:PORT or hvsock:PATH:PORT", text);
}
