/* SPDX-License-Identifier: MIT */
/*
 * Real mode for pitpic.c. rm_run() leaves protected mode (SDM Vol. 3A,
 * 9.9.2: through a 16-bit segment, CR0.PE = 0, a far jump), loads the IVT
 * (base 0, limit 0x3ff) and runs rm_test from the blob that pitpic.c copied
 * to RM_BASE, then comes back to the kernel's protected mode.
 *
 * rm_test programs the 8259 pair (ICW1-4, vectors 0x08/0x70 as a BIOS
 * does) and PIT channel 0 (mode 2) from the parameter block, counts IRQ0
 * through IVT entry 8 (with the PM timer at the first and the last one)
 * until p_target came or p_ticks PM-timer ticks passed, reads the master's
 * IRR and ISR, then masks everything and quiets the PIT.
 */
#define RM_BASE 0x8000
#define RM_SEG	(RM_BASE >> 4)
#define O(x)	((x) - rm_start)

/* p_mode bits */
#define M_EOI	   1 /* the handler sends EOI */
#define M_AEOI	   2 /* ICW4 auto-EOI */
#define M_MASK	   4 /* IRQ0 masked in OCW1 */
#define M_SPECIFIC 8 /* specific EOI (0x60) instead of non-specific (0x20) */

	.text
	.code16
	.globl rm_start, rm_end, rm_irq0, rm_spurious
	.globl p_count, p_ticks, p_target, p_mode, r_count, r_first, r_last, r_spurious
	.globl r_irr, r_isr, r_imr
	.globl r_latch1, r_latch2
rm_start:
/* from rm_run: a 16-bit code segment based at RM_BASE */
pm16:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl %cr0, %eax
	andl $~1, %eax
	movl %eax, %cr0
	ljmp $RM_SEG, $O(rm_entry)
rm_entry:
	movw $RM_SEG, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $O(rm_stack_top), %sp
	lidt O(ivt_desc)
	call rm_test
	cli
	lgdtl O(back_gdt_desc)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x18, $pm32_back

rm_test:
	/* ICW1: edge, cascade, ICW4; ICW2: vectors; ICW3: cascade on IRQ2; ICW4 */
	movb $0x11, %al
	outb %al, $0x20
	outb %al, $0xa0
	movb $0x08, %al
	outb %al, $0x21
	movb $0x70, %al
	outb %al, $0xa1
	movb $0x04, %al
	outb %al, $0x21
	movb $0x02, %al
	outb %al, $0xa1
	movb $0x01, %al
	testw $M_AEOI, O(p_mode)
	jz 1f
	movb $0x03, %al
1:	outb %al, $0x21
	movb $0x01, %al
	outb %al, $0xa1
	/* OCW1: only IRQ0 (or nothing) */
	movb $0xfe, %al
	testw $M_MASK, O(p_mode)
	jz 1f
	movb $0xff, %al
1:	outb %al, $0x21
	movb $0xff, %al
	outb %al, $0xa1
	inb $0x21, %al
	movb %al, O(r_imr)

	/* PIT channel 0: LSB then MSB, mode 2 (rate generator) */
	movb $0x34, %al
	outb %al, $0x43
	movw O(p_count), %ax
	outb %al, $0x40
	movb %ah, %al
	outb %al, $0x40
	/* two counter latches a little apart */
	movb $0x00, %al
	outb %al, $0x43
	inb $0x40, %al
	movb %al, %bl
	inb $0x40, %al
	movb %al, %bh
	movw %bx, O(r_latch1)
	movw $2000, %cx
1:	inb $0x80, %al
	loop 1b
	movb $0x00, %al
	outb %al, $0x43
	inb $0x40, %al
	movb %al, %bl
	inb $0x40, %al
	movb %al, %bh
	movw %bx, O(r_latch2)

	movl $0, O(r_count)
	movl $0, O(r_spurious)
	movw $0x608, %dx
	inl %dx, %eax
	andl $0xffffff, %eax
	movl %eax, %esi
	sti
	/* until p_target interrupts came (if non-zero) or p_ticks PM-timer ticks passed */
1:	movl O(p_target), %eax
	testl %eax, %eax
	jz 2f
	cmpl O(r_count), %eax
	jbe 3f
2:	inl %dx, %eax
	subl %esi, %eax
	andl $0xffffff, %eax
	cmpl O(p_ticks), %eax
	jb 1b
3:	cli

	/* OCW3: read IRR, then ISR */
	movb $0x0a, %al
	outb %al, $0x20
	inb $0x20, %al
	movb %al, O(r_irr)
	movb $0x0b, %al
	outb %al, $0x20
	inb $0x20, %al
	movb %al, O(r_isr)
	/* quiet: everything masked, the ISR cleared, PIT mode 0 with count 1 */
	movb $0xff, %al
	outb %al, $0x21
	movb $0x20, %al
	outb %al, $0x20
	outb %al, $0x20
	movb $0x30, %al
	outb %al, $0x43
	movb $1, %al
	outb %al, $0x40
	movb $0, %al
	outb %al, $0x40
	ret

/* IVT entry 8: IRQ0; the PM timer at the first and the latest interrupt */
rm_irq0:
	pushl %eax
	pushw %dx
	movw $0x608, %dx
	inl %dx, %eax
	movl %eax, %cs:O(r_last)
	cmpl $0, %cs:O(r_count)
	jne 1f
	movl %eax, %cs:O(r_first)
1:	popw %dx
	incl %cs:O(r_count)
	testw $M_EOI, %cs:O(p_mode)
	jz 2f
	movb $0x20, %al
	testw $M_SPECIFIC, %cs:O(p_mode)
	jz 1f
	movb $0x60, %al
1:	outb %al, $0x20
2:	popl %eax
	iret

/* IVT entry 0x0f: the master's spurious IRQ7 */
rm_spurious:
	incl %cs:O(r_spurious)
	iret

	.balign 4
p_count:	.word 0
p_mode:		.word 0
p_ticks:	.long 0
p_target:	.long 0
r_count:	.long 0
r_first:	.long 0
r_last:		.long 0
r_spurious:	.long 0
r_latch1:	.word 0
r_latch2:	.word 0
r_irr:		.byte 0
r_isr:		.byte 0
r_imr:		.byte 0
	.balign 4
ivt_desc:
	.word 0x3ff
	.long 0
back_gdt_desc:
	.word 5 * 8 - 1
	.long rm_gdt
	.balign 16
rm_stack:
	.skip 512
rm_stack_top:
rm_end:

/* ---- protected-mode side, in the kernel image ---- */
	.data
	.balign 16
rm_gdt:
	.quad 0
	.quad 0x00009b000000ffff | (RM_BASE << 16)	/* 0x08: code, 16-bit, base RM_BASE */
	.quad 0x000093000000ffff			/* 0x10: data, 16-bit, base 0 */
	.quad 0x00cf9b000000ffff			/* 0x18: code, 32-bit, flat */
	.quad 0x00cf93000000ffff			/* 0x20: data, flat */
rm_gdt_desc:
	.word 5 * 8 - 1
	.long rm_gdt
saved_gdt:
	.word 0
	.long 0
saved_idt:
	.word 0
	.long 0
saved_esp:
	.long 0

	.text
	.code32
	.globl rm_run
rm_run:
	pushal
	movl %esp, saved_esp
	sgdt saved_gdt
	sidt saved_idt
	cli
	lgdt rm_gdt_desc
	ljmp $0x08, $0		/* pm16, at the start of the copied blob */
pm32_back:
	movl $0x20, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	lgdt saved_gdt
	ljmp $0x08, $1f		/* the kernel's KERNEL_CS */
1:	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	lidt saved_idt
	movl saved_esp, %esp
	popal
	ret
