/* SPDX-License-Identifier: MIT */
/*
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib's crc32()),
 * table driven, one byte per step (Sarwate). The input buffer of size bytes
 * is generated from seed, then checksummed reps times, the CRC chained
 * through the passes (= the CRC of the buffer repeated reps times).
 *
 * Full build: crc = T[(crc ^ b) & 0xff] ^ (crc >> 8), table built bitwise.
 * KERNEL_BASIC: the same table, built from its 8 power-of-two entries by
 * linearity (T[a ^ b] = T[a] ^ T[b]), and the CRC kept as four byte
 * registers so that ">> 8" is a register rename: no shift instruction.
 */
#include "kernels.h"

#define POLY 0xedb88320u

/* work layout: the 1 KiB table, then the data */
#define DATA_OFF 4096

#ifdef KERNEL_BASIC
static void crc_table(uint32_t *t)
{
	/* T[1 << k], k = 0..7 */
	static const uint32_t pow2[8] = {
	    0x77073096, 0xee0e612c, 0x076dc419, 0x0edb8832,
	    0x1db71064, 0x3b6e20c8, 0x76dc4190, 0xedb88320,
	};
	uint32_t step = 1;

	t[0] = 0;
	for (unsigned k = 0; k < 8; k++, step += step)
		for (uint32_t i = 0; i < step; i++)
			t[step + i] = t[i] ^ pow2[k];
}

static uint32_t crc_update(const uint32_t *t, uint32_t crc, const uint8_t *p, uint64_t n)
{
	/* the CRC's bytes without shifts: through memory, once per call */
	volatile union {
		uint32_t w;
		uint8_t b[4];
	} u;
	const uint8_t *tb = (const uint8_t *)t;
	uint32_t c0, c1, c2, c3;

	u.w = ~crc;
	c0 = u.b[0];
	c1 = u.b[1];
	c2 = u.b[2];
	c3 = u.b[3];
	for (; n; n--, p++) {
		const uint8_t *e = tb + 4 * (uint64_t)(uint8_t)(c0 ^ *p);
		c0 = c1 ^ e[0];
		c1 = c2 ^ e[1];
		c2 = c3 ^ e[2];
		c3 = e[3];
	}
	u.b[0] = (uint8_t)c0;
	u.b[1] = (uint8_t)c1;
	u.b[2] = (uint8_t)c2;
	u.b[3] = (uint8_t)c3;
	return ~u.w;
}
#else
static void crc_table(uint32_t *t)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (POLY & -(c & 1));
		t[i] = c;
	}
}

static uint32_t crc_update(const uint32_t *t, uint32_t crc, const uint8_t *p, uint64_t n)
{
	crc = ~crc;
	for (; n; n--, p++)
		crc = t[(crc ^ *p) & 0xff] ^ (crc >> 8);
	return ~crc;
}
#endif

/* deterministic data, adds and xors only: w[i] = w[i-1] + w[i-2] ^ 8i */
static void fill(uint8_t *p, uint64_t size, uint64_t seed)
{
	uint64_t a = seed, b = seed ^ 0x9e3779b97f4a7c15ull;
	for (uint64_t off = 0; off < size; off += 8) {
		uint64_t c = (a + b) ^ off;
		__builtin_memcpy(p + off, &c, 8);
		a = b;
		b = c;
	}
}

uint64_t k_crc32(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed);
uint64_t k_crc32(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed)
{
	uint32_t *t = (uint32_t *)work;
	uint8_t *data = (uint8_t *)(work + DATA_OFF);
	uint32_t crc = 0;

	crc_table(t);
	fill(data, size, seed);
	for (uint64_t r = 0; r < reps; r++)
		crc = crc_update(t, crc, data, size);
	return crc;
}
