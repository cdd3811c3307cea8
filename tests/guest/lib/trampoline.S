/* SPDX-License-Identifier: MIT */
/*
 * AP start-up. smp_boot() copies [sipi_start, sipi_end) to 0x7000 and sends
 * SIPI vector 0x07: the AP starts in real mode at 0700:0000 (SDM Vol. 3A,
 * 9.4.4), loads the trampoline's flat GDT, enters protected mode and jumps
 * to ap_start32 in the kernel image. There it takes its stack by APIC ID,
 * for 64-bit kernels enters long mode on the BSP's page tables (SDM Vol.
 * 3A, 10.8.5), and calls ap_main_c(apic_id).
 */
#define TRAMP_BASE 0x7000
#define T(x) ((x) - sipi_start + TRAMP_BASE)
#define MAX_CPUS 16

	.text
	.code16
	.globl sipi_start, sipi_end
sipi_start:
	lahf			/* EFLAGS[7:0] as INIT left them (SDM Table 9-1: 0x02) */
	movb %ah, %dl
	cli
	cld
	movw %cs, %si		/* 0x0700 if the SIPI vector was honoured */
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl T(tramp_gdt_desc)
	movl %cr0, %eax
	andl $0x9fffffff, %eax	/* CD, NW (set by INIT) */
	orl $1, %eax		/* PE */
	movl %eax, %cr0
	ljmpl $0x08, $ap_start32

	.balign 8
tramp_gdt:
	.quad 0
	.quad 0x00cf9b000000ffff	/* 0x08: code, 32-bit, flat */
	.quad 0x00cf93000000ffff	/* 0x10: data, flat */
	.quad 0x00af9b000000ffff	/* 0x18: code, 64-bit */
tramp_gdt_desc:
	.word 4 * 8 - 1
	.long T(tramp_gdt)
sipi_end:

	.code32
ap_start32:
	movzbl %dl, %edi
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl 0xfee00020, %ebx	/* LAPIC ID register */
	shrl $24, %ebx
	cmpl $MAX_CPUS, %ebx
	jae 9f
	movw %si, ap_sipi_cs(, %ebx, 2)
	movl %edi, ap_init_eflags(, %ebx, 4)
	leal 1(%ebx), %esp
	shll $13, %esp
	addl $ap_stacks, %esp
#ifdef __x86_64__
	movl %cr4, %eax
	orl $0x20, %eax		/* PAE */
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx	/* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000000, %eax	/* PG */
	movl %eax, %cr0
	ljmp $0x18, $ap_start64
	.code64
ap_start64:
	movl %esp, %esp		/* zero-extend */
	movl %ebx, %edi
	call ap_main_c
#else
	pushl %ebx
	call ap_main_c
#endif
9:	cli
	hlt
	jmp 9b
