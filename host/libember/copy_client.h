/* libember internals shared by the copy calls (copy.c, copy_tar.c): a
 * connection carrying one copy, docker cp's path helpers, and turning failures
 * into struct ember_error. */
#ifndef EMBER_COPY_CLIENT_H
#define EMBER_COPY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"
#include "copy.h"
#include "ember.h"

struct copy_client {
	struct ember_conn conn;
	struct copy_stream stream;
	const struct ember_copy_options *options;
	uint64_t last_callback_ms;
	/* Whether the failure came from the local input (a damaged tar
	 * archive) rather than the agent, whatever its errno. */
	bool local_failed;
};

/* Whether path ends in "/." (or is "."): copy a directory's contents only. */
bool copy_path_is_contents(const char *path);
/* Whether path ends in '/'. */
bool copy_path_has_slash(const char *path);
/* Copies the last component of path (trailing slashes ignored) into name.
 * Returns 0, or -EINVAL for "/", ".", ".." or a name that does not fit. */
int copy_base_name(const char *path, char *name, size_t size);

/* Connects, sends request, and prepares the blocking copy stream. */
int copy_client_open(struct copy_client *client, struct ember_client *ember,
		     Ember__Request *request, const struct ember_copy_options *options,
		     struct ember_error *err);
/* Reports the final progress and closes the connection. */
void copy_client_close(struct copy_client *client);

/* Reads frames until CopyResult (0, result filled when not NULL) or an Error. */
int copy_client_wait_result(struct copy_client *client, struct ember_copy_result *result,
			    struct ember_error *err);
/* Fills err from a failed send or receive (r, report). Returns a negative errno. */
int copy_client_fail(struct copy_client *client, int r, const struct copy_report *report,
		     struct ember_error *err);
int copy_client_peer_error(struct copy_client *client, struct ember_error *err);

#endif
