/* SPDX-License-Identifier: MIT */
/*
 * The real-Xen backend of the hypervisor interface.
 *
 * Stable libraries for everything they offer: libxendevicemodel (ioreq
 * servers, ranges, interrupts, shutdown), libxenforeignmemory (the broker's
 * own mapping of a server's pages, by XENMEM_acquire_resource - never in the
 * guest's physmap), libxenevtchn (binding a server's ports), libxenstore
 * (domain names and the @introduceDomain/@releaseDomain watches).
 * libxenctrl, whose ABI changes with every Xen release, only for what has no
 * stable equivalent: listing domains with their paused/dying flags, pause,
 * unpause and destroy.
 *
 * What a device model gets: a privcmd fd restricted to its guest (to map its
 * own server's frames with IOCTL_PRIVCMD_MMAP_RESOURCE) and an evtchn fd on
 * which the broker bound exactly that server's ports and then restricted to
 * the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xenstore.h>
#include <xen/sys/privcmd.h>

#include "common/util.h"
#include "hv/hv.h"

#define XEN_LIST_MAX   1024
#define XEN_EVENTS_MAX 256

struct hv_xen {
	struct hv base;
	xendevicemodel_handle *dm;
	xenforeignmemory_handle *fm;
	xc_interface *xc;
	struct xs_handle *xs;
	bool watching;
	/* Lifecycle: the domains we last saw, and events not yet taken. */
	uint32_t known[XEN_LIST_MAX];
	unsigned n_known;
	struct hv_event queue[XEN_EVENTS_MAX];
	unsigned q_head, q_len;
};

struct hv_xen_pages {
	struct hv_pages base;
	struct hv_xen *hx;
	xenforeignmemory_resource_handle *res;
};

struct hv_xen_ports {
	struct hv_ports base;
	xenevtchn_handle *xce;
	uint32_t domid;
	uint32_t local[DMP_MAX_VCPUS];
	bool has_buf;
	uint32_t buf_local;
};

#define HX(hv) ((struct hv_xen *)(hv))

/* The libraries report errors in errno; make it a negative errno, never 0. */
static int err(void)
{
	return errno ? -errno : -EIO;
}

static int call_rc(int rc)
{
	return rc < 0 ? err() : 0;
}

static void xen_close(struct hv *hv)
{
	struct hv_xen *hx = HX(hv);

	if (hx->dm)
		xendevicemodel_close(hx->dm);
	if (hx->fm)
		xenforeignmemory_close(hx->fm);
	if (hx->xc)
		xc_interface_close(hx->xc);
	if (hx->xs)
		xs_close(hx->xs);
	free(hx);
}

/* ---- domains (libxenctrl + libxenstore) ---------------------------------- */

static int getinfo(struct hv_xen *hx, uint32_t domid, xc_domaininfo_t *ret)
{
	xc_domaininfo_t info = {0};
	int n = xc_domain_getinfolist(hx->xc, domid, 1, &info);

	if (n < 0)
		return err();
	if (n != 1 || info.domain != domid)
		return -ESRCH;
	*ret = info;
	return 0;
}

static void read_name(struct hv_xen *hx, uint32_t domid, char *buf, size_t len)
{
	char path[64];
	unsigned int n = 0;
	char *name;

	snprintf(path, sizeof(path), "/local/domain/%u/name", domid);
	name = xs_read(hx->xs, XBT_NULL, path, &n);
	snprintf(buf, len, "%s", name ? name : "");
	free(name);
}

static int xen_domain_info(struct hv *hv, uint32_t domid, struct hv_domain_info *ret)
{
	struct hv_xen *hx = HX(hv);
	struct hv_domain_info info = {.domid = domid};
	xc_domaininfo_t xi = {0};
	int r = getinfo(hx, domid, &xi);

	if (r < 0)
		return r;
	info.nr_vcpus = xi.max_vcpu_id == XEN_INVALID_MAX_VCPU_ID ? 0 : xi.max_vcpu_id + 1;
	info.paused = xi.flags & XEN_DOMINF_paused;
	info.shutdown = xi.flags & XEN_DOMINF_shutdown;
	info.dying = xi.flags & XEN_DOMINF_dying;
	read_name(hx, domid, info.name, sizeof(info.name));
	*ret = info;
	return 0;
}

static bool contains(const uint32_t *ids, unsigned n, uint32_t id)
{
	for (unsigned i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/*
 * The domains that are there for the broker: introduced to xenstore and not
 * dying.  Xen lists a domain from the moment it is created, long before the
 * toolstack has built it, written its name and introduced it (libxl does
 * that last, and xenstored then fires @introduceDomain): matched then, it
 * would have no name, and an attach would race its construction.  A domain
 * that is not there yet is asked about again on every call, so the watch
 * that announces it finds it new.  A dying domain is gone: it only dies
 * completely once its device models and we have let go of its pages.
 * Domains in hx->known were introduced already: xenstore is not asked again.
 */
static int list_domains(struct hv_xen *hx, uint32_t *domids, unsigned max, unsigned *ret_n)
{
	xc_domaininfo_t *info = calloc(max, sizeof(*info));
	unsigned k = 0;
	int n;

	if (!info)
		return -ENOMEM;
	n = xc_domain_getinfolist(hx->xc, 0, max, info);
	if (n < 0) {
		n = err();
		free(info);
		return n;
	}
	for (int i = 0; i < n; i++) {
		uint32_t d = info[i].domain;

		if (info[i].flags & XEN_DOMINF_dying)
			continue;
		if (contains(hx->known, hx->n_known, d) || xs_is_domain_introduced(hx->xs, d))
			domids[k++] = d;
	}
	*ret_n = k;
	free(info);
	return 0;
}

static int xen_domain_list(struct hv *hv, uint32_t *domids, unsigned max, unsigned *ret_n)
{
	return list_domains(HX(hv), domids, MIN(max, (unsigned)XEN_LIST_MAX), ret_n);
}

static int xen_domain_pause(struct hv *hv, uint32_t domid)
{
	return call_rc(xc_domain_pause(HX(hv)->xc, domid));
}

static int xen_domain_unpause(struct hv *hv, uint32_t domid)
{
	return call_rc(xc_domain_unpause(HX(hv)->xc, domid));
}

static int xen_domain_shutdown(struct hv *hv, uint32_t domid, enum hv_shutdown_reason reason)
{
	return call_rc(xendevicemodel_shutdown(HX(hv)->dm, (domid_t)domid, reason));
}

static int xen_domain_destroy(struct hv *hv, uint32_t domid)
{
	return call_rc(xc_domain_destroy(HX(hv)->xc, domid));
}

/* ---- ioreq servers (libxendevicemodel) ------------------------------------ */

static int xen_create_server(struct hv *hv, uint32_t domid, enum hv_bufioreq buf, uint16_t *ret_id)
{
	struct hv_xen *hx = HX(hv);
	ioservid_t id;

	if (xendevicemodel_create_ioreq_server(hx->dm, (domid_t)domid, (int)buf, &id) < 0)
		return err();
	/*
	 * NULL gfns: Xen sets XEN_DMOP_no_gfns and never puts the pages in the
	 * guest's physmap (asking for the gfns would, and would then refuse
	 * acquire_resource with -EPERM).
	 */
	if (xendevicemodel_get_ioreq_server_info(hx->dm, (domid_t)domid, id, NULL, NULL, NULL) <
	    0) {
		int r = err();
		(void)xendevicemodel_destroy_ioreq_server(hx->dm, (domid_t)domid, id);
		return r;
	}
	*ret_id = id;
	return 0;
}

static int xen_destroy_server(struct hv *hv, uint32_t domid, uint16_t id)
{
	xc_domaininfo_t info = {0};
	int r = call_rc(xendevicemodel_destroy_ioreq_server(HX(hv)->dm, (domid_t)domid, id));

	/* A dying domain's servers went with it (Xen destroys them all at domain_kill). */
	if (r == -ENOENT &&
	    (getinfo(HX(hv), domid, &info) == -ESRCH || (info.flags & XEN_DOMINF_dying)))
		return -ESRCH;
	return r;
}

static int xen_map_range(struct hv *hv, uint32_t domid, uint16_t id, enum hv_range_type type,
                         uint64_t start, uint64_t end, bool map)
{
	struct hv_xen *hx = HX(hv);
	domid_t d = (domid_t)domid;

	if (type == HV_RANGE_PCI) {
		uint32_t s = (uint32_t)start;
		uint16_t seg = (uint16_t)IOREQ_SBDF_SEG(s);
		uint8_t bus = (uint8_t)IOREQ_SBDF_BUS(s), dev = (uint8_t)IOREQ_SBDF_DEV(s),
		        fn = (uint8_t)IOREQ_SBDF_FN(s);

		if (start != end || start > UINT32_MAX)
			return -EINVAL;
		return call_rc(map ? xendevicemodel_map_pcidev_to_ioreq_server(hx->dm, d, id, seg,
		                                                               bus, dev, fn)
		                   : xendevicemodel_unmap_pcidev_from_ioreq_server(
		                             hx->dm, d, id, seg, bus, dev, fn));
	}
	return call_rc(map ? xendevicemodel_map_io_range_to_ioreq_server(
	                             hx->dm, d, id, type == HV_RANGE_MMIO, start, end)
	                   : xendevicemodel_unmap_io_range_from_ioreq_server(
	                             hx->dm, d, id, type == HV_RANGE_MMIO, start, end));
}

static int xen_set_server_state(struct hv *hv, uint32_t domid, uint16_t id, bool enabled)
{
	return call_rc(
	        xendevicemodel_set_ioreq_server_state(HX(hv)->dm, (domid_t)domid, id, enabled));
}

/* ---- pages (libxenforeignmemory; privcmd for device models) ---------------- */

static void pages_free(struct hv_pages *pg)
{
	struct hv_xen_pages *p = (struct hv_xen_pages *)pg;

	if (p->res)
		(void)xenforeignmemory_unmap_resource(p->hx->fm, p->res);
	free(p);
}

/*
 * A privcmd fd restricted to the guest: it can map that guest's resources
 * (the device model maps its server's frames with it), and nothing of any
 * other domain; IOCTL_PRIVCMD_HYPERCALL fails once restricted, and the
 * device model's seccomp filter kills DM_OP (docs/trust-model.md).
 */
static int pages_export(struct hv_pages *pg, struct dmp_pages *msg, int *fds, unsigned *nfds)
{
	domid_t dom = (domid_t)pg->domid;
	int fd = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, IOCTL_PRIVCMD_RESTRICT, &dom) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	*msg = (struct dmp_pages){.kind = DMP_PAGES_PRIVCMD,
	                          .domid = pg->domid,
	                          .server_id = pg->server_id,
	                          .has_buf = pg->bufioreq != NULL};
	fds[0] = fd;
	*nfds = 1;
	return 0;
}

static int xen_pages_open(struct hv *hv, uint32_t domid, uint16_t id, struct hv_pages **ret)
{
	struct hv_xen *hx = HX(hv);
	struct hv_xen_pages *p = calloc(1, sizeof(*p));
	unsigned long frame = XENMEM_resource_ioreq_server_frame_bufioreq;
	unsigned long n = 2;
	void *addr = NULL;
	size_t size = 0;
	int r;

	if (!p)
		return -ENOMEM;
	/* Frame 0, the buffered page, exists only when the server has a ring. */
	if (xenforeignmemory_resource_size(hx->fm, (domid_t)domid, XENMEM_resource_ioreq_server, id,
	                                   &size) == 0 &&
	    size < 2 * IOREQ_PAGE_SIZE) {
		frame = XENMEM_resource_ioreq_server_frame_ioreq(0);
		n = 1;
	}
	p->res = xenforeignmemory_map_resource(hx->fm, (domid_t)domid, XENMEM_resource_ioreq_server,
	                                       id, frame, n, &addr, PROT_READ | PROT_WRITE, 0);
	if (!p->res && n == 2 && errno == ENOENT) {
		/* No ring (BUFIOREQ_OFF): Xen refuses frame 0 with -ENOENT. */
		frame = XENMEM_resource_ioreq_server_frame_ioreq(0);
		n = 1;
		p->res = xenforeignmemory_map_resource(hx->fm, (domid_t)domid,
		                                       XENMEM_resource_ioreq_server, id, frame, n,
		                                       &addr, PROT_READ | PROT_WRITE, 0);
	}
	if (!p->res) {
		r = err();
		free(p);
		return r;
	}
	p->hx = hx;
	p->base.free = pages_free;
	p->base.export = pages_export;
	p->base.domid = domid;
	p->base.server_id = id;
	if (n == 2) {
		p->base.bufioreq = addr;
		p->base.ioreq = (shared_iopage_t *)((char *)addr + IOREQ_PAGE_SIZE);
	} else {
		p->base.ioreq = addr;
	}
	*ret = &p->base;
	return 0;
}

/* ---- ports (libxenevtchn) --------------------------------------------------- */

static void ports_free(struct hv_ports *po)
{
	struct hv_xen_ports *p = (struct hv_xen_ports *)po;

	if (p->xce)
		xenevtchn_close(p->xce); /* the last holder: the ports unbind */
	free(p);
}

static int ports_export(struct hv_ports *po, struct dmp_ports *msg, int *fds, unsigned *nfds)
{
	struct hv_xen_ports *p = (struct hv_xen_ports *)po;

	memset(msg, 0, sizeof(*msg));
	msg->kind = DMP_PORTS_EVTCHN;
	msg->nr_vcpus = po->nr_vcpus;
	msg->has_buf = p->has_buf;
	msg->buf_port = p->buf_local;
	memcpy(msg->port, p->local, po->nr_vcpus * sizeof(uint32_t));
	/* The same open file: the device model and we share the bound ports (we never read it). */
	fds[0] = xenevtchn_fd(p->xce);
	*nfds = 1;
	return 0;
}

static int ports_notify(struct hv_ports *po, unsigned vcpu)
{
	struct hv_xen_ports *p = (struct hv_xen_ports *)po;

	if (vcpu >= po->nr_vcpus)
		return -EINVAL;
	return call_rc(xenevtchn_notify(p->xce, p->local[vcpu]));
}

static int bind_port(struct hv_xen_ports *p, uint32_t remote, uint32_t *ret_local)
{
	xenevtchn_port_or_error_t l = xenevtchn_bind_interdomain(p->xce, p->domid, remote);

	if (l < 0)
		return err();
	*ret_local = (uint32_t)l;
	return 0;
}

/* An empty set of ports for the domain's vCPUs, no evtchn handle yet. */
static struct hv_xen_ports *ports_new(uint32_t domid, unsigned nr_vcpus)
{
	struct hv_xen_ports *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->domid = domid;
	p->base.nr_vcpus = nr_vcpus;
	p->base.free = ports_free;
	p->base.export = ports_export;
	p->base.notify = ports_notify;
	return p;
}

static int xen_ports_bind(struct hv *hv, uint32_t domid, uint16_t id, unsigned nr_vcpus,
                          struct hv_pages *pages, struct hv_ports **ret)
{
	struct hv_xen *hx = HX(hv);
	struct hv_xen_ports *p = ports_new(domid, nr_vcpus);
	evtchn_port_t buf_remote = 0;
	int r = 0;

	if (!p)
		return -ENOMEM;
	/* A fresh handle per server, so that restricting it narrows exactly these ports. */
	p->xce = xenevtchn_open(NULL, 0);
	if (!p->xce) {
		r = err();
		goto fail;
	}
	/* vp_eport is in the page only once the server is enabled. */
	for (unsigned v = 0; r == 0 && v < nr_vcpus; v++) {
		uint32_t remote =
		        __atomic_load_n(&pages->ioreq->vcpu_ioreq[v].vp_eport, __ATOMIC_ACQUIRE);
		r = remote ? bind_port(p, remote, &p->local[v]) : -EINVAL;
	}
	if (r == 0 && pages->bufioreq) {
		if (xendevicemodel_get_ioreq_server_info(hx->dm, (domid_t)domid, id, NULL, NULL,
		                                         &buf_remote) < 0)
			r = err();
		else if ((r = bind_port(p, buf_remote, &p->buf_local)) == 0)
			p->has_buf = true;
	}
	/* Bound ports survive the restriction; nothing else can be bound through it now. */
	if (r == 0 && xenevtchn_restrict(p->xce, (domid_t)domid) < 0)
		r = err();
	if (r < 0)
		goto fail;
	*ret = &p->base;
	return 0;
fail:
	ports_free(&p->base);
	return r;
}

/*
 * The fd a device model kept for us must be an event-channel device, not
 * whatever it chose to leave at that number: the broker ioctls it and hands
 * it to the device model's successor.  (A device model cannot open
 * /dev/xen/evtchn in its jail, so an evtchn fd it holds is the one it was
 * given, restricted to its guest.)
 */
static bool is_evtchn_fd(int fd)
{
	struct stat st, dev;

	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && stat("/dev/xen/evtchn", &dev) == 0 &&
	       S_ISCHR(dev.st_mode) && st.st_rdev == dev.st_rdev;
}

static int xen_ports_adopt(struct hv *hv, uint32_t domid, uint16_t id, unsigned nr_vcpus,
                           struct hv_pages *pages, int fd, const struct dmp_ports *known,
                           struct hv_ports **ret)
{
	struct hv_xen_ports *p;
	int r;

	(void)hv, (void)id, (void)pages;
	if (fd < 0 || !known || known->kind != DMP_PORTS_EVTCHN || known->nr_vcpus != nr_vcpus ||
	    !is_evtchn_fd(fd)) {
		util_close(fd);
		return -EINVAL;
	}
	p = ports_new(domid, nr_vcpus);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	/* The fd the device model kept: its ports are bound on it, restricted already. */
	p->xce = xenevtchn_fdopen(NULL, fd, 0);
	if (!p->xce) {
		r = err();
		close(fd);
		free(p);
		return r;
	}
	memcpy(p->local, known->port, nr_vcpus * sizeof(uint32_t));
	p->has_buf = known->has_buf;
	p->buf_local = known->buf_port;
	*ret = &p->base;
	return 0;
}

/* ---- interrupts ------------------------------------------------------------- */

static int xen_isa_irq(struct hv *hv, uint32_t domid, uint8_t irq, unsigned level)
{
	return call_rc(xendevicemodel_set_isa_irq_level(HX(hv)->dm, (domid_t)domid, irq, level));
}

static int xen_pci_intx(struct hv *hv, uint32_t domid, uint32_t sbdf, uint8_t pin, unsigned level)
{
	return call_rc(xendevicemodel_set_pci_intx_level(
	        HX(hv)->dm, (domid_t)domid, (uint16_t)IOREQ_SBDF_SEG(sbdf),
	        (uint8_t)IOREQ_SBDF_BUS(sbdf), (uint8_t)IOREQ_SBDF_DEV(sbdf), pin, level));
}

static int xen_msi(struct hv *hv, uint32_t domid, uint64_t addr, uint32_t data)
{
	return call_rc(xendevicemodel_inject_msi(HX(hv)->dm, (domid_t)domid, addr, data));
}

/* ---- lifecycle (xenstore watches) ---------------------------------------- */

static bool enqueue(struct hv_xen *hx, enum hv_event_kind kind, uint32_t domid)
{
	if (hx->q_len == XEN_EVENTS_MAX)
		return false; /* dropped: the next rescan reports the difference again */
	hx->queue[(hx->q_head + hx->q_len++) % XEN_EVENTS_MAX] =
	        (struct hv_event){.kind = kind, .domid = domid};
	return true;
}

/*
 * A watch fired: compare the domains that are there (list_domains) with
 * what we knew.  A domain that is not there yet (created, not introduced)
 * is not known either, so the next watch event looks at it again; it is
 * known from the event that reported it new until the one that reported it
 * gone.
 */
static void rescan(struct hv_xen *hx)
{
	uint32_t now[XEN_LIST_MAX], next[XEN_LIST_MAX];
	unsigned n = 0, k = 0;

	if (list_domains(hx, now, XEN_LIST_MAX, &n) < 0)
		return;
	for (unsigned i = 0; i < hx->n_known; i++)
		if (contains(now, n, hx->known[i]) ||
		    !enqueue(hx, HV_EVENT_DOMAIN_GONE, hx->known[i]))
			next[k++] = hx->known[i];
	for (unsigned i = 0; i < n && k < XEN_LIST_MAX; i++)
		if (!contains(hx->known, hx->n_known, now[i]) &&
		    enqueue(hx, HV_EVENT_DOMAIN_NEW, now[i]))
			next[k++] = now[i];
	memcpy(hx->known, next, k * sizeof(next[0]));
	hx->n_known = k;
}

static int xen_event_fd(struct hv *hv)
{
	struct hv_xen *hx = HX(hv);

	if (!hx->watching) {
		uint32_t now[XEN_LIST_MAX];
		unsigned n = 0;
		int r = list_domains(hx, now, XEN_LIST_MAX, &n);

		if (r < 0)
			return r;
		memcpy(hx->known, now, n * sizeof(now[0]));
		hx->n_known = n;
		if (!xs_watch(hx->xs, "@introduceDomain", "dmb-intro") ||
		    !xs_watch(hx->xs, "@releaseDomain", "dmb-release"))
			return err();
		hx->watching = true;
	}
	return xs_fileno(hx->xs);
}

static int xen_event_next(struct hv *hv, struct hv_event *ret)
{
	struct hv_xen *hx = HX(hv);
	char **w;
	bool fired = false;

	while ((w = xs_check_watch(hx->xs))) {
		free(w);
		fired = true;
	}
	/*
	 * @releaseDomain also fires when a domain shuts down, and either watch
	 * when any domain does anything: the list decides.
	 */
	if (fired)
		rescan(hx);
	if (!hx->q_len)
		return -EAGAIN;
	*ret = hx->queue[hx->q_head];
	hx->q_head = (hx->q_head + 1) % XEN_EVENTS_MAX;
	hx->q_len--;
	return 0;
}

static const struct hv_ops xen_ops = {
        .name = "xen",
        .close = xen_close,
        .domain_info = xen_domain_info,
        .domain_list = xen_domain_list,
        .domain_pause = xen_domain_pause,
        .domain_unpause = xen_domain_unpause,
        .domain_shutdown = xen_domain_shutdown,
        .domain_destroy = xen_domain_destroy,
        .create_server = xen_create_server,
        .destroy_server = xen_destroy_server,
        .map_range = xen_map_range,
        .set_server_state = xen_set_server_state,
        .pages_open = xen_pages_open,
        .ports_bind = xen_ports_bind,
        .ports_adopt = xen_ports_adopt,
        .set_isa_irq_level = xen_isa_irq,
        .set_pci_intx_level = xen_pci_intx,
        .inject_msi = xen_msi,
        .event_fd = xen_event_fd,
        .event_next = xen_event_next,
};

int hv_xen_open(struct hv **ret)
{
	struct hv_xen *hx = calloc(1, sizeof(*hx));
	int r;

	if (!hx)
		return -ENOMEM;
	hx->base.ops = &xen_ops;
	hx->dm = xendevicemodel_open(NULL, 0);
	hx->fm = xenforeignmemory_open(NULL, 0);
	hx->xc = xc_interface_open(NULL, NULL, 0);
	hx->xs = xs_open(0);
	if (!hx->dm || !hx->fm || !hx->xc || !hx->xs) {
		r = err();
		xen_close(&hx->base);
		return r;
	}
	*ret = &hx->base;
	return 0;
}
