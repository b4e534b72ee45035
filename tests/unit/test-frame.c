/* SPDX-License-Identifier: MIT */
/* The frame layer (ipc/frame.c): one frame per SOCK_SEQPACKET datagram, with fd passing. */
#include "tests/test.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/frame.h"

#define MAX_PAYLOAD (FRAME_MAX_SIZE - FRAME_HDR_SIZE)

static void pair(int sv[2])
{
	ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
}

static struct frame *frame_new(void)
{
	struct frame *f = calloc(1, sizeof(*f));

	ASSERT_NOT_NULL(f);
	return f;
}

/* Send raw bytes as one datagram, optionally with fds, bypassing frame_send's checks. */
static void send_raw(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} cmsg;
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

	ASSERT_LE(nfds, 8);
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
	ASSERT_EQ(sendmsg(sock, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

/* A header followed by plen payload bytes, with the given header fields. */
static void send_hdr(int sock, uint16_t version, uint32_t len, uint32_t flags, size_t plen)
{
	uint8_t buf[FRAME_HDR_SIZE + 64] = {0};
	struct frame_hdr h = {.version = version, .type = 7, .len = len, .id = 9, .flags = flags};

	ASSERT_LE(plen, 64);
	memcpy(buf, &h, sizeof(h));
	send_raw(sock, buf, sizeof(h) + plen, NULL, 0);
}

static bool fd_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	ASSERT_GE(fl, 0);
	return fl & FD_CLOEXEC;
}

static ino_t fd_ino(int fd)
{
	struct stat st;

	ASSERT_OK(fstat(fd, &st));
	return st.st_ino;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

TEST(roundtrip_type_id_payload)
{
	int sv[2];
	struct frame *f = frame_new();
	const char msg[] = "hello, frame";
	char out[sizeof(msg)];

	pair(sv);
	ASSERT_OK(frame_send(sv[0], 0xbeef, 0xdeadbeef, msg, sizeof(msg), NULL, 0));
	ASSERT_OK(frame_recv(sv[1], f, MAX_PAYLOAD, 0));
	ASSERT_EQ(f->hdr.version, FRAME_VERSION);
	ASSERT_EQ(f->hdr.type, 0xbeef);
	ASSERT_EQ_U(f->hdr.id, 0xdeadbeef);
	ASSERT_EQ(f->hdr.len, sizeof(msg));
	ASSERT_EQ(f->hdr.flags, 0);
	ASSERT_EQ(f->nfds, 0);
	ASSERT_OK(frame_get(f, out, sizeof(out)));
	ASSERT_STREQ(out, msg);

	/* Frames keep their boundaries: two sends are two receives. */
	ASSERT_OK(frame_send(sv[1], 1, 1, "a", 1, NULL, 0));
	ASSERT_OK(frame_send(sv[1], 2, 2, "bc", 2, NULL, 0));
	ASSERT_OK(frame_recv(sv[0], f, MAX_PAYLOAD, 0));
	ASSERT_EQ(f->hdr.type, 1);
	ASSERT_EQ(f->hdr.len, 1);
	ASSERT_EQ(f->payload[0], 'a');
	ASSERT_OK(frame_recv(sv[0], f, MAX_PAYLOAD, 0));
	ASSERT_EQ(f->hdr.type, 2);
	ASSERT_EQ(f->hdr.len, 2);
	ASSERT_TRUE(memcmp(f->payload, "bc", 2) == 0);
	close(sv[0]);
	close(sv[1]);
	free(f);
}

TEST(zero_length_payload)
{
	int sv[2];
	struct frame *f = frame_new();

	pair(sv);
	ASSERT_OK(frame_send(sv[0], 5, 6, NULL, 0, NULL, 0));
	ASSERT_OK(frame_recv(sv[1], f, 0, 0));
	ASSERT_EQ(f->hdr.type, 5);
	ASSERT_EQ(f->hdr.id, 6);
	ASSERT_EQ(f->hdr.len, 0);
	ASSERT_OK(frame_get(f, NULL, 0));
	ASSERT_ERR(frame_get(f, f->payload, 1), -EBADMSG);
	close(sv[0]);
	close(sv[1]);
	free(f);
}

TEST(maximum_payload)
{
	int sv[2];
	struct frame *f = frame_new();
	uint8_t *buf = malloc(MAX_PAYLOAD), *out = malloc(MAX_PAYLOAD);

	ASSERT_NOT_NULL(buf);
	ASSERT_NOT_NULL(out);
	for (size_t i = 0; i < MAX_PAYLOAD; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	pair(sv);
	ASSERT_OK(frame_send(sv[0], 1, 2, buf, MAX_PAYLOAD, NULL, 0));
	ASSERT_OK(frame_recv(sv[1], f, MAX_PAYLOAD, 0));
	ASSERT_EQ(f->hdr.len, MAX_PAYLOAD);
	ASSERT_OK(frame_get(f, out, MAX_PAYLOAD));
	ASSERT_TRUE(memcmp(buf, out, MAX_PAYLOAD) == 0);
	close(sv[0]);
	close(sv[1]);
	free(buf);
	free(out);
	free(f);
}

TEST(too_large_is_emsgsize)
{
	int sv[2], fds[FRAME_MAX_FDS + 1];
	uint8_t *buf = calloc(1, MAX_PAYLOAD + 1);
	struct frame *f = frame_new();

	ASSERT_NOT_NULL(buf);
	pair(sv);
	ASSERT_ERR(frame_send(sv[0], 1, 2, buf, MAX_PAYLOAD + 1, NULL, 0), -EMSGSIZE);
	ASSERT_ERR(frame_send(sv[0], 1, 2, buf, SIZE_MAX, NULL, 0), -EMSGSIZE);
	for (unsigned i = 0; i < ARRAY_SIZE(fds); i++)
		fds[i] = sv[0];
	ASSERT_ERR(frame_send(sv[0], 1, 2, NULL, 0, fds, FRAME_MAX_FDS + 1), -EMSGSIZE);
	/* Nothing was sent. */
	ASSERT_OK(util_set_nonblock(sv[1], true));
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, FRAME_MAX_FDS), -EAGAIN);
	close(sv[0]);
	close(sv[1]);
	free(buf);
	free(f);
}

TEST(fds_arrive_cloexec_same_file)
{
	int sv[2], p[2], fds[3];
	struct frame *f = frame_new();
	int before;

	pair(sv);
	/* Deliberately not CLOEXEC on the sender's side: the receiver must set it itself. */
	ASSERT_OK(pipe(p));
	fds[0] = p[0];
	fds[1] = p[1];
	fds[2] = sv[0];
	ASSERT_FALSE(fd_cloexec(p[0]));
	before = util_count_fds();
	ASSERT_GE(before, 0);
	ASSERT_OK(frame_send(sv[0], 3, 4, "x", 1, fds, 3));
	/* frame_send borrows: the sender's fds stay open. */
	ASSERT_TRUE(fd_open(p[0]) && fd_open(p[1]));
	ASSERT_OK(frame_recv(sv[1], f, MAX_PAYLOAD, 3));
	ASSERT_EQ(f->nfds, 3);
	ASSERT_OK(frame_expect_fds(f, 3));
	ASSERT_EQ(util_count_fds(), before + 3);
	for (unsigned i = 0; i < 3; i++) {
		ASSERT_NE(f->fds[i], fds[i]);
		ASSERT_TRUE(fd_cloexec(f->fds[i]));
		ASSERT_EQ(fd_ino(f->fds[i]), fd_ino(fds[i]));
	}
	/* The received pipe ends are the same pipe. */
	ASSERT_EQ(write(f->fds[1], "z", 1), 1);
	{
		char c = 0;
		ASSERT_EQ(read(p[0], &c, 1), 1);
		ASSERT_EQ(c, 'z');
	}
	frame_release(f);
	ASSERT_EQ(f->nfds, 0);
	ASSERT_EQ(util_count_fds(), before);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	free(f);
}

TEST(take_fd_and_release_no_leak)
{
	int sv[2], fds[4];
	struct frame *f = frame_new();
	int before, taken;

	pair(sv);
	for (unsigned i = 0; i < 4; i++)
		fds[i] = sv[0];
	before = util_count_fds();
	ASSERT_OK(frame_send(sv[0], 1, 0, NULL, 0, fds, 4));
	ASSERT_OK(frame_recv(sv[1], f, 0, 4));
	ASSERT_EQ(util_count_fds(), before + 4);
	taken = frame_take_fd(f, 2);
	ASSERT_GE(taken, 0);
	ASSERT_EQ(fd_ino(taken), fd_ino(sv[0]));
	/* Taken once: the frame no longer owns it. */
	ASSERT_EQ(frame_take_fd(f, 2), -1);
	ASSERT_EQ(frame_take_fd(f, 4), -1);
	ASSERT_EQ(frame_take_fd(f, UINT32_MAX), -1);
	frame_release(f);
	/* The three others are closed; the taken one survives the release. */
	ASSERT_EQ(util_count_fds(), before + 1);
	ASSERT_TRUE(fd_open(taken));
	ASSERT_EQ(frame_take_fd(f, 0), -1);
	/* Releasing twice is harmless. */
	frame_release(f);
	ASSERT_EQ(util_count_fds(), before + 1);
	close(taken);
	ASSERT_EQ(util_count_fds(), before);
	close(sv[0]);
	close(sv[1]);
	free(f);
}

TEST(too_many_fds_rejected_and_closed)
{
	int sv[2], fds[3];
	struct frame *f = frame_new();
	int before;

	pair(sv);
	for (unsigned i = 0; i < 3; i++)
		fds[i] = sv[0];
	before = util_count_fds();
	ASSERT_OK(frame_send(sv[0], 1, 0, "abc", 3, fds, 3));
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 2), -EBADMSG);
	ASSERT_EQ(f->nfds, 0);
	ASSERT_EQ(util_count_fds(), before);
	/* A channel that takes no fds at all. */
	ASSERT_OK(frame_send(sv[0], 1, 0, NULL, 0, fds, 1));
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EBADMSG);
	ASSERT_EQ(util_count_fds(), before);
	/* The stream goes on: the next good frame is received. */
	ASSERT_OK(frame_send(sv[0], 8, 0, NULL, 0, fds, 2));
	ASSERT_OK(frame_recv(sv[1], f, MAX_PAYLOAD, 2));
	ASSERT_EQ(f->hdr.type, 8);
	ASSERT_EQ(f->nfds, 2);
	frame_release(f);
	ASSERT_EQ(util_count_fds(), before);
	close(sv[0]);
	close(sv[1]);
	free(f);
}

TEST(payload_above_max_len)
{
	int sv[2];
	struct frame *f = frame_new();
	uint8_t buf[64] = {0};
	int before;

	pair(sv);
	ASSERT_OK(frame_send(sv[0], 1, 0, buf, 16, NULL, 0));
	ASSERT_OK(frame_recv(sv[1], f, 16, 0)); /* exactly max_len is fine */
	ASSERT_OK(frame_send(sv[0], 1, 0, buf, 17, NULL, 0));
	ASSERT_ERR(frame_recv(sv[1], f, 16, 0), -EBADMSG);
	ASSERT_OK(frame_send(sv[0], 1, 0, buf, 1, NULL, 0));
	ASSERT_ERR(frame_recv(sv[1], f, 0, 0), -EBADMSG);
	/* fds of a rejected frame are closed. */
	before = util_count_fds();
	ASSERT_OK(frame_send(sv[0], 1, 0, buf, 17, &sv[0], 1));
	ASSERT_ERR(frame_recv(sv[1], f, 16, 1), -EBADMSG);
	ASSERT_EQ(util_count_fds(), before);
	close(sv[0]);
	close(sv[1]);
	free(f);
}

TEST(datagram_above_frame_max_size)
{
	int sv[2];
	struct frame *f = frame_new();
	size_t n = FRAME_MAX_SIZE + 100;
	uint8_t *buf = calloc(1, n);
	struct frame_hdr h = {.version = FRAME_VERSION, .type = 1, .len = (uint32_t)(n - 16)};
	int before;

	ASSERT_NOT_NULL(buf);
	memcpy(buf, &h, sizeof(h));
	pair(sv);
	before = util_count_fds();
	send_raw(sv[0], buf, n, &sv[0], 1); /* truncated on receipt */
	ASSERT_ERR(frame_recv(sv[1], f, SIZE_MAX, FRAME_MAX_FDS), -EBADMSG);
	ASSERT_EQ(util_count_fds(), before);
	close(sv[0]);
	close(sv[1]);
	free(buf);
	free(f);
}

TEST(bad_headers)
{
	int sv[2], fd;
	struct frame *f = frame_new();
	int before;

	pair(sv);
	/* A well-formed raw frame is accepted (the helpers below build it right). */
	send_hdr(sv[0], FRAME_VERSION, 4, 0, 4);
	ASSERT_OK(frame_recv(sv[1], f, MAX_PAYLOAD, 0));
	ASSERT_EQ(f->hdr.type, 7);
	ASSERT_EQ(f->hdr.id, 9);

	send_hdr(sv[0], 0, 4, 0, 4);
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EBADMSG);
	send_hdr(sv[0], FRAME_VERSION + 1, 4, 0, 4);
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EBADMSG);
	send_hdr(sv[0], 0xffff, 0, 0, 0);
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EBADMSG);
	/* Non-zero flags. */
	send_hdr(sv[0], FRAME_VERSION, 4, 1, 4);
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EBADMSG);
	send_hdr(sv[0], FRAME_VERSION, 0, 0x80000000u, 0);
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EBADMSG);
	/* len does not match the datagram: shorter, longer, huge. */
	send_hdr(sv[0], FRAME_VERSION, 4, 0, 8);
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EBADMSG);
	send_hdr(sv[0], FRAME_VERSION, 8, 0, 4);
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EBADMSG);
	send_hdr(sv[0], FRAME_VERSION, 1, 0, 0);
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EBADMSG);
	send_hdr(sv[0], FRAME_VERSION, UINT32_MAX, 0, 4);
	ASSERT_ERR(frame_recv(sv[1], f, SIZE_MAX, 0), -EBADMSG);
	send_hdr(sv[0], FRAME_VERSION, 0, 0, 1);
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EBADMSG);
	/* Headers shorter than 16 bytes, including one byte. */
	for (size_t n = 1; n < FRAME_HDR_SIZE; n++) {
		struct frame_hdr h = {.version = FRAME_VERSION, .type = 1};
		send_raw(sv[0], &h, n, NULL, 0);
		ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EBADMSG);
	}
	/* A bad header with fds: rejected, fds closed. */
	fd = sv[0];
	before = util_count_fds();
	{
		struct frame_hdr h = {.version = FRAME_VERSION, .type = 1, .len = 0};
		send_raw(sv[0], &h, 8, &fd, 1);
		ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 1), -EBADMSG);
		ASSERT_EQ(util_count_fds(), before);
		h.flags = 2;
		send_raw(sv[0], &h, sizeof(h), &fd, 1);
		ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 1), -EBADMSG);
		ASSERT_EQ(util_count_fds(), before);
	}
	/* Still in sync afterwards. */
	ASSERT_OK(frame_send(sv[0], 42, 43, "ok", 2, NULL, 0));
	ASSERT_OK(frame_recv(sv[1], f, MAX_PAYLOAD, 0));
	ASSERT_EQ(f->hdr.type, 42);
	close(sv[0]);
	close(sv[1]);
	free(f);
}

/* A zero-byte datagram that carries an fd is not end of stream, and must not leak it. */
TEST(empty_datagram_with_fd)
{
	int sv[2];
	struct frame *f = frame_new();
	int before, r;

	pair(sv);
	before = util_count_fds();
	send_raw(sv[0], "", 0, &sv[0], 1);
	r = frame_recv(sv[1], f, MAX_PAYLOAD, 1);
	ASSERT_TRUE(r == -EBADMSG || r == -ECONNRESET);
	ASSERT_EQ(util_count_fds(), before);
	close(sv[0]);
	close(sv[1]);
	free(f);
}

/* Control data other than SCM_RIGHTS (here credentials) is rejected. */
TEST(foreign_control_message)
{
	int sv[2], one = 1;
	struct frame *f = frame_new();

	pair(sv);
	ASSERT_OK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)));
	ASSERT_OK(frame_send(sv[0], 1, 0, "x", 1, NULL, 0));
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EBADMSG);
	close(sv[0]);
	close(sv[1]);
	free(f);
}

TEST(peer_closed_is_econnreset)
{
	int sv[2];
	struct frame *f = frame_new();

	pair(sv);
	ASSERT_OK(frame_send(sv[0], 1, 0, "x", 1, NULL, 0));
	close(sv[0]);
	/* What was queued is still delivered, then end of stream. */
	ASSERT_OK(frame_recv(sv[1], f, MAX_PAYLOAD, 0));
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -ECONNRESET);
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -ECONNRESET);
	/* Sending to a closed peer: -EPIPE, and no SIGPIPE. */
	ASSERT_ERR(frame_send(sv[1], 1, 0, NULL, 0, NULL, 0), -EPIPE);
	close(sv[1]);
	free(f);
}

TEST(nonblocking_empty_is_eagain)
{
	int sv[2];
	struct frame *f = frame_new();

	pair(sv);
	ASSERT_OK(util_set_nonblock(sv[1], true));
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EAGAIN);
	ASSERT_EQ(f->nfds, 0);
	ASSERT_OK(frame_send(sv[0], 1, 0, NULL, 0, NULL, 0));
	ASSERT_OK(frame_recv(sv[1], f, MAX_PAYLOAD, 0));
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, 0), -EAGAIN);
	close(sv[0]);
	close(sv[1]);
	free(f);
}

TEST(frame_get_exact_size)
{
	int sv[2];
	struct frame *f = frame_new();
	uint64_t v = 0x1122334455667788ull, out = 0;
	uint32_t small = 0;
	uint8_t big[16];

	pair(sv);
	ASSERT_OK(frame_send(sv[0], 1, 0, &v, sizeof(v), NULL, 0));
	ASSERT_OK(frame_recv(sv[1], f, MAX_PAYLOAD, 0));
	ASSERT_ERR(frame_get(f, &small, sizeof(small)), -EBADMSG);
	ASSERT_EQ(small, 0); /* untouched on failure */
	memset(big, 0xaa, sizeof(big));
	ASSERT_ERR(frame_get(f, big, sizeof(big)), -EBADMSG);
	ASSERT_EQ(big[0], 0xaa);
	ASSERT_ERR(frame_get(f, &out, 0), -EBADMSG);
	ASSERT_OK(frame_get(f, &out, sizeof(out)));
	ASSERT_EQ_U(out, v);
	close(sv[0]);
	close(sv[1]);
	free(f);
}

TEST(frame_expect_fds_counts)
{
	int sv[2], fds[2];
	struct frame *f = frame_new();

	pair(sv);
	fds[0] = fds[1] = sv[0];
	ASSERT_OK(frame_send(sv[0], 1, 0, NULL, 0, NULL, 0));
	ASSERT_OK(frame_recv(sv[1], f, MAX_PAYLOAD, 2));
	ASSERT_OK(frame_expect_fds(f, 0));
	ASSERT_ERR(frame_expect_fds(f, 1), -EBADMSG);
	ASSERT_OK(frame_send(sv[0], 1, 0, NULL, 0, fds, 2));
	ASSERT_OK(frame_recv(sv[1], f, MAX_PAYLOAD, 2));
	ASSERT_OK(frame_expect_fds(f, 2));
	ASSERT_ERR(frame_expect_fds(f, 0), -EBADMSG);
	ASSERT_ERR(frame_expect_fds(f, 1), -EBADMSG);
	ASSERT_ERR(frame_expect_fds(f, 3), -EBADMSG);
	frame_release(f);
	ASSERT_OK(frame_expect_fds(f, 0));
	close(sv[0]);
	close(sv[1]);
	free(f);
}

/* The most fds one datagram can carry all arrive, and are all released. */
TEST(max_fds)
{
	int sv[2], fds[FRAME_MAX_FDS];
	struct frame *f = frame_new();
	int before;

	pair(sv);
	for (unsigned i = 0; i < FRAME_MAX_FDS; i++)
		fds[i] = sv[0];
	before = util_count_fds();
	ASSERT_OK(frame_send(sv[0], 1, 0, "m", 1, fds, FRAME_MAX_FDS));
	ASSERT_OK(frame_recv(sv[1], f, MAX_PAYLOAD, FRAME_MAX_FDS));
	ASSERT_EQ(f->nfds, FRAME_MAX_FDS);
	ASSERT_EQ(util_count_fds(), before + FRAME_MAX_FDS);
	frame_release(f);
	ASSERT_EQ(util_count_fds(), before);
	ASSERT_OK(frame_send(sv[0], 1, 0, "m", 1, fds, FRAME_MAX_FDS));
	ASSERT_ERR(frame_recv(sv[1], f, MAX_PAYLOAD, FRAME_MAX_FDS - 1), -EBADMSG);
	ASSERT_EQ(util_count_fds(), before);
	close(sv[0]);
	close(sv[1]);
	free(f);
}
