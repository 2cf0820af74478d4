/* Unit tests for ember-rootfs's parsers: image references, platforms, digests, .modinfo,
 * --entrypoint/--cmd values, the boot config and ext4 sizing. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "log.h"
#include "config.h"
#include "digest.h"
#include "image.h"
#include "modules.h"
#include "output.h"

static void test_parse_reference(void)
{
	enum image_transport transport;
	const char *path, *tag;
	char *copy;

	CHECK_INT(image_parse_reference("oci:/a/b:v1", &transport, &copy, &path, &tag), 0);
	CHECK_INT(transport, TRANSPORT_OCI);
	CHECK_STR(path, "/a/b");
	CHECK_STR(tag, "v1");
	free(copy);
	CHECK_INT(image_parse_reference("docker-archive:x.tar:busybox:1", &transport, &copy, &path,
					&tag), 0);
	CHECK_INT(transport, TRANSPORT_DOCKER_ARCHIVE);
	CHECK_STR(path, "x.tar");
	CHECK_STR(tag, "busybox:1");
	free(copy);
	CHECK_INT(image_parse_reference("rootfs:/srv/a:b", &transport, &copy, &path, &tag), 0);
	CHECK_STR(path, "/srv/a:b");
	CHECK_STR(tag, "");
	free(copy);
	CHECK_INT(image_parse_reference("oci-archive:f.tar", &transport, &copy, &path, &tag), 0);
	CHECK_INT(transport, TRANSPORT_OCI_ARCHIVE);
	CHECK_STR(tag, "");
	free(copy);
	CHECK_INT(image_parse_reference("docker://busybox", &transport, &copy, &path, &tag),
		  -EINVAL);
	CHECK_INT(image_parse_reference("oci:", &transport, &copy, &path, &tag), -EINVAL);
}

static void test_platform_parse(void)
{
	struct platform p;

	CHECK_INT(platform_parse("arm64", &p), 0);
	CHECK_STR(p.os, "linux");
	CHECK_STR(p.architecture, "arm64");
	CHECK_STR(p.variant, "");
	CHECK_INT(platform_parse("linux/arm64/v8", &p), 0);
	CHECK_STR(p.variant, "v8");
	CHECK_INT(platform_parse("linux", &p), -EINVAL);
	CHECK_INT(platform_parse("a/b/c/d", &p), -EINVAL);
}

static void test_digest_validation(void)
{
	CHECK(digest_algorithm("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") != NULL);
	CHECK(digest_algorithm("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef") == NULL);
	CHECK(digest_algorithm("sha256:0123") == NULL);
	CHECK(digest_algorithm("md5:d41d8cd98f00b204e9800998ecf8427e") == NULL);
	CHECK(digest_algorithm("sha256:../../../../etc/passwd") == NULL);
	CHECK(digest_algorithm(NULL) == NULL);
}

static void test_modinfo_get(void)
{
	static const char modinfo[] = "license=GPL\0\0depends=a,b-c\0vermagic=6.1.0 SMP\0";
	char value[64];

	CHECK_INT(modinfo_get(modinfo, sizeof(modinfo), "depends", value, sizeof(value)), 0);
	CHECK_STR(value, "a,b-c");
	CHECK_INT(modinfo_get(modinfo, sizeof(modinfo), "vermagic", value, sizeof(value)), 0);
	CHECK_STR(value, "6.1.0 SMP");
	CHECK_INT(modinfo_get(modinfo, sizeof(modinfo), "alias", value, sizeof(value)), -ENOENT);
	CHECK_INT(modinfo_get(modinfo, sizeof(modinfo), "depend", value, sizeof(value)), -ENOENT);
}

static void test_elf_rejects_garbage(void)
{
	unsigned char data[sizeof(Elf64_Ehdr)] = {0};
	Elf64_Ehdr *header = (Elf64_Ehdr *)data;
	const char *section;
	size_t size;

	CHECK_INT(elf_find_modinfo(data, sizeof(data), &section, &size), -EINVAL);
	memcpy(data, ELFMAG, SELFMAG);
	data[EI_CLASS] = ELFCLASS64;
	data[EI_DATA] = ELFDATA2LSB;
	header->e_shentsize = sizeof(Elf64_Shdr);
	header->e_shoff = 1 << 20; /* past the end */
	header->e_shnum = 4;
	CHECK_INT(elf_find_modinfo(data, sizeof(data), &section, &size), -EINVAL);
	CHECK_INT(elf_find_modinfo(data, 10, &section, &size), -EINVAL);
}

static void test_module_name(void)
{
	char name[] = "vmw-vsock_virtio-transport";

	module_normalize_name(name);
	CHECK_STR(name, "vmw_vsock_virtio_transport");
}

static void test_parse_args(void)
{
	json_t *args = boot_parse_args("[\"sh\", \"-c\", \"echo hi\"]");

	CHECK_INT(json_array_size(args), 3);
	json_decref(args);
	args = boot_parse_args("/bin/sh -c");
	CHECK_INT(json_array_size(args), 1);
	CHECK_STR(json_string_value(json_array_get(args, 0)), "/bin/sh -c");
	json_decref(args);
	args = boot_parse_args("");
	CHECK(json_is_array(args));
	CHECK_INT(json_array_size(args), 0);
	json_decref(args);
	CHECK(boot_parse_args("[1]") == NULL);
	CHECK(boot_parse_args("[\"unterminated\"") == NULL);
}

static json_t *image_config(void)
{
	return json_pack("{s:{s:[s], s:[s,s], s:[s,s], s:s, s:s, s:s}}", "config", "Entrypoint",
			 "/entry", "Cmd", "a", "b", "Env", "PATH=/bin", "K=image", "WorkingDir",
			 "/work", "User", "app", "StopSignal", "SIGQUIT");
}

static void test_boot_config_defaults(void)
{
	struct boot_overrides o = {0};
	json_t *image = image_config(), *config = NULL, *process;

	CHECK_INT(boot_config_build(image, &o, NULL, &config), 0);
	process = json_object_get(config, "process");
	CHECK_INT(json_array_size(json_object_get(process, "args")), 3);
	CHECK_STR(json_string_value(json_array_get(json_object_get(process, "args"), 2)), "b");
	CHECK_STR(json_string_value(json_object_get(process, "cwd")), "/work");
	CHECK_STR(json_string_value(json_object_get(process, "user")), "app");
	CHECK_STR(json_string_value(json_object_get(process, "stop_signal")), "SIGQUIT");
	CHECK(json_object_get(config, "agent") == NULL);
	CHECK(json_object_get(config, "modules") == NULL);
	json_decref(config);
	json_decref(image);
}

static void test_boot_config_overrides(void)
{
	struct boot_overrides o = {.entrypoint = "/other", .env = {"K=cli", "NEW=1"},
				   .env_count = 2, .listen = {"vsock:1023"}, .listen_count = 1};
	json_t *image = image_config(), *config = NULL, *process, *env;

	CHECK_INT(boot_config_build(image, &o, NULL, &config), 0);
	process = json_object_get(config, "process");
	/* --entrypoint without --cmd drops the image's Cmd. */
	CHECK_INT(json_array_size(json_object_get(process, "args")), 1);
	env = json_object_get(process, "env");
	CHECK_INT(json_array_size(env), 3);
	CHECK_STR(json_string_value(json_array_get(env, 1)), "K=cli");
	CHECK_STR(json_string_value(json_array_get(json_object_get(json_object_get(config, "agent"),
								    "listen"), 0)),
		  "vsock:1023");
	json_decref(config);

	o.cmd = "[\"x\"]";
	o.entrypoint = "";
	CHECK_INT(boot_config_build(image, &o, NULL, &config), 0);
	process = json_object_get(config, "process");
	CHECK_INT(json_array_size(json_object_get(process, "args")), 1);
	CHECK_STR(json_string_value(json_array_get(json_object_get(process, "args"), 0)), "x");
	json_decref(config);

	o.cmd = "";
	config = NULL;
	CHECK_INT(boot_config_build(image, &o, NULL, &config), -EINVAL);
	CHECK(config == NULL);
	json_decref(image);
}

static void test_boot_config_path_default(void)
{
	struct boot_overrides o = {0};
	json_t *image = json_pack("{s:{s:[s]}}", "config", "Cmd", "/x"), *config = NULL;

	CHECK_INT(boot_config_build(image, &o, NULL, &config), 0);
	CHECK_STR(json_string_value(json_array_get(json_object_get(json_object_get(config, "process"),
								    "env"), 0)),
		  DEFAULT_PATH_ENV);
	CHECK_STR(json_string_value(json_object_get(json_object_get(config, "process"), "cwd")), "/");
	json_decref(config);
	json_decref(image);
}

static void test_boot_config_invalid_image_env(void)
{
	struct boot_overrides o = {0};
	json_t *image = json_pack("{s:{s:[s], s:[s,s,s]}}", "config", "Cmd", "/x", "Env", "BAD",
				  "=x", "GOOD=1"),
	       *config = NULL, *env;

	CHECK_INT(boot_config_build(image, &o, NULL, &config), 0);
	env = json_object_get(json_object_get(config, "process"), "env");
	CHECK_INT(json_array_size(env), 2);
	CHECK_STR(json_string_value(json_array_get(env, 1)), "GOOD=1");
	json_decref(config);
	json_decref(image);
}

static void test_ext4_plan(void)
{
	struct tree_stats stats = {.inodes = 60000, .data_blocks = 60000};
	struct output_options options = {0};
	uint64_t size, inodes, bigger_size, more_inodes;

	ext4_plan(&stats, &options, &size, &inodes);
	CHECK(inodes > 60000 + 1000);
	CHECK(size >= 60000ULL * 4096 + inodes * 256);
	CHECK_INT(size % (4 << 20), 0);
	options.free = 1ULL << 30;
	ext4_plan(&stats, &options, &bigger_size, &more_inodes);
	CHECK(bigger_size >= size + (1ULL << 30));
	CHECK(more_inodes > inodes);
}

int main(void)
{
	/* The builder logs the errors these tests provoke; keep the test output clean. */
	log_init("test_parse");
	log_set_level(0);
	RUN(test_parse_reference);
	RUN(test_platform_parse);
	RUN(test_digest_validation);
	RUN(test_modinfo_get);
	RUN(test_elf_rejects_garbage);
	RUN(test_module_name);
	RUN(test_parse_args);
	RUN(test_boot_config_defaults);
	RUN(test_boot_config_overrides);
	RUN(test_boot_config_path_default);
	RUN(test_boot_config_invalid_image_env);
	RUN(test_ext4_plan);
	return check_summary("rootfs_parse");
}
