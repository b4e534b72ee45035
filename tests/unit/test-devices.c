/* SPDX-License-Identifier: MIT */
/*
 * The device models through their dmb_ops callbacks, without a broker.
 *
 * The libdmb functions the devices call are faked here: being defined in
 * this object, they keep the linker from pulling libdmb's own versions out
 * of the archive.  That is why device logic may call only these four.
 */
#include "tests/test.h"

#include "common/log.h"
#include "devices/hostbridge.h"
#include "devices/pcicfg.h"
#include "devices/pcitest.h"
#include "devices/uart16550.h"
#include "dm/dmb.h"

/* Never dereferenced by the devices; any distinct pointer will do. */
struct dmb {
	int unused;
};
static struct dmb fake_dmb;

enum fake_kind { FAKE_ISA_IRQ, FAKE_INTX, FAKE_MSI, FAKE_MOVE, FAKE_KINDS };

struct fake_call {
	enum fake_kind kind;
	uint64_t a, b, c, d, e;
};

static struct fake_call fake_calls[64];
static unsigned fake_n;
static int fake_fail[FAKE_KINDS]; /* negative errno: the next call of this kind fails */

static int fake_record(enum fake_kind kind, uint64_t a, uint64_t b, uint64_t c, uint64_t d,
                       uint64_t e)
{
	int r = fake_fail[kind];

	ASSERT_LT(fake_n, ARRAY_SIZE(fake_calls));
	fake_calls[fake_n++] = (struct fake_call){kind, a, b, c, d, e};
	fake_fail[kind] = 0;
	return r;
}

int dmb_set_isa_irq(struct dmb *d, uint8_t irq, bool level)
{
	ASSERT_TRUE(d == &fake_dmb);
	return fake_record(FAKE_ISA_IRQ, irq, level, 0, 0, 0);
}

int dmb_set_pci_intx(struct dmb *d, uint32_t sbdf, uint8_t pin, bool level)
{
	ASSERT_TRUE(d == &fake_dmb);
	return fake_record(FAKE_INTX, sbdf, pin, level, 0, 0);
}

int dmb_inject_msi(struct dmb *d, uint64_t addr, uint32_t data)
{
	ASSERT_TRUE(d == &fake_dmb);
	return fake_record(FAKE_MSI, addr, data, 0, 0, 0);
}

int dmb_move_bar(struct dmb *d, uint32_t sbdf, unsigned bar, uint64_t old_base, uint64_t new_base,
                 uint64_t size)
{
	ASSERT_TRUE(d == &fake_dmb);
	return fake_record(FAKE_MOVE, sbdf, bar, old_base, new_base, size);
}

static void fake_reset(void)
{
	fake_n = 0;
	memset(fake_fail, 0, sizeof(fake_fail));
}

#define ASSERT_CALL(i, k, va, vb, vc)               \
	do {                                        \
		ASSERT_LT((i), fake_n);             \
		ASSERT_EQ(fake_calls[i].kind, (k)); \
		ASSERT_EQ_U(fake_calls[i].a, (va)); \
		ASSERT_EQ_U(fake_calls[i].b, (vb)); \
		ASSERT_EQ_U(fake_calls[i].c, (vc)); \
	} while (0)

/* ---- captured log lines ---------------------------------------------------- */

static char log_buf[8192];
static unsigned log_lines;

static void capture_sink(int level, const char *line, void *opaque)
{
	size_t n = strlen(log_buf);

	(void)level;
	(void)opaque;
	snprintf(log_buf + n, sizeof(log_buf) - n, "%s\n", line);
	log_lines++;
}

static void capture_start(void)
{
	log_buf[0] = '\0';
	log_lines = 0;
	log_set_sink(capture_sink, NULL);
}

/* ---- UART -------------------------------------------------------------------- */

#define COM1 0x3f8

static uint8_t uin(struct uart *u, unsigned off)
{
	return (uint8_t)uart_ops.pio_read(u, (uint16_t)(COM1 + off), 1);
}

static void uout(struct uart *u, unsigned off, uint8_t v)
{
	uart_ops.pio_write(u, (uint16_t)(COM1 + off), 1, v);
}

static void uart_setup(struct uart *u)
{
	fake_reset();
	ASSERT_OK(uart_init(u, &fake_dmb, COM1, 4));
}

TEST(uart_reset_values)
{
	struct uart u;

	uart_setup(&u);
	ASSERT_EQ_U(uin(&u, UART_IER), 0x00);
	ASSERT_EQ_U(uin(&u, UART_IIR), 0x01);
	ASSERT_EQ_U(uin(&u, UART_LCR), 0x00);
	ASSERT_EQ_U(uin(&u, UART_MCR), 0x00);
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x60);
	ASSERT_EQ_U(uin(&u, UART_MSR), 0xb0);
	ASSERT_EQ_U(uin(&u, UART_SCR), 0x00);
	ASSERT_EQ(fake_n, 0);
}

TEST(uart_init_rejects_bad_config)
{
	struct uart u;

	ASSERT_ERR(uart_init(&u, &fake_dmb, COM1, 16), -EINVAL);
	ASSERT_ERR(uart_init(&u, &fake_dmb, 0xfff9, 4), -EINVAL);
	ASSERT_OK(uart_init(&u, &fake_dmb, 0xfff8, 15));
}

TEST(uart_dlab_divisor_latch)
{
	struct uart u;

	uart_setup(&u);
	uout(&u, UART_LCR, 0x80);
	ASSERT_EQ_U(uin(&u, UART_RBR), 0x0c); /* firmware's 9600 baud */
	uout(&u, UART_RBR, 0x01);
	uout(&u, UART_IER, 0x02);
	ASSERT_EQ_U(uin(&u, UART_RBR), 0x01);
	ASSERT_EQ_U(uin(&u, UART_IER), 0x02);
	ASSERT_EQ_U(uin(&u, UART_LCR), 0x80);
	/* Divisor writes went neither to THR nor IER. */
	uout(&u, UART_LCR, 0x03);
	ASSERT_EQ_U(uin(&u, UART_IER), 0x00);
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x60);
	ASSERT_EQ_U(uin(&u, UART_LCR), 0x03);
	uout(&u, UART_LCR, 0x83);
	ASSERT_EQ_U(uin(&u, UART_RBR), 0x01);
	ASSERT_EQ_U(uin(&u, UART_IER), 0x02);
}

TEST(uart_lcr_mcr_scr_ier_rw)
{
	struct uart u;

	uart_setup(&u);
	uout(&u, UART_LCR, 0x5b);
	ASSERT_EQ_U(uin(&u, UART_LCR), 0x5b);
	uout(&u, UART_MCR, 0xff);
	ASSERT_EQ_U(uin(&u, UART_MCR), 0x1f); /* bits 7:5 are 0 on a 16550A */
	uout(&u, UART_MCR, 0x0b);
	ASSERT_EQ_U(uin(&u, UART_MCR), 0x0b);
	uout(&u, UART_SCR, 0xa5);
	ASSERT_EQ_U(uin(&u, UART_SCR), 0xa5);
	uout(&u, UART_IER, 0xff);
	ASSERT_EQ_U(uin(&u, UART_IER), 0x0f);
	/* LSR and MSR ignore writes. */
	uout(&u, UART_LSR, 0x00);
	ASSERT_EQ_U(uin(&u, UART_LSR) & 0x60, 0x60);
}

TEST(uart_loopback_echo)
{
	struct uart u;

	uart_setup(&u);
	capture_start();
	/* Linux's 8250 probe: MCR = LOOP | OUT2 | RTS, MSR high nibble = DCD | CTS. */
	uout(&u, UART_MCR, 0x1a);
	ASSERT_EQ_U(uin(&u, UART_MSR) & 0xf0, 0x90);
	uout(&u, UART_RBR, 0x55);
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x61);
	ASSERT_EQ_U(uin(&u, UART_RBR), 0x55);
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x60);
	/* Without FIFO a second byte overruns the first. */
	uout(&u, UART_RBR, 0x01);
	uout(&u, UART_RBR, 0x02);
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x63);
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x61); /* OE clears on read */
	ASSERT_EQ_U(uin(&u, UART_RBR), 0x02);
	ASSERT_EQ_U(uin(&u, UART_RBR), 0x02); /* empty: the last byte again */
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x60);
	/* Loopback output never reaches the log, and the IRQ pin stays quiet. */
	uart_flush(&u);
	ASSERT_EQ(log_lines, 0);
	ASSERT_EQ(fake_n, 0);
	uout(&u, UART_MCR, 0x00);
	ASSERT_EQ_U(uin(&u, UART_MSR) & 0xf0, 0xb0);
}

TEST(uart_loopback_msr_lines)
{
	struct uart u;

	uart_setup(&u);
	uout(&u, UART_MCR, UART_MCR_LOOP);
	/* All inputs dropped: DCTS, DDSR, DDCD. */
	ASSERT_EQ_U(uin(&u, UART_MSR), 0x0b);
	ASSERT_EQ_U(uin(&u, UART_MSR), 0x00);
	uout(&u, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_OUT1);
	ASSERT_EQ_U(uin(&u, UART_MSR), UART_MSR_DSR | UART_MSR_RI | 0x02);
	uout(&u, UART_MCR, UART_MCR_LOOP | UART_MCR_DTR);
	/* RI's trailing edge sets TERI. */
	ASSERT_EQ_U(uin(&u, UART_MSR), UART_MSR_DSR | 0x04);
	uout(&u, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS | UART_MCR_OUT2);
	ASSERT_EQ_U(uin(&u, UART_MSR), UART_MSR_CTS | UART_MSR_DCD | 0x01 | 0x02 | 0x08);
}

TEST(uart_fifo)
{
	struct uart u;

	uart_setup(&u);
	uout(&u, UART_IIR, UART_FCR_ENABLE);
	ASSERT_EQ_U(uin(&u, UART_IIR), 0xc1);
	uout(&u, UART_MCR, UART_MCR_LOOP);
	for (unsigned i = 0; i < 17; i++)
		uout(&u, UART_RBR, (uint8_t)('a' + i));
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x63); /* the 17th overran */
	for (unsigned i = 0; i < 16; i++)
		ASSERT_EQ_U(uin(&u, UART_RBR), 'a' + i);
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x60);
	/* FCR1 empties the receive FIFO. */
	uout(&u, UART_RBR, 'x');
	uout(&u, UART_IIR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX);
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x60);
	/* Turning the FIFO off empties it too. */
	uout(&u, UART_RBR, 'y');
	uout(&u, UART_IIR, 0);
	ASSERT_EQ_U(uin(&u, UART_IIR), 0x01);
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x60);
}

TEST(uart_iir_priorities)
{
	struct uart u;

	uart_setup(&u);
	uout(&u, UART_MCR, UART_MCR_LOOP); /* leaves modem deltas pending */
	uout(&u, UART_IER, 0x0f);
	ASSERT_EQ_U(uin(&u, UART_IIR) & 0x0f, UART_IIR_THRI);
	/* The IIR read acknowledged THRE; the modem status is next. */
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_MSI);
	uout(&u, UART_RBR, 0x11); /* THR write re-arms THRE, RX data outranks it */
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_RDI);
	uout(&u, UART_RBR, 0x22); /* overrun: line status outranks everything */
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_RLSI);
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x63);
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_RDI);
	ASSERT_EQ_U(uin(&u, UART_RBR), 0x22);
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_THRI);
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_MSI);
	uin(&u, UART_MSR);
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_NO_INT);
	/* Below the FIFO trigger level, RX data shows as a character timeout. */
	uout(&u, UART_IIR, UART_FCR_ENABLE | 0x40); /* trigger at 4 */
	uout(&u, UART_RBR, 0x33);
	ASSERT_EQ_U(uin(&u, UART_IIR), 0xc0 | UART_IIR_CTI);
	for (unsigned i = 0; i < 3; i++)
		uout(&u, UART_RBR, 0x44);
	ASSERT_EQ_U(uin(&u, UART_IIR), 0xc0 | UART_IIR_RDI);
	/* Sources disabled in IER are not reported. */
	uout(&u, UART_IER, 0x00);
	ASSERT_EQ_U(uin(&u, UART_IIR), 0xc1);
	/* IRQ never driven: loopback gates the line. */
	ASSERT_EQ(fake_n, 0);
}

TEST(uart_thre_interrupt_on_ier_enable)
{
	struct uart u;

	uart_setup(&u);
	/* Linux's UART_BUG_THRE test: THRE must re-assert when ETBEI is toggled. */
	uout(&u, UART_IER, UART_IER_THRI);
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_THRI);
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_NO_INT);
	uout(&u, UART_IER, UART_IER_THRI); /* no change: stays acknowledged */
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_NO_INT);
	uout(&u, UART_IER, 0);
	uout(&u, UART_IER, UART_IER_THRI);
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_THRI);
	/* A THR write acknowledges and, transmitted at once, re-arms it. */
	capture_start();
	uout(&u, UART_RBR, 'x');
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_THRI);
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x60);
	/* OUT2 is clear: nothing was driven. */
	ASSERT_EQ(fake_n, 0);
}

TEST(uart_irq_line_gated_by_out2)
{
	struct uart u;

	uart_setup(&u);
	uout(&u, UART_IER, UART_IER_THRI);
	ASSERT_EQ(fake_n, 0);
	uout(&u, UART_MCR, UART_MCR_OUT2 | UART_MCR_DTR | UART_MCR_RTS);
	ASSERT_EQ(fake_n, 1);
	ASSERT_CALL(0, FAKE_ISA_IRQ, 4, 1, 0);
	/* Reading IIR acknowledges THRE and lowers the line. */
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_THRI);
	ASSERT_EQ(fake_n, 2);
	ASSERT_CALL(1, FAKE_ISA_IRQ, 4, 0, 0);
	/* No change, no call. */
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_NO_INT);
	ASSERT_EQ(fake_n, 2);
	uout(&u, UART_IER, 0);
	uout(&u, UART_IER, UART_IER_THRI);
	ASSERT_EQ(fake_n, 3);
	ASSERT_CALL(2, FAKE_ISA_IRQ, 4, 1, 0);
	/* Clearing OUT2 drops the line though the interrupt is still pending. */
	uout(&u, UART_MCR, UART_MCR_DTR);
	ASSERT_EQ(fake_n, 4);
	ASSERT_CALL(3, FAKE_ISA_IRQ, 4, 0, 0);
	ASSERT_EQ_U(uin(&u, UART_IIR), UART_IIR_THRI);
	/* Loopback gates it too, even with OUT2 set. */
	uout(&u, UART_IER, 0);
	uout(&u, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
	uout(&u, UART_IER, UART_IER_THRI);
	ASSERT_EQ(fake_n, 4);
}

TEST(uart_irq_failure_retries)
{
	struct uart u;

	uart_setup(&u);
	capture_start();
	uout(&u, UART_MCR, UART_MCR_OUT2);
	fake_fail[FAKE_ISA_IRQ] = -EPERM;
	uout(&u, UART_IER, UART_IER_THRI);
	ASSERT_EQ(fake_n, 1);
	ASSERT_CONTAINS(log_buf, "set ISA IRQ 4 high");
	/* The next access tries again, and succeeds. */
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x60);
	ASSERT_EQ(fake_n, 2);
	ASSERT_CALL(1, FAKE_ISA_IRQ, 4, 1, 0);
	ASSERT_EQ_U(uin(&u, UART_LSR), 0x60);
	ASSERT_EQ(fake_n, 2);
}

static void uputs(struct uart *u, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		uout(u, UART_RBR, (uint8_t)s[i]);
}

TEST(uart_output_lines)
{
	struct uart u;
	char big[300];

	uart_setup(&u);
	capture_start();
	uputs(&u, "hello\r\n", 7);
	ASSERT_STREQ(log_buf, "guest: hello\n");
	capture_start();
	uputs(&u,
	      "a\x01"
	      "b\tc\\\x7f\xff\n",
	      9);
	ASSERT_STREQ(log_buf, "guest: a\\x01b\\tc\\\\\\x7f\\xff\n");
	capture_start();
	uputs(&u, "\n", 1);
	ASSERT_STREQ(log_buf, "guest: \n");
	/* 256 bytes without a newline make a line of their own. */
	capture_start();
	memset(big, 'x', sizeof(big));
	uputs(&u, big, sizeof(big));
	ASSERT_EQ(log_lines, 1);
	ASSERT_EQ(strlen(log_buf), strlen("guest: \n") + 256);
	uart_flush(&u);
	ASSERT_EQ(log_lines, 2);
	ASSERT_EQ(strlen(log_buf), 2 * strlen("guest: \n") + 300);
	uart_flush(&u);
	ASSERT_EQ(log_lines, 2);
	/* Binary output is cut before its escaped form outgrows a log line. */
	capture_start();
	memset(big, 0x01, sizeof(big));
	uputs(&u, big, sizeof(big));
	uart_flush(&u);
	ASSERT_EQ(log_lines, 2);
	ASSERT_LT(strlen(log_buf), 2 * 1000);
	ASSERT_EQ(strlen(log_buf), 2 * strlen("guest: \n") + 4 * 300);
}

TEST(uart_wide_and_stray_accesses)
{
	struct uart u;

	uart_setup(&u);
	uout(&u, UART_LCR, 0x03);
	uout(&u, UART_MCR, 0x01);
	/* A word access is two byte accesses of consecutive ports. */
	ASSERT_EQ_U(uart_ops.pio_read(&u, COM1 + UART_LCR, 2), 0x0103);
	uart_ops.pio_write(&u, COM1 + UART_LCR, 2, 0x0207);
	ASSERT_EQ_U(uin(&u, UART_LCR), 0x07);
	ASSERT_EQ_U(uin(&u, UART_MCR), 0x02);
	/* Bytes outside the 8 ports read all ones, writes to them are dropped. */
	ASSERT_EQ_U(uart_ops.pio_read(&u, COM1 + 7, 2), 0xff00);
	ASSERT_EQ_U(uart_ops.pio_read(&u, COM1 - 1, 1), 0xff);
	ASSERT_EQ_U(uart_ops.pio_read(&u, 0x2f8, 4), 0xffffffff);
	uart_ops.pio_write(&u, COM1 + 6, 4, 0x11223344);
	ASSERT_EQ_U(uin(&u, UART_SCR), 0x33);
}

/* ---- PCI config helper -------------------------------------------------------- */

TEST(pcicfg_masks_and_w1c)
{
	struct pcicfg c;
	uint32_t base;

	pcicfg_init(&c, 0x1234, 0x5678, 3, 0x010203, 0x80);
	ASSERT_EQ_U(pcicfg_read(&c, 0, 4), 0x56781234);
	ASSERT_EQ_U(pcicfg_read(&c, 8, 4), 0x01020303);
	ASSERT_EQ_U(pcicfg_read(&c, PCI_HEADER_TYPE, 1), 0x80);
	pcicfg_write(&c, 0, 4, 0);
	ASSERT_EQ_U(pcicfg_read(&c, 0, 4), 0x56781234);
	/* Status: RW1C bit 8, read-only bit 4. */
	pcicfg_set(&c, PCI_STATUS, 2, 0x0110);
	pcicfg_set_masks(&c, PCI_STATUS, 2, 0, 0x0100);
	pcicfg_write(&c, PCI_STATUS, 2, 0x0010);
	ASSERT_EQ_U(pcicfg_read(&c, PCI_STATUS, 2), 0x0110);
	pcicfg_write(&c, PCI_STATUS, 2, 0xffff);
	ASSERT_EQ_U(pcicfg_read(&c, PCI_STATUS, 2), 0x0010);
	/* Unaligned and beyond 256 bytes. */
	ASSERT_EQ_U(pcicfg_read(&c, 1, 2), 0x7812);
	ASSERT_EQ_U(pcicfg_read(&c, 0xfe, 4), 0xffff0000);
	ASSERT_EQ_U(pcicfg_read(&c, 0x400, 4), 0xffffffff);
	pcicfg_write(&c, 0xffe, 4, 0xffffffff);
	/* BARs. */
	ASSERT_ERR(pcicfg_bar_mem32(&c, 6, 0x1000, 0, false), -EINVAL);
	ASSERT_ERR(pcicfg_bar_mem32(&c, 0, 0x1800, 0, false), -EINVAL);
	ASSERT_ERR(pcicfg_bar_mem32(&c, 0, 0x1000, 0x800, false), -EINVAL);
	ASSERT_ERR(pcicfg_bar_addr(&c, 1, &base), -ENOENT);
	ASSERT_OK(pcicfg_bar_mem32(&c, 1, 0x100000, 0xc0000000, true));
	ASSERT_EQ_U(pcicfg_read(&c, 0x14, 4), 0xc0000008);
	pcicfg_write(&c, 0x14, 4, 0xffffffff);
	ASSERT_EQ_U(pcicfg_read(&c, 0x14, 4), 0xfff00008);
	ASSERT_ERR(pcicfg_bar_addr(&c, 1, &base), -EADDRNOTAVAIL);
	pcicfg_write(&c, 0x14, 4, 0);
	ASSERT_ERR(pcicfg_bar_addr(&c, 1, &base), -EADDRNOTAVAIL);
	pcicfg_write(&c, 0x14, 4, 0xd0012345);
	ASSERT_OK(pcicfg_bar_addr(&c, 1, &base));
	ASSERT_EQ_U(base, 0xd0000000);
	/* Capability list. */
	ASSERT_ERR(pcicfg_add_cap(&c, 0x3c, 5), -EINVAL);
	ASSERT_OK(pcicfg_add_cap(&c, 0x40, 5));
	ASSERT_OK(pcicfg_add_cap(&c, 0x50, 9));
	ASSERT_ERR(pcicfg_add_cap(&c, 0x40, 1), -EINVAL);
	ASSERT_EQ_U(pcicfg_read(&c, PCI_CAPABILITY_LIST, 1), 0x40);
	ASSERT_EQ_U(pcicfg_read(&c, 0x40, 2), 0x5005);
	ASSERT_EQ_U(pcicfg_read(&c, 0x50, 2), 0x0009);
}

/* ---- PCI test device ------------------------------------------------------------ */

#define TEST_SBDF ((uint32_t)(3 << 3))
#define BAR0      0xe0000000u

static uint32_t cfg_rd(struct pcitest *p, unsigned reg, unsigned size)
{
	return (uint32_t)pcitest_ops.pci_read(p, TEST_SBDF, reg, size);
}

static void cfg_wr(struct pcitest *p, unsigned reg, unsigned size, uint32_t v)
{
	pcitest_ops.pci_write(p, TEST_SBDF, reg, size, v);
}

static uint64_t mrd(struct pcitest *p, uint64_t addr, unsigned size)
{
	return pcitest_ops.mmio_read(p, addr, size);
}

static void mwr(struct pcitest *p, uint64_t addr, unsigned size, uint64_t v)
{
	pcitest_ops.mmio_write(p, addr, size, v);
}

static void pcitest_setup(struct pcitest *p, bool mem)
{
	fake_reset();
	ASSERT_OK(pcitest_init(p, &fake_dmb, TEST_SBDF, BAR0));
	if (mem)
		cfg_wr(p, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	ASSERT_EQ(fake_n, 0);
}

TEST(pcitest_init_rejects_bad_bar)
{
	struct pcitest p;

	ASSERT_ERR(pcitest_init(&p, &fake_dmb, TEST_SBDF, 0), -EINVAL);
	ASSERT_ERR(pcitest_init(&p, &fake_dmb, TEST_SBDF, 0xe0000800), -EINVAL);
	ASSERT_ERR(pcitest_init(&p, &fake_dmb, TEST_SBDF, 0xfffff000), -EINVAL);
	ASSERT_OK(pcitest_init(&p, &fake_dmb, TEST_SBDF, 0xffffe000));
}

TEST(pcitest_config_ids)
{
	struct pcitest p;

	pcitest_setup(&p, false);
	ASSERT_EQ_U(cfg_rd(&p, PCI_VENDOR_ID, 2), 0x5853);
	ASSERT_EQ_U(cfg_rd(&p, PCI_DEVICE_ID, 2), 0xdb01);
	ASSERT_EQ_U(cfg_rd(&p, 0x00, 4), 0xdb015853);
	ASSERT_EQ_U(cfg_rd(&p, 0x08, 4), 0xff000001);
	ASSERT_EQ_U(cfg_rd(&p, PCI_HEADER_TYPE, 1), 0x00);
	ASSERT_EQ_U(cfg_rd(&p, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x00015853);
	ASSERT_EQ_U(cfg_rd(&p, PCI_COMMAND, 2), 0x0000);
	ASSERT_EQ_U(cfg_rd(&p, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
	ASSERT_EQ_U(cfg_rd(&p, PCI_BASE_ADDRESS_0, 4), BAR0);
	for (unsigned bar = 1; bar < 6; bar++)
		ASSERT_EQ_U(cfg_rd(&p, PCI_BASE_ADDRESS_0 + 4 * bar, 4), 0);
	ASSERT_EQ_U(cfg_rd(&p, PCI_INTERRUPT_PIN, 1), 1);
	ASSERT_EQ_U(cfg_rd(&p, PCI_CAPABILITY_LIST, 1), 0x40);
	ASSERT_EQ_U(cfg_rd(&p, 0x40, 4), 0x00000005); /* MSI, last, control 0 */
	/* Read-only IDs, RW interrupt line, masked command. */
	cfg_wr(&p, 0x00, 4, 0);
	ASSERT_EQ_U(cfg_rd(&p, 0x00, 4), 0xdb015853);
	cfg_wr(&p, PCI_INTERRUPT_LINE, 1, 11);
	ASSERT_EQ_U(cfg_rd(&p, PCI_INTERRUPT_LINE, 2), 0x010b);
	cfg_wr(&p, PCI_COMMAND, 2, 0xffff);
	ASSERT_EQ_U(cfg_rd(&p, PCI_COMMAND, 2), 0x0407);
	/* Beyond 256 bytes, and another SBDF: all ones. */
	ASSERT_EQ_U(cfg_rd(&p, 0x100, 4), 0xffffffff);
	ASSERT_EQ_U(pcitest_ops.pci_read(&p, TEST_SBDF + 1, 0, 4), 0xffffffff);
	pcitest_ops.pci_write(&p, TEST_SBDF + 8, PCI_INTERRUPT_LINE, 1, 5);
	ASSERT_EQ_U(cfg_rd(&p, PCI_INTERRUPT_LINE, 1), 11);
	/* MSI control: only the enable bit; address dword-aligned; data 16 bits. */
	cfg_wr(&p, PCITEST_MSI_CTRL, 2, 0xfffe);
	ASSERT_EQ_U(cfg_rd(&p, PCITEST_MSI_CTRL, 2), 0);
	cfg_wr(&p, PCITEST_MSI_ADDR, 4, 0xfee00003);
	ASSERT_EQ_U(cfg_rd(&p, PCITEST_MSI_ADDR, 4), 0xfee00000);
	cfg_wr(&p, PCITEST_MSI_DATA, 4, 0x12344321);
	ASSERT_EQ_U(cfg_rd(&p, PCITEST_MSI_DATA, 4), 0x4321);
	ASSERT_EQ(fake_n, 0);
}

TEST(pcitest_bar_sizing)
{
	struct pcitest p;

	for (int mem = 0; mem < 2; mem++) {
		pcitest_setup(&p, mem);
		cfg_wr(&p, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
		ASSERT_EQ_U(cfg_rd(&p, PCI_BASE_ADDRESS_0, 4), 0xfffff000);
		/* Decoding stays where the claim is, also with decode on. */
		if (mem)
			ASSERT_EQ_U(mrd(&p, BAR0, 4), PCITEST_ID);
		cfg_wr(&p, PCI_BASE_ADDRESS_0, 4, BAR0);
		ASSERT_EQ_U(cfg_rd(&p, PCI_BASE_ADDRESS_0, 4), BAR0);
		cfg_wr(&p, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
		ASSERT_EQ(fake_n, 0);
	}
}

TEST(pcitest_bar_move)
{
	struct pcitest p;

	pcitest_setup(&p, true);
	mwr(&p, BAR0 + PCITEST_REG_SCRATCH, 4, 0x1234);
	cfg_wr(&p, PCI_BASE_ADDRESS_0, 4, 0xe0010000);
	ASSERT_EQ(fake_n, 1);
	ASSERT_EQ(fake_calls[0].kind, FAKE_MOVE);
	ASSERT_EQ_U(fake_calls[0].a, TEST_SBDF);
	ASSERT_EQ_U(fake_calls[0].b, 0);
	ASSERT_EQ_U(fake_calls[0].c, BAR0);
	ASSERT_EQ_U(fake_calls[0].d, 0xe0010000);
	ASSERT_EQ_U(fake_calls[0].e, 0x1000);
	ASSERT_EQ_U(mrd(&p, 0xe0010000, 4), PCITEST_ID);
	ASSERT_EQ_U(mrd(&p, 0xe0010000 + PCITEST_REG_SCRATCH, 4), 0x1234);
	ASSERT_EQ_U(mrd(&p, BAR0, 4), 0xffffffff);
	/* Rewriting the same base moves nothing. */
	cfg_wr(&p, PCI_BASE_ADDRESS_0, 4, 0xe0010000);
	ASSERT_EQ(fake_n, 1);
}

TEST(pcitest_bar_move_failure_keeps_decode)
{
	struct pcitest p;

	pcitest_setup(&p, true);
	capture_start();
	fake_fail[FAKE_MOVE] = -EPERM;
	cfg_wr(&p, PCI_BASE_ADDRESS_0, 4, 0xd0000000);
	ASSERT_EQ(fake_n, 1);
	ASSERT_CONTAINS(log_buf, "move BAR0");
	/* The register shows what the guest wrote; decoding stays at the old place. */
	ASSERT_EQ_U(cfg_rd(&p, PCI_BASE_ADDRESS_0, 4), 0xd0000000);
	ASSERT_EQ_U(mrd(&p, BAR0, 4), PCITEST_ID);
	ASSERT_EQ_U(mrd(&p, 0xd0000000, 4), 0xffffffff);
	/* Turning decode off and on again retries, from the place still mapped. */
	cfg_wr(&p, PCI_COMMAND, 2, 0);
	cfg_wr(&p, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	ASSERT_EQ(fake_n, 2);
	ASSERT_EQ_U(fake_calls[1].c, BAR0);
	ASSERT_EQ_U(fake_calls[1].d, 0xd0000000);
	ASSERT_EQ_U(mrd(&p, 0xd0000000, 4), PCITEST_ID);
}

TEST(pcitest_bar_move_on_mem_enable)
{
	struct pcitest p;

	pcitest_setup(&p, false);
	cfg_wr(&p, PCI_BASE_ADDRESS_0, 4, 0xe0100000);
	ASSERT_EQ(fake_n, 0);
	cfg_wr(&p, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	ASSERT_EQ(fake_n, 1);
	ASSERT_EQ_U(fake_calls[0].c, BAR0);
	ASSERT_EQ_U(fake_calls[0].d, 0xe0100000);
	/* Other command writes with decode already on move nothing. */
	cfg_wr(&p, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	ASSERT_EQ(fake_n, 1);
}

TEST(pcitest_mmio_needs_mem_decode)
{
	struct pcitest p;

	pcitest_setup(&p, false);
	ASSERT_EQ_U(mrd(&p, BAR0, 4), 0xffffffff);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_SCRATCH64, 8), UINT64_MAX);
	ASSERT_EQ_U(mrd(&p, BAR0, 1), 0xff);
	mwr(&p, BAR0 + PCITEST_REG_SCRATCH, 4, 0x55);
	mwr(&p, BAR0 + PCITEST_REG_DOORBELL, 4, 1);
	ASSERT_EQ(fake_n, 0);
	cfg_wr(&p, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_SCRATCH, 4), 0);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_COUNTER, 4), 0);
	/* Outside the 4 KiB (never routed to us, but be sure). */
	ASSERT_EQ_U(mrd(&p, BAR0 + 0x1000, 4), 0xffffffff);
	ASSERT_EQ_U(mrd(&p, BAR0 + 0xffe, 4), 0xffffffff);
	ASSERT_EQ_U(mrd(&p, BAR0 - 4, 4), 0xffffffff);
}

TEST(pcitest_scratch_registers)
{
	struct pcitest p;

	pcitest_setup(&p, true);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_ID, 4), 0xdb0b0001);
	mwr(&p, BAR0 + PCITEST_REG_ID, 4, 0);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_ID, 4), 0xdb0b0001);
	mwr(&p, BAR0 + PCITEST_REG_SCRATCH, 4, 0xcafef00d);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_SCRATCH, 4), 0xcafef00d);
	mwr(&p, BAR0 + PCITEST_REG_SCRATCH64, 8, 0x0123456789abcdefull);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_SCRATCH64, 8), 0x0123456789abcdefull);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_SCRATCH64, 4), 0x89abcdef);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_SCRATCH64 + 4, 4), 0x01234567);
	mwr(&p, BAR0 + PCITEST_REG_SCRATCH64 + 4, 4, 0xfeedface);
	mwr(&p, BAR0 + PCITEST_REG_SCRATCH64, 4, 0x11111111);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_SCRATCH64, 8), 0xfeedface11111111ull);
	/* Other sizes and offsets read 0 and ignore writes. */
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_SCRATCH, 2), 0);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_SCRATCH, 8), 0);
	ASSERT_EQ_U(mrd(&p, BAR0 + 0x14, 4), 0);
	ASSERT_EQ_U(mrd(&p, BAR0 + 0x800, 4), 0);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_DOORBELL, 4), 0);
	mwr(&p, BAR0 + PCITEST_REG_SCRATCH, 1, 0xff);
	mwr(&p, BAR0 + PCITEST_REG_SCRATCH64 + 4, 8, 0);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_SCRATCH, 4), 0xcafef00d);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_SCRATCH64, 8), 0xfeedface11111111ull);
	ASSERT_EQ(fake_n, 0);
}

TEST(pcitest_doorbell_intx)
{
	struct pcitest p;

	pcitest_setup(&p, true);
	mwr(&p, BAR0 + PCITEST_REG_DOORBELL, 4, 0);
	ASSERT_EQ(fake_n, 1);
	ASSERT_CALL(0, FAKE_INTX, TEST_SBDF, 0, 1);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_INT_STATUS, 4), PCITEST_INT_DOORBELL);
	ASSERT_EQ_U(cfg_rd(&p, PCI_STATUS, 2), PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_COUNTER, 4), 1);
	/* A second ring while pending: counted, line already high. */
	mwr(&p, BAR0 + PCITEST_REG_DOORBELL, 4, 0);
	ASSERT_EQ(fake_n, 1);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_COUNTER, 4), 2);
	/* Writing 0 clears nothing; writing the bit deasserts. */
	mwr(&p, BAR0 + PCITEST_REG_INT_STATUS, 4, 0);
	ASSERT_EQ(fake_n, 1);
	mwr(&p, BAR0 + PCITEST_REG_INT_STATUS, 4, PCITEST_INT_DOORBELL);
	ASSERT_EQ(fake_n, 2);
	ASSERT_CALL(1, FAKE_INTX, TEST_SBDF, 0, 0);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_INT_STATUS, 4), 0);
	ASSERT_EQ_U(cfg_rd(&p, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
	/* INTx disabled: pending shows in status, the line stays low until re-enabled. */
	cfg_wr(&p, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
	mwr(&p, BAR0 + PCITEST_REG_DOORBELL, 4, 0);
	ASSERT_EQ(fake_n, 2);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_INT_STATUS, 4), PCITEST_INT_DOORBELL);
	ASSERT_EQ_U(cfg_rd(&p, PCI_STATUS, 2), PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT);
	cfg_wr(&p, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	ASSERT_EQ(fake_n, 3);
	ASSERT_CALL(2, FAKE_INTX, TEST_SBDF, 0, 1);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_COUNTER, 4), 3);
	/* A failed assert is retried on the next update. */
	mwr(&p, BAR0 + PCITEST_REG_INT_STATUS, 4, 1);
	ASSERT_EQ(fake_n, 4);
	capture_start();
	fake_fail[FAKE_INTX] = -EIO;
	mwr(&p, BAR0 + PCITEST_REG_DOORBELL, 4, 0);
	ASSERT_EQ(fake_n, 5);
	ASSERT_CONTAINS(log_buf, "set INTA of 0000:00:03.0 high");
	mwr(&p, BAR0 + PCITEST_REG_INT_STATUS, 4, 0);
	ASSERT_EQ(fake_n, 6);
	ASSERT_CALL(5, FAKE_INTX, TEST_SBDF, 0, 1);
}

TEST(pcitest_doorbell_msi)
{
	struct pcitest p;

	pcitest_setup(&p, true);
	cfg_wr(&p, PCITEST_MSI_ADDR, 4, 0xfee00000);
	cfg_wr(&p, PCITEST_MSI_DATA, 2, 0x0040);
	cfg_wr(&p, PCITEST_MSI_CTRL, 2, PCI_MSI_FLAGS_ENABLE);
	ASSERT_EQ_U(cfg_rd(&p, PCITEST_MSI_CAP, 4), 0x00010005);
	ASSERT_EQ(fake_n, 0);
	mwr(&p, BAR0 + PCITEST_REG_DOORBELL, 4, 0xdead);
	ASSERT_EQ(fake_n, 1);
	ASSERT_CALL(0, FAKE_MSI, 0xfee00000, 0x40, 0);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_INT_STATUS, 4), 0);
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_COUNTER, 4), 1);
	/* MSI failure is logged, counted, and not turned into INTx. */
	capture_start();
	fake_fail[FAKE_MSI] = -EINVAL;
	mwr(&p, BAR0 + PCITEST_REG_DOORBELL, 4, 0);
	ASSERT_EQ(fake_n, 2);
	ASSERT_CONTAINS(log_buf, "MSI from 0000:00:03.0");
	ASSERT_EQ_U(mrd(&p, BAR0 + PCITEST_REG_COUNTER, 4), 2);
	/* MSI off again: back to INTx. */
	cfg_wr(&p, PCITEST_MSI_CTRL, 2, 0);
	mwr(&p, BAR0 + PCITEST_REG_DOORBELL, 4, 0);
	ASSERT_EQ(fake_n, 3);
	ASSERT_CALL(2, FAKE_INTX, TEST_SBDF, 0, 1);
	/* Enabling MSI with INTx pending takes the line down. */
	cfg_wr(&p, PCITEST_MSI_CTRL, 2, PCI_MSI_FLAGS_ENABLE);
	ASSERT_EQ(fake_n, 4);
	ASSERT_CALL(3, FAKE_INTX, TEST_SBDF, 0, 0);
}

/* ---- host bridge ------------------------------------------------------------------ */

static uint32_t hb_rd(struct hostbridge *h, unsigned reg, unsigned size)
{
	return (uint32_t)hostbridge_ops.pci_read(h, 0, reg, size);
}

TEST(hostbridge_ids)
{
	struct hostbridge h;

	hostbridge_init(&h, 0);
	ASSERT_EQ_U(hb_rd(&h, 0x00, 4), 0x12378086);
	ASSERT_EQ_U(hb_rd(&h, 0x08, 4), 0x06000002);
	ASSERT_EQ_U(hb_rd(&h, 0x0a, 2), 0x0600);
	ASSERT_EQ_U(hb_rd(&h, PCI_HEADER_TYPE, 1), 0x00);
	ASSERT_EQ_U(hb_rd(&h, PCI_COMMAND, 4), 0x02800006);
	hostbridge_ops.pci_write(&h, 0, 0x00, 4, 0);
	hostbridge_ops.pci_write(&h, 0, PCI_COMMAND, 2, 0);
	ASSERT_EQ_U(hb_rd(&h, 0x00, 4), 0x12378086);
	ASSERT_EQ_U(hb_rd(&h, PCI_COMMAND, 2), 0x0006);
	hostbridge_ops.pci_write(&h, 0, PCI_LATENCY_TIMER, 1, 0xff);
	ASSERT_EQ_U(hb_rd(&h, PCI_LATENCY_TIMER, 1), 0xf8);
	ASSERT_EQ_U(hostbridge_ops.pci_read(&h, 8, 0, 4), 0xffffffff);
	ASSERT_EQ_U(hb_rd(&h, 0x100, 2), 0xffff);
}

TEST(hostbridge_cf8_latch)
{
	struct hostbridge h;

	hostbridge_init(&h, 0);
	ASSERT_EQ_U(hostbridge_ops.pio_read(&h, 0xcf8, 4), 0);
	/* The conf1 probe. */
	hostbridge_ops.pio_write(&h, 0xcf8, 4, 0x80000000);
	ASSERT_EQ_U(hostbridge_ops.pio_read(&h, 0xcf8, 4), 0x80000000);
	/* Reserved bits 30:24 and 1:0 read 0. */
	hostbridge_ops.pio_write(&h, 0xcf8, 4, 0xffffffff);
	ASSERT_EQ_U(hostbridge_ops.pio_read(&h, 0xcf8, 4), 0x80fffffc);
	hostbridge_ops.pio_write(&h, 0xcf8, 4, 0x80001803);
	ASSERT_EQ_U(hostbridge_ops.pio_read(&h, 0xcf8, 4), 0x80001800);
	/* Byte and word accesses reach the matching bytes of the latch. */
	ASSERT_EQ_U(hostbridge_ops.pio_read(&h, 0xcf9, 1), 0x18);
	ASSERT_EQ_U(hostbridge_ops.pio_read(&h, 0xcfa, 2), 0x8000);
	hostbridge_ops.pio_write(&h, 0xcf9, 1, 0x06);
	ASSERT_EQ_U(hostbridge_ops.pio_read(&h, 0xcf8, 4), 0x80000600);
	hostbridge_ops.pio_write(&h, 0xcfa, 2, 0x7f12);
	ASSERT_EQ_U(hostbridge_ops.pio_read(&h, 0xcf8, 4), 0x00120600);
	/* Beyond 0xcfb: not ours. */
	ASSERT_EQ_U(hostbridge_ops.pio_read(&h, 0xcfa, 4), 0xffff0012);
	ASSERT_EQ_U(hostbridge_ops.pio_read(&h, 0xcfc, 4), 0xffffffff);
	hostbridge_ops.pio_write(&h, 0xcfc, 4, 0);
	ASSERT_EQ_U(hostbridge_ops.pio_read(&h, 0xcf8, 4), 0x00120600);
}
