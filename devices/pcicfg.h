/* SPDX-License-Identifier: MIT */
/*
 * A type-0 PCI configuration space (the 256 bytes of conventional PCI) as a
 * device model presents it to the guest.  Every byte has a writable mask
 * (bits the guest may change) and a write-1-to-clear mask (status bits);
 * all other bits are read-only to the guest, while the device itself sets
 * any bit with pcicfg_set().
 *
 * 32-bit memory BARs need no code of their own: the writable mask of a BAR
 * is ~(size - 1), so the guest's sizing probe (write 0xffffffff) reads back
 * ~(size - 1) | flags, exactly as on hardware.  pcicfg_bar_addr() tells a
 * real placement from that probe pattern.
 */
#ifndef DMB_DEVICES_PCICFG_H
#define DMB_DEVICES_PCICFG_H

#include <stdbool.h>
#include <stdint.h>

#define PCICFG_SIZE    256u
#define PCICFG_NR_BARS 6u

/* Standard header registers (PCI Local Bus 3.0, 6.1). */
#define PCI_VENDOR_ID           0x00
#define PCI_DEVICE_ID           0x02
#define PCI_COMMAND             0x04
#define PCI_STATUS              0x06
#define PCI_REVISION_ID         0x08
#define PCI_CLASS_PROG          0x09
#define PCI_CACHE_LINE_SIZE     0x0c
#define PCI_LATENCY_TIMER       0x0d
#define PCI_HEADER_TYPE         0x0e
#define PCI_BASE_ADDRESS_0      0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID        0x2e
#define PCI_CAPABILITY_LIST     0x34
#define PCI_INTERRUPT_LINE      0x3c
#define PCI_INTERRUPT_PIN       0x3d

#define PCI_COMMAND_IO           0x0001
#define PCI_COMMAND_MEMORY       0x0002
#define PCI_COMMAND_MASTER       0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST  0x0010

#define PCI_BASE_ADDRESS_MEM_PREFETCH 0x08
#define PCI_BASE_ADDRESS_MEM_MASK     0xfffffff0u

#define PCI_CAP_ID_MSI 0x05

struct pcicfg {
	uint8_t data[PCICFG_SIZE];
	uint8_t wmask[PCICFG_SIZE];        /* bits the guest may write */
	uint8_t w1c[PCICFG_SIZE];          /* bits a guest write of 1 clears */
	uint32_t bar_size[PCICFG_NR_BARS]; /* 0: BAR not implemented */
};

/*
 * Zero everything (all read-only) and fill in the identification registers.
 * class24 is base class << 16 | sub-class << 8 | programming interface.
 */
void pcicfg_init(struct pcicfg *c, uint16_t vendor, uint16_t device, uint8_t revision,
                 uint32_t class24, uint8_t header_type);

/* Device-side access, no masks; bytes beyond the 256 are ignored (reads: 0). */
uint32_t pcicfg_get(const struct pcicfg *c, unsigned reg, unsigned size);
void pcicfg_set(struct pcicfg *c, unsigned reg, unsigned size, uint32_t value);
/* Which bits of [reg, reg + size) the guest may write, and which it clears by writing 1. */
void pcicfg_set_masks(struct pcicfg *c, unsigned reg, unsigned size, uint32_t wmask, uint32_t w1c);

/*
 * Guest access (size 1, 2 or 4, any reg): bytes beyond the 256 read as 0xff
 * (a conventional PCI function has no extended space; QEMU answers the
 * same) and are dropped on write.
 */
uint32_t pcicfg_read(const struct pcicfg *c, unsigned reg, unsigned size);
void pcicfg_write(struct pcicfg *c, unsigned reg, unsigned size, uint32_t value);

/*
 * Make BAR bar a 32-bit memory BAR of size bytes (a power of two, >= 16)
 * at base (size-aligned).  -EINVAL on bad arguments.
 */
int pcicfg_bar_mem32(struct pcicfg *c, unsigned bar, uint32_t size, uint32_t base,
                     bool prefetchable);
/*
 * The base address the BAR register names, if it is a placement: -ENOENT for
 * an unimplemented BAR, -EADDRNOTAVAIL when the register holds 0 or the
 * sizing pattern (the BAR would end at 4 GiB - 1, which QEMU also treats as
 * "not mapped").  *ret only on success.
 */
int pcicfg_bar_addr(const struct pcicfg *c, unsigned bar, uint32_t *ret);

/* Link a capability with this id at off (>= 0x40, dword-aligned) into the list. */
int pcicfg_add_cap(struct pcicfg *c, unsigned off, uint8_t id);

/* True if [reg, reg + size) and [start, start + len) share a byte. */
static inline bool pcicfg_overlaps(unsigned reg, unsigned size, unsigned start, unsigned len)
{
	return reg < start + len && start < reg + size;
}

#endif
