/* SPDX-License-Identifier: MIT */
/* The x86-64-v3 workload (avx_work.c), built for x86-64-v3 and for baseline x86-64. */
#ifndef GUEST_AVX_WORK_H
#define GUEST_AVX_WORK_H

#include <stdint.h>

struct avx_group {
	const char *name;
	uint64_t (*run)(uint64_t seed, unsigned n); /* a hash of n rounds of the group */
	int exact; /* 1: the baseline build gives the same hash; 2 + k: avx_close(k) */
};

/* NULL-terminated; the same groups in the same order */
extern const struct avx_group avx_hw_groups[];	/* gcc -O2 -march=x86-64-v3 */
extern const struct avx_group avx_ref_groups[]; /* gcc -O2, baseline x86-64 */

#define AVX_SEED   0xa5c0ffeeull
#define AVX_ROUNDS 200u

/* the floating-point groups (exact >= 2) hash their results' bits and leave
 * a plain sum in avx_*_last_sum[k] (k: 0 float, 1 double, 2 F16C);
 * avx_close(k) says whether the two builds' sums agree within rounding */
extern double avx_hw_last_sum[8], avx_ref_last_sum[8];
int avx_close(int k);

#endif
