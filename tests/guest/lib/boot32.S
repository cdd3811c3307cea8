/* SPDX-License-Identifier: MIT */
/*
 * Multiboot v1 entry for 32-bit test kernels: header, stack, descriptors,
 * main(), exit. Built with AOUT_KLUDGE the header carries the address fields
 * (flag 16) so the kernel can be a flat binary.
 */
#define MB_MAGIC 0x1badb002
#ifdef AOUT_KLUDGE
#define MB_FLAGS 0x00010003
#else
#define MB_FLAGS 0x00000003	/* page-aligned modules, memory information */
#endif

	.section .multiboot, "a"
	.align 4
multiboot_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
#ifdef AOUT_KLUDGE
	.long multiboot_header	/* header_addr */
	.long __load_start	/* load_addr */
	.long _edata		/* load_end_addr */
	.long _end		/* bss_end_addr */
	.long _start		/* entry_addr */
#endif

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
	call setup_descriptors
	call main
	pushl %eax
	call exit

	.data
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
	.align 16
stack:
	.skip 16384
stack_top:
