/* SPDX-License-Identifier: MIT */
/*
 * The scenario parser (format in docs/scenario.md).  Input is untrusted text
 * (the parser is fuzzed), so every line is bounded and copied before it is
 * split, every number is range-checked by hand rather than with strtoull
 * (which accepts signs, spaces and octal), and the only state is the parser
 * struct on the caller's stack.
 */
#include "sim/scenario.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

#define SCN_MAX_LINE   1024                /* bytes per line, without the '\n' */
#define SCN_MAX_FILE   (16u * 1024 * 1024) /* scenario_load; 64Ki ops fit easily */
#define SCN_MAX_TOKENS 5                   /* op + 3 operands + 1 to detect extras */
#define SCN_TOK_SHOWN  64                  /* longest token quoted in a message */

enum operand {
	OPD_PORT,
	OPD_ADDR,
	OPD_BDF,
	OPD_REG,
	OPD_VALUE,  /* written: must fit the size */
	OPD_EXPECT, /* read: EXPECT[/MASK] or "ones" */
	OPD_VECTOR,
};

struct op_family {
	const char *name;
	uint16_t kind;
	uint8_t sizes;     /* allowed access sizes in bytes, OR-ed (1|2|4|8); 0: no suffix */
	const char *forms; /* for "bad size suffix" messages */
	uint8_t n_operands;
	uint8_t operands[3]; /* enum operand */
	const char *names[3];
};

#define SZ_PIO  (1 | 2 | 4)
#define SZ_MMIO (1 | 2 | 4 | 8)

/* One row per family: easier to check against docs/scenario.md than a column. */
/* clang-format off */
static const struct op_family families[] = {
	{"out",      SCN_PIO_OUT,    SZ_PIO,  "out8, out16 or out32",
	 2, {OPD_PORT, OPD_VALUE},           {"PORT", "VALUE"}},
	{"in",       SCN_PIO_IN,     SZ_PIO,  "in8, in16 or in32",
	 2, {OPD_PORT, OPD_EXPECT},          {"PORT", "EXPECT"}},
	{"write",    SCN_MMIO_WRITE, SZ_MMIO, "write8, write16, write32 or write64",
	 2, {OPD_ADDR, OPD_VALUE},           {"ADDR", "VALUE"}},
	{"read",     SCN_MMIO_READ,  SZ_MMIO, "read8, read16, read32 or read64",
	 2, {OPD_ADDR, OPD_EXPECT},          {"ADDR", "EXPECT"}},
	{"cfgwrite", SCN_PCI_WRITE,  SZ_PIO,  "cfgwrite8, cfgwrite16 or cfgwrite32",
	 3, {OPD_BDF, OPD_REG, OPD_VALUE},   {"BDF", "REG", "VALUE"}},
	{"cfgread",  SCN_PCI_READ,   SZ_PIO,  "cfgread8, cfgread16 or cfgread32",
	 3, {OPD_BDF, OPD_REG, OPD_EXPECT},  {"BDF", "REG", "EXPECT"}},
	{"msi",      SCN_MSI_WAIT,   0,       NULL,
	 1, {OPD_VECTOR},                    {"VECTOR"}},
	{"barrier",  SCN_BARRIER,    0,       NULL,
	 0, {0},                             {NULL}},
};
/* clang-format on */

struct parser {
	const char *file; /* as given, for messages */
	uint32_t line;
	char *err;
	size_t errlen;
	struct scn_op *ops;
	unsigned n_ops, cap;
	uint8_t vcpu;
	/* Per vCPU, for the barrier-count check and nr_vcpus. */
	unsigned barriers[SCN_MAX_VCPUS];
	uint32_t last_line[SCN_MAX_VCPUS]; /* 0: no op on this vCPU */
};

/* One line being parsed: its tokens and the op they describe. */
struct stmt {
	char *tok[SCN_MAX_TOKENS];
	unsigned n_tok;
	const char *mnemonic; /* tok[0], for messages */
	const struct op_family *fam;
	struct scn_op op;
};

static _printf_(3, 4) int fail(const struct parser *p, int err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || p->errlen == 0)
		return err;
	n = snprintf(p->err, p->errlen, "%s:%" PRIu32 ": ", p->file, p->line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return err;
}

static uint64_t ones_of(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
}

static int number(const struct parser *p, const struct stmt *st, const char *what, const char *s,
                  uint64_t *ret)
{
	const char *why = util_parse_strict_u64(s, ret);

	if (why)
		return fail(p, -EINVAL, "%s: bad %s \"%.*s\": %s", st->mnemonic, what,
		            SCN_TOK_SHOWN, s, why);
	return 0;
}

static int parse_port(const struct parser *p, struct stmt *st, const char *s)
{
	uint64_t v;
	int r = number(p, st, "PORT", s, &v);

	if (r < 0)
		return r;
	if (v > 0xffff)
		return fail(p, -EINVAL, "%s: port 0x%" PRIx64 " out of range (max 0xffff)",
		            st->mnemonic, v);
	if (v + st->op.size - 1 > 0xffff)
		return fail(p, -EINVAL, "%s: port 0x%" PRIx64 " + %u bytes runs past 0xffff",
		            st->mnemonic, v, st->op.size);
	st->op.addr = v;
	return 0;
}

static int parse_addr(const struct parser *p, struct stmt *st, const char *s)
{
	uint64_t v;
	int r = number(p, st, "ADDR", s, &v);

	if (r < 0)
		return r;
	if (v > UINT64_MAX - (st->op.size - 1))
		return fail(p, -EINVAL, "%s: address 0x%" PRIx64 " + %u bytes wraps past 2^64",
		            st->mnemonic, v, st->op.size);
	st->op.addr = v;
	return 0;
}

/* Splits BB:DD.F or SSSS:BB:DD.F into seg/bus/dev/fn; false if the shape is wrong. */
static bool bdf_split(const char *s, unsigned f[4])
{
	unsigned colons = 0;

	for (const char *c = s; *c; c++)
		colons += *c == ':';
	if (colons != 1 && colons != 2)
		return false;
	f[0] = 0;
	if (colons == 2) {
		s = util_parse_hex_field(s, ':', &f[0]);
		if (!s)
			return false;
		s++;
	}
	s = util_parse_hex_field(s, ':', &f[1]);
	if (!s)
		return false;
	s = util_parse_hex_field(s + 1, '.', &f[2]);
	if (!s)
		return false;
	return util_parse_hex_field(s + 1, '\0', &f[3]) != NULL;
}

static int parse_bdf(const struct parser *p, struct stmt *st, const char *s)
{
	unsigned f[4]; /* seg, bus, dev, fn */

	if (!bdf_split(s, f))
		return fail(p, -EINVAL, "%s: bad BDF \"%.*s\" (want BB:DD.F or SSSS:BB:DD.F, hex)",
		            st->mnemonic, SCN_TOK_SHOWN, s);
	if (f[1] > 0xff)
		return fail(p, -EINVAL, "%s: BDF %s: bus 0x%x > 0xff", st->mnemonic, s, f[1]);
	if (f[2] > 0x1f)
		return fail(p, -EINVAL, "%s: BDF %s: device 0x%x > 0x1f", st->mnemonic, s, f[2]);
	if (f[3] > 7)
		return fail(p, -EINVAL, "%s: BDF %s: function 0x%x > 7", st->mnemonic, s, f[3]);
	/* 0xcf8 has no segment field; only MMCONFIG could reach other segments. */
	if (f[0] != 0)
		return fail(p, -EINVAL,
		            "%s: BDF %s: segment 0x%04x is not reachable through 0xcf8 "
		            "(only segment 0)",
		            st->mnemonic, s, f[0]);
	st->op.addr = (uint64_t)(f[0] << 16 | f[1] << 8 | f[2] << 3 | f[3]) << 32;
	return 0;
}

static int parse_reg(const struct parser *p, struct stmt *st, const char *s)
{
	uint64_t v;
	int r = number(p, st, "REG", s, &v);

	if (r < 0)
		return r;
	if (v % st->op.size)
		return fail(p, -EINVAL, "%s: register 0x%" PRIx64 " is not aligned to %u bytes",
		            st->mnemonic, v, st->op.size);
	/* Aligned, so only a register at or past 0x100 can run past the end. */
	if (v > 256u - st->op.size)
		return fail(p, -EINVAL,
		            "%s: register 0x%" PRIx64 " is beyond the 256-byte config space",
		            st->mnemonic, v);
	st->op.addr |= v;
	return 0;
}

static int fits(const struct parser *p, const struct stmt *st, const char *what, uint64_t v)
{
	if (v & ~ones_of(st->op.size))
		return fail(p, -EINVAL, "%s: %s 0x%" PRIx64 " does not fit %u bits", st->mnemonic,
		            what, v, st->op.size * 8);
	return 0;
}

static int parse_value(const struct parser *p, struct stmt *st, const char *s)
{
	int r;

	if (strchr(s, '/'))
		return fail(p, -EINVAL, "%s: a /MASK is only allowed on a read's EXPECT",
		            st->mnemonic);
	if (strcmp(s, "ones") == 0)
		return fail(p, -EINVAL, "%s: \"ones\" is only allowed as a read's EXPECT",
		            st->mnemonic);
	r = number(p, st, "VALUE", s, &st->op.value);
	if (r < 0)
		return r;
	st->op.mask = ones_of(st->op.size);
	return fits(p, st, "value", st->op.value);
}

/* EXPECT[/MASK]; s is the line's own copy, so it may be split in place. */
static int parse_expect(const struct parser *p, struct stmt *st, char *s)
{
	char *slash = strchr(s, '/');
	int r;

	if (slash)
		*slash = '\0';
	if (strcmp(s, "ones") == 0) {
		st->op.value = ones_of(st->op.size);
	} else {
		r = number(p, st, "EXPECT", s, &st->op.value);
		if (r < 0)
			return r;
		r = fits(p, st, "value", st->op.value);
		if (r < 0)
			return r;
	}
	st->op.mask = ones_of(st->op.size);
	if (!slash)
		return 0;
	r = number(p, st, "MASK", slash + 1, &st->op.mask);
	if (r < 0)
		return r;
	return fits(p, st, "mask", st->op.mask);
}

static int parse_vector(const struct parser *p, struct stmt *st, const char *s)
{
	uint64_t v;
	int r = number(p, st, "VECTOR", s, &v);

	if (r < 0)
		return r;
	/* 0-15 are exception vectors on x86; an MSI cannot deliver them. */
	if (v < 16 || v > 255)
		return fail(p, -EINVAL, "%s: vector 0x%" PRIx64 " out of range (16..255)",
		            st->mnemonic, v);
	st->op.value = v;
	return 0;
}

static int parse_operand(const struct parser *p, struct stmt *st, unsigned i)
{
	char *s = st->tok[i + 1];

	switch (st->fam->operands[i]) {
	case OPD_PORT:
		return parse_port(p, st, s);
	case OPD_ADDR:
		return parse_addr(p, st, s);
	case OPD_BDF:
		return parse_bdf(p, st, s);
	case OPD_REG:
		return parse_reg(p, st, s);
	case OPD_VALUE:
		return parse_value(p, st, s);
	case OPD_EXPECT:
		return parse_expect(p, st, s);
	case OPD_VECTOR:
		return parse_vector(p, st, s);
	}
	return fail(p, -EINVAL, "internal: bad operand kind");
}

static const struct {
	const char *suffix;
	uint8_t size;
} size_suffixes[] = {{"8", 1}, {"16", 2}, {"32", 4}, {"64", 8}};

/* Splits a mnemonic into family and size ("cfgread16" -> cfgread, 2 bytes). */
static int lookup_op(const struct parser *p, struct stmt *st)
{
	const char *m = st->mnemonic;
	size_t n = strspn(m, "abcdefghijklmnopqrstuvwxyz");
	const char *suffix = m + n;

	for (size_t i = 0; i < ARRAY_SIZE(families) && !st->fam; i++)
		if (strlen(families[i].name) == n && strncmp(families[i].name, m, n) == 0)
			st->fam = &families[i];
	if (!st->fam || (st->fam->sizes == 0 && *suffix))
		return fail(p, -EINVAL, "unknown op \"%.*s\"", SCN_TOK_SHOWN, m);
	if (st->fam->sizes == 0)
		return 0;
	if (!*suffix)
		return fail(p, -EINVAL, "%s: missing size suffix (%s)", m, st->fam->forms);
	for (size_t i = 0; i < ARRAY_SIZE(size_suffixes); i++)
		if (strcmp(suffix, size_suffixes[i].suffix) == 0 &&
		    (st->fam->sizes & size_suffixes[i].size))
			st->op.size = size_suffixes[i].size;
	if (!st->op.size)
		return fail(p, -EINVAL, "%.*s: invalid size suffix (%s)", SCN_TOK_SHOWN, m,
		            st->fam->forms);
	return 0;
}

static int check_operand_count(const struct parser *p, const struct stmt *st)
{
	unsigned want = st->fam ? st->fam->n_operands : 1; /* no family: "vcpu N" */
	const char *const *names = st->fam ? st->fam->names : (const char *const[]){"N"};

	if (st->n_tok - 1 < want)
		return fail(p, -EINVAL, "%s: missing %s", st->mnemonic, names[st->n_tok - 1]);
	if (st->n_tok - 1 > want)
		return fail(p, -EINVAL, "%s: extra operand \"%.*s\"", st->mnemonic, SCN_TOK_SHOWN,
		            st->tok[want + 1]);
	return 0;
}

static int parse_vcpu(struct parser *p, const struct stmt *st)
{
	uint64_t v;
	int r = check_operand_count(p, st);

	if (r < 0)
		return r;
	r = number(p, st, "N", st->tok[1], &v);
	if (r < 0)
		return r;
	if (v >= SCN_MAX_VCPUS)
		return fail(p, -EINVAL, "vcpu: %" PRIu64 " out of range (max %u)", v,
		            SCN_MAX_VCPUS - 1);
	p->vcpu = (uint8_t)v;
	return 0;
}

static int append_op(struct parser *p, const struct scn_op *op)
{
	if (p->n_ops == SCN_MAX_OPS)
		return fail(p, -EINVAL, "too many ops (max %u)", SCN_MAX_OPS);
	if (p->n_ops == p->cap) {
		unsigned cap = p->cap ? MIN(p->cap * 2, SCN_MAX_OPS) : 64;
		struct scn_op *ops = realloc(p->ops, cap * sizeof(*ops));

		if (!ops)
			return fail(p, -ENOMEM, "out of memory");
		p->ops = ops;
		p->cap = cap;
	}
	p->ops[p->n_ops++] = *op;
	p->last_line[op->vcpu] = op->line;
	if (op->kind == SCN_BARRIER)
		p->barriers[op->vcpu]++;
	return 0;
}

static int parse_stmt(struct parser *p, struct stmt *st)
{
	int r;

	st->mnemonic = st->tok[0];
	if (strcmp(st->mnemonic, "vcpu") == 0)
		return parse_vcpu(p, st);
	r = lookup_op(p, st);
	if (r < 0)
		return r;
	r = check_operand_count(p, st);
	if (r < 0)
		return r;
	st->op.kind = st->fam->kind;
	st->op.vcpu = p->vcpu;
	st->op.line = p->line;
	for (unsigned i = 0; i < st->fam->n_operands; i++) {
		r = parse_operand(p, st, i);
		if (r < 0)
			return r;
	}
	return append_op(p, &st->op);
}

/* Rejects bytes that would make the line mean something other than it shows. */
static int check_bytes(const struct parser *p, const char *line, size_t len)
{
	if (memchr(line, '\0', len))
		return fail(p, -EINVAL, "NUL byte");
	if (len > SCN_MAX_LINE)
		return fail(p, -EINVAL, "line too long (%zu bytes, max %u)", len, SCN_MAX_LINE);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\r')
			return fail(p, -EINVAL, "carriage return (CRLF line endings?)");
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(p, -EINVAL, "control character 0x%02x", c);
	}
	return 0;
}

static int parse_line(struct parser *p, const char *line, size_t len)
{
	char buf[SCN_MAX_LINE + 1];
	struct stmt st = {0};
	char *s, *hash;
	int r = check_bytes(p, line, len);

	if (r < 0)
		return r;
	memcpy(buf, line, len);
	buf[len] = '\0';
	hash = strchr(buf, '#');
	if (hash)
		*hash = '\0';
	for (s = buf; *s;) {
		s += strspn(s, " \t");
		if (!*s)
			break;
		if (st.n_tok == SCN_MAX_TOKENS)
			break; /* enough to report "extra operand" */
		st.tok[st.n_tok++] = s;
		s += strcspn(s, " \t");
		if (*s)
			*s++ = '\0';
	}
	if (st.n_tok == 0)
		return 0;
	return parse_stmt(p, &st);
}

/* Every vCPU with ops meets at every barrier, so each must have the same number. */
static int check_barriers(struct parser *p)
{
	int first = -1;

	for (unsigned v = 0; v < SCN_MAX_VCPUS; v++) {
		if (!p->last_line[v])
			continue;
		if (first < 0) {
			first = (int)v;
			continue;
		}
		if (p->barriers[v] != p->barriers[first]) {
			p->line = p->last_line[v];
			return fail(p, -EINVAL,
			            "barrier count differs between vcpus: vcpu %u has %u, "
			            "vcpu %d has %u",
			            v, p->barriers[v], first, p->barriers[first]);
		}
	}
	return 0;
}

static unsigned count_vcpus(const struct parser *p)
{
	unsigned n = 0;

	for (unsigned v = 0; v < SCN_MAX_VCPUS; v++)
		if (p->last_line[v])
			n = v + 1;
	return n;
}

/* "dir/uart.scn" -> "uart"; keeps the ".scn" if nothing else would be left. */
static char *scenario_name(const char *filename)
{
	const char *base = strrchr(filename, '/');
	size_t n;

	base = base ? base + 1 : filename;
	n = strlen(base);
	if (n > 4 && strcmp(base + n - 4, ".scn") == 0)
		n -= 4;
	return strndup(base, n);
}

static int parse_text(struct parser *p, const char *text, size_t len)
{
	size_t pos = 0;
	int r;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		if (p->line == UINT32_MAX)
			return fail(p, -EINVAL, "too many lines");
		p->line++;
		r = parse_line(p, text + pos, n);
		if (r < 0)
			return r;
		pos += n + (nl ? 1 : 0);
	}
	if (p->line == 0)
		p->line = 1; /* an empty text is reported at line 1 */
	if (p->n_ops == 0)
		return fail(p, -EINVAL, "no ops");
	return check_barriers(p);
}

int scenario_parse(const char *text, size_t len, const char *filename, struct scenario **ret,
                   char *err, size_t errlen)
{
	struct parser p = {
	        .file = filename ? filename : "<input>",
	        .err = err,
	        .errlen = errlen,
	};
	struct scenario *s;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!text && len)
		return fail(&p, -EINVAL, "no text");
	r = parse_text(&p, text, len);
	if (r < 0)
		goto out;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->name = scenario_name(p.file))) {
		free(s);
		r = fail(&p, -ENOMEM, "out of memory");
		goto out;
	}
	s->ops = TAKE_PTR(p.ops);
	s->n_ops = p.n_ops;
	s->nr_vcpus = count_vcpus(&p);
	*ret = s;
	return 0;
out:
	free(p.ops);
	return r;
}

/* The whole file, capped so that a wrong path (a device, a huge log) cannot eat memory. */
static int read_file(int fd, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 16384;
			char *nbuf;

			if (cap >= SCN_MAX_FILE + 1)
				return -EFBIG;
			ncap = MIN(ncap, (size_t)SCN_MAX_FILE + 1);
			nbuf = realloc(buf, ncap);
			if (!nbuf)
				return -ENOMEM;
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > SCN_MAX_FILE)
		return -EFBIG;
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

int scenario_load(const char *path, struct scenario **ret, char *err, size_t errlen)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	r = fd < 0 ? -errno : read_file(fd, &text, &len);
	if (r == -EFBIG) {
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than %u bytes", path, SCN_MAX_FILE);
		return r;
	}
	if (r < 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	return scenario_parse(text, len, path, ret, err, errlen);
}

void scenario_free(struct scenario *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->ops);
	free(s);
}

static const struct op_family *family_of(const struct scn_op *op)
{
	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		const struct op_family *f = &families[i];
		bool size_ok = f->sizes ? op->size && (op->size & (op->size - 1)) == 0 &&
		                                  (f->sizes & op->size)
		                        : op->size == 0;

		if (f->kind == op->kind)
			return size_ok ? f : NULL;
	}
	return NULL;
}

/* " 0x60" or " 0x60/0x61": the mask only when it is not the default. */
static int format_data(const struct scn_op *op, char *buf, size_t len)
{
	if (op->kind == SCN_PIO_IN || op->kind == SCN_MMIO_READ || op->kind == SCN_PCI_READ) {
		if (op->mask != ones_of(op->size))
			return snprintf(buf, len, " 0x%" PRIx64 "/0x%" PRIx64, op->value, op->mask);
	}
	return snprintf(buf, len, " 0x%" PRIx64, op->value);
}

static int format_target(const struct scn_op *op, char *buf, size_t len)
{
	uint32_t sbdf = (uint32_t)(op->addr >> 32);
	unsigned reg = (unsigned)(op->addr & 0xffffffff);

	if (op->kind != SCN_PCI_READ && op->kind != SCN_PCI_WRITE)
		return snprintf(buf, len, " 0x%" PRIx64, op->addr);
	if (sbdf >> 16)
		return snprintf(buf, len, " %04x:%02x:%02x.%x 0x%02x", sbdf >> 16,
		                (sbdf >> 8) & 0xff, (sbdf >> 3) & 0x1f, sbdf & 7, reg);
	return snprintf(buf, len, " %02x:%02x.%x 0x%02x", (sbdf >> 8) & 0xff, (sbdf >> 3) & 0x1f,
	                sbdf & 7, reg);
}

int scenario_format_op(const struct scn_op *op, char *buf, size_t len)
{
	const struct op_family *f = family_of(op);
	char tmp[128]; /* the longest op is well under this */
	int n;

	if (!f)
		return -EINVAL;
	if (f->sizes)
		n = snprintf(tmp, sizeof(tmp), "%s%u", f->name, op->size * 8);
	else
		n = snprintf(tmp, sizeof(tmp), "%s", f->name);
	if (op->kind == SCN_MSI_WAIT) {
		n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, " 0x%" PRIx64, op->value);
	} else if (op->kind != SCN_BARRIER) {
		n += format_target(op, tmp + n, sizeof(tmp) - (size_t)n);
		n += format_data(op, tmp + n, sizeof(tmp) - (size_t)n);
	}
	if (!buf || (size_t)n >= len) {
		if (buf && len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	memcpy(buf, tmp, (size_t)n + 1);
	return n;
}
