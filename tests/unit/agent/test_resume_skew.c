/* Unit tests of the resume clock arithmetic and the actions reported outside
 * the initial PID namespace (which change nothing on the machine). */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "op.h"
#include "resume.h"
#include "resume_op.h"

#define SEC 1000000000LL

static void test_skew_sign(void)
{
	CHECK_INT(resume_clock_skew(100 * SEC, 220 * SEC), -120 * SEC);
	CHECK_INT(resume_clock_skew(220 * SEC, 100 * SEC), 120 * SEC);
	CHECK_INT(resume_clock_skew(5, 5), 0);
}

static void test_threshold(void)
{
	CHECK(!resume_skew_needs_correction(0));
	CHECK(!resume_skew_needs_correction(RESUME_CLOCK_SKEW_MAX_NS));
	CHECK(!resume_skew_needs_correction(-RESUME_CLOCK_SKEW_MAX_NS));
	CHECK(resume_skew_needs_correction(RESUME_CLOCK_SKEW_MAX_NS + 1));
	CHECK(resume_skew_needs_correction(-RESUME_CLOCK_SKEW_MAX_NS - 1));
	CHECK(resume_skew_needs_correction(-120 * SEC));
}

static void test_corrected_time_adds_elapsed(void)
{
	CHECK_INT(resume_corrected_time(1000 * SEC, 5 * SEC, 7 * SEC), 1002 * SEC);
	/* A monotonic clock that reads earlier than the arrival adds nothing. */
	CHECK_INT(resume_corrected_time(1000 * SEC, 7 * SEC, 5 * SEC), 1000 * SEC);
}

static void test_not_initial_namespace_reports(void)
{
	uint8_t entropy[32] = { 1, 2, 3 };
	struct resume_request request = {
		.host_wall_ns = resume_realtime_ns() + 120 * SEC,
		.received_mono_ns = resume_monotonic_ns(),
		.entropy = entropy,
		.entropy_len = sizeof(entropy),
	};
	struct resume_result result;
	const char *step = NULL;

	CHECK_INT(resume_apply(&request, "not in the initial PID namespace", &result, &step), 0);
	CHECK(result.skew_ns < -119 * SEC);
	CHECK(result.skew_ns > -121 * SEC);
	CHECK(!result.clock_set);
	CHECK_INT(result.entropy_bytes, 0);
	CHECK(!result.reseeded);
	CHECK_INT(result.skipped_count, 2);
	CHECK(strstr(result.skipped[0], "clock: not set") != NULL);
	CHECK(strstr(result.skipped[1], "32 bytes not added") != NULL);
	resume_result_free(&result);
}

static void test_small_skew_left_alone(void)
{
	struct resume_request request = {
		.host_wall_ns = resume_realtime_ns(),
		.received_mono_ns = resume_monotonic_ns(),
	};
	struct resume_result result;
	const char *step = NULL;

	CHECK_INT(resume_apply(&request, "not in the initial PID namespace", &result, &step), 0);
	CHECK(!result.clock_set);
	CHECK_INT(result.skipped_count, 1);
	CHECK(strstr(result.skipped[0], "entropy: the request carried none") != NULL);
	resume_result_free(&result);
}

static void test_entropy_limit(void)
{
	static uint8_t entropy[RESUME_ENTROPY_MAX + 1];
	struct resume_request request = {
		.entropy = entropy,
		.entropy_len = sizeof(entropy),
	};
	struct resume_result result;
	const char *step = NULL;

	CHECK_INT(resume_apply(&request, "not in the initial PID namespace", &result, &step), -EINVAL);
}

/* Machine-wide actions need ember-init or --machine-wide, and the initial PID
 * namespace; this only computes the decision and changes nothing. */
static void test_machine_actions_need_init_or_option(void)
{
	struct agent_options options = { .initial_pid_ns = resume_pid_namespace_is_initial() };
	const char *blocked = resume_machine_blocked(&options);

	CHECK(blocked != NULL);
	if (!options.initial_pid_ns) {
		CHECK(strstr(blocked, "initial PID namespace") != NULL);
		return;
	}
	CHECK(strstr(blocked, "--machine-wide") != NULL);
	options.machine_wide = true;
	CHECK(resume_machine_blocked(&options) == NULL);
	options.machine_wide = false;
	options.under_init = true;
	CHECK(resume_machine_blocked(&options) == NULL);
}

int main(void)
{
	RUN(test_skew_sign);
	RUN(test_threshold);
	RUN(test_corrected_time_adds_elapsed);
	RUN(test_not_initial_namespace_reports);
	RUN(test_small_skew_left_alone);
	RUN(test_entropy_limit);
	RUN(test_machine_actions_need_init_or_option);
	return check_summary("test_resume_skew");
}
