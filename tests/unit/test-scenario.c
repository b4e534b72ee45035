/* SPDX-License-Identifier: MIT */
/* The scenario parser and formatter (sim/scenario.c, docs/scenario.md). */
#include "tests/test.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "sim/scenario.h"

#define ERRLEN 512

/* Parses a NUL-terminated text; on failure leaves the message in err. */
static int parse_str(const char *text, struct scenario **ret, char *err)
{
	return scenario_parse(text, strlen(text), "t.scn", ret, err, ERRLEN);
}

static struct scenario *parse_ok(const char *text)
{
	struct scenario *s = NULL;
	char err[ERRLEN];
	int r = parse_str(text, &s, err);

	if (r < 0)
		test_fail(__FILE__, __LINE__, "parse failed (%d): %s\n--\n%s", r, err, text);
	return s;
}

/* Fails with -EINVAL and a "t.scn:LINE: " message containing want. */
static void parse_bad(const char *text, unsigned line, const char *want)
{
	struct scenario *s = (struct scenario *)0x1; /* must stay untouched */
	char err[ERRLEN], prefix[64];

	ASSERT_ERR(parse_str(text, &s, err), -EINVAL);
	ASSERT_TRUE(s == (struct scenario *)0x1);
	snprintf(prefix, sizeof(prefix), "t.scn:%u: ", line);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		test_fail(__FILE__, __LINE__, "\"%s\" does not start with \"%s\"", err, prefix);
	ASSERT_CONTAINS(err, want);
}

static void assert_op(const struct scn_op *op, unsigned kind, unsigned vcpu, unsigned size,
                      uint64_t addr, uint64_t value, uint64_t mask)
{
	ASSERT_EQ(op->kind, kind);
	ASSERT_EQ(op->vcpu, vcpu);
	ASSERT_EQ(op->size, size);
	ASSERT_EQ_U(op->addr, addr);
	ASSERT_EQ_U(op->value, value);
	ASSERT_EQ_U(op->mask, mask);
}

static bool op_equal(const struct scn_op *a, const struct scn_op *b)
{
	return a->kind == b->kind && a->vcpu == b->vcpu && a->size == b->size &&
	       a->addr == b->addr && a->value == b->value && a->mask == b->mask;
}

static uint64_t sbdf(unsigned bus, unsigned dev, unsigned fn)
{
	return (uint64_t)(bus << 8 | dev << 3 | fn) << 32;
}

static char *parser_path(const char *name)
{
	char *p;

	ASSERT_TRUE(asprintf(&p, "%s/scenarios/parser/%s", test_srcdir(), name) > 0);
	return p;
}

TEST(each_op_kind)
{
	struct scenario *s = parse_ok("out8 0x3f8 0x41\n"
	                              "in16 0x1f0 0xbeef\n"
	                              "write32 0xfee00000 0x12345678\n"
	                              "read64 0xe0000008 0x1122334455667788\n"
	                              "cfgwrite16 00:03.0 0x04 0x7\n"
	                              "cfgread32 01:1f.7 0xfc 0xdeadbeef/0xffff0000\n"
	                              "msi 0x40\n"
	                              "barrier\n");

	ASSERT_EQ(s->n_ops, 8);
	ASSERT_EQ(s->nr_vcpus, 1);
	assert_op(&s->ops[0], SCN_PIO_OUT, 0, 1, 0x3f8, 0x41, 0xff);
	assert_op(&s->ops[1], SCN_PIO_IN, 0, 2, 0x1f0, 0xbeef, 0xffff);
	assert_op(&s->ops[2], SCN_MMIO_WRITE, 0, 4, 0xfee00000, 0x12345678, 0xffffffff);
	assert_op(&s->ops[3], SCN_MMIO_READ, 0, 8, 0xe0000008, 0x1122334455667788, UINT64_MAX);
	assert_op(&s->ops[4], SCN_PCI_WRITE, 0, 2, sbdf(0, 3, 0) | 0x04, 0x7, 0xffff);
	assert_op(&s->ops[5], SCN_PCI_READ, 0, 4, sbdf(1, 0x1f, 7) | 0xfc, 0xdeadbeef, 0xffff0000);
	assert_op(&s->ops[6], SCN_MSI_WAIT, 0, 0, 0, 0x40, 0);
	assert_op(&s->ops[7], SCN_BARRIER, 0, 0, 0, 0, 0);
	for (unsigned i = 0; i < s->n_ops; i++)
		ASSERT_EQ(s->ops[i].line, i + 1);
	scenario_free(s);
}

TEST(all_ops_file)
{
	_cleanup_free_ char *path = parser_path("all-ops.scn");
	struct scenario *s = NULL;
	char err[ERRLEN];

	ASSERT_OK(scenario_load(path, &s, err, sizeof(err)));
	ASSERT_STREQ(s->name, "all-ops");
	ASSERT_EQ(s->n_ops, 24);
	ASSERT_EQ(s->nr_vcpus, 1);
	assert_op(&s->ops[0], SCN_PIO_OUT, 0, 1, 0x3f8, 0x41, 0xff);
	ASSERT_EQ(s->ops[0].line, 5);
	assert_op(&s->ops[2], SCN_PIO_OUT, 0, 4, 0xcfc, 0xdeadbeef, 0xffffffff);
	assert_op(&s->ops[3], SCN_PIO_IN, 0, 1, 0x3fd, 0x60, 0x61);
	assert_op(&s->ops[4], SCN_PIO_IN, 0, 2, 0x1f0, 0xffff, 0xffff);
	assert_op(&s->ops[5], SCN_PIO_IN, 0, 4, 0xcfc, 0x12345678, 0xffffffff);
	assert_op(&s->ops[7], SCN_MMIO_WRITE, 0, 2, 0xfee00002, 0xffff, 0xffff);
	assert_op(&s->ops[8], SCN_MMIO_WRITE, 0, 4, 0xfee00004, 0, 0xffffffff);
	assert_op(&s->ops[11], SCN_MMIO_READ, 0, 2, 0xe0000002, 0x1234, 0xff00);
	assert_op(&s->ops[12], SCN_MMIO_READ, 0, 4, 0xe0000004, 0xffffffff, 0x1);
	assert_op(&s->ops[13], SCN_MMIO_READ, 0, 8, 0xe0000008, UINT64_MAX, UINT64_MAX);
	assert_op(&s->ops[14], SCN_PCI_WRITE, 0, 1, sbdf(0, 3, 0) | 0x3c, 0x0b, 0xff);
	assert_op(&s->ops[16], SCN_PCI_WRITE, 0, 4, sbdf(0, 0x1f, 7) | 0x10, 0xffffffff,
	          0xffffffff);
	assert_op(&s->ops[17], SCN_PCI_READ, 0, 1, sbdf(0xff, 0x1f, 7) | 0xff, 0, 0xff);
	assert_op(&s->ops[18], SCN_PCI_READ, 0, 2, sbdf(0, 3, 0) | 0x02, 0x1234, 0xfff0);
	assert_op(&s->ops[20], SCN_MSI_WAIT, 0, 0, 0, 0x40, 0);
	assert_op(&s->ops[21], SCN_MSI_WAIT, 0, 0, 0, 255, 0);
	assert_op(&s->ops[22], SCN_BARRIER, 0, 0, 0, 0, 0);
	assert_op(&s->ops[23], SCN_PIO_IN, 0, 1, 0, 0, 0);
	ASSERT_EQ(s->ops[23].line, 28);
	scenario_free(s);
}

TEST(numbers)
{
	struct scenario *s = parse_ok("write64 0 18446744073709551615\n"
	                              "write64 0 0xFFFFFFFFFFFFFFFF\n"
	                              "write64 0 0X00000000000000000000000000001\n"
	                              "write8 0 0\n"
	                              "write8 0 0x0\n"
	                              "write16 0 65535\n"
	                              "write32 0 0xaBcDeF01\n");

	ASSERT_EQ_U(s->ops[0].value, UINT64_MAX);
	ASSERT_EQ_U(s->ops[1].value, UINT64_MAX);
	ASSERT_EQ_U(s->ops[2].value, 1);
	ASSERT_EQ_U(s->ops[3].value, 0);
	ASSERT_EQ_U(s->ops[4].value, 0);
	ASSERT_EQ_U(s->ops[5].value, 0xffff);
	ASSERT_EQ_U(s->ops[6].value, 0xabcdef01);
	scenario_free(s);
}

TEST(ones_and_masks)
{
	struct scenario *s = parse_ok("in8 0x60 ones\n"
	                              "in16 0x60 ones\n"
	                              "in32 0x60 ones\n"
	                              "read64 0x1000 ones\n"
	                              "cfgread16 00:00.0 0x0 ones/0xff\n"
	                              "in8 0x60 0x12/0\n"
	                              "read64 0 0/0xffffffffffffffff\n");

	ASSERT_EQ_U(s->ops[0].value, 0xff);
	ASSERT_EQ_U(s->ops[1].value, 0xffff);
	ASSERT_EQ_U(s->ops[2].value, 0xffffffff);
	ASSERT_EQ_U(s->ops[3].value, UINT64_MAX);
	ASSERT_EQ_U(s->ops[4].value, 0xffff);
	ASSERT_EQ_U(s->ops[4].mask, 0xff);
	ASSERT_EQ_U(s->ops[5].value, 0x12);
	ASSERT_EQ_U(s->ops[5].mask, 0);
	ASSERT_EQ_U(s->ops[6].mask, UINT64_MAX);
	for (unsigned i = 0; i < 4; i++)
		ASSERT_EQ_U(s->ops[i].mask, s->ops[i].value);
	scenario_free(s);
}

TEST(boundaries)
{
	struct scenario *s = parse_ok("in8 0xffff 0\n"
	                              "in16 0xfffe 0\n"
	                              "in32 0xfffc 0\n"
	                              "out32 0xfffb 0\n" /* unaligned is fine: x86 allows it */
	                              "read64 0xfffffffffffffff8 0\n"
	                              "read8 0xffffffffffffffff 0\n"
	                              "cfgread8 00:00.0 0xff 0\n"
	                              "cfgread16 00:00.0 0xfe 0\n"
	                              "cfgread32 00:00.0 0xfc 0\n"
	                              "msi 16\n"
	                              "msi 255\n"
	                              "vcpu 63\n"
	                              "barrier\n"
	                              "vcpu 0\n"
	                              "barrier\n");

	ASSERT_EQ(s->n_ops, 13);
	ASSERT_EQ_U(s->ops[3].addr, 0xfffb);
	ASSERT_EQ_U(s->ops[5].addr, UINT64_MAX);
	ASSERT_EQ_U(s->ops[8].addr, 0xfc);
	ASSERT_EQ(s->ops[11].vcpu, 63);
	ASSERT_EQ(s->nr_vcpus, 64);
	scenario_free(s);
}

TEST(bdf_forms)
{
	struct scenario *s = parse_ok("cfgread8 0:0.0 0 0\n"
	                              "cfgread8 0000:00:00.0 0 0\n"
	                              "cfgread8 FF:1F.7 0 0\n"
	                              "cfgread8 0000:ab:0c.3 0x40 0\n"
	                              "cfgread8 00ff:001f.0007 0 0\n");

	ASSERT_EQ_U(s->ops[0].addr, 0);
	ASSERT_EQ_U(s->ops[1].addr, 0);
	ASSERT_EQ_U(s->ops[2].addr, 0xffffull << 32);
	ASSERT_EQ_U(s->ops[3].addr, (uint64_t)(0xab << 8 | 0xc << 3 | 3) << 32 | 0x40);
	ASSERT_EQ_U(s->ops[4].addr, 0xffffull << 32);
	scenario_free(s);
}

TEST(vcpu_sections)
{
	_cleanup_free_ char *path = parser_path("vcpus.scn");
	struct scenario *s = NULL;
	char err[ERRLEN];
	static const struct {
		unsigned kind, vcpu, line;
	} want[] = {
	        {SCN_PIO_OUT, 0, 3}, {SCN_BARRIER, 0, 4}, {SCN_PIO_OUT, 3, 6},
	        {SCN_BARRIER, 3, 7}, {SCN_PIO_OUT, 0, 9}, {SCN_MSI_WAIT, 3, 13},
	};

	ASSERT_OK(scenario_load(path, &s, err, sizeof(err)));
	ASSERT_STREQ(s->name, "vcpus");
	ASSERT_EQ(s->n_ops, ARRAY_SIZE(want));
	ASSERT_EQ(s->nr_vcpus, 4); /* vCPU 7 has a section but no op */
	for (unsigned i = 0; i < ARRAY_SIZE(want); i++) {
		ASSERT_EQ(s->ops[i].kind, want[i].kind);
		ASSERT_EQ(s->ops[i].vcpu, want[i].vcpu);
		ASSERT_EQ(s->ops[i].line, want[i].line);
	}
	scenario_free(s);
}

TEST(nr_vcpus_counts_highest)
{
	struct scenario *s = parse_ok("vcpu 5\nout8 0x80 0\nvcpu 9\n");

	ASSERT_EQ(s->nr_vcpus, 6);
	ASSERT_EQ(s->ops[0].vcpu, 5);
	scenario_free(s);
}

TEST(barriers)
{
	struct scenario *s;

	/* Equal counts; vCPUs without ops do not count. */
	s = parse_ok("barrier\nvcpu 2\nbarrier\nvcpu 4\nvcpu 1\nout8 0x80 1\nbarrier\n");
	ASSERT_EQ(s->nr_vcpus, 3);
	scenario_free(s);
	/* One vCPU may have any number. */
	scenario_free(parse_ok("barrier\nbarrier\nbarrier\n"));
	/* Reported at the last op of the first vCPU (by number) that differs. */
	parse_bad("out8 0x80 0\nbarrier\nvcpu 1\nout8 0x80 1\nout8 0x80 2\n# end\n", 5,
	          "barrier count differs between vcpus: vcpu 1 has 0, vcpu 0 has 1");
	parse_bad("vcpu 3\nbarrier\nvcpu 1\nbarrier\nvcpu 2\nin8 0 0\nvcpu 3\nbarrier\n", 6,
	          "vcpu 2 has 0, vcpu 1 has 1");
	parse_bad("vcpu 3\nbarrier\nbarrier\nvcpu 1\nbarrier\nvcpu 2\nbarrier\n", 3,
	          "vcpu 3 has 2, vcpu 1 has 1");
}

TEST(comments_blanks_tabs)
{
	struct scenario *s = parse_ok("\n"
	                              "   \t \n"
	                              "# whole line\n"
	                              "\tout8\t0x80  \t 0x1\t# trailing\n"
	                              "in8 0x60 0x2#no space before the comment\n"
	                              "barrier#\n"
	                              "msi 0x30"); /* no final newline */

	ASSERT_EQ(s->n_ops, 4);
	assert_op(&s->ops[0], SCN_PIO_OUT, 0, 1, 0x80, 1, 0xff);
	ASSERT_EQ(s->ops[0].line, 4);
	assert_op(&s->ops[1], SCN_PIO_IN, 0, 1, 0x60, 2, 0xff);
	ASSERT_EQ(s->ops[2].kind, SCN_BARRIER);
	ASSERT_EQ(s->ops[3].line, 7);
	ASSERT_EQ_U(s->ops[3].value, 0x30);
	scenario_free(s);
}

TEST(line_length_limit)
{
	char text[1100 + 64];
	struct scenario *s;
	size_t n;

	/* 1024 bytes of content plus the newline is the longest accepted line. */
	n = (size_t)snprintf(text, sizeof(text), "out8 0x80 0 #");
	memset(text + n, 'x', 1024 - n);
	memcpy(text + 1024, "\nbarrier\n", 10);
	s = parse_ok(text);
	ASSERT_EQ(s->n_ops, 2);
	scenario_free(s);
	/* Without a final newline too. */
	text[1024] = '\0';
	scenario_free(parse_ok(text));
	memset(text, ' ', 1025);
	strcpy(text + 1025, "\n");
	parse_bad(text, 1, "line too long (1025 bytes, max 1024)");
}

TEST(nul_byte)
{
	static const char text[] = "out8 0x80 0\nin8 0x60 0\0\n";
	struct scenario *s = NULL;
	char err[ERRLEN];

	ASSERT_ERR(scenario_parse(text, sizeof(text) - 1, "n.scn", &s, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "n.scn:2: NUL byte");
	ASSERT_TRUE(s == NULL);
	/* A NUL hidden in a comment or after the last newline is still one. */
	ASSERT_ERR(scenario_parse("barrier # \0", 11, "n.scn", &s, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "n.scn:1: NUL byte");
	ASSERT_ERR(scenario_parse("barrier\n\0", 9, "n.scn", &s, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "n.scn:2: NUL byte");
}

TEST(no_ops)
{
	struct scenario *s = NULL;
	char err[ERRLEN];

	ASSERT_ERR(scenario_parse("", 0, "e.scn", &s, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "e.scn:1: no ops");
	ASSERT_ERR(scenario_parse(NULL, 0, "e.scn", &s, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "e.scn:1: no ops");
	parse_bad("# nothing\n\nvcpu 3\n", 3, "no ops");
	ASSERT_TRUE(s == NULL);
}

TEST(error_messages)
{
	/* The example of docs/scenario.md, and the line of a later error. */
	parse_bad("out8 0x80 0\n\n# c\nin8 0x3f8 0x100\n", 4,
	          "in8: value 0x100 does not fit 8 bits");
	parse_bad("frob\n", 1, "unknown op \"frob\"");
	parse_bad("out16 0x80 1 2 3 4 5 6\n", 1, "out16: extra operand \"2\"");
	parse_bad("cfgwrite32 00:00.0 0 0 0x5 0x6\n", 1, "cfgwrite32: extra operand \"0x5\"");
	parse_bad("out8 0x80 0\r\n", 1, "carriage return");
	parse_bad("out8 0x80 0 \x7f\n", 1, "control character 0x7f");
	parse_bad("in32 0xcfc 1/2/3\n", 1, "bad MASK \"2/3\": invalid character");
	parse_bad("write8 0 00\n", 1, "leading zero");
}

TEST(long_token_is_cut_in_message)
{
	char text[1100];
	struct scenario *s = NULL;
	char err[ERRLEN];

	memset(text, 'z', 1000);
	strcpy(text + 1000, " 0 0\n");
	ASSERT_ERR(parse_str(text, &s, err), -EINVAL);
	ASSERT_CONTAINS(err, "unknown op \"zzzz");
	ASSERT_LT(strlen(err), 200);
}

TEST(filename_and_name)
{
	static const struct {
		const char *file, *name, *prefix;
	} cases[] = {
	        {"dir/sub/uart.scn", "uart", "dir/sub/uart.scn:1: "},
	        {"uart.scn", "uart", NULL},
	        {"uart", "uart", NULL},
	        {"a.scn.scn", "a.scn", NULL},
	        {".scn", ".scn", NULL},
	        {"x/.scn", ".scn", NULL},
	        {"uart.scnx", "uart.scnx", NULL},
	        {NULL, "<input>", "<input>:1: "},
	};

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		struct scenario *s = NULL;
		char err[ERRLEN];

		ASSERT_OK(scenario_parse("barrier", 7, cases[i].file, &s, err, sizeof(err)));
		ASSERT_STREQ(s->name, cases[i].name);
		scenario_free(s);
		if (!cases[i].prefix)
			continue;
		ASSERT_ERR(scenario_parse("bad", 3, cases[i].file, &s, err, sizeof(err)), -EINVAL);
		ASSERT_EQ(strncmp(err, cases[i].prefix, strlen(cases[i].prefix)), 0);
	}
}

TEST(error_buffer)
{
	struct scenario *s = NULL;
	char err[8];

	memset(err, 'X', sizeof(err));
	ASSERT_ERR(scenario_parse("bad", 3, "file.scn", &s, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "file.sc");
	memset(err, 'X', sizeof(err));
	ASSERT_ERR(scenario_parse("bad", 3, "f", &s, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "f:1: un");
	/* No buffer at all, or an empty one: still an error, nothing written. */
	ASSERT_ERR(scenario_parse("bad", 3, "f", &s, NULL, 0), -EINVAL);
	err[0] = 'X';
	ASSERT_ERR(scenario_parse("bad", 3, "f", &s, err, 0), -EINVAL);
	ASSERT_EQ(err[0], 'X');
	/* Success clears it. */
	ASSERT_OK(scenario_parse("barrier", 7, "f", &s, err, sizeof(err)));
	ASSERT_STREQ(err, "");
	scenario_free(s);
}

TEST(too_many_ops)
{
	size_t len = (size_t)(SCN_MAX_OPS + 1) * 8;
	_cleanup_free_ char *text = malloc(len + 1);
	struct scenario *s = NULL;
	char err[ERRLEN];

	ASSERT_NOT_NULL(text);
	for (size_t i = 0; i < SCN_MAX_OPS + 1; i++)
		memcpy(text + i * 8, "barrier\n", 8);
	ASSERT_OK(scenario_parse(text, len - 8, "big.scn", &s, err, sizeof(err)));
	ASSERT_EQ(s->n_ops, SCN_MAX_OPS);
	ASSERT_EQ(s->ops[SCN_MAX_OPS - 1].line, SCN_MAX_OPS);
	scenario_free(s);
	s = NULL;
	ASSERT_ERR(scenario_parse(text, len, "big.scn", &s, err, sizeof(err)), -EINVAL);
	ASSERT_STREQ(err, "big.scn:65537: too many ops (max 65536)");
	ASSERT_TRUE(s == NULL);
}

TEST(format_canonical)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	        {"in8 0x3fd 0x60/0x61", "in8 0x3fd 0x60/0x61"},
	        {"in8 1021 96/0xff", "in8 0x3fd 0x60"},
	        {"in16 0x60 ones", "in16 0x60 0xffff"},
	        {"out32 0XCFC 0XDEADBEEF", "out32 0xcfc 0xdeadbeef"},
	        {"cfgread32 00:03.0 0x00 0x12345678", "cfgread32 00:03.0 0x00 0x12345678"},
	        {"cfgread32 0000:0:3.0 0 0x12345678", "cfgread32 00:03.0 0x00 0x12345678"},
	        {"cfgwrite8 ff:1f.7 255 0", "cfgwrite8 ff:1f.7 0xff 0x0"},
	        {"cfgread16 a:b.1 0x40 1/0xf", "cfgread16 0a:0b.1 0x40 0x1/0xf"},
	        {"write64 0xe0000008 0x1122334455667788", "write64 0xe0000008 0x1122334455667788"},
	        {"read64 0 0/0", "read64 0x0 0x0/0x0"},
	        {"msi 64", "msi 0x40"},
	        {"barrier", "barrier"},
	};

	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		struct scenario *s = parse_ok(cases[i].in);
		char buf[128];
		int n = scenario_format_op(&s->ops[0], buf, sizeof(buf));

		ASSERT_EQ(n, (int)strlen(cases[i].out));
		ASSERT_STREQ(buf, cases[i].out);
		scenario_free(s);
	}
}

TEST(format_limits)
{
	struct scn_op op = {
	        .kind = SCN_PIO_IN, .size = 1, .addr = 0x3fd, .value = 0x60, .mask = 0x61};
	char buf[64];

	ASSERT_EQ(scenario_format_op(&op, buf, sizeof(buf)), 19);
	/* Exactly the length plus the NUL fits; one less does not. */
	ASSERT_EQ(scenario_format_op(&op, buf, 20), 19);
	memset(buf, 'X', sizeof(buf));
	ASSERT_ERR(scenario_format_op(&op, buf, 19), -ENOSPC);
	ASSERT_EQ(buf[0], '\0');
	ASSERT_ERR(scenario_format_op(&op, buf, 0), -ENOSPC);
	ASSERT_ERR(scenario_format_op(&op, NULL, 0), -ENOSPC);
	/* Ops the parser can never produce. */
	op.kind = 0;
	ASSERT_ERR(scenario_format_op(&op, buf, sizeof(buf)), -EINVAL);
	op.kind = 99;
	ASSERT_ERR(scenario_format_op(&op, buf, sizeof(buf)), -EINVAL);
	op.kind = SCN_PIO_IN;
	op.size = 8; /* no in64 */
	ASSERT_ERR(scenario_format_op(&op, buf, sizeof(buf)), -EINVAL);
	op.size = 3;
	ASSERT_ERR(scenario_format_op(&op, buf, sizeof(buf)), -EINVAL);
	op.size = 0;
	ASSERT_ERR(scenario_format_op(&op, buf, sizeof(buf)), -EINVAL);
	op = (struct scn_op){.kind = SCN_BARRIER, .size = 4};
	ASSERT_ERR(scenario_format_op(&op, buf, sizeof(buf)), -EINVAL);
}

/* Writes the ops back as text ("vcpu N" where the vCPU changes) and parses that. */
static void assert_roundtrip(const struct scenario *s)
{
	size_t cap = (size_t)s->n_ops * 96 + 64, len = 0;
	_cleanup_free_ char *text = malloc(cap);
	struct scenario *s2 = NULL;
	char err[ERRLEN];
	int vcpu = -1;

	ASSERT_NOT_NULL(text);
	for (unsigned i = 0; i < s->n_ops; i++) {
		int n;

		if (s->ops[i].vcpu != vcpu) {
			vcpu = s->ops[i].vcpu;
			len += (size_t)snprintf(text + len, cap - len, "vcpu %d\n", vcpu);
		}
		n = scenario_format_op(&s->ops[i], text + len, cap - len);
		ASSERT_GT(n, 0);
		len += (size_t)n;
		text[len++] = '\n';
	}
	if (scenario_parse(text, len, "rt.scn", &s2, err, sizeof(err)) < 0)
		test_fail(__FILE__, __LINE__, "%s\n--\n%.*s", err, (int)len, text);
	ASSERT_EQ(s2->n_ops, s->n_ops);
	ASSERT_EQ(s2->nr_vcpus, s->nr_vcpus);
	for (unsigned i = 0; i < s->n_ops; i++)
		if (!op_equal(&s->ops[i], &s2->ops[i]))
			test_fail(__FILE__, __LINE__, "op %u (line %u) differs after round trip", i,
			          s->ops[i].line);
	scenario_free(s2);
}

TEST(format_roundtrip_files)
{
	static const char *const files[] = {"all-ops.scn", "vcpus.scn"};

	for (unsigned i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *path = parser_path(files[i]);
		struct scenario *s = NULL;
		char err[ERRLEN];

		ASSERT_OK(scenario_load(path, &s, err, sizeof(err)));
		assert_roundtrip(s);
		scenario_free(s);
	}
}

static uint64_t rng_next(uint64_t *state)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dull;
}

static uint64_t size_ones(unsigned size)
{
	return size == 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

static struct scn_op random_op(uint64_t *rng, unsigned vcpu)
{
	static const unsigned sizes[] = {1, 2, 4, 8};
	struct scn_op op = {.kind = (uint16_t)(rng_next(rng) % 8 + 1), .vcpu = (uint8_t)vcpu};
	bool read = op.kind == SCN_PIO_IN || op.kind == SCN_MMIO_READ || op.kind == SCN_PCI_READ;
	bool mmio = op.kind == SCN_MMIO_WRITE || op.kind == SCN_MMIO_READ;
	uint64_t ones;

	if (op.kind == SCN_BARRIER)
		op.kind = SCN_MSI_WAIT; /* barrier counts must match; not worth the bookkeeping */
	if (op.kind == SCN_MSI_WAIT) {
		op.value = 16 + rng_next(rng) % 240;
		return op;
	}
	op.size = (uint8_t)sizes[rng_next(rng) % (mmio ? 4 : 3)];
	ones = size_ones(op.size);
	op.value = rng_next(rng) & ones;
	op.mask = read && rng_next(rng) % 2 ? rng_next(rng) & ones : ones;
	if (op.kind == SCN_PIO_OUT || op.kind == SCN_PIO_IN)
		op.addr = rng_next(rng) % (0x10000 - op.size + 1);
	else if (mmio)
		op.addr = MIN(rng_next(rng), UINT64_MAX - (op.size - 1u));
	else
		op.addr = (rng_next(rng) & 0xffff) << 32 |
		          (rng_next(rng) % (256 / op.size)) * op.size;
	return op;
}

TEST(format_roundtrip_random)
{
	struct scenario s = {.n_ops = 4000};
	_cleanup_free_ struct scn_op *ops = calloc(s.n_ops, sizeof(*ops));
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	ASSERT_NOT_NULL(ops);
	s.ops = ops;
	for (unsigned i = 0; i < s.n_ops; i++) {
		ops[i] = random_op(&rng, (unsigned)(i / 100 % SCN_MAX_VCPUS));
		s.nr_vcpus = MAX(s.nr_vcpus, ops[i].vcpu + 1u);
	}
	assert_roundtrip(&s);
}

TEST(load_errors)
{
	struct scenario *s = NULL;
	char err[ERRLEN];
	char *path;

	ASSERT_ERR(scenario_load("/nonexistent/x.scn", &s, err, sizeof(err)), -ENOENT);
	ASSERT_STREQ(err, "/nonexistent/x.scn: No such file or directory");
	ASSERT_ERR(scenario_load(test_tmpdir(), &s, err, sizeof(err)), -EISDIR);
	ASSERT_CONTAINS(err, ": Is a directory");
	ASSERT_TRUE(s == NULL);

	/* A parse error of a loaded file names the path as given. */
	ASSERT_TRUE(asprintf(&path, "%s/bad.scn", test_tmpdir()) > 0);
	{
		_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		ASSERT_TRUE(fd >= 0);
		ASSERT_OK(util_write_all(fd, "barrier\nin8 0x60\n", 17));
	}
	ASSERT_ERR(scenario_load(path, &s, err, sizeof(err)), -EINVAL);
	ASSERT_EQ(strncmp(err, path, strlen(path)), 0);
	ASSERT_STREQ(err + strlen(path), ":2: in8: missing EXPECT");
	free(path);
}

TEST(load_too_big)
{
	_cleanup_free_ char *path = NULL;
	struct scenario *s = NULL;
	char err[ERRLEN];

	ASSERT_TRUE(asprintf(&path, "%s/big.scn", test_tmpdir()) > 0);
	{
		_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		ASSERT_TRUE(fd >= 0);
		/* Sparse: reads as NULs, but the size check comes first. */
		ASSERT_EQ(ftruncate(fd, 16 * 1024 * 1024 + 1), 0);
	}
	ASSERT_ERR(scenario_load(path, &s, err, sizeof(err)), -EFBIG);
	ASSERT_CONTAINS(err, "larger than");
	ASSERT_TRUE(s == NULL);
}

static int read_header(const char *path, char *expect, size_t expect_len, unsigned *line)
{
	FILE *f = fopen(path, "re");
	char buf[1100];
	int r = -EINVAL;

	*line = 0;
	if (!f)
		return -errno;
	if (fgets(buf, sizeof(buf), f) && strncmp(buf, "# expect: ", 10) == 0) {
		buf[strcspn(buf, "\n")] = '\0';
		r = util_strcpy(expect, expect_len, buf + 10);
		if (fgets(buf, sizeof(buf), f) && sscanf(buf, "# line: %u", line) != 1)
			*line = 0;
	}
	fclose(f);
	return r;
}

/* tests/scenarios/bad/: each file fails as its "# expect:" (and "# line:") header says. */
TEST(bad_corpus)
{
	_cleanup_free_ char *dir = NULL;
	struct dirent **ents = NULL;
	unsigned checked = 0;
	int n;

	ASSERT_TRUE(asprintf(&dir, "%s/scenarios/bad", test_srcdir()) > 0);
	n = scandir(dir, &ents, NULL, alphasort);
	ASSERT_TRUE(n >= 0);
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		size_t len = strlen(name);
		_cleanup_free_ char *path = NULL;
		struct scenario *s = NULL;
		char err[ERRLEN], expect[256], prefix[1200];
		unsigned line;
		int r;

		if (len < 4 || strcmp(name + len - 4, ".scn") != 0)
			continue;
		ASSERT_TRUE(asprintf(&path, "%s/%s", dir, name) > 0);
		if (read_header(path, expect, sizeof(expect), &line) < 0)
			test_fail(__FILE__, __LINE__, "%s: no \"# expect: \" first line", path);
		r = scenario_load(path, &s, err, sizeof(err));
		if (r != -EINVAL)
			test_fail(__FILE__, __LINE__, "%s: got %d, want -EINVAL", path, r);
		ASSERT_TRUE(s == NULL);
		if (line)
			snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
		else /* no "# line:" header: any line number */
			snprintf(prefix, sizeof(prefix), "%s:%u: ", path,
			         (unsigned)strtoul(err + MIN(strlen(path) + 1, strlen(err)), NULL,
			                           10));
		if (strncmp(err, prefix, strlen(prefix)) != 0)
			test_fail(__FILE__, __LINE__,
			          "%s: message \"%s\" does not start with \"%s\"", path, err,
			          prefix);
		if (!strstr(err + strlen(prefix), expect))
			test_fail(__FILE__, __LINE__, "%s: message \"%s\" lacks \"%s\"", path, err,
			          expect);
		checked++;
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	ASSERT_GE(checked, 30);
}

/*
 * Mutations of valid text: every outcome must be success or -EINVAL with a
 * "file:line: " message, and ASan/valgrind must stay quiet.  A stand-in
 * until the libFuzzer target exists.
 */
TEST(mutations)
{
	static const char seed[] = "out8 0x80 0x1\nin16 0x60 0x1/0xff\nvcpu 1\n"
	                           "cfgread32 00:03.0 0x04 ones/0xffff\nwrite64 0x1000 1\n"
	                           "read8 0x1000 0x5a\nmsi 0x40\nbarrier\nvcpu 0\nbarrier\n";
	static const char alphabet[] = " \t\n#/:.0123456789abcdefxXnosvcpu-+\0\r\xff";
	uint64_t rng = 42;
	char buf[sizeof(seed) + 16];

	for (unsigned iter = 0; iter < 20000; iter++) {
		size_t len = sizeof(seed) - 1;
		struct scenario *s = NULL;
		char err[ERRLEN];
		int r;

		memcpy(buf, seed, len);
		for (unsigned k = 0; k < 1 + rng_next(&rng) % 4 && len > 1; k++) {
			size_t at = rng_next(&rng) % len;

			if (rng_next(&rng) % 3 == 0 && len < sizeof(buf))
				memmove(buf + at + 1, buf + at, len++ - at);
			else if (rng_next(&rng) % 3 == 0)
				memmove(buf + at, buf + at + 1, --len - at);
			buf[at] = alphabet[rng_next(&rng) % (sizeof(alphabet) - 1)];
		}
		len = rng_next(&rng) % 8 == 0 ? rng_next(&rng) % (len + 1) : len;
		/* An exact-size heap copy, so ASan catches a read past the end. */
		{
			_cleanup_free_ char *copy = malloc(len ? len : 1);

			ASSERT_NOT_NULL(copy);
			memcpy(copy, buf, len);
			r = scenario_parse(copy, len, "m", &s, err, sizeof(err));
		}
		if (r == 0) {
			ASSERT_GT(s->n_ops, 0);
			assert_roundtrip(s);
			scenario_free(s);
			continue;
		}
		ASSERT_ERR(r, -EINVAL);
		ASSERT_EQ(strncmp(err, "m:", 2), 0);
		ASSERT_NOT_NULL(strstr(err, ": "));
	}
}
