/* SPDX-License-Identifier: MIT */
/*
 * The placement policy parser (daemon/policy.c, docs/policy.md).
 *
 * Besides the tests below, two corpora:
 *   tests/policies/bad/NAME.json    must fail with -EINVAL; NAME.expect lists
 *                                   "PATH: substring" lines that must each match
 *                                   one error (exact path, message containing the
 *                                   substring), and optionally "= N", the exact
 *                                   error count.
 *   tests/policies/good/NAME.json   must parse; policy_to_json() must equal
 *                                   NAME.expect.json byte for byte and be a fixed
 *                                   point of parse + policy_to_json.
 */
#include "tests/test.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xen/hvm/hvm_op.h>

#include "common/util.h"
#include "daemon/policy.h"

#define EXAMPLES_DIR "../policy/examples" /* relative to test_srcdir() */

/* ---- helpers ------------------------------------------------------------- */

static char *slurp(const char *path, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	ssize_t n;

	if (fd < 0)
		test_fail(__FILE__, __LINE__, "open %s: %s", path, strerror(errno));
	ASSERT_OK(fstat(fd, &st));
	buf = malloc((size_t)st.st_size + 1);
	ASSERT_NOT_NULL(buf);
	n = util_read_full(fd, buf, (size_t)st.st_size);
	ASSERT_EQ(n, st.st_size);
	buf[n] = '\0';
	if (ret_len)
		*ret_len = (size_t)n;
	return buf;
}

static void spew(const char *path, const char *text, size_t len)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(util_write_all(fd, text, len));
}

static void print_errors(const struct policy_errors *e)
{
	policy_errors_print(e, "#", stderr);
}

static struct policy *parse_ok_at(const char *file, int line, const char *json, size_t len)
{
	struct policy *p = NULL;
	struct policy_errors e;
	int r = policy_parse(json, len, &p, &e);

	if (r < 0) {
		print_errors(&e);
		test_fail(file, line, "policy_parse failed: %d (%u errors)", r, e.n);
	}
	ASSERT_EQ(e.n, 0);
	ASSERT_NOT_NULL(p);
	return p;
}
#define parse_ok(json) parse_ok_at(__FILE__, __LINE__, (json), strlen(json))

static bool has_error(const struct policy_errors *e, const char *path, const char *substr)
{
	for (unsigned i = 0; i < MIN(e->n, (unsigned)POLICY_ERRORS_MAX); i++)
		if (strcmp(e->e[i].path, path) == 0 && strstr(e->e[i].msg, substr))
			return true;
	return false;
}

static void expect_error_at(const char *file, int line, const struct policy_errors *e,
                            const char *path, const char *substr)
{
	if (has_error(e, path, substr))
		return;
	print_errors(e);
	test_fail(file, line, "no error \"%s: ...%s...\"", path, substr);
}
#define expect_error(e, path, substr) expect_error_at(__FILE__, __LINE__, (e), (path), (substr))

/* Parses json expecting -EINVAL; returns the errors (the output pointer stays untouched). */
static struct policy_errors *parse_bad(const char *json)
{
	static struct policy_errors e;
	struct policy *p = (struct policy *)0x1;

	ASSERT_ERR(policy_parse(json, strlen(json), &p, &e), -EINVAL);
	ASSERT_TRUE(p == (struct policy *)0x1);
	ASSERT_GT(e.n, 0);
	return &e;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Sorted names in dir ending with suffix (but not with ".expect.json" when suffix is ".json"). */
static unsigned list_dir(const char *dir, const char *suffix, char ***ret)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	unsigned n = 0;
	struct dirent *de;

	if (!d)
		test_fail(__FILE__, __LINE__, "opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		if (!ends_with(de->d_name, suffix) || ends_with(de->d_name, ".expect.json"))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		ASSERT_NOT_NULL(names);
		names[n] = strdup(de->d_name);
		ASSERT_NOT_NULL(names[n]);
		n++;
	}
	closedir(d);
	for (unsigned i = 1; i < n; i++) /* insertion sort: stable output order */
		for (unsigned j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *t = names[j];
			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	*ret = names;
	return n;
}

static void free_list(char **names, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static char *srcpath(const char *fmt, const char *a, const char *b)
{
	char *p;

	ASSERT_TRUE(asprintf(&p, fmt, test_srcdir(), a, b) > 0);
	return p;
}

/* policy_to_json(p) is a fixed point of parse + policy_to_json. */
static void assert_round_trip(const struct policy *p)
{
	_cleanup_free_ char *a = policy_to_json(p), *b = NULL;
	struct policy *q;

	ASSERT_NOT_NULL(a);
	q = parse_ok(a);
	b = policy_to_json(q);
	ASSERT_STREQ(a, b);
	policy_unref(q);
}

/* A one-guest policy whose device model list is dms (JSON text). */
static char *with_dms(const char *dms)
{
	char *s;

	ASSERT_TRUE(
	        asprintf(&s,
	                 "{\"version\": 1, \"uid_range\": {\"start\": 100000, \"count\": 100},\n"
	                 " \"guests\": [{\"match\": {\"default\": true},\n"
	                 "  \"device_models\": [%s]}]}",
	                 dms) > 0);
	return s;
}

#define UART                                                                              \
	"{\"name\": \"uart\", \"exec\": \"/usr/libexec/dm-broker/dm-uart\", \"claims\": " \
	"{\"ports\": [\"0x3f8-0x3ff\"]}}"

/* ---- the corpora ----------------------------------------------------------- */

static void check_expect(const char *name, const struct policy_errors *e, char *expect)
{
	unsigned lines = 0;

	for (char *line = strtok(expect, "\n"); line; line = strtok(NULL, "\n")) {
		char *sep;

		if (!*line || *line == '#')
			continue;
		lines++;
		if (line[0] == '=') {
			unsigned want = (unsigned)strtoul(line + 1, NULL, 10);
			if (e->n != want) {
				print_errors(e);
				test_fail(__FILE__, __LINE__, "%s: %u errors, want %u", name, e->n,
				          want);
			}
			continue;
		}
		sep = strstr(line, ": ");
		if (!sep)
			test_fail(__FILE__, __LINE__, "%s.expect: bad line \"%s\"", name, line);
		*sep = '\0';
		if (!has_error(e, line, sep + 2)) {
			print_errors(e);
			test_fail(__FILE__, __LINE__, "%s: no error \"%s: ...%s...\"", name, line,
			          sep + 2);
		}
	}
	if (!lines)
		test_fail(__FILE__, __LINE__, "%s.expect is empty", name);
}

TEST(bad_corpus)
{
	_cleanup_free_ char *dir = srcpath("%s/policies/bad%s%s", "", "");
	char **names;
	unsigned n = list_dir(dir, ".json", &names);

	ASSERT_GE(n, 40);
	for (unsigned i = 0; i < n; i++) {
		_cleanup_free_ char *path = srcpath("%s/policies/bad/%s%s", names[i], "");
		_cleanup_free_ char *exp_path = NULL, *expect = NULL;
		struct policy *p = (struct policy *)0x1;
		struct policy_errors e;
		int r;

		ASSERT_TRUE(asprintf(&exp_path, "%.*s.expect",
		                     (int)(strlen(path) - strlen(".json")), path) > 0);
		if (access(exp_path, R_OK) < 0)
			test_fail(__FILE__, __LINE__, "%s has no .expect", names[i]);
		expect = slurp(exp_path, NULL);
		r = policy_load(path, &p, &e);
		if (r != -EINVAL)
			test_fail(__FILE__, __LINE__, "%s: policy_load returned %d", names[i], r);
		ASSERT_TRUE(p == (struct policy *)0x1);
		check_expect(names[i], &e, expect);
	}
	free_list(names, n);
}

TEST(good_corpus)
{
	_cleanup_free_ char *dir = srcpath("%s/policies/good%s%s", "", "");
	char **names;
	unsigned n = list_dir(dir, ".json", &names);

	ASSERT_GE(n, 5);
	for (unsigned i = 0; i < n; i++) {
		_cleanup_free_ char *path = srcpath("%s/policies/good/%s%s", names[i], "");
		_cleanup_free_ char *golden_path = NULL, *golden = NULL, *out = NULL;
		struct policy *p = NULL;
		struct policy_errors e;

		if (policy_load(path, &p, &e) < 0) {
			print_errors(&e);
			test_fail(__FILE__, __LINE__, "%s does not parse", names[i]);
		}
		ASSERT_TRUE(asprintf(&golden_path, "%.*s.expect.json",
		                     (int)(strlen(path) - strlen(".json")), path) > 0);
		golden = slurp(golden_path, NULL);
		out = policy_to_json(p);
		ASSERT_NOT_NULL(out);
		if (strcmp(out, golden) != 0) {
			fprintf(stderr, "# %s: policy_to_json differs from %s:\n%s", names[i],
			        golden_path, out);
			test_fail(__FILE__, __LINE__, "golden mismatch");
		}
		assert_round_trip(p);
		policy_unref(p);
	}
	free_list(names, n);
}

TEST(examples_parse)
{
	_cleanup_free_ char *dir = srcpath("%s/%s%s", EXAMPLES_DIR, "");
	char **names;
	unsigned n = list_dir(dir, ".json", &names);
	const char *required[] = {"demo.json",          "single-uart.json",  "by-domid.json",
	                          "default-guest.json", "vga-buffered.json", "full.json"};

	for (size_t r = 0; r < ARRAY_SIZE(required); r++) {
		bool found = false;
		for (unsigned i = 0; i < n; i++)
			found = found || strcmp(names[i], required[r]) == 0;
		if (!found)
			test_fail(__FILE__, __LINE__, "policy/examples/%s is missing", required[r]);
	}
	for (unsigned i = 0; i < n; i++) {
		_cleanup_free_ char *path = srcpath("%s/%s/%s", EXAMPLES_DIR, names[i]);
		struct policy *p = NULL;
		struct policy_errors e;

		if (policy_load(path, &p, &e) < 0) {
			policy_errors_print(&e, names[i], stderr);
			test_fail(__FILE__, __LINE__, "example %s does not parse", names[i]);
		}
		assert_round_trip(p);
		policy_unref(p);
	}
	free_list(names, n);
}

/* ---- what the structs hold -------------------------------------------------- */

TEST(demo_example_contents)
{
	_cleanup_free_ char *path = srcpath("%s/%s/%s", EXAMPLES_DIR, "demo.json");
	const struct policy_guest *g;
	const struct policy_dm *d;
	struct policy *p = NULL;
	struct policy_errors e;

	ASSERT_OK(policy_load(path, &p, &e));
	ASSERT_EQ(p->refs, 1);
	ASSERT_EQ(p->version, 1);
	ASSERT_EQ(p->uid_start, 200000);
	ASSERT_EQ(p->uid_count, 1000);
	ASSERT_EQ(p->n_guests, 1);
	g = &p->guests[0];
	ASSERT_EQ(g->match, POLICY_MATCH_NAME);
	ASSERT_STREQ(g->name_glob, "demo*");
	ASSERT_TRUE(g->unpause);
	ASSERT_EQ_U(g->pci_hole_start, 0xe0000000);
	ASSERT_EQ_U(g->pci_hole_end, 0xfbffffff);
	ASSERT_EQ(g->n_dms, 3);

	d = &g->dms[0];
	ASSERT_STREQ(d->name, "hostbridge");
	ASSERT_STREQ(d->exec, "/usr/libexec/dm-broker/dm-hostbridge");
	ASSERT_EQ(d->n_args, 2);
	ASSERT_STREQ(d->args[0], "--bdf");
	ASSERT_STREQ(d->args[1], "00:00.0");
	ASSERT_EQ(d->n_claims[DMP_CLAIM_PORT], 1);
	ASSERT_EQ_U(d->claims[DMP_CLAIM_PORT][0].start, 0xcf8);
	ASSERT_EQ_U(d->claims[DMP_CLAIM_PORT][0].end, 0xcfb);
	ASSERT_EQ(d->n_claims[DMP_CLAIM_MMIO], 0);
	ASSERT_EQ(d->n_claims[DMP_CLAIM_PCI], 1);
	ASSERT_EQ_U(d->claims[DMP_CLAIM_PCI][0].start, IOREQ_SBDF(0, 0, 0, 0));
	ASSERT_EQ_U(d->claims[DMP_CLAIM_PCI][0].end, IOREQ_SBDF(0, 0, 0, 0));
	ASSERT_EQ(d->on_crash.action, POLICY_CRASH_RESTART);

	d = &g->dms[1];
	ASSERT_STREQ(d->name, "uart");
	ASSERT_STREQ(d->exec, "/usr/libexec/dm-broker/dm-uart");
	ASSERT_EQ(d->n_args, 4);
	ASSERT_STREQ(d->args[3], "4");
	ASSERT_EQ(d->n_claims[DMP_CLAIM_PORT], 1);
	ASSERT_EQ_U(d->claims[DMP_CLAIM_PORT][0].start, 0x3f8);
	ASSERT_EQ_U(d->claims[DMP_CLAIM_PORT][0].end, 0x3ff);

	d = &g->dms[2];
	ASSERT_STREQ(d->name, "pcitest");
	ASSERT_STREQ(d->exec, "/usr/libexec/dm-broker/dm-pcitest");
	ASSERT_EQ(d->n_args, 4);
	ASSERT_STREQ(d->args[2], "--bar0");
	ASSERT_STREQ(d->args[3], "0xe0000000");
	ASSERT_EQ(d->n_claims[DMP_CLAIM_PORT], 0);
	ASSERT_EQ(d->n_claims[DMP_CLAIM_PCI], 1);
	ASSERT_EQ_U(d->claims[DMP_CLAIM_PCI][0].start, IOREQ_SBDF(0, 0, 3, 0));
	ASSERT_EQ(d->n_claims[DMP_CLAIM_MMIO], 1);
	ASSERT_EQ_U(d->claims[DMP_CLAIM_MMIO][0].start, 0xe0000000);
	ASSERT_EQ_U(d->claims[DMP_CLAIM_MMIO][0].end, 0xe0000fff);
	ASSERT_EQ(d->on_crash.action, POLICY_CRASH_RESTART);
	policy_unref(p);
}

TEST(builtin_defaults)
{
	_cleanup_free_ char *json = with_dms(UART);
	struct policy *p = parse_ok(json);
	const struct policy_guest *g = &p->guests[0];
	const struct policy_dm *d = &g->dms[0];

	ASSERT_EQ(g->match, POLICY_MATCH_DEFAULT);
	ASSERT_FALSE(g->unpause);
	ASSERT_EQ_U(g->pci_hole_start, 0xe0000000);
	ASSERT_EQ_U(g->pci_hole_end, 0xfbffffff);
	ASSERT_EQ(d->n_args, 0);
	ASSERT_EQ(d->bufioreq, HVM_IOREQSRV_BUFIOREQ_OFF);
	ASSERT_EQ(d->poll_us, 0);
	ASSERT_TRUE(d->sandbox.user_auto);
	ASSERT_STREQ(d->sandbox.user, "");
	ASSERT_EQ(d->sandbox.namespaces, POLICY_NS_ALL);
	ASSERT_EQ_U(d->sandbox.memory_max, 64ull << 20);
	ASSERT_EQ(d->sandbox.pids_max, 16);
	ASSERT_EQ(d->sandbox.nofile, 64);
	ASSERT_EQ(d->sandbox.seccomp, POLICY_SECCOMP_DEFAULT);
	ASSERT_FALSE(d->sandbox.guest_memory);
	ASSERT_EQ(d->on_crash.action, POLICY_CRASH_RESTART);
	ASSERT_EQ(d->on_crash.max_restarts, 5);
	ASSERT_EQ(d->on_crash.window_s, 60);
	ASSERT_EQ(d->on_crash.backoff_ms, 100);
	ASSERT_EQ(d->on_crash.backoff_max_ms, 5000);
	ASSERT_EQ(d->on_crash.then, POLICY_CRASH_FAIL);
	policy_unref(p);
}

/* Defaults apply key by key: a device model's sandbox overrides only what it names. */
TEST(defaults_merge_per_key)
{
	const char *json =
	        "{\"version\": 1, \"uid_range\": {\"start\": 100000, \"count\": 100},\n"
	        " \"defaults\": {\"sandbox\": {\"user\": \"dmb\", \"memory_max\": \"32M\",\n"
	        "                            \"namespaces\": [\"net\", \"pid\"]},\n"
	        "              \"on_crash\": {\"max_restarts\": 9, \"then\": \"destroy\"},\n"
	        "              \"bufioreq\": \"legacy\", \"poll_us\": 20},\n"
	        " \"guests\": [{\"match\": {\"domid\": 3}, \"device_models\": [\n"
	        "  {\"name\": \"a\", \"exec\": \"/a\", \"claims\": {\"ports\": [\"0x80\"]}},\n"
	        "  {\"name\": \"b\", \"exec\": \"/b\", \"claims\": {\"ports\": [\"0x81\"]},\n"
	        "   \"bufioreq\": \"atomic\", \"sandbox\": {\"user\": \"auto\", \"pids_max\": 3},\n"
	        "   \"on_crash\": {\"window_s\": 5}},\n"
	        "  {\"name\": \"c\", \"exec\": \"/c\", \"claims\": {\"ports\": [\"0x82\"]},\n"
	        "   \"on_crash\": {\"action\": \"pause\"}}]}]}";
	struct policy *p = parse_ok(json);
	const struct policy_dm *a = &p->guests[0].dms[0], *b = &p->guests[0].dms[1],
	                       *c = &p->guests[0].dms[2];

	ASSERT_FALSE(a->sandbox.user_auto);
	ASSERT_STREQ(a->sandbox.user, "dmb");
	ASSERT_EQ_U(a->sandbox.memory_max, 32ull << 20);
	ASSERT_EQ(a->sandbox.namespaces, POLICY_NS_NET | POLICY_NS_PID);
	ASSERT_EQ(a->sandbox.pids_max, 16);
	ASSERT_EQ(a->bufioreq, HVM_IOREQSRV_BUFIOREQ_LEGACY);
	ASSERT_EQ(a->poll_us, 20);
	ASSERT_EQ(a->on_crash.max_restarts, 9);
	ASSERT_EQ(a->on_crash.then, POLICY_CRASH_DESTROY);
	ASSERT_EQ(a->on_crash.window_s, 60);

	ASSERT_TRUE(b->sandbox.user_auto);
	ASSERT_STREQ(b->sandbox.user, "");
	ASSERT_EQ(b->sandbox.pids_max, 3);
	ASSERT_EQ_U(b->sandbox.memory_max, 32ull << 20);
	ASSERT_EQ(b->sandbox.namespaces, POLICY_NS_NET | POLICY_NS_PID);
	ASSERT_EQ(b->bufioreq, HVM_IOREQSRV_BUFIOREQ_ATOMIC);
	ASSERT_EQ(b->poll_us, 20);
	ASSERT_EQ(b->on_crash.window_s, 5);
	ASSERT_EQ(b->on_crash.max_restarts, 9);

	ASSERT_EQ(c->on_crash.action, POLICY_CRASH_PAUSE);
	ASSERT_EQ(c->on_crash.max_restarts, 9); /* kept, unused */
	policy_unref(p);
}

TEST(claim_syntax)
{
	_cleanup_free_ char *json = with_dms(
	        "{\"name\": \"x\", \"exec\": \"/x\", \"claims\": {"
	        "\"ports\": [\"0x3F8-0x3ff\", \"96\", \"0X64\", \"0\", \"0xffff\", \"200-201\"],"
	        "\"mmio\": [\"0xa0000+0x20000\", \"0xfed00000\", \"0x100000000-0x1ffffffff\","
	        "           \"0xffffffffffffffff\", \"0xffffffffff000000+4096\"],"
	        "\"pci\": [\"00:00.0\", \"0000:00:1f.7\", \"ff:1F.0\", \"0:3.1\"]}}");
	struct policy *p = parse_ok(json);
	const struct policy_dm *d = &p->guests[0].dms[0];
	const struct dmp_range *r;

	ASSERT_EQ(d->n_claims[DMP_CLAIM_PORT], 6);
	r = d->claims[DMP_CLAIM_PORT];
	ASSERT_EQ_U(r[0].start, 0x3f8);
	ASSERT_EQ_U(r[0].end, 0x3ff);
	ASSERT_EQ_U(r[1].start, 96);
	ASSERT_EQ_U(r[1].end, 96);
	ASSERT_EQ_U(r[2].start, 0x64);
	ASSERT_EQ_U(r[3].start, 0);
	ASSERT_EQ_U(r[3].end, 0);
	ASSERT_EQ_U(r[4].end, 0xffff);
	ASSERT_EQ_U(r[5].start, 200);
	ASSERT_EQ_U(r[5].end, 201);

	ASSERT_EQ(d->n_claims[DMP_CLAIM_MMIO], 5);
	r = d->claims[DMP_CLAIM_MMIO];
	ASSERT_EQ_U(r[0].start, 0xa0000);
	ASSERT_EQ_U(r[0].end, 0xbffff);
	ASSERT_EQ_U(r[1].start, 0xfed00000);
	ASSERT_EQ_U(r[1].end, 0xfed00000);
	ASSERT_EQ_U(r[2].start, 0x100000000);
	ASSERT_EQ_U(r[2].end, 0x1ffffffff);
	ASSERT_EQ_U(r[3].start, UINT64_MAX);
	ASSERT_EQ_U(r[3].end, UINT64_MAX);
	ASSERT_EQ_U(r[4].start, 0xffffffffff000000);
	ASSERT_EQ_U(r[4].end, 0xffffffffff000fff);

	ASSERT_EQ(d->n_claims[DMP_CLAIM_PCI], 4);
	r = d->claims[DMP_CLAIM_PCI];
	ASSERT_EQ_U(r[0].start, IOREQ_SBDF(0, 0, 0, 0));
	ASSERT_EQ_U(r[1].start, IOREQ_SBDF(0, 0, 0x1f, 7));
	ASSERT_EQ_U(r[1].end, IOREQ_SBDF(0, 0, 0x1f, 7));
	ASSERT_EQ_U(r[2].start, IOREQ_SBDF(0, 0xff, 0x1f, 0));
	ASSERT_EQ_U(r[3].start, IOREQ_SBDF(0, 0, 3, 1));
	assert_round_trip(p);
	policy_unref(p);
}

TEST(canonical_output_forms)
{
	_cleanup_free_ char *json =
	        with_dms("{\"name\": \"x\", \"exec\": \"/x\", \"claims\": {"
	                 "\"ports\": [\"96\", \"0X3F8-1023\"], \"mmio\": [\"0xa0000+0x20000\"],"
	                 " \"pci\": [\"0000:00:1F.7\"]}, \"sandbox\": {\"memory_max\": \"2G\","
	                 " \"namespaces\": [\"cgroup\", \"mount\"]}}");
	struct policy *p = parse_ok(json);
	_cleanup_free_ char *out = policy_to_json(p);

	ASSERT_NOT_NULL(out);
	ASSERT_CONTAINS(out, "\"0x60-0x60\"");
	ASSERT_CONTAINS(out, "\"0x3f8-0x3ff\"");
	ASSERT_CONTAINS(out, "\"0xa0000-0xbffff\"");
	ASSERT_CONTAINS(out, "\"00:1f.7\"");
	ASSERT_CONTAINS(out, "\"memory_max\": 2147483648");
	ASSERT_CONTAINS(out, "\"mount\",\n              \"cgroup\"");
	ASSERT_CONTAINS(out, "\"exec\": \"/x\""); /* no "\/" */
	ASSERT_CONTAINS(out, "\n  \"version\": 1,\n");
	ASSERT_TRUE(out[strlen(out) - 1] == '\n');
	ASSERT_TRUE(strstr(out, "\"mmio\"") != NULL);
	policy_unref(p);
}

TEST(memory_max_forms)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} cases[] = {
	        {"1048576", 1048576},         {"\"1048576\"", 1048576}, {"\"1024K\"", 1ull << 20},
	        {"\"64M\"", 64ull << 20},     {"\"1G\"", 1ull << 30},   {"\"64G\"", 64ull << 30},
	        {"68719476736", 64ull << 30}, {"\"3000000\"", 3000000},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *dm = NULL, *json = NULL;
		struct policy *p;

		ASSERT_TRUE(asprintf(&dm,
		                     "{\"name\": \"x\", \"exec\": \"/x\", \"claims\": {\"ports\": "
		                     "[\"1\"]}, \"sandbox\": {\"memory_max\": %s}}",
		                     cases[i].text) > 0);
		json = with_dms(dm);
		p = parse_ok(json);
		ASSERT_EQ_U(p->guests[0].dms[0].sandbox.memory_max, cases[i].bytes);
		policy_unref(p);
	}
}

TEST(uid_range_edges)
{
	static const char *const good[] = {
	        "{\"start\": 4294901759, \"count\": 65536}", /* last uid 0xfffffffe */
	        "{\"start\": 1, \"count\": 65533}",          /* last uid 65533 */
	        "{\"start\": 65536, \"count\": 1}",          /* first uid after the overflow ids */
	};
	static const char *const bad[] = {
	        "{\"start\": 4294901760, \"count\": 65536}", /* would reach (uid_t)-1 */
	        "{\"start\": 1, \"count\": 65534}",          /* reaches 65534 */
	        "{\"start\": 65535, \"count\": 1}",
	        "{\"start\": 4294967295, \"count\": 1}",
	};

	for (size_t i = 0; i < ARRAY_SIZE(good) + ARRAY_SIZE(bad); i++) {
		bool ok = i < ARRAY_SIZE(good);
		_cleanup_free_ char *json = NULL;

		ASSERT_TRUE(asprintf(&json,
		                     "{\"version\": 1, \"uid_range\": %s, \"guests\": [{\"match\": "
		                     "{\"default\": true}, \"device_models\": [%s]}]}",
		                     ok ? good[i] : bad[i - ARRAY_SIZE(good)], UART) > 0);
		if (ok) {
			policy_unref(parse_ok(json));
		} else {
			struct policy_errors *e = parse_bad(json);
			ASSERT_EQ(e->n, 1);
			ASSERT_TRUE(strncmp(e->e[0].path, "uid_range", 9) == 0);
		}
	}
}

/* ---- matching -------------------------------------------------------------- */

TEST(match_precedence)
{
	char json[4096];
	struct policy *p;

	snprintf(json, sizeof(json),
	         "{\"version\": 1, \"uid_range\": {\"start\": 100000, \"count\": 100},"
	         " \"guests\": ["
	         "{\"match\": {\"default\": true}, \"device_models\": [%s]},"
	         "{\"match\": {\"name\": \"web-*\"}, \"device_models\": [%s]},"
	         "{\"match\": {\"name\": \"web-1*\"}, \"device_models\": [%s]},"
	         "{\"match\": {\"domid\": 7}, \"device_models\": [%s]},"
	         "{\"match\": {\"name\": \"db-[0-9]\"}, \"device_models\": [%s]}]}",
	         UART, UART, UART, UART, UART);
	p = parse_ok(json);
	ASSERT_EQ(p->n_guests, 5);

	/* domid wins over every glob */
	ASSERT_TRUE(policy_match(p, 7, "web-1") == &p->guests[3]);
	ASSERT_TRUE(policy_match(p, 7, NULL) == &p->guests[3]);
	/* the first glob in file order, not the most specific one */
	ASSERT_TRUE(policy_match(p, 8, "web-1") == &p->guests[1]);
	ASSERT_TRUE(policy_match(p, 8, "web-") == &p->guests[1]);
	ASSERT_TRUE(policy_match(p, 8, "db-3") == &p->guests[4]);
	/* then the default */
	ASSERT_TRUE(policy_match(p, 8, "db-33") == &p->guests[0]);
	ASSERT_TRUE(policy_match(p, 8, "") == &p->guests[0]);
	ASSERT_TRUE(policy_match(p, 8, NULL) == &p->guests[0]);
	ASSERT_TRUE(policy_match(p, 8, "WEB-1") == &p->guests[0]);
	policy_unref(p);
}

TEST(match_none)
{
	const char *json = "{\"version\": 1, \"uid_range\": {\"start\": 100000, \"count\": 100},"
	                   " \"guests\": [{\"match\": {\"name\": \"a/*\"}, \"device_models\": "
	                   "[" UART "]}, {\"match\": {\"domid\": 1}, \"device_models\": "
	                   "[" UART "]}]}";
	struct policy *p = parse_ok(json);

	ASSERT_TRUE(policy_match(p, 2, "b") == NULL);
	ASSERT_TRUE(policy_match(p, 2, NULL) == NULL);
	ASSERT_TRUE(policy_match(p, 2, "a/b") == &p->guests[0]); /* fnmatch flags 0: '/' is plain */
	ASSERT_TRUE(policy_match(p, 1, "zzz") == &p->guests[1]);
	policy_unref(p);
}

/* ---- lifetime, errors, loading ------------------------------------------------- */

TEST(refcount)
{
	_cleanup_free_ char *json = with_dms(UART);
	struct policy *p = parse_ok(json);

	ASSERT_EQ(p->refs, 1);
	ASSERT_TRUE(policy_ref(p) == p);
	ASSERT_EQ(p->refs, 2);
	policy_unref(p);
	ASSERT_EQ(p->refs, 1);
	policy_unref(p); /* freed: ASan/valgrind check it */
	policy_unref(NULL);
	ASSERT_TRUE(policy_ref(NULL) == NULL);
}

TEST(errors_capped_and_printed)
{
	_cleanup_free_ char *dm = NULL, *json = NULL, *out = NULL;
	struct policy_errors e;
	struct policy *p = NULL;
	size_t len = 0, lines = 0;
	FILE *f;
	char *list = NULL;
	size_t off = 0;

	/* 100 bad port ranges: 100 errors, 64 stored. */
	list = malloc(100 * 8);
	ASSERT_NOT_NULL(list);
	for (int i = 0; i < 100; i++)
		off += (size_t)sprintf(list + off, "%s\"x%d\"", i ? "," : "", i);
	ASSERT_TRUE(asprintf(&dm,
	                     "{\"name\": \"x\", \"exec\": \"/x\", \"claims\": {\"ports\": [%s]}}",
	                     list) > 0);
	free(list);
	json = with_dms(dm);
	ASSERT_ERR(policy_parse(json, strlen(json), &p, &e), -EINVAL);
	ASSERT_EQ(e.n, 100);
	ASSERT_STREQ(e.e[0].path, "guests[0].device_models[0].claims.ports[0]");
	ASSERT_STREQ(e.e[63].path, "guests[0].device_models[0].claims.ports[63]");

	f = open_memstream(&out, &len);
	ASSERT_NOT_NULL(f);
	policy_errors_print(&e, "p.json", f);
	fclose(f);
	for (size_t i = 0; i < len; i++)
		lines += out[i] == '\n';
	ASSERT_EQ(lines, 65);
	ASSERT_TRUE(strncmp(out,
	                    "p.json: guests[0].device_models[0].claims.ports[0]: bad port range "
	                    "\"x0\": invalid character in number\n",
	                    strlen("p.json: guests[0].device_models[0].claims.ports[0]: ")) == 0);
	ASSERT_TRUE(ends_with(out, "\np.json: 36 more errors\n"));
}

TEST(errors_print_without_file)
{
	struct policy_errors e = {.n = 2};
	_cleanup_free_ char *out = NULL;
	size_t len = 0;
	FILE *f;

	strcpy(e.e[0].path, "version");
	strcpy(e.e[0].msg, "required key is missing");
	strcpy(e.e[1].path, "(root)");
	strcpy(e.e[1].msg, "m");
	f = open_memstream(&out, &len);
	ASSERT_NOT_NULL(f);
	policy_errors_print(&e, NULL, f);
	fclose(f);
	ASSERT_STREQ(out, "version: required key is missing\n(root): m\n");

	e.n = POLICY_ERRORS_MAX + 1;
	free(out);
	out = NULL;
	f = open_memstream(&out, &len);
	ASSERT_NOT_NULL(f);
	policy_errors_print(&e, "f", f);
	fclose(f);
	ASSERT_TRUE(ends_with(out, "\nf: 1 more error\n"));
}

TEST(parse_without_errs)
{
	_cleanup_free_ char *json = with_dms(UART);
	struct policy *p = NULL;

	ASSERT_ERR(policy_parse("{", 1, &p, NULL), -EINVAL);
	ASSERT_TRUE(p == NULL);
	ASSERT_OK(policy_parse(json, strlen(json), &p, NULL));
	policy_unref(p);
}

TEST(parse_not_nul_terminated)
{
	_cleanup_free_ char *json = with_dms(UART);
	size_t len = strlen(json);
	char *copy = malloc(len); /* exactly len bytes: ASan catches any overread */
	struct policy *p = NULL;
	struct policy_errors e;

	ASSERT_NOT_NULL(copy);
	memcpy(copy, json, len);
	ASSERT_OK(policy_parse(copy, len, &p, &e));
	policy_unref(p);
	/* A prefix is parsed as what it is, not up to a NUL further on. */
	ASSERT_ERR(policy_parse(copy, len - 1, &p, &e), -EINVAL);
	expect_error(&e, "(json)", "unexpected end");
	free(copy);
}

TEST(load_errors)
{
	char path[512];
	struct policy *p = (struct policy *)0x1;
	struct policy_errors e;
	_cleanup_free_ char *big = NULL;

	snprintf(path, sizeof(path), "%s/missing.json", test_tmpdir());
	ASSERT_ERR(policy_load(path, &p, &e), -ENOENT);
	ASSERT_EQ(e.n, 1);
	expect_error(&e, "(file)", "cannot open: No such file");

	ASSERT_ERR(policy_load(test_tmpdir(), &p, &e), -EINVAL);
	ASSERT_EQ(e.n, 1);
	expect_error(&e, "(file)", "not a regular file");

	/* A FIFO must neither hang the loader nor be read. */
	snprintf(path, sizeof(path), "%s/fifo", test_tmpdir());
	ASSERT_OK(mkfifo(path, 0600));
	ASSERT_ERR(policy_load(path, &p, &e), -EINVAL);
	expect_error(&e, "(file)", "not a regular file");

	/* 1 MiB + 1 byte of whitespace around a valid policy. */
	big = malloc((1u << 20) + 2);
	ASSERT_NOT_NULL(big);
	memset(big, ' ', (1u << 20) + 1);
	memcpy(big, "{}", 2);
	snprintf(path, sizeof(path), "%s/big.json", test_tmpdir());
	spew(path, big, (1u << 20) + 1);
	ASSERT_ERR(policy_load(path, &p, &e), -EINVAL);
	ASSERT_EQ(e.n, 1);
	expect_error(&e, "(json)", "larger than 1048576 bytes");
	ASSERT_TRUE(p == (struct policy *)0x1);

	/* Exactly 1 MiB is fine (the format is checked, not refused for size). */
	spew(path, big, 1u << 20);
	ASSERT_ERR(policy_load(path, &p, &e), -EINVAL);
	expect_error(&e, "version", "required key is missing");
}

TEST(check_execs)
{
	const char *dir = test_tmpdir();
	char good[256], noexec[256], wwrite[256], sub[256], missing[256];
	_cleanup_free_ char *dms = NULL, *json = NULL, *json_ok = NULL;
	struct policy_errors e;
	struct policy *p;

	snprintf(good, sizeof(good), "%s/dm-good", dir);
	snprintf(noexec, sizeof(noexec), "%s/dm-noexec", dir);
	snprintf(wwrite, sizeof(wwrite), "%s/dm-wwrite", dir);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(missing, sizeof(missing), "%s/dm-missing", dir);
	spew(good, "#!/bin/sh\n", 10);
	spew(noexec, "#!/bin/sh\n", 10);
	spew(wwrite, "#!/bin/sh\n", 10);
	ASSERT_OK(chmod(good, 0755));
	ASSERT_OK(chmod(noexec, 0644));
	ASSERT_OK(chmod(wwrite, 0777));
	ASSERT_OK(mkdir(sub, 0755));

	ASSERT_TRUE(
	        asprintf(&dms,
	                 "{\"name\": \"a\", \"exec\": \"%s\", \"claims\": {\"ports\": [\"1\"]}},"
	                 "{\"name\": \"b\", \"exec\": \"%s\", \"claims\": {\"ports\": [\"2\"]}},"
	                 "{\"name\": \"c\", \"exec\": \"%s\", \"claims\": {\"ports\": [\"3\"]}},"
	                 "{\"name\": \"d\", \"exec\": \"%s\", \"claims\": {\"ports\": [\"4\"]}},"
	                 "{\"name\": \"e\", \"exec\": \"%s\", \"claims\": {\"ports\": [\"5\"]}}",
	                 good, noexec, wwrite, sub, missing) > 0);
	json = with_dms(dms);
	p = parse_ok(json); /* parsing never looks at the files */
	ASSERT_ERR(policy_check_execs(p, NULL, &e), -EINVAL);
	ASSERT_EQ(e.n, 4);
	expect_error(&e, "guests[0].device_models[1].exec", "not executable");
	expect_error(&e, "guests[0].device_models[2].exec", "writable by every user");
	expect_error(&e, "guests[0].device_models[3].exec", "not a regular file");
	expect_error(&e, "guests[0].device_models[4].exec", "No such file or directory");
	ASSERT_FALSE(has_error(&e, "guests[0].device_models[0].exec", ""));
	policy_unref(p);

	free(dms);
	ASSERT_TRUE(
	        asprintf(&dms,
	                 "{\"name\": \"a\", \"exec\": \"%s\", \"claims\": {\"ports\": [\"1\"]}}",
	                 good) > 0);
	json_ok = with_dms(dms);
	p = parse_ok(json_ok);
	ASSERT_OK(policy_check_execs(p, NULL, &e));
	ASSERT_EQ(e.n, 0);
	ASSERT_OK(policy_check_execs(p, NULL, NULL));
	policy_unref(p);

	/* Shipped device models, as policies name them, checked where an install keeps them. */
	free(dms);
	free(json_ok);
	ASSERT_TRUE(
	        asprintf(&dms,
	                 "{\"name\": \"a\", \"exec\": \"/usr/libexec/dm-broker/dm-good\","
	                 " \"claims\": {\"ports\": [\"1\"]}},"
	                 "{\"name\": \"b\", \"exec\": \"/usr/libexec/dm-broker/dm-wwrite\","
	                 " \"claims\": {\"ports\": [\"2\"]}},"
	                 "{\"name\": \"c\", \"exec\": \"%s\", \"claims\": {\"ports\": [\"3\"]}}",
	                 good) > 0);
	json_ok = with_dms(dms);
	p = parse_ok(json_ok);
	ASSERT_ERR(policy_check_execs(p, dir, &e), -EINVAL);
	ASSERT_EQ(e.n, 1);
	expect_error(&e, "guests[0].device_models[1].exec", "dm-wwrite: writable by every user");
	ASSERT_CONTAINS(e.e[0].msg, dir); /* says which file it looked at */
	policy_unref(p);
}

TEST(exec_path_mapping)
{
	char buf[64];

	ASSERT_OK(policy_exec_path("/usr/libexec/dm-broker/dm-uart", "/opt/x", buf, sizeof(buf)));
	ASSERT_STREQ(buf, "/opt/x/dm-uart");
	ASSERT_OK(policy_exec_path("/usr/libexec/dm-broker/dm-uart", NULL, buf, sizeof(buf)));
	ASSERT_STREQ(buf, "/usr/libexec/dm-broker/dm-uart");
	/* Only that directory, not a name that starts like it. */
	ASSERT_OK(policy_exec_path("/usr/libexec/dm-brokerX/dm", "/opt/x", buf, sizeof(buf)));
	ASSERT_STREQ(buf, "/usr/libexec/dm-brokerX/dm");
	ASSERT_OK(policy_exec_path("/opt/qemu/bin/qemu", "/opt/x", buf, sizeof(buf)));
	ASSERT_STREQ(buf, "/opt/qemu/bin/qemu");
	strcpy(buf, "untouched");
	ASSERT_ERR(policy_exec_path("/usr/libexec/dm-broker/dm-uart",
	                            "/a/very/long/libexec/directory/"
	                            "name/that/does/not/fit/in/buf",
	                            buf, 32),
	           -ENAMETOOLONG);
	ASSERT_STREQ(buf, "untouched");
}

TEST(crash_action_names)
{
	ASSERT_STREQ(policy_crash_action_name(POLICY_CRASH_RESTART), "restart");
	ASSERT_STREQ(policy_crash_action_name(POLICY_CRASH_PAUSE), "pause");
	ASSERT_STREQ(policy_crash_action_name(POLICY_CRASH_DESTROY), "destroy");
	ASSERT_STREQ(policy_crash_action_name(POLICY_CRASH_FAIL), "fail");
	ASSERT_STREQ(policy_crash_action_name((enum policy_crash_action)0), "?");
}

/* ---- limits ------------------------------------------------------------------- */

static char *many_guests(unsigned n)
{
	size_t cap = 128 + (size_t)n * 256, off = 0;
	char *s = malloc(cap);

	ASSERT_NOT_NULL(s);
	off += (size_t)snprintf(s + off, cap - off,
	                        "{\"version\": 1, \"uid_range\": {\"start\": 100000, \"count\": "
	                        "100}, \"guests\": [");
	for (unsigned i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off,
		                        "%s{\"match\": {\"domid\": %u}, \"device_models\": [" UART
		                        "]}",
		                        i ? "," : "", i + 1);
	snprintf(s + off, cap - off, "]}");
	return s;
}

TEST_TIMEOUT(guest_limit, 120)
{
	_cleanup_free_ char *ok = many_guests(POLICY_MAX_GUESTS);
	_cleanup_free_ char *over = many_guests(POLICY_MAX_GUESTS + 1);
	struct policy *p = parse_ok(ok);
	struct policy_errors *e;

	ASSERT_EQ(p->n_guests, 256);
	ASSERT_TRUE(policy_match(p, 256, NULL) == &p->guests[255]);
	policy_unref(p);
	e = parse_bad(over);
	ASSERT_EQ(e->n, 1);
	expect_error(e, "guests", "257 guests, at most 256");
}

/* The most claims a guest can have, then all of them colliding: quick, and every one reported. */
TEST(claim_limits_and_overlap_count)
{
	size_t cap = 1 << 20, off = 0;
	_cleanup_free_ char *dms = malloc(cap), *json = NULL;
	struct policy *p;
	struct policy_errors e;

	ASSERT_NOT_NULL(dms);
	for (unsigned d = 0; d < POLICY_MAX_DMS; d++) {
		off += (size_t)snprintf(
		        dms + off, cap - off,
		        "%s{\"name\": \"d%u\", \"exec\": \"/x\", \"claims\": {\"ports\": [",
		        d ? "," : "", d);
		for (unsigned i = 0; i < POLICY_MAX_RANGES; i++)
			off += (size_t)snprintf(dms + off, cap - off, "%s\"%u\"", i ? "," : "",
			                        d * POLICY_MAX_RANGES + i);
		off += (size_t)snprintf(dms + off, cap - off, "]}}");
	}
	json = with_dms(dms);
	p = parse_ok(json);
	ASSERT_EQ(p->guests[0].n_dms, 8);
	ASSERT_EQ(p->guests[0].dms[7].n_claims[DMP_CLAIM_PORT], 256);
	ASSERT_EQ_U(p->guests[0].dms[7].claims[DMP_CLAIM_PORT][255].start, 2047);
	policy_unref(p);

	/* Now every device model claims 0..255: each of the 7 later ones collides 256 times. */
	off = 0;
	for (unsigned d = 0; d < POLICY_MAX_DMS; d++) {
		off += (size_t)snprintf(
		        dms + off, cap - off,
		        "%s{\"name\": \"d%u\", \"exec\": \"/x\", \"claims\": {\"ports\": [",
		        d ? "," : "", d);
		for (unsigned i = 0; i < POLICY_MAX_RANGES; i++)
			off += (size_t)snprintf(dms + off, cap - off, "%s\"%u\"", i ? "," : "", i);
		off += (size_t)snprintf(dms + off, cap - off, "]}}");
	}
	free(json);
	json = with_dms(dms);
	p = (struct policy *)0x1;
	ASSERT_ERR(policy_parse(json, strlen(json), &p, &e), -EINVAL);
	ASSERT_EQ(e.n, 7 * 256);
	expect_error(&e, "guests[0].device_models[1].claims.ports[0]",
	             "overlaps 0x0-0x0 claimed by device model \"d0\" (device_models[0])");
}

/* ---- hostile text ------------------------------------------------------------------ */

TEST(paths_escape_hostile_keys)
{
	struct policy_errors *e =
	        parse_bad("{\"version\": 1, \"guests\": [], \"a\\\"b\\u0001c\": 1,"
	                  " \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	                  "xxxxxxxxxxxxxxx\": 2}");

	expect_error(e, "a\\x22b\\x01c", "unknown key");
	/* A long key is cut in the path (48-byte display buffer: 44 characters and "..."). */
	expect_error(e, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...", "unknown key");
}

TEST(duplicate_keys_everywhere)
{
	struct policy_errors *e;

	e = parse_bad("{\"version\": 1, \"uid_range\": {\"start\": 100000, \"count\": 100},"
	              " \"guests\": [{\"match\": {\"default\": true}, \"device_models\": [{"
	              "\"name\": \"x\", \"exec\": \"/x\", \"claims\": {\"ports\": [\"1\"],"
	              " \"ports\": [\"2\"]}}]}, {\"match\": {\"domid\": 1, \"domid\": 2},"
	              " \"device_models\": [" UART "]}]}");
	ASSERT_EQ(e->n, 2);
	expect_error(e, "guests[0].device_models[0].claims.ports", "duplicate key");
	expect_error(e, "guests[1].match.domid", "duplicate key");
}

/* Every prefix of a valid policy fails cleanly; nothing crashes or leaks (ASan, valgrind). */
TEST(truncations)
{
	_cleanup_free_ char *path = srcpath("%s/%s/%s", EXAMPLES_DIR, "full.json");
	size_t len;
	_cleanup_free_ char *text = slurp(path, &len);

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	for (size_t n = 0; n < len; n++) {
		struct policy *p = NULL;
		struct policy_errors e;
		char *copy = malloc(n + 1);

		ASSERT_NOT_NULL(copy);
		memcpy(copy, text, n);
		ASSERT_ERR(policy_parse(copy, n, &p, &e), -EINVAL);
		ASSERT_EQ(e.n, 1);
		ASSERT_STREQ(e.e[0].path, "(json)");
		free(copy);
	}
}

/* Deterministic byte mutations of a valid policy: parse or fail, never crash. */
TEST(mutations)
{
	_cleanup_free_ char *path = srcpath("%s/%s/%s", EXAMPLES_DIR, "full.json");
	size_t len;
	_cleanup_free_ char *text = slurp(path, &len);
	static const char bytes[] = "{}[]\",:-+0x9fFe.\\u \t\n\0\x01\xff'/*aN";
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned parsed = 0, failed = 0;

	for (unsigned iter = 0; iter < 3000; iter++) {
		_cleanup_free_ char *m = malloc(len);
		struct policy *p = NULL;
		struct policy_errors e;
		int r;

		ASSERT_NOT_NULL(m);
		memcpy(m, text, len);
		for (unsigned k = 0; k < 1 + iter % 3; k++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			m[(seed >> 33) % len] = bytes[(seed >> 17) % (sizeof(bytes) - 1)];
		}
		r = policy_parse(m, len, &p, &e);
		if (r == 0) {
			_cleanup_free_ char *out = policy_to_json(p);
			ASSERT_NOT_NULL(out);
			policy_unref(p);
			parsed++;
		} else {
			ASSERT_EQ(r, -EINVAL);
			ASSERT_GT(e.n, 0);
			for (unsigned i = 0; i < MIN(e.n, (unsigned)POLICY_ERRORS_MAX); i++)
				for (const char *c = e.e[i].msg; *c; c++)
					ASSERT_TRUE((unsigned char)*c >= 0x20 && *c != 0x7f);
			failed++;
		}
	}
	ASSERT_GT(failed, 0);
	ASSERT_GT(parsed, 0); /* some mutations hit only whitespace or equivalent text */
}

/* The first JSON example in docs/policy.md is a valid policy. */
TEST(docs_example_parses)
{
	_cleanup_free_ char *path = srcpath("%s/../docs/%s%s", "policy.md", "");
	_cleanup_free_ char *doc = slurp(path, NULL);
	char *start = strstr(doc, "```json\n"), *end;
	struct policy *p;

	ASSERT_NOT_NULL(start);
	start += strlen("```json\n");
	end = strstr(start, "```");
	ASSERT_NOT_NULL(end);
	p = parse_ok_at(__FILE__, __LINE__, start, (size_t)(end - start));
	ASSERT_EQ(p->guests[0].dms[0].n_claims[DMP_CLAIM_PORT], 1);
	policy_unref(p);
}
