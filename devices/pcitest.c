/* SPDX-License-Identifier: MIT */
#include "devices/pcitest.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/log.h"

#define PCITEST_SBDF_FMT     "%04x:%02x:%02x.%u"
#define PCITEST_SBDF_ARGS(s) ((s) >> 16) & 0xffff, ((s) >> 8) & 0xff, ((s) >> 3) & 0x1f, (s)&7

static uint16_t pcitest_command(const struct pcitest *p)
{
	return (uint16_t)pcicfg_get(&p->cfg, PCI_COMMAND, 2);
}

static bool pcitest_msi_enabled(const struct pcitest *p)
{
	return pcicfg_get(&p->cfg, PCITEST_MSI_CTRL, 2) & PCI_MSI_FLAGS_ENABLE;
}

static uint64_t pcitest_ones(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * size)) - 1;
}

/*
 * INTA follows the pending status bits: asserted while one is pending,
 * INTx is not disabled and MSI is off (an MSI-enabled function must not use
 * INTx).  The status register's interrupt bit shows pending regardless, as
 * the PCI spec describes it.
 */
static void pcitest_update_intx(struct pcitest *p)
{
	bool pending = p->int_status != 0;
	bool level = pending && !(pcitest_command(p) & PCI_COMMAND_INTX_DISABLE) &&
	             !pcitest_msi_enabled(p);
	uint32_t status = pcicfg_get(&p->cfg, PCI_STATUS, 2);
	int r;

	status = pending ? status | PCI_STATUS_INTERRUPT : status & ~PCI_STATUS_INTERRUPT;
	pcicfg_set(&p->cfg, PCI_STATUS, 2, status);
	if (level == p->intx_level)
		return;
	r = dmb_set_pci_intx(p->d, p->sbdf, 0, level);
	if (r < 0) {
		/* intx_level keeps the old level, so the next update retries. */
		log_warn_errno(r, "set INTA of " PCITEST_SBDF_FMT " %s", PCITEST_SBDF_ARGS(p->sbdf),
		               level ? "high" : "low");
		return;
	}
	p->intx_level = level;
}

/* Ask the broker to move our claim to where BAR0 now points, if that is a new place. */
static void pcitest_place_bar(struct pcitest *p)
{
	uint32_t base;
	int r;

	if (pcicfg_bar_addr(&p->cfg, 0, &base) < 0 || base == p->mapped_base)
		return;
	r = dmb_move_bar(p->d, p->sbdf, 0, p->mapped_base, base, PCITEST_BAR0_SIZE);
	if (r < 0) {
		log_warn_errno(r,
		               "move BAR0 of " PCITEST_SBDF_FMT " from 0x%x to 0x%x, still at 0x%x",
		               PCITEST_SBDF_ARGS(p->sbdf), p->mapped_base, base, p->mapped_base);
		return;
	}
	log_debug("BAR0 of " PCITEST_SBDF_FMT " moved from 0x%x to 0x%x",
	          PCITEST_SBDF_ARGS(p->sbdf), p->mapped_base, base);
	p->mapped_base = base;
}

static void pcitest_doorbell(struct pcitest *p)
{
	p->counter++;
	if (pcitest_msi_enabled(p)) {
		uint64_t addr = pcicfg_get(&p->cfg, PCITEST_MSI_ADDR, 4);
		uint32_t data = pcicfg_get(&p->cfg, PCITEST_MSI_DATA, 2);
		int r = dmb_inject_msi(p->d, addr, data);

		if (r < 0)
			log_warn_errno(r,
			               "MSI from " PCITEST_SBDF_FMT " to 0x%" PRIx64 " data 0x%x",
			               PCITEST_SBDF_ARGS(p->sbdf), addr, data);
		return;
	}
	p->int_status |= PCITEST_INT_DOORBELL;
	pcitest_update_intx(p);
}

static uint64_t pcitest_pci_read(void *opaque, uint32_t sbdf, unsigned reg, unsigned size)
{
	struct pcitest *p = opaque;

	if (sbdf != p->sbdf || size == 0 || size > 4)
		return pcitest_ones(size);
	return pcicfg_read(&p->cfg, reg, size);
}

static void pcitest_pci_write(void *opaque, uint32_t sbdf, unsigned reg, unsigned size,
                              uint64_t value)
{
	struct pcitest *p = opaque;
	uint16_t old_cmd, cmd;

	if (sbdf != p->sbdf || size == 0 || size > 4)
		return;
	old_cmd = pcitest_command(p);
	pcicfg_write(&p->cfg, reg, size, (uint32_t)value);
	cmd = pcitest_command(p);
	/*
	 * The claim follows the BAR only while memory decode is on: a new base
	 * written with decode on, or decode turned on with a base that differs
	 * from the claim.  The sizing probe is not a placement (pcicfg_bar_addr).
	 */
	if ((cmd & PCI_COMMAND_MEMORY) &&
	    (!(old_cmd & PCI_COMMAND_MEMORY) || pcicfg_overlaps(reg, size, PCI_BASE_ADDRESS_0, 4)))
		pcitest_place_bar(p);
	/* INTx disable and MSI enable both gate INTA. */
	pcitest_update_intx(p);
}

/* Offset into BAR0 of [addr, addr + size) if it is decoded now; -1 if not. */
static int64_t pcitest_decode(const struct pcitest *p, uint64_t addr, unsigned size)
{
	uint64_t off;

	if (!(pcitest_command(p) & PCI_COMMAND_MEMORY) || addr < p->mapped_base)
		return -1;
	off = addr - p->mapped_base;
	if (off >= PCITEST_BAR0_SIZE || size > PCITEST_BAR0_SIZE - off)
		return -1;
	return (int64_t)off;
}

static uint64_t pcitest_mmio_read(void *opaque, uint64_t addr, unsigned size)
{
	struct pcitest *p = opaque;
	int64_t off = pcitest_decode(p, addr, size);

	if (off < 0)
		return pcitest_ones(size);
	if (size == 8)
		return off == PCITEST_REG_SCRATCH64 ? p->scratch64 : 0;
	if (size != 4)
		return 0;
	switch (off) {
	case PCITEST_REG_ID:
		return PCITEST_ID;
	case PCITEST_REG_SCRATCH:
		return p->scratch;
	case PCITEST_REG_INT_STATUS:
		return p->int_status;
	case PCITEST_REG_COUNTER:
		return p->counter;
	case PCITEST_REG_SCRATCH64:
		return (uint32_t)p->scratch64;
	case PCITEST_REG_SCRATCH64 + 4:
		return (uint32_t)(p->scratch64 >> 32);
	default:
		return 0;
	}
}

static void pcitest_mmio_write(void *opaque, uint64_t addr, unsigned size, uint64_t value)
{
	struct pcitest *p = opaque;
	int64_t off = pcitest_decode(p, addr, size);
	uint32_t v = (uint32_t)value;

	if (off < 0)
		return;
	if (size == 8) {
		if (off == PCITEST_REG_SCRATCH64)
			p->scratch64 = value;
		return;
	}
	if (size != 4)
		return;
	switch (off) {
	case PCITEST_REG_SCRATCH:
		p->scratch = v;
		break;
	case PCITEST_REG_DOORBELL:
		pcitest_doorbell(p);
		break;
	case PCITEST_REG_INT_STATUS:
		p->int_status &= ~v;
		pcitest_update_intx(p);
		break;
	case PCITEST_REG_SCRATCH64:
		p->scratch64 = (p->scratch64 & ~UINT64_C(0xffffffff)) | v;
		break;
	case PCITEST_REG_SCRATCH64 + 4:
		p->scratch64 = (p->scratch64 & UINT64_C(0xffffffff)) | (uint64_t)v << 32;
		break;
	default:
		break;
	}
}

int pcitest_init(struct pcitest *p, struct dmb *d, uint32_t sbdf, uint32_t bar0)
{
	struct pcicfg *c = &p->cfg;

	if (bar0 == 0 || (bar0 & (PCITEST_BAR0_SIZE - 1)) || bar0 > UINT32_MAX - PCITEST_BAR0_SIZE)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->d = d;
	p->sbdf = sbdf;
	p->mapped_base = bar0;

	pcicfg_init(c, PCITEST_VENDOR_ID, PCITEST_DEVICE_ID, PCITEST_REVISION, PCITEST_CLASS, 0);
	/* Decode starts off, as after a PCI reset; firmware or the guest turns it on. */
	pcicfg_set_masks(c, PCI_COMMAND, 2,
	                 PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
	                         PCI_COMMAND_INTX_DISABLE,
	                 0);
	pcicfg_set_masks(c, PCI_CACHE_LINE_SIZE, 1, 0xff, 0);
	(void)pcicfg_bar_mem32(c, 0, PCITEST_BAR0_SIZE, bar0, false);
	pcicfg_set(c, PCI_SUBSYSTEM_VENDOR_ID, 2, PCITEST_VENDOR_ID);
	pcicfg_set(c, PCI_SUBSYSTEM_ID, 2, PCITEST_SUBSYS_ID);
	pcicfg_set(c, PCI_INTERRUPT_PIN, 1, 1); /* INTA */
	pcicfg_set_masks(c, PCI_INTERRUPT_LINE, 1, 0xff, 0);

	/* MSI, 32-bit address, one vector: only the enable bit of the control is writable. */
	(void)pcicfg_add_cap(c, PCITEST_MSI_CAP, PCI_CAP_ID_MSI);
	pcicfg_set_masks(c, PCITEST_MSI_CTRL, 2, PCI_MSI_FLAGS_ENABLE, 0);
	pcicfg_set_masks(c, PCITEST_MSI_ADDR, 4, 0xfffffffc, 0);
	pcicfg_set_masks(c, PCITEST_MSI_DATA, 2, 0xffff, 0);
	return 0;
}

const struct dmb_ops pcitest_ops = {
        .mmio_read = pcitest_mmio_read,
        .mmio_write = pcitest_mmio_write,
        .pci_read = pcitest_pci_read,
        .pci_write = pcitest_pci_write,
};
