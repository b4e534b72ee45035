/* SPDX-License-Identifier: MIT */
/*
 * The broker's half of a device model's handoff (ipc/dmproto.h): the
 * messages that give a device model its identity, claims, pages and ports.
 * Synchronous sends on a fresh socketpair; used by the broker and by tests
 * that play the broker.
 */
#ifndef DMB_DAEMON_HANDOFF_H
#define DMB_DAEMON_HANDOFF_H

#include "hv/hv.h"
#include "ipc/dmproto.h"

struct handoff_claims {
	unsigned n[DMP_CLAIM_KINDS];
	struct dmp_range r[DMP_CLAIM_KINDS][DMP_MAX_RANGES];
};

/* HELLO, the three CLAIMS messages and PAGES (fresh page fds, closed after sending). */
int handoff_send_setup(int sock, const struct dmp_hello *hello, const struct handoff_claims *c,
                       struct hv_pages *pages);
/* PORTS (the ports object keeps its fds). */
int handoff_send_ports(int sock, struct hv_ports *ports);

/* Claim every range of c on server id of domid; on failure unmap what was mapped. */
int handoff_map_claims(struct hv *hv, uint32_t domid, uint16_t id, const struct handoff_claims *c);
void handoff_unmap_claims(struct hv *hv, uint32_t domid, uint16_t id,
                          const struct handoff_claims *c);

#endif
