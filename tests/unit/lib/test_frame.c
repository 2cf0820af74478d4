/* Unit tests for the frame codec and the event loop's timers. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "check.h"
#include "frame.h"
#include "io.h"
#include "loop.h"

static void encode_then_read_roundtrip(void)
{
	Ember__Request request = EMBER__REQUEST__INIT;
	Ember__PingRequest ping = EMBER__PING_REQUEST__INIT;
	int fds[2];
	uint8_t *body;
	size_t len;

	request.version = EMBER_PROTOCOL_VERSION;
	request.op_case = EMBER__REQUEST__OP_PING;
	request.ping = &ping;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
	CHECK_INT(frame_write(fds[0], &request.base), 0);
	CHECK_INT(frame_read(fds[1], EMBER_FRAME_MAX, &body, &len), 0);

	Ember__Request *decoded = ember__request__unpack(NULL, len, body);

	CHECK(decoded != NULL);
	CHECK_INT(decoded->version, EMBER_PROTOCOL_VERSION);
	CHECK_INT(decoded->op_case, EMBER__REQUEST__OP_PING);
	ember__request__free_unpacked(decoded, NULL);
	free(body);
	close(fds[0]);
	CHECK_INT(frame_read(fds[1], EMBER_FRAME_MAX, &body, &len), -ENODATA);
	close(fds[1]);
}

static void oversized_length_rejected_before_allocation(void)
{
	uint8_t header[4] = { 0x7f, 0xff, 0xff, 0xff };
	uint32_t len = 0;

	CHECK_INT(frame_parse_header(header, EMBER_FRAME_MAX, &len), -EMSGSIZE);
	CHECK_INT(len, 0);
}

static void truncated_frame_is_connection_reset(void)
{
	uint8_t partial[6] = { 0, 0, 0, 10, 1, 2 };
	int fds[2];
	uint8_t *body;
	size_t len;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
	CHECK_INT(write_full(fds[0], partial, sizeof(partial)), 0);
	close(fds[0]);
	CHECK_INT(frame_read(fds[1], EMBER_FRAME_MAX, &body, &len), -ECONNRESET);
	close(fds[1]);
}

static void incremental_reader_reassembles_bytes(void)
{
	Ember__Request request = EMBER__REQUEST__INIT;
	struct frame_reader reader;
	uint8_t *frame, *body = NULL;
	size_t frame_len, len = 0;
	int fds[2], r = 0;

	request.version = 7;
	CHECK_INT(frame_encode(&request.base, &frame, &frame_len), 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
	frame_reader_init(&reader, EMBER_FRAME_MAX);
	for (size_t i = 0; i < frame_len; i++) {
		CHECK_INT(write(fds[0], frame + i, 1), 1);
		r = frame_reader_read(&reader, fds[1], &body, &len);
		if (i + 1 < frame_len)
			CHECK_INT(r, 0);
	}
	CHECK_INT(r, 1);
	CHECK_INT(len, frame_len - 4);
	free(body);
	free(frame);
	frame_reader_release(&reader);
	close(fds[0]);
	close(fds[1]);
}

static int timer_order[3], timer_count;

static void record_timer(struct loop *loop, void *data)
{
	timer_order[timer_count++] = (int)(long)data;
}

static void timers_fire_in_deadline_order(void)
{
	struct loop *loop = loop_new();
	uint64_t cancelled;

	CHECK(loop != NULL);
	loop_timer_add(loop, 30, record_timer, (void *)3L);
	loop_timer_add(loop, 10, record_timer, (void *)1L);
	cancelled = loop_timer_add(loop, 20, record_timer, (void *)9L);
	loop_timer_add(loop, 20, record_timer, (void *)2L);
	loop_timer_cancel(loop, cancelled);
	while (timer_count < 3)
		CHECK_INT(loop_run_once(loop, 100), 0);
	CHECK_INT(timer_order[0], 1);
	CHECK_INT(timer_order[1], 2);
	CHECK_INT(timer_order[2], 3);
	loop_free(loop);
}

int main(void)
{
	RUN(encode_then_read_roundtrip);
	RUN(oversized_length_rejected_before_allocation);
	RUN(truncated_frame_is_connection_reset);
	RUN(incremental_reader_reassembles_bytes);
	RUN(timers_fire_in_deadline_order);
	return check_summary("lib/test_frame");
}
