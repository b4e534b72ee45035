/* SPDX-License-Identifier: MIT */
/*
 * The control socket that dmbrokerctl talks to: a UNIX stream socket, mode
 * 0660 owned by root and the admin group, and every peer checked again with
 * SO_PEERCRED/SO_PEERGROUPS (root or a member of the admin group, nobody
 * else).  One JSON object per line each way (docs/control.md).  Requests
 * are bounded in size; clients are bounded in number.
 */
#include <errno.h>
#include <stddef.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/sdnotify.h"
#include "common/util.h"
#include "daemon/broker-internal.h"
#include "daemon/verify.h"

#define CONTROL_MAX_CLIENTS 64
#define CONTROL_MAX_LINE    (64 * 1024)
/* Replies queued for one client: beyond this the broker reads no more of its requests. */
#define CONTROL_MAX_OUTPUT (CONTROL_MAX_LINE * 16)
#define CONTROL_LOG_LINES  LOGCAP_LINES

struct client {
	struct control *ctl;
	struct bufferevent *bev;
	uid_t uid;
	pid_t pid;
	bool waiting;   /* an attach reply is pending */
	bool following; /* subscribed to the event stream (events --follow) */
	bool throttled; /* not read from until its replies drain */
	bool closing;
	struct client *next;
};

struct control {
	struct broker *b;
	struct evconnlistener *lst;
	char path[108];
	bool activated; /* passed by systemd: not ours to unlink */
	gid_t admin_gid;
	bool has_admin;
	struct client *clients;
	unsigned n_clients;
};

/* ---- replies ------------------------------------------------------------ */

static void send_json(struct client *c, json_object *o)
{
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                          JSON_C_TO_STRING_NOSLASHESCAPE);
	bufferevent_write(c->bev, s, strlen(s));
	bufferevent_write(c->bev, "\n", 1);
}

static void reply_ok(struct client *c, json_object *result)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "result", result ? result : json_object_new_object());
	send_json(c, o);
	json_object_put(o);
}

static void reply_err(struct client *c, int err, const char *msg)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg ? msg : strerror(-err)));
	json_object_object_add(o, "errno", json_object_new_int(-err));
	send_json(c, o);
	json_object_put(o);
}

/* ---- rendering ---------------------------------------------------------- */

static json_object *jstr(const char *s)
{
	return json_object_new_string(s);
}

static json_object *jint(int64_t v)
{
	return json_object_new_int64(v);
}

static json_object *claims_json(const struct handoff_claims *c)
{
	static const char *const keys[] = {"ports", "mmio", "pci"};
	json_object *o = json_object_new_object();

	for (unsigned k = 0; k < DMP_CLAIM_KINDS; k++) {
		json_object *a = json_object_new_array();
		for (unsigned i = 0; i < c->n[k]; i++) {
			const struct dmp_range *r = &c->r[k][i];
			char buf[64];
			if (k == DMP_CLAIM_PCI)
				snprintf(buf, sizeof(buf), "%02x:%02x.%x",
				         (unsigned)IOREQ_SBDF_BUS(r->start),
				         (unsigned)IOREQ_SBDF_DEV(r->start),
				         (unsigned)IOREQ_SBDF_FN(r->start));
			else
				snprintf(buf, sizeof(buf), "0x%llx-0x%llx",
				         (unsigned long long)r->start, (unsigned long long)r->end);
			json_object_array_add(a, jstr(buf));
		}
		json_object_object_add(o, keys[k], a);
	}
	return o;
}

static json_object *dm_json(const struct bdm *dm)
{
	json_object *o = json_object_new_object();
	json_object *req = json_object_new_object();

	json_object_object_add(o, "domid", jint(dm->dom->domid));
	json_object_object_add(o, "domain", jstr(dm->dom->name));
	json_object_object_add(o, "name", jstr(dm->cfg->name));
	json_object_object_add(o, "state", jstr(dm_state_name(dm->state)));
	json_object_object_add(o, "pid", jint(dm->pid));
	json_object_object_add(o, "uid", jint(dm->pid > 0 ? (int64_t)dm->uid : -1));
	json_object_object_add(o, "server", jint(dm->server_created ? dm->server : -1));
	json_object_object_add(o, "exec", jstr(dm->cfg->exec));
	json_object_object_add(o, "claims", claims_json(&dm->claims));
	json_object_object_add(o, "restarts", jint(dm->restarts));
	json_object_object_add(req, "pio", jint((int64_t)dm->stats.served[0]));
	json_object_object_add(req, "mmio", jint((int64_t)dm->stats.served[1]));
	json_object_object_add(req, "pci", jint((int64_t)dm->stats.served[2]));
	json_object_object_add(req, "other", jint((int64_t)dm->stats.served[3]));
	json_object_object_add(req, "buffered", jint((int64_t)dm->stats.buffered));
	json_object_object_add(req, "invalid", jint((int64_t)dm->stats.invalid));
	json_object_object_add(o, "requests", req);
	json_object_object_add(o, "dmops_granted", jint(dm->dmops_granted));
	json_object_object_add(o, "dmops_refused", jint(dm->dmops_refused));
	json_object_object_add(o, "cgroup", jstr(dm->cgroup_name));
	return o;
}

static const char *domain_state_name(enum bdomain_state s)
{
	return s == BD_ATTACHING ? "attaching" : s == BD_RUNNING ? "running" : "detaching";
}

/* ---- commands ------------------------------------------------------------ */

static int get_domid(json_object *req, uint32_t *ret)
{
	json_object *v;
	int64_t id;

	if (!json_object_object_get_ex(req, "domid", &v) || !json_object_is_type(v, json_type_int))
		return -EINVAL;
	id = json_object_get_int64(v);
	if (id < 0 || id > 0x7fef)
		return -EINVAL;
	*ret = (uint32_t)id;
	return 0;
}

static const char *get_str(json_object *req, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void cmd_status(struct client *c, json_object *req)
{
	struct broker *b = c->ctl->b;
	json_object *o = json_object_new_object();
	unsigned running = 0, total = 0;

	(void)req;
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++) {
		struct bdomain *d = b->dom[i];
		for (unsigned k = 0; d && k < d->n_dms; k++) {
			total++;
			running += d->dms[k].state == DM_RUNNING;
		}
	}
	json_object_object_add(o, "hypervisor", jstr(hv_name(b->hv)));
	json_object_object_add(o, "policy", jstr(b->cfg.policy_path));
	json_object_object_add(o, "control", jstr(b->cfg.control_path));
	json_object_object_add(o, "state_dir", jstr(b->cfg.state_dir));
	json_object_object_add(o, "uptime_s",
	                       jint((int64_t)((util_now_ns() - b->started_ns) / 1000000000ull)));
	json_object_object_add(o, "domains", jint(b->n_domains));
	json_object_object_add(o, "device_models", jint(total));
	json_object_object_add(o, "device_models_running", jint(running));
	json_object_object_add(o, "attaches", jint((int64_t)b->attaches));
	json_object_object_add(o, "detaches", jint((int64_t)b->detaches));
	json_object_object_add(o, "crashes", jint((int64_t)b->crashes));
	json_object_object_add(o, "restarts", jint((int64_t)b->restarts));
	json_object_object_add(o, "cgroup", jstr(b->cgroup_status));
	json_object_object_add(o, "sandbox", jstr(b->sandbox_status));
	reply_ok(c, o);
}

static void cmd_domains(struct client *c, json_object *req)
{
	struct broker *b = c->ctl->b;
	json_object *a = json_object_new_array();

	(void)req;
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++) {
		struct bdomain *d = b->dom[i];
		json_object *o;

		if (!d)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "domid", jint(d->domid));
		json_object_object_add(o, "name", jstr(d->name));
		json_object_object_add(o, "state", jstr(domain_state_name(d->state)));
		json_object_object_add(o, "vcpus", jint(d->nr_vcpus));
		json_object_object_add(o, "device_models", jint(d->n_dms));
		json_object_array_add(a, o);
	}
	reply_ok(c, a);
}

static void cmd_dms(struct client *c, json_object *req)
{
	struct broker *b = c->ctl->b;
	json_object *a;
	uint32_t domid;
	bool one = json_object_object_get_ex(req, "domid", NULL);

	if (one && get_domid(req, &domid) < 0) {
		reply_err(c, -EINVAL, "domid must be an integer domain id");
		return;
	}
	if (one && !broker_find_domain(b, domid)) {
		reply_err(c, -ENOENT, "that domain has no device models from this broker");
		return;
	}
	a = json_object_new_array();
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++) {
		struct bdomain *d = b->dom[i];
		if (!d || (one && d->domid != domid))
			continue;
		for (unsigned k = 0; k < d->n_dms; k++)
			json_object_array_add(a, dm_json(&d->dms[k]));
	}
	reply_ok(c, a);
}

static void on_attached(void *opaque, int result, const char *msg)
{
	struct client *c = opaque;

	c->waiting = false;
	if (result < 0)
		reply_err(c, result, msg);
	else
		reply_ok(c, NULL);
}

static const char *attach_error(int r)
{
	switch (r) {
	case -EALREADY:
		return "already attached";
	case -ENOENT:
		return "no policy entry matches this domain";
	case -ESRCH:
		return "no such domain (or it is shutting down)";
	case -E2BIG:
		return "the domain is beyond Xen's limits for ioreq servers";
	default:
		return NULL;
	}
}

static void cmd_attach(struct client *c, json_object *req)
{
	uint32_t domid;
	int r;

	if (get_domid(req, &domid) < 0) {
		reply_err(c, -EINVAL, "domid must be an integer domain id");
		return;
	}
	c->waiting = true;
	r = attach_domain(c->ctl->b, domid, on_attached, c);
	if (r < 0) {
		c->waiting = false;
		reply_err(c, r, attach_error(r));
	}
}

static void cmd_detach(struct client *c, json_object *req)
{
	uint32_t domid;
	int r;

	if (get_domid(req, &domid) < 0) {
		reply_err(c, -EINVAL, "domid must be an integer domain id");
		return;
	}
	r = detach_domain(c->ctl->b, domid);
	if (r < 0)
		reply_err(c, r, r == -ENOENT ? "that domain is not attached" : NULL);
	else
		reply_ok(c, NULL);
}

static struct bdm *find_dm(struct client *c, json_object *req)
{
	struct bdomain *d;
	const char *name = get_str(req, "dm");
	uint32_t domid;

	if (get_domid(req, &domid) < 0 || !name) {
		reply_err(c, -EINVAL, "needs an integer domid and a device model name");
		return NULL;
	}
	d = broker_find_domain(c->ctl->b, domid);
	for (unsigned k = 0; d && k < d->n_dms; k++)
		if (!strcmp(d->dms[k].cfg->name, name))
			return &d->dms[k];
	reply_err(c, -ENOENT,
	          d ? "no device model of that name in that domain"
	            : "that domain is not attached");
	return NULL;
}

static void cmd_restart(struct client *c, json_object *req)
{
	struct bdm *dm = find_dm(c, req);
	int r;

	if (!dm)
		return;
	if (dm->dom->state != BD_RUNNING) {
		reply_err(c, -EBUSY, "the domain is still attaching");
		return;
	}
	if (dm->pidfd >= 0) {
		/* Orderly stop of this process; the server is disabled meanwhile. */
		dm_stop(dm, true);
		dm->state = DM_RESTART_WAIT;
	}
	r = supervise_restart_now(dm);
	if (r < 0)
		reply_err(c, r, "could not start it again");
	else
		reply_ok(c, NULL);
}

static void cmd_logs(struct client *c, json_object *req)
{
	struct bdm *dm = find_dm(c, req);
	json_object *o, *v;
	unsigned lines = CONTROL_LOG_LINES;

	if (!dm)
		return;
	if (json_object_object_get_ex(req, "lines", &v) && json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) > 0 && json_object_get_int64(v) < CONTROL_LOG_LINES)
		lines = (unsigned)json_object_get_int64(v);
	o = json_object_new_object();
	json_object_object_add(o, "lines",
	                       dm->log ? logcap_json(dm->log, lines) : json_object_new_array());
	json_object_object_add(o, "dropped", jint(dm->log ? (int64_t)logcap_dropped(dm->log) : 0));
	reply_ok(c, o);
}

static void cmd_policy_reload(struct client *c, json_object *req)
{
	json_object *report = NULL;
	int r;

	(void)req;
	r = broker_reload_policy(c->ctl->b, &report);
	if (r < 0)
		reply_err(c, r,
		          r == -EINVAL ? "the policy file has errors; the current policy stays"
		                       : NULL);
	else
		reply_ok(c, report);
}

/* Check a live device model from outside (daemon/verify.c); reads /proc only, does not block. */
static void cmd_verify(struct client *c, json_object *req)
{
	struct bdm *dm = find_dm(c, req);
	struct verify_report *rep;
	json_object *o, *a;
	int r;

	if (!dm)
		return;
	rep = calloc(1, sizeof(*rep));
	if (!rep) {
		reply_err(c, -ENOMEM, NULL);
		return;
	}
	r = verify_dm(dm, rep);
	if (r < 0) {
		reply_err(c, r, r == -ESRCH ? "that device model has no running process" : NULL);
		free(rep);
		return;
	}
	a = json_object_new_array();
	for (unsigned i = 0; i < rep->n; i++) {
		json_object *e = json_object_new_object();
		json_object_object_add(e, "name", jstr(rep->c[i].name));
		json_object_object_add(e, "ok", json_object_new_boolean(rep->c[i].ok));
		json_object_object_add(e, "detail", jstr(rep->c[i].detail));
		json_object_array_add(a, e);
	}
	o = json_object_new_object();
	json_object_object_add(o, "domid", jint(dm->dom->domid));
	json_object_object_add(o, "dm", jstr(dm->cfg->name));
	json_object_object_add(o, "pid", jint(dm->pid));
	json_object_object_add(o, "passed", json_object_new_boolean(rep->failed == 0));
	json_object_object_add(o, "failed", jint(rep->failed));
	json_object_object_add(o, "checks", a);
	if (rep->failed)
		log_warn("verify dom%u/%s: %u check%s failed", dm->dom->domid, dm->cfg->name,
		         rep->failed, rep->failed == 1 ? "" : "s");
	free(rep);
	reply_ok(c, o);
}

/* Every event as one JSON line, for as long as the client stays. */
static void on_event_for_client(void *opaque, const struct event_record *ev)
{
	struct client *c = opaque;
	json_object *o = event_json(ev);

	/* A reader that stops reading is dropped rather than buffered for without bound. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > CONTROL_MAX_OUTPUT) {
		events_unsubscribe(c->ctl->b->events, c);
		c->following = false;
		bufferevent_disable(c->bev, EV_READ);
		json_object_put(o);
		return;
	}
	send_json(c, o);
	json_object_put(o);
}

static void cmd_events(struct client *c, json_object *req)
{
	struct events *ev = c->ctl->b->events;
	json_object *v;
	unsigned last = 50;
	bool follow = false;
	int r;

	if (json_object_object_get_ex(req, "last", &v)) {
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
		    json_object_get_int64(v) > EVENTS_RING) {
			reply_err(c, -EINVAL, "last: an integer from 0 to 1024");
			return;
		}
		last = (unsigned)json_object_get_int64(v);
	}
	if (json_object_object_get_ex(req, "follow", &v))
		follow = json_object_get_boolean(v);
	if (!follow) {
		reply_ok(c, events_recent(ev, last));
		return;
	}
	/* One subscription per connection: a second would take another of the few slots. */
	if (c->following) {
		reply_err(c, -EALREADY, "this connection follows the events already");
		return;
	}
	r = events_subscribe(ev, on_event_for_client, c);
	if (r < 0) {
		reply_err(c, r, "too many event followers");
		return;
	}
	c->following = true;
	/* The reply carries the recent past; then one event object per line. */
	reply_ok(c, events_recent(ev, last));
}

static void cmd_metrics(struct client *c, json_object *req)
{
	char *text = metrics_render(c->ctl->b);

	(void)req;
	if (!text) {
		reply_err(c, -ENOMEM, NULL);
		return;
	}
	reply_ok(c, json_object_new_string(text));
	free(text);
}

static const struct {
	const char *name;
	void (*fn)(struct client *c, json_object *req);
} commands[] = {
        {"status", cmd_status},   {"domains", cmd_domains},
        {"dms", cmd_dms},         {"attach", cmd_attach},
        {"detach", cmd_detach},   {"restart", cmd_restart},
        {"logs", cmd_logs},       {"policy-reload", cmd_policy_reload},
        {"verify", cmd_verify},   {"events", cmd_events},
        {"metrics", cmd_metrics},
};

static void dispatch(struct client *c, const char *line, size_t len)
{
	enum json_tokener_error jerr;
	json_tokener *tok = json_tokener_new_ex(16);
	json_object *req = NULL;
	const char *cmd;

	if (tok) {
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
		req = json_tokener_parse_ex(tok, line, (int)len);
		jerr = json_tokener_get_error(tok);
		if (jerr != json_tokener_success || json_tokener_get_parse_end(tok) != len) {
			json_object_put(req);
			req = NULL;
		}
		json_tokener_free(tok);
	}
	if (!req || !json_object_is_type(req, json_type_object) || !(cmd = get_str(req, "cmd"))) {
		reply_err(c, -EINVAL, "a request is one JSON object with a \"cmd\" string");
		json_object_put(req);
		return;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, cmd)) {
			commands[i].fn(c, req);
			json_object_put(req);
			return;
		}
	reply_err(c, -EOPNOTSUPP, "unknown command");
	json_object_put(req);
}

/* ---- connections ---------------------------------------------------------- */

static void client_free(struct client *c)
{
	struct control *ctl = c->ctl;

	if (c->waiting)
		attach_cancel_waiter(ctl->b, c);
	if (c->following)
		events_unsubscribe(ctl->b->events, c);
	for (struct client **p = &ctl->clients; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	ctl->n_clients--;
	bufferevent_free(c->bev);
	free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->waiting) {
		size_t len;
		char *line;

		/*
		 * A client that sends requests without reading the replies (30 bytes
		 * of "events" make 250 KB of reply) would have the broker buffer for
		 * it without bound: stop reading until what it was sent drains.
		 */
		if (evbuffer_get_length(bufferevent_get_output(bev)) > CONTROL_MAX_OUTPUT) {
			c->throttled = true;
			bufferevent_disable(bev, EV_READ);
			return;
		}
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);

		if (!line)
			break;
		dispatch(c, line, len);
		free(line);
	}
	if (evbuffer_get_length(in) > CONTROL_MAX_LINE) {
		log_warn("control client uid %u pid %d: request too long, closing", c->uid, c->pid);
		client_free(c);
	}
}

/* Its replies went out: read its requests again, and run those already queued. */
static void on_written(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (!c->throttled)
		return;
	c->throttled = false;
	bufferevent_enable(bev, EV_READ);
	on_read(bev, c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_free(arg);
}

/* Root, or a member of the admin group (primary or supplementary), nobody else. */
static bool peer_allowed(struct control *ctl, int fd, struct ucred *cred)
{
	gid_t groups[256];
	socklen_t len = sizeof(*cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0)
		return false;
	if (cred->uid == 0)
		return true;
	if (!ctl->has_admin)
		return false;
	if (cred->gid == ctl->admin_gid)
		return true;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (unsigned i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == ctl->admin_gid)
			return true;
	return false;
}

/*
 * Closing a UNIX stream socket with unread input resets the peer, which then
 * loses what we wrote; so read (and drop) what the client sent first.
 */
static void close_drained(int fd)
{
	char buf[512];

	for (unsigned i = 0; i < 16 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0; i++)
		;
	close(fd);
}

static void on_accept(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
	struct control *ctl = arg;
	struct ucred cred = {0};
	struct client *c;

	(void)lst, (void)sa, (void)salen;
	if (!peer_allowed(ctl, fd, &cred)) {
		static const char denied[] =
		        "{\"ok\":false,\"error\":\"permission denied\",\"errno\":13}\n";
		log_notice("control: refused uid %u pid %d (not root, not in the admin group)",
		           cred.uid, cred.pid);
		(void)!write(fd, denied, sizeof(denied) - 1);
		close_drained(fd);
		return;
	}
	if (ctl->n_clients >= CONTROL_MAX_CLIENTS) {
		log_warn("control: %d clients already; refusing uid %u", CONTROL_MAX_CLIENTS,
		         cred.uid);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->ctl = ctl;
	c->uid = cred.uid;
	c->pid = cred.pid;
	c->bev = bufferevent_socket_new(ctl->b->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, on_read, on_written, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = ctl->clients;
	ctl->clients = c;
	ctl->n_clients++;
}

static int listen_socket(struct control *ctl, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (util_strcpy(sa.sun_path, sizeof(sa.sun_path), path) < 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Replace a stale socket (a killed broker's), never a live one or anything else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode) || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
		    errno == EAGAIN) {
			close(fd);
			return S_ISSOCK(st.st_mode) ? -EADDRINUSE : -EEXIST;
		}
		(void)unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chown(path, 0, ctl->has_admin ? ctl->admin_gid : 0) < 0 ||
	    chmod(path, ctl->has_admin ? 0660 : 0600) < 0 || listen(fd, 16) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/*
 * Socket activation (dmbrokerd.socket, FileDescriptorName=control): systemd
 * owns the socket, so requests wait in its queue while the broker restarts.
 * -ENOENT when none was passed.  The path must be the one we were told, so
 * that dmbrokerctl and the broker agree.
 */
static int activated_socket(struct control *ctl, const char *path)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int fd = sdn_listen_fd("control"), type = 0, listening = 0;
	socklen_t ilen = sizeof(int);

	if (fd < 0)
		return -ENOENT;
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ilen) < 0 || type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen) < 0 || !listening)
		return log_errno(-EBADF, "the socket passed by systemd is not a listening "
		                         "AF_UNIX stream socket");
	if (len <= offsetof(struct sockaddr_un, sun_path) ||
	    strncmp(sa.sun_path, path, sizeof(sa.sun_path)))
		log_warn("control socket: systemd passed %.108s, not %s; using it", sa.sun_path,
		         path);
	if (util_set_nonblock(fd, true) < 0)
		return -errno;
	ctl->activated = true;
	snprintf(ctl->path, sizeof(ctl->path), "%.107s", sa.sun_path);
	log_info("control socket %s from systemd (socket activation)", ctl->path);
	return fd;
}

int control_new(struct broker *b, const char *path, const char *admin_group, struct control **ret)
{
	struct control *ctl = calloc(1, sizeof(*ctl));
	int fd;

	if (!ctl)
		return -ENOMEM;
	ctl->b = b;
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	if (admin_group) {
		struct group *g = getgrnam(admin_group);
		if (!g) {
			free(ctl);
			return log_errno(-ENOENT, "admin group '%s'", admin_group);
		}
		ctl->admin_gid = g->gr_gid;
		ctl->has_admin = g->gr_gid != 0;
	}
	fd = activated_socket(ctl, path);
	if (fd == -ENOENT)
		fd = listen_socket(ctl, path);
	if (fd < 0) {
		free(ctl);
		if (fd == -EADDRINUSE)
			return log_errno(fd, "control socket %s: in use by another dmbrokerd",
			                 path);
		return log_errno(fd, "control socket %s", path);
	}
	ctl->lst = evconnlistener_new(b->base, on_accept, ctl,
	                              LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (!ctl->lst) {
		close(fd);
		free(ctl);
		return -ENOMEM;
	}
	*ret = ctl;
	return 0;
}

void control_free(struct control *ctl)
{
	if (!ctl)
		return;
	while (ctl->clients)
		client_free(ctl->clients);
	evconnlistener_free(ctl->lst);
	if (!ctl->activated)
		(void)unlink(ctl->path);
	free(ctl);
}
