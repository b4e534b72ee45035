/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART (National Semiconductor PC16550D datasheet) as a PC
 * COM port: 8 I/O ports at base, an ISA IRQ driven only while MCR OUT2 is
 * set and loopback is off (PC boards gate the interrupt with the OUT2 pin,
 * which loopback forces inactive).
 *
 * There is no serial line behind it: transmitted bytes complete at once and
 * are logged line by line ("guest: ..."; cut at 256 bytes, or earlier when
 * escaping non-printable bytes as \xNN would outgrow a log line); nothing
 * is ever received except in loopback mode.  The modem inputs read as a
 * terminal that is present and ready (DCD, DSR, CTS asserted, as QEMU
 * does), so guests that honour flow control still transmit.
 */
#ifndef DMB_DEVICES_UART16550_H
#define DMB_DEVICES_UART16550_H

#include <stdbool.h>
#include <stdint.h>

#include "dm/dmb.h"

#define UART_DEFAULT_PORT 0x3f8
#define UART_DEFAULT_IRQ  4
#define UART_NR_PORTS     8
#define UART_FIFO_SIZE    16
#define UART_LINE_MAX     256 /* guest bytes per log line */

/* Register offsets; RBR/THR and IER read as DLL/DLM while LCR.DLAB is set. */
enum {
	UART_RBR = 0, /* read: receive buffer; write: THR */
	UART_IER = 1,
	UART_IIR = 2, /* read: IIR; write: FCR */
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define UART_IER_RDI  0x01 /* received data available */
#define UART_IER_THRI 0x02 /* transmitter holding register empty */
#define UART_IER_RLSI 0x04 /* receiver line status */
#define UART_IER_MSI  0x08 /* modem status */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI    0x00
#define UART_IIR_THRI   0x02
#define UART_IIR_RDI    0x04
#define UART_IIR_RLSI   0x06
#define UART_IIR_CTI    0x0c /* character timeout (FIFO mode) */
#define UART_IIR_FIFO   0xc0

#define UART_FCR_ENABLE   0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR      0x01
#define UART_LSR_OE      0x02
#define UART_LSR_INT_ANY 0x1e /* OE, PE, FE, BI: the line-status interrupt sources */
#define UART_LSR_THRE    0x20
#define UART_LSR_TEMT    0x40

#define UART_MSR_DELTA 0x0f
#define UART_MSR_CTS   0x10
#define UART_MSR_DSR   0x20
#define UART_MSR_RI    0x40
#define UART_MSR_DCD   0x80
/* What the modem inputs read outside loopback: a terminal that is there and ready. */
#define UART_MSR_EXTERNAL (UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS)

struct uart {
	struct dmb *d;
	uint16_t base;
	uint8_t irq;

	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	uint8_t rbr;       /* last byte received: what RBR reads once the FIFO is empty */
	bool thr_ipending; /* THRE interrupt armed; reading IIR that reports it disarms it */
	bool irq_level;    /* level last driven on the ISA line */
	bool irq_warned;   /* one warning per run of failed IRQ updates */

	uint8_t rx[UART_FIFO_SIZE];
	unsigned rx_head, rx_count;

	char line[UART_LINE_MAX];
	unsigned line_len;
	unsigned line_esc; /* length of line[] once escaped */
};

/* Reset state at base (8 ports) raising ISA irq (0-15); -EINVAL if out of range. */
int uart_init(struct uart *u, struct dmb *d, uint16_t base, uint8_t irq);
/* Log what the guest wrote since the last newline (call before exiting). */
void uart_flush(struct uart *u);

/* Callbacks for dmb_config.ops, opaque = struct uart *. */
extern const struct dmb_ops uart_ops;

#endif
