/* SPDX-License-Identifier: MIT */
/*
 * Where the differential test cannot look: REP INS/OUTS, REP MOVS/STOS and
 * the read-modify-write instructions (LOCK ADD, XCHG, CMPXCHG, BTS,
 * CMPXCHG16B, XADD) on MMIO whose every access leaves cpu_run() (the replay
 * log of a suspended instruction, one iteration at a time), and a long REP
 * STOS interrupted by the instruction budget (it returns to the run loop
 * with RIP on the instruction and RCX/RDI committed, and resumes).
 */
#include <string.h>

#include "harness.h"
#include "unit.h"

#define CODE_GPA 0x100000
#define DATA_GPA 0x200000
#define MMIO_GPA 0x80000000ull /* beyond RAM, identity mapped */

struct dev {
	uint8_t in_next; /* next byte an IN returns */
	uint8_t out[16]; /* bytes written by OUTs */
	unsigned nout;
	uint8_t mm[0x3000]; /* the device's memory at MMIO_GPA */
	unsigned nrd, nwr;
};

/* every access needs the caller of cpu_run() */
static int d_mmio_read(void *o, uint64_t gpa, void *data, unsigned len)
{
	(void)o, (void)gpa, (void)data, (void)len;
	return CPU_OPS_EXIT;
}

static int d_mmio_write(void *o, uint64_t gpa, const void *data, unsigned len)
{
	(void)o, (void)gpa, (void)data, (void)len;
	return CPU_OPS_EXIT;
}

static int d_pio_in(void *o, uint16_t port, void *data, unsigned len)
{
	(void)o, (void)port, (void)data, (void)len;
	return CPU_OPS_EXIT;
}

static int d_pio_out(void *o, uint16_t port, const void *data, unsigned len)
{
	(void)o, (void)port, (void)data, (void)len;
	return CPU_OPS_EXIT;
}

static const struct cpu_ops dev_ops = {
    .mmio_read = d_mmio_read,
    .mmio_write = d_mmio_write,
    .pio_in = d_pio_in,
    .pio_out = d_pio_out,
};

__asm__(".pushsection .rodata\n"
	".globl sio_guest, sio_guest_end\n"
	"sio_guest:\n"
	"	movw $0x80, %dx\n"
	"	movl $0x200000, %edi\n"
	"	movl $5, %ecx\n"
	"	rep insb\n" /* one IN exit for 5 elements */
	"	movl $0x200000, %esi\n"
	"	movl $5, %ecx\n"
	"	movw $0xe9, %dx\n"
	"	rep outsb\n" /* 5 OUT exits */
	"	movl $0x80000000, %esi\n"
	"	movl $0x200100, %edi\n"
	"	movl $4, %ecx\n"
	"	rep movsw\n" /* 4 MMIO read exits */
	"	movl $0x80001000, %edi\n"
	"	movl $0x11223344, %eax\n"
	"	movl $3, %ecx\n"
	"	rep stosl\n" /* 3 MMIO write exits */
	"	movl $0x80002000, %edi\n"
	"	lock addl $5, (%rdi)\n" /* read + write */
	"	movl $0x77, %eax\n"
	"	xchgl %eax, 4(%rdi)\n" /* read + write */
	"	movl $0x99, %ecx\n"
	"	movl $0x31, %eax\n"
	"	lock cmpxchgl %ecx, 8(%rdi)\n" /* read + write (succeeds) */
	"	lock btsl $3, 12(%rdi)\n"      /* read + write */
	"	xorl %eax, %eax\n"
	"	xorl %edx, %edx\n"
	"	movl $1, %ebx\n"
	"	movl $2, %ecx\n"
	"	lock cmpxchg16b 16(%rdi)\n" /* 2 reads + 2 writes (fails) */
	"	movl $0x100, %esi\n"
	"	lock xaddl %esi, 32(%rdi)\n" /* read + write */
	"	hlt\n"
	"sio_guest_end:\n"
	/* a long REP STOSB for the budget test */
	".globl long_stos, long_stos_end\n"
	"long_stos:\n"
	"	movl $0x300000, %edi\n"
	"	movl $100000, %ecx\n"
	"	movb $0x5a, %al\n"
	"	rep stosb\n"
	"	hlt\n"
	"long_stos_end:\n"
	".popsection\n");
extern const uint8_t sio_guest[], sio_guest_end[], long_stos[], long_stos_end[];

static void test_suspended(struct hx *h)
{
	static struct dev d;
	struct cpu *c = cpu_create(h->mem, &dev_ops, &d);
	struct cpu_sregs s;
	struct cpu_regs r;
	unsigned exits = 0, in_exits = 0;
	enum cpu_exit e;
	uint32_t w;
	uint64_t q[2];

	memset(&d, 0, sizeof(d));
	d.in_next = 1;
	for (unsigned k = 0; k < 8; k++)
		d.mm[k] = (uint8_t)(0xa0 + k);
	w = 10;
	memcpy(d.mm + 0x2000, &w, 4);
	w = 0x55;
	memcpy(d.mm + 0x2004, &w, 4);
	w = 0x31;
	memcpy(d.mm + 0x2008, &w, 4);
	w = 0x01;
	memcpy(d.mm + 0x200c, &w, 4);
	q[0] = 7;
	q[1] = 8;
	memcpy(d.mm + 0x2010, q, 16);
	w = 0x23;
	memcpy(d.mm + 0x2020, &w, 4);
	hx_load(h, CODE_GPA, sio_guest, (size_t)(sio_guest_end - sio_guest));
	hx_setup_long64(h, CODE_GPA, 0x380000, false);
	cpu_get_sregs(h->cpu, &s);
	cpu_get_regs(h->cpu, &r);
	cpu_set_sregs(c, &s);
	cpu_set_regs(c, &r);
	while ((e = cpu_run(c)) != CPU_EXIT_HLT && exits < 200) {
		const struct cpu_exit_info *x = cpu_exit_info(c);
		exits++;
		if (e == CPU_EXIT_IO && x->io.in) {
			/* REP INS asks for several elements at once (Linux's read-ahead) */
			uint8_t v[1024];
			if (!in_exits++)
				CHECK_EQ(x->io.count, 5);
			for (unsigned k = 0; k < x->io.count && k < sizeof(v); k++)
				v[k] = d.in_next++;
			cpu_complete(c, v, false);
		} else if (e == CPU_EXIT_IO) {
			if (d.nout < sizeof(d.out))
				d.out[d.nout++] = x->io.data[0];
			cpu_complete(c, NULL, false);
		} else if (e == CPU_EXIT_MMIO &&
			   x->mmio.gpa - MMIO_GPA + x->mmio.len <= sizeof(d.mm)) {
			uint64_t off = x->mmio.gpa - MMIO_GPA, v = 0;
			if (x->mmio.is_write) {
				memcpy(d.mm + off, x->mmio.data, x->mmio.len);
				d.nwr++;
				cpu_complete(c, NULL, false);
			} else {
				memcpy(&v, d.mm + off, x->mmio.len);
				d.nrd++;
				cpu_complete(c, &v, false);
			}
		} else {
			break;
		}
	}
	CHECK_EQ(e, CPU_EXIT_HLT);
	CHECK_EQ(exits, 1 + 5 + 4 + 3 + 2 + 2 + 2 + 2 + 4 + 2);
	CHECK_EQ(d.nrd, 4 + 1 + 1 + 1 + 1 + 2 + 1);
	CHECK_EQ(d.nwr, 3 + 1 + 1 + 1 + 1 + 2 + 1);
	for (unsigned k = 0; k < 5; k++)
		CHECK_EQ(h->ram[DATA_GPA + k], k + 1);
	CHECK_EQ(d.nout, 5);
	for (unsigned k = 0; k < 5; k++)
		CHECK_EQ(d.out[k], k + 1);
	for (unsigned k = 0; k < 8; k++)
		CHECK_EQ(h->ram[DATA_GPA + 0x100 + k], 0xa0 + k);
	for (unsigned k = 0; k < 3; k++) {
		memcpy(&w, d.mm + 0x1000 + 4 * k, 4);
		CHECK_EQ(w, 0x11223344);
	}
	memcpy(&w, d.mm + 0x2000, 4);
	CHECK_EQ(w, 15);
	memcpy(&w, d.mm + 0x2004, 4);
	CHECK_EQ(w, 0x77);
	memcpy(&w, d.mm + 0x2008, 4);
	CHECK_EQ(w, 0x99);
	memcpy(&w, d.mm + 0x200c, 4);
	CHECK_EQ(w, 0x09);
	memcpy(q, d.mm + 0x2010, 16);
	CHECK_EQ(q[0], 7); /* the compare failed: the old value written back */
	CHECK_EQ(q[1], 8);
	memcpy(&w, d.mm + 0x2020, 4);
	CHECK_EQ(w, 0x123);
	cpu_get_regs(c, &r);
	CHECK_EQ(r.gpr[REG_RAX], 7); /* CMPXCHG16B loaded rDX:rAX */
	CHECK_EQ(r.gpr[REG_RDX], 8);
	CHECK_EQ(r.gpr[REG_RSI], 0x23); /* XADD */
	CHECK(!(r.rflags & FL_ZF));
	cpu_destroy(c);
}

static void test_budget(struct hx *h)
{
	struct cpu_regs r;
	uint64_t rep_rip = CODE_GPA + (uint64_t)(long_stos_end - long_stos) - 3; /* f3 aa f4 */
	enum cpu_exit e;
	unsigned stops = 0;

	hx_load(h, CODE_GPA, long_stos, (size_t)(long_stos_end - long_stos));
	memset(h->ram + 0x300000, 0, 100001);
	hx_setup_long64(h, CODE_GPA, 0x380000, false);
	while ((e = hx_run(h, 1)) == CPU_EXIT_BUDGET) {
		cpu_get_regs(h->cpu, &r);
		if (r.rip == rep_rip) {
			/* part way: RCX and RDI agree with each other and with memory */
			CHECK_EQ(r.gpr[REG_RDI] + r.gpr[REG_RCX], 0x300000 + 100000);
			CHECK_EQ(h->ram[r.gpr[REG_RDI] - 1], 0x5a);
			CHECK_EQ(h->ram[r.gpr[REG_RDI]], 0);
			stops++;
		}
		if (stops > 1000)
			break;
	}
	CHECK_EQ(e, CPU_EXIT_HLT);
	CHECK(stops >= 5); /* one stop per chunk of the REP */
	cpu_get_regs(h->cpu, &r);
	CHECK_EQ(r.gpr[REG_RCX], 0);
	CHECK_EQ(h->ram[0x300000], 0x5a);
	CHECK_EQ(h->ram[0x300000 + 99999], 0x5a);
	CHECK_EQ(h->ram[0x300000 + 100000], 0);
}

int main(void)
{
	struct hx *h = hx_create(64ull << 20);
	test_suspended(h);
	test_budget(h);
	hx_destroy(h);
	return unit_done("test_string_io");
}
