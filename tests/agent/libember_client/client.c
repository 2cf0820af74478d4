/* A libember user built with the machine's compiler against the installable
 * static library: pings, lists, and runs one exec with stdin, printing the
 * streams with a prefix so the test can tell them apart. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ember.h"

static int print_output(void *context, enum ember_stream stream, const void *data, size_t len)
{
	printf("%s:%.*s", stream == EMBER_STREAM_STDERR ? "err" : "out", (int)len,
	       (const char *)data);
	return 0;
}

int main(int argc, char **argv)
{
	const char *exec_argv[] = { "sh", "-c", "cat; echo done >&2; exit 9", NULL };
	struct ember_exec_request request = { .argv = exec_argv, .send_stdin = true };
	struct ember_session_io io = { .stdin_fd = STDIN_FILENO, .stdout_fd = -1,
				       .stderr_fd = -1, .on_output = print_output,
				       .event_fd = -1 };
	struct ember_error err = { 0 };
	struct ember_client *client;
	struct ember_session *session;
	struct ember_exit exit_status;
	uint32_t version;

	if (argc != 2 || ember_client_new(argv[1], NULL, &client, &err) < 0 ||
	    ember_ping(client, &version, &err) < 0 ||
	    ember_exec_start(client, &request, &session, &err) < 0) {
		fprintf(stderr, "client: %s\n", err.message);
		return 2;
	}
	printf("version:%u\nsession:%s\n", version, ember_session_id(session));
	if (ember_session_run(session, &io, &exit_status, NULL, &err) < 0) {
		fprintf(stderr, "client: %s\n", err.message);
		return 2;
	}
	printf("status:%d\n", exit_status.status);
	ember_session_free(session);
	ember_client_free(client);
	return 0;
}
