/* SPDX-License-Identifier: MIT */
/*
 * Near control transfer: JMP, Jcc, CALL, RET, LOOP/LOOPE/LOOPNE, JCXZ family.
 * Far forms (JMP/CALL ptr16:xx and m16:xx, RETF) are in ops_far.c.
 * Every handler ends its block.
 */
#include "decode.h"
#include "ops.h"

/* i->imm: relative displacement (sign-extended), i->osz: operand size */

static const struct insn *op_jmp_rel(struct cpu *c, const struct insn *i)
{
	branch_to(c, RIP(c) + i->len + i->imm, i->osz);
	return chain_next(c);
}

#define GEN_JCC(cc)                                                                                \
	static const struct insn *op_jcc_##cc(struct cpu *c, const struct insn *i)                 \
	{                                                                                          \
		if (cc_cond(c, cc))                                                                \
			branch_to(c, RIP(c) + i->len + i->imm, i->osz);                            \
		else                                                                               \
			RIP(c) += i->len;                                                          \
		return chain_next(c);                                                              \
	}
GEN_JCC(0)
GEN_JCC(1)
GEN_JCC(2)
GEN_JCC(3)
GEN_JCC(4)
GEN_JCC(5)
GEN_JCC(6)
GEN_JCC(7)
GEN_JCC(8)
GEN_JCC(9)
GEN_JCC(10)
GEN_JCC(11)
GEN_JCC(12)
GEN_JCC(13)
GEN_JCC(14)
GEN_JCC(15)

static const insn_fn jcc_tab[16] = {
    op_jcc_0, op_jcc_1, op_jcc_2,  op_jcc_3,  op_jcc_4,	 op_jcc_5,  op_jcc_6,  op_jcc_7,
    op_jcc_8, op_jcc_9, op_jcc_10, op_jcc_11, op_jcc_12, op_jcc_13, op_jcc_14, op_jcc_15,
};

static const struct insn *op_jmp_r(struct cpu *c, const struct insn *i)
{
	branch_to(c, reg_get(c, i->r1, i->osz), i->osz);
	return chain_next(c);
}

static const struct insn *op_jmp_m(struct cpu *c, const struct insn *i)
{
	branch_to(c, load_op(c, i, i->osz), i->osz);
	return chain_next(c);
}

static const struct insn *op_call_rel(struct cpu *c, const struct insn *i)
{
	uint64_t next = RIP(c) + i->len;
	uint64_t target = next + i->imm;
	uint64_t sp = (c->gpr[REG_RSP] - i->osz) & c->stack_mask;
	uint64_t old = RIP(c);

	branch_to(c, target, i->osz); /* checks the target first */
	RIP(c) = old;
	stack_write_at(c, sp, i->osz, next);
	sp_set(c, sp);
	branch_to(c, target, i->osz);
	return chain_next(c);
}

static void call_indirect(struct cpu *c, const struct insn *i, uint64_t target)
{
	uint64_t next = RIP(c) + i->len, old = RIP(c);
	uint64_t sp = (c->gpr[REG_RSP] - i->osz) & c->stack_mask;

	branch_to(c, target, i->osz);
	RIP(c) = old;
	stack_write_at(c, sp, i->osz, next);
	sp_set(c, sp);
	branch_to(c, target, i->osz);
}

static const struct insn *op_call_r(struct cpu *c, const struct insn *i)
{
	call_indirect(c, i, reg_get(c, i->r1, i->osz));
	return chain_next(c);
}

static const struct insn *op_call_m(struct cpu *c, const struct insn *i)
{
	call_indirect(c, i, load_op(c, i, i->osz));
	return chain_next(c);
}

static const struct insn *op_ret(struct cpu *c, const struct insn *i)
{
	uint64_t sp = sp_get(c);
	uint64_t target = stack_read_at(c, sp, i->osz);
	branch_to(c, target, i->osz);
	sp_set(c, sp + i->osz + i->imm);
	return chain_next(c);
}

/* LOOP family and JrCXZ: aux = count register size (address size), aux2 = kind */
enum { L_LOOP, L_LOOPE, L_LOOPNE, L_JCXZ };

static const struct insn *op_loop(struct cpu *c, const struct insn *i)
{
	unsigned asz = i->aux;
	uint64_t cnt = reg_get(c, REG_RCX, asz);
	bool take;

	if (i->aux2 == L_JCXZ) {
		take = cnt == 0;
	} else {
		cnt = (cnt - 1) & size_mask(asz);
		take = cnt != 0;
		if (i->aux2 == L_LOOPE)
			take = take && cc_zf(c);
		else if (i->aux2 == L_LOOPNE)
			take = take && !cc_zf(c);
	}
	if (take) {
		uint64_t old = RIP(c);
		branch_to(c, RIP(c) + i->len + i->imm, i->osz);
		if (i->aux2 != L_JCXZ) {
			uint64_t t = RIP(c);
			RIP(c) = old;
			reg_set(c, REG_RCX, asz, cnt);
			RIP(c) = t;
		}
	} else {
		if (i->aux2 != L_JCXZ)
			reg_set(c, REG_RCX, asz, cnt);
		RIP(c) += i->len;
	}
	return chain_next(c);
}

/*
 * Operand size of near branches in 64-bit mode: Intel ignores 66h (64 bits,
 * SDM vol. 2, opcode map "f64"); AMD makes them 16-bit unless REX.W (APM
 * vol. 3, "near branches": rel8/rel16 jumps, CALL, RET, LOOP, JrCXZ and the
 * indirect forms alike; the decoder reads rel16 in AMD mode).
 */
static unsigned branch_osz(struct dctx *d)
{
	if (d->mode == ZYDIS_MACHINE_MODE_LONG_64) {
		if ((d->c->vflags & VB_BRANCH_O16) &&
		    (d->zi->attributes & ZYDIS_ATTRIB_HAS_OPERANDSIZE) && !d->zi->raw.rex.W)
			return 2;
		return 8;
	}
	return d->zi->operand_width / 8;
}

static bool decode_rel_or_indirect(struct dctx *d, struct insn *i, insn_fn rel, insn_fn r,
				   insn_fn m)
{
	const ZydisDecodedOperand *o = &d->op[0];
	unsigned size;

	d->ends_block = true;
	i->osz = (uint8_t)branch_osz(d);
	if (dop_is_imm(o)) {
		i->imm = (uint64_t)o->imm.value.s;
		i->fn = rel;
	} else if (dop_is_reg(o)) {
		int g = dreg(o->reg.value, &size);
		if (g < 0)
			return false;
		i->r1 = (uint8_t)g;
		i->fn = r;
	} else if (dop_is_mem(o)) {
		if (!dmem(d, o, i))
			return false;
		i->fn = m;
	} else {
		return false; /* far pointer forms: see ops_far.c */
	}
	return true;
}

static bool decode_jmp(struct dctx *d, struct insn *i)
{
	if (d->zi->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
		return decode_far_jmp(d, i);
	return decode_rel_or_indirect(d, i, op_jmp_rel, op_jmp_r, op_jmp_m);
}

static bool decode_call(struct dctx *d, struct insn *i)
{
	if (d->zi->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
		return decode_far_call(d, i);
	return decode_rel_or_indirect(d, i, op_call_rel, op_call_r, op_call_m);
}

static bool decode_jcc(struct dctx *d, struct insn *i)
{
	d->ends_block = true;
	i->osz = (uint8_t)branch_osz(d);
	i->imm = (uint64_t)d->op[0].imm.value.s;
	i->aux = d->zi->opcode & 0xf;
	i->fn = jcc_tab[i->aux];
	return true;
}

insn_fn jcc_generic(unsigned cond)
{
	return jcc_tab[cond & 15];
}

static bool decode_ret(struct dctx *d, struct insn *i)
{
	if (d->zi->meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
		return decode_far_ret(d, i);
	d->ends_block = true;
	i->osz = (uint8_t)branch_osz(d);
	i->imm = (dvis(d) >= 1 && dop_is_imm(&d->op[0])) ? (d->op[0].imm.value.u & 0xffff) : 0;
	i->fn = op_ret;
	return true;
}

static bool decode_loop_kind(struct dctx *d, struct insn *i, unsigned kind)
{
	d->ends_block = true;
	i->osz = (uint8_t)branch_osz(d);
	i->imm = (uint64_t)d->op[0].imm.value.s;
	i->aux = (uint16_t)(d->zi->address_width / 8);
	i->aux2 = kind;
	i->fn = op_loop;
	return true;
}

static bool decode_loop(struct dctx *d, struct insn *i)
{
	return decode_loop_kind(d, i, L_LOOP);
}
static bool decode_loope(struct dctx *d, struct insn *i)
{
	return decode_loop_kind(d, i, L_LOOPE);
}
static bool decode_loopne(struct dctx *d, struct insn *i)
{
	return decode_loop_kind(d, i, L_LOOPNE);
}
static bool decode_jcxz(struct dctx *d, struct insn *i)
{
	return decode_loop_kind(d, i, L_JCXZ);
}

void ops_branch_register(void)
{
	static const ZydisMnemonic jccs[] = {
	    ZYDIS_MNEMONIC_JO, ZYDIS_MNEMONIC_JNO, ZYDIS_MNEMONIC_JB,  ZYDIS_MNEMONIC_JNB,
	    ZYDIS_MNEMONIC_JZ, ZYDIS_MNEMONIC_JNZ, ZYDIS_MNEMONIC_JBE, ZYDIS_MNEMONIC_JNBE,
	    ZYDIS_MNEMONIC_JS, ZYDIS_MNEMONIC_JNS, ZYDIS_MNEMONIC_JP,  ZYDIS_MNEMONIC_JNP,
	    ZYDIS_MNEMONIC_JL, ZYDIS_MNEMONIC_JNL, ZYDIS_MNEMONIC_JLE, ZYDIS_MNEMONIC_JNLE,
	};
	for (unsigned k = 0; k < 16; k++)
		decode_register(jccs[k], decode_jcc);
	decode_register(ZYDIS_MNEMONIC_JMP, decode_jmp);
	decode_register(ZYDIS_MNEMONIC_CALL, decode_call);
	decode_register(ZYDIS_MNEMONIC_RET, decode_ret);
	decode_register(ZYDIS_MNEMONIC_LOOP, decode_loop);
	decode_register(ZYDIS_MNEMONIC_LOOPE, decode_loope);
	decode_register(ZYDIS_MNEMONIC_LOOPNE, decode_loopne);
	decode_register(ZYDIS_MNEMONIC_JCXZ, decode_jcxz);
	decode_register(ZYDIS_MNEMONIC_JECXZ, decode_jcxz);
	decode_register(ZYDIS_MNEMONIC_JRCXZ, decode_jcxz);
}
