/* SPDX-License-Identifier: MIT */
#include "devices/hostbridge.h"

#include <string.h>

static uint64_t hostbridge_ones(unsigned size)
{
	return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * size)) - 1;
}

static bool hostbridge_owns(unsigned port)
{
	return port >= HOSTBRIDGE_PORT && port < HOSTBRIDGE_PORT + HOSTBRIDGE_NR_PORTS;
}

static uint64_t hostbridge_pio_read(void *opaque, uint16_t port, unsigned size)
{
	struct hostbridge *h = opaque;
	uint64_t v = 0;

	/* Byte by byte, so a port outside 0xcf8-0xcfb reads as nothing there. */
	for (unsigned i = 0; i < size && i < 8; i++) {
		unsigned p = (unsigned)port + i;
		uint8_t b = hostbridge_owns(p) ? (uint8_t)(h->cf8 >> (8 * (p - HOSTBRIDGE_PORT)))
		                               : 0xff;

		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

static void hostbridge_pio_write(void *opaque, uint16_t port, unsigned size, uint64_t value)
{
	struct hostbridge *h = opaque;

	for (unsigned i = 0; i < size && i < 8; i++) {
		unsigned p = (unsigned)port + i;
		unsigned shift;

		if (!hostbridge_owns(p))
			continue;
		shift = 8 * (p - HOSTBRIDGE_PORT);
		h->cf8 = (h->cf8 & ~(UINT32_C(0xff) << shift)) |
		         (uint32_t)(uint8_t)(value >> (8 * i)) << shift;
	}
	h->cf8 &= HOSTBRIDGE_CF8_MASK;
}

static uint64_t hostbridge_pci_read(void *opaque, uint32_t sbdf, unsigned reg, unsigned size)
{
	struct hostbridge *h = opaque;

	if (sbdf != h->sbdf || size == 0 || size > 4)
		return hostbridge_ones(size);
	return pcicfg_read(&h->cfg, reg, size);
}

static void hostbridge_pci_write(void *opaque, uint32_t sbdf, unsigned reg, unsigned size,
                                 uint64_t value)
{
	struct hostbridge *h = opaque;

	if (sbdf != h->sbdf || size == 0 || size > 4)
		return;
	pcicfg_write(&h->cfg, reg, size, (uint32_t)value);
}

void hostbridge_init(struct hostbridge *h, uint32_t sbdf)
{
	memset(h, 0, sizeof(*h));
	h->sbdf = sbdf;
	pcicfg_init(&h->cfg, HOSTBRIDGE_VENDOR_ID, HOSTBRIDGE_DEVICE_ID, HOSTBRIDGE_REVISION,
	            HOSTBRIDGE_CLASS, 0);
	/*
	 * 440FX datasheet defaults: memory access and bus mastering hardwired
	 * on, status "fast back-to-back capable, medium DEVSEL".  Only the
	 * master latency timer (bits 7:3) is writable; the chipset registers
	 * beyond the header (PAM, SMRAM, ...) are not emulated and read 0.
	 */
	pcicfg_set(&h->cfg, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	pcicfg_set(&h->cfg, PCI_STATUS, 2, 0x0280);
	pcicfg_set_masks(&h->cfg, PCI_LATENCY_TIMER, 1, 0xf8, 0);
}

const struct dmb_ops hostbridge_ops = {
        .pio_read = hostbridge_pio_read,
        .pio_write = hostbridge_pio_write,
        .pci_read = hostbridge_pci_read,
        .pci_write = hostbridge_pci_write,
};
