/* SPDX-License-Identifier: MIT */
/* The kernel table at the start of the image (section .ktab, see link.ld). */
#include "kernels.h"

uint64_t k_crc32(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed);
uint64_t k_sieve(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed);
uint64_t k_memcpy(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed);
uint64_t k_interp(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed);

__attribute__((section(".ktab"), used)) const struct ktab ktab = {
    .magic = KTAB_MAGIC,
    .count = K_COUNT,
#ifdef KERNEL_BASIC
    .basic = 1,
#endif
    .entry =
	{
	    [K_CRC32] = (uint64_t)k_crc32,
	    [K_SIEVE] = (uint64_t)k_sieve,
	    [K_MEMCPY] = (uint64_t)k_memcpy,
	    [K_INTERP] = (uint64_t)k_interp,
	},
};
