/* SPDX-License-Identifier: MIT */
/*
 * 16550A UART. The register file follows the National Semiconductor
 * PC16550D data sheet (and QEMU's hw/char/serial.c, the reference the test
 * kernels are compared against): RBR/THR/DLL, IER/DLM, IIR/FCR, LCR, MCR,
 * LSR, MSR, SCR; FIFOs; loopback (MCR bit 4) feeding THR back into RBR with
 * the modem lines wired MCR->MSR. Output goes to the terminal at once, so the
 * transmitter is always empty (LSR THRE and TEMT stay set).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "dev_serial.h"

enum {
	REG_RBR = 0,
	REG_IER = 1,
	REG_IIR = 2,
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define LCR_DLAB      0x80
#define MCR_LOOP      0x10
#define MCR_OUT2      0x08
#define LSR_DR	      0x01
#define LSR_OE	      0x02
#define LSR_THRE      0x20
#define LSR_TEMT      0x40
#define LSR_INT_ANY   0x1e /* OE, PE, FE, BI */
#define IER_RDI	      0x01
#define IER_THRI      0x02
#define IER_RLSI      0x04
#define IER_MSI	      0x08
#define FCR_FE	      0x01
#define FCR_CLR_RX    0x02
#define FCR_CLR_TX    0x04
#define IIR_NO_INT    0x01
#define IIR_MSI	      0x00
#define IIR_THRI      0x02
#define IIR_RDI	      0x04
#define IIR_RLSI      0x06
#define IIR_FIFO      0xc0
#define MSR_DCTS      0x01
#define MSR_DDSR      0x02
#define MSR_TERI      0x04
#define MSR_DDCD      0x08
#define MSR_ANY_DELTA 0x0f
#define MSR_CTS	      0x10
#define MSR_DSR	      0x20
#define MSR_DCD	      0x80

void serial_init(struct serial *s, int out_fd)
{
	memset(s, 0, sizeof(*s));
	s->out_fd = out_fd;
	s->lsr = LSR_THRE | LSR_TEMT;
	/* a terminal without modem control: carrier, data set ready and clear to send */
	s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	s->divisor = 12; /* 9600 baud */
}

void serial_flush(struct serial *s)
{
	unsigned done = 0;

	while (done < s->nout) {
		ssize_t w = write(s->out_fd, s->out + done, s->nout - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* the terminal went away: drop the output */
		done += (unsigned)w;
	}
	s->nout = 0;
}

static void serial_put(struct serial *s, uint8_t c)
{
	s->out[s->nout++] = (char)c;
	if (c == '\n' || s->nout == sizeof(s->out))
		serial_flush(s);
}

static unsigned fifo_size(const struct serial *s)
{
	return (s->fcr & FCR_FE) ? SERIAL_FIFO : 1;
}

/* The pending interrupt of highest priority, as IIR reports it (bits 3:0). */
static uint8_t serial_iir_id(const struct serial *s)
{
	if ((s->ier & IER_RLSI) && (s->lsr & LSR_INT_ANY))
		return IIR_RLSI;
	if ((s->ier & IER_RDI) && (s->lsr & LSR_DR))
		return IIR_RDI;
	if ((s->ier & IER_THRI) && s->thr_ipending)
		return IIR_THRI;
	if ((s->ier & IER_MSI) && (s->msr & MSR_ANY_DELTA))
		return IIR_MSI;
	return IIR_NO_INT;
}

static void serial_update_irq(struct serial *s)
{
	/* on a PC the line reaches the interrupt controller only through OUT2 */
	bool irq = serial_iir_id(s) != IIR_NO_INT && (s->mcr & MCR_OUT2);

	if (irq != s->irq && s->set_irq)
		s->set_irq(s->irq_opaque, irq);
	s->irq = irq;
}

static void rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_count >= fifo_size(s)) {
		s->lsr |= LSR_OE;
		/* with FIFOs an overrun keeps the FIFO; without, RBR takes the new byte */
		if (!(s->fcr & FCR_FE))
			s->rx[s->rx_head] = c;
		return;
	}
	s->rx[(s->rx_head + s->rx_count) % SERIAL_FIFO] = c;
	s->rx_count++;
	s->lsr |= LSR_DR;
}

unsigned serial_receive(struct serial *s, const uint8_t *buf, unsigned n)
{
	unsigned k;

	if (s->mcr & MCR_LOOP)
		return 0; /* the receiver is disconnected from the line in loopback */
	for (k = 0; k < n && s->rx_count < fifo_size(s); k++)
		rx_push(s, buf[k]);
	serial_update_irq(s);
	return k;
}

static uint8_t serial_msr_read(struct serial *s)
{
	uint8_t v;

	if (s->mcr & MCR_LOOP) {
		/* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
		v = (uint8_t)(((s->mcr & 0x0c) << 4) | ((s->mcr & 0x02) << 3) |
			      ((s->mcr & 0x01) << 5));
		return v;
	}
	v = s->msr;
	s->msr &= (uint8_t)~MSR_ANY_DELTA; /* reading clears the deltas */
	serial_update_irq(s);
	return v;
}

static void serial_write_reg(struct serial *s, unsigned reg, uint8_t v)
{
	switch (reg) {
	case REG_RBR:
		if (s->lcr & LCR_DLAB) {
			s->divisor = (uint16_t)((s->divisor & 0xff00) | v);
			break;
		}
		/* writing THR clears THRI, then the byte goes out at once and THR is
		 * empty again: each byte pulses the line (QEMU's serial_xmit) */
		s->thr_ipending = false;
		serial_update_irq(s);
		if (s->mcr & MCR_LOOP)
			rx_push(s, v);
		else
			serial_put(s, v);
		s->thr_ipending = true;
		break;
	case REG_IER:
		if (s->lcr & LCR_DLAB) {
			s->divisor = (uint16_t)((s->divisor & 0x00ff) | (v << 8));
			break;
		}
		/* enabling THRI while THR is empty raises the interrupt (16550 behaviour) */
		if (!(s->ier & IER_THRI) && (v & IER_THRI) && (s->lsr & LSR_THRE))
			s->thr_ipending = true;
		s->ier = v & 0x0f;
		break;
	case REG_IIR: /* FCR */
		if ((v ^ s->fcr) & FCR_FE) {
			/* changing the FIFO enable clears both FIFOs */
			v |= FCR_CLR_RX | FCR_CLR_TX;
		}
		if (v & FCR_CLR_RX) {
			s->rx_head = s->rx_count = 0;
			s->lsr &= (uint8_t) ~(LSR_DR | LSR_OE);
		}
		s->fcr = v & 0xc9; /* enable, DMA mode and trigger level are kept */
		break;
	case REG_LCR:
		s->lcr = v;
		break;
	case REG_MCR:
		s->mcr = v & 0x1f;
		break;
	case REG_LSR: /* factory test: writes are ignored */
	case REG_MSR:
		break;
	case REG_SCR:
		s->scr = v;
		break;
	}
}

static uint8_t serial_read_reg(struct serial *s, unsigned reg)
{
	uint8_t v = 0;

	switch (reg) {
	case REG_RBR:
		if (s->lcr & LCR_DLAB)
			return (uint8_t)s->divisor;
		if (s->rx_count) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_FIFO;
			s->rx_count--;
		}
		if (!s->rx_count)
			s->lsr &= (uint8_t)~LSR_DR;
		break;
	case REG_IER:
		if (s->lcr & LCR_DLAB)
			return (uint8_t)(s->divisor >> 8);
		return s->ier;
	case REG_IIR:
		v = serial_iir_id(s);
		/* reading IIR acknowledges a THRE interrupt it reports */
		if (v == IIR_THRI)
			s->thr_ipending = false;
		if (s->fcr & FCR_FE)
			v |= IIR_FIFO;
		break;
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		v = s->lsr;
		/* error bits clear on read */
		s->lsr &= (uint8_t)~LSR_INT_ANY;
		break;
	case REG_MSR:
		v = serial_msr_read(s);
		break;
	case REG_SCR:
		return s->scr;
	}
	return v;
}

void serial_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct serial *s = dev;

	/* the UART has byte registers; a wider access touches consecutive ones */
	for (unsigned k = 0; k < len; k++) {
		unsigned reg = (unsigned)(off + k);

		if (reg >= SERIAL_NREGS)
			break;
		if (write) {
			serial_write_reg(s, reg, (uint8_t)(*val >> (8 * k)));
		} else {
			uint64_t b = serial_read_reg(s, reg);
			*val &= ~(0xffull << (8 * k));
			*val |= b << (8 * k);
		}
	}
	serial_update_irq(s);
}
