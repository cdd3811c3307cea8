/* SPDX-License-Identifier: MIT */
/*
 * Random case generator for the differential test: sequences of user-mode
 * integer instructions, hand-encoded (every legacy/REX/VEX form we want to
 * reach, prefixes in random order) and checked with the Zydis decoder.
 *
 * The generator tracks what it must know to keep a case safe and comparable:
 * which registers hold known values (pointers for memory operands, counts,
 * divisors), the direction flag, the stack pointer, and which arithmetic
 * flags are undefined at each instruction boundary (SDM "Flags Affected";
 * AMD/Intel differences count as undefined). An instruction that reads an
 * undefined flag is preceded by a CMP that defines them all. Memory operands
 * stay inside the data area unless a fault is wanted on purpose.
 */
#include <string.h>
#include <Zydis/Zydis.h>

#include "difftest.h"

#define RIP_BASE 16 /* mop.base value meaning RIP-relative */
#define R_SP	 4
#define R_AH	 16 /* 8-bit register numbers 16..19 = AH CH DH BH */

/* ---- random numbers ---- */

struct rng {
	uint64_t s;
};

static uint64_t rnext(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* cheaper, for bulk data */
static uint64_t rfast(uint64_t *s)
{
	uint64_t a = (*s += 0xa0761d6478bd642full);
	__uint128_t m = (__uint128_t)a * (a ^ 0xe7037ed1a0b428dbull);
	return (uint64_t)(m >> 64) ^ (uint64_t)m;
}

void dt_fill_data(uint8_t *buf, uint64_t seed, uint32_t mode)
{
	struct rng r = { seed };
	uint64_t *w = (uint64_t *)buf, fs = seed;

	switch (mode) {
	case 0: /* random */
		for (unsigned k = 0; k < DT_DATA_SIZE / 8; k++)
			w[k] = rfast(&fs);
		break;
	case 1: /* few distinct bytes: long equal runs for CMPS/SCAS */
		for (unsigned k = 0; k < DT_DATA_SIZE / 8; k++) {
			uint64_t v = rfast(&fs), x = 0;
			for (int b = 0; b < 8; b++)
				x |= (uint64_t)(((v >> (8 * b)) & 0x7) == 0 ? 0xff : ((v >> (8 * b)) & 0x30) ? 0 : 1) << (8 * b);
			w[k] = x;
		}
		break;
	default: { /* a repeated random 64-byte pattern */
		uint64_t pat[8];
		for (int k = 0; k < 8; k++)
			pat[k] = rnext(&r);
		for (unsigned k = 0; k < DT_DATA_SIZE / 8; k++)
			w[k] = pat[k & 7];
		break;
	}
	}
}

/* ---- encoder ---- */

struct mop {
	int base, index; /* -1 none; base RIP_BASE = RIP-relative */
	int scale;	 /* 0..3 */
	int64_t disp;	 /* RIP-relative: the absolute target */
	bool a32;
	uint8_t seg;	/* segment prefix byte or 0 */
	int dispsz;	/* 0 auto, 4 force disp32 */
};

struct enc {
	uint8_t pfx[6];
	int npfx;
	bool w, rex40;
	int map; /* 0 one-byte, 1 0F, 2 0F38, 3 0F3A */
	uint8_t op;
	int opreg; /* -1 or the register of a +r opcode */
	bool modrm;
	bool reg_is_reg;
	int reg; /* ModRM.reg: register or /digit */
	bool rm_mem;
	int rm_reg;
	struct mop m;
	bool byte_regs; /* registers are 8-bit (4..7 = SPL..DIL, 16..19 = AH..BH) */
	uint64_t imm;
	int immsz;
	uint64_t imm2;
	int imm2sz;
	bool vex;
	int vex_pp, vex_vvvv, vex_l;
	bool vex3; /* force the 3-byte form */
	bool m32;  /* 32-bit code: no REX, no RIP-relative */
};

static void enc_init(struct enc *e)
{
	memset(e, 0, sizeof(*e));
	e->opreg = -1;
	e->m.base = e->m.index = -1;
}

static int regbits(int r, bool byte, bool *need, bool *forbid)
{
	if (byte) {
		if (r >= R_AH) {
			*forbid = true;
			return r - R_AH + 4;
		}
		if (r >= 4 && r <= 7)
			*need = true;
	}
	return r;
}

static bool fits8(int64_t v)
{
	return v >= -128 && v <= 127;
}

static bool fits32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

static int encode(const struct enc *e, uint64_t addr, uint8_t *o)
{
	bool need = e->rex40, forbid = false;
	int rr = 0, rx = 0, rb = 0, n = 0, disp_at = -1, dsz = 0, mod = 0, rm = 0, sib = -1;
	int reg = 0;
	int64_t disp = 0;

	if (e->modrm) {
		reg = e->reg_is_reg ? regbits(e->reg, e->byte_regs, &need, &forbid) : e->reg;
		rr = (reg >> 3) & 1;
		if (!e->rm_mem) {
			int r = regbits(e->rm_reg, e->byte_regs, &need, &forbid);
			mod = 3;
			rm = r & 7;
			rb = r >> 3;
		} else {
			const struct mop *m = &e->m;
			if (m->index == R_SP)
				return -1;
			if (m->base == RIP_BASE) {
				if (m->index >= 0 || e->m32)
					return -1;
				mod = 0;
				rm = 5;
				dsz = 4;
			} else if (m->base < 0) {
				rm = 4;
				sib = (m->scale << 6) | ((m->index < 0 ? 4 : m->index & 7) << 3) | 5;
				rx = m->index > 0 ? m->index >> 3 : 0;
				mod = 0;
				dsz = 4;
				disp = m->disp;
			} else {
				int b = m->base;
				disp = m->disp;
				if (m->dispsz == 4 || !fits8(disp))
					dsz = 4;
				else if (disp == 0 && (b & 7) != 5)
					dsz = 0;
				else
					dsz = 1;
				mod = dsz == 0 ? 0 : dsz == 1 ? 1 : 2;
				if (m->index >= 0 || (b & 7) == 4) {
					rm = 4;
					sib = (m->scale << 6) | ((m->index < 0 ? 4 : m->index & 7) << 3) |
					      (b & 7);
					rx = m->index > 0 ? m->index >> 3 : 0;
				} else {
					rm = b & 7;
				}
				rb = b >> 3;
			}
			if (!fits32(disp) && !m->a32)
				return -1;
		}
	}
	if (e->opreg >= 0) {
		int r = regbits(e->opreg, e->byte_regs, &need, &forbid);
		rb = r >> 3;
	}
	if (e->modrm && e->rm_mem) {
		if (e->m.seg)
			o[n++] = e->m.seg;
		if (e->m.a32)
			o[n++] = 0x67;
	}
	for (int k = 0; k < e->npfx; k++)
		o[n++] = e->pfx[k];
	if (e->vex) {
		int mmmmm = e->map == 1 ? 1 : e->map == 2 ? 2 : 3;
		if (!e->vex3 && !e->w && !rx && !rb && mmmmm == 1) {
			o[n++] = 0xc5;
			o[n++] = (uint8_t)((!rr << 7) | ((~e->vex_vvvv & 15) << 3) | (e->vex_l << 2) |
					   e->vex_pp);
		} else {
			o[n++] = 0xc4;
			o[n++] = (uint8_t)((!rr << 7) | (!rx << 6) | (!rb << 5) | mmmmm);
			o[n++] = (uint8_t)((e->w << 7) | ((~e->vex_vvvv & 15) << 3) | (e->vex_l << 2) |
					   e->vex_pp);
		}
	} else {
		if (need || e->w || rr || rx || rb) {
			if (forbid || e->m32)
				return -1;
			o[n++] = (uint8_t)(0x40 | (e->w << 3) | (rr << 2) | (rx << 1) | rb);
		}
		if (e->map >= 1)
			o[n++] = 0x0f;
		if (e->map == 2)
			o[n++] = 0x38;
		if (e->map == 3)
			o[n++] = 0x3a;
	}
	o[n++] = (uint8_t)(e->op | (e->opreg >= 0 ? (e->opreg & 7) : 0));
	if (e->opreg >= 0 && e->byte_regs && e->opreg >= R_AH)
		o[n - 1] = (uint8_t)(e->op | (e->opreg - R_AH + 4));
	if (e->modrm) {
		o[n++] = (uint8_t)((mod << 6) | ((reg & 7) << 3) | rm);
		if (sib >= 0)
			o[n++] = (uint8_t)sib;
		if (dsz) {
			disp_at = n;
			for (int k = 0; k < dsz; k++)
				o[n++] = (uint8_t)((uint64_t)disp >> (8 * k));
		}
	}
	for (int k = 0; k < e->immsz; k++)
		o[n++] = (uint8_t)(e->imm >> (8 * k));
	for (int k = 0; k < e->imm2sz; k++)
		o[n++] = (uint8_t)(e->imm2 >> (8 * k));
	if (e->modrm && e->rm_mem && e->m.base == RIP_BASE) {
		int64_t d = (int64_t)((uint64_t)e->m.disp - (addr + (uint64_t)n));
		if (!e->m.a32 && !fits32(d))
			return -1;
		for (int k = 0; k < 4; k++)
			o[disp_at + k] = (uint8_t)((uint64_t)d >> (8 * k));
	}
	return n > 15 ? -1 : n;
}

/* ---- generator state ---- */

struct eff {
	unsigned def, undef, reads; /* DTF_* masks */
	bool stackop;		    /* may write RSP */
	bool no_memcheck;	    /* memory operand checked by the caller (or not accessed) */
	bool fault_ok;		    /* a fault is expected: skip the safety checks */
};

struct gen {
	struct rng r;
	struct dt_case *tc;
	ZydisDecoder dec;
	bool known[16];
	uint64_t val[16];
	bool df;
	unsigned undef;
	int in_cond;	/* inside a block a branch may skip */
	bool stop;	/* a certain fault was emitted */
	uint64_t recent[8];
	unsigned nrecent;
	bool m32; /* compatibility mode (32-bit code) */
};

static uint64_t rnd(struct gen *g)
{
	return rnext(&g->r);
}

static unsigned rndn(struct gen *g, unsigned n)
{
	return (unsigned)(rnd(g) % n);
}

static bool chance(struct gen *g, unsigned pct)
{
	return rndn(g, 100) < pct;
}

static uint64_t szmask(unsigned size)
{
	return size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

/* interesting values */
static uint64_t rval(struct gen *g)
{
	static const uint64_t special[] = {
		0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff,
		0x80000000, 0xffffffff, 0x100000000ull, 0x7fffffffffffffffull, 0x8000000000000000ull,
		~0ull, ~0ull - 1, 0x5555555555555555ull, 0xaaaaaaaaaaaaaaaaull,
	};
	switch (rndn(g, 8)) {
	case 0: return special[rndn(g, sizeof(special) / sizeof(special[0]))];
	case 1: return (uint64_t)(int64_t)(int)(rndn(g, 601) - 300);
	case 2: return (1ull << rndn(g, 64)) + (uint64_t)(int64_t)(int)(rndn(g, 3) - 1);
	case 3: return rnd(g) & 0xff;
	case 4: return rnd(g) & 0xffffffffull;
	case 5: return (uint64_t)(int64_t)(int32_t)rnd(g);
	default: return rnd(g);
	}
}

static const unsigned sizes4[] = { 1, 2, 4, 8 };

static unsigned pick_size(struct gen *g, unsigned mask)
{
	if (g->m32)
		mask = (mask & ~8u) ? mask & ~8u : 4;
	for (;;) {
		unsigned s = sizes4[rndn(g, 4)];
		if (mask & s)
			return s;
	}
}

/* a register for an operand of size; writable: never RSP (or SPL) */
static int pick_reg(struct gen *g, unsigned size, bool writable)
{
	for (;;) {
		int r = (size == 1 && chance(g, 20)) ? R_AH + (int)rndn(g, 4) : (int)rndn(g, 16);
		if (g->m32)
			r = size == 1 ? (chance(g, 40) ? R_AH : 0) + (int)rndn(g, 4) : (int)rndn(g, 8);
		if (writable && r == R_SP)
			continue;
		return r;
	}
}

static int full_reg(int r)
{
	return r >= R_AH ? r - R_AH : r;
}

/* ---- emitting ---- */

static int zreg_full(ZydisRegister z)
{
	ZydisRegister l = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, z);
	if (l >= ZYDIS_REGISTER_RAX && l <= ZYDIS_REGISTER_R15)
		return l - ZYDIS_REGISTER_RAX;
	return -1;
}

static bool code_full(struct gen *g)
{
	return g->tc->len + 48 > DT_CODE_MAX || g->tc->ninsns + 4 > DT_MAX_INSNS;
}

/* address of a decoded explicit memory operand if all its registers are known */
static bool mem_addr(struct gen *g, const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *o,
		     uint64_t next, uint64_t *out)
{
	uint64_t a = (uint64_t)o->mem.disp.value;
	if (o->mem.segment == ZYDIS_REGISTER_FS)
		return false;
	if (o->mem.base == ZYDIS_REGISTER_RIP || o->mem.base == ZYDIS_REGISTER_EIP) {
		a += next;
	} else if (o->mem.base != ZYDIS_REGISTER_NONE) {
		int b = zreg_full(o->mem.base);
		if (b < 0 || !g->known[b])
			return false;
		a += g->val[b];
	}
	if (o->mem.index != ZYDIS_REGISTER_NONE) {
		int x = zreg_full(o->mem.index);
		if (x < 0 || !g->known[x])
			return false;
		a += g->val[x] * o->mem.scale;
	}
	if (zi->address_width == 32)
		a &= 0xffffffffull;
	*out = a;
	return true;
}

static bool emit_raw(struct gen *g, const uint8_t *buf, int len, const struct eff *f);
static void normalize(struct gen *g);

static bool emit(struct gen *g, const struct enc *e, const struct eff *f)
{
	uint8_t buf[32];
	int len;

	if (g->stop || code_full(g))
		return false;
	if (f->reads & g->undef)
		normalize(g);
	{
		struct enc e2 = *e;
		e2.m32 = g->m32;
		len = encode(&e2, DT_CODE_VA + g->tc->len, buf);
	}
	if (len < 0)
		return false;
	return emit_raw(g, buf, len, f);
}

static bool emit_raw(struct gen *g, const uint8_t *buf, int len, const struct eff *f)
{
	struct dt_case *tc = g->tc;
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	bool ok;

	if (g->stop || code_full(g))
		return false;
	ok = ZYAN_SUCCESS(ZydisDecoderDecodeFull(&g->dec, buf, (ZyanUSize)len, &zi, ops)) &&
	     zi.length == len;
	if (!ok && !f->fault_ok)
		return false;
	if (ok && !f->fault_ok) {
		uint64_t next = DT_CODE_VA + tc->len + (uint64_t)len;
		for (unsigned k = 0; k < zi.operand_count; k++) {
			const ZydisDecodedOperand *o = &ops[k];
			if (o->type == ZYDIS_OPERAND_TYPE_REGISTER && (o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
			    zreg_full(o->reg.value) == R_SP && !f->stackop)
				return false;
			if (o->type == ZYDIS_OPERAND_TYPE_MEMORY && o->visibility == ZYDIS_OPERAND_VISIBILITY_EXPLICIT &&
			    o->mem.type == ZYDIS_MEMOP_TYPE_MEM && !f->no_memcheck) {
				uint64_t a;
				unsigned sz = o->size / 8;
				if (!mem_addr(g, &zi, o, next, &a))
					return false;
				if (a < DT_DATA_VA || a + sz > DT_DATA_VA + DT_DATA_SIZE)
					return false;
			}
		}
	}
	tc->off[tc->ninsns] = (uint16_t)tc->len;
	tc->undef[tc->ninsns] = (uint8_t)g->undef;
	tc->ninsns++;
	memcpy(tc->code + tc->len, buf, (size_t)len);
	tc->len += (uint32_t)len;
	if (ok) {
		for (unsigned k = 0; k < zi.operand_count; k++) {
			const ZydisDecodedOperand *o = &ops[k];
			if (o->type == ZYDIS_OPERAND_TYPE_REGISTER &&
			    (o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)) {
				int r = zreg_full(o->reg.value);
				if (r >= 0 && r != R_SP)
					g->known[r] = false;
			}
		}
	}
	g->undef = (g->undef & ~(f->def | f->undef)) | f->undef;
	return true;
}

static const struct eff NOFLAGS = { 0 };

/* mov r64, v (shortest form, sometimes a longer one) */
static bool set_reg(struct gen *g, int r, uint64_t v)
{
	struct enc e;
	enc_init(&e);
	if (r == R_SP)
		return false;
	if (g->m32)
		v = (uint32_t)v;
	if (v <= 0xffffffffull && (chance(g, 80) || g->m32)) {
		e.op = 0xb8;
		e.opreg = r;
		e.imm = v;
		e.immsz = 4;
	} else if (fits32((int64_t)v) && chance(g, 80)) {
		e.w = true;
		e.op = 0xc7;
		e.modrm = true;
		e.reg = 0;
		e.rm_reg = r;
		e.imm = v;
		e.immsz = 4;
	} else {
		e.w = true;
		e.op = 0xb8;
		e.opreg = r;
		e.imm = v;
		e.immsz = 8;
	}
	if (!emit(g, &e, &NOFLAGS))
		return false;
	g->known[r] = true;
	g->val[r] = v;
	return true;
}

/* define all arithmetic flags: CMP r/m, imm or CMP r, r */
static void normalize(struct gen *g)
{
	struct enc e;
	struct eff f = { .def = DTF_ALL };
	enc_init(&e);
	e.modrm = true;
	e.rm_reg = (int)rndn(g, g->m32 ? 8 : 16);
	if (chance(g, 50)) {
		e.w = chance(g, 50) && !g->m32;
		e.op = 0x83;
		e.reg = 7;
		e.imm = rnd(g) & 0xff;
		e.immsz = 1;
	} else {
		e.w = chance(g, 50) && !g->m32;
		e.op = 0x39;
		e.reg_is_reg = true;
		e.reg = (int)rndn(g, g->m32 ? 8 : 16);
	}
	{
		unsigned u = g->undef;
		g->undef = 0; /* avoid recursion in emit() */
		if (!emit(g, &e, &f))
			g->undef = u;
	}
}

/* ---- memory operands ---- */

static uint64_t pick_target(struct gen *g, unsigned size)
{
	uint64_t lo = 16, hi = DT_DATA_SIZE - size - 16, off;
	if (g->nrecent && chance(g, 30)) {
		off = g->recent[rndn(g, g->nrecent)] - DT_DATA_VA + (uint64_t)(int)(rndn(g, 9) - 4);
		if (off < lo || off > hi)
			off = lo;
	} else {
		switch (rndn(g, 5)) {
		case 0: /* across a page boundary */
			off = 0x1000 * (1 + rndn(g, 3)) - rndn(g, 16);
			break;
		case 1: /* aligned */
			off = (lo + rndn(g, (unsigned)(hi - lo))) & ~(uint64_t)(size - 1);
			break;
		default:
			off = lo + rndn(g, (unsigned)(hi - lo));
			break;
		}
		if (off < lo)
			off = lo;
		if (off > hi)
			off = hi;
	}
	uint64_t t = DT_DATA_VA + off;
	g->recent[g->nrecent < 8 ? g->nrecent++ : rndn(g, 8)] = t;
	return t;
}

static const uint8_t segpfx[] = { 0x65, 0x3e, 0x26, 0x36, 0x2e };

/* a memory operand whose effective address is ea (any value) */
static void pick_mem_at(struct gen *g, struct mop *m, uint64_t ea, bool allow_rip)
{
	memset(m, 0, sizeof(*m));
	m->base = m->index = -1;
	if (chance(g, 10))
		m->seg = segpfx[rndn(g, sizeof(segpfx))];
	if (chance(g, 10))
		m->dispsz = 4;
	if (g->m32) {
		int b = (int)rndn(g, 8), x = (int)rndn(g, 8), s = (int)rndn(g, 4);
		uint64_t a = ea;
		if (g->known[b] && chance(g, 75)) {
			m->base = b;
			a -= g->val[b];
			if (g->known[x] && x != R_SP && chance(g, 50)) {
				m->index = x;
				m->scale = s;
				a -= g->val[x] << s;
			}
		}
		m->disp = (int32_t)(uint32_t)a;
		return;
	}
	for (int tries = 0; tries < 12; tries++) {
		int form = (int)rndn(g, 6);
		int b = (int)rndn(g, 16), x = (int)rndn(g, 16), s = (int)rndn(g, 4);
		switch (form) {
		case 0: /* absolute */
			if (!fits32((int64_t)ea))
				continue;
			m->disp = (int64_t)ea;
			return;
		case 1: /* RIP-relative */
			if (!allow_rip)
				continue;
			m->base = RIP_BASE;
			m->disp = (int64_t)ea;
			return;
		case 2: /* base + disp */
			if (!g->known[b] || !fits32((int64_t)(ea - g->val[b])))
				continue;
			m->base = b;
			m->disp = (int64_t)(ea - g->val[b]);
			return;
		case 3: /* base + index * scale + disp */
			if (!g->known[b] || !g->known[x] || x == R_SP)
				continue;
			if (!fits32((int64_t)(ea - g->val[b] - (g->val[x] << s))))
				continue;
			m->base = b;
			m->index = x;
			m->scale = s;
			m->disp = (int64_t)(ea - g->val[b] - (g->val[x] << s));
			return;
		case 4: /* index * scale + disp32 */
			if (!g->known[x] || x == R_SP || !fits32((int64_t)(ea - (g->val[x] << s))))
				continue;
			m->index = x;
			m->scale = s;
			m->disp = (int64_t)(ea - (g->val[x] << s));
			return;
		default: /* 32-bit address size: everything wraps modulo 2^32 */
			if (ea > 0xffffffffull)
				continue;
			m->a32 = true;
			if (g->known[b] && chance(g, 80)) {
				m->base = b;
				if (g->known[x] && x != R_SP && chance(g, 50)) {
					m->index = x;
					m->scale = s;
				}
			}
			{
				uint64_t a = ea;
				if (m->base >= 0)
					a -= g->val[m->base];
				if (m->index >= 0)
					a -= g->val[m->index] << m->scale;
				m->disp = (int32_t)(uint32_t)a;
			}
			return;
		}
	}
	m->base = m->index = -1;
	m->a32 = false;
	m->disp = (int64_t)ea;
}

static void pick_mem(struct gen *g, struct enc *e, unsigned size)
{
	e->modrm = true;
	e->rm_mem = true;
	pick_mem_at(g, &e->m, pick_target(g, size), true);
}

/* register or memory r/m operand; writable excludes RSP */
static void pick_rm(struct gen *g, struct enc *e, unsigned size, bool writable, unsigned mem_pct)
{
	e->modrm = true;
	if (chance(g, mem_pct)) {
		pick_mem(g, e, size);
	} else {
		e->rm_mem = false;
		e->rm_reg = pick_reg(g, size, writable);
	}
}

/* operand-size prefix / REX.W for size; 8-bit needs a different opcode (caller) */
static void opsize(struct gen *g, struct enc *e, unsigned size)
{
	e->byte_regs = size == 1;
	if (size == 2)
		e->pfx[e->npfx++] = 0x66;
	if (size == 8)
		e->w = true;
	else if (size != 1 && chance(g, 5) && !g->m32)
		e->rex40 = true; /* a redundant REX */
}

/* shuffle the legacy prefixes */
static void shuffle_pfx(struct gen *g, struct enc *e)
{
	/* redundant prefixes now and then: ignored segment overrides, a second
	 * 66h, REP/REPNE on one-byte opcodes that ignore them */
	if (!e->vex && e->npfx < 4 && chance(g, 8)) {
		static const uint8_t noise[] = { 0x2e, 0x3e, 0x26, 0x36, 0x66, 0xf2, 0xf3 };
		uint8_t p = noise[rndn(g, sizeof(noise))];
		bool has66 = memchr(e->pfx, 0x66, (size_t)e->npfx) != NULL;
		if ((p == 0x66 && has66) || ((p == 0xf2 || p == 0xf3) && e->map == 0 && (e->op & 0xf8) != 0x90) ||
		    (p != 0x66 && p != 0xf2 && p != 0xf3))
			e->pfx[e->npfx++] = p;
	}
	for (int k = e->npfx - 1; k > 0; k--) {
		int j = (int)rndn(g, (unsigned)k + 1);
		uint8_t t = e->pfx[k];
		e->pfx[k] = e->pfx[j];
		e->pfx[j] = t;
	}
}

static void add_lock(struct gen *g, struct enc *e, unsigned pct)
{
	if (e->rm_mem && chance(g, pct))
		e->pfx[e->npfx++] = 0xf0;
}

static void set_imm(struct enc *e, uint64_t v, int sz)
{
	e->imm = v;
	e->immsz = sz;
}

/* ---- instruction classes ---- */

static const unsigned ALLSZ = 1 | 2 | 4 | 8, WIDE = 2 | 4 | 8;

/* ADD OR ADC SBB AND SUB XOR CMP */
static void g_alu(struct gen *g)
{
	int op = (int)rndn(g, 8);
	unsigned size = pick_size(g, ALLSZ), isz = size == 8 ? 4 : size;
	struct enc e;
	struct eff f = { .def = DTF_ALL };
	bool wr = op != 7;

	if (op == 1 || op == 4 || op == 6) { /* OR AND XOR: AF undefined */
		f.def = DTF_ALL & ~DTF_AF;
		f.undef = DTF_AF;
	}
	if (op == 2 || op == 3)
		f.reads = DTF_CF;
	enc_init(&e);
	opsize(g, &e, size);
	switch (rndn(g, 5)) {
	case 0: /* r/m, r */
		e.op = (uint8_t)(op * 8 + (size == 1 ? 0 : 1));
		pick_rm(g, &e, size, wr, 40);
		e.reg_is_reg = true;
		e.reg = pick_reg(g, size, false);
		add_lock(g, &e, wr ? 30 : 0);
		break;
	case 1: /* r, r/m */
		e.op = (uint8_t)(op * 8 + (size == 1 ? 2 : 3));
		pick_rm(g, &e, size, false, 40);
		e.reg_is_reg = true;
		e.reg = pick_reg(g, size, wr);
		break;
	case 2: /* accumulator, imm */
		e.op = (uint8_t)(op * 8 + (size == 1 ? 4 : 5));
		set_imm(&e, rval(g), (int)isz);
		break;
	case 3: /* r/m, imm8 sign-extended */
		if (size == 1) {
			e.op = g->m32 && chance(g, 30) ? 0x82 : 0x80; /* 82h: 80h alias outside 64-bit mode */
			set_imm(&e, rval(g), 1);
		} else {
			e.op = 0x83;
			set_imm(&e, rval(g), 1);
		}
		e.reg = op;
		pick_rm(g, &e, size, wr, 40);
		add_lock(g, &e, wr ? 30 : 0);
		break;
	default: /* r/m, imm */
		e.op = size == 1 ? 0x80 : 0x81;
		e.reg = op;
		set_imm(&e, rval(g), (int)isz);
		pick_rm(g, &e, size, wr, 40);
		add_lock(g, &e, wr ? 30 : 0);
		break;
	}
	shuffle_pfx(g, &e);
	emit(g, &e, &f);
}

static void g_test(struct gen *g)
{
	unsigned size = pick_size(g, ALLSZ), isz = size == 8 ? 4 : size;
	struct enc e;
	struct eff f = { .def = DTF_ALL & ~DTF_AF, .undef = DTF_AF };

	enc_init(&e);
	opsize(g, &e, size);
	switch (rndn(g, 3)) {
	case 0:
		e.op = size == 1 ? 0x84 : 0x85;
		pick_rm(g, &e, size, false, 40);
		e.reg_is_reg = true;
		e.reg = pick_reg(g, size, false);
		break;
	case 1:
		e.op = size == 1 ? 0xa8 : 0xa9;
		set_imm(&e, rval(g), (int)isz);
		break;
	default:
		e.op = size == 1 ? 0xf6 : 0xf7;
		e.reg = chance(g, 85) ? 0 : 1; /* /1 is an alias */
		set_imm(&e, rval(g), (int)isz);
		pick_rm(g, &e, size, false, 40);
		break;
	}
	shuffle_pfx(g, &e);
	emit(g, &e, &f);
}

/* NOT NEG INC DEC */
static void g_unary(struct gen *g)
{
	unsigned size = pick_size(g, ALLSZ);
	int k = (int)rndn(g, 4);
	struct enc e;
	struct eff f = { 0 };

	enc_init(&e);
	opsize(g, &e, size);
	if (k < 2) {
		e.op = size == 1 ? 0xf6 : 0xf7;
		e.reg = 2 + k;
		if (k == 1)
			f.def = DTF_ALL;
	} else {
		e.op = size == 1 ? 0xfe : 0xff;
		e.reg = k - 2;
		f.def = DTF_ALL & ~DTF_CF;
	}
	pick_rm(g, &e, size, true, 40);
	add_lock(g, &e, 30);
	shuffle_pfx(g, &e);
	emit(g, &e, &f);
}

/* make sure CL holds a known count; returns it */
static bool ensure_cl(struct gen *g, unsigned *cnt)
{
	if (!g->known[1] || chance(g, 40)) {
		uint64_t v = chance(g, 70) ? rndn(g, 70) : rnd(g);
		if (!set_reg(g, 1, v))
			return false;
	}
	*cnt = (unsigned)(g->val[1] & 0xff);
	return true;
}

static unsigned shift_count(struct gen *g, unsigned size)
{
	switch (rndn(g, 4)) {
	case 0: return 1;
	case 1: return rndn(g, size * 8 + 2);
	case 2: return rndn(g, 256);
	default: return rndn(g, 8);
	}
}

/* flags effect of a shift/rotate with count cnt */
static void shift_eff(int op, unsigned size, unsigned cnt, struct eff *f)
{
	unsigned cm = cnt & (size == 8 ? 0x3f : 0x1f);

	memset(f, 0, sizeof(*f));
	if (op == 2 || op == 3)
		f->reads = DTF_CF;
	if (!cm)
		return;
	if (op <= 3) { /* rotates: CF, OF only */
		f->def = DTF_CF;
		if (cm == 1)
			f->def |= DTF_OF;
		else
			f->undef = DTF_OF;
		return;
	}
	f->def = DTF_CF | DTF_ZF | DTF_SF | DTF_PF;
	f->undef = DTF_AF;
	if (cm == 1)
		f->def |= DTF_OF;
	else
		f->undef |= DTF_OF;
	if (cm >= size * 8) { /* CF undefined when the count reaches the size (SHL/SHR) */
		f->def &= ~(unsigned)DTF_CF;
		f->undef |= DTF_CF;
	}
}

static void g_shift(struct gen *g)
{
	unsigned size = pick_size(g, ALLSZ), cnt = 1;
	int op = (int)rndn(g, 8), form = (int)rndn(g, 3);
	struct enc e;
	struct eff f;

	if (form == 2 && !ensure_cl(g, &cnt))
		return;
	enc_init(&e);
	opsize(g, &e, size);
	e.reg = op;
	switch (form) {
	case 0:
		e.op = size == 1 ? 0xd0 : 0xd1;
		cnt = 1;
		break;
	case 1:
		e.op = size == 1 ? 0xc0 : 0xc1;
		cnt = shift_count(g, size);
		set_imm(&e, cnt, 1);
		break;
	default:
		e.op = size == 1 ? 0xd2 : 0xd3;
		break;
	}
	pick_rm(g, &e, size, true, 35);
	shift_eff(op == 6 ? 4 : op, size, cnt, &f);
	shuffle_pfx(g, &e);
	emit(g, &e, &f);
}

static void g_shd(struct gen *g)
{
	unsigned size = pick_size(g, WIDE), cnt;
	bool left = chance(g, 50), cl = chance(g, 50);
	struct enc e;
	struct eff f = { 0 };

	if (cl) {
		if (!ensure_cl(g, &cnt))
			return;
		if (size == 2 && (cnt & 0x1f) > 16 && !set_reg(g, 1, rndn(g, 17) | (rndn(g, 8) << 5)))
			return;
		cnt = (unsigned)g->val[1] & 0xff;
	} else {
		cnt = rndn(g, 256);
		if (size == 2 && (cnt & 0x1f) > 16)
			cnt = rndn(g, 17);
	}
	enc_init(&e);
	opsize(g, &e, size);
	e.map = 1;
	e.op = (uint8_t)((left ? 0xa4 : 0xac) + (cl ? 1 : 0));
	if (!cl)
		set_imm(&e, cnt, 1);
	pick_rm(g, &e, size, true, 35);
	e.reg_is_reg = true;
	e.reg = pick_reg(g, size, false);
	{
		unsigned cm = cnt & (size == 8 ? 0x3f : 0x1f);
		if (cm) {
			f.def = DTF_CF | DTF_ZF | DTF_SF | DTF_PF;
			f.undef = DTF_AF;
			if (cm == 1)
				f.def |= DTF_OF;
			else
				f.undef |= DTF_OF;
		}
	}
	shuffle_pfx(g, &e);
	emit(g, &e, &f);
}

static void g_muldiv(struct gen *g)
{
	unsigned size = pick_size(g, ALLSZ);
	int k = (int)rndn(g, 7);
	struct enc e;
	struct eff f = { .def = DTF_CF | DTF_OF, .undef = DTF_SF | DTF_ZF | DTF_AF | DTF_PF };

	enc_init(&e);
	if (k >= 4 && size == 1)
		size = pick_size(g, WIDE);
	opsize(g, &e, size);
	if (k == 4) { /* IMUL r, r/m */
		e.map = 1;
		e.op = 0xaf;
		e.reg_is_reg = true;
		e.reg = pick_reg(g, size, true);
		pick_rm(g, &e, size, false, 40);
	} else if (k == 5) { /* IMUL r, r/m, imm */
		bool i8 = chance(g, 50);
		e.op = i8 ? 0x6b : 0x69;
		e.reg_is_reg = true;
		e.reg = pick_reg(g, size, true);
		pick_rm(g, &e, size, false, 40);
		set_imm(&e, rval(g), i8 ? 1 : size == 2 ? 2 : 4);
	} else {
		int m = k == 6 ? 6 + (int)rndn(g, 2) : 4 + k % 2; /* MUL IMUL, DIV IDIV */
		bool div = m >= 6, safe = div && chance(g, 60);
		e.op = size == 1 ? 0xf6 : 0xf7;
		e.reg = m;
		if (div)
			f = (struct eff){ .undef = DTF_ALL };
		if (safe) {
			/* a known non-zero divisor register and a dividend whose quotient fits */
			int d;
			do
				d = pick_reg(g, size, true);
			while (full_reg(d) == 0 || full_reg(d) == 2);
			uint64_t dv = rval(g) & szmask(size);
			if (dv == 0 || (m == 7 && (dv == szmask(size))))
				dv = 3;
			{
				struct enc t;
				enc_init(&t);
				t.byte_regs = size == 1;
				if (size == 2)
					t.pfx[t.npfx++] = 0x66;
				t.w = size == 8;
				t.op = size == 1 ? 0xb0 : 0xb8;
				t.opreg = d;
				set_imm(&t, dv, size == 8 ? 8 : (int)size);
				if (!emit(g, &t, &NOFLAGS))
					return;
			}
			if (m == 6) {
				/* high half below the divisor */
				struct enc t;
				uint64_t hv = dv > 1 ? rnd(g) % dv : 0;
				enc_init(&t);
				t.byte_regs = size == 1;
				if (size == 2)
					t.pfx[t.npfx++] = 0x66;
				t.w = size == 8;
				t.op = size == 1 ? 0xb0 : 0xb8;
				t.opreg = size == 1 ? R_AH : 2;
				set_imm(&t, hv, size == 8 ? 8 : (int)size);
				if (!emit(g, &t, &NOFLAGS))
					return;
			} else {
				/* sign-extend the accumulator: CBW / CWD / CDQ / CQO */
				uint8_t b[2];
				int n = 0;
				if (size == 2)
					b[n++] = 0x66;
				if (size == 8)
					b[n++] = 0x48;
				b[n++] = size == 1 ? 0x98 : 0x99;
				if (!emit_raw(g, b, n, &NOFLAGS))
					return;
			}
			e.modrm = true;
			e.rm_reg = d;
		} else {
			pick_rm(g, &e, size, false, 40);
			f.fault_ok = false;
		}
	}
	shuffle_pfx(g, &e);
	emit(g, &e, &f);
}

/* BT BTS BTR BTC */
static void g_bt(struct gen *g)
{
	unsigned size = pick_size(g, WIDE);
	int op = (int)rndn(g, 4);
	struct enc e;
	struct eff f = { .def = DTF_CF, .undef = DTF_OF | DTF_SF | DTF_ZF | DTF_AF | DTF_PF };

	enc_init(&e);
	opsize(g, &e, size);
	e.map = 1;
	if (chance(g, 50)) { /* imm8 */
		e.op = 0xba;
		e.reg = 4 + op;
		set_imm(&e, rndn(g, 256), 1);
		pick_rm(g, &e, size, op != 0, 50);
	} else {
		e.op = (uint8_t)(0xa3 + 8 * op);
		e.reg_is_reg = true;
		if (chance(g, 50)) {
			e.modrm = true;
			e.rm_reg = pick_reg(g, size, op != 0);
			e.reg = pick_reg(g, size, false);
		} else {
			/* memory bit string: a known, bounded signed bit offset */
			int r;
			int64_t bits = (int64_t)rndn(g, 8 * 4000) - 8 * 2000, wo;
			unsigned sh = size == 2 ? 4 : size == 4 ? 5 : 6;
			uint64_t t;
			do
				r = (int)rndn(g, 16);
			while (r == R_SP);
			if (size == 2)
				bits = (int16_t)bits;
			if (!g->known[r] || (int64_t)(size == 2 ? (int16_t)g->val[r] : size == 4 ? (int32_t)g->val[r] : (int64_t)g->val[r]) != bits) {
				if (!set_reg(g, r, (uint64_t)bits))
					return;
			}
			wo = (bits >> sh) * (int64_t)size;
			t = DT_DATA_VA + 16 + rndn(g, DT_DATA_SIZE - 32 - size);
			e.modrm = true;
			e.rm_mem = true;
			pick_mem_at(g, &e.m, t - (uint64_t)wo, true);
			e.reg = r;
			f.no_memcheck = true;
		}
	}
	if (op != 0)
		add_lock(g, &e, 30);
	shuffle_pfx(g, &e);
	emit(g, &e, &f);
}

/* BSF BSR TZCNT LZCNT POPCNT */
static void g_bitscan(struct gen *g)
{
	unsigned size = pick_size(g, WIDE);
	int k = (int)rndn(g, 5);
	struct enc e;
	struct eff f;

	enc_init(&e);
	opsize(g, &e, size);
	e.map = 1;
	switch (k) {
	case 0:
	case 1:
		e.op = k ? 0xbd : 0xbc;
		f = (struct eff){ .def = DTF_ZF, .undef = DTF_ALL & ~DTF_ZF };
		break;
	case 2:
	case 3:
		e.pfx[e.npfx++] = 0xf3;
		e.op = k == 3 ? 0xbd : 0xbc;
		f = (struct eff){ .def = DTF_ZF | DTF_CF, .undef = DTF_ALL & ~(DTF_ZF | DTF_CF) };
		break;
	default:
		e.pfx[e.npfx++] = 0xf3;
		e.op = 0xb8;
		f = (struct eff){ .def = DTF_ALL };
		break;
	}
	e.reg_is_reg = true;
	e.reg = pick_reg(g, size, true);
	pick_rm(g, &e, size, false, 40);
	if (!e.rm_mem && chance(g, 15) && e.rm_reg != R_SP) {
		if (!set_reg(g, e.rm_reg, 0))
			return;
	}
	shuffle_pfx(g, &e);
	emit(g, &e, &f);
}

/* BMI1/BMI2/ADX */
static void g_bmi(struct gen *g)
{
	unsigned size = chance(g, 50) && !g->m32 ? 8 : 4;
	int k = (int)rndn(g, 15);
	struct enc e;
	struct eff f = { 0 };

	enc_init(&e);
	e.vex = true;
	e.vex3 = chance(g, 30);
	e.w = size == 8;
	e.map = 2;
	e.reg_is_reg = true;
	e.reg = pick_reg(g, size, true);
	pick_rm(g, &e, size, false, 35);
	e.vex_vvvv = (int)rndn(g, g->m32 ? 8 : 16);
	switch (k) {
	case 0: /* ANDN */
		e.op = 0xf2;
		f = (struct eff){ .def = DTF_SF | DTF_ZF | DTF_CF | DTF_OF, .undef = DTF_AF | DTF_PF };
		break;
	case 1:
	case 2:
	case 3: /* BLSR BLSMSK BLSI: vvvv is the destination */
		e.op = 0xf3;
		e.reg_is_reg = false;
		e.reg = k;
		e.vex_vvvv = pick_reg(g, size, true);
		f = (struct eff){ .def = DTF_SF | DTF_ZF | DTF_CF | DTF_OF, .undef = DTF_AF | DTF_PF };
		break;
	case 4: /* BEXTR */
		e.op = 0xf7;
		f = (struct eff){ .def = DTF_ZF | DTF_CF | DTF_OF, .undef = DTF_AF | DTF_SF | DTF_PF };
		break;
	case 5: /* BZHI */
		e.op = 0xf5;
		f = (struct eff){ .def = DTF_ZF | DTF_SF | DTF_CF | DTF_OF, .undef = DTF_AF | DTF_PF };
		break;
	case 6: /* PDEP */
		e.op = 0xf5;
		e.vex_pp = 3;
		break;
	case 7: /* PEXT */
		e.op = 0xf5;
		e.vex_pp = 2;
		break;
	case 8: /* MULX */
		e.op = 0xf6;
		e.vex_pp = 3;
		e.vex_vvvv = pick_reg(g, size, true);
		break;
	case 9: /* SARX */
		e.op = 0xf7;
		e.vex_pp = 2;
		break;
	case 10: /* SHLX */
		e.op = 0xf7;
		e.vex_pp = 1;
		break;
	case 11: /* SHRX */
		e.op = 0xf7;
		e.vex_pp = 3;
		break;
	case 12: /* RORX */
		e.map = 3;
		e.op = 0xf0;
		e.vex_pp = 3;
		e.vex_vvvv = 0;
		set_imm(&e, rndn(g, 256), 1);
		break;
	default: { /* ADCX / ADOX: legacy encoding 66/F3 0F 38 F6 */
		bool ox = k == 14;
		struct enc a;
		enc_init(&a);
		a.pfx[a.npfx++] = ox ? 0xf3 : 0x66;
		a.w = size == 8;
		a.map = 2;
		a.op = 0xf6;
		a.reg_is_reg = true;
		a.reg = pick_reg(g, size, true);
		pick_rm(g, &a, size, false, 35);
		f = (struct eff){ .def = ox ? DTF_OF : DTF_CF, .reads = ox ? DTF_OF : DTF_CF };
		emit(g, &a, &f);
		return;
	}
	}
	emit(g, &e, &f);
}

/* CMPXCHG XADD XCHG CMPXCHG8B/16B */
static void g_atomic(struct gen *g)
{
	unsigned size = pick_size(g, ALLSZ);
	int k = (int)rndn(g, 5);
	struct enc e;
	struct eff f = { .def = DTF_ALL };

	if (g->m32 && k == 4)
		k = 3;
	enc_init(&e);
	switch (k) {
	case 0: /* CMPXCHG */
	case 1: /* XADD */
		opsize(g, &e, size);
		e.map = 1;
		e.op = (uint8_t)((k ? 0xc0 : 0xb0) + (size == 1 ? 0 : 1));
		pick_rm(g, &e, size, true, 60);
		e.reg_is_reg = true;
		e.reg = pick_reg(g, size, true);
		if (k == 0 && e.rm_mem && chance(g, 40)) {
			/* make the comparison succeed sometimes: load rAX from the operand */
			struct enc t = e;
			t.pfx[0] = 0;
			t.npfx = 0;
			if (size == 2)
				t.pfx[t.npfx++] = 0x66;
			t.map = 0;
			t.op = size == 1 ? 0x8a : 0x8b;
			t.reg = 0;
			t.m.seg = e.m.seg;
			if (!emit(g, &t, &NOFLAGS))
				return;
		}
		add_lock(g, &e, 50);
		break;
	case 2: /* XCHG */
		opsize(g, &e, size);
		if (size != 1 && chance(g, 25)) {
			e.op = 0x90;
			e.opreg = pick_reg(g, size, true);
			f.def = 0;
			break;
		}
		e.op = size == 1 ? 0x86 : 0x87;
		pick_rm(g, &e, size, true, 50);
		e.reg_is_reg = true;
		e.reg = pick_reg(g, size, true);
		add_lock(g, &e, 30);
		f.def = 0;
		break;
	default: { /* CMPXCHG8B / CMPXCHG16B */
		bool b16 = k == 4;
		unsigned sz = b16 ? 16 : 8;
		uint64_t t = pick_target(g, sz);
		f.def = DTF_ZF;
		if (b16) {
			if (chance(g, 90))
				t &= ~15ull;
			else
				f.fault_ok = (t & 15) != 0;
			if (t < DT_DATA_VA + 16)
				t += 16;
			e.w = true;
		}
		e.map = 1;
		e.op = 0xc7;
		e.reg = 1;
		e.modrm = true;
		e.rm_mem = true;
		if (chance(g, 40)) {
			/* expect a match: load rDX:rAX from memory first */
			struct enc l;
			enc_init(&l);
			l.w = b16;
			l.op = 0x8b;
			l.modrm = true;
			l.rm_mem = true;
			l.reg_is_reg = true;
			l.reg = 0;
			pick_mem_at(g, &l.m, t, true);
			if (!emit(g, &l, &NOFLAGS))
				return;
			l.reg = 2;
			pick_mem_at(g, &l.m, t + sz / 2, true);
			if (!emit(g, &l, &NOFLAGS))
				return;
		}
		pick_mem_at(g, &e.m, t, true);
		add_lock(g, &e, 50);
		if (emit(g, &e, &f) && f.fault_ok)
			g->stop = true;
		return;
	}
	}
	shuffle_pfx(g, &e);
	emit(g, &e, &f);
}

/* MOV forms, MOVZX/MOVSX/MOVSXD, LEA, moffs */
static void g_mov(struct gen *g)
{
	unsigned size = pick_size(g, ALLSZ);
	struct enc e;
	struct eff f = { 0 };

	enc_init(&e);
	switch (rndn(g, 8)) {
	case 0: /* r/m, r */
		opsize(g, &e, size);
		e.op = size == 1 ? 0x88 : 0x89;
		pick_rm(g, &e, size, true, 50);
		e.reg_is_reg = true;
		e.reg = pick_reg(g, size, false);
		break;
	case 1: /* r, r/m */
		opsize(g, &e, size);
		e.op = size == 1 ? 0x8a : 0x8b;
		pick_rm(g, &e, size, false, 50);
		e.reg_is_reg = true;
		e.reg = pick_reg(g, size, true);
		break;
	case 2: /* r, imm (B0/B8) */
		opsize(g, &e, size);
		e.op = size == 1 ? 0xb0 : 0xb8;
		e.opreg = pick_reg(g, size, true);
		set_imm(&e, rval(g), (int)size);
		break;
	case 3: /* r/m, imm (C6/C7) */
		opsize(g, &e, size);
		e.op = size == 1 ? 0xc6 : 0xc7;
		e.reg = 0;
		pick_rm(g, &e, size, true, 50);
		set_imm(&e, rval(g), size == 8 ? 4 : (int)size);
		break;
	case 4: { /* MOVZX / MOVSX */
		unsigned ssz = chance(g, 50) ? 1 : 2, dsz;
		do
			dsz = pick_size(g, WIDE);
		while (dsz <= ssz);
		opsize(g, &e, dsz);
		e.byte_regs = ssz == 1;
		e.map = 1;
		e.op = (uint8_t)((chance(g, 50) ? 0xb6 : 0xbe) + (ssz == 2 ? 1 : 0));
		pick_rm(g, &e, ssz, false, 40);
		e.reg_is_reg = true;
		e.reg = (int)rndn(g, 16);
		if (e.reg == R_SP)
			e.reg = 0;
		if (ssz == 1 && !e.rm_mem && e.rm_reg >= R_AH && e.reg >= 8)
			e.reg &= 7;
		break;
	}
	case 5: /* MOVSXD */
		if (g->m32)
			return;
		size = pick_size(g, WIDE);
		opsize(g, &e, size);
		e.op = 0x63;
		pick_rm(g, &e, size == 8 ? 4 : size, false, 40);
		e.reg_is_reg = true;
		e.reg = pick_reg(g, size, true);
		break;
	case 6: { /* LEA: any address, nothing accessed */
		uint64_t ea = chance(g, 50) ? pick_target(g, 1) : rval(g);
		size = pick_size(g, WIDE);
		opsize(g, &e, size);
		e.op = 0x8d;
		e.modrm = true;
		e.rm_mem = true;
		e.reg_is_reg = true;
		e.reg = pick_reg(g, size, true);
		pick_mem_at(g, &e.m, ea, true);
		if (g->m32 && chance(g, 25)) {
			/* 16-bit addressing (67h in 32-bit code): LEA only, nothing is accessed */
			uint8_t b[8];
			int n = 0, mod = (int)rndn(g, 3), rm = (int)rndn(g, 8);
			int r = pick_reg(g, size == 8 ? 4 : size, true);
			b[n++] = 0x67;
			if (size == 2)
				b[n++] = 0x66;
			b[n++] = 0x8d;
			b[n++] = (uint8_t)((mod << 6) | (r << 3) | rm);
			if (mod == 1) {
				b[n++] = (uint8_t)rnd(g);
			} else if (mod == 2 || (mod == 0 && rm == 6)) {
				b[n++] = (uint8_t)rnd(g);
				b[n++] = (uint8_t)rnd(g);
			}
			emit_raw(g, b, n, &(struct eff){ .no_memcheck = true });
			return;
		}
		if (chance(g, 30)) {
			/* arbitrary base/index, known or not */
			unsigned nr = g->m32 ? 8 : 16;
			e.m.base = chance(g, 80) ? (int)rndn(g, nr) : -1;
			e.m.index = chance(g, 60) ? (int)rndn(g, nr) : -1;
			if (e.m.index == R_SP)
				e.m.index = -1;
			e.m.scale = (int)rndn(g, 4);
			e.m.disp = (int64_t)(int32_t)rval(g);
			e.m.a32 = chance(g, 30) && !g->m32;
		}
		e.m.seg = 0;
		f.no_memcheck = true;
		break;
	}
	default: { /* moffs: A0-A3 */
		bool a32 = chance(g, 30) && !g->m32, load = chance(g, 50);
		uint64_t t = pick_target(g, size);
		opsize(g, &e, size);
		if (a32)
			e.pfx[e.npfx++] = 0x67;
		if (chance(g, 10))
			e.pfx[e.npfx++] = 0x65;
		e.op = (uint8_t)((load ? 0xa0 : 0xa2) + (size == 1 ? 0 : 1));
		set_imm(&e, t, a32 || g->m32 ? 4 : 8);
		break;
	}
	}
	shuffle_pfx(g, &e);
	emit(g, &e, &f);
}

static unsigned cond_reads(unsigned cc)
{
	switch (cc >> 1) {
	case 0: return DTF_OF;
	case 1: return DTF_CF;
	case 2: return DTF_ZF;
	case 3: return DTF_CF | DTF_ZF;
	case 4: return DTF_SF;
	case 5: return DTF_PF;
	case 6: return DTF_SF | DTF_OF;
	default: return DTF_ZF | DTF_SF | DTF_OF;
	}
}

static void g_cmov_setcc(struct gen *g)
{
	unsigned cc = rndn(g, 16);
	struct enc e;
	struct eff f = { .reads = cond_reads(cc) };

	enc_init(&e);
	e.map = 1;
	if (chance(g, 50)) {
		unsigned size = pick_size(g, WIDE);
		opsize(g, &e, size);
		e.op = (uint8_t)(0x40 + cc);
		e.reg_is_reg = true;
		e.reg = pick_reg(g, size, true);
		pick_rm(g, &e, size, false, 40);
	} else {
		e.byte_regs = true;
		e.op = (uint8_t)(0x90 + cc);
		e.reg = chance(g, 80) ? 0 : (int)rndn(g, 8); /* ignored */
		pick_rm(g, &e, 1, true, 40);
	}
	shuffle_pfx(g, &e);
	emit(g, &e, &f);
}

/* BSWAP MOVBE CBW-family CWD-family XLAT LAHF SAHF CLC STC CMC CLD STD NOPs */
static void g_misc(struct gen *g)
{
	struct enc e;
	struct eff f = { 0 };
	uint8_t b[16];
	int n = 0;

	enc_init(&e);
	switch (rndn(g, 14)) {
	case 0: { /* BSWAP r32/r64 */
		unsigned size = chance(g, 50) && !g->m32 ? 8 : 4;
		e.w = size == 8;
		e.map = 1;
		e.op = 0xc8;
		e.opreg = pick_reg(g, size, true);
		break;
	}
	case 1: { /* MOVBE */
		unsigned size = pick_size(g, WIDE);
		opsize(g, &e, size);
		e.map = 2;
		e.op = chance(g, 50) ? 0xf0 : 0xf1;
		e.reg_is_reg = true;
		e.reg = pick_reg(g, size, e.op == 0xf0);
		pick_mem(g, &e, size);
		break;
	}
	case 2: /* CBW CWDE CDQE */
	case 3: { /* CWD CDQ CQO */
		unsigned s = rndn(g, g->m32 ? 2 : 3);
		if (s == 0)
			b[n++] = 0x66;
		if (s == 2)
			b[n++] = 0x48;
		b[n++] = (uint8_t)(0x98 + (rndn(g, 2)));
		emit_raw(g, b, n, &f);
		return;
	}
	case 4: { /* XLAT: rBX + AL inside the data */
		bool a32 = chance(g, 20) && !g->m32;
		if (!set_reg(g, 3, DT_DATA_VA + 16 + rndn(g, DT_DATA_SIZE - 300)))
			return;
		if (a32)
			b[n++] = 0x67;
		if (chance(g, 10))
			b[n++] = 0x65;
		if (chance(g, 10) && !g->m32)
			b[n++] = 0x48;
		b[n++] = 0xd7;
		emit_raw(g, b, n, &f);
		return;
	}
	case 5: /* LAHF: reads SF ZF AF PF CF */
		if (g->undef & (DTF_ALL & ~DTF_OF))
			normalize(g);
		b[n++] = 0x9f;
		emit_raw(g, b, n, &NOFLAGS);
		return;
	case 6: /* SAHF */
		f.def = DTF_ALL & ~DTF_OF;
		b[n++] = 0x9e;
		emit_raw(g, b, n, &f);
		return;
	case 7: { /* CLC STC CMC */
		static const uint8_t ops[] = { 0xf8, 0xf9, 0xf5 };
		unsigned k = rndn(g, 3);
		f.def = DTF_CF;
		if (k == 2)
			f.reads = DTF_CF;
		if (f.reads & g->undef)
			normalize(g);
		b[n++] = ops[k];
		emit_raw(g, b, n, &f);
		return;
	}
	case 8: /* CLD STD */
		if (g->in_cond)
			return;
		g->df = chance(g, 50);
		b[n++] = g->df ? 0xfd : 0xfc;
		emit_raw(g, b, n, &f);
		return;
	case 9: { /* multi-byte NOPs, hints */
		static const uint8_t nops[][10] = {
			{ 1, 0x90 },
			{ 2, 0x66, 0x90 },
			{ 3, 0x0f, 0x1f, 0x00 },
			{ 4, 0x0f, 0x1f, 0x40, 0x00 },
			{ 5, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
			{ 6, 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
			{ 7, 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
			{ 8, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
			{ 9, 0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
			{ 2, 0xf3, 0x90 },		      /* PAUSE */
			{ 4, 0xf3, 0x0f, 0x1e, 0xfa },	      /* ENDBR64 */
			{ 3, 0x0f, 0x19, 0xc0 },	      /* reserved NOP */
			{ 3, 0x0f, 0x1e, 0xc8 },	      /* reserved NOP */
		};
		unsigned k = rndn(g, sizeof(nops) / sizeof(nops[0]));
		emit_raw(g, &nops[k][1], nops[k][0], &NOFLAGS);
		return;
	}
	case 10: { /* PREFETCH*: 0F 18 /0-3, 0F 0D /1; hint NOPs 0F 18 /4-7 */
		e.map = 1;
		if (chance(g, 25)) {
			e.op = 0x0d;
			e.reg = 1;
		} else {
			e.op = 0x18;
			e.reg = (int)rndn(g, 8);
		}
		e.modrm = true;
		e.rm_mem = true;
		pick_mem_at(g, &e.m, chance(g, 80) ? pick_target(g, 1) : rval(g), true);
		f.no_memcheck = true;
		f.fault_ok = false;
		break;
	}
	case 11: /* XCHG rAX, rAX family / NOP with REX.B */
		if (g->m32)
			return;
		b[n++] = 0x41;
		b[n++] = 0x90;
		emit_raw(g, b, n, &NOFLAGS);
		return;
	default: { /* MOV r8 high/low mixes */
		e.byte_regs = true;
		e.op = 0x88 + 2 * rndn(g, 2);
		e.modrm = true;
		e.reg_is_reg = true;
		e.reg = pick_reg(g, 1, true);
		e.rm_reg = pick_reg(g, 1, true);
		break;
	}
	}
	shuffle_pfx(g, &e);
	emit(g, &e, &f);
}

/* ---- stack ---- */

#define STACK_LO (DT_DATA_VA + 0x100)
#define STACK_HI (DT_DATA_VA + DT_DATA_SIZE - 0x100)

static bool stack_room(struct gen *g, int64_t delta)
{
	uint64_t sp = g->val[R_SP] + (uint64_t)delta;
	return sp >= STACK_LO && sp <= STACK_HI;
}

static void g_stack(struct gen *g)
{
	struct enc e;
	struct eff f = { .stackop = true };
	int64_t d = 0;
	unsigned psz = g->m32 ? 4 : 8, size = chance(g, 15) ? 2 : psz;

	if (g->in_cond)
		return;
	enc_init(&e);
	if (size == 2)
		e.pfx[e.npfx++] = 0x66;
	switch (rndn(g, 9)) {
	case 0: /* PUSH r */
		e.op = 0x50;
		e.opreg = (int)rndn(g, g->m32 ? 8 : 16);
		d = -(int64_t)size;
		break;
	case 1: { /* POP r (not RSP) */
		e.op = 0x58;
		e.opreg = pick_reg(g, 8, true);
		d = size;
		break;
	}
	case 2: /* PUSH imm8 / imm */
		if (chance(g, 50)) {
			e.op = 0x6a;
			set_imm(&e, rval(g), 1);
		} else {
			e.op = 0x68;
			set_imm(&e, rval(g), size == 2 ? 2 : 4);
		}
		d = -(int64_t)size;
		break;
	case 3: /* PUSH m */
		e.op = 0xff;
		e.reg = 6;
		pick_mem(g, &e, size);
		d = -(int64_t)size;
		break;
	case 4: { /* POP m: the address is computed after RSP is incremented */
		uint64_t t = pick_target(g, size);
		e.op = 0x8f;
		e.reg = 0;
		e.modrm = true;
		e.rm_mem = true;
		if (chance(g, 30)) {
			int64_t disp = (int64_t)(t - (g->val[R_SP] + size));
			if (fits32(disp) || g->m32) {
				e.m.base = R_SP;
				e.m.index = -1;
				e.m.disp = (int32_t)disp;
			} else {
				return;
			}
		} else {
			pick_mem_at(g, &e.m, t, true);
			if (e.m.base == R_SP || e.m.index == R_SP)
				return;
		}
		f.no_memcheck = true;
		d = size;
		break;
	}
	case 5: { /* PUSHF, or POPF of a controlled value */
		if (chance(g, 50)) {
			f.reads = DTF_ALL;
			e.op = 0x9c;
			d = -(int64_t)size;
		} else {
			/* PUSH imm32; POPF: arithmetic flags, DF, and bits CPL 3 may not change */
			uint64_t v = (rnd(g) & 0x8d5) | (rnd(g) & (0x3000 | 0x200 | 0x4000 | 0x200000));
			struct enc p;
			if (!stack_room(g, -(int64_t)psz))
				return;
			enc_init(&p);
			p.op = 0x68;
			set_imm(&p, v, 4);
			if (!emit(g, &p, &f))
				return;
			g->val[R_SP] -= psz;
			e.op = 0x9d;
			d = size;
			f.def = DTF_ALL;
			if (size == 2) {
				/* POPF with 66h pops 16 bits: an extra word below */
				if (!stack_room(g, 2))
					return;
			}
			if (!emit(g, &e, &f))
				return;
			g->val[R_SP] += (uint64_t)d;
			g->df = (v >> 10) & 1;
			return;
		}
		break;
	}
	case 6: { /* ENTER imm16, level */
		unsigned lvl = chance(g, 60) ? 0 : rndn(g, 4), alloc = rndn(g, 64);
		int64_t need = -(int64_t)(size * (lvl + 1) + alloc);
		if (lvl > 0) {
			/* the old frame pointer chain is read: RBP must point into the data */
			uint64_t bp = DT_DATA_VA + 0x200 + rndn(g, DT_DATA_SIZE - 0x400);
			if (!set_reg(g, 5, bp))
				return;
		}
		if (!stack_room(g, need))
			return;
		e.op = 0xc8;
		set_imm(&e, alloc, 2);
		e.imm2 = lvl;
		e.imm2sz = 1;
		{
			uint64_t frame = g->val[R_SP] - size;
			if (!emit(g, &e, &f))
				return;
			g->val[R_SP] += (uint64_t)need;
			g->known[5] = size == 8;
			g->val[5] = frame;
		}
		return;
	}
	case 7: /* LEAVE: RSP = RBP, pop RBP */
		if (!g->known[5] || g->val[5] < STACK_LO || g->val[5] > STACK_HI)
			return;
		e.op = 0xc9;
		if (!emit(g, &e, &f))
			return;
		g->val[R_SP] = g->val[5] + size;
		g->known[5] = false;
		if (!stack_room(g, 0))
			g->stop = true; /* cannot happen: checked above */
		return;
	default: { /* CALL / RET: call L1; jmp L2; L1: [ret imm16] ; L2: */
		uint16_t rimm = chance(g, 30) ? (uint16_t)(rndn(g, 4) * 8) : 0;
		uint8_t c[16];
		int k = 0;
		if (!stack_room(g, -(int64_t)psz) || !stack_room(g, (int64_t)rimm))
			return;
		c[k++] = 0xe8;
		c[k++] = 2;
		c[k++] = 0;
		c[k++] = 0;
		c[k++] = 0; /* call +2 */
		if (!emit_raw(g, c, k, &f))
			return;
		k = 0;
		c[k++] = 0xeb;
		c[k++] = rimm ? 3 : 1; /* jmp over the ret */
		if (!emit_raw(g, c, k, &NOFLAGS))
			return;
		k = 0;
		if (rimm) {
			c[k++] = 0xc2;
			c[k++] = (uint8_t)rimm;
			c[k++] = 0;
		} else {
			c[k++] = 0xc3;
		}
		if (!emit_raw(g, c, k, &f))
			return;
		g->val[R_SP] += rimm;
		return;
	}
	}
	if (!stack_room(g, d))
		return;
	shuffle_pfx(g, &e);
	if (!emit(g, &e, &f))
		return;
	if (e.op == 0x58 && size == 2)
		g->known[e.opreg] = false;
	g->val[R_SP] += (uint64_t)d;
}

/* ---- string instructions ---- */

static void g_string(struct gen *g)
{
	static const uint8_t ops[] = { 0xa4, 0xa6, 0xaa, 0xac, 0xae };
	unsigned k = rndn(g, 5), size = pick_size(g, ALLSZ), a = chance(g, 20) ? 4 : 8;
	int rep = chance(g, 75) ? (chance(g, 50) ? 0xf3 : 0xf2) : 0;
	uint64_t cnt, span, si, di;
	bool src = k == 0 || k == 1 || k == 3, dst = k != 3;
	uint8_t b[8];
	int n = 0;
	struct eff f = { 0 };

	if (g->in_cond)
		return;
	cnt = rep ? (chance(g, 10) ? rndn(g, 3000) : rndn(g, 40)) : 1;
	if (rep && size == 1 && chance(g, 4))
		cnt = 8000 + rndn(g, 4000); /* more than one REP chunk */
	if (rep && chance(g, 5))
		cnt = 0;
	span = cnt * size;
	if (span > DT_DATA_SIZE - 64)
		cnt = (DT_DATA_SIZE - 64) / size, span = cnt * size;
	/* both pointers: the whole run must stay inside the data */
	{
		uint64_t room = DT_DATA_SIZE - 32 - span - size;
		uint64_t lo = g->df ? DT_DATA_VA + 16 + span : DT_DATA_VA + 16;
		si = lo + rndn(g, (unsigned)room + 1);
		di = lo + rndn(g, (unsigned)room + 1);
		if (chance(g, 20)) /* overlapping */
			di = si + (uint64_t)(int64_t)(int)(rndn(g, 17) - 8);
		if (di < lo || di > lo + room)
			di = si;
	}
	if (src && !set_reg(g, 6, si))
		return;
	if (dst && !set_reg(g, 7, di))
		return;
	if (rep) {
		uint64_t rcx = cnt;
		if (a == 4 && chance(g, 30))
			rcx |= rnd(g) << 32; /* upper half ignored */
		if (!set_reg(g, 1, rcx))
			return;
	}
	if (chance(g, 15) && src)
		b[n++] = segpfx[rndn(g, sizeof(segpfx))];
	if (a == 4 && !g->m32)
		b[n++] = 0x67;
	if (size == 2)
		b[n++] = 0x66;
	if (rep)
		b[n++] = (uint8_t)rep;
	if (size == 8)
		b[n++] = 0x48;
	b[n++] = (uint8_t)(ops[k] + (size == 1 ? 0 : 1));
	if ((k == 1 || k == 4) && cnt)
		f.def = DTF_ALL;
	if (emit_raw(g, b, n, &f)) {
		/* Zydis does not list every implicit register of the string forms */
		g->known[0] = g->known[1] = g->known[6] = g->known[7] = false;
	}
	(void)span;
}

/* ---- control flow ---- */

static void gen_one(struct gen *g, bool simple);

/* a forward conditional branch or LOOP/JrCXZ over a block of simple instructions */
static void g_branch(struct gen *g)
{
	bool known0[16];
	uint64_t val0[16];
	unsigned undef0, kind = rndn(g, 5), cc = rndn(g, 16);
	uint32_t at;
	uint8_t b[8];
	int n = 0, disp_at;
	struct eff f = { 0 };

	if (g->in_cond > 1)
		return;
	if (kind == 4) { /* JMP over garbage */
		unsigned skip = 1 + rndn(g, 12);
		bool near = chance(g, 30);
		if (code_full(g))
			return;
		if (near) {
			b[n++] = 0xe9;
			b[n++] = (uint8_t)skip;
			b[n++] = 0;
			b[n++] = 0;
			b[n++] = 0;
		} else {
			b[n++] = 0xeb;
			b[n++] = (uint8_t)skip;
		}
		if (!emit_raw(g, b, n, &NOFLAGS))
			return;
		for (unsigned k = 0; k < skip; k++)
			g->tc->code[g->tc->len++] = (uint8_t)rnd(g);
		return;
	}
	if (kind <= 1) {
		f.reads = cond_reads(cc);
		if (g->undef & f.reads)
			normalize(g);
		if (kind == 0) {
			b[n++] = (uint8_t)(0x70 + cc);
			disp_at = n;
			b[n++] = 0;
		} else {
			b[n++] = 0x0f;
			b[n++] = (uint8_t)(0x80 + cc);
			disp_at = n;
			b[n++] = 0;
			b[n++] = 0;
			b[n++] = 0;
			b[n++] = 0;
		}
	} else if (kind == 2) { /* LOOP LOOPE LOOPNE */
		unsigned l = rndn(g, 3);
		if (l < 2)
			f.reads = DTF_ZF;
		if (g->undef & f.reads)
			normalize(g);
		if (chance(g, 20))
			b[n++] = 0x67;
		b[n++] = (uint8_t)(0xe0 + l);
		disp_at = n;
		b[n++] = 0;
	} else { /* JRCXZ / JECXZ */
		if (chance(g, 30))
			b[n++] = 0x67;
		if (chance(g, 30) && !set_reg(g, 1, chance(g, 50) ? 0 : (rnd(g) & 0xffffffff00000000ull)))
			return;
		b[n++] = 0xe3;
		disp_at = n;
		b[n++] = 0;
	}
	at = g->tc->len;
	if (!emit_raw(g, b, n, &NOFLAGS))
		return;
	if (kind == 2)
		g->known[1] = false;
	memcpy(known0, g->known, sizeof(known0));
	memcpy(val0, g->val, sizeof(val0));
	undef0 = g->undef;
	g->in_cond++;
	for (unsigned k = 1 + rndn(g, 3); k > 0; k--)
		gen_one(g, true);
	g->in_cond--;
	{
		uint32_t dist = g->tc->len - (at + (uint32_t)n);
		if (n - disp_at == 1) {
			if (dist > 127) {
				g->stop = true; /* cannot happen with simple blocks; be safe */
				dist = 0;
			}
			g->tc->code[at + disp_at] = (uint8_t)dist;
		} else {
			memcpy(g->tc->code + at + disp_at, &dist, 4);
		}
	}
	for (int r = 0; r < 16; r++)
		if (!known0[r] || !g->known[r] || val0[r] != g->val[r])
			g->known[r] = false;
	g->known[R_SP] = true;
	g->undef |= undef0;
}

/* indirect JMP/CALL through a register or memory to a forward target */
static void g_indirect(struct gen *g)
{
	int r;
	uint8_t b[16];
	int n = 0;
	bool call = chance(g, 40);
	struct eff f = { .stackop = call };

	if (g->in_cond || (call && !stack_room(g, g->m32 ? -4 : -8)))
		return;
	do
		r = (int)rndn(g, g->m32 ? 8 : 16);
	while (r == R_SP);
	if (g->m32) {
		/* mov r, X; jmp/call r; X: */
		uint32_t x = (uint32_t)(DT_CODE_VA + g->tc->len + 5 + 2);
		b[n++] = (uint8_t)(0xb8 + r);
		memcpy(b + n, &x, 4);
		n += 4;
	} else {
		/* lea r, [rip + X]; jmp/call r ; X: (call target pops the return address) */
		int32_t d = r >= 8 ? 3 : 2; /* length of the jmp/call that follows */
		b[n++] = (uint8_t)(0x48 | (r >= 8 ? 4 : 0));
		b[n++] = 0x8d;
		b[n++] = (uint8_t)(0x05 | ((r & 7) << 3));
		memcpy(b + n, &d, 4);
		n += 4;
	}
	if (!emit_raw(g, b, n, &NOFLAGS))
		return;
	n = 0;
	if (r >= 8)
		b[n++] = 0x41;
	b[n++] = 0xff;
	b[n++] = (uint8_t)(0xc0 | ((call ? 2 : 4) << 3) | (r & 7));
	if (!emit_raw(g, b, n, &f))
		return;
	if (call) {
		/* the return address is now on the stack: pop it into a register */
		int p;
		do
			p = (int)rndn(g, g->m32 ? 8 : 16);
		while (p == R_SP);
		n = 0;
		if (p >= 8)
			b[n++] = 0x41;
		b[n++] = (uint8_t)(0x58 + (p & 7));
		if (!emit_raw(g, b, n, &f))
			return;
	}
}

/* ---- faults ---- */

static void g_fault(struct gen *g)
{
	struct eff f = { .fault_ok = true, .stackop = true, .no_memcheck = true };
	uint8_t b[16];
	int n = 0;
	struct enc e;

	if (g->in_cond)
		return;
	switch (rndn(g, 14)) {
	case 0: b[n++] = 0x0f; b[n++] = 0x0b; break; /* UD2 */
	case 1: b[n++] = 0xcc; break;		     /* INT3 */
	case 2: {				     /* INT n: #GP(n * 8 + 2) */
		/* vectors 0x20-0xff: present DPL 0 gates on Linux (0-0x1f vary) */
		unsigned v = 0x20 + rndn(g, 0xe0);
		if (v == 0x80)
			v = 0x81;
		b[n++] = 0xcd;
		b[n++] = (uint8_t)v;
		break;
	}
	case 3: /* INTO: #UD in 64-bit mode, #OF if OF = 1 otherwise */
		if (g->m32 && (g->undef & DTF_OF))
			normalize(g);
		b[n++] = 0xce;
		break;
	case 4: /* DAA: #UD in 64-bit mode */
		if (g->m32)
			return;
		b[n++] = 0x27;
		break;
	case 5: /* 82h: #UD in 64-bit mode */
		if (g->m32)
			return;
		b[n++] = 0x82;
		b[n++] = 0xc0;
		b[n++] = 1;
		break;
	case 6: b[n++] = 0xf4; break;				  /* HLT: #GP */
	case 7: b[n++] = chance(g, 50) ? 0xfa : 0xfb; break;	  /* CLI/STI: #GP */
	case 8: {						  /* I/O: #GP */
		static const uint8_t io[] = { 0xe4, 0xe5, 0xe6, 0xe7, 0xec, 0xed, 0xee, 0xef, 0x6c, 0x6d, 0x6e, 0x6f };
		unsigned k = rndn(g, sizeof(io));
		if (chance(g, 30))
			b[n++] = 0xf3;
		b[n++] = io[k];
		if (io[k] < 0xe8)
			b[n++] = (uint8_t)rnd(g);
		break;
	}
	case 9: { /* LOCK on something not lockable: #UD */
		static const uint8_t bad[][4] = { { 2, 0x89, 0xc0 }, { 2, 0x01, 0xc0 }, { 1, 0x90 }, { 2, 0x8b, 0x00 }, { 3, 0x0f, 0xa3, 0x00 } };
		unsigned k = rndn(g, 5);
		b[n++] = 0xf0;
		memcpy(b + n, &bad[k][1], bad[k][0]);
		n += bad[k][0];
		break;
	}
	case 10: { /* division by zero */
		unsigned size = pick_size(g, ALLSZ);
		int d;
		do
			d = (int)rndn(g, g->m32 ? 8 : 16);
		while (d == R_SP || d == 0 || d == 2);
		if (!set_reg(g, d, 0))
			return;
		enc_init(&e);
		opsize(g, &e, size);
		e.op = size == 1 ? 0xf6 : 0xf7;
		e.reg = 6 + (int)rndn(g, 2);
		e.modrm = true;
		e.rm_reg = d;
		e.m32 = g->m32;
		n = encode(&e, DT_CODE_VA + g->tc->len, b);
		if (n < 0)
			return;
		break;
	}
	case 11: { /* access a guard page: #PF with the right error code and CR2 */
		uint64_t t = chance(g, 50) ? DT_GUARD_HI + rndn(g, 0x1000 - 8) : DT_GUARD_LO + rndn(g, 0x1000);
		unsigned size = pick_size(g, ALLSZ);
		if (chance(g, 30))
			t = (chance(g, 50) ? DT_GUARD_HI : DT_DATA_VA) - 1 - rndn(g, size > 1 ? size - 1 : 1);
		enc_init(&e);
		opsize(g, &e, size);
		switch (rndn(g, 4)) {
		case 0:
			e.op = size == 1 ? 0x8a : 0x8b;
			e.reg_is_reg = true;
			e.reg = pick_reg(g, size, true);
			break;
		case 1:
			e.op = size == 1 ? 0x88 : 0x89;
			e.reg_is_reg = true;
			e.reg = pick_reg(g, size, false);
			break;
		case 2:
			if (size == 1) {
				e.op = 0x8a;
				e.reg_is_reg = true;
				e.reg = pick_reg(g, size, true);
				break;
			}
			/* CMOVcc reads its source whatever the condition */
			e.map = 1;
			e.op = (uint8_t)(0x40 + rndn(g, 16));
			e.reg_is_reg = true;
			e.reg = pick_reg(g, size, true);
			break;
		default:
			e.op = size == 1 ? 0x80 : 0x81;
			e.reg = (int)rndn(g, 8);
			set_imm(&e, rval(g), size == 1 ? 1 : size == 2 ? 2 : 4);
			if (chance(g, 30) && e.reg != 7)
				e.pfx[e.npfx++] = 0xf0;
			break;
		}
		e.modrm = true;
		e.rm_mem = true;
		pick_mem_at(g, &e.m, t, true);
		e.m32 = g->m32;
		n = encode(&e, DT_CODE_VA + g->tc->len, b);
		if (n < 0)
			return;
		break;
	}
	case 12: { /* a REP string running into the guard page: precise rCX/rSI/rDI */
		unsigned size = pick_size(g, ALLSZ), k = rndn(g, 3);
		uint64_t start;
		if (g->df) {
			start = DT_DATA_VA + rndn(g, 256);
		} else {
			start = DT_GUARD_HI - 1 - rndn(g, 256);
		}
		if (!set_reg(g, 7, start) || !set_reg(g, 6, g->df ? DT_DATA_VA + 0x2000 : DT_DATA_VA + 0x1000) ||
		    !set_reg(g, 1, 300 + rndn(g, 300)))
			return;
		b[n++] = 0xf3;
		if (size == 2)
			b[n++] = 0x66;
		if (size == 8)
			b[n++] = 0x48;
		b[n++] = (uint8_t)((k == 0 ? 0xa4 : k == 1 ? 0xaa : 0xae) + (size == 1 ? 0 : 1));
		break;
	}
	default: { /* non-canonical address: #GP(0) */
		int r;
		if (g->m32)
			return;
		do
			r = (int)rndn(g, 16);
		while (r == R_SP);
		if (!set_reg(g, r, 0x8000000000000000ull + (rnd(g) & 0xffffffffffull)))
			return;
		enc_init(&e);
		e.w = true;
		e.op = chance(g, 50) ? 0x8b : 0x89;
		e.reg_is_reg = true;
		e.reg = 0;
		e.modrm = true;
		e.rm_mem = true;
		e.m.base = r;
		e.m.index = -1;
		e.m32 = g->m32;
		n = encode(&e, DT_CODE_VA + g->tc->len, b);
		if (n < 0)
			return;
		break;
	}
	}
	if (emit_raw(g, b, n, &f))
		g->stop = true;
}

/* ---- instructions of 32-bit code only ---- */

static void g_legacy32(struct gen *g)
{
	uint8_t b[16];
	int n = 0;
	struct eff f = { 0 };

	switch (rndn(g, 8)) {
	case 0: /* DAA DAS */
		f = (struct eff){ .def = DTF_CF | DTF_AF | DTF_SF | DTF_ZF | DTF_PF, .undef = DTF_OF,
				  .reads = DTF_AF | DTF_CF };
		b[n++] = chance(g, 50) ? 0x27 : 0x2f;
		break;
	case 1: /* AAA AAS */
		f = (struct eff){ .def = DTF_AF | DTF_CF, .undef = DTF_OF | DTF_SF | DTF_ZF | DTF_PF,
				  .reads = DTF_AF };
		b[n++] = chance(g, 50) ? 0x37 : 0x3f;
		break;
	case 2: /* AAM imm8 (0: #DE) / AAD imm8 */
		f = (struct eff){ .def = DTF_SF | DTF_ZF | DTF_PF, .undef = DTF_OF | DTF_AF | DTF_CF };
		b[n++] = chance(g, 50) ? 0xd4 : 0xd5;
		b[n++] = chance(g, 70) ? 10 : (uint8_t)rnd(g);
		if (b[0] == 0xd4 && b[1] == 0)
			f.fault_ok = true;
		break;
	case 3: { /* PUSHA / POPA */
		unsigned size = chance(g, 20) ? 2 : 4;
		bool push = chance(g, 50);
		int64_t d = push ? -8 * (int64_t)size : 8 * (int64_t)size;
		if (g->in_cond || !stack_room(g, d))
			return;
		if (size == 2)
			b[n++] = 0x66;
		b[n++] = push ? 0x60 : 0x61;
		f.stackop = true;
		if (!emit_raw(g, b, n, &f))
			return;
		g->val[R_SP] += (uint64_t)d;
		if (!push)
			for (int r = 0; r < 8; r++)
				g->known[r] = r == R_SP;
		return;
	}
	case 4: { /* INC/DEC r: the one-byte forms 40h-4Fh */
		int r = pick_reg(g, 4, true);
		f.def = DTF_ALL & ~DTF_CF;
		if (chance(g, 20))
			b[n++] = 0x66;
		b[n++] = (uint8_t)((chance(g, 50) ? 0x40 : 0x48) + r);
		break;
	}
	case 5: { /* BOUND r, m32&32 / m16&16: #BR when out of bounds */
		unsigned size = chance(g, 20) ? 2 : 4;
		struct enc e;
		enc_init(&e);
		if (size == 2)
			e.pfx[e.npfx++] = 0x66;
		e.op = 0x62;
		e.reg_is_reg = true;
		e.reg = (int)rndn(g, 8);
		pick_mem(g, &e, 2 * size);
		emit(g, &e, &f);
		return;
	}
	case 6: { /* ARPL r/m16, r16: ZF only */
		struct enc e;
		enc_init(&e);
		e.op = 0x63;
		e.reg_is_reg = true;
		e.reg = (int)rndn(g, 8);
		pick_rm(g, &e, 2, true, 40);
		f.def = DTF_ZF;
		emit(g, &e, &f);
		return;
	}
	default: /* INTO: #OF when OF = 1 */
		if (g->in_cond)
			return;
		f.reads = DTF_OF;
		f.fault_ok = true;
		b[n++] = 0xce;
		break;
	}
	if (f.reads & g->undef)
		normalize(g);
	emit_raw(g, b, n, &f);
}

/* ---- the case ---- */

static void gen_one(struct gen *g, bool simple)
{
	unsigned w = rndn(g, simple ? 100 : 120);

	if (g->m32 && chance(g, 12)) {
		g_legacy32(g);
		return;
	}
	if (w < 14)
		g_alu(g);
	else if (w < 20)
		g_test(g);
	else if (w < 26)
		g_unary(g);
	else if (w < 36)
		g_shift(g);
	else if (w < 40)
		g_shd(g);
	else if (w < 48)
		g_muldiv(g);
	else if (w < 55)
		g_bt(g);
	else if (w < 61)
		g_bitscan(g);
	else if (w < 67)
		g_bmi(g);
	else if (w < 75)
		g_atomic(g);
	else if (w < 85)
		g_mov(g);
	else if (w < 91)
		g_cmov_setcc(g);
	else if (w < 100)
		g_misc(g);
	else if (w < 106)
		g_stack(g);
	else if (w < 112)
		g_string(g);
	else if (w < 116)
		g_branch(g);
	else if (w < 118)
		g_indirect(g);
	else
		g_fault(g);
}

void dt_generate(struct dt_case *tc, uint64_t seed, bool allow32)
{
	struct gen g;
	unsigned n;

	memset(&g, 0, sizeof(g));
	memset(tc, 0, sizeof(*tc));
	g.r.s = seed;
	g.tc = tc;
	g.m32 = allow32 && chance(&g, 25);
	tc->mode32 = g.m32;
	if (g.m32)
		ZydisDecoderInit(&g.dec, ZYDIS_MACHINE_MODE_LONG_COMPAT_32, ZYDIS_STACK_WIDTH_32);
	else
		ZydisDecoderInit(&g.dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisDecoderEnableMode(&g.dec, ZYDIS_DECODER_MODE_LZCNT, ZYAN_TRUE);
	ZydisDecoderEnableMode(&g.dec, ZYDIS_DECODER_MODE_TZCNT, ZYAN_TRUE);

	/* initial state: pointers into the data, small numbers, random values */
	for (int r = 0; r < 16; r++) {
		uint64_t v;
		switch (rndn(&g, 3)) {
		case 0: v = DT_DATA_VA + 16 + rndn(&g, DT_DATA_SIZE - 32); break;
		default: v = rval(&g); break;
		}
		g.known[r] = true;
		g.val[r] = v;
	}
	g.val[R_SP] = DT_DATA_VA + 0x2000 + rndn(&g, 0x1000);
	if (chance(&g, 70))
		g.val[R_SP] &= ~7ull;
	memcpy(tc->in.gpr, g.val, sizeof(tc->in.gpr));
	g.df = chance(&g, 25);
	tc->in.rflags = 0x202 | (rnd(&g) & 0x8d5) | (g.df ? 0x400 : 0);
	tc->data_seed = rnd(&g);
	tc->data_mode = chance(&g, 70) ? 0 : 1 + rndn(&g, 2);

	n = 1 + rndn(&g, 16);
	for (unsigned k = 0; k < 200 && n > 0 && !g.stop && !code_full(&g); k++) {
		uint32_t before = tc->ninsns;
		gen_one(&g, false);
		if (tc->ninsns != before)
			n--;
	}
	/* the end: jmp rel32 to EXIT */
	tc->off[tc->ninsns] = (uint16_t)tc->len;
	tc->undef[tc->ninsns] = (uint8_t)g.undef;
	{
		uint64_t exit = g.m32 ? DT_EXIT32_VA : DT_EXIT_VA;
		int32_t d = (int32_t)(exit - (DT_CODE_VA + tc->len + 5));
		tc->code[tc->len++] = 0xe9;
		memcpy(tc->code + tc->len, &d, 4);
		tc->len += 4;
	}
	tc->undef_regs = 0;
}
