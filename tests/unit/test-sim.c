/* SPDX-License-Identifier: MIT */
/*
 * The simulated Xen 4.17 ioreq machinery (sim/), used in-process: one test
 * (or a few) per rule listed in sim/sim.h.  Device models are "raw": a
 * thread per server that speaks the ioreq page protocol directly, records
 * every request it sees, and can be told to misbehave.
 */
#include "tests/test.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xen/hvm/dm_op.h>
#include <xen/hvm/hvm_op.h>

#include "common/util.h"
#include "ipc/ioreq.h"
#include "sim/rangeset.h"
#include "sim/sim.h"

#define PORT XEN_DMOP_IO_RANGE_PORT
#define MMIO XEN_DMOP_IO_RANGE_MEMORY
#define PCI  XEN_DMOP_IO_RANGE_PCI

#define BUF_OFF    HVM_IOREQSRV_BUFIOREQ_OFF
#define BUF_LEGACY HVM_IOREQSRV_BUFIOREQ_LEGACY
#define BUF_ATOMIC HVM_IOREQSRV_BUFIOREQ_ATOMIC

#define NSEC_PER_MSEC 1000000ull

/* ---- the raw device model ------------------------------------------------ */

enum rawdm_mode {
	RAWDM_ANSWER,     /* READY -> INPROCESS -> IORESP_READY (after delay_ms) */
	RAWDM_NEVER,      /* take the request (INPROCESS), never answer */
	RAWDM_BACKWARDS,  /* INPROCESS, let the vCPU see it, then READY again */
	RAWDM_BAD_STATE,  /* write bad_state into the slot */
	RAWDM_WRITE_NONE, /* write NONE instead of an answer */
	RAWDM_IDLE,       /* ignore everything (after a one-shot misbehaviour) */
};

#define RAWDM_MAX_RECS 64

struct rawdm_rec {
	unsigned vcpu;
	unsigned type, dir, df, data_is_ptr;
	uint32_t size, count, vp_eport;
	uint64_t addr, data;
};

struct rawdm {
	struct sim_ports ports;
	ioreq_t *slots; /* the ioreq page, one slot per vCPU */
	buffered_iopage_t *buf;
	int stop_fd;
	pthread_t thread;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;
	enum rawdm_mode mode;
	uint64_t answer;
	unsigned delay_ms;
	unsigned bad_state;
	struct rawdm_rec rec[RAWDM_MAX_RECS];
	unsigned n_rec;
	unsigned signals[SIMCHAN_MAX_VCPUS]; /* to-DM notifications per vCPU port */
	unsigned buf_signals;
};

static int to_dm_fd(const struct rawdm *dm, unsigned v)
{
	return dm->ports.fds[1 + 2 * v];
}

static int to_sim_fd(const struct rawdm *dm, unsigned v)
{
	return dm->ports.fds[2 + 2 * v];
}

static ioreq_t *page_slot(void *page, unsigned v)
{
	return (ioreq_t *)page + v;
}

static void signal_sim(struct rawdm *dm, unsigned v)
{
	ASSERT_OK(eventfd_write(to_sim_fd(dm, v), 1));
}

/* Sleep up to ms, returning early (true) when the DM is being stopped. */
static bool dm_sleep(struct rawdm *dm, unsigned ms)
{
	struct pollfd p = {.fd = dm->stop_fd, .events = POLLIN};

	return poll(&p, 1, (int)ms) > 0;
}

/* Until the vCPU has consumed our wake-up (the eventfd counter is back to 0). */
static void wait_consumed(struct rawdm *dm, unsigned v)
{
	for (unsigned i = 0; i < 2000; i++) {
		struct pollfd p = {.fd = to_sim_fd(dm, v), .events = POLLIN};
		if (poll(&p, 1, 0) == 0)
			return;
		if (dm_sleep(dm, 1))
			return;
	}
}

static void rawdm_handle(struct rawdm *dm, unsigned v)
{
	ioreq_t *slot = page_slot(dm->slots, v);
	struct rawdm_rec r;
	enum rawdm_mode mode;
	uint64_t answer;
	unsigned delay, bad;
	ioreq_t copy;

	pthread_mutex_lock(&dm->lock);
	mode = dm->mode;
	answer = dm->answer;
	delay = dm->delay_ms;
	bad = dm->bad_state;
	pthread_mutex_unlock(&dm->lock);
	if (mode == RAWDM_IDLE || ioreq_load_state(slot) != STATE_IOREQ_READY)
		return;
	/* Copy (after the acquire load of READY), then use the copy only. */
	memcpy(&copy, slot, sizeof(copy));
	r = (struct rawdm_rec){.vcpu = v,
	                       .type = copy.type,
	                       .dir = copy.dir,
	                       .df = copy.df,
	                       .data_is_ptr = copy.data_is_ptr,
	                       .size = copy.size,
	                       .count = copy.count,
	                       .vp_eport = copy.vp_eport,
	                       .addr = copy.addr,
	                       .data = copy.data};
	/* Take it before recording it: a test that saw the record sees INPROCESS. */
	if (mode == RAWDM_ANSWER || mode == RAWDM_NEVER || mode == RAWDM_BACKWARDS)
		ioreq_store_state(slot, STATE_IOREQ_INPROCESS);
	pthread_mutex_lock(&dm->lock);
	if (dm->n_rec < RAWDM_MAX_RECS)
		dm->rec[dm->n_rec++] = r;
	pthread_cond_broadcast(&dm->cond);
	pthread_mutex_unlock(&dm->lock);

	switch (mode) {
	case RAWDM_ANSWER:
		if (delay && dm_sleep(dm, delay))
			return;
		if (copy.dir == IOREQ_READ)
			__atomic_store_n(&slot->data, answer, __ATOMIC_RELAXED);
		ioreq_store_state(slot, STATE_IORESP_READY);
		signal_sim(dm, v);
		break;
	case RAWDM_NEVER:
		break;
	case RAWDM_BACKWARDS:
		signal_sim(dm, v);
		/* The vCPU must observe INPROCESS before the slot goes back to READY. */
		wait_consumed(dm, v);
		if (dm_sleep(dm, 100))
			return;
		ioreq_store_state(slot, STATE_IOREQ_READY);
		signal_sim(dm, v);
		pthread_mutex_lock(&dm->lock);
		dm->mode = RAWDM_IDLE; /* READY again: not a new request */
		pthread_mutex_unlock(&dm->lock);
		break;
	case RAWDM_BAD_STATE:
		ioreq_store_state(slot, bad);
		signal_sim(dm, v);
		break;
	case RAWDM_WRITE_NONE:
		ioreq_store_state(slot, STATE_IOREQ_NONE);
		signal_sim(dm, v);
		break;
	case RAWDM_IDLE:
		break;
	}
}

static void *rawdm_thread(void *arg)
{
	struct rawdm *dm = arg;
	unsigned nr = dm->ports.nr_vcpus;
	struct pollfd pfd[SIMCHAN_MAX_VCPUS + 2];

	for (;;) {
		unsigned n = 0;
		eventfd_t cnt;

		pfd[n++] = (struct pollfd){.fd = dm->stop_fd, .events = POLLIN};
		for (unsigned v = 0; v < nr; v++)
			pfd[n++] = (struct pollfd){.fd = to_dm_fd(dm, v), .events = POLLIN};
		if (dm->ports.has_buf)
			pfd[n++] =
			        (struct pollfd){.fd = dm->ports.fds[1 + 2 * nr], .events = POLLIN};
		if (poll(pfd, n, -1) < 0)
			continue;
		if (pfd[0].revents)
			break;
		for (unsigned v = 0; v < nr; v++) {
			if (!pfd[1 + v].revents || eventfd_read(to_dm_fd(dm, v), &cnt) < 0)
				continue;
			pthread_mutex_lock(&dm->lock);
			dm->signals[v]++;
			pthread_mutex_unlock(&dm->lock);
			rawdm_handle(dm, v);
		}
		if (dm->ports.has_buf && pfd[1 + nr].revents &&
		    eventfd_read(dm->ports.fds[1 + 2 * nr], &cnt) == 0) {
			pthread_mutex_lock(&dm->lock);
			dm->buf_signals += (unsigned)cnt;
			pthread_cond_broadcast(&dm->cond);
			pthread_mutex_unlock(&dm->lock);
		}
	}
	return NULL;
}

static void *map_page(int fd)
{
	void *p = mmap(NULL, IOREQ_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	return p;
}

/* Attach a raw DM to an enabled server. */
static void rawdm_start(struct rawdm *dm, struct sim *sim, uint32_t domid, uint16_t id,
                        uint64_t answer)
{
	int ioreq_fd, buf_fd;

	memset(dm, 0, sizeof(*dm));
	ASSERT_OK(sim_server_pages(sim, domid, id, &ioreq_fd, &buf_fd));
	dm->slots = map_page(ioreq_fd);
	close(ioreq_fd);
	if (buf_fd >= 0) {
		dm->buf = map_page(buf_fd);
		close(buf_fd);
	}
	ASSERT_OK(sim_server_ports(sim, domid, id, &dm->ports));
	ASSERT_EQ(dm->ports.nfds, 1 + 2 * dm->ports.nr_vcpus + (dm->ports.has_buf ? 1 : 0));
	dm->stop_fd = eventfd(0, EFD_CLOEXEC);
	ASSERT_TRUE(dm->stop_fd >= 0);
	dm->mode = RAWDM_ANSWER;
	dm->answer = answer;
	pthread_mutex_init(&dm->lock, NULL);
	pthread_cond_init(&dm->cond, NULL);
	ASSERT_EQ(pthread_create(&dm->thread, NULL, rawdm_thread, dm), 0);
}

static void rawdm_stop(struct rawdm *dm)
{
	ASSERT_OK(eventfd_write(dm->stop_fd, 1));
	ASSERT_EQ(pthread_join(dm->thread, NULL), 0);
	close(dm->stop_fd);
	for (unsigned i = 0; i < dm->ports.nfds; i++)
		close(dm->ports.fds[i]);
	munmap(dm->slots, IOREQ_PAGE_SIZE);
	if (dm->buf)
		munmap(dm->buf, IOREQ_PAGE_SIZE);
	pthread_mutex_destroy(&dm->lock);
	pthread_cond_destroy(&dm->cond);
}

static void rawdm_set(struct rawdm *dm, enum rawdm_mode mode, unsigned arg)
{
	pthread_mutex_lock(&dm->lock);
	dm->mode = mode;
	if (mode == RAWDM_ANSWER)
		dm->delay_ms = arg;
	else if (mode == RAWDM_BAD_STATE)
		dm->bad_state = arg;
	pthread_mutex_unlock(&dm->lock);
}

static unsigned rawdm_count(struct rawdm *dm)
{
	unsigned n;

	pthread_mutex_lock(&dm->lock);
	n = dm->n_rec;
	pthread_mutex_unlock(&dm->lock);
	return n;
}

static struct rawdm_rec rawdm_rec(struct rawdm *dm, unsigned i)
{
	struct rawdm_rec r;

	pthread_mutex_lock(&dm->lock);
	ASSERT_TRUE(i < dm->n_rec);
	r = dm->rec[i];
	pthread_mutex_unlock(&dm->lock);
	return r;
}

static struct rawdm_rec rawdm_last(struct rawdm *dm)
{
	unsigned n = rawdm_count(dm);

	ASSERT_GT(n, 0);
	return rawdm_rec(dm, n - 1);
}

static unsigned rawdm_signals(struct rawdm *dm, unsigned v)
{
	unsigned n;

	pthread_mutex_lock(&dm->lock);
	n = dm->signals[v];
	pthread_mutex_unlock(&dm->lock);
	return n;
}

/* Wait until *counter (under dm->lock) reaches n; false after ms. */
static bool rawdm_wait(struct rawdm *dm, const unsigned *counter, unsigned n, unsigned ms)
{
	uint64_t deadline = util_realtime_ns() + ms * NSEC_PER_MSEC;
	bool ok;

	pthread_mutex_lock(&dm->lock);
	while (*counter < n) {
		struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000ull),
		                      .tv_nsec = (long)(deadline % 1000000000ull)};
		if (pthread_cond_timedwait(&dm->cond, &dm->lock, &ts) != 0 &&
		    util_realtime_ns() >= deadline)
			break;
	}
	ok = *counter >= n;
	pthread_mutex_unlock(&dm->lock);
	return ok;
}

static void assert_rec(const struct rawdm_rec *r, unsigned type, unsigned dir, uint64_t addr,
                       unsigned size)
{
	ASSERT_EQ(r->type, type);
	ASSERT_EQ(r->dir, dir);
	ASSERT_EQ_U(r->addr, addr);
	ASSERT_EQ(r->size, size);
	ASSERT_EQ(r->count, 1);
	ASSERT_EQ(r->data_is_ptr, 0);
	ASSERT_EQ(r->df, 0);
}

/* ---- simulator helpers --------------------------------------------------- */

static struct sim *sim_start(void)
{
	struct sim *sim = NULL;

	ASSERT_OK(sim_new(NULL, NULL, &sim));
	return sim;
}

static uint32_t dom_new(struct sim *sim, const char *name, unsigned vcpus, uint32_t flags)
{
	uint32_t dom = 0;

	ASSERT_OK(sim_domain_create(sim, name, vcpus, flags, &dom));
	return dom;
}

/* Create a server claiming [s, e] of type, enabled. */
static uint16_t srv_new(struct sim *sim, uint32_t dom, unsigned bufioreq, unsigned type, uint64_t s,
                        uint64_t e)
{
	uint16_t id = 0xffff;

	ASSERT_OK(sim_server_create(sim, dom, bufioreq, &id));
	ASSERT_OK(sim_map_range(sim, dom, id, type, s, e, true));
	ASSERT_OK(sim_server_set_state(sim, dom, id, true));
	return id;
}

static uint64_t io_read(struct sim *sim, uint32_t dom, unsigned vcpu, unsigned type, uint64_t addr,
                        unsigned size)
{
	uint64_t data = 0x5a5a5a5a5a5a5a5aull; /* must be overwritten */

	ASSERT_OK(sim_vcpu_io(sim, dom, vcpu, type, IOREQ_READ, addr, size, &data));
	return data;
}

static void io_write(struct sim *sim, uint32_t dom, unsigned vcpu, unsigned type, uint64_t addr,
                     unsigned size, uint64_t val)
{
	ASSERT_OK(sim_vcpu_io(sim, dom, vcpu, type, IOREQ_WRITE, addr, size, &val));
}

static uint64_t pio_in(struct sim *sim, uint32_t dom, uint64_t port, unsigned size)
{
	return io_read(sim, dom, 0, IOREQ_TYPE_PIO, port, size);
}

static void pio_out(struct sim *sim, uint32_t dom, uint64_t port, unsigned size, uint64_t val)
{
	io_write(sim, dom, 0, IOREQ_TYPE_PIO, port, size, val);
}

static uint64_t ones(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

static struct sim_domain_stats dom_stats(struct sim *sim, uint32_t dom)
{
	struct sim_domain_stats st;

	ASSERT_OK(sim_domain_stats(sim, dom, &st));
	return st;
}

static bool dom_crashed(struct sim *sim, uint32_t dom)
{
	struct sim_domain_info info;

	ASSERT_OK(sim_domain_info(sim, dom, &info));
	return info.crashed;
}

/* A guest access played on another thread (for accesses that block). */
struct async_io {
	struct sim *sim;
	uint32_t dom;
	unsigned vcpu, type, dir, size;
	uint64_t addr, data;
	int r;
	atomic_bool done;
	uint64_t t_done;
	pthread_t thread;
};

static void *async_io_thread(void *arg)
{
	struct async_io *a = arg;

	a->r = sim_vcpu_io(a->sim, a->dom, a->vcpu, a->type, a->dir, a->addr, a->size, &a->data);
	a->t_done = util_now_ns();
	atomic_store(&a->done, true);
	return NULL;
}

static void async_io_start(struct async_io *a, struct sim *sim, uint32_t dom, unsigned vcpu,
                           unsigned type, unsigned dir, uint64_t addr, unsigned size, uint64_t data)
{
	*a = (struct async_io){.sim = sim,
	                       .dom = dom,
	                       .vcpu = vcpu,
	                       .type = type,
	                       .dir = dir,
	                       .addr = addr,
	                       .size = size,
	                       .data = data};
	atomic_init(&a->done, false);
	ASSERT_EQ(pthread_create(&a->thread, NULL, async_io_thread, a), 0);
}

static int async_io_join(struct async_io *a)
{
	ASSERT_EQ(pthread_join(a->thread, NULL), 0);
	return a->r;
}

/* ---- 1. eight servers per domain ---------------------------------------- */

TEST(servers_max_eight_lowest_free_id)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t id;

	for (unsigned i = 0; i < SIM_MAX_SERVERS; i++) {
		ASSERT_OK(sim_server_create(sim, dom, i % 3, &id));
		ASSERT_EQ(id, i);
	}
	id = 0xbeef;
	ASSERT_ERR(sim_server_create(sim, dom, BUF_OFF, &id), -ENOSPC);
	ASSERT_EQ(id, 0xbeef); /* untouched on failure */

	ASSERT_OK(sim_server_destroy(sim, dom, 5));
	ASSERT_OK(sim_server_destroy(sim, dom, 2));
	ASSERT_ERR(sim_server_destroy(sim, dom, 2), -ENOENT);
	ASSERT_OK(sim_server_create(sim, dom, BUF_OFF, &id));
	ASSERT_EQ(id, 2); /* the lowest free slot */
	ASSERT_OK(sim_server_create(sim, dom, BUF_OFF, &id));
	ASSERT_EQ(id, 5);
	ASSERT_ERR(sim_server_create(sim, dom, BUF_OFF, &id), -ENOSPC);
	ASSERT_ERR(sim_server_create(sim, dom, BUF_ATOMIC + 1, &id), -EINVAL);
	ASSERT_ERR(sim_server_create(sim, 999, BUF_OFF, &id), -ESRCH);

	/* The limit is per domain. */
	{
		uint32_t dom2 = dom_new(sim, "d2", 1, 0);
		ASSERT_OK(sim_server_create(sim, dom2, BUF_OFF, &id));
		ASSERT_EQ(id, 0);
	}
	sim_free(sim);
}

/* ---- 2. 256 ranges per type per server ---------------------------------- */

TEST(ranges_limit_256_per_type)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t id;

	ASSERT_OK(sim_server_create(sim, dom, BUF_OFF, &id));
	for (uint64_t i = 0; i < SIM_MAX_RANGES; i++)
		ASSERT_OK(sim_map_range(sim, dom, id, PORT, 0x1000 + 4 * i, 0x1000 + 4 * i + 1,
		                        true));
	ASSERT_ERR(sim_map_range(sim, dom, id, PORT, 0x8000, 0x8000, true), -ENOMEM);
	/* Growing an existing range needs no new one. */
	ASSERT_OK(sim_map_range(sim, dom, id, PORT, 0x1002, 0x1002, true));
	/* Splitting one at the limit needs one more: -ENOMEM, as Xen's rangeset. */
	ASSERT_OK(sim_map_range(sim, dom, id, PORT, 0x1003, 0x1003, true)); /* merges 2 -> 1 */
	ASSERT_OK(sim_map_range(sim, dom, id, PORT, 0x8000, 0x8000, true)); /* 256 again */
	ASSERT_ERR(sim_map_range(sim, dom, id, PORT, 0x1002, 0x1002, false), -ENOMEM);
	/* The other types have their own limit. */
	for (uint64_t i = 0; i < SIM_MAX_RANGES; i++)
		ASSERT_OK(sim_map_range(sim, dom, id, MMIO, 0x10000 * i, 0x10000 * i + 0xff, true));
	ASSERT_ERR(sim_map_range(sim, dom, id, MMIO, 0xf0000000, 0xf0000fff, true), -ENOMEM);
	for (uint64_t i = 0; i < SIM_MAX_RANGES; i++)
		ASSERT_OK(sim_map_range(sim, dom, id, PCI, 2 * i, 2 * i, true));
	ASSERT_ERR(sim_map_range(sim, dom, id, PCI, 0x1001, 0x1001, true), -ENOMEM);
	sim_free(sim);
}

TEST(ranges_adjacent_merge_and_split)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t id;
	struct rawdm dm;

	ASSERT_OK(sim_server_create(sim, dom, BUF_OFF, &id));
	/* 300 adjacent mappings are one range: far more than 256 succeed. */
	for (uint64_t i = 0; i < 300; i++)
		ASSERT_OK(sim_map_range(sim, dom, id, MMIO, 0xe0000000 + 0x10 * i,
		                        0xe0000000 + 0x10 * i + 0xf, true));
	ASSERT_OK(sim_map_range(sim, dom, id, PORT, 0x10, 0x1f, true));
	ASSERT_OK(sim_map_range(sim, dom, id, PORT, 0x20, 0x2f, true));
	ASSERT_OK(sim_map_range(sim, dom, id, PORT, 0x100, 0x1ff, true));
	/* The middle of a range goes; both ends stay. */
	ASSERT_OK(sim_map_range(sim, dom, id, PORT, 0x140, 0x14f, false));
	ASSERT_ERR(sim_map_range(sim, dom, id, PORT, 0x140, 0x140, false), -ENOENT);
	ASSERT_ERR(sim_map_range(sim, dom, id, PORT, 0x13f, 0x140, true), -EEXIST);
	ASSERT_OK(sim_server_set_state(sim, dom, id, true));
	rawdm_start(&dm, sim, dom, id, 0x11223344);

	/* An access across the seam of two merged mappings is fully contained. */
	ASSERT_EQ_U(pio_in(sim, dom, 0x1e, 4), 0x11223344);
	assert_rec(&dm.rec[0], IOREQ_TYPE_PIO, IOREQ_READ, 0x1e, 4);
	ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xe0000000 + 0x10 * 150 - 4, 8),
	            0x11223344);
	ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xe0000000 + 0x10 * 300 - 4, 4),
	            0x11223344);
	ASSERT_EQ(rawdm_count(&dm), 3);
	/* Beyond the last merged mapping: unclaimed. */
	ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xe0000000 + 0x10 * 300 - 4, 8), ~0ull);
	/* The split: the hole is unclaimed, both sides are still claimed. */
	ASSERT_EQ_U(pio_in(sim, dom, 0x140, 1), 0xff);
	ASSERT_EQ_U(pio_in(sim, dom, 0x14f, 1), 0xff);
	ASSERT_EQ_U(pio_in(sim, dom, 0x13e, 2), 0x3344);
	ASSERT_EQ_U(pio_in(sim, dom, 0x150, 2), 0x3344);
	ASSERT_EQ_U(pio_in(sim, dom, 0x13f, 2), 0xffff); /* straddles the hole */
	ASSERT_EQ(rawdm_count(&dm), 5);
	rawdm_stop(&dm);
	sim_free(sim);
}

/* ---- 3. map/unmap errors ------------------------------------------------ */

TEST(ranges_overlap_and_errors)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t a, b;

	ASSERT_OK(sim_server_create(sim, dom, BUF_OFF, &a));
	ASSERT_OK(sim_server_create(sim, dom, BUF_OFF, &b));
	ASSERT_OK(sim_map_range(sim, dom, a, PORT, 0x100, 0x10f, true));
	ASSERT_ERR(sim_map_range(sim, dom, a, PORT, 0x10f, 0x110, true), -EEXIST);
	ASSERT_ERR(sim_map_range(sim, dom, a, PORT, 0xf0, 0x100, true), -EEXIST);
	ASSERT_ERR(sim_map_range(sim, dom, a, PORT, 0x104, 0x104, true), -EEXIST);
	ASSERT_ERR(sim_map_range(sim, dom, a, PORT, 0, 0xffff, true), -EEXIST);
	/* Other servers and other types are not checked. */
	ASSERT_OK(sim_map_range(sim, dom, b, PORT, 0x100, 0x10f, true));
	ASSERT_OK(sim_map_range(sim, dom, b, PORT, 0x0f0, 0x0ff, true));
	ASSERT_OK(sim_map_range(sim, dom, a, MMIO, 0x100, 0x10f, true));
	ASSERT_OK(sim_map_range(sim, dom, a, PCI, 0x100, 0x10f, true));
	/* Unmap: only ranges fully contained in one mapped range. */
	ASSERT_ERR(sim_map_range(sim, dom, a, PORT, 0x108, 0x110, false), -ENOENT);
	ASSERT_ERR(sim_map_range(sim, dom, a, PORT, 0x0f0, 0x0f0, false), -ENOENT);
	ASSERT_ERR(sim_map_range(sim, dom, a, MMIO, 0x200, 0x200, false), -ENOENT);
	ASSERT_OK(sim_map_range(sim, dom, a, PORT, 0x100, 0x10f, false));
	ASSERT_ERR(sim_map_range(sim, dom, a, PORT, 0x100, 0x10f, false), -ENOENT);
	/* start > end */
	ASSERT_ERR(sim_map_range(sim, dom, a, PORT, 0x101, 0x100, true), -EINVAL);
	ASSERT_ERR(sim_map_range(sim, dom, a, MMIO, 0x101, 0x100, false), -EINVAL);
	ASSERT_ERR(sim_map_range(sim, dom, a, 3, 0x100, 0x100, true), -EINVAL);
	/* Unknown server, unknown domain. */
	ASSERT_ERR(sim_map_range(sim, dom, 2, PORT, 0x100, 0x100, true), -ENOENT);
	ASSERT_ERR(sim_map_range(sim, dom, 8, PORT, 0x100, 0x100, true), -ENOENT);
	ASSERT_ERR(sim_map_range(sim, dom, 0xffff, PORT, 0x100, 0x100, true), -ENOENT);
	ASSERT_ERR(sim_map_range(sim, dom + 100, a, PORT, 0x100, 0x100, true), -ESRCH);
	ASSERT_ERR(sim_server_set_state(sim, dom, 7, true), -ENOENT);
	ASSERT_ERR(sim_server_set_state(sim, dom + 100, a, true), -ESRCH);
	sim_free(sim);
}

/* ---- 4. newest enabled server first ------------------------------------- */

TEST(select_newest_enabled_first)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t old = srv_new(sim, dom, BUF_OFF, PORT, 0x500, 0x50f);
	uint16_t new = srv_new(sim, dom, BUF_OFF, PORT, 0x508, 0x508);
	struct rawdm dm_old, dm_new;

	ASSERT_GT(new, old);
	rawdm_start(&dm_old, sim, dom, old, 0x01d);
	rawdm_start(&dm_new, sim, dom, new, 0xee);

	ASSERT_EQ_U(pio_in(sim, dom, 0x508, 1), 0xee);
	ASSERT_EQ(rawdm_count(&dm_new), 1);
	ASSERT_EQ(rawdm_count(&dm_old), 0);
	/* Not fully inside the newer server's range: the older one. */
	ASSERT_EQ_U(pio_in(sim, dom, 0x508, 2), 0x01d);
	ASSERT_EQ(rawdm_count(&dm_old), 1);

	ASSERT_OK(sim_server_set_state(sim, dom, new, false));
	ASSERT_EQ_U(pio_in(sim, dom, 0x508, 1), 0x1d);
	ASSERT_EQ(rawdm_count(&dm_new), 1);
	ASSERT_EQ(rawdm_count(&dm_old), 2);

	ASSERT_OK(sim_server_set_state(sim, dom, old, false));
	ASSERT_EQ_U(pio_in(sim, dom, 0x508, 1), 0xff); /* only disabled claims: unclaimed */
	pio_out(sim, dom, 0x500, 4, 0x12345678);
	ASSERT_EQ(rawdm_count(&dm_old), 2);
	ASSERT_EQ(rawdm_count(&dm_new), 1);
	ASSERT_EQ(dom_stats(sim, dom).unclaimed_reads, 1);
	ASSERT_EQ(dom_stats(sim, dom).unclaimed_writes, 1);

	ASSERT_OK(sim_server_set_state(sim, dom, new, true));
	ASSERT_EQ_U(pio_in(sim, dom, 0x508, 1), 0xee);
	ASSERT_EQ(rawdm_count(&dm_new), 2);
	rawdm_stop(&dm_old);
	rawdm_stop(&dm_new);
	sim_free(sim);
}

/* ---- 5. full containment ------------------------------------------------ */

TEST(select_full_containment)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t id = srv_new(sim, dom, BUF_OFF, PORT, 0x510, 0x511);
	struct rawdm dm;

	ASSERT_OK(sim_map_range(sim, dom, id, MMIO, 0xfed00000, 0xfed00003, true));
	rawdm_start(&dm, sim, dom, id, 0xa1b2c3d4e5f60718ull);

	ASSERT_EQ_U(pio_in(sim, dom, 0x510, 4), 0xffffffff);
	ASSERT_EQ_U(pio_in(sim, dom, 0x511, 2), 0xffff);
	ASSERT_EQ_U(pio_in(sim, dom, 0x50f, 2), 0xffff);
	ASSERT_EQ(rawdm_count(&dm), 0);
	ASSERT_EQ_U(pio_in(sim, dom, 0x510, 2), 0x0718);
	assert_rec(&dm.rec[0], IOREQ_TYPE_PIO, IOREQ_READ, 0x510, 2);
	ASSERT_EQ_U(pio_in(sim, dom, 0x511, 1), 0x18);

	ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xfed00000, 8), ~0ull);
	ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xfed00002, 4), 0xffffffff);
	ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xfecffffe, 4), 0xffffffff);
	ASSERT_EQ(rawdm_count(&dm), 2);
	ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xfed00000, 4), 0xe5f60718);
	assert_rec(&dm.rec[2], IOREQ_TYPE_COPY, IOREQ_READ, 0xfed00000, 4);
	ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xfed00003, 1), 0x18);
	ASSERT_EQ(rawdm_count(&dm), 4);
	ASSERT_EQ(dom_stats(sim, dom).unclaimed_reads, 6);
	rawdm_stop(&dm);
	sim_free(sim);
}

/* ---- 6. PCI config through 0xcf8/0xcfc ---------------------------------- */

#define BDF_03 0x18u /* 00:03.0 */
#define BDF_04 0x20u /* 00:04.0 */

TEST(pci_config_via_cf8_cfc)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t pci =
	        srv_new(sim, dom, BUF_OFF, PCI, IOREQ_SBDF(0, 0, 3, 0), IOREQ_SBDF(0, 0, 3, 0));
	uint16_t port = srv_new(sim, dom, BUF_OFF, PORT, 0xcf8, 0xcff);
	struct rawdm dp, dq;
	struct rawdm_rec r;
	uint32_t cf8 = 0x80000000u | BDF_03 << 8 | 0x40;

	ASSERT_EQ(IOREQ_SBDF(0, 0, 3, 0), BDF_03);
	rawdm_start(&dp, sim, dom, pci, 0x44332211);
	rawdm_start(&dq, sim, dom, port, 0x88776655);

	/* The address write is latched and still forwarded as port I/O. */
	pio_out(sim, dom, 0xcf8, 4, cf8);
	ASSERT_EQ(rawdm_count(&dq), 1);
	r = rawdm_last(&dq);
	assert_rec(&r, IOREQ_TYPE_PIO, IOREQ_WRITE, 0xcf8, 4);
	ASSERT_EQ_U(r.data, cf8);

	/* Data cycles: register = cf8's dword | the byte offset of the 0xcfc access. */
	for (unsigned k = 0; k < 4; k++) {
		ASSERT_EQ_U(pio_in(sim, dom, 0xcfc + k, 1), 0x11);
		r = rawdm_last(&dp);
		assert_rec(&r, IOREQ_TYPE_PCI_CONFIG, IOREQ_READ,
		           (uint64_t)BDF_03 << 32 | (0x40 + k), 1);
	}
	ASSERT_EQ_U(pio_in(sim, dom, 0xcfe, 2), 0x2211);
	r = rawdm_last(&dp);
	assert_rec(&r, IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, (uint64_t)BDF_03 << 32 | 0x42, 2);
	pio_out(sim, dom, 0xcfc, 4, 0xcafef00d);
	r = rawdm_last(&dp);
	assert_rec(&r, IOREQ_TYPE_PCI_CONFIG, IOREQ_WRITE, (uint64_t)BDF_03 << 32 | 0x40, 4);
	ASSERT_EQ_U(r.data, 0xcafef00d);
	ASSERT_EQ(rawdm_count(&dp), 6);
	ASSERT_EQ(rawdm_count(&dq), 1); /* the port server never saw 0xcfc */

	/* 1- and 2-byte writes to 0xcf8-0xcfb are forwarded but do not touch the latch. */
	pio_out(sim, dom, 0xcfb, 1, 0x00);
	pio_out(sim, dom, 0xcf8, 2, 0x0000);
	pio_out(sim, dom, 0xcf8, 1, 0x7c);
	ASSERT_EQ(rawdm_count(&dq), 4);
	r = rawdm_last(&dq);
	assert_rec(&r, IOREQ_TYPE_PIO, IOREQ_WRITE, 0xcf8, 1);
	ASSERT_EQ_U(pio_in(sim, dom, 0xcfd, 1), 0x11);
	r = rawdm_last(&dp);
	assert_rec(&r, IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, (uint64_t)BDF_03 << 32 | 0x41, 1);
	/* Reading 0xcf8 goes to the port server, not the latch. */
	ASSERT_EQ_U(pio_in(sim, dom, 0xcf8, 4), 0x88776655);
	ASSERT_EQ(rawdm_count(&dq), 5);

	/* Config cycle to a BDF nobody claims: all ones, though 0xcfc is a claimed port. */
	pio_out(sim, dom, 0xcf8, 4, 0x80000000u | BDF_04 << 8);
	ASSERT_EQ_U(pio_in(sim, dom, 0xcfc, 4), 0xffffffff);
	ASSERT_EQ_U(pio_in(sim, dom, 0xcfe, 1), 0xff);
	ASSERT_EQ(rawdm_count(&dq), 6);
	ASSERT_EQ(rawdm_count(&dp), 7);

	/* Enable bit clear: 0xcfc is plain port I/O. */
	pio_out(sim, dom, 0xcf8, 4, BDF_03 << 8 | 0x40);
	ASSERT_EQ_U(pio_in(sim, dom, 0xcfc, 4), 0x88776655);
	r = rawdm_last(&dq);
	assert_rec(&r, IOREQ_TYPE_PIO, IOREQ_READ, 0xcfc, 4);
	ASSERT_EQ(rawdm_count(&dp), 7);

	/* Re-enabled: config again. */
	pio_out(sim, dom, 0xcf8, 4, cf8 | 0x4);
	ASSERT_EQ_U(pio_in(sim, dom, 0xcfc, 4), 0x44332211);
	r = rawdm_last(&dp);
	assert_rec(&r, IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, (uint64_t)BDF_03 << 32 | 0x44, 4);

	/* MMIO at 0xcfc is not a config cycle. */
	ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xcfc, 4), 0xffffffff);
	ASSERT_EQ(rawdm_count(&dp), 8);
	rawdm_stop(&dp);
	rawdm_stop(&dq);
	sim_free(sim);
}

TEST(pci_cf8_unclaimed_reads_ones)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t pci = srv_new(sim, dom, BUF_OFF, PCI, BDF_03, BDF_03);
	struct rawdm dp;

	rawdm_start(&dp, sim, dom, pci, 0x1234);
	pio_out(sim, dom, 0xcf8, 4, 0x80000000u | BDF_03 << 8 | 0x10);
	ASSERT_EQ_U(pio_in(sim, dom, 0xcf8, 4), 0xffffffff); /* not the latched value */
	ASSERT_EQ_U(pio_in(sim, dom, 0xcf9, 1), 0xff);
	ASSERT_EQ(rawdm_count(&dp), 0);
	ASSERT_EQ_U(pio_in(sim, dom, 0xcfc, 2), 0x1234);
	ASSERT_EQ(rawdm_count(&dp), 1);
	/* A 4-byte write at 0xcf9 is not a latch write either. */
	pio_out(sim, dom, 0xcf9, 4, 0);
	ASSERT_EQ_U(pio_in(sim, dom, 0xcfc, 2), 0x1234);
	ASSERT_EQ(rawdm_count(&dp), 2);
	rawdm_stop(&dp);
	sim_free(sim);
}

/* ---- 7. unclaimed I/O ---------------------------------------------------- */

TEST(unclaimed_reads_ones_drops_writes)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t id = srv_new(sim, dom, BUF_OFF, PORT, 0x60, 0x64);
	struct rawdm dm;
	struct sim_domain_stats st;
	unsigned pio_sizes[] = {1, 2, 4}, mmio_sizes[] = {1, 2, 4, 8};
	uint64_t d;

	ASSERT_OK(sim_map_range(sim, dom, id, MMIO, 0xfee00000, 0xfee00fff, true));
	rawdm_start(&dm, sim, dom, id, 0);
	for (unsigned i = 0; i < 3; i++) {
		ASSERT_EQ_U(pio_in(sim, dom, 0x3f8, pio_sizes[i]), ones(pio_sizes[i]));
		pio_out(sim, dom, 0x3f8, pio_sizes[i], 0x41);
	}
	for (unsigned i = 0; i < 4; i++) {
		ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xd0000000, mmio_sizes[i]),
		            ones(mmio_sizes[i]));
		io_write(sim, dom, 0, IOREQ_TYPE_COPY, 0xd0000000, mmio_sizes[i], 0);
	}
	ASSERT_EQ(rawdm_count(&dm), 0); /* no device model saw any of them */
	st = dom_stats(sim, dom);
	ASSERT_EQ(st.unclaimed_reads, 7);
	ASSERT_EQ(st.unclaimed_writes, 7);
	ASSERT_EQ(st.ioreqs_sent, 0);
	ASSERT_EQ(st.buffered_sent, 0);

	/* Claimed accesses are counted elsewhere. */
	ASSERT_EQ_U(pio_in(sim, dom, 0x60, 1), 0);
	st = dom_stats(sim, dom);
	ASSERT_EQ(st.unclaimed_reads, 7);
	ASSERT_EQ(st.ioreqs_sent, 1);

	/* Invalid accesses are refused, not sent. */
	d = 0;
	ASSERT_ERR(sim_vcpu_io(sim, dom, 0, IOREQ_TYPE_PIO, IOREQ_READ, 0x60, 8, &d), -EINVAL);
	ASSERT_ERR(sim_vcpu_io(sim, dom, 0, IOREQ_TYPE_COPY, IOREQ_READ, 0xfee00000, 3, &d),
	           -EINVAL);
	ASSERT_ERR(sim_vcpu_io(sim, dom, 0, IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 0, 4, &d), -EINVAL);
	ASSERT_ERR(sim_vcpu_io(sim, dom, 1, IOREQ_TYPE_PIO, IOREQ_READ, 0x60, 1, &d), -EINVAL);
	ASSERT_EQ(rawdm_count(&dm), 1);
	rawdm_stop(&dm);
	sim_free(sim);
}

/* ---- 8. one slot and one port per vCPU ---------------------------------- */

TEST(slot_and_port_per_vcpu)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 2, 0);
	uint16_t id = srv_new(sim, dom, BUF_LEGACY, PORT, 0x510, 0x51f);
	struct rawdm dm;
	struct rawdm_rec r;

	rawdm_start(&dm, sim, dom, id, 0xabcd);
	ASSERT_EQ(dm.ports.nr_vcpus, 2);
	ASSERT_TRUE(dm.ports.has_buf);
	ASSERT_NE(dm.ports.port[0], dm.ports.port[1]);
	ASSERT_NE(dm.ports.port[0], dm.ports.buf_port);
	ASSERT_NE(dm.ports.port[1], dm.ports.buf_port);

	ASSERT_EQ_U(io_read(sim, dom, 1, IOREQ_TYPE_PIO, 0x514, 2), 0xabcd);
	ASSERT_EQ(rawdm_count(&dm), 1);
	r = rawdm_rec(&dm, 0);
	ASSERT_EQ(r.vcpu, 1);
	ASSERT_EQ(r.vp_eport, dm.ports.port[1]);
	assert_rec(&r, IOREQ_TYPE_PIO, IOREQ_READ, 0x514, 2);
	ASSERT_EQ(rawdm_signals(&dm, 0), 0);
	ASSERT_EQ(rawdm_signals(&dm, 1), 1);
	/* vCPU 0's slot was not touched. */
	ASSERT_EQ(ioreq_load_state(page_slot(dm.slots, 0)), STATE_IOREQ_NONE);
	ASSERT_EQ_U(page_slot(dm.slots, 0)->addr, 0);
	ASSERT_EQ(page_slot(dm.slots, 0)->vp_eport, dm.ports.port[0]);
	ASSERT_EQ_U(page_slot(dm.slots, 1)->addr, 0x514);

	io_write(sim, dom, 0, IOREQ_TYPE_PIO, 0x518, 4, 0x600df00d);
	r = rawdm_rec(&dm, 1);
	ASSERT_EQ(r.vcpu, 0);
	ASSERT_EQ(r.vp_eport, dm.ports.port[0]);
	assert_rec(&r, IOREQ_TYPE_PIO, IOREQ_WRITE, 0x518, 4);
	ASSERT_EQ_U(r.data, 0x600df00d);
	ASSERT_EQ(rawdm_signals(&dm, 0), 1);
	ASSERT_EQ(rawdm_signals(&dm, 1), 1);
	rawdm_stop(&dm);
	sim_free(sim);
}

TEST(slot_per_vcpu_concurrent_requests)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 2, 0);
	uint16_t id = srv_new(sim, dom, BUF_OFF, PORT, 0x510, 0x51f);
	struct rawdm dm;
	struct async_io a0, a1;

	rawdm_start(&dm, sim, dom, id, 0);
	rawdm_set(&dm, RAWDM_NEVER, 0);
	async_io_start(&a0, sim, dom, 0, IOREQ_TYPE_PIO, IOREQ_READ, 0x510, 1, 0);
	async_io_start(&a1, sim, dom, 1, IOREQ_TYPE_PIO, IOREQ_WRITE, 0x51c, 4, 0x1234);
	ASSERT_TRUE(rawdm_wait(&dm, &dm.n_rec, 2, 5000));
	/* Both in flight at once, each in its own slot. */
	ASSERT_EQ(ioreq_load_state(page_slot(dm.slots, 0)), STATE_IOREQ_INPROCESS);
	ASSERT_EQ(ioreq_load_state(page_slot(dm.slots, 1)), STATE_IOREQ_INPROCESS);
	ASSERT_EQ_U(page_slot(dm.slots, 0)->addr, 0x510);
	ASSERT_EQ_U(page_slot(dm.slots, 1)->addr, 0x51c);
	ASSERT_EQ_U(page_slot(dm.slots, 1)->data, 0x1234);
	/* The same vCPU cannot be played twice at once. */
	ASSERT_ERR(sim_vcpu_io(sim, dom, 0, IOREQ_TYPE_PIO, IOREQ_READ, 0x510, 1, &a1.data),
	           -EBUSY);
	/* Answer them out of order, by hand. */
	__atomic_store_n(&page_slot(dm.slots, 1)->data, 0, __ATOMIC_RELAXED);
	ioreq_store_state(page_slot(dm.slots, 1), STATE_IORESP_READY);
	signal_sim(&dm, 1);
	ASSERT_OK(async_io_join(&a1));
	ASSERT_FALSE(atomic_load(&a0.done));
	__atomic_store_n(&page_slot(dm.slots, 0)->data, 0x77, __ATOMIC_RELAXED);
	ioreq_store_state(page_slot(dm.slots, 0), STATE_IORESP_READY);
	signal_sim(&dm, 0);
	ASSERT_OK(async_io_join(&a0));
	ASSERT_EQ_U(a0.data, 0x77);
	ASSERT_EQ(rawdm_count(&dm), 2);
	rawdm_stop(&dm);
	sim_free(sim);
}

/* ---- 9. ports only once enabled ------------------------------------------ */

TEST(ports_valid_only_once_enabled)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 3, 0);
	struct sim_ports ports = {.nfds = 12345};
	int ioreq_fd, buf_fd;
	ioreq_t *page;
	uint16_t id;

	ASSERT_OK(sim_server_create(sim, dom, BUF_ATOMIC, &id));
	ASSERT_OK(sim_server_pages(sim, dom, id, &ioreq_fd, &buf_fd));
	ASSERT_TRUE(ioreq_fd >= 0 && buf_fd >= 0);
	page = map_page(ioreq_fd);
	ASSERT_ERR(sim_server_ports(sim, dom, id, &ports), -EINVAL);
	ASSERT_EQ(ports.nfds, 12345); /* untouched */
	for (unsigned v = 0; v < 3; v++)
		ASSERT_EQ(page_slot(page, v)->vp_eport, 0);

	ASSERT_OK(sim_server_set_state(sim, dom, id, true));
	ASSERT_OK(sim_server_ports(sim, dom, id, &ports));
	ASSERT_EQ(ports.nr_vcpus, 3);
	ASSERT_EQ(ports.nfds, 1 + 2 * 3 + 1);
	for (unsigned v = 0; v < 3; v++) {
		ASSERT_NE(ports.port[v], 0);
		ASSERT_EQ(page_slot(page, v)->vp_eport, ports.port[v]);
	}
	for (unsigned i = 0; i < ports.nfds; i++)
		close(ports.fds[i]);

	/* Disabled again: no binding. */
	ASSERT_OK(sim_server_set_state(sim, dom, id, false));
	ASSERT_ERR(sim_server_ports(sim, dom, id, &ports), -EINVAL);
	ASSERT_ERR(sim_server_ports(sim, dom, 5, &ports), -ENOENT);
	ASSERT_ERR(sim_server_ports(sim, dom + 1, id, &ports), -ESRCH);
	/* Re-enabling rewrites vp_eport (a DM can recover from a scribble that way). */
	page_slot(page, 2)->vp_eport = 0xdead;
	ASSERT_OK(sim_server_set_state(sim, dom, id, true));
	ASSERT_EQ(page_slot(page, 2)->vp_eport, ports.port[2]);
	/* Enabling an enabled server does nothing (ioreq_server_enable). */
	page_slot(page, 2)->vp_eport = 0xdead;
	ASSERT_OK(sim_server_set_state(sim, dom, id, true));
	ASSERT_EQ(page_slot(page, 2)->vp_eport, 0xdead);

	munmap(page, IOREQ_PAGE_SIZE);
	close(ioreq_fd);
	close(buf_fd);
	sim_free(sim);
}

/* ---- 10. the slot state machine ------------------------------------------ */

TEST(state_machine_roundtrip)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t id = srv_new(sim, dom, BUF_OFF, MMIO, 0xfebf0000, 0xfebf0fff);
	struct rawdm dm;
	struct rawdm_rec r;

	rawdm_start(&dm, sim, dom, id, 0x0123456789abcdefull);
	ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xfebf0010, 8), 0x0123456789abcdefull);
	ASSERT_EQ(ioreq_load_state(page_slot(dm.slots, 0)), STATE_IOREQ_NONE);
	r = rawdm_rec(&dm, 0);
	assert_rec(&r, IOREQ_TYPE_COPY, IOREQ_READ, 0xfebf0010, 8);
	/* The answer is truncated to the access size. */
	ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xfebf0010, 2), 0xcdef);
	/* Writes carry the data truncated to the size. */
	io_write(sim, dom, 0, IOREQ_TYPE_COPY, 0xfebf0020, 2, 0xffff1234);
	r = rawdm_rec(&dm, 2);
	assert_rec(&r, IOREQ_TYPE_COPY, IOREQ_WRITE, 0xfebf0020, 2);
	ASSERT_EQ_U(r.data, 0x1234);
	ASSERT_EQ(ioreq_load_state(page_slot(dm.slots, 0)), STATE_IOREQ_NONE);

	/* A late answer is waited for. */
	rawdm_set(&dm, RAWDM_ANSWER, 200);
	{
		uint64_t t0 = util_now_ns();
		ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xfebf0000, 4), 0x89abcdef);
		ASSERT_GE(util_now_ns() - t0, 200 * NSEC_PER_MSEC);
	}
	ASSERT_EQ(dom_stats(sim, dom).ioreqs_sent, 4);
	ASSERT_FALSE(dom_crashed(sim, dom));
	rawdm_stop(&dm);
	sim_free(sim);
}

/* A domain whose DM misbehaves as told on the first request. */
static void crash_case(enum rawdm_mode mode, unsigned arg, const char *reason)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "victim", 1, 0);
	uint32_t other = dom_new(sim, "bystander", 1, 0);
	uint16_t id = srv_new(sim, dom, BUF_OFF, PORT, 0x510, 0x51f);
	uint16_t oid = srv_new(sim, other, BUF_OFF, PORT, 0x510, 0x51f);
	struct rawdm dm, odm;
	struct sim_domain_stats st;
	uint64_t data = 0;

	rawdm_start(&dm, sim, dom, id, 0x42);
	rawdm_start(&odm, sim, other, oid, 0x43);
	rawdm_set(&dm, mode, arg);
	ASSERT_ERR(sim_vcpu_io(sim, dom, 0, IOREQ_TYPE_PIO, IOREQ_READ, 0x510, 1, &data),
	           -ESHUTDOWN);
	ASSERT_TRUE(dom_crashed(sim, dom));
	st = dom_stats(sim, dom);
	ASSERT_TRUE(st.crashed);
	ASSERT_CONTAINS(st.crash_reason, reason);
	/* Every later access fails at once. */
	rawdm_set(&dm, RAWDM_ANSWER, 0);
	ASSERT_ERR(sim_vcpu_io(sim, dom, 0, IOREQ_TYPE_PIO, IOREQ_READ, 0x510, 1, &data),
	           -ESHUTDOWN);
	ASSERT_EQ(rawdm_count(&dm), 1);
	/* Only that domain. */
	ASSERT_EQ_U(pio_in(sim, other, 0x510, 1), 0x43);
	ASSERT_FALSE(dom_crashed(sim, other));
	rawdm_stop(&dm);
	rawdm_stop(&odm);
	sim_free(sim);
}

TEST(state_machine_backwards_crashes)
{
	crash_case(RAWDM_BACKWARDS, 0, "Weird HVM ioreq state transition 2 -> 1");
}

TEST(state_machine_unknown_state_crashes)
{
	crash_case(RAWDM_BAD_STATE, 7, "Weird HVM iorequest state 7");
}

TEST(state_machine_none_ends_wait_with_ones)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t id = srv_new(sim, dom, BUF_OFF, PORT, 0x510, 0x51f);
	struct rawdm dm;

	rawdm_start(&dm, sim, dom, id, 0x42);
	rawdm_set(&dm, RAWDM_WRITE_NONE, 0);
	ASSERT_EQ_U(pio_in(sim, dom, 0x510, 2), 0xffff);
	ASSERT_EQ_U(pio_in(sim, dom, 0x510, 4), 0xffffffff);
	pio_out(sim, dom, 0x510, 4, 1);
	ASSERT_FALSE(dom_crashed(sim, dom));
	ASSERT_EQ(rawdm_count(&dm), 3);
	rawdm_set(&dm, RAWDM_ANSWER, 0);
	ASSERT_EQ_U(pio_in(sim, dom, 0x510, 1), 0x42);
	rawdm_stop(&dm);
	sim_free(sim);
}

/* Scribble on an idle slot between accesses, then access: the send crashes the domain. */
static void scribble_case(bool eport, const char *reason)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "victim", 2, 0);
	uint32_t other = dom_new(sim, "bystander", 2, 0);
	uint16_t id = srv_new(sim, dom, BUF_OFF, PORT, 0x510, 0x51f);
	uint16_t oid = srv_new(sim, other, BUF_OFF, PORT, 0x510, 0x51f);
	struct rawdm dm, odm;
	uint64_t data = 0;
	ioreq_t *slot;

	rawdm_start(&dm, sim, dom, id, 0x42);
	rawdm_start(&odm, sim, other, oid, 0x43);
	ASSERT_EQ_U(io_read(sim, dom, 1, IOREQ_TYPE_PIO, 0x510, 1), 0x42);
	slot = page_slot(dm.slots, 1);
	if (eport)
		__atomic_store_n(&slot->vp_eport, dm.ports.port[0], __ATOMIC_RELAXED);
	else
		ioreq_store_state(slot, STATE_IORESP_READY);
	/* vCPU 0's slot is intact: it still works. */
	ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_PIO, 0x510, 1), 0x42);
	ASSERT_ERR(sim_vcpu_io(sim, dom, 1, IOREQ_TYPE_PIO, IOREQ_READ, 0x510, 1, &data),
	           -ESHUTDOWN);
	ASSERT_TRUE(dom_crashed(sim, dom));
	ASSERT_CONTAINS(dom_stats(sim, dom).crash_reason, reason);
	ASSERT_EQ(rawdm_count(&dm), 2); /* the bad send never reached the DM */
	ASSERT_ERR(sim_vcpu_io(sim, dom, 0, IOREQ_TYPE_PIO, IOREQ_READ, 0x510, 1, &data),
	           -ESHUTDOWN);
	ASSERT_EQ_U(io_read(sim, other, 1, IOREQ_TYPE_PIO, 0x510, 1), 0x43);
	ASSERT_FALSE(dom_crashed(sim, other));
	rawdm_stop(&dm);
	rawdm_stop(&odm);
	sim_free(sim);
}

TEST(state_machine_slot_not_none_at_send_crashes)
{
	scribble_case(false, "bad IO state");
}

TEST(state_machine_scribbled_vp_eport_crashes)
{
	scribble_case(true, "bad event channel");
}

/* ---- 11. the buffered ring (stdvga) ------------------------------------- */

static void buf_assert_slot(const buffered_iopage_t *pg, uint32_t idx, unsigned type,
                            unsigned size_code, uint32_t addr, uint32_t data)
{
	const buf_ioreq_t *b = &pg->buf_ioreq[idx % IOREQ_BUFFER_SLOT_NUM];

	ASSERT_EQ(b->type, type);
	ASSERT_EQ(b->dir, IOREQ_WRITE);
	ASSERT_EQ(b->size, size_code);
	ASSERT_EQ_U(b->addr, addr);
	ASSERT_EQ_U(b->data, data);
}

static uint32_t buf_rp(buffered_iopage_t *pg)
{
	return __atomic_load_n(&pg->read_pointer, __ATOMIC_ACQUIRE);
}

static uint32_t buf_wp(buffered_iopage_t *pg)
{
	return __atomic_load_n(&pg->write_pointer, __ATOMIC_ACQUIRE);
}

static void vga_write(struct sim *sim, uint32_t dom, uint64_t addr, unsigned size, uint64_t v)
{
	io_write(sim, dom, 0, IOREQ_TYPE_COPY, addr, size, v);
}

static void buffered_writes_case(unsigned mode)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, SIM_DOMAIN_F_STDVGA);
	uint16_t id = srv_new(sim, dom, mode, MMIO, 0xa0000, 0xc0fff);
	struct rawdm dm;
	buffered_iopage_t *pg;
	struct rawdm_rec r;

	rawdm_start(&dm, sim, dom, id, 0x5566778899aabbccull);
	pg = dm.buf;
	ASSERT_NOT_NULL(pg);
	ASSERT_TRUE(dm.ports.has_buf);

	vga_write(sim, dom, 0xa0001, 1, 0x1ab);
	vga_write(sim, dom, 0xa1002, 2, 0x1234);
	vga_write(sim, dom, 0xbfffc, 4, 0xdeadbeef);
	vga_write(sim, dom, 0xb8000, 8, 0x0011223344556677ull);
	ASSERT_EQ(buf_wp(pg), 5);
	ASSERT_EQ(buf_rp(pg), 0);
	buf_assert_slot(pg, 0, IOREQ_TYPE_COPY, 0, 0xa0001, 0xab);
	buf_assert_slot(pg, 1, IOREQ_TYPE_COPY, 1, 0xa1002, 0x1234);
	buf_assert_slot(pg, 2, IOREQ_TYPE_COPY, 2, 0xbfffc, 0xdeadbeef);
	buf_assert_slot(pg, 3, IOREQ_TYPE_COPY, 3, 0xb8000, 0x44556677);
	ASSERT_EQ_U(pg->buf_ioreq[4].data, 0x00112233); /* the high half */
	ASSERT_EQ(rawdm_count(&dm), 0);                 /* nothing synchronous */
	ASSERT_TRUE(rawdm_wait(&dm, &dm.buf_signals, 1, 5000));
	ASSERT_EQ(dom_stats(sim, dom).buffered_sent, 4);
	ASSERT_EQ(dom_stats(sim, dom).ioreqs_sent, 0);

	/* Reads are synchronous, even inside the VGA window. */
	ASSERT_EQ_U(io_read(sim, dom, 0, IOREQ_TYPE_COPY, 0xa0000, 4), 0x99aabbcc);
	r = rawdm_last(&dm);
	assert_rec(&r, IOREQ_TYPE_COPY, IOREQ_READ, 0xa0000, 4);
	/* Writes outside 0xa0000-0xbffff (or straddling its end) are synchronous. */
	vga_write(sim, dom, 0xc0000, 4, 7);
	r = rawdm_last(&dm);
	assert_rec(&r, IOREQ_TYPE_COPY, IOREQ_WRITE, 0xc0000, 4);
	vga_write(sim, dom, 0xbfffe, 4, 8);
	r = rawdm_last(&dm);
	assert_rec(&r, IOREQ_TYPE_COPY, IOREQ_WRITE, 0xbfffe, 4);
	ASSERT_EQ(rawdm_count(&dm), 3);
	ASSERT_EQ(buf_wp(pg), 5);
	/* Port I/O is never buffered. */
	ASSERT_OK(sim_map_range(sim, dom, id, PORT, 0x3c0, 0x3df, true));
	pio_out(sim, dom, 0x3c0, 1, 1);
	ASSERT_EQ(rawdm_count(&dm), 4);
	ASSERT_EQ(buf_wp(pg), 5);
	rawdm_stop(&dm);
	sim_free(sim);
}

TEST(buffered_vga_writes_atomic)
{
	buffered_writes_case(BUF_ATOMIC);
}

TEST(buffered_vga_writes_legacy)
{
	buffered_writes_case(BUF_LEGACY);
}

TEST(buffered_needs_stdvga_and_a_ring)
{
	struct sim *sim = sim_start();
	uint32_t plain = dom_new(sim, "plain", 1, 0);
	uint32_t vga = dom_new(sim, "vga", 1, SIM_DOMAIN_F_STDVGA);
	uint16_t a = srv_new(sim, plain, BUF_ATOMIC, MMIO, 0xa0000, 0xbffff);
	uint16_t b = srv_new(sim, vga, BUF_OFF, MMIO, 0xa0000, 0xbffff);
	struct rawdm da, db;

	rawdm_start(&da, sim, plain, a, 0);
	rawdm_start(&db, sim, vga, b, 0);
	ASSERT_NOT_NULL(da.buf);
	ASSERT_TRUE(db.buf == NULL);
	ASSERT_FALSE(db.ports.has_buf);
	vga_write(sim, plain, 0xa0000, 2, 0x55);
	ASSERT_EQ(rawdm_count(&da), 1);
	ASSERT_EQ(buf_wp(da.buf), 0);
	vga_write(sim, vga, 0xa0000, 2, 0x55);
	ASSERT_EQ(rawdm_count(&db), 1);
	assert_rec(&db.rec[0], IOREQ_TYPE_COPY, IOREQ_WRITE, 0xa0000, 2);
	ASSERT_EQ(dom_stats(sim, plain).buffered_sent, 0);
	ASSERT_EQ(dom_stats(sim, vga).buffered_sent, 0);
	ASSERT_EQ(dom_stats(sim, vga).buffered_full, 0);
	rawdm_stop(&da);
	rawdm_stop(&db);
	sim_free(sim);
}

static void buffered_full_case(unsigned mode)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, SIM_DOMAIN_F_STDVGA);
	uint16_t id = srv_new(sim, dom, mode, MMIO, 0xa0000, 0xbffff);
	struct rawdm dm;
	buffered_iopage_t *pg;
	struct rawdm_rec r;

	rawdm_start(&dm, sim, dom, id, 0);
	pg = dm.buf;
	for (unsigned i = 0; i < IOREQ_BUFFER_SLOT_NUM - 1; i++)
		vga_write(sim, dom, 0xa0000 + i, 1, i & 0xff);
	ASSERT_EQ(buf_wp(pg), 510);
	/* One slot left: an 8-byte write needs two, so it goes synchronously. */
	vga_write(sim, dom, 0xa8000, 8, 0x1122334455667788ull);
	ASSERT_EQ(rawdm_count(&dm), 1);
	r = rawdm_last(&dm);
	assert_rec(&r, IOREQ_TYPE_COPY, IOREQ_WRITE, 0xa8000, 8);
	ASSERT_EQ_U(r.data, 0x1122334455667788ull);
	ASSERT_EQ(dom_stats(sim, dom).buffered_full, 1);
	vga_write(sim, dom, 0xa01ff, 1, 0x77);
	ASSERT_EQ(buf_wp(pg), 511);
	ASSERT_EQ(rawdm_count(&dm), 1);
	/* Full: the next write falls back to the synchronous slot. */
	vga_write(sim, dom, 0xa0200, 2, 0x4242);
	ASSERT_EQ(rawdm_count(&dm), 2);
	r = rawdm_last(&dm);
	assert_rec(&r, IOREQ_TYPE_COPY, IOREQ_WRITE, 0xa0200, 2);
	ASSERT_EQ_U(r.data, 0x4242);
	ASSERT_EQ(dom_stats(sim, dom).buffered_full, 2);
	ASSERT_EQ(dom_stats(sim, dom).buffered_sent, 511);
	ASSERT_EQ(buf_wp(pg), 511);
	ASSERT_EQ(buf_rp(pg), 0);

	/* The consumer takes everything (an atomic add, as a DM must). */
	__atomic_fetch_add(&pg->read_pointer, 511, __ATOMIC_SEQ_CST);
	vga_write(sim, dom, 0xa0300, 4, 0xfeedface);
	ASSERT_EQ(rawdm_count(&dm), 2);
	ASSERT_EQ(dom_stats(sim, dom).buffered_sent, 512);
	if (mode == BUF_ATOMIC) {
		/* read_pointer reached 511: both rebased by the same multiple of 511. */
		ASSERT_EQ(buf_rp(pg), 0);
		ASSERT_EQ(buf_wp(pg), 1);
	} else {
		ASSERT_EQ(buf_rp(pg), 511);
		ASSERT_EQ(buf_wp(pg), 512);
	}
	buf_assert_slot(pg, 511, IOREQ_TYPE_COPY, 2, 0xa0300, 0xfeedface);
	buf_assert_slot(pg, 510, IOREQ_TYPE_COPY, 0, 0xa01ff, 0x77);
	rawdm_stop(&dm);
	sim_free(sim);
}

TEST(buffered_ring_full_falls_back_atomic)
{
	buffered_full_case(BUF_ATOMIC);
}

TEST(buffered_ring_full_falls_back_legacy)
{
	buffered_full_case(BUF_LEGACY);
}

TEST(buffered_atomic_rebases_pointers)
{
	unsigned modes[] = {BUF_ATOMIC, BUF_LEGACY};

	for (unsigned m = 0; m < 2; m++) {
		struct sim *sim = sim_start();
		uint32_t dom = dom_new(sim, "d", 1, SIM_DOMAIN_F_STDVGA);
		uint16_t id = srv_new(sim, dom, modes[m], MMIO, 0xa0000, 0xbffff);
		struct rawdm dm;
		buffered_iopage_t *pg;

		rawdm_start(&dm, sim, dom, id, 0);
		pg = dm.buf;
		/* As after a long history: 3 * 511 consumed, two pending. */
		__atomic_store_n(&pg->write_pointer, 3 * 511 + 2, __ATOMIC_SEQ_CST);
		__atomic_store_n(&pg->read_pointer, 3 * 511, __ATOMIC_SEQ_CST);
		vga_write(sim, dom, 0xa0010, 8, 0xaabbccdd11223344ull);
		if (modes[m] == BUF_ATOMIC) {
			ASSERT_LT(buf_rp(pg), IOREQ_BUFFER_SLOT_NUM);
			ASSERT_EQ(buf_rp(pg), 0);
			ASSERT_EQ(buf_wp(pg), 4);
		} else {
			ASSERT_EQ(buf_rp(pg), 3 * 511);
			ASSERT_EQ(buf_wp(pg), 3 * 511 + 4);
		}
		ASSERT_EQ(buf_wp(pg) - buf_rp(pg), 4);
		/* The slots were written at the old position, which is the same modulo 511. */
		buf_assert_slot(pg, 2, IOREQ_TYPE_COPY, 3, 0xa0010, 0x11223344);
		ASSERT_EQ_U(pg->buf_ioreq[3].data, 0xaabbccdd);
		ASSERT_EQ(rawdm_count(&dm), 0);
		rawdm_stop(&dm);
		sim_free(sim);
	}
}

/* ---- 12. INVALIDATE ------------------------------------------------------- */

TEST(invalidate_broadcast_to_enabled_servers)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 2, 0);
	uint16_t s0 = srv_new(sim, dom, BUF_OFF, PORT, 0x10, 0x10);
	uint16_t s1 = srv_new(sim, dom, BUF_ATOMIC, PORT, 0x20, 0x20);
	uint16_t s2 = srv_new(sim, dom, BUF_OFF, PORT, 0x30, 0x30);
	struct rawdm d0, d1, d2;
	uint64_t t0, elapsed;

	rawdm_start(&d0, sim, dom, s0, 0);
	rawdm_start(&d1, sim, dom, s1, 0);
	rawdm_start(&d2, sim, dom, s2, 0);
	ASSERT_OK(sim_server_set_state(sim, dom, s2, false));
	rawdm_set(&d1, RAWDM_ANSWER, 300); /* the broadcast waits for this one too */

	t0 = util_now_ns();
	ASSERT_OK(sim_invalidate(sim, dom));
	elapsed = util_now_ns() - t0;
	ASSERT_GE(elapsed, 300 * NSEC_PER_MSEC);
	ASSERT_EQ(rawdm_count(&d0), 1);
	ASSERT_EQ(rawdm_count(&d1), 1);
	ASSERT_EQ(rawdm_count(&d2), 0);
	for (unsigned i = 0; i < 2; i++) {
		struct rawdm_rec r = rawdm_rec(i ? &d1 : &d0, 0);
		ASSERT_EQ(r.type, IOREQ_TYPE_INVALIDATE);
		ASSERT_EQ(r.dir, IOREQ_WRITE);
		ASSERT_EQ(r.size, 4);
		ASSERT_EQ_U(r.data, ~0ull); /* "flush all", and no count, as Xen */
		ASSERT_EQ(r.count, 0);
		ASSERT_EQ(r.vcpu, 0);
	}
	ASSERT_EQ(ioreq_load_state(page_slot(d0.slots, 0)), STATE_IOREQ_NONE);
	ASSERT_EQ(ioreq_load_state(page_slot(d1.slots, 0)), STATE_IOREQ_NONE);
	ASSERT_EQ(ioreq_load_state(page_slot(d2.slots, 0)), STATE_IOREQ_NONE);
	ASSERT_EQ(buf_wp(d1.buf), 0); /* synchronous, not through the ring */
	ASSERT_EQ(dom_stats(sim, dom).invalidates, 1);
	ASSERT_ERR(sim_invalidate(sim, dom + 7), -ESRCH);
	rawdm_stop(&d0);
	rawdm_stop(&d1);
	rawdm_stop(&d2);
	sim_free(sim);
}

/* ioreq_broadcast() counts a server whose slot is not usable as failed: no crash. */
TEST(invalidate_skips_scribbled_server)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t good = srv_new(sim, dom, BUF_OFF, PORT, 0x10, 0x10);
	uint16_t bad = srv_new(sim, dom, BUF_OFF, PORT, 0x20, 0x20);
	uint16_t eport = srv_new(sim, dom, BUF_OFF, PORT, 0x30, 0x30);
	struct rawdm dg, db, de;
	uint64_t data = 0;

	rawdm_start(&dg, sim, dom, good, 0);
	rawdm_start(&db, sim, dom, bad, 0);
	rawdm_start(&de, sim, dom, eport, 0);
	ioreq_store_state(page_slot(db.slots, 0), STATE_IOREQ_INPROCESS);
	__atomic_store_n(&page_slot(de.slots, 0)->vp_eport, 0, __ATOMIC_RELAXED);
	ASSERT_OK(sim_invalidate(sim, dom));
	ASSERT_FALSE(dom_crashed(sim, dom));
	ASSERT_EQ(rawdm_count(&dg), 1);
	ASSERT_EQ(rawdm_rec(&dg, 0).type, IOREQ_TYPE_INVALIDATE);
	ASSERT_EQ(rawdm_count(&db), 0);
	ASSERT_EQ(rawdm_count(&de), 0);
	ASSERT_EQ(ioreq_load_state(page_slot(db.slots, 0)), STATE_IOREQ_INPROCESS);
	/* A guest access to it still crashes the domain. */
	ASSERT_ERR(sim_vcpu_io(sim, dom, 0, IOREQ_TYPE_PIO, IOREQ_READ, 0x20, 1, &data),
	           -ESHUTDOWN);
	ASSERT_CONTAINS(dom_stats(sim, dom).crash_reason, "bad IO state");
	rawdm_stop(&dg);
	rawdm_stop(&db);
	rawdm_stop(&de);
	sim_free(sim);
}

/* ---- 13. TIMEOFFSET ------------------------------------------------------- */

TEST(timeoffset_buffered_to_servers_with_ring)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t ring = srv_new(sim, dom, BUF_LEGACY, PORT, 0x10, 0x10);
	uint16_t noring = srv_new(sim, dom, BUF_OFF, PORT, 0x20, 0x20);
	uint16_t disabled = srv_new(sim, dom, BUF_ATOMIC, PORT, 0x30, 0x30);
	struct rawdm dr, dn, dd;
	int64_t off = -0x123456789ll;

	rawdm_start(&dr, sim, dom, ring, 0);
	rawdm_start(&dn, sim, dom, noring, 0);
	rawdm_start(&dd, sim, dom, disabled, 0);
	ASSERT_OK(sim_server_set_state(sim, dom, disabled, false));

	ASSERT_OK(sim_timeoffset(sim, dom, off));
	ASSERT_EQ(buf_wp(dr.buf), 2);
	buf_assert_slot(dr.buf, 0, IOREQ_TYPE_TIMEOFFSET, 3, 0, (uint32_t)(uint64_t)off);
	buf_assert_slot(dr.buf, 1, IOREQ_TYPE_TIMEOFFSET, 3, 0, (uint32_t)((uint64_t)off >> 32));
	ASSERT_TRUE(rawdm_wait(&dr, &dr.buf_signals, 1, 5000));
	ASSERT_EQ(buf_wp(dd.buf), 0);
	ASSERT_EQ(rawdm_count(&dr), 0);
	ASSERT_EQ(rawdm_count(&dn), 0); /* no ring: nothing, not even synchronously */
	ASSERT_EQ(rawdm_count(&dd), 0);
	ASSERT_EQ(ioreq_load_state(page_slot(dn.slots, 0)), STATE_IOREQ_NONE);

	/* Xen's send_timeoffset_req() sends nothing for a zero offset. */
	ASSERT_OK(sim_timeoffset(sim, dom, 0));
	ASSERT_EQ(buf_wp(dr.buf), 2);
	ASSERT_ERR(sim_timeoffset(sim, dom + 7, 1), -ESRCH);
	rawdm_stop(&dr);
	rawdm_stop(&dn);
	rawdm_stop(&dd);
	sim_free(sim);
}

/* ---- 14. server destroyed while a vCPU waits ---------------------------- */

TEST(server_destroy_completes_waiting_access)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t id = srv_new(sim, dom, BUF_ATOMIC, PORT, 0x510, 0x51f);
	struct rawdm dm;
	struct async_io a;

	rawdm_start(&dm, sim, dom, id, 0);
	rawdm_set(&dm, RAWDM_NEVER, 0);
	async_io_start(&a, sim, dom, 0, IOREQ_TYPE_PIO, IOREQ_READ, 0x510, 2, 0x1234);
	ASSERT_TRUE(rawdm_wait(&dm, &dm.n_rec, 1, 5000));
	util_sleep_ns(50 * NSEC_PER_MSEC);
	ASSERT_FALSE(atomic_load(&a.done));
	ASSERT_OK(sim_server_destroy(sim, dom, id));
	ASSERT_OK(async_io_join(&a));
	ASSERT_EQ_U(a.data, 0xffff);
	ASSERT_FALSE(dom_crashed(sim, dom));
	/* The domain goes on; the port is now unclaimed. */
	ASSERT_EQ_U(pio_in(sim, dom, 0x510, 1), 0xff);
	ASSERT_EQ(rawdm_count(&dm), 1);
	rawdm_stop(&dm);
	sim_free(sim);
}

/* ---- 15. domain destroyed while a vCPU waits ---------------------------- */

TEST(domain_destroy_ends_waiting_access)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 2, SIM_DOMAIN_F_POLL);
	uint16_t id = srv_new(sim, dom, BUF_OFF, MMIO, 0xe0000000, 0xe0000fff);
	struct rawdm dm;
	struct async_io a, b;
	uint64_t t0;

	rawdm_start(&dm, sim, dom, id, 0);
	rawdm_set(&dm, RAWDM_NEVER, 0);
	async_io_start(&a, sim, dom, 0, IOREQ_TYPE_COPY, IOREQ_READ, 0xe0000000, 4, 0);
	async_io_start(&b, sim, dom, 1, IOREQ_TYPE_COPY, IOREQ_WRITE, 0xe0000008, 8, 1);
	ASSERT_TRUE(rawdm_wait(&dm, &dm.n_rec, 2, 5000));
	util_sleep_ns(50 * NSEC_PER_MSEC); /* past the poll phase: blocked on the port */
	ASSERT_FALSE(atomic_load(&a.done));
	t0 = util_now_ns();
	ASSERT_OK(sim_domain_destroy(sim, dom));
	ASSERT_ERR(async_io_join(&a), -ESHUTDOWN);
	ASSERT_ERR(async_io_join(&b), -ESHUTDOWN);
	ASSERT_LT(a.t_done - t0, 2000 * NSEC_PER_MSEC);
	ASSERT_LT(b.t_done - t0, 2000 * NSEC_PER_MSEC);
	ASSERT_ERR(sim_domain_destroy(sim, dom), -ESRCH);
	ASSERT_ERR(sim_vcpu_io(sim, dom, 0, IOREQ_TYPE_COPY, IOREQ_READ, 0xe0000000, 4, &a.data),
	           -ESRCH);
	rawdm_stop(&dm);
	sim_free(sim);
}

/* ---- 16. pause ------------------------------------------------------------ */

TEST(paused_domain_does_not_issue)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, SIM_DOMAIN_F_PAUSED);
	uint16_t id = srv_new(sim, dom, BUF_OFF, PORT, 0x510, 0x51f);
	struct rawdm dm;
	struct async_io a;
	struct sim_domain_info info;

	rawdm_start(&dm, sim, dom, id, 0x99);
	for (unsigned round = 0; round < 2; round++) {
		ASSERT_OK(sim_domain_info(sim, dom, &info));
		ASSERT_TRUE(info.paused);
		async_io_start(&a, sim, dom, 0, IOREQ_TYPE_PIO, IOREQ_READ, 0x510, 1, 0);
		util_sleep_ns(200 * NSEC_PER_MSEC);
		ASSERT_FALSE(atomic_load(&a.done));
		ASSERT_EQ(rawdm_count(&dm), round);
		ASSERT_EQ(dom_stats(sim, dom).ioreqs_sent, round);
		ASSERT_OK(sim_domain_pause(sim, dom, false));
		ASSERT_OK(async_io_join(&a));
		ASSERT_EQ_U(a.data, 0x99);
		ASSERT_EQ(rawdm_count(&dm), round + 1);
		ASSERT_OK(sim_domain_info(sim, dom, &info));
		ASSERT_FALSE(info.paused);
		ASSERT_OK(sim_domain_pause(sim, dom, true)); /* the second round: paused later */
	}
	ASSERT_ERR(sim_domain_pause(sim, dom + 9, true), -ESRCH);
	rawdm_stop(&dm);
	sim_free(sim);
}

/* ---- 17. sealed pages ----------------------------------------------------- */

static void assert_sealed(int fd)
{
	struct stat st;

	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(ftruncate(fd, 0), -1);
	ASSERT_EQ(errno, EPERM);
	ASSERT_EQ(ftruncate(fd, 2 * IOREQ_PAGE_SIZE), -1);
	ASSERT_EQ(errno, EPERM);
	ASSERT_EQ(fstat(fd, &st), 0);
	ASSERT_EQ(st.st_size, IOREQ_PAGE_SIZE);
	/* The seals cannot be removed either (F_SEAL_SEAL). */
	ASSERT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	ASSERT_EQ(errno, EPERM);
	ASSERT_TRUE(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK);
	ASSERT_TRUE(fcntl(fd, F_GET_SEALS) & F_SEAL_GROW);
	ASSERT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

TEST(pages_sealed)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 1, 0);
	uint16_t id = srv_new(sim, dom, BUF_ATOMIC, PORT, 0x510, 0x51f);
	struct sim_ports ports;
	int ioreq_fd, buf_fd;

	ASSERT_OK(sim_server_pages(sim, dom, id, &ioreq_fd, &buf_fd));
	assert_sealed(ioreq_fd);
	assert_sealed(buf_fd);
	ASSERT_OK(sim_server_ports(sim, dom, id, &ports));
	assert_sealed(ports.fds[0]); /* the channel page */
	for (unsigned i = 0; i < ports.nfds; i++)
		close(ports.fds[i]);
	close(ioreq_fd);
	close(buf_fd);
	/* Without a ring: no buffered page. */
	ASSERT_OK(sim_server_create(sim, dom, BUF_OFF, &id));
	ASSERT_OK(sim_server_pages(sim, dom, id, &ioreq_fd, &buf_fd));
	ASSERT_EQ(buf_fd, -1);
	assert_sealed(ioreq_fd);
	close(ioreq_fd);
	sim_free(sim);
}

/* ---- 18. rangeset ---------------------------------------------------------- */

static void rs_assert(const struct rangeset *rs, unsigned n, const uint64_t *pairs)
{
	ASSERT_EQ(rs->n, n);
	for (unsigned i = 0; i < n; i++) {
		ASSERT_EQ_U(rs->r[i].s, pairs[2 * i]);
		ASSERT_EQ_U(rs->r[i].e, pairs[2 * i + 1]);
	}
}

TEST(rangeset_merge_split)
{
	static struct rangeset rs;

	rangeset_init(&rs, 8);
	ASSERT_OK(rangeset_add(&rs, 0x20, 0x2f));
	ASSERT_OK(rangeset_add(&rs, 0x40, 0x4f));
	ASSERT_OK(rangeset_add(&rs, 0x00, 0x0f));
	rs_assert(&rs, 3, (const uint64_t[]){0x00, 0x0f, 0x20, 0x2f, 0x40, 0x4f});
	/* Touching on either side merges. */
	ASSERT_OK(rangeset_add(&rs, 0x10, 0x1f));
	rs_assert(&rs, 2, (const uint64_t[]){0x00, 0x2f, 0x40, 0x4f});
	ASSERT_OK(rangeset_add(&rs, 0x50, 0x50));
	rs_assert(&rs, 2, (const uint64_t[]){0x00, 0x2f, 0x40, 0x50});
	ASSERT_OK(rangeset_add(&rs, 0x3f, 0x3f));
	rs_assert(&rs, 2, (const uint64_t[]){0x00, 0x2f, 0x3f, 0x50});
	/* Overlapping several merges them all. */
	ASSERT_OK(rangeset_add(&rs, 0x28, 0x48));
	rs_assert(&rs, 1, (const uint64_t[]){0x00, 0x50});
	/* A gap of one is not adjacent. */
	ASSERT_OK(rangeset_add(&rs, 0x52, 0x60));
	rs_assert(&rs, 2, (const uint64_t[]){0x00, 0x50, 0x52, 0x60});

	/* Remove: split, trim either end, whole, and across several. */
	ASSERT_OK(rangeset_remove(&rs, 0x10, 0x1f));
	rs_assert(&rs, 3, (const uint64_t[]){0x00, 0x0f, 0x20, 0x50, 0x52, 0x60});
	ASSERT_OK(rangeset_remove(&rs, 0x00, 0x00));
	rs_assert(&rs, 3, (const uint64_t[]){0x01, 0x0f, 0x20, 0x50, 0x52, 0x60});
	ASSERT_OK(rangeset_remove(&rs, 0x60, 0x70));
	rs_assert(&rs, 3, (const uint64_t[]){0x01, 0x0f, 0x20, 0x50, 0x52, 0x5f});
	ASSERT_OK(rangeset_remove(&rs, 0x08, 0x53));
	rs_assert(&rs, 2, (const uint64_t[]){0x01, 0x07, 0x54, 0x5f});
	ASSERT_OK(rangeset_remove(&rs, 0x01, 0x07));
	rs_assert(&rs, 1, (const uint64_t[]){0x54, 0x5f});
	ASSERT_OK(rangeset_remove(&rs, 0x100, 0x200)); /* nothing there: fine */
	rs_assert(&rs, 1, (const uint64_t[]){0x54, 0x5f});
	ASSERT_ERR(rangeset_add(&rs, 5, 4), -EINVAL);
	ASSERT_ERR(rangeset_remove(&rs, 5, 4), -EINVAL);
}

TEST(rangeset_limit)
{
	static struct rangeset rs;

	rangeset_init(&rs, 3);
	ASSERT_OK(rangeset_add(&rs, 10, 10));
	ASSERT_OK(rangeset_add(&rs, 20, 20));
	ASSERT_OK(rangeset_add(&rs, 30, 30));
	ASSERT_ERR(rangeset_add(&rs, 40, 40), -ENOMEM);
	ASSERT_ERR(rangeset_add(&rs, 0, 0), -ENOMEM);
	ASSERT_ERR(rangeset_add(&rs, 15, 15), -ENOMEM);
	rs_assert(&rs, 3, (const uint64_t[]){10, 10, 20, 20, 30, 30});
	/* Growing or merging needs no new range. */
	ASSERT_OK(rangeset_add(&rs, 31, 35));
	ASSERT_OK(rangeset_add(&rs, 11, 19));
	rs_assert(&rs, 2, (const uint64_t[]){10, 20, 30, 35});
	ASSERT_OK(rangeset_add(&rs, 50, 60));
	/* A split at the limit fails and leaves the set as it was. */
	ASSERT_ERR(rangeset_remove(&rs, 15, 15), -ENOMEM);
	rs_assert(&rs, 3, (const uint64_t[]){10, 20, 30, 35, 50, 60});
	ASSERT_OK(rangeset_remove(&rs, 10, 10)); /* a trim needs none */
	ASSERT_OK(rangeset_remove(&rs, 30, 35));
	ASSERT_OK(rangeset_remove(&rs, 15, 15));
	rs_assert(&rs, 3, (const uint64_t[]){11, 14, 16, 20, 50, 60});

	/* The limit is capped at RANGESET_MAX. */
	rangeset_init(&rs, 100000);
	for (uint64_t i = 0; i < RANGESET_MAX; i++)
		ASSERT_OK(rangeset_add(&rs, 3 * i, 3 * i + 1));
	ASSERT_ERR(rangeset_add(&rs, 3 * RANGESET_MAX, 3 * RANGESET_MAX), -ENOMEM);
	ASSERT_EQ(rs.n, RANGESET_MAX);
	ASSERT_TRUE(rangeset_contains(&rs, 3 * 255, 3 * 255 + 1));
	ASSERT_FALSE(rangeset_contains(&rs, 3 * 255 + 1, 3 * 255 + 2));
}

TEST(rangeset_contains_overlaps_edges)
{
	static struct rangeset rs;
	const uint64_t max = UINT64_MAX;

	rangeset_init(&rs, RANGESET_MAX);
	ASSERT_FALSE(rangeset_overlaps(&rs, 0, max));
	ASSERT_FALSE(rangeset_contains(&rs, 0, 0));
	ASSERT_OK(rangeset_add(&rs, 0, 0));
	ASSERT_OK(rangeset_add(&rs, max, max));
	rs_assert(&rs, 2, (const uint64_t[]){0, 0, max, max});
	ASSERT_TRUE(rangeset_contains(&rs, 0, 0));
	ASSERT_TRUE(rangeset_contains(&rs, max, max));
	ASSERT_FALSE(rangeset_contains(&rs, 0, 1));
	ASSERT_FALSE(rangeset_contains(&rs, max - 1, max));
	ASSERT_FALSE(rangeset_contains(&rs, 0, max));
	ASSERT_TRUE(rangeset_overlaps(&rs, 0, max));
	ASSERT_TRUE(rangeset_overlaps(&rs, max - 5, max));
	ASSERT_TRUE(rangeset_overlaps(&rs, 0, 5));
	ASSERT_FALSE(rangeset_overlaps(&rs, 1, max - 1));
	/* Adjacent to both ends: everything becomes one range. */
	ASSERT_OK(rangeset_add(&rs, 1, max - 1));
	rs_assert(&rs, 1, (const uint64_t[]){0, max});
	ASSERT_TRUE(rangeset_contains(&rs, 0, max));
	ASSERT_TRUE(rangeset_contains(&rs, 12345, 67890));
	/* Remove at the edges. */
	ASSERT_OK(rangeset_remove(&rs, max, max));
	rs_assert(&rs, 1, (const uint64_t[]){0, max - 1});
	ASSERT_OK(rangeset_remove(&rs, 0, 0));
	rs_assert(&rs, 1, (const uint64_t[]){1, max - 1});
	ASSERT_FALSE(rangeset_overlaps(&rs, 0, 0));
	ASSERT_FALSE(rangeset_overlaps(&rs, max, max));
	ASSERT_TRUE(rangeset_overlaps(&rs, 0, 1));
	ASSERT_TRUE(rangeset_overlaps(&rs, max - 1, max));
	ASSERT_OK(rangeset_remove(&rs, 0, max));
	ASSERT_EQ(rs.n, 0);
	/* Whole space at once, then split in the middle. */
	ASSERT_OK(rangeset_add(&rs, 0, max));
	ASSERT_OK(rangeset_remove(&rs, 1ull << 63, 1ull << 63));
	rs_assert(&rs, 2, (const uint64_t[]){0, (1ull << 63) - 1, (1ull << 63) + 1, max});
	ASSERT_FALSE(rangeset_contains(&rs, (1ull << 63) - 1, 1ull << 63));
	ASSERT_TRUE(rangeset_overlaps(&rs, (1ull << 63) - 1, 1ull << 63));
	ASSERT_FALSE(rangeset_overlaps(&rs, 1ull << 63, 1ull << 63));
	/* Adding the hole back merges all three. */
	ASSERT_OK(rangeset_add(&rs, 1ull << 63, 1ull << 63));
	rs_assert(&rs, 1, (const uint64_t[]){0, max});
}

/* ---- 19. the scenario runner ---------------------------------------------- */

struct scn_log {
	unsigned n;
	unsigned seen[16];
	struct sim_scn_result res[16];
};

static void scn_cb(void *opaque, const struct sim_scn_result *res)
{
	struct scn_log *log = opaque;

	ASSERT_LT(res->index, 16);
	log->seen[res->index]++;
	log->res[res->index] = *res;
	log->n++;
}

static struct scn_op sop(unsigned kind, unsigned vcpu, unsigned size, uint64_t addr, uint64_t value)
{
	struct scn_op o = {.kind = (uint16_t)kind,
	                   .vcpu = (uint8_t)vcpu,
	                   .size = (uint8_t)size,
	                   .addr = addr,
	                   .value = value,
	                   .mask = ones(size)};
	return o;
}

TEST(scenario_two_vcpus_barrier)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 2, 0);
	uint16_t id = srv_new(sim, dom, BUF_OFF, PORT, 0x510, 0x51f);
	struct rawdm dm;
	struct scn_log log = {0};
	struct sim_scn_summary sum;
	struct scn_op ops[] = {
	        sop(SCN_PIO_OUT, 0, 4, 0x510, 0xaa),
	        sop(SCN_PIO_OUT, 1, 4, 0x514, 0xbb),
	        sop(SCN_PIO_OUT, 1, 1, 0x518, 0xcc),
	        sop(SCN_BARRIER, 0, 0, 0, 0),
	        sop(SCN_BARRIER, 1, 0, 0, 0),
	        sop(SCN_PIO_IN, 0, 2, 0x510, 0x1234),
	        sop(SCN_PIO_IN, 1, 2, 0x512, 0x1234),
	        sop(SCN_PCI_READ, 1, 2, 0x0, 0xffff),
	        sop(SCN_MMIO_READ, 0, 8, 0x1000, ~0ull),
	};
	unsigned n = sizeof(ops) / sizeof(ops[0]);

	rawdm_start(&dm, sim, dom, id, 0x1234);
	ASSERT_OK(sim_run_scenario(sim, dom, ops, n, 5000, scn_cb, &log, &sum));
	ASSERT_EQ(log.n, n);
	for (unsigned i = 0; i < n; i++) {
		ASSERT_EQ(log.seen[i], 1);
		ASSERT_EQ(log.res[i].status, SIM_SCN_PASS);
	}
	ASSERT_EQ_U(log.res[5].actual, 0x1234);
	ASSERT_EQ(sum.passed, n);
	ASSERT_EQ(sum.failed, 0);
	ASSERT_EQ(sum.not_run, 0);
	ASSERT_FALSE(sum.crashed);
	/* The barrier: all three writes reached the DM before either read. */
	ASSERT_EQ(rawdm_count(&dm), 5);
	for (unsigned i = 0; i < 3; i++)
		ASSERT_EQ(rawdm_rec(&dm, i).dir, IOREQ_WRITE);
	for (unsigned i = 3; i < 5; i++)
		ASSERT_EQ(rawdm_rec(&dm, i).dir, IOREQ_READ);
	/* Each on its own vCPU's slot. */
	for (unsigned i = 0; i < 5; i++) {
		struct rawdm_rec r = rawdm_rec(&dm, i);
		ASSERT_EQ(r.vcpu, r.addr == 0x510 ? 0 : 1);
	}
	rawdm_stop(&dm);
	sim_free(sim);
}

TEST(scenario_wrong_value_fails)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 2, 0);
	uint16_t id = srv_new(sim, dom, BUF_OFF, PORT, 0x510, 0x51f);
	struct rawdm dm;
	struct scn_log log = {0};
	struct sim_scn_summary sum;
	struct scn_op ops[] = {
	        sop(SCN_PIO_IN, 0, 2, 0x510, 0x1),
	        sop(SCN_PIO_IN, 0, 2, 0x510, 0x1234),
	        sop(SCN_PIO_IN, 1, 4, 0x510, 0x0),
	};

	ops[2].mask = 0xff00; /* only these bits are compared */
	rawdm_start(&dm, sim, dom, id, 0x1234);
	ASSERT_OK(sim_run_scenario(sim, dom, ops, 3, 5000, scn_cb, &log, &sum));
	ASSERT_EQ(log.n, 3);
	ASSERT_EQ(log.res[0].status, SIM_SCN_FAIL);
	ASSERT_EQ_U(log.res[0].actual, 0x1234);
	ASSERT_EQ(log.res[1].status, SIM_SCN_PASS); /* a failure does not stop the vCPU */
	ASSERT_EQ(log.res[2].status, SIM_SCN_FAIL);
	ASSERT_EQ_U(log.res[2].actual, 0x1234);
	ASSERT_EQ(sum.passed, 1);
	ASSERT_EQ(sum.failed, 2);
	ASSERT_EQ(sum.not_run, 0);

	/* More vCPUs than the domain has. */
	ops[2].vcpu = 3;
	log = (struct scn_log){0};
	ASSERT_ERR(sim_run_scenario(sim, dom, ops, 3, 5000, scn_cb, &log, &sum), -EXDEV);
	ASSERT_EQ(log.n, 0);
	ASSERT_EQ(rawdm_count(&dm), 3);
	ASSERT_ERR(sim_run_scenario(sim, dom, ops, 0, 5000, scn_cb, &log, &sum), -EINVAL);
	ASSERT_ERR(sim_run_scenario(sim, dom + 5, ops, 1, 5000, scn_cb, &log, &sum), -ESRCH);
	rawdm_stop(&dm);
	sim_free(sim);
}

TEST(scenario_ops_after_crash_not_run)
{
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 2, 0);
	uint16_t id = srv_new(sim, dom, BUF_OFF, PORT, 0x510, 0x51f);
	struct rawdm dm;
	struct scn_log log = {0};
	struct sim_scn_summary sum;
	struct scn_op ops[] = {
	        sop(SCN_PIO_IN, 0, 1, 0x510, 0x0), sop(SCN_BARRIER, 0, 0, 0, 0),
	        sop(SCN_PIO_IN, 0, 1, 0x511, 0x0), sop(SCN_BARRIER, 1, 0, 0, 0),
	        sop(SCN_PIO_IN, 1, 1, 0x512, 0x0),
	};

	rawdm_start(&dm, sim, dom, id, 0);
	rawdm_set(&dm, RAWDM_BAD_STATE, 9);
	ASSERT_OK(sim_run_scenario(sim, dom, ops, 5, 5000, scn_cb, &log, &sum));
	ASSERT_EQ(log.n, 5);
	for (unsigned i = 0; i < 5; i++) {
		ASSERT_EQ(log.seen[i], 1);
		ASSERT_EQ(log.res[i].status, SIM_SCN_NOT_RUN);
	}
	ASSERT_EQ(sum.not_run, 5);
	ASSERT_EQ(sum.passed + sum.failed, 0);
	ASSERT_TRUE(sum.crashed);
	ASSERT_CONTAINS(sum.reason, "Weird HVM iorequest state 9");
	ASSERT_EQ(rawdm_count(&dm), 1);
	rawdm_stop(&dm);
	sim_free(sim);
}

/* ---- resources ------------------------------------------------------------ */

TEST(no_fd_leak)
{
	int before = util_count_fds();
	struct sim *sim = sim_start();
	uint32_t dom = dom_new(sim, "d", 4, SIM_DOMAIN_F_STDVGA);
	uint16_t a = srv_new(sim, dom, BUF_ATOMIC, MMIO, 0xa0000, 0xbffff);
	uint16_t b = srv_new(sim, dom, BUF_OFF, PORT, 0x510, 0x51f);
	struct rawdm da, db;

	ASSERT_GT(before, 0);
	rawdm_start(&da, sim, dom, a, 0);
	rawdm_start(&db, sim, dom, b, 0);
	vga_write(sim, dom, 0xa0000, 1, 1);
	ASSERT_EQ_U(io_read(sim, dom, 3, IOREQ_TYPE_PIO, 0x510, 1), 0);
	ASSERT_OK(sim_server_destroy(sim, dom, b));
	rawdm_stop(&da);
	rawdm_stop(&db);
	sim_free(sim);
	ASSERT_EQ(util_count_fds(), before);
}
