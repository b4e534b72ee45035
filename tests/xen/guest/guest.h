/* SPDX-License-Identifier: MIT */
/*
 * The real-Xen test guest: a tiny PVH kernel, 32-bit, paging off, no libc.
 * head.S enters it (XEN_ELFNOTE_PHYS32_ENTRY), cpu.c talks to the CPU and to
 * Xen (console on port 0xe9, hypercalls, second vCPU, IDT and local APIC),
 * runner.c runs the compiled-in scenarios (scn-table.h).
 */
#ifndef DMB_XEN_GUEST_H
#define DMB_XEN_GUEST_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define NR_CPUS 2 /* vCPUs the runner drives (GSCN_MAX_VCPUS) */

/* ---- port and memory access: each is exactly one instruction, one ioreq */
static inline void outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(u16 port, u16 v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(u16 port, u32 v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline u8 inb(u16 port)
{
	u8 v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u16 inw(u16 port)
{
	u16 v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u32 inl(u16 port)
{
	u32 v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/*
 * 8-byte MMIO as ONE access, so Xen emulates a single 8-byte ioreq (two
 * 4-byte moves would be two ioreqs).  SSE is enabled at boot (head.S); the
 * compiler itself never uses SSE (-mno-sse), so xmm0 is ours and cannot
 * even be named as a clobber.
 */
static inline u64 mmio_read64(u32 addr)
{
	u64 v;
	__asm__ volatile("movq (%1), %%xmm0\n\tmovq %%xmm0, %0" : "=m"(v) : "r"(addr) : "memory");
	return v;
}
static inline void mmio_write64(u32 addr, u64 v)
{
	__asm__ volatile("movq %0, %%xmm0\n\tmovq %%xmm0, (%1)" : : "m"(v), "r"(addr) : "memory");
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (u64)hi << 32 | lo;
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* ---- 64-bit arithmetic without libgcc (no __udivdi3 in a -nostdlib i386 link) */
/* v / d for a 32-bit divisor; *rem = v % d. */
static inline u64 div64_32(u64 v, u32 d, u32 *rem)
{
	u32 hi = (u32)(v >> 32), lo = (u32)v, qhi = hi / d, qlo, r = hi % d;

	/* r < d: divl cannot overflow */
	__asm__("divl %4" : "=a"(qlo), "=d"(r) : "0"(lo), "1"(r), "rm"(d));
	if (rem)
		*rem = r;
	return (u64)qhi << 32 | qlo;
}

/* ---- cpu.c */
extern u32 tsc_khz; /* from Xen's CPUID leaf; TSC ticks per millisecond */

void cpu_early_init(void); /* BSP, once: Xen CPUID, hypercall page, IDT */
void cpu_local_init(void); /* every vCPU: lidt, local APIC on */
unsigned cpu_id(void);     /* 0 or 1: from the stack in use */
void cpu_yield(void);      /* SCHEDOP_yield: give the pCPU to dom0 or the other vCPU */
void cpu_yield_irq(void);  /* the same with interrupts on: pending ones come in, never blocks */
int cpu_start_ap(unsigned cpu, void (*entry)(void));
_Noreturn void cpu_halt(void); /* cli; hlt: Xen takes this vCPU down */

/* console on Xen's debug port 0xe9: one line per call, never torn between vCPUs */
struct line {
	char buf[200]; /* Xen's per-domain line buffer (DOMAIN_PBUF_SIZE) */
	unsigned len;
};
void line_str(struct line *l, const char *s);
void line_hex(struct line *l, u64 v);
void line_dec(struct line *l, u64 v);
void line_end(struct line *l); /* writes the line and a newline, resets l */
void say(const char *s);       /* one whole line */

/* MSIs received per vector, by whichever vCPU took them (the runner's msi ops read it) */
extern volatile u32 msi_count[256];

/* ---- runner.c */
void runner_main(void); /* vCPU 0 */
void runner_ap(void);   /* vCPU 1 */

/* ---- head.S */
extern char isr_stubs[]; /* 256 entry stubs, 16 bytes apart */
void ap_entry(void);

#endif
