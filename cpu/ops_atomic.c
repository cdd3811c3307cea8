/* SPDX-License-Identifier: MIT */
/*
 * CMPXCHG, CMPXCHG8B, CMPXCHG16B, XADD. LOCK forms are atomic on host
 * memory (DESIGN.md); CMPXCHG8B/16B always are. SDM vol. 2A "CMPXCHG": a
 * memory destination is written whether or not the comparison succeeds (the
 * old value on failure), so a read-only destination faults either way; the
 * accumulator is written only on failure.
 */
#include "decode.h"
#include "ops_int.h"
#include "jit/jit.h"

/* flags of CMP acc, dest */
static ALWAYS_INLINE void cc_cmp(struct cpu *c, unsigned size, uint64_t a, uint64_t d)
{
	c->cc_op = CC_OP(CC_SUB, szlog(size));
	c->cc_res = a - d;
	c->cc_aux = a;
	c->cc_src = d;
}

/* accumulator register (byte offset 0 = AL for size 1) */
#define ACC 0

static const struct insn *op_cmpxchg_rr(struct cpu *c, const struct insn *i)
{
	unsigned size = i->osz;
	uint64_t a = reg_get(c, ACC, size), d = reg_get(c, i->r1, size);

	cc_cmp(c, size, a, d);
	/* a register destination is written only on success (a 32-bit one is
	 * not zero-extended on failure), as Intel and AMD processors do */
	if (a == d)
		reg_set(c, i->r1, size, reg_get(c, i->r2, size));
	else
		reg_set(c, ACC, size, d);
	NEXT(c, i);
}

static ALWAYS_INLINE void cmpxchg_mem(struct cpu *c, const struct insn *i, bool locked)
{
	unsigned size = i->osz;
	uint64_t la = insn_la(c, i, size, ACC_W), a = reg_get(c, ACC, size);
	uint64_t s = reg_get(c, i->r2, size), d;
	void *p = locked ? mem_rmw_ptr(c, la, size) : rmw_fast(c, la, size);

	if (likely(p != NULL)) {
		if (locked) {
			bool ok;
			d = cas_n(p, size, a, s, &ok);
		} else {
			d = ld_n(p, size);
			if (d == a)
				st_n(p, size, s);
		}
	} else {
		d = rmw_slow_read(c, la, size);
		mem_write(c, la, size, d == a ? s : d);
	}
	cc_cmp(c, size, a, d);
	if (d != a)
		reg_set(c, ACC, size, d);
}

static const struct insn *op_cmpxchg_m(struct cpu *c, const struct insn *i)
{
	cmpxchg_mem(c, i, false);
	NEXT(c, i);
}

static const struct insn *op_cmpxchg_lm(struct cpu *c, const struct insn *i)
{
	cmpxchg_mem(c, i, true);
	NEXT(c, i);
}

/* r/m, r forms shared by CMPXCHG and XADD: r1 = dst register, r2 = src register */
static bool decode_rm_r(struct dctx *d, struct insn *i, insn_fn rr, insn_fn m, insn_fn lm)
{
	const ZydisDecodedOperand *o0 = &d->op[0];
	unsigned size, s2;
	int r2 = dreg(d->op[1].reg.value, &s2);

	if (r2 < 0)
		return false;
	i->r2 = (uint8_t)r2;
	if (dop_is_reg(o0)) {
		int r = dreg(o0->reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
		i->fn = rr;
	} else {
		if (!dmem(d, o0, i))
			return false;
		size = o0->size / 8;
		i->fn = (i->flags & INSN_LOCK) ? lm : m;
	}
	i->osz = (uint8_t)size;
	return true;
}

static bool decode_cmpxchg(struct dctx *d, struct insn *i)
{
	return decode_rm_r(d, i, op_cmpxchg_rr, op_cmpxchg_m, op_cmpxchg_lm);
}

/* ---- CMPXCHG8B / CMPXCHG16B m: rDX:rAX vs. memory, rCX:rBX stored ---- */

static ALWAYS_INLINE void set_zf(struct cpu *c, bool zf)
{
	cc_materialize(c);
	c->rflags = (c->rflags & ~(uint64_t)FL_ZF) | (zf ? FL_ZF : 0);
}

static const struct insn *op_cmpxchg8b(struct cpu *c, const struct insn *i)
{
	uint64_t la = insn_la(c, i, 8, ACC_W), *g = c->gpr;
	uint64_t a = (g[REG_RAX] & 0xffffffffull) | (g[REG_RDX] << 32);
	uint64_t s = (g[REG_RBX] & 0xffffffffull) | (g[REG_RCX] << 32), d;
	void *p = mem_rmw_ptr(c, la, 8);
	bool ok;

	if (likely(p != NULL)) {
		d = cas_n(p, 8, a, s, &ok);
	} else {
		d = rmw_slow_read(c, la, 8);
		ok = d == a;
		mem_write(c, la, 8, ok ? s : d);
	}
	set_zf(c, ok);
	if (!ok) {
		g[REG_RAX] = (uint32_t)d;
		g[REG_RDX] = d >> 32;
	}
	NEXT(c, i);
}

static bool cas16(void *p, uint64_t *lo, uint64_t *hi, uint64_t nlo, uint64_t nhi)
{
	bool ok;
	__asm__ volatile("lock cmpxchg16b %1"
			 : "=@ccz"(ok), "+m"(*(volatile unsigned __int128 *)p), "+a"(*lo), "+d"(*hi)
			 : "b"(nlo), "c"(nhi)
			 : "memory");
	return ok;
}

static const struct insn *op_cmpxchg16b(struct cpu *c, const struct insn *i)
{
	uint64_t la = insn_la(c, i, 16, ACC_W), *g = c->gpr;
	uint64_t lo = g[REG_RAX], hi = g[REG_RDX];
	void *p;
	bool ok;

	if (la & 15) /* SDM: #GP(0) if not aligned on a 16-byte boundary */
		cpu_raise(c, EXC_GP, 0);
	p = mem_rmw_ptr(c, la, 16);
	if (likely(p != NULL)) {
		ok = cas16(p, &lo, &hi, g[REG_RBX], g[REG_RCX]);
	} else {
		uint64_t dlo = rmw_slow_read(c, la, 8), dhi = mem_read(c, la + 8, 8);
		mem_probe_write(c, la + 8, 8);
		ok = dlo == lo && dhi == hi;
		mem_write(c, la, 8, ok ? g[REG_RBX] : dlo);
		mem_write(c, la + 8, 8, ok ? g[REG_RCX] : dhi);
		lo = dlo;
		hi = dhi;
	}
	set_zf(c, ok);
	if (!ok) {
		g[REG_RAX] = lo;
		g[REG_RDX] = hi;
	}
	NEXT(c, i);
}

static bool decode_cmpxchg8b(struct dctx *d, struct insn *i)
{
	if (!dop_is_mem(&d->op[0]) || !dmem(d, &d->op[0], i))
		return false;
	i->fn = op_cmpxchg8b;
	return true;
}

static bool decode_cmpxchg16b(struct dctx *d, struct insn *i)
{
	if (!dop_is_mem(&d->op[0]) || !dmem(d, &d->op[0], i))
		return false;
	i->fn = op_cmpxchg16b;
	return true;
}

/* ---- XADD r/m, r: TEMP = SRC + DEST; SRC = DEST; DEST = TEMP ---- */

static ALWAYS_INLINE void cc_add(struct cpu *c, unsigned size, uint64_t a, uint64_t b)
{
	c->cc_op = CC_OP(CC_ADD, szlog(size));
	c->cc_res = a + b;
	c->cc_aux = a;
	c->cc_src = b;
}

static const struct insn *op_xadd_rr(struct cpu *c, const struct insn *i)
{
	unsigned size = i->osz;
	uint64_t d = reg_get(c, i->r1, size), s = reg_get(c, i->r2, size);

	cc_add(c, size, d, s);
	reg_set(c, i->r2, size, d);
	reg_set(c, i->r1, size, d + s);
	NEXT(c, i);
}

static ALWAYS_INLINE uint64_t atomic_fadd(void *p, unsigned size, uint64_t v)
{
	switch (size) {
	case 1:
		return __atomic_fetch_add((uint8_t *)p, (uint8_t)v, __ATOMIC_SEQ_CST);
	case 2:
		return __atomic_fetch_add((uint16_t *)p, (uint16_t)v, __ATOMIC_SEQ_CST);
	case 4:
		return __atomic_fetch_add((uint32_t *)p, (uint32_t)v, __ATOMIC_SEQ_CST);
	default:
		return __atomic_fetch_add((uint64_t *)p, v, __ATOMIC_SEQ_CST);
	}
}

static ALWAYS_INLINE void xadd_mem(struct cpu *c, const struct insn *i, bool locked)
{
	unsigned size = i->osz;
	uint64_t la = insn_la(c, i, size, ACC_W), s = reg_get(c, i->r2, size), d;
	void *p = locked ? mem_rmw_ptr(c, la, size) : rmw_fast(c, la, size);

	if (likely(p != NULL)) {
		if (locked) {
			d = atomic_fadd(p, size, s);
		} else {
			d = ld_n(p, size);
			st_n(p, size, d + s);
		}
	} else {
		d = rmw_slow_read(c, la, size);
		mem_write(c, la, size, d + s);
	}
	cc_add(c, size, d, s);
	reg_set(c, i->r2, size, d);
}

static const struct insn *op_xadd_m(struct cpu *c, const struct insn *i)
{
	xadd_mem(c, i, false);
	NEXT(c, i);
}

static const struct insn *op_xadd_lm(struct cpu *c, const struct insn *i)
{
	xadd_mem(c, i, true);
	NEXT(c, i);
}

static bool decode_xadd(struct dctx *d, struct insn *i)
{
	return decode_rm_r(d, i, op_xadd_rr, op_xadd_m, op_xadd_lm);
}

void ops_atomic_register(void)
{
	decode_register(ZYDIS_MNEMONIC_CMPXCHG, decode_cmpxchg);
	decode_register(ZYDIS_MNEMONIC_CMPXCHG8B, decode_cmpxchg8b);
	decode_register(ZYDIS_MNEMONIC_CMPXCHG16B, decode_cmpxchg16b);
	decode_register(ZYDIS_MNEMONIC_XADD, decode_xadd);
	/* what the JIT can emit inline (cpu/jit/): the host's CMPXCHG */
	jit_describe(op_cmpxchg_m, JK_CMPXCHG_M, 0, 0);
	jit_describe(op_cmpxchg_lm, JK_CMPXCHG_M, 1, 0);
}
