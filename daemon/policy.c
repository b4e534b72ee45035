/* SPDX-License-Identifier: MIT */
/*
 * The placement policy: JSON text to plain structs (docs/policy.md).
 *
 * One run reports every problem it can, each with the JSON path it is at,
 * so the text goes through three passes:
 *
 *   1. json-c builds the tree and catches most syntax errors;
 *   2. a strict RFC 8259 scanner over the raw text catches what json-c
 *      tolerates even in strict mode (single quotes, NaN, raw control
 *      characters) and what its tree cannot show: duplicate keys (json-c
 *      silently keeps the last one, so "user": "root" could hide behind a
 *      harmless-looking earlier "user");
 *   3. the tree is walked with the path at hand, every key checked.
 *
 * Nothing here logs, keeps state or touches the system except reading the
 * file in policy_load() and stat() in policy_check_execs().
 */
#include "daemon/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <xen/hvm/hvm_op.h>

#include "common/util.h"

#define POLICY_FILE_MAX   (1u << 20) /* a policy is a few KiB; this only bounds memory */
#define POLICY_JSON_DEPTH 32         /* json-c's default; the format needs 6 */
#define PATH_LEN          sizeof(((struct policy_error *)0)->path)
#define SHOW_LEN          48 /* user strings quoted in messages are cut to about this */

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)

#define PCI_HOLE_LIMIT  (1ull << 52) /* x86 guest-physical addresses are at most 52 bits */
#define DOMID_MAX       0x7fefu      /* DOMID_FIRST_RESERVED - 1 */
#define UID_LAST_MAX    0xfffffffeu  /* (uid_t)-1 means "unchanged" to setresuid() */
#define OVERFLOW_UID    65534u       /* the kernel's "nobody" for unmapped ids */
#define OVERFLOW_UID_16 65535u       /* (uint16_t)-1, invalid for the 16-bit id calls */
#define DEFAULT_HOLE_LO 0xe0000000ull
#define DEFAULT_HOLE_HI 0xfbffffffull

/* ---- errors ------------------------------------------------------------- */

static void copy_trunc(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Counts every error; stores the first POLICY_ERRORS_MAX. */
_printf_(3, 4) static void add_error(struct policy_errors *errs, const char *path, const char *fmt,
                                     ...)
{
	struct policy_error *e;
	va_list ap;

	if (errs->n++ >= POLICY_ERRORS_MAX)
		return;
	e = &errs->e[errs->n - 1];
	copy_trunc(e->path, sizeof(e->path), *path ? path : "(root)");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

/* Paths longer than an error can hold are cut; they are for people, not parsers. */
_printf_(2, 3) static void fmt_path(char *dst, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, PATH_LEN, fmt, ap);
	va_end(ap);
}

static void path_key(char *dst, const char *parent, const char *key)
{
	fmt_path(dst, "%s%s%s", parent, *parent ? "." : "", key);
}

static void path_idx(char *dst, const char *parent, size_t i)
{
	fmt_path(dst, "%s[%zu]", parent, i);
}

/*
 * A string from the policy made safe to quote in a message: printable ASCII
 * stays, everything else (controls, quotes, non-ASCII) becomes \xNN, and a
 * long string is cut with "...".
 */
static const char *show(char *buf, size_t size, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';

		if (o + (plain ? 1 : 4) + 4 > size) {
			memcpy(buf + o, "...", 4);
			return buf;
		}
		if (plain)
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, 5, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

static const char *show_str(char *buf, size_t size, const char *s)
{
	return show(buf, size, s, strlen(s));
}

/* ---- numbers, ranges, PCI addresses ----------------------------------- */

/* Copies s[0..n) into a small buffer for util_parse_strict_u64; false if it does not fit. */
static bool take(char *dst, size_t size, const char *s, size_t n)
{
	if (n >= size)
		return false;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

/*
 * "A-B", "A" or "A+SIZE" (the last only if with_size) into an inclusive
 * range.  Returns NULL or why not, in why[].
 */
static const char *parse_range(const char *s, bool with_size, uint64_t max, struct dmp_range *ret,
                               char *why, size_t whylen)
{
	const char *dash = strchr(s, '-'), *plus = strchr(s, '+'), *sep = dash ? dash : plus;
	char a[32], b[32];
	const char *e;
	uint64_t start, end;

	if ((dash && plus) || (dash && strchr(dash + 1, '-')) || (plus && strchr(plus + 1, '+')))
		return with_size ? "want A-B, A or A+SIZE" : "want A-B or A";
	if (plus && !with_size)
		return "A+SIZE is only for mmio; write A-B";
	if (!take(a, sizeof(a), s, sep ? (size_t)(sep - s) : strlen(s)))
		return "number too long";
	if ((e = util_parse_strict_u64(a, &start)))
		return e;
	end = start;
	if (sep) {
		uint64_t v;

		if (!take(b, sizeof(b), sep + 1, strlen(sep + 1)))
			return "number too long";
		if ((e = util_parse_strict_u64(b, &v)))
			return e;
		if (dash) {
			end = v;
			if (start > end) {
				snprintf(why, whylen, "start 0x%" PRIx64 " is after end 0x%" PRIx64,
				         start, end);
				return why;
			}
		} else {
			if (v == 0)
				return "size is 0";
			if (start > UINT64_MAX - (v - 1))
				return "start + size wraps past 2^64";
			end = start + (v - 1);
		}
	}
	if (end > max) {
		snprintf(why, whylen, "0x%" PRIx64 " is above 0x%" PRIx64, end, max);
		return why;
	}
	ret->start = start;
	ret->end = end;
	return NULL;
}

/* [SSSS:]BB:DD.F, hex, segment 0 (as in scenarios) to an SBDF. */
static const char *parse_pci(const char *s, uint32_t *ret, char *why, size_t whylen)
{
	unsigned f[4] = {0}, colons = 0; /* seg, bus, dev, fn */

	for (const char *c = s; *c; c++)
		colons += *c == ':';
	if (colons != 1 && colons != 2)
		return "want BB:DD.F or 0000:BB:DD.F, hex";
	if (colons == 2 && !(s = util_parse_hex_field(s, ':', &f[0])))
		return "want BB:DD.F or 0000:BB:DD.F, hex";
	if (colons == 2)
		s++;
	if (!(s = util_parse_hex_field(s, ':', &f[1])) ||
	    !(s = util_parse_hex_field(s + 1, '.', &f[2])) ||
	    !util_parse_hex_field(s + 1, '\0', &f[3]))
		return "want BB:DD.F or 0000:BB:DD.F, hex";
	if (f[0] != 0) {
		snprintf(why, whylen, "segment 0x%04x: only segment 0 is supported", f[0]);
		return why;
	}
	if (f[1] > 0xff) {
		snprintf(why, whylen, "bus 0x%x > 0xff", f[1]);
		return why;
	}
	if (f[2] > 0x1f) {
		snprintf(why, whylen, "device 0x%x > 0x1f", f[2]);
		return why;
	}
	if (f[3] > 7) {
		snprintf(why, whylen, "function 0x%x > 7", f[3]);
		return why;
	}
	*ret = IOREQ_SBDF(0, f[1], f[2], f[3]);
	return NULL;
}

/* Bytes, optionally with K, M or G (powers of 1024): "64M". */
static const char *parse_size(const char *s, uint64_t *ret)
{
	uint64_t v = 0, mult = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return "want a number of bytes, optionally with K, M or G";
	if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
		return "leading zero";
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return "number does not fit 64 bits";
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (*p == 'K')
		mult = KIB;
	else if (*p == 'M')
		mult = MIB;
	else if (*p == 'G')
		mult = GIB;
	else if (*p)
		return "want a number of bytes, optionally with K, M or G";
	if (*p && p[1])
		return "want a number of bytes, optionally with K, M or G";
	if (v > UINT64_MAX / mult)
		return "number does not fit 64 bits";
	*ret = v * mult;
	return NULL;
}

/* Canonical text of a claim: "0xA-0xB" (also for one value), PCI "BB:DD.F". */
static void format_claim(char *buf, size_t size, unsigned kind, const struct dmp_range *r)
{
	if (kind == DMP_CLAIM_PCI)
		snprintf(buf, size, "%02x:%02x.%x", IOREQ_SBDF_BUS((uint32_t)r->start),
		         IOREQ_SBDF_DEV((uint32_t)r->start), IOREQ_SBDF_FN((uint32_t)r->start));
	else
		snprintf(buf, size, "0x%" PRIx64 "-0x%" PRIx64, r->start, r->end);
}

/* ---- pass 2: strict scan of the raw text ------------------------------- */

struct scan {
	const char *s;
	size_t len, pos;
	struct policy_errors *errs;
	const char *why; /* the syntax error that stopped the scan, at pos */
	bool oom;
};

struct scan_key {
	char *name; /* decoded */
	size_t len;
	size_t order;
};

static bool scan_fail(struct scan *sc, const char *why)
{
	if (!sc->why)
		sc->why = why;
	return false;
}

static int scan_peek(const struct scan *sc)
{
	return sc->pos < sc->len ? (unsigned char)sc->s[sc->pos] : -1;
}

static void scan_ws(struct scan *sc)
{
	for (int c = scan_peek(sc); c == ' ' || c == '\t' || c == '\r' || c == '\n';
	     c = scan_peek(sc))
		sc->pos++;
}

static bool scan_digits(struct scan *sc)
{
	int c = scan_peek(sc);

	if (c < '0' || c > '9')
		return scan_fail(sc, "bad number");
	while ((c = scan_peek(sc)) >= '0' && c <= '9')
		sc->pos++;
	return true;
}

static bool scan_number(struct scan *sc)
{
	int c;

	if (scan_peek(sc) == '-')
		sc->pos++;
	c = scan_peek(sc);
	if (c == '0')
		sc->pos++;
	else if (!scan_digits(sc))
		return false;
	if (scan_peek(sc) == '.') {
		sc->pos++;
		if (!scan_digits(sc))
			return false;
	}
	c = scan_peek(sc);
	if (c == 'e' || c == 'E') {
		sc->pos++;
		c = scan_peek(sc);
		if (c == '+' || c == '-')
			sc->pos++;
		if (!scan_digits(sc))
			return false;
	}
	return true;
}

static bool scan_string(struct scan *sc, bool *escaped)
{
	sc->pos++; /* the opening quote */
	while (sc->pos < sc->len) {
		unsigned char c = (unsigned char)sc->s[sc->pos];

		if (c == '"') {
			sc->pos++;
			return true;
		}
		if (c < 0x20)
			return scan_fail(sc, "unescaped control character in a string");
		if (c == '\\') {
			*escaped = true;
			if (++sc->pos >= sc->len)
				break;
			c = (unsigned char)sc->s[sc->pos];
			if (c == 'u') {
				for (unsigned i = 1; i <= 4; i++)
					if (sc->pos + i >= sc->len ||
					    util_hex_digit(sc->s[sc->pos + i]) < 0)
						return scan_fail(sc, "bad \\u escape");
				sc->pos += 4;
			} else if (!c || !strchr("\"\\/bfnrt", c)) {
				return scan_fail(sc, "bad escape in a string");
			}
		}
		sc->pos++;
	}
	return scan_fail(sc, "unterminated string");
}

static bool scan_literal(struct scan *sc)
{
	static const char *const lits[] = {"true", "false", "null"};
	int c = scan_peek(sc);

	for (size_t i = 0; i < ARRAY_SIZE(lits); i++) {
		size_t n = strlen(lits[i]);

		if (sc->len - sc->pos >= n && memcmp(sc->s + sc->pos, lits[i], n) == 0) {
			sc->pos += n;
			return true;
		}
	}
	if (c == 'N' || c == 'I')
		return scan_fail(sc, "NaN and Infinity are not JSON");
	if (c == '\'')
		return scan_fail(sc, "single-quoted strings are not JSON");
	if (c < 0)
		return scan_fail(sc, "unexpected end of input");
	return scan_fail(sc, "unexpected character");
}

/* The key as json-c will see it (escapes decoded); NULL on allocation failure. */
static char *decode_key(const char *raw, size_t rawlen, bool escaped, size_t *ret_len)
{
	struct json_tokener *tok;
	struct json_object *o;
	char *name;
	size_t n;

	if (!escaped) {
		name = malloc(rawlen - 1);
		if (!name)
			return NULL;
		memcpy(name, raw + 1, rawlen - 2);
		name[rawlen - 2] = '\0';
		*ret_len = rawlen - 2;
		return name;
	}
	/* Rare: let json-c decode it, so that both agree on what the key is. */
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, raw, (int)rawlen);
	json_tokener_free(tok);
	if (!o)
		return NULL; /* cannot happen: pass 1 parsed this very text */
	n = (size_t)json_object_get_string_len(o);
	name = malloc(n + 1);
	if (name) {
		memcpy(name, json_object_get_string(o), n);
		name[n] = '\0';
		*ret_len = n;
	}
	json_object_put(o);
	return name;
}

static int cmp_key(const void *a, const void *b)
{
	const struct scan_key *x = a, *y = b;
	int r = memcmp(x->name, y->name, MIN(x->len, y->len));

	if (r)
		return r;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static bool scan_value(struct scan *sc, const char *path, unsigned depth);

static bool scan_object(struct scan *sc, const char *path, unsigned depth)
{
	struct scan_key *keys = NULL;
	size_t n = 0, cap = 0;
	bool ok = false;

	sc->pos++; /* '{' */
	scan_ws(sc);
	if (scan_peek(sc) == '}') {
		sc->pos++;
		return true;
	}
	for (;;) {
		char child[PATH_LEN], shown[SHOW_LEN];
		bool escaped = false;
		size_t start;
		int c;

		scan_ws(sc);
		c = scan_peek(sc);
		if (c != '"') {
			scan_fail(sc, c == '\'' ? "single-quoted strings are not JSON"
			                        : "expected a key in double quotes");
			goto out;
		}
		start = sc->pos;
		if (!scan_string(sc, &escaped))
			goto out;
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct scan_key *nk = realloc(keys, ncap * sizeof(*keys));

			if (!nk) {
				sc->oom = true;
				scan_fail(sc, "out of memory");
				goto out;
			}
			keys = nk;
			cap = ncap;
		}
		keys[n].name = decode_key(sc->s + start, sc->pos - start, escaped, &keys[n].len);
		if (!keys[n].name) {
			sc->oom = true;
			scan_fail(sc, "out of memory");
			goto out;
		}
		keys[n].order = n;
		path_key(child, path, show(shown, sizeof(shown), keys[n].name, keys[n].len));
		n++;
		scan_ws(sc);
		if (scan_peek(sc) != ':') {
			scan_fail(sc, "expected ':' after a key");
			goto out;
		}
		sc->pos++;
		if (!scan_value(sc, child, depth))
			goto out;
		scan_ws(sc);
		c = scan_peek(sc);
		sc->pos++;
		if (c == ',')
			continue;
		if (c == '}')
			break;
		sc->pos--;
		scan_fail(sc, c < 0 ? "unexpected end of input" : "expected ',' or '}'");
		goto out;
	}
	qsort(keys, n, sizeof(*keys), cmp_key);
	for (size_t i = 1; i < n; i++) {
		char p[PATH_LEN], shown[SHOW_LEN];

		if (keys[i].len != keys[i - 1].len ||
		    memcmp(keys[i].name, keys[i - 1].name, keys[i].len) != 0)
			continue;
		path_key(p, path, show(shown, sizeof(shown), keys[i].name, keys[i].len));
		add_error(sc->errs, p, "duplicate key (JSON parsers would keep only one)");
	}
	ok = true;
out:
	for (size_t i = 0; i < n; i++)
		free(keys[i].name);
	free(keys);
	return ok;
}

static bool scan_array(struct scan *sc, const char *path, unsigned depth)
{
	sc->pos++; /* '[' */
	scan_ws(sc);
	if (scan_peek(sc) == ']') {
		sc->pos++;
		return true;
	}
	for (size_t i = 0;; i++) {
		char child[PATH_LEN];
		int c;

		path_idx(child, path, i);
		if (!scan_value(sc, child, depth))
			return false;
		scan_ws(sc);
		c = scan_peek(sc);
		if (c == ',') {
			sc->pos++;
			continue;
		}
		if (c == ']') {
			sc->pos++;
			return true;
		}
		return scan_fail(sc, c < 0 ? "unexpected end of input" : "expected ',' or ']'");
	}
}

static bool scan_value(struct scan *sc, const char *path, unsigned depth)
{
	int c;

	scan_ws(sc);
	if (depth >= POLICY_JSON_DEPTH)
		return scan_fail(sc, "nesting too deep");
	c = scan_peek(sc);
	if (c == '{')
		return scan_object(sc, path, depth + 1);
	if (c == '[')
		return scan_array(sc, path, depth + 1);
	if (c == '"') {
		bool escaped = false;
		return scan_string(sc, &escaped);
	}
	if (c == '-' || (c >= '0' && c <= '9'))
		return scan_number(sc);
	return scan_literal(sc);
}

/* "line L, column C" of a byte offset (columns count bytes, from 1). */
static void where(const char *s, size_t len, size_t pos, unsigned *line, unsigned *col)
{
	size_t bol = 0;

	*line = 1;
	for (size_t i = 0; i < pos && i < len; i++)
		if (s[i] == '\n') {
			(*line)++;
			bol = i + 1;
		}
	*col = (unsigned)(pos - bol + 1);
}

static void json_error(struct policy_errors *errs, const char *s, size_t len, size_t pos,
                       const char *why)
{
	unsigned line, col;

	where(s, len, pos, &line, &col);
	add_error(errs, "(json)", "line %u, column %u: %s", line, col, why);
}

/* Passes 1 and 2.  Returns 0 and the tree, -EINVAL (errors added) or -ENOMEM. */
static int parse_json(const char *s, size_t len, struct policy_errors *errs,
                      struct json_object **ret)
{
	_cleanup_free_ char *buf = NULL;
	struct json_tokener *tok;
	struct json_object *root;
	struct scan sc = {.s = s, .len = len, .errs = errs};
	const char *nul = memchr(s, '\0', len);
	size_t end;

	if (len > POLICY_FILE_MAX) {
		add_error(errs, "(json)", "policy is larger than %u bytes", POLICY_FILE_MAX);
		return -EINVAL;
	}
	/* json-c stops at a NUL; the scanner would not see what json-c ignored. */
	if (nul) {
		json_error(errs, s, len, (size_t)(nul - s), "NUL byte");
		return -EINVAL;
	}
	/* json-c's message for it ("invalid utf-8") would send people looking in vain. */
	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		json_error(errs, s, len, 0, "byte order mark (save the file without one)");
		return -EINVAL;
	}
	/* The terminating NUL tells json-c the input ends (else "1" stays incomplete). */
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, s, len);
	buf[len] = '\0';
	tok = json_tokener_new_ex(POLICY_JSON_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, buf, (int)len + 1);
	end = json_tokener_get_parse_end(tok);
	if (!root && json_tokener_get_error(tok) != json_tokener_success) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		json_error(errs, s, len, end,
		           e == json_tokener_continue ? "unexpected end of input"
		                                      : json_tokener_error_desc(e));
		json_tokener_free(tok);
		return -EINVAL;
	}
	json_tokener_free(tok);
	if (!root) {
		/* A bare "null": json-c's tree cannot tell it from a failure. */
		add_error(errs, "(root)", "expected an object, got null");
		return -EINVAL;
	}
	if (end < len) {
		json_object_put(root);
		json_error(errs, s, len, end, "trailing characters after the JSON document");
		return -EINVAL;
	}
	if (scan_value(&sc, "", 0))
		scan_ws(&sc);
	if (sc.why || sc.pos != sc.len) {
		json_object_put(root);
		if (sc.oom)
			return -ENOMEM;
		errs->n = 0; /* duplicate keys seen on the way: noise next to a syntax error */
		json_error(errs, s, len, sc.pos,
		           sc.why ? sc.why : "trailing characters after the JSON document");
		return -EINVAL;
	}
	*ret = root;
	return 0;
}

/* ---- pass 3: the tree ---------------------------------------------------- */

struct dm_defaults {
	struct policy_sandbox sandbox;
	struct policy_on_crash on_crash;
	unsigned bufioreq;
	uint32_t poll_us;
};

struct walk {
	struct policy_errors *errs;
	struct dm_defaults defaults;
	char first_auto[PATH_LEN]; /* first device model with user "auto" (needs uid_range) */
	bool oom;
};

struct name_val {
	const char *name;
	unsigned val;
};

static const char *type_desc(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a number with a fraction or exponent";
	case json_type_int:
		return "an integer";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "something else";
}

static bool expect_type(struct walk *w, const char *path, struct json_object *v, enum json_type t,
                        const char *want)
{
	/* json-c represents null as NULL, and json_object_is_type(NULL, null) holds. */
	if (v && json_object_is_type(v, t))
		return true;
	add_error(w->errs, path, "expected %s, got %s", want, type_desc(v));
	return false;
}

/* The value of key in o, with its path; false if absent. */
static bool member(struct json_object *o, const char *parent, const char *key, char *path,
                   struct json_object **ret)
{
	if (!json_object_object_get_ex(o, key, ret))
		return false;
	path_key(path, parent, key);
	return true;
}

static bool required(struct walk *w, struct json_object *o, const char *parent, const char *key,
                     char *path, struct json_object **ret)
{
	if (member(o, parent, key, path, ret))
		return true;
	path_key(path, parent, key);
	add_error(w->errs, path, "required key is missing");
	return false;
}

static void check_keys(struct walk *w, const char *path, struct json_object *o,
                       const char *const *known, size_t n)
{
	struct json_object_iterator it = json_object_iter_begin(o), end = json_object_iter_end(o);
	char list[160];
	size_t off = 0;

	list[0] = '\0';
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - MIN(off, sizeof(list)), "%s%s",
		                        i ? ", " : "", known[i]);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *key = json_object_iter_peek_name(&it);
		char p[PATH_LEN], shown[SHOW_LEN];
		bool ok = false;

		for (size_t i = 0; i < n && !ok; i++)
			ok = strcmp(key, known[i]) == 0;
		if (ok)
			continue;
		path_key(p, path, show_str(shown, sizeof(shown), key));
		add_error(w->errs, p, "unknown key (expected %s)", list);
	}
}

static bool get_uint(struct walk *w, const char *path, struct json_object *v, uint64_t min,
                     uint64_t max, uint64_t *ret)
{
	int64_t x;

	if (!expect_type(w, path, v, json_type_int, "an integer"))
		return false;
	x = json_object_get_int64(v);
	/* json-c saturates numbers beyond 64 bits; every limit here is far below. */
	if (x == INT64_MAX || x == INT64_MIN) {
		add_error(w->errs, path, "number out of range (%" PRIu64 "..%" PRIu64 ")", min,
		          max);
		return false;
	}
	if (x < 0 || (uint64_t)x < min || (uint64_t)x > max) {
		add_error(w->errs, path, "%" PRId64 " out of range (%" PRIu64 "..%" PRIu64 ")", x,
		          min, max);
		return false;
	}
	*ret = (uint64_t)x;
	return true;
}

static bool get_u32(struct walk *w, const char *path, struct json_object *v, uint32_t min,
                    uint32_t max, uint32_t *ret)
{
	uint64_t x;

	if (!get_uint(w, path, v, min, max, &x))
		return false;
	*ret = (uint32_t)x;
	return true;
}

static bool get_bool(struct walk *w, const char *path, struct json_object *v, bool *ret)
{
	if (!expect_type(w, path, v, json_type_boolean, "true or false"))
		return false;
	*ret = json_object_get_boolean(v);
	return true;
}

/* A string shorter than size bytes, with no NUL or other control character. */
static bool get_string(struct walk *w, const char *path, struct json_object *v, size_t size,
                       const char **ret)
{
	const char *s;
	size_t len;

	if (!expect_type(w, path, v, json_type_string, "a string"))
		return false;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f) {
			add_error(w->errs, path, "contains control character 0x%02x at byte %zu", c,
			          i);
			return false;
		}
	}
	if (len >= size) {
		add_error(w->errs, path, "longer than %zu bytes", size - 1);
		return false;
	}
	*ret = s;
	return true;
}

static bool get_enum(struct walk *w, const char *path, struct json_object *v,
                     const struct name_val *tab, size_t n, unsigned *ret)
{
	char list[96], shown[SHOW_LEN];
	const char *s;
	size_t off = 0;

	if (!get_string(w, path, v, 64, &s)) {
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, tab[i].name) == 0) {
			*ret = tab[i].val;
			return true;
		}
	list[0] = '\0';
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - MIN(off, sizeof(list)),
		                        "%s\"%s\"", i ? ", " : "", tab[i].name);
	add_error(w->errs, path, "unknown value \"%s\" (expected %s)",
	          show_str(shown, sizeof(shown), s), list);
	return false;
}

static bool get_object(struct walk *w, const char *path, struct json_object *v,
                       const char *const *known, size_t n)
{
	if (!expect_type(w, path, v, json_type_object, "an object"))
		return false;
	check_keys(w, path, v, known, n);
	return true;
}

static const struct name_val crash_actions[] = {
        {"restart", POLICY_CRASH_RESTART},
        {"pause", POLICY_CRASH_PAUSE},
        {"destroy", POLICY_CRASH_DESTROY},
        {"fail", POLICY_CRASH_FAIL},
};

static const struct name_val seccomp_modes[] = {
        {"default", POLICY_SECCOMP_DEFAULT},
        {"log", POLICY_SECCOMP_LOG},
};

static const struct name_val bufioreq_modes[] = {
        {"off", HVM_IOREQSRV_BUFIOREQ_OFF},
        {"legacy", HVM_IOREQSRV_BUFIOREQ_LEGACY},
        {"atomic", HVM_IOREQSRV_BUFIOREQ_ATOMIC},
};

/* In the fixed order of POLICY_NS_* bits, which is also the output order. */
static const struct name_val ns_names[] = {
        {"mount", POLICY_NS_MOUNT}, {"pid", POLICY_NS_PID}, {"ipc", POLICY_NS_IPC},
        {"uts", POLICY_NS_UTS},     {"net", POLICY_NS_NET}, {"cgroup", POLICY_NS_CGROUP},
};

static const char *enum_name(const struct name_val *tab, size_t n, unsigned val)
{
	for (size_t i = 0; i < n; i++)
		if (tab[i].val == val)
			return tab[i].name;
	return "?";
}

static bool valid_dm_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n >= POLICY_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '-'))
			return false;
	return true;
}

/* A portable user name; a leading digit is refused so that no name reads as a uid. */
static bool valid_user(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	return valid_dm_name(s);
}

static const char *exec_problem(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return "is empty";
	if (s[0] != '/')
		return "must be an absolute path";
	if (strstr(s, "//"))
		return "contains \"//\"";
	if (s[n - 1] == '/')
		return "ends with \"/\"";
	/* "." and ".." components make the checked path differ from the run one. */
	for (const char *c = s; c; c = strchr(c + 1, '/'))
		if (strncmp(c, "/./", 3) == 0 || strncmp(c, "/../", 4) == 0 ||
		    strcmp(c, "/.") == 0 || strcmp(c, "/..") == 0)
			return "contains a \".\" or \"..\" component";
	return NULL;
}

static void parse_memory_max(struct walk *w, const char *path, struct json_object *v, uint64_t *ret)
{
	char shown[SHOW_LEN];
	const char *s, *why;
	uint64_t x;

	if (json_object_is_type(v, json_type_int)) {
		int64_t i = json_object_get_int64(v);

		/* json-c saturates beyond 64 bits: INT64_MAX may stand for more. */
		if (i < 0 || i == INT64_MAX) {
			add_error(w->errs, path, "number out of range (1M..64G)");
			return;
		}
		x = (uint64_t)i;
	} else if (!json_object_is_type(v, json_type_string)) {
		add_error(w->errs, path, "expected an integer or a string like \"64M\", got %s",
		          type_desc(v));
		return;
	} else if (!get_string(w, path, v, 32, &s)) {
		return;
	} else if ((why = parse_size(s, &x))) {
		add_error(w->errs, path, "bad size \"%s\": %s", show_str(shown, sizeof(shown), s),
		          why);
		return;
	}
	if (x < MIB || x > 64 * GIB) {
		add_error(w->errs, path, "%" PRIu64 " bytes out of range (1M..64G)", x);
		return;
	}
	*ret = x;
}

static void parse_namespaces(struct walk *w, const char *path, struct json_object *v, uint32_t *ret)
{
	uint32_t mask = 0;
	size_t n;

	if (!expect_type(w, path, v, json_type_array, "an array of namespace names"))
		return;
	n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		char p[PATH_LEN];
		unsigned bit;

		path_idx(p, path, i);
		if (!get_enum(w, p, json_object_array_get_idx(v, i), ns_names, ARRAY_SIZE(ns_names),
		              &bit))
			continue;
		if (mask & bit)
			add_error(w->errs, p, "duplicate namespace \"%s\"",
			          enum_name(ns_names, ARRAY_SIZE(ns_names), bit));
		mask |= bit;
	}
	*ret = mask;
}

/* Applies the keys present in o over sb (which holds the inherited values). */
static void parse_sandbox(struct walk *w, const char *path, struct json_object *o,
                          struct policy_sandbox *sb)
{
	static const char *const keys[] = {"user",   "namespaces", "memory_max",  "pids_max",
	                                   "nofile", "seccomp",    "guest_memory"};
	struct json_object *v;
	char p[PATH_LEN];
	const char *s;
	unsigned e;

	if (!get_object(w, path, o, keys, ARRAY_SIZE(keys)))
		return;
	if (member(o, path, "user", p, &v) && get_string(w, p, v, 64, &s)) {
		char shown[SHOW_LEN];

		if (strcmp(s, "auto") == 0) {
			sb->user_auto = true;
			sb->user[0] = '\0';
		} else if (strcmp(s, "root") == 0) {
			add_error(w->errs, p,
			          "must not be \"root\": a device model never runs as uid 0");
		} else if (!valid_user(s)) {
			add_error(
			        w->errs, p,
			        "bad user name \"%s\" (want \"auto\" or [a-z_][a-z0-9_-]*, at most "
			        "%d characters)",
			        show_str(shown, sizeof(shown), s), POLICY_NAME_MAX - 1);
		} else {
			sb->user_auto = false;
			copy_trunc(sb->user, sizeof(sb->user), s);
		}
	}
	if (member(o, path, "namespaces", p, &v))
		parse_namespaces(w, p, v, &sb->namespaces);
	if (member(o, path, "memory_max", p, &v))
		parse_memory_max(w, p, v, &sb->memory_max);
	if (member(o, path, "pids_max", p, &v))
		(void)get_u32(w, p, v, 1, 4096, &sb->pids_max);
	if (member(o, path, "nofile", p, &v))
		(void)get_u32(w, p, v, 16, 65536, &sb->nofile);
	if (member(o, path, "seccomp", p, &v) &&
	    get_enum(w, p, v, seccomp_modes, ARRAY_SIZE(seccomp_modes), &e))
		sb->seccomp = (enum policy_seccomp)e;
	if (member(o, path, "guest_memory", p, &v))
		(void)get_bool(w, p, v, &sb->guest_memory);
}

/* Applies the keys present in o over oc (which holds the inherited values). */
static void parse_on_crash(struct walk *w, const char *path, struct json_object *o,
                           struct policy_on_crash *oc)
{
	static const char *const keys[] = {"action",     "max_restarts",   "window_s",
	                                   "backoff_ms", "backoff_max_ms", "then"};
	struct json_object *v;
	char p[PATH_LEN];
	unsigned e;
	bool ok_lo = true, ok_hi = true;

	if (!get_object(w, path, o, keys, ARRAY_SIZE(keys)))
		return;
	if (member(o, path, "action", p, &v) &&
	    get_enum(w, p, v, crash_actions, ARRAY_SIZE(crash_actions), &e))
		oc->action = (enum policy_crash_action)e;
	if (member(o, path, "max_restarts", p, &v))
		(void)get_u32(w, p, v, 0, POLICY_MAX_RESTARTS, &oc->max_restarts);
	if (member(o, path, "window_s", p, &v))
		(void)get_u32(w, p, v, 1, 86400, &oc->window_s);
	if (member(o, path, "backoff_ms", p, &v))
		ok_lo = get_u32(w, p, v, 0, 600000, &oc->backoff_ms);
	if (member(o, path, "backoff_max_ms", p, &v))
		ok_hi = get_u32(w, p, v, 0, 600000, &oc->backoff_max_ms);
	/* "restart" is the only action that is not final. */
	if (member(o, path, "then", p, &v) &&
	    get_enum(w, p, v, crash_actions + 1, ARRAY_SIZE(crash_actions) - 1, &e))
		oc->then = (enum policy_crash_action)e;

	if (oc->action != POLICY_CRASH_RESTART) {
		/* Silently ignored settings would mislead whoever reads the policy. */
		for (size_t i = 1; i < ARRAY_SIZE(keys); i++)
			if (member(o, path, keys[i], p, &v))
				add_error(w->errs, p, "only meaningful with action \"restart\"");
		return;
	}
	if (ok_lo && ok_hi && oc->backoff_max_ms < oc->backoff_ms) {
		bool hi = json_object_object_get_ex(o, "backoff_max_ms", NULL);

		if (!hi && !json_object_object_get_ex(o, "backoff_ms", NULL))
			return; /* both inherited: reported where they were set */
		path_key(p, path, hi ? "backoff_max_ms" : "backoff_ms");
		add_error(w->errs, p, "backoff_max_ms %u is below backoff_ms %u",
		          oc->backoff_max_ms, oc->backoff_ms);
	}
}

static void parse_bufioreq_poll(struct walk *w, const char *path, struct json_object *o,
                                unsigned *bufioreq, uint32_t *poll_us)
{
	struct json_object *v;
	char p[PATH_LEN];
	unsigned e;

	if (member(o, path, "bufioreq", p, &v) &&
	    get_enum(w, p, v, bufioreq_modes, ARRAY_SIZE(bufioreq_modes), &e))
		*bufioreq = e;
	if (member(o, path, "poll_us", p, &v))
		(void)get_u32(w, p, v, 0, 1000000, poll_us);
}

static void parse_defaults(struct walk *w, const char *path, struct json_object *o)
{
	static const char *const keys[] = {"sandbox", "on_crash", "bufioreq", "poll_us"};
	struct dm_defaults *d = &w->defaults;
	struct json_object *v;
	char p[PATH_LEN];

	if (!get_object(w, path, o, keys, ARRAY_SIZE(keys)))
		return;
	if (member(o, path, "sandbox", p, &v))
		parse_sandbox(w, p, v, &d->sandbox);
	if (member(o, path, "on_crash", p, &v))
		parse_on_crash(w, p, v, &d->on_crash);
	parse_bufioreq_poll(w, path, o, &d->bufioreq, &d->poll_us);
}

static const char *const claim_keys[DMP_CLAIM_KINDS] = {"ports", "mmio", "pci"};

/* Marks a claim that failed to parse, so that overlap checks skip it. */
static const struct dmp_range bad_claim = {1, 0};

static void parse_claim(struct walk *w, const char *path, unsigned kind, struct json_object *v,
                        struct dmp_range *r)
{
	char why[80], shown[SHOW_LEN];
	const char *s, *e;

	*r = bad_claim;
	if (!get_string(w, path, v, 64, &s))
		return;
	if (kind == DMP_CLAIM_PCI) {
		uint32_t sbdf;

		if ((e = parse_pci(s, &sbdf, why, sizeof(why)))) {
			add_error(w->errs, path, "bad PCI address \"%s\": %s",
			          show_str(shown, sizeof(shown), s), e);
			return;
		}
		r->start = r->end = sbdf;
		return;
	}
	e = parse_range(s, kind == DMP_CLAIM_MMIO, kind == DMP_CLAIM_PORT ? 0xffff : UINT64_MAX, r,
	                why, sizeof(why));
	if (e) {
		*r = bad_claim;
		add_error(w->errs, path, "bad %s range \"%s\": %s",
		          kind == DMP_CLAIM_PORT ? "port" : "mmio",
		          show_str(shown, sizeof(shown), s), e);
	}
}

static void parse_claims(struct walk *w, const char *path, struct json_object *o,
                         struct policy_dm *dm)
{
	struct json_object *c, *v;
	char p[PATH_LEN];
	size_t total = 0;
	bool typed = true;

	if (!required(w, o, path, "claims", p, &c))
		return;
	if (!get_object(w, p, c, claim_keys, ARRAY_SIZE(claim_keys)))
		return;
	for (unsigned k = 0; k < DMP_CLAIM_KINDS; k++) {
		char kp[PATH_LEN];
		size_t n;

		if (!member(c, p, claim_keys[k], kp, &v))
			continue;
		if (!expect_type(w, kp, v, json_type_array, "an array of strings")) {
			typed = false;
			continue;
		}
		n = json_object_array_length(v);
		if (n > POLICY_MAX_RANGES)
			add_error(w->errs, kp, "%zu ranges, at most %u per type (Xen's limit)", n,
			          POLICY_MAX_RANGES);
		for (size_t i = 0; i < n; i++) {
			struct dmp_range scratch,
			        *r = i < POLICY_MAX_RANGES ? &dm->claims[k][i] : &scratch;
			char ep[PATH_LEN];

			path_idx(ep, kp, i);
			parse_claim(w, ep, k, json_object_array_get_idx(v, i), r);
		}
		dm->n_claims[k] = (unsigned)MIN(n, (size_t)POLICY_MAX_RANGES);
		total += n;
	}
	if (total == 0 && typed)
		add_error(w->errs, p,
		          "claims nothing: a device model needs at least one port range, mmio "
		          "range or PCI device");
}

/* ISA IRQ lines the device model may drive through the broker: "irqs": [4]. */
static void parse_irqs(struct walk *w, const char *path, struct json_object *o,
                       struct policy_dm *dm)
{
	struct json_object *v;
	char p[PATH_LEN];
	size_t n;

	if (!member(o, path, "irqs", p, &v) ||
	    !expect_type(w, p, v, json_type_array, "an array of ISA IRQ numbers (0-15)"))
		return;
	n = json_object_array_length(v);
	if (n > ARRAY_SIZE(dm->irqs)) {
		add_error(w->errs, p, "%zu IRQs, at most %zu", n, ARRAY_SIZE(dm->irqs));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char ip[PATH_LEN];
		uint32_t irq;

		path_idx(ip, p, i);
		if (!get_u32(w, ip, json_object_array_get_idx(v, i), 0, 15, &irq))
			continue;
		for (unsigned k = 0; k < dm->n_irqs; k++)
			if (dm->irqs[k] == irq) {
				add_error(w->errs, ip, "IRQ %u listed twice", irq);
				irq = UINT32_MAX;
				break;
			}
		if (irq != UINT32_MAX)
			dm->irqs[dm->n_irqs++] = (uint8_t)irq;
	}
}

static void parse_dm(struct walk *w, const char *path, struct json_object *o, struct policy_dm *dm)
{
	static const char *const keys[] = {"name",     "exec",    "args",    "claims",  "irqs",
	                                   "bufioreq", "poll_us", "sandbox", "on_crash"};
	struct json_object *v;
	char p[PATH_LEN], shown[SHOW_LEN];
	const char *s, *why;

	memset(dm, 0, sizeof(*dm));
	dm->sandbox = w->defaults.sandbox;
	dm->on_crash = w->defaults.on_crash;
	dm->bufioreq = w->defaults.bufioreq;
	dm->poll_us = w->defaults.poll_us;
	if (!get_object(w, path, o, keys, ARRAY_SIZE(keys)))
		return;
	if (required(w, o, path, "name", p, &v) && get_string(w, p, v, 64, &s)) {
		if (!valid_dm_name(s))
			add_error(w->errs, p,
			          "bad name \"%s\" (want [a-z0-9_-], 1 to %d characters)",
			          show_str(shown, sizeof(shown), s), POLICY_NAME_MAX - 1);
		else
			copy_trunc(dm->name, sizeof(dm->name), s);
	}
	if (required(w, o, path, "exec", p, &v) && get_string(w, p, v, POLICY_PATH_MAX, &s)) {
		if ((why = exec_problem(s)))
			add_error(w->errs, p, "\"%s\" %s", show_str(shown, sizeof(shown), s), why);
		else
			copy_trunc(dm->exec, sizeof(dm->exec), s);
	}
	if (member(o, path, "args", p, &v) &&
	    expect_type(w, p, v, json_type_array, "an array of strings")) {
		size_t n = json_object_array_length(v);

		if (n > POLICY_MAX_ARGS)
			add_error(w->errs, p, "%zu arguments, at most %u", n, POLICY_MAX_ARGS);
		for (size_t i = 0; i < n; i++) {
			char ap[PATH_LEN];

			path_idx(ap, p, i);
			if (get_string(w, ap, json_object_array_get_idx(v, i), POLICY_ARG_MAX,
			               &s) &&
			    i < POLICY_MAX_ARGS)
				copy_trunc(dm->args[i], sizeof(dm->args[i]), s);
		}
		dm->n_args = (unsigned)MIN(n, (size_t)POLICY_MAX_ARGS);
	}
	parse_claims(w, path, o, dm);
	parse_irqs(w, path, o, dm);
	parse_bufioreq_poll(w, path, o, &dm->bufioreq, &dm->poll_us);
	if (member(o, path, "sandbox", p, &v))
		parse_sandbox(w, p, v, &dm->sandbox);
	if (member(o, path, "on_crash", p, &v))
		parse_on_crash(w, p, v, &dm->on_crash);
	if (dm->sandbox.user_auto && !w->first_auto[0])
		copy_trunc(w->first_auto, sizeof(w->first_auto), path);
}

static void check_dm_names(struct walk *w, const char *path, const struct policy_guest *g)
{
	for (unsigned j = 1; j < g->n_dms; j++)
		for (unsigned i = 0; i < j; i++) {
			char p[PATH_LEN];

			if (!g->dms[j].name[0] || strcmp(g->dms[i].name, g->dms[j].name) != 0)
				continue;
			fmt_path(p, "%s.device_models[%u].name", path, j);
			add_error(w->errs, p,
			          "duplicate device model name \"%s\" (also device_models[%u])",
			          g->dms[j].name, i);
			break;
		}
}

struct claim_ref {
	uint64_t start, end;
	unsigned dm, idx;
};

static int cmp_claim_ref(const void *a, const void *b)
{
	const struct claim_ref *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->dm != y->dm)
		return x->dm < y->dm ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void report_overlap(struct walk *w, const char *path, const struct policy_guest *g,
                           unsigned kind, const struct claim_ref *a, const struct claim_ref *b)
{
	const struct claim_ref *later = a, *other = b;
	const struct dmp_range *r;
	char p[PATH_LEN], text[48];

	/* Reported at the one later in the file, naming the earlier one. */
	if (b->dm > a->dm || (b->dm == a->dm && b->idx > a->idx)) {
		later = b;
		other = a;
	}
	r = &g->dms[other->dm].claims[kind][other->idx];
	format_claim(text, sizeof(text), kind, r);
	fmt_path(p, "%s.device_models[%u].claims.%s[%u]", path, later->dm, claim_keys[kind],
	         later->idx);
	if (later->dm == other->dm)
		add_error(w->errs, p, "%s %s[%u] (%s) of the same device model",
		          kind == DMP_CLAIM_PCI ? "duplicates" : "overlaps", claim_keys[kind],
		          other->idx, text);
	else
		add_error(w->errs, p, "%s %s claimed by device model \"%s\" (device_models[%u])",
		          kind == DMP_CLAIM_PCI ? "duplicates" : "overlaps", text,
		          g->dms[other->dm].name, other->dm);
}

/*
 * The guest's claims of one kind, sorted (cmp_claim_ref); NULL when there
 * are fewer than two (*ret_n says how many) or memory ran out (w->oom).
 * Ranges that are backwards were reported already and are left out.
 * by_device: PCI claims keyed by device (start = SBDF >> 3, end = SBDF).
 */
static struct claim_ref *sorted_claims(struct walk *w, const struct policy_guest *g, unsigned kind,
                                       bool by_device, size_t *ret_n)
{
	struct claim_ref *v;
	size_t n = 0;

	for (unsigned d = 0; d < g->n_dms; d++)
		n += g->dms[d].n_claims[kind];
	*ret_n = n;
	if (n < 2)
		return NULL;
	v = malloc(n * sizeof(*v));
	if (!v) {
		w->oom = true;
		return NULL;
	}
	n = 0;
	for (unsigned d = 0; d < g->n_dms; d++)
		for (unsigned i = 0; i < g->dms[d].n_claims[kind]; i++) {
			const struct dmp_range *r = &g->dms[d].claims[kind][i];

			if (r->start > r->end)
				continue;
			v[n++] = by_device ? (struct claim_ref){r->start >> 3, r->start, d, i}
			                   : (struct claim_ref){r->start, r->end, d, i};
		}
	qsort(v, n, sizeof(*v), cmp_claim_ref);
	*ret_n = n;
	return v;
}

/*
 * Every claim that overlaps another in the same guest, in O(n log n): sorted
 * by start, each claim is compared with the one reaching furthest so far,
 * which overlaps it if anything before it does.
 */
static void check_overlaps(struct walk *w, const char *path, const struct policy_guest *g)
{
	for (unsigned k = 0; k < DMP_CLAIM_KINDS; k++) {
		struct claim_ref *best;
		size_t n;
		struct claim_ref *v = sorted_claims(w, g, k, false, &n);

		if (!v)
			continue;
		best = &v[0];
		for (size_t i = 1; i < n; i++) {
			if (v[i].start <= best->end)
				report_overlap(w, path, g, k, &v[i], best);
			if (v[i].end > best->end)
				best = &v[i];
		}
		free(v);
	}
}

/*
 * The functions of one PCI device belong to one device model: Xen raises a
 * device's INTx lines by segment, bus and device, with no function number,
 * so a device model owning one function could drive another's pins.
 */
static void check_pci_devices(struct walk *w, const char *path, const struct policy_guest *g)
{
	size_t n;
	/* Sorted by device, then by device model: one device's claims are adjacent. */
	struct claim_ref *v = sorted_claims(w, g, DMP_CLAIM_PCI, true, &n);

	if (!v)
		return;
	for (size_t i = 1; i < n; i++) {
		char p[PATH_LEN];

		/* (The same function twice is reported as a duplicate already.) */
		if (v[i].start != v[i - 1].start || v[i].dm == v[i - 1].dm ||
		    v[i].end == v[i - 1].end)
			continue;
		fmt_path(p, "%s.device_models[%u].claims.pci[%u]", path, v[i].dm, v[i].idx);
		add_error(w->errs, p,
		          "PCI device %02x:%02x is device model \"%s\"'s (device_models[%u]): "
		          "INTx is per device, one device model has all its functions",
		          (unsigned)(v[i].start >> 5 & 0xff), (unsigned)(v[i].start & 0x1f),
		          g->dms[v[i - 1].dm].name, v[i - 1].dm);
	}
	free(v);
}

static void parse_match(struct walk *w, const char *path, struct json_object *o,
                        struct policy_guest *g)
{
	static const char *const keys[] = {"domid", "name", "default"};
	struct json_object *v;
	char p[PATH_LEN];
	unsigned present = 0;
	const char *s;
	bool b;

	if (!get_object(w, path, o, keys, ARRAY_SIZE(keys)))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		present += json_object_object_get_ex(o, keys[i], NULL);
	if (present != 1) {
		add_error(w->errs, path, "needs exactly one of \"domid\", \"name\" or \"default\"");
		return;
	}
	if (member(o, path, "domid", p, &v) && get_u32(w, p, v, 1, DOMID_MAX, &g->domid))
		g->match = POLICY_MATCH_DOMID;
	if (member(o, path, "name", p, &v) && get_string(w, p, v, POLICY_GLOB_MAX, &s)) {
		if (!*s) {
			add_error(w->errs, p, "is empty");
		} else {
			copy_trunc(g->name_glob, sizeof(g->name_glob), s);
			g->match = POLICY_MATCH_NAME;
		}
	}
	if (member(o, path, "default", p, &v) && get_bool(w, p, v, &b)) {
		if (!b)
			add_error(w->errs, p, "must be true (leave the guest out instead)");
		else
			g->match = POLICY_MATCH_DEFAULT;
	}
}

static void parse_guest(struct walk *w, const char *path, struct json_object *o,
                        struct policy_guest *g)
{
	static const char *const keys[] = {"match", "pci_hole", "unpause", "device_models"};
	struct json_object *v;
	char p[PATH_LEN];
	const char *s;

	memset(g, 0, sizeof(*g));
	g->pci_hole_start = DEFAULT_HOLE_LO;
	g->pci_hole_end = DEFAULT_HOLE_HI;
	if (!get_object(w, path, o, keys, ARRAY_SIZE(keys)))
		return;
	if (required(w, o, path, "match", p, &v))
		parse_match(w, p, v, g);
	if (member(o, path, "pci_hole", p, &v) && get_string(w, p, v, 64, &s)) {
		struct dmp_range r;
		char why[80], shown[SHOW_LEN];
		const char *e = parse_range(s, true, UINT64_MAX, &r, why, sizeof(why));

		if (e) {
			add_error(w->errs, p, "bad range \"%s\": %s",
			          show_str(shown, sizeof(shown), s), e);
		} else if (r.end >= PCI_HOLE_LIMIT) {
			add_error(w->errs, p, "end 0x%" PRIx64 " is not below 2^52 = 0x%llx", r.end,
			          PCI_HOLE_LIMIT);
		} else {
			g->pci_hole_start = r.start;
			g->pci_hole_end = r.end;
		}
	}
	if (member(o, path, "unpause", p, &v))
		(void)get_bool(w, p, v, &g->unpause);
	if (required(w, o, path, "device_models", p, &v) &&
	    expect_type(w, p, v, json_type_array, "an array of device models")) {
		size_t n = json_object_array_length(v);

		if (n == 0)
			add_error(w->errs, p, "a guest needs at least one device model");
		if (n > POLICY_MAX_DMS)
			add_error(w->errs, p,
			          "%zu device models, at most %u (Xen's limit of ioreq servers)", n,
			          POLICY_MAX_DMS);
		for (size_t i = 0; i < n; i++) {
			char dp[PATH_LEN];

			path_idx(dp, p, i);
			if (i < POLICY_MAX_DMS) {
				parse_dm(w, dp, json_object_array_get_idx(v, i), &g->dms[i]);
			} else {
				/* Still checked, so that one run shows every error. */
				struct policy_dm *scratch = malloc(sizeof(*scratch));

				if (!scratch) {
					w->oom = true;
					return;
				}
				parse_dm(w, dp, json_object_array_get_idx(v, i), scratch);
				free(scratch);
			}
		}
		g->n_dms = (unsigned)MIN(n, (size_t)POLICY_MAX_DMS);
	}
	check_dm_names(w, path, g);
	check_overlaps(w, path, g);
	check_pci_devices(w, path, g);
}

/* Two guests that match the same domains: the second would never be used. */
static void check_guest_matches(struct walk *w, const struct policy *p)
{
	for (unsigned j = 1; j < p->n_guests; j++) {
		const struct policy_guest *b = &p->guests[j];

		for (unsigned i = 0; i < j; i++) {
			const struct policy_guest *a = &p->guests[i];
			char path[PATH_LEN], shown[SHOW_LEN];

			if (!b->match || a->match != b->match)
				continue;
			if (b->match == POLICY_MATCH_DOMID && a->domid == b->domid) {
				fmt_path(path, "guests[%u].match.domid", j);
				add_error(w->errs, path,
				          "domid %u is already matched by guests[%u]", b->domid, i);
			} else if (b->match == POLICY_MATCH_NAME &&
			           strcmp(a->name_glob, b->name_glob) == 0) {
				fmt_path(path, "guests[%u].match.name", j);
				add_error(w->errs, path,
				          "name \"%s\" is already matched by guests[%u]",
				          show_str(shown, sizeof(shown), b->name_glob), i);
			} else if (b->match == POLICY_MATCH_DEFAULT) {
				fmt_path(path, "guests[%u].match.default", j);
				add_error(w->errs, path, "guests[%u] is already the default guest",
				          i);
			} else {
				continue;
			}
			break;
		}
	}
}

static void parse_uid_range(struct walk *w, const char *path, struct json_object *o,
                            struct policy *pol)
{
	static const char *const keys[] = {"start", "count"};
	struct json_object *v;
	char p[PATH_LEN];
	uint32_t start = 0, count = 0;
	bool ok;

	if (!get_object(w, path, o, keys, ARRAY_SIZE(keys)))
		return;
	ok = required(w, o, path, "start", p, &v) && get_u32(w, p, v, 1, UID_LAST_MAX, &start);
	ok = required(w, o, path, "count", p, &v) && get_u32(w, p, v, 1, 65536, &count) && ok;
	if (!ok)
		return;
	if ((uint64_t)start + count - 1 > UID_LAST_MAX) {
		add_error(w->errs, path, "%u + %u uids run past %u", start, count, UID_LAST_MAX);
		return;
	}
	/* Files of unmapped ids show as overflow uids: a device model must not own them. */
	if (start <= OVERFLOW_UID_16 && start + count - 1 >= OVERFLOW_UID) {
		add_error(w->errs, path,
		          "uids %u..%u include 65534 or 65535 (nobody, the overflow uids)", start,
		          start + count - 1);
		return;
	}
	pol->uid_start = start;
	pol->uid_count = count;
}

static void parse_root(struct walk *w, struct json_object *root, struct policy *pol)
{
	static const char *const keys[] = {"version", "uid_range", "defaults", "guests"};
	struct json_object *v;
	char p[PATH_LEN];
	uint64_t version;
	bool uid_range_given;

	if (!expect_type(w, "", root, json_type_object, "an object"))
		return;
	/* Another version may mean other keys: its version is all that can be checked. */
	if (required(w, root, "", "version", p, &v) && get_uint(w, p, v, 0, UINT32_MAX, &version) &&
	    version != POLICY_VERSION) {
		add_error(w->errs, p, "version %" PRIu64 " is not supported (this broker reads %d)",
		          version, POLICY_VERSION);
		return;
	}
	pol->version = POLICY_VERSION;
	check_keys(w, "", root, keys, ARRAY_SIZE(keys));
	uid_range_given = member(root, "", "uid_range", p, &v);
	if (uid_range_given)
		parse_uid_range(w, p, v, pol);
	if (member(root, "", "defaults", p, &v))
		parse_defaults(w, p, v);
	if (required(w, root, "", "guests", p, &v) &&
	    expect_type(w, p, v, json_type_array, "an array of guests")) {
		size_t n = json_object_array_length(v), stored = MIN(n, (size_t)POLICY_MAX_GUESTS);
		struct policy_guest *scratch = NULL;

		if (n == 0)
			add_error(w->errs, p, "a policy needs at least one guest");
		if (n > POLICY_MAX_GUESTS)
			add_error(w->errs, p, "%zu guests, at most %u", n, POLICY_MAX_GUESTS);
		pol->guests = calloc(stored ? stored : 1, sizeof(*pol->guests));
		if (n > stored)
			scratch = malloc(sizeof(*scratch));
		if (!pol->guests || (n > stored && !scratch)) {
			free(scratch);
			w->oom = true;
			return;
		}
		for (size_t i = 0; i < n && !w->oom; i++) {
			char gp[PATH_LEN];

			path_idx(gp, p, i);
			parse_guest(w, gp, json_object_array_get_idx(v, i),
			            i < stored ? &pol->guests[i] : scratch);
		}
		free(scratch);
		pol->n_guests = (unsigned)stored;
		check_guest_matches(w, pol);
	}
	if (w->first_auto[0] && !uid_range_given)
		add_error(w->errs, "uid_range", "required key is missing: %s runs as user \"auto\"",
		          w->first_auto);
}

/* ---- public API ---------------------------------------------------------- */

static void policy_free(struct policy *p)
{
	if (!p)
		return;
	free(p->guests);
	free(p);
}

static const struct dm_defaults builtin_defaults = {
        .sandbox =
                {
                        .user_auto = true,
                        .namespaces = POLICY_NS_ALL,
                        .memory_max = 64 * MIB,
                        .pids_max = 16,
                        .nofile = 64,
                        .seccomp = POLICY_SECCOMP_DEFAULT,
                        .guest_memory = false,
                },
        .on_crash =
                {
                        .action = POLICY_CRASH_RESTART,
                        .max_restarts = 5,
                        .window_s = 60,
                        .backoff_ms = 100,
                        .backoff_max_ms = 5000,
                        .then = POLICY_CRASH_FAIL,
                },
        .bufioreq = HVM_IOREQSRV_BUFIOREQ_OFF,
        .poll_us = 0,
};

int policy_parse(const char *json, size_t len, struct policy **ret, struct policy_errors *errs)
{
	struct policy_errors scratch;
	struct json_object *root = NULL;
	struct walk w = {.defaults = builtin_defaults};
	struct policy *p;
	int r;

	if (!errs)
		errs = &scratch;
	errs->n = 0;
	w.errs = errs;
	r = parse_json(json, len, errs, &root);
	if (r < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p) {
		json_object_put(root);
		return -ENOMEM;
	}
	p->refs = 1;
	parse_root(&w, root, p);
	json_object_put(root);
	if (w.oom) {
		policy_free(p);
		return -ENOMEM;
	}
	if (errs->n) {
		policy_free(p);
		return -EINVAL;
	}
	*ret = p;
	return 0;
}

int policy_load(const char *path, struct policy **ret, struct policy_errors *errs)
{
	struct policy_errors scratch;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	ssize_t n;

	if (!errs)
		errs = &scratch;
	errs->n = 0;
	/* O_NONBLOCK: opening a FIFO must not hang the broker; regular files ignore it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int r = -errno;

		add_error(errs, "(file)", "cannot open: %s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		add_error(errs, "(file)", "cannot stat: %s", strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		add_error(errs, "(file)", "not a regular file");
		return -EINVAL;
	}
	/* One byte more than allowed, so that a file that grew is still caught. */
	buf = malloc(POLICY_FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	n = util_read_full(fd, buf, POLICY_FILE_MAX + 1);
	if (n < 0) {
		add_error(errs, "(file)", "cannot read: %s", strerror((int)-n));
		return (int)n;
	}
	return policy_parse(buf, (size_t)n, ret, errs);
}

int policy_exec_path(const char *exec, const char *libexec_dir, char *buf, size_t len)
{
	const size_t n_dir = strlen(POLICY_LIBEXEC_DIR);
	const char *dir = "", *sep = "", *name = exec;

	if (libexec_dir && !strncmp(exec, POLICY_LIBEXEC_DIR "/", n_dir + 1)) {
		dir = libexec_dir;
		sep = "/";
		name = exec + n_dir + 1;
	}
	if (strlen(dir) + strlen(sep) + strlen(name) >= len)
		return -ENAMETOOLONG;
	snprintf(buf, len, "%s%s%s", dir, sep, name);
	return 0;
}

int policy_check_execs(const struct policy *p, const char *libexec_dir, struct policy_errors *errs)
{
	struct policy_errors scratch;

	if (!errs)
		errs = &scratch;
	errs->n = 0;
	for (unsigned g = 0; g < p->n_guests; g++)
		for (unsigned d = 0; d < p->guests[g].n_dms; d++) {
			const char *exec = p->guests[g].dms[d].exec;
			char path[PATH_LEN], shown[96], file[PATH_MAX];
			struct stat st;

			fmt_path(path, "guests[%u].device_models[%u].exec", g, d);
			show_str(shown, sizeof(shown), exec);
			if (exec_problem(exec)) {
				add_error(errs, path, "\"%s\" %s", shown, exec_problem(exec));
				continue;
			}
			if (policy_exec_path(exec, libexec_dir, file, sizeof(file)) < 0) {
				add_error(errs, path, "%s: path too long in %s", shown,
				          libexec_dir);
				continue;
			}
			if (strcmp(file, exec))
				show_str(shown, sizeof(shown), file);
			if (stat(file, &st) < 0)
				add_error(errs, path, "%s: %s", shown, strerror(errno));
			else if (!S_ISREG(st.st_mode))
				add_error(errs, path, "%s: not a regular file", shown);
			else if (!(st.st_mode & 0111))
				add_error(errs, path, "%s: not executable", shown);
			else if (st.st_mode & S_IWOTH)
				/* Anyone could replace the code that gets the guest's ioreq server.
				 */
				add_error(errs, path, "%s: writable by every user", shown);
		}
	return errs->n ? -EINVAL : 0;
}

struct policy *policy_ref(struct policy *p)
{
	if (p)
		p->refs++;
	return p;
}

void policy_unref(struct policy *p)
{
	if (p && --p->refs == 0)
		policy_free(p);
}

const struct policy_guest *policy_match(const struct policy *p, uint32_t domid, const char *name)
{
	const struct policy_guest *by_name = NULL, *by_default = NULL;

	for (unsigned i = 0; i < p->n_guests; i++) {
		const struct policy_guest *g = &p->guests[i];

		switch (g->match) {
		case POLICY_MATCH_DOMID:
			if (g->domid == domid)
				return g;
			break;
		case POLICY_MATCH_NAME:
			if (!by_name && name && fnmatch(g->name_glob, name, 0) == 0)
				by_name = g;
			break;
		case POLICY_MATCH_DEFAULT:
			if (!by_default)
				by_default = g;
			break;
		}
	}
	return by_name ? by_name : by_default;
}

const char *policy_crash_action_name(enum policy_crash_action a)
{
	return enum_name(crash_actions, ARRAY_SIZE(crash_actions), a);
}

/* json-c builders: each returns false once anything failed to allocate. */
static bool put(struct json_object *o, const char *key, struct json_object *v)
{
	if (!o || !v || json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

static bool push(struct json_object *a, struct json_object *v)
{
	if (!a || !v || json_object_array_add(a, v) < 0) {
		json_object_put(v);
		return false;
	}
	return true;
}

static struct json_object *sandbox_json(const struct policy_sandbox *sb)
{
	struct json_object *o = json_object_new_object(), *ns = json_object_new_array();
	bool ok = o && ns;

	for (size_t i = 0; i < ARRAY_SIZE(ns_names) && ok; i++)
		if (sb->namespaces & ns_names[i].val)
			ok = push(ns, json_object_new_string(ns_names[i].name));
	ok = ok && put(o, "user", json_object_new_string(sb->user_auto ? "auto" : sb->user));
	ok = ok && put(o, "namespaces", json_object_get(ns));
	ok = ok && put(o, "memory_max", json_object_new_int64((int64_t)sb->memory_max));
	ok = ok && put(o, "pids_max", json_object_new_int64(sb->pids_max));
	ok = ok && put(o, "nofile", json_object_new_int64(sb->nofile));
	ok = ok && put(o, "seccomp",
	               json_object_new_string(
	                       enum_name(seccomp_modes, ARRAY_SIZE(seccomp_modes), sb->seccomp)));
	ok = ok && put(o, "guest_memory", json_object_new_boolean(sb->guest_memory));
	json_object_put(ns);
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *on_crash_json(const struct policy_on_crash *oc)
{
	struct json_object *o = json_object_new_object();
	bool ok = put(o, "action", json_object_new_string(policy_crash_action_name(oc->action)));

	/* Restart settings only with "restart": the parser refuses them otherwise. */
	if (oc->action == POLICY_CRASH_RESTART) {
		ok = ok && put(o, "max_restarts", json_object_new_int64(oc->max_restarts));
		ok = ok && put(o, "window_s", json_object_new_int64(oc->window_s));
		ok = ok && put(o, "backoff_ms", json_object_new_int64(oc->backoff_ms));
		ok = ok && put(o, "backoff_max_ms", json_object_new_int64(oc->backoff_max_ms));
		ok = ok &&
		     put(o, "then", json_object_new_string(policy_crash_action_name(oc->then)));
	}
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *dm_json(const struct policy_dm *dm)
{
	struct json_object *o = json_object_new_object(), *args = json_object_new_array(),
	                   *claims = json_object_new_object();
	bool ok = o && args && claims;

	for (unsigned i = 0; i < dm->n_args && ok; i++)
		ok = push(args, json_object_new_string(dm->args[i]));
	/* Only the kinds claimed: an empty list says nothing and json-c prints it oddly. */
	for (unsigned k = 0; k < DMP_CLAIM_KINDS && ok; k++) {
		struct json_object *list;

		if (!dm->n_claims[k])
			continue;
		list = json_object_new_array();

		for (unsigned i = 0; i < dm->n_claims[k] && list; i++) {
			char text[48];

			format_claim(text, sizeof(text), k, &dm->claims[k][i]);
			if (!push(list, json_object_new_string(text))) {
				json_object_put(list);
				list = NULL;
			}
		}
		ok = put(claims, claim_keys[k], list);
	}
	ok = ok && put(o, "name", json_object_new_string(dm->name));
	ok = ok && put(o, "exec", json_object_new_string(dm->exec));
	ok = ok && put(o, "args", json_object_get(args));
	ok = ok && put(o, "claims", json_object_get(claims));
	if (ok && dm->n_irqs) {
		struct json_object *irqs = json_object_new_array();

		for (unsigned i = 0; i < dm->n_irqs && irqs; i++)
			if (!push(irqs, json_object_new_int(dm->irqs[i]))) {
				json_object_put(irqs);
				irqs = NULL;
			}
		ok = put(o, "irqs", irqs);
	}
	ok = ok && put(o, "bufioreq",
	               json_object_new_string(enum_name(bufioreq_modes, ARRAY_SIZE(bufioreq_modes),
	                                                dm->bufioreq)));
	ok = ok && put(o, "poll_us", json_object_new_int64(dm->poll_us));
	ok = ok && put(o, "sandbox", sandbox_json(&dm->sandbox));
	ok = ok && put(o, "on_crash", on_crash_json(&dm->on_crash));
	json_object_put(args);
	json_object_put(claims);
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *guest_json(const struct policy_guest *g)
{
	struct json_object *o = json_object_new_object(), *match = json_object_new_object(),
	                   *dms = json_object_new_array();
	struct dmp_range hole = {g->pci_hole_start, g->pci_hole_end};
	char text[48];
	bool ok = o && match && dms;

	if (g->match == POLICY_MATCH_DOMID)
		ok = ok && put(match, "domid", json_object_new_int64(g->domid));
	else if (g->match == POLICY_MATCH_NAME)
		ok = ok && put(match, "name", json_object_new_string(g->name_glob));
	else
		ok = ok && put(match, "default", json_object_new_boolean(true));
	for (unsigned i = 0; i < g->n_dms && ok; i++)
		ok = push(dms, dm_json(&g->dms[i]));
	format_claim(text, sizeof(text), DMP_CLAIM_MMIO, &hole);
	ok = ok && put(o, "match", json_object_get(match));
	ok = ok && put(o, "pci_hole", json_object_new_string(text));
	ok = ok && put(o, "unpause", json_object_new_boolean(g->unpause));
	ok = ok && put(o, "device_models", json_object_get(dms));
	json_object_put(match);
	json_object_put(dms);
	if (!ok) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

char *policy_to_json(const struct policy *p)
{
	struct json_object *root = json_object_new_object(), *guests = json_object_new_array();
	const char *text;
	char *out = NULL;
	bool ok = root && guests;

	ok = ok && put(root, "version", json_object_new_int64(p->version));
	if (ok && p->uid_count) {
		struct json_object *u = json_object_new_object();

		ok = put(u, "start", json_object_new_int64(p->uid_start)) &&
		     put(u, "count", json_object_new_int64(p->uid_count)) &&
		     put(root, "uid_range", json_object_get(u));
		json_object_put(u);
	}
	for (unsigned i = 0; i < p->n_guests && ok; i++)
		ok = push(guests, guest_json(&p->guests[i]));
	ok = ok && put(root, "guests", json_object_get(guests));
	json_object_put(guests);
	if (ok) {
		text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
		                                                    JSON_C_TO_STRING_SPACED |
		                                                    JSON_C_TO_STRING_NOSLASHESCAPE);
		if (!text || asprintf(&out, "%s\n", text) < 0)
			out = NULL;
	}
	json_object_put(root);
	return out;
}

void policy_errors_print(const struct policy_errors *errs, const char *file, void *stream)
{
	FILE *f = stream;
	unsigned stored = MIN(errs->n, (unsigned)POLICY_ERRORS_MAX);

	for (unsigned i = 0; i < stored; i++)
		fprintf(f, "%s%s%s: %s\n", file ? file : "", file ? ": " : "", errs->e[i].path,
		        errs->e[i].msg);
	if (errs->n > stored)
		fprintf(f, "%s%s%u more error%s\n", file ? file : "", file ? ": " : "",
		        errs->n - stored, errs->n - stored == 1 ? "" : "s");
}
