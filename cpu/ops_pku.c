/* SPDX-License-Identifier: MIT */
/*
 * Protection keys for user-mode pages (SDM vol. 2, RDPKRU/WRPKRU; vol. 3A,
 * 4.6.2): the instructions, at any CPL, #UD unless CR4.PKE = 1 (which the
 * guest can set only where its CPUID has PKU). The checks are in the page
 * walker (paging.c) and are folded into the TLB (mem.c, cpu_load_pkru()).
 */
#include "decode.h"
#include "ops.h"

static const struct insn *op_rdpkru(struct cpu *c, const struct insn *i)
{
	if (!(c->cr4 & CR4_PKE))
		cpu_raise_noerr(c, EXC_UD);
	if ((uint32_t)c->gpr[REG_RCX] != 0)
		cpu_raise(c, EXC_GP, 0);
	c->gpr[REG_RAX] = c->pkru;
	c->gpr[REG_RDX] = 0;
	NEXT(c, i);
}

static const struct insn *op_wrpkru(struct cpu *c, const struct insn *i)
{
	if (!(c->cr4 & CR4_PKE))
		cpu_raise_noerr(c, EXC_UD);
	if ((uint32_t)c->gpr[REG_RCX] != 0 || (uint32_t)c->gpr[REG_RDX] != 0)
		cpu_raise(c, EXC_GP, 0);
	cpu_load_pkru(c, (uint32_t)c->gpr[REG_RAX]);
	NEXT(c, i);
}

static bool decode_rdpkru(struct dctx *d, struct insn *i)
{
	(void)d;
	i->fn = op_rdpkru;
	return true;
}

static bool decode_wrpkru(struct dctx *d, struct insn *i)
{
	(void)d;
	i->fn = op_wrpkru;
	return true;
}

void ops_pku_register(void)
{
	decode_register(ZYDIS_MNEMONIC_RDPKRU, decode_rdpkru);
	decode_register(ZYDIS_MNEMONIC_WRPKRU, decode_wrpkru);
}

uint32_t cpu_get_pkru(const struct cpu *c)
{
	return c->pkru;
}

void cpu_set_pkru(struct cpu *c, uint32_t v)
{
	cpu_load_pkru(c, v);
}
