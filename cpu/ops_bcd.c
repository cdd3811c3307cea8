/* SPDX-License-Identifier: MIT */
/*
 * Integer instructions of legacy and compatibility modes only (#UD in 64-bit
 * mode, where the decoder refuses them): the BCD adjustments DAA DAS AAA AAS
 * AAM AAD after the pseudocode of SDM vol. 2A, and BOUND. Flags the SDM
 * leaves undefined: OF of DAA/DAS is cleared, OF SF ZF PF of AAA/AAS are left
 * unchanged, and AAM/AAD set OF AF CF to 0.
 */
#include "decode.h"
#include "ops_int.h"

static inline uint64_t szp(uint8_t v)
{
	uint64_t f = 0;
	if (!v)
		f |= FL_ZF;
	if (v & 0x80)
		f |= FL_SF;
	if (!__builtin_parity(v))
		f |= FL_PF;
	return f;
}

static inline void set_arith(struct cpu *c, uint64_t keep, uint64_t f)
{
	c->rflags = (c->rflags & ~((uint64_t)FL_ARITH & ~keep)) | f;
	c->cc_op = CC_EFLAGS;
}

static const struct insn *op_daa(struct cpu *c, const struct insn *i)
{
	uint8_t al, old_al;
	uint64_t f = 0;
	bool old_cf;

	cc_materialize(c);
	al = old_al = (uint8_t)c->gpr[REG_RAX];
	old_cf = c->rflags & FL_CF;
	if ((al & 0xf) > 9 || (c->rflags & FL_AF)) {
		al += 6;
		if (old_cf || old_al > 0xf9)
			f |= FL_CF;
		f |= FL_AF;
	}
	if (old_al > 0x99 || old_cf) {
		al += 0x60;
		f |= FL_CF;
	} else {
		f &= ~(uint64_t)FL_CF;
	}
	reg_set(c, 0, 1, al);
	set_arith(c, 0, f | szp(al));
	NEXT(c, i);
}

static const struct insn *op_das(struct cpu *c, const struct insn *i)
{
	uint8_t al, old_al;
	uint64_t f = 0;
	bool old_cf;

	cc_materialize(c);
	al = old_al = (uint8_t)c->gpr[REG_RAX];
	old_cf = c->rflags & FL_CF;
	if ((al & 0xf) > 9 || (c->rflags & FL_AF)) {
		al -= 6;
		if (old_cf || old_al < 6)
			f |= FL_CF;
		f |= FL_AF;
	}
	if (old_al > 0x99 || old_cf) {
		al -= 0x60;
		f |= FL_CF;
	}
	reg_set(c, 0, 1, al);
	set_arith(c, 0, f | szp(al));
	NEXT(c, i);
}

static const struct insn *op_aaa(struct cpu *c, const struct insn *i)
{
	uint16_t ax;
	uint64_t f = 0;

	cc_materialize(c);
	ax = (uint16_t)c->gpr[REG_RAX];
	if ((ax & 0xf) > 9 || (c->rflags & FL_AF)) {
		ax += 0x106;
		f = FL_AF | FL_CF;
	}
	ax &= 0xff0f;
	reg_set(c, REG_RAX, 2, ax);
	set_arith(c, FL_OF | FL_SF | FL_ZF | FL_PF, f);
	NEXT(c, i);
}

static const struct insn *op_aas(struct cpu *c, const struct insn *i)
{
	uint16_t ax;
	uint64_t f = 0;

	cc_materialize(c);
	ax = (uint16_t)c->gpr[REG_RAX];
	if ((ax & 0xf) > 9 || (c->rflags & FL_AF)) {
		ax -= 6;
		ax -= 0x100;
		f = FL_AF | FL_CF;
	}
	ax &= 0xff0f;
	reg_set(c, REG_RAX, 2, ax);
	set_arith(c, FL_OF | FL_SF | FL_ZF | FL_PF, f);
	NEXT(c, i);
}

static const struct insn *op_aam(struct cpu *c, const struct insn *i)
{
	uint8_t al = (uint8_t)c->gpr[REG_RAX], base = (uint8_t)i->imm;

	if (base == 0)
		cpu_raise_noerr(c, EXC_DE);
	reg_set(c, REG_RAX, 2, ((unsigned)(al / base) << 8) | (al % base));
	set_arith(c, 0, szp(al % base));
	NEXT(c, i);
}

static const struct insn *op_aad(struct cpu *c, const struct insn *i)
{
	uint16_t ax = (uint16_t)c->gpr[REG_RAX];
	uint8_t al = (uint8_t)((ax & 0xff) + (ax >> 8) * (uint8_t)i->imm);

	reg_set(c, REG_RAX, 2, al);
	set_arith(c, 0, szp(al));
	NEXT(c, i);
}

#define SIMPLE(name)                                                                               \
	static bool decode_##name(struct dctx *d, struct insn *i)                                  \
	{                                                                                          \
		if (d->mode == ZYDIS_MACHINE_MODE_LONG_64)                                         \
			return false;                                                              \
		i->fn = op_##name;                                                                 \
		return true;                                                                       \
	}
SIMPLE(daa)
SIMPLE(das)
SIMPLE(aaa)
SIMPLE(aas)

static bool decode_aam(struct dctx *d, struct insn *i)
{
	if (d->mode == ZYDIS_MACHINE_MODE_LONG_64)
		return false;
	i->imm = d->op[0].imm.value.u & 0xff;
	i->fn = op_aam;
	return true;
}

static bool decode_aad(struct dctx *d, struct insn *i)
{
	if (d->mode == ZYDIS_MACHINE_MODE_LONG_64)
		return false;
	i->imm = d->op[0].imm.value.u & 0xff;
	i->fn = op_aad;
	return true;
}

/* BOUND r, m: #BR unless lower <= index <= upper (signed), SDM vol. 2A */
static const struct insn *op_bound(struct cpu *c, const struct insn *i)
{
	unsigned size = i->osz;
	uint64_t ea = insn_ea(c, i);
	int64_t idx = (int64_t)sext(reg_get(c, i->r1, size), size);
	int64_t lo = (int64_t)sext(mem_read(c, seg_la(c, i->seg, ea, size, ACC_R), size), size);
	uint64_t ea2 = ((ea + size) << i->ashift) >> i->ashift;
	int64_t hi = (int64_t)sext(mem_read(c, seg_la(c, i->seg, ea2, size, ACC_R), size), size);

	if (idx < lo || idx > hi)
		cpu_raise_noerr(c, EXC_BR);
	NEXT(c, i);
}

static bool decode_bound(struct dctx *d, struct insn *i)
{
	unsigned size;
	int r;

	if (d->mode == ZYDIS_MACHINE_MODE_LONG_64 || !dop_is_mem(&d->op[1]))
		return false;
	r = dreg(d->op[0].reg.value, &size);
	if (r < 0 || !dmem(d, &d->op[1], i))
		return false;
	i->r1 = (uint8_t)r;
	i->osz = (uint8_t)size;
	i->fn = op_bound;
	return true;
}

void ops_bcd_register(void)
{
	decode_register(ZYDIS_MNEMONIC_DAA, decode_daa);
	decode_register(ZYDIS_MNEMONIC_DAS, decode_das);
	decode_register(ZYDIS_MNEMONIC_AAA, decode_aaa);
	decode_register(ZYDIS_MNEMONIC_AAS, decode_aas);
	decode_register(ZYDIS_MNEMONIC_AAM, decode_aam);
	decode_register(ZYDIS_MNEMONIC_AAD, decode_aad);
	decode_register(ZYDIS_MNEMONIC_BOUND, decode_bound);
}
