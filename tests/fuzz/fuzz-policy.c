/* SPDX-License-Identifier: MIT */
/*
 * The policy parser (daemon/policy.c) on arbitrary bytes: perf-and-
 * reliability B1, "fail closed, never allow-all".
 *
 *  - A rejected policy comes with at least one error, each with a path and
 *    a message, and no policy.
 *  - An accepted policy satisfies, checked here independently of the
 *    parser, every limit docs/policy.md promises the broker relies on:
 *    guests and device models within Xen's limits, claims well-formed and
 *    disjoint within a guest, ports below 0x10000, no root user, a uid range
 *    whenever a uid is taken from it, known enum values.
 *  - policy_to_json() re-parses, and the re-parsed policy prints the same
 *    normalised text (the normalised form is a fixed point).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/policy.h"
#include "tests/fuzz/input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool str_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void check_dm(const struct policy *p, const struct policy_dm *dm)
{
	unsigned total = 0;

	FUZZ_CHECK(str_ok(dm->name, sizeof(dm->name)) && dm->name[0]);
	FUZZ_CHECK(str_ok(dm->exec, sizeof(dm->exec)) && dm->exec[0] == '/');
	FUZZ_CHECK(dm->n_args <= POLICY_MAX_ARGS);
	for (unsigned i = 0; i < dm->n_args; i++)
		FUZZ_CHECK(str_ok(dm->args[i], sizeof(dm->args[i])));
	for (unsigned k = 0; k < DMP_CLAIM_KINDS; k++) {
		FUZZ_CHECK(dm->n_claims[k] <= POLICY_MAX_RANGES);
		total += dm->n_claims[k];
		for (unsigned i = 0; i < dm->n_claims[k]; i++) {
			const struct dmp_range *r = &dm->claims[k][i];

			FUZZ_CHECK(r->start <= r->end);
			FUZZ_CHECK(k != DMP_CLAIM_PORT || r->end <= 0xffff);
			FUZZ_CHECK(k != DMP_CLAIM_PCI ||
			           (r->start == r->end && r->end <= 0xffffffffu));
		}
	}
	FUZZ_CHECK(total >= 1);
	FUZZ_CHECK(dm->n_irqs <= 16);
	for (unsigned i = 0; i < dm->n_irqs; i++) {
		FUZZ_CHECK(dm->irqs[i] <= 15);
		for (unsigned j = 0; j < i; j++)
			FUZZ_CHECK(dm->irqs[i] != dm->irqs[j]);
	}
	FUZZ_CHECK(dm->bufioreq <= 2 && dm->poll_us <= 1000000);
	/* The sandbox: never root, never unbounded, never without seccomp. */
	if (dm->sandbox.user_auto)
		FUZZ_CHECK(p->uid_count >= 1 && p->uid_start >= 1);
	else
		FUZZ_CHECK(str_ok(dm->sandbox.user, sizeof(dm->sandbox.user)) &&
		           dm->sandbox.user[0] && strcmp(dm->sandbox.user, "root") != 0 &&
		           !(dm->sandbox.user[0] >= '0' && dm->sandbox.user[0] <= '9'));
	FUZZ_CHECK((dm->sandbox.namespaces & ~POLICY_NS_ALL) == 0);
	FUZZ_CHECK(dm->sandbox.memory_max >= (1ull << 20) &&
	           dm->sandbox.memory_max <= (64ull << 30));
	FUZZ_CHECK(dm->sandbox.pids_max >= 1 && dm->sandbox.pids_max <= 4096);
	FUZZ_CHECK(dm->sandbox.nofile >= 8 && dm->sandbox.nofile <= 65536);
	FUZZ_CHECK(dm->sandbox.seccomp == POLICY_SECCOMP_DEFAULT ||
	           dm->sandbox.seccomp == POLICY_SECCOMP_LOG);
	FUZZ_CHECK(dm->on_crash.action >= POLICY_CRASH_RESTART &&
	           dm->on_crash.action <= POLICY_CRASH_FAIL);
	FUZZ_CHECK(dm->on_crash.then >= POLICY_CRASH_PAUSE &&
	           dm->on_crash.then <= POLICY_CRASH_FAIL);
	if (dm->on_crash.action == POLICY_CRASH_RESTART)
		FUZZ_CHECK(dm->on_crash.window_s >= 1 &&
		           dm->on_crash.backoff_max_ms >= dm->on_crash.backoff_ms);
}

/* No two claims of one kind overlap within a guest (across its device models too). */
static void check_overlaps(const struct policy_guest *g)
{
	for (unsigned k = 0; k < DMP_CLAIM_KINDS; k++)
		for (unsigned a = 0; a < g->n_dms; a++)
			for (unsigned i = 0; i < g->dms[a].n_claims[k]; i++) {
				const struct dmp_range *x = &g->dms[a].claims[k][i];

				for (unsigned b = a; b < g->n_dms; b++)
					for (unsigned j = b == a ? i + 1 : 0;
					     j < g->dms[b].n_claims[k]; j++) {
						const struct dmp_range *y = &g->dms[b].claims[k][j];

						FUZZ_CHECK(x->end < y->start || y->end < x->start);
					}
			}
}

static void check_policy(const struct policy *p)
{
	unsigned defaults = 0;

	FUZZ_CHECK(p->refs == 1 && p->version == POLICY_VERSION);
	FUZZ_CHECK(p->n_guests >= 1 && p->n_guests <= POLICY_MAX_GUESTS && p->guests);
	if (p->uid_count)
		FUZZ_CHECK(p->uid_start >= 1 &&
		           (uint64_t)p->uid_start + p->uid_count - 1 <= 0xfffffffeu &&
		           (p->uid_start > 65535 || p->uid_start + p->uid_count - 1 < 65534));
	for (unsigned i = 0; i < p->n_guests; i++) {
		const struct policy_guest *g = &p->guests[i];

		switch (g->match) {
		case POLICY_MATCH_DOMID:
			FUZZ_CHECK(g->domid >= 1 && g->domid <= 0x7fef);
			break;
		case POLICY_MATCH_NAME:
			FUZZ_CHECK(str_ok(g->name_glob, sizeof(g->name_glob)) && g->name_glob[0]);
			break;
		case POLICY_MATCH_DEFAULT:
			defaults++;
			break;
		default:
			__builtin_trap(); /* a guest that matches nothing, or everything */
		}
		FUZZ_CHECK(g->pci_hole_start <= g->pci_hole_end && g->pci_hole_end < (1ull << 52));
		FUZZ_CHECK(g->n_dms >= 1 && g->n_dms <= POLICY_MAX_DMS);
		for (unsigned d = 0; d < g->n_dms; d++) {
			check_dm(p, &g->dms[d]);
			for (unsigned e = 0; e < d; e++)
				FUZZ_CHECK(strcmp(g->dms[d].name, g->dms[e].name) != 0);
		}
		check_overlaps(g);
	}
	FUZZ_CHECK(defaults <= 1);
	/* Matching works on whatever names a hypervisor reports. */
	(void)policy_match(p, 1, "");
	(void)policy_match(p, 0x7fef, "web-1");
	(void)policy_match(p, 7, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct policy_errors errs, errs2;
	static FILE *devnull;
	struct policy *p = NULL, *p2 = NULL;
	char *text, *text2;
	int r;

	if (!devnull)
		devnull = fopen("/dev/null", "we");
	r = policy_parse((const char *)data, size, &p, &errs);
	if (r < 0) {
		FUZZ_CHECK(!p);
		FUZZ_CHECK(r == -EINVAL && errs.n >= 1);
		for (unsigned i = 0; i < errs.n && i < POLICY_ERRORS_MAX; i++)
			FUZZ_CHECK(str_ok(errs.e[i].path, sizeof(errs.e[i].path)) &&
			           errs.e[i].path[0] &&
			           str_ok(errs.e[i].msg, sizeof(errs.e[i].msg)) &&
			           errs.e[i].msg[0]);
		if (devnull)
			policy_errors_print(&errs, "fuzz.json", devnull);
		return 0;
	}
	FUZZ_CHECK(p && errs.n == 0);
	check_policy(p);
	text = policy_to_json(p);
	FUZZ_CHECK(text);
	r = policy_parse(text, strlen(text), &p2, &errs2);
	if (r < 0) {
		fprintf(stderr, "normalised policy does not parse (%d):\n%s\n", r, text);
		policy_errors_print(&errs2, "normalised", stderr);
		__builtin_trap();
	}
	check_policy(p2);
	text2 = policy_to_json(p2);
	FUZZ_CHECK(text2);
	if (strcmp(text, text2) != 0) {
		fprintf(stderr, "normalised text differs after a round trip:\n%s\n---\n%s\n", text,
		        text2);
		__builtin_trap();
	}
	/* A reference outlives the policy's first owner. */
	policy_unref(policy_ref(p2));
	free(text);
	free(text2);
	policy_unref(p);
	policy_unref(p2);
	return 0;
}
