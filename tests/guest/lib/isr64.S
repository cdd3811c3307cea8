/* SPDX-License-Identifier: MIT */
/* 256 exception/interrupt stubs, 16 bytes apart, and the common 64-bit path. */
	.text
	.code64
	.globl isr_stubs
	.align 16
isr_stubs:
	.set vec, 0
	.rept 256
	.align 16
	/* vectors that push an error code: 8, 10-14, 17, 21, 29, 30 */
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pushq %r15
	pushq %r14
	pushq %r13
	pushq %r12
	pushq %r11
	pushq %r10
	pushq %r9
	pushq %r8
	pushq %rbp
	pushq %rdi
	pushq %rsi
	pushq %rdx
	pushq %rcx
	pushq %rbx
	pushq %rax
	movq %rsp, %rdi
	cld
	call handle_exception
	popq %rax
	popq %rbx
	popq %rcx
	popq %rdx
	popq %rsi
	popq %rdi
	popq %rbp
	popq %r8
	popq %r9
	popq %r10
	popq %r11
	popq %r12
	popq %r13
	popq %r14
	popq %r15
	addq $16, %rsp	/* vector and error code */
	iretq
