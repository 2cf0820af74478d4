/* Printable copies of peer-supplied text for log lines, so that a client
 * name or an argv[0] cannot forge extra lines or terminal escapes. */
#ifndef EMBER_AGENT_PRINTABLE_H
#define EMBER_AGENT_PRINTABLE_H

#include <stddef.h>

/* Copies at most size - 1 bytes of src (len bytes) into dst, replacing
 * control bytes and DEL with '?' and marking a cut with "...". */
void printable_copy(char *dst, size_t size, const char *src, size_t len);

#endif
