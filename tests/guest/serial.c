/* SPDX-License-Identifier: MIT */
/*
 * The 16550A UART at 0x3f8 (PC16550D data sheet): scratch register, divisor
 * latch behind LCR.DLAB, IER, IIR with and without FIFOs, THRE interrupt
 * identification and its acknowledgement, LSR, MCR, and loopback mode
 * (MCR bit 4: THR feeds RBR, the modem outputs feed the modem inputs).
 * Console output is paused while the UART is being reprogrammed.
 */
#include "libtest.h"

#define THR 0
#define RBR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

static u8 rd(int r)
{
	return inb((u16)(COM1 + r));
}

static void wr(int r, u8 v)
{
	outb((u16)(COM1 + r), v);
}

static bool results[32];
static int nres;

static void check(bool ok)
{
	results[nres++] = ok;
}

int main(void)
{
	static const char *const names[] = {
	    "scratch register holds any value",
	    "LCR reads back",
	    "DLAB: DLL/DLM hold the divisor",
	    "DLAB off: offsets 0/1 are RBR/IER again, divisor kept",
	    "IER: only bits 0-3 are writable",
	    "IIR: no interrupt pending (0x01) without FIFOs",
	    "IIR: FIFO enabled bits (0xc1) after FCR = 1",
	    "IIR: enabling THRI with THR empty reports THRE (0x02)",
	    "IIR: reading it acknowledged the THRE interrupt",
	    "LSR: THRE and TEMT set",
	    "MCR: bits 0-4 writable",
	    "loopback: MSR reflects DTR/RTS/OUT1/OUT2",
	    "loopback: a THR write sets LSR.DR",
	    "loopback: RBR returns the byte, DR clears",
	    "loopback with FIFOs: three bytes in order",
	    "FCR: clearing the receive FIFO clears DR",
	    "loopback without FIFOs: overrun sets OE, RBR holds the last byte",
	    "LSR read clears OE",
	    "IIR: received data available (0x04) outranks THRE",
	    "loopback: nothing reached the terminal",
	};
	u8 lcr0 = rd(LCR), mcr0 = rd(MCR), ier0 = rd(IER);

	/* from here on nothing is printed until the UART is restored */
	wr(SCR, 0x5a);
	u8 a = rd(SCR);
	wr(SCR, 0xa5);
	check(a == 0x5a && rd(SCR) == 0xa5);
	wr(LCR, 0x1b);
	check(rd(LCR) == 0x1b);
	wr(LCR, 0x83);
	u8 dll0 = rd(DLL), dlm0 = rd(DLM);
	wr(DLL, 0x34);
	wr(DLM, 0x12);
	check(rd(DLL) == 0x34 && rd(DLM) == 0x12);
	wr(LCR, 0x03);
	wr(IER, 0);
	wr(LCR, 0x83);
	bool kept = rd(DLL) == 0x34 && rd(DLM) == 0x12;
	wr(DLL, dll0);
	wr(DLM, dlm0);
	wr(LCR, 0x03);
	check(kept && rd(IER) == 0);
	wr(IER, 0xff);
	check(rd(IER) == 0x0f);
	wr(IER, 0);
	wr(FCR, 0);
	check(rd(IIR) == 0x01);
	wr(FCR, 0x01);
	check(rd(IIR) == 0xc1);
	wr(FCR, 0x00);
	wr(IER, 0x02);
	check((rd(IIR) & 0x0f) == 0x02);
	check((rd(IIR) & 0x0f) == 0x01);
	wr(IER, 0);
	for (int k = 0; k < 100000 && (rd(LSR) & 0x60) != 0x60; k++)
		;
	check((rd(LSR) & 0x60) == 0x60);
	wr(MCR, 0xff);
	check(rd(MCR) == 0x1f);

	wr(MCR, 0x10);
	u8 m0 = rd(MSR) & 0xf0;
	wr(MCR, 0x11); /* DTR -> DSR */
	u8 m1 = rd(MSR) & 0xf0;
	wr(MCR, 0x12); /* RTS -> CTS */
	u8 m2 = rd(MSR) & 0xf0;
	wr(MCR, 0x14); /* OUT1 -> RI */
	u8 m3 = rd(MSR) & 0xf0;
	wr(MCR, 0x18); /* OUT2 -> DCD */
	u8 m4 = rd(MSR) & 0xf0;
	check(m0 == 0 && m1 == 0x20 && m2 == 0x10 && m3 == 0x40 && m4 == 0x80);

	wr(MCR, 0x10);
	while (rd(LSR) & 1) /* drain */
		rd(RBR);
	wr(THR, 'Q');
	check(rd(LSR) & 1);
	u8 c = rd(RBR);
	check(c == 'Q' && !(rd(LSR) & 1));
	wr(FCR, 0x07);
	wr(THR, 'x');
	wr(THR, 'y');
	wr(THR, 'z');
	u8 x = rd(RBR), y = rd(RBR), z = rd(RBR);
	check(x == 'x' && y == 'y' && z == 'z' && !(rd(LSR) & 1));
	wr(THR, '1');
	wr(FCR, 0x03);
	check(!(rd(LSR) & 1));
	wr(FCR, 0x00);
	wr(THR, 'A');
	wr(THR, 'B');
	u8 lsr = rd(LSR);
	u8 r = rd(RBR);
	check((lsr & 0x03) == 0x03 && r == 'B');
	check(!(rd(LSR) & 0x02));
	wr(THR, 'C');
	wr(IER, 0x03);
	u8 iir = rd(IIR);
	rd(RBR);
	wr(IER, 0);
	check((iir & 0x0f) == 0x04);

	/* restore: line settings, modem control, interrupts */
	wr(FCR, 0);
	wr(MCR, mcr0);
	wr(LCR, lcr0);
	wr(IER, ier0);
	check(true); /* the runner sees only report lines: stray loopback bytes would break them */

	for (int k = 0; k < nres; k++)
		report(names[k], results[k]);
	report_summary();
}
