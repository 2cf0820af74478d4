/* Printable copies for log lines. */
#include "printable.h"

#include <string.h>

void printable_copy(char *dst, size_t size, const char *src, size_t len)
{
	size_t n = len < size - 1 ? len : size - 1;

	if (size == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		unsigned char byte = (unsigned char)src[i];

		dst[i] = byte < 0x20 || byte == 0x7f ? '?' : (char)byte;
	}
	dst[n] = '\0';
	if (n < len && size > 4)
		memcpy(dst + size - 4, "...", 4);
}
