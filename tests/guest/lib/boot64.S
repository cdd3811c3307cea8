/* SPDX-License-Identifier: MIT */
/*
 * Multiboot v1 entry for 64-bit test kernels: the loader enters the 32-bit
 * code below; it identity-maps 0-4 GiB with 2 MiB pages, enables PAE and
 * long mode (SDM Vol. 3A, 10.8.5) and continues in 64-bit code.
 */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x00000003

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl _start
_start:
	cli
	movl $stack_top, %esp
	movl %eax, mb_magic
	movl %ebx, mb_info
	pushfl
	popl mb_entry_eflags
	movl %cr0, %ecx
	movl %ecx, mb_entry_cr0

	/* PML4[0] -> PDPT, PDPT[0..3] -> PD[0..3], PD[k][i] -> (k GiB + i * 2 MiB) */
	movl $pdpt, %eax
	orl $0x3, %eax
	movl %eax, pml4
	movl $pd, %eax
	orl $0x3, %eax
	xorl %ecx, %ecx
1:	movl %eax, pdpt(, %ecx, 8)
	addl $4096, %eax
	incl %ecx
	cmpl $4, %ecx
	jb 1b
	xorl %ecx, %ecx
	movl $0x83, %eax	/* P, W, PS */
	xorl %edx, %edx
2:	movl %eax, pd(, %ecx, 8)
	movl %edx, pd + 4(, %ecx, 8)
	addl $0x200000, %eax
	adcl $0, %edx
	incl %ecx
	cmpl $2048, %ecx
	jb 2b

	lgdt boot_gdt_desc
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
	orl $0x80000001, %eax	/* PG, PE */
	movl %eax, %cr0
	ljmp $0x08, $start64

	.code64
start64:
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movq $stack_top, %rsp
	call setup_descriptors
	call main
	movl %eax, %edi
	call exit

	.data
	.align 8
boot_gdt:
	.quad 0
	.quad 0x00af9b000000ffff	/* 0x08: 64-bit code */
	.quad 0x00cf93000000ffff	/* 0x10: data */
boot_gdt_desc:
	.word boot_gdt_desc - boot_gdt - 1
	.long boot_gdt

	.globl mb_magic, mb_info, mb_entry_eflags, mb_entry_cr0
	.align 4
mb_magic:
	.long 0
mb_info:
	.long 0
mb_entry_eflags:
	.long 0
mb_entry_cr0:
	.long 0

	.bss
	.globl pml4, pdpt, pd
	.align 4096
pml4:
	.skip 4096
pdpt:
	.skip 4096
pd:
	.skip 4 * 4096
	.align 16
stack:
	.skip 16384
stack_top:
