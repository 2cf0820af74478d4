/* Content digests in the OCI form "ALGORITHM:HEX" (sha256 and sha512), computed with
 * OpenSSL's EVP interface. */
#ifndef EMBER_ROOTFS_DIGEST_H
#define EMBER_ROOTFS_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* "sha512:" plus 128 hex digits and a NUL. */
#define DIGEST_MAX_TEXT 136

/* Checks "sha256:<64 lowercase hex>" or "sha512:<128 lowercase hex>". Returns the EVP
 * algorithm, or NULL for anything else. */
const EVP_MD *digest_algorithm(const char *digest);

/* Returns the hex part of a valid digest (after the colon). */
const char *digest_hex(const char *digest);

struct digester {
	EVP_MD_CTX *ctx;
	const char *algorithm_name;
};

/* Starts hashing with the algorithm of expected (a digest string). Returns 0 or -errno. */
int digester_start(struct digester *digester, const char *expected);
void digester_update(struct digester *digester, const void *buf, size_t len);
/* Writes the result as "ALGORITHM:HEX" into text and frees the context. */
void digester_finish(struct digester *digester, char text[DIGEST_MAX_TEXT]);
void digester_abort(struct digester *digester);

/* Called with the bytes hashed so far. */
typedef void (*digest_progress_fn)(uint64_t bytes, void *arg);

/* Hashes a whole file with the algorithm of expected; writes the result into actual.
 * progress (may be NULL) is called after every chunk. */
int digest_file(const char *path, const char *expected, char actual[DIGEST_MAX_TEXT],
		digest_progress_fn progress, void *progress_arg);

#endif
