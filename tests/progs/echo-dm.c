/* SPDX-License-Identifier: MIT */
/*
 * echo-dm: a minimal device model on libdmb for tests and benchmarks.
 * Port reads return 0xcafe0000 | port, MMIO reads 0xbeef0000 | (addr & 0xffff)
 * unless a value was written there (a small write-back store), PCI config
 * reads 0x5a5a0000 | reg.  Options: --bad-state N writes state N into the
 * slot instead of answering (to test the simulator's crash rule); --exit-after N
 * exits after N requests without answering the last one; --log-each logs a
 * line for every port read (to fill its log pipe); --stall-port P never
 * returns from a read of port P (a request left in process); --no-dump makes
 * it not dumpable (its /proc/PID is then root's).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "common/log.h"
#include "common/util.h"
#include "dm/dmb.h"

#define STORE 64

struct echo {
	uint64_t addr[STORE], val[STORE];
	unsigned n;
	uint64_t served;
	uint64_t exit_after;
	int64_t timeoffset;
	unsigned invalidates;
	bool log_each;
	int stall_port;
	uint64_t logged;
};

static void count(struct echo *e)
{
	if (e->exit_after && ++e->served >= e->exit_after)
		_exit(3); /* die mid-request: the vCPU is waiting for us */
}

static int find(struct echo *e, uint64_t a)
{
	for (unsigned i = 0; i < e->n; i++)
		if (e->addr[i] == a)
			return (int)i;
	return -1;
}

static void store(struct echo *e, uint64_t a, uint64_t v)
{
	int i = find(e, a);

	if (i < 0 && e->n < STORE)
		i = (int)e->n++;
	if (i >= 0) {
		e->addr[i] = a;
		e->val[i] = v;
	}
}

static uint64_t pio_read(void *o, uint16_t port, unsigned size)
{
	struct echo *e = o;
	int i = find(e, 0x10000u | port);

	(void)size;
	count(e);
	while (port == e->stall_port) /* spins: seccomp allows no pause() */
		__asm__ volatile("pause");
	if (e->log_each)
		log_info("port read 0x%x (%" PRIu64 " so far): a line to fill the log pipe with",
		         port, ++e->logged);
	if (port == 0x5fc) /* reports the last TIMEOFFSET and INVALIDATE count */
		return (uint64_t)e->timeoffset << 8 | e->invalidates;
	return i >= 0 ? e->val[i] : 0xcafe0000u | port;
}

static void pio_write(void *o, uint16_t port, unsigned size, uint64_t v)
{
	(void)size;
	count(o);
	store(o, 0x10000u | port, v);
}

static uint64_t mmio_read(void *o, uint64_t addr, unsigned size)
{
	struct echo *e = o;
	int i = find(e, addr);

	(void)size;
	count(e);
	return i >= 0 ? e->val[i] : 0xbeef0000u | (addr & 0xffff);
}

static void mmio_write(void *o, uint64_t addr, unsigned size, uint64_t v)
{
	(void)size;
	count(o);
	store(o, addr, v);
}

static uint64_t pci_read(void *o, uint32_t sbdf, unsigned reg, unsigned size)
{
	(void)sbdf, (void)size;
	count(o);
	return 0x5a5a0000u | reg;
}

static void pci_write(void *o, uint32_t sbdf, unsigned reg, unsigned size, uint64_t v)
{
	(void)sbdf, (void)reg, (void)size, (void)v;
	count(o);
}

static void invalidate(void *o)
{
	((struct echo *)o)->invalidates++;
}

static void timeoffset(void *o, int64_t off)
{
	((struct echo *)o)->timeoffset = off;
}

static const struct dmb_ops ops = {
        .pio_read = pio_read,
        .pio_write = pio_write,
        .mmio_read = mmio_read,
        .mmio_write = mmio_write,
        .pci_read = pci_read,
        .pci_write = pci_write,
        .invalidate = invalidate,
        .timeoffset = timeoffset,
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"exit-after", required_argument, NULL, 'x'},
	                                     {"poll-us", required_argument, NULL, 'p'},
	                                     {"log-each", no_argument, NULL, 'l'},
	                                     {"stall-port", required_argument, NULL, 's'},
	                                     {"no-dump", no_argument, NULL, 'n'},
	                                     {NULL, 0, NULL, 0}};
	struct echo e = {.stall_port = -1};
	struct dmb_config cfg = {.ops = &ops, .opaque = &e, .fd = DMB_FD_DEFAULT, .poll_us = -1};
	struct dmb *d;
	uint32_t v;
	int c, r;

	log_init("echo-dm", LOG_INFO);
	while ((c = getopt_long(argc, argv, "x:p:ls:n", opts, NULL)) != -1) {
		if (c == 'l')
			e.log_each = true;
		else if (c == 'n' && prctl(PR_SET_DUMPABLE, 0) < 0)
			return 2;
		else if (c == 'n')
			continue;
		else if (c == 's' && util_parse_u32(optarg, &v) == 0 && v <= 0xffff)
			e.stall_port = (int)v;
		else if (c == 'x' && util_parse_u32(optarg, &v) == 0)
			e.exit_after = v;
		else if (c == 'p' && util_parse_u32(optarg, &v) == 0)
			cfg.poll_us = (int)v;
		else
			return 2;
	}
	r = dmb_open(&cfg, &d);
	if (r < 0)
		return 1;
	r = dmb_run(d);
	dmb_close(d);
	return r < 0 ? 1 : 0;
}
