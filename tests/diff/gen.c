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
 * undefined flag (ADC SBB RCL RCR CMC SETcc CMOVcc Jcc LOOPcc PUSHF LAHF INTO
 * ADCX ADOX DAA DAS AAA AAS) is preceded by a CMP that defines them all, so an
 * undefined flag never reaches a compared register, memory byte or path;
 * emit_raw() checks every instruction against Zydis' table of tested flags
 * and marks the case (dt_case.read_undef) if one slips through. Memory
 * operands stay inside the data area unless a fault is wanted on purpose; an
 * instruction meant to fault for certain ends the case (dt_case.must_fault).
 */
#include "gen.h"

/* ---- random numbers and data ---- */

/* cheaper, for bulk data */
static uint64_t rfast(uint64_t *s)
{
	uint64_t a = (*s += 0xa0761d6478bd642full);
	__uint128_t m = (__uint128_t)a * (a ^ 0xe7037ed1a0b428dbull);
	return (uint64_t)(m >> 64) ^ (uint64_t)m;
}

void dt_fill_data(uint8_t *buf, uint64_t seed, uint32_t mode)
{
	struct rng r = {seed};
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
				x |= (uint64_t)(((v >> (8 * b)) & 0x7) == 0 ? 0xff
						: ((v >> (8 * b)) & 0x30)   ? 0
									    : 1)
				     << (8 * b);
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

/* ---- state, emitting, operands ---- */

/* interesting values */
uint64_t rval(struct gen *g)
{
	static const uint64_t special[] = {
	    0,
	    1,
	    2,
	    0x7f,
	    0x80,
	    0xff,
	    0x100,
	    0x7fff,
	    0x8000,
	    0xffff,
	    0x10000,
	    0x7fffffff,
	    0x80000000,
	    0xffffffff,
	    0x100000000ull,
	    0x7fffffffffffffffull,
	    0x8000000000000000ull,
	    ~0ull,
	    ~0ull - 1,
	    0x5555555555555555ull,
	    0xaaaaaaaaaaaaaaaaull,
	};
	switch (rndn(g, 8)) {
	case 0:
		return special[rndn(g, sizeof(special) / sizeof(special[0]))];
	case 1:
		return (uint64_t)(int64_t)(int)(rndn(g, 601) - 300);
	case 2:
		return (1ull << rndn(g, 64)) + (uint64_t)(int64_t)(int)(rndn(g, 3) - 1);
	case 3:
		return rnd(g) & 0xff;
	case 4:
		return rnd(g) & 0xffffffffull;
	case 5:
		return (uint64_t)(int64_t)(int32_t)rnd(g);
	default:
		return rnd(g);
	}
}

static const unsigned sizes4[] = {1, 2, 4, 8};

unsigned pick_size(struct gen *g, unsigned mask)
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
int pick_reg(struct gen *g, unsigned size, bool writable)
{
	for (;;) {
		int r = (size == 1 && chance(g, 20)) ? R_AH + (int)rndn(g, 4) : (int)rndn(g, 16);
		if (g->m32)
			r = size == 1 ? (chance(g, 40) ? R_AH : 0) + (int)rndn(g, 4)
				      : (int)rndn(g, 8);
		if (writable && r == R_SP)
			continue;
		return r;
	}
}

static int zreg_full(ZydisRegister z)
{
	ZydisRegister l = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, z);
	if (l >= ZYDIS_REGISTER_RAX && l <= ZYDIS_REGISTER_R15)
		return l - ZYDIS_REGISTER_RAX;
	return -1;
}

bool code_full(struct gen *g)
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

/* the arithmetic flags (DTF_*) an instruction reads, by Zydis' table */
static unsigned flags_tested(const ZydisDecodedInstruction *zi)
{
	ZydisAccessedFlagsMask t = zi->cpu_flags ? zi->cpu_flags->tested : 0;
	unsigned m = 0;

	if (t & ZYDIS_CPUFLAG_CF)
		m |= DTF_CF;
	if (t & ZYDIS_CPUFLAG_PF)
		m |= DTF_PF;
	if (t & ZYDIS_CPUFLAG_AF)
		m |= DTF_AF;
	if (t & ZYDIS_CPUFLAG_ZF)
		m |= DTF_ZF;
	if (t & ZYDIS_CPUFLAG_SF)
		m |= DTF_SF;
	if (t & ZYDIS_CPUFLAG_OF)
		m |= DTF_OF;
	/* REPE/REPNE CMPS/SCAS test the ZF of their own iteration, never the incoming one */
	if (zi->mnemonic == ZYDIS_MNEMONIC_CMPSB || zi->mnemonic == ZYDIS_MNEMONIC_CMPSW ||
	    zi->mnemonic == ZYDIS_MNEMONIC_CMPSD || zi->mnemonic == ZYDIS_MNEMONIC_CMPSQ ||
	    zi->mnemonic == ZYDIS_MNEMONIC_SCASB || zi->mnemonic == ZYDIS_MNEMONIC_SCASW ||
	    zi->mnemonic == ZYDIS_MNEMONIC_SCASD || zi->mnemonic == ZYDIS_MNEMONIC_SCASQ)
		m &= ~(unsigned)DTF_ZF;
	return m;
}

bool emit(struct gen *g, const struct enc *e, const struct eff *f)
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
		len = encode(&e2, g->tc->code_va + g->tc->len, buf);
	}
	if (len < 0)
		return false;
	return emit_raw(g, buf, len, f);
}

bool emit_raw(struct gen *g, const uint8_t *buf, int len, const struct eff *f)
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
		uint64_t next = tc->code_va + tc->len + (uint64_t)len;
		for (unsigned k = 0; k < zi.operand_count; k++) {
			const ZydisDecodedOperand *o = &ops[k];
			if (o->type == ZYDIS_OPERAND_TYPE_REGISTER &&
			    (o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
			    zreg_full(o->reg.value) == R_SP && !f->stackop)
				return false;
			if (o->type == ZYDIS_OPERAND_TYPE_MEMORY &&
			    o->visibility == ZYDIS_OPERAND_VISIBILITY_EXPLICIT &&
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
	if (ok && !tc->read_undef && (flags_tested(&zi) & g->undef))
		tc->read_undef = (uint16_t)(tc->ninsns + 1);
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

/* mov r64, v (shortest form, sometimes a longer one) */
bool set_reg(struct gen *g, int r, uint64_t v)
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
void normalize(struct gen *g)
{
	struct enc e;
	struct eff f = {.def = DTF_ALL};
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
	/* CMP reads no flag, so emit() does not come back here; it records the flags undefined
	 * before the CMP as they are (a trap of the instruction before, INTO's #OF, stops there
	 * and sees them) and then clears them */
	emit(g, &e, &f);
}

uint64_t pick_target(struct gen *g, unsigned size)
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

/* a memory operand whose effective address is ea (any value) */
void pick_mem_at(struct gen *g, struct mop *m, uint64_t ea, bool allow_rip)
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

void pick_mem(struct gen *g, struct enc *e, unsigned size)
{
	e->modrm = true;
	e->rm_mem = true;
	pick_mem_at(g, &e->m, pick_target(g, size), true);
}

/* register or memory r/m operand; writable excludes RSP */
void pick_rm(struct gen *g, struct enc *e, unsigned size, bool writable, unsigned mem_pct)
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
void opsize(struct gen *g, struct enc *e, unsigned size)
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
void shuffle_pfx(struct gen *g, struct enc *e)
{
	/* redundant prefixes now and then: ignored segment overrides, a second
	 * 66h, REP/REPNE on one-byte opcodes that ignore them */
	if (!e->vex && e->npfx < 4 && chance(g, 8)) {
		static const uint8_t noise[] = {0x2e, 0x3e, 0x26, 0x36, 0x66, 0xf2, 0xf3};
		uint8_t p = noise[rndn(g, sizeof(noise))];
		bool has66 = memchr(e->pfx, 0x66, (size_t)e->npfx) != NULL;
		if ((p == 0x66 && has66) ||
		    ((p == 0xf2 || p == 0xf3) && e->map == 0 && (e->op & 0xf8) != 0x90) ||
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

void add_lock(struct gen *g, struct enc *e, unsigned pct)
{
	if (e->rm_mem && chance(g, pct))
		e->pfx[e->npfx++] = 0xf0;
}

void set_imm(struct enc *e, uint64_t v, int sz)
{
	e->imm = v;
	e->immsz = sz;
}

unsigned cond_reads(unsigned cc)
{
	switch (cc >> 1) {
	case 0:
		return DTF_OF;
	case 1:
		return DTF_CF;
	case 2:
		return DTF_ZF;
	case 3:
		return DTF_CF | DTF_ZF;
	case 4:
		return DTF_SF;
	case 5:
		return DTF_PF;
	case 6:
		return DTF_SF | DTF_OF;
	default:
		return DTF_ZF | DTF_SF | DTF_OF;
	}
}

/* ---- the case ---- */

bool dt_host_amd, dt_focus_bmi, dt_host_bmi = true;

void gen_one(struct gen *g, bool simple)
{
	unsigned w = rndn(g, simple ? 100 : 120);

	if (dt_focus_avx && chance(g, 80)) {
		g_avx(g);
		return;
	}
	if (dt_focus_bmi && chance(g, 75)) {
		g_bmi(g);
		return;
	}

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
	/* now and then the code starts near a page end: instructions straddle pages */
	tc->code_va = DT_CODE_VA + (chance(&g, 15) ? 0xf80 + rndn(&g, 0x80) : 0);
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
		case 0:
			v = DT_DATA_VA + 16 + rndn(&g, DT_DATA_SIZE - 32);
			break;
		default:
			v = rval(&g);
			break;
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

	if (dt_focus_avx)
		avx_prologue(&g);
	n = 1 + rndn(&g, dt_focus_avx ? 24 : 16);
	for (unsigned k = 0; k < 200 && n > 0 && !g.stop && !code_full(&g); k++) {
		uint32_t before = tc->ninsns;
		if (dt_focus_avx && (tc->ninsns + 28 > DT_MAX_INSNS || tc->len + 400 > DT_CODE_MAX))
			break;
		gen_one(&g, false);
		if (tc->ninsns != before)
			n--;
	}
	if (dt_focus_avx)
		avx_epilogue(&g);
	/* the end: jmp rel32 to EXIT */
	tc->off[tc->ninsns] = (uint16_t)tc->len;
	tc->undef[tc->ninsns] = (uint8_t)g.undef;
	{
		uint64_t exit = g.m32 ? DT_EXIT32_VA : DT_EXIT_VA;
		int32_t d = (int32_t)(exit - (tc->code_va + tc->len + 5));
		tc->code[tc->len++] = 0xe9;
		memcpy(tc->code + tc->len, &d, 4);
		tc->len += 4;
	}
	tc->undef_regs = 0;
}
