/* SPDX-License-Identifier: MIT */
/*
 * Test fixtures: a private dmbsimd per test, and a "mini broker" that
 * launches a device model with its handoff (no sandbox) the way dmbrokerd
 * does, so that libdmb and the devices can be tested end to end.
 */
#ifndef DMB_TESTS_FIXTURE_H
#define DMB_TESTS_FIXTURE_H

#include <sys/types.h>

#include "daemon/handoff.h"
#include "hv/hv.h"
#include "sim/client.h"
#include "sim/scenario.h"

struct sim_fixture {
	pid_t pid;
	char sock[256];
	struct hv *hv;
	struct simc *ctl;
};

/* Start dmbsimd on a socket in the test's tmpdir (asserts on failure). */
void fixture_sim_start(struct sim_fixture *f);
void fixture_sim_stop(struct sim_fixture *f);
uint32_t fixture_domain_create(struct sim_fixture *f, const char *name, unsigned vcpus,
                               uint32_t flags);
int fixture_domain_stats(struct sim_fixture *f, uint32_t domid, struct sim_domain_stats *ret);

struct test_dm_spec {
	const char
	        *exe; /* "dm-uart": $TEST_BUILDDIR/libexec; "progs/x": $TEST_BUILDDIR/tests/progs */
	const char *const *argv; /* arguments after argv[0], NULL-terminated (may be NULL) */
	struct handoff_claims claims;
	unsigned bufioreq;
	uint32_t poll_us;
	const char *name;
	const char *log_path; /* the DM's stdout and stderr go here (appended) if set */
};

struct test_dm {
	pid_t pid;
	int sock;
	uint32_t domid;
	uint16_t server;
	unsigned nr_vcpus;
	struct hv_pages *pages;
	struct hv_ports *ports;
	struct handoff_claims claims;
};

/* Claim helpers for specs. */
void spec_port(struct test_dm_spec *s, uint64_t start, uint64_t end);
void spec_mmio(struct test_dm_spec *s, uint64_t start, uint64_t end);
void spec_pci(struct test_dm_spec *s, const char *bdf);

/*
 * Create a server, claim, fork+exec the device model with the socket on fd 3,
 * hand off, wait for READY, enable, bind and send the ports.  Returns 0 or
 * -errno (the test decides whether that is expected); everything created is
 * undone on failure.
 */
int test_dm_launch(struct sim_fixture *f, uint32_t domid, const struct test_dm_spec *spec,
                   struct test_dm *ret);
/* Orderly: SHUTDOWN, wait for exit (SIGKILL after 5 s), destroy the server.  Returns exit status.
 */
int test_dm_stop(struct sim_fixture *f, struct test_dm *dm);
/* Serve DM-op requests from this DM for up to ms milliseconds (tests play the broker). */
void test_dm_pump(struct sim_fixture *f, struct test_dm *dm, int ms);

/* Run a scenario file from tests/scenarios on domid; returns failed + not run ops (0 = pass). */
int fixture_run_scenario(struct sim_fixture *f, uint32_t domid, const char *file,
                         struct test_dm **dms, unsigned n_dms);
int fixture_run_ops(struct sim_fixture *f, uint32_t domid, const struct scn_op *ops, unsigned n,
                    struct test_dm **dms, unsigned n_dms, uint64_t *ret_values);

#endif
