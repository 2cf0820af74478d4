/* The resume operation: host clock and entropy, resume hooks and the optional
 * signal to the entrypoint, on a worker thread. */
#include "resume_op.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "freeze.h"
#include "freeze_hooks.h"
#include "io.h"
#include "log.h"

struct resume_job {
	struct conn *conn;         /* NULL once the connection closed */
	const struct agent_options *options;
	struct resume_request request;
	bool run_hooks;
	struct resume_result result;
	char message[512];
};

int resume_op_take_host(struct conn *conn, const Ember__HostState *host,
			struct resume_request *request, bool *has_host)
{
	memset(request, 0, sizeof(*request));
	request->received_mono_ns = resume_monotonic_ns();
	*has_host = host != NULL;
	if (!host)
		return 0;
	if (host->entropy.len > RESUME_ENTROPY_MAX)
		return ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, EINVAL,
				   "entropy of %zu bytes exceeds the maximum of %u bytes",
				   host->entropy.len, RESUME_ENTROPY_MAX) - 1;
	request->host_wall_ns = host->wall_time_ns;
	if (host->entropy.len) {
		uint8_t *copy = malloc(host->entropy.len);

		if (!copy)
			return -ENOMEM;
		memcpy(copy, host->entropy.data, host->entropy.len);
		request->entropy = copy;
		request->entropy_len = host->entropy.len;
	}
	return 0;
}

static void run_resume_hooks(const struct agent_options *options, struct resume_result *result)
{
	struct hooks_report report;
	char dir[4096];
	int ret;

	snprintf(dir, sizeof(dir), "%s/resume.d", freeze_hooks_dir(options));
	ret = hooks_run(dir, "resume", HOOK_TIMEOUT_MS, false, &report);
	if (ret < 0)
		log_warn("failed to run the hooks in '%s': %s", dir, strerror(-ret));
	else if (ret > 0)
		log_warn("%s", report.failure);
	for (size_t i = 0; i < report.count && result->hooks_count < RESUME_NOTES_MAX; i++) {
		result->hooks[result->hooks_count++] = report.lines[i];
		report.lines[i] = NULL;
	}
	hooks_report_free(&report);
}

/* The entrypoint's pid from ember-init's status file, or -errno. */
static int entrypoint_pid(const struct agent_options *options)
{
	char path[4096], text[1024];
	const char *field;
	ssize_t len;
	long pid;

	snprintf(path, sizeof(path), "%s/status", freeze_run_dir(options));
	len = read_file(path, text, sizeof(text));
	if (len < 0)
		return (int)len;
	if (!strstr(text, "\"running\""))
		return -ESRCH;
	field = strstr(text, "\"pid\":");
	if (!field)
		return -ESRCH;
	pid = strtol(field + strlen("\"pid\":"), NULL, 10);
	return pid > 1 ? (int)pid : -ESRCH;
}

static void signal_entrypoint(const struct agent_options *options, struct resume_result *result)
{
	int signal_number = options->resume_signal;
	int pid = entrypoint_pid(options);

	if (pid < 0) {
		resume_add_skipped(result, "signal %d: no running entrypoint: %s", signal_number,
				   strerror(-pid));
		return;
	}
	if (kill(pid, signal_number) < 0)
		resume_add_skipped(result, "signal %d: failed to signal entrypoint pid %d: %s",
				   signal_number, pid, strerror(errno));
}

const char *resume_machine_blocked(const struct agent_options *options)
{
	if (!options->initial_pid_ns || !resume_pid_namespace_is_initial())
		return "the agent is not in the initial PID namespace";
	/* A standalone agent in the initial PID namespace may be a test or tool
	 * run on someone's machine: changing that machine's clock, RNG or
	 * network must be asked for. */
	if (!options->under_init && !options->machine_wide)
		return "the agent was not started by ember-init (start it with --machine-wide to "
		       "allow changes to this machine's clock, RNG and network)";
	return NULL;
}

int resume_op_apply(const struct agent_options *options, const struct resume_request *request,
		    bool run_hooks, struct resume_result *result, char *message, size_t size)
{
	const char *failed_step = "apply the host state";
	int ret;

	const char *blocked = resume_machine_blocked(options);

	ret = resume_apply(request, blocked, result, &failed_step);
	if (ret < 0) {
		snprintf(message, size, "failed to %s: %s", failed_step, strerror(-ret));
		return ret;
	}
	if (result->clock_set)
		log_info("resume: corrected a clock skew of %+.3f s",
			 (double)result->skew_ns / 1e9);
	if (run_hooks)
		run_resume_hooks(options, result);
	else
		resume_add_skipped(result, "resume hooks: not run while filesystems are frozen");
	if (options->resume_signal > 0)
		signal_entrypoint(options, result);
	return 0;
}

void resume_op_fill(struct resume_result *result, Ember__ResumeResponse *response)
{
	response->clock_skew_ns = result->skew_ns;
	response->clock_set = result->clock_set;
	response->entropy_bytes = result->entropy_bytes;
	response->reseeded = result->reseeded;
	response->skipped = result->skipped;
	response->n_skipped = result->skipped_count;
	response->hooks = result->hooks;
	response->n_hooks = result->hooks_count;
}

/* ------------------------------------------------------------ the operation */

static void resume_conn_closed(struct conn *conn, int err, void *data)
{
	struct resume_job *job = data;

	job->conn = NULL;
}

static int resume_work(void *data)
{
	struct resume_job *job = data;

	return resume_op_apply(job->options, &job->request, job->run_hooks, &job->result,
			       job->message, sizeof(job->message));
}

static void resume_done(struct agent *agent, int result, void *data)
{
	static const struct conn_handler none = { 0 };
	struct resume_job *job = data;
	struct conn *conn = job->conn;

	if (conn)
		conn_set_handler(conn, &none, NULL);
	if (!conn || conn_is_closing(conn)) {
		if (result < 0)
			log_warn("resume: %s", job->message);
	} else if (result < 0) {
		ember_error(conn, EMBER__CODE__CODE_INTERNAL, -result, "%s", job->message);
	} else {
		Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
		Ember__ResumeResponse response = EMBER__RESUME_RESPONSE__INIT;

		resume_op_fill(&job->result, &response);
		frame.kind_case = EMBER__AGENT_FRAME__KIND_RESUME;
		frame.resume = &response;
		conn_finish(conn, &frame);
	}
	resume_result_free(&job->result);
	free(job->request.entropy);
	free(job);
}

int op_resume(struct conn *conn, const Ember__Request *request)
{
	static const struct conn_handler handler = { .on_close = resume_conn_closed };
	struct resume_job *job = calloc(1, sizeof(*job));
	bool has_host;
	int ret;

	if (!job)
		return -ENOMEM;
	ret = resume_op_take_host(conn, request->resume ? request->resume->host : NULL,
				  &job->request, &has_host);
	if (ret < 0) {
		free(job);
		return ret == -1 ? 0 : ret;
	}
	job->conn = conn;
	job->options = conn_options(conn);
	/* Hooks run from disk, which must not happen while it is frozen. */
	job->run_hooks = !freeze_active();
	conn_set_handler(conn, &handler, job);
	ret = agent_run_work(conn_agent(conn), resume_work, resume_done, job);
	if (ret < 0) {
		conn_set_handler(conn, &(struct conn_handler){ 0 }, NULL);
		free(job->request.entropy);
		free(job);
	}
	return ret;
}
