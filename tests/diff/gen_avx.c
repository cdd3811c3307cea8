/* SPDX-License-Identifier: MIT */
/*
 * --focus avx: cases of VEX instructions (AVX, AVX2, FMA3, F16C).
 *
 * The harness compares GPRs, flags and the data area, so a case of this
 * kind is framed: a prologue loads every YMM register from the data area
 * and sets MXCSR (random rounding, FZ and DAZ; in one case in ten some
 * exceptions unmasked, so an instruction may end the case with #XM);
 * an epilogue stores every YMM register and MXCSR into the data area (then
 * puts MXCSR back to 1F80H for the native harness), so the registers are
 * compared as memory. Between them: VEX instructions drawn at random from
 * the opcode maps 0F, 0F38 and 0F3A with random pp, L, W, registers,
 * memory operands (in the data area, every form the encoder has) and
 * immediates, kept when Zydis decodes them as AVX/AVX2/FMA/F16C; gathers
 * with index vectors made small first (VPSRLD/VPSRLQ) and now and then a
 * base near the guard page (#PF part-way); malformed VEX forms (a 66, F2,
 * F3 or REX prefix before VEX, VEX.vvvv != 1111b where unused, VEX.L = 1
 * where not allowed) that must raise #UD; and some integer instructions.
 */
#include "gen.h"

bool dt_focus_avx;

#define AVX_REGS_OFF  0x100u  /* prologue: YMM0-15 from here */
#define AVX_OUT_OFF   0x3000u /* epilogue: YMM0-15 to here, MXCSR after them */
#define AVX_MXCSR_OFF 0x3204u /* scratch for the MXCSR loads */

static bool avx_isa(ZydisISASet s)
{
	return s == ZYDIS_ISA_SET_AVX || s == ZYDIS_ISA_SET_AVX2 || s == ZYDIS_ISA_SET_FMA ||
	       s == ZYDIS_ISA_SET_F16C;
}

static unsigned nregs(struct gen *g)
{
	return g->m32 ? 8 : 16;
}

/* the DTF_* flags an instruction defines and leaves undefined (Zydis' table) */
static void zflags(const ZydisDecodedInstruction *zi, struct eff *f)
{
	static const struct {
		ZydisAccessedFlagsMask z;
		unsigned d;
	} map[] = {
	    {ZYDIS_CPUFLAG_CF, DTF_CF}, {ZYDIS_CPUFLAG_PF, DTF_PF}, {ZYDIS_CPUFLAG_AF, DTF_AF},
	    {ZYDIS_CPUFLAG_ZF, DTF_ZF}, {ZYDIS_CPUFLAG_SF, DTF_SF}, {ZYDIS_CPUFLAG_OF, DTF_OF},
	};
	if (!zi->cpu_flags)
		return;
	for (unsigned k = 0; k < 6; k++) {
		if ((zi->cpu_flags->modified | zi->cpu_flags->set_0 | zi->cpu_flags->set_1) &
		    map[k].z)
			f->def |= map[k].d;
		if (zi->cpu_flags->undefined & map[k].z)
			f->undef |= map[k].d;
	}
	f->def &= ~f->undef;
}

/* a vector load/store of YMM r at an absolute address in the data area */
static void ymm_move(struct gen *g, int r, uint64_t addr, bool store)
{
	struct enc e;

	enc_init(&e);
	e.vex = true;
	e.vex3 = chance(g, 20);
	e.map = 1;
	e.vex_pp = 2; /* F3: VMOVDQU */
	e.vex_l = 1;
	e.op = store ? 0x7f : 0x6f;
	e.modrm = true;
	e.reg_is_reg = true;
	e.reg = r;
	e.rm_mem = true;
	e.m.base = e.m.index = -1;
	e.m.disp = (int64_t)addr;
	emit(g, &e, &NOFLAGS);
}

/* VLDMXCSR / VSTMXCSR [addr] (VEX.LZ.0F AE /2, /3) */
static void vmxcsr(struct gen *g, uint64_t addr, bool store)
{
	struct enc e;

	enc_init(&e);
	e.vex = true;
	e.map = 1;
	e.op = 0xae;
	e.modrm = true;
	e.reg = store ? 3 : 2;
	e.rm_mem = true;
	e.m.base = e.m.index = -1;
	e.m.disp = (int64_t)addr;
	emit(g, &e, &NOFLAGS);
}

/* mov dword [addr], v */
static void store_imm32(struct gen *g, uint64_t addr, uint32_t v)
{
	struct enc e;

	enc_init(&e);
	e.op = 0xc7;
	e.modrm = true;
	e.reg = 0;
	e.rm_mem = true;
	e.m.base = e.m.index = -1;
	e.m.disp = (int64_t)addr;
	e.imm = v;
	e.immsz = 4;
	emit(g, &e, &NOFLAGS);
}

void avx_prologue(struct gen *g)
{
	uint32_t mx = 0x1f80 | (uint32_t)rndn(g, 4) << 13;

	if (chance(g, 20))
		mx |= 0x8000; /* FZ */
	if (chance(g, 20))
		mx |= 0x40; /* DAZ */
	if (chance(g, 10))
		mx &= ~((uint32_t)rnd(g) & 0x1f80); /* some exceptions unmasked: #XM */
	for (unsigned r = 0; r < nregs(g); r++)
		ymm_move(g, (int)r, DT_DATA_VA + AVX_REGS_OFF + 32 * r, false);
	store_imm32(g, DT_DATA_VA + AVX_MXCSR_OFF, mx);
	vmxcsr(g, DT_DATA_VA + AVX_MXCSR_OFF, false);
}

void avx_epilogue(struct gen *g)
{
	for (unsigned r = 0; r < nregs(g); r++)
		ymm_move(g, (int)r, DT_DATA_VA + AVX_OUT_OFF + 32 * r, true);
	vmxcsr(g, DT_DATA_VA + AVX_OUT_OFF + 0x200, true);
	store_imm32(g, DT_DATA_VA + AVX_MXCSR_OFF, 0x1f80);
	vmxcsr(g, DT_DATA_VA + AVX_MXCSR_OFF, false);
}

static bool decode(struct gen *g, const uint8_t *b, int n, ZydisDecodedInstruction *zi,
		   ZydisDecodedOperand *ops)
{
	return ZYAN_SUCCESS(ZydisDecoderDecodeFull(&g->dec, b, (ZyanUSize)n, zi, ops));
}

/* a gather with a small index vector and a known base */
static void g_gather(struct gen *g)
{
	unsigned nr = nregs(g);
	int dst = (int)rndn(g, nr), idx = (int)rndn(g, nr), mask = (int)rndn(g, nr);
	bool qidx = chance(g, 50), qdata = chance(g, 50), fault = chance(g, 8);
	int base = pick_reg(g, 8, true);
	struct enc e;
	uint64_t bv;

	if (idx == 4 || (chance(g, 95) && (dst == idx || dst == mask || idx == mask)))
		return;
	/* VPSRLD/VPSRLQ idx, idx, 28/60: indices 0..15 */
	enc_init(&e);
	e.vex = true;
	e.map = 1;
	e.vex_pp = 1;
	e.vex_l = 1;
	e.op = qidx ? 0x73 : 0x72;
	e.modrm = true;
	e.reg = 2;
	e.rm_reg = idx;
	e.vex_vvvv = idx;
	set_imm(&e, qidx ? 60 : 28, 1);
	if (!emit(g, &e, &NOFLAGS))
		return;
	bv = fault ? DT_DATA_VA + DT_DATA_SIZE - 8 * rndn(g, 16) - 8
		   : DT_DATA_VA + 16 + rndn(g, DT_DATA_SIZE - 0x200);
	if (!set_reg(g, base, bv))
		return;
	enc_init(&e);
	e.vex = true;
	e.vex3 = true;
	e.map = 2;
	e.vex_pp = 1;
	e.vex_l = (int)rndn(g, 2);
	e.w = qdata;
	e.op = (uint8_t)((chance(g, 50) ? 0x92 : 0x90) + qidx);
	e.modrm = true;
	e.reg_is_reg = true;
	e.reg = dst;
	e.vex_vvvv = mask;
	e.rm_mem = true;
	e.m.base = base;
	e.m.index = idx;
	e.m.scale = (int)rndn(g, 4);
	e.m.disp = chance(g, 30) ? (int)rndn(g, 64) : 0;
	{
		struct eff f = {.no_memcheck = true, .fault_ok = fault};
		uint8_t b[16];
		int n;
		e.m32 = g->m32;
		n = encode(&e, g->tc->code_va + g->tc->len, b);
		if (n > 0)
			emit_raw(g, b, n, &f);
	}
}

/* a malformed VEX form: #UD for certain; ends the case */
static void g_avx_bad(struct gen *g, const uint8_t *b, int n, const ZydisDecodedInstruction *zi)
{
	uint8_t o[20];
	int m = 0;
	ZydisDecodedInstruction z2;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	struct eff f = {.fault_ok = true};
	int vex_at = 0;

	while (vex_at < n && b[vex_at] != 0xc4 && b[vex_at] != 0xc5)
		vex_at++;
	if (vex_at >= n)
		return;
	memcpy(o, b, (size_t)n);
	m = n;
	switch (rndn(g, 3)) {
	case 0: { /* a legacy prefix (or REX in 64-bit mode) right before VEX */
		static const uint8_t p[] = {0x66, 0xf2, 0xf3, 0x40, 0x48, 0xf0};
		uint8_t v = p[rndn(g, g->m32 ? 3 : 6)];
		if (v == 0xf0)
			v = 0x66;
		memmove(o + vex_at + 1, o + vex_at, (size_t)(n - vex_at));
		o[vex_at] = v;
		m = n + 1;
		break;
	}
	case 1: /* VEX.vvvv != 1111b */
		o[vex_at + (b[vex_at] == 0xc4 ? 2 : 1)] ^= (uint8_t)(0x08 << rndn(g, 4));
		break;
	default: /* VEX.L flipped */
		o[vex_at + (b[vex_at] == 0xc4 ? 2 : 1)] ^= 0x04;
		break;
	}
	(void)zi;
	/* only what the decoder refuses: that is #UD on the host and here */
	if (m > 15 || decode(g, o, m, &z2, ops))
		return;
	if (emit_raw(g, o, m, &f)) {
		g->stop = true;
		g->tc->must_fault = !g->in_cond; /* a branch may skip it */
	}
}

void g_avx(struct gen *g)
{
	unsigned nr = nregs(g);

	if (chance(g, 6)) {
		g_gather(g);
		return;
	}
	for (int tries = 0; tries < 60; tries++) {
		struct enc e;
		ZydisDecodedInstruction zi;
		ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
		uint8_t b[24];
		int n;
		bool mem = chance(g, 35);
		struct eff f = {0};

		enc_init(&e);
		e.vex = true;
		e.vex3 = chance(g, 25);
		e.map = 1 + (int)rndn(g, 3);
		e.op = (uint8_t)rnd(g);
		e.vex_pp = (int)rndn(g, 4);
		e.vex_l = (int)rndn(g, 2);
		e.w = chance(g, 50);
		e.modrm = true;
		e.reg_is_reg = true;
		e.reg = (int)rndn(g, nr);
		e.vex_vvvv = chance(g, 30) ? 0 : (int)rndn(g, nr);
		if (mem) {
			pick_mem(g, &e, 32);
		} else {
			e.rm_reg = (int)rndn(g, nr);
		}
		set_imm(&e, chance(g, 30) ? rndn(g, 32) : rnd(g) & 0xff, 1);
		e.m32 = g->m32;
		n = encode(&e, g->tc->code_va + g->tc->len, b);
		if (n <= 0 || !decode(g, b, n, &zi, ops))
			continue;
		if (zi.length == n - 1) {
			/* no immediate: encode again without it (a RIP-relative
			 * displacement depends on the length) */
			e.immsz = 0;
			n = encode(&e, g->tc->code_va + g->tc->len, b);
			if (n <= 0 || !decode(g, b, n, &zi, ops) || zi.length != n)
				continue;
		} else if (zi.length != n) {
			continue;
		}
		if (zi.encoding != ZYDIS_INSTRUCTION_ENCODING_VEX || !avx_isa(zi.meta.isa_set))
			continue;
		switch (zi.mnemonic) {
		case ZYDIS_MNEMONIC_VLDMXCSR:	 /* an unmasked exception would end the case */
		case ZYDIS_MNEMONIC_VMASKMOVDQU: /* implicit [rDI] */
		case ZYDIS_MNEMONIC_VPCLMULQDQ:	 /* PCLMULQDQ: not in softkvm's model (#UD) */
			continue;
		default:
			break;
		}
		zflags(&zi, &f);
		if (chance(g, 3) && !g->m32) {
			g_avx_bad(g, b, n, &zi);
			return;
		}
		if (emit_raw(g, b, n, &f))
			return;
	}
}
