/* SPDX-License-Identifier: MIT */
/*
 * `dmbrokerctl verify DOMID DM`: check a live device model from outside.
 *
 * The sandbox is applied once, at spawn (sandbox.c), and test-sandbox proves
 * each step on a probe.  verify looks at what is true *now* of a running
 * device model, from /proc and the broker's pidfd, and compares it with
 * what the broker set up for it: its ids on every thread, capabilities,
 * no_new_privs, seccomp on every thread, each namespace its policy asks
 * for, its root, cwd and mounts, its session, the exact kinds of open fds,
 * its rlimits, its cgroup leaf, on Xen that its event-channel fd is
 * restricted, and that its descendants are confined like it.  Each check is
 * {name, ok, detail}; a check that cannot apply says why and passes.
 *
 * Everything is read synchronously from /proc (a few dozen small files):
 * the broker does not wait on the device model for any of it.
 */
#ifndef DMB_DAEMON_VERIFY_H
#define DMB_DAEMON_VERIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define VERIFY_MAX_CHECKS 40
#define VERIFY_NAME_MAX   24
#define VERIFY_DETAIL_MAX 256

struct verify_check {
	char name[VERIFY_NAME_MAX];
	bool ok;
	char detail[VERIFY_DETAIL_MAX];
};

struct verify_report {
	unsigned n;
	unsigned failed;
	struct verify_check c[VERIFY_MAX_CHECKS];
};

/* What the broker set up for one process: what verify_process() compares against. */
struct verify_expect {
	pid_t pid;               /* as the broker sees it */
	int pidfd;               /* for pidfd_getfd (Xen evtchn check) and liveness; -1: none */
	const char *exec_path;   /* the binary it was started from, or NULL: not checked */
	uid_t uid;               /* never 0 */
	gid_t gid;               /* never 0 */
	uint32_t namespaces;     /* POLICY_NS_* it asked for */
	uint64_t memory_max;     /* RLIMIT_AS and memory.max (0: unlimited) */
	uint32_t pids_max;       /* RLIMIT_NPROC and pids.max */
	uint32_t nofile;         /* RLIMIT_NOFILE */
	bool serving;            /* its ports were handed over (else only fds 0-3) */
	bool xen;                /* Xen evtchn fd, else simulator eventfds */
	unsigned nr_vcpus;       /* simulator: two eventfds per vCPU ... */
	bool has_buf;            /* ... and one for the buffered port */
	uint32_t domid;          /* Xen: the guest its evtchn fd is restricted to */
	const char *cgroup_leaf; /* its cgroup v2 leaf directory, or NULL */
	const char *cgroup_none; /* NULL, or why there is no cgroup (status text) */
};

/*
 * Run every check on e->pid.  Returns 0 with the report (rep->failed says
 * how many checks failed), or -ESRCH when the process is gone (or a zombie),
 * or another -errno when /proc cannot be read at all.
 */
int verify_process(const struct verify_expect *e, struct verify_report *rep);

struct bdm;
/* The same for one of the broker's device models: -ESRCH if it has no process. */
int verify_dm(const struct bdm *dm, struct verify_report *rep);

#endif
