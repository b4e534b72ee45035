/* SPDX-License-Identifier: MIT */
/* cgroup v2 leaves for device models (cgroup.h has the layout and the rules). */
#include "daemon/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "common/util.h"

struct cgroup_root {
	int dirfd;
	bool fake; /* DMB_CGROUP_FAKE=1 test tree: we emulate the kernel's files */
	char path[PATH_MAX];
};

/* Enough for cgroup.procs of a leaf capped by pids.max, and every other interface file. */
#define CG_FILE_MAX 65536

/* Bounded rounds of "read cgroup.procs, SIGKILL each" where cgroup.kill is missing. */
#define KILL_ROUNDS 16

static void set_why(char *why, size_t whylen, const char *fmt, ...) _printf_(3, 4);
static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

bool cgroup_name_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strnlen(name, CGROUP_NAME_MAX + 1);
	if (n == 0 || n > CGROUP_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* Read a small file relative to dirfd into buf (NUL-terminated); length or -errno. */
static ssize_t read_at(int dirfd, const char *name, char *buf, size_t size)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = util_read_full(fd, buf, size - 1);
	if (n < 0)
		return n;
	if ((size_t)n == size - 1)
		return -EFBIG;
	buf[n] = '\0';
	return n;
}

/* One write() of the whole value, as cgroupfs wants; create only in a fake tree. */
static int write_at(const struct cgroup_root *root, int dirfd, const char *name, const char *val)
{
	int flags = O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | (root->fake ? O_CREAT : 0);
	_cleanup_close_ int fd = openat(dirfd, name, flags, 0644);

	if (fd < 0)
		return -errno;
	return util_write_all(fd, val, strlen(val));
}

static bool file_exists_at(int dirfd, const char *name)
{
	return faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Is word in the space-separated list? */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n) {
		bool start = p == list || p[-1] == ' ' || p[-1] == '\n' || p[-1] == '+';
		bool end = p[n] == '\0' || p[n] == ' ' || p[n] == '\n';
		if (start && end)
			return true;
	}
	return false;
}

static int check_controllers(int dirfd, const char *path, char *why, size_t whylen)
{
	char buf[512];
	ssize_t n = read_at(dirfd, "cgroup.controllers", buf, sizeof(buf));

	if (n < 0) {
		set_why(why, whylen, "%s: cannot read cgroup.controllers: %s", path,
		        strerror((int)-n));
		return (int)n;
	}
	if (!has_word(buf, "memory") || !has_word(buf, "pids")) {
		set_why(why, whylen,
		        "no writable cgroup v2 with memory and pids controllers (cgroup v1 host?): "
		        "%s offers \"%.*s\"",
		        path, (int)strcspn(buf, "\n"), buf);
		return -ENOTSUP;
	}
	return 0;
}

/* Turn on memory and pids for the children of dirfd (idempotent). */
static int enable_controllers(const struct cgroup_root *root, int dirfd, const char *path,
                              char *why, size_t whylen)
{
	char buf[512];
	ssize_t n = read_at(dirfd, "cgroup.subtree_control", buf, sizeof(buf));
	int r;

	if (n >= 0 && has_word(buf, "memory") && has_word(buf, "pids"))
		return 0;
	r = write_at(root, dirfd, "cgroup.subtree_control", "+memory +pids");
	if (r == -EBUSY)
		set_why(why, whylen,
		        "%s has processes of its own; cgroup v2 enables controllers only for the "
		        "children of a cgroup without any",
		        path);
	else if (r < 0)
		set_why(why, whylen, "%s: cannot enable +memory +pids: %s", path, strerror(-r));
	return r;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (char *p = s; *p;) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*w++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 4;
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
}

/* The broker's cgroup v2 path ("0::/a/b" in /proc/self/cgroup). */
static int own_cgroup(char *path, size_t size)
{
	char buf[4096];
	ssize_t n = read_at(AT_FDCWD, "/proc/self/cgroup", buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(line, "0::/", 4) == 0)
			return util_strcpy(path, size, line + 3);
		line = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

/*
 * Where the broker's cgroup is in the file system: a cgroup2 mount whose
 * root (field 4 of mountinfo) contains the cgroup path.
 */
static int find_own_dir(char *dir, size_t size, bool *is_hierarchy_root, char *why, size_t whylen)
{
	_cleanup_free_ char *line = NULL;
	char cgpath[PATH_MAX];
	size_t cap = 0;
	FILE *f;
	int r;

	r = own_cgroup(cgpath, sizeof(cgpath));
	if (r < 0) {
		set_why(why, whylen, "no cgroup v2 membership in /proc/self/cgroup: %s",
		        strerror(-r));
		return r == -ENOENT ? -ENOTSUP : r;
	}
	f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		r = -errno;
		set_why(why, whylen, "/proc/self/mountinfo: %s", strerror(-r));
		return r;
	}
	r = -ENOTSUP;
	while (getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - ");
		char root[PATH_MAX], mnt[PATH_MAX], fstype[32];
		size_t rl;

		if (!sep || sscanf(sep + 3, "%31s", fstype) != 1 || strcmp(fstype, "cgroup2") != 0)
			continue;
		*sep = '\0';
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2)
			continue;
		unescape_octal(root);
		unescape_octal(mnt);
		rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
		if (strncmp(cgpath, root, rl) != 0 || (cgpath[rl] != '/' && cgpath[rl] != '\0'))
			continue;
		if (snprintf(dir, size, "%s%s", mnt, strcmp(cgpath + rl, "/") ? cgpath + rl : "") >=
		    (int)size) {
			r = -ENAMETOOLONG;
			break;
		}
		*is_hierarchy_root = strcmp(cgpath, "/") == 0;
		r = 0;
		break;
	}
	fclose(f);
	if (r == -ENOTSUP)
		set_why(why, whylen, "no cgroup2 mount holds this process's cgroup %s", cgpath);
	return r;
}

static int check_writable(int dirfd, const char *path, char *why, size_t whylen)
{
	struct statvfs sv;

	if (fstatvfs(dirfd, &sv) == 0 && (sv.f_flag & ST_RDONLY)) {
		set_why(why, whylen, "%s is on a read-only mount", path);
		return -EROFS;
	}
	if (faccessat(dirfd, ".", W_OK, 0) < 0 ||
	    faccessat(dirfd, "cgroup.subtree_control", W_OK, 0) < 0) {
		int r = -errno;
		set_why(why, whylen, "%s is not writable: %s", path, strerror(-r));
		return r;
	}
	return 0;
}

/* The read-only part of auto mode: find our cgroup, check it could be used. */
static int auto_check(char *dir, size_t size, bool *is_hierarchy_root, int *ret_fd, char *why,
                      size_t whylen)
{
	_cleanup_close_ int fd = -1;
	int r;

	r = find_own_dir(dir, size, is_hierarchy_root, why, whylen);
	if (r < 0)
		return r;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		set_why(why, whylen, "%s: %s", dir, strerror(-r));
		return r;
	}
	r = check_controllers(fd, dir, why, whylen);
	if (r < 0)
		return r;
	r = check_writable(fd, dir, why, whylen);
	if (r < 0)
		return r;
	if (ret_fd)
		*ret_fd = TAKE_FD(fd);
	return 0;
}

int cgroup_probe(char *why, size_t whylen)
{
	char dir[PATH_MAX];
	bool top;

	set_why(why, whylen, "%s", "");
	return auto_check(dir, sizeof(dir), &top, NULL, why, whylen);
}

static int mkdir_at_ok(int dirfd, const char *name)
{
	return mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/*
 * Auto mode, after the read-only checks passed: move the broker into a
 * leaf of its own (unless it sits in the hierarchy root, which is exempt
 * from the no-internal-processes rule), enable the controllers, and make
 * the directory the device models' leaves go into.
 */
static int auto_setup(struct cgroup_root *root, char *why, size_t whylen)
{
	char dir[PATH_MAX], pid[32];
	_cleanup_close_ int ufd = -1, sfd = -1;
	bool top = false;
	int r;

	r = auto_check(dir, sizeof(dir), &top, &ufd, why, whylen);
	if (r < 0)
		return r;
	if (!top) {
		r = mkdir_at_ok(ufd, CGROUP_SUPERVISOR_DIR);
		if (r < 0)
			goto fail;
		sfd = openat(ufd, CGROUP_SUPERVISOR_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd < 0) {
			r = -errno;
			goto fail;
		}
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		r = write_at(root, sfd, "cgroup.procs", pid);
		if (r < 0)
			goto fail;
	}
	r = enable_controllers(root, ufd, dir, why, whylen);
	if (r < 0)
		return r;
	r = mkdir_at_ok(ufd, CGROUP_DMS_DIR);
	if (r < 0)
		goto fail;
	root->dirfd = openat(ufd, CGROUP_DMS_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root->dirfd < 0) {
		r = -errno;
		goto fail;
	}
	if (snprintf(root->path, sizeof(root->path), "%s/%s", dir, CGROUP_DMS_DIR) >=
	    (int)sizeof(root->path)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	return enable_controllers(root, root->dirfd, root->path, why, whylen);
fail:
	set_why(why, whylen, "%s: setting up %s/%s: %s", dir, CGROUP_SUPERVISOR_DIR, CGROUP_DMS_DIR,
	        strerror(-r));
	return r;
}

static int explicit_setup(struct cgroup_root *root, const char *path, char *why, size_t whylen)
{
	struct statfs sf;
	int r;

	r = util_strcpy(root->path, sizeof(root->path), path);
	if (r < 0) {
		set_why(why, whylen, "cgroup path too long");
		return r;
	}
	root->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root->dirfd < 0 || fstatfs(root->dirfd, &sf) < 0) {
		r = -errno;
		set_why(why, whylen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (sf.f_type != CGROUP2_SUPER_MAGIC) {
		const char *fake = secure_getenv("DMB_CGROUP_FAKE");
		if (!fake || strcmp(fake, "1") != 0) {
			set_why(why, whylen, "%s is not a cgroup v2 directory", path);
			return -ENOTSUP;
		}
		root->fake = true;
	}
	r = check_controllers(root->dirfd, path, why, whylen);
	if (r < 0)
		return r;
	return enable_controllers(root, root->dirfd, path, why, whylen);
}

int cgroup_root_open(const char *path, struct cgroup_root **ret, char *why, size_t whylen)
{
	struct cgroup_root *root;
	int r;

	set_why(why, whylen, "%s", "");
	if (!ret)
		return -EINVAL;
	root = calloc(1, sizeof(*root));
	if (!root)
		return -ENOMEM;
	root->dirfd = -1;
	r = path ? explicit_setup(root, path, why, whylen) : auto_setup(root, why, whylen);
	if (r < 0) {
		cgroup_root_free(root);
		return r;
	}
	*ret = root;
	return 0;
}

const char *cgroup_root_path(const struct cgroup_root *root)
{
	return root ? root->path : NULL;
}

void cgroup_root_free(struct cgroup_root *root)
{
	if (!root)
		return;
	util_close(root->dirfd);
	free(root);
}

static int open_leaf(const struct cgroup_root *root, const char *name)
{
	int fd;

	if (!root || !cgroup_name_valid(name))
		return -EINVAL;
	fd = openat(root->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

/* The interface files the kernel gives a new cgroup, for the fake test tree. */
static const char *const fake_files[][2] = {
        {"cgroup.procs", ""},
        {"cgroup.events", "populated 0\nfrozen 0\n"},
        {"memory.max", "max\n"},
        {"pids.max", "max\n"},
};

/* Files a fake leaf may have, removed with it (the kernel does that itself). */
static const char *const fake_all_files[] = {
        "cgroup.procs",    "cgroup.events", "memory.max",       "pids.max",
        "memory.swap.max", "cgroup.kill",   "memory.oom.group",
};

int cgroup_leaf_populated(struct cgroup_root *root, const char *name)
{
	_cleanup_close_ int fd = open_leaf(root, name);
	char buf[256];
	const char *p;
	ssize_t n;

	if (fd < 0)
		return fd;
	n = read_at(fd, "cgroup.events", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, "populated ", 10) == 0 && (p[10] == '0' || p[10] == '1'))
			return p[10] - '0';
	}
	return -EBADMSG;
}

static int leaf_rmdir(struct cgroup_root *root, const char *name)
{
	if (root->fake) {
		_cleanup_close_ int fd = open_leaf(root, name);
		int pop;

		if (fd < 0)
			return fd;
		pop = cgroup_leaf_populated(root, name);
		if (pop < 0)
			return pop;
		if (pop)
			return -EBUSY;
		for (size_t i = 0; i < ARRAY_SIZE(fake_all_files); i++)
			(void)unlinkat(fd, fake_all_files[i], 0);
	}
	return unlinkat(root->dirfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

int cgroup_leaf_remove(struct cgroup_root *root, const char *name)
{
	if (!root || !cgroup_name_valid(name))
		return -EINVAL;
	return leaf_rmdir(root, name);
}

/* A limit file: the number, or "max" for 0 (no limit). */
static int write_limit(const struct cgroup_root *root, int dirfd, const char *name, uint64_t v)
{
	char val[32] = "max";

	if (v)
		snprintf(val, sizeof(val), "%" PRIu64, v);
	return write_at(root, dirfd, name, val);
}

int cgroup_leaf_create(struct cgroup_root *root, const char *name, uint64_t memory_max,
                       uint32_t pids_max, int *ret_dirfd)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (!root || !ret_dirfd || !cgroup_name_valid(name))
		return -EINVAL;
	if (mkdirat(root->dirfd, name, 0755) < 0)
		return -errno;
	fd = open_leaf(root, name);
	if (fd < 0) {
		r = fd;
		goto fail;
	}
	for (size_t i = 0; root->fake && i < ARRAY_SIZE(fake_files); i++) {
		r = write_at(root, fd, fake_files[i][0], fake_files[i][1]);
		if (r < 0)
			goto fail;
	}
	/* Limits before any process can enter (the DM enters at clone time). */
	r = write_limit(root, fd, "memory.max", memory_max);
	if (r < 0)
		goto fail;
	r = write_limit(root, fd, "pids.max", pids_max);
	if (r < 0)
		goto fail;
	/* No swap: memory.max must bound what the DM holds, guest data must not hit disk. */
	if (file_exists_at(fd, "memory.swap.max") &&
	    (r = write_at(root, fd, "memory.swap.max", "0")) < 0)
		goto fail;
	/* An OOM kill takes the whole DM, never leaves it half alive. */
	if (file_exists_at(fd, "memory.oom.group") &&
	    (r = write_at(root, fd, "memory.oom.group", "1")) < 0)
		goto fail;
	*ret_dirfd = TAKE_FD(fd);
	return 0;
fail:
	fd = util_close(fd);
	(void)leaf_rmdir(root, name);
	return r;
}

/* SIGKILL each pid listed; returns how many were still there, or -errno. */
static int kill_listed(int leaf_fd)
{
	_cleanup_free_ char *buf = malloc(CG_FILE_MAX);
	ssize_t n;
	int alive = 0;

	if (!buf)
		return -ENOMEM;
	n = read_at(leaf_fd, "cgroup.procs", buf, CG_FILE_MAX);
	if (n < 0)
		return (int)n;
	for (char *p = buf; *p;) {
		char *end;
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		/* 0 or negative would signal whole groups: never. */
		if (pid > 0 && pid <= INT32_MAX && kill((pid_t)pid, SIGKILL) == 0)
			alive++;
		p = end;
		while (*p == '\n' || *p == ' ')
			p++;
	}
	return alive;
}

int cgroup_leaf_kill(struct cgroup_root *root, const char *name)
{
	_cleanup_close_ int fd = open_leaf(root, name);
	int r = 0;

	if (fd < 0)
		return fd;
	/* cgroup.kill (Linux 5.14) kills atomically, even a DM that is forking. */
	if (file_exists_at(fd, "cgroup.kill"))
		return write_at(root, fd, "cgroup.kill", "1");
	/* Older kernels: repeat, since a process can fork between our read and our kill. */
	for (unsigned i = 0; i < KILL_ROUNDS; i++) {
		r = kill_listed(fd);
		if (r <= 0)
			break;
	}
	return r < 0 ? r : 0;
}
