/* SPDX-License-Identifier: MIT */
/* 16550A UART (COM1 at 0x3f8, IRQ 4). */
#ifndef SOFTKVM_VMM_DEV_SERIAL_H
#define SOFTKVM_VMM_DEV_SERIAL_H

#include <stdbool.h>
#include <stdint.h>

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_NREGS	 8
#define SERIAL_FIFO	 16

struct serial {
	uint8_t rx[SERIAL_FIFO]; /* receive FIFO (one entry used when FIFOs are off) */
	unsigned rx_head, rx_count;
	uint8_t ier, fcr, lcr, mcr, lsr, msr, scr;
	uint16_t divisor;
	bool thr_ipending; /* THR-empty interrupt pending (cleared by reading IIR or writing THR) */
	bool irq;	   /* level of the IRQ line (OUT2-gated) */
	/* called when the level changes (IRQ 4 on the irqchip); may be NULL */
	void (*set_irq)(void *opaque, bool level);
	void *irq_opaque;
	int out_fd;
	unsigned nout;
	char out[256];
};

void serial_init(struct serial *s, int out_fd);
void serial_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);
/* Queue received bytes (host input); returns how many fitted. */
unsigned serial_receive(struct serial *s, const uint8_t *buf, unsigned n);
void serial_flush(struct serial *s);

#endif
