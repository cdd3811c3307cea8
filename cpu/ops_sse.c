/* SPDX-License-Identifier: MIT */
/*
 * SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2 and MMX (legacy encodings).
 *
 * One decoder handles every instruction of those ISA sets: it maps the
 * operands (XMM, MM, GPR, memory, implicit XMM0/EAX/EDX/ECX/RFLAGS) and
 * asks the host execution unit (fpu_host.c) for the operation; one handler
 * runs it with the checks of SDM vol. 2, "Exceptions Type" tables (22-x in
 * vol. 2 appendix, and vol. 1 11.5 for SIMD floating-point exceptions):
 *   #UD  CR0.EM, or CR4.OSFXSR clear for instructions with XMM operands
 *   #NM  CR0.TS
 *   #MF  a pending x87 exception, for instructions on MMX registers
 *   #GP  a misaligned 16-byte operand of the aligned forms, then memory faults
 *   #XM  an unmasked SIMD floating-point exception (#UD without OSXMMEXCPT)
 * Data moves and a few instructions with special operands are in C.
 */
#include <emmintrin.h>
#include <stdatomic.h>

#include "decode.h"
#include "fpu.h"
#include "jit/jit.h"
#include "ops.h"

/* i->aux2: operand map and behaviour */
#define SF_REGK(f) ((f)&7)
#define SF_RMK(f)  (((f) >> 3) & 7)
#define SF_REG_W   (1u << 7)
#define SF_RM_W	   (1u << 9)
#define SF_MXCSR   (1u << 10)
#define SF_RFLAGS  (1u << 11)
#define SF_ALIGN   (1u << 12)
#define SF_XMM0	   (1u << 13)
#define SF_GPR_IN  (1u << 15) /* implicit EAX/EDX (RAX/RDX) */
#define SF_MMX	   (1u << 16) /* an MMX register operand: x87 state transition */
#define SF_SSE	   (1u << 17) /* an XMM operand: needs CR4.OSFXSR */
#define SF_RCX_OUT (1u << 18)
#define SF_DPPS	   (1u << 19) /* multi-step: see dp_steps() */
#define SF_DPPD	   (1u << 20)
/* i->aux: GPR operand sizes, reg | rm << 4; imm8 << 8 */

static inline uint8_t *mm_reg(struct cpu *c, unsigned r)
{
	return c->fx + FX_ST + 16 * r; /* after fpu_mmx_enter(): TOP = 0 */
}

static void simd_avail(struct cpu *c, uint32_t fl)
{
	if (fl & SF_MMX) {
		if ((c->cr0 & CR0_EM) || ((fl & SF_SSE) && !(c->cr4 & CR4_OSFXSR)))
			cpu_raise_noerr(c, EXC_UD);
		fpu_mmx_check(c);
	} else if (fl & SF_SSE) {
		fpu_sse_check(c);
	}
}

/*
 * Some SIMD floating-point exception is unmasked (SDM vol. 1, 11.5.1 and
 * 11.5.2). The host runs instructions with every exception masked, so the
 * fault is worked out, element by element, from what masked runs report:
 *  - pre-computation exceptions (invalid, denormal, divide-by-zero) are
 *    checked for all elements first; one unmasked faults with the
 *    pre-computation flags of all elements;
 *  - else each element gives its post-computation flags: an unmasked
 *    overflow OE, an unmasked underflow UE (for a tiny result even when
 *    exact, which a masked run does not report: a run with FZ, whose flush
 *    reports every tiny result, tells), both with PE if the result is
 *    inexact with an unbounded exponent (elem_exact()); otherwise the
 *    masked response's flags (OE|PE, UE|PE, PE). Any unmasked one faults.
 * On a fault the destination is unchanged and MXCSR gets the flags. An
 * element is computed alone by giving the other input elements a value that
 * raises nothing (1.0, or 1 for integer sources).
 */
enum { LN_ONE, LN_VERT, LN_HORIZ };
enum { LB_F32, LB_F64, LB_I32 };
enum { OPK_NONE, OPK_ADD, OPK_SUB, OPK_MUL, OPK_DIV, OPK_CVT, OPK_ADDSUB };

struct lanes {
	uint8_t shape, esz, n, benign, op;
};

static struct lanes lanes_of(uint32_t fl)
{
	struct lanes l = {(uint8_t)((fl >> 21) & 3), (uint8_t)((fl >> 23) & 1 ? 8 : 4),
			  (uint8_t)((fl >> 24) & 7), (uint8_t)((fl >> 27) & 3),
			  (uint8_t)(fl >> 29)};
	return l;
}

/*
 * Is the result of an element exact when rounded to its format with an
 * unbounded exponent? Decides PE for unmasked overflow and underflow
 * (SDM vol. 1, 4.9.1.4-5: the flag follows the rounding of the result the
 * handler would see). Done on integers: value = m * 2^e.
 */
struct fpv {
	bool special, zero, neg;
	int e;
	uint64_t m;
};

static struct fpv fp_decode(const uint8_t *p, bool dbl, bool daz)
{
	struct fpv v = {false, false, false, 0, 0};
	uint64_t bits = 0;
	unsigned be;

	memcpy(&bits, p, dbl ? 8 : 4);
	if (dbl) {
		v.neg = bits >> 63;
		be = (bits >> 52) & 0x7ff;
		v.m = bits & ((1ull << 52) - 1);
		v.special = be == 0x7ff;
		v.e = be ? (int)be - 1075 : -1074;
		if (be)
			v.m |= 1ull << 52;
	} else {
		v.neg = (bits >> 31) & 1;
		be = (bits >> 23) & 0xff;
		v.m = bits & 0x7fffff;
		v.special = be == 0xff;
		v.e = be ? (int)be - 150 : -149;
		if (be)
			v.m |= 1ull << 23;
	}
	if (!be && daz)
		v.m = 0;
	v.zero = v.m == 0;
	return v;
}

static unsigned width128(unsigned __int128 x)
{
	unsigned len = 0, tz = 0;
	if (!x)
		return 0;
	while (!((x >> tz) & 1))
		tz++;
	while (x >> len)
		len++;
	return len - tz;
}

static bool elem_exact(unsigned op, bool dbl_in, unsigned prec, const uint8_t *a, const uint8_t *b,
		       bool daz)
{
	struct fpv x = fp_decode(a, dbl_in, daz), y = fp_decode(b, dbl_in, daz);

	if (op == OPK_CVT)
		return y.special || width128(y.m) <= prec;
	if (x.special || y.special)
		return true;
	switch (op) {
	case OPK_MUL:
		return x.zero || y.zero || width128((unsigned __int128)x.m * y.m) <= prec;
	case OPK_DIV: {
		uint64_t mx = x.m, my = y.m;
		if (x.zero || y.zero)
			return true;
		while (!(mx & 1))
			mx >>= 1;
		while (!(my & 1))
			my >>= 1;
		return mx % my == 0 && width128(mx / my) <= prec;
	}
	case OPK_ADD:
	case OPK_SUB: {
		__int128 sx, sy, s;
		int d;
		if (op == OPK_SUB)
			y.neg = !y.neg;
		if (x.zero || y.zero)
			return width128(x.zero ? y.m : x.m) <= prec;
		d = x.e - y.e;
		if (d > 70 || d < -70)
			return false; /* the result spans more than the format's bits */
		sx = (__int128)x.m << (d > 0 ? d : 0);
		sy = (__int128)y.m << (d < 0 ? -d : 0);
		s = (x.neg ? -sx : sx) + (y.neg ? -sy : sy);
		return width128((unsigned __int128)(s < 0 ? -s : s)) <= prec;
	}
	default:
		return true;
	}
}

static void put_benign(uint8_t *p, unsigned esz, unsigned benign)
{
	static const uint8_t f32[4] = {0, 0, 0x80, 0x3f}, i32[4] = {1, 0, 0, 0};
	static const uint8_t f64[8] = {0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
	memcpy(p, benign == LB_F64 ? f64 : benign == LB_I32 ? i32 : f32, esz);
}

/* run fn with the guest's controls, all masked: flags, and tiny results in *tiny */
static uint32_t masked_run(simd_fn fn, struct simd_frame *f, uint32_t mx, uint32_t *tiny)
{
	uint32_t ctl = (mx & ~MXCSR_FLAGS) | MXCSR_MASKS;

	*tiny = 0;
	if (!(mx & 0x800)) { /* UM clear: is the result tiny? */
		struct simd_frame g = *f;
		uint8_t save[16];
		memcpy(save, f->reg, 16);
		g.mxcsr = ctl | MXCSR_FZ;
		fn(&g);
		*tiny = g.mxcsr & 0x10;
		memcpy(f->reg, save, 16);
	}
	f->mxcsr = ctl;
	fn(f);
	return f->mxcsr & MXCSR_FLAGS;
}

/* the inputs of element k: exact result? */
static bool lane_exact(struct lanes ln, unsigned k, const uint8_t *a, const uint8_t *b, uint32_t mx)
{
	unsigned w = ln.esz, op = ln.op;
	unsigned prec = (op == OPK_CVT || w == 4) ? 24 : 53;
	bool daz = mx & MXCSR_DAZ;

	if (op == OPK_ADDSUB)
		op = (k & 1) ? OPK_ADD : OPK_SUB;
	if (ln.shape == LN_HORIZ) {
		unsigned half = ln.n / 2, p = k % half;
		const uint8_t *x = k < half ? a : b;
		return elem_exact(op, w == 8, prec, x + 2 * p * w, x + (2 * p + 1) * w, daz);
	}
	if (ln.shape == LN_ONE)
		k = 0;
	return elem_exact(op, w == 8, prec, a + k * w, b + k * w, daz);
}

/* Check fn on f's operands (reg: 16 bytes, rm: rmsz bytes), raising the
 * fault if there is one; acc: flags of earlier steps. Returns the flags. */
static uint32_t checked(struct cpu *c, simd_fn fn, const struct simd_frame *f, unsigned rmsz,
			struct lanes ln, uint32_t mx, uint32_t acc)
{
	uint32_t unmasked = ~(mx >> 7) & MXCSR_FLAGS, fl[4], tiny[4], pre = 0, post;
	unsigned n = ln.shape == LN_ONE ? 1 : ln.n;
	uint8_t ra[16] = {0}, rb[16] = {0};

	memcpy(ra, f->reg, 16);
	if (rmsz)
		memcpy(rb, f->rm, rmsz);

	for (unsigned k = 0; k < n; k++) {
		uint8_t a[16] __attribute__((aligned(16))), b[16] __attribute__((aligned(16)));
		struct simd_frame g = *f;

		memcpy(a, f->reg, 16);
		if (rmsz)
			memcpy(b, f->rm, rmsz);
		if (ln.shape == LN_VERT) {
			for (unsigned j = 0; j < 16 / ln.esz; j++) {
				if (j == k)
					continue;
				put_benign(a + j * ln.esz, ln.esz, ln.benign);
				if ((j + 1) * ln.esz <= rmsz)
					put_benign(b + j * ln.esz, ln.esz, ln.benign);
			}
		} else if (ln.shape == LN_HORIZ) {
			/* element k sums a pair of dest (first half) or src elements */
			unsigned half = n / 2, pair = k % half;
			for (unsigned j = 0; j < 16 / ln.esz; j++) {
				bool keep = j / 2 == pair;
				if (!(keep && k < half))
					put_benign(a + j * ln.esz, ln.esz, ln.benign);
				if (!(keep && k >= half))
					put_benign(b + j * ln.esz, ln.esz, ln.benign);
			}
		}
		g.reg = a;
		g.rm = b;
		fl[k] = masked_run(fn, &g, mx, &tiny[k]);
		pre |= fl[k] & 0x7;
	}
	if (pre & unmasked) {
		fx_set_mxcsr(c, mx | acc | pre);
		fpu_simd_fault(c);
	}
	post = pre;
	for (unsigned k = 0; k < n; k++) {
		if ((fl[k] & 0x08) && (unmasked & 0x08))
			post |= 0x08 | (lane_exact(ln, k, ra, rb, mx) ? 0 : 0x20);
		else if (tiny[k] && (unmasked & 0x10))
			post |= 0x10 | (lane_exact(ln, k, ra, rb, mx) ? 0 : 0x20);
		else
			post |= fl[k] & 0x38;
	}
	if (post & unmasked) {
		fx_set_mxcsr(c, mx | acc | post);
		fpu_simd_fault(c);
	}
	return post;
}

/*
 * DPPS/DPPD (SDM vol. 2) multiply, then add: exceptions are determined for
 * each step, and an unmasked one stops the instruction after its step with
 * the flags of the steps before.
 */
static void dp_steps(struct cpu *c, const struct insn *i, const uint8_t *dst, const uint8_t *src,
		     uint32_t mx, bool pd)
{
	struct simd_enc e = {.map = 1,
			     .reg_kind = SK_XMM,
			     .rm_kind = SK_XMM,
			     .reg_read = true,
			     .rm_read = true,
			     .reg_write = true,
			     .mxcsr = true};
	uint8_t a[16] __attribute__((aligned(16))) = {0}, b[16] __attribute__((aligned(16))) = {0};
	unsigned imm = i->aux >> 8, lanes = pd ? 2 : 4, w = pd ? 8 : 4;
	struct simd_frame f = {.reg = a, .rm = b};
	struct lanes vert = {LN_VERT, (uint8_t)w, (uint8_t)lanes, pd ? LB_F64 : LB_F32, OPK_MUL};
	struct lanes one = {LN_ONE, (uint8_t)w, 1, pd ? LB_F64 : LB_F32, OPK_ADD};
	uint32_t acc, tiny;
	simd_fn fn;

	for (unsigned l = 0; l < lanes; l++) {
		if (imm & (0x10u << l)) {
			memcpy(a + w * l, dst + w * l, w);
			memcpy(b + w * l, src + w * l, w);
		}
	}
	/* products: MULPS / MULPD (an element not selected is +0.0 * +0.0) */
	e.prefix[0] = 0x66;
	e.nprefix = pd;
	e.opcode = 0x59;
	fn = fpu_host_simd(c, &e);
	if (!fn)
		return;
	acc = checked(c, fn, &f, 16, vert, mx, 0);
	masked_run(fn, &f, mx, &tiny);
	/* sums: T1[0] + T1[1] (and T1[2] + T1[3]): ADDSD / ADDPS on rearranged elements */
	memset(b, 0, 16);
	if (pd) {
		memcpy(b, a + 8, 8);
		memset(a + 8, 0, 8);
	} else {
		memcpy(b, a + 4, 4);
		memcpy(b + 4, a + 12, 4);
		memcpy(a + 4, a + 8, 4);
		memset(a + 8, 0, 8);
	}
	e.prefix[0] = 0xf2;
	e.nprefix = pd;
	e.opcode = 0x58;
	fn = fpu_host_simd(c, &e);
	if (!fn)
		return;
	vert.op = OPK_ADD;
	acc |= checked(c, fn, &f, 16, pd ? one : vert, mx, acc);
	if (pd)
		return;
	masked_run(fn, &f, mx, &tiny);
	/* T2 + T3: ADDSS */
	memset(b, 0, 16);
	memcpy(b, a + 4, 4);
	memset(a + 4, 0, 12);
	e.prefix[0] = 0xf3;
	e.nprefix = 1;
	fn = fpu_host_simd(c, &e);
	if (fn)
		checked(c, fn, &f, 16, one, mx, acc);
}

/* the instruction with an unmasked exception possible; on return (no fault)
 * f holds the masked run's result in tmp and its flags */
static void simd_unmasked(struct cpu *c, const struct insn *i, struct simd_frame *f, uint32_t mx,
			  uint8_t *tmp)
{
	simd_fn fn = (simd_fn)(uintptr_t)i->imm;
	uint32_t fl = i->aux2, tiny;
	unsigned rk = SF_REGK(fl), mk = SF_RMK(fl);
	unsigned rmsz = mk == SK_MEM ? i->osz : mk == SK_MM ? 8 : 16;
	uint8_t reg[16] __attribute__((aligned(16))) = {0};

	if (fl & (SF_DPPS | SF_DPPD))
		dp_steps(c, i, f->reg, f->rm, mx, fl & SF_DPPD);
	if (rk == SK_XMM || rk == SK_MM) {
		memcpy(tmp, f->reg, 16);
		f->reg = tmp;
	} else {
		f->reg = reg; /* a GPR destination: the element code needs a buffer */
	}
	if (!(fl & (SF_DPPS | SF_DPPD)) && mk != SK_GPR)
		checked(c, fn, f, rmsz, lanes_of(fl), mx, 0);
	else if (mk == SK_GPR)
		checked(c, fn, f, 0, (struct lanes){LN_ONE, 4, 1, LB_F32, OPK_NONE}, mx, 0);
	masked_run(fn, f, mx, &tiny);
	if (rk != SK_XMM && rk != SK_MM)
		f->reg = NULL;
}

static const struct insn *op_simd(struct cpu *c, const struct insn *i)
{
	uint32_t fl = i->aux2, mx = 0;
	unsigned rk = SF_REGK(fl), mk = SF_RMK(fl), n = i->osz;
	uint8_t mbuf[16] __attribute__((aligned(16)));
	uint8_t rtmp[16] __attribute__((aligned(16)));
	struct simd_frame f = {.reg = NULL};
	uint64_t la = 0;

	simd_avail(c, fl);
	if (mk == SK_MEM) {
		if (fl & SF_RM_W) {
			la = insn_la(c, i, n, ACC_W);
			if ((fl & SF_ALIGN) && (la & 15))
				cpu_raise(c, EXC_GP, 0);
			fpu_mem_probe_write(c, la, n);
			f.rm = mbuf;
		} else {
			const void *p;
			la = insn_la(c, i, n, ACC_R);
			if ((fl & SF_ALIGN) && (la & 15))
				cpu_raise(c, EXC_GP, 0);
			p = fpu_mem_rptr(c, la, n);
			if (p) {
				f.rm = (void *)p;
			} else {
				fpu_mem_read(c, la, mbuf, n);
				f.rm = mbuf;
			}
		}
	}
	if (fl & SF_MMX)
		fpu_mmx_enter(c);

	switch (rk) {
	case SK_XMM:
		f.reg = fx_xmm(c, i->r1);
		break;
	case SK_MM:
		f.reg = mm_reg(c, i->r1);
		break;
	case SK_GPR:
		f.rax = reg_get(c, i->r1, i->aux & 15);
		break;
	default:
		break;
	}
	switch (mk) {
	case SK_XMM:
		f.rm = fx_xmm(c, i->r2);
		break;
	case SK_MM:
		f.rm = mm_reg(c, i->r2);
		break;
	case SK_GPR:
		f.rcx = reg_get(c, i->r2, i->aux >> 4);
		break;
	default:
		break;
	}
	f.xmm0 = fx_xmm(c, 0);
	if (fl & SF_GPR_IN) {
		f.rax = c->gpr[REG_RAX];
		f.rdx = c->gpr[REG_RDX];
	}
	if (fl & SF_MXCSR) {
		mx = fx_mxcsr(c);
		f.mxcsr = (mx & ~MXCSR_FLAGS) | MXCSR_MASKS;
	}
	if (unlikely((fl & SF_MXCSR) && (mx & MXCSR_MASKS) != MXCSR_MASKS))
		simd_unmasked(c, i, &f, mx, rtmp);
	else
		((simd_fn)(uintptr_t)i->imm)(&f);

	if (fl & SF_MXCSR) {
		fx_set_mxcsr(c, mx | (f.mxcsr & MXCSR_FLAGS));
		if (f.reg == rtmp)
			memcpy(rk == SK_XMM ? fx_xmm(c, i->r1) : mm_reg(c, i->r1), rtmp,
			       rk == SK_XMM ? 16 : 8);
	}
	if (rk == SK_GPR && (fl & SF_REG_W))
		reg_set(c, i->r1, i->aux & 15, f.rax);
	if (mk == SK_GPR && (fl & SF_RM_W))
		reg_set(c, i->r2, i->aux >> 4, f.rcx);
	if (fl & SF_RCX_OUT)
		c->gpr[REG_RCX] = (uint32_t)f.rcx;
	if (fl & SF_RFLAGS) {
		c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | (f.rflags & FL_ARITH);
		c->cc_op = CC_EFLAGS;
	}
	if (mk == SK_MEM && (fl & SF_RM_W))
		fpu_mem_write(c, la, mbuf, n);
	/* an MMX register written: exponent and sign become all ones (SDM vol. 1, 9.5.1) */
	if (rk == SK_MM && (fl & SF_REG_W)) {
		mm_reg(c, i->r1)[8] = 0xff;
		mm_reg(c, i->r1)[9] = 0xff;
	}
	if (mk == SK_MM && (fl & SF_RM_W)) {
		mm_reg(c, i->r2)[8] = 0xff;
		mm_reg(c, i->r2)[9] = 0xff;
	}
	NEXT(c, i);
}

/* ---- 128-bit moves in C (the hot path of memcpy and friends) ---- */

/* XMM <- XMM/m128; i->aux2 bit 0: aligned form */
static const struct insn *op_mov128_load(struct cpu *c, const struct insn *i)
{
	fpu_sse_check(c);
	if (i->flags & INSN_MEM) {
		uint64_t la = insn_la(c, i, 16, ACC_R);
		const void *p;
		if ((i->aux2 & 1) && (la & 15))
			cpu_raise(c, EXC_GP, 0);
		p = fpu_mem_rptr(c, la, 16);
		if (likely(p != NULL))
			memcpy(fx_xmm(c, i->r1), p, 16);
		else
			fpu_mem_read(c, la, fx_xmm(c, i->r1), 16);
	} else {
		memmove(fx_xmm(c, i->r1), fx_xmm(c, i->r2), 16);
	}
	NEXT(c, i);
}

/* m128 <- XMM */
static const struct insn *op_mov128_store(struct cpu *c, const struct insn *i)
{
	uint64_t la;
	void *p;

	fpu_sse_check(c);
	la = insn_la(c, i, 16, ACC_W);
	if ((i->aux2 & 1) && (la & 15))
		cpu_raise(c, EXC_GP, 0);
	p = fpu_mem_wptr(c, la, 16);
	if (likely(p != NULL)) {
		memcpy(p, fx_xmm(c, i->r1), 16);
	} else {
		uint8_t tmp[16];
		memcpy(tmp, fx_xmm(c, i->r1), 16);
		fpu_mem_probe_write(c, la, 16);
		fpu_mem_write(c, la, tmp, 16);
	}
	NEXT(c, i);
}

/*
 * The integer SSE2 instructions of glibc's string loops (strlen, memchr,
 * strcmp...) without the generic operand machinery: exact on any x86-64
 * host (SSE2 is baseline), no MXCSR, no flags. XMM destination, XMM or
 * m128 source (aligned forms).
 */
static inline __m128i fast_src(struct cpu *c, const struct insn *i)
{
	if (i->flags & INSN_MEM) {
		uint64_t la = insn_la(c, i, 16, ACC_R);
		const void *p;
		__m128i v;
		if (la & 15)
			cpu_raise(c, EXC_GP, 0);
		p = fpu_mem_rptr(c, la, 16);
		if (likely(p != NULL))
			return _mm_loadu_si128(p);
		fpu_mem_read(c, la, &v, 16);
		return v;
	}
	return _mm_loadu_si128((const void *)fx_xmm(c, i->r2));
}

#define FAST_OP(name, expr)                                                                        \
	static const struct insn *op_fast_##name(struct cpu *c, const struct insn *i)              \
	{                                                                                          \
		__m128i a, b;                                                                      \
		fpu_sse_check(c);                                                                  \
		b = fast_src(c, i);                                                                \
		a = _mm_loadu_si128((const void *)fx_xmm(c, i->r1));                               \
		_mm_storeu_si128((void *)fx_xmm(c, i->r1), (expr));                                \
		NEXT(c, i);                                                                        \
	}
FAST_OP(xor, _mm_xor_si128(a, b))
FAST_OP(or, _mm_or_si128(a, b))
FAST_OP(and, _mm_and_si128(a, b))
FAST_OP(andn, _mm_andnot_si128(a, b))
FAST_OP(pcmpeqb, _mm_cmpeq_epi8(a, b))
FAST_OP(pcmpeqw, _mm_cmpeq_epi16(a, b))
FAST_OP(pcmpeqd, _mm_cmpeq_epi32(a, b))
FAST_OP(pminub, _mm_min_epu8(a, b))
FAST_OP(pmaxub, _mm_max_epu8(a, b))
FAST_OP(paddb, _mm_add_epi8(a, b))
FAST_OP(paddw, _mm_add_epi16(a, b))
FAST_OP(paddd, _mm_add_epi32(a, b))
FAST_OP(paddq, _mm_add_epi64(a, b))
FAST_OP(psubb, _mm_sub_epi8(a, b))
FAST_OP(psubw, _mm_sub_epi16(a, b))
FAST_OP(psubd, _mm_sub_epi32(a, b))
FAST_OP(psubq, _mm_sub_epi64(a, b))

/* PMOVMSKB r32/r64, xmm */
static const struct insn *op_fast_pmovmskb(struct cpu *c, const struct insn *i)
{
	fpu_sse_check(c);
	reg_set(c, i->r1, i->aux & 15,
		(uint32_t)_mm_movemask_epi8(_mm_loadu_si128((const void *)fx_xmm(c, i->r2))));
	NEXT(c, i);
}

/* the fast handler for an XMM-destination form, if there is one */
static insn_fn fast_handler(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_PXOR:
	case ZYDIS_MNEMONIC_XORPS:
	case ZYDIS_MNEMONIC_XORPD:
		return op_fast_xor;
	case ZYDIS_MNEMONIC_POR:
	case ZYDIS_MNEMONIC_ORPS:
	case ZYDIS_MNEMONIC_ORPD:
		return op_fast_or;
	case ZYDIS_MNEMONIC_PAND:
	case ZYDIS_MNEMONIC_ANDPS:
	case ZYDIS_MNEMONIC_ANDPD:
		return op_fast_and;
	case ZYDIS_MNEMONIC_PANDN:
	case ZYDIS_MNEMONIC_ANDNPS:
	case ZYDIS_MNEMONIC_ANDNPD:
		return op_fast_andn;
	case ZYDIS_MNEMONIC_PCMPEQB:
		return op_fast_pcmpeqb;
	case ZYDIS_MNEMONIC_PCMPEQW:
		return op_fast_pcmpeqw;
	case ZYDIS_MNEMONIC_PCMPEQD:
		return op_fast_pcmpeqd;
	case ZYDIS_MNEMONIC_PMINUB:
		return op_fast_pminub;
	case ZYDIS_MNEMONIC_PMAXUB:
		return op_fast_pmaxub;
	case ZYDIS_MNEMONIC_PADDB:
		return op_fast_paddb;
	case ZYDIS_MNEMONIC_PADDW:
		return op_fast_paddw;
	case ZYDIS_MNEMONIC_PADDD:
		return op_fast_paddd;
	case ZYDIS_MNEMONIC_PADDQ:
		return op_fast_paddq;
	case ZYDIS_MNEMONIC_PSUBB:
		return op_fast_psubb;
	case ZYDIS_MNEMONIC_PSUBW:
		return op_fast_psubw;
	case ZYDIS_MNEMONIC_PSUBD:
		return op_fast_psubd;
	case ZYDIS_MNEMONIC_PSUBQ:
		return op_fast_psubq;
	default:
		return NULL;
	}
}

/* ---- special operands ---- */

/* MASKMOVQ / MASKMOVDQU: byte-masked store to DS:rDI; i->osz = 8 or 16 */
static const struct insn *op_maskmov(struct cpu *c, const struct insn *i)
{
	unsigned n = i->osz, first = n, last = 0;
	uint8_t src[16], mask[16];
	uint64_t la;

	simd_avail(c, n == 8 ? SF_MMX : SF_SSE);
	if (n == 8) {
		unsigned top = (fx_get16(c, FX_FSW) >> 11) & 7;
		memcpy(src, c->fx + FX_ST + 16 * ((i->r1 - top) & 7), 8);
		memcpy(mask, c->fx + FX_ST + 16 * ((i->r2 - top) & 7), 8);
	} else {
		memcpy(src, fx_xmm(c, i->r1), 16);
		memcpy(mask, fx_xmm(c, i->r2), 16);
	}
	for (unsigned k = 0; k < n; k++) {
		if (mask[k] & 0x80) {
			if (first == n)
				first = k;
			last = k;
		}
	}
	la = insn_la(c, i, n, ACC_W);
	if (first < n) {
		fpu_mem_probe_write(c, (la + first) & c->la_mask, last - first + 1);
		for (unsigned k = first; k <= last; k++)
			if (mask[k] & 0x80)
				mem_write(c, (la + k) & c->la_mask, 1, src[k]);
	}
	if (n == 8)
		fpu_mmx_enter(c);
	NEXT(c, i);
}

/* MOVNTI m32/m64, r: a plain store (no x87/SSE state involved) */
static const struct insn *op_movnti(struct cpu *c, const struct insn *i)
{
	store_op(c, i, i->osz, reg_get(c, i->r1, i->osz));
	NEXT(c, i);
}

static const struct insn *op_fence(struct cpu *c, const struct insn *i)
{
	(void)c;
	atomic_thread_fence(memory_order_seq_cst);
	NEXT(c, i);
}

/* ---- decoding ---- */

/* instructions that round or raise SIMD floating-point exceptions: they run
 * with the guest's MXCSR */
static const ZydisMnemonic mxcsr_users[] = {
    ZYDIS_MNEMONIC_ADDPS,     ZYDIS_MNEMONIC_ADDSS,	ZYDIS_MNEMONIC_ADDPD,
    ZYDIS_MNEMONIC_ADDSD,     ZYDIS_MNEMONIC_SUBPS,	ZYDIS_MNEMONIC_SUBSS,
    ZYDIS_MNEMONIC_SUBPD,     ZYDIS_MNEMONIC_SUBSD,	ZYDIS_MNEMONIC_MULPS,
    ZYDIS_MNEMONIC_MULSS,     ZYDIS_MNEMONIC_MULPD,	ZYDIS_MNEMONIC_MULSD,
    ZYDIS_MNEMONIC_DIVPS,     ZYDIS_MNEMONIC_DIVSS,	ZYDIS_MNEMONIC_DIVPD,
    ZYDIS_MNEMONIC_DIVSD,     ZYDIS_MNEMONIC_SQRTPS,	ZYDIS_MNEMONIC_SQRTSS,
    ZYDIS_MNEMONIC_SQRTPD,    ZYDIS_MNEMONIC_SQRTSD,	ZYDIS_MNEMONIC_MAXPS,
    ZYDIS_MNEMONIC_MAXSS,     ZYDIS_MNEMONIC_MAXPD,	ZYDIS_MNEMONIC_MAXSD,
    ZYDIS_MNEMONIC_MINPS,     ZYDIS_MNEMONIC_MINSS,	ZYDIS_MNEMONIC_MINPD,
    ZYDIS_MNEMONIC_MINSD,     ZYDIS_MNEMONIC_CMPPS,	ZYDIS_MNEMONIC_CMPSS,
    ZYDIS_MNEMONIC_CMPPD,     ZYDIS_MNEMONIC_CMPSD,	ZYDIS_MNEMONIC_COMISS,
    ZYDIS_MNEMONIC_UCOMISS,   ZYDIS_MNEMONIC_COMISD,	ZYDIS_MNEMONIC_UCOMISD,
    ZYDIS_MNEMONIC_RCPPS,     ZYDIS_MNEMONIC_RCPSS,	ZYDIS_MNEMONIC_RSQRTPS,
    ZYDIS_MNEMONIC_RSQRTSS,   ZYDIS_MNEMONIC_CVTPI2PS,	ZYDIS_MNEMONIC_CVTPS2PI,
    ZYDIS_MNEMONIC_CVTTPS2PI, ZYDIS_MNEMONIC_CVTSI2SS,	ZYDIS_MNEMONIC_CVTSS2SI,
    ZYDIS_MNEMONIC_CVTTSS2SI, ZYDIS_MNEMONIC_CVTDQ2PD,	ZYDIS_MNEMONIC_CVTDQ2PS,
    ZYDIS_MNEMONIC_CVTPD2DQ,  ZYDIS_MNEMONIC_CVTPD2PI,	ZYDIS_MNEMONIC_CVTPD2PS,
    ZYDIS_MNEMONIC_CVTPI2PD,  ZYDIS_MNEMONIC_CVTPS2DQ,	ZYDIS_MNEMONIC_CVTPS2PD,
    ZYDIS_MNEMONIC_CVTSD2SI,  ZYDIS_MNEMONIC_CVTSD2SS,	ZYDIS_MNEMONIC_CVTSI2SD,
    ZYDIS_MNEMONIC_CVTSS2SD,  ZYDIS_MNEMONIC_CVTTPD2DQ, ZYDIS_MNEMONIC_CVTTPD2PI,
    ZYDIS_MNEMONIC_CVTTPS2DQ, ZYDIS_MNEMONIC_CVTTSD2SI, ZYDIS_MNEMONIC_ADDSUBPS,
    ZYDIS_MNEMONIC_ADDSUBPD,  ZYDIS_MNEMONIC_HADDPS,	ZYDIS_MNEMONIC_HADDPD,
    ZYDIS_MNEMONIC_HSUBPS,    ZYDIS_MNEMONIC_HSUBPD,	ZYDIS_MNEMONIC_DPPS,
    ZYDIS_MNEMONIC_DPPD,      ZYDIS_MNEMONIC_ROUNDPS,	ZYDIS_MNEMONIC_ROUNDPD,
    ZYDIS_MNEMONIC_ROUNDSS,   ZYDIS_MNEMONIC_ROUNDSD,
};

/* legacy SSE forms whose 16-byte memory operand need not be aligned */
static bool unaligned_ok(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_MOVUPS:
	case ZYDIS_MNEMONIC_MOVUPD:
	case ZYDIS_MNEMONIC_MOVDQU:
	case ZYDIS_MNEMONIC_LDDQU:
	case ZYDIS_MNEMONIC_PCMPESTRI:
	case ZYDIS_MNEMONIC_PCMPESTRM:
	case ZYDIS_MNEMONIC_PCMPISTRI:
	case ZYDIS_MNEMONIC_PCMPISTRM:
		return true;
	default:
		return false;
	}
}

/* the element layout of packed floating-point instructions, for checked() */
static uint32_t lane_bits(ZydisMnemonic m)
{
	unsigned shape = LN_VERT, esz8 = 0, n = 4, benign = LB_F32, op = OPK_NONE;

	switch (m) {
	case ZYDIS_MNEMONIC_ADDPS:
	case ZYDIS_MNEMONIC_ADDSS:
	case ZYDIS_MNEMONIC_ADDPD:
	case ZYDIS_MNEMONIC_ADDSD:
	case ZYDIS_MNEMONIC_HADDPS:
	case ZYDIS_MNEMONIC_HADDPD:
		op = OPK_ADD;
		break;
	case ZYDIS_MNEMONIC_SUBPS:
	case ZYDIS_MNEMONIC_SUBSS:
	case ZYDIS_MNEMONIC_SUBPD:
	case ZYDIS_MNEMONIC_SUBSD:
	case ZYDIS_MNEMONIC_HSUBPS:
	case ZYDIS_MNEMONIC_HSUBPD:
		op = OPK_SUB;
		break;
	case ZYDIS_MNEMONIC_MULPS:
	case ZYDIS_MNEMONIC_MULSS:
	case ZYDIS_MNEMONIC_MULPD:
	case ZYDIS_MNEMONIC_MULSD:
		op = OPK_MUL;
		break;
	case ZYDIS_MNEMONIC_DIVPS:
	case ZYDIS_MNEMONIC_DIVSS:
	case ZYDIS_MNEMONIC_DIVPD:
	case ZYDIS_MNEMONIC_DIVSD:
		op = OPK_DIV;
		break;
	case ZYDIS_MNEMONIC_CVTSD2SS:
	case ZYDIS_MNEMONIC_CVTPD2PS:
		op = OPK_CVT;
		break;
	case ZYDIS_MNEMONIC_ADDSUBPS:
	case ZYDIS_MNEMONIC_ADDSUBPD:
		op = OPK_ADDSUB;
		break;
	default:
		break;
	}
	switch (m) {
	case ZYDIS_MNEMONIC_ADDPS:
	case ZYDIS_MNEMONIC_SUBPS:
	case ZYDIS_MNEMONIC_MULPS:
	case ZYDIS_MNEMONIC_DIVPS:
	case ZYDIS_MNEMONIC_SQRTPS:
	case ZYDIS_MNEMONIC_MAXPS:
	case ZYDIS_MNEMONIC_MINPS:
	case ZYDIS_MNEMONIC_CMPPS:
	case ZYDIS_MNEMONIC_ADDSUBPS:
	case ZYDIS_MNEMONIC_RCPPS:
	case ZYDIS_MNEMONIC_RSQRTPS:
	case ZYDIS_MNEMONIC_ROUNDPS:
	case ZYDIS_MNEMONIC_CVTPS2DQ:
	case ZYDIS_MNEMONIC_CVTTPS2DQ:
		break;
	case ZYDIS_MNEMONIC_CVTPS2PD:
	case ZYDIS_MNEMONIC_CVTPS2PI:
	case ZYDIS_MNEMONIC_CVTTPS2PI:
		n = 2;
		break;
	case ZYDIS_MNEMONIC_ADDPD:
	case ZYDIS_MNEMONIC_SUBPD:
	case ZYDIS_MNEMONIC_MULPD:
	case ZYDIS_MNEMONIC_DIVPD:
	case ZYDIS_MNEMONIC_SQRTPD:
	case ZYDIS_MNEMONIC_MAXPD:
	case ZYDIS_MNEMONIC_MINPD:
	case ZYDIS_MNEMONIC_CMPPD:
	case ZYDIS_MNEMONIC_ADDSUBPD:
	case ZYDIS_MNEMONIC_ROUNDPD:
	case ZYDIS_MNEMONIC_CVTPD2DQ:
	case ZYDIS_MNEMONIC_CVTTPD2DQ:
	case ZYDIS_MNEMONIC_CVTPD2PS:
	case ZYDIS_MNEMONIC_CVTPD2PI:
	case ZYDIS_MNEMONIC_CVTTPD2PI:
		esz8 = 1;
		n = 2;
		benign = LB_F64;
		break;
	case ZYDIS_MNEMONIC_CVTDQ2PS:
		benign = LB_I32;
		break;
	case ZYDIS_MNEMONIC_CVTDQ2PD:
	case ZYDIS_MNEMONIC_CVTPI2PD:
	case ZYDIS_MNEMONIC_CVTPI2PS:
		n = 2;
		benign = LB_I32;
		break;
	case ZYDIS_MNEMONIC_HADDPS:
	case ZYDIS_MNEMONIC_HSUBPS:
		shape = LN_HORIZ;
		break;
	case ZYDIS_MNEMONIC_HADDPD:
	case ZYDIS_MNEMONIC_HSUBPD:
		shape = LN_HORIZ;
		esz8 = 1;
		n = 2;
		benign = LB_F64;
		break;
	case ZYDIS_MNEMONIC_ADDSD:
	case ZYDIS_MNEMONIC_SUBSD:
	case ZYDIS_MNEMONIC_MULSD:
	case ZYDIS_MNEMONIC_DIVSD:
	case ZYDIS_MNEMONIC_CVTSD2SS:
		shape = LN_ONE;
		esz8 = 1;
		n = 1;
		break;
	default:
		shape = LN_ONE;
		n = 1;
		break;
	}
	return shape << 21 | esz8 << 23 | n << 24 | benign << 27 | op << 29;
}

static bool uses_mxcsr(ZydisMnemonic m)
{
	for (size_t k = 0; k < sizeof(mxcsr_users) / sizeof(mxcsr_users[0]); k++)
		if (mxcsr_users[k] == m)
			return true;
	return false;
}

/* the ISA sets of this group, when the host can run them */
static bool fpu_isa_simd(ZydisISASet s)
{
	switch (s) {
	case ZYDIS_ISA_SET_SSE:
	case ZYDIS_ISA_SET_SSE2:
	case ZYDIS_ISA_SET_PENTIUMMMX:
	case ZYDIS_ISA_SET_SSE2MMX:
		return true;
	case ZYDIS_ISA_SET_SSE3:
		return cpu_simd_cpuid1_ecx() & (1u << 0);
	case ZYDIS_ISA_SET_SSSE3:
	case ZYDIS_ISA_SET_SSSE3MMX:
		return cpu_simd_cpuid1_ecx() & (1u << 9);
	case ZYDIS_ISA_SET_SSE4:
		return cpu_simd_cpuid1_ecx() & (1u << 19);
	case ZYDIS_ISA_SET_SSE42:
		return cpu_simd_cpuid1_ecx() & (1u << 20);
	default:
		return false;
	}
}

/* an explicit register operand: kind, index (dreg() numbering for GPRs), size */
static bool simd_reg(ZydisRegister r, uint8_t *kind, unsigned *idx, unsigned *size)
{
	int g;

	if (r >= ZYDIS_REGISTER_XMM0 && r <= ZYDIS_REGISTER_XMM15) {
		*kind = SK_XMM;
		*idx = r - ZYDIS_REGISTER_XMM0;
		return true;
	}
	if (r >= ZYDIS_REGISTER_MM0 && r <= ZYDIS_REGISTER_MM7) {
		*kind = SK_MM;
		*idx = r - ZYDIS_REGISTER_MM0;
		return true;
	}
	g = dreg(r, size);
	if (g < 0)
		return false;
	*kind = SK_GPR;
	*idx = (unsigned)g;
	return true;
}

static bool decode_simd(struct dctx *d, struct insn *i)
{
	const ZydisDecodedInstruction *zi = d->zi;
	struct simd_enc e;
	uint32_t fl = 0;
	unsigned reg_size = 0, rm_size = 0;
	simd_fn fn;

	if (zi->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY || !fpu_isa_simd(zi->meta.isa_set))
		return false;
	memset(&e, 0, sizeof(e));
	switch (zi->opcode_map) {
	case ZYDIS_OPCODE_MAP_0F:
		e.map = 1;
		break;
	case ZYDIS_OPCODE_MAP_0F38:
		e.map = 2;
		break;
	case ZYDIS_OPCODE_MAP_0F3A:
		e.map = 3;
		break;
	default:
		return false;
	}
	e.opcode = zi->opcode;
	e.rex_w = zi->raw.rex.W;
	e.modrm_reg = zi->raw.modrm.reg;
	for (unsigned k = 0; k < zi->raw.prefix_count; k++) {
		uint8_t v = zi->raw.prefixes[k].value;
		ZydisPrefixType t = zi->raw.prefixes[k].type;
		/* mandatory prefixes, and an operand-size prefix where it sizes a
		 * GPR operand (CRC32 r32, r/m16); a redundant one is dropped */
		if ((v == 0x66 || v == 0xf2 || v == 0xf3) &&
		    (t == ZYDIS_PREFIX_TYPE_MANDATORY ||
		     (v == 0x66 && t == ZYDIS_PREFIX_TYPE_EFFECTIVE &&
		      zi->mnemonic == ZYDIS_MNEMONIC_CRC32))) {
			if (e.nprefix == 2)
				return false;
			e.prefix[e.nprefix++] = v;
		}
	}
	for (unsigned k = 0; k < zi->operand_count; k++) {
		const ZydisDecodedOperand *o = &d->op[k];
		bool rd = o->actions & ZYDIS_OPERAND_ACTION_MASK_READ;
		bool wr = o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;
		uint8_t kind;
		unsigned idx, size = 0;

		if (o->visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN) {
			if (o->type != ZYDIS_OPERAND_TYPE_REGISTER)
				return false;
			switch (o->reg.value) {
			case ZYDIS_REGISTER_XMM0:
				e.xmm0_read |= rd;
				e.xmm0_write |= wr;
				fl |= SF_XMM0 | SF_SSE;
				break;
			case ZYDIS_REGISTER_EAX:
			case ZYDIS_REGISTER_RAX:
			case ZYDIS_REGISTER_EDX:
			case ZYDIS_REGISTER_RDX:
				if (wr)
					return false;
				e.gpr_in = true;
				fl |= SF_GPR_IN;
				break;
			case ZYDIS_REGISTER_ECX:
			case ZYDIS_REGISTER_RCX:
				if (rd)
					return false;
				e.gpr_out = true;
				fl |= SF_RCX_OUT;
				break;
			case ZYDIS_REGISTER_RFLAGS:
				if (rd)
					return false;
				e.rflags = true;
				fl |= SF_RFLAGS;
				break;
			default:
				return false;
			}
			continue;
		}
		if (o->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
			if (e.has_imm || o->size > 8)
				return false;
			e.has_imm = true;
			e.imm = (uint8_t)o->imm.value.u;
			continue;
		}
		if (o->type == ZYDIS_OPERAND_TYPE_REGISTER) {
			if (!simd_reg(o->reg.value, &kind, &idx, &size))
				return false;
		} else if (o->type == ZYDIS_OPERAND_TYPE_MEMORY) {
			if (o->encoding != ZYDIS_OPERAND_ENCODING_MODRM_RM || !dmem(d, o, i))
				return false;
			kind = SK_MEM;
			idx = 0;
			size = o->size / 8;
			if (size != 1 && size != 2 && size != 4 && size != 8 && size != 16)
				return false;
			i->osz = (uint8_t)size;
			if (size == 16 && !unaligned_ok(zi->mnemonic))
				fl |= SF_ALIGN;
		} else {
			return false;
		}
		if (kind == SK_XMM)
			fl |= SF_SSE;
		if (kind == SK_MM)
			fl |= SF_MMX;
		if (o->encoding == ZYDIS_OPERAND_ENCODING_MODRM_REG && e.reg_kind == SK_NONE) {
			e.reg_kind = kind;
			i->r1 = (uint8_t)idx;
			reg_size = size;
			if (wr)
				fl |= SF_REG_W;
		} else if (o->encoding == ZYDIS_OPERAND_ENCODING_MODRM_RM && e.rm_kind == SK_NONE) {
			e.rm_kind = kind;
			i->r2 = (uint8_t)idx;
			rm_size = size;
			if (wr)
				fl |= SF_RM_W;
		} else {
			return false;
		}
	}
	if (e.rm_kind == SK_NONE && e.reg_kind == SK_NONE)
		return false;
	/* every register operand is loaded: partial writes merge (MOVLPS, MOVSS) */
	e.reg_read = e.reg_kind != SK_NONE;
	e.rm_read = e.rm_kind != SK_NONE && e.rm_kind != SK_MEM;
	e.reg_write = (fl & SF_REG_W) != 0;
	e.rm_write = (fl & SF_RM_W) != 0;
	if (e.rm_kind == SK_NONE) /* e.g. PSRLW xmm, imm8: the register is ModRM.rm */
		return false;
	e.mxcsr = uses_mxcsr(zi->mnemonic);
	if (e.mxcsr)
		fl |= SF_MXCSR | lane_bits(zi->mnemonic);
	if (zi->mnemonic == ZYDIS_MNEMONIC_DPPS)
		fl |= SF_DPPS;
	if (zi->mnemonic == ZYDIS_MNEMONIC_DPPD)
		fl |= SF_DPPD;
	fn = fpu_host_simd(d->c, &e);
	if (!fn)
		return false;
	i->imm = (uint64_t)(uintptr_t)fn;
	i->aux2 = fl | e.reg_kind | (uint32_t)e.rm_kind << 3;
	i->aux = (uint16_t)(reg_size | rm_size << 4 | e.imm << 8);
	i->fn = op_simd;
	if (e.reg_kind == SK_XMM &&
	    (e.rm_kind == SK_XMM || (e.rm_kind == SK_MEM && i->osz == 16)) &&
	    fast_handler(zi->mnemonic))
		i->fn = fast_handler(zi->mnemonic);
	if (zi->mnemonic == ZYDIS_MNEMONIC_PMOVMSKB && e.reg_kind == SK_GPR && e.rm_kind == SK_XMM)
		i->fn = op_fast_pmovmskb;
	return true;
}

/* MOVAPS MOVUPS MOVAPD MOVUPD MOVDQA MOVDQU LDDQU MOVNTDQA MOVNTPS MOVNTPD MOVNTDQ */
static bool decode_mov128(struct dctx *d, struct insn *i)
{
	const ZydisDecodedOperand *o0 = &d->op[0], *o1 = &d->op[1];
	ZydisMnemonic m = d->zi->mnemonic;

	if (d->zi->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY)
		return false;
	i->aux2 = !unaligned_ok(m);
	if (dop_is_reg(o0) && o0->reg.value >= ZYDIS_REGISTER_XMM0 &&
	    o0->reg.value <= ZYDIS_REGISTER_XMM15) {
		i->r1 = (uint8_t)(o0->reg.value - ZYDIS_REGISTER_XMM0);
		if (dop_is_mem(o1)) {
			if (!dmem(d, o1, i))
				return false;
		} else if (o1->reg.value >= ZYDIS_REGISTER_XMM0 &&
			   o1->reg.value <= ZYDIS_REGISTER_XMM15) {
			i->r2 = (uint8_t)(o1->reg.value - ZYDIS_REGISTER_XMM0);
		} else {
			return false;
		}
		i->fn = op_mov128_load;
		return true;
	}
	if (dop_is_mem(o0) && dop_is_reg(o1) && o1->reg.value >= ZYDIS_REGISTER_XMM0 &&
	    o1->reg.value <= ZYDIS_REGISTER_XMM15) {
		if (!dmem(d, o0, i))
			return false;
		i->r1 = (uint8_t)(o1->reg.value - ZYDIS_REGISTER_XMM0);
		i->fn = op_mov128_store;
		return true;
	}
	return false;
}

static bool decode_maskmov(struct dctx *d, struct insn *i)
{
	const ZydisDecodedOperand *m = NULL;
	uint8_t k0;
	unsigned i0, i1, sz;

	if (d->zi->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY)
		return false;
	for (unsigned k = 0; k < d->zi->operand_count; k++)
		if (dop_is_mem(&d->op[k]))
			m = &d->op[k];
	if (!m || !dmem(d, m, i) || !simd_reg(d->op[0].reg.value, &k0, &i0, &sz) ||
	    !simd_reg(d->op[1].reg.value, &k0, &i1, &sz))
		return false;
	i->r1 = (uint8_t)i0;
	i->r2 = (uint8_t)i1;
	i->osz = k0 == SK_MM ? 8 : 16;
	i->fn = op_maskmov;
	return true;
}

static bool decode_movnti(struct dctx *d, struct insn *i)
{
	unsigned size;
	int r = dreg(d->op[1].reg.value, &size);

	if (r < 0 || !dop_is_mem(&d->op[0]) || !dmem(d, &d->op[0], i))
		return false;
	i->r1 = (uint8_t)r;
	i->osz = (uint8_t)size;
	i->fn = op_movnti;
	return true;
}

static bool decode_fence(struct dctx *d, struct insn *i)
{
	(void)d;
	i->fn = op_fence;
	return true;
}

/* MOVSD and CMPSD are also string instructions (ops_string.c) */
static bool decode_movsd_cmpsd(struct dctx *d, struct insn *i)
{
	if (decode_string_movsd_cmpsd(d, i))
		return true;
	return decode_simd(d, i);
}

/* every mnemonic no other group claimed: x87 or SIMD, by ISA set */
static bool decode_fpu_any(struct dctx *d, struct insn *i)
{
	return fpu_decode_x87(d, i) || decode_simd(d, i) || decode_avx(d, i);
}

void ops_sse_register(void)
{
	static const ZydisMnemonic mov128[] = {
	    ZYDIS_MNEMONIC_MOVAPS,  ZYDIS_MNEMONIC_MOVUPS,   ZYDIS_MNEMONIC_MOVAPD,
	    ZYDIS_MNEMONIC_MOVUPD,  ZYDIS_MNEMONIC_MOVDQA,   ZYDIS_MNEMONIC_MOVDQU,
	    ZYDIS_MNEMONIC_LDDQU,   ZYDIS_MNEMONIC_MOVNTDQA, ZYDIS_MNEMONIC_MOVNTPS,
	    ZYDIS_MNEMONIC_MOVNTPD, ZYDIS_MNEMONIC_MOVNTDQ,
	};

	/*
	 * Every mnemonic no other group claimed gets the catch-all decoder,
	 * which accepts only the x87 and SIMD ISA sets (anything else still
	 * raises #UD); the x87 control instructions are registered next.
	 */
	for (int m = 1; m <= ZYDIS_MNEMONIC_MAX_VALUE; m++)
		if (!decode_lookup((ZydisMnemonic)m))
			decode_register((ZydisMnemonic)m, decode_fpu_any);
	for (size_t k = 0; k < sizeof(mov128) / sizeof(mov128[0]); k++)
		decode_register(mov128[k], decode_mov128);
	decode_register(ZYDIS_MNEMONIC_MOVSD, decode_movsd_cmpsd);
	decode_register(ZYDIS_MNEMONIC_CMPSD, decode_movsd_cmpsd);
	decode_register(ZYDIS_MNEMONIC_MASKMOVQ, decode_maskmov);
	decode_register(ZYDIS_MNEMONIC_MASKMOVDQU, decode_maskmov);
	decode_register(ZYDIS_MNEMONIC_MOVNTI, decode_movnti);
	decode_register(ZYDIS_MNEMONIC_LFENCE, decode_fence);
	decode_register(ZYDIS_MNEMONIC_MFENCE, decode_fence);
	decode_register(ZYDIS_MNEMONIC_SFENCE, decode_fence);
	ops_avx_register();
	/* what the JIT can emit inline (cpu/jit/): the host's own instruction */
	static const struct {
		insn_fn fn;
		uint8_t opc; /* 66 0F xx */
	} fast[] = {
	    {op_fast_xor, 0xef},     {op_fast_or, 0xeb},      {op_fast_and, 0xdb},
	    {op_fast_andn, 0xdf},    {op_fast_pcmpeqb, 0x74}, {op_fast_pcmpeqw, 0x75},
	    {op_fast_pcmpeqd, 0x76}, {op_fast_pminub, 0xda},  {op_fast_pmaxub, 0xde},
	    {op_fast_paddb, 0xfc},   {op_fast_paddw, 0xfd},   {op_fast_paddd, 0xfe},
	    {op_fast_paddq, 0xd4},   {op_fast_psubb, 0xf8},   {op_fast_psubw, 0xf9},
	    {op_fast_psubd, 0xfa},   {op_fast_psubq, 0xfb},
	};
	for (unsigned k = 0; k < sizeof(fast) / sizeof(fast[0]); k++)
		jit_describe(fast[k].fn, JK_SSE_OP, fast[k].opc, 16);
	jit_describe(op_mov128_load, JK_MOV128_LOAD, 0, 16);
	jit_describe(op_mov128_store, JK_MOV128_STORE, 0, 16);
	jit_describe(op_fast_pmovmskb, JK_PMOVMSKB, 0, 0);
	jit_describe(op_simd, JK_SIMD, 0, 0);
}
