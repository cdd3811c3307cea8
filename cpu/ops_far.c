/* SPDX-License-Identifier: MIT */
/*
 * Far control transfers and the fast system calls: far JMP/CALL/RET (direct,
 * memory, through call gates), IRET in every mode, SYSCALL/SYSRET,
 * SYSENTER/SYSEXIT. SDM vol. 2 (JMP, CALL, RET, IRET, SYSCALL, ...) and
 * vol. 3A chapter 5 (privilege checks, call gates).
 *
 * Each handler reads and checks everything that can fault before it changes
 * any register, so a fault leaves the instruction restartable. Task gates
 * and TSS descriptors as targets raise #GP(selector): hardware task
 * switching is not implemented.
 */
#include "decode.h"
#include "ops.h"
#include "sys.h"

enum { FAR_JMP, FAR_CALL };

static uint64_t osz_mask(unsigned osz)
{
	return size_mask(osz);
}

/* ---- common checks ---- */

/* Read the descriptor of a far-transfer target: #GP(0) for null, #GP(sel) outside the table. */
static void far_read_desc(struct cpu *c, uint16_t sel, uint32_t *lo, uint32_t *hi)
{
	if ((sel & ~3u) == 0)
		cpu_raise(c, EXC_GP, 0);
	seg_read_desc(c, sel, lo, hi, EXC_GP);
}

/* The target offset must lie in the new code segment (or be canonical for 64-bit code). */
static void check_target(struct cpu *c, uint64_t off, uint32_t lo, uint32_t hi)
{
	if (in_long_mode(c) && D_L(hi)) {
		if (!la_canonical(c, off))
			cpu_raise(c, EXC_GP, 0);
	} else if (off > desc_limit(lo, hi)) {
		cpu_raise(c, EXC_GP, 0);
	}
}

/* long mode: L and D both set is reserved */
static void check_ld(struct cpu *c, uint16_t sel, uint32_t hi)
{
	if (in_long_mode(c) && D_L(hi) && D_DB(hi))
		cpu_raise(c, EXC_GP, sel & 0xfffc);
}

/* Commit CS (and CPL). The accessed bit must have been set before. */
static void load_cs(struct cpu *c, uint16_t sel, uint32_t lo, uint32_t hi, int cpl)
{
	c->cpl = cpl;
	seg_load_desc(c, SEG_CS, (uint16_t)((sel & ~3u) | (unsigned)cpl), lo, hi);
}

static void load_ss_desc(struct cpu *c, uint16_t sel, uint32_t lo, uint32_t hi)
{
	seg_from_desc(&c->seg[SEG_SS], sel, lo, hi | (TY_A << 8));
}

/* a null SS with RPL = cpl (64-bit mode at CPL < 3) */
static void load_ss_null(struct cpu *c, uint16_t sel, int cpl)
{
	struct cpu_seg *s = &c->seg[SEG_SS];
	s->sel = sel;
	s->unusable = 1;
	s->present = 0;
	s->dpl = (uint8_t)cpl;
}

/* Set RSP after a stack switch, by the size of the new stack. */
static void set_sp_for(struct cpu *c, uint64_t sp, bool db, bool lm64)
{
	if (lm64)
		c->gpr[REG_RSP] = sp;
	else if (db)
		c->gpr[REG_RSP] = (uint32_t)sp;
	else
		reg_set(c, REG_RSP, 2, sp);
}

/*
 * A stack that is not the current SS yet: limit-checked pushes (#SS(sel)),
 * written with the privilege of cpl.
 */
struct nstack {
	struct cpu_seg s;
	uint64_t sp;
	bool lm64; /* 64-bit stack: no segment checks */
	uint32_t err;
	int cpl;
};

static void nstack_push(struct cpu *c, struct nstack *n, unsigned size, uint64_t v)
{
	unsigned accf = ACCF_STACK | (n->cpl < 3 && c->cpl == 3 ? ACCF_IMPLICIT_SV : 0);
	uint64_t la;

	if (n->lm64) {
		n->sp -= size;
		la = n->sp;
	} else {
		uint64_t mask = n->s.db ? 0xffffffffull : 0xffffull, off;
		uint64_t upper = (n->s.type & TY_E) ? mask : n->s.limit;
		uint64_t lower = (n->s.type & TY_E) ? (uint64_t)n->s.limit + 1 : 0;
		n->sp = (n->sp - size) & mask;
		off = n->sp;
		if (off < lower || off + size - 1 > upper)
			cpu_raise(c, EXC_SS, n->err);
		la = (n->s.base + off) & 0xffffffffull;
	}
	mem_write_slow(c, la, size, v, accf);
}

/* ---- real mode and VM86 ---- */

static void far_real(struct cpu *c, const struct insn *i, int kind, uint16_t sel, uint64_t off,
		     unsigned osz)
{
	off &= osz_mask(osz);
	if (off > c->seg[SEG_CS].limit)
		cpu_raise(c, EXC_GP, 0);
	if (kind == FAR_CALL) {
		uint64_t sp = (c->gpr[REG_RSP] - osz) & c->stack_mask;
		uint64_t sp2 = (sp - osz) & c->stack_mask;
		stack_write_at(c, sp, osz, c->seg[SEG_CS].sel);
		stack_write_at(c, sp2, osz, RIP(c) + i->len);
		sp_set(c, sp2);
	}
	seg_load_real(c, SEG_CS, sel);
	RIP(c) = off;
}

/* ---- protected and long mode ---- */

/* conforming: DPL <= CPL; non-conforming: RPL <= CPL and DPL == CPL */
static void check_direct_code(struct cpu *c, uint16_t sel, uint32_t hi)
{
	if (desc_is_conforming(hi)) {
		if (D_DPL(hi) > (unsigned)c->cpl)
			cpu_raise(c, EXC_GP, sel & 0xfffc);
	} else if ((sel & 3) > (unsigned)c->cpl || D_DPL(hi) != (unsigned)c->cpl) {
		cpu_raise(c, EXC_GP, sel & 0xfffc);
	}
	if (!D_P(hi))
		cpu_raise(c, EXC_NP, sel & 0xfffc);
	check_ld(c, sel, hi);
}

/* push the return address (CS, then IP) on the current stack, then commit RSP */
static void push_return(struct cpu *c, unsigned size, uint64_t next)
{
	uint64_t sp = (c->gpr[REG_RSP] - size) & c->stack_mask;
	uint64_t sp2 = (sp - size) & c->stack_mask;
	stack_write_at(c, sp, size, c->seg[SEG_CS].sel);
	stack_write_at(c, sp2, size, next);
	sp_set(c, sp2);
}

static void far_to_code(struct cpu *c, const struct insn *i, int kind, uint16_t sel, uint32_t lo,
			uint32_t hi, uint64_t off, unsigned osz)
{
	check_direct_code(c, sel, hi);
	off &= osz_mask(osz);
	check_target(c, off, lo, hi);
	seg_mark_accessed(c, sel, hi);
	if (kind == FAR_CALL)
		push_return(c, osz, RIP(c) + i->len);
	load_cs(c, sel, lo, hi | (TY_A << 8), c->cpl);
	RIP(c) = off;
}

static void far_gate(struct cpu *c, const struct insn *i, int kind, uint16_t gsel, uint32_t glo,
		     uint32_t ghi)
{
	bool lm = in_long_mode(c);
	unsigned type = D_TYPE(ghi), gsz, pcount;
	uint32_t lo, hi;
	uint16_t sel;
	uint64_t off, high = 0;

	if (lm ? type != SYS_CALL : (type != SYS_CALL && type != SYS_CALL16))
		cpu_raise(c, EXC_GP, gsel & 0xfffc); /* task gates, TSSs: not implemented */
	if (D_DPL(ghi) < (unsigned)c->cpl || D_DPL(ghi) < (gsel & 3u))
		cpu_raise(c, EXC_GP, gsel & 0xfffc);
	if (!D_P(ghi))
		cpu_raise(c, EXC_NP, gsel & 0xfffc);
	if (lm) {
		if (!seg_read_desc_high(c, gsel, &high) || ((high >> 40) & 0x1f))
			cpu_raise(c, EXC_GP, gsel & 0xfffc);
	}
	gsz = lm ? 8 : type == SYS_CALL ? 4 : 2;
	pcount = lm ? 0 : ghi & 0x1f;
	sel = (uint16_t)(glo >> 16);
	off = (glo & 0xffff) | (ghi & 0xffff0000u) | ((high & 0xffffffffull) << 32);
	if (gsz == 2)
		off &= 0xffff;

	far_read_desc(c, sel, &lo, &hi);
	if (!desc_is_code(hi) || D_DPL(hi) > (unsigned)c->cpl)
		cpu_raise(c, EXC_GP, sel & 0xfffc);
	if (kind == FAR_JMP && !desc_is_conforming(hi) && D_DPL(hi) != (unsigned)c->cpl)
		cpu_raise(c, EXC_GP, sel & 0xfffc);
	if (!D_P(hi))
		cpu_raise(c, EXC_NP, sel & 0xfffc);
	if (lm && (!D_L(hi) || D_DB(hi)))
		cpu_raise(c, EXC_GP, sel & 0xfffc);
	check_target(c, off, lo, hi);

	if (kind == FAR_CALL && !desc_is_conforming(hi) && D_DPL(hi) < (unsigned)c->cpl) {
		/* more privileged: switch to the inner stack from the TSS (SDM 5.8.5) */
		int ncpl = (int)D_DPL(hi);
		struct nstack n = {.cpl = ncpl};
		uint32_t slo = 0, shi = 0;
		uint16_t nss = (uint16_t)ncpl;
		uint64_t old_sp = c->gpr[REG_RSP];

		if (lm) {
			n.sp = tss_stack64(c, (unsigned)ncpl);
			n.lm64 = true;
		} else {
			tss_stack(c, (unsigned)ncpl, &nss, &n.sp);
			check_new_ss(c, nss, (unsigned)ncpl, 0, &slo, &shi);
			seg_from_desc(&n.s, nss, slo, shi);
			n.err = nss & 0xfffc;
		}
		seg_mark_accessed(c, sel, hi);
		nstack_push(c, &n, gsz, c->seg[SEG_SS].sel);
		nstack_push(c, &n, gsz,
			    old_sp & (gsz == 2	 ? 0xffff
				      : gsz == 4 ? 0xffffffff
						 : ~0ull));
		for (unsigned k = pcount; k > 0; k--) {
			uint64_t psp = (c->gpr[REG_RSP] + (k - 1) * gsz) & c->stack_mask;
			nstack_push(c, &n, gsz, stack_read_at(c, psp, gsz));
		}
		nstack_push(c, &n, gsz, c->seg[SEG_CS].sel);
		nstack_push(c, &n, gsz, RIP(c) + i->len);
		/* commit */
		if (lm)
			load_ss_null(c, (uint16_t)ncpl, ncpl);
		else
			load_ss_desc(c, nss, slo, shi);
		set_sp_for(c, n.sp, n.s.db, lm);
		load_cs(c, sel, lo, hi | (TY_A << 8), ncpl);
		RIP(c) = off;
		return;
	}
	seg_mark_accessed(c, sel, hi);
	if (kind == FAR_CALL)
		push_return(c, gsz, RIP(c) + i->len);
	load_cs(c, sel, lo, hi | (TY_A << 8), c->cpl);
	RIP(c) = off;
}

static void far_transfer(struct cpu *c, const struct insn *i, int kind, uint16_t sel, uint64_t off,
			 unsigned osz)
{
	uint32_t lo, hi;

	if (in_real_mode(c) || in_vm86(c)) {
		far_real(c, i, kind, sel, off, osz);
		return;
	}
	far_read_desc(c, sel, &lo, &hi);
	if (desc_is_code(hi))
		far_to_code(c, i, kind, sel, lo, hi, off, osz);
	else if (!D_S(hi))
		far_gate(c, i, kind, sel, lo, hi);
	else
		cpu_raise(c, EXC_GP, sel & 0xfffc);
	seg_update_cache(c);
}

/* direct: imm = offset, aux = selector; memory: m16:osz */
static const struct insn *op_far_direct(struct cpu *c, const struct insn *i)
{
	far_transfer(c, i, (int)i->aux2, i->aux, i->imm, i->osz);
	return NULL;
}

static const struct insn *op_far_mem(struct cpu *c, const struct insn *i)
{
	uint64_t la = insn_la(c, i, i->osz + 2, ACC_R);
	uint64_t off = mem_read(c, la, i->osz);
	uint16_t sel = (uint16_t)mem_read(c, (la + i->osz) & c->la_mask, 2);
	far_transfer(c, i, (int)i->aux2, sel, off, i->osz);
	return NULL;
}

static bool decode_far(struct dctx *d, struct insn *i, int kind)
{
	const ZydisDecodedOperand *o = &d->op[0];

	d->ends_block = true;
	i->aux2 = (uint32_t)kind;
	if (o->type == ZYDIS_OPERAND_TYPE_POINTER) {
		i->imm = o->ptr.offset;
		i->aux = o->ptr.segment;
		i->osz = (uint8_t)(d->zi->operand_width / 8);
		i->fn = op_far_direct;
		return true;
	}
	if (!dop_is_mem(o) || !dmem(d, o, i))
		return false;
	i->osz = (uint8_t)((o->size - 16) / 8);
	if (i->osz != 2 && i->osz != 4 && i->osz != 8)
		return false;
	i->fn = op_far_mem;
	return true;
}

bool decode_far_jmp(struct dctx *d, struct insn *i)
{
	return decode_far(d, i, FAR_JMP);
}

bool decode_far_call(struct dctx *d, struct insn *i)
{
	return decode_far(d, i, FAR_CALL);
}

/* ---- RETF ---- */

/* Checks of the CS popped by RETF/IRET (SDM vol. 2, RET "protected mode") */
static void check_return_cs(struct cpu *c, uint16_t sel, uint32_t *lo, uint32_t *hi)
{
	unsigned rpl = sel & 3;

	far_read_desc(c, sel, lo, hi);
	if (rpl < (unsigned)c->cpl || !desc_is_code(*hi))
		cpu_raise(c, EXC_GP, sel & 0xfffc);
	if (desc_is_conforming(*hi) ? D_DPL(*hi) > rpl : D_DPL(*hi) != rpl)
		cpu_raise(c, EXC_GP, sel & 0xfffc);
	if (!D_P(*hi))
		cpu_raise(c, EXC_NP, sel & 0xfffc);
	check_ld(c, sel, *hi);
}

/* Checks of the SS popped for a return to an outer level; false: null SS allowed. */
static bool check_return_ss(struct cpu *c, uint16_t ss, unsigned rpl, uint32_t cs_hi, uint32_t *lo,
			    uint32_t *hi)
{
	if ((ss & ~3u) == 0) {
		/* 64-bit mode may return to 64-bit code at CPL < 3 with a null SS */
		if (in_long_mode(c) && D_L(cs_hi) && rpl != 3 && (ss & 3) == rpl)
			return false;
		cpu_raise(c, EXC_GP, 0);
	}
	seg_read_desc(c, ss, lo, hi, EXC_GP);
	if ((ss & 3) != rpl || !D_S(*hi) || (D_TYPE(*hi) & TY_CODE) || !(D_TYPE(*hi) & TY_W) ||
	    D_DPL(*hi) != rpl)
		cpu_raise(c, EXC_GP, ss & 0xfffc);
	if (!D_P(*hi))
		cpu_raise(c, EXC_SS, ss & 0xfffc);
	return true;
}

/* imm = bytes to release, osz = operand size */
static const struct insn *op_retf(struct cpu *c, const struct insn *i)
{
	unsigned osz = i->osz;
	uint64_t sp = sp_get(c);
	uint64_t off = stack_read_at(c, sp, osz);
	uint16_t sel = (uint16_t)stack_read_at(c, (sp + osz) & c->stack_mask, osz);
	uint32_t lo, hi, slo = 0, shi = 0;

	if (in_real_mode(c) || in_vm86(c)) {
		off &= osz_mask(osz);
		if (off > c->seg[SEG_CS].limit)
			cpu_raise(c, EXC_GP, 0);
		seg_load_real(c, SEG_CS, sel);
		RIP(c) = off;
		sp_set(c, sp + 2 * osz + i->imm);
		return NULL;
	}
	check_return_cs(c, sel, &lo, &hi);
	unsigned rpl = sel & 3;
	off &= osz_mask(osz);
	if (rpl == (unsigned)c->cpl) {
		check_target(c, off, lo, hi);
		seg_mark_accessed(c, sel, hi);
		load_cs(c, sel, lo, hi | (TY_A << 8), c->cpl);
		RIP(c) = off;
		sp_set(c, sp + 2 * osz + i->imm);
		seg_update_cache(c);
		return NULL;
	}
	/* return to an outer privilege level */
	uint64_t sp2 = (sp + 2 * osz + i->imm) & c->stack_mask;
	uint64_t nsp = stack_read_at(c, sp2, osz);
	uint16_t ss = (uint16_t)stack_read_at(c, (sp2 + osz) & c->stack_mask, osz);
	bool ss_real = check_return_ss(c, ss, rpl, hi, &slo, &shi);
	check_target(c, off, lo, hi);
	seg_mark_accessed(c, sel, hi);
	if (ss_real)
		seg_mark_accessed(c, ss, shi);
	/* commit */
	load_cs(c, sel, lo, hi | (TY_A << 8), (int)rpl);
	if (ss_real)
		load_ss_desc(c, ss, slo, shi);
	else
		load_ss_null(c, ss, (int)rpl);
	set_sp_for(c, (nsp & osz_mask(osz)) + i->imm, ss_real && D_DB(shi), in_64bit_mode(c));
	RIP(c) = off;
	seg_null_inaccessible(c);
	return NULL;
}

bool decode_far_ret(struct dctx *d, struct insn *i)
{
	d->ends_block = true;
	i->osz = (uint8_t)(d->zi->operand_width / 8);
	i->imm = (dvis(d) >= 1 && dop_is_imm(&d->op[0])) ? (d->op[0].imm.value.u & 0xffff) : 0;
	i->fn = op_retf;
	return true;
}

/* ---- IRET ---- */

static uint64_t iret_flags_mask(struct cpu *c, unsigned osz, unsigned old_cpl)
{
	unsigned iopl = (c->rflags & FL_IOPL) >> 12;
	uint64_t m = FL_ARITH | FL_TF | FL_DF | FL_NT;

	if (osz != 2)
		m |= FL_RF | FL_AC | FL_ID;
	if (old_cpl <= iopl)
		m |= FL_IF;
	if (old_cpl == 0) {
		m |= FL_IOPL;
		if (osz != 2)
			m |= FL_VIF | FL_VIP;
	}
	return m;
}

static void set_flags_masked(struct cpu *c, uint64_t v, uint64_t mask)
{
	uint64_t cur = cpu_get_rflags(c);
	cpu_set_rflags_raw(c, (cur & ~mask) | (v & mask));
}

static void iret_real(struct cpu *c, unsigned osz)
{
	uint64_t sp = sp_get(c);
	uint64_t ip = stack_read_at(c, sp, osz);
	uint16_t cs = (uint16_t)stack_read_at(c, (sp + osz) & c->stack_mask, osz);
	uint64_t fl = stack_read_at(c, (sp + 2 * osz) & c->stack_mask, osz);
	uint64_t mask;

	if (in_vm86(c)) {
		/* SDM 20.2.7: IRET in VM86 is IOPL-sensitive (no VME) */
		if (((c->rflags & FL_IOPL) >> 12) < 3)
			cpu_raise(c, EXC_GP, 0);
		mask = osz == 2 ? 0xffffull & ~(uint64_t)FL_IOPL : 0x257fd5ull & ~(uint64_t)FL_IOPL;
	} else {
		mask = osz == 2 ? 0xffffull : 0x257fd5ull;
	}
	ip &= osz_mask(osz);
	if (ip > c->seg[SEG_CS].limit)
		cpu_raise(c, EXC_GP, 0);
	seg_load_real(c, SEG_CS, cs);
	RIP(c) = ip;
	sp_set(c, sp + 3 * osz);
	set_flags_masked(c, fl, mask);
}

/* IRETD at CPL 0 with VM=1 in the popped EFLAGS: return to virtual-8086 mode */
static void iret_to_vm86(struct cpu *c, uint64_t sp, uint64_t eip, uint16_t cs, uint64_t fl)
{
	uint64_t v[6];
	for (int k = 0; k < 6; k++)
		v[k] = stack_read_at(c, (sp + 12 + 4 * k) & c->stack_mask, 4);
	/* v: ESP, SS, ES, DS, FS, GS */
	cpu_set_rflags_raw(c, fl);
	c->cpl = 3;
	seg_load_real(c, SEG_CS, cs);
	seg_load_real(c, SEG_SS, (uint16_t)v[1]);
	seg_load_real(c, SEG_ES, (uint16_t)v[2]);
	seg_load_real(c, SEG_DS, (uint16_t)v[3]);
	seg_load_real(c, SEG_FS, (uint16_t)v[4]);
	seg_load_real(c, SEG_GS, (uint16_t)v[5]);
	c->gpr[REG_RSP] = (uint32_t)v[0];
	RIP(c) = eip & 0xffff;
	seg_update_cache(c);
}

static void iret_prot(struct cpu *c, unsigned osz)
{
	bool lm64 = in_64bit_mode(c);
	uint64_t sp = sp_get(c), m = c->stack_mask;
	uint64_t ip = stack_read_at(c, sp, osz);
	uint16_t sel = (uint16_t)stack_read_at(c, (sp + osz) & m, osz);
	uint64_t fl = stack_read_at(c, (sp + 2 * osz) & m, osz);
	uint32_t lo, hi, slo = 0, shi = 0;
	unsigned old_cpl = (unsigned)c->cpl, rpl = sel & 3;

	if (c->rflags & FL_NT)
		cpu_raise(c, EXC_GP, 0); /* task return: not implemented (long mode: #GP too) */
	if (!in_long_mode(c) && osz == 4 && (fl & FL_VM) && old_cpl == 0) {
		iret_to_vm86(c, sp, ip, sel, fl);
		return;
	}
	check_return_cs(c, sel, &lo, &hi);
	ip &= osz_mask(osz);
	bool pop_ss = lm64 || rpl > old_cpl;
	uint64_t nsp = 0;
	uint16_t ss = 0;
	bool ss_real = true;
	if (pop_ss) {
		nsp = stack_read_at(c, (sp + 3 * osz) & m, osz);
		ss = (uint16_t)stack_read_at(c, (sp + 4 * osz) & m, osz);
		ss_real = check_return_ss(c, ss, rpl, hi, &slo, &shi);
	}
	check_target(c, ip, lo, hi);
	seg_mark_accessed(c, sel, hi);
	if (pop_ss && ss_real)
		seg_mark_accessed(c, ss, shi);

	/* commit: flags by the old CPL, then the new CS:IP and stack */
	uint64_t mask = iret_flags_mask(c, osz, old_cpl);
	if (osz == 2)
		mask &= 0xffff;
	set_flags_masked(c, fl, mask);
	load_cs(c, sel, lo, hi | (TY_A << 8), (int)rpl);
	RIP(c) = ip;
	if (pop_ss) {
		if (ss_real)
			load_ss_desc(c, ss, slo, shi);
		else
			load_ss_null(c, ss, (int)rpl);
		set_sp_for(c, nsp, ss_real && D_DB(shi), in_64bit_mode(c));
	} else {
		sp_set(c, sp + 3 * osz);
	}
	if (rpl > old_cpl)
		seg_null_inaccessible(c);
	seg_update_cache(c);
}

static const struct insn *op_iret(struct cpu *c, const struct insn *i)
{
	if (in_real_mode(c) || in_vm86(c))
		iret_real(c, i->osz);
	else
		iret_prot(c, i->osz);
	c->nmi_masked = false; /* SDM 6.7.1: IRET unblocks NMIs */
	c->rf_skip = true;     /* RF as popped survives this instruction */
	return NULL;
}

static bool decode_iret(struct dctx *d, struct insn *i)
{
	d->ends_block = true;
	i->osz = (uint8_t)(d->zi->operand_width / 8);
	i->fn = op_iret;
	return true;
}

/* ---- SYSCALL / SYSRET (SDM vol. 2; AMD APM vol. 3) ---- */

/*
 * Intel: only in 64-bit mode. AMD (VB_SYSCALL_LEGACY): also in compatibility
 * mode (target CSTAR) and legacy protected mode (target STAR[31:0], ECX =
 * return EIP, VM/IF/RF cleared), as Linux's emulator does (em_syscall).
 */
static const struct insn *op_syscall(struct cpu *c, const struct insn *i)
{
	uint16_t sel = (uint16_t)(c->star >> 32) & 0xfffc;
	bool lm = in_long_mode(c);
	uint64_t fl;

	if (!in_64bit_mode(c) &&
	    (!(c->vflags & VB_SYSCALL_LEGACY) || in_real_mode(c) || in_vm86(c)))
		cpu_raise_noerr(c, EXC_UD);
	if (!(c->efer & EFER_SCE))
		cpu_raise_noerr(c, EXC_UD);
	fl = cpu_get_rflags(c);
	if (lm) {
		c->gpr[REG_RCX] = RIP(c) + i->len;
		c->gpr[REG_R11] = fl;
		cpu_set_rflags_raw(c, fl & ~(c->sfmask | FL_RF));
		RIP(c) = in_64bit_mode(c) ? c->lstar : c->cstar;
	} else {
		c->gpr[REG_RCX] = (uint32_t)(RIP(c) + i->len);
		cpu_set_rflags_raw(c, fl & ~(uint64_t)(FL_VM | FL_IF | FL_RF));
		RIP(c) = (uint32_t)c->star;
	}
	seg_set_flat(&c->seg[SEG_CS], sel, 0xb, 0, lm, !lm);
	seg_set_flat(&c->seg[SEG_SS], (uint16_t)(sel + 8), 3, 0, false, true);
	c->cpl = 0;
	seg_update_cache(c);
	return NULL;
}

/*
 * Intel: 64-bit mode only, and a non-canonical RCX raises #GP(0) at CPL 0.
 * AMD: also from compatibility and legacy mode; RIP is loaded whatever RCX
 * holds, so a non-canonical one faults at CPL 3 on the next fetch (Linux,
 * entry_64.S); only SS's selector is written, its cached descriptor is kept
 * (Linux's X86_BUG_SYSRET_SS_ATTRS, process_64.c).
 */
static const struct insn *op_sysret(struct cpu *c, const struct insn *i)
{
	uint16_t base = (uint16_t)(c->star >> 48);
	bool amd = (c->vflags & VB_SYSCALL_LEGACY) != 0;

	if (!in_64bit_mode(c) && (!amd || in_real_mode(c) || in_vm86(c)))
		cpu_raise_noerr(c, EXC_UD);
	if (!(c->efer & EFER_SCE))
		cpu_raise_noerr(c, EXC_UD);
	require_cpl0(c);
	if (!in_long_mode(c)) {
		/* AMD legacy mode: EIP = ECX, RFLAGS.IF set, the rest kept */
		seg_set_flat(&c->seg[SEG_CS], (uint16_t)(base | 3), 0xb, 3, false, true);
		RIP(c) = (uint32_t)c->gpr[REG_RCX];
		c->rflags |= FL_IF;
	} else if (i->osz == 8) {
		if (!(c->vflags & VB_SYSRET_NC_USER) && !la_canonical(c, c->gpr[REG_RCX]))
			cpu_raise(c, EXC_GP, 0);
		seg_set_flat(&c->seg[SEG_CS], (uint16_t)((base + 16) | 3), 0xb, 3, true, false);
		RIP(c) = c->gpr[REG_RCX];
	} else {
		seg_set_flat(&c->seg[SEG_CS], (uint16_t)(base | 3), 0xb, 3, false, true);
		RIP(c) = (uint32_t)c->gpr[REG_RCX];
	}
	if (in_long_mode(c))
		cpu_set_rflags_raw(c, (c->gpr[REG_R11] & 0x3c7fd7ull) | FL_1);
	if (amd)
		c->seg[SEG_SS].sel = (uint16_t)((base + 8) | 3);
	else /* SS keeps its selector-derived flat attributes (SDM: SS.DPL = 3) */
		seg_set_flat(&c->seg[SEG_SS], (uint16_t)((base + 8) | 3), 3, 3, false, true);
	c->cpl = 3;
	seg_update_cache(c);
	return NULL;
}

/* ---- SYSENTER / SYSEXIT: AMD has them in legacy mode only (#UD in long mode) ---- */

static const struct insn *op_sysenter(struct cpu *c, const struct insn *i)
{
	uint16_t sel = (uint16_t)c->sysenter_cs & 0xfffc;
	bool lm = in_long_mode(c);

	(void)i;
	if (lm && (c->vflags & VB_NO_SYSENTER_LM))
		cpu_raise_noerr(c, EXC_UD);
	if (in_real_mode(c) || sel == 0)
		cpu_raise(c, EXC_GP, 0);
	c->rflags &= ~(uint64_t)(FL_VM | FL_IF | FL_RF);
	seg_set_flat(&c->seg[SEG_CS], sel, 0xb, 0, lm, !lm);
	seg_set_flat(&c->seg[SEG_SS], (uint16_t)(sel + 8), 3, 0, false, true);
	c->cpl = 0;
	if (lm) {
		c->gpr[REG_RSP] = c->sysenter_esp;
		RIP(c) = c->sysenter_eip;
	} else {
		c->gpr[REG_RSP] = (uint32_t)c->sysenter_esp;
		RIP(c) = (uint32_t)c->sysenter_eip;
	}
	seg_update_cache(c);
	return NULL;
}

static const struct insn *op_sysexit(struct cpu *c, const struct insn *i)
{
	uint16_t base = (uint16_t)c->sysenter_cs & 0xfffc;

	if (in_long_mode(c) && (c->vflags & VB_NO_SYSENTER_LM))
		cpu_raise_noerr(c, EXC_UD);
	if (in_real_mode(c) || in_vm86(c) || base == 0)
		cpu_raise(c, EXC_GP, 0);
	require_cpl0(c);
	if (i->osz == 8) {
		if (!la_canonical(c, c->gpr[REG_RCX]) || !la_canonical(c, c->gpr[REG_RDX]))
			cpu_raise(c, EXC_GP, 0);
		seg_set_flat(&c->seg[SEG_CS], (uint16_t)((base + 32) | 3), 0xb, 3, true, false);
		seg_set_flat(&c->seg[SEG_SS], (uint16_t)((base + 40) | 3), 3, 3, false, true);
		c->gpr[REG_RSP] = c->gpr[REG_RCX];
		RIP(c) = c->gpr[REG_RDX];
	} else {
		seg_set_flat(&c->seg[SEG_CS], (uint16_t)((base + 16) | 3), 0xb, 3, false, true);
		seg_set_flat(&c->seg[SEG_SS], (uint16_t)((base + 24) | 3), 3, 3, false, true);
		c->gpr[REG_RSP] = (uint32_t)c->gpr[REG_RCX];
		RIP(c) = (uint32_t)c->gpr[REG_RDX];
	}
	c->cpl = 3;
	seg_update_cache(c);
	return NULL;
}

#define SYSOP(name, fnp)                                                                           \
	static bool decode_##name(struct dctx *d, struct insn *i)                                  \
	{                                                                                          \
		d->ends_block = true;                                                              \
		i->osz = (uint8_t)(d->zi->operand_width / 8);                                      \
		i->fn = fnp;                                                                       \
		return true;                                                                       \
	}
SYSOP(syscall, op_syscall)
SYSOP(sysret, op_sysret)
SYSOP(sysenter, op_sysenter)
SYSOP(sysexit, op_sysexit)

void ops_far_register(void)
{
	decode_register(ZYDIS_MNEMONIC_IRET, decode_iret);
	decode_register(ZYDIS_MNEMONIC_IRETD, decode_iret);
	decode_register(ZYDIS_MNEMONIC_IRETQ, decode_iret);
	decode_register(ZYDIS_MNEMONIC_SYSCALL, decode_syscall);
	decode_register(ZYDIS_MNEMONIC_SYSRET, decode_sysret);
	decode_register(ZYDIS_MNEMONIC_SYSENTER, decode_sysenter);
	decode_register(ZYDIS_MNEMONIC_SYSEXIT, decode_sysexit);
}
