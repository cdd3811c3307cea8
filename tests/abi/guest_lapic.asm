; Guest for test_lapic: 32-bit flat protected mode (set up by the host
; through KVM_SET_SREGS), loaded at 0x1000. Masks the 8259s, software-enables
; the LAPIC, reports readiness on port 0x10, then halts with interrupts on
; forever. Every interrupt it takes is reported on port 0x11 with its vector
; (0x40 the LAPIC timer, 0x50 MSIs, 0x02 NMIs) before the handler returns;
; the NMI handler reports with NMIs still blocked (before its IRET).
bits 32
org 0x1000

start:
	lgdt [gdtr]
	lidt [idtr]
	mov al, 0xff				; the 8259s stay out of the way
	out 0x21, al
	out 0xa1, al
	mov dword [0xfee000f0], 0x1ff		; SPIV: software enable, spurious 0xff
	mov al, 1
	out 0x10, al
idle:	sti
	hlt
	jmp idle

timer:	push eax
	mov al, 0x40
	out 0x11, al
	mov dword [0xfee000b0], 0		; EOI
	pop eax
	iret

msi:	push eax
	mov al, 0x50
	out 0x11, al
	mov dword [0xfee000b0], 0
	pop eax
	iret

nmi:	push eax
	mov al, 0x02
	out 0x11, al
	pop eax
	iret

%macro gate 1
	dw %1 - $$ + 0x1000, 0x08, 0x8e00, 0
%endmacro

align 8
gdt:	dq 0
	dq 0x00cf9b000000ffff			; 0x08: code32
	dq 0x00cf93000000ffff			; 0x10: data32
gdtr:	dw gdtr - gdt - 1
	dd gdt
idt:	times 2 dq 0
	gate nmi				; 0x02
	times 0x40 - 3 dq 0
	gate timer				; 0x40
	times 0x50 - 0x41 dq 0
	gate msi				; 0x50
idtr:	dw idtr - idt - 1
	dd idt
