/* Clients: an address and the options every connection uses. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "io.h"

int ember_client_new(const char *address, const struct ember_client_options *options,
		     struct ember_client **out, struct ember_error *err)
{
	struct ember_client_options defaults = { .connect_timeout_ms = -1 };
	struct ember_client *client;
	char message[EMBER_ERROR_MESSAGE_MAX];

	if (!options)
		options = &defaults;
	if (!address)
		return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL, "no agent address given");
	if (options->token_len > EMBER_TOKEN_MAX)
		return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL, "the token is longer "
				       "than %d bytes", EMBER_TOKEN_MAX);
	client = calloc(1, sizeof(*client));
	if (!client)
		return ember_error_set(err, EMBER_ERROR_USAGE, -ENOMEM, "out of memory");
	if (ember_address_parse(address, &client->address, message, sizeof(message)) < 0) {
		free(client);
		return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL, "%s", message);
	}
	client->address_text = strdup(address);
	if (options->token && options->token_len) {
		client->token = malloc(options->token_len);
		if (client->token)
			memcpy(client->token, options->token, options->token_len);
		client->token_len = options->token_len;
	}
	if (!client->address_text || (options->token_len && !client->token)) {
		ember_client_free(client);
		return ember_error_set(err, EMBER_ERROR_USAGE, -ENOMEM, "out of memory");
	}
	client->connect_timeout_ms = options->connect_timeout_ms < 0 ?
		EMBER_CONNECT_TIMEOUT_MS_DEFAULT : options->connect_timeout_ms;
	client->io_timeout_ms = options->io_timeout_ms;
	snprintf(client->client_name, sizeof(client->client_name), "%s",
		 options->client_name ? options->client_name : "libember/" EMBER_VERSION);
	*out = client;
	return 0;
}

void ember_client_free(struct ember_client *client)
{
	if (!client)
		return;
	if (client->token)
		memset(client->token, 0, client->token_len);
	free(client->token);
	free(client->address_text);
	free(client);
}

const char *ember_client_address(const struct ember_client *client)
{
	return client->address_text;
}

int ember_read_token_file(const char *path, void **token, size_t *token_len,
			  struct ember_error *err)
{
	/* One byte more than the limit, to tell a full file from a longer one. */
	char *buf = malloc(EMBER_TOKEN_MAX + 2);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!buf || fd < 0) {
		int e = buf ? errno : ENOMEM;

		free(buf);
		if (fd >= 0)
			close(fd);
		return ember_error_set(err, EMBER_ERROR_USAGE, -e, "failed to open token file "
				       "'%s': %s", path, strerror(e));
	}
	n = read_full(fd, buf, EMBER_TOKEN_MAX + 2);
	close(fd);
	if (n >= 1 && buf[n - 1] == '\n')
		n--;
	if (n >= 1 && buf[n - 1] == '\r')
		n--;
	if (n <= 0 || n > EMBER_TOKEN_MAX) {
		int r = n < 0 ? (int)n : -EINVAL;

		free(buf);
		if (r != -EINVAL)
			return ember_error_set(err, EMBER_ERROR_USAGE, r, "failed to read token "
					       "file '%s': %s", path, strerror(-r));
		return ember_error_set(err, EMBER_ERROR_USAGE, r, "invalid token file '%s': "
				       "the token must be 1 to %d bytes", path, EMBER_TOKEN_MAX);
	}
	*token = buf;
	*token_len = (size_t)n;
	return 0;
}
