/* SPDX-License-Identifier: MIT */
#include "ipc/frame.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

_Static_assert(sizeof(struct frame_hdr) == FRAME_HDR_SIZE, "frame header layout");

int frame_send(int sock, uint16_t type, uint32_t id, const void *payload, size_t len,
               const int *fds, unsigned nfds)
{
	struct frame_hdr hdr = {
	        .version = FRAME_VERSION, .type = type, .len = (uint32_t)len, .id = id};
	struct iovec iov[2] = {{.iov_base = &hdr, .iov_len = sizeof(hdr)},
	                       {.iov_base = (void *)payload, .iov_len = len}};
	union {
		char buf[CMSG_SPACE(sizeof(int) * FRAME_MAX_FDS)];
		struct cmsghdr align;
	} cmsg;
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	ssize_t n;

	if (len > FRAME_MAX_SIZE - FRAME_HDR_SIZE || nfds > FRAME_MAX_FDS)
		return -EMSGSIZE;
	if (nfds) {
		struct cmsghdr *c;

		memset(&cmsg, 0, sizeof(cmsg));
		msg.msg_control = cmsg.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(hdr) + len)
		return -EMSGSIZE; /* cannot happen on SOCK_SEQPACKET */
	return 0;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Collect SCM_RIGHTS fds; anything else in the control data is an error. */
static int collect_fds(struct msghdr *msg, struct frame *f)
{
	int r = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		unsigned n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0)) {
			r = -EBADMSG;
			continue;
		}
		n = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (f->nfds < FRAME_MAX_FDS)
				f->fds[f->nfds++] = fd;
			else
				close(fd);
		}
	}
	return r;
}

int frame_recv(int sock, struct frame *f, size_t max_len, unsigned max_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FRAME_MAX_FDS)];
		struct cmsghdr align;
	} cmsg;
	struct iovec iov[2] = {{.iov_base = &f->hdr, .iov_len = sizeof(f->hdr)},
	                       {.iov_base = f->payload, .iov_len = sizeof(f->payload)}};
	struct msghdr msg = {.msg_iov = iov,
	                     .msg_iovlen = 2,
	                     .msg_control = cmsg.buf,
	                     .msg_controllen = sizeof(cmsg.buf)};
	ssize_t n;
	int r;

	f->nfds = 0;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	r = collect_fds(&msg, f);
	if (n == 0 && f->nfds == 0)
		return -ECONNRESET;
	if (r < 0 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)n < sizeof(f->hdr) ||
	    f->hdr.version != FRAME_VERSION || f->hdr.flags != 0 ||
	    f->hdr.len != (size_t)n - sizeof(f->hdr) || f->hdr.len > max_len || f->nfds > max_fds) {
		frame_release(f);
		return -EBADMSG;
	}
	return 0;
}

int frame_get(const struct frame *f, void *dst, size_t len)
{
	if (f->hdr.len != len)
		return -EBADMSG;
	if (len) /* frame_get(f, NULL, 0) checks for an empty payload; memcpy(NULL, ..., 0) is UB */
		memcpy(dst, f->payload, len);
	return 0;
}

int frame_expect_fds(const struct frame *f, unsigned nfds)
{
	return f->nfds == nfds ? 0 : -EBADMSG;
}

int frame_take_fd(struct frame *f, unsigned i)
{
	int fd;

	if (i >= f->nfds)
		return -1;
	fd = f->fds[i];
	f->fds[i] = -1;
	return fd;
}

void frame_release(struct frame *f)
{
	close_fds(f->fds, f->nfds);
	f->nfds = 0;
}
