/* SPDX-License-Identifier: MIT */
/* dm-uart: a 16550A COM port as a dm-broker device model. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "common/log.h"
#include "common/util.h"
#include "devices/uart16550.h"
#include "dm/dmb.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: dm-uart [--port PORT] [--irq IRQ] [--poll-us US] [--no-lockdown] "
	        "[--verbose]\n"
	        "  --port PORT     first of the 8 I/O ports (default 0x%x)\n"
	        "  --irq IRQ       ISA IRQ 0-15 (default %u)\n"
	        "  --poll-us US    spin US microseconds before blocking (default: broker's)\n"
	        "  --no-lockdown   no seccomp allow-list (debugging only)\n"
	        "  --verbose       debug logging\n",
	        UART_DEFAULT_PORT, UART_DEFAULT_IRQ);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	        {"port", required_argument, NULL, 'p'},
	        {"irq", required_argument, NULL, 'i'},
	        {"poll-us", required_argument, NULL, 'P'},
	        {"no-lockdown", no_argument, NULL, 'N'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct dmb_config cfg = {.ops = &uart_ops, .fd = DMB_FD_DEFAULT, .poll_us = -1};
	uint32_t port = UART_DEFAULT_PORT, irq = UART_DEFAULT_IRQ, poll_us;
	struct uart uart;
	struct dmb *d;
	int c, r;

	log_init("dm-uart", LOG_INFO);
	while ((c = getopt_long(argc, argv, "p:i:P:Nvh", options, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (util_parse_u32(optarg, &port) < 0 || port > 0x10000 - UART_NR_PORTS) {
				log_error("bad --port '%s': need 0-0x%x", optarg,
				          0x10000 - UART_NR_PORTS);
				usage(stderr);
				return 2;
			}
			break;
		case 'i':
			if (util_parse_u32(optarg, &irq) < 0 || irq > 15) {
				log_error("bad --irq '%s': need 0-15", optarg);
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
	cfg.opaque = &uart;
	if (dmb_open(&cfg, &d) < 0)
		return 1;
	r = uart_init(&uart, d, (uint16_t)port, (uint8_t)irq);
	if (r < 0) {
		log_errno(r, "uart_init");
		dmb_close(d);
		return 1;
	}
	r = dmb_run(d);
	uart_flush(&uart);
	dmb_close(d);
	return r < 0 ? 1 : 0;
}
