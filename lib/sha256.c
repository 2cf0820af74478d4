/* SHA-256 (FIPS 180-4, section 6.2): a straightforward implementation of the
 * message schedule and compression function over 64-byte blocks. */
#include "sha256.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t round_constants[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static inline uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void compress(uint32_t state[8], const uint8_t *block)
{
	uint32_t w[64];
	for (int t = 0; t < 16; t++)
		w[t] = load_be32(block + 4 * t);
	for (int t = 16; t < 64; t++) {
		uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
		w[t] = w[t - 16] + s0 + w[t - 7] + s1;
	}

	uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
	uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
	for (int t = 0; t < 64; t++) {
		uint32_t sum1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
		uint32_t choose = (e & f) ^ (~e & g);
		uint32_t t1 = h + sum1 + choose + round_constants[t] + w[t];
		uint32_t sum0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
		uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = sum0 + majority;
		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	state[0] += a;
	state[1] += b;
	state[2] += c;
	state[3] += d;
	state[4] += e;
	state[5] += f;
	state[6] += g;
	state[7] += h;
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

/* The same compression with the x86 SHA extensions (Intel SHA-NI), about
 * five times faster than the portable code. The state is kept as the two
 * register halves the instructions use: ABEF and CDGH. */
__attribute__((target("sha,sse4.1,ssse3")))
static void compress_shani(uint32_t state[8], const uint8_t *data, size_t blocks)
{
	const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i dcba = _mm_loadu_si128((const __m128i *)&state[0]);
	__m128i hgfe = _mm_loadu_si128((const __m128i *)&state[4]);
	__m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
	__m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
	__m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
	__m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);

	for (; blocks > 0; blocks--, data += SHA256_BLOCK_SIZE) {
		__m128i abef_saved = abef, cdgh_saved = cdgh;
		__m128i msg[16];
		/* Unrolled, the message schedule stays in registers. */
#pragma GCC unroll 16
		for (int g = 0; g < 16; g++) {
			if (g < 4) {
				msg[g] = _mm_shuffle_epi8(
					_mm_loadu_si128((const __m128i *)(data + 16 * g)), byte_swap);
			} else {
				__m128i sum = _mm_add_epi32(_mm_sha256msg1_epu32(msg[g - 4], msg[g - 3]),
							    _mm_alignr_epi8(msg[g - 1], msg[g - 2], 4));
				msg[g] = _mm_sha256msg2_epu32(sum, msg[g - 1]);
			}
			__m128i k = _mm_add_epi32(
				msg[g], _mm_loadu_si128((const __m128i *)&round_constants[4 * g]));
			cdgh = _mm_sha256rnds2_epu32(cdgh, abef, k);
			abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(k, 0x0E));
		}
		abef = _mm_add_epi32(abef, abef_saved);
		cdgh = _mm_add_epi32(cdgh, cdgh_saved);
	}

	__m128i feba = _mm_shuffle_epi32(abef, 0x1B);
	__m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
	_mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(feba, dchg, 0xF0));
	_mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(dchg, feba, 8));
}

static bool cpu_has_shani(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3))
		return false;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return false;
	return (b & (1u << 29)) != 0;  /* CPUID.(EAX=7,ECX=0):EBX.SHA */
}
#endif

/* Compresses whole blocks with the fastest code this CPU runs. */
static void compress_blocks(uint32_t state[8], const uint8_t *data, size_t blocks)
{
#if defined(__x86_64__)
	static int use_shani = -1;
	if (use_shani < 0)
		use_shani = cpu_has_shani() && !getenv("EMBER_SHA256_PORTABLE");
	if (use_shani) {
		compress_shani(state, data, blocks);
		return;
	}
#endif
	for (; blocks > 0; blocks--, data += SHA256_BLOCK_SIZE)
		compress(state, data);
}

void sha256_init(struct sha256 *ctx)
{
	/* Initial hash value H(0), FIPS 180-4 section 5.3.3. */
	static const uint32_t initial[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	memcpy(ctx->state, initial, sizeof(initial));
	ctx->length = 0;
	ctx->block_have = 0;
}

void sha256_update(struct sha256 *ctx, const void *data, size_t len)
{
	const uint8_t *p = data;
	ctx->length += len;

	if (ctx->block_have > 0) {
		size_t take = SHA256_BLOCK_SIZE - ctx->block_have;
		if (take > len)
			take = len;
		memcpy(ctx->block + ctx->block_have, p, take);
		ctx->block_have += take;
		p += take;
		len -= take;
		if (ctx->block_have < SHA256_BLOCK_SIZE)
			return;
		compress_blocks(ctx->state, ctx->block, 1);
		ctx->block_have = 0;
	}
	size_t blocks = len / SHA256_BLOCK_SIZE;
	compress_blocks(ctx->state, p, blocks);
	p += blocks * SHA256_BLOCK_SIZE;
	len -= blocks * SHA256_BLOCK_SIZE;
	memcpy(ctx->block, p, len);
	ctx->block_have = len;
}

void sha256_update_zeros(struct sha256 *ctx, uint64_t len)
{
	static const uint8_t zeros[65536];
	while (len > 0) {
		size_t take = len < sizeof(zeros) ? (size_t)len : sizeof(zeros);
		sha256_update(ctx, zeros, take);
		len -= take;
	}
}

void sha256_final(struct sha256 *ctx, uint8_t digest[SHA256_DIGEST_SIZE])
{
	/* Padding (section 5.1.1): a 1 bit, zeros up to 56 mod 64 bytes, then the
	 * message length in bits as a 64-bit big-endian number. */
	uint64_t bits = ctx->length * 8;
	static const uint8_t pad[SHA256_BLOCK_SIZE] = { 0x80 };
	size_t pad_len = ctx->block_have < 56 ? 56 - ctx->block_have : 120 - ctx->block_have;
	uint8_t length_be[8];
	for (int i = 0; i < 8; i++)
		length_be[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(ctx, pad, pad_len);
	sha256_update(ctx, length_be, sizeof(length_be));

	for (int i = 0; i < 8; i++) {
		digest[4 * i] = (uint8_t)(ctx->state[i] >> 24);
		digest[4 * i + 1] = (uint8_t)(ctx->state[i] >> 16);
		digest[4 * i + 2] = (uint8_t)(ctx->state[i] >> 8);
		digest[4 * i + 3] = (uint8_t)ctx->state[i];
	}
	memset(ctx, 0, sizeof(*ctx));
}

void sha256_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char hex[2 * SHA256_DIGEST_SIZE + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15];
	}
	hex[2 * SHA256_DIGEST_SIZE] = '\0';
}
