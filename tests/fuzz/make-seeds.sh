#!/bin/sh
# Regenerate the seed corpus of the cpu fuzz target (tests/fuzz/corpus/).
# Each seed: the 8-byte header of fuzz_cpu.c (mode flags events where seed[4])
# followed by a few instructions assembled with nasm.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# seed NAME MODE FLAGS EVENTS WHERE BITS <<asm
seed() {
	name=$1 mode=$2 flags=$3 events=$4 where=$5 bits=$6
	{ echo "bits $bits"; cat; } >"$tmp/$name.asm"
	nasm -f bin -o "$tmp/$name.bin" "$tmp/$name.asm"
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o\\001\\002\\003\\004' "$mode" "$flags" "$events" "$where")" \
		>"corpus/$name"
	cat "$tmp/$name.bin" >>"corpus/$name"
}

seed real-basic 0 0 0 0 16 <<'A'
	mov ax, 0x1234
	add ax, bx
	mov cx, 10
l:	dec cx
	jnz l
	out 0xf4, al
	hlt
A
seed real-ivt 0x40 0x80 0 0 16 <<'A'
	int 0x21
	pushf
	popf
	iret
	cli
	hlt
A
seed prot16-seg 1 0 0 0 16 <<'A'
	mov ax, 0x10
	mov ds, ax
	mov ax, [bx+si+4]
	push ax
	retf
A
seed prot32-paging 0x12 0 0 0 32 <<'A'
	mov eax, [esi]
	mov [edi], eax
	mov ecx, cr0
	mov cr3, ecx
	cpuid
	rdtsc
	invlpg [esi]
	out 0xf4, al
A
seed prot32-pae-user 0x7a 0x81 0 0 32 <<'A'
	mov eax, [esi]
	in al, dx
	cli
	int 0x80
	mov [edi], eax
	hlt
A
seed long64-loop 3 0 0 0 64 <<'A'
	mov ecx, 100
l:	add rax, [rsi]
	adc rbx, rax
	dec ecx
	jnz l
	syscall
	iretq
A
seed long64-user-pages 0x6b 0 0 0 64 <<'A'
	mov rax, [rdi]
	mov [rdi+8], rax
	push rax
	call f
	int3
f:	pop rbx
	ret
A
seed compat32-far 4 0 0 0 32 <<'A'
	mov eax, 1
	push cs
	push dword n
	retf
n:	jmp 0x08:0x4000
A
seed compat16 5 0 0 0 16 <<'A'
	mov ax, 1
	push ax
	pop bx
	hlt
A
seed long64-tf-nmi 3 0 0x43 0 64 <<'A'
	nop
	nop
	hlt
	nop
A
seed long64-gdt-rand 0xc3 0 0 0 64 <<'A'
	mov ax, 0x63
	mov ds, ax
	mov es, ax
	lar eax, bx
	lsl ecx, dx
	verr ax
	mov fs, ax
	jmp far [rsi]
A
seed long64-smc 3 0 0 0 64 <<'A'
	mov byte [rel p+1], 0x42
p:	mov al, 0x11
	out 0xf4, al
A
seed long64-string 3 0 0 0 64 <<'A'
	mov ecx, 64
	rep stosb
	mov ecx, 8
	rep movsq
	repne scasb
	cld
	std
	lodsw
A
seed long64-muldiv 0x43 0 0 0 64 <<'A'
	mul rcx
	imul rax, rbx, 7
	xor ecx, ecx
	div rcx
	idiv byte [rsi]
A
seed long64-msr 3 0 0 0 64 <<'A'
	mov ecx, 0xc0000080
	rdmsr
	wrmsr
	mov ecx, 0xc0000082
	wrmsr
	syscall
	sysret
A
seed prot32-modes 0x42 0 0x88 0 32 <<'A'
	mov eax, cr0
	and eax, 0x7ffffffe
	mov cr0, eax
	mov cr4, eax
	lgdt [esi]
	lidt [edi]
	ltr ax
	jmp 0x18:0x4000
A
seed long64-straddle 3 0 0 0xff 64 <<'A'
	mov rax, 0x123456789abcdef0
	mov rbx, 0x0fedcba987654321
	add rax, rbx
	hlt
A
seed long64-shift-bits 3 0x41 0 0 64 <<'A'
	shl rax, cl
	rcl ebx, 3
	shrd rax, rdx, cl
	bsf rcx, rax
	bt [rsi], rdx
	popcnt rax, rbx
	bswap rax
	cmpxchg [rsi], rcx
	lock xadd [rdi], rax
	cmpxchg16b [rsi]
A
seed real-bcd 0 0x01 0 0 16 <<'A'
	daa
	aaa
	aam 10
	aad 10
	xlat
	lahf
	sahf
	into
	bound ax, [si]
	enter 8, 1
	leave
	hlt
A
ls corpus | wc -l
