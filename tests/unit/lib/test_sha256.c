/* SHA-256 against the FIPS 180-2 example vectors and sha256sum-computed values. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sha256.h"

static void hex_of(const void *data, size_t len, char hex[65])
{
	struct sha256 ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	sha256_init(&ctx);
	sha256_update(&ctx, data, len);
	sha256_final(&ctx, digest);
	sha256_hex(digest, hex);
}

static void test_empty_string(void)
{
	char hex[65];
	hex_of("", 0, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_abc(void)
{
	char hex[65];
	hex_of("abc", 3, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_two_block_message(void)
{
	const char *msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	char hex[65];
	hex_of(msg, strlen(msg), hex);
	CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_million_a_in_odd_pieces(void)
{
	struct sha256 ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	char hex[65];
	char piece[997];
	memset(piece, 'a', sizeof(piece));
	sha256_init(&ctx);
	size_t left = 1000000;
	while (left > 0) {
		size_t take = left < sizeof(piece) ? left : sizeof(piece);
		sha256_update(&ctx, piece, take);
		left -= take;
	}
	sha256_final(&ctx, digest);
	sha256_hex(digest, hex);
	CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_padding_boundaries(void)
{
	/* 55, 56 and 64 bytes sit at the edges of the one- and two-block padding. */
	char buf[64];
	char hex[65];
	memset(buf, 'x', sizeof(buf));
	hex_of(buf, 55, hex);
	CHECK_STR(hex, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072");
	hex_of(buf, 56, hex);
	CHECK_STR(hex, "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e");
	hex_of(buf, 64, hex);
	CHECK_STR(hex, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c");
}

static void test_zeros_match_buffer(void)
{
	struct sha256 a, b;
	uint8_t da[SHA256_DIGEST_SIZE], db[SHA256_DIGEST_SIZE];
	size_t len = 10000 + 13;
	uint8_t *zeros = calloc(1, len);
	CHECK(zeros != NULL);
	sha256_init(&a);
	sha256_update(&a, "head", 4);
	sha256_update(&a, zeros, len);
	sha256_final(&a, da);
	sha256_init(&b);
	sha256_update(&b, "head", 4);
	sha256_update_zeros(&b, len);
	sha256_final(&b, db);
	CHECK(memcmp(da, db, sizeof(da)) == 0);
	free(zeros);
}

int main(void)
{
	RUN(test_empty_string);
	RUN(test_abc);
	RUN(test_two_block_message);
	RUN(test_million_a_in_odd_pieces);
	RUN(test_padding_boundaries);
	RUN(test_zeros_match_buffer);
	return check_summary("test_sha256");
}
