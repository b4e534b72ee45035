/* SPDX-License-Identifier: MIT */
#include "sim/rangeset.h"

#include <errno.h>
#include <string.h>

void rangeset_init(struct rangeset *rs, unsigned limit)
{
	rs->n = 0;
	rs->limit = limit < RANGESET_MAX ? limit : RANGESET_MAX;
}

/* Index of the first range whose end is >= s (ranges are sorted and disjoint). */
static unsigned lower_bound(const struct rangeset *rs, uint64_t s)
{
	unsigned lo = 0, hi = rs->n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (rs->r[mid].e < s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool rangeset_overlaps(const struct rangeset *rs, uint64_t s, uint64_t e)
{
	unsigned i = lower_bound(rs, s);

	return i < rs->n && rs->r[i].s <= e;
}

bool rangeset_contains(const struct rangeset *rs, uint64_t s, uint64_t e)
{
	unsigned i = lower_bound(rs, s);

	return i < rs->n && rs->r[i].s <= s && rs->r[i].e >= e;
}

int rangeset_add(struct rangeset *rs, uint64_t s, uint64_t e)
{
	unsigned i, j;

	if (s > e)
		return -EINVAL;
	/* First range that overlaps or touches [s, e] on the left. */
	i = lower_bound(rs, s ? s - 1 : 0);
	/* Ranges [i, j) overlap or are adjacent to [s, e] and merge into one. */
	j = i;
	while (j < rs->n && (e == UINT64_MAX || rs->r[j].s <= e + 1))
		j++;
	if (i == j) {
		if (rs->n >= rs->limit)
			return -ENOMEM;
		memmove(&rs->r[i + 1], &rs->r[i], (rs->n - i) * sizeof(rs->r[0]));
		rs->r[i].s = s;
		rs->r[i].e = e;
		rs->n++;
		return 0;
	}
	if (rs->r[i].s < s)
		s = rs->r[i].s;
	if (rs->r[j - 1].e > e)
		e = rs->r[j - 1].e;
	rs->r[i].s = s;
	rs->r[i].e = e;
	memmove(&rs->r[i + 1], &rs->r[j], (rs->n - j) * sizeof(rs->r[0]));
	rs->n -= j - i - 1;
	return 0;
}

int rangeset_remove(struct rangeset *rs, uint64_t s, uint64_t e)
{
	unsigned i;

	if (s > e)
		return -EINVAL;
	i = lower_bound(rs, s);
	while (i < rs->n && rs->r[i].s <= e) {
		uint64_t rs_s = rs->r[i].s, rs_e = rs->r[i].e;

		if (rs_s < s && rs_e > e) {
			/* Split: the middle goes, both ends stay. */
			if (rs->n >= rs->limit)
				return -ENOMEM;
			memmove(&rs->r[i + 1], &rs->r[i], (rs->n - i) * sizeof(rs->r[0]));
			rs->r[i].e = s - 1;
			rs->r[i + 1].s = e + 1;
			rs->n++;
			return 0;
		}
		if (rs_s < s) {
			rs->r[i].e = s - 1;
			i++;
		} else if (rs_e > e) {
			rs->r[i].s = e + 1;
			return 0;
		} else {
			memmove(&rs->r[i], &rs->r[i + 1], (rs->n - i - 1) * sizeof(rs->r[0]));
			rs->n--;
		}
	}
	return 0;
}
