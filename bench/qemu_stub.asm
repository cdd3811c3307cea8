; SPDX-License-Identifier: MIT
;
; Boot stub that runs one benchmark kernel under qemu-system-x86_64 -kernel
; (multiboot v1 with the a.out kludge: the file is loaded flat at 1 MiB).
; bench-cpu appends the kernel image to this stub and fills in the parameter
; block. The stub copies the image to its link address, enters 64-bit mode
; with the first 4 GiB identity mapped (2 MiB pages), calls the kernel with
; the four arguments, and prints "R=<result> T=<tsc cycles>" in hex on the
; debug console (port 0xe9) before writing 0 to isa-debug-exit (port 0xf4).

	bits 32
	org 0x100000

MB_MAGIC equ 0x1badb002
MB_FLAGS equ 0x00010000		; addresses in the header are valid
KIMG     equ 0x1000000		; KIMG_BASE, bench/kernels/kernels.h
PT       equ 0x200000		; page tables (6 pages)
STACK    equ 0xf00000

hdr:
	dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
	dd hdr			; header_addr
	dd 0x100000		; load_addr
	dd 0			; load_end_addr: the whole file
	dd 0			; bss_end_addr: none
	dd start		; entry_addr

	times 64 - ($ - $$) db 0
; parameter block at file offset 64 (qemu.c)
p_entry: dq 0
p_args:  dq 0, 0, 0, 0
p_size:  dq 0			; bytes of image appended after the stub

	align 16
gdt:	dq 0
	dq 0x00af9a000000ffff	; 0x08: 64-bit code
	dq 0x00cf92000000ffff	; 0x10: data
	dq 0x00cf9a000000ffff	; 0x18: 32-bit code
gdt_end:
gdtr:	dw gdt_end - gdt - 1
	dd gdt

start:
	cli
	cld
	lgdt [gdtr]
	jmp 0x18:.flat
.flat:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov esp, STACK
	; the image, appended after the stub, to its link address
	mov esi, image
	mov edi, KIMG
	mov ecx, [p_size]
	rep movsb
	; PML4 -> PDPT -> 4 PDs of 2 MiB pages
	mov edi, PT
	mov ecx, 0x6000 / 4
	xor eax, eax
	rep stosd
	mov dword [PT], PT + 0x1003
	mov edi, PT + 0x1000
	mov eax, PT + 0x2003
	mov ecx, 4
.pdpt:	mov [edi], eax
	add eax, 0x1000
	add edi, 8
	loop .pdpt
	mov edi, PT + 0x2000
	mov eax, 0x83
	xor edx, edx
	mov ecx, 2048
.pd:	mov [edi], eax
	mov [edi + 4], edx
	add eax, 0x200000
	adc edx, 0
	add edi, 8
	loop .pd
	mov eax, cr4
	or eax, 1 << 5		; PAE
	mov cr4, eax
	mov eax, PT
	mov cr3, eax
	mov ecx, 0xc0000080	; EFER.LME
	rdmsr
	or eax, 1 << 8
	wrmsr
	mov eax, cr0
	or eax, 0x80000001	; PG | PE
	mov cr0, eax
	jmp 0x08:long64

	bits 64
long64:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov rsp, STACK
	rdtsc
	shl rdx, 32
	or rax, rdx
	mov r15, rax
	mov rdi, [p_args]
	mov rsi, [p_args + 8]
	mov rdx, [p_args + 16]
	mov rcx, [p_args + 24]
	call [p_entry]
	mov r14, rax
	rdtsc
	shl rdx, 32
	or rax, rdx
	sub rax, r15
	mov r13, rax
	mov al, 'R'
	out 0xe9, al
	mov al, '='
	out 0xe9, al
	mov rbx, r14
	call hex64
	mov al, ' '
	out 0xe9, al
	mov al, 'T'
	out 0xe9, al
	mov al, '='
	out 0xe9, al
	mov rbx, r13
	call hex64
	mov al, 10
	out 0xe9, al
	xor eax, eax
	out 0xf4, eax
.halt:	hlt
	jmp .halt

; print rbx as 16 hex digits on port 0xe9
hex64:
	mov ecx, 16
.digit:	rol rbx, 4
	mov eax, ebx
	and eax, 15
	add eax, '0'
	cmp eax, '9'
	jbe .out
	add eax, 'a' - '0' - 10
.out:	out 0xe9, al
	loop .digit
	ret

	align 16
image:
