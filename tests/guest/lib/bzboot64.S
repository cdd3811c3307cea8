/* SPDX-License-Identifier: MIT */
/*
 * Entry code for test kernels in bzImage form (make-bzimage.py wraps the
 * image in a setup header). The protected-mode image starts here:
 *   offset 0      the 32-bit boot protocol entry (code32_start)
 *   offset 0x200  the 64-bit boot protocol entry (XLF_KERNEL_64)
 * Documentation/x86/boot.rst: both get RSI/ESI = boot_params, CS = 0x10,
 * DS = ES = SS = 0x18, interrupts off; the 64-bit one in long mode with an
 * identity map. Each records the machine state it was handed (entry_*), then
 * both build the library's own identity map (0-4 GiB, 2 MiB pages) and
 * continue in 64-bit code with the library's descriptors.
 */
	.section .head, "ax"
	.code32
	.globl _start
_start:
	cli
	movl $stack_top, %esp
	movl %esi, entry_bp
	movl $32, entry_mode
	pushfl
	popl entry_eflags
	movl %cr0, %eax
	movl %eax, entry_cr0
	movl %cr4, %eax
	movl %eax, entry_cr4
	movw %cs, entry_cs
	movw %ds, entry_ds
	movw %es, entry_es
	movw %ss, entry_ss
	movl $0xc0000080, %ecx
	rdmsr
	movl %eax, entry_efer

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
	movl $0x83, %eax
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
	orl $0x20, %eax
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax
	movl %eax, %cr0
	ljmp $0x08, $common64

	.org 0x200
	.code64
	.globl startup_64
startup_64:
	cli
	movq $stack_top, %rsp
	movq %rsi, entry_bp(%rip)
	movl $64, entry_mode(%rip)
	pushfq
	popq %rax
	movl %eax, entry_eflags(%rip)
	movq %cr0, %rax
	movl %eax, entry_cr0(%rip)
	movq %cr4, %rax
	movl %eax, entry_cr4(%rip)
	movq %cr3, %rax
	movq %rax, entry_cr3(%rip)
	movw %cs, entry_cs(%rip)
	movw %ds, entry_ds(%rip)
	movw %es, entry_es(%rip)
	movw %ss, entry_ss(%rip)
	movl $0xc0000080, %ecx
	rdmsr
	movl %eax, entry_efer(%rip)

	/* the same identity map, built in 64-bit code */
	leaq pdpt(%rip), %rax
	orq $0x3, %rax
	movq %rax, pml4(%rip)
	leaq pd(%rip), %rax
	orq $0x3, %rax
	leaq pdpt(%rip), %rdi
	movl $4, %ecx
3:	movq %rax, (%rdi)
	addq $4096, %rax
	addq $8, %rdi
	decl %ecx
	jnz 3b
	leaq pd(%rip), %rdi
	movq $0x83, %rax
	movl $2048, %ecx
4:	movq %rax, (%rdi)
	addq $0x200000, %rax
	addq $8, %rdi
	decl %ecx
	jnz 4b
	leaq pml4(%rip), %rax
	movq %rax, %cr3
	lgdt boot_gdt_desc(%rip)
	pushq $0x08
	leaq common64(%rip), %rax
	pushq %rax
	lretq

common64:
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
	.quad boot_gdt

	.globl entry_bp, entry_mode, entry_eflags, entry_cr0, entry_cr3, entry_cr4, entry_efer
	.globl entry_cs, entry_ds, entry_es, entry_ss
	.globl mb_magic, mb_info, mb_entry_eflags, mb_entry_cr0
	.align 8
entry_bp:
	.quad 0
entry_cr3:
	.quad 0
entry_mode:
	.long 0
entry_eflags:
	.long 0
entry_cr0:
	.long 0
entry_cr4:
	.long 0
entry_efer:
	.long 0
entry_cs:
	.word 0
entry_ds:
	.word 0
entry_es:
	.word 0
entry_ss:
	.word 0
	/* the library's multiboot view: not booted by multiboot */
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
