/* SPDX-License-Identifier: MIT */
/*
 * libdmb's second seccomp layer: once the device model has its pages, its
 * ports and its devices, nothing new is ever opened, mapped executable or
 * spawned, so it narrows itself to an allow-list of what the ioreq loop and
 * its callbacks need.  It stacks on the broker's baseline deny-list, which a
 * compromised binary cannot skip; this one a binary could skip, but only a
 * binary that was never compromised installs it, and once installed it cannot
 * be removed.
 *
 * Profiles, one per class of device model:
 *   DMB_PROFILE_IOREQ         port/MMIO/PCI-config emulation only: no ioctl
 *                             at all on the simulator, only the event-channel
 *                             notify on Xen
 *   DMB_PROFILE_GUEST_MEMORY  also maps guest memory through privcmd
 *                             (MMAPBATCH_V2, MMAP_RESOURCE)
 * The hot syscalls of the simulator's loop (the wait, read, write) carry no
 * argument checks, so the kernel's per-syscall action cache lets them
 * through without evaluating the filter.  On Xen the notify is an ioctl: it
 * is allowed for exactly one request number, a cost that is noise next to
 * the hypercall behind it.  Every argument check compares all 64 bits
 * (CVE-2019-10063: a mask on the low half only is bypassed by the high
 * half).
 *
 * In log mode (policy "seccomp": "log") the default action is to log and
 * allow, so that a profile can be written from the audit records of what it
 * would have refused.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/types.h>
#include <seccomp.h>
#include <xen/xen.h>
#include <xen/sys/evtchn.h>
#include <xen/sys/privcmd.h>

#include "common/log.h"
#include "dm/dmb-internal.h"

/* What the loop does on every request: must stay free of argument checks. */
static const int hot_syscalls[] = {
        SCMP_SYS(epoll_wait),
        SCMP_SYS(epoll_pwait),
        SCMP_SYS(read),
        SCMP_SYS(write),
};

/* The rest of a device model's life: DM ops, stats, logging, shutdown. */
static const int cold_syscalls[] = {
        SCMP_SYS(recvmsg),      SCMP_SYS(sendmsg),       SCMP_SYS(poll),
        SCMP_SYS(ppoll),        SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
        SCMP_SYS(nanosleep),    SCMP_SYS(close),         SCMP_SYS(munmap),
        SCMP_SYS(brk),          SCMP_SYS(futex),         SCMP_SYS(restart_syscall),
        SCMP_SYS(rt_sigreturn), SCMP_SYS(exit),          SCMP_SYS(exit_group),
        SCMP_SYS(getpid),       SCMP_SYS(gettid),        SCMP_SYS(fstat),
        SCMP_SYS(newfstatat),   SCMP_SYS(lseek),         SCMP_SYS(madvise),
};

static int allow(scmp_filter_ctx ctx, int nr)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
}

/* mmap without PROT_EXEC (64-bit compare: high bits cannot sneak it in). */
static int allow_mmap_noexec(scmp_filter_ctx ctx)
{
	int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
	                         SCMP_A2_64(SCMP_CMP_MASKED_EQ, (uint64_t)PROT_EXEC, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
		                     SCMP_A2_64(SCMP_CMP_MASKED_EQ, (uint64_t)PROT_EXEC, 0));
	return r;
}

static int allow_ioctl(scmp_filter_ctx ctx, unsigned long request)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	                        SCMP_A1_64(SCMP_CMP_EQ, (uint64_t)request));
}

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
/*
 * ASan builds only: LeakSanitizer's check at exit stops the world with
 * prctl, clone and ptrace, which the allow-list refuses (the device model
 * would die of SIGSYS instead of reporting).  Check for leaks now, while it
 * still can; the exit-time check is then skipped.
 */
static void sanitizer_before_lockdown(void)
{
	__lsan_do_leak_check();
}
#else
static void sanitizer_before_lockdown(void)
{
}
#endif

int dmb_lockdown(struct dmb *d, enum dmb_profile profile, bool xen, bool log_only)
{
	scmp_filter_ctx ctx = seccomp_init(log_only ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
	int r = ctx ? 0 : -ENOMEM;

	for (unsigned i = 0; r == 0 && i < ARRAY_SIZE(hot_syscalls); i++)
		r = allow(ctx, hot_syscalls[i]);
	for (unsigned i = 0; r == 0 && i < ARRAY_SIZE(cold_syscalls); i++)
		r = allow(ctx, cold_syscalls[i]);
	/* malloc may still grow the heap with mmap; never executable. */
	if (r == 0)
		r = allow_mmap_noexec(ctx);
	if (r == 0 && xen)
		r = allow_ioctl(ctx, IOCTL_EVTCHN_NOTIFY);
	if (r == 0 && profile == DMB_PROFILE_GUEST_MEMORY) {
		r = allow_ioctl(ctx, IOCTL_PRIVCMD_MMAPBATCH_V2);
		if (r == 0)
			r = allow_ioctl(ctx, IOCTL_PRIVCMD_MMAP_RESOURCE);
	}
	/* Foreign architectures: the broker's filter kills them already; so do we. */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	/* Every thread the device model started, not only this one (S2). */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r == 0) {
		sanitizer_before_lockdown();
		r = seccomp_load(ctx);
	}
	seccomp_release(ctx);
	if (r < 0)
		return log_errno(r, "%s: install the seccomp allow-list", d->name);
	log_debug("%s: seccomp allow-list installed%s", d->name, log_only ? " (log mode)" : "");
	return 0;
}
