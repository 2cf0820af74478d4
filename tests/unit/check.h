/* A minimal unit-test harness: RUN(fn) calls a test function, CHECK marks the
 * current test failed with the file, line and expression, and check_summary()
 * prints "NAME: N passed, N failed" and returns the exit status. */
#ifndef EMBER_CHECK_H
#define EMBER_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_tests_passed, check_tests_failed, check_current_failed;

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			check_current_failed = 1;                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,      \
				#cond);                                                       \
		}                                                                             \
	} while (0)

#define CHECK_INT(actual, expected)                                                           \
	do {                                                                                  \
		long long check_a = (long long)(actual), check_e = (long long)(expected);     \
		if (check_a != check_e) {                                                     \
			check_current_failed = 1;                                             \
			fprintf(stderr, "%s:%d: %s is %lld, expected %lld\n", __FILE__,       \
				__LINE__, #actual, check_a, check_e);                         \
		}                                                                             \
	} while (0)

#define CHECK_STR(actual, expected)                                                           \
	do {                                                                                  \
		const char *check_a = (actual), *check_e = (expected);                        \
		if (!check_a || !check_e || strcmp(check_a, check_e) != 0) {                  \
			check_current_failed = 1;                                             \
			fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__,   \
				__LINE__, #actual, check_a ? check_a : "(null)",              \
				check_e ? check_e : "(null)");                                \
		}                                                                             \
	} while (0)

#define RUN(fn)                                                                               \
	do {                                                                                  \
		check_current_failed = 0;                                                     \
		fn();                                                                         \
		if (check_current_failed) {                                                   \
			check_tests_failed++;                                                 \
			fprintf(stderr, "FAIL %s\n", #fn);                                    \
		} else {                                                                      \
			check_tests_passed++;                                                 \
		}                                                                             \
	} while (0)

static inline int check_summary(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, check_tests_passed, check_tests_failed);
	return check_tests_failed ? 1 : 0;
}

#endif
