/* SPDX-License-Identifier: MIT */
/*
 * Entry points of the real-Xen test guest.  Xen's PVH boot starts the first
 * vCPU at the XEN_ELFNOTE_PHYS32_ENTRY address in 32-bit protected mode,
 * paging off, flat segments, %ebx = physical address of hvm_start_info.
 * The second vCPU comes in at ap_entry (cpu.c sets its registers through
 * VCPUOP_initialise).  Both then run with our own GDT, IDT and SSE on.
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define STACK_SIZE 16384	/* per vCPU; cpu.c: stacks[] */

	/* The ELF note that makes this a PVH kernel (Xen's elfnote ABI). */
	.section .note.Xen, "a", @note
	.balign 4
	.long 2f - 1f			/* namesz */
	.long 4f - 3f			/* descsz */
	.long XEN_ELFNOTE_PHYS32_ENTRY
1:	.asciz "Xen"
2:	.balign 4
3:	.long _start
4:	.balign 4

	.text
	.code32
	.globl _start
_start:
	cli
	movl $stacks + STACK_SIZE, %esp
	call cpu_setup
	call runner_main
	jmp halt

	.globl ap_entry
ap_entry:			/* %esp set by VCPUOP_initialise; IF=0 */
	call cpu_setup
	call runner_ap
	/* fall through */

	.globl halt
halt:	/* hlt with IF=0: Xen takes the vCPU down; the last one down powers the domain off */
	cli
	hlt
	jmp halt

/*
 * Per-vCPU setup that C cannot do: PVH leaves the selectors unspecified
 * (and a secondary vCPU's hidden CS has no GDT behind it), so load a GDT
 * of our own and reload every segment, or the first iret would fault.
 * Then turn SSE on (CR0.EM off, CR0.MP on, CR0.TS off, CR4.OSFXSR and
 * OSXMMEXCPT on) for the one-instruction 8-byte MMIO accesses.
 */
cpu_setup:
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl %cr0, %eax
	andl $~((1 << 2) | (1 << 3)), %eax
	orl $(1 << 1), %eax
	movl %eax, %cr0
	movl %cr4, %eax
	orl $((1 << 9) | (1 << 10)), %eax
	movl %eax, %cr4
	ret

/*
 * 256 interrupt stubs, 16 bytes apart (cpu.c points gate N at
 * isr_stubs + 16 * N).  Each pushes a zero error code where the CPU does
 * not push one, then the vector, so that isr_common sees one frame layout.
 */
	.balign 16
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.balign 16
	.if vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30
	.else
	pushl $0
	.endif
	pushl $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pushal
	cld
	pushl %esp		/* struct isr_frame * */
	call isr_dispatch
	addl $4, %esp
	popal
	addl $8, %esp		/* vector and error code */
	iret

	.data
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: code, base 0, 4 GiB, 32-bit */
	.quad 0x00cf92000000ffff	/* 0x10: data, base 0, 4 GiB */
gdt_desc:
	.word gdt_desc - gdt - 1
	.long gdt

	.section .note.GNU-stack, "", @progbits
