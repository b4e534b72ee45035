/* SPDX-License-Identifier: MIT */
/*
 * One device model's life in the broker: its ioreq server (created once,
 * outliving every process that serves it), a sandboxed process with its
 * handoff, the switch to serving, and an orderly or forced stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/broker-internal.h"
#include "daemon/state.h"
#include "daemon/cgroup.h"
#include "daemon/uidpool.h"
#include "ipc/frame.h"

const char *dm_state_name(enum dm_state s)
{
	static const char *const names[] = {
	        [DM_NEW] = "new",         [DM_HANDOFF] = "starting",        [DM_READY] = "ready",
	        [DM_RUNNING] = "running", [DM_RESTART_WAIT] = "restarting", [DM_FAILED] = "failed",
	        [DM_STOPPED] = "stopped",
	};
	return s < ARRAY_SIZE(names) && names[s] ? names[s] : "?";
}

static uint32_t domid_of(const struct bdm *dm)
{
	return dm->dom->domid;
}

/* ---- the ioreq server -------------------------------------------------- */

int dm_prepare(struct bdm *dm)
{
	struct broker *b = dm->dom->b;
	const struct policy_dm *c = dm->cfg;
	char tag[96];
	int r;

	for (unsigned k = 0; k < DMP_CLAIM_KINDS; k++) {
		dm->claims.n[k] = c->n_claims[k];
		memcpy(dm->claims.r[k], c->claims[k], c->n_claims[k] * sizeof(c->claims[k][0]));
	}
	r = hv_create_server(b->hv, domid_of(dm), (enum hv_bufioreq)c->bufioreq, &dm->server);
	if (r < 0)
		return log_errno(r, "dom%u/%s: create ioreq server", domid_of(dm), c->name);
	dm->server_created = true;
	r = handoff_map_claims(b->hv, domid_of(dm), dm->server, &dm->claims);
	if (r < 0)
		return log_errno(r, "dom%u/%s: claim its ranges on server %u", domid_of(dm),
		                 c->name, dm->server);
	broker_event(b, "audit", dm->dom, dm,
	             "server %u created, %u port, %u mmio, %u pci claims mapped", dm->server,
	             dm->claims.n[DMP_CLAIM_PORT], dm->claims.n[DMP_CLAIM_MMIO],
	             dm->claims.n[DMP_CLAIM_PCI]);
	r = hv_pages_open(b->hv, domid_of(dm), dm->server, &dm->pages);
	if (r < 0)
		return log_errno(r, "dom%u/%s: map the pages of server %u", domid_of(dm), c->name,
		                 dm->server);
	snprintf(tag, sizeof(tag), "dom%u/%s", domid_of(dm), c->name);
	r = logcap_new(b->base, tag, &dm->log);
	if (r < 0)
		return log_errno(r, "dom%u/%s: log capture", domid_of(dm), c->name);
	return 0;
}

/* ---- the process ------------------------------------------------------- */

static int pick_user(struct bdm *dm)
{
	struct broker *b = dm->dom->b;
	const struct policy_sandbox *sb = &dm->cfg->sandbox;
	struct passwd pw, *res = NULL;
	char buf[1024];
	int r;

	if (sb->user_auto) {
		if (!b->uids)
			return -ENOENT;
		r = uidpool_alloc(b->uids, &dm->uid);
		if (r < 0)
			return r;
		dm->gid = dm->uid; /* a group of its own, numbered like the uid */
		dm->uid_from_pool = true;
		return 0;
	}
	r = getpwnam_r(sb->user, &pw, buf, sizeof(buf), &res);
	if (r || !res)
		return r ? -r : -ENOENT;
	if (pw.pw_uid == 0 || pw.pw_gid == 0)
		return -EPERM;
	dm->uid = pw.pw_uid;
	dm->gid = pw.pw_gid;
	dm->uid_from_pool = false;
	return 0;
}

static void release_user(struct bdm *dm)
{
	if (dm->uid_from_pool && dm->dom->b->uids)
		uidpool_release(dm->dom->b->uids, dm->uid);
	dm->uid_from_pool = false;
	dm->uid = 0;
}

static int make_cgroup(struct bdm *dm)
{
	struct broker *b = dm->dom->b;
	const struct policy_sandbox *sb = &dm->cfg->sandbox;

	dm->cgroup_fd = -1;
	if (!b->cg)
		return 0; /* said so in status at startup; rlimits still apply */
	snprintf(dm->cgroup_name, sizeof(dm->cgroup_name), "dom%u-%s", domid_of(dm), dm->cfg->name);
	return cgroup_leaf_create(b->cg, dm->cgroup_name, sb->memory_max, sb->pids_max,
	                          &dm->cgroup_fd);
}

void dm_drop_cgroup(struct bdm *dm)
{
	struct broker *b = dm->dom->b;

	dm->cgroup_fd = util_close(dm->cgroup_fd);
	if (b->cg && dm->cgroup_name[0]) {
		(void)cgroup_leaf_kill(b->cg, dm->cgroup_name);
		(void)cgroup_leaf_remove(b->cg, dm->cgroup_name);
	}
	dm->cgroup_name[0] = '\0';
}

static void on_exit_cb(evutil_socket_t fd, short what, void *arg);
static void on_sock_cb(evutil_socket_t fd, short what, void *arg);

static int start_process(struct bdm *dm, int child_sock, int out_w, int err_w, int exec_fd)
{
	struct broker *b = dm->dom->b;
	const struct policy_dm *c = dm->cfg;
	char *argv[POLICY_MAX_ARGS + 2];
	char *envp[] = {"PATH=/usr/bin", "LC_ALL=C.UTF-8", NULL};
	struct sandbox_spec spec = {
	        .exec_fd = exec_fd,
	        .argv = argv,
	        .envp = envp,
	        .uid = dm->uid,
	        .gid = dm->gid,
	        .namespaces = c->sandbox.namespaces,
	        .memory_max = c->sandbox.memory_max,
	        .pids_max = c->sandbox.pids_max,
	        .nofile = c->sandbox.nofile,
	        .cgroup_fd = dm->cgroup_fd,
	        .channel_fd = child_sock,
	        .stdout_fd = out_w,
	        .stderr_fd = err_w,
	        .jail_dir = b->jail_dir,
	        .seccomp = c->sandbox.seccomp,
	        .guest_memory = c->sandbox.guest_memory,
	};
	struct sandbox_child child;
	struct sandbox_error err = {0};
	int r;

	argv[0] = (char *)c->name;
	for (unsigned i = 0; i < c->n_args; i++)
		argv[i + 1] = (char *)c->args[i];
	argv[c->n_args + 1] = NULL;
	r = sandbox_spawn(&spec, &child, &err);
	if (r < 0)
		return log_errno(r, "dom%u/%s: sandboxed launch failed at step '%s'", domid_of(dm),
		                 c->name, sandbox_step_name(err.step));
	dm->pid = child.pid;
	dm->pidfd = child.pidfd;
	/* Read while it is our unreaped child: the pid cannot be anyone else's yet. */
	dm->start_time = 0;
	(void)state_start_time(dm->pid, &dm->start_time);
	return 0;
}

int dm_watch(struct bdm *dm)
{
	struct event_base *base = dm->dom->b->base;

	dm->ev_pid = event_new(base, dm->pidfd, EV_READ, on_exit_cb, dm);
	dm->ev_sock = event_new(base, dm->sock, EV_READ | EV_PERSIST, on_sock_cb, dm);
	if (!dm->ev_pid || !dm->ev_sock || event_add(dm->ev_pid, NULL) < 0 ||
	    event_add(dm->ev_sock, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static int send_handoff(struct bdm *dm)
{
	const struct policy_dm *c = dm->cfg;
	struct dmp_hello hello = {
	        .domid = domid_of(dm),
	        .server_id = dm->server,
	        .nr_vcpus = (uint16_t)dm->dom->nr_vcpus,
	        .flags = (c->poll_us ? DMP_HELLO_POLL : 0) |
	                 (c->sandbox.seccomp == POLICY_SECCOMP_LOG ? DMP_HELLO_SECCOMP_LOG : 0),
	        .poll_us = c->poll_us,
	        .bufioreq = c->bufioreq,
	};

	struct dmp_keep keep = {.nfds = 3};
	int fds[3];
	int r;

	snprintf(hello.name, sizeof(hello.name), "%s", c->name);
	r = handoff_send_setup(dm->sock, &hello, &dm->claims, dm->pages);
	if (r < 0)
		return r;
	/* Our ends, for the device model to hold should we restart (ipc/dmproto.h). */
	fds[0] = dm->sock;
	logcap_read_fds(dm->log, &fds[1], &fds[2]);
	return frame_send(dm->sock, DMP_KEEP, 0, &keep, sizeof(keep), fds, 3);
}

static bool wait_exit(struct bdm *dm, int ms);

int dm_spawn(struct bdm *dm)
{
	struct broker *b = dm->dom->b;
	const struct policy_dm *c = dm->cfg;
	char path[POLICY_PATH_MAX + 256];
	int sv[2] = {-1, -1}, out_w = -1, err_w = -1, exec_fd = -1;
	int r;

	r = policy_exec_path(c->exec, b->cfg.libexec_dir, path, sizeof(path));
	if (r == 0) {
		exec_fd = open(path, O_PATH | O_CLOEXEC);
		if (exec_fd < 0)
			r = -errno;
	}
	if (r < 0) {
		log_errno(r, "dom%u/%s: open %s", domid_of(dm), c->name, path);
		goto out;
	}
	r = pick_user(dm);
	if (r < 0) {
		log_errno(r, "dom%u/%s: no uid for it", domid_of(dm), c->name);
		goto out;
	}
	r = make_cgroup(dm);
	if (r < 0) {
		log_errno(r, "dom%u/%s: cgroup %s", domid_of(dm), c->name, dm->cgroup_name);
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = log_errno(-errno, "dom%u/%s: socketpair", domid_of(dm), c->name);
		goto out;
	}
	r = logcap_pipes(dm->log, &out_w, &err_w);
	if (r < 0) {
		log_errno(r, "dom%u/%s: pipes", domid_of(dm), c->name);
		goto out;
	}
	/* The loop reads until EAGAIN; a device model must never block the broker. */
	r = util_set_nonblock(sv[0], true);
	if (r < 0) {
		log_errno(r, "dom%u/%s: channel", domid_of(dm), c->name);
		goto out;
	}
	dm->started_ns = util_now_ns();
	r = start_process(dm, sv[1], out_w, err_w, exec_fd);
	if (r < 0)
		goto out;
	metrics_observe(&b->launch_hist, util_now_ns() - dm->started_ns);
	dm->sock = TAKE_FD(sv[0]);
	dm->rate_window_ns = util_now_ns();
	dm->rate_count = 0;
	dm->stats_pending = false;
	r = dm_watch(dm);
	if (r < 0) {
		/* Nothing would see it exit: kill and reap it here. */
		log_errno(r, "dom%u/%s: watch pid %d", domid_of(dm), c->name, dm->pid);
		dm_kill(dm);
		(void)wait_exit(dm, 5000);
		dm_reap(dm);
		goto out;
	}
	r = send_handoff(dm);
	if (r < 0) {
		/* Its exit is watched: the crash handling takes it from there. */
		log_errno(r, "dom%u/%s: hand off to pid %d", domid_of(dm), c->name, dm->pid);
		dm_kill(dm);
		goto out;
	}
	dm->state = DM_HANDOFF;
	broker_event(b, "spawn", dm->dom, dm, "pid %d uid %u", dm->pid, dm->uid);
out:
	util_close(sv[0]);
	util_close(sv[1]);
	util_close(out_w);
	util_close(err_w);
	util_close(exec_fd);
	if (r < 0 && dm->pid <= 0) {
		dm_drop_cgroup(dm);
		release_user(dm);
	}
	return r;
}

int dm_start_serving(struct bdm *dm)
{
	struct broker *b = dm->dom->b;
	int r;

	r = hv_set_server_state(b->hv, domid_of(dm), dm->server, true);
	if (r < 0)
		return log_errno(r, "dom%u/%s: enable server %u", domid_of(dm), dm->cfg->name,
		                 dm->server);
	/* Bound once: the ports outlive restarts of the process. */
	if (!dm->ports) {
		r = hv_ports_bind(b->hv, domid_of(dm), dm->server, dm->dom->nr_vcpus, dm->pages,
		                  &dm->ports);
		if (r < 0)
			return log_errno(r, "dom%u/%s: bind the ports of server %u", domid_of(dm),
			                 dm->cfg->name, dm->server);
	}
	r = handoff_send_ports(dm->sock, dm->ports);
	if (r < 0)
		return log_errno(r, "dom%u/%s: send the ports", domid_of(dm), dm->cfg->name);
	dm->state = DM_RUNNING;
	broker_event(b, "ready", dm->dom, dm, "serving on server %u", dm->server);
	if (dm->dom->state == BD_RUNNING) /* a restart; an attach saves once when complete */
		(void)state_save_domain(dm->dom);
	return 0;
}

/* ---- stopping --------------------------------------------------------- */

void dm_kill(struct bdm *dm)
{
	struct broker *b = dm->dom->b;

	if (dm->pidfd >= 0)
		(void)syscall(SYS_pidfd_send_signal, dm->pidfd, SIGKILL, NULL, 0);
	/* Not another word from it: a READY read before its pidfd fires would enable its server. */
	if (dm->ev_sock)
		event_del(dm->ev_sock);
	/* Anything it forked is in the same cgroup (and pid namespace). */
	if (b->cg && dm->cgroup_name[0])
		(void)cgroup_leaf_kill(b->cg, dm->cgroup_name);
	b->kills++;
}

static void forget_channel(struct bdm *dm)
{
	if (dm->ev_sock) {
		event_free(dm->ev_sock);
		dm->ev_sock = NULL;
	}
	dm->sock = util_close(dm->sock);
}

/* The process has exited (or is about to be waited for): collect it and what it held. */
void dm_reap(struct bdm *dm)
{
	siginfo_t si = {0};

	if (dm->pidfd < 0)
		return;
	if (dm->ev_pid) {
		event_free(dm->ev_pid);
		dm->ev_pid = NULL;
	}
	for (;;) {
		if (waitid((idtype_t)P_PIDFD, (id_t)dm->pidfd, &si, WEXITED) == 0) {
			dm->last_status = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8
			                                           : (si.si_status & 0x7f);
			break;
		}
		if (errno == EINTR)
			continue;
		/* Adopted from a previous broker: not our child, its status is not ours to read. */
		dm->last_status = -1;
		break;
	}
	dm->pidfd = util_close(dm->pidfd);
	dm->pid = -1;
	forget_channel(dm);
	if (dm->log)
		logcap_drain(dm->log);
	dm_drop_cgroup(dm);
	release_user(dm);
}

/*
 * The broker is going but the device model stays (a restart will adopt it):
 * close our copies of everything, touch nothing of its own.
 */
void dm_forget(struct bdm *dm)
{
	if (dm->ev_pid) {
		event_free(dm->ev_pid);
		dm->ev_pid = NULL;
	}
	if (dm->ev_timer) {
		event_free(dm->ev_timer);
		dm->ev_timer = NULL;
	}
	forget_channel(dm);
	dm->pidfd = util_close(dm->pidfd);
	dm->cgroup_fd = util_close(dm->cgroup_fd);
	hv_ports_free(dm->ports);
	dm->ports = NULL;
	hv_pages_free(dm->pages);
	dm->pages = NULL;
	logcap_free(dm->log);
	dm->log = NULL;
	dm->server_created = false; /* not ours to destroy */
}

/* Wait up to ms for the process to exit; true if it did. */
static bool wait_exit(struct bdm *dm, int ms)
{
	struct pollfd pfd = {.fd = dm->pidfd, .events = POLLIN};

	return poll(&pfd, 1, ms) > 0;
}

void dm_stop(struct bdm *dm, bool orderly)
{
	struct broker *b = dm->dom->b;

	if (dm->server_created && dm->state == DM_RUNNING)
		(void)hv_set_server_state(b->hv, domid_of(dm), dm->server, false);
	if (dm->ev_timer)
		event_del(dm->ev_timer);
	if (dm->pidfd >= 0) {
		if (orderly && dm->sock >= 0)
			(void)frame_send(dm->sock, DMP_SHUTDOWN, 0, NULL, 0, NULL, 0);
		if (!orderly || !wait_exit(dm, DM_STOP_TIMEOUT_MS)) {
			dm_kill(dm);
			(void)wait_exit(dm, 5000);
		}
		dm_reap(dm);
	}
	/*
	 * A request it took but never answered (killed while stuck in it) would
	 * keep its vCPU waiting for good, whoever serves next: answer it all
	 * ones, as after a crash.
	 */
	if (dm->pages && dm->ports) {
		int n = hv_release_inflight(dm->pages, dm->ports);

		if (n > 0)
			log_info("dom%u/%s: %d in-flight request%s answered as unclaimed",
			         domid_of(dm), dm->cfg->name, n, n == 1 ? "" : "s");
	}
	dm->state = DM_STOPPED;
}

/* Give back everything: process first, then the server (which unmaps its claims). */
void dm_release(struct bdm *dm)
{
	struct broker *b = dm->dom->b;

	if (dm->pidfd >= 0)
		dm_stop(dm, false);
	if (dm->ev_timer) {
		event_free(dm->ev_timer);
		dm->ev_timer = NULL;
	}
	forget_channel(dm);
	hv_ports_free(dm->ports);
	dm->ports = NULL;
	hv_pages_free(dm->pages);
	dm->pages = NULL;
	if (dm->server_created) {
		int r = hv_destroy_server(b->hv, domid_of(dm), dm->server);
		if (r < 0 && r != -ESRCH)
			log_errno(r, "dom%u/%s: destroy server %u", domid_of(dm), dm->cfg->name,
			          dm->server);
		dm->server_created = false;
	}
	logcap_free(dm->log);
	dm->log = NULL;
}

/* ---- events ------------------------------------------------------------- */

static void on_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bdm *dm = arg;

	(void)fd, (void)what;
	dm_reap(dm);
	if (dm->dom->state == BD_ATTACHING)
		attach_dm_died(dm);
	else if (dm->dom->state == BD_RUNNING)
		supervise_dm_exited(dm);
}

static void on_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	dmchan_readable(arg);
}
