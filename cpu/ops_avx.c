/* SPDX-License-Identifier: MIT */
/*
 * AVX, AVX2, FMA3 and F16C: the VEX-encoded instructions (SDM vol. 2A,
 * 2.3-2.8) and the YMM state (c->ymmh holds bits 255:128 of YMM0-15; bits
 * 127:0 are the XMM registers of the FXSAVE image).
 *
 * One generic decoder maps the operands (ModRM.reg, ModRM.rm, VEX.vvvv,
 * the is4 register, implicit XMM0/EAX/EDX/ECX/RFLAGS) and asks the host
 * unit (fpu_host.c) for a stub that runs the instruction itself on 32-byte
 * buffers: the host's VEX.128 forms zero bits 255:128 of their destination
 * and the buffers are written back whole, so that rule needs no code here.
 * C handlers: VZEROUPPER/VZEROALL, VLDMXCSR/VSTMXCSR, the masked moves
 * (VMASKMOVPS/PD, VPMASKMOVD/Q, VMASKMOVDQU: masked-off elements never
 * fault) and the gathers (element by element, their progress kept in the
 * destination and mask registers when a fault interrupts them).
 *
 * Exceptions (SDM vol. 2A, 2.8, tables 2-19..2-22; vol. 1, 14.3):
 *   #UD  CR4.OSXSAVE = 0, or XCR0[2:1] != 11b (before anything else; a
 *        66/F2/F3/REX/LOCK prefix before VEX, VEX.vvvv != 1111b where
 *        unused, VEX.L where not allowed: the decoder refuses the bytes);
 *        in real and virtual-8086 mode C4/C5 are LES/LDS (the decoder's mode)
 *   #NM  CR0.TS
 *   #GP  misaligned operand of VMOVAPS/APD/DQA, VMOVNTPS/PD/DQ/DQA only
 *   #XM  an unmasked SIMD floating-point exception (#UD without OSXMMEXCPT)
 * CR0.EM and CR4.OSFXSR do not matter to VEX instructions.
 */
#include "decode.h"
#include "fpu.h"
#include "ops.h"
#include "jit/jit.h"

/* i->aux2 and i->aux: AF_* in fpu.h */

static inline void avx_check(struct cpu *c)
{
	if (unlikely(!(c->cr4 & CR4_OSXSAVE) || (c->xcr0 & 6) != 6))
		cpu_raise_noerr(c, EXC_UD);
	if (unlikely(c->cr0 & CR0_TS))
		cpu_raise_noerr(c, EXC_NM);
}

static inline void ymm_get(const struct cpu *c, unsigned r, uint8_t *b)
{
	memcpy(b, c->fx + FX_XMM + 16 * r, 16);
	memcpy(b + 16, c->ymmh[r], 16);
}

static inline void ymm_put(struct cpu *c, unsigned r, const uint8_t *b)
{
	memcpy(c->fx + FX_XMM + 16 * r, b, 16);
	memcpy(c->ymmh[r], b + 16, 16);
}

struct avx_bufs {
	uint8_t reg[32], rm[32], vvvv[32], is4[32], xmm0[32];
} __attribute__((aligned(32)));

/*
 * Some SIMD floating-point exception is unmasked. The stub runs masked;
 * the flags it reports decide: an unmasked pre-computation exception
 * (invalid, denormal, divide-by-zero) faults with those flags of every
 * element (SDM vol. 1, 11.5.2.1), else an unmasked post-computation one
 * (overflow, underflow - a tiny result even when exact, seen by a run with
 * FZ - or precision) faults with the flags the masked run gave. On a fault
 * nothing but MXCSR changes: the stub wrote only the local buffers.
 * Not modelled: PE beside an unmasked OE/UE follows the masked response
 * (the legacy SSE path in ops_sse.c works it out element by element).
 */
static void avx_unmasked(struct cpu *c, avx_fn fn, struct avx_frame *f, const struct avx_bufs *b,
			 uint32_t mx)
{
	uint32_t unm = ~(mx >> 7) & MXCSR_FLAGS, fl, tiny = 0;

	if (unm & 0x10) {
		struct avx_bufs t = *b;
		struct avx_frame g = *f;
		g.reg = f->reg == b->reg ? t.reg : f->reg;
		g.rm = f->rm == b->rm ? t.rm : f->rm;
		g.vvvv = t.vvvv;
		g.is4 = t.is4;
		g.xmm0 = t.xmm0;
		g.mxcsr |= MXCSR_FZ;
		fn(&g);
		tiny = g.mxcsr & 0x10;
	}
	fn(f);
	fl = f->mxcsr & MXCSR_FLAGS;
	if (fl & 7 & unm) {
		fx_set_mxcsr(c, mx | (fl & 7));
		fpu_simd_fault(c);
	}
	if (tiny && (unm & 0x10))
		fl |= 0x10;
	if (fl & unm) {
		fx_set_mxcsr(c, mx | fl);
		fpu_simd_fault(c);
	}
}

static const struct insn *op_avx(struct cpu *c, const struct insn *i)
{
	uint32_t fl = i->aux2, mx;
	unsigned rk = AF_REGK(fl), mk = AF_RMK(fl), n = i->osz;
	unsigned vr = i->aux & 15, ir = (i->aux >> 4) & 15;
	struct avx_bufs b;
	struct avx_frame f = {
	    .reg = b.reg, .rm = b.rm, .vvvv = b.vvvv, .is4 = b.is4, .xmm0 = b.xmm0};
	uint64_t la = 0;
	avx_fn fn = (avx_fn)(uintptr_t)i->imm;

	avx_check(c);
	if (mk == SK_MEM) {
		if (fl & AF_RM_W) {
			la = insn_la(c, i, n, ACC_W);
			if ((fl & AF_ALIGN) && (la & (n - 1)))
				cpu_raise(c, EXC_GP, 0);
			fpu_mem_probe_write(c, la, n);
		} else {
			const void *p;
			la = insn_la(c, i, n, ACC_R);
			if ((fl & AF_ALIGN) && (la & (n - 1)))
				cpu_raise(c, EXC_GP, 0);
			p = fpu_mem_rptr(c, la, n);
			if (p) {
				f.rm = (void *)p;
			} else {
				fpu_mem_read(c, la, b.rm, n);
			}
		}
	}
	if (rk == SK_XMM)
		ymm_get(c, i->r1, b.reg);
	else if (rk == SK_GPR)
		f.rax = reg_get(c, i->r1, (i->aux >> 8) & 15);
	if (mk == SK_XMM)
		ymm_get(c, i->r2, b.rm);
	else if (mk == SK_GPR)
		f.rcx = reg_get(c, i->r2, i->aux >> 12);
	if (fl & AF_VVVV)
		ymm_get(c, vr, b.vvvv);
	if (fl & AF_IS4)
		ymm_get(c, ir, b.is4);
	if (fl & AF_XMM0)
		ymm_get(c, 0, b.xmm0);
	if (fl & AF_GPR_IN) {
		f.rax = c->gpr[REG_RAX];
		f.rdx = c->gpr[REG_RDX];
	}
	mx = fx_mxcsr(c);
	f.mxcsr = (mx & ~MXCSR_FLAGS) | MXCSR_MASKS;
	if (unlikely((mx & MXCSR_MASKS) != MXCSR_MASKS))
		avx_unmasked(c, fn, &f, &b, mx);
	else
		fn(&f);
	fx_set_mxcsr(c, mx | (f.mxcsr & MXCSR_FLAGS));

	if (fl & AF_REG_W) {
		if (rk == SK_XMM)
			ymm_put(c, i->r1, b.reg);
		else if (rk == SK_GPR)
			reg_set(c, i->r1, (i->aux >> 8) & 15, f.rax);
	}
	if (fl & AF_RM_W) {
		if (mk == SK_XMM)
			ymm_put(c, i->r2, b.rm);
		else if (mk == SK_GPR)
			reg_set(c, i->r2, i->aux >> 12, f.rcx);
	}
	if (fl & AF_VVVV_W)
		ymm_put(c, vr, b.vvvv);
	if (fl & AF_XMM0_W)
		ymm_put(c, 0, b.xmm0);
	if (fl & AF_RCX_OUT)
		c->gpr[REG_RCX] = (uint32_t)f.rcx;
	if (fl & AF_RFLAGS) {
		c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | (f.rflags & FL_ARITH);
		c->cc_op = CC_EFLAGS;
	}
	if (mk == SK_MEM && (fl & AF_RM_W))
		fpu_mem_write(c, la, b.rm, n);
	NEXT(c, i);
}

/* ---- special forms ---- */

/* VZEROUPPER (aux 0) / VZEROALL (aux 1): YMM8-15 only in 64-bit mode */
static const struct insn *op_vzero(struct cpu *c, const struct insn *i)
{
	unsigned n = in_64bit_mode(c) ? 16 : 8;

	avx_check(c);
	memset(c->ymmh, 0, 16 * n);
	if (i->aux)
		memset(c->fx + FX_XMM, 0, 16 * n);
	NEXT(c, i);
}

static const struct insn *op_vldmxcsr(struct cpu *c, const struct insn *i)
{
	uint32_t v;

	avx_check(c);
	v = (uint32_t)load_op(c, i, 4);
	if (v & ~CPU_MXCSR_MASK)
		cpu_raise(c, EXC_GP, 0);
	fx_set_mxcsr(c, v);
	NEXT(c, i);
}

static const struct insn *op_vstmxcsr(struct cpu *c, const struct insn *i)
{
	avx_check(c);
	store_op(c, i, 4, fx_mxcsr(c));
	NEXT(c, i);
}

/*
 * VMASKMOVPS/PD, VPMASKMOVD/Q (SDM vol. 2): i->r1 the data register, i->r2
 * the mask (VEX.vvvv), i->osz the vector length, aux = element size |
 * store << 8. Only elements whose mask's top bit is set are accessed, so
 * only they can fault; a load zeroes the others (and bits 255:128 for
 * VEX.128). A store checks every element it writes before writing any.
 */
static const struct insn *op_maskmov_v(struct cpu *c, const struct insn *i)
{
	unsigned w = i->aux & 0xff, vl = i->osz, n = vl / w;
	bool store = i->aux >> 8;
	uint8_t data[32], mask[32], out[32] = {0};
	uint64_t ea, la[8];

	avx_check(c);
	ymm_get(c, i->r1, data);
	ymm_get(c, i->r2, mask);
	ea = insn_ea(c, i);
	for (unsigned k = 0; k < n; k++) {
		if (!(mask[k * w + w - 1] & 0x80))
			continue;
		uint64_t e = ((ea + k * w) << i->ashift) >> i->ashift;
		la[k] = seg_la(c, i->seg, e, w, store ? ACC_W : ACC_R);
		if (store)
			fpu_mem_probe_write(c, la[k], w);
		else
			fpu_mem_read(c, la[k], out + k * w, w);
	}
	if (store) {
		for (unsigned k = 0; k < n; k++)
			if (mask[k * w + w - 1] & 0x80)
				fpu_mem_write(c, la[k], data + k * w, w);
	} else {
		ymm_put(c, i->r1, out);
	}
	NEXT(c, i);
}

/* VMASKMOVDQU xmm1, xmm2: byte-masked store of xmm1 to DS:rDI */
static const struct insn *op_vmaskmovdqu(struct cpu *c, const struct insn *i)
{
	uint8_t src[16], mask[16];
	unsigned first = 16, last = 0;
	uint64_t la;

	avx_check(c);
	memcpy(src, fx_xmm(c, i->r1), 16);
	memcpy(mask, fx_xmm(c, i->r2), 16);
	for (unsigned k = 0; k < 16; k++) {
		if (mask[k] & 0x80) {
			if (first == 16)
				first = k;
			last = k;
		}
	}
	la = insn_la(c, i, 16, ACC_W);
	if (first < 16) {
		fpu_mem_probe_write(c, (la + first) & c->la_mask, last - first + 1);
		for (unsigned k = first; k <= last; k++)
			if (mask[k] & 0x80)
				mem_write(c, (la + k) & c->la_mask, 1, src[k]);
	}
	NEXT(c, i);
}

/*
 * VGATHERDPS/DPD/QPS/QPD, VPGATHERDD/DQ/QD/QQ (SDM vol. 2): i->r1 the
 * destination, i->r2 the mask, aux = index register | index size << 4 |
 * element size << 8 | count << 12; base, scale, disp, seg as any memory
 * operand, the index taken from the vector register. Elements are loaded
 * in order; each one done is written to the destination and its mask
 * element cleared at once, so a fault leaves the progress the SDM
 * describes. At the end the whole mask register is zero and the
 * destination's elements past the count are zero (bits 255:128 too for
 * VEX.128).
 */
static const struct insn *op_gather(struct cpu *c, const struct insn *i)
{
	unsigned xr = i->aux & 15, isz = (i->aux >> 4) & 15, w = (i->aux >> 8) & 15,
		 n = i->aux >> 12;
	uint8_t dst[32], mask[32], idx[32];

	avx_check(c);
	ymm_get(c, i->r1, dst);
	ymm_get(c, i->r2, mask);
	ymm_get(c, xr, idx);
	for (unsigned k = 0; k < n; k++) {
		int64_t ix;
		uint64_t ea, la;

		if (!(mask[k * w + w - 1] & 0x80))
			continue;
		if (isz == 4) {
			int32_t v;
			memcpy(&v, idx + 4 * k, 4);
			ix = v;
		} else {
			memcpy(&ix, idx + 8 * k, 8);
		}
		ea = c->gpr[i->base] + ((uint64_t)ix << i->scale) + (uint64_t)(int64_t)i->disp;
		ea = (ea << i->ashift) >> i->ashift;
		la = seg_la(c, i->seg, ea, w, ACC_R);
		fpu_mem_read(c, la, dst + k * w, w);
		memset(mask + k * w, 0, w);
		ymm_put(c, i->r1, dst);
		ymm_put(c, i->r2, mask);
	}
	memset(dst + n * w, 0, 32 - n * w);
	memset(mask, 0, 32);
	ymm_put(c, i->r1, dst);
	ymm_put(c, i->r2, mask);
	NEXT(c, i);
}

/* ---- decoding ---- */

static bool vex_isa(ZydisISASet s)
{
	switch (s) {
	case ZYDIS_ISA_SET_AVX:
	case ZYDIS_ISA_SET_AVX2:
	case ZYDIS_ISA_SET_AVX2GATHER:
	case ZYDIS_ISA_SET_FMA:
	case ZYDIS_ISA_SET_F16C:
		return cpu_avx_supported();
	default:
		return false;
	}
}

static bool vec_reg(ZydisRegister r, unsigned *idx)
{
	if (r >= ZYDIS_REGISTER_XMM0 && r <= ZYDIS_REGISTER_XMM15) {
		*idx = r - ZYDIS_REGISTER_XMM0;
		return true;
	}
	if (r >= ZYDIS_REGISTER_YMM0 && r <= ZYDIS_REGISTER_YMM15) {
		*idx = r - ZYDIS_REGISTER_YMM0;
		return true;
	}
	return false;
}

/* VEX forms whose memory operand must be aligned to its size */
static bool vex_aligned(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_VMOVAPS:
	case ZYDIS_MNEMONIC_VMOVAPD:
	case ZYDIS_MNEMONIC_VMOVDQA:
	case ZYDIS_MNEMONIC_VMOVNTPS:
	case ZYDIS_MNEMONIC_VMOVNTPD:
	case ZYDIS_MNEMONIC_VMOVNTDQ:
	case ZYDIS_MNEMONIC_VMOVNTDQA:
		return true;
	default:
		return false;
	}
}

static bool vex_common(const struct dctx *d)
{
	return d->zi->encoding == ZYDIS_INSTRUCTION_ENCODING_VEX && vex_isa(d->zi->meta.isa_set);
}

/* integer, logic and move instructions: MXCSR is neither read nor written
 * (no rounding, no SIMD floating-point exception): their stub skips it and
 * the JIT may run them inline. The ones glibc's AVX2 string functions and
 * memcpy use, and their kin. */
static bool vex_nomxcsr(ZydisMnemonic m)
{
	switch (m) {
	case ZYDIS_MNEMONIC_VMOVDQU:
	case ZYDIS_MNEMONIC_VMOVDQA:
	case ZYDIS_MNEMONIC_VMOVUPS:
	case ZYDIS_MNEMONIC_VMOVAPS:
	case ZYDIS_MNEMONIC_VMOVUPD:
	case ZYDIS_MNEMONIC_VMOVAPD:
	case ZYDIS_MNEMONIC_VMOVNTDQ:
	case ZYDIS_MNEMONIC_VMOVNTDQA:
	case ZYDIS_MNEMONIC_VPCMPEQB:
	case ZYDIS_MNEMONIC_VPCMPEQW:
	case ZYDIS_MNEMONIC_VPCMPEQD:
	case ZYDIS_MNEMONIC_VPCMPEQQ:
	case ZYDIS_MNEMONIC_VPCMPGTB:
	case ZYDIS_MNEMONIC_VPCMPGTW:
	case ZYDIS_MNEMONIC_VPCMPGTD:
	case ZYDIS_MNEMONIC_VPCMPGTQ:
	case ZYDIS_MNEMONIC_VPMINUB:
	case ZYDIS_MNEMONIC_VPMINUW:
	case ZYDIS_MNEMONIC_VPMINUD:
	case ZYDIS_MNEMONIC_VPMAXUB:
	case ZYDIS_MNEMONIC_VPMAXUW:
	case ZYDIS_MNEMONIC_VPMAXUD:
	case ZYDIS_MNEMONIC_VPMINSB:
	case ZYDIS_MNEMONIC_VPMINSW:
	case ZYDIS_MNEMONIC_VPMINSD:
	case ZYDIS_MNEMONIC_VPMAXSB:
	case ZYDIS_MNEMONIC_VPMAXSW:
	case ZYDIS_MNEMONIC_VPMAXSD:
	case ZYDIS_MNEMONIC_VPOR:
	case ZYDIS_MNEMONIC_VPAND:
	case ZYDIS_MNEMONIC_VPANDN:
	case ZYDIS_MNEMONIC_VPXOR:
	case ZYDIS_MNEMONIC_VORPS:
	case ZYDIS_MNEMONIC_VANDPS:
	case ZYDIS_MNEMONIC_VANDNPS:
	case ZYDIS_MNEMONIC_VXORPS:
	case ZYDIS_MNEMONIC_VORPD:
	case ZYDIS_MNEMONIC_VANDPD:
	case ZYDIS_MNEMONIC_VANDNPD:
	case ZYDIS_MNEMONIC_VXORPD:
	case ZYDIS_MNEMONIC_VPMOVMSKB:
	case ZYDIS_MNEMONIC_VPTEST:
	case ZYDIS_MNEMONIC_VPBROADCASTB:
	case ZYDIS_MNEMONIC_VPBROADCASTW:
	case ZYDIS_MNEMONIC_VPBROADCASTD:
	case ZYDIS_MNEMONIC_VPBROADCASTQ:
	case ZYDIS_MNEMONIC_VPADDB:
	case ZYDIS_MNEMONIC_VPADDW:
	case ZYDIS_MNEMONIC_VPADDD:
	case ZYDIS_MNEMONIC_VPADDQ:
	case ZYDIS_MNEMONIC_VPSUBB:
	case ZYDIS_MNEMONIC_VPSUBW:
	case ZYDIS_MNEMONIC_VPSUBD:
	case ZYDIS_MNEMONIC_VPSUBQ:
	case ZYDIS_MNEMONIC_VPSHUFB:
	case ZYDIS_MNEMONIC_VPSHUFD:
	case ZYDIS_MNEMONIC_VPALIGNR:
	case ZYDIS_MNEMONIC_VPUNPCKLBW:
	case ZYDIS_MNEMONIC_VPUNPCKHBW:
	case ZYDIS_MNEMONIC_VPUNPCKLQDQ:
	case ZYDIS_MNEMONIC_VPUNPCKHQDQ:
	case ZYDIS_MNEMONIC_VPERMQ:
	case ZYDIS_MNEMONIC_VPERM2I128:
	case ZYDIS_MNEMONIC_VINSERTI128:
	case ZYDIS_MNEMONIC_VEXTRACTI128:
	case ZYDIS_MNEMONIC_VPSLLDQ:
	case ZYDIS_MNEMONIC_VPSRLDQ:
	case ZYDIS_MNEMONIC_VMOVD:
	case ZYDIS_MNEMONIC_VMOVQ:
	case ZYDIS_MNEMONIC_VPINSRB:
	case ZYDIS_MNEMONIC_VPINSRW:
	case ZYDIS_MNEMONIC_VPINSRD:
	case ZYDIS_MNEMONIC_VPINSRQ:
	case ZYDIS_MNEMONIC_VPEXTRB:
	case ZYDIS_MNEMONIC_VPEXTRW:
	case ZYDIS_MNEMONIC_VPEXTRD:
	case ZYDIS_MNEMONIC_VPEXTRQ:
		return true;
	default:
		return false;
	}
}

bool decode_avx(struct dctx *d, struct insn *i)
{
	const ZydisDecodedInstruction *zi = d->zi;
	struct vex_enc e;
	uint32_t fl = 0;
	unsigned reg_size = 0, rm_size = 0, vr = 0, ir = 0;
	bool has_gpr = false;
	avx_fn fn;

	if (!vex_common(d))
		return false;
	/* Zydis files VEX.128 VPCLMULQDQ under AVX; PCLMULQDQ is not part of
	 * the model (its legacy form is #UD too) */
	if (zi->mnemonic == ZYDIS_MNEMONIC_VPCLMULQDQ)
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
	e.pp = zi->raw.vex.pp;
	e.L = zi->raw.vex.L;
	e.W = zi->raw.vex.W;
	e.modrm_reg = zi->raw.modrm.reg;
	for (unsigned k = 0; k < zi->operand_count; k++) {
		const ZydisDecodedOperand *o = &d->op[k];
		bool rd = o->actions & ZYDIS_OPERAND_ACTION_MASK_READ;
		bool wr = o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;
		unsigned idx, size = 0;
		uint8_t kind;
		int g;

		if (o->visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN) {
			if (o->type != ZYDIS_OPERAND_TYPE_REGISTER)
				return false;
			switch (o->reg.value) {
			case ZYDIS_REGISTER_XMM0:
			case ZYDIS_REGISTER_YMM0:
				e.xmm0_read = true; /* loaded whole: VEX.128 zeroes 255:128 */
				e.xmm0_write |= wr;
				fl |= AF_XMM0 | (wr ? AF_XMM0_W : 0);
				break;
			case ZYDIS_REGISTER_EAX:
			case ZYDIS_REGISTER_RAX:
			case ZYDIS_REGISTER_EDX:
			case ZYDIS_REGISTER_RDX:
				if (wr)
					return false;
				e.gpr_in = true;
				fl |= AF_GPR_IN;
				break;
			case ZYDIS_REGISTER_ECX:
			case ZYDIS_REGISTER_RCX:
				if (rd)
					return false;
				e.gpr_out = true;
				fl |= AF_RCX_OUT;
				break;
			case ZYDIS_REGISTER_RFLAGS:
			case ZYDIS_REGISTER_EFLAGS:
				if (rd)
					return false;
				e.rflags = true;
				fl |= AF_RFLAGS;
				break;
			case ZYDIS_REGISTER_MXCSR:
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
			if (vec_reg(o->reg.value, &idx)) {
				kind = SK_XMM;
			} else if ((g = dreg(o->reg.value, &size)) >= 0) {
				kind = SK_GPR;
				idx = (unsigned)g;
				has_gpr = true;
			} else {
				return false;
			}
		} else if (o->type == ZYDIS_OPERAND_TYPE_MEMORY) {
			if (o->encoding != ZYDIS_OPERAND_ENCODING_MODRM_RM || !dmem(d, o, i))
				return false;
			kind = SK_MEM;
			idx = 0;
			size = o->size / 8;
			if (size != 1 && size != 2 && size != 4 && size != 8 && size != 16 &&
			    size != 32)
				return false;
			i->osz = (uint8_t)size;
			if (vex_aligned(zi->mnemonic))
				fl |= AF_ALIGN;
		} else {
			return false;
		}
		switch (o->encoding) {
		case ZYDIS_OPERAND_ENCODING_MODRM_REG:
			if (e.reg_kind != SK_NONE)
				return false;
			e.reg_kind = kind;
			i->r1 = (uint8_t)idx;
			reg_size = kind == SK_GPR ? size : 0;
			if (wr)
				fl |= AF_REG_W;
			break;
		case ZYDIS_OPERAND_ENCODING_MODRM_RM:
			if (e.rm_kind != SK_NONE)
				return false;
			e.rm_kind = kind;
			i->r2 = (uint8_t)idx;
			rm_size = kind == SK_GPR ? size : 0;
			if (wr)
				fl |= AF_RM_W;
			break;
		case ZYDIS_OPERAND_ENCODING_NDSNDD:
			if (kind != SK_XMM || e.vvvv)
				return false;
			e.vvvv = true;
			vr = idx;
			fl |= AF_VVVV;
			if (wr) {
				e.vvvv_write = true;
				fl |= AF_VVVV_W;
			}
			break;
		case ZYDIS_OPERAND_ENCODING_IS4:
			if (kind != SK_XMM || e.is4)
				return false;
			e.is4 = true;
			ir = idx;
			fl |= AF_IS4;
			break;
		default:
			return false;
		}
	}
	if (e.rm_kind == SK_NONE)
		return false;
	e.reg_write = (fl & AF_REG_W) != 0;
	e.rm_write = (fl & AF_RM_W) != 0;
	e.nomxcsr = vex_nomxcsr(zi->mnemonic);
	/*
	 * Outside 64-bit mode VEX.W1 is ignored where it would select a 64-bit
	 * integer operand (SDM vol. 2, VCVTSI2SS etc.: "VEX.W1 in non-64 bit is
	 * ignored"), register or memory; VPINSRQ/VPEXTRQ are invalid there
	 * ("V/I"; #UD on the AMD host too). The other GPR forms ignore W.
	 */
	if (d->mode != ZYDIS_MACHINE_MODE_LONG_64 && e.W) {
		switch (zi->mnemonic) {
		case ZYDIS_MNEMONIC_VPINSRD:
		case ZYDIS_MNEMONIC_VPINSRQ:
		case ZYDIS_MNEMONIC_VPEXTRD:
		case ZYDIS_MNEMONIC_VPEXTRQ:
			return false;
		case ZYDIS_MNEMONIC_VCVTSI2SS:
		case ZYDIS_MNEMONIC_VCVTSI2SD:
		case ZYDIS_MNEMONIC_VCVTSS2SI:
		case ZYDIS_MNEMONIC_VCVTSD2SI:
		case ZYDIS_MNEMONIC_VCVTTSS2SI:
		case ZYDIS_MNEMONIC_VCVTTSD2SI:
		case ZYDIS_MNEMONIC_VMOVD:
		case ZYDIS_MNEMONIC_VMOVQ:
		case ZYDIS_MNEMONIC_VPCMPESTRI: /* EAX/EDX, not RAX/RDX */
		case ZYDIS_MNEMONIC_VPCMPESTRM:
			e.W = 0;
			break;
		default:
			if (has_gpr)
				e.W = 0;
			break;
		}
	}
	fn = fpu_host_vex(d->c, &e);
	if (!fn)
		return false;
	i->imm = (uint64_t)(uintptr_t)fn;
	i->aux2 = fl | e.reg_kind | (uint32_t)e.rm_kind << 3;
	i->aux = (uint16_t)(vr | ir << 4 | reg_size << 8 | rm_size << 12);
	i->fn = op_avx;
	return true;
}

static bool decode_vzero(struct dctx *d, struct insn *i)
{
	if (!vex_common(d))
		return false;
	i->aux = d->zi->mnemonic == ZYDIS_MNEMONIC_VZEROALL;
	i->fn = op_vzero;
	return true;
}

static bool decode_vmxcsr(struct dctx *d, struct insn *i)
{
	if (!vex_common(d) || !dop_is_mem(&d->op[0]) || !dmem(d, &d->op[0], i))
		return false;
	i->fn = d->zi->mnemonic == ZYDIS_MNEMONIC_VLDMXCSR ? op_vldmxcsr : op_vstmxcsr;
	return true;
}

static bool decode_maskmov_v(struct dctx *d, struct insn *i)
{
	const ZydisDecodedInstruction *zi = d->zi;
	const ZydisDecodedOperand *m, *mask, *data;
	unsigned r1, r2, w;
	bool store;

	if (!vex_common(d) || zi->operand_count_visible != 3)
		return false;
	store = dop_is_mem(&d->op[0]);
	m = store ? &d->op[0] : &d->op[2];
	mask = &d->op[1];
	data = store ? &d->op[2] : &d->op[0];
	if (!dop_is_mem(m) || !dmem(d, m, i) || !vec_reg(mask->reg.value, &r2) ||
	    !vec_reg(data->reg.value, &r1))
		return false;
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_VMASKMOVPS:
		w = 4;
		break;
	case ZYDIS_MNEMONIC_VMASKMOVPD:
		w = 8;
		break;
	default: /* VPMASKMOVD / VPMASKMOVQ by VEX.W */
		w = zi->raw.vex.W ? 8 : 4;
		break;
	}
	i->r1 = (uint8_t)r1;
	i->r2 = (uint8_t)r2;
	i->osz = zi->raw.vex.L ? 32 : 16;
	i->aux = (uint16_t)(w | (unsigned)store << 8);
	i->fn = op_maskmov_v;
	return true;
}

static bool decode_vmaskmovdqu(struct dctx *d, struct insn *i)
{
	const ZydisDecodedOperand *m = NULL;
	unsigned r1, r2;

	if (!vex_common(d))
		return false;
	for (unsigned k = 0; k < d->zi->operand_count; k++)
		if (dop_is_mem(&d->op[k]))
			m = &d->op[k];
	if (!m || !dmem(d, m, i) || !vec_reg(d->op[0].reg.value, &r1) ||
	    !vec_reg(d->op[1].reg.value, &r2))
		return false;
	i->r1 = (uint8_t)r1;
	i->r2 = (uint8_t)r2;
	i->fn = op_vmaskmovdqu;
	return true;
}

static bool decode_gather(struct dctx *d, struct insn *i)
{
	const ZydisDecodedInstruction *zi = d->zi;
	const ZydisDecodedOperand *m = &d->op[1];
	unsigned dst, mask, xr, isz, w, vl, n, bs;
	int b;

	if (!vex_common(d) || zi->operand_count_visible != 3 || !dop_is_mem(m) ||
	    m->mem.type != ZYDIS_MEMOP_TYPE_VSIB || !vec_reg(d->op[0].reg.value, &dst) ||
	    !vec_reg(d->op[2].reg.value, &mask) || !vec_reg(m->mem.index, &xr))
		return false;
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_VGATHERDPS:
	case ZYDIS_MNEMONIC_VPGATHERDD:
		isz = 4, w = 4;
		break;
	case ZYDIS_MNEMONIC_VGATHERDPD:
	case ZYDIS_MNEMONIC_VPGATHERDQ:
		isz = 4, w = 8;
		break;
	case ZYDIS_MNEMONIC_VGATHERQPS:
	case ZYDIS_MNEMONIC_VPGATHERQD:
		isz = 8, w = 4;
		break;
	default:
		isz = 8, w = 8;
		break;
	}
	/* SDM: #UD if any two of destination, index and mask are the same */
	if (dst == mask || dst == xr || mask == xr)
		return false;
	vl = zi->raw.vex.L ? 32 : 16;
	n = vl / isz < vl / w ? vl / isz : vl / w;
	if (m->mem.base == ZYDIS_REGISTER_NONE) {
		b = GPR_ZERO;
	} else {
		b = dreg(m->mem.base, &bs);
		if (b < 0 || bs == 1)
			return false;
	}
	i->base = (uint8_t)b;
	i->index = GPR_ZERO;
	i->scale = m->mem.scale == 8 ? 3 : m->mem.scale == 4 ? 2 : m->mem.scale == 2 ? 1 : 0;
	i->disp = (int32_t)m->mem.disp.value;
	b = dsreg(m->mem.segment);
	i->seg = b < 0 ? SEG_DS : (uint8_t)b;
	i->ashift = zi->address_width == 64 ? 0 : zi->address_width == 32 ? 32 : 48;
	i->flags |= INSN_MEM;
	i->r1 = (uint8_t)dst;
	i->r2 = (uint8_t)mask;
	i->aux = (uint16_t)(xr | isz << 4 | w << 8 | n << 12);
	i->fn = op_gather;
	return true;
}

void ops_avx_register(void)
{
	jit_describe(op_avx, JK_AVX, 0, 0);
	jit_describe(op_vzero, JK_VZERO, 0, 0);
	static const ZydisMnemonic gathers[] = {
	    ZYDIS_MNEMONIC_VGATHERDPS, ZYDIS_MNEMONIC_VGATHERDPD, ZYDIS_MNEMONIC_VGATHERQPS,
	    ZYDIS_MNEMONIC_VGATHERQPD, ZYDIS_MNEMONIC_VPGATHERDD, ZYDIS_MNEMONIC_VPGATHERDQ,
	    ZYDIS_MNEMONIC_VPGATHERQD, ZYDIS_MNEMONIC_VPGATHERQQ,
	};

	decode_register(ZYDIS_MNEMONIC_VZEROUPPER, decode_vzero);
	decode_register(ZYDIS_MNEMONIC_VZEROALL, decode_vzero);
	decode_register(ZYDIS_MNEMONIC_VLDMXCSR, decode_vmxcsr);
	decode_register(ZYDIS_MNEMONIC_VSTMXCSR, decode_vmxcsr);
	decode_register(ZYDIS_MNEMONIC_VMASKMOVPS, decode_maskmov_v);
	decode_register(ZYDIS_MNEMONIC_VMASKMOVPD, decode_maskmov_v);
	decode_register(ZYDIS_MNEMONIC_VPMASKMOVD, decode_maskmov_v);
	decode_register(ZYDIS_MNEMONIC_VPMASKMOVQ, decode_maskmov_v);
	decode_register(ZYDIS_MNEMONIC_VMASKMOVDQU, decode_vmaskmovdqu);
	for (size_t k = 0; k < sizeof(gathers) / sizeof(gathers[0]); k++)
		decode_register(gathers[k], decode_gather);
}
