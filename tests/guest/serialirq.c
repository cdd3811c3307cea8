/* SPDX-License-Identifier: MIT */
/*
 * COM1's interrupt (ISA IRQ 4) by the 16550 rules: with OUT2 set, IER's
 * THRE enable raises it at once when THR is empty; reading IIR (which
 * reports THRE) acknowledges it; every byte written to THR empties the
 * transmitter again and interrupts again; IER = 0 lowers the line; OUT2
 * clear keeps it from the interrupt controller (the PC's gate). Delivered
 * through IOAPIC pin 4, then through the 8259 (LINT0 in ExtINT mode).
 * Output is off while the interrupt is enabled: results are reported after.
 */
#include "apic.h"

#define VEC_COM1 0x44
#define VEC_PIC	 0x20 /* master base: IRQ4 is 0x24 */
#define UART_IER (COM1 + 1)
#define UART_IIR (COM1 + 2)
#define UART_LCR (COM1 + 3)
#define UART_MCR (COM1 + 4)
#define MCR_OUT2 0x08
#define IER_THRI 0x02

static volatile u32 hits, pic_hits;
static volatile u8 last_iir;
static volatile bool read_iir = true;

static void com1_irq(struct ex_regs *r)
{
	(void)r;
	hits++;
	if (read_iir)
		last_iir = inb(UART_IIR);
	apic_eoi();
}

static void com1_pic_irq(struct ex_regs *r)
{
	(void)r;
	pic_hits++;
	last_iir = inb(UART_IIR);
	outb(0x20, 0x20);
}

int main(void)
{
	bool ok[8];
	u8 iir_in_handler, iir_after;

	irq_platform_init();
	set_ex_handler(VEC_COM1, com1_irq);
	set_ex_handler(VEC_PIC + 4, com1_pic_irq);
	testdev_irq(4, 0); /* nothing else drives the line */
	outb(UART_IER, 0);
	outb(UART_LCR, 0x03);
	outb(COM1 + 2, 0x00); /* FIFOs off */
	outb(UART_MCR, 0x03 | MCR_OUT2);
	(void)inb(UART_IIR);
	ioapic_set_redir(4, VEC_COM1, 0); /* edge, active high, BSP */
	irq_enable();

	/* THRE enabled while THR is empty: an interrupt at once */
	outb(UART_IER, IER_THRI);
	ok[0] = wait_until(hits == 1, 1000);
	iir_in_handler = last_iir;
	iir_after = inb(UART_IIR);

	/* every THR write empties the transmitter again */
	for (int k = 0; k < 3; k++) {
		outb(COM1, '\r');
		wait_until(hits == 2u + (u32)k, 1000);
	}
	ok[1] = hits == 4;

	/* a handler that does not read IIR: THR writes still pulse the line */
	read_iir = false;
	outb(COM1, '\r');
	wait_until(hits == 5, 1000);
	outb(COM1, '\r');
	wait_until(hits == 6, 1000);
	udelay(1000);
	ok[2] = hits == 6;
	read_iir = true;

	/* IER = 0 lowers the line: THR writes bring nothing */
	outb(UART_IER, 0);
	outb(COM1, '\r');
	udelay(2000);
	ok[3] = hits == 6 && inb(UART_IIR) == 0x01;

	/* OUT2 clear: the interrupt never reaches the controller */
	outb(UART_MCR, 0x03);
	outb(UART_IER, IER_THRI);
	udelay(2000);
	ok[4] = hits == 6;
	outb(UART_IER, 0);
	outb(UART_MCR, 0x03 | MCR_OUT2);

	/* the same interrupt through the 8259 (IOAPIC pin masked) */
	ioapic_set_redir(4, IOAPIC_MASKED | VEC_COM1, 0);
	pic_init(VEC_PIC, VEC_PIC + 8, (u16) ~(1u << 4) & 0xfffb);
	outb(UART_IER, IER_THRI);
	ok[5] = wait_until(pic_hits == 1, 1000);
	outb(UART_IER, 0);
	pic_set_mask(0xffff);
	irq_disable();

	report("IER THRE with OUT2 set: an interrupt at once (THR is empty)", ok[0]);
	report("IIR reports THRE (0x02) in the handler", (iir_in_handler & 0x0f) == 0x02);
	report("reading IIR acknowledges THRE (IIR 0x01 after)", iir_after == 0x01);
	report("each THR write interrupts again", ok[1]);
	report("unacknowledged THRE: each THR write still pulses the line", ok[2]);
	report("IER = 0: no interrupt, IIR 0x01", ok[3]);
	report("OUT2 clear gates the interrupt", ok[4]);
	report("IRQ 4 through the 8259 (LINT0 ExtINT)", ok[5]);
	report_summary();
}
