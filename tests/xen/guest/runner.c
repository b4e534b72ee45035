/* SPDX-License-Identifier: MIT */
/*
 * The scenario runner of the real-Xen test guest: the same op tables the
 * simulator runs (docs/scenario.md), executed by real vCPUs.  vCPU 0 runs
 * its ops; vCPU 1, started the first time a scenario has ops for it, runs
 * its own concurrently.  Every op is reported on port 0xe9, one line each:
 *
 *   SCN-BEGIN <scenario> ops=<n> vcpus=<n>
 *   SCN <scenario> <line> vcpu<N> <op> ok
 *   SCN <scenario> <line> vcpu<N> <op> FAIL got=0x<hex> want=0x<hex>/0x<mask>
 *   SCN-DONE <scenario> passed=<n> failed=<n>
 *   BENCH port=0x<hex> n=<n> tsc_total=<n> tsc_per_read=<n> batch=<n>
 *         tsc_min_batch=<n> tsc_p50_batch=<n> bad=<n>             (BENCH_PORT builds)
 *   BENCH-PAIRED a=0x<hex> b=0x<hex> pairs=<n> ratio_p50_permille=<n>
 *         ratio_min_permille=<n>                                 (and BENCH_PORT2)
 *   GUEST-DONE <scenarios run> failed=<failed ops in all>
 *
 * Built with -DSCN_REPEAT=N, it runs the table N times over (for runs that
 * must outlast something dom0 does meanwhile, like killing a device model).
 *
 * <op> is the op's name as written in the file (in8, read64, cfgwrite16,
 * msi, barrier).  A failed msi reports got=0x0 (nothing new arrived) and
 * want=<vector>/0xff; a barrier that timed out got=0x0 want=0x1/0x1.
 * Then both vCPUs halt with interrupts off, and Xen powers the domain off.
 */
#include "guest.h"
#include "scn-table.h"

#define MSI_WAIT_MS     5000   /* as the simulator's runner (MSI_WAIT_NS) */
#define BARRIER_WAIT_MS 60000  /* the other vCPU is stuck or dead */
#define AP_START_MS     10000  /* VCPUOP_up to the AP's first instruction */
#define AP_SCN_MS       300000 /* vCPU 1's share of one scenario, whatever it is */

#ifndef SCN_REPEAT
#define SCN_REPEAT 1
#endif

/* vCPU 0 hands scenarios to vCPU 1 through this. */
static struct {
	const struct gscn *volatile scn;
	volatile u32 job;     /* incremented per scenario given to vCPU 1 */
	volatile u32 done;    /* the last job vCPU 1 finished */
	volatile u32 parties; /* vCPUs with ops in sh.scn: who meets at barriers */
	volatile u32 quit;
	volatile u32 alive;
	volatile u32 passed[NR_CPUS], failed[NR_CPUS];
} sh;

/* the barrier of the current scenario (reset by vCPU 0 before each) */
static volatile u32 bar_count, bar_gen, bar_broken;

/* per vCPU: MSIs of each vector its msi ops consumed (docs/scenario.md, "msi VECTOR") */
static u32 msi_seen[NR_CPUS][256];

static u64 ms_to_tsc(u32 ms)
{
	return (u64)tsc_khz * ms;
}

/* One round of a wait loop: a window for interrupts, and the pCPU to whoever needs it
 * (under qemu there is one pCPU for dom0, its device models and our vCPUs). */
static void wait_a_bit(void)
{
	cpu_yield_irq();
}

static int barrier_wait(unsigned parties)
{
	u32 gen = bar_gen;
	u64 deadline = rdtsc() + ms_to_tsc(BARRIER_WAIT_MS);

	if (parties < 2)
		return 0;
	__sync_synchronize();
	if (__sync_add_and_fetch(&bar_count, 1) == parties) {
		bar_count = 0;
		__sync_synchronize();
		bar_gen = gen + 1;
		return 0;
	}
	while (bar_gen == gen) {
		if (bar_broken || rdtsc() > deadline) {
			bar_broken = 1; /* later barriers must not wait for a vCPU that is gone */
			return -1;
		}
		wait_a_bit();
	}
	return 0;
}

static int msi_wait(unsigned cpu, unsigned vector)
{
	u64 deadline = rdtsc() + ms_to_tsc(MSI_WAIT_MS);

	for (;;) {
		u32 n = msi_count[vector];

		if (n != msi_seen[cpu][vector]) {
			msi_seen[cpu][vector] = n; /* several since the last msi op count as one */
			return 0;
		}
		if (rdtsc() > deadline)
			return -1;
		wait_a_bit();
	}
}

static u64 pio_read(u16 port, unsigned size)
{
	return size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);
}

static void pio_write(u16 port, unsigned size, u64 v)
{
	if (size == 1)
		outb(port, (u8)v);
	else if (size == 2)
		outw(port, (u16)v);
	else
		outl(port, (u32)v);
}

static u64 mmio_read(u32 addr, unsigned size)
{
	switch (size) {
	case 1:
		return *(volatile u8 *)addr;
	case 2:
		return *(volatile u16 *)addr;
	case 4:
		return *(volatile u32 *)addr;
	default:
		return mmio_read64(addr);
	}
}

static void mmio_write(u32 addr, unsigned size, u64 v)
{
	switch (size) {
	case 1:
		*(volatile u8 *)addr = (u8)v;
		break;
	case 2:
		*(volatile u16 *)addr = (u16)v;
		break;
	case 4:
		*(volatile u32 *)addr = (u32)v;
		break;
	default:
		mmio_write64(addr, v);
	}
}

/* Type 1 config access: latch the address in 0xcf8, then the data port at 0xcfc + (reg & 3). */
static u16 pci_select(u64 addr)
{
	u32 sbdf = (u32)(addr >> 32), reg = (u32)addr & 0xff;
	u32 bus = (sbdf >> 8) & 0xff, dev = (sbdf >> 3) & 0x1f, fn = sbdf & 7;

	outl(0xcf8, 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc));
	return (u16)(0xcfc + (reg & 3));
}

static const char *op_name(unsigned kind, unsigned size)
{
	static const char *const names[][4] = {
	        [GSCN_PIO_OUT] = {"out8", "out16", "out32", "out64"},
	        [GSCN_PIO_IN] = {"in8", "in16", "in32", "in64"},
	        [GSCN_MMIO_WRITE] = {"write8", "write16", "write32", "write64"},
	        [GSCN_MMIO_READ] = {"read8", "read16", "read32", "read64"},
	        [GSCN_PCI_WRITE] = {"cfgwrite8", "cfgwrite16", "cfgwrite32", "cfgwrite64"},
	        [GSCN_PCI_READ] = {"cfgread8", "cfgread16", "cfgread32", "cfgread64"},
	};
	unsigned i = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;

	if (kind == GSCN_MSI_WAIT)
		return "msi";
	if (kind == GSCN_BARRIER)
		return "barrier";
	if (kind >= GSCN_PIO_OUT && kind <= GSCN_PCI_READ)
		return names[kind][i];
	return "unknown";
}

/* Run this vCPU's ops of s, in table order; report each. */
static void run_ops(const struct gscn *s, unsigned cpu, unsigned parties)
{
	struct line l = {.len = 0};
	u32 passed = 0, failed = 0;

	for (unsigned i = 0; i < s->n_ops; i++) {
		unsigned kind = s->kind[i], size = s->size[i];
		u64 addr = s->addr[i], want = s->value[i], mask = s->mask[i], got = 0;
		int ok = 1;

		if (s->vcpu[i] != cpu)
			continue;
		switch (kind) {
		case GSCN_PIO_OUT:
			pio_write((u16)addr, size, want);
			break;
		case GSCN_PIO_IN:
			got = pio_read((u16)addr, size);
			break;
		case GSCN_MMIO_WRITE:
			mmio_write((u32)addr, size, want);
			break;
		case GSCN_MMIO_READ:
			got = mmio_read((u32)addr, size);
			break;
		case GSCN_PCI_WRITE:
			pio_write(pci_select(addr), size, want);
			break;
		case GSCN_PCI_READ:
			got = pio_read(pci_select(addr), size);
			break;
		case GSCN_MSI_WAIT:
			ok = msi_wait(cpu, (unsigned)want & 0xff) == 0;
			mask = 0xff;
			break;
		case GSCN_BARRIER:
			ok = barrier_wait(parties) == 0;
			want = mask = 1;
			break;
		default:
			ok = 0;
		}
		if (kind == GSCN_PIO_IN || kind == GSCN_MMIO_READ || kind == GSCN_PCI_READ)
			ok = (got & mask) == (want & mask);

		line_str(&l, "SCN ");
		line_str(&l, s->name);
		line_str(&l, " ");
		line_dec(&l, s->line[i]);
		line_str(&l, " vcpu");
		line_dec(&l, cpu);
		line_str(&l, " ");
		line_str(&l, op_name(kind, size));
		if (ok) {
			line_str(&l, " ok");
			passed++;
		} else {
			line_str(&l, " FAIL got=");
			line_hex(&l, got);
			line_str(&l, " want=");
			line_hex(&l, want);
			line_str(&l, "/");
			line_hex(&l, mask);
			failed++;
		}
		line_end(&l);
	}
	sh.passed[cpu] = passed;
	sh.failed[cpu] = failed;
}

/* vCPU 1: run whatever scenario vCPU 0 hands over, until told to stop. */
void runner_ap(void)
{
	u32 seen = 0;

	cpu_local_init();
	sh.alive = 1;
	for (;;) {
		while (sh.job == seen && !sh.quit)
			wait_a_bit();
		if (sh.quit)
			return; /* head.S halts us */
		seen = sh.job;
		__sync_synchronize();
		run_ops(sh.scn, 1, sh.parties);
		__sync_synchronize();
		sh.done = seen;
	}
}

static int ap_up;   /* vCPU 1 is running the loop above */
static int ap_dead; /* could not start it, or it stopped answering */

static int start_ap(void)
{
	struct line l = {.len = 0};
	u64 deadline;
	int r;

	if (ap_up || ap_dead)
		return ap_up ? 0 : -1;
	r = cpu_start_ap(1, ap_entry);
	deadline = rdtsc() + ms_to_tsc(AP_START_MS);
	while (r == 0 && !sh.alive && rdtsc() < deadline)
		wait_a_bit();
	if (r == 0 && sh.alive) {
		ap_up = 1;
		return 0;
	}
	ap_dead = 1;
	line_str(&l, "GUEST-ERROR vcpu1 did not start: ");
	if (r) {
		line_str(&l, "VCPUOP error -");
		line_dec(&l, (u32)-r);
	} else {
		line_str(&l, "it never ran");
	}
	line_end(&l);
	return -1;
}

/* Ops of a vCPU that cannot run: each is a failure, reported like one. */
static void report_not_run(const struct gscn *s, unsigned cpu)
{
	struct line l = {.len = 0};

	sh.passed[cpu] = 0;
	sh.failed[cpu] = 0;
	for (unsigned i = 0; i < s->n_ops; i++) {
		if (s->vcpu[i] != cpu)
			continue;
		line_str(&l, "SCN ");
		line_str(&l, s->name);
		line_str(&l, " ");
		line_dec(&l, s->line[i]);
		line_str(&l, " vcpu");
		line_dec(&l, cpu);
		line_str(&l, " ");
		line_str(&l, op_name(s->kind[i], s->size[i]));
		line_str(&l, " FAIL got=0x0 want=");
		line_hex(&l, s->value[i]);
		line_str(&l, "/");
		line_hex(&l, s->mask[i]);
		line_end(&l);
		sh.failed[cpu]++;
	}
}

static u32 run_scenario(const struct gscn *s)
{
	struct line l = {.len = 0};
	int has[NR_CPUS] = {0, 0};
	unsigned parties;
	u32 job;

	for (unsigned i = 0; i < s->n_ops; i++)
		if (s->vcpu[i] < NR_CPUS)
			has[s->vcpu[i]] = 1;
	line_str(&l, "SCN-BEGIN ");
	line_str(&l, s->name);
	line_str(&l, " ops=");
	line_dec(&l, s->n_ops);
	line_str(&l, " vcpus=");
	line_dec(&l, s->nr_vcpus);
	line_end(&l);

	bar_count = bar_gen = bar_broken = 0;
	sh.passed[0] = sh.failed[0] = sh.passed[1] = sh.failed[1] = 0;
	if (has[1] && start_ap() < 0) {
		report_not_run(s, 1);
		has[1] = 0;
	}
	parties = (unsigned)has[0] + (unsigned)has[1];
	job = sh.job;
	if (has[1]) {
		sh.scn = s;
		sh.parties = parties;
		__sync_synchronize();
		sh.job = ++job;
	}
	run_ops(s, 0, parties);
	if (has[1]) {
		u64 deadline = rdtsc() + ms_to_tsc(AP_SCN_MS);

		while (sh.done != job && rdtsc() < deadline)
			wait_a_bit();
		if (sh.done != job) {
			say("GUEST-ERROR vcpu1 did not finish its ops in time");
			ap_dead = 1;
			ap_up = 0;
		}
	}
	line_str(&l, "SCN-DONE ");
	line_str(&l, s->name);
	line_str(&l, " passed=");
	line_dec(&l, sh.passed[0] + sh.passed[1]);
	line_str(&l, " failed=");
	line_dec(&l, sh.failed[0] + sh.failed[1]);
	line_end(&l);
	return sh.failed[0] + sh.failed[1];
}

#ifdef BENCH_PORT
#ifndef BENCH_N
#define BENCH_N 2000
#endif
#define BENCH_BATCH     100  /* reads per batch */
#define BENCH_WARMUP_MS 1000 /* untimed reads first */
#define BENCH_BATCHES   (BENCH_N / BENCH_BATCH)

/* reads that did not get echo-dm's answer, 0xcafe0000 | port: nobody served them */
static u32 bench_bad[2];

static u64 bench_batch(u16 port, unsigned side)
{
	u64 t0 = rdtsc();
	u32 bad = 0;

	for (u32 i = 0; i < BENCH_BATCH; i++)
		bad += inl(port) != (0xcafe0000u | port);
	t0 = rdtsc() - t0;
	bench_bad[side] += bad;
	return t0;
}

static void sort_u64(u64 *a, u32 n)
{
	for (u32 i = 1; i < n; i++) /* insertion sort: a few dozen numbers */
		for (u32 j = i; j > 0 && a[j - 1] > a[j]; j--) {
			u64 t = a[j];
			a[j] = a[j - 1];
			a[j - 1] = t;
		}
}

#ifdef BENCH_PORT2
/* 1000 * x / y, for TSC counts of batches (divl takes a 32-bit divisor) */
static u64 permille(u64 x, u64 y)
{
	while (y >> 32 || x >> 52) {
		x >>= 1;
		y >>= 1;
	}
	return div64_32(x * 1000, y ? (u32)y : 1, 0);
}
#endif

/* "BENCH port=... tsc_per_read=..." for the batches of one port (sorted here). */
static void bench_report(u16 port, u64 *batch, unsigned side)
{
	struct line l = {.len = 0};
	u64 total = 0;

	for (u32 i = 0; i < BENCH_BATCHES; i++)
		total += batch[i];
	sort_u64(batch, BENCH_BATCHES);
	line_str(&l, "BENCH port=");
	line_hex(&l, port);
	line_str(&l, " n=");
	line_dec(&l, BENCH_BATCHES * BENCH_BATCH);
	line_str(&l, " tsc_total=");
	line_dec(&l, total);
	line_str(&l, " tsc_per_read=");
	line_dec(&l, div64_32(total, BENCH_BATCHES * BENCH_BATCH, 0));
	line_str(&l, " batch=");
	line_dec(&l, BENCH_BATCH);
	line_str(&l, " tsc_min_batch=");
	line_dec(&l, div64_32(batch[0], BENCH_BATCH, 0));
	line_str(&l, " tsc_p50_batch=");
	line_dec(&l, div64_32(batch[BENCH_BATCHES / 2], BENCH_BATCH, 0));
	line_str(&l, " bad=");
	line_dec(&l, bench_bad[side]);
	line_end(&l);
}

/*
 * BENCH_N 4-byte port reads of BENCH_PORT in batches of BENCH_BATCH, timed
 * with the TSC, after a second of untimed ones: each read is one round trip
 * to a device model.  Besides the
 * mean per read, the fastest and the median batch (per read): the host
 * running qemu can only make a batch slower, so the fastest is the figure
 * its noise disturbs least.
 *
 * With BENCH_PORT2 (served by another device model of the same guest), the
 * batches alternate between the two ports, ABBA, so that a slow spell of
 * the host hits both alike; then one more line compares them pair by pair:
 *
 *   BENCH-PAIRED a=0x<port> b=0x<port2> pairs=<n> ratio_p50_permille=<n> ratio_min_permille=<n>
 *
 * the median over the pairs of batch(a) / batch(b), and fastest(a) /
 * fastest(b), in thousandths.
 */
static void bench(void)
{
	static u64 a[BENCH_BATCHES];
	u64 warm = rdtsc() + ms_to_tsc(BENCH_WARMUP_MS);

	/* Steady state only: whoever set up the device models may still be busy in dom0. */
	while (rdtsc() < warm) {
		(void)inl(BENCH_PORT);
#ifdef BENCH_PORT2
		(void)inl(BENCH_PORT2);
#endif
	}
#ifdef BENCH_PORT2
	static u64 b[BENCH_BATCHES], q[BENCH_BATCHES];
	struct line l = {.len = 0};

	for (u32 i = 0; i < BENCH_BATCHES; i++) {
		if (i % 2) {
			b[i] = bench_batch(BENCH_PORT2, 1);
			a[i] = bench_batch(BENCH_PORT, 0);
		} else {
			a[i] = bench_batch(BENCH_PORT, 0);
			b[i] = bench_batch(BENCH_PORT2, 1);
		}
		q[i] = permille(a[i], b[i]);
	}
	sort_u64(q, BENCH_BATCHES);
	bench_report(BENCH_PORT, a, 0);
	bench_report(BENCH_PORT2, b, 1);
	line_str(&l, "BENCH-PAIRED a=");
	line_hex(&l, BENCH_PORT);
	line_str(&l, " b=");
	line_hex(&l, BENCH_PORT2);
	line_str(&l, " pairs=");
	line_dec(&l, BENCH_BATCHES);
	line_str(&l, " ratio_p50_permille=");
	line_dec(&l, q[BENCH_BATCHES / 2]);
	line_str(&l, " ratio_min_permille=");
	line_dec(&l, permille(a[0], b[0]));
	line_end(&l);
#else
	for (u32 i = 0; i < BENCH_BATCHES; i++)
		a[i] = bench_batch(BENCH_PORT, 0);
	bench_report(BENCH_PORT, a, 0);
#endif
}
#endif

void runner_main(void)
{
	struct line l = {.len = 0};
	u32 failed = 0;

	cpu_early_init();
	cpu_local_init();
	line_str(&l, "GUEST-INFO scenarios=");
	line_dec(&l, gscn_count);
	line_str(&l, " tsc_khz=");
	line_dec(&l, tsc_khz);
	line_end(&l);

	for (unsigned r = 0; r < SCN_REPEAT; r++)
		for (unsigned i = 0; i < gscn_count; i++)
			failed += run_scenario(&gscn_table[i]);
#ifdef BENCH_PORT
	bench();
#endif
	sh.quit = 1;
	line_str(&l, "GUEST-DONE ");
	line_dec(&l, gscn_count * SCN_REPEAT);
	line_str(&l, " failed=");
	line_dec(&l, failed);
	line_end(&l);
}
