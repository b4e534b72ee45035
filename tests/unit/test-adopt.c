/* SPDX-License-Identifier: MIT */
/*
 * A broker restart must not disturb guests (docs/operations.md): device
 * models keep serving while no broker runs, and the next broker adopts them
 * from its state directory and the hypervisor.  These tests kill or stop the
 * broker under running device models, change the world while it is down (a
 * device model dies, a domain goes, a device model hands back the wrong
 * fds) and check what the next broker makes of it.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "tests/unit/broker_fixture.h"

#define UID_START 220000
#define UID_COUNT 100

static const char policy[] = "{\"version\": 1, \"uid_range\": {\"start\": 220000, \"count\": 100},"
                             "\"guests\": [{\"match\": {\"name\": \"keep*\"}, \"unpause\": true,"
                             " \"device_models\": [" HOSTBRIDGE ", " UART ", " PCITEST "]}]}";

static struct broker_fixture bf;

/* What a device model was: enough to tell "the same one" from "a new one". */
struct seen {
	int64_t pid, uid, server, restarts;
	char state[32];
};

static void look(uint32_t dom, const char *name, struct seen *ret)
{
	json_object *keep, *d = broker_dm(&bf, dom, name, &keep);

	ASSERT_NOT_NULL(d);
	ret->pid = fixture_jint(d, "pid");
	ret->uid = fixture_jint(d, "uid");
	ret->server = fixture_jint(d, "server");
	ret->restarts = fixture_jint(d, "restarts");
	snprintf(ret->state, sizeof(ret->state), "%s", fixture_jstr(d, "state"));
	json_object_put(keep);
}

static void assert_same(const struct seen *a, const struct seen *b)
{
	ASSERT_EQ(a->pid, b->pid);
	ASSERT_EQ(a->uid, b->uid);
	ASSERT_EQ(a->server, b->server);
	ASSERT_EQ(a->restarts, b->restarts);
	ASSERT_STREQ(b->state, "running");
}

static bool alive(int64_t pid)
{
	return fixture_process_running((pid_t)pid);
}

static uint64_t ioreqs(uint32_t dom)
{
	struct sim_domain_stats st;

	ASSERT_OK(fixture_domain_stats(&bf.sim, dom, &st));
	return st.ioreqs_sent;
}

static bool state_file_exists(uint32_t dom)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/domains/%u.json", bf.state, dom);
	return access(path, F_OK) == 0;
}

/*
 * A long scenario for all three device models from two vCPUs: vCPU 0 reads
 * both PCI functions' ids through 0xcf8 (host bridge and pcitest), vCPU 1
 * writes and reads back the UART's scratch register.  Every op checks a value.
 */
static void write_long_scenario(const char *path, unsigned rounds)
{
	FILE *f = fopen(path, "we");

	ASSERT_NOT_NULL(f);
	fprintf(f, "vcpu 0\n");
	for (unsigned i = 0; i < rounds; i++)
		fprintf(f,
		        "cfgread32 00:00.0 0x00 0x12378086\ncfgread32 00:03.0 0x00 0xdb015853\n");
	fprintf(f, "vcpu 1\n");
	for (unsigned i = 0; i < rounds; i++)
		fprintf(f, "out8 0x3ff 0x%02x\nin8 0x3ff 0x%02x\n", i & 0xff, i & 0xff);
	ASSERT_EQ(fclose(f), 0);
}

/* dmbsimctl run DOM FILE in the background: the guest's side, independent of any broker. */
static pid_t run_scenario_async(uint32_t dom, const char *path)
{
	char exe[400], domid[16];
	pid_t pid = fork();

	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		char log[400];
		int fd;

		snprintf(log, sizeof(log), "%s/scenario.log", test_tmpdir());
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(127);
		snprintf(exe, sizeof(exe), "%s/bin/dmbsimctl", test_builddir());
		snprintf(domid, sizeof(domid), "%u", dom);
		execl(exe, "dmbsimctl", "--socket", bf.sim.sock, "run", domid, path, "--quiet",
		      "--timeout", "120000", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static uint32_t attach_new(const char *name, unsigned vcpus)
{
	uint32_t dom = fixture_domain_create(&bf.sim, name, vcpus, SIM_DOMAIN_F_PAUSED);

	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	return dom;
}

TEST_TIMEOUT(sigkill_mid_scenario_device_models_keep_serving_and_are_adopted, 180)
{
	static const char *const names[] = {"hostbridge", "uart", "pcitest"};
	struct seen before[3], after[3];
	char scn[300], out[8192];
	uint64_t at_kill, later;
	pid_t runner;
	int status;
	uint32_t dom;

	bf.keep_dms = true;
	broker_start(&bf, policy, NULL);
	dom = attach_new("keep-1", 2);
	for (unsigned i = 0; i < 3; i++)
		look(dom, names[i], &before[i]);
	snprintf(scn, sizeof(scn), "%s/long.scn", test_tmpdir());
	write_long_scenario(scn, 15000); /* 60000 ops: under the 65536 a file may have */
	runner = run_scenario_async(dom, scn);
	/* Kill the broker once the scenario is well under way. */
	for (unsigned i = 0; ioreqs(dom) < 2000; i++) {
		ASSERT_LT(i, 10000u);
		ASSERT_EQ(waitpid(runner, &status, WNOHANG), 0);
		util_sleep_ns(1000000);
	}
	broker_kill(&bf);
	at_kill = ioreqs(dom);
	ASSERT_EQ(waitpid(runner, &status, WNOHANG), 0); /* still running: mid-scenario */
	/* No broker: the device models go on serving the guest. */
	util_sleep_ns(300000000);
	later = ioreqs(dom);
	ASSERT_GT(later, at_kill);
	for (unsigned i = 0; i < 3; i++)
		ASSERT_TRUE(alive(before[i].pid));
	/* The next broker (this one stops everything on SIGTERM) adopts them all. */
	bf.keep_dms = false;
	broker_restart(&bf, NULL);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	for (unsigned i = 0; i < 3; i++) {
		look(dom, names[i], &after[i]);
		assert_same(&before[i], &after[i]);
	}
	ASSERT_TRUE(broker_log_contains(&bf, "adopted 1 domain"));
	/* The scenario, begun under the old broker, passes: not one op failed. */
	ASSERT_EQ(waitpid(runner, &status, 0), runner);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	/* `dmbrokerctl dms` shows the same device models. */
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out), (const char *const[]){"dms", NULL}), 0);
	for (unsigned i = 0; i < 3; i++) {
		char pid[32];
		snprintf(pid, sizeof(pid), "%lld", (long long)before[i].pid);
		ASSERT_CONTAINS(out, pid);
		ASSERT_CONTAINS(out, names[i]);
	}
	/* `dmbrokerctl verify` passes on them: no longer the broker's children, but its pidfds'. */
	for (unsigned i = 0; i < 3; i++) {
		ASSERT_EQ(broker_ctl(&bf, out, sizeof(out),
		                     (const char *const[]){"verify", "1", names[i], NULL}),
		          0);
		ASSERT_CONTAINS(out, "adopted: the broker's pidfd refers to it");
		ASSERT_CONTAINS(out, "checks passed");
	}
	/* The adopted channels work: a DM-op (the UART raising IRQ 4) goes through the
	 * new broker, and the broker can still ask for stats and restart one. */
	{
		/* OUT2 gates the line (as on a PC); then THR-empty interrupts on. */
		struct scn_op ops[] = {
		        {.kind = SCN_PIO_OUT,
		         .size = 1,
		         .addr = 0x3fc,
		         .value = 0x08,
		         .mask = 0xff},
		        {.kind = SCN_PIO_OUT,
		         .size = 1,
		         .addr = 0x3f9,
		         .value = 0x02,
		         .mask = 0xff},
		};
		struct sim_domain_stats st;
		uint64_t deadline = util_now_ns() + 5000000000ull;

		ASSERT_EQ(fixture_run_ops(&bf.sim, dom, ops, 2, NULL, 0, NULL), 0);
		do {
			ASSERT_OK(fixture_domain_stats(&bf.sim, dom, &st));
			if (st.isa_irq_levels & (1u << 4))
				break;
			util_sleep_ns(5000000);
		} while (util_now_ns() < deadline);
		ASSERT_TRUE(st.isa_irq_levels & (1u << 4));
	}
	ASSERT_EQ(broker_ctl(&bf, out, sizeof(out),
	                     (const char *const[]){"restart", "1", "uart", NULL}),
	          0);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	look(dom, "uart", &after[1]);
	ASSERT_NE(after[1].pid, before[1].pid);
	ASSERT_FALSE(alive(before[1].pid));
	ASSERT_EQ(fixture_run_scenario(&bf.sim, dom, "uart.scn", NULL, 0), 0);
	/* --stop-on-exit: this broker stops adopted device models like its own. */
	ASSERT_EQ(broker_stop(&bf), 0);
	ASSERT_EQ(fixture_servers_in_use(&bf.sim, dom), 0);
	ASSERT_EQ(fixture_processes_with_uid(UID_START, UID_COUNT), 0);
	ASSERT_FALSE(state_file_exists(dom));
}

TEST_TIMEOUT(sigterm_leaves_them_running_and_one_that_died_meanwhile_is_restarted, 120)
{
	struct seen hb, uart, pci, now;
	uint32_t dom;

	bf.keep_dms = true;
	broker_start(&bf, policy, NULL);
	dom = attach_new("keep-2", 1);
	look(dom, "hostbridge", &hb);
	look(dom, "uart", &uart);
	look(dom, "pcitest", &pci);
	ASSERT_EQ(broker_stop(&bf), 0);
	ASSERT_TRUE(broker_log_contains(&bf, "left the device models of 1 domain running"));
	ASSERT_TRUE(state_file_exists(dom));
	ASSERT_EQ(fixture_servers_in_use(&bf.sim, dom), 3);
	ASSERT_EQ(fixture_run_scenario(&bf.sim, dom, "hostbridge.scn", NULL, 0), 0);
	/* The UART dies while no broker watches. */
	ASSERT_OK(kill((pid_t)uart.pid, SIGKILL));
	while (alive(uart.pid))
		util_sleep_ns(1000000);
	bf.keep_dms = false;
	broker_restart(&bf, NULL);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	look(dom, "hostbridge", &now);
	assert_same(&hb, &now);
	look(dom, "pcitest", &now);
	assert_same(&pci, &now);
	/* Handled as a crash: on_crash (restart) on the server it had. */
	look(dom, "uart", &now);
	ASSERT_NE(now.pid, uart.pid);
	ASSERT_EQ(now.server, uart.server);
	ASSERT_EQ(now.restarts, 1);
	ASSERT_TRUE(broker_log_contains(&bf, "event crash"));
	ASSERT_EQ(fixture_run_scenario(&bf.sim, dom, "uart.scn", NULL, 0), 0);
	ASSERT_EQ(broker_stop(&bf), 0);
	ASSERT_EQ(fixture_processes_with_uid(UID_START, UID_COUNT), 0);
}

TEST_TIMEOUT(domain_destroyed_while_no_broker_ran_is_cleaned_up, 120)
{
	struct seen uart;
	uint64_t deadline;
	uint32_t dom;

	bf.keep_dms = true;
	broker_start(&bf, policy, NULL);
	dom = attach_new("keep-3", 1);
	look(dom, "uart", &uart);
	broker_kill(&bf);
	ASSERT_OK(hv_domain_destroy(bf.sim.hv, dom));
	ASSERT_TRUE(alive(uart.pid)); /* nobody told it */
	bf.keep_dms = false;
	broker_restart(&bf, NULL);
	/* The new broker stops what was left and forgets the domain. */
	deadline = util_now_ns() + 5000000000ull;
	while (fixture_processes_with_uid(UID_START, UID_COUNT) && util_now_ns() < deadline)
		util_sleep_ns(10000000);
	ASSERT_EQ(fixture_processes_with_uid(UID_START, UID_COUNT), 0);
	ASSERT_FALSE(state_file_exists(dom));
	ASSERT_TRUE(broker_log_contains(&bf, "is gone: stopping what was left"));
	ASSERT_EQ(broker_stop(&bf), 0);
}

static const char fake_keep_policy[] =
        "{\"version\": 1, \"uid_range\": {\"start\": 220000, \"count\": 100},"
        "\"guests\": [{\"match\": {\"name\": \"keep*\"}, \"unpause\": true,"
        " \"device_models\": [" UART ", {\"name\": \"rogue\", \"exec\": \"@PROGS@/rogue-dm\","
        " \"args\": [\"-m\", \"fake-keep\"], \"claims\": {\"ports\": [\"0x510-0x51f\"]}}]}]}";

TEST_TIMEOUT(device_model_holding_the_wrong_fds_is_not_adopted, 120)
{
	struct seen uart, rogue, now;
	uint32_t dom;

	bf.keep_dms = true;
	broker_start(&bf, fake_keep_policy, NULL);
	dom = fixture_domain_create(&bf.sim, "keep-4", 1, SIM_DOMAIN_F_PAUSED);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 2, "running", 10000));
	look(dom, "uart", &uart);
	look(dom, "rogue", &rogue);
	broker_kill(&bf);
	bf.keep_dms = false;
	broker_restart(&bf, NULL);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 2, "running", 10000));
	look(dom, "uart", &now);
	assert_same(&uart, &now);
	/* /dev/null where the broker's ends should be: killed and restarted, not trusted. */
	look(dom, "rogue", &now);
	ASSERT_NE(now.pid, rogue.pid);
	ASSERT_FALSE(alive(rogue.pid));
	ASSERT_EQ(now.restarts, 1);
	ASSERT_EQ(broker_stop(&bf), 0);
	ASSERT_EQ(fixture_processes_with_uid(UID_START, UID_COUNT), 0);
}

static const char never_ready_policy[] =
        "{\"version\": 1, \"uid_range\": {\"start\": 220000, \"count\": 100},"
        "\"guests\": [{\"match\": {\"name\": \"keep*\"}, \"unpause\": true,"
        " \"device_models\": [" UART ", {\"name\": \"slow\", \"exec\": \"@PROGS@/rogue-dm\","
        " \"args\": [\"-m\", \"never-ready\"], \"claims\": {\"ports\": [\"0x510-0x51f\"]}}]}]}";

TEST_TIMEOUT(attach_cut_short_by_sigkill_is_undone_and_done_again, 120)
{
	struct seen uart, slow, now;
	uint32_t dom;

	bf.keep_dms = true;
	broker_start(&bf, never_ready_policy, NULL);
	dom = fixture_domain_create(&bf.sim, "keep-5", 2, SIM_DOMAIN_F_PAUSED);
	/* The UART is ready, the other never will be: the attach waits (5 s at most). */
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "ready", 10000));
	look(dom, "uart", &uart);
	look(dom, "slow", &slow);
	ASSERT_TRUE(state_file_exists(dom));
	broker_kill(&bf);
	ASSERT_TRUE(alive(uart.pid) && alive(slow.pid));
	ASSERT_EQ(fixture_servers_in_use(&bf.sim, dom), 2);
	/* The next broker undoes the half attach and, the domain still paused, attaches it
	 * afresh under the policy it now has. */
	broker_write_policy(&bf, policy);
	bf.keep_dms = false;
	broker_restart(&bf, NULL);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 3, "running", 10000));
	ASSERT_TRUE(broker_log_contains(&bf, "its attach never completed: undoing it"));
	ASSERT_FALSE(alive(uart.pid));
	ASSERT_FALSE(alive(slow.pid));
	look(dom, "uart", &now);
	ASSERT_NE(now.pid, uart.pid);
	ASSERT_EQ(fixture_servers_in_use(&bf.sim, dom), 3); /* the two old ones are gone */
	ASSERT_EQ(fixture_run_scenario(&bf.sim, dom, "all.scn", NULL, 0), 0);
	ASSERT_EQ(broker_stop(&bf), 0);
	ASSERT_EQ(fixture_processes_with_uid(UID_START, UID_COUNT), 0);
}

/* Start a second dmbrokerd next to the fixture's; returns its exit status, its stderr in buf. */
static int second_broker(const char *state, const char *ctl, char *buf, size_t len)
{
	char exe[400], libexec[400], hv[300], log[400];
	pid_t pid;
	int status, fd;
	ssize_t n;

	snprintf(exe, sizeof(exe), "%s/bin/dmbrokerd", test_builddir());
	snprintf(libexec, sizeof(libexec), "%s/libexec", fixture_dm_builddir());
	snprintf(hv, sizeof(hv), "sim:%s", bf.sim.sock);
	snprintf(log, sizeof(log), "%s/second.log", test_tmpdir());
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (lfd < 0 || dup2(lfd, 2) < 0)
			_exit(127);
		execl(exe, "dmbrokerd", "--hypervisor", hv, "--policy", bf.policy, "--control", ctl,
		      "--state-dir", state, "--libexec-dir", libexec, "--stop-on-exit",
		      (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	fd = open(log, O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(fd >= 0);
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return status;
}

TEST_TIMEOUT(second_broker_on_the_same_state_or_control_socket_is_refused, 60)
{
	char buf[4096], other[400];
	int status;

	broker_start(&bf, policy, NULL);
	/* The same state directory: it would adopt the first one's device models. */
	snprintf(other, sizeof(other), "%s/other.sock", test_tmpdir());
	status = second_broker(bf.state, other, buf, sizeof(buf));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	ASSERT_CONTAINS(buf, "is in use by another dmbrokerd with pid");
	/* The same control socket: a live one is not replaced as if it were stale. */
	snprintf(other, sizeof(other), "%s/other-state", test_tmpdir());
	status = second_broker(other, bf.ctl, buf, sizeof(buf));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	ASSERT_CONTAINS(buf, "in use");
	/* The first broker was not disturbed. */
	ASSERT_EQ(broker_ctl(&bf, buf, sizeof(buf), (const char *const[]){"status", NULL}), 0);
	ASSERT_EQ(broker_stop(&bf), 0);
}

/* A state directory others could write in is refused: it says which processes to adopt. */
TEST_TIMEOUT(state_directory_writable_by_others_is_refused, 60)
{
	char buf[4096], dir[400], ctl[400];
	int status;

	broker_start(&bf, policy, NULL);
	snprintf(dir, sizeof(dir), "%s/open-state", test_tmpdir());
	snprintf(ctl, sizeof(ctl), "%s/open.sock", test_tmpdir());
	ASSERT_OK(mkdir(dir, 0700));
	ASSERT_OK(chmod(dir, 0777));
	status = second_broker(dir, ctl, buf, sizeof(buf));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	ASSERT_CONTAINS(buf, "mode 0777; it must be root's and writable by root alone");
	ASSERT_OK(chmod(dir, 0755));
	ASSERT_OK(chown(dir, 65534, 0));
	status = second_broker(dir, ctl, buf, sizeof(buf));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	ASSERT_CONTAINS(buf, "owned by uid 65534");
	ASSERT_EQ(broker_stop(&bf), 0);
}

/* A listening socket at the fixture's control path, as dmbrokerd.socket would make it. */
static int make_activation_socket(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ASSERT_TRUE(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/ctl.sock", test_tmpdir());
	ASSERT_OK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_OK(listen(fd, 16));
	return fd;
}

TEST_TIMEOUT(socket_activated_control_requests_wait_across_a_restart, 120)
{
	struct seen uart;
	char buf[8192], pidstr[32];
	struct stat st;
	int p[2], status;
	pid_t client;
	ssize_t n;
	uint32_t dom;

	bf.activation_fd = make_activation_socket();
	bf.keep_dms = true;
	broker_start(&bf, policy, NULL);
	dom = attach_new("keep-6", 1);
	look(dom, "uart", &uart);
	ASSERT_TRUE(broker_log_contains(&bf, "from systemd (socket activation)"));
	ASSERT_EQ(broker_stop(&bf), 0);
	/* systemd's socket: the broker did not unlink it, and it still takes connections. */
	ASSERT_OK(stat(bf.ctl, &st));
	ASSERT_TRUE(S_ISSOCK(st.st_mode));
	ASSERT_EQ(pipe(p), 0);
	client = fork();
	ASSERT_TRUE(client >= 0);
	if (client == 0) {
		json_object *rep = broker_call(&bf, "{\"cmd\":\"dms\"}");
		const char *s =
		        rep ? json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PLAIN) : "";

		(void)!write(p[1], s, strlen(s));
		_exit(rep ? 0 : 1);
	}
	close(p[1]);
	util_sleep_ns(200000000); /* the request waits in the socket's queue */
	ASSERT_EQ(waitpid(client, &status, WNOHANG), 0);
	bf.keep_dms = false;
	broker_restart(&bf, NULL);
	ASSERT_EQ(waitpid(client, &status, 0), client);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	ASSERT_GT(n, 0);
	buf[n] = '\0';
	/* Answered by the new broker, after adoption: the same UART. */
	snprintf(pidstr, sizeof(pidstr), "\"pid\":%lld", (long long)uart.pid);
	ASSERT_CONTAINS(buf, pidstr);
	ASSERT_EQ(broker_stop(&bf), 0);
	close(bf.activation_fd);
}

TEST_TIMEOUT(state_from_an_earlier_boot_is_dropped, 60)
{
	char path[400], *text, *p;
	static const char *const names[] = {"hostbridge", "uart", "pcitest"};
	struct seen seen[3];
	json_object *keep, *dms;
	FILE *f;
	long len;
	uint32_t dom;

	bf.keep_dms = true;
	broker_start(&bf, policy, NULL);
	dom = attach_new("keep-7", 1);
	for (unsigned i = 0; i < 3; i++)
		look(dom, names[i], &seen[i]);
	ASSERT_EQ(broker_stop(&bf), 0);
	/* As if the host had rebooted since: another boot id in the file. */
	snprintf(path, sizeof(path), "%s/domains/%u.json", bf.state, dom);
	f = fopen(path, "r+e");
	ASSERT_NOT_NULL(f);
	ASSERT_OK(fseek(f, 0, SEEK_END));
	len = ftell(f);
	text = calloc(1, (size_t)len + 1);
	ASSERT_NOT_NULL(text);
	rewind(f);
	ASSERT_EQ(fread(text, 1, (size_t)len, f), (size_t)len);
	p = strstr(text, "\"boot_id\": \"");
	ASSERT_NOT_NULL(p);
	p[12] = p[12] == '0' ? '1' : '0';
	rewind(f);
	ASSERT_EQ(fwrite(text, 1, (size_t)len, f), (size_t)len);
	ASSERT_EQ(fclose(f), 0);
	free(text);
	bf.keep_dms = false;
	broker_restart(&bf, NULL);
	ASSERT_TRUE(broker_log_contains(&bf, "state from an earlier boot, dropped"));
	ASSERT_FALSE(state_file_exists(dom));
	dms = broker_result(&bf, "{\"cmd\":\"dms\"}", &keep);
	ASSERT_EQ(json_object_array_length(dms), 0);
	json_object_put(keep);
	ASSERT_EQ(broker_stop(&bf), 0);
	/* Nothing of an earlier boot is touched: the processes were left (here they exist). */
	for (unsigned i = 0; i < 3; i++) {
		ASSERT_TRUE(alive(seen[i].pid));
		ASSERT_OK(kill((pid_t)seen[i].pid, SIGKILL));
	}
}

/*
 * While no broker reads a device model's log pipe, the pipe fills (64 KiB);
 * libdmb then drops lines rather than block the thread that serves the
 * guest.  echo-dm --log-each logs a ~90-byte line per port read: 3000 reads
 * write about four pipes' worth while the broker is dead.
 */
static const char chatty_policy[] =
        "{\"version\": 1, \"uid_range\": {\"start\": 220000, \"count\": 100},"
        "\"guests\": [{\"match\": {\"name\": \"keep*\"}, \"unpause\": true,"
        " \"device_models\": [{\"name\": \"chatty\", \"exec\": \"@PROGS@/echo-dm\","
        " \"args\": [\"--log-each\"], \"claims\": {\"ports\": [\"0x510-0x51f\"]}}]}]}";

TEST_TIMEOUT(a_full_log_pipe_does_not_stall_the_guest_while_no_broker_runs, 120)
{
	struct seen before, after;
	char scn[300], out[8192];
	uint64_t deadline;
	pid_t runner;
	int status = 0;
	FILE *f;
	uint32_t dom;

	bf.keep_dms = true;
	broker_start(&bf, chatty_policy, NULL);
	dom = fixture_domain_create(&bf.sim, "keep-chatty", 1, SIM_DOMAIN_F_PAUSED);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 10000));
	look(dom, "chatty", &before);
	broker_kill(&bf);
	snprintf(scn, sizeof(scn), "%s/chatty.scn", test_tmpdir());
	f = fopen(scn, "we");
	ASSERT_NOT_NULL(f);
	for (unsigned i = 0; i < 3000; i++)
		fprintf(f, "in32 0x51%x 0xcafe051%x\n", (i & 3) * 4, (i & 3) * 4);
	ASSERT_EQ(fclose(f), 0);
	runner = run_scenario_async(dom, scn);
	/* A blocked device model would leave the scenario waiting; give it 30 s. */
	deadline = util_now_ns() + 30000000000ull;
	while (waitpid(runner, &status, WNOHANG) == 0) {
		if (util_now_ns() > deadline) {
			kill(runner, SIGKILL);
			waitpid(runner, &status, 0);
			test_fail(__FILE__, __LINE__, "the scenario stalled: %llu ioreqs sent",
			          (unsigned long long)ioreqs(dom));
		}
		util_sleep_ns(10000000);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char log[400], buf[2048] = "";
		FILE *l;

		snprintf(log, sizeof(log), "%s/scenario.log", test_tmpdir());
		l = fopen(log, "re");
		if (l) {
			buf[fread(buf, 1, sizeof(buf) - 1, l)] = '\0';
			fclose(l);
		}
		test_fail(__FILE__, __LINE__, "the scenario failed (status 0x%x): %s", status, buf);
	}
	ASSERT_GE(ioreqs(dom), 3000u);
	/* The next broker adopts it and reads its log again: what the pipe held, then new lines. */
	bf.keep_dms = false;
	broker_restart(&bf, NULL);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 10000));
	look(dom, "chatty", &after);
	assert_same(&before, &after);
	ASSERT_EQ(fixture_run_scenario(&bf.sim, dom, "echo.scn", NULL, 0), 0);
	deadline = util_now_ns() + 5000000000ull;
	do {
		ASSERT_EQ(broker_ctl(&bf, out, sizeof(out),
		                     (const char *const[]){"logs", "1", "chatty", "--lines", "1",
		                                           NULL}),
		          0);
		if (strstr(out, "port read"))
			break;
		util_sleep_ns(10000000);
	} while (util_now_ns() < deadline);
	ASSERT_CONTAINS(out, "a line to fill the log pipe with");
	ASSERT_EQ(broker_stop(&bf), 0);
	ASSERT_EQ(fixture_processes_with_uid(UID_START, UID_COUNT), 0);
}

/*
 * A device model that made itself not dumpable has its /proc/PID files
 * owned by root; adoption reads its four uids from /proc/PID/status, and
 * the next broker adopts it like any other.
 */
static const char nodump_policy[] =
        "{\"version\": 1, \"uid_range\": {\"start\": 220000, \"count\": 100},"
        "\"guests\": [{\"match\": {\"name\": \"keep*\"}, \"unpause\": true,"
        " \"device_models\": [{\"name\": \"echo\", \"exec\": \"@PROGS@/echo-dm\","
        " \"args\": [\"--no-dump\"], \"claims\": {\"ports\": [\"0x510-0x51f\"]}}]}]}";

TEST_TIMEOUT(a_device_model_that_is_not_dumpable_is_adopted, 60)
{
	struct seen before, after;
	char proc[64];
	struct stat st;
	uint32_t dom;

	bf.keep_dms = true;
	broker_start(&bf, nodump_policy, NULL);
	dom = fixture_domain_create(&bf.sim, "keep-nodump", 1, SIM_DOMAIN_F_PAUSED);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 10000));
	look(dom, "echo", &before);
	snprintf(proc, sizeof(proc), "/proc/%lld/status", (long long)before.pid);
	ASSERT_OK(stat(proc, &st));
	ASSERT_EQ(st.st_uid, 0u); /* not dumpable */
	broker_kill(&bf);
	bf.keep_dms = false;
	broker_restart(&bf, NULL);
	ASSERT_TRUE(broker_wait_dms(&bf, dom, 1, "running", 10000));
	look(dom, "echo", &after);
	assert_same(&before, &after);
	ASSERT_TRUE(broker_log_contains(&bf, "adopted 1 domain"));
	ASSERT_EQ(fixture_run_scenario(&bf.sim, dom, "echo.scn", NULL, 0), 0);
	ASSERT_EQ(broker_stop(&bf), 0);
	ASSERT_EQ(fixture_processes_with_uid(UID_START, UID_COUNT), 0);
}
