/* SPDX-License-Identifier: MIT */
/*
 * Port I/O and guest MSR accesses through cpu_ops, with suspension when the
 * callee needs the caller of cpu_run() to answer (KVM_EXIT_IO, user-space MSR
 * exits): the instruction is re-executed on the next cpu_run() and finds the
 * answer in the replay log.
 */
#include "internal.h"

uint64_t io_in(struct cpu *c, uint16_t port, unsigned size)
{
	uint64_t v;
	uint8_t buf[8] = {0};

	unsigned batch = c->io_batch;

	c->io_batch = 1;
	if (xlog_replay(c, XLOG_PIO_IN, port, size, &v))
		return v & size_mask(size);
	if (c->inb.active && c->inb.port == port && c->inb.size == size && c->inb.pos < c->inb.n)
		return ld_n(&c->inb.data[c->inb.pos++ * size], size);
	c->inb.active = false;
	if (!c->ops->pio_in || c->ops->pio_in(c->opaque, port, buf, size) == CPU_OPS_EXIT) {
		c->exit.io.port = port;
		c->exit.io.size = (uint8_t)size;
		c->exit.io.in = 1;
		c->exit.io.count = batch;
		memset(c->exit.io.data, 0, sizeof(c->exit.io.data));
		xlog_suspend(c, XLOG_PIO_IN, port, size, 0, CPU_EXIT_IO);
	}
	return ld_n(buf, size);
}

void io_out(struct cpu *c, uint16_t port, unsigned size, uint64_t v)
{
	uint64_t dummy;
	uint8_t buf[8] = {0};

	if (xlog_replay(c, XLOG_PIO_OUT, port, size, &dummy))
		return;
	st_n(buf, size, v);
	if (!c->ops->pio_out || c->ops->pio_out(c->opaque, port, buf, size) == CPU_OPS_EXIT) {
		c->exit.io.port = port;
		c->exit.io.size = (uint8_t)size;
		c->exit.io.in = 0;
		c->exit.io.count = 1;
		memset(c->exit.io.data, 0, sizeof(c->exit.io.data));
		memcpy(c->exit.io.data, buf, size);
		xlog_suspend(c, XLOG_PIO_OUT, port, size, v, CPU_EXIT_IO);
	}
}

/* SDM vol. 1, 19.5.2: the I/O permission bit map of the TSS */
void io_check_perm(struct cpu *c, uint16_t port, unsigned size)
{
	const struct cpu_seg *tr = &c->seg[SEG_TR];
	unsigned iopl = (c->rflags & FL_IOPL) >> 12;

	if (!(c->cr0 & CR0_PE))
		return;
	if (!(c->rflags & FL_VM) && (unsigned)c->cpl <= iopl)
		return;
	/* needs a present 32/64-bit TSS with a bitmap covering the ports */
	if (tr->unusable || !tr->present || (tr->type & 0xd) != 0x9 || tr->limit < 0x67)
		cpu_raise(c, EXC_GP, 0);
	/* the TSS base is 64-bit in all of IA-32e mode (compatibility mode too) */
	uint64_t m = in_long_mode(c) ? ~0ull : 0xffffffffull;
	uint64_t base = mem_read_slow(c, (tr->base + 0x66) & m, 2, ACCF_IMPLICIT_SV) & 0xffff;
	uint64_t off = base + port / 8;
	if (off + 1 > tr->limit)
		cpu_raise(c, EXC_GP, 0);
	uint64_t bits = mem_read_slow(c, (tr->base + off) & m, 2, ACCF_IMPLICIT_SV);
	uint64_t mask = ((1u << size) - 1) << (port & 7);
	if (bits & mask)
		cpu_raise(c, EXC_GP, 0);
}

uint64_t msr_read_guest(struct cpu *c, uint32_t index)
{
	uint64_t v = 0;

	if (xlog_replay(c, XLOG_RDMSR, index, 8, &v))
		return v;
	int r = c->ops->rdmsr ? c->ops->rdmsr(c->opaque, index, &v) : CPU_OPS_GP;
	if (r == CPU_OPS_GP)
		cpu_raise(c, EXC_GP, 0);
	if (r == CPU_OPS_EXIT) {
		c->exit.msr.index = index;
		c->exit.msr.data = 0;
		xlog_suspend(c, XLOG_RDMSR, index, 8, 0, CPU_EXIT_RDMSR);
	}
	return v;
}

void msr_write_guest(struct cpu *c, uint32_t index, uint64_t v)
{
	uint64_t dummy;

	if (xlog_replay(c, XLOG_WRMSR, index, 8, &dummy))
		return;
	int r = c->ops->wrmsr ? c->ops->wrmsr(c->opaque, index, v) : CPU_OPS_GP;
	if (r == CPU_OPS_GP)
		cpu_raise(c, EXC_GP, 0);
	if (r == CPU_OPS_EXIT) {
		c->exit.msr.index = index;
		c->exit.msr.data = v;
		xlog_suspend(c, XLOG_WRMSR, index, 8, v, CPU_EXIT_WRMSR);
	}
}
