/* The assembled demo guest, embedded in the softkvm binary. */
	.section .rodata
	.global softkvm_demo_bin
	.global softkvm_demo_bin_end
	.balign 16
softkvm_demo_bin:
	.incbin DEMO_BIN
softkvm_demo_bin_end:
	.section .note.GNU-stack, "", @progbits
