/* SPDX-License-Identifier: MIT */
/*
 * security-probe: a hostile device model for tests/security.  The broker
 * launches it like any other device model (a policy entry, its own
 * sandbox, the handoff on fd 3); it then tries one forbidden thing and
 * reports the outcome on stdout, which the broker captures into its log
 * and `dmbrokerctl logs`, as lines
 *
 *   PROBE <what> <result> [detail]     result: "ok" (it worked), an errno
 *                                      name, or a word the test knows
 *   PROBE <what> trying [detail]       printed before a call the baseline
 *                                      filter must kill: if the next line
 *                                      never comes, it died right there
 *
 *   security-probe [--at start|io] [--threads N] [--lockdown] [--pid PID]... --try WHAT [ARG...]
 *
 * --at start tries after the handoff (dmb_open), before dmb_run; --at io
 * (the default) when the guest writes port BASE+0 of its claim, i.e. once
 * the guest runs and its neighbours serve, so that a probe killed for its
 * attempt does not fail the attach.  A 32-bit write to BASE+4 adds a target
 * pid (the test learns its neighbours' pids from `dms` and passes them
 * through the guest's I/O, as a compromised device model could learn a pid).
 * Everything after WHAT is its arguments, taken literally.  After the
 * attempt it keeps serving (reads return 0xcafe0000 | port) until the
 * broker stops it, unless the attempt killed it.
 *
 * It models a compromised device model: it skips libdmb's allow-list
 * (no_lockdown), so what stops it is the broker's sandbox alone.  With
 * --lockdown it keeps the allow-list, like a real device model (to check
 * that the allow-list reaches threads started before dmb_run).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <sched.h>
#include <termios.h>
#include <unistd.h>

#include <linux/capability.h>

#include "common/util.h"
#include "dm/dmb.h"

#define MAX_ARGS     16
#define MAX_PIDS     16
#define BOMB_FORKS   512             /* stop here if nothing stops us first */
#define BOMB_FDS     4096            /* ditto */
#define BOMB_CHUNK   (8ull << 20)    /* memory bomb: 8 MiB at a time, touched */
#define BOMB_MEM_MAX (1024ull << 20) /* ditto: 1 GiB means "no limit" */
#define EXEC_OUT_MAX 16384

extern char **environ;

static const char *what;
static const char *args[MAX_ARGS];
static unsigned n_args;
static pid_t pids[MAX_PIDS];
static unsigned n_pids;
static unsigned tries;

static void say(const char *w, const char *fmt, ...) _printf_(2, 3);
static void say(const char *w, const char *fmt, ...)
{
	char buf[240];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("PROBE %s %s\n", w, buf);
	fflush(stdout);
}

/* "ENOENT" for ENOENT, "ok" for 0. */
static const char *ename(int e)
{
	static char buf[16];
	const char *n;

	if (e == 0)
		return "ok";
	n = strerrorname_np(e);
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

/* errno name of a call that returned r (<0: failed), closing r if it is a new fd. */
static const char *result_fd(int r)
{
	int e = errno;

	if (r >= 0) {
		close(r);
		return "ok";
	}
	return ename(e);
}

static const char *arg(unsigned i, const char *dflt)
{
	return i < n_args ? args[i] : dflt;
}

/* ---- the file system, devices, sockets ------------------------------------ */

static void t_open(int flags, const char *label)
{
	for (unsigned i = 0; i < n_args; i++)
		say(label, "%s %s", result_fd(open(args[i], flags | O_CLOEXEC)), args[i]);
	say(label, "done n=%u", n_args);
}

static void t_read_shadow(void)
{
	char c;
	int fd = open("/etc/shadow", O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		say(what, "%s /etc/shadow", ename(errno));
		return;
	}
	say(what, "ok /etc/shadow read %zd", read(fd, &c, 1));
	close(fd);
}

static void t_connect_unix(bool abstract)
{
	for (unsigned i = 0; i < n_args; i++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		socklen_t len = sizeof(sa);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

		if (abstract) {
			/* Abstract names live in the network namespace, not the file system. */
			snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "%s", args[i]);
			len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			                  strlen(args[i]));
		} else {
			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", args[i]);
		}
		r = fd < 0 ? -1 : connect(fd, (struct sockaddr *)&sa, len);
		say(what, "%s %s", r < 0 ? ename(errno) : "ok", args[i]);
		util_close(fd);
	}
	say(what, "done n=%u", n_args);
}

static void t_connect_tcp(int family)
{
	uint16_t port = (uint16_t)atoi(arg(0, "1"));
	struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	in6.sin6_addr = in6addr_loopback;
	if (fd < 0) {
		say(what, "%s socket", ename(errno));
		return;
	}
	r = family == AF_INET ? connect(fd, (struct sockaddr *)&in4, sizeof(in4))
	                      : connect(fd, (struct sockaddr *)&in6, sizeof(in6));
	say(what, "%s %s port %u", r < 0 ? ename(errno) : "ok",
	    family == AF_INET ? "127.0.0.1" : "::1", port);
	close(fd);
}

static void t_raw_socket(void)
{
	say(what, "%s AF_INET SOCK_RAW",
	    result_fd(socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP)));
	say(what, "%s AF_PACKET", result_fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)));
}

/* Every open fd and its kind, found without /proc (there is none in the jail). */
static void t_fd_scan(void)
{
	char list[200] = "";
	size_t used = 0;
	unsigned n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		const char *kind = "other";
		struct stat st;
		int type = 0;
		socklen_t len = sizeof(type);

		if (fcntl(fd, F_GETFD) < 0)
			continue;
		n++;
		if (fstat(fd, &st) < 0)
			kind = "unknown";
		else if (S_ISCHR(st.st_mode))
			kind = st.st_rdev == makedev(1, 3) ? "null" : "chr";
		else if (S_ISFIFO(st.st_mode))
			kind = "fifo";
		else if (S_ISREG(st.st_mode))
			kind = "file";
		else if (S_ISDIR(st.st_mode))
			kind = "dir";
		else if ((st.st_mode & S_IFMT) == 0)
			kind = "anon"; /* eventfd, epoll */
		else if (S_ISSOCK(st.st_mode))
			kind = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ? "sock"
			       : type == SOCK_SEQPACKET                             ? "seqpacket"
			       : type == SOCK_STREAM                                ? "stream"
			                                                            : "dgram";
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%d:%s",
			                         used ? "," : "", fd, kind);
	}
	say(what, "ok n=%u %s", n, list);
}

/* ---- other processes -------------------------------------------------------- */

static void t_signal(void)
{
	for (unsigned i = 0; i < n_pids; i++) {
		int r = kill(pids[i], 0);
		say("kill", "%s %d", r < 0 ? ename(errno) : "ok", (int)pids[i]);
		say("pidfd-open", "%s %d", result_fd((int)syscall(SYS_pidfd_open, pids[i], 0)),
		    (int)pids[i]);
	}
	say(what, "done n=%u", n_pids);
}

static void t_proc(void)
{
	char path[64];

	for (unsigned i = 0; i < n_pids; i++) {
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pids[i]);
		say(what, "%s %s", result_fd(open(path, O_RDONLY | O_CLOEXEC)), path);
	}
	say(what, "%s /proc/self/exe", result_fd(open("/proc/self/exe", O_RDONLY | O_CLOEXEC)));
	say(what, "done n=%u", n_pids);
}

static void t_ptrace(void)
{
	long r;

	if (!n_pids) {
		say(what, "nopid");
		return;
	}
	say(what, "trying %d", (int)pids[0]);
	r = ptrace(PTRACE_ATTACH, pids[0], NULL, NULL);
	say(what, "%s %d", r < 0 ? ename(errno) : "ok", (int)pids[0]);
}

/* ---- privilege ------------------------------------------------------------- */

static void t_setuid0(void)
{
	long r = syscall(SYS_setresuid, 0, 0, 0);

	say(what, "%s setresuid", r < 0 ? ename(errno) : "ok");
	r = syscall(SYS_setresgid, 0, 0, 0);
	say(what, "%s setresgid", r < 0 ? ename(errno) : "ok");
	r = syscall(SYS_setuid, 0);
	say(what, "%s setuid uid=%u euid=%u", r < 0 ? ename(errno) : "ok", getuid(), geteuid());
}

static void t_capset(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {{0}};
	long r;

	d[0].effective = d[0].permitted = d[0].inheritable = 1u << CAP_SYS_ADMIN;
	r = syscall(SYS_capset, &hdr, d);
	say(what, "%s capset", r < 0 ? ename(errno) : "ok");
	r = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0);
	say(what, "%s ambient", r < 0 ? ename(errno) : "ok");
	r = prctl(PR_SET_SECUREBITS, 0, 0, 0, 0);
	say(what, "%s securebits", r < 0 ? ename(errno) : "ok");
}

/*
 * Exec a setuid-root binary (it is under /usr, which the jail has) and see
 * what the kernel gave it: ld.so prints the auxiliary vector for
 * LD_SHOW_AUXV=1 unless the exec was a secure one (AT_SECURE, i.e. it
 * gained privilege), in which case it drops the variable and prints
 * nothing.  So "AT_EUID: our uid, AT_SECURE: 0" proves it ran with no
 * privilege; no auxv at all means it was privileged.
 */
static void t_setuid_exec(void)
{
	const char *path = arg(0, "/usr/bin/su");
	static char out[EXEC_OUT_MAX];
	unsigned euid = ~0u, secure = ~0u;
	size_t got = 0;
	struct stat st;
	int p[2], status = -1, execerr = 0;
	const char *s;
	pid_t pid;

	if (stat(path, &st) < 0) {
		say(what, "%s stat %s", ename(errno), path);
		return;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		say(what, "%s pipe", ename(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		char *const av[] = {(char *)path, (char *)"--version", NULL};
		char *const ev[] = {(char *)"LD_SHOW_AUXV=1", (char *)"PATH=/usr/bin", NULL};

		if (dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
			_exit(126);
		execve(path, av, ev);
		dprintf(p[1], "EXECFAIL %d\n", errno);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		say(what, "%s fork", ename(errno));
		close(p[0]);
		return;
	}
	for (;;) {
		ssize_t n = read(p[0], out + got, sizeof(out) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (got += (size_t)n) + 1 >= sizeof(out))
			break;
	}
	out[got] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	if ((s = strstr(out, "EXECFAIL ")))
		execerr = atoi(s + 9);
	if ((s = strstr(out, "AT_EUID:")))
		euid = (unsigned)strtoul(s + 8, NULL, 10);
	if ((s = strstr(out, "AT_SECURE:")))
		secure = (unsigned)strtoul(s + 10, NULL, 10);
	if (execerr)
		say(what, "%s exec %s mode=%o", ename(execerr), path, (unsigned)st.st_mode & 07777);
	else if (secure == ~0u)
		say(what, "PRIVILEGED %s: secure exec (no auxv shown) mode=%o", path,
		    (unsigned)st.st_mode & 07777);
	else
		say(what, "%s %s euid=%u secure=%u mode=%o uid=%u",
		    euid == getuid() && secure == 0 ? "unprivileged" : "PRIVILEGED", path, euid,
		    secure, (unsigned)st.st_mode & 07777, getuid());
}

/* ---- calls the baseline filter kills ------------------------------------ */

static long int80_getpid(void)
{
	long ret = 20; /* i386 __NR_getpid */

	__asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
	return ret;
}

static void t_killed(void)
{
	long r = 0;
	int fd = atoi(arg(0, "0"));

	say(what, "trying");
	if (!strcmp(what, "mount"))
		r = mount("none", "/", "tmpfs", 0, NULL);
	else if (!strcmp(what, "unshare"))
		r = unshare(CLONE_NEWUSER | CLONE_NEWNS);
	else if (!strcmp(what, "setns"))
		r = setns(3, 0);
	else if (!strcmp(what, "tiocsti"))
		r = ioctl(fd, TIOCSTI, "x");
	else if (!strcmp(what, "tiocsti-hi"))
		r = syscall(SYS_ioctl, fd, (1ul << 32) | TIOCSTI, "x");
	else if (!strcmp(what, "x32"))
		r = syscall(0x40000000 /* __X32_SYSCALL_BIT */ | SYS_getpid);
	else if (!strcmp(what, "int80"))
		r = int80_getpid();
	say(what, "survived r=%ld %s", r, ename(r < 0 ? errno : 0));
}

/* ---- resource bombs ----------------------------------------------------------- */

static void t_fork_bomb(void)
{
	static pid_t kids[BOMB_FORKS];
	unsigned n = 0;
	int err = 0;

	while (n < BOMB_FORKS) {
		pid_t pid = fork();
		if (pid == 0)
			for (;;)
				pause();
		if (pid < 0) {
			err = errno;
			break;
		}
		kids[n++] = pid;
	}
	for (unsigned i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (unsigned i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);
	say(what, "%s forks=%u", err ? ename(err) : "ok", n);
}

static void t_memory_bomb(void)
{
	static void *chunk[BOMB_MEM_MAX / BOMB_CHUNK];
	unsigned n = 0;
	int err = 0;

	while (n < ARRAY_SIZE(chunk)) {
		void *p = mmap(NULL, BOMB_CHUNK, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			err = errno;
			break;
		}
		memset(p, 0xa5, BOMB_CHUNK); /* real memory, not just address space */
		chunk[n++] = p;
	}
	for (unsigned i = 0; i < n; i++)
		munmap(chunk[i], BOMB_CHUNK);
	/* malloc fails the same way, and recovers once the memory is back. */
	say(what, "%s mib=%llu malloc_after=%s", err ? ename(err) : "ok",
	    (unsigned long long)(n * BOMB_CHUNK >> 20), malloc(1 << 20) ? "ok" : "failed");
}

static void t_fd_bomb(void)
{
	static int fds[BOMB_FDS];
	unsigned n = 0;
	int err = 0;

	while (n < BOMB_FDS) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = errno;
			break;
		}
		fds[n++] = fd;
	}
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	say(what, "%s fds=%u", err ? ename(err) : "ok", n);
}

/* ---- what it was given ---------------------------------------------------- */

static void t_env(void)
{
	unsigned n = 0;

	for (char **e = environ; *e; e++, n++)
		say(what, "ok %s", *e);
	say(what, "end n=%u", n);
}

static void t_argv(void)
{
	for (unsigned i = 0; i < n_args; i++)
		say(what, "ok %u %s", i, args[i]);
	say(what, "end n=%u", n_args);
}

/* A child that tries to get away (new session) and stays: it must die with us. */
static void t_fork_linger(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		setsid();
		for (;;)
			pause();
	}
	say(what, "%s child=%d", pid < 0 ? ename(errno) : "ok", (int)pid);
}

static void t_hold_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	say(what, "%s fd=%d", fd < 0 ? ename(errno) : "ok", fd);
}

static void t_lower_nofile(void)
{
	struct rlimit rl = {.rlim_cur = 32, .rlim_max = 32};

	say(what, "%s", setrlimit(RLIMIT_NOFILE, &rl) < 0 ? ename(errno) : "ok");
}

static void *exec_other(void *unused)
{
	char *const av[] = {(char *)arg(0, "/usr/bin/sleep"), (char *)arg(1, "3600"), NULL};

	(void)unused;
	util_sleep_ns(50000000); /* let the guest's write that asked for this complete */
	execv(av[0], av);
	say(what, "%s %s", ename(errno), av[0]);
	return NULL;
}

/* Replace itself with another program from /usr: from a thread, so the guest's I/O completes. */
static void t_exec_other(void)
{
	pthread_t t;

	say(what, "trying %s", arg(0, "/usr/bin/sleep"));
	if (pthread_create(&t, NULL, exec_other, NULL) != 0)
		say(what, "thread failed");
}

static void t_none(void)
{
	say(what, "ok");
}

static const struct {
	const char *name;
	void (*fn)(void);
} try_table[] = {
        {"none", t_none},
        {"read-shadow", t_read_shadow},
        {"connect-unix", NULL},
        {"connect-abstract", NULL},
        {"connect-tcp4", NULL},
        {"connect-tcp6", NULL},
        {"raw-socket", t_raw_socket},
        {"open", NULL},
        {"write", NULL},
        {"fd-scan", t_fd_scan},
        {"signal", t_signal},
        {"proc", t_proc},
        {"ptrace", t_ptrace},
        {"setuid0", t_setuid0},
        {"capset", t_capset},
        {"setuid-exec", t_setuid_exec},
        {"mount", t_killed},
        {"unshare", t_killed},
        {"setns", t_killed},
        {"tiocsti", t_killed},
        {"tiocsti-hi", t_killed},
        {"x32", t_killed},
        {"int80", t_killed},
        {"fork-bomb", t_fork_bomb},
        {"memory-bomb", t_memory_bomb},
        {"fd-bomb", t_fd_bomb},
        {"env", t_env},
        {"argv", t_argv},
        {"fork-linger", t_fork_linger},
        {"hold-fd", t_hold_fd},
        {"lower-nofile", t_lower_nofile},
        {"exec-other", t_exec_other},
};

static void run_try(void)
{
	tries++;
	if (!strcmp(what, "connect-unix"))
		return t_connect_unix(false);
	if (!strcmp(what, "connect-abstract"))
		return t_connect_unix(true);
	if (!strcmp(what, "connect-tcp4"))
		return t_connect_tcp(AF_INET);
	if (!strcmp(what, "connect-tcp6"))
		return t_connect_tcp(AF_INET6);
	if (!strcmp(what, "open"))
		return t_open(O_RDWR, what);
	if (!strcmp(what, "write"))
		return t_open(O_WRONLY, what);
	for (size_t i = 0; i < ARRAY_SIZE(try_table); i++)
		if (!strcmp(what, try_table[i].name) && try_table[i].fn)
			return try_table[i].fn();
	say(what, "unknown");
}

/* ---- serving ------------------------------------------------------------ */

static bool at_io = true;

static uint64_t pio_read(void *o, uint16_t port, unsigned size)
{
	(void)o, (void)size;
	return (port & 0xf) == 0 ? tries : 0xcafe0000u | port;
}

static void pio_write(void *o, uint16_t port, unsigned size, uint64_t v)
{
	(void)o, (void)size;
	if ((port & 0xf) == 4 && n_pids < MAX_PIDS)
		pids[n_pids++] = (pid_t)v;
	else if ((port & 0xf) == 0 && at_io)
		run_try();
}

static const struct dmb_ops ops = {.pio_read = pio_read, .pio_write = pio_write};

static pthread_barrier_t started;
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_never = PTHREAD_COND_INITIALIZER;

/*
 * Threads started before dmb_run(): each waits until its own start-up
 * syscalls are behind it (the barrier), then sleeps on a condition nobody
 * signals (futex, which the allow-list permits; no extra fd for verify to
 * count); what is checked is that the filter reaches them.
 */
static void *idle_thread(void *arg)
{
	pthread_barrier_wait(&started);
	pthread_mutex_lock(&idle_lock);
	for (;;)
		pthread_cond_wait(&idle_never, &idle_lock);
	return arg;
}

int main(int argc, char **argv)
{
	struct dmb_config cfg = {
	        .ops = &ops, .fd = DMB_FD_DEFAULT, .poll_us = -1, .no_lockdown = true};
	unsigned threads = 0;
	struct dmb *d;
	int i, r;

	for (i = 1; i < argc && !what; i++) {
		if (!strcmp(argv[i], "--at") && i + 1 < argc)
			at_io = strcmp(argv[++i], "start") != 0;
		else if (!strcmp(argv[i], "--lockdown"))
			cfg.no_lockdown = false;
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--pid") && i + 1 < argc && n_pids < MAX_PIDS)
			pids[n_pids++] = (pid_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--try") && i + 1 < argc)
			what = argv[++i];
		else
			return 2;
	}
	/* Everything after WHAT is its arguments, whatever they look like ("--", "$(...)"). */
	for (; i < argc && n_args < MAX_ARGS; i++)
		args[n_args++] = argv[i];
	if (!what)
		return 2;
	r = dmb_open(&cfg, &d);
	if (r < 0)
		return 1;
	if (threads && pthread_barrier_init(&started, NULL, threads + 1) != 0)
		return 1;
	for (unsigned t = 0; t < threads; t++) {
		pthread_t th;
		if (pthread_create(&th, NULL, idle_thread, NULL) != 0)
			return 1;
	}
	if (threads)
		pthread_barrier_wait(&started);
	if (!at_io)
		run_try();
	r = dmb_run(d);
	dmb_close(d);
	return r < 0 ? 1 : 0;
}
