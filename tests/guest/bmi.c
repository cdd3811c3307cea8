/* SPDX-License-Identifier: MIT */
/*
 * BMI1, BMI2 and ADX in a guest: code compiled by gcc -O2 -mbmi -mbmi2 -madx
 * (bmi_work.c) gives the same results as the plain-C reference. The
 * "INFO: hash" lines carry the results, which bmi_native.c prints from the
 * host processor: run-guest.py --native compares them and the report lines
 * (QEMU TCG, as for every kernel, only the report lines).
 */
#include "libtest.h"

#include "bmi_work.h"

static inline void cpuid(u32 leaf, u32 sub, u32 r[4])
{
	asm volatile("cpuid"
		     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
		     : "a"(leaf), "c"(sub));
}

int main(void)
{
	u32 r[4];
	cpuid(7, 0, r);
	/* BMI1 (3), BMI2 (8), ADX (19) */
	report("CPUID.7.0:EBX advertises BMI1, BMI2 and ADX", (r[1] & 0x80108) == 0x80108);
	for (int k = 0; bmi_hw_groups[k].name; k++) {
		u64 h = bmi_hw_groups[k].run(BMI_SEED + (u64)k, BMI_ROUNDS);
		u64 want = bmi_ref_groups[k].run(BMI_SEED + (u64)k, BMI_ROUNDS);
		report(bmi_hw_groups[k].name, h == want);
		info("hash %s: %016llx", bmi_hw_groups[k].name, (unsigned long long)h);
	}
	report_summary();
}
