/* SPDX-License-Identifier: MIT */
/*
 * The PCI host bridge at 00:00.0, an Intel 440FX PMC (vendor 0x8086,
 * device 0x1237, class 0x060000, header type 0), and the config-address
 * register CONFADD at port 0xcf8.
 *
 * Xen decodes configuration mechanism #1 itself: it snoops 4-byte writes to
 * 0xcf8 into its own latch and turns 0xcfc-0xcff accesses into PCI config
 * requests for whichever server claims that SBDF.  It still forwards the
 * 0xcf8 access to the server claiming the port, and without one the guest
 * reads all ones back, so its conf1 probe (write 0x80000000, read it back)
 * would find no PCI bus.  Claiming 0xcf8-0xcfb here gives the read back.
 *
 * CONFADD keeps the last 4-byte write with reserved bits 30:24 and 1:0
 * reading 0.  Byte and word accesses read and write the matching bytes of
 * it (on a real 440FX they reach other registers, such as the reset control
 * at 0xcf9); they change only what 0xcf8 reads back, never which device
 * 0xcfc reaches, because Xen latches only 4-byte writes for its decode.
 */
#ifndef DMB_DEVICES_HOSTBRIDGE_H
#define DMB_DEVICES_HOSTBRIDGE_H

#include <stdint.h>

#include "devices/pcicfg.h"
#include "dm/dmb.h"

#define HOSTBRIDGE_VENDOR_ID 0x8086
#define HOSTBRIDGE_DEVICE_ID 0x1237
#define HOSTBRIDGE_REVISION  0x02
#define HOSTBRIDGE_CLASS     0x060000

#define HOSTBRIDGE_PORT     0xcf8
#define HOSTBRIDGE_NR_PORTS 4
#define HOSTBRIDGE_CF8_MASK 0x80fffffcu /* enable, bus, device, function, register */

struct hostbridge {
	uint32_t sbdf;
	uint32_t cf8;
	struct pcicfg cfg;
};

void hostbridge_init(struct hostbridge *h, uint32_t sbdf);

/* Callbacks for dmb_config.ops, opaque = struct hostbridge *. */
extern const struct dmb_ops hostbridge_ops;

#endif
