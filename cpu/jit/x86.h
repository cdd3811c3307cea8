/* SPDX-License-Identifier: MIT */
/*
 * A small x86-64 encoder for the JIT: just the instruction forms the
 * translator emits (Intel SDM vol. 2, chapter 2 for the encodings). Every
 * function appends to a struct xbuf; running out of room sets overflow and
 * keeps writing nothing, so callers check once per block.
 */
#ifndef SOFTKVM_CPU_JIT_X86_H
#define SOFTKVM_CPU_JIT_X86_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum xreg {
	XAX,
	XCX,
	XDX,
	XBX,
	XSP,
	XBP,
	XSI,
	XDI,
	X8,
	X9,
	X10,
	X11,
	X12,
	X13,
	X14,
	X15,
	XNONE = -1,
};

/* condition codes in the encoding's order (Jcc = 0x70 + cc) */
enum xcc {
	CC_O,
	CC_NO,
	CC_B,
	CC_AE,
	CC_E,
	CC_NE,
	CC_BE,
	CC_A,
	CC_S,
	CC_NS,
	CC_P,
	CC_NP,
	CC_L,
	CC_GE,
	CC_LE,
	CC_G,
};

/* the ALU group's /digit (and 0x00 + 8 * op for the r/m, reg forms) */
enum xalu { XADD, XOR_, XADC, XSBB, XAND, XSUB, XXOR, XCMP };

/* the shift group's /digit */
enum xshift { XROL, XROR, XRCL, XRCR, XSHL, XSHR, XSAL_, XSAR };

struct xbuf {
	uint8_t *p, *start, *end;
	bool overflow;
};

static inline void xb(struct xbuf *b, uint8_t v)
{
	if (b->p < b->end)
		*b->p++ = v;
	else
		b->overflow = true;
}

static inline void x32(struct xbuf *b, uint32_t v)
{
	if (b->end - b->p >= 4) {
		memcpy(b->p, &v, 4);
		b->p += 4;
	} else {
		b->overflow = true;
	}
}

static inline void x64(struct xbuf *b, uint64_t v)
{
	x32(b, (uint32_t)v);
	x32(b, (uint32_t)(v >> 32));
}

static inline bool xfits8(int64_t v)
{
	return v >= -128 && v <= 127;
}

static inline bool xfits32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/*
 * A memory operand [base + index * (1 << scale) + disp]; base may be XNONE
 * for an absolute disp32, index XNONE for none. rip = true: [rip + disp],
 * disp being relative to the end of the instruction (resolved by the caller).
 */
struct xmem {
	int base, index;
	unsigned scale;
	int32_t disp;
};

static inline struct xmem xm(int base, int32_t disp)
{
	struct xmem m = {base, XNONE, 0, disp};
	return m;
}

static inline struct xmem xmi(int base, int index, unsigned scale, int32_t disp)
{
	struct xmem m = {base, index, scale, disp};
	return m;
}

/* operand-size prefix and REX for an instruction with a register in ModRM.reg
 * (reg) and an r/m register or memory (rm_base/index), size 1, 2, 4 or 8 */
static inline void xprefix(struct xbuf *b, unsigned size, int reg, int index, int base,
			   bool byte_regs)
{
	if (size == 2)
		xb(b, 0x66);
	uint8_t rex = 0x40;
	if (size == 8)
		rex |= 8;
	if (reg >= 8)
		rex |= 4;
	if (index >= 8)
		rex |= 2;
	if (base >= 8)
		rex |= 1;
	/* SPL, BPL, SIL, DIL need a REX prefix to be told from AH..BH */
	bool need = rex != 0x40 ||
		    (size == 1 && byte_regs && ((reg >= 4 && reg < 8) || (base >= 4 && base < 8)));
	if (need)
		xb(b, rex);
}

static inline void xmodrm_reg(struct xbuf *b, int reg, int rm)
{
	xb(b, (uint8_t)(0xc0 | ((reg & 7) << 3) | (rm & 7)));
}

static inline void xmodrm_mem(struct xbuf *b, int reg, struct xmem m)
{
	int r = reg & 7;
	if (m.base == XNONE && m.index == XNONE) {
		/* absolute: mod 00, rm 100, SIB with no base, no index */
		xb(b, (uint8_t)((r << 3) | 4));
		xb(b, 0x25);
		x32(b, (uint32_t)m.disp);
		return;
	}
	unsigned mod = (m.disp == 0 && (m.base & 7) != XBP) ? 0 : xfits8(m.disp) ? 1 : 2;
	if (m.base == XNONE)
		mod = 0;
	if (m.index != XNONE || (m.base & 7) == XSP) {
		int idx = m.index == XNONE ? XSP : m.index;
		int base = m.base == XNONE ? XBP : m.base;
		xb(b, (uint8_t)((mod << 6) | (r << 3) | 4));
		xb(b, (uint8_t)((m.scale << 6) | ((idx & 7) << 3) | (base & 7)));
		if (m.base == XNONE)
			x32(b, (uint32_t)m.disp);
	} else {
		xb(b, (uint8_t)((mod << 6) | (r << 3) | (m.base & 7)));
	}
	if (mod == 1)
		xb(b, (uint8_t)m.disp);
	else if (mod == 2)
		x32(b, (uint32_t)m.disp);
}

/* [rip + disp] where target is the absolute address the operand names;
 * extra = bytes of the instruction after the displacement (immediates) */
static inline void xmodrm_rip(struct xbuf *b, int reg, const void *target, unsigned extra)
{
	xb(b, (uint8_t)(((reg & 7) << 3) | 5));
	int64_t d = (const uint8_t *)target - (b->p + 4 + extra);
	x32(b, (uint32_t)(int32_t)d);
}

/* op r, r/m (memory) with opcode bytes op (1 or 2 bytes: 0x0f xx) */
static inline void xop_rm(struct xbuf *b, unsigned size, unsigned opc, int reg, struct xmem m)
{
	xprefix(b, size, reg, m.index == XNONE ? 0 : m.index, m.base == XNONE ? 0 : m.base, true);
	if (opc > 0xff)
		xb(b, (uint8_t)(opc >> 8));
	xb(b, (uint8_t)opc);
	xmodrm_mem(b, reg, m);
}

/* op reg, rm (both registers) */
static inline void xop_rr(struct xbuf *b, unsigned size, unsigned opc, int reg, int rm)
{
	xprefix(b, size, reg, 0, rm, true);
	if (opc > 0xff)
		xb(b, (uint8_t)(opc >> 8));
	xb(b, (uint8_t)opc);
	xmodrm_reg(b, reg, rm);
}

/* ---- moves ---- */

/* load size bytes into reg, zero-extended to 64 bits */
static inline void xload(struct xbuf *b, unsigned size, int reg, struct xmem m)
{
	switch (size) {
	case 1:
		xop_rm(b, 4, 0x0fb6, reg, m);
		break; /* movzx r32, m8 */
	case 2:
		xop_rm(b, 4, 0x0fb7, reg, m);
		break; /* movzx r32, m16 */
	case 4:
		xop_rm(b, 4, 0x8b, reg, m);
		break;
	default:
		xop_rm(b, 8, 0x8b, reg, m);
		break;
	}
}

/* load size bytes sign-extended to 64 bits */
static inline void xload_sx(struct xbuf *b, unsigned size, int reg, struct xmem m)
{
	switch (size) {
	case 1:
		xop_rm(b, 8, 0x0fbe, reg, m);
		break;
	case 2:
		xop_rm(b, 8, 0x0fbf, reg, m);
		break;
	case 4:
		xop_rm(b, 8, 0x63, reg, m);
		break; /* movsxd */
	default:
		xop_rm(b, 8, 0x8b, reg, m);
		break;
	}
}

static inline void xstore(struct xbuf *b, unsigned size, int reg, struct xmem m)
{
	xop_rm(b, size, size == 1 ? 0x88 : 0x89, reg, m);
}

/* mov dword/qword [m], imm32 (sign-extended for size 8); size 1, 2 too */
static inline void xstore_imm(struct xbuf *b, unsigned size, struct xmem m, int32_t imm)
{
	xop_rm(b, size, size == 1 ? 0xc6 : 0xc7, 0, m);
	if (size == 1)
		xb(b, (uint8_t)imm);
	else if (size == 2)
		xb(b, (uint8_t)imm), xb(b, (uint8_t)(imm >> 8));
	else
		x32(b, (uint32_t)imm);
}

static inline void xmov_rr(struct xbuf *b, unsigned size, int dst, int src)
{
	xop_rr(b, size == 8 ? 8 : 4, 0x89, src, dst);
}

/* reg = imm (the shortest form) */
static inline void xmov_ri(struct xbuf *b, int reg, uint64_t imm)
{
	if (imm <= 0xffffffffull) {
		xprefix(b, 4, 0, 0, reg, false);
		xb(b, (uint8_t)(0xb8 + (reg & 7)));
		x32(b, (uint32_t)imm);
	} else if ((int64_t)imm == (int32_t)imm) {
		xprefix(b, 8, 0, 0, reg, false);
		xb(b, 0xc7);
		xmodrm_reg(b, 0, reg);
		x32(b, (uint32_t)imm);
	} else {
		xprefix(b, 8, 0, 0, reg, false);
		xb(b, (uint8_t)(0xb8 + (reg & 7)));
		x64(b, imm);
	}
}

static inline void xlea(struct xbuf *b, unsigned size, int reg, struct xmem m)
{
	xop_rm(b, size == 8 ? 8 : 4, 0x8d, reg, m);
}

/* ---- ALU ---- */

/* op dst, src (registers) */
static inline void xalu_rr(struct xbuf *b, enum xalu op, unsigned size, int dst, int src)
{
	xop_rr(b, size, (unsigned)(op * 8 + (size == 1 ? 0 : 1)), src, dst);
}

/* op reg, [m] */
static inline void xalu_rm(struct xbuf *b, enum xalu op, unsigned size, int reg, struct xmem m)
{
	xop_rm(b, size, (unsigned)(op * 8 + (size == 1 ? 2 : 3)), reg, m);
}

/* op [m], reg */
static inline void xalu_mr(struct xbuf *b, enum xalu op, unsigned size, struct xmem m, int reg)
{
	xop_rm(b, size, (unsigned)(op * 8 + (size == 1 ? 0 : 1)), reg, m);
}

/* op reg, imm (imm sign-extended from 8 or 32 bits for sizes 2..8) */
static inline void xalu_ri(struct xbuf *b, enum xalu op, unsigned size, int reg, int32_t imm)
{
	if (size == 1) {
		xop_rr(b, 1, 0x80, op, reg);
		xb(b, (uint8_t)imm);
	} else if (xfits8(imm)) {
		xop_rr(b, size, 0x83, op, reg);
		xb(b, (uint8_t)imm);
	} else {
		xop_rr(b, size, 0x81, op, reg);
		if (size == 2)
			xb(b, (uint8_t)imm), xb(b, (uint8_t)(imm >> 8));
		else
			x32(b, (uint32_t)imm);
	}
}

/* op [m], imm */
static inline void xalu_mi(struct xbuf *b, enum xalu op, unsigned size, struct xmem m, int32_t imm)
{
	if (size == 1) {
		xop_rm(b, 1, 0x80, op, m);
		xb(b, (uint8_t)imm);
	} else if (xfits8(imm)) {
		xop_rm(b, size, 0x83, op, m);
		xb(b, (uint8_t)imm);
	} else {
		xop_rm(b, size, 0x81, op, m);
		if (size == 2)
			xb(b, (uint8_t)imm), xb(b, (uint8_t)(imm >> 8));
		else
			x32(b, (uint32_t)imm);
	}
}

static inline void xtest_rr(struct xbuf *b, unsigned size, int a, int c)
{
	xop_rr(b, size, size == 1 ? 0x84 : 0x85, c, a);
}

static inline void xtest_ri(struct xbuf *b, unsigned size, int reg, int32_t imm)
{
	xop_rr(b, size, size == 1 ? 0xf6 : 0xf7, 0, reg);
	if (size == 1)
		xb(b, (uint8_t)imm);
	else if (size == 2)
		xb(b, (uint8_t)imm), xb(b, (uint8_t)(imm >> 8));
	else
		x32(b, (uint32_t)imm);
}

/* inc/dec/neg/not reg: /0 /1 (0xfe/0xff), /3 /2 (0xf6/0xf7) */
static inline void xunary(struct xbuf *b, unsigned size, unsigned opc, unsigned digit, int reg)
{
	xop_rr(b, size, size == 1 ? opc - 1 : opc, (int)digit, reg);
}
#define xinc(b, size, reg) xunary(b, size, 0xff, 0, reg)
#define xdec(b, size, reg) xunary(b, size, 0xff, 1, reg)
#define xnot(b, size, reg) xunary(b, size, 0xf7, 2, reg)
#define xneg(b, size, reg) xunary(b, size, 0xf7, 3, reg)

/* shift/rotate reg by imm8 (count 1 uses the D1 form as the imm form has
 * the same flags; only the encoding differs) */
static inline void xshift_ri(struct xbuf *b, enum xshift op, unsigned size, int reg, uint8_t n)
{
	xop_rr(b, size, size == 1 ? 0xc0 : 0xc1, op, reg);
	xb(b, n);
}

static inline void xshift_rcl(struct xbuf *b, enum xshift op, unsigned size, int reg)
{
	xop_rr(b, size, size == 1 ? 0xd2 : 0xd3, op, reg);
}

static inline void xsetcc(struct xbuf *b, enum xcc cc, int reg)
{
	xprefix(b, 1, 0, 0, reg, true);
	xb(b, 0x0f);
	xb(b, (uint8_t)(0x90 + cc));
	xmodrm_reg(b, 0, reg);
}

static inline void xcmov_rr(struct xbuf *b, unsigned size, enum xcc cc, int dst, int src)
{
	xop_rr(b, size, 0x0f40u + cc, dst, src);
}

/* op reg, rm where rm is a byte register (SPL..DIL need a REX prefix) */
static inline void xop_rr_b8src(struct xbuf *b, unsigned size, unsigned opc, int reg, int rm)
{
	uint8_t rex = 0x40 | (size == 8 ? 8 : 0) | (reg >= 8 ? 4 : 0) | (rm >= 8 ? 1 : 0);
	if (rex != 0x40 || (rm >= 4 && rm < 8))
		xb(b, rex);
	xb(b, (uint8_t)(opc >> 8));
	xb(b, (uint8_t)opc);
	xmodrm_reg(b, reg, rm);
}

static inline void xmovzx_rr(struct xbuf *b, unsigned from, int dst, int src)
{
	if (from == 1)
		xop_rr_b8src(b, 4, 0x0fb6, dst, src);
	else
		xop_rr(b, 4, 0x0fb7, dst, src);
}

static inline void xmovsx_rr(struct xbuf *b, unsigned from, unsigned to, int dst, int src)
{
	if (from == 4)
		xop_rr(b, 8, 0x63, dst, src);
	else if (from == 1)
		xop_rr_b8src(b, to == 8 ? 8 : 4, 0x0fbe, dst, src);
	else
		xop_rr(b, to == 8 ? 8 : 4, 0x0fbf, dst, src);
}

static inline void ximul_rr(struct xbuf *b, unsigned size, int dst, int src)
{
	xop_rr(b, size, 0x0faf, dst, src);
}

/* imul dst, src, imm32 */
static inline void ximul_rri(struct xbuf *b, unsigned size, int dst, int src, int32_t imm)
{
	xop_rr(b, size, 0x69, dst, src);
	x32(b, (uint32_t)imm);
}

/* ---- control ---- */

/* jcc rel32 to a target address not known yet: returns the rel32's position */
static inline uint8_t *xjcc32(struct xbuf *b, enum xcc cc)
{
	xb(b, 0x0f);
	xb(b, (uint8_t)(0x80 + cc));
	uint8_t *at = b->p;
	x32(b, 0);
	return at;
}

static inline uint8_t *xjmp32(struct xbuf *b)
{
	xb(b, 0xe9);
	uint8_t *at = b->p;
	x32(b, 0);
	return at;
}

/* point a rel32 at target */
static inline void xpatch32(uint8_t *at, const void *target)
{
	if (!at)
		return;
	int32_t d = (int32_t)((const uint8_t *)target - (at + 4));
	memcpy(at, &d, 4);
}

static inline void xjcc_to(struct xbuf *b, enum xcc cc, const void *target)
{
	uint8_t *at = xjcc32(b, cc);
	if (!b->overflow)
		xpatch32(at, target);
}

static inline void xjmp_to(struct xbuf *b, const void *target)
{
	uint8_t *at = xjmp32(b);
	if (!b->overflow)
		xpatch32(at, target);
}

/* call an absolute address (through rax) */
static inline void xcall(struct xbuf *b, const void *fn)
{
	xmov_ri(b, XAX, (uint64_t)(uintptr_t)fn);
	xb(b, 0xff);
	xmodrm_reg(b, 2, XAX);
}

static inline void xjmp_r(struct xbuf *b, int reg)
{
	xprefix(b, 4, 0, 0, reg, false);
	xb(b, 0xff);
	xmodrm_reg(b, 4, reg);
}

static inline void xpush(struct xbuf *b, int reg)
{
	if (reg >= 8)
		xb(b, 0x41);
	xb(b, (uint8_t)(0x50 + (reg & 7)));
}

static inline void xpop(struct xbuf *b, int reg)
{
	if (reg >= 8)
		xb(b, 0x41);
	xb(b, (uint8_t)(0x58 + (reg & 7)));
}

static inline void xret(struct xbuf *b)
{
	xb(b, 0xc3);
}

/* SSE: mandatory prefix pfx (0x66, 0xf3, 0xf2 or 0), 0x0f opc, xmm reg
 * (< 8) with a memory operand */
static inline void xsse_m(struct xbuf *b, uint8_t pfx, uint8_t opc, int reg, struct xmem m)
{
	if (pfx)
		xb(b, pfx);
	uint8_t rex = 0x40 | (reg >= 8 ? 4 : 0) | (m.index >= 8 ? 2 : 0) | (m.base >= 8 ? 1 : 0);
	if (rex != 0x40)
		xb(b, rex);
	xb(b, 0x0f);
	xb(b, opc);
	xmodrm_mem(b, reg, m);
}

/* SSE register-register form: reg (ModRM.reg) and rm registers (xmm or, for
 * PMOVMSKB's destination, a GPR in reg) */
static inline void xsse_r(struct xbuf *b, uint8_t pfx, uint8_t opc, int reg, int rm)
{
	if (pfx)
		xb(b, pfx);
	uint8_t rex = 0x40 | (reg >= 8 ? 4 : 0) | (rm >= 8 ? 1 : 0);
	if (rex != 0x40)
		xb(b, rex);
	xb(b, 0x0f);
	xb(b, opc);
	xmodrm_reg(b, reg, rm);
}

static inline void xbswap(struct xbuf *b, unsigned size, int reg)
{
	xprefix(b, size, 0, 0, reg, false);
	xb(b, 0x0f);
	xb(b, (uint8_t)(0xc8 + (reg & 7)));
}

#endif
