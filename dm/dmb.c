/* SPDX-License-Identifier: MIT */
/*
 * libdmb: the handoff from the broker, the ioreq loop, and DM-op requests.
 *
 * The loop serves every vCPU slot found READY, after draining the buffered
 * ring (writes Xen buffered before a synchronous request must land first).
 * It scans all slots on every wake-up instead of trusting which port fired,
 * so a notification lost across a restart cannot strand a vCPU.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdint.h>
#include <xen/hvm/hvm_op.h>

#include "common/log.h"
#include "common/util.h"
#include "dm/dmb-internal.h"

/*
 * Logging must never stall the guest: while no broker reads our log pipes
 * (a broker restart) or a slow one falls behind, a full pipe drops the line
 * instead of blocking the thread that serves the vCPUs.  A line is shorter
 * than PIPE_BUF, so it is written whole or not at all.  Only pipes: a
 * terminal or a file (a device model run by hand) keeps blocking writes.
 */
static void log_pipes_nonblocking(void)
{
	for (int fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++) {
		struct stat st;
		int fl;

		if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && (fl = fcntl(fd, F_GETFL)) >= 0)
			(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	}
}

#define HANDOFF_TIMEOUT_MS 10000
#define DMOP_TIMEOUT_MS    5000
#define INVALID_LOG_NS     (1000ull * 1000 * 1000) /* at most one log line a second */

/* ---- the broker channel ----------------------------------------------- */

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int r;

	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

/* Receive the next frame, which must be of this type, size and fd count. */
static int recv_expect(struct dmb *d, uint16_t type, void *payload, size_t len, unsigned nfds)
{
	int r = wait_readable(d->fd, HANDOFF_TIMEOUT_MS);

	if (r < 0)
		return r;
	r = frame_recv(d->fd, d->frame, sizeof(d->frame->payload), FRAME_MAX_FDS);
	if (r < 0)
		return r;
	if (d->frame->hdr.type != type || frame_get(d->frame, payload, len) < 0 ||
	    (nfds != UINT32_MAX && frame_expect_fds(d->frame, nfds) < 0)) {
		frame_release(d->frame);
		return -EPROTO;
	}
	return 0;
}

static int send_stats(struct dmb *d, uint32_t id)
{
	return frame_send(d->fd, DMP_STATS, id, &d->stats, sizeof(d->stats), NULL, 0);
}

/*
 * One message from the broker outside a DM-op call.  Returns 0, or
 * -EPROTO for anything the broker may not send now.
 */
static int handle_channel_msg(struct dmb *d)
{
	struct frame *f = d->frame;
	int r = frame_recv(d->fd, f, sizeof(f->payload), 0);

	if (r == -EAGAIN)
		return 0;
	if (r == -ECONNRESET) {
		/* The broker went away; keep serving the guest until it comes back. */
		if (!d->broker_gone)
			log_warn("broker channel closed; serving on without it");
		d->broker_gone = true;
		/* A closed socket stays readable: stop waiting on it, or the loop would spin. */
		(void)epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, d->fd, NULL);
		return 0;
	}
	if (r < 0)
		return r;
	switch (f->hdr.type) {
	case DMP_STATS_REQ:
		return f->hdr.len ? -EPROTO : send_stats(d, f->hdr.id);
	case DMP_SHUTDOWN:
		d->shutdown = true;
		return 0;
	case DMP_DMOP_REPLY:
		/* The answer to a request we stopped waiting for (a broker restart). */
		if (f->hdr.len != sizeof(struct dmp_dmop_reply) || f->hdr.id == 0 ||
		    f->hdr.id > d->next_id)
			return -EPROTO;
		return 0;
	default:
		return -EPROTO;
	}
}

static int dmop_call(struct dmb *d, const struct dmp_dmop *op)
{
	uint32_t id = ++d->next_id;
	struct dmp_dmop_reply rep;
	int r;

	if (d->broker_gone)
		return -ENOTCONN;
	r = frame_send(d->fd, DMP_DMOP, id, op, sizeof(*op), NULL, 0);
	if (r < 0)
		return r;
	d->stats.dmops++;
	for (;;) {
		r = wait_readable(d->fd, DMOP_TIMEOUT_MS);
		if (r < 0)
			return r;
		r = frame_recv(d->fd, d->frame, sizeof(d->frame->payload), 0);
		if (r == -EAGAIN)
			continue;
		if (r < 0)
			return r == -ECONNRESET ? -ENOTCONN : r;
		if (d->frame->hdr.type != DMP_DMOP_REPLY) {
			/* Stats or shutdown may cross our request; nothing else may. */
			if (d->frame->hdr.type == DMP_STATS_REQ)
				(void)send_stats(d, d->frame->hdr.id);
			else if (d->frame->hdr.type == DMP_SHUTDOWN)
				d->shutdown = true;
			else
				return -EPROTO;
			continue;
		}
		if (d->frame->hdr.id < id)
			continue; /* stale: answers a request that timed out earlier */
		if (d->frame->hdr.id != id || frame_get(d->frame, &rep, sizeof(rep)) < 0)
			return -EPROTO;
		return rep.result > 0 ? -EPROTO : rep.result;
	}
}

/* ---- the handoff -------------------------------------------------------- */

static int recv_hello(struct dmb *d)
{
	int r = recv_expect(d, DMP_HELLO, &d->hello, sizeof(d->hello), 0);

	if (r < 0)
		return r;
	if (!memchr(d->hello.name, '\0', sizeof(d->hello.name)) || d->hello.nr_vcpus == 0 ||
	    d->hello.nr_vcpus > DMP_MAX_VCPUS || d->hello.bufioreq > HVM_IOREQSRV_BUFIOREQ_ATOMIC)
		return -EPROTO;
	memcpy(d->name, d->hello.name, sizeof(d->name));
	return 0;
}

static int recv_claims(struct dmb *d)
{
	struct dmp_claims *msg = malloc(sizeof(*msg));
	int r = msg ? 0 : -ENOMEM;

	for (unsigned kind = 0; r == 0 && kind < DMP_CLAIM_KINDS; kind++) {
		r = recv_expect(d, DMP_CLAIMS, msg, sizeof(*msg), 0);
		if (r == 0 && msg->kind != kind)
			r = -EPROTO;
		if (r == 0 && dmb_claims_set(&d->claims, msg) < 0)
			r = -EPROTO;
	}
	free(msg);
	return r;
}

static int recv_pages(struct dmb *d)
{
	struct dmp_pages msg;
	int r = recv_expect(d, DMP_PAGES, &msg, sizeof(msg), UINT32_MAX);

	if (r < 0)
		return r;
	if (msg.domid != d->hello.domid || msg.server_id != d->hello.server_id)
		r = -EPROTO;
	else if (msg.kind == DMP_PAGES_MEMFD)
		r = dmb_pages_map_memfd(d, d->frame, &msg);
	else if (msg.kind == DMP_PAGES_PRIVCMD)
		r = dmb_pages_map_privcmd(d, d->frame, &msg);
	else
		r = -EPROTO;
	frame_release(d->frame);
	return r;
}

int dmb_open(const struct dmb_config *cfg, struct dmb **ret)
{
	struct dmb *d;
	int r;

	if (!cfg || !cfg->ops)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->frame = malloc(sizeof(*d->frame));
	if (!d->frame) {
		free(d);
		return -ENOMEM;
	}
	d->frame->nfds = 0;
	/* Our stdout/stderr are the broker's pipes; outliving the broker must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	log_pipes_nonblocking();
	d->ops = cfg->ops;
	d->profile = cfg->profile;
	d->no_lockdown = cfg->no_lockdown;
	d->opaque = cfg->opaque;
	d->fd = cfg->fd >= 0 ? cfg->fd : DMB_FD_DEFAULT;
	d->epoll_fd = -1;
	r = recv_hello(d);
	if (r == 0)
		r = recv_claims(d);
	if (r == 0)
		r = recv_pages(d);
	if (r < 0) {
		log_errno(r, "handoff from the broker on fd %d", d->fd);
		dmb_close(d);
		return r;
	}
	d->poll_us = (d->hello.flags & DMP_HELLO_POLL) ? d->hello.poll_us : 0;
	if (cfg->poll_us >= 0)
		d->poll_us = (uint32_t)cfg->poll_us;
	log_set_prefix(NULL);
	*ret = d;
	return 0;
}

void dmb_close(struct dmb *d)
{
	if (!d)
		return;
	if (d->tr)
		d->tr->close(d);
	dmb_pages_unmap(d);
	util_close(d->epoll_fd);
	if (d->frame)
		frame_release(d->frame);
	free(d->frame);
	free(d);
}

uint32_t dmb_domid(const struct dmb *d)
{
	return d->hello.domid;
}

unsigned dmb_nr_vcpus(const struct dmb *d)
{
	return d->hello.nr_vcpus;
}

const char *dmb_name(const struct dmb *d)
{
	return d->name;
}

/* ---- serving requests -------------------------------------------------- */

static void log_invalid(struct dmb *d, const char *what, const char *why)
{
	uint64_t now = util_now_ns();

	d->stats.invalid++;
	if (now - d->invalid_logged_ns < INVALID_LOG_NS)
		return;
	d->invalid_logged_ns = now;
	log_warn("rejected %s request: %s (%llu so far)", what, why,
	         (unsigned long long)d->stats.invalid);
}

/* Call the device; returns the value of a read (all ones where nothing answers). */
static uint64_t dispatch(struct dmb *d, const struct dmb_req *r)
{
	const struct dmb_ops *o = d->ops;
	bool rd = r->dir == IOREQ_READ;

	switch (r->type) {
	case IOREQ_TYPE_PIO:
		d->stats.served[0]++;
		if (rd)
			return o->pio_read ? o->pio_read(d->opaque, (uint16_t)r->addr, r->size)
			                   : ~0ull;
		if (o->pio_write)
			o->pio_write(d->opaque, (uint16_t)r->addr, r->size, r->data);
		return 0;
	case IOREQ_TYPE_COPY:
		d->stats.served[1]++;
		if (rd)
			return o->mmio_read ? o->mmio_read(d->opaque, r->addr, r->size) : ~0ull;
		if (o->mmio_write)
			o->mmio_write(d->opaque, r->addr, r->size, r->data);
		return 0;
	case IOREQ_TYPE_PCI_CONFIG:
		d->stats.served[2]++;
		if (rd)
			return o->pci_read
			               ? o->pci_read(d->opaque, r->sbdf, (unsigned)r->addr, r->size)
			               : ~0ull;
		if (o->pci_write)
			o->pci_write(d->opaque, r->sbdf, (unsigned)r->addr, r->size, r->data);
		return 0;
	case IOREQ_TYPE_INVALIDATE:
		d->stats.served[3]++;
		if (o->invalidate)
			o->invalidate(d->opaque);
		return 0;
	case IOREQ_TYPE_TIMEOFFSET:
		d->stats.served[3]++;
		if (o->timeoffset)
			o->timeoffset(d->opaque, (int64_t)r->data);
		return 0;
	}
	return ~0ull;
}

/*
 * Consume the buffered ring.  Xen may rebase both pointers at any time in
 * ATOMIC mode, so read_pointer only ever moves by an atomic add.
 */
static void drain_buffered(struct dmb *d)
{
	buffered_iopage_t *pg = d->buf;

	if (!pg)
		return;
	for (;;) {
		uint32_t rp = __atomic_load_n(&pg->read_pointer, __ATOMIC_ACQUIRE);
		uint32_t wp = __atomic_load_n(&pg->write_pointer, __ATOMIC_ACQUIRE);
		buf_ioreq_t b0, b1;
		struct dmb_req req;
		const char *why;
		unsigned used;

		if (rp == wp)
			return;
		if (wp - rp > IOREQ_BUFFER_SLOT_NUM) {
			/* Pointers Xen would never produce: skip to the writer. */
			log_invalid(d, "buffered", "ring pointers out of range");
			__atomic_fetch_add(&pg->read_pointer, wp - rp, __ATOMIC_RELEASE);
			return;
		}
		memcpy(&b0, &pg->buf_ioreq[rp % IOREQ_BUFFER_SLOT_NUM], sizeof(b0));
		used = b0.size == 3 ? 2 : 1;
		if (used == 2 && wp - rp < 2)
			return; /* the second half is not published yet */
		memcpy(&b1, &pg->buf_ioreq[(rp + 1) % IOREQ_BUFFER_SLOT_NUM], sizeof(b1));
		if (dmb_req_decode_buffered(&d->claims, &b0, used == 2 ? &b1 : NULL, &req, &why) ==
		    0) {
			d->stats.buffered++;
			(void)dispatch(d, &req);
		} else {
			log_invalid(d, "buffered", why);
		}
		__atomic_fetch_add(&pg->read_pointer, used, __ATOMIC_RELEASE);
	}
}

/* Serve vCPU v's slot if a request is waiting; returns true if it did. */
static bool serve_slot(struct dmb *d, unsigned v)
{
	ioreq_t *slot = &d->ioreq->vcpu_ioreq[v];
	ioreq_t copy;
	struct dmb_req req;
	const char *why;
	uint64_t val = ~0ull;

	if (ioreq_load_state(slot) != STATE_IOREQ_READY)
		return false;
	/* Copy once (the acquire above orders it), then only the copy is used. */
	memcpy(&copy, slot, sizeof(copy));
	ioreq_store_state(slot, STATE_IOREQ_INPROCESS);
	drain_buffered(d);
	if (dmb_req_decode(&d->claims, &copy, &req, &why) == 0)
		val = dispatch(d, &req);
	else
		log_invalid(d, ioreq_type_name(copy.type), why);
	if (copy.dir == IOREQ_READ && !copy.data_is_ptr)
		__atomic_store_n(&slot->data, val, __ATOMIC_RELAXED);
	/* Data before state (release), then wake the vCPU. */
	ioreq_store_state(slot, STATE_IORESP_READY);
	d->tr->notify(d, v);
	return true;
}

static unsigned serve_all(struct dmb *d)
{
	unsigned n = 0;

	drain_buffered(d);
	for (unsigned v = 0; v < d->hello.nr_vcpus; v++)
		n += serve_slot(d, v);
	return n;
}

static bool any_pending(struct dmb *d)
{
	if (d->buf && __atomic_load_n(&d->buf->write_pointer, __ATOMIC_ACQUIRE) !=
	                      __atomic_load_n(&d->buf->read_pointer, __ATOMIC_RELAXED))
		return true;
	for (unsigned v = 0; v < d->hello.nr_vcpus; v++)
		if (ioreq_load_state(&d->ioreq->vcpu_ioreq[v]) == STATE_IOREQ_READY)
			return true;
	return false;
}

/* Adaptive polling: spin on the slots for poll_us before blocking. */
static bool spin(struct dmb *d)
{
	uint64_t deadline = util_now_ns() + (uint64_t)d->poll_us * 1000;
	bool found = false;
	unsigned i = 0;

	d->tr->polling(d, true);
	while (!(found = any_pending(d))) {
		__builtin_ia32_pause();
		if ((++i & 63) == 0 && util_now_ns() >= deadline)
			break;
	}
	d->tr->polling(d, false);
	/* The notifier checks our flag after publishing; re-check after clearing it. */
	return found || any_pending(d);
}

/*
 * Put fd at exactly target (which must be free), keeping it close-on-exec.
 * Returns target, or fd unchanged where target is taken (then a restarted
 * broker cannot find it there: it restarts this device model instead).
 */
int dmb_place_fd(int fd, int target)
{
	int tmp;

	if (fd == target)
		return fd;
	if (fcntl(target, F_GETFD) >= 0 || errno != EBADF)
		return fd;
	tmp = dup3(fd, target, O_CLOEXEC);
	if (tmp < 0)
		return fd;
	close(fd);
	return target;
}

/* DMP_KEEP: hold the broker's ends at the fixed numbers its successor looks at. */
static int keep_fds(struct dmb *d, struct frame *f)
{
	static const int targets[] = {DMP_KEEP_CHANNEL_FD, DMP_KEEP_STDOUT_FD, DMP_KEEP_STDERR_FD};
	struct dmp_keep msg;
	int fds[3];

	if (frame_get(f, &msg, sizeof(msg)) < 0 || msg.nfds != 3 || frame_expect_fds(f, 3) < 0 ||
	    d->kept)
		return -EPROTO;
	/* Move them all clear of 4-6 first: one of them may sit on another's target. */
	for (unsigned i = 0; i < 3; i++) {
		fds[i] = fcntl(f->fds[i], F_DUPFD_CLOEXEC, DMP_KEEP_EVTCHN_FD + 1);
		if (fds[i] < 0) {
			while (i-- > 0)
				close(fds[i]);
			return -errno;
		}
	}
	frame_release(f);
	for (unsigned i = 0; i < 3; i++)
		(void)dmb_place_fd(fds[i], targets[i]);
	d->kept = true;
	return 0;
}

static int receive_ports(struct dmb *d)
{
	struct dmp_ports msg;
	int r;

	for (;;) {
		r = wait_readable(d->fd, -1);
		if (r < 0)
			return r;
		r = frame_recv(d->fd, d->frame, sizeof(d->frame->payload), FRAME_MAX_FDS);
		if (r < 0)
			return r;
		if (d->frame->hdr.type == DMP_SHUTDOWN && d->frame->nfds == 0) {
			d->shutdown = true;
			return 0;
		}
		if (d->frame->hdr.type == DMP_STATS_REQ && d->frame->nfds == 0) {
			(void)send_stats(d, d->frame->hdr.id);
			continue;
		}
		if (d->frame->hdr.type == DMP_KEEP) {
			r = keep_fds(d, d->frame);
			frame_release(d->frame);
			if (r < 0)
				return r;
			continue;
		}
		break;
	}
	if (d->frame->hdr.type != DMP_PORTS || frame_get(d->frame, &msg, sizeof(msg)) < 0 ||
	    msg.nr_vcpus != d->hello.nr_vcpus || (msg.has_buf != 0) != (d->buf != NULL))
		r = -EPROTO;
	else if (msg.kind == DMP_PORTS_SIM)
		r = dmb_transport_sim(d, d->frame, &msg);
	else if (msg.kind == DMP_PORTS_EVTCHN)
		r = dmb_transport_evtchn(d, d->frame, &msg);
	else
		r = -EPROTO;
	frame_release(d->frame);
	return r;
}

int dmb_run(struct dmb *d)
{
	int r;

	r = frame_send(d->fd, DMP_READY, 0, NULL, 0, NULL, 0);
	if (r < 0)
		return log_errno(r, "report ready");
	r = receive_ports(d);
	if (r < 0)
		return log_errno(r, "receive the event channel");
	if (!d->shutdown && !d->no_lockdown) {
		r = dmb_lockdown(d, d->profile, d->xen, d->hello.flags & DMP_HELLO_SECCOMP_LOG);
		if (r < 0)
			return r;
	}
	while (!d->shutdown) {
		int ev;

		if (serve_all(d))
			continue;
		if (d->poll_us && spin(d))
			continue;
		ev = d->tr->wait(d, -1);
		if (ev < 0 && ev != -EINTR)
			return log_errno(ev, "wait for events");
		if (ev > 0 && (ev & DMB_WAKE_CHANNEL) && !d->broker_gone) {
			r = handle_channel_msg(d);
			if (r < 0)
				return log_errno(r, "broker channel");
		}
	}
	return 0;
}

/* ---- DM ops ---------------------------------------------------------- */

int dmb_set_isa_irq(struct dmb *d, uint8_t irq, bool level)
{
	struct dmp_dmop op = {.op = DMP_DMOP_ISA_IRQ};

	op.u.isa_irq.irq = irq;
	op.u.isa_irq.level = level;
	return dmop_call(d, &op);
}

int dmb_set_pci_intx(struct dmb *d, uint32_t sbdf, uint8_t pin, bool level)
{
	struct dmp_dmop op = {.op = DMP_DMOP_PCI_INTX};

	op.u.pci_intx.sbdf = sbdf;
	op.u.pci_intx.pin = pin;
	op.u.pci_intx.level = level;
	return dmop_call(d, &op);
}

int dmb_inject_msi(struct dmb *d, uint64_t addr, uint32_t data)
{
	struct dmp_dmop op = {.op = DMP_DMOP_MSI};

	op.u.msi.addr = addr;
	op.u.msi.data = data;
	return dmop_call(d, &op);
}

int dmb_move_bar(struct dmb *d, uint32_t sbdf, unsigned bar, uint64_t old_base, uint64_t new_base,
                 uint64_t size)
{
	struct dmp_dmop op = {.op = DMP_DMOP_BAR_MOVE};
	int r;

	op.u.bar.sbdf = sbdf;
	op.u.bar.bar = bar;
	op.u.bar.old_base = old_base;
	op.u.bar.new_base = new_base;
	op.u.bar.size = size;
	r = dmop_call(d, &op);
	if (r == 0)
		r = dmb_claims_move(&d->claims, old_base, new_base, size);
	return r;
}

int dmb_parse_bdf(const char *s, uint32_t *ret)
{
	unsigned seg = 0, bus, dev, fn;
	int n = 0;

	if (sscanf(s, "%4x:%2x:%2x.%1x%n", &seg, &bus, &dev, &fn, &n) == 4 && !s[n])
		goto ok;
	seg = 0;
	n = 0;
	if (sscanf(s, "%2x:%2x.%1x%n", &bus, &dev, &fn, &n) == 3 && !s[n])
		goto ok;
	return -EINVAL;
ok:
	if (dev > 0x1f || fn > 7 || strchr(s, '-') || strchr(s, '+') || strchr(s, ' '))
		return -EINVAL;
	*ret = IOREQ_SBDF(seg, bus, dev, fn);
	return 0;
}
