/* SPDX-License-Identifier: MIT */
/* The BMI1/BMI2/ADX workload (bmi_work.c), built with and without the instructions. */
#ifndef GUEST_BMI_WORK_H
#define GUEST_BMI_WORK_H

#include <stdint.h>

struct bmi_group {
	const char *name;
	uint64_t (*run)(uint64_t seed, unsigned n); /* a hash of n rounds of the group */
};

/* NULL-terminated; the same groups in the same order */
extern const struct bmi_group bmi_hw_groups[];	/* the BMI instructions */
extern const struct bmi_group bmi_ref_groups[]; /* plain C */

#define BMI_SEED   0x5eed0bd1ull
#define BMI_ROUNDS 20000u

#endif
