/* Unit tests for the session output ring. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ring.h"

static void write_then_read(void)
{
	struct ring ring;
	char buf[16];

	ring_init(&ring, 64);
	CHECK_INT(ring_write(&ring, "hello", 5), 0);
	CHECK_INT(ring.written, 5);
	CHECK_INT(ring_oldest(&ring), 0);
	CHECK_INT(ring_read(&ring, 0, buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_INT(ring_read(&ring, 2, buf, 2), 2);
	CHECK(memcmp(buf, "ll", 2) == 0);
	CHECK_INT(ring_read(&ring, 5, buf, sizeof(buf)), 0);
	ring_free(&ring);
}

static void overwrite_keeps_last_max_bytes(void)
{
	struct ring ring;
	uint8_t data[10000], buf[8192];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	ring_init(&ring, 8192);
	for (size_t off = 0; off < sizeof(data); off += 1000)
		CHECK_INT(ring_write(&ring, data + off, 1000), 0);
	CHECK_INT(ring.written, 10000);
	CHECK_INT(ring_oldest(&ring), 10000 - 8192);
	CHECK_INT(ring_free_space(&ring), 0);
	CHECK_INT(ring_read(&ring, 100, buf, 10), 0);
	CHECK_INT(ring_read(&ring, ring_oldest(&ring), buf, sizeof(buf)), 8192);
	CHECK(memcmp(buf, data + 10000 - 8192, 8192) == 0);
	ring_free(&ring);
}

static void growth_preserves_offsets(void)
{
	struct ring ring;
	uint8_t data[20000], buf[20000];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i % 251);
	ring_init(&ring, 32768);
	for (size_t off = 0; off < sizeof(data); off += 700) {
		size_t n = sizeof(data) - off < 700 ? sizeof(data) - off : 700;

		CHECK_INT(ring_write(&ring, data + off, n), 0);
	}
	CHECK_INT(ring_oldest(&ring), 0);
	CHECK_INT(ring_free_space(&ring), 32768 - 20000);
	CHECK_INT(ring_read(&ring, 0, buf, sizeof(buf)), 20000);
	CHECK(memcmp(buf, data, sizeof(data)) == 0);
	ring_free(&ring);
}

static void long_write_keeps_tail(void)
{
	struct ring ring;
	uint8_t data[5000], buf[4096];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	ring_init(&ring, 4096);
	CHECK_INT(ring_write(&ring, data, sizeof(data)), 0);
	CHECK_INT(ring.written, 5000);
	CHECK_INT(ring_oldest(&ring), 5000 - 4096);
	CHECK_INT(ring_read(&ring, 5000 - 4096, buf, sizeof(buf)), 4096);
	CHECK(memcmp(buf, data + 5000 - 4096, 4096) == 0);
	ring_free(&ring);
}

int main(void)
{
	RUN(write_then_read);
	RUN(overwrite_keeps_last_max_bytes);
	RUN(growth_preserves_offsets);
	RUN(long_write_keeps_tail);
	return check_summary("agent/ring");
}
