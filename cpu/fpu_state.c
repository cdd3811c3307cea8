/* SPDX-License-Identifier: MIT */
/*
 * x87/SSE state: reset, the tag word, the images kvm/ reads and writes
 * (FXSAVE64, standard-format XSAVE) and the XCR0 rules.
 */
#include "fpu.h"

void fpu_set_fsw(struct cpu *c, uint16_t fsw)
{
	unsigned old = (fx_get16(c, FX_FSW) >> 11) & 7, top = (fsw >> 11) & 7;

	if (old != top) {
		uint8_t tmp[128];
		memcpy(tmp, c->fx + FX_ST, 128);
		for (unsigned k = 0; k < 8; k++)
			memcpy(c->fx + FX_ST + 16 * k, tmp + 16 * ((top + k - old) & 7), 16);
	}
	fx_put16(c, FX_FSW, fsw);
}

void fpu_x87_init(struct cpu *c)
{
	/* FNINIT: FCW 037FH, FSW 0, all tags empty, pointers and opcode 0 */
	fx_put16(c, FX_FCW, 0x037f);
	fpu_set_fsw(c, 0);
	c->fx[FX_FTW] = 0;
	c->fx[FX_FTW + 1] = 0;
	fx_put16(c, FX_FOP, 0);
	memset(c->fx + FX_FIP, 0, 16);
	c->fx_fcs = c->fx_fds = 0;
}

void fpu_reset(struct cpu *c)
{
	/*
	 * As KVM's vCPU reset (fpstate_init: FCW 037FH, MXCSR 1F80H, the rest
	 * zero); the SDM's power-up FCW of 0040H is replaced by the first
	 * FNINIT of any firmware, and KVM_GET_FPU on a new vCPU shows 037FH.
	 */
	memset(c->fx, 0, sizeof(c->fx));
	memset(c->ymmh, 0, sizeof(c->ymmh));
	fpu_x87_init(c);
	fx_set_mxcsr(c, MXCSR_DEFAULT);
}

void fpu_x87_update_es(struct cpu *c)
{
	uint16_t fsw = fx_get16(c, FX_FSW), fcw = fx_get16(c, FX_FCW);

	if (fsw & ~fcw & 0x3f)
		fsw |= FSW_ES | FSW_B;
	else
		fsw &= (uint16_t) ~(FSW_ES | FSW_B);
	fx_put16(c, FX_FSW, fsw);
}

/* class of an 80-bit register for the full tag (SDM vol. 1, table 8-? and FXSAVE) */
static unsigned tag_of(const uint8_t *r)
{
	uint64_t m;
	uint16_t se;

	memcpy(&m, r, 8);
	memcpy(&se, r + 8, 2);
	if ((se & 0x7fff) == 0x7fff)
		return 2; /* special: NaN, infinity, unsupported */
	if ((se & 0x7fff) == 0)
		return m ? 2 : 1; /* denormal (special) or zero */
	return (m >> 63) ? 0 : 2; /* valid, or unnormal (special) */
}

uint16_t fpu_full_tag(const struct cpu *c)
{
	unsigned top = (fx_get16(c, FX_FSW) >> 11) & 7;
	uint16_t tw = 0;

	for (unsigned p = 0; p < 8; p++) {
		unsigned t = 3;
		if (c->fx[FX_FTW] & (1u << p))
			t = tag_of(c->fx + FX_ST + 16 * ((p - top) & 7));
		tw |= (uint16_t)(t << (2 * p));
	}
	return tw;
}

uint8_t fpu_abridged_tag(uint16_t full)
{
	uint8_t a = 0;
	for (unsigned p = 0; p < 8; p++)
		if (((full >> (2 * p)) & 3) != 3)
			a |= (uint8_t)(1u << p);
	return a;
}

bool fpu_x87_is_init(const struct cpu *c)
{
	static const uint8_t zero[128];

	return fx_get16(c, FX_FCW) == 0x037f && fx_get16(c, FX_FSW) == 0 && c->fx[FX_FTW] == 0 &&
	       fx_get16(c, FX_FOP) == 0 && !memcmp(c->fx + FX_FIP, zero, 16) && !c->fx_fcs &&
	       !c->fx_fds && !memcmp(c->fx + FX_ST, zero, 128);
}

bool fpu_sse_is_init(const struct cpu *c)
{
	static const uint8_t zero[256];
	/* XINUSE[1] covers the XMM registers only, not MXCSR (SDM vol. 1, 13.6) */
	return !memcmp(c->fx + FX_XMM, zero, 256);
}

bool fpu_ymm_is_init(const struct cpu *c)
{
	static const uint8_t zero[256];
	return !memcmp(c->ymmh, zero, 256);
}

/* ---- images for kvm/ ---- */

void cpu_get_fxsave(const struct cpu *c, void *buf)
{
	uint8_t *b = buf;
	uint32_t mask = CPU_MXCSR_MASK;

	memcpy(b, c->fx, 416);
	b[FX_FTW + 1] = 0;
	memcpy(b + FX_MXMSK, &mask, 4);
	for (unsigned k = 0; k < 8; k++)
		memset(b + FX_ST + 16 * k + 10, 0, 6);
	memset(b + 416, 0, 96);
}

void cpu_set_fxsave(struct cpu *c, const void *buf)
{
	const uint8_t *b = buf;
	uint32_t mxcsr;

	memcpy(c->fx, b, 416);
	c->fx[FX_FTW + 1] = 0;
	for (unsigned k = 0; k < 8; k++)
		memset(c->fx + FX_ST + 16 * k + 10, 0, 6);
	mxcsr = fx_mxcsr(c) & CPU_MXCSR_MASK;
	fx_set_mxcsr(c, mxcsr);
	fpu_x87_update_es(c);
}

void cpu_get_xsave(const struct cpu *c, void *buf, uint64_t mask)
{
	uint8_t *b = buf;
	uint64_t bv = 0;

	memset(b, 0, CPU_XSAVE_SIZE);
	cpu_get_fxsave(c, b);
	if (!fpu_x87_is_init(c))
		bv |= 1;
	if (!fpu_sse_is_init(c))
		bv |= 2;
	if (!fpu_ymm_is_init(c))
		bv |= 4;
	bv &= mask;
	if (bv & 4)
		memcpy(b + CPU_XSAVE_YMM_OFF, c->ymmh, 256);
	memcpy(b + 512, &bv, 8);
}

void cpu_set_xsave(struct cpu *c, const void *buf)
{
	const uint8_t *b = buf;
	uint64_t bv;
	uint32_t mxcsr;

	memcpy(&bv, b + 512, 8);
	memcpy(&mxcsr, b + FX_MXCSR, 4);
	if (bv & 1) {
		memcpy(c->fx, b, 160);
		c->fx[FX_FTW + 1] = 0;
		for (unsigned k = 0; k < 8; k++)
			memset(c->fx + FX_ST + 16 * k + 10, 0, 6);
	} else {
		memset(c->fx + FX_ST, 0, 128);
		fpu_x87_init(c);
	}
	if (bv & 2)
		memcpy(c->fx + FX_XMM, b + FX_XMM, 256);
	else
		memset(c->fx + FX_XMM, 0, 256);
	if (bv & 4)
		memcpy(c->ymmh, b + CPU_XSAVE_YMM_OFF, 256);
	else
		memset(c->ymmh, 0, 256);
	/* XRSTOR (standard form) loads MXCSR whenever RFBM[1] is set */
	fx_set_mxcsr(c, mxcsr & CPU_MXCSR_MASK);
	fpu_x87_update_es(c);
}

/* ---- XCR0 ---- */

uint64_t cpu_get_xcr0(const struct cpu *c)
{
	return c->xcr0;
}

void cpu_set_xcr0_allowed(struct cpu *c, uint64_t mask)
{
	c->xcr0_allowed = (mask & CPU_XCR0_SUPPORTED) | 1;
}

int cpu_set_xcr0(struct cpu *c, uint64_t v)
{
	/* SDM vol. 1, 13.3 and XSETBV; KVM's __kvm_set_xcr() */
	if (!(v & 1))
		return -1;
	if ((v & 4) && !(v & 2))
		return -1;
	if (v & ~c->xcr0_allowed)
		return -1;
	c->xcr0 = v;
	if (c->ops->xcr0_changed)
		c->ops->xcr0_changed(c->opaque, v);
	return 0;
}
