; SPDX-License-Identifier: MIT
; Mode switches: 32-bit protected -> 16-bit protected -> real mode (IVT,
; exceptions, segment arithmetic) -> 32-bit protected -> PAE paging ->
; long mode (compatibility and 64-bit, far JMP/RETF between them) ->
; back to protected mode without paging.
%include "lib32.inc"
%include "lib64.inc"

PDPT_PAE equ PT_BASE + 0x6000

test_main:
	mov eax, cr0
	and eax, 1
	CHECK_EQ eax, 1, "modes: CR0.PE at entry"

	; real-mode and 16-bit code runs from low memory
	mov esi, section.low.start
	mov edi, REAL_BASE
	mov ecx, low_end - low_start
	call copy_bytes
	mov [saved_esp], esp
	jmp SEL_CODE16:pm16_entry

back32:
	mov ax, SEL_DATA32
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov fs, ax
	mov gs, ax
	mov esp, [saved_esp]
	lidt [idt_desc]
	CHECK_EQ dword [r_pm16_cs], SEL_CODE16, "modes: 16-bit protected mode CS"
	CHECK_EQ dword [r_pm16_wrap], 0, "modes: 16-bit operand size wraps"
	CHECK_EQ dword [r_pm16_sp], 2, "modes: 16-bit push moves SP by 2"
	CHECK_EQ dword [r_real_msw], 0, "modes: real mode CR0.PE clear (SMSW)"
	CHECK_EQ dword [r_real_int], 0x30, "modes: real mode INT 30h through the IVT"
	CHECK_EQ dword [r_real_iflag], 0, "modes: real mode interrupt clears IF"
	CHECK_EQ dword [r_real_ud_ip], real_ud - low_start + REAL_BASE, "modes: real mode #UD pushes the faulting IP"
	CHECK_EQ dword [r_real_after_ud], 1, "modes: real mode IRET resumes"
	mov al, [0x10010]
	movzx eax, al
	CHECK_EQ eax, 0x5a, "modes: real mode segment arithmetic (1000:0010)"
	CHECK_EQ dword [r_real_big], 0xabcd, "modes: 32-bit operand in real mode (66h)"
	mov eax, cr0
	and eax, 1
	CHECK_EQ eax, 1, "modes: back in protected mode"

	; ---- PAE paging (legacy) ----
	call build_map64
	mov dword [PDPT_PAE], PD0 | 1
	mov dword [PDPT_PAE + 8], (PD0 + 0x1000) | 1
	mov dword [PDPT_PAE + 16], (PD0 + 0x2000) | 1
	mov dword [PDPT_PAE + 24], (PD0 + 0x3000) | 1
	mov dword [PD0 + 0x1000], SCRATCH | 0x83	; 0x40000000 -> SCRATCH (2 MiB)
	mov dword [SCRATCH], 0x11223344
	mov eax, cr4
	or eax, 0x20
	mov cr4, eax
	mov eax, PDPT_PAE
	mov cr3, eax
	mov eax, cr0
	or eax, 0x80000000
	mov cr0, eax
	mov eax, [0x40000000]
	CHECK_EQ eax, 0x11223344, "modes: PAE paging translates a 2 MiB page"
	mov ecx, 0xc0000080
	rdmsr
	and eax, 0x400
	CHECK_EQ eax, 0, "modes: PAE paging is not long mode"
	; PDPTE reserved bits make MOV CR3 fault
	mov dword [PDPT_PAE + 8], (PD0 + 0x1000) | 7
	TRY .pdpte
	mov eax, PDPT_PAE
	mov cr3, eax
.pdpte:	CHECK_EXC 13, 0, "modes: PAE PDPTE reserved bits -> #GP on MOV CR3"
	mov dword [PDPT_PAE + 8], (PD0 + 0x1000) | 1
	mov eax, cr0
	and eax, 0x7fffffff
	mov cr0, eax

	; ---- long mode ----
	mov dword [PD0 + 0x1000], 0x40000000 | 0x87
	mov eax, cr4
	or eax, 0x20
	mov cr4, eax
	mov eax, PML4
	mov cr3, eax
	mov ecx, 0xc0000080
	rdmsr
	or eax, 0x100			; LME
	wrmsr
	; CR4.PAE may not be cleared while long mode is being activated
	mov eax, cr0
	or eax, 0x80000000
	mov cr0, eax
	; compatibility mode now: long-mode IDT
	lidt [idt64_desc]
	mov ecx, 0xc0000080
	rdmsr
	and eax, 0x500
	CHECK_EQ eax, 0x500, "modes: CR0.PG with EFER.LME sets EFER.LMA"
	mov eax, 0x7fffffff
	inc eax
	CHECK_EQ eax, 0x80000000, "modes: compatibility mode runs 32-bit code"
	TRY .pae
	mov eax, cr4
	and eax, ~0x20
	mov cr4, eax
.pae:	CHECK_EXC 13, 0, "modes: clearing CR4.PAE in long mode -> #GP"
	jmp SEL_CODE64:long64

	bits 64
%define REPORT report64
long64:
	mov rax, 0x123456789
	add rax, rax
	mov rbx, 0x2468acf12
	cmp rax, rbx
	CHECK_ZF "modes: 64-bit mode arithmetic"
	mov r8, 0x8000000000000000
	add r8, r8
	setc al
	movzx eax, al
	CHECK_EQ eax, 1, "modes: 64-bit mode uses R8 and 64-bit carry"
	lea rax, [rel long64]
	CHECK_EQ eax, long64, "modes: RIP-relative addressing"
	TRY .clr
	mov rax, cr0
	and eax, 0x7fffffff
	mov cr0, rax
.clr:	CHECK_EXC 13, 0, "modes: clearing CR0.PG in 64-bit mode -> #GP"
	; far jump through memory to compatibility mode
	jmp dword far [rel compat_ptr]
compat_ptr:
	dd compat1
	dw SEL_CODE32

	bits 32
%define REPORT report
compat1:
	; in compatibility mode the 32-bit reporting code works on the 64-bit IDT
	mov eax, cs
	and eax, 0xffff
	CHECK_EQ eax, SEL_CODE32, "modes: far JMP m16:32 to compatibility mode"
	jmp SEL_CODE64:long64b

	bits 64
%define REPORT report64
long64b:
	mov eax, cs
	CHECK_EQ eax, SEL_CODE64, "modes: far JMP back to 64-bit mode"
	; RETF to compatibility mode
	push qword SEL_CODE32
	push qword compat2
	o64 retf

	bits 32
%define REPORT report
compat2:
	mov eax, cs
	and eax, 0xffff
	CHECK_EQ eax, SEL_CODE32, "modes: RETF (REX.W) to compatibility mode"
	; leave long mode: paging off from compatibility mode
	mov eax, cr0
	and eax, 0x7fffffff
	mov cr0, eax
	mov ecx, 0xc0000080
	rdmsr
	mov ebx, eax
	and eax, 0x400
	CHECK_EQ eax, 0, "modes: clearing CR0.PG leaves long mode (LMA=0)"
	mov eax, ebx
	and eax, ~0x100
	wrmsr
	mov eax, cr4
	and eax, ~0x20
	mov cr4, eax
	lidt [idt_desc]
	TRY .t1
	ud2
.t1:	CHECK_EXC 6, -1, "modes: 32-bit IDT works again after long mode"
	mov eax, [SCRATCH]
	CHECK_EQ eax, 0x11223344, "modes: paging off after long mode (identity)"
	jmp finish

	align 4
saved_esp: dd 0

; ---- 16-bit code, copied to REAL_BASE ----
	section low vstart=REAL_BASE follows=.text align=16
low_start:
	bits 16
pm16_entry:
	mov ax, SEL_DATA16
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov sp, 0x7000
	mov ax, cs
	mov [r_pm16_cs], ax
	mov ax, 0xffff
	inc ax
	movzx eax, ax
	mov [r_pm16_wrap], eax
	mov bx, sp
	push ax
	sub bx, sp
	mov [r_pm16_sp], bx
	pop ax
	; to real mode
	mov eax, cr0
	and eax, 0xfffffffe
	mov cr0, eax
	jmp 0:real_entry
real_entry:
	xor ax, ax
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov sp, 0x7000
	smsw ax
	and eax, 1
	mov [r_real_msw], eax
	lidt [ivt_desc]
	mov word [0x30 * 4], real_int30
	mov word [0x30 * 4 + 2], 0
	mov word [6 * 4], real_ud_handler
	mov word [6 * 4 + 2], 0
	sti
	int 0x30
	cli
real_ud:
	ud2
	mov word [r_real_after_ud], 1
	mov ax, 0x1000
	mov es, ax
	mov byte [es:0x10], 0x5a
	mov eax, 0x0000abcd
	mov [r_real_big], eax
	; back to protected mode
	o32 lgdt [gdt_desc_low]
	mov eax, cr0
	or eax, 1
	mov cr0, eax
	jmp dword SEL_CODE32:back32

real_int30:
	mov word [r_real_int], 0x30
	pushf
	pop ax
	and eax, 0x200
	mov [r_real_iflag], eax
	iret

real_ud_handler:
	push bp
	mov bp, sp
	mov ax, [bp + 2]
	mov [r_real_ud_ip], ax
	add word [bp + 2], 2
	pop bp
	iret

	align 4
ivt_desc: dw 0x3ff
	dd 0
gdt_desc_low: dw gdt_end - gdt - 1
	dd gdt
r_pm16_cs: dd 0
r_pm16_wrap: dd -1
r_pm16_sp: dd 0
r_real_msw: dd -1
r_real_int: dd 0
r_real_iflag: dd -1
r_real_ud_ip: dd 0
r_real_after_ud: dd 0
r_real_big: dd 0
low_end:
