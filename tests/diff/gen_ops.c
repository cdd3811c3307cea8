/* SPDX-License-Identifier: MIT */
/* Differential-test generator: the data-processing instruction classes. */
#include "gen.h"

/* ADD OR ADC SBB AND SUB XOR CMP */
void g_alu(struct gen *g)
{
	int op = (int)rndn(g, 8);
	unsigned size = pick_size(g, ALLSZ), isz = size == 8 ? 4 : size;
	struct enc e;
	struct eff f = {.def = DTF_ALL};
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
			e.op = g->m32 && chance(g, 30)
				   ? 0x82
				   : 0x80; /* 82h: 80h alias outside 64-bit mode */
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

void g_test(struct gen *g)
{
	unsigned size = pick_size(g, ALLSZ), isz = size == 8 ? 4 : size;
	struct enc e;
	struct eff f = {.def = DTF_ALL & ~DTF_AF, .undef = DTF_AF};

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
void g_unary(struct gen *g)
{
	unsigned size = pick_size(g, ALLSZ);
	int k = (int)rndn(g, 4);
	struct enc e;
	struct eff f = {0};

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
	case 0:
		return 1;
	case 1:
		return rndn(g, size * 8 + 2);
	case 2:
		return rndn(g, 256);
	default:
		return rndn(g, 8);
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

void g_shift(struct gen *g)
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

void g_shd(struct gen *g)
{
	unsigned size = pick_size(g, WIDE), cnt;
	bool left = chance(g, 50), cl = chance(g, 50);
	struct enc e;
	struct eff f = {0};

	if (cl) {
		if (!ensure_cl(g, &cnt))
			return;
		if (size == 2 && (cnt & 0x1f) > 16 &&
		    !set_reg(g, 1, rndn(g, 17) | (rndn(g, 8) << 5)))
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

void g_muldiv(struct gen *g)
{
	unsigned size = pick_size(g, ALLSZ);
	int k = (int)rndn(g, 7);
	struct enc e;
	struct eff f = {.def = DTF_CF | DTF_OF, .undef = DTF_SF | DTF_ZF | DTF_AF | DTF_PF};

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
			f = (struct eff){.undef = DTF_ALL};
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
void g_bt(struct gen *g)
{
	unsigned size = pick_size(g, WIDE);
	int op = (int)rndn(g, 4);
	struct enc e;
	struct eff f = {.def = DTF_CF, .undef = DTF_OF | DTF_SF | DTF_ZF | DTF_AF | DTF_PF};

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
			if (!g->known[r] || (int64_t)(size == 2	  ? (int16_t)g->val[r]
						      : size == 4 ? (int32_t)g->val[r]
								  : (int64_t)g->val[r]) != bits) {
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

/* BSF BSR TZCNT LZCNT POPCNT, CRC32 */
void g_bitscan(struct gen *g)
{
	unsigned size = pick_size(g, WIDE);
	int k = (int)rndn(g, 6);
	struct enc e;
	struct eff f;

	enc_init(&e);
	if (k == 5) { /* CRC32 r32/r64, r/m8/16/32/64 (no flags) */
		unsigned ssz = pick_size(g, ALLSZ);
		opsize(g, &e, ssz);
		e.byte_regs = false;
		if (ssz == 1 && !g->m32 && chance(g, 50))
			e.w = true; /* crc32 r64, r/m8 */
		e.pfx[e.npfx++] = 0xf2;
		e.map = 2;
		e.op = ssz == 1 ? 0xf0 : 0xf1;
		e.reg_is_reg = true;
		e.reg = pick_reg(g, 4, true);
		pick_rm(g, &e, ssz, false, 40);
		if (ssz == 1 && !e.rm_mem) {
			/* the source is a byte register: AH..BH or the REX forms */
			e.byte_regs = true;
			if (e.reg >= 4 && e.reg < 8 && e.rm_reg >= R_AH)
				e.rm_reg -= R_AH;
		}
		emit(g, &e, &NOFLAGS);
		return;
	}
	opsize(g, &e, size);
	e.map = 1;
	switch (k) {
	case 0:
	case 1:
		e.op = k ? 0xbd : 0xbc;
		f = (struct eff){.def = DTF_ZF, .undef = DTF_ALL & ~DTF_ZF};
		break;
	case 2:
	case 3:
		e.pfx[e.npfx++] = 0xf3;
		e.op = k == 3 ? 0xbd : 0xbc;
		f = (struct eff){.def = DTF_ZF | DTF_CF, .undef = DTF_ALL & ~(DTF_ZF | DTF_CF)};
		break;
	default:
		e.pfx[e.npfx++] = 0xf3;
		e.op = 0xb8;
		f = (struct eff){.def = DTF_ALL};
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

/* a bit position or count near the operand size: 0, 1, size - 1, size, size + 1, 63, 64, 65,
 * 127, 128, 255 or random; bits 8 and up (ignored by BZHI and the shifts) random half the time */
static uint64_t bmi_edge8(struct gen *g, unsigned bits)
{
	static const unsigned fixed[] = {0, 1, 63, 64, 65, 127, 128, 255};
	unsigned k = rndn(g, 12), v;
	if (k < 8)
		v = fixed[k];
	else if (k < 11)
		v = bits - 1 + (k - 8); /* size - 1, size, size + 1 */
	else
		v = rndn(g, 256);
	return v;
}

static uint64_t bmi_junk(struct gen *g, uint64_t v, unsigned from)
{
	if (chance(g, 50))
		v |= rnd(g) << from;
	return v;
}

/* Malformed VEX forms of the BMI instructions, each #UD (SDM vol. 2A, 2.5.1 "Exception
 * Conditions for VEX-Encoded GPR Instructions"): VEX.L = 1, VEX.vvvv != 1111b where the
 * instruction has no vvvv operand (RORX), a 66 F2 F3 LOCK or REX prefix before VEX; and a
 * memory source in a guard page (#PF with its error code and CR2). In 32-bit
 * code also the forms the SDM does not make #UD there (VEX.W1, VEX.vvvv[3], VEX.B): the host
 * decides, so they end the case without a planned fault. */
static void g_bmi_bad(struct gen *g, struct enc *e)
{
	struct eff f = {.fault_ok = true, .stackop = true, .no_memcheck = true};
	uint8_t b[20];
	int n, k = (int)rndn(g, 6);
	bool certain = true;

	if (g->in_cond)
		return;
	switch (k) {
	case 0:
		e->vex_l = 1;
		break;
	case 5: { /* the memory source in a guard page, or across into one: #PF, error code, CR2 */
		unsigned size = e->w ? 8 : 4;
		uint64_t t = chance(g, 50) ? DT_GUARD_HI + rndn(g, 0x1000 - 8)
					   : DT_GUARD_LO + rndn(g, 0x1000);
		if (chance(g, 30))
			t = (chance(g, 50) ? DT_GUARD_HI : DT_DATA_VA) - 1 - rndn(g, size - 1);
		e->modrm = true;
		e->rm_mem = true;
		pick_mem_at(g, &e->m, t, !g->m32);
		break;
	}
	case 1: /* RORX with a vvvv register */
		e->map = 3;
		e->op = 0xf0;
		e->vex_pp = 3;
		e->vex_vvvv = 1 + (int)rndn(g, g->m32 ? 7 : 15);
		set_imm(e, rndn(g, 256), 1);
		break;
	case 2: {
		static const uint8_t p[] = {0x66, 0xf2, 0xf3, 0xf0};
		e->pfx[e->npfx++] = p[rndn(g, 4)];
		break;
	}
	case 3: /* REX before VEX (64-bit only; INC/DEC in 32-bit code) */
		if (g->m32)
			return;
		e->pfx[e->npfx++] = (uint8_t)(0x40 + rndn(g, 16));
		break;
	default: /* 32-bit code: W1, vvvv[3], ~B = 0 */
		if (!g->m32)
			return;
		certain = false;
		switch (rndn(g, 3)) {
		case 0:
			e->w = true;
			break;
		case 1:
			if (e->op == 0xf0 && e->map == 3)
				return;
			e->vex_vvvv |= 8;
			break;
		default:
			if (e->rm_mem)
				return;
			e->rm_reg |= 8; /* encodes ~B = 0 */
			break;
		}
		break;
	}
	e->m32 = g->m32;
	n = encode(e, g->tc->code_va + g->tc->len, b);
	if (n < 0)
		return;
	if (emit_raw(g, b, n, &f)) {
		g->stop = true;
		g->tc->must_fault = certain;
	}
}

void g_bmi(struct gen *g)
{
	unsigned size = chance(g, 50) && !g->m32 ? 8 : 4, bits = size * 8;
	int k = (int)rndn(g, 15), ctl = -1;
	uint64_t cv = 0;
	struct enc e;
	struct eff f = {0};
	/* the undefined flags, as the AMD host sets them (dt_host_amd) */
	unsigned amd_af_pf = dt_host_amd ? 0 : DTF_AF | DTF_PF;

	if (!dt_host_bmi)
		return;
	enc_init(&e);
	e.vex = true;
	e.vex3 = chance(g, 30);
	e.w = size == 8;
	e.map = 2;
	e.reg_is_reg = true;
	e.reg = pick_reg(g, size, true);
	e.vex_vvvv = (int)rndn(g, g->m32 ? 8 : 16);
	switch (k) {
	case 0: /* ANDN */
		e.op = 0xf2;
		f = (struct eff){.def = DTF_SF | DTF_ZF | DTF_CF | DTF_OF | (DTF_AF & ~amd_af_pf) |
					(DTF_PF & ~amd_af_pf),
				 .undef = amd_af_pf};
		break;
	case 1:
	case 2:
	case 3: /* BLSR BLSMSK BLSI: vvvv is the destination */
		e.op = 0xf3;
		e.reg_is_reg = false;
		e.reg = k;
		e.vex_vvvv = pick_reg(g, size, true);
		f = (struct eff){.def = DTF_ALL & ~amd_af_pf, .undef = amd_af_pf};
		break;
	case 4: /* BEXTR: start in bits 7:0, length in 15:8 of vvvv */
		e.op = 0xf7;
		ctl = e.vex_vvvv;
		cv = bmi_junk(g, bmi_edge8(g, bits) | bmi_edge8(g, bits) << 8, 16);
		f = (struct eff){.def = DTF_ALL & ~(amd_af_pf | (dt_host_amd ? 0 : DTF_SF)),
				 .undef = amd_af_pf | (dt_host_amd ? 0 : DTF_SF)};
		break;
	case 5: /* BZHI: index in bits 7:0 of vvvv */
		e.op = 0xf5;
		ctl = e.vex_vvvv;
		cv = bmi_junk(g, bmi_edge8(g, bits), 8);
		f = (struct eff){.def = DTF_ALL & ~amd_af_pf, .undef = amd_af_pf};
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
		ctl = e.vex_vvvv;
		cv = bmi_junk(g, bmi_edge8(g, bits), 8);
		break;
	case 10: /* SHLX */
		e.op = 0xf7;
		e.vex_pp = 1;
		ctl = e.vex_vvvv;
		cv = bmi_junk(g, bmi_edge8(g, bits), 8);
		break;
	case 11: /* SHRX */
		e.op = 0xf7;
		e.vex_pp = 3;
		ctl = e.vex_vvvv;
		cv = bmi_junk(g, bmi_edge8(g, bits), 8);
		break;
	case 12: /* RORX */
		e.map = 3;
		e.op = 0xf0;
		e.vex_pp = 3;
		e.vex_vvvv = 0;
		set_imm(&e, chance(g, 50) ? bmi_edge8(g, bits) : rndn(g, 256), 1);
		break;
	default: { /* ADCX / ADOX: legacy encoding 66/F3 0F 38 F6 */
		bool ox = k == 14;
		struct enc a;
		enc_init(&a);
		a.pfx[a.npfx++] = ox ? 0xf3 : 0x66;
		if (chance(g, 10)) /* 66 with F3 is ADOX */
			a.pfx[a.npfx++] = 0x66;
		a.w = size == 8;
		a.rex40 = !g->m32 && chance(g, 5);
		a.map = 2;
		a.op = 0xf6;
		a.reg_is_reg = true;
		a.reg = pick_reg(g, size, true);
		pick_rm(g, &a, size, false, 35);
		f = (struct eff){.def = ox ? DTF_OF : DTF_CF, .reads = ox ? DTF_OF : DTF_CF};
		shuffle_pfx(g, &a);
		emit(g, &a, &f);
		return;
	}
	}
	/* the control operand (and now and then the source) at an edge; the rest of
	 * the time whatever the register holds; then the r/m operand, whose address
	 * may use the register just set */
	if (ctl >= 0 && ctl != R_SP && chance(g, 70) && !set_reg(g, ctl, cv))
		return;
	pick_rm(g, &e, size, false, 35);
	if (!e.rm_mem && e.rm_reg != R_SP && chance(g, 15) &&
	    !set_reg(g, e.rm_reg, chance(g, 50) ? 0 : ~0ull))
		return;
	if (chance(g, 4)) {
		g_bmi_bad(g, &e);
		return;
	}
	emit(g, &e, &f);
}

/* CMPXCHG XADD XCHG CMPXCHG8B/16B */
void g_atomic(struct gen *g)
{
	unsigned size = pick_size(g, ALLSZ);
	int k = (int)rndn(g, 5);
	struct enc e;
	struct eff f = {.def = DTF_ALL};

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
		if (emit(g, &e, &f) && f.fault_ok) {
			g->stop = true;
			/* #GP (misaligned), unless a branch skips it */
			g->tc->must_fault = !g->in_cond;
		}
		return;
	}
	}
	shuffle_pfx(g, &e);
	emit(g, &e, &f);
}

/* MOV forms, MOVZX/MOVSX/MOVSXD, LEA, moffs */
void g_mov(struct gen *g)
{
	unsigned size = pick_size(g, ALLSZ);
	struct enc e;
	struct eff f = {0};

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
			emit_raw(g, b, n, &(struct eff){.no_memcheck = true});
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

void g_cmov_setcc(struct gen *g)
{
	unsigned cc = rndn(g, 16);
	struct enc e;
	struct eff f = {.reads = cond_reads(cc)};

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
void g_misc(struct gen *g)
{
	struct enc e;
	struct eff f = {0};
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
	case 2:	  /* CBW CWDE CDQE */
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
		static const uint8_t ops[] = {0xf8, 0xf9, 0xf5};
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
		    {1, 0x90},
		    {2, 0x66, 0x90},
		    {3, 0x0f, 0x1f, 0x00},
		    {4, 0x0f, 0x1f, 0x40, 0x00},
		    {5, 0x0f, 0x1f, 0x44, 0x00, 0x00},
		    {6, 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00},
		    {7, 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00},
		    {8, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
		    {9, 0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
		    {2, 0xf3, 0x90},		 /* PAUSE */
		    {4, 0xf3, 0x0f, 0x1e, 0xfa}, /* ENDBR64 */
		    {3, 0x0f, 0x19, 0xc0},	 /* reserved NOP */
		    {3, 0x0f, 0x1e, 0xc8},	 /* reserved NOP */
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
