; Guest for test_run: real mode at 0x1000; interrupt and NMI handlers in
; the IVT count deliveries; the host drives each step (see test_run.c).
bits 16
org 0x1000

start:
	xor ax, ax
	mov ds, ax
	mov ss, ax
	mov sp, 0x8000
	mov word [0x40 * 4], irq_handler
	mov word [0x40 * 4 + 2], 0
	mov word [2 * 4], nmi_handler
	mov word [2 * 4 + 2], 0
	out 0x10, al			; 1: ready
	sti
.irq:	cmp byte [count], 0		; 2: interrupt window, then KVM_INTERRUPT
	je .irq
	out 0x11, al
	cli
.nmi:	cmp byte [nmis], 0		; 3: KVM_NMI with IF=0
	je .nmi
	out 0x12, al
ss_start:				; 4: single steps
	nop
	inc ax
	nop
sw_bp:	int3				; 5: software breakpoint
hw_bp:	out 0x13, al			; 6: hardware breakpoint, then the OUT
	lidt [zero_idt]			; 7: no IDT: triple fault
	int 0x21
	hlt

irq_handler:
	inc byte [count]
	iret
nmi_handler:
	inc byte [nmis]
	iret

zero_idt:
	dw 0
	dd 0
count:	db 0
nmis:	db 0
