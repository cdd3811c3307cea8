/* SPDX-License-Identifier: MIT */
/*
 * The native twin of the bmi64 guest test: the same workload on the host
 * processor, the same report lines. Exit status 77 (skipped) on a host
 * without BMI1, BMI2 or ADX; otherwise 1 when every check passed, 3 if not
 * (the guest kernel's isa-debug-exit statuses).
 */
#include <cpuid.h>
#include <stdio.h>

#include "bmi_work.h"

int main(void)
{
	unsigned a, b, c, d, fails = 0, n = 1;

	if (__get_cpuid_max(0, NULL) < 7) {
		printf("SKIP: the host has no CPUID leaf 7\n");
		return 77;
	}
	__cpuid_count(7, 0, a, b, c, d);
	if ((b & 0x80108) != 0x80108) {
		printf("SKIP: the host lacks BMI1, BMI2 or ADX (CPUID.7.0:EBX %#x)\n", b);
		return 77;
	}
	printf("PASS: CPUID.7.0:EBX advertises BMI1, BMI2 and ADX\n");
	for (int k = 0; bmi_hw_groups[k].name; k++, n++) {
		uint64_t h = bmi_hw_groups[k].run(BMI_SEED + (uint64_t)k, BMI_ROUNDS);
		uint64_t want = bmi_ref_groups[k].run(BMI_SEED + (uint64_t)k, BMI_ROUNDS);
		fails += h != want;
		printf("%s: %s\n", h == want ? "PASS" : "FAIL", bmi_hw_groups[k].name);
		printf("INFO: hash %s: %016llx\n", bmi_hw_groups[k].name, (unsigned long long)h);
	}
	printf("SUMMARY: %u tests, %u failures\n", n, fails);
	return fails ? 3 : 1;
}
