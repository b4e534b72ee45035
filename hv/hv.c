/* SPDX-License-Identifier: MIT */
/* The backend-neutral half of the hypervisor interface. */
#include "hv/hv.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ipc/simproto.h"

int hv_open(const char *spec, struct hv **ret)
{
	if (!strcmp(spec, "sim"))
		return hv_sim_open(SIM_DEFAULT_SOCKET, ret);
	if (!strncmp(spec, "sim:", 4) && spec[4])
		return hv_sim_open(spec + 4, ret);
	if (!strcmp(spec, "xen"))
		return hv_xen_open(ret);
	return -EINVAL;
}

void hv_close(struct hv *hv)
{
	if (hv)
		hv->ops->close(hv);
}

const char *hv_name(const struct hv *hv)
{
	return hv->ops->name;
}

int hv_domain_info(struct hv *hv, uint32_t domid, struct hv_domain_info *ret)
{
	return hv->ops->domain_info(hv, domid, ret);
}

int hv_domain_list(struct hv *hv, uint32_t *domids, unsigned max, unsigned *ret_n)
{
	return hv->ops->domain_list(hv, domids, max, ret_n);
}

int hv_domain_pause(struct hv *hv, uint32_t domid)
{
	return hv->ops->domain_pause(hv, domid);
}

int hv_domain_unpause(struct hv *hv, uint32_t domid)
{
	return hv->ops->domain_unpause(hv, domid);
}

int hv_domain_shutdown(struct hv *hv, uint32_t domid, enum hv_shutdown_reason reason)
{
	return hv->ops->domain_shutdown(hv, domid, reason);
}

int hv_domain_destroy(struct hv *hv, uint32_t domid)
{
	return hv->ops->domain_destroy(hv, domid);
}

int hv_create_server(struct hv *hv, uint32_t domid, enum hv_bufioreq buf, uint16_t *ret_id)
{
	return hv->ops->create_server(hv, domid, buf, ret_id);
}

int hv_destroy_server(struct hv *hv, uint32_t domid, uint16_t id)
{
	return hv->ops->destroy_server(hv, domid, id);
}

int hv_map_range(struct hv *hv, uint32_t domid, uint16_t id, enum hv_range_type type,
                 uint64_t start, uint64_t end)
{
	return hv->ops->map_range(hv, domid, id, type, start, end, true);
}

int hv_unmap_range(struct hv *hv, uint32_t domid, uint16_t id, enum hv_range_type type,
                   uint64_t start, uint64_t end)
{
	return hv->ops->map_range(hv, domid, id, type, start, end, false);
}

int hv_map_pcidev(struct hv *hv, uint32_t domid, uint16_t id, uint32_t sbdf)
{
	return hv->ops->map_range(hv, domid, id, HV_RANGE_PCI, sbdf, sbdf, true);
}

int hv_unmap_pcidev(struct hv *hv, uint32_t domid, uint16_t id, uint32_t sbdf)
{
	return hv->ops->map_range(hv, domid, id, HV_RANGE_PCI, sbdf, sbdf, false);
}

int hv_set_server_state(struct hv *hv, uint32_t domid, uint16_t id, bool enabled)
{
	return hv->ops->set_server_state(hv, domid, id, enabled);
}

int hv_pages_open(struct hv *hv, uint32_t domid, uint16_t id, struct hv_pages **ret)
{
	return hv->ops->pages_open(hv, domid, id, ret);
}

void hv_pages_free(struct hv_pages *pg)
{
	if (pg)
		pg->free(pg);
}

int hv_ports_bind(struct hv *hv, uint32_t domid, uint16_t id, unsigned nr_vcpus,
                  struct hv_pages *pages, struct hv_ports **ret)
{
	if (nr_vcpus == 0 || nr_vcpus > IOREQ_MAX_VCPUS)
		return -EINVAL;
	return hv->ops->ports_bind(hv, domid, id, nr_vcpus, pages, ret);
}

int hv_ports_adopt(struct hv *hv, uint32_t domid, uint16_t id, unsigned nr_vcpus,
		   struct hv_pages *pages, int fd, const struct dmp_ports *known,
		   struct hv_ports **ret)
{
	if (nr_vcpus == 0 || nr_vcpus > IOREQ_MAX_VCPUS) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	return hv->ops->ports_adopt(hv, domid, id, nr_vcpus, pages, fd, known, ret);
}

void hv_ports_free(struct hv_ports *po)
{
	if (po)
		po->free(po);
}

int hv_release_inflight(struct hv_pages *pg, struct hv_ports *po)
{
	int n = 0;

	for (unsigned v = 0; v < po->nr_vcpus; v++) {
		ioreq_t *slot = &pg->ioreq->vcpu_ioreq[v];
		unsigned state = ioreq_load_state(slot);

		if (state != STATE_IOREQ_READY && state != STATE_IOREQ_INPROCESS)
			continue;
		/* As Xen's null_handler: a read sees all ones, a write went nowhere. */
		if (slot->dir == IOREQ_READ && !slot->data_is_ptr)
			__atomic_store_n(&slot->data, ~0ull, __ATOMIC_RELAXED);
		ioreq_store_state(slot, STATE_IORESP_READY);
		(void)po->notify(po, v);
		n++;
	}
	return n;
}

int hv_set_isa_irq_level(struct hv *hv, uint32_t domid, uint8_t irq, unsigned level)
{
	return hv->ops->set_isa_irq_level(hv, domid, irq, level);
}

int hv_set_pci_intx_level(struct hv *hv, uint32_t domid, uint32_t sbdf, uint8_t pin, unsigned level)
{
	return hv->ops->set_pci_intx_level(hv, domid, sbdf, pin, level);
}

int hv_inject_msi(struct hv *hv, uint32_t domid, uint64_t addr, uint32_t data)
{
	return hv->ops->inject_msi(hv, domid, addr, data);
}

int hv_event_fd(struct hv *hv)
{
	return hv->ops->event_fd(hv);
}

int hv_event_next(struct hv *hv, struct hv_event *ret)
{
	return hv->ops->event_next(hv, ret);
}

const char *hv_range_name(enum hv_range_type type)
{
	switch (type) {
	case HV_RANGE_PORT:
		return "port";
	case HV_RANGE_MMIO:
		return "mmio";
	case HV_RANGE_PCI:
		return "pci";
	}
	return "?";
}
