/* SPDX-License-Identifier: MIT */
/*
 * Placement policy: which device models a guest gets, what each may claim,
 * how each is sandboxed and what happens when it crashes (docs/policy.md).
 *
 * policy.c turns JSON into these plain structs and validates them; it has
 * no side effects (it reads no files but the one it is asked to parse, and
 * policy_check_execs() only stat()s).  A parsed policy is immutable and
 * reference-counted: an attached guest holds a reference to the policy it was
 * attached with, so a reload changes only what later attaches get.
 */
#ifndef DMB_DAEMON_POLICY_H
#define DMB_DAEMON_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc/dmproto.h"

#define POLICY_VERSION    1
#define POLICY_MAX_GUESTS 256
#define POLICY_MAX_DMS    8   /* Xen's MAX_NR_IOREQ_SERVERS */
#define POLICY_MAX_RANGES 256 /* Xen's MAX_NR_IO_RANGES, per type per device model */
#define POLICY_MAX_ARGS   16
#define POLICY_NAME_MAX   DMP_NAME_MAX
#define POLICY_PATH_MAX   256
#define POLICY_ARG_MAX    128
#define POLICY_GLOB_MAX   64
#define POLICY_ERRORS_MAX 64
/* The broker keeps one timestamp per restart in the window (struct bdm's crash_ns). */
#define POLICY_MAX_RESTARTS 63

enum policy_match_kind {
	POLICY_MATCH_DOMID = 1,
	POLICY_MATCH_NAME = 2, /* fnmatch() glob on the domain's name */
	POLICY_MATCH_DEFAULT = 3,
};

enum policy_crash_action {
	POLICY_CRASH_RESTART = 1, /* restart with backoff, up to max_restarts in window */
	POLICY_CRASH_PAUSE = 2,   /* pause the domain, leave the server disabled */
	POLICY_CRASH_DESTROY = 3, /* destroy the domain */
	POLICY_CRASH_FAIL = 4,    /* fail closed: server disabled, device model stays down */
};

/* Namespaces, as bits (sandbox_spec.namespaces uses the same values). */
#define POLICY_NS_MOUNT  (1u << 0)
#define POLICY_NS_PID    (1u << 1)
#define POLICY_NS_IPC    (1u << 2)
#define POLICY_NS_UTS    (1u << 3)
#define POLICY_NS_NET    (1u << 4)
#define POLICY_NS_CGROUP (1u << 5)
#define POLICY_NS_ALL    0x3fu

enum policy_seccomp {
	POLICY_SECCOMP_DEFAULT = 1, /* baseline deny-list, then libdmb's allow-list */
	POLICY_SECCOMP_LOG =
	        2, /* as default, but the allow-list only logs (for writing profiles) */
};

struct policy_on_crash {
	enum policy_crash_action action;
	unsigned max_restarts;         /* restart: at most this many ... */
	unsigned window_s;             /* ... within this many seconds, then `then` */
	unsigned backoff_ms;           /* first delay, doubled per restart in the window */
	unsigned backoff_max_ms;       /* cap on the delay */
	enum policy_crash_action then; /* after too many restarts: pause, destroy or fail */
};

struct policy_sandbox {
	bool user_auto;             /* uid from the policy's uid_range */
	char user[POLICY_NAME_MAX]; /* or a named user (not root) */
	uint32_t namespaces;        /* POLICY_NS_* */
	uint64_t memory_max;        /* bytes: cgroup memory.max and RLIMIT_AS, both */
	uint32_t pids_max;          /* cgroup pids.max and RLIMIT_NPROC */
	uint32_t nofile;            /* RLIMIT_NOFILE */
	enum policy_seccomp seccomp;
	bool guest_memory; /* needs to map guest RAM (Xen: privcmd for DMA) */
};

struct policy_dm {
	char name[POLICY_NAME_MAX];
	char exec[POLICY_PATH_MAX];
	unsigned n_args;
	char args[POLICY_MAX_ARGS][POLICY_ARG_MAX];
	unsigned n_claims[DMP_CLAIM_KINDS];
	struct dmp_range claims[DMP_CLAIM_KINDS][POLICY_MAX_RANGES]; /* PCI: start = end = SBDF */
	unsigned n_irqs;
	uint8_t irqs[16];  /* ISA IRQ lines (0-15) it may raise and lower ("irqs": [4]) */
	unsigned bufioreq; /* HVM_IOREQSRV_BUFIOREQ_* */
	uint32_t poll_us;  /* 0: block; else spin this long before blocking */
	struct policy_sandbox sandbox;
	struct policy_on_crash on_crash;
};

struct policy_guest {
	enum policy_match_kind match;
	uint32_t domid;                        /* POLICY_MATCH_DOMID */
	char name_glob[POLICY_GLOB_MAX];       /* POLICY_MATCH_NAME */
	uint64_t pci_hole_start, pci_hole_end; /* where BARs may move (inclusive) */
	bool unpause; /* unpause the domain once every device model is ready */
	unsigned n_dms;
	struct policy_dm dms[POLICY_MAX_DMS];
};

struct policy {
	unsigned refs;
	unsigned version;
	uid_t uid_start; /* uid_range: device-model uids are taken from here */
	uint32_t uid_count;
	unsigned n_guests;
	struct policy_guest *guests; /* n_guests entries */
};

/* One validation error: the JSON path and what is wrong. */
struct policy_error {
	char path[128];
	char msg[160];
};

struct policy_errors {
	unsigned n; /* errors found (may exceed what is stored) */
	struct policy_error e[POLICY_ERRORS_MAX];
};

/*
 * Parse and validate.  Returns 0 and *ret, or -EINVAL with every error
 * (path and message) in *errs, or another -errno (-ENOMEM).  Validation
 * covers unknown keys, wrong types, number ranges, port ranges above 0xffff,
 * start after end, overlaps between the device models of one guest, more
 * than 8 device models or 256 ranges per type, duplicate names, exec paths
 * that are not absolute, and duplicate guest matches.
 */
int policy_parse(const char *json, size_t len, struct policy **ret, struct policy_errors *errs);
/* Read a file and parse it (errors as above; an unreadable file is one error). */
int policy_load(const char *path, struct policy **ret, struct policy_errors *errs);
/*
 * Policies name the shipped device models by their Debian path,
 * POLICY_LIBEXEC_DIR/NAME.  A broker installed elsewhere (make install
 * PREFIX=...) or run from a build tree runs them from libexec_dir instead.
 */
#define POLICY_LIBEXEC_DIR "/usr/libexec/dm-broker"
/* The file exec names when device models live in libexec_dir (NULL: where the policy says). */
int policy_exec_path(const char *exec, const char *libexec_dir, char *buf, size_t len);
/*
 * Check that every exec (mapped as policy_exec_path() does) is an absolute
 * path to an executable regular file that only its owner may replace (stat only).
 */
int policy_check_execs(const struct policy *p, const char *libexec_dir, struct policy_errors *errs);
struct policy *policy_ref(struct policy *p);
void policy_unref(struct policy *p);

/* The guest entry for a domain: by domid first, then the first matching name glob, then default. */
const struct policy_guest *policy_match(const struct policy *p, uint32_t domid, const char *name);

/* The normalised policy as JSON text (every default filled in), for `dmbrokerctl policy check`. */
char *policy_to_json(const struct policy *p);

/* Print errors as "PATH: MESSAGE" lines. */
void policy_errors_print(const struct policy_errors *errs, const char *file, void *stream);

const char *policy_crash_action_name(enum policy_crash_action a);

#endif
