/* SPDX-License-Identifier: MIT */
/*
 * A device model's stdout and stderr: read from pipes line by line, logged
 * with the domain and device model named, and kept in a small ring for
 * `dmbrokerctl logs`.  Everything a device model can make us store here is
 * bounded: line length, lines per second, lines kept.
 */
#ifndef DMB_DAEMON_LOGRING_H
#define DMB_DAEMON_LOGRING_H

#include <event2/event.h>
#include <json-c/json.h>

#define LOGCAP_LINES    128 /* kept per device model */
#define LOGCAP_LINE_MAX 256 /* bytes per line; longer lines are cut */
#define LOGCAP_RATE     200 /* lines a second; the rest are counted, not kept */

struct logcap;

int logcap_new(struct event_base *base, const char *tag, struct logcap **ret);
/* New pipes for a new process: returns the write ends (for the child), keeps the read ends. */
int logcap_pipes(struct logcap *lc, int *ret_out_w, int *ret_err_w);
/* The read ends now in use (to hand to the device model to keep for a restart). */
void logcap_read_fds(const struct logcap *lc, int *ret_out_r, int *ret_err_r);
/* Read from pipes a previous broker opened (taken back from the device model). */
int logcap_adopt(struct logcap *lc, int out_r, int err_r);
/* Read whatever is left in the pipes now (before the process is forgotten). */
void logcap_drain(struct logcap *lc);
void logcap_free(struct logcap *lc);
/* The kept lines, oldest first, at most max; and how many were dropped. */
json_object *logcap_json(const struct logcap *lc, unsigned max);
unsigned long logcap_dropped(const struct logcap *lc);

#endif
