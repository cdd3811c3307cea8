; Guest for test_fpu: 32-bit flat protected mode at 0x1000, entered with the
; host's segment state (no GDT loads). It enables SSE and XSAVE the way Linux
; does, loads XMM0-7, three x87 registers and MXCSR, and stops (port 0x20 = 1)
; so the host can read and change that state; then it stores what it has
; with FXSAVE, XSAVE and XGETBV and stops again (port 0x20 = 2).
; Port 0x22 reports CPUID.1:ECX after CR4.OSXSAVE is set. The table at the
; start gives the host the entry point and the addresses of the data.
bits 32
org 0x1000

table:	dd start, pat, val, mx, xcr0, fxarea, xarea, x87	; for the host

start:	mov eax, cr4
	or eax, (1 << 9) | (1 << 10) | (1 << 18)	; OSFXSR, OSXMMEXCPT, OSXSAVE
	mov cr4, eax
	xor ecx, ecx
	xor edx, edx
	mov eax, 3					; XCR0 = x87 | SSE
	xsetbv
	mov eax, 1
	cpuid
	mov eax, ecx
	out 0x22, eax
	movdqu xmm0, [pat + 0]
	movdqu xmm1, [pat + 16]
	movdqu xmm2, [pat + 32]
	movdqu xmm3, [pat + 48]
	movdqu xmm4, [pat + 64]
	movdqu xmm5, [pat + 80]
	movdqu xmm6, [pat + 96]
	movdqu xmm7, [pat + 112]
	fninit
	fld1
	fldpi
x87:	fld qword [val]
	ldmxcsr [mx]
	mov al, 1
	out 0x20, al
	fxsave [fxarea]
	mov eax, 3
	xor edx, edx
	xsave [xarea]
	xor ecx, ecx
	xgetbv
	mov [xcr0], eax
	mov al, 2
	out 0x20, al
	hlt

align 16
pat:	times 128 db 0
val:	dq 2.5
mx:	dd 0x9fc0
xcr0:	dd 0
align 16
fxarea:	times 512 db 0
align 64
xarea:	times 576 db 0
