/* SPDX-License-Identifier: MIT */
#include "daemon/handoff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc/frame.h"

int handoff_send_setup(int sock, const struct dmp_hello *hello, const struct handoff_claims *c,
                       struct hv_pages *pages)
{
	struct dmp_claims *msg = calloc(1, sizeof(*msg));
	struct dmp_pages pmsg;
	int fds[2];
	unsigned nfds = 0;
	int r;

	if (!msg)
		return -ENOMEM;
	r = frame_send(sock, DMP_HELLO, 0, hello, sizeof(*hello), NULL, 0);
	for (unsigned k = 0; r == 0 && k < DMP_CLAIM_KINDS; k++) {
		memset(msg, 0, sizeof(*msg));
		msg->kind = k;
		msg->n = c->n[k];
		memcpy(msg->r, c->r[k], c->n[k] * sizeof(msg->r[0]));
		r = frame_send(sock, DMP_CLAIMS, 0, msg, sizeof(*msg), NULL, 0);
	}
	free(msg);
	if (r < 0)
		return r;
	r = pages->export(pages, &pmsg, fds, &nfds);
	if (r < 0)
		return r;
	r = frame_send(sock, DMP_PAGES, 0, &pmsg, sizeof(pmsg), fds, nfds);
	/* The device model has its own copies now (or never will): ours go. */
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	return r;
}

int handoff_send_ports(int sock, struct hv_ports *ports)
{
	struct dmp_ports msg;
	int fds[DMP_MAX_PORT_FDS];
	unsigned nfds = 0;
	int r = ports->export(ports, &msg, fds, &nfds);

	if (r < 0)
		return r;
	return frame_send(sock, DMP_PORTS, 0, &msg, sizeof(msg), fds, nfds);
}

static int map_one(struct hv *hv, uint32_t domid, uint16_t id, unsigned kind,
                   const struct dmp_range *r, bool map)
{
	if (kind == DMP_CLAIM_PCI)
		return map ? hv_map_pcidev(hv, domid, id, (uint32_t)r->start)
		           : hv_unmap_pcidev(hv, domid, id, (uint32_t)r->start);
	return map ? hv_map_range(hv, domid, id, (enum hv_range_type)kind, r->start, r->end)
	           : hv_unmap_range(hv, domid, id, (enum hv_range_type)kind, r->start, r->end);
}

int handoff_map_claims(struct hv *hv, uint32_t domid, uint16_t id, const struct handoff_claims *c)
{
	for (unsigned k = 0; k < DMP_CLAIM_KINDS; k++) {
		for (unsigned i = 0; i < c->n[k]; i++) {
			int r = map_one(hv, domid, id, k, &c->r[k][i], true);
			if (r == 0)
				continue;
			/* Roll back exactly what this call mapped. */
			while (i-- > 0)
				(void)map_one(hv, domid, id, k, &c->r[k][i], false);
			while (k-- > 0)
				for (unsigned j = 0; j < c->n[k]; j++)
					(void)map_one(hv, domid, id, k, &c->r[k][j], false);
			return r;
		}
	}
	return 0;
}

void handoff_unmap_claims(struct hv *hv, uint32_t domid, uint16_t id,
                          const struct handoff_claims *c)
{
	for (unsigned k = 0; k < DMP_CLAIM_KINDS; k++)
		for (unsigned i = 0; i < c->n[k]; i++)
			(void)map_one(hv, domid, id, k, &c->r[k][i], false);
}
