; Guest for test_avx: 32-bit flat protected mode at 0x1000, entered with the
; host's segment state. It enables AVX state the way Linux does (CR4.OSXSAVE,
; XCR0 = x87 | SSE | YMM), loads YMM0-7 and stops (port 0x20 = 1) so the host
; can read and change them through KVM_GET/SET_XSAVE; stores them and saves
; its state with XSAVE (port 0x20 = 2); restores an image the host wrote with
; XRSTOR, stores YMM0-7 again and saves with XSAVEC (port 0x20 = 3).
bits 32
org 0x1000

table:	dd start, pat, out1, xarea, xarea2, out2, xarea3	; for the host

start:	mov eax, cr4
	or eax, (1 << 9) | (1 << 10) | (1 << 18)	; OSFXSR, OSXMMEXCPT, OSXSAVE
	mov cr4, eax
	xor ecx, ecx
	xor edx, edx
	mov eax, 7					; XCR0 = x87 | SSE | YMM
	xsetbv
%assign k 0
%rep 8
	vmovdqu ymm %+ k, [pat + 32 * k]
%assign k k + 1
%endrep
	mov al, 1
	out 0x20, al
%assign k 0
%rep 8
	vmovdqu [out1 + 32 * k], ymm %+ k
%assign k k + 1
%endrep
	mov eax, 7
	xor edx, edx
	xsave [xarea]
	mov al, 2
	out 0x20, al
	mov eax, 7
	xor edx, edx
	xrstor [xarea2]
%assign k 0
%rep 8
	vmovdqu [out2 + 32 * k], ymm %+ k
%assign k k + 1
%endrep
	mov eax, 7
	xor edx, edx
	xsavec [xarea3]
	mov al, 3
	out 0x20, al
	hlt

align 32
pat:	times 256 db 0
out1:	times 256 db 0
out2:	times 256 db 0
align 64
xarea:	times 1024 db 0
xarea2:	times 1024 db 0
xarea3:	times 1024 db 0
