/* SPDX-License-Identifier: MIT */
/*
 * Launching a device model deprivileged.  sandbox.c is the only file in the
 * project that unshares, changes ids, drops capabilities or loads seccomp.
 *
 * sandbox_spawn() clones the child straight into its new namespaces (and
 * its cgroup, with CLONE_INTO_CGROUP), and the child applies, in this order,
 * each step commented in sandbox.c with why it is safe:
 *
 *   mounts (private propagation, a read-only tmpfs root holding only /usr,
 *   /lib*, /dev/null; pivot_root) -> ids: supplementary groups dropped, the
 *   bounding set emptied and the securebits locked while CAP_SETPCAP is
 *   still held, then setresgid/setresuid to a uid that is never 0 ->
 *   capabilities: ambient cleared, every set emptied and read back ->
 *   rlimits (NPROC, CORE=0, FSIZE=0, MEMLOCK=0, MSGQUEUE=0, AS) -> setsid ->
 *   stdin /dev/null, stdout/stderr to the broker's pipes, the channel on
 *   fd 3, every other fd closed, then RLIMIT_NOFILE (last, so that the fd
 *   shuffle itself is not limited) -> no_new_privs -> the baseline seccomp
 *   filter -> execveat() of the binary opened before the jail.
 *
 * Any failure before exec _exit()s the child after reporting the failing
 * step and errno over a CLOEXEC pipe: a half-restricted device model never
 * runs.  The parent returns only once the exec happened or failed.
 */
#ifndef DMB_DAEMON_SANDBOX_H
#define DMB_DAEMON_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum sandbox_step {
	SANDBOX_STEP_NONE = 0,
	SANDBOX_STEP_PREPARE, /* parent: open the binary, pipes (no child yet) */
	SANDBOX_STEP_CLONE,   /* clone3 into namespaces and cgroup */
	SANDBOX_STEP_MOUNTS,  /* private mounts, minimal root, pivot_root */
	SANDBOX_STEP_FDS,     /* stdio, fd 3, close_range: before the uid is the DM's */
	SANDBOX_STEP_IDS,     /* setgroups, setresgid, setresuid */
	SANDBOX_STEP_CAPS,    /* capabilities, bounding and ambient sets */
	SANDBOX_STEP_RLIMITS,
	SANDBOX_STEP_SESSION, /* setsid, no controlling tty */
	SANDBOX_STEP_NNP,     /* no_new_privs */
	SANDBOX_STEP_SECCOMP,
	SANDBOX_STEP_EXEC,
	SANDBOX_STEP_COUNT,
};

struct sandbox_spec {
	int exec_fd;          /* O_PATH|O_CLOEXEC fd of the binary (opened outside the jail) */
	char *const *argv;    /* argv[0] is the device model's name */
	char *const *envp;    /* a minimal environment (the broker's never reaches the DM) */
	uid_t uid;            /* never 0 */
	gid_t gid;            /* never 0 */
	uint32_t namespaces;  /* POLICY_NS_* bits */
	uint64_t memory_max;  /* bytes; RLIMIT_AS is set from it as well (0: none) */
	uint32_t pids_max;    /* RLIMIT_NPROC */
	uint32_t nofile;      /* RLIMIT_NOFILE */
	int cgroup_fd;        /* directory fd of the device model's cgroup leaf, or -1 */
	int channel_fd;       /* becomes fd 3 */
	int stdout_fd;        /* becomes fd 1 */
	int stderr_fd;        /* becomes fd 2 */
	const char *jail_dir; /* an existing empty directory the child mounts its root on */
	unsigned seccomp;     /* POLICY_SECCOMP_* */
	bool guest_memory; /* Xen: the DM may use privcmd for guest RAM (never DM_OP/HYPERCALL) */
	enum sandbox_step fail_step; /* tests: fail this step deliberately (NONE in production) */
};

struct sandbox_child {
	pid_t pid;
	int pidfd; /* CLOEXEC; readable when the child exits */
};

struct sandbox_error {
	enum sandbox_step step;
	int err; /* errno of the failing call */
};

/*
 * Start a device model.  Returns 0 and *ret once the binary is executing, or
 * -errno with *err naming the step that failed (the child, if any, is gone).
 */
int sandbox_spawn(const struct sandbox_spec *spec, struct sandbox_child *ret,
                  struct sandbox_error *err);

const char *sandbox_step_name(enum sandbox_step step);

/*
 * A one-off probe for `status` and tests: can this host create every
 * namespace, load seccomp, and is there a writable cgroup v2?  Fills why[]
 * with what is missing.  Side-effect free apart from a short-lived child.
 */
int sandbox_probe(char *why, size_t len);

#endif
