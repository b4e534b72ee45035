/* SPDX-License-Identifier: MIT */
/*
 * Launching a device model deprivileged (sandbox.h has the order of steps).
 *
 * The parent does everything that can fail without side effects first
 * (PREPARE: validate, open /dev/null, the status pipe, compile the seccomp
 * filter), then clone3()s the child straight into its namespaces and cgroup.
 * The child applies one step after the other; any failure writes
 * {step, errno} to the status pipe and _exit()s.  The pipe is CLOEXEC, so a
 * successful execveat() closes it and the parent reads EOF: success.
 *
 * Where the order differs in detail from sandbox.h: the bounding set is
 * emptied and the securebits locked inside IDS, before setresuid(), since
 * both need CAP_SETPCAP, which the uid change takes away (CAPS then empties
 * and verifies what is left); RLIMIT_NOFILE is set at the end of FDS, since
 * the fd shuffle may need more numbers than the DM is allowed.  FDS comes
 * before IDS: no moment runs with the device model's uid and a broker fd
 * it should not have (the process is not dumpable then either); the cgroup
 * is entered at clone time.  A seccomp compile error is reported as step
 * SECCOMP although it happens in the parent, before any child exists.
 *
 * The child is a raw clone3() child of a possibly multi-threaded glibc
 * process, so it avoids anything that takes libc locks or believes in the
 * parent's thread list: no malloc, no stdio, and raw syscalls for the id
 * changes (glibc's setres*id() would try to broadcast them to "all
 * threads", which in the child are the parent's).
 */
#include "daemon/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <seccomp.h>

#include <linux/types.h>
#include <xen/xen.h>
#include <xen/sys/privcmd.h>

#include "common/util.h"
#include "daemon/cgroup.h"
#include "daemon/policy.h"

/* What the child writes to the status pipe when a step fails. */
struct sandbox_report {
	int32_t step;
	int32_t err;
};

/* Exit status of a child that gave up before exec (the parent reaps it). */
#define SANDBOX_CHILD_FAILED 127

/* Target fds in the child: 0-3 are the device model's, 4 and 5 live until exec. */
#define FD_EXEC       4
#define FD_STATUS     5
#define FD_FIRST_FREE 6

/* From clone to exec takes about a millisecond; this long means something hangs. */
#define SANDBOX_EXEC_TIMEOUT_MS 10000

/* The DM's fds 0-3, plus 4 and 5 until exec, must fit (policy.c allows 8 and up). */
#define NOFILE_MIN 8u

/* The root tmpfs holds a handful of inodes; keep it tiny. */
#define JAIL_TMPFS_OPTS "size=64k,nr_inodes=64,mode=0755"

struct child_ctx {
	const struct sandbox_spec *spec;
	int status_fd; /* write end of the status pipe (moves in step_fds) */
	int exec_fd;   /* moves in step_fds */
	int devnull_fd;
	struct sock_fprog prog;
};

static const char *const step_names[SANDBOX_STEP_COUNT] = {
        [SANDBOX_STEP_NONE] = "none",       [SANDBOX_STEP_PREPARE] = "prepare",
        [SANDBOX_STEP_CLONE] = "clone",     [SANDBOX_STEP_MOUNTS] = "mounts",
        [SANDBOX_STEP_FDS] = "fds",         [SANDBOX_STEP_IDS] = "ids",
        [SANDBOX_STEP_CAPS] = "caps",       [SANDBOX_STEP_RLIMITS] = "rlimits",
        [SANDBOX_STEP_SESSION] = "session", [SANDBOX_STEP_NNP] = "no_new_privs",
        [SANDBOX_STEP_SECCOMP] = "seccomp", [SANDBOX_STEP_EXEC] = "exec",
};

const char *sandbox_step_name(enum sandbox_step step)
{
	if ((unsigned)step >= SANDBOX_STEP_COUNT)
		return "unknown";
	return step_names[step];
}

static uint64_t ns_to_clone_flags(uint32_t ns)
{
	uint64_t f = 0;

	if (ns & POLICY_NS_MOUNT)
		f |= CLONE_NEWNS;
	if (ns & POLICY_NS_PID)
		f |= CLONE_NEWPID;
	if (ns & POLICY_NS_IPC)
		f |= CLONE_NEWIPC;
	if (ns & POLICY_NS_UTS)
		f |= CLONE_NEWUTS;
	if (ns & POLICY_NS_NET)
		f |= CLONE_NEWNET;
	if (ns & POLICY_NS_CGROUP)
		f |= CLONE_NEWCGROUP;
	return f;
}

/* ---- the baseline seccomp filter (compiled in the parent) ----------------- */

/*
 * The broker's deny-list.  It is loaded before exec, so a compromised or
 * replaced device-model binary cannot skip it; libdmb stacks its tight
 * allow-list on top after initialising.  Default allow: this filter only
 * removes what no device model needs and what would undo the sandbox.
 */

/* Undoing or extending the jail: namespaces, mounts, a new root. */
static const int deny_jail[] = {
        SCMP_SYS(unshare),       SCMP_SYS(setns),   SCMP_SYS(mount),      SCMP_SYS(umount2),
        SCMP_SYS(pivot_root),    SCMP_SYS(chroot),  SCMP_SYS(move_mount), SCMP_SYS(fsopen),
        SCMP_SYS(fsconfig),      SCMP_SYS(fsmount), SCMP_SYS(fspick),     SCMP_SYS(open_tree),
        SCMP_SYS(mount_setattr),
};

/* Reaching into other processes (a DM of another guest shares nothing with us). */
static const int deny_other_procs[] = {
        SCMP_SYS(ptrace),
        SCMP_SYS(process_vm_readv),
        SCMP_SYS(process_vm_writev),
        SCMP_SYS(pidfd_getfd),
};

/* Large kernel attack surface no device model uses (frequent exploit vectors). */
static const int deny_attack_surface[] = {
        SCMP_SYS(bpf),
        SCMP_SYS(keyctl),
        SCMP_SYS(add_key),
        SCMP_SYS(request_key),
        SCMP_SYS(perf_event_open),
        SCMP_SYS(userfaultfd),
        SCMP_SYS(io_uring_setup),
        SCMP_SYS(io_uring_enter),
        SCMP_SYS(io_uring_register),
};

/* Host administration: fails without capabilities anyway; killing makes the attempt loud. */
static const int deny_admin[] = {
        SCMP_SYS(kexec_load),     SCMP_SYS(kexec_file_load), SCMP_SYS(init_module),
        SCMP_SYS(finit_module),   SCMP_SYS(delete_module),   SCMP_SYS(acct),
        SCMP_SYS(swapon),         SCMP_SYS(swapoff),         SCMP_SYS(reboot),
        SCMP_SYS(settimeofday),   SCMP_SYS(clock_settime),   SCMP_SYS(clock_adjtime),
        SCMP_SYS(adjtimex),       SCMP_SYS(syslog),          SCMP_SYS(quotactl),
        SCMP_SYS(lookup_dcookie), SCMP_SYS(vhangup),
};

/* Opening by handle bypasses path confinement ("shocker"); fanotify watches the host. */
static const int deny_by_handle[] = {
        SCMP_SYS(open_by_handle_at),
        SCMP_SYS(name_to_handle_at),
        SCMP_SYS(fanotify_init),
};

/* x86 port I/O privilege and device nodes: direct hardware access. */
static const int deny_hw[] = {
        SCMP_SYS(iopl),
        SCMP_SYS(ioperm),
        SCMP_SYS(mknod),
        SCMP_SYS(mknodat),
};

static int add_kill_list(scmp_filter_ctx ctx, const int *nrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, nrs[i], 0);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Kill ioctl(fd, cmd) on cmd's low 32 bits: the kernel ignores the rest (CVE-2019-10063). */
static int add_kill_ioctl(scmp_filter_ctx ctx, unsigned long cmd)
{
	return seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(ioctl), 1,
	                        SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (uint32_t)cmd));
}

static int seccomp_rules(scmp_filter_ctx ctx, bool guest_memory)
{
	static const uint64_t clone_ns[] = {
	        CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	        CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
	};
	int r;

	/*
	 * A binary tree instead of a chain of compares: half the cost of
	 * loading the filter (the kernel evaluates it for every syscall number
	 * to build its cache), fewer instructions per filtered syscall.  Safe
	 * with rules (libseccomp #370 is about a filter with none).
	 */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r < 0)
		return r;
	/* Anything but the native ABI (i386 via int $0x80, x32) is a way around the rules. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r < 0)
		return r;
	/*
	 * x32 shares x86_64's audit arch; libseccomp kills syscall numbers with
	 * __X32_SYSCALL_BIT when the filter has no x32 arch, which is our case
	 * (the probe test proves it).
	 */
	if ((r = add_kill_list(ctx, deny_jail, ARRAY_SIZE(deny_jail))) < 0 ||
	    (r = add_kill_list(ctx, deny_other_procs, ARRAY_SIZE(deny_other_procs))) < 0 ||
	    (r = add_kill_list(ctx, deny_attack_surface, ARRAY_SIZE(deny_attack_surface))) < 0 ||
	    (r = add_kill_list(ctx, deny_admin, ARRAY_SIZE(deny_admin))) < 0 ||
	    (r = add_kill_list(ctx, deny_by_handle, ARRAY_SIZE(deny_by_handle))) < 0 ||
	    (r = add_kill_list(ctx, deny_hw, ARRAY_SIZE(deny_hw))) < 0)
		return r;

	/*
	 * personality(): only the query (0xffffffff, used by ASan and others)
	 * and PER_LINUX are harmless; the rest change the address-space layout
	 * or the ABI (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, PER_LINUX32).
	 * libseccomp 2.5 cannot AND two tests of one argument, so: kill below
	 * and above the query value, and let PER_LINUX through as LOG (an
	 * allow that leaves a trace; a DM resetting its personality is odd).
	 */
	r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(personality), 1,
	                     SCMP_A0(SCMP_CMP_LT, 0xffffffffu));
	if (r < 0)
		return r;
	r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(personality), 1,
	                     SCMP_A0(SCMP_CMP_GT, 0xffffffffu));
	if (r < 0)
		return r;
	r = seccomp_rule_add(ctx, SCMP_ACT_LOG, SCMP_SYS(personality), 1,
	                     SCMP_A0(SCMP_CMP_EQ, PER_LINUX));
	if (r < 0)
		return r;

	/* New namespaces through clone(): fork and threads stay, new namespaces do not. */
	for (size_t i = 0; i < ARRAY_SIZE(clone_ns); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 1,
		                     SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns[i], clone_ns[i]));
		if (r < 0)
			return r;
	}
	/* clone3's flags are in memory, out of seccomp's sight: libc falls back to clone. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r < 0)
		return r;

	/* Typing into a terminal (CVE-2017-5226); setsid() already took the tty away. */
	if ((r = add_kill_ioctl(ctx, TIOCSTI)) < 0 || (r = add_kill_ioctl(ctx, TIOCLINUX)) < 0)
		return r;
	/* Raw hypercalls and DM ops bypass the broker's policy: every DM op goes through it. */
	if ((r = add_kill_ioctl(ctx, IOCTL_PRIVCMD_HYPERCALL)) < 0 ||
	    (r = add_kill_ioctl(ctx, IOCTL_PRIVCMD_DM_OP)) < 0)
		return r;
	/*
	 * Mapping guest RAM only where the device needs it (DMA).  MMAP_RESOURCE
	 * stays: it is how a device model maps its own ioreq pages.
	 */
	if (!guest_memory) {
		if ((r = add_kill_ioctl(ctx, IOCTL_PRIVCMD_MMAP)) < 0 ||
		    (r = add_kill_ioctl(ctx, IOCTL_PRIVCMD_MMAPBATCH)) < 0 ||
		    (r = add_kill_ioctl(ctx, IOCTL_PRIVCMD_MMAPBATCH_V2)) < 0)
			return r;
	}
	return 0;
}

/* Build the filter and export it as a BPF program (libseccomp 2.5 exports only to an fd). */
static int seccomp_compile(bool guest_memory, struct sock_fprog *ret)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	_cleanup_close_ int fd = -1;
	struct sock_filter *insns = NULL;
	off_t size;
	int r;

	if (!ctx)
		return -ENOMEM;
	r = seccomp_rules(ctx, guest_memory);
	if (r < 0)
		goto out;
	fd = memfd_create("dmb-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		goto out;
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % sizeof(struct sock_filter) ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		r = -E2BIG;
		goto out;
	}
	insns = malloc((size_t)size);
	if (!insns) {
		r = -ENOMEM;
		goto out;
	}
	if (pread(fd, insns, (size_t)size, 0) != size) {
		free(insns);
		r = -EIO;
		goto out;
	}
	ret->filter = insns;
	ret->len = (unsigned short)(size / sizeof(struct sock_filter));
	r = 0;
out:
	seccomp_release(ctx);
	return r;
}

/*
 * Two variants (with and without guest memory), compiled once each: the
 * filter never changes while the broker runs, and compiling costs about as
 * much as the rest of the parent's work.
 */
static pthread_mutex_t filter_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sock_fprog filter_cache[2];

static int seccomp_get(bool guest_memory, struct sock_fprog *ret)
{
	struct sock_fprog *f = &filter_cache[guest_memory ? 1 : 0];
	int r = 0;

	pthread_mutex_lock(&filter_lock);
	if (!f->filter)
		r = seccomp_compile(guest_memory, f);
	if (r == 0)
		*ret = *f;
	pthread_mutex_unlock(&filter_lock);
	return r;
}

/* ---- child side -------------------------------------------------------- */

static _noreturn_ void child_fail(int status_fd, enum sandbox_step step, int err)
{
	struct sandbox_report rep = {.step = (int32_t)step, .err = err};

	/* If even this fails the parent reads EOF and then sees us exit before exec. */
	(void)!write(status_fd, &rep, sizeof(rep));
	_exit(SANDBOX_CHILD_FAILED);
}

static int sys_rt_sigaction(int sig, void (*handler)(int))
{
	/* The kernel's struct, not glibc's: glibc refuses its own internal signals. */
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		uint64_t mask;
	} ka = {.handler = handler};

	return (int)syscall(SYS_rt_sigaction, sig, &ka, NULL, sizeof(ka.mask));
}

/*
 * CLONE, child side: we run in the new namespaces and cgroup.  Every signal
 * was blocked by the parent around clone3 and stays blocked until exec;
 * reset every disposition so that none of the broker's handlers (libevent
 * writes to its own socketpair) can ever run here, and the DM starts with
 * defaults instead of inheriting ignored signals.
 */
static int step_clone(struct child_ctx *c)
{
	(void)c;
	for (int sig = 1; sig <= 64; sig++) { /* the kernel's _NSIG on x86 */
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sys_rt_sigaction(sig, SIG_DFL) < 0)
			return -errno;
	}
	return 0;
}

/* Make a read-only, nosuid, nodev bind mount; recursive where the kernel can. */
static int bind_ro(const char *src, const char *dst, bool recursive, unsigned long extra)
{
	struct mount_attr attr = {
	        .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
	                    ((extra & MS_NODEV) ? MOUNT_ATTR_NODEV : 0) |
	                    ((extra & MS_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0),
	};

	if (mount(src, dst, NULL, MS_BIND | (recursive ? MS_REC : 0), NULL) < 0)
		return -errno;
	/* mount_setattr(AT_RECURSIVE) also covers submounts; a bind remount only the top one. */
	if (mount_setattr(AT_FDCWD, dst, recursive ? AT_RECURSIVE : 0, &attr, sizeof(attr)) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | extra, NULL) < 0)
		return -errno;
	return 0;
}

/*
 * MOUNTS: runs while still root, in our own mount namespace, so nothing we
 * mount is visible to the host.  The new root is a fresh tmpfs holding only
 * what a dynamically linked binary needs: /usr (read-only), the merged-/usr
 * symlinks, /dev/null.  No /proc, /sys, /etc, /tmp or home.
 */
static int step_mounts(struct child_ctx *c)
{
	const struct sandbox_spec *s = c->spec;
	int fd;
	int r;

	/* Directories and the /dev/null stub need fixed modes, whatever the broker's umask. */
	umask(022);
	if (!(s->namespaces & POLICY_NS_MOUNT))
		return chdir("/") < 0 ? -errno : 0; /* no jail: at least no cwd of the broker's */

	/* Private first: nothing we do propagates to the host, nothing of the host's reaches us. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	/* A tmpfs of our own: the jail directory on the host stays empty. */
	if (mount("dmb-root", s->jail_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	          JAIL_TMPFS_OPTS) < 0)
		return -errno;
	if (chdir(s->jail_dir) < 0)
		return -errno;
	if (mkdir("usr", 0755) < 0 || mkdir("dev", 0755) < 0)
		return -errno;
	/* Debian 12 is merged-/usr: the same symlinks as the host, so ELF interpreters resolve. */
	if (symlink("usr/bin", "bin") < 0 || symlink("usr/lib", "lib") < 0 ||
	    symlink("usr/lib64", "lib64") < 0)
		return -errno;
	/* /usr read-only and nosuid: the DM can run libraries, never change or setuid them. */
	r = bind_ro("/usr", "usr", true, MS_NODEV);
	if (r < 0)
		return r;
	/* /dev/null alone, on a read-only bind (writes to a device ignore the mount's ro). */
	fd = open("dev/null", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return -errno;
	close(fd);
	r = bind_ro("/dev/null", "dev/null", false, MS_NOEXEC);
	if (r < 0)
		return r;
	/*
	 * pivot_root(".", ".") stacks the old root on top of the new one and
	 * the detach removes it: no put_old directory to create and remove.
	 */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return -errno;
	if (umount2(".", MNT_DETACH) < 0)
		return -errno;
	if (chdir("/") < 0)
		return -errno;
	/* Finally the root itself read-only: the DM cannot create anything anywhere. */
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
	          NULL) < 0)
		return -errno;
	return 0;
}

/* The securebits we lock before giving up root (see step_ids). */
#define SECBITS_LOCKED                                                          \
	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED | \
	 SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |                \
	 SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

/*
 * IDS: the last things that need root happen here, in the only order that
 * works: the bounding set and the securebits need CAP_SETPCAP, the groups
 * and gid need CAP_SETGID, the uid needs CAP_SETUID, and the uid change
 * takes every capability away.  Raw syscalls: see the file comment.
 */
static int step_ids(struct child_ctx *c)
{
	const struct sandbox_spec *s = c->spec;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	/* No supplementary group of the broker's (disk, kvm, ...) survives. */
	if (syscall(SYS_setgroups, 0, NULL) < 0)
		return -errno;
	/* Empty the bounding set: no later exec (setuid, file caps) can gain a capability. */
	for (unsigned long cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL) /* past CAP_LAST_CAP of this kernel */
			break;
		return -errno;
	}
	/*
	 * uid 0 never means capabilities again (NOROOT), the uid change below
	 * must clear the capability sets (the setuid fixup stays on, locked),
	 * keep-caps stays off, ambient capabilities can never be raised; all
	 * locked so the DM cannot change them back.
	 */
	if (prctl(PR_SET_SECUREBITS, SECBITS_LOCKED, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0)
		return -errno;
	/* All three uids (no saved root uid to return to); clears permitted/effective/ambient. */
	if (syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0)
		return -errno;
	if (syscall(SYS_getresuid, &ru, &eu, &su) < 0 || syscall(SYS_getresgid, &rg, &eg, &sg) < 0)
		return -errno;
	if (ru != s->uid || eu != s->uid || su != s->uid || rg != s->gid || eg != s->gid ||
	    sg != s->gid)
		return -EPERM;
	return 0;
}

/*
 * CAPS: the uid change already emptied permitted, effective and ambient;
 * lowering is always allowed, so empty everything explicitly (inheritable
 * survives a uid change), then read every set back and refuse to continue
 * if anything is left.
 */
static int step_caps(struct child_ctx *c)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	long bits;

	(void)c;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return -errno;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;

	memset(data, 0xff, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	for (unsigned i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return -EPERM;
	for (unsigned long cap = 0; cap < 64; cap++) {
		int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (r < 0 && errno == EINVAL)
			break;
		if (r != 0)
			return r < 0 ? -errno : -EPERM;
		r = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);
		if (r != 0)
			return r < 0 ? -errno : -EPERM;
	}
	bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	if (bits < 0)
		return -errno;
	if ((bits & SECBITS_LOCKED) != SECBITS_LOCKED)
		return -EPERM;
	return 0;
}

static int set_limit(int resource, uint64_t value)
{
	struct rlimit rl = {.rlim_cur = value, .rlim_max = value};

	return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

/*
 * RLIMITS: soft = hard, so the DM cannot raise them (it has no
 * CAP_SYS_RESOURCE).  No core dumps or files (guest memory must not land on
 * disk), no locked memory, no message queues.  NPROC counts per uid, which
 * is the DM's own.  AS backs up the cgroup's memory.max on hosts without one.
 */
static int step_rlimits(struct child_ctx *c)
{
	const struct sandbox_spec *s = c->spec;
	int r;

	/* RLIMIT_NOFILE comes at the end of step_fds: the fd shuffle needs more numbers. */
	if ((r = set_limit(RLIMIT_NPROC, s->pids_max)) < 0 || (r = set_limit(RLIMIT_CORE, 0)) < 0 ||
	    (r = set_limit(RLIMIT_FSIZE, 0)) < 0 || (r = set_limit(RLIMIT_MEMLOCK, 0)) < 0 ||
	    (r = set_limit(RLIMIT_MSGQUEUE, 0)) < 0)
		return r;
	if (s->memory_max && (r = set_limit(RLIMIT_AS, s->memory_max)) < 0)
		return r;
	return 0;
}

/* SESSION: a new session has no controlling terminal, so nothing to inject keystrokes into. */
static int step_session(struct child_ctx *c)
{
	(void)c;
	return setsid() < 0 ? -errno : 0;
}

/* Close every fd but the n (at most 8, may repeat) in keep[]. */
static int close_all_but(const int *keep, size_t n)
{
	unsigned sorted[8];
	unsigned lo = 0;

	/* Insertion sort: a handful of numbers, and no libc in this child beyond syscalls. */
	for (size_t i = 0; i < n; i++) {
		size_t j = i;
		for (; j > 0 && sorted[j - 1] > (unsigned)keep[i]; j--)
			sorted[j] = sorted[j - 1];
		sorted[j] = (unsigned)keep[i];
	}
	for (size_t i = 0; i < n; i++) {
		unsigned fd = sorted[i];
		if (fd > lo && close_range(lo, fd - 1, 0) < 0)
			return -errno;
		if (fd + 1 > lo)
			lo = fd + 1;
	}
	return close_range(lo, ~0u, 0) < 0 ? -errno : 0;
}

/*
 * FDS: stdin /dev/null, stdout/stderr the broker's pipes, the channel on
 * fd 3, and nothing else of the broker's (CVE-2024-21626: a leaked fd is a
 * way out of any jail).  The binary's fd and the status pipe stay on 4 and
 * 5 until exec, both CLOEXEC.  Everything else is closed first, and every
 * source is copied above 5 before any dup3 onto 0-5, so no source is
 * overwritten before it was copied.  RLIMIT_NOFILE is set last: the copies
 * need up to 12 numbers, the policy may allow as few as 8.
 */
static int step_fds(struct child_ctx *c)
{
	const struct sandbox_spec *s = c->spec;
	int src[6] = {c->devnull_fd, s->stdout_fd, s->stderr_fd,
	              s->channel_fd, c->exec_fd,   c->status_fd};
	int hi[6];
	int r;

	r = close_all_but(src, ARRAY_SIZE(src));
	if (r < 0)
		return r;
	/* Copies above the targets, so each dup3 below reads an fd no earlier dup3 replaced. */
	for (int i = 0; i < 6; i++) {
		hi[i] = src[i] >= FD_FIRST_FREE ? src[i]
		                                : fcntl(src[i], F_DUPFD_CLOEXEC, FD_FIRST_FREE);
		if (hi[i] < 0)
			return -errno;
		if (i == 5)
			c->status_fd = hi[i];
	}
	for (int i = 0; i < 6; i++) {
		/* dup3 without O_CLOEXEC: 0-3 survive exec; 4 and 5 must not. */
		if (dup3(hi[i], i, i >= FD_EXEC ? O_CLOEXEC : 0) < 0)
			return -errno;
	}
	c->status_fd = FD_STATUS;
	c->exec_fd = FD_EXEC;
	if (close_range(FD_FIRST_FREE, ~0u, 0) < 0)
		return -errno;
	/* Existing fds never exceed it now (0-5), so this only limits what the DM opens. */
	return set_limit(RLIMIT_NOFILE, s->nofile);
}

/* NNP: exec can never grant privileges again (setuid bits, file caps); seccomp requires it. */
static int step_nnp(struct child_ctx *c)
{
	(void)c;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}

/*
 * SECCOMP: last before exec, so every earlier step could use what the
 * filter forbids (mount, pivot_root).  One thread only (clone copies just
 * the caller), so no TSYNC needed.
 */
static int step_seccomp(struct child_ctx *c)
{
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &c->prog, 0, 0) < 0 ? -errno : 0;
}

/*
 * EXEC: the binary was opened outside the jail; execveat on the fd runs it
 * although its path does not exist in here.  Signals are unblocked only
 * now (an empty mask, not the broker's).  On success the status pipe
 * closes with the exec.
 */
static int step_exec(struct child_ctx *c)
{
	uint64_t empty = 0;

	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, NULL, sizeof(empty)) < 0)
		return -errno;
	execveat(c->exec_fd, "", c->spec->argv, c->spec->envp, AT_EMPTY_PATH);
	return -errno;
}

static const struct {
	enum sandbox_step step;
	int (*fn)(struct child_ctx *c);
} child_steps[] = {
        {SANDBOX_STEP_CLONE, step_clone},     {SANDBOX_STEP_MOUNTS, step_mounts},
        {SANDBOX_STEP_FDS, step_fds},         {SANDBOX_STEP_IDS, step_ids},
        {SANDBOX_STEP_CAPS, step_caps},       {SANDBOX_STEP_RLIMITS, step_rlimits},
        {SANDBOX_STEP_SESSION, step_session}, {SANDBOX_STEP_NNP, step_nnp},
        {SANDBOX_STEP_SECCOMP, step_seccomp}, {SANDBOX_STEP_EXEC, step_exec},
};

static _noreturn_ void child_main(struct child_ctx *c)
{
	for (size_t i = 0; i < ARRAY_SIZE(child_steps); i++) {
		enum sandbox_step step = child_steps[i].step;
		int r;

		/* Tests: fail here, proving that nothing after this step runs. */
		if (c->spec->fail_step == step)
			child_fail(c->status_fd, step, EPERM);
		r = child_steps[i].fn(c);
		if (r < 0)
			child_fail(c->status_fd, step, -r);
	}
	/* step_exec only returns on failure. */
	child_fail(c->status_fd, SANDBOX_STEP_EXEC, EIO);
}

/* ---- parent side ------------------------------------------------------- */

static pid_t sys_clone3(struct clone_args *args, size_t size)
{
	return (pid_t)syscall(SYS_clone3, args, size);
}

static int spec_check(const struct sandbox_spec *s)
{
	if (s->uid == 0 || s->gid == 0)
		return -EPERM; /* never root, whatever the policy says */
	if (s->uid == (uid_t)-1 || s->gid == (gid_t)-1)
		return -EINVAL;
	if (s->exec_fd < 0 || s->channel_fd < 0 || s->stdout_fd < 0 || s->stderr_fd < 0)
		return -EBADF;
	if (!s->argv || !s->argv[0] || !s->envp)
		return -EINVAL;
	if (s->namespaces & ~POLICY_NS_ALL)
		return -EINVAL;
	if ((s->namespaces & POLICY_NS_MOUNT) && (!s->jail_dir || s->jail_dir[0] != '/'))
		return -EINVAL;
	if (s->nofile < NOFILE_MIN || s->pids_max == 0)
		return -EINVAL;
	if (s->seccomp != POLICY_SECCOMP_DEFAULT && s->seccomp != POLICY_SECCOMP_LOG)
		return -EINVAL;
	return 0;
}

/* Wait until fd is readable (data or EOF); -ETIMEDOUT after ms. */
static int wait_readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t end = util_now_ns() + (uint64_t)ms * 1000000u;

	for (;;) {
		uint64_t now = util_now_ns();
		int r;

		if (now >= end)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)((end - now + 999999u) / 1000000u));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static int spawn_fail(struct sandbox_error *err, enum sandbox_step step, int r)
{
	if (err) {
		err->step = step;
		err->err = -r;
	}
	return r;
}

int sandbox_spawn(const struct sandbox_spec *spec, struct sandbox_child *ret,
                  struct sandbox_error *err)
{
	_cleanup_close_ int devnull = -1, pipe_rd = -1, pipe_wr = -1, pidfd = -1;
	struct child_ctx ctx = {.spec = spec};
	struct clone_args args = {0};
	struct sandbox_report rep;
	sigset_t all, saved;
	siginfo_t si;
	ssize_t n;
	pid_t pid;
	int p[2];
	int r;

	if (!spec || !ret)
		return spawn_fail(err, SANDBOX_STEP_PREPARE, -EINVAL);
	r = spec_check(spec);
	if (r < 0)
		return spawn_fail(err, SANDBOX_STEP_PREPARE, r);
	if (spec->fail_step == SANDBOX_STEP_PREPARE)
		return spawn_fail(err, SANDBOX_STEP_PREPARE, -EPERM);

	/* PREPARE: everything that can fail before a child exists. */
	r = seccomp_get(spec->guest_memory, &ctx.prog);
	if (r < 0)
		return spawn_fail(err, SANDBOX_STEP_SECCOMP, r);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return spawn_fail(err, SANDBOX_STEP_PREPARE, -errno);
	if (pipe2(p, O_CLOEXEC) < 0)
		return spawn_fail(err, SANDBOX_STEP_PREPARE, -errno);
	pipe_rd = p[0];
	pipe_wr = p[1];
	ctx.status_fd = pipe_wr;
	ctx.exec_fd = spec->exec_fd;
	ctx.devnull_fd = devnull;

	/* CLONE: straight into the namespaces and the cgroup, no window outside either. */
	args.flags = CLONE_PIDFD | ns_to_clone_flags(spec->namespaces);
	args.pidfd = (uint64_t)(uintptr_t)&pidfd;
	args.exit_signal = SIGCHLD;
	if (spec->cgroup_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)spec->cgroup_fd;
	}
	/* Blocked in the child until exec: no broker signal handler may run there. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	pid = sys_clone3(&args, sizeof(args));
	if (pid == 0)
		child_main(&ctx);
	r = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (r < 0)
		return spawn_fail(err, SANDBOX_STEP_CLONE, r);
	pipe_wr = util_close(pipe_wr);

	/*
	 * EOF: exec happened (the pipe was CLOEXEC).  A report: the step that
	 * failed.  Neither within the timeout (a binary on a hung file system):
	 * kill it; the broker must not hang with it.
	 */
	r = wait_readable(pipe_rd, SANDBOX_EXEC_TIMEOUT_MS);
	if (r < 0) {
		rep.step = SANDBOX_STEP_EXEC;
		rep.err = -r;
		n = -1;
	} else {
		do
			n = read(pipe_rd, &rep, sizeof(rep));
		while (n < 0 && errno == EINTR);
	}
	if (n == 0) {
		ret->pid = pid;
		ret->pidfd = TAKE_FD(pidfd);
		return 0;
	}
	if (r < 0 || n != (ssize_t)sizeof(rep) || rep.step <= SANDBOX_STEP_PREPARE ||
	    rep.step >= SANDBOX_STEP_COUNT || rep.err <= 0) {
		/* Do not trust it running either way. */
		(void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		if (r >= 0) {
			rep.step = SANDBOX_STEP_CLONE; /* cannot happen with our child */
			rep.err = EIO;
		}
	}
	/* The child _exit()s right after reporting: reap it, nothing is left behind. */
	while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	return spawn_fail(err, (enum sandbox_step)rep.step, -rep.err);
}

/* ---- probe ------------------------------------------------------------- */

static void why_add(char *why, size_t len, const char *fmt, ...) _printf_(3, 4);
static void why_add(char *why, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(why, len);
	va_list ap;

	if (used + 1 >= len)
		return;
	if (used) {
		why[used++] = ';';
		why[used++] = ' ';
		why[used] = '\0';
		if (used >= len)
			return;
	}
	va_start(ap, fmt);
	vsnprintf(why + used, len - used, fmt, ap);
	va_end(ap);
}

/*
 * Returns 0 when device models can be sandboxed here (every namespace,
 * seccomp filters, root), -EOPNOTSUPP otherwise.  A missing cgroup v2 is
 * reported in why[] but is not an error: the broker then relies on rlimits.
 */
int sandbox_probe(char *why, size_t len)
{
	struct clone_args args = {0};
	char cgwhy[256] = "";
	sigset_t all, saved;
	bool ok = true;
	int pidfd = -1, err;
	siginfo_t si;
	pid_t pid;

	if (!why || len == 0)
		return -EINVAL;
	why[0] = '\0';
	if (geteuid() != 0) {
		why_add(why, len, "not running as root");
		ok = false;
	}
	args.flags = CLONE_PIDFD | ns_to_clone_flags(POLICY_NS_ALL);
	args.pidfd = (uint64_t)(uintptr_t)&pidfd;
	args.exit_signal = SIGCHLD;
	/* As in sandbox_spawn: no broker signal handler may run in the child. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	pid = sys_clone3(&args, sizeof(args));
	if (pid == 0)
		_exit(0);
	err = errno;
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	errno = err;
	if (pid < 0) {
		why_add(why, len,
		        "cannot create mount, pid, ipc, uts, net and cgroup namespaces: %s%s",
		        strerror(errno),
		        errno == ENOSYS ? " (no clone3: kernel older than 5.3)" : "");
		ok = false;
	} else {
		while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
			;
		close(pidfd);
	}
	/* PR_SET_SECCOMP with a NULL filter: EFAULT when filters are supported, EINVAL if not. */
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 ||
	    (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL, 0, 0) < 0 && errno != EFAULT)) {
		why_add(why, len, "no seccomp filter support (CONFIG_SECCOMP_FILTER)");
		ok = false;
	}
	if (cgroup_probe(cgwhy, sizeof(cgwhy)) < 0)
		why_add(why, len, "%s: memory and pids limits fall back to rlimits", cgwhy);
	return ok ? 0 : -EOPNOTSUPP;
}
