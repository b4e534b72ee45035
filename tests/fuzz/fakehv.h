/* SPDX-License-Identifier: MIT */
/*
 * What the broker's fuzz targets run on instead of a hypervisor and of
 * real device-model processes:
 *
 *  - a fake struct hv that keeps, per domain, the ioreq servers and their
 *    mapped ranges the way Xen's rangesets would (overlap within a server
 *    is -EEXIST, unmapping what is not mapped -ENOENT, 256 ranges per type),
 *    calls a target's hook before every operation (where the target checks
 *    that the policy allowed it), and fails operations on demand from a
 *    "fault stream" taken from the fuzz input;
 *  - pages and ports objects backed by plain memory and one eventfd;
 *  - a wrapped sandbox_spawn() (the link uses --wrap=sandbox_spawn): no
 *    process is ever started.  It either fails, or hands the test the
 *    device model's end of the channel and of its stdout/stderr pipes,
 *    with an eventfd as "pidfd" (waitid(P_PIDFD) refuses it with EBADF)
 *    and a pid beyond the kernel's PID_MAX_LIMIT;
 *  - with --wrap=syscall, pidfd_send_signal() never reaches the kernel: on
 *    a fake pidfd it makes the eventfd readable, as SIGKILL would make a
 *    real pidfd, and on anything else it traps; with --wrap=frame_send, a
 *    fake device model told DMP_SHUTDOWN exits the same way (so that the
 *    broker's orderly stop does not wait a second for it);
 *  - a log sink that formats and drops every line (FUZZ_VERBOSE=1 prints).
 */
#ifndef DMB_TESTS_FUZZ_FAKEHV_H
#define DMB_TESTS_FUZZ_FAKEHV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/hv.h"

#define FAKE_MAX_DOMAINS  16
#define FAKE_MAX_CHILDREN 16
#define FAKE_PID          0x3ffffff0 /* above PID_MAX_LIMIT (4194304): never a process */

enum fake_op {
	FOP_DOMAIN_PAUSE,
	FOP_DOMAIN_UNPAUSE,
	FOP_DOMAIN_SHUTDOWN,
	FOP_DOMAIN_DESTROY,
	FOP_CREATE_SERVER,
	FOP_DESTROY_SERVER,
	FOP_MAP,
	FOP_UNMAP,
	FOP_SERVER_STATE,
	FOP_PAGES_OPEN,
	FOP_PORTS_BIND,
	FOP_ISA_IRQ,
	FOP_PCI_INTX,
	FOP_MSI,
	FOP_COUNT,
};

/* One hypervisor operation as the hook sees it. */
struct fake_call {
	enum fake_op op;
	uint32_t domid;
	uint16_t id; /* server */
	enum hv_range_type type;
	uint64_t start, end; /* map/unmap range; MSI: addr in start */
	uint32_t sbdf;       /* PCI INTx */
	unsigned irq, pin;   /* ISA IRQ, INTx pin */
	unsigned level;      /* IRQ/INTx level; set_server_state: enabled; create: bufioreq */
	uint32_t data;       /* MSI data */
};

struct fake_rangeset {
	unsigned n;
	struct dmp_range r[HV_MAX_RANGES];
};

struct fake_server {
	bool used, enabled, ports_bound;
	unsigned bufioreq;
	struct fake_rangeset rs[3]; /* enum hv_range_type */
};

struct fake_domain {
	bool used;
	struct hv_domain_info info;
	struct fake_server srv[HV_MAX_SERVERS];
};

struct fake_hv {
	struct hv hv; /* first: the broker's struct hv * points here */
	struct fake_domain dom[FAKE_MAX_DOMAINS];
	/* Each fallible operation takes one byte while any are left: >= 0x80 fails it. */
	const uint8_t *faults;
	size_t n_faults;
	void (*hook)(const struct fake_call *c);              /* before (may trap) */
	void (*after)(const struct fake_call *c, int result); /* after */
	unsigned long calls[FOP_COUNT];
	unsigned long pages_live, ports_live;
};

/* The device model a wrapped sandbox_spawn() "started" (CAPTURE mode). */
struct fake_child {
	bool used;
	char name[32];     /* argv[0]: the device model's name */
	int chan;          /* the device model's end of the channel (fd 3 in a real one) */
	int out, err;      /* write ends of its stdout and stderr pipes */
	unsigned long gen; /* fake_spawns when it was started */
	bool adopted;      /* the test has taken over its ends */
	int pidfd;         /* the eventfd given as its pidfd (the broker owns and closes it) */
};

enum fake_spawn_mode {
	FAKE_SPAWN_FAIL = 0, /* every launch fails (step clone, EPERM) */
	FAKE_SPAWN_CAPTURE,  /* "succeeds": the ends go to fake_children[] */
};

struct broker;

extern enum fake_spawn_mode fake_spawn_mode;
extern struct fake_child fake_children[FAKE_MAX_CHILDREN];
extern unsigned long fake_spawns;
/* The broker under test (for DMP_SHUTDOWN: which device model a socket is). */
extern struct broker *fake_broker;
/* Called when the broker SIGKILLs a fake device model, with its pidfd. */
extern void (*fake_on_kill)(int pidfd);

void fake_hv_init(struct fake_hv *f);
struct fake_domain *fake_hv_add_domain(struct fake_hv *f, uint32_t domid, const char *name,
                                       unsigned nr_vcpus, bool paused);
struct fake_domain *fake_hv_domain(struct fake_hv *f, uint32_t domid);
unsigned fake_hv_servers(const struct fake_hv *f, uint32_t domid);
/* Does [s, e] overlap a range of the set? */
bool fake_rangeset_overlaps(const struct fake_rangeset *rs, uint64_t s, uint64_t e);
bool fake_rangeset_has(const struct fake_rangeset *rs, uint64_t s, uint64_t e);

/* A fake child by device-model name (NULL if none). */
struct fake_child *fake_child_find(const char *name);
void fake_child_close(struct fake_child *c);
void fake_children_close_all(void);

/* Format log lines and drop them, unless FUZZ_VERBOSE is set in the environment. */
void fake_log_quiet(void);
/* A user the broker may run fake device models as: "nobody", or the first other non-root one. */
const char *fake_some_user(void);
/* Open fds of this process among 0..1023 (cheap enough per input). */
int fake_count_fds(void);

#endif
