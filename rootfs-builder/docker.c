/* docker save output (skopeo's docker-archive:), unpacked: manifest.json names the config
 * and the layer tars; each layer is checked against the config's rootfs.diff_ids. Both the
 * legacy layout (HEX.json, ID/layer.tar) and the OCI-based one of newer Docker releases
 * (blobs/sha256/HEX next to index.json) carry that manifest.json. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "digest.h"
#include "image.h"
#include "log.h"

/* Rejects names that leave the unpacked archive. */
static int safe_member(const char *name)
{
	const char *p = name;

	if (!name || !*name || name[0] == '/')
		return 0;
	while (*p) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return 0;
		p += len;
		p += strspn(p, "/");
	}
	return 1;
}

/* Docker names the config after its sha256: "HEX.json" or "blobs/sha256/HEX". */
static int config_digest_from_name(const char *name, char digest[DIGEST_MAX_TEXT])
{
	const char *base = strrchr(name, '/');
	size_t len;

	base = base ? base + 1 : name;
	len = strcspn(base, ".");
	if (len != 64)
		return -ENOENT;
	snprintf(digest, DIGEST_MAX_TEXT, "sha256:%.64s", base);
	return digest_algorithm(digest) ? 0 : -ENOENT;
}

static json_t *pick_image(json_t *manifest, const char *tag, const char *dir)
{
	size_t i, j, count = json_array_size(manifest);
	json_t *entry, *repo_tag;

	if (!tag[0]) {
		if (count == 1)
			return json_array_get(manifest, 0);
		log_error("'%s' contains %zu images: name one as docker-archive:FILE:NAME:TAG", dir,
			  count);
		return NULL;
	}
	json_array_foreach(manifest, i, entry) {
		json_array_foreach(json_object_get(entry, "RepoTags"), j, repo_tag) {
			const char *name = json_string_value(repo_tag);
			size_t name_len = name ? strlen(name) : 0, tag_len = strlen(tag);

			if (!name)
				continue;
			/* "busybox:1" also matches "docker.io/library/busybox:1". */
			if (strcmp(name, tag) == 0 ||
			    (name_len > tag_len && name[name_len - tag_len - 1] == '/' &&
			     strcmp(name + name_len - tag_len, tag) == 0))
				return entry;
		}
	}
	log_error("tag '%s' not found in the archive's manifest.json", tag);
	return NULL;
}

static int take_layer(const char *dir, const char *name, const char *diff_id, size_t number,
		      struct image_layer *layer)
{
	char path[PATH_MAX];
	struct stat st;

	if (!safe_member(name)) {
		log_error("invalid layer path '%s' in manifest.json: it leaves the archive", name);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("layer %zu '%s' named by manifest.json is missing from the archive",
			  number, name);
		return -ENOENT;
	}
	if (!digest_algorithm(diff_id)) {
		log_error("invalid diff_id '%s' for layer %zu in the image config",
			  diff_id ? diff_id : "(none)", number);
		return -EINVAL;
	}
	layer->kind = LAYER_TAR;
	layer->path = strdup(path);
	layer->diff_id = strdup(diff_id);
	layer->size = st.st_size;
	layer->compression = LAYER_DETECT;
	return layer->path && layer->diff_id ? 0 : -ENOMEM;
}

int docker_open_dir(const char *dir, const char *tag, struct image *image)
{
	json_t *manifest = NULL, *entry, *layers, *diff_ids;
	char path[PATH_MAX], digest[DIGEST_MAX_TEXT];
	const char *config_name;
	size_t i, count;
	int err;

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	err = image_read_json(path, NULL, &manifest);
	if (err < 0)
		return err;
	entry = pick_image(manifest, tag, dir);
	if (!entry) {
		err = -ENOENT;
		goto out;
	}
	config_name = json_string_value(json_object_get(entry, "Config"));
	if (!safe_member(config_name)) {
		log_error("invalid Config path '%s' in manifest.json",
			  config_name ? config_name : "(none)");
		err = -EINVAL;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, config_name);
	err = image_read_json(path, config_digest_from_name(config_name, digest) == 0 ? digest : NULL,
			      &image->config);
	if (err < 0)
		goto out;
	err = image_take_platform(image);
	if (err < 0)
		goto out;

	layers = json_object_get(entry, "Layers");
	diff_ids = json_object_get(json_object_get(image->config, "rootfs"), "diff_ids");
	count = json_array_size(layers);
	if (count != json_array_size(diff_ids)) {
		log_error("manifest.json lists %zu layers but the image config has %zu diff_ids",
			  count, json_array_size(diff_ids));
		err = -EINVAL;
		goto out;
	}
	if (count > IMAGE_MAX_LAYERS) {
		log_error("the image has %zu layers, over the limit of %d", count, IMAGE_MAX_LAYERS);
		err = -E2BIG;
		goto out;
	}
	image->layers = calloc(count ? count : 1, sizeof(*image->layers));
	if (!image->layers) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < count; i++) {
		err = take_layer(dir, json_string_value(json_array_get(layers, i)),
				 json_string_value(json_array_get(diff_ids, i)), i + 1,
				 &image->layers[i]);
		image->layer_count++;
		if (err < 0)
			goto out;
	}
out:
	json_decref(manifest);
	return err;
}
