/* SPDX-License-Identifier: MIT */
/*
 * AVX at ring 0, what the differential test cannot ask the host: the #UD
 * and #NM rules of VEX instructions (CR4.OSXSAVE, XCR0[2:1], CR0.TS; CR0.EM
 * and CR4.OSFXSR do not matter; a 66 prefix before VEX; VEX.vvvv != 1111b
 * where unused), alignment (#GP only for VMOVAPS/VMOVDQA/VMOVNT*), the
 * upper halves (VEX.128 zeroes bits 255:128, legacy SSE keeps them,
 * VZEROUPPER), a gather interrupted by #PF (its progress in the destination
 * and mask), masked moves that do not fault on masked-off elements, and
 * an unmasked SIMD exception (#XM, or #UD without CR4.OSXMMEXCPT, the
 * destination unchanged). Skips (77) where softkvm does not offer AVX.
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
#define HOLE   0x400000ull /* a 2 MiB page left not present */
#define DONE   1
#define EXC(v) (0x40 + (v))

/* vaddps ymm0, ymm1, ymm2; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_vaddps[] = {
    0xc5, 0xf4, 0x58, 0xc2, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};

/* db 0x66; vaddps ymm0, ymm1, ymm2; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_66vex[] = {
    0x66, 0xc5, 0xf4, 0x58, 0xc2, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};

/* db 0xc5, 0xf4, 0x28, 0xc1; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_vvvv[] = {
    0xc5, 0xf4, 0x28, 0xc1, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};

/* mov rax, 0x200010; vmovups ymm0, [rax]; vaddps ymm0, ymm0, [rax+1]; vmovaps xmm1, [rax]; vmovaps
 * ymm1, [rax]; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_align[] = {
    0xb8, 0x10, 0x00, 0x20, 0x00, 0xc5, 0xfc, 0x10, 0x00, 0xc5, 0xfc, 0x58, 0x40, 0x01,
    0xc5, 0xf8, 0x28, 0x08, 0xc5, 0xfc, 0x28, 0x08, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};

/* mov rax, 0x200000; vmovdqu ymm1, [rax]; movaps xmm1, [rax+64]; vmovdqu [rax+128], ymm1; vmovdqu
 * ymm2, [rax]; vmovaps xmm2, [rax+64]; vmovdqu [rax+160], ymm2; vmovdqu ymm3, [rax]; vzeroupper;
 * vmovdqu [rax+192], ymm3; vmovdqu ymm4, [rax]; vaddps xmm4, xmm4, [rax+32]; vmovdqu [rax+224],
 * ymm4; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_upper[] = {
    0xb8, 0x00, 0x00, 0x20, 0x00, 0xc5, 0xfe, 0x6f, 0x08, 0x0f, 0x28, 0x48, 0x40, 0xc5, 0xfe,
    0x7f, 0x88, 0x80, 0x00, 0x00, 0x00, 0xc5, 0xfe, 0x6f, 0x10, 0xc5, 0xf8, 0x28, 0x50, 0x40,
    0xc5, 0xfe, 0x7f, 0x90, 0xa0, 0x00, 0x00, 0x00, 0xc5, 0xfe, 0x6f, 0x18, 0xc5, 0xf8, 0x77,
    0xc5, 0xfe, 0x7f, 0x98, 0xc0, 0x00, 0x00, 0x00, 0xc5, 0xfe, 0x6f, 0x20, 0xc5, 0xd8, 0x58,
    0x60, 0x20, 0xc5, 0xfe, 0x7f, 0xa0, 0xe0, 0x00, 0x00, 0x00, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};

/* mov rax, 0x200000; vmovdqu ymm1, [rax]; vmovdqu ymm2, [rax+32]; vmovdqu ymm0, [rax+64]; mov rbx,
 * 0x3ffff0; vpgatherdd ymm0, [rbx+ymm1*4], ymm2; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_gather[] = {
    0xb8, 0x00, 0x00, 0x20, 0x00, 0xc5, 0xfe, 0x6f, 0x08, 0xc5, 0xfe, 0x6f,
    0x50, 0x20, 0xc5, 0xfe, 0x6f, 0x40, 0x40, 0xbb, 0xf0, 0xff, 0x3f, 0x00,
    0xc4, 0xe2, 0x6d, 0x90, 0x04, 0x8b, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};

/* mov rax, 0x200000; vmovdqu ymm3, [rax+96]; vmovdqu ymm5, [rax+64]; mov rbx, 0x3ffff0; vmaskmovps
 * ymm4, ymm3, [rbx]; vmaskmovps [rbx], ymm3, ymm5; vmovdqu [rax+128], ymm4; mov al, 1; out 0xf4,
 * al; hlt */
static const uint8_t c_maskmov[] = {
    0xb8, 0x00, 0x00, 0x20, 0x00, 0xc5, 0xfe, 0x6f, 0x58, 0x60, 0xc5, 0xfe, 0x6f, 0x68, 0x40,
    0xbb, 0xf0, 0xff, 0x3f, 0x00, 0xc4, 0xe2, 0x65, 0x2c, 0x23, 0xc4, 0xe2, 0x65, 0x2e, 0x2b,
    0xc5, 0xfe, 0x7f, 0xa0, 0x80, 0x00, 0x00, 0x00, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
};

/* mov rax, 0x200000; vldmxcsr [rax+256]; vmovdqu ymm1, [rax]; vxorps ymm2, ymm2, ymm2; vmovdqu
 * ymm0, [rax+32]; vdivps ymm0, ymm1, ymm2; mov al, 1; out 0xf4, al; hlt */
static const uint8_t c_vdivps[] = {
    0xb8, 0x00, 0x00, 0x20, 0x00, 0xc5, 0xf8, 0xae, 0x90, 0x00, 0x01, 0x00,
    0x00, 0xc5, 0xfe, 0x6f, 0x08, 0xc5, 0xec, 0x57, 0xd2, 0xc5, 0xfe, 0x6f,
    0x40, 0x20, 0xc5, 0xf4, 0x5e, 0xc2, 0xb0, 0x01, 0xe6, 0xf4, 0xf4,
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

/* 64-bit mode, CPL 0, IDT handlers "mov al, 0x40+v; out 0xf4, al; hlt";
 * XCR0 = xcr0; the 2 MiB page at HOLE not present */
static void setup(const uint8_t *code, size_t len, uint64_t cr0_set, uint64_t cr0_clr, uint64_t cr4,
		  uint64_t xcr0)
{
	struct cpu_sregs s;

	hx_load(h, CODE, code, len);
	hx_setup_long64(h, CODE, STACK, false);
	put64(h->pml4 + 0x2000 + 8 * (HOLE >> 21), 0);
	for (unsigned v = 0; v < 32; v++) {
		uint64_t stub = STUBS + 16 * v;
		uint8_t b[5] = {0xb0, (uint8_t)EXC(v), 0xe6, 0xf4, 0xf4};
		memcpy(h->ram + stub, b, sizeof(b));
		put64(h->idt + 16 * v, (stub & 0xffff) | ((uint64_t)HX_SEL_CODE64 << 16) |
					   (0xeull << 40) | (1ull << 47) |
					   ((stub >> 16 & 0xffff) << 48));
		put64(h->idt + 16 * v + 8, stub >> 32);
	}
	put64(h->tss + 4, STACK + 0x10000);
	cpu_note_external_write(h->cpu);
	cpu_get_sregs(h->cpu, &s);
	s.cr0 = (s.cr0 | cr0_set) & ~cr0_clr;
	s.cr4 |= cr4;
	cpu_set_sregs(h->cpu, &s);
	cpu_set_xcr0_allowed(h->cpu, 7);
	CHECK_EQ(cpu_set_xcr0(h->cpu, xcr0), 0);
	h->exited = false;
	h->exit_code = -1;
}

static int go(void)
{
	hx_run(h, 100000);
	return h->exit_code;
}

#define SSE			       (CR4_OSFXSR | CR4_OSXMMEXCPT)
#define ALL			       (SSE | CR4_OSXSAVE)
#define RUN(code, set, clr, cr4, xcr0) (setup(code, sizeof(code), set, clr, cr4, xcr0), go())

static uint64_t rsp(void)
{
	struct cpu_regs r;
	cpu_get_regs(h->cpu, &r);
	return r.gpr[REG_RSP];
}

/* RIP of the exception frame (an error code first if has_error) */
static uint64_t fault_rip(bool has_error)
{
	return get64(rsp() + (has_error ? 8 : 0));
}

/* YMM r, 32 bytes, from the vCPU's XSAVE image */
static void ymm(unsigned r, uint8_t *out)
{
	static uint8_t x[CPU_XSAVE_SIZE] __attribute__((aligned(64)));
	cpu_get_xsave(h->cpu, x, 7);
	memcpy(out, x + 160 + 16 * r, 16);
	if (x[512] & 4)
		memcpy(out + 16, x + 576 + 16 * r, 16);
	else
		memset(out + 16, 0, 16);
}

static void pattern(void)
{
	for (int k = 0; k < 512; k++)
		h->ram[DATA + k] = (uint8_t)(k * 7 + 3);
}

static void test_ud_nm(void)
{
	CHECK_EQ(RUN(c_vaddps, 0, 0, ALL, 7), DONE);
	/* CR4.OSXSAVE clear, XCR0 without YMM or SSE: #UD (SDM vol. 1, 14.3) */
	CHECK_EQ(RUN(c_vaddps, 0, 0, SSE, 1), EXC(EXC_UD));
	CHECK_EQ(RUN(c_vaddps, 0, 0, ALL, 3), EXC(EXC_UD));
	CHECK_EQ(RUN(c_vaddps, 0, 0, ALL, 1), EXC(EXC_UD));
	CHECK_EQ(fault_rip(false), CODE);
	/* CR0.TS: #NM; the #UD conditions come first */
	CHECK_EQ(RUN(c_vaddps, CR0_TS, 0, ALL, 7), EXC(EXC_NM));
	CHECK_EQ(RUN(c_vaddps, CR0_TS, 0, SSE, 1), EXC(EXC_UD));
	CHECK_EQ(RUN(c_vaddps, CR0_TS, 0, ALL, 3), EXC(EXC_UD));
	/* CR0.EM and CR4.OSFXSR do not matter to VEX */
	CHECK_EQ(RUN(c_vaddps, CR0_EM, 0, ALL, 7), DONE);
	CHECK_EQ(RUN(c_vaddps, 0, 0, CR4_OSXSAVE, 7), DONE);
	/* a 66 prefix before VEX, VEX.vvvv != 1111b where unused: #UD */
	CHECK_EQ(RUN(c_66vex, 0, 0, ALL, 7), EXC(EXC_UD));
	CHECK_EQ(fault_rip(false), CODE);
	CHECK_EQ(RUN(c_vvvv, 0, 0, ALL, 7), EXC(EXC_UD));
	/* VZEROUPPER too */
	CHECK_EQ(RUN(c_upper, CR0_TS, 0, ALL, 7), EXC(EXC_NM));
}

static void test_align(void)
{
	/* VMOVUPS and a VEX arithmetic operand anywhere; VMOVAPS to its size */
	CHECK_EQ(RUN(c_align, 0, 0, ALL, 7), EXC(EXC_GP));
	CHECK_EQ(fault_rip(true), CODE + 18);
	CHECK_EQ(get64(rsp()), 0); /* error code */
}

static void test_upper(void)
{
	uint8_t *m = h->ram + DATA;

	setup(c_upper, sizeof(c_upper), 0, 0, ALL, 7);
	pattern();
	CHECK_EQ(go(), DONE);
	/* legacy MOVAPS: bits 255:128 kept */
	CHECK(!memcmp(m + 128, m + 64, 16));
	CHECK(!memcmp(m + 144, m + 16, 16));
	/* VEX.128 VMOVAPS, VADDPS: zeroed */
	CHECK(!memcmp(m + 160, m + 64, 16));
	CHECK_EQ(get64(DATA + 176) | get64(DATA + 184), 0);
	CHECK_EQ(get64(DATA + 240) | get64(DATA + 248), 0);
	/* VZEROUPPER */
	CHECK(!memcmp(m + 192, m, 16));
	CHECK_EQ(get64(DATA + 208) | get64(DATA + 216), 0);
}

static void test_gather_fault(void)
{
	static const uint32_t idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	uint8_t d[32], mk[32];

	setup(c_gather, sizeof(c_gather), 0, 0, ALL, 7);
	pattern();
	memcpy(h->ram + DATA, idx, 32);
	memset(h->ram + DATA + 32, 0xff, 32); /* mask: every element */
	memset(h->ram + HOLE - 16, 0x5a, 16);
	CHECK_EQ(go(), EXC(EXC_PF));
	CHECK_EQ(fault_rip(true), CODE + 24);
	{
		struct cpu_sregs s;
		cpu_get_sregs(h->cpu, &s);
		CHECK_EQ(s.cr2, HOLE);
	}
	/* elements 0-3 gathered and their mask cleared; 4-7 as they were */
	ymm(0, d);
	ymm(2, mk);
	for (int k = 0; k < 4; k++) {
		CHECK(!memcmp(d + 4 * k, h->ram + HOLE - 16 + 4 * k, 4));
		CHECK_EQ(mk[4 * k + 3], 0);
	}
	for (int k = 4; k < 8; k++) {
		CHECK(!memcmp(d + 4 * k, h->ram + DATA + 64 + 4 * k, 4));
		CHECK_EQ(mk[4 * k + 3], 0xff);
	}
}

static void test_maskmov(void)
{
	uint8_t *m = h->ram + DATA;

	setup(c_maskmov, sizeof(c_maskmov), 0, 0, ALL, 7);
	pattern();
	memset(m + 96, 0xff, 16); /* mask: elements 0-3 */
	memset(m + 112, 0x7f, 16);
	memset(h->ram + HOLE - 16, 0x11, 16);
	/* elements 4-7 would be in the hole: masked off, no fault */
	CHECK_EQ(go(), DONE);
	for (int k = 0; k < 16; k++)
		CHECK_EQ(m[128 + k], 0x11); /* loaded before the store wrote there */
	CHECK_EQ(get64(DATA + 144) | get64(DATA + 152), 0);
	CHECK(!memcmp(h->ram + HOLE - 16, m + 64, 16)); /* stored */
}

static void test_unmasked(void)
{
	static const uint8_t one[4] = {0, 0, 0x80, 0x3f};
	uint32_t mx = 0x1d80; /* divide-by-zero unmasked */
	uint8_t d[32];

	for (int osxmm = 0; osxmm < 2; osxmm++) {
		setup(c_vdivps, sizeof(c_vdivps), 0, 0, osxmm ? ALL : CR4_OSFXSR | CR4_OSXSAVE, 7);
		pattern();
		for (int k = 0; k < 8; k++)
			memcpy(h->ram + DATA + 4 * k, one, 4);
		memcpy(h->ram + DATA + 256, &mx, 4);
		CHECK_EQ(go(), osxmm ? EXC(EXC_XM) : EXC(EXC_UD));
		CHECK_EQ(fault_rip(false), CODE + 26);
		ymm(0, d);
		CHECK(!memcmp(d, h->ram + DATA + 32, 32)); /* unchanged */
		{
			uint8_t img[512] __attribute__((aligned(16)));
			uint32_t got;
			cpu_get_fxsave(h->cpu, img);
			memcpy(&got, img + 24, 4);
			CHECK_EQ(got, 0x1d80 | 4); /* ZE */
		}
	}
}

int main(void)
{
	if (!cpu_avx_supported()) {
		printf("SKIP: the host cannot run AVX (or SOFTKVM_NO_AVX)\n");
		return 77;
	}
	h = hx_create(64 << 20);
	if (!h)
		return 1;
	test_ud_nm();
	test_align();
	test_upper();
	test_gather_fault();
	test_maskmov();
	test_unmasked();
	hx_destroy(h);
	return unit_done("test_avx");
}
