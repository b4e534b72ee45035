/* SPDX-License-Identifier: MIT */
/*
 * Fixed binary frames over SOCK_SEQPACKET, in the spirit of OpenBSD's imsg.
 *
 * One frame per datagram: a 16-byte header and a payload whose size the
 * receiver checks exactly against the message type.  File descriptors travel
 * as SCM_RIGHTS on the same datagram, are received with MSG_CMSG_CLOEXEC, and
 * only messages whose type expects them may carry them.
 *
 * Ownership: frame_send() borrows the fds it is given (the caller still owns
 * and closes them).  frame_recv() owns every fd it received until the caller
 * takes one with frame_take_fd(); frame_release() closes the rest.
 */
#ifndef DMB_IPC_FRAME_H
#define DMB_IPC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_VERSION  1
#define FRAME_HDR_SIZE 16
#define FRAME_MAX_SIZE 16384 /* header + payload, for every channel */
#define FRAME_MAX_FDS  253   /* SCM_MAX_FD */

struct frame_hdr {
	uint16_t version; /* FRAME_VERSION */
	uint16_t type;    /* per-protocol message type */
	uint32_t len;     /* payload bytes after the header */
	uint32_t id;      /* request id, echoed by replies */
	uint32_t flags;   /* reserved, must be zero */
};

struct frame {
	struct frame_hdr hdr;
	uint8_t payload[FRAME_MAX_SIZE - FRAME_HDR_SIZE];
	int fds[FRAME_MAX_FDS];
	unsigned nfds;
};

/*
 * Send one frame.  Returns 0, or -errno (-EMSGSIZE when it is too large,
 * -EAGAIN on a full non-blocking socket, -EPIPE when the peer is gone).
 */
int frame_send(int sock, uint16_t type, uint32_t id, const void *payload, size_t len,
               const int *fds, unsigned nfds);

/*
 * Receive one frame into *f.  max_len bounds the payload and max_fds the
 * descriptors this channel accepts; anything larger, truncated, of another
 * version or with non-zero flags is -EBADMSG (its fds are closed).
 * Returns 0, -ECONNRESET at end of stream, -EAGAIN when nothing is queued on
 * a non-blocking socket, or another -errno.
 */
int frame_recv(int sock, struct frame *f, size_t max_len, unsigned max_fds);

/* Copy the payload out; -EBADMSG unless it is exactly len bytes. */
int frame_get(const struct frame *f, void *dst, size_t len);

/* Check the number of fds carried; -EBADMSG if it differs. */
int frame_expect_fds(const struct frame *f, unsigned nfds);

/* Take ownership of fd i (returns it; -1 if absent). */
int frame_take_fd(struct frame *f, unsigned i);

/* Close every fd the frame still owns. */
void frame_release(struct frame *f);

#endif
