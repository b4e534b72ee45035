/* SPDX-License-Identifier: MIT */
/*
 * sandbox-probe: started by tests through sandbox_spawn(), it reports what a
 * device model sees from the inside (test-sandbox.c checks the outside).
 *
 *   sandbox-probe [--peer PID]  key=value lines on fd 3, then "end", then
 *                               wait for EOF on fd 3 (so the test can look
 *                               at /proc/PID from outside meanwhile)
 *   sandbox-probe --try NAME    attempt one thing, write "try=ok" or
 *                               "try=errno N" on fd 3, exit 0; the test
 *                               expects either that or death by SIGSYS
 *   sandbox-probe --ran         write "RAN" on fd 3 and exit (fail_step tests)
 *   sandbox-probe --exit CODE   exit with CODE
 *
 * No /proc in the jail: everything is asked of the kernel directly.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <grp.h>
#include <sched.h>
#include <termios.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/keyctl.h>

#include <linux/types.h>
#include <xen/xen.h>
#include <xen/sys/privcmd.h>

#if defined(__SANITIZE_ADDRESS__)
/*
 * ASan reads its options from /proc/self/environ, which the jail does not
 * have, and LeakSanitizer needs ptrace, which the filter kills: compiled-in
 * options instead.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

#define OUT 3

extern char **environ;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdprintf(OUT, fmt, ap);
	va_end(ap);
}

/* ---- report mode ------------------------------------------------------- */

static unsigned long long caps_of(const struct __user_cap_data_struct *d, int which)
{
	uint32_t lo, hi;

	switch (which) {
	case 0:
		lo = d[0].effective, hi = d[1].effective;
		break;
	case 1:
		lo = d[0].permitted, hi = d[1].permitted;
		break;
	default:
		lo = d[0].inheritable, hi = d[1].inheritable;
		break;
	}
	return (unsigned long long)hi << 32 | lo;
}

static void report_caps(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	unsigned long long bnd = 0, amb = 0;

	memset(d, 0xff, sizeof(d));
	if (syscall(SYS_capget, &hdr, d) < 0) {
		out("capget=errno %d\n", errno);
		return;
	}
	out("capeff=%llx\ncapprm=%llx\ncapinh=%llx\n", caps_of(d, 0), caps_of(d, 1), caps_of(d, 2));
	for (int cap = 0; cap < 64; cap++) {
		int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (r < 0)
			break;
		if (r)
			bnd |= 1ull << cap;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1)
			amb |= 1ull << cap;
	}
	out("capbnd=%llx\ncapamb=%llx\n", bnd, amb);
	out("securebits=%x\n", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
}

static void report_limit(const char *name, int res)
{
	struct rlimit rl;

	if (getrlimit(res, &rl) < 0) {
		out("rlimit_%s=errno %d\n", name, errno);
		return;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		out("rlimit_%s=inf", name);
	else
		out("rlimit_%s=%llu", name, (unsigned long long)rl.rlim_cur);
	if (rl.rlim_max == RLIM_INFINITY)
		out(":inf\n");
	else
		out(":%llu\n", (unsigned long long)rl.rlim_max);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, comma-separated entries of a directory (without . and ..). */
static void report_dir(const char *key, const char *path)
{
	char *names[64];
	unsigned n = 0;
	struct dirent *de;
	DIR *d = opendir(path);

	if (!d) {
		out("%s=errno %d\n", key, errno);
		return;
	}
	while ((de = readdir(d)) && n < 64)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	out("%s=", key);
	for (unsigned i = 0; i < n; i++) {
		out("%s%s", i ? "," : "", names[i]);
		free(names[i]);
	}
	out("\n");
}

/* exists (F_OK) and can be opened for reading: "yes" or the errno. */
static void report_path(const char *path)
{
	int fd;

	if (faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		out("exists %s=%d\n", path, errno);
		return;
	}
	out("exists %s=yes\n", path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		out("open %s=%d\n", path, errno);
		return;
	}
	close(fd);
	out("open %s=yes\n", path);
}

static void report(pid_t peer)
{
	static const char *const paths[] = {
	        "/etc",      "/etc/shadow", "/etc/passwd",   "/proc",
	        "/proc/1",   "/sys",        "/dev/xen",      "/dev/xen/privcmd",
	        "/dev/zero", "/dev/null",   "/tmp",          "/root",
	        "/home",     "/run",        "/usr/bin/true", "/bin/sh",
	        "/work",
	};
	uid_t ru, eu, su;
	gid_t rg, eg, sg, groups[64];
	char cwd[PATH_MAX], c;
	int n, fd;

	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	out("uid=%u,%u,%u\ngid=%u,%u,%u\n", ru, eu, su, rg, eg, sg);
	n = getgroups(64, groups);
	out("groups=%d\n", n);
	report_caps();
	out("nnp=%d\nseccomp=%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
	    prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	out("dumpable=%d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
	out("pid=%d\nppid=%d\nsid=%d\npgid=%d\n", (int)getpid(), (int)getppid(), (int)getsid(0),
	    (int)getpgid(0));
	report_limit("nofile", RLIMIT_NOFILE);
	report_limit("nproc", RLIMIT_NPROC);
	report_limit("core", RLIMIT_CORE);
	report_limit("fsize", RLIMIT_FSIZE);
	report_limit("memlock", RLIMIT_MEMLOCK);
	report_limit("msgqueue", RLIMIT_MSGQUEUE);
	report_limit("as", RLIMIT_AS);

	/* Every open fd, found without /proc; and which of them would leak through another exec. */
	out("fds=");
	n = 0;
	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			out("%s%d", n++ ? "," : "", fd);
	out("\ncloexec=");
	n = 0;
	for (fd = 0; fd < 1024; fd++) {
		int fl = fcntl(fd, F_GETFD);
		if (fl >= 0 && (fl & FD_CLOEXEC))
			out("%s%d", n++ ? "," : "", fd);
	}
	out("\n");
	out("stdin_read=%zd\n", read(0, &c, 1));
	out("cwd=%s\n", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
	report_dir("rootents", "/");
	report_dir("devents", "/dev");
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		report_path(paths[i]);
	out("mkdir_root=%d\n", mkdir("/dmb-probe", 0700) < 0 ? errno : 0);
	fd = open("/usr/dmb-probe", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	out("create_usr=%d\n", fd < 0 ? errno : 0);
	if (fd >= 0)
		close(fd);
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	out("write_devnull=%d\n", fd >= 0 && write(fd, "x", 1) == 1 ? 0 : errno);
	if (fd >= 0)
		close(fd);
	if (peer > 0)
		out("peer_kill=%d\n", kill(peer, 0) < 0 ? errno : 0);
	for (char **e = environ; *e; e++)
		out("env=%s\n", *e);
	out("end\n");
}

/* ---- try mode ---------------------------------------------------------- */

static void *thread_fn(void *arg)
{
	return arg;
}

/* A child that exits at once; returns 0 or -1 with errno. */
static long reap(long pid)
{
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid((pid_t)pid, NULL, __WALL);
	return pid < 0 ? -1 : 0;
}

static long try_int80_getpid(void)
{
	long ret = 20; /* __NR_getpid of i386 */

	__asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
	if (ret < 0 && ret > -4096) {
		errno = (int)-ret;
		return -1;
	}
	return 0;
}

static long try_capset(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {{0}};

	d[0].effective = d[0].permitted = 1u << CAP_SYS_ADMIN;
	return syscall(SYS_capset, &hdr, d);
}

static long try_one(const char *name)
{
	static char buf[16];
	struct iovec local = {buf, 1}, remote = {buf, 1};
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	} c3 = {.exit_signal = SIGCHLD};
	pthread_t t;
	gid_t g0 = 0;

	if (!strcmp(name, "getpid"))
		return getpid() > 0 ? 0 : -1;
	if (!strcmp(name, "fork"))
		return reap(fork());
	if (!strcmp(name, "thread")) {
		int r = pthread_create(&t, NULL, thread_fn, NULL);
		if (r) {
			errno = r;
			return -1;
		}
		return pthread_join(t, NULL);
	}
	if (!strcmp(name, "unshare_user"))
		return unshare(CLONE_NEWUSER);
	if (!strcmp(name, "unshare_ns"))
		return unshare(CLONE_NEWNS);
	if (!strcmp(name, "setns"))
		return setns(0, 0);
	if (!strcmp(name, "mount"))
		return mount("none", "/", "tmpfs", 0, NULL);
	if (!strcmp(name, "umount"))
		return umount2("/usr", MNT_DETACH);
	if (!strcmp(name, "pivot_root"))
		return syscall(SYS_pivot_root, ".", ".");
	if (!strcmp(name, "chroot"))
		return chroot("/");
	if (!strcmp(name, "open_tree"))
		return syscall(SYS_open_tree, AT_FDCWD, "/", 0);
	if (!strcmp(name, "ptrace"))
		return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	if (!strcmp(name, "process_vm_readv"))
		return process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	if (!strcmp(name, "pidfd_getfd"))
		return syscall(SYS_pidfd_getfd, -1, 0, 0);
	if (!strcmp(name, "bpf"))
		return syscall(SYS_bpf, 0, NULL, 0);
	if (!strcmp(name, "keyctl"))
		return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
	if (!strcmp(name, "perf_event_open"))
		return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
	if (!strcmp(name, "userfaultfd"))
		return syscall(SYS_userfaultfd, O_CLOEXEC);
	if (!strcmp(name, "io_uring"))
		return syscall(SYS_io_uring_setup, 1, NULL);
	if (!strcmp(name, "iopl"))
		return syscall(SYS_iopl, 0);
	if (!strcmp(name, "mknod"))
		return mknod("/dmb-probe-null", S_IFCHR | 0600, makedev(1, 3));
	if (!strcmp(name, "open_by_handle"))
		return syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0);
	if (!strcmp(name, "reboot"))
		return syscall(SYS_reboot, 0, 0, 0, NULL); /* bad magic: EINVAL even if allowed */
	if (!strcmp(name, "settimeofday"))
		return syscall(SYS_settimeofday, NULL, NULL); /* a no-op even if allowed */
	if (!strcmp(name, "x32"))
		return syscall(0x40000000 /* __X32_SYSCALL_BIT */ | SYS_getpid);
	if (!strcmp(name, "int80"))
		return try_int80_getpid();
	if (!strcmp(name, "tiocsti"))
		return ioctl(0, TIOCSTI, "x");
	if (!strcmp(name, "tiocsti_hi"))
		return syscall(SYS_ioctl, 0, (1ul << 32) | TIOCSTI, "x");
	if (!strcmp(name, "tioclinux"))
		return ioctl(0, TIOCLINUX, buf);
	if (!strcmp(name, "clone_newns"))
		return reap(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0));
	if (!strcmp(name, "clone_newuser"))
		return reap(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
	if (!strcmp(name, "clone_newnet"))
		return reap(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0));
	if (!strcmp(name, "clone3"))
		return reap(syscall(SYS_clone3, &c3, sizeof(c3)));
	if (!strcmp(name, "personality_query"))
		return personality(0xffffffff) < 0 ? -1 : 0;
	if (!strcmp(name, "personality_linux"))
		return personality(PER_LINUX) < 0 ? -1 : 0;
	if (!strcmp(name, "personality32"))
		return personality(PER_LINUX32) < 0 ? -1 : 0;
	if (!strcmp(name, "personality_hi"))
		return syscall(SYS_personality, (1ul << 32) | PER_LINUX) < 0 ? -1 : 0;
	if (!strcmp(name, "privcmd_hypercall"))
		return ioctl(0, IOCTL_PRIVCMD_HYPERCALL, NULL);
	if (!strcmp(name, "privcmd_hypercall_hi"))
		return syscall(SYS_ioctl, 0, (1ul << 32) | IOCTL_PRIVCMD_HYPERCALL, NULL);
	if (!strcmp(name, "privcmd_dm_op"))
		return ioctl(0, IOCTL_PRIVCMD_DM_OP, NULL);
	if (!strcmp(name, "privcmd_mmap"))
		return ioctl(0, IOCTL_PRIVCMD_MMAP, NULL);
	if (!strcmp(name, "privcmd_mmapbatch"))
		return ioctl(0, IOCTL_PRIVCMD_MMAPBATCH, NULL);
	if (!strcmp(name, "privcmd_mmapbatch_v2"))
		return ioctl(0, IOCTL_PRIVCMD_MMAPBATCH_V2, NULL);
	if (!strcmp(name, "privcmd_mmap_resource"))
		return ioctl(0, IOCTL_PRIVCMD_MMAP_RESOURCE, NULL);
	if (!strcmp(name, "setuid0"))
		return syscall(SYS_setuid, 0);
	if (!strcmp(name, "setgroups"))
		return syscall(SYS_setgroups, 1, &g0);
	if (!strcmp(name, "capset"))
		return try_capset();
	if (!strcmp(name, "write_root"))
		return open("/dmb-probe", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	errno = ENOENT;
	out("try=unknown %s\n", name);
	exit(2);
}

int main(int argc, char **argv)
{
	pid_t peer = 0;
	char c;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--exit") && i + 1 < argc)
			return atoi(argv[i + 1]);
		if (!strcmp(argv[i], "--ran")) {
			out("RAN\n");
			return 0;
		}
		if (!strcmp(argv[i], "--try") && i + 1 < argc) {
			long r;

			errno = 0;
			r = try_one(argv[i + 1]);
			if (r < 0)
				out("try=errno %d\n", errno);
			else
				out("try=ok\n");
			return 0;
		}
		if (!strcmp(argv[i], "--peer") && i + 1 < argc)
			peer = (pid_t)atoi(argv[++i]);
	}
	report(peer);
	/* Stay until the test has looked at us from outside and closes its end. */
	while (read(OUT, &c, 1) > 0)
		;
	return 0;
}
