/* SPDX-License-Identifier: MIT */
/* The state directory a restarted broker re-adopts from (daemon/state.c, daemon/adopt.c). */
#ifndef DMB_DAEMON_STATE_H
#define DMB_DAEMON_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct broker;
struct bdomain;

int state_init(struct broker *b);
/* Write (replace) the domain's file; a no-op until the attach is complete. */
int state_save_domain(struct bdomain *d);
/*
 * For saves a device model can cause (a BAR move): at once, unless the
 * domain was saved less than 10 ms ago; then state_flush_domain() saves it
 * from the broker's 1 s timer.  A device model moving a BAR in a loop gets
 * at most 100 file writes a second out of the broker, not 2000.
 */
void state_save_domain_soon(struct bdomain *d);
void state_flush_domain(struct bdomain *d);
void state_remove_domain(struct broker *b, uint32_t domid);
/* The path of a policy snapshot named in a domain file. */
int state_policy_path(struct broker *b, const char *snapshot, char *buf, size_t len);
/* The kernel's boot id (/proc/sys/kernel/random/boot_id). */
int state_boot_id(char *buf, size_t len);
/* A process's start time (clock ticks since boot), to tell it from a recycled pid. */
int state_start_time(pid_t pid, uint64_t *ret);

/* daemon/adopt.c: take over what the state directory and the hypervisor say exists. */
int adopt_all(struct broker *b);

#endif
