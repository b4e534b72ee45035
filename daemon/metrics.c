/* SPDX-License-Identifier: MIT */
/*
 * `dmbrokerctl metrics`: the broker's state in the OpenMetrics text format,
 * for Prometheus and friends: device models by state, restarts, requests
 * served, DM ops, launch and handoff latencies, events, and the broker's own
 * fds and memory.
 */
#include "daemon/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "daemon/broker-internal.h"

/* Seconds: sandboxed launches take ~1-2 ms, a handoff a few ms more. */
static const double buckets[METRICS_BUCKETS] = {0.0005, 0.001, 0.002, 0.005,
						 0.01,	 0.02,	0.05,  0.1};

void metrics_observe(struct metrics_histogram *h, uint64_t ns)
{
	double s = (double)ns / 1e9;

	for (unsigned i = 0; i < METRICS_BUCKETS; i++)
		if (s <= buckets[i])
			h->bucket[i]++;
	h->count++;
	h->sum += s;
}

struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		char *nb = realloc(o->buf, o->cap * 2 + (size_t)n);
		if (!nb) {
			o->failed = true;
			return;
		}
		o->buf = nb;
		o->cap = o->cap * 2 + (size_t)n;
	}
}

/* Label values are names we validated ([a-z0-9_-] and domain names): escape anyway. */
static const char *label(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	for (; *s && n + 2 < len; s++) {
		if (*s == '"' || *s == '\\')
			buf[n++] = '\\';
		buf[n++] = (*s == '\n') ? ' ' : *s;
	}
	buf[n] = '\0';
	return buf;
}

static void histogram(struct out *o, const char *name, const char *help,
		      const struct metrics_histogram *h)
{
	emit(o, "# TYPE %s histogram\n# UNIT %s seconds\n# HELP %s %s\n", name, name, name, help);
	for (unsigned i = 0; i < METRICS_BUCKETS; i++)
		emit(o, "%s_bucket{le=\"%g\"} %llu\n", name, buckets[i],
		     (unsigned long long)h->bucket[i]);
	emit(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
	     (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
}

static unsigned long resident_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	unsigned long size, rss = 0;

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (unsigned long)sysconf(_SC_PAGESIZE);
}

static void per_dm(struct out *o, struct broker *b, const char *family, const char *what)
{
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++) {
		struct bdomain *d = b->dom[i];
		char dn[130];

		for (unsigned k = 0; d && k < d->n_dms; k++) {
			const struct bdm *dm = &d->dms[k];
			char base[256];

			snprintf(base, sizeof(base), "domid=\"%u\",domain=\"%s\",dm=\"%s\"", d->domid,
				 label(d->name, dn, sizeof(dn)), dm->cfg->name);
			if (!strcmp(what, "restarts")) {
				emit(o, "%s_total{%s} %u\n", family, base, dm->restarts);
			} else if (!strcmp(what, "requests")) {
				static const char *const types[] = {"pio", "mmio", "pci", "other"};
				for (unsigned t = 0; t < 4; t++)
					emit(o, "%s_total{%s,type=\"%s\"} %llu\n", family, base, types[t],
					     (unsigned long long)dm->stats.served[t]);
				emit(o, "%s_total{%s,type=\"buffered\"} %llu\n", family, base,
				     (unsigned long long)dm->stats.buffered);
				emit(o, "%s_total{%s,type=\"invalid\"} %llu\n", family, base,
				     (unsigned long long)dm->stats.invalid);
			} else {
				emit(o, "%s_total{%s,result=\"granted\"} %u\n", family, base,
				     dm->dmops_granted);
				emit(o, "%s_total{%s,result=\"refused\"} %u\n", family, base,
				     dm->dmops_refused);
			}
		}
	}
}

char *metrics_render(struct broker *b)
{
	static const char *const events[] = {"attach", "attached", "attach-failed", "ready",
					     "crash",  "restart",  "crash-loop",    "violation",
					     "detach", "domain-gone", "audit"};
	struct out o = {.cap = 8192};
	unsigned by_state[DM_STOPPED + 1] = {0};

	o.buf = malloc(o.cap);
	if (!o.buf)
		return NULL;
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++)
		for (unsigned k = 0; b->dom[i] && k < b->dom[i]->n_dms; k++)
			by_state[b->dom[i]->dms[k].state]++;
	emit(&o, "# TYPE dmbroker_domains gauge\n# HELP dmbroker_domains Attached domains.\n"
		 "dmbroker_domains %u\n",
	     b->n_domains);
	emit(&o, "# TYPE dmbroker_device_models gauge\n"
		 "# HELP dmbroker_device_models Device models by state.\n");
	for (unsigned s = 0; s <= DM_STOPPED; s++)
		emit(&o, "dmbroker_device_models{state=\"%s\"} %u\n", dm_state_name(s), by_state[s]);
	emit(&o, "# TYPE dmbroker_device_model_restarts counter\n"
		 "# HELP dmbroker_device_model_restarts Restarts of a device model since attach.\n");
	per_dm(&o, b, "dmbroker_device_model_restarts", "restarts");
	emit(&o, "# TYPE dmbroker_requests counter\n"
		 "# HELP dmbroker_requests Requests a device model served, as it reports them.\n");
	per_dm(&o, b, "dmbroker_requests", "requests");
	emit(&o, "# TYPE dmbroker_dmops counter\n"
		 "# HELP dmbroker_dmops DM-op requests, granted or refused by policy.\n");
	per_dm(&o, b, "dmbroker_dmops", "dmops");
	histogram(&o, "dmbroker_launch_seconds", "Sandboxed launch of a device model.",
		  &b->launch_hist);
	histogram(&o, "dmbroker_handoff_seconds", "From launch to the device model's READY.",
		  &b->handoff_hist);
	emit(&o, "# TYPE dmbroker_events counter\n# HELP dmbroker_events Events by kind.\n");
	for (unsigned i = 0; i < ARRAY_SIZE(events); i++)
		emit(&o, "dmbroker_events_total{event=\"%s\"} %llu\n", events[i],
		     (unsigned long long)events_count(b->events, events[i]));
	emit(&o, "# TYPE dmbroker_open_fds gauge\n# HELP dmbroker_open_fds The broker's open fds.\n"
		 "dmbroker_open_fds %d\n",
	     util_count_fds());
	emit(&o, "# TYPE dmbroker_resident_memory_bytes gauge\n# UNIT dmbroker_resident_memory_bytes bytes\n"
		 "# HELP dmbroker_resident_memory_bytes The broker's resident memory.\n"
		 "dmbroker_resident_memory_bytes %lu\n",
	     resident_bytes());
	emit(&o, "# EOF\n");
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}
