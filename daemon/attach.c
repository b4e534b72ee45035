/* SPDX-License-Identifier: MIT */
/*
 * Attaching a guest's device models, and taking them away again.
 *
 * attach: match policy -> check limits -> for each device model create its
 * server, claim its ranges, map its pages -> launch each sandboxed with its
 * handoff -> wait until every one reports READY -> enable each server, bind
 * and hand over its ports -> unpause the guest if the policy says so.  A
 * failure at any step, a device model that exits before READY, or the
 * deadline passing undoes everything: nothing half-attached stays.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/broker-internal.h"
#include "daemon/state.h"

struct attach_waiter {
	struct attach_waiter *next;
	attach_done_fn done;
	void *opaque;
};

static void notify_waiters(struct bdomain *d, int result, const char *msg)
{
	struct attach_waiter *w = d->waiters;

	d->waiters = NULL;
	while (w) {
		struct attach_waiter *next = w->next;
		w->done(w->opaque, result, msg);
		free(w);
		w = next;
	}
}

static int add_waiter(struct bdomain *d, attach_done_fn done, void *opaque)
{
	struct attach_waiter *w;

	if (!done)
		return 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->done = done;
	w->opaque = opaque;
	w->next = d->waiters;
	d->waiters = w;
	return 0;
}

void attach_cancel_waiter(struct broker *b, void *opaque)
{
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++) {
		struct bdomain *d = b->dom[i];
		struct attach_waiter **pw = d ? &d->waiters : NULL;

		while (pw && *pw) {
			if ((*pw)->opaque == opaque) {
				struct attach_waiter *w = *pw;
				*pw = w->next;
				free(w);
			} else {
				pw = &(*pw)->next;
			}
		}
	}
}

/* ---- teardown ------------------------------------------------------------ */

void domain_teardown(struct bdomain *d, bool orderly)
{
	struct broker *b = d->b;

	for (unsigned i = 0; i < d->n_dms; i++)
		if (d->dms[i].pidfd >= 0)
			dm_stop(&d->dms[i], orderly);
	for (unsigned i = 0; i < d->n_dms; i++)
		dm_release(&d->dms[i]);
	if (d->ev_timeout)
		event_free(d->ev_timeout);
	if (d->ev_fail)
		event_free(d->ev_fail);
	/* Only now, with everything undone, does whoever asked hear the outcome. */
	if (d->fail_result)
		notify_waiters(d, d->fail_result, d->fail_msg);
	else
		notify_waiters(d, -ECANCELED, "the domain's device models were stopped");
	state_remove_domain(b, d->domid);
	broker_remove_domain(b, d);
	policy_unref(d->policy);
	free(d);
}

/*
 * Let go of a domain without touching it: its device models keep serving,
 * its servers stay, the state file stays; a restarted broker takes them over.
 */
void domain_forget(struct bdomain *d)
{
	for (unsigned i = 0; i < d->n_dms; i++)
		dm_forget(&d->dms[i]);
	if (d->ev_timeout)
		event_free(d->ev_timeout);
	if (d->ev_fail)
		event_free(d->ev_fail);
	notify_waiters(d, -ECANCELED, "the broker is stopping");
	broker_remove_domain(d->b, d);
	policy_unref(d->policy);
	free(d);
}

/* Runs from the loop, never inside a device model's own callback (which it frees). */
static void on_fail(evutil_socket_t fd, short what, void *arg)
{
	struct bdomain *d = arg;

	(void)fd, (void)what;
	/* The event is the one record of it (logged as an error). */
	broker_event(d->b, "attach-failed", d, NULL, "%s", d->fail_msg);
	domain_teardown(d, false);
}

static void attach_fail(struct bdomain *d, int result, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void attach_fail(struct bdomain *d, int result, const char *fmt, ...)
{
	va_list ap;

	if (d->fail_result)
		return; /* the first reason is the one that counts */
	d->fail_result = result;
	va_start(ap, fmt);
	vsnprintf(d->fail_msg, sizeof(d->fail_msg), fmt, ap);
	va_end(ap);
	event_active(d->ev_fail, EV_TIMEOUT, 0);
}

/* ---- attach -------------------------------------------------------------- */

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct bdomain *d = arg;

	(void)fd, (void)what;
	for (unsigned i = 0; i < d->n_dms; i++)
		if (d->dms[i].state != DM_READY) {
			attach_fail(d, -ETIMEDOUT,
			            "device model %s did not report ready within %u ms",
			            d->dms[i].cfg->name, d->b->cfg.ready_timeout_ms);
			return;
		}
}

struct bdomain *domain_new(struct broker *b, const struct hv_domain_info *info, struct policy *p,
                           const struct policy_guest *g)
{
	struct bdomain *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->b = b;
	d->domid = info->domid;
	memcpy(d->name, info->name, sizeof(d->name));
	d->nr_vcpus = info->nr_vcpus;
	d->policy = policy_ref(p);
	d->guest = g;
	d->state = BD_ATTACHING;
	d->n_dms = g->n_dms;
	for (unsigned i = 0; i < g->n_dms; i++) {
		struct bdm *dm = &d->dms[i];
		dm->dom = d;
		dm->cfg = &g->dms[i];
		dm->index = i;
		dm->pid = -1;
		dm->pidfd = dm->sock = dm->cgroup_fd = -1;
	}
	d->ev_timeout = evtimer_new(b->base, on_timeout, d);
	d->ev_fail = event_new(b->base, -1, 0, on_fail, d);
	if (!d->ev_timeout || !d->ev_fail) {
		if (d->ev_timeout)
			event_free(d->ev_timeout);
		if (d->ev_fail)
			event_free(d->ev_fail);
		policy_unref(d->policy);
		free(d);
		return NULL;
	}
	return d;
}

static const char *describe_match(const struct policy_guest *g, char *buf, size_t len)
{
	if (g->match == POLICY_MATCH_DOMID)
		snprintf(buf, len, "domid %u", g->domid);
	else if (g->match == POLICY_MATCH_NAME)
		snprintf(buf, len, "name \"%s\"", g->name_glob);
	else
		snprintf(buf, len, "default");
	return buf;
}

static const char *dm_names(const struct policy_guest *g, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < g->n_dms && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", g->dms[i].name);
	return buf;
}

/* The checks Xen would otherwise fail on, done before anything is created. */
static int check_limits(const struct hv_domain_info *info, const struct policy_guest *g)
{
	if (g->n_dms > HV_MAX_SERVERS)
		return -E2BIG;
	if (info->nr_vcpus == 0 || info->nr_vcpus > DMP_MAX_VCPUS)
		return -E2BIG;
	return 0;
}

int attach_domain(struct broker *b, uint32_t domid, attach_done_fn done, void *opaque)
{
	char match[96], names[POLICY_MAX_DMS * (POLICY_NAME_MAX + 2)];
	struct hv_domain_info info;
	const struct policy_guest *g;
	struct bdomain *d = broker_find_domain(b, domid);
	struct timeval tv;
	int r;

	if (d)
		return d->state == BD_ATTACHING ? add_waiter(d, done, opaque) : -EALREADY;
	r = hv_domain_info(b->hv, domid, &info);
	if (r < 0)
		return r;
	if (info.shutdown || info.dying)
		return -ESRCH;
	g = policy_match(b->policy, domid, info.name);
	if (!g)
		return -ENOENT;
	r = check_limits(&info, g);
	if (r < 0)
		return r;
	d = domain_new(b, &info, b->policy, g);
	if (!d)
		return -ENOMEM;
	r = broker_add_domain(b, d);
	if (r < 0) {
		domain_teardown(d, false);
		return r;
	}
	d->attached_ns = util_now_ns();
	broker_event(b, "attach", d, NULL, "%u device models, %u vCPUs", d->n_dms, d->nr_vcpus);
	broker_event(b, "placement", d, NULL, "policy %s, guest entry %s: %s", b->cfg.policy_path,
	             describe_match(g, match, sizeof(match)), dm_names(g, names, sizeof(names)));
	for (unsigned i = 0; r == 0 && i < d->n_dms; i++)
		r = dm_prepare(&d->dms[i]);
	for (unsigned i = 0; r == 0 && i < d->n_dms; i++)
		r = dm_spawn(&d->dms[i]);
	if (r == 0)
		r = add_waiter(d, done, opaque);
	if (r < 0) {
		domain_teardown(d, false);
		return r;
	}
	(void)state_save_domain(d); /* what to undo if the broker dies before it completes */
	tv.tv_sec = b->cfg.ready_timeout_ms / 1000;
	tv.tv_usec = (b->cfg.ready_timeout_ms % 1000) * 1000;
	evtimer_add(d->ev_timeout, &tv);
	b->attaches++;
	return 0;
}

void attach_dm_ready(struct bdm *dm)
{
	struct bdomain *d = dm->dom;
	struct broker *b = d->b;
	int r;

	/* Failed already (a death, a detach): on_fail undoes it; serve nothing, unpause nothing. */
	if (d->fail_result)
		return;
	for (unsigned i = 0; i < d->n_dms; i++)
		if (d->dms[i].state != DM_READY)
			return;
	/* Everyone is ready: now, and only now, does the guest's I/O reach them. */
	for (unsigned i = 0; i < d->n_dms; i++) {
		r = dm_start_serving(&d->dms[i]);
		if (r < 0) {
			attach_fail(d, r, "device model %s could not be given its ports: %s",
			            d->dms[i].cfg->name, strerror(-r));
			return;
		}
	}
	evtimer_del(d->ev_timeout);
	d->state = BD_RUNNING;
	(void)state_save_domain(d);
	broker_event(b, "attached", d, NULL, "all ready %llu us after the attach began",
	             (unsigned long long)((util_now_ns() - d->attached_ns) / 1000));
	if (d->guest->unpause) {
		r = hv_domain_unpause(b->hv, d->domid);
		if (r < 0) {
			log_errno(r, "dom%u: unpause", d->domid);
			notify_waiters(d, r,
			               "device models ready, but the domain could not be unpaused");
			return;
		}
	}
	notify_waiters(d, 0, "attached");
}

void attach_dm_died(struct bdm *dm)
{
	char status[64];
	int st = dm->last_status;

	if ((st & 0x7f) == 0)
		snprintf(status, sizeof(status), "exited with status %d", (st >> 8) & 0xff);
	else
		snprintf(status, sizeof(status), "was killed by signal %d", st & 0x7f);
	attach_fail(dm->dom, -ECHILD, "device model %s %s before it was ready", dm->cfg->name,
	            status);
}

int detach_domain(struct broker *b, uint32_t domid)
{
	struct bdomain *d = broker_find_domain(b, domid);

	if (!d)
		return -ENOENT;
	if (d->state == BD_ATTACHING) {
		attach_fail(d, -ECANCELED, "detached while attaching");
		return 0;
	}
	d->state = BD_DETACHING;
	broker_event(b, "detach", d, NULL, "stopping %u device models", d->n_dms);
	domain_teardown(d, true);
	b->detaches++;
	return 0;
}
