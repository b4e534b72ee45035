/* SPDX-License-Identifier: MIT */
/*
 * rogue-dm: a device model that breaks the rules on purpose, for tests.
 * It takes the handoff like any device model (without libdmb, so that it can
 * do what libdmb never would) and then misbehaves as --mode says:
 *
 *   backwards   answer a request by going INPROCESS then READY (backwards)
 *   unknown     write state 7 into the slot
 *   none        hand the slot back as NONE without answering
 *   eport       answer correctly, then scribble vp_eport
 *   hang        never answer (the vCPU stays blocked)
 *   good        answer reads with 0x600d and behave (control case)
 *   garbage     once serving, send the broker random bytes
 *   garbage-early  random bytes instead of READY (fails the attach)
 *   oversized   once serving, send a frame larger than any message
 *   fds         once serving, send DMP_DMOP frames carrying fds
 *   flood       once serving, send DMP_STATS frames as fast as possible
 *   exit-early  exit before READY
 *   never-ready take the handoff, then never say READY (the attach waits)
 *   dmop-foreign after PORTS, ask for a BAR move of a device it does not own
 *   fake-keep   drop the broker's kept ends and hold /dev/null at their numbers
 *               (a restarted broker must not adopt it), then behave
 *   dmop-msi    after PORTS, ask for MSIs the broker must refuse (vector 0, an
 *               exception vector, NMI delivery, bits above 15), then a good one
 *   dmop-burst  after PORTS, 500 good MSIs as fast as the replies come back
 *   deaf        once serving, read nothing from the broker for 3.5 s (as a busy
 *               device model), then say how many stats requests queued up; behave
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/dmproto.h"
#include "ipc/frame.h"
#include "ipc/simchan.h"

static struct frame fr;

static void die(const char *what)
{
	fprintf(stderr, "rogue-dm: %s\n", what);
	_exit(1);
}

static void recv_type(uint16_t type)
{
	if (frame_recv(DMP_FD, &fr, sizeof(fr.payload), FRAME_MAX_FDS) < 0 || fr.hdr.type != type)
		die("handoff");
}

static void junk_frames(const char *mode)
{
	unsigned char buf[FRAME_MAX_SIZE + 512];
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

	for (unsigned i = 0; i < 100000; i++) {
		if (!strcmp(mode, "garbage")) {
			for (unsigned k = 0; k < 64; k++)
				buf[k] = (unsigned char)rand();
			if (send(DMP_FD, buf, 1 + (size_t)(rand() % 64), MSG_NOSIGNAL) < 0)
				break;
		} else if (!strcmp(mode, "oversized")) {
			memset(buf, 0x41, sizeof(buf));
			if (send(DMP_FD, buf, sizeof(buf), MSG_NOSIGNAL) < 0)
				break;
		} else if (!strcmp(mode, "fds")) {
			struct dmp_dmop op = {.op = DMP_DMOP_MSI};
			if (frame_send(DMP_FD, DMP_DMOP, i, &op, sizeof(op), &devnull, 1) < 0)
				break;
		} else { /* flood */
			struct dmp_stats st = {0};
			if (frame_send(DMP_FD, DMP_STATS, i, &st, sizeof(st), NULL, 0) < 0)
				break;
		}
	}
	pause();
}

static void misbehave(const char *mode, shared_iopage_t *page, unsigned nr, const int *to_dm,
                      const int *to_sim)
{
	for (;;) {
		struct pollfd pfd[SIMCHAN_MAX_VCPUS];

		for (unsigned v = 0; v < nr; v++)
			pfd[v] = (struct pollfd){.fd = to_dm[v], .events = POLLIN};
		if (poll(pfd, nr, -1) < 0)
			continue;
		for (unsigned v = 0; v < nr; v++) {
			ioreq_t *slot = &page->vcpu_ioreq[v];
			eventfd_t cnt;

			(void)eventfd_read(to_dm[v], &cnt);
			if (ioreq_load_state(slot) != STATE_IOREQ_READY)
				continue;
			if (!strcmp(mode, "hang"))
				continue;
			ioreq_store_state(slot, STATE_IOREQ_INPROCESS);
			if (!strcmp(mode, "backwards")) {
				/* Let the vCPU see INPROCESS first, or it cannot see us go back. */
				(void)eventfd_write(to_sim[v], 1);
				usleep(50000);
				ioreq_store_state(slot, STATE_IOREQ_READY);
			} else if (!strcmp(mode, "unknown")) {
				ioreq_store_state(slot, 7);
			} else if (!strcmp(mode, "none")) {
				ioreq_store_state(slot, STATE_IOREQ_NONE);
			} else {
				if (slot->dir == IOREQ_READ)
					slot->data = 0x600d;
				ioreq_store_state(slot, STATE_IORESP_READY);
				if (!strcmp(mode, "eport"))
					slot->vp_eport = 0x7777;
			}
			(void)eventfd_write(to_sim[v], 1);
		}
	}
}

int main(int argc, char **argv)
{
	const char *mode = "good";
	struct dmp_hello hello;
	struct dmp_ports ports;
	shared_iopage_t *page;
	int to_dm[SIMCHAN_MAX_VCPUS], to_sim[SIMCHAN_MAX_VCPUS];
	int c;

	while ((c = getopt(argc, argv, "m:")) != -1)
		if (c == 'm')
			mode = optarg;
	recv_type(DMP_HELLO);
	if (frame_get(&fr, &hello, sizeof(hello)) < 0)
		die("hello");
	for (int k = 0; k < DMP_CLAIM_KINDS; k++)
		recv_type(DMP_CLAIMS);
	recv_type(DMP_PAGES);
	if (fr.nfds < 1)
		die("pages");
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fr.fds[0], 0);
	if (page == MAP_FAILED)
		die("mmap");
	frame_release(&fr);
	if (!strcmp(mode, "exit-early"))
		_exit(7);
	while (!strcmp(mode, "never-ready"))
		pause();
	if (!strcmp(mode, "garbage-early"))
		junk_frames("garbage"); /* instead of READY: the attach must fail */
	if (frame_send(DMP_FD, DMP_READY, 0, NULL, 0, NULL, 0) < 0)
		die("ready");
	/* The broker's ends to hold for a restart (DMP_KEEP), then the ports. */
	if (frame_recv(DMP_FD, &fr, sizeof(fr.payload), FRAME_MAX_FDS) < 0)
		die("handoff");
	if (fr.hdr.type == DMP_KEEP && !strcmp(mode, "fake-keep")) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		frame_release(&fr);
		for (int fd = DMP_KEEP_CHANNEL_FD; fd <= DMP_KEEP_STDERR_FD; fd++)
			if (null < 0 || dup2(null, fd) < 0)
				die("fake-keep");
		recv_type(DMP_PORTS);
		mode = "good";
	} else if (fr.hdr.type == DMP_KEEP)
		recv_type(DMP_PORTS); /* rogue: keeps nothing (its fds just leak into its table) */
	else if (fr.hdr.type != DMP_PORTS)
		die("handoff");
	if (frame_get(&fr, &ports, sizeof(ports)) < 0 || ports.kind != DMP_PORTS_SIM ||
	    ports.nr_vcpus > SIMCHAN_MAX_VCPUS || fr.nfds < 1 + 2 * ports.nr_vcpus)
		die("ports");
	for (unsigned v = 0; v < ports.nr_vcpus; v++) {
		to_dm[v] = frame_take_fd(&fr, 1 + 2 * v);
		to_sim[v] = frame_take_fd(&fr, 2 + 2 * v);
	}
	/* Once serving (the attach is complete): garbage, oversized, fds, or a legal
	 * message far too often. */
	if (!strcmp(mode, "garbage") || !strcmp(mode, "oversized") || !strcmp(mode, "fds") ||
	    !strcmp(mode, "flood"))
		junk_frames(mode);
	if (!strcmp(mode, "deaf")) {
		unsigned n = 0;

		util_sleep_ns(3500000000ull);
		struct pollfd pfd = {.fd = DMP_FD, .events = POLLIN};

		while (poll(&pfd, 1, 0) == 1 &&
		       frame_recv(DMP_FD, &fr, sizeof(fr.payload), FRAME_MAX_FDS) == 0) {
			n += fr.hdr.type == DMP_STATS_REQ;
			frame_release(&fr);
		}
		fprintf(stderr, "rogue-dm: %u stats requests waiting\n", n);
		mode = "good";
	}
	if (!strcmp(mode, "dmop-msi")) {
		static const uint32_t data[] = {0x0000, 0x000e, 0x0441, 0x10041, 0x4041};

		for (unsigned i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
			struct dmp_dmop op = {.op = DMP_DMOP_MSI};

			op.u.msi.addr = 0xfee00000;
			op.u.msi.data = data[i];
			(void)frame_send(DMP_FD, DMP_DMOP, 10 + i, &op, sizeof(op), NULL, 0);
		}
		mode = "good";
	}
	if (!strcmp(mode, "dmop-burst")) {
		for (unsigned i = 0; i < 500; i++) {
			struct dmp_dmop op = {.op = DMP_DMOP_MSI};

			op.u.msi.addr = 0xfee00000;
			op.u.msi.data = 0x41;
			if (frame_send(DMP_FD, DMP_DMOP, 100 + i, &op, sizeof(op), NULL, 0) < 0)
				die("dmop");
			do { /* its reply (a stats request may come first) */
				if (frame_recv(DMP_FD, &fr, sizeof(fr.payload), FRAME_MAX_FDS) < 0)
					die("dmop reply");
				frame_release(&fr);
			} while (fr.hdr.type != DMP_DMOP_REPLY);
		}
		mode = "good";
	}
	if (!strcmp(mode, "dmop-foreign")) {
		struct dmp_dmop op = {.op = DMP_DMOP_BAR_MOVE};
		op.u.bar.sbdf = IOREQ_SBDF(0, 0, 31, 0);
		op.u.bar.old_base = 0xe0000000;
		op.u.bar.new_base = 0xe1000000;
		op.u.bar.size = 0x1000;
		(void)frame_send(DMP_FD, DMP_DMOP, 1, &op, sizeof(op), NULL, 0);
		mode = "good";
	}
	misbehave(mode, page, ports.nr_vcpus, to_dm, to_sim);
	return 0;
}
