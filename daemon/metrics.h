/* SPDX-License-Identifier: MIT */
/* The broker's metrics in OpenMetrics text (dmbrokerctl metrics). */
#ifndef DMB_DAEMON_METRICS_H
#define DMB_DAEMON_METRICS_H

#include <stdint.h>

#define METRICS_BUCKETS 8

struct metrics_histogram {
	uint64_t bucket[METRICS_BUCKETS]; /* cumulative counts per upper bound */
	uint64_t count;
	double sum; /* seconds */
};

struct broker;

void metrics_observe(struct metrics_histogram *h, uint64_t ns);
/* The whole exposition, ending in "# EOF"; malloc'd, NULL on allocation failure. */
char *metrics_render(struct broker *b);

#endif
