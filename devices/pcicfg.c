/* SPDX-License-Identifier: MIT */
#include "devices/pcicfg.h"

#include <errno.h>
#include <string.h>

void pcicfg_init(struct pcicfg *c, uint16_t vendor, uint16_t device, uint8_t revision,
                 uint32_t class24, uint8_t header_type)
{
	memset(c, 0, sizeof(*c));
	pcicfg_set(c, PCI_VENDOR_ID, 2, vendor);
	pcicfg_set(c, PCI_DEVICE_ID, 2, device);
	pcicfg_set(c, PCI_REVISION_ID, 1, revision);
	pcicfg_set(c, PCI_CLASS_PROG, 1, class24 & 0xff);
	pcicfg_set(c, PCI_CLASS_PROG + 1, 2, (class24 >> 8) & 0xffff);
	pcicfg_set(c, PCI_HEADER_TYPE, 1, header_type);
}

uint32_t pcicfg_get(const struct pcicfg *c, unsigned reg, unsigned size)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < size && i < 4; i++)
		if (reg + i < PCICFG_SIZE)
			v |= (uint32_t)c->data[reg + i] << (8 * i);
	return v;
}

void pcicfg_set(struct pcicfg *c, unsigned reg, unsigned size, uint32_t value)
{
	for (unsigned i = 0; i < size && i < 4; i++)
		if (reg + i < PCICFG_SIZE)
			c->data[reg + i] = (uint8_t)(value >> (8 * i));
}

void pcicfg_set_masks(struct pcicfg *c, unsigned reg, unsigned size, uint32_t wmask, uint32_t w1c)
{
	for (unsigned i = 0; i < size && i < 4; i++) {
		if (reg + i >= PCICFG_SIZE)
			continue;
		c->wmask[reg + i] = (uint8_t)(wmask >> (8 * i));
		/* A bit is either written or cleared by the guest, never both. */
		c->w1c[reg + i] = (uint8_t)(w1c >> (8 * i)) & (uint8_t)~c->wmask[reg + i];
	}
}

uint32_t pcicfg_read(const struct pcicfg *c, unsigned reg, unsigned size)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < size && i < 4; i++) {
		uint8_t b = reg + i < PCICFG_SIZE ? c->data[reg + i] : 0xff;
		v |= (uint32_t)b << (8 * i);
	}
	return v;
}

void pcicfg_write(struct pcicfg *c, unsigned reg, unsigned size, uint32_t value)
{
	for (unsigned i = 0; i < size && i < 4; i++) {
		unsigned r = reg + i;
		uint8_t b = (uint8_t)(value >> (8 * i));

		if (r >= PCICFG_SIZE)
			continue;
		c->data[r] = (uint8_t)((c->data[r] & ~c->wmask[r]) | (b & c->wmask[r]));
		c->data[r] &= (uint8_t) ~(b & c->w1c[r]);
	}
}

int pcicfg_bar_mem32(struct pcicfg *c, unsigned bar, uint32_t size, uint32_t base,
                     bool prefetchable)
{
	unsigned reg = PCI_BASE_ADDRESS_0 + 4 * bar;

	if (bar >= PCICFG_NR_BARS || size < 16 || (size & (size - 1)) || (base & (size - 1)))
		return -EINVAL;
	c->bar_size[bar] = size;
	/* Memory space, 32-bit type (bits 2:1 = 00); the flag bits are read-only. */
	pcicfg_set(c, reg, 4, base | (prefetchable ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0));
	pcicfg_set_masks(c, reg, 4, ~(size - 1), 0);
	return 0;
}

int pcicfg_bar_addr(const struct pcicfg *c, unsigned bar, uint32_t *ret)
{
	uint32_t size, base;

	if (bar >= PCICFG_NR_BARS || c->bar_size[bar] == 0)
		return -ENOENT;
	size = c->bar_size[bar];
	base = pcicfg_get(c, PCI_BASE_ADDRESS_0 + 4 * bar, 4) & ~(size - 1);
	/* 0 is "unassigned" to firmware; ~(size-1) is what a sizing probe leaves behind. */
	if (base == 0 || (uint64_t)base + size - 1 >= UINT32_MAX)
		return -EADDRNOTAVAIL;
	*ret = base;
	return 0;
}

int pcicfg_add_cap(struct pcicfg *c, unsigned off, uint8_t id)
{
	unsigned prev = PCI_CAPABILITY_LIST;
	unsigned guard = 0;

	if (off < 0x40 || off > PCICFG_SIZE - 4 || (off & 3))
		return -EINVAL;
	/* Append, so capabilities appear in the order the device added them. */
	while (c->data[prev] != 0) {
		if (c->data[prev] == off || ++guard > 48)
			return -EINVAL;
		prev = c->data[prev] + 1u;
	}
	c->data[off] = id;
	c->data[off + 1] = 0;
	c->data[prev] = (uint8_t)off;
	c->data[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	return 0;
}
