/* The freeze, thaw, fs_status, resume and net_config calls. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "conn.h"
#include "validate.h"

void ember_freeze_state_release(struct ember_freeze_state *state)
{
	free(state->mounts);
	state->mounts = NULL;
	state->mount_count = 0;
}

int ember_host_state_now(struct ember_host_state *state, struct ember_error *err)
{
	struct timespec now;
	size_t have = 0;

	memset(state, 0, sizeof(*state));
	while (have < EMBER_ENTROPY_DEFAULT) {
		ssize_t n = getrandom(state->entropy + have, EMBER_ENTROPY_DEFAULT - have, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ember_error_set(err, EMBER_ERROR_USAGE, -errno,
					       "failed to read entropy with getrandom: %s",
					       strerror(errno));
		have += (size_t)n;
	}
	state->entropy_len = have;
	clock_gettime(CLOCK_REALTIME, &now);
	state->wall_time_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	return 0;
}

static int copy_notes(char notes[][EMBER_NOTE_MAX], size_t *count, char **in, size_t n,
		      const char *what, struct ember_error *err)
{
	int r = ember_check_count(n, EMBER_NOTES_MAX, what, err);

	for (size_t i = 0; r == 0 && i < n; i++)
		r = ember_copy_string(notes[i], EMBER_NOTE_MAX, in[i], what, err);
	*count = r == 0 ? n : 0;
	return r;
}

static int copy_bytes_string(char *dst, size_t size, const ProtobufCBinaryData *src,
			     const char *what, struct ember_error *err)
{
	if (src->len >= size || memchr(src->data, '\0', src->len))
		return ember_error_set(err, EMBER_ERROR_PROTOCOL, -EPROTO,
				       "the agent sent an invalid %s of %zu bytes (limit %zu)", what,
				       src->len, size - 1);
	memcpy(dst, src->data, src->len);
	dst[src->len] = '\0';
	return 0;
}

static int copy_mount(const Ember__MountState *in, struct ember_mount_state *out,
		      struct ember_error *err)
{
	int r = copy_bytes_string(out->mountpoint, sizeof(out->mountpoint), &in->mountpoint,
				  "mount point", err);

	if (r == 0)
		r = ember_copy_string(out->fstype, sizeof(out->fstype), in->fstype,
				      "filesystem type", err);
	if (r == 0)
		r = ember_copy_string(out->device, sizeof(out->device), in->device, "device", err);
	if (r == 0)
		r = ember_copy_string(out->state, sizeof(out->state), in->state, "mount state", err);
	if (r == 0)
		r = ember_copy_string(out->reason, sizeof(out->reason), in->reason, "reason", err);
	return r;
}

static int copy_mounts(Ember__MountState **in, size_t n, struct ember_freeze_state *state,
		       struct ember_error *err)
{
	int r = ember_check_count(n, EMBER_FREEZE_MOUNTS_MAX, "mount states", err);

	if (r < 0 || n == 0)
		return r;
	state->mounts = calloc(n, sizeof(*state->mounts));
	if (!state->mounts)
		return ember_error_set(err, EMBER_ERROR_USAGE, -ENOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < n; i++)
		r = copy_mount(in[i], &state->mounts[i], err);
	if (r < 0) {
		ember_freeze_state_release(state);
		return r;
	}
	state->mount_count = n;
	return 0;
}

static int copy_resume(const Ember__ResumeResponse *in, struct ember_resume_result *out,
		       struct ember_error *err)
{
	int r;

	memset(out, 0, sizeof(*out));
	out->clock_skew_ns = in->clock_skew_ns;
	out->clock_set = in->clock_set;
	out->entropy_bytes = in->entropy_bytes;
	out->reseeded = in->reseeded;
	r = copy_notes(out->skipped, &out->skipped_count, in->skipped, in->n_skipped,
		       "skipped actions", err);
	if (r == 0)
		r = copy_notes(out->hooks, &out->hook_count, in->hooks, in->n_hooks,
			       "resume hook lines", err);
	return r;
}

/* Points a HostState message at host's fields; NULL host sends none. */
static int host_message(const struct ember_host_state *host, Ember__HostState *message,
			struct ember_error *err)
{
	if (host->entropy_len > EMBER_ENTROPY_MAX)
		return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL,
				       "entropy of %zu bytes exceeds the maximum of %d bytes",
				       host->entropy_len, EMBER_ENTROPY_MAX);
	message->wall_time_ns = host->wall_time_ns;
	message->entropy.data = (uint8_t *)(uintptr_t)host->entropy;
	message->entropy.len = host->entropy_len;
	return 0;
}

int ember_freeze(struct ember_client *client, const struct ember_freeze_request *request,
		 struct ember_freeze_state *state, struct ember_error *err)
{
	Ember__Request message = EMBER__REQUEST__INIT;
	Ember__FreezeRequest op = EMBER__FREEZE_REQUEST__INIT;
	Ember__AgentFrame *frame;
	int r;

	memset(state, 0, sizeof(*state));
	r = ember_bytes_list(request->mountpoints, EMBER_FREEZE_MOUNTS_MAX, &op.mountpoints,
			     &op.n_mountpoints);
	if (r == -E2BIG)
		return ember_error_set(err, EMBER_ERROR_USAGE, r,
				       "more than %d mount points in one freeze",
				       EMBER_FREEZE_MOUNTS_MAX);
	if (r < 0)
		return ember_error_set(err, EMBER_ERROR_USAGE, r, "out of memory");
	op.timeout_s = request->timeout_s;
	op.processes = request->processes;
	message.op_case = EMBER__REQUEST__OP_FREEZE;
	message.freeze = &op;
	r = ember_conn_unary(client, &message, EMBER__AGENT_FRAME__KIND_FREEZE, &frame, err);
	free(op.mountpoints);
	if (r < 0)
		return r;
	state->frozen = true;
	state->deadline_ms = frame->freeze->deadline_ms;
	state->processes_frozen = frame->freeze->processes_frozen;
	r = copy_notes(state->hooks, &state->hook_count, frame->freeze->hooks,
		       frame->freeze->n_hooks, "freeze hook lines", err);
	if (r == 0)
		r = copy_mounts(frame->freeze->mounts, frame->freeze->n_mounts, state, err);
	ember__agent_frame__free_unpacked(frame, NULL);
	return r;
}

int ember_thaw(struct ember_client *client, const struct ember_host_state *host,
	       struct ember_freeze_state *state, struct ember_error *err)
{
	Ember__Request message = EMBER__REQUEST__INIT;
	Ember__ThawRequest op = EMBER__THAW_REQUEST__INIT;
	Ember__HostState host_state = EMBER__HOST_STATE__INIT;
	Ember__AgentFrame *frame;
	int r;

	memset(state, 0, sizeof(*state));
	if (host) {
		r = host_message(host, &host_state, err);
		if (r < 0)
			return r;
		op.host = &host_state;
	}
	message.op_case = EMBER__REQUEST__OP_THAW;
	message.thaw = &op;
	r = ember_conn_unary(client, &message, EMBER__AGENT_FRAME__KIND_THAW, &frame, err);
	if (r < 0)
		return r;
	r = copy_notes(state->hooks, &state->hook_count, frame->thaw->hooks, frame->thaw->n_hooks,
		       "thaw hook lines", err);
	if (r == 0 && frame->thaw->resume) {
		state->has_resume = true;
		r = copy_resume(frame->thaw->resume, &state->resume, err);
	}
	if (r == 0)
		r = copy_mounts(frame->thaw->mounts, frame->thaw->n_mounts, state, err);
	ember__agent_frame__free_unpacked(frame, NULL);
	return r;
}

int ember_fs_status(struct ember_client *client, struct ember_freeze_state *state,
		    struct ember_error *err)
{
	Ember__Request message = EMBER__REQUEST__INIT;
	Ember__FsStatusRequest op = EMBER__FS_STATUS_REQUEST__INIT;
	Ember__AgentFrame *frame;
	int r;

	memset(state, 0, sizeof(*state));
	message.op_case = EMBER__REQUEST__OP_FS_STATUS;
	message.fs_status = &op;
	r = ember_conn_unary(client, &message, EMBER__AGENT_FRAME__KIND_FS_STATUS, &frame, err);
	if (r < 0)
		return r;
	state->frozen = frame->fs_status->frozen;
	state->deadline_ms = frame->fs_status->deadline_ms;
	state->processes_frozen = frame->fs_status->processes_frozen;
	r = copy_mounts(frame->fs_status->mounts, frame->fs_status->n_mounts, state, err);
	ember__agent_frame__free_unpacked(frame, NULL);
	return r;
}

int ember_resume(struct ember_client *client, const struct ember_host_state *host,
		 struct ember_resume_result *result, struct ember_error *err)
{
	Ember__Request message = EMBER__REQUEST__INIT;
	Ember__ResumeRequest op = EMBER__RESUME_REQUEST__INIT;
	Ember__HostState host_state = EMBER__HOST_STATE__INIT;
	Ember__AgentFrame *frame;
	int r;

	memset(result, 0, sizeof(*result));
	if (host) {
		r = host_message(host, &host_state, err);
		if (r < 0)
			return r;
		op.host = &host_state;
	}
	message.op_case = EMBER__REQUEST__OP_RESUME;
	message.resume = &op;
	r = ember_conn_unary(client, &message, EMBER__AGENT_FRAME__KIND_RESUME, &frame, err);
	if (r < 0)
		return r;
	r = copy_resume(frame->resume, result, err);
	ember__agent_frame__free_unpacked(frame, NULL);
	return r;
}

static size_t list_length(const char *const *list)
{
	size_t n = 0;

	while (list && list[n])
		n++;
	return n;
}

int ember_net_config(struct ember_client *client, const struct ember_net_config *config,
		     char *interface, struct ember_error *err)
{
	Ember__Request message = EMBER__REQUEST__INIT;
	Ember__NetConfigRequest op = EMBER__NET_CONFIG_REQUEST__INIT;
	Ember__AgentFrame *frame;
	int r;

	if (!config->interface && !config->current_mac)
		return ember_error_set(err, EMBER_ERROR_USAGE, -EINVAL,
				       "name the interface or its current MAC address");
	op.n_addresses = list_length(config->addresses);
	op.n_routes = list_length(config->routes);
	if (op.n_addresses > EMBER_NET_ADDRESSES_MAX || op.n_routes > EMBER_NET_ADDRESSES_MAX)
		return ember_error_set(err, EMBER_ERROR_USAGE, -E2BIG,
				       "more than %d addresses or routes in one net_config",
				       EMBER_NET_ADDRESSES_MAX);
	/* protobuf-c takes non-const strings but only reads them while packing. */
	op.interface = (char *)(uintptr_t)(config->interface ? config->interface : "");
	op.current_mac = (char *)(uintptr_t)(config->current_mac ? config->current_mac : "");
	op.new_mac = (char *)(uintptr_t)(config->new_mac ? config->new_mac : "");
	op.addresses = (char **)(uintptr_t)config->addresses;
	op.routes = (char **)(uintptr_t)config->routes;
	message.op_case = EMBER__REQUEST__OP_NET_CONFIG;
	message.net_config = &op;
	r = ember_conn_unary(client, &message, EMBER__AGENT_FRAME__KIND_NET_CONFIG, &frame, err);
	if (r < 0)
		return r;
	r = ember_copy_string(interface, EMBER_IFNAME_MAX, frame->net_config->interface,
			      "interface name", err);
	ember__agent_frame__free_unpacked(frame, NULL);
	return r;
}
