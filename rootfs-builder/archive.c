/* libarchive plumbing: safe unpacking of image archives, layer readers, decompression. */
#include "archive.h"

#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int has_unsafe_name(const char *name)
{
	const char *p = name;

	if (name[0] == '/')
		return 1;
	while (*p) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p += len;
		p += strspn(p, "/");
	}
	return 0;
}

int archive_unpack(const char *file, const char *dir)
{
	struct archive *in = archive_read_new(), *out = archive_write_disk_new();
	struct archive_entry *entry;
	char path[PATH_MAX];
	int err = 0, r;

	if (!in || !out) {
		err = -ENOMEM;
		goto out;
	}
	archive_read_support_format_tar(in);
	archive_read_support_filter_all(in);
	/* Only names and contents matter here: owners and modes of the archive's own files
	 * are not the image's, and the staging directory is private to this build.
	 * NOTE: symlinks are kept (docker save links shared layers) and may point anywhere,
	 * but every blob read through one must match its digest, so only content whose
	 * digest the archive's author already has can get into the image. */
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_SECURE_SYMLINKS |
						    ARCHIVE_EXTRACT_SECURE_NODOTDOT);
	if (archive_read_open_filename(in, file, ARCHIVE_READ_CHUNK) != ARCHIVE_OK) {
		log_error("failed to open '%s': %s", file, archive_error_string(in));
		err = -EINVAL;
		goto out;
	}
	while ((r = archive_read_next_header(in, &entry)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(entry);
		const char *hardlink = archive_entry_hardlink(entry);
		mode_t type = archive_entry_filetype(entry);

		if (!name || has_unsafe_name(name) || (hardlink && has_unsafe_name(hardlink))) {
			log_error("invalid member name '%s' in '%s': it leaves the archive",
				  name ? name : "(none)", file);
			err = -EINVAL;
			goto out;
		}
		if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		archive_entry_set_pathname(entry, path);
		if (hardlink) {
			snprintf(path, sizeof(path), "%s/%s", dir, hardlink);
			archive_entry_set_hardlink(entry, path);
		}
		archive_entry_set_perm(entry, type == AE_IFDIR ? 0700 : 0600);
		if (archive_read_extract2(in, entry, out) != ARCHIVE_OK) {
			log_error("failed to unpack '%s' from '%s': %s", name, file,
				  archive_error_string(out));
			err = -EIO;
			goto out;
		}
	}
	if (r != ARCHIVE_EOF) {
		log_error("failed to read '%s': %s", file, archive_error_string(in));
		err = -EINVAL;
	}
out:
	if (in)
		archive_read_free(in);
	if (out)
		archive_write_free(out);
	return err;
}

static la_ssize_t read_blob(struct archive *a, void *data, const void **buffer)
{
	struct layer_reader *reader = data;
	ssize_t n;

	do {
		n = read(reader->fd, reader->buffer, ARCHIVE_READ_CHUNK);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read failed");
		return -1;
	}
	reader->bytes_read += (uint64_t)n;
	if (reader->progress)
		reader->progress(reader->bytes_read, reader->progress_arg);
	*buffer = reader->buffer;
	return n;
}

int layer_reader_open(struct layer_reader *reader, const struct image_layer *layer,
		      progress_fn progress, void *progress_arg)
{
	memset(reader, 0, sizeof(*reader));
	reader->progress = progress;
	reader->progress_arg = progress_arg;
	reader->fd = open(layer->path, O_RDONLY | O_CLOEXEC);
	if (reader->fd < 0) {
		int err = -errno;

		log_error("failed to open layer '%s': %s", layer->path, strerror(-err));
		return err;
	}
	reader->buffer = malloc(ARCHIVE_READ_CHUNK);
	reader->archive = archive_read_new();
	if (!reader->buffer || !reader->archive) {
		layer_reader_close(reader);
		return -ENOMEM;
	}
	archive_read_support_format_tar(reader->archive);
	switch (layer->compression) {
	case LAYER_UNCOMPRESSED:
		archive_read_support_filter_none(reader->archive);
		break;
	case LAYER_GZIP:
		archive_read_support_filter_gzip(reader->archive);
		break;
	case LAYER_ZSTD:
		archive_read_support_filter_zstd(reader->archive);
		break;
	case LAYER_DETECT:
		archive_read_support_filter_gzip(reader->archive);
		archive_read_support_filter_zstd(reader->archive);
		archive_read_support_filter_xz(reader->archive);
		archive_read_support_filter_bzip2(reader->archive);
		break;
	}
	if (archive_read_open(reader->archive, reader, NULL, read_blob, NULL) != ARCHIVE_OK) {
		log_error("failed to read layer '%s': %s", layer->path,
			  archive_error_string(reader->archive));
		layer_reader_close(reader);
		return -EINVAL;
	}
	return 0;
}

void layer_reader_close(struct layer_reader *reader)
{
	if (reader->archive)
		archive_read_free(reader->archive);
	if (reader->fd >= 0)
		close(reader->fd);
	free(reader->buffer);
	reader->archive = NULL;
	reader->fd = -1;
	reader->buffer = NULL;
}

/* Opens path as a raw stream through whichever decompressor its first bytes call for. */
static struct archive *open_raw(const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *entry;

	if (!a)
		return NULL;
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_filename(a, path, ARCHIVE_READ_CHUNK) != ARCHIVE_OK ||
	    archive_read_next_header(a, &entry) != ARCHIVE_OK) {
		log_error("failed to read '%s': %s", path, archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

int digest_uncompressed(const char *path, const char *expected, char actual[DIGEST_MAX_TEXT],
			digest_progress_fn progress, void *progress_arg)
{
	struct digester digester;
	struct archive *a;
	const void *block;
	size_t size;
	la_int64_t offset;
	int err, r;

	err = digester_start(&digester, expected);
	if (err < 0)
		return err;
	a = open_raw(path);
	if (!a) {
		digester_abort(&digester);
		return -EINVAL;
	}
	while ((r = archive_read_data_block(a, &block, &size, &offset)) == ARCHIVE_OK) {
		digester_update(&digester, block, size);
		/* Compressed bytes consumed, so that the total matches the file size. */
		if (progress)
			progress((uint64_t)archive_filter_bytes(a, -1), progress_arg);
	}
	if (r != ARCHIVE_EOF) {
		log_error("failed to decompress '%s': %s", path, archive_error_string(a));
		archive_read_free(a);
		digester_abort(&digester);
		return -EINVAL;
	}
	archive_read_free(a);
	digester_finish(&digester, actual);
	return 0;
}

int decompress_file(const char *path, unsigned char **data, size_t *size)
{
	struct archive *a = open_raw(path);
	unsigned char *buf = NULL, *grown;
	size_t len = 0, cap = 0;
	la_ssize_t n;

	if (!a)
		return -EINVAL;
	for (;;) {
		if (cap - len < ARCHIVE_READ_CHUNK) {
			if (cap >= ARCHIVE_MAX_MEMORY_FILE) {
				log_error("'%s' decompresses to more than %d bytes", path,
					  ARCHIVE_MAX_MEMORY_FILE);
				free(buf);
				archive_read_free(a);
				return -EFBIG;
			}
			cap = cap ? cap * 2 : 4 * ARCHIVE_READ_CHUNK;
			grown = realloc(buf, cap);
			if (!grown) {
				free(buf);
				archive_read_free(a);
				return -ENOMEM;
			}
			buf = grown;
		}
		n = archive_read_data(a, buf + len, cap - len);
		if (n == 0)
			break;
		if (n < 0) {
			log_error("failed to decompress '%s': %s", path, archive_error_string(a));
			free(buf);
			archive_read_free(a);
			return -EINVAL;
		}
		len += (size_t)n;
	}
	archive_read_free(a);
	*data = buf;
	*size = len;
	return 0;
}
