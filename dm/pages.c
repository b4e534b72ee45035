/* SPDX-License-Identifier: MIT */
/* Mapping a device model's own ioreq pages: memfds (simulator) or privcmd (Xen). */
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/types.h>
#include <xen/xen.h>
#include <xen/memory.h>
#include <xen/sys/privcmd.h>

#include "common/util.h"
#include "dm/dmb-internal.h"

/* mmap a one-page memfd, refusing anything smaller (it would SIGBUS us). */
static int map_memfd(int fd, void **ret)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < (off_t)IOREQ_PAGE_SIZE)
		return -EPROTO;
	p = mmap(NULL, IOREQ_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*ret = p;
	return 0;
}

int dmb_pages_map_memfd(struct dmb *d, struct frame *f, const struct dmp_pages *msg)
{
	unsigned want = msg->has_buf ? 2 : 1;
	void *a = NULL, *b = NULL;
	int r;

	if (f->nfds != want || (msg->has_buf != 0) != (d->hello.bufioreq != 0))
		return -EPROTO;
	r = map_memfd(f->fds[0], &a);
	if (r == 0 && want == 2)
		r = map_memfd(f->fds[1], &b);
	if (r < 0) {
		if (a)
			munmap(a, IOREQ_PAGE_SIZE);
		return r;
	}
	/* The mappings keep the pages; the fds are no longer needed (frame_release closes them). */
	d->ioreq = a;
	d->buf = b;
	return 0;
}

/*
 * Xen: map the server's frames through the received privcmd fd with
 * IOCTL_PRIVCMD_MMAP_RESOURCE (XENMEM_acquire_resource), as
 * libxenforeignmemory does: a privcmd VMA first, then the ioctl fills it.
 * Frame 0 is the buffered page, frame 1 the synchronous one.
 */
int dmb_pages_map_privcmd(struct dmb *d, struct frame *f, const struct dmp_pages *msg)
{
	unsigned first = msg->has_buf ? XENMEM_resource_ioreq_server_frame_bufioreq
	                              : XENMEM_resource_ioreq_server_frame_ioreq(0);
	unsigned n = msg->has_buf ? 2 : 1;
	privcmd_mmap_resource_t res;
	void *p;
	int fd;

	if (f->nfds != 1 || (msg->has_buf != 0) != (d->hello.bufioreq != 0))
		return -EPROTO;
	fd = f->fds[0];
	p = mmap(NULL, n * IOREQ_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	res = (privcmd_mmap_resource_t){.dom = (domid_t)msg->domid,
	                                .type = XENMEM_resource_ioreq_server,
	                                .id = msg->server_id,
	                                .idx = first,
	                                .num = n,
	                                .addr = (uintptr_t)p};
	if (ioctl(fd, IOCTL_PRIVCMD_MMAP_RESOURCE, &res) < 0) {
		int r = -errno;
		munmap(p, n * IOREQ_PAGE_SIZE);
		return r;
	}
	/* The privcmd fd is closed with the frame: the VMA holds what it needs. */
	if (msg->has_buf) {
		d->buf = p;
		d->ioreq = (shared_iopage_t *)((char *)p + IOREQ_PAGE_SIZE);
	} else {
		d->ioreq = p;
	}
	return 0;
}

void dmb_pages_unmap(struct dmb *d)
{
	/* Two separate memfd mappings, or one privcmd mapping starting at buf. */
	if (d->buf && (char *)d->ioreq == (char *)d->buf + IOREQ_PAGE_SIZE) {
		munmap(d->buf, 2 * IOREQ_PAGE_SIZE);
	} else {
		if (d->ioreq)
			munmap(d->ioreq, IOREQ_PAGE_SIZE);
		if (d->buf)
			munmap(d->buf, IOREQ_PAGE_SIZE);
	}
	d->ioreq = NULL;
	d->buf = NULL;
}
