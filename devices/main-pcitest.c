/* SPDX-License-Identifier: MIT */
/* dm-pcitest: the PCI test device as a dm-broker device model. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "common/log.h"
#include "common/util.h"
#include "devices/pcitest.h"
#include "dm/dmb.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: dm-pcitest [--bdf BDF] [--bar0 ADDR] [--poll-us US] [--no-lockdown] "
	        "[--verbose]\n"
	        "  --bdf BDF       [SSSS:]BB:DD.F of the device (default 00:03.0)\n"
	        "  --bar0 ADDR     initial BAR0 base, 4 KiB-aligned, where the policy claims it\n"
	        "                  (default 0x%x)\n"
	        "  --poll-us US    spin US microseconds before blocking (default: broker's)\n"
	        "  --no-lockdown   no seccomp allow-list (debugging only)\n"
	        "  --verbose       debug logging\n",
	        PCITEST_DEFAULT_BAR0);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	        {"bdf", required_argument, NULL, 'b'},
	        {"bar0", required_argument, NULL, 'B'},
	        {"poll-us", required_argument, NULL, 'P'},
	        {"no-lockdown", no_argument, NULL, 'N'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct dmb_config cfg = {.ops = &pcitest_ops, .fd = DMB_FD_DEFAULT, .poll_us = -1};
	uint32_t sbdf = 3 << 3, bar0 = PCITEST_DEFAULT_BAR0, poll_us;
	struct pcitest dev;
	struct dmb *d;
	int c, r;

	log_init("dm-pcitest", LOG_INFO);
	while ((c = getopt_long(argc, argv, "b:B:P:Nvh", options, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (dmb_parse_bdf(optarg, &sbdf) < 0) {
				log_error("bad --bdf '%s': need [SSSS:]BB:DD.F", optarg);
				usage(stderr);
				return 2;
			}
			break;
		case 'B':
			if (util_parse_u32(optarg, &bar0) < 0 || bar0 == 0 ||
			    (bar0 & (PCITEST_BAR0_SIZE - 1)) ||
			    bar0 > UINT32_MAX - PCITEST_BAR0_SIZE) {
				log_error("bad --bar0 '%s': need a 4 KiB-aligned address in "
				          "0x1000-0xffffe000",
				          optarg);
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

	/*
	 * The callbacks only run inside dmb_run(), so the state can follow
	 * dmb_open().  libdmb logs its own failures; here they only decide the
	 * exit code.
	 */
	cfg.opaque = &dev;
	if (dmb_open(&cfg, &d) < 0)
		return 1;
	r = pcitest_init(&dev, d, sbdf, bar0);
	if (r < 0) {
		log_errno(r, "pcitest_init");
		dmb_close(d);
		return 1;
	}
	r = dmb_run(d);
	dmb_close(d);
	return r < 0 ? 1 : 0;
}
