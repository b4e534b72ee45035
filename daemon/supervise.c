/* SPDX-License-Identifier: MIT */
/*
 * When a running device model dies: disable its server first (the guest's
 * accesses to its ranges now read all ones instead of waiting on nobody),
 * answer whatever request it left in flight as Xen answers unclaimed I/O so
 * that no vCPU stays blocked, then do what its on_crash says: restart it
 * with backoff (the server and its bound ports are still there), pause or
 * destroy the domain, or leave it down.  Too many restarts within the
 * window turn into the policy's `then` action.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/broker-internal.h"
#include "daemon/state.h"

static void describe_status(int st, char *buf, size_t len)
{
	if (st < 0) {
		snprintf(buf, len, "exited (status unknown: adopted from a previous broker)");
		return;
	}
	if ((st & 0x7f) == 0)
		snprintf(buf, len, "exited with status %d", (st >> 8) & 0xff);
	else
		snprintf(buf, len, "killed by signal %d%s", st & 0x7f,
		         (st & 0x7f) == 31 ? " (seccomp)" : "");
}

static void apply_final(struct bdm *dm, enum policy_crash_action a)
{
	struct broker *b = dm->dom->b;
	int r = 0;

	dm->state = DM_FAILED;
	switch (a) {
	case POLICY_CRASH_PAUSE:
		r = hv_domain_pause(b->hv, dm->dom->domid);
		broker_event(b, "pause", dm->dom, dm,
		             "domain paused after the device model's crash");
		break;
	case POLICY_CRASH_DESTROY:
		r = hv_domain_destroy(b->hv, dm->dom->domid);
		broker_event(b, "destroy", dm->dom, dm,
		             "domain destroyed after the device model's crash");
		break;
	default:
		broker_event(b, "failed", dm->dom, dm, "left down; its ranges read as unclaimed");
		break;
	}
	(void)state_save_domain(dm->dom);
	if (r < 0)
		log_errno(r, "dom%u/%s: on_crash %s", dm->dom->domid, dm->cfg->name,
		          policy_crash_action_name(a));
}

/* Crashes within the window, counting this one. */
static unsigned crashes_in_window(struct bdm *dm, uint64_t now)
{
	uint64_t window = (uint64_t)dm->cfg->on_crash.window_s * 1000000000ull;
	unsigned n = 0;

	for (unsigned i = 0; i < dm->n_crashes; i++)
		if (now - dm->crash_ns[i] <= window)
			dm->crash_ns[n++] = dm->crash_ns[i];
	if (n < ARRAY_SIZE(dm->crash_ns))
		dm->crash_ns[n++] = now;
	dm->n_crashes = n;
	return n;
}

static unsigned backoff_ms(const struct bdm *dm, unsigned crashes)
{
	const struct policy_on_crash *oc = &dm->cfg->on_crash;
	uint64_t ms = oc->backoff_ms;

	for (unsigned i = 1; i < crashes && ms < oc->backoff_max_ms; i++)
		ms *= 2;
	return (unsigned)MIN(ms, (uint64_t)oc->backoff_max_ms);
}

static void on_restart_timer(evutil_socket_t fd, short what, void *arg)
{
	struct bdm *dm = arg;

	(void)fd, (void)what;
	if (dm->state == DM_HANDOFF) {
		/* Restarted but silent past the deadline: that is another crash. */
		log_warn("dom%u/%s: did not report ready after a restart", dm->dom->domid,
		         dm->cfg->name);
		dm_kill(dm);
		return;
	}
	if (dm->state != DM_RESTART_WAIT)
		return;
	if (supervise_restart_now(dm) < 0 && dm->pid <= 0) {
		/* Could not even start it: count it as another crash.  (One that started
		 * and was killed is counted when its exit is seen.) */
		dm->last_status = 127 << 8;
		supervise_dm_exited(dm);
	}
}

static int schedule_restart(struct bdm *dm, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (!dm->ev_timer)
		dm->ev_timer = evtimer_new(dm->dom->b->base, on_restart_timer, dm);
	if (!dm->ev_timer)
		return -ENOMEM;
	dm->state = DM_RESTART_WAIT;
	(void)state_save_domain(dm->dom);
	return evtimer_add(dm->ev_timer, &tv) < 0 ? -ENOMEM : 0;
}

void supervise_dm_exited(struct bdm *dm)
{
	struct broker *b = dm->dom->b;
	const struct policy_on_crash *oc = &dm->cfg->on_crash;
	char status[64];
	unsigned n;
	int released = 0;

	if (dm->state == DM_STOPPED || dm->state == DM_FAILED)
		return;
	b->crashes++;
	describe_status(dm->last_status, status, sizeof(status));
	/* Disable first, so that no new request goes to a server nobody serves. */
	if (dm->server_created)
		(void)hv_set_server_state(b->hv, dm->dom->domid, dm->server, false);
	if (dm->pages && dm->ports)
		released = hv_release_inflight(dm->pages, dm->ports);
	broker_event(b, "crash", dm->dom, dm, "%s; %d in-flight request%s answered as unclaimed",
	             status, released, released == 1 ? "" : "s");
	if (oc->action != POLICY_CRASH_RESTART) {
		apply_final(dm, oc->action);
		return;
	}
	n = crashes_in_window(dm, util_now_ns());
	if (n > oc->max_restarts) {
		broker_event(b, "crash-loop", dm->dom, dm, "%u crashes within %u s (limit %u)", n,
		             oc->window_s, oc->max_restarts);
		apply_final(dm, oc->then);
		return;
	}
	if (schedule_restart(dm, backoff_ms(dm, n)) < 0)
		apply_final(dm, oc->then);
}

int supervise_restart_now(struct bdm *dm)
{
	struct broker *b = dm->dom->b;
	int r;

	if (!dm->ev_timer)
		dm->ev_timer = evtimer_new(b->base, on_restart_timer, dm);
	if (dm->ev_timer)
		evtimer_del(dm->ev_timer);
	r = dm_spawn(dm);
	if (r < 0)
		return r;
	if (dm->ev_timer) {
		unsigned ms = b->cfg.ready_timeout_ms;
		struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
		evtimer_add(dm->ev_timer, &tv);
	}
	dm->restarts++;
	b->restarts++;
	broker_event(b, "restart", dm->dom, dm, "restart %u", dm->restarts);
	return 0;
}
