/* SPDX-License-Identifier: MIT */
/*
 * The device models on the simulator, driven by the scenario files a real
 * Xen guest runs too: one or several device models per domain, one or more
 * vCPUs, with and without polling, unclaimed I/O, buffered writes, the
 * 8-server limit, and device models that break the ioreq protocol.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/test.h"
#include "tests/unit/fixture.h"

static const char *const uart_args[] = {"--port", "0x3f8", "--irq", "4", NULL};
static const char *const pcitest_args[] = {"--bdf", "00:03.0", "--bar0", "0xe0000000", NULL};
static const char *const hostbridge_args[] = {"--bdf", "00:00.0", NULL};

static void spec_uart(struct test_dm_spec *s, uint32_t poll_us)
{
	*s = (struct test_dm_spec){.exe = "dm-uart", .argv = uart_args, .poll_us = poll_us};
	spec_port(s, 0x3f8, 0x3ff);
}

static void spec_pcitest(struct test_dm_spec *s, uint32_t poll_us)
{
	*s = (struct test_dm_spec){.exe = "dm-pcitest", .argv = pcitest_args, .poll_us = poll_us};
	spec_pci(s, "00:03.0");
	spec_mmio(s, 0xe0000000, 0xe0000fff);
}

static void spec_hostbridge(struct test_dm_spec *s, uint32_t poll_us)
{
	*s = (struct test_dm_spec){
	        .exe = "dm-hostbridge", .argv = hostbridge_args, .poll_us = poll_us};
	spec_port(s, 0xcf8, 0xcfb);
	spec_pci(s, "00:00.0");
}

static bool file_contains(const char *path, const char *needle)
{
	char buf[8192] = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && strstr(buf, needle) != NULL;
}

TEST(uart_scenario)
{
	struct sim_fixture f;
	struct test_dm_spec s;
	struct test_dm uart, *dms[] = {&uart};
	char log[300];
	uint32_t dom;

	fixture_sim_start(&f);
	dom = fixture_domain_create(&f, "uart", 1, 0);
	spec_uart(&s, 0);
	snprintf(log, sizeof(log), "%s/uart.log", test_tmpdir());
	s.log_path = log;
	ASSERT_OK(test_dm_launch(&f, dom, &s, &uart));
	ASSERT_EQ(fixture_run_scenario(&f, dom, "uart.scn", dms, 1), 0);
	ASSERT_EQ(test_dm_stop(&f, &uart), 0);
	/* The guest's output became a log line of the device model. */
	ASSERT_TRUE(file_contains(log, "guest: hello"));
	fixture_sim_stop(&f);
}

static void run_three(const char *file, unsigned vcpus, uint32_t poll_us)
{
	struct sim_fixture f;
	struct test_dm_spec s;
	struct test_dm hb, uart, pt, *dms[] = {&hb, &uart, &pt};
	uint32_t dom;

	fixture_sim_start(&f);
	dom = fixture_domain_create(&f, "three", vcpus, 0);
	spec_hostbridge(&s, poll_us);
	ASSERT_OK(test_dm_launch(&f, dom, &s, &hb));
	spec_uart(&s, poll_us);
	ASSERT_OK(test_dm_launch(&f, dom, &s, &uart));
	spec_pcitest(&s, poll_us);
	ASSERT_OK(test_dm_launch(&f, dom, &s, &pt));
	/* Three device models, three servers of one domain. */
	ASSERT_NE(hb.server, uart.server);
	ASSERT_NE(uart.server, pt.server);
	ASSERT_EQ(fixture_run_scenario(&f, dom, file, dms, 3), 0);
	ASSERT_EQ(test_dm_stop(&f, &pt), 0);
	ASSERT_EQ(test_dm_stop(&f, &uart), 0);
	ASSERT_EQ(test_dm_stop(&f, &hb), 0);
	fixture_sim_stop(&f);
}

TEST(pcitest_scenario_with_host_bridge)
{
	run_three("pcitest.scn", 1, 0);
}

TEST(hostbridge_conf1_probe)
{
	run_three("hostbridge.scn", 1, 0);
}

TEST(unclaimed_io_reads_ones)
{
	struct sim_fixture f;
	struct sim_domain_stats st;
	struct test_dm_spec s;
	struct test_dm hb, *dms[] = {&hb};
	uint32_t dom;

	fixture_sim_start(&f);
	dom = fixture_domain_create(&f, "unclaimed", 1, 0);
	spec_hostbridge(&s, 0);
	ASSERT_OK(test_dm_launch(&f, dom, &s, &hb));
	ASSERT_EQ(fixture_run_scenario(&f, dom, "unclaimed.scn", dms, 1), 0);
	ASSERT_OK(fixture_domain_stats(&f, dom, &st));
	ASSERT_GT(st.unclaimed_reads, 0);
	ASSERT_GT(st.unclaimed_writes, 0);
	ASSERT_EQ(test_dm_stop(&f, &hb), 0);
	fixture_sim_stop(&f);
}

TEST(all_devices_two_vcpus)
{
	run_three("all.scn", 2, 0);
}

TEST(all_devices_two_vcpus_polling)
{
	run_three("all.scn", 2, 50);
}
