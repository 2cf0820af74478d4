/* libember against a fake agent that breaks the protocol. Each case forks a
 * server on a Unix socket in a temporary directory, which reads the request
 * and replies with prepared bytes. The client call must fail cleanly with the
 * documented error, or trim output that repeats bytes already delivered. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "check.h"
#include "ember.h"
#include "frame.h"
#include "io.h"

static char dir[] = "/tmp/ember-hostile-XXXXXX";
static char sock_path[128];
static char address[160];

/* Bytes the fake agent sends after reading the request. */
static uint8_t reply[2 * 1024 * 1024];
static size_t reply_len;
/* The fake agent keeps its side open after the reply instead of closing it. */
static bool hold_open;

static void add_raw(const void *data, size_t len)
{
	memcpy(reply + reply_len, data, len);
	reply_len += len;
}

static void add_frame(Ember__AgentFrame *frame)
{
	uint8_t *buf;
	size_t len;

	if (frame_encode(&frame->base, &buf, &len) == 0) {
		add_raw(buf, len);
		free(buf);
	}
}

static void add_started(const char *id)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__ExecStarted started = EMBER__EXEC_STARTED__INIT;

	started.session_id = (char *)(uintptr_t)id;
	started.pid = 42;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_EXEC_STARTED;
	frame.exec_started = &started;
	add_frame(&frame);
}

static void add_output(int stream, uint64_t offset, const void *data, size_t len)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__Output output = EMBER__OUTPUT__INIT;

	output.stream = stream;
	output.offset = offset;
	output.data.data = (uint8_t *)(uintptr_t)data;
	output.data.len = len;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_OUTPUT;
	frame.output = &output;
	add_frame(&frame);
}

static void add_exit(int code, int signal_number)
{
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__Exit exit_frame = EMBER__EXIT__INIT;

	exit_frame.code = code;
	exit_frame.signal = signal_number;
	exit_frame.status = signal_number ? 128 + signal_number : code;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_EXIT;
	frame.exit = &exit_frame;
	add_frame(&frame);
}

/* Forks the fake agent on a fresh socket; returns its pid. */
static pid_t serve(bool hvsock)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	unlink(sock_path);
	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	if (server < 0 || bind(server, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(server, 4) < 0)
		abort();
	pid = fork();
	if (pid == 0) {
		int fd = accept(server, NULL, NULL);
		uint8_t *body;
		size_t len;
		char c;

		if (hvsock) {
			/* Read the CONNECT line, then reply with the prepared bytes. */
			while (read(fd, &c, 1) == 1 && c != '\n')
				;
		} else if (frame_read(fd, EMBER_FRAME_MAX, &body, &len) == 0) {
			free(body);
		}
		write_full(fd, reply, reply_len);
		if (!hold_open)
			shutdown(fd, SHUT_WR);
		while (read(fd, &c, 1) > 0)
			;
		_exit(0);
	}
	close(server);
	return pid;
}

static struct ember_client *client_for(const char *addr)
{
	struct ember_client_options options = { .connect_timeout_ms = 0 };
	struct ember_client *client = NULL;

	CHECK_INT(ember_client_new(addr, &options, &client, NULL), 0);
	return client;
}

/* Runs an exec against the prepared reply; returns the first failure. */
static int run_exec(struct ember_error *err, char *out, size_t out_size)
{
	const char *argv[] = { "true", NULL };
	struct ember_exec_request request = { .argv = argv };
	struct ember_client *client = client_for(address);
	struct ember_session *session = NULL;
	struct ember_event event;
	size_t used = 0;
	pid_t pid = serve(false);
	int r;

	memset(err, 0, sizeof(*err));
	r = ember_exec_start(client, &request, &session, err);
	while (r == 0) {
		r = ember_session_next(session, &event, err);
		if (r < 0 || event.type == EMBER_EVENT_EXIT)
			break;
		if (event.type == EMBER_EVENT_OUTPUT && out && used + event.len < out_size) {
			memcpy(out + used, event.data, event.len);
			used += event.len;
			out[used] = '\0';
		}
	}
	ember_session_free(session);
	ember_client_free(client);
	waitpid(pid, NULL, 0);
	reply_len = 0;
	return r;
}

static void test_oversized_frame(void)
{
	struct ember_client *client = client_for(address);
	struct ember_error err = { 0 };
	uint8_t header[4] = { 0x00, 0x10, 0x00, 0x01 }; /* EMBER_FRAME_MAX + 1 */
	pid_t pid;

	add_raw(header, sizeof(header));
	pid = serve(false);
	CHECK_INT(ember_ping(client, NULL, &err), -EMSGSIZE);
	CHECK_INT(err.kind, EMBER_ERROR_PROTOCOL);
	CHECK(strstr(err.message, "1048576") != NULL);
	waitpid(pid, NULL, 0);
	reply_len = 0;
	ember_client_free(client);
}

static void test_garbage_frame(void)
{
	struct ember_client *client = client_for(address);
	struct ember_error err = { 0 };
	uint8_t garbage[] = { 0, 0, 0, 3, 0xff, 0xff, 0xff };
	pid_t pid;

	add_raw(garbage, sizeof(garbage));
	pid = serve(false);
	CHECK_INT(ember_ping(client, NULL, &err), -EPROTO);
	CHECK(strstr(err.message, "not a valid AgentFrame") != NULL);
	waitpid(pid, NULL, 0);
	reply_len = 0;
	ember_client_free(client);
}

static void test_cut_inside_frame(void)
{
	struct ember_client *client = client_for(address);
	struct ember_error err = { 0 };
	uint8_t partial[] = { 0, 0, 0, 50, 0x1a, 0x02 };
	pid_t pid;

	add_raw(partial, sizeof(partial));
	pid = serve(false);
	CHECK_INT(ember_ping(client, NULL, &err), -ECONNRESET);
	CHECK_INT(err.kind, EMBER_ERROR_PROTOCOL);
	waitpid(pid, NULL, 0);
	reply_len = 0;
	ember_client_free(client);
}

static void test_wrong_response_kind(void)
{
	struct ember_client *client = client_for(address);
	struct ember_error err = { 0 };
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__Ack ack = EMBER__ACK__INIT;
	pid_t pid;

	frame.kind_case = EMBER__AGENT_FRAME__KIND_ACK;
	frame.ack = &ack;
	add_frame(&frame);
	pid = serve(false);
	CHECK_INT(ember_ping(client, NULL, &err), -EPROTO);
	CHECK(strstr(err.message, "'ack'") != NULL);
	waitpid(pid, NULL, 0);
	reply_len = 0;
	ember_client_free(client);
}

static void test_error_message_sanitized(void)
{
	struct ember_client *client = client_for(address);
	struct ember_error err = { 0 };
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__Error error = EMBER__ERROR__INIT;
	pid_t pid;

	error.code = EMBER__CODE__CODE_NOT_FOUND;
	error.errno_value = 2;
	error.message = (char *)(uintptr_t)"line one\nemberctl: forged\x1b[2J";
	frame.kind_case = EMBER__AGENT_FRAME__KIND_ERROR;
	frame.error = &error;
	add_frame(&frame);
	pid = serve(false);
	CHECK_INT(ember_ping(client, NULL, &err), -EREMOTEIO);
	CHECK_INT(err.kind, EMBER_ERROR_REMOTE);
	CHECK_INT(err.code, EMBER_CODE_NOT_FOUND);
	CHECK_INT(err.errno_value, 2);
	CHECK_STR(err.message, "line one?emberctl: forged?[2J");
	waitpid(pid, NULL, 0);
	reply_len = 0;
	ember_client_free(client);
}

static void test_info_string_too_long(void)
{
	struct ember_client *client = client_for(address);
	struct ember_info *info = malloc(sizeof(*info));
	struct ember_error err = { 0 };
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__InfoResponse response = EMBER__INFO_RESPONSE__INIT;
	char hostname[EMBER_INFO_STRING_MAX + 1];
	pid_t pid;

	memset(hostname, 'h', sizeof(hostname) - 1);
	hostname[sizeof(hostname) - 1] = '\0';
	response.hostname = hostname;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_INFO;
	frame.info = &response;
	add_frame(&frame);
	pid = serve(false);
	CHECK_INT(ember_info(client, info, &err), -EPROTO);
	CHECK(strstr(err.message, "hostname") != NULL);
	waitpid(pid, NULL, 0);
	reply_len = 0;
	free(info);
	ember_client_free(client);
}

static void test_list_too_many_sessions(void)
{
	struct ember_client *client = client_for(address);
	struct ember_session_info *sessions = NULL;
	struct ember_error err = { 0 };
	size_t count = 0;
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__ListResponse list = EMBER__LIST_RESPONSE__INIT;
	static Ember__SessionInfo infos[EMBER_LIST_SESSIONS_MAX + 1];
	static Ember__SessionInfo *pointers[EMBER_LIST_SESSIONS_MAX + 1];
	pid_t pid;

	for (size_t i = 0; i <= EMBER_LIST_SESSIONS_MAX; i++) {
		ember__session_info__init(&infos[i]);
		infos[i].session_id = (char *)(uintptr_t)"s";
		pointers[i] = &infos[i];
	}
	list.n_sessions = EMBER_LIST_SESSIONS_MAX + 1;
	list.sessions = pointers;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_LIST;
	frame.list = &list;
	add_frame(&frame);
	pid = serve(false);
	CHECK_INT(ember_list(client, &sessions, &count, &err), -EPROTO);
	CHECK(strstr(err.message, "1025 sessions") != NULL);
	CHECK(sessions == NULL);
	waitpid(pid, NULL, 0);
	reply_len = 0;
	ember_client_free(client);
}

static void test_session_id_with_escape(void)
{
	struct ember_error err;

	add_started("abc\x1b[2J");
	CHECK_INT(run_exec(&err, NULL, 0), -EPROTO);
	CHECK(strstr(err.message, "printable") != NULL);
}

static void test_session_id_too_long(void)
{
	char id[EMBER_SESSION_ID_MAX + 1];
	struct ember_error err;

	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	add_started(id);
	CHECK_INT(run_exec(&err, NULL, 0), -EPROTO);
	CHECK(strstr(err.message, "session id") != NULL);
}

static void test_output_chunk_over_limit(void)
{
	static uint8_t big[EMBER_CHUNK_MAX + 1];
	struct ember_error err;

	add_started("s1");
	add_output(0, 0, big, sizeof(big));
	CHECK_INT(run_exec(&err, NULL, 0), -EPROTO);
	CHECK(strstr(err.message, "262144") != NULL);
}

static void test_output_gap(void)
{
	struct ember_error err;

	add_started("s1");
	add_output(0, 0, "abc", 3);
	add_output(0, 10, "xyz", 3);
	CHECK_INT(run_exec(&err, NULL, 0), -EPROTO);
	CHECK(strstr(err.message, "offset 10 where 3") != NULL);
}

static void test_output_offset_overflow(void)
{
	struct ember_error err;

	add_started("s1");
	add_output(1, UINT64_MAX - 1, "abc", 3);
	CHECK_INT(run_exec(&err, NULL, 0), -EPROTO);
}

static void test_repeated_output_trimmed(void)
{
	struct ember_error err;
	char out[64] = "";

	add_started("s1");
	add_output(0, 0, "abc", 3);
	add_output(0, 1, "bcd", 3);
	add_output(0, 0, "ab", 2);
	add_exit(0, 0);
	CHECK_INT(run_exec(&err, out, sizeof(out)), 0);
	CHECK_STR(out, "abcd");
}

static void test_exit_signal_out_of_range(void)
{
	struct ember_error err;

	add_started("s1");
	add_exit(0, 99);
	CHECK_INT(run_exec(&err, NULL, 0), -EPROTO);
	CHECK(strstr(err.message, "signal 99") != NULL);
}

static void test_exit_code_out_of_range(void)
{
	struct ember_error err;

	add_started("s1");
	add_exit(300, 0);
	CHECK_INT(run_exec(&err, NULL, 0), -EPROTO);
	CHECK(strstr(err.message, "300") != NULL);
}

static void test_response_timeout(void)
{
	struct ember_client_options options = { .connect_timeout_ms = 0, .io_timeout_ms = 200 };
	struct ember_client *client = NULL;
	struct ember_error err = { 0 };
	pid_t pid;

	CHECK_INT(ember_client_new(address, &options, &client, NULL), 0);
	hold_open = true;
	pid = serve(false);
	hold_open = false;
	CHECK_INT(ember_ping(client, NULL, &err), -ETIMEDOUT);
	CHECK(strstr(err.message, "timed out") != NULL);
	waitpid(pid, NULL, 0);
	ember_client_free(client);
}

static void test_info_too_many_operations(void)
{
	struct ember_client *client = client_for(address);
	struct ember_info *info = malloc(sizeof(*info));
	struct ember_error err = { 0 };
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__InfoResponse response = EMBER__INFO_RESPONSE__INIT;
	char *operations[EMBER_INFO_OPERATIONS_MAX + 1];
	pid_t pid;

	for (size_t i = 0; i <= EMBER_INFO_OPERATIONS_MAX; i++)
		operations[i] = (char *)(uintptr_t)"op";
	response.n_operations = EMBER_INFO_OPERATIONS_MAX + 1;
	response.operations = operations;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_INFO;
	frame.info = &response;
	add_frame(&frame);
	pid = serve(false);
	CHECK_INT(ember_info(client, info, &err), -EPROTO);
	CHECK(strstr(err.message, "65 operations") != NULL);
	waitpid(pid, NULL, 0);
	reply_len = 0;
	free(info);
	ember_client_free(client);
}

static void test_list_argv_shortened(void)
{
	struct ember_client *client = client_for(address);
	struct ember_session_info *sessions = NULL;
	struct ember_error err = { 0 };
	size_t count = 0;
	Ember__AgentFrame frame = EMBER__AGENT_FRAME__INIT;
	Ember__ListResponse list = EMBER__LIST_RESPONSE__INIT;
	Ember__SessionInfo info = EMBER__SESSION_INFO__INIT;
	Ember__SessionInfo *pointers[1] = { &info };
	static uint8_t long_arg[EMBER_LIST_ARGV_MAX * 2];
	ProtobufCBinaryData argv[2] = { { 2, (uint8_t *)(uintptr_t)"sh" },
					 { sizeof(long_arg), long_arg } };
	pid_t pid;

	memset(long_arg, 'a', sizeof(long_arg));
	long_arg[0] = '\n';
	info.session_id = (char *)(uintptr_t)"s1";
	info.n_argv = 2;
	info.argv = argv;
	list.n_sessions = 1;
	list.sessions = pointers;
	frame.kind_case = EMBER__AGENT_FRAME__KIND_LIST;
	frame.list = &list;
	add_frame(&frame);
	pid = serve(false);
	CHECK_INT(ember_list(client, &sessions, &count, &err), 0);
	CHECK_INT(count, 1);
	if (count == 1) {
		CHECK_INT(strlen(sessions[0].argv), EMBER_LIST_ARGV_MAX - 1);
		CHECK(strncmp(sessions[0].argv, "sh ?aaa", 7) == 0);
		CHECK_STR(sessions[0].argv + EMBER_LIST_ARGV_MAX - 4, "...");
	}
	free(sessions);
	waitpid(pid, NULL, 0);
	reply_len = 0;
	ember_client_free(client);
}

static void test_token_file_limit(void)
{
	char path[160];
	static char content[EMBER_TOKEN_MAX + 2];
	struct ember_error err = { 0 };
	void *token = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/token", dir);
	memset(content, 't', sizeof(content));
	content[EMBER_TOKEN_MAX] = '\n';
	CHECK_INT(write_file(path, content, EMBER_TOKEN_MAX + 1, 0600), 0);
	CHECK_INT(ember_read_token_file(path, &token, &len, &err), 0);
	CHECK_INT(len, EMBER_TOKEN_MAX);
	free(token);
	CHECK_INT(write_file(path, content, EMBER_TOKEN_MAX + 2, 0600), 0);
	CHECK_INT(ember_read_token_file(path, &token, &len, &err), -EINVAL);
	CHECK(strstr(err.message, "4096") != NULL);
	CHECK_INT(write_file(path, "\n", 1, 0600), 0);
	CHECK_INT(ember_read_token_file(path, &token, &len, &err), -EINVAL);
	unlink(path);
}

static void test_caller_limits(void)
{
	static char long_address[EMBER_ADDRESS_MAX + 10];
	static const char *argv[EMBER_REQUEST_LIST_MAX + 2];
	struct ember_exec_request request = { .argv = argv };
	struct ember_client *client = NULL;
	struct ember_session *session = NULL;
	struct ember_error err = { 0 };

	memcpy(long_address, "unix:", 5);
	memset(long_address + 5, 'p', sizeof(long_address) - 6);
	CHECK_INT(ember_client_new(long_address, NULL, &client, &err), -EINVAL);
	CHECK_INT(err.kind, EMBER_ERROR_USAGE);

	for (size_t i = 0; i <= EMBER_REQUEST_LIST_MAX; i++)
		argv[i] = "x";
	client = client_for(address);
	CHECK_INT(ember_exec_start(client, &request, &session, &err), -E2BIG);
	CHECK_INT(err.kind, EMBER_ERROR_USAGE);
	CHECK(strstr(err.message, "65536") != NULL);
	ember_client_free(client);
}

static void test_hvsock_rejected(void)
{
	char hv[200];
	struct ember_client *client;
	struct ember_error err = { 0 };
	pid_t pid;

	snprintf(hv, sizeof(hv), "hvsock:%s:1023", sock_path);
	client = client_for(hv);
	add_raw("NOPE\n", 5);
	pid = serve(true);
	CHECK_INT(ember_ping(client, NULL, &err), -ECONNREFUSED);
	CHECK_INT(err.kind, EMBER_ERROR_CONNECT);
	CHECK(strstr(err.message, "CONNECT 1023") != NULL);
	waitpid(pid, NULL, 0);
	reply_len = 0;
	ember_client_free(client);
}

static void test_hvsock_reply_too_long(void)
{
	char hv[200], line[EMBER_HVSOCK_REPLY_MAX + 10];
	struct ember_client *client;
	struct ember_error err = { 0 };
	pid_t pid;

	snprintf(hv, sizeof(hv), "hvsock:%s:1023", sock_path);
	client = client_for(hv);
	memset(line, 'O', sizeof(line));
	add_raw(line, sizeof(line));
	pid = serve(true);
	CHECK_INT(ember_ping(client, NULL, &err), -EPROTO);
	CHECK_INT(err.kind, EMBER_ERROR_CONNECT);
	waitpid(pid, NULL, 0);
	reply_len = 0;
	ember_client_free(client);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(sock_path, sizeof(sock_path), "%s/agent.sock", dir);
	snprintf(address, sizeof(address), "unix:%s", sock_path);

	RUN(test_oversized_frame);
	RUN(test_garbage_frame);
	RUN(test_cut_inside_frame);
	RUN(test_wrong_response_kind);
	RUN(test_error_message_sanitized);
	RUN(test_info_string_too_long);
	RUN(test_list_too_many_sessions);
	RUN(test_session_id_with_escape);
	RUN(test_session_id_too_long);
	RUN(test_output_chunk_over_limit);
	RUN(test_output_gap);
	RUN(test_output_offset_overflow);
	RUN(test_repeated_output_trimmed);
	RUN(test_exit_signal_out_of_range);
	RUN(test_exit_code_out_of_range);
	RUN(test_response_timeout);
	RUN(test_info_too_many_operations);
	RUN(test_list_argv_shortened);
	RUN(test_token_file_limit);
	RUN(test_caller_limits);
	RUN(test_hvsock_rejected);
	RUN(test_hvsock_reply_too_long);

	unlink(sock_path);
	rmdir(dir);
	return check_summary("host/test_hostile");
}
