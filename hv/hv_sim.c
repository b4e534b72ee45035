/* SPDX-License-Identifier: MIT */
/*
 * The simulator backend of the hypervisor interface: every operation is a
 * request on dmbsimd's socket.  Pages come back as memfds (the stand-in for
 * XENMEM_acquire_resource), ports as eventfds (ipc/simchan.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"
#include "hv/hv.h"
#include "ipc/simchan.h"
#include "sim/client.h"

struct hv_sim {
	struct hv base;
	struct simc *c;     /* calls */
	struct simc *watch; /* lifecycle events, on their own connection */
	char path[108];
};

struct hv_sim_pages {
	struct hv_pages base;
	int ioreq_fd, buf_fd;
};

struct hv_sim_ports {
	struct hv_ports base;
	struct sim_reply rep; /* port numbers */
	int fds[2 * SIMCHAN_MAX_VCPUS + 2];
	unsigned nfds;
};

#define HS(hv) ((struct hv_sim *)(hv))

static int call(struct hv *hv, uint16_t type, struct sim_req *q, struct sim_reply *rep)
{
	struct sim_reply scratch;

	return simc_call(HS(hv)->c, type, q, rep ? rep : &scratch, NULL, 0, NULL);
}

static void sim_close(struct hv *hv)
{
	simc_close(HS(hv)->c);
	simc_close(HS(hv)->watch);
	free(hv);
}

static int sim_domain_info(struct hv *hv, uint32_t domid, struct hv_domain_info *ret)
{
	struct sim_req q = {.domid = domid};
	struct sim_reply rep;
	struct hv_domain_info info = {0};
	int r = call(hv, SIM_DOMAIN_INFO, &q, &rep);

	if (r < 0)
		return r;
	info.domid = rep.u.info.domid;
	info.nr_vcpus = rep.u.info.nr_vcpus;
	info.paused = rep.u.info.paused;
	info.shutdown = rep.u.info.shutdown;
	memcpy(info.name, rep.u.info.name, sizeof(info.name) - 1);
	*ret = info;
	return 0;
}

static int sim_domain_list(struct hv *hv, uint32_t *domids, unsigned max, unsigned *ret_n)
{
	struct sim_req q = {0};
	struct sim_reply rep;
	unsigned n;
	int r = call(hv, SIM_DOMAIN_LIST, &q, &rep);

	if (r < 0)
		return r;
	n = MIN(MIN(rep.u.list.n, max), (unsigned)SIM_LIST_MAX);
	memcpy(domids, rep.u.list.domids, n * sizeof(*domids));
	*ret_n = n;
	return 0;
}

static int sim_domain_pause(struct hv *hv, uint32_t domid)
{
	struct sim_req q = {.domid = domid};
	return call(hv, SIM_DOMAIN_PAUSE, &q, NULL);
}

static int sim_domain_unpause(struct hv *hv, uint32_t domid)
{
	struct sim_req q = {.domid = domid};
	return call(hv, SIM_DOMAIN_UNPAUSE, &q, NULL);
}

static int sim_domain_shutdown(struct hv *hv, uint32_t domid, enum hv_shutdown_reason reason)
{
	struct sim_req q = {.domid = domid, .a32 = {reason}};
	return call(hv, SIM_DOMAIN_SHUTDOWN, &q, NULL);
}

static int sim_domain_destroy(struct hv *hv, uint32_t domid)
{
	struct sim_req q = {.domid = domid};
	return call(hv, SIM_DOMAIN_DESTROY, &q, NULL);
}

static int sim_create_server(struct hv *hv, uint32_t domid, enum hv_bufioreq buf, uint16_t *ret_id)
{
	struct sim_req q = {.domid = domid, .a32 = {buf}};
	int r = call(hv, SIM_SERVER_CREATE, &q, NULL);

	if (r < 0)
		return r;
	*ret_id = (uint16_t)r;
	return 0;
}

static int sim_destroy_server(struct hv *hv, uint32_t domid, uint16_t id)
{
	struct sim_req q = {.domid = domid, .id = id};
	return call(hv, SIM_SERVER_DESTROY, &q, NULL);
}

static int sim_map_range(struct hv *hv, uint32_t domid, uint16_t id, enum hv_range_type type,
                         uint64_t start, uint64_t end, bool map)
{
	struct sim_req q = {.domid = domid, .id = id, .a32 = {type, map}, .a64 = {start, end}};
	return call(hv, SIM_MAP_RANGE, &q, NULL);
}

static int sim_set_server_state(struct hv *hv, uint32_t domid, uint16_t id, bool enabled)
{
	struct sim_req q = {.domid = domid, .id = id, .a32 = {enabled}};
	return call(hv, SIM_SERVER_STATE, &q, NULL);
}

/* ---- pages -------------------------------------------------------------- */

static void pages_free(struct hv_pages *pg)
{
	struct hv_sim_pages *p = (struct hv_sim_pages *)pg;

	if (pg->ioreq)
		munmap(pg->ioreq, IOREQ_PAGE_SIZE);
	if (pg->bufioreq)
		munmap(pg->bufioreq, IOREQ_PAGE_SIZE);
	util_close(p->ioreq_fd);
	util_close(p->buf_fd);
	free(p);
}

static int dup_cloexec(int fd)
{
	int r = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return r < 0 ? -errno : r;
}

static int pages_export(struct hv_pages *pg, struct dmp_pages *msg, int *fds, unsigned *nfds)
{
	struct hv_sim_pages *p = (struct hv_sim_pages *)pg;
	int a, b = -1;

	a = dup_cloexec(p->ioreq_fd);
	if (a < 0)
		return a;
	if (p->buf_fd >= 0) {
		b = dup_cloexec(p->buf_fd);
		if (b < 0) {
			close(a);
			return b;
		}
	}
	*msg = (struct dmp_pages){.kind = DMP_PAGES_MEMFD,
	                          .domid = pg->domid,
	                          .server_id = pg->server_id,
	                          .has_buf = b >= 0};
	fds[0] = a;
	*nfds = 1;
	if (b >= 0)
		fds[(*nfds)++] = b;
	return 0;
}

static void *map_page(int fd)
{
	void *p = mmap(NULL, IOREQ_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int sim_pages_open(struct hv *hv, uint32_t domid, uint16_t id, struct hv_pages **ret)
{
	struct sim_req q = {.domid = domid, .id = id};
	struct sim_reply rep;
	struct hv_sim_pages *p;
	int fds[2] = {-1, -1};
	unsigned n = 0;
	int r;

	r = simc_call(HS(hv)->c, SIM_SERVER_PAGES, &q, &rep, fds, 2, &n);
	if (r < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p || n < 1) {
		util_close(fds[0]);
		util_close(fds[1]);
		free(p);
		return !p ? -ENOMEM : -EPROTO;
	}
	p->base.free = pages_free;
	p->base.export = pages_export;
	p->base.domid = domid;
	p->base.server_id = id;
	p->ioreq_fd = fds[0];
	p->buf_fd = n > 1 ? fds[1] : -1;
	p->base.ioreq = map_page(p->ioreq_fd);
	if (p->buf_fd >= 0)
		p->base.bufioreq = map_page(p->buf_fd);
	if (!p->base.ioreq || (p->buf_fd >= 0 && !p->base.bufioreq)) {
		r = -errno;
		pages_free(&p->base);
		return r;
	}
	*ret = &p->base;
	return 0;
}

/* ---- ports -------------------------------------------------------------- */

static void ports_free(struct hv_ports *po)
{
	struct hv_sim_ports *p = (struct hv_sim_ports *)po;

	for (unsigned i = 0; i < p->nfds; i++)
		close(p->fds[i]);
	free(p);
}

static int ports_export(struct hv_ports *po, struct dmp_ports *msg, int *fds, unsigned *nfds)
{
	struct hv_sim_ports *p = (struct hv_sim_ports *)po;

	memset(msg, 0, sizeof(*msg));
	msg->kind = DMP_PORTS_SIM;
	msg->nr_vcpus = p->rep.u.ports.nr_vcpus;
	msg->has_buf = p->rep.u.ports.has_buf;
	msg->buf_port = p->rep.u.ports.buf_port;
	memcpy(msg->port, p->rep.u.ports.port, msg->nr_vcpus * sizeof(uint32_t));
	memcpy(fds, p->fds, p->nfds * sizeof(int));
	*nfds = p->nfds;
	return 0;
}

static int ports_notify(struct hv_ports *po, unsigned vcpu)
{
	struct hv_sim_ports *p = (struct hv_sim_ports *)po;

	if (vcpu >= po->nr_vcpus)
		return -EINVAL;
	/* The "to the simulator" eventfd of that vCPU: what a DM writes after IORESP_READY. */
	return eventfd_write(p->fds[2 + 2 * vcpu], 1) < 0 ? -errno : 0;
}

static int sim_ports_bind(struct hv *hv, uint32_t domid, uint16_t id, unsigned nr_vcpus,
                          struct hv_pages *pages, struct hv_ports **ret)
{
	struct sim_req q = {.domid = domid, .id = id};
	struct hv_sim_ports *p = calloc(1, sizeof(*p));
	int r;

	(void)pages;
	if (!p)
		return -ENOMEM;
	r = simc_call(HS(hv)->c, SIM_SERVER_PORTS, &q, &p->rep, p->fds, ARRAY_SIZE(p->fds),
	              &p->nfds);
	if (r >= 0 && (p->rep.u.ports.nr_vcpus != nr_vcpus ||
	               p->nfds != 1 + 2 * nr_vcpus + (p->rep.u.ports.has_buf ? 1 : 0)))
		r = -EPROTO;
	if (r < 0) {
		ports_free(&p->base);
		return r;
	}
	p->base.free = ports_free;
	p->base.export = ports_export;
	p->base.notify = ports_notify;
	p->base.nr_vcpus = nr_vcpus;
	*ret = &p->base;
	return 0;
}

static int sim_ports_adopt(struct hv *hv, uint32_t domid, uint16_t id, unsigned nr_vcpus,
			   struct hv_pages *pages, int fd, const struct dmp_ports *known,
			   struct hv_ports **ret)
{
	(void)known;
	/* The simulator hands out the same eventfds again: nothing to take back. */
	util_close(fd);
	return sim_ports_bind(hv, domid, id, nr_vcpus, pages, ret);
}

/* ---- interrupts and events ---------------------------------------------- */

static int sim_isa_irq(struct hv *hv, uint32_t domid, uint8_t irq, unsigned level)
{
	struct sim_req q = {.domid = domid, .a32 = {irq, level}};
	return call(hv, SIM_ISA_IRQ, &q, NULL);
}

static int sim_pci_intx(struct hv *hv, uint32_t domid, uint32_t sbdf, uint8_t pin, unsigned level)
{
	struct sim_req q = {.domid = domid, .a32 = {sbdf, pin, level}};
	return call(hv, SIM_PCI_INTX, &q, NULL);
}

static int sim_msi(struct hv *hv, uint32_t domid, uint64_t addr, uint32_t data)
{
	struct sim_req q = {.domid = domid, .a32 = {data}, .a64 = {addr}};
	return call(hv, SIM_MSI, &q, NULL);
}

static int sim_event_fd(struct hv *hv)
{
	struct hv_sim *hs = HS(hv);
	struct sim_req q = {0};
	struct sim_reply rep;
	int r;

	if (!hs->watch) {
		r = simc_connect(hs->path, &hs->watch);
		if (r < 0)
			return r;
		r = simc_call(hs->watch, SIM_WATCH, &q, &rep, NULL, 0, NULL);
		if (r < 0) {
			simc_close(hs->watch);
			hs->watch = NULL;
			return r;
		}
	}
	return simc_fd(hs->watch);
}

static int sim_event_next(struct hv *hv, struct hv_event *ret)
{
	struct sim_event ev;
	int r;

	if (!HS(hv)->watch)
		return -EAGAIN;
	r = simc_next_event(HS(hv)->watch, &ev);
	if (r < 0)
		return r;
	ret->kind = ev.kind == SIM_EV_DOMAIN_NEW ? HV_EVENT_DOMAIN_NEW : HV_EVENT_DOMAIN_GONE;
	ret->domid = ev.domid;
	return 0;
}

static const struct hv_ops sim_ops = {
        .name = "sim",
        .close = sim_close,
        .domain_info = sim_domain_info,
        .domain_list = sim_domain_list,
        .domain_pause = sim_domain_pause,
        .domain_unpause = sim_domain_unpause,
        .domain_shutdown = sim_domain_shutdown,
        .domain_destroy = sim_domain_destroy,
        .create_server = sim_create_server,
        .destroy_server = sim_destroy_server,
        .map_range = sim_map_range,
        .set_server_state = sim_set_server_state,
        .pages_open = sim_pages_open,
        .ports_bind = sim_ports_bind,
        .ports_adopt = sim_ports_adopt,
        .set_isa_irq_level = sim_isa_irq,
        .set_pci_intx_level = sim_pci_intx,
        .inject_msi = sim_msi,
        .event_fd = sim_event_fd,
        .event_next = sim_event_next,
};

int hv_sim_open(const char *socket_path, struct hv **ret)
{
	struct hv_sim *hs = calloc(1, sizeof(*hs));
	int r;

	if (!hs)
		return -ENOMEM;
	if (util_strcpy(hs->path, sizeof(hs->path), socket_path) < 0) {
		free(hs);
		return -ENAMETOOLONG;
	}
	r = simc_connect(socket_path, &hs->c);
	if (r < 0) {
		free(hs);
		return r;
	}
	hs->base.ops = &sim_ops;
	*ret = &hs->base;
	return 0;
}
