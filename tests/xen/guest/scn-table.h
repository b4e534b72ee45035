/* SPDX-License-Identifier: MIT */
/*
 * The scenario tables compiled into the real-Xen guest (tests/xen/guest).
 * tests/xen/scn2c writes them from .scn files (docs/scenario.md): one flat op
 * table per scenario, as plain integer arrays (one array per field of struct
 * scn_op, sim/scenario.h), and a table of scenarios.  Freestanding: included
 * by 32-bit guest code without a libc.
 */
#ifndef DMB_XEN_GUEST_SCN_TABLE_H
#define DMB_XEN_GUEST_SCN_TABLE_H

/* enum scn_kind (sim/scenario.h); the values are the wire format. */
#define GSCN_PIO_OUT    1
#define GSCN_PIO_IN     2
#define GSCN_MMIO_WRITE 3
#define GSCN_MMIO_READ  4
#define GSCN_PCI_WRITE  5
#define GSCN_PCI_READ   6
#define GSCN_MSI_WAIT   7
#define GSCN_BARRIER    8

/* The runner drives vCPU 0 and 1 (scn2c refuses more). */
#define GSCN_MAX_VCPUS 2

struct gscn {
	const char *name; /* [A-Za-z0-9._-]+: a single token in the report lines */
	unsigned n_ops;
	unsigned nr_vcpus; /* highest vCPU with an op + 1 */
	const unsigned short *kind;
	const unsigned char *vcpu;
	const unsigned char *size;
	const unsigned *line;
	const unsigned long long *addr;
	const unsigned long long *value;
	const unsigned long long *mask;
};

extern const struct gscn gscn_table[];
extern const unsigned gscn_count;

#endif
