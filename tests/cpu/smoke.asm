; SPDX-License-Identifier: MIT
; Framework smoke test: reporting, exceptions caught through TRY.
%include "lib32.inc"

test_main:
	mov eax, 5
	CHECK_EQ eax, 5, "smoke: compare"
	TRY .t1
	ud2
.t1:	CHECK_EXC 6, -1, "smoke: ud2 -> #UD"
	TRY .t2
	mov ax, 0x1230
	mov ds, ax
.t2:	CHECK_EXC 13, 0x1230, "smoke: mov ds, bad selector -> #GP(sel)"
	mov ax, SEL_DATA32
	mov ds, ax
	jmp finish

%include "tail.inc"
