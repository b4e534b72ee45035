/* SPDX-License-Identifier: MIT */
/* The simulated hypervisor: domains, ioreq servers, their pages and ports, interrupts. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xen/hvm/dm_op.h>
#include <stdint.h>
#include <xen/hvm/hvm_op.h>

#include "common/log.h"
#include "common/util.h"
#include "sim/sim-internal.h"

#define SIM_KICK_SIGNAL (SIGRTMIN + 2)

static void kick_handler(int sig)
{
	(void)sig; /* only interrupts a blocking read() */
}

int sim_new(sim_event_fn fn, void *opaque, struct sim **ret)
{
	struct sigaction sa = {.sa_handler =
	                               kick_handler}; /* no SA_RESTART: read() returns EINTR */
	struct sim *sim = calloc(1, sizeof(*sim));

	if (!sim)
		return -ENOMEM;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIM_KICK_SIGNAL, &sa, NULL) < 0) {
		free(sim);
		return -errno;
	}
	pthread_mutex_init(&sim->lock, NULL);
	sim->next_domid = 1;
	sim->event_fn = fn;
	sim->event_opaque = opaque;
	*ret = sim;
	return 0;
}

void sim_free(struct sim *sim)
{
	if (!sim)
		return;
	for (unsigned i = 0; i < SIM_MAX_DOMAINS; i++)
		if (sim->dom[i])
			(void)sim_domain_destroy(sim, sim->dom[i]->domid);
	pthread_mutex_destroy(&sim->lock);
	free(sim);
}

void sim_thread_kick(pthread_t t)
{
	(void)pthread_kill(t, SIM_KICK_SIGNAL);
}

/* ---- pages and ports ---------------------------------------------------- */

/* A one-page memfd, sealed so that no holder can resize it under the others (SIGBUS). */
static int page_new(const char *name, void **ret_map)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *p;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, IOREQ_PAGE_SIZE) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	p = mmap(NULL, IOREQ_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int r = -errno;
		close(fd);
		return r;
	}
	*ret_map = p;
	return fd;
}

static void page_free(int fd, void *map)
{
	if (map)
		munmap(map, IOREQ_PAGE_SIZE);
	util_close(fd);
}

static int port_new(struct sim_domain *d, struct sim_port *p)
{
	p->to_dm = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->to_sim = eventfd(0, EFD_CLOEXEC);
	if (p->to_dm < 0 || p->to_sim < 0)
		return -errno;
	p->port = d->next_port++;
	return 0;
}

static void port_free(struct sim_port *p)
{
	p->to_dm = util_close(p->to_dm);
	p->to_sim = util_close(p->to_sim);
}

static void server_free(struct sim_server *s)
{
	for (unsigned i = 0; i < s->nr_vcpus; i++)
		port_free(&s->port[i]);
	port_free(&s->buf_port);
	page_free(s->ioreq_fd, s->ioreq);
	page_free(s->buf_fd, s->buf);
	page_free(s->chan_fd, s->chan);
	free(s);
}

void sim_server_put(struct sim_server *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		server_free(s);
}

static int server_new(struct sim_domain *d, uint16_t id, unsigned bufioreq, struct sim_server **ret)
{
	struct sim_server *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	atomic_init(&s->refs, 1);
	s->id = id;
	s->bufioreq = bufioreq;
	s->ioreq_fd = s->buf_fd = s->chan_fd = -1;
	s->nr_vcpus = d->nr_vcpus;
	for (unsigned i = 0; i < 3; i++)
		rangeset_init(&s->range[i], SIM_MAX_RANGES);
	for (unsigned i = 0; i < SIMCHAN_MAX_VCPUS; i++)
		s->port[i].to_dm = s->port[i].to_sim = -1;
	s->buf_port.to_dm = s->buf_port.to_sim = -1;

	r = page_new("ioreq-page", (void **)&s->ioreq);
	if (r < 0)
		goto fail;
	s->ioreq_fd = r;
	r = page_new("ioreq-chan", (void **)&s->chan);
	if (r < 0)
		goto fail;
	s->chan_fd = r;
	if (bufioreq != HVM_IOREQSRV_BUFIOREQ_OFF) {
		r = page_new("bufioreq-page", (void **)&s->buf);
		if (r < 0)
			goto fail;
		s->buf_fd = r;
		r = port_new(d, &s->buf_port);
		if (r < 0)
			goto fail;
	}
	/* Xen allocates each vCPU's port when the server is created (ioreq_server_add_vcpu). */
	for (unsigned i = 0; i < s->nr_vcpus; i++) {
		r = port_new(d, &s->port[i]);
		if (r < 0)
			goto fail;
	}
	*ret = s;
	return 0;
fail:
	server_free(s);
	return r;
}

/* ---- domains ------------------------------------------------------------ */

struct sim_domain *sim_domain_get(struct sim *sim, uint32_t domid)
{
	struct sim_domain *d = NULL;

	if (domid >= SIM_DOMID_LIMIT)
		return NULL;
	pthread_mutex_lock(&sim->lock);
	d = sim->by_id[domid];
	if (d)
		atomic_fetch_add(&d->refs, 1);
	pthread_mutex_unlock(&sim->lock);
	return d;
}

static void domain_free(struct sim_domain *d)
{
	for (unsigned i = 0; i < SIM_MAX_SERVERS; i++)
		sim_server_put(d->server[i]);
	for (unsigned i = 0; i < d->nr_vcpus; i++)
		sim_server_put(d->vcpu[i].pending);
	free(d->vcpu);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
}

void sim_domain_put(struct sim_domain *d)
{
	if (d && atomic_fetch_sub(&d->refs, 1) == 1)
		domain_free(d);
}

int sim_domain_create(struct sim *sim, const char *name, unsigned nr_vcpus, uint32_t flags,
                      uint32_t *ret_domid)
{
	struct sim_domain *d;
	unsigned slot = SIM_MAX_DOMAINS;
	uint32_t domid;

	if (nr_vcpus == 0 || nr_vcpus > SIMCHAN_MAX_VCPUS || !name || !*name ||
	    strlen(name) >= SIM_NAME_MAX)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->vcpu = calloc(nr_vcpus, sizeof(*d->vcpu));
	if (!d->vcpu) {
		free(d);
		return -ENOMEM;
	}
	atomic_init(&d->refs, 1);
	d->sim = sim;
	strcpy(d->name, name);
	d->flags = flags;
	d->paused = flags & SIM_DOMAIN_F_PAUSED;
	d->nr_vcpus = nr_vcpus;
	d->next_port = 1;
	d->poll_ns = (flags & SIM_DOMAIN_F_POLL) ? SIM_DEFAULT_POLL_NS : 0;
	for (unsigned i = 0; i < nr_vcpus; i++)
		d->vcpu[i].id = i;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);

	pthread_mutex_lock(&sim->lock);
	for (unsigned i = 0; i < SIM_MAX_DOMAINS; i++) {
		if (!sim->dom[i] && slot == SIM_MAX_DOMAINS)
			slot = i;
		if (sim->dom[i] && strcmp(sim->dom[i]->name, name) == 0) {
			pthread_mutex_unlock(&sim->lock);
			domain_free(d);
			return -EEXIST; /* xl refuses duplicate names too */
		}
	}
	if (slot == SIM_MAX_DOMAINS) {
		pthread_mutex_unlock(&sim->lock);
		domain_free(d);
		return -ENOSPC;
	}
	/* Like Xen, hand out increasing domids, skipping ones still in use. */
	while (sim->by_id[sim->next_domid])
		sim->next_domid = sim->next_domid + 1 >= SIM_DOMID_LIMIT ? 1 : sim->next_domid + 1;
	domid = d->domid = sim->next_domid;
	sim->next_domid = domid + 1 >= SIM_DOMID_LIMIT ? 1 : domid + 1;
	sim->dom[slot] = d;
	sim->by_id[domid] = d;
	pthread_mutex_unlock(&sim->lock);

	if (sim->event_fn)
		sim->event_fn(sim->event_opaque, SIM_EV_DOMAIN_NEW, domid);
	*ret_domid = domid;
	return 0;
}

void sim_domain_kick_locked(struct sim_domain *d)
{
	for (unsigned i = 0; i < SIM_MAX_SERVERS; i++) {
		struct sim_server *s = d->server[i];
		if (!s)
			continue;
		for (unsigned v = 0; v < s->nr_vcpus; v++)
			(void)eventfd_write(s->port[v].to_sim, 1);
	}
	for (unsigned v = 0; v < d->nr_vcpus; v++) {
		if (d->vcpu[v].pending)
			for (unsigned p = 0; p < d->vcpu[v].pending->nr_vcpus; p++)
				(void)eventfd_write(d->vcpu[v].pending->port[p].to_sim, 1);
		if (atomic_load(&d->vcpu[v].busy))
			sim_thread_kick(d->vcpu[v].thread);
	}
	pthread_cond_broadcast(&d->cond);
}

void sim_domain_crash_locked(struct sim_domain *d, const char *fmt, ...)
{
	va_list ap;

	if (d->crashed)
		return;
	va_start(ap, fmt);
	vsnprintf(d->crash_reason, sizeof(d->crash_reason), fmt, ap);
	va_end(ap);
	__atomic_store_n(&d->crashed, true, __ATOMIC_RELEASE);
	__atomic_store_n(&d->shutdown, true, __ATOMIC_RELEASE);
	log_warn("dom%u crashed: %s", d->domid, d->crash_reason);
	sim_domain_kick_locked(d);
}

int sim_domain_destroy(struct sim *sim, uint32_t domid)
{
	struct sim_domain *d = NULL;

	pthread_mutex_lock(&sim->lock);
	for (unsigned i = 0; i < SIM_MAX_DOMAINS; i++) {
		if (sim->dom[i] && sim->dom[i]->domid == domid) {
			d = sim->dom[i];
			sim->dom[i] = NULL;
			sim->by_id[domid] = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&sim->lock);
	if (!d)
		return -ESRCH;

	pthread_mutex_lock(&d->lock);
	__atomic_store_n(&d->dying, true, __ATOMIC_RELEASE);
	/* ioreq_server_destroy_all(): every server goes with the domain. */
	for (unsigned i = 0; i < SIM_MAX_SERVERS; i++)
		if (d->server[i])
			__atomic_store_n(&d->server[i]->dead, true, __ATOMIC_RELEASE);
	sim_domain_kick_locked(d);
	pthread_mutex_unlock(&d->lock);

	if (sim->event_fn)
		sim->event_fn(sim->event_opaque, SIM_EV_DOMAIN_GONE, domid);
	sim_domain_put(d);
	return 0;
}

int sim_domain_info(struct sim *sim, uint32_t domid, struct sim_domain_info *ret)
{
	struct sim_domain *d = sim_domain_get(sim, domid);
	struct sim_domain_info info = {0};

	if (!d)
		return -ESRCH;
	pthread_mutex_lock(&d->lock);
	info.domid = d->domid;
	info.nr_vcpus = d->nr_vcpus;
	info.paused = d->paused;
	info.shutdown = d->shutdown;
	info.crashed = d->crashed;
	memcpy(info.name, d->name, sizeof(info.name));
	pthread_mutex_unlock(&d->lock);
	sim_domain_put(d);
	*ret = info;
	return 0;
}

int sim_domain_list(struct sim *sim, uint32_t *domids, unsigned max, unsigned *ret_n)
{
	unsigned n = 0;

	pthread_mutex_lock(&sim->lock);
	for (unsigned i = 0; i < SIM_MAX_DOMAINS && n < max; i++)
		if (sim->dom[i])
			domids[n++] = sim->dom[i]->domid;
	pthread_mutex_unlock(&sim->lock);
	*ret_n = n;
	return 0;
}

int sim_domain_pause(struct sim *sim, uint32_t domid, bool pause)
{
	struct sim_domain *d = sim_domain_get(sim, domid);

	if (!d)
		return -ESRCH;
	pthread_mutex_lock(&d->lock);
	__atomic_store_n(&d->paused, pause, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	sim_domain_put(d);
	return 0;
}

int sim_domain_shutdown(struct sim *sim, uint32_t domid, unsigned reason)
{
	struct sim_domain *d = sim_domain_get(sim, domid);

	if (!d)
		return -ESRCH;
	pthread_mutex_lock(&d->lock);
	if (reason == 3 /* SHUTDOWN_crash */)
		sim_domain_crash_locked(d, "remote shutdown (crash) by the device-model domain");
	__atomic_store_n(&d->shutdown, true, __ATOMIC_RELEASE);
	sim_domain_kick_locked(d);
	pthread_mutex_unlock(&d->lock);
	sim_domain_put(d);
	return 0;
}

int sim_domain_stats(struct sim *sim, uint32_t domid, struct sim_domain_stats *ret)
{
	struct sim_domain *d = sim_domain_get(sim, domid);

	if (!d)
		return -ESRCH;
	pthread_mutex_lock(&d->lock);
	*ret = d->stats;
	ret->crashed = d->crashed;
	memcpy(ret->crash_reason, d->crash_reason, sizeof(ret->crash_reason));
	pthread_mutex_unlock(&d->lock);
	sim_domain_put(d);
	return 0;
}

int sim_domain_set_poll(struct sim *sim, uint32_t domid, bool on, uint32_t poll_ns)
{
	struct sim_domain *d = sim_domain_get(sim, domid);

	if (!d)
		return -ESRCH;
	pthread_mutex_lock(&d->lock);
	d->poll_ns = on ? (poll_ns ? poll_ns : SIM_DEFAULT_POLL_NS) : 0;
	pthread_mutex_unlock(&d->lock);
	sim_domain_put(d);
	return 0;
}

int sim_vcpu_claim(struct sim_domain *d, unsigned vcpu)
{
	bool expected = false;

	if (vcpu >= d->nr_vcpus)
		return -EINVAL;
	if (!atomic_compare_exchange_strong(&d->vcpu[vcpu].busy, &expected, true))
		return -EBUSY;
	d->vcpu[vcpu].thread = pthread_self();
	atomic_store(&d->vcpu[vcpu].abort, false);
	return 0;
}

void sim_vcpu_release(struct sim_domain *d, unsigned vcpu)
{
	atomic_store(&d->vcpu[vcpu].busy, false);
}

/* ---- ioreq servers ------------------------------------------------------ */

int sim_domain_fault(struct sim *sim, uint32_t domid, unsigned op, unsigned skip, int err)
{
	struct sim_domain *d;

	if (op > SIM_FAULT_PORTS || err <= 0 || err > 4095)
		return -EINVAL;
	d = sim_domain_get(sim, domid);
	if (!d)
		return -ESRCH;
	pthread_mutex_lock(&d->lock);
	d->fault.op = op;
	d->fault.skip = skip;
	d->fault.err = err;
	pthread_mutex_unlock(&d->lock);
	sim_domain_put(d);
	return 0;
}

/* An injected failure for this kind of call, if one is due; d->lock held. */
static int fault_due(struct sim_domain *d, unsigned op)
{
	if (d->fault.op != op)
		return 0;
	if (d->fault.skip) {
		d->fault.skip--;
		return 0;
	}
	d->fault.op = SIM_FAULT_NONE;
	return -d->fault.err;
}

/* Look up server id of d; d->lock held. */
static struct sim_server *server_lookup(struct sim_domain *d, uint16_t id)
{
	if (id >= SIM_MAX_SERVERS)
		return NULL;
	return d->server[id];
}

/* Run fn on server id of domid under the domain lock. */
#define WITH_SERVER(sim, domid, id, fault_op, body)                     \
	__extension__({                                                 \
		struct sim_domain *d_ = sim_domain_get((sim), (domid)); \
		struct sim_server *s;                                   \
		int r_;                                                 \
		if (!d_)                                                \
			return -ESRCH;                                  \
		pthread_mutex_lock(&d_->lock);                          \
		s = server_lookup(d_, (id));                            \
		if (!s)                                                 \
			r_ = -ENOENT;                                   \
		else if (!(r_ = fault_due(d_, (fault_op))))             \
			r_ = (body);                                    \
		pthread_mutex_unlock(&d_->lock);                        \
		sim_domain_put(d_);                                     \
		r_;                                                     \
	})

int sim_server_create(struct sim *sim, uint32_t domid, unsigned bufioreq, uint16_t *ret_id)
{
	struct sim_domain *d;
	struct sim_server *s = NULL;
	unsigned id;
	int r;

	if (bufioreq > HVM_IOREQSRV_BUFIOREQ_ATOMIC)
		return -EINVAL;
	d = sim_domain_get(sim, domid);
	if (!d)
		return -ESRCH;
	pthread_mutex_lock(&d->lock);
	for (id = 0; id < SIM_MAX_SERVERS; id++)
		if (!d->server[id])
			break;
	r = fault_due(d, SIM_FAULT_CREATE);
	if (r == 0)
		r = id < SIM_MAX_SERVERS && !d->dying ? server_new(d, (uint16_t)id, bufioreq, &s)
		                                      : -ENOSPC;
	if (r == 0)
		d->server[id] = s;
	pthread_mutex_unlock(&d->lock);
	sim_domain_put(d);
	if (r < 0)
		return r;
	*ret_id = (uint16_t)id;
	return 0;
}

int sim_server_destroy(struct sim *sim, uint32_t domid, uint16_t id)
{
	struct sim_domain *d = sim_domain_get(sim, domid);
	struct sim_server *s;

	if (!d)
		return -ESRCH;
	pthread_mutex_lock(&d->lock);
	s = server_lookup(d, id);
	if (s) {
		d->server[id] = NULL;
		s->enabled = false;
		__atomic_store_n(&s->dead, true, __ATOMIC_RELEASE);
		/* A vCPU waiting on this server gives up (Xen drops the pending state too). */
		for (unsigned v = 0; v < s->nr_vcpus; v++)
			(void)eventfd_write(s->port[v].to_sim, 1);
	}
	pthread_mutex_unlock(&d->lock);
	sim_domain_put(d);
	if (!s)
		return -ENOENT;
	sim_server_put(s);
	return 0;
}

static int map_range_locked(struct sim_server *s, unsigned type, uint64_t start, uint64_t end,
                            bool map)
{
	struct rangeset *rs;

	if (start > end || type > XEN_DMOP_IO_RANGE_PCI)
		return -EINVAL;
	rs = &s->range[type];
	if (map) {
		if (rangeset_overlaps(rs, start, end))
			return -EEXIST;
		return rangeset_add(rs, start, end);
	}
	if (!rangeset_contains(rs, start, end))
		return -ENOENT;
	return rangeset_remove(rs, start, end);
}

int sim_map_range(struct sim *sim, uint32_t domid, uint16_t id, unsigned type, uint64_t start,
                  uint64_t end, bool map)
{
	return WITH_SERVER(sim, domid, id, SIM_FAULT_MAP,
	                   map_range_locked(s, type, start, end, map));
}

static int set_state_locked(struct sim_server *s, bool enabled)
{
	if (enabled && !s->enabled)
		/* ioreq_server_update_evtchn(): ports become visible to the emulator now. */
		for (unsigned v = 0; v < s->nr_vcpus; v++)
			__atomic_store_n(&s->ioreq->vcpu_ioreq[v].vp_eport, s->port[v].port,
			                 __ATOMIC_RELEASE);
	s->enabled = enabled;
	return 0;
}

int sim_server_set_state(struct sim *sim, uint32_t domid, uint16_t id, bool enabled)
{
	return WITH_SERVER(sim, domid, id, SIM_FAULT_STATE, set_state_locked(s, enabled));
}

static int dup_fd(int fd)
{
	int r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return r < 0 ? -errno : r;
}

static int pages_locked(struct sim_server *s, int *ret_ioreq, int *ret_buf)
{
	int a, b = -1;

	a = dup_fd(s->ioreq_fd);
	if (a < 0)
		return a;
	if (s->buf_fd >= 0) {
		b = dup_fd(s->buf_fd);
		if (b < 0) {
			close(a);
			return b;
		}
	}
	*ret_ioreq = a;
	*ret_buf = b;
	return 0;
}

int sim_server_pages(struct sim *sim, uint32_t domid, uint16_t id, int *ret_ioreq_fd,
                     int *ret_buf_fd)
{
	return WITH_SERVER(sim, domid, id, SIM_FAULT_PAGES,
	                   pages_locked(s, ret_ioreq_fd, ret_buf_fd));
}

static int ports_locked(struct sim_server *s, struct sim_ports *ret)
{
	struct sim_ports p = {.nr_vcpus = s->nr_vcpus, .has_buf = s->buf_fd >= 0};
	int r;

	/* Xen writes vp_eport only when the server is enabled: nothing to bind before. */
	if (!s->enabled)
		return -EINVAL;
	r = dup_fd(s->chan_fd);
	if (r < 0)
		goto fail;
	p.fds[p.nfds++] = r;
	for (unsigned v = 0; v < s->nr_vcpus; v++) {
		p.port[v] = s->port[v].port;
		r = dup_fd(s->port[v].to_dm);
		if (r < 0)
			goto fail;
		p.fds[p.nfds++] = r;
		r = dup_fd(s->port[v].to_sim);
		if (r < 0)
			goto fail;
		p.fds[p.nfds++] = r;
	}
	if (p.has_buf) {
		p.buf_port = s->buf_port.port;
		r = dup_fd(s->buf_port.to_dm);
		if (r < 0)
			goto fail;
		p.fds[p.nfds++] = r;
	}
	*ret = p;
	return 0;
fail:
	for (unsigned i = 0; i < p.nfds; i++)
		close(p.fds[i]);
	return r;
}

int sim_server_ports(struct sim *sim, uint32_t domid, uint16_t id, struct sim_ports *ret)
{
	return WITH_SERVER(sim, domid, id, SIM_FAULT_PORTS, ports_locked(s, ret));
}

/* ---- interrupts --------------------------------------------------------- */

int sim_set_isa_irq(struct sim *sim, uint32_t domid, uint8_t irq, unsigned level)
{
	struct sim_domain *d;

	if (irq >= 16 || level > 1)
		return -EINVAL;
	d = sim_domain_get(sim, domid);
	if (!d)
		return -ESRCH;
	pthread_mutex_lock(&d->lock);
	if (level)
		d->stats.isa_irq_levels |= 1u << irq;
	else
		d->stats.isa_irq_levels &= ~(1u << irq);
	pthread_mutex_unlock(&d->lock);
	sim_domain_put(d);
	return 0;
}

int sim_set_pci_intx(struct sim *sim, uint32_t domid, uint32_t sbdf, uint8_t pin, unsigned level)
{
	struct sim_domain *d;

	/* Xen's set_pci_intx_level takes domain 0 bus 0 devices only in practice; pins 0-3. */
	if (pin > 3 || level > 1 || (sbdf >> 16) != 0)
		return -EINVAL;
	d = sim_domain_get(sim, domid);
	if (!d)
		return -ESRCH;
	pthread_mutex_lock(&d->lock);
	if (level)
		d->stats.pci_intx_asserts++;
	pthread_mutex_unlock(&d->lock);
	sim_domain_put(d);
	return 0;
}

int sim_inject_msi(struct sim *sim, uint32_t domid, uint64_t addr, uint32_t data)
{
	struct sim_domain *d = sim_domain_get(sim, domid);
	unsigned vector = data & 0xff;

	(void)addr; /* single-LAPIC model: every destination is the domain */
	if (!d)
		return -ESRCH;
	pthread_mutex_lock(&d->lock);
	d->stats.msi_total++;
	d->stats.msi_by_vector[vector / 64] |= 1ull << (vector % 64);
	d->msi_count[vector]++;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	sim_domain_put(d);
	return 0;
}

/* ---- guest accesses ----------------------------------------------------- */

int sim_vcpu_io(struct sim *sim, uint32_t domid, unsigned vcpu, unsigned type, unsigned dir,
                uint64_t addr, unsigned size, uint64_t *data)
{
	struct sim_domain *d = sim_domain_get(sim, domid);
	int r;

	if (!d)
		return -ESRCH;
	r = sim_vcpu_claim(d, vcpu);
	if (r == 0) {
		r = sim_ioreq_access(d, &d->vcpu[vcpu], type, dir, addr, size, data);
		sim_vcpu_release(d, vcpu);
	}
	sim_domain_put(d);
	return r;
}

int sim_invalidate(struct sim *sim, uint32_t domid)
{
	struct sim_domain *d = sim_domain_get(sim, domid);
	int r;

	if (!d)
		return -ESRCH;
	/* Xen sends it from the vCPU that unmapped memory; vCPU 0 here.  If it is
	 * busy running a scenario it broadcasts before its next access. */
	r = sim_vcpu_claim(d, 0);
	if (r == 0) {
		r = sim_ioreq_broadcast_invalidate(d, &d->vcpu[0]);
		sim_vcpu_release(d, 0);
	} else if (r == -EBUSY) {
		atomic_store(&d->vcpu[0].invalidate, true);
		r = 0;
	}
	sim_domain_put(d);
	return r;
}

int sim_timeoffset(struct sim *sim, uint32_t domid, int64_t offset)
{
	struct sim_domain *d = sim_domain_get(sim, domid);
	ioreq_t p = {
	        .type = IOREQ_TYPE_TIMEOFFSET, .data = (uint64_t)offset, .size = 8, .count = 1};

	if (!d)
		return -ESRCH;
	if (offset == 0) { /* send_timeoffset_req() sends nothing for no change */
		sim_domain_put(d);
		return 0;
	}
	pthread_mutex_lock(&d->lock);
	/* hvm_broadcast_ioreq(&p, true): servers without a ring are skipped. */
	for (int id = SIM_MAX_SERVERS - 1; id >= 0; id--) {
		struct sim_server *s = d->server[id];
		if (s && s->enabled && s->buf)
			(void)sim_ioreq_send_buffered_locked(d, s, &p);
	}
	pthread_mutex_unlock(&d->lock);
	sim_domain_put(d);
	return 0;
}
