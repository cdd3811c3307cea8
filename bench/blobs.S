/* SPDX-License-Identifier: MIT */
/* The benchmark kernel images and the QEMU boot stub, embedded in bench-cpu. */
	.section .rodata
	.balign 16
	.global kimg_basic, kimg_basic_end, kimg_full, kimg_full_end, qstub, qstub_end
kimg_basic:
	.incbin KBASIC_BIN
kimg_basic_end:
	.balign 16
kimg_full:
	.incbin KFULL_BIN
kimg_full_end:
	.balign 16
qstub:
	.incbin QSTUB_BIN
qstub_end:
	.section .note.GNU-stack, "", @progbits
