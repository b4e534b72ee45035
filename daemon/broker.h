/* SPDX-License-Identifier: MIT */
/*
 * dmbrokerd's core: the event loop, the table of attached domains and their
 * device models, and the flows of ARCHITECTURE section 4 (attach, DM death,
 * guest death, detach).  Split by role:
 *
 *   broker.c     the loop, signals, hypervisor lifecycle events, the tables
 *   attach.c     attach with complete rollback, detach, teardown
 *   dm.c         one device model's life: server, spawn, handoff, stop
 *   dmchan.c     what a device model may say, per state, and DM-op checks
 *   supervise.c  reacting to a device model's death: on_crash with backoff
 *   control.c    the dmbrokerctl socket: SO_PEERCRED, JSON commands
 *   logring.c    device models' stdout/stderr as log lines and a ring
 */
#ifndef DMB_DAEMON_BROKER_H
#define DMB_DAEMON_BROKER_H

#include <stdbool.h>
#include <stdint.h>

struct broker_config {
	const char *hypervisor; /* "sim", "sim:SOCKET" or "xen" */
	const char *policy_path;
	const char *control_path;
	const char *state_dir;
	const char *libexec_dir;   /* replaces /usr/libexec/dm-broker in exec paths (build trees) */
	const char *admin_group;   /* may use the control socket besides root; NULL: root only */
	const char *cgroup_root;   /* NULL: find our own delegated cgroup v2 */
	unsigned ready_timeout_ms; /* a device model must report ready within this */
	bool stop_on_exit;         /* SIGTERM: stop every device model (default: leave them running) */
	bool no_auto_attach;       /* attach only on `dmbrokerctl attach` */
};

struct broker;

/* Startup: open the hypervisor, load the policy, listen.  Returns -errno (logged). */
int broker_new(const struct broker_config *cfg, struct broker **ret);
/* Run until SIGTERM/SIGINT; returns 0 on an orderly exit. */
int broker_run(struct broker *b);
void broker_free(struct broker *b);

#endif
