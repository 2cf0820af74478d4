/* emberctl's option parsers: seconds, byte offsets, signals and -e entries. */
#include <signal.h>
#include <stdlib.h>

#include "check.h"
#include "cli.h"

static void test_parse_seconds(void)
{
	uint32_t ms = 0;

	CHECK_INT(parse_seconds("10", &ms), 0);
	CHECK_INT(ms, 10000);
	CHECK_INT(parse_seconds("0.5", &ms), 0);
	CHECK_INT(ms, 500);
	CHECK_INT(parse_seconds("0", &ms), 0);
	CHECK_INT(ms, 0);
	CHECK_INT(parse_seconds("0.0004", &ms), 0);
	CHECK_INT(ms, 0);
	CHECK_INT(parse_seconds("-1", &ms), -22);
	CHECK_INT(parse_seconds("+1", &ms), -22);
	CHECK_INT(parse_seconds("", &ms), -22);
	CHECK_INT(parse_seconds("1s", &ms), -22);
	CHECK_INT(parse_seconds("nan", &ms), -22);
	CHECK_INT(parse_seconds("5000000", &ms), -22);
}

static void test_parse_u64(void)
{
	uint64_t value = 0;

	CHECK_INT(parse_u64("18446744073709551615", &value), 0);
	CHECK(value == UINT64_MAX);
	CHECK_INT(parse_u64("18446744073709551616", &value), -22);
	CHECK_INT(parse_u64("-1", &value), -22);
	CHECK_INT(parse_u64("12x", &value), -22);
	CHECK_INT(parse_u64(" 1", &value), -22);
}

static void test_parse_signal(void)
{
	int number = 0;

	CHECK_INT(parse_signal("TERM", &number), 0);
	CHECK_INT(number, SIGTERM);
	CHECK_INT(parse_signal("SIGKILL", &number), 0);
	CHECK_INT(number, SIGKILL);
	CHECK_INT(parse_signal("WINCH", &number), 0);
	CHECK_INT(number, SIGWINCH);
	CHECK_INT(parse_signal("9", &number), 0);
	CHECK_INT(number, 9);
	CHECK_INT(parse_signal("64", &number), 0);
	CHECK_INT(parse_signal("65", &number), -22);
	CHECK_INT(parse_signal("0", &number), -22);
	/* Names match in any case, as in the boot config's stop_signal. */
	CHECK_INT(parse_signal("term", &number), 0);
	CHECK_INT(number, SIGTERM);
	CHECK_INT(parse_signal("TERMX", &number), -22);
	CHECK_INT(parse_signal("SIG", &number), -22);
}

static void test_env_entry(void)
{
	char with_value[] = "K=a=b", empty[] = "EMPTY=", no_key[] = "=v", inherited[] = "EMBER_UNIT";
	char missing[] = "EMBER_UNIT_MISSING";

	CHECK_STR(env_entry(with_value), "K=a=b");
	CHECK_STR(env_entry(empty), "EMPTY=");
	CHECK(env_entry(no_key) == NULL);
	setenv("EMBER_UNIT", "from env", 1);
	CHECK_STR(env_entry(inherited), "EMBER_UNIT=from env");
	CHECK(env_entry(missing) == NULL);
}

static void test_string_list_limit(void)
{
	struct string_list list = { 0 };
	char item[] = "x";
	int r = 0;

	for (int i = 0; i < CLI_LIST_MAX && r == 0; i++)
		r = string_list_add(&list, item);
	CHECK_INT(r, 0);
	CHECK_INT(list.count, CLI_LIST_MAX);
	CHECK(list.items[CLI_LIST_MAX] == NULL);
	CHECK_INT(string_list_add(&list, item), -7);
	string_list_free(&list);
	CHECK_INT(list.count, 0);
}

int main(void)
{
	RUN(test_parse_seconds);
	RUN(test_parse_u64);
	RUN(test_parse_signal);
	RUN(test_env_entry);
	RUN(test_string_list_limit);
	return check_summary("host/test_cli");
}
