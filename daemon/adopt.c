/* SPDX-License-Identifier: MIT */
/*
 * A restarted broker takes over what its predecessor left running.  Servers
 * and device models outlive the broker (docs/operations.md): for each
 * domain file in the state directory,
 *
 *   - the domain must still exist under the same name; else its leftover
 *     device models are killed and the file goes;
 *   - the device models are found by pid and start time (a recycled pid is
 *     not them) and uid; the broker's ends they kept (ipc/dmproto.h,
 *     DMP_KEEP) are taken back with pidfd_getfd: the channel, the log pipes,
 *     on Xen the event-channel fd; its server's pages are mapped again;
 *   - one that died meanwhile, or whose kept fds are not what they should
 *     be, is handled as a crash: its on_crash policy applies, with the
 *     server and ports it had.
 *
 * Nothing here trusts a device model: the fds taken back are checked for
 * their type, and a device model that handed back the wrong ones is killed
 * and restarted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/broker-internal.h"
#include "daemon/cgroup.h"
#include "daemon/state.h"
#include "daemon/uidpool.h"

/* ---- reading our own file, defensively ---------------------------------- */

static int64_t jint(json_object *o, const char *key, int64_t def)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return def;
	return json_object_get_int64(v);
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

static int parse_u64_str(json_object *v, uint64_t *ret)
{
	return json_object_is_type(v, json_type_string)
	               ? util_parse_u64(json_object_get_string(v), ret)
	               : -EINVAL;
}

static int read_claims(json_object *rec, struct handoff_claims *c)
{
	json_object *kinds;

	memset(c, 0, sizeof(*c));
	if (!json_object_object_get_ex(rec, "claims", &kinds) ||
	    !json_object_is_type(kinds, json_type_array) ||
	    json_object_array_length(kinds) != DMP_CLAIM_KINDS)
		return -EINVAL;
	for (unsigned k = 0; k < DMP_CLAIM_KINDS; k++) {
		json_object *a = json_object_array_get_idx(kinds, k);
		size_t n =
		        json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;

		if (n > DMP_MAX_RANGES)
			return -EINVAL;
		for (size_t i = 0; i < n; i++) {
			json_object *r = json_object_array_get_idx(a, i);
			struct dmp_range *d = &c->r[k][i];

			if (!json_object_is_type(r, json_type_array) ||
			    json_object_array_length(r) != 2 ||
			    parse_u64_str(json_object_array_get_idx(r, 0), &d->start) < 0 ||
			    parse_u64_str(json_object_array_get_idx(r, 1), &d->end) < 0 ||
			    d->start > d->end)
				return -EINVAL;
		}
		c->n[k] = (unsigned)n;
	}
	return 0;
}

static int read_ports(json_object *rec, unsigned nr_vcpus, struct dmp_ports *ret)
{
	json_object *p, *a;

	memset(ret, 0, sizeof(*ret));
	if (!json_object_object_get_ex(rec, "ports", &p) ||
	    !json_object_is_type(p, json_type_object) ||
	    !json_object_object_get_ex(p, "port", &a) || !json_object_is_type(a, json_type_array) ||
	    json_object_array_length(a) != nr_vcpus || nr_vcpus > DMP_MAX_VCPUS)
		return -EINVAL;
	ret->kind = (uint32_t)jint(p, "kind", 0);
	ret->nr_vcpus = nr_vcpus;
	for (unsigned v = 0; v < nr_vcpus; v++)
		ret->port[v] = (uint32_t)json_object_get_int64(json_object_array_get_idx(a, v));
	ret->has_buf = json_object_get_boolean(json_object_object_get(p, "has_buf"));
	ret->buf_port = (uint32_t)jint(p, "buf_port", 0);
	return 0;
}

/* ---- is it still the process we started? ----------------------------------- */

/*
 * Real, effective, saved and filesystem uid from /proc/PID/status, when all
 * four are one uid.  (Not the owner of /proc/PID: that is root for a
 * process that is not dumpable.)
 */
static int proc_uid(pid_t pid, uid_t *ret)
{
	char path[64], buf[2048], *p;
	unsigned long r, e, s, f;
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = (int)util_read_full(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return n;
	buf[n] = '\0';
	p = strstr(buf, "\nUid:");
	if (!p || sscanf(p + 5, "%lu %lu %lu %lu", &r, &e, &s, &f) != 4)
		return -EINVAL;
	if (r != e || r != s || r != f)
		return -EPERM;
	*ret = (uid_t)r;
	return 0;
}

/*
 * A pidfd for pid, if it is the same process: same start time, same uid.
 * One with our start time but another uid is ours gone wrong (it cannot
 * change uid on its own): it is killed, not adopted.
 */
static int open_same(pid_t pid, uint64_t start_time, uid_t uid)
{
	uint64_t t = 0;
	uid_t u = (uid_t)-1;
	int fd;

	if (pid <= 0 || !start_time)
		return -ESRCH;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -errno;
	/* Checked after the pidfd exists: from now on the pid cannot be recycled under it. */
	if (state_start_time(pid, &t) < 0 || t != start_time) {
		close(fd);
		return -ESRCH;
	}
	if (proc_uid(pid, &u) < 0 || u != uid) {
		log_warn("pid %d: started by the broker but now uid %d, not %u: killed", pid,
		         (int)u, uid);
		(void)syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
		close(fd);
		return -ESRCH;
	}
	(void)util_set_cloexec(fd);
	return fd;
}

static int take_fd(int pidfd, int target)
{
	int fd = (int)syscall(SYS_pidfd_getfd, pidfd, target, 0);

	return fd < 0 ? -errno : fd;
}

/*
 * A channel end the broker made: AF_UNIX, SOCK_SEQPACKET, and created by
 * root (a socketpair's ends carry their creator's credentials), so not one
 * the device model made itself.  It could still hand back its own end of
 * the real pair; that only cuts its own line to the broker.
 */
static bool is_broker_channel(int fd)
{
	int type = 0, domain = 0;
	struct ucred cred;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return false;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return false;
	len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return type == SOCK_SEQPACKET && domain == AF_UNIX && cred.uid == 0;
}

static bool is_fifo(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* ---- one device model ------------------------------------------------------ */

/* Take its kept fds back and watch it again; -errno if any is not what it must be. */
static int reattach(struct bdm *dm, const struct dmp_ports *known)
{
	struct broker *b = dm->dom->b;
	int sock = -1, out = -1, err = -1, evt = -1, r;

	sock = take_fd(dm->pidfd, DMP_KEEP_CHANNEL_FD);
	out = take_fd(dm->pidfd, DMP_KEEP_STDOUT_FD);
	err = take_fd(dm->pidfd, DMP_KEEP_STDERR_FD);
	if (known->kind == DMP_PORTS_EVTCHN)
		evt = take_fd(dm->pidfd, DMP_KEEP_EVTCHN_FD);
	r = -EBADF;
	if (sock < 0 || out < 0 || err < 0 || !is_broker_channel(sock) || !is_fifo(out) ||
	    !is_fifo(err) || (known->kind == DMP_PORTS_EVTCHN && evt < 0))
		goto fail;
	r = hv_ports_adopt(b->hv, dm->dom->domid, dm->server, dm->dom->nr_vcpus, dm->pages,
	                   TAKE_FD(evt), known, &dm->ports);
	if (r < 0)
		goto fail;
	r = logcap_adopt(dm->log, TAKE_FD(out), TAKE_FD(err));
	if (r < 0)
		goto fail;
	dm->sock = TAKE_FD(sock);
	r = util_set_nonblock(dm->sock, true);
	if (r == 0)
		r = dm_watch(dm);
	return r;
fail:
	util_close(sock);
	util_close(out);
	util_close(err);
	util_close(evt);
	return r;
}

static void adopt_dm(struct bdm *dm, json_object *rec)
{
	struct broker *b = dm->dom->b;
	struct dmp_ports known;
	const char *state = jstr(rec, "state");
	char tag[96];
	int r;

	dm->server = (uint16_t)jint(rec, "server", -1);
	dm->server_created = jint(rec, "server", -1) >= 0;
	dm->restarts = (unsigned)jint(rec, "restarts", 0);
	snprintf(dm->cgroup_name, sizeof(dm->cgroup_name), "%s", jstr(rec, "cgroup"));
	snprintf(tag, sizeof(tag), "dom%u/%s", dm->dom->domid, dm->cfg->name);
	if (read_claims(rec, &dm->claims) < 0 || !dm->server_created ||
	    logcap_new(b->base, tag, &dm->log) < 0) {
		log_error("%s: unusable record in the state file", tag);
		dm->server_created = false;
		dm->state = DM_FAILED;
		return;
	}
	r = hv_pages_open(b->hv, dm->dom->domid, dm->server, &dm->pages);
	if (r < 0) {
		log_errno(r, "dom%u/%s: server %u is gone", dm->dom->domid, dm->cfg->name,
		          dm->server);
		dm->server_created = false;
		dm->state = DM_FAILED;
		return;
	}
	dm->uid = (uid_t)jint(rec, "uid", 0);
	dm->gid = (gid_t)jint(rec, "gid", 0);
	dm->pid = (pid_t)jint(rec, "pid", -1);
	dm->start_time = (uint64_t)jint(rec, "start_time", 0);
	dm->pidfd = open_same(dm->pid, dm->start_time, dm->uid);
	if (dm->pidfd >= 0 && jint(rec, "uid_from_pool", 0) && b->uids &&
	    uidpool_reserve(b->uids, dm->uid) == 0)
		dm->uid_from_pool = true;
	if (!strcmp(state, "failed")) {
		dm->state = DM_FAILED; /* down for good already: stays down */
		return;
	}
	if (dm->pidfd >= 0 && !strcmp(state, "running") &&
	    read_ports(rec, dm->dom->nr_vcpus, &known) == 0 && reattach(dm, &known) == 0) {
		dm->state = DM_RUNNING;
		broker_event(b, "adopt", dm->dom, dm, "pid %d uid %u, server %u", dm->pid, dm->uid,
		             dm->server);
		return;
	}
	/* Dead, half-started or unreachable: make sure it is gone, then it has crashed. */
	if (dm->pidfd >= 0) {
		dm_kill(dm);
		dm_stop(dm, false);
	}
	dm_drop_cgroup(dm); /* dm_stop did if it was alive; if it was not, its empty leaf stays */
	dm->pid = -1;
	r = hv_ports_bind(b->hv, dm->dom->domid, dm->server, dm->dom->nr_vcpus, dm->pages,
	                  &dm->ports);
	if (r < 0)
		log_errno(r, "dom%u/%s: bind the ports of server %u again", dm->dom->domid,
		          dm->cfg->name, dm->server);
	dm->last_status = -1;
	dm->state = DM_RUNNING; /* as it was: the crash handling takes it from here */
	supervise_dm_exited(dm);
}

/* ---- one domain ------------------------------------------------------------- */

/*
 * What is left of a domain's device models goes: the domain is gone, or its
 * attach never completed.  destroy_servers: the domain is still there and
 * its servers with it.
 */
static void reap_stale(struct broker *b, uint32_t domid, json_object *dms, bool destroy_servers)
{
	for (size_t i = 0; dms && i < json_object_array_length(dms); i++) {
		json_object *rec = json_object_array_get_idx(dms, i);
		int fd =
		        open_same((pid_t)jint(rec, "pid", -1), (uint64_t)jint(rec, "start_time", 0),
		                  (uid_t)jint(rec, "uid", 0));

		if (fd >= 0) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};

			/* Gone before its leaf is removed: a leaf with a process cannot be. */
			(void)syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
			(void)poll(&pfd, 1, 2000);
			close(fd);
		}
		if (b->cg && *jstr(rec, "cgroup") && cgroup_name_valid(jstr(rec, "cgroup"))) {
			(void)cgroup_leaf_kill(b->cg, jstr(rec, "cgroup"));
			(void)cgroup_leaf_remove(b->cg, jstr(rec, "cgroup"));
		}
		if (destroy_servers && jint(rec, "server", -1) >= 0 &&
		    jint(rec, "server", -1) <= UINT16_MAX)
			(void)hv_destroy_server(b->hv, domid, (uint16_t)jint(rec, "server", -1));
	}
}

static struct policy *load_snapshot(struct broker *b, const char *name)
{
	struct policy_errors errs = {0};
	struct policy *p = NULL;
	char path[600];

	if (state_policy_path(b, name, path, sizeof(path)) < 0 || policy_load(path, &p, &errs) < 0)
		return NULL;
	return p;
}

/* 1: adopted; 0: nothing left to adopt (cleaned up instead); -errno: left alone. */
static int adopt_domain(struct broker *b, json_object *o)
{
	uint32_t domid = (uint32_t)jint(o, "domid", -1);
	struct hv_domain_info info;
	struct policy *p = NULL;
	const struct policy_guest *g;
	struct bdomain *d;
	json_object *dms = NULL;
	int64_t gi = jint(o, "guest", -1);

	char boot[64];

	json_object_object_get_ex(o, "device_models", &dms);
	if (jint(o, "version", 0) != 1 || !json_object_is_type(dms, json_type_array))
		return -EINVAL;
	if (state_boot_id(boot, sizeof(boot)) == 0 && strcmp(boot, jstr(o, "boot_id"))) {
		/* Written before the host last booted: none of it runs any more. */
		log_notice("dom%u (%s): state from an earlier boot, dropped", domid,
		           jstr(o, "name"));
		state_remove_domain(b, domid);
		return 0;
	}
	if (hv_domain_info(b->hv, domid, &info) < 0 || strcmp(info.name, jstr(o, "name")) ||
	    info.nr_vcpus != (unsigned)jint(o, "nr_vcpus", 0)) {
		log_notice("dom%u (%s) is gone: stopping what was left of its device models", domid,
		           jstr(o, "name"));
		reap_stale(b, domid, dms, false);
		state_remove_domain(b, domid);
		return 0;
	}
	if (json_object_get_boolean(json_object_object_get(o, "attaching"))) {
		/* Undone as a failed attach would be; a paused domain is attached afresh. */
		log_notice("dom%u (%s): its attach never completed: undoing it", domid,
		           jstr(o, "name"));
		reap_stale(b, domid, dms, true);
		state_remove_domain(b, domid);
		return 0;
	}
	p = load_snapshot(b, jstr(o, "policy"));
	if (!p || gi < 0 || (uint64_t)gi >= p->n_guests ||
	    p->guests[gi].n_dms != json_object_array_length(dms)) {
		policy_unref(p);
		log_error("dom%u: the policy it was attached with is missing or does not fit; "
		          "leaving it alone",
		          domid);
		return -EINVAL;
	}
	g = &p->guests[gi];
	for (unsigned i = 0; i < g->n_dms; i++)
		if (strcmp(g->dms[i].name, jstr(json_object_array_get_idx(dms, i), "name"))) {
			policy_unref(p);
			return -EINVAL;
		}
	d = domain_new(b, &info, p, g);
	policy_unref(p); /* the domain holds its own reference */
	if (!d)
		return -ENOMEM;
	if (broker_add_domain(b, d) < 0) {
		domain_forget(d);
		return -ENOSPC;
	}
	d->state = BD_RUNNING;
	broker_event(b, "adopt", d, NULL, "%u device models from the state directory", d->n_dms);
	for (unsigned i = 0; i < d->n_dms; i++)
		adopt_dm(&d->dms[i], json_object_array_get_idx(dms, i));
	(void)state_save_domain(d);
	return 1;
}

int adopt_all(struct broker *b)
{
	char dir[512];
	struct dirent *de;
	DIR *dh;
	unsigned n = 0;
	int r;

	snprintf(dir, sizeof(dir), "%s/domains", b->cfg.state_dir);
	dh = opendir(dir);
	if (!dh)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dh))) {
		char path[800];
		json_object *o;
		size_t len = strlen(de->d_name);

		if (len < 6 || strcmp(de->d_name + len - 5, ".json") || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		o = json_object_from_file(path);
		r = o ? adopt_domain(b, o) : -EINVAL;
		if (r < 0)
			log_error("state file %s: cannot adopt what it describes", path);
		else
			n += (unsigned)r;
		json_object_put(o);
	}
	closedir(dh);
	if (n)
		log_notice("adopted %u domain%s from %s", n, n == 1 ? "" : "s", dir);
	return 0;
}
