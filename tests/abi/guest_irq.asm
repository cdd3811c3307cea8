; Guest for test_irqchip: 32-bit flat protected mode (set up by the host
; through KVM_SET_SREGS), loaded at 0x1000. Enables the LAPIC, routes IOAPIC
; pin 5 to vector 0x40, reports readiness on port 0x10, then halts with
; interrupts on; each interrupt increments a counter; after the first one it
; reports the counter on port 0x11 and the LAPIC ID on port 0x12.
bits 32
org 0x1000

start:
	lgdt [gdtr]
	lidt [idtr]
	mov al, 0xff				; mask the 8259s: only the IOAPIC path
	out 0x21, al
	out 0xa1, al
	mov dword [0xfee000f0], 0x1ff		; SPIV: software enable, spurious 0xff
	mov dword [0xfec00000], 0x10 + 2 * 5	; IOREDTBL5 low
	mov dword [0xfec00010], 0x40		; vector 0x40, fixed, edge, unmasked
	mov dword [0xfec00000], 0x10 + 2 * 5 + 1
	mov dword [0xfec00010], 0		; destination APIC 0
	mov al, 1
	out 0x10, al
	sti
.wait:	hlt
	cmp byte [count], 0
	je .wait
	cli
	mov al, [count]
	out 0x11, al
	mov eax, [0xfee00020]
	shr eax, 24
	out 0x12, al
	; busy loop with interrupts off: the host interrupts KVM_RUN with a signal
spin:	jmp spin

handler:
	inc byte [count]
	mov dword [0xfee000b0], 0		; EOI
	iret

align 8
gdt:	dq 0
	dq 0x00cf9b000000ffff			; 0x08: code32
	dq 0x00cf93000000ffff			; 0x10: data32
gdtr:	dw gdtr - gdt - 1
	dd gdt
idt:	times 0x40 dq 0
	dw handler - $$ + 0x1000, 0x08, 0x8e00, 0	; gate 0x40
idtr:	dw idtr - idt - 1
	dd idt
count:	db 0
