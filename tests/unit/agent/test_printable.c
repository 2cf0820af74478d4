/* Unit tests for printable copies of peer-supplied text. */
#include <string.h>

#include "check.h"
#include "printable.h"

static void plain_text_kept(void)
{
	char buf[32];

	printable_copy(buf, sizeof(buf), "emberctl/0.1", 12);
	CHECK_STR(buf, "emberctl/0.1");
}

static void control_bytes_replaced(void)
{
	char buf[32];

	printable_copy(buf, sizeof(buf), "a\nb\x1b[31m\x7f", 9);
	CHECK_STR(buf, "a?b?[31m?");
}

static void long_text_cut_with_mark(void)
{
	char buf[8];

	printable_copy(buf, sizeof(buf), "abcdefghijkl", 12);
	CHECK_STR(buf, "abcd...");
	printable_copy(buf, sizeof(buf), "abcdefg", 7);
	CHECK_STR(buf, "abcdefg");
}

int main(void)
{
	RUN(plain_text_kept);
	RUN(control_bytes_replaced);
	RUN(long_text_cut_with_mark);
	return check_summary("agent/printable");
}
