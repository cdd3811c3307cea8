; Guest for test_cpuid: one MSR access or CPUID in real mode at 0x1000, as
; the host wrote it at 0x500: ECX = [0x500], EAX = [0x504], EDX = [0x508];
; byte [0x50c]: 0 WRMSR, 1 RDMSR, 2 CPUID (EAX and ECX in, the four results
; stored at 0x510). Reports on port 0x30: 0 when the instruction completed,
; 13 when it raised #GP; then HLT.
bits 16
org 0x1000

start:
	xor ax, ax
	mov ds, ax
	mov ss, ax
	mov sp, 0x8000
	mov word [13 * 4], gp_handler
	mov word [13 * 4 + 2], 0
	mov ecx, [0x500]
	mov eax, [0x504]
	mov edx, [0x508]
	cmp byte [0x50c], 2
	je .cpuid
	cmp byte [0x50c], 0
	jne .read
	wrmsr
	jmp .done
.read:
	rdmsr
	jmp .done
.cpuid:
	cpuid
	mov [0x510], eax
	mov [0x514], ebx
	mov [0x518], ecx
	mov [0x51c], edx
.done:
	mov al, 0
	out 0x30, al
	hlt

gp_handler:
	mov al, 13
	out 0x30, al
	hlt
