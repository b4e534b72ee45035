/* SPDX-License-Identifier: MIT */
/*
 * libdmb against a broker played by the test: dmb_open()/dmb_run() run in a
 * forked child on one end of a socketpair, the test sends (broken) handoff
 * sequences on the other and checks how the child ends.  The child _exit()s
 * with -errno of what failed (0 on success), so a crash or hang shows as a
 * signal or a timeout instead.
 */
#include "tests/test.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xen/hvm/hvm_op.h>

#include "common/util.h"
#include "dm/dmb.h"
#include "ipc/dmproto.h"
#include "ipc/frame.h"
#include "ipc/ioreq.h"
#include "ipc/simchan.h"

#define DOMID     7
#define SERVER_ID 2
#define PCI_DEV   IOREQ_SBDF(0, 0, 3, 0)
#define WAIT_MS   5000

#define EXIT_FD_LEAK 250 /* the child had more or fewer fds after dmb_open() than before */

/* ---- the device model (child) ------------------------------------------------ */

/* What the callbacks saw, in memory shared with the test. */
struct seen {
	uint64_t calls;
	unsigned kind, size;
	uint32_t sbdf;
	uint64_t addr, value;
	int64_t timeoffset;
	unsigned invalidates;
};

static struct seen *seen;

static void record(unsigned kind, uint64_t addr, unsigned size, uint64_t value)
{
	seen->calls++;
	seen->kind = kind;
	seen->addr = addr;
	seen->size = size;
	seen->value = value;
}

static uint64_t cb_pio_read(void *o, uint16_t port, unsigned size)
{
	(void)o;
	record(1, port, size, 0);
	return 0xcafe0000u | port;
}

static void cb_pio_write(void *o, uint16_t port, unsigned size, uint64_t value)
{
	(void)o;
	record(2, port, size, value);
}

static uint64_t cb_mmio_read(void *o, uint64_t addr, unsigned size)
{
	(void)o;
	record(3, addr, size, 0);
	return 0xbeef000000000000ull | (addr & 0xffff);
}

static void cb_mmio_write(void *o, uint64_t addr, unsigned size, uint64_t value)
{
	(void)o;
	record(4, addr, size, value);
}

static uint64_t cb_pci_read(void *o, uint32_t sbdf, unsigned reg, unsigned size)
{
	(void)o;
	record(5, reg, size, 0);
	seen->sbdf = sbdf;
	return 0x5a5a0000u | reg;
}

static void cb_pci_write(void *o, uint32_t sbdf, unsigned reg, unsigned size, uint64_t value)
{
	(void)o;
	record(6, reg, size, value);
	seen->sbdf = sbdf;
}

static void cb_invalidate(void *o)
{
	(void)o;
	seen->calls++;
	seen->invalidates++;
}

static void cb_timeoffset(void *o, int64_t offset)
{
	(void)o;
	seen->calls++;
	seen->timeoffset = offset;
}

static const struct dmb_ops ops = {
        .pio_read = cb_pio_read,
        .pio_write = cb_pio_write,
        .mmio_read = cb_mmio_read,
        .mmio_write = cb_mmio_write,
        .pci_read = cb_pci_read,
        .pci_write = cb_pci_write,
        .invalidate = cb_invalidate,
        .timeoffset = cb_timeoffset,
};

enum dm_mode {
	DM_OPEN, /* dmb_open() only */
	DM_RUN,  /* dmb_open() and dmb_run() */
};

static int exit_code(int r)
{
	return r < 0 ? (-r & 0xff) : 0;
}

/* Fork the device model on a fresh socketpair; returns its pid and the broker's end. */
static pid_t dm_start(enum dm_mode mode, int *ret_sock)
{
	int sv[2];
	pid_t pid;

	if (!seen) {
		seen = mmap(NULL, sizeof(*seen), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		            -1, 0);
		ASSERT_TRUE(seen != MAP_FAILED);
	}
	memset(seen, 0, sizeof(*seen));
	ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
	fflush(NULL);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct dmb_config cfg = {
		        .ops = &ops, .fd = sv[1], .poll_us = -1, .no_lockdown = true};
		struct dmb *d = NULL;
		int before, r;

		alarm(30); /* never outlive the test */
		close(sv[0]);
		before = util_count_fds();
		r = dmb_open(&cfg, &d);
		if (r < 0) {
			/* A failed handoff keeps none of the fds it received. */
			_exit(util_count_fds() != before ? EXIT_FD_LEAK : exit_code(r));
		}
		if (mode == DM_RUN)
			r = dmb_run(d);
		dmb_close(d);
		if (r == 0 && util_count_fds() != before)
			_exit(EXIT_FD_LEAK);
		_exit(exit_code(r));
	}
	close(sv[1]);
	*ret_sock = sv[0];
	return pid;
}

static uint64_t now_ms(void)
{
	return util_now_ns() / 1000000;
}

/* Exit code of the child; 1000 + signal if killed; -1 if still running after ms. */
static int dm_wait_ms(pid_t pid, unsigned ms)
{
	uint64_t deadline = now_ms() + ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		ASSERT_GE(r, 0);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
		if (now_ms() >= deadline)
			return -1;
		util_sleep_ns(1000 * 1000);
	}
}

/* Like dm_wait_ms, but a child still running is a failure (and is killed). */
static int dm_wait(pid_t pid)
{
	int r = dm_wait_ms(pid, WAIT_MS);

	if (r == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		test_fail(__FILE__, __LINE__, "device model still running after %u ms", WAIT_MS);
	}
	return r;
}

/* ---- the broker (test) --------------------------------------------------------- */

static struct dmp_hello good_hello(void)
{
	struct dmp_hello h;

	memset(&h, 0, sizeof(h));
	h.domid = DOMID;
	h.server_id = SERVER_ID;
	h.nr_vcpus = 2;
	h.bufioreq = HVM_IOREQSRV_BUFIOREQ_OFF;
	strcpy(h.name, "test-dm");
	return h;
}

static void send_msg(int sock, uint16_t type, const void *p, size_t len, const int *fds,
                     unsigned nfds)
{
	int r = frame_send(sock, type, 0, p, len, fds, nfds);

	/* A device model that already rejected an earlier message may be gone: its exit
	 * status is what the test checks, not whether the rest could still be sent. */
	if (r != -EPIPE && r != -ECONNRESET)
		ASSERT_OK(r);
}

static void send_hello(int sock, const struct dmp_hello *h)
{
	send_msg(sock, DMP_HELLO, h, sizeof(*h), NULL, 0);
}

static void send_claims(int sock, unsigned kind, unsigned n, const struct dmp_range *r)
{
	struct dmp_claims *msg = calloc(1, sizeof(*msg));

	ASSERT_NOT_NULL(msg);
	msg->kind = kind;
	msg->n = n;
	if (r)
		memcpy(msg->r, r, MIN(n, (unsigned)DMP_MAX_RANGES) * sizeof(*r));
	send_msg(sock, DMP_CLAIMS, msg, sizeof(*msg), NULL, 0);
	free(msg);
}

static void send_std_claims(int sock)
{
	const struct dmp_range port[] = {{0x510, 0x51f}};
	const struct dmp_range mmio[] = {{0xe0000000, 0xe0000fff}, {0xa0000, 0xbffff}};
	const struct dmp_range pci[] = {{PCI_DEV, PCI_DEV}};

	send_claims(sock, DMP_CLAIM_PORT, ARRAY_SIZE(port), port);
	send_claims(sock, DMP_CLAIM_MMIO, ARRAY_SIZE(mmio), mmio);
	send_claims(sock, DMP_CLAIM_PCI, ARRAY_SIZE(pci), pci);
}

/* A memfd of this size, sealed against resizing as the simulator's pages are. */
static int page_memfd(size_t size)
{
	int fd = memfd_create("test-page", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ASSERT_GE(fd, 0);
	ASSERT_OK(ftruncate(fd, (off_t)size));
	ASSERT_OK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
	return fd;
}

static void send_pages(int sock, uint32_t kind, uint32_t domid, uint32_t server, bool has_buf,
                       const int *fds, unsigned nfds)
{
	struct dmp_pages p = {
	        .kind = kind, .domid = domid, .server_id = server, .has_buf = has_buf};

	send_msg(sock, DMP_PAGES, &p, sizeof(p), fds, nfds);
}

/* HELLO and the three CLAIMS, as the broker sends them. */
static void send_hello_claims(int sock, const struct dmp_hello *h)
{
	send_hello(sock, h);
	send_std_claims(sock);
}

/* Start a DM, send what setup() sends, close our end, and return the DM's exit code. */
static int handoff_result(void (*setup)(int sock, const void *arg), const void *arg)
{
	int sock;
	pid_t pid = dm_start(DM_OPEN, &sock);

	setup(sock, arg);
	/* Anything the DM might still wait for becomes end of stream, not a 10 s timeout. */
	close(sock);
	return dm_wait(pid);
}

static void setup_hello(int sock, const void *arg)
{
	send_hello(sock, arg);
	send_std_claims(sock);
}

static void setup_nothing(int sock, const void *arg)
{
	(void)sock, (void)arg;
}

/* ---- broken handoffs ----------------------------------------------------------- */

static void setup_claims_first(int sock, const void *arg)
{
	(void)arg;
	send_std_claims(sock);
}

static void setup_ready_first(int sock, const void *arg)
{
	(void)arg;
	send_msg(sock, DMP_READY, NULL, 0, NULL, 0);
}

static void setup_pages_first(int sock, const void *arg)
{
	int fd = page_memfd(4096);

	(void)arg;
	send_pages(sock, DMP_PAGES_MEMFD, DOMID, SERVER_ID, false, &fd, 1);
	close(fd);
}

TEST(open_rejects_wrong_first_message)
{
	ASSERT_EQ(handoff_result(setup_claims_first, NULL), EPROTO);
	ASSERT_EQ(handoff_result(setup_ready_first, NULL), EPROTO);
	ASSERT_EQ(handoff_result(setup_pages_first, NULL), EPROTO);
}

TEST(open_rejects_bad_hello)
{
	struct dmp_hello h;

	h = good_hello();
	memset(h.name, 'a', sizeof(h.name)); /* no NUL */
	ASSERT_EQ(handoff_result(setup_hello, &h), EPROTO);
	h = good_hello();
	h.nr_vcpus = 0;
	ASSERT_EQ(handoff_result(setup_hello, &h), EPROTO);
	h.nr_vcpus = DMP_MAX_VCPUS + 1;
	ASSERT_EQ(handoff_result(setup_hello, &h), EPROTO);
	h.nr_vcpus = 0xffff;
	ASSERT_EQ(handoff_result(setup_hello, &h), EPROTO);
	h = good_hello();
	h.bufioreq = 3;
	ASSERT_EQ(handoff_result(setup_hello, &h), EPROTO);
	h.bufioreq = UINT32_MAX;
	ASSERT_EQ(handoff_result(setup_hello, &h), EPROTO);
}

static void setup_hello_with_fd(int sock, const void *arg)
{
	struct dmp_hello h = good_hello();
	int fd = page_memfd(4096);

	(void)arg;
	send_msg(sock, DMP_HELLO, &h, sizeof(h), &fd, 1);
	close(fd);
	send_std_claims(sock);
}

static void setup_hello_size(int sock, const void *arg)
{
	uint8_t buf[sizeof(struct dmp_hello) + 8];
	struct dmp_hello h = good_hello();
	size_t len = *(const size_t *)arg;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, &h, sizeof(h));
	send_msg(sock, DMP_HELLO, buf, len, NULL, 0);
	send_std_claims(sock);
}

TEST(open_rejects_malformed_hello_frame)
{
	static const size_t sizes[] = {0, 1, sizeof(struct dmp_hello) - 1,
	                               sizeof(struct dmp_hello) + 1, sizeof(struct dmp_hello) + 8};

	ASSERT_EQ(handoff_result(setup_hello_with_fd, NULL), EPROTO);
	for (unsigned i = 0; i < ARRAY_SIZE(sizes); i++)
		ASSERT_EQ(handoff_result(setup_hello_size, &sizes[i]), EPROTO);
}

static void setup_raw_garbage(int sock, const void *arg)
{
	struct frame_hdr hdr = {.version = FRAME_VERSION + 1, .type = DMP_HELLO};

	(void)arg;
	ASSERT_EQ(send(sock, &hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
}

TEST(open_rejects_bad_frame)
{
	ASSERT_EQ(handoff_result(setup_raw_garbage, NULL), EBADMSG);
}

struct claims_case {
	unsigned kinds[3];
	unsigned n;
	struct dmp_range r[3];
};

static void setup_claims(int sock, const void *arg)
{
	const struct claims_case *cc = arg;
	struct dmp_hello h = good_hello();

	send_hello(sock, &h);
	/* More than r[] holds: the count alone is wrong, the entries are zeros. */
	for (unsigned k = 0; k < 3; k++)
		send_claims(sock, cc->kinds[k], cc->n, cc->n <= ARRAY_SIZE(cc->r) ? cc->r : NULL);
}

TEST(open_rejects_bad_claims)
{
	/* Out of order: MMIO first. */
	struct claims_case order = {{DMP_CLAIM_MMIO, DMP_CLAIM_PORT, DMP_CLAIM_PCI}, 0, {{0}}};
	struct claims_case repeat = {{DMP_CLAIM_PORT, DMP_CLAIM_PORT, DMP_CLAIM_PCI}, 0, {{0}}};
	struct claims_case badkind = {{DMP_CLAIM_KINDS, 0, 0}, 0, {{0}}};
	/* Overlapping ranges (given unsorted, so only sorting reveals it). */
	struct claims_case overlap = {{0, 1, 2}, 3, {{0x600, 0x6ff}, {0x10, 0x1f}, {0x6ff, 0x700}}};
	/* Port beyond 0xffff; more ranges than Xen allows. */
	struct claims_case port = {{0, 1, 2}, 1, {{0xffff, 0x10000}}};
	struct claims_case many = {{0, 1, 2}, DMP_MAX_RANGES + 1, {{0}}};

	ASSERT_EQ(handoff_result(setup_claims, &order), EPROTO);
	ASSERT_EQ(handoff_result(setup_claims, &repeat), EPROTO);
	ASSERT_EQ(handoff_result(setup_claims, &badkind), EPROTO);
	ASSERT_EQ(handoff_result(setup_claims, &overlap), EPROTO);
	ASSERT_EQ(handoff_result(setup_claims, &port), EPROTO);
	ASSERT_EQ(handoff_result(setup_claims, &many), EPROTO);
	/* Disjoint ranges are fine: the DM then waits for PAGES and sees the close. */
	{
		struct claims_case ok = {
		        {0, 1, 2}, 3, {{0x600, 0x600}, {0x10, 0x10}, {0x601, 0x601}}};
		ASSERT_EQ(handoff_result(setup_claims, &ok), ECONNRESET);
	}
}

struct pages_case {
	uint32_t kind, domid, server;
	bool has_buf;
	unsigned bufioreq;
	unsigned nfds;
	size_t size[3];
	bool pipe; /* send a pipe instead of a memfd */
};

static void setup_pages(int sock, const void *arg)
{
	const struct pages_case *pc = arg;
	struct dmp_hello h = good_hello();
	int fds[3];

	h.bufioreq = pc->bufioreq;
	send_hello_claims(sock, &h);
	for (unsigned i = 0; i < pc->nfds; i++) {
		if (pc->pipe) {
			int p[2];
			ASSERT_OK(pipe2(p, O_CLOEXEC));
			close(p[1]);
			fds[i] = p[0];
		} else {
			fds[i] = page_memfd(pc->size[i]);
		}
	}
	send_pages(sock, pc->kind, pc->domid, pc->server, pc->has_buf, fds, pc->nfds);
	for (unsigned i = 0; i < pc->nfds; i++)
		close(fds[i]);
}

TEST(open_rejects_bad_pages)
{
	const struct pages_case good = {.kind = DMP_PAGES_MEMFD,
	                                .domid = DOMID,
	                                .server = SERVER_ID,
	                                .nfds = 1,
	                                .size = {4096}};
	struct pages_case pc;

	/* The reference case: the handoff succeeds. */
	ASSERT_EQ(handoff_result(setup_pages, &good), 0);

	pc = good;
	pc.domid = DOMID + 1;
	ASSERT_EQ(handoff_result(setup_pages, &pc), EPROTO);
	pc = good;
	pc.server = SERVER_ID + 1;
	ASSERT_EQ(handoff_result(setup_pages, &pc), EPROTO);
	pc = good;
	pc.nfds = 0;
	ASSERT_EQ(handoff_result(setup_pages, &pc), EPROTO);
	pc = good;
	pc.nfds = 3;
	pc.size[1] = pc.size[2] = 4096;
	ASSERT_EQ(handoff_result(setup_pages, &pc), EPROTO);
	pc = good;
	pc.nfds = 2; /* a buffered page nobody announced */
	pc.size[1] = 4096;
	ASSERT_EQ(handoff_result(setup_pages, &pc), EPROTO);
	/* Pages smaller than a page would SIGBUS the DM on first access. */
	pc = good;
	pc.size[0] = 4095;
	ASSERT_EQ(handoff_result(setup_pages, &pc), EPROTO);
	pc.size[0] = 0;
	ASSERT_EQ(handoff_result(setup_pages, &pc), EPROTO);
	pc = good;
	pc.pipe = true;
	ASSERT_EQ(handoff_result(setup_pages, &pc), EPROTO);
	/* The buffered page too. */
	pc = good;
	pc.bufioreq = HVM_IOREQSRV_BUFIOREQ_LEGACY;
	pc.has_buf = true;
	pc.nfds = 2;
	pc.size[1] = 100;
	ASSERT_EQ(handoff_result(setup_pages, &pc), EPROTO);
	pc.size[1] = 4096;
	ASSERT_EQ(handoff_result(setup_pages, &pc), 0);
	/* has_buf must match the HELLO's bufioreq, both ways. */
	pc.has_buf = false;
	pc.nfds = 1;
	ASSERT_EQ(handoff_result(setup_pages, &pc), EPROTO);
	pc = good;
	pc.has_buf = true;
	pc.nfds = 2;
	pc.size[1] = 4096;
	ASSERT_EQ(handoff_result(setup_pages, &pc), EPROTO);
	/* Unknown kind. */
	pc = good;
	pc.kind = 0;
	ASSERT_EQ(handoff_result(setup_pages, &pc), EPROTO);
	pc.kind = 99;
	ASSERT_EQ(handoff_result(setup_pages, &pc), EPROTO);
}

static void setup_partial(int sock, const void *arg)
{
	unsigned steps = *(const unsigned *)arg;
	struct dmp_hello h = good_hello();
	const struct dmp_range none[1] = {{0}};

	if (steps >= 1)
		send_hello(sock, &h);
	for (unsigned k = 0; k < 3 && k + 2 <= steps; k++)
		send_claims(sock, k, 0, none);
}

TEST(open_peer_closes_mid_handoff)
{
	/* Closed before anything, after HELLO, after each CLAIMS. */
	for (unsigned steps = 0; steps <= 4; steps++)
		ASSERT_EQ(handoff_result(setup_partial, &steps), ECONNRESET);
	ASSERT_EQ(handoff_result(setup_nothing, NULL), ECONNRESET);
}

TEST(open_limits)
{
	struct dmp_hello h = good_hello();
	int sock;
	pid_t pid;

	/* No ops, or no config: refused before reading anything. */
	{
		struct dmb_config cfg = {.ops = NULL, .fd = 0, .poll_us = -1};
		struct dmb *d = (struct dmb *)0x1;
		ASSERT_ERR(dmb_open(&cfg, &d), -EINVAL);
		ASSERT_ERR(dmb_open(NULL, &d), -EINVAL);
		ASSERT_TRUE(d == (struct dmb *)0x1);
	}
	/* The largest vCPU count and the longest name are accepted. */
	h.nr_vcpus = DMP_MAX_VCPUS;
	memset(h.name, 'n', sizeof(h.name) - 1);
	h.name[sizeof(h.name) - 1] = '\0';
	pid = dm_start(DM_OPEN, &sock);
	send_hello_claims(sock, &h);
	{
		int fd = page_memfd(4096);
		send_pages(sock, DMP_PAGES_MEMFD, DOMID, SERVER_ID, false, &fd, 1);
		close(fd);
	}
	ASSERT_EQ(dm_wait(pid), 0);
	close(sock);
}

/* ---- a working device model ------------------------------------------------------ */

struct broker {
	pid_t pid;
	int sock;
	unsigned nr;
	shared_iopage_t *page;
	buffered_iopage_t *buf;
	struct simchan_page *chan;
	int page_fd, buf_fd, chan_fd;
	int to_dm[SIMCHAN_MAX_VCPUS + 1], to_sim[SIMCHAN_MAX_VCPUS];
};

static void *map_fd(int fd)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	return p;
}

/* Wait for a frame from the DM (with a timeout) and check its type. */
static void broker_recv(struct broker *b, struct frame *f, uint16_t type)
{
	struct pollfd pfd = {.fd = b->sock, .events = POLLIN};

	ASSERT_EQ(poll(&pfd, 1, WAIT_MS), 1);
	ASSERT_OK(frame_recv(b->sock, f, sizeof(f->payload), 0));
	ASSERT_EQ(f->hdr.type, type);
}

/* Start a DM and take it through the handoff up to its READY. */
static void broker_start(struct broker *b, unsigned nr_vcpus, bool bufioreq)
{
	struct dmp_hello h = good_hello();
	struct frame *f = calloc(1, sizeof(*f));
	int fds[2];

	ASSERT_NOT_NULL(f);
	memset(b, 0, sizeof(*b));
	b->nr = nr_vcpus;
	b->buf_fd = -1;
	h.nr_vcpus = (uint16_t)nr_vcpus;
	h.bufioreq = bufioreq ? HVM_IOREQSRV_BUFIOREQ_LEGACY : HVM_IOREQSRV_BUFIOREQ_OFF;
	b->pid = dm_start(DM_RUN, &b->sock);
	send_hello_claims(b->sock, &h);
	b->page_fd = fds[0] = page_memfd(4096);
	b->page = map_fd(b->page_fd);
	if (bufioreq) {
		b->buf_fd = fds[1] = page_memfd(4096);
		b->buf = map_fd(b->buf_fd);
	}
	send_pages(b->sock, DMP_PAGES_MEMFD, DOMID, SERVER_ID, bufioreq, fds, bufioreq ? 2 : 1);
	broker_recv(b, f, DMP_READY);
	ASSERT_EQ(f->hdr.len, 0);
	free(f);
}

/* Event channels, ipc/simchan.h's way; chan_size lets a test send a broken channel page. */
static void broker_ports(struct broker *b, size_t chan_size)
{
	struct dmp_ports msg;
	int fds[DMP_MAX_PORT_FDS];
	unsigned n = 0;

	memset(&msg, 0, sizeof(msg));
	msg.kind = DMP_PORTS_SIM;
	msg.nr_vcpus = b->nr;
	msg.has_buf = b->buf != NULL;
	b->chan_fd = fds[n++] = page_memfd(chan_size);
	if (chan_size >= 4096)
		b->chan = map_fd(b->chan_fd);
	for (unsigned v = 0; v < b->nr; v++) {
		b->to_dm[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		b->to_sim[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ASSERT_GE(b->to_dm[v], 0);
		ASSERT_GE(b->to_sim[v], 0);
		fds[n++] = b->to_dm[v];
		fds[n++] = b->to_sim[v];
		msg.port[v] = 10 + v;
	}
	if (b->buf) {
		b->to_dm[b->nr] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ASSERT_GE(b->to_dm[b->nr], 0);
		fds[n++] = b->to_dm[b->nr];
		msg.buf_port = 9;
	}
	send_msg(b->sock, DMP_PORTS, &msg, sizeof(msg), fds, n);
}

static void broker_close(struct broker *b)
{
	for (unsigned v = 0; v < b->nr; v++) {
		util_close(b->to_dm[v]);
		util_close(b->to_sim[v]);
	}
	if (b->buf)
		util_close(b->to_dm[b->nr]);
	if (b->chan)
		munmap(b->chan, 4096);
	munmap(b->page, 4096);
	if (b->buf)
		munmap(b->buf, 4096);
	util_close(b->page_fd);
	util_close(b->buf_fd);
	util_close(b->chan_fd);
	util_close(b->sock);
}

/* Play a vCPU: put a request in slot v, kick the DM, wait for its answer. */
static uint64_t broker_req(struct broker *b, unsigned v, unsigned type, unsigned dir, unsigned size,
                           uint64_t addr, uint64_t data, uint32_t count)
{
	ioreq_t *slot = &b->page->vcpu_ioreq[v];
	ioreq_t q;
	struct pollfd pfd = {.fd = b->to_sim[v], .events = POLLIN};
	eventfd_t cnt;
	uint64_t val;

	ASSERT_EQ(ioreq_load_state(slot), STATE_IOREQ_NONE);
	memset(&q, 0, sizeof(q));
	q.type = (uint8_t)type;
	q.dir = dir & 1;
	q.size = size;
	q.addr = addr;
	q.data = data;
	q.count = count;
	q.vp_eport = 10 + v;
	q.state = STATE_IOREQ_NONE;
	memcpy(slot, &q, sizeof(q));
	ioreq_store_state(slot, STATE_IOREQ_READY);
	ASSERT_OK(eventfd_write(b->to_dm[v], 1));
	ASSERT_EQ(poll(&pfd, 1, WAIT_MS), 1);
	ASSERT_OK(eventfd_read(b->to_sim[v], &cnt));
	ASSERT_EQ(ioreq_load_state(slot), STATE_IORESP_READY);
	val = __atomic_load_n(&slot->data, __ATOMIC_RELAXED);
	ioreq_store_state(slot, STATE_IOREQ_NONE);
	return val;
}

static struct dmp_stats broker_stats(struct broker *b, uint32_t id)
{
	struct frame *f = calloc(1, sizeof(*f));
	struct dmp_stats st;

	ASSERT_NOT_NULL(f);
	ASSERT_OK(frame_send(b->sock, DMP_STATS_REQ, id, NULL, 0, NULL, 0));
	broker_recv(b, f, DMP_STATS);
	ASSERT_EQ(f->hdr.id, id);
	ASSERT_EQ(f->nfds, 0);
	ASSERT_OK(frame_get(f, &st, sizeof(st)));
	free(f);
	return st;
}

static void broker_shutdown(struct broker *b)
{
	ASSERT_OK(frame_send(b->sock, DMP_SHUTDOWN, 0, NULL, 0, NULL, 0));
	ASSERT_EQ(dm_wait(b->pid), 0);
	broker_close(b);
}

TEST(run_serves_requests)
{
	struct broker b;
	struct dmp_stats st;

	broker_start(&b, 2, false);
	/* Stats before the ports: answered, all zero. */
	st = broker_stats(&b, 5);
	ASSERT_EQ(st.served[0] + st.served[1] + st.served[2] + st.served[3], 0);
	broker_ports(&b, 4096);

	ASSERT_EQ_U(broker_req(&b, 0, IOREQ_TYPE_PIO, IOREQ_READ, 4, 0x514, 0, 1), 0xcafe0514);
	ASSERT_EQ(seen->calls, 1);
	ASSERT_EQ(seen->kind, 1);
	ASSERT_EQ(seen->size, 4);
	/* The second vCPU's slot and ports (fds [3] and [4]). */
	ASSERT_EQ_U(broker_req(&b, 1, IOREQ_TYPE_PIO, IOREQ_READ, 1, 0x51f, 0, 1), 0xcafe051f);
	ASSERT_EQ(seen->calls, 2);
	/* A write reaches the callback masked to its size. */
	broker_req(&b, 1, IOREQ_TYPE_PIO, IOREQ_WRITE, 2, 0x512, 0xdeadbeef, 1);
	ASSERT_EQ(seen->kind, 2);
	ASSERT_EQ(seen->addr, 0x512);
	ASSERT_EQ_U(seen->value, 0xbeef);
	ASSERT_EQ_U(broker_req(&b, 0, IOREQ_TYPE_COPY, IOREQ_READ, 8, 0xe0000ff8, 0, 1),
	            0xbeef000000000ff8ull);
	broker_req(&b, 0, IOREQ_TYPE_COPY, IOREQ_WRITE, 8, 0xe0000000, 0x1122334455667788ull, 1);
	ASSERT_EQ(seen->kind, 4);
	ASSERT_EQ_U(seen->value, 0x1122334455667788ull);
	ASSERT_EQ_U(broker_req(&b, 1, IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 4,
	                       (uint64_t)PCI_DEV << 32 | 0x40, 0, 1),
	            0x5a5a0040);
	ASSERT_EQ(seen->sbdf, PCI_DEV);
	ASSERT_EQ(seen->addr, 0x40);
	broker_req(&b, 0, IOREQ_TYPE_TIMEOFFSET, IOREQ_WRITE, 8, 0, (uint64_t)-3600, 1);
	ASSERT_EQ(seen->timeoffset, -3600);
	broker_req(&b, 0, IOREQ_TYPE_INVALIDATE, IOREQ_WRITE, 4, 0, ~0ull, 0);
	ASSERT_EQ(seen->invalidates, 1);
	ASSERT_EQ(seen->calls, 8);

	st = broker_stats(&b, 77);
	ASSERT_EQ(st.served[0], 3);
	ASSERT_EQ(st.served[1], 2);
	ASSERT_EQ(st.served[2], 1);
	ASSERT_EQ(st.served[3], 2);
	ASSERT_EQ(st.invalid, 0);
	ASSERT_EQ(st.buffered, 0);
	ASSERT_EQ(st.dmops, 0);
	broker_shutdown(&b);
}

TEST(run_rejects_unclaimed_requests)
{
	struct broker b;
	struct dmp_stats st;

	broker_start(&b, 1, false);
	broker_ports(&b, 4096);
	/* Reads outside the claims: all ones, and the device never hears of them. */
	ASSERT_EQ_U(broker_req(&b, 0, IOREQ_TYPE_PIO, IOREQ_READ, 4, 0x520, 0, 1), ~0ull);
	ASSERT_EQ_U(broker_req(&b, 0, IOREQ_TYPE_PIO, IOREQ_READ, 4, 0x51e, 0, 1), ~0ull);
	ASSERT_EQ_U(broker_req(&b, 0, IOREQ_TYPE_COPY, IOREQ_READ, 4, 0xd0000000, 0, 1), ~0ull);
	ASSERT_EQ_U(broker_req(&b, 0, IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 4,
	                       (uint64_t)IOREQ_SBDF(0, 0, 4, 0) << 32, 0, 1),
	            ~0ull);
	/* Malformed: repeat count, bad size, unknown type. */
	ASSERT_EQ_U(broker_req(&b, 0, IOREQ_TYPE_PIO, IOREQ_READ, 1, 0x510, 0, 4), ~0ull);
	ASSERT_EQ_U(broker_req(&b, 0, IOREQ_TYPE_COPY, IOREQ_READ, 3, 0xe0000000, 0, 1), ~0ull);
	ASSERT_EQ_U(broker_req(&b, 0, 5, IOREQ_READ, 4, 0xe0000000, 0, 1), ~0ull);
	/* A write outside the claims is dropped. */
	broker_req(&b, 0, IOREQ_TYPE_COPY, IOREQ_WRITE, 4, 0xe0001000, 0x1234, 1);
	ASSERT_EQ(seen->calls, 0);
	/* And a good one still works afterwards. */
	ASSERT_EQ_U(broker_req(&b, 0, IOREQ_TYPE_PIO, IOREQ_READ, 2, 0x510, 0, 1), 0xcafe0510);
	ASSERT_EQ(seen->calls, 1);
	st = broker_stats(&b, 1);
	ASSERT_EQ(st.invalid, 8);
	ASSERT_EQ(st.served[0], 1);
	ASSERT_EQ(st.served[1] + st.served[2] + st.served[3], 0);
	broker_shutdown(&b);
}

/* Put n buffered entries on the ring, kick the DM, wait until it consumed them. */
static void broker_buffered(struct broker *b, const buf_ioreq_t *e, unsigned n)
{
	buffered_iopage_t *pg = b->buf;
	uint32_t wp = __atomic_load_n(&pg->write_pointer, __ATOMIC_RELAXED);
	uint64_t deadline = now_ms() + WAIT_MS;

	for (unsigned i = 0; i < n; i++)
		pg->buf_ioreq[(wp + i) % IOREQ_BUFFER_SLOT_NUM] = e[i];
	__atomic_store_n(&pg->write_pointer, wp + n, __ATOMIC_RELEASE);
	ASSERT_OK(eventfd_write(b->to_dm[b->nr], 1));
	while (__atomic_load_n(&pg->read_pointer, __ATOMIC_ACQUIRE) != wp + n) {
		ASSERT_LT(now_ms(), deadline);
		util_sleep_ns(100 * 1000);
	}
}

static buf_ioreq_t bufreq(unsigned type, unsigned dir, unsigned size_code, uint32_t addr,
                          uint32_t data)
{
	buf_ioreq_t e;

	memset(&e, 0, sizeof(e));
	e.type = (uint8_t)type;
	e.dir = dir & 1;
	e.size = size_code & 3;
	e.addr = addr & 0xfffff;
	e.data = data;
	return e;
}

TEST(run_buffered_ring)
{
	struct broker b;
	struct dmp_stats st;
	buf_ioreq_t e[2];

	broker_start(&b, 1, true);
	broker_ports(&b, 4096);
	e[0] = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, 0, 0xa0010, 0x12345678);
	broker_buffered(&b, e, 1);
	ASSERT_EQ(seen->kind, 4);
	ASSERT_EQ(seen->addr, 0xa0010);
	ASSERT_EQ(seen->size, 1);
	ASSERT_EQ_U(seen->value, 0x78);
	/* An 8-byte write takes two slots. */
	e[0] = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, 3, 0xa0020, 0x55667788);
	e[1] = bufreq(0, 0, 0, 0, 0x11223344);
	broker_buffered(&b, e, 2);
	ASSERT_EQ(seen->size, 8);
	ASSERT_EQ_U(seen->value, 0x1122334455667788ull);
	ASSERT_EQ(seen->calls, 2);
	/* A buffered read and an unclaimed write are dropped. */
	e[0] = bufreq(IOREQ_TYPE_COPY, IOREQ_READ, 2, 0xa0020, 0);
	e[1] = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, 2, 0xc0000, 0);
	broker_buffered(&b, e, 2);
	ASSERT_EQ(seen->calls, 2);
	/* Buffered writes land before a synchronous request that follows them. */
	e[0] = bufreq(IOREQ_TYPE_COPY, IOREQ_WRITE, 2, 0xa0040, 0xabcd);
	b.buf->buf_ioreq[b.buf->write_pointer % IOREQ_BUFFER_SLOT_NUM] = e[0];
	__atomic_store_n(&b.buf->write_pointer, b.buf->write_pointer + 1, __ATOMIC_RELEASE);
	broker_req(&b, 0, IOREQ_TYPE_PIO, IOREQ_READ, 1, 0x510, 0, 1);
	ASSERT_EQ(b.buf->read_pointer, b.buf->write_pointer);
	ASSERT_EQ(seen->calls, 4);
	st = broker_stats(&b, 3);
	ASSERT_EQ(st.buffered, 3);
	ASSERT_EQ(st.invalid, 2);
	ASSERT_EQ(st.served[0], 1);
	ASSERT_EQ(st.served[1], 3);
	broker_shutdown(&b);
}

TEST(run_rejects_broker_messages_out_of_place)
{
	struct broker b;
	struct dmp_hello h = good_hello();

	/* HELLO again while serving. */
	broker_start(&b, 1, false);
	broker_ports(&b, 4096);
	ASSERT_EQ_U(broker_req(&b, 0, IOREQ_TYPE_PIO, IOREQ_READ, 1, 0x510, 0, 1), 0xcafe0510);
	send_hello(b.sock, &h);
	ASSERT_EQ(dm_wait(b.pid), EPROTO);
	broker_close(&b);

	/* DM-only and unknown types, a STATS_REQ with a payload, a SHUTDOWN with an fd. */
	{
		static const uint16_t types[] = {DMP_READY,      DMP_DMOP, DMP_STATS, DMP_PORTS,
		                                 DMP_DMOP_REPLY, 0,        999};
		for (unsigned i = 0; i < ARRAY_SIZE(types); i++) {
			broker_start(&b, 1, false);
			broker_ports(&b, 4096);
			send_msg(b.sock, types[i], NULL, 0, NULL, 0);
			ASSERT_EQ(dm_wait(b.pid), EPROTO);
			broker_close(&b);
		}
	}
	broker_start(&b, 1, false);
	broker_ports(&b, 4096);
	send_msg(b.sock, DMP_STATS_REQ, "x", 1, NULL, 0);
	ASSERT_EQ(dm_wait(b.pid), EPROTO);
	broker_close(&b);
	broker_start(&b, 1, false);
	broker_ports(&b, 4096);
	send_msg(b.sock, DMP_SHUTDOWN, NULL, 0, &b.page_fd, 1);
	ASSERT_EQ(dm_wait(b.pid), EBADMSG);
	broker_close(&b);

	/* HELLO instead of PORTS. */
	broker_start(&b, 1, false);
	send_hello(b.sock, &h);
	ASSERT_EQ(dm_wait(b.pid), EPROTO);
	broker_close(&b);
}

TEST(run_shutdown_before_ports)
{
	struct broker b;

	broker_start(&b, 1, false);
	ASSERT_OK(frame_send(b.sock, DMP_SHUTDOWN, 0, NULL, 0, NULL, 0));
	ASSERT_EQ(dm_wait(b.pid), 0);
	broker_close(&b);
}

/* Broken DMP_PORTS messages end dmb_run with an error, not a crash. */
static void ports_case(unsigned kind, int d_nr, bool has_buf, int d_fds, size_t chan_size)
{
	struct broker b;
	struct dmp_ports msg;
	int fds[DMP_MAX_PORT_FDS], n = 0, want, r;

	broker_start(&b, 2, false);
	memset(&msg, 0, sizeof(msg));
	msg.kind = kind;
	msg.nr_vcpus = (uint32_t)((int)b.nr + d_nr);
	msg.has_buf = has_buf;
	b.chan_fd = fds[n++] = page_memfd(chan_size);
	want = 2 * (int)b.nr + d_fds;
	while (n < 1 + want) {
		int fd = eventfd(0, EFD_CLOEXEC);
		ASSERT_GE(fd, 0);
		fds[n++] = fd;
	}
	send_msg(b.sock, DMP_PORTS, &msg, sizeof(msg), fds, (unsigned)n);
	r = dm_wait_ms(b.pid, 300);
	if (r == -1 && n > 1) {
		/* Accepted after all: a request shows what that leads to. */
		ioreq_t *slot = &b.page->vcpu_ioreq[0];
		slot->type = IOREQ_TYPE_PIO;
		slot->size = 1;
		slot->count = 1;
		slot->addr = 0x510;
		ioreq_store_state(slot, STATE_IOREQ_READY);
		ASSERT_OK(eventfd_write(fds[1], 1));
	}
	if (r == -1)
		r = dm_wait(b.pid);
	ASSERT_EQ(r, EPROTO);
	for (int i = 1; i < n; i++)
		close(fds[i]);
	b.nr = 0;
	broker_close(&b);
}

TEST(run_rejects_bad_ports)
{
	ports_case(0, 0, false, 0, 4096);
	ports_case(3, 0, false, 0, 4096);
	ports_case(DMP_PORTS_SIM, -1, false, 0, 4096);
	ports_case(DMP_PORTS_SIM, 1, false, 0, 4096);
	ports_case(DMP_PORTS_SIM, 0, true, 1, 4096);
	ports_case(DMP_PORTS_SIM, 0, false, -1, 4096);
	ports_case(DMP_PORTS_SIM, 0, false, 1, 4096);
	ports_case(DMP_PORTS_EVTCHN, 0, false, 0, 4096);
	/* A channel page smaller than a page would SIGBUS the DM on its first notify. */
	ports_case(DMP_PORTS_SIM, 0, false, 0, 0);
	ports_case(DMP_PORTS_SIM, 0, false, 0, 100);
}

/* CPU time of a process in clock ticks (utime + stime from /proc/PID/stat). */
static uint64_t cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fp = fopen(path, "r");
	ASSERT_NOT_NULL(fp);
	ASSERT_NOT_NULL(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	p = strrchr(buf, ')');
	ASSERT_NOT_NULL(p);
	/* Fields after the comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt
	 * cmajflt utime stime. */
	ASSERT_EQ(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st),
	          2);
	return ut + st;
}

/* Without the broker the DM serves on, and waits for work instead of spinning. */
TEST(run_serves_on_after_broker_closes)
{
	struct broker b;
	uint64_t t0, t1;
	long hz = sysconf(_SC_CLK_TCK);

	broker_start(&b, 1, false);
	broker_ports(&b, 4096);
	ASSERT_EQ_U(broker_req(&b, 0, IOREQ_TYPE_PIO, IOREQ_READ, 1, 0x510, 0, 1), 0xcafe0510);
	b.sock = util_close(b.sock);
	util_sleep_ns(50 * 1000 * 1000);
	ASSERT_EQ_U(broker_req(&b, 0, IOREQ_TYPE_PIO, IOREQ_READ, 1, 0x511, 0, 1), 0xcafe0511);
	t0 = cpu_ticks(b.pid);
	util_sleep_ns(500 * 1000 * 1000);
	t1 = cpu_ticks(b.pid);
	/* Idle: well under a quarter of the half second on the CPU. */
	ASSERT_LT((t1 - t0) * 1000 / (uint64_t)hz, 125);
	ASSERT_EQ_U(broker_req(&b, 0, IOREQ_TYPE_PIO, IOREQ_READ, 1, 0x512, 0, 1), 0xcafe0512);
	ASSERT_EQ(dm_wait_ms(b.pid, 0), -1);
	kill(b.pid, SIGKILL);
	ASSERT_EQ(dm_wait(b.pid), 1000 + SIGKILL);
	broker_close(&b);
}
