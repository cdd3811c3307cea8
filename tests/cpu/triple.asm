; SPDX-License-Identifier: MIT
; Triple fault: #UD with an empty IDT -> #GP -> #DF -> #GP -> shutdown.
; The runner expects cpu_run() to report CPU_EXIT_SHUTDOWN.
%include "lib32.inc"

test_main:
	; a double fault first, handled: #NP while delivering #GP
	and byte [idt + 13 * 8 + 5], 0x7f
	TRY .df
	mov ax, 0x1008
	mov ds, ax
.df:	CHECK_EXC 8, 0, "triple: contributory fault during delivery -> #DF"
	or byte [idt + 13 * 8 + 5], 0x80
	mov ax, SEL_DATA32
	mov ds, ax
	; #PF while delivering #PF -> #DF
	mov esi, s_now
	call print
	lidt [empty_idt]
	ud2
	CHECK_EQ eax, -1, "triple: still running after the triple fault"
	jmp finish

s_now:	db "triple: IDT limit 0, UD2 -> shutdown", 10, 0
	align 4
empty_idt: dw 0
	dd 0

%include "tail.inc"
