/* SPDX-License-Identifier: MIT */
/* The guest I/O path end to end: simulated vCPUs -> libdmb device models -> vCPUs. */
#include "tests/test.h"
#include "tests/unit/fixture.h"

static struct scn_op op(unsigned kind, unsigned vcpu, unsigned size, uint64_t addr, uint64_t val)
{
	struct scn_op o = {.kind = (uint16_t)kind, .vcpu = (uint8_t)vcpu, .size = (uint8_t)size,
			   .addr = addr, .value = val};
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
		op(SCN_PIO_IN, 0, 1, 0x600, 0xff),           /* unclaimed */
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
