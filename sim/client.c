/* SPDX-License-Identifier: MIT */
#include "sim/client.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"

struct simc {
	int fd;
	uint32_t next_id;
	struct frame f;
};

int simc_connect(const char *path, struct simc **ret)
{
	struct simc *c;
	int fd = util_unix_connect(path, SOCK_SEQPACKET);

	if (fd < 0)
		return fd;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->next_id = 1;
	*ret = c;
	return 0;
}

void simc_close(struct simc *c)
{
	if (!c)
		return;
	util_close(c->fd);
	free(c);
}

int simc_fd(const struct simc *c)
{
	return c->fd;
}

/* Receive frames until the reply to id arrives; results are passed to fn. */
static int wait_reply(struct simc *c, uint32_t id, struct sim_reply *reply, int *ret_fds,
                      unsigned max_fds, unsigned *ret_nfds, simc_result_fn fn, void *opaque)
{
	for (;;) {
		int r = frame_recv(c->fd, &c->f, sizeof(c->f.payload), FRAME_MAX_FDS);

		if (r < 0)
			return r;
		if (c->f.hdr.type == SIM_SCN_RESULT && c->f.hdr.id == id) {
			struct sim_scn_result res;
			frame_release(&c->f);
			if (frame_get(&c->f, &res, sizeof(res)) == 0 && fn)
				fn(opaque, &res);
			continue;
		}
		if (c->f.hdr.type != SIM_REPLY || c->f.hdr.id != id) {
			frame_release(&c->f); /* events and strays: not for this call */
			continue;
		}
		if (frame_get(&c->f, reply, sizeof(*reply)) < 0) {
			frame_release(&c->f);
			return -EBADMSG;
		}
		if (ret_nfds)
			*ret_nfds = 0;
		for (unsigned i = 0; i < c->f.nfds && ret_fds && i < max_fds; i++) {
			ret_fds[i] = frame_take_fd(&c->f, i);
			(*ret_nfds)++;
		}
		frame_release(&c->f);
		return reply->result;
	}
}

int simc_call(struct simc *c, uint16_t type, const struct sim_req *req, struct sim_reply *reply,
              int *ret_fds, unsigned max_fds, unsigned *ret_nfds)
{
	uint32_t id = c->next_id++;
	int r = frame_send(c->fd, type, id, req, sizeof(*req), NULL, 0);

	if (r < 0)
		return r;
	return wait_reply(c, id, reply, ret_fds, max_fds, ret_nfds, NULL, NULL);
}

int simc_run_scenario(struct simc *c, uint32_t domid, const struct scn_op *ops, unsigned n_ops,
                      uint32_t timeout_ms, simc_result_fn fn, void *opaque, struct sim_reply *reply)
{
	struct sim_req req = {.domid = domid};
	struct sim_scn_chunk *chunk;
	uint32_t id;
	int r;

	if (!n_ops || n_ops > SCN_MAX_OPS)
		return -EINVAL;
	chunk = calloc(1, sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	for (unsigned off = 0; off < n_ops; off += SIM_SCN_CHUNK) {
		unsigned n = MIN(SIM_SCN_CHUNK, n_ops - off);

		memset(chunk, 0, sizeof(*chunk));
		chunk->total = n_ops;
		chunk->offset = off;
		chunk->n = n;
		memcpy(chunk->ops, ops + off, n * sizeof(*ops));
		id = c->next_id++;
		r = frame_send(c->fd, SIM_SCN_LOAD, id, chunk, sizeof(*chunk), NULL, 0);
		if (r >= 0)
			r = wait_reply(c, id, reply, NULL, 0, NULL, NULL, NULL);
		if (r < 0) {
			free(chunk);
			return r;
		}
	}
	free(chunk);
	req.a32[0] = timeout_ms;
	id = c->next_id++;
	r = frame_send(c->fd, SIM_SCN_RUN, id, &req, sizeof(req), NULL, 0);
	if (r < 0)
		return r;
	return wait_reply(c, id, reply, NULL, 0, NULL, fn, opaque);
}

int simc_next_event(struct simc *c, struct sim_event *ret)
{
	for (;;) {
		int r;
		ssize_t n;
		struct sim_event ev;

		/* Peek without blocking: the socket may be blocking for calls. */
		n = recv(c->fd, &c->f.hdr, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		r = frame_recv(c->fd, &c->f, sizeof(c->f.payload), 0);
		if (r < 0)
			return r;
		if (c->f.hdr.type != SIM_EVENT || frame_get(&c->f, &ev, sizeof(ev)) < 0)
			continue;
		*ret = ev;
		return 0;
	}
}
