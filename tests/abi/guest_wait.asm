; Guest for test_waitpkg: 32-bit flat protected mode at 0x1000. The host picks
; a scenario by setting EIP to an entry of the table at the start; results
; come back on ports: 0x20 exception vector, 0x21 CF after a wait, 0x22 a value.
bits 32
org 0x1000

table:	dd t_tpause, t_umwait, t_unarmed, t_reserved, t_rdmsr, t_wrmsr_bad, t_wrmsr
	dd t_store_peer
vars:	dd delta, value, go, line		; for the host

init:	lgdt [gdtr]
	lidt [idtr]
	ret

t_tpause:				; TPAUSE until now + [delta] TSC ticks
	call init
	rdtsc
	add eax, [delta]
	adc edx, [delta + 4]
	xor ecx, ecx
	tpause ecx
	setc al
	out 0x21, al
	hlt

t_umwait:				; UMWAIT on the monitored line, deadline now + [delta]
	call init
	mov eax, line
	umonitor eax
	mov al, 1
	out 0x23, al			; armed: the host may now write the line
	rdtsc
	add eax, [delta]
	adc edx, [delta + 4]
	mov ecx, 1			; C0.1
	umwait ecx
	setc al
	out 0x21, al
	hlt

t_unarmed:				; UMWAIT with no monitor armed returns at once
	call init
	rdtsc
	add eax, [delta]
	adc edx, [delta + 4]
	xor ecx, ecx
	umwait ecx
	setc al
	out 0x21, al
	hlt

t_reserved:				; reserved bits of the hint: #GP
	call init
	mov ecx, 2
	tpause ecx
	hlt

t_rdmsr:
	call init
	mov ecx, 0xe1
	rdmsr
	out 0x22, eax
	hlt

t_wrmsr_bad:				; bit 1 is reserved: #GP
	call init
	mov ecx, 0xe1
	mov eax, 2
	xor edx, edx
	wrmsr
	hlt

t_wrmsr:
	call init
	mov ecx, 0xe1
	mov eax, [value]
	xor edx, edx
	wrmsr
	mov al, 0
	out 0x22, al
	hlt

t_store_peer:				; the second vCPU: spin until [go], then store the line
	call init
.spin:	pause
	cmp dword [go], 0
	je .spin
	mov dword [line], 0x12345678
	mov al, 2
	out 0x24, al
	hlt

ud_handler:
	mov al, 6
	out 0x20, al
	hlt
gp_handler:
	mov al, 13
	out 0x20, al
	hlt

align 8
gdt:	dq 0
	dq 0x00cf9b000000ffff
	dq 0x00cf93000000ffff
gdtr:	dw gdtr - gdt - 1
	dd gdt
idt:	times 6 dq 0
	dw ud_handler - $$ + 0x1000, 0x08, 0x8e00, 0	; 6
	times 6 dq 0
	dw gp_handler - $$ + 0x1000, 0x08, 0x8e00, 0	; 13
idtr:	dw idtr - idt - 1
	dd idt
delta:	dq 0
value:	dd 0
go:	dd 0
align 64
line:	times 64 db 0
