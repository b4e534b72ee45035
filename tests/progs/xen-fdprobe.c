/* SPDX-License-Identifier: MIT */
/*
 * xen-fdprobe: a device model that checks, from the inside, what the fds the
 * broker handed it can do on real Xen (the depriv-fd-checker idea):
 *
 *   - its privcmd fd maps its own server's ioreq frame (positive control),
 *     and cannot map a resource of any other domain (EPERM: restricted);
 *   - its evtchn fd can notify its own ports, and cannot bind an
 *     interdomain port of any other domain (EACCES: restricted).
 *
 * Each check prints "FDPROBE <check> ok|FAIL <detail>" (captured by the
 * broker into its log), then the probe serves its port range like echo-dm
 * (reads return 0xcafe0000 | port) so the guest's scenario can run.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/types.h>
#include <xen/xen.h>
#include <xen/memory.h>
#include <xen/sys/evtchn.h>
#include <xen/sys/privcmd.h>

#include "common/util.h"
#include "ipc/dmproto.h"
#include "ipc/frame.h"

static struct frame fr;
static int failures;

static void report(const char *check, bool ok, const char *detail)
{
	printf("FDPROBE %s %s %s\n", check, ok ? "ok" : "FAIL", detail);
	fflush(stdout);
	failures += !ok;
}

static void recv_type(uint16_t type)
{
	if (frame_recv(DMP_FD, &fr, sizeof(fr.payload), FRAME_MAX_FDS) < 0 || fr.hdr.type != type) {
		fprintf(stderr, "xen-fdprobe: handoff broken\n");
		exit(1);
	}
}

static int map_frame(int privcmd, uint32_t domid, uint32_t id, uint32_t idx)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, privcmd, 0);
	privcmd_mmap_resource_t res = {.dom = (domid_t)domid,
				       .type = XENMEM_resource_ioreq_server,
				       .id = id,
				       .idx = idx,
				       .num = 1,
				       .addr = (uintptr_t)p};
	int r = 0;

	if (p == MAP_FAILED)
		return -errno;
	if (ioctl(privcmd, IOCTL_PRIVCMD_MMAP_RESOURCE, &res) < 0)
		r = -errno;
	munmap(p, 4096);
	return r;
}

static void check_privcmd(int privcmd, const struct dmp_pages *pg)
{
	char detail[128];
	bool all = true;
	int r;

	r = map_frame(privcmd, pg->domid, pg->server_id,
		      XENMEM_resource_ioreq_server_frame_ioreq(0));
	snprintf(detail, sizeof(detail), "own dom%u server %u: %s", pg->domid, pg->server_id,
		 r ? strerror(-r) : "mapped");
	report("privcmd-own-server", r == 0, detail);
	/* Every other domain id we might meet: the restriction answers before Xen does. */
	for (uint32_t d = 0; d < 64; d++) {
		if (d == pg->domid)
			continue;
		r = map_frame(privcmd, d, 0, XENMEM_resource_ioreq_server_frame_ioreq(0));
		if (r != -EPERM) {
			snprintf(detail, sizeof(detail), "dom%u: %s", d, r ? strerror(-r) : "mapped!");
			report("privcmd-other-domain", false, detail);
			all = false;
		}
	}
	if (all)
		report("privcmd-other-domain", true, "domains 0-63 but its own: EPERM");
}

static void check_evtchn(int evtchn, uint32_t domid, uint32_t own_port)
{
	struct ioctl_evtchn_notify n = {.port = own_port};
	char detail[128];
	bool all = true;

	report("evtchn-notify-own", ioctl(evtchn, IOCTL_EVTCHN_NOTIFY, &n) == 0,
	       "its vCPU 0 port");
	for (uint32_t d = 0; d < 64; d++) {
		struct ioctl_evtchn_bind_interdomain b = {.remote_domain = d, .remote_port = 1};
		int r;

		if (d == domid)
			continue;
		r = ioctl(evtchn, IOCTL_EVTCHN_BIND_INTERDOMAIN, &b) < 0 ? -errno : 0;
		if (r != -EACCES) {
			snprintf(detail, sizeof(detail), "dom%u: %s", d, r ? strerror(-r) : "bound!");
			report("evtchn-other-domain", false, detail);
			all = false;
		}
	}
	if (all)
		report("evtchn-other-domain", true, "domains 0-63 but its own: EACCES");
}

int main(void)
{
	struct dmp_hello hello;
	struct dmp_pages pages;
	struct dmp_ports ports;
	shared_iopage_t *page;
	int privcmd, evtchn;

	recv_type(DMP_HELLO);
	if (frame_get(&fr, &hello, sizeof(hello)) < 0)
		return 1;
	for (int k = 0; k < DMP_CLAIM_KINDS; k++)
		recv_type(DMP_CLAIMS);
	recv_type(DMP_PAGES);
	if (frame_get(&fr, &pages, sizeof(pages)) < 0 || pages.kind != DMP_PAGES_PRIVCMD ||
	    fr.nfds != 1) {
		printf("FDPROBE handoff FAIL not a privcmd handoff (is this real Xen?)\n");
		return 1;
	}
	privcmd = frame_take_fd(&fr, 0);
	check_privcmd(privcmd, &pages);
	/* Map our synchronous page the way libdmb does, for serving below. */
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, privcmd, 0);
	{
		privcmd_mmap_resource_t res = {.dom = (domid_t)pages.domid,
					       .type = XENMEM_resource_ioreq_server,
					       .id = pages.server_id,
					       .idx = XENMEM_resource_ioreq_server_frame_ioreq(0),
					       .num = 1,
					       .addr = (uintptr_t)page};
		if (page == MAP_FAILED || ioctl(privcmd, IOCTL_PRIVCMD_MMAP_RESOURCE, &res) < 0)
			return 1;
	}
	close(privcmd);
	if (frame_send(DMP_FD, DMP_READY, 0, NULL, 0, NULL, 0) < 0)
		return 1;
	recv_type(DMP_KEEP); /* the broker's ends to hold for a restart: held (not used) */
	recv_type(DMP_PORTS);
	if (frame_get(&fr, &ports, sizeof(ports)) < 0 || ports.kind != DMP_PORTS_EVTCHN ||
	    fr.nfds != 1)
		return 1;
	evtchn = frame_take_fd(&fr, 0);
	check_evtchn(evtchn, pages.domid, ports.port[0]);
	printf("FDPROBE done failures=%d\n", failures);
	fflush(stdout);
	/* Serve reads of our ports so that the guest's scenario completes. */
	for (unsigned i = 0; i < ports.nr_vcpus; i++) {
		uint32_t p = ports.port[i];
		(void)!write(evtchn, &p, sizeof(p)); /* unmask */
	}
	for (;;) {
		struct pollfd pfd = {.fd = evtchn, .events = POLLIN};
		uint32_t pend[16];
		ssize_t n;

		if (poll(&pfd, 1, -1) < 0)
			continue;
		n = read(evtchn, pend, sizeof(pend));
		if (n > 0)
			(void)!write(evtchn, pend, (size_t)n);
		for (unsigned v = 0; v < ports.nr_vcpus; v++) {
			ioreq_t *slot = &page->vcpu_ioreq[v];
			struct ioctl_evtchn_notify nt = {.port = ports.port[v]};

			if (ioreq_load_state(slot) != STATE_IOREQ_READY)
				continue;
			ioreq_store_state(slot, STATE_IOREQ_INPROCESS);
			if (slot->dir == IOREQ_READ)
				slot->data = 0xcafe0000u | (slot->addr & 0xffff);
			ioreq_store_state(slot, STATE_IORESP_READY);
			(void)ioctl(evtchn, IOCTL_EVTCHN_NOTIFY, &nt);
		}
	}
}
