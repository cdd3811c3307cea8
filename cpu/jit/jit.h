/* SPDX-License-Identifier: MIT */
/*
 * The JIT: decoded blocks (struct block, cpu.c) translated into host x86-64
 * code. cpu/jit/README.md describes the design; this is the interface the
 * rest of cpu/ uses.
 *
 * The interpreter stays the reference: every instruction the translator has
 * no inline code for, and every inline fast path that does not apply (a TLB
 * miss, a segment that needs checks), runs the instruction's interpreter
 * handler, so the two engines share one definition of each instruction.
 */
#ifndef SOFTKVM_CPU_JIT_H
#define SOFTKVM_CPU_JIT_H

#include "../internal.h"

/* What an interpreter handler does, for the translator. The ops_*.c files
 * describe the handlers the translator can emit inline code for. */
enum jit_kind {
	JK_NONE = 0,
	JK_MOV_RR,  /* r1 = r2 (size) */
	JK_MOV_RI,  /* r1 = imm */
	JK_MOV_RM,  /* r1 = [mem] */
	JK_MOV_MR,  /* [mem] = r2 */
	JK_MOV_MI,  /* [mem] = imm */
	JK_ALU_RR,  /* op = A_* of ops_alu.c: r1 op= r2 */
	JK_ALU_RI,  /* r1 op= imm */
	JK_ALU_RM,  /* r1 op= [mem] */
	JK_ALU_MR,  /* [mem] op= r2 */
	JK_ALU_MI,  /* [mem] op= imm */
	JK_ZERO,    /* xor/sub r, r */
	JK_UNARY_R, /* op = U_* (INC DEC NEG NOT) on r1 */
	JK_LEA,
	JK_MOVZX_R, /* r1 (osz) = zero-extended r2 (aux bytes) */
	JK_MOVZX_M,
	JK_MOVSX_R,
	JK_MOVSX_M,
	JK_PUSH_R, /* 64-bit push r1 */
	JK_POP_R,  /* 64-bit pop r1 */
	JK_PUSH_I, /* push imm (osz) */
	JK_JMP_REL,
	JK_CALL_REL,
	JK_RET, /* imm = bytes to release */
	JK_JMP_R,
	JK_CALL_R,
	JK_JMP_M,
	JK_CALL_M,
	JK_SHIFT_RI, /* op = S_* of ops_shift.c, r1, count imm */
	JK_SETCC_R,  /* aux = condition, r1 byte register */
	JK_CMOV_R,   /* aux = condition, r1 = r2 if the condition holds */
	JK_NOP,
	JK_IMUL_RR,	 /* r1 = r1 * r2 (size 2, 4, 8) */
	JK_IMUL_RRI,	 /* r1 = r2 * imm */
	JK_SSE_OP,	 /* op = the 66 0F opcode byte: xmm r1 = r1 op (xmm r2 or m128, aligned) */
	JK_MOV128_LOAD,	 /* xmm r1 = xmm r2 or m128 (aux2 bit 0: aligned) */
	JK_MOV128_STORE, /* m128 = xmm r1 (aux2 bit 0: aligned) */
	JK_PMOVMSKB,	 /* GPR r1 (size aux & 15) = the byte mask of xmm r2 */
	JK_SIMD,	 /* the generic SIMD handler (imm: its host stub) */
	JK_UNARY_M,	 /* op = U_*: INC DEC NEG NOT on memory (not locked) */
	JK_SHIFT_MI,	 /* op = S_*: memory operand, count imm */
	JK_SHIFT_RC,	 /* op = S_*: register operand, count CL */
	JK_BSWAP,	 /* r1 (osz 4 or 8) */
	JK_CMPXCHG_M,	 /* [mem] (osz) CMPXCHG r2; op 1: LOCK */
	JK_BSF,		 /* op 0 BSF, 1 BSR, 2 TZCNT: r1 (osz) from r2 or memory (INSN_MEM) */
	JK_BT,		 /* BT (not BTS/BTR/BTC): op 0 r1, imm; 1 r1, r2; 2 [mem], imm */
	JK_SETCC_M,	 /* aux = condition: [mem] (byte) */
	JK_XCHG_M,	 /* r1 (osz) <-> [mem] (atomic) */
	JK_MULDIV,	 /* op 0 MUL, 2 DIV (ops_muldiv.c's M_*), size: r1 or memory (INSN_MEM) */
	JK_IMUL_RM,	 /* r1 = r1 * [mem] (size 2, 4, 8) */
	JK_AVX,		 /* op_avx: a VEX instruction (fpu_host_vex_enc() has its encoding) */
	JK_VZERO,	 /* VZEROUPPER (aux 0) / VZEROALL (aux 1) */
	JK_KINDS
};

/* ALU operations, as ops_alu.c numbers them (x86's /digit for the first 8) */
enum { JA_ADD, JA_OR, JA_ADC, JA_SBB, JA_AND, JA_SUB, JA_XOR, JA_CMP, JA_TEST };
/* unary operations of ops_alu.c */
enum { JU_INC, JU_DEC, JU_NEG, JU_NOT };
/* shifts of ops_shift.c */
enum { JS_ROL, JS_ROR, JS_RCL, JS_RCR, JS_SHL, JS_SHR, JS_SAL, JS_SAR };
/* JK_MULDIV's op */
enum { JM_MUL = 0, JM_DIV = 2 };

struct jit_desc {
	uint8_t kind, op, size;
};

/* Called by the ops_*.c register functions (once, at decode table set-up). */
void jit_describe(insn_fn fn, unsigned kind, unsigned op, unsigned size);
const struct jit_desc *jit_desc_of(insn_fn fn);

/* The engine the process uses: SOFTKVM_ENGINE=interp|jit (default jit). */
bool jit_engine_selected(void);

struct jit;
/* Per-vCPU code buffer; NULL if the host refuses executable memory (the
 * vCPU then interprets). */
struct jit *jit_create(void);
void jit_destroy(struct jit *j);
void jit_print_stats(const struct cpu *c);
/* Forget every translation (with cpu_flush_code). */
void jit_flush(struct jit *j);

enum jit_result {
	JIT_RAN,     /* translated code ran; RIP(c) is up to date */
	JIT_CANNOT,  /* b cannot be translated: interpret it */
	JIT_FLUSHED, /* the code buffer was full and the code cache flushed: b is gone */
};
/* Run translated code from block b (translating it first if needed) until
 * it leaves translated code. */
enum jit_result jit_run(struct cpu *c, struct block *b, uint64_t la);
/* The block that runs next is b: chain the direct branch the last
 * jit_run() left through to it, when the chaining rules allow. */
void jit_chain(struct cpu *c, struct block *b);

/* The JIT may run at the current CS: a flat code segment (no limit to check). */
static inline bool jit_may_run(const struct cpu *c)
{
	return !(c->segchk & (1u << SEG_CS)) || c->seg[SEG_CS].limit == 0xffffffffu;
}

/* The block's translation, if any, was validated for the current epoch. */
void jit_block_revalidated(struct cpu *c, struct block *b);

#endif
