/* SPDX-License-Identifier: MIT */
#include "devices/uart16550.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

/* Escaped text per log line; stays well inside log_vmsg()'s 1024-byte line. */
#define UART_ESC_MAX 960u

static bool uart_fifo_enabled(const struct uart *u)
{
	return u->fcr & UART_FCR_ENABLE;
}

static unsigned uart_rx_trigger(const struct uart *u)
{
	static const unsigned levels[4] = {1, 4, 8, 14};

	return levels[u->fcr >> 6];
}

/* Interrupt identification in the datasheet's priority order (table IV). */
static uint8_t uart_iid(const struct uart *u)
{
	if ((u->ier & UART_IER_RLSI) && (u->lsr & UART_LSR_INT_ANY))
		return UART_IIR_RLSI;
	if ((u->ier & UART_IER_RDI) && (u->lsr & UART_LSR_DR)) {
		/*
		 * Below the trigger level real hardware reports a character
		 * timeout after four character times; there is no time here, so
		 * the timeout has always already expired.
		 */
		if (uart_fifo_enabled(u) && u->rx_count < uart_rx_trigger(u))
			return UART_IIR_CTI;
		return UART_IIR_RDI;
	}
	if ((u->ier & UART_IER_THRI) && u->thr_ipending)
		return UART_IIR_THRI;
	if ((u->ier & UART_IER_MSI) && (u->msr & UART_MSR_DELTA))
		return UART_IIR_MSI;
	return UART_IIR_NO_INT;
}

static void uart_update_irq(struct uart *u)
{
	/*
	 * PC boards gate the UART's interrupt output with the OUT2 pin, and
	 * loopback mode forces the OUT pins inactive, so the line is driven
	 * only with OUT2 set outside loopback.
	 */
	bool level = uart_iid(u) != UART_IIR_NO_INT && (u->mcr & UART_MCR_OUT2) &&
	             !(u->mcr & UART_MCR_LOOP);
	int r;

	if (level == u->irq_level)
		return;
	r = dmb_set_isa_irq(u->d, u->irq, level);
	if (r < 0) {
		/* Keep the old level so the next access retries; warn once per failure run. */
		if (!u->irq_warned)
			log_warn_errno(r, "set ISA IRQ %u %s", u->irq, level ? "high" : "low");
		u->irq_warned = true;
		return;
	}
	u->irq_level = level;
	u->irq_warned = false;
}

/* The modem inputs: wired to the MCR outputs in loopback (datasheet 8.6). */
static uint8_t uart_modem_inputs(const struct uart *u)
{
	uint8_t m = u->mcr;

	if (!(m & UART_MCR_LOOP))
		return UART_MSR_EXTERNAL;
	return (uint8_t)(((m & UART_MCR_RTS) ? UART_MSR_CTS : 0) |
	                 ((m & UART_MCR_DTR) ? UART_MSR_DSR : 0) |
	                 ((m & UART_MCR_OUT1) ? UART_MSR_RI : 0) |
	                 ((m & UART_MCR_OUT2) ? UART_MSR_DCD : 0));
}

static void uart_update_msr(struct uart *u)
{
	uint8_t now = uart_modem_inputs(u);
	uint8_t old = u->msr & 0xf0;
	uint8_t changed = now ^ old;
	uint8_t delta = 0;

	if (changed & UART_MSR_CTS)
		delta |= 0x01;
	if (changed & UART_MSR_DSR)
		delta |= 0x02;
	/* TERI: only the trailing edge of RI counts. */
	if ((old & UART_MSR_RI) && !(now & UART_MSR_RI))
		delta |= 0x04;
	if (changed & UART_MSR_DCD)
		delta |= 0x08;
	u->msr = (uint8_t)(now | (u->msr & UART_MSR_DELTA) | delta);
}

static void uart_rx_clear(struct uart *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
	u->lsr &= (uint8_t)~UART_LSR_DR;
}

static void uart_rx_push(struct uart *u, uint8_t b)
{
	unsigned cap = uart_fifo_enabled(u) ? UART_FIFO_SIZE : 1;

	if (u->rx_count >= cap) {
		u->lsr |= UART_LSR_OE;
		/* Without FIFO the new character destroys the unread one; a full FIFO drops it. */
		if (!uart_fifo_enabled(u))
			u->rx[u->rx_head] = b;
	} else {
		u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = b;
		u->rx_count++;
	}
	u->lsr |= UART_LSR_DR;
}

static uint8_t uart_rx_pop(struct uart *u)
{
	if (u->rx_count) {
		u->rbr = u->rx[u->rx_head];
		u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
		u->rx_count--;
	}
	if (!u->rx_count)
		u->lsr &= (uint8_t)~UART_LSR_DR;
	return u->rbr;
}

static size_t uart_escape(char *out, uint8_t b)
{
	if (b == '\\') {
		memcpy(out, "\\\\", 2);
		return 2;
	}
	if (b == '\t') {
		memcpy(out, "\\t", 2);
		return 2;
	}
	if (b == '\r') {
		memcpy(out, "\\r", 2);
		return 2;
	}
	if (b >= 0x20 && b < 0x7f) {
		out[0] = (char)b;
		return 1;
	}
	snprintf(out, 5, "\\x%02x", b);
	return 4;
}

static void uart_emit_line(struct uart *u)
{
	char text[UART_ESC_MAX + 8];
	size_t n = 0;
	unsigned len = u->line_len;

	/* Serial consoles end lines with "\r\n"; the CR is noise in a log. */
	if (len && u->line[len - 1] == '\r')
		len--;
	for (unsigned i = 0; i < len; i++)
		n += uart_escape(text + n, (uint8_t)u->line[i]);
	text[n] = '\0';
	log_info("guest: %s", text);
	u->line_len = 0;
	u->line_esc = 0;
}

static void uart_output(struct uart *u, uint8_t b)
{
	char tmp[8];

	if (b == '\n') {
		uart_emit_line(u);
		return;
	}
	u->line[u->line_len++] = (char)b;
	u->line_esc += (unsigned)uart_escape(tmp, b);
	/* Binary output escapes to 4 characters a byte; cut early rather than truncate. */
	if (u->line_len >= UART_LINE_MAX || u->line_esc + 4 > UART_ESC_MAX)
		uart_emit_line(u);
}

void uart_flush(struct uart *u)
{
	if (u->line_len)
		uart_emit_line(u);
}

static uint8_t uart_read_reg(struct uart *u, unsigned off)
{
	bool dlab = u->lcr & UART_LCR_DLAB;
	uint8_t v;

	switch (off) {
	case UART_RBR:
		if (dlab)
			return u->dll;
		v = uart_rx_pop(u);
		break;
	case UART_IER:
		return dlab ? u->dlm : u->ier;
	case UART_IIR:
		v = uart_iid(u);
		/* Reading an IIR that reports THRE is what acknowledges that interrupt. */
		if (v == UART_IIR_THRI)
			u->thr_ipending = false;
		if (uart_fifo_enabled(u))
			v |= UART_IIR_FIFO;
		break;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		v = u->lsr;
		u->lsr &= (uint8_t)~UART_LSR_INT_ANY;
		break;
	case UART_MSR:
		v = u->msr;
		u->msr &= (uint8_t)~UART_MSR_DELTA;
		break;
	case UART_SCR:
		return u->scr;
	default:
		return 0xff;
	}
	uart_update_irq(u);
	return v;
}

static void uart_write_fcr(struct uart *u, uint8_t v)
{
	/* Changing the FIFO enable bit empties both FIFOs (datasheet, FCR bit 0). */
	if ((v ^ u->fcr) & UART_FCR_ENABLE)
		uart_rx_clear(u);
	if (!(v & UART_FCR_ENABLE)) {
		/* The other FCR bits are only programmed together with FCR0 = 1. */
		u->fcr = 0;
		return;
	}
	if (v & UART_FCR_CLEAR_RX)
		uart_rx_clear(u);
	/* The transmitter is always empty: nothing to clear for FCR2. */
	u->fcr = v & 0xc9;
}

static void uart_write_reg(struct uart *u, unsigned off, uint8_t v)
{
	bool dlab = u->lcr & UART_LCR_DLAB;

	switch (off) {
	case UART_RBR:
		if (dlab) {
			u->dll = v;
			return;
		}
		u->thr_ipending = false;
		if (u->mcr & UART_MCR_LOOP)
			uart_rx_push(u, v);
		else
			uart_output(u, v);
		/* Transmission completes at once, which re-arms THRE. */
		u->lsr |= UART_LSR_THRE | UART_LSR_TEMT;
		u->thr_ipending = true;
		break;
	case UART_IER:
		if (dlab) {
			u->dlm = v;
			return;
		}
		/*
		 * Enabling ETBEI while THR is empty raises THRE even if an IIR read
		 * had acknowledged it before; Linux's THRE test and Windows rely on
		 * it (QEMU and Bochs do the same).
		 */
		if ((u->ier ^ v) & UART_IER_THRI)
			u->thr_ipending = (v & UART_IER_THRI) && (u->lsr & UART_LSR_THRE);
		u->ier = v & 0x0f;
		break;
	case UART_IIR:
		uart_write_fcr(u, v);
		break;
	case UART_LCR:
		u->lcr = v;
		return;
	case UART_MCR:
		u->mcr = v & 0x1f;
		uart_update_msr(u);
		break;
	case UART_SCR:
		u->scr = v;
		return;
	default:
		/* LSR and MSR writes are factory test hooks on real parts; ignored. */
		return;
	}
	uart_update_irq(u);
}

static bool uart_owns(const struct uart *u, unsigned port)
{
	return port >= u->base && port < (unsigned)u->base + UART_NR_PORTS;
}

/*
 * The UART is an 8-bit device: a wider access is split into byte accesses
 * of consecutive ports, as the ISA bus does.  Ports outside the window (a
 * bug in whoever routed the access) read as nothing there: all ones.
 */
static uint64_t uart_pio_read(void *opaque, uint16_t port, unsigned size)
{
	struct uart *u = opaque;
	uint64_t v = 0;

	for (unsigned i = 0; i < size && i < 8; i++) {
		unsigned p = (unsigned)port + i;
		uint8_t b = uart_owns(u, p) ? uart_read_reg(u, p - u->base) : 0xff;

		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

static void uart_pio_write(void *opaque, uint16_t port, unsigned size, uint64_t value)
{
	struct uart *u = opaque;

	for (unsigned i = 0; i < size && i < 8; i++) {
		unsigned p = (unsigned)port + i;

		if (uart_owns(u, p))
			uart_write_reg(u, p - u->base, (uint8_t)(value >> (8 * i)));
	}
}

int uart_init(struct uart *u, struct dmb *d, uint16_t base, uint8_t irq)
{
	if (irq > 15 || (unsigned)base + UART_NR_PORTS - 1 > 0xffff)
		return -EINVAL;
	memset(u, 0, sizeof(*u));
	u->d = d;
	u->base = base;
	u->irq = irq;
	/* Reset values from the datasheet's table; DLL/DLM/SCR are undefined there. */
	u->lsr = UART_LSR_THRE | UART_LSR_TEMT;
	u->msr = UART_MSR_EXTERNAL;
	u->dll = 0x0c; /* 9600 baud, what PC firmware leaves behind */
	return 0;
}

const struct dmb_ops uart_ops = {
        .pio_read = uart_pio_read,
        .pio_write = uart_pio_write,
};
