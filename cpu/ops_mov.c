/* SPDX-License-Identifier: MIT */
/*
 * Data movement: MOV, MOVZX/MOVSX/MOVSXD, LEA, XCHG, CMOVcc, SETcc, BSWAP,
 * MOVBE, CBW family, CWD family, XLAT, LAHF/SAHF, NOP.
 */
#include "decode.h"
#include "ops.h"
#include "jit/jit.h"

#define GEN_MOV(size)                                                                              \
	static const struct insn *op_mov_rr##size(struct cpu *c, const struct insn *i)             \
	{                                                                                          \
		reg_set(c, i->r1, size, reg_get(c, i->r2, size));                                  \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_mov_ri##size(struct cpu *c, const struct insn *i)             \
	{                                                                                          \
		reg_set(c, i->r1, size, i->imm);                                                   \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static __attribute__((noinline, cold))                                                     \
	const struct insn *op_mov_rm##size##_slow(struct cpu *c, const struct insn *i)             \
	{                                                                                          \
		reg_set(c, i->r1, size, load_op(c, i, size));                                      \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_mov_rm##size(struct cpu *c, const struct insn *i)             \
	{                                                                                          \
		uint64_t v;                                                                        \
		FAST_LOAD(c, i, size, v, op_mov_rm##size##_slow);                                  \
		reg_set(c, i->r1, size, v);                                                        \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static __attribute__((noinline, cold))                                                     \
	const struct insn *op_mov_mr##size##_slow(struct cpu *c, const struct insn *i)             \
	{                                                                                          \
		store_op(c, i, size, reg_get(c, i->r2, size));                                     \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_mov_mr##size(struct cpu *c, const struct insn *i)             \
	{                                                                                          \
		FAST_STORE(c, i, size, reg_get(c, i->r2, size), op_mov_mr##size##_slow);           \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static __attribute__((noinline, cold))                                                     \
	const struct insn *op_mov_mi##size##_slow(struct cpu *c, const struct insn *i)             \
	{                                                                                          \
		store_op(c, i, size, i->imm);                                                      \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_mov_mi##size(struct cpu *c, const struct insn *i)             \
	{                                                                                          \
		FAST_STORE(c, i, size, i->imm, op_mov_mi##size##_slow);                            \
		NEXT(c, i);                                                                        \
	}
GEN_MOV(1)
GEN_MOV(2)
GEN_MOV(4)
GEN_MOV(8)

static const insn_fn mov_tab[5][4] = {
    {op_mov_rr1, op_mov_rr2, op_mov_rr4, op_mov_rr8},
    {op_mov_ri1, op_mov_ri2, op_mov_ri4, op_mov_ri8},
    {op_mov_rm1, op_mov_rm2, op_mov_rm4, op_mov_rm8},
    {op_mov_mr1, op_mov_mr2, op_mov_mr4, op_mov_mr8},
    {op_mov_mi1, op_mov_mi2, op_mov_mi4, op_mov_mi8},
};

/* MOV AL/AX/EAX/RAX <-> moffs64: the address is i->imm */
static const struct insn *op_mov_moffs_load(struct cpu *c, const struct insn *i)
{
	reg_set(c, i->r1, i->osz, mem_read(c, seg_la(c, i->seg, i->imm, i->osz, ACC_R), i->osz));
	NEXT(c, i);
}

static const struct insn *op_mov_moffs_store(struct cpu *c, const struct insn *i)
{
	mem_write(c, seg_la(c, i->seg, i->imm, i->osz, ACC_W), i->osz, reg_get(c, i->r2, i->osz));
	NEXT(c, i);
}

static bool decode_mov(struct dctx *d, struct insn *i)
{
	{
		const ZydisDecodedOperand *a = &d->op[0], *b = &d->op[1];
		unsigned sz;
		if (dop_is_reg(a) && dmem_abs64(d, b, i)) {
			i->r1 = (uint8_t)dreg(a->reg.value, &sz);
			i->osz = (uint8_t)sz;
			i->fn = op_mov_moffs_load;
			return true;
		}
		if (dop_is_reg(b) && dmem_abs64(d, a, i)) {
			i->r2 = (uint8_t)dreg(b->reg.value, &sz);
			i->osz = (uint8_t)sz;
			i->fn = op_mov_moffs_store;
			return true;
		}
	}
	const ZydisDecodedOperand *o0 = &d->op[0], *o1 = &d->op[1];
	unsigned size, sz2;
	int r;

	/* segment, control and debug registers are system moves */
	if ((dop_is_reg(o0) && dreg(o0->reg.value, &size) < 0) ||
	    (dop_is_reg(o1) && dreg(o1->reg.value, &size) < 0))
		return decode_mov_sys(d, i);
	if (dop_is_reg(o0)) {
		r = dreg(o0->reg.value, &size);
		i->r1 = (uint8_t)r;
		if (dop_is_reg(o1)) {
			i->r2 = (uint8_t)dreg(o1->reg.value, &sz2);
			i->fn = mov_tab[0][szlog(size)];
		} else if (dop_is_imm(o1)) {
			i->imm = o1->imm.value.u & size_mask(size);
			i->fn = mov_tab[1][szlog(size)];
		} else {
			if (!dmem(d, o1, i))
				return false;
			i->fn = mov_tab[2][szlog(size)];
		}
	} else {
		if (!dmem(d, o0, i))
			return false;
		size = o0->size / 8;
		if (dop_is_reg(o1)) {
			i->r2 = (uint8_t)dreg(o1->reg.value, &sz2);
			i->fn = mov_tab[3][szlog(size)];
		} else {
			i->imm = o1->imm.value.u & size_mask(size);
			i->fn = mov_tab[4][szlog(size)];
		}
	}
	i->osz = (uint8_t)size;
	return true;
}

/* ---- MOVZX / MOVSX / MOVSXD: aux = source size, osz = destination size ---- */

static const struct insn *op_movzx_r(struct cpu *c, const struct insn *i)
{
	reg_set(c, i->r1, i->osz, reg_get(c, i->r2, i->aux));
	NEXT(c, i);
}

static const struct insn *op_movzx_m(struct cpu *c, const struct insn *i)
{
	reg_set(c, i->r1, i->osz, load_op(c, i, i->aux));
	NEXT(c, i);
}

/* movzx r32, m8: the common form */
static const struct insn *op_movzx_m8_r4(struct cpu *c, const struct insn *i)
{
	uint64_t v;
	FAST_LOAD(c, i, 1, v, op_movzx_m);
	c->gpr[i->r1] = v;
	NEXT(c, i);
}

static const struct insn *op_movsx_r(struct cpu *c, const struct insn *i)
{
	reg_set(c, i->r1, i->osz, sext(reg_get(c, i->r2, i->aux), i->aux));
	NEXT(c, i);
}

static const struct insn *op_movsx_m(struct cpu *c, const struct insn *i)
{
	reg_set(c, i->r1, i->osz, sext(load_op(c, i, i->aux), i->aux));
	NEXT(c, i);
}

static bool decode_movx(struct dctx *d, struct insn *i, bool sign)
{
	unsigned size, ssz;
	int r = dreg(d->op[0].reg.value, &size);
	if (r < 0)
		return false;
	i->r1 = (uint8_t)r;
	i->osz = (uint8_t)size;
	if (dop_is_reg(&d->op[1])) {
		int r2 = dreg(d->op[1].reg.value, &ssz);
		if (r2 < 0)
			return false;
		i->r2 = (uint8_t)r2;
		i->fn = sign ? op_movsx_r : op_movzx_r;
	} else {
		if (!dmem(d, &d->op[1], i))
			return false;
		ssz = d->op[1].size / 8;
		i->fn = sign ? op_movsx_m : op_movzx_m;
		if (!sign && ssz == 1 && size == 4)
			i->fn = op_movzx_m8_r4;
	}
	i->aux = (uint16_t)ssz;
	return true;
}

static bool decode_movzx(struct dctx *d, struct insn *i)
{
	return decode_movx(d, i, false);
}

static bool decode_movsx(struct dctx *d, struct insn *i)
{
	return decode_movx(d, i, true);
}

/* ---- LEA ---- */

static const struct insn *op_lea(struct cpu *c, const struct insn *i)
{
	reg_set(c, i->r1, i->osz, insn_ea(c, i));
	NEXT(c, i);
}

static bool decode_lea(struct dctx *d, struct insn *i)
{
	unsigned size;
	int r = dreg(d->op[0].reg.value, &size);
	if (r < 0 || !dop_is_mem(&d->op[1]) || !dmem(d, &d->op[1], i))
		return false;
	i->r1 = (uint8_t)r;
	i->osz = (uint8_t)size;
	i->fn = op_lea;
	return true;
}

/* ---- XCHG ---- */

static const struct insn *op_xchg_rr(struct cpu *c, const struct insn *i)
{
	uint64_t a = reg_get(c, i->r1, i->osz), b = reg_get(c, i->r2, i->osz);
	reg_set(c, i->r1, i->osz, b);
	reg_set(c, i->r2, i->osz, a);
	NEXT(c, i);
}

static const struct insn *op_xchg_rm(struct cpu *c, const struct insn *i)
{
	unsigned size = i->osz;
	uint64_t la = insn_la(c, i, size, ACC_W), v = reg_get(c, i->r1, size), old;
	void *p = mem_rmw_ptr(c, la, size);

	if (likely(p != NULL)) {
		switch (size) {
		case 1:
			old = __atomic_exchange_n((uint8_t *)p, (uint8_t)v, __ATOMIC_SEQ_CST);
			break;
		case 2:
			old = __atomic_exchange_n((uint16_t *)p, (uint16_t)v, __ATOMIC_SEQ_CST);
			break;
		case 4:
			old = __atomic_exchange_n((uint32_t *)p, (uint32_t)v, __ATOMIC_SEQ_CST);
			break;
		default:
			old = __atomic_exchange_n((uint64_t *)p, v, __ATOMIC_SEQ_CST);
			break;
		}
	} else {
		mem_probe_write(c, la, size);
		old = mem_read(c, la, size);
		mem_write(c, la, size, v);
	}
	reg_set(c, i->r1, size, old);
	NEXT(c, i);
}

static const struct insn *op_nop(struct cpu *c, const struct insn *i)
{
	NEXT(c, i);
}

static bool decode_xchg(struct dctx *d, struct insn *i)
{
	unsigned size, s2;
	const ZydisDecodedOperand *o0 = &d->op[0], *o1 = &d->op[1];

	if (dop_is_mem(o0)) { /* xchg m, r: same as xchg r, m */
		const ZydisDecodedOperand *t = o0;
		o0 = o1;
		o1 = t;
	}
	int r = dreg(o0->reg.value, &size);
	if (r < 0)
		return false;
	i->r1 = (uint8_t)r;
	i->osz = (uint8_t)size;
	if (dop_is_reg(o1)) {
		int r2 = dreg(o1->reg.value, &s2);
		if (r2 < 0)
			return false;
		i->r2 = (uint8_t)r2;
		/* 90h is NOP; xchg eax, eax (87 C0) still zero-extends in 64-bit mode */
		if (d->zi->opcode == 0x90 && !(d->zi->attributes & ZYDIS_ATTRIB_HAS_REX))
			i->fn = op_nop;
		else
			i->fn = op_xchg_rr;
	} else {
		if (!dmem(d, o1, i))
			return false;
		i->fn = op_xchg_rm;
	}
	return true;
}

/* ---- CMOVcc, SETcc ---- */

static const struct insn *op_cmov_r(struct cpu *c, const struct insn *i)
{
	uint64_t v = cond(c, i->aux) ? reg_get(c, i->r2, i->osz) : reg_get(c, i->r1, i->osz);
	reg_set(c, i->r1, i->osz, v);
	NEXT(c, i);
}

static const struct insn *op_cmov_m(struct cpu *c, const struct insn *i)
{
	/* the source is read (and may fault) whatever the condition */
	uint64_t m = load_op(c, i, i->osz);
	uint64_t v = cond(c, i->aux) ? m : reg_get(c, i->r1, i->osz);
	reg_set(c, i->r1, i->osz, v);
	NEXT(c, i);
}

static bool decode_cmov(struct dctx *d, struct insn *i)
{
	unsigned size, s2;
	int r = dreg(d->op[0].reg.value, &size);
	if (r < 0)
		return false;
	i->r1 = (uint8_t)r;
	i->osz = (uint8_t)size;
	i->aux = d->zi->opcode & 0xf;
	if (dop_is_reg(&d->op[1])) {
		i->r2 = (uint8_t)dreg(d->op[1].reg.value, &s2);
		i->fn = op_cmov_r;
	} else {
		if (!dmem(d, &d->op[1], i))
			return false;
		i->fn = op_cmov_m;
	}
	return true;
}

static const struct insn *op_setcc_r(struct cpu *c, const struct insn *i)
{
	reg_set(c, i->r1, 1, cond(c, i->aux));
	NEXT(c, i);
}

static const struct insn *op_setcc_m(struct cpu *c, const struct insn *i)
{
	store_op(c, i, 1, cond(c, i->aux));
	NEXT(c, i);
}

static bool decode_setcc(struct dctx *d, struct insn *i)
{
	unsigned size;
	i->aux = d->zi->opcode & 0xf;
	if (dop_is_reg(&d->op[0])) {
		int r = dreg(d->op[0].reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
		i->fn = op_setcc_r;
	} else {
		if (!dmem(d, &d->op[0], i))
			return false;
		i->fn = op_setcc_m;
	}
	i->osz = 1;
	return true;
}

/* ---- BSWAP, MOVBE ---- */

static uint64_t bswap_n(uint64_t v, unsigned size)
{
	switch (size) {
	case 2:
		return 0; /* BSWAP r16 is undefined; real CPUs give 0 in the low word */
	case 4:
		return __builtin_bswap32((uint32_t)v);
	default:
		return __builtin_bswap64(v);
	}
}

static const struct insn *op_bswap(struct cpu *c, const struct insn *i)
{
	reg_set(c, i->r1, i->osz, bswap_n(reg_get(c, i->r1, i->osz), i->osz));
	NEXT(c, i);
}

static bool decode_bswap(struct dctx *d, struct insn *i)
{
	unsigned size;
	int r = dreg(d->op[0].reg.value, &size);
	if (r < 0)
		return false;
	i->r1 = (uint8_t)r;
	i->osz = (uint8_t)size;
	i->fn = op_bswap;
	return true;
}

static uint64_t movbe_swap(uint64_t v, unsigned size)
{
	return size == 2 ? __builtin_bswap16((uint16_t)v) : bswap_n(v, size);
}

static const struct insn *op_movbe_rm(struct cpu *c, const struct insn *i)
{
	reg_set(c, i->r1, i->osz, movbe_swap(load_op(c, i, i->osz), i->osz));
	NEXT(c, i);
}

static const struct insn *op_movbe_mr(struct cpu *c, const struct insn *i)
{
	store_op(c, i, i->osz, movbe_swap(reg_get(c, i->r2, i->osz), i->osz));
	NEXT(c, i);
}

static bool decode_movbe(struct dctx *d, struct insn *i)
{
	unsigned size;
	if (dop_is_reg(&d->op[0])) {
		int r = dreg(d->op[0].reg.value, &size);
		if (r < 0 || !dmem(d, &d->op[1], i))
			return false;
		i->r1 = (uint8_t)r;
		i->fn = op_movbe_rm;
	} else {
		int r = dreg(d->op[1].reg.value, &size);
		if (r < 0 || !dmem(d, &d->op[0], i))
			return false;
		i->r2 = (uint8_t)r;
		i->fn = op_movbe_mr;
	}
	i->osz = (uint8_t)size;
	return true;
}

/* ---- CBW/CWDE/CDQE, CWD/CDQ/CQO ---- */

static const struct insn *op_cbw(struct cpu *c, const struct insn *i)
{
	unsigned half = i->osz / 2;
	reg_set(c, REG_RAX, i->osz, sext(reg_get(c, REG_RAX, half), half));
	NEXT(c, i);
}

static const struct insn *op_cwd(struct cpu *c, const struct insn *i)
{
	uint64_t a = reg_get(c, REG_RAX, i->osz);
	uint64_t sign = (a >> (i->osz * 8 - 1)) & 1;
	reg_set(c, REG_RDX, i->osz, sign ? ~0ull : 0);
	NEXT(c, i);
}

static bool decode_cbw(struct dctx *d, struct insn *i)
{
	(void)d;
	i->fn = op_cbw;
	/* for the JIT, which runs it as MOVSX rAX, (the lower half of rAX) */
	i->r1 = i->r2 = REG_RAX;
	i->aux = (uint16_t)(i->osz / 2);
	return true;
}

static bool decode_cwd(struct dctx *d, struct insn *i)
{
	(void)d;
	i->fn = op_cwd;
	return true;
}

/* ---- XLAT ---- */

static const struct insn *op_xlat(struct cpu *c, const struct insn *i)
{
	uint64_t ea = (c->gpr[REG_RBX] + (c->gpr[REG_RAX] & 0xff));
	ea = (ea << i->ashift) >> i->ashift;
	reg_set(c, 0, 1, mem_read(c, seg_la(c, i->seg, ea, 1, ACC_R), 1));
	NEXT(c, i);
}

static bool decode_xlat(struct dctx *d, struct insn *i)
{
	/* operand 1 is the implicit memory operand [rBX + AL] */
	for (unsigned k = 0; k < d->zi->operand_count; k++) {
		if (dop_is_mem(&d->op[k])) {
			int s = dsreg(d->op[k].mem.segment);
			i->seg = s < 0 ? SEG_DS : (uint8_t)s;
		}
	}
	i->ashift = d->zi->address_width == 64 ? 0 : d->zi->address_width == 32 ? 32 : 48;
	i->fn = op_xlat;
	return true;
}

/* ---- LAHF / SAHF ---- */

static const struct insn *op_lahf(struct cpu *c, const struct insn *i)
{
	reg_set(c, 1, 1, cpu_get_rflags(c) & 0xff); /* AH: byte offset 1 */
	NEXT(c, i);
}

static const struct insn *op_sahf(struct cpu *c, const struct insn *i)
{
	uint64_t ah = (c->gpr[REG_RAX] >> 8) & 0xff;
	cc_materialize(c);
	c->rflags = (c->rflags & ~0xffull) | (ah & (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF)) | FL_1;
	NEXT(c, i);
}

static bool decode_lahf(struct dctx *d, struct insn *i)
{
	(void)d;
	i->fn = op_lahf;
	return true;
}

static bool decode_sahf(struct dctx *d, struct insn *i)
{
	(void)d;
	i->fn = op_sahf;
	return true;
}

static bool decode_nop(struct dctx *d, struct insn *i)
{
	(void)d;
	i->fn = op_nop;
	return true;
}

void ops_mov_register(void)
{
	decode_register(ZYDIS_MNEMONIC_MOV, decode_mov);
	decode_register(ZYDIS_MNEMONIC_MOVZX, decode_movzx);
	decode_register(ZYDIS_MNEMONIC_MOVSX, decode_movsx);
	decode_register(ZYDIS_MNEMONIC_MOVSXD, decode_movsx);
	decode_register(ZYDIS_MNEMONIC_LEA, decode_lea);
	decode_register(ZYDIS_MNEMONIC_XCHG, decode_xchg);
	static const ZydisMnemonic cmovs[] = {
	    ZYDIS_MNEMONIC_CMOVO,   ZYDIS_MNEMONIC_CMOVNO,  ZYDIS_MNEMONIC_CMOVB,
	    ZYDIS_MNEMONIC_CMOVNB,  ZYDIS_MNEMONIC_CMOVZ,   ZYDIS_MNEMONIC_CMOVNZ,
	    ZYDIS_MNEMONIC_CMOVBE,  ZYDIS_MNEMONIC_CMOVNBE, ZYDIS_MNEMONIC_CMOVS,
	    ZYDIS_MNEMONIC_CMOVNS,  ZYDIS_MNEMONIC_CMOVP,   ZYDIS_MNEMONIC_CMOVNP,
	    ZYDIS_MNEMONIC_CMOVL,   ZYDIS_MNEMONIC_CMOVNL,  ZYDIS_MNEMONIC_CMOVLE,
	    ZYDIS_MNEMONIC_CMOVNLE,
	};
	static const ZydisMnemonic sets[] = {
	    ZYDIS_MNEMONIC_SETO, ZYDIS_MNEMONIC_SETNO, ZYDIS_MNEMONIC_SETB,  ZYDIS_MNEMONIC_SETNB,
	    ZYDIS_MNEMONIC_SETZ, ZYDIS_MNEMONIC_SETNZ, ZYDIS_MNEMONIC_SETBE, ZYDIS_MNEMONIC_SETNBE,
	    ZYDIS_MNEMONIC_SETS, ZYDIS_MNEMONIC_SETNS, ZYDIS_MNEMONIC_SETP,  ZYDIS_MNEMONIC_SETNP,
	    ZYDIS_MNEMONIC_SETL, ZYDIS_MNEMONIC_SETNL, ZYDIS_MNEMONIC_SETLE, ZYDIS_MNEMONIC_SETNLE,
	};
	for (unsigned k = 0; k < 16; k++) {
		decode_register(cmovs[k], decode_cmov);
		decode_register(sets[k], decode_setcc);
	}
	decode_register(ZYDIS_MNEMONIC_BSWAP, decode_bswap);
	decode_register(ZYDIS_MNEMONIC_MOVBE, decode_movbe);
	decode_register(ZYDIS_MNEMONIC_CBW, decode_cbw);
	decode_register(ZYDIS_MNEMONIC_CWDE, decode_cbw);
	decode_register(ZYDIS_MNEMONIC_CDQE, decode_cbw);
	decode_register(ZYDIS_MNEMONIC_CWD, decode_cwd);
	decode_register(ZYDIS_MNEMONIC_CDQ, decode_cwd);
	decode_register(ZYDIS_MNEMONIC_CQO, decode_cwd);
	decode_register(ZYDIS_MNEMONIC_XLAT, decode_xlat);
	decode_register(ZYDIS_MNEMONIC_LAHF, decode_lahf);
	decode_register(ZYDIS_MNEMONIC_SAHF, decode_sahf);
	decode_register(ZYDIS_MNEMONIC_NOP, decode_nop);
	/* hints that change no architectural state */
	decode_register(ZYDIS_MNEMONIC_PREFETCH, decode_nop);
	decode_register(ZYDIS_MNEMONIC_PREFETCHW, decode_nop);
	decode_register(ZYDIS_MNEMONIC_PREFETCHNTA, decode_nop);
	decode_register(ZYDIS_MNEMONIC_PREFETCHT0, decode_nop);
	decode_register(ZYDIS_MNEMONIC_PREFETCHT1, decode_nop);
	decode_register(ZYDIS_MNEMONIC_PREFETCHT2, decode_nop);
	decode_register(ZYDIS_MNEMONIC_ENDBR32, decode_nop);
	decode_register(ZYDIS_MNEMONIC_ENDBR64, decode_nop);
	/* what the JIT can emit inline (cpu/jit/) */
	static const unsigned mov_kinds[5] = {JK_MOV_RR, JK_MOV_RI, JK_MOV_RM, JK_MOV_MR,
					      JK_MOV_MI};
	for (unsigned f = 0; f < 5; f++)
		for (unsigned l = 0; l < 4; l++)
			jit_describe(mov_tab[f][l], mov_kinds[f], 0, 1u << l);
	jit_describe(op_movzx_r, JK_MOVZX_R, 0, 0);
	jit_describe(op_movzx_m, JK_MOVZX_M, 0, 0);
	jit_describe(op_movzx_m8_r4, JK_MOVZX_M, 0, 0);
	jit_describe(op_movsx_r, JK_MOVSX_R, 0, 0);
	jit_describe(op_movsx_m, JK_MOVSX_M, 0, 0);
	jit_describe(op_lea, JK_LEA, 0, 0);
	jit_describe(op_nop, JK_NOP, 0, 0);
	jit_describe(op_cmov_r, JK_CMOV_R, 0, 0);
	jit_describe(op_setcc_r, JK_SETCC_R, 0, 1);
	jit_describe(op_bswap, JK_BSWAP, 0, 0);
	jit_describe(op_cbw, JK_MOVSX_R, 0, 0);
	jit_describe(op_setcc_m, JK_SETCC_M, 0, 1);
	jit_describe(op_xchg_rm, JK_XCHG_M, 0, 0);
}
