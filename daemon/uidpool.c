/* SPDX-License-Identifier: MIT */
/* uids for device models (uidpool.h has the rules). */
#include "daemon/uidpool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

struct uidpool {
	uid_t start;
	uint32_t count;
	uint32_t next; /* round robin: a released uid is reused as late as possible */
	uint32_t n_used;
	uint64_t *used;       /* allocated and not released */
	uint64_t *quarantine; /* released, maybe still held by a process */
	uint64_t *host;       /* scratch: held by some process, per the last scan */
};

static size_t words(uint32_t count)
{
	return ((size_t)count + 63) / 64;
}

static bool bit_get(const uint64_t *map, uint32_t i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}

static void bit_set(uint64_t *map, uint32_t i, bool on)
{
	if (on)
		map[i / 64] |= 1ull << (i % 64);
	else
		map[i / 64] &= ~(1ull << (i % 64));
}

int uidpool_new(uid_t start, uint32_t count, struct uidpool **ret)
{
	struct uidpool *p;

	if (!ret || start == 0 || count == 0)
		return -EINVAL;
	if (count > UIDPOOL_MAX_COUNT)
		return -E2BIG;
	/* The last uid must stay below (uid_t)-1, which means "unchanged" to setresuid. */
	if ((uint64_t)start + count > (uint64_t)(uid_t)-1)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->start = start;
	p->count = count;
	p->used = calloc(words(count), sizeof(uint64_t));
	p->quarantine = calloc(words(count), sizeof(uint64_t));
	p->host = calloc(words(count), sizeof(uint64_t));
	if (!p->used || !p->quarantine || !p->host) {
		uidpool_free(p);
		return -ENOMEM;
	}
	*ret = p;
	return 0;
}

void uidpool_free(struct uidpool *pool)
{
	if (!pool)
		return;
	free(pool->used);
	free(pool->quarantine);
	free(pool->host);
	free(pool);
}

static void mark_host(struct uidpool *pool, unsigned long uid)
{
	if (uid >= pool->start && uid - pool->start < pool->count)
		bit_set(pool->host, (uint32_t)(uid - pool->start), true);
}

/* Parse "Uid:\tR\tE\tS\tFS" of one /proc/PID/status; a vanished process is skipped. */
static int scan_one(struct uidpool *pool, int procfd, const char *pid)
{
	char path[64], buf[2048];
	unsigned long u[4];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	char *line;

	snprintf(path, sizeof(path), "%s/status", pid);
	fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? 0 : -errno;
	/* Uid: is within the first few hundred bytes (Name is at most 64 escaped). */
	n = util_read_full(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return n == -ESRCH ? 0 : (int)n;
	buf[n] = '\0';
	line = strstr(buf, "\nUid:");
	if (!line)
		return 0; /* exited between open and read */
	if (sscanf(line + 5, "%lu %lu %lu %lu", &u[0], &u[1], &u[2], &u[3]) != 4)
		return -EBADMSG;
	for (unsigned i = 0; i < 4; i++)
		mark_host(pool, u[i]);
	return 0;
}

/*
 * Which uids of the range some process holds right now.  Threads share
 * their process's uids unless they change them with raw syscalls, which
 * needs CAP_SETUID a device model never has.
 */
static int scan_host(struct uidpool *pool)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	memset(pool->host, 0, words(pool->count) * sizeof(uint64_t));
	d = opendir("/proc");
	if (!d)
		return -errno; /* no /proc: we cannot know, so hand nothing out */
	while ((de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
		    strspn(de->d_name, "0123456789") != strlen(de->d_name))
			continue;
		r = scan_one(pool, dirfd(d), de->d_name);
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
}

int uidpool_alloc(struct uidpool *pool, uid_t *ret)
{
	int r;

	if (!pool || !ret)
		return -EINVAL;
	r = scan_host(pool);
	if (r < 0)
		return r;
	/* Quarantined uids nothing holds any more: their last owner is entirely gone. */
	for (size_t w = 0; w < words(pool->count); w++)
		pool->quarantine[w] &= pool->host[w];
	for (uint32_t k = 0; k < pool->count; k++) {
		uint32_t i = (uint32_t)(((uint64_t)pool->next + k) % pool->count);

		if (bit_get(pool->used, i) || bit_get(pool->host, i))
			continue;
		bit_set(pool->used, i, true);
		pool->n_used++;
		pool->next = (i + 1) % pool->count;
		*ret = pool->start + i;
		return 0;
	}
	return -ENOSPC;
}

int uidpool_release(struct uidpool *pool, uid_t uid)
{
	uint32_t i;

	if (!pool || uid < pool->start || uid - pool->start >= pool->count)
		return -EINVAL;
	i = uid - pool->start;
	if (!bit_get(pool->used, i))
		return -EINVAL;
	bit_set(pool->used, i, false);
	bit_set(pool->quarantine, i, true);
	pool->n_used--;
	return 0;
}

/* A uid a device model still holds, taken over from a previous broker (re-adoption). */
int uidpool_reserve(struct uidpool *pool, uid_t uid)
{
	uint32_t i;

	if (!pool || uid < pool->start || uid - pool->start >= pool->count)
		return -EINVAL;
	i = uid - pool->start;
	if (bit_get(pool->used, i))
		return -EBUSY;
	bit_set(pool->used, i, true);
	bit_set(pool->quarantine, i, false);
	pool->n_used++;
	return 0;
}

uint32_t uidpool_allocated(const struct uidpool *pool)
{
	return pool ? pool->n_used : 0;
}

uint32_t uidpool_quarantined(const struct uidpool *pool)
{
	uint32_t n = 0;

	for (size_t w = 0; pool && w < words(pool->count); w++)
		n += (uint32_t)__builtin_popcountll(pool->quarantine[w]);
	return n;
}
