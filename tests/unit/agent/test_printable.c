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

static void utf8_kept_invalid_replaced(void)
{
	char buf[64];

	printable_copy(buf, sizeof(buf), "jos\xc3\xa9 \xe2\x82\xac", 9);
	CHECK_STR(buf, "jos\xc3\xa9 \xe2\x82\xac");
	printable_copy(buf, sizeof(buf), "a\xff\xc3(\xed\xa0\x80\xc0\xaf", 10);
	CHECK_STR(buf, "a??" "(??????");
	printable_copy(buf, sizeof(buf), "\xe2\x82", 2);
	CHECK_STR(buf, "??");
}

static void cut_keeps_sequences_whole(void)
{
	char buf[8];

	printable_copy(buf, sizeof(buf), "ab\xe2\x82\xac\xe2\x82\xac", 8);
	CHECK_STR(buf, "ab...");
}

int main(void)
{
	RUN(plain_text_kept);
	RUN(control_bytes_replaced);
	RUN(long_text_cut_with_mark);
	RUN(utf8_kept_invalid_replaced);
	RUN(cut_keeps_sequences_whole);
	return check_summary("agent/printable");
}
