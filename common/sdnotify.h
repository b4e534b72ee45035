/* SPDX-License-Identifier: MIT */
/*
 * The few pieces of systemd's service protocol dmbrokerd uses, written
 * against the documented wire formats instead of linking libsystemd (as Xen
 * does with xen-sd-notify.h):
 *
 *  - sd_notify: a datagram of "KEY=value" lines to $NOTIFY_SOCKET
 *    (READY=1, STATUS=..., WATCHDOG=1, STOPPING=1, RELOADING=1);
 *  - the watchdog interval from $WATCHDOG_USEC (if $WATCHDOG_PID is ours);
 *  - socket activation: $LISTEN_FDS fds from 3 (if $LISTEN_PID is ours),
 *    named by $LISTEN_FDNAMES;
 *  - the journal's native protocol (datagrams of FIELD=value lines to
 *    /run/systemd/journal/socket), for structured fields.
 *
 * Every function is a no-op returning 0 when not running under systemd.
 */
#ifndef DMB_COMMON_SDNOTIFY_H
#define DMB_COMMON_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Send "text" (one or more newline-separated KEY=value) to the service manager. */
int sdn_notify(const char *text);
int sdn_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The watchdog interval in microseconds, or 0 if none is configured for us. */
uint64_t sdn_watchdog_usec(void);
/* The fd passed for socket activation under this name (LISTEN_FDNAMES), or -1. */
int sdn_listen_fd(const char *name);
/* Is our stderr connected to the journal (so structured logging is worth it)? */
bool sdn_journal_stream(void);
/* Send one journal entry: MESSAGE plus PRIORITY and extra "FIELD=value" strings (NULL-ended). */
int sdn_journal(int priority, const char *message, const char *const *fields);

#endif
