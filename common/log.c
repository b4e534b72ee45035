/* SPDX-License-Identifier: MIT */
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *log_ident = "dmb";
static int log_level = LOG_INFO;
static char log_prefix[64];
static log_sink_fn log_sink;
static void *log_sink_opaque;

void log_init(const char *ident, int level)
{
	log_ident = ident;
	log_level = level;
}

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

void log_set_prefix(const char *prefix)
{
	if (!prefix || util_strcpy(log_prefix, sizeof(log_prefix), prefix) < 0)
		log_prefix[0] = '\0';
}

void log_set_sink(log_sink_fn fn, void *opaque)
{
	log_sink = fn;
	log_sink_opaque = opaque;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void log_vmsg(int level, const char *fmt, va_list ap)
{
	char line[1024];
	int saved = errno;

	if (level > log_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_sink)
		log_sink(level, line, log_sink_opaque);
	else
		fprintf(stderr, "%s: %s: %s%s\n", log_ident, level_name(level), log_prefix, line);
	errno = saved;
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

int log_errno_at(int level, int err, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(level, "%s: %s", msg, strerror(err < 0 ? -err : err));
	return err;
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
