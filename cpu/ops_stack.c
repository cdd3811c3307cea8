/* SPDX-License-Identifier: MIT */
/* Stack: PUSH, POP, PUSHF/POPF, PUSHA/POPA, ENTER, LEAVE. */
#include "decode.h"
#include "ops.h"
#include "jit/jit.h"

static const struct insn *op_push_r(struct cpu *c, const struct insn *i)
{
	push(c, i->osz, reg_get(c, i->r1, i->osz));
	NEXT(c, i);
}

static const struct insn *op_push_r8(struct cpu *c, const struct insn *i)
{
	uint64_t sp = c->gpr[REG_RSP] - 8;
	if (likely(c->stack_mask == ~0ull)) {
		stack_write_at(c, sp, 8, c->gpr[i->r1]);
		c->gpr[REG_RSP] = sp;
		NEXT(c, i);
	}
	push(c, 8, c->gpr[i->r1]);
	NEXT(c, i);
}

static const struct insn *op_pop_r8(struct cpu *c, const struct insn *i)
{
	if (likely(c->stack_mask == ~0ull)) {
		uint64_t sp = c->gpr[REG_RSP];
		uint64_t v = stack_read_at(c, sp, 8);
		c->gpr[REG_RSP] = sp + 8;
		c->gpr[i->r1] = v;
		NEXT(c, i);
	}
	uint64_t v = pop(c, 8);
	c->gpr[i->r1] = v;
	NEXT(c, i);
}

static const struct insn *op_push_i(struct cpu *c, const struct insn *i)
{
	push(c, i->osz, i->imm);
	NEXT(c, i);
}

static const struct insn *op_push_m(struct cpu *c, const struct insn *i)
{
	uint64_t v = load_op(c, i, i->osz);
	push(c, i->osz, v);
	NEXT(c, i);
}

static const struct insn *op_pop_r(struct cpu *c, const struct insn *i)
{
	uint64_t v = pop(c, i->osz);
	reg_set(c, i->r1, i->osz, v); /* pop rsp: the popped value wins */
	NEXT(c, i);
}

static const struct insn *op_pop_m(struct cpu *c, const struct insn *i)
{
	uint64_t sp = sp_get(c), old = c->gpr[REG_RSP], newsp, ea;
	uint64_t v = stack_read_at(c, sp, i->osz);

	/* the destination address is computed with RSP already incremented (SDM POP);
	 * a fault on the write leaves RSP as it was */
	sp_set(c, sp + i->osz);
	newsp = c->gpr[REG_RSP];
	ea = insn_ea(c, i);
	c->gpr[REG_RSP] = old;
	mem_write(c, seg_la(c, i->seg, ea, i->osz, ACC_W), i->osz, v);
	c->gpr[REG_RSP] = newsp;
	NEXT(c, i);
}

/* PUSH/POP segment register: aux = SEG_* */
static const struct insn *op_push_sreg(struct cpu *c, const struct insn *i)
{
	uint64_t sp = (c->gpr[REG_RSP] - i->osz) & c->stack_mask;
	/* recent Intel CPUs write only 16 bits for a 32/64-bit push */
	stack_write_at(c, sp, 2, c->seg[i->aux].sel);
	sp_set(c, sp);
	NEXT(c, i);
}

static const struct insn *op_pop_sreg(struct cpu *c, const struct insn *i)
{
	uint64_t sp = sp_get(c);
	uint16_t sel = (uint16_t)stack_read_at(c, sp, 2);
	seg_load(c, i->aux, sel);
	sp_set(c, sp + i->osz);
	if (i->aux == SEG_SS)
		c->intr_shadow = 2;
	END_BLOCK(c, i);
}

static bool decode_push(struct dctx *d, struct insn *i)
{
	const ZydisDecodedOperand *o = &d->op[0];
	unsigned size;

	i->osz = (uint8_t)(d->zi->operand_width / 8);
	if (dop_is_reg(o)) {
		int s = dsreg(o->reg.value);
		if (s >= 0) {
			i->aux = (uint16_t)s;
			i->fn = op_push_sreg;
			return true;
		}
		int r = dreg(o->reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
		i->fn = size == 8 ? op_push_r8 : op_push_r;
	} else if (dop_is_imm(o)) {
		i->imm = o->imm.value.u & size_mask(i->osz);
		i->fn = op_push_i;
	} else {
		if (!dmem(d, o, i))
			return false;
		i->fn = op_push_m;
	}
	return true;
}

static bool decode_pop(struct dctx *d, struct insn *i)
{
	const ZydisDecodedOperand *o = &d->op[0];
	unsigned size;

	i->osz = (uint8_t)(d->zi->operand_width / 8);
	if (dop_is_reg(o)) {
		int s = dsreg(o->reg.value);
		if (s >= 0) {
			if (s == SEG_CS)
				return false;
			i->aux = (uint16_t)s;
			i->fn = op_pop_sreg;
			d->ends_block = true;
			return true;
		}
		int r = dreg(o->reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
		i->fn = size == 8 ? op_pop_r8 : op_pop_r;
	} else {
		if (!dmem(d, o, i))
			return false;
		i->fn = op_pop_m;
	}
	return true;
}

/* ---- PUSHF / POPF ---- */

/* VM86 with IOPL < 3: only the 16-bit forms under CR4.VME, on VIF (SDM vol. 3A, 20.3.3) */
static bool vme_flags(struct cpu *c, const struct insn *i, uint64_t f)
{
	if (!(f & FL_VM) || ((f & FL_IOPL) >> 12) == 3)
		return false;
	if (!(c->cr4 & CR4_VME) || i->osz != 2)
		cpu_raise(c, EXC_GP, 0);
	return true;
}

static const struct insn *op_pushf(struct cpu *c, const struct insn *i)
{
	uint64_t f = cpu_get_rflags(c);
	if (vme_flags(c, i, f)) {
		/* VIF in the IF position, IOPL read as 3 */
		f = (f & ~(uint64_t)FL_IF) | ((f & FL_VIF) ? FL_IF : 0) | FL_IOPL;
		push(c, 2, f);
		NEXT(c, i);
	}
	push(c, i->osz, f & ~(uint64_t)(FL_VM | FL_RF));
	NEXT(c, i);
}

static const struct insn *op_popf(struct cpu *c, const struct insn *i)
{
	uint64_t cur = cpu_get_rflags(c), mask, v;
	unsigned iopl = (cur & FL_IOPL) >> 12;

	if (vme_flags(c, i, cur)) {
		uint64_t sp = sp_get(c);
		v = stack_read_at(c, sp, 2);
		if (((v & FL_IF) && (cur & FL_VIP)) || (v & FL_TF))
			cpu_raise(c, EXC_GP, 0);
		sp_set(c, sp + 2);
		/* IF and IOPL stay; the popped IF goes to VIF */
		mask = (FL_ARITH | FL_DF | FL_NT) & 0xffff;
		v = (cur & ~mask & ~(uint64_t)(FL_VIF | FL_RF)) | (v & mask) |
		    ((v & FL_IF) ? FL_VIF : 0);
		cpu_set_rflags_raw(c, v);
		END_BLOCK(c, i);
	}
	v = pop(c, i->osz);
	mask = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID;
	if (c->cpl == 0 && !(cur & FL_VM))
		mask |= FL_IOPL | FL_IF;
	else if ((unsigned)c->cpl <= iopl)
		mask |= FL_IF;
	if (i->osz == 2)
		mask &= 0xffff;
	cpu_set_rflags_raw(c, (cur & ~mask & ~(uint64_t)FL_RF) | (v & mask));
	seg_update_cache(c);
	END_BLOCK(c, i);
}

static bool decode_pushf(struct dctx *d, struct insn *i)
{
	i->osz = (uint8_t)(d->zi->operand_width / 8);
	i->fn = op_pushf;
	return true;
}

static bool decode_popf(struct dctx *d, struct insn *i)
{
	i->osz = (uint8_t)(d->zi->operand_width / 8);
	i->fn = op_popf;
	d->ends_block = true;
	return true;
}

/* ---- PUSHA / POPA ---- */

static const struct insn *op_pusha(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t sp = sp_get(c), tmp = c->gpr[REG_RSP];
	for (int r = REG_RAX; r <= REG_RDI; r++) {
		sp = (sp - sz) & c->stack_mask;
		stack_write_at(c, sp, sz, r == REG_RSP ? tmp : c->gpr[r]);
	}
	sp_set(c, sp);
	NEXT(c, i);
}

static const struct insn *op_popa(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz;
	uint64_t sp = sp_get(c), v[8];
	for (int r = REG_RDI; r >= REG_RAX; r--) {
		v[r] = stack_read_at(c, sp, sz);
		sp = (sp + sz) & c->stack_mask;
	}
	for (int r = REG_RAX; r <= REG_RDI; r++)
		if (r != REG_RSP)
			reg_set(c, (unsigned)r, sz, v[r]);
	sp_set(c, sp);
	NEXT(c, i);
}

static bool decode_pusha(struct dctx *d, struct insn *i)
{
	i->osz = (uint8_t)(d->zi->operand_width / 8);
	i->fn = op_pusha;
	return true;
}

static bool decode_popa(struct dctx *d, struct insn *i)
{
	i->osz = (uint8_t)(d->zi->operand_width / 8);
	i->fn = op_popa;
	return true;
}

/* ---- ENTER / LEAVE ---- */

static const struct insn *op_enter(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz, level = i->aux2 & 31;
	uint64_t alloc = i->imm & 0xffff;
	uint64_t sp = sp_get(c);
	uint64_t bp_mask = c->stack_mask;
	uint64_t frame, bp = c->gpr[REG_RBP];

	sp = (sp - sz) & c->stack_mask;
	stack_write_at(c, sp, sz, bp);
	frame = sp;
	if (level > 0) {
		uint64_t b = bp & bp_mask;
		for (unsigned k = 1; k < level; k++) {
			b = (b - sz) & bp_mask;
			uint64_t v = stack_read_at(c, b, sz);
			sp = (sp - sz) & c->stack_mask;
			stack_write_at(c, sp, sz, v);
		}
		sp = (sp - sz) & c->stack_mask;
		stack_write_at(c, sp, sz, frame);
	}
	sp = (sp - alloc) & c->stack_mask;
	/* the final stack pointer must be writable (SDM: #SS/#PF if not) */
	stack_la(c, sp, 1, ACC_W);
	if (alloc)
		mem_probe_write(c, stack_la(c, sp, 1, ACC_W), 1);
	reg_set(c, REG_RBP, c->stack_mask == 0xffff ? 2 : sz, frame);
	sp_set(c, sp);
	NEXT(c, i);
}

static const struct insn *op_leave(struct cpu *c, const struct insn *i)
{
	uint64_t sp = c->gpr[REG_RBP] & c->stack_mask;
	uint64_t v = stack_read_at(c, sp, i->osz);
	sp_set(c, sp + i->osz);
	reg_set(c, REG_RBP, i->osz, v);
	NEXT(c, i);
}

static bool decode_enter(struct dctx *d, struct insn *i)
{
	i->osz = (uint8_t)(d->zi->operand_width / 8);
	i->imm = d->op[0].imm.value.u;
	i->aux2 = (uint32_t)d->op[1].imm.value.u;
	i->fn = op_enter;
	return true;
}

static bool decode_leave(struct dctx *d, struct insn *i)
{
	i->osz = (uint8_t)(d->zi->operand_width / 8);
	i->fn = op_leave;
	return true;
}

void ops_stack_register(void)
{
	decode_register(ZYDIS_MNEMONIC_PUSH, decode_push);
	decode_register(ZYDIS_MNEMONIC_POP, decode_pop);
	decode_register(ZYDIS_MNEMONIC_PUSHF, decode_pushf);
	decode_register(ZYDIS_MNEMONIC_PUSHFD, decode_pushf);
	decode_register(ZYDIS_MNEMONIC_PUSHFQ, decode_pushf);
	decode_register(ZYDIS_MNEMONIC_POPF, decode_popf);
	decode_register(ZYDIS_MNEMONIC_POPFD, decode_popf);
	decode_register(ZYDIS_MNEMONIC_POPFQ, decode_popf);
	decode_register(ZYDIS_MNEMONIC_PUSHA, decode_pusha);
	decode_register(ZYDIS_MNEMONIC_PUSHAD, decode_pusha);
	decode_register(ZYDIS_MNEMONIC_POPA, decode_popa);
	decode_register(ZYDIS_MNEMONIC_POPAD, decode_popa);
	decode_register(ZYDIS_MNEMONIC_ENTER, decode_enter);
	decode_register(ZYDIS_MNEMONIC_LEAVE, decode_leave);
	/* what the JIT can emit inline (cpu/jit/) */
	jit_describe(op_push_r8, JK_PUSH_R, 0, 8);
	jit_describe(op_pop_r8, JK_POP_R, 0, 8);
	jit_describe(op_push_i, JK_PUSH_I, 0, 0);
}
