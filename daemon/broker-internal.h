/* SPDX-License-Identifier: MIT */
/* dmbrokerd's internal structures, shared by the daemon/ files listed in broker.h. */
#ifndef DMB_DAEMON_BROKER_INTERNAL_H
#define DMB_DAEMON_BROKER_INTERNAL_H

#include <event2/event.h>
#include <json-c/json.h>
#include <sys/types.h>

#include "daemon/broker.h"
#include "daemon/events.h"
#include "daemon/handoff.h"
#include "daemon/metrics.h"
#include "daemon/logring.h"
#include "daemon/policy.h"
#include "daemon/sandbox.h"
#include "hv/hv.h"

#define BROKER_MAX_DOMAINS 4096 /* attached at once */
#define DM_MSG_BURST       16   /* frames handled per wake-up, for fairness */
#define DM_MSG_RATE_MAX    2000 /* frames a second before a device model is cut off */
/* Audit records of one DM-op and outcome a second, per device model; the rest are counted. */
#define DM_AUDIT_PER_SEC   10
#define DM_AUDIT_KEYS      10   /* (DMP_DMOP_* 0-4) x (granted, refused) */
#define DM_STOP_TIMEOUT_MS 1000 /* orderly stop, then SIGKILL */

enum dm_state {
	DM_NEW = 0,      /* server prepared, no process */
	DM_HANDOFF,      /* process started, handoff sent, waiting for READY */
	DM_READY,        /* reported ready, waiting for the rest of the domain (attach) */
	DM_RUNNING,      /* ports handed over; serving */
	DM_RESTART_WAIT, /* died; a restart is scheduled */
	DM_FAILED,       /* died and stays down (on_crash said so, or restarts exhausted) */
	DM_STOPPED,      /* stopped on purpose (detach) */
};

struct bdomain;

struct bdm {
	struct bdomain *dom;
	const struct policy_dm *cfg; /* in dom->policy, which the domain holds a reference to */
	unsigned index;
	enum dm_state state;
	/* the ioreq server: outlives the process */
	bool server_created;
	uint16_t server;
	struct hv_pages *pages;
	struct hv_ports *ports;
	struct handoff_claims claims; /* live claims: BAR moves change the MMIO ones */
	/* the process */
	pid_t pid;
	int pidfd;
	int sock;
	uid_t uid;
	gid_t gid;
	bool uid_from_pool;
	int cgroup_fd;
	char cgroup_name[80];
	struct event *ev_sock, *ev_pid, *ev_timer;
	struct logcap *log;
	uint64_t started_ns;
	uint64_t start_time; /* of pid, in clock ticks since boot (/proc/PID/stat): its identity */
	int last_status;     /* wait status of the last exit */
	/* supervision */
	unsigned restarts; /* total restarts since attach */
	/* Recent crash times, for the restart window: max_restarts + 1 must fit. */
	uint64_t crash_ns[POLICY_MAX_RESTARTS + 1];
	unsigned n_crashes;
	/* what the device model told us, and flood control */
	struct dmp_stats stats;
	uint64_t rate_window_ns;
	unsigned rate_count;
	uint32_t next_req_id;
	/*
	 * A STATS_REQ not yet answered: no second one is sent.  A busy device
	 * model reads its channel only when idle, and an AF_UNIX seqpacket queue
	 * holds about 11 messages; a queue full of requests would make the reply
	 * to its next DM-op fail.
	 */
	bool stats_pending;
	unsigned dmops_granted, dmops_refused;
	/*
	 * A UART raises an interrupt per byte: one log line (and journal entry)
	 * per DM-op would have journald rate-limit the whole broker.  Each second
	 * lists DM_AUDIT_PER_SEC of each op and outcome, then one line with the
	 * count of the rest.
	 */
	uint64_t audit_window_ns;
	uint16_t audit_listed[DM_AUDIT_KEYS];
	uint32_t audit_held[DM_AUDIT_KEYS];
};

enum bdomain_state { BD_ATTACHING, BD_RUNNING, BD_DETACHING };

struct attach_waiter;

struct bdomain {
	struct broker *b;
	uint32_t domid;
	char name[HV_DOMAIN_NAME_MAX];
	unsigned nr_vcpus;
	struct policy *policy;
	const struct policy_guest *guest;
	enum bdomain_state state;
	unsigned n_dms;
	struct bdm dms[POLICY_MAX_DMS];
	struct event *ev_timeout; /* attach deadline */
	struct event *ev_fail;    /* a failed attach is undone from the loop, not from a callback */
	int fail_result;
	char fail_msg[160];
	struct attach_waiter *waiters;
	uint64_t attached_ns;
	/* Its policy snapshot's name in the state directory, once written ("" before). */
	char snapshot[17];
	/* State saves a device model causes (BAR moves) at most every STATE_SAVE_GAP_NS. */
	uint64_t saved_ns;
	bool save_pending;
};

struct control;
struct uidpool;
struct cgroup_root;

struct broker {
	struct broker_config cfg;
	struct event_base *base;
	struct hv *hv;
	struct policy *policy;
	struct control *ctl;
	struct uidpool *uids;
	struct cgroup_root *cg;
	char cgroup_status[256];
	char sandbox_status[256];
	char jail_dir[256];
	struct event *ev_sigterm, *ev_sigint, *ev_sighup, *ev_hv, *ev_stats, *ev_watchdog;
	unsigned status_running, status_total, status_domains; /* last STATUS= sent */
	struct bdomain *dom[BROKER_MAX_DOMAINS];
	unsigned n_domains;
	uint64_t started_ns;
	/* counters for status and metrics */
	unsigned long attaches, detaches, crashes, restarts, kills;
	struct events *events;
	struct metrics_histogram launch_hist, handoff_hist;
	bool quitting;
	int state_lock; /* flock on STATE/lock: one broker per state directory */
};

/* broker.c */
struct bdomain *broker_find_domain(struct broker *b, uint32_t domid);
int broker_add_domain(struct broker *b, struct bdomain *d);
void broker_remove_domain(struct broker *b, struct bdomain *d);
/* An event for the log (and, later, the events stream). */
void broker_event(struct broker *b, const char *kind, const struct bdomain *d, const struct bdm *dm,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Reload the policy file; running guests keep theirs.  *ret_report: what differs for them. */
int broker_reload_policy(struct broker *b, json_object **ret_report);

/* attach.c */
typedef void (*attach_done_fn)(void *opaque, int result, const char *msg);
int attach_domain(struct broker *b, uint32_t domid, attach_done_fn done, void *opaque);
void attach_cancel_waiter(struct broker *b, void *opaque);
int detach_domain(struct broker *b, uint32_t domid);
void attach_dm_ready(struct bdm *dm);
void attach_dm_died(struct bdm *dm);
void domain_teardown(struct bdomain *d, bool orderly);
void domain_forget(struct bdomain *d);
struct bdomain *domain_new(struct broker *b, const struct hv_domain_info *info, struct policy *p,
                           const struct policy_guest *g);

/* dm.c */
int dm_prepare(struct bdm *dm);
int dm_spawn(struct bdm *dm);
int dm_start_serving(struct bdm *dm);
void dm_stop(struct bdm *dm, bool orderly);
void dm_release(struct bdm *dm);
void dm_kill(struct bdm *dm);
void dm_reap(struct bdm *dm);
void dm_forget(struct bdm *dm);
/* Kill what is left in its cgroup leaf and remove the leaf. */
void dm_drop_cgroup(struct bdm *dm);
int dm_watch(struct bdm *dm);
const char *dm_state_name(enum dm_state s);

/* dmchan.c */
void dmchan_readable(struct bdm *dm);
int dmchan_request_stats(struct bdm *dm);
/* The second's summary of audit records not listed one by one (from the 1 s timer too). */
void dmchan_flush_audit(struct bdm *dm, uint64_t now);

/* supervise.c */
void supervise_dm_exited(struct bdm *dm);
int supervise_restart_now(struct bdm *dm);

/* control.c */
int control_new(struct broker *b, const char *path, const char *admin_group, struct control **ret);
void control_free(struct control *c);

#endif
