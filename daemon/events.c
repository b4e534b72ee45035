/* SPDX-License-Identifier: MIT */
#include "daemon/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/sdnotify.h"
#include "common/util.h"

#define KINDS_MAX 32

struct subscriber {
	events_fn fn;
	void *opaque;
};

struct events {
	struct event_record ring[EVENTS_RING];
	uint64_t next_seq;
	struct subscriber subs[EVENTS_SUBSCRIBERS];
	struct {
		char kind[24];
		uint64_t n;
	} counts[KINDS_MAX];
	bool journal;
};

int events_new(struct events **ret)
{
	struct events *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->next_seq = 1;
	e->journal = sdn_journal_stream();
	*ret = e;
	return 0;
}

void events_free(struct events *e)
{
	free(e);
}

static void count(struct events *e, const char *kind)
{
	for (unsigned i = 0; i < KINDS_MAX; i++) {
		if (!e->counts[i].kind[0])
			snprintf(e->counts[i].kind, sizeof(e->counts[i].kind), "%s", kind);
		if (!strcmp(e->counts[i].kind, kind)) {
			e->counts[i].n++;
			return;
		}
	}
}

uint64_t events_count(const struct events *e, const char *kind)
{
	for (unsigned i = 0; i < KINDS_MAX; i++)
		if (!strcmp(e->counts[i].kind, kind))
			return e->counts[i].n;
	return 0;
}

/* A log line; under systemd the journal also gets the fields, for journalctl DMB_DOMID=5. */
/* Failures are errors, trouble a warning, the rest the normal course of things. */
static int event_level(const char *kind)
{
	static const char *const errors[] = {"attach-failed", "crash-loop", "failed", "violation"};
	static const char *const warnings[] = {"crash", "pause", "destroy"};

	for (size_t i = 0; i < ARRAY_SIZE(errors); i++)
		if (!strcmp(kind, errors[i]))
			return LOG_ERR;
	for (size_t i = 0; i < ARRAY_SIZE(warnings); i++)
		if (!strcmp(kind, warnings[i]))
			return LOG_WARNING;
	return LOG_INFO;
}

static void log_event(struct events *e, const struct event_record *ev)
{
	int level = event_level(ev->kind);
	char line[400], f_dom[40], f_dm[48], f_pid[32], f_kind[40];
	const char *fields[5];
	unsigned n = 0;

	if (ev->dm[0])
		snprintf(line, sizeof(line), "event %s dom%lld/%s: %s", ev->kind,
		         (long long)ev->domid, ev->dm, ev->msg);
	else if (ev->domid >= 0)
		snprintf(line, sizeof(line), "event %s dom%lld (%s): %s", ev->kind,
		         (long long)ev->domid, ev->domain, ev->msg);
	else
		snprintf(line, sizeof(line), "event %s: %s", ev->kind, ev->msg);
	if (!e->journal) {
		log_msg(level, "%s", line);
		return;
	}
	snprintf(f_kind, sizeof(f_kind), "DMB_EVENT=%s", ev->kind);
	fields[n++] = f_kind;
	if (ev->domid >= 0) {
		snprintf(f_dom, sizeof(f_dom), "DMB_DOMID=%lld", (long long)ev->domid);
		fields[n++] = f_dom;
	}
	if (ev->dm[0]) {
		snprintf(f_dm, sizeof(f_dm), "DMB_DM=%s", ev->dm);
		fields[n++] = f_dm;
	}
	if (ev->pid > 0) {
		snprintf(f_pid, sizeof(f_pid), "DMB_DM_PID=%d", ev->pid);
		fields[n++] = f_pid;
	}
	fields[n] = NULL;
	if (sdn_journal(level, line, fields) < 0)
		log_msg(level, "%s", line);
}

void events_emit(struct events *e, const char *kind, int64_t domid, const char *domain,
                 const char *dm, pid_t pid, const char *msg)
{
	struct event_record *ev = &e->ring[e->next_seq % EVENTS_RING];

	memset(ev, 0, sizeof(*ev));
	ev->seq = e->next_seq++;
	ev->time_ns = util_realtime_ns();
	snprintf(ev->kind, sizeof(ev->kind), "%s", kind);
	ev->domid = domid;
	snprintf(ev->domain, sizeof(ev->domain), "%s", domain ? domain : "");
	snprintf(ev->dm, sizeof(ev->dm), "%s", dm ? dm : "");
	ev->pid = pid > 0 ? pid : 0;
	snprintf(ev->msg, sizeof(ev->msg), "%s", msg);
	count(e, kind);
	log_event(e, ev);
	for (unsigned i = 0; i < EVENTS_SUBSCRIBERS; i++)
		if (e->subs[i].fn)
			e->subs[i].fn(e->subs[i].opaque, ev);
}

int events_subscribe(struct events *e, events_fn fn, void *opaque)
{
	for (unsigned i = 0; i < EVENTS_SUBSCRIBERS; i++)
		if (!e->subs[i].fn) {
			e->subs[i] = (struct subscriber){.fn = fn, .opaque = opaque};
			return 0;
		}
	return -ENOSPC;
}

void events_unsubscribe(struct events *e, void *opaque)
{
	for (unsigned i = 0; i < EVENTS_SUBSCRIBERS; i++)
		if (e->subs[i].opaque == opaque)
			e->subs[i] = (struct subscriber){0};
}

json_object *event_json(const struct event_record *ev)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "seq", json_object_new_int64((int64_t)ev->seq));
	json_object_object_add(o, "time", json_object_new_double((double)ev->time_ns / 1e9));
	json_object_object_add(o, "event", json_object_new_string(ev->kind));
	if (ev->domid >= 0) {
		json_object_object_add(o, "domid", json_object_new_int64(ev->domid));
		json_object_object_add(o, "domain", json_object_new_string(ev->domain));
	}
	if (ev->dm[0])
		json_object_object_add(o, "dm", json_object_new_string(ev->dm));
	if (ev->pid > 0)
		json_object_object_add(o, "pid", json_object_new_int(ev->pid));
	json_object_object_add(o, "message", json_object_new_string(ev->msg));
	return o;
}

json_object *events_recent(const struct events *e, unsigned n)
{
	json_object *a = json_object_new_array();
	uint64_t first = e->next_seq > n ? e->next_seq - n : 1;

	if (e->next_seq - first > EVENTS_RING)
		first = e->next_seq - EVENTS_RING;
	for (uint64_t s = first; a && s < e->next_seq; s++)
		json_object_array_add(a, event_json(&e->ring[s % EVENTS_RING]));
	return a;
}
