/* SPDX-License-Identifier: MIT */
/*
 * Validation of ioreqs before any device code sees them (XSA-166/197/199:
 * the page is shared, so the request is copied once by the caller and only
 * the copy is examined and used).
 */
#include "dm/req.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PIO_MAX     0xffffull
#define PCI_CFG_MAX 4096u

static bool size_ok(unsigned size, unsigned max)
{
	return size && size <= max && !(size & (size - 1));
}

static int cmp_range(const void *a, const void *b)
{
	const struct dmp_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int dmb_claims_set(struct dmb_claims *c, const struct dmp_claims *msg)
{
	struct dmp_range r[DMP_MAX_RANGES];
	unsigned kind = msg->kind, n = msg->n;

	if (kind >= DMP_CLAIM_KINDS || n > DMP_MAX_RANGES)
		return -EINVAL;
	memcpy(r, msg->r, n * sizeof(r[0]));
	for (unsigned i = 0; i < n; i++) {
		if (r[i].start > r[i].end)
			return -EINVAL;
		if (kind == DMP_CLAIM_PORT && r[i].end > PIO_MAX)
			return -EINVAL;
		if (kind == DMP_CLAIM_PCI && (r[i].start != r[i].end || r[i].end > UINT32_MAX))
			return -EINVAL;
	}
	qsort(r, n, sizeof(r[0]), cmp_range);
	for (unsigned i = 1; i < n; i++)
		if (r[i].start <= r[i - 1].end)
			return -EINVAL; /* overlapping claims: the broker never sends these */
	memcpy(c->r[kind], r, n * sizeof(r[0]));
	c->n[kind] = n;
	return 0;
}

bool dmb_claims_contain(const struct dmb_claims *c, unsigned kind, uint64_t start, uint64_t end)
{
	unsigned lo = 0, hi;

	if (kind >= DMP_CLAIM_KINDS || start > end)
		return false;
	hi = c->n[kind];
	/* Binary search for the last range starting at or before start. */
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (c->r[kind][mid].start <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && c->r[kind][lo - 1].end >= end;
}

int dmb_claims_move(struct dmb_claims *c, uint64_t old_base, uint64_t new_base, uint64_t size)
{
	struct dmp_claims msg = {.kind = DMP_CLAIM_MMIO};
	bool found = false;

	if (!size || old_base + size - 1 < old_base || new_base + size - 1 < new_base)
		return -EINVAL;
	msg.n = c->n[DMP_CLAIM_MMIO];
	memcpy(msg.r, c->r[DMP_CLAIM_MMIO], msg.n * sizeof(msg.r[0]));
	for (unsigned i = 0; i < msg.n; i++) {
		if (msg.r[i].start == old_base && msg.r[i].end == old_base + size - 1) {
			msg.r[i].start = new_base;
			msg.r[i].end = new_base + size - 1;
			found = true;
			break;
		}
	}
	if (!found)
		return -ENOENT;
	return dmb_claims_set(c, &msg);
}

/* First and last byte of a possibly repeated access, without overflow. */
static int span(const ioreq_t *q, uint64_t *first, uint64_t *last)
{
	uint64_t bytes = (uint64_t)q->size * q->count;

	if (q->df) {
		if (q->addr < bytes - q->size)
			return -EINVAL;
		*first = q->addr - (bytes - q->size);
		*last = q->addr + q->size - 1;
	} else {
		*first = q->addr;
		*last = q->addr + bytes - 1;
	}
	return *last < *first ? -EINVAL : 0;
}

static int fail(const char **why, const char *reason)
{
	*why = reason;
	return -EINVAL;
}

static int decode_io(const struct dmb_claims *c, const ioreq_t *q, struct dmb_req *out,
                     const char **why)
{
	bool pio = q->type == IOREQ_TYPE_PIO;
	uint64_t first, last;

	if (!size_ok(q->size, pio ? 4 : 8))
		return fail(why, "bad size");
	if (q->count == 0)
		return fail(why, "zero count");
	/* Indirect data lives in guest memory, which this device model cannot reach. */
	if (q->data_is_ptr)
		return fail(why, "data_is_ptr without guest memory access");
	if (q->count != 1)
		return fail(why, "repeat count without data_is_ptr");
	if (span(q, &first, &last) < 0)
		return fail(why, "address wraps");
	if (pio && last > PIO_MAX)
		return fail(why, "port beyond 0xffff");
	if (!dmb_claims_contain(c, pio ? DMP_CLAIM_PORT : DMP_CLAIM_MMIO, first, last))
		return fail(why, "outside this device model's claims");
	out->addr = q->addr;
	return 0;
}

static int decode_pci(const struct dmb_claims *c, const ioreq_t *q, struct dmb_req *out,
                      const char **why)
{
	uint32_t sbdf = (uint32_t)(q->addr >> 32), reg = (uint32_t)q->addr;

	if (!size_ok(q->size, 4))
		return fail(why, "bad size");
	if (q->count != 1 || q->data_is_ptr)
		return fail(why, "bad count or data_is_ptr");
	if (reg >= PCI_CFG_MAX || reg + q->size > PCI_CFG_MAX)
		return fail(why, "register beyond config space");
	if (!dmb_claims_contain(c, DMP_CLAIM_PCI, sbdf, sbdf))
		return fail(why, "device not claimed");
	out->sbdf = sbdf;
	out->addr = reg;
	return 0;
}

int dmb_req_decode(const struct dmb_claims *c, const ioreq_t *copy, struct dmb_req *out,
                   const char **why)
{
	struct dmb_req r = {
	        .type = copy->type, .dir = copy->dir, .size = copy->size, .data = copy->data};
	int rc;

	switch (copy->type) {
	case IOREQ_TYPE_PIO:
	case IOREQ_TYPE_COPY:
		rc = decode_io(c, copy, &r, why);
		break;
	case IOREQ_TYPE_PCI_CONFIG:
		rc = decode_pci(c, copy, &r, why);
		break;
	case IOREQ_TYPE_INVALIDATE:
	case IOREQ_TYPE_TIMEOFFSET:
		rc = 0; /* no address; answered without data */
		break;
	default:
		rc = fail(why, "unknown type");
		break;
	}
	if (rc < 0)
		return rc;
	if (r.dir == IOREQ_WRITE && r.size < 8)
		r.data &= (1ull << (8 * r.size)) - 1;
	*out = r;
	return 0;
}

int dmb_req_decode_buffered(const struct dmb_claims *c, const buf_ioreq_t *b0,
                            const buf_ioreq_t *b1, struct dmb_req *out, const char **why)
{
	struct dmb_req r = {.type = b0->type,
	                    .dir = b0->dir,
	                    .size = 1u << b0->size,
	                    .addr = b0->addr,
	                    .data = b0->data};

	if (b0->dir != IOREQ_WRITE)
		return fail(why, "buffered read");
	if (r.size == 8) {
		if (!b1)
			return fail(why, "8-byte entry without its second slot");
		r.data |= (uint64_t)b1->data << 32;
	}
	switch (b0->type) {
	case IOREQ_TYPE_TIMEOFFSET:
		break;
	case IOREQ_TYPE_PIO:
		if (r.size > 4 || r.addr + r.size - 1 > PIO_MAX)
			return fail(why, "bad buffered port access");
		/* fall through */
	case IOREQ_TYPE_COPY:
		if (!dmb_claims_contain(
		            c, b0->type == IOREQ_TYPE_PIO ? DMP_CLAIM_PORT : DMP_CLAIM_MMIO, r.addr,
		            r.addr + r.size - 1))
			return fail(why, "outside this device model's claims");
		break;
	default:
		return fail(why, "unknown buffered type");
	}
	/* As for synchronous writes: the device sees only the bytes written. */
	if (r.size < 8)
		r.data &= (1ull << (8 * r.size)) - 1;
	*out = r;
	return 0;
}
