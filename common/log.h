/* SPDX-License-Identifier: MIT */
/*
 * Logging.  Runtime errors are returned as negative errno and logged once, at
 * the boundary that decides what to do about them (log_errno returns its
 * error so that "return log_errno(r, ...)" does both).  fatal() is for
 * startup only.
 */
#ifndef DMB_COMMON_LOG_H
#define DMB_COMMON_LOG_H

#include <stdarg.h>
#include <syslog.h>

#include "common/util.h"

/* ident: program name in every line; level: most verbose level printed (LOG_INFO default). */
void log_init(const char *ident, int level);
void log_set_level(int level);
int log_get_level(void);
/* Prefix every line with this (e.g. "dom1/uart: "); NULL clears it. */
void log_set_prefix(const char *prefix);

/*
 * A sink that receives every line after formatting (the broker uses it for
 * the journal and for per-device-model log rings).  NULL restores stderr.
 */
typedef void (*log_sink_fn)(int level, const char *line, void *opaque);
void log_set_sink(log_sink_fn fn, void *opaque);

void log_msg(int level, const char *fmt, ...) _printf_(2, 3);
void log_vmsg(int level, const char *fmt, va_list ap) _printf_(2, 0);

/* Logs "<msg>: <strerror(-err)>" and returns err (a negative errno). */
int log_errno_at(int level, int err, const char *fmt, ...) _printf_(3, 4);

#define log_debug(...)  log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...)  log_msg(LOG_ERR, __VA_ARGS__)

#define log_errno(err, ...)      log_errno_at(LOG_ERR, (err), __VA_ARGS__)
#define log_warn_errno(err, ...) log_errno_at(LOG_WARNING, (err), __VA_ARGS__)

/* Startup failures only: log and exit(1). */
_noreturn_ void fatal(const char *fmt, ...) _printf_(1, 2);

#endif
