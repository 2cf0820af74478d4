/* Unit tests for splitting mount options into flags and filesystem data. */
#include <sys/mount.h>

#include "check.h"
#include "init.h"

static void flags_and_data_split(void)
{
	unsigned long flags;
	char data[64];

	CHECK_INT(mount_options_parse("ro,noatime,size=64m,nosuid,mode=0755", &flags, data,
				      sizeof(data)), 0);
	CHECK(flags == (MS_RDONLY | MS_NOATIME | MS_NOSUID));
	CHECK_STR(data, "size=64m,mode=0755");
}

static void later_options_win(void)
{
	unsigned long flags;
	char data[16];

	CHECK_INT(mount_options_parse("ro,rw,noexec,exec,nodev", &flags, data, sizeof(data)), 0);
	CHECK(flags == MS_NODEV);
	CHECK_STR(data, "");
}

static void bind_flags(void)
{
	unsigned long flags;
	char data[16];

	CHECK_INT(mount_options_parse("rbind,defaults", &flags, data, sizeof(data)), 0);
	CHECK(flags == (MS_BIND | MS_REC));
}

static void empty_and_null(void)
{
	unsigned long flags = 99;
	char data[8] = "x";

	CHECK_INT(mount_options_parse(NULL, &flags, data, sizeof(data)), 0);
	CHECK(flags == 0);
	CHECK_STR(data, "");
	CHECK_INT(mount_options_parse("", &flags, data, sizeof(data)), 0);
}

static void data_too_long(void)
{
	unsigned long flags;
	char data[8];

	CHECK_INT(mount_options_parse("size=123456789", &flags, data, sizeof(data)), -7);
}

int main(void)
{
	RUN(flags_and_data_split);
	RUN(later_options_win);
	RUN(bind_flags);
	RUN(empty_and_null);
	RUN(data_too_long);
	return check_summary("init/mounts");
}
