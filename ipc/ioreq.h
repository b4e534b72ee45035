/* SPDX-License-Identifier: MIT */
/*
 * Helpers over Xen's ioreq ABI (<xen/hvm/ioreq.h>), shared by the simulator,
 * libdmb and the broker.  The state is a 4-bit field in byte 30 of ioreq_t;
 * the party that owns the current state is the only writer, so a byte-wide
 * atomic load/store with acquire/release ordering is exactly what Xen's
 * smp_rmb()/smp_wmb() pairs provide.
 */
#ifndef DMB_IPC_IOREQ_H
#define DMB_IPC_IOREQ_H

#include <stddef.h>
#include <stdint.h>

#include <xen/hvm/ioreq.h>

_Static_assert(sizeof(ioreq_t) == 32, "ioreq_t is 32 bytes");
_Static_assert(sizeof(buf_ioreq_t) == 8, "buf_ioreq_t is 8 bytes");
_Static_assert(sizeof(struct buffered_iopage) <= 4096, "buffered_iopage fits a page");
_Static_assert(offsetof(ioreq_t, vp_eport) == 24, "ioreq_t layout");
_Static_assert(offsetof(ioreq_t, type) == 31, "ioreq_t layout");

#define IOREQ_PAGE_SIZE    4096u
#define IOREQ_STATE_OFFSET 30u /* byte holding state:4, data_is_ptr, dir, df */
#define IOREQ_MAX_VCPUS    (IOREQ_PAGE_SIZE / sizeof(ioreq_t)) /* 128 = HVM_MAX_VCPUS */

/* PCI_CONFIG requests: addr = SBDF << 32 | register (dm_op.h, ioreq.h). */
#define IOREQ_SBDF(seg, bus, dev, fn) \
	((uint32_t)(((seg)&0xffff) << 16 | ((bus)&0xff) << 8 | ((dev)&0x1f) << 3 | ((fn)&7)))
#define IOREQ_SBDF_SEG(s) (((s) >> 16) & 0xffff)
#define IOREQ_SBDF_BUS(s) (((s) >> 8) & 0xff)
#define IOREQ_SBDF_DEV(s) (((s) >> 3) & 0x1f)
#define IOREQ_SBDF_FN(s)  ((s)&7)

static inline uint8_t *ioreq_state_byte(ioreq_t *p)
{
	return (uint8_t *)p + IOREQ_STATE_OFFSET;
}

/* Read the state once, with acquire ordering (pairs with the writer's release). */
static inline unsigned ioreq_load_state(ioreq_t *p)
{
	return __atomic_load_n(ioreq_state_byte(p), __ATOMIC_ACQUIRE) & 0xf;
}

/* Publish a new state after every other field is written (release ordering). */
static inline void ioreq_store_state(ioreq_t *p, unsigned state)
{
	uint8_t *b = ioreq_state_byte(p);
	uint8_t v = __atomic_load_n(b, __ATOMIC_RELAXED);

	__atomic_store_n(b, (uint8_t)((v & 0xf0) | (state & 0xf)), __ATOMIC_RELEASE);
}

/* Bytes of buffered ring slots a request of this size takes (8-byte writes take two). */
static inline unsigned ioreq_buf_slots(unsigned size)
{
	return size == 8 ? 2 : 1;
}

const char *ioreq_type_name(unsigned type);
const char *ioreq_state_name(unsigned state);

#endif
