/* SPDX-License-Identifier: MIT */
/* A tiny unit-test helper: CHECK() records failures, unit_done() reports. */
#ifndef SOFTKVM_TESTS_UNIT_H
#define SOFTKVM_TESTS_UNIT_H

#include <stdio.h>
#include <inttypes.h>

static int unit_failures, unit_checks;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		unit_checks++;                                                                     \
		if (!(cond)) {                                                                     \
			unit_failures++;                                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		uint64_t _a = (uint64_t)(a), _b = (uint64_t)(b);                                   \
		unit_checks++;                                                                     \
		if (_a != _b) {                                                                    \
			unit_failures++;                                                           \
			fprintf(stderr, "%s:%d: %s == %s failed: %#" PRIx64 " != %#" PRIx64 "\n",  \
				__FILE__, __LINE__, #a, #b, _a, _b);                               \
		}                                                                                  \
	} while (0)

static inline int unit_done(const char *name)
{
	printf("%s: %d checks, %d failures\n", name, unit_checks, unit_failures);
	return unit_failures ? 1 : 0;
}

#endif
