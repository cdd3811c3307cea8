/* SPDX-License-Identifier: MIT */
/*
 * Case generator of the x87/SSE differential test.
 *
 * The instruction forms are not written by hand: at start-up every
 * legacy-encoded opcode (0F, 0F38, 0F3A maps with no/66/F2/F3 prefix and
 * REX.W 0/1, each ModRM.reg digit, register and memory forms; D8-DF with
 * every ModRM) is decoded with Zydis and kept when it belongs to an ISA set
 * softkvm implements and advertises (x87, MMX, SSE to SSE4.2, FXSAVE, XSAVE).
 * So every advertised x87 and SSE instruction is a template, and a new one
 * is covered without touching this file.
 *
 * An instance picks random registers (REX.R/B included), a memory operand
 * [r15 + disp] inside DATA (16- or 64-byte aligned where the form wants it,
 * sometimes misaligned or in a guard page on purpose), an optional 67h
 * prefix and a random imm8. r15 and rdi stay pointers into DATA. XSAVE and
 * XRSTOR get EDX:EAX within x87|SSE; restores mostly follow a save to the
 * same place so they load sane images.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <Zydis/Zydis.h>

#include "fpdiff.h"

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

static unsigned rbelow(struct rng *r, unsigned n)
{
	return (unsigned)(rnext(r) % n);
}

static bool chance(struct rng *r, unsigned percent)
{
	return rbelow(r, 100) < percent;
}

/* ---- special values ---- */

static uint32_t rand_f32(struct rng *r)
{
	static const uint32_t sp[] = {
	    0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001,
	    0x7fa00000, 0x00000001, 0x007fffff, 0x00800000, 0x80800000, 0x7f7fffff, 0x3f800000,
	    0xbf800000, 0x40000000, 0x4f000000, 0xcf000000, 0x5f000000, 0x3f000000, 0x34000000,
	};
	uint64_t v = rnext(r);
	switch (v % 5) {
	case 0:
		return sp[(v >> 8) % (sizeof(sp) / sizeof(sp[0]))];
	case 1:
		return (uint32_t)(v >> 32);
	case 2: /* exponent near the ends of the range */
		return (uint32_t)((v >> 40) & 0x807fffff) | ((uint32_t)((v >> 8) % 6) << 23) |
		       (((v >> 20) & 1) ? 0x78000000u : 0);
	case 3: { /* a small integer */
		float f = (float)(int)((int64_t)(v >> 40) % 100000);
		uint32_t u;
		memcpy(&u, &f, 4);
		return u;
	}
	default: /* near 1 */
		return 0x3f800000 ^ (uint32_t)((v >> 16) & 0x807fffff & (0xffu << ((v >> 8) % 24)));
	}
}

static uint64_t rand_f64(struct rng *r)
{
	static const uint64_t sp[] = {
	    0x0000000000000000ull, 0x8000000000000000ull, 0x7ff0000000000000ull,
	    0xfff0000000000000ull, 0x7ff8000000000000ull, 0xfff8000000000000ull,
	    0x7ff0000000000001ull, 0x7ff4000000000000ull, 0x0000000000000001ull,
	    0x000fffffffffffffull, 0x0010000000000000ull, 0x7fefffffffffffffull,
	    0x3ff0000000000000ull, 0xbff0000000000000ull, 0x41e0000000000000ull,
	    0xc1e0000000000000ull, 0x43e0000000000000ull, 0x3fe0000000000000ull,
	    0x3cb0000000000000ull, 0x47efffffe0000000ull, 0x36a0000000000000ull,
	};
	uint64_t v = rnext(r);
	switch (v % 5) {
	case 0:
		return sp[(v >> 8) % (sizeof(sp) / sizeof(sp[0]))];
	case 1:
		return rnext(r);
	case 2:
		return (rnext(r) & 0x800fffffffffffffull) | (((v >> 8) % 8) << 52) |
		       (((v >> 20) & 1) ? 0x7f80000000000000ull : 0);
	case 3: {
		double d = (double)((int64_t)(v >> 20) % 100000000);
		uint64_t u;
		memcpy(&u, &d, 8);
		return u;
	}
	default: {
		uint64_t u = 0x3ff0000000000000ull;
		return u ^ ((v >> 8) & 0x800fffffffffffffull & (~0ull << ((v >> 4) % 52)));
	}
	}
}

/* an 80-bit register value: mantissa, sign|exponent */
static void rand_f80(struct rng *r, uint8_t *out)
{
	uint64_t m = rnext(r), v = rnext(r);
	uint16_t se;

	switch (v % 8) {
	case 0:
		m = 0;
		se = (v >> 8) & 0x8000;
		break; /* zero */
	case 1:
		m = 1ull << 63;
		se = ((v >> 8) & 0x8000) | 0x7fff;
		break; /* infinity */
	case 2:
		m |= 1ull << 63;
		se = ((v >> 8) & 0x8000) | 0x7fff;
		break; /* NaN */
	case 3:
		m &= ~(1ull << 63);
		se = (uint16_t)((v >> 8) & 0x8000);
		break; /* denormal */
	case 4:
		se = (uint16_t)((v >> 8) & 0xffff);
		break; /* anything (unsupported too) */
	case 5:
		m |= 1ull << 63;
		se = (uint16_t)(((v >> 8) & 0x8000) | (0x3fff + (int)((v >> 16) % 64) - 32));
		break;
	case 6: { /* an integer */
		long double d = (long double)(int64_t)(v >> 24);
		memcpy(out, &d, 10);
		return;
	}
	default:
		m |= 1ull << 63;
		se = (uint16_t)((v >> 8) & 0xffff);
		break; /* normal */
	}
	memcpy(out, &m, 8);
	memcpy(out + 8, &se, 2);
}

void fd_fill_data(uint8_t *buf, uint64_t seed)
{
	struct rng r = {seed};

	for (unsigned k = 0; k < FD_DATA_SIZE; k += 8) {
		uint64_t v = rnext(&r), w;
		switch (v % 8) {
		case 0:
		case 1:
		case 2:
			w = rnext(&r);
			break;
		case 3:
		case 4:
			w = rand_f64(&r);
			break;
		case 5:
			w = rand_f32(&r) | (uint64_t)rand_f32(&r) << 32;
			break;
		case 6:
			w = (v >> 8) & 0x0000ffff0000ffffull;
			break; /* MXCSR-like dwords */
		default: {
			uint8_t t[10];
			rand_f80(&r, t);
			memcpy(&w, t, 8);
			break;
		}
		}
		memcpy(buf + k, &w, 8);
	}
}

/* ---- templates ---- */

enum { CL_NONE, CL_XMM, CL_MM, CL_GPR };
enum { TK_SIMD, TK_X87, TK_NOMODRM };
enum { SP_NONE, SP_XSAVE, SP_XRSTOR, SP_FXSAVE, SP_FXRSTOR, SP_ENV_SAVE, SP_ENV_LOAD };

struct tmpl {
	uint8_t kind, pfx, w, map, opcode, digit, modrm; /* modrm: x87 register forms */
	bool mem, reg_is_op, imm8, align16;
	uint8_t reg_cls, rm_cls, reg_gsz, rm_gsz;
	bool reg_w, rm_w;
	uint16_t memsize;
	uint8_t special;
	char name[40];
};

#define MAX_TMPL 4096
struct tmpl_table {
	struct tmpl t[MAX_TMPL];
	unsigned n;
};
static struct tmpl_table tt; /* built once by fd_gen_init(), read-only afterwards */

static bool isa_wanted(ZydisISASet s)
{
	switch (s) {
	case ZYDIS_ISA_SET_SSE:
	case ZYDIS_ISA_SET_SSE2:
	case ZYDIS_ISA_SET_SSE3:
	case ZYDIS_ISA_SET_SSSE3:
	case ZYDIS_ISA_SET_SSE4:
	case ZYDIS_ISA_SET_SSE42:
	case ZYDIS_ISA_SET_PENTIUMMMX:
	case ZYDIS_ISA_SET_SSE2MMX:
	case ZYDIS_ISA_SET_SSSE3MMX:
	case ZYDIS_ISA_SET_SSEMXCSR:
	case ZYDIS_ISA_SET_X87:
	case ZYDIS_ISA_SET_FCMOV:
	case ZYDIS_ISA_SET_SSE3X87:
	case ZYDIS_ISA_SET_FXSAVE:
	case ZYDIS_ISA_SET_FXSAVE64:
	case ZYDIS_ISA_SET_XSAVE:
	case ZYDIS_ISA_SET_XSAVEOPT:
	case ZYDIS_ISA_SET_XSAVEC:
		return true;
	default:
		return false;
	}
}

static uint8_t reg_class(ZydisRegister r, uint8_t *gsz)
{
	ZydisRegisterClass c = ZydisRegisterGetClass(r);
	switch (c) {
	case ZYDIS_REGCLASS_XMM:
		return CL_XMM;
	case ZYDIS_REGCLASS_MMX:
		return CL_MM;
	case ZYDIS_REGCLASS_GPR8:
		*gsz = 1;
		return CL_GPR;
	case ZYDIS_REGCLASS_GPR16:
		*gsz = 2;
		return CL_GPR;
	case ZYDIS_REGCLASS_GPR32:
		*gsz = 4;
		return CL_GPR;
	case ZYDIS_REGCLASS_GPR64:
		*gsz = 8;
		return CL_GPR;
	default:
		return CL_NONE;
	}
}

static bool decode(const uint8_t *b, unsigned n, ZydisDecodedInstruction *zi,
		   ZydisDecodedOperand *ops)
{
	ZydisDecoder d;
	ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	return ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, b, n, zi, ops));
}

static bool same_tmpl(const struct tmpl *a, const struct tmpl *b)
{
	return !strcmp(a->name, b->name) && a->mem == b->mem && a->memsize == b->memsize &&
	       a->reg_cls == b->reg_cls && a->rm_cls == b->rm_cls && a->reg_gsz == b->reg_gsz &&
	       a->rm_gsz == b->rm_gsz;
}

static void add(struct tmpl *t)
{
	for (unsigned k = 0; k < tt.n; k++)
		if (same_tmpl(&tt.t[k], t) && tt.t[k].pfx == t->pfx && tt.t[k].map == t->map &&
		    tt.t[k].opcode == t->opcode && tt.t[k].digit == t->digit &&
		    tt.t[k].kind == t->kind && tt.t[k].modrm == t->modrm)
			return; /* REX.W made no difference */
	if (tt.n < MAX_TMPL)
		tt.t[tt.n++] = *t;
}

/* fill operand facts from a decoded instruction; false: not a form we test */
static bool analyse(struct tmpl *t, const ZydisDecodedInstruction *zi,
		    const ZydisDecodedOperand *ops)
{
	ZydisMnemonic m = zi->mnemonic;

	if (!isa_wanted(zi->meta.isa_set) || zi->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY)
		return false;
	snprintf(t->name, sizeof(t->name), "%s", ZydisMnemonicGetString(m));
	for (unsigned k = 0; k < zi->operand_count; k++) {
		const ZydisDecodedOperand *o = &ops[k];
		bool wr = o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;
		if (o->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
			t->imm8 = true;
		} else if (o->type == ZYDIS_OPERAND_TYPE_MEMORY &&
			   o->visibility != ZYDIS_OPERAND_VISIBILITY_HIDDEN) {
			t->memsize = (uint16_t)(o->size / 8);
		} else if (o->type == ZYDIS_OPERAND_TYPE_REGISTER &&
			   o->visibility != ZYDIS_OPERAND_VISIBILITY_HIDDEN) {
			uint8_t gsz = 0, cl = reg_class(o->reg.value, &gsz);
			if (o->encoding == ZYDIS_OPERAND_ENCODING_MODRM_REG) {
				t->reg_is_op = true;
				t->reg_cls = cl;
				t->reg_gsz = gsz;
				t->reg_w = wr;
			} else if (o->encoding == ZYDIS_OPERAND_ENCODING_MODRM_RM) {
				t->rm_cls = cl;
				t->rm_gsz = gsz;
				t->rm_w = wr;
			}
		}
	}
	switch (m) {
	case ZYDIS_MNEMONIC_XSAVE:
	case ZYDIS_MNEMONIC_XSAVE64:
	case ZYDIS_MNEMONIC_XSAVEOPT:
	case ZYDIS_MNEMONIC_XSAVEOPT64:
	case ZYDIS_MNEMONIC_XSAVEC:
	case ZYDIS_MNEMONIC_XSAVEC64:
		t->special = SP_XSAVE;
		break;
	case ZYDIS_MNEMONIC_XRSTOR:
	case ZYDIS_MNEMONIC_XRSTOR64:
		t->special = SP_XRSTOR;
		break;
	case ZYDIS_MNEMONIC_FXSAVE:
	case ZYDIS_MNEMONIC_FXSAVE64:
		t->special = SP_FXSAVE;
		break;
	case ZYDIS_MNEMONIC_FXRSTOR:
	case ZYDIS_MNEMONIC_FXRSTOR64:
		t->special = SP_FXRSTOR;
		break;
	case ZYDIS_MNEMONIC_FNSTENV:
	case ZYDIS_MNEMONIC_FNSAVE:
		t->special = SP_ENV_SAVE;
		break;
	case ZYDIS_MNEMONIC_FLDENV:
	case ZYDIS_MNEMONIC_FRSTOR:
		t->special = SP_ENV_LOAD;
		break;
	case ZYDIS_MNEMONIC_PREFETCHNTA:
	case ZYDIS_MNEMONIC_PREFETCHT0:
	case ZYDIS_MNEMONIC_PREFETCHT1:
	case ZYDIS_MNEMONIC_PREFETCHT2:
	case ZYDIS_MNEMONIC_XGETBV: /* the host's XCR0 has AVX and more: unit tests */
	case ZYDIS_MNEMONIC_XSETBV:
		return false;
	default:
		break;
	}
	t->align16 = t->memsize == 16 && m != ZYDIS_MNEMONIC_MOVUPS && m != ZYDIS_MNEMONIC_MOVUPD &&
		     m != ZYDIS_MNEMONIC_MOVDQU && m != ZYDIS_MNEMONIC_LDDQU &&
		     m != ZYDIS_MNEMONIC_PCMPESTRI && m != ZYDIS_MNEMONIC_PCMPESTRM &&
		     m != ZYDIS_MNEMONIC_PCMPISTRI && m != ZYDIS_MNEMONIC_PCMPISTRM;
	return true;
}

static void enum_simd(void)
{
	static const uint8_t pfx[4] = {0, 0x66, 0xf3, 0xf2};
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];

	for (int map = 1; map <= 3; map++)
		for (int p = 0; p < 4; p++)
			for (int w = 0; w < 2; w++)
				for (int op = 0; op < 256; op++)
					for (int digit = 0; digit < 8; digit++)
						for (int mem = 0; mem < 2; mem++) {
							uint8_t b[16] = {0};
							unsigned n = 0;
							struct tmpl t;

							if (pfx[p])
								b[n++] = pfx[p];
							if (w || mem)
								b[n++] = (uint8_t)(0x40 | (w << 3) |
										   mem);
							b[n++] = 0x0f;
							if (map == 2)
								b[n++] = 0x38;
							if (map == 3)
								b[n++] = 0x3a;
							b[n++] = (uint8_t)op;
							b[n++] = (uint8_t)(mem ? (digit << 3 | 7)
									       : (0xc0 |
										  digit << 3 | 1));
							n += 6;
							if (!decode(b, n, &zi, ops))
								continue;
							memset(&t, 0, sizeof(t));
							t.pfx = pfx[p];
							t.w = (uint8_t)w;
							t.map = (uint8_t)map;
							t.opcode = (uint8_t)op;
							t.digit = (uint8_t)digit;
							t.mem = mem;
							t.kind =
							    (zi.attributes & ZYDIS_ATTRIB_HAS_MODRM)
								? TK_SIMD
								: TK_NOMODRM;
							if (!analyse(&t, &zi, ops))
								continue;
							if (t.kind == TK_NOMODRM && (digit || mem))
								continue;
							if (t.reg_is_op && digit != 1)
								continue; /* ModRM.reg is a
									     register: one digit
									     stands for all */
							add(&t);
						}
}

static void enum_x87(void)
{
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];

	for (int op = 0xd8; op <= 0xdf; op++) {
		for (int modrm = 0; modrm < 256; modrm++) {
			uint8_t b[16] = {0};
			bool mem = (modrm >> 6) != 3;
			struct tmpl t;
			unsigned n = 0;

			if (mem && (modrm & 0xc7) != 0x07)
				continue; /* one memory form per digit: [r15] */
			if (mem)
				b[n++] = 0x41;
			b[n++] = (uint8_t)op;
			b[n++] = (uint8_t)modrm;
			n += 6;
			if (!decode(b, n, &zi, ops))
				continue;
			memset(&t, 0, sizeof(t));
			t.kind = TK_X87;
			t.opcode = (uint8_t)op;
			t.modrm = (uint8_t)modrm;
			t.digit = (uint8_t)((modrm >> 3) & 7);
			t.mem = mem;
			if (!analyse(&t, &zi, ops))
				continue;
			add(&t);
		}
	}
	/* FWAIT */
	{
		struct tmpl t;
		memset(&t, 0, sizeof(t));
		t.kind = TK_NOMODRM;
		t.opcode = 0x9b;
		snprintf(t.name, sizeof(t.name), "fwait");
		add(&t);
	}
}

void fd_gen_init(void)
{
	if (tt.n)
		return;
	enum_simd();
	enum_x87();
}

unsigned fd_template_count(void)
{
	return tt.n;
}

const char *fd_template_name(unsigned k)
{
	static char buf[MAX_TMPL][64];
	const struct tmpl *t = &tt.t[k];
	if (!buf[k][0])
		snprintf(buf[k], sizeof(buf[k]), "%s%s%s (%02x%s %02x/%u%s)", t->name,
			 t->mem ? " mem" : "", t->w ? " W" : "", t->pfx, t->map ? " 0f" : "",
			 t->opcode, t->kind == TK_X87 ? t->modrm : t->digit, t->imm8 ? " ib" : "");
	return buf[k];
}

/* ---- instances ---- */

struct out {
	struct fd_case *tc;
	struct rng *r;
	unsigned save_off[3]; /* last env (FNSTENV/FNSAVE), XSAVE, FXSAVE offset + 1, 0 none */
	unsigned env_size;
};

static void emit(struct out *o, const uint8_t *b, unsigned n)
{
	if (o->tc->len + n > FD_CODE_MAX - 8)
		return;
	memcpy(o->tc->code + o->tc->len, b, n);
	o->tc->len += n;
}

static void mask(struct out *o, unsigned off, unsigned len)
{
	struct fd_case *tc = o->tc;
	if (tc->nmasks < FD_MAX_MASKS) {
		tc->mask[tc->nmasks].off = (uint16_t)off;
		tc->mask[tc->nmasks].len = (uint16_t)len;
		tc->nmasks++;
	}
}

/* a register number for an operand of class cl; written GPRs avoid RSP, RDI, R15 */
static unsigned pick_reg(struct rng *r, uint8_t cl, bool written)
{
	unsigned v;
	if (cl == CL_MM)
		return rbelow(r, 8) | (chance(r, 10) ? 8 : 0); /* REX.R/B are ignored */
	do
		v = rbelow(r, 16);
	while (cl == CL_GPR && written && (v == 4 || v == FD_DI_REG || v == FD_BASE_REG));
	return v;
}

/* does [off, off + size) touch a byte the comparison ignores? */
static bool touches_mask(const struct fd_case *tc, unsigned off, unsigned size)
{
	for (unsigned k = 0; k < tc->nmasks; k++)
		if (off < (unsigned)tc->mask[k].off + tc->mask[k].len &&
		    tc->mask[k].off < off + size)
			return true;
	return false;
}

/*
 * The displacement of a memory operand of size n from r15 (DATA +
 * FD_BASE_OFF). Operands keep off the ignored bytes of saved images: the
 * value there differs between AMD's FXSAVE and softkvm's by design.
 */
static int32_t pick_disp(struct out *o, unsigned size, unsigned align)
{
	struct rng *r = o->r;
	int32_t d = 0;

	if (chance(r, 1))
		return -(int32_t)FD_BASE_OFF - 16 + (int32_t)rbelow(r, 8); /* guard page: #PF */
	for (int tries = 0; tries < 32; tries++) {
		if (align > 1 && chance(r, 97))
			d = (int32_t)(rbelow(r, 0x800 / align) * align) - 0x400;
		else
			d = (int32_t)rbelow(r, 0x800) - 0x400;
		if ((unsigned)(d + (int32_t)FD_BASE_OFF) + size > FD_DATA_SIZE)
			continue;
		if (!touches_mask(o->tc, (unsigned)(d + (int32_t)FD_BASE_OFF), size))
			break;
	}
	return d;
}

/* emit one instance of template t; mem_off: forced displacement, or INT32_MIN */
static void gen_tmpl(struct out *o, int ti, int32_t mem_disp)
{
	const struct tmpl *t = &tt.t[ti];
	struct rng *r = o->r;
	uint8_t b[24];
	unsigned n = 0, reg = t->digit, rm = 0, rex = 0;
	bool a32 = t->mem && chance(r, 10);
	int32_t disp = 0;
	unsigned align = t->align16 ? 16 : 1;

	if (t->special == SP_XSAVE || t->special == SP_XRSTOR)
		align = 64;
	if (t->special == SP_FXSAVE || t->special == SP_FXRSTOR)
		align = 16;
	if (t->kind == TK_NOMODRM) {
		if (t->opcode == 0x9b) {
			b[n++] = 0x9b;
		} else {
			b[n++] = 0x0f;
			b[n++] = t->opcode;
		}
		emit(o, b, n);
		return;
	}
	if (t->mem)
		disp = mem_disp != INT32_MIN ? mem_disp
					     : pick_disp(o, t->memsize ? t->memsize : 16, align);
	if (chance(r, 1))
		b[n++] = 0xf0; /* LOCK: #UD */
	if (a32)
		b[n++] = 0x67;
	if (t->kind == TK_X87) {
		if (t->mem)
			b[n++] = (uint8_t)(0x41 | (t->w << 3));
		b[n++] = t->opcode;
		if (!t->mem) {
			b[n++] = t->modrm;
			emit(o, b, n);
			return;
		}
		reg = t->digit;
	} else {
		if (t->pfx)
			b[n++] = t->pfx;
		if (t->reg_is_op)
			reg = pick_reg(r, t->reg_cls, t->reg_w);
		if (!t->mem)
			rm = pick_reg(r, t->rm_cls, t->rm_w);
		rex = (t->w ? 8u : 0) | ((reg & 8) ? 4u : 0) | (t->mem ? 1u : ((rm & 8) ? 1u : 0));
		if (rex || chance(r, 10))
			b[n++] = (uint8_t)(0x40 | rex);
		b[n++] = 0x0f;
		if (t->map == 2)
			b[n++] = 0x38;
		if (t->map == 3)
			b[n++] = 0x3a;
		b[n++] = t->opcode;
	}
	if (t->mem) {
		bool d8 = disp >= -128 && disp < 128 && chance(r, 80);
		b[n++] = (uint8_t)((d8 ? 0x40 : 0x80) | (reg & 7) << 3 | 7);
		if (d8) {
			b[n++] = (uint8_t)disp;
		} else {
			memcpy(b + n, &disp, 4);
			n += 4;
		}
	} else {
		b[n++] = (uint8_t)(0xc0 | (reg & 7) << 3 | (rm & 7));
	}
	if (t->imm8)
		b[n++] = (uint8_t)rnext(r);
	emit(o, b, n);

	if (t->mem) {
		unsigned off = FD_BASE_OFF + (unsigned)disp;
		switch (t->special) {
		case SP_FXSAVE:
		case SP_XSAVE:
			/* pointer fields: AMD stores them only with an exception pending;
			 * MXCSR_MASK: AMD's has bit 17 (misaligned SSE mode), softkvm
			 * reports Intel's FFFFH */
			mask(o, off + 6, 18);
			mask(o, off + 28, 4);
			o->save_off[t->special == SP_XSAVE ? 1 : 2] = off + 1;
			break;
		case SP_ENV_SAVE:
			/* FCS and FDS: the user selectors differ from the harness's;
			 * after FXRSTOR/XRSTOR the pointers are not comparable */
			if (o->tc->no_ptrs)
				mask(o, off + 12, 14);
			mask(o, off + 16, 2);
			mask(o, off + 24, 2);
			o->save_off[0] = off + 1;
			break;
		default:
			break;
		}
	}
}

static void emit_rfbm(struct out *o)
{
	uint8_t b[7] = {0xb8, 0, 0, 0, 0, 0x31, 0xd2}; /* mov eax, imm32; xor edx, edx */
	/* within x87|SSE: the host's XCR0 has more (AVX...), the guest's not */
	b[1] = (uint8_t)(chance(o->r, 70) ? 3 : rbelow(o->r, 4));
	emit(o, b, 7);
}

static int find_tmpl(uint8_t special, bool rex_w)
{
	int best = -1;
	for (unsigned k = 0; k < tt.n; k++)
		if (tt.t[k].special == special && tt.t[k].w == rex_w && tt.t[k].mem)
			best = (int)k;
	return best;
}

static void gen_insn(struct out *o, unsigned idx)
{
	struct rng *r = o->r;
	int ti = (int)rbelow(r, tt.n);
	const struct tmpl *t = &tt.t[ti];

	o->tc->tmpl[idx] = (int16_t)ti;
	if (t->special == SP_XRSTOR || t->special == SP_FXRSTOR)
		o->tc->no_ptrs = true;
	/* AMD leaves FIP/FOP alone when FCMOVcc does not move; the SDM (and
	 * softkvm) update them for every non-control instruction */
	if (t->kind == TK_X87 && (t->opcode == 0xda || t->opcode == 0xdb) && !t->mem &&
	    (t->modrm & 0xe0) == 0xc0)
		o->tc->no_ptrs = true;
	if (t->special == SP_XSAVE || t->special == SP_XRSTOR)
		emit_rfbm(o);
	/* restores mostly load what an earlier save of this case stored */
	if (t->special == SP_XRSTOR && o->save_off[1] && chance(r, 85)) {
		gen_tmpl(o, ti, (int32_t)(o->save_off[1] - 1) - (int32_t)FD_BASE_OFF);
		return;
	}
	if (t->special == SP_FXRSTOR && (o->save_off[1] || o->save_off[2]) && chance(r, 85)) {
		unsigned s = o->save_off[2] ? o->save_off[2] : o->save_off[1];
		gen_tmpl(o, ti, (int32_t)(s - 1) - (int32_t)FD_BASE_OFF);
		return;
	}
	if (t->special == SP_FXRSTOR && chance(r, 70)) {
		/* FXSAVE first, to the same place */
		int s = find_tmpl(SP_FXSAVE, t->w);
		int32_t d = pick_disp(o, 512, 16);
		if (s >= 0) {
			gen_tmpl(o, s, d);
			gen_tmpl(o, ti, d);
			return;
		}
	}
	if (t->special == SP_XRSTOR && chance(r, 70)) {
		int s = find_tmpl(SP_XSAVE, t->w);
		int32_t d = pick_disp(o, 576, 64);
		if (s >= 0) {
			gen_tmpl(o, s, d);
			emit_rfbm(o);
			gen_tmpl(o, ti, d);
			return;
		}
	}
	if (t->special == SP_ENV_LOAD && o->save_off[0] && chance(r, 80)) {
		gen_tmpl(o, ti, (int32_t)(o->save_off[0] - 1) - (int32_t)FD_BASE_OFF);
		return;
	}
	gen_tmpl(o, ti, INT32_MIN);
}

static void gen_state(struct rng *r, struct fd_state *s)
{
	uint8_t *fx = s->fx;
	uint16_t fcw, fsw;
	uint32_t mxcsr;

	for (int k = 0; k < 16; k++)
		s->gpr[k] = chance(r, 20) ? rnext(r) & 0x1f : rnext(r);
	s->gpr[4] = FD_DATA_VA + 0x1800;
	s->gpr[FD_BASE_REG] = FD_DATA_VA + FD_BASE_OFF;
	s->gpr[FD_DI_REG] = FD_DATA_VA + rbelow(r, 0x1000);
	s->rflags = 0x202 | (rnext(r) & 0x8d5);
	memset(fx, 0, 512);
	fcw = 0x037f;
	if (chance(r, 50))
		fcw = (uint16_t)((fcw & ~0xf00) | (rnext(r) & 0xf00)); /* PC, RC */
	if (chance(r, 15))
		fcw = (uint16_t)((fcw & ~0x3f) | (rnext(r) & 0x3f)); /* unmasked exceptions */
	fsw = (uint16_t)(rnext(r) & 0x7f00);			     /* TOP, C0-C3 */
	fsw |= (uint16_t)(rnext(r) & 0x3f & fcw);
	memcpy(fx, &fcw, 2);
	memcpy(fx + 2, &fsw, 2);
	fx[4] = (uint8_t)(chance(r, 30) ? 0 : rnext(r));
	for (int k = 0; k < 8; k++)
		rand_f80(r, fx + 32 + 16 * k);
	mxcsr = 0x1f80 | (uint32_t)(rnext(r) & 0x003f);
	if (chance(r, 60))
		mxcsr |= (uint32_t)(rnext(r) & 0xe040); /* RC, FZ, DAZ */
	if (chance(r, 15))
		mxcsr &= ~(uint32_t)(rnext(r) & 0x1f80);
	memcpy(fx + 24, &mxcsr, 4);
	for (int k = 0; k < 16; k++) {
		uint8_t *x = fx + 160 + 16 * k;
		switch (rbelow(r, 4)) {
		case 0:
			for (int j = 0; j < 4; j++) {
				uint32_t v = rand_f32(r);
				memcpy(x + 4 * j, &v, 4);
			}
			break;
		case 1:
			for (int j = 0; j < 2; j++) {
				uint64_t v = rand_f64(r);
				memcpy(x + 8 * j, &v, 8);
			}
			break;
		default:
			for (int j = 0; j < 2; j++) {
				uint64_t v = rnext(r);
				if (chance(r, 20))
					v &= 0x00ff00ff00ff00ffull;
				memcpy(x + 8 * j, &v, 8);
			}
			break;
		}
	}
}

void fd_generate(struct fd_case *tc, uint64_t seed)
{
	struct rng r = {seed};
	struct out o = {.tc = tc, .r = &r};
	unsigned n = 1 + rbelow(&r, 6);

	fd_gen_init();
	memset(tc, 0, sizeof(*tc));
	tc->len = 0;
	tc->nmasks = 0;
	gen_state(&r, &tc->in);
	tc->data_seed = rnext(&r);
	for (unsigned k = 0; k < n && k < FD_MAX_INSNS; k++) {
		tc->off[k] = (uint16_t)tc->len;
		gen_insn(&o, k);
		tc->ninsns = k + 1;
	}
	tc->off[tc->ninsns] = (uint16_t)tc->len;
	/* jmp EXIT */
	{
		int32_t rel = (int32_t)(FD_EXIT_VA - (FD_CODE_VA + tc->len + 5));
		uint8_t j[5] = {0xe9};
		memcpy(j + 1, &rel, 4);
		memcpy(tc->code + tc->len, j, 5);
		tc->len += 5;
	}
}
