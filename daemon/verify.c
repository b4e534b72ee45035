/* SPDX-License-Identifier: MIT */
/*
 * Checking a live device model from outside (verify.h).
 *
 * Everything comes from /proc/PID, opened once as a directory fd: the broker
 * is the device model's parent and reaps it only from its own loop, which
 * is busy here, so the pid cannot be reused while we look (a process that
 * dies meanwhile stays a zombie, which we notice).  Per-task attributes
 * (ids, capabilities, no_new_privs, seccomp) are checked on every thread,
 * since each thread has its own.  Nothing here trusts what the device model
 * says about itself; its comm and fd targets are shown sanitised.
 */
#include "daemon/verify.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/magic.h>
#include <linux/types.h>
#include <xen/xen.h>
#include <xen/sys/evtchn.h>

#include "common/util.h"
#include "daemon/broker-internal.h"
#include "daemon/cgroup.h"
#include "daemon/policy.h"

#define STATUS_MAX      8192
#define MOUNTINFO_MAX   32768
#define MAX_DESCENDANTS 64
#define NOTE_MAX        160

static void add(struct verify_report *rep, const char *name, bool ok, const char *fmt, ...)
        _printf_(4, 5);
static void add(struct verify_report *rep, const char *name, bool ok, const char *fmt, ...)
{
	struct verify_check *c;
	va_list ap;

	if (rep->n >= VERIFY_MAX_CHECKS)
		return;
	c = &rep->c[rep->n++];
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->ok = ok;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	if (!ok)
		rep->failed++;
}

/* Keep the first problem found (later ones of the same kind add nothing for the operator). */
static void note(char *slot, const char *fmt, ...) _printf_(2, 3);
static void note(char *slot, const char *fmt, ...)
{
	va_list ap;

	if (slot[0])
		return;
	va_start(ap, fmt);
	vsnprintf(slot, NOTE_MAX, fmt, ap);
	va_end(ap);
}

/* What a device model controls (its comm, a path it opened) is shown without control bytes. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* Read a small /proc file relative to dirfd into buf, NUL-terminated: its length or -errno. */
static ssize_t read_at(int dirfd, const char *name, char *buf, size_t size)
{
	size_t got = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (got + 1 < size) {
		ssize_t n = read(fd, buf + got, size - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			close(fd);
			return r;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	return (ssize_t)got;
}

/* The value of "Key:" in a status file, blanks skipped, up to the newline; NULL if absent. */
static const char *field(const char *buf, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key);

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, kl) && p[kl] == ':') {
			const char *v = p + kl + 1;

			v += strspn(v, " \t");
			snprintf(out, size, "%.*s", (int)strcspn(v, "\n"), v);
			return out;
		}
	}
	return NULL;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* ---- per-task credentials and filters ------------------------------------- */

struct creds {
	unsigned n;           /* tasks looked at */
	unsigned min_filters; /* fewest seccomp filters on any of them ... */
	unsigned max_filters; /* ... and most */
	pid_t min_tid, max_tid;
	char uid[NOTE_MAX], gid[NOTE_MAX], groups[NOTE_MAX], caps[NOTE_MAX], nnp[NOTE_MAX],
	        seccomp[NOTE_MAX];
};

static void check_ids(const char *st, const char *key, unsigned want, pid_t tid, char *slot)
{
	unsigned a[4];
	char v[128];

	if (!field(st, key, v, sizeof(v)) ||
	    sscanf(v, "%u %u %u %u", &a[0], &a[1], &a[2], &a[3]) != 4)
		note(slot, "task %d: no %s line", (int)tid, key);
	else if (want == 0 || a[0] != want || a[1] != want || a[2] != want || a[3] != want)
		note(slot, "task %d: %s %u/%u/%u/%u (real/effective/saved/fs), want %u", (int)tid,
		     key, a[0], a[1], a[2], a[3], want);
}

static void check_status(const char *st, const struct verify_expect *e, pid_t tid, struct creds *c)
{
	static const char *const capf[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
	char v[128];
	unsigned filters;

	check_ids(st, "Uid", e->uid, tid, c->uid);
	check_ids(st, "Gid", e->gid, tid, c->gid);
	if (!field(st, "Groups", v, sizeof(v)) || v[0])
		note(c->groups, "task %d: supplementary groups \"%.64s\"", (int)tid, v);
	for (size_t i = 0; i < ARRAY_SIZE(capf); i++) {
		if (!field(st, capf[i], v, sizeof(v)) || strtoull(v, NULL, 16) != 0)
			note(c->caps, "task %d: %s %.20s", (int)tid, capf[i], v);
	}
	if (!field(st, "NoNewPrivs", v, sizeof(v)) || strcmp(v, "1") != 0)
		note(c->nnp, "task %d: NoNewPrivs %.8s", (int)tid, v);
	if (!field(st, "Seccomp", v, sizeof(v)) || strcmp(v, "2") != 0)
		note(c->seccomp, "task %d: Seccomp %.8s (2 is filter mode)", (int)tid, v);
	filters = field(st, "Seccomp_filters", v, sizeof(v)) ? (unsigned)strtoul(v, NULL, 10) : 0;
	if (filters == 0)
		note(c->seccomp, "task %d: no seccomp filter", (int)tid);
	if (c->n == 0 || filters < c->min_filters) {
		c->min_filters = filters;
		c->min_tid = tid;
	}
	if (c->n == 0 || filters > c->max_filters) {
		c->max_filters = filters;
		c->max_tid = tid;
	}
	c->n++;
}

/* Every task of the process: /proc/PID/task/TID/status. */
static int scan_tasks(int procfd, const struct verify_expect *e, struct creds *c)
{
	char name[64], *buf = malloc(STATUS_MAX);
	struct dirent *de;
	DIR *d;
	int fd;

	if (!buf)
		return -ENOMEM;
	fd = openat(procfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int r = -errno;
		util_close(fd);
		free(buf);
		return r;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(name, sizeof(name), "%.20s/status", de->d_name);
		if (read_at(dirfd(d), name, buf, STATUS_MAX) < 0)
			continue; /* a thread that just exited */
		check_status(buf, e, (pid_t)atoi(de->d_name), c);
	}
	closedir(d);
	free(buf);
	return c->n ? 0 : -ESRCH;
}

static void report_creds(const struct creds *c, const struct verify_expect *e,
                         struct verify_report *rep)
{
	const char *s = c->n == 1 ? "" : "s";

	if (c->uid[0])
		add(rep, "uid", false, "%s", c->uid);
	else
		add(rep, "uid", true, "%u (real, effective, saved, fs) on %u task%s, as assigned",
		    e->uid, c->n, s);
	if (c->gid[0])
		add(rep, "gid", false, "%s", c->gid);
	else
		add(rep, "gid", true, "%u (real, effective, saved, fs) on %u task%s, as assigned",
		    e->gid, c->n, s);
	add(rep, "groups", !c->groups[0], "%s",
	    c->groups[0] ? c->groups : "no supplementary groups");
	add(rep, "capabilities", !c->caps[0], "%s",
	    c->caps[0] ? c->caps
	               : "inheritable, permitted, effective, bounding, ambient: all empty");
	add(rep, "no_new_privs", !c->nnp[0], "%s", c->nnp[0] ? c->nnp : "set");
	if (c->seccomp[0])
		add(rep, "seccomp", false, "%s", c->seccomp);
	else if (c->min_filters != c->max_filters)
		/* A filter loaded later by one thread without TSYNC leaves the others out. */
		add(rep, "seccomp", false,
		    "task %d has %u filters, task %d only %u: a filter did not reach every thread "
		    "(loaded without TSYNC?)",
		    (int)c->max_tid, c->max_filters, (int)c->min_tid, c->min_filters);
	else
		add(rep, "seccomp", true, "filter mode on all %u task%s, %u filter%s each", c->n, s,
		    c->min_filters, c->min_filters == 1 ? "" : "s");
}

/* ---- namespaces ------------------------------------------------------------ */

static const struct {
	const char *name;
	uint32_t bit; /* 0: user, which must stay the host's */
} ns_list[] = {
        {"mnt", POLICY_NS_MOUNT},
        {"pid", POLICY_NS_PID},
        {"ipc", POLICY_NS_IPC},
        {"uts", POLICY_NS_UTS},
        {"net", POLICY_NS_NET},
        {"cgroup", POLICY_NS_CGROUP},
        {"user", 0},
};

static int ns_link(int dirfd, const char *ns, char *buf, size_t size)
{
	char path[32];
	ssize_t n;

	snprintf(path, sizeof(path), "ns/%s", ns);
	n = readlinkat(dirfd, path, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static void check_namespaces(int procfd, int selffd, const struct verify_expect *e,
                             struct verify_report *rep)
{
	for (size_t i = 0; i < ARRAY_SIZE(ns_list); i++) {
		char name[16], its[64], ours[64];
		bool want_own = ns_list[i].bit && (e->namespaces & ns_list[i].bit);
		bool same;

		snprintf(name, sizeof(name), "ns_%s", ns_list[i].name);
		if (ns_link(procfd, ns_list[i].name, its, sizeof(its)) < 0 ||
		    ns_link(selffd, ns_list[i].name, ours, sizeof(ours)) < 0) {
			add(rep, name, false, "cannot read: %s", strerror(errno));
			continue;
		}
		same = !strcmp(its, ours);
		if (!ns_list[i].bit)
			add(rep, name, same,
			    same ? "the host's (%s): its uid is a real host uid"
			         : "its own (%s): it would have capabilities there",
			    its);
		else if (want_own)
			add(rep, name, !same,
			    same ? "SHARED with the broker (%s), but its policy asks for its own"
			         : "its own (%s), not the broker's",
			    its);
		else
			add(rep, name, true,
			    same ? "the broker's (%s): its policy does not ask for its own"
			         : "its own (%s); its policy does not ask for one",
			    its);
	}
}

/* ---- root, cwd, mounts ---------------------------------------------------- */

static void check_root_cwd(int procfd, const struct verify_expect *e, struct verify_report *rep)
{
	bool jail = e->namespaces & POLICY_NS_MOUNT;
	struct stat host, root, cwd;
	struct statfs sfs;
	char link[128];
	ssize_t n;
	int fd;

	if (stat("/", &host) < 0) {
		add(rep, "root", false, "cannot stat the broker's own /: %s", strerror(errno));
		return;
	}
	fd = openat(procfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &root) < 0 || fstatfs(fd, &sfs) < 0) {
		add(rep, "root", false, "cannot look at its root: %s", strerror(errno));
		util_close(fd);
		return;
	}
	close(fd);
	if (!jail && same_file(&root, &host))
		add(rep, "root", true, "the host's / (its policy has no mount namespace)");
	else if (!jail)
		add(rep, "root", false,
		    "not the host's / (dev %u:%u ino %llu), yet no jail was set up",
		    major(root.st_dev), minor(root.st_dev), (unsigned long long)root.st_ino);
	else if (same_file(&root, &host))
		add(rep, "root", false, "the HOST's /: it is not in its jail");
	else if (sfs.f_type != TMPFS_MAGIC || !(sfs.f_flags & ST_RDONLY))
		add(rep, "root", false,
		    "a %s file system of type 0x%lx, not the read-only tmpfs jail",
		    (sfs.f_flags & ST_RDONLY) ? "read-only" : "WRITABLE",
		    (unsigned long)sfs.f_type);
	else
		add(rep, "root", true, "its jail: a read-only tmpfs (dev %u:%u), not the host's /",
		    major(root.st_dev), minor(root.st_dev));

	n = readlinkat(procfd, "cwd", link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	sanitize(link);
	if (fstatat(procfd, "cwd", &cwd, 0) < 0)
		add(rep, "cwd", false, "cannot look at it: %s", strerror(errno));
	else if (same_file(&cwd, jail ? &root : &host))
		add(rep, "cwd", true, jail ? "the root of its jail" : "the host's / (no jail)");
	else
		add(rep, "cwd", false, "\"%s\" (dev %u:%u ino %llu), not the root of its %s", link,
		    major(cwd.st_dev), minor(cwd.st_dev), (unsigned long long)cwd.st_ino,
		    jail ? "jail" : "file system");
}

/*
 * /proc/PID/mountinfo: every mount read-only and nosuid, none shared, only /,
 * /usr(/...) and /dev/null.
 */
static void check_mounts(int procfd, const struct verify_expect *e, struct verify_report *rep)
{
	char bad[NOTE_MAX] = "", *buf;
	unsigned n = 0;

	if (!(e->namespaces & POLICY_NS_MOUNT)) {
		add(rep, "mounts", true, "the host's (its policy has no mount namespace)");
		return;
	}
	buf = malloc(MOUNTINFO_MAX);
	if (!buf || read_at(procfd, "mountinfo", buf, MOUNTINFO_MAX) < 0) {
		add(rep, "mounts", false, "cannot read its mountinfo: %s", strerror(errno));
		free(buf);
		return;
	}
	for (char *line = buf, *next; line && *line; line = next) {
		char mp[256], opts[256];
		const char *sep;
		bool ro = false, nosuid = false;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (sscanf(line, "%*s %*s %*s %*s %255s %255s", mp, opts) != 2) {
			note(bad, "unparsable line");
			continue;
		}
		n++;
		sanitize(mp);
		for (char *tok = strtok(opts, ","); tok; tok = strtok(NULL, ",")) {
			ro |= !strcmp(tok, "ro");
			nosuid |= !strcmp(tok, "nosuid");
		}
		/* Optional fields ("shared:N", "master:N") sit between the options and " - ". */
		sep = strstr(line, " - ");
		if (!ro)
			note(bad, "%.100s is writable", mp);
		else if (!nosuid)
			note(bad, "%.100s honours setuid bits", mp);
		else if (sep && memmem(line, (size_t)(sep - line), "shared:", 7))
			note(bad, "%.100s propagates to and from the host (shared)", mp);
		else if (strcmp(mp, "/") && strcmp(mp, "/usr") && strncmp(mp, "/usr/", 5) &&
		         strcmp(mp, "/dev/null"))
			note(bad, "%.100s is mounted in its jail", mp);
	}
	free(buf);
	if (bad[0])
		add(rep, "mounts", false, "%s", bad);
	else
		add(rep, "mounts", true,
		    "%u mounts (/, /usr, /dev/null), all read-only and nosuid, none shared with "
		    "the "
		    "host",
		    n);
}

/* ---- fds ------------------------------------------------------------------- */

/*
 * Exactly what the broker handed over and what libdmb keeps after start:
 * 0 /dev/null, 1 and 2 pipes, 3 its channel; 4 the broker's end of that
 * channel and 5, 6 the read ends of its pipes, which it holds for a broker
 * restart (ipc/dmproto.h: DMP_KEEP); once serving, an epoll fd and
 * on the simulator two eventfds per vCPU (plus one for the buffered port),
 * on Xen one /dev/xen/evtchn fd.  Its pages are mappings, not fds; the
 * privcmd fd it mapped them with on Xen is closed by then.
 */
static void check_fds(int procfd, const struct verify_expect *e, struct verify_report *rep)
{
	unsigned max_eventfd = 0, max_epoll = 0, max_evtchn = 0;
	unsigned n_eventfd = 0, n_epoll = 0, n_evtchn = 0, n = 0;
	char bad[NOTE_MAX] = "";
	struct dirent *de;
	DIR *d;
	int fd;

	if (e->serving) {
		max_epoll = 1;
		if (e->xen)
			max_evtchn = 1;
		else
			max_eventfd = 2 * e->nr_vcpus + (e->has_buf ? 1 : 0);
	}
	fd = openat(procfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		add(rep, "fds", false, "cannot list its fds: %s", strerror(errno));
		util_close(fd);
		return;
	}
	while ((de = readdir(d))) {
		char link[128];
		struct stat st;
		ssize_t len;
		int num;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		num = atoi(de->d_name);
		len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
		if (len < 0 || fstatat(dirfd(d), de->d_name, &st, 0) < 0)
			continue; /* closed meanwhile */
		link[len] = '\0';
		sanitize(link);
		n++;
		if (num == 0) {
			if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
				note(bad, "fd 0 is \"%.80s\", not /dev/null", link);
		} else if (num == 1 || num == 2) {
			if (!S_ISFIFO(st.st_mode))
				note(bad, "fd %d is \"%.80s\", not the broker's pipe", num, link);
		} else if (num == 3 || num == DMP_KEEP_CHANNEL_FD) {
			if (!S_ISSOCK(st.st_mode))
				note(bad, "fd %d is \"%.80s\", not its channel", num, link);
		} else if (num == DMP_KEEP_STDOUT_FD || num == DMP_KEEP_STDERR_FD) {
			if (!S_ISFIFO(st.st_mode))
				note(bad, "fd %d is \"%.80s\", not the broker's end of a pipe", num,
				     link);
		} else if (!strcmp(link, "anon_inode:[eventfd]")) {
			n_eventfd++;
		} else if (!strcmp(link, "anon_inode:[eventpoll]")) {
			n_epoll++;
		} else if (!strcmp(link, "/dev/xen/evtchn")) {
			n_evtchn++;
		} else {
			note(bad, "stray fd %d: \"%.100s\"", num, link);
		}
	}
	closedir(d);
	if (!bad[0] && (n_eventfd > max_eventfd || n_epoll > max_epoll || n_evtchn > max_evtchn))
		note(bad,
		     "%u eventfds, %u epoll, %u evtchn: more than the %u, %u, %u it was handed",
		     n_eventfd, n_epoll, n_evtchn, max_eventfd, max_epoll, max_evtchn);
	if (bad[0])
		add(rep, "fds", false, "%s", bad);
	else if (e->xen)
		add(rep, "fds", true,
		    "%u: 0 /dev/null, 1-2 pipes, 3 its channel, 4-6 kept for the broker, %u "
		    "evtchn, "
		    "%u epoll; nothing else",
		    n, n_evtchn, n_epoll);
	else
		add(rep, "fds", true,
		    "%u: 0 /dev/null, 1-2 pipes, 3 its channel, 4-6 kept for the broker, %u "
		    "eventfds, "
		    "%u epoll; nothing else",
		    n, n_eventfd, n_epoll);
}

/* ---- session, process, binary --------------------------------------------- */

struct pstat {
	char state;
	int ppid, pgrp, sid, tty;
};

static int read_pstat(int procfd, struct pstat *ps)
{
	char buf[1024];
	const char *p;

	if (read_at(procfd, "stat", buf, sizeof(buf)) < 0)
		return -errno;
	/* comm may hold anything, ')' included: the fields start after the last one. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %d %d %d %d", &ps->state, &ps->ppid, &ps->pgrp, &ps->sid,
	                 &ps->tty) != 5)
		return -EIO;
	return 0;
}

static void check_session(const struct pstat *ps, const struct verify_expect *e,
                          struct verify_report *rep)
{
	if (ps->sid != e->pid)
		add(rep, "session", false, "in session %d, not its own (%d)", ps->sid, (int)e->pid);
	else if (ps->tty != 0)
		add(rep, "session", false, "has a controlling terminal (tty_nr %d)", ps->tty);
	else
		add(rep, "session", true, "leads its own session, no controlling terminal");
}

static void check_exe(int procfd, const struct verify_expect *e, struct verify_report *rep)
{
	struct stat its, want;

	if (!e->exec_path)
		return;
	if (fstatat(procfd, "exe", &its, 0) < 0)
		add(rep, "exe", false, "cannot look at its binary: %s", strerror(errno));
	else if (stat(e->exec_path, &want) < 0)
		add(rep, "exe", false, "%s: %s", e->exec_path, strerror(errno));
	else if (!same_file(&its, &want))
		add(rep, "exe", false,
		    "runs inode %llu, not %s (replaced since it started, or it executed another "
		    "program)",
		    (unsigned long long)its.st_ino, e->exec_path);
	else
		add(rep, "exe", true, "%s", e->exec_path);
}

/* ---- rlimits and cgroup ---------------------------------------------------- */

static bool limit_of(const char *buf, const char *name, char *soft, char *hard)
{
	size_t nl = strlen(name);

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, nl) && p[nl] == ' ')
			return sscanf(p + nl, "%31s %31s", soft, hard) == 2;
	return false;
}

static void check_rlimits(int procfd, const struct verify_expect *e, struct verify_report *rep)
{
	const struct {
		const char *check, *proc;
		uint64_t want; /* 0 with unlimited = true: "unlimited" */
		bool unlimited;
	} lim[] = {
	        {"rlimit_nofile", "Max open files", e->nofile, false},
	        {"rlimit_nproc", "Max processes", e->pids_max, false},
	        {"rlimit_core", "Max core file size", 0, false},
	        {"rlimit_fsize", "Max file size", 0, false},
	        {"rlimit_memlock", "Max locked memory", 0, false},
	        {"rlimit_msgqueue", "Max msgqueue size", 0, false},
	        {"rlimit_as", "Max address space", e->memory_max, e->memory_max == 0},
	};
	char buf[4096];

	if (read_at(procfd, "limits", buf, sizeof(buf)) < 0) {
		add(rep, "rlimits", false, "cannot read its limits: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(lim); i++) {
		char soft[32], hard[32], want[32];

		if (lim[i].unlimited)
			snprintf(want, sizeof(want), "unlimited");
		else
			snprintf(want, sizeof(want), "%llu", (unsigned long long)lim[i].want);
		if (!limit_of(buf, lim[i].proc, soft, hard))
			add(rep, lim[i].check, false, "no \"%s\" line", lim[i].proc);
		else if (strcmp(soft, want) || strcmp(hard, want))
			add(rep, lim[i].check, false, "%s/%s (soft/hard), its policy says %s", soft,
			    hard, want);
		else
			add(rep, lim[i].check, true, "%s (soft = hard)", want);
	}
}

static void check_cgroup(const struct verify_expect *e, struct verify_report *rep)
{
	char procs[4096], mem[64], pids[64], want_mem[32], want_pids[32], pid[24];
	bool member = false;
	int fd;

	if (!e->cgroup_leaf) {
		/* The broker's status sentence, without what this detail already says. */
		const char *why = e->cgroup_none ? e->cgroup_none : "no cgroup root";
		size_t len;

		if (!strncmp(why, "unavailable: ", 13))
			why += 13;
		len = strcspn(why, ";");
		add(rep, "cgroup", true, "no cgroup v2: rlimits only (%.*s)", (int)MIN(len, 200u),
		    why);
		return;
	}
	fd = open(e->cgroup_leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || read_at(fd, "cgroup.procs", procs, sizeof(procs)) < 0 ||
	    read_at(fd, "memory.max", mem, sizeof(mem)) < 0 ||
	    read_at(fd, "pids.max", pids, sizeof(pids)) < 0) {
		add(rep, "cgroup", false, "%.120s: %s", e->cgroup_leaf, strerror(errno));
		util_close(fd);
		return;
	}
	close(fd);
	mem[strcspn(mem, "\n")] = '\0';
	pids[strcspn(pids, "\n")] = '\0';
	snprintf(pid, sizeof(pid), "%d", (int)e->pid);
	for (char *t = strtok(procs, "\n"); t; t = strtok(NULL, "\n"))
		member |= !strcmp(t, pid);
	if (e->memory_max)
		snprintf(want_mem, sizeof(want_mem), "%llu", (unsigned long long)e->memory_max);
	else
		snprintf(want_mem, sizeof(want_mem), "max");
	if (e->pids_max)
		snprintf(want_pids, sizeof(want_pids), "%u", e->pids_max);
	else
		snprintf(want_pids, sizeof(want_pids), "max");
	if (!member)
		add(rep, "cgroup", false, "not in its leaf %.150s", e->cgroup_leaf);
	else if (strcmp(mem, want_mem) || strcmp(pids, want_pids))
		add(rep, "cgroup", false, "memory.max %s, pids.max %s; its policy says %s and %s",
		    mem, pids, want_mem, want_pids);
	else
		add(rep, "cgroup", true, "in its leaf: memory.max %s, pids.max %s", mem, pids);
}

/* ---- Xen: is its event-channel fd restricted? ------------------------------- */

static int find_fd(int procfd, const char *target)
{
	struct dirent *de;
	int found = -1, fd;
	DIR *d;

	fd = openat(procfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		util_close(fd);
		return -1;
	}
	while (found < 0 && (de = readdir(d))) {
		char link[64];
		ssize_t n = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);

		if (n > 0 && de->d_name[0] >= '0' && de->d_name[0] <= '9') {
			link[n] = '\0';
			if (!strcmp(link, target))
				found = atoi(de->d_name);
		}
	}
	closedir(d);
	return found;
}

/*
 * Take a copy of its evtchn fd (pidfd_getfd) and try to bind an
 * interdomain port of another domain: a fd the broker restricted to the
 * guest (IOCTL_EVTCHN_RESTRICT_DOMID) refuses with EACCES before any
 * hypercall.  depriv-fd-checker does the same for QEMU.
 */
static void check_evtchn(int procfd, const struct verify_expect *e, struct verify_report *rep)
{
	struct ioctl_evtchn_bind_interdomain bind = {0};
	int target, fd, r;

	if (!e->xen) {
		add(rep, "evtchn", true, "simulator: eventfds reach only its own ports");
		return;
	}
	target = find_fd(procfd, "/dev/xen/evtchn");
	if (target < 0) {
		add(rep, "evtchn", true, "no event-channel fd open%s",
		    e->serving ? "" : " (its ports are not handed over yet)");
		return;
	}
	if (e->pidfd < 0) {
		add(rep, "evtchn", false, "fd %d: no pidfd to take it with", target);
		return;
	}
	fd = (int)syscall(SYS_pidfd_getfd, e->pidfd, target, 0);
	if (fd < 0) {
		add(rep, "evtchn", false, "fd %d: pidfd_getfd: %s", target, strerror(errno));
		return;
	}
	bind.remote_domain = e->domid == 0 ? 1 : 0;
	bind.remote_port = 0;
	r = ioctl(fd, IOCTL_EVTCHN_BIND_INTERDOMAIN, &bind);
	if (r >= 0) {
		struct ioctl_evtchn_unbind unbind = {.port = (unsigned)r};

		(void)ioctl(fd, IOCTL_EVTCHN_UNBIND, &unbind);
		add(rep, "evtchn", false, "fd %d is NOT restricted: it bound a port of dom%u",
		    target, bind.remote_domain);
	} else if (errno == EACCES) {
		add(rep, "evtchn", true,
		    "fd %d restricted to dom%u: binding a port of dom%u fails with EACCES", target,
		    e->domid, bind.remote_domain);
	} else {
		add(rep, "evtchn", false,
		    "fd %d: binding a port of dom%u failed with %s, not EACCES: not restricted?",
		    target, bind.remote_domain, strerror(errno));
	}
	close(fd);
}

/* ---- descendants ------------------------------------------------------------ */

/* Append the children of every task of process pid (at procfd) to q, with pid as their parent. */
static void collect_children(int procfd, pid_t pid, pid_t *q, pid_t *parent, unsigned *n,
                             unsigned max)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(procfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		util_close(fd);
		return;
	}
	while ((de = readdir(d))) {
		char path[64], buf[1024];

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "%.20s/children", de->d_name);
		if (read_at(dirfd(d), path, buf, sizeof(buf)) < 0)
			continue;
		for (char *t = strtok(buf, " \n"); t && *n < max; t = strtok(NULL, " \n")) {
			parent[*n] = pid;
			q[(*n)++] = (pid_t)atoi(t);
		}
	}
	closedir(d);
}

/* Whatever it forked must be confined exactly like it (same ids, filter and namespaces). */
static void check_descendants(int procfd, const struct verify_expect *e, struct verify_report *rep)
{
	pid_t q[MAX_DESCENDANTS], parent[MAX_DESCENDANTS];
	unsigned n = 0;
	char bad[NOTE_MAX] = "", *buf;
	struct creds c;

	buf = malloc(STATUS_MAX);
	if (!buf) {
		add(rep, "descendants", false, "out of memory");
		return;
	}
	memset(&c, 0, sizeof(c));
	collect_children(procfd, e->pid, q, parent, &n, MAX_DESCENDANTS);
	for (unsigned i = 0; i < n && !bad[0]; i++) {
		struct pstat ps;
		char path[32];
		int cfd;

		snprintf(path, sizeof(path), "/proc/%d", (int)q[i]);
		cfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cfd < 0)
			continue; /* gone meanwhile */
		/* Gone and its pid reused by someone else's process: not ours to judge. */
		if (read_pstat(cfd, &ps) < 0 || ps.ppid != parent[i]) {
			close(cfd);
			continue;
		}
		if (read_at(cfd, "status", buf, STATUS_MAX) >= 0)
			check_status(buf, e, q[i], &c);
		for (size_t k = 0; k < ARRAY_SIZE(ns_list); k++) {
			char its[64], ours[64];
			if (ns_link(cfd, ns_list[k].name, its, sizeof(its)) == 0 &&
			    ns_link(procfd, ns_list[k].name, ours, sizeof(ours)) == 0 &&
			    strcmp(its, ours))
				note(bad, "pid %d left its %s namespace", (int)q[i],
				     ns_list[k].name);
		}
		collect_children(cfd, q[i], q, parent, &n, MAX_DESCENDANTS);
		close(cfd);
	}
	free(buf);
	note(bad, "%s",
	     c.uid[0]      ? c.uid
	     : c.gid[0]    ? c.gid
	     : c.groups[0] ? c.groups
	     : c.caps[0]   ? c.caps
	     : c.nnp[0]    ? c.nnp
	                   : c.seccomp);
	if (bad[0])
		add(rep, "descendants", false, "%s", bad);
	else if (n == 0)
		add(rep, "descendants", true, "none");
	else
		add(rep, "descendants", true,
		    "%u%s, confined like it: same ids, namespaces, no capabilities, filtered", n,
		    n == MAX_DESCENDANTS ? " (the first ones)" : "");
}

/* ---- entry points ---------------------------------------------------------- */

static bool exited(const struct verify_expect *e)
{
	struct pollfd p = {.fd = e->pidfd, .events = POLLIN};

	return e->pidfd >= 0 && poll(&p, 1, 0) > 0;
}

/* Does the broker's pidfd refer to pid?  (/proc/self/fdinfo/FD has "Pid:\tN".) */
static bool pidfd_refers_to(int selffd, int pidfd, pid_t pid)
{
	char name[40], buf[512], *p;

	if (pidfd < 0)
		return false;
	snprintf(name, sizeof(name), "fdinfo/%d", pidfd);
	if (read_at(selffd, name, buf, sizeof(buf)) <= 0)
		return false;
	p = strstr(buf, "\nPid:");
	return p && strtol(p + 5, NULL, 10) == (long)pid;
}

/*
 * Its own children are the broker's to begin with; device models a broker
 * adopted after a restart belong to PID 1 (or a subreaper), and are the
 * broker's by the pidfd it opened after checking start time and uid.
 */
static void check_process(int selffd, const struct verify_expect *e, const struct pstat *ps,
                          const char *comm, struct verify_report *rep)
{
	if (ps->ppid == getpid())
		add(rep, "process", true, "pid %d (%s), a child of the broker", (int)e->pid, comm);
	else if (pidfd_refers_to(selffd, e->pidfd, e->pid))
		add(rep, "process", true, "pid %d (%s), adopted: the broker's pidfd refers to it",
		    (int)e->pid, comm);
	else
		add(rep, "process", false,
		    "pid %d (%s): its parent is %d, not the broker, and no pidfd of the broker "
		    "refers to it",
		    (int)e->pid, comm, ps->ppid);
}

int verify_process(const struct verify_expect *e, struct verify_report *rep)
{
	_cleanup_close_ int procfd = -1, selffd = -1;
	struct creds c;
	struct pstat ps;
	char path[32], comm[32] = "";
	int r;

	if (!e || !rep || e->pid <= 0)
		return -EINVAL;
	memset(rep, 0, sizeof(*rep));
	memset(&c, 0, sizeof(c));
	snprintf(path, sizeof(path), "/proc/%d", (int)e->pid);
	procfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	selffd = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (selffd < 0)
		return -errno;
	r = read_pstat(procfd, &ps);
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	if (ps.state == 'Z' || ps.state == 'X' || exited(e))
		return -ESRCH;
	if (read_at(procfd, "comm", comm, sizeof(comm)) > 0) {
		comm[strcspn(comm, "\n")] = '\0';
		sanitize(comm);
	}
	check_process(selffd, e, &ps, comm, rep);
	check_exe(procfd, e, rep);
	r = scan_tasks(procfd, e, &c);
	if (r < 0)
		return r;
	report_creds(&c, e, rep);
	check_namespaces(procfd, selffd, e, rep);
	check_root_cwd(procfd, e, rep);
	check_mounts(procfd, e, rep);
	check_session(&ps, e, rep);
	check_fds(procfd, e, rep);
	check_rlimits(procfd, e, rep);
	check_cgroup(e, rep);
	check_evtchn(procfd, e, rep);
	check_descendants(procfd, e, rep);
	/* A zombie's /proc answers some of the above: only a live process counts. */
	if (read_pstat(procfd, &ps) < 0 || ps.state == 'Z' || exited(e))
		return -ESRCH;
	return 0;
}

int verify_dm(const struct bdm *dm, struct verify_report *rep)
{
	const struct broker *b = dm->dom->b;
	const struct policy_dm *cfg = dm->cfg;
	char exec[POLICY_PATH_MAX + 256], leaf[PATH_MAX];
	struct verify_expect e = {
	        .pid = dm->pid,
	        .pidfd = dm->pidfd,
	        .uid = dm->uid,
	        .gid = dm->gid,
	        .namespaces = cfg->sandbox.namespaces,
	        .memory_max = cfg->sandbox.memory_max,
	        .pids_max = cfg->sandbox.pids_max,
	        .nofile = cfg->sandbox.nofile,
	        .serving = dm->state == DM_RUNNING,
	        .xen = !strcmp(hv_name(b->hv), "xen"),
	        .nr_vcpus = dm->dom->nr_vcpus,
	        .has_buf = cfg->bufioreq != 0,
	        .domid = dm->dom->domid,
	};

	if (dm->pid <= 0 || dm->pidfd < 0)
		return -ESRCH;
	if (policy_exec_path(cfg->exec, b->cfg.libexec_dir, exec, sizeof(exec)) == 0)
		e.exec_path = exec;
	if (b->cg && dm->cgroup_name[0]) {
		snprintf(leaf, sizeof(leaf), "%s/%s", cgroup_root_path(b->cg), dm->cgroup_name);
		e.cgroup_leaf = leaf;
	} else {
		e.cgroup_none = b->cgroup_status;
	}
	return verify_process(&e, rep);
}
