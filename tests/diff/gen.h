/* SPDX-License-Identifier: MIT */
/*
 * The case generator of the differential test (gen*.c): the hand encoder
 * (gen_enc.c), the generator state with its emit/operand helpers (gen.c) and
 * the instruction classes (gen_ops.c: data processing; gen_flow.c: stack,
 * strings, control flow, faults, 32-bit code). See gen.c for what is tracked.
 */
#ifndef SOFTKVM_DIFFTEST_GEN_H
#define SOFTKVM_DIFFTEST_GEN_H

#include <string.h>
#include <Zydis/Zydis.h>

#include "difftest.h"

#define RIP_BASE 16 /* mop.base value meaning RIP-relative */
#define R_SP	 4
#define R_AH	 16 /* 8-bit register numbers 16..19 = AH CH DH BH */

#define ALLSZ (1u | 2u | 4u | 8u)
#define WIDE  (2u | 4u | 8u)

struct rng {
	uint64_t s;
};

static inline uint64_t rnext(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- encoder (gen_enc.c) ---- */

struct mop {
	int base, index; /* -1 none; base RIP_BASE = RIP-relative */
	int scale;	 /* 0..3 */
	int64_t disp;	 /* RIP-relative: the absolute target */
	bool a32;
	uint8_t seg; /* segment prefix byte or 0 */
	int dispsz;  /* 0 auto, 4 force disp32 */
};

struct enc {
	uint8_t pfx[6];
	int npfx;
	bool w, rex40;
	int map; /* 0 one-byte, 1 0F, 2 0F38, 3 0F3A */
	uint8_t op;
	int opreg; /* -1 or the register of a +r opcode */
	bool modrm;
	bool reg_is_reg;
	int reg; /* ModRM.reg: register or /digit */
	bool rm_mem;
	int rm_reg;
	struct mop m;
	bool byte_regs; /* registers are 8-bit (4..7 = SPL..DIL, 16..19 = AH..BH) */
	uint64_t imm;
	int immsz;
	uint64_t imm2;
	int imm2sz;
	bool vex;
	int vex_pp, vex_vvvv, vex_l;
	bool vex3; /* force the 3-byte form */
	bool m32;  /* 32-bit code: no REX, no RIP-relative */
};

void enc_init(struct enc *e);
int encode(const struct enc *e, uint64_t addr, uint8_t *o);

static inline bool fits8(int64_t v)
{
	return v >= -128 && v <= 127;
}

static inline bool fits32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* ---- generator state (gen.c) ---- */

struct eff {
	unsigned def, undef, reads; /* DTF_* masks */
	bool stackop;		    /* may write RSP */
	bool no_memcheck;	    /* memory operand checked by the caller (or not accessed) */
	bool fault_ok;		    /* a fault is expected: skip the safety checks */
};

struct gen {
	struct rng r;
	struct dt_case *tc;
	ZydisDecoder dec;
	bool known[16];
	uint64_t val[16];
	bool df;
	unsigned undef;
	int in_cond; /* inside a block a branch may skip */
	bool stop;   /* a certain fault was emitted */
	uint64_t recent[8];
	unsigned nrecent;
	bool m32; /* compatibility mode (32-bit code) */
};

static inline uint64_t rnd(struct gen *g)
{
	return rnext(&g->r);
}

static inline unsigned rndn(struct gen *g, unsigned n)
{
	return (unsigned)(rnd(g) % n);
}

static inline bool chance(struct gen *g, unsigned pct)
{
	return rndn(g, 100) < pct;
}

static inline uint64_t szmask(unsigned size)
{
	return size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

static inline int full_reg(int r)
{
	return r >= R_AH ? r - R_AH : r;
}

static const struct eff NOFLAGS = {0};
static const uint8_t segpfx[] = {0x65, 0x3e, 0x26, 0x36, 0x2e};

uint64_t rval(struct gen *g);
unsigned pick_size(struct gen *g, unsigned mask);
int pick_reg(struct gen *g, unsigned size, bool writable);
bool code_full(struct gen *g);
bool emit(struct gen *g, const struct enc *e, const struct eff *f);
bool emit_raw(struct gen *g, const uint8_t *buf, int len, const struct eff *f);
bool set_reg(struct gen *g, int r, uint64_t v);
void normalize(struct gen *g);
uint64_t pick_target(struct gen *g, unsigned size);
void pick_mem_at(struct gen *g, struct mop *m, uint64_t ea, bool allow_rip);
void pick_mem(struct gen *g, struct enc *e, unsigned size);
void pick_rm(struct gen *g, struct enc *e, unsigned size, bool writable, unsigned mem_pct);
void opsize(struct gen *g, struct enc *e, unsigned size);
void shuffle_pfx(struct gen *g, struct enc *e);
void add_lock(struct gen *g, struct enc *e, unsigned pct);
void set_imm(struct enc *e, uint64_t v, int sz);
unsigned cond_reads(unsigned cc);
void gen_one(struct gen *g, bool simple);

/* ---- instruction classes (gen_ops.c, gen_flow.c) ---- */

void g_alu(struct gen *g);
void g_test(struct gen *g);
void g_unary(struct gen *g);
void g_shift(struct gen *g);
void g_shd(struct gen *g);
void g_muldiv(struct gen *g);
void g_bt(struct gen *g);
void g_bitscan(struct gen *g);
void g_bmi(struct gen *g);
void g_atomic(struct gen *g);
void g_mov(struct gen *g);
void g_cmov_setcc(struct gen *g);
void g_misc(struct gen *g);
void g_stack(struct gen *g);
void g_string(struct gen *g);
void g_branch(struct gen *g);
void g_indirect(struct gen *g);
void g_fault(struct gen *g);
void g_legacy32(struct gen *g);
/* --focus avx (gen_avx.c) */
void g_avx(struct gen *g);
void avx_prologue(struct gen *g);
void avx_epilogue(struct gen *g);

#endif
