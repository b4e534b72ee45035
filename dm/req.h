/* SPDX-License-Identifier: MIT */
/*
 * libdmb's request codec: what a device model may be asked to do.  Kept apart
 * from the loop so that unit tests and the fuzzer can drive it directly.
 */
#ifndef DMB_DM_REQ_H
#define DMB_DM_REQ_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc/dmproto.h"

struct dmb_claims {
	unsigned n[DMP_CLAIM_KINDS];
	struct dmp_range r[DMP_CLAIM_KINDS][DMP_MAX_RANGES]; /* sorted by start, disjoint */
};

/* A request that passed validation, in plain fields. */
struct dmb_req {
	unsigned type; /* IOREQ_TYPE_* */
	unsigned dir;  /* IOREQ_READ / IOREQ_WRITE */
	unsigned size;
	uint64_t addr; /* port, guest-physical address, or register (PCI) */
	uint32_t sbdf; /* PCI_CONFIG only */
	uint64_t data; /* value written (writes), TIMEOFFSET offset */
};

/* Install one kind of claims from a DMP_CLAIMS message (sorted, checked). */
int dmb_claims_set(struct dmb_claims *c, const struct dmp_claims *msg);
bool dmb_claims_contain(const struct dmb_claims *c, unsigned kind, uint64_t start, uint64_t end);
/* Move an MMIO claim [old, old+size) to new (after the broker granted a BAR move). */
int dmb_claims_move(struct dmb_claims *c, uint64_t old_base, uint64_t new_base, uint64_t size);

/*
 * Validate a copy of an ioreq_t: size, type, count, data_is_ptr, address
 * inside the claims.  Returns 0 and fills *out, or -EINVAL with *why set to
 * a short reason.
 */
int dmb_req_decode(const struct dmb_claims *c, const ioreq_t *copy, struct dmb_req *out,
                   const char **why);

/* The same for one buffered-ring entry (and its second slot for 8-byte writes). */
int dmb_req_decode_buffered(const struct dmb_claims *c, const buf_ioreq_t *b0,
                            const buf_ioreq_t *b1, struct dmb_req *out, const char **why);

#endif
