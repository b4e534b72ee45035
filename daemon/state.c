/* SPDX-License-Identifier: MIT */
/*
 * The broker's state directory, what a restarted broker re-adopts from:
 *
 *   STATE/domains/DOMID.json    one attached domain: its device models' pids
 *                               (with start times, so a recycled pid is not
 *                               mistaken for them), uids, servers, live
 *                               claims and ports
 *   STATE/policies/HASH.json    the policy those were attached with, normalised
 *                               (a reload must not change how a running guest's
 *                               device models are restarted)
 *
 * Files are written to a temporary name and renamed, so a broker killed while
 * writing leaves the previous version, never half of one.  They matter only
 * across broker restarts, not host reboots: no fsync.
 */
#include "daemon/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/broker-internal.h"

#define STATE_VERSION 1

static int write_atomic(const char *path, const char *text)
{
	char tmp[600];
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	/* Not through a symlink someone left at the temporary name. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	/*
	 * No fsync: the file only has to survive the broker process, not the
	 * host (a host that goes down takes every domain with it), and a
	 * rename is atomic to the next reader either way.
	 */
	r = util_write_all(fd, text, strlen(text));
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/*
 * One broker per state directory: a second one would adopt the first one's
 * device models from under it.  The lock goes with the process, however it
 * dies, so a SIGKILLed broker never leaves it behind.
 */
static int take_lock(struct broker *b)
{
	char path[512], pid[24];
	int fd;

	snprintf(path, sizeof(path), "%s/lock", b->cfg.state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return log_errno(-errno, "open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		ssize_t n = read(fd, pid, sizeof(pid) - 1);

		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		return log_errno(r, "state directory %s is in use by another dmbrokerd%s%s",
		                 b->cfg.state_dir, *pid ? " with pid " : "", pid);
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
		log_warn("%s: cannot record our pid: %s", path, strerror(errno));
	b->state_lock = fd;
	return 0;
}

int state_init(struct broker *b)
{
	char path[512];
	int r = take_lock(b);

	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/domains", b->cfg.state_dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/policies", b->cfg.state_dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The normalised policy, once per content: its hash names it. */
static int snapshot_policy(struct broker *b, const struct policy *p, char *name, size_t len)
{
	char path[600], hash[17];
	char *text = policy_to_json(p);
	struct stat st;
	int r = 0;

	if (!text)
		return -ENOMEM;
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)fnv1a(text));
	snprintf(path, sizeof(path), "%s/policies/%s.json", b->cfg.state_dir, hash);
	if (stat(path, &st) < 0)
		r = write_atomic(path, text);
	free(text);
	if (r == 0)
		snprintf(name, len, "%s", hash);
	return r;
}

/* /proc/PID/stat field 22: start time in clock ticks since boot. */
int state_start_time(pid_t pid, uint64_t *ret)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* The name may contain anything, so start after its closing parenthesis. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2,
	                 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
	                 "%*d %*d %*d %llu",
	                 &t) != 1)
		return -EIO;
	*ret = t;
	return 0;
}

/* This boot's id: a state file from another boot describes nothing that still runs. */
int state_boot_id(char *buf, size_t len)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static json_object *hexstr(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)v);
	return json_object_new_string(buf);
}

static json_object *claims_json(const struct handoff_claims *c)
{
	json_object *o = json_object_new_array();

	for (unsigned k = 0; k < DMP_CLAIM_KINDS; k++) {
		json_object *a = json_object_new_array();
		for (unsigned i = 0; i < c->n[k]; i++) {
			json_object *r = json_object_new_array();
			json_object_array_add(r, hexstr(c->r[k][i].start));
			json_object_array_add(r, hexstr(c->r[k][i].end));
			json_object_array_add(a, r);
		}
		json_object_array_add(o, a);
	}
	return o;
}

static json_object *ports_json(struct bdm *dm)
{
	struct dmp_ports msg;
	int fds[DMP_MAX_PORT_FDS];
	unsigned nfds = 0;
	json_object *o, *a;

	if (!dm->ports || dm->ports->export(dm->ports, &msg, fds, &nfds) < 0)
		return NULL;
	o = json_object_new_object();
	a = json_object_new_array();
	json_object_object_add(o, "kind", json_object_new_int((int)msg.kind));
	for (unsigned v = 0; v < msg.nr_vcpus; v++)
		json_object_array_add(a, json_object_new_int64(msg.port[v]));
	json_object_object_add(o, "port", a);
	json_object_object_add(o, "has_buf", json_object_new_boolean(msg.has_buf));
	json_object_object_add(o, "buf_port", json_object_new_int64(msg.buf_port));
	return o;
}

static json_object *dm_json(struct bdm *dm)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(dm->cfg->name));
	json_object_object_add(o, "state", json_object_new_string(dm_state_name(dm->state)));
	json_object_object_add(o, "pid", json_object_new_int64(dm->pid));
	json_object_object_add(o, "start_time",
	                       json_object_new_int64(dm->pid > 0 ? (int64_t)dm->start_time : 0));
	json_object_object_add(o, "uid", json_object_new_int64(dm->pid > 0 ? dm->uid : 0));
	json_object_object_add(o, "gid", json_object_new_int64(dm->pid > 0 ? dm->gid : 0));
	json_object_object_add(o, "uid_from_pool", json_object_new_boolean(dm->uid_from_pool));
	json_object_object_add(o, "server",
	                       json_object_new_int64(dm->server_created ? dm->server : -1));
	json_object_object_add(o, "restarts", json_object_new_int64(dm->restarts));
	json_object_object_add(o, "cgroup", json_object_new_string(dm->cgroup_name));
	json_object_object_add(o, "claims", claims_json(&dm->claims));
	json_object_object_add(o, "ports", ports_json(dm));
	return o;
}

int state_save_domain(struct bdomain *d)
{
	struct broker *b = d->b;
	char path[600], boot[64];
	json_object *o, *dms;
	int r;

	if (d->state == BD_DETACHING)
		return 0;
	/* A domain keeps its policy: the snapshot is written (and named) once. */
	if (!d->snapshot[0]) {
		r = snapshot_policy(b, d->policy, d->snapshot, sizeof(d->snapshot));
		if (r < 0)
			return log_errno(r, "dom%u: save the policy snapshot", d->domid);
	}
	o = json_object_new_object();
	dms = json_object_new_array();
	json_object_object_add(o, "version", json_object_new_int(STATE_VERSION));
	if (state_boot_id(boot, sizeof(boot)) == 0)
		json_object_object_add(o, "boot_id", json_object_new_string(boot));
	json_object_object_add(o, "domid", json_object_new_int64(d->domid));
	json_object_object_add(o, "name", json_object_new_string(d->name));
	json_object_object_add(o, "nr_vcpus", json_object_new_int64(d->nr_vcpus));
	/* Half an attach is not adopted but undone: this says what there is to undo. */
	json_object_object_add(o, "attaching", json_object_new_boolean(d->state == BD_ATTACHING));
	json_object_object_add(o, "policy", json_object_new_string(d->snapshot));
	json_object_object_add(o, "guest",
	                       json_object_new_int64((int64_t)(d->guest - d->policy->guests)));
	for (unsigned i = 0; i < d->n_dms; i++)
		json_object_array_add(dms, dm_json(&d->dms[i]));
	json_object_object_add(o, "device_models", dms);
	snprintf(path, sizeof(path), "%s/domains/%u.json", b->cfg.state_dir, d->domid);
	r = write_atomic(path, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	                                                                 JSON_C_TO_STRING_SPACED));
	json_object_put(o);
	if (r < 0)
		return log_errno(r, "dom%u: save state to %s", d->domid, path);
	return 0;
}

#define STATE_SAVE_GAP_NS (10 * 1000 * 1000ull)

void state_save_domain_soon(struct bdomain *d)
{
	uint64_t now = util_now_ns();

	if (now - d->saved_ns < STATE_SAVE_GAP_NS) {
		d->save_pending = true;
		return;
	}
	d->saved_ns = now;
	d->save_pending = false;
	(void)state_save_domain(d);
}

void state_flush_domain(struct bdomain *d)
{
	if (d->save_pending)
		state_save_domain_soon(d);
}

void state_remove_domain(struct broker *b, uint32_t domid)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/domains/%u.json", b->cfg.state_dir, domid);
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("remove %s: %s", path, strerror(errno));
}

int state_policy_path(struct broker *b, const char *snapshot, char *buf, size_t len)
{
	/* The name came from our own file, but check it is a hash, not a path. */
	if (strlen(snapshot) != 16 || strspn(snapshot, "0123456789abcdef") != 16)
		return -EINVAL;
	if (snprintf(buf, len, "%s/policies/%s.json", b->cfg.state_dir, snapshot) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}
