/* SPDX-License-Identifier: MIT */
#include "tests/unit/fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/frame.h"
#include "tests/test.h"

static void exe_path(const char *name, const char *dir, char *buf, size_t len)
{
	if (name[0] == '/')
		snprintf(buf, len, "%s", name);
	else if (strchr(name, '/')) /* "progs/echo-dm": a test program */
		snprintf(buf, len, "%s/tests/%s", test_builddir(), name);
	else
		snprintf(buf, len, "%s/%s/%s", test_builddir(), dir, name);
}

void fixture_sim_start(struct sim_fixture *f)
{
	char exe[512];
	uint64_t deadline;

	memset(f, 0, sizeof(*f));
	snprintf(f->sock, sizeof(f->sock), "%s/sim.sock", test_tmpdir());
	exe_path("dmbsimd", "bin", exe, sizeof(exe));
	f->pid = fork();
	ASSERT_TRUE(f->pid >= 0);
	if (f->pid == 0) {
		execl(exe, "dmbsimd", "--socket", f->sock, (char *)NULL);
		_exit(127);
	}
	deadline = util_now_ns() + 5000000000ull;
	while (access(f->sock, F_OK) != 0) {
		ASSERT_TRUE(util_now_ns() < deadline);
		util_sleep_ns(2000000);
	}
	/* The file appears at bind(), before listen(): retry a refused connection. */
	while (hv_sim_open(f->sock, &f->hv) == -ECONNREFUSED) {
		ASSERT_TRUE(util_now_ns() < deadline);
		util_sleep_ns(2000000);
	}
	ASSERT_NOT_NULL(f->hv);
	ASSERT_OK(simc_connect(f->sock, &f->ctl));
}

void fixture_sim_stop(struct sim_fixture *f)
{
	int status;

	hv_close(f->hv);
	simc_close(f->ctl);
	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, &status, 0);
	}
	f->pid = 0;
}

uint32_t fixture_domain_create(struct sim_fixture *f, const char *name, unsigned vcpus,
                               uint32_t flags)
{
	struct sim_req q = {.a32 = {vcpus, flags}};
	struct sim_reply rep;
	int r;

	snprintf(q.name, sizeof(q.name), "%s", name);
	r = simc_call(f->ctl, SIM_DOMAIN_CREATE, &q, &rep, NULL, 0, NULL);
	ASSERT_OK(r);
	return (uint32_t)r;
}

int fixture_domain_stats(struct sim_fixture *f, uint32_t domid, struct sim_domain_stats *ret)
{
	struct sim_req q = {.domid = domid};
	struct sim_reply rep;
	int r = simc_call(f->ctl, SIM_DOMAIN_STATS, &q, &rep, NULL, 0, NULL);

	if (r == 0)
		*ret = rep.u.stats;
	return r;
}

static void spec_add(struct test_dm_spec *s, unsigned kind, uint64_t a, uint64_t b)
{
	unsigned i = s->claims.n[kind]++;

	s->claims.r[kind][i].start = a;
	s->claims.r[kind][i].end = b;
}

void spec_port(struct test_dm_spec *s, uint64_t start, uint64_t end)
{
	spec_add(s, DMP_CLAIM_PORT, start, end);
}

void spec_mmio(struct test_dm_spec *s, uint64_t start, uint64_t end)
{
	spec_add(s, DMP_CLAIM_MMIO, start, end);
}

void spec_pci(struct test_dm_spec *s, const char *bdf)
{
	unsigned bus, dev, fn;

	ASSERT_EQ(sscanf(bdf, "%x:%x.%x", &bus, &dev, &fn), 3);
	spec_add(s, DMP_CLAIM_PCI, IOREQ_SBDF(0, bus, dev, fn), IOREQ_SBDF(0, bus, dev, fn));
}

static pid_t spawn(const struct test_dm_spec *spec, int child_sock)
{
	const char *argv[32] = {0};
	char exe[512];
	unsigned n = 0;
	pid_t pid;

	exe_path(spec->exe, "libexec", exe, sizeof(exe));
	argv[n++] = spec->exe;
	for (unsigned i = 0; spec->argv && spec->argv[i] && n < 31; i++)
		argv[n++] = spec->argv[i];
	pid = fork();
	if (pid != 0)
		return pid;
	/* The device model's channel on fd 3, nothing else beyond stdio. */
	if (dup2(child_sock, DMP_FD) < 0)
		_exit(127);
	if (spec->log_path) {
		int fd = open(spec->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
	}
	close_range(DMP_FD + 1, ~0u, 0);
	execv(exe, (char *const *)argv);
	_exit(127);
}

static int wait_ready(int sock, int ms)
{
	struct frame *f = malloc(sizeof(*f));
	struct pollfd pfd = {.fd = sock, .events = POLLIN};
	int r;

	if (!f)
		return -ENOMEM;
	r = poll(&pfd, 1, ms);
	if (r == 0)
		r = -ETIMEDOUT;
	else if (r > 0)
		r = frame_recv(sock, f, sizeof(f->payload), 0);
	if (r == 0 && (f->hdr.type != DMP_READY || f->hdr.len != 0))
		r = -EPROTO;
	free(f);
	return r < 0 ? r : 0;
}

static void reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

int test_dm_launch(struct sim_fixture *f, uint32_t domid, const struct test_dm_spec *spec,
                   struct test_dm *ret)
{
	struct test_dm dm = {.pid = -1, .sock = -1, .domid = domid, .claims = spec->claims};
	struct hv_domain_info info;
	struct dmp_hello hello = {0};
	int sv[2] = {-1, -1};
	int r;

	r = hv_domain_info(f->hv, domid, &info);
	if (r < 0)
		return r;
	dm.nr_vcpus = info.nr_vcpus;
	r = hv_create_server(f->hv, domid, spec->bufioreq, &dm.server);
	if (r < 0)
		return r;
	r = handoff_map_claims(f->hv, domid, dm.server, &spec->claims);
	if (r < 0)
		goto fail;
	r = hv_pages_open(f->hv, domid, dm.server, &dm.pages);
	if (r < 0)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		goto fail;
	}
	dm.pid = spawn(spec, sv[1]);
	close(sv[1]);
	dm.sock = sv[0];
	hello = (struct dmp_hello){.domid = domid,
	                           .server_id = dm.server,
	                           .nr_vcpus = (uint16_t)info.nr_vcpus,
	                           .bufioreq = spec->bufioreq,
	                           .flags = spec->poll_us ? DMP_HELLO_POLL : 0,
	                           .poll_us = spec->poll_us};
	snprintf(hello.name, sizeof(hello.name), "%s", spec->name ? spec->name : spec->exe);
	r = handoff_send_setup(dm.sock, &hello, &spec->claims, dm.pages);
	if (r == 0)
		r = wait_ready(dm.sock, 10000);
	if (r == 0)
		r = hv_set_server_state(f->hv, domid, dm.server, true);
	if (r == 0)
		r = hv_ports_bind(f->hv, domid, dm.server, info.nr_vcpus, dm.pages, &dm.ports);
	if (r == 0)
		r = handoff_send_ports(dm.sock, dm.ports);
	if (r < 0)
		goto fail;
	*ret = dm;
	return 0;
fail:
	if (dm.pid > 0)
		reap(dm.pid);
	util_close(dm.sock);
	hv_ports_free(dm.ports);
	hv_pages_free(dm.pages);
	(void)hv_destroy_server(f->hv, domid, dm.server);
	return r;
}

int test_dm_stop(struct sim_fixture *f, struct test_dm *dm)
{
	uint64_t deadline = util_now_ns() + 5000000000ull;
	int status = -1;

	(void)frame_send(dm->sock, DMP_SHUTDOWN, 0, NULL, 0, NULL, 0);
	while (dm->pid > 0 && waitpid(dm->pid, &status, WNOHANG) == 0) {
		if (util_now_ns() > deadline) {
			kill(dm->pid, SIGKILL);
			waitpid(dm->pid, &status, 0);
			break;
		}
		util_sleep_ns(1000000);
	}
	util_close(dm->sock);
	hv_ports_free(dm->ports);
	hv_pages_free(dm->pages);
	(void)hv_destroy_server(f->hv, dm->domid, dm->server);
	dm->sock = -1;
	dm->ports = NULL;
	dm->pages = NULL;
	return status;
}

/* The test's stand-in for the broker's DM-op mediation: no policy, straight to hv. */
static int serve_dmop(struct sim_fixture *f, struct test_dm *dm, const struct dmp_dmop *op)
{
	switch (op->op) {
	case DMP_DMOP_ISA_IRQ:
		return hv_set_isa_irq_level(f->hv, dm->domid, (uint8_t)op->u.isa_irq.irq,
		                            op->u.isa_irq.level);
	case DMP_DMOP_PCI_INTX:
		return hv_set_pci_intx_level(f->hv, dm->domid, op->u.pci_intx.sbdf,
		                             (uint8_t)op->u.pci_intx.pin, op->u.pci_intx.level);
	case DMP_DMOP_MSI:
		return hv_inject_msi(f->hv, dm->domid, op->u.msi.addr, op->u.msi.data);
	case DMP_DMOP_BAR_MOVE: {
		uint64_t o = op->u.bar.old_base, n = op->u.bar.new_base, s = op->u.bar.size;
		int r = hv_unmap_range(f->hv, dm->domid, dm->server, HV_RANGE_MMIO, o, o + s - 1);
		if (r == 0)
			r = hv_map_range(f->hv, dm->domid, dm->server, HV_RANGE_MMIO, n, n + s - 1);
		return r;
	}
	}
	return -EOPNOTSUPP;
}

static void pump_once(struct sim_fixture *f, struct test_dm *dm)
{
	struct frame *fr = malloc(sizeof(*fr));
	struct dmp_dmop op;
	struct dmp_dmop_reply rep = {0};

	if (!fr)
		return;
	util_set_nonblock(dm->sock, true);
	while (frame_recv(dm->sock, fr, sizeof(fr->payload), 0) == 0) {
		if (fr->hdr.type != DMP_DMOP || frame_get(fr, &op, sizeof(op)) < 0)
			continue;
		rep.result = serve_dmop(f, dm, &op);
		(void)frame_send(dm->sock, DMP_DMOP_REPLY, fr->hdr.id, &rep, sizeof(rep), NULL, 0);
	}
	util_set_nonblock(dm->sock, false);
	free(fr);
}

void test_dm_pump(struct sim_fixture *f, struct test_dm *dm, int ms)
{
	uint64_t deadline = util_now_ns() + (uint64_t)ms * 1000000ull;

	do {
		struct pollfd pfd = {.fd = dm->sock, .events = POLLIN};
		if (poll(&pfd, 1, 5) > 0)
			pump_once(f, dm);
	} while (util_now_ns() < deadline);
}

struct run_args {
	struct sim_fixture *f;
	uint32_t domid;
	const struct scn_op *ops;
	unsigned n;
	uint64_t *values;
	const char *file;
	struct sim_reply rep;
	int r;
	volatile int done;
	struct simc *c;
};

static void on_result(void *opaque, const struct sim_scn_result *res)
{
	struct run_args *a = opaque;
	const struct scn_op *op = &a->ops[res->index];

	if (a->values && res->index < a->n)
		a->values[res->index] = res->actual;
	if (res->status != SIM_SCN_PASS && a->file) {
		char text[128];
		scenario_format_op(op, text, sizeof(text));
		fprintf(stderr, "# %s:%u: vcpu%u %s: %s (read 0x%llx)\n", a->file, op->line,
		        op->vcpu, text, res->status == SIM_SCN_FAIL ? "FAIL" : "NOT RUN",
		        (unsigned long long)res->actual);
	}
}

static void *run_thread(void *arg)
{
	struct run_args *a = arg;

	a->r = simc_run_scenario(a->c, a->domid, a->ops, a->n, 20000, on_result, a, &a->rep);
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int run_and_pump(struct run_args *a, struct test_dm **dms, unsigned n_dms)
{
	pthread_t t;

	ASSERT_OK(simc_connect(a->f->sock, &a->c));
	ASSERT_EQ(pthread_create(&t, NULL, run_thread, a), 0);
	while (!__atomic_load_n(&a->done, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd[16];
		unsigned n = 0;

		for (unsigned i = 0; i < n_dms && i < 16; i++)
			pfd[n++] = (struct pollfd){.fd = dms[i]->sock, .events = POLLIN};
		if (poll(pfd, n, 5) > 0)
			for (unsigned i = 0; i < n; i++)
				if (pfd[i].revents & POLLIN)
					pump_once(a->f, dms[i]);
	}
	pthread_join(t, NULL);
	simc_close(a->c);
	if (a->r < 0)
		return a->r;
	if (a->rep.u.scn.crashed)
		fprintf(stderr, "# domain crashed: %s\n", a->rep.u.scn.reason);
	return (int)(a->rep.u.scn.failed + a->rep.u.scn.not_run);
}

int fixture_run_ops(struct sim_fixture *f, uint32_t domid, const struct scn_op *ops, unsigned n,
                    struct test_dm **dms, unsigned n_dms, uint64_t *ret_values)
{
	struct run_args a = {.f = f, .domid = domid, .ops = ops, .n = n, .values = ret_values};

	return run_and_pump(&a, dms, n_dms);
}

int fixture_run_scenario(struct sim_fixture *f, uint32_t domid, const char *file,
                         struct test_dm **dms, unsigned n_dms)
{
	char path[512], err[512];
	struct scenario *s;
	int r;

	snprintf(path, sizeof(path), "%s/scenarios/%s", test_srcdir(), file);
	r = scenario_load(path, &s, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "# %s\n", err);
		return r;
	}
	{
		struct run_args a = {
		        .f = f, .domid = domid, .ops = s->ops, .n = s->n_ops, .file = file};
		r = run_and_pump(&a, dms, n_dms);
	}
	scenario_free(s);
	return r;
}
