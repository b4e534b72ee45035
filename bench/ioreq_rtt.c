/* SPDX-License-Identifier: MIT */
/*
 * ioreq_rtt: the round trip of one guest port read, simulated vCPU ->
 * device model process (libdmb, echo-dm) -> vCPU, next to the floors it is
 * built from, all measured in the same run:
 *
 *   eventfd ping-pong between two processes      (the blocking floor)
 *   shared-memory busy-poll between two processes (the polling floor)
 *   ioreq round trip, blocking on event channels
 *   ioreq round trip, both sides polling
 *
 * each pinned to one core or across two.  Prints "result NAME VALUE UNIT"
 * and "ratio NAME VALUE" lines (bench/README.md).  Machines are noisy:
 * compare ratios, not times.
 *
 *   ioreq_rtt [--iterations N] [--echo-dm PATH]
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/dmproto.h"
#include "ipc/frame.h"
#include "sim/sim.h"

#define WARMUP 20000u

#define ROUNDS 8u /* floor and ioreq batches alternate, so drift hits both alike */

static unsigned iterations = 200000;
static const char *echo_dm = "build/tests/progs/echo-dm";

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0) {
		perror("sched_setaffinity");
		exit(1);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct stats {
	double p50, p99;
};

static struct stats summarize(const char *name, uint64_t *samples)
{
	struct stats s;

	qsort(samples, iterations, sizeof(*samples), cmp_u64);
	s.p50 = (double)samples[iterations / 2];
	s.p99 = (double)samples[iterations * 99 / 100];
	printf("result %s_p50 %.0f ns\n", name, s.p50);
	printf("result %s_p99 %.0f ns\n", name, s.p99);
	fflush(stdout);
	return s;
}

/* ---- floors ------------------------------------------------------------- */

static void eventfd_pingpong(uint64_t *samples, unsigned n, int cpu_a, int cpu_b)
{
	int e1 = eventfd(0, EFD_CLOEXEC), e2 = eventfd(0, EFD_CLOEXEC);
	eventfd_t v;
	pid_t pid;
	int status;

	pid = fork();
	if (pid == 0) {
		pin(cpu_b);
		for (unsigned i = 0; i < WARMUP + n; i++) {
			eventfd_read(e1, &v);
			eventfd_write(e2, 1);
		}
		_exit(0);
	}
	pin(cpu_a);
	for (unsigned i = 0; i < WARMUP + n; i++) {
		uint64_t t0 = now();
		eventfd_write(e1, 1);
		eventfd_read(e2, &v);
		if (i >= WARMUP)
			samples[i - WARMUP] = now() - t0;
	}
	waitpid(pid, &status, 0);
	close(e1);
	close(e2);
}

static void busypoll_pingpong(uint64_t *samples, unsigned n, int cpu_a, int cpu_b)
{
	_Atomic uint64_t *sh =
	        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	_Atomic uint64_t *ping = &sh[0], *pong = &sh[8]; /* separate cache lines */
	pid_t pid;
	int status;

	atomic_store(ping, 0);
	atomic_store(pong, 0);
	pid = fork();
	if (pid == 0) {
		pin(cpu_b);
		for (uint64_t i = 1; i <= WARMUP + n; i++) {
			while (atomic_load_explicit(ping, memory_order_acquire) != i)
				__builtin_ia32_pause();
			atomic_store_explicit(pong, i, memory_order_release);
		}
		_exit(0);
	}
	pin(cpu_a);
	for (uint64_t i = 1; i <= WARMUP + n; i++) {
		uint64_t t0 = now();
		atomic_store_explicit(ping, i, memory_order_release);
		while (atomic_load_explicit(pong, memory_order_acquire) != i)
			__builtin_ia32_pause();
		if (i > WARMUP)
			samples[i - 1 - WARMUP] = now() - t0;
	}
	waitpid(pid, &status, 0);
	munmap((void *)sh, 4096);
}

/* ---- the ioreq round trip -------------------------------------------------- */

struct rig {
	struct sim *sim;
	uint32_t domid;
	uint16_t sid;
	pid_t dm;
	int sock;
};

static int send_claims(int sock)
{
	static struct dmp_claims c;
	int r = 0;

	for (unsigned k = 0; r == 0 && k < DMP_CLAIM_KINDS; k++) {
		memset(&c, 0, sizeof(c));
		c.kind = k;
		if (k == DMP_CLAIM_PORT) {
			c.n = 1;
			c.r[0].start = 0x510;
			c.r[0].end = 0x51f;
		}
		r = frame_send(sock, DMP_CLAIMS, 0, &c, sizeof(c), NULL, 0);
	}
	return r;
}

/* Play the broker for one echo-dm: server, claim, handoff, enable, ports. */
static void rig_up(struct rig *g, int dm_cpu, uint32_t poll_us)
{
	struct dmp_hello hello = {
	        .nr_vcpus = 1, .poll_us = poll_us, .flags = poll_us ? DMP_HELLO_POLL : 0};
	struct dmp_pages pages = {.kind = DMP_PAGES_MEMFD};
	struct dmp_ports ports = {.kind = DMP_PORTS_SIM, .nr_vcpus = 1};
	struct sim_ports sp;
	static struct frame f;
	int sv[2], ioreq_fd, buf_fd;

	if (sim_new(NULL, NULL, &g->sim) < 0 ||
	    sim_domain_create(g->sim, "bench", 1, poll_us ? SIM_DOMAIN_F_POLL : 0, &g->domid) < 0 ||
	    sim_server_create(g->sim, g->domid, 0, &g->sid) < 0 ||
	    sim_map_range(g->sim, g->domid, g->sid, 0, 0x510, 0x51f, true) < 0 ||
	    sim_server_pages(g->sim, g->domid, g->sid, &ioreq_fd, &buf_fd) < 0)
		goto fail;
	if (poll_us)
		sim_domain_set_poll(g->sim, g->domid, true, poll_us * 1000);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		goto fail;
	g->dm = fork();
	if (g->dm == 0) {
		pin(dm_cpu);
		if (dup2(sv[1], DMP_FD) < 0)
			_exit(127);
		execl(echo_dm, "echo-dm", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	g->sock = sv[0];
	hello.domid = g->domid;
	hello.server_id = g->sid;
	strcpy(hello.name, "bench");
	pages.domid = g->domid;
	pages.server_id = g->sid;
	if (frame_send(g->sock, DMP_HELLO, 0, &hello, sizeof(hello), NULL, 0) < 0 ||
	    send_claims(g->sock) < 0 ||
	    frame_send(g->sock, DMP_PAGES, 0, &pages, sizeof(pages), &ioreq_fd, 1) < 0 ||
	    frame_recv(g->sock, &f, sizeof(f.payload), 0) < 0 || f.hdr.type != DMP_READY ||
	    sim_server_set_state(g->sim, g->domid, g->sid, true) < 0 ||
	    sim_server_ports(g->sim, g->domid, g->sid, &sp) < 0)
		goto fail;
	close(ioreq_fd);
	ports.port[0] = sp.port[0];
	if (frame_send(g->sock, DMP_PORTS, 0, &ports, sizeof(ports), sp.fds, sp.nfds) < 0)
		goto fail;
	for (unsigned i = 0; i < sp.nfds; i++)
		close(sp.fds[i]);
	return;
fail:
	fprintf(stderr, "ioreq_rtt: cannot set up the simulated domain and %s\n", echo_dm);
	exit(1);
}

static void rig_down(struct rig *g)
{
	int status;

	(void)frame_send(g->sock, DMP_SHUTDOWN, 0, NULL, 0, NULL, 0);
	waitpid(g->dm, &status, 0);
	close(g->sock);
	sim_free(g->sim);
}

static void ioreq_roundtrip(struct rig *g, uint64_t *samples, unsigned n, int cpu_vcpu)
{
	uint64_t data;

	pin(cpu_vcpu);
	for (unsigned i = 0; i < WARMUP + n; i++) {
		uint64_t t0 = now();
		if (sim_vcpu_io(g->sim, g->domid, 0, IOREQ_TYPE_PIO, IOREQ_READ, 0x510, 4, &data) <
		            0 ||
		    data != 0xcafe0510) {
			fprintf(stderr, "ioreq_rtt: bad answer 0x%llx\n", (unsigned long long)data);
			exit(1);
		}
		if (i >= WARMUP)
			samples[i - WARMUP] = now() - t0;
	}
}

enum floor_kind { FLOOR_EVENTFD, FLOOR_BUSYPOLL };

/*
 * Measure a floor and the ioreq round trip in alternating batches, pooled:
 * a slow spell of the machine then hits both sides of the ratio.
 */
static void measure_pair(const char *floor_name, enum floor_kind kind, const char *io_name,
                         int cpu_a, int cpu_b, uint32_t poll_us, struct stats *ret_floor,
                         struct stats *ret_io)
{
	uint64_t *fl = calloc(iterations, sizeof(uint64_t));
	uint64_t *io = calloc(iterations, sizeof(uint64_t));
	unsigned batch = iterations / ROUNDS;
	struct rig g;

	pin(cpu_a);
	rig_up(&g, cpu_b, poll_us);
	for (unsigned r = 0; r < ROUNDS; r++) {
		unsigned n = r == ROUNDS - 1 ? iterations - r * batch : batch;
		if (kind == FLOOR_EVENTFD)
			eventfd_pingpong(fl + r * batch, n, cpu_a, cpu_b);
		else
			busypoll_pingpong(fl + r * batch, n, cpu_a, cpu_b);
		ioreq_roundtrip(&g, io + r * batch, n, cpu_a);
	}
	rig_down(&g);
	*ret_floor = summarize(floor_name, fl);
	*ret_io = summarize(io_name, io);
	free(fl);
	free(io);
}

static void ratio(const char *name, double a, double b)
{
	printf("ratio %s %.3f\n", name, a / b);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"iterations", required_argument, NULL, 'n'},
	                                     {"echo-dm", required_argument, NULL, 'e'},
	                                     {NULL, 0, NULL, 0}};
	struct stats efd_same, efd_cross, poll_cross, io_same, io_cross, io_poll;
	int c;

	while ((c = getopt_long(argc, argv, "n:e:", opts, NULL)) != -1) {
		if (c == 'n')
			iterations = (unsigned)strtoul(optarg, NULL, 0);
		else if (c == 'e')
			echo_dm = optarg;
		else
			return 2;
	}
	if (iterations < 10 * ROUNDS || sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		fprintf(stderr, "ioreq_rtt: needs >= 80 iterations and two CPUs\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	printf("# %u round trips per measurement in %u alternating batches; CPUs 0 and 1\n",
	       iterations, ROUNDS);

	measure_pair("eventfd_same_core", FLOOR_EVENTFD, "ioreq_same_core", 0, 0, 0, &efd_same,
	             &io_same);
	measure_pair("eventfd_cross_core", FLOOR_EVENTFD, "ioreq_cross_core", 0, 1, 0, &efd_cross,
	             &io_cross);
	measure_pair("busypoll_cross_core", FLOOR_BUSYPOLL, "ioreq_polling_cross_core", 0, 1, 200,
	             &poll_cross, &io_poll);

	ratio("ioreq_vs_eventfd_same_core_p50", io_same.p50, efd_same.p50);
	ratio("ioreq_vs_eventfd_cross_core_p50", io_cross.p50, efd_cross.p50);
	ratio("ioreq_polling_vs_busypoll_cross_core_p50", io_poll.p50, poll_cross.p50);
	ratio("ioreq_vs_eventfd_same_core_p99", io_same.p99, efd_same.p99);
	return 0;
}
