/* SPDX-License-Identifier: MIT */
/*
 * Integer instructions in 32-bit protected mode (cpu32) and 64-bit mode
 * (cpu64): results and the architecturally defined flags of the ALU,
 * multiply/divide, shift/rotate, bit, exchange, stack, control-transfer and
 * conversion instructions (SDM Vol. 2; flags per Vol. 1, Appendix A).
 * Every check compares against values computed here by the rules of the
 * SDM, so the same kernel fails the same way on hardware, QEMU and softkvm.
 */
#include "libtest.h"

#define ARITH X86_EFLAGS_ARITH
#define FIXED 0x2ul

static bool parity(u64 r)
{
	return !(__builtin_popcount((unsigned)(r & 0xff)) & 1);
}

static u64 mask_of(int bits)
{
	return bits == 64 ? ~0ull : (1ull << bits) - 1;
}

static ulong szp(u64 r, int bits)
{
	ulong f = 0;
	if (!(r & mask_of(bits)))
		f |= X86_EFLAGS_ZF;
	if ((r >> (bits - 1)) & 1)
		f |= X86_EFLAGS_SF;
	if (parity(r))
		f |= X86_EFLAGS_PF;
	return f;
}

/* reference: ADD/ADC (sub = false) and SUB/SBB/CMP (sub = true) */
static u64 ref_addsub(u64 a, u64 b, int cin, bool sub, int bits, ulong *fl)
{
	u64 m = mask_of(bits), r;
	ulong f = 0;
	bool cf;

	a &= m, b &= m;
	if (!sub) {
		r = (a + b + (u64)cin) & m;
		cf = bits == 64 ? (r < a || (cin && r == a)) : ((a + b + (u64)cin) >> bits) != 0;
		if ((((a ^ r) & (b ^ r)) >> (bits - 1)) & 1)
			f |= X86_EFLAGS_OF;
	} else {
		r = (a - b - (u64)cin) & m;
		cf = b > a || (cin && b == a);
		if ((((a ^ b) & (a ^ r)) >> (bits - 1)) & 1)
			f |= X86_EFLAGS_OF;
	}
	if (cf)
		f |= X86_EFLAGS_CF;
	if ((a ^ b ^ r) & 0x10)
		f |= X86_EFLAGS_AF;
	*fl = f | szp(r, bits);
	return r;
}

static const u64 vals[] = {
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x12345678,
    0x7fffffff,
    0x80000000,
    0xffffffff,
    0x100000000ull,
    0x7fffffffffffffffull,
    0x8000000000000000ull,
    0xffffffffffffffffull,
    0xdeadbeefcafebabeull,
    0x0123456789abcdefull,
};

/* run "INSN src, dst" with the given flags in; returns dst, *fo = flags out */
#define ALU_FN(name, insn, type, cons)                                                             \
	static type name(type a, type b, ulong fi, ulong *fo)                                      \
	{                                                                                          \
		asm volatile("push %[fi]\n\tpopf\n\t" insn " %[b], %[a]\n\tpushf\n\tpop %[fo]"     \
			     : [a] "+" cons(a), [fo] "=&r"(*fo)                                    \
			     : [b] cons(b), [fi] "r"(fi)                                           \
			     : "cc");                                                              \
		return a;                                                                          \
	}

ALU_FN(add8, "addb", u8, "q")
ALU_FN(add16, "addw", u16, "r")
ALU_FN(add32, "addl", u32, "r")
ALU_FN(adc32, "adcl", u32, "r")
ALU_FN(sub8, "subb", u8, "q")
ALU_FN(sub16, "subw", u16, "r")
ALU_FN(sub32, "subl", u32, "r")
ALU_FN(sbb32, "sbbl", u32, "r")
ALU_FN(sbb8, "sbbb", u8, "q")
ALU_FN(and32, "andl", u32, "r")
ALU_FN(or32, "orl", u32, "r")
ALU_FN(xor32, "xorl", u32, "r")
ALU_FN(cmp32, "cmpl", u32, "r")
ALU_FN(test32, "testl", u32, "r")
#ifdef __x86_64__
ALU_FN(add64, "addq", u64, "r")
ALU_FN(adc64, "adcq", u64, "r")
ALU_FN(sub64, "subq", u64, "r")
ALU_FN(sbb64, "sbbq", u64, "r")
ALU_FN(xor64, "xorq", u64, "r")
#endif

static void test_addsub(void)
{
	bool ok[8] = {true, true, true, true, true, true, true, true};
	unsigned n = ARRAY_SIZE(vals);

	for (unsigned i = 0; i < n; i++) {
		for (unsigned j = 0; j < n; j++) {
			u64 a = vals[i], b = vals[j], r;
			ulong fe, fo;
			for (int cin = 0; cin < 2; cin++) {
				ulong fi = FIXED | (cin ? X86_EFLAGS_CF : 0);
				r = ref_addsub(a, b, cin, false, 32, &fe);
				if (adc32((u32)a, (u32)b, fi, &fo) != (u32)r || (fo & ARITH) != fe)
					ok[1] = false;
				r = ref_addsub(a, b, cin, true, 32, &fe);
				if (sbb32((u32)a, (u32)b, fi, &fo) != (u32)r || (fo & ARITH) != fe)
					ok[3] = false;
				r = ref_addsub(a, b, cin, true, 8, &fe);
				if (sbb8((u8)a, (u8)b, fi, &fo) != (u8)r || (fo & ARITH) != fe)
					ok[3] = false;
#ifdef __x86_64__
				r = ref_addsub(a, b, cin, false, 64, &fe);
				if (adc64(a, b, fi, &fo) != r || (fo & ARITH) != fe)
					ok[5] = false;
				r = ref_addsub(a, b, cin, true, 64, &fe);
				if (sbb64(a, b, fi, &fo) != r || (fo & ARITH) != fe)
					ok[5] = false;
#endif
			}
			/* ADD/SUB ignore the incoming carry */
			ulong fi = FIXED | X86_EFLAGS_CF;
			r = ref_addsub(a, b, 0, false, 8, &fe);
			if (add8((u8)a, (u8)b, fi, &fo) != (u8)r || (fo & ARITH) != fe)
				ok[0] = false;
			r = ref_addsub(a, b, 0, false, 16, &fe);
			if (add16((u16)a, (u16)b, fi, &fo) != (u16)r || (fo & ARITH) != fe)
				ok[0] = false;
			r = ref_addsub(a, b, 0, false, 32, &fe);
			if (add32((u32)a, (u32)b, fi, &fo) != (u32)r || (fo & ARITH) != fe)
				ok[0] = false;
			r = ref_addsub(a, b, 0, true, 8, &fe);
			if (sub8((u8)a, (u8)b, fi, &fo) != (u8)r || (fo & ARITH) != fe)
				ok[2] = false;
			r = ref_addsub(a, b, 0, true, 16, &fe);
			if (sub16((u16)a, (u16)b, fi, &fo) != (u16)r || (fo & ARITH) != fe)
				ok[2] = false;
			r = ref_addsub(a, b, 0, true, 32, &fe);
			if (sub32((u32)a, (u32)b, fi, &fo) != (u32)r || (fo & ARITH) != fe)
				ok[2] = false;
			/* CMP: SUB's flags, destination unchanged */
			if (cmp32((u32)a, (u32)b, fi, &fo) != (u32)a || (fo & ARITH) != fe)
				ok[4] = false;
#ifdef __x86_64__
			r = ref_addsub(a, b, 0, false, 64, &fe);
			if (add64(a, b, fi, &fo) != r || (fo & ARITH) != fe)
				ok[5] = false;
			r = ref_addsub(a, b, 0, true, 64, &fe);
			if (sub64(a, b, fi, &fo) != r || (fo & ARITH) != fe)
				ok[5] = false;
#endif
		}
	}
	report("add 8/16/32: result and flags", ok[0]);
	report("adc 32: result and flags", ok[1]);
	report("sub 8/16/32: result and flags", ok[2]);
	report("sbb 8/32: result and flags", ok[3]);
	report("cmp 32: flags, destination kept", ok[4]);
#ifdef __x86_64__
	report("add/adc/sub/sbb 64: result and flags", ok[5]);
#endif
}

static void test_logic(void)
{
	bool ok = true;
	/* logic ops: CF = OF = 0, SF/ZF/PF from the result; AF undefined */
	const ulong defined = ARITH & ~X86_EFLAGS_AF;

	for (unsigned i = 0; i < ARRAY_SIZE(vals); i++) {
		for (unsigned j = 0; j < ARRAY_SIZE(vals); j++) {
			u32 a = (u32)vals[i], b = (u32)vals[j];
			ulong fo, fi = FIXED | X86_EFLAGS_CF | X86_EFLAGS_OF;
			if (and32(a, b, fi, &fo) != (a & b) || (fo & defined) != szp(a & b, 32))
				ok = false;
			if (or32(a, b, fi, &fo) != (a | b) || (fo & defined) != szp(a | b, 32))
				ok = false;
			if (xor32(a, b, fi, &fo) != (a ^ b) || (fo & defined) != szp(a ^ b, 32))
				ok = false;
			if (test32(a, b, fi, &fo) != a || (fo & defined) != szp(a & b, 32))
				ok = false;
#ifdef __x86_64__
			u64 p = vals[i], q = vals[j];
			if (xor64(p, q, fi, &fo) != (p ^ q) || (fo & defined) != szp(p ^ q, 64))
				ok = false;
#endif
		}
	}
	report("and/or/xor/test: result and flags", ok);
}

static void test_incdec_neg_not(void)
{
	ulong fo;
	u32 v = 0xffffffff;

	/* INC/DEC keep CF */
	asm volatile("stc; incl %0; pushf; pop %1" : "+r"(v), "=r"(fo) : : "cc");
	report("inc: wraps to 0, ZF set, CF kept",
	       v == 0 && (fo & X86_EFLAGS_ZF) && (fo & X86_EFLAGS_CF) && (fo & X86_EFLAGS_AF));
	v = 0x80000000;
	asm volatile("clc; decl %0; pushf; pop %1" : "+r"(v), "=r"(fo) : : "cc");
	report("dec: 0x80000000 -> 0x7fffffff, OF set, CF kept clear",
	       v == 0x7fffffff && (fo & X86_EFLAGS_OF) && !(fo & X86_EFLAGS_CF));
	v = 5;
	asm volatile("negl %0; pushf; pop %1" : "+r"(v), "=r"(fo) : : "cc");
	report("neg: -5, CF set for a nonzero source", v == (u32)-5 && (fo & X86_EFLAGS_CF));
	v = 0;
	asm volatile("stc; negl %0; pushf; pop %1" : "+r"(v), "=r"(fo) : : "cc");
	report("neg 0: CF clear, ZF set", v == 0 && !(fo & X86_EFLAGS_CF) && (fo & X86_EFLAGS_ZF));
	v = 0x80000000;
	asm volatile("negl %0; pushf; pop %1" : "+r"(v), "=r"(fo) : : "cc");
	report("neg 0x80000000: OF set", v == 0x80000000 && (fo & X86_EFLAGS_OF));
	v = 0x0f0f0f0f;
	asm volatile("stc; notl %0; pushf; pop %1" : "+r"(v), "=r"(fo) : : "cc");
	report("not: inverts, flags untouched", v == 0xf0f0f0f0 && (fo & X86_EFLAGS_CF));
}

static void test_muldiv(void)
{
	u32 lo, hi;
	ulong fo;

	asm volatile("mull %3; pushf; pop %2"
		     : "=a"(lo), "=d"(hi), "=r"(fo)
		     : "r"(0x87654321u), "a"(0x12345678u)
		     : "cc");
	report("mul 32: edx:eax, CF=OF=1", lo == 0x70b88d78 && hi == 0x09a0cd05 &&
					       (fo & X86_EFLAGS_CF) && (fo & X86_EFLAGS_OF));
	asm volatile("mull %3; pushf; pop %2"
		     : "=a"(lo), "=d"(hi), "=r"(fo)
		     : "r"(3u), "a"(7u)
		     : "cc");
	report("mul 32 small: CF=OF=0",
	       lo == 21 && hi == 0 && !(fo & X86_EFLAGS_CF) && !(fo & X86_EFLAGS_OF));
	asm volatile("imull %3; pushf; pop %2"
		     : "=a"(lo), "=d"(hi), "=r"(fo)
		     : "r"(-3), "a"(0x40000000u)
		     : "cc");
	report("imul 32 one-operand: sign-extended edx:eax",
	       lo == 0x40000000u && hi == 0xffffffffu && (fo & X86_EFLAGS_CF));
	u32 r3;
	asm volatile("imull $-7, %2, %0; pushf; pop %1" : "=r"(r3), "=r"(fo) : "r"(6) : "cc");
	report("imul 3-operand: -42, no overflow", r3 == (u32)-42 && !(fo & X86_EFLAGS_OF));
	asm volatile("imull $0x10000, %2, %0; pushf; pop %1"
		     : "=r"(r3), "=r"(fo)
		     : "r"(0x10000)
		     : "cc");
	report("imul 3-operand: overflow sets CF/OF",
	       r3 == 0 && (fo & X86_EFLAGS_OF) && (fo & X86_EFLAGS_CF));
	u16 w = 0x1234;
	asm volatile("imulw %2, %0; pushf; pop %1" : "+r"(w), "=r"(fo) : "r"((u16)0x10) : "cc");
	report("imul 16 two-operand: truncated, overflow", w == 0x2340 && (fo & X86_EFLAGS_OF));
	u8 al;
	u16 ax;
	asm volatile("mulb %2" : "=a"(ax) : "a"((u16)0x00f0), "q"((u8)0x10) : "cc");
	report("mul 8: ax = al * r8", ax == 0x0f00);
	ax = 0x0107;
	asm volatile("divb %1" : "+a"(ax) : "q"((u8)0x10) : "cc");
	report("div 8: al quotient, ah remainder", ax == ((0x07 << 8) | 0x10));
	(void)al;

	u32 q, rem;
	asm volatile("divl %4"
		     : "=a"(q), "=d"(rem)
		     : "a"(0x89abcdefu), "d"(0x01234567u), "r"(0x10000000u)
		     : "cc");
	report("div 64/32: quotient and remainder", q == 0x12345678u && rem == 0x9abcdefu);
	asm volatile("idivl %4"
		     : "=a"(q), "=d"(rem)
		     : "a"((u32)-7), "d"(0xffffffffu), "r"(2)
		     : "cc");
	report("idiv 32: rounds toward zero", q == (u32)-3 && rem == (u32)-1);
	asm volatile("idivl %4" : "=a"(q), "=d"(rem) : "a"(7u), "d"(0u), "r"(-2) : "cc");
	report("idiv 32: negative divisor", q == (u32)-3 && rem == 1);
#ifdef __x86_64__
	u64 l64, h64;
	asm volatile("mulq %3"
		     : "=a"(l64), "=d"(h64)
		     : "a"(0xfedcba9876543210ull), "r"(0x123456789abcdef0ull)
		     : "cc");
	report("mul 64: rdx:rax", l64 == 0x236d88fe5618cf00ull && h64 == 0x121fa00ad77d7422ull);
	asm volatile("imulq %3"
		     : "=a"(l64), "=d"(h64)
		     : "a"(-2ll), "r"(0x4000000000000000ull)
		     : "cc");
	report("imul 64 one-operand", l64 == 0x8000000000000000ull && h64 == ~0ull);
	u64 q64, r64;
	asm volatile("divq %4"
		     : "=a"(q64), "=d"(r64)
		     : "a"(0x0123456789abcdefull), "d"(0x1ull), "r"(0x100000000ull)
		     : "cc");
	report("div 128/64", q64 == 0x101234567ull && r64 == 0x89abcdefull);
	asm volatile("idivq %4"
		     : "=a"(q64), "=d"(r64)
		     : "a"(-1000000000001ll), "d"(-1ll), "r"(1000000ll)
		     : "cc");
	report("idiv 128/64: signs", q64 == (u64)-1000000ll && r64 == (u64)-1ll);
#endif
}

#define SHIFT_FN(name, insn)                                                                       \
	static u32 name(u32 v, u8 c, ulong fi, ulong *fo)                                          \
	{                                                                                          \
		asm volatile("push %[fi]\n\tpopf\n\t" insn " %%cl, %[v]\n\tpushf\n\tpop %[fo]"     \
			     : [v] "+r"(v), [fo] "=&r"(*fo)                                        \
			     : "c"(c), [fi] "r"(fi)                                                \
			     : "cc");                                                              \
		return v;                                                                          \
	}
SHIFT_FN(shl32, "shll")
SHIFT_FN(shr32, "shrl")
SHIFT_FN(sar32, "sarl")
SHIFT_FN(rol32, "roll")
SHIFT_FN(ror32, "rorl")
SHIFT_FN(rcl32, "rcll")
SHIFT_FN(rcr32, "rcrl")

static void test_shifts(void)
{
	ulong fo, all = FIXED | ARITH;
	u32 r;

	r = shl32(0x80000001, 1, FIXED, &fo);
	report("shl 1: CF = old msb, OF = msb ^ CF",
	       r == 2 && (fo & X86_EFLAGS_CF) && (fo & X86_EFLAGS_OF));
	r = shl32(0x1, 31, FIXED, &fo);
	report("shl 31", r == 0x80000000 && !(fo & X86_EFLAGS_CF) && (fo & X86_EFLAGS_SF));
	r = shl32(0x12345678, 0, all, &fo);
	report("shift count 0 leaves flags", r == 0x12345678 && (fo & ARITH) == ARITH);
	r = shl32(0x12345678, 33, FIXED, &fo);
	report("shift count masked to 5 bits", r == 0x2468acf0);
	r = shr32(0x80000003, 1, FIXED, &fo);
	report("shr 1: CF = bit 0, OF = old msb",
	       r == 0x40000001 && (fo & X86_EFLAGS_CF) && (fo & X86_EFLAGS_OF));
	r = sar32(0x80000000, 4, FIXED, &fo);
	report("sar: sign fill", r == 0xf8000000 && !(fo & X86_EFLAGS_CF));
	r = sar32(0xfffffff0, 31, FIXED, &fo);
	report("sar 31 of negative: -1", r == 0xffffffff && (fo & X86_EFLAGS_CF));
	r = rol32(0x80000001, 4, FIXED, &fo);
	report("rol: CF = new bit 0", r == 0x18 && !(fo & X86_EFLAGS_CF));
	r = rol32(0x10000000, 4, FIXED, &fo);
	report("rol into bit 0 sets CF", r == 1 && (fo & X86_EFLAGS_CF));
	r = ror32(0x1, 1, FIXED, &fo);
	report("ror 1: CF = msb, OF = msb ^ next",
	       r == 0x80000000 && (fo & X86_EFLAGS_CF) && (fo & X86_EFLAGS_OF));
	r = rcl32(0x80000000, 1, FIXED, &fo);
	report("rcl 1: CF out, 0 in", r == 0 && (fo & X86_EFLAGS_CF));
	r = rcl32(0x0, 1, FIXED | X86_EFLAGS_CF, &fo);
	report("rcl 1: CF in", r == 1 && !(fo & X86_EFLAGS_CF));
	r = rcr32(0x1, 1, FIXED | X86_EFLAGS_CF, &fo);
	report("rcr 1: CF in at msb, bit 0 out", r == 0x80000000 && (fo & X86_EFLAGS_CF));
	r = rcr32(0x12345678, 33, FIXED, &fo);
	report("rcr count masked to 5 bits (33 -> 1)", r == 0x091a2b3c && !(fo & X86_EFLAGS_CF));

	u32 d = 0x12345678, s = 0x9abcdef0;
	asm volatile("shldl $8, %1, %0" : "+r"(d) : "r"(s) : "cc");
	report("shld imm", d == 0x3456789a);
	d = 0x12345678;
	asm volatile("shrdl %%cl, %1, %0" : "+r"(d) : "r"(s), "c"(12) : "cc");
	report("shrd cl", d == 0xef012345);
	u16 w = 0x8001;
	asm volatile("rolw $1, %0" : "+r"(w) : : "cc");
	report("rol 16", w == 0x0003);
	u8 b = 0x81;
	asm volatile("sarb $1, %0" : "+q"(b) : : "cc");
	report("sar 8", b == 0xc0);
#ifdef __x86_64__
	u64 q = 1;
	asm volatile("shlq %%cl, %0" : "+r"(q) : "c"(63) : "cc");
	report("shl 64 by 63", q == 0x8000000000000000ull);
	q = 0x8000000000000000ull;
	asm volatile("sarq %%cl, %0" : "+r"(q) : "c"(64 + 4) : "cc");
	report("64-bit shift count masked to 6 bits", q == 0xf800000000000000ull);
	q = 0x0123456789abcdefull;
	asm volatile("rolq $16, %0" : "+r"(q) : : "cc");
	report("rol 64", q == 0x456789abcdef0123ull);
#endif
}

static void test_bits(void)
{
	u32 v = 0x00010000, r;
	ulong fo;

	asm volatile("btl $16, %1; pushf; pop %0" : "=r"(fo) : "r"(v) : "cc");
	report("bt: CF = bit", fo & X86_EFLAGS_CF);
	asm volatile("btsl $3, %0; pushf; pop %1" : "+r"(v), "=r"(fo) : : "cc");
	report("bts: sets, CF = old", v == 0x00010008 && !(fo & X86_EFLAGS_CF));
	asm volatile("btrl $16, %0; pushf; pop %1" : "+r"(v), "=r"(fo) : : "cc");
	report("btr: clears, CF = old", v == 0x8 && (fo & X86_EFLAGS_CF));
	asm volatile("btcl $35, %0; pushf; pop %1" : "+r"(v), "=r"(fo) : : "cc");
	report("btc imm masked to the operand size", v == 0 && (fo & X86_EFLAGS_CF));

	/* bt with a register offset on memory addresses beyond the operand */
	static u32 arr[4] = {0, 0, 0x100, 0};
	int off = 2 * 32 + 8;
	asm volatile("btl %1, %2; pushf; pop %0" : "=r"(fo) : "r"(off), "m"(arr[0]) : "cc");
	report("bt mem, reg: bit offset selects a later dword", fo & X86_EFLAGS_CF);
	off = -32 + 8; /* arr[-1]... use arr[2] as the base: bit -56 -> arr[0] bit 8: clear */
	asm volatile("btsl %0, %1" : : "r"(off), "m"(arr[1]) : "cc", "memory");
	report("bts mem, negative reg offset", arr[0] == 0x100);

	asm volatile("bsfl %2, %0; pushf; pop %1" : "=r"(r), "=r"(fo) : "r"(0x00f00000u) : "cc");
	report("bsf", r == 20 && !(fo & X86_EFLAGS_ZF));
	asm volatile("bsrl %1, %0" : "=r"(r) : "r"(0x00f00001) : "cc");
	report("bsr", r == 23);
	asm volatile("bsfl %2, %0; pushf; pop %1" : "=r"(r), "=r"(fo) : "r"(0u) : "cc");
	report("bsf of 0 sets ZF", fo & X86_EFLAGS_ZF);

	u32 c[4];
	cpuid2(1, 0, c);
	if (c[2] & (1u << 23)) {
		asm volatile("popcntl %1, %0" : "=r"(r) : "r"(0xf0f0f001u) : "cc");
		report("popcnt", r == 13);
	} else {
		report_skip("popcnt");
	}
	v = 0x11223344;
	asm volatile("bswap %0" : "+r"(v));
	report("bswap 32", v == 0x44332211);
#ifdef __x86_64__
	u64 q = 0x1122334455667788ull;
	asm volatile("bswap %0" : "+r"(q));
	report("bswap 64", q == 0x8877665544332211ull);
	u64 bq;
	asm volatile("bsrq %1, %0" : "=r"(bq) : "r"(0x8000000000000000ull) : "cc");
	report("bsr 64", bq == 63);
#endif
}

static void test_setcc_cmov(void)
{
	/* condition codes 0-15 over every combination of CF, ZF, SF, OF, PF */
	bool ok_set = true, ok_cmov = true, ok_jcc = true;

	for (unsigned m = 0; m < 32; m++) {
		ulong f = FIXED | ((m & 1) ? X86_EFLAGS_CF : 0) | ((m & 2) ? X86_EFLAGS_ZF : 0) |
			  ((m & 4) ? X86_EFLAGS_SF : 0) | ((m & 8) ? X86_EFLAGS_OF : 0) |
			  ((m & 16) ? X86_EFLAGS_PF : 0);
		bool cf = m & 1, zf = m & 2, sf = m & 4, of = m & 8, pf = m & 16;
		bool want[16] = {
		    of, !of, cf, !cf, zf,	!zf,	  cf || zf,	  !(cf || zf),
		    sf, !sf, pf, !pf, sf != of, sf == of, zf || sf != of, !(zf || sf != of)};
		u8 s[16];
		u32 cm[16];
		u32 jc = 0;

		asm volatile("push %[f]; popf\n\t"
			     "seto 0(%[s]); setno 1(%[s]); setb 2(%[s]); setae 3(%[s])\n\t"
			     "sete 4(%[s]); setne 5(%[s]); setbe 6(%[s]); seta 7(%[s])\n\t"
			     "sets 8(%[s]); setns 9(%[s]); setp 10(%[s]); setnp 11(%[s])\n\t"
			     "setl 12(%[s]); setge 13(%[s]); setle 14(%[s]); setg 15(%[s])"
			     :
			     : [f] "r"(f), [s] "r"(s)
			     : "memory", "cc");
#define CM(k, cc)                                                                                  \
	asm volatile("push %[f]; popf; movl $0, %[o]; cmov" cc "l %[one], %[o]"                    \
		     : [o] "=&r"(cm[k])                                                            \
		     : [f] "r"(f), [one] "r"(1u)                                                   \
		     : "cc")
		CM(0, "o");
		CM(1, "no");
		CM(2, "b");
		CM(3, "ae");
		CM(4, "e");
		CM(5, "ne");
		CM(6, "be");
		CM(7, "a");
		CM(8, "s");
		CM(9, "ns");
		CM(10, "p");
		CM(11, "np");
		CM(12, "l");
		CM(13, "ge");
		CM(14, "le");
		CM(15, "g");
#undef CM
#define JC(k, cc)                                                                                  \
	asm volatile("push %[f]; popf; j" cc " 1f; jmp 2f; 1: orl %[bit], %[o]; 2:"                \
		     : [o] "+r"(jc)                                                                \
		     : [f] "r"(f), [bit] "i"(1u << k)                                              \
		     : "cc")
		JC(0, "o");
		JC(1, "no");
		JC(2, "b");
		JC(3, "ae");
		JC(4, "e");
		JC(5, "ne");
		JC(6, "be");
		JC(7, "a");
		JC(8, "s");
		JC(9, "ns");
		JC(10, "p");
		JC(11, "np");
		JC(12, "l");
		JC(13, "ge");
		JC(14, "le");
		JC(15, "g");
#undef JC
		for (int k = 0; k < 16; k++) {
			if (s[k] != want[k])
				ok_set = false;
			if (cm[k] != want[k])
				ok_cmov = false;
			if (!!(jc & (1u << k)) != want[k])
				ok_jcc = false;
		}
	}
	report("setcc: all 16 conditions", ok_set);
	report("cmovcc: all 16 conditions", ok_cmov);
	report("jcc: all 16 conditions", ok_jcc);
}

static void test_xchg_cmpxchg(void)
{
	u32 m = 5, a = 9, r;
	ulong fo;

	asm volatile("xchgl %0, %1" : "+r"(a), "+m"(m));
	report("xchg reg, mem", a == 5 && m == 9);
	a = 10;
	asm volatile("lock xaddl %0, %1" : "+r"(a), "+m"(m) : : "cc");
	report("lock xadd", a == 9 && m == 19);
	m = 100;
	r = 100;
	asm volatile("lock cmpxchgl %3, %1; pushf; pop %2"
		     : "+a"(r), "+m"(m), "=r"(fo)
		     : "r"(7u)
		     : "cc");
	report("cmpxchg equal: stores, ZF", m == 7 && r == 100 && (fo & X86_EFLAGS_ZF));
	r = 3;
	asm volatile("lock cmpxchgl %3, %1; pushf; pop %2"
		     : "+a"(r), "+m"(m), "=r"(fo)
		     : "r"(8u)
		     : "cc");
	report("cmpxchg unequal: loads eax, ZF clear", m == 7 && r == 7 && !(fo & X86_EFLAGS_ZF));
	u64 m8 = 0x1111111122222222ull;
	u32 lo = 0x22222222, hi = 0x11111111;
	asm volatile("lock cmpxchg8b %0; pushf; pop %3"
		     : "+m"(m8), "+a"(lo), "+d"(hi), "=r"(fo)
		     : "b"(0x44444444u), "c"(0x33333333u)
		     : "cc");
	report("cmpxchg8b equal", m8 == 0x3333333344444444ull && (fo & X86_EFLAGS_ZF));
	asm volatile("lock cmpxchg8b %0; pushf; pop %3"
		     : "+m"(m8), "+a"(lo), "+d"(hi), "=r"(fo)
		     : "b"(0u), "c"(0u)
		     : "cc");
	report("cmpxchg8b unequal loads edx:eax",
	       lo == 0x44444444 && hi == 0x33333333 && !(fo & X86_EFLAGS_ZF));
	m = 1;
	asm volatile("lock addl $2, %0; lock orl $8, %0; lock andl $0xb, %0; lock subl $1, %0"
		     : "+m"(m)
		     :
		     : "cc");
	report("lock add/or/and/sub on memory", m == 10);
	m = 0;
	asm volatile("lock btsl $5, %0; lock incl %0; lock notl %0; lock negl %0"
		     : "+m"(m)
		     :
		     : "cc");
	report("lock bts/inc/not/neg", m == 34);
#ifdef __x86_64__
	u32 c[4];
	cpuid2(1, 0, c);
	if (c[2] & (1u << 13)) {
		static u64 m16[2] aligned(16) = {0x1, 0x2};
		u64 l = 1, h = 2;
		asm volatile("lock cmpxchg16b %0; pushf; pop %3"
			     : "+m"(m16), "+a"(l), "+d"(h), "=r"(fo)
			     : "b"(0xaaull), "c"(0xbbull)
			     : "cc");
		report("cmpxchg16b", m16[0] == 0xaa && m16[1] == 0xbb && (fo & X86_EFLAGS_ZF));
	} else {
		report_skip("cmpxchg16b");
	}
#endif
}

asm(".text\n"
    "ret_imm_target:\n\t"
#ifdef __x86_64__
    "mov 8(%rsp), %rax\n\t"
    "ret $8\n\t"
#else
    "mov 4(%esp), %eax\n\t"
    "ret $4\n\t"
#endif
);

static void test_stack_flow(void)
{
	ulong sp0, sp1, v, v1;

#ifdef __x86_64__
	asm volatile("mov %%rsp, %0; pushq $0x1234; pushq $-1; popq %1; mov %%rsp, %2; popq %3"
		     : "=&r"(sp0), "=&r"(v1), "=&r"(sp1), "=&r"(v)
		     :
		     : "memory");
	report("push imm sign-extends; push/pop move rsp by 8",
	       sp0 - sp1 == 8 && v == 0x1234 && v1 == ~0ul);
	asm volatile("pushq $0x5a; call ret_imm_target; mov %%rax, %0"
		     : "=r"(v)
		     :
		     : "rax", "memory");
#else
	asm volatile("mov %%esp, %0; pushl $0x1234; pushl $-1; popl %1; mov %%esp, %2; popl %3"
		     : "=&r"(sp0), "=&r"(v1), "=&r"(sp1), "=&r"(v)
		     :
		     : "memory");
	report("push imm sign-extends; push/pop move esp by 4",
	       sp0 - sp1 == 4 && v == 0x1234 && v1 == ~0ul);
	asm volatile("pushl $0x5a; call ret_imm_target; mov %%eax, %0"
		     : "=r"(v)
		     :
		     : "eax", "memory");
#endif
	report("call / ret imm16 pops the argument", v == 0x5a);

	/* enter with nesting level 0 and 1, then leave */
	ulong bp_in, bp_after, sp_a, sp_b;
#ifdef __x86_64__
	asm volatile(
	    "push %%rbp; mov %%rsp, %2; enter $32, $0; mov %%rbp, %0; mov %%rsp, %3; leave; "
	    "mov %%rsp, %1; pop %%rbp"
	    : "=&r"(bp_in), "=&r"(bp_after), "=&r"(sp_a), "=&r"(sp_b)
	    :
	    : "memory");
	report("enter 32, 0 / leave", bp_in == sp_a - 8 && sp_b == bp_in - 32 && bp_after == sp_a);
	asm volatile("push %%rbp; mov %%rsp, %2; mov %%rsp, %%rbp; enter $16, $1; mov %%rbp, %0; "
		     "mov %%rsp, %3; leave; pop %%rbp; mov %%rsp, %1"
		     : "=&r"(bp_in), "=&r"(bp_after), "=&r"(sp_a), "=&r"(sp_b)
		     :
		     : "memory");
	report("enter 16, 1 pushes the frame pointer twice",
	       bp_in == sp_a - 8 && sp_b == bp_in - 8 - 16 && bp_after == sp_a + 8);
#else
	asm volatile(
	    "push %%ebp; mov %%esp, %2; enter $32, $0; mov %%ebp, %0; mov %%esp, %3; leave; "
	    "mov %%esp, %1; pop %%ebp"
	    : "=&r"(bp_in), "=&r"(bp_after), "=&r"(sp_a), "=&r"(sp_b)
	    :
	    : "memory");
	report("enter 32, 0 / leave", bp_in == sp_a - 4 && sp_b == bp_in - 32 && bp_after == sp_a);
	asm volatile("push %%ebp; mov %%esp, %2; mov %%esp, %%ebp; enter $16, $1; mov %%ebp, %0; "
		     "mov %%esp, %3; leave; pop %%ebp; mov %%esp, %1"
		     : "=&r"(bp_in), "=&r"(bp_after), "=&r"(sp_a), "=&r"(sp_b)
		     :
		     : "memory");
	report("enter 16, 1 pushes the frame pointer twice",
	       bp_in == sp_a - 4 && sp_b == bp_in - 4 - 16 && bp_after == sp_a + 4);

	u32 regs[8];
	asm volatile("pushal; mov $1, %%eax; mov $2, %%ecx; pushal; mov %%esp, %%esi; "
		     "mov $8, %%ecx; mov %0, %%edi; cld; rep movsl; popal; popal"
		     :
		     : "r"(regs)
		     : "memory", "esi", "edi", "ecx", "eax");
	report("pushad order (eax at the top, edi at the bottom)", regs[7] == 1 && regs[6] == 2);
#endif

	u32 n = 0, count = 5;
	asm volatile("1: incl %0; loop 1b" : "+r"(n), "+c"(count) : : "cc");
	report("loop", n == 5 && count == 0);
	count = 10;
	n = 0;
	asm volatile("1: incl %0; cmpl $3, %0; loopne 1b" : "+r"(n), "+c"(count) : : "cc");
	report("loopne stops on ZF", n == 3 && count == 7);
	count = 0;
	n = 0;
	asm volatile("jecxz 1f; movl $1, %0; 1:" : "+r"(n) : "c"(count));
	report("jecxz", n == 0);
	ulong tgt;
	n = 0;
	asm volatile("lea 1f, %1; jmp *%1; movl $1, %0; 1:" : "+r"(n), "=&r"(tgt));
	report("indirect jmp", n == 0);
}

static void test_conversions(void)
{
	u32 r;
	int s;

	asm volatile("movzbl %1, %0" : "=r"(r) : "q"((u8)0x80));
	report("movzx", r == 0x80);
	asm volatile("movsbl %1, %0" : "=r"(s) : "q"((u8)0x80));
	report("movsx", s == -128);
	asm volatile("movswl %1, %0" : "=r"(s) : "r"((u16)0x8001));
	report("movsx 16", s == (int)0xffff8001);
	u32 a = 0xff80, d;
	asm volatile("cwtl" : "+a"(a));
	report("cwde", a == 0xffffff80);
	a = 0x80000000;
	asm volatile("cltd" : "+a"(a), "=d"(d));
	report("cdq", d == 0xffffffff);
	u16 ax = 0x0080;
	asm volatile("cbtw" : "+a"(ax));
	report("cbw", ax == 0xff80);
	static const u8 table[16] = {10, 11, 12, 13, 14, 15, 16, 17,
				     18, 19, 20, 21, 22, 23, 24, 25};
	u32 v = 0x1234ff05;
	asm volatile("xlat" : "+a"(v) : "b"(table));
	report("xlat", v == 0x1234ff0f);
	ulong fo;
	asm volatile("xor %%eax, %%eax; mov $0xd5, %%ah; sahf; pushf; pop %0"
		     : "=r"(fo)
		     :
		     : "eax", "cc");
	report("sahf loads SF ZF AF PF CF", (fo & 0xff) == 0xd7);
	u32 eax;
	asm volatile("push %1; popf; movl $0, %%eax; lahf" : "=a"(eax) : "r"(0x8d3ul) : "cc");
	report("lahf stores SF ZF AF PF CF in ah", ((eax >> 8) & 0xff) == 0xd3);
	u32 l;
	asm volatile("leal 0x10(%1,%2,4), %0" : "=r"(l) : "r"(0x1000), "r"(3));
	report("lea base + index*4 + disp", l == 0x101c);
#ifdef __x86_64__
	long q;
	asm volatile("movslq %1, %0" : "=r"(q) : "r"(-5));
	report("movsxd", q == -5);
	u64 rax = 0x8000000000000000ull, rdx;
	asm volatile("cqto" : "+a"(rax), "=d"(rdx));
	report("cqo", rdx == ~0ull);
	u64 z = ~0ull;
	asm volatile("movl $5, %k0" : "+r"(z));
	report("32-bit writes zero-extend into 64 bits", z == 5);
	z = ~0ull;
	asm volatile("movw $5, %w0" : "+r"(z));
	report("16-bit writes keep bits 63:16", z == 0xffffffffffff0005ull);
	z = ~0ull;
	asm volatile("addl $1, %k0" : "+r"(z) : : "cc");
	report("32-bit add zero-extends", z == 0);
	u64 r12v;
	asm volatile("mov $0x1122334455667788, %%r12; mov %%r12, %0" : "=r"(r12v) : : "r12");
	report("movabs and r12", r12v == 0x1122334455667788ull);
	u8 sil;
	asm volatile("mov $0x4142, %%esi; mov %%sil, %0" : "=r"(sil) : : "rsi");
	report("sil (REX byte register)", sil == 0x42);
	static const u32 rip_data = 0xfeedf00d;
	u32 rv;
	asm volatile("movl %P1(%%rip), %0" : "=r"(rv) : "i"(&rip_data));
	report("rip-relative load", rv == 0xfeedf00d);
#endif
}

static void test_bcd(void)
{
#ifndef __x86_64__
	u32 a = 0x0f;
	asm volatile("add $0x01, %%al; daa" : "+a"(a) : : "cc");
	report("daa", (a & 0xff) == 0x16);
	a = 0x10;
	asm volatile("sub $0x01, %%al; das" : "+a"(a) : : "cc");
	report("das", (a & 0xff) == 0x09);
	a = 0x0009;
	asm volatile("add $0x03, %%al; aaa" : "+a"(a) : : "cc");
	report("aaa", (a & 0xffff) == 0x0102);
	a = 0x0102;
	asm volatile("sub $0x03, %%al; aas" : "+a"(a) : : "cc");
	report("aas", (a & 0xffff) == 0x0009);
	a = 63;
	asm volatile("aam" : "+a"(a) : : "cc");
	report("aam", (a & 0xffff) == 0x0603);
	a = 0x0603;
	asm volatile("aad" : "+a"(a) : : "cc");
	report("aad", (a & 0xffff) == 63);
#endif
}

static void test_misc(void)
{
	u32 c[4];
	ulong f;

	cpuid2(0, 0, c);
	report("cpuid 0: a basic leaf >= 1 and a vendor", c[0] >= 1 && c[1] && c[2] && c[3]);
	cpuid2(1, 0, c);
	report("cpuid 1: TSC, MSR, CX8, CMOV", (c[3] & 0x8130) == 0x8130);
	u64 t0 = rdtsc(), t1 = rdtsc();
	report("rdtsc advances", t1 > t0);
	asm volatile("cmc; stc; cmc; pushf; pop %0" : "=r"(f) : : "cc");
	report("stc / cmc", !(f & X86_EFLAGS_CF));
	asm volatile("std; pushf; pop %0; cld" : "=r"(f));
	report("std sets DF", f & X86_EFLAGS_DF);
	/* EFLAGS.ID is writable where CPUID exists */
	ulong f1, f2;
	asm volatile("pushf; pop %0; mov %0, %1; xor $0x200000, %1; push %1; popf; pushf; pop %1; "
		     "push %0; popf"
		     : "=&r"(f1), "=&r"(f2)
		     :
		     : "cc");
	report("EFLAGS.ID toggles", (f1 ^ f2) & X86_EFLAGS_ID);
	/* multi-byte nops and pause */
	asm volatile(".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t"
		     ".byte 0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00\n\tpause\n\tnop");
	report("nopl / pause", true);
}

int main(void)
{
	test_addsub();
	test_logic();
	test_incdec_neg_not();
	test_muldiv();
	test_shifts();
	test_bits();
	test_setcc_cmov();
	test_xchg_cmpxchg();
	test_stack_flow();
	test_conversions();
	test_bcd();
	test_misc();
	report_summary();
}
