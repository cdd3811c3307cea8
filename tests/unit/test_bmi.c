/* SPDX-License-Identifier: MIT */
/*
 * BMI1/BMI2/ADX: the rules around the instructions that the differential test
 * (tests/diff, --focus bmi) cannot reach or that must hold whatever the host:
 * the #UD forms of the VEX encoding (SDM vol. 2A, 2.5.1), VEX in real mode
 * (C4/C5 are LES/LDS, VEX.mod = 11b #UD), VEX in 32-bit protected mode,
 * no dependence on CR4.OSXSAVE, CR0.EM or CR0.TS (general-purpose registers
 * only), and BEXTR's undefined flags in each vendor mode (cpu/README.md).
 */
#include <string.h>

#include "harness.h"
#include "unit.h"

#define CODE	0x100000ull
#define STACK	0x300000ull
#define RSP0	0x3f0000ull
#define STUBS	0x80000ull
#define EXIT_OK 0x55 /* written to port 0xf4 by the test code when nothing faulted */

static struct hx *h;

static void put64(uint64_t gpa, uint64_t v)
{
	memcpy(h->ram + gpa, &v, 8);
}

static void vendor(int v)
{
	struct cpu_vendor_info vi = {.vendor = (enum cpu_vendor)v};
	cpu_set_vendor(h->cpu, &vi);
}

/* every vector: "mov al, vector; out 0xf4, al; hlt" at ring 0 */
static void install_idt64(void)
{
	for (unsigned v = 0; v < 32; v++) {
		uint64_t stub = STUBS + 8 * v, lo;
		uint8_t *s = h->ram + stub;
		s[0] = 0xb0;
		s[1] = (uint8_t)v;
		s[2] = 0xe6;
		s[3] = 0xf4;
		s[4] = 0xf4;
		lo = (stub & 0xffff) | ((uint64_t)HX_SEL_CODE64 << 16) | (0xeull << 40) |
		     (1ull << 47) | ((stub >> 16 & 0xffff) << 48);
		put64(h->idt + 16 * v, lo);
		put64(h->idt + 16 * v + 8, stub >> 32);
	}
	put64(h->tss + 4, RSP0);
}

/* the code, then "mov rbp, rax (ebp, eax / bp, ax); mov al, EXIT_OK; out 0xf4, al; hlt":
 * RAX's value is in RBP */
static size_t with_exit(uint8_t *buf, const uint8_t *code, size_t len, bool m64)
{
	static const uint8_t tail[] = {0x48, 0x89, 0xc5, 0xb0, EXIT_OK, 0xe6, 0xf4, 0xf4};
	memcpy(buf, code, len);
	memcpy(buf + len, tail + !m64, sizeof(tail) - !m64);
	return len + sizeof(tail) - !m64;
}

static int finish(void)
{
	h->exited = false;
	h->exit_code = -1;
	cpu_note_external_write(h->cpu);
	hx_run(h, 100000);
	return h->exit_code;
}

/* run code in 64-bit mode at CPL 0 with the registers in (RSP aside); the port 0xf4 value */
static int run64(const uint8_t *code, size_t len, const struct cpu_regs *in, uint64_t cr0_set,
		 uint64_t cr4_clear)
{
	uint8_t buf[64];
	struct cpu_regs r;
	struct cpu_sregs s;

	hx_load(h, CODE, buf, with_exit(buf, code, len, true));
	hx_setup_long64(h, CODE, STACK, false);
	install_idt64();
	cpu_get_regs(h->cpu, &r);
	if (in)
		memcpy(r.gpr, in->gpr, sizeof(r.gpr));
	r.gpr[REG_RSP] = STACK;
	cpu_set_regs(h->cpu, &r);
	cpu_get_sregs(h->cpu, &s);
	s.cr0 |= cr0_set;
	s.cr4 &= ~cr4_clear;
	cpu_set_sregs(h->cpu, &s);
	return finish();
}

static uint64_t reg(int n)
{
	struct cpu_regs r;
	cpu_get_regs(h->cpu, &r);
	return r.gpr[n];
}

/* andn eax, eax, ecx (VEX.L0.0F38.W0 F2 /r) and variants */
static void test_vex_ud_64(void)
{
	static const struct {
		const char *what;
		uint8_t len, b[8];
		int want;
	} t[] = {
	    {"andn eax, eax, ecx", 5, {0xc4, 0xe2, 0x78, 0xf2, 0xc1}, EXIT_OK},
	    {"andn rax, rax, [rsp] (W1, memory)", 6, {0xc4, 0xe2, 0xf8, 0xf2, 0x04, 0x24}, EXIT_OK},
	    {"VEX.L = 1", 5, {0xc4, 0xe2, 0x7c, 0xf2, 0xc1}, 6},
	    {"66 before VEX", 6, {0x66, 0xc4, 0xe2, 0x78, 0xf2, 0xc1}, 6},
	    {"F2 before VEX", 6, {0xf2, 0xc4, 0xe2, 0x78, 0xf2, 0xc1}, 6},
	    {"F3 before VEX", 6, {0xf3, 0xc4, 0xe2, 0x78, 0xf2, 0xc1}, 6},
	    {"LOCK before VEX (memory operand)", 7, {0xf0, 0xc4, 0xe2, 0x78, 0xf2, 0x04, 0x24}, 6},
	    {"REX.W before VEX", 6, {0x48, 0xc4, 0xe2, 0x78, 0xf2, 0xc1}, 6},
	    {"REX before VEX", 6, {0x40, 0xc4, 0xe2, 0x78, 0xf2, 0xc1}, 6},
	    {"segment and 67h before VEX are fine",
	     7,
	     {0x2e, 0x67, 0xc4, 0xe2, 0x78, 0xf2, 0xc1},
	     EXIT_OK},
	    {"rorx eax, ecx, 5", 6, {0xc4, 0xe3, 0x7b, 0xf0, 0xc1, 5}, EXIT_OK},
	    {"rorx with VEX.vvvv != 1111b", 6, {0xc4, 0xe3, 0x43, 0xf0, 0xc1, 5}, 6},
	    {"rorx with VEX.L = 1", 6, {0xc4, 0xe3, 0x7f, 0xf0, 0xc1, 5}, 6},
	    {"mulx with VEX.L = 1", 5, {0xc4, 0xe2, 0x7f, 0xf6, 0xc1}, 6},
	    {"shlx with VEX.L = 1", 5, {0xc4, 0xe2, 0x7d, 0xf7, 0xc1}, 6},
	    {"pdep with VEX.L = 1", 5, {0xc4, 0xe2, 0x7f, 0xf5, 0xc1}, 6},
	    {"blsr with VEX.L = 1", 5, {0xc4, 0xe2, 0x7c, 0xf3, 0xc9}, 6},
	    {"VEX.0F38 F3 /0 (no instruction)", 5, {0xc4, 0xe2, 0x78, 0xf3, 0xc1}, 6},
	    {"lock adcx (memory operand)", 7, {0xf0, 0x66, 0x0f, 0x38, 0xf6, 0x04, 0x24}, 6},
	};
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		int got = run64(t[k].b, t[k].len, NULL, 0, 0);
		if (got != t[k].want)
			fprintf(stderr, "  %s: port %#x, expected %#x\n", t[k].what, got,
				t[k].want);
		CHECK_EQ(got, t[k].want);
	}
}

/* BMI and ADX use no XSAVE state: CR4.OSXSAVE = 0 and CR0.EM/TS = 1 change nothing */
static void test_no_xsave_state(void)
{
	/* andn rax, rbx, rcx; mulx r8, r9, rbx (r8:r9 = rdx * rbx); rorx r10, rbx, 8;
	 * shlx r11, rbx, rcx; adcx r12, rbx; adox r13, rbx */
	static const uint8_t code[] = {0xc4, 0xe2, 0xe0, 0xf2, 0xc1, 0xc4, 0x62, 0xb3, 0xf6,
				       0xc3, 0xc4, 0x63, 0xfb, 0xf0, 0xd3, 0x08, 0xc4, 0x62,
				       0xf1, 0xf7, 0xdb, 0x66, 0x4c, 0x0f, 0x38, 0xf6, 0xe3,
				       0xf3, 0x4c, 0x0f, 0x38, 0xf6, 0xeb};
	struct cpu_regs in = {0};
	in.gpr[REG_RBX] = 0xf0f0f0f0f0f0f0f0ull;
	in.gpr[REG_RCX] = 0x0ff0000000000004ull;
	in.gpr[REG_RDX] = 0x10;
	in.gpr[12] = 1;
	in.gpr[13] = 2;
	CHECK_EQ(run64(code, sizeof(code), &in, (1u << 2) | (1u << 3), 1u << 18), EXIT_OK);
	CHECK_EQ(reg(REG_RBP), 0x0f00000000000004ull);
	CHECK_EQ(reg(8), 0xf);
	CHECK_EQ(reg(9), 0x0f0f0f0f0f0f0f00ull);
	CHECK_EQ(reg(10), 0xf0f0f0f0f0f0f0f0ull);
	CHECK_EQ(reg(11), 0x0f0f0f0f0f0f0f00ull);
	CHECK_EQ(reg(12), 0xf0f0f0f0f0f0f0f1ull);
	CHECK_EQ(reg(13), 0xf0f0f0f0f0f0f0f2ull);
}

/* BEXTR: ZF by the result, CF = OF = 0; SF, PF and AF are undefined: SF = 0 and
 * PF by the result on both, AF = 1 on AMD (an EPYC Zen 3), 0 in Intel mode */
static void test_bextr_flags(void)
{
	/* push 0x8d5 (CF PF AF ZF SF OF); popfq; bextr rax, rbx, rcx; pushfq; pop rdx */
	static const uint8_t code[] = {0x68, 0xd5, 0x08, 0x00, 0x00, 0x9d, 0xc4,
				       0xe2, 0xf0, 0xf7, 0xc3, 0x9c, 0x5a};
	struct cpu_regs in = {0};
	in.gpr[REG_RBX] = ~0ull;
	in.gpr[REG_RCX] = 0xff00; /* start 0, length 255: the whole register */
	for (int v = 0; v < 2; v++) {
		vendor(v);
		CHECK_EQ(run64(code, sizeof(code), &in, 0, 0), EXIT_OK);
		CHECK_EQ(reg(REG_RBP), ~0ull);
		CHECK_EQ(reg(REG_RDX) & 0x8d5, 0x4 | (v == CPU_VENDOR_AMD ? 0x10 : 0));
	}
	in.gpr[REG_RCX] = 0x0840; /* start 64: 0 */
	for (int v = 0; v < 2; v++) {
		vendor(v);
		CHECK_EQ(run64(code, sizeof(code), &in, 0, 0), EXIT_OK);
		CHECK_EQ(reg(REG_RBP), 0);
		CHECK_EQ(reg(REG_RDX) & 0x8d5, 0x44 | (v == CPU_VENDOR_AMD ? 0x10 : 0));
	}
	vendor(CPU_VENDOR_INTEL);
}

/* real mode: C4/C5 are LES/LDS; with ModRM.mod = 11b (a VEX prefix elsewhere) #UD */
static int run_real(const uint8_t *code, size_t len)
{
	uint8_t buf[64];
	static const uint8_t ud_handler[] = {0xb0, 6, 0xe6, 0xf4, 0xf4};

	hx_setup_real(h, 0x7c00, 0x7000);
	hx_load(h, 0x7c00, buf, with_exit(buf, code, len, false));
	hx_load(h, 0x9000, ud_handler, sizeof(ud_handler));
	/* IVT[6] = 0000:9000 */
	h->ram[0x18] = 0x00;
	h->ram[0x19] = 0x90;
	h->ram[0x1a] = 0;
	h->ram[0x1b] = 0;
	return finish();
}

static void test_real_mode(void)
{
	static const uint8_t andn[] = {0xc4, 0xe2, 0x78, 0xf2, 0xc1};
	static const uint8_t vex2[] = {0xc5, 0xf8, 0x77};      /* VZEROUPPER elsewhere */
	static const uint8_t les[] = {0xc4, 0x06, 0x00, 0x80}; /* les ax, [0x8000] */
	static const uint8_t lds[] = {0xc5, 0x1e, 0x00, 0x80}; /* lds bx, [0x8000] */
	struct cpu_sregs s;

	CHECK_EQ(run_real(andn, sizeof(andn)), 6);
	CHECK_EQ(run_real(vex2, sizeof(vex2)), 6);
	h->ram[0x8000] = 0x34;
	h->ram[0x8001] = 0x12;
	h->ram[0x8002] = 0x78;
	h->ram[0x8003] = 0x56;
	CHECK_EQ(run_real(les, sizeof(les)), EXIT_OK);
	cpu_get_sregs(h->cpu, &s);
	CHECK_EQ(reg(REG_RBP) & 0xffff, 0x1234);
	CHECK_EQ(s.seg[SEG_ES].sel, 0x5678);
	CHECK_EQ(s.seg[SEG_ES].base, 0x56780);
	CHECK_EQ(run_real(lds, sizeof(lds)), EXIT_OK);
	cpu_get_sregs(h->cpu, &s);
	CHECK_EQ(reg(REG_RBX) & 0xffff, 0x1234);
	CHECK_EQ(s.seg[SEG_DS].sel, 0x5678);
}

/* 32-bit protected mode: VEX with ModRM.mod = 11b, LES otherwise */
static void test_prot32(void)
{
	/* andn eax, ebx, ecx; les edx, [0x8000] */
	static const uint8_t code[] = {0xc4, 0xe2, 0x60, 0xf2, 0xc1, 0xc4,
				       0x15, 0x00, 0x80, 0x00, 0x00};
	uint8_t buf[64];
	struct cpu_regs r;
	struct cpu_sregs s;

	hx_setup_prot32(h, (uint32_t)CODE, (uint32_t)STACK, false);
	hx_load(h, CODE, buf, with_exit(buf, code, sizeof(code), false));
	h->ram[0x8000] = 0x78;
	h->ram[0x8001] = 0x56;
	h->ram[0x8002] = 0x34;
	h->ram[0x8003] = 0x12;
	h->ram[0x8004] = HX_SEL_DATA;
	h->ram[0x8005] = 0;
	cpu_get_regs(h->cpu, &r);
	r.gpr[REG_RBX] = 0xff00ff00;
	r.gpr[REG_RCX] = 0x12345678;
	cpu_set_regs(h->cpu, &r);
	CHECK_EQ(finish(), EXIT_OK);
	cpu_get_sregs(h->cpu, &s);
	CHECK_EQ(reg(REG_RBP), 0x00340078);
	CHECK_EQ(reg(REG_RDX), 0x12345678);
	CHECK_EQ(s.seg[SEG_ES].sel, HX_SEL_DATA);
}

int main(void)
{
	h = hx_create(64ull << 20);
	if (!h)
		return 1;
	test_vex_ud_64();
	test_no_xsave_state();
	test_bextr_flags();
	test_real_mode();
	test_prot32();
	hx_destroy(h);
	return unit_done("test_bmi");
}
