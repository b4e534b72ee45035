/* SPDX-License-Identifier: MIT */
/*
 * What a device model may say, and when.  Everything on this socket comes
 * from the untrusted side: each frame is checked against a table of
 * {type, states it is allowed in, exact size, fds}; anything else - an
 * unknown or untimely type, a wrong size, an fd, garbage, a flood - gets the
 * device model killed, and the broker carries on.  DM-op requests are
 * checked against the device model's own policy before the broker issues
 * the hypercall on its behalf.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/broker-internal.h"
#include "daemon/state.h"
#include "ipc/frame.h"

struct dmchan_rule {
	uint16_t type;
	unsigned states; /* bit per enum dm_state */
	size_t len;
	int (*handler)(struct bdm *dm, const struct frame *f);
};

#define IN(s) (1u << (s))

static struct frame frame; /* one device model is handled at a time */

static void violation(struct bdm *dm, const char *why)
{
	log_warn("dom%u/%s: protocol violation (%s): killing pid %d", dm->dom->domid, dm->cfg->name,
	         why, dm->pid);
	broker_event(dm->dom->b, "violation", dm->dom, dm, "%s", why);
	/* Stop listening at once; the pidfd tells us when it is gone. */
	if (dm->ev_sock)
		event_del(dm->ev_sock);
	dm_kill(dm);
}

static int reply(struct bdm *dm, uint32_t id, int result)
{
	struct dmp_dmop_reply rep = {.result = result};

	return frame_send(dm->sock, DMP_DMOP_REPLY, id, &rep, sizeof(rep), NULL, 0);
}

/* ---- DM-op checks ------------------------------------------------------- */

static bool owns_pci(const struct bdm *dm, uint32_t sbdf)
{
	for (unsigned i = 0; i < dm->claims.n[DMP_CLAIM_PCI]; i++)
		if (dm->claims.r[DMP_CLAIM_PCI][i].start == sbdf)
			return true;
	return false;
}

static bool ranges_overlap(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 <= b1 && b0 <= a1;
}

/* Does [s, e] overlap an MMIO claim of any device model of the domain (skipping one claim)? */
static bool mmio_taken(const struct bdomain *d, uint64_t s, uint64_t e, const struct bdm *self,
                       unsigned skip)
{
	for (unsigned i = 0; i < d->n_dms; i++) {
		const struct bdm *o = &d->dms[i];
		for (unsigned k = 0; k < o->claims.n[DMP_CLAIM_MMIO]; k++) {
			const struct dmp_range *r = &o->claims.r[DMP_CLAIM_MMIO][k];
			if (o == self && k == skip)
				continue;
			if (ranges_overlap(s, e, r->start, r->end))
				return true;
		}
	}
	return false;
}

static int find_mmio(const struct bdm *dm, uint64_t start, uint64_t end)
{
	for (unsigned k = 0; k < dm->claims.n[DMP_CLAIM_MMIO]; k++)
		if (dm->claims.r[DMP_CLAIM_MMIO][k].start == start &&
		    dm->claims.r[DMP_CLAIM_MMIO][k].end == end)
			return (int)k;
	return -1;
}

/*
 * A BAR move: only for a device the DM owns, from a range it holds now, to
 * a naturally aligned range of the same power-of-two size inside the guest's
 * PCI hole that no device model of the domain claims.
 */
static int check_bar_move(const struct bdm *dm, const struct dmp_dmop *op, int *ret_idx)
{
	const struct policy_guest *g = dm->dom->guest;
	uint64_t o = op->u.bar.old_base, n = op->u.bar.new_base, sz = op->u.bar.size;
	int idx;

	if (!owns_pci(dm, op->u.bar.sbdf) || op->u.bar.bar > 5)
		return -EPERM;
	if (sz < 16 || (sz & (sz - 1)) || (n & (sz - 1)) || o + sz - 1 < o || n + sz - 1 < n)
		return -EINVAL;
	idx = find_mmio(dm, o, o + sz - 1);
	if (idx < 0)
		return -EPERM; /* not a range it holds */
	if (n < g->pci_hole_start || n + sz - 1 > g->pci_hole_end)
		return -ERANGE;
	if (mmio_taken(dm->dom, n, n + sz - 1, dm, (unsigned)idx))
		return -EEXIST;
	*ret_idx = idx;
	return 0;
}

static int do_bar_move(struct bdm *dm, const struct dmp_dmop *op)
{
	struct hv *hv = dm->dom->b->hv;
	uint64_t o = op->u.bar.old_base, n = op->u.bar.new_base, sz = op->u.bar.size;
	uint32_t domid = dm->dom->domid;
	int idx, r;

	r = check_bar_move(dm, op, &idx);
	if (r < 0)
		return r;
	if (o == n)
		return 0;
	r = hv_unmap_range(hv, domid, dm->server, HV_RANGE_MMIO, o, o + sz - 1);
	if (r < 0)
		return r;
	r = hv_map_range(hv, domid, dm->server, HV_RANGE_MMIO, n, n + sz - 1);
	if (r < 0) {
		/* Put the old range back so the device keeps working where it was. */
		(void)hv_map_range(hv, domid, dm->server, HV_RANGE_MMIO, o, o + sz - 1);
		return r;
	}
	dm->claims.r[DMP_CLAIM_MMIO][idx].start = n;
	dm->claims.r[DMP_CLAIM_MMIO][idx].end = n + sz - 1;
	state_save_domain_soon(dm->dom);
	return 0;
}

static bool irq_allowed(const struct bdm *dm, uint32_t irq)
{
	for (unsigned i = 0; i < dm->cfg->n_irqs; i++)
		if (dm->cfg->irqs[i] == irq)
			return true;
	return false;
}

/*
 * What a PCI function's MSI may carry: a vector of 16 or above (Xen takes
 * vector 0 as a PIRQ number in the address, and 0-15 are the CPU's
 * exceptions), delivery fixed or lowest priority (not SMI, NMI, INIT or
 * ExtINT), and nothing above the 16 bits the PCI spec defines.
 */
static bool msi_data_ok(uint32_t data)
{
	unsigned vector = data & 0xff, delivery = data >> 8 & 7;

	return vector >= 16 && delivery <= 1 && (data >> 16) == 0;
}

/* DMP_DMOP_* by number, for the audit records; 0 stands for any unknown one. */
static const char *const dmop_names[DM_AUDIT_KEYS / 2] = {"unknown", "isa-irq", "pci-intx", "msi",
                                                          "bar-move"};

static unsigned dmop_index(const struct dmp_dmop *op)
{
	return op->op < ARRAY_SIZE(dmop_names) ? op->op : 0;
}

static int mediate(struct bdm *dm, const struct dmp_dmop *op)
{
	struct hv *hv = dm->dom->b->hv;
	uint32_t domid = dm->dom->domid;

	switch (op->op) {
	case DMP_DMOP_ISA_IRQ:
		if (op->u.isa_irq.irq > 15 || op->u.isa_irq.level > 1)
			return -EINVAL;
		if (!irq_allowed(dm, op->u.isa_irq.irq))
			return -EPERM;
		return hv_set_isa_irq_level(hv, domid, (uint8_t)op->u.isa_irq.irq,
		                            op->u.isa_irq.level);
	case DMP_DMOP_PCI_INTX:
		if (op->u.pci_intx.pin > 3 || op->u.pci_intx.level > 1)
			return -EINVAL;
		if (!owns_pci(dm, op->u.pci_intx.sbdf))
			return -EPERM;
		return hv_set_pci_intx_level(hv, domid, op->u.pci_intx.sbdf,
		                             (uint8_t)op->u.pci_intx.pin, op->u.pci_intx.level);
	case DMP_DMOP_MSI:
		/* Only PCI functions signal MSIs, and only to the local APIC window. */
		if (!dm->claims.n[DMP_CLAIM_PCI])
			return -EPERM;
		if ((op->u.msi.addr & ~0xfffffull) != 0xfee00000ull || !msi_data_ok(op->u.msi.data))
			return -EINVAL;
		return hv_inject_msi(hv, domid, op->u.msi.addr, op->u.msi.data);
	case DMP_DMOP_BAR_MOVE:
		return do_bar_move(dm, op);
	}
	return -EOPNOTSUPP;
}

/* ---- handlers ---------------------------------------------------------- */

static int on_ready(struct bdm *dm, const struct frame *f)
{
	(void)f;
	metrics_observe(&dm->dom->b->handoff_hist, util_now_ns() - dm->started_ns);
	dm->state = DM_READY;
	if (dm->ev_timer)
		event_del(dm->ev_timer);
	if (dm->dom->state == BD_ATTACHING) {
		attach_dm_ready(dm);
		return 0;
	}
	/* A restarted device model: its server and ports are waiting for it. */
	if (dm_start_serving(dm) < 0)
		dm_kill(dm);
	return 0;
}

void dmchan_flush_audit(struct bdm *dm, uint64_t now)
{
	if (now - dm->audit_window_ns < 1000000000ull)
		return;
	for (unsigned k = 0; k < DM_AUDIT_KEYS; k++) {
		if (dm->audit_held[k])
			broker_event(
			        dm->dom->b, "audit", dm->dom, dm,
			        "dm-op %s %s %u more times in the second (over %u a second are "
			        "counted, not listed)",
			        dmop_names[k / 2], k % 2 ? "refused" : "granted", dm->audit_held[k],
			        DM_AUDIT_PER_SEC);
		dm->audit_held[k] = 0;
		dm->audit_listed[k] = 0;
	}
	dm->audit_window_ns = now;
}

/* The audit record of a hypercall made (or refused) on a device model's behalf. */
static void audit_dmop(struct bdm *dm, const struct dmp_dmop *op, int r)
{
	const char *what = dmop_names[dmop_index(op)];
	unsigned k = dmop_index(op) * 2 + (r < 0);

	dmchan_flush_audit(dm, util_now_ns());
	if (dm->audit_listed[k] >= DM_AUDIT_PER_SEC) {
		dm->audit_held[k]++;
		return;
	}
	dm->audit_listed[k]++;
	if (r < 0)
		broker_event(dm->dom->b, "audit", dm->dom, dm, "dm-op %s refused: %s", what,
		             strerror(-r));
	else
		broker_event(dm->dom->b, "audit", dm->dom, dm, "dm-op %s granted", what);
}

static int on_dmop(struct bdm *dm, const struct frame *f)
{
	struct dmp_dmop op;
	int r;

	if (frame_get(f, &op, sizeof(op)) < 0)
		return -EBADMSG;
	r = mediate(dm, &op);
	if (r < 0)
		dm->dmops_refused++;
	else
		dm->dmops_granted++;
	audit_dmop(dm, &op, r);
	return reply(dm, f->hdr.id, r < 0 ? r : 0) < 0 ? -EPIPE : 0;
}

static int on_stats(struct bdm *dm, const struct frame *f)
{
	dm->stats_pending = false;
	return frame_get(f, &dm->stats, sizeof(dm->stats));
}

static const struct dmchan_rule rules[] = {
        {DMP_READY, IN(DM_HANDOFF), 0, on_ready},
        {DMP_DMOP, IN(DM_RUNNING), sizeof(struct dmp_dmop), on_dmop},
        {DMP_STATS, IN(DM_RUNNING), sizeof(struct dmp_stats), on_stats},
};

static const struct dmchan_rule *rule_for(const struct bdm *dm, uint16_t type)
{
	for (unsigned i = 0; i < ARRAY_SIZE(rules); i++)
		if (rules[i].type == type && (rules[i].states & IN(dm->state)))
			return &rules[i];
	return NULL;
}

static bool process_exited(const struct bdm *dm)
{
	struct pollfd pfd = {.fd = dm->pidfd, .events = POLLIN};

	return dm->pidfd < 0 || poll(&pfd, 1, 0) > 0;
}

/* A device model may not talk faster than this; a flood is an attack on the broker. */
static bool rate_ok(struct bdm *dm)
{
	uint64_t now = util_now_ns();

	if (now - dm->rate_window_ns > 1000000000ull) {
		dm->rate_window_ns = now;
		dm->rate_count = 0;
	}
	return ++dm->rate_count <= DM_MSG_RATE_MAX;
}

void dmchan_readable(struct bdm *dm)
{
	for (unsigned n = 0; n < DM_MSG_BURST && dm->sock >= 0; n++) {
		const struct dmchan_rule *rule;
		int r = frame_recv(dm->sock, &frame, sizeof(frame.payload), 0);

		if (r == -EAGAIN)
			return;
		if (r == -ECONNRESET) {
			/* Exiting (the pidfd will tell us), or it closed its end while alive. */
			if (!process_exited(dm)) {
				violation(dm, "closed its channel");
				return;
			}
			if (dm->ev_sock)
				event_del(dm->ev_sock);
			return;
		}
		if (r < 0) {
			violation(dm, r == -EBADMSG ? "malformed frame" : "receive error");
			return;
		}
		if (!rate_ok(dm)) {
			violation(dm, "message flood");
			return;
		}
		rule = rule_for(dm, frame.hdr.type);
		if (!rule) {
			violation(dm, "message type not allowed in this state");
			return;
		}
		if (frame.hdr.len != rule->len) {
			violation(dm, "wrong message size");
			return;
		}
		r = rule->handler(dm, &frame);
		if (r < 0) {
			violation(dm, "bad message");
			return;
		}
	}
}

int dmchan_request_stats(struct bdm *dm)
{
	int r;

	if (dm->state != DM_RUNNING || dm->sock < 0)
		return -ENOTCONN;
	if (dm->stats_pending)
		return -EBUSY;
	r = frame_send(dm->sock, DMP_STATS_REQ, ++dm->next_req_id, NULL, 0, NULL, 0);
	if (r == 0)
		dm->stats_pending = true;
	return r;
}
