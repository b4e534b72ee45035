/* SPDX-License-Identifier: MIT */
/*
 * The hypervisor interface: everything the broker asks of Xen, named after
 * what it does.  Two backends implement it: hv/hv_sim.c (the simulator, over
 * its socket) and hv/hv_xen.c (libxendevicemodel, libxenforeignmemory,
 * libxenevtchn, libxenstore and a little libxenctrl).
 *
 * Every call returns 0 or a negative errno and logs nothing; the caller logs
 * once, with the operation, domain and error.  Output parameters are written
 * only on success.
 *
 * What a device model needs to map its pages and wait on its ports leaves
 * the broker as a struct dmp_pages / dmp_ports plus fds (ipc/dmproto.h):
 * memfds or a restricted privcmd fd, eventfds or a restricted evtchn fd.
 * The broker forwards them without looking inside.
 */
#ifndef DMB_HV_HV_H
#define DMB_HV_HV_H

#include <stdbool.h>
#include <stdint.h>

#include "ipc/dmproto.h"
#include "ipc/ioreq.h"

#define HV_MAX_SERVERS     8   /* MAX_NR_IOREQ_SERVERS */
#define HV_MAX_RANGES      256 /* MAX_NR_IO_RANGES, per type per server */
#define HV_DOMAIN_NAME_MAX 64

struct hv;
struct hv_pages;
struct hv_ports;

enum hv_bufioreq {
	HV_BUFIOREQ_OFF = 0,    /* HVM_IOREQSRV_BUFIOREQ_OFF */
	HV_BUFIOREQ_LEGACY = 1, /* HVM_IOREQSRV_BUFIOREQ_LEGACY */
	HV_BUFIOREQ_ATOMIC = 2, /* HVM_IOREQSRV_BUFIOREQ_ATOMIC */
};

enum hv_range_type {
	HV_RANGE_PORT = 0, /* XEN_DMOP_IO_RANGE_PORT */
	HV_RANGE_MMIO = 1, /* XEN_DMOP_IO_RANGE_MEMORY */
	HV_RANGE_PCI = 2,  /* XEN_DMOP_IO_RANGE_PCI (use hv_map_pcidev) */
};

struct hv_domain_info {
	uint32_t domid;
	unsigned nr_vcpus;
	bool paused;
	bool shutdown; /* shut down or crashed, not yet destroyed */
	bool dying;
	char name[HV_DOMAIN_NAME_MAX];
};

enum hv_event_kind {
	HV_EVENT_DOMAIN_NEW = 1,  /* a domain appeared (on Xen: introduced, @introduceDomain) */
	HV_EVENT_DOMAIN_GONE = 2, /* a domain is dying or destroyed (@releaseDomain) */
};

struct hv_event {
	enum hv_event_kind kind;
	uint32_t domid;
};

enum hv_shutdown_reason {
	HV_SHUTDOWN_POWEROFF = 0, /* SHUTDOWN_poweroff */
	HV_SHUTDOWN_CRASH = 3,    /* SHUTDOWN_crash */
};

struct hv_ops {
	const char *name;
	void (*close)(struct hv *hv);
	int (*domain_info)(struct hv *hv, uint32_t domid, struct hv_domain_info *ret);
	int (*domain_list)(struct hv *hv, uint32_t *domids, unsigned max, unsigned *ret_n);
	int (*domain_pause)(struct hv *hv, uint32_t domid);
	int (*domain_unpause)(struct hv *hv, uint32_t domid);
	int (*domain_shutdown)(struct hv *hv, uint32_t domid, enum hv_shutdown_reason reason);
	int (*domain_destroy)(struct hv *hv, uint32_t domid);
	int (*create_server)(struct hv *hv, uint32_t domid, enum hv_bufioreq buf, uint16_t *ret_id);
	int (*destroy_server)(struct hv *hv, uint32_t domid, uint16_t id);
	int (*map_range)(struct hv *hv, uint32_t domid, uint16_t id, enum hv_range_type type,
	                 uint64_t start, uint64_t end, bool map);
	int (*set_server_state)(struct hv *hv, uint32_t domid, uint16_t id, bool enabled);
	int (*pages_open)(struct hv *hv, uint32_t domid, uint16_t id, struct hv_pages **ret);
	int (*ports_bind)(struct hv *hv, uint32_t domid, uint16_t id, unsigned nr_vcpus,
	                  struct hv_pages *pages, struct hv_ports **ret);
	/* Ports a previous broker bound, from the fd a device model kept (Xen), or again (sim). */
	int (*ports_adopt)(struct hv *hv, uint32_t domid, uint16_t id, unsigned nr_vcpus,
			   struct hv_pages *pages, int fd, const struct dmp_ports *known,
			   struct hv_ports **ret);
	int (*set_isa_irq_level)(struct hv *hv, uint32_t domid, uint8_t irq, unsigned level);
	int (*set_pci_intx_level)(struct hv *hv, uint32_t domid, uint32_t sbdf, uint8_t pin,
	                          unsigned level);
	int (*inject_msi)(struct hv *hv, uint32_t domid, uint64_t addr, uint32_t data);
	int (*event_fd)(struct hv *hv);
	int (*event_next)(struct hv *hv, struct hv_event *ret);
};

/* Every backend's handle starts with this. */
struct hv {
	const struct hv_ops *ops;
};

/*
 * The broker's own view of a server's pages, and the means to give a device
 * model its own mapping of them.  Backend-owned; freed with hv_pages_free().
 */
struct hv_pages {
	void (*free)(struct hv_pages *pg);
	/* Fill a DMP_PAGES message and fresh fds for one device model (caller closes them). */
	int (*export)(struct hv_pages *pg, struct dmp_pages *msg, int *fds, unsigned *nfds);
	shared_iopage_t *ioreq;      /* the broker's mapping of the synchronous page */
	buffered_iopage_t *bufioreq; /* NULL when the server has no buffered ring */
	uint32_t domid;
	uint16_t server_id;
};

/*
 * A server's per-vCPU ports, bound by the broker.  They stay bound while the
 * broker holds this object, so a restarted device model gets the same ones.
 */
struct hv_ports {
	void (*free)(struct hv_ports *po);
	/* Fill a DMP_PORTS message; fds stay owned by the object (borrowed for sending). */
	int (*export)(struct hv_ports *po, struct dmp_ports *msg, int *fds, unsigned *nfds);
	/* Signal vCPU i's port from the device-model side (wakes the vCPU). */
	int (*notify)(struct hv_ports *po, unsigned vcpu);
	unsigned nr_vcpus;
};

/* Backends. */
int hv_sim_open(const char *socket_path, struct hv **ret);
int hv_xen_open(struct hv **ret);
/* "sim[:SOCKET]" or "xen". */
int hv_open(const char *spec, struct hv **ret);
void hv_close(struct hv *hv);
const char *hv_name(const struct hv *hv);

int hv_domain_info(struct hv *hv, uint32_t domid, struct hv_domain_info *ret);
int hv_domain_list(struct hv *hv, uint32_t *domids, unsigned max, unsigned *ret_n);
int hv_domain_pause(struct hv *hv, uint32_t domid);
int hv_domain_unpause(struct hv *hv, uint32_t domid);
int hv_domain_shutdown(struct hv *hv, uint32_t domid, enum hv_shutdown_reason reason);
int hv_domain_destroy(struct hv *hv, uint32_t domid);

int hv_create_server(struct hv *hv, uint32_t domid, enum hv_bufioreq buf, uint16_t *ret_id);
int hv_destroy_server(struct hv *hv, uint32_t domid, uint16_t id);
int hv_map_range(struct hv *hv, uint32_t domid, uint16_t id, enum hv_range_type type,
                 uint64_t start, uint64_t end);
int hv_unmap_range(struct hv *hv, uint32_t domid, uint16_t id, enum hv_range_type type,
                   uint64_t start, uint64_t end);
int hv_map_pcidev(struct hv *hv, uint32_t domid, uint16_t id, uint32_t sbdf);
int hv_unmap_pcidev(struct hv *hv, uint32_t domid, uint16_t id, uint32_t sbdf);
int hv_set_server_state(struct hv *hv, uint32_t domid, uint16_t id, bool enabled);

/* Map the server's pages into the caller (and prepare to hand them out). */
int hv_pages_open(struct hv *hv, uint32_t domid, uint16_t id, struct hv_pages **ret);
void hv_pages_free(struct hv_pages *pg);
/* Bind the server's ports; the server must be enabled (Xen writes vp_eport then). */
int hv_ports_bind(struct hv *hv, uint32_t domid, uint16_t id, unsigned nr_vcpus,
                  struct hv_pages *pages, struct hv_ports **ret);
void hv_ports_free(struct hv_ports *po);
/*
 * After a broker restart: the ports its predecessor bound.  fd (owned by the
 * call) is the event-channel fd the device model kept, known the port
 * numbers recorded in the state file; on the simulator the ports are simply
 * bound again.
 */
int hv_ports_adopt(struct hv *hv, uint32_t domid, uint16_t id, unsigned nr_vcpus,
		   struct hv_pages *pages, int fd, const struct dmp_ports *known,
		   struct hv_ports **ret);

/*
 * Answer every request left in flight on this server as Xen answers
 * unclaimed I/O (reads all ones, writes dropped) and wake its vCPU, so that
 * no vCPU stays blocked on a device model that died.  Returns the number of
 * requests completed.
 */
int hv_release_inflight(struct hv_pages *pg, struct hv_ports *po);

int hv_set_isa_irq_level(struct hv *hv, uint32_t domid, uint8_t irq, unsigned level);
int hv_set_pci_intx_level(struct hv *hv, uint32_t domid, uint32_t sbdf, uint8_t pin,
                          unsigned level);
int hv_inject_msi(struct hv *hv, uint32_t domid, uint64_t addr, uint32_t data);

/* Domain lifecycle: poll event_fd for reading, then drain with hv_event_next (-EAGAIN: none). */
int hv_event_fd(struct hv *hv);
int hv_event_next(struct hv *hv, struct hv_event *ret);

const char *hv_range_name(enum hv_range_type type);

#endif
