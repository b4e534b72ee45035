/* SPDX-License-Identifier: MIT */
/*
 * xen-direct: the baseline of the real-Xen benchmark.  The same device-model
 * code as echo-dm (libdmb's loop, echo answers) serving a guest with no
 * broker and no sandbox: this program opens Xen itself (through the same hv
 * library), creates and claims the server, hands it over the same protocol
 * to a device model in a child process of its own, and unpauses the guest.
 * If the brokered device model's round trip matches this one's, the broker
 * adds no hop to the data path.
 *
 * The device model is a forked process, as a brokered one is a process of
 * its own, so that it narrows itself to libdmb's seccomp allow-list exactly
 * like echo-dm (the filter is on the baseline's data path too), while this
 * process keeps polling the domain through libxenctrl's privcmd ioctls,
 * which the allow-list would refuse to every thread of the device model's
 * process (TSYNC).
 *
 *   xen-direct --name GUEST --ports START-END [--timeout SECONDS]
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/handoff.h"
#include "dm/dmb.h"
#include "hv/hv.h"
#include "ipc/frame.h"

static uint64_t rd(void *o, uint16_t port, unsigned size)
{
	(void)o, (void)size;
	return 0xcafe0000u | port;
}

static void wr(void *o, uint16_t port, unsigned size, uint64_t v)
{
	(void)o, (void)port, (void)size, (void)v;
}

static const struct dmb_ops echo_ops = {.pio_read = rd, .pio_write = wr};

/* The device model: what echo-dm does with its broker channel, on fd. */
static int run_dm(int fd)
{
	struct dmb_config cfg = {.ops = &echo_ops, .fd = fd, .poll_us = -1};
	struct dmb *d;
	int r = dmb_open(&cfg, &d);

	if (r < 0)
		return r;
	r = dmb_run(d);
	dmb_close(d);
	return r;
}

static int find_domain(struct hv *hv, const char *name, uint32_t *ret)
{
	uint32_t ids[256];
	unsigned n;

	if (hv_domain_list(hv, ids, 256, &n) < 0)
		return -EIO;
	for (unsigned i = 0; i < n; i++) {
		struct hv_domain_info info;
		if (hv_domain_info(hv, ids[i], &info) == 0 && !strcmp(info.name, name)) {
			*ret = ids[i];
			return 0;
		}
	}
	return -ENOENT;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"name", required_argument, NULL, 'n'},
	                                     {"ports", required_argument, NULL, 'p'},
	                                     {"timeout", required_argument, NULL, 't'},
	                                     {NULL, 0, NULL, 0}};
	struct handoff_claims claims = {0};
	struct hv_domain_info info;
	struct hv_pages *pages = NULL;
	struct hv_ports *ports = NULL;
	struct dmp_hello hello = {0};
	const char *name = NULL;
	unsigned start = 0, end = 0, timeout = 120;
	static struct frame f;
	uint64_t deadline;
	uint32_t domid;
	pid_t child;
	uint16_t sid;
	struct hv *hv;
	int sv[2], c, st = 0;

	log_init("xen-direct", LOG_INFO);
	while ((c = getopt_long(argc, argv, "n:p:t:", opts, NULL)) != -1) {
		if (c == 'n')
			name = optarg;
		else if (c == 'p' && sscanf(optarg, "%x-%x", &start, &end) == 2)
			continue;
		else if (c == 't')
			timeout = (unsigned)atoi(optarg);
		else
			return 2;
	}
	if (!name || !end || start > end || end > 0xffff)
		return 2;
	/* Forked before Xen is opened: the device model holds nothing but its channel. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		fatal("socketpair");
	child = fork();
	if (child < 0)
		fatal("fork");
	if (child == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		_exit(run_dm(sv[1]) < 0);
	}
	close(sv[1]);
	if (hv_xen_open(&hv) < 0)
		fatal("cannot open Xen");
	deadline = util_now_ns() + (uint64_t)timeout * 1000000000ull;
	while (find_domain(hv, name, &domid) < 0) {
		if (util_now_ns() > deadline)
			fatal("no domain named %s", name);
		util_sleep_ns(50000000);
	}
	claims.n[DMP_CLAIM_PORT] = 1;
	claims.r[DMP_CLAIM_PORT][0] = (struct dmp_range){start, end};
	if (hv_domain_info(hv, domid, &info) < 0 || hv_create_server(hv, domid, 0, &sid) < 0 ||
	    handoff_map_claims(hv, domid, sid, &claims) < 0 ||
	    hv_pages_open(hv, domid, sid, &pages) < 0)
		fatal("set up a server for dom%u", domid);
	hello = (struct dmp_hello){
	        .domid = domid, .server_id = sid, .nr_vcpus = (uint16_t)info.nr_vcpus};
	snprintf(hello.name, sizeof(hello.name), "direct");
	if (handoff_send_setup(sv[0], &hello, &claims, pages) < 0 ||
	    frame_recv(sv[0], &f, sizeof(f.payload), 0) < 0 || f.hdr.type != DMP_READY ||
	    hv_set_server_state(hv, domid, sid, true) < 0 ||
	    hv_ports_bind(hv, domid, sid, info.nr_vcpus, pages, &ports) < 0 ||
	    handoff_send_ports(sv[0], ports) < 0 || hv_domain_unpause(hv, domid) < 0)
		fatal("hand the server of dom%u to the device model (pid %d)", domid, (int)child);
	log_info("serving dom%u (%s) ports 0x%x-0x%x directly, no broker", domid, name, start, end);
	/* Until the guest is gone. */
	while (hv_domain_info(hv, domid, &info) == 0 && !info.shutdown && !info.dying &&
	       util_now_ns() < deadline)
		util_sleep_ns(100000000);
	(void)frame_send(sv[0], DMP_SHUTDOWN, 0, NULL, 0, NULL, 0);
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	hv_ports_free(ports);
	hv_pages_free(pages);
	(void)hv_destroy_server(hv, domid, sid);
	hv_close(hv);
	if (WIFSIGNALED(st)) {
		log_error("the device model was killed by signal %d%s", WTERMSIG(st),
		          WTERMSIG(st) == SIGSYS ? " (seccomp)" : "");
		return 1;
	}
	if (WEXITSTATUS(st)) {
		log_error("the device model exited with status %d", WEXITSTATUS(st));
		return 1;
	}
	return 0;
}
