/* The tar writer and reader of `emberctl cp -`: ustar fields, pax headers for
 * long names and large sizes, and damaged archives. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "copy_tar.h"

static int temp_file(void)
{
	char path[] = "/tmp/ember-tar-unit-XXXXXX";
	int fd = mkstemp(path);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static struct tar_header make_header(const char *name, const char *link, enum tar_type type,
				     char typeflag, uint64_t size)
{
	struct tar_header header = { 0 };
	header.name = strdup(name);
	header.link_target = strdup(link);
	header.type = type;
	header.typeflag = typeflag;
	header.mode = 04755;
	header.uid = 1000;
	header.gid = 100;
	header.mtime_sec = 1600000000;
	header.size = size;
	return header;
}

static void test_round_trip_short_file(void)
{
	int fd = temp_file();
	CHECK(fd >= 0);
	struct tar_header out = make_header("dir/file.txt", "", TAR_FILE, '0', 5);
	CHECK_INT(tar_write_header(fd, &out), 0);
	CHECK_INT(write(fd, "hello", 5), 5);
	CHECK_INT(tar_write_padding(fd, 5), 0);
	CHECK_INT(tar_write_end(fd), 0);
	CHECK_INT(lseek(fd, 0, SEEK_END), 4 * TAR_BLOCK);
	lseek(fd, 0, SEEK_SET);

	struct tar_header in;
	CHECK_INT(tar_read_header(fd, &in), 1);
	CHECK_STR(in.name, "dir/file.txt");
	CHECK_INT(in.type, TAR_FILE);
	CHECK_INT(in.mode, 04755);
	CHECK_INT(in.uid, 1000);
	CHECK_INT(in.gid, 100);
	CHECK_INT(in.mtime_sec, 1600000000);
	CHECK_INT(in.size, 5);
	char content[5];
	CHECK_INT(tar_read_content(fd, content, 5), 0);
	CHECK(memcmp(content, "hello", 5) == 0);
	CHECK_INT(tar_skip(fd, 5, false), 0);
	tar_header_free(&in);
	CHECK_INT(tar_read_header(fd, &in), 0);
	tar_header_free(&out);
	close(fd);
}

static void test_long_names_use_pax(void)
{
	int fd = temp_file();
	CHECK(fd >= 0);
	char name[300], link[200];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memset(link, 'l', sizeof(link) - 1);
	link[sizeof(link) - 1] = '\0';
	struct tar_header out = make_header(name, link, TAR_SYMLINK, '2', 0);
	CHECK_INT(tar_write_header(fd, &out), 0);
	CHECK_INT(tar_write_end(fd), 0);
	lseek(fd, 0, SEEK_SET);

	struct tar_header in;
	CHECK_INT(tar_read_header(fd, &in), 1);
	CHECK_STR(in.name, name);
	CHECK_STR(in.link_target, link);
	CHECK_INT(in.type, TAR_SYMLINK);
	tar_header_free(&in);
	tar_header_free(&out);
	close(fd);
}

static void test_size_over_8_gib_uses_pax(void)
{
	int fd = temp_file();
	CHECK(fd >= 0);
	uint64_t size = 5ull << 31;  /* 10 GiB: more than 11 octal digits hold */
	struct tar_header out = make_header("big", "", TAR_FILE, '0', size);
	CHECK_INT(tar_write_header(fd, &out), 0);
	lseek(fd, 0, SEEK_SET);

	struct tar_header in;
	CHECK_INT(tar_read_header(fd, &in), 1);
	CHECK(in.size == size);
	tar_header_free(&in);
	tar_header_free(&out);
	close(fd);
}

static void test_damaged_checksum_rejected(void)
{
	int fd = temp_file();
	CHECK(fd >= 0);
	struct tar_header out = make_header("file", "", TAR_FILE, '0', 0);
	CHECK_INT(tar_write_header(fd, &out), 0);
	CHECK_INT(pwrite(fd, "X", 1, 10), 1);
	lseek(fd, 0, SEEK_SET);

	struct tar_header in;
	CHECK_INT(tar_read_header(fd, &in), -EBADMSG);
	tar_header_free(&out);
	close(fd);
}

static void test_truncated_content_rejected(void)
{
	int fd = temp_file();
	CHECK(fd >= 0);
	struct tar_header out = make_header("file", "", TAR_FILE, '0', 1000);
	CHECK_INT(tar_write_header(fd, &out), 0);
	CHECK_INT(write(fd, "short", 5), 5);
	lseek(fd, 0, SEEK_SET);

	struct tar_header in;
	CHECK_INT(tar_read_header(fd, &in), 1);
	char buf[1000];
	CHECK_INT(tar_read_content(fd, buf, sizeof(buf)), -EBADMSG);
	tar_header_free(&in);
	tar_header_free(&out);
	close(fd);
}

static void test_partial_header_block_rejected(void)
{
	int fd = temp_file();
	CHECK(fd >= 0);
	CHECK_INT(write(fd, "garbage\n", 8), 8);
	lseek(fd, 0, SEEK_SET);

	struct tar_header in;
	CHECK_INT(tar_read_header(fd, &in), -EBADMSG);
	close(fd);
}

static void test_empty_input_is_end(void)
{
	int fd = temp_file();
	CHECK(fd >= 0);

	struct tar_header in;
	CHECK_INT(tar_read_header(fd, &in), 0);
	close(fd);
}

int main(void)
{
	RUN(test_round_trip_short_file);
	RUN(test_long_names_use_pax);
	RUN(test_size_over_8_gib_uses_pax);
	RUN(test_damaged_checksum_rejected);
	RUN(test_truncated_content_rejected);
	RUN(test_partial_header_block_rejected);
	RUN(test_empty_input_is_end);
	return check_summary("test_copy_tar");
}
