; Guest for test_pku_la57: 32-bit flat protected mode at 0x1000, CR4.PKE set
; by the host (KVM_SET_SREGS). Reports PKRU (port 0x20), writes PKRU = 0xc
; and stops (port 0x21), then reports PKRU again (port 0x20) and halts.
bits 32
org 0x1000

start:	xor ecx, ecx
	db 0x0f, 0x01, 0xee		; rdpkru (nasm takes it in 64-bit code only)
	out 0x20, eax
	mov eax, 0xc
	xor ecx, ecx
	xor edx, edx
	db 0x0f, 0x01, 0xef		; wrpkru
	mov al, 1
	out 0x21, al
	xor ecx, ecx
	db 0x0f, 0x01, 0xee		; rdpkru (nasm takes it in 64-bit code only)
	out 0x20, eax
	hlt
