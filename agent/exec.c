/* The exec, attach, signal and list operations: request checks, then the
 * session does the rest. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent.h"
#include "env.h"
#include "log.h"
#include "printable.h"
#include "session.h"
#include "spawn.h"

/* Maximum argv plus env entries of one exec request. */
#define EXEC_ARGS_MAX 4096
/* Maximum bytes of argv plus env of one exec request. Linux allows a
 * quarter of the stack limit (2 MiB at the default 8 MiB) for execve's
 * strings, and the whole request must fit in one frame anyway. */
#define EXEC_ARG_BYTES_MAX (512u * 1024u)
/* Maximum length of a program name printed in the log. */
#define EXEC_LOG_PROGRAM_MAX 128
/* Maximum length of TERM, in bytes. */
#define EXEC_TERM_MAX 64

/* Sends an Error for the request and returns -1, for checks whose callers
 * only need to know that the connection is finished. */
static int reject(struct conn *conn, Ember__Code code, int errno_value, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int reject(struct conn *conn, Ember__Code code, int errno_value, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ember_verror(conn, code, errno_value, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

/* Whether bytes contains a NUL. protobuf-c leaves data NULL for an empty
 * field, and memchr must not be given NULL even with a zero length. */
static bool has_nul(const ProtobufCBinaryData *bytes)
{
	return bytes->len && memchr(bytes->data, '\0', bytes->len);
}

/* Checks the sizes of argv and env before anything is copied. */
static int check_exec_limits(struct conn *conn, const Ember__ExecRequest *exec)
{
	size_t bytes = 0;

	if (exec->n_argv + exec->n_env > EXEC_ARGS_MAX)
		return reject(conn, EMBER__CODE__CODE_RESOURCE_EXHAUSTED, E2BIG,
				   "too many argv and env entries (%zu): the limit is %d "
				   "(EXEC_ARGS_MAX)", exec->n_argv + exec->n_env, EXEC_ARGS_MAX);
	for (size_t i = 0; i < exec->n_argv; i++)
		bytes += exec->argv[i].len + 1;
	for (size_t i = 0; i < exec->n_env; i++)
		bytes += exec->env[i].len + 1;
	if (bytes > EXEC_ARG_BYTES_MAX)
		return reject(conn, EMBER__CODE__CODE_RESOURCE_EXHAUSTED, E2BIG,
				   "argv and env take %zu bytes: the limit is %u (EXEC_ARG_BYTES_MAX)",
				   bytes, EXEC_ARG_BYTES_MAX);
	for (size_t i = 0; i < exec->n_argv; i++)
		if (has_nul(&exec->argv[i]))
			return reject(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
					   "argv[%zu] contains a NUL byte, which execve cannot pass", i);
	if (has_nul(&exec->cwd))
		return reject(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				   "cwd contains a NUL byte");
	if (strlen(exec->term) > EXEC_TERM_MAX)
		return reject(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				   "TERM of %zu bytes is too long: the limit is %d",
				   strlen(exec->term), EXEC_TERM_MAX);
	return 0;
}

static int check_exec_shape(struct conn *conn, const Ember__ExecRequest *exec)
{
	if (exec->shell && exec->n_argv)
		return reject(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				   "invalid shell request: argv must be empty with shell");
	if (!exec->shell && exec->n_argv == 0)
		return reject(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				   "invalid exec request: argv is empty");
	if (!exec->shell && exec->argv[0].len == 0)
		return reject(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				   "invalid exec request: argv[0] is empty");
	if ((exec->rows || exec->cols) && !exec->tty)
		return reject(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				   "rows and cols need tty");
	if (exec->rows > 0xffff || exec->cols > 0xffff)
		return reject(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				   "invalid terminal size %ux%u: the limit is 65535",
				   exec->rows, exec->cols);
	if (exec->ttl_s > SESSION_TTL_MAX_S)
		return reject(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				   "ttl_s %u is too long: the limit is %u seconds",
				   exec->ttl_s, SESSION_TTL_MAX_S);
	return 0;
}

static char *dup_bytes(const ProtobufCBinaryData *bytes)
{
	char *s = malloc(bytes->len + 1);

	if (s) {
		if (bytes->len)
			memcpy(s, bytes->data, bytes->len);
		s[bytes->len] = '\0';
	}
	return s;
}

/* Builds the argv array: the request's, or for a shell request the user's
 * shell (/bin/sh when that is not executable) with "-l", which makes it a
 * login shell. */
static int build_argv(const Ember__ExecRequest *exec, const struct user_info *user,
		      char ***out, size_t *count)
{
	size_t n = exec->shell ? 2 : exec->n_argv;
	char **argv = calloc(n + 1, sizeof(char *));

	if (!argv)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!exec->shell)
			argv[i] = dup_bytes(&exec->argv[i]);
		else if (i == 0)
			argv[i] = strdup(access(user->shell, X_OK) == 0 ? user->shell : "/bin/sh");
		else
			argv[i] = strdup("-l");
		if (!argv[i]) {
			for (size_t k = 0; k < i; k++)
				free(argv[k]);
			free(argv);
			return -ENOMEM;
		}
	}
	*out = argv;
	*count = n;
	return 0;
}

static Ember__Code code_for_errno(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		return EMBER__CODE__CODE_NOT_FOUND;
	case EACCES:
	case EPERM:
		return EMBER__CODE__CODE_PERMISSION_DENIED;
	case ENOEXEC:
		return EMBER__CODE__CODE_INVALID_ARGUMENT;
	case ENOMEM:
	case EAGAIN:
	case EMFILE:
	case ENFILE:
		return EMBER__CODE__CODE_RESOURCE_EXHAUSTED;
	default:
		return EMBER__CODE__CODE_INTERNAL;
	}
}

static int resolve_user(struct conn *conn, const char *spec, struct user_info *user)
{
	const char *missing = "user";
	char own_uid[16];
	int r;

	/* The default user is root, or the agent's own user when it is not
	 * root (a standalone agent in an ordinary VM or a test). */
	if (!spec[0] && geteuid() != 0) {
		snprintf(own_uid, sizeof(own_uid), "%u", (unsigned)geteuid());
		spec = own_uid;
	}
	r = user_resolve(spec, NULL, NULL, user, &missing);

	if (r == -ENOENT)
		return reject(conn, EMBER__CODE__CODE_NOT_FOUND, 0,
				   "invalid user '%s': no such %s in %s", spec, missing,
				   strcmp(missing, "group") == 0 ? USER_GROUP_PATH : USER_PASSWD_PATH);
	if (r == -EINVAL)
		return reject(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, EINVAL,
				   "invalid user '%s': expected name, uid, uid:gid or name:group",
				   spec);
	if (r < 0)
		return reject(conn, code_for_errno(-r), -r, "failed to resolve user '%s': %s",
				   spec, strerror(-r));
	return 0;
}

static int build_env(struct conn *conn, const Ember__ExecRequest *exec,
		     const struct user_info *user, char ***envp)
{
	extern char **environ;
	struct agent *agent = conn_agent(conn);
	struct env_bytes *entries = calloc(exec->n_env + 1, sizeof(*entries));
	struct env_spec spec = { 0 };
	size_t bad = 0;
	int r;

	if (!entries)
		return -ENOMEM;
	for (size_t i = 0; i < exec->n_env; i++) {
		entries[i].data = exec->env[i].data;
		entries[i].len = exec->env[i].len;
	}
	if (!exec->clear_env)
		spec.base = (const char *const *)(agent->image_env ? agent->image_env : environ);
	spec.home = user->home;
	if (exec->tty)
		spec.term = exec->term[0] ? exec->term : "xterm";
	spec.entries = entries;
	spec.entry_count = exec->n_env;
	r = env_build(&spec, envp, &bad);
	free(entries);
	if (r == -EINVAL)
		return reject(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, EINVAL,
				   "invalid env[%zu]: expected KEY=VALUE with a non-empty KEY and "
				   "no NUL byte", bad);
	return r;
}

/* An exec between fork and the child's report: the loop goes on serving
 * while the child sets itself up and calls execve. */
struct exec_start {
	struct conn *conn;           /* NULL once the client left */
	struct session *session;
	int report_fd;
	char *cwd;
	char user[USER_SPEC_MAX + 1];
	/* Copies of request fields: the request is freed with the connection. */
	bool detach;
	uint32_t ttl_s;
	bool client_stdin;
};

static void exec_start_free(struct exec_start *start)
{
	if (start->report_fd >= 0) {
		loop_remove(start->session->agent->loop, start->report_fd);
		close(start->report_fd);
	}
	free(start->cwd);
	free(start);
}

static void exec_start_on_close(struct conn *conn, int err, void *data)
{
	struct exec_start *start = data;

	start->conn = NULL;
}

static const struct conn_handler exec_start_handler = {
	.on_close = exec_start_on_close,
};

static void exec_start_failed(struct exec_start *start, int err, const char *stage)
{
	struct session *session = start->session;

	if (start->conn) {
		conn_set_handler(start->conn, NULL, NULL);
		if (strncmp(stage, "set ", 4) == 0)
			ember_error(start->conn, code_for_errno(-err), -err,
				    "failed to %s for user '%s': %s", stage,
				    start->user[0] ? start->user : "root", strerror(-err));
		else if (strcmp(stage, "change directory to") == 0)
			/* Without a requested cwd the child tried HOME, then "/": only
			 * the failure of "/" is reported. */
			ember_error(start->conn, code_for_errno(-err), -err, "failed to %s '%s': %s",
				    stage, start->cwd && start->cwd[0] ? start->cwd : "/",
				    strerror(-err));
		else
			ember_error(start->conn, code_for_errno(-err), -err, "failed to %s '%s': %s",
				    stage, session->argv[0], strerror(-err));
	}
	exec_start_free(start);
	/* The child exits by itself; the reaper collects it. */
	session_discard(session);
}

static void exec_start_succeeded(struct exec_start *start)
{
	struct session *session = start->session;
	struct conn *conn = start->conn;
	bool detach = start->detach;
	uint32_t ttl_s = start->ttl_s;
	bool client_stdin = start->client_stdin;
	char program[EXEC_LOG_PROGRAM_MAX];

	exec_start_free(start);
	printable_copy(program, sizeof(program), session->argv[0], strlen(session->argv[0]));
	log_info("session %s started pid %d: %s%s", session->id, (int)session->pid, program,
		 detach ? " (detached)" : "");
	if (!conn) {
		/* The client left before ExecStarted; the grace period (or the
		 * TTL) applies as after any disconnect. */
		if (detach)
			session_detach(session, ttl_s);
		else
			session_unattached(session);
		return;
	}
	conn_set_handler(conn, NULL, NULL);
	conn_pause_reading(conn, false);
	if (detach)
		session_finish_detached(session, conn, ttl_s);
	else
		session_attach(session, conn, 0, 0, client_stdin);
}

static void exec_start_report(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct exec_start *start = data;
	const char *stage = "start";
	int r = spawn_read_report(fd, &stage);

	if (r == -EAGAIN)
		return;
	if (r < 0)
		exec_start_failed(start, r, stage);
	else
		exec_start_succeeded(start);
}

static int start_session(struct conn *conn, const Ember__ExecRequest *exec,
			 struct user_info *user, char **envp)
{
	struct agent *agent = conn_agent(conn);
	struct session *session = calloc(1, sizeof(*session));
	struct exec_start *start = calloc(1, sizeof(*start));
	struct spawn_request spawn = { 0 };
	struct spawn_result result;
	char cgroup_procs[sizeof(session->cgroup) + 16];
	char **argv = NULL;
	size_t argc = 0;
	int r;

	if (!session || !start) {
		r = -ENOMEM;
		goto fail;
	}
	start->report_fd = -1;
	r = build_argv(exec, user, &argv, &argc);
	if (r < 0)
		goto fail;
	if (exec->cwd.len) {
		start->cwd = dup_bytes(&exec->cwd);
		if (!start->cwd) {
			r = -ENOMEM;
			goto fail;
		}
	}
	session_prepare_id(agent, session->id, session->cgroup, sizeof(session->cgroup));
	if (session->cgroup[0])
		snprintf(cgroup_procs, sizeof(cgroup_procs), "%s/cgroup.procs", session->cgroup);
	spawn.argv = argv;
	spawn.envp = envp;
	spawn.cwd = start->cwd;
	spawn.user = user;
	spawn.tty = exec->tty;
	spawn.rows = (uint16_t)exec->rows;
	spawn.cols = (uint16_t)exec->cols;
	spawn.stdin_pipe = exec_request_stdin(exec);
	spawn.cgroup_procs = session->cgroup[0] ? cgroup_procs : NULL;
	r = spawn_start(&spawn, &result, &start->report_fd);
	if (r < 0) {
		ember_error(conn, code_for_errno(-r), -r, "failed to start '%s': %s", argv[0],
			    strerror(-r));
		r = 0;
		goto fail;
	}

	/* Registered before the report so that an exit reaped meanwhile is
	 * recorded; its output waits in the rings for the client. */
	session_register(agent, session, &result, argv, argc, exec->tty);
	session_set_timeout(session, exec->timeout_ms);
	start->conn = conn;
	start->session = session;
	/* The spec passed user_resolve, so it fits. */
	snprintf(start->user, sizeof(start->user), "%s", exec->user);
	start->detach = exec->detach;
	start->ttl_s = exec->ttl_s;
	start->client_stdin = exec_request_stdin(exec);
	r = loop_add(agent->loop, start->report_fd, EPOLLIN, exec_start_report, start);
	if (r < 0) {
		close(start->report_fd);
		start->report_fd = -1;
		session_kill(session);
		exec_start_free(start);
		session_discard(session);
		return r;
	}
	/* Frames that follow the Request (stdin, resize) wait in the socket
	 * until the session takes over. */
	conn_set_handler(conn, &exec_start_handler, start);
	conn_pause_reading(conn, true);
	return 0;

fail:
	if (session && session->cgroup[0])
		rmdir(session->cgroup);
	for (size_t i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	if (start)
		free(start->cwd);
	free(start);
	free(session);
	return r;
}

int op_exec(struct conn *conn, const Ember__Request *request)
{
	const Ember__ExecRequest *exec = request->exec;
	struct agent *agent = conn_agent(conn);
	struct user_info user;
	char **envp = NULL;
	int r;

	if (check_exec_limits(conn, exec) < 0 || check_exec_shape(conn, exec) < 0)
		return 0;
	if (session_count(agent) >= agent->opts.max_sessions)
		return ember_error(conn, EMBER__CODE__CODE_RESOURCE_EXHAUSTED, 0,
				   "too many sessions: %zu of %u (max_sessions) exist; collect or "
				   "kill one first", session_count(agent), agent->opts.max_sessions);
	if (resolve_user(conn, exec->user, &user) < 0)
		return 0;
	r = build_env(conn, exec, &user, &envp);
	if (r == 0)
		r = start_session(conn, exec, &user, envp);
	else if (r == -1)
		r = 0;
	env_free(envp);
	user_info_free(&user);
	return r;
}

int op_attach(struct conn *conn, const Ember__Request *request)
{
	const Ember__AttachRequest *attach = request->attach;
	struct session *session = session_find(conn_agent(conn), attach->session_id);
	int r;

	if (!session)
		return ember_error(conn, EMBER__CODE__CODE_NOT_FOUND, 0,
				   "no session '%s': it never existed, its status was collected, or "
				   "its grace period or TTL expired", attach->session_id);
	r = session_attach(session, conn, attach->stdout_offset, attach->stderr_offset,
			   attach_request_stdin(attach));
	if (r == -ERANGE)
		return ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, 0,
				   "offsets %llu/%llu lie past the output of session '%s' "
				   "(%llu/%llu bytes so far)",
				   (unsigned long long)attach->stdout_offset,
				   (unsigned long long)attach->stderr_offset, session->id,
				   (unsigned long long)session->out[0].ring.written,
				   (unsigned long long)session->out[1].ring.written);
	return r;
}

int op_signal(struct conn *conn, const Ember__Request *request)
{
	const Ember__SignalRequest *signal_request = request->signal;
	struct session *session = session_find(conn_agent(conn), signal_request->session_id);
	int r;

	if (!session)
		return ember_error(conn, EMBER__CODE__CODE_NOT_FOUND, 0,
				   "no session '%s': it never existed, its status was collected, or "
				   "its grace period or TTL expired (list sessions with 'emberctl ps')",
				   signal_request->session_id);
	if (signal_request->signal <= 0 || signal_request->signal >= NSIG)
		return ember_error(conn, EMBER__CODE__CODE_INVALID_ARGUMENT, EINVAL,
				   "invalid signal %d: expected 1 to %d", signal_request->signal,
				   NSIG - 1);
	r = session_signal(session, signal_request->signal, signal_request->process_group);
	if (r == -ESRCH)
		return ember_error(conn, EMBER__CODE__CODE_FAILED_PRECONDITION, ESRCH,
				   "session '%s' has no running process", session->id);
	if (r < 0)
		return ember_error(conn, code_for_errno(-r), -r,
				   "failed to send signal %d to session '%s': %s",
				   signal_request->signal, session->id, strerror(-r));
	return conn_ack(conn);
}

int op_list(struct conn *conn, const Ember__Request *request)
{
	struct agent *agent = conn_agent(conn);
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__ListResponse list = EMBER__LIST_RESPONSE__INIT;
	size_t n = session_count(agent), i = 0;
	Ember__SessionInfo *infos = calloc(n + 1, sizeof(*infos));
	Ember__SessionInfo **ptrs = calloc(n + 1, sizeof(*ptrs));
	Ember__Exit *exits = calloc(n + 1, sizeof(*exits));
	ProtobufCBinaryData *argvs = NULL;
	size_t argv_total = 0, argv_used = 0;
	int r;

	for (struct session *s = agent->sessions; s; s = s->next)
		argv_total += s->argc;
	argvs = calloc(argv_total + 1, sizeof(*argvs));
	if (!infos || !ptrs || !exits || !argvs) {
		r = -ENOMEM;
		goto out;
	}
	for (struct session *s = agent->sessions; s; s = s->next, i++) {
		Ember__SessionInfo *info = &infos[i];

		ember__session_info__init(info);
		info->session_id = s->id;
		info->pid = s->pid;
		info->running = s->running;
		info->attached = s->conn != NULL;
		info->detached = s->detached;
		info->tty = s->tty;
		info->started_ms = s->started_ms;
		info->argv = &argvs[argv_used];
		info->n_argv = s->argc;
		for (size_t k = 0; k < s->argc; k++) {
			argvs[argv_used].data = (uint8_t *)s->argv[k];
			argvs[argv_used++].len = strlen(s->argv[k]);
		}
		if (!s->running) {
			ember__exit__init(&exits[i]);
			session_exit_frame(s, &exits[i]);
			info->exit = &exits[i];
		}
		ptrs[i] = info;
	}
	list.sessions = ptrs;
	list.n_sessions = n;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_LIST;
	frame.list = &list;
	/* Long argv lists can push the response past one frame: list the
	 * sessions without their argv then, rather than not at all. */
	if (protobuf_c_message_get_packed_size(&frame.base) > EMBER_FRAME_MAX) {
		log_warn("%s: list response exceeds %u bytes; argv left out", conn_id(conn),
			 EMBER_FRAME_MAX);
		for (i = 0; i < n; i++)
			infos[i].n_argv = 0;
	}
	r = conn_finish(conn, &frame);
	if (r == -EMSGSIZE)
		r = 0;
out:
	free(infos);
	free(ptrs);
	free(exits);
	free(argvs);
	return r;
}
