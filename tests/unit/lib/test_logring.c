/* Unit tests for the entrypoint output ring. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "logring.h"

static char path[] = "/tmp/ember-logring-XXXXXX";

static void read_returns_written_bytes(void)
{
	struct logring writer, reader;
	uint64_t offset = 0, lost = 99;
	char buf[16];

	CHECK_INT(logring_create(&writer, path, LOGRING_MIN_CAPACITY), 0);
	CHECK_INT(logring_open(&reader, path), 0);
	logring_write(&writer, "hello", 5);
	CHECK_INT(logring_read(&reader, &offset, buf, sizeof(buf), &lost), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_INT(offset, 5);
	CHECK_INT(lost, 0);
	CHECK_INT(logring_read(&reader, &offset, buf, sizeof(buf), &lost), 0);
	CHECK(!logring_is_closed(&reader));
	logring_mark_closed(&writer);
	CHECK(logring_is_closed(&reader));
	logring_close(&reader);
	logring_close(&writer);
}

static void overwritten_bytes_are_reported_lost(void)
{
	struct logring ring;
	size_t capacity = LOGRING_MIN_CAPACITY;
	char *big = malloc(capacity * 3), *out = malloc(capacity);
	uint64_t offset = 0, lost = 0;

	for (size_t i = 0; i < capacity * 3; i++)
		big[i] = (char)(i % 251);
	CHECK_INT(logring_create(&ring, path, capacity), 0);
	logring_write(&ring, big, 100);
	logring_write(&ring, big + 100, capacity * 3 - 100);
	CHECK_INT(logring_written(&ring), capacity * 3);
	CHECK_INT(logring_read(&ring, &offset, out, capacity, &lost), capacity);
	CHECK_INT(lost, capacity * 2);
	CHECK(memcmp(out, big + capacity * 2, capacity) == 0);
	CHECK_INT(offset, capacity * 3);
	logring_close(&ring);
	free(big);
	free(out);
}

static void capacity_out_of_range_rejected(void)
{
	struct logring ring;

	CHECK(logring_create(&ring, path, 16) < 0);
	CHECK(logring_create(&ring, path, LOGRING_MAX_CAPACITY + 1ull) < 0);
}

int main(void)
{
	int fd = mkstemp(path);

	if (fd < 0)
		return 2;
	close(fd);
	RUN(read_returns_written_bytes);
	RUN(overwritten_bytes_are_reported_lost);
	RUN(capacity_out_of_range_rejected);
	unlink(path);
	return check_summary("lib/test_logring");
}
