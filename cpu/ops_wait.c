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
#include "sys.h"

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

/*
 * MONITOR/MWAIT (SDM vol. 2). #UD at CPL > 0 (virtual-8086 mode included):
 * that fault comes before a VM exit. Under KVM (Linux 6.1) they exit by
 * default and KVM skips them as NOPs, unless KVM_X86_QUIRK_MWAIT_NEVER_UD_FAULTS
 * is disabled and the guest's CPUID lacks MONITOR (#UD): the operand checks
 * never happen. With CPU_FEAT_MWAIT (KVM_X86_DISABLE_EXITS_MWAIT) they run:
 * MONITOR checks ECX (#GP(0) unless 0) and its address as a one-byte read of
 * DS:rAX (segment override allowed) and arms the monitor on the line; MWAIT
 * checks ECX (bits 31:1 reserved; bit 0, interrupts as break events even with
 * IF = 0, is supported) and, with an armed monitor not yet written, waits
 * (CPU_EXIT_MWAIT, CPU_WAIT_MWAIT, no deadline) until a store to the line, an
 * NMI or INIT, or an interrupt that IF or ECX[0] lets through. It leaves the
 * monitor disarmed and the flags unchanged.
 */
static bool mwait_runs(struct cpu *c)
{
	if (c->cpl != 0)
		cpu_raise_noerr(c, EXC_UD);
	if (c->features & CPU_FEAT_MWAIT)
		return true;
	if (c->features & CPU_FEAT_MWAIT_UD)
		cpu_raise_noerr(c, EXC_UD);
	return false; /* a VM exit that KVM completes as a NOP */
}

static const struct insn *op_monitor(struct cpu *c, const struct insn *i)
{
	struct walk_result w;

	if (!mwait_runs(c))
		NEXT(c, i);
	if ((uint32_t)c->gpr[REG_RCX] != 0)
		cpu_raise(c, EXC_GP, 0);
	uint64_t la = seg_la(c, i->seg, reg_get(c, REG_RAX, i->aux), 1, ACC_R);
	uint64_t gpa = la;
	if (in_long_mode(c) && !la_canonical(c, la))
		cpu_raise(c, i->seg == SEG_SS ? EXC_SS : EXC_GP, 0);
	if (c->cr0 & CR0_PG) {
		/* checked as a read, without reading (the line may be MMIO) */
		int err = paging_walk(c, la, ACC_R, c->cpl, 0, &w);
		if (err) {
			c->cr2 = la;
			cpu_raise(c, EXC_PF, (uint32_t)err & 0xffff);
		}
		gpa = w.gpa;
	} else if (!in_long_mode(c)) {
		gpa = la & 0xffffffffull;
	}
	if (!mem_monitor_arm(c, gpa))
		atomic_store(&c->mon_line, 0); /* not RAM: MWAIT will not wait */
	NEXT(c, i);
}

static const struct insn *op_mwait(struct cpu *c, const struct insn *i)
{
	uint32_t hint = (uint32_t)c->gpr[REG_RCX];
	uint64_t res = 0;

	if (!mwait_runs(c))
		NEXT(c, i);
	if (hint & ~1u)
		cpu_raise(c, EXC_GP, 0);
	if (!xlog_replay(c, XLOG_WAIT, CPU_WAIT_MWAIT, 8, &res)) {
		uint64_t line = cpu_monitor_line(c);
		if (line && !cpu_monitor_triggered(c)) {
			c->exit.wait.deadline = UINT64_MAX;
			c->exit.wait.kind = CPU_WAIT_MWAIT;
			c->exit.wait.hint = hint;
			c->exit.wait.line = line;
			xlog_suspend(c, XLOG_WAIT, CPU_WAIT_MWAIT, 8, 0, CPU_EXIT_MWAIT);
		}
	}
	atomic_store(&c->mon_line, 0);
	NEXT(c, i);
}

static bool decode_monitor(struct dctx *d, struct insn *i)
{
	int s = -1;
	for (unsigned k = 0; k < d->zi->operand_count; k++)
		if (d->op[k].type == ZYDIS_OPERAND_TYPE_MEMORY)
			s = dsreg(d->op[k].mem.segment);
	i->seg = s < 0 ? SEG_DS : (uint8_t)s;
	i->aux = (uint16_t)(d->zi->address_width / 8);
	i->fn = op_monitor;
	return true;
}

static bool decode_mwait(struct dctx *d, struct insn *i)
{
	d->ends_block = true;
	i->fn = op_mwait;
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
	decode_register(ZYDIS_MNEMONIC_MONITOR, decode_monitor);
	decode_register(ZYDIS_MNEMONIC_MWAIT, decode_mwait);
}
