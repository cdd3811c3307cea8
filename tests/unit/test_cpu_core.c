/* SPDX-License-Identifier: MIT */
/*
 * Core processor mechanics through the harness: block execution, lazy flags
 * through Jcc, suspended port I/O (replay), self-modifying code, external
 * writes to code (epoch validation), the instruction budget.
 */
#include <string.h>

#include "harness.h"
#include "unit.h"

static struct hx *h;

static enum cpu_exit run64(const uint8_t *code, size_t len, uint64_t budget)
{
	hx_load(h, 0x100000, code, len);
	hx_setup_long64(h, 0x100000, 0x300000, false);
	return hx_run(h, budget);
}

static void test_loop_and_flags(void)
{
	/* mov ecx,1000; xor eax,eax; l: add eax,ecx; dec ecx; jnz l; out 0xf4,al */
	static const uint8_t code[] = {0xb9, 0xe8, 0x03, 0,    0,    0x31, 0xc0, 0x01,
				       0xc8, 0xff, 0xc9, 0x75, 0xfa, 0xe6, 0xf4, 0xf4};
	struct cpu_regs r;
	run64(code, sizeof(code), 0);
	cpu_get_regs(h->cpu, &r);
	CHECK_EQ(r.gpr[REG_RAX], 500500);
	CHECK_EQ(r.gpr[REG_RCX], 0);
	CHECK(h->exited);
	/* ZF from the last DEC is set; CF preserved from ADD (no carry) */
	CHECK(r.rflags & FL_ZF);
	CHECK(!(r.rflags & FL_CF));
}

static void test_io_suspend(void)
{
	/* in al,0x80 (harness answers 0xff synchronously); mov bl,al; out 0xf4,al */
	static const uint8_t code[] = {0xe4, 0x80, 0x88, 0xc3, 0xe6, 0xf4, 0xf4};
	struct cpu_regs r;
	run64(code, sizeof(code), 0);
	cpu_get_regs(h->cpu, &r);
	CHECK_EQ(r.gpr[REG_RBX] & 0xff, 0xff);
}

static void test_smc(void)
{
	/* mov byte [rip+1], 0x42 patches the imm8 of the following "mov al, 0x11";
	 * then out 0xf4, al. The store must be seen by the next instruction. */
	static const uint8_t code[] = {
	    0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x42, /* mov byte [rip+1], 0x42 */
	    0xb0, 0x11,				      /* mov al, 0x11 */
	    0xe6, 0xf4, 0xf4,			      /* out 0xf4, al; hlt */
	};
	run64(code, sizeof(code), 0);
	CHECK_EQ(h->exit_code, 0x42);
}

static void test_external_write(void)
{
	/* run a program, change its bytes from outside, run again: new bytes run */
	uint8_t code[] = {0xb0, 0x05, 0xe6, 0xf4, 0xf4}; /* mov al,5; out 0xf4,al */
	run64(code, sizeof(code), 0);
	CHECK_EQ(h->exit_code, 5);
	h->ram[0x100001] = 0x07; /* behind the processor's back */
	h->exited = false;
	hx_setup_long64(h, 0x100000, 0x300000, false);
	hx_run(h, 0);
	CHECK_EQ(h->exit_code, 7);
}

static void test_budget(void)
{
	static const uint8_t code[] = {0xeb, 0xfe}; /* jmp $ */
	enum cpu_exit e = run64(code, sizeof(code), 1000);
	CHECK_EQ(e, CPU_EXIT_BUDGET);
}

static void test_triple_fault(void)
{
	/* no IDT entries: #UD -> #GP (bad gate) -> #DF -> triple fault */
	static const uint8_t code[] = {0x0f, 0x0b}; /* ud2 */
	memset(h->ram + h->idt, 0, 0x1000);
	enum cpu_exit e = run64(code, sizeof(code), 0);
	CHECK_EQ(e, CPU_EXIT_SHUTDOWN);
}

int main(void)
{
	h = hx_create(64ull << 20);
	test_loop_and_flags();
	test_io_suspend();
	test_smc();
	test_external_write();
	test_budget();
	test_triple_fault();
	hx_destroy(h);
	return unit_done("test_cpu_core");
}
