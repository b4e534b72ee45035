/* SPDX-License-Identifier: MIT */
/*
 * Running a scenario: one thread per vCPU that has ops, each playing that
 * vCPU through sim_ioreq_access() exactly as a guest would (a PCI config
 * access is the 0xcf8 address write followed by the 0xcfc data access).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "sim/sim-internal.h"

#define MSI_WAIT_NS (5ull * 1000 * 1000 * 1000)

struct run {
	struct sim_domain *d;
	const struct scn_op *ops;
	unsigned n_ops;
	sim_result_fn fn;
	void *opaque;
	pthread_mutex_t lock; /* results, counters, barrier */
	pthread_cond_t cond;
	unsigned passed, failed, not_run;
	unsigned barrier_parties, barrier_waiting, barrier_gen;
	bool broken; /* a vCPU stopped early: barriers must not wait for it */
	unsigned live;
};

struct vcpu_job {
	struct run *run;
	unsigned vcpu;
	pthread_t thread;
	bool started;
};

static void report(struct run *run, unsigned index, unsigned status, uint64_t actual, uint64_t ns)
{
	struct sim_scn_result res = {.index = index, .status = status, .actual = actual, .ns = ns};

	pthread_mutex_lock(&run->lock);
	if (status == SIM_SCN_PASS)
		run->passed++;
	else if (status == SIM_SCN_FAIL)
		run->failed++;
	else
		run->not_run++;
	if (run->fn)
		run->fn(run->opaque, &res);
	pthread_mutex_unlock(&run->lock);
}

static int barrier_wait(struct run *run)
{
	int r = 0;

	pthread_mutex_lock(&run->lock);
	if (++run->barrier_waiting == run->barrier_parties) {
		run->barrier_waiting = 0;
		run->barrier_gen++;
		pthread_cond_broadcast(&run->cond);
	} else {
		unsigned gen = run->barrier_gen;
		while (gen == run->barrier_gen && !run->broken)
			pthread_cond_wait(&run->cond, &run->lock);
		if (gen == run->barrier_gen)
			r = -ECANCELED;
	}
	pthread_mutex_unlock(&run->lock);
	return r;
}

static void mark_broken(struct run *run)
{
	pthread_mutex_lock(&run->lock);
	run->broken = true;
	pthread_cond_broadcast(&run->cond);
	pthread_mutex_unlock(&run->lock);
}

/* Wait (bounded) for an MSI of this vector that this vCPU has not consumed yet. */
static int msi_wait(struct sim_domain *d, struct sim_vcpu *v, unsigned vector)
{
	uint64_t deadline = util_realtime_ns() + MSI_WAIT_NS;
	int r = -ETIMEDOUT;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000ull),
		                      .tv_nsec = (long)(deadline % 1000000000ull)};

		if (d->msi_count[vector] > v->msi_seen[vector]) {
			v->msi_seen[vector] = d->msi_count[vector];
			r = 0;
			break;
		}
		if (d->crashed || d->dying) {
			r = -ESHUTDOWN;
			break;
		}
		if (atomic_load(&v->abort)) {
			r = -EINTR;
			break;
		}
		if (pthread_cond_timedwait(&d->cond, &d->lock, &ts) == ETIMEDOUT &&
		    util_realtime_ns() >= deadline)
			break;
	}
	pthread_mutex_unlock(&d->lock);
	return r;
}

static int pci_access(struct sim_domain *d, struct sim_vcpu *v, const struct scn_op *op,
                      unsigned dir, uint64_t *data)
{
	uint32_t sbdf = (uint32_t)(op->addr >> 32), reg = (uint32_t)op->addr;
	uint64_t cf8 = 0x80000000u | (sbdf & 0xffff) << 8 | (reg & 0xfc);
	int r;

	r = sim_ioreq_access(d, v, IOREQ_TYPE_PIO, IOREQ_WRITE, 0xcf8, 4, &cf8);
	if (r < 0)
		return r;
	return sim_ioreq_access(d, v, IOREQ_TYPE_PIO, dir, 0xcfc + (reg & 3), op->size, data);
}

/* Execute one op; returns 0 with *ret_status, or a fatal -errno for the vCPU. */
static int exec_op(struct run *run, struct sim_vcpu *v, const struct scn_op *op, uint64_t *actual,
                   unsigned *ret_status)
{
	struct sim_domain *d = run->d;
	uint64_t data = op->value;
	bool is_read = false;
	int r;

	switch (op->kind) {
	case SCN_PIO_OUT:
		r = sim_ioreq_access(d, v, IOREQ_TYPE_PIO, IOREQ_WRITE, op->addr, op->size, &data);
		break;
	case SCN_PIO_IN:
		is_read = true;
		r = sim_ioreq_access(d, v, IOREQ_TYPE_PIO, IOREQ_READ, op->addr, op->size, &data);
		break;
	case SCN_MMIO_WRITE:
		r = sim_ioreq_access(d, v, IOREQ_TYPE_COPY, IOREQ_WRITE, op->addr, op->size, &data);
		break;
	case SCN_MMIO_READ:
		is_read = true;
		r = sim_ioreq_access(d, v, IOREQ_TYPE_COPY, IOREQ_READ, op->addr, op->size, &data);
		break;
	case SCN_PCI_WRITE:
		r = pci_access(d, v, op, IOREQ_WRITE, &data);
		break;
	case SCN_PCI_READ:
		is_read = true;
		r = pci_access(d, v, op, IOREQ_READ, &data);
		break;
	case SCN_MSI_WAIT:
		r = msi_wait(d, v, (unsigned)op->value & 0xff);
		if (r == -ETIMEDOUT) {
			*ret_status = SIM_SCN_FAIL;
			*actual = 0;
			return 0;
		}
		break;
	case SCN_BARRIER:
		r = barrier_wait(run);
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r < 0)
		return r;
	*actual = is_read ? data : 0;
	*ret_status = (!is_read || (data & op->mask) == (op->value & op->mask)) ? SIM_SCN_PASS
	                                                                        : SIM_SCN_FAIL;
	return 0;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu_job *job = arg;
	struct run *run = job->run;
	struct sim_vcpu *v = &run->d->vcpu[job->vcpu];
	bool stopped = false;

	v->thread = pthread_self();
	for (unsigned i = 0; i < run->n_ops; i++) {
		const struct scn_op *op = &run->ops[i];
		uint64_t actual = 0, t0;
		unsigned status = SIM_SCN_NOT_RUN;

		if (op->vcpu != job->vcpu)
			continue;
		if (!stopped) {
			t0 = util_now_ns();
			if (exec_op(run, v, op, &actual, &status) < 0) {
				stopped = true;
				status = SIM_SCN_NOT_RUN;
				mark_broken(run);
			}
			report(run, i, status, actual, util_now_ns() - t0);
			continue;
		}
		report(run, i, SIM_SCN_NOT_RUN, 0, 0);
	}
	return NULL;
}

static bool vcpu_used(const struct scn_op *ops, unsigned n, unsigned vcpu)
{
	for (unsigned i = 0; i < n; i++)
		if (ops[i].vcpu == vcpu)
			return true;
	return false;
}

/* Join the workers; after the deadline, abort their waits and join anyway. */
static void join_all(struct run *run, struct vcpu_job *jobs, unsigned n, uint32_t timeout_ms)
{
	struct timespec ts;
	uint64_t deadline = util_realtime_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (unsigned i = 0; i < n; i++) {
		if (!jobs[i].started)
			continue;
		ts.tv_sec = (time_t)(deadline / 1000000000ull);
		ts.tv_nsec = (long)(deadline % 1000000000ull);
		if (pthread_timedjoin_np(jobs[i].thread, NULL, &ts) == 0) {
			jobs[i].started = false;
			continue;
		}
		/* Timed out: abort every vCPU of this run and wake it. */
		for (unsigned j = 0; j < n; j++) {
			if (!jobs[j].started)
				continue;
			atomic_store(&run->d->vcpu[jobs[j].vcpu].abort, true);
			sim_thread_kick(jobs[j].thread);
		}
		pthread_mutex_lock(&run->d->lock);
		pthread_cond_broadcast(&run->d->cond);
		pthread_mutex_unlock(&run->d->lock);
		mark_broken(run);
		pthread_join(jobs[i].thread, NULL);
		jobs[i].started = false;
		deadline = util_realtime_ns(); /* the rest: join without waiting longer */
	}
}

static int claim_vcpus(struct sim_domain *d, const struct scn_op *ops, unsigned n_ops,
                       struct vcpu_job *jobs, unsigned *ret_n)
{
	unsigned n = 0;

	for (unsigned v = 0; v < d->nr_vcpus; v++) {
		if (!vcpu_used(ops, n_ops, v))
			continue;
		if (sim_vcpu_claim(d, v) < 0) {
			for (unsigned j = 0; j < n; j++)
				sim_vcpu_release(d, jobs[j].vcpu);
			return -EBUSY;
		}
		jobs[n++].vcpu = v;
	}
	*ret_n = n;
	return 0;
}

int sim_run_scenario(struct sim *sim, uint32_t domid, const struct scn_op *ops, unsigned n_ops,
                     uint32_t timeout_ms, sim_result_fn fn, void *opaque,
                     struct sim_scn_summary *ret)
{
	struct sim_domain *d;
	struct vcpu_job jobs[SIMCHAN_MAX_VCPUS] = {0};
	struct run run = {.ops = ops, .n_ops = n_ops, .fn = fn, .opaque = opaque};
	struct sim_scn_summary sum = {0};
	unsigned n = 0;
	int r;

	if (!n_ops || n_ops > SCN_MAX_OPS)
		return -EINVAL;
	d = sim_domain_get(sim, domid);
	if (!d)
		return -ESRCH;
	for (unsigned i = 0; i < n_ops; i++)
		if (ops[i].vcpu >= d->nr_vcpus) {
			sim_domain_put(d);
			return -EXDEV; /* the scenario needs more vCPUs than the domain has */
		}
	r = claim_vcpus(d, ops, n_ops, jobs, &n);
	if (r < 0) {
		sim_domain_put(d);
		return r;
	}
	run.d = d;
	run.barrier_parties = n;
	pthread_mutex_init(&run.lock, NULL);
	pthread_cond_init(&run.cond, NULL);
	for (unsigned i = 0; i < n; i++) {
		jobs[i].run = &run;
		if (pthread_create(&jobs[i].thread, NULL, vcpu_thread, &jobs[i]) == 0)
			jobs[i].started = true;
		else
			mark_broken(&run);
	}
	join_all(&run, jobs, n, timeout_ms ? timeout_ms : 30000);
	for (unsigned i = 0; i < n; i++)
		sim_vcpu_release(d, jobs[i].vcpu);

	sum.passed = run.passed;
	sum.failed = run.failed;
	sum.not_run = run.not_run;
	pthread_mutex_lock(&d->lock);
	sum.crashed = d->crashed;
	if (d->crashed)
		memcpy(sum.reason, d->crash_reason, sizeof(sum.reason));
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_destroy(&run.lock);
	pthread_cond_destroy(&run.cond);
	sim_domain_put(d);
	*ret = sum;
	return 0;
}
