/* Unit tests for building a child's environment. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "env.h"

#define BYTES(s) { (const uint8_t *)(s), sizeof(s) - 1 }

static size_t count(char **envp)
{
	size_t n = 0;

	while (envp[n])
		n++;
	return n;
}

static void entries_override_base(void)
{
	const char *base[] = { "PATH=/bin", "A=1", "HOME=/old", NULL };
	struct env_bytes entries[] = { BYTES("A=2"), BYTES("B=x=y"), BYTES("EMPTY=") };
	struct env_spec spec = { .base = base, .home = "/home/alice", .entries = entries,
				 .entry_count = 3 };
	char **envp = NULL;
	size_t bad = 99;

	CHECK_INT(env_build(&spec, &envp, &bad), 0);
	CHECK_STR(env_get(envp, "PATH"), "/bin");
	CHECK_STR(env_get(envp, "A"), "2");
	CHECK_STR(env_get(envp, "B"), "x=y");
	CHECK_STR(env_get(envp, "EMPTY"), "");
	CHECK_STR(env_get(envp, "HOME"), "/home/alice");
	CHECK_INT(count(envp), 5);
	env_free(envp);
}

static void request_home_wins(void)
{
	struct env_bytes entries[] = { BYTES("HOME=/custom") };
	struct env_spec spec = { .home = "/root", .entries = entries, .entry_count = 1 };
	char **envp = NULL;
	size_t bad;

	CHECK_INT(env_build(&spec, &envp, &bad), 0);
	CHECK_STR(env_get(envp, "HOME"), "/custom");
	env_free(envp);
}

static void missing_path_gets_default(void)
{
	struct env_spec spec = { .term = "xterm-256color" };
	char **envp = NULL;
	size_t bad;

	CHECK_INT(env_build(&spec, &envp, &bad), 0);
	CHECK_STR(env_get(envp, "PATH"), ENV_DEFAULT_PATH);
	CHECK_STR(env_get(envp, "TERM"), "xterm-256color");
	CHECK(env_get(envp, "HOME") == NULL);
	env_free(envp);
}

static void exact_bytes_survive(void)
{
	static const uint8_t raw[] = { 'K', '=', 'a', '\n', 'b', 0xff, 0xfe, '=' };
	struct env_bytes entries[] = { { raw, sizeof(raw) } };
	struct env_spec spec = { .entries = entries, .entry_count = 1 };
	char **envp = NULL;
	size_t bad;

	CHECK_INT(env_build(&spec, &envp, &bad), 0);
	CHECK(memcmp(env_get(envp, "K"), "a\nb\xff\xfe=", 6) == 0);
	CHECK_INT(strlen(env_get(envp, "K")), 6);
	env_free(envp);
}

static void bad_entries_rejected(void)
{
	static const uint8_t with_nul[] = { 'A', '=', 'x', 0, 'y' };
	struct env_bytes cases[][2] = {
		{ BYTES("OK=1"), BYTES("NOEQUALS") },
		{ BYTES("OK=1"), BYTES("=value") },
		{ BYTES("OK=1"), { with_nul, sizeof(with_nul) } },
	};

	for (size_t i = 0; i < 3; i++) {
		struct env_spec spec = { .entries = cases[i], .entry_count = 2 };
		char **envp = NULL;
		size_t bad = 99;

		CHECK_INT(env_build(&spec, &envp, &bad), -EINVAL);
		CHECK_INT(bad, 1);
		CHECK(envp == NULL);
	}
}

static void same_key_prefix_kept_apart(void)
{
	const char *base[] = { "AB=1", "A=2", NULL };
	struct env_bytes entries[] = { BYTES("A=3") };
	struct env_spec spec = { .base = base, .entries = entries, .entry_count = 1 };
	char **envp = NULL;
	size_t bad;

	CHECK_INT(env_build(&spec, &envp, &bad), 0);
	CHECK_STR(env_get(envp, "AB"), "1");
	CHECK_STR(env_get(envp, "A"), "3");
	env_free(envp);
}

int main(void)
{
	RUN(entries_override_base);
	RUN(request_home_wins);
	RUN(missing_path_gets_default);
	RUN(exact_bytes_survive);
	RUN(bad_entries_rejected);
	RUN(same_key_prefix_kept_apart);
	return check_summary("agent/env");
}
