/* SPDX-License-Identifier: MIT */
/*
 * dmbrokerd on the simulator: the attach flow with sandboxed device models,
 * rollback, crashes and restarts, crash loops, a vCPU released when its
 * device model is killed, hostile device models, DM-op mediation, the
 * control socket's permissions, domain death, and no leaks over many
 * attach/detach cycles.
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/policy.h"
#include "common/util.h"
#include "tests/test.h"
#include "tests/unit/broker_fixture.h"

#define POLICY_HEAD "{\"version\": 1, \"uid_range\": {\"start\": 210000, \"count\": 500},"

static const char demo_policy[] =
        POLICY_HEAD "\"guests\": [{\"match\": {\"name\": \"demo*\"}, \"unpause\": true,"
                    " \"device_models\": [" HOSTBRIDGE ", " UART ", " PCITEST "]}]}";

static struct broker_fixture bf;

static uint32_t create_domain(const char *name, unsigned vcpus)
{
	return fixture_domain_create(&bf.sim, name, vcpus, SIM_DOMAIN_F_PAUSED);
}

static int64_t jint(json_object *o, const char *key)
{
	return fixture_jint(o, key);
}

static const char *jstr(json_object *o, const char *key)
{
	return fixture_jstr(o, key);
}

static unsigned servers_in_use(uint32_t domid)
{
	return fixture_servers_in_use(&bf.sim, domid);
}

static unsigned processes_with_uid_range(uid_t start, unsigned count)
{
	return fixture_processes_with_uid(start, count);
}

static bool process_exists(pid_t pid)
{
	return pid > 0 && kill(pid, 0) == 0;
}

static bool domain_paused(uint32_t domid)
{
	struct hv_domain_info info;

	ASSERT_OK(hv_domain_info(bf.sim.hv, domid, &info));
	return info.paused;
}

static int seccomp_filters(int64_t pid)
{
	char path[64], line[256];
	FILE *f;
	int n = -1;

	snprintf(path, sizeof(path), "/proc/%lld/status", (long long)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp_filters: %d", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

TEST_TIMEOUT(attach_flow_runs_scenario_through_sandboxed_device_models, 120)
{
	json_object *keep, *dms;
	uid_t uids[3];
	uint32_t dom;

	broker_start(&bf, demo_policy, NULL);
	dom = create_domain("demo-1", 2);
	/* Created paused; the broker attaches it from the lifecycle event and unpauses it. */
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	ASSERT_FALSE(domain_paused(dom));
	dms = broker_result(&bf, "{\"cmd\":\"dms\"}", &keep);
	ASSERT_EQ(json_object_array_length(dms), 3);
	for (unsigned i = 0; i < 3; i++) {
		json_object *d = json_object_array_get_idx(dms, i);
		ASSERT_GT(jint(d, "pid"), 0);
		uids[i] = (uid_t)jint(d, "uid");
		ASSERT_GE(uids[i], 210000);
		ASSERT_LT(uids[i], 210500);
		ASSERT_EQ(jint(d, "server"), i); /* one server each, in order */
	}
	ASSERT_NE(uids[0], uids[1]);
	ASSERT_NE(uids[1], uids[2]);
	ASSERT_NE(uids[0], uids[2]);
	ASSERT_EQ(fixture_run_scenario(&bf.sim, dom, "all.scn", NULL, 0), 0);
	/* Two seccomp layers on each: the broker's deny-list and libdmb's allow-list
	 * (installed once its ports arrived, so certainly by now). */
	for (unsigned i = 0; i < 3; i++)
		ASSERT_EQ(seccomp_filters(jint(json_object_array_get_idx(dms, i), "pid")), 2);
	json_object_put(keep);
	/* The UART's output came out of its sandbox as a log line naming domain and device model.
	 */
	ASSERT_TRUE(broker_log_contains(&bf, "guest: ok"));
	ASSERT_TRUE(broker_log_contains(&bf, "/uart: "));
	ASSERT_EQ(broker_stop(&bf), 0);
	ASSERT_EQ(processes_with_uid_range(210000, 500), 0);
}

static const char exit_early_policy[] = POLICY_HEAD
        "\"guests\": [{\"match\": {\"name\": \"demo*\"},"
        " \"device_models\": [" UART ", {\"name\": \"rogue\", \"exec\": \"@PROGS@/rogue-dm\","
        " \"args\": [\"-m\", \"exit-early\"], \"claims\": {\"ports\": [\"0x510-0x51f\"]}}]}]}";

TEST_TIMEOUT(attach_rolls_back_when_a_device_model_exits_before_ready, 60)
{
	json_object *rep, *ok, *err;
	uint32_t dom;

	broker_start(&bf, exit_early_policy, (const char *const[]){"--no-auto-attach", NULL});
	dom = create_domain("demo-2", 1);
	rep = broker_call(&bf, "{\"cmd\":\"attach\",\"domid\":1}");
	ASSERT_NOT_NULL(rep);
	ASSERT_TRUE(json_object_object_get_ex(rep, "ok", &ok));
	ASSERT_FALSE(json_object_get_boolean(ok));
	ASSERT_TRUE(json_object_object_get_ex(rep, "error", &err));
	ASSERT_CONTAINS(json_object_get_string(err), "rogue");
	ASSERT_CONTAINS(json_object_get_string(err), "before it was ready");
	json_object_put(rep);
	/* Logged once, as an error: the attach-failed event. */
	ASSERT_TRUE(broker_log_contains(&bf, "error: event attach-failed dom1 (demo-2): device "
	                                     "model rogue"));
	ASSERT_FALSE(broker_log_contains(&bf, "attach failed:"));
	/* Nothing stays: no servers, no device-model processes, no domain entry. */
	ASSERT_EQ(servers_in_use(dom), 0);
	ASSERT_EQ(processes_with_uid_range(210000, 500), 0);
	{
		json_object *keep, *doms = broker_result(&bf, "{\"cmd\":\"domains\"}", &keep);
		ASSERT_EQ(json_object_array_length(doms), 0);
		json_object_put(keep);
	}
	ASSERT_EQ(broker_stop(&bf), 0);
}

static const char garbage_early_policy[] = POLICY_HEAD
        "\"guests\": [{\"match\": {\"name\": \"demo*\"},"
        " \"device_models\": [" UART ", {\"name\": \"rogue\", \"exec\": \"@PROGS@/rogue-dm\","
        " \"args\": [\"-m\", \"garbage-early\"], \"claims\": {\"ports\": [\"0x510-0x51f\"]}}]}]}";

TEST_TIMEOUT(attach_rolls_back_when_a_device_model_talks_garbage_before_its_ports, 60)
{
	json_object *rep, *ok;
	uint32_t dom;

	broker_start(&bf, garbage_early_policy, (const char *const[]){"--no-auto-attach", NULL});
	dom = create_domain("demo-2g", 1);
	/* Either the attach fails at once, or the rogue is caught before the rest is ready:
	 * in both cases nothing of the domain may stay. */
	rep = broker_call(&bf, "{\"cmd\":\"attach\",\"domid\":1}");
	ASSERT_NOT_NULL(rep);
	ASSERT_TRUE(json_object_object_get_ex(rep, "ok", &ok));
	ASSERT_FALSE(json_object_get_boolean(ok));
	json_object_put(rep);
	ASSERT_TRUE(broker_log_contains(&bf, "protocol violation"));
	ASSERT_EQ(servers_in_use(dom), 0);
	ASSERT_EQ(processes_with_uid_range(210000, 500), 0);
	ASSERT_EQ(broker_stop(&bf), 0);
}

TEST_TIMEOUT(attach_rolls_back_when_the_hypervisor_refuses, 60)
{
	struct sim_req q = {0};
	struct sim_reply rep;
	json_object *r, *ok;
	uint32_t dom;

	broker_start(&bf, demo_policy, (const char *const[]){"--no-auto-attach", NULL});
	dom = create_domain("demo-3", 1);
	/* The simulator refuses the third range mapping (the UART's port range). */
	q.domid = dom;
	q.a32[0] = SIM_FAULT_MAP;
	q.a32[1] = 2;
	q.a32[2] = EIO;
	ASSERT_OK(simc_call(bf.sim.ctl, SIM_FAULT, &q, &rep, NULL, 0, NULL));
	r = broker_call(&bf, "{\"cmd\":\"attach\",\"domid\":1}");
	ASSERT_NOT_NULL(r);
	ASSERT_TRUE(json_object_object_get_ex(r, "ok", &ok));
	ASSERT_FALSE(json_object_get_boolean(ok));
	json_object_put(r);
	ASSERT_EQ(servers_in_use(dom), 0);
	ASSERT_EQ(processes_with_uid_range(210000, 500), 0);
	/* Once the fault is gone, the same attach works. */
	broker_result(&bf, "{\"cmd\":\"attach\",\"domid\":1}", &r);
	json_object_put(r);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 5000));
	ASSERT_EQ(broker_stop(&bf), 0);
	ASSERT_EQ(servers_in_use(dom), 0);
}

TEST_TIMEOUT(killed_device_model_is_restarted_and_serves_again, 60)
{
	json_object *keep, *d;
	pid_t pid;
	uint32_t dom;

	broker_start(&bf, demo_policy, NULL);
	dom = create_domain("demo-4", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	ASSERT_EQ(fixture_run_scenario(&bf.sim, dom, "uart.scn", NULL, 0), 0);
	d = broker_dm(&bf, dom, "uart", &keep);
	ASSERT_NOT_NULL(d);
	pid = (pid_t)jint(d, "pid");
	json_object_put(keep);
	ASSERT_EQ(kill(pid, SIGKILL), 0);
	/* Wait for the restarted one: a new pid, running again. */
	for (unsigned i = 0; i < 500; i++) {
		d = broker_dm(&bf, dom, "uart", &keep);
		if (d && jint(d, "pid") > 0 && jint(d, "pid") != pid &&
		    !strcmp(jstr(d, "state"), "running"))
			break;
		json_object_put(keep);
		d = NULL;
		util_sleep_ns(10000000);
	}
	ASSERT_NOT_NULL(d);
	ASSERT_EQ(jint(d, "restarts"), 1);
	json_object_put(keep);
	/* A fresh UART: the same scenario passes again, on the same server and ports. */
	ASSERT_EQ(fixture_run_scenario(&bf.sim, dom, "uart.scn", NULL, 0), 0);
	ASSERT_TRUE(broker_log_contains(&bf, "event crash"));
	ASSERT_TRUE(broker_log_contains(&bf, "event restart"));
	ASSERT_EQ(broker_stop(&bf), 0);
}

static const char crashloop_policy[] = POLICY_HEAD
        "\"guests\": [{\"match\": {\"name\": \"demo*\"}, \"unpause\": true,"
        " \"device_models\": [{\"name\": \"echo\", \"exec\": \"@PROGS@/echo-dm\","
        " \"args\": [\"--exit-after\", \"1\"], \"claims\": {\"ports\": [\"0x510-0x51f\"]},"
        " \"on_crash\": {\"action\": \"restart\", \"max_restarts\": %u, \"window_s\": 60,"
        " \"backoff_ms\": 10, \"backoff_max_ms\": 40, \"then\": \"%s\"}}]}]}";

static void crash_loop_n(const char *then, unsigned max_restarts)
{
	char policy[2048];
	struct scn_op op = {.kind = SCN_PIO_IN, .size = 1, .addr = 0x510, .value = 0xff, .mask = 0};
	json_object *keep, *d;
	uint32_t dom;

	snprintf(policy, sizeof(policy), crashloop_policy, max_restarts, then);
	broker_start(&bf, policy, NULL);
	dom = create_domain("demo-5", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 10000));
	/* Every access kills the device model; after max_restarts restarts the policy gives up. */
	for (unsigned i = 0; i < max_restarts + 1; i++) {
		ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 5000));
		ASSERT_EQ(fixture_run_ops(&bf.sim, dom, &op, 1, NULL, 0, NULL), 0);
	}
	if (!strcmp(then, "destroy")) {
		uint64_t deadline = util_now_ns() + 5000000000ull;
		struct hv_domain_info info;
		while (hv_domain_info(bf.sim.hv, dom, &info) == 0 && util_now_ns() < deadline)
			util_sleep_ns(10000000);
		ASSERT_ERR(hv_domain_info(bf.sim.hv, dom, &info), -ESRCH);
	} else {
		ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "failed", 5000));
		d = broker_dm(&bf, dom, "echo", &keep);
		ASSERT_EQ(jint(d, "restarts"), max_restarts);
		ASSERT_EQ(jint(d, "pid"), -1);
		json_object_put(keep);
		ASSERT_EQ(domain_paused(dom), !strcmp(then, "pause"));
	}
	ASSERT_TRUE(broker_log_contains(&bf, "event crash-loop"));
	ASSERT_EQ(broker_stop(&bf), 0);
}

static void crash_loop(const char *then)
{
	crash_loop_n(then, 2);
}

TEST_TIMEOUT(crash_loop_then_fail, 60)
{
	crash_loop("fail");
}

/* The largest max_restarts a policy may give still ends the loop (64 crashes). */
TEST_TIMEOUT(crash_loop_at_the_largest_max_restarts, 120)
{
	crash_loop_n("fail", POLICY_MAX_RESTARTS);
}

TEST_TIMEOUT(crash_loop_then_pause, 60)
{
	crash_loop("pause");
}

TEST_TIMEOUT(crash_loop_then_destroy, 60)
{
	crash_loop("destroy");
}

static const char hang_policy[] =
        POLICY_HEAD "\"guests\": [{\"match\": {\"name\": \"demo*\"}, \"unpause\": true,"
                    " \"device_models\": [{\"name\": \"hang\", \"exec\": \"@PROGS@/rogue-dm\","
                    " \"args\": [\"-m\", \"hang\"], \"claims\": {\"ports\": [\"0x510-0x51f\"]},"
                    " \"on_crash\": {\"action\": \"fail\"}}]}]}";

struct killer {
	pid_t pid;
};

static void *kill_later(void *arg)
{
	struct killer *k = arg;

	util_sleep_ns(300000000);
	kill(k->pid, SIGKILL);
	return NULL;
}

TEST_TIMEOUT(vcpu_blocked_on_a_killed_device_model_is_released_with_ones, 60)
{
	struct scn_op ops[] = {
	        {.kind = SCN_PIO_IN,
	         .size = 4,
	         .addr = 0x510,
	         .value = 0xffffffff,
	         .mask = 0xffffffff},
	        {.kind = SCN_PIO_IN, .size = 2, .addr = 0x512, .value = 0xffff, .mask = 0xffff}};
	json_object *keep, *d;
	struct killer k;
	pthread_t t;
	uint32_t dom;

	broker_start(&bf, hang_policy, NULL);
	dom = create_domain("demo-6", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 10000));
	d = broker_dm(&bf, dom, "hang", &keep);
	k.pid = (pid_t)jint(d, "pid");
	json_object_put(keep);
	ASSERT_EQ(pthread_create(&t, NULL, kill_later, &k), 0);
	/* The first read blocks on the hung device model until it is killed: all ones.
	 * The second finds the server disabled: unclaimed, all ones too. */
	ASSERT_EQ(fixture_run_ops(&bf.sim, dom, ops, 2, NULL, 0, NULL), 0);
	pthread_join(t, NULL);
	ASSERT_TRUE(broker_log_contains(&bf, "1 in-flight request answered as unclaimed"));
	ASSERT_EQ(broker_stop(&bf), 0);
}

static const char stall_policy[] =
        POLICY_HEAD "\"guests\": [{\"match\": {\"name\": \"demo*\"}, \"unpause\": true,"
                    " \"device_models\": [{\"name\": \"echo\", \"exec\": \"@PROGS@/echo-dm\","
                    " \"args\": [\"--stall-port\", \"0x51c\"],"
                    " \"claims\": {\"ports\": [\"0x510-0x51f\"]}}]}]}";

static void *restart_later(void *arg)
{
	static char out[1024];

	(void)arg;
	util_sleep_ns(300000000);
	(void)broker_ctl(&bf, out, sizeof(out),
	                 (const char *const[]){"restart", "1", "echo", NULL});
	return NULL;
}

/*
 * `dmbrokerctl restart` of a device model stuck in a request (libdmb marked
 * it in process): the stop kills it after a second, and the vCPU waiting on
 * that request is answered all ones, as after a crash; the new one serves.
 */
TEST_TIMEOUT(restart_of_a_stuck_device_model_releases_the_waiting_vcpu, 60)
{
	struct scn_op stuck = {.kind = SCN_PIO_IN,
	                       .size = 4,
	                       .addr = 0x51c,
	                       .value = 0xffffffff,
	                       .mask = 0xffffffff};
	struct scn_op fine = {.kind = SCN_PIO_IN,
	                      .size = 4,
	                      .addr = 0x510,
	                      .value = 0xcafe0510,
	                      .mask = 0xffffffff};
	json_object *keep, *d;
	pthread_t t;
	pid_t before;
	uint32_t dom;

	broker_start(&bf, stall_policy, NULL);
	dom = create_domain("demo-stall", 1);
	ASSERT_EQ(dom, 1u);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 10000));
	d = broker_dm(&bf, dom, "echo", &keep);
	before = (pid_t)jint(d, "pid");
	json_object_put(keep);
	ASSERT_EQ(pthread_create(&t, NULL, restart_later, NULL), 0);
	ASSERT_EQ(fixture_run_ops(&bf.sim, dom, &stuck, 1, NULL, 0, NULL), 0);
	pthread_join(t, NULL);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 10000));
	d = broker_dm(&bf, dom, "echo", &keep);
	ASSERT_NE(jint(d, "pid"), before);
	json_object_put(keep);
	ASSERT_EQ(fixture_run_ops(&bf.sim, dom, &fine, 1, NULL, 0, NULL), 0);
	ASSERT_EQ(broker_stop(&bf), 0);
}

static const char hostile_policy[] = POLICY_HEAD
        "\"guests\": [{\"match\": {\"name\": \"demo*\"}, \"unpause\": true,"
        " \"device_models\": [" UART ", {\"name\": \"rogue\", \"exec\": \"@PROGS@/rogue-dm\","
        " \"args\": [\"-m\", \"%s\"], \"claims\": {\"ports\": [\"0x510-0x51f\"]},"
        " \"on_crash\": {\"action\": \"fail\"}}]}]}";

static void hostile(const char *mode, const char *why)
{
	char policy[2048];
	json_object *keep, *st;
	int fds_before;
	uint32_t dom;

	snprintf(policy, sizeof(policy), hostile_policy, mode);
	broker_start(&bf, policy, (const char *const[]){"--no-auto-attach", NULL});
	fds_before = broker_fd_count(&bf);
	dom = create_domain("demo-7", 1);
	/* The rogue talks garbage instead of (or after) READY: the attach fails or it is killed. */
	json_object_put(broker_call(&bf, "{\"cmd\":\"attach\",\"domid\":1}"));
	ASSERT_TRUE(broker_wait_log(&bf, why, 5000));
	/* The rogue dies (on_crash: fail); its neighbour, the UART, goes on serving. */
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "failed", 5000));
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 5000));
	ASSERT_EQ(processes_with_uid_range(210000, 500), 1);
	ASSERT_EQ(fixture_run_scenario(&bf.sim, dom, "uart.scn", NULL, 0), 0);
	/* The broker is unharmed: it answers, and holds no more fds than before, but the
	 * two servers' (pages and ports) and the UART's channel and pipes. */
	st = broker_result(&bf, "{\"cmd\":\"status\"}", &keep);
	ASSERT_NOT_NULL(st);
	json_object_put(keep);
	ASSERT_TRUE(broker_fd_count(&bf) > fds_before);
	broker_result(&bf, "{\"cmd\":\"detach\",\"domid\":1}", &keep);
	json_object_put(keep);
	ASSERT_EQ(broker_fd_count(&bf), fds_before);
	ASSERT_EQ(processes_with_uid_range(210000, 500), 0);
	/* And another guest still gets working device models. */
	broker_write_policy(&bf, demo_policy);
	broker_result(&bf, "{\"cmd\":\"policy-reload\"}", &keep);
	json_object_put(keep);
	dom = create_domain("demo-8", 1);
	json_object_put(broker_call(&bf, "{\"cmd\":\"attach\",\"domid\":2}"));
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	ASSERT_EQ(fixture_run_scenario(&bf.sim, dom, "uart.scn", NULL, 0), 0);
	ASSERT_EQ(broker_stop(&bf), 0);
}

TEST_TIMEOUT(hostile_garbage_kills_only_that_device_model, 60)
{
	hostile("garbage", "protocol violation");
}

TEST_TIMEOUT(hostile_oversized_frames_kill_only_that_device_model, 60)
{
	hostile("oversized", "protocol violation (malformed frame)");
}

TEST_TIMEOUT(hostile_unexpected_fds_kill_only_that_device_model, 60)
{
	hostile("fds", "protocol violation (malformed frame)");
}

TEST_TIMEOUT(hostile_flood_kills_only_that_device_model, 60)
{
	hostile("flood", "protocol violation (message flood)");
}

TEST_TIMEOUT(dmop_for_a_device_it_does_not_own_is_refused, 60)
{
	static const char policy[] = POLICY_HEAD
	        "\"guests\": [{\"match\": {\"name\": \"demo*\"}, \"unpause\": true,"
	        " \"device_models\": [{\"name\": \"rogue\", \"exec\": \"@PROGS@/rogue-dm\","
	        " \"args\": [\"-m\", \"dmop-foreign\"],"
	        " \"claims\": {\"ports\": [\"0x510-0x51f\"], \"pci\": [\"00:05.0\"],"
	        " \"mmio\": [\"0xe0000000-0xe0000fff\"]}}]}]}";
	json_object *keep, *d;
	uint32_t dom;

	broker_start(&bf, policy, NULL);
	dom = create_domain("demo-9", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 10000));
	util_sleep_ns(200000000);
	d = broker_dm(&bf, dom, "rogue", &keep);
	ASSERT_EQ(jint(d, "dmops_refused"), 1);
	ASSERT_EQ(jint(d, "dmops_granted"), 0);
	ASSERT_STREQ(jstr(d, "state"), "running"); /* refused, not killed: a legal request */
	json_object_put(keep);
	ASSERT_TRUE(broker_log_contains(&bf, "dm-op bar-move refused"));
	ASSERT_EQ(broker_stop(&bf), 0);
}

/* Only MSIs a PCI function could send: vector 16 and up, fixed or lowest-priority delivery. */
TEST_TIMEOUT(msi_with_a_bad_vector_or_delivery_mode_is_refused, 60)
{
	static const char policy[] = POLICY_HEAD
	        "\"guests\": [{\"match\": {\"name\": \"demo*\"}, \"unpause\": true,"
	        " \"device_models\": [{\"name\": \"rogue\", \"exec\": \"@PROGS@/rogue-dm\","
	        " \"args\": [\"-m\", \"dmop-msi\"],"
	        " \"claims\": {\"ports\": [\"0x510-0x51f\"], \"pci\": [\"00:05.0\"]}}]}]}";
	json_object *keep, *d;
	uint32_t dom;

	broker_start(&bf, policy, NULL);
	dom = create_domain("demo-msi", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 10000));
	for (unsigned i = 0; i < 200; i++) {
		d = broker_dm(&bf, dom, "rogue", &keep);
		if (jint(d, "dmops_refused") + jint(d, "dmops_granted") == 5)
			break;
		json_object_put(keep);
		keep = NULL;
		util_sleep_ns(10000000);
	}
	ASSERT_NOT_NULL(keep);
	/* vector 0, vector 14, NMI, bit 16 set: refused; vector 0x41 edge, level bit: granted. */
	ASSERT_EQ(jint(d, "dmops_refused"), 4);
	ASSERT_EQ(jint(d, "dmops_granted"), 1);
	ASSERT_STREQ(jstr(d, "state"), "running");
	json_object_put(keep);
	ASSERT_TRUE(broker_log_contains(&bf, "dm-op msi refused: Invalid argument"));
	ASSERT_TRUE(broker_log_contains(&bf, "dm-op msi granted"));
	ASSERT_EQ(broker_stop(&bf), 0);
}

/* How many lines of the broker's log contain needle. */
static unsigned log_count(const char *needle)
{
	FILE *f = fopen(bf.log, "re");
	char line[2048];
	unsigned n = 0;

	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

/*
 * 500 interrupts in a burst (a UART raises one per byte): every one is
 * granted and counted, but the log lists 10 a second and says how many more.
 */
TEST_TIMEOUT(dmop_burst_is_counted_in_full_but_listed_ten_a_second, 60)
{
	static const char policy[] = POLICY_HEAD
	        "\"guests\": [{\"match\": {\"name\": \"demo*\"}, \"unpause\": true,"
	        " \"device_models\": [{\"name\": \"rogue\", \"exec\": \"@PROGS@/rogue-dm\","
	        " \"args\": [\"-m\", \"dmop-burst\"],"
	        " \"claims\": {\"ports\": [\"0x510-0x51f\"], \"pci\": [\"00:05.0\"]}}]}]}";
	json_object *keep = NULL, *d = NULL;
	unsigned listed, more = 0;
	uint32_t dom;

	broker_start(&bf, policy, NULL);
	dom = create_domain("demo-burst", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 10000));
	ASSERT_TRUE(broker_wait_log(&bf, "more times in the second", 5000));
	d = broker_dm(&bf, dom, "rogue", &keep);
	ASSERT_EQ(jint(d, "dmops_granted"), 500);
	ASSERT_STREQ(jstr(d, "state"), "running");
	json_object_put(keep);
	listed = log_count("dm-op msi granted\n");
	{
		FILE *f = fopen(bf.log, "re");
		char line[2048];
		unsigned n;
		const char *p;

		while (f && fgets(line, sizeof(line), f))
			if ((p = strstr(line, "dm-op msi granted ")) &&
			    sscanf(p, "dm-op msi granted %u more", &n) == 1)
				more += n;
		if (f)
			fclose(f);
	}
	fprintf(stderr, "# %u listed, %u counted in summaries\n", listed, more);
	ASSERT_GE(listed, 10u);
	ASSERT_LE(listed, 60u); /* 10 a second: the burst takes well under a few seconds */
	ASSERT_EQ(listed + more, 500u);
	ASSERT_EQ(broker_stop(&bf), 0);
}

TEST_TIMEOUT(bar_move_inside_the_pci_hole_is_granted_outside_refused, 60)
{
	json_object *keep, *d, *claims, *mmio;
	uint32_t dom;

	broker_start(&bf, demo_policy, NULL);
	dom = create_domain("demo-10", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	ASSERT_EQ(fixture_run_scenario(&bf.sim, dom, "barmove.scn", NULL, 0), 0);
	d = broker_dm(&bf, dom, "pcitest", &keep);
	ASSERT_TRUE(json_object_object_get_ex(d, "claims", &claims));
	ASSERT_TRUE(json_object_object_get_ex(claims, "mmio", &mmio));
	ASSERT_STREQ(json_object_get_string(json_object_array_get_idx(mmio, 0)),
	             "0xe0100000-0xe0100fff");
	ASSERT_EQ(jint(d, "dmops_granted"), 1);
	ASSERT_GE(jint(d, "dmops_refused"), 1);
	json_object_put(keep);
	ASSERT_EQ(broker_stop(&bf), 0);
}

static int connect_as(const char *path, uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
                      char *reply, size_t len)
{
	int p[2], status;
	pid_t pid;
	ssize_t n;

	ASSERT_EQ(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		char buf[256] = "";
		int fd;

		close(p[0]);
		if (setgroups((size_t)ngroups, groups) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(10);
		if (util_strcpy(sa.sun_path, sizeof(sa.sun_path), path) < 0)
			_exit(12);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(errno == EACCES ? 13 : 11);
		(void)!send(fd, "{\"cmd\":\"status\"}\n", 17, MSG_NOSIGNAL);
		n = read(fd, buf, sizeof(buf) - 1);
		(void)!write(p[1], buf, n > 0 ? (size_t)n : 0);
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], reply, len - 1);
	reply[n > 0 ? n : 0] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	return WEXITSTATUS(status);
}

TEST_TIMEOUT(control_socket_refuses_users_outside_the_admin_group, 60)
{
	struct group *adm = getgrnam("adm");
	gid_t admgid = adm ? adm->gr_gid : 4;
	char reply[256];

	broker_start(&bf, demo_policy, (const char *const[]){"--admin-group", "adm", NULL});
	/* Let anyone reach the directory: only the socket's own checks are under test. */
	ASSERT_EQ(chmod(test_tmpdir(), 0755), 0);
	/* The socket's mode already keeps others out ... */
	ASSERT_EQ(connect_as(bf.ctl, 65534, 65534, NULL, 0, reply, sizeof(reply)), 13);
	/* ... and SO_PEERCRED does too, even when the file mode would let them in. */
	ASSERT_EQ(chmod(bf.ctl, 0666), 0);
	ASSERT_EQ(connect_as(bf.ctl, 65534, 65534, NULL, 0, reply, sizeof(reply)), 0);
	ASSERT_CONTAINS(reply, "permission denied");
	/* dmbrokerctl run by such a user says so (it is not killed by SIGPIPE first). */
	{
		char exe[400], out[512];
		int p[2], status;
		ssize_t n;
		pid_t pid;

		char src[400], cmd[1400];

		/* A copy in the test's directory: the build tree may not be reachable for nobody.
		 */
		snprintf(src, sizeof(src), "%s/bin/dmbrokerctl", test_builddir());
		snprintf(exe, sizeof(exe), "%s/dmbrokerctl", test_tmpdir());
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 755 '%s'", src, exe, exe);
		ASSERT_EQ(system(cmd), 0);
		ASSERT_EQ(pipe(p), 0);
		pid = fork();
		if (pid == 0) {
			if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
			    setresuid(65534, 65534, 65534) < 0 || dup2(p[1], 1) < 0 ||
			    dup2(p[1], 2) < 0)
				_exit(120);
			execl(exe, "dmbrokerctl", "--socket", bf.ctl, "status", (char *)NULL);
			_exit(121);
		}
		close(p[1]);
		n = read(p[0], out, sizeof(out) - 1);
		out[n > 0 ? n : 0] = '\0';
		close(p[0]);
		ASSERT_EQ(waitpid(pid, &status, 0), pid);
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(WEXITSTATUS(status), 1);
		ASSERT_CONTAINS(out, "permission denied");
	}
	/* A member of the admin group, by supplementary group, is let in. */
	ASSERT_EQ(connect_as(bf.ctl, 65534, 65534, &admgid, 1, reply, sizeof(reply)), 0);
	ASSERT_CONTAINS(reply, "\"ok\":true");
	ASSERT_TRUE(broker_log_contains(&bf, "control: refused uid 65534"));
	ASSERT_EQ(broker_stop(&bf), 0);
}

/* The broker's resident memory, from /proc/PID/status, in KiB. */
static long broker_rss_kib(void)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)bf.pid);
	f = fopen(path, "re");
	ASSERT_NOT_NULL(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/*
 * A control client that writes requests and never reads the replies: the
 * broker stops reading from it once about 1 MiB of replies wait, instead of
 * buffering them without bound, and answers every request once it reads.
 */
TEST_TIMEOUT(control_client_that_does_not_read_is_not_buffered_for_without_bound, 120)
{
	static const char req[] = "{\"cmd\": \"events\", \"last\": 1024}\n";
	char buf[65536];
	unsigned sent = 0, replies = 0;
	long rss0, rss1;
	uint64_t deadline;
	json_object *st;
	uint32_t dom;
	int fd;

	broker_start(&bf, demo_policy, NULL);
	dom = create_domain("demo-flood", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000)); /* events to list */
	rss0 = broker_rss_kib();
	fd = util_unix_connect(bf.ctl, SOCK_STREAM);
	ASSERT_GE(fd, 0);
	ASSERT_OK(util_set_nonblock(fd, true));
	/* Up to 40000 requests (about 1 GB of replies): write until the broker stops taking them.
	 */
	deadline = util_now_ns() + 3000000000ull;
	while (sent < 40000 && util_now_ns() < deadline) {
		ssize_t n = write(fd, req, sizeof(req) - 1);

		if (n == (ssize_t)sizeof(req) - 1) {
			sent++;
			deadline = util_now_ns() +
			           1000000000ull; /* give up after 1 s without progress */
		} else {
			ASSERT_TRUE(n < 0 && errno == EAGAIN); /* lines are far below PIPE_BUF */
			util_sleep_ns(1000000);
		}
	}
	rss1 = broker_rss_kib();
	fprintf(stderr,
	        "# %u requests taken before the broker stopped reading; RSS %ld -> %ld KiB\n", sent,
	        rss0, rss1);
	ASSERT_LT(sent, 40000u);
	ASSERT_LT(rss1 - rss0, 32 * 1024);
	/* Others are still served meanwhile. */
	st = broker_result(&bf, "{\"cmd\": \"status\"}", &st);
	ASSERT_NOT_NULL(st);
	/* Now read: every request taken gets its reply, one line each. */
	ASSERT_OK(util_set_nonblock(fd, false));
	while (replies < sent) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		ASSERT_EQ(poll(&p, 1, 10000), 1);
		n = read(fd, buf, sizeof(buf));
		ASSERT_GT(n, 0);
		for (ssize_t i = 0; i < n; i++)
			replies += buf[i] == '\n';
	}
	ASSERT_EQ(replies, sent);
	close(fd);
	ASSERT_EQ(broker_stop(&bf), 0);
}

static const char deaf_policy[] = POLICY_HEAD
        "\"guests\": [{\"match\": {\"name\": \"demo*\"}, \"unpause\": true,"
        " \"device_models\": [{\"name\": \"deaf\", \"exec\": \"@PROGS@/rogue-dm\","
        " \"args\": [\"-m\", \"deaf\"], \"claims\": {\"ports\": [\"0x510-0x51f\"]}}]}]}";

/*
 * A busy device model reads its channel only when it has nothing else to do.
 * The broker asks for stats every second but keeps one request outstanding:
 * were they to pile up, the socket's send buffer would fill and the reply to
 * the device model's next DM-op would not fit (and it would be killed).
 */
TEST_TIMEOUT(stats_requests_do_not_pile_up_for_a_busy_device_model, 60)
{
	uint32_t dom;

	broker_start(&bf, deaf_policy, NULL);
	dom = create_domain("demo-deaf", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 10000));
	ASSERT_TRUE(broker_wait_log(&bf, "stats requests waiting", 10000));
	/* Three or four seconds deaf: one request, not three or four. */
	ASSERT_TRUE(broker_log_contains(&bf, "rogue-dm: 1 stats requests waiting"));
	ASSERT_FALSE(broker_log_contains(&bf, "protocol violation"));
	ASSERT_EQ(broker_stop(&bf), 0);
}

/* Every fd the broker holds beyond 0-2 is close-on-exec, control clients' included. */
TEST_TIMEOUT(every_broker_fd_is_cloexec, 60)
{
	char dir[64], path[400], line[128];
	unsigned checked = 0;
	struct dirent *de;
	uint32_t dom;
	DIR *d;
	int client;

	broker_start(&bf, demo_policy, NULL);
	dom = create_domain("demo-cloexec", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	client = util_unix_connect(bf.ctl, SOCK_STREAM);
	ASSERT_GE(client, 0);
	ASSERT_TRUE(broker_wait_log(&bf, "event ready", 1000)); /* and it has accepted us by now: */
	{
		json_object *keep, *r = broker_result(&bf, "{\"cmd\": \"status\"}", &keep);

		ASSERT_NOT_NULL(r);
		json_object_put(keep);
	}
	snprintf(dir, sizeof(dir), "/proc/%d/fdinfo", (int)bf.pid);
	d = opendir(dir);
	ASSERT_NOT_NULL(d);
	while ((de = readdir(d))) {
		unsigned long flags = 0;
		int fd = atoi(de->d_name);
		FILE *f;

		if (de->d_name[0] == '.' || fd <= 2)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue; /* closed meanwhile */
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "flags: %lo", &flags) == 1)
				break;
		fclose(f);
		if (!(flags & 02000000)) {
			char link[400] = "", target[300] = "";

			snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)bf.pid, fd);
			(void)!readlink(link, target, sizeof(target) - 1);
			test_fail(__FILE__, __LINE__,
			          "broker fd %d (%s, flags 0%lo) is not CLOEXEC", fd, target,
			          flags);
		}
		checked++;
	}
	closedir(d);
	fprintf(stderr, "# %u broker fds checked\n", checked);
	ASSERT_GT(checked, 10u);
	close(client);
	ASSERT_EQ(broker_stop(&bf), 0);
}

TEST_TIMEOUT(domain_death_stops_its_device_models_and_frees_their_uids, 60)
{
	json_object *keep, *d;
	pid_t pid;
	uint32_t dom;

	broker_start(&bf, demo_policy, NULL);
	dom = create_domain("demo-11", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	d = broker_dm(&bf, dom, "uart", &keep);
	pid = (pid_t)jint(d, "pid");
	json_object_put(keep);
	ASSERT_OK(hv_domain_destroy(bf.sim.hv, dom));
	for (unsigned i = 0; i < 500 && process_exists(pid); i++)
		util_sleep_ns(10000000);
	ASSERT_FALSE(process_exists(pid));
	/* The others go too (on a slow machine, a little after this one). */
	for (unsigned i = 0; i < 500 && processes_with_uid_range(210000, 500); i++)
		util_sleep_ns(10000000);
	ASSERT_EQ(processes_with_uid_range(210000, 500), 0);
	ASSERT_TRUE(broker_log_contains(&bf, "event domain-gone"));
	ASSERT_EQ(broker_stop(&bf), 0);
}

TEST_TIMEOUT(sigterm_with_stop_on_exit_stops_device_models_and_destroys_servers, 60)
{
	uint32_t dom;

	broker_start(&bf, demo_policy, NULL);
	dom = create_domain("demo-12", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	ASSERT_EQ(servers_in_use(dom), 3);
	kill(bf.pid, SIGTERM);
	{
		int status;
		ASSERT_EQ(waitpid(bf.pid, &status, 0), bf.pid);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		bf.pid = 0;
	}
	ASSERT_EQ(servers_in_use(dom), 0);
	ASSERT_EQ(processes_with_uid_range(210000, 500), 0);
	fixture_sim_stop(&bf.sim);
}

static unsigned zombies_of(pid_t parent)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	unsigned n = 0;

	while (d && (de = readdir(d))) {
		char path[300], buf[512];
		FILE *f;
		int ppid;
		char state;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			char *p = strrchr(buf, ')');
			if (p && sscanf(p + 2, "%c %d", &state, &ppid) == 2 && ppid == parent &&
			    state == 'Z')
				n++;
		}
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

TEST_TIMEOUT(thousand_attach_detach_cycles_leak_nothing, 600)
{
	static const char policy[] = POLICY_HEAD
	        "\"guests\": [{\"match\": {\"name\": \"cyc*\"},"
	        " \"device_models\": [{\"name\": \"echo\", \"exec\": \"@PROGS@/echo-dm\","
	        " \"claims\": {\"ports\": [\"0x510-0x51f\"]}}]}]}";
	int fds_before = -1;
	uint32_t dom;

	broker_start(&bf, policy, (const char *const[]){"--no-auto-attach", NULL});
	dom = create_domain("cycle", 1);
	for (unsigned i = 0; i < 1000; i++) {
		char req[96];
		json_object *keep;

		snprintf(req, sizeof(req), "{\"cmd\":\"attach\",\"domid\":%u}", dom);
		broker_result(&bf, req, &keep);
		json_object_put(keep);
		snprintf(req, sizeof(req), "{\"cmd\":\"detach\",\"domid\":%u}", dom);
		broker_result(&bf, req, &keep);
		json_object_put(keep);
		if (i == 9)
			fds_before = broker_fd_count(&bf);
	}
	ASSERT_EQ(broker_fd_count(&bf), fds_before);
	ASSERT_EQ(zombies_of(bf.pid), 0);
	ASSERT_EQ(servers_in_use(dom), 0);
	ASSERT_EQ(processes_with_uid_range(210000, 500), 0);
	ASSERT_EQ(broker_stop(&bf), 0);
}

TEST_TIMEOUT(dmbrokerctl_commands_and_exit_codes, 60)
{
	char out[8192];
	uint32_t dom;

	/* Not running: a clear message and exit 3. */
	ASSERT_EQ(broker_ctl(NULL, out, sizeof(out), (const char *const[]){"status", NULL}), 3);
	ASSERT_CONTAINS(out, "is it running?");
	ASSERT_EQ(broker_ctl(NULL, out, sizeof(out), (const char *const[]){"frobnicate", NULL}), 2);
	ASSERT_CONTAINS(out, "usage:");
	ASSERT_EQ(broker_ctl(NULL, out, sizeof(out),
	                     (const char *const[]){"events", "--follow", NULL}),
	          3);
	ASSERT_CONTAINS(out, "is it running?");
	ASSERT_EQ(broker_ctl(NULL, out, sizeof(out),
	                     (const char *const[]){"events", "--last", "2000", NULL}),
	          2);
	ASSERT_CONTAINS(out, "N from 0 to 1024");
	broker_start(&bf, demo_policy, NULL);
	/* The daemon refuses a bad "last" instead of quietly using its default. */
	{
		json_object *rep = broker_call(&bf, "{\"cmd\":\"events\",\"last\":5000}");
		ASSERT_NOT_NULL(rep);
		ASSERT_CONTAINS(json_object_to_json_string(rep), "last: an integer from 0 to 1024");
		json_object_put(rep);
	}
	dom = create_domain("demo-13", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out), (const char *const[]){"status", NULL}), 0);
	ASSERT_CONTAINS(out, "device_models_running");
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out), (const char *const[]){"domains", NULL}), 0);
	ASSERT_CONTAINS(out, "demo-13");
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out), (const char *const[]){"dms", "1", NULL}), 0);
	ASSERT_CONTAINS(out, "ports 0x3f8-0x3ff");
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out), (const char *const[]){"--json", "dms", NULL}),
	          0);
	ASSERT_CONTAINS(out, "\"pid\"");
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out), (const char *const[]){"dms", "7", NULL}), 1);
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out), (const char *const[]){"dms", "x", NULL}), 2);
	ASSERT_EQ(fixture_run_scenario(&bf.sim, dom, "uart.scn", NULL, 0), 0);
	ASSERT_EQ(
	        broker_ctl(&bf, out, sizeof(out), (const char *const[]){"logs", "1", "uart", NULL}),
	        0);
	ASSERT_CONTAINS(out, "guest: hello");
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out),
	                     (const char *const[]){"restart", "1", "uart", NULL}),
	          0);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 5000));
	ASSERT_EQ(
	        broker_ctl(&bf, out, sizeof(out), (const char *const[]){"policy", "reload", NULL}),
	        0);
	ASSERT_CONTAINS(out, "unchanged");
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out), (const char *const[]){"detach", "1", NULL}), 0);
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out), (const char *const[]){"detach", "1", NULL}), 1);
	ASSERT_CONTAINS(out, "not attached");
	ASSERT_EQ(broker_stop(&bf), 0);
}

/* Send one request line on fd and read one reply line. */
static void request_line(int fd, const char *req, char *buf, size_t len)
{
	size_t got = 0;

	ASSERT_OK(util_write_all(fd, req, strlen(req)));
	while (got < len - 1) {
		ssize_t n = read(fd, buf + got, 1);

		ASSERT_EQ(n, 1);
		if (buf[got++] == '\n')
			break;
	}
	buf[got] = '\0';
}

/* Followers are capped (16), and one connection cannot take more than one slot. */
TEST_TIMEOUT(event_followers_are_capped_one_per_connection, 60)
{
	static const char follow[] = "{\"cmd\": \"events\", \"follow\": true, \"last\": 0}\n";
	char reply[4096];
	int fds[17];

	broker_start(&bf, demo_policy, NULL);
	fds[0] = util_unix_connect(bf.ctl, SOCK_STREAM);
	ASSERT_GE(fds[0], 0);
	request_line(fds[0], follow, reply, sizeof(reply));
	ASSERT_CONTAINS(reply, "\"ok\":true");
	request_line(fds[0], follow, reply, sizeof(reply));
	ASSERT_CONTAINS(reply, "follows the events already");
	for (unsigned i = 1; i < 17; i++) {
		fds[i] = util_unix_connect(bf.ctl, SOCK_STREAM);
		ASSERT_GE(fds[i], 0);
		request_line(fds[i], follow, reply, sizeof(reply));
		if (i < 16)
			ASSERT_CONTAINS(reply, "\"ok\":true");
		else
			ASSERT_CONTAINS(reply, "too many event followers");
	}
	/* A slot frees when its connection goes. */
	close(fds[3]);
	util_sleep_ns(100000000);
	request_line(fds[16], follow, reply, sizeof(reply));
	ASSERT_CONTAINS(reply, "\"ok\":true");
	for (unsigned i = 0; i < 17; i++)
		if (i != 3)
			close(fds[i]);
	ASSERT_EQ(broker_stop(&bf), 0);
}

TEST_TIMEOUT(events_follow_streams_crash_and_restart_and_metrics_count_them, 60)
{
	char out[32768], path[300];
	json_object *keep, *d;
	pid_t follower, pid;
	int p[2], status;
	size_t got = 0;
	uint32_t dom;

	broker_start(&bf, demo_policy, NULL);
	dom = create_domain("demo-14", 1);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	/* Past events: the attach, the placement decision, every device model ready. */
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out), (const char *const[]){"events", NULL}), 0);
	ASSERT_CONTAINS(out, "\"event\":\"placement\"");
	ASSERT_CONTAINS(out, "\"event\":\"attached\"");
	ASSERT_CONTAINS(out, "\"event\":\"ready\",\"domid\":1");
	/* A follower sees the crash and the restart as they happen, one JSON object a line. */
	ASSERT_EQ(pipe(p), 0);
	follower = fork();
	if (follower == 0) {
		char exe[300];
		snprintf(exe, sizeof(exe), "%s/bin/dmbrokerctl", test_builddir());
		dup2(p[1], 1);
		execl(exe, "dmbrokerctl", "--socket", bf.ctl, "events", "--follow", "--last", "0",
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	util_sleep_ns(200000000);
	d = broker_dm(&bf, dom, "uart", &keep);
	pid = (pid_t)jint(d, "pid");
	json_object_put(keep);
	ASSERT_EQ(kill(pid, SIGKILL), 0);
	util_sleep_ns(300000000);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 5000));
	util_sleep_ns(200000000);
	kill(follower, SIGTERM);
	waitpid(follower, &status, 0);
	for (ssize_t n; (n = read(p[0], out + got, sizeof(out) - 1 - got)) > 0;)
		got += (size_t)n;
	out[got] = '\0';
	close(p[0]);
	ASSERT_CONTAINS(out,
	                "\"event\":\"crash\",\"domid\":1,\"domain\":\"demo-14\",\"dm\":\"uart\"");
	ASSERT_CONTAINS(out, "\"event\":\"restart\"");
	ASSERT_FALSE(strstr(out, "\"event\":\"placement\"")); /* --last 0: only new ones */
	/* Metrics: OpenMetrics text, ending in # EOF, counting what just happened. */
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out), (const char *const[]){"metrics", NULL}), 0);
	ASSERT_CONTAINS(out, "dmbroker_device_models{state=\"running\"} 3\n");
	ASSERT_CONTAINS(out, "dmbroker_device_model_restarts_total{domid=\"1\",domain=\"demo-14\","
	                     "dm=\"uart\"} 1\n");
	ASSERT_CONTAINS(out, "dmbroker_events_total{event=\"crash\"} 1\n");
	ASSERT_CONTAINS(out, "dmbroker_launch_seconds_count 4\n");
	ASSERT_CONTAINS(out, "# TYPE dmbroker_handoff_seconds histogram\n");
	ASSERT_CONTAINS(out, "dmbroker_open_fds ");
	ASSERT_CONTAINS(out, "\n# EOF\n");
	snprintf(path, sizeof(path), "%s", out + strlen(out) - 6);
	ASSERT_STREQ(path, "# EOF\n");
	ASSERT_EQ(broker_stop(&bf), 0);
}
