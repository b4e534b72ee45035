/* SPDX-License-Identifier: MIT */
/* libdmb internals shared by dm/dmb.c and the transports (dm/transport_*.c). */
#ifndef DMB_DM_DMB_INTERNAL_H
#define DMB_DM_DMB_INTERNAL_H

#include "dm/dmb.h"
#include "dm/req.h"
#include "ipc/dmproto.h"
#include "ipc/frame.h"

struct dmb;

/* How pages are mapped and ports waited on: the simulator's or Xen's way. */
struct dmb_transport {
	/* Wait for a port event or the broker channel; returns DMB_WAKE_* bits or -errno. */
	int (*wait)(struct dmb *d, int timeout_ms);
	void (*notify)(struct dmb *d, unsigned vcpu);
	/* Tell the hypervisor side we are (not) spinning on the slots (simulator only). */
	void (*polling)(struct dmb *d, bool on);
	void (*close)(struct dmb *d);
};

#define DMB_WAKE_PORTS   1
#define DMB_WAKE_CHANNEL 2

struct dmb {
	const struct dmb_ops *ops;
	void *opaque;
	int fd; /* the broker channel */
	struct dmp_hello hello;
	char name[DMP_NAME_MAX];
	struct dmb_claims claims;
	shared_iopage_t *ioreq;
	buffered_iopage_t *buf;
	const struct dmb_transport *tr;
	void *tr_priv;
	int epoll_fd;
	uint32_t poll_us;
	uint32_t next_id;
	struct dmp_stats stats;
	bool shutdown;
	bool broker_gone;
	struct frame *frame;
	uint64_t invalid_logged_ns;
	enum dmb_profile profile;
	bool no_lockdown;
	bool xen; /* the ports are Xen event channels */
	bool kept; /* holds the broker\'s ends (DMP_KEEP) */
};

/* Map the pages a DMP_PAGES frame carries (takes its fds). */
int dmb_pages_map_memfd(struct dmb *d, struct frame *f, const struct dmp_pages *msg);
int dmb_pages_map_privcmd(struct dmb *d, struct frame *f, const struct dmp_pages *msg);
void dmb_pages_unmap(struct dmb *d);

/* Narrow the process to the profile's allow-list (dm/lockdown.c). */
int dmb_lockdown(struct dmb *d, enum dmb_profile profile, bool xen, bool log_only);

/* Move fd to exactly target if that number is free (dm/dmb.c). */
int dmb_place_fd(int fd, int target);

/* Set up the transport from a DMP_PORTS frame (takes its fds). */
int dmb_transport_sim(struct dmb *d, struct frame *f, const struct dmp_ports *msg);
int dmb_transport_evtchn(struct dmb *d, struct frame *f, const struct dmp_ports *msg);

#endif
