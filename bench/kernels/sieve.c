/* SPDX-License-Identifier: MIT */
/*
 * Sieve of Eratosthenes over a byte array: counts the primes <= size, reps
 * times (the flags are cleared each pass), and returns the sum of the counts.
 *
 * Full build: crossing off starts at i*i (IMUL), the textbook form.
 * KERNEL_BASIC: starts at 2*i (an add), so no multiply is needed; this does
 * the same work plus the redundant crossings below i*i.
 */
#include "kernels.h"

uint64_t k_sieve(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed);
uint64_t k_sieve(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed)
{
	uint8_t *f = (uint8_t *)work;
	uint64_t n = size, total = 0;

	(void)seed;
	for (uint64_t r = 0; r < reps; r++) {
		uint64_t count = 0;
		for (uint64_t i = 0; i <= n; i++)
			f[i] = 0;
		for (uint64_t i = 2; i <= n; i++) {
			if (f[i])
				continue;
			count++;
#ifdef KERNEL_BASIC
			for (uint64_t j = i + i; j <= n; j += i)
				f[j] = 1;
#else
			if (i <= n / i)
				for (uint64_t j = i * i; j <= n; j += i)
					f[j] = 1;
#endif
		}
		total += count;
	}
	return total;
}
