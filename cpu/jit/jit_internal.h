/* SPDX-License-Identifier: MIT */
/* Shared by jit.c (buffer, driver) and emit.c (instruction emitters). */
#ifndef SOFTKVM_CPU_JIT_INTERNAL_H
#define SOFTKVM_CPU_JIT_INTERNAL_H

#include <stddef.h>

#include "jit.h"
#include "x86.h"

/* before each block's code: read by its prologue (RIP-relative) */
struct jit_hdr {
	const _Atomic uint32_t *gen_ptr;
	uint32_t gen;
	uint32_t epoch;
	struct block *b;
};

/* a direct branch that may be chained: where its jmp's rel32 is */
struct jit_exit {
	uint32_t rel_off;    /* buffer offset of the rel32 */
	uint32_t hdr_off;    /* buffer offset of the source block's header */
	uint32_t target_off; /* page offset of the target */
	uint32_t pad;
};

/* ---- emission context ---- */

enum { SEC_HOT, SEC_COLD, SEC_DATA, NSEC };
#define SEC_BYTES 32768u

enum {
	FIX_SEC,    /* target: section tsec, offset toff */
	FIX_INSN,   /* target: hot start of instruction toff (toff = ninsns: the block end) */
	FIX_RESUME, /* target: where execution resumes before instruction toff after an
		       interpreter call (its hot start, or a cold flag-reload entry) */
	FIX_HDR,    /* target: byte toff of the block header */
	FIX_ABS,    /* target: abs */
};

struct jfix {
	uint8_t sec, kind, tsec;
	uint32_t at, toff;
	const void *abs;
};

#define MAX_FIX		 2048
#define JIT_NCACHE	 6
#define JIT_NCACHE_SAVED 3 /* slots 0-2 survive C calls (callee-saved host registers) */
#define MAX_EXITS	 8

struct jctx {
	struct cpu *c;
	struct block *b;
	struct jit *j;
	struct xbuf s[NSEC];
	uint8_t mem[NSEC][SEC_BYTES];
	struct jfix fix[MAX_FIX];
	unsigned nfix;
	bool fix_overflow;
	struct {
		uint32_t hot_rel, data_off, target_off;
	} exits[MAX_EXITS];
	unsigned nexits;
	unsigned ninsns;
	uint32_t insn_start[BLOCK_MAX_INSNS + 1];
	uint32_t resume[BLOCK_MAX_INSNS + 1];
	/* per instruction: its byte offset in the block, flags live after it */
	uint32_t goff[BLOCK_MAX_INSNS + 1];
	bool flags_live_after[BLOCK_MAX_INSNS];
	/* ... and only an interpreter run (a fault) before the next writer of
	 * all of them can see them (ROL/ROR defer their CF/OF to those runs) */
	bool flags_fault_only[BLOCK_MAX_INSNS];
	/* a ROL/ROR's CF and OF are not in struct cpu yet: rot_op (JS_ROL or
	 * JS_ROR) and rot_size (0: none), its result in cpu.jit_rot_res */
	unsigned rot_op, rot_size;
	bool mode64;
	unsigned k;    /* instruction being emitted */
	uint32_t noev; /* hot offset past the events check */
	/* host EFLAGS hold the guest's arithmetic flags of instruction k - 1 */
	int hf_kind;	    /* CC_* kind of struct cpu, or -1 */
	int hf_next;	    /* what the instruction being emitted leaves there */
	bool hf_nofb;	    /* and instruction k - 1 has no interpreter fallback */
	bool hf_keep;	    /* the emitter left the host's flags alone (set per instruction) */
	bool rc_off;	    /* ldg() must not start caching a register (code that a
			       runtime branch may skip) */
	uint32_t *cur_stub; /* the fallback stub of the instruction being emitted */
	bool emit_bad;	    /* its emission cannot be kept: the handler runs it */
	int ccop;	    /* static cc_op before instruction k (+1), 0 unknown */
	/* the register cache (emit.c): guest GPR held by each cache register
	 * (-1: none), at the start of instruction k and now */
	int8_t cache_g[JIT_NCACHE], cache_start[JIT_NCACHE];
	/* the cache register holds a value struct cpu does not have yet */
	bool cache_dirty[JIT_NCACHE], dirty_start[JIT_NCACHE];
	uint32_t cache_age[JIT_NCACHE], cache_tick;
	int ccop_next;	       /* what an emitter leaves there; -1: as decode says */
	bool ccop_interp_same; /* ... and its interpreter fallback leaves the same */
};

/* why translated code left for the dispatcher (c->jit_why, statistics) */
enum {
	JW_PATCH,
	JW_EVENTS,
	JW_EPOCH,
	JW_GEN,
	JW_BUDGET,
	JW_LOOKUP,
	JW_HANDLER,
	JW_STOP,
	JW_END,
	JW_N
};

/* jump cache of 64-bit code: linear RIP -> translation, valid while the
 * fetch TLB maps la to gpa (the target's prologue checks the rest) */
#define JJC_BITS      12
#define JJC_SIZE      (1u << JJC_BITS)
#define JJC_INDEX(la) ((unsigned)(((la) >> 12) ^ (la)) & (JJC_SIZE - 1))
#define JJC_EMPTY     0x8000000000000000ull /* la of an empty entry: no 64-bit RIP */
struct jjc_entry {
	uint64_t la, gpa;
	void *code;
	uint64_t pad;
};

struct jit {
	uint8_t *rw, *rx;
	size_t size, used;
	int fd;
	uint64_t flushes;
	uint64_t translated;
	/* statistics (SOFTKVM_JIT_STATS=1 prints them when the vCPU ends) */
	uint64_t runs, lookups, lookup_misses, chains;
	uint64_t why[JW_N]; /* why translated code went back to the dispatcher */
	/* shared stubs (executable view) */
	void *(*enter)(struct cpu *c, void *code);
	void *epilogue, *exit0, *lookup, *handler;
	void *exit_why[JW_N];  /* exit0 with c->jit_why set */
	struct jjc_entry *jjc; /* writable view */
	void *jjc_rx;
	struct jctx ctx;
};

/* offsets of struct cpu fields used by JIT code */
#define OFF_GPR	     offsetof(struct cpu, gpr)
#define OFF_RIP	     (offsetof(struct cpu, gpr) + 8 * GPR_RIP)
#define OFF_TLB	     offsetof(struct cpu, tlb)
#define OFF_EVENTS   offsetof(struct cpu, events)
#define OFF_EPOCH    offsetof(struct cpu, epoch)
#define OFF_ICOUNT   offsetof(struct cpu, icount)
#define OFF_ILIMIT   offsetof(struct cpu, jit_icount_limit)
#define OFF_ROT_RES  offsetof(struct cpu, jit_rot_res)
#define OFF_CC_OP    offsetof(struct cpu, cc_op)
#define OFF_CC_RES   offsetof(struct cpu, cc_res)
#define OFF_CC_SRC   offsetof(struct cpu, cc_src)
#define OFF_CC_AUX   offsetof(struct cpu, cc_aux)
#define OFF_SEGBASE  offsetof(struct cpu, segbase)
#define OFF_SEGCHK   offsetof(struct cpu, segchk)
#define OFF_JIT_STOP offsetof(struct cpu, jit_stop)
#define OFF_RFLAGS   offsetof(struct cpu, rflags)
#define OFF_JIT_WHY  offsetof(struct cpu, jit_why)
#define OFF_CR0	     offsetof(struct cpu, cr0)
#define OFF_CR4	     offsetof(struct cpu, cr4)
#define OFF_XMM	     (offsetof(struct cpu, fx) + 160) /* FXSAVE: XMM0 at byte 160 */
#define OFF_YMMH     offsetof(struct cpu, ymmh)	      /* bits 255:128 of YMM0-15 */
#define OFF_XCR0     offsetof(struct cpu, xcr0)

int jit_emit_stubs(struct jit *j);
/* 0, or -1 if the block does not fit the scratch sections */
int jit_emit_block(struct cpu *c, struct jctx *x, struct block *b);
enum jit_result jit_translate(struct cpu *c, struct block *b);
void *jit_lookup(struct cpu *c);
bool jit_events_need_exit(struct cpu *c);
void jit_prof_hit(const struct insn *i);
bool jit_revalidate(struct cpu *c, const struct jit_hdr *h);

#endif
