/* SPDX-License-Identifier: MIT */
/*
 * The broker <-> device model protocol, on the SOCK_SEQPACKET socket that a
 * device model inherits as fd 3.  Every payload below has a fixed size and
 * is checked exactly (frame_get); fds travel only with DMP_PAGES and
 * DMP_PORTS.  The DM is untrusted: the broker validates everything it
 * sends, in daemon/dmchan.c, with one dispatch table per DM state.
 *
 * Sequence (docs/protocol.md):
 *   broker -> DM   DMP_HELLO, DMP_CLAIMS x3, DMP_PAGES(fds)
 *                  DMP_KEEP(fds)              (the broker's ends, held for its restart)
 *   DM -> broker   DMP_READY                  (pages mapped, devices initialised)
 *   broker -> DM   DMP_PORTS(fds)             (server enabled, ports bound)
 *   then           DMP_DMOP -> DMP_DMOP_REPLY, DMP_STATS_REQ -> DMP_STATS,
 *                  DMP_SHUTDOWN
 */
#ifndef DMB_IPC_DMPROTO_H
#define DMB_IPC_DMPROTO_H

#include <stdint.h>

#include "ipc/ioreq.h"

#define DMP_FD           3   /* the device model's end of the socket */
/*
 * The broker's own ends, kept alive by the device model so that a broker
 * that restarts can take them back (pidfd_getfd) and find its device models
 * exactly as they were: the channel's other end, the read ends of its
 * stdout and stderr pipes, and on Xen its event-channel fd.  The device
 * model never uses 4 to 6 (it could only talk to itself through them).
 */
#define DMP_KEEP_CHANNEL_FD 4
#define DMP_KEEP_STDOUT_FD  5
#define DMP_KEEP_STDERR_FD  6
#define DMP_KEEP_EVTCHN_FD  7
#define DMP_MAX_RANGES   256 /* Xen's MAX_NR_IO_RANGES, per type */
#define DMP_MAX_VCPUS    IOREQ_MAX_VCPUS
#define DMP_NAME_MAX     32
#define DMP_MAX_PORT_FDS (2 * 64 + 3) /* the simulator's transport, see ipc/simchan.h */

enum dmp_type {
	/* broker -> DM */
	DMP_HELLO = 1,
	DMP_CLAIMS = 2,
	DMP_PAGES = 3,
	DMP_PORTS = 4,
	DMP_DMOP_REPLY = 5,
	DMP_STATS_REQ = 6,
	DMP_SHUTDOWN = 7,
	DMP_KEEP = 8,
	/* DM -> broker */
	DMP_READY = 64,
	DMP_DMOP = 65,
	DMP_STATS = 66,
};

#define DMP_HELLO_POLL        (1u << 0) /* poll the slots before blocking */
#define DMP_HELLO_SECCOMP_LOG (1u << 1) /* allow-list logs instead of killing (writing profiles) */

struct dmp_hello {
	uint32_t domid;
	uint16_t server_id;
	uint16_t nr_vcpus;
	uint32_t flags;    /* DMP_HELLO_* */
	uint32_t poll_us;  /* with DMP_HELLO_POLL: how long to spin before blocking */
	uint32_t bufioreq; /* HVM_IOREQSRV_BUFIOREQ_* the server was created with */
	uint32_t reserved;
	char name[DMP_NAME_MAX]; /* NUL-terminated device model name */
};

enum dmp_claim_kind {
	DMP_CLAIM_PORT = 0, /* = XEN_DMOP_IO_RANGE_PORT */
	DMP_CLAIM_MMIO = 1, /* = XEN_DMOP_IO_RANGE_MEMORY */
	DMP_CLAIM_PCI = 2,  /* = XEN_DMOP_IO_RANGE_PCI; start = end = SBDF */
	DMP_CLAIM_KINDS = 3,
};

struct dmp_range {
	uint64_t start;
	uint64_t end; /* inclusive */
};

struct dmp_claims {
	uint32_t kind; /* enum dmp_claim_kind */
	uint32_t n;    /* entries used in r[] */
	struct dmp_range r[DMP_MAX_RANGES];
};

enum dmp_pages_kind {
	DMP_PAGES_MEMFD = 1,   /* fds: ioreq page memfd [, buffered page memfd] */
	DMP_PAGES_PRIVCMD = 2, /* fds: privcmd restricted to domid; map with MMAP_RESOURCE */
};

struct dmp_pages {
	uint32_t kind; /* enum dmp_pages_kind */
	uint32_t domid;
	uint32_t server_id;
	uint32_t has_buf; /* a buffered ioreq page exists */
};

enum dmp_ports_kind {
	DMP_PORTS_SIM = 1,    /* fds: see ipc/simchan.h */
	DMP_PORTS_EVTCHN = 2, /* fds: one /dev/xen/evtchn fd, ports bound, restricted */
};

struct dmp_ports {
	uint32_t kind; /* enum dmp_ports_kind */
	uint32_t nr_vcpus;
	uint32_t has_buf;
	uint32_t buf_port;            /* local port of the buffered ring */
	uint32_t port[DMP_MAX_VCPUS]; /* local port of each vCPU */
};

enum dmp_dmop_op {
	DMP_DMOP_ISA_IRQ = 1,  /* isa_irq: irq, level */
	DMP_DMOP_PCI_INTX = 2, /* pci_intx: sbdf, pin (0 = INTA), level */
	DMP_DMOP_MSI = 3,      /* msi: addr, data */
	DMP_DMOP_BAR_MOVE = 4, /* bar: sbdf, bar, old_base, new_base, size */
};

struct dmp_dmop {
	uint32_t op; /* enum dmp_dmop_op */
	uint32_t reserved;
	union {
		struct {
			uint32_t irq;
			uint32_t level;
		} isa_irq;
		struct {
			uint32_t sbdf;
			uint32_t pin;
			uint32_t level;
		} pci_intx;
		struct {
			uint64_t addr;
			uint32_t data;
		} msi;
		struct {
			uint32_t sbdf;
			uint32_t bar;
			uint64_t old_base;
			uint64_t new_base;
			uint64_t size;
		} bar;
		uint8_t raw[32];
	} u;
};

/* DMP_KEEP: fds [the broker's channel end, stdout read end, stderr read end]. */
struct dmp_keep {
	uint32_t nfds; /* 3 */
	uint32_t reserved;
};

struct dmp_dmop_reply {
	int32_t result; /* 0 or negative errno; frame id echoes the request id */
	uint32_t reserved;
};

struct dmp_stats {
	uint64_t served[4]; /* pio, mmio, pci-config, other (timeoffset/invalidate) */
	uint64_t buffered;  /* buffered-ring writes consumed */
	uint64_t invalid;   /* requests that failed validation (answered as unclaimed) */
	uint64_t dmops;     /* DM-op requests sent */
	uint64_t reserved;
};

_Static_assert(sizeof(struct dmp_hello) == 56, "dmp_hello layout");
_Static_assert(sizeof(struct dmp_claims) == 8 + 16 * DMP_MAX_RANGES, "dmp_claims layout");
_Static_assert(sizeof(struct dmp_dmop) == 40, "dmp_dmop layout");

#endif
