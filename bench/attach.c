/* SPDX-License-Identifier: MIT */
/*
 * attach: how long from `attach` to every device model of a guest ready to
 * serve, for 1 and for 8 device models, through the real dmbrokerd on the
 * simulator (servers, claims, sandboxed launches, handoff, READY, enable,
 * ports).  Each round creates a paused simulated domain, times the control
 * socket's attach request (answered when all are ready), then detaches and
 * destroys it.  Prints "result" and "ratio" lines (bench/README.md).
 *
 *   attach --build DIR [--rounds N]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/simproto.h"
#include "sim/client.h"

static char tmp[] = "/tmp/dmb-bench-attach.XXXXXX";
static pid_t sim_pid, broker_pid;
static char build[PATH_MAX - 64];

static void die(const char *what)
{
	fprintf(stderr, "attach: %s\n", what);
	exit(1);
}

static void wait_socket(const char *path)
{
	for (unsigned i = 0; i < 1000 && access(path, F_OK) != 0; i++)
		util_sleep_ns(5000000);
	if (access(path, F_OK) != 0)
		die("a daemon did not start");
}

static pid_t start(char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0)
			(void)dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void write_policy(const char *path, unsigned n)
{
	FILE *f = fopen(path, "we");

	if (!f)
		die("policy file");
	fprintf(f, "{\"version\": 1, \"uid_range\": {\"start\": 220000, \"count\": 1000},"
	           " \"guests\": [{\"match\": {\"name\": \"bench*\"}, \"device_models\": [");
	for (unsigned i = 0; i < n; i++)
		fprintf(f,
		        "%s{\"name\": \"echo%u\", \"exec\": \"%s/tests/progs/echo-dm\","
		        " \"claims\": {\"ports\": [\"0x%x-0x%x\"]}}",
		        i ? ", " : "", i, build, 0x500 + 16 * i, 0x50f + 16 * i);
	fprintf(f, "]}]}\n");
	fclose(f);
}

/* One request on the control socket; returns 0 if the reply says ok. */
static int control(const char *sock, const char *req)
{
	char buf[4096];
	ssize_t n;
	int fd = util_unix_connect(sock, SOCK_STREAM);

	if (fd < 0)
		die("connect to dmbrokerd");
	if (util_write_all(fd, req, strlen(req)) < 0 || util_write_all(fd, "\n", 1) < 0)
		die("write to dmbrokerd");
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		die("no reply from dmbrokerd");
	buf[n] = '\0';
	return strstr(buf, "\"ok\":true") ? 0 : -1;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double measure(unsigned n_dms, unsigned rounds)
{
	char sim_sock[PATH_MAX], ctl[PATH_MAX], policy[PATH_MAX], state[PATH_MAX], hv[PATH_MAX + 8];
	char simd[PATH_MAX], brokerd[PATH_MAX], libexec[PATH_MAX];
	uint64_t *t = calloc(rounds, sizeof(*t));
	struct simc *c;
	double p50;
	int status;

	snprintf(sim_sock, sizeof(sim_sock), "%s/sim%u.sock", tmp, n_dms);
	snprintf(ctl, sizeof(ctl), "%s/ctl%u.sock", tmp, n_dms);
	snprintf(policy, sizeof(policy), "%s/policy%u.json", tmp, n_dms);
	snprintf(state, sizeof(state), "%s/state%u", tmp, n_dms);
	snprintf(hv, sizeof(hv), "sim:%s", sim_sock);
	snprintf(simd, sizeof(simd), "%s/bin/dmbsimd", build);
	snprintf(brokerd, sizeof(brokerd), "%s/bin/dmbrokerd", build);
	snprintf(libexec, sizeof(libexec), "%s/libexec", build);
	write_policy(policy, n_dms);
	sim_pid = start((char *[]){simd, "--socket", sim_sock, NULL});
	wait_socket(sim_sock);
	broker_pid = start((char *[]){brokerd, "--hypervisor", hv, "--policy", policy, "--control",
	                              ctl, "--state-dir", state, "--libexec-dir", libexec,
	                              "--no-auto-attach", "--stop-on-exit", NULL});
	wait_socket(ctl);
	if (simc_connect(sim_sock, &c) < 0)
		die("connect to dmbsimd");
	for (unsigned i = 0; i < rounds + 3; i++) {
		struct sim_req q = {.a32 = {1, SIM_DOMAIN_F_PAUSED}};
		struct sim_reply rep;
		char req[96];
		uint64_t t0;
		int domid;

		snprintf(q.name, sizeof(q.name), "bench-%u", i);
		domid = simc_call(c, SIM_DOMAIN_CREATE, &q, &rep, NULL, 0, NULL);
		if (domid < 0)
			die("create a simulated domain");
		snprintf(req, sizeof(req), "{\"cmd\":\"attach\",\"domid\":%d}", domid);
		t0 = util_now_ns();
		if (control(ctl, req) < 0)
			die("attach failed");
		if (i >= 3) /* three warm-up rounds */
			t[i - 3] = util_now_ns() - t0;
		snprintf(req, sizeof(req), "{\"cmd\":\"detach\",\"domid\":%d}", domid);
		(void)control(ctl, req);
		q.domid = (uint32_t)domid;
		(void)simc_call(c, SIM_DOMAIN_DESTROY, &q, &rep, NULL, 0, NULL);
	}
	simc_close(c);
	kill(broker_pid, SIGTERM);
	waitpid(broker_pid, &status, 0);
	kill(sim_pid, SIGTERM);
	waitpid(sim_pid, &status, 0);
	qsort(t, rounds, sizeof(*t), cmp);
	p50 = (double)t[rounds / 2] / 1000.0;
	printf("result attach_%u_dm_p50 %.0f us\n", n_dms, p50);
	printf("result attach_%u_dm_p99 %.0f us\n", n_dms, (double)t[rounds * 99 / 100] / 1000.0);
	printf("result attach_%u_dm_per_dm_p50 %.0f us\n", n_dms, p50 / n_dms);
	fflush(stdout);
	free(t);
	return p50;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"build", required_argument, NULL, 'b'},
	                                     {"rounds", required_argument, NULL, 'r'},
	                                     {NULL, 0, NULL, 0}};
	unsigned rounds = 100;
	double one, eight;
	int c;

	snprintf(build, sizeof(build), "build");
	while ((c = getopt_long(argc, argv, "b:r:", opts, NULL)) != -1) {
		if (c == 'b' && realpath(optarg, build))
			continue;
		if (c == 'r' && (rounds = (unsigned)strtoul(optarg, NULL, 0)) >= 10)
			continue;
		fprintf(stderr, "usage: attach --build DIR [--rounds N>=10]\n");
		return 2;
	}
	if (geteuid() != 0)
		die("needs root (the broker sandboxes its device models)");
	if (!mkdtemp(tmp))
		die("temporary directory");
	one = measure(1, rounds);
	eight = measure(8, rounds);
	printf("ratio attach_8_vs_1_dm_p50 %.3f\n", eight / one);
	printf("ratio attach_per_dm_8_vs_2ms_target %.3f\n", eight / 8 / 2000.0);
	(void)!system("rm -rf /tmp/dmb-bench-attach.*");
	return 0;
}
