/* SPDX-License-Identifier: MIT */
/*
 * A running dmbrokerd for tests: a private simulator, the broker on it with
 * a policy written by the test, and helpers to talk to its control socket
 * (raw JSON or through the real dmbrokerctl).
 *
 * Device models run from the plain build (TEST_DM_BUILDDIR, default
 * "build"): an ASan-instrumented device model cannot start inside the jail
 * (no /proc), while the broker under test is whichever build runs the test.
 */
#ifndef DMB_TESTS_BROKER_FIXTURE_H
#define DMB_TESTS_BROKER_FIXTURE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>

#include "tests/unit/fixture.h"

/* The example device models as policy entries (exec paths rewritten by --libexec-dir). */
#define HOSTBRIDGE                                                                       \
	"{\"name\": \"hostbridge\", \"exec\": \"/usr/libexec/dm-broker/dm-hostbridge\"," \
	" \"args\": [\"--bdf\", \"00:00.0\"],"                                           \
	" \"claims\": {\"ports\": [\"0xcf8-0xcfb\"], \"pci\": [\"00:00.0\"]}}"
#define UART                                                                   \
	"{\"name\": \"uart\", \"exec\": \"/usr/libexec/dm-broker/dm-uart\","   \
	" \"args\": [\"--port\", \"0x3f8\", \"--irq\", \"4\"], \"irqs\": [4]," \
	" \"claims\": {\"ports\": [\"0x3f8-0x3ff\"]}}"
#define PCITEST                                                                    \
	"{\"name\": \"pcitest\", \"exec\": \"/usr/libexec/dm-broker/dm-pcitest\"," \
	" \"args\": [\"--bdf\", \"00:03.0\", \"--bar0\", \"0xe0000000\"],"         \
	" \"claims\": {\"pci\": [\"00:03.0\"], \"mmio\": [\"0xe0000000-0xe0000fff\"]}}"

struct broker_fixture {
	struct sim_fixture sim;
	pid_t pid;
	char ctl[256];
	char state[256];
	char policy[256];
	char log[256];
	/* Set before broker_start: SIGTERM leaves the device models running (no --stop-on-exit). */
	bool keep_dms;
	/* Set before starting: pass this listening socket as systemd's socket activation does. */
	int activation_fd;
};

/*
 * Start a simulator and dmbrokerd with this policy text.  In the text,
 * "@LIBEXEC@" becomes the directory of the device models and "@PROGS@" that
 * of the test programs.  extra: more dmbrokerd arguments, NULL-terminated.
 */
void broker_start(struct broker_fixture *bf, const char *policy, const char *const *extra);
/*
 * SIGTERM; returns the broker's exit status (asserts it exits within 10 s).
 * The simulator keeps running (the test may look at it); it goes with the test.
 */
int broker_stop(struct broker_fixture *bf);
/* Start dmbrokerd again (after broker_stop or broker_kill) on the same simulator and state. */
void broker_restart(struct broker_fixture *bf, const char *const *extra);
/* SIGKILL the broker and reap it. */
void broker_kill(struct broker_fixture *bf);
/* Write the policy file again (for reload tests). */
void broker_write_policy(struct broker_fixture *bf, const char *policy);

/* Send one request line, return the parsed reply (caller puts it); NULL on failure. */
json_object *broker_call(struct broker_fixture *bf, const char *request_json);
/* The "result" of a successful call (asserts ok); the reply is kept in *keep for freeing. */
json_object *broker_result(struct broker_fixture *bf, const char *request_json, json_object **keep);
/* Wait until domid has n device models in state "running"; false on timeout. */
bool broker_wait_dms(struct broker_fixture *bf, uint32_t domid, unsigned n, const char *state,
                     int timeout_ms);
/* The "dms" entry of device model name in domid (kept in *keep), or NULL. */
json_object *broker_dm(struct broker_fixture *bf, uint32_t domid, const char *name,
                       json_object **keep);
/* Run the real dmbrokerctl with these arguments; stdout+stderr into out; returns exit status. */
int broker_ctl(struct broker_fixture *bf, char *out, size_t len, const char *const *args);
/* Does the broker's log contain needle? */
bool broker_log_contains(struct broker_fixture *bf, const char *needle);
/* Wait up to timeout_ms for the log to contain needle. */
bool broker_wait_log(struct broker_fixture *bf, const char *needle, int timeout_ms);
/* A key of a JSON object (asserts it is there). */
int64_t fixture_jint(json_object *o, const char *key);
const char *fixture_jstr(json_object *o, const char *key);
/* How many ioreq servers the domain has (creates until refused, destroys its own). */
unsigned fixture_servers_in_use(struct sim_fixture *f, uint32_t domid);
/* Is pid a live process (not a zombie waiting for the test to reap it)? */
bool fixture_process_running(pid_t pid);
/* How many processes run with a uid in [start, start + count)? */
unsigned fixture_processes_with_uid(uid_t start, unsigned count);
/* Number of open fds of the broker process. */
int broker_fd_count(struct broker_fixture *bf);

const char *fixture_dm_builddir(void);

#endif
