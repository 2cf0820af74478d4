/* Printable copies for log lines and Error messages. */
#include "printable.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 when the
 * bytes there are not one (RFC 3629: no overlong forms, no surrogates, at
 * most U+10FFFF). */
static size_t utf8_sequence(const uint8_t *s, size_t len)
{
	uint8_t lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

void printable_copy(char *dst, size_t size, const char *src, size_t len)
{
	const uint8_t *in = (const uint8_t *)src;
	size_t out = 0, i = 0;
	bool cut = false;

	if (size == 0)
		return;
	while (i < len) {
		size_t n = utf8_sequence(in + i, len - i);

		if (out + (n ? n : 1) > size - 1) {
			cut = true;
			break;
		}
		if (n == 0 || (n == 1 && (in[i] < 0x20 || in[i] == 0x7f))) {
			dst[out++] = '?';
			i += n ? n : 1;
			continue;
		}
		memcpy(dst + out, in + i, n);
		out += n;
		i += n;
	}
	dst[out] = '\0';
	/* Mark the cut, on a character boundary: back up over continuation
	 * bytes so the "..." never splits a sequence. */
	if (cut && size > 4) {
		size_t at = out < size - 4 ? out : size - 4;

		while (at > 0 && ((uint8_t)dst[at] & 0xc0) == 0x80)
			at--;
		memcpy(dst + at, "...", 4);
	}
}
