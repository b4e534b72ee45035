/* SPDX-License-Identifier: MIT */
/*
 * A small test framework in the style of systemd's tests.h.
 *
 *   TEST(frame_rejects_short) { ... ASSERT_EQ(r, -EBADMSG); }
 *
 * Tests register themselves; the shared main() (tests/test.c) runs each in a
 * forked child so that one failing or crashing test does not hide the
 * others, and prints TAP ("ok N name" / "not ok N name").  A failed
 * assertion prints file:line, the expression and both values.
 * TESTFUNCS=name1,name2 selects tests; TEST_NOFORK=1 runs them in-process;
 * TEST_KEEP_TMP=1 keeps each test's temporary directory.
 */
#ifndef DMB_TESTS_TEST_H
#define DMB_TESTS_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
	unsigned timeout_s;
	struct test_case *next;
};

void test_register(struct test_case *tc);
_Noreturn void test_fail(const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Directory with the test's data (tests/), and the build directory, from the environment. */
const char *test_srcdir(void);
const char *test_builddir(void);
/* Path inside a fresh per-test temporary directory (removed after the test). */
const char *test_tmpdir(void);

#define TEST_TIMEOUT(name, secs)                                                        \
	static void test_fn_##name(void);                                               \
	static struct test_case test_case_##name = {#name, test_fn_##name, secs, NULL}; \
	__attribute__((constructor)) static void test_reg_##name(void)                  \
	{                                                                               \
		test_register(&test_case_##name);                                       \
	}                                                                               \
	static void test_fn_##name(void)

#define TEST(name) TEST_TIMEOUT(name, 60)

#define ASSERT_TRUE(expr)                                                             \
	do {                                                                          \
		if (!(expr))                                                          \
			test_fail(__FILE__, __LINE__, "assertion failed: %s", #expr); \
	} while (0)

#define ASSERT_FALSE(expr) ASSERT_TRUE(!(expr))

#define ASSERT_CMP_(a, op, b, fmt, type)                                                        \
	do {                                                                                    \
		type a_ = (type)(a);                                                            \
		type b_ = (type)(b);                                                            \
		if (!(a_ op b_))                                                                \
			test_fail(__FILE__, __LINE__, "%s %s %s: " fmt " vs " fmt, #a, #op, #b, \
			          a_, b_);                                                      \
	} while (0)

#define ASSERT_EQ(a, b)   ASSERT_CMP_(a, ==, b, "%" PRId64, int64_t)
#define ASSERT_NE(a, b)   ASSERT_CMP_(a, !=, b, "%" PRId64, int64_t)
#define ASSERT_LT(a, b)   ASSERT_CMP_(a, <, b, "%" PRId64, int64_t)
#define ASSERT_LE(a, b)   ASSERT_CMP_(a, <=, b, "%" PRId64, int64_t)
#define ASSERT_GT(a, b)   ASSERT_CMP_(a, >, b, "%" PRId64, int64_t)
#define ASSERT_GE(a, b)   ASSERT_CMP_(a, >=, b, "%" PRId64, int64_t)
#define ASSERT_EQ_U(a, b) ASSERT_CMP_(a, ==, b, "0x%" PRIx64, uint64_t)

/* r >= 0; prints the errno name when r is a negative errno. */
#define ASSERT_OK(expr)                                                                 \
	do {                                                                            \
		long r_ = (long)(expr);                                                 \
		if (r_ < 0)                                                             \
			test_fail(__FILE__, __LINE__, "%s failed: %ld (%s)", #expr, r_, \
			          strerror((int)-r_));                                  \
	} while (0)

/* expr returns the negative errno err. */
#define ASSERT_ERR(expr, err)                                                                   \
	do {                                                                                    \
		long r_ = (long)(expr);                                                         \
		if (r_ != (long)(err))                                                          \
			test_fail(__FILE__, __LINE__, "%s: got %ld (%s), want %ld (%s)", #expr, \
			          r_, r_ < 0 ? strerror((int)-r_) : "ok", (long)(err),          \
			          strerror((int)-(err)));                                       \
	} while (0)

#define ASSERT_STREQ(a, b)                                                                  \
	do {                                                                                \
		const char *a_ = (a), *b_ = (b);                                            \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                                      \
			test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b, \
			          a_ ? a_ : "(null)", b_ ? b_ : "(null)");                  \
	} while (0)

#define ASSERT_NOT_NULL(p) ASSERT_TRUE((p) != NULL)

/* Substring check, for error messages. */
#define ASSERT_CONTAINS(hay, needle)                                                    \
	do {                                                                            \
		const char *h_ = (hay), *n_ = (needle);                                 \
		if (!h_ || !strstr(h_, n_))                                             \
			test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"", \
			          h_ ? h_ : "(null)", n_);                              \
	} while (0)

#endif
