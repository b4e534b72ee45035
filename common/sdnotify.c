/* SPDX-License-Identifier: MIT */
#include "common/sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Connect a datagram to the path in addr (abstract when it starts with '@'). */
static int send_dgram(const char *path, const void *buf, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t plen = strlen(path);
	socklen_t salen;
	int fd, r = 0;

	if (plen == 0 || plen >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, plen);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, buf, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
		r = -errno;
	close(fd);
	return r;
}

int sdn_notify(const char *text)
{
	const char *path = getenv("NOTIFY_SOCKET");

	if (!path || !*path)
		return 0;
	return send_dgram(path, text, strlen(text));
}

int sdn_notifyf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return sdn_notify(buf);
}

/* $NAME_PID, if set, must be our pid: the variables were meant for us, not inherited. */
static bool for_us(const char *pid_var)
{
	const char *p = getenv(pid_var);
	uint32_t pid;

	if (!p)
		return true;
	return util_parse_u32(p, &pid) == 0 && (pid_t)pid == getpid();
}

uint64_t sdn_watchdog_usec(void)
{
	const char *s = getenv("WATCHDOG_USEC");
	uint64_t v;

	if (!s || !for_us("WATCHDOG_PID") || util_parse_u64(s, &v) < 0)
		return 0;
	return v;
}

int sdn_listen_fd(const char *name)
{
	const char *n = getenv("LISTEN_FDS"), *names = getenv("LISTEN_FDNAMES");
	uint32_t count;
	unsigned idx = 0;

	if (!n || util_parse_u32(n, &count) < 0 || !count || !getenv("LISTEN_PID") ||
	    !for_us("LISTEN_PID"))
		return -1;
	/* Without names, a single passed fd is the one. */
	if (!names) {
		if (count != 1)
			return -1;
		(void)util_set_cloexec(3);
		return 3;
	}
	for (const char *p = names; *p && idx < count; idx++) {
		const char *e = strchr(p, ':');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == strlen(name) && !strncmp(p, name, len)) {
			int fd = 3 + (int)idx;
			(void)util_set_cloexec(fd);
			return fd;
		}
		if (!e)
			break;
		p = e + 1;
	}
	return -1;
}

bool sdn_journal_stream(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long dev, ino;

	/* JOURNAL_STREAM is "dev:ino" of the stream systemd connected; it must still be ours. */
	if (!js || sscanf(js, "%lu:%lu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return false;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

int sdn_journal(int priority, const char *message, const char *const *fields)
{
	char buf[4096];
	size_t n = 0;
	int w;

	w = snprintf(buf, sizeof(buf), "PRIORITY=%d\nSYSLOG_IDENTIFIER=dmbrokerd\n", priority);
	if (w < 0)
		return -EINVAL;
	n = (size_t)w;
	for (unsigned i = 0; fields && fields[i] && n < sizeof(buf); i++) {
		w = snprintf(buf + n, sizeof(buf) - n, "%s\n", fields[i]);
		if (w < 0)
			return -EINVAL;
		n += (size_t)w;
	}
	/* MESSAGE last; a newline inside it would end the field, so replace them. */
	if (n < sizeof(buf)) {
		w = snprintf(buf + n, sizeof(buf) - n, "MESSAGE=%s\n", message);
		if (w > 0) {
			for (size_t i = n + 8; i < n + (size_t)w - 1 && i < sizeof(buf); i++)
				if (buf[i] == '\n')
					buf[i] = ' ';
			n += (size_t)w;
		}
	}
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	return send_dgram(JOURNAL_SOCKET, buf, n);
}
