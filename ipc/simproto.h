/* SPDX-License-Identifier: MIT */
/*
 * The simulator's socket protocol (frames of ipc/frame.h over
 * SOCK_SEQPACKET).  Two groups of requests share it:
 *
 *  - "hypercalls", what hv/hv_sim.c sends on the broker's behalf: the
 *    ioreq-server DM ops, acquire_resource (pages as memfds), event-channel
 *    binding (ports as eventfds), interrupt injection, domain info and
 *    lifecycle watches;
 *  - "toolstack" requests, what dmbsimctl and tests send: create and destroy
 *    domains, run scenarios, read counters, trigger INVALIDATE/TIMEOFFSET.
 *
 * Every request gets exactly one SIM_REPLY with the same id (a scenario run
 * also streams SIM_SCN_RESULT frames before it).  Watchers receive
 * SIM_EVENT frames at any time.
 */
#ifndef DMB_IPC_SIMPROTO_H
#define DMB_IPC_SIMPROTO_H

#include <stdint.h>

#include "sim/scenario.h"

#define SIM_DEFAULT_SOCKET "/run/dmb-sim/sim.sock"
#define SIM_NAME_MAX       64
#define SIM_MAX_DOMAINS    1024
#define SIM_LIST_MAX       256
#define SIM_SCN_CHUNK      256 /* ops per SIM_SCN_LOAD frame */

enum sim_msg {
	/* hypercalls */
	SIM_DOMAIN_INFO = 1,
	SIM_DOMAIN_LIST = 2,
	SIM_DOMAIN_PAUSE = 3,
	SIM_DOMAIN_UNPAUSE = 4,
	SIM_DOMAIN_SHUTDOWN = 5,
	SIM_SERVER_CREATE = 10,
	SIM_SERVER_DESTROY = 11,
	SIM_MAP_RANGE = 12,
	SIM_SERVER_STATE = 13,
	SIM_SERVER_PAGES = 14, /* reply fds: ioreq page [, buffered page] */
	SIM_SERVER_PORTS = 15, /* reply fds: ipc/simchan.h order */
	SIM_ISA_IRQ = 20,
	SIM_PCI_INTX = 21,
	SIM_MSI = 22,
	SIM_WATCH = 30,
	/* toolstack */
	SIM_DOMAIN_CREATE = 40,
	SIM_DOMAIN_DESTROY = 41,
	SIM_DOMAIN_STATS = 42,
	SIM_SCN_LOAD = 43,
	SIM_SCN_RUN = 44,
	SIM_INVALIDATE = 45,
	SIM_TIMEOFFSET = 46,
	SIM_FAULT = 47, /* fault injection for tests: a32[0] op, a32[1] skip, a32[2] errno */
	/* simulator -> client */
	SIM_REPLY = 100,
	SIM_EVENT = 101,
	SIM_SCN_RESULT = 102,
};

/* SIM_FAULT: make a domain's next call of this kind fail (after `skip` that succeed). */
enum sim_fault_op {
	SIM_FAULT_NONE = 0,
	SIM_FAULT_CREATE = 1, /* create ioreq server */
	SIM_FAULT_MAP = 2,    /* map a range or PCI device */
	SIM_FAULT_STATE = 3,  /* enable / disable a server */
	SIM_FAULT_PAGES = 4,  /* acquire a server's pages */
	SIM_FAULT_PORTS = 5,  /* bind a server's ports */
};

/* SIM_DOMAIN_CREATE flags (a32[1]). */
#define SIM_DOMAIN_F_PAUSED (1u << 0) /* created paused, as xl create -p */
#define SIM_DOMAIN_F_STDVGA (1u << 1) /* emulate stdvga's buffered VGA-memory writes */
#define SIM_DOMAIN_F_POLL   (1u << 2) /* vCPUs spin before blocking on their port */

/* The request payload: one fixed layout for every request type. */
struct sim_req {
	uint32_t domid;
	uint32_t id;     /* ioreq server id */
	uint32_t a32[4]; /* per request: see sim/simd.c dispatch table */
	uint64_t a64[4];
	char name[SIM_NAME_MAX];
};

struct sim_domain_info {
	uint32_t domid;
	uint32_t nr_vcpus;
	uint32_t paused;
	uint32_t shutdown;
	uint32_t crashed;
	uint32_t reserved;
	char name[SIM_NAME_MAX];
};

struct sim_domain_stats {
	uint64_t ioreqs_sent;     /* synchronous requests delivered to servers */
	uint64_t buffered_sent;   /* buffered-ring writes */
	uint64_t buffered_full;   /* full ring: sent synchronously instead */
	uint64_t unclaimed_reads; /* answered with all ones, no server */
	uint64_t unclaimed_writes;
	uint64_t invalidates;
	uint64_t msi_total;
	uint64_t pci_intx_asserts;
	uint64_t msi_by_vector[256 / 64]; /* bitmap: vectors that arrived at least once */
	uint32_t isa_irq_levels;          /* bit n = ISA IRQ n asserted */
	uint32_t crashed;
	char crash_reason[128];
};

struct sim_reply {
	int32_t result; /* 0, a non-negative value, or -errno */
	uint32_t reserved;
	union {
		struct sim_domain_info info;
		struct sim_domain_stats stats;
		struct {
			uint32_t n;
			uint32_t domids[SIM_LIST_MAX];
		} list;
		struct {
			uint32_t nr_vcpus;
			uint32_t has_buf;
			uint32_t port[64];
			uint32_t buf_port;
		} ports;
		struct {
			uint32_t passed;
			uint32_t failed;
			uint32_t not_run;
			uint32_t crashed;
			char reason[128];
		} scn;
		uint8_t raw[1088];
	} u;
};

enum { SIM_EV_DOMAIN_NEW = 1, SIM_EV_DOMAIN_GONE = 2 };

struct sim_event {
	uint32_t kind; /* SIM_EV_* (the same values as HV_EVENT_*) */
	uint32_t domid;
};

/* SIM_SCN_LOAD payload: ops [offset, offset + n) of a table of total ops. */
struct sim_scn_chunk {
	uint32_t domid;
	uint32_t total;
	uint32_t offset;
	uint32_t n;
	struct scn_op ops[SIM_SCN_CHUNK];
};

/* One op's outcome, streamed during SIM_SCN_RUN in completion order. */
struct sim_scn_result {
	uint32_t index;  /* into the loaded table */
	uint32_t status; /* SIM_SCN_PASS / FAIL / NOT_RUN */
	uint64_t actual; /* value read (reads) */
	uint64_t ns;     /* round-trip time of the op */
};

enum { SIM_SCN_PASS = 0, SIM_SCN_FAIL = 1, SIM_SCN_NOT_RUN = 2 };

#endif
