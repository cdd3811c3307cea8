/* SPDX-License-Identifier: MIT */
/*
 * x87/MMX/SSE common parts: the fault checks every group makes (SDM vol. 2,
 * "Exceptions" of each instruction; vol. 3A 2.5 for CR0.EM/TS/MP/NE and
 * CR4.OSFXSR/OSXMMEXCPT/OSXSAVE), memory operands of any size, and the
 * state-management instructions: FXSAVE/FXRSTOR (SDM vol. 1, 10.5),
 * XSAVE/XSAVEOPT/XSAVEC/XRSTOR (vol. 1, chapter 13), LDMXCSR/STMXCSR.
 */
#include "decode.h"
#include "fpu.h"
#include "ops.h"

/* ---- checks ---- */

void fpu_x87_check(struct cpu *c, bool wait)
{
	if (c->cr0 & (CR0_EM | CR0_TS))
		cpu_raise_noerr(c, EXC_NM);
	/*
	 * A pending unmasked exception is signalled by the next waiting
	 * instruction: #MF with CR0.NE. With NE clear the PC's FERR#/IGNNE#
	 * logic would raise IRQ 13; softkvm has IGNNE# asserted instead, so
	 * the exception is ignored (SDM vol. 1, 8.7 and D.2).
	 */
	if (wait && (fx_get16(c, FX_FSW) & FSW_ES) && (c->cr0 & CR0_NE))
		cpu_raise_noerr(c, EXC_MF);
}

void fpu_mmx_check(struct cpu *c)
{
	if (c->cr0 & CR0_EM)
		cpu_raise_noerr(c, EXC_UD);
	if (c->cr0 & CR0_TS)
		cpu_raise_noerr(c, EXC_NM);
	if ((fx_get16(c, FX_FSW) & FSW_ES) && (c->cr0 & CR0_NE))
		cpu_raise_noerr(c, EXC_MF);
}

NORETURN void fpu_simd_fault(struct cpu *c)
{
	cpu_raise_noerr(c, (c->cr4 & CR4_OSXMMEXCPT) ? EXC_XM : EXC_UD);
}

void fpu_mmx_enter(struct cpu *c)
{
	fpu_set_fsw(c, fx_get16(c, FX_FSW) & (uint16_t)~FSW_TOP);
	c->fx[FX_FTW] = 0xff;
}

/* ---- memory operands ---- */

void fpu_mem_read(struct cpu *c, uint64_t la, void *buf, unsigned n)
{
	uint8_t *b = buf;

	while (n) {
		unsigned k = n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1;
		const void *p = fpu_mem_rptr(c, la, k);
		if (p) {
			memcpy(b, p, k);
		} else {
			uint64_t v = mem_read(c, la, k);
			memcpy(b, &v, k);
		}
		b += k;
		n -= k;
		la = (la + k) & c->la_mask;
	}
}

void fpu_mem_probe_write(struct cpu *c, uint64_t la, unsigned n)
{
	while (n) {
		unsigned room = 4096 - (unsigned)(la & 0xfff), k = n < room ? n : room;
		mem_probe_write(c, la, k);
		n -= k;
		la = (la + k) & c->la_mask;
	}
}

void fpu_mem_write(struct cpu *c, uint64_t la, const void *buf, unsigned n)
{
	const uint8_t *b = buf;

	while (n) {
		unsigned k = n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1;
		uint64_t v = 0;
		memcpy(&v, b, k);
		mem_write(c, la, k, v);
		b += k;
		n -= k;
		la = (la + k) & c->la_mask;
	}
}

/* ---- the legacy region (FXSAVE layout) ---- */

static void put16(uint8_t *b, uint16_t v)
{
	memcpy(b, &v, 2);
}

static void put32(uint8_t *b, uint32_t v)
{
	memcpy(b, &v, 4);
}

static void put64(uint8_t *b, uint64_t v)
{
	memcpy(b, &v, 8);
}

static uint32_t get32(const uint8_t *b)
{
	uint32_t v;
	memcpy(&v, b, 4);
	return v;
}

static uint64_t get64(const uint8_t *b)
{
	uint64_t v;
	memcpy(&v, b, 8);
	return v;
}

/*
 * FIP/FDP/FOP of a saved or restored image: AMD without CPUID.80000008:
 * EBX[2] (XSaveErPtr) saves them (as 0 otherwise) and restores them only
 * when FSW.ES is set (Linux, X86_BUG_FXSAVE_LEAK: "don't save/restore
 * FDP/FIP/FOP unless an exception is pending").
 */
static bool fx_ptrs(const struct cpu *c, uint16_t fsw)
{
	return !(c->vflags & VB_FXSAVE_PTRS_ES) || (fsw & FSW_ES);
}

/* x87 part of the legacy region (bytes 0-23 and 32-159); REX.W selects the
 * 64-bit pointer format (SDM vol. 1, tables 10-2 and 10-3); FCS and FDS
 * are stored as 0 with CPUID.7.0:EBX[13] */
static void legacy_put_x87(struct cpu *c, uint8_t *b, bool fmt64)
{
	bool zsel = (c->vflags & VB_ZERO_FCS_FDS) != 0;

	memcpy(b, c->fx, 8);
	b[5] = 0;
	if (fmt64) {
		memcpy(b + 8, c->fx + FX_FIP, 16);
	} else {
		put32(b + 8, (uint32_t)get64(c->fx + FX_FIP));
		put16(b + 12, zsel ? 0 : c->fx_fcs);
		put16(b + 14, 0);
		put32(b + 16, (uint32_t)get64(c->fx + FX_FDP));
		put16(b + 20, zsel ? 0 : c->fx_fds);
		put16(b + 22, 0);
	}
	if (!fx_ptrs(c, fx_get16(c, FX_FSW)))
		memset(b + 6, 0, 18);
	for (unsigned k = 0; k < 8; k++) {
		memcpy(b + FX_ST + 16 * k, c->fx + FX_ST + 16 * k, 10);
		memset(b + FX_ST + 16 * k + 10, 0, 6);
	}
}

static void legacy_get_x87(struct cpu *c, const uint8_t *b, bool fmt64)
{
	fx_put16(c, FX_FCW, (uint16_t)((b[0] | b[1] << 8) & 0x1f3f) | 0x40);
	memcpy(c->fx + FX_FSW, b + 2, 2);
	c->fx[FX_FTW] = b[4];
	c->fx[FX_FTW + 1] = 0;
	if (!fx_ptrs(c, (uint16_t)(b[2] | b[3] << 8))) {
		/* AMD: the pointers keep their values */
	} else if (fmt64) {
		fx_put16(c, FX_FOP, (uint16_t)((b[6] | b[7] << 8) & 0x7ff));
		memcpy(c->fx + FX_FIP, b + 8, 16);
		c->fx_fcs = c->fx_fds = 0;
	} else {
		fx_put16(c, FX_FOP, (uint16_t)((b[6] | b[7] << 8) & 0x7ff));
		put64(c->fx + FX_FIP, get32(b + 8));
		c->fx_fcs = (uint16_t)(b[12] | b[13] << 8);
		put64(c->fx + FX_FDP, get32(b + 16));
		c->fx_fds = (uint16_t)(b[20] | b[21] << 8);
	}
	for (unsigned k = 0; k < 8; k++) {
		memcpy(c->fx + FX_ST + 16 * k, b + FX_ST + 16 * k, 10);
		memset(c->fx + FX_ST + 16 * k + 10, 0, 6);
	}
	fpu_x87_update_es(c);
}

static unsigned xmm_count(struct cpu *c)
{
	return in_64bit_mode(c) ? 16 : 8;
}

static void check_mxcsr(struct cpu *c, uint32_t v)
{
	if (v & ~CPU_MXCSR_MASK)
		cpu_raise(c, EXC_GP, 0);
}

/* ---- FXSAVE / FXRSTOR: i->aux = REX.W ---- */

static const struct insn *op_fxsave(struct cpu *c, const struct insn *i)
{
	uint8_t img[512];
	uint64_t la;

	if (c->cr0 & (CR0_EM | CR0_TS))
		cpu_raise_noerr(c, EXC_NM);
	la = insn_la(c, i, 512, ACC_W);
	if (la & 15)
		cpu_raise(c, EXC_GP, 0);
	fpu_mem_probe_write(c, la, 512);
	legacy_put_x87(c, img, i->aux);
	fpu_mem_write(c, la, img, 24);
	fpu_mem_write(c, (la + 32) & c->la_mask, img + 32, 128);
	/* without CR4.OSFXSR, MXCSR and XMM are not saved (SDM: implementation
	 * specific; this processor leaves that memory alone) */
	if (c->cr4 & CR4_OSFXSR) {
		put32(img + FX_MXCSR, fx_mxcsr(c));
		put32(img + FX_MXMSK, CPU_MXCSR_MASK);
		fpu_mem_write(c, (la + 24) & c->la_mask, img + 24, 8);
		fpu_mem_write(c, (la + FX_XMM) & c->la_mask, c->fx + FX_XMM, 16 * xmm_count(c));
	}
	NEXT(c, i);
}

static const struct insn *op_fxrstor(struct cpu *c, const struct insn *i)
{
	uint8_t img[512];
	uint64_t la;

	if (c->cr0 & (CR0_EM | CR0_TS))
		cpu_raise_noerr(c, EXC_NM);
	la = insn_la(c, i, 512, ACC_R);
	if (la & 15)
		cpu_raise(c, EXC_GP, 0);
	fpu_mem_read(c, la, img, 416);
	if (c->cr4 & CR4_OSFXSR)
		check_mxcsr(c, get32(img + FX_MXCSR));
	legacy_get_x87(c, img, i->aux);
	if (c->cr4 & CR4_OSFXSR) {
		fx_set_mxcsr(c, get32(img + FX_MXCSR));
		memcpy(c->fx + FX_XMM, img + FX_XMM, 16 * xmm_count(c));
	}
	NEXT(c, i);
}

/* ---- XSAVE family (SDM vol. 1, 13.7-13.10): i->aux = kind | REX.W << 8 ---- */

enum { XS_SAVE, XS_SAVEOPT, XS_SAVEC, XS_RSTOR };

static uint64_t xs_rfbm(struct cpu *c)
{
	return (((c->gpr[REG_RDX] & 0xffffffffull) << 32) | (uint32_t)c->gpr[REG_RAX]) & c->xcr0;
}

/*
 * Component 9, PKRU (SDM vol. 1, 13.5.7): 8 bytes (PKRU, then 4 reserved),
 * at 0xa80 in the standard format; in the compacted format after the
 * components 2-8 that XCOMP_BV holds (of which this processor can only
 * have AVX's 256 bytes; neither is 64-byte aligned). Its initial
 * configuration is PKRU = 0.
 */
static uint64_t xs_pkru_offset(uint64_t xcomp_bv)
{
	if (!(xcomp_bv >> 63))
		return CPU_XSAVE_PKRU_OFFSET;
	return 576 + ((xcomp_bv & 4) ? 256 : 0);
}

static uint64_t xs_pkru_inuse(const struct cpu *c)
{
	return c->pkru ? CPU_XCR0_PKRU : 0;
}

/* the part of an XSAVE* for PKRU: probe (before anything is written) or store */
static void xs_pkru_save(struct cpu *c, uint64_t la, uint64_t xcomp_bv, bool store)
{
	uint64_t at = (la + xs_pkru_offset(xcomp_bv)) & c->la_mask;
	uint64_t v = c->pkru;

	if (store)
		fpu_mem_write(c, at, &v, 8);
	else
		fpu_mem_probe_write(c, at, 8);
}

/* XRSTOR's value of PKRU, read before any state changes: the saved one
 * (XSTATE_BV[9] = 1) or the initial 0 */
static uint32_t xs_pkru_read(struct cpu *c, uint64_t la, uint64_t bv, uint64_t xcomp_bv)
{
	uint32_t v = 0;

	if (bv & CPU_XCR0_PKRU)
		fpu_mem_read(c, (la + xs_pkru_offset(xcomp_bv)) & c->la_mask, &v, 4);
	return v;
}

static uint64_t xs_begin(struct cpu *c, const struct insn *i, int acc)
{
	uint64_t la;

	if (!(c->cr4 & CR4_OSXSAVE))
		cpu_raise_noerr(c, EXC_UD);
	if (c->cr0 & CR0_TS)
		cpu_raise_noerr(c, EXC_NM);
	la = insn_la(c, i, cpu_xsave_size(xs_rfbm(c)), acc);
	if (la & 63)
		cpu_raise(c, EXC_GP, 0);
	return la;
}

static const struct insn *op_xsave(struct cpu *c, const struct insn *i)
{
	unsigned kind = i->aux & 0xff;
	bool fmt64 = i->aux >> 8;
	uint64_t la = xs_begin(c, i, ACC_W), rfbm = xs_rfbm(c), xinuse = 0, bv, hdr[2], xcomp_bv;
	uint8_t img[512];
	bool save_x87, save_sse, save_mxcsr, save_pkru;

	if (!fpu_x87_is_init(c))
		xinuse |= 1;
	if (!fpu_sse_is_init(c))
		xinuse |= 2;
	xinuse |= xs_pkru_inuse(c);
	if (!fpu_ymm_is_init(c))
		xinuse |= 4;
	fpu_mem_probe_write(c, la, cpu_xsave_size(rfbm));
	save_x87 = rfbm & 1;
	save_sse = rfbm & 2;
	save_mxcsr = rfbm & 6;
	save_pkru = rfbm & CPU_XCR0_PKRU;
	if (kind == XS_SAVEOPT || kind == XS_SAVEC) {
		/* the init optimization: components in their initial configuration
		 * are not written (XSAVEOPT's modified optimization is not used) */
		save_x87 = save_x87 && (xinuse & 1);
		save_sse = save_sse && (xinuse & 2);
		save_pkru = save_pkru && (xinuse & CPU_XCR0_PKRU);
	}
	xcomp_bv = kind == XS_SAVEC ? (1ull << 63) | rfbm : 0;
	if (save_pkru)
		xs_pkru_save(c, la, xcomp_bv, false);
	if (kind == XS_SAVEC)
		save_mxcsr = rfbm & 2;
	legacy_put_x87(c, img, fmt64);
	put32(img + FX_MXCSR, fx_mxcsr(c));
	put32(img + FX_MXMSK, CPU_MXCSR_MASK);
	if (save_x87) {
		fpu_mem_write(c, la, img, 24);
		fpu_mem_write(c, (la + 32) & c->la_mask, img + 32, 128);
	}
	if (save_mxcsr)
		fpu_mem_write(c, (la + 24) & c->la_mask, img + 24, 8);
	if (save_sse)
		fpu_mem_write(c, (la + FX_XMM) & c->la_mask, c->fx + FX_XMM, 256);
	/* YMM_Hi128 at 576 in both formats: in the compacted one it is the
	 * first component after the legacy area (SDM vol. 1, 13.4.3) */
	if ((rfbm & 4) && (kind == XS_SAVE || (xinuse & 4)))
		fpu_mem_write(c, (la + CPU_XSAVE_YMM_OFF) & c->la_mask, c->ymmh, 16 * xmm_count(c));
	if (save_pkru)
		xs_pkru_save(c, la, xcomp_bv, true);
	if (kind == XS_SAVEC) {
		hdr[0] = rfbm & xinuse;
		hdr[1] = (1ull << 63) | rfbm;
		fpu_mem_write(c, (la + 512) & c->la_mask, hdr, 16);
	} else {
		fpu_mem_read(c, (la + 512) & c->la_mask, &bv, 8);
		bv = (bv & ~rfbm) | (xinuse & rfbm);
		fpu_mem_write(c, (la + 512) & c->la_mask, &bv, 8);
	}
	NEXT(c, i);
}

static const struct insn *op_xrstor(struct cpu *c, const struct insn *i)
{
	bool fmt64 = i->aux >> 8;
	uint64_t la = xs_begin(c, i, ACC_R), rfbm = xs_rfbm(c), hdr[8], bv, comp;
	uint8_t img[512];
	bool compacted;
	uint32_t mxcsr, pkru = 0;

	fpu_mem_read(c, (la + 512) & c->la_mask, hdr, 64);
	bv = hdr[0];
	comp = hdr[1];
	compacted = comp >> 63;
	if (compacted) {
		/* SDM vol. 1, 13.8.1: XCOMP_BV within XCR0, XSTATE_BV within
		 * XCOMP_BV, bytes 63:16 of the header zero */
		if ((comp & ~(1ull << 63) & ~c->xcr0) || (bv & ~comp))
			cpu_raise(c, EXC_GP, 0);
		for (int k = 2; k < 8; k++)
			if (hdr[k])
				cpu_raise(c, EXC_GP, 0);
	} else {
		/* standard form: XSTATE_BV within XCR0, bytes 23:8 zero */
		if ((bv & ~c->xcr0) || comp || hdr[2])
			cpu_raise(c, EXC_GP, 0);
	}
	fpu_mem_read(c, la, img, 416);
	if (rfbm & CPU_XCR0_PKRU)
		pkru = xs_pkru_read(c, la, bv, comp);
	mxcsr = get32(img + FX_MXCSR);
	if (compacted ? ((rfbm & 2) && (bv & 2)) : (rfbm & 6) != 0)
		check_mxcsr(c, mxcsr);
	if (rfbm & 1) {
		if (bv & 1) {
			legacy_get_x87(c, img, fmt64);
		} else {
			memset(c->fx + FX_ST, 0, 128);
			fpu_x87_init(c);
		}
	}
	if (rfbm & 2) {
		if (bv & 2)
			memcpy(c->fx + FX_XMM, img + FX_XMM, 256);
		else
			memset(c->fx + FX_XMM, 0, 256);
	}
	if (rfbm & 4) {
		if (bv & 4)
			fpu_mem_read(c, (la + CPU_XSAVE_YMM_OFF) & c->la_mask, c->ymmh,
				     16 * xmm_count(c));
		else
			memset(c->ymmh, 0, 16 * xmm_count(c));
	}
	if (compacted) {
		if (rfbm & 2)
			fx_set_mxcsr(c, (bv & 2) ? mxcsr : MXCSR_DEFAULT);
	} else if (rfbm & 6) {
		fx_set_mxcsr(c, mxcsr);
	}
	if (rfbm & CPU_XCR0_PKRU)
		cpu_load_pkru(c, pkru);
	NEXT(c, i);
}

/* ---- LDMXCSR / STMXCSR ---- */

static const struct insn *op_ldmxcsr(struct cpu *c, const struct insn *i)
{
	uint32_t v;

	fpu_sse_check(c);
	v = (uint32_t)load_op(c, i, 4);
	check_mxcsr(c, v);
	fx_set_mxcsr(c, v);
	NEXT(c, i);
}

static const struct insn *op_stmxcsr(struct cpu *c, const struct insn *i)
{
	fpu_sse_check(c);
	store_op(c, i, 4, fx_mxcsr(c));
	NEXT(c, i);
}

/* ---- decoders ---- */

static bool decode_mem_only(struct dctx *d, struct insn *i, insn_fn fn, uint16_t aux)
{
	if (!dop_is_mem(&d->op[0]) || !dmem(d, &d->op[0], i))
		return false;
	i->fn = fn;
	i->aux = aux;
	return true;
}

static bool rex_w(const struct dctx *d)
{
	return d->zi->raw.rex.W != 0;
}

static bool decode_fxsave(struct dctx *d, struct insn *i)
{
	return decode_mem_only(d, i, op_fxsave, rex_w(d));
}

static bool decode_fxrstor(struct dctx *d, struct insn *i)
{
	/* FCW/FSW/state changes: later instructions see them at once */
	return decode_mem_only(d, i, op_fxrstor, rex_w(d));
}

#define XS_DECODER(name, fn, kind)                                                                 \
	static bool decode_##name(struct dctx *d, struct insn *i)                                  \
	{                                                                                          \
		return decode_mem_only(d, i, fn, (uint16_t)((kind) | rex_w(d) << 8));              \
	}
XS_DECODER(xsave, op_xsave, XS_SAVE)
XS_DECODER(xsaveopt, op_xsave, XS_SAVEOPT)
XS_DECODER(xsavec, op_xsave, XS_SAVEC)
XS_DECODER(xrstor, op_xrstor, XS_RSTOR)

static bool decode_ldmxcsr(struct dctx *d, struct insn *i)
{
	return decode_mem_only(d, i, op_ldmxcsr, 0);
}

static bool decode_stmxcsr(struct dctx *d, struct insn *i)
{
	return decode_mem_only(d, i, op_stmxcsr, 0);
}

void ops_fpu_register(void)
{
	decode_register(ZYDIS_MNEMONIC_FXSAVE, decode_fxsave);
	decode_register(ZYDIS_MNEMONIC_FXSAVE64, decode_fxsave);
	decode_register(ZYDIS_MNEMONIC_FXRSTOR, decode_fxrstor);
	decode_register(ZYDIS_MNEMONIC_FXRSTOR64, decode_fxrstor);
	decode_register(ZYDIS_MNEMONIC_XSAVE, decode_xsave);
	decode_register(ZYDIS_MNEMONIC_XSAVE64, decode_xsave);
	decode_register(ZYDIS_MNEMONIC_XSAVEOPT, decode_xsaveopt);
	decode_register(ZYDIS_MNEMONIC_XSAVEOPT64, decode_xsaveopt);
	decode_register(ZYDIS_MNEMONIC_XSAVEC, decode_xsavec);
	decode_register(ZYDIS_MNEMONIC_XSAVEC64, decode_xsavec);
	decode_register(ZYDIS_MNEMONIC_XRSTOR, decode_xrstor);
	decode_register(ZYDIS_MNEMONIC_XRSTOR64, decode_xrstor);
	decode_register(ZYDIS_MNEMONIC_LDMXCSR, decode_ldmxcsr);
	decode_register(ZYDIS_MNEMONIC_STMXCSR, decode_stmxcsr);
	ops_sse_register();
	ops_x87_register();
}
