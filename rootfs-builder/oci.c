/* OCI image layouts: index.json, nested indexes, manifests, configs and layer descriptors,
 * each blob checked against its descriptor's digest and size. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "image.h"
#include "log.h"

#define MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

struct layer_media_type {
	const char *name;
	enum layer_compression compression;
};

static const struct layer_media_type layer_media_types[] = {
	{"application/vnd.oci.image.layer.v1.tar", LAYER_UNCOMPRESSED},
	{"application/vnd.oci.image.layer.v1.tar+gzip", LAYER_GZIP},
	{"application/vnd.oci.image.layer.v1.tar+zstd", LAYER_ZSTD},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar", LAYER_UNCOMPRESSED},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", LAYER_GZIP},
	{"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", LAYER_ZSTD},
	{"application/vnd.docker.image.rootfs.diff.tar", LAYER_UNCOMPRESSED},
	{"application/vnd.docker.image.rootfs.diff.tar.gzip", LAYER_GZIP},
	{"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", LAYER_GZIP},
};

int platform_parse(const char *text, struct platform *platform)
{
	char copy[128], *parts[3] = {NULL, NULL, NULL}, *save = NULL, *p;
	int n = 0;

	memset(platform, 0, sizeof(*platform));
	if (strlen(text) >= sizeof(copy))
		return -EINVAL;
	if (strcmp(text, "amd64") == 0 || strcmp(text, "arm64") == 0) {
		strcpy(platform->os, "linux");
		strcpy(platform->architecture, text);
		return 0;
	}
	strcpy(copy, text);
	for (p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (n == 3)
			return -EINVAL;
		parts[n++] = p;
	}
	if (n < 2 || strlen(parts[0]) >= sizeof(platform->os) ||
	    strlen(parts[1]) >= sizeof(platform->architecture) ||
	    (parts[2] && strlen(parts[2]) >= sizeof(platform->variant)))
		return -EINVAL;
	strcpy(platform->os, parts[0]);
	strcpy(platform->architecture, parts[1]);
	if (parts[2])
		strcpy(platform->variant, parts[2]);
	return 0;
}

int image_read_json(const char *path, const char *digest, json_t **json)
{
	json_error_t error;
	struct stat st;
	char actual[DIGEST_MAX_TEXT];
	int err;

	if (stat(path, &st) < 0) {
		err = -errno;
		log_error("failed to read '%s': %s", path, strerror(-err));
		return err;
	}
	if (st.st_size > IMAGE_MAX_JSON_BYTES) {
		log_error("'%s' is %lld bytes, over the %d-byte limit for JSON documents", path,
			  (long long)st.st_size, IMAGE_MAX_JSON_BYTES);
		return -EFBIG;
	}
	if (digest) {
		err = digest_file(path, digest, actual, NULL, NULL);
		if (err < 0) {
			log_error("failed to hash '%s': %s", path, strerror(-err));
			return err;
		}
		if (strcmp(actual, digest) != 0) {
			log_error("digest mismatch for '%s': expected %s, found %s (the blob is "
				  "corrupt: fetch the image again)", path, digest, actual);
			return -EBADMSG;
		}
	}
	*json = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
	if (!*json) {
		log_error("invalid JSON in '%s' at line %d, column %d: %s", path, error.line,
			  error.column, error.text);
		return -EINVAL;
	}
	return 0;
}

/* Finds blobs/ALG/HEX for a descriptor's digest and checks that its size matches. */
static int blob_path(const char *dir, const char *digest, json_int_t size, char *path,
		     size_t path_size)
{
	struct stat st;

	if (!digest_algorithm(digest)) {
		log_error("invalid or unsupported digest '%s' in '%s': expected sha256:<64 hex> "
			  "or sha512:<128 hex>", digest ? digest : "(none)", dir);
		return -EINVAL;
	}
	snprintf(path, path_size, "%s/blobs/%.*s/%s", dir,
		 (int)(strchr(digest, ':') - digest), digest, digest_hex(digest));
	if (stat(path, &st) < 0) {
		int err = -errno;

		log_error("blob %s not found in '%s' (%s): the layout is incomplete", digest, dir,
			  strerror(-err));
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("blob %s in '%s' is not a regular file", digest, dir);
		return -EINVAL;
	}
	if (size >= 0 && st.st_size != size) {
		log_error("blob %s in '%s' is %lld bytes, expected %lld from its descriptor (the "
			  "blob is truncated or corrupt)", digest, dir, (long long)st.st_size,
			  (long long)size);
		return -EBADMSG;
	}
	return 0;
}

static const char *json_string_at(json_t *object, const char *key)
{
	json_t *value = json_object_get(object, key);

	return json_is_string(value) ? json_string_value(value) : NULL;
}

/* Reads a descriptor's blob as JSON, verifying its digest and size. */
static int read_descriptor_json(const char *dir, json_t *descriptor, json_t **json)
{
	const char *digest = json_string_at(descriptor, "digest");
	json_t *size = json_object_get(descriptor, "size");
	char path[PATH_MAX];
	int err;

	if (!json_is_integer(size)) {
		log_error("descriptor %s in '%s' has no integer size", digest ? digest : "(none)",
			  dir);
		return -EINVAL;
	}
	err = blob_path(dir, digest, json_integer_value(size), path, sizeof(path));
	if (err < 0)
		return err;
	return image_read_json(path, digest, json);
}

static int platform_matches(json_t *descriptor, const struct platform *want)
{
	json_t *platform = json_object_get(descriptor, "platform");
	const char *os = json_string_at(platform, "os");
	const char *arch = json_string_at(platform, "architecture");
	const char *variant = json_string_at(platform, "variant");

	if (!os || !arch || strcmp(os, want->os) != 0 || strcmp(arch, want->architecture) != 0)
		return 0;
	return !want->variant[0] || (variant && strcmp(variant, want->variant) == 0);
}

static int is_index_type(const char *media_type)
{
	return media_type &&
	       (strcmp(media_type, MEDIA_OCI_INDEX) == 0 || strcmp(media_type, MEDIA_DOCKER_LIST) == 0);
}

static int is_manifest_type(const char *media_type)
{
	return media_type && (strcmp(media_type, MEDIA_OCI_MANIFEST) == 0 ||
			      strcmp(media_type, MEDIA_DOCKER_MANIFEST) == 0);
}

/* Picks one manifest descriptor from index.json by tag (the ref.name annotation). */
static json_t *pick_by_tag(const char *dir, json_t *manifests, const char *tag)
{
	size_t i, count = json_array_size(manifests);
	json_t *descriptor;

	if (tag[0]) {
		json_array_foreach(manifests, i, descriptor) {
			json_t *annotations = json_object_get(descriptor, "annotations");
			const char *name = json_string_at(annotations, ANNOTATION_REF_NAME);

			if (name && strcmp(name, tag) == 0)
				return descriptor;
		}
		log_error("tag '%s' not found in '%s/index.json'", tag, dir);
		return NULL;
	}
	if (count == 1)
		return json_array_get(manifests, 0);
	log_error("'%s/index.json' lists %zu images: name one as oci:%s:TAG", dir, count, dir);
	return NULL;
}

/* Writes the platforms of an index's entries as "linux/amd64, linux/arm64/v8". */
static void list_platforms(json_t *manifests, char *out, size_t size)
{
	size_t i, used = 0;
	json_t *entry;

	snprintf(out, size, "no platforms");
	json_array_foreach(manifests, i, entry) {
		json_t *platform = json_object_get(entry, "platform");
		const char *os = json_string_at(platform, "os");
		const char *arch = json_string_at(platform, "architecture");
		const char *variant = json_string_at(platform, "variant");
		int n;

		if (!os || !arch)
			continue;
		n = snprintf(out + used, size - used, "%s%s/%s%s%s", used ? ", " : "", os, arch,
			     variant ? "/" : "", variant ? variant : "");
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}

/* Resolves indexes (nested up to IMAGE_MAX_INDEX_DEPTH) to one manifest for the platform. */
static int resolve_manifest(const char *dir, json_t *descriptor, const struct platform *platform,
			    int depth, json_t **manifest, char **manifest_digest)
{
	const char *media_type = json_string_at(descriptor, "mediaType");
	json_t *document = NULL, *manifests, *entry, *chosen = NULL;
	size_t i;
	int err;

	err = read_descriptor_json(dir, descriptor, &document);
	if (err < 0)
		return err;
	if (!media_type)
		media_type = json_string_at(document, "mediaType");
	if (is_manifest_type(media_type) ||
	    (!media_type && json_is_array(json_object_get(document, "layers")))) {
		*manifest = document;
		*manifest_digest = strdup(json_string_at(descriptor, "digest"));
		return *manifest_digest ? 0 : -ENOMEM;
	}
	if (!is_index_type(media_type) && !json_is_array(json_object_get(document, "manifests"))) {
		log_error("unsupported manifest media type '%s' for %s in '%s'",
			  media_type ? media_type : "(none)", json_string_at(descriptor, "digest"),
			  dir);
		json_decref(document);
		return -ENOTSUP;
	}
	if (depth >= IMAGE_MAX_INDEX_DEPTH) {
		log_error("indexes in '%s' nest deeper than %d levels", dir, IMAGE_MAX_INDEX_DEPTH);
		json_decref(document);
		return -ELOOP;
	}
	manifests = json_object_get(document, "manifests");
	json_array_foreach(manifests, i, entry) {
		if (platform_matches(entry, platform)) {
			chosen = entry;
			break;
		}
	}
	if (!chosen && json_array_size(manifests) == 1 &&
	    !json_object_get(json_array_get(manifests, 0), "platform"))
		chosen = json_array_get(manifests, 0);
	if (!chosen) {
		char offered[512];

		list_platforms(manifests, offered, sizeof(offered));
		log_error("index %s in '%s' has no image for %s/%s%s%s: it offers %s (choose one "
			  "with --arch or --platform)", json_string_at(descriptor, "digest"), dir,
			  platform->os, platform->architecture, platform->variant[0] ? "/" : "",
			  platform->variant, offered);
		json_decref(document);
		return -ENOENT;
	}
	err = resolve_manifest(dir, chosen, platform, depth + 1, manifest, manifest_digest);
	json_decref(document);
	return err;
}

static int take_layers(const char *dir, json_t *manifest, struct image *image)
{
	json_t *layers = json_object_get(manifest, "layers"), *layer;
	size_t i, count = json_array_size(layers);

	if (!json_is_array(layers)) {
		log_error("manifest %s in '%s' has no layers array", image->manifest_digest, dir);
		return -EINVAL;
	}
	if (count > IMAGE_MAX_LAYERS) {
		log_error("manifest %s has %zu layers, over the limit of %d", image->manifest_digest,
			  count, IMAGE_MAX_LAYERS);
		return -E2BIG;
	}
	image->layers = calloc(count ? count : 1, sizeof(*image->layers));
	if (!image->layers)
		return -ENOMEM;
	json_array_foreach(layers, i, layer) {
		struct image_layer *out = &image->layers[image->layer_count];
		const char *media_type = json_string_at(layer, "mediaType");
		const char *digest = json_string_at(layer, "digest");
		json_t *size = json_object_get(layer, "size");
		const struct layer_media_type *type = NULL;
		char path[PATH_MAX];
		int err;

		for (size_t t = 0; t < sizeof(layer_media_types) / sizeof(layer_media_types[0]); t++) {
			if (media_type && strcmp(media_type, layer_media_types[t].name) == 0)
				type = &layer_media_types[t];
		}
		if (!type) {
			log_error("unsupported layer media type '%s' for layer %zu (%s): supported "
				  "are OCI and Docker tar layers, uncompressed, gzip or zstd",
				  media_type ? media_type : "(none)", i + 1, digest ? digest : "?");
			return -ENOTSUP;
		}
		if (!json_is_integer(size)) {
			log_error("layer %zu (%s) has no integer size", i + 1, digest ? digest : "?");
			return -EINVAL;
		}
		err = blob_path(dir, digest, json_integer_value(size), path, sizeof(path));
		if (err < 0)
			return err;
		out->kind = LAYER_TAR;
		out->path = strdup(path);
		out->digest = strdup(digest);
		out->media_type = strdup(media_type);
		out->size = json_integer_value(size);
		out->compression = type->compression;
		image->layer_count++;
		if (!out->path || !out->digest || !out->media_type)
			return -ENOMEM;
	}
	return 0;
}

int image_take_platform(struct image *image)
{
	const char *os = json_string_at(image->config, "os");
	const char *arch = json_string_at(image->config, "architecture");
	const char *variant = json_string_at(image->config, "variant");

	image->os = strdup(os ? os : "linux");
	image->architecture = strdup(arch ? arch : "amd64");
	image->variant = strdup(variant ? variant : "");
	return image->os && image->architecture && image->variant ? 0 : -ENOMEM;
}

int oci_open_layout(const char *dir, const char *tag, const struct platform *platform,
		    struct image *image)
{
	json_t *layout = NULL, *index = NULL, *manifest = NULL, *descriptor, *config;
	const char *version;
	char path[PATH_MAX];
	int err;

	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	err = image_read_json(path, NULL, &layout);
	if (err < 0)
		goto out;
	version = json_string_at(layout, "imageLayoutVersion");
	if (!version || strncmp(version, "1.", 2) != 0) {
		log_error("unsupported OCI layout version '%s' in '%s': expected 1.x",
			  version ? version : "(none)", path);
		err = -ENOTSUP;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/index.json", dir);
	err = image_read_json(path, NULL, &index);
	if (err < 0)
		goto out;
	descriptor = pick_by_tag(dir, json_object_get(index, "manifests"), tag);
	if (!descriptor) {
		err = -ENOENT;
		goto out;
	}
	err = resolve_manifest(dir, descriptor, platform, 0, &manifest, &image->manifest_digest);
	if (err < 0)
		goto out;
	config = json_object_get(manifest, "config");
	err = read_descriptor_json(dir, config, &image->config);
	if (err < 0)
		goto out;
	err = image_take_platform(image);
	if (err < 0)
		goto out;
	err = take_layers(dir, manifest, image);
out:
	json_decref(layout);
	json_decref(index);
	json_decref(manifest);
	return err;
}
