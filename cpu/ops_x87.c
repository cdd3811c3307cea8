/* SPDX-License-Identifier: MIT */
/*
 * x87 FPU (SDM vol. 1, chapter 8; vol. 2 for each instruction).
 *
 * Arithmetic, loads, stores, compares, transcendentals, FCMOVcc, FCOMI and
 * FISTTP run on the host unit with the whole x87 state (fpu_host.c). The
 * control instructions (FNINIT FNCLEX FLDCW FNSTCW FNSTSW FNSTENV FLDENV
 * FNSAVE FRSTOR FWAIT) are done here, with the environment formats of
 * SDM vol. 1, 8.1.10 (figures 8-9 to 8-12).
 *
 * Non-control instructions record FIP/FCS and FOP, and FDP/FDS when they
 * have a memory operand (SDM vol. 1, 8.1.8), as the vendor and CPUID bits
 * say (cpu/README.md, "Vendor behaviour"): Intel keeps FOP, and with
 * CPUID.7.0:EBX[6] FDP/FDS, only for an instruction that incurs an
 * unmasked exception; with EBX[13] FCS/FDS are saved as 0. Unmasked exceptions are
 * deferred as on the hardware: FSW.ES makes the next waiting instruction
 * raise #MF (fpu_x87_check()).
 */
#include "decode.h"
#include "fpu.h"
#include "ops.h"

/* i->aux2 for host-run instructions */
#define XF_MEM_R     (1u << 0)
#define XF_MEM_W     (1u << 1)
#define XF_FLAGS_IN  (1u << 2)
#define XF_FLAGS_OUT (1u << 3)
#define XF_MMX	     (1u << 4) /* EMMS: MMX checks, no x87 pointers */

static uint64_t fx_get64(const struct cpu *c, unsigned off)
{
	uint64_t v;
	memcpy(&v, c->fx + off, 8);
	return v;
}

static void fx_put64(struct cpu *c, unsigned off, uint64_t v)
{
	memcpy(c->fx + off, &v, 8);
}

static const struct insn *op_x87(struct cpu *c, const struct insn *i)
{
	uint32_t fl = i->aux2;
	unsigned n = i->osz;
	uint8_t mbuf[16] = {0};
	uint64_t ea = 0, la = 0, fdp, fip;
	uint16_t fds, fcw = 0, fsw, fop;
	struct x87_frame f;
	bool ignne = false, exc;

	if (fl & XF_MMX)
		fpu_mmx_check(c);
	else
		fpu_x87_check(c, true);
	if (fl & (XF_MEM_R | XF_MEM_W)) {
		ea = insn_ea(c, i);
		la = seg_la(c, i->seg, ea, n, (fl & XF_MEM_W) ? ACC_W : ACC_R);
		if (fl & XF_MEM_W)
			fpu_mem_probe_write(c, la, n);
		/* a store suppressed by an unmasked exception leaves memory as it was */
		fpu_mem_read(c, la, mbuf, n);
	}
	fdp = fx_get64(c, FX_FDP);
	fip = fx_get64(c, FX_FIP);
	fop = fx_get16(c, FX_FOP);
	fds = c->fx_fds;
	fsw = fx_get16(c, FX_FSW);
	if (unlikely(fsw & FSW_ES)) {
		/* CR0.NE clear (IGNNE#): run with the pending exceptions masked
		 * so the host does not signal them */
		ignne = true;
		fcw = fx_get16(c, FX_FCW);
		fx_put16(c, FX_FCW, (uint16_t)(fcw | (fsw & 0x3f)));
		fx_put16(c, FX_FSW, (uint16_t)(fsw & ~(FSW_ES | FSW_B)));
	}
	f.rflags = 0;
	if (fl & XF_FLAGS_IN) {
		cc_materialize(c);
		f.rflags = c->rflags & FL_ARITH;
	}

	((x87_fn)(uintptr_t)i->imm)(c->fx, mbuf, &f);
	/* this instruction incurred an unmasked exception (before IGNNE's
	 * pending ones are put back) */
	exc = (fx_get16(c, FX_FSW) & FSW_ES) != 0;

	if (unlikely(ignne)) {
		fx_put16(c, FX_FCW, fcw);
		fpu_x87_update_es(c);
	}
	if (fl & XF_MMX) {
		/* the host saved zero pointers: keep the x87 ones */
		fx_put64(c, FX_FDP, fdp);
		fx_put64(c, FX_FIP, fip);
		fx_put16(c, FX_FOP, fop);
		NEXT(c, i);
	}
	/* FOP: Intel keeps it only for an unmasked exception (SDM vol. 1,
	 * 8.1.9.1, fopcode compatibility mode gone); AMD for every one */
	fx_put16(c, FX_FOP, (exc || (c->vflags & VB_FOP_ALWAYS)) ? i->aux : fop);
	fx_put64(c, FX_FIP, RIP(c));
	c->fx_fcs = c->seg[SEG_CS].sel;
	/* FDP/FDS: CPUID.7.0:EBX[6] updates them only for an unmasked
	 * exception (SDM vol. 1, 8.1.8) */
	if ((fl & (XF_MEM_R | XF_MEM_W)) && (exc || !(c->vflags & VB_FDP_EXCPTN_ONLY))) {
		fx_put64(c, FX_FDP, ea);
		c->fx_fds = c->seg[i->seg].sel;
	} else {
		fx_put64(c, FX_FDP, fdp);
		c->fx_fds = fds;
	}
	if (fl & XF_FLAGS_OUT) {
		c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | (f.rflags & FL_ARITH);
		c->cc_op = CC_EFLAGS;
	}
	if (fl & XF_MEM_W)
		fpu_mem_write(c, la, mbuf, n);
	NEXT(c, i);
}

/* ---- control instructions ---- */

static const struct insn *op_fninit(struct cpu *c, const struct insn *i)
{
	fpu_x87_check(c, false);
	fpu_x87_init(c);
	NEXT(c, i);
}

static const struct insn *op_fnclex(struct cpu *c, const struct insn *i)
{
	fpu_x87_check(c, false);
	/* PE UE OE ZE DE IE SF ES B cleared; C0-C3 and TOP kept */
	fx_put16(c, FX_FSW, fx_get16(c, FX_FSW) & 0x7f00);
	NEXT(c, i);
}

/* FNENI, FNDISI, FNSETPM: 8087/287 controls, no-ops since the 387 */
static const struct insn *op_fnnop(struct cpu *c, const struct insn *i)
{
	fpu_x87_check(c, false);
	NEXT(c, i);
}

static const struct insn *op_fwait(struct cpu *c, const struct insn *i)
{
	if ((c->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
		cpu_raise_noerr(c, EXC_NM);
	if ((fx_get16(c, FX_FSW) & FSW_ES) && (c->cr0 & CR0_NE))
		cpu_raise_noerr(c, EXC_MF);
	NEXT(c, i);
}

static const struct insn *op_fldcw(struct cpu *c, const struct insn *i)
{
	uint16_t v;

	fpu_x87_check(c, true);
	v = (uint16_t)load_op(c, i, 2);
	/* reserved bits: 6 reads as 1, 13-15 as 0 */
	fx_put16(c, FX_FCW, (uint16_t)((v & 0x1f3f) | 0x40));
	fpu_x87_update_es(c);
	NEXT(c, i);
}

static const struct insn *op_fnstcw(struct cpu *c, const struct insn *i)
{
	fpu_x87_check(c, false);
	store_op(c, i, 2, fx_get16(c, FX_FCW));
	NEXT(c, i);
}

/* FNSTSW m16 (i->aux2 = 0) or AX (1) */
static const struct insn *op_fnstsw(struct cpu *c, const struct insn *i)
{
	fpu_x87_check(c, false);
	if (i->aux2)
		reg_set(c, REG_RAX, 2, fx_get16(c, FX_FSW));
	else
		store_op(c, i, 2, fx_get16(c, FX_FSW));
	NEXT(c, i);
}

/* the x87 environment: i->osz = 14 (16-bit format) or 28 (32-bit format) */
static void env_build(struct cpu *c, uint8_t *b, unsigned size)
{
	bool real = in_real_mode(c) || in_vm86(c);
	uint32_t fip = (uint32_t)fx_get64(c, FX_FIP), fdp = (uint32_t)fx_get64(c, FX_FDP);
	uint16_t fop = fx_get16(c, FX_FOP) & 0x7ff, w[14];
	/* CPUID.7.0:EBX[13]: FCS and FDS are saved as 0 (SDM vol. 1, 8.1.8) */
	uint16_t fcs = (c->vflags & VB_ZERO_FCS_FDS) ? 0 : c->fx_fcs;
	uint16_t fds = (c->vflags & VB_ZERO_FCS_FDS) ? 0 : c->fx_fds;

	if (real) {
		fip += (uint32_t)c->fx_fcs << 4;
		fdp += (uint32_t)c->fx_fds << 4;
	}
	if (size == 14) {
		w[0] = fx_get16(c, FX_FCW);
		w[1] = fx_get16(c, FX_FSW);
		w[2] = fpu_full_tag(c);
		w[3] = (uint16_t)fip;
		if (real) {
			w[4] = (uint16_t)(((fip >> 16) & 0xf) << 12 | fop);
			w[5] = (uint16_t)fdp;
			w[6] = (uint16_t)(((fdp >> 16) & 0xf) << 12);
		} else {
			w[4] = fcs;
			w[5] = (uint16_t)fdp;
			w[6] = fds;
		}
		memcpy(b, w, 14);
		return;
	}
	for (int k = 0; k < 14; k++)
		w[k] = 0xffff;
	w[0] = fx_get16(c, FX_FCW);
	w[2] = fx_get16(c, FX_FSW);
	w[4] = fpu_full_tag(c);
	if (real) {
		w[6] = (uint16_t)fip;
		w[8] = (uint16_t)(fop | (fip >> 16) << 12);
		w[9] = (uint16_t)(fip >> 20 & 0xfff) & 0xfff;
		w[10] = (uint16_t)fdp;
		w[12] = (uint16_t)((fdp >> 16) << 12);
		w[13] = (uint16_t)(fdp >> 20 & 0xfff);
	} else {
		w[6] = (uint16_t)fip;
		w[7] = (uint16_t)(fip >> 16);
		w[8] = fcs;
		w[9] = fop;
		w[10] = (uint16_t)fdp;
		w[11] = (uint16_t)(fdp >> 16);
		w[12] = fds;
	}
	memcpy(b, w, 28);
}

static void env_load(struct cpu *c, const uint8_t *b, unsigned size)
{
	bool real = in_real_mode(c) || in_vm86(c);
	uint16_t w[14], fcw, fsw, ftw, fop;
	uint32_t fip, fdp;
	uint16_t fcs = 0, fds = 0;

	memcpy(w, b, size);
	if (size == 14) {
		fcw = w[0];
		fsw = w[1];
		ftw = w[2];
		fip = w[3];
		if (real) {
			fip |= (uint32_t)(w[4] >> 12) << 16;
			fop = w[4] & 0x7ff;
			fdp = w[5] | (uint32_t)(w[6] >> 12) << 16;
		} else {
			fcs = w[4];
			fop = fx_get16(c, FX_FOP);
			fdp = w[5];
			fds = w[6];
		}
	} else {
		fcw = w[0];
		fsw = w[2];
		ftw = w[4];
		if (real) {
			fip = w[6] | (uint32_t)(w[8] >> 12) << 16 | (uint32_t)(w[9] & 0xfff) << 20;
			fop = w[8] & 0x7ff;
			fdp =
			    w[10] | (uint32_t)(w[12] >> 12) << 16 | (uint32_t)(w[13] & 0xfff) << 20;
		} else {
			fip = w[6] | (uint32_t)w[7] << 16;
			fcs = w[8];
			fop = w[9] & 0x7ff;
			fdp = w[10] | (uint32_t)w[11] << 16;
			fds = w[12];
		}
	}
	fx_put16(c, FX_FCW, (uint16_t)((fcw & 0x1f3f) | 0x40));
	fpu_set_fsw(c, fsw);
	c->fx[FX_FTW] = fpu_abridged_tag(ftw);
	fx_put16(c, FX_FOP, fop);
	fx_put64(c, FX_FIP, fip);
	fx_put64(c, FX_FDP, fdp);
	c->fx_fcs = fcs;
	c->fx_fds = fds;
	fpu_x87_update_es(c);
}

static const struct insn *op_fnstenv(struct cpu *c, const struct insn *i)
{
	uint8_t b[28];
	uint64_t la;

	fpu_x87_check(c, false);
	la = insn_la(c, i, i->osz, ACC_W);
	fpu_mem_probe_write(c, la, i->osz);
	env_build(c, b, i->osz);
	fpu_mem_write(c, la, b, i->osz);
	/* then every exception is masked (SDM vol. 2, FSTENV) */
	fx_put16(c, FX_FCW, fx_get16(c, FX_FCW) | 0x3f);
	fpu_x87_update_es(c);
	NEXT(c, i);
}

static const struct insn *op_fldenv(struct cpu *c, const struct insn *i)
{
	uint8_t b[28];

	fpu_x87_check(c, true);
	fpu_mem_read(c, insn_la(c, i, i->osz, ACC_R), b, i->osz);
	env_load(c, b, i->osz);
	NEXT(c, i);
}

/* FNSAVE/FRSTOR: i->osz = 94 or 108 (environment + 8 x 10 bytes) */
static const struct insn *op_fnsave(struct cpu *c, const struct insn *i)
{
	uint8_t b[108];
	unsigned env = i->osz - 80u;
	uint64_t la;

	fpu_x87_check(c, false);
	la = insn_la(c, i, i->osz, ACC_W);
	fpu_mem_probe_write(c, la, i->osz);
	env_build(c, b, env);
	for (unsigned k = 0; k < 8; k++)
		memcpy(b + env + 10 * k, c->fx + FX_ST + 16 * k, 10);
	fpu_mem_write(c, la, b, i->osz);
	fpu_x87_init(c);
	NEXT(c, i);
}

static const struct insn *op_frstor(struct cpu *c, const struct insn *i)
{
	uint8_t b[108];
	unsigned env = i->osz - 80u;

	fpu_x87_check(c, true);
	fpu_mem_read(c, insn_la(c, i, i->osz, ACC_R), b, i->osz);
	env_load(c, b, env);
	/* the registers are ST(0..7) of the new TOP */
	for (unsigned k = 0; k < 8; k++) {
		memcpy(c->fx + FX_ST + 16 * k, b + env + 10 * k, 10);
		memset(c->fx + FX_ST + 16 * k + 10, 0, 6);
	}
	NEXT(c, i);
}

/* ---- decoding ---- */

static bool isa_x87(ZydisISASet s)
{
	/* FISTTP m32 (DB /1) is in the SSE3 set, its other forms in SSE3X87 */
	return s == ZYDIS_ISA_SET_X87 || s == ZYDIS_ISA_SET_FCMOV || s == ZYDIS_ISA_SET_SSE3X87 ||
	       s == ZYDIS_ISA_SET_SSE3 || s == ZYDIS_ISA_SET_PPRO;
}

static const ZydisDecodedOperand *mem_operand(const struct dctx *d)
{
	for (unsigned k = 0; k < d->zi->operand_count; k++)
		if (dop_is_mem(&d->op[k]) && d->op[k].visibility != ZYDIS_OPERAND_VISIBILITY_HIDDEN)
			return &d->op[k];
	return NULL;
}

bool fpu_decode_x87(struct dctx *d, struct insn *i)
{
	const ZydisDecodedInstruction *zi = d->zi;
	const ZydisDecodedOperand *m;
	uint8_t opcode = zi->opcode, modrm;
	uint32_t fl = 0;
	x87_fn fn;

	if (!isa_x87(zi->meta.isa_set) || opcode < 0xd8 || opcode > 0xdf)
		return false;
	modrm = (uint8_t)(zi->raw.modrm.mod << 6 | zi->raw.modrm.reg << 3 | zi->raw.modrm.rm);
	m = mem_operand(d);
	if (m) {
		unsigned size = m->size / 8;
		if (!size || size > 10 || !dmem(d, m, i))
			return false;
		i->osz = (uint8_t)size;
		fl |= (m->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) ? XF_MEM_W : XF_MEM_R;
	}
	for (unsigned k = 0; k < zi->operand_count; k++) {
		const ZydisDecodedOperand *o = &d->op[k];
		if (o->type != ZYDIS_OPERAND_TYPE_REGISTER)
			continue;
		if (o->reg.value == ZYDIS_REGISTER_RFLAGS ||
		    o->reg.value == ZYDIS_REGISTER_EFLAGS) {
			if (o->actions & ZYDIS_OPERAND_ACTION_MASK_READ)
				fl |= XF_FLAGS_IN;
			if (o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
				fl |= XF_FLAGS_OUT;
		} else if (ZydisRegisterGetClass(o->reg.value) != ZYDIS_REGCLASS_X87 &&
			   o->reg.value != ZYDIS_REGISTER_X87STATUS &&
			   o->reg.value != ZYDIS_REGISTER_X87CONTROL &&
			   o->reg.value != ZYDIS_REGISTER_X87TAG) {
			return false; /* a GPR operand: not a host-run form */
		}
	}
	fn = fpu_host_x87(d->c, &opcode, 1, modrm, m != NULL, fl & XF_FLAGS_IN, fl & XF_FLAGS_OUT);
	if (!fn)
		return false;
	i->imm = (uint64_t)(uintptr_t)fn;
	i->aux = (uint16_t)(((opcode & 7) << 8) | modrm);
	i->aux2 = fl;
	i->fn = op_x87;
	return true;
}

/* EMMS runs on the host unit too: what it does to TOP is the host's (AMD
 * clears it, Intel keeps it; both empty every tag) */
static bool decode_emms(struct dctx *d, struct insn *i)
{
	static const uint8_t op[2] = {0x0f, 0x77};
	x87_fn fn = fpu_host_x87(d->c, op, 2, -1, false, false, false);

	if (!fn)
		return false;
	i->imm = (uint64_t)(uintptr_t)fn;
	i->aux2 = XF_MMX;
	i->fn = op_x87;
	return true;
}

static bool decode_ctl_mem(struct dctx *d, struct insn *i, insn_fn fn)
{
	const ZydisDecodedOperand *m = mem_operand(d);

	if (!m || !dmem(d, m, i))
		return false;
	i->osz = (uint8_t)(m->size / 8);
	i->fn = fn;
	return true;
}

static bool decode_fnstsw(struct dctx *d, struct insn *i)
{
	if (!mem_operand(d)) {
		i->aux2 = 1;
		i->fn = op_fnstsw;
		return true;
	}
	return decode_ctl_mem(d, i, op_fnstsw);
}

#define CTL_MEM(name, fn)                                                                          \
	static bool decode_##name(struct dctx *d, struct insn *i)                                  \
	{                                                                                          \
		return decode_ctl_mem(d, i, fn);                                                   \
	}
CTL_MEM(fldcw, op_fldcw)
CTL_MEM(fnstcw, op_fnstcw)
CTL_MEM(fnstenv, op_fnstenv)
CTL_MEM(fldenv, op_fldenv)
CTL_MEM(fnsave, op_fnsave)
CTL_MEM(frstor, op_frstor)

#define CTL(name, handler)                                                                         \
	static bool decode_##name(struct dctx *d, struct insn *i)                                  \
	{                                                                                          \
		(void)d;                                                                           \
		i->fn = handler;                                                                   \
		return true;                                                                       \
	}
CTL(fninit, op_fninit)
CTL(fnclex, op_fnclex)
CTL(fwait, op_fwait)
CTL(fnnop, op_fnnop)

void ops_x87_register(void)
{
	/* the other x87 mnemonics reach fpu_decode_x87() through the SIMD
	 * group's catch-all decoder (ops_sse.c) */
	decode_register(ZYDIS_MNEMONIC_FNINIT, decode_fninit);
	decode_register(ZYDIS_MNEMONIC_FNCLEX, decode_fnclex);
	decode_register(ZYDIS_MNEMONIC_FWAIT, decode_fwait);
	decode_register(ZYDIS_MNEMONIC_EMMS, decode_emms);
	decode_register(ZYDIS_MNEMONIC_FENI8087_NOP, decode_fnnop);
	decode_register(ZYDIS_MNEMONIC_FDISI8087_NOP, decode_fnnop);
	decode_register(ZYDIS_MNEMONIC_FSETPM287_NOP, decode_fnnop);
	decode_register(ZYDIS_MNEMONIC_FLDCW, decode_fldcw);
	decode_register(ZYDIS_MNEMONIC_FNSTCW, decode_fnstcw);
	decode_register(ZYDIS_MNEMONIC_FNSTSW, decode_fnstsw);
	decode_register(ZYDIS_MNEMONIC_FNSTENV, decode_fnstenv);
	decode_register(ZYDIS_MNEMONIC_FLDENV, decode_fldenv);
	decode_register(ZYDIS_MNEMONIC_FNSAVE, decode_fnsave);
	decode_register(ZYDIS_MNEMONIC_FRSTOR, decode_frstor);
}
