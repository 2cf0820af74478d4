/* ember-rootfs: turns a container image into a bootable microVM root filesystem (ext4
 * image, initramfs or directory) with ember-init, ember-agent and a boot config inside.
 *
 *   ember-rootfs build [options] -o OUTPUT IMAGE
 *   ember-rootfs inspect [--json] IMAGE
 *
 * The build applies every layer to an in-memory tree (nothing is unpacked on the disk),
 * adds ember's files, and writes the output under a temporary name that is renamed into
 * place only when it is complete. Helpers log what failed with its values and return
 * -errno; main only maps the result to an exit status.
 *
 * Exit status: 0 success, 1 build or input error, 2 usage error, 128+N stopped by signal N
 * (SIGINT, SIGTERM or SIGHUP; the temporary output and staging files are removed). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "config.h"
#include "fsutil.h"
#include "image.h"
#include "inject.h"
#include "layers.h"
#include "log.h"
#include "modules.h"
#include "output.h"
#include "progress.h"
#include "tree.h"

#define EXIT_BUILD_FAILED 1
#define EXIT_USAGE 2

enum format { FORMAT_EXT4, FORMAT_INITRAMFS, FORMAT_DIR };

struct build_options {
	const char *output, *image, *config_path, *ember_bin, *kernel_modules, *modules;
	const char *token_path;
	enum format format;
	struct platform platform;
	struct boot_overrides overrides;
	struct output_options out;
	int quiet, json;
	int platform_given; /* --arch or --platform was on the command line */
};


static void usage(FILE *stream)
{
	fprintf(stream,
		"usage: ember-rootfs build [options] -o OUTPUT IMAGE\n"
		"       ember-rootfs inspect [--json] [--arch ARCH | --platform P] IMAGE\n"
		"\n"
		"IMAGE: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG],\n"
		"       rootfs:DIR, rootfs-tar:FILE (plain trees; --config gives the process)\n"
		"\n"
		"build options:\n"
		"  -o, --output PATH          output file (ext4, initramfs) or new directory (dir)\n"
		"  -f, --format FORMAT        ext4 (default), initramfs or dir\n"
		"      --arch ARCH            amd64 (default) or arm64, for multi-platform images\n"
		"      --platform OS/ARCH[/V] platform for multi-platform images, e.g. linux/arm64/v8\n"
		"      --size SIZE            ext4 image size (bytes, or with K, M, G suffix)\n"
		"      --free SIZE            ext4 free space on top of the automatic size\n"
		"      --compress gzip|none   initramfs compression (default gzip)\n"
		"      --config FILE          OCI image config for rootfs: and rootfs-tar:\n"
		"      --entrypoint ARGS      replace Entrypoint (JSON array, or one word; '' clears)\n"
		"      --cmd ARGS             replace Cmd (JSON array, or one word)\n"
		"      --env NAME=VALUE       set an environment variable (repeatable)\n"
		"      --workdir DIR          working directory of the process\n"
		"      --user USER            user of the process (name, uid, uid:gid, name:group)\n"
		"      --hostname NAME        guest hostname\n"
		"      --listen ADDR          agent listener: vsock:PORT, unix:PATH, tcp:HOST:PORT\n"
		"                             (repeatable)\n"
		"      --agent-token FILE     install FILE as the agent token (tcp: needs one)\n"
		"      --start-mode MODE      auto (default) or host (wait for the host's start)\n"
		"      --kernel-modules DIR   kernel module tree (lib/modules/VERSION, or a package\n"
		"                             unpacked with dpkg -x)\n"
		"      --modules LIST         comma-separated modules to add with their dependencies\n"
		"      --ember-bin DIR        directory with ember-init and ember-agent\n"
		"  -q, --quiet                no progress line\n"
		"\n"
		"SOURCE_DATE_EPOCH makes the output reproducible: the same input gives the same bytes.\n");
}

static void request_stop(int signal_number)
{
	stop_signal_received = signal_number;
}

static int parse_size(const char *text, uint64_t *bytes)
{
	char *end;
	unsigned long long value;
	unsigned shift = 0;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno || end == text || text[0] == '-')
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
	case 'm':
		shift = 20;
		break;
	case 'G':
	case 'g':
		shift = 30;
		break;
	case 'T':
	case 't':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1] && strcmp(end + 1, "iB") != 0 && strcmp(end + 1, "B") != 0)
		return -EINVAL;
	if (shift && value > (UINT64_MAX >> shift))
		return -ERANGE;
	*bytes = (uint64_t)value << shift;
	return 0;
}

static int parse_epoch(int64_t *epoch)
{
	const char *text = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long value;

	*epoch = -1;
	if (!text || !*text)
		return 0;
	errno = 0;
	value = strtoll(text, &end, 10);
	if (errno || *end || value < 0 || value > UINT32_MAX) {
		log_error("invalid SOURCE_DATE_EPOCH '%s': expected seconds since 1970 as an "
			  "integer", text);
		return -EINVAL;
	}
	*epoch = value;
	return 0;
}

enum option_id {
	OPT_ARCH = 256,
	OPT_PLATFORM,
	OPT_SIZE,
	OPT_FREE,
	OPT_COMPRESS,
	OPT_CONFIG,
	OPT_ENTRYPOINT,
	OPT_CMD,
	OPT_ENV,
	OPT_WORKDIR,
	OPT_USER,
	OPT_HOSTNAME,
	OPT_LISTEN,
	OPT_TOKEN,
	OPT_START_MODE,
	OPT_KERNEL_MODULES,
	OPT_MODULES,
	OPT_EMBER_BIN,
	OPT_JSON,
};

static const struct option long_options[] = {
	{"output", required_argument, NULL, 'o'},
	{"format", required_argument, NULL, 'f'},
	{"quiet", no_argument, NULL, 'q'},
	{"help", no_argument, NULL, 'h'},
	{"arch", required_argument, NULL, OPT_ARCH},
	{"platform", required_argument, NULL, OPT_PLATFORM},
	{"size", required_argument, NULL, OPT_SIZE},
	{"free", required_argument, NULL, OPT_FREE},
	{"compress", required_argument, NULL, OPT_COMPRESS},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
	{"cmd", required_argument, NULL, OPT_CMD},
	{"env", required_argument, NULL, OPT_ENV},
	{"workdir", required_argument, NULL, OPT_WORKDIR},
	{"user", required_argument, NULL, OPT_USER},
	{"hostname", required_argument, NULL, OPT_HOSTNAME},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"agent-token", required_argument, NULL, OPT_TOKEN},
	{"start-mode", required_argument, NULL, OPT_START_MODE},
	{"kernel-modules", required_argument, NULL, OPT_KERNEL_MODULES},
	{"modules", required_argument, NULL, OPT_MODULES},
	{"ember-bin", required_argument, NULL, OPT_EMBER_BIN},
	{"json", no_argument, NULL, OPT_JSON},
	{NULL, 0, NULL, 0},
};

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ember-rootfs: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'ember-rootfs --help' for the options.\n");
	return -EINVAL;
}

static int take_option(struct build_options *o, int option, const char *arg)
{
	struct boot_overrides *b = &o->overrides;

	switch (option) {
	case 'o':
		o->output = arg;
		return 0;
	case 'f':
		if (strcmp(arg, "ext4") == 0)
			o->format = FORMAT_EXT4;
		else if (strcmp(arg, "initramfs") == 0)
			o->format = FORMAT_INITRAMFS;
		else if (strcmp(arg, "dir") == 0)
			o->format = FORMAT_DIR;
		else
			return usage_error("invalid --format '%s': expected ext4, initramfs or dir",
					   arg);
		return 0;
	case 'q':
		o->quiet = 1;
		return 0;
	case OPT_ARCH:
		if (strcmp(arg, "amd64") != 0 && strcmp(arg, "arm64") != 0)
			return usage_error("invalid --arch '%s': expected amd64 or arm64", arg);
		o->platform_given = 1;
		return platform_parse(arg, &o->platform);
	case OPT_PLATFORM:
		o->platform_given = 1;
		if (platform_parse(arg, &o->platform) < 0)
			return usage_error("invalid --platform '%s': expected OS/ARCH[/VARIANT]",
					   arg);
		return 0;
	case OPT_SIZE:
		if (parse_size(arg, &o->out.size) < 0)
			return usage_error("invalid --size '%s': expected bytes with an optional "
					   "K, M, G or T suffix", arg);
		return 0;
	case OPT_FREE:
		if (parse_size(arg, &o->out.free) < 0)
			return usage_error("invalid --free '%s': expected bytes with an optional "
					   "K, M, G or T suffix", arg);
		return 0;
	case OPT_COMPRESS:
		if (strcmp(arg, "gzip") != 0 && strcmp(arg, "none") != 0)
			return usage_error("invalid --compress '%s': expected gzip or none", arg);
		o->out.compress = strcmp(arg, "gzip") == 0;
		return 0;
	case OPT_CONFIG:
		o->config_path = arg;
		return 0;
	case OPT_ENTRYPOINT:
		b->entrypoint = arg;
		return 0;
	case OPT_CMD:
		b->cmd = arg;
		return 0;
	case OPT_ENV:
		if (b->env_count == BOOT_MAX_OVERRIDES)
			return usage_error("too many --env options (the limit is %d)", BOOT_MAX_OVERRIDES);
		b->env[b->env_count++] = arg;
		return 0;
	case OPT_WORKDIR:
		b->workdir = arg;
		return 0;
	case OPT_USER:
		b->user = arg;
		return 0;
	case OPT_HOSTNAME:
		b->hostname = arg;
		return 0;
	case OPT_LISTEN:
		if (b->listen_count == BOOT_MAX_OVERRIDES)
			return usage_error("too many --listen options (the limit is %d)", BOOT_MAX_OVERRIDES);
		b->listen[b->listen_count++] = arg;
		return 0;
	case OPT_TOKEN:
		o->token_path = arg;
		b->has_token = 1;
		return 0;
	case OPT_START_MODE:
		b->start_mode = arg;
		return 0;
	case OPT_KERNEL_MODULES:
		o->kernel_modules = arg;
		return 0;
	case OPT_MODULES:
		o->modules = arg;
		return 0;
	case OPT_EMBER_BIN:
		o->ember_bin = arg;
		return 0;
	case OPT_JSON:
		o->json = 1;
		return 0;
	}
	return -EINVAL;
}

static int parse_options(int argc, char **argv, struct build_options *o, int building)
{
	int option;

	memset(o, 0, sizeof(*o));
	o->out.compress = 1;
	platform_parse("amd64", &o->platform);
	optind = 2;
	while ((option = getopt_long(argc, argv, "o:f:qh", long_options, NULL)) != -1) {
		if (option == 'h') {
			usage(stdout);
			exit(0);
		}
		if (option == '?' || take_option(o, option, optarg) < 0)
			return -EINVAL;
	}
	if (optind != argc - 1)
		return usage_error("%s", "expected exactly one IMAGE after the options");
	o->image = argv[optind];
	if (!building)
		return 0;
	if (!o->output)
		return usage_error("%s", "missing -o OUTPUT");
	if (o->modules && !o->kernel_modules)
		return usage_error("%s", "--modules needs --kernel-modules DIR");
	if (o->kernel_modules && !o->modules)
		return usage_error("%s", "--kernel-modules needs --modules LIST");
	if (o->format != FORMAT_EXT4 && (o->out.size || o->out.free))
		return usage_error("%s", "--size and --free apply to --format ext4 only");
	return 0;
}

static const char *staging_parent(void)
{
	const char *tmpdir = getenv("TMPDIR");

	return tmpdir && *tmpdir ? tmpdir : "/var/tmp";
}

static void report_bytes(uint64_t bytes, void *arg)
{
	progress_update(arg, bytes);
}

static uint64_t layer_bytes(const struct image *image)
{
	uint64_t total = 0;

	for (size_t i = 0; i < image->layer_count; i++)
		total += image->layers[i].size > 0 ? (uint64_t)image->layers[i].size : 0;
	return total;
}

static int apply_layers(struct tree *tree, const struct image *image, struct progress *progress)
{
	uint64_t base = 0;
	int err = 0;

	progress_stage(progress, "layer", image->layer_count, layer_bytes(image), 1);
	for (size_t i = 0; i < image->layer_count && err == 0; i++) {
		const struct image_layer *layer = &image->layers[i];
		struct layer_reader reader;
		char source[64];

		tree->layer = (unsigned)i + 1;
		progress_step(progress, i + 1, base);
		if (layer->kind == LAYER_DIRECTORY) {
			err = layer_apply_directory(tree, layer->path);
			continue;
		}
		err = layer_reader_open(&reader, layer, report_bytes, progress);
		if (err < 0)
			break;
		snprintf(source, sizeof(source), "layer %zu", i + 1);
		err = layer_apply(tree, reader.archive, source, 1);
		layer_reader_close(&reader);
		base += layer->size > 0 ? (uint64_t)layer->size : 0;
	}
	tree->layer = 0;
	return err;
}

static void report_inodes(uint64_t done, uint64_t total, void *arg)
{
	struct progress *progress = arg;

	progress->total = total;
	progress_update(progress, done);
}

/* A single-platform image (and a plain tree with --config) is taken as it is, so an
 * --arch or --platform it does not match would otherwise give a root for another
 * architecture than the one requested. */
static int check_requested_platform(const struct build_options *o, const struct image *image)
{
	if (!o->platform_given || strcmp(o->platform.architecture, image->architecture) == 0)
		return 0;
	log_error("image '%s' is for %s/%s, not for the requested %s: choose an image or "
		  "index that has %s, or leave out --arch and --platform", o->image, image->os,
		  image->architecture, o->platform.architecture, o->platform.architecture);
	return -EINVAL;
}

static int write_output(struct tree *tree, struct build_options *o, struct progress *progress)
{
	char temp_output[PATH_MAX];
	struct stat st;
	int err;

	if (lstat(o->output, &st) == 0 && (o->format == FORMAT_DIR || S_ISDIR(st.st_mode))) {
		log_error("'%s' already exists: remove it or choose another --output", o->output);
		return -EEXIST;
	}
	snprintf(temp_output, sizeof(temp_output), "%s.tmp-%d", o->output, (int)getpid());
	o->out.progress = report_inodes;
	o->out.progress_arg = progress;
	progress_stage(progress, "writing inodes", 0, 0, 0);
	switch (o->format) {
	case FORMAT_EXT4:
		err = ext4_write(tree, temp_output, &o->out);
		break;
	case FORMAT_INITRAMFS:
		err = cpio_write(tree, temp_output, &o->out);
		break;
	default:
		err = dir_write(tree, temp_output, &o->out);
		break;
	}
	progress_finish(progress);
	if (err == 0 && rename(temp_output, o->output) < 0) {
		err = -errno;
		log_error("failed to rename '%s' to '%s': %s", temp_output, o->output,
			  strerror(-err));
	}
	if (err < 0) {
		if (o->format == FORMAT_DIR)
			remove_tree(temp_output);
		else
			unlink(temp_output);
	}
	return err;
}

static int build(struct build_options *o)
{
	struct image image;
	struct tree tree;
	struct progress progress;
	json_t *modules = NULL, *boot_config = NULL;
	char bin_dir[PATH_MAX], spool_dir[PATH_MAX];
	int err;

	/* 1. Read the image and check every blob before anything is written. */
	err = parse_epoch(&o->out.epoch);
	if (err < 0)
		return err;
	err = image_open(o->image, &o->platform, o->config_path, staging_parent(), &image);
	if (err < 0)
		return err;
	progress_init(&progress, o->quiet);
	progress_stage(&progress, "verifying", 0, layer_bytes(&image), 1);
	err = image_verify_layers(&image, report_bytes, &progress);
	progress_finish(&progress);
	if (err < 0)
		goto out_image;
	err = check_requested_platform(o, &image);
	if (err < 0)
		goto out_image;
	err = inject_find_binaries(o->ember_bin, image.architecture, bin_dir, sizeof(bin_dir));
	if (err < 0)
		goto out_image;

	/* 2. Apply the layers to the in-memory tree, spooling contents next to the output. */
	parent_dir(o->output, spool_dir, sizeof(spool_dir));
	err = tree_init(&tree, spool_dir, o->out.epoch >= 0 ? o->out.epoch : time(NULL));
	if (err < 0) {
		log_error("failed to create a spool file in '%s': %s", spool_dir, strerror(-err));
		goto out_image;
	}
	err = apply_layers(&tree, &image, &progress);
	progress_finish(&progress);
	if (err < 0)
		goto out_tree;

	/* 3. Kernel modules, the boot config and ember's own files. */
	if (o->modules) {
		err = modules_add(&tree, o->kernel_modules, o->modules, &modules);
		if (err < 0)
			goto out_tree;
	}
	err = boot_config_build(image.config, &o->overrides, modules, &boot_config);
	if (err < 0)
		goto out_tree;
	err = inject_all(&tree, bin_dir, boot_config, o->token_path,
			 o->format == FORMAT_INITRAMFS);
	if (err < 0)
		goto out_tree;

	/* 4. Write the output under a temporary name, then rename it into place. */
	o->out.seed = image.manifest_digest ? image.manifest_digest : o->image;
	err = write_output(&tree, o, &progress);
out_tree:
	json_decref(modules);
	json_decref(boot_config);
	tree_free(&tree);
out_image:
	image_free(&image);
	return err;
}

static void print_json_field(const char *label, json_t *value)
{
	char *text;

	if (!value || json_is_null(value))
		return;
	text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
	if (text)
		printf("%-12s %s\n", label, text);
	free(text);
}

static int inspect(struct build_options *o)
{
	struct image image;
	json_t *config, *layers, *out;
	int err;

	err = image_open(o->image, &o->platform, o->config_path, staging_parent(), &image);
	if (err < 0)
		return err;
	config = json_object_get(image.config, "config");
	if (!o->json) {
		printf("%-12s %s\n", "image", o->image);
		if (image.manifest_digest)
			printf("%-12s %s\n", "manifest", image.manifest_digest);
		printf("%-12s %s/%s%s%s\n", "platform", image.os, image.architecture,
		       image.variant[0] ? "/" : "", image.variant);
		print_json_field("entrypoint", json_object_get(config, "Entrypoint"));
		print_json_field("cmd", json_object_get(config, "Cmd"));
		print_json_field("env", json_object_get(config, "Env"));
		print_json_field("workdir", json_object_get(config, "WorkingDir"));
		print_json_field("user", json_object_get(config, "User"));
		print_json_field("stop signal", json_object_get(config, "StopSignal"));
		printf("layers       %zu\n", image.layer_count);
		for (size_t i = 0; i < image.layer_count; i++) {
			const struct image_layer *l = &image.layers[i];
			const char *id = l->path;

			if (l->digest)
				id = l->digest;
			else if (l->diff_id)
				id = l->diff_id;
			printf("  %2zu  %s  %s  %lld bytes\n", i + 1, id,
			       l->media_type ? l->media_type : "tar", (long long)l->size);
		}
		image_free(&image);
		return 0;
	}
	layers = json_array();
	for (size_t i = 0; i < image.layer_count; i++) {
		const struct image_layer *l = &image.layers[i];

		json_array_append_new(layers,
				      json_pack("{s:s?, s:s?, s:s?, s:I}", "digest", l->digest,
						"diff_id", l->diff_id, "media_type", l->media_type,
						"size", (json_int_t)l->size));
	}
	out = json_pack("{s:s, s:s?, s:{s:s, s:s, s:s}, s:O, s:o}", "image", o->image,
			"manifest_digest", image.manifest_digest, "platform", "os", image.os,
			"architecture", image.architecture, "variant", image.variant, "config",
			config ? config : json_null(), "layers", layers);
	if (!out) {
		image_free(&image);
		return -ENOMEM;
	}
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(out);
	image_free(&image);
	return 0;
}

static void install_signal_handlers(void)
{
	struct sigaction action = {.sa_handler = request_stop};

	sigemptyset(&action.sa_mask);
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGHUP, &action, NULL);
}

int main(int argc, char **argv)
{
	struct build_options options;
	int building, err;

	log_init("ember-rootfs");
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("ember-rootfs %s\n", EMBER_VERSION);
		return 0;
	}
	building = strcmp(argv[1], "build") == 0;
	if (!building && strcmp(argv[1], "inspect") != 0) {
		fprintf(stderr, "ember-rootfs: unknown command '%s': expected build or inspect\n",
			argv[1]);
		return EXIT_USAGE;
	}
	if (parse_options(argc, argv, &options, building) < 0)
		return EXIT_USAGE;
	install_signal_handlers();
	err = building ? build(&options) : inspect(&options);
	if (stop_signal_received && err < 0) {
		log_error("stopped by signal %d; temporary files removed", stop_signal_received);
		return 128 + stop_signal_received;
	}
	return err < 0 ? EXIT_BUILD_FAILED : 0;
}
