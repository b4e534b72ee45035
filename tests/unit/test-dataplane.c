/* SPDX-License-Identifier: MIT */
/* The guest I/O path end to end: simulated vCPUs -> libdmb device models -> vCPUs. */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/test.h"
#include "tests/unit/fixture.h"

static struct scn_op op(unsigned kind, unsigned vcpu, unsigned size, uint64_t addr, uint64_t val)
{
	struct scn_op o = {.kind = (uint16_t)kind,
	                   .vcpu = (uint8_t)vcpu,
	                   .size = (uint8_t)size,
	                   .addr = addr,
	                   .value = val};
	o.mask = size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
	return o;
}

TEST(echo_port_mmio_pci_roundtrip)
{
	struct sim_fixture f;
	struct test_dm_spec spec = {.exe = "progs/echo-dm"};
	struct test_dm dm, *dms[] = {&dm};
	uint32_t dom;
	struct scn_op ops[] = {
	        op(SCN_PIO_IN, 0, 4, 0x510, 0xcafe0510),
	        op(SCN_PIO_OUT, 0, 2, 0x512, 0x1234),
	        op(SCN_PIO_IN, 0, 2, 0x512, 0x1234),
	        op(SCN_MMIO_READ, 0, 8, 0xe0000008, 0xbeef0008),
	        op(SCN_MMIO_WRITE, 0, 8, 0xe0000010, 0x1122334455667788ull),
	        op(SCN_MMIO_READ, 0, 8, 0xe0000010, 0x1122334455667788ull),
	        op(SCN_PIO_IN, 0, 1, 0x600, 0xff), /* unclaimed */
	        op(SCN_MMIO_READ, 0, 4, 0xd0000000, 0xffffffff),
	};

	fixture_sim_start(&f);
	dom = fixture_domain_create(&f, "echo", 1, 0);
	spec_port(&spec, 0x510, 0x51f);
	spec_mmio(&spec, 0xe0000000, 0xe0000fff);
	ASSERT_OK(test_dm_launch(&f, dom, &spec, &dm));
	ASSERT_EQ(fixture_run_ops(&f, dom, ops, sizeof(ops) / sizeof(ops[0]), dms, 1, NULL), 0);
	ASSERT_EQ(test_dm_stop(&f, &dm), 0);
	fixture_sim_stop(&f);
}

static struct sim_fixture fx;

static uint32_t start_echo(struct test_dm *dm, const char *name, unsigned vcpus, uint32_t flags,
                           unsigned bufioreq, uint32_t poll_us)
{
	struct test_dm_spec spec = {
	        .exe = "progs/echo-dm", .bufioreq = bufioreq, .poll_us = poll_us};
	uint32_t dom;

	fixture_sim_start(&fx);
	dom = fixture_domain_create(&fx, name, vcpus, flags);
	spec_port(&spec, 0x510, 0x51f);
	spec_port(&spec, 0x5fc, 0x5ff);
	spec_mmio(&spec, 0xa0000, 0xbffff);
	spec_mmio(&spec, 0xe0000000, 0xe0000fff);
	ASSERT_OK(test_dm_launch(&fx, dom, &spec, dm));
	return dom;
}

TEST(four_vcpus_concurrently)
{
	struct test_dm dm, *dms[] = {&dm};
	struct scn_op ops[4 * 200];
	unsigned n = 0;
	uint32_t dom = start_echo(&dm, "four", 4, 0, 0, 0);

	/* Every vCPU writes and reads back its own port, interleaved with the others. */
	for (unsigned i = 0; i < 100; i++)
		for (unsigned v = 0; v < 4; v++) {
			ops[n++] = op(SCN_PIO_OUT, v, 4, 0x510 + 4 * v, i * 16 + v);
			ops[n++] = op(SCN_PIO_IN, v, 4, 0x510 + 4 * v, i * 16 + v);
		}
	ASSERT_EQ(fixture_run_ops(&fx, dom, ops, n, dms, 1, NULL), 0);
	ASSERT_EQ(test_dm_stop(&fx, &dm), 0);
	fixture_sim_stop(&fx);
}

TEST(buffered_writes_land_before_a_synchronous_read)
{
	struct test_dm dm, *dms[] = {&dm};
	struct sim_domain_stats st;
	struct scn_op ops[64];
	unsigned n = 0;
	uint32_t dom = start_echo(&dm, "vga", 1, SIM_DOMAIN_F_STDVGA, 2 /* ATOMIC */, 0);

	/* VGA-memory writes go through the buffered ring (stdvga); the read is synchronous. */
	for (unsigned i = 0; i < 20; i++)
		ops[n++] = op(SCN_MMIO_WRITE, 0, i % 2 ? 8 : 4, 0xa0000 + 8 * i, 0x1000 + i);
	for (unsigned i = 0; i < 20; i++)
		ops[n++] = op(SCN_MMIO_READ, 0, i % 2 ? 8 : 4, 0xa0000 + 8 * i, 0x1000 + i);
	ASSERT_EQ(fixture_run_ops(&fx, dom, ops, n, dms, 1, NULL), 0);
	ASSERT_OK(fixture_domain_stats(&fx, dom, &st));
	ASSERT_EQ(st.buffered_sent, 20);
	ASSERT_EQ(st.ioreqs_sent, 20); /* only the reads were synchronous */
	ASSERT_EQ(test_dm_stop(&fx, &dm), 0);
	fixture_sim_stop(&fx);
}

TEST(invalidate_and_timeoffset_reach_the_device_model)
{
	struct test_dm dm, *dms[] = {&dm};
	struct sim_req q = {0};
	struct sim_reply rep;
	struct scn_op ops[] = {op(SCN_PIO_IN, 0, 4, 0x5fc, (uint64_t)42 << 8 | 1)};
	uint64_t val = 0;
	uint32_t dom = start_echo(&dm, "inv", 1, 0, 1 /* LEGACY */, 0);

	q.domid = dom;
	ASSERT_OK(simc_call(fx.ctl, SIM_INVALIDATE, &q, &rep, NULL, 0, NULL));
	q.a64[0] = 42;
	ASSERT_OK(simc_call(fx.ctl, SIM_TIMEOFFSET, &q, &rep, NULL, 0, NULL));
	/* The synchronous read drains the ring first, so the offset is there. */
	ASSERT_EQ(fixture_run_ops(&fx, dom, ops, 1, dms, 1, &val), 0);
	ASSERT_EQ_U(val, (uint64_t)42 << 8 | 1);
	ASSERT_EQ(test_dm_stop(&fx, &dm), 0);
	fixture_sim_stop(&fx);
}

TEST(ninth_server_refused)
{
	struct test_dm dm[9];
	struct test_dm_spec spec = {.exe = "progs/echo-dm"};
	uint32_t dom;

	fixture_sim_start(&fx);
	dom = fixture_domain_create(&fx, "nine", 1, 0);
	for (unsigned i = 0; i < 8; i++) {
		spec.claims.n[DMP_CLAIM_PORT] = 0;
		spec_port(&spec, 0x700 + i, 0x700 + i);
		ASSERT_OK(test_dm_launch(&fx, dom, &spec, &dm[i]));
		ASSERT_EQ(dm[i].server, i);
	}
	spec.claims.n[DMP_CLAIM_PORT] = 0;
	spec_port(&spec, 0x708, 0x708);
	ASSERT_ERR(test_dm_launch(&fx, dom, &spec, &dm[8]), -ENOSPC);
	for (unsigned i = 0; i < 8; i++)
		ASSERT_EQ(test_dm_stop(&fx, &dm[i]), 0);
	fixture_sim_stop(&fx);
}

static void rogue(const char *mode, bool crashes)
{
	const char *args[] = {"-m", mode, NULL};
	struct test_dm_spec spec = {.exe = "progs/rogue-dm", .argv = args};
	struct test_dm bad, good, *dms_bad[] = {&bad}, *dms_good[] = {&good};
	struct scn_op ops[] = {op(SCN_PIO_IN, 0, 2, 0x510, 0x600d),
	                       op(SCN_PIO_IN, 0, 2, 0x510, 0x600d)};
	struct sim_domain_stats st;
	uint32_t d1, d2;

	fixture_sim_start(&fx);
	d1 = fixture_domain_create(&fx, "victim", 1, 0);
	d2 = fixture_domain_create(&fx, "bystander", 1, 0);
	spec_port(&spec, 0x510, 0x51f);
	ASSERT_OK(test_dm_launch(&fx, d1, &spec, &bad));
	args[1] = "good";
	ASSERT_OK(test_dm_launch(&fx, d2, &spec, &good));
	ASSERT_NE(fixture_run_ops(&fx, d1, ops, 2, dms_bad, 1, NULL), 0);
	ASSERT_OK(fixture_domain_stats(&fx, d1, &st));
	ASSERT_EQ(st.crashed, crashes);
	/* Only that domain: the other one's device model still serves. */
	ASSERT_EQ(fixture_run_ops(&fx, d2, ops, 2, dms_good, 1, NULL), 0);
	ASSERT_OK(fixture_domain_stats(&fx, d2, &st));
	ASSERT_EQ(st.crashed, 0);
	kill(bad.pid, SIGKILL);
	kill(good.pid, SIGKILL);
	test_dm_stop(&fx, &bad);
	test_dm_stop(&fx, &good);
	fixture_sim_stop(&fx);
}

TEST(state_going_backwards_crashes_only_that_domain)
{
	rogue("backwards", true);
}

TEST(unknown_state_crashes_only_that_domain)
{
	rogue("unknown", true);
}

TEST(scribbled_event_channel_crashes_only_that_domain)
{
	rogue("eport", true);
}

TEST(slot_reset_to_none_completes_with_ones)
{
	/* Xen's wait_for_io treats NONE as an emulator dying mid-request: all ones, no crash. */
	rogue("none", false);
}

static int released;

static void *release_when_dead(void *arg)
{
	struct test_dm *dm = arg;
	int status;

	waitpid(dm->pid, &status, 0);
	dm->pid = -1;
	released = hv_release_inflight(dm->pages, dm->ports);
	return NULL;
}

TEST(device_model_killed_mid_request_vcpu_released_with_ones)
{
	const char *args[] = {"--exit-after", "2", NULL};
	struct test_dm_spec spec = {.exe = "progs/echo-dm", .argv = args};
	struct test_dm dm, *dms[] = {&dm};
	struct scn_op ops[] = {op(SCN_PIO_IN, 0, 4, 0x510, 0xcafe0510),
	                       op(SCN_PIO_IN, 0, 4, 0x510, 0xffffffff)};
	uint64_t vals[2] = {0};
	pthread_t t;
	uint32_t dom;

	fixture_sim_start(&fx);
	dom = fixture_domain_create(&fx, "killed", 1, 0);
	spec_port(&spec, 0x510, 0x51f);
	ASSERT_OK(test_dm_launch(&fx, dom, &spec, &dm));
	/* The broker's part: notice the death, then answer the request it left in flight. */
	ASSERT_EQ(pthread_create(&t, NULL, release_when_dead, &dm), 0);
	ASSERT_EQ(fixture_run_ops(&fx, dom, ops, 2, dms, 1, vals), 0);
	ASSERT_EQ_U(vals[1], 0xffffffff);
	pthread_join(t, NULL);
	ASSERT_EQ(released, 1);
	test_dm_stop(&fx, &dm);
	fixture_sim_stop(&fx);
}
