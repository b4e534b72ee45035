/* SPDX-License-Identifier: MIT */
/*
 * The simulated hypervisor: Xen 4.17's ioreq machinery, in a process.
 *
 * A struct sim holds domains; a domain holds vCPUs (each a thread with a
 * job queue) and up to 8 ioreq servers.  The rules are Xen's
 * (xen/common/ioreq.c, xen/arch/x86/hvm/{emulate,ioreq,stdvga}.c):
 *
 *  - servers take the lowest free id, at most 8 (-ENOSPC);
 *  - each server has a port, an MMIO and a PCI rangeset of at most 256
 *    ranges (-ENOMEM beyond, as Xen's rangeset limit); a map that overlaps
 *    the same server's ranges is -EEXIST, other servers are not checked;
 *  - selection walks the servers from id 7 down to 0, skips disabled ones,
 *    and picks the first whose rangeset fully contains the access;
 *  - 4-byte writes to 0xcf8 are latched; every access to 0xcf8-0xcfb is still
 *    forwarded as port I/O; with the latch enabled, 0xcfc-0xcff become
 *    IOREQ_TYPE_PCI_CONFIG (addr = SBDF << 32 | reg) for the server owning
 *    the BDF, or are unclaimed;
 *  - unclaimed accesses read all ones and drop writes;
 *  - the ioreq slot protocol and wait_for_io() as Xen's, including the crash
 *    of the domain (only that domain) on a backwards or unknown state, a
 *    non-NONE slot or a wrong vp_eport at send time;
 *  - vp_eport is written when a server is enabled; ports can be bound only
 *    then;
 *  - stdvga: MMIO writes inside 0xa0000-0xbffff to a server with a buffered
 *    ring go through the ring (full ring or no ring: synchronous);
 *  - INVALIDATE is broadcast synchronously to every enabled server;
 *    TIMEOFFSET buffered to every enabled server that has a ring.
 *
 * Functions return 0 or -errno; none of them logs except the domain crash
 * (which is an event, like Xen's gdprintk).
 */
#ifndef DMB_SIM_SIM_H
#define DMB_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc/simchan.h"
#include "ipc/simproto.h"
#include "sim/scenario.h"

#define SIM_MAX_SERVERS 8
#define SIM_MAX_RANGES  256
#define SIM_VGA_BASE    0xa0000u
#define SIM_VGA_SIZE    0x20000u

struct sim;
struct sim_domain;

/* Called (from any thread) when a domain appears or goes, for lifecycle watches. */
typedef void (*sim_event_fn)(void *opaque, uint32_t kind, uint32_t domid);

int sim_new(sim_event_fn fn, void *opaque, struct sim **ret);
void sim_free(struct sim *sim);

int sim_domain_create(struct sim *sim, const char *name, unsigned nr_vcpus, uint32_t flags,
                      uint32_t *ret_domid);
int sim_domain_destroy(struct sim *sim, uint32_t domid);
int sim_domain_info(struct sim *sim, uint32_t domid, struct sim_domain_info *ret);
int sim_domain_list(struct sim *sim, uint32_t *domids, unsigned max, unsigned *ret_n);
int sim_domain_pause(struct sim *sim, uint32_t domid, bool pause);
int sim_domain_shutdown(struct sim *sim, uint32_t domid, unsigned reason);
int sim_domain_stats(struct sim *sim, uint32_t domid, struct sim_domain_stats *ret);
/* How long polling vCPUs spin before blocking (default 50 us). */
int sim_domain_set_poll(struct sim *sim, uint32_t domid, bool on, uint32_t poll_ns);

/* The ioreq-server DM ops. */
int sim_server_create(struct sim *sim, uint32_t domid, unsigned bufioreq, uint16_t *ret_id);
int sim_server_destroy(struct sim *sim, uint32_t domid, uint16_t id);
int sim_map_range(struct sim *sim, uint32_t domid, uint16_t id, unsigned type, uint64_t start,
                  uint64_t end, bool map);
int sim_server_set_state(struct sim *sim, uint32_t domid, uint16_t id, bool enabled);
/* acquire_resource: fresh fds of the pages (buf_fd -1 without a ring).  Caller closes. */
int sim_server_pages(struct sim *sim, uint32_t domid, uint16_t id, int *ret_ioreq_fd,
                     int *ret_buf_fd);

/* Binding the ports: the server must be enabled.  fds in ipc/simchan.h order, caller closes. */
struct sim_ports {
	unsigned nr_vcpus;
	bool has_buf;
	uint32_t port[SIMCHAN_MAX_VCPUS];
	uint32_t buf_port;
	int fds[2 * SIMCHAN_MAX_VCPUS + 2];
	unsigned nfds;
};
int sim_server_ports(struct sim *sim, uint32_t domid, uint16_t id, struct sim_ports *ret);

/* Interrupts from device models (recorded per domain). */
int sim_set_isa_irq(struct sim *sim, uint32_t domid, uint8_t irq, unsigned level);
int sim_set_pci_intx(struct sim *sim, uint32_t domid, uint32_t sbdf, uint8_t pin, unsigned level);
int sim_inject_msi(struct sim *sim, uint32_t domid, uint64_t addr, uint32_t data);

/* Tests: make the domain's next call of kind op fail with -err after skip successes. */
int sim_domain_fault(struct sim *sim, uint32_t domid, unsigned op, unsigned skip, int err);

/* Xen-internal broadcasts. */
int sim_invalidate(struct sim *sim, uint32_t domid);
int sim_timeoffset(struct sim *sim, uint32_t domid, int64_t offset);

/*
 * A guest access executed on vCPU `vcpu` from the calling thread (the
 * caller plays that vCPU; the domain's own vCPU thread must be idle).
 * type: IOREQ_TYPE_PIO or IOREQ_TYPE_COPY; *data in for writes, out for
 * reads.  Returns 0, or -ESHUTDOWN when the domain crashed or is going.
 */
int sim_vcpu_io(struct sim *sim, uint32_t domid, unsigned vcpu, unsigned type, unsigned dir,
                uint64_t addr, unsigned size, uint64_t *data);

/* Run a scenario on the domain's vCPU threads (waits while the domain is paused). */
typedef void (*sim_result_fn)(void *opaque, const struct sim_scn_result *res);
struct sim_scn_summary {
	unsigned passed, failed, not_run;
	bool crashed;
	char reason[128];
};
int sim_run_scenario(struct sim *sim, uint32_t domid, const struct scn_op *ops, unsigned n_ops,
                     uint32_t timeout_ms, sim_result_fn fn, void *opaque,
                     struct sim_scn_summary *ret);

#endif
