/* SPDX-License-Identifier: MIT */
/*
 * The broker's events: attach, ready, crash, restart, destroy and the rest,
 * each logged (with structured journal fields under systemd), kept in a
 * ring for late readers, and streamed to `dmbrokerctl events --follow`
 * subscribers.  Audit records (every hypercall made on a device model's
 * behalf, every placement decision) are events too.
 */
#ifndef DMB_DAEMON_EVENTS_H
#define DMB_DAEMON_EVENTS_H

#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

#define EVENTS_RING        1024
#define EVENTS_SUBSCRIBERS 16

struct event_record {
	uint64_t seq;
	uint64_t time_ns; /* CLOCK_REALTIME */
	char kind[24];
	int64_t domid; /* -1: none */
	char domain[64];
	char dm[32];
	pid_t pid; /* of the device model, 0: none */
	char msg[224];
};

struct events;
typedef void (*events_fn)(void *opaque, const struct event_record *ev);

int events_new(struct events **ret);
void events_free(struct events *e);
/* Record, log, and send to subscribers. */
void events_emit(struct events *e, const char *kind, int64_t domid, const char *domain,
		 const char *dm, pid_t pid, const char *msg);
int events_subscribe(struct events *e, events_fn fn, void *opaque);
void events_unsubscribe(struct events *e, void *opaque);
/* The last n events, oldest first. */
json_object *events_recent(const struct events *e, unsigned n);
json_object *event_json(const struct event_record *ev);
/* Counts by kind, for metrics. */
uint64_t events_count(const struct events *e, const char *kind);

#endif
