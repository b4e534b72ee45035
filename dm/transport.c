/* SPDX-License-Identifier: MIT */
/*
 * Waiting on and signalling a device model's ports: the simulator's eventfd
 * pairs (ipc/simchan.h), or a Xen /dev/xen/evtchn fd the broker bound and
 * restricted.  Both wait in one epoll set together with the broker channel.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/types.h>
#include <xen/xen.h>
#include <xen/sys/evtchn.h>

#include "common/util.h"
#include "dm/dmb-internal.h"
#include "ipc/simchan.h"

struct tr_sim {
	struct simchan_page *chan;
	unsigned nr;
	int to_dm[SIMCHAN_MAX_VCPUS + 1];
	int to_sim[SIMCHAN_MAX_VCPUS];
};

struct tr_xen {
	int evtchn_fd;
	unsigned nr;
	uint32_t port[DMP_MAX_VCPUS];
};

static int epoll_add(int epfd, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = {.events = events, .data.u64 = tag};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int epoll_setup(struct dmb *d)
{
	d->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epoll_fd < 0)
		return -errno;
	return epoll_add(d->epoll_fd, d->fd, EPOLLIN, DMB_WAKE_CHANNEL);
}

static int wait_epoll(struct dmb *d, int timeout_ms, int (*on_ports)(struct dmb *d))
{
	struct epoll_event ev[8];
	int n = epoll_wait(d->epoll_fd, ev, ARRAY_SIZE(ev), timeout_ms);
	int bits = 0;

	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++)
		bits |= (int)ev[i].data.u64;
	if ((bits & DMB_WAKE_PORTS) && on_ports) {
		int r = on_ports(d);
		if (r < 0)
			return r;
	}
	return bits;
}

/* ---- simulator ----------------------------------------------------------- */

static int sim_wait(struct dmb *d, int timeout_ms)
{
	/* Port eventfds are edge-triggered: nothing to drain, the slots say what is pending. */
	return wait_epoll(d, timeout_ms, NULL);
}

static void sim_notify(struct dmb *d, unsigned vcpu)
{
	struct tr_sim *t = d->tr_priv;

	/* Dekker with the vCPU's spin: state is published, now look at its flag. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&t->chan->vcpu[vcpu].sim_polling, __ATOMIC_RELAXED))
		(void)eventfd_write(t->to_sim[vcpu], 1);
}

static void sim_polling(struct dmb *d, bool on)
{
	struct tr_sim *t = d->tr_priv;

	for (unsigned v = 0; v < t->nr; v++)
		__atomic_store_n(&t->chan->vcpu[v].dm_polling, on, __ATOMIC_SEQ_CST);
	__atomic_store_n(&t->chan->buf.dm_polling, on, __ATOMIC_SEQ_CST);
}

static void sim_close(struct dmb *d)
{
	struct tr_sim *t = d->tr_priv;

	if (!t)
		return;
	for (unsigned v = 0; v < t->nr; v++) {
		util_close(t->to_dm[v]);
		util_close(t->to_sim[v]);
	}
	util_close(t->to_dm[t->nr]);
	if (t->chan)
		munmap(t->chan, IOREQ_PAGE_SIZE);
	free(t);
	d->tr_priv = NULL;
}

static const struct dmb_transport tr_sim_ops = {
        .wait = sim_wait,
        .notify = sim_notify,
        .polling = sim_polling,
        .close = sim_close,
};

int dmb_transport_sim(struct dmb *d, struct frame *f, const struct dmp_ports *msg)
{
	unsigned nr = msg->nr_vcpus, want = 1 + 2 * nr + (msg->has_buf ? 1 : 0);
	struct tr_sim *t;
	struct stat st;
	void *chan;
	int r;

	if (nr > SIMCHAN_MAX_VCPUS || f->nfds != want)
		return -EPROTO;
	/* A channel page shorter than a page would SIGBUS us on the first notify. */
	if (fstat(f->fds[0], &st) < 0)
		return -errno;
	if (st.st_size < (off_t)IOREQ_PAGE_SIZE)
		return -EPROTO;
	chan = mmap(NULL, IOREQ_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->fds[0], 0);
	if (chan == MAP_FAILED)
		return -errno;
	t = calloc(1, sizeof(*t));
	if (!t) {
		munmap(chan, IOREQ_PAGE_SIZE);
		return -ENOMEM;
	}
	t->chan = chan;
	t->nr = nr;
	for (unsigned v = 0; v < nr; v++) {
		t->to_dm[v] = frame_take_fd(f, 1 + 2 * v);
		t->to_sim[v] = frame_take_fd(f, 2 + 2 * v);
	}
	t->to_dm[nr] = msg->has_buf ? frame_take_fd(f, 1 + 2 * nr) : -1;
	d->tr = &tr_sim_ops;
	d->tr_priv = t;
	r = epoll_setup(d);
	for (unsigned v = 0; r == 0 && v <= nr; v++)
		if (t->to_dm[v] >= 0)
			r = epoll_add(d->epoll_fd, t->to_dm[v], EPOLLIN | EPOLLET, DMB_WAKE_PORTS);
	return r;
}

/* ---- Xen ----------------------------------------------------------------- */

/* Read the pending ports and unmask them (the evtchn device masks a port when it fires). */
static int xen_on_ports(struct dmb *d)
{
	struct tr_xen *t = d->tr_priv;
	uint32_t pend[64];
	ssize_t n;

	for (;;) {
		n = read(t->evtchn_fd, pend, sizeof(pend));
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		if (n == 0)
			return 0;
		if (write(t->evtchn_fd, pend, (size_t)n) < 0)
			return -errno;
		if ((size_t)n < sizeof(pend))
			return 0;
	}
}

static int xen_wait(struct dmb *d, int timeout_ms)
{
	return wait_epoll(d, timeout_ms, xen_on_ports);
}

static void xen_notify(struct dmb *d, unsigned vcpu)
{
	struct tr_xen *t = d->tr_priv;
	struct ioctl_evtchn_notify n = {.port = t->port[vcpu]};

	(void)ioctl(t->evtchn_fd, IOCTL_EVTCHN_NOTIFY, &n);
}

static void xen_polling(struct dmb *d, bool on)
{
	(void)d, (void)on; /* Xen always sends the event; nothing to tell it */
}

static void xen_close(struct dmb *d)
{
	struct tr_xen *t = d->tr_priv;

	if (!t)
		return;
	util_close(t->evtchn_fd);
	free(t);
	d->tr_priv = NULL;
}

static const struct dmb_transport tr_xen_ops = {
        .wait = xen_wait,
        .notify = xen_notify,
        .polling = xen_polling,
        .close = xen_close,
};

int dmb_transport_evtchn(struct dmb *d, struct frame *f, const struct dmp_ports *msg)
{
	struct tr_xen *t;
	int r;

	if (f->nfds != 1 || msg->nr_vcpus > DMP_MAX_VCPUS)
		return -EPROTO;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	/* At the fixed number a restarted broker takes it back from (ipc/dmproto.h). */
	t->evtchn_fd = dmb_place_fd(frame_take_fd(f, 0), DMP_KEEP_EVTCHN_FD);
	t->nr = msg->nr_vcpus;
	memcpy(t->port, msg->port, t->nr * sizeof(uint32_t));
	d->tr = &tr_xen_ops;
	d->tr_priv = t;
	d->xen = true;
	r = util_set_nonblock(t->evtchn_fd, true);
	if (r == 0)
		r = epoll_setup(d);
	if (r == 0)
		r = epoll_add(d->epoll_fd, t->evtchn_fd, EPOLLIN, DMB_WAKE_PORTS);
	/* A predecessor may have died with ports masked: unmask them all now. */
	if (r == 0 && write(t->evtchn_fd, t->port, t->nr * sizeof(uint32_t)) < 0)
		r = -errno;
	if (r == 0 && msg->has_buf &&
	    write(t->evtchn_fd, &msg->buf_port, sizeof(msg->buf_port)) < 0)
		r = -errno;
	return r;
}
