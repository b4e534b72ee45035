/* SPDX-License-Identifier: MIT */
/*
 * libdmb: write a Xen device model that runs under dm-broker.
 *
 * The broker starts your program with its channel on fd 3.  dmb_open()
 * receives the handoff (which guest, which ioreq server, your claims) and
 * maps your server's pages; dmb_run() tells the broker you are ready,
 * receives your event channel, and serves the guest's requests by calling
 * your callbacks until the broker says stop.  Every request is copied out of
 * the shared page once and validated (size, type, address inside your
 * claims, count, data_is_ptr) before a callback sees it; requests that fail
 * are answered as Xen answers unclaimed I/O (reads all ones).
 *
 *   static uint64_t rd(void *o, uint16_t port, unsigned size) { return 0x42; }
 *   static void wr(void *o, uint16_t port, unsigned size, uint64_t v) { }
 *   static const struct dmb_ops ops = { .pio_read = rd, .pio_write = wr };
 *
 *   int main(void)
 *   {
 *           struct dmb *d;
 *           struct dmb_config cfg = { .ops = &ops, .fd = DMB_FD_DEFAULT, .poll_us = -1 };
 *           if (dmb_open(&cfg, &d) < 0)
 *                   return 1;
 *           int r = dmb_run(d);     // returns 0 when the broker shuts us down
 *           dmb_close(d);
 *           return r < 0;
 *   }
 *
 * Once its ports have arrived, dmb_run() narrows the process to a seccomp
 * allow-list for cfg.profile (dm/lockdown.c): from then on a device model
 * cannot open, map executable, or spawn anything.  Do all your setup before
 * dmb_run().
 *
 * Callbacks run on the thread that called dmb_run(), one request at a time.
 * From a callback you may call the dmb_*() interrupt and BAR functions:
 * they ask the broker synchronously (the vCPU that made the access is
 * waiting anyway), and return 0 or the broker's negative errno.
 */
#ifndef DMB_DM_DMB_H
#define DMB_DM_DMB_H

#include <stdbool.h>
#include <stdint.h>

#define DMB_FD_DEFAULT 3

struct dmb;

struct dmb_ops {
	/* Port I/O inside your port claims; size 1, 2 or 4. */
	uint64_t (*pio_read)(void *opaque, uint16_t port, unsigned size);
	void (*pio_write)(void *opaque, uint16_t port, unsigned size, uint64_t value);
	/* MMIO inside your MMIO claims; size 1, 2, 4 or 8. */
	uint64_t (*mmio_read)(void *opaque, uint64_t addr, unsigned size);
	void (*mmio_write)(void *opaque, uint64_t addr, unsigned size, uint64_t value);
	/* PCI config space of one of your devices; reg < 4096, size 1, 2 or 4. */
	uint64_t (*pci_read)(void *opaque, uint32_t sbdf, unsigned reg, unsigned size);
	void (*pci_write)(void *opaque, uint32_t sbdf, unsigned reg, unsigned size, uint64_t value);
	/* Xen asks every server to drop cached guest mappings (IOREQ_TYPE_INVALIDATE). */
	void (*invalidate)(void *opaque);
	/* The guest's RTC offset changed (IOREQ_TYPE_TIMEOFFSET). */
	void (*timeoffset)(void *opaque, int64_t offset);
};

/* What kind of device model this is, for its seccomp allow-list (dm/lockdown.c). */
enum dmb_profile {
	DMB_PROFILE_IOREQ = 0,        /* emulates ports, MMIO, PCI config: the default */
	DMB_PROFILE_GUEST_MEMORY = 1, /* also maps guest memory (DMA-capable devices) */
};

struct dmb_config {
	const struct dmb_ops *ops;
	void *opaque;
	int fd;           /* the broker channel; DMB_FD_DEFAULT */
	int poll_us;      /* >= 0 overrides the broker's polling setting; -1 keeps it */
	bool no_lockdown; /* skip the allow-list seccomp filter (tests, debuggers) */
	enum dmb_profile profile;
};

/* Receive the handoff and map the pages.  *ret only on success. */
int dmb_open(const struct dmb_config *cfg, struct dmb **ret);
/* Report ready, receive the ports, serve until DMP_SHUTDOWN (0) or a fatal error (<0). */
int dmb_run(struct dmb *d);
void dmb_close(struct dmb *d);

uint32_t dmb_domid(const struct dmb *d);
unsigned dmb_nr_vcpus(const struct dmb *d);
const char *dmb_name(const struct dmb *d);

/* Interrupts and BARs, mediated and checked by the broker. */
int dmb_set_isa_irq(struct dmb *d, uint8_t irq, bool level);
int dmb_set_pci_intx(struct dmb *d, uint32_t sbdf, uint8_t pin, bool level);
int dmb_inject_msi(struct dmb *d, uint64_t addr, uint32_t data);
/* Move a memory BAR of one of your devices; on success your MMIO claim moves with it. */
int dmb_move_bar(struct dmb *d, uint32_t sbdf, unsigned bar, uint64_t old_base, uint64_t new_base,
                 uint64_t size);

/* Parse "[SSSS:]BB:DD.F" into an SBDF; -EINVAL if malformed. */
int dmb_parse_bdf(const char *s, uint32_t *ret);

#endif
