/* SPDX-License-Identifier: MIT */
/*
 * The CPU and Xen side of the test guest: Xen's CPUID leaves and hypercall
 * page, the second vCPU, the IDT and local APIC for MSIs, and the console
 * on Xen's debug port 0xe9 (printed as "(dN) ..." on Xen's console with
 * guest_loglvl=all).
 */
#include "guest.h"

#define STACK_SIZE 16384 /* head.S uses the same */

/* Stacks of vCPU 0 and 1; cpu_id() tells them apart. */
u8 stacks[NR_CPUS][STACK_SIZE] __attribute__((aligned(16)));

u32 tsc_khz;
volatile u32 msi_count[256];

/* ---- Xen: CPUID leaves and the hypercall page (Xen writes the right
 * vmcall/vmmcall stubs into it, so we need not know the CPU vendor) */

static u8 hypercall_page[4096] __attribute__((aligned(4096)));

#define HYPERVISOR_vcpu_op  24
#define HYPERVISOR_sched_op 29
#define VCPUOP_initialise   0
#define VCPUOP_up           1
#define SCHEDOP_yield       0

static void cpuid(u32 leaf, u32 sub, u32 r[4])
{
	__asm__ volatile("cpuid"
	                 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
	                 : "0"(leaf), "2"(sub));
}

static void wrmsr(u32 msr, u64 v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}

static int hypercall3(unsigned op, u32 a1, u32 a2, u32 a3)
{
	u32 ret = (u32)hypercall_page + op * 32;

	/* 32-bit HVM ABI: op in %eax (the stub loads it), arguments in %ebx, %ecx, %edx */
	__asm__ volatile("call *%%eax"
	                 : "+a"(ret), "+b"(a1), "+c"(a2), "+d"(a3)
	                 :
	                 : "esi", "edi", "memory");
	return (int)ret;
}

static u32 xen_cpuid_base(void)
{
	u32 r[4];

	for (u32 base = 0x40000000; base < 0x40010000; base += 0x100) {
		cpuid(base, 0, r);
		/* "XenVMMXenVMM" in ebx, ecx, edx */
		if (r[1] == 0x566e6558 && r[2] == 0x65584d4d && r[3] == 0x4d4d566e &&
		    r[0] >= base + 3)
			return base;
	}
	return 0;
}

void cpu_yield(void)
{
	hypercall3(HYPERVISOR_sched_op, SCHEDOP_yield, 0, 0);
}

/*
 * Xen injects a pending interrupt when it enters the vCPU with IF set, so a
 * hypercall made with interrupts on is a window that always works.  A bare
 * "sti; pause; cli" is not: under qemu's TCG interrupts are only taken
 * between translated blocks, and an MSI waited 4 s there.  No hlt, so a
 * missing interrupt cannot hang us.
 */
void cpu_yield_irq(void)
{
	__asm__ volatile("sti" ::: "memory");
	cpu_yield();
	__asm__ volatile("cli" ::: "memory");
}

/* xen/hvm/hvm_vcpu.h: struct vcpu_hvm_context with the 32-bit register set */
struct vcpu_hvm_context32 {
	u32 mode, pad;
	u32 eax, ecx, edx, ebx, esp, ebp, esi, edi, eip, eflags;
	u32 cr0, cr3, cr4, pad1;
	u64 efer;
	u32 cs_base, ds_base, ss_base, es_base, tr_base;
	u32 cs_limit, ds_limit, ss_limit, es_limit, tr_limit;
	u16 cs_ar, ds_ar, ss_ar, es_ar, tr_ar, pad2[3];
} __attribute__((packed));
_Static_assert(sizeof(struct vcpu_hvm_context32) == 8 + 120, "vcpu_hvm_context layout");

static struct vcpu_hvm_context32 ap_ctx __attribute__((aligned(8)));

/* Start vCPU `cpu` at entry, flat 32-bit like the first one, on its own stack. */
int cpu_start_ap(unsigned cpu, void (*entry)(void))
{
	int r;

	ap_ctx = (struct vcpu_hvm_context32){
	        .mode = 0, /* VCPU_HVM_MODE_32B */
	        .eip = (u32)entry,
	        .esp = (u32)stacks[cpu] + STACK_SIZE,
	        .eflags = 0x2,
	        .cr0 = 0x11, /* PE | ET: protected mode, no paging */
	        .cs_limit = 0xffffffff,
	        .ds_limit = 0xffffffff,
	        .ss_limit = 0xffffffff,
	        .es_limit = 0xffffffff,
	        .tr_limit = 0x67,
	        .cs_ar = 0xc9b, /* G, D, P, S, code execute/read accessed */
	        .ds_ar = 0xc93, /* G, D, P, S, data read/write accessed */
	        .ss_ar = 0xc93,
	        .es_ar = 0xc93,
	        .tr_ar = 0x8b, /* busy 32-bit TSS */
	};
	r = hypercall3(HYPERVISOR_vcpu_op, VCPUOP_initialise, cpu, (u32)&ap_ctx);
	if (r < 0)
		return r;
	return hypercall3(HYPERVISOR_vcpu_op, VCPUOP_up, cpu, 0);
}

unsigned cpu_id(void)
{
	u32 sp;

	__asm__ volatile("movl %%esp, %0" : "=r"(sp));
	return sp >= (u32)stacks[1] && sp < (u32)stacks[1] + STACK_SIZE;
}

_Noreturn void cpu_halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}

/* ---- interrupts: one IDT for both vCPUs, each vCPU's own (emulated) local APIC */

#define LAPIC     0xfee00000u
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define SPURIOUS  0xff

struct idt_gate {
	u16 off_lo, sel;
	u8 zero, type;
	u16 off_hi;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(8)));
static struct {
	u16 limit;
	u32 base;
} __attribute__((packed)) idt_desc;

static inline void lapic_write(u32 reg, u32 v)
{
	*(volatile u32 *)(LAPIC + reg) = v;
}

/* What isr_common (head.S) pushed: pushal, the stub's vector and error code, the CPU's frame. */
struct isr_frame {
	u32 edi, esi, ebp, esp, ebx, edx, ecx, eax;
	u32 vec, err;
	u32 eip, cs, eflags;
};

void isr_dispatch(struct isr_frame *f);
void isr_dispatch(struct isr_frame *f)
{
	struct line l = {.len = 0};

	if (f->vec < 32) {
		/* a bug in the guest or an access Xen refused: say where, stop this vCPU */
		line_str(&l, "GUEST-EXCEPTION vcpu");
		line_dec(&l, cpu_id());
		line_str(&l, " vector=");
		line_dec(&l, f->vec);
		line_str(&l, " err=");
		line_hex(&l, f->err);
		line_str(&l, " eip=");
		line_hex(&l, f->eip);
		line_end(&l);
		cpu_halt();
	}
	if (f->vec == SPURIOUS)
		return; /* a spurious interrupt takes no EOI */
	__sync_fetch_and_add(&msi_count[f->vec], 1);
	lapic_write(LAPIC_EOI, 0);
}

void cpu_early_init(void)
{
	u32 base = xen_cpuid_base(), r[4];

	if (!base) {
		say("GUEST-ERROR no Xen CPUID leaves");
		cpu_halt();
	}
	cpuid(base + 2, 0, r);
	wrmsr(r[1], (u32)hypercall_page);
	cpuid(base + 3, 0, r);
	tsc_khz = r[2] ? r[2] : 1000000; /* unknown: assume 1 GHz */

	for (unsigned v = 0; v < 256; v++) {
		u32 a = (u32)isr_stubs + 16 * v;

		idt[v] = (struct idt_gate){(u16)a, 0x08, 0,
		                           0x8e /* P, DPL 0, 32-bit interrupt gate */,
		                           (u16)(a >> 16)};
	}
	idt_desc.limit = sizeof(idt) - 1;
	idt_desc.base = (u32)idt;
}

void cpu_local_init(void)
{
	__asm__ volatile("lidt %0" : : "m"(idt_desc));
	lapic_write(LAPIC_TPR, 0);                /* accept every priority */
	lapic_write(LAPIC_SVR, 0x100 | SPURIOUS); /* software-enable */
}

/* ---- console: Xen collects port 0xe9 bytes into one line per domain, so a
 * line is written whole under a lock, or two vCPUs' lines would mix */

static volatile u32 cons_lock;

void line_str(struct line *l, const char *s)
{
	while (*s && l->len < sizeof(l->buf) - 1) /* keep room for the newline */
		l->buf[l->len++] = *s++;
}

void line_hex(struct line *l, u64 v)
{
	char b[19];
	int i = sizeof(b) - 1;

	b[i] = '\0';
	do {
		b[--i] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	} while (v);
	b[--i] = 'x';
	b[--i] = '0';
	line_str(l, b + i);
}

void line_dec(struct line *l, u64 v)
{
	char b[21];
	int i = sizeof(b) - 1;
	u32 rem;

	b[i] = '\0';
	do {
		v = div64_32(v, 10, &rem);
		b[--i] = (char)('0' + rem);
	} while (v);
	line_str(l, b + i);
}

void line_end(struct line *l)
{
	u32 n = 0, len;
	const char *p = l->buf;

	l->buf[l->len++] = '\n';
	len = l->len;
	/* bounded: a vCPU that died holding the lock must not silence the other */
	while (__sync_lock_test_and_set(&cons_lock, 1) && ++n < 1000000)
		cpu_relax();
	/* one exit for the whole line: Xen's 0xe9 handler takes string outs */
	__asm__ volatile("rep outsb" : "+S"(p), "+c"(len) : "d"(0xe9) : "memory");
	__sync_lock_release(&cons_lock);
	l->len = 0;
}

void say(const char *s)
{
	struct line l = {.len = 0};

	line_str(&l, s);
	line_end(&l);
}

/* gcc may call these for struct copies even when freestanding */
void *memcpy(void *d, const void *s, unsigned n);
void *memset(void *d, int c, unsigned n);
void *memcpy(void *d, const void *s, unsigned n)
{
	u8 *dp = d;
	const u8 *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memset(void *d, int c, unsigned n)
{
	u8 *dp = d;

	while (n--)
		*dp++ = (u8)c;
	return d;
}
