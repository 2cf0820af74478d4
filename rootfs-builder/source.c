/* Image references: the transport syntax, unpacking archives into a staging directory,
 * plain trees as a single layer, and the digest check of every blob before use. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "archive.h"
#include "fsutil.h"
#include "image.h"
#include "log.h"

struct transport_name {
	const char *prefix;
	enum image_transport transport;
	int takes_tag;
};

static const struct transport_name transports[] = {
	{"oci:", TRANSPORT_OCI, 1},
	{"oci-archive:", TRANSPORT_OCI_ARCHIVE, 1},
	{"docker-archive:", TRANSPORT_DOCKER_ARCHIVE, 1},
	{"rootfs:", TRANSPORT_ROOTFS, 0},
	{"rootfs-tar:", TRANSPORT_ROOTFS_TAR, 0},
};

int image_parse_reference(const char *reference, enum image_transport *transport, char **copy,
			  const char **path, const char **tag)
{
	for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
		size_t len = strlen(transports[i].prefix);
		char *colon;

		if (strncmp(reference, transports[i].prefix, len) != 0)
			continue;
		*copy = strdup(reference + len);
		if (!*copy)
			return -ENOMEM;
		*transport = transports[i].transport;
		*path = *copy;
		*tag = "";
		/* As in skopeo, the path ends at the first colon; the rest is the tag. */
		colon = transports[i].takes_tag ? strchr(*copy, ':') : NULL;
		if (colon) {
			*colon = '\0';
			*tag = colon + 1;
		}
		if (!**path) {
			free(*copy);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

static int make_staging_dir(const char *parent, struct image *image)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/ember-rootfs.XXXXXX", parent);
	if (!mkdtemp(path)) {
		int err = -errno;

		log_error("failed to create a staging directory in '%s': %s (set TMPDIR to a "
			  "writable directory)", parent, strerror(-err));
		return err;
	}
	image->staging_dir = strdup(path);
	return image->staging_dir ? 0 : -ENOMEM;
}

/* Plain trees: the config comes from --config (an OCI image config) or is empty. */
static int open_plain(enum image_transport transport, const char *path,
		      const struct platform *platform, const char *config_path, struct image *image)
{
	struct image_layer *layer;
	struct stat st;
	int err;

	if (stat(path, &st) < 0) {
		err = -errno;
		log_error("failed to open '%s': %s", path, strerror(-err));
		return err;
	}
	if (transport == TRANSPORT_ROOTFS && !S_ISDIR(st.st_mode)) {
		log_error("'%s' is not a directory: use rootfs-tar: for a tar file", path);
		return -ENOTDIR;
	}
	if (transport == TRANSPORT_ROOTFS_TAR && !S_ISREG(st.st_mode)) {
		log_error("'%s' is not a regular file: use rootfs: for a directory", path);
		return -EINVAL;
	}
	if (config_path) {
		err = image_read_json(config_path, NULL, &image->config);
		if (err < 0)
			return err;
		if (!json_is_object(image->config)) {
			log_error("'%s' is not an OCI image config (a JSON object)", config_path);
			return -EINVAL;
		}
	} else {
		image->config = json_pack("{s:s, s:s, s:{}}", "os", platform->os, "architecture",
					  platform->architecture, "config");
		if (!image->config)
			return -ENOMEM;
	}
	if (!json_object_get(image->config, "architecture"))
		json_object_set_new(image->config, "architecture",
				    json_string(platform->architecture));
	err = image_take_platform(image);
	if (err < 0)
		return err;
	image->layers = calloc(1, sizeof(*image->layers));
	if (!image->layers)
		return -ENOMEM;
	layer = &image->layers[0];
	image->layer_count = 1;
	layer->kind = transport == TRANSPORT_ROOTFS ? LAYER_DIRECTORY : LAYER_TAR;
	layer->path = strdup(path);
	layer->size = -1;
	layer->compression = LAYER_DETECT;
	return layer->path ? 0 : -ENOMEM;
}

int image_open(const char *reference, const struct platform *platform, const char *config_path,
	       const char *staging_parent, struct image *image)
{
	enum image_transport transport;
	const char *path, *tag;
	char *copy = NULL;
	int err;

	memset(image, 0, sizeof(*image));
	err = image_parse_reference(reference, &transport, &copy, &path, &tag);
	if (err < 0) {
		log_error("invalid image reference '%s': use oci:DIR[:TAG], oci-archive:FILE[:TAG], "
			  "docker-archive:FILE[:TAG], rootfs:DIR or rootfs-tar:FILE", reference);
		return err;
	}
	if (config_path && transport != TRANSPORT_ROOTFS && transport != TRANSPORT_ROOTFS_TAR) {
		log_error("--config applies to rootfs: and rootfs-tar: only; '%s' has its own "
			  "config", reference);
		err = -EINVAL;
		goto out;
	}
	switch (transport) {
	case TRANSPORT_OCI:
		err = oci_open_layout(path, tag, platform, image);
		break;
	case TRANSPORT_OCI_ARCHIVE:
	case TRANSPORT_DOCKER_ARCHIVE:
		err = make_staging_dir(staging_parent, image);
		if (err < 0)
			break;
		err = archive_unpack(path, image->staging_dir);
		if (err < 0)
			break;
		if (transport == TRANSPORT_OCI_ARCHIVE)
			err = oci_open_layout(image->staging_dir, tag, platform, image);
		else
			err = docker_open_dir(image->staging_dir, tag, image);
		break;
	case TRANSPORT_ROOTFS:
	case TRANSPORT_ROOTFS_TAR:
		err = open_plain(transport, path, platform, config_path, image);
		break;
	}
out:
	free(copy);
	if (err < 0)
		image_free(image);
	return err;
}

void image_free(struct image *image)
{
	for (size_t i = 0; i < image->layer_count; i++) {
		free(image->layers[i].path);
		free(image->layers[i].digest);
		free(image->layers[i].diff_id);
		free(image->layers[i].media_type);
	}
	free(image->layers);
	if (image->staging_dir)
		remove_tree(image->staging_dir);
	free(image->staging_dir);
	free(image->manifest_digest);
	free(image->os);
	free(image->architecture);
	free(image->variant);
	json_decref(image->config);
	memset(image, 0, sizeof(*image));
}

struct verify_progress {
	void (*progress)(uint64_t bytes, void *arg);
	void *arg;
	uint64_t base; /* bytes of the layers already hashed */
};

static void report_verified(uint64_t bytes, void *arg)
{
	struct verify_progress *verify = arg;

	verify->progress(verify->base + bytes, verify->arg);
}

int image_verify_layers(const struct image *image, void (*progress)(uint64_t bytes, void *arg),
			void *progress_arg)
{
	struct verify_progress verify = {progress, progress_arg, 0};
	digest_progress_fn report = progress ? report_verified : NULL;
	char actual[DIGEST_MAX_TEXT];

	for (size_t i = 0; i < image->layer_count; i++) {
		const struct image_layer *layer = &image->layers[i];
		const char *expected = layer->digest ? layer->digest : layer->diff_id;
		int err;

		if (!expected)
			continue;
		/* A descriptor's digest covers the blob's bytes; a diff_id covers the
		 * uncompressed tar. */
		if (layer->digest)
			err = digest_file(layer->path, expected, actual, report, &verify);
		else
			err = digest_uncompressed(layer->path, expected, actual, report, &verify);
		verify.base += layer->size > 0 ? (uint64_t)layer->size : 0;
		if (err < 0) {
			log_error("failed to hash layer %zu '%s': %s", i + 1, layer->path,
				  strerror(-err));
			return err;
		}
		if (strcmp(actual, expected) != 0) {
			log_error("digest mismatch for layer %zu '%s': expected %s, found %s (the "
				  "blob is corrupt: fetch the image again)", i + 1, layer->path,
				  expected, actual);
			return -EBADMSG;
		}
	}
	return 0;
}
