/* SPDX-License-Identifier: MIT */
/*
 * The scenario parser (sim/scenario.c) on arbitrary text.  Whatever parses
 * must survive a round trip: every op formatted with scenario_format_op(),
 * with "vcpu N" lines where the vCPU changes, parses again to the same ops
 * (kind, vCPU, size, address, value, mask, and the line each is on in the
 * regenerated text) and the same vCPU count.  A failed parse must say why.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/scenario.h"
#include "tests/fuzz/input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct text {
	char *buf;
	size_t len, cap;
};

static void append(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *nb = realloc(t->buf, cap);

		FUZZ_CHECK(nb);
		t->buf = nb;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scenario *s = NULL, *again = NULL;
	struct text t = {0};
	uint32_t *lines;
	char err[256], line[160];
	unsigned cur_vcpu = 0;
	uint32_t lineno = 0;
	int r;

	r = scenario_parse((const char *)data, size, "fuzz.scn", &s, err, sizeof(err));
	if (r < 0) {
		/* Fails closed, says where and why, and leaves *ret alone. */
		FUZZ_CHECK(r == -EINVAL && !s);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) && !strncmp(err, "fuzz.scn:", 9));
		return 0;
	}
	FUZZ_CHECK(s && s->n_ops >= 1 && s->n_ops <= SCN_MAX_OPS && s->nr_vcpus >= 1 &&
	           s->nr_vcpus <= SCN_MAX_VCPUS && !strcmp(s->name, "fuzz"));
	lines = calloc(s->n_ops, sizeof(*lines));
	FUZZ_CHECK(lines);
	for (unsigned i = 0; i < s->n_ops; i++) {
		const struct scn_op *op = &s->ops[i];
		int n;

		FUZZ_CHECK(op->vcpu < s->nr_vcpus);
		if (op->vcpu != cur_vcpu) {
			n = snprintf(line, sizeof(line), "vcpu %u\n", op->vcpu);
			append(&t, line, (size_t)n);
			lineno++;
			cur_vcpu = op->vcpu;
		}
		n = scenario_format_op(op, line, sizeof(line) - 1);
		FUZZ_CHECK(n > 0 && (size_t)n == strlen(line));
		line[n++] = '\n';
		append(&t, line, (size_t)n);
		lines[i] = ++lineno;
	}
	r = scenario_parse(t.buf, t.len, "again.scn", &again, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "round trip does not parse: %s\n--- text:\n%s", err, t.buf);
		__builtin_trap();
	}
	FUZZ_CHECK(again->n_ops == s->n_ops && again->nr_vcpus == s->nr_vcpus);
	for (unsigned i = 0; i < s->n_ops; i++) {
		const struct scn_op *a = &s->ops[i], *b = &again->ops[i];

		if (a->kind != b->kind || a->vcpu != b->vcpu || a->size != b->size ||
		    a->addr != b->addr || a->value != b->value || a->mask != b->mask ||
		    b->line != lines[i]) {
			fprintf(stderr, "op %u differs after the round trip (line %u of:\n%s)\n", i,
			        lines[i], t.buf);
			__builtin_trap();
		}
	}
	free(lines);
	free(t.buf);
	scenario_free(again);
	scenario_free(s);
	return 0;
}
