/* SPDX-License-Identifier: MIT */
/*
 * Decoder glue: Zydis decodes, a per-mnemonic decode function picks the
 * handler and fills the compact struct insn. Each ops_*.c file registers the
 * decode functions for the mnemonics it implements (decode_register()), so
 * instruction groups live in their own files.
 */
#ifndef SOFTKVM_CPU_DECODE_H
#define SOFTKVM_CPU_DECODE_H

#include <Zydis/Zydis.h>

#include "internal.h"

struct dctx {
	struct cpu *c;
	const ZydisDecodedInstruction *zi;
	const ZydisDecodedOperand *op; /* zi->operand_count entries */
	uint32_t mode;		       /* ZydisMachineMode */
	bool ends_block;	       /* set by the decode function */
};

/* Return false to make the instruction raise #UD. */
typedef bool (*decode_fn)(struct dctx *d, struct insn *i);

void decode_register(ZydisMnemonic m, decode_fn fn);
/* The decode function registered so far (NULL if none): to chain shared mnemonics. */
decode_fn decode_lookup(ZydisMnemonic m);

/* Register file mapping: gpr index (size 2/4/8) or byte offset (size 1); -1 if not a GPR. */
int dreg(ZydisRegister r, unsigned *size);
/* Segment register -> SEG_*, -1 if none. */
int dsreg(ZydisRegister r);
/* Fill the memory-operand fields of i from op; returns false if unsupported. */
bool dmem(struct dctx *d, const ZydisDecodedOperand *op, struct insn *i);
/* MOV moffs64 (A0-A3): a 64-bit absolute address, left in i->imm; false otherwise */
bool dmem_abs64(struct dctx *d, const ZydisDecodedOperand *op, struct insn *i);
/* Common prefix flags (LOCK/REP) into i->flags; validates LOCK use. */
bool dprefixes(struct dctx *d, struct insn *i);

static inline bool dop_is_reg(const ZydisDecodedOperand *o)
{
	return o->type == ZYDIS_OPERAND_TYPE_REGISTER;
}
static inline bool dop_is_mem(const ZydisDecodedOperand *o)
{
	return o->type == ZYDIS_OPERAND_TYPE_MEMORY;
}
static inline bool dop_is_imm(const ZydisDecodedOperand *o)
{
	return o->type == ZYDIS_OPERAND_TYPE_IMMEDIATE;
}

/* Visible (explicit) operand count */
static inline unsigned dvis(const struct dctx *d)
{
	return d->zi->operand_count_visible;
}

/* The string forms of MOVSD/CMPSD (ops_string.c); SSE2 registers the same
 * mnemonics and must try this first: it refuses all but the one-byte-map forms. */
bool decode_string_movsd_cmpsd(struct dctx *d, struct insn *i);
/* system forms of shared mnemonics (ops_system.c, ops_far.c) */
bool decode_mov_sys(struct dctx *d, struct insn *i);
bool decode_far_jmp(struct dctx *d, struct insn *i);
bool decode_far_call(struct dctx *d, struct insn *i);
bool decode_far_ret(struct dctx *d, struct insn *i);

/* registration entry points of the instruction groups */
void ops_alu_register(void);
void ops_mov_register(void);
void ops_branch_register(void);
void ops_stack_register(void);
void ops_shift_register(void);
void ops_muldiv_register(void);
void ops_bit_register(void);
void ops_string_register(void);
void ops_misc_register(void);
void ops_system_register(void);
void ops_fpu_register(void);
void ops_far_register(void);
void ops_wait_register(void);
void ops_atomic_register(void);
void ops_bcd_register(void);
void ops_pku_register(void);

#endif
