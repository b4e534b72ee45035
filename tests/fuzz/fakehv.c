/* SPDX-License-Identifier: MIT */
#include "tests/fuzz/fakehv.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/broker-internal.h"
#include "daemon/sandbox.h"
#include "ipc/frame.h"

enum fake_spawn_mode fake_spawn_mode;
struct fake_child fake_children[FAKE_MAX_CHILDREN];
unsigned long fake_spawns;
struct broker *fake_broker;
void (*fake_on_kill)(int pidfd);

/* ---- faults and hooks ----------------------------------------------------- */

static int fault(struct fake_hv *f)
{
	static const int errs[] = {-EPERM,  -EINVAL, -ENOENT, -EEXIST,
	                           -ENOSPC, -ESRCH,  -EIO,    -ENOMEM};
	uint8_t b;

	if (!f->n_faults)
		return 0;
	b = *f->faults++;
	f->n_faults--;
	return b & 0x80 ? errs[b & 7] : 0;
}

static struct fake_hv *fake_of(struct hv *hv)
{
	return (struct fake_hv *)hv;
}

/* Hook, count, then a fault if the input asks for one. */
static int enter(struct fake_hv *f, const struct fake_call *c)
{
	if (f->hook)
		f->hook(c);
	f->calls[c->op]++;
	return fault(f);
}

static int leave(struct fake_hv *f, const struct fake_call *c, int r)
{
	if (f->after)
		f->after(c, r);
	return r;
}

/* ---- domains ---------------------------------------------------------------- */

struct fake_domain *fake_hv_domain(struct fake_hv *f, uint32_t domid)
{
	for (unsigned i = 0; i < FAKE_MAX_DOMAINS; i++)
		if (f->dom[i].used && f->dom[i].info.domid == domid)
			return &f->dom[i];
	return NULL;
}

struct fake_domain *fake_hv_add_domain(struct fake_hv *f, uint32_t domid, const char *name,
                                       unsigned nr_vcpus, bool paused)
{
	for (unsigned i = 0; i < FAKE_MAX_DOMAINS; i++) {
		struct fake_domain *d = &f->dom[i];

		if (d->used)
			continue;
		memset(d, 0, sizeof(*d));
		d->used = true;
		d->info.domid = domid;
		d->info.nr_vcpus = nr_vcpus;
		d->info.paused = paused;
		snprintf(d->info.name, sizeof(d->info.name), "%s", name);
		return d;
	}
	return NULL;
}

unsigned fake_hv_servers(const struct fake_hv *f, uint32_t domid)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FAKE_MAX_DOMAINS; i++)
		if (f->dom[i].used && f->dom[i].info.domid == domid)
			for (unsigned s = 0; s < HV_MAX_SERVERS; s++)
				n += f->dom[i].srv[s].used;
	return n;
}

static struct fake_server *server_of(struct fake_hv *f, uint32_t domid, uint16_t id)
{
	struct fake_domain *d = fake_hv_domain(f, domid);

	if (!d || id >= HV_MAX_SERVERS || !d->srv[id].used)
		return NULL;
	return &d->srv[id];
}

/* enter() for a call on one server: 0 and *ret, the injected fault, or -ENOENT. */
static int enter_server(struct fake_hv *f, const struct fake_call *c, struct fake_server **ret)
{
	struct fake_server *s;
	int r = enter(f, c);

	if (r < 0)
		return r;
	s = server_of(f, c->domid, c->id);
	if (!s)
		return -ENOENT;
	*ret = s;
	return 0;
}

static void fake_close(struct hv *hv)
{
	(void)hv;
}

static int fake_domain_info(struct hv *hv, uint32_t domid, struct hv_domain_info *ret)
{
	struct fake_domain *d = fake_hv_domain(fake_of(hv), domid);

	if (!d)
		return -ESRCH;
	*ret = d->info;
	return 0;
}

static int fake_domain_list(struct hv *hv, uint32_t *domids, unsigned max, unsigned *ret_n)
{
	struct fake_hv *f = fake_of(hv);
	unsigned n = 0;

	for (unsigned i = 0; i < FAKE_MAX_DOMAINS && n < max; i++)
		if (f->dom[i].used)
			domids[n++] = f->dom[i].info.domid;
	*ret_n = n;
	return 0;
}

static int domain_op(struct hv *hv, uint32_t domid, enum fake_op op)
{
	struct fake_hv *f = fake_of(hv);
	struct fake_call c = {.op = op, .domid = domid};
	struct fake_domain *d;
	int r = enter(f, &c);

	if (r < 0)
		return leave(f, &c, r);
	d = fake_hv_domain(f, domid);
	if (!d)
		return leave(f, &c, -ESRCH);
	switch (op) {
	case FOP_DOMAIN_PAUSE:
		d->info.paused = true;
		break;
	case FOP_DOMAIN_UNPAUSE:
		d->info.paused = false;
		break;
	case FOP_DOMAIN_SHUTDOWN:
		d->info.shutdown = true;
		break;
	default:
		d->info.dying = true;
		break;
	}
	return leave(f, &c, 0);
}

static int fake_domain_pause(struct hv *hv, uint32_t domid)
{
	return domain_op(hv, domid, FOP_DOMAIN_PAUSE);
}

static int fake_domain_unpause(struct hv *hv, uint32_t domid)
{
	return domain_op(hv, domid, FOP_DOMAIN_UNPAUSE);
}

static int fake_domain_shutdown(struct hv *hv, uint32_t domid, enum hv_shutdown_reason reason)
{
	(void)reason;
	return domain_op(hv, domid, FOP_DOMAIN_SHUTDOWN);
}

static int fake_domain_destroy(struct hv *hv, uint32_t domid)
{
	return domain_op(hv, domid, FOP_DOMAIN_DESTROY);
}

/* ---- servers and ranges -------------------------------------------------- */

static int fake_create_server(struct hv *hv, uint32_t domid, enum hv_bufioreq buf, uint16_t *ret_id)
{
	struct fake_hv *f = fake_of(hv);
	struct fake_call c = {.op = FOP_CREATE_SERVER, .domid = domid, .level = buf};
	struct fake_domain *d;
	int r = enter(f, &c);

	if (r < 0)
		return leave(f, &c, r);
	d = fake_hv_domain(f, domid);
	if (!d || d->info.dying)
		return leave(f, &c, -ESRCH);
	for (uint16_t id = 0; id < HV_MAX_SERVERS; id++) {
		struct fake_server *s = &d->srv[id];

		if (s->used)
			continue;
		memset(s, 0, sizeof(*s));
		s->used = true;
		s->bufioreq = buf;
		*ret_id = id;
		c.id = id;
		return leave(f, &c, 0);
	}
	return leave(f, &c, -ENOSPC);
}

static int fake_destroy_server(struct hv *hv, uint32_t domid, uint16_t id)
{
	struct fake_hv *f = fake_of(hv);
	struct fake_call c = {.op = FOP_DESTROY_SERVER, .domid = domid, .id = id};
	struct fake_domain *d = fake_hv_domain(f, domid);
	struct fake_server *s = server_of(f, domid, id);

	/*
	 * Never fails on demand: the targets check that every server is asked to go,
	 * which is all a broker can do (a server Xen refuses to destroy stays anyway).
	 */
	if (f->hook)
		f->hook(&c);
	f->calls[c.op]++;
	if (!s)
		return leave(f, &c, -ENOENT);
	s->used = false;
	/* Xen frees a dead domain's servers itself; the broker's later call then fails. */
	return leave(f, &c, d->info.dying ? -ESRCH : 0);
}

bool fake_rangeset_overlaps(const struct fake_rangeset *rs, uint64_t s, uint64_t e)
{
	for (unsigned i = 0; i < rs->n; i++)
		if (s <= rs->r[i].end && rs->r[i].start <= e)
			return true;
	return false;
}

bool fake_rangeset_has(const struct fake_rangeset *rs, uint64_t s, uint64_t e)
{
	for (unsigned i = 0; i < rs->n; i++)
		if (rs->r[i].start <= s && e <= rs->r[i].end)
			return true;
	return false;
}

/* As Xen's rangesets: removing a part of a range splits it. */
static int rangeset_remove(struct fake_rangeset *rs, uint64_t s, uint64_t e)
{
	for (unsigned i = 0; i < rs->n; i++) {
		struct dmp_range *r = &rs->r[i];

		if (!(r->start <= s && e <= r->end))
			continue;
		if (r->start == s && r->end == e) {
			*r = rs->r[--rs->n];
		} else if (r->start == s) {
			r->start = e + 1;
		} else if (r->end == e) {
			r->end = s - 1;
		} else {
			if (rs->n == HV_MAX_RANGES)
				return -ENOSPC;
			rs->r[rs->n++] = (struct dmp_range){e + 1, r->end};
			r->end = s - 1;
		}
		return 0;
	}
	return -ENOENT;
}

static int fake_map_range(struct hv *hv, uint32_t domid, uint16_t id, enum hv_range_type type,
                          uint64_t start, uint64_t end, bool map)
{
	struct fake_hv *f = fake_of(hv);
	struct fake_call c = {.op = map ? FOP_MAP : FOP_UNMAP,
	                      .domid = domid,
	                      .id = id,
	                      .type = type,
	                      .start = start,
	                      .end = end};
	struct fake_server *s;
	struct fake_rangeset *rs;
	int r = enter_server(f, &c, &s);

	if (r < 0)
		return leave(f, &c, r);
	if ((unsigned)type > HV_RANGE_PCI || start > end)
		return leave(f, &c, -EINVAL);
	rs = &s->rs[type];
	if (!map)
		return leave(f, &c, rangeset_remove(rs, start, end));
	if (fake_rangeset_overlaps(rs, start, end))
		return leave(f, &c, -EEXIST);
	if (rs->n == HV_MAX_RANGES)
		return leave(f, &c, -ENOSPC);
	rs->r[rs->n++] = (struct dmp_range){start, end};
	return leave(f, &c, 0);
}

static int fake_set_server_state(struct hv *hv, uint32_t domid, uint16_t id, bool enabled)
{
	struct fake_hv *f = fake_of(hv);
	struct fake_call c = {.op = FOP_SERVER_STATE, .domid = domid, .id = id, .level = enabled};
	struct fake_server *s;
	int r = enter_server(f, &c, &s);

	if (r < 0)
		return leave(f, &c, r);
	s->enabled = enabled;
	return leave(f, &c, 0);
}

/* ---- pages and ports ---------------------------------------------------- */

struct fake_pages {
	struct hv_pages pg;
	struct fake_hv *f;
};

static void pages_free(struct hv_pages *pg)
{
	struct fake_pages *p = (struct fake_pages *)pg;

	p->f->pages_live--;
	free(pg->ioreq);
	free(pg->bufioreq);
	free(p);
}

static int pages_export(struct hv_pages *pg, struct dmp_pages *msg, int *fds, unsigned *nfds)
{
	(void)fds;
	memset(msg, 0, sizeof(*msg));
	msg->kind = DMP_PAGES_MEMFD;
	msg->domid = pg->domid;
	msg->server_id = pg->server_id;
	msg->has_buf = pg->bufioreq != NULL;
	*nfds = 0;
	return 0;
}

static int fake_pages_open(struct hv *hv, uint32_t domid, uint16_t id, struct hv_pages **ret)
{
	struct fake_hv *f = fake_of(hv);
	struct fake_call c = {.op = FOP_PAGES_OPEN, .domid = domid, .id = id};
	struct fake_server *s;
	struct fake_pages *p;
	int r = enter_server(f, &c, &s);

	if (r < 0)
		return leave(f, &c, r);
	p = calloc(1, sizeof(*p));
	if (!p)
		return leave(f, &c, -ENOMEM);
	p->f = f;
	p->pg.free = pages_free;
	p->pg.export = pages_export;
	p->pg.domid = domid;
	p->pg.server_id = id;
	p->pg.ioreq = aligned_alloc(IOREQ_PAGE_SIZE, IOREQ_PAGE_SIZE);
	if (s->bufioreq)
		p->pg.bufioreq = aligned_alloc(IOREQ_PAGE_SIZE, IOREQ_PAGE_SIZE);
	if (!p->pg.ioreq || (s->bufioreq && !p->pg.bufioreq)) {
		free(p->pg.ioreq);
		free(p->pg.bufioreq);
		free(p);
		return leave(f, &c, -ENOMEM);
	}
	memset(p->pg.ioreq, 0, IOREQ_PAGE_SIZE);
	if (p->pg.bufioreq)
		memset(p->pg.bufioreq, 0, IOREQ_PAGE_SIZE);
	f->pages_live++;
	*ret = &p->pg;
	return leave(f, &c, 0);
}

struct fake_ports {
	struct hv_ports po;
	struct fake_hv *f;
	int efd;
	bool has_buf;
};

static void ports_free(struct hv_ports *po)
{
	struct fake_ports *p = (struct fake_ports *)po;

	p->f->ports_live--;
	close(p->efd);
	free(p);
}

static int ports_export(struct hv_ports *po, struct dmp_ports *msg, int *fds, unsigned *nfds)
{
	struct fake_ports *p = (struct fake_ports *)po;

	memset(msg, 0, sizeof(*msg));
	msg->kind = DMP_PORTS_SIM;
	msg->nr_vcpus = po->nr_vcpus;
	msg->has_buf = p->has_buf;
	msg->buf_port = p->has_buf ? po->nr_vcpus + 1 : 0;
	for (unsigned v = 0; v < po->nr_vcpus; v++)
		msg->port[v] = v + 1;
	fds[0] = p->efd;
	*nfds = 1;
	return 0;
}

static int ports_notify(struct hv_ports *po, unsigned vcpu)
{
	struct fake_ports *p = (struct fake_ports *)po;

	if (vcpu >= po->nr_vcpus)
		return -EINVAL;
	return eventfd_write(p->efd, 1) < 0 ? -errno : 0;
}

static int fake_ports_bind(struct hv *hv, uint32_t domid, uint16_t id, unsigned nr_vcpus,
                           struct hv_pages *pages, struct hv_ports **ret)
{
	struct fake_hv *f = fake_of(hv);
	struct fake_call c = {.op = FOP_PORTS_BIND, .domid = domid, .id = id};
	struct fake_server *s;
	struct fake_ports *p;
	int r = enter_server(f, &c, &s);

	if (r < 0)
		return leave(f, &c, r);
	/* Xen writes vp_eport only into an enabled server's page. */
	if (!s->enabled || !pages || pages->domid != domid || pages->server_id != id)
		return leave(f, &c, -EINVAL);
	p = calloc(1, sizeof(*p));
	if (!p)
		return leave(f, &c, -ENOMEM);
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0) {
		free(p);
		return leave(f, &c, -EMFILE);
	}
	p->f = f;
	p->has_buf = pages->bufioreq != NULL;
	p->po.free = ports_free;
	p->po.export = ports_export;
	p->po.notify = ports_notify;
	p->po.nr_vcpus = nr_vcpus;
	s->ports_bound = true;
	f->ports_live++;
	*ret = &p->po;
	return leave(f, &c, 0);
}

/* ---- interrupts ---------------------------------------------------------- */

static int fake_set_isa_irq_level(struct hv *hv, uint32_t domid, uint8_t irq, unsigned level)
{
	struct fake_hv *f = fake_of(hv);
	struct fake_call c = {.op = FOP_ISA_IRQ, .domid = domid, .irq = irq, .level = level};
	int r = enter(f, &c);

	if (r == 0 && !fake_hv_domain(f, domid))
		r = -ESRCH;
	return leave(f, &c, r);
}

static int fake_set_pci_intx_level(struct hv *hv, uint32_t domid, uint32_t sbdf, uint8_t pin,
                                   unsigned level)
{
	struct fake_hv *f = fake_of(hv);
	struct fake_call c = {
	        .op = FOP_PCI_INTX, .domid = domid, .sbdf = sbdf, .pin = pin, .level = level};
	int r = enter(f, &c);

	if (r == 0 && !fake_hv_domain(f, domid))
		r = -ESRCH;
	return leave(f, &c, r);
}

static int fake_inject_msi(struct hv *hv, uint32_t domid, uint64_t addr, uint32_t data)
{
	struct fake_hv *f = fake_of(hv);
	struct fake_call c = {.op = FOP_MSI, .domid = domid, .start = addr, .data = data};
	int r = enter(f, &c);

	if (r == 0 && !fake_hv_domain(f, domid))
		r = -ESRCH;
	return leave(f, &c, r);
}

static int fake_event_fd(struct hv *hv)
{
	(void)hv;
	return -EOPNOTSUPP;
}

static int fake_event_next(struct hv *hv, struct hv_event *ret)
{
	(void)hv, (void)ret;
	return -EAGAIN;
}

static const struct hv_ops fake_ops = {
        .name = "fake",
        .close = fake_close,
        .domain_info = fake_domain_info,
        .domain_list = fake_domain_list,
        .domain_pause = fake_domain_pause,
        .domain_unpause = fake_domain_unpause,
        .domain_shutdown = fake_domain_shutdown,
        .domain_destroy = fake_domain_destroy,
        .create_server = fake_create_server,
        .destroy_server = fake_destroy_server,
        .map_range = fake_map_range,
        .set_server_state = fake_set_server_state,
        .pages_open = fake_pages_open,
        .ports_bind = fake_ports_bind,
        .set_isa_irq_level = fake_set_isa_irq_level,
        .set_pci_intx_level = fake_set_pci_intx_level,
        .inject_msi = fake_inject_msi,
        .event_fd = fake_event_fd,
        .event_next = fake_event_next,
};

void fake_hv_init(struct fake_hv *f)
{
	memset(f, 0, sizeof(*f));
	f->hv.ops = &fake_ops;
}

/* ---- processes ------------------------------------------------------------ */

struct fake_child *fake_child_find(const char *name)
{
	for (unsigned i = 0; i < FAKE_MAX_CHILDREN; i++)
		if (fake_children[i].used && !strcmp(fake_children[i].name, name))
			return &fake_children[i];
	return NULL;
}

void fake_child_close(struct fake_child *c)
{
	if (!c || !c->used)
		return;
	c->chan = util_close(c->chan);
	c->out = util_close(c->out);
	c->err = util_close(c->err);
	c->used = false;
}

void fake_children_close_all(void)
{
	for (unsigned i = 0; i < FAKE_MAX_CHILDREN; i++)
		fake_child_close(&fake_children[i]);
}

int __wrap_sandbox_spawn(const struct sandbox_spec *spec, struct sandbox_child *ret,
                         struct sandbox_error *err);

int __wrap_sandbox_spawn(const struct sandbox_spec *spec, struct sandbox_child *ret,
                         struct sandbox_error *err)
{
	struct fake_child *c;
	int pidfd;

	/* The broker asks for what the policy says, and never for root. */
	if (spec->uid == 0 || spec->gid == 0 || spec->channel_fd < 0 || !spec->argv ||
	    !spec->argv[0])
		__builtin_trap();
	if (fake_spawn_mode != FAKE_SPAWN_CAPTURE) {
		err->step = SANDBOX_STEP_CLONE;
		err->err = EPERM;
		return -EPERM;
	}
	/* A restarted device model replaces its earlier self. */
	fake_child_close(fake_child_find(spec->argv[0]));
	c = NULL;
	for (unsigned i = 0; i < FAKE_MAX_CHILDREN && !c; i++)
		if (!fake_children[i].used)
			c = &fake_children[i];
	if (!c)
		__builtin_trap();
	pidfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->chan = fcntl(spec->channel_fd, F_DUPFD_CLOEXEC, 3);
	c->out = fcntl(spec->stdout_fd, F_DUPFD_CLOEXEC, 3);
	c->err = fcntl(spec->stderr_fd, F_DUPFD_CLOEXEC, 3);
	if (pidfd < 0 || c->chan < 0 || c->out < 0 || c->err < 0)
		__builtin_trap(); /* out of fds: a leak somewhere */
	c->used = true;
	c->adopted = false;
	c->pidfd = pidfd;
	snprintf(c->name, sizeof(c->name), "%s", spec->argv[0]);
	ret->pid = FAKE_PID;
	ret->pidfd = pidfd;
	c->gen = ++fake_spawns;
	return 0;
}

/* The newest fake child whose pidfd this is (fd numbers are reused after a reap). */
static struct fake_child *child_by_pidfd(int fd)
{
	struct fake_child *best = NULL;

	for (unsigned i = 0; i < FAKE_MAX_CHILDREN; i++)
		if (fake_children[i].used && fake_children[i].pidfd == fd &&
		    (!best || fake_children[i].gen > best->gen))
			best = &fake_children[i];
	return best;
}

long __real_syscall(long n, ...);
long __wrap_syscall(long n, ...);

long __wrap_syscall(long n, ...)
{
	long a[6];
	va_list ap;

	va_start(ap, n);
	for (unsigned i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (n == SYS_pidfd_send_signal) {
		int fd = (int)a[0];

		/* Only our own fake children, and only SIGKILL: anything else is a bug. */
		if (!child_by_pidfd(fd) || a[1] != SIGKILL)
			__builtin_trap();
		if (fake_on_kill)
			fake_on_kill(fd);
		return eventfd_write(fd, 1) < 0 ? -1 : 0;
	}
	return __real_syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int __real_frame_send(int sock, uint16_t type, uint32_t id, const void *payload, size_t len,
                      const int *fds, unsigned nfds);
int __wrap_frame_send(int sock, uint16_t type, uint32_t id, const void *payload, size_t len,
                      const int *fds, unsigned nfds);

int __wrap_frame_send(int sock, uint16_t type, uint32_t id, const void *payload, size_t len,
                      const int *fds, unsigned nfds)
{
	int r = __real_frame_send(sock, type, id, payload, len, fds, nfds);

	if (r < 0 || type != DMP_SHUTDOWN || !fake_broker)
		return r;
	/* A well-behaved device model exits when told to. */
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++) {
		struct bdomain *d = fake_broker->dom[i];

		for (unsigned k = 0; d && k < d->n_dms; k++)
			if (d->dms[k].sock == sock && d->dms[k].pidfd >= 0 &&
			    child_by_pidfd(d->dms[k].pidfd))
				(void)eventfd_write(d->dms[k].pidfd, 1);
	}
	return r;
}

/* ---- misc ------------------------------------------------------------------ */

static void drop_line(int level, const char *line, void *opaque)
{
	(void)level, (void)line, (void)opaque;
}

void fake_log_quiet(void)
{
	const char *v = getenv("FUZZ_VERBOSE");

	log_set_level(LOG_DEBUG); /* every line is formatted, even if dropped */
	if (!v || !*v || !strcmp(v, "0"))
		log_set_sink(drop_line, NULL);
}

const char *fake_some_user(void)
{
	static char name[64];
	struct passwd *pw = getpwnam("nobody");

	if (pw && pw->pw_uid && pw->pw_gid) {
		snprintf(name, sizeof(name), "%s", pw->pw_name);
		return name;
	}
	setpwent();
	while ((pw = getpwent()))
		if (pw->pw_uid && pw->pw_gid && pw->pw_name[0] >= 'a' && pw->pw_name[0] <= 'z') {
			snprintf(name, sizeof(name), "%s", pw->pw_name);
			break;
		}
	endpwent();
	return name[0] ? name : NULL;
}

int fake_count_fds(void)
{
	return util_count_fds();
}
