/* SPDX-License-Identifier: MIT */
/*
 * uids for device models, from the policy's uid_range [start, start+count).
 *
 * A uid is handed out only when no process on the host holds it as real,
 * effective, saved or file-system uid, so a device model never shares its
 * uid with anything (another DM could signal or ptrace it).  A released uid
 * is quarantined: it comes back only once every process of its last owner
 * is gone, re-checked on each allocation (an escaped fork of a killed DM
 * must not meet a fresh DM of another guest under the same uid).
 * Never 0.  Memory is two bitmaps plus a scratch one, capped by
 * UIDPOOL_MAX_COUNT.
 */
#ifndef DMB_DAEMON_UIDPOOL_H
#define DMB_DAEMON_UIDPOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define UIDPOOL_MAX_COUNT (1u << 20)

struct uidpool;

/* -EINVAL for start 0, count 0 or a range reaching (uid_t)-1; -E2BIG above UIDPOOL_MAX_COUNT. */
int uidpool_new(uid_t start, uint32_t count, struct uidpool **ret);
void uidpool_free(struct uidpool *pool);

/*
 * A uid of the range that is neither allocated, nor quarantined with a
 * process still alive, nor used by any process of the host (one scan of
 * /proc/[0-9]* per call).  -ENOSPC when there is none.
 */
int uidpool_alloc(struct uidpool *pool, uid_t *ret);

/* Give back an allocated uid; quarantined while any process has it.  -EINVAL if not ours. */
int uidpool_release(struct uidpool *pool, uid_t uid);

/* Mark uid as allocated (a live device model adopted after a broker restart). */
int uidpool_reserve(struct uidpool *pool, uid_t uid);
/* For status output: allocated, and quarantined with a process alive (as of the last alloc). */
uint32_t uidpool_allocated(const struct uidpool *pool);
uint32_t uidpool_quarantined(const struct uidpool *pool);

#endif
