/* SPDX-License-Identifier: MIT */
/*
 * Jcc fused with the instruction that set the flags. When block decoding
 * sees a Jcc whose flags come from a known producer earlier in the block
 * (CMP/SUB/NEG, TEST/AND/OR/XOR, ADD, INC/DEC, with only flag-neutral
 * instructions between), the condition is evaluated straight from the lazy
 * operands for that operation and size, with no dispatch on cc_op.
 */
#include "ops.h"

#define SZMASK(sl)  ((sl) == 3 ? ~0ull : (1ull << (8u << (sl))) - 1)
#define MSB(v, sl)  (((v) >> ((8u << (sl)) - 1)) & 1)
#define SEXT(v, sl) ((int64_t)((v) << (64 - (8u << (sl)))) >> (64 - (8u << (sl))))

static inline bool parity(uint64_t res)
{
	return !__builtin_parity((unsigned)(res & 0xff));
}

/* condition cc (opcode low nibble) after SUB/CMP of size 1 << sl */
static inline __attribute__((always_inline)) bool cond_sub(const struct cpu *c, unsigned sl,
							   unsigned cc)
{
	uint64_t a = c->cc_aux & SZMASK(sl), b = c->cc_src & SZMASK(sl), r = c->cc_res & SZMASK(sl);
	bool v;
	switch (cc >> 1) {
	case 0:
		v = MSB((a ^ b) & (a ^ r), sl);
		break;
	case 1:
		v = a < b;
		break;
	case 2:
		v = r == 0;
		break;
	case 3:
		v = a <= b;
		break;
	case 4:
		v = MSB(r, sl);
		break;
	case 5:
		v = parity(r);
		break;
	case 6:
		v = SEXT(a, sl) < SEXT(b, sl);
		break;
	default:
		v = SEXT(a, sl) <= SEXT(b, sl);
		break;
	}
	return v ^ (cc & 1);
}

/* after AND/OR/XOR/TEST: CF = OF = 0 */
static inline __attribute__((always_inline)) bool cond_logic(const struct cpu *c, unsigned sl,
							     unsigned cc)
{
	uint64_t r = c->cc_res & SZMASK(sl);
	bool v;
	switch (cc >> 1) {
	case 0:
		v = false;
		break;
	case 1:
		v = false;
		break;
	case 2:
		v = r == 0;
		break;
	case 3:
		v = r == 0;
		break;
	case 4:
		v = MSB(r, sl);
		break;
	case 5:
		v = parity(r);
		break;
	case 6:
		v = MSB(r, sl);
		break;
	default:
		v = r == 0 || MSB(r, sl);
		break;
	}
	return v ^ (cc & 1);
}

/* after ADD */
static inline __attribute__((always_inline)) bool cond_add(const struct cpu *c, unsigned sl,
							   unsigned cc)
{
	uint64_t a = c->cc_aux & SZMASK(sl), b = c->cc_src & SZMASK(sl), r = c->cc_res & SZMASK(sl);
	bool cf = r < a, zf = r == 0, sf = MSB(r, sl), of = MSB((a ^ r) & (b ^ r), sl);
	bool v;
	switch (cc >> 1) {
	case 0:
		v = of;
		break;
	case 1:
		v = cf;
		break;
	case 2:
		v = zf;
		break;
	case 3:
		v = cf || zf;
		break;
	case 4:
		v = sf;
		break;
	case 5:
		v = parity(r);
		break;
	case 6:
		v = sf != of;
		break;
	default:
		v = zf || sf != of;
		break;
	}
	return v ^ (cc & 1);
}

/* after INC/DEC: CF is the preserved one (cc_src), OF from the result */
static inline __attribute__((always_inline)) bool cond_incdec(const struct cpu *c, unsigned sl,
							      unsigned cc, bool dec)
{
	uint64_t r = c->cc_res & SZMASK(sl);
	uint64_t min = 1ull << ((8u << sl) - 1);
	bool cf = c->cc_src & 1, zf = r == 0, sf = MSB(r, sl), of = dec ? r == min - 1 : r == min;
	bool v;
	switch (cc >> 1) {
	case 0:
		v = of;
		break;
	case 1:
		v = cf;
		break;
	case 2:
		v = zf;
		break;
	case 3:
		v = cf || zf;
		break;
	case 4:
		v = sf;
		break;
	case 5:
		v = parity(r);
		break;
	case 6:
		v = sf != of;
		break;
	default:
		v = zf || sf != of;
		break;
	}
	return v ^ (cc & 1);
}

#define JCC_BODY(test)                                                                             \
	{                                                                                          \
		if (test)                                                                          \
			branch_to(c, RIP(c) + i->len + i->imm, i->osz);                            \
		else                                                                               \
			RIP(c) += i->len;                                                          \
		return chain_next(c);                                                              \
	}

#define GEN_ONE(kind, sl, cc, expr)                                                                \
	static const struct insn *jcc_##kind##_##sl##_##cc(struct cpu *c, const struct insn *i)    \
	    JCC_BODY(expr)

#define GEN_CONDS(kind, sl, EXPR)                                                                  \
	GEN_ONE(kind, sl, 0, EXPR(0))                                                              \
	GEN_ONE(kind, sl, 1, EXPR(1))                                                              \
	GEN_ONE(kind, sl, 2, EXPR(2)) GEN_ONE(kind, sl, 3, EXPR(3)) GEN_ONE(kind, sl, 4, EXPR(4))  \
	    GEN_ONE(kind, sl, 5, EXPR(5)) GEN_ONE(kind, sl, 6, EXPR(6))                            \
		GEN_ONE(kind, sl, 7, EXPR(7)) GEN_ONE(kind, sl, 8, EXPR(8))                        \
		    GEN_ONE(kind, sl, 9, EXPR(9)) GEN_ONE(kind, sl, 10, EXPR(10))                  \
			GEN_ONE(kind, sl, 11, EXPR(11)) GEN_ONE(kind, sl, 12, EXPR(12))            \
			    GEN_ONE(kind, sl, 13, EXPR(13)) GEN_ONE(kind, sl, 14, EXPR(14))        \
				GEN_ONE(kind, sl, 15, EXPR(15))

#define TAB(kind, sl)                                                                              \
	{                                                                                          \
		jcc_##kind##_##sl##_0, jcc_##kind##_##sl##_1, jcc_##kind##_##sl##_2,               \
		    jcc_##kind##_##sl##_3, jcc_##kind##_##sl##_4, jcc_##kind##_##sl##_5,           \
		    jcc_##kind##_##sl##_6, jcc_##kind##_##sl##_7, jcc_##kind##_##sl##_8,           \
		    jcc_##kind##_##sl##_9, jcc_##kind##_##sl##_10, jcc_##kind##_##sl##_11,         \
		    jcc_##kind##_##sl##_12, jcc_##kind##_##sl##_13, jcc_##kind##_##sl##_14,        \
		    jcc_##kind##_##sl##_15                                                         \
	}

#define GEN_KIND(kind, F)                                                                          \
	GEN_CONDS(kind, 0, F##0)                                                                   \
	GEN_CONDS(kind, 1, F##1)                                                                   \
	GEN_CONDS(kind, 2, F##2)                                                                   \
	    GEN_CONDS(kind, 3, F##3) static const insn_fn kind##_tab[4][16] = {                    \
		TAB(kind, 0), TAB(kind, 1), TAB(kind, 2), TAB(kind, 3)};

#define SUB0(cc) cond_sub(c, 0, cc)
#define SUB1(cc) cond_sub(c, 1, cc)
#define SUB2(cc) cond_sub(c, 2, cc)
#define SUB3(cc) cond_sub(c, 3, cc)
#define LOG0(cc) cond_logic(c, 0, cc)
#define LOG1(cc) cond_logic(c, 1, cc)
#define LOG2(cc) cond_logic(c, 2, cc)
#define LOG3(cc) cond_logic(c, 3, cc)
#define ADD0(cc) cond_add(c, 0, cc)
#define ADD1(cc) cond_add(c, 1, cc)
#define ADD2(cc) cond_add(c, 2, cc)
#define ADD3(cc) cond_add(c, 3, cc)
#define INC0(cc) cond_incdec(c, 0, cc, false)
#define INC1(cc) cond_incdec(c, 1, cc, false)
#define INC2(cc) cond_incdec(c, 2, cc, false)
#define INC3(cc) cond_incdec(c, 3, cc, false)
#define DEC0(cc) cond_incdec(c, 0, cc, true)
#define DEC1(cc) cond_incdec(c, 1, cc, true)
#define DEC2(cc) cond_incdec(c, 2, cc, true)
#define DEC3(cc) cond_incdec(c, 3, cc, true)

GEN_KIND(sub, SUB)
GEN_KIND(logic, LOG)
GEN_KIND(add, ADD)
GEN_KIND(inc, INC)
GEN_KIND(dec, DEC)

insn_fn jcc_fused(unsigned ccop, unsigned cond)
{
	unsigned sl = CC_SZLOG(ccop);
	cond &= 15;
	switch (CC_KIND(ccop)) {
	case CC_SUB:
		return sub_tab[sl][cond];
	case CC_LOGIC:
		return logic_tab[sl][cond];
	case CC_ADD:
		return add_tab[sl][cond];
	case CC_INC:
		return inc_tab[sl][cond];
	case CC_DEC:
		return dec_tab[sl][cond];
	default:
		return NULL;
	}
}
