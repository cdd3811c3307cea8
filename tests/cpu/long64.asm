; SPDX-License-Identifier: MIT
; Long mode: 64-bit IDT with IST and 16-byte stack alignment, error codes,
; non-canonical addresses (#GP/#SS), IRETQ to ring 3, interrupts from
; ring 3 (RSP0, null SS), SYSCALL/SYSRET (64-bit and compatibility),
; 64-bit call gates, SWAPGS, FSGSBASE, CR4.PCIDE rules, INVPCID, and
; 4-level paging: 4 KiB/2 MiB/1 GiB pages, NX, reserved bits, U/S, SMEP,
; SMAP with and without EFLAGS.AC.
%include "lib32.inc"
%include "lib64.inc"

%define DLO(base, limit) ((((base) & 0xffff) << 16) | ((limit) & 0xffff))
%define DHI(base, limit, acc, fl) ((((base) >> 16) & 0xff) | ((acc) << 8) | ((limit) & 0xf0000) | ((fl) << 20) | ((base) & 0xff000000))

SEL_KCODE	equ 0x68	; SYSCALL: 0x68 code64, 0x70 data
SEL_GATE64	equ 0x78	; 16-byte call gate (0x78, 0x80)
PT4K		equ PT_BASE + 0x8000	; 4 KiB page table for TEST_VA
TEST_VA		equ 0x800000
PHYS		equ SCRATCH + 0x10000

test_main:
	mov eax, SEL_KCODE
	mov ebx, DLO(0, 0xfffff)
	mov ecx, DHI(0, 0xfffff, 0x9b, 0xa)
	call gdt_set
	mov eax, SEL_KCODE + 8
	mov ebx, DLO(0, 0xfffff)
	mov ecx, DHI(0, 0xfffff, 0x93, 0xc)
	call gdt_set
	mov dword [long_cont], main64
	jmp enter_long

	bits 64
%define REPORT report64
main64:
	mov rax, cr4
	and eax, 0x20
	CHECK_EQ eax, 0x20, "long64: in 64-bit mode"
	TRY .u
	ud2
.u:	CHECK_EXC 6, -1, "long64: #UD through the 64-bit IDT"
	; an instruction across a page boundary (decoded outside any block,
	; its decode cached): rewriting either page's bytes is seen
	call straddle_fn
	call straddle_fn
	CHECK_EQ eax, 0x11223344, "long64: MOV imm32 across a page boundary"
	mov byte [straddle_fn + 4], 0x55
	call straddle_fn
	CHECK_EQ eax, 0x55223344, "long64: its immediate rewritten in the second page"
	mov byte [straddle_fn + 1], 0x66
	call straddle_fn
	call straddle_fn
	CHECK_EQ eax, 0x55223366, "long64: and in the first page"
	; CF/OF of a rotate that only a fault before the next writer of all
	; flags can see (the JIT computes them on the fault's path): twice, so
	; the second run is translated code
	mov r12d, 2
.rot:	TRY .rf1
	call rot_then_load
.rf1:	CHECK_EXC 13, 0, "long64: #GP on a load after ROL"
	mov eax, [exc_eflags]
	and eax, 0x8d5
	CHECK_EQ eax, 0x845, "long64: that #GP saw ROL's CF and OF"
	TRY .rf2
	call ror_then_add
.rf2:	CHECK_EXC 13, 0, "long64: #GP on an ADD from memory after ROR"
	mov eax, [exc_eflags]
	and eax, 0x8d5
	CHECK_EQ eax, 0x885, "long64: that #GP saw ROR's CF and OF"
	dec r12d
	jnz .rot
	mov word [straddle_fn], 0x03eb	; JMP +3 (to the RET): now within the first page
	mov eax, 0x77
	call straddle_fn
	call straddle_fn
	CHECK_EQ eax, 0x77, "long64: rewritten to fit in the first page"
	mov eax, [exc_cs]
	CHECK_EQ eax, SEL_CODE64, "long64: exception frame CS"

	; ---- non-canonical addresses ----
	TRY .nc1
	mov rax, 0x0000800000000000
	mov eax, [rax]
.nc1:	CHECK_EXC 13, 0, "long64: non-canonical data access -> #GP(0)"
	; #SS on a non-canonical stack, delivered on IST1
	mov rax, stub64_12
	mov ebx, 12
	mov ecx, 0x8e01
	call idt64_set
	mov rax, stub64_13		; QEMU TCG raises #GP here: keep it survivable
	mov ebx, 13
	mov ecx, 0x8e01
	call idt64_set
	mov rbx, rsp
	TRY .nc2
	mov rsp, 0x0000800000000010
	push rax
.nc2:	mov rsp, rbx
	CHECK_EXC 12, 0, "long64: non-canonical stack -> #SS(0) (on IST1)"
	mov rax, stub64_13
	mov ebx, 13
	mov ecx, 0x8e00
	call idt64_set

	; ---- IST and alignment ----
	mov rax, h_rsp
	mov ebx, 0x41
	mov ecx, 0x8e02
	call idt64_set
	mov rax, h_rsp
	mov ebx, 0x42
	mov ecx, 0x8e00
	call idt64_set
	int 0x41
	CHECK_EQ dword [seen_rsp], IST2_TOP - 40, "long64: IST2 stack for vector 0x41"
	mov rbx, rsp
	and rsp, ~0xf
	sub rsp, 8
	mov r12, rsp
	int 0x42
	mov rsp, rbx
	sub r12, 8
	sub r12, 40
	CHECK_EQ [seen_rsp], r12d, "long64: frame aligned to 16 bytes"

	; ---- ring 3 ----
	mov rax, h_ring0
	mov ebx, 0x43
	mov ecx, 0xee00
	call idt64_set
	; SYSCALL MSRs
	mov ecx, 0xc0000081
	xor eax, eax
	mov edx, (0x30 << 16) | SEL_KCODE	; SYSRET base 0x30, SYSCALL CS 0x68
	wrmsr
	mov ecx, 0xc0000082
	mov eax, syscall_target
	xor edx, edx
	wrmsr
	mov ecx, 0xc0000084
	mov eax, 0x300			; mask TF, IF
	wrmsr
	; 64-bit call gate, DPL 3 -> SEL_CODE64:gate64_target
	mov rax, gate64_target
	mov [gdt + SEL_GATE64], ax
	mov word [gdt + SEL_GATE64 + 2], SEL_CODE64
	mov word [gdt + SEL_GATE64 + 4], 0xec00
	mov [tmp32], eax
	mov ax, [tmp32 + 2]
	mov [gdt + SEL_GATE64 + 6], ax
	mov qword [gdt + SEL_GATE64 + 8], 0
	mov rbx, user64
	call run_user64
	CHECK_EQ eax, 0x600d, "long64: ring-3 tests returned"
	CHECK_EQ dword [r0_rsp], TSS_STACK_TOP - 40, "long64: interrupt from ring 3 uses RSP0"
	CHECK_EQ dword [r0_ss], 0, "long64: interrupt from ring 3 loads a null SS"
	CHECK_EQ dword [sc_cs], SEL_KCODE, "long64: SYSCALL CS from STAR"
	CHECK_EQ dword [sc_ss], SEL_KCODE + 8, "long64: SYSCALL SS from STAR"
	CHECK_EQ dword [sc_rcx], user64.sc_ret, "long64: SYSCALL saves RIP in RCX"
	mov eax, [sc_r11]
	and eax, 0x3200
	CHECK_EQ eax, 0x3200, "long64: SYSCALL saves RFLAGS in R11"
	mov eax, [sc_rfl]
	and eax, 0x300
	CHECK_EQ eax, 0, "long64: SYSCALL masks RFLAGS with SFMASK"
	CHECK_EQ dword [g_cs], SEL_CODE64, "long64: 64-bit call gate enters ring 0"
	CHECK_EQ dword [g_ss], 0, "long64: 64-bit call gate loads a null SS"
	CHECK_EQ dword [g_rsp], TSS_STACK_TOP - 32, "long64: 64-bit call gate frame (SS, RSP, CS, RIP)"

	; SYSRET with a non-canonical RCX faults at CPL 0 (Intel)
	TRY .sr
	mov rcx, 0x0000800000000000
	mov r11, 2
	o64 sysret
.sr:	CHECK_EXC 13, 0, "long64: SYSRET to a non-canonical RIP -> #GP(0) at CPL 0"

	; ---- SWAPGS, FSGSBASE ----
	mov ecx, 0xc0000101
	mov eax, 0x1000
	xor edx, edx
	wrmsr
	mov ecx, 0xc0000102
	mov eax, 0x2000
	wrmsr
	swapgs
	mov ecx, 0xc0000101
	rdmsr
	CHECK_EQ eax, 0x2000, "long64: SWAPGS exchanges GS base and KERNEL_GS_BASE"
	mov ecx, 0xc0000102
	rdmsr
	CHECK_EQ eax, 0x1000, "long64: SWAPGS: KERNEL_GS_BASE"
	TRY .fs0
	rdfsbase rax
.fs0:	CHECK_EXC 6, -1, "long64: RDFSBASE without CR4.FSGSBASE -> #UD"
	mov rax, cr4
	or eax, 1 << 16
	mov cr4, rax
	mov dword [SCRATCH + 0x100], 0xfeedf00d
	mov rax, SCRATCH
	wrfsbase rax
	rdfsbase rbx
	cmp rbx, rax
	CHECK_ZF "long64: WRFSBASE/RDFSBASE"
	mov eax, [fs:0x100]
	CHECK_EQ eax, 0xfeedf00d, "long64: FS base is used"
	TRY .fs1
	mov rax, 0x0000800000000000
	wrgsbase rax
.fs1:	CHECK_EXC 13, 0, "long64: WRGSBASE non-canonical -> #GP(0)"
	xor eax, eax
	wrfsbase rax

	; ---- PCID ----
	TRY .pc1
	mov rax, cr3
	or rax, 1
	mov cr3, rax
	mov rax, cr4
	or eax, 1 << 17
	mov cr4, rax
.pc1:	CHECK_EXC 13, 0, "long64: CR4.PCIDE with CR3[11:0] != 0 -> #GP(0)"
	mov rax, cr3
	and rax, ~0xfff
	mov cr3, rax
	TRY .pc2
	mov rax, cr4
	or eax, 1 << 17
	mov cr4, rax
	mov rax, cr3
	or rax, 5
	mov cr3, rax
	mov rax, cr3
	mov r12, rax
	mov rax, PML4 | 5
	mov rcx, 0x8000000000000000
	or rax, rcx
	mov cr3, rax			; no-flush hint
	mov rax, cr3
	mov r13, rax
.pc2:	CHECK_NOEXC "long64: PCIDs in CR3"
	mov rax, PML4 | 5
	cmp r13, rax
	CHECK_ZF "long64: CR3 bit 63 is not stored"
	TRY .pc3
	mov rax, cr0
	and eax, 0x7fffffff
	mov rbx, cr0
	mov cr0, rax
.pc3:	CHECK_EXC 13, 0, "long64: clearing CR0.PG with CR4.PCIDE -> #GP(0)"
	mov rax, cr3
	and rax, ~0xfff
	mov cr3, rax
	mov rax, cr4
	and eax, ~(1 << 17)
	mov cr4, rax
	mov qword [invpcid_desc], 0
	mov qword [invpcid_desc + 8], 0
	TRY .ip1
	mov eax, 2
	invpcid rax, [invpcid_desc]
.ip1:	CHECK_NOEXC "long64: INVPCID all contexts"
	TRY .ip2
	mov eax, 4
	invpcid rax, [invpcid_desc]
.ip2:	CHECK_EXC 13, 0, "long64: INVPCID invalid type -> #GP(0)"

	; ---- 4-level paging ----
	mov rdi, PT4K
	mov ecx, 512
	xor eax, eax
.z:	mov [rdi], rax
	add rdi, 8
	dec ecx
	jnz .z
	mov qword [PD0 + 8 * 4], PT4K | 7	; TEST_VA: 4 KiB pages
	mov rax, PHYS | 3
	mov [PT4K], rax				; page 0: supervisor RW
	mov rax, (PHYS + 0x1000) | 7
	mov [PT4K + 8], rax			; page 1: user RW
	mov rax, 0x8000000000000007 | (PHYS + 0x2000)
	mov [PT4K + 16], rax			; page 2: user, XD
	mov rax, 0x0008000000000003 | (PHYS + 0x3000)
	mov [PT4K + 24], rax			; page 3: reserved bit 51
	mov byte [PHYS], 0xc3
	mov byte [PHYS + 0x1000], 0xc3
	mov byte [PHYS + 0x2000], 0xc3
	mov dword [PHYS + 0x1100], 0x5a5a
	mov rax, cr3
	mov cr3, rax
	TRY .nx
	mov rax, TEST_VA + 0x2000
	call rax
.nx:	CHECK_EXC 14, 0x11, "long64: fetch from an XD page -> #PF(P|I/D)"
	TRY .rs
	mov eax, [TEST_VA + 0x3000]
.rs:	CHECK_EXC 14, 9, "long64: reserved bit 51 -> #PF(P|RSVD)"
	TRY .rs2
	mov rax, TEST_VA + 0x3000
	call rax
.rs2:	CHECK_EXC 14, 0x19, "long64: fetch with a reserved bit -> #PF(P|RSVD|I/D)"
	; 1 GiB page: PDPT[4] maps 4 GiB -> 0
	mov rax, 0x83
	mov [PDPT + 8 * 4], rax
	mov rax, 0x100000000 + SCRATCH + 0x100
	mov eax, [rax]
	CHECK_EQ eax, 0xfeedf00d, "long64: 1 GiB page translates"
	mov rax, 0x83 | 0x2000
	mov [PDPT + 8 * 4], rax
	mov rax, 0x100000000 + 0x12345000	; another 2 MiB of the same 1 GiB page
	invlpg [rax]
	TRY .rs3
	mov rax, 0x100000000 + SCRATCH
	mov eax, [rax]
.rs3:	CHECK_EXC 14, 9, "long64: 1 GiB page reserved bit 13 -> #PF(P|RSVD)"
	mov rax, cr2
	mov rbx, 0x100000000 + SCRATCH
	cmp rax, rbx
	CHECK_ZF "long64: CR2 holds the 64-bit address"
	mov qword [PDPT + 8 * 4], 0

	; ---- SMEP / SMAP: kernel pages supervisor-only from here on ----
	mov rax, [PD0]
	and eax, ~4
	mov [PD0], rax
	mov rax, cr3
	mov cr3, rax
	mov rax, cr4
	or eax, 1 << 20			; SMEP
	mov cr4, rax
	TRY .sm1
	mov rax, TEST_VA + 0x1000
	call rax
.sm1:	CHECK_EXC 14, 0x11, "long64: SMEP: supervisor fetch from a user page -> #PF(P|I/D)"
	TRY .sm2
	mov rax, TEST_VA
	call rax
.sm2:	CHECK_NOEXC "long64: SMEP: supervisor page executes"
	mov rax, cr4
	or eax, 1 << 21			; SMAP
	mov cr4, rax
	TRY .sm3
	mov eax, [TEST_VA + 0x1100]
.sm3:	CHECK_EXC 14, 1, "long64: SMAP: supervisor read of a user page, AC=0 -> #PF(P)"
	TRY .sm4
	mov dword [TEST_VA + 0x1100], 1
.sm4:	CHECK_EXC 14, 3, "long64: SMAP: supervisor write, AC=0 -> #PF(P|W)"
	pushfq
	or dword [rsp], 1 << 18		; AC
	popfq
	TRY .sm5
	mov eax, [TEST_VA + 0x1100]
	mov r12d, eax
.sm5:	CHECK_NOEXC "long64: SMAP: EFLAGS.AC=1 allows the access"
	CHECK_EQ r12d, 0x5a5a, "long64: SMAP: value read with AC=1"
	pushfq
	and dword [rsp], ~(1 << 18)
	popfq
	mov rax, cr4
	and eax, ~((1 << 20) | (1 << 21))
	mov cr4, rax
	jmp finish64

; ---- ring 0 handlers ----
h_rsp:
	mov [seen_rsp], rsp
	iretq

h_ring0:
	mov [r0_rsp], rsp
	mov eax, ss
	mov [r0_ss], eax
	iretq

syscall_target:
	cmp dword [sc_mode], 1
	je .compat
	mov eax, cs
	mov [sc_cs], eax
	mov eax, ss
	mov [sc_ss], eax
	mov [sc_rcx], rcx
	mov [sc_r11], r11
	pushfq
	pop rax
	mov [sc_rfl], rax
	o64 sysret
.compat:
	mov ecx, user_compat
	sysret				; to compatibility mode

gate64_target:
	mov eax, cs
	mov [g_cs], eax
	mov eax, ss
	mov [g_ss], eax
	mov [g_rsp], rsp
	o64 retf

; ---- ring 3 (64-bit) ----
user64:
	mov eax, cs
	CHECK_EQ eax, SEL_UCODE64 | 3, "long64: IRETQ to ring 3"
	int 0x43
	TRY .p1
	mov rax, cr0
.p1:	CHECK_EXC 13, 0, "long64: MOV from CR0 at CPL 3 -> #GP(0)"
	TRY .p2
	swapgs
.p2:	CHECK_EXC 13, 0, "long64: SWAPGS at CPL 3 -> #GP(0)"
	TRY .p3
	o64 sysret
.p3:	CHECK_EXC 13, 0, "long64: SYSRET at CPL 3 -> #GP(0)"
	TRY .p4
	mov eax, [TEST_VA]
.p4:	CHECK_NOEXC "long64: user access to user pages"
	mov dword [sc_mode], 0
	sti				; IOPL 3: R11 gets IF=1, SFMASK clears it
	syscall
.sc_ret:
	mov eax, cs
	CHECK_EQ eax, 0x40 | 3, "long64: SYSRET (REX.W) to 64-bit ring 3"
	mov eax, ss
	CHECK_EQ eax, 0x38 | 3, "long64: SYSRET loads SS"
	call far [rel gate_ptr]
	mov eax, cs
	CHECK_EQ eax, SEL_UCODE64 | 3, "long64: RETF from the call gate to ring 3"
	mov dword [sc_mode], 1
	syscall
	; not reached: SYSRET goes to user_compat

	bits 32
%define REPORT report
user_compat:
	mov ax, SEL_UDATA | 3		; IRETQ to ring 3 nulled the DPL 0 DS
	mov ds, ax
	mov es, ax
	mov eax, cs
	CHECK_EQ eax, 0x30 | 3, "long64: SYSRET (32-bit) to compatibility mode"
	mov eax, 0x600d
	int 0x80

	align 8
gate_ptr: dq 0
	dw SEL_GATE64 | 3
	align 8
seen_rsp: dq 0
r0_rsp:	dq 0
r0_ss:	dq 0
sc_cs:	dq 0
sc_ss:	dq 0
sc_rcx:	dq 0
sc_r11:	dq 0
sc_rfl:	dq 0
sc_mode: dq 0
g_cs:	dq 0
g_ss:	dq 0
g_rsp:	dq 0
invpcid_desc: dq 0, 0

	bits 64
rot_then_load:		; ZF PF from the XOR; ROL: CF = 1, OF = 0 ^ 1
	mov eax, 0x80000001
	mov rdx, 0x8000000000000000
	xor ecx, ecx
	rol eax, 1
	mov ebx, [rdx]		; #GP: non-canonical
	add ecx, 1
	ret
ror_then_add:		; SF PF from the OR; ROR: CF = 1 (bit 31), OF = 1 ^ 0
	mov eax, 1
	mov rdx, 0x8000000000000000
	mov ecx, 0x80000000
	or ecx, ecx
	ror eax, 1
	mov esi, eax
	add ebx, [rdx]		; #GP: non-canonical
	ret

	; MOV EAX, imm32 with its opcode and first immediate byte in one page
	; and the rest in the next (the image is loaded at 1 MiB)
	times (4096 - (($ - $$) % 4096) - 2) db 0x90
straddle_fn:
	mov eax, 0x11223344
	ret
	bits 32

%include "tail.inc"
