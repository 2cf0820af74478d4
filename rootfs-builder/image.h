/* A source image resolved to one platform: its config document and an ordered list of
 * layers, each with the digests and size it must match. Filled in by oci.c (OCI layouts
 * and oci-archive files), docker.c (docker-archive files) and source.c (plain trees). */
#ifndef EMBER_ROOTFS_IMAGE_H
#define EMBER_ROOTFS_IMAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Maximum size of a JSON document (index, manifest, config) read into memory. */
#define IMAGE_MAX_JSON_BYTES (16 * 1024 * 1024)
/* Maximum depth of nested indexes followed to reach a manifest. */
#define IMAGE_MAX_INDEX_DEPTH 4
/* Maximum number of layers in one image. */
#define IMAGE_MAX_LAYERS 256

enum layer_compression {
	LAYER_UNCOMPRESSED,
	LAYER_GZIP,
	LAYER_ZSTD,
	LAYER_DETECT, /* docker-archive and rootfs-tar: detected from the first bytes */
};

enum layer_kind {
	LAYER_TAR,      /* a tar stream, possibly compressed */
	LAYER_DIRECTORY, /* rootfs:PATH, read from the disk */
};

struct image_layer {
	enum layer_kind kind;
	char *path;      /* the blob file, or the directory for LAYER_DIRECTORY */
	char *digest;    /* expected digest of the file's bytes, or NULL */
	char *diff_id;   /* expected digest of the uncompressed tar, or NULL */
	char *media_type; /* NULL where the source has none */
	int64_t size;    /* expected bytes of the file, -1 when unknown */
	enum layer_compression compression;
};

struct image {
	char *staging_dir;     /* unpacked archive, removed by image_free */
	char *manifest_digest; /* NULL for plain trees and docker-archive */
	char *os, *architecture, *variant;
	json_t *config;        /* the image config document ({"config": {...}, ...}) */
	struct image_layer *layers;
	size_t layer_count;
};

/* The platform that multi-platform indexes are resolved to. */
struct platform {
	char os[32];
	char architecture[32];
	char variant[32]; /* "" matches any variant */
};

/* Parses "amd64", "arm64" or "OS/ARCH[/VARIANT]". Returns 0 or -EINVAL. */
int platform_parse(const char *text, struct platform *platform);

/* Opens IMAGE in transport syntax (oci:, oci-archive:, docker-archive:, rootfs:,
 * rootfs-tar:), resolves it to one platform and checks that every blob exists with its
 * declared size. config_path (may be NULL) gives the image config for plain trees.
 * staging_parent is where archives are unpacked. Logs what failed and returns -errno. */
int image_open(const char *reference, const struct platform *platform, const char *config_path,
	       const char *staging_parent, struct image *image);
void image_free(struct image *image);

/* Hashes every layer blob and compares it with its digest (or diff_id). progress (may be
 * NULL) gets the bytes of all layers hashed so far. Logs a mismatch and returns -EBADMSG. */
int image_verify_layers(const struct image *image, void (*progress)(uint64_t bytes, void *arg),
			void *progress_arg);

/* Transports, for dispatch and for unit tests. */
enum image_transport {
	TRANSPORT_OCI,
	TRANSPORT_OCI_ARCHIVE,
	TRANSPORT_DOCKER_ARCHIVE,
	TRANSPORT_ROOTFS,
	TRANSPORT_ROOTFS_TAR,
};

/* Splits "TRANSPORT:PATH[:TAG]" into its parts (tag "" when absent; plain trees take no
 * tag). path and tag point into a copy the caller frees with free(*copy). */
int image_parse_reference(const char *reference, enum image_transport *transport, char **copy,
			  const char **path, const char **tag);

/* OCI image layout directories (oci.c). */
int oci_open_layout(const char *dir, const char *tag, const struct platform *platform,
		    struct image *image);

/* docker save output, legacy or OCI-based, unpacked in dir (docker.c). */
int docker_open_dir(const char *dir, const char *tag, struct image *image);

/* Reads a JSON file of at most IMAGE_MAX_JSON_BYTES; when digest is non-NULL the bytes
 * must match it. Logs what failed. */
int image_read_json(const char *path, const char *digest, json_t **json);

/* Fills os, architecture and variant from the image config. */
int image_take_platform(struct image *image);

#endif
