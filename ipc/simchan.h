/* SPDX-License-Identifier: MIT */
/*
 * The simulator's event-channel transport (DMP_PORTS_SIM).
 *
 * A simulated port is a pair of eventfds, one per direction, plus a word in a
 * shared "channel page" per direction saying "I am polling the ioreq slot,
 * don't wake me".  This plays the part of the event-channel mask bit in
 * Xen's shared_info: a notifier that sees the peer polling skips the
 * eventfd write, so a polling pair never enters the kernel.  Ordering is the
 * usual Dekker pair: each side stores its flag / the slot state, issues a
 * full barrier, then reads the other side's.
 *
 * fds of a DMP_PORTS_SIM message, in order:
 *   [0]            the channel page (memfd, sealed, one page)
 *   [1 + 2*i]      vCPU i: to the device model (sim signals, DM waits)
 *   [2 + 2*i]      vCPU i: to the simulator    (DM signals, sim waits)
 *   [1 + 2*nr]     buffered ring: to the device model   (if has_buf)
 */
#ifndef DMB_IPC_SIMCHAN_H
#define DMB_IPC_SIMCHAN_H

#include <stdint.h>

#define SIMCHAN_MAX_VCPUS 64 /* keeps a DMP_PORTS_SIM message under SCM_MAX_FD */

struct simchan_slot {
	uint32_t dm_polling;  /* the DM spins on this vCPU's slot: sim need not signal */
	uint32_t sim_polling; /* the vCPU spins on its slot: the DM need not signal */
	uint32_t reserved[2];
};

struct simchan_page {
	struct simchan_slot vcpu[SIMCHAN_MAX_VCPUS];
	struct simchan_slot buf;
};

_Static_assert(sizeof(struct simchan_page) <= 4096, "simchan page fits a page");

#endif
