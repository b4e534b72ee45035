/* SPDX-License-Identifier: MIT */
/* dmbrokerd: command line, startup, and the loop (daemon/broker.c). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/broker.h"
#include "daemon/policy.h"

#define DEFAULT_POLICY  "/etc/dm-broker/policy.json"
#define DEFAULT_CONTROL "/run/dmbroker/control.sock"
#define DEFAULT_STATE   "/var/lib/dm-broker"
/* An install with another LIBEXECDIR (make install PREFIX=...) runs the
 * device models policies name POLICY_LIBEXEC_DIR/NAME from there. */
#ifndef DMB_LIBEXECDIR
#define DMB_LIBEXECDIR POLICY_LIBEXEC_DIR
#endif

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: dmbrokerd [OPTIONS]\n"
	        "The Xen device-model broker (dmbrokerd(8)).  Runs in the foreground.\n"
	        "  --hypervisor sim[:SOCKET]|xen   backend (default xen)\n"
	        "  --policy FILE                   placement policy (default " DEFAULT_POLICY ")\n"
	        "  --control SOCKET                control socket (default " DEFAULT_CONTROL ")\n"
	        "  --state-dir DIR                 state and jail mount point "
	        "(default " DEFAULT_STATE ")\n"
	        "  --admin-group GROUP             may use the control socket besides root\n"
	        "  --libexec-dir DIR               run device models from DIR instead of\n"
	        "                                  " POLICY_LIBEXEC_DIR " (default " DMB_LIBEXECDIR
	        ")\n"
	        "  --cgroup-root DIR               cgroup v2 directory for device-model leaves\n"
	        "                                  (default: the broker's own delegated cgroup)\n"
	        "  --ready-timeout MS              device models must be ready within (default "
	        "10000)\n"
	        "  --no-auto-attach                attach only on `dmbrokerctl attach`\n"
	        "  --stop-on-exit                  on SIGTERM stop every device model; by default\n"
	        "                                  they keep serving and the next broker adopts "
	        "them\n"
	        "  --verbose                       debug logging\n"
	        "  --help\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"hypervisor", required_argument, NULL, 'H'},
	        {"policy", required_argument, NULL, 'p'},
	        {"control", required_argument, NULL, 'c'},
	        {"state-dir", required_argument, NULL, 's'},
	        {"admin-group", required_argument, NULL, 'g'},
	        {"libexec-dir", required_argument, NULL, 'l'},
	        {"cgroup-root", required_argument, NULL, 'C'},
	        {"ready-timeout", required_argument, NULL, 't'},
	        {"no-auto-attach", no_argument, NULL, 'n'},
	        {"stop-on-exit", no_argument, NULL, 'S'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct broker_config cfg = {
	        .hypervisor = "xen",
	        .policy_path = DEFAULT_POLICY,
	        .control_path = DEFAULT_CONTROL,
	        .state_dir = DEFAULT_STATE,
	        .libexec_dir = strcmp(DMB_LIBEXECDIR, POLICY_LIBEXEC_DIR) ? DMB_LIBEXECDIR : NULL,
	        .ready_timeout_ms = 10000,
	};
	struct broker *b;
	uint32_t v;
	int c, r;

	log_init("dmbrokerd", LOG_INFO);
	while ((c = getopt_long(argc, argv, "H:p:c:s:g:l:C:t:nSvh", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			cfg.hypervisor = optarg;
			break;
		case 'p':
			cfg.policy_path = optarg;
			break;
		case 'c':
			cfg.control_path = optarg;
			break;
		case 's':
			cfg.state_dir = optarg;
			break;
		case 'g':
			cfg.admin_group = optarg;
			break;
		case 'l':
			cfg.libexec_dir = optarg;
			break;
		case 'C':
			cfg.cgroup_root = optarg;
			break;
		case 't':
			if (util_parse_u32(optarg, &v) < 0 || v < 100 || v > 600000) {
				fprintf(stderr, "dmbrokerd: --ready-timeout: 100..600000 ms\n");
				return 2;
			}
			cfg.ready_timeout_ms = v;
			break;
		case 'n':
			cfg.no_auto_attach = true;
			break;
		case 'S':
			cfg.stop_on_exit = true;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (geteuid() != 0)
		fatal("must run as root: it creates namespaces and issues hypercalls");
	/*
	 * Whatever fds the broker was started with (a shell's, a test runner's)
	 * must not reach what it execs: mark them all close-on-exec.  systemd's
	 * sockets are found by number and kept open.
	 */
	if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
		fatal("close_range(3, ~0, CLOSE_RANGE_CLOEXEC): %s", strerror(errno));
	r = broker_new(&cfg, &b);
	if (r < 0)
		return 1;
	r = broker_run(b);
	broker_free(b);
	log_notice("stopped");
	return r < 0 ? 1 : 0;
}
