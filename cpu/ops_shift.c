/* SPDX-License-Identifier: MIT */
/*
 * Shifts and rotates: SHL/SAL SHR SAR ROL ROR RCL RCR (count 1, CL, imm8),
 * SHLD SHRD, and the BMI2 forms SARX SHLX SHRX RORX. SDM vol. 2B, "SAL/SAR/
 * SHL/SHR", "RCL/RCR/ROL/ROR", "SHLD", "SHRD".
 *
 * The count is masked to 5 bits (6 with REX.W); a masked count of 0 changes
 * neither the flags nor the destination (a 32-bit register destination is
 * still written, so its upper half is cleared as on hardware). RCL/RCR of 8-
 * and 16-bit operands rotate by the masked count modulo 9 or 17. OF is only
 * defined for a count of 1 and AF never; we compute them anyway.
 */
#include "decode.h"
#include "ops_int.h"
#include "jit/jit.h"

enum { S_ROL, S_ROR, S_RCL, S_RCR, S_SHL, S_SHR, S_SAL, S_SAR };

static ALWAYS_INLINE uint64_t rotl_n(uint64_t a, unsigned t, unsigned bits)
{
	if (!t)
		return a;
	return ((a << t) | (a >> (bits - t))) & (bits == 64 ? ~0ull : (1ull << bits) - 1);
}

/* a is zero-extended to size; cnt is already masked and non-zero */
static ALWAYS_INLINE uint64_t sh_core(struct cpu *c, int op, unsigned size, uint64_t a,
				      unsigned cnt)
{
	unsigned bits = size * 8;
	uint64_t m = size_mask(size), r;
	bool cf;

	switch (op) {
	case S_SHL:
	case S_SAL:
		r = (a << cnt) & m; /* cnt <= 63 for 64-bit, <= 31 otherwise */
		cf = ((a << (cnt - 1)) >> (bits - 1)) & 1;
		cc_set_resco(c, size, r, cf, msb_of(r, size) ^ cf);
		return r;
	case S_SHR:
		r = a >> cnt;
		cf = (a >> (cnt - 1)) & 1;
		cc_set_resco(c, size, r, cf, cnt == 1 ? msb_of(a, size) : 0);
		return r;
	case S_SAR: {
		int64_t s = (int64_t)sext(a, size);
		r = (uint64_t)(s >> cnt) & m;
		cf = ((uint64_t)(s >> (cnt - 1))) & 1;
		cc_set_resco(c, size, r, cf, false);
		return r;
	}
	case S_ROL: {
		r = rotl_n(a, cnt & (bits - 1), bits);
		cf = r & 1;
		set_cf_of(c, cf, msb_of(r, size) ^ cf);
		return r;
	}
	case S_ROR: {
		unsigned t = cnt & (bits - 1);
		r = rotl_n(a, t ? bits - t : 0, bits);
		cf = msb_of(r, size);
		set_cf_of(c, cf, cf ^ ((r >> (bits - 2)) & 1));
		return r;
	}
	case S_RCL: {
		unsigned t = bits < 32 ? cnt % (bits + 1) : cnt;
		uint64_t ci;
		cc_materialize(c);
		ci = c->rflags & FL_CF;
		if (t == 0) {
			r = a;
			cf = ci;
		} else {
			/* rotate the (bits + 1)-bit quantity CF:a left by t */
			r = (a << t) | (ci << (t - 1));
			if (t > 1)
				r |= a >> (bits + 1 - t);
			r &= m;
			cf = (a >> (bits - t)) & 1;
		}
		set_cf_of(c, cf, msb_of(r, size) ^ cf);
		return r;
	}
	default: { /* S_RCR */
		unsigned t = bits < 32 ? cnt % (bits + 1) : cnt;
		uint64_t ci;
		cc_materialize(c);
		ci = c->rflags & FL_CF;
		if (t == 0) {
			r = a;
			cf = ci;
		} else {
			r = (a >> t) | (ci << (bits - t));
			if (t > 1)
				r |= a << (bits + 1 - t);
			r &= m;
			cf = (a >> (t - 1)) & 1;
		}
		set_cf_of(c, cf, msb_of(r, size) ^ ((r >> (bits - 2)) & 1));
		return r;
	}
	}
}

static ALWAYS_INLINE unsigned cnt_mask(unsigned size)
{
	return size == 8 ? 0x3f : 0x1f;
}

static ALWAYS_INLINE void sh_reg(struct cpu *c, const struct insn *i, int op, unsigned size,
				 unsigned cnt)
{
	uint64_t a = reg_get(c, i->r1, size);
	cnt &= cnt_mask(size);
	if (likely(cnt))
		a = sh_core(c, op, size, a, cnt);
	reg_set(c, i->r1, size, a);
}

static ALWAYS_INLINE void sh_mem(struct cpu *c, const struct insn *i, int op, unsigned size,
				 unsigned cnt)
{
	uint64_t la = insn_la(c, i, size, ACC_W);
	void *p = rmw_fast(c, la, size);

	cnt &= cnt_mask(size);
	if (likely(p != NULL)) {
		if (cnt)
			st_n(p, size, sh_core(c, op, size, ld_n(p, size), cnt));
		return;
	}
	uint64_t a = rmw_slow_read(c, la, size);
	if (cnt)
		mem_write(c, la, size, sh_core(c, op, size, a, cnt));
}

#define GEN_SH_SIZE(name, op, size)                                                                \
	static const struct insn *op_##name##_ri##size(struct cpu *c, const struct insn *i)        \
	{                                                                                          \
		sh_reg(c, i, op, size, (unsigned)i->imm);                                          \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_rc##size(struct cpu *c, const struct insn *i)        \
	{                                                                                          \
		sh_reg(c, i, op, size, (unsigned)c->gpr[REG_RCX] & 0xff);                          \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_mi##size(struct cpu *c, const struct insn *i)        \
	{                                                                                          \
		sh_mem(c, i, op, size, (unsigned)i->imm);                                          \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_mc##size(struct cpu *c, const struct insn *i)        \
	{                                                                                          \
		sh_mem(c, i, op, size, (unsigned)c->gpr[REG_RCX] & 0xff);                          \
		NEXT(c, i);                                                                        \
	}

#define GEN_SH(name, op)                                                                           \
	GEN_SH_SIZE(name, op, 1)                                                                   \
	GEN_SH_SIZE(name, op, 2)                                                                   \
	GEN_SH_SIZE(name, op, 4)                                                                   \
	GEN_SH_SIZE(name, op, 8)                                                                   \
	static const insn_fn name##_tab[4][4] = {                                                  \
	    {op_##name##_ri1, op_##name##_ri2, op_##name##_ri4, op_##name##_ri8},                  \
	    {op_##name##_rc1, op_##name##_rc2, op_##name##_rc4, op_##name##_rc8},                  \
	    {op_##name##_mi1, op_##name##_mi2, op_##name##_mi4, op_##name##_mi8},                  \
	    {op_##name##_mc1, op_##name##_mc2, op_##name##_mc4, op_##name##_mc8},                  \
	};

GEN_SH(rol, S_ROL)
GEN_SH(ror, S_ROR)
GEN_SH(rcl, S_RCL)
GEN_SH(rcr, S_RCR)
GEN_SH(shl, S_SHL)
GEN_SH(shr, S_SHR)
GEN_SH(sar, S_SAR)

/* count operand: immediate (form 0) or CL (form 1) */
static bool dcount(const ZydisDecodedOperand *o, struct insn *i, int *form)
{
	if (dop_is_imm(o)) {
		i->imm = o->imm.value.u & 0xff;
		*form = 0;
		return true;
	}
	if (dop_is_reg(o) && o->reg.value == ZYDIS_REGISTER_CL) {
		*form = 1;
		return true;
	}
	return false;
}

static bool decode_shift(struct dctx *d, struct insn *i, const insn_fn tab[4][4])
{
	const ZydisDecodedOperand *o0 = &d->op[0];
	unsigned size;
	int form;

	if (!dcount(&d->op[1], i, &form))
		return false;
	if (dop_is_reg(o0)) {
		int r = dreg(o0->reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
	} else {
		if (!dmem(d, o0, i))
			return false;
		size = o0->size / 8;
		form += 2;
	}
	i->osz = (uint8_t)size;
	i->fn = tab[form][szlog(size)];
	return true;
}

#define DECSH(name)                                                                                \
	static bool decode_##name(struct dctx *d, struct insn *i)                                  \
	{                                                                                          \
		return decode_shift(d, i, name##_tab);                                             \
	}
DECSH(rol)
DECSH(ror)
DECSH(rcl)
DECSH(rcr)
DECSH(shl)
DECSH(shr)
DECSH(sar)

/* ---- SHLD / SHRD: r1/mem = destination, r2 = source ---- */

static ALWAYS_INLINE uint64_t shd_core(struct cpu *c, bool left, unsigned size, uint64_t a,
				       uint64_t b, unsigned cnt)
{
	uint64_t r;
	bool cf;

	/* cnt is masked and non-zero; a 16-bit count above 16 gives an undefined
	 * result: we shift through a:b:a as some processors do */
	if (left) {
		switch (size) {
		case 2: {
			uint64_t t = (a << 48) | (b << 32) | (a << 16);
			r = (t << cnt) >> 48;
			cf = ((t << (cnt - 1)) >> 63) & 1;
			break;
		}
		case 4: {
			uint64_t t = (a << 32) | b;
			r = (uint32_t)((t << cnt) >> 32);
			cf = ((t << (cnt - 1)) >> 63) & 1;
			break;
		}
		default:
			r = (a << cnt) | (b >> (64 - cnt));
			cf = (a >> (64 - cnt)) & 1;
			break;
		}
	} else {
		switch (size) {
		case 2: {
			uint64_t t = a | (b << 16) | (a << 32);
			r = (t >> cnt) & 0xffff;
			cf = (t >> (cnt - 1)) & 1;
			break;
		}
		case 4: {
			uint64_t t = a | (b << 32);
			r = (uint32_t)(t >> cnt);
			cf = (t >> (cnt - 1)) & 1;
			break;
		}
		default:
			r = (a >> cnt) | (b << (64 - cnt));
			cf = (a >> (cnt - 1)) & 1;
			break;
		}
	}
	cc_set_resco(c, size, r, cf, msb_of(r ^ a, size));
	return r;
}

static ALWAYS_INLINE void shd(struct cpu *c, const struct insn *i, bool left, bool mem,
			      unsigned cnt)
{
	unsigned size = i->osz;
	uint64_t b = reg_get(c, i->r2, size);

	cnt &= cnt_mask(size);
	if (!mem) {
		uint64_t a = reg_get(c, i->r1, size);
		if (cnt)
			a = shd_core(c, left, size, a, b, cnt);
		reg_set(c, i->r1, size, a);
		return;
	}
	uint64_t la = insn_la(c, i, size, ACC_W);
	void *p = rmw_fast(c, la, size);
	if (likely(p != NULL)) {
		if (cnt)
			st_n(p, size, shd_core(c, left, size, ld_n(p, size), b, cnt));
		return;
	}
	uint64_t a = rmw_slow_read(c, la, size);
	if (cnt)
		mem_write(c, la, size, shd_core(c, left, size, a, b, cnt));
}

#define GEN_SHD(name, left)                                                                        \
	static const struct insn *op_##name##_ri(struct cpu *c, const struct insn *i)              \
	{                                                                                          \
		shd(c, i, left, false, (unsigned)i->imm);                                          \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_rc(struct cpu *c, const struct insn *i)              \
	{                                                                                          \
		shd(c, i, left, false, (unsigned)c->gpr[REG_RCX] & 0xff);                          \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_mi(struct cpu *c, const struct insn *i)              \
	{                                                                                          \
		shd(c, i, left, true, (unsigned)i->imm);                                           \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_mc(struct cpu *c, const struct insn *i)              \
	{                                                                                          \
		shd(c, i, left, true, (unsigned)c->gpr[REG_RCX] & 0xff);                           \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const insn_fn name##_tab[4] = {op_##name##_ri, op_##name##_rc, op_##name##_mi,      \
					      op_##name##_mc};
GEN_SHD(shld, true)
GEN_SHD(shrd, false)

static bool decode_shd(struct dctx *d, struct insn *i, const insn_fn tab[4])
{
	const ZydisDecodedOperand *o0 = &d->op[0];
	unsigned size, s2;
	int form, r2;

	if (!dcount(&d->op[2], i, &form))
		return false;
	r2 = dreg(d->op[1].reg.value, &s2);
	if (r2 < 0)
		return false;
	i->r2 = (uint8_t)r2;
	if (dop_is_reg(o0)) {
		int r = dreg(o0->reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
	} else {
		if (!dmem(d, o0, i))
			return false;
		size = o0->size / 8;
		form += 2;
	}
	i->osz = (uint8_t)size;
	i->fn = tab[form];
	return true;
}

static bool decode_shld(struct dctx *d, struct insn *i)
{
	return decode_shd(d, i, shld_tab);
}

static bool decode_shrd(struct dctx *d, struct insn *i)
{
	return decode_shd(d, i, shrd_tab);
}

/* ---- BMI2: SARX SHLX SHRX (r1 = dst, r2/mem = src, aux = count register), RORX (imm) ---- */

enum { X_SAR, X_SHL, X_SHR, X_ROR };

static ALWAYS_INLINE uint64_t bmi_shift(int op, unsigned size, uint64_t a, unsigned cnt)
{
	cnt &= cnt_mask(size);
	switch (op) {
	case X_SAR:
		return (uint64_t)((int64_t)sext(a, size) >> cnt) & size_mask(size);
	case X_SHL:
		return (a << cnt) & size_mask(size);
	case X_SHR:
		return a >> cnt;
	default:
		return rotl_n(a, cnt ? size * 8 - cnt : 0, size * 8);
	}
}

static const struct insn *op_bmi_shift(struct cpu *c, const struct insn *i)
{
	unsigned size = i->osz;
	uint64_t a = (i->flags & INSN_MEM) ? load_op(c, i, size) : reg_get(c, i->r2, size);
	unsigned cnt = i->aux2 == X_ROR ? (unsigned)i->imm : (unsigned)c->gpr[i->aux];
	reg_set(c, i->r1, size, bmi_shift((int)i->aux2, size, a, cnt));
	NEXT(c, i);
}

static bool decode_bmi_shift(struct dctx *d, struct insn *i, int op)
{
	unsigned size, s2;
	int r = dreg(d->op[0].reg.value, &size);

	if (r < 0 || (size != 4 && size != 8))
		return false;
	i->r1 = (uint8_t)r;
	i->osz = (uint8_t)size;
	if (dop_is_reg(&d->op[1])) {
		int r2 = dreg(d->op[1].reg.value, &s2);
		if (r2 < 0)
			return false;
		i->r2 = (uint8_t)r2;
	} else if (!dmem(d, &d->op[1], i)) {
		return false;
	}
	if (op == X_ROR) {
		i->imm = d->op[2].imm.value.u & 0xff;
	} else {
		int r3 = dreg(d->op[2].reg.value, &s2);
		if (r3 < 0)
			return false;
		i->aux = (uint16_t)r3;
	}
	i->aux2 = (uint32_t)op;
	i->fn = op_bmi_shift;
	return true;
}

static bool decode_sarx(struct dctx *d, struct insn *i)
{
	return decode_bmi_shift(d, i, X_SAR);
}
static bool decode_shlx(struct dctx *d, struct insn *i)
{
	return decode_bmi_shift(d, i, X_SHL);
}
static bool decode_shrx(struct dctx *d, struct insn *i)
{
	return decode_bmi_shift(d, i, X_SHR);
}
static bool decode_rorx(struct dctx *d, struct insn *i)
{
	return decode_bmi_shift(d, i, X_ROR);
}

void ops_shift_register(void)
{
	decode_register(ZYDIS_MNEMONIC_ROL, decode_rol);
	decode_register(ZYDIS_MNEMONIC_ROR, decode_ror);
	decode_register(ZYDIS_MNEMONIC_RCL, decode_rcl);
	decode_register(ZYDIS_MNEMONIC_RCR, decode_rcr);
	decode_register(ZYDIS_MNEMONIC_SHL, decode_shl);
	decode_register(ZYDIS_MNEMONIC_SHR, decode_shr);
	decode_register(ZYDIS_MNEMONIC_SAR, decode_sar);
	decode_register(ZYDIS_MNEMONIC_SHLD, decode_shld);
	decode_register(ZYDIS_MNEMONIC_SHRD, decode_shrd);
	decode_register(ZYDIS_MNEMONIC_SARX, decode_sarx);
	decode_register(ZYDIS_MNEMONIC_SHLX, decode_shlx);
	decode_register(ZYDIS_MNEMONIC_SHRX, decode_shrx);
	decode_register(ZYDIS_MNEMONIC_RORX, decode_rorx);
	/* what the JIT can emit inline (cpu/jit/): the immediate-count register forms */
	const insn_fn(*const tabs[7])[4] = {rol_tab, ror_tab, rcl_tab, rcr_tab,
					    shl_tab, shr_tab, sar_tab};
	static const unsigned ops[7] = {S_ROL, S_ROR, S_RCL, S_RCR, S_SHL, S_SHR, S_SAR};
	for (unsigned k = 0; k < 7; k++)
		for (unsigned l = 0; l < 4; l++)
			jit_describe(tabs[k][0][l], JK_SHIFT_RI, ops[k], 1u << l),
			    jit_describe(tabs[k][1][l], JK_SHIFT_RC, ops[k], 1u << l),
			    jit_describe(tabs[k][2][l], JK_SHIFT_MI, ops[k], 1u << l);
}
