; Guest for test_irqchip's split-irqchip part: 32-bit flat protected mode (set
; up by the host through KVM_SET_SREGS), loaded at 0x1000. Enables the LAPIC,
; reports readiness on port 0x10 and halts with interrupts on. Vectors 0x41,
; 0x42 and 0x43 each EOI and then report their vector on port 0x13.
bits 32
org 0x1000

start:
	lgdt [gdtr]
	lidt [idtr]
	mov dword [0xfee000f0], 0x1ff		; SPIV: software enable, spurious 0xff
	mov al, 1
	out 0x10, al
	sti
.wait:	hlt
	jmp .wait

%macro handler 1
h%1:	mov dword [0xfee000b0], 0		; EOI
	mov al, %1
	out 0x13, al
	iret
%endmacro
	handler 0x41
	handler 0x42
	handler 0x43

align 8
gdt:	dq 0
	dq 0x00cf9b000000ffff			; 0x08: code32
	dq 0x00cf93000000ffff			; 0x10: data32
gdtr:	dw gdtr - gdt - 1
	dd gdt
idt:	times 0x41 dq 0
	dw h0x41 - $$ + 0x1000, 0x08, 0x8e00, 0
	dw h0x42 - $$ + 0x1000, 0x08, 0x8e00, 0
	dw h0x43 - $$ + 0x1000, 0x08, 0x8e00, 0
idtr:	dw idtr - idt - 1
	dd idt
