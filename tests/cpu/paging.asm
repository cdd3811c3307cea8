; SPDX-License-Identifier: MIT
; Paging: 32-bit paging with 4 KiB and 4 MiB (PSE) pages, then PAE:
; accessed/dirty bits, every #PF error-code bit and CR2, WP, U/S from
; ring 3, reserved bits, NX, TLB invalidation (INVLPG, MOV CR3, CR4.PGE)
; and global pages.
%include "lib32.inc"

PD32	equ PT_BASE
PT0	equ PT_BASE + 0x1000
PT2	equ PT_BASE + 0x2000		; maps TEST_VA
TEST_VA	equ 0x800000
PHYS	equ SCRATCH + 0x10000		; physical pages behind TEST_VA
; PAE structures
PDPT	equ PT_BASE + 0x4000
PAE_PD0	equ PT_BASE + 0x5000		; 0..1 GiB: 2 MiB pages
PAE_PD_T equ PT_BASE + 0x6000		; unused
PAE_PT	equ PT_BASE + 0x7000		; 4 KiB pages for TEST_VA

%macro PTE 2	; page index, value
	mov dword [PT2 + 4 * %1], %2
	invlpg [TEST_VA + 0x1000 * %1]
%endmacro

test_main:
	; page tables: 0..4 MiB 4 KiB pages (user), 4..8 MiB one PSE page, 8 MiB.. PT2
	mov edi, PT0
	mov eax, 7
	mov ecx, 1024
.l:	mov [edi], eax
	add eax, 0x1000
	add edi, 4
	dec ecx
	jnz .l
	mov edi, PD32
	mov ecx, 1024
	xor eax, eax
.z:	mov [edi], eax
	add edi, 4
	dec ecx
	jnz .z
	mov edi, PT2
	mov ecx, 1024
.z2:	mov [edi], eax
	add edi, 4
	dec ecx
	jnz .z2
	mov dword [PD32], PT0 | 7
	mov dword [PD32 + 4], 0x400000 | 0x87	; 4 MiB page, PSE
	mov dword [PD32 + 8], PT2 | 7
	; physical test pages: page k holds 0x1000 * k + 0xaa
	mov edi, PHYS
	mov eax, 0xaa
	mov ecx, 16
.p:	mov [edi], eax
	add eax, 0x1000
	add edi, 0x1000
	dec ecx
	jnz .p

	mov eax, PD32
	mov cr3, eax
	mov eax, cr4
	or eax, 0x10			; PSE
	mov cr4, eax
	mov eax, cr0
	or eax, 0x80000000
	mov cr0, eax
	mov eax, [0x400000 + 0x10000 + 0x1000]
	CHECK_EQ eax, 0x10aa, "paging: 4 MiB PSE page translates"
	mov eax, [PD32 + 4]
	and eax, 0x60
	CHECK_EQ eax, 0x20, "paging: PSE PDE accessed, not dirty after a read"
	; INVLPG anywhere in a 4 MiB page drops every cached piece of it
	mov dword [PD32 + 4], 0x400000 | 0x87 | (1 << 21)
	invlpg [0x400000 + 0x3ff000]	; a piece in the other 2 MiB half
	TRY .lp
	mov eax, [0x400000 + 0x10000 + 0x1000]
.lp:	CHECK_EXC 14, 9, "paging: INVLPG elsewhere in a 4 MiB page drops its pieces"
	mov dword [PD32 + 4], 0x400000 | 0x87
	invlpg [0x400000]

	; ---- accessed and dirty ----
	PTE 0, PHYS | 3
	mov eax, [TEST_VA]
	CHECK_EQ eax, 0xaa, "paging: 4 KiB page translates"
	mov eax, [PT2]
	and eax, 0x60
	CHECK_EQ eax, 0x20, "paging: read sets A, not D"
	mov eax, [PD32 + 8]
	and eax, 0x20
	CHECK_EQ eax, 0x20, "paging: read sets A in the PDE"
	mov dword [TEST_VA + 4], 1
	mov eax, [PT2]
	and eax, 0x60
	CHECK_EQ eax, 0x60, "paging: write sets D"

	; ---- #PF error codes, CR2 ----
	PTE 1, 0
	TRY .np
	mov eax, [TEST_VA + 0x1234]
.np:	CHECK_EXC 14, 0, "paging: read of a non-present page -> #PF(0)"
	mov eax, cr2
	CHECK_EQ eax, TEST_VA + 0x1234, "paging: CR2 holds the faulting address"
	TRY .npw
	mov dword [TEST_VA + 0x1010], 5
.npw:	CHECK_EXC 14, 2, "paging: write to a non-present page -> #PF(W)"

	; read-only page: WP=0 lets the supervisor write, WP=1 does not
	PTE 2, (PHYS + 0x2000) | 1
	TRY .wp0
	mov dword [TEST_VA + 0x2008], 7
.wp0:	CHECK_NOEXC "paging: CR0.WP=0: supervisor writes a read-only page"
	mov eax, cr0
	or eax, 0x10000
	mov cr0, eax
	TRY .wp1
	mov dword [TEST_VA + 0x2008], 8
.wp1:	CHECK_EXC 14, 3, "paging: CR0.WP=1: supervisor write to read-only -> #PF(P|W)"
	mov eax, cr2
	CHECK_EQ eax, TEST_VA + 0x2008, "paging: CR2 of the write fault"
	CHECK_EQ dword [PHYS + 0x2008], 7, "paging: the faulting write did not happen"

	; ---- ring 3 ----
	PTE 3, (PHYS + 0x3000) | 3		; supervisor page
	PTE 4, (PHYS + 0x4000) | 5		; user, read-only
	PTE 5, 0				; not present
	mov ebx, user_tests
	call run_user
	CHECK_EQ eax, 0x600d, "paging: ring-3 tests ran"

	; ---- reserved bit in a PSE PDE ----
	mov dword [PD32 + 12], 0x400000 | 0x87 | (1 << 21)
	TRY .rsvd
	mov eax, [0xc00000]
.rsvd:	CHECK_EXC 14, 9, "paging: reserved PDE bit -> #PF(P|RSVD)"
	mov dword [PD32 + 12], 0

	; ---- TLB invalidation ----
	PTE 6, (PHYS + 0x6000) | 3
	mov eax, [TEST_VA + 0x6000]
	CHECK_EQ eax, 0x60aa, "paging: TLB test page"
	mov dword [PT2 + 4 * 6], (PHYS + 0x7000) | 3
	invlpg [TEST_VA + 0x6000]
	mov eax, [TEST_VA + 0x6000]
	CHECK_EQ eax, 0x70aa, "paging: INVLPG drops the old translation"
	mov dword [PT2 + 4 * 6], (PHYS + 0x8000) | 3
	mov eax, cr3
	mov cr3, eax
	mov eax, [TEST_VA + 0x6000]
	CHECK_EQ eax, 0x80aa, "paging: MOV CR3 drops the old translation"

	; global pages survive MOV CR3; a CR4.PGE change flushes them
	mov eax, cr4
	or eax, 0x80			; PGE
	mov cr4, eax
	PTE 7, (PHYS + 0x9000) | 0x103	; global
	mov eax, [TEST_VA + 0x7000]
	CHECK_EQ eax, 0x90aa, "paging: global page translates"
	mov dword [PT2 + 4 * 7], (PHYS + 0xa000) | 0x103
	mov eax, cr3
	mov cr3, eax
	mov eax, [TEST_VA + 0x7000]
	CHECK_EQ eax, 0x90aa, "paging: global page survives MOV CR3"
	mov eax, cr4
	and eax, ~0x80
	mov cr4, eax
	mov eax, [TEST_VA + 0x7000]
	CHECK_EQ eax, 0xa0aa, "paging: clearing CR4.PGE flushes global pages"

	TRY .pgpe
	mov eax, cr0
	and eax, ~1
	mov cr0, eax
.pgpe:	CHECK_EXC 13, 0, "paging: CR0.PG without PE -> #GP(0)"

	; ---- PAE ----
	mov eax, cr0
	and eax, 0x7fffffff
	mov cr0, eax
	mov edi, PDPT
	mov ecx, (0x4000) / 4
	xor eax, eax
.zp:	mov [edi], eax
	add edi, 4
	dec ecx
	jnz .zp
	mov dword [PDPT], PAE_PD0 | 1
	; 0..8 MiB: 2 MiB pages, user; PD[4] -> PAE_PT (TEST_VA = 8 MiB)
	mov dword [PAE_PD0], 0x000000 | 0x87
	mov dword [PAE_PD0 + 8], 0x200000 | 0x87
	mov dword [PAE_PD0 + 16], 0x400000 | 0x87
	mov dword [PAE_PD0 + 24], 0x600000 | 0x87
	mov dword [PAE_PD0 + 32], PAE_PT | 7
	mov dword [PAE_PT], PHYS | 3
	mov dword [PAE_PT + 8], (PHYS + 0x1000) | 3
	mov dword [PAE_PT + 12], 0x80000000		; XD
	mov dword [PAE_PT + 16], 0
	mov ecx, 0xc0000080
	rdmsr
	or eax, 0x800			; NXE
	wrmsr
	mov eax, cr4
	or eax, 0x20
	mov cr4, eax
	mov eax, PDPT
	mov cr3, eax
	mov eax, cr0
	or eax, 0x80000000
	mov cr0, eax
	mov eax, [TEST_VA]
	CHECK_EQ eax, 0xaa, "paging: PAE 4 KiB page translates"
	mov eax, [0x600000 + 0x123]
	mov ebx, [0x600123]
	CHECK_EQ eax, ebx, "paging: PAE 2 MiB page translates"
	; an executable copy of "ret" in the test pages
	mov byte [PHYS + 0x1000], 0xc3
	mov byte [PHYS + 0x2000], 0xc3
	TRY .nx1
	call TEST_VA + 0x1000
.nx1:	CHECK_EXC 14, 0x11, "paging: PAE fetch from an XD page -> #PF(P|I/D)"
	mov eax, cr2
	CHECK_EQ eax, TEST_VA + 0x1000, "paging: CR2 of the fetch fault"
	mov eax, [TEST_VA + 0x1000]
	and eax, 0xff
	CHECK_EQ eax, 0xc3, "paging: XD page is readable"
	TRY .nx2
	call TEST_VA + 0x2000
.nx2:	CHECK_EXC 14, 0x10, "paging: PAE fetch from a non-present page -> #PF(I/D)"
	; without NXE the XD bit is reserved
	mov ecx, 0xc0000080
	rdmsr
	and eax, ~0x800
	wrmsr
	TRY .nx3
	mov eax, [TEST_VA + 0x1000]
.nx3:	CHECK_EXC 14, 9, "paging: XD with EFER.NXE=0 is reserved -> #PF(P|RSVD)"
	mov eax, cr0
	and eax, 0x7fffffff
	mov cr0, eax
	; last: QEMU TCG (7.2) hangs on this one
	TRY .cr4
	mov eax, cr4
	or eax, 1 << 31
	mov cr4, eax
.cr4:	CHECK_EXC 13, 0, "paging: MOV CR4 with a reserved bit -> #GP(0)"
	jmp finish

; ---- ring 3 ----
user_tests:
	TRY .u1
	mov eax, [TEST_VA + 0x3000]
.u1:	CHECK_EXC 14, 5, "paging: user read of a supervisor page -> #PF(P|U)"
	TRY .u2
	mov eax, [TEST_VA + 0x4000]
.u2:	CHECK_NOEXC "paging: user reads a user read-only page"
	TRY .u3
	mov dword [TEST_VA + 0x4000], 1
.u3:	CHECK_EXC 14, 7, "paging: user write to read-only -> #PF(P|W|U)"
	TRY .u4
	mov eax, [TEST_VA + 0x5000]
.u4:	CHECK_EXC 14, 4, "paging: user read of a non-present page -> #PF(U)"
	mov eax, 0x600d
	int 0x80

%include "tail.inc"
