/* The freeze, thaw and fs_status operations: request checks on the loop
 * thread, the blocking steps on a worker thread, and the agent-wide state with
 * its auto-thaw timer. */
#include "freeze.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "control.h"
#include "freeze_cgroup.h"
#include "freeze_engine.h"
#include "freeze_hooks.h"
#include "freeze_mounts.h"
#include "freeze_reply.h"
#include "io.h"
#include "log.h"
#include "resume.h"
#include "resume_op.h"

/* PHASE_FROZEN means a freeze succeeded and no thaw has finished yet. Its
 * freeze hooks ran, so a thaw or the auto-thaw must still run the thaw hooks,
 * even when every mount was skipped and nothing is actually frozen (see
 * holds_frozen()). */
enum freeze_phase {
	PHASE_THAWED,
	PHASE_FREEZING,
	PHASE_FROZEN,
	PHASE_THAWING,
};

/* The agent-wide state; touched only on the loop thread. While a job runs,
 * the job owns the plan. */
static struct {
	enum freeze_phase phase;
	struct freeze_plan plan;
	bool processes_frozen;
	uint64_t deadline_ms;      /* monotonic_ms() of the auto-thaw */
	unsigned int timeout_s;
	uint64_t timer;
} state;

/* One freeze or thaw on the worker thread. */
struct freeze_job {
	struct conn *conn;         /* NULL once the connection closed */
	const struct agent_options *options;
	bool automatic;            /* an auto-thaw, not a request */
	bool was_frozen;           /* thaw: something was frozen, so thaw hooks run */

	/* freeze input */
	char **paths;
	size_t path_count;
	bool processes;
	bool initial_pid_ns;       /* the agent runs in the initial PID namespace */
	/* The plan may cover the agent's own filesystem: a guest's agent under
	 * ember-init, or one started with --freeze-all. */
	bool own_fs_allowed;

	/* thaw input */
	bool has_host;
	struct resume_request resume;

	/* results */
	struct freeze_plan plan;
	bool processes_frozen;
	struct hooks_report hooks;
	struct resume_result resume_result;
	int err;                   /* positive errno of the failure, 0 when none */
	Ember__Code code;
	char message[4400];
	const char *error_path;    /* points into plan or paths */
};

static void arm_deadline(struct agent *agent);

/* Returns whether the state's plan has a frozen filesystem or the workload
 * cgroup is frozen. Only then are exec and copies rejected. */
static bool holds_frozen(void)
{
	if (state.processes_frozen)
		return true;
	for (size_t i = 0; i < state.plan.count; i++) {
		if (state.plan.targets[i].state == FREEZE_TARGET_FROZEN)
			return true;
	}
	return false;
}

bool freeze_active(void)
{
	if (state.phase == PHASE_FROZEN)
		return holds_frozen();
	return state.phase != PHASE_THAWED;
}

static size_t count_frozen(const struct freeze_plan *plan)
{
	size_t count = 0;

	for (size_t i = 0; i < plan->count; i++)
		count += plan->targets[i].state == FREEZE_TARGET_FROZEN;
	return count;
}

const char *freeze_run_dir(const struct agent_options *options)
{
	return options && options->run_dir ? options->run_dir : EMBER_RUN_DIR;
}

const char *freeze_hooks_dir(const struct agent_options *options)
{
	return options && options->hooks_dir ? options->hooks_dir : HOOKS_DIR_DEFAULT;
}

const char *freeze_workload_cgroup(const struct agent_options *options)
{
	return options && options->workload_cgroup ? options->workload_cgroup : CGROUP_WORKLOAD;
}

static void job_fail(struct freeze_job *job, int err, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void job_fail(struct freeze_job *job, int err, const char *path, const char *fmt, ...)
{
	va_list ap;

	job->err = err;
	job->code = freeze_reply_code(err);
	job->error_path = path;
	va_start(ap, fmt);
	vsnprintf(job->message, sizeof(job->message), fmt, ap);
	va_end(ap);
}

static void job_free(struct freeze_job *job)
{
	for (size_t i = 0; i < job->path_count; i++)
		free(job->paths[i]);
	free(job->paths);
	free(job->resume.entropy);
	freeze_plan_free(&job->plan);
	hooks_report_free(&job->hooks);
	resume_result_free(&job->resume_result);
	free(job);
}

static void job_conn_closed(struct conn *conn, int err, void *data)
{
	struct freeze_job *job = data;

	job->conn = NULL;
}

/* Detaches the job from its connection. Returns the connection to send the
 * reply on, or NULL when the client has gone. */
static struct conn *job_take_conn(struct freeze_job *job)
{
	static const struct conn_handler none = { 0 };
	struct conn *conn = job->conn;

	if (conn)
		conn_set_handler(conn, &none, NULL);
	job->conn = NULL;
	return conn && !conn_is_closing(conn) ? conn : NULL;
}

static void job_send_error(struct freeze_job *job)
{
	struct conn *conn = job_take_conn(job);

	if (!conn) {
		log_warn("%s", job->message);
		return;
	}
	ember_error_path(conn, job->code, job->err, job->error_path, "%s", job->message);
}

/* ------------------------------------------------------------ worker steps */

static int hooks_path(const struct freeze_job *job, char *path, size_t size)
{
	int n = snprintf(path, size, "%s/freeze.d", freeze_hooks_dir(job->options));

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Resolves the requested paths and builds the plan from mountinfo. */
static int build_plan(struct freeze_job *job)
{
	const char *bad_path = NULL;
	char *mountinfo;
	ssize_t len;
	int ret;

	for (size_t i = 0; i < job->path_count; i++) {
		char *resolved = realpath(job->paths[i], NULL);

		if (!resolved) {
			ret = errno;
			job_fail(job, ret, job->paths[i], "failed to resolve mount point '%s': %s",
				 job->paths[i], strerror(ret));
			return -ret;
		}
		free(job->paths[i]);
		job->paths[i] = resolved;
	}
	mountinfo = malloc(FREEZE_MOUNTINFO_MAX);
	if (!mountinfo)
		return -ENOMEM;
	len = read_file("/proc/self/mountinfo", mountinfo, FREEZE_MOUNTINFO_MAX);
	if (len < 0) {
		free(mountinfo);
		job_fail(job, (int)-len, NULL, "failed to read /proc/self/mountinfo: %s",
			 strerror((int)-len));
		return (int)len;
	}
	ret = freeze_plan_build(mountinfo, (const char *const *)job->paths, job->path_count,
				&job->plan, &bad_path);
	free(mountinfo);
	if (ret == -EINVAL)
		job_fail(job, EINVAL, bad_path,
			 "'%s' is not a mount point: name the mount point itself", bad_path);
	else if (ret < 0)
		job_fail(job, -ret, NULL, "failed to plan the freeze: %s", strerror(-ret));
	return ret;
}

/* Runs the freeze.d hooks with arg; a failure of a "freeze" run fails the job. */
static int run_hooks(struct freeze_job *job, const char *arg)
{
	struct hooks_report report;
	char dir[4096];
	int ret = hooks_path(job, dir, sizeof(dir));

	if (ret < 0)
		return ret;
	ret = hooks_run(dir, arg, HOOK_TIMEOUT_MS, strcmp(arg, "freeze") == 0, &report);
	for (size_t i = 0; i < report.count; i++) {
		char **bigger = realloc(job->hooks.lines, (job->hooks.count + 1) * sizeof(*bigger));

		if (!bigger)
			break;
		job->hooks.lines = bigger;
		job->hooks.lines[job->hooks.count++] = report.lines[i];
		report.lines[i] = NULL;
	}
	if (ret > 0 && strcmp(arg, "freeze") == 0)
		job_fail(job, ECANCELED, NULL, "%s; nothing was frozen", report.failure);
	else if (ret > 0)
		log_warn("%s", report.failure);
	else if (ret == -E2BIG && strcmp(arg, "freeze") == 0)
		job_fail(job, E2BIG, NULL,
			 "failed to run the hooks in '%s': more than the maximum of %d hooks",
			 dir, HOOKS_MAX);
	else if (ret < 0 && strcmp(arg, "freeze") == 0)
		job_fail(job, -ret, NULL, "failed to run the hooks in '%s': %s", dir,
			 strerror(-ret));
	else if (ret < 0)
		log_warn("failed to run the hooks in '%s': %s", dir, strerror(-ret));
	hooks_report_free(&report);
	return ret;
}

/* Undoes the steps before FIFREEZE after a later step failed. */
static void undo_before_fs(struct freeze_job *job)
{
	if (job->processes_frozen) {
		int ret = freeze_cgroup_set(freeze_workload_cgroup(job->options), false,
					    FREEZE_CGROUP_TIMEOUT_MS);

		if (ret < 0)
			log_error("failed to thaw the workload cgroup '%s': %s",
				  freeze_workload_cgroup(job->options), strerror(-ret));
		else
			job->processes_frozen = false;
	}
	run_hooks(job, "thaw");
}

static int freeze_filesystems(struct freeze_job *job)
{
	const char *run_dir = freeze_run_dir(job->options);
	size_t failed = 0;
	int ret;

	ret = freeze_plan_open(&job->plan, &failed);
	if (ret < 0) {
		struct freeze_target *target = &job->plan.targets[failed];

		job_fail(job, -ret, target->mountpoint, "failed to open '%s': %s",
			 target->mountpoint, strerror(-ret));
		return ret;
	}

	/* The record goes first, so that ember-init or a restarted agent can
	 * thaw whatever this freeze leaves behind. */
	ret = freeze_record_write(run_dir, &job->plan);
	if (ret < 0) {
		job_fail(job, -ret, NULL, "failed to write '%s/%s': %s", run_dir,
			 FREEZE_RECORD_NAME, strerror(-ret));
		return ret;
	}
	ret = freeze_plan_freeze(&job->plan, &failed);
	if (ret < 0) {
		struct freeze_target *target = &job->plan.targets[failed];

		job_fail(job, -ret, target->mountpoint,
			 "failed to freeze '%s': %s; the filesystems frozen before it were thawed",
			 target->mountpoint, strerror(-ret));
		freeze_record_remove(run_dir);
	}
	return ret;
}

/* Rejects a plan that covers the filesystem holding the agent's own
 * executable, unless the agent may freeze it (own_fs_allowed). An agent run
 * by hand on a development machine runs from its build tree, so that
 * filesystem is usually the machine's root, whose freeze hangs the machine. */
static int check_own_filesystem(struct freeze_job *job)
{
	struct stat st;

	if (stat("/proc/self/exe", &st) < 0) {
		int err = errno;

		job_fail(job, err, NULL, "failed to stat /proc/self/exe: %s", strerror(err));
		return -err;
	}
	for (size_t i = 0; i < job->plan.count; i++) {
		const struct freeze_target *target = &job->plan.targets[i];

		/* NOTE: btrfs reports a per-subvolume st_dev that differs from the
		 * mountinfo device, so there this check can miss. */
		if (target->state == FREEZE_TARGET_SKIPPED || target->dev != st.st_dev)
			continue;
		if (!job->initial_pid_ns)
			job_fail(job, EPERM, target->mountpoint,
				 "freezing '%s' is not allowed outside the initial PID namespace: "
				 "it contains the agent's own executable, most likely the "
				 "machine's root filesystem", target->mountpoint);
		else
			job_fail(job, EPERM, target->mountpoint,
				 "freezing '%s' needs --freeze-all or the boot config's "
				 "freeze_all, because it contains the agent's own executable: "
				 "outside a guest, that is most likely the machine's root "
				 "filesystem", target->mountpoint);
		return -EPERM;
	}
	return 0;
}

static int freeze_work(void *data)
{
	struct freeze_job *job = data;
	int ret;

	ret = build_plan(job);
	if (ret == 0 && !job->own_fs_allowed)
		ret = check_own_filesystem(job);
	if (ret < 0)
		return ret;
	ret = run_hooks(job, "freeze");
	if (ret != 0) {
		run_hooks(job, "thaw");
		return ret < 0 ? ret : -ECANCELED;
	}
	if (job->processes) {
		const char *cgroup = freeze_workload_cgroup(job->options);

		ret = freeze_cgroup_set(cgroup, true, FREEZE_CGROUP_TIMEOUT_MS);
		if (ret < 0) {
			job_fail(job, -ret, NULL, "failed to freeze the workload cgroup '%s': %s",
				 cgroup, strerror(-ret));
			run_hooks(job, "thaw");
			return ret;
		}
		job->processes_frozen = true;
	}
	ret = freeze_filesystems(job);
	if (ret < 0)
		undo_before_fs(job);
	return ret;
}

static int thaw_work(void *data)
{
	struct freeze_job *job = data;
	const char *cgroup = freeze_workload_cgroup(job->options);
	size_t failed = 0;
	int ret;

	ret = freeze_plan_thaw(&job->plan, &failed);
	if (ret < 0) {
		struct freeze_target *target = &job->plan.targets[failed];

		job_fail(job, -ret, target->mountpoint, "failed to thaw '%s': %s",
			 target->mountpoint, strerror(-ret));
		return ret;
	}
	ret = freeze_record_remove(freeze_run_dir(job->options));
	if (ret < 0)
		log_warn("failed to remove the freeze record in '%s': %s",
			 freeze_run_dir(job->options), strerror(-ret));
	if (job->processes_frozen) {
		ret = freeze_cgroup_set(cgroup, false, FREEZE_CGROUP_TIMEOUT_MS);
		if (ret < 0) {
			job_fail(job, -ret, NULL, "failed to thaw the workload cgroup '%s': %s",
				 cgroup, strerror(-ret));
			return ret;
		}
		job->processes_frozen = false;
	}
	if (job->was_frozen)
		run_hooks(job, "thaw");
	if (!job->has_host)
		return 0;
	ret = resume_op_apply(job->options, &job->resume, true, &job->resume_result,
			      job->message, sizeof(job->message));
	if (ret < 0)
		job_fail(job, -ret, NULL, "%s", job->message);
	return ret;
}

/* ------------------------------------------------------------ loop side */

static void send_freeze_response(struct freeze_job *job)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__FreezeResponse response = EMBER__FREEZE_RESPONSE__INIT;
	struct conn *conn = job_take_conn(job);

	if (!conn)
		return;
	response.mounts = freeze_reply_mounts(&state.plan, &response.n_mounts);
	response.deadline_ms = state.timeout_s * 1000ull;
	response.processes_frozen = state.processes_frozen;
	response.hooks = job->hooks.lines;
	response.n_hooks = job->hooks.count;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_FREEZE;
	frame.freeze = &response;
	conn_finish(conn, &frame);
	freeze_reply_mounts_free(response.mounts, response.n_mounts);
}

/* Marks the targets a failed freeze never reached as THAWED, so that
 * fs_status reports them as not frozen rather than as still to be frozen. */
static void settle_failed_plan(struct freeze_plan *plan)
{
	for (size_t i = 0; i < plan->count; i++) {
		if (plan->targets[i].state == FREEZE_TARGET_PENDING)
			plan->targets[i].state = FREEZE_TARGET_THAWED;
	}
}

static void freeze_done(struct agent *agent, int result, void *data)
{
	struct freeze_job *job = data;

	if (result < 0) {
		/* Keep the failed plan, so fs_status shows what was rolled back. */
		freeze_plan_free(&state.plan);
		state.plan = job->plan;
		memset(&job->plan, 0, sizeof(job->plan));
		settle_failed_plan(&state.plan);
		freeze_plan_close_unfrozen(&state.plan);
		state.processes_frozen = job->processes_frozen;

		/* A rollback that failed leaves something frozen: keep the
		 * deadline, so the auto-thaw retries it. */
		state.phase = holds_frozen() ? PHASE_FROZEN : PHASE_THAWED;
		agent_set_frozen(agent, state.phase == PHASE_FROZEN);
		if (state.phase == PHASE_FROZEN)
			arm_deadline(agent);
		if (job->err == 0)
			job_fail(job, -result, NULL, "failed to freeze: %s", strerror(-result));
		job_send_error(job);
		job_free(job);
		return;
	}
	freeze_plan_free(&state.plan);
	state.plan = job->plan;
	memset(&job->plan, 0, sizeof(job->plan));
	freeze_plan_close_unfrozen(&state.plan);
	state.processes_frozen = job->processes_frozen;
	state.phase = PHASE_FROZEN;
	agent_set_frozen(agent, holds_frozen());
	arm_deadline(agent);
	log_info("%s: froze %zu of %zu mounts, auto-thaw in %u s",
		 job->conn ? conn_id(job->conn) : "-", count_frozen(&state.plan),
		 state.plan.count, state.timeout_s);
	send_freeze_response(job);
	job_free(job);
}

static void send_thaw_response(struct freeze_job *job)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__ThawResponse response = EMBER__THAW_RESPONSE__INIT;
	Ember__ResumeResponse resume = EMBER__RESUME_RESPONSE__INIT;
	struct conn *conn = job_take_conn(job);

	if (!conn)
		return;
	/* A thaw with nothing frozen lists no mounts. fs_status still shows the
	 * last freeze's mounts. */
	if (job->was_frozen)
		response.mounts = freeze_reply_mounts(&state.plan, &response.n_mounts);
	response.hooks = job->hooks.lines;
	response.n_hooks = job->hooks.count;
	if (job->has_host) {
		resume_op_fill(&job->resume_result, &resume);
		response.resume = &resume;
	}
	frame.kind_case = EMBER__AGENT_FRAME__KIND_THAW;
	frame.thaw = &response;
	conn_finish(conn, &frame);
	freeze_reply_mounts_free(response.mounts, response.n_mounts);
}

static void thaw_done(struct agent *agent, int result, void *data)
{
	struct freeze_job *job = data;
	bool still_frozen;

	/* The plan comes back with each target's new state, even after a failure. */
	freeze_plan_free(&state.plan);
	state.plan = job->plan;
	memset(&job->plan, 0, sizeof(job->plan));
	freeze_plan_close_unfrozen(&state.plan);
	state.processes_frozen = job->processes_frozen;
	still_frozen = holds_frozen();
	state.phase = still_frozen ? PHASE_FROZEN : PHASE_THAWED;
	agent_set_frozen(agent, still_frozen);
	if (state.phase == PHASE_FROZEN)
		arm_deadline(agent);

	if (job->automatic && result < 0)
		log_error("auto-thaw: %s; retrying in %u s", job->message, state.timeout_s);
	else if (job->automatic)
		log_info("auto-thaw: thawed %zu mounts", state.plan.count);
	if (result < 0 && job->err == 0)
		job_fail(job, -result, NULL, "failed to thaw: %s", strerror(-result));
	if (result < 0)
		job_send_error(job);
	else
		send_thaw_response(job);
	job_free(job);
}

/* Hands the frozen state to a thaw job on the worker thread. */
static int start_thaw(struct agent *agent, struct freeze_job *job)
{
	int ret;

	job->plan = state.plan;
	job->processes_frozen = state.processes_frozen;
	job->was_frozen = true;
	memset(&state.plan, 0, sizeof(state.plan));
	loop_timer_cancel(agent_loop(agent), state.timer);
	state.timer = 0;
	state.phase = PHASE_THAWING;
	ret = agent_run_work(agent, thaw_work, thaw_done, job);
	if (ret < 0) {
		state.plan = job->plan;
		memset(&job->plan, 0, sizeof(job->plan));
		state.phase = PHASE_FROZEN;
		arm_deadline(agent);
	}
	return ret;
}

static void auto_thaw(struct loop *loop, void *data)
{
	struct agent *agent = data;
	struct freeze_job *job;

	state.timer = 0;
	if (state.phase != PHASE_FROZEN)
		return;
	log_warn("auto-thaw: no thaw within the freeze deadline of %u s; thawing",
		 state.timeout_s);
	job = calloc(1, sizeof(*job));
	if (job) {
		job->automatic = true;
		job->options = agent_options(agent);
	}
	if (!job || start_thaw(agent, job) < 0) {
		log_error("auto-thaw: failed to start the thaw; retrying in 1 s");
		free(job);
		state.timer = loop_timer_add(loop, 1000, auto_thaw, agent);
	}
}

static void arm_deadline(struct agent *agent)
{
	struct loop *loop = agent_loop(agent);

	loop_timer_cancel(loop, state.timer);
	state.deadline_ms = monotonic_ms() + state.timeout_s * 1000ull;
	state.timer = loop_timer_add(loop, state.timeout_s * 1000ull, auto_thaw, agent);
}

/* ------------------------------------------------------------ operations */

/* Copies the request's mount points; each must be an absolute path. */
static int copy_paths(struct conn *conn, const Ember__FreezeRequest *request,
		      struct freeze_job *job)
{
	if (request->n_mountpoints > FREEZE_MOUNTS_MAX)
		return ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, E2BIG,
				   "%zu mount points exceed the maximum of %d per freeze",
				   request->n_mountpoints, FREEZE_MOUNTS_MAX) - 1;
	job->paths = calloc(request->n_mountpoints + 1, sizeof(*job->paths));
	if (!job->paths)
		return -ENOMEM;
	for (size_t i = 0; i < request->n_mountpoints; i++) {
		const ProtobufCBinaryData *path = &request->mountpoints[i];

		if (path->len == 0 || path->len >= PATH_MAX || path->data[0] != '/' ||
		    memchr(path->data, '\0', path->len))
			return ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, EINVAL,
					   "invalid mount point '%.*s': give an absolute path",
					   (int)(path->len > 256 ? 256 : path->len),
					   (const char *)path->data) - 1;
		job->paths[i] = strndup((const char *)path->data, path->len);
		if (!job->paths[i])
			return -ENOMEM;
		job->path_count++;
	}
	return 0;
}

/* Checks the request against the state and the scope rules. Returns 0, or
 * -1 after sending an Error. */
static int check_freeze(struct conn *conn, const Ember__FreezeRequest *request)
{
	const struct agent_options *options = conn_options(conn);

	if (state.phase == PHASE_FROZEN && !holds_frozen())
		return ember_error(conn, EMBER__CODE__CODE_FAILED_PRECONDITION, EBUSY,
				   "the last freeze froze nothing but ran the freeze hooks: "
				   "thaw first, so that the thaw hooks run") - 1;
	if (state.phase != PHASE_THAWED)
		return ember_error(conn, EMBER__CODE__CODE_FAILED_PRECONDITION, EBUSY,
				   "filesystems are already frozen or a freeze is in progress: "
				   "thaw first") - 1;
	if (request->timeout_s > FREEZE_TIMEOUT_MAX_S)
		return ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, EINVAL,
				   "freeze timeout %u s exceeds the maximum of %d s",
				   request->timeout_s, FREEZE_TIMEOUT_MAX_S) - 1;
	if (request->n_mountpoints > 0)
		return 0;
	if (!options->initial_pid_ns || !resume_pid_namespace_is_initial())
		return ember_error(conn, EMBER__CODE__CODE_PERMISSION_DENIED, EPERM,
				   "freezing every filesystem is not allowed outside the initial "
				   "PID namespace: list the mount points to freeze") - 1;
	if (!options->freeze_all)
		return ember_error(conn, EMBER__CODE__CODE_PERMISSION_DENIED, EPERM,
				   "freezing every filesystem needs --freeze-all or the boot "
				   "config's freeze_all: list the mount points to freeze") - 1;
	return 0;
}

int op_freeze(struct conn *conn, const Ember__Request *request)
{
	static const struct conn_handler handler = { .on_close = job_conn_closed };
	const Ember__FreezeRequest *freeze = request->freeze;
	struct agent *agent = conn_agent(conn);
	struct freeze_job *job;
	int ret;

	if (check_freeze(conn, freeze) < 0)
		return 0;
	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	ret = copy_paths(conn, freeze, job);
	if (ret < 0) {
		job_free(job);
		return ret == -1 ? 0 : ret;
	}
	job->conn = conn;
	job->options = conn_options(conn);
	job->processes = freeze->processes;
	job->initial_pid_ns = conn_options(conn)->initial_pid_ns && resume_pid_namespace_is_initial();
	job->own_fs_allowed = job->initial_pid_ns &&
			      (conn_options(conn)->under_init || conn_options(conn)->freeze_all);
	state.timeout_s = freeze->timeout_s ? freeze->timeout_s : FREEZE_TIMEOUT_DEFAULT_S;

	/* Exec and copy-in are rejected from here on: a freeze hook or FIFREEZE
	 * may already be running. */
	state.phase = PHASE_FREEZING;
	agent_set_frozen(agent, true);
	conn_set_handler(conn, &handler, job);
	ret = agent_run_work(agent, freeze_work, freeze_done, job);
	if (ret < 0) {
		state.phase = PHASE_THAWED;
		agent_set_frozen(agent, false);
		conn_set_handler(conn, &(struct conn_handler){ 0 }, NULL);
		job_free(job);
		return ret;
	}
	return 0;
}

int op_thaw(struct conn *conn, const Ember__Request *request)
{
	static const struct conn_handler handler = { .on_close = job_conn_closed };
	struct agent *agent = conn_agent(conn);
	struct freeze_job *job;
	int ret;

	if (state.phase == PHASE_FREEZING || state.phase == PHASE_THAWING)
		return ember_error(conn, EMBER__CODE__CODE_UNAVAILABLE, EBUSY,
				   "a freeze or thaw is in progress: retry the thaw");
	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->conn = conn;
	job->options = conn_options(conn);
	ret = resume_op_take_host(conn, request->thaw ? request->thaw->host : NULL, &job->resume,
				  &job->has_host);
	if (ret < 0) {
		job_free(job);
		return ret == -1 ? 0 : ret;
	}
	conn_set_handler(conn, &handler, job);
	if (state.phase == PHASE_FROZEN) {
		ret = start_thaw(agent, job);
	} else {
		/* Nothing frozen: thaw still carries the host state to apply. */
		state.phase = PHASE_THAWING;
		job->plan = state.plan;
		memset(&state.plan, 0, sizeof(state.plan));
		ret = agent_run_work(agent, thaw_work, thaw_done, job);
		if (ret < 0) {
			state.plan = job->plan;
			memset(&job->plan, 0, sizeof(job->plan));
			state.phase = PHASE_THAWED;
		}
	}
	if (ret < 0) {
		conn_set_handler(conn, &(struct conn_handler){ 0 }, NULL);
		job_free(job);
	}
	return ret;
}

/* NOTE: the states are the agent's own record of what it froze and thawed.
 * FIFREEZE and FITHAW have no query counterpart, so a thaw by another
 * process (fsfreeze -u) is not seen here. */
int op_fs_status(struct conn *conn, const Ember__Request *request)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__FsStatusResponse response = EMBER__FS_STATUS_RESPONSE__INIT;
	uint64_t now = monotonic_ms();

	response.frozen = state.phase == PHASE_FROZEN && holds_frozen();
	response.mounts = freeze_reply_mounts(&state.plan, &response.n_mounts);
	response.processes_frozen = state.processes_frozen;
	if (state.phase == PHASE_FROZEN && state.deadline_ms > now)
		response.deadline_ms = state.deadline_ms - now;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_FS_STATUS;
	frame.fs_status = &response;
	conn_finish(conn, &frame);
	freeze_reply_mounts_free(response.mounts, response.n_mounts);
	return 0;
}

/* ------------------------------------------------------------ start and exit */

int freeze_startup(const struct agent_options *options)
{
	int thawed = freeze_record_thaw_all(freeze_run_dir(options));

	if (thawed > 0)
		log_warn("thawed %d filesystems left frozen by an earlier agent", thawed);
	else if (thawed < 0)
		log_error("failed to read the freeze record in '%s': %s; nothing thawed",
			  freeze_run_dir(options), strerror(-thawed));
	return thawed;
}

void freeze_shutdown(const struct agent_options *options)
{
	size_t failed = 0;

	if (state.phase == PHASE_FREEZING || state.phase == PHASE_THAWING) {
		/* A worker owns the plan: thaw from the record instead. */
		freeze_record_thaw_all(freeze_run_dir(options));
		return;
	}
	if (state.phase != PHASE_FROZEN)
		return;
	if (freeze_plan_thaw(&state.plan, &failed) < 0)
		log_error("failed to thaw '%s' at exit", state.plan.targets[failed].mountpoint);
	else
		freeze_record_remove(freeze_run_dir(options));
	if (state.processes_frozen &&
	    freeze_cgroup_set(freeze_workload_cgroup(options), false, FREEZE_CGROUP_TIMEOUT_MS) < 0)
		log_error("failed to thaw the workload cgroup '%s' at exit",
			  freeze_workload_cgroup(options));
	state.phase = PHASE_THAWED;
}
