/* SPDX-License-Identifier: MIT */
/* dm-hostbridge: the i440FX host bridge and port 0xcf8 as a dm-broker device model. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "common/log.h"
#include "common/util.h"
#include "devices/hostbridge.h"
#include "dm/dmb.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: dm-hostbridge [--bdf BDF] [--poll-us US] [--no-lockdown] [--verbose]\n"
	           "  --bdf BDF       [SSSS:]BB:DD.F of the bridge (default 00:00.0)\n"
	           "  --poll-us US    spin US microseconds before blocking (default: broker's)\n"
	           "  --no-lockdown   no seccomp allow-list (debugging only)\n"
	           "  --verbose       debug logging\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	        {"bdf", required_argument, NULL, 'b'},   {"poll-us", required_argument, NULL, 'P'},
	        {"no-lockdown", no_argument, NULL, 'N'}, {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	struct dmb_config cfg = {.ops = &hostbridge_ops, .fd = DMB_FD_DEFAULT, .poll_us = -1};
	uint32_t sbdf = 0, poll_us;
	struct hostbridge hb;
	struct dmb *d;
	int c, r;

	log_init("dm-hostbridge", LOG_INFO);
	while ((c = getopt_long(argc, argv, "b:P:Nvh", options, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (dmb_parse_bdf(optarg, &sbdf) < 0) {
				log_error("bad --bdf '%s': need [SSSS:]BB:DD.F", optarg);
				usage(stderr);
				return 2;
			}
			break;
		case 'P':
			if (util_parse_u32(optarg, &poll_us) < 0 || poll_us > INT_MAX) {
				log_error("bad --poll-us '%s'", optarg);
				usage(stderr);
				return 2;
			}
			cfg.poll_us = (int)poll_us;
			break;
		case 'N':
			cfg.no_lockdown = true;
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
		log_error("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return 2;
	}

	hostbridge_init(&hb, sbdf);
	cfg.opaque = &hb;
	/* libdmb logs its own failures; here they only decide the exit code. */
	if (dmb_open(&cfg, &d) < 0)
		return 1;
	r = dmb_run(d);
	dmb_close(d);
	return r < 0 ? 1 : 0;
}
