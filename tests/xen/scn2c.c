/* SPDX-License-Identifier: MIT */
/*
 * scn2c: compile scenario files (docs/scenario.md) into C tables for the
 * real-Xen test guest (tests/xen/guest, struct gscn in scn-table.h).
 *
 *   scn2c [-o OUT.c] FILE.scn...
 *
 * The files are parsed by the same scenario_load() as the simulator's, so
 * both run the same op table.  On top of the format's own rules, it refuses
 * what the guest (32-bit, paging off, 2 vCPUs, reporting through port 0xe9)
 * cannot do, with a "file:line: message" and exit status 1:
 *   - more vCPUs than the guest brings up (2);
 *   - port I/O touching 0xe9, Xen's debug console (the guest's report channel);
 *   - MMIO at or beyond 4 GiB (no paging: 32-bit physical addresses only);
 *   - MMIO into the guest's own RAM (its kernel, stacks and tables live there)
 *     or its local APIC page (the runner's interrupt controller).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/scenario.h"

#define GUEST_VCPUS    2
#define GUEST_RAM_END  0x1000000ull /* guests get at most 16 MiB (tests/xen/init.sh) */
#define LAPIC_BASE     0xfee00000ull
#define LAPIC_END      0xfee00fffull
#define XEN_DEBUG_PORT 0xe9
#define NAME_MAX_LEN   48 /* report lines must fit Xen's 200-byte guest line buffer */

static void usage(FILE *f)
{
	fprintf(f, "usage: scn2c [-o OUT.c] FILE.scn...\n"
	           "Compile scenarios into C tables for the real-Xen test guest.\n");
}

/* The op's name as written in a file ("in8", "cfgread32"): the first word of its canonical form. */
static void op_name(const struct scn_op *op, char *buf, size_t len)
{
	char line[256];
	size_t n;

	if (scenario_format_op(op, line, sizeof(line)) < 0)
		snprintf(line, sizeof(line), "op");
	n = strcspn(line, " ");
	if (n >= len)
		n = len - 1;
	memcpy(buf, line, n);
	buf[n] = '\0';
}

/* What the guest cannot run; prints the first problem and returns -EINVAL. */
static int check_guest_limits(const char *path, const struct scenario *s)
{
	char name[32];

	for (unsigned i = 0; i < s->n_ops; i++) {
		const struct scn_op *op = &s->ops[i];

		op_name(op, name, sizeof(name));
		if (op->vcpu >= GUEST_VCPUS) {
			fprintf(stderr,
			        "%s:%" PRIu32
			        ": %s: vcpu %u: the Xen test guest runs at most %u vCPUs\n",
			        path, op->line, name, op->vcpu, GUEST_VCPUS);
			return -EINVAL;
		}
		if ((op->kind == SCN_PIO_IN || op->kind == SCN_PIO_OUT) &&
		    op->addr <= XEN_DEBUG_PORT && op->addr + op->size > XEN_DEBUG_PORT) {
			fprintf(stderr,
			        "%s:%" PRIu32 ": %s: port 0x%" PRIx64
			        " + %u bytes touches port 0xe9, Xen's debug console "
			        "(the guest reports through it)\n",
			        path, op->line, name, op->addr, op->size);
			return -EINVAL;
		}
		if (op->kind != SCN_MMIO_READ && op->kind != SCN_MMIO_WRITE)
			continue;
		/* scenario_parse() already refused wrapping past 2^64 */
		if (op->addr + op->size > (1ull << 32)) {
			fprintf(stderr,
			        "%s:%" PRIu32 ": %s: address 0x%" PRIx64
			        " + %u bytes is beyond 4 GiB (the Xen test guest runs 32-bit "
			        "without paging)\n",
			        path, op->line, name, op->addr, op->size);
			return -EINVAL;
		}
		if (op->addr < GUEST_RAM_END) {
			fprintf(stderr,
			        "%s:%" PRIu32 ": %s: address 0x%" PRIx64
			        " is in the Xen test guest's RAM (below 0x%llx): not a device\n",
			        path, op->line, name, op->addr, GUEST_RAM_END);
			return -EINVAL;
		}
		if (op->addr <= LAPIC_END && op->addr + op->size > LAPIC_BASE) {
			fprintf(stderr,
			        "%s:%" PRIu32 ": %s: address 0x%" PRIx64
			        " is in the local APIC page 0x%llx-0x%llx, which the Xen test "
			        "guest uses for MSIs\n",
			        path, op->line, name, op->addr, LAPIC_BASE, LAPIC_END);
			return -EINVAL;
		}
	}
	return 0;
}

/* The name goes into report lines as one token: keep it plain and short. */
static int check_name(const char *path, const struct scenario *s, struct scenario **all, unsigned n)
{
	size_t len = strlen(s->name);

	if (len == 0 || len > NAME_MAX_LEN ||
	    strspn(s->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
	            len) {
		fprintf(stderr,
		        "%s: scenario name \"%s\" must be 1 to %d characters of [A-Za-z0-9._-] "
		        "(it is a token in the guest's report lines)\n",
		        path, s->name, NAME_MAX_LEN);
		return -EINVAL;
	}
	for (unsigned i = 0; i < n; i++)
		if (strcmp(all[i]->name, s->name) == 0) {
			fprintf(stderr, "%s: scenario \"%s\" given twice\n", path, s->name);
			return -EINVAL;
		}
	return 0;
}

enum field { F_KIND, F_VCPU, F_SIZE, F_LINE, F_ADDR, F_VALUE, F_MASK };

/* per field: its name in the generated arrays and the C type that holds it */
static const char *const field_name[] = {"kind", "vcpu", "size", "line", "addr", "value", "mask"};
static const char *const field_ctype[] = {
        "unsigned short",     "unsigned char",      "unsigned char",     "unsigned",
        "unsigned long long", "unsigned long long", "unsigned long long"};

static uint64_t field_of(const struct scn_op *op, enum field which)
{
	switch (which) {
	case F_KIND:
		return op->kind;
	case F_VCPU:
		return op->vcpu;
	case F_SIZE:
		return op->size;
	case F_LINE:
		return op->line;
	case F_ADDR:
		return op->addr;
	case F_VALUE:
		return op->value;
	case F_MASK:
		return op->mask;
	}
	return 0;
}

/* One field of every op as a C array "scnIDX_FIELD", six values a line. */
static void emit_field(FILE *f, unsigned idx, const struct scenario *s, enum field which)
{
	fprintf(f, "static const %s scn%u_%s[] = {", field_ctype[which], idx, field_name[which]);
	/* hex constants take the unsigned type they need: no suffix */
	for (unsigned i = 0; i < s->n_ops; i++)
		fprintf(f, "%s0x%" PRIx64 ",", i % 6 ? " " : "\n\t", field_of(&s->ops[i], which));
	fprintf(f, "\n};\n");
}

static int emit(FILE *f, struct scenario **all, char **paths, unsigned n)
{
	fprintf(f, "/* Generated by tests/xen/scn2c from");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, " %s", paths[i]);
	fprintf(f, ". Do not edit. */\n#include \"scn-table.h\"\n");
	for (unsigned i = 0; i < n; i++) {
		const struct scenario *s = all[i];

		fprintf(f, "\n/* %s: %u ops, %u vCPUs */\n", s->name, s->n_ops, s->nr_vcpus);
		for (enum field w = F_KIND; w <= F_MASK; w++)
			emit_field(f, i, s, w);
	}
	fprintf(f, "\nconst struct gscn gscn_table[] = {\n");
	for (unsigned i = 0; i < n; i++)
		fprintf(f,
		        "\t{\"%s\", %u, %u, scn%u_kind, scn%u_vcpu, scn%u_size, "
		        "scn%u_line, "
		        "scn%u_addr, scn%u_value, scn%u_mask},\n",
		        all[i]->name, all[i]->n_ops, all[i]->nr_vcpus, i, i, i, i, i, i, i);
	fprintf(f, "};\nconst unsigned gscn_count = %u;\n", n);
	return ferror(f) ? -EIO : 0;
}

int main(int argc, char **argv)
{
	const char *out = NULL;
	struct scenario **all;
	char tmp[4096], err[1024];
	unsigned n = 0;
	FILE *f = stdout;
	int c, rc = 1;

	while ((c = getopt(argc, argv, "o:h")) != -1) {
		if (c == 'o') {
			out = optarg;
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	all = calloc((size_t)(argc - optind), sizeof(*all));
	if (!all) {
		fprintf(stderr, "scn2c: out of memory\n");
		return 1;
	}
	for (int i = optind; i < argc; i++) {
		struct scenario *s;

		if (scenario_load(argv[i], &s, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			goto out;
		}
		if (check_name(argv[i], s, all, n) < 0 || check_guest_limits(argv[i], s) < 0) {
			scenario_free(s);
			goto out;
		}
		all[n++] = s;
	}
	/* write next to the target and rename, so make never sees half a file */
	if (out) {
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", out) >= sizeof(tmp)) {
			fprintf(stderr, "scn2c: %s: name too long\n", out);
			goto out;
		}
		f = fopen(tmp, "we");
		if (!f) {
			fprintf(stderr, "scn2c: %s: %s\n", tmp, strerror(errno));
			goto out;
		}
	}
	if (emit(f, all, argv + optind, n) < 0 || (out && fclose(f) != 0)) {
		fprintf(stderr, "scn2c: %s: write failed\n", out ? tmp : "stdout");
		if (out)
			unlink(tmp);
		goto out;
	}
	if (out && rename(tmp, out) < 0) {
		fprintf(stderr, "scn2c: rename %s: %s\n", out, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	for (unsigned i = 0; i < n; i++)
		scenario_free(all[i]);
	free(all);
	return rc;
}
