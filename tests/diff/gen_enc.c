/* SPDX-License-Identifier: MIT */
/*
 * Differential-test generator: a small x86-64 encoder (legacy prefixes, REX,
 * VEX, ModRM/SIB with every displacement form, RIP-relative), so the cases
 * can use encodings an assembler would not pick.
 */
#include "gen.h"

void enc_init(struct enc *e)
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

int encode(const struct enc *e, uint64_t addr, uint8_t *o)
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
				sib =
				    (m->scale << 6) | ((m->index < 0 ? 4 : m->index & 7) << 3) | 5;
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
					sib = (m->scale << 6) |
					      ((m->index < 0 ? 4 : m->index & 7) << 3) | (b & 7);
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
			o[n++] = (uint8_t)((!rr << 7) | ((~e->vex_vvvv & 15) << 3) |
					   (e->vex_l << 2) | e->vex_pp);
		} else {
			o[n++] = 0xc4;
			o[n++] = (uint8_t)((!rr << 7) | (!rx << 6) | (!rb << 5) | mmmmm);
			o[n++] = (uint8_t)((e->w << 7) | ((~e->vex_vvvv & 15) << 3) |
					   (e->vex_l << 2) | e->vex_pp);
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
