/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by every program: scope cleanup, fd helpers, number
 * parsing, clocks.  Nothing here has side effects beyond its arguments.
 */
#ifndef DMB_COMMON_UTIL_H
#define DMB_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _noreturn_     __attribute__((noreturn))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_  __attribute__((warn_unused_result))
#define _likely_(x)    __builtin_expect(!!(x), 1)
#define _unlikely_(x)  __builtin_expect(!!(x), 0)

static inline void util_freep(void *p)
{
	free(*(void **)p);
}

static inline void util_closep(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
}

#define _cleanup_free_  _cleanup_(util_freep)
#define _cleanup_close_ _cleanup_(util_closep)

/* Hand ownership on: returns the value and leaves the variable empty. */
#define TAKE_FD(fd)              \
	__extension__({          \
		int _fd_ = (fd); \
		(fd) = -1;       \
		_fd_;            \
	})
#define TAKE_PTR(p)                      \
	__extension__({                  \
		__typeof__(p) _p_ = (p); \
		(p) = NULL;              \
		_p_;                     \
	})

/* Close an fd if valid; returns -1 so it can reset the variable: fd = util_close(fd). */
int util_close(int fd);

/* write()/read() the whole buffer, retrying on EINTR and short transfers. */
int util_write_all(int fd, const void *buf, size_t len);
ssize_t util_read_full(int fd, void *buf, size_t len);

int util_set_nonblock(int fd, bool on);
int util_set_cloexec(int fd);

/* Strict unsigned parse: decimal or 0x hex, whole string, no sign, range-checked. */
int util_parse_u64(const char *s, uint64_t *ret);
int util_parse_u32(const char *s, uint32_t *ret);

/* Copy a string into a fixed buffer; -ENAMETOOLONG instead of truncating. */
int util_strcpy(char *dst, size_t size, const char *src);

/* The value of a hex digit, or -1. */
int util_hex_digit(char c);
/*
 * Strict unsigned number, as policies and scenarios write them: decimal or
 * 0x/0X hex, at most 64 bits, no sign, no leading zero in decimal (C would
 * read it as octal, and a reader might too).  NULL, or why s is not one.
 */
const char *util_parse_strict_u64(const char *s, uint64_t *ret);
/* 1 to 4 hex digits up to stop (or the end): the position of stop, or NULL. */
const char *util_parse_hex_field(const char *s, char stop, unsigned *ret);
/* A connected AF_UNIX socket of this type (SOCK_STREAM, SOCK_SEQPACKET), CLOEXEC; -errno. */
int util_unix_connect(const char *path, int type);

uint64_t util_now_ns(void);      /* CLOCK_MONOTONIC */
uint64_t util_realtime_ns(void); /* CLOCK_REALTIME */

/* Sleep for ns nanoseconds (restarting on EINTR). */
void util_sleep_ns(uint64_t ns);

/* Number of open fds of this process (from /proc/self/fd), or negative errno. */
int util_count_fds(void);

#endif
