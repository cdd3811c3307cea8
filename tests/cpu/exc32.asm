; SPDX-License-Identifier: MIT
; Protected mode: IDT interrupt vs trap gates, error codes of #GP/#NP/#SS/
; #TS, segment limits (expand-up/down, SS), null selectors, privilege
; checks on loads, conforming code, call gates with a stack switch and
; RETF to ring 3, the TSS ring-0 stack, IRET to ring 3, SYSENTER/SYSEXIT,
; the I/O permission bitmap, CPL checks of privileged instructions,
; LAR/LSL/VERR/VERW, UMIP, single-step and the MOV SS shadow, DR0-DR3
; breakpoints, DR7.GD, and the double fault.
%include "lib32.inc"

%define DLO(base, limit) ((((base) & 0xffff) << 16) | ((limit) & 0xffff))
%define DHI(base, limit, acc, fl) ((((base) >> 16) & 0xff) | ((acc) << 8) | ((limit) & 0xf0000) | ((fl) << 20) | ((base) & 0xff000000))
%define GLO(sel, off) (((sel) << 16) | ((off) & 0xffff))
%define GHI(off, acc, params) (((off) & 0xffff0000) | ((acc) << 8) | (params))

SEL_SMALL	equ 0x68	; data, limit 0xfff
SEL_EXPDOWN	equ 0x70	; expand-down data, limit 0xfff, B=1
SEL_NP		equ 0x78	; writable data, not present
SEL_STK		equ 0x80	; stack, limit 0x8ffff
SEL_CONF	equ 0x88	; conforming code, DPL 0
SEL_GATE	equ 0x90	; call gate DPL 3 -> SEL_CODE32:gate_target, 2 parameters
SEL_CODE_R1	equ 0x98	; code, DPL 1
SEL_GATE_R1	equ 0xa0	; call gate DPL 3 -> SEL_CODE_R1
SEL_SYSENTER	equ 0xc0	; 0xc0 code0, 0xc8 data0, 0xd0 code3, 0xd8 data3
SEL_RO		equ 0xe0	; read-only data
SEL_LDT		equ 0xe8	; LDT with 2 entries

%macro GDT 3
	mov eax, %1
	mov ebx, %2
	mov ecx, %3
	call gdt_set
%endmacro

%macro IDT 3	; vector, handler, type
	mov eax, %2
	mov ebx, %1
	mov ecx, SEL_CODE32
	mov edx, %3
	call idt32_set
%endmacro

test_main:
	GDT SEL_SMALL, DLO(0, 0xfff), DHI(0, 0, 0x93, 4)
	GDT SEL_EXPDOWN, DLO(0, 0xfff), DHI(0, 0, 0x97, 4)
	GDT SEL_NP, DLO(0, 0xfffff), DHI(0, 0xfffff, 0x13, 0xc)
	GDT SEL_STK, DLO(0, 0x8ffff), DHI(0, 0x8ffff, 0x93, 4)
	GDT SEL_CONF, DLO(0, 0xfffff), DHI(0, 0xfffff, 0x9f, 0xc)
	GDT SEL_GATE, GLO(SEL_CODE32, ADDR(gate_target)), GHI(ADDR(gate_target), 0xec, 2)
	GDT SEL_CODE_R1, DLO(0, 0xfffff), DHI(0, 0xfffff, 0xbb, 0xc)
	GDT SEL_GATE_R1, GLO(SEL_CODE_R1, ADDR(gate_target)), GHI(ADDR(gate_target), 0xec, 0)
	GDT SEL_SYSENTER, DLO(0, 0xfffff), DHI(0, 0xfffff, 0x9b, 0xc)
	GDT SEL_SYSENTER + 8, DLO(0, 0xfffff), DHI(0, 0xfffff, 0x93, 0xc)
	GDT SEL_SYSENTER + 16, DLO(0, 0xfffff), DHI(0, 0xfffff, 0xfb, 0xc)
	GDT SEL_SYSENTER + 24, DLO(0, 0xfffff), DHI(0, 0xfffff, 0xf3, 0xc)
	GDT SEL_RO, DLO(0, 0xfffff), DHI(0, 0xfffff, 0x91, 0xc)
	GDT SEL_LDT, DLO(ADDR(ldt_tab), 15), DHI(ADDR(ldt_tab), 0, 0x82, 0)
	IDT 0x40, h_flags, 0x8e		; interrupt gate
	IDT 0x41, h_flags, 0x8f		; trap gate
	IDT 0x42, h_flags, 0x0e		; not present
	IDT 0x43, h_ring0, 0xee		; DPL 3 interrupt gate

	; ---- gates ----
	sti
	int 0x40
	cli
	mov eax, [flags_seen]
	and eax, 0x200
	CHECK_EQ eax, 0, "exc32: interrupt gate clears IF"
	sti
	int 0x41
	cli
	mov eax, [flags_seen]
	and eax, 0x200
	CHECK_EQ eax, 0x200, "exc32: trap gate keeps IF"
	TRY .g1
	int 0x42
.g1:	CHECK_EXC 11, 0x42 * 8 + 2, "exc32: not-present gate -> #NP(vector, IDT)"

	; ---- segment-register loads ----
	TRY .s1
	mov ax, SEL_NP
	mov ds, ax
.s1:	CHECK_EXC 11, SEL_NP, "exc32: MOV DS not present -> #NP(sel)"
	TRY .s2
	mov ax, SEL_NP
	mov ss, ax
.s2:	CHECK_EXC 12, SEL_NP, "exc32: MOV SS not present -> #SS(sel)"
	TRY .s3
	mov ax, 0x1008
	mov es, ax
.s3:	CHECK_EXC 13, 0x1008, "exc32: selector beyond the GDT limit -> #GP(sel)"
	TRY .s4
	mov ax, SEL_CODE32
	mov ss, ax
.s4:	CHECK_EXC 13, SEL_CODE32, "exc32: MOV SS code segment -> #GP(sel)"
	TRY .s5
	mov ax, SEL_UDATA | 3
	mov ss, ax
.s5:	CHECK_EXC 13, SEL_UDATA, "exc32: MOV SS with RPL != CPL -> #GP(sel)"
	TRY .s6
	mov ax, SEL_DATA32 | 3
	mov fs, ax
.s6:	CHECK_EXC 13, SEL_DATA32, "exc32: MOV FS with RPL > DPL -> #GP(sel)"
	TRY .s7
	mov ax, SEL_UDATA
	mov fs, ax
.s7:	CHECK_NOEXC "exc32: CPL 0 loads a DPL 3 data segment"
	TRY .s8
	mov ax, SEL_TSS
	mov fs, ax
.s8:	CHECK_EXC 13, SEL_TSS, "exc32: MOV FS system descriptor -> #GP(sel)"
	mov ax, SEL_DATA32
	mov fs, ax

	; ---- limits ----
	mov ax, SEL_SMALL
	mov es, ax
	TRY .l1
	mov eax, [es:0xffc]
.l1:	CHECK_NOEXC "exc32: access at the segment limit"
	TRY .l2
	mov eax, [es:0xffd]
.l2:	CHECK_EXC 13, 0, "exc32: access beyond the segment limit -> #GP(0)"
	mov ax, SEL_EXPDOWN
	mov es, ax
	TRY .l3
	mov eax, [es:0x800]
.l3:	CHECK_EXC 13, 0, "exc32: expand-down: offset below the limit -> #GP(0)"
	TRY .l4
	mov eax, [es:0x1000]
	mov eax, [es:0xfffffffc]
.l4:	CHECK_NOEXC "exc32: expand-down: offsets above the limit"
	mov ax, SEL_STK
	mov ss, ax
	TRY .l5
	mov eax, [ss:0x90000]
.l5:	CHECK_EXC 12, 0, "exc32: SS limit -> #SS(0)"
	mov ax, SEL_DATA32
	mov ss, ax
	xor ax, ax
	mov es, ax
	TRY .l6
	mov eax, [es:0]
.l6:	CHECK_EXC 13, 0, "exc32: access through a null selector -> #GP(0)"
	mov ax, SEL_RO
	mov es, ax
	TRY .l7
	mov dword [es:SCRATCH], 1
.l7:	CHECK_EXC 13, 0, "exc32: write to a read-only segment -> #GP(0)"
	TRY .l8
	mov [cs:SCRATCH], eax
.l8:	CHECK_EXC 13, 0, "exc32: write through CS -> #GP(0)"
	mov ax, SEL_DATA32
	mov es, ax

	; ---- LDT ----
	mov ax, SEL_LDT
	lldt ax
	sldt bx
	movzx eax, bx
	CHECK_EQ eax, SEL_LDT, "exc32: LLDT/SLDT"
	TRY .ld1
	mov ax, 0x0c			; LDT entry 1
	mov fs, ax
	mov eax, fs
	mov ebx, [fs:SCRATCH]
.ld1:	CHECK_NOEXC "exc32: segment load through the LDT"
	TRY .ld2
	mov ax, 0x14			; LDT entry 2: beyond the LDT limit
	mov fs, ax
.ld2:	CHECK_EXC 13, 0x14, "exc32: selector beyond the LDT limit -> #GP(sel)"
	TRY .ld3
	mov ax, SEL_DATA32
	lldt ax
.ld3:	CHECK_EXC 13, SEL_DATA32, "exc32: LLDT of a data segment -> #GP(sel)"
	xor eax, eax
	lldt ax
	TRY .ld4
	mov ax, 0x0c
	mov fs, ax
.ld4:	CHECK_EXC 13, 0x0c, "exc32: LDT selector with a null LDTR -> #GP(sel)"
	mov ax, SEL_DATA32
	mov fs, ax

	; ---- LAR/LSL/VERR/VERW ----
	mov eax, 0x12345678
	lar eax, [sel_code32]
	and eax, 0xfff0ffff		; bits 19:16 are undefined
	CHECK_EQ eax, 0x00c09b00, "exc32: LAR code segment"
	lsl eax, [sel_small]
	CHECK_EQ eax, 0xfff, "exc32: LSL byte-granular limit"
	mov ax, SEL_CODE32
	lsl eax, ax
	CHECK_EQ eax, 0xffffffff, "exc32: LSL page-granular limit"
	mov ax, SEL_CODE32
	verr ax
	CHECK_ZF "exc32: VERR readable code"
	verw ax
	setnz al
	movzx eax, al
	CHECK_EQ eax, 1, "exc32: VERW code -> ZF=0"
	mov ax, SEL_TSS
	lsl ebx, ax
	CHECK_ZF "exc32: LSL of a TSS"
	mov ax, SEL_GATE
	lsl ebx, ax
	setnz al
	movzx eax, al
	CHECK_EQ eax, 1, "exc32: LSL of a call gate -> ZF=0"

	; ---- ring 3 ----
	mov dword [tss + 12], 0x10000		; ESP1
	mov dword [tss + 16], SEL_DATA32	; SS1: DPL 0, invalid for ring 1
	mov byte [tss + 0x88 + 0x10], 2		; I/O bitmap: port 0x81 denied
	mov ecx, 0x174
	mov eax, SEL_SYSENTER
	xor edx, edx
	wrmsr
	mov ecx, 0x175
	mov eax, 0x60000
	wrmsr
	mov ecx, 0x176
	mov eax, sysenter_target
	wrmsr
	mov ebx, user_tests
	call run_user
	CHECK_EQ eax, 0x600d, "exc32: ring-3 tests returned through INT 0x80"
	CHECK_EQ dword [gate_cs], SEL_CODE32, "exc32: call gate enters ring 0"
	CHECK_EQ dword [gate_ss], SEL_DATA32, "exc32: call gate loads SS0 from the TSS"
	CHECK_EQ dword [gate_esp], TSS_STACK_TOP - 24, "exc32: call gate frame: SS, ESP, 2 params, CS, EIP"
	CHECK_EQ dword [gate_p1], 0x1111, "exc32: call gate copies parameter 1"
	CHECK_EQ dword [gate_p2], 0x2222, "exc32: call gate copies parameter 2"
	CHECK_EQ dword [gate_oldss], SEL_UDATA | 3, "exc32: call gate saves the old SS"
	CHECK_EQ dword [r0_esp], TSS_STACK_TOP - 20, "exc32: interrupt from ring 3 uses the TSS ring-0 stack"
	CHECK_EQ dword [r0_ss], SEL_DATA32, "exc32: interrupt from ring 3 loads SS0"
	CHECK_EQ dword [r0_oldcs], SEL_UCODE32 | 3, "exc32: interrupt frame holds the ring-3 CS"
	CHECK_EQ dword [se_cs], SEL_SYSENTER, "exc32: SYSENTER CS"
	CHECK_EQ dword [se_ss], SEL_SYSENTER + 8, "exc32: SYSENTER SS"
	CHECK_EQ dword [se_esp], 0x60000, "exc32: SYSENTER ESP"

	; ---- UMIP ----
	mov eax, cr4
	or eax, 1 << 11
	mov cr4, eax
	mov ebx, user_umip
	call run_user
	mov eax, cr4
	and eax, ~(1 << 11)
	mov cr4, eax

	; ---- single-step ----
	mov eax, h_step
	mov ebx, 1
	mov ecx, SEL_CODE32
	mov edx, 0x8e
	call idt32_set
	mov dword [step_n], 0
	pushfd
	or dword [esp], 0x100
	popfd
step_a:	nop
step_b:	nop
step_c:	mov ax, ss
step_c2: mov ss, ax
step_d:	nop
step_e:	pushfd
	and dword [esp], ~0x100
	popfd
step_f:	nop
	CHECK_EQ dword [step_n], 7, "exc32: single-step trap count (MOV SS holds one back)"
	CHECK_EQ dword [step_eip], step_b, "exc32: single-step: first trap after the first instruction"
	CHECK_EQ dword [step_eip + 4], step_c, "exc32: single-step: second trap"
	CHECK_EQ dword [step_eip + 8], step_c2, "exc32: single-step: trap after MOV AX,SS"
	CHECK_EQ dword [step_eip + 12], step_e, "exc32: single-step: MOV SS shadow delays the trap"
	CHECK_EQ dword [step_eip + 24], step_f, "exc32: single-step: POPF clearing TF still traps"
	mov eax, [step_dr6]
	and eax, 0x4000
	CHECK_EQ eax, 0x4000, "exc32: single-step sets DR6.BS"

	; ---- debug registers ----
	mov eax, h_bp
	mov ebx, 1
	mov ecx, SEL_CODE32
	mov edx, 0x8e
	call idt32_set
	xor eax, eax
	mov dr6, eax
	mov eax, bp_target
	mov dr0, eax
	mov eax, 1			; L0, execute, 1 byte
	mov dr7, eax
	mov dword [bp_hit], 0
bp_target:
	mov dword [bp_hit], 1
	xor eax, eax
	mov dr7, eax
	CHECK_EQ dword [bp_count], 1, "exc32: instruction breakpoint fires once (RF)"
	CHECK_EQ dword [bp_eip], bp_target, "exc32: instruction breakpoint is a fault"
	CHECK_EQ dword [bp_hit], 1, "exc32: the instruction runs after RF is set"
	mov eax, [bp_dr6]
	and eax, 0xf
	CHECK_EQ eax, 1, "exc32: DR6.B0"
	; data write breakpoint on bp_data (DR1, RW=01, LEN=4)
	mov dword [bp_count], 0
	xor eax, eax
	mov dr6, eax
	mov eax, bp_data
	mov dr1, eax
	mov eax, 4 | (1 << 20) | (3 << 22)
	mov dr7, eax
	mov eax, [bp_data]		; a read does not trigger
	mov dword [bp_data], 5
bp_after:
	nop
	xor eax, eax
	mov dr7, eax
	CHECK_EQ dword [bp_count], 1, "exc32: data write breakpoint fires once"
	CHECK_EQ dword [bp_eip], bp_after, "exc32: data breakpoint is a trap"
	mov eax, [bp_dr6]
	and eax, 0xf
	CHECK_EQ eax, 2, "exc32: DR6.B1"
	; general detect (through the framework's #DB stub)
	mov eax, stub_1
	mov ebx, 1
	mov ecx, SEL_CODE32
	mov edx, 0x8e
	call idt32_set
	mov eax, 0x2000
	mov dr7, eax
	TRY .gd
	mov eax, dr0
.gd:	CHECK_EXC 1, -1, "exc32: DR7.GD: MOV DR -> #DB"
	mov eax, dr6
	and eax, 0x2000
	CHECK_EQ eax, 0x2000, "exc32: DR7.GD sets DR6.BD"
	mov eax, dr7
	and eax, 0x2000
	CHECK_EQ eax, 0, "exc32: DR7.GD cleared for the handler"
	mov eax, cr4
	or eax, 8			; DE
	mov cr4, eax
	TRY .de
	mov eax, dr4
.de:	CHECK_EXC 6, -1, "exc32: MOV DR4 with CR4.DE -> #UD"
	mov eax, cr4
	and eax, ~8
	mov cr4, eax

	; ---- hardware task switching is not implemented: #GP ----
	TRY .tsw
	jmp SEL_TSS:0
.tsw:	CHECK_EXC 13, SEL_TSS, "exc32: JMP to a TSS -> #GP(sel) (no task switching)"
	TRY .nt
	pushfd
	or dword [esp], 0x4000		; NT
	popfd
	iret
.nt:	CHECK_EXC 13, 0, "exc32: IRET with NT=1 -> #GP(0) (no task switching)"
	pushfd
	and dword [esp], ~0x4000
	popfd

	; ---- double fault: #GP with a not-present #GP gate ----
	and byte [idt + 13 * 8 + 5], 0x7f
	TRY .df
	mov ax, 0x1008
	mov ds, ax
.df:	CHECK_EXC 8, 0, "exc32: #NP while delivering #GP -> #DF(0)"
	or byte [idt + 13 * 8 + 5], 0x80
	mov ax, SEL_DATA32
	mov ds, ax
	jmp finish

; ---- handlers ----
h_flags:
	pushfd
	pop dword [flags_seen]
	iret

h_ring0:
	mov [r0_esp], esp
	mov eax, ss
	mov [r0_ss], eax
	mov eax, [esp + 4]
	mov [r0_oldcs], eax
	iret

h_step:
	push eax
	mov eax, [step_n]
	cmp eax, 8
	jae .o
	push ebx
	mov ebx, [esp + 8]
	mov [step_eip + eax * 4], ebx
	pop ebx
.o:	inc dword [step_n]
	mov eax, dr6
	mov [step_dr6], eax
	xor eax, eax
	mov dr6, eax
	pop eax
	iret

h_bp:
	push eax
	inc dword [bp_count]
	mov eax, [esp + 4]
	mov [bp_eip], eax
	mov eax, dr6
	mov [bp_dr6], eax
	or dword [esp + 12], 0x10000	; RF
	pop eax
	iret

; call gate target (ring 0, or ring 1 for SEL_GATE_R1)
gate_target:
	mov eax, cs
	mov [gate_cs], eax
	mov eax, ss
	mov [gate_ss], eax
	mov [gate_esp], esp
	mov eax, [esp + 8]
	mov [gate_p1], eax
	mov eax, [esp + 12]
	mov [gate_p2], eax
	mov eax, [esp + 20]
	mov [gate_oldss], eax
	mov ax, SEL_DATA32		; DPL 0: nulled by the return to ring 3
	mov es, ax
	retf 8

sysenter_target:
	mov eax, cs
	mov [se_cs], eax
	mov eax, ss
	mov [se_ss], eax
	mov [se_esp], esp
	sysexit

; ---- ring 3 ----
user_tests:
	mov eax, cs
	and eax, 3
	CHECK_EQ eax, 3, "exc32: IRET to ring 3"
	TRY .p1
	mov ax, SEL_DATA32
	mov fs, ax
.p1:	CHECK_EXC 13, SEL_DATA32, "exc32: CPL 3 loads a DPL 0 segment -> #GP(sel)"
	TRY .p2
	int 0x40
.p2:	CHECK_EXC 13, 0x40 * 8 + 2, "exc32: INT n through a DPL 0 gate -> #GP(vector, IDT)"
	int 0x43
	; privileged instructions
%macro PRIV 2
	TRY %%r
	%1
%%r:	CHECK_EXC 13, 0, %2
%endmacro
	PRIV hlt, "exc32: HLT at CPL 3 -> #GP(0)"
	PRIV cli, "exc32: CLI at CPL 3, IOPL 0 -> #GP(0)"
	PRIV {mov eax, cr0}, "exc32: MOV from CR0 at CPL 3 -> #GP(0)"
	PRIV {mov cr3, eax}, "exc32: MOV to CR3 at CPL 3 -> #GP(0)"
	PRIV {mov eax, dr7}, "exc32: MOV from DR7 at CPL 3 -> #GP(0)"
	PRIV {lgdt [gdt_desc]}, "exc32: LGDT at CPL 3 -> #GP(0)"
	PRIV {lidt [idt_desc]}, "exc32: LIDT at CPL 3 -> #GP(0)"
	PRIV {ltr [sel_small]}, "exc32: LTR at CPL 3 -> #GP(0)"
	PRIV {lldt [sel_small]}, "exc32: LLDT at CPL 3 -> #GP(0)"
	PRIV {invlpg [0]}, "exc32: INVLPG at CPL 3 -> #GP(0)"
	PRIV rdmsr, "exc32: RDMSR at CPL 3 -> #GP(0)"
	PRIV wrmsr, "exc32: WRMSR at CPL 3 -> #GP(0)"
	PRIV wbinvd, "exc32: WBINVD at CPL 3 -> #GP(0)"
	PRIV clts, "exc32: CLTS at CPL 3 -> #GP(0)"
	PRIV {lmsw ax}, "exc32: LMSW at CPL 3 -> #GP(0)"
	PRIV {in al, 0x81}, "exc32: IN from a port denied by the I/O bitmap -> #GP(0)"
	PRIV {in ax, 0x80}, "exc32: 16-bit IN covering a denied port -> #GP(0)"
	TRY .io
	in al, 0x80
	out 0x80, al
.io:	CHECK_NOEXC "exc32: I/O bitmap allows port 0x80 at CPL 3"
	TRY .sg
	sgdt [sgdt_buf]
	smsw ax
.sg:	CHECK_NOEXC "exc32: SGDT/SMSW at CPL 3 without UMIP"
	; conforming and non-conforming code
	TRY .c1
	jmp SEL_CONF:.conf
.conf:	mov eax, cs
	mov [conf_cs], eax
	jmp (SEL_UCODE32 | 3):.c1
.c1:	CHECK_NOEXC "exc32: JMP to conforming DPL 0 code from ring 3"
	CHECK_EQ dword [conf_cs], SEL_CONF | 3, "exc32: conforming code keeps CPL 3 (CS.RPL)"
	TRY .c2
	jmp SEL_CODE32:.c2
.c2:	CHECK_EXC 13, SEL_CODE32, "exc32: JMP to non-conforming DPL 0 code -> #GP(sel)"
	; call gate to ring 0 with parameters
	mov esi, esp
	push dword 0x2222
	push dword 0x1111
	mov ax, SEL_UDATA | 3
	mov es, ax
	call SEL_GATE:0
	sub esi, esp
	CHECK_EQ esi, 0, "exc32: RETF 8 through the gate restores ESP"
	mov eax, cs
	CHECK_EQ eax, SEL_UCODE32 | 3, "exc32: RETF returns to ring 3"
	mov eax, es
	CHECK_EQ eax, 0, "exc32: RETF to ring 3 nulls a DPL 0 ES"
	mov ax, SEL_UDATA | 3
	mov es, ax
	TRY .ts
	call SEL_GATE_R1:0
.ts:	CHECK_EXC 10, SEL_DATA32, "exc32: call gate with a bad SS1 -> #TS(sel)"
	; SYSENTER/SYSEXIT
	mov ecx, esp
	mov edx, .se_back
	sysenter
.se_back:
	mov eax, cs
	CHECK_EQ eax, SEL_SYSENTER + 16 + 3, "exc32: SYSEXIT returns to ring 3 CS"
	mov eax, ss
	CHECK_EQ eax, SEL_SYSENTER + 24 + 3, "exc32: SYSEXIT loads ring 3 SS"
	mov ax, SEL_UDATA | 3
	mov ds, ax
	mov eax, 0x600d
	int 0x80

user_umip:
	TRY .u1
	sgdt [sgdt_buf]
.u1:	CHECK_EXC 13, 0, "exc32: SGDT at CPL 3 with CR4.UMIP -> #GP(0)"
	TRY .u2
	str ax
.u2:	CHECK_EXC 13, 0, "exc32: STR at CPL 3 with CR4.UMIP -> #GP(0)"
	int 0x80

	align 4
sel_code32: dw SEL_CODE32
sel_small: dw SEL_SMALL
flags_seen: dd -1
gate_cs: dd 0
gate_ss: dd 0
gate_esp: dd 0
gate_p1: dd 0
gate_p2: dd 0
gate_oldss: dd 0
r0_esp:	dd 0
r0_ss:	dd 0
r0_oldcs: dd 0
se_cs:	dd 0
se_ss:	dd 0
se_esp:	dd 0
conf_cs: dd 0
step_n:	dd 0
step_eip: times 8 dd 0
step_dr6: dd 0
bp_count: dd 0
bp_eip:	dd 0
bp_dr6:	dd 0
bp_hit:	dd 0
bp_data: dd 0
sgdt_buf: times 2 dd 0
	align 8
ldt_tab: dq 0
	dq 0x00cf93000000ffff

%include "tail.inc"
