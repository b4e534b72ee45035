/* SPDX-License-Identifier: MIT */
#include "daemon/logring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

struct stream {
	struct logcap *lc;
	int fd;
	struct event *ev;
	const char *name; /* "stdout" / "stderr" */
	char buf[LOGCAP_LINE_MAX];
	size_t len;
	bool cut; /* the current line was too long and is being skipped */
};

struct logcap {
	struct event_base *base;
	char tag[96];
	struct stream out, err;
	char ring[LOGCAP_LINES][LOGCAP_LINE_MAX];
	unsigned head, count;
	uint64_t window_ns;
	unsigned window_lines;
	unsigned long dropped;
};

static void keep(struct logcap *lc, const char *line)
{
	uint64_t now = util_now_ns();

	if (now - lc->window_ns > 1000000000ull) {
		if (lc->window_lines > LOGCAP_RATE)
			log_warn("%s: %u lines over the last second, %u dropped", lc->tag,
			         lc->window_lines, lc->window_lines - LOGCAP_RATE);
		lc->window_ns = now;
		lc->window_lines = 0;
	}
	if (++lc->window_lines > LOGCAP_RATE) {
		lc->dropped++;
		return;
	}
	log_info("%s: %s", lc->tag, line);
	snprintf(lc->ring[lc->head], LOGCAP_LINE_MAX, "%s", line);
	lc->head = (lc->head + 1) % LOGCAP_LINES;
	if (lc->count < LOGCAP_LINES)
		lc->count++;
}

/* Replace what a terminal or a log parser could misread (escape sequences, NULs). */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static void consume(struct stream *st, const char *data, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = data[i];

		if (c == '\n') {
			if (!st->cut || st->len) {
				st->buf[st->len] = '\0';
				sanitize(st->buf);
				keep(st->lc, st->buf);
			}
			st->len = 0;
			st->cut = false;
			continue;
		}
		if (st->len + 1 >= LOGCAP_LINE_MAX) {
			/* Emit what fits and drop the rest of this line. */
			if (!st->cut) {
				st->buf[st->len] = '\0';
				sanitize(st->buf);
				keep(st->lc, st->buf);
			}
			st->len = 0;
			st->cut = true;
			continue;
		}
		if (!st->cut)
			st->buf[st->len++] = c;
	}
}

static void stream_close(struct stream *st)
{
	if (st->ev) {
		event_free(st->ev);
		st->ev = NULL;
	}
	if (st->len) {
		st->buf[st->len] = '\0';
		sanitize(st->buf);
		keep(st->lc, st->buf);
		st->len = 0;
	}
	st->fd = util_close(st->fd);
}

static void stream_read(struct stream *st)
{
	char buf[4096];

	for (unsigned rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(st->fd, buf, sizeof(buf));

		if (n > 0) {
			consume(st, buf, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		stream_close(st); /* EOF or error: the process is gone */
		return;
	}
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	stream_read(arg);
}

int logcap_new(struct event_base *base, const char *tag, struct logcap **ret)
{
	struct logcap *lc = calloc(1, sizeof(*lc));

	if (!lc)
		return -ENOMEM;
	lc->base = base;
	snprintf(lc->tag, sizeof(lc->tag), "%s", tag);
	lc->out = (struct stream){.lc = lc, .fd = -1, .name = "stdout"};
	lc->err = (struct stream){.lc = lc, .fd = -1, .name = "stderr"};
	*ret = lc;
	return 0;
}

static int stream_open(struct logcap *lc, struct stream *st, int *ret_w)
{
	int p[2];

	stream_close(st);
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* The child's end blocks: a device model that logs too fast waits, we do not. */
	if (util_set_nonblock(p[1], false) < 0) {
		close(p[0]);
		close(p[1]);
		return -EIO;
	}
	st->fd = p[0];
	st->ev = event_new(lc->base, st->fd, EV_READ | EV_PERSIST, on_readable, st);
	if (!st->ev || event_add(st->ev, NULL) < 0) {
		stream_close(st);
		close(p[1]);
		return -ENOMEM;
	}
	*ret_w = p[1];
	return 0;
}

void logcap_read_fds(const struct logcap *lc, int *ret_out_r, int *ret_err_r)
{
	*ret_out_r = lc->out.fd;
	*ret_err_r = lc->err.fd;
}

static int stream_adopt(struct logcap *lc, struct stream *st, int fd)
{
	stream_close(st);
	if (util_set_nonblock(fd, true) < 0)
		return -errno;
	st->fd = fd;
	st->ev = event_new(lc->base, st->fd, EV_READ | EV_PERSIST, on_readable, st);
	if (!st->ev || event_add(st->ev, NULL) < 0) {
		stream_close(st);
		return -ENOMEM;
	}
	return 0;
}

int logcap_adopt(struct logcap *lc, int out_r, int err_r)
{
	int r = stream_adopt(lc, &lc->out, out_r);

	if (r == 0)
		r = stream_adopt(lc, &lc->err, err_r);
	return r;
}

int logcap_pipes(struct logcap *lc, int *ret_out_w, int *ret_err_w)
{
	int o, e, r;

	r = stream_open(lc, &lc->out, &o);
	if (r < 0)
		return r;
	r = stream_open(lc, &lc->err, &e);
	if (r < 0) {
		close(o);
		stream_close(&lc->out);
		return r;
	}
	*ret_out_w = o;
	*ret_err_w = e;
	return 0;
}

void logcap_drain(struct logcap *lc)
{
	if (lc->out.fd >= 0)
		stream_read(&lc->out);
	if (lc->err.fd >= 0)
		stream_read(&lc->err);
}

void logcap_free(struct logcap *lc)
{
	if (!lc)
		return;
	stream_close(&lc->out);
	stream_close(&lc->err);
	free(lc);
}

json_object *logcap_json(const struct logcap *lc, unsigned max)
{
	json_object *a = json_object_new_array();
	unsigned n = MIN(max, lc->count);
	unsigned start = (lc->head + LOGCAP_LINES - n) % LOGCAP_LINES;

	for (unsigned i = 0; a && i < n; i++)
		json_object_array_add(a,
		                      json_object_new_string(lc->ring[(start + i) % LOGCAP_LINES]));
	return a;
}

unsigned long logcap_dropped(const struct logcap *lc)
{
	return lc->dropped;
}
