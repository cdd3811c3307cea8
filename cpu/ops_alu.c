/* SPDX-License-Identifier: MIT */
/*
 * Two-operand integer ALU (ADD OR ADC SBB AND SUB XOR CMP TEST) and the
 * one-operand group (INC DEC NEG NOT). Each operation, operand size and
 * operand form gets its own handler, generated below, so the hot path has
 * no operand-kind dispatch. LOCK forms use host atomics on guest memory.
 */
#include "decode.h"
#include "ops.h"
#include "jit/jit.h"

enum { A_ADD, A_OR, A_ADC, A_SBB, A_AND, A_SUB, A_XOR, A_CMP, A_TEST };

/* compute op on a, b (size 1<<sl), set the lazy flags, return the result */
static inline __attribute__((always_inline)) uint64_t alu(struct cpu *c, int op, unsigned sl,
							  uint64_t a, uint64_t b, uint64_t cin)
{
	uint64_t r;
	switch (op) {
	case A_ADD:
		r = a + b;
		c->cc_op = CC_OP(CC_ADD, sl);
		break;
	case A_ADC:
		r = a + b + cin;
		c->cc_op = CC_OP(cin ? CC_ADC : CC_ADD, sl);
		break;
	case A_SUB:
	case A_CMP:
		r = a - b;
		c->cc_op = CC_OP(CC_SUB, sl);
		break;
	case A_SBB:
		r = a - b - cin;
		c->cc_op = CC_OP(cin ? CC_SBB : CC_SUB, sl);
		break;
	case A_OR:
		r = a | b;
		c->cc_op = CC_OP(CC_LOGIC, sl);
		break;
	case A_XOR:
		r = a ^ b;
		c->cc_op = CC_OP(CC_LOGIC, sl);
		break;
	default: /* AND, TEST */
		r = a & b;
		c->cc_op = CC_OP(CC_LOGIC, sl);
		break;
	}
	c->cc_res = r;
	c->cc_aux = a;
	c->cc_src = b;
	return r;
}

static inline bool writes_back(int op)
{
	return op != A_CMP && op != A_TEST;
}

static inline uint64_t carry_in(struct cpu *c, int op)
{
	return (op == A_ADC || op == A_SBB) ? cc_cf(c) : 0;
}

/* atomic read-modify-write on host memory; returns the old value */
static inline __attribute__((always_inline)) uint64_t atomic_rmw(void *p, int op, unsigned size,
								 uint64_t b, uint64_t cin)
{
#define CASLOOP(T)                                                                                 \
	do {                                                                                       \
		T old = __atomic_load_n((T *)p, __ATOMIC_RELAXED), nv;                             \
		do {                                                                               \
			switch (op) {                                                              \
			case A_ADD:                                                                \
				nv = (T)(old + (T)b);                                              \
				break;                                                             \
			case A_ADC:                                                                \
				nv = (T)(old + (T)b + (T)cin);                                     \
				break;                                                             \
			case A_SUB:                                                                \
				nv = (T)(old - (T)b);                                              \
				break;                                                             \
			case A_SBB:                                                                \
				nv = (T)(old - (T)b - (T)cin);                                     \
				break;                                                             \
			case A_OR:                                                                 \
				nv = (T)(old | (T)b);                                              \
				break;                                                             \
			case A_XOR:                                                                \
				nv = (T)(old ^ (T)b);                                              \
				break;                                                             \
			default:                                                                   \
				nv = (T)(old & (T)b);                                              \
				break;                                                             \
			}                                                                          \
		} while (!__atomic_compare_exchange_n((T *)p, &old, nv, true, __ATOMIC_SEQ_CST,    \
						      __ATOMIC_RELAXED));                          \
		return old;                                                                        \
	} while (0)
	switch (size) {
	case 1:
		CASLOOP(uint8_t);
	case 2:
		CASLOOP(uint16_t);
	case 4:
		CASLOOP(uint32_t);
	default:
		CASLOOP(uint64_t);
	}
#undef CASLOOP
}

/* memory destination: read-modify-write through the write TLB when possible */
static inline __attribute__((always_inline)) void
alu_mem(struct cpu *c, const struct insn *i, int op, unsigned size, uint64_t b, bool locked)
{
	unsigned sl = szlog(size);
	uint64_t cin = carry_in(c, op);

	if (!writes_back(op)) {
		uint64_t la = insn_la(c, i, size, ACC_R);
		alu(c, op, sl, mem_read(c, la, size), b, cin);
		return;
	}
	uint64_t la = insn_la(c, i, size, ACC_W);
	if (locked) {
		void *p = mem_rmw_ptr(c, la, size);
		if (likely(p != NULL)) {
			uint64_t old = atomic_rmw(p, op, size, b, cin);
			alu(c, op, sl, old, b, cin);
			return;
		}
	} else {
		const struct tlb_entry *e = &c->tlb->w[TLB_INDEX(la)];
		if (likely(tlb_hit(e, la, size))) {
			void *p = (void *)(e->addend + la);
			st_n(p, size, alu(c, op, sl, ld_n(p, size), b, cin));
			return;
		}
	}
	/* slow path (TLB miss, MMIO, split lock): the write is checked first */
	mem_probe_write(c, la, size);
	uint64_t a = mem_read(c, la, size);
	mem_write(c, la, size, alu(c, op, sl, a, b, cin));
}

#define GEN_SIZE(name, op, size)                                                                   \
	static const struct insn *op_##name##_rr##size(struct cpu *c, const struct insn *i)        \
	{                                                                                          \
		uint64_t r = alu(c, op, szlog(size), reg_get(c, i->r1, size),                      \
				 reg_get(c, i->r2, size), carry_in(c, op));                        \
		if (writes_back(op))                                                               \
			reg_set(c, i->r1, size, r);                                                \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_ri##size(struct cpu *c, const struct insn *i)        \
	{                                                                                          \
		uint64_t r =                                                                       \
		    alu(c, op, szlog(size), reg_get(c, i->r1, size), i->imm, carry_in(c, op));     \
		if (writes_back(op))                                                               \
			reg_set(c, i->r1, size, r);                                                \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static __attribute__((noinline, cold))                                                     \
	const struct insn *op_##name##_rm##size##_slow(struct cpu *c, const struct insn *i)        \
	{                                                                                          \
		uint64_t b = mem_read(c, insn_la(c, i, size, ACC_R), size);                        \
		uint64_t r = alu(c, op, szlog(size), reg_get(c, i->r1, size), b, carry_in(c, op)); \
		if (writes_back(op))                                                               \
			reg_set(c, i->r1, size, r);                                                \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_rm##size(struct cpu *c, const struct insn *i)        \
	{                                                                                          \
		uint64_t b;                                                                        \
		FAST_LOAD(c, i, size, b, op_##name##_rm##size##_slow);                             \
		uint64_t r = alu(c, op, szlog(size), reg_get(c, i->r1, size), b, carry_in(c, op)); \
		if (writes_back(op))                                                               \
			reg_set(c, i->r1, size, r);                                                \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static __attribute__((noinline, cold))                                                     \
	const struct insn *op_##name##_mr##size##_slow(struct cpu *c, const struct insn *i)        \
	{                                                                                          \
		alu_mem(c, i, op, size, reg_get(c, i->r2, size), false);                           \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_mr##size(struct cpu *c, const struct insn *i)        \
	{                                                                                          \
		if (!writes_back(op)) {                                                            \
			uint64_t a;                                                                \
			FAST_LOAD(c, i, size, a, op_##name##_mr##size##_slow);                     \
			alu(c, op, szlog(size), a, reg_get(c, i->r2, size), carry_in(c, op));      \
			NEXT(c, i);                                                                \
		}                                                                                  \
		void *p;                                                                           \
		FAST_RMW(c, i, size, p, op_##name##_mr##size##_slow);                              \
		st_n(p, size,                                                                      \
		     alu(c, op, szlog(size), ld_n(p, size), reg_get(c, i->r2, size),               \
			 carry_in(c, op)));                                                        \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static __attribute__((noinline, cold))                                                     \
	const struct insn *op_##name##_mi##size##_slow(struct cpu *c, const struct insn *i)        \
	{                                                                                          \
		alu_mem(c, i, op, size, i->imm, false);                                            \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_mi##size(struct cpu *c, const struct insn *i)        \
	{                                                                                          \
		if (!writes_back(op)) {                                                            \
			uint64_t a;                                                                \
			FAST_LOAD(c, i, size, a, op_##name##_mi##size##_slow);                     \
			alu(c, op, szlog(size), a, i->imm, carry_in(c, op));                       \
			NEXT(c, i);                                                                \
		}                                                                                  \
		void *p;                                                                           \
		FAST_RMW(c, i, size, p, op_##name##_mi##size##_slow);                              \
		st_n(p, size, alu(c, op, szlog(size), ld_n(p, size), i->imm, carry_in(c, op)));    \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_lmr##size(struct cpu *c, const struct insn *i)       \
	{                                                                                          \
		alu_mem(c, i, op, size, reg_get(c, i->r2, size), true);                            \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_lmi##size(struct cpu *c, const struct insn *i)       \
	{                                                                                          \
		alu_mem(c, i, op, size, i->imm, true);                                             \
		NEXT(c, i);                                                                        \
	}

#define GEN_OP(name, op)                                                                           \
	GEN_SIZE(name, op, 1)                                                                      \
	GEN_SIZE(name, op, 2)                                                                      \
	GEN_SIZE(name, op, 4)                                                                      \
	GEN_SIZE(name, op, 8)                                                                      \
	static const insn_fn name##_tab[7][4] = {                                                  \
	    {op_##name##_rr1, op_##name##_rr2, op_##name##_rr4, op_##name##_rr8},                  \
	    {op_##name##_ri1, op_##name##_ri2, op_##name##_ri4, op_##name##_ri8},                  \
	    {op_##name##_rm1, op_##name##_rm2, op_##name##_rm4, op_##name##_rm8},                  \
	    {op_##name##_mr1, op_##name##_mr2, op_##name##_mr4, op_##name##_mr8},                  \
	    {op_##name##_mi1, op_##name##_mi2, op_##name##_mi4, op_##name##_mi8},                  \
	    {op_##name##_lmr1, op_##name##_lmr2, op_##name##_lmr4, op_##name##_lmr8},              \
	    {op_##name##_lmi1, op_##name##_lmi2, op_##name##_lmi4, op_##name##_lmi8},              \
	};

GEN_OP(add, A_ADD)
GEN_OP(or, A_OR)
GEN_OP(adc, A_ADC)
GEN_OP(sbb, A_SBB)
GEN_OP(and, A_AND)
GEN_OP(sub, A_SUB)
GEN_OP(xor, A_XOR)
GEN_OP(cmp, A_CMP)
GEN_OP(test, A_TEST)

enum { F_RR, F_RI, F_RM, F_MR, F_MI, F_LMR, F_LMI };

/* xor r, r / sub r, r: zeroing idiom with known flags */
static const struct insn *op_zero_idiom(struct cpu *c, const struct insn *i)
{
	reg_set(c, i->r1, i->osz, 0);
	/* the flags of a zero result: identical for SUB and XOR (CF=OF=AF=0) */
	c->cc_op = CC_OP(CC_LOGIC, szlog(i->osz));
	c->cc_res = 0;
	c->cc_aux = 0;
	c->cc_src = 0;
	NEXT(c, i);
}

static bool decode_alu2(struct dctx *d, struct insn *i, const insn_fn tab[7][4], bool commutes)
{
	const ZydisDecodedOperand *o0 = &d->op[0], *o1 = &d->op[1];
	unsigned size, sz2;
	int form, r;

	if (dop_is_reg(o0)) {
		r = dreg(o0->reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
		if (dop_is_reg(o1)) {
			r = dreg(o1->reg.value, &sz2);
			if (r < 0)
				return false;
			i->r2 = (uint8_t)r;
			form = F_RR;
		} else if (dop_is_imm(o1)) {
			i->imm = o1->imm.value.u & size_mask(size);
			form = F_RI;
		} else {
			if (!dmem(d, o1, i))
				return false;
			form = F_RM;
		}
	} else {
		if (!dmem(d, o0, i))
			return false;
		size = o0->size / 8;
		if (dop_is_reg(o1)) {
			r = dreg(o1->reg.value, &sz2);
			if (r < 0)
				return false;
			i->r2 = (uint8_t)r;
			form = (i->flags & INSN_LOCK) ? F_LMR : F_MR;
		} else {
			i->imm = o1->imm.value.u & size_mask(size);
			form = (i->flags & INSN_LOCK) ? F_LMI : F_MI;
		}
	}
	(void)commutes;
	i->osz = (uint8_t)size;
	i->fn = tab[form][szlog(size)];
	return true;
}

/* the cc_op each decoded form always leaves, for Jcc fusion (ADC/SBB vary: none) */
static bool decode_alu2_cc(struct dctx *d, struct insn *i, const insn_fn tab[7][4], int kind)
{
	if (!decode_alu2(d, i, tab, false))
		return false;
	if (kind >= 0)
		i->ccout = CCOUT(kind, szlog(i->osz));
	return true;
}

#define DEC2(name, kind)                                                                           \
	static bool decode_##name(struct dctx *d, struct insn *i)                                  \
	{                                                                                          \
		return decode_alu2_cc(d, i, name##_tab, kind);                                     \
	}
DEC2(add, CC_ADD)
DEC2(or, CC_LOGIC)
DEC2(adc, -1)
DEC2(sbb, -1)
DEC2(and, CC_LOGIC)
DEC2(cmp, CC_SUB)
DEC2(test, CC_LOGIC)

static bool decode_sub(struct dctx *d, struct insn *i)
{
	if (!decode_alu2_cc(d, i, sub_tab, CC_SUB))
		return false;
	if (i->fn == sub_tab[F_RR][szlog(i->osz)] && i->r1 == i->r2 && i->osz != 1)
		i->fn = op_zero_idiom, i->ccout = CCOUT(CC_LOGIC, szlog(i->osz));
	return true;
}

static bool decode_xor(struct dctx *d, struct insn *i)
{
	if (!decode_alu2_cc(d, i, xor_tab, CC_LOGIC))
		return false;
	if (i->fn == xor_tab[F_RR][szlog(i->osz)] && i->r1 == i->r2 && i->osz != 1)
		i->fn = op_zero_idiom, i->ccout = CCOUT(CC_LOGIC, szlog(i->osz));
	return true;
}

/* ---- INC DEC NEG NOT ---- */

enum { U_INC, U_DEC, U_NEG, U_NOT };

static inline __attribute__((always_inline)) uint64_t unop(struct cpu *c, int op, unsigned sl,
							   uint64_t a, uint64_t oldcf)
{
	uint64_t r;
	switch (op) {
	case U_INC:
		r = a + 1;
		c->cc_op = CC_OP(CC_INC, sl);
		c->cc_aux = a;
		c->cc_src = oldcf;
		c->cc_res = r;
		break;
	case U_DEC:
		r = a - 1;
		c->cc_op = CC_OP(CC_DEC, sl);
		c->cc_aux = a;
		c->cc_src = oldcf;
		c->cc_res = r;
		break;
	case U_NEG:
		r = 0 - a;
		c->cc_op = CC_OP(CC_SUB, sl);
		c->cc_aux = 0;
		c->cc_src = a;
		c->cc_res = r;
		break;
	default:
		r = ~a; /* NOT: no flags */
		break;
	}
	return r;
}

static inline uint64_t old_cf(struct cpu *c, int op)
{
	return (op == U_INC || op == U_DEC) ? cc_cf(c) : 0;
}

static inline __attribute__((always_inline)) void unop_mem(struct cpu *c, const struct insn *i,
							   int op, unsigned size, bool locked)
{
	unsigned sl = szlog(size);
	uint64_t la = insn_la(c, i, size, ACC_W), cf = old_cf(c, op);

	if (locked) {
		void *p = mem_rmw_ptr(c, la, size);
		if (likely(p != NULL)) {
			uint64_t old;
#define UCAS(T)                                                                                    \
	do {                                                                                       \
		T o = __atomic_load_n((T *)p, __ATOMIC_RELAXED), nv;                               \
		do                                                                                 \
			nv = (T)(op == U_INC   ? o + 1                                             \
				 : op == U_DEC ? o - 1                                             \
				 : op == U_NEG ? 0 - o                                             \
					       : ~o);                                              \
		while (!__atomic_compare_exchange_n((T *)p, &o, nv, true, __ATOMIC_SEQ_CST,        \
						    __ATOMIC_RELAXED));                            \
		old = o;                                                                           \
	} while (0)
			switch (size) {
			case 1:
				UCAS(uint8_t);
				break;
			case 2:
				UCAS(uint16_t);
				break;
			case 4:
				UCAS(uint32_t);
				break;
			default:
				UCAS(uint64_t);
				break;
			}
#undef UCAS
			unop(c, op, sl, old, cf);
			return;
		}
	} else {
		const struct tlb_entry *e = &c->tlb->w[TLB_INDEX(la)];
		if (likely(tlb_hit(e, la, size))) {
			void *p = (void *)(e->addend + la);
			st_n(p, size, unop(c, op, sl, ld_n(p, size), cf));
			return;
		}
	}
	mem_probe_write(c, la, size);
	uint64_t a = mem_read(c, la, size);
	mem_write(c, la, size, unop(c, op, sl, a, cf));
}

#define GEN_U(name, opk, size)                                                                     \
	static const struct insn *op_##name##_r##size(struct cpu *c, const struct insn *i)         \
	{                                                                                          \
		reg_set(c, i->r1, size,                                                            \
			unop(c, opk, szlog(size), reg_get(c, i->r1, size), old_cf(c, opk)));       \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_m##size(struct cpu *c, const struct insn *i)         \
	{                                                                                          \
		unop_mem(c, i, opk, size, false);                                                  \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_lm##size(struct cpu *c, const struct insn *i)        \
	{                                                                                          \
		unop_mem(c, i, opk, size, true);                                                   \
		NEXT(c, i);                                                                        \
	}
#define GEN_UOP(name, opk)                                                                         \
	GEN_U(name, opk, 1)                                                                        \
	GEN_U(name, opk, 2)                                                                        \
	GEN_U(name, opk, 4)                                                                        \
	GEN_U(name, opk, 8)                                                                        \
	static const insn_fn name##_tab[3][4] = {                                                  \
	    {op_##name##_r1, op_##name##_r2, op_##name##_r4, op_##name##_r8},                      \
	    {op_##name##_m1, op_##name##_m2, op_##name##_m4, op_##name##_m8},                      \
	    {op_##name##_lm1, op_##name##_lm2, op_##name##_lm4, op_##name##_lm8},                  \
	};                                                                                         \
	static bool decode_##name(struct dctx *d, struct insn *i)                                  \
	{                                                                                          \
		const ZydisDecodedOperand *o = &d->op[0];                                          \
		unsigned size;                                                                     \
		int form;                                                                          \
		if (dop_is_reg(o)) {                                                               \
			int r = dreg(o->reg.value, &size);                                         \
			if (r < 0)                                                                 \
				return false;                                                      \
			i->r1 = (uint8_t)r;                                                        \
			form = 0;                                                                  \
		} else {                                                                           \
			if (!dmem(d, o, i))                                                        \
				return false;                                                      \
			size = o->size / 8;                                                        \
			form = (i->flags & INSN_LOCK) ? 2 : 1;                                     \
		}                                                                                  \
		i->osz = (uint8_t)size;                                                            \
		i->fn = name##_tab[form][szlog(size)];                                             \
		i->ccout = opk == U_INC	  ? CCOUT(CC_INC, szlog(size))                             \
			   : opk == U_DEC ? CCOUT(CC_DEC, szlog(size))                             \
			   : opk == U_NEG ? CCOUT(CC_SUB, szlog(size))                             \
					  : 0;                                                     \
		return true;                                                                       \
	}

GEN_UOP(inc, U_INC)
GEN_UOP(dec, U_DEC)
GEN_UOP(neg, U_NEG)
GEN_UOP(not, U_NOT)

void ops_alu_register(void)
{
	decode_register(ZYDIS_MNEMONIC_ADD, decode_add);
	decode_register(ZYDIS_MNEMONIC_OR, decode_or);
	decode_register(ZYDIS_MNEMONIC_ADC, decode_adc);
	decode_register(ZYDIS_MNEMONIC_SBB, decode_sbb);
	decode_register(ZYDIS_MNEMONIC_AND, decode_and);
	decode_register(ZYDIS_MNEMONIC_SUB, decode_sub);
	decode_register(ZYDIS_MNEMONIC_XOR, decode_xor);
	decode_register(ZYDIS_MNEMONIC_CMP, decode_cmp);
	decode_register(ZYDIS_MNEMONIC_TEST, decode_test);
	decode_register(ZYDIS_MNEMONIC_INC, decode_inc);
	decode_register(ZYDIS_MNEMONIC_DEC, decode_dec);
	decode_register(ZYDIS_MNEMONIC_NEG, decode_neg);
	decode_register(ZYDIS_MNEMONIC_NOT, decode_not);
	/* what the JIT can emit inline (cpu/jit/) */
	static const unsigned alu_kinds[5] = {JK_ALU_RR, JK_ALU_RI, JK_ALU_RM, JK_ALU_MR,
					      JK_ALU_MI};
	const insn_fn(*const tabs[9])[4] = {add_tab, or_tab,  adc_tab, sbb_tab, and_tab,
					    sub_tab, xor_tab, cmp_tab, test_tab};
	for (unsigned op = 0; op < 9; op++)
		for (unsigned f = 0; f < 5; f++)
			for (unsigned l = 0; l < 4; l++)
				jit_describe(tabs[op][f][l], alu_kinds[f], op, 1u << l);
	jit_describe(op_zero_idiom, JK_ZERO, 0, 0);
	const insn_fn(*const utabs[4])[4] = {inc_tab, dec_tab, neg_tab, not_tab};
	for (unsigned op = 0; op < 4; op++)
		for (unsigned l = 0; l < 4; l++)
			jit_describe(utabs[op][0][l], JK_UNARY_R, op, 1u << l),
			    jit_describe(utabs[op][1][l], JK_UNARY_M, op, 1u << l);
}
