/* SPDX-License-Identifier: MIT */
/*
 * dmbrokerd's core: startup, the libevent loop, signals, the hypervisor's
 * domain lifecycle events and the table of attached domains.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/sdnotify.h"
#include "common/util.h"
#include "daemon/broker-internal.h"
#include "daemon/cgroup.h"
#include "daemon/state.h"
#include "daemon/uidpool.h"

#define STATS_PERIOD_S 1

/* ---- the domain table -------------------------------------------------- */

struct bdomain *broker_find_domain(struct broker *b, uint32_t domid)
{
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++)
		if (b->dom[i] && b->dom[i]->domid == domid)
			return b->dom[i];
	return NULL;
}

int broker_add_domain(struct broker *b, struct bdomain *d)
{
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++)
		if (!b->dom[i]) {
			b->dom[i] = d;
			b->n_domains++;
			return 0;
		}
	return -ENOSPC;
}

void broker_remove_domain(struct broker *b, struct bdomain *d)
{
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++)
		if (b->dom[i] == d) {
			b->dom[i] = NULL;
			b->n_domains--;
			return;
		}
}

void broker_event(struct broker *b, const char *kind, const struct bdomain *d, const struct bdm *dm,
                  const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	events_emit(b->events, kind, d ? (int64_t)d->domid : -1, d ? d->name : NULL,
	            dm ? dm->cfg->name : NULL, dm ? dm->pid : 0, msg);
}

/* ---- hypervisor lifecycle ---------------------------------------------- */

/* A failed attach was logged where it failed (the attach-failed event). */
static void auto_attach_done(void *opaque, int result, const char *msg)
{
	(void)opaque, (void)result, (void)msg;
}

static void maybe_attach(struct broker *b, uint32_t domid)
{
	struct hv_domain_info info;
	int r;

	if (b->cfg.no_auto_attach || broker_find_domain(b, domid))
		return;
	if (hv_domain_info(b->hv, domid, &info) < 0 || !policy_match(b->policy, domid, info.name))
		return;
	if (!info.paused)
		log_warn("dom%u (%s): attaching to a domain that is already running", domid,
		         info.name);
	r = attach_domain(b, domid, auto_attach_done, (void *)(uintptr_t)domid);
	if (r < 0)
		log_errno(r, "dom%u (%s): attach", domid, info.name);
}

static void domain_gone(struct broker *b, uint32_t domid)
{
	struct bdomain *d = broker_find_domain(b, domid);

	if (!d)
		return;
	broker_event(b, "domain-gone", d, NULL, "stopping its device models, freeing its uids");
	domain_teardown(d, false);
}

static void on_hv_event(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	struct hv_event ev;
	int r;

	(void)fd, (void)what;
	for (unsigned n = 0; n < 64; n++) {
		r = hv_event_next(b->hv, &ev);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			log_errno(r, "hypervisor events");
			event_del(b->ev_hv);
			return;
		}
		if (ev.kind == HV_EVENT_DOMAIN_NEW)
			maybe_attach(b, ev.domid);
		else if (ev.kind == HV_EVENT_DOMAIN_GONE)
			domain_gone(b, ev.domid);
	}
}

/* Domains that exist already: attach those that wait, paused, for their device models. */
static void scan_domains(struct broker *b)
{
	uint32_t ids[256];
	unsigned n = 0;

	if (hv_domain_list(b->hv, ids, ARRAY_SIZE(ids), &n) < 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		struct hv_domain_info info;
		if (ids[i] == 0 || hv_domain_info(b->hv, ids[i], &info) < 0 || !info.paused)
			continue;
		maybe_attach(b, ids[i]);
	}
}

/* ---- signals and timers ------------------------------------------------ */

static void on_quit(evutil_socket_t sig, short what, void *arg)
{
	struct broker *b = arg;

	(void)what;
	log_notice("signal %d: shutting down", (int)sig);
	b->quitting = true;
	event_base_loopbreak(b->base);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what;
	(void)sdn_notifyf("RELOADING=1\nMONOTONIC_USEC=%llu",
	                  (unsigned long long)(util_now_ns() / 1000));
	(void)broker_reload_policy(arg, NULL);
	(void)sdn_notify("READY=1");
}

/* Pinged from the loop itself: a broker whose loop is wedged stops pinging and is restarted. */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	(void)sdn_notify("WATCHDOG=1");
}

/* One line for `systemctl status`: what the broker is looking after. */
static void notify_status(struct broker *b)
{
	unsigned running = 0, total = 0;

	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++) {
		struct bdomain *d = b->dom[i];
		for (unsigned k = 0; d && k < d->n_dms; k++, total++)
			running += d->dms[k].state == DM_RUNNING;
	}
	if (running == b->status_running && total == b->status_total &&
	    b->n_domains == b->status_domains)
		return;
	b->status_running = running;
	b->status_total = total;
	b->status_domains = b->n_domains;
	(void)sdn_notifyf("STATUS=%u domain%s, %u of %u device models running", b->n_domains,
	                  b->n_domains == 1 ? "" : "s", running, total);
}

static void on_stats_timer(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;

	(void)fd, (void)what;
	notify_status(b);
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++) {
		struct bdomain *d = b->dom[i];

		if (d)
			state_flush_domain(d);
		for (unsigned k = 0; d && k < d->n_dms; k++) {
			(void)dmchan_request_stats(&d->dms[k]);
			dmchan_flush_audit(&d->dms[k], util_now_ns());
		}
	}
}

/* ---- policy reload ------------------------------------------------------- */

int broker_reload_policy(struct broker *b, json_object **ret_report)
{
	struct policy_errors errs = {0};
	struct policy *p = NULL;
	json_object *report = NULL;
	int r;

	r = policy_load(b->cfg.policy_path, &p, &errs);
	if (r < 0) {
		log_error("policy reload from %s failed; keeping the current policy:",
		          b->cfg.policy_path);
		for (unsigned i = 0; i < errs.n && i < POLICY_ERRORS_MAX; i++)
			log_error("  %s: %s", errs.e[i].path, errs.e[i].msg);
		return r == -EINVAL ? -EINVAL : r;
	}
	report = json_object_new_array();
	/* Running guests keep the policy they were attached with; say what would differ. */
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++) {
		struct bdomain *d = b->dom[i];
		const struct policy_guest *g;
		json_object *e;
		const char *what;

		if (!d)
			continue;
		g = policy_match(p, d->domid, d->name);
		if (!g)
			what = "no longer matched: keeps its device models until detached";
		else if (g->n_dms != d->guest->n_dms ||
		         memcmp(g->dms, d->guest->dms, g->n_dms * sizeof(g->dms[0])) ||
		         g->unpause != d->guest->unpause ||
		         g->pci_hole_start != d->guest->pci_hole_start ||
		         g->pci_hole_end != d->guest->pci_hole_end)
			what = "changed: applies when it is next attached";
		else
			what = "unchanged";
		e = json_object_new_object();
		json_object_object_add(e, "domid", json_object_new_int64(d->domid));
		json_object_object_add(e, "name", json_object_new_string(d->name));
		json_object_object_add(e, "policy", json_object_new_string(what));
		json_object_array_add(report, e);
		log_info("policy reload: dom%u (%s): %s", d->domid, d->name, what);
	}
	policy_unref(b->policy);
	b->policy = p;
	log_notice("policy reloaded from %s: %u guest entries", b->cfg.policy_path, p->n_guests);
	if (ret_report)
		*ret_report = report;
	else
		json_object_put(report);
	return 0;
}

/* ---- startup -------------------------------------------------------- */

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[512];

	if (util_strcpy(buf, sizeof(buf), path) < 0)
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * The state directory says which processes to adopt and which fds to take
 * from them: anyone else who could write in it could point the broker at
 * their own.  It must be root's and writable by root alone.
 */
static int check_state_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return log_errno(-errno, "state directory %s", dir);
	if (!S_ISDIR(st.st_mode))
		return log_errno(-ENOTDIR, "state directory %s", dir);
	if (st.st_uid != 0 || (st.st_mode & 022))
		return log_errno(
		        -EPERM,
		        "state directory %s: owned by uid %u, mode %04o; it must be root's "
		        "and writable by root alone",
		        dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	return 0;
}

static int setup_dirs(struct broker *b)
{
	int r = mkdir_p(b->cfg.state_dir, 0700);

	if (r < 0)
		return log_errno(r, "state directory %s", b->cfg.state_dir);
	r = check_state_dir(b->cfg.state_dir);
	if (r < 0)
		return r;
	if (snprintf(b->jail_dir, sizeof(b->jail_dir), "%s/jail", b->cfg.state_dir) >=
	    (int)sizeof(b->jail_dir))
		return log_errno(-ENAMETOOLONG, "state directory %s", b->cfg.state_dir);
	/* The mount point of every device model's private root: empty, root-only. */
	r = mkdir_p(b->jail_dir, 0700);
	if (r < 0)
		return log_errno(r, "jail directory %s", b->jail_dir);
	return 0;
}

static int setup_sandbox_support(struct broker *b)
{
	char why[256] = "";
	int r;

	r = cgroup_root_open(b->cfg.cgroup_root, &b->cg, why, sizeof(why));
	if (r < 0) {
		b->cg = NULL;
		snprintf(b->cgroup_status, sizeof(b->cgroup_status),
		         "unavailable: %s; device models get rlimits only", why);
		log_warn("cgroup v2 %s", b->cgroup_status);
	} else {
		snprintf(b->cgroup_status, sizeof(b->cgroup_status), "%s", cgroup_root_path(b->cg));
	}
	why[0] = '\0';
	r = sandbox_probe(why, sizeof(why));
	snprintf(b->sandbox_status, sizeof(b->sandbox_status), "%s", r < 0 ? why : "ok");
	if (r < 0)
		return log_errno(r, "this host cannot sandbox device models: %s", why);
	if (b->policy->uid_count) {
		r = uidpool_new(b->policy->uid_start, b->policy->uid_count, &b->uids);
		if (r < 0)
			return log_errno(r, "uid range %u+%u", b->policy->uid_start,
			                 b->policy->uid_count);
	}
	return 0;
}

static int setup_events(struct broker *b)
{
	struct timeval one = {.tv_sec = STATS_PERIOD_S};
	int hv_fd;

	b->ev_sigterm = evsignal_new(b->base, SIGTERM, on_quit, b);
	b->ev_sigint = evsignal_new(b->base, SIGINT, on_quit, b);
	b->ev_sighup = evsignal_new(b->base, SIGHUP, on_hup, b);
	b->ev_stats = event_new(b->base, -1, EV_PERSIST, on_stats_timer, b);
	if (!b->ev_sigterm || !b->ev_sigint || !b->ev_sighup || !b->ev_stats ||
	    event_add(b->ev_sigterm, NULL) < 0 || event_add(b->ev_sigint, NULL) < 0 ||
	    event_add(b->ev_sighup, NULL) < 0 || event_add(b->ev_stats, &one) < 0)
		return -ENOMEM;
	if (sdn_watchdog_usec()) {
		uint64_t half = sdn_watchdog_usec() / 2;
		struct timeval tv = {.tv_sec = (time_t)(half / 1000000),
		                     .tv_usec = (suseconds_t)(half % 1000000)};

		b->ev_watchdog = event_new(b->base, -1, EV_PERSIST, on_watchdog, b);
		if (!b->ev_watchdog || event_add(b->ev_watchdog, &tv) < 0)
			return -ENOMEM;
	}
	hv_fd = hv_event_fd(b->hv);
	if (hv_fd < 0)
		return log_errno(hv_fd, "domain lifecycle events from %s", hv_name(b->hv));
	b->ev_hv = event_new(b->base, hv_fd, EV_READ | EV_PERSIST, on_hv_event, b);
	if (!b->ev_hv || event_add(b->ev_hv, NULL) < 0)
		return -ENOMEM;
	return 0;
}

int broker_new(const struct broker_config *cfg, struct broker **ret)
{
	struct policy_errors errs = {0};
	struct broker *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	b->cfg = *cfg;
	b->state_lock = -1;
	b->started_ns = util_now_ns();
	r = events_new(&b->events);
	if (r < 0)
		goto fail;
	signal(SIGPIPE, SIG_IGN);
	b->base = event_base_new();
	if (!b->base) {
		r = -ENOMEM;
		goto fail;
	}
	r = policy_load(cfg->policy_path, &b->policy, &errs);
	if (r < 0) {
		policy_errors_print(&errs, cfg->policy_path, stderr);
		log_error("cannot use policy %s", cfg->policy_path);
		goto fail;
	}
	r = hv_open(cfg->hypervisor, &b->hv);
	if (r < 0) {
		log_errno(r, "hypervisor '%s'", cfg->hypervisor);
		goto fail;
	}
	r = setup_dirs(b);
	if (r == 0)
		r = state_init(b);
	if (r == 0)
		r = setup_sandbox_support(b);
	if (r == 0)
		r = setup_events(b);
	if (r == 0)
		r = control_new(b, cfg->control_path, cfg->admin_group, &b->ctl);
	if (r < 0)
		goto fail;
	*ret = b;
	return 0;
fail:
	broker_free(b);
	return r;
}

/*
 * Leaving: by default every attached domain's device models keep serving and
 * its state file stays for the next broker to adopt (a restart or upgrade
 * must not disturb guests); with --stop-on-exit everything is torn down.
 * An attach still in progress is rolled back either way: half of one is not
 * worth adopting.
 */
static void broker_leave(struct broker *b)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++) {
		struct bdomain *d = b->dom[i];

		if (!d)
			continue;
		if (b->cfg.stop_on_exit || d->state != BD_RUNNING || state_save_domain(d) < 0) {
			domain_teardown(d, true);
			continue;
		}
		domain_forget(d);
		kept++;
	}
	if (kept)
		log_notice("left the device models of %u domain%s running for the next broker",
		           kept, kept == 1 ? "" : "s");
}

int broker_run(struct broker *b)
{
	int r = adopt_all(b);

	if (r < 0)
		log_errno(r, "state directory %s: adoption", b->cfg.state_dir);
	scan_domains(b);
	log_notice("dmbrokerd ready: hypervisor %s, policy %s (%u guest entries), control %s",
	           hv_name(b->hv), b->cfg.policy_path, b->policy->n_guests, b->cfg.control_path);
	/* Only now: the control socket listens and what existed has been adopted. */
	(void)sdn_notify("READY=1");
	b->status_domains = UINT_MAX; /* the first STATUS= goes out even for "0 domains" */
	notify_status(b);
	if (event_base_dispatch(b->base) < 0)
		return -EIO;
	(void)sdn_notify("STOPPING=1");
	broker_leave(b);
	return 0;
}

void broker_free(struct broker *b)
{
	if (!b)
		return;
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++)
		if (b->dom[i])
			domain_teardown(b->dom[i], false);
	control_free(b->ctl);
	if (b->ev_sigterm)
		event_free(b->ev_sigterm);
	if (b->ev_sigint)
		event_free(b->ev_sigint);
	if (b->ev_sighup)
		event_free(b->ev_sighup);
	if (b->ev_stats)
		event_free(b->ev_stats);
	if (b->ev_watchdog)
		event_free(b->ev_watchdog);
	if (b->ev_hv)
		event_free(b->ev_hv);
	hv_close(b->hv);
	uidpool_free(b->uids);
	cgroup_root_free(b->cg);
	policy_unref(b->policy);
	events_free(b->events);
	util_close(b->state_lock);
	if (b->base)
		event_base_free(b->base);
	free(b);
}
