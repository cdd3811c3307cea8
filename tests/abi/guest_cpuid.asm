; Guest for test_cpuid_runtime and bench-cpuid, in real mode at 0x1000.
; Entry table: the host sets IP to one of them.
;  t_report: CPUID.1 ECX/EDX on ports 0x30/0x31 (after optionally toggling
;            CR4.OSXSAVE as [op] says), CPUID.0xD.0 EBX on port 0x32
;  t_apic_off: clear IA32_APIC_BASE.EN, then report
;  t_toggle: toggle CR4.OSXSAVE [count] times, then out 0x33
bits 16
org 0x1000
	dw t_report, t_apic_off, t_toggle, vars
t_report:
	mov eax, cr4
	or eax, [set_bits]
	and eax, [keep_bits]
	mov cr4, eax
report:
	mov eax, 1
	xor ecx, ecx
	cpuid
	mov eax, ecx
	out 0x30, eax
	mov eax, edx
	out 0x31, eax
	mov eax, 0xd
	xor ecx, ecx
	cpuid
	mov eax, ebx
	out 0x32, eax
	hlt
t_apic_off:
	mov ecx, 0x1b
	rdmsr
	and eax, ~(1 << 11)
	wrmsr
	jmp report
t_toggle:
	mov ecx, [count]
	mov eax, cr4
.l:	xor eax, 1 << 18
	mov cr4, eax
	dec ecx
	jnz .l
	out 0x33, al
	hlt
align 4
vars:
set_bits:	dd 0
keep_bits:	dd 0xffffffff
count:		dd 0
