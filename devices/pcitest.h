/* SPDX-License-Identifier: MIT */
/*
 * A PCI test device: just enough of a real PCI function to exercise every
 * path a device model uses (config space, a movable memory BAR, INTx, MSI).
 *
 * Vendor 0x5853 is XenSource's PCI vendor ID; device 0xdb01 is our own
 * choice under it, for tests only, never for a product.
 *
 * Config space: class 0xff (unassigned), revision 1, header type 0,
 * command bits IO/MEM/MASTER/INTX_DISABLE writable, status CAP_LIST (and
 * INTERRUPT while INTx is pending), BAR0 = 4 KiB 32-bit non-prefetchable
 * memory, interrupt pin INTA, interrupt line RW, capability list at 0x40:
 * MSI, 32-bit address variant (control at 0x42 with only the enable bit
 * writable, one vector; address at 0x44; 16-bit data at 0x48).
 *
 * BAR0 registers (offsets into the BAR):
 *   0x00 ID          RO, 32-bit: 0xdb0b0001
 *   0x04 SCRATCH     RW, 32-bit
 *   0x08 DOORBELL    WO, 32-bit: any value asks for an interrupt (reads 0)
 *   0x0c INT_STATUS  RW1C, 32-bit: bit 0 = doorbell INTx pending
 *   0x10 COUNTER     RO, 32-bit: doorbell writes so far (wraps)
 *   0x18 SCRATCH64   RW, one 8-byte register or two 4-byte halves
 * Any other offset or size reads 0 (the device decodes its whole BAR) and
 * ignores writes.  While COMMAND.MEM is clear the BAR is not decoded and
 * reads all ones, as unclaimed memory does.
 *
 * The doorbell sends MSI if MSI is enabled (bus mastering is not checked);
 * otherwise it sets INT_STATUS bit 0, and INTA is asserted while a status
 * bit is pending, INTx is not disabled in COMMAND and MSI is off.
 */
#ifndef DMB_DEVICES_PCITEST_H
#define DMB_DEVICES_PCITEST_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/pcicfg.h"
#include "dm/dmb.h"

#define PCITEST_VENDOR_ID    0x5853
#define PCITEST_DEVICE_ID    0xdb01
#define PCITEST_SUBSYS_ID    0x0001
#define PCITEST_REVISION     1
#define PCITEST_CLASS        0xff0000
#define PCITEST_BAR0_SIZE    0x1000u
#define PCITEST_DEFAULT_BAR0 0xe0000000u

#define PCITEST_MSI_CAP      0x40
#define PCITEST_MSI_CTRL     0x42
#define PCITEST_MSI_ADDR     0x44
#define PCITEST_MSI_DATA     0x48
#define PCI_MSI_FLAGS_ENABLE 0x0001

#define PCITEST_REG_ID         0x00
#define PCITEST_REG_SCRATCH    0x04
#define PCITEST_REG_DOORBELL   0x08
#define PCITEST_REG_INT_STATUS 0x0c
#define PCITEST_REG_COUNTER    0x10
#define PCITEST_REG_SCRATCH64  0x18

#define PCITEST_ID           0xdb0b0001u
#define PCITEST_INT_DOORBELL 0x1u

struct pcitest {
	struct dmb *d;
	uint32_t sbdf;
	struct pcicfg cfg;
	/*
	 * Where the broker routes our MMIO claim.  It differs from the BAR
	 * register while the guest sizes the BAR or after a move the broker
	 * refused: decoding stays where the claim is.
	 */
	uint32_t mapped_base;
	uint32_t scratch;
	uint64_t scratch64;
	uint32_t int_status;
	uint32_t counter;
	bool intx_level; /* level last driven on INTA */
};

/*
 * Reset state at sbdf with BAR0 at bar0 (4 KiB-aligned, not 0, below the
 * sizing pattern), which must be where the broker's MMIO claim starts.
 * -EINVAL otherwise.
 */
int pcitest_init(struct pcitest *p, struct dmb *d, uint32_t sbdf, uint32_t bar0);

/* Callbacks for dmb_config.ops, opaque = struct pcitest *. */
extern const struct dmb_ops pcitest_ops;

#endif
