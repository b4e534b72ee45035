/* SPDX-License-Identifier: MIT */
/*
 * dmbsimctl: the simulator's toolstack - what xl is to Xen.  Creates and
 * destroys simulated domains, runs scenario files on their vCPUs and prints
 * every op's outcome, and exposes a few hypervisor operations for scripts.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/ioreq.h"
#include "sim/client.h"
#include "sim/scenario.h"
#include "sim/sim.h"

struct ctl {
	struct simc *c;
	const char *socket;
	bool quiet;
	uint32_t timeout_ms;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: dmbsimctl [--socket PATH] COMMAND [ARGS]\n"
	        "  create NAME [--vcpus N] [--paused] [--stdvga] [--poll[=NS]]   print the new "
	        "domid\n"
	        "  destroy DOMID | pause DOMID | unpause DOMID | crash DOMID\n"
	        "  info DOMID | list | stats DOMID\n"
	        "  run DOMID FILE.scn [--quiet] [--timeout MS]   exit 0 only if every op passed\n"
	        "  invalidate DOMID | timeoffset DOMID SECONDS\n"
	        "  msi DOMID ADDR DATA | isa-irq DOMID IRQ LEVEL\n");
}

static int parse_domid(const char *s, uint32_t *ret)
{
	int r = util_parse_u32(s, ret);

	if (r < 0)
		fprintf(stderr, "dmbsimctl: bad domain id '%s'\n", s);
	return r;
}

static int call(struct ctl *ctl, uint16_t type, struct sim_req *q, struct sim_reply *rep,
                const char *what)
{
	int r = simc_call(ctl->c, type, q, rep, NULL, 0, NULL);

	if (r < 0) {
		fprintf(stderr, "dmbsimctl: %s: %s\n", what, strerror(-r));
		return -ECANCELED; /* reported; not a usage error */
	}
	return r;
}

static int cmd_create(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"vcpus", required_argument, NULL, 'n'},
	                                     {"paused", no_argument, NULL, 'p'},
	                                     {"stdvga", no_argument, NULL, 'g'},
	                                     {"poll", optional_argument, NULL, 'P'},
	                                     {NULL, 0, NULL, 0}};
	struct sim_req q = {.a32 = {1, 0, 0}};
	struct sim_reply rep;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "n:pgP::", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (util_parse_u32(optarg, &q.a32[0]) < 0)
				return -EINVAL;
			break;
		case 'p':
			q.a32[1] |= SIM_DOMAIN_F_PAUSED;
			break;
		case 'g':
			q.a32[1] |= SIM_DOMAIN_F_STDVGA;
			break;
		case 'P':
			q.a32[1] |= SIM_DOMAIN_F_POLL;
			if (optarg && util_parse_u32(optarg, &q.a32[2]) < 0)
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind != argc - 1 || util_strcpy(q.name, sizeof(q.name), argv[optind]) < 0)
		return -EINVAL;
	r = call(ctl, SIM_DOMAIN_CREATE, &q, &rep, "create");
	if (r < 0)
		return r;
	printf("%d\n", r);
	return 0;
}

static int cmd_simple(struct ctl *ctl, uint16_t type, int argc, char **argv)
{
	struct sim_req q = {0};
	struct sim_reply rep;
	int r;

	if (argc != 2 || parse_domid(argv[1], &q.domid) < 0)
		return -EINVAL;
	if (type == SIM_DOMAIN_SHUTDOWN)
		q.a32[0] = 3; /* SHUTDOWN_crash */
	r = call(ctl, type, &q, &rep, argv[0]);
	return r < 0 ? r : 0;
}

static int cmd_info(struct ctl *ctl, int argc, char **argv)
{
	struct sim_req q = {0};
	struct sim_reply rep;
	int r;

	if (argc != 2 || parse_domid(argv[1], &q.domid) < 0)
		return -EINVAL;
	r = call(ctl, SIM_DOMAIN_INFO, &q, &rep, "info");
	if (r < 0)
		return r;
	printf("domid %u name %s vcpus %u paused %u shutdown %u crashed %u\n", rep.u.info.domid,
	       rep.u.info.name, rep.u.info.nr_vcpus, rep.u.info.paused, rep.u.info.shutdown,
	       rep.u.info.crashed);
	return 0;
}

static int cmd_list(struct ctl *ctl, int argc, char **argv)
{
	struct sim_req q = {0};
	struct sim_reply rep;
	int r;

	(void)argv;
	if (argc != 1)
		return -EINVAL;
	r = call(ctl, SIM_DOMAIN_LIST, &q, &rep, "list");
	for (unsigned i = 0; r >= 0 && i < rep.u.list.n && i < SIM_LIST_MAX; i++)
		printf("%u\n", rep.u.list.domids[i]);
	return r;
}

static int cmd_stats(struct ctl *ctl, int argc, char **argv)
{
	struct sim_req q = {0};
	struct sim_reply rep;
	struct sim_domain_stats *s = &rep.u.stats;
	int r;

	if (argc != 2 || parse_domid(argv[1], &q.domid) < 0)
		return -EINVAL;
	r = call(ctl, SIM_DOMAIN_STATS, &q, &rep, "stats");
	if (r < 0)
		return r;
	printf("ioreqs_sent %llu\nbuffered_sent %llu\nbuffered_full %llu\n"
	       "unclaimed_reads %llu\nunclaimed_writes %llu\ninvalidates %llu\n"
	       "msi_total %llu\npci_intx_asserts %llu\nisa_irq_levels 0x%04x\ncrashed %u\n",
	       (unsigned long long)s->ioreqs_sent, (unsigned long long)s->buffered_sent,
	       (unsigned long long)s->buffered_full, (unsigned long long)s->unclaimed_reads,
	       (unsigned long long)s->unclaimed_writes, (unsigned long long)s->invalidates,
	       (unsigned long long)s->msi_total, (unsigned long long)s->pci_intx_asserts,
	       s->isa_irq_levels, s->crashed);
	if (s->crashed)
		printf("crash_reason %s\n", s->crash_reason);
	return 0;
}

struct run_ctx {
	const struct scenario *scn;
	const char *file;
	bool quiet;
};

static void print_result(void *opaque, const struct sim_scn_result *res)
{
	struct run_ctx *rc = opaque;
	const struct scn_op *op;
	char text[128];
	bool is_read;

	if (res->index >= rc->scn->n_ops)
		return;
	op = &rc->scn->ops[res->index];
	if (rc->quiet && res->status == SIM_SCN_PASS)
		return;
	is_read = op->kind == SCN_PIO_IN || op->kind == SCN_MMIO_READ || op->kind == SCN_PCI_READ;
	if (scenario_format_op(op, text, sizeof(text)) < 0)
		snprintf(text, sizeof(text), "op %u", res->index);
	if (res->status == SIM_SCN_PASS)
		printf("%s:%u: vcpu%u %s: ok\n", rc->file, op->line, op->vcpu, text);
	else if (res->status == SIM_SCN_NOT_RUN)
		printf("%s:%u: vcpu%u %s: NOT RUN\n", rc->file, op->line, op->vcpu, text);
	else if (is_read)
		printf("%s:%u: vcpu%u %s: FAIL (read 0x%llx)\n", rc->file, op->line, op->vcpu, text,
		       (unsigned long long)res->actual);
	else
		printf("%s:%u: vcpu%u %s: FAIL (timed out)\n", rc->file, op->line, op->vcpu, text);
	fflush(stdout);
}

static int cmd_run(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {{"quiet", no_argument, NULL, 'q'},
	                                     {"timeout", required_argument, NULL, 't'},
	                                     {NULL, 0, NULL, 0}};
	struct scenario *scn = NULL;
	struct sim_reply rep;
	struct run_ctx rc;
	char err[512];
	uint32_t domid;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "qt:", opts, NULL)) != -1) {
		if (c == 'q')
			ctl->quiet = true;
		else if (c == 't' && util_parse_u32(optarg, &ctl->timeout_ms) == 0)
			continue;
		else
			return -EINVAL;
	}
	if (optind != argc - 2 || parse_domid(argv[optind], &domid) < 0)
		return -EINVAL;
	r = scenario_load(argv[optind + 1], &scn, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	rc = (struct run_ctx){.scn = scn, .file = argv[optind + 1], .quiet = ctl->quiet};
	r = simc_run_scenario(ctl->c, domid, scn->ops, scn->n_ops, ctl->timeout_ms, print_result,
	                      &rc, &rep);
	if (r < 0) {
		fprintf(stderr, "dmbsimctl: run %s on dom%u: %s\n", scn->name, domid,
		        r == -EXDEV ? "the scenario uses more vCPUs than the domain has"
		                    : strerror(-r));
		scenario_free(scn);
		return -ECANCELED;
	}
	printf("scenario %s: %u passed, %u failed, %u not run%s%s\n", scn->name, rep.u.scn.passed,
	       rep.u.scn.failed, rep.u.scn.not_run, rep.u.scn.crashed ? "; domain crashed: " : "",
	       rep.u.scn.crashed ? rep.u.scn.reason : "");
	scenario_free(scn);
	return (rep.u.scn.failed || rep.u.scn.not_run || rep.u.scn.crashed) ? 1 : 0;
}

static int cmd_timeoffset(struct ctl *ctl, int argc, char **argv)
{
	struct sim_req q = {0};
	struct sim_reply rep;
	char *end;
	long long v;

	if (argc != 3 || parse_domid(argv[1], &q.domid) < 0)
		return -EINVAL;
	v = strtoll(argv[2], &end, 0);
	if (*end || !*argv[2])
		return -EINVAL;
	q.a64[0] = (uint64_t)v;
	return call(ctl, SIM_TIMEOFFSET, &q, &rep, "timeoffset");
}

static int cmd_msi(struct ctl *ctl, int argc, char **argv)
{
	struct sim_req q = {0};
	struct sim_reply rep;

	if (argc != 4 || parse_domid(argv[1], &q.domid) < 0 ||
	    util_parse_u64(argv[2], &q.a64[0]) < 0 || util_parse_u32(argv[3], &q.a32[0]) < 0)
		return -EINVAL;
	return call(ctl, SIM_MSI, &q, &rep, "msi");
}

static int cmd_isa_irq(struct ctl *ctl, int argc, char **argv)
{
	struct sim_req q = {0};
	struct sim_reply rep;

	if (argc != 4 || parse_domid(argv[1], &q.domid) < 0 ||
	    util_parse_u32(argv[2], &q.a32[0]) < 0 || util_parse_u32(argv[3], &q.a32[1]) < 0)
		return -EINVAL;
	return call(ctl, SIM_ISA_IRQ, &q, &rep, "isa-irq");
}

static int dispatch(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = argv[0];

	if (!strcmp(cmd, "create"))
		return cmd_create(ctl, argc, argv);
	if (!strcmp(cmd, "destroy"))
		return cmd_simple(ctl, SIM_DOMAIN_DESTROY, argc, argv);
	if (!strcmp(cmd, "pause"))
		return cmd_simple(ctl, SIM_DOMAIN_PAUSE, argc, argv);
	if (!strcmp(cmd, "unpause"))
		return cmd_simple(ctl, SIM_DOMAIN_UNPAUSE, argc, argv);
	if (!strcmp(cmd, "crash"))
		return cmd_simple(ctl, SIM_DOMAIN_SHUTDOWN, argc, argv);
	if (!strcmp(cmd, "invalidate"))
		return cmd_simple(ctl, SIM_INVALIDATE, argc, argv);
	if (!strcmp(cmd, "info"))
		return cmd_info(ctl, argc, argv);
	if (!strcmp(cmd, "list"))
		return cmd_list(ctl, argc, argv);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(ctl, argc, argv);
	if (!strcmp(cmd, "run"))
		return cmd_run(ctl, argc, argv);
	if (!strcmp(cmd, "timeoffset"))
		return cmd_timeoffset(ctl, argc, argv);
	if (!strcmp(cmd, "msi"))
		return cmd_msi(ctl, argc, argv);
	if (!strcmp(cmd, "isa-irq"))
		return cmd_isa_irq(ctl, argc, argv);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct ctl ctl = {.socket = SIM_DEFAULT_SOCKET};
	int i = 1, r;

	log_init("dmbsimctl", LOG_WARNING);
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			ctl.socket = argv[i + 1];
			i += 2;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	r = simc_connect(ctl.socket, &ctl.c);
	if (r < 0) {
		fprintf(stderr, "dmbsimctl: cannot reach the simulator at %s: %s\n", ctl.socket,
		        strerror(-r));
		return 1;
	}
	r = dispatch(&ctl, argc - i, argv + i);
	simc_close(ctl.c);
	if (r == -EINVAL) {
		usage(stderr);
		return 2;
	}
	return r < 0 ? 1 : r;
}
