/* SPDX-License-Identifier: MIT */
/*
 * launch: what it costs to start a device model deprivileged.  Each variant
 * launches /usr/bin/true and reaps it; the time from the call to the reap:
 *
 *   bare            fork + execve + waitpid (the floor)
 *   sandbox         sandbox_spawn(): six namespaces, a uid of 200000+,
 *                   rlimits, the jail, no_new_privs, the seccomp filter
 *   sandbox_nonet   the same without a network namespace (the slow one)
 *   bwrap           bubblewrap with about the same restrictions
 *
 * Variants run in interleaved batches (ROUNDS rounds of count/ROUNDS each)
 * so that a slow spell of the machine hits all of them.  Needs root.
 * Prints "result NAME VALUE UNIT" and "ratio NAME VALUE" (bench/README.md).
 *
 *   launch [--build DIR] [--count N]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/cgroup.h"
#include "daemon/policy.h"
#include "daemon/sandbox.h"

#define ROUNDS     10
#define WARMUP     20
#define UID_BASE   200000u
#define UID_SPREAD 64u
#define BENCH_DIR  "/run/dmb-bench"
#define JAIL_DIR   BENCH_DIR "/jail"
#define TRUE_BIN   "/usr/bin/true"
#define BWRAP_BIN  "/usr/bin/bwrap"

enum variant { V_BARE, V_SANDBOX, V_NONET, V_BWRAP, V_COUNT };

static const char *const vnames[V_COUNT] = {"bare", "sandbox", "sandbox_nonet", "bwrap"};

static char *const true_argv[] = {(char *)"true", NULL};
static char *const true_envp[] = {(char *)"PATH=/usr/bin", NULL};
static char *const bwrap_argv[] = {
        (char *)"bwrap",
        (char *)"--unshare-all",
        (char *)"--die-with-parent",
        (char *)"--cap-drop",
        (char *)"ALL",
        (char *)"--ro-bind",
        (char *)"/usr",
        (char *)"/usr",
        (char *)"--symlink",
        (char *)"usr/lib",
        (char *)"/lib",
        (char *)"--symlink",
        (char *)"usr/lib64",
        (char *)"/lib64",
        (char *)"--symlink",
        (char *)"usr/bin",
        (char *)"/bin",
        (char *)"--dev-bind",
        (char *)"/dev/null",
        (char *)"/dev/null",
        (char *)TRUE_BIN,
        NULL,
};

static int devnull = -1, true_fd = -1;
static unsigned launches;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static _noreturn_ void die(const char *what, int err)
{
	fprintf(stderr, "launch: %s: %s\n", what, strerror(err));
	exit(1);
}

/* fork + execve, then waitpid; the exit status must be 0. */
static void run_forked(const char *path, char *const *argv, bool quiet)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		if (quiet)
			dup2(devnull, 1), dup2(devnull, 2);
		execve(path, argv, true_envp);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid", errno);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "launch: %s failed (status 0x%x)\n", path, status);
		exit(1);
	}
}

static void run_sandboxed(uint32_t namespaces)
{
	struct sandbox_spec spec = {
	        .exec_fd = true_fd,
	        .argv = true_argv,
	        .envp = true_envp,
	        .uid = UID_BASE + launches % UID_SPREAD,
	        .gid = UID_BASE + launches % UID_SPREAD,
	        .namespaces = namespaces,
	        .memory_max = 256ull << 20,
	        .pids_max = 16,
	        .nofile = 64,
	        .cgroup_fd = -1,
	        .channel_fd = devnull,
	        .stdout_fd = devnull,
	        .stderr_fd = devnull,
	        .jail_dir = JAIL_DIR,
	        .seccomp = POLICY_SECCOMP_DEFAULT,
	};
	struct sandbox_child child;
	struct sandbox_error err;
	siginfo_t si;
	int r;

	launches++;
	r = sandbox_spawn(&spec, &child, &err);
	if (r < 0) {
		fprintf(stderr, "launch: sandbox_spawn: %s at step %s\n", strerror(-r),
		        sandbox_step_name(err.step));
		exit(1);
	}
	while (waitid(P_PIDFD, (id_t)child.pidfd, &si, WEXITED) < 0)
		if (errno != EINTR)
			die("waitid", errno);
	close(child.pidfd);
	if (si.si_code != CLD_EXITED || si.si_status != 0) {
		fprintf(stderr, "launch: sandboxed true failed (code %d status %d)\n", si.si_code,
		        si.si_status);
		exit(1);
	}
}

static void run_one(enum variant v)
{
	switch (v) {
	case V_BARE:
		run_forked(TRUE_BIN, true_argv, false);
		break;
	case V_SANDBOX:
		run_sandboxed(POLICY_NS_ALL);
		break;
	case V_NONET:
		run_sandboxed(POLICY_NS_ALL & ~POLICY_NS_NET);
		break;
	default:
		run_forked(BWRAP_BIN, bwrap_argv, true);
		break;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static double pct(const uint64_t *sorted, unsigned n, double p)
{
	unsigned i = (unsigned)(p * (n - 1) + 0.5);

	return (double)sorted[i] / 1000.0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"build", required_argument, NULL, 'b'},
	        {"count", required_argument, NULL, 'n'},
	        {NULL, 0, NULL, 0},
	};
	unsigned count = 1000, per_round;
	uint64_t *samples[V_COUNT];
	double p50[V_COUNT];
	bool have_bwrap;
	int c;

	while ((c = getopt_long(argc, argv, "b:n:", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			break; /* nothing of the build is needed: the sandbox is compiled in */
		case 'n':
			count = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: launch [--build DIR] [--count N]\n");
			return 2;
		}
	}
	if (geteuid() != 0) {
		printf("# launch: skipped, needs root\n");
		return 0;
	}
	count = count < ROUNDS ? ROUNDS : count - count % ROUNDS;
	per_round = count / ROUNDS;
	if ((mkdir(BENCH_DIR, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(JAIL_DIR, 0755) < 0 && errno != EEXIST))
		die(JAIL_DIR, errno);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	true_fd = open(TRUE_BIN, O_PATH | O_CLOEXEC);
	if (devnull < 0 || true_fd < 0)
		die(TRUE_BIN, errno);
	have_bwrap = access(BWRAP_BIN, X_OK) == 0;
	for (int v = 0; v < V_COUNT; v++) {
		samples[v] = calloc(count, sizeof(uint64_t));
		if (!samples[v])
			die("calloc", ENOMEM);
	}

	/* Warm caches (and the sandbox's compiled filter) before measuring. */
	for (int v = 0; v < V_COUNT; v++)
		for (unsigned i = 0; i < WARMUP && (v != V_BWRAP || have_bwrap); i++)
			run_one((enum variant)v);

	for (unsigned r = 0; r < ROUNDS; r++) {
		for (int v = 0; v < V_COUNT; v++) {
			if (v == V_BWRAP && !have_bwrap)
				continue;
			for (unsigned i = 0; i < per_round; i++) {
				uint64_t t0 = now_ns();
				run_one((enum variant)v);
				samples[v][r * per_round + i] = now_ns() - t0;
			}
		}
	}

	printf("# %u launches per variant, %u interleaved rounds, %ld CPUs\n", count, ROUNDS,
	       sysconf(_SC_NPROCESSORS_ONLN));
	for (int v = 0; v < V_COUNT; v++) {
		if (v == V_BWRAP && !have_bwrap) {
			printf("# bwrap not installed: skipped\n");
			continue;
		}
		qsort(samples[v], count, sizeof(uint64_t), cmp_u64);
		p50[v] = pct(samples[v], count, 0.50);
		printf("result launch_%s_p50 %.0f us\n", vnames[v], p50[v]);
		printf("result launch_%s_p99 %.0f us\n", vnames[v], pct(samples[v], count, 0.99));
	}
	printf("ratio launch_sandbox_vs_bare_p50 %.2f\n", p50[V_SANDBOX] / p50[V_BARE]);
	printf("ratio launch_sandbox_nonet_vs_bare_p50 %.2f\n", p50[V_NONET] / p50[V_BARE]);
	if (have_bwrap)
		printf("ratio launch_sandbox_vs_bwrap_p50 %.2f\n", p50[V_SANDBOX] / p50[V_BWRAP]);

	for (int v = 0; v < V_COUNT; v++)
		free(samples[v]);
	close(true_fd);
	close(devnull);
	/* Only empty directories were ever here: the jail's mounts died with each child. */
	rmdir(JAIL_DIR);
	rmdir(BENCH_DIR);
	return 0;
}
