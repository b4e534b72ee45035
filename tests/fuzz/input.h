/* SPDX-License-Identifier: MIT */
/*
 * Taking structured values from a fuzzer's input, in the spirit of LLVM's
 * FuzzedDataProvider: every read is bounded, and reading past the end gives
 * zeros, so a target never has to check lengths and any input is valid.
 */
#ifndef DMB_TESTS_FUZZ_INPUT_H
#define DMB_TESTS_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* A failed invariant: says which, then a crash that libFuzzer reports with its input. */
#define FUZZ_CHECK(cond)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			__builtin_trap();                                                        \
		}                                                                                \
	} while (0)

struct fuzz_input {
	const uint8_t *p;
	size_t n;
};

static inline bool fin_empty(const struct fuzz_input *in)
{
	return in->n == 0;
}

static inline uint8_t fin_u8(struct fuzz_input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t fin_u16(struct fuzz_input *in)
{
	uint16_t v = fin_u8(in);

	return (uint16_t)(v | fin_u8(in) << 8);
}

static inline uint32_t fin_u32(struct fuzz_input *in)
{
	uint32_t v = fin_u16(in);

	return v | (uint32_t)fin_u16(in) << 16;
}

static inline uint64_t fin_u64(struct fuzz_input *in)
{
	uint64_t v = fin_u32(in);

	return v | (uint64_t)fin_u32(in) << 32;
}

/* Copy up to len bytes into dst, zero-filling what the input lacks; returns bytes taken. */
static inline size_t fin_bytes(struct fuzz_input *in, void *dst, size_t len)
{
	size_t n = len < in->n ? len : in->n;

	if (!n) {
		memset(dst, 0, len);
		return 0;
	}
	memcpy(dst, in->p, n);
	memset((uint8_t *)dst + n, 0, len - n);
	in->p += n;
	in->n -= n;
	return n;
}

#endif
