; Guest for test_tick: 32-bit flat protected mode (set up by the host through
; KVM_SET_SREGS), loaded at 0x1000. The LAPIC timer runs periodically at its
; fastest rate (vector 0x40, 200 us in KVM) while the guest spins in loops that
; never leave on their own: jmp-to-self, a DEC/JNZ loop in one page, a PAUSE
; loop, and a REPE CMPSB that is restarted for ever. The handler counts ticks
; in [count] (the host watches it) and, after TICKS of them in a phase, makes
; the IRET go to the next phase; each phase starts with OUT 0x10, AL = phase.
; The last phase reports port 0x11 (the number of ticks that hit the middle of
; the REP: RIP on the instruction with ECX neither 0 nor the start value).
bits 32
org 0x1000

TICKS	equ 1000

start:
	lgdt [gdtr]
	lidt [idtr]
	mov esp, 0x8000
	mov al, 0xff				; 8259s masked: only the LAPIC
	out 0x21, al
	out 0xa1, al
	mov dword [0xfee000f0], 0x1ff		; SPIV: software enable
	mov dword [0xfee003e0], 0xb		; TDCR: divide by 1
	mov dword [0xfee00320], 0x20040		; LVTT: periodic, vector 0x40
	mov dword [0xfee00380], 1000		; TMICT: as fast as it goes

	mov dword [next], phase2
	mov al, 1
	out 0x10, al
	sti
p1:	jmp p1

phase2:
	mov dword [next], phase3
	mov al, 2
	out 0x10, al
	mov ecx, 0xffffffff
p2:	dec ecx
	jnz p2
	jmp phase2				; not reached: 4G iterations

phase3:
	mov dword [next], phase4
	mov al, 3
	out 0x10, al
p3:	pause
	jmp p3

phase4:
	mov dword [next], done
	mov al, 4
	out 0x10, al
	cld
p4:	mov esi, 0x10000			; two equal (zero) 64 KiB areas
	mov edi, 0x20000
	mov ecx, 0x10000
rep4:	repe cmpsb
	jmp p4

done:
	cli
	mov dword [0xfee00320], 0x10000		; LVTT masked
	mov eax, [midrep]
	out 0x11, eax
	hlt

handler:
	push eax
	inc dword [count]
	inc dword [phase_ticks]
	cmp dword [esp + 4], rep4		; interrupted inside the REP?
	jne .1
	cmp ecx, 0
	je .1
	cmp ecx, 0x10000
	je .1
	inc dword [midrep]
.1:	cmp dword [phase_ticks], TICKS
	jb .2
	mov dword [phase_ticks], 0
	mov eax, [next]
	mov [esp + 4], eax			; IRET to the next phase
.2:	mov dword [0xfee000b0], 0		; EOI
	pop eax
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
next:	dd 0
phase_ticks: dd 0
midrep:	dd 0
	times 0xff0 - ($ - $$) db 0
count:	dd 0					; at 0x1ff0: test_tick.c watches it
