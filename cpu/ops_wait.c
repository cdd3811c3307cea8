/* SPDX-License-Identifier: MIT */
/*
 * User wait instructions (SDM vol. 2, UMONITOR/UMWAIT/TPAUSE; WAITPKG):
 * #UD unless the guest's CPUID enables them. UMONITOR arms an address-range
 * monitor on the cache line; UMWAIT and TPAUSE wait until the TSC deadline in
 * EDX:EAX (or a monitor store, an interrupt, the OS limit). The wait itself
 * is done by the caller of cpu_run() (CPU_EXIT_MWAIT): the instruction is
 * suspended and completes with CF from cpu_complete().
 */
#include "decode.h"
#include "ops.h"
#include "mem.h"

static void need_waitpkg(struct cpu *c)
{
	if (!(c->features & CPU_FEAT_WAITPKG))
		cpu_raise_noerr(c, EXC_UD);
}

static const struct insn *op_umonitor(struct cpu *c, const struct insn *i)
{
	need_waitpkg(c);
	uint64_t ea = reg_get(c, i->r1, i->aux);
	uint64_t la = seg_la(c, i->seg, ea, 1, ACC_R);
	uint64_t gpa;
	bool w, u;
	/* the access is checked like a one-byte read (#PF/#GP as a load) */
	mem_read(c, la, 1);
	if (cpu_translate(c, la, &gpa, &w, &u) == 0)
		mem_monitor_arm(c, gpa);
	NEXT(c, i);
}

static const struct insn *op_wait(struct cpu *c, const struct insn *i)
{
	uint32_t src = (uint32_t)c->gpr[i->r1];
	uint64_t res = 0;

	need_waitpkg(c);
	if (src & ~1u) /* reserved bits of the hint */
		cpu_raise(c, EXC_GP, 0);
	if (!xlog_replay(c, XLOG_WAIT, i->aux2, 8, &res)) {
		uint64_t line = cpu_monitor_line(c);
		bool umwait = i->aux2 == CPU_WAIT_UMWAIT;
		/* UMWAIT with no armed monitor (or one already written) does not wait */
		if (!umwait || (line && !cpu_monitor_triggered(c))) {
			c->exit.wait.deadline = ((c->gpr[REG_RDX] & 0xffffffffull) << 32) |
						(c->gpr[REG_RAX] & 0xffffffffull);
			c->exit.wait.kind = (uint8_t)i->aux2;
			c->exit.wait.hint = src;
			c->exit.wait.line = umwait ? line : 0;
			xlog_suspend(c, XLOG_WAIT, i->aux2, 8, 0, CPU_EXIT_MWAIT);
		}
	}
	if (i->aux2 == CPU_WAIT_UMWAIT)
		atomic_store(&c->mon_line, 0); /* the wait ends the monitor */
	/* CF: the OS time limit (IA32_UMWAIT_CONTROL) expired; OF SF ZF AF PF cleared */
	c->cc_op = CC_EFLAGS;
	c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | (res & 1 ? FL_CF : 0);
	NEXT(c, i);
}

static bool decode_umonitor(struct dctx *d, struct insn *i)
{
	unsigned size;
	/* operand 0 is the address register (its size is the address size) */
	int r = dreg(d->op[0].reg.value, &size);
	if (r < 0)
		return false;
	i->r1 = (uint8_t)r;
	i->aux = (uint16_t)size;
	int s = -1;
	for (unsigned k = 0; k < d->zi->operand_count; k++)
		if (d->op[k].type == ZYDIS_OPERAND_TYPE_MEMORY)
			s = dsreg(d->op[k].mem.segment);
	if (d->zi->attributes & ZYDIS_ATTRIB_HAS_SEGMENT_ES)
		s = SEG_ES;
	if (d->zi->attributes & ZYDIS_ATTRIB_HAS_SEGMENT_CS)
		s = SEG_CS;
	if (d->zi->attributes & ZYDIS_ATTRIB_HAS_SEGMENT_SS)
		s = SEG_SS;
	if (d->zi->attributes & ZYDIS_ATTRIB_HAS_SEGMENT_FS)
		s = SEG_FS;
	if (d->zi->attributes & ZYDIS_ATTRIB_HAS_SEGMENT_GS)
		s = SEG_GS;
	i->seg = s < 0 ? SEG_DS : (uint8_t)s;
	i->fn = op_umonitor;
	return true;
}

static bool decode_wait(struct dctx *d, struct insn *i, unsigned kind)
{
	unsigned size;
	int r = dreg(d->op[0].reg.value, &size);
	if (r < 0)
		return false;
	i->r1 = (uint8_t)r;
	i->aux2 = kind;
	d->ends_block = true;
	i->fn = op_wait;
	return true;
}

static bool decode_umwait(struct dctx *d, struct insn *i)
{
	return decode_wait(d, i, CPU_WAIT_UMWAIT);
}

static bool decode_tpause(struct dctx *d, struct insn *i)
{
	return decode_wait(d, i, CPU_WAIT_TPAUSE);
}

void ops_wait_register(void)
{
	decode_register(ZYDIS_MNEMONIC_UMONITOR, decode_umonitor);
	decode_register(ZYDIS_MNEMONIC_UMWAIT, decode_umwait);
	decode_register(ZYDIS_MNEMONIC_TPAUSE, decode_tpause);
}
