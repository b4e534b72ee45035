/* SPDX-License-Identifier: MIT */
/*
 * The broker's device-model side (daemon/dmchan.c, and what it drives in
 * dm.c, attach.c and supervise.c) against a hostile device model.
 *
 * Each input attaches a guest for real (attach_domain(): policy match,
 * servers, claims, pages, handoff) on a fake hypervisor (fakehv.c) with fake
 * processes: every device model's end of its SOCK_SEQPACKET channel, and of
 * its stdout/stderr, is held by this test, which then writes the input to
 * them as datagrams (at most 143 bytes of input each, as in systemd's
 * fuzz-varlink; some with valid headers, some crafted frames, some
 * structured DM-op requests aimed at the policy's edges) and runs the
 * broker's event loop.  The device model's "pidfd" is an eventfd, and
 * pidfd_send_signal() never reaches the kernel: it makes that eventfd
 * readable, as SIGKILL would make a real pidfd (fakehv.c), so the broker's
 * own exit handling, restarts and teardown run.
 *
 * Checked on every hypervisor call (the hook below), independently of
 * dmchan.c's own checks: an interrupt, MSI or BAR move is issued only while
 * handling a well-formed DMP_DMOP of that kind from a running device model
 * that was not killed, only for an IRQ in its "irqs", a PCI device it
 * claims, the LAPIC window, or (BAR moves) from a range it holds to an
 * aligned power-of-two range inside the guest's PCI hole that no server of
 * the domain has mapped; a server is enabled and ports bound only on READY
 * once every device model of an attaching guest is ready; servers are
 * created and pages opened only by attach; the domain is unpaused only as
 * the policy says, paused or destroyed only as on_crash says.
 * Checked on every frame the broker sends: well-formed, of a broker type,
 * of its exact size, fds only with PORTS.
 * Checked after every input: the domain torn down leaves no server, page,
 * port, fd, event or child behind.
 *
 * Input (tests/fuzz/mkseeds.py writes seeds in it):
 *   [setup]  bit 0: guest dom9 (one device model "solo") instead of dom5 ("uart",
 *            "pcitest"); bits 1-2: 0 attaching, 1 dom5's first device model ready,
 *            2 running, 3 running with the first device model restarted; bit 3: read
 *            what the broker sends; bit 4: start close to the rate limit; bit 5: after
 *            the setup, device models must report ready at once (a 0 ms deadline)
 *   [n]      n & 31 fault bytes follow: each hypervisor call takes one, >= 0x80 fails it
 *   records  [o]: device model o >> 7; (o & 0x38) == 0x38: do not run the loop after it;
 *            o & 7: 0 raw bytes, 1 valid header + raw payload, 2 a frame of a known
 *            type, 3 and 7 a structured DM-op, 4 any header, 5 special (death, close,
 *            stray fd, oversized, empty, log output, detach/attach, scribble on the
 *            ioreq page, ...), 6 the last datagram again, up to 40 times
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/broker-internal.h"
#include "ipc/frame.h"
#include "tests/fuzz/fakehv.h"
#include "tests/fuzz/input.h"

#define CHUNK_MAX   143 /* bytes of input per datagram, as systemd's fuzz-varlink */
#define PUMP_ROUNDS 12
#define DOM_A       5 /* two device models, a PCI hole of its own, unpause */
#define DOM_B       9 /* the default guest: one device model */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int __real_frame_recv(int sock, struct frame *f, size_t max_len, unsigned max_fds);
int __wrap_frame_recv(int sock, struct frame *f, size_t max_len, unsigned max_fds);
void __real_dmchan_readable(struct bdm *dm);
void __wrap_dmchan_readable(struct bdm *dm);

/* @USER@ becomes a user that exists and is not root (pick_user() looks it up). */
static const char policy_text[] =
        "{\"version\": 1, \"guests\": [\n"
        " {\"match\": {\"domid\": 5}, \"pci_hole\": \"0xe0000000-0xefffffff\", \"unpause\": true,\n"
        "  \"device_models\": [\n"
        "   {\"name\": \"uart\", \"exec\": \"/proc/self/exe\", \"claims\": {\"ports\": "
        "[\"0x3f8-0x3ff\"]},\n"
        "    \"irqs\": [4], \"sandbox\": {\"user\": \"@USER@\"},\n"
        "    \"on_crash\": {\"action\": \"restart\", \"max_restarts\": 2, \"backoff_ms\": 0,\n"
        "                 \"backoff_max_ms\": 0, \"then\": \"pause\"}},\n"
        "   {\"name\": \"pcitest\", \"exec\": \"/proc/self/exe\", \"bufioreq\": \"atomic\",\n"
        "    \"claims\": {\"pci\": [\"00:03.0\", \"00:04.0\"],\n"
        "               \"mmio\": [\"0xe0000000-0xe0000fff\", \"0xe0010000-0xe001000f\",\n"
        "                        \"0xfed00000-0xfed003ff\"]},\n"
        "    \"irqs\": [5, 10], \"sandbox\": {\"user\": \"@USER@\"},\n"
        "    \"on_crash\": {\"action\": \"destroy\"}}]},\n"
        " {\"match\": {\"default\": true},\n"
        "  \"device_models\": [\n"
        "   {\"name\": \"solo\", \"exec\": \"/proc/self/exe\",\n"
        "    \"claims\": {\"pci\": [\"00:05.0\"], \"ports\": [\"0x60-0x64\"],\n"
        "               \"mmio\": [\"0xf0000000-0xf00fffff\", \"0xa0000-0xbffff\"]},\n"
        "    \"irqs\": [1, 12], \"sandbox\": {\"user\": \"@USER@\"},\n"
        "    \"on_crash\": {\"action\": \"restart\", \"max_restarts\": 1, \"backoff_ms\": 0,\n"
        "                 \"backoff_max_ms\": 0, \"then\": \"fail\"}}]}]}\n";

static struct broker *b;
static struct fake_hv fhv;
static uint32_t cur_domid;
static bool draining;
static struct frame rx; /* frames the broker sends, as a device model receives them */

enum phase { PH_IDLE, PH_ATTACH, PH_RUN, PH_TEARDOWN };
static enum phase phase;

/* ---- what the broker is doing right now ------------------------------------ */

static struct bdm *in_dmchan; /* inside dmchan_readable() for this device model */
static struct {
	bool valid; /* a frame was received and passed frame_recv() */
	struct bdm *dm;
	enum dm_state state; /* the device model's state when it was received */
	struct frame_hdr hdr;
	bool is_dmop;
	struct dmp_dmop op;
	bool unmapped_old, tried_new, new_failed;
} cur;

/* Device models the broker killed: it must not act on their behalf any more. */
struct killed_dm {
	const struct bdm *dm;
	unsigned long gen; /* which launch of it */
};
static struct killed_dm killed[16];
static unsigned n_killed;
static bool hold; /* this record does not run the loop: events pile up and race */

/* broker_find_domain(), but stopping once every attached domain was seen (it is called a lot). */
static struct bdomain *domain(void)
{
	for (unsigned i = 0, seen = 0; i < BROKER_MAX_DOMAINS && seen < b->n_domains; i++)
		if (b->dom[i] && ++seen && b->dom[i]->domid == cur_domid)
			return b->dom[i];
	return NULL;
}

static unsigned long gen_of(const struct bdm *dm)
{
	const struct fake_child *c = fake_child_find(dm->cfg->name);

	return c ? c->gen : 0;
}

static bool was_killed(const struct bdm *dm)
{
	for (unsigned i = 0; i < n_killed; i++)
		if (killed[i].dm == dm && killed[i].gen == gen_of(dm))
			return true;
	return false;
}

void __wrap_dmchan_readable(struct bdm *dm)
{
	FUZZ_CHECK(!in_dmchan && dm->dom == domain());
	in_dmchan = dm;
	cur.valid = false;
	__real_dmchan_readable(dm);
	in_dmchan = NULL;
	cur.valid = false;
}

int __wrap_frame_recv(int sock, struct frame *f, size_t max_len, unsigned max_fds)
{
	int r = __real_frame_recv(sock, f, max_len, max_fds);

	if (!in_dmchan)
		return r;
	/* Only the device model's own channel, and it may never pass an fd. */
	FUZZ_CHECK(sock == in_dmchan->sock && max_fds == 0);
	memset(&cur, 0, sizeof(cur));
	cur.valid = r == 0;
	cur.dm = in_dmchan;
	cur.state = in_dmchan->state;
	if (r == 0) {
		cur.hdr = f->hdr;
		cur.is_dmop = f->hdr.type == DMP_DMOP && f->hdr.len == sizeof(struct dmp_dmop);
		if (cur.is_dmop)
			memcpy(&cur.op, f->payload, sizeof(cur.op));
	}
	return r;
}

/* The broker SIGKILLed a device model (fakehv.c turned it into an eventfd write). */
static void on_kill(int pidfd)
{
	struct bdomain *d = domain();
	struct bdm *dm = NULL;

	for (unsigned i = 0; d && i < d->n_dms; i++)
		if (d->dms[i].pidfd == pidfd)
			dm = &d->dms[i];
	FUZZ_CHECK(dm); /* only device models of the domain under test */
	if (n_killed < ARRAY_SIZE(killed))
		killed[n_killed++] = (struct killed_dm){dm, gen_of(dm)};
}

/* ---- the policy oracle ------------------------------------------------------ */

static bool cfg_owns_pci(const struct policy_dm *c, uint32_t sbdf)
{
	for (unsigned i = 0; i < c->n_claims[DMP_CLAIM_PCI]; i++)
		if (c->claims[DMP_CLAIM_PCI][i].start == sbdf)
			return true;
	return false;
}

static bool cfg_has_irq(const struct policy_dm *c, uint32_t irq)
{
	for (unsigned i = 0; i < c->n_irqs; i++)
		if (c->irqs[i] == irq)
			return true;
	return false;
}

/* A DM-op of this kind from a running, not killed device model, on whose behalf the call is. */
static const struct dmp_dmop *dmop(uint32_t kind)
{
	FUZZ_CHECK(phase == PH_RUN && in_dmchan && cur.valid && cur.dm == in_dmchan);
	FUZZ_CHECK(cur.is_dmop && cur.op.op == kind && cur.state == DM_RUNNING);
	FUZZ_CHECK(!was_killed(cur.dm));
	return &cur.op;
}

/* Is [s, e] free of every MMIO range mapped on the domain's servers (but skip on server id)? */
static bool mmio_free(const struct fake_domain *fd, uint64_t s, uint64_t e, uint16_t id,
                      uint64_t skip_s, uint64_t skip_e)
{
	for (uint16_t k = 0; k < HV_MAX_SERVERS; k++) {
		const struct fake_rangeset *rs = &fd->srv[k].rs[HV_RANGE_MMIO];

		if (!fd->srv[k].used)
			continue;
		for (unsigned i = 0; i < rs->n; i++) {
			if (k == id && rs->r[i].start == skip_s && rs->r[i].end == skip_e)
				continue;
			if (s <= rs->r[i].end && rs->r[i].start <= e)
				return false;
		}
	}
	return true;
}

static void check_bar_move(const struct fake_call *c)
{
	const struct dmp_dmop *op = dmop(DMP_DMOP_BAR_MOVE);
	const struct bdm *dm = cur.dm;
	const struct policy_guest *g = dm->dom->guest;
	uint64_t sz = op->u.bar.size, o = op->u.bar.old_base, n = op->u.bar.new_base;
	const struct fake_domain *fd = fake_hv_domain(&fhv, c->domid);

	FUZZ_CHECK(c->type == HV_RANGE_MMIO && c->id == dm->server && fd);
	FUZZ_CHECK(cfg_owns_pci(dm->cfg, op->u.bar.sbdf) && op->u.bar.bar <= 5);
	FUZZ_CHECK(sz >= 16 && !(sz & (sz - 1)) && !(n & (sz - 1)) && o != n);
	FUZZ_CHECK(o + sz - 1 >= o && n + sz - 1 >= n);
	FUZZ_CHECK(n >= g->pci_hole_start && n + sz - 1 <= g->pci_hole_end);
	if (c->op == FOP_UNMAP) {
		FUZZ_CHECK(!cur.unmapped_old && c->start == o && c->end == o + sz - 1);
		FUZZ_CHECK(mmio_free(fd, n, n + sz - 1, dm->server, o, o + sz - 1));
		return;
	}
	FUZZ_CHECK(cur.unmapped_old);
	if (c->start == n && c->end == n + sz - 1) {
		FUZZ_CHECK(!cur.tried_new && mmio_free(fd, n, n + sz - 1, 0xffff, 0, 0));
		return;
	}
	/* Putting the old range back after the new one failed. */
	FUZZ_CHECK(cur.tried_new && cur.new_failed && c->start == o && c->end == o + sz - 1);
}

/* Enabling a server or binding its ports: only on READY, and only once everyone is ready. */
static void check_start_serving(const struct fake_call *c)
{
	const struct bdomain *d = domain();
	const struct bdm *owner = NULL;

	FUZZ_CHECK(phase == PH_RUN && in_dmchan && cur.valid && d);
	FUZZ_CHECK(cur.hdr.type == DMP_READY && cur.state == DM_HANDOFF && !was_killed(cur.dm));
	FUZZ_CHECK(!d->fail_result); /* an attach that failed serves nothing */
	for (unsigned i = 0; i < d->n_dms; i++)
		if (d->dms[i].server_created && d->dms[i].server == c->id)
			owner = &d->dms[i];
	FUZZ_CHECK(owner && owner->state == DM_READY && owner->pidfd >= 0);
	if (d->state == BD_ATTACHING)
		for (unsigned i = 0; i < d->n_dms; i++)
			FUZZ_CHECK(d->dms[i].state == DM_READY || d->dms[i].state == DM_RUNNING);
	else
		FUZZ_CHECK(owner == cur.dm); /* a restarted device model: only its own */
	if (c->op == FOP_PORTS_BIND)
		FUZZ_CHECK(!owner->ports);
}

/* Pause or destroy: only as the on_crash of a device model that just failed says. */
static void check_final(enum policy_crash_action want)
{
	const struct bdomain *d = domain();
	bool ok = false;

	FUZZ_CHECK(phase == PH_RUN && !in_dmchan && d);
	for (unsigned i = 0; i < d->n_dms; i++) {
		const struct policy_on_crash *oc = &d->dms[i].cfg->on_crash;

		if (d->dms[i].state == DM_FAILED &&
		    (oc->action == want ||
		     (oc->action == POLICY_CRASH_RESTART && oc->then == want)))
			ok = true;
	}
	FUZZ_CHECK(ok);
}

static void hook(const struct fake_call *c)
{
	const struct bdomain *d = domain();

	FUZZ_CHECK(phase != PH_IDLE && c->domid == cur_domid);
	switch (c->op) {
	case FOP_CREATE_SERVER:
	case FOP_PAGES_OPEN:
		FUZZ_CHECK(phase == PH_ATTACH);
		break;
	case FOP_MAP:
	case FOP_UNMAP:
		if (phase != PH_ATTACH)
			check_bar_move(c);
		break;
	case FOP_ISA_IRQ: {
		const struct dmp_dmop *op = dmop(DMP_DMOP_ISA_IRQ);

		FUZZ_CHECK(c->irq == op->u.isa_irq.irq && c->irq <= 15 &&
		           cfg_has_irq(cur.dm->cfg, c->irq));
		FUZZ_CHECK(c->level == op->u.isa_irq.level && c->level <= 1);
		break;
	}
	case FOP_PCI_INTX: {
		const struct dmp_dmop *op = dmop(DMP_DMOP_PCI_INTX);

		FUZZ_CHECK(c->sbdf == op->u.pci_intx.sbdf && cfg_owns_pci(cur.dm->cfg, c->sbdf));
		FUZZ_CHECK(c->pin == op->u.pci_intx.pin && c->pin <= 3);
		FUZZ_CHECK(c->level == op->u.pci_intx.level && c->level <= 1);
		break;
	}
	case FOP_MSI: {
		const struct dmp_dmop *op = dmop(DMP_DMOP_MSI);

		FUZZ_CHECK(cur.dm->cfg->n_claims[DMP_CLAIM_PCI] > 0);
		FUZZ_CHECK(c->start == op->u.msi.addr && c->data == op->u.msi.data);
		FUZZ_CHECK((c->start & ~0xfffffull) == 0xfee00000ull);
		break;
	}
	case FOP_SERVER_STATE:
		if (c->level)
			check_start_serving(c);
		else
			FUZZ_CHECK(
			        !in_dmchan); /* disabled on a death or a stop, never on a frame */
		break;
	case FOP_PORTS_BIND:
		check_start_serving(c);
		break;
	case FOP_DOMAIN_UNPAUSE:
		FUZZ_CHECK(phase == PH_RUN && in_dmchan && cur.valid && cur.hdr.type == DMP_READY);
		FUZZ_CHECK(d && d->guest->unpause && !d->fail_result);
		for (unsigned i = 0; i < d->n_dms; i++)
			FUZZ_CHECK(d->dms[i].state == DM_RUNNING);
		break;
	case FOP_DOMAIN_PAUSE:
		check_final(POLICY_CRASH_PAUSE);
		break;
	case FOP_DOMAIN_DESTROY:
		check_final(POLICY_CRASH_DESTROY);
		break;
	case FOP_DESTROY_SERVER:
		FUZZ_CHECK(!in_dmchan);
		break;
	default:
		__builtin_trap(); /* shutdown: never the broker's business here */
	}
}

static void after(const struct fake_call *c, int result)
{
	if (!in_dmchan || !cur.is_dmop || cur.op.op != DMP_DMOP_BAR_MOVE)
		return;
	if (c->op == FOP_UNMAP && result == 0)
		cur.unmapped_old = true;
	if (c->op == FOP_MAP && c->start == cur.op.u.bar.new_base) {
		cur.tried_new = true;
		cur.new_failed = result < 0;
	}
}

/* ---- the device models' side ------------------------------------------------ */

static struct bdm *dm_of(const char *name)
{
	struct bdomain *d = domain();

	for (unsigned i = 0; d && i < d->n_dms; i++)
		if (!strcmp(d->dms[i].cfg->name, name))
			return &d->dms[i];
	return NULL;
}

/* Every frame the broker sends is well-formed and of a broker-to-DM type. */
static void check_rx(const struct bdm *dm)
{
	switch (rx.hdr.type) {
	case DMP_HELLO: {
		struct dmp_hello h;

		FUZZ_CHECK(frame_get(&rx, &h, sizeof(h)) == 0 && rx.nfds == 0);
		FUZZ_CHECK(!dm ||
		           (h.domid == cur_domid && h.server_id == dm->server &&
		            h.nr_vcpus == dm->dom->nr_vcpus && !strcmp(h.name, dm->cfg->name) &&
		            h.bufioreq == dm->cfg->bufioreq));
		break;
	}
	case DMP_CLAIMS: {
		static struct dmp_claims m;

		FUZZ_CHECK(frame_get(&rx, &m, sizeof(m)) == 0 && rx.nfds == 0);
		FUZZ_CHECK(m.kind < DMP_CLAIM_KINDS && m.n <= DMP_MAX_RANGES);
		FUZZ_CHECK(!dm || m.n == dm->claims.n[m.kind]);
		break;
	}
	case DMP_PAGES: {
		struct dmp_pages p;

		FUZZ_CHECK(frame_get(&rx, &p, sizeof(p)) == 0);
		FUZZ_CHECK(p.domid == cur_domid && (!dm || p.server_id == dm->server));
		break;
	}
	case DMP_PORTS: {
		struct dmp_ports p;

		FUZZ_CHECK(frame_get(&rx, &p, sizeof(p)) == 0 && rx.nfds == 1);
		FUZZ_CHECK(!dm || p.nr_vcpus == dm->dom->nr_vcpus);
		break;
	}
	case DMP_DMOP_REPLY: {
		struct dmp_dmop_reply rep;

		FUZZ_CHECK(frame_get(&rx, &rep, sizeof(rep)) == 0 && rx.nfds == 0);
		FUZZ_CHECK(rep.result <= 0 && rep.result > -4096 && rep.reserved == 0);
		break;
	}
	case DMP_KEEP: {
		struct dmp_keep k;

		FUZZ_CHECK(frame_get(&rx, &k, sizeof(k)) == 0 && k.nfds == rx.nfds);
		FUZZ_CHECK(rx.nfds >= 3 && rx.nfds <= 4);
		break;
	}
	case DMP_STATS_REQ:
	case DMP_SHUTDOWN:
		FUZZ_CHECK(rx.hdr.len == 0 && rx.nfds == 0);
		break;
	default:
		__builtin_trap();
	}
	frame_release(&rx);
}

static void drain_child(struct fake_child *c)
{
	for (unsigned n = 0; c->used && c->chan >= 0 && n < 256; n++) {
		int r = __real_frame_recv(c->chan, &rx, sizeof(rx.payload), FRAME_MAX_FDS);

		if (r == -EAGAIN || r == -ECONNRESET)
			return;
		FUZZ_CHECK(r == 0);
		check_rx(dm_of(c->name));
	}
}

/* New children (attach or restart): the test's ends never block. */
static void adopt_children(void)
{
	for (unsigned i = 0; i < FAKE_MAX_CHILDREN; i++) {
		struct fake_child *c = &fake_children[i];

		if (!c->used || c->adopted)
			continue;
		(void)util_set_nonblock(c->chan, true);
		(void)util_set_nonblock(c->out, true);
		(void)util_set_nonblock(c->err, true);
		c->adopted = true;
	}
}

static void drain_all(void)
{
	adopt_children();
	for (unsigned i = 0; i < FAKE_MAX_CHILDREN; i++)
		drain_child(&fake_children[i]);
}

static bool sock_pending(void)
{
	struct bdomain *d = domain();

	for (unsigned i = 0; d && i < d->n_dms; i++) {
		struct pollfd p = {.fd = d->dms[i].sock, .events = POLLIN};

		if (d->dms[i].sock >= 0 && d->dms[i].ev_sock &&
		    event_pending(d->dms[i].ev_sock, EV_READ, NULL) && poll(&p, 1, 0) > 0)
			return true;
	}
	return false;
}

static unsigned long spawns; /* fake_spawns when the test last looked */

static void pump(void)
{
	for (unsigned i = 0; i < PUMP_ROUNDS; i++) {
		event_base_loop(b->base, EVLOOP_NONBLOCK);
		if (fake_spawns != spawns || draining) {
			/* A new device model's handoff is always read, as a real one would. */
			drain_all();
			spawns = fake_spawns;
		}
		if (!sock_pending() && !event_base_get_num_events(b->base, EVENT_BASE_COUNT_ACTIVE))
			break;
	}
}

static struct fake_child *child_for(unsigned idx)
{
	struct bdomain *d = domain();

	if (!d || !d->n_dms)
		return NULL;
	return fake_child_find(d->dms[idx % d->n_dms].cfg->name);
}

static void send_dgram(struct fake_child *c, const void *buf, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	if (!c || c->chan < 0)
		return;
	if (fd >= 0) {
		struct cmsghdr *h;

		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		h = CMSG_FIRSTHDR(&msg);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &fd, sizeof(int));
	}
	for (unsigned tries = 0; tries < 3; tries++) {
		if (sendmsg(c->chan, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0 || errno != EAGAIN)
			break;
		pump();
	}
	if (!hold)
		pump();
}

static size_t frame_bytes(uint8_t *buf, uint16_t type, uint32_t id, size_t plen,
                          struct fuzz_input *in)
{
	struct frame_hdr h = {
	        .version = FRAME_VERSION, .type = type, .len = (uint32_t)plen, .id = id};

	memcpy(buf, &h, sizeof(h));
	fin_bytes(in, buf + sizeof(h), plen);
	return sizeof(h) + plen;
}

/* ---- structured DM-ops ------------------------------------------------------- */

static uint32_t pick_sbdf(struct fuzz_input *in, const struct bdm *dm, const struct bdm *other)
{
	uint8_t s = fin_u8(in);
	const struct bdm *from = (s & 4) && other ? other : dm;
	unsigned n = from->cfg->n_claims[DMP_CLAIM_PCI];

	if ((s & 3) == 3 || !n)
		return fin_u32(in);
	return (uint32_t)from->cfg->claims[DMP_CLAIM_PCI][(s >> 3) % n].start;
}

static void bar_move(struct fuzz_input *in, const struct bdm *dm, const struct bdm *other,
                     struct dmp_dmop *op)
{
	const struct policy_guest *g = dm->dom->guest;
	uint8_t sel = fin_u8(in);
	const struct bdm *from = (sel & 1) && other ? other : dm;
	unsigned n = from->claims.n[DMP_CLAIM_MMIO];
	uint64_t size;

	op->u.bar.sbdf = pick_sbdf(in, dm, other);
	op->u.bar.bar = fin_u8(in) % 7;
	if (n) {
		const struct dmp_range *r = &from->claims.r[DMP_CLAIM_MMIO][fin_u8(in) % n];

		op->u.bar.old_base = r->start;
		size = r->end - r->start + 1;
	} else {
		op->u.bar.old_base = fin_u64(in);
		size = 1ull << (fin_u8(in) % 48);
	}
	if (sel & 2)
		size = 1ull << (fin_u8(in) % 64);
	op->u.bar.size = size;
	switch ((sel >> 2) & 3) {
	case 0:
		op->u.bar.new_base = g->pci_hole_start + size * fin_u16(in);
		break;
	case 1:
		op->u.bar.new_base = g->pci_hole_end + 1 - size * (1 + fin_u8(in));
		break;
	case 2: {
		const struct bdm *o = (sel & 16) && other ? other : dm;
		unsigned m = o->claims.n[DMP_CLAIM_MMIO];

		op->u.bar.new_base = m ? o->claims.r[DMP_CLAIM_MMIO][fin_u8(in) % m].start +
		                                     (sel & 32 ? size / 2 : 0)
		                       : fin_u64(in);
		break;
	}
	default:
		op->u.bar.new_base = fin_u64(in);
		break;
	}
}

static void structured_dmop(struct fuzz_input *in, unsigned idx, uint8_t *buf, size_t *len)
{
	struct bdomain *d = domain();
	const struct bdm *dm = &d->dms[idx % d->n_dms];
	const struct bdm *other = d->n_dms > 1 ? &d->dms[(idx + 1) % d->n_dms] : NULL;
	struct dmp_dmop op = {0};
	uint8_t k = fin_u8(in);
	struct frame_hdr h = {.version = FRAME_VERSION, .type = DMP_DMOP, .len = sizeof(op)};

	op.op = k % 6;
	if (k & 0x80)
		op.reserved = fin_u32(in);
	switch (op.op) {
	case DMP_DMOP_ISA_IRQ:
		op.u.isa_irq.irq = (k & 0x40) ? fin_u32(in) : fin_u8(in) % 18;
		op.u.isa_irq.level = fin_u8(in) % 3;
		break;
	case DMP_DMOP_PCI_INTX:
		op.u.pci_intx.sbdf = pick_sbdf(in, dm, other);
		op.u.pci_intx.pin = fin_u8(in) % 5;
		op.u.pci_intx.level = fin_u8(in) % 3;
		break;
	case DMP_DMOP_MSI:
		op.u.msi.addr = (k & 0x40) ? fin_u64(in) : 0xfee00000ull | (fin_u32(in) & 0xfffff);
		op.u.msi.data = fin_u32(in);
		break;
	case DMP_DMOP_BAR_MOVE:
		bar_move(in, dm, other, &op);
		break;
	default:
		fin_bytes(in, op.u.raw, sizeof(op.u.raw));
		break;
	}
	h.id = fin_u16(in);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &op, sizeof(op));
	*len = sizeof(h) + sizeof(op);
}

/* ---- records ------------------------------------------------------------------ */

static uint8_t last[FRAME_MAX_SIZE + 64];
static size_t last_len;

static void special(struct fuzz_input *in, unsigned idx)
{
	struct bdomain *d = domain();
	struct fake_child *c = child_for(idx);
	struct bdm *dm = d && d->n_dms ? &d->dms[idx % d->n_dms] : NULL;
	uint8_t buf[256];

	switch (fin_u8(in) % 10) {
	case 0: { /* too big for any frame: truncated on receive */
		struct frame_hdr h = {.version = FRAME_VERSION,
		                      .type = DMP_STATS,
		                      .len = sizeof(last) - sizeof(h)};

		memset(last, 0, sizeof(last));
		memcpy(last, &h, sizeof(h));
		last_len = sizeof(last);
		send_dgram(c, last, last_len, -1);
		break;
	}
	case 1: { /* a stray fd with an otherwise valid READY */
		int fd = eventfd(0, EFD_CLOEXEC);

		last_len = frame_bytes(last, DMP_READY, 0, 0, in);
		send_dgram(c, last, last_len, fd);
		if (fd >= 0)
			close(fd);
		break;
	}
	case 2: /* an empty datagram */
		last_len = 0;
		send_dgram(c, last, 0, -1);
		break;
	case 3: /* the device model closes its channel */
		if (c)
			c->chan = util_close(c->chan);
		break;
	case 4: /* the device model exits */
		if (dm && dm->pidfd >= 0)
			(void)eventfd_write(dm->pidfd, 1);
		break;
	case 5:
		pump();
		break;
	case 6:
		draining = !draining;
		break;
	case 7: { /* it writes to stdout or stderr */
		uint8_t s = fin_u8(in);
		size_t n = fin_bytes(in, buf, s % sizeof(buf));

		if (c && (s & 0x80 ? c->err : c->out) >= 0)
			(void)!write(s & 0x80 ? c->err : c->out, buf, n);
		break;
	}
	case 8: /* detach, or once it is gone, attach again (faults apply now) */
		if (d) {
			(void)detach_domain(b, cur_domid);
		} else {
			phase = PH_ATTACH;
			if (attach_domain(b, cur_domid, NULL, NULL) < 0) {
				/* Nothing half-attached stays. */
				FUZZ_CHECK(!domain() && fake_hv_servers(&fhv, cur_domid) == 0);
				FUZZ_CHECK(fhv.pages_live == 0 && fhv.ports_live == 0);
			}
			phase = PH_RUN;
		}
		break;
	case 9: /* it scribbles on its ioreq page (which it maps writable) */
		if (dm && dm->pages && dm->pages->ioreq) {
			unsigned v = fin_u8(in) % dm->dom->nr_vcpus;

			fin_bytes(in, &dm->pages->ioreq->vcpu_ioreq[v], sizeof(ioreq_t));
		}
		break;
	}
}

static void run_record(struct fuzz_input *in)
{
	uint8_t o = fin_u8(in);
	unsigned idx = o >> 7;
	struct fake_child *c = child_for(idx);

	hold = (o & 0x38) == 0x38;

	switch (o & 7) {
	case 0: /* raw bytes */
		last_len = fin_bytes(in, last, fin_u8(in) % (CHUNK_MAX + 1));
		send_dgram(c, last, last_len, -1);
		break;
	case 1: { /* a valid header, any type, raw payload */
		uint16_t type = fin_u16(in);
		size_t plen = fin_u8(in) % (CHUNK_MAX - sizeof(struct frame_hdr) + 1);

		last_len = frame_bytes(last, type, fin_u16(in), plen, in);
		send_dgram(c, last, last_len, -1);
		break;
	}
	case 2: { /* a frame of a known type, mostly of the right size */
		static const uint16_t types[] = {
		        DMP_READY,     DMP_DMOP,     DMP_STATS, DMP_READY, DMP_STATS,
		        DMP_HELLO,     DMP_CLAIMS,   DMP_PAGES, DMP_PORTS, DMP_DMOP_REPLY,
		        DMP_STATS_REQ, DMP_SHUTDOWN, 0,         63,        67,
		        0xffff};
		uint8_t t = fin_u8(in);
		uint16_t type = types[t % ARRAY_SIZE(types)];
		size_t plen = type == DMP_DMOP    ? sizeof(struct dmp_dmop)
		              : type == DMP_STATS ? sizeof(struct dmp_stats)
		                                  : 0;

		if (t & 0x80)
			plen = fin_u8(in) % (CHUNK_MAX - sizeof(struct frame_hdr) + 1);
		last_len = frame_bytes(last, type, fin_u16(in), plen, in);
		send_dgram(c, last, last_len, -1);
		break;
	}
	case 3:
	case 7:
		if (!domain())
			break;
		structured_dmop(in, idx, last, &last_len);
		send_dgram(c, last, last_len, -1);
		break;
	case 4: /* a header with any version, length and flags */
		last_len = sizeof(struct frame_hdr) + fin_u8(in) % 64;
		fin_bytes(in, last, last_len);
		send_dgram(c, last, last_len, -1);
		break;
	case 5:
		special(in, idx);
		if (!hold)
			pump();
		break;
	case 6: { /* the last datagram again, several times: bursts, floods */
		unsigned n = fin_u8(in) % 40 + 1;

		for (unsigned i = 0; i < n && c == child_for(idx); i++)
			send_dgram(c, last, last_len, -1);
		break;
	}
	}
}

/* ---- one input ------------------------------------------------------------------ */

static void on_attached(void *opaque, int result, const char *msg)
{
	(void)opaque, (void)result;
	FUZZ_CHECK(msg && *msg);
}

static void send_ready(unsigned idx)
{
	uint8_t buf[sizeof(struct frame_hdr)];
	struct fuzz_input none = {NULL, 0};

	send_dgram(child_for(idx), buf, frame_bytes(buf, DMP_READY, 0, 0, &none), -1);
}

static void setup(uint8_t cfg)
{
	unsigned stage = (cfg >> 1) & 3;
	struct fake_domain *fd = fake_hv_domain(&fhv, cur_domid);
	struct bdomain *d;

	fd->info.paused = true;
	fd->info.shutdown = fd->info.dying = false;
	FUZZ_CHECK(fake_hv_servers(&fhv, cur_domid) == 0);
	phase = PH_ATTACH;
	FUZZ_CHECK(attach_domain(b, cur_domid, on_attached, NULL) == 0);
	phase = PH_RUN;
	d = domain();
	FUZZ_CHECK(d && d->state == BD_ATTACHING);
	drain_all();
	spawns = fake_spawns;
	for (unsigned i = 0; i < d->n_dms; i++)
		FUZZ_CHECK(d->dms[i].state == DM_HANDOFF && fake_child_find(d->dms[i].cfg->name));
	if (stage == 1 && d->n_dms > 1) {
		send_ready(0);
		FUZZ_CHECK(d->dms[0].state == DM_READY && d->state == BD_ATTACHING);
	}
	if (stage >= 2) {
		for (unsigned i = 0; i < d->n_dms; i++)
			send_ready(i);
		FUZZ_CHECK(d->state == BD_RUNNING);
		for (unsigned i = 0; i < d->n_dms; i++)
			FUZZ_CHECK(d->dms[i].state == DM_RUNNING && d->dms[i].ports);
		FUZZ_CHECK(fd->info.paused == !d->guest->unpause);
		drain_all();
	}
	if (stage == 3) {
		/* The first device model died; the broker restarts it (or gives up). */
		(void)eventfd_write(d->dms[0].pidfd, 1);
		pump();
		pump();
	}
	if (cfg & 0x10)
		for (unsigned i = 0; (d = domain()) && i < d->n_dms; i++)
			d->dms[i].rate_count = DM_MSG_RATE_MAX - 4;
	/* Impatient: restarts and attaches from now on must report ready at once. */
	if (cfg & 0x20)
		b->cfg.ready_timeout_ms = 0;
}

static void teardown(void)
{
	struct bdomain *d = domain();

	phase = PH_TEARDOWN;
	fhv.n_faults = 0;
	if (d)
		domain_teardown(d, false); /* kills each: fakehv.c makes that immediate */
	event_base_loop(b->base, EVLOOP_NONBLOCK);
	fake_children_close_all();
	/* Everything the attach made is gone: no server, page, port, event or fd. */
	FUZZ_CHECK(!domain() && b->n_domains == 0);
	FUZZ_CHECK(fake_hv_servers(&fhv, cur_domid) == 0);
	FUZZ_CHECK(fhv.pages_live == 0 && fhv.ports_live == 0);
	FUZZ_CHECK(event_base_get_num_events(b->base, EVENT_BASE_COUNT_ADDED |
	                                                      EVENT_BASE_COUNT_ACTIVE) == 0);
	/* (No process check here: the sanitizers' symbolizer is a child of ours.) */
	phase = PH_IDLE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	uint8_t cfg = fin_u8(&in), nf = fin_u8(&in) & 0x1f;
	int fds = fake_count_fds();

	cur_domid = cfg & 1 ? DOM_B : DOM_A;
	b->cfg.ready_timeout_ms = 600000;
	draining = cfg & 8;
	n_killed = 0;
	hold = false;
	memset(&cur, 0, sizeof(cur));
	fhv.n_faults = 0;
	setup(cfg);
	/* From here on the hypervisor fails where the input says. */
	fhv.faults = in.p;
	fhv.n_faults = nf < in.n ? nf : in.n;
	in.p += fhv.n_faults;
	in.n -= fhv.n_faults;
	while (!fin_empty(&in))
		run_record(&in);
	hold = false;
	pump();
	teardown();
	FUZZ_CHECK(fake_count_fds() == fds);
	return 0;
}

/* ---- once ---------------------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct policy_errors errs;
	struct policy *p = NULL;
	const char *user = fake_some_user();
	char text[sizeof(policy_text) + 256], *o = text;

	(void)argc, (void)argv;
	fake_log_quiet();
	signal(SIGPIPE, SIG_IGN);
	if (!user) {
		fprintf(stderr, "fuzz-dmframes: no non-root user in the user database\n");
		exit(1);
	}
	for (const char *s = policy_text; *s;) {
		if (!strncmp(s, "@USER@", 6)) {
			o += sprintf(o, "%s", user);
			s += 6;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	if (policy_parse(text, strlen(text), &p, &errs) < 0) {
		policy_errors_print(&errs, "fuzz-dmframes policy", stderr);
		exit(1);
	}
	fake_hv_init(&fhv);
	fhv.hook = hook;
	fhv.after = after;
	fake_on_kill = on_kill;
	fake_hv_add_domain(&fhv, DOM_A, "guest-a", 2, true);
	fake_hv_add_domain(&fhv, DOM_B, "guest-b", 1, true);
	fake_spawn_mode = FAKE_SPAWN_CAPTURE;
	b = calloc(1, sizeof(*b));
	if (!b)
		exit(1);
	b->cfg = (struct broker_config){.hypervisor = "fake",
	                                .policy_path = "(built in)",
	                                .control_path = "(none)",
	                                .state_dir = "/nonexistent",
	                                .ready_timeout_ms = 600000};
	b->base = event_base_new();
	b->hv = &fhv.hv;
	if (events_new(&b->events) < 0)
		exit(1);
	b->policy = p;
	b->started_ns = util_now_ns();
	if (!b->base)
		exit(1);
	fake_broker = b;
	return 0;
}
