/* SPDX-License-Identifier: MIT */
/*
 * libdmb's request codec (dm/req.c) on hostile input: DMP_CLAIMS messages
 * from the first bytes (dmb_claims_set), then copies of ioreq_t slots and
 * buffered-ring entries from the rest (dmb_req_decode,
 * dmb_req_decode_buffered).  Perf-and-reliability P3 / XSA-199.
 *
 * Every verdict is checked against an independent, deliberately naive
 * model (linear scans, no sorting): a claim set is accepted exactly when it
 * is valid, and a request exactly when its type is known, its size is a
 * power of two within the type's limit, and every byte it touches lies in
 * one claim of the right kind.  A disagreement either way is a crash.
 *
 * Input: [n_msgs] n_msgs x claim message, then requests until the end:
 *   claim message: [mode] [kind if mode&0x80] [n if mode&0x40] ranges...
 *   request: [sel] then either a raw ioreq_t / buf_ioreq_t pair, or a
 *   structured one aimed at a claim (so that accepted requests are common).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dm/req.h"
#include "tests/fuzz/input.h"

#define PIO_MAX     0xffffull
#define PCI_CFG_MAX 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dmb_claims claims, before;
static struct dmp_claims msg;

/* ---- the model ---------------------------------------------------------- */

static bool msg_valid(const struct dmp_claims *m)
{
	if (m->kind >= DMP_CLAIM_KINDS || m->n > DMP_MAX_RANGES)
		return false;
	for (unsigned i = 0; i < m->n; i++) {
		const struct dmp_range *r = &m->r[i];

		if (r->start > r->end)
			return false;
		if (m->kind == DMP_CLAIM_PORT && r->end > PIO_MAX)
			return false;
		if (m->kind == DMP_CLAIM_PCI && (r->start != r->end || r->end > UINT32_MAX))
			return false;
		for (unsigned j = 0; j < i; j++)
			if (r->start <= m->r[j].end && m->r[j].start <= r->end)
				return false;
	}
	return true;
}

/* Every claim set the codec holds is sorted, disjoint and within its kind's limits. */
static void check_claims(const struct dmb_claims *c)
{
	for (unsigned k = 0; k < DMP_CLAIM_KINDS; k++) {
		FUZZ_CHECK(c->n[k] <= DMP_MAX_RANGES);
		for (unsigned i = 0; i < c->n[k]; i++) {
			const struct dmp_range *r = &c->r[k][i];

			FUZZ_CHECK(r->start <= r->end);
			FUZZ_CHECK(k != DMP_CLAIM_PORT || r->end <= PIO_MAX);
			FUZZ_CHECK(k != DMP_CLAIM_PCI ||
			           (r->start == r->end && r->end <= UINT32_MAX));
			FUZZ_CHECK(i == 0 || c->r[k][i - 1].end < r->start);
		}
	}
}

static bool in_one_claim(const struct dmb_claims *c, unsigned kind, uint64_t first, uint64_t last)
{
	if (first > last)
		return false;
	for (unsigned i = 0; i < c->n[kind]; i++)
		if (c->r[kind][i].start <= first && last <= c->r[kind][i].end)
			return true;
	return false;
}

static bool pow2_upto(uint64_t size, unsigned max)
{
	return size >= 1 && size <= max && !(size & (size - 1));
}

static bool access_ok(const struct dmb_claims *c, unsigned kind, uint64_t addr, uint64_t size)
{
	uint64_t last = addr + size - 1;

	if (last < addr)
		return false;
	if (kind == DMP_CLAIM_PORT && last > PIO_MAX)
		return false;
	return in_one_claim(c, kind, addr, last);
}

static bool sync_ok(const struct dmb_claims *c, const ioreq_t *q)
{
	switch (q->type) {
	case IOREQ_TYPE_PIO:
		return pow2_upto(q->size, 4) && q->count == 1 && !q->data_is_ptr &&
		       access_ok(c, DMP_CLAIM_PORT, q->addr, q->size);
	case IOREQ_TYPE_COPY:
		return pow2_upto(q->size, 8) && q->count == 1 && !q->data_is_ptr &&
		       access_ok(c, DMP_CLAIM_MMIO, q->addr, q->size);
	case IOREQ_TYPE_PCI_CONFIG: {
		uint64_t reg = q->addr & 0xffffffffu, sbdf = q->addr >> 32;

		return pow2_upto(q->size, 4) && q->count == 1 && !q->data_is_ptr &&
		       reg + q->size <= PCI_CFG_MAX && in_one_claim(c, DMP_CLAIM_PCI, sbdf, sbdf);
	}
	case IOREQ_TYPE_INVALIDATE:
	case IOREQ_TYPE_TIMEOFFSET:
		return true; /* no address, no data reaches a device but the offset */
	}
	return false;
}

static uint64_t masked(uint64_t v, uint64_t size)
{
	return size < 8 ? v & ((1ull << (8 * size)) - 1) : v;
}

static void check_sync(const struct dmb_claims *c, const ioreq_t *q)
{
	ioreq_t copy = *q;
	struct dmb_req out;
	const char *why = NULL;
	int r = dmb_req_decode(c, &copy, &out, &why);

	FUZZ_CHECK(memcmp(&copy, q, sizeof(copy)) == 0); /* the copy is only read */
	FUZZ_CHECK((r == 0) == sync_ok(c, q));
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL && why && *why);
		return;
	}
	FUZZ_CHECK(out.type == q->type && out.dir == q->dir && out.size == q->size);
	FUZZ_CHECK(out.data == (q->dir == IOREQ_WRITE ? masked(q->data, q->size) : q->data));
	switch (q->type) {
	case IOREQ_TYPE_PIO:
		FUZZ_CHECK(out.addr == q->addr && out.addr + out.size - 1 <= PIO_MAX);
		FUZZ_CHECK(pow2_upto(out.size, 4));
		break;
	case IOREQ_TYPE_COPY:
		FUZZ_CHECK(out.addr == q->addr && pow2_upto(out.size, 8));
		break;
	case IOREQ_TYPE_PCI_CONFIG:
		FUZZ_CHECK(out.sbdf == q->addr >> 32 && out.addr == (q->addr & 0xffffffffu));
		FUZZ_CHECK(out.addr + out.size <= PCI_CFG_MAX && pow2_upto(out.size, 4));
		break;
	}
}

static bool buffered_ok(const struct dmb_claims *c, const buf_ioreq_t *b0, const buf_ioreq_t *b1)
{
	unsigned size = 1u << b0->size;

	if (b0->dir != IOREQ_WRITE || (size == 8 && !b1))
		return false;
	switch (b0->type) {
	case IOREQ_TYPE_TIMEOFFSET:
		return true;
	case IOREQ_TYPE_PIO:
		return size <= 4 && access_ok(c, DMP_CLAIM_PORT, b0->addr, size);
	case IOREQ_TYPE_COPY:
		return access_ok(c, DMP_CLAIM_MMIO, b0->addr, size);
	}
	return false;
}

static void check_buffered(const struct dmb_claims *c, const buf_ioreq_t *b0, const buf_ioreq_t *b1)
{
	struct dmb_req out;
	const char *why = NULL;
	int r = dmb_req_decode_buffered(c, b0, b1, &out, &why);
	uint64_t data;

	FUZZ_CHECK((r == 0) == buffered_ok(c, b0, b1));
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL && why && *why);
		return;
	}
	data = b0->data | (out.size == 8 ? (uint64_t)b1->data << 32 : 0);
	FUZZ_CHECK(out.type == b0->type && out.dir == IOREQ_WRITE);
	FUZZ_CHECK(out.size == 1u << b0->size && out.addr == b0->addr);
	FUZZ_CHECK(out.data == masked(data, out.size));
}

/* ---- input -------------------------------------------------------------- */

static uint64_t pick_start(struct fuzz_input *in, unsigned how)
{
	switch (how & 3) {
	case 0:
		return fin_u8(in);
	case 1:
		return fin_u16(in);
	case 2:
		return 0xe0000000ull + ((uint64_t)fin_u16(in) << 4);
	}
	return fin_u64(in);
}

static void one_claim_message(struct fuzz_input *in)
{
	uint8_t mode = fin_u8(in);
	unsigned n;
	int r;

	memset(&msg, 0, sizeof(msg));
	msg.kind = mode & 0x80 ? fin_u32(in) : mode % DMP_CLAIM_KINDS;
	msg.n = mode & 0x40 ? fin_u16(in) : (mode >> 2) & 0xf;
	n = msg.n < DMP_MAX_RANGES ? msg.n : DMP_MAX_RANGES;
	for (unsigned i = 0; i < n && !fin_empty(in); i++) {
		uint8_t how = fin_u8(in);
		struct dmp_range *rg = &msg.r[i];

		rg->start = pick_start(in, how);
		if (how & 0x80)
			rg->end = fin_u64(in);
		else if (msg.kind == DMP_CLAIM_PCI && !(how & 0x40))
			rg->end = rg->start;
		else
			rg->end = rg->start + ((how >> 2) & 0xf) * ((how & 0x40) ? 0x1000 : 1) +
			          ((how & 0x20) ? 0xf : 0);
	}
	before = claims;
	r = dmb_claims_set(&claims, &msg);
	FUZZ_CHECK((r == 0) == msg_valid(&msg));
	if (r < 0) {
		/* Output parameters are written only on success. */
		FUZZ_CHECK(r == -EINVAL && memcmp(&before, &claims, sizeof(claims)) == 0);
		return;
	}
	FUZZ_CHECK(claims.n[msg.kind] == msg.n);
	for (unsigned i = 0; i < msg.n; i++)
		FUZZ_CHECK(in_one_claim(&claims, msg.kind, msg.r[i].start, msg.r[i].end));
	for (unsigned k = 0; k < DMP_CLAIM_KINDS; k++)
		if (k != msg.kind)
			FUZZ_CHECK(claims.n[k] == before.n[k] &&
			           !memcmp(claims.r[k], before.r[k],
			                   before.n[k] * sizeof(claims.r[k][0])));
}

/* A BAR move the broker granted: libdmb moves its own claim (dmb_claims_move). */
static void one_move(struct fuzz_input *in)
{
	unsigned n = claims.n[DMP_CLAIM_MMIO], idx = fin_u8(in);
	uint64_t old = n ? claims.r[DMP_CLAIM_MMIO][idx % n].start : fin_u64(in);
	uint64_t size = n ? claims.r[DMP_CLAIM_MMIO][idx % n].end - old + 1 : fin_u64(in);
	uint64_t new_base = fin_u64(in);
	int r;

	if (idx & 0x80)
		size = fin_u64(in);
	before = claims;
	r = dmb_claims_move(&claims, old, new_base, size);
	if (r < 0) {
		FUZZ_CHECK(memcmp(&before, &claims, sizeof(claims)) == 0);
		return;
	}
	FUZZ_CHECK(size && claims.n[DMP_CLAIM_MMIO] == n);
	FUZZ_CHECK(in_one_claim(&claims, DMP_CLAIM_MMIO, new_base, new_base + size - 1));
}

/* A request aimed at a claim: mostly inside, sometimes just across an edge. */
static void aimed(struct fuzz_input *in, uint8_t sel, ioreq_t *q)
{
	static const uint8_t types[] = {IOREQ_TYPE_PIO, IOREQ_TYPE_COPY, IOREQ_TYPE_PCI_CONFIG,
	                                IOREQ_TYPE_TIMEOFFSET, IOREQ_TYPE_INVALIDATE};
	uint8_t t = fin_u8(in), idx = fin_u8(in);
	unsigned kind;
	uint64_t base = 0;
	int16_t off = (int16_t)fin_u16(in);

	memset(q, 0, sizeof(*q));
	q->type = types[t % sizeof(types)];
	q->size = 1u << ((t >> 3) & 3);
	if (t & 0x80)
		q->size = fin_u32(in);
	q->count = (t & 0x40) ? fin_u32(in) : 1;
	q->dir = (sel >> 4) & 1;
	q->df = (sel >> 5) & 1;
	q->data_is_ptr = (t & 0x20) ? 1 : 0;
	q->data = fin_u64(in);
	q->state = STATE_IOREQ_READY;
	kind = q->type == IOREQ_TYPE_PIO          ? DMP_CLAIM_PORT
	       : q->type == IOREQ_TYPE_PCI_CONFIG ? DMP_CLAIM_PCI
	                                          : DMP_CLAIM_MMIO;
	if (claims.n[kind]) {
		const struct dmp_range *r = &claims.r[kind][idx % claims.n[kind]];
		base = (idx & 0x80) ? r->end : r->start;
	}
	if (q->type == IOREQ_TYPE_PCI_CONFIG)
		q->addr = base << 32 | (uint16_t)off;
	else
		q->addr = base + (uint64_t)(int64_t)off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	unsigned n_msgs = fin_u8(&in) % 8;

	memset(&claims, 0, sizeof(claims));
	for (unsigned i = 0; i < n_msgs && !fin_empty(&in); i++)
		one_claim_message(&in);
	check_claims(&claims);
	while (!fin_empty(&in)) {
		uint8_t sel = fin_u8(&in);

		switch (sel & 3) {
		case 0: { /* a raw slot copy */
			ioreq_t q;

			fin_bytes(&in, &q, sizeof(q));
			check_sync(&claims, &q);
			break;
		}
		case 1: { /* a structured one */
			ioreq_t q;

			aimed(&in, sel, &q);
			check_sync(&claims, &q);
			break;
		}
		case 2: { /* buffered entries, with or without the second slot */
			buf_ioreq_t b[2];

			fin_bytes(&in, b, sizeof(b));
			if (sel & 4) {
				/* aimed at a claim */
				unsigned kind = b[0].type == IOREQ_TYPE_PIO ? DMP_CLAIM_PORT
				                                            : DMP_CLAIM_MMIO;
				if (claims.n[kind])
					b[0].addr = (uint32_t)claims.r[kind][sel % claims.n[kind]]
					                    .start &
					            0xfffff;
			}
			check_buffered(&claims, &b[0], (sel & 8) ? &b[1] : NULL);
			break;
		}
		case 3:
			if (sel & 4)
				one_move(&in);
			else
				one_claim_message(&in);
			check_claims(&claims);
			break;
		}
	}
	return 0;
}
