/* SPDX-License-Identifier: MIT */
/* The simulator's internal structures, shared by sim/sim.c, sim/ioreq.c and sim/runner.c. */
#ifndef DMB_SIM_SIM_INTERNAL_H
#define DMB_SIM_SIM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "ipc/ioreq.h"
#include "ipc/simchan.h"
#include "sim/rangeset.h"
#include "sim/sim.h"

#define SIM_DEFAULT_POLL_NS 50000u
#define SIM_DOMID_LIMIT     0x7ff0u /* DOMID_FIRST_RESERVED */

struct sim_port {
	uint32_t port; /* the guest-side event channel number (vp_eport) */
	int to_dm;     /* eventfd: the simulator signals the device model */
	int to_sim;    /* eventfd: the device model signals the vCPU */
};

struct sim_server {
	atomic_int refs;
	uint16_t id;
	unsigned bufioreq;
	bool enabled;
	bool dead;                /* destroyed; waiters bail out */
	struct rangeset range[3]; /* indexed by XEN_DMOP_IO_RANGE_* */
	int ioreq_fd, buf_fd, chan_fd;
	shared_iopage_t *ioreq;
	buffered_iopage_t *buf;
	struct simchan_page *chan;
	unsigned nr_vcpus;
	struct sim_port port[SIMCHAN_MAX_VCPUS];
	struct sim_port buf_port;
};

struct sim_vcpu {
	unsigned id;
	atomic_bool busy;           /* a thread is playing this vCPU */
	pthread_t thread;           /* valid while busy, for wake-ups */
	atomic_bool abort;          /* stop waiting (scenario timeout) */
	atomic_bool invalidate;     /* INVALIDATE to broadcast before the next access */
	struct sim_server *pending; /* request sent, answer not yet consumed */
	uint32_t msi_seen[256];     /* MSIs consumed by this vCPU's msi ops */
};

struct sim_domain {
	atomic_int refs;
	struct sim *sim;
	uint32_t domid;
	char name[SIM_NAME_MAX];
	uint32_t flags;
	pthread_mutex_t lock; /* servers, ranges, state, stats, cf8 latch */
	pthread_cond_t cond;  /* pause/unpause, MSI arrival, barriers */
	bool paused, shutdown, crashed, dying;
	char crash_reason[128];
	uint32_t pci_cf8;
	uint32_t next_port;
	uint32_t poll_ns;
	struct sim_server *server[SIM_MAX_SERVERS];
	unsigned nr_vcpus;
	struct sim_vcpu *vcpu;
	struct sim_domain_stats stats;
	uint32_t msi_count[256];
	struct {
		unsigned op, skip;
		int err;
	} fault; /* SIM_FAULT: one injected failure */
};

struct sim {
	pthread_mutex_t lock; /* the domain table */
	struct sim_domain *dom[SIM_MAX_DOMAINS];
	struct sim_domain *by_id[SIM_DOMID_LIMIT]; /* O(1) lookup on every guest access */
	uint32_t next_domid;
	sim_event_fn event_fn;
	void *event_opaque;
};

/* sim.c */
struct sim_domain *sim_domain_get(struct sim *sim, uint32_t domid);
void sim_domain_put(struct sim_domain *d);
void sim_server_put(struct sim_server *s);
/* Crash only this domain, as Xen's domain_crash(); d->lock held. */
void sim_domain_crash_locked(struct sim_domain *d, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Wake every thread blocked on this domain (crash, destroy, abort). */
void sim_domain_kick_locked(struct sim_domain *d);
void sim_thread_kick(pthread_t t);
int sim_vcpu_claim(struct sim_domain *d, unsigned vcpu);
void sim_vcpu_release(struct sim_domain *d, unsigned vcpu);

/* ioreq.c */
int sim_ioreq_access(struct sim_domain *d, struct sim_vcpu *v, unsigned type, unsigned dir,
                     uint64_t addr, unsigned size, uint64_t *data);
int sim_ioreq_finish_pending(struct sim_domain *d, struct sim_vcpu *v);
int sim_ioreq_broadcast_invalidate(struct sim_domain *d, struct sim_vcpu *v);
int sim_ioreq_send_buffered_locked(struct sim_domain *d, struct sim_server *s, const ioreq_t *p);

#endif
