/* SPDX-License-Identifier: MIT */
/*
 * Xen's rangeset semantics (xen/common/rangeset.c) for the simulator: a sorted
 * set of inclusive ranges, adjacent ranges merge, and a limit on how many
 * distinct ranges may exist at once (Xen caps each ioreq server's rangesets
 * at MAX_NR_IO_RANGES = 256; exceeding it fails with -ENOMEM, as in Xen).
 */
#ifndef DMB_SIM_RANGESET_H
#define DMB_SIM_RANGESET_H

#include <stdbool.h>
#include <stdint.h>

#define RANGESET_MAX 256

struct rangeset {
	unsigned n;
	unsigned limit;
	struct {
		uint64_t s, e;
	} r[RANGESET_MAX + 1];
};

void rangeset_init(struct rangeset *rs, unsigned limit);
/* Add [s, e]; merges with neighbours.  -ENOMEM when the limit would be exceeded. */
int rangeset_add(struct rangeset *rs, uint64_t s, uint64_t e);
/* Remove [s, e] (may split a range: -ENOMEM at the limit). */
int rangeset_remove(struct rangeset *rs, uint64_t s, uint64_t e);
bool rangeset_overlaps(const struct rangeset *rs, uint64_t s, uint64_t e);
bool rangeset_contains(const struct rangeset *rs, uint64_t s, uint64_t e);

#endif
