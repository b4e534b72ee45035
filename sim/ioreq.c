/* SPDX-License-Identifier: MIT */
/*
 * The simulated vCPU side of Xen 4.17's ioreq path: hvmemul_do_io(),
 * ioreq_server_select(), ioreq_send(), ioreq_send_buffered(), wait_for_io()
 * and the 0xcf8 latch, re-implemented over memfd pages and eventfd ports.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <xen/hvm/dm_op.h>
#include <stdint.h>
#include <xen/hvm/hvm_op.h>

#include "common/log.h"
#include "common/util.h"
#include "sim/sim-internal.h"

#define CF8_ENABLED(cf8) (!!((cf8)&0x80000000u))
#define CF8_BDF(cf8)     (((cf8)&0x00ffff00u) >> 8)
#define CF8_ADDR_LO(cf8) ((cf8)&0x000000fcu)

enum send_status { SEND_HANDLED, SEND_UNHANDLED };

static bool flag(const bool *b)
{
	return __atomic_load_n(b, __ATOMIC_ACQUIRE);
}

static uint64_t size_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

/*
 * arch_ioreq_server_get_type_addr(): which rangeset and address select the
 * server.  With the 0xcf8 latch enabled, 0xcfc-0xcff is a PCI config cycle.
 */
static bool get_type_addr(const struct sim_domain *d, const ioreq_t *p, unsigned *type,
                          uint64_t *addr)
{
	uint32_t cf8 = d->pci_cf8;

	if (p->type != IOREQ_TYPE_COPY && p->type != IOREQ_TYPE_PIO)
		return false;
	if (p->type == IOREQ_TYPE_PIO && (p->addr & ~3ull) == 0xcfc && CF8_ENABLED(cf8)) {
		uint32_t sbdf = CF8_BDF(cf8); /* segment 0 */
		uint32_t reg = CF8_ADDR_LO(cf8) | (uint32_t)(p->addr & 3);

		*type = XEN_DMOP_IO_RANGE_PCI;
		*addr = (uint64_t)sbdf << 32 | reg;
	} else {
		*type = p->type == IOREQ_TYPE_PIO ? XEN_DMOP_IO_RANGE_PORT
		                                  : XEN_DMOP_IO_RANGE_MEMORY;
		*addr = p->addr;
	}
	return true;
}

/* ioreq_mmio_first_byte / last_byte for a (possibly rep, possibly df) access. */
static void mmio_span(const ioreq_t *p, uint64_t *first, uint64_t *last)
{
	uint64_t bytes = (uint64_t)p->size * p->count;

	if (p->df) {
		*first = p->addr - bytes + p->size;
		*last = p->addr + p->size - 1;
	} else {
		*first = p->addr;
		*last = p->addr + bytes - 1;
	}
}

/* ioreq_server_select(): newest server first, enabled only, full containment. */
static struct sim_server *select_locked(struct sim_domain *d, ioreq_t *p)
{
	unsigned type;
	uint64_t addr;

	if (!get_type_addr(d, p, &type, &addr))
		return NULL;
	for (int id = SIM_MAX_SERVERS - 1; id >= 0; id--) {
		struct sim_server *s = d->server[id];
		uint64_t first, last;

		if (!s || !s->enabled)
			continue;
		switch (type) {
		case XEN_DMOP_IO_RANGE_PORT:
			if (rangeset_contains(&s->range[type], addr, addr + p->size - 1))
				return s;
			break;
		case XEN_DMOP_IO_RANGE_MEMORY:
			mmio_span(p, &first, &last);
			if (rangeset_contains(&s->range[type], first, last))
				return s;
			break;
		case XEN_DMOP_IO_RANGE_PCI:
			if (rangeset_contains(&s->range[type], addr >> 32, addr >> 32)) {
				p->type = IOREQ_TYPE_PCI_CONFIG;
				p->addr = addr;
				return s;
			}
			break;
		}
	}
	return NULL;
}

/* Wake the device model on port pt unless it said it is polling (see ipc/simchan.h). */
static void notify_dm(struct simchan_slot *slot, struct sim_port *pt)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&slot->dm_polling, __ATOMIC_RELAXED))
		(void)eventfd_write(pt->to_dm, 1);
}

/*
 * ioreq_send() for a synchronous request; d->lock held.  A slot that is not
 * NONE or a vp_eport that is not the server's port means the device model
 * scribbled on its page: Xen treats the access as unhandled, which for port
 * I/O crashes the domain (handle_pio's default case) - so do we, for both.
 * A broadcast only counts the failure (ioreq_broadcast): -EIO, no crash.
 */
static int send_locked(struct sim_domain *d, struct sim_server *s, struct sim_vcpu *v,
                       const ioreq_t *proto, bool broadcast)
{
	ioreq_t *slot = &s->ioreq->vcpu_ioreq[v->id];
	unsigned state = ioreq_load_state(slot);
	uint32_t eport = __atomic_load_n(&slot->vp_eport, __ATOMIC_RELAXED);
	ioreq_t p = *proto;

	if ((state != STATE_IOREQ_NONE || eport != s->port[v->id].port) && broadcast)
		return -EIO;
	if (state != STATE_IOREQ_NONE) {
		sim_domain_crash_locked(d, "device model set bad IO state %u (server %u, vcpu %u)",
		                        state, s->id, v->id);
		return -ESHUTDOWN;
	}
	if (eport != s->port[v->id].port) {
		sim_domain_crash_locked(d, "device model set bad event channel %u (server %u)",
		                        eport, s->id);
		return -ESHUTDOWN;
	}
	p.state = STATE_IOREQ_NONE;
	p.vp_eport = s->port[v->id].port;
	/* Copy the body with the state still NONE, then publish READY (release). */
	slot->addr = p.addr;
	slot->data = p.data;
	slot->count = p.count;
	slot->size = p.size;
	slot->type = p.type;
	slot->dir = p.dir;
	slot->df = p.df;
	slot->data_is_ptr = p.data_is_ptr;
	ioreq_store_state(slot, STATE_IOREQ_READY);
	notify_dm(&s->chan->vcpu[v->id], &s->port[v->id]);
	d->stats.ioreqs_sent++;
	return 0;
}

/* Spin for up to d->poll_ns watching the slot; the flag tells the DM not to signal. */
static unsigned spin_for_change(struct sim_domain *d, struct sim_server *s, struct sim_vcpu *v,
                                ioreq_t *slot, unsigned prev)
{
	uint32_t *polling = &s->chan->vcpu[v->id].sim_polling;
	uint64_t deadline = util_now_ns() + d->poll_ns;
	unsigned state = prev;
	unsigned spins = 0;

	__atomic_store_n(polling, 1, __ATOMIC_SEQ_CST);
	while ((state = ioreq_load_state(slot)) == prev) {
		__builtin_ia32_pause();
		if ((++spins & 63) == 0 && util_now_ns() >= deadline)
			break;
	}
	__atomic_store_n(polling, 0, __ATOMIC_SEQ_CST);
	/* Dekker: the DM stores the state then reads our flag; we cleared it, now re-read. */
	return state == prev ? ioreq_load_state(slot) : state;
}

/* Block until the port is signalled (or a kick interrupts the read). */
static void block_on_port(struct sim_port *pt)
{
	eventfd_t cnt;

	if (eventfd_read(pt->to_sim, &cnt) < 0 && errno == EAGAIN) {
		/* Someone set O_NONBLOCK on the shared file: wait with poll instead. */
		struct pollfd pfd = {.fd = pt->to_sim, .events = POLLIN};
		(void)poll(&pfd, 1, 10);
		(void)eventfd_read(pt->to_sim, &cnt);
	}
}

/*
 * Wait until the slot's state differs from prev (the body of Xen's
 * wait_on_xen_event_channel).  -ESHUTDOWN: domain crashed or going;
 * -ECANCELED: server destroyed; -EINTR: the run was aborted.
 */
static int wait_change(struct sim_domain *d, struct sim_server *s, struct sim_vcpu *v,
                       ioreq_t *slot, unsigned prev, unsigned *ret_state)
{
	bool spun = false;

	for (;;) {
		unsigned state = ioreq_load_state(slot);

		if (state != prev) {
			*ret_state = state;
			return 0;
		}
		if (flag(&d->dying) || flag(&d->crashed) || flag(&d->shutdown))
			return -ESHUTDOWN;
		if (flag(&s->dead))
			return -ECANCELED;
		if (atomic_load(&v->abort))
			return -EINTR;
		if (d->poll_ns && !spun) {
			spun = true;
			state = spin_for_change(d, s, v, slot, prev);
			if (state != prev) {
				*ret_state = state;
				return 0;
			}
			continue;
		}
		block_on_port(&s->port[v->id]);
	}
}

static void crash(struct sim_domain *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void crash(struct sim_domain *d, const char *fmt, ...)
{
	char msg[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&d->lock);
	sim_domain_crash_locked(d, "%s", msg);
	pthread_mutex_unlock(&d->lock);
}

/*
 * wait_for_io(): follow the slot through INPROCESS to IORESP_READY, take the
 * data and hand the slot back (NONE).  A state going backwards or an unknown
 * state crashes the domain; a slot reset to NONE by a dying emulator ends
 * the wait with all ones, as in Xen.
 */
static int wait_for_io(struct sim_domain *d, struct sim_vcpu *v, struct sim_server *s,
                       uint64_t *ret_data)
{
	ioreq_t *slot = &s->ioreq->vcpu_ioreq[v->id];
	unsigned prev = STATE_IOREQ_NONE;
	unsigned state = ioreq_load_state(slot);
	uint64_t data = ~0ull;
	int r;

	while (state != STATE_IOREQ_NONE) {
		if (state < prev) {
			crash(d, "Weird HVM ioreq state transition %u -> %u", prev, state);
			return -ESHUTDOWN;
		}
		switch (prev = state) {
		case STATE_IORESP_READY:
			data = __atomic_load_n(&slot->data, __ATOMIC_RELAXED);
			ioreq_store_state(slot, STATE_IOREQ_NONE);
			goto done;
		case STATE_IOREQ_READY:
		case STATE_IOREQ_INPROCESS:
			r = wait_change(d, s, v, slot, prev, &state);
			if (r == -ECANCELED)
				goto done; /* server destroyed under us: the access completes */
			if (r < 0)
				return r;
			continue;
		default:
			crash(d, "Weird HVM iorequest state %u", state);
			return -ESHUTDOWN;
		}
	}
done:
	*ret_data = data;
	return 0;
}

/* Wait for a request whose wait was interrupted earlier (vcpu_ioreq_handle_completion). */
int sim_ioreq_finish_pending(struct sim_domain *d, struct sim_vcpu *v)
{
	uint64_t data;
	int r;

	if (!v->pending)
		return 0;
	r = wait_for_io(d, v, v->pending, &data);
	if (r == -EINTR)
		return r;
	sim_server_put(v->pending);
	v->pending = NULL;
	return r;
}

/* Wait for the answer to a request just sent to s. */
static int wait_answer(struct sim_domain *d, struct sim_vcpu *v, struct sim_server *s,
                       uint64_t *data)
{
	int r = wait_for_io(d, v, s, data);

	if (r == -EINTR) {
		/* Still in flight: the vCPU waits for it before its next access. */
		atomic_fetch_add(&s->refs, 1);
		v->pending = s;
	}
	return r;
}

int sim_ioreq_send_buffered_locked(struct sim_domain *d, struct sim_server *s, const ioreq_t *p)
{
	buffered_iopage_t *pg = s->buf;
	buf_ioreq_t bp = {.type = p->type,
	                  .dir = p->dir,
	                  .addr = (uint32_t)(p->addr & 0xfffff),
	                  .data = (uint32_t)p->data};
	unsigned qw = 0;
	uint32_t rp, wp;

	if (!pg)
		return SEND_UNHANDLED;
	/* As Xen: these are silently dropped (the 20-bit addr, no pointers, no reps). */
	if (p->addr > 0xfffff || p->data_is_ptr || p->count != 1)
		return SEND_HANDLED;
	switch (p->size) {
	case 1:
		bp.size = 0;
		break;
	case 2:
		bp.size = 1;
		break;
	case 4:
		bp.size = 2;
		break;
	case 8:
		bp.size = 3;
		qw = 1;
		break;
	default:
		return SEND_UNHANDLED;
	}
	rp = __atomic_load_n(&pg->read_pointer, __ATOMIC_ACQUIRE);
	wp = pg->write_pointer;
	if (wp - rp >= IOREQ_BUFFER_SLOT_NUM - qw) {
		d->stats.buffered_full++;
		return SEND_UNHANDLED; /* full: the caller goes synchronous */
	}
	pg->buf_ioreq[wp % IOREQ_BUFFER_SLOT_NUM] = bp;
	if (qw) {
		bp.data = (uint32_t)(p->data >> 32);
		pg->buf_ioreq[(wp + 1) % IOREQ_BUFFER_SLOT_NUM] = bp;
	}
	/* Slots visible before the write pointer. */
	__atomic_store_n(&pg->write_pointer, wp + (qw ? 2 : 1), __ATOMIC_RELEASE);

	/* ATOMIC mode: rebase both pointers together so they never overflow. */
	while (s->bufioreq == HVM_IOREQSRV_BUFIOREQ_ATOMIC && qw++ < IOREQ_BUFFER_SLOT_NUM) {
		uint64_t *full = (uint64_t *)(void *)pg;
		uint64_t old = __atomic_load_n(full, __ATOMIC_ACQUIRE), new;
		uint32_t orp = (uint32_t)old, owp = (uint32_t)(old >> 32);
		uint32_t n = orp / IOREQ_BUFFER_SLOT_NUM;

		if (orp < IOREQ_BUFFER_SLOT_NUM)
			break;
		new = (uint64_t)(owp - n * IOREQ_BUFFER_SLOT_NUM) << 32 |
		      (orp - n * IOREQ_BUFFER_SLOT_NUM);
		(void)__atomic_compare_exchange_n(full, &old, new, false, __ATOMIC_SEQ_CST,
		                                  __ATOMIC_SEQ_CST);
	}
	d->stats.buffered_sent++;
	notify_dm(&s->chan->buf, &s->buf_port);
	return SEND_HANDLED;
}

/* Wait while the domain is paused (a paused domain's vCPUs do not run). */
static int wait_unpaused(struct sim_domain *d, struct sim_vcpu *v)
{
	int r = 0;

	/* Fast path for the common case, without the lock (every guest access comes here). */
	if (!flag(&d->paused) && !flag(&d->dying) && !flag(&d->crashed) && !flag(&d->shutdown) &&
	    !atomic_load(&v->abort))
		return 0;
	pthread_mutex_lock(&d->lock);
	while (d->paused && !d->dying && !d->crashed && !atomic_load(&v->abort)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	}
	if (d->dying || d->crashed || d->shutdown)
		r = -ESHUTDOWN;
	else if (atomic_load(&v->abort))
		r = -EINTR;
	pthread_mutex_unlock(&d->lock);
	return r;
}

int sim_ioreq_broadcast_invalidate(struct sim_domain *d, struct sim_vcpu *v)
{
	/* As ioreq_signal_mapcache_invalidate(): "flush all", count left 0. */
	ioreq_t p = {.type = IOREQ_TYPE_INVALIDATE, .size = 4, .dir = IOREQ_WRITE, .data = ~0ull};
	struct sim_server *sent[SIM_MAX_SERVERS];
	unsigned n = 0;
	int r = 0;

	r = sim_ioreq_finish_pending(d, v);
	if (r < 0)
		return r;
	pthread_mutex_lock(&d->lock);
	d->stats.invalidates++;
	/* ioreq_broadcast(&p, false): every enabled server gets it on this vCPU's slot. */
	for (int id = SIM_MAX_SERVERS - 1; id >= 0 && r == 0; id--) {
		struct sim_server *s = d->server[id];
		if (!s || !s->enabled)
			continue;
		r = send_locked(d, s, v, &p, true);
		if (r == 0) {
			atomic_fetch_add(&s->refs, 1);
			sent[n++] = s;
		} else if (r == -EIO) {
			r = 0; /* skipped, as Xen's "Unsuccessful map-cache invalidate" */
		}
	}
	pthread_mutex_unlock(&d->lock);
	/* Then the vCPU waits for every one of them. */
	for (unsigned i = 0; i < n; i++) {
		uint64_t data;
		int w = r < 0 ? 0 : wait_for_io(d, v, sent[i], &data);
		if (w < 0 && r == 0)
			r = w;
		sim_server_put(sent[i]);
	}
	return r == -EINTR ? -ESHUTDOWN : r;
}

/* The 0xcf8 port handler Xen registers: latch 4-byte writes, never claim the access. */
static void access_cf8(struct sim_domain *d, unsigned type, unsigned dir, uint64_t addr,
                       unsigned size, uint64_t data)
{
	if (type == IOREQ_TYPE_PIO && addr >= 0xcf8 && addr + size <= 0xcfc && dir == IOREQ_WRITE &&
	    size == 4)
		d->pci_cf8 = (uint32_t)data;
}

static bool stdvga_accepts(const struct sim_domain *d, const ioreq_t *p)
{
	uint64_t first, last;

	if (!(d->flags & SIM_DOMAIN_F_STDVGA) || p->type != IOREQ_TYPE_COPY)
		return false;
	mmio_span(p, &first, &last);
	return first >= SIM_VGA_BASE && last < SIM_VGA_BASE + SIM_VGA_SIZE &&
	       p->dir == IOREQ_WRITE && !p->data_is_ptr && p->count == 1;
}

int sim_ioreq_access(struct sim_domain *d, struct sim_vcpu *v, unsigned type, unsigned dir,
                     uint64_t addr, unsigned size, uint64_t *data)
{
	ioreq_t p = {.type = (uint8_t)type,
	             .addr = addr,
	             .size = size,
	             .count = 1,
	             .dir = (uint8_t)dir,
	             .data = dir == IOREQ_WRITE ? (*data & size_mask(size)) : 0};
	struct sim_server *s;
	int r;

	if ((type != IOREQ_TYPE_PIO && type != IOREQ_TYPE_COPY) || dir > 1 || !size || size > 8 ||
	    (size & (size - 1)) || (type == IOREQ_TYPE_PIO && size > 4))
		return -EINVAL;
	r = wait_unpaused(d, v);
	if (r < 0)
		return r;
	r = sim_ioreq_finish_pending(d, v);
	if (r < 0)
		return r;
	if (atomic_exchange(&v->invalidate, false)) {
		r = sim_ioreq_broadcast_invalidate(d, v);
		if (r < 0)
			return r;
	}

	pthread_mutex_lock(&d->lock);
	if (d->crashed || d->dying || d->shutdown) {
		pthread_mutex_unlock(&d->lock);
		return -ESHUTDOWN;
	}
	access_cf8(d, type, dir, addr, size, p.data);
	if (stdvga_accepts(d, &p)) {
		ioreq_t q = p;
		s = select_locked(d, &q);
		if (s && sim_ioreq_send_buffered_locked(d, s, &q) == SEND_HANDLED) {
			pthread_mutex_unlock(&d->lock);
			return 0;
		}
	}
	s = select_locked(d, &p);
	if (!s) {
		/* null_handler: reads all ones, writes dropped, no device model involved. */
		if (dir == IOREQ_READ) {
			d->stats.unclaimed_reads++;
			*data = size_mask(size);
		} else {
			d->stats.unclaimed_writes++;
		}
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	r = send_locked(d, s, v, &p, false);
	if (r == 0)
		atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&d->lock);
	if (r < 0)
		return r;

	{
		uint64_t val;
		r = wait_answer(d, v, s, &val);
		sim_server_put(s);
		if (r == 0 && dir == IOREQ_READ)
			*data = val & size_mask(size);
	}
	return r;
}
