/* SPDX-License-Identifier: MIT */
/*
 * Flag instructions (CLC STC CMC CLD STD CLI STI), HLT, PAUSE, CPUID,
 * RDTSC/RDTSCP/RDPID, software interrupts (INT n, INT3, INTO, INT1), UDn.
 */
#include "decode.h"
#include "ops.h"

static const struct insn *op_clc(struct cpu *c, const struct insn *i)
{
	cc_materialize(c);
	c->rflags &= ~(uint64_t)FL_CF;
	NEXT(c, i);
}

static const struct insn *op_stc(struct cpu *c, const struct insn *i)
{
	cc_materialize(c);
	c->rflags |= FL_CF;
	NEXT(c, i);
}

static const struct insn *op_cmc(struct cpu *c, const struct insn *i)
{
	cc_materialize(c);
	c->rflags ^= FL_CF;
	NEXT(c, i);
}

static const struct insn *op_cld(struct cpu *c, const struct insn *i)
{
	c->rflags &= ~(uint64_t)FL_DF;
	NEXT(c, i);
}

static const struct insn *op_std(struct cpu *c, const struct insn *i)
{
	c->rflags |= FL_DF;
	NEXT(c, i);
}

/* CLI/STI: IOPL-sensitive (SDM vol. 2, CLI; VME/PVI virtual interrupt flag) */
static int if_access(struct cpu *c)
{
	unsigned iopl = (c->rflags & FL_IOPL) >> 12;
	if (!(c->cr0 & CR0_PE))
		return 1;
	if (c->rflags & FL_VM) {
		if (iopl == 3)
			return 1;
		if (c->cr4 & CR4_VME)
			return 2; /* VIF */
		return 0;
	}
	if ((unsigned)c->cpl <= iopl)
		return 1;
	if (c->cpl == 3 && (c->cr4 & CR4_PVI))
		return 2;
	return 0;
}

static const struct insn *op_cli(struct cpu *c, const struct insn *i)
{
	switch (if_access(c)) {
	case 1:
		c->rflags &= ~(uint64_t)FL_IF;
		break;
	case 2:
		c->rflags &= ~(uint64_t)FL_VIF;
		break;
	default:
		cpu_raise(c, EXC_GP, 0);
	}
	NEXT(c, i);
}

static const struct insn *op_sti(struct cpu *c, const struct insn *i)
{
	switch (if_access(c)) {
	case 1:
		if (!(c->rflags & FL_IF)) {
			c->rflags |= FL_IF;
			c->intr_shadow = 1; /* interrupts wait one instruction */
		}
		break;
	case 2:
		if (c->rflags & FL_VIP)
			cpu_raise(c, EXC_GP, 0);
		c->rflags |= FL_VIF;
		break;
	default:
		cpu_raise(c, EXC_GP, 0);
	}
	END_BLOCK(c, i);
}

static const struct insn *op_hlt(struct cpu *c, const struct insn *i)
{
	require_cpl0(c);
	if (unlikely(c->vmx_nonroot))
		vmx_exit_hlt(c, i);
	c->halted = true;
	END_BLOCK(c, i);
}

/* VMCALL / VMMCALL: a hypercall when the caller provides them (a KVM guest) */
static const struct insn *op_vmcall(struct cpu *c, const struct insn *i)
{
	/* in VMX non-root operation VMCALL exits to L1; in VMX root operation
	 * (and outside it) it stays the hypercall to KVM, as Linux's L0 has it */
	if (unlikely(c->vmx_nonroot))
		vmx_exit_insn(c, i, VMX_EXIT_VMCALL);
	if (!c->ops->hypercall)
		cpu_raise_noerr(c, EXC_UD);
	bool m64 = in_64bit_mode(c);
	uint64_t m = m64 ? ~0ull : 0xffffffffull;
	uint64_t a[4] = {c->gpr[REG_RBX] & m, c->gpr[REG_RCX] & m, c->gpr[REG_RDX] & m,
			 c->gpr[REG_RSI] & m};
	uint64_t ret = c->ops->hypercall(c->opaque, c->gpr[REG_RAX] & m, a, c->cpl, m64);
	c->gpr[REG_RAX] = ret & m;
	END_BLOCK(c, i);
}

static const struct insn *op_cpuid(struct cpu *c, const struct insn *i)
{
	uint32_t out[4] = {0, 0, 0, 0};
	if (unlikely(c->vmx_nonroot))
		vmx_exit_insn(c, i, VMX_EXIT_CPUID);
	if (c->ops->cpuid)
		c->ops->cpuid(c->opaque, (uint32_t)c->gpr[REG_RAX], (uint32_t)c->gpr[REG_RCX], out);
	c->gpr[REG_RAX] = out[0];
	c->gpr[REG_RBX] = out[1];
	c->gpr[REG_RCX] = out[2];
	c->gpr[REG_RDX] = out[3];
	/* CPUID is serializing: end the block (it may also change what is advertised) */
	END_BLOCK(c, i);
}

static const struct insn *op_rdtsc(struct cpu *c, const struct insn *i)
{
	if ((c->cr4 & CR4_TSD) && c->cpl != 0)
		cpu_raise(c, EXC_GP, 0);
	uint64_t t = cpu_rdtsc(c);
	c->gpr[REG_RAX] = (uint32_t)t;
	c->gpr[REG_RDX] = t >> 32;
	NEXT(c, i);
}

static const struct insn *op_rdtscp(struct cpu *c, const struct insn *i)
{
	if ((c->cr4 & CR4_TSD) && c->cpl != 0)
		cpu_raise(c, EXC_GP, 0);
	uint64_t t = cpu_rdtsc(c);
	c->gpr[REG_RAX] = (uint32_t)t;
	c->gpr[REG_RDX] = t >> 32;
	c->gpr[REG_RCX] = (uint32_t)c->tsc_aux;
	NEXT(c, i);
}

static const struct insn *op_rdpid(struct cpu *c, const struct insn *i)
{
	reg_set(c, i->r1, in_64bit_mode(c) ? 8 : 4, c->tsc_aux);
	NEXT(c, i);
}

static const struct insn *op_pause(struct cpu *c, const struct insn *i)
{
	NEXT(c, i);
}

/* INT n / INT3 / INTO: software interrupts, delivered with the next RIP */
static const struct insn *op_int(struct cpu *c, const struct insn *i)
{
	cpu_deliver(c, (int)i->imm, DELIVER_SOFT, false, 0, RIP(c) + i->len);
	return NULL;
}

/* INT3 under KVM_GUESTDBG_USE_SW_BP: an exit to the debugger, RIP at the INT3 */
static const struct insn *op_int3(struct cpu *c, const struct insn *i)
{
	if (c->guest_debug & CPU_DEBUG_SW_BP) {
		c->exit.debug.exception = EXC_BP;
		c->exit.debug.pc = (c->segbase[SEG_CS] + RIP(c)) & c->la_mask;
		c->exit.debug.dr6 = 0;
		c->exit.debug.dr7 = c->guest_dr[7];
		cpu_exit_now(c, CPU_EXIT_DEBUG);
	}
	/* INT3 raises #BP as a software exception: the exception bitmap applies */
	if (unlikely(c->vmx_nonroot))
		vmx_exit_exception(c, EXC_BP, false, 0, i);
	return op_int(c, i);
}

static const struct insn *op_into(struct cpu *c, const struct insn *i)
{
	if (cc_of(c)) {
		if (unlikely(c->vmx_nonroot))
			vmx_exit_exception(c, EXC_OF, false, 0, i);
		cpu_deliver(c, EXC_OF, DELIVER_SOFT, false, 0, RIP(c) + i->len);
		return NULL;
	}
	END_BLOCK(c, i);
}

static const struct insn *op_int1(struct cpu *c, const struct insn *i)
{
	/* ICEBP: a #DB trap delivered like a hardware exception (no gate DPL check) */
	cpu_deliver(c, EXC_DB, DELIVER_PRIVSW, false, 0, RIP(c) + i->len);
	return NULL;
}

#define SIMPLE(name, fnp, ends)                                                                    \
	static bool decode_##name(struct dctx *d, struct insn *i)                                  \
	{                                                                                          \
		d->ends_block = ends;                                                              \
		i->fn = fnp;                                                                       \
		return true;                                                                       \
	}
SIMPLE(clc, op_clc, false)
SIMPLE(stc, op_stc, false)
SIMPLE(cmc, op_cmc, false)
SIMPLE(cld, op_cld, false)
SIMPLE(std, op_std, false)
SIMPLE(cli, op_cli, false)
SIMPLE(sti, op_sti, true)
SIMPLE(hlt, op_hlt, true)
SIMPLE(cpuid, op_cpuid, true)
SIMPLE(vmcall, op_vmcall, true)
SIMPLE(rdtsc, op_rdtsc, false)
SIMPLE(rdtscp, op_rdtscp, false)
SIMPLE(pause, op_pause, false)
SIMPLE(into, op_into, true)
SIMPLE(int1, op_int1, true)

static bool decode_int(struct dctx *d, struct insn *i)
{
	d->ends_block = true;
	i->imm = d->op[0].imm.value.u & 0xff;
	i->fn = op_int;
	return true;
}

static bool decode_int3(struct dctx *d, struct insn *i)
{
	d->ends_block = true;
	i->imm = 3;
	i->fn = op_int3;
	return true;
}

static bool decode_rdpid(struct dctx *d, struct insn *i)
{
	unsigned size;
	int r = dreg(d->op[0].reg.value, &size);
	if (r < 0)
		return false;
	i->r1 = (uint8_t)r;
	i->fn = op_rdpid;
	return true;
}

void ops_misc_register(void)
{
	decode_register(ZYDIS_MNEMONIC_CLC, decode_clc);
	decode_register(ZYDIS_MNEMONIC_STC, decode_stc);
	decode_register(ZYDIS_MNEMONIC_CMC, decode_cmc);
	decode_register(ZYDIS_MNEMONIC_CLD, decode_cld);
	decode_register(ZYDIS_MNEMONIC_STD, decode_std);
	decode_register(ZYDIS_MNEMONIC_CLI, decode_cli);
	decode_register(ZYDIS_MNEMONIC_STI, decode_sti);
	decode_register(ZYDIS_MNEMONIC_HLT, decode_hlt);
	decode_register(ZYDIS_MNEMONIC_CPUID, decode_cpuid);
	decode_register(ZYDIS_MNEMONIC_VMCALL, decode_vmcall);
	decode_register(ZYDIS_MNEMONIC_VMMCALL, decode_vmcall);
	decode_register(ZYDIS_MNEMONIC_RDTSC, decode_rdtsc);
	decode_register(ZYDIS_MNEMONIC_RDTSCP, decode_rdtscp);
	decode_register(ZYDIS_MNEMONIC_RDPID, decode_rdpid);
	decode_register(ZYDIS_MNEMONIC_PAUSE, decode_pause);
	decode_register(ZYDIS_MNEMONIC_INT, decode_int);
	decode_register(ZYDIS_MNEMONIC_INT3, decode_int3);
	decode_register(ZYDIS_MNEMONIC_INTO, decode_into);
	decode_register(ZYDIS_MNEMONIC_INT1, decode_int1);
}
