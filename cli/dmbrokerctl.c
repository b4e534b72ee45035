/* SPDX-License-Identifier: MIT */
/*
 * dmbrokerctl: the admin CLI for dmbrokerd (dmbrokerctl(8)).
 *
 * Exit codes: 0 success; 1 the command failed (the daemon said why, or the
 * policy has errors); 2 usage; 3 the daemon cannot be reached (not running,
 * or no permission on its socket).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/policy.h"

#define DEFAULT_SOCKET "/run/dmbroker/control.sock"
#define EXIT_FAILED    1
#define EXIT_USAGE     2
#define EXIT_NODAEMON  3
#define REPLY_MAX      (4 * 1024 * 1024)
/* Where the dmbrokerd installed with this dmbrokerctl runs device models from
 * (daemon/main.c): `policy check` looks for them in the same place. */
#ifndef DMB_LIBEXECDIR
#define DMB_LIBEXECDIR POLICY_LIBEXEC_DIR
#endif

struct ctl {
	const char *socket;
	bool json;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: dmbrokerctl [--socket PATH] [--json] COMMAND [ARGS]\n"
	        "  status                     the broker's state and counters\n"
	        "  domains                    attached domains\n"
	        "  dms [DOMID]                device models: pid, uid, state, claims, restarts, "
	        "requests\n"
	        "  attach DOMID               give a domain its device models (waits until ready)\n"
	        "  detach DOMID               stop a domain's device models, destroy their "
	        "servers\n"
	        "  restart DOMID DM           restart one device model\n"
	        "  logs DOMID DM [--lines N]  a device model's recent output\n"
	        "  verify DOMID DM            check a running device model's sandbox from "
	        "outside\n"
	        "                             (exit 1 if any check fails)\n"
	        "  events [--follow] [--last N] attach, ready, crash, restart... as JSON lines\n"
	        "  metrics                    OpenMetrics text: states, restarts, requests, "
	        "latencies\n"
	        "  policy check FILE [--libexec-dir DIR]\n"
	        "                             validate a policy; print it normalised, or every "
	        "error\n"
	        "  policy reload              reload the daemon's policy file\n"
	        "exit: 0 ok, 1 failed, 2 usage, 3 daemon not reachable\n");
}

/* ---- talking to the daemon ------------------------------------------------ */

static int connect_daemon(const char *path)
{
	return util_unix_connect(path, SOCK_STREAM);
}

/* Read one line (the reply) within timeout_ms. */
static char *read_line(int fd, int timeout_ms)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);

	while (buf) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;
		char *nl;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			break;
		if (len + 1 >= cap) {
			char *nb = cap < REPLY_MAX ? realloc(buf, cap * 2) : NULL;
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

static int unreachable(const struct ctl *ctl, int err)
{
	fprintf(stderr, "dmbrokerctl: cannot reach dmbrokerd at %s: %s%s\n", ctl->socket,
	        strerror(-err),
	        err == -ENOENT || err == -ECONNREFUSED ? " (is it running?)"
	        : err == -EACCES                       ? " (root or the admin group only)"
	                                               : "");
	return EXIT_NODAEMON;
}

static int call(struct ctl *ctl, json_object *req, int timeout_ms, json_object **ret_reply)
{
	const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	json_object *rep;
	char *line;
	int fd = connect_daemon(ctl->socket);

	if (fd < 0)
		return unreachable(ctl, fd);
	/* A failed write is not the end: a refusal was written before the broker closed. */
	(void)(util_write_all(fd, s, strlen(s)) < 0 || util_write_all(fd, "\n", 1) < 0);
	line = read_line(fd, timeout_ms);
	close(fd);
	rep = line ? json_tokener_parse(line) : NULL;
	free(line);
	if (!rep || !json_object_is_type(rep, json_type_object)) {
		json_object_put(rep);
		fprintf(stderr, "dmbrokerctl: no valid reply from dmbrokerd\n");
		return EXIT_NODAEMON;
	}
	*ret_reply = rep;
	return 0;
}

static json_object *field(json_object *o, const char *key)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

static const char *sfield(json_object *o, const char *key)
{
	json_object *v = field(o, key);
	return v ? json_object_get_string(v) : "";
}

static long long ifield(json_object *o, const char *key)
{
	json_object *v = field(o, key);
	return v ? (long long)json_object_get_int64(v) : 0;
}

/* ---- printing --------------------------------------------------------------- */

static void print_status(json_object *r)
{
	json_object_object_foreach(r, key, val)
	{
		printf("%-22s %s\n", key, json_object_get_string(val));
	}
}

static void print_domains(json_object *r)
{
	printf("%-6s %-20s %-10s %5s %3s\n", "DOMID", "NAME", "STATE", "VCPUS", "DMS");
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		json_object *d = json_object_array_get_idx(r, i);
		printf("%-6lld %-20s %-10s %5lld %3lld\n", ifield(d, "domid"), sfield(d, "name"),
		       sfield(d, "state"), ifield(d, "vcpus"), ifield(d, "device_models"));
	}
}

static void print_claims(json_object *claims)
{
	static const char *const keys[] = {"ports", "mmio", "pci"};
	bool first = true;

	for (unsigned k = 0; k < 3; k++) {
		json_object *a = field(claims, keys[k]);
		for (size_t i = 0; a && i < json_object_array_length(a); i++) {
			printf("%s%s %s", first ? "" : ", ", keys[k],
			       json_object_get_string(json_object_array_get_idx(a, i)));
			first = false;
		}
	}
}

static void print_dms(json_object *r)
{
	printf("%-5s %-12s %-10s %7s %7s %3s %4s %9s %9s %9s  %s\n", "DOM", "DM", "STATE", "PID",
	       "UID", "SRV", "RST", "PIO", "MMIO", "PCI", "CLAIMS");
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		json_object *d = json_object_array_get_idx(r, i);
		json_object *q = field(d, "requests");
		printf("%-5lld %-12s %-10s %7lld %7lld %3lld %4lld %9lld %9lld %9lld  ",
		       ifield(d, "domid"), sfield(d, "name"), sfield(d, "state"), ifield(d, "pid"),
		       ifield(d, "uid"), ifield(d, "server"), ifield(d, "restarts"),
		       ifield(q, "pio"), ifield(q, "mmio"), ifield(q, "pci"));
		print_claims(field(d, "claims"));
		printf("\n");
	}
}

static void print_logs(json_object *r)
{
	json_object *lines = field(r, "lines");

	for (size_t i = 0; lines && i < json_object_array_length(lines); i++)
		printf("%s\n", json_object_get_string(json_object_array_get_idx(lines, i)));
	if (ifield(r, "dropped"))
		printf("(%lld lines dropped by the rate limit)\n", ifield(r, "dropped"));
}

static void print_reload(json_object *r)
{
	printf("policy reloaded\n");
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		json_object *d = json_object_array_get_idx(r, i);
		printf("dom%lld (%s): %s\n", ifield(d, "domid"), sfield(d, "name"),
		       sfield(d, "policy"));
	}
}

/* ---- commands ---------------------------------------------------------------- */

/* verify: the reply is ok when the checks ran; the exit code says whether all of them passed. */
static int cmd_verify(struct ctl *ctl, json_object *req)
{
	json_object *rep = NULL, *res, *checks;
	int r = call(ctl, req, 30000, &rep);
	bool passed;

	json_object_put(req);
	if (r)
		return r;
	if (!json_object_get_boolean(field(rep, "ok"))) {
		if (ctl->json)
			printf("%s\n",
			       json_object_to_json_string_ext(
			               rep, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
		else
			fprintf(stderr, "dmbrokerctl: %s\n", sfield(rep, "error"));
		json_object_put(rep);
		return EXIT_FAILED;
	}
	res = field(rep, "result");
	checks = field(res, "checks");
	passed = json_object_get_boolean(field(res, "passed"));
	if (ctl->json) {
		printf("%s\n", json_object_to_json_string_ext(
		                       rep, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		                                    JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		size_t n = checks ? json_object_array_length(checks) : 0;

		for (size_t i = 0; i < n; i++) {
			json_object *c = json_object_array_get_idx(checks, i);
			printf("%-4s %-16s %s\n",
			       json_object_get_boolean(field(c, "ok")) ? "ok" : "FAIL",
			       sfield(c, "name"), sfield(c, "detail"));
		}
		if (passed) {
			printf("dom%lld/%s (pid %lld): all %zu checks passed\n",
			       ifield(res, "domid"), sfield(res, "dm"), ifield(res, "pid"), n);
		} else {
			printf("dom%lld/%s (pid %lld): %lld of %zu checks FAILED:",
			       ifield(res, "domid"), sfield(res, "dm"), ifield(res, "pid"),
			       ifield(res, "failed"), n);
			for (size_t i = 0; i < n; i++) {
				json_object *c = json_object_array_get_idx(checks, i);
				if (!json_object_get_boolean(field(c, "ok")))
					printf(" %s", sfield(c, "name"));
			}
			printf("\n");
		}
	}
	json_object_put(rep);
	return passed ? 0 : EXIT_FAILED;
}

static int run(struct ctl *ctl, json_object *req, int timeout_ms, void (*print)(json_object *))
{
	json_object *rep = NULL;
	int r = call(ctl, req, timeout_ms, &rep);
	bool ok;

	json_object_put(req);
	if (r)
		return r;
	ok = json_object_get_boolean(field(rep, "ok"));
	if (ctl->json) {
		printf("%s\n", json_object_to_json_string_ext(
		                       rep, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
		                                    JSON_C_TO_STRING_NOSLASHESCAPE));
	} else if (!ok) {
		fprintf(stderr, "dmbrokerctl: %s\n", sfield(rep, "error"));
	} else if (print) {
		print(field(rep, "result"));
	}
	json_object_put(rep);
	return ok ? 0 : EXIT_FAILED;
}

static json_object *request(const char *cmd)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "cmd", json_object_new_string(cmd));
	return o;
}

static int add_domid(json_object *req, const char *arg)
{
	uint32_t domid;

	if (util_parse_u32(arg, &domid) < 0 || domid > 0x7fef) {
		fprintf(stderr, "dmbrokerctl: '%s' is not a domain id\n", arg);
		json_object_put(req);
		return -EINVAL;
	}
	json_object_object_add(req, "domid", json_object_new_int64(domid));
	return 0;
}

static int cmd_policy_check(struct ctl *ctl, const char *file, const char *libexec_dir)
{
	struct policy_errors errs = {0};
	struct policy *p = NULL;
	char *text;
	int r;

	r = policy_load(file, &p, &errs);
	if (r == 0)
		r = policy_check_execs(p, libexec_dir, &errs);
	if (r < 0) {
		if (ctl->json) {
			json_object *o = json_object_new_object(), *a = json_object_new_array();
			for (unsigned i = 0; i < errs.n && i < POLICY_ERRORS_MAX; i++) {
				json_object *e = json_object_new_object();
				json_object_object_add(e, "path",
				                       json_object_new_string(errs.e[i].path));
				json_object_object_add(e, "error",
				                       json_object_new_string(errs.e[i].msg));
				json_object_array_add(a, e);
			}
			json_object_object_add(o, "ok", json_object_new_boolean(0));
			json_object_object_add(o, "errors", a);
			json_object_object_add(o, "count", json_object_new_int((int)errs.n));
			printf("%s\n",
			       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
			                                                 JSON_C_TO_STRING_SPACED));
			json_object_put(o);
		} else {
			policy_errors_print(&errs, file, stderr);
		}
		policy_unref(p);
		return EXIT_FAILED;
	}
	text = policy_to_json(p);
	fputs(text ? text : "", stdout);
	free(text);
	policy_unref(p);
	return text ? 0 : EXIT_FAILED;
}

static void print_json_line(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
}

static void print_events(json_object *r)
{
	for (size_t i = 0; r && i < json_object_array_length(r); i++)
		print_json_line(json_object_array_get_idx(r, i));
}

static void print_metrics(json_object *r)
{
	fputs(json_object_get_string(r), stdout);
}

/* events --follow: the reply, then one event per line until the daemon goes. */
static int follow_events(struct ctl *ctl, json_object *req)
{
	const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	char buf[8192];
	size_t len = 0;
	bool first = true;
	int fd = connect_daemon(ctl->socket);

	if (fd < 0) {
		json_object_put(req);
		return unreachable(ctl, fd);
	}
	if (util_write_all(fd, s, strlen(s)) < 0 || util_write_all(fd, "\n", 1) < 0) {
		close(fd);
		json_object_put(req);
		return EXIT_NODAEMON;
	}
	json_object_put(req);
	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		char *line, *nl;

		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		line = buf;
		while ((nl = strchr(line, '\n'))) {
			json_object *o;

			*nl = '\0';
			o = json_tokener_parse(line);
			if (first) {
				first = false;
				if (!o || !json_object_get_boolean(field(o, "ok"))) {
					fprintf(stderr, "dmbrokerctl: %s\n",
					        o ? sfield(o, "error") : "bad reply");
					json_object_put(o);
					close(fd);
					return EXIT_FAILED;
				}
				print_events(field(o, "result"));
			} else if (o) {
				print_json_line(o);
			}
			json_object_put(o);
			line = nl + 1;
		}
		len = strlen(line);
		memmove(buf, line, len);
		if (len >= sizeof(buf) - 1)
			len = 0; /* a line that long is not ours: drop it */
	}
	close(fd);
	return 0;
}

static int dispatch(struct ctl *ctl, int argc, char **argv)
{
	const char *cmd = argv[0];
	json_object *req;

	if (!strcmp(cmd, "status") && argc == 1)
		return run(ctl, request("status"), 10000, print_status);
	if (!strcmp(cmd, "domains") && argc == 1)
		return run(ctl, request("domains"), 10000, print_domains);
	if (!strcmp(cmd, "dms") && argc <= 2) {
		req = request("dms");
		if (argc == 2 && add_domid(req, argv[1]) < 0)
			return EXIT_USAGE;
		return run(ctl, req, 10000, print_dms);
	}
	if ((!strcmp(cmd, "attach") || !strcmp(cmd, "detach")) && argc == 2) {
		req = request(cmd);
		if (add_domid(req, argv[1]) < 0)
			return EXIT_USAGE;
		return run(ctl, req, 120000, NULL);
	}
	if ((!strcmp(cmd, "restart") || !strcmp(cmd, "logs")) && argc >= 3) {
		req = request(cmd);
		if (add_domid(req, argv[1]) < 0)
			return EXIT_USAGE;
		json_object_object_add(req, "dm", json_object_new_string(argv[2]));
		if (!strcmp(cmd, "logs") && argc == 5 && !strcmp(argv[3], "--lines")) {
			uint32_t n;
			if (util_parse_u32(argv[4], &n) < 0) {
				json_object_put(req);
				return EXIT_USAGE;
			}
			json_object_object_add(req, "lines", json_object_new_int64(n));
		} else if (argc != 3) {
			json_object_put(req);
			return EXIT_USAGE;
		}
		return run(ctl, req, 30000, !strcmp(cmd, "logs") ? print_logs : NULL);
	}
	if (!strcmp(cmd, "verify") && argc == 3) {
		req = request(cmd);
		if (add_domid(req, argv[1]) < 0)
			return EXIT_USAGE;
		json_object_object_add(req, "dm", json_object_new_string(argv[2]));
		return cmd_verify(ctl, req);
	}
	if (!strcmp(cmd, "policy") && argc >= 3 && !strcmp(argv[1], "check")) {
		const char *dir =
		        strcmp(DMB_LIBEXECDIR, POLICY_LIBEXEC_DIR) ? DMB_LIBEXECDIR : NULL;

		if (argc == 5 && !strcmp(argv[3], "--libexec-dir"))
			dir = argv[4];
		else if (argc != 3)
			return EXIT_USAGE;
		return cmd_policy_check(ctl, argv[2], dir);
	}
	if (!strcmp(cmd, "metrics") && argc == 1)
		return run(ctl, request("metrics"), 10000, print_metrics);
	if (!strcmp(cmd, "events")) {
		bool follow = false;
		uint32_t last = 50;

		for (int i = 1; i < argc; i++) {
			if (!strcmp(argv[i], "--follow"))
				follow = true;
			else if (!strcmp(argv[i], "--last") && i + 1 < argc &&
			         util_parse_u32(argv[i + 1], &last) == 0 && last <= 1024)
				i++;
			else {
				fprintf(stderr,
				        "dmbrokerctl: events [--follow] [--last N], N from 0 "
				        "to 1024\n");
				return EXIT_USAGE;
			}
		}
		req = request("events");
		json_object_object_add(req, "last", json_object_new_int64(last));
		if (follow) {
			json_object_object_add(req, "follow", json_object_new_boolean(1));
			return follow_events(ctl, req);
		}
		return run(ctl, req, 10000, print_events);
	}
	if (!strcmp(cmd, "policy") && argc == 2 && !strcmp(argv[1], "reload"))
		return run(ctl, request("policy-reload"), 10000, print_reload);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct ctl ctl = {.socket = getenv("DMBROKER_SOCKET")};
	int i = 1, r;

	log_init("dmbrokerctl", LOG_WARNING);
	/* A broker that closes on us (a refusal) must not kill us before we read why. */
	signal(SIGPIPE, SIG_IGN);
	if (!ctl.socket || !*ctl.socket)
		ctl.socket = DEFAULT_SOCKET;
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			ctl.socket = argv[i + 1];
			i += 2;
		} else if (!strcmp(argv[i], "--json")) {
			ctl.json = true;
			i++;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	r = dispatch(&ctl, argc - i, argv + i);
	if (r == EXIT_USAGE)
		usage(stderr);
	return r;
}
