/* SPDX-License-Identifier: MIT */
/*
 * The control socket (daemon/control.c) from a connected client: the input
 * is written as request text, at most 143 bytes at a time (as systemd's
 * fuzz-varlink), then a final newline, to a real connection on a real
 * listening socket (control_new() on a socket in a private /tmp directory),
 * while the broker's event loop runs.
 *
 * The broker runs on the fake hypervisor of fakehv.c with a policy file of
 * three guests.  Before each input, guest dom5 is attached for real, its two
 * device models being fake ones played by this test (they read their
 * handoff and answer READY, exit when told DMP_SHUTDOWN or killed; no
 * process is ever started), so that dms, logs, restart and detach have
 * something to act on; dom6 ("web-1") can be attached by a request (its
 * device model stays silent in odd-sized inputs, so that the client waits
 * and leaves while waiting), dom7,
 * dom9 and dom10 fail in the ways a request can make attach fail (no such
 * domain, dying, shut down), dom8 matches no guest.
 *
 * Checked: every reply line is one JSON object with a boolean "ok", and
 * either a "result" or an "error" string with a positive "errno" (or, after
 * "events" with "follow", an event with "event" and "seq"); no more replies
 * than requests; the client's departure, and every domain's
 * teardown, leave no client, server, page, port, event or fd behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/broker-internal.h"
#include "ipc/frame.h"
#include "tests/fuzz/fakehv.h"
#include "tests/fuzz/input.h"

#define CHUNK_MAX    143
#define REPLY_MAX    (1u << 20)
#define DOM_ATTACHED 5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char policy_text[] =
        "{\"version\": 1, \"guests\": [\n"
        " {\"match\": {\"domid\": 5}, \"unpause\": true, \"device_models\": [\n"
        "   {\"name\": \"uart\", \"exec\": \"/proc/self/exe\", \"args\": [\"--port\", \"0x3f8\"],\n"
        "    \"claims\": {\"ports\": [\"0x3f8-0x3ff\"]}, \"irqs\": [4],\n"
        "    \"sandbox\": {\"user\": \"@USER@\"},\n"
        "    \"on_crash\": {\"action\": \"restart\", \"backoff_ms\": 0, \"backoff_max_ms\": 0}},\n"
        "   {\"name\": \"pcitest\", \"exec\": \"/proc/self/exe\",\n"
        "    \"claims\": {\"pci\": [\"00:03.0\"], \"mmio\": [\"0xe0000000-0xe0000fff\"]},\n"
        "    \"sandbox\": {\"user\": \"@USER@\"}, \"on_crash\": {\"action\": \"pause\"}}]},\n"
        " {\"match\": {\"name\": \"web-*\"}, \"device_models\": [\n"
        "   {\"name\": \"solo\", \"exec\": \"/proc/self/exe\", \"claims\": {\"ports\": "
        "[\"0x60-0x64\"]},\n"
        "    \"sandbox\": {\"user\": \"@USER@\"}}]},\n"
        " {\"match\": {\"domid\": 7}, \"device_models\": [\n"
        "   {\"name\": \"ghost\", \"exec\": \"/proc/self/exe\", \"claims\": {\"ports\": "
        "[\"0x2f8-0x2ff\"]},\n"
        "    \"sandbox\": {\"user\": \"@USER@\"}}]}]}\n";

static struct broker *b;
static struct fake_hv fhv;
static char dir[64], ctl_path[108], policy_path[108];
static struct frame rx;
static char *replies;
static size_t n_replies_bytes;

/* ---- the fake device models -------------------------------------------------- */

/* In odd-sized inputs dom6's device model never reports ready: its attach stays pending. */
static bool lazy;

/* Read what the broker sent each fake device model; answer a finished handoff with READY. */
static void serve_children(void)
{
	for (unsigned i = 0; i < FAKE_MAX_CHILDREN; i++) {
		struct fake_child *c = &fake_children[i];

		if (!c->used || c->chan < 0)
			continue;
		if (!c->adopted) {
			static const char hello[] = "fake device model started\n\033[31mred\n";

			(void)util_set_nonblock(c->chan, true);
			(void)util_set_nonblock(c->out, true);
			(void)util_set_nonblock(c->err, true);
			(void)!write(c->out, hello, sizeof(hello) - 1);
			c->adopted = true;
		}
		for (unsigned n = 0; n < 64; n++) {
			int r = frame_recv(c->chan, &rx, sizeof(rx.payload), FRAME_MAX_FDS);

			if (r == -EAGAIN || r == -ECONNRESET)
				break;
			FUZZ_CHECK(r == 0); /* the broker sends nothing malformed */
			if (rx.hdr.type == DMP_PAGES && !(lazy && !strcmp(c->name, "solo")))
				(void)frame_send(c->chan, DMP_READY, 0, NULL, 0, NULL, 0);
			frame_release(&rx);
		}
	}
}

/* ---- the client ------------------------------------------------------------------ */

static void read_replies(int fd)
{
	for (;;) {
		ssize_t n;

		if (n_replies_bytes == REPLY_MAX)
			__builtin_trap(); /* a megabyte of replies to a 4 KiB request */
		n = read(fd, replies + n_replies_bytes, REPLY_MAX - n_replies_bytes);
		if (n <= 0)
			return;
		n_replies_bytes += (size_t)n;
	}
}

static void loop(int client, unsigned rounds)
{
	for (unsigned i = 0; i < rounds; i++) {
		event_base_loop(b->base, EVLOOP_NONBLOCK);
		serve_children();
		if (client >= 0)
			read_replies(client);
	}
}

/* One reply line; returns whether it answers a request (the rest are followed events). */
static bool check_reply(const char *line, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o, *ok, *v;
	bool reply;

	FUZZ_CHECK(tok);
	o = json_tokener_parse_ex(tok, line, (int)len);
	FUZZ_CHECK(o && json_tokener_get_error(tok) == json_tokener_success &&
	           json_tokener_get_parse_end(tok) == len);
	FUZZ_CHECK(json_object_is_type(o, json_type_object));
	reply = json_object_object_get_ex(o, "ok", &ok);
	if (reply)
		FUZZ_CHECK(json_object_is_type(ok, json_type_boolean));
	if (!reply) {
		/* An event streamed to a follower ("events", "follow": true). */
		FUZZ_CHECK(json_object_object_get_ex(o, "event", &v) &&
		           json_object_is_type(v, json_type_string));
		FUZZ_CHECK(json_object_object_get_ex(o, "seq", &v) &&
		           json_object_is_type(v, json_type_int));
	} else if (json_object_get_boolean(ok)) {
		FUZZ_CHECK(json_object_object_get_ex(o, "result", NULL));
	} else {
		FUZZ_CHECK(json_object_object_get_ex(o, "error", &v) &&
		           json_object_is_type(v, json_type_string) && *json_object_get_string(v));
		FUZZ_CHECK(json_object_object_get_ex(o, "errno", &v) &&
		           json_object_is_type(v, json_type_int) && json_object_get_int(v) > 0);
	}
	json_object_put(o);
	json_tokener_free(tok);
	return reply;
}

static unsigned check_replies(void)
{
	unsigned n = 0;
	size_t pos = 0;

	while (pos < n_replies_bytes) {
		const char *nl = memchr(replies + pos, '\n', n_replies_bytes - pos);

		FUZZ_CHECK(nl); /* replies are whole lines */
		n += check_reply(replies + pos, (size_t)(nl - (replies + pos)));
		pos = (size_t)(nl - replies) + 1;
	}
	return n;
}

static int connect_client(void)
{
	int fd = util_unix_connect(ctl_path, SOCK_STREAM);

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(util_set_nonblock(fd, true) == 0);
	return fd;
}

/* Write all of buf, running the loop while the socket is full. */
static void write_all(int fd, const uint8_t *buf, size_t len)
{
	for (unsigned stuck = 0; len && stuck < 1000;) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			loop(fd, 1);
			stuck++;
			continue;
		}
		if (n < 0)
			return; /* the broker closed the connection (request too long) */
		buf += n;
		len -= (size_t)n;
	}
}

/* ---- one input ---------------------------------------------------------------- */

static void reset_domains(void)
{
	static const struct {
		uint32_t domid;
		const char *name;
		bool dying, shutdown;
	} doms[] = {
	        {5, "guest-a", false, false},  {6, "web-1", false, false},
	        {8, "other", false, false},    {9, "web-dying", true, false},
	        {10, "web-down", false, true},
	};

	for (unsigned i = 0; i < ARRAY_SIZE(doms); i++) {
		struct fake_domain *d = fake_hv_domain(&fhv, doms[i].domid);

		if (!d)
			d = fake_hv_add_domain(&fhv, doms[i].domid, doms[i].name, 2, true);
		FUZZ_CHECK(d);
		d->info.paused = true;
		d->info.dying = doms[i].dying;
		d->info.shutdown = doms[i].shutdown;
	}
}

static void attach_first(void)
{
	struct bdomain *d;

	FUZZ_CHECK(attach_domain(b, DOM_ATTACHED, NULL, NULL) == 0);
	loop(-1, 6);
	d = broker_find_domain(b, DOM_ATTACHED);
	FUZZ_CHECK(d && d->state == BD_RUNNING);
}

static void teardown_all(void)
{
	for (unsigned i = 0; i < BROKER_MAX_DOMAINS; i++)
		if (b->dom[i])
			domain_teardown(b->dom[i], false);
	loop(-1, 2);
	fake_children_close_all();
	FUZZ_CHECK(b->n_domains == 0 && fhv.pages_live == 0 && fhv.ports_live == 0);
	for (unsigned i = 0; i < FAKE_MAX_DOMAINS; i++)
		if (fhv.dom[i].used)
			FUZZ_CHECK(fake_hv_servers(&fhv, fhv.dom[i].info.domid) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int base_events = -1;
	int fds = fake_count_fds(), client;
	unsigned requests = 1, got;

	lazy = size & 1;
	reset_domains();
	if (base_events < 0)
		base_events = event_base_get_num_events(b->base, EVENT_BASE_COUNT_ADDED);
	attach_first();
	client = connect_client();
	loop(client, 1); /* accept */
	n_replies_bytes = 0;
	for (size_t off = 0; off < size; off += CHUNK_MAX) {
		size_t n = size - off < CHUNK_MAX ? size - off : CHUNK_MAX;

		write_all(client, data + off, n);
		loop(client, 2);
	}
	write_all(client, (const uint8_t *)"\n", 1);
	for (unsigned i = 0, idle = 0; i < 64 && idle < 3; i++) {
		size_t before = n_replies_bytes;

		loop(client, 1);
		idle = n_replies_bytes == before ? idle + 1 : 0;
	}
	for (size_t i = 0; i < size; i++)
		requests += data[i] == '\n';
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "--- replies:\n%.*s---\n", (int)n_replies_bytes, replies);
	got = check_replies();
	FUZZ_CHECK(got <= requests);
	/* The client goes; whatever it waited for is cancelled, and it is freed. */
	close(client);
	loop(-1, 4);
	teardown_all();
	FUZZ_CHECK(event_base_get_num_events(b->base,
	                                     EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE) ==
	           base_events);
	FUZZ_CHECK(fake_count_fds() == fds);
	return 0;
}

/* ---- once ------------------------------------------------------------------------ */

static void cleanup(void)
{
	if (b && b->ctl) {
		control_free(b->ctl);
		b->ctl = NULL;
	}
	if (policy_path[0])
		(void)unlink(policy_path);
	if (dir[0])
		(void)rmdir(dir);
}

/* Not root: become root of a user namespace, so that the socket's chown() and the
 * peer check (root or the admin group) work as they do for dmbrokerd. */
static void become_root(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];
	int fd;

	if (uid == 0)
		return;
	if (unshare(CLONE_NEWUSER) < 0) {
		fprintf(stderr, "fuzz-control: needs root or user namespaces: %s\n",
		        strerror(errno));
		exit(1);
	}
	fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)!write(fd, "deny", 4);
		close(fd);
	}
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, map, strlen(map)) < 0)
		exit(1);
	close(fd);
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	fd = open("/proc/self/gid_map", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, map, strlen(map)) < 0)
		exit(1);
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *user;
	char text[sizeof(policy_text) + 512], *o = text;
	int fd, r;

	(void)argc, (void)argv;
	fake_log_quiet();
	signal(SIGPIPE, SIG_IGN);
	become_root();
	user = fake_some_user();
	if (!user) {
		fprintf(stderr, "fuzz-control: no non-root user in the user database\n");
		exit(1);
	}
	for (const char *s = policy_text; *s;) {
		if (!strncmp(s, "@USER@", 6)) {
			o += sprintf(o, "%s", user);
			s += 6;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	snprintf(dir, sizeof(dir), "/tmp/dmb-fuzz-control.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("fuzz-control: mkdtemp");
		exit(1);
	}
	snprintf(ctl_path, sizeof(ctl_path), "%s/control.sock", dir);
	snprintf(policy_path, sizeof(policy_path), "%s/policy.json", dir);
	atexit(cleanup);
	fd = open(policy_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || util_write_all(fd, text, strlen(text)) < 0) {
		perror("fuzz-control: policy file");
		exit(1);
	}
	close(fd);

	replies = malloc(REPLY_MAX);
	b = calloc(1, sizeof(*b));
	if (!replies || !b)
		exit(1);
	fake_hv_init(&fhv);
	fake_spawn_mode = FAKE_SPAWN_CAPTURE;
	b->cfg = (struct broker_config){.hypervisor = "fake",
	                                .policy_path = policy_path,
	                                .control_path = ctl_path,
	                                .state_dir = dir,
	                                .ready_timeout_ms = 600000};
	b->base = event_base_new();
	b->hv = &fhv.hv;
	if (events_new(&b->events) < 0)
		exit(1);
	b->started_ns = util_now_ns();
	snprintf(b->cgroup_status, sizeof(b->cgroup_status), "unavailable: fuzzing");
	snprintf(b->sandbox_status, sizeof(b->sandbox_status), "ok");
	if (!b->base || policy_load(policy_path, &b->policy, NULL) < 0) {
		fprintf(stderr, "fuzz-control: cannot set up the broker\n");
		exit(1);
	}
	r = control_new(b, ctl_path, NULL, &b->ctl);
	if (r < 0) {
		fprintf(stderr, "fuzz-control: control socket: %s\n", strerror(-r));
		exit(1);
	}
	fake_broker = b;
	return 0;
}
