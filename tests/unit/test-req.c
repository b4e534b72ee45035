/* SPDX-License-Identifier: MIT */
/* libdmb's request codec (dm/req.c): claims, and validation of copied ioreqs. */
#include "tests/test.h"

#include "common/util.h"
#include "dm/req.h"

#define PCI_DEV  IOREQ_SBDF(0, 0, 3, 0)
#define PCI_DEV2 IOREQ_SBDF(0, 1, 0, 7)
#define PCI_NONE IOREQ_SBDF(0, 0, 4, 0)
#define MMIO_TOP 0xfffffffffffff000ull

/* ---- claims ---------------------------------------------------------------- */

static int set(struct dmb_claims *c, unsigned kind, unsigned n, const struct dmp_range *r)
{
	struct dmp_claims *msg = calloc(1, sizeof(*msg));
	int ret;

	ASSERT_NOT_NULL(msg);
	msg->kind = kind;
	msg->n = n;
	if (r)
		memcpy(msg->r, r, MIN(n, (unsigned)DMP_MAX_RANGES) * sizeof(*r));
	ret = dmb_claims_set(c, msg);
	free(msg);
	return ret;
}

/* The claims most request tests run against. */
static void std_claims(struct dmb_claims *c)
{
	const struct dmp_range port[] = {{0xfff0, 0xffff}, {0x3f8, 0x3ff}, {0x510, 0x51f}};
	const struct dmp_range mmio[] = {{0xe0000000, 0xe0000fff}, {MMIO_TOP, UINT64_MAX}};
	const struct dmp_range pci[] = {{PCI_DEV2, PCI_DEV2}, {PCI_DEV, PCI_DEV}};

	memset(c, 0, sizeof(*c));
	ASSERT_OK(set(c, DMP_CLAIM_PORT, ARRAY_SIZE(port), port));
	ASSERT_OK(set(c, DMP_CLAIM_MMIO, ARRAY_SIZE(mmio), mmio));
	ASSERT_OK(set(c, DMP_CLAIM_PCI, ARRAY_SIZE(pci), pci));
}

TEST(claims_sorted)
{
	struct dmb_claims c = {0};
	const struct dmp_range r[] = {{0x500, 0x50f}, {0x10, 0x1f}, {0x300, 0x300}, {0x20, 0x2f}};

	ASSERT_OK(set(&c, DMP_CLAIM_PORT, ARRAY_SIZE(r), r));
	ASSERT_EQ(c.n[DMP_CLAIM_PORT], 4);
	ASSERT_EQ(c.r[DMP_CLAIM_PORT][0].start, 0x10);
	ASSERT_EQ(c.r[DMP_CLAIM_PORT][1].start, 0x20);
	ASSERT_EQ(c.r[DMP_CLAIM_PORT][2].start, 0x300);
	ASSERT_EQ(c.r[DMP_CLAIM_PORT][3].start, 0x500);
	ASSERT_EQ(c.r[DMP_CLAIM_PORT][3].end, 0x50f);
	for (unsigned i = 0; i < ARRAY_SIZE(r); i++)
		ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_PORT, r[i].start, r[i].end));
	ASSERT_EQ(c.n[DMP_CLAIM_MMIO], 0);

	/* The full number of ranges, given in reverse order. */
	{
		struct dmp_range *many = calloc(DMP_MAX_RANGES, sizeof(*many));
		ASSERT_NOT_NULL(many);
		for (unsigned i = 0; i < DMP_MAX_RANGES; i++) {
			uint64_t base = 0x100000ull * (DMP_MAX_RANGES - i);
			many[i] = (struct dmp_range){base, base + 0xfff};
		}
		ASSERT_OK(set(&c, DMP_CLAIM_MMIO, DMP_MAX_RANGES, many));
		ASSERT_EQ(c.n[DMP_CLAIM_MMIO], DMP_MAX_RANGES);
		for (unsigned i = 1; i < DMP_MAX_RANGES; i++)
			ASSERT_LT(c.r[DMP_CLAIM_MMIO][i - 1].end, c.r[DMP_CLAIM_MMIO][i].start);
		for (unsigned i = 0; i < DMP_MAX_RANGES; i++) {
			ASSERT_TRUE(
			        dmb_claims_contain(&c, DMP_CLAIM_MMIO, many[i].start, many[i].end));
			ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_MMIO, many[i].end + 1,
			                                many[i].end + 1));
		}
		free(many);
	}
	/* n = 0 clears a kind. */
	ASSERT_OK(set(&c, DMP_CLAIM_PORT, 0, NULL));
	ASSERT_EQ(c.n[DMP_CLAIM_PORT], 0);
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x10, 0x10));
}

TEST(claims_rejected)
{
	struct dmb_claims c;
	const struct dmp_range overlap[] = {{0x10, 0x20}, {0x20, 0x30}};
	const struct dmp_range overlap_sorted_late[] = {
	        {0x100, 0x1ff}, {0x0, 0x10}, {0x150, 0x160}};
	const struct dmp_range same[] = {{0x10, 0x1f}, {0x10, 0x1f}};
	const struct dmp_range inside[] = {{0x10, 0x1f}, {0x0, 0xffff}};
	const struct dmp_range adjacent[] = {{0x20, 0x2f}, {0x10, 0x1f}};
	const struct dmp_range backwards[] = {{0x20, 0x1f}};
	const struct dmp_range port_high[] = {{0xfff0, 0x10000}};
	const struct dmp_range port_huge[] = {{0x10000, 0x10000}};
	const struct dmp_range pci_range[] = {{PCI_DEV, PCI_DEV + 1}};
	const struct dmp_range pci_huge[] = {{0x100000000ull, 0x100000000ull}};
	const struct dmp_range mmio_top[] = {{0, UINT64_MAX}};
	const struct dmp_range one[] = {{0x60, 0x64}};

	std_claims(&c);
	ASSERT_ERR(set(&c, DMP_CLAIM_PORT, 2, overlap), -EINVAL);
	ASSERT_ERR(set(&c, DMP_CLAIM_MMIO, 3, overlap_sorted_late), -EINVAL);
	ASSERT_ERR(set(&c, DMP_CLAIM_MMIO, 2, same), -EINVAL);
	ASSERT_ERR(set(&c, DMP_CLAIM_PORT, 2, inside), -EINVAL);
	ASSERT_ERR(set(&c, DMP_CLAIM_PORT, 1, backwards), -EINVAL);
	ASSERT_ERR(set(&c, DMP_CLAIM_PORT, 1, port_high), -EINVAL);
	ASSERT_ERR(set(&c, DMP_CLAIM_PORT, 1, port_huge), -EINVAL);
	ASSERT_ERR(set(&c, DMP_CLAIM_PCI, 1, pci_range), -EINVAL);
	ASSERT_ERR(set(&c, DMP_CLAIM_PCI, 1, pci_huge), -EINVAL);
	ASSERT_ERR(set(&c, DMP_CLAIM_PCI, 1, mmio_top), -EINVAL);
	ASSERT_ERR(set(&c, DMP_CLAIM_PORT, DMP_MAX_RANGES + 1, NULL), -EINVAL);
	ASSERT_ERR(set(&c, DMP_CLAIM_PORT, UINT32_MAX, NULL), -EINVAL);
	ASSERT_ERR(set(&c, DMP_CLAIM_KINDS, 1, one), -EINVAL);
	ASSERT_ERR(set(&c, UINT32_MAX, 1, one), -EINVAL);

	/* Failures leave the previous claims untouched. */
	{
		struct dmb_claims ref;
		std_claims(&ref);
		ASSERT_TRUE(memcmp(&c, &ref, sizeof(c)) == 0);
	}

	/* What is allowed: adjacent ranges, the whole 64-bit space, port 0xffff. */
	ASSERT_OK(set(&c, DMP_CLAIM_PORT, 2, adjacent));
	ASSERT_OK(set(&c, DMP_CLAIM_MMIO, 1, mmio_top));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_MMIO, 0, UINT64_MAX));
}

TEST(claims_contain_edges)
{
	struct dmb_claims c;
	const struct dmp_range adjacent[] = {{0x10, 0x1f}, {0x20, 0x2f}, {0x40, 0x40}};
	const struct dmp_range low[] = {{0, 0}};

	memset(&c, 0, sizeof(c));
	/* Nothing claimed. */
	for (unsigned k = 0; k < DMP_CLAIM_KINDS; k++) {
		ASSERT_FALSE(dmb_claims_contain(&c, k, 0, 0));
		ASSERT_FALSE(dmb_claims_contain(&c, k, UINT64_MAX, UINT64_MAX));
	}
	ASSERT_OK(set(&c, DMP_CLAIM_PORT, ARRAY_SIZE(adjacent), adjacent));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x10, 0x10));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x1f, 0x1f));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x10, 0x1f));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x1c, 0x1f));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x20, 0x2f));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x40, 0x40));
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x0f, 0x0f));
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x0f, 0x10));
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x2f, 0x30));
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x30, 0x30));
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x3f, 0x3f));
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x40, 0x41));
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x41, 0x41));
	/* One access never spans two claims, even adjacent ones. */
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x1e, 0x21));
	/* Reversed spans and bad kinds. */
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x1f, 0x10));
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_KINDS, 0x10, 0x10));
	ASSERT_FALSE(dmb_claims_contain(&c, UINT32_MAX, 0x10, 0x10));
	/* Other kinds are separate. */
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_MMIO, 0x10, 0x10));

	/* The ends of the address space. */
	ASSERT_OK(set(&c, DMP_CLAIM_PORT, 1, low));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0, 0));
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0, 1));
	std_claims(&c);
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_MMIO, UINT64_MAX, UINT64_MAX));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_MMIO, MMIO_TOP, UINT64_MAX));
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_MMIO, MMIO_TOP - 1, MMIO_TOP));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0xffff, 0xffff));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_PCI, PCI_DEV, PCI_DEV));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_PCI, PCI_DEV2, PCI_DEV2));
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_PCI, PCI_NONE, PCI_NONE));
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_PCI, PCI_DEV, PCI_DEV + 1));
}

TEST(claims_move)
{
	struct dmb_claims c, before;

	std_claims(&c);
	/* A BAR moves below the other claim: the list stays sorted. */
	ASSERT_OK(dmb_claims_move(&c, 0xe0000000, 0x80000000, 0x1000));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_MMIO, 0x80000000, 0x80000fff));
	ASSERT_FALSE(dmb_claims_contain(&c, DMP_CLAIM_MMIO, 0xe0000000, 0xe0000000));
	ASSERT_EQ(c.n[DMP_CLAIM_MMIO], 2);
	ASSERT_EQ_U(c.r[DMP_CLAIM_MMIO][0].start, 0x80000000);
	ASSERT_EQ_U(c.r[DMP_CLAIM_MMIO][1].start, MMIO_TOP);
	/* Other kinds are not affected. */
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_PORT, 0x3f8, 0x3ff));

	memcpy(&before, &c, sizeof(c));
	/* Unknown base, or a size that does not match the claim. */
	ASSERT_ERR(dmb_claims_move(&c, 0xe0000000, 0x90000000, 0x1000), -ENOENT);
	ASSERT_ERR(dmb_claims_move(&c, 0x80000000, 0x90000000, 0x800), -ENOENT);
	ASSERT_ERR(dmb_claims_move(&c, 0x80000000, 0x90000000, 0x2000), -ENOENT);
	/* Zero size, wrapping old or new range. */
	ASSERT_ERR(dmb_claims_move(&c, 0x80000000, 0x90000000, 0), -EINVAL);
	ASSERT_ERR(dmb_claims_move(&c, 0x80000000, UINT64_MAX - 0xffe, 0x1000), -EINVAL);
	ASSERT_ERR(dmb_claims_move(&c, UINT64_MAX, 0, 2), -EINVAL);
	/* Onto another claim. */
	ASSERT_ERR(dmb_claims_move(&c, 0x80000000, MMIO_TOP - 0x800, 0x1000), -EINVAL);
	ASSERT_TRUE(memcmp(&c, &before, sizeof(c)) == 0);

	/* Up to the very top of the address space, after moving the other claim away. */
	ASSERT_OK(dmb_claims_move(&c, MMIO_TOP, 0xf0000000, 0x1000));
	ASSERT_OK(dmb_claims_move(&c, 0x80000000, UINT64_MAX - 0xfff, 0x1000));
	ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_MMIO, UINT64_MAX - 7, UINT64_MAX));
	ASSERT_EQ_U(c.r[DMP_CLAIM_MMIO][0].start, 0xf0000000);
	/* Back again to where it was. */
	ASSERT_OK(dmb_claims_move(&c, UINT64_MAX - 0xfff, 0x80000000, 0x1000));
	ASSERT_EQ_U(c.r[DMP_CLAIM_MMIO][0].start, 0x80000000);
}

/* ---- synchronous requests -------------------------------------------------- */

static ioreq_t req(unsigned type, unsigned dir, unsigned size, uint64_t addr, uint64_t data)
{
	ioreq_t q;

	memset(&q, 0, sizeof(q));
	q.type = (uint8_t)type;
	q.dir = dir & 1;
	q.size = size;
	q.addr = addr;
	q.data = data;
	q.count = 1;
	q.state = STATE_IOREQ_READY;
	return q;
}

static uint64_t pci_addr(uint32_t sbdf, uint32_t reg)
{
	return (uint64_t)sbdf << 32 | reg;
}

static struct dmb_req sentinel(void)
{
	struct dmb_req r;

	memset(&r, 0x5a, sizeof(r));
	return r;
}

static bool untouched(const struct dmb_req *r)
{
	struct dmb_req s = sentinel();

	return memcmp(r, &s, sizeof(s)) == 0;
}

#define ACCEPT(c, q)                                                         \
	__extension__({                                                      \
		struct dmb_req out_ = sentinel();                            \
		const char *why_ = NULL;                                     \
		ioreq_t q_ = (q);                                            \
		int r_ = dmb_req_decode((c), &q_, &out_, &why_);             \
		if (r_ < 0)                                                  \
			test_fail(__FILE__, __LINE__, "%s rejected: %s", #q, \
			          why_ ? why_ : "(no reason)");              \
		out_;                                                        \
	})

#define REJECT(c, q)                                                         \
	do {                                                                 \
		struct dmb_req out_ = sentinel();                            \
		const char *why_ = NULL;                                     \
		ioreq_t q_ = (q);                                            \
		ASSERT_ERR(dmb_req_decode((c), &q_, &out_, &why_), -EINVAL); \
		ASSERT_NOT_NULL(why_);                                       \
		ASSERT_TRUE(why_[0] != '\0');                                \
		ASSERT_TRUE(untouched(&out_));                               \
	} while (0)

TEST(decode_accepts_pio)
{
	struct dmb_claims c;
	struct dmb_req r;
	static const unsigned sizes[] = {1, 2, 4};

	std_claims(&c);
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned s = sizes[i];

		r = ACCEPT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, s, 0x3f8, 0));
		ASSERT_EQ(r.type, IOREQ_TYPE_PIO);
		ASSERT_EQ(r.dir, IOREQ_READ);
		ASSERT_EQ(r.size, s);
		ASSERT_EQ_U(r.addr, 0x3f8);
		r = ACCEPT(&c, req(IOREQ_TYPE_PIO, IOREQ_WRITE, s, 0x400 - s, 0x41));
		ASSERT_EQ(r.dir, IOREQ_WRITE);
		ASSERT_EQ_U(r.addr, 0x400 - s);
		ASSERT_EQ_U(r.data, 0x41);
		/* The last ports there are. */
		r = ACCEPT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, s, 0x10000 - s, 0));
		ASSERT_EQ_U(r.addr, 0x10000 - s);
	}
	/* df has no effect on a single access. */
	{
		ioreq_t q = req(IOREQ_TYPE_PIO, IOREQ_READ, 4, 0x3fc, 0);
		q.df = 1;
		r = ACCEPT(&c, q);
		ASSERT_EQ_U(r.addr, 0x3fc);
	}
	/* vp_eport and the padding do not matter. */
	{
		ioreq_t q = req(IOREQ_TYPE_PIO, IOREQ_READ, 1, 0x510, 0);
		q.vp_eport = 0xffffffff;
		q._pad0 = 0xffff;
		q._pad1 = 1;
		ACCEPT(&c, q);
	}
}

TEST(decode_accepts_mmio)
{
	struct dmb_claims c;
	struct dmb_req r;
	static const unsigned sizes[] = {1, 2, 4, 8};

	std_claims(&c);
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned s = sizes[i];

		r = ACCEPT(&c, req(IOREQ_TYPE_COPY, IOREQ_READ, s, 0xe0000000, 0));
		ASSERT_EQ(r.type, IOREQ_TYPE_COPY);
		ASSERT_EQ(r.size, s);
		ASSERT_EQ_U(r.addr, 0xe0000000);
		r = ACCEPT(&c, req(IOREQ_TYPE_COPY, IOREQ_WRITE, s, 0xe0001000 - s, 0x12));
		ASSERT_EQ_U(r.addr, 0xe0001000 - s);
		ASSERT_EQ_U(r.data, 0x12);
		/* The very top of the address space. */
		r = ACCEPT(&c, req(IOREQ_TYPE_COPY, IOREQ_READ, s, UINT64_MAX - s + 1, 0));
		ASSERT_EQ_U(r.addr, UINT64_MAX - s + 1);
	}
}

TEST(decode_accepts_pci_config)
{
	struct dmb_claims c;
	struct dmb_req r;
	static const unsigned sizes[] = {1, 2, 4};

	std_claims(&c);
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++) {
		unsigned s = sizes[i];

		r = ACCEPT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, s, pci_addr(PCI_DEV, 0), 0));
		ASSERT_EQ(r.type, IOREQ_TYPE_PCI_CONFIG);
		ASSERT_EQ(r.sbdf, PCI_DEV);
		ASSERT_EQ(r.addr, 0);
		ASSERT_EQ(r.size, s);
		r = ACCEPT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_WRITE, s,
		                   pci_addr(PCI_DEV2, 4096 - s), 0x77));
		ASSERT_EQ(r.sbdf, PCI_DEV2);
		ASSERT_EQ(r.addr, 4096 - s);
		ASSERT_EQ_U(r.data, 0x77);
		/* Extended config space. */
		r = ACCEPT(&c,
		           req(IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, s, pci_addr(PCI_DEV, 0x100), 0));
		ASSERT_EQ(r.addr, 0x100);
	}
}

TEST(decode_accepts_invalidate_timeoffset)
{
	struct dmb_claims c;
	struct dmb_req r;
	ioreq_t q;

	std_claims(&c);
	/* As Xen sends them (send_invalidate_req: count 0; send_timeoffset_req). */
	q = req(IOREQ_TYPE_INVALIDATE, IOREQ_WRITE, 4, 0, ~0ull);
	q.count = 0;
	r = ACCEPT(&c, q);
	ASSERT_EQ(r.type, IOREQ_TYPE_INVALIDATE);
	r = ACCEPT(&c, req(IOREQ_TYPE_TIMEOFFSET, IOREQ_WRITE, 8, 0, (uint64_t)-3600));
	ASSERT_EQ(r.type, IOREQ_TYPE_TIMEOFFSET);
	ASSERT_EQ((int64_t)r.data, -3600);
	r = ACCEPT(&c, req(IOREQ_TYPE_TIMEOFFSET, IOREQ_WRITE, 8, 0, 0x7fffffffffffffffull));
	ASSERT_EQ_U(r.data, 0x7fffffffffffffffull);
}

TEST(decode_rejects_sizes)
{
	struct dmb_claims c;
	static const unsigned bad[] = {0, 3, 5, 6, 7, 9, 16, 32, 0x80000000u, UINT32_MAX};

	std_claims(&c);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		unsigned s = bad[i];

		REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, s, 0x3f8, 0));
		REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_WRITE, s, 0x3f8, 0));
		REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_READ, s, 0xe0000000, 0));
		REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_WRITE, s, 0xe0000000, 0));
		REJECT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, s, pci_addr(PCI_DEV, 0), 0));
	}
	/* Valid sizes for other types, but not these. */
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 8, 0x3f8, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_WRITE, 8, 0x3f8, 0));
	REJECT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 8, pci_addr(PCI_DEV, 0), 0));
	REJECT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_WRITE, 8, pci_addr(PCI_DEV, 0), 0));
}

TEST(decode_rejects_unknown_types)
{
	struct dmb_claims c;
	static const unsigned bad[] = {3, 4, 5, 6, 9, 10, 0x7f, 0x80, 255};

	std_claims(&c);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		REJECT(&c, req(bad[i], IOREQ_READ, 1, 0x3f8, 0));
		REJECT(&c, req(bad[i], IOREQ_WRITE, 4, 0xe0000000, 0));
		REJECT(&c, req(bad[i], IOREQ_WRITE, 8, 0, 0));
	}
}

TEST(decode_rejects_count_and_data_is_ptr)
{
	struct dmb_claims c;
	ioreq_t q;
	static const unsigned types[] = {IOREQ_TYPE_PIO, IOREQ_TYPE_COPY, IOREQ_TYPE_PCI_CONFIG};
	const uint64_t addrs[] = {0x3f8, 0xe0000000, pci_addr(PCI_DEV, 0)};

	std_claims(&c);
	for (unsigned t = 0; t < ARRAY_SIZE(types); t++) {
		for (unsigned dir = 0; dir < 2; dir++) {
			q = req(types[t], dir, 1, addrs[t], 0);
			q.count = 0;
			REJECT(&c, q);
			q.count = 2;
			REJECT(&c, q);
			q.count = UINT32_MAX;
			REJECT(&c, q);
			/* Indirect data: guest memory this DM cannot reach. */
			q.count = 1;
			q.data_is_ptr = 1;
			REJECT(&c, q);
			q.count = 4;
			REJECT(&c, q);
		}
	}
}

TEST(decode_rejects_ports)
{
	struct dmb_claims c;

	std_claims(&c);
	/* Beyond 0xffff, including values whose low 16 bits are a claimed port. */
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 1, 0x10000, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 1, 0x103f8, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_WRITE, 4, 0x1000003f8ull, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 1, UINT64_MAX, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 4, UINT64_MAX - 1, 0));
	/* Crossing 0xffff. */
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 2, 0xffff, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 4, 0xfffe, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_WRITE, 4, 0xfffd, 0));
	/* Outside the claims and straddling a claim's ends. */
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 1, 0x3f7, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 1, 0x400, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 2, 0x3f7, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 2, 0x3ff, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_WRITE, 4, 0x3fe, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 4, 0x51d, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 4, 0xffed, 0));
	REJECT(&c, req(IOREQ_TYPE_PIO, IOREQ_READ, 1, 0, 0));
	/* An MMIO claim does not admit port I/O at the same numbers, nor the reverse. */
	REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_READ, 1, 0x3f8, 0));
}

TEST(decode_rejects_mmio)
{
	struct dmb_claims c;

	std_claims(&c);
	REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_READ, 4, 0xdffffffc, 0));
	REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_READ, 4, 0xe0001000, 0));
	REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_READ, 8, 0xdffffffc, 0));
	REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_READ, 8, 0xe0000ffc, 0));
	REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_WRITE, 2, 0xe0000fff, 0));
	REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_READ, 1, 0, 0));
	REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_READ, 8, MMIO_TOP - 4, 0));
	/* addr + size wraps past 2^64 (the claim runs to the top, so only the wrap catches it). */
	REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_READ, 8, UINT64_MAX - 6, 0));
	REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_READ, 8, UINT64_MAX, 0));
	REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_WRITE, 4, UINT64_MAX - 2, 0));
	REJECT(&c, req(IOREQ_TYPE_COPY, IOREQ_WRITE, 2, UINT64_MAX, 0));
}

/* df = 1 (backwards string ops): a repeat would span below addr; every variant is refused. */
TEST(decode_rejects_backwards_spans)
{
	struct dmb_claims c;
	ioreq_t q;

	std_claims(&c);
	q = req(IOREQ_TYPE_PIO, IOREQ_READ, 1, 0x3ff, 0);
	q.df = 1;
	q.count = 8; /* 0x3f8..0x3ff: inside the claim, but a repeat */
	REJECT(&c, q);
	q.count = 9; /* 0x3f7..0x3ff: reaches below the claim */
	REJECT(&c, q);
	q = req(IOREQ_TYPE_COPY, IOREQ_WRITE, 8, 0xe0000000, 0);
	q.df = 1;
	q.count = 2; /* below the claim */
	REJECT(&c, q);
	q.addr = 0;
	q.count = 3; /* below zero */
	REJECT(&c, q);
	q.count = UINT32_MAX;
	q.addr = UINT64_MAX - 7;
	REJECT(&c, q);
	q.data_is_ptr = 1;
	REJECT(&c, q);
	/* Forwards the same. */
	q = req(IOREQ_TYPE_COPY, IOREQ_READ, 8, MMIO_TOP, 0);
	q.count = 0x200; /* exactly the claim: still a repeat */
	REJECT(&c, q);
	q.count = 0x201;
	REJECT(&c, q);
}

TEST(decode_rejects_pci)
{
	struct dmb_claims c;

	std_claims(&c);
	REJECT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 4, pci_addr(PCI_NONE, 0), 0));
	REJECT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_WRITE, 1, pci_addr(PCI_NONE, 0x10), 0));
	REJECT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 4, pci_addr(PCI_DEV + 1, 0), 0));
	/* The segment is part of the SBDF. */
	REJECT(&c,
	       req(IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 4, pci_addr(IOREQ_SBDF(1, 0, 3, 0), 0), 0));
	/* Registers beyond the 4 KiB config space. */
	REJECT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 1, pci_addr(PCI_DEV, 4096), 0));
	REJECT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 4, pci_addr(PCI_DEV, 4096), 0));
	REJECT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 4, pci_addr(PCI_DEV, 0xffffffff), 0));
	REJECT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 4, pci_addr(PCI_DEV, 0xfffffffe), 0));
	REJECT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 2, pci_addr(PCI_DEV, 4095), 0));
	REJECT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 4, pci_addr(PCI_DEV, 4094), 0));
	REJECT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_WRITE, 4, pci_addr(PCI_DEV, 4093), 0));
}

TEST(decode_masks_write_data)
{
	struct dmb_claims c;
	struct dmb_req r;
	const uint64_t v = 0x1122334455667788ull;

	std_claims(&c);
	r = ACCEPT(&c, req(IOREQ_TYPE_PIO, IOREQ_WRITE, 1, 0x3f8, v));
	ASSERT_EQ_U(r.data, 0x88);
	r = ACCEPT(&c, req(IOREQ_TYPE_PIO, IOREQ_WRITE, 2, 0x3f8, v));
	ASSERT_EQ_U(r.data, 0x7788);
	r = ACCEPT(&c, req(IOREQ_TYPE_PIO, IOREQ_WRITE, 4, 0x3f8, v));
	ASSERT_EQ_U(r.data, 0x55667788);
	r = ACCEPT(&c, req(IOREQ_TYPE_COPY, IOREQ_WRITE, 1, 0xe0000000, v));
	ASSERT_EQ_U(r.data, 0x88);
	r = ACCEPT(&c, req(IOREQ_TYPE_COPY, IOREQ_WRITE, 2, 0xe0000000, v));
	ASSERT_EQ_U(r.data, 0x7788);
	r = ACCEPT(&c, req(IOREQ_TYPE_COPY, IOREQ_WRITE, 4, 0xe0000000, v));
	ASSERT_EQ_U(r.data, 0x55667788);
	r = ACCEPT(&c, req(IOREQ_TYPE_COPY, IOREQ_WRITE, 8, 0xe0000000, v));
	ASSERT_EQ_U(r.data, v);
	r = ACCEPT(&c, req(IOREQ_TYPE_COPY, IOREQ_WRITE, 8, 0xe0000000, UINT64_MAX));
	ASSERT_EQ_U(r.data, UINT64_MAX);
	r = ACCEPT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_WRITE, 1, pci_addr(PCI_DEV, 4), v));
	ASSERT_EQ_U(r.data, 0x88);
	r = ACCEPT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_WRITE, 2, pci_addr(PCI_DEV, 4), v));
	ASSERT_EQ_U(r.data, 0x7788);
	r = ACCEPT(&c, req(IOREQ_TYPE_PCI_CONFIG, IOREQ_WRITE, 4, pci_addr(PCI_DEV, 4), v));
	ASSERT_EQ_U(r.data, 0x55667788);
}

/* ---- buffered requests ----------------------------------------------------- */

static buf_ioreq_t bufreq(unsigned type, unsigned dir, unsigned size_code, uint32_t addr,
                          uint32_t data)
{
	buf_ioreq_t b;

	memset(&b, 0, sizeof(b));
	b.type = (uint8_t)type;
	b.dir = dir & 1;
	b.size = size_code & 3;
	b.addr = addr & 0xfffff;
	b.data = data;
	return b;
}

static void buf_claims(struct dmb_claims *c)
{
	const struct dmp_range port[] = {{0x3c0, 0x3df}, {0xfffc, 0xffff}};
	const struct dmp_range mmio[] = {{0xa0000, 0xbffff}};

	memset(c, 0, sizeof(*c));
	ASSERT_OK(set(c, DMP_CLAIM_PORT, ARRAY_SIZE(port), port));
	ASSERT_OK(set(c, DMP_CLAIM_MMIO, ARRAY_SIZE(mmio), mmio));
}

#define BUF_ACCEPT(c, b0, b1)                                                    \
	__extension__({                                                          \
		struct dmb_req out_ = sentinel();                                \
		const char *why_ = NULL;                                         \
		int r_ = dmb_req_decode_buffered((c), (b0), (b1), &out_, &why_); \
		if (r_ < 0)                                                      \
			test_fail(__FILE__, __LINE__, "%s rejected: %s", #b0,    \
			          why_ ? why_ : "(no reason)");                  \
		out_;                                                            \
	})

#define BUF_REJECT(c, b0, b1)                                                                \
	do {                                                                                 \
		struct dmb_req out_ = sentinel();                                            \
		const char *why_ = NULL;                                                     \
		ASSERT_ERR(dmb_req_decode_buffered((c), (b0), (b1), &out_, &why_), -EINVAL); \
		ASSERT_NOT_NULL(why_);                                                       \
		ASSERT_TRUE(untouched(&out_));                                               \
	} while (0)

TEST(buffered_accepts_writes)
{
	struct dmb_claims c;
	struct dmb_req r;
	buf_ioreq_t b0, b1;

	buf_claims(&c);
	for (unsigned code = 0; code < 3; code++) {
		unsigned size = 1u << code;

		b0 = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, code, 0xa0000, 0x12);
		r = BUF_ACCEPT(&c, &b0, NULL);
		ASSERT_EQ(r.type, IOREQ_TYPE_COPY);
		ASSERT_EQ(r.dir, IOREQ_WRITE);
		ASSERT_EQ(r.size, size);
		ASSERT_EQ_U(r.addr, 0xa0000);
		ASSERT_EQ_U(r.data, 0x12);
		b0 = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, code, 0xc0000 - size, 0x34);
		r = BUF_ACCEPT(&c, &b0, NULL);
		ASSERT_EQ_U(r.addr, 0xc0000 - size);
		b0 = bufreq(IOREQ_TYPE_PIO, IOREQ_WRITE, code, 0x3c0, 0x56);
		r = BUF_ACCEPT(&c, &b0, NULL);
		ASSERT_EQ(r.type, IOREQ_TYPE_PIO);
		ASSERT_EQ(r.size, size);
		ASSERT_EQ_U(r.addr, 0x3c0);
		ASSERT_EQ_U(r.data, 0x56);
		b0 = bufreq(IOREQ_TYPE_PIO, IOREQ_WRITE, code, 0x10000 - size, 0x56);
		r = BUF_ACCEPT(&c, &b0, NULL);
		ASSERT_EQ_U(r.addr, 0x10000 - size);
	}
	/* 8 bytes: the second slot supplies the high half. */
	b0 = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, 3, 0xa0008, 0x55667788);
	b1 = bufreq(0, 0, 0, 0, 0x11223344);
	r = BUF_ACCEPT(&c, &b0, &b1);
	ASSERT_EQ(r.size, 8);
	ASSERT_EQ_U(r.addr, 0xa0008);
	ASSERT_EQ_U(r.data, 0x1122334455667788ull);
	BUF_REJECT(&c, &b0, NULL);
	/* The second slot of smaller writes is ignored. */
	b0 = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, 2, 0xa0008, 0x55667788);
	r = BUF_ACCEPT(&c, &b0, &b1);
	ASSERT_EQ_U(r.data, 0x55667788);
}

TEST(buffered_masks_write_data)
{
	struct dmb_claims c;
	struct dmb_req r;
	buf_ioreq_t b0;

	buf_claims(&c);
	b0 = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, 0, 0xa0000, 0x55667788);
	r = BUF_ACCEPT(&c, &b0, NULL);
	ASSERT_EQ_U(r.data, 0x88);
	b0 = bufreq(IOREQ_TYPE_PIO, IOREQ_WRITE, 1, 0x3c4, 0x55667788);
	r = BUF_ACCEPT(&c, &b0, NULL);
	ASSERT_EQ_U(r.data, 0x7788);
	b0 = bufreq(IOREQ_TYPE_PIO, IOREQ_WRITE, 2, 0x3c4, 0xffffffff);
	r = BUF_ACCEPT(&c, &b0, NULL);
	ASSERT_EQ_U(r.data, 0xffffffff);
}

TEST(buffered_timeoffset)
{
	struct dmb_claims c;
	struct dmb_req r;
	buf_ioreq_t b0, b1;
	int64_t off = -7200;

	memset(&c, 0, sizeof(c)); /* needs no claims */
	/* As Xen's ioreq_send_buffered() writes an 8-byte value: two slots. */
	b0 = bufreq(IOREQ_TYPE_TIMEOFFSET, IOREQ_WRITE, 3, 0, (uint32_t)(uint64_t)off);
	b1 = bufreq(0, 0, 0, 0, (uint32_t)((uint64_t)off >> 32));
	r = BUF_ACCEPT(&c, &b0, &b1);
	ASSERT_EQ(r.type, IOREQ_TYPE_TIMEOFFSET);
	ASSERT_EQ((int64_t)r.data, off);
	BUF_REJECT(&c, &b0, NULL);
}

TEST(buffered_rejects)
{
	struct dmb_claims c;
	buf_ioreq_t b0, b1 = bufreq(0, 0, 0, 0, 0);
	static const unsigned bad_types[] = {IOREQ_TYPE_PCI_CONFIG, 3, 4,  5, 6,
	                                     IOREQ_TYPE_INVALIDATE, 9, 255};

	buf_claims(&c);
	/* Reads cannot be buffered: nobody waits for the answer. */
	for (unsigned code = 0; code < 4; code++) {
		b0 = bufreq(IOREQ_TYPE_COPY, IOREQ_READ, code, 0xa0000, 0);
		BUF_REJECT(&c, &b0, &b1);
		b0 = bufreq(IOREQ_TYPE_PIO, IOREQ_READ, code, 0x3c0, 0);
		BUF_REJECT(&c, &b0, &b1);
		b0 = bufreq(IOREQ_TYPE_TIMEOFFSET, IOREQ_READ, code, 0, 0);
		BUF_REJECT(&c, &b0, &b1);
	}
	for (unsigned i = 0; i < ARRAY_SIZE(bad_types); i++) {
		b0 = bufreq(bad_types[i], IOREQ_WRITE, 0, 0xa0000, 0);
		BUF_REJECT(&c, &b0, &b1);
		b0 = bufreq(bad_types[i], IOREQ_WRITE, 3, 0xa0000, 0);
		BUF_REJECT(&c, &b0, &b1);
	}
	/* Outside the claims, straddling an end. */
	b0 = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, 0, 0x9ffff, 0);
	BUF_REJECT(&c, &b0, &b1);
	b0 = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, 0, 0xc0000, 0);
	BUF_REJECT(&c, &b0, &b1);
	b0 = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, 2, 0xbfffe, 0);
	BUF_REJECT(&c, &b0, &b1);
	b0 = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, 3, 0xbfffc, 0);
	BUF_REJECT(&c, &b0, &b1);
	b0 = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, 3, 0xffff8, 0);
	BUF_REJECT(&c, &b0, &b1);
	b0 = bufreq(IOREQ_TYPE_PIO, IOREQ_WRITE, 0, 0x3e0, 0);
	BUF_REJECT(&c, &b0, &b1);
	b0 = bufreq(IOREQ_TYPE_PIO, IOREQ_WRITE, 2, 0x3de, 0);
	BUF_REJECT(&c, &b0, &b1);
	/* Ports: not 8 bytes, not beyond or across 0xffff (the field is 20 bits). */
	b0 = bufreq(IOREQ_TYPE_PIO, IOREQ_WRITE, 3, 0x3c0, 0);
	BUF_REJECT(&c, &b0, &b1);
	b0 = bufreq(IOREQ_TYPE_PIO, IOREQ_WRITE, 0, 0x103c0, 0);
	BUF_REJECT(&c, &b0, &b1);
	b0 = bufreq(IOREQ_TYPE_PIO, IOREQ_WRITE, 2, 0xfffe, 0);
	BUF_REJECT(&c, &b0, &b1);
	b0 = bufreq(IOREQ_TYPE_PIO, IOREQ_WRITE, 0, 0xfffff, 0);
	BUF_REJECT(&c, &b0, &b1);
	/* A port claim does not admit buffered MMIO at the same numbers. */
	b0 = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, 0, 0x3c0, 0);
	BUF_REJECT(&c, &b0, &b1);
}

/* ---- randomized ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure can be replayed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Addresses near the claims' edges, so that many requests are (almost) valid. */
static uint64_t interesting_addr(const struct dmb_claims *c)
{
	unsigned kind = (unsigned)(rnd() % DMP_CLAIM_KINDS), n = c->n[kind];
	const struct dmp_range *r;
	uint64_t base, delta = rnd() % 20;

	if (!n || rnd() % 8 == 0)
		return rnd();
	r = &c->r[kind][rnd() % n];
	base = (rnd() & 1) ? r->start : r->end;
	base = (rnd() & 1) ? base + delta : base - delta;
	if (kind == DMP_CLAIM_PCI) /* an SBDF near a claimed one, and a register */
		return base << 32 | (rnd() % 4200);
	return base;
}

static void check_accepted(const struct dmb_claims *c, const ioreq_t *q, const struct dmb_req *r,
                           uint64_t iter)
{
	uint64_t last;

#define INV(cond)                                                                                  \
	do {                                                                                       \
		if (!(cond))                                                                       \
			test_fail(__FILE__, __LINE__,                                              \
			          "iteration %" PRIu64 ": accepted type %u size %u count %u addr " \
			          "0x%" PRIx64 " dir %u ptr %u df %u, but not %s",                 \
			          iter, q->type, q->size, q->count, q->addr, q->dir,               \
			          q->data_is_ptr, q->df, #cond);                                   \
	} while (0)

	INV(r->type == q->type);
	INV(r->dir == q->dir);
	INV(r->size == q->size);
	if (r->dir == IOREQ_WRITE && r->size < 8)
		INV(r->data >> (8 * r->size) == 0);
	switch (q->type) {
	case IOREQ_TYPE_PIO:
		INV(r->size == 1 || r->size == 2 || r->size == 4);
		INV(q->count == 1 && !q->data_is_ptr);
		INV(r->addr == q->addr);
		INV(r->addr <= 0xffff && r->addr + r->size - 1 <= 0xffff);
		INV(dmb_claims_contain(c, DMP_CLAIM_PORT, r->addr, r->addr + r->size - 1));
		break;
	case IOREQ_TYPE_COPY:
		INV(r->size == 1 || r->size == 2 || r->size == 4 || r->size == 8);
		INV(q->count == 1 && !q->data_is_ptr);
		INV(r->addr == q->addr);
		last = r->addr + r->size - 1;
		INV(last >= r->addr);
		INV(dmb_claims_contain(c, DMP_CLAIM_MMIO, r->addr, last));
		break;
	case IOREQ_TYPE_PCI_CONFIG:
		INV(r->size == 1 || r->size == 2 || r->size == 4);
		INV(q->count == 1 && !q->data_is_ptr);
		INV(r->sbdf == (uint32_t)(q->addr >> 32));
		INV(r->addr == (uint32_t)q->addr);
		INV(r->addr + r->size <= 4096);
		INV(dmb_claims_contain(c, DMP_CLAIM_PCI, r->sbdf, r->sbdf));
		break;
	case IOREQ_TYPE_INVALIDATE:
	case IOREQ_TYPE_TIMEOFFSET:
		break; /* no address, nothing else the callbacks use */
	default:
		INV(!"a known type");
	}
#undef INV
}

TEST_TIMEOUT(decode_random, 120)
{
	struct dmb_claims c;
	unsigned accepted[256] = {0}, total = 0;
	const uint64_t seed = 0x9e3779b97f4a7c15ull;

	std_claims(&c);
	rng_state = seed;
	for (uint64_t i = 0; i < 200000; i++) {
		ioreq_t q;
		uint64_t raw[4];
		struct dmb_req r = sentinel();
		const char *why = NULL;
		int rc;

		for (unsigned k = 0; k < 4; k++)
			raw[k] = rnd();
		memcpy(&q, raw, sizeof(q));
		/* Three in four: steer fields towards validity so the checks past the first are
		 * hit. */
		if (i % 4) {
			static const uint8_t types[] = {
			        IOREQ_TYPE_PIO, IOREQ_TYPE_COPY, IOREQ_TYPE_PCI_CONFIG,
			        IOREQ_TYPE_TIMEOFFSET, IOREQ_TYPE_INVALIDATE};
			if (rnd() % 8)
				q.type = types[rnd() % ARRAY_SIZE(types)];
			if (rnd() % 8)
				q.size = 1u << (rnd() % 4);
			if (rnd() % 8)
				q.count = 1;
			if (rnd() % 4)
				q.data_is_ptr = 0;
			if (rnd() % 8)
				q.addr = interesting_addr(&c);
		}
		rc = dmb_req_decode(&c, &q, &r, &why);
		if (rc < 0) {
			ASSERT_EQ(rc, -EINVAL);
			ASSERT_NOT_NULL(why);
			ASSERT_TRUE(untouched(&r));
			continue;
		}
		ASSERT_EQ(rc, 0);
		check_accepted(&c, &q, &r, i);
		accepted[q.type]++;
		total++;
	}
	/* The generator must reach the accepting paths of every known type. */
	ASSERT_GT(accepted[IOREQ_TYPE_PIO], 100);
	ASSERT_GT(accepted[IOREQ_TYPE_COPY], 100);
	ASSERT_GT(accepted[IOREQ_TYPE_PCI_CONFIG], 100);
	ASSERT_GT(accepted[IOREQ_TYPE_TIMEOFFSET], 100);
	ASSERT_GT(accepted[IOREQ_TYPE_INVALIDATE], 100);
	printf("# %u of 200000 random requests accepted\n", total);
}

/* The buffered decoder over every 8-byte pattern class, likewise. */
TEST(decode_buffered_random)
{
	struct dmb_claims c;
	unsigned total = 0;

	buf_claims(&c);
	rng_state = 0x123456789abcdefull;
	for (uint64_t i = 0; i < 200000; i++) {
		buf_ioreq_t b0, b1;
		uint64_t raw0 = rnd(), raw1 = rnd();
		struct dmb_req r = sentinel();
		const char *why = NULL;
		bool two;
		int rc;

		memcpy(&b0, &raw0, sizeof(b0));
		memcpy(&b1, &raw1, sizeof(b1));
		if (i % 2) {
			static const uint8_t types[] = {IOREQ_TYPE_PIO, IOREQ_TYPE_COPY,
			                                IOREQ_TYPE_TIMEOFFSET};
			b0.type = types[rnd() % ARRAY_SIZE(types)];
			b0.dir = IOREQ_WRITE;
			b0.addr = (rnd() & 1)   ? 0xa0000 + rnd() % 0x20010 - 8
			          : (rnd() & 1) ? 0x3c0 + rnd() % 0x30 - 8
			                        : 0xfff8 + rnd() % 0x10;
		}
		two = rnd() & 1;
		rc = dmb_req_decode_buffered(&c, &b0, two ? &b1 : NULL, &r, &why);
		if (rc < 0) {
			ASSERT_EQ(rc, -EINVAL);
			ASSERT_NOT_NULL(why);
			ASSERT_TRUE(untouched(&r));
			continue;
		}
		total++;
		ASSERT_EQ(r.dir, IOREQ_WRITE);
		ASSERT_EQ(r.type, b0.type);
		ASSERT_EQ(r.size, 1u << b0.size);
		if (r.size == 8)
			ASSERT_TRUE(two);
		if (r.size < 8)
			ASSERT_EQ_U(r.data >> (8 * r.size), 0);
		if (r.type == IOREQ_TYPE_PIO) {
			ASSERT_LE(r.size, 4);
			ASSERT_LE(r.addr + r.size - 1, 0xffff);
			ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_PORT, r.addr,
			                               r.addr + r.size - 1));
		} else if (r.type == IOREQ_TYPE_COPY) {
			ASSERT_TRUE(dmb_claims_contain(&c, DMP_CLAIM_MMIO, r.addr,
			                               r.addr + r.size - 1));
		} else {
			ASSERT_EQ(r.type, IOREQ_TYPE_TIMEOFFSET);
		}
	}
	ASSERT_GT(total, 1000);
}
