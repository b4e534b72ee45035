/* SPDX-License-Identifier: MIT */
/*
 * cgroup v2 leaves for device models: one leaf per device model, with
 * memory.max and pids.max, entered at clone time (CLONE_INTO_CGROUP) and
 * killed as a whole.
 *
 * Layout in auto mode (the broker's own cgroup U, e.g. its systemd unit
 * with Delegate=yes):
 *
 *   U/                          subtree_control: +memory +pids
 *   U/dm-broker-supervisor/     the broker itself (moved here)
 *   U/dm-broker-dms/            the root returned; subtree_control: +memory +pids
 *   U/dm-broker-dms/<leaf>/     one device model each
 *
 * cgroup v2's "no internal processes" rule forbids enabling controllers for
 * the children of a cgroup that has processes of its own (the hierarchy
 * root excepted), so the broker first moves itself into a leaf of its own.
 * The same rule makes systemd 252 fail to start the next broker in U while
 * device models live below it (status=219/CGROUP): the shipped units give
 * the broker an explicit root in a unit of its own instead
 * (systemd/dmbroker-dms.service, tests/systemd/README.md).
 * A host where U has no memory or pids controller (cgroup v1, or an empty
 * cgroup2 like /sys/fs/cgroup/unified on a hybrid host) is refused with
 * -ENOTSUP before anything is written: those hierarchies belong to
 * whoever runs the host.
 *
 * An explicit path is used as the root as it is (an administrator made it);
 * it must be on cgroup2 and offer memory and pids.  For tests only,
 * DMB_CGROUP_FAKE=1 in the environment lets an explicit path be a plain
 * directory: the functions then create the interface files the kernel
 * would (cgroup.procs, cgroup.events, memory.max, pids.max) themselves.
 */
#ifndef DMB_DAEMON_CGROUP_H
#define DMB_DAEMON_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CGROUP_NAME_MAX       64
#define CGROUP_SUPERVISOR_DIR "dm-broker-supervisor"
#define CGROUP_DMS_DIR        "dm-broker-dms"

struct cgroup_root;

/*
 * path NULL: auto mode as above.  Returns 0 and *ret, or -ENOTSUP (no
 * usable cgroup v2) or another -errno, with a sentence in why[].
 */
int cgroup_root_open(const char *path, struct cgroup_root **ret, char *why, size_t whylen);
const char *cgroup_root_path(const struct cgroup_root *root);
void cgroup_root_free(struct cgroup_root *root);

/* Would auto mode work here?  Reads only; 0, or -ENOTSUP/-errno with why[]. */
int cgroup_probe(char *why, size_t whylen);

/* [a-z0-9._-]{1,64}, not "." or "..". */
bool cgroup_name_valid(const char *name);

/*
 * mkdir the leaf, set memory.max (0: "max"), pids.max (0: "max"),
 * memory.swap.max=0 and memory.oom.group=1 where present, and return a
 * directory fd for CLONE_INTO_CGROUP.  -EEXIST if the leaf exists.
 */
int cgroup_leaf_create(struct cgroup_root *root, const char *name, uint64_t memory_max,
                       uint32_t pids_max, int *ret_dirfd);
/* SIGKILL everything in the leaf: cgroup.kill, or each pid of cgroup.procs on older kernels. */
int cgroup_leaf_kill(struct cgroup_root *root, const char *name);
/* 1 while a process lives in the leaf, 0 if not, or -errno. */
int cgroup_leaf_populated(struct cgroup_root *root, const char *name);
/* rmdir; -EBUSY while populated. */
int cgroup_leaf_remove(struct cgroup_root *root, const char *name);

#endif
