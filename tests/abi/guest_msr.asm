; Guest for test_msr: real mode at 0x1000. #GP goes to a handler that
; reports on port 0x1d and skips the 2-byte RDMSR/WRMSR.
;   A: rdmsr STAR           -> out 0x10 eax, out 0x11 edx
;   B: rdmsr 0xdeadbeef     -> out 0x10 eax
;   C: wrmsr STAR           -> out 0x12
;   D: rdmsr 0xdeadbeef     -> out 0x10 eax
;   E: rdmsr 0x802 (x2APIC) -> out 0x13 (never filtered: #GP or exit reason
;                              other than FILTER)
bits 16
org 0x1000

start:
	xor ax, ax
	mov ds, ax
	mov ss, ax
	mov sp, 0x8000
	mov word [13 * 4], gp_handler
	mov word [13 * 4 + 2], 0

	mov ecx, 0xc0000081		; A
	rdmsr
	out 0x10, eax
	mov eax, edx
	out 0x11, eax

	mov ecx, 0xdeadbeef		; B
	rdmsr
	out 0x10, eax

	mov ecx, 0xc0000081		; C
	mov eax, 0x11223344
	mov edx, 0x55667788
	wrmsr
	out 0x12, al

	mov ecx, 0xdeadbeef		; D
	xor eax, eax
	rdmsr
	out 0x10, eax

	mov ecx, 0x802			; E
	rdmsr
	out 0x13, al
	hlt

gp_handler:
	push bp
	mov bp, sp
	add word [bp + 2], 2		; past the RDMSR/WRMSR
	pop bp
	push ax
	mov al, 13
	out 0x1d, al
	pop ax
	iret
