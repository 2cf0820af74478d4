/* logs, wait, shutdown and start: the entrypoint that ember-init runs. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "io.h"

static int write_log(void *context, uint64_t offset, const void *data, size_t len)
{
	return write_full(STDOUT_FILENO, data, len);
}

int cmd_logs(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "tail", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct ember_error err = { 0 };
	uint64_t tail = 0, lost = 0;
	bool follow = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "+f", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			follow = true;
			break;
		case 'n':
			if (parse_u64(optarg, &tail) < 0 || tail == 0)
				return cli_usage_error(cli, "invalid --tail '%s': expected a number "
						       "of bytes above 0", optarg);
			break;
		default:
			return cli_usage_error(cli, "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	r = ember_logs(cli->client, follow, 0, tail, write_log, NULL, &lost, &err);
	if (r < 0 && err.kind == EMBER_ERROR_NONE)
		fprintf(stderr, "emberctl: %s: logs: failed to write stdout: %s\n", cli->address,
			strerror(-r));
	else if (r < 0)
		return cli_fail(cli, &err);
	if (lost)
		fprintf(stderr, "emberctl: %s: logs: %llu older bytes had already left the "
			"log ring\n", cli->address, (unsigned long long)lost);
	return r < 0 ? EXIT_USAGE : 0;
}

int cmd_wait(struct cli *cli, int argc, char **argv)
{
	struct ember_error err = { 0 };
	struct ember_entrypoint_exit result;

	if (argc > 1)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[1]);
	if (ember_wait(cli->client, &result, &err) < 0)
		return cli_fail(cli, &err);
	return result.status;
}

int cmd_shutdown(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "reboot", no_argument, NULL, 'r' },
		{ "halt", no_argument, NULL, 'H' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	enum ember_shutdown_action action = EMBER_SHUTDOWN_POWEROFF;
	struct ember_error err = { 0 };
	uint32_t timeout_ms = 0;
	int c;

	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			action = EMBER_SHUTDOWN_REBOOT;
			break;
		case 'H':
			action = EMBER_SHUTDOWN_HALT;
			break;
		case 't':
			if (parse_seconds(optarg, &timeout_ms) < 0 || timeout_ms % 1000)
				return cli_usage_error(cli, "invalid --timeout '%s': expected whole "
						       "seconds", optarg);
			break;
		default:
			return cli_usage_error(cli, "invalid option");
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
	if (ember_shutdown(cli->client, action, timeout_ms / 1000, &err) < 0)
		return cli_fail(cli, &err);
	return 0;
}

/* Reads FILE: each non-empty line is one KEY=VALUE secret. The buffer is
 * kept by the caller until the request is sent, because the list points into it. */
static int read_secret_file(struct cli *cli, const char *path, char **buffer,
			    struct string_list *secrets)
{
	char *buf = malloc(SECRET_FILE_MAX + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = -ENOMEM;

	if (buf && fd >= 0)
		n = read_full(fd, buf, SECRET_FILE_MAX + 1);
	else if (fd < 0)
		n = -errno;
	if (fd >= 0)
		close(fd);
	if (n < 0 || n > (ssize_t)SECRET_FILE_MAX) {
		free(buf);
		if (n < 0)
			return cli_usage_error(cli, "failed to read secret file '%s': %s", path,
					       strerror((int)-n));
		return cli_usage_error(cli, "secret file '%s' is larger than %u bytes", path,
				       SECRET_FILE_MAX);
	}
	buf[n] = '\0';
	*buffer = buf;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (strcspn(line, "=") == 0 || !strchr(line, '='))
			return cli_usage_error(cli, "invalid line in secret file '%s': expected "
					       "KEY=VALUE", path);
		if (string_list_add(secrets, line) < 0)
			return cli_usage_error(cli, "too many secrets (at most %d)", CLI_LIST_MAX);
	}
	return 0;
}

int cmd_start(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "env", required_argument, NULL, 'e' },
		{ "secret-file", required_argument, NULL, 'S' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	struct ember_start_request request = { 0 };
	struct string_list env = { 0 }, secrets = { 0 }, buffers = { 0 };
	struct ember_error err = { 0 };
	char *entry, *buffer;
	int c, status = EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "+e:w:u:", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			entry = env_entry(optarg);
			if (!entry || string_list_add(&env, entry) < 0) {
				cli_usage_error(cli, "invalid -e '%s': expected KEY=VALUE", optarg);
				goto out;
			}
			break;
		case 'S':
			buffer = NULL;
			if (read_secret_file(cli, optarg, &buffer, &secrets) != 0 ||
			    string_list_add(&buffers, buffer) < 0) {
				free(buffer);
				goto out;
			}
			break;
		case 'w':
			request.cwd = optarg;
			break;
		case 'u':
			request.user = optarg;
			break;
		default:
			cli_usage_error(cli, "invalid option");
			goto out;
		}
	}
	request.args = (const char *const *)(argv + optind);
	request.env = (const char *const *)env.items;
	request.secrets = (const char *const *)secrets.items;
	status = 0;
	if (ember_start(cli->client, &request, &err) < 0)
		status = cli_fail(cli, &err);
out:
	for (size_t i = 0; i < buffers.count; i++) {
		memset(buffers.items[i], 0, SECRET_FILE_MAX + 1);
		free(buffers.items[i]);
	}
	string_list_free(&buffers);
	string_list_free(&env);
	string_list_free(&secrets);
	return status;
}
