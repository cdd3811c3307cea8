/* SPDX-License-Identifier: MIT */
/*
 * MUL, IMUL (one-, two- and three-operand forms), DIV, IDIV, MULX.
 * SDM vol. 2A/2B. MUL/IMUL set CF = OF = "the high half is significant";
 * SF ZF AF PF are undefined (computed from the low half here). DIV/IDIV
 * raise #DE for a zero divisor or a quotient that does not fit, before any
 * state changes; their flags are undefined and left unchanged here.
 */
#include "decode.h"
#include "ops_int.h"
#include "jit/jit.h"

typedef unsigned __int128 u128;
typedef __int128 s128;

enum { M_MUL, M_IMUL, M_DIV, M_IDIV };

static ALWAYS_INLINE void mul_core(struct cpu *c, unsigned size, uint64_t s)
{
	uint64_t *g = c->gpr;
	bool cf;

	switch (size) {
	case 1: {
		uint64_t p = (g[REG_RAX] & 0xff) * s;
		reg_set(c, REG_RAX, 2, p);
		cf = p >> 8;
		cc_set_resco(c, 1, p, cf, cf);
		break;
	}
	case 2: {
		uint64_t p = (g[REG_RAX] & 0xffff) * s;
		reg_set(c, REG_RAX, 2, p);
		reg_set(c, REG_RDX, 2, p >> 16);
		cf = p >> 16;
		cc_set_resco(c, 2, p, cf, cf);
		break;
	}
	case 4: {
		uint64_t p = (g[REG_RAX] & 0xffffffffull) * s;
		g[REG_RAX] = (uint32_t)p;
		g[REG_RDX] = p >> 32;
		cf = p >> 32;
		cc_set_resco(c, 4, p, cf, cf);
		break;
	}
	default: {
		u128 p = (u128)g[REG_RAX] * s;
		g[REG_RAX] = (uint64_t)p;
		g[REG_RDX] = (uint64_t)(p >> 64);
		cf = (p >> 64) != 0;
		cc_set_resco(c, 8, (uint64_t)p, cf, cf);
		break;
	}
	}
}

static ALWAYS_INLINE void imul1_core(struct cpu *c, unsigned size, uint64_t s)
{
	uint64_t *g = c->gpr;
	bool cf;

	switch (size) {
	case 1: {
		int64_t p = (int64_t)(int8_t)g[REG_RAX] * (int8_t)s;
		reg_set(c, REG_RAX, 2, (uint64_t)p);
		cf = p != (int8_t)p;
		cc_set_resco(c, 1, (uint64_t)p, cf, cf);
		break;
	}
	case 2: {
		int64_t p = (int64_t)(int16_t)g[REG_RAX] * (int16_t)s;
		reg_set(c, REG_RAX, 2, (uint64_t)p);
		reg_set(c, REG_RDX, 2, (uint64_t)p >> 16);
		cf = p != (int16_t)p;
		cc_set_resco(c, 2, (uint64_t)p, cf, cf);
		break;
	}
	case 4: {
		int64_t p = (int64_t)(int32_t)g[REG_RAX] * (int32_t)s;
		g[REG_RAX] = (uint32_t)p;
		g[REG_RDX] = (uint32_t)((uint64_t)p >> 32);
		cf = p != (int32_t)p;
		cc_set_resco(c, 4, (uint64_t)p, cf, cf);
		break;
	}
	default: {
		s128 p = (s128)(int64_t)g[REG_RAX] * (int64_t)s;
		g[REG_RAX] = (uint64_t)p;
		g[REG_RDX] = (uint64_t)((u128)p >> 64);
		cf = p != (int64_t)p;
		cc_set_resco(c, 8, (uint64_t)p, cf, cf);
		break;
	}
	}
}

static ALWAYS_INLINE void div_core(struct cpu *c, unsigned size, uint64_t s)
{
	uint64_t *g = c->gpr;

	if (unlikely(s == 0))
		cpu_raise_noerr(c, EXC_DE);
	switch (size) {
	case 1: {
		uint64_t n = g[REG_RAX] & 0xffff, q = n / s;
		if (q > 0xff)
			cpu_raise_noerr(c, EXC_DE);
		reg_set(c, REG_RAX, 2, q | ((n % s) << 8));
		break;
	}
	case 2: {
		uint64_t n = ((g[REG_RDX] & 0xffff) << 16) | (g[REG_RAX] & 0xffff), q = n / s;
		if (q > 0xffff)
			cpu_raise_noerr(c, EXC_DE);
		reg_set(c, REG_RAX, 2, q);
		reg_set(c, REG_RDX, 2, n % s);
		break;
	}
	case 4: {
		uint64_t n = (g[REG_RDX] << 32) | (uint32_t)g[REG_RAX], q = n / s;
		if (q > 0xffffffffull)
			cpu_raise_noerr(c, EXC_DE);
		g[REG_RAX] = q;
		g[REG_RDX] = (uint32_t)(n % s);
		break;
	}
	default: {
		uint64_t hi = g[REG_RDX], lo = g[REG_RAX], q, r;
		if (hi >= s) /* the quotient would not fit in 64 bits */
			cpu_raise_noerr(c, EXC_DE);
		if (hi == 0) {
			q = lo / s;
			r = lo % s;
		} else {
			u128 n = ((u128)hi << 64) | lo;
			q = (uint64_t)(n / s);
			r = (uint64_t)(n % s);
		}
		g[REG_RAX] = q;
		g[REG_RDX] = r;
		break;
	}
	}
}

static ALWAYS_INLINE void idiv_core(struct cpu *c, unsigned size, uint64_t s)
{
	uint64_t *g = c->gpr;

	if (unlikely(s == 0))
		cpu_raise_noerr(c, EXC_DE);
	switch (size) {
	case 1: {
		int64_t n = (int16_t)g[REG_RAX], d = (int8_t)s, q = n / d;
		if (q != (int8_t)q)
			cpu_raise_noerr(c, EXC_DE);
		reg_set(c, REG_RAX, 2, ((uint64_t)q & 0xff) | (((uint64_t)(n % d) & 0xff) << 8));
		break;
	}
	case 2: {
		int64_t n = (int32_t)(((g[REG_RDX] & 0xffff) << 16) | (g[REG_RAX] & 0xffff));
		int64_t d = (int16_t)s, q = n / d;
		if (q != (int16_t)q)
			cpu_raise_noerr(c, EXC_DE);
		reg_set(c, REG_RAX, 2, (uint64_t)q);
		reg_set(c, REG_RDX, 2, (uint64_t)(n % d));
		break;
	}
	case 4: {
		s128 n = (int64_t)((g[REG_RDX] << 32) | (uint32_t)g[REG_RAX]);
		s128 d = (int32_t)s, q = n / d;
		if (q != (int32_t)q)
			cpu_raise_noerr(c, EXC_DE);
		g[REG_RAX] = (uint32_t)q;
		g[REG_RDX] = (uint32_t)(n % d);
		break;
	}
	default: {
		int64_t d = (int64_t)s, q, r;
		uint64_t hi = g[REG_RDX], lo = g[REG_RAX];
		if (hi == (uint64_t)((int64_t)lo >> 63)) {
			/* the dividend fits in 64 bits */
			int64_t n = (int64_t)lo;
			if (n == INT64_MIN && d == -1)
				cpu_raise_noerr(c, EXC_DE);
			q = n / d;
			r = n % d;
		} else {
			s128 n = (s128)(((u128)hi << 64) | lo), q128;
			if (d == -1 && hi == 1ull << 63 && lo == 0) /* INT128_MIN / -1 */
				cpu_raise_noerr(c, EXC_DE);
			q128 = n / d;
			if (q128 != (int64_t)q128)
				cpu_raise_noerr(c, EXC_DE);
			q = (int64_t)q128;
			r = (int64_t)(n % d);
		}
		g[REG_RAX] = (uint64_t)q;
		g[REG_RDX] = (uint64_t)r;
		break;
	}
	}
}

static ALWAYS_INLINE void md_core(struct cpu *c, int op, unsigned size, uint64_t s)
{
	switch (op) {
	case M_MUL:
		mul_core(c, size, s);
		break;
	case M_IMUL:
		imul1_core(c, size, s);
		break;
	case M_DIV:
		div_core(c, size, s);
		break;
	default:
		idiv_core(c, size, s);
		break;
	}
}

#define GEN_MD_SIZE(name, op, size)                                                                \
	static const struct insn *op_##name##_r##size(struct cpu *c, const struct insn *i)         \
	{                                                                                          \
		md_core(c, op, size, reg_get(c, i->r1, size));                                     \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_m##size(struct cpu *c, const struct insn *i)         \
	{                                                                                          \
		md_core(c, op, size, load_op(c, i, size));                                         \
		NEXT(c, i);                                                                        \
	}
#define GEN_MD(name, op)                                                                           \
	GEN_MD_SIZE(name, op, 1)                                                                   \
	GEN_MD_SIZE(name, op, 2)                                                                   \
	GEN_MD_SIZE(name, op, 4)                                                                   \
	GEN_MD_SIZE(name, op, 8)                                                                   \
	static const insn_fn name##_tab[2][4] = {                                                  \
	    {op_##name##_r1, op_##name##_r2, op_##name##_r4, op_##name##_r8},                      \
	    {op_##name##_m1, op_##name##_m2, op_##name##_m4, op_##name##_m8},                      \
	};
GEN_MD(mul, M_MUL)
GEN_MD(imul1, M_IMUL)
GEN_MD(div, M_DIV)
GEN_MD(idiv, M_IDIV)

static bool decode_md1(struct dctx *d, struct insn *i, const insn_fn tab[2][4])
{
	const ZydisDecodedOperand *o = &d->op[0];
	unsigned size;

	if (dop_is_reg(o)) {
		int r = dreg(o->reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
		i->fn = tab[0][szlog(size)];
	} else {
		if (!dmem(d, o, i))
			return false;
		size = o->size / 8;
		i->fn = tab[1][szlog(size)];
	}
	i->osz = (uint8_t)size;
	return true;
}

/* ---- IMUL r, r/m and IMUL r, r/m, imm: r1 = dst, r2/mem = src, imm ---- */

static ALWAYS_INLINE uint64_t imul2_core(struct cpu *c, unsigned size, uint64_t a, uint64_t b)
{
	int64_t p;
	bool of;

	switch (size) {
	case 2:
		p = (int64_t)(int16_t)a * (int16_t)b;
		of = p != (int16_t)p;
		break;
	case 4:
		p = (int64_t)(int32_t)a * (int32_t)b;
		of = p != (int32_t)p;
		break;
	default:
		of = __builtin_mul_overflow((int64_t)a, (int64_t)b, &p);
		break;
	}
	cc_set_resco(c, size, (uint64_t)p, of, of);
	return (uint64_t)p;
}

#define GEN_IMUL2(size)                                                                            \
	static const struct insn *op_imul_rr##size(struct cpu *c, const struct insn *i)            \
	{                                                                                          \
		reg_set(c, i->r1, size,                                                            \
			imul2_core(c, size, reg_get(c, i->r1, size), reg_get(c, i->r2, size)));    \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_imul_rm##size(struct cpu *c, const struct insn *i)            \
	{                                                                                          \
		uint64_t b = load_op(c, i, size);                                                  \
		reg_set(c, i->r1, size, imul2_core(c, size, reg_get(c, i->r1, size), b));          \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_imul_rri##size(struct cpu *c, const struct insn *i)           \
	{                                                                                          \
		reg_set(c, i->r1, size, imul2_core(c, size, reg_get(c, i->r2, size), i->imm));     \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_imul_rmi##size(struct cpu *c, const struct insn *i)           \
	{                                                                                          \
		uint64_t b = load_op(c, i, size);                                                  \
		reg_set(c, i->r1, size, imul2_core(c, size, b, i->imm));                           \
		NEXT(c, i);                                                                        \
	}
GEN_IMUL2(2)
GEN_IMUL2(4)
GEN_IMUL2(8)

static const insn_fn imul2_tab[4][3] = {
    {op_imul_rr2, op_imul_rr4, op_imul_rr8},
    {op_imul_rm2, op_imul_rm4, op_imul_rm8},
    {op_imul_rri2, op_imul_rri4, op_imul_rri8},
    {op_imul_rmi2, op_imul_rmi4, op_imul_rmi8},
};

static bool decode_imul(struct dctx *d, struct insn *i)
{
	unsigned size, s2;
	int form, r;

	if (dvis(d) == 1)
		return decode_md1(d, i, imul1_tab);
	r = dreg(d->op[0].reg.value, &size);
	if (r < 0 || size == 1)
		return false;
	i->r1 = (uint8_t)r;
	if (dop_is_reg(&d->op[1])) {
		int r2 = dreg(d->op[1].reg.value, &s2);
		if (r2 < 0)
			return false;
		i->r2 = (uint8_t)r2;
		form = 0;
	} else {
		if (!dmem(d, &d->op[1], i))
			return false;
		form = 1;
	}
	if (dvis(d) == 3) {
		/* the immediate is sign-extended to the operand size */
		i->imm = (uint64_t)d->op[2].imm.value.s & size_mask(size);
		form += 2;
	}
	i->osz = (uint8_t)size;
	i->fn = imul2_tab[form][szlog(size) - 1];
	return true;
}

static bool decode_mul(struct dctx *d, struct insn *i)
{
	return decode_md1(d, i, mul_tab);
}

static bool decode_div(struct dctx *d, struct insn *i)
{
	return decode_md1(d, i, div_tab);
}

static bool decode_idiv(struct dctx *d, struct insn *i)
{
	return decode_md1(d, i, idiv_tab);
}

/* ---- MULX r1 (high), r2 (low), r/m: unsigned rDX * src, no flags ---- */

static const struct insn *op_mulx(struct cpu *c, const struct insn *i)
{
	unsigned size = i->osz;
	uint64_t s = (i->flags & INSN_MEM) ? load_op(c, i, size) : reg_get(c, i->aux, size);

	if (size == 4) {
		uint64_t p = (c->gpr[REG_RDX] & 0xffffffffull) * s;
		reg_set(c, i->r2, 4, p);
		reg_set(c, i->r1, 4, p >> 32);
	} else {
		u128 p = (u128)c->gpr[REG_RDX] * s;
		c->gpr[i->r2] = (uint64_t)p;
		c->gpr[i->r1] = (uint64_t)(p >> 64);
	}
	NEXT(c, i);
}

static bool decode_mulx(struct dctx *d, struct insn *i)
{
	unsigned size, s2;
	int hi = dreg(d->op[0].reg.value, &size), lo = dreg(d->op[1].reg.value, &s2);

	if (hi < 0 || lo < 0 || (size != 4 && size != 8))
		return false;
	i->r1 = (uint8_t)hi;
	i->r2 = (uint8_t)lo;
	if (dop_is_reg(&d->op[2])) {
		int r = dreg(d->op[2].reg.value, &s2);
		if (r < 0)
			return false;
		i->aux = (uint16_t)r;
	} else if (!dmem(d, &d->op[2], i)) {
		return false;
	}
	i->osz = (uint8_t)size;
	i->fn = op_mulx;
	return true;
}

void ops_muldiv_register(void)
{
	decode_register(ZYDIS_MNEMONIC_MUL, decode_mul);
	decode_register(ZYDIS_MNEMONIC_IMUL, decode_imul);
	decode_register(ZYDIS_MNEMONIC_DIV, decode_div);
	decode_register(ZYDIS_MNEMONIC_IDIV, decode_idiv);
	decode_register(ZYDIS_MNEMONIC_MULX, decode_mulx);
	/* what the JIT can emit inline (cpu/jit/) */
	for (unsigned l = 1; l < 4; l++) {
		jit_describe(imul2_tab[0][l - 1], JK_IMUL_RR, 0, 1u << l);
		jit_describe(imul2_tab[2][l - 1], JK_IMUL_RRI, 0, 1u << l);
		jit_describe(imul2_tab[1][l - 1], JK_IMUL_RM, 0, 1u << l);
	}
	for (unsigned m = 0; m < 2; m++)
		for (unsigned l = 2; l < 4; l++) {
			jit_describe(mul_tab[m][l], JK_MULDIV, JM_MUL, 1u << l);
			jit_describe(div_tab[m][l], JK_MULDIV, JM_DIV, 1u << l);
		}
}
