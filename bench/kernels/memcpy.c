/* SPDX-License-Identifier: MIT */
/*
 * memcpy-heavy loop: copies a size-byte buffer to another reps times
 * (changing one source word between passes, so no pass is redundant), then
 * returns a checksum of the destination.
 *
 * Full build: REP MOVSQ for the 8-byte words and REP MOVSB for the tail, as
 * an inlined memcpy does.
 * KERNEL_BASIC: a plain 8-byte load/store loop unrolled by four.
 */
#include "kernels.h"

static void copy(void *d, const void *s, uint64_t n)
{
#ifdef KERNEL_BASIC
	/* n is a multiple of 32: no tail, no division */
	uint64_t *dp = d;
	const uint64_t *sp = s, *end = (const uint64_t *)((const uint8_t *)s + n);

	for (; sp != end; sp += 4, dp += 4) {
		uint64_t a = sp[0], b = sp[1], c = sp[2], e = sp[3];
		dp[0] = a;
		dp[1] = b;
		dp[2] = c;
		dp[3] = e;
	}
#else
	uint64_t q = n / 8, r = n % 8;
	__asm__ volatile("rep movsq\n\t"
			 "mov %3, %%rcx\n\t"
			 "rep movsb"
			 : "+D"(d), "+S"(s), "+c"(q)
			 : "r"(r)
			 : "memory");
#endif
}

/* size: bytes, rounded down to a multiple of 32 */
uint64_t k_memcpy(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed);
uint64_t k_memcpy(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed)
{
	uint8_t *src = (uint8_t *)work;
	uint8_t *dst;
	uint64_t a = seed, sum = 0, x = 0, idx = 0;

	size &= ~31ull;
	if (!size)
		return 0;
	dst = src + ((size + 4095) & ~4095ull) + 4096;
	for (uint64_t off = 0; off < size; off += 8) {
		a += 0x9e3779b97f4a7c15ull;
		*(uint64_t *)(src + off) = a ^ off;
	}
	for (uint64_t r = 0; r < reps; r++) {
		copy(dst, src, size);
		*(uint64_t *)(src + idx) ^= r + 1;
		idx += 8;
		if (idx == size)
			idx = 0;
	}
	for (uint64_t off = 0; off < size; off += 8) {
		sum += *(uint64_t *)(dst + off);
		x ^= sum;
	}
	return sum ^ x;
}
