/* SPDX-License-Identifier: MIT */
/*
 * Guest-behaviour scenarios (docs/scenario.md): one text file, parsed into a
 * flat table of ops that runs unchanged on a simulated vCPU and, compiled
 * into a tiny PVH kernel, on a real Xen vCPU.  The table is the wire format:
 * the simulator receives struct scn_op arrays, and tests/xen turns them
 * into a C array for the guest.  Fixed-width fields only.
 */
#ifndef DMB_SIM_SCENARIO_H
#define DMB_SIM_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#define SCN_MAX_OPS   65536
#define SCN_MAX_VCPUS 64

enum scn_kind {
	SCN_PIO_OUT = 1,    /* out{8,16,32} PORT VALUE */
	SCN_PIO_IN = 2,     /* in{8,16,32} PORT EXPECT[/MASK] */
	SCN_MMIO_WRITE = 3, /* write{8,16,32,64} ADDR VALUE */
	SCN_MMIO_READ = 4,  /* read{8,16,32,64} ADDR EXPECT[/MASK] */
	SCN_PCI_WRITE = 5,  /* cfgwrite{8,16,32} BB:DD.F REG VALUE (through 0xcf8/0xcfc) */
	SCN_PCI_READ = 6,   /* cfgread{8,16,32} BB:DD.F REG EXPECT[/MASK] */
	SCN_MSI_WAIT = 7,   /* msi VECTOR: wait until an MSI with this vector arrived */
	SCN_BARRIER = 8,    /* barrier: every vCPU of the scenario meets here */
};

struct scn_op {
	uint16_t kind; /* enum scn_kind */
	uint8_t vcpu;
	uint8_t size;   /* bytes: 1, 2, 4 or 8 (0 for msi/barrier) */
	uint32_t line;  /* line in the source file, for reports */
	uint64_t addr;  /* port, guest-physical address, or SBDF << 32 | register */
	uint64_t value; /* value written, expected value read, or MSI vector */
	uint64_t mask;  /* reads: bits compared (all ones of the size by default) */
};

_Static_assert(sizeof(struct scn_op) == 32, "scn_op is the wire format");

struct scenario {
	char *name; /* file name without directory and ".scn" */
	struct scn_op *ops;
	unsigned n_ops;
	unsigned nr_vcpus; /* highest vCPU used + 1 */
};

/*
 * Parse text.  On error returns -EINVAL and writes "file:line: what is wrong"
 * into err (always NUL-terminated); *ret is written only on success.
 */
int scenario_parse(const char *text, size_t len, const char *filename, struct scenario **ret,
                   char *err, size_t errlen);
/* Read and parse a file (-errno with a message in err if it cannot be read). */
int scenario_load(const char *path, struct scenario **ret, char *err, size_t errlen);
void scenario_free(struct scenario *s);

/* Canonical one-line text of an op ("in8 0x3fd 0x60/0xff"), as it would be written. */
int scenario_format_op(const struct scn_op *op, char *buf, size_t len);

#endif
