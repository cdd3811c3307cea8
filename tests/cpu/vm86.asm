; SPDX-License-Identifier: MIT
; Virtual-8086 mode: entry through IRET with EFLAGS.VM, segment arithmetic,
; IRET and INT n inside VM86 at IOPL 3, the ring-0 frame of an interrupt
; from VM86 (data segments pushed and nulled), the return to VM86 through
; IRET, and the IOPL-sensitive INT n at IOPL 0 (#GP(0)).
%include "lib32.inc"

%macro IDT 3	; vector, handler, type
	mov eax, %2
	mov ebx, %1
	mov ecx, SEL_CODE32
	mov edx, %3
	call idt32_set
%endmacro

test_main:
	mov esi, section.low.start
	mov edi, REAL_BASE
	mov ecx, low_end - low_start
	call copy_bytes
	IDT 0x44, h_v86int, 0xee
	IDT 0x45, h_v86exit, 0xee
	mov byte [0x1000], 0

	; ---- VM86 at IOPL 3 ----
	mov dword [cont], .back1
	call enter_vm86_iopl3
.back1:
	CHECK_EQ dword [v_started], 1, "vm86: IRET with EFLAGS.VM enters VM86"
	mov al, [0x1000]
	movzx eax, al
	CHECK_EQ eax, 0x77, "vm86: segment base is selector * 16"
	CHECK_EQ dword [v_iret], 1, "vm86: IRET inside VM86 at IOPL 3"
	CHECK_EQ dword [v_int_ok], 1, "vm86: INT n returned to VM86"
	CHECK_EQ dword [f_cs], 0, "vm86: frame CS"
	CHECK_EQ dword [f_eip], v_int_ret, "vm86: frame EIP"
	mov eax, [f_eflags]
	and eax, 0x23000
	CHECK_EQ eax, 0x23000, "vm86: frame EFLAGS has VM and IOPL"
	CHECK_EQ dword [f_es], 0x0100, "vm86: frame ES"
	CHECK_EQ dword [f_ds], 0x0000, "vm86: frame DS"
	CHECK_EQ dword [f_fs], 0x0123, "vm86: frame FS"
	CHECK_EQ dword [f_gs], 0x0456, "vm86: frame GS"
	CHECK_EQ dword [f_ss], 0x0000, "vm86: frame SS"
	CHECK_EQ dword [h_ds], 0, "vm86: DS is null in the ring-0 handler"
	CHECK_EQ dword [h_esp], TSS_STACK_TOP - 36, "vm86: ring-0 stack from the TSS, 9-dword frame"

	; ---- VM86 at IOPL 0: INT n -> #GP(0) ----
	IDT 13, h_v86gp, 0x8e
	mov dword [cont], .back2
	call enter_vm86_iopl0
.back2:
	IDT 13, stub_13, 0x8e
	CHECK_EQ dword [gp_err], 0, "vm86: INT n at IOPL 0 -> #GP(0)"
	mov eax, [gp_eflags]
	and eax, 0x20000
	CHECK_EQ eax, 0x20000, "vm86: #GP frame shows VM=1"
	CHECK_EQ dword [gp_eip], v_int0, "vm86: #GP is a fault on the INT"
	CHECK_EQ dword [v_pushf_ok], 0, "vm86: nothing ran past the faulting INT"
	jmp finish

enter_vm86_iopl3:
	mov ebx, 0x23002
	mov ecx, v_entry
	jmp enter_vm86
enter_vm86_iopl0:
	mov ebx, 0x20002
	mov ecx, v_iopl0
enter_vm86:
	mov [saved_esp], esp
	push dword 0x456		; GS
	push dword 0x123		; FS
	push dword 0			; DS
	push dword 0			; ES
	push dword 0			; SS
	push dword 0x7000		; ESP
	push ebx			; EFLAGS
	push dword 0			; CS
	push ecx			; EIP
	iret

; back to ring 0 for good
leave_vm86:
	mov ax, SEL_DATA32
	mov ds, ax
	mov es, ax
	mov fs, ax
	mov gs, ax
	mov ss, ax
	mov esp, [saved_esp]
	jmp [cont]

h_v86int:
	mov ebx, ds
	mov ax, SEL_DATA32
	mov ds, ax
	mov [h_ds], ebx
	mov [h_esp], esp
	mov eax, [esp]
	mov [f_eip], eax
	mov eax, [esp + 4]
	mov [f_cs], eax
	mov eax, [esp + 8]
	mov [f_eflags], eax
	mov eax, [esp + 16]
	mov [f_ss], eax
	mov eax, [esp + 20]
	mov [f_es], eax
	mov eax, [esp + 24]
	mov [f_ds], eax
	mov eax, [esp + 28]
	mov [f_fs], eax
	mov eax, [esp + 32]
	mov [f_gs], eax
	iret

h_v86exit:
	jmp leave_vm86

h_v86gp:
	mov ax, SEL_DATA32
	mov ds, ax
	mov eax, [esp]
	mov [gp_err], eax
	mov eax, [esp + 4]
	mov [gp_eip], eax
	mov eax, [esp + 12]
	mov [gp_eflags], eax
	jmp leave_vm86

	align 4
saved_esp: dd 0
cont:	dd 0
h_esp:	dd 0
h_ds:	dd -1
gp_err:	dd -1
gp_eip:	dd 0
gp_eflags: dd 0

; ---- VM86 code, copied to REAL_BASE ----
	section low vstart=REAL_BASE follows=.text align=16
low_start:
	bits 16
v_entry:
	mov word [v_started], 1
	mov ax, 0x100
	mov es, ax
	mov byte [es:0], 0x77
	; IRET inside VM86
	pushf
	push cs
	push word .after
	iret
.after:	mov word [v_iret], 1
	int 0x44
v_int_ret:
	mov word [v_int_ok], 1
	int 0x45			; leave
v_iopl0:
v_int0:	int 0x44			; #GP(0)
	mov word [v_pushf_ok], 1
	jmp v_iopl0

	align 4
v_started: dd 0
v_iret:	dd 0
v_int_ok: dd 0
v_pushf_ok: dd 0
f_eip:	dd 0
f_cs:	dd -1
f_eflags: dd 0
f_ss:	dd -1
f_es:	dd -1
f_ds:	dd -1
f_fs:	dd -1
f_gs:	dd -1
low_end:
