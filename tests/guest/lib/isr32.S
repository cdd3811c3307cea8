/* SPDX-License-Identifier: MIT */
/* 256 exception/interrupt stubs, 16 bytes apart, and the common 32-bit path. */
	.text
	.code32
	.globl isr_stubs
	.align 16
isr_stubs:
	.set vec, 0
	.rept 256
	.align 16
	/* vectors that push an error code: 8, 10-14, 17, 21, 29, 30 */
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushl $0
	.endif
	pushl $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pushal
	mov %esp, %eax
	cld
	pushl %eax
	call handle_exception
	addl $4, %esp
	popal
	addl $8, %esp	/* vector and error code */
	iretl
