/* SPDX-License-Identifier: MIT */
/*
 * Bit instructions: BT BTS BTR BTC (LOCK forms atomic), BSF BSR, LZCNT TZCNT
 * POPCNT, BMI1/BMI2 (ANDN BLSI BLSMSK BLSR BEXTR BZHI PDEP PEXT), ADX
 * (ADCX ADOX) and CRC32 (SSE4.2, a general-purpose register instruction). SDM vol. 2A "BT": with a
 * register bit offset and a memory operand, the offset is signed and selects the operand-sized word
 * at EA + osz * (offset >> log2(8 * osz)).
 */
#include "decode.h"
#include "ops_int.h"
#include "jit/jit.h"

enum { B_BT, B_BTS, B_BTR, B_BTC };

static ALWAYS_INLINE uint64_t bt_apply(int op, uint64_t v, uint64_t m)
{
	switch (op) {
	case B_BTS:
		return v | m;
	case B_BTR:
		return v & ~m;
	case B_BTC:
		return v ^ m;
	default:
		return v;
	}
}

/* CF = the selected bit; ZF is unaffected, OF SF AF PF undefined (kept) */
static ALWAYS_INLINE void set_cf(struct cpu *c, bool cf)
{
	cc_materialize(c);
	c->rflags = (c->rflags & ~(uint64_t)FL_CF) | (cf ? FL_CF : 0);
}

static ALWAYS_INLINE void bt_reg(struct cpu *c, const struct insn *i, int op, uint64_t off)
{
	unsigned size = i->osz;
	uint64_t m = 1ull << (off & (size * 8 - 1)), v = reg_get(c, i->r1, size);
	set_cf(c, v & m);
	if (op != B_BT)
		reg_set(c, i->r1, size, bt_apply(op, v, m));
}

static ALWAYS_INLINE uint64_t atomic_bitop(void *p, int op, unsigned size, uint64_t m)
{
#define ABIT(T)                                                                                    \
	do {                                                                                       \
		switch (op) {                                                                      \
		case B_BTS:                                                                        \
			return __atomic_fetch_or((T *)p, (T)m, __ATOMIC_SEQ_CST);                  \
		case B_BTR:                                                                        \
			return __atomic_fetch_and((T *)p, (T)~m, __ATOMIC_SEQ_CST);                \
		default:                                                                           \
			return __atomic_fetch_xor((T *)p, (T)m, __ATOMIC_SEQ_CST);                 \
		}                                                                                  \
	} while (0)
	switch (size) {
	case 2:
		ABIT(uint16_t);
	case 4:
		ABIT(uint32_t);
	default:
		ABIT(uint64_t);
	}
#undef ABIT
}

/* memory form; regoff: the offset comes from a register (signed, selects the word) */
static ALWAYS_INLINE void bt_mem(struct cpu *c, const struct insn *i, int op, uint64_t off,
				 bool regoff, bool locked)
{
	unsigned size = i->osz, bits = size * 8;
	uint64_t ea = insn_ea(c, i), la, m, v;

	if (regoff) {
		int64_t so = (int64_t)sext(off, size);
		ea += (uint64_t)((so >> (szlog(size) + 3)) * (int64_t)size);
		ea = (ea << i->ashift) >> i->ashift;
	}
	m = 1ull << (off & (bits - 1));
	if (op == B_BT) {
		la = seg_la(c, i->seg, ea, size, ACC_R);
		set_cf(c, mem_read(c, la, size) & m);
		return;
	}
	la = seg_la(c, i->seg, ea, size, ACC_W);
	if (locked) {
		void *p = mem_rmw_ptr(c, la, size);
		if (likely(p != NULL)) {
			set_cf(c, atomic_bitop(p, op, size, m) & m);
			return;
		}
	} else {
		void *p = rmw_fast(c, la, size);
		if (likely(p != NULL)) {
			v = ld_n(p, size);
			st_n(p, size, bt_apply(op, v, m));
			set_cf(c, v & m);
			return;
		}
	}
	v = rmw_slow_read(c, la, size);
	mem_write(c, la, size, bt_apply(op, v, m));
	set_cf(c, v & m);
}

#define GEN_BT(name, op)                                                                           \
	static const struct insn *op_##name##_ri(struct cpu *c, const struct insn *i)              \
	{                                                                                          \
		bt_reg(c, i, op, i->imm);                                                          \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_rr(struct cpu *c, const struct insn *i)              \
	{                                                                                          \
		bt_reg(c, i, op, c->gpr[i->r2]);                                                   \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_mi(struct cpu *c, const struct insn *i)              \
	{                                                                                          \
		bt_mem(c, i, op, i->imm, false, false);                                            \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_mr(struct cpu *c, const struct insn *i)              \
	{                                                                                          \
		bt_mem(c, i, op, reg_get(c, i->r2, i->osz), true, false);                          \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_lmi(struct cpu *c, const struct insn *i)             \
	{                                                                                          \
		bt_mem(c, i, op, i->imm, false, true);                                             \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const struct insn *op_##name##_lmr(struct cpu *c, const struct insn *i)             \
	{                                                                                          \
		bt_mem(c, i, op, reg_get(c, i->r2, i->osz), true, true);                           \
		NEXT(c, i);                                                                        \
	}                                                                                          \
	static const insn_fn name##_tab[6] = {op_##name##_ri, op_##name##_rr,  op_##name##_mi,     \
					      op_##name##_mr, op_##name##_lmi, op_##name##_lmr};
GEN_BT(bt, B_BT)
GEN_BT(bts, B_BTS)
GEN_BT(btr, B_BTR)
GEN_BT(btc, B_BTC)

static bool decode_btx(struct dctx *d, struct insn *i, const insn_fn tab[6])
{
	const ZydisDecodedOperand *o0 = &d->op[0], *o1 = &d->op[1];
	unsigned size, s2;
	int form;

	if (dop_is_imm(o1)) {
		i->imm = o1->imm.value.u & 0xff;
		form = 0;
	} else {
		int r2 = dreg(o1->reg.value, &s2);
		if (r2 < 0)
			return false;
		i->r2 = (uint8_t)r2;
		form = 1;
	}
	if (dop_is_reg(o0)) {
		int r = dreg(o0->reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
	} else {
		if (!dmem(d, o0, i))
			return false;
		size = o0->size / 8;
		form += (i->flags & INSN_LOCK) ? 4 : 2;
	}
	i->osz = (uint8_t)size;
	i->fn = tab[form];
	return true;
}

#define DECBT(name)                                                                                \
	static bool decode_##name(struct dctx *d, struct insn *i)                                  \
	{                                                                                          \
		return decode_btx(d, i, name##_tab);                                               \
	}
DECBT(bt)
DECBT(bts)
DECBT(btr)
DECBT(btc)

/* ---- one-source counting instructions: r1 = dst, r2/mem = src ---- */

static ALWAYS_INLINE uint64_t src_op(struct cpu *c, const struct insn *i)
{
	return (i->flags & INSN_MEM) ? load_op(c, i, i->osz) : reg_get(c, i->r2, i->osz);
}

/* BSF/BSR: a zero source sets ZF and leaves the destination unchanged (as
 * AMD documents and Intel processors do); CF OF SF AF PF are undefined. */
static const struct insn *op_bsf(struct cpu *c, const struct insn *i)
{
	uint64_t s = src_op(c, i);
	cc_set_resco(c, i->osz, s, false, false);
	if (s)
		reg_set(c, i->r1, i->osz, (uint64_t)__builtin_ctzll(s));
	NEXT(c, i);
}

static const struct insn *op_bsr(struct cpu *c, const struct insn *i)
{
	uint64_t s = src_op(c, i);
	cc_set_resco(c, i->osz, s, false, false);
	if (s)
		reg_set(c, i->r1, i->osz, 63 - (uint64_t)__builtin_clzll(s));
	NEXT(c, i);
}

/* LZCNT/TZCNT: CF = (src == 0), ZF = (result == 0) */
static const struct insn *op_lzcnt(struct cpu *c, const struct insn *i)
{
	uint64_t s = src_op(c, i), r;
	unsigned bits = i->osz * 8;
	r = s ? (uint64_t)__builtin_clzll(s) - (64 - bits) : bits;
	cc_set_resco(c, i->osz, r, s == 0, false);
	reg_set(c, i->r1, i->osz, r);
	NEXT(c, i);
}

static const struct insn *op_tzcnt(struct cpu *c, const struct insn *i)
{
	uint64_t s = src_op(c, i), r;
	r = s ? (uint64_t)__builtin_ctzll(s) : i->osz * 8u;
	cc_set_resco(c, i->osz, r, s == 0, false);
	reg_set(c, i->r1, i->osz, r);
	NEXT(c, i);
}

/* POPCNT: ZF = (src == 0), the other arithmetic flags cleared */
static const struct insn *op_popcnt(struct cpu *c, const struct insn *i)
{
	uint64_t s = src_op(c, i);
	c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | (s ? 0 : FL_ZF);
	c->cc_op = CC_EFLAGS;
	reg_set(c, i->r1, i->osz, (uint64_t)__builtin_popcountll(s));
	NEXT(c, i);
}

/* dst = op0 (register), src = op[k] (register or memory) */
static bool decode_dst_src(struct dctx *d, struct insn *i, unsigned k, insn_fn fn)
{
	unsigned size, s2;
	int r = dreg(d->op[0].reg.value, &size);

	if (r < 0)
		return false;
	i->r1 = (uint8_t)r;
	if (dop_is_reg(&d->op[k])) {
		int r2 = dreg(d->op[k].reg.value, &s2);
		if (r2 < 0)
			return false;
		i->r2 = (uint8_t)r2;
	} else if (!dop_is_mem(&d->op[k]) || !dmem(d, &d->op[k], i)) {
		return false;
	}
	i->osz = (uint8_t)size;
	i->fn = fn;
	return true;
}

static bool decode_bsf(struct dctx *d, struct insn *i)
{
	return decode_dst_src(d, i, 1, op_bsf);
}
static bool decode_bsr(struct dctx *d, struct insn *i)
{
	return decode_dst_src(d, i, 1, op_bsr);
}
static bool decode_lzcnt(struct dctx *d, struct insn *i)
{
	return decode_dst_src(d, i, 1, op_lzcnt);
}
static bool decode_tzcnt(struct dctx *d, struct insn *i)
{
	return decode_dst_src(d, i, 1, op_tzcnt);
}
static bool decode_popcnt(struct dctx *d, struct insn *i)
{
	return decode_dst_src(d, i, 1, op_popcnt);
}

/* ---- BMI1 / BMI2: r1 = dst, r2/mem = the r/m source, aux = the VEX.vvvv register ---- */

enum { X_ANDN, X_BLSI, X_BLSMSK, X_BLSR, X_BEXTR, X_BZHI, X_PDEP, X_PEXT };

static uint64_t pdep64(uint64_t s, uint64_t m)
{
	uint64_t r = 0;
	for (uint64_t b = 1; m; b <<= 1) {
		uint64_t low = m & -m;
		if (s & b)
			r |= low;
		m &= m - 1;
	}
	return r;
}

static uint64_t pext64(uint64_t s, uint64_t m)
{
	uint64_t r = 0;
	for (uint64_t b = 1; m; b <<= 1) {
		uint64_t low = m & -m;
		if (s & low)
			r |= b;
		m &= m - 1;
	}
	return r;
}

static const struct insn *op_bmi(struct cpu *c, const struct insn *i)
{
	unsigned size = i->osz, bits = size * 8;
	uint64_t b = src_op(c, i), a = reg_get(c, i->aux, size), m = size_mask(size), r;

	switch (i->aux2) {
	case X_ANDN:
		r = ~a & b & m;
		c->cc_op = CC_OP(CC_LOGIC, szlog(size));
		c->cc_res = r;
		break;
	case X_BLSI:
		r = (0 - b) & b & m;
		cc_set_resco(c, size, r, b != 0, false);
		break;
	case X_BLSMSK:
		r = ((b - 1) ^ b) & m;
		cc_set_resco(c, size, r, b == 0, false);
		break;
	case X_BLSR:
		r = (b - 1) & b & m;
		cc_set_resco(c, size, r, b == 0, false);
		break;
	case X_BEXTR: {
		unsigned start = a & 0xff, len = (a >> 8) & 0xff;
		r = start < bits ? b >> start : 0;
		if (len < 64)
			r &= (1ull << len) - 1;
		/* ZF by the result, CF = OF = 0; AF SF PF are undefined (SDM): both
		 * vendors clear SF (the result is zero-extended) and set PF by the
		 * result; AMD sets AF, Intel clears it (cpu/README.md) */
		c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | (r ? 0 : FL_ZF) |
			    (__builtin_parity((unsigned)(r & 0xff)) ? 0 : FL_PF) |
			    ((c->vflags & VB_BEXTR_AF) ? FL_AF : 0);
		c->cc_op = CC_EFLAGS;
		break;
	}
	case X_BZHI: {
		unsigned n = a & 0xff;
		r = n < bits ? b & ((1ull << n) - 1) : b;
		cc_set_resco(c, size, r, n > bits - 1, false);
		break;
	}
	case X_PDEP:
		r = pdep64(a, b) & m;
		break;
	default:
		r = pext64(a, b) & m;
		break;
	}
	reg_set(c, i->r1, size, r);
	NEXT(c, i);
}

/* rm: index of the r/m operand; vv: index of the vvvv operand (-1: none) */
static bool decode_bmi(struct dctx *d, struct insn *i, int kind, unsigned rm, int vv)
{
	unsigned size, s2;

	if (!decode_dst_src(d, i, rm, op_bmi))
		return false;
	size = i->osz;
	if (size != 4 && size != 8)
		return false;
	if (vv >= 0) {
		int r = dreg(d->op[vv].reg.value, &s2);
		if (r < 0)
			return false;
		i->aux = (uint16_t)r;
	} else {
		i->aux = GPR_ZERO;
	}
	i->aux2 = (uint32_t)kind;
	return true;
}

static bool decode_andn(struct dctx *d, struct insn *i)
{
	return decode_bmi(d, i, X_ANDN, 2, 1);
}
static bool decode_blsi(struct dctx *d, struct insn *i)
{
	return decode_bmi(d, i, X_BLSI, 1, -1);
}
static bool decode_blsmsk(struct dctx *d, struct insn *i)
{
	return decode_bmi(d, i, X_BLSMSK, 1, -1);
}
static bool decode_blsr(struct dctx *d, struct insn *i)
{
	return decode_bmi(d, i, X_BLSR, 1, -1);
}
static bool decode_bextr(struct dctx *d, struct insn *i)
{
	return d->op[2].type == ZYDIS_OPERAND_TYPE_REGISTER && decode_bmi(d, i, X_BEXTR, 1, 2);
}
static bool decode_bzhi(struct dctx *d, struct insn *i)
{
	return decode_bmi(d, i, X_BZHI, 1, 2);
}
static bool decode_pdep(struct dctx *d, struct insn *i)
{
	return decode_bmi(d, i, X_PDEP, 2, 1);
}
static bool decode_pext(struct dctx *d, struct insn *i)
{
	return decode_bmi(d, i, X_PEXT, 2, 1);
}

/* ---- ADCX (CF) / ADOX (OF): r1 += src + flag, only that flag changes ---- */

static const struct insn *op_adx(struct cpu *c, const struct insn *i)
{
	unsigned size = i->osz;
	uint64_t bit = i->aux2, a = reg_get(c, i->r1, size), b = src_op(c, i), r, cin;
	bool cout;

	cc_materialize(c);
	cin = (c->rflags & bit) != 0;
	if (size == 8) {
		r = a + b + cin;
		cout = r < a || (cin && r == a);
	} else {
		uint64_t t = a + b + cin;
		r = (uint32_t)t;
		cout = t >> 32;
	}
	c->rflags = (c->rflags & ~bit) | (cout ? bit : 0);
	reg_set(c, i->r1, size, r);
	NEXT(c, i);
}

static bool decode_adcx(struct dctx *d, struct insn *i)
{
	i->aux2 = FL_CF;
	return decode_dst_src(d, i, 1, op_adx);
}

static bool decode_adox(struct dctx *d, struct insn *i)
{
	i->aux2 = FL_OF;
	return decode_dst_src(d, i, 1, op_adx);
}

/* ---- CRC32 r32/r64, r/m8/16/32/64: CRC-32C (polynomial 11EDC6F41h), bit-reflected,
 * without the inversions (SDM vol. 2A "CRC32"); aux = source size ---- */

static uint32_t crc32c_update(uint32_t crc, uint64_t v, unsigned size)
{
	for (unsigned k = 0; k < size * 8; k++) {
		crc ^= (uint32_t)(v >> k) & 1;
		crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return crc;
}

static const struct insn *op_crc32(struct cpu *c, const struct insn *i)
{
	unsigned size = i->aux;
	uint64_t v = (i->flags & INSN_MEM) ? load_op(c, i, size) : reg_get(c, i->r2, size);
	/* a 64-bit destination gets the 32-bit result zero-extended, like a 32-bit one */
	reg_set(c, i->r1, 4, crc32c_update((uint32_t)c->gpr[i->r1], v, size));
	NEXT(c, i);
}

static bool decode_crc32(struct dctx *d, struct insn *i)
{
	unsigned dsz;
	if (!decode_dst_src(d, i, 1, op_crc32) || dreg(d->op[0].reg.value, &dsz) < 0 || dsz < 4)
		return false;
	i->aux = (uint16_t)(d->op[1].size / 8);
	return true;
}

void ops_bit_register(void)
{
	decode_register(ZYDIS_MNEMONIC_BT, decode_bt);
	decode_register(ZYDIS_MNEMONIC_BTS, decode_bts);
	decode_register(ZYDIS_MNEMONIC_BTR, decode_btr);
	decode_register(ZYDIS_MNEMONIC_BTC, decode_btc);
	decode_register(ZYDIS_MNEMONIC_BSF, decode_bsf);
	decode_register(ZYDIS_MNEMONIC_BSR, decode_bsr);
	decode_register(ZYDIS_MNEMONIC_LZCNT, decode_lzcnt);
	decode_register(ZYDIS_MNEMONIC_TZCNT, decode_tzcnt);
	decode_register(ZYDIS_MNEMONIC_POPCNT, decode_popcnt);
	decode_register(ZYDIS_MNEMONIC_ANDN, decode_andn);
	decode_register(ZYDIS_MNEMONIC_BLSI, decode_blsi);
	decode_register(ZYDIS_MNEMONIC_BLSMSK, decode_blsmsk);
	decode_register(ZYDIS_MNEMONIC_BLSR, decode_blsr);
	decode_register(ZYDIS_MNEMONIC_BEXTR, decode_bextr);
	decode_register(ZYDIS_MNEMONIC_BZHI, decode_bzhi);
	decode_register(ZYDIS_MNEMONIC_PDEP, decode_pdep);
	decode_register(ZYDIS_MNEMONIC_PEXT, decode_pext);
	decode_register(ZYDIS_MNEMONIC_ADCX, decode_adcx);
	decode_register(ZYDIS_MNEMONIC_ADOX, decode_adox);
	decode_register(ZYDIS_MNEMONIC_CRC32, decode_crc32);
	/* what the JIT can emit inline (cpu/jit/) */
	jit_describe(op_bsf, JK_BSF, 0, 0);
	jit_describe(op_bsr, JK_BSF, 1, 0);
	jit_describe(op_tzcnt, JK_BSF, 2, 0);
	jit_describe(op_bt_ri, JK_BT, 0, 0);
	jit_describe(op_bt_rr, JK_BT, 1, 0);
	jit_describe(op_bt_mi, JK_BT, 2, 0);
}
