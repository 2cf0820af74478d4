/* The net_config operation: re-addressing one interface over rtnetlink
 * (libnl-route), for clones restored from one snapshot that must not share
 * a MAC or an address. It acts on the agent's own network namespace. */
#ifndef EMBER_NETCONFIG_H
#define EMBER_NETCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Addresses or routes one request may carry. */
#define NETCONFIG_ENTRIES_MAX 64
/* Maximum length of an address, route or MAC string (bytes, NUL included). */
#define NETCONFIG_STRING_MAX 128

/* Parses "aa:bb:cc:dd:ee:ff" into mac. Returns 0, or -EINVAL for another
 * format or a multicast address (the low bit of the first byte set). */
int netconfig_parse_mac(const char *text, uint8_t mac[6]);

/* Splits "default via GW" or "NET/LEN via GW" into its destination ("default"
 * or "NET/LEN") and gateway, copied into dst and gateway of size bytes each.
 * Returns 0 or -EINVAL. */
int netconfig_parse_route(const char *text, char *dst, char *gateway, size_t size);

#endif
