/* Printable copies of peer-supplied text for log lines and Error messages,
 * so that a client name or an argv[0] cannot forge extra log lines or
 * terminal escapes, and a message stays valid UTF-8 as proto3 strings must
 * be. */
#ifndef EMBER_AGENT_PRINTABLE_H
#define EMBER_AGENT_PRINTABLE_H

#include <stddef.h>

/* Copies at most size - 1 bytes of src (len bytes) into dst, replacing
 * control bytes, DEL and bytes that are not valid UTF-8 with '?', and
 * marking a cut with "...". */
void printable_copy(char *dst, size_t size, const char *src, size_t len);

#endif
