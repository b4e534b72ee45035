/* SPDX-License-Identifier: MIT */
/*
 * The security suite (make check-security; docs/security.md): dmbrokerd on
 * the simulator launches tests/progs/security-probe like any device model,
 * next to a UART of the same guest; each probe tries one forbidden thing
 * and reports on stdout, which the broker captures ("PROBE <what>
 * <result>").  Every case asserts that the attempt failed (or the probe
 * was killed, as specified), that the broker is unharmed (it answers, holds
 * no more fds than before) and that the UART still serves the guest.
 * `dmbrokerctl verify` is checked on live device models, good and bad.
 *
 * Section 3 of the research notes lists S1-S14; docs/security.md maps each
 * to the tests here and in test-sandbox.  Needs root; skips otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/policy.h"
#include "daemon/verify.h"
#include "tests/test.h"
#include "tests/unit/broker_fixture.h"

#define UID_START 220000u
#define UID_COUNT 500u
#define UART_PORT 0x3f8
#define LINE_MAX_ 256
#define MAX_LINES 128

#define UART                                                                   \
	"{\"name\": \"uart\", \"exec\": \"/usr/libexec/dm-broker/dm-uart\","   \
	" \"args\": [\"--port\", \"0x3f8\", \"--irq\", \"4\"], \"irqs\": [4]," \
	" \"claims\": {\"ports\": [\"0x3f8-0x3ff\"]}}"

static struct broker_fixture bf;
static uint32_t dom;

/* One probe device model of the guest: its name, its arguments (JSON strings), more keys. */
struct probe {
	const char *name;
	const char *args;  /* the inside of a JSON array */
	const char *extra; /* e.g. "\"sandbox\": {\"pids_max\": 8}", or NULL */
};

static bool skip_unless_root(void)
{
	if (geteuid() == 0)
		return false;
	printf("# skip: the security suite needs root\n");
	return true;
}

/* Probe i (from 0) claims ports 0x510 + 0x10 * i to + 0xf: BASE+0 triggers, BASE+4 adds a pid. */
static uint16_t probe_base(unsigned i)
{
	return (uint16_t)(0x510 + 0x10 * i);
}

static char *policy_text(const struct probe *p, unsigned n, unsigned uid_count)
{
	size_t cap = 32768, used = 0;
	char *s = malloc(cap);

	ASSERT_NOT_NULL(s);
	used += (size_t)snprintf(
	        s + used, cap - used,
	        "{\"version\": 1, \"uid_range\": {\"start\": %u, \"count\": %u},"
	        " \"guests\": [{\"match\": {\"name\": \"sec*\"}, \"unpause\": true,"
	        " \"device_models\": [" UART,
	        UID_START, uid_count);
	for (unsigned i = 0; i < n; i++) {
		used += (size_t)snprintf(
		        s + used, cap - used,
		        ", {\"name\": \"%s\", \"exec\": \"@PROGS@/security-probe\", \"args\": [%s],"
		        " \"claims\": {\"ports\": [\"0x%x-0x%x\"]},"
		        " \"on_crash\": {\"action\": \"fail\"}%s%s}",
		        p[i].name, p[i].args, probe_base(i), probe_base(i) + 0xf,
		        p[i].extra ? ", " : "", p[i].extra ? p[i].extra : "");
		ASSERT_LT(used, cap);
	}
	used += (size_t)snprintf(s + used, cap - used, "]}]}");
	ASSERT_LT(used, cap);
	return s;
}

/* The broker with this guest's policy; the guest created paused, attached, every DM running. */
static void start_n(const struct probe *p, unsigned n, unsigned vcpus, const char *const *extra)
{
	char *policy = policy_text(p, n, UID_COUNT);

	broker_start(&bf, policy, extra);
	free(policy);
	dom = fixture_domain_create(&bf.sim, "sec-guest", vcpus, SIM_DOMAIN_F_PAUSED);
	if (!broker_wait_dms(&bf, dom, n + 1, "running", 10000)) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "sed 's/^/# broker: /' %s >&2", bf.log);
		(void)!system(cmd);
		test_fail(__FILE__, __LINE__, "the guest's %u device models are not all running",
		          n + 1);
	}
}

#define START(probes, vcpus) start_n(probes, ARRAY_SIZE(probes), vcpus, NULL)

static int64_t jint(json_object *o, const char *key)
{
	json_object *v = NULL;

	ASSERT_TRUE(json_object_object_get_ex(o, key, &v));
	return json_object_get_int64(v);
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v = NULL;

	ASSERT_TRUE(json_object_object_get_ex(o, key, &v));
	return json_object_get_string(v);
}

static pid_t dm_pid(const char *name)
{
	json_object *keep, *d = broker_dm(&bf, dom, name, &keep);
	pid_t pid;

	ASSERT_NOT_NULL(d);
	pid = (pid_t)jint(d, "pid");
	json_object_put(keep);
	return pid;
}

static uid_t dm_uid(const char *name)
{
	json_object *keep, *d = broker_dm(&bf, dom, name, &keep);
	uid_t uid;

	ASSERT_NOT_NULL(d);
	uid = (uid_t)jint(d, "uid");
	json_object_put(keep);
	return uid;
}

static bool dm_state_is(const char *name, const char *state)
{
	json_object *keep, *d = broker_dm(&bf, dom, name, &keep);
	bool r;

	ASSERT_NOT_NULL(d);
	r = !strcmp(jstr(d, "state"), state);
	json_object_put(keep);
	return r;
}

static bool wait_state(const char *name, const char *state, int timeout_ms)
{
	uint64_t deadline = util_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	do {
		if (dm_state_is(name, state))
			return true;
		util_sleep_ns(10000000);
	} while (util_now_ns() < deadline);
	return false;
}

/* ---- the guest's I/O ------------------------------------------------------ */

static int pio_out(uint16_t port, uint8_t size, uint64_t value)
{
	struct scn_op op = {.kind = SCN_PIO_OUT, .size = size, .addr = port, .value = value};

	return fixture_run_ops(&bf.sim, dom, &op, 1, NULL, 0, NULL);
}

static uint64_t pio_in(uint16_t port, uint8_t size)
{
	struct scn_op op = {.kind = SCN_PIO_IN, .size = size, .addr = port, .mask = 0};
	uint64_t v = 0;

	ASSERT_EQ(fixture_run_ops(&bf.sim, dom, &op, 1, NULL, 0, &v), 0);
	return v;
}

/* The UART still serves: its scratch register keeps what the guest writes. */
static bool uart_serves(void)
{
	static uint8_t v = 0x11;
	struct scn_op ops[] = {
	        {.kind = SCN_PIO_OUT, .size = 1, .addr = UART_PORT + 7, .value = v},
	        {.kind = SCN_PIO_IN, .size = 1, .addr = UART_PORT + 7, .value = v, .mask = 0xff},
	};

	v = (uint8_t)(v * 7 + 3);
	return fixture_run_ops(&bf.sim, dom, ops, 2, NULL, 0, NULL) == 0;
}

static void trigger(unsigned i)
{
	(void)pio_out(probe_base(i), 4, 1);
}

static void give_pid(unsigned i, pid_t pid)
{
	ASSERT_EQ(pio_out((uint16_t)(probe_base(i) + 4), 4, (uint64_t)pid), 0);
}

/* ---- what the probes said ------------------------------------------------- */

/* The results of dm's "PROBE what ..." lines (text after "PROBE what "), from `logs`. */
static unsigned probe_lines(const char *dm, const char *what, char (*out)[LINE_MAX_], unsigned max)
{
	char req[160], prefix[64];
	json_object *rep, *ok, *res, *lines;
	unsigned n = 0;

	snprintf(req, sizeof(req), "{\"cmd\":\"logs\",\"domid\":%u,\"dm\":\"%s\"}", dom, dm);
	snprintf(prefix, sizeof(prefix), "PROBE %s ", what);
	rep = broker_call(&bf, req);
	ASSERT_NOT_NULL(rep);
	ASSERT_TRUE(json_object_object_get_ex(rep, "ok", &ok) && json_object_get_boolean(ok));
	ASSERT_TRUE(json_object_object_get_ex(rep, "result", &res));
	ASSERT_TRUE(json_object_object_get_ex(res, "lines", &lines));
	for (size_t i = 0; i < json_object_array_length(lines) && n < max; i++) {
		const char *l = json_object_get_string(json_object_array_get_idx(lines, i));
		if (!strncmp(l, prefix, strlen(prefix)))
			snprintf(out[n++], LINE_MAX_, "%s", l + strlen(prefix));
	}
	json_object_put(rep);
	return n;
}

/* Wait for dm's "PROBE what <last>..." line (last NULL: any line); returns its result text. */
static const char *wait_line(const char *dm, const char *what, const char *last)
{
	static char lines[MAX_LINES][LINE_MAX_];
	uint64_t deadline = util_now_ns() + 5000000000ull;

	do {
		unsigned n = probe_lines(dm, what, lines, MAX_LINES);
		for (unsigned i = 0; i < n; i++)
			if (!last || !strncmp(lines[i], last, strlen(last)))
				return lines[i];
		util_sleep_ns(10000000);
	} while (util_now_ns() < deadline);
	test_fail(__FILE__, __LINE__, "%s never reported \"PROBE %s %s\"", dm, what,
	          last ? last : "");
}

/* The first word of a result. */
static const char *word(const char *result)
{
	static char w[64];

	snprintf(w, sizeof(w), "%.*s", (int)strcspn(result, " "), result);
	return w;
}

/* ---- the broker is unharmed -------------------------------------------------- */

static void broker_answers(void)
{
	json_object *keep, *st = broker_result(&bf, "{\"cmd\":\"status\"}", &keep);

	ASSERT_NOT_NULL(st);
	json_object_put(keep);
}

static unsigned processes_with_uid_range(uid_t start, unsigned count)
{
	return fixture_processes_with_uid(start, count);
}

/* Stop the broker: it exits 0 and leaves no device-model process behind. */
static void finish(void)
{
	uint64_t deadline;

	ASSERT_EQ(broker_stop(&bf), 0);
	/* Reaped by the broker before it exits; their children die with their pid namespace. */
	deadline = util_now_ns() + 2000000000ull;
	while (processes_with_uid_range(UID_START, UID_COUNT) && util_now_ns() < deadline)
		util_sleep_ns(10000000);
	ASSERT_EQ(processes_with_uid_range(UID_START, UID_COUNT), 0);
}

/* A probe that should survive its attempt: trigger it, get its result, check everything else. */
static const char *run_survivor(unsigned i, const char *name, const char *what, const char *last)
{
	int fds = broker_fd_count(&bf);
	const char *res;

	trigger(i);
	res = wait_line(name, what, last);
	ASSERT_TRUE(dm_state_is(name, "running"));
	/* It still serves its own ports: alive, and the broker still sees it alive. */
	ASSERT_EQ_U(pio_in((uint16_t)(probe_base(i) + 8), 4), 0xcafe0000u | (probe_base(i) + 8));
	broker_answers();
	ASSERT_LE(broker_fd_count(&bf), fds);
	ASSERT_TRUE(uart_serves());
	return res;
}

/* A probe the baseline filter must kill at its attempt (announced by "trying"). */
static void run_killed(unsigned i, const char *name, const char *what, int sig)
{
	char needle[128], lines[4][LINE_MAX_];
	int fds = broker_fd_count(&bf);

	trigger(i);
	(void)wait_line(name, what, "trying");
	ASSERT_TRUE(wait_state(name, "failed", 5000));
	snprintf(needle, sizeof(needle), "event crash dom%u/%s: killed by signal %d", dom, name,
	         sig);
	ASSERT_TRUE(broker_wait_log(&bf, needle, 2000));
	/* Nothing after "trying": it died in that call. */
	ASSERT_EQ(probe_lines(name, what, lines, 4), 1);
	broker_answers();
	/* Its channel and pipes are gone: fewer fds, never more. */
	ASSERT_LE(broker_fd_count(&bf), fds);
	ASSERT_TRUE(uart_serves());
}

/* ---- verify -------------------------------------------------------------- */

static json_object *verify_result(const char *dm, json_object **keep)
{
	char req[160];

	snprintf(req, sizeof(req), "{\"cmd\":\"verify\",\"domid\":%u,\"dm\":\"%s\"}", dom, dm);
	return broker_result(&bf, req, keep);
}

static json_object *check_named(json_object *res, const char *name)
{
	json_object *checks;

	ASSERT_TRUE(json_object_object_get_ex(res, "checks", &checks));
	for (size_t i = 0; i < json_object_array_length(checks); i++) {
		json_object *c = json_object_array_get_idx(checks, i);
		if (!strcmp(jstr(c, "name"), name))
			return c;
	}
	test_fail(__FILE__, __LINE__, "no check named %s", name);
}

static bool check_ok(json_object *res, const char *name)
{
	json_object *v;

	ASSERT_TRUE(json_object_object_get_ex(check_named(res, name), "ok", &v));
	return json_object_get_boolean(v);
}

static const char *check_detail(json_object *res, const char *name)
{
	return jstr(check_named(res, name), "detail");
}

/* Every check of dm passes, through the real CLI (exit 0) and the JSON reply. */
static void assert_verified(const char *dm)
{
	char out[16384], domid[16];
	json_object *keep, *res, *checks, *passed;

	snprintf(domid, sizeof(domid), "%u", dom);
	if (broker_ctl(&bf, out, sizeof(out), (const char *const[]){"verify", domid, dm, NULL}))
		test_fail(__FILE__, __LINE__, "verify %s:\n%s", dm, out);
	ASSERT_CONTAINS(out, "checks passed");
	res = verify_result(dm, &keep);
	ASSERT_TRUE(json_object_object_get_ex(res, "passed", &passed));
	ASSERT_TRUE(json_object_get_boolean(passed));
	ASSERT_TRUE(json_object_object_get_ex(res, "checks", &checks));
	ASSERT_GE(json_object_array_length(checks), 30);
	json_object_put(keep);
}

/* ======================================================================= */

/*
 * S2, S6, S7, S8, S12 (mounts), S13 (session): verify on live device models.
 * A canary fd the broker holds (inherited, no CLOEXEC) reaches none of them;
 * a probe's own scan from inside sees exactly 0-3 after the handoff.
 */
TEST_TIMEOUT(verify_passes_on_live_device_models, 60)
{
	static const struct probe probes[] = {
	        {"threads", "\"--threads\", \"3\", \"--try\", \"none\"", NULL},
	        {"fdscan", "\"--at\", \"start\", \"--try\", \"fd-scan\"", NULL},
	};
	json_object *keep, *res;
	char path[64], out[4096];
	int canary;

	if (skip_unless_root())
		return;
	/* The broker inherits this fd to /etc/shadow (no CLOEXEC), at a number a DM could guess. */
	canary = open("/etc/shadow", O_RDONLY);
	ASSERT_GE(canary, 0);
	ASSERT_EQ(dup2(canary, 100), 100);
	start_n(probes, ARRAY_SIZE(probes), 2, NULL);
	close(100);
	close(canary);
	snprintf(path, sizeof(path), "/proc/%d/fd/100", (int)bf.pid);
	ASSERT_EQ(access(path, F_OK), 0); /* the canary is real */

	ASSERT_STREQ(wait_line("fdscan", "fd-scan", NULL),
	             "ok n=4 0:null,1:fifo,2:fifo,3:seqpacket");
	ASSERT_TRUE(uart_serves());
	assert_verified("uart");
	assert_verified("threads");
	assert_verified("fdscan");

	/* The details the operator reads, for a 2-vCPU guest on the simulator. */
	res = verify_result("uart", &keep);
	ASSERT_CONTAINS(check_detail(res, "fds"), "4 eventfds, 1 epoll; nothing else");
	ASSERT_CONTAINS(check_detail(res, "ns_net"), "its own");
	ASSERT_CONTAINS(check_detail(res, "ns_user"), "the host's");
	ASSERT_CONTAINS(check_detail(res, "root"), "read-only tmpfs");
	ASSERT_CONTAINS(check_detail(res, "evtchn"), "simulator");
	/* Either way, it says which limits hold. */
	if (strstr(check_detail(res, "cgroup"), "no cgroup v2"))
		ASSERT_CONTAINS(check_detail(res, "cgroup"), "no cgroup v2: rlimits only (");
	else
		ASSERT_CONTAINS(check_detail(res, "cgroup"), "in its leaf: memory.max ");
	json_object_put(keep);
	res = verify_result("threads", &keep);
	ASSERT_CONTAINS(check_detail(res, "seccomp"), "filter mode on all 4 tasks, 1 filter each");
	ASSERT_CONTAINS(check_detail(res, "uid"), "on 4 tasks");
	json_object_put(keep);

	/* Usage and errors: unknown device model, domain not attached, bad domid. */
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out),
	                     (const char *const[]){"verify", "1", "nope", NULL}),
	          1);
	ASSERT_CONTAINS(out, "no device model of that name");
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out),
	                     (const char *const[]){"verify", "9", "uart", NULL}),
	          1);
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out),
	                     (const char *const[]){"verify", "x", "uart", NULL}),
	          2);
	finish();
}

/*
 * S2: seccomp on every thread.  A real device model (libdmb's allow-list
 * kept) that started threads before dmb_run: the allow-list must reach
 * them too (TSYNC), not only the thread that loaded it.
 */
TEST_TIMEOUT(verify_sees_every_thread_of_a_locked_down_device_model, 60)
{
	static const struct probe probes[] = {
	        {"locked", "\"--lockdown\", \"--threads\", \"2\", \"--try\", \"none\"", NULL},
	};
	json_object *keep, *res;

	if (skip_unless_root())
		return;
	START(probes, 1);
	/* Its allow-list is in place once it serves (dmb_run loads it after the ports). */
	ASSERT_EQ(pio_in((uint16_t)(probe_base(0) + 8), 4), 0xcafe0518u);
	res = verify_result("locked", &keep);
	if (!check_ok(res, "seccomp"))
		test_fail(__FILE__, __LINE__, "seccomp: %s", check_detail(res, "seccomp"));
	ASSERT_CONTAINS(check_detail(res, "seccomp"), "filter mode on all 3 tasks, 2 filters each");
	json_object_put(keep);
	finish();
}

/* verify fails, and says why, when a live device model is not what the broker set up. */
TEST_TIMEOUT(verify_flags_a_device_model_that_changed, 60)
{
	static const struct probe probes[] = {
	        {"holdfd", "\"--at\", \"start\", \"--try\", \"hold-fd\"", NULL},
	        {"nofile", "\"--at\", \"start\", \"--try\", \"lower-nofile\"", NULL},
	        {"other", "\"--try\", \"exec-other\", \"/usr/bin/sleep\", \"3600\"", NULL},
	};
	char out[16384];
	json_object *keep, *res;

	if (skip_unless_root())
		return;
	START(probes, 1);
	ASSERT_CONTAINS(wait_line("holdfd", "hold-fd", NULL), "ok fd=");
	ASSERT_STREQ(wait_line("nofile", "lower-nofile", NULL), "ok");
	/* It replaces itself with another program (from /usr): still running, but not the DM. */
	trigger(2);
	(void)wait_line("other", "exec-other", "trying");
	util_sleep_ns(100000000);

	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out),
	                     (const char *const[]){"verify", "1", "holdfd", NULL}),
	          1);
	ASSERT_CONTAINS(out, "FAIL fds");
	ASSERT_CONTAINS(out, "\"/dev/null\""); /* at fd 4, where the broker's kept end belongs */
	ASSERT_CONTAINS(out, "checks FAILED: fds");
	res = verify_result("nofile", &keep);
	ASSERT_FALSE(check_ok(res, "rlimit_nofile"));
	ASSERT_CONTAINS(check_detail(res, "rlimit_nofile"),
	                "32/32 (soft/hard), its policy says 64");
	ASSERT_TRUE(check_ok(res, "fds"));
	json_object_put(keep);
	res = verify_result("other", &keep);
	ASSERT_FALSE(check_ok(res, "exe"));
	ASSERT_CONTAINS(check_detail(res, "exe"), "executed another program");
	ASSERT_TRUE(check_ok(res, "seccomp")); /* what it exec'd inherits the filter */
	json_object_put(keep);
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out),
	                     (const char *const[]){"verify", "1", "uart", NULL}),
	          0);
	finish();
}

/* Each checker on its own: an unconfined process (a plain fork of this test) fails them. */
TEST(verify_flags_an_unconfined_process)
{
	static const char *const must_fail[] = {
	        "uid",     "gid",           "capabilities", "no_new_privs", "seccomp",
	        "ns_mnt",  "ns_pid",        "ns_net",       "root",         "cwd",
	        "session", "rlimit_nofile", "rlimit_core",  "rlimit_as",
	};
	struct verify_expect e = {
	        .pidfd = -1,
	        .uid = 4242,
	        .gid = 4242,
	        .namespaces = POLICY_NS_ALL,
	        .memory_max = 64ull << 20,
	        .pids_max = 16,
	        .nofile = 64,
	        .nr_vcpus = 1,
	};
	struct verify_report *rep = calloc(1, sizeof(*rep));
	int p[2], status;
	char c;
	pid_t pid;

	if (skip_unless_root())
		return;
	ASSERT_NOT_NULL(rep);
	ASSERT_OK(pipe(p));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(p[1]);
		(void)!read(p[0], &c, 1);
		_exit(0);
	}
	close(p[0]);
	e.pid = pid;
	ASSERT_OK(verify_process(&e, rep));
	for (size_t i = 0; i < ARRAY_SIZE(must_fail); i++) {
		bool found = false;
		for (unsigned k = 0; k < rep->n; k++)
			if (!strcmp(rep->c[k].name, must_fail[i])) {
				found = true;
				if (rep->c[k].ok)
					test_fail(__FILE__, __LINE__, "%s passed: %s", must_fail[i],
					          rep->c[k].detail);
				printf("# %-14s %s\n", rep->c[k].name, rep->c[k].detail);
			}
		ASSERT_TRUE(found);
	}
	ASSERT_GE(rep->failed, ARRAY_SIZE(must_fail));
	close(p[1]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	/* Gone (reaped): no report about a process that is not there. */
	ASSERT_ERR(verify_process(&e, rep), -ESRCH);
	free(rep);
}

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	ASSERT_NOT_NULL(f);
	fputs(text, f);
	ASSERT_OK(fclose(f));
}

static const struct verify_check *find_check(const struct verify_report *rep, const char *name)
{
	for (unsigned k = 0; k < rep->n; k++)
		if (!strcmp(rep->c[k].name, name))
			return &rep->c[k];
	test_fail(__FILE__, __LINE__, "no check %s", name);
}

/*
 * The cgroup check reads the leaf's cgroup.procs, memory.max and pids.max.
 * This host may have no cgroup v2 to put a device model in, so a directory
 * with those files stands in for a leaf (as DMB_CGROUP_FAKE does for
 * test-sandbox); without a leaf, the check passes and says "rlimits only".
 */
TEST(verify_reads_a_cgroup_leaf)
{
	struct verify_expect e = {.pidfd = -1,
	                          .uid = 4242,
	                          .gid = 4242,
	                          .pids_max = 16,
	                          .memory_max = 64ull << 20,
	                          .nofile = 64};
	struct verify_report *rep = calloc(1, sizeof(*rep));
	char leaf[PATH_MAX], pids[64];
	const struct verify_check *c;

	ASSERT_NOT_NULL(rep);
	e.pid = getpid();
	e.cgroup_none = "unavailable: no writable cgroup v2 (test); device models get rlimits only";
	ASSERT_OK(verify_process(&e, rep));
	c = find_check(rep, "cgroup");
	ASSERT_TRUE(c->ok);
	ASSERT_STREQ(c->detail, "no cgroup v2: rlimits only (no writable cgroup v2 (test))");

	snprintf(leaf, sizeof(leaf), "%s/leaf", test_tmpdir());
	ASSERT_OK(mkdir(leaf, 0755));
	e.cgroup_leaf = leaf;
	put_file(leaf, "cgroup.procs", "1\n2\n");
	put_file(leaf, "memory.max", "67108864\n");
	put_file(leaf, "pids.max", "16\n");
	ASSERT_OK(verify_process(&e, rep));
	c = find_check(rep, "cgroup");
	ASSERT_FALSE(c->ok);
	ASSERT_CONTAINS(c->detail, "not in its leaf");

	snprintf(pids, sizeof(pids), "1\n%d\n", (int)getpid());
	put_file(leaf, "cgroup.procs", pids);
	put_file(leaf, "pids.max", "max\n");
	ASSERT_OK(verify_process(&e, rep));
	c = find_check(rep, "cgroup");
	ASSERT_FALSE(c->ok);
	ASSERT_STREQ(c->detail,
	             "memory.max 67108864, pids.max max; its policy says 67108864 and 16");

	put_file(leaf, "pids.max", "16\n");
	ASSERT_OK(verify_process(&e, rep));
	c = find_check(rep, "cgroup");
	ASSERT_TRUE(c->ok);
	ASSERT_STREQ(c->detail, "in its leaf: memory.max 67108864, pids.max 16");
	free(rep);
}

/*
 * S12, S10: host files, Xen devices, the broker's and the simulator's
 * sockets, the broker's binary (build tree and installed paths): none of it
 * is there, or it is read-only.  The test itself can reach both sockets and
 * the hypervisor (positive control).
 */
TEST_TIMEOUT(files_devices_and_broker_sockets_are_out_of_reach, 60)
{
	char args_unix[600], args_write[900], probe_args[3][1024], lines[16][LINE_MAX_];
	char broker_bin[PATH_MAX], dm_bin[PATH_MAX], rel[PATH_MAX];
	struct probe probes[] = {
	        {"shadow", "\"--try\", \"read-shadow\"", NULL},
	        {"devices",
	         "\"--try\", \"open\", \"/dev/xen/privcmd\", \"/dev/xen/evtchn\", \"/dev/kvm\","
	         " \"/dev/mem\", \"/dev/zero\", \"/etc/passwd\", \"/sys/kernel\", "
	         "\"/proc/1/environ\"",
	         NULL},
	        {"sockets", NULL, NULL},
	        {"binary", NULL, NULL},
	};
	unsigned n;
	uint16_t id;
	int fd;

	if (skip_unless_root())
		return;
	snprintf(rel, sizeof(rel), "%s/bin/dmbrokerd", test_builddir());
	ASSERT_NOT_NULL(realpath(rel, broker_bin));
	snprintf(rel, sizeof(rel), "%s/libexec/dm-uart", fixture_dm_builddir());
	ASSERT_NOT_NULL(realpath(rel, dm_bin));
	/* The socket paths are only known once the fixture named them: same as broker_start's. */
	snprintf(args_unix, sizeof(args_unix),
	         "\"--try\", \"connect-unix\", \"%s/ctl.sock\", \"%s/sim.sock\"", test_tmpdir(),
	         test_tmpdir());
	snprintf(
	        args_write, sizeof(args_write),
	        "\"--try\", \"write\", \"%.200s\", \"/usr/sbin/dmbrokerd\", \"/usr/bin/dmbrokerd\","
	        " \"/usr/libexec/dm-broker/dm-uart\", \"%.200s\", \"/usr/bin/su\", "
	        "\"/proc/self/exe\"",
	        broker_bin, dm_bin);
	snprintf(probe_args[0], sizeof(probe_args[0]), "%s", args_unix);
	snprintf(probe_args[1], sizeof(probe_args[1]), "%s", args_write);
	probes[2].args = probe_args[0];
	probes[3].args = probe_args[1];
	START(probes, 1);
	/* The fixture's paths are the ones we guessed. */
	ASSERT_CONTAINS(bf.ctl, test_tmpdir());
	ASSERT_CONTAINS(bf.sim.sock, test_tmpdir());

	ASSERT_STREQ(run_survivor(0, "shadow", "read-shadow", NULL), "ENOENT /etc/shadow");

	(void)run_survivor(1, "devices", "open", "done n=8");
	n = probe_lines("devices", "open", lines, 16);
	ASSERT_EQ(n, 9);
	for (unsigned i = 0; i + 1 < n; i++)
		if (strcmp(word(lines[i]), "ENOENT"))
			test_fail(__FILE__, __LINE__, "devices: %s", lines[i]);

	(void)run_survivor(2, "sockets", "connect-unix", "done n=2");
	n = probe_lines("sockets", "connect-unix", lines, 16);
	ASSERT_EQ(n, 3);
	ASSERT_STREQ(word(lines[0]), "ENOENT");
	ASSERT_STREQ(word(lines[1]), "ENOENT");
	/* Positive control: from the host, both sockets answer, and the hypervisor obeys. */
	broker_answers();
	ASSERT_OK(hv_create_server(bf.sim.hv, dom, 0, &id));
	ASSERT_OK(hv_destroy_server(bf.sim.hv, dom, id));

	(void)run_survivor(3, "binary", "write", "done n=7");
	n = probe_lines("binary", "write", lines, 16);
	ASSERT_EQ(n, 8);
	for (unsigned i = 0; i + 1 < n; i++) {
		const char *path = strchr(lines[i], ' ') + 1;
		const char *w = word(lines[i]);
		struct stat st;

		printf("# write %s\n", lines[i]);
		if (!strcmp(w, "ok"))
			test_fail(__FILE__, __LINE__, "the probe opened %s for writing", path);
		/* What exists on the host under /usr is visible in the jail, but not writable. */
		if (!strncmp(path, "/usr/", 5) && stat(path, &st) == 0)
			ASSERT_TRUE(!strcmp(w, "EROFS") || !strcmp(w, "EACCES") ||
			            !strcmp(w, "ETXTBSY"));
		else
			ASSERT_STREQ(w, "ENOENT");
	}
	/* The build tree's binaries are untouched and still run. */
	fd = open(broker_bin, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	close(fd);
	finish();
}

/*
 * The network namespace: the host's loopback (TCP on 127.0.0.1 and ::1)
 * and abstract UNIX sockets are unreachable; raw sockets need a capability
 * it does not have.  The listeners are reachable from the host (control).
 */
TEST_TIMEOUT(network_is_out_of_reach, 60)
{
	struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	char args[3][256], abstract[64], lines[4][LINE_MAX_];
	struct probe probes[] = {
	        {"tcp4", args[0], NULL},
	        {"tcp6", args[1], NULL},
	        {"abstract", args[2], NULL},
	        {"raw", "\"--try\", \"raw-socket\"", NULL},
	};
	socklen_t len = sizeof(in4);
	int l4, l6, lu, c;
	bool have6;

	if (skip_unless_root())
		return;
	l4 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ASSERT_OK(bind(l4, (struct sockaddr *)&in4, sizeof(in4)));
	ASSERT_OK(listen(l4, 8));
	ASSERT_OK(getsockname(l4, (struct sockaddr *)&in4, &len));
	l6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	in6.sin6_port = in4.sin_port;
	have6 = l6 >= 0 && bind(l6, (struct sockaddr *)&in6, sizeof(in6)) == 0 &&
	        listen(l6, 8) == 0;
	snprintf(abstract, sizeof(abstract), "dmb-security-%d", (int)getpid());
	lu = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	memcpy(un.sun_path + 1, abstract, strlen(abstract));
	ASSERT_OK(bind(lu, (struct sockaddr *)&un,
	               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(abstract))));
	ASSERT_OK(listen(lu, 8));
	snprintf(args[0], sizeof(args[0]), "\"--try\", \"connect-tcp4\", \"%u\"",
	         ntohs(in4.sin_port));
	snprintf(args[1], sizeof(args[1]), "\"--try\", \"connect-tcp6\", \"%u\"",
	         ntohs(in4.sin_port));
	snprintf(args[2], sizeof(args[2]), "\"--try\", \"connect-abstract\", \"%s\"", abstract);
	START(probes, 1);

	/* In its own network namespace, lo is down and nothing listens. */
	ASSERT_STREQ(word(run_survivor(0, "tcp4", "connect-tcp4", NULL)), "ENETUNREACH");
	if (have6)
		ASSERT_NE(strcmp(word(run_survivor(1, "tcp6", "connect-tcp6", NULL)), "ok"), 0);
	ASSERT_STREQ(word(run_survivor(2, "abstract", "connect-abstract", NULL)), "ECONNREFUSED");
	(void)run_survivor(3, "raw", "raw-socket", "EPERM AF_PACKET");
	ASSERT_EQ(probe_lines("raw", "raw-socket", lines, 4), 2);
	ASSERT_STREQ(lines[0], "EPERM AF_INET SOCK_RAW");
	/* Nobody came. */
	ASSERT_EQ(accept(l4, NULL, NULL), -1);
	ASSERT_EQ(errno, EAGAIN);
	ASSERT_EQ(accept(lu, NULL, NULL), -1);
	ASSERT_EQ(errno, EAGAIN);
	if (have6) {
		ASSERT_EQ(accept(l6, NULL, NULL), -1);
		ASSERT_EQ(errno, EAGAIN);
	}
	/* Positive control: the host reaches its own listener. */
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_OK(connect(c, (struct sockaddr *)&in4, sizeof(in4)));
	close(c);
	finish();
	close(l4);
	util_close(l6);
	close(lu);
}

/*
 * S7, S9: another device model of the same guest, the broker, the
 * simulator and this test: not signalled, not found by pidfd, /proc not
 * there, ptrace killed.  Their pids reach the probe through the guest's
 * I/O, as a compromised device model could learn a pid.
 */
TEST_TIMEOUT(other_processes_are_out_of_reach, 60)
{
	static const struct probe probes[] = {
	        {"signal", "\"--try\", \"signal\"", NULL},
	        {"proc", "\"--try\", \"proc\"", NULL},
	        {"ptrace", "\"--try\", \"ptrace\"", NULL},
	};
	char lines[32][LINE_MAX_];
	pid_t uart, targets[4];
	unsigned n;

	if (skip_unless_root())
		return;
	START(probes, 1);
	uart = dm_pid("uart");
	targets[0] = uart;
	targets[1] = bf.pid;
	targets[2] = bf.sim.pid;
	targets[3] = getpid();
	for (unsigned i = 0; i < 4; i++) {
		give_pid(0, targets[i]);
		give_pid(1, targets[i]);
	}
	give_pid(2, uart);

	(void)run_survivor(0, "signal", "signal", "done n=4");
	n = probe_lines("signal", "kill", lines, 32);
	ASSERT_EQ(n, 4);
	for (unsigned i = 0; i < n; i++)
		ASSERT_STREQ(word(lines[i]), "ESRCH");
	n = probe_lines("signal", "pidfd-open", lines, 32);
	ASSERT_EQ(n, 4);
	for (unsigned i = 0; i < n; i++)
		ASSERT_STREQ(word(lines[i]), "ESRCH");

	(void)run_survivor(1, "proc", "proc", "done n=4");
	n = probe_lines("proc", "proc", lines, 32);
	ASSERT_EQ(n, 6);
	for (unsigned i = 0; i + 1 < n; i++)
		ASSERT_STREQ(word(lines[i]), "ENOENT");

	run_killed(2, "ptrace", "ptrace", SIGSYS);
	/* The UART is the same process as before, untouched. */
	ASSERT_EQ(dm_pid("uart"), uart);
	ASSERT_EQ(kill(uart, 0), 0);
	finish();
}

/* Does int $0x80 exist on this kernel at all?  Without ia32 emulation it faults before seccomp. */
static int int80_natural_signal(void)
{
	int status;
	pid_t pid = fork();

	ASSERT_GE(pid, 0);
	if (pid == 0) {
		long ret = 20;
		__asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
		_exit(0);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

/* "audit: type=1326 ... pid=PID ... syscall=N" in the kernel log (S1: which call killed it). */
static long audit_syscall_of(pid_t pid)
{
	char buf[8192], needle[32];
	long found = -1;
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -2;
	snprintf(needle, sizeof(needle), " pid=%d ", (int)pid);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		const char *s;

		if (n < 0 && errno == EPIPE)
			continue; /* overwritten records: go on */
		if (n <= 0)
			break;
		buf[n] = '\0';
		if (strstr(buf, "type=1326") && strstr(buf, needle) &&
		    (s = strstr(buf, " syscall=")))
			found = strtol(s + 9, NULL, 10);
	}
	close(fd);
	return found;
}

/*
 * S1, S3, S4, S13: the baseline filter kills the process at the first
 * escape syscall, through any ABI and whatever the upper bits of an ioctl
 * number; the broker logs the kill as seccomp's, the kernel's audit record
 * names the syscall, and the UART next to it goes on serving.
 */
TEST_TIMEOUT(seccomp_kills_escape_syscalls, 90)
{
	static const struct probe probes[] = {
	        {"mount", "\"--try\", \"mount\"", NULL},
	        {"unshare", "\"--try\", \"unshare\"", NULL},
	        {"setns", "\"--try\", \"setns\"", NULL},
	        {"tiocsti", "\"--try\", \"tiocsti\", \"0\"", NULL},
	        {"tiocsti-hi", "\"--try\", \"tiocsti-hi\", \"1\"", NULL},
	        {"x32", "\"--try\", \"x32\"", NULL},
	        {"int80", "\"--try\", \"int80\"", NULL},
	};
	static const long nr[] = {165, 272, 308, 16, 16, 0x40000000 | 39, 20};
	int int80_sig = int80_natural_signal() == SIGSEGV ? SIGSEGV : SIGSYS;

	if (skip_unless_root())
		return;
	START(probes, 1);
	for (unsigned i = 0; i < ARRAY_SIZE(probes); i++) {
		pid_t pid = dm_pid(probes[i].name);
		long sc;

		run_killed(i, probes[i].name, probes[i].name, i == 6 ? int80_sig : SIGSYS);
		sc = audit_syscall_of(pid);
		if (sc == -2)
			printf("# %s: no /dev/kmsg to read the audit record from\n",
			       probes[i].name);
		else if (sc == -1)
			printf("# %s: no audit record (auditd running, or rate-limited)\n",
			       probes[i].name);
		else if (i != 6 || int80_sig == SIGSYS)
			ASSERT_EQ(sc, nr[i]);
	}
	finish();
}

/*
 * S8: no way back to privilege: setuid(0) and friends, capset, ambient and
 * securebits fail with EPERM; a setuid-root binary from /usr runs without
 * privilege (no_new_privs, nosuid /usr): ld.so shows it our uid and no
 * secure mode.
 */
TEST_TIMEOUT(privileges_cannot_be_regained, 60)
{
	static const struct probe probes[] = {
	        {"setuid", "\"--try\", \"setuid0\"", NULL},
	        {"capset", "\"--try\", \"capset\"", NULL},
	        {"suid", "\"--try\", \"setuid-exec\", \"/usr/bin/su\"", NULL},
	};
	char lines[4][LINE_MAX_], want[160];
	struct stat st;
	uid_t uid;

	if (skip_unless_root())
		return;
	START(probes, 1);
	(void)run_survivor(0, "setuid", "setuid0", "EPERM setuid");
	ASSERT_EQ(probe_lines("setuid", "setuid0", lines, 4), 3);
	ASSERT_STREQ(lines[0], "EPERM setresuid");
	ASSERT_STREQ(lines[1], "EPERM setresgid");
	uid = dm_uid("setuid");
	snprintf(want, sizeof(want), "EPERM setuid uid=%u euid=%u", uid, uid);
	ASSERT_STREQ(lines[2], want);

	(void)run_survivor(1, "capset", "capset", "EPERM securebits");
	ASSERT_EQ(probe_lines("capset", "capset", lines, 4), 3);
	ASSERT_STREQ(lines[0], "EPERM capset");
	ASSERT_STREQ(lines[1], "EPERM ambient");

	if (stat("/usr/bin/su", &st) < 0 || !(st.st_mode & S_ISUID) || st.st_uid != 0) {
		printf("# skip setuid-exec: /usr/bin/su is not setuid root here\n");
	} else {
		uid = dm_uid("suid");
		snprintf(want, sizeof(want),
		         "unprivileged /usr/bin/su euid=%u secure=0 mode=%o uid=%u", uid,
		         (unsigned)st.st_mode & 07777, uid);
		ASSERT_STREQ(run_survivor(2, "suid", "setuid-exec", NULL), want);
	}
	finish();
}

static bool host_can_fork(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

/*
 * F6: fork, memory and fd bombs hit the device model's own limits
 * (RLIMIT_NPROC for its uid alone, RLIMIT_AS, RLIMIT_NOFILE; the cgroup
 * leaf too where there is one); it recovers and serves, the broker and the
 * UART are untouched.
 */
TEST_TIMEOUT(resource_bombs_are_contained, 60)
{
	static const struct probe probes[] = {
	        {"forks", "\"--try\", \"fork-bomb\"", "\"sandbox\": {\"pids_max\": 8}"},
	        {"memory", "\"--try\", \"memory-bomb\"", "\"sandbox\": {\"memory_max\": \"64M\"}"},
	        {"fds", "\"--try\", \"fd-bomb\"", "\"sandbox\": {\"nofile\": 32}"},
	};
	json_object *keep, *st;
	bool cgroup;
	const char *r;
	unsigned v;

	if (skip_unless_root())
		return;
	START(probes, 1);
	st = broker_result(&bf, "{\"cmd\":\"status\"}", &keep);
	cgroup = strncmp(jstr(st, "cgroup"), "unavailable", 11) != 0;
	printf("# cgroup: %s\n", jstr(st, "cgroup"));
	json_object_put(keep);

	/* Its uid's processes (itself included) reach 8: at most 7 forks. */
	r = run_survivor(0, "forks", "fork-bomb", NULL);
	ASSERT_STREQ(word(r), "EAGAIN");
	ASSERT_EQ(sscanf(r, "EAGAIN forks=%u", &v), 1);
	ASSERT_LT(v, 8);

	trigger(1);
	r = wait_line("memory", "memory-bomb", NULL);
	if (cgroup && dm_state_is("memory", "failed")) {
		/* memory.max (with oom.group) may kill it before RLIMIT_AS refuses: also contained.
		 */
		ASSERT_TRUE(broker_log_contains(&bf, "killed by signal 9"));
	} else {
		ASSERT_STREQ(word(r), "ENOMEM");
		ASSERT_EQ(sscanf(r, "ENOMEM mib=%u", &v), 1);
		ASSERT_LT(v, 64);
		ASSERT_CONTAINS(r, "malloc_after=ok");
		ASSERT_TRUE(dm_state_is("memory", "running"));
	}
	broker_answers();
	ASSERT_TRUE(uart_serves());

	r = run_survivor(2, "fds", "fd-bomb", NULL);
	ASSERT_STREQ(word(r), "EMFILE");
	ASSERT_EQ(sscanf(r, "EMFILE fds=%u", &v), 1);
	ASSERT_LT(v, 32);
	ASSERT_GT(v, 16); /* the limit it hit is its own 32, less what it holds */
	/* The host was never short of processes: this test forks fine. */
	ASSERT_TRUE(host_can_fork());
	finish();
}

/*
 * S9 (the reaper), S7 (descendants): a child that tries to get away (a new
 * session) is confined like its parent, and dies with it: the device model
 * is pid 1 of its pid namespace, so the kernel kills the whole namespace.
 * No process keeps its uid, which goes back to the pool (quarantined while
 * any process holds it: test-sandbox's uidpool tests).
 */
TEST_TIMEOUT(escapee_dies_with_its_device_model, 60)
{
	static const struct probe probes[] = {
	        {"linger", "\"--try\", \"fork-linger\"", NULL},
	};
	json_object *keep, *res;
	uint64_t deadline;
	uid_t uid;
	pid_t pid;

	if (skip_unless_root())
		return;
	START(probes, 1);
	ASSERT_CONTAINS(run_survivor(0, "linger", "fork-linger", NULL), "ok child=");
	pid = dm_pid("linger");
	uid = dm_uid("linger");
	ASSERT_EQ(processes_with_uid_range(uid, 1), 2);
	res = verify_result("linger", &keep);
	ASSERT_TRUE(check_ok(res, "descendants"));
	ASSERT_CONTAINS(check_detail(res, "descendants"), "1, confined like it");
	json_object_put(keep);

	ASSERT_EQ(kill(pid, SIGKILL), 0);
	ASSERT_TRUE(wait_state("linger", "failed", 5000));
	deadline = util_now_ns() + 5000000000ull;
	while (processes_with_uid_range(uid, 1) && util_now_ns() < deadline)
		util_sleep_ns(10000000);
	ASSERT_EQ(processes_with_uid_range(uid, 1), 0);
	broker_answers();
	ASSERT_TRUE(uart_serves());
	finish();
}

/*
 * S14: the broker's environment (with a canary) does not reach a device
 * model, which gets exactly PATH and LC_ALL; policy arguments arrive
 * literally, in order, with no shell to expand them ("$(touch ...)" creates
 * nothing, "--" and "../" are plain strings).
 */
TEST_TIMEOUT(environment_and_arguments_pass_literally, 60)
{
	char canary[PATH_MAX], args[1024], lines[16][LINE_MAX_], want[PATH_MAX + 64];
	struct probe probes[] = {
	        {"env", "\"--try\", \"env\"", NULL},
	        {"argv", args, NULL},
	};
	const char *lit[] = {NULL, "--", "../../../etc/shadow", "--try", "`id`", "; id", "-"};
	unsigned n;

	if (skip_unless_root())
		return;
	snprintf(canary, sizeof(canary), "%s/canary", test_tmpdir());
	snprintf(args, sizeof(args),
	         "\"--try\", \"argv\", \"$(touch %.200s)\", \"--\", \"../../../etc/shadow\", "
	         "\"--try\","
	         " \"`id`\", \"; id\", \"-\"",
	         canary);
	ASSERT_OK(setenv("DMB_SECURITY_CANARY", "broker-secret", 1));
	start_n(probes, ARRAY_SIZE(probes), 1, NULL);
	ASSERT_OK(unsetenv("DMB_SECURITY_CANARY"));

	(void)run_survivor(0, "env", "env", "end");
	n = probe_lines("env", "env", lines, 16);
	ASSERT_EQ(n, 3);
	ASSERT_STREQ(lines[0], "ok PATH=/usr/bin");
	ASSERT_STREQ(lines[1], "ok LC_ALL=C.UTF-8");
	ASSERT_STREQ(lines[2], "end n=2");

	(void)run_survivor(1, "argv", "argv", "end");
	n = probe_lines("argv", "argv", lines, 16);
	ASSERT_EQ(n, ARRAY_SIZE(lit) + 1);
	snprintf(want, sizeof(want), "ok 0 $(touch %s)", canary);
	ASSERT_STREQ(lines[0], want);
	for (unsigned i = 1; i < ARRAY_SIZE(lit); i++) {
		snprintf(want, sizeof(want), "ok %u %s", i, lit[i]);
		ASSERT_STREQ(lines[i], want);
	}
	ASSERT_TRUE(access(canary, F_OK) < 0);
	/* Nor does the CLI run anything it is given. */
	snprintf(want, sizeof(want), "$(touch %s)", canary);
	ASSERT_EQ(broker_ctl(&bf, lines[0], sizeof(lines[0]),
	                     (const char *const[]){"verify", "1", want, NULL}),
	          1);
	ASSERT_TRUE(access(canary, F_OK) < 0);
	finish();
}

/*
 * S11 at the broker: a launch that fails in the sandbox (exec refused at
 * the last step, or no uid left in the range) fails the attach cleanly:
 * no process, no ioreq server, no uid held, no fd more in the broker; the
 * same attach works once the cause is gone.  Each sandbox step failing on
 * its own is test-sandbox's sandbox_fail_each_step.
 */
static unsigned servers_in_use(uint32_t domid)
{
	uint16_t ids[8];
	unsigned n = 0;

	while (n < 8 && hv_create_server(bf.sim.hv, domid, 0, &ids[n]) == 0)
		n++;
	for (unsigned i = 0; i < n; i++)
		ASSERT_OK(hv_destroy_server(bf.sim.hv, domid, ids[i]));
	return 8 - n;
}

static void attach_fails_cleanly(const char *why, int fds)
{
	json_object *rep, *ok, *err;
	char req[64];

	snprintf(req, sizeof(req), "{\"cmd\":\"attach\",\"domid\":%u}", dom);
	rep = broker_call(&bf, req);
	ASSERT_NOT_NULL(rep);
	ASSERT_TRUE(json_object_object_get_ex(rep, "ok", &ok));
	ASSERT_FALSE(json_object_get_boolean(ok));
	ASSERT_TRUE(json_object_object_get_ex(rep, "error", &err));
	printf("# attach: %s\n", json_object_get_string(err));
	json_object_put(rep);
	ASSERT_TRUE(broker_wait_log(&bf, why, 2000));
	ASSERT_EQ(processes_with_uid_range(UID_START, UID_COUNT), 0);
	ASSERT_EQ(servers_in_use(dom), 0);
	ASSERT_EQ(broker_fd_count(&bf), fds);
	broker_answers();
}

TEST_TIMEOUT(spawn_failure_leaves_nothing_behind, 60)
{
	char copy[PATH_MAX], src[PATH_MAX], cmd[2 * PATH_MAX + 16], policy[2048], *p;
	static const struct probe probes[] = {
	        {"probe", "\"--try\", \"none\"", NULL},
	};
	json_object *keep;
	int fds;

	if (skip_unless_root())
		return;
	/* A real device model, but not executable: the sandbox refuses at its very last step. */
	snprintf(src, sizeof(src), "%s/libexec/dm-uart", fixture_dm_builddir());
	snprintf(copy, sizeof(copy), "%s/dm-copy", test_tmpdir());
	snprintf(cmd, sizeof(cmd), "cp %s %s", src, copy);
	ASSERT_EQ(system(cmd), 0);
	ASSERT_OK(chmod(copy, 0644));
	snprintf(policy, sizeof(policy),
	         "{\"version\": 1, \"uid_range\": {\"start\": %u, \"count\": %u},"
	         " \"guests\": [{\"match\": {\"name\": \"sec*\"}, \"unpause\": true,"
	         " \"device_models\": [" UART ", {\"name\": \"copy\", \"exec\": \"%.200s\","
	         " \"args\": [\"--port\", \"0x2f8\", \"--irq\", \"3\"], \"irqs\": [3],"
	         " \"claims\": {\"ports\": [\"0x2f8-0x2ff\"]}}]}]}",
	         UID_START, UID_COUNT, copy);
	broker_start(&bf, policy, (const char *const[]){"--no-auto-attach", NULL});
	dom = fixture_domain_create(&bf.sim, "sec-guest", 1, SIM_DOMAIN_F_PAUSED);
	fds = broker_fd_count(&bf);
	attach_fails_cleanly("sandboxed launch failed at step 'exec'", fds);
	ASSERT_TRUE(broker_log_contains(&bf, "Permission denied"));
	/* Fixed: the same attach works. */
	ASSERT_OK(chmod(copy, 0755));
	broker_result(&bf, "{\"cmd\":\"attach\",\"domid\":1}", &keep);
	json_object_put(keep);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 2, "running", 5000));
	ASSERT_TRUE(uart_serves());
	broker_result(&bf, "{\"cmd\":\"detach\",\"domid\":1}", &keep);
	json_object_put(keep);
	ASSERT_EQ(broker_fd_count(&bf), fds);
	finish();
	fixture_sim_stop(&bf.sim);

	/* One uid for two device models: the second cannot start, the first is stopped. */
	p = policy_text(probes, ARRAY_SIZE(probes), 1);
	broker_start(&bf, p, (const char *const[]){"--no-auto-attach", NULL});
	free(p);
	dom = fixture_domain_create(&bf.sim, "sec-guest-2", 1, SIM_DOMAIN_F_PAUSED);
	fds = broker_fd_count(&bf);
	attach_fails_cleanly("no uid for it", fds);
	finish();
}
