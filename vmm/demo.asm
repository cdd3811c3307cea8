; softkvm cpu-demo: a 64-bit guest program run on the bare processor.
; Sieve of Eratosthenes up to LIMIT, prints the primes and their count on
; the debug console (port 0xe9), then exits through port 0xf4.
bits 64
org 0x100000

LIMIT equ 1000

start:
	mov rsp, 0x300000
	lea rsi, [rel banner]
	call puts
	; clear the sieve
	lea rdi, [rel sieve]
	mov ecx, LIMIT + 1
	xor eax, eax
.clear:	mov byte [rdi + rcx - 1], 0
	dec ecx
	jnz .clear
	; mark composites
	mov ebx, 2
.outer:	mov eax, ebx
	imul eax, ebx
	cmp eax, LIMIT
	ja .print
	cmp byte [rdi + rbx], 0
	jne .next
.inner:	mov byte [rdi + rax], 1
	add eax, ebx
	cmp eax, LIMIT
	jbe .inner
.next:	inc ebx
	jmp .outer
.print:	xor r12d, r12d		; count
	mov ebx, 2
.ploop:	cmp byte [rdi + rbx], 0
	jne .skip
	inc r12d
	mov eax, ebx
	call putdec
	mov al, ' '
	out 0xe9, al
.skip:	inc ebx
	cmp ebx, LIMIT
	jbe .ploop
	mov al, 10
	out 0xe9, al
	lea rsi, [rel count]
	call puts
	mov eax, r12d
	call putdec
	mov al, 10
	out 0xe9, al
	xor eax, eax
	out 0xf4, al
	hlt

; print the zero-terminated string at rsi
puts:	lodsb
	test al, al
	jz .done
	out 0xe9, al
	jmp puts
.done:	ret

; print eax in decimal
putdec:	push rbx
	push rdx
	mov ecx, 10
	xor ebx, ebx
.div:	xor edx, edx
	div ecx
	push rdx
	inc ebx
	test eax, eax
	jnz .div
.out:	pop rax
	add al, '0'
	out 0xe9, al
	dec ebx
	jnz .out
	pop rdx
	pop rbx
	ret

banner:	db "softkvm cpu-demo: primes below 1000, computed by the guest", 10, 0
count:	db "count: ", 0
sieve:	times LIMIT + 1 db 0
