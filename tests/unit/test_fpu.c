/* SPDX-License-Identifier: MIT */
/*
 * x87/MMX/SSE at ring 0, where the host cannot answer (tests/fpdiff covers
 * the arithmetic against the host): CR0.EM/TS/MP/NE and CR4.OSFXSR/
 * OSXMMEXCPT/OSXSAVE faults, #MF delivery, XSETBV rules, the FXSAVE/XSAVE
 * image layouts (pointer formats, XSTATE_BV, XSAVEOPT's init optimization,
 * XSAVEC's compacted header, XRSTOR's checks), alignment faults, the MMX
 * state transition and the cpu.h state interface kvm/ uses.
 *
 * The code snippets are NASM output; the source is the comment above each.
 */
#include <string.h>

#include "harness.h"
#include "unit.h"

#define CODE   0x100000ull
#define DATA   0x200000ull
#define STUBS  0x180000ull
#define STACK  0x300000ull
#define DONE   1	    /* exit code of a snippet that completed */
#define EXC(v) (0x40 + (v)) /* exit code of the handler of vector v */

/* fadd st0, st1; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_fadd[] = {
    0xd8, 0xc1, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_FADD_FAULT 0
/* addps xmm0, xmm1; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_addps[] = {
    0x0f, 0x58, 0xc1, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_ADDPS_FAULT 0
/* paddb mm0, mm1; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_paddb[] = {
    0x0f, 0xfc, 0xc1, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_PADDB_FAULT 0
/* mov rax, DATA; fxsave [rax]; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_fxsave[] = {
    0xb8, 0x00, 0x00, 0x20, 0x00, 0x0f, 0xae, 0x00, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_FXSAVE_FAULT 5
/* mov rcx, DATA; xor edx, edx; mov eax, 3; xsave [rcx]; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_xsave[] = {
    0xb9, 0x00, 0x00, 0x20, 0x00, 0x31, 0xd2, 0xb8, 0x03, 0x00,
    0x00, 0x00, 0x0f, 0xae, 0x21, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_XSAVE_FAULT 12
/* fwait; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_fwait[] = {
    0x9b, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_FWAIT_FAULT 0
/* mov rax, DATA; ldmxcsr [rax]; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_ldmxcsr[] = {
    0xb8, 0x00, 0x00, 0x20, 0x00, 0x0f, 0xae, 0x10, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_LDMXCSR_FAULT 5
/* mov rax, DATA; ldmxcsr [rax]; movaps xmm0, [rax+16]; xorps xmm1, xmm1; divps xmm0, xmm1; mov al,
 * 1; out 0xf4, al; hlt */
static const uint8_t c_divps[] = {
    0xb8, 0x00, 0x00, 0x20, 0x00, 0x0f, 0xae, 0x10, 0x0f, 0x28, 0x40, 0x10,
    0x0f, 0x57, 0xc9, 0x0f, 0x5e, 0xc1, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_DIVPS_FAULT 15
/* mov rax, DATA; fninit; fldcw [rax]; fldz; fld1; fdiv st0, st1; fnstsw [rax+8]; fwait; mov al, 1;
 * out 0xf4, al; hlt */
static const uint8_t c_x87mf[] = {
    0xb8, 0x00, 0x00, 0x20, 0x00, 0xdb, 0xe3, 0xd9, 0x28, 0xd9, 0xee, 0xd9,
    0xe8, 0xd8, 0xf1, 0xdd, 0x78, 0x08, 0x9b, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_X87MF_FAULT 18
/* xsetbv; xor eax, eax; xor edx, edx; xgetbv; mov rbx, rax; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_xsetbv[] = {
    0x0f, 0x01, 0xd1, 0x31, 0xc0, 0x31, 0xd2, 0x0f, 0x01,
    0xd0, 0x48, 0x89, 0xc3, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
/* mov rax, DATA+0x100; fninit; fld1; fldpi; fld qword [rax]; movaps xmm3, [rax+16]; ldmxcsr
 * [rax+32]; mov rbx, DATA+0x400; fxsave64 [rbx]; fxsave [rbx+0x200]; mov al, 1; out 0xf4, al; hlt
 */
static const uint8_t c_fxlayout[] = {
    0xb8, 0x00, 0x01, 0x20, 0x00, 0xdb, 0xe3, 0xd9, 0xe8, 0xd9, 0xeb, 0xdd, 0x00, 0x0f,
    0x28, 0x58, 0x10, 0x0f, 0xae, 0x50, 0x20, 0xbb, 0x00, 0x04, 0x20, 0x00, 0x48, 0x0f,
    0xae, 0x03, 0x0f, 0xae, 0x83, 0x00, 0x02, 0x00, 0x00, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_FXLAYOUT_FAULT 11
/* mov rbx, DATA+0x408; fxsave [rbx]; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_fxmisalign[] = {
    0xbb, 0x08, 0x04, 0x20, 0x00, 0x0f, 0xae, 0x03, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_FXMISALIGN_FAULT 5
/* mov rax, DATA+0x100; fninit; fld1; movaps xmm3, [rax+16]; mov rbx, DATA+0x400; mov eax, 3; xor
 * edx, edx; xsave64 [rbx]; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_xsave3[] = {
    0xb8, 0x00, 0x01, 0x20, 0x00, 0xdb, 0xe3, 0xd9, 0xe8, 0x0f, 0x28, 0x58,
    0x10, 0xbb, 0x00, 0x04, 0x20, 0x00, 0xb8, 0x03, 0x00, 0x00, 0x00, 0x31,
    0xd2, 0x48, 0x0f, 0xae, 0x23, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
/* mov rbx, DATA+0x400; mov eax, 3; xor edx, edx; xrstor [rbx]; mov rbx, DATA+0x800; xsaveopt [rbx];
 * mov rbx, DATA+0xc00; xsavec [rbx]; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_xrstor_init[] = {
    0xbb, 0x00, 0x04, 0x20, 0x00, 0xb8, 0x03, 0x00, 0x00, 0x00, 0x31, 0xd2,
    0x0f, 0xae, 0x2b, 0xbb, 0x00, 0x08, 0x20, 0x00, 0x0f, 0xae, 0x33, 0xbb,
    0x00, 0x0c, 0x20, 0x00, 0x0f, 0xc7, 0x23, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_XRSTOR_INIT_FAULT 12
/* mov rax, DATA+8; movups xmm1, [rax]; addss xmm1, [rax]; movaps xmm2, [rax]; mov al, 1; out 0xf4,
 * al; hlt */
static const uint8_t c_movaps_mis[] = {
    0xb8, 0x08, 0x00, 0x20, 0x00, 0x0f, 0x10, 0x08, 0xf3, 0x0f,
    0x58, 0x08, 0x0f, 0x28, 0x10, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_MOVAPS_MIS_FAULT 12
/* mov rax, DATA+8; addps xmm2, [rax]; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_addps_mis[] = {
    0xb8, 0x08, 0x00, 0x20, 0x00, 0x0f, 0x58, 0x10, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_ADDPS_MIS_FAULT 5
/* mov rax, DATA; fninit; fld1; movq mm0, [rax]; mov rbx, DATA+0x400; fxsave64 [rbx]; emms; mov al,
 * 1; out 0xf4, al; hlt */
static const uint8_t c_mmx[] = {
    0xb8, 0x00, 0x00, 0x20, 0x00, 0xdb, 0xe3, 0xd9, 0xe8, 0x0f, 0x6f, 0x00, 0xbb, 0x00,
    0x04, 0x20, 0x00, 0x48, 0x0f, 0xae, 0x03, 0x0f, 0x77, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
#define C_MMX_FAULT 9
/* mov rax, DATA; fninit; fldcw [rax]; fnstenv [rax+0x10]; fnstcw [rax+0x40]; fld1; fnsave
 * [rax+0x100]; fnstcw [rax+0x42]; frstor [rax+0x100]; fnstcw [rax+0x44]; fnstsw [rax+0x46]; mov al,
 * 1; out 0xf4, al; hlt */
static const uint8_t c_fnstenv[] = {
    0xb8, 0x00, 0x00, 0x20, 0x00, 0xdb, 0xe3, 0xd9, 0x28, 0xd9, 0x70, 0x10, 0xd9, 0x78, 0x40,
    0xd9, 0xe8, 0xdd, 0xb0, 0x00, 0x01, 0x00, 0x00, 0xd9, 0x78, 0x42, 0xdd, 0xa0, 0x00, 0x01,
    0x00, 0x00, 0xd9, 0x78, 0x44, 0xdd, 0x78, 0x46, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};
/* mov rax, DATA; movaps xmm0, [rax+16]; addps xmm0, xmm0; movaps [rax+0x40], xmm0; mov al, 1; out
 * 0xf4, al; hlt */
static const uint8_t c_sse_user[] = {
    0xb8, 0x00, 0x00, 0x20, 0x00, 0x0f, 0x28, 0x40, 0x10, 0x0f, 0x58,
    0xc0, 0x0f, 0x29, 0x40, 0x40, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};

static struct hx *h;

static void put64(uint64_t gpa, uint64_t v)
{
	memcpy(h->ram + gpa, &v, 8);
}

static uint64_t get64(uint64_t gpa)
{
	uint64_t v;
	memcpy(&v, h->ram + gpa, 8);
	return v;
}

static uint32_t get32(uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, h->ram + gpa, 4);
	return v;
}

static uint16_t get16(uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, h->ram + gpa, 2);
	return v;
}

/* 64-bit mode, CPL 0 (or 3), IDT handlers "mov al, 0x40+v; out 0xf4, al; hlt" */
static void setup(const uint8_t *code, size_t len, uint64_t cr0_set, uint64_t cr0_clr,
		  uint64_t cr4_set, bool user)
{
	struct cpu_sregs s;

	hx_load(h, CODE, code, len);
	hx_setup_long64(h, CODE, STACK, user);
	for (unsigned v = 0; v < 32; v++) {
		uint64_t stub = STUBS + 16 * v;
		uint8_t b[5] = {0xb0, (uint8_t)EXC(v), 0xe6, 0xf4, 0xf4};
		memcpy(h->ram + stub, b, sizeof(b));
		put64(h->idt + 16 * v, (stub & 0xffff) | ((uint64_t)HX_SEL_CODE64 << 16) |
					   (0xeull << 40) | (1ull << 47) |
					   ((stub >> 16 & 0xffff) << 48));
		put64(h->idt + 16 * v + 8, stub >> 32);
	}
	put64(h->tss + 4, STACK + 0x10000); /* RSP0 */
	cpu_note_external_write(h->cpu);
	cpu_get_sregs(h->cpu, &s);
	s.cr0 = (s.cr0 | cr0_set) & ~cr0_clr;
	s.cr4 |= cr4_set;
	cpu_set_sregs(h->cpu, &s);
	h->exited = false;
	h->exit_code = -1;
}

static void set_gpr(int r, uint64_t v)
{
	struct cpu_regs regs;
	cpu_get_regs(h->cpu, &regs);
	regs.gpr[r] = v;
	cpu_set_regs(h->cpu, &regs);
}

static uint64_t gpr(int r)
{
	struct cpu_regs regs;
	cpu_get_regs(h->cpu, &regs);
	return regs.gpr[r];
}

static int go(void)
{
	hx_run(h, 100000);
	return h->exit_code;
}

static int run(const uint8_t *code, size_t len, uint64_t cr0_set, uint64_t cr0_clr,
	       uint64_t cr4_set)
{
	setup(code, len, cr0_set, cr0_clr, cr4_set, false);
	return go();
}

/* RIP and error code of the exception frame the handler is sitting on */
static uint64_t fault_rip(bool has_error)
{
	uint64_t sp = gpr(GPR_RSP);
	return get64(sp + (has_error ? 8 : 0));
}

static uint64_t fault_err(void)
{
	return get64(gpr(GPR_RSP));
}

#define SSE			 (CR4_OSFXSR | CR4_OSXMMEXCPT)
#define RUN(code, set, clr, cr4) run(code, sizeof(code), set, clr, cr4)

/* the fxsave image of the vCPU */
static void fx(uint8_t *img)
{
	cpu_get_fxsave(h->cpu, img);
}

static void test_nm_ud(void)
{
	/* CR0.TS: #NM for x87, SSE, MMX, FXSAVE, XSAVE (SDM vol. 3A, 2.5) */
	CHECK_EQ(RUN(c_fadd, CR0_TS, 0, SSE), EXC(EXC_NM));
	CHECK_EQ(fault_rip(false), CODE + C_FADD_FAULT);
	CHECK_EQ(RUN(c_addps, CR0_TS, 0, SSE), EXC(EXC_NM));
	CHECK_EQ(RUN(c_paddb, CR0_TS, 0, SSE), EXC(EXC_NM));
	CHECK_EQ(RUN(c_fxsave, CR0_TS, 0, SSE), EXC(EXC_NM));
	CHECK_EQ(fault_rip(false), CODE + C_FXSAVE_FAULT);
	setup(c_xsave, sizeof(c_xsave), CR0_TS, 0, SSE | CR4_OSXSAVE, false);
	CHECK_EQ(go(), EXC(EXC_NM));
	/* WAIT: #NM only with MP and TS both set */
	CHECK_EQ(RUN(c_fwait, CR0_TS, CR0_MP, SSE), DONE);
	CHECK_EQ(RUN(c_fwait, CR0_TS | CR0_MP, 0, SSE), EXC(EXC_NM));
	CHECK_EQ(RUN(c_fwait, CR0_EM, CR0_MP, SSE), DONE);

	/* CR0.EM: x87 #NM, MMX and SSE #UD, FXSAVE #NM, XSAVE unaffected */
	CHECK_EQ(RUN(c_fadd, CR0_EM, 0, SSE), EXC(EXC_NM));
	CHECK_EQ(RUN(c_paddb, CR0_EM, 0, SSE), EXC(EXC_UD));
	CHECK_EQ(RUN(c_addps, CR0_EM, 0, SSE), EXC(EXC_UD));
	CHECK_EQ(RUN(c_fxsave, CR0_EM, 0, SSE), EXC(EXC_NM));
	CHECK_EQ(RUN(c_xsave, CR0_EM, 0, SSE | CR4_OSXSAVE), DONE);
	/* EM beats TS for SSE (#UD), as for MMX */
	CHECK_EQ(RUN(c_addps, CR0_EM | CR0_TS, 0, SSE), EXC(EXC_UD));

	/* CR4.OSFXSR clear: SSE and LDMXCSR #UD, MMX runs, FXSAVE leaves XMM alone */
	CHECK_EQ(RUN(c_addps, 0, 0, 0), EXC(EXC_UD));
	CHECK_EQ(RUN(c_ldmxcsr, 0, 0, 0), EXC(EXC_UD));
	CHECK_EQ(RUN(c_paddb, 0, 0, 0), DONE);
	setup(c_fxsave, sizeof(c_fxsave), 0, 0, 0, false);
	memset(h->ram + DATA, 0xcc, 512);
	CHECK_EQ(go(), DONE);
	CHECK_EQ(get16(DATA), 0x037f);
	CHECK_EQ(get32(DATA + 24), 0xcccccccc); /* MXCSR not saved */
	CHECK_EQ(get64(DATA + 160), 0xccccccccccccccccull);

	/* CR4.OSXSAVE clear: XSAVE, XSETBV #UD */
	CHECK_EQ(RUN(c_xsave, 0, 0, SSE), EXC(EXC_UD));
	CHECK_EQ(RUN(c_xsetbv, 0, 0, SSE), EXC(EXC_UD));
}

static void test_simd_exceptions(void)
{
	static const uint8_t one[16] = {0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f,
					0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f};
	uint8_t img[512] __attribute__((aligned(16)));
	uint32_t mxcsr = 0x1d80; /* divide-by-zero unmasked */

	for (int osxmm = 0; osxmm < 2; osxmm++) {
		setup(c_divps, sizeof(c_divps), 0, 0, osxmm ? SSE : CR4_OSFXSR, false);
		memcpy(h->ram + DATA, &mxcsr, 4);
		memcpy(h->ram + DATA + 16, one, 16);
		/* #XM with CR4.OSXMMEXCPT, #UD without (SDM vol. 3A, 6.15 #XM) */
		CHECK_EQ(go(), osxmm ? EXC(EXC_XM) : EXC(EXC_UD));
		CHECK_EQ(fault_rip(false), CODE + C_DIVPS_FAULT);
		fx(img);
		CHECK_EQ(get32(DATA) | 4, *(uint32_t *)(img + 24)); /* ZE set */
		CHECK(!memcmp(img + 160, one, 16));		    /* destination unchanged */
	}
	/* masked: the quotient is infinity, ZE set, no fault */
	mxcsr = 0x1f80;
	setup(c_divps, sizeof(c_divps), 0, 0, SSE, false);
	memcpy(h->ram + DATA, &mxcsr, 4);
	memcpy(h->ram + DATA + 16, one, 16);
	CHECK_EQ(go(), DONE);
	fx(img);
	CHECK_EQ(*(uint32_t *)(img + 24), 0x1f84);
	CHECK_EQ(*(uint32_t *)(img + 160), 0x7f800000);

	/* MOVAPS and the 16-byte operand of ADDPS need alignment: #GP(0);
	 * MOVUPS and scalar forms do not */
	CHECK_EQ(RUN(c_movaps_mis, 0, 0, SSE), EXC(EXC_GP));
	CHECK_EQ(fault_rip(true), CODE + C_MOVAPS_MIS_FAULT);
	CHECK_EQ(fault_err(), 0);
	CHECK_EQ(RUN(c_addps_mis, 0, 0, SSE), EXC(EXC_GP));
	CHECK_EQ(fault_rip(true), CODE + C_ADDPS_MIS_FAULT);
}

static void test_x87_mf(void)
{
	uint16_t cw = 0x037b; /* ZE unmasked */
	uint8_t img[512] __attribute__((aligned(16)));

	/* the divide by zero is signalled by the next waiting instruction:
	 * #MF with CR0.NE (SDM vol. 1, 8.6) */
	setup(c_x87mf, sizeof(c_x87mf), 0, 0, SSE, false);
	memcpy(h->ram + DATA, &cw, 2);
	CHECK_EQ(go(), EXC(EXC_MF));
	CHECK_EQ(fault_rip(false), CODE + C_X87MF_FAULT);
	CHECK_EQ(get16(DATA + 8) & 0x8084, 0x8084); /* FNSTSW: B, ES, ZE; it did not fault */
	fx(img);
	CHECK_EQ(img[4], 0xc0); /* two registers in use */

	/* CR0.NE clear: IGNNE# is asserted, nothing is raised */
	setup(c_x87mf, sizeof(c_x87mf), 0, CR0_NE, SSE, false);
	memcpy(h->ram + DATA, &cw, 2);
	CHECK_EQ(go(), DONE);
	fx(img);
	CHECK_EQ(*(uint16_t *)(img + 2) & 0x8084, 0x8084);
}

static void test_xsetbv(void)
{
	static const struct {
		uint64_t rcx, rax, rdx;
		int expect;
	} t[] = {
	    {0, 3, 0, DONE},	      {0, 1, 0, DONE},	      {0, 0, 0, EXC(EXC_GP)},
	    {0, 2, 0, EXC(EXC_GP)},   {0, 7, 0, -1},	      /* AVX: where the host runs it */
	    {0, 5, 0, EXC(EXC_GP)},			      /* YMM without SSE */
	    {0, 0xf, 0, EXC(EXC_GP)},			      /* BNDREGS: not supported */
	    {0, 3, 1, EXC(EXC_GP)},   {1, 3, 0, EXC(EXC_GP)}, /* XCR1 */
	};
	for (size_t k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		int expect =
		    t[k].expect == -1 ? (cpu_avx_supported() ? DONE : EXC(EXC_GP)) : t[k].expect;
		setup(c_xsetbv, sizeof(c_xsetbv), 0, 0, SSE | CR4_OSXSAVE, false);
		set_gpr(GPR_RCX, t[k].rcx);
		set_gpr(GPR_RAX, t[k].rax);
		set_gpr(GPR_RDX, t[k].rdx);
		CHECK_EQ(go(), expect);
		if (expect == DONE) {
			CHECK_EQ(gpr(GPR_RBX) & 0xff, t[k].rax);
			CHECK_EQ(cpu_get_xcr0(h->cpu), t[k].rax);
		} else {
			CHECK_EQ(cpu_get_xcr0(h->cpu), 1);
		}
	}
	/* the guest's CPUID (leaf 0xD) may allow x87 only */
	setup(c_xsetbv, sizeof(c_xsetbv), 0, 0, SSE | CR4_OSXSAVE, false);
	cpu_set_xcr0_allowed(h->cpu, 1);
	set_gpr(GPR_RCX, 0);
	set_gpr(GPR_RAX, 3);
	set_gpr(GPR_RDX, 0);
	CHECK_EQ(go(), EXC(EXC_GP));
	cpu_set_xcr0_allowed(h->cpu, CPU_XCR0_SUPPORTED);
	/* the state interface follows the same rules */
	CHECK_EQ(cpu_set_xcr0(h->cpu, 0), -1);
	CHECK_EQ(cpu_set_xcr0(h->cpu, 5), -1);
	CHECK_EQ(cpu_set_xcr0(h->cpu, 3), 0);
	CHECK_EQ(cpu_get_xcr0(h->cpu), 3);
}

static void test_fxsave_layout(void)
{
	static const double pi_ish = 2.5;
	static const uint8_t x3[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	uint32_t mxcsr = 0x9fc0; /* FZ, DAZ, masks */
	uint64_t a = DATA + 0x400, b = DATA + 0x600, fip = CODE + C_FXLAYOUT_FAULT;
	long double ld = 2.5L;

	setup(c_fxlayout, sizeof(c_fxlayout), 0, 0, SSE, false);
	memcpy(h->ram + DATA + 0x100, &pi_ish, 8);
	memcpy(h->ram + DATA + 0x110, x3, 16);
	memcpy(h->ram + DATA + 0x120, &mxcsr, 4);
	memset(h->ram + a, 0xcc, 1024);
	CHECK_EQ(go(), DONE);
	/* FXSAVE64 (REX.W): 64-bit FIP/FDP (SDM vol. 1, table 10-2) */
	CHECK_EQ(get16(a + 0), 0x037f);	 /* FCW */
	CHECK_EQ(get16(a + 2), 5 << 11); /* FSW: TOP = 5 */
	CHECK_EQ(h->ram[a + 4], 0xe0);	 /* abridged FTW: registers 5-7 */
	CHECK_EQ(h->ram[a + 5], 0);
	CHECK_EQ(get16(a + 6), 0);   /* FOP: Intel keeps it only for unmasked exceptions */
	CHECK_EQ(get64(a + 8), fip); /* FIP */
	CHECK_EQ(get64(a + 16), DATA + 0x100); /* FDP */
	CHECK_EQ(get32(a + 24), mxcsr);
	CHECK_EQ(get32(a + 28), CPU_MXCSR_MASK);
	CHECK(!memcmp(h->ram + a + 32, &ld, 10));	 /* ST0 = 2.5 */
	CHECK_EQ(get16(a + 32 + 10), 0);		 /* reserved bytes of the slot */
	CHECK_EQ(get64(a + 48 + 8) & 0xffff, 0x4000);	 /* ST1 = pi: exponent */
	CHECK(!memcmp(h->ram + a + 160 + 48, x3, 16));	 /* XMM3 */
	CHECK_EQ(get64(a + 464), 0xccccccccccccccccull); /* 464-511 not written */
	/* FXSAVE: 32-bit FIP and FDP with FCS and FDS (table 10-3) */
	CHECK_EQ(get32(b + 8), (uint32_t)fip);
	CHECK_EQ(get16(b + 12), HX_SEL_CODE64);
	CHECK_EQ(get16(b + 14), 0);
	CHECK_EQ(get32(b + 16), (uint32_t)(DATA + 0x100));
	CHECK_EQ(get16(b + 20), HX_SEL_DATA);
	/* in 64-bit mode XMM8-15 are saved too */
	CHECK(get64(b + 288) != 0xccccccccccccccccull);

	/* a misaligned area: #GP(0) */
	CHECK_EQ(RUN(c_fxmisalign, 0, 0, SSE), EXC(EXC_GP));
	CHECK_EQ(fault_rip(true), CODE + C_FXMISALIGN_FAULT);
}

static void test_xsave(void)
{
	static const uint8_t x3[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	uint64_t a = DATA + 0x400;

	/* XSAVE: XSTATE_BV[i] = XINUSE[i] for i in RFBM, the rest of the header
	 * untouched, 464-511 untouched (SDM vol. 1, 13.7) */
	setup(c_xsave3, sizeof(c_xsave3), 0, 0, SSE | CR4_OSXSAVE, false);
	cpu_set_xcr0(h->cpu, 3);
	memcpy(h->ram + DATA + 0x110, x3, 16);
	memset(h->ram + a, 0xcc, 512);
	memset(h->ram + a + 512, 0, 64);
	put64(a + 512, 0x4); /* a bit outside RFBM stays */
	CHECK_EQ(go(), DONE);
	CHECK_EQ(get64(a + 512), 0x7);
	CHECK_EQ(get16(a), 0x037f);
	CHECK_EQ(get32(a + 24), 0x1f80);
	CHECK(!memcmp(h->ram + a + 160 + 48, x3, 16));
	CHECK_EQ(get64(a + 464), 0xccccccccccccccccull);

	/* XRSTOR with XSTATE_BV = 0 initialises x87 and SSE state (MXCSR is
	 * loaded from the area); then XSAVEOPT writes neither component (init
	 * optimization) but MXCSR, and XSAVEC writes the compacted header */
	setup(c_xrstor_init, sizeof(c_xrstor_init), 0, 0, SSE | CR4_OSXSAVE, false);
	cpu_set_xcr0(h->cpu, 3);
	memset(h->ram + a, 0, 576);
	*(uint32_t *)(h->ram + a + 24) = 0x1f00;
	memset(h->ram + DATA + 0x800, 0xcc, 1024);
	memset(h->ram + DATA + 0x800 + 512, 0xff, 64);
	memset(h->ram + DATA + 0xc00 + 512, 0xee, 64);
	{
		uint8_t img[512] __attribute__((aligned(16)));
		memset(img, 0x55, sizeof(img));
		*(uint32_t *)(img + 24) = 0x1f80;
		cpu_set_fxsave(h->cpu, img); /* non-init x87 and SSE state before */
	}
	CHECK_EQ(go(), DONE);
	{
		uint8_t img[512] __attribute__((aligned(16)));
		fx(img);
		CHECK_EQ(*(uint16_t *)img, 0x037f);
		CHECK_EQ(img[4], 0);
		CHECK_EQ(*(uint64_t *)(img + 160), 0);
		CHECK_EQ(*(uint32_t *)(img + 24), 0x1f00);
	}
	CHECK_EQ(get64(DATA + 0x800 + 512), 0xfffffffffffffffcull); /* XSTATE_BV[1:0] = 0 */
	CHECK_EQ(get64(DATA + 0x800 + 520), 0xffffffffffffffffull); /* rest of the header kept */
	CHECK_EQ(get16(DATA + 0x800), 0xcccc);			    /* x87 not written */
	CHECK_EQ(get32(DATA + 0x800 + 24), 0x1f00);		    /* MXCSR written */
	CHECK_EQ(get64(DATA + 0x800 + 160), 0xccccccccccccccccull); /* XMM not written */
	CHECK_EQ(get64(DATA + 0xc00 + 512), 0);			    /* XSTATE_BV */
	CHECK_EQ(get64(DATA + 0xc00 + 520), (1ull << 63) | 3);	    /* XCOMP_BV */

	/* XRSTOR faults: XSTATE_BV beyond XCR0, reserved header bytes, MXCSR
	 * reserved bits, misalignment: #GP(0) (SDM vol. 1, 13.8) */
	for (int k = 0; k < 4; k++) {
		setup(c_xrstor_init, sizeof(c_xrstor_init), 0, 0, SSE | CR4_OSXSAVE, false);
		cpu_set_xcr0(h->cpu, 3);
		memset(h->ram + a, 0, 576);
		*(uint32_t *)(h->ram + a + 24) = 0x1f80;
		if (k == 0)
			put64(a + 512, 4);
		if (k == 1)
			put64(a + 528, 1);
		if (k == 2)
			*(uint32_t *)(h->ram + a + 24) = 0x10000;
		if (k == 3) /* compacted with XSTATE_BV outside XCOMP_BV */
			put64(a + 512, 2), put64(a + 520, (1ull << 63) | 1);
		CHECK_EQ(go(), EXC(EXC_GP));
		CHECK_EQ(fault_rip(true), CODE + C_XRSTOR_INIT_FAULT);
	}
}

static void test_mmx_state(void)
{
	uint64_t v = 0x1122334455667788ull;
	uint64_t a = DATA + 0x400;

	/* an MMX instruction: TOP = 0, every tag valid, the register's exponent
	 * and sign all ones (SDM vol. 1, 9.5.1); the physical registers stay */
	setup(c_mmx, sizeof(c_mmx), 0, 0, SSE, false);
	put64(DATA, v);
	CHECK_EQ(go(), DONE);
	CHECK_EQ(get16(a + 2) & 0x3800, 0);
	CHECK_EQ(h->ram[a + 4], 0xff);
	CHECK_EQ(get64(a + 32), v); /* MM0 = physical 0 = ST0 */
	CHECK_EQ(get16(a + 32 + 8), 0xffff);
	CHECK_EQ(get16(a + 32 + 7 * 16 + 8), 0x3fff); /* physical 7: the 1.0 loaded before */
	CHECK_EQ(get64(a + 32 + 7 * 16), 1ull << 63);
}

static void test_env(void)
{
	uint16_t cw = 0x037b;

	/* FNSTENV stores then masks every exception; FNSAVE stores then FNINIT;
	 * FRSTOR brings it back */
	setup(c_fnstenv, sizeof(c_fnstenv), 0, 0, SSE, false);
	memcpy(h->ram + DATA, &cw, 2);
	CHECK_EQ(go(), DONE);
	CHECK_EQ(get16(DATA + 0x10), 0x037b); /* 32-bit protected format: FCW */
	CHECK_EQ(get16(DATA + 0x12), 0xffff); /* reserved */
	CHECK_EQ(get16(DATA + 0x18), 0xffff); /* FTW: all empty */
	CHECK_EQ(get16(DATA + 0x40), 0x037f);
	CHECK_EQ(get16(DATA + 0x100 + 8), 0x3fff); /* FNSAVE: ST0 valid, rest empty */
	CHECK_EQ(get16(DATA + 0x42), 0x037f);	   /* after FNINIT */
	CHECK_EQ(get16(DATA + 0x44), 0x037f);	   /* FRSTOR'd */
	CHECK_EQ(get16(DATA + 0x46) & 0x3800, 7 << 11);
}

static void test_state_api(void)
{
	uint8_t img[512] __attribute__((aligned(16))),
	    x[CPU_XSAVE_SIZE] __attribute__((aligned(16)));
	struct cpu *c = h->cpu;

	/* reset: FCW 037FH, MXCSR 1F80H, XCR0 1 (KVM's vCPU reset) */
	cpu_reset(c);
	cpu_get_fxsave(c, img);
	CHECK_EQ(*(uint16_t *)img, 0x037f);
	CHECK_EQ(*(uint32_t *)(img + 24), 0x1f80);
	CHECK_EQ(*(uint32_t *)(img + 28), CPU_MXCSR_MASK);
	CHECK_EQ(cpu_get_xcr0(c), 1);
	cpu_get_xsave(c, x, 3);
	CHECK_EQ(*(uint64_t *)(x + 512), 0); /* both components in init state */

	/* a state in, the same out; ES follows the unmasked flags */
	memset(img, 0, sizeof(img));
	*(uint16_t *)img = 0x037b;
	*(uint16_t *)(img + 2) = 0x0004; /* ZE, unmasked: ES and B appear */
	img[4] = 0x80;
	*(uint32_t *)(img + 24) = 0x12345; /* bit 16 is dropped */
	img[160 + 16 * 15] = 0x42;
	cpu_set_fxsave(c, img);
	cpu_get_fxsave(c, img);
	CHECK_EQ(*(uint16_t *)(img + 2), 0x8084);
	CHECK_EQ(*(uint32_t *)(img + 24), 0x2345);
	CHECK_EQ(img[160 + 16 * 15], 0x42);
	cpu_get_xsave(c, x, 3);
	CHECK_EQ(*(uint64_t *)(x + 512), 3);
	cpu_get_xsave(c, x, 1);
	CHECK_EQ(*(uint64_t *)(x + 512), 1);

	/* INIT keeps x87/SSE state and XCR0 (SDM vol. 3A, table 10-1) */
	cpu_set_xcr0(c, 3);
	cpu_init_signal(c);
	cpu_get_fxsave(c, img);
	CHECK_EQ(img[160 + 16 * 15], 0x42);
	CHECK_EQ(cpu_get_xcr0(c), 3);

	/* XSTATE_BV clear: the component is initialised; MXCSR is loaded */
	memset(x, 0, sizeof(x));
	*(uint32_t *)(x + 24) = 0x1f00;
	cpu_set_xsave(c, x);
	cpu_get_fxsave(c, img);
	CHECK_EQ(*(uint16_t *)img, 0x037f);
	CHECK_EQ(img[160 + 16 * 15], 0);
	CHECK_EQ(*(uint32_t *)(img + 24), 0x1f00);
}

static void test_user_sse(void)
{
	static const uint8_t v[16] = {0, 0, 0x80, 0x3f};
	struct cpu_regs r;

	/* SSE at CPL 3 as Linux user space runs it (IOPL 3 for the final OUT) */
	setup(c_sse_user, sizeof(c_sse_user), 0, 0, SSE, true);
	cpu_get_regs(h->cpu, &r);
	r.rflags |= FL_IOPL;
	cpu_set_regs(h->cpu, &r);
	memcpy(h->ram + DATA + 16, v, 16);
	CHECK_EQ(go(), DONE);
	CHECK_EQ(get32(DATA + 0x40), 0x40000000); /* 2.0 */
}

int main(void)
{
	h = hx_create(64 << 20);
	if (!h)
		return 1;
	test_nm_ud();
	test_simd_exceptions();
	test_x87_mf();
	test_xsetbv();
	test_fxsave_layout();
	test_xsave();
	test_mmx_state();
	test_env();
	test_state_api();
	test_user_sse();
	hx_destroy(h);
	return unit_done("test_fpu");
}
