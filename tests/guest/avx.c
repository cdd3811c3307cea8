/* SPDX-License-Identifier: MIT */
/*
 * x86-64-v3 in a guest: code compiled by gcc -O2 -march=x86-64-v3
 * (avx_work.c -DAVX_HW: AVX2, FMA, F16C, BMI) gives the same results as the
 * baseline x86-64 build (exactly for the integer groups, within rounding
 * for the floating-point ones, which FMA contraction changes), and the
 * "INFO: hash" lines, which avx_native.c prints from the host processor,
 * must be equal (run-guest.py --native). The guest enables the AVX state
 * as Linux does: CR4.OSFXSR/OSXMMEXCPT/OSXSAVE, XCR0 = x87 | SSE | YMM.
 */
#include "libtest.h"

#include "avx_work.h"

static inline void cpuid(u32 leaf, u32 sub, u32 r[4])
{
	asm volatile("cpuid"
		     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
		     : "a"(leaf), "c"(sub));
}

int main(void)
{
	u32 r[4], lo, hi;
	unsigned long cr;
	int ok, osxsave_before;

	cpuid(1, 0, r);
	/* FMA (12), AVX (28), F16C (29), XSAVE (26) */
	ok = (r[2] & 0x34001000u) == 0x34001000u;
	if (!ok) {
		/* softkvm on a host without AVX2/FMA/F16C offers none of them (its
		 * native twin skips there, so nothing is compared) */
		report_skip("CPUID.1:ECX advertises AVX, FMA, F16C and XSAVE");
		report_summary();
	}
	report("CPUID.1:ECX advertises AVX, FMA, F16C and XSAVE", ok);
	osxsave_before = (r[2] >> 27) & 1;
	cpuid(7, 0, r);
	report("CPUID.7.0:EBX advertises AVX2, BMI1 and BMI2", (r[1] & 0x128) == 0x128);
	cpuid(0xd, 0, r);
	report("CPUID.0xD.0:EAX allows YMM", (r[0] & 7) == 7);
	asm volatile("mov %%cr0, %0" : "=r"(cr));
	cr = (cr & ~4ul) | 2ul; /* EM clear, MP set */
	asm volatile("mov %0, %%cr0" ::"r"(cr));
	asm volatile("mov %%cr4, %0" : "=r"(cr));
	cr |= (1ul << 9) | (1ul << 10) | (1ul << 18);
	asm volatile("mov %0, %%cr4" ::"r"(cr));
	asm volatile("xsetbv" ::"a"(7), "d"(0), "c"(0));
	asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	report("XCR0 = x87 | SSE | YMM", lo == 7 && hi == 0);
	cpuid(1, 0, r);
	report("CPUID.1:ECX.OSXSAVE follows CR4", !osxsave_before && ((r[2] >> 27) & 1));
	cpuid(0xd, 0, r);
	report("CPUID.0xD.0:EBX is 832 with YMM enabled", r[1] == 832);
	for (int k = 0; avx_hw_groups[k].name; k++) {
		u64 h = avx_hw_groups[k].run(AVX_SEED + (u64)k, AVX_ROUNDS);
		u64 want = avx_ref_groups[k].run(AVX_SEED + (u64)k, AVX_ROUNDS);
		int e = avx_hw_groups[k].exact;
		report(avx_hw_groups[k].name, e == 1 ? h == want : avx_close(e - 2));
		info("hash %s: %016llx", avx_hw_groups[k].name, (unsigned long long)h);
	}
	report_summary();
	return 0;
}
