/* SPDX-License-Identifier: MIT */
#include "tests/unit/broker_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/test.h"

const char *fixture_dm_builddir(void)
{
	const char *s = getenv("TEST_DM_BUILDDIR");
	return s && *s ? s : "build";
}

static void abs_path(const char *rel, char *buf, size_t len)
{
	char tmp[PATH_MAX];

	ASSERT_NOT_NULL(realpath(rel, tmp));
	snprintf(buf, len, "%s", tmp);
}

/* Replace every @KEY@ in text. */
static char *expand(const char *text)
{
	char libexec[PATH_MAX], progs[PATH_MAX], rel[PATH_MAX];
	size_t cap = strlen(text) * 4 + 4096, n = 0;
	char *out = malloc(cap);

	snprintf(rel, sizeof(rel), "%s/libexec", fixture_dm_builddir());
	abs_path(rel, libexec, sizeof(libexec));
	snprintf(rel, sizeof(rel), "%s/tests/progs", fixture_dm_builddir());
	abs_path(rel, progs, sizeof(progs));
	ASSERT_NOT_NULL(out);
	for (const char *p = text; *p;) {
		const char *rep = NULL;
		size_t skip = 0;

		if (!strncmp(p, "@LIBEXEC@", 9))
			rep = libexec, skip = 9;
		else if (!strncmp(p, "@PROGS@", 7))
			rep = progs, skip = 7;
		if (rep) {
			size_t l = strlen(rep);
			ASSERT_LT(n + l, cap);
			memcpy(out + n, rep, l);
			n += l;
			p += skip;
		} else {
			ASSERT_LT(n + 1, cap);
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	return out;
}

void broker_write_policy(struct broker_fixture *bf, const char *policy)
{
	char *text = expand(policy);
	int fd = open(bf->policy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ASSERT_TRUE(fd >= 0);
	ASSERT_OK(util_write_all(fd, text, strlen(text)));
	close(fd);
	free(text);
}

static int connect_ctl(const char *path);

/* Start dmbrokerd on the fixture's simulator; wait until its control socket answers. */
static void broker_launch(struct broker_fixture *bf, const char *const *extra)
{
	char exe[PATH_MAX], libexec[PATH_MAX], hv[300];
	uint64_t deadline;
	int fd;

	snprintf(exe, sizeof(exe), "%s/bin/dmbrokerd", test_builddir());
	snprintf(libexec, sizeof(libexec), "%s/libexec", fixture_dm_builddir());
	snprintf(hv, sizeof(hv), "sim:%s", bf->sim.sock);
	bf->pid = fork();
	ASSERT_TRUE(bf->pid >= 0);
	if (bf->pid == 0) {
		const char *argv[40] = {"dmbrokerd", "--hypervisor",  hv,      "--policy",
		                        bf->policy,  "--control",     bf->ctl, "--state-dir",
		                        bf->state,   "--libexec-dir", libexec, "--ready-timeout",
		                        "5000"};
		unsigned n = 13;
		int lfd = open(bf->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (!bf->keep_dms)
			argv[n++] = "--stop-on-exit";
		if (bf->activation_fd > 0) {
			/* As systemd passes a socket: fd 3, LISTEN_PID naming the receiver. */
			char pid[16];

			snprintf(pid, sizeof(pid), "%d", (int)getpid());
			/* dup2 onto itself would keep FD_CLOEXEC: clear it by hand then. */
			if ((bf->activation_fd == 3 ? fcntl(3, F_SETFD, 0)
			                            : dup2(bf->activation_fd, 3)) < 0 ||
			    setenv("LISTEN_FDS", "1", 1) < 0 || setenv("LISTEN_PID", pid, 1) < 0 ||
			    setenv("LISTEN_FDNAMES", "control", 1) < 0)
				_exit(127);
		}
		for (unsigned i = 0; extra && extra[i] && n < 39; i++)
			argv[n++] = extra[i];
		if (lfd < 0 || dup2(lfd, 1) < 0 || dup2(lfd, 2) < 0)
			_exit(127);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	deadline = util_now_ns() + 10000000000ull;
	/* A socket file may be a killed broker's: only an answer means this one is up. */
	while ((fd = connect_ctl(bf->ctl)) < 0) {
		int status;
		if (waitpid(bf->pid, &status, WNOHANG) == bf->pid) {
			char cmd[400];
			snprintf(cmd, sizeof(cmd), "sed 's/^/# broker: /' %s >&2", bf->log);
			(void)!system(cmd);
			test_fail(__FILE__, __LINE__, "dmbrokerd exited at startup (status 0x%x)",
			          status);
		}
		ASSERT_TRUE(util_now_ns() < deadline);
		util_sleep_ns(5000000);
	}
	close(fd);
}

void broker_start(struct broker_fixture *bf, const char *policy, const char *const *extra)
{
	fixture_sim_start(&bf->sim);
	snprintf(bf->ctl, sizeof(bf->ctl), "%s/ctl.sock", test_tmpdir());
	snprintf(bf->state, sizeof(bf->state), "%s/state", test_tmpdir());
	snprintf(bf->policy, sizeof(bf->policy), "%s/policy.json", test_tmpdir());
	snprintf(bf->log, sizeof(bf->log), "%s/broker.log", test_tmpdir());
	broker_write_policy(bf, policy);
	broker_launch(bf, extra);
}

void broker_restart(struct broker_fixture *bf, const char *const *extra)
{
	ASSERT_EQ(bf->pid, 0);
	broker_launch(bf, extra);
}

void broker_kill(struct broker_fixture *bf)
{
	int status;

	ASSERT_TRUE(bf->pid > 0);
	ASSERT_OK(kill(bf->pid, SIGKILL));
	ASSERT_EQ(waitpid(bf->pid, &status, 0), bf->pid);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	bf->pid = 0;
}

int broker_stop(struct broker_fixture *bf)
{
	uint64_t deadline = util_now_ns() + 10000000000ull;
	int status = -1;

	if (bf->pid > 0) {
		kill(bf->pid, SIGTERM);
		while (waitpid(bf->pid, &status, WNOHANG) == 0) {
			if (util_now_ns() > deadline) {
				kill(bf->pid, SIGKILL);
				waitpid(bf->pid, &status, 0);
				test_fail(__FILE__, __LINE__, "dmbrokerd did not stop on SIGTERM");
			}
			util_sleep_ns(2000000);
		}
	}
	bf->pid = 0;
	return status;
}

static int connect_ctl(const char *path)
{
	int fd = util_unix_connect(path, SOCK_STREAM);

	return fd < 0 ? -1 : fd;
}

json_object *broker_call(struct broker_fixture *bf, const char *request_json)
{
	char buf[1 << 16];
	size_t len = 0;
	int fd = connect_ctl(bf->ctl);

	if (fd < 0)
		return NULL;
	if (util_write_all(fd, request_json, strlen(request_json)) < 0 ||
	    util_write_all(fd, "\n", 1) < 0) {
		close(fd);
		return NULL;
	}
	while (len + 1 < sizeof(buf)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 30000) <= 0)
			break;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	close(fd);
	buf[len] = '\0';
	return len ? json_tokener_parse(buf) : NULL;
}

json_object *broker_result(struct broker_fixture *bf, const char *request_json, json_object **keep)
{
	json_object *rep = broker_call(bf, request_json), *ok, *res = NULL;

	ASSERT_NOT_NULL(rep);
	ASSERT_TRUE(json_object_object_get_ex(rep, "ok", &ok));
	if (!json_object_get_boolean(ok)) {
		json_object *e = NULL;
		json_object_object_get_ex(rep, "error", &e);
		test_fail(__FILE__, __LINE__, "%s failed: %s", request_json,
		          e ? json_object_get_string(e) : "?");
	}
	json_object_object_get_ex(rep, "result", &res);
	*keep = rep;
	return res;
}

json_object *broker_dm(struct broker_fixture *bf, uint32_t domid, const char *name,
                       json_object **keep)
{
	char req[128];
	json_object *rep = NULL, *res, *ok;

	snprintf(req, sizeof(req), "{\"cmd\":\"dms\",\"domid\":%u}", domid);
	rep = broker_call(bf, req);
	if (!rep || !json_object_object_get_ex(rep, "ok", &ok) || !json_object_get_boolean(ok) ||
	    !json_object_object_get_ex(rep, "result", &res)) {
		json_object_put(rep);
		return NULL;
	}
	for (size_t i = 0; i < json_object_array_length(res); i++) {
		json_object *d = json_object_array_get_idx(res, i), *n;
		if (json_object_object_get_ex(d, "name", &n) &&
		    !strcmp(json_object_get_string(n), name)) {
			*keep = rep;
			return d;
		}
	}
	json_object_put(rep);
	return NULL;
}

bool broker_wait_dms(struct broker_fixture *bf, uint32_t domid, unsigned n, const char *state,
                     int timeout_ms)
{
	uint64_t deadline = util_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	char req[128];

	snprintf(req, sizeof(req), "{\"cmd\":\"dms\",\"domid\":%u}", domid);
	do {
		json_object *rep = broker_call(bf, req), *res, *ok;
		unsigned count = 0;

		if (rep && json_object_object_get_ex(rep, "ok", &ok) &&
		    json_object_get_boolean(ok) && json_object_object_get_ex(rep, "result", &res)) {
			for (size_t i = 0; i < json_object_array_length(res); i++) {
				json_object *s;
				if (json_object_object_get_ex(json_object_array_get_idx(res, i),
				                              "state", &s) &&
				    !strcmp(json_object_get_string(s), state))
					count++;
			}
		}
		json_object_put(rep);
		if (count == n)
			return true;
		util_sleep_ns(10000000);
	} while (util_now_ns() < deadline);
	return false;
}

int broker_ctl(struct broker_fixture *bf, char *out, size_t len, const char *const *args)
{
	char exe[PATH_MAX];
	int p[2], status;
	size_t got = 0;
	pid_t pid;

	snprintf(exe, sizeof(exe), "%s/bin/dmbrokerctl", test_builddir());
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		const char *argv[32] = {"dmbrokerctl", "--socket", bf ? bf->ctl : "/nonexistent"};
		unsigned n = 3;
		for (unsigned i = 0; args[i] && n < 31; i++)
			argv[n++] = args[i];
		if (dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
			_exit(127);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t n = read(p[0], out + got, len - 1 - got);
		if (n <= 0 || got + (size_t)n >= len - 1) {
			if (n > 0)
				got += (size_t)n;
			break;
		}
		got += (size_t)n;
	}
	out[got] = '\0';
	close(p[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool broker_log_contains(struct broker_fixture *bf, const char *needle)
{
	FILE *f = fopen(bf->log, "re");
	char line[2048];
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

static int fd_count_now(struct broker_fixture *bf)
{
	char path[64];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", bf->pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

bool broker_wait_log(struct broker_fixture *bf, const char *needle, int timeout_ms)
{
	uint64_t deadline = util_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	do {
		if (broker_log_contains(bf, needle))
			return true;
		util_sleep_ns(10000000);
	} while (util_now_ns() < deadline);
	return false;
}

int broker_fd_count(struct broker_fixture *bf)
{
	int last = fd_count_now(bf);

	/* A control connection just closed on our side may still be open on the broker's:
	 * wait until the count holds still. */
	for (unsigned i = 0; i < 50; i++) {
		int n;

		util_sleep_ns(20000000);
		n = fd_count_now(bf);
		if (n == last)
			return n;
		last = n;
	}
	return last;
}

int64_t fixture_jint(json_object *o, const char *key)
{
	json_object *v = NULL;

	ASSERT_TRUE(json_object_object_get_ex(o, key, &v));
	return json_object_get_int64(v);
}

const char *fixture_jstr(json_object *o, const char *key)
{
	json_object *v = NULL;

	ASSERT_TRUE(json_object_object_get_ex(o, key, &v));
	return json_object_get_string(v);
}

/* Create servers until the simulator refuses (8 per domain), then destroy ours. */
unsigned fixture_servers_in_use(struct sim_fixture *f, uint32_t domid)
{
	uint16_t ids[8];
	unsigned n = 0;

	while (n < 8 && hv_create_server(f->hv, domid, 0, &ids[n]) == 0)
		n++;
	for (unsigned i = 0; i < n; i++)
		ASSERT_OK(hv_destroy_server(f->hv, domid, ids[i]));
	return 8 - n;
}

/* A zombie runs nothing: a killed broker's children wait for the test (a subreaper) to reap them.
 */
static bool is_zombie(const char *pid)
{
	char path[300], buf[512], *p;
	FILE *f;
	bool r = false;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	f = fopen(path, "re");
	if (f && fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		r = p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
	if (f)
		fclose(f);
	return r;
}

bool fixture_process_running(pid_t pid)
{
	char s[24];

	snprintf(s, sizeof(s), "%d", (int)pid);
	return pid > 0 && kill(pid, 0) == 0 && !is_zombie(s);
}

unsigned fixture_processes_with_uid(uid_t start, unsigned count)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	unsigned n = 0;

	while (d && (de = readdir(d))) {
		char path[300];
		struct stat st;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s", de->d_name);
		if (stat(path, &st) == 0 && st.st_uid >= start && st.st_uid < start + count &&
		    !is_zombie(de->d_name))
			n++;
	}
	if (d)
		closedir(d);
	return n;
}
