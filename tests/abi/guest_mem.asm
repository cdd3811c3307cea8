; Guest for test_memory: real mode at 0x1000, stack below 0x8000.
; Each "out" to a port below 0x20 is a step the host checks.
;   0x10 after dirtying pages 0, 3 and 9 of the logged slot (0x10000)
;   0x10 after dirtying page 5
;   0x10 after dirtying pages 1 and 70 of the big logged slot (0x30000, 128 pages)
;   0x11 with the byte read from the read-only slot (0x20000); then a write
;        to it, which must exit as MMIO; then 0x12
;   0x13 after writes to the coalesced MMIO zone 0xd0000: a byte, a word, a dword
;   0x14 after an OUT to the coalesced port 0x70
;   0x15 after 200 byte writes to 0xd0008 (more than the ring holds)
bits 16
org 0x1000

start:
	xor ax, ax
	mov ds, ax
	mov ss, ax
	mov sp, 0x8000

	mov ax, 0x1000			; the logged slot at 0x10000
	mov es, ax
	mov byte [es:0x0000], 1
	mov byte [es:0x3000], 1
	mov byte [es:0x9000], 1
	out 0x10, al
	mov byte [es:0x5000], 2
	out 0x10, al
	mov ax, 0x3100			; page 1 of the big slot
	mov es, ax
	mov byte [es:0], 3
	mov ax, 0x7600			; page 70
	mov es, ax
	mov byte [es:0], 3
	out 0x10, al

	mov ax, 0x2000			; the read-only slot
	mov es, ax
	mov al, [es:0]
	out 0x11, al
	mov byte [es:0], 0x77
	out 0x12, al

	mov ax, 0xd000			; the coalesced MMIO zone
	mov es, ax
	mov byte [es:0], 0xa1
	mov word [es:2], 0xb2c3
	mov dword [es:4], 0xd4e5f607
	out 0x13, al
	mov al, 0x42
	out 0x70, al			; coalesced PIO
	out 0x14, al

	mov cx, 200
.fill:	mov [es:8], cl
	loop .fill
	out 0x15, al
	hlt
