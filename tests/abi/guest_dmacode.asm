; Guest for test_dmacode: 32-bit flat protected mode, loaded at 0x1000.
; Routes IOAPIC pin 5 to vector 0x40, reports readiness on port 0x10, then
; calls the function at 0x3000 (mov eax, imm32; ret) in a loop with
; interrupts on. Whenever its result changes it reports the new value on
; port 0x11 and goes on. The host rewrites the function's immediate from
; another thread while the vCPU runs (as a device's DMA would) and then
; raises an interrupt: the next call must run the new code.
bits 32
org 0x1000

FN equ 0x3000
COUNT equ 0x5000				; not in a page with code: a store there
					; would itself invalidate translations

start:
	lgdt [gdtr]
	lidt [idtr]
	mov esp, 0x8000
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
	mov ebx, 1				; the value the host starts with
.loop:	mov ecx, FN
	call ecx
	cmp eax, ebx
	je .loop
	mov ebx, eax
	out 0x11, al
	jmp .loop

handler:
	inc dword [COUNT]
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
