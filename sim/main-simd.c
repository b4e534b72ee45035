/* SPDX-License-Identifier: MIT */
/*
 * dmbsimd: the simulated Xen hypervisor as a process, serving the protocol
 * of ipc/simproto.h on a UNIX SOCK_SEQPACKET socket.  Requests are handled
 * in order on the main thread, except scenario runs and INVALIDATE, which
 * wait for device models and so run on a thread of their own while that
 * client's further requests wait.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/frame.h"
#include "ipc/simproto.h"
#include "sim/sim.h"

#define MAX_CLIENTS 64

struct client {
	int fd;
	bool watcher;
	atomic_bool busy; /* a worker thread owns the connection until it replies */
	struct scn_op *ops;
	unsigned n_ops, total;
};

struct simd {
	struct sim *sim;
	int listen_fd;
	int wake_fd; /* workers signal the main loop when they finish */
	struct client *clients[MAX_CLIENTS];
	pthread_mutex_t send_lock; /* watcher events can come from any thread */
	struct frame frame;
};

static void client_free(struct client *c)
{
	if (!c)
		return;
	util_close(c->fd);
	free(c->ops);
	free(c);
}

static int reply(int fd, uint32_t id, const struct sim_reply *rep, const int *fds, unsigned nfds)
{
	return frame_send(fd, SIM_REPLY, id, rep, sizeof(*rep), fds, nfds);
}

/* Lifecycle events to every watcher; a watcher that cannot take it is dropped. */
static void on_event(void *opaque, uint32_t kind, uint32_t domid)
{
	struct simd *sd = opaque;
	struct sim_event ev = {.kind = kind, .domid = domid};

	pthread_mutex_lock(&sd->send_lock);
	for (unsigned i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = sd->clients[i];
		if (!c || !c->watcher)
			continue;
		if (frame_send(c->fd, SIM_EVENT, 0, &ev, sizeof(ev), NULL, 0) < 0)
			shutdown(c->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&sd->send_lock);
}

/* ---- request handlers --------------------------------------------------- */

typedef int (*handler_fn)(struct simd *sd, struct client *c, const struct sim_req *q,
                          struct sim_reply *rep, int *fds, unsigned *nfds);

static int h_domain_info(struct simd *sd, struct client *c, const struct sim_req *q,
                         struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)c, (void)fds, (void)nfds;
	return sim_domain_info(sd->sim, q->domid, &rep->u.info);
}

static int h_domain_list(struct simd *sd, struct client *c, const struct sim_req *q,
                         struct sim_reply *rep, int *fds, unsigned *nfds)
{
	unsigned n;
	int r;

	(void)c, (void)q, (void)fds, (void)nfds;
	r = sim_domain_list(sd->sim, rep->u.list.domids, SIM_LIST_MAX, &n);
	rep->u.list.n = n;
	return r;
}

static int h_pause(struct simd *sd, struct client *c, const struct sim_req *q,
                   struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)c, (void)rep, (void)fds, (void)nfds;
	return sim_domain_pause(sd->sim, q->domid, true);
}

static int h_unpause(struct simd *sd, struct client *c, const struct sim_req *q,
                     struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)c, (void)rep, (void)fds, (void)nfds;
	return sim_domain_pause(sd->sim, q->domid, false);
}

static int h_shutdown(struct simd *sd, struct client *c, const struct sim_req *q,
                      struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)c, (void)rep, (void)fds, (void)nfds;
	return sim_domain_shutdown(sd->sim, q->domid, q->a32[0]);
}

static int h_server_create(struct simd *sd, struct client *c, const struct sim_req *q,
                           struct sim_reply *rep, int *fds, unsigned *nfds)
{
	uint16_t id;
	int r;

	(void)c, (void)rep, (void)fds, (void)nfds;
	r = sim_server_create(sd->sim, q->domid, q->a32[0], &id);
	return r < 0 ? r : id;
}

static int h_server_destroy(struct simd *sd, struct client *c, const struct sim_req *q,
                            struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)c, (void)rep, (void)fds, (void)nfds;
	return sim_server_destroy(sd->sim, q->domid, (uint16_t)q->id);
}

static int h_map_range(struct simd *sd, struct client *c, const struct sim_req *q,
                       struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)c, (void)rep, (void)fds, (void)nfds;
	if (q->id > 0xffff)
		return -ENOENT;
	return sim_map_range(sd->sim, q->domid, (uint16_t)q->id, q->a32[0], q->a64[0], q->a64[1],
	                     q->a32[1] != 0);
}

static int h_server_state(struct simd *sd, struct client *c, const struct sim_req *q,
                          struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)c, (void)rep, (void)fds, (void)nfds;
	if (q->id > 0xffff)
		return -ENOENT;
	return sim_server_set_state(sd->sim, q->domid, (uint16_t)q->id, q->a32[0] != 0);
}

static int h_server_pages(struct simd *sd, struct client *c, const struct sim_req *q,
                          struct sim_reply *rep, int *fds, unsigned *nfds)
{
	int a, b, r;

	(void)c, (void)rep;
	if (q->id > 0xffff)
		return -ENOENT;
	r = sim_server_pages(sd->sim, q->domid, (uint16_t)q->id, &a, &b);
	if (r < 0)
		return r;
	fds[(*nfds)++] = a;
	if (b >= 0)
		fds[(*nfds)++] = b;
	return 0;
}

static int h_server_ports(struct simd *sd, struct client *c, const struct sim_req *q,
                          struct sim_reply *rep, int *fds, unsigned *nfds)
{
	struct sim_ports p;
	int r;

	(void)c;
	if (q->id > 0xffff)
		return -ENOENT;
	r = sim_server_ports(sd->sim, q->domid, (uint16_t)q->id, &p);
	if (r < 0)
		return r;
	rep->u.ports.nr_vcpus = p.nr_vcpus;
	rep->u.ports.has_buf = p.has_buf;
	rep->u.ports.buf_port = p.buf_port;
	memcpy(rep->u.ports.port, p.port, sizeof(p.port));
	memcpy(fds, p.fds, p.nfds * sizeof(int));
	*nfds = p.nfds;
	return 0;
}

static int h_isa_irq(struct simd *sd, struct client *c, const struct sim_req *q,
                     struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)c, (void)rep, (void)fds, (void)nfds;
	if (q->a32[0] > 0xff)
		return -EINVAL;
	return sim_set_isa_irq(sd->sim, q->domid, (uint8_t)q->a32[0], q->a32[1]);
}

static int h_pci_intx(struct simd *sd, struct client *c, const struct sim_req *q,
                      struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)c, (void)rep, (void)fds, (void)nfds;
	if (q->a32[1] > 0xff)
		return -EINVAL;
	return sim_set_pci_intx(sd->sim, q->domid, q->a32[0], (uint8_t)q->a32[1], q->a32[2]);
}

static int h_msi(struct simd *sd, struct client *c, const struct sim_req *q, struct sim_reply *rep,
                 int *fds, unsigned *nfds)
{
	(void)c, (void)rep, (void)fds, (void)nfds;
	return sim_inject_msi(sd->sim, q->domid, q->a64[0], q->a32[0]);
}

static int h_watch(struct simd *sd, struct client *c, const struct sim_req *q,
                   struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)q, (void)rep, (void)fds, (void)nfds;
	pthread_mutex_lock(&sd->send_lock);
	c->watcher = true;
	pthread_mutex_unlock(&sd->send_lock);
	return 0;
}

static int h_domain_create(struct simd *sd, struct client *c, const struct sim_req *q,
                           struct sim_reply *rep, int *fds, unsigned *nfds)
{
	uint32_t domid;
	int r;

	(void)c, (void)rep, (void)fds, (void)nfds;
	if (memchr(q->name, '\0', sizeof(q->name)) == NULL)
		return -EINVAL;
	r = sim_domain_create(sd->sim, q->name, q->a32[0], q->a32[1], &domid);
	if (r == 0 && q->a32[2])
		r = sim_domain_set_poll(sd->sim, domid, true, q->a32[2]);
	return r < 0 ? r : (int)domid;
}

static int h_domain_destroy(struct simd *sd, struct client *c, const struct sim_req *q,
                            struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)c, (void)rep, (void)fds, (void)nfds;
	return sim_domain_destroy(sd->sim, q->domid);
}

static int h_domain_stats(struct simd *sd, struct client *c, const struct sim_req *q,
                          struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)c, (void)fds, (void)nfds;
	return sim_domain_stats(sd->sim, q->domid, &rep->u.stats);
}

static int h_timeoffset(struct simd *sd, struct client *c, const struct sim_req *q,
                        struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)c, (void)rep, (void)fds, (void)nfds;
	return sim_timeoffset(sd->sim, q->domid, (int64_t)q->a64[0]);
}

static int h_fault(struct simd *sd, struct client *c, const struct sim_req *q,
                   struct sim_reply *rep, int *fds, unsigned *nfds)
{
	(void)c, (void)rep, (void)fds, (void)nfds;
	return sim_domain_fault(sd->sim, q->domid, q->a32[0], q->a32[1], (int)q->a32[2]);
}

static const struct {
	uint16_t type;
	handler_fn fn;
} handlers[] = {
        {SIM_FAULT, h_fault},
        {SIM_DOMAIN_INFO, h_domain_info},
        {SIM_DOMAIN_LIST, h_domain_list},
        {SIM_DOMAIN_PAUSE, h_pause},
        {SIM_DOMAIN_UNPAUSE, h_unpause},
        {SIM_DOMAIN_SHUTDOWN, h_shutdown},
        {SIM_SERVER_CREATE, h_server_create},
        {SIM_SERVER_DESTROY, h_server_destroy},
        {SIM_MAP_RANGE, h_map_range},
        {SIM_SERVER_STATE, h_server_state},
        {SIM_SERVER_PAGES, h_server_pages},
        {SIM_SERVER_PORTS, h_server_ports},
        {SIM_ISA_IRQ, h_isa_irq},
        {SIM_PCI_INTX, h_pci_intx},
        {SIM_MSI, h_msi},
        {SIM_WATCH, h_watch},
        {SIM_DOMAIN_CREATE, h_domain_create},
        {SIM_DOMAIN_DESTROY, h_domain_destroy},
        {SIM_DOMAIN_STATS, h_domain_stats},
        {SIM_TIMEOFFSET, h_timeoffset},
};

/* ---- scenario runs and invalidates: on a worker thread -------------------- */

struct job {
	struct simd *sd;
	struct client *c;
	uint16_t type;
	uint32_t id;
	struct sim_req req;
};

static void job_result(void *opaque, const struct sim_scn_result *res)
{
	struct job *j = opaque;

	pthread_mutex_lock(&j->sd->send_lock);
	(void)frame_send(j->c->fd, SIM_SCN_RESULT, j->id, res, sizeof(*res), NULL, 0);
	pthread_mutex_unlock(&j->sd->send_lock);
}

static void *job_thread(void *arg)
{
	struct job *j = arg;
	struct sim_reply rep = {0};

	if (j->type == SIM_INVALIDATE) {
		rep.result = sim_invalidate(j->sd->sim, j->req.domid);
	} else {
		struct sim_scn_summary sum;

		rep.result = sim_run_scenario(j->sd->sim, j->req.domid, j->c->ops, j->c->n_ops,
		                              j->req.a32[0], job_result, j, &sum);
		if (rep.result == 0) {
			rep.u.scn.passed = sum.passed;
			rep.u.scn.failed = sum.failed;
			rep.u.scn.not_run = sum.not_run;
			rep.u.scn.crashed = sum.crashed;
			memcpy(rep.u.scn.reason, sum.reason, sizeof(rep.u.scn.reason));
		}
	}
	pthread_mutex_lock(&j->sd->send_lock);
	(void)reply(j->c->fd, j->id, &rep, NULL, 0);
	pthread_mutex_unlock(&j->sd->send_lock);
	atomic_store(&j->c->busy, false);
	(void)eventfd_write(j->sd->wake_fd, 1);
	free(j);
	return NULL;
}

static int start_job(struct simd *sd, struct client *c, uint16_t type, uint32_t id,
                     const struct sim_req *q)
{
	struct job *j;
	pthread_t t;
	pthread_attr_t attr;
	int r;

	if (type == SIM_SCN_RUN && (!c->ops || c->n_ops != c->total))
		return -ENOENT; /* nothing (complete) loaded */
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	*j = (struct job){.sd = sd, .c = c, .type = type, .id = id, .req = *q};
	atomic_store(&c->busy, true);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&t, &attr, job_thread, j);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		atomic_store(&c->busy, false);
		free(j);
	}
	return r;
}

static int scn_load(struct client *c, const struct sim_scn_chunk *ch)
{
	if (ch->total == 0 || ch->total > SCN_MAX_OPS || ch->n == 0 || ch->n > SIM_SCN_CHUNK ||
	    ch->offset > ch->total || ch->n > ch->total - ch->offset)
		return -EINVAL;
	if (ch->offset == 0) {
		struct scn_op *ops = calloc(ch->total, sizeof(*ops));
		if (!ops)
			return -ENOMEM;
		free(c->ops);
		c->ops = ops;
		c->total = ch->total;
		c->n_ops = 0;
	}
	if (!c->ops || ch->total != c->total || ch->offset != c->n_ops)
		return -EINVAL; /* chunks arrive in order, from offset 0 */
	memcpy(c->ops + ch->offset, ch->ops, ch->n * sizeof(*ch->ops));
	c->n_ops += ch->n;
	return 0;
}

/* ---- the loop ----------------------------------------------------------- */

static void handle_request(struct simd *sd, struct client *c)
{
	struct frame *f = &sd->frame;
	struct sim_reply rep = {0};
	struct sim_req q;
	int fds[2 * SIMCHAN_MAX_VCPUS + 2];
	unsigned nfds = 0;
	int r;

	r = frame_recv(c->fd, f, sizeof(f->payload), 0);
	if (r == -EAGAIN)
		return;
	if (r < 0) {
		/* End of stream or a malformed frame: drop the client. */
		shutdown(c->fd, SHUT_RDWR);
		c->watcher = false;
		return;
	}
	if (f->hdr.type == SIM_SCN_LOAD) {
		struct sim_scn_chunk *ch = malloc(sizeof(*ch));
		rep.result = !ch ? -ENOMEM : frame_get(f, ch, sizeof(*ch));
		if (rep.result == 0)
			rep.result = scn_load(c, ch);
		free(ch);
		pthread_mutex_lock(&sd->send_lock);
		(void)reply(c->fd, f->hdr.id, &rep, NULL, 0);
		pthread_mutex_unlock(&sd->send_lock);
		return;
	}
	rep.result = frame_get(f, &q, sizeof(q));
	if (rep.result == 0 && (f->hdr.type == SIM_SCN_RUN || f->hdr.type == SIM_INVALIDATE)) {
		rep.result = start_job(sd, c, f->hdr.type, f->hdr.id, &q);
		if (rep.result == 0)
			return; /* the worker replies */
	} else if (rep.result == 0) {
		rep.result = -ENOSYS;
		for (unsigned i = 0; i < ARRAY_SIZE(handlers); i++)
			if (handlers[i].type == f->hdr.type)
				rep.result = handlers[i].fn(sd, c, &q, &rep, fds, &nfds);
	}
	pthread_mutex_lock(&sd->send_lock);
	(void)reply(c->fd, f->hdr.id, &rep, fds, nfds);
	pthread_mutex_unlock(&sd->send_lock);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
}

static void accept_client(struct simd *sd)
{
	int fd = accept4(sd->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct client *c;

	if (fd < 0)
		return;
	for (unsigned i = 0; i < MAX_CLIENTS; i++) {
		if (sd->clients[i])
			continue;
		c = calloc(1, sizeof(*c));
		if (!c)
			break;
		c->fd = fd;
		/* Replies are sent blocking; requests are read when poll says so. */
		(void)util_set_nonblock(fd, false);
		pthread_mutex_lock(&sd->send_lock);
		sd->clients[i] = c;
		pthread_mutex_unlock(&sd->send_lock);
		return;
	}
	log_warn("client limit (%d) reached, refusing a connection", MAX_CLIENTS);
	close(fd);
}

static void reap_clients(struct simd *sd, struct pollfd *pfd, struct client **map, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct client *c = map[i];
		if (!c || !(pfd[i].revents & (POLLHUP | POLLERR)) || atomic_load(&c->busy))
			continue;
		pthread_mutex_lock(&sd->send_lock);
		for (unsigned k = 0; k < MAX_CLIENTS; k++)
			if (sd->clients[k] == c)
				sd->clients[k] = NULL;
		pthread_mutex_unlock(&sd->send_lock);
		client_free(c);
	}
}

static int serve(struct simd *sd, int sig_fd)
{
	for (;;) {
		struct pollfd pfd[MAX_CLIENTS + 3];
		struct client *map[MAX_CLIENTS + 3] = {0};
		unsigned n = 0;

		pfd[n++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = sd->listen_fd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = sd->wake_fd, .events = POLLIN};
		for (unsigned i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = sd->clients[i];
			if (!c || atomic_load(&c->busy))
				continue;
			map[n] = c;
			pfd[n++] = (struct pollfd){.fd = c->fd, .events = POLLIN};
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd[0].revents)
			return 0; /* SIGTERM/SIGINT */
		if (pfd[1].revents & POLLIN)
			accept_client(sd);
		if (pfd[2].revents & POLLIN) {
			eventfd_t v;
			(void)eventfd_read(sd->wake_fd, &v);
		}
		for (unsigned i = 3; i < n; i++)
			if ((pfd[i].revents & POLLIN) && map[i] && !atomic_load(&map[i]->busy))
				handle_request(sd, map[i]);
		reap_clients(sd, pfd, map, n);
	}
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (util_strcpy(sa.sun_path, sizeof(sa.sun_path), path) < 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	(void)unlink(path);
	/* Only root (the broker, the toolstack) may issue "hypercalls". */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 64) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dmbsimd [--socket PATH] [--verbose]\n"
	           "The simulated Xen 4.17 ioreq hypervisor (see docs/simulator.md).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
	                                     {"verbose", no_argument, NULL, 'v'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *path = SIM_DEFAULT_SOCKET;
	struct simd sd = {.listen_fd = -1};
	sigset_t mask;
	int c, sig_fd, r;

	log_init("dmbsimd", LOG_INFO);
	while ((c = getopt_long(argc, argv, "s:vh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sig_fd < 0)
		fatal("signalfd: %s", strerror(errno));
	pthread_mutex_init(&sd.send_lock, NULL);
	sd.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sd.wake_fd < 0)
		fatal("eventfd: %s", strerror(errno));
	r = sim_new(on_event, &sd, &sd.sim);
	if (r < 0)
		fatal("sim_new: %s", strerror(-r));
	sd.listen_fd = listen_on(path);
	if (sd.listen_fd < 0)
		fatal("listen on %s: %s", path, strerror(-sd.listen_fd));
	log_info("simulated Xen 4.17 ioreq hypervisor listening on %s", path);
	r = serve(&sd, sig_fd);
	log_info("shutting down");
	(void)unlink(path);
	sim_free(sd.sim);
	for (unsigned i = 0; i < MAX_CLIENTS; i++)
		client_free(sd.clients[i]);
	return r < 0 ? 1 : 0;
}
