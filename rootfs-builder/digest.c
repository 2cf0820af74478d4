/* Content digests: validation of "ALGORITHM:HEX" strings and streaming hashes. */
#include "digest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DIGEST_READ_CHUNK (256 * 1024)

static int all_lower_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

const EVP_MD *digest_algorithm(const char *digest)
{
	if (!digest)
		return NULL;
	if (strncmp(digest, "sha256:", 7) == 0 && all_lower_hex(digest + 7, 64))
		return EVP_sha256();
	if (strncmp(digest, "sha512:", 7) == 0 && all_lower_hex(digest + 7, 128))
		return EVP_sha512();
	return NULL;
}

const char *digest_hex(const char *digest)
{
	return strchr(digest, ':') + 1;
}

int digester_start(struct digester *digester, const char *expected)
{
	const EVP_MD *md = digest_algorithm(expected);

	if (!md)
		return -EINVAL;
	digester->ctx = EVP_MD_CTX_new();
	if (!digester->ctx)
		return -ENOMEM;
	digester->algorithm_name = md == EVP_sha256() ? "sha256" : "sha512";
	if (EVP_DigestInit_ex(digester->ctx, md, NULL) != 1) {
		EVP_MD_CTX_free(digester->ctx);
		digester->ctx = NULL;
		return -EIO;
	}
	return 0;
}

void digester_update(struct digester *digester, const void *buf, size_t len)
{
	EVP_DigestUpdate(digester->ctx, buf, len);
}

void digester_finish(struct digester *digester, char text[DIGEST_MAX_TEXT])
{
	unsigned char raw[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	int n;

	EVP_DigestFinal_ex(digester->ctx, raw, &len);
	n = snprintf(text, DIGEST_MAX_TEXT, "%s:", digester->algorithm_name);
	for (unsigned int i = 0; i < len && n + 2 < DIGEST_MAX_TEXT; i++)
		n += snprintf(text + n, (size_t)(DIGEST_MAX_TEXT - n), "%02x", raw[i]);
	digester_abort(digester);
}

void digester_abort(struct digester *digester)
{
	EVP_MD_CTX_free(digester->ctx);
	digester->ctx = NULL;
}

int digest_file(const char *path, const char *expected, char actual[DIGEST_MAX_TEXT],
		digest_progress_fn progress, void *progress_arg)
{
	uint64_t total = 0;
	static unsigned char buf[DIGEST_READ_CHUNK];
	struct digester digester;
	int fd, err;
	ssize_t n;

	err = digester_start(&digester, expected);
	if (err < 0)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		digester_abort(&digester);
		return err;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			close(fd);
			digester_abort(&digester);
			return err;
		}
		digester_update(&digester, buf, (size_t)n);
		total += (uint64_t)n;
		if (progress)
			progress(total, progress_arg);
	}
	close(fd);
	digester_finish(&digester, actual);
	return 0;
}
