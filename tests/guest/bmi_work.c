/* SPDX-License-Identifier: MIT */
/*
 * The BMI1/BMI2/ADX workload of the bmi64 guest test and of its native twin
 * (bmi_native.c). Built twice: with -DBMI_HW -O2 -mbmi -mbmi2 -madx, where gcc
 * compiles the intrinsics and the variable shifts and rotates into ANDN BEXTR
 * BLSI BLSMSK BLSR TZCNT BZHI PDEP PEXT MULX SARX SHLX SHRX RORX (and ADCX/ADOX
 * from inline assembly: gcc turns _addcarryx_u64 into ADC), and with
 * -DBMI_REF without those flags: the same sums from plain C. Each group
 * hashes its results over a pseudo-random stream of operands that includes
 * the edge cases (bit positions and counts at and beyond the operand size,
 * zero and all-ones sources), and the defined flags where the instruction
 * has any (read back by SETcc/ADC in the compiled code or by PUSHF).
 * Freestanding: no library calls.
 */
#include <stdbool.h>
#include <stdint.h>

#include "bmi_work.h"

#ifdef BMI_HW
#include <x86gprintrin.h>
#define FN(name) bmi_hw_##name
#else
#define FN(name) bmi_ref_##name
#endif

struct st {
	uint64_t s, h;
};

static inline uint64_t rnd(struct st *t)
{
	uint64_t z = (t->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* an operand: random, or one of the values at the edges */
static inline uint64_t val(struct st *t)
{
	uint64_t r = rnd(t);
	switch (r & 7) {
	case 0:
		return 0;
	case 1:
		return ~0ull;
	case 2:
		return 1ull << ((r >> 8) & 63);
	case 3:
		return (r >> 8) & 0xffff;
	case 4:
		return ~0ull << ((r >> 8) & 63);
	default:
		return rnd(t);
	}
}

/* a bit position or count: mostly around 0, 32 and 64, sometimes up to 255 */
static inline unsigned pos(struct st *t)
{
	uint64_t r = rnd(t);
	static const unsigned edge[] = {0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 200, 255};
	if (r & 1)
		return edge[(r >> 1) % 12];
	return (unsigned)((r >> 8) % ((r & 2) ? 256 : 70));
}

static inline void mix(struct st *t, uint64_t v)
{
	t->h = (t->h ^ v) * 0x100000001b3ull;
	t->h ^= t->h >> 29;
}

/* keep the compiler from folding across iterations */
#define OPAQUE(x) asm volatile("" : "+r"(x))

#ifndef BMI_HW
static uint64_t andn64(uint64_t a, uint64_t b)
{
	return ~a & b;
}
static uint64_t bextr64(uint64_t v, unsigned start, unsigned len, unsigned bits)
{
	uint64_t r = start < bits ? (bits == 32 ? (uint32_t)v : v) >> start : 0;
	if (len < 64)
		r &= (1ull << len) - 1;
	return r;
}
static uint64_t bzhi64(uint64_t v, unsigned n, unsigned bits)
{
	v = bits == 32 ? (uint32_t)v : v;
	return n < bits ? v & ((1ull << n) - 1) : v;
}
static uint64_t pdep64(uint64_t s, uint64_t m)
{
	uint64_t r = 0, b = 1;
	for (; m; m &= m - 1, b <<= 1)
		if (s & b)
			r |= m & -m;
	return r;
}
static uint64_t pext64(uint64_t s, uint64_t m)
{
	uint64_t r = 0, b = 1;
	for (; m; m &= m - 1, b <<= 1)
		if (s & m & -m)
			r |= b;
	return r;
}
static unsigned tzcnt(uint64_t v, unsigned bits)
{
	unsigned n = 0;
	while (n < bits && !(v & 1))
		v >>= 1, n++;
	return n;
}
#endif

uint64_t FN(andn)(uint64_t seed, unsigned n)
{
	struct st t = {seed, 0};
	for (unsigned k = 0; k < n; k++) {
		uint64_t a = val(&t), b = val(&t), r64, r32;
#ifdef BMI_HW
		uint64_t r2;
		r64 = _andn_u64(a, b);
		OPAQUE(r64);
		r32 = _andn_u32((uint32_t)a, (uint32_t)b);
		/* gcc may compute the intrinsic with NOT and AND: ANDN itself, a memory source too
		 */
		asm("andn %2, %1, %0" : "=r"(r2) : "r"(a), "m"(b));
		mix(&t, r2 ^ r64);
		asm("andn %k2, %k1, %k0" : "=r"(r2) : "r"(a), "r"(b));
		mix(&t, r2 ^ r32);
#else
		r64 = andn64(a, b);
		r32 = (uint32_t)andn64(a, b);
		mix(&t, 0);
		mix(&t, 0);
#endif
		OPAQUE(r32);
		mix(&t, r64);
		mix(&t, r32);
		mix(&t, r64 == 0); /* ZF */
	}
	return t.h;
}

uint64_t FN(bextr)(uint64_t seed, unsigned n)
{
	struct st t = {seed, 0};
	for (unsigned k = 0; k < n; k++) {
		uint64_t a = val(&t), r64, r32, junk = rnd(&t) << 16;
		unsigned s = pos(&t), l = pos(&t);
		(void)junk;
#ifdef BMI_HW
		/* the control form, with junk above bit 15 (ignored) */
		uint64_t ctl = (s & 0xff) | (l & 0xff) << 8 | junk;
		OPAQUE(ctl);
		r64 = __bextr_u64(a, ctl);
		OPAQUE(r64);
		r32 = __bextr_u32((uint32_t)a, (uint32_t)ctl);
		OPAQUE(r32);
		mix(&t, _bextr_u64(a, s, l));
#else
		r64 = bextr64(a, s, l, 64);
		r32 = bextr64(a, s, l, 32);
		mix(&t, r64);
#endif
		mix(&t, r64);
		mix(&t, r32);
	}
	return t.h;
}

uint64_t FN(bls)(uint64_t seed, unsigned n)
{
	struct st t = {seed, 0};
	for (unsigned k = 0; k < n; k++) {
		uint64_t a = val(&t), i, m, r;
		uint32_t i32, m32, r32;
#ifdef BMI_HW
		i = _blsi_u64(a);
		m = _blsmsk_u64(a);
		r = _blsr_u64(a);
		OPAQUE(i);
		OPAQUE(m);
		OPAQUE(r);
		i32 = _blsi_u32((uint32_t)a);
		m32 = _blsmsk_u32((uint32_t)a);
		r32 = _blsr_u32((uint32_t)a);
		/* the instructions themselves (gcc may use NEG/AND, LEA/XOR), register and memory
		 */
		{
			uint64_t x1, x2, x3;
			uint32_t y1, y2, y3, a32 = (uint32_t)a;
			asm("blsi %3, %0\n\tblsmsk %3, %1\n\tblsr %4, %2"
			    : "=&r"(x1), "=&r"(x2), "=&r"(x3)
			    : "m"(a), "r"(a));
			asm("blsi %k4, %0\n\tblsmsk %3, %1\n\tblsr %3, %2"
			    : "=&r"(y1), "=&r"(y2), "=&r"(y3)
			    : "m"(a32), "r"(a));
			mix(&t, (x1 ^ i) | (x2 ^ m) | (x3 ^ r));
			mix(&t, (y1 ^ i32) | (y2 ^ m32) | (y3 ^ r32));
		}
#else
		i = a & -a;
		m = a ^ (a - 1);
		r = a & (a - 1);
		i32 = (uint32_t)a & -(uint32_t)a;
		m32 = (uint32_t)a ^ ((uint32_t)a - 1);
		r32 = (uint32_t)a & ((uint32_t)a - 1);
		mix(&t, 0);
		mix(&t, 0);
#endif
		OPAQUE(i32);
		OPAQUE(m32);
		OPAQUE(r32);
		mix(&t, i);
		mix(&t, m);
		mix(&t, r);
		mix(&t, i32 | (uint64_t)m32 << 32);
		mix(&t, r32);
	}
	return t.h;
}

uint64_t FN(tzcnt)(uint64_t seed, unsigned n)
{
	struct st t = {seed, 0};
	for (unsigned k = 0; k < n; k++) {
		uint64_t a = val(&t), r64, r32;
#ifdef BMI_HW
		r64 = _tzcnt_u64(a);
		r32 = _tzcnt_u32((uint32_t)a);
#else
		r64 = tzcnt(a, 64);
		r32 = tzcnt((uint32_t)a, 32);
#endif
		OPAQUE(r64);
		OPAQUE(r32);
		mix(&t, r64 << 8 | r32);
	}
	return t.h;
}

uint64_t FN(bzhi)(uint64_t seed, unsigned n)
{
	struct st t = {seed, 0};
	for (unsigned k = 0; k < n; k++) {
		uint64_t a = val(&t), r64, r32;
		unsigned i = pos(&t);
#ifdef BMI_HW
		r64 = _bzhi_u64(a, i);
		OPAQUE(r64);
		r32 = _bzhi_u32((uint32_t)a, i);
#else
		r64 = bzhi64(a, i, 64);
		r32 = bzhi64(a, i, 32);
#endif
		OPAQUE(r32);
		mix(&t, r64);
		mix(&t, r32);
	}
	return t.h;
}

uint64_t FN(pdep_pext)(uint64_t seed, unsigned n)
{
	struct st t = {seed, 0};
	for (unsigned k = 0; k < n; k++) {
		uint64_t a = val(&t), m = val(&t), d, e;
		uint32_t d32, e32;
#ifdef BMI_HW
		d = _pdep_u64(a, m);
		e = _pext_u64(a, m);
		OPAQUE(d);
		OPAQUE(e);
		d32 = _pdep_u32((uint32_t)a, (uint32_t)m);
		e32 = _pext_u32((uint32_t)a, (uint32_t)m);
#else
		d = pdep64(a, m);
		e = pext64(a, m);
		d32 = (uint32_t)pdep64((uint32_t)a, (uint32_t)m);
		e32 = (uint32_t)pext64((uint32_t)a, (uint32_t)m);
#endif
		OPAQUE(d32);
		OPAQUE(e32);
		mix(&t, d);
		mix(&t, e);
		mix(&t, d32 | (uint64_t)e32 << 32);
	}
	return t.h;
}

uint64_t FN(mulx)(uint64_t seed, unsigned n)
{
	struct st t = {seed, 0};
	for (unsigned k = 0; k < n; k++) {
		uint64_t a = val(&t), b = val(&t), lo, hi;
		uint32_t hi32, lo32;
#ifdef BMI_HW
		unsigned long long h;
		lo = _mulx_u64(a, b, &h);
		hi = h;
		OPAQUE(lo);
		OPAQUE(hi);
		/* MULX r32 explicitly: gcc computes _mulx_u32 with a 64-bit IMUL */
		asm("mulx %3, %0, %1"
		    : "=r"(lo32), "=r"(hi32)
		    : "d"((uint32_t)a), "rm"((uint32_t)b));
#else
		unsigned __int128 p = (unsigned __int128)a * b;
		uint64_t p32 = (uint64_t)(uint32_t)a * (uint32_t)b;
		lo = (uint64_t)p;
		hi = (uint64_t)(p >> 64);
		lo32 = (uint32_t)p32;
		hi32 = (uint32_t)(p32 >> 32);
#endif
		mix(&t, lo);
		mix(&t, hi);
		mix(&t, lo32 | (uint64_t)hi32 << 32);
	}
	return t.h;
}

/* SHLX SHRX SARX (variable counts, masked by the instruction) and RORX (constant) */
uint64_t FN(shifts)(uint64_t seed, unsigned n)
{
	struct st t = {seed, 0};
	for (unsigned k = 0; k < n; k++) {
		uint64_t a = val(&t);
		unsigned c = pos(&t);
		OPAQUE(c);
		uint64_t l = a << (c & 63), r = a >> (c & 63);
		int64_t s = (int64_t)a >> (c & 63);
		uint32_t l32 = (uint32_t)a << (c & 31), r32 = (uint32_t)a >> (c & 31);
		int32_t s32 = (int32_t)(uint32_t)a >> (c & 31);
		uint64_t ro = (a >> 13) | (a << 51), ro2 = (a >> 63) | (a << 1);
		uint32_t ro32 = ((uint32_t)a >> 7) | ((uint32_t)a << 25);
		mix(&t, l);
		mix(&t, r);
		mix(&t, (uint64_t)s);
		mix(&t, l32 | (uint64_t)r32 << 32);
		mix(&t, (uint32_t)s32);
		mix(&t, ro ^ ro2);
		mix(&t, ro32);
	}
	return t.h;
}

/* ADCX/ADOX: two interleaved carry chains (a multiprecision add and a sum of
 * the same words), as in multiprecision multiplication; CF and OF at the end */
uint64_t FN(adx)(uint64_t seed, unsigned n)
{
	struct st t = {seed, 0};
	for (unsigned k = 0; k < n; k++) {
		uint64_t x[4], y[4], s[4], o[4];
		for (int j = 0; j < 4; j++) {
			x[j] = val(&t);
			y[j] = val(&t);
		}
		uint64_t cf, of;
		unsigned ci = rnd(&t) & 3;
#ifdef BMI_HW
		uint64_t s0 = x[0], s1 = x[1], s2 = x[2], s3 = x[3];
		uint64_t o0 = y[0], o1 = y[1], o2 = y[2], o3 = y[3];
		/* CF and OF in: bits 0 and 1 of ci, through ADD (which sets both) */
		uint64_t fl =
		    (ci & 1) | ((uint64_t)(ci & 2) << 10) | 0x2; /* IF stays clear in the guest */
		asm("push %[fl]\n\t"
		    "popfq\n\t"
		    "adcx %[y0], %[s0]\n\t"
		    "adox %[x0], %[o0]\n\t"
		    "adcx %[y1], %[s1]\n\t"
		    "adox %[x1], %[o1]\n\t"
		    "adcx %[y2], %[s2]\n\t"
		    "adox %[x2], %[o2]\n\t"
		    "adcx %[y3], %[s3]\n\t"
		    "adox %[x3], %[o3]\n\t"
		    "setc %b[cf]\n\t"
		    "seto %b[of]"
		    : [s0] "+&r"(s0), [s1] "+&r"(s1), [s2] "+&r"(s2), [s3] "+&r"(s3),
		      [o0] "+&r"(o0), [o1] "+&r"(o1), [o2] "+&r"(o2), [o3] "+&r"(o3),
		      [cf] "=&q"(cf), [of] "=&q"(of)
		    : [fl] "rm"(fl), [y0] "rm"(y[0]), [y1] "rm"(y[1]), [y2] "m"(y[2]),
		      [y3] "m"(y[3]), [x0] "m"(x[0]), [x1] "m"(x[1]), [x2] "m"(x[2]), [x3] "m"(x[3])
		    : "cc");
		cf &= 1;
		of &= 1;
		s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
		o[0] = o0, o[1] = o1, o[2] = o2, o[3] = o3;
#else
		cf = ci & 1;
		of = (ci >> 1) & 1;
		for (int j = 0; j < 4; j++) {
			unsigned __int128 u = (unsigned __int128)x[j] + y[j] + cf;
			s[j] = (uint64_t)u;
			cf = (uint64_t)(u >> 64);
			u = (unsigned __int128)y[j] + x[j] + of;
			o[j] = (uint64_t)u;
			of = (uint64_t)(u >> 64);
		}
#endif
		for (int j = 0; j < 4; j++) {
			mix(&t, s[j]);
			mix(&t, o[j]);
		}
		mix(&t, cf | of << 1);
	}
	return t.h;
}

/* the 32-bit forms of ADCX/ADOX (results zero-extended) */
uint64_t FN(adx32)(uint64_t seed, unsigned n)
{
	struct st t = {seed, 0};
	for (unsigned k = 0; k < n; k++) {
		uint64_t a = val(&t), b = val(&t), r1, r2, cf, of;
		unsigned ci = rnd(&t) & 3;
#ifdef BMI_HW
		uint64_t fl =
		    (ci & 1) | ((uint64_t)(ci & 2) << 10) | 0x2; /* IF stays clear in the guest */
		r1 = a;
		r2 = b;
		asm("push %[fl]\n\t"
		    "popfq\n\t"
		    "adcx %k[b], %k[r1]\n\t"
		    "adox %k[a], %k[r2]\n\t"
		    "setc %b[cf]\n\t"
		    "seto %b[of]"
		    : [r1] "+&r"(r1), [r2] "+&r"(r2), [cf] "=&q"(cf), [of] "=&q"(of)
		    : [fl] "rm"(fl), [a] "r"(a), [b] "r"(b)
		    : "cc");
		cf &= 1;
		of &= 1;
#else
		uint64_t u = (uint64_t)(uint32_t)a + (uint32_t)b + (ci & 1);
		r1 = (uint32_t)u;
		cf = u >> 32;
		u = (uint64_t)(uint32_t)b + (uint32_t)a + ((ci >> 1) & 1);
		r2 = (uint32_t)u;
		of = u >> 32;
#endif
		mix(&t, r1);
		mix(&t, r2);
		mix(&t, cf | of << 1);
	}
	return t.h;
}

/* the defined flags of the BMI1/BMI2 flag-setting instructions, read by PUSHF:
 * ZF SF CF OF (ANDN BLSI BLSR BZHI), ZF CF OF (BEXTR) */
enum { F_ANDN, F_BLSI, F_BLSR, F_BEXTR, F_BZHI };

static uint64_t flags_of(uint64_t seed, unsigned n, int which)
{
	struct st t = {seed, 0};
	for (unsigned k = 0; k < n; k++) {
		uint64_t a = val(&t), b = val(&t), f = 0;
		unsigned s = pos(&t), l = pos(&t);
#ifdef BMI_HW
		uint64_t ctl = s | l << 8, r;
#define FLAGS_OF(insn, ...)                                                                        \
	asm("xor %k[r], %k[r]\n\t" insn "\n\tpushfq\n\tpop %[f]"                                   \
	    : [r] "=&r"(r), [f] "=r"(f)                                                            \
	    : __VA_ARGS__                                                                          \
	    : "cc")
		switch (which) {
		case F_ANDN:
			FLAGS_OF("andn %[b], %[a], %[r]", [a] "r"(a), [b] "r"(b));
			break;
		case F_BLSI:
			FLAGS_OF("blsi %[a], %[r]", [a] "r"(a));
			break;
		case F_BLSR:
			FLAGS_OF("blsr %[a], %[r]", [a] "r"(a));
			break;
		case F_BEXTR:
			FLAGS_OF("bextr %[c], %[a], %[r]", [a] "r"(a), [c] "r"(ctl));
			break;
		default:
			FLAGS_OF("bzhi %[c], %[a], %[r]", [a] "r"(a), [c] "r"(ctl));
			break;
		}
		(void)r;
		f &= which == F_BEXTR ? 0x841 : 0x8c1;
#else
		uint64_t r;
		switch (which) {
		case F_ANDN:
			r = andn64(a, b);
			break;
		case F_BLSI:
			r = a & -a;
			f = a != 0;
			break;
		case F_BLSR:
			r = a & (a - 1);
			f = a == 0;
			break;
		case F_BEXTR:
			r = bextr64(a, s, l, 64);
			break;
		default:
			r = bzhi64(a, s, 64);
			f = s > 63;
			break;
		}
		f |= (r ? 0 : 0x40) | ((r >> 63) && which != F_BEXTR ? 0x80 : 0);
#endif
		mix(&t, f);
	}
	return t.h;
}

#define FLAGS_FN(name, which)                                                                      \
	uint64_t FN(flags_##name)(uint64_t seed, unsigned n)                                       \
	{                                                                                          \
		return flags_of(seed, n, which);                                                   \
	}
FLAGS_FN(andn, F_ANDN)
FLAGS_FN(blsi, F_BLSI)
FLAGS_FN(blsr, F_BLSR)
FLAGS_FN(bextr, F_BEXTR)
FLAGS_FN(bzhi, F_BZHI)

const struct bmi_group FN(groups)[] = {
    {"ANDN (_andn_u64, _andn_u32)", FN(andn)},
    {"BEXTR (__bextr_u64 with junk control bits, _bextr_u64, __bextr_u32)", FN(bextr)},
    {"BLSI BLSMSK BLSR (32 and 64 bits)", FN(bls)},
    {"TZCNT (_tzcnt_u64, _tzcnt_u32)", FN(tzcnt)},
    {"BZHI (_bzhi_u64, _bzhi_u32, index up to 255)", FN(bzhi)},
    {"PDEP PEXT (_pdep_u64, _pext_u64, _pdep_u32, _pext_u32)", FN(pdep_pext)},
    {"MULX (_mulx_u64, mulx r32)", FN(mulx)},
    {"SHLX SHRX SARX RORX (32 and 64 bits, counts masked)", FN(shifts)},
    {"ADCX ADOX (two 256-bit carry chains, CF and OF)", FN(adx)},
    {"ADCX ADOX (32 bits)", FN(adx32)},
    {"ANDN flags (ZF SF CF OF, PUSHF)", FN(flags_andn)},
    {"BLSI flags (ZF SF CF OF, PUSHF)", FN(flags_blsi)},
    {"BLSR flags (ZF SF CF OF, PUSHF)", FN(flags_blsr)},
    {"BEXTR flags (ZF CF OF, PUSHF)", FN(flags_bextr)},
    {"BZHI flags (ZF SF CF OF, PUSHF)", FN(flags_bzhi)},
    {0, 0},
};
