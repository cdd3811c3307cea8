; Guest for test_lapic: 32-bit flat protected mode (set up by the host
; through KVM_SET_SREGS), loaded at 0x1000. Masks the 8259s, software-enables
; the LAPIC, reports readiness on port 0x10, then halts with interrupts on
; forever. Every interrupt it takes is reported on port 0x11 with its vector
; (0x40 the LAPIC timer, 0x50 MSIs, 0x02 NMIs) before the handler returns;
; the NMI handler reports with NMIs still blocked (before its IRET). With the
; byte at QUIET set by the host, handlers only count, in the dwords after it
; (timer, MSI, NMI), without exits.
bits 32
org 0x1000

QUIET	equ 0x3000
N_TIMER	equ 0x3004
N_MSI	equ 0x3008
N_NMI	equ 0x300c

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
	lock inc dword [N_TIMER]
	mov al, 0x40
	cmp byte [QUIET], 0
	jne .q
	out 0x11, al
.q:	mov dword [0xfee000b0], 0		; EOI
	pop eax
	iret

msi:	push eax
	lock inc dword [N_MSI]
	mov al, 0x50
	cmp byte [QUIET], 0
	jne .q
	out 0x11, al
.q:	mov dword [0xfee000b0], 0
	pop eax
	iret

nmi:	push eax
	lock inc dword [N_NMI]
	mov al, 0x02
	cmp byte [QUIET], 0
	jne .q
	out 0x11, al
.q:	pop eax
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
