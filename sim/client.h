/* SPDX-License-Identifier: MIT */
/* A client of the simulator's socket: used by hv/hv_sim.c, dmbsimctl and tests. */
#ifndef DMB_SIM_CLIENT_H
#define DMB_SIM_CLIENT_H

#include "ipc/frame.h"
#include "ipc/simproto.h"

struct simc;

int simc_connect(const char *path, struct simc **ret);
void simc_close(struct simc *c);
int simc_fd(const struct simc *c);

/*
 * One request, one reply.  Returns the reply's result (>= 0 or -errno) or a
 * transport -errno.  fds received with the reply are stored in ret_fds (up
 * to max_fds, the rest closed) and owned by the caller; *ret_nfds counts them.
 */
int simc_call(struct simc *c, uint16_t type, const struct sim_req *req, struct sim_reply *reply,
              int *ret_fds, unsigned max_fds, unsigned *ret_nfds);

/* Load a scenario and run it; fn sees each op's result as it completes. */
typedef void (*simc_result_fn)(void *opaque, const struct sim_scn_result *res);
int simc_run_scenario(struct simc *c, uint32_t domid, const struct scn_op *ops, unsigned n_ops,
                      uint32_t timeout_ms, simc_result_fn fn, void *opaque,
                      struct sim_reply *reply);

/* Lifecycle events after SIM_WATCH: -EAGAIN when none is queued (non-blocking). */
int simc_next_event(struct simc *c, struct sim_event *ret);

#endif
