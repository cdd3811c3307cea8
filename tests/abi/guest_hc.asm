; Guest for test_hypercall: 32-bit flat protected mode (set up by the host
; through KVM_SET_SREGS), loaded at 0x1000, CPL 0. Each hypercall's RAX is
; reported on port 0x10; the handler of vector 0x50 reports on port 0x11.
bits 32
org 0x1000

%macro hc 5				; nr, a0, a1, a2, a3
	mov eax, %1
	mov ebx, %2
	mov ecx, %3
	mov edx, %4
	mov esi, %5
	vmcall
	out 0x10, eax
%endmacro

start:
	lgdt [gdtr]
	lidt [idtr]
	mov esp, 0x8000
	mov dword [0xfee000f0], 0x1ff	; SPIV: LAPIC on
	hc 1, 0, 0, 0, 0		; KVM_HC_VAPIC_POLL_IRQ -> 0
	hc 999, 0, 0, 0, 0		; unknown -> -KVM_ENOSYS
	hc 9, 0, 0, 0, 0		; KVM_HC_CLOCK_PAIRING -> -KVM_EOPNOTSUPP
	hc 11, 0, 0, 0, 0		; KVM_HC_SCHED_YIELD -> 0
	hc 10, 0, 0, 0, 0x850		; SEND_IPI, logical destination -> -KVM_EINVAL
	sti
	hc 10, 1, 0, 0, 0x50		; SEND_IPI to APIC ID 0, vector 0x50 -> 1 (handler first)
	hc 10, 2, 0, 0, 0x50		; APIC ID 1: nobody -> 0
	mov eax, 999			; VMMCALL is a hypercall too
	vmmcall
	out 0x10, eax
	cli
	hc 5, 0, 0, 0, 0		; KVM_HC_KICK_CPU of APIC ID 0 (itself) -> 0
	hlt				; ends at once: the kick is pending
	mov al, 0x14
	out 0x14, al
	hlt				; with IF = 0 and no kick: sleeps for good

h50:	push eax
	mov al, 0x50
	out 0x11, al
	mov dword [0xfee000b0], 0	; EOI
	pop eax
	iret

align 8
gdt:	dq 0
	dq 0x00cf9b000000ffff		; 0x08: code32
	dq 0x00cf93000000ffff		; 0x10: data32
gdtr:	dw gdtr - gdt - 1
	dd gdt
idt:	times 0x50 dq 0
	dw h50 - $$ + 0x1000, 0x08, 0x8e00, 0
idtr:	dw idtr - idt - 1
	dd idt
