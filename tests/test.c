/* SPDX-License-Identifier: MIT */
/* The shared main() of every unit-test program: runs each registered TEST in a child. */
#include "tests/test.h"

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct test_case *tests_head, **tests_tail = &tests_head;
static char tmpdir[256];

void test_register(struct test_case *tc)
{
	*tests_tail = tc;
	tests_tail = &tc->next;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "# %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

const char *test_srcdir(void)
{
	const char *s = getenv("TEST_SRCDIR");
	return s ? s : "tests";
}

const char *test_builddir(void)
{
	const char *s = getenv("TEST_BUILDDIR");
	return s ? s : "build";
}

const char *test_tmpdir(void)
{
	return tmpdir;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/*
 * We are a subreaper: whatever a test started and left behind (a device
 * model that outlived its broker, say) ends up as our child.  Kill and reap
 * it so that one test's leftovers cannot disturb the next.
 */
static void reap_orphans(void)
{
	for (unsigned round = 0; round < 50; round++) {
		char path[64], buf[4096];
		FILE *f;
		bool any = false;

		snprintf(path, sizeof(path), "/proc/self/task/%d/children", getpid());
		f = fopen(path, "re");
		if (f) {
			while (fscanf(f, "%4095s", buf) == 1) {
				kill(atoi(buf), SIGKILL);
				any = true;
			}
			fclose(f);
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			any = true;
		if (!any)
			return;
		usleep(10000);
	}
}

static bool selected(const char *name)
{
	const char *sel = getenv("TESTFUNCS");
	size_t n = strlen(name);

	if (!sel || !*sel)
		return true;
	for (const char *p = sel; *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		if (!e)
			break;
		p = e + 1;
	}
	return false;
}

static int run_one(struct test_case *tc)
{
	pid_t pid;
	int status;
	bool nofork = getenv("TEST_NOFORK") != NULL;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/dmbtest.%s.XXXXXX", tc->name);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	if (nofork) {
		tc->fn();
		nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
		return 0;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		/* Own process group, so the timeout can end helpers the test started too. */
		setpgid(0, 0);
		alarm(tc->timeout_s);
		tc->fn();
		fflush(NULL);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	kill(-pid, SIGKILL);
	reap_orphans();
	if (getenv("TEST_KEEP_TMP"))
		fprintf(stderr, "# kept %s\n", tmpdir);
	else
		nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		fprintf(stderr, "# %s: timed out after %us\n", tc->name, tc->timeout_s);
	else if (WIFSIGNALED(status) && WTERMSIG(status) != SIGABRT)
		fprintf(stderr, "# %s: killed by signal %d\n", tc->name, WTERMSIG(status));
	else if (WIFEXITED(status))
		fprintf(stderr, "# %s: exit status %d\n", tc->name, WEXITSTATUS(status));
	return 1;
}

int main(int argc, char **argv)
{
	unsigned n = 0, failed = 0, i = 0;

	(void)argc;
	setvbuf(stdout, NULL, _IOLBF, 0);
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (struct test_case *tc = tests_head; tc; tc = tc->next)
		if (selected(tc->name))
			n++;
	printf("1..%u\n", n);
	for (struct test_case *tc = tests_head; tc; tc = tc->next) {
		uint64_t t0;
		struct timespec ts;
		int rc;

		if (!selected(tc->name))
			continue;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t0 = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		rc = run_one(tc);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		printf("%s %u %s # %s (%" PRIu64 " ms)\n", rc ? "not ok" : "ok", ++i, tc->name,
		       argv[0], (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 - t0);
		if (rc)
			failed++;
	}
	return failed ? 1 : 0;
}
