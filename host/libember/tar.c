/* ustar and pax archive reading and writing (POSIX.1-2008, pax format). */
#include "copy_tar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

/* Field offsets and sizes of a ustar header block. */
#define F_NAME 0, 100
#define F_MODE 100, 8
#define F_UID 108, 8
#define F_GID 116, 8
#define F_SIZE 124, 12
#define F_MTIME 136, 12
#define F_CHKSUM 148, 8
#define F_TYPE 156
#define F_LINK 157, 100
#define F_MAGIC 257, 6
#define F_VERSION 263, 2
#define F_PREFIX 345, 155

void tar_header_free(struct tar_header *header)
{
	free(header->name);
	free(header->link_target);
	memset(header, 0, sizeof(*header));
}

/* Writes value as octal digits with a NUL; returns false when it does not fit. */
static bool put_octal(uint8_t *block, size_t offset, size_t size, uint64_t value)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%0*llo", (int)(size - 1), (unsigned long long)value);
	if (n < 0 || (size_t)n > size - 1)
		return false;
	memcpy(block + offset, text, size);
	return true;
}

static void put_string(uint8_t *block, size_t offset, size_t size, const char *text)
{
	size_t len = strlen(text);
	memcpy(block + offset, text, len < size ? len : size);
}

static void put_checksum(uint8_t *block)
{
	memset(block + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < TAR_BLOCK; i++)
		sum += block[i];
	snprintf((char *)block + 148, 8, "%06o", sum);
	block[155] = ' ';
}

/* Appends one "LEN key=value\n" pax record; LEN counts the whole record. */
static int add_record(char **buf, size_t *len, const char *key, const char *value)
{
	size_t body = strlen(key) + strlen(value) + 3;  /* ' ', '=', '\n' */
	size_t total = body + 1;
	while (snprintf(NULL, 0, "%zu", total) + body > total)
		total++;
	char *grown = realloc(*buf, *len + total + 1);
	if (!grown)
		return -ENOMEM;
	*buf = grown;
	snprintf(grown + *len, total + 1, "%zu %s=%s\n", total, key, value);
	*len += total;
	return 0;
}

static void fill_block(uint8_t *block, const struct tar_header *header, const char *name,
		       const char *link)
{
	memset(block, 0, TAR_BLOCK);
	put_string(block, F_NAME, name);
	put_octal(block, F_MODE, header->mode & 07777);
	put_octal(block, F_UID, header->uid);
	put_octal(block, F_GID, header->gid);
	put_octal(block, F_SIZE, header->type == TAR_FILE ? header->size : 0);
	put_octal(block, F_MTIME, header->mtime_sec < 0 ? 0 : (uint64_t)header->mtime_sec);
	block[F_TYPE] = (uint8_t)header->typeflag;
	put_string(block, F_LINK, link);
	memcpy(block + 257, "ustar", 6);
	memcpy(block + 263, "00", 2);
}

int tar_write_header(int fd, const struct tar_header *header)
{
	uint8_t block[TAR_BLOCK];
	char *pax = NULL;
	size_t pax_len = 0;
	char number[32];
	int r = 0;

	/* A name shorter than 100 bytes fits the name field with its NUL. Longer
	 * names, and values too large for the octal fields, go in a pax header. */
	bool long_name = strlen(header->name) >= 100;
	bool long_link = strlen(header->link_target) >= 100;
	if (long_name)
		r = add_record(&pax, &pax_len, "path", header->name);
	if (r == 0 && long_link)
		r = add_record(&pax, &pax_len, "linkpath", header->link_target);
	if (r == 0 && header->type == TAR_FILE && header->size > 077777777777ull) {
		snprintf(number, sizeof(number), "%llu", (unsigned long long)header->size);
		r = add_record(&pax, &pax_len, "size", number);
	}
	if (r == 0 && header->uid > 07777777) {
		snprintf(number, sizeof(number), "%u", header->uid);
		r = add_record(&pax, &pax_len, "uid", number);
	}
	if (r == 0 && header->gid > 07777777) {
		snprintf(number, sizeof(number), "%u", header->gid);
		r = add_record(&pax, &pax_len, "gid", number);
	}
	if (r == 0 && header->mtime_nsec != 0) {
		snprintf(number, sizeof(number), "%lld.%09u", (long long)header->mtime_sec,
			 header->mtime_nsec);
		r = add_record(&pax, &pax_len, "mtime", number);
	}
	if (r < 0)
		goto out;

	if (pax_len > 0) {
		struct tar_header extended = *header;
		extended.type = TAR_FILE;
		extended.typeflag = 'x';
		extended.size = pax_len;
		extended.uid = 0;
		extended.gid = 0;
		fill_block(block, &extended, "PaxHeader", "");
		put_checksum(block);
		r = write_full(fd, block, TAR_BLOCK);
		if (r == 0)
			r = write_full(fd, pax, pax_len);
		if (r == 0)
			r = tar_write_padding(fd, pax_len);
		if (r < 0)
			goto out;
	}

	char short_name[101] = "", short_link[101] = "";
	snprintf(short_name, sizeof(short_name), "%.99s", header->name);
	snprintf(short_link, sizeof(short_link), "%.99s", header->link_target);
	fill_block(block, header, short_name, short_link);
	if (header->size > 077777777777ull && header->type == TAR_FILE)
		put_octal(block, F_SIZE, 0);
	put_checksum(block);
	r = write_full(fd, block, TAR_BLOCK);
out:
	free(pax);
	return r;
}

int tar_write_padding(int fd, uint64_t size)
{
	static const uint8_t zeros[TAR_BLOCK];
	size_t pad = (size_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
	return pad ? write_full(fd, zeros, pad) : 0;
}

int tar_write_end(int fd)
{
	static const uint8_t zeros[2 * TAR_BLOCK];
	return write_full(fd, zeros, sizeof(zeros));
}

int tar_read_content(int fd, void *buf, size_t len)
{
	ssize_t n = read_full(fd, buf, len);
	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EBADMSG;
}

int tar_skip(int fd, uint64_t size, bool skip_content)
{
	uint64_t left = (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK;
	if (skip_content)
		left += size;
	uint8_t buf[8192];
	while (left > 0) {
		size_t take = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		int r = tar_read_content(fd, buf, take);
		if (r < 0)
			return r;
		left -= take;
	}
	return 0;
}

static int parse_octal(const uint8_t *block, size_t offset, size_t size, uint64_t *value)
{
	uint64_t result = 0;
	size_t i = offset, end = offset + size;
	/* Base-256 numbers (GNU) set the high bit of the first byte. */
	if (block[i] & 0x80) {
		result = block[i++] & 0x7f;
		for (; i < end; i++) {
			if (result >> 56)
				return -EBADMSG;
			result = result << 8 | block[i];
		}
		*value = result;
		return 0;
	}
	while (i < end && block[i] == ' ')
		i++;
	for (; i < end && block[i] >= '0' && block[i] <= '7'; i++) {
		if (result >> 61)
			return -EBADMSG;
		result = result * 8 + (uint64_t)(block[i] - '0');
	}
	if (i < end && block[i] != '\0' && block[i] != ' ')
		return -EBADMSG;
	*value = result;
	return 0;
}

static char *field_string(const uint8_t *block, size_t offset, size_t size)
{
	size_t len = strnlen((const char *)block + offset, size);
	char *text = malloc(len + 1);
	if (text) {
		memcpy(text, block + offset, len);
		text[len] = '\0';
	}
	return text;
}

static bool checksum_ok(const uint8_t *block)
{
	uint64_t stored;
	if (parse_octal(block, F_CHKSUM, &stored) < 0)
		return false;
	unsigned sum = 0;
	for (int i = 0; i < TAR_BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : block[i];
	return sum == stored;
}

/* Values from pax and GNU records that override the next header's fields. */
struct overrides {
	char *path, *link;
	bool has_size, has_uid, has_gid, has_mtime;
	uint64_t size;
	uint32_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
};

static void overrides_free(struct overrides *o)
{
	free(o->path);
	free(o->link);
	memset(o, 0, sizeof(*o));
}

static int parse_pax(char *text, size_t len, struct overrides *o)
{
	size_t at = 0;
	while (at < len) {
		char *end;
		unsigned long record = strtoul(text + at, &end, 10);
		if (end == text + at || *end != ' ' || record == 0 || record > len - at ||
		    text[at + record - 1] != '\n')
			return -EBADMSG;
		char *key = end + 1;
		text[at + record - 1] = '\0';
		char *eq = strchr(key, '=');
		if (!eq)
			return -EBADMSG;
		*eq = '\0';
		char *value = eq + 1;
		if (strcmp(key, "path") == 0) {
			free(o->path);
			o->path = strdup(value);
		} else if (strcmp(key, "linkpath") == 0) {
			free(o->link);
			o->link = strdup(value);
		} else if (strcmp(key, "size") == 0) {
			o->size = strtoull(value, NULL, 10);
			o->has_size = true;
		} else if (strcmp(key, "uid") == 0) {
			o->uid = (uint32_t)strtoul(value, NULL, 10);
			o->has_uid = true;
		} else if (strcmp(key, "gid") == 0) {
			o->gid = (uint32_t)strtoul(value, NULL, 10);
			o->has_gid = true;
		} else if (strcmp(key, "mtime") == 0) {
			char *dot;
			o->mtime_sec = strtoll(value, &dot, 10);
			o->mtime_nsec = 0;
			if (*dot == '.') {
				char digits[10] = "000000000";
				size_t n = strspn(dot + 1, "0123456789");
				memcpy(digits, dot + 1, n < 9 ? n : 9);
				o->mtime_nsec = (uint32_t)strtoul(digits, NULL, 10);
			}
			o->has_mtime = true;
		} else if (strncmp(key, "GNU.sparse", 10) == 0) {
			return -EOPNOTSUPP;
		}
		at += record;
	}
	return 0;
}

static int read_extended(int fd, uint64_t size, char **text)
{
	if (size > TAR_EXTENDED_MAX)
		return -EBADMSG;
	*text = malloc((size_t)size + 1);
	if (!*text)
		return -ENOMEM;
	int r = tar_read_content(fd, *text, (size_t)size);
	if (r == 0)
		r = tar_skip(fd, size, false);
	if (r < 0) {
		free(*text);
		*text = NULL;
		return r;
	}
	(*text)[size] = '\0';
	return 0;
}

static void strip_trailing_slashes(char *name)
{
	size_t len = strlen(name);
	while (len > 1 && name[len - 1] == '/')
		name[--len] = '\0';
}

int tar_read_header(int fd, struct tar_header *header)
{
	struct overrides o = { 0 };
	uint8_t block[TAR_BLOCK];
	int r;
	memset(header, 0, sizeof(*header));

	for (;;) {
		/* Input that ends between blocks ends the archive, even without the end
		 * blocks, but input that ends inside a block is a damaged archive. */
		ssize_t n = read_full(fd, block, TAR_BLOCK);
		if (n < 0)
			r = (int)n;
		else if (n == 0)
			r = 0;
		else
			r = n == TAR_BLOCK ? 1 : -EBADMSG;
		if (r <= 0)
			goto out;
		static const uint8_t zeros[TAR_BLOCK];
		if (memcmp(block, zeros, TAR_BLOCK) == 0) {
			r = 0;
			goto out;
		}
		if (!checksum_ok(block)) {
			r = -EBADMSG;
			goto out;
		}
		uint64_t size;
		if (parse_octal(block, F_SIZE, &size) < 0) {
			r = -EBADMSG;
			goto out;
		}
		char type = (char)block[F_TYPE];
		if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
			char *text;
			r = read_extended(fd, size, &text);
			if (r < 0)
				goto out;
			if (type == 'x')
				r = parse_pax(text, (size_t)size, &o);
			else if (type == 'L') {
				free(o.path);
				o.path = strdup(text);
			} else if (type == 'K') {
				free(o.link);
				o.link = strdup(text);
			}
			free(text);
			if (r < 0)
				goto out;
			continue;
		}
		if (type == 'S') {
			r = -EOPNOTSUPP;
			goto out;
		}

		uint64_t mode = 0, uid = 0, gid = 0, mtime = 0;
		if (parse_octal(block, F_MODE, &mode) < 0 || parse_octal(block, F_UID, &uid) < 0 ||
		    parse_octal(block, F_GID, &gid) < 0 || parse_octal(block, F_MTIME, &mtime) < 0) {
			r = -EBADMSG;
			goto out;
		}
		header->typeflag = type;
		switch (type) {
		case '0': case '\0': case '7': header->type = TAR_FILE; break;
		case '1': header->type = TAR_HARDLINK; break;
		case '2': header->type = TAR_SYMLINK; break;
		case '5': header->type = TAR_DIRECTORY; break;
		default: header->type = TAR_OTHER; break;
		}
		header->mode = (uint32_t)(mode & 07777);
		header->uid = o.has_uid ? o.uid : (uint32_t)uid;
		header->gid = o.has_gid ? o.gid : (uint32_t)gid;
		header->mtime_sec = o.has_mtime ? o.mtime_sec : (int64_t)mtime;
		header->mtime_nsec = o.has_mtime ? o.mtime_nsec : 0;
		header->size = o.has_size ? o.size : size;

		if (o.path) {
			header->name = o.path;
			o.path = NULL;
		} else {
			char *name = field_string(block, F_NAME);
			char *prefix = memcmp(block + 257, "ustar", 5) == 0
					       ? field_string(block, F_PREFIX) : strdup("");
			if (name && prefix && prefix[0]) {
				header->name = malloc(strlen(prefix) + strlen(name) + 2);
				if (header->name)
					sprintf(header->name, "%s/%s", prefix, name);
			} else if (name) {
				header->name = strdup(name);
			}
			free(name);
			free(prefix);
		}
		if (o.link) {
			header->link_target = o.link;
			o.link = NULL;
		} else {
			header->link_target = field_string(block, F_LINK);
		}
		if (!header->name || !header->link_target) {
			r = -ENOMEM;
			goto out;
		}
		strip_trailing_slashes(header->name);
		r = 1;
		goto out;
	}
out:
	overrides_free(&o);
	if (r <= 0)
		tar_header_free(header);
	return r;
}
