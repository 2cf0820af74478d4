/* SHA-256 as specified in FIPS 180-4, for verifying copied files on both sides
 * (the guest has no OpenSSL). Incremental: init, update any number of times,
 * final. */
#ifndef EMBER_SHA256_H
#define EMBER_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE 64

struct sha256 {
	uint32_t state[8];
	uint64_t length;                 /* bytes hashed so far */
	uint8_t block[SHA256_BLOCK_SIZE];
	size_t block_have;
};

void sha256_init(struct sha256 *ctx);
void sha256_update(struct sha256 *ctx, const void *data, size_t len);
/* Hashes len zero bytes, as for a hole in a sparse file, without a buffer. */
void sha256_update_zeros(struct sha256 *ctx, uint64_t len);
void sha256_final(struct sha256 *ctx, uint8_t digest[SHA256_DIGEST_SIZE]);

/* Writes the lowercase hex form of digest and a NUL into hex (65 bytes). */
void sha256_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char hex[2 * SHA256_DIGEST_SIZE + 1]);

#endif
