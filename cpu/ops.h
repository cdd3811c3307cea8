/* SPDX-License-Identifier: MIT */
/* Helpers shared by the instruction-group files (ops_*.c). */
#ifndef SOFTKVM_CPU_OPS_H
#define SOFTKVM_CPU_OPS_H

#include "internal.h"

/* Set RIP to a branch target of operand size osz after the checks the SDM
 * requires of the branch instruction itself (canonical / CS limit → #GP). */
static __attribute__((noinline, cold, noreturn)) void branch_gp(struct cpu *c)
{
	cpu_raise(c, EXC_GP, 0);
}

static inline __attribute__((always_inline)) void branch_to(struct cpu *c, uint64_t target,
							    unsigned osz)
{
	if (osz == 2)
		target &= 0xffff;
	else if (osz == 4)
		target &= 0xffffffffull;
	if (in_64bit_mode(c)) {
		/* canonical for 48 bits is canonical for 57 too: one test in the common case */
		if (unlikely((uint64_t)((int64_t)(target << 16) >> 16) != target)) {
			unsigned bits = (c->cr4 & CR4_LA57) ? 57 : 48;
			if ((uint64_t)((int64_t)(target << (64 - bits)) >> (64 - bits)) != target)
				branch_gp(c);
		}
	} else if ((c->segchk & (1u << SEG_CS)) && target > c->seg[SEG_CS].limit) {
		branch_gp(c);
	}
	RIP(c) = target;
}

/*
 * End of a block by a near branch that stays in the page: continue straight
 * into the cached successor (see cpu_run's chaining) without going back to
 * the run loop, unless an event, an instruction budget or single-stepping
 * needs the loop's attention. NULL: let cpu_run look the next block up.
 */
static inline const struct insn *chain_next(struct cpu *c)
{
	struct block *b = c->cur_block, *n;
	if (unlikely(atomic_load_explicit(&c->events, memory_order_relaxed) | c->nochain |
		     (c->budget_end != 0)))
		return NULL;
	uint64_t rip = RIP(c);
	unsigned k = b->chain_rip[1] == rip;
	n = b->chain[k];
	if (n && b->chain_rip[k] == rip && n->epoch == c->epoch &&
	    atomic_load_explicit(n->gen_ptr, memory_order_relaxed) == n->gen) {
		c->cur_block = n;
		c->icount += n->ninsns;
		return n->insns;
	}
	return NULL;
}

/* RSP as an address (masked by the stack size) */
static inline uint64_t sp_get(const struct cpu *c)
{
	return c->gpr[REG_RSP] & c->stack_mask;
}

static inline void sp_set(struct cpu *c, uint64_t v)
{
	if (c->stack_mask == ~0ull)
		c->gpr[REG_RSP] = v;
	else if (c->stack_mask == 0xffffffffull)
		c->gpr[REG_RSP] = (uint32_t)v;
	else
		c->gpr[REG_RSP] = (c->gpr[REG_RSP] & ~0xffffull) | (v & 0xffff);
}

/* linear address of a stack slot at offset sp (already masked) */
static inline uint64_t stack_la(struct cpu *c, uint64_t sp, unsigned size, int acc)
{
	return seg_la(c, SEG_SS, sp, size, acc);
}

static inline void stack_write_at(struct cpu *c, uint64_t sp, unsigned size, uint64_t v)
{
	uint64_t la = stack_la(c, sp, size, ACC_W);
	const struct tlb_entry *e = &c->tlb->w[TLB_INDEX(la)];
	if (likely(tlb_hit(e, la, size))) {
		st_n((void *)(e->addend + la), size, v);
		return;
	}
	mem_write_slow(c, la, size, v, ACCF_STACK);
}

static inline uint64_t stack_read_at(struct cpu *c, uint64_t sp, unsigned size)
{
	uint64_t la = stack_la(c, sp, size, ACC_R);
	const struct tlb_entry *e = &c->tlb->r[TLB_INDEX(la)];
	if (likely(tlb_hit(e, la, size)))
		return ld_n((const void *)(e->addend + la), size);
	return mem_read_slow(c, la, size, ACCF_STACK);
}

/* push/pop that commit RSP only after the memory access succeeded */
static inline void push(struct cpu *c, unsigned size, uint64_t v)
{
	uint64_t sp = (c->gpr[REG_RSP] - size) & c->stack_mask;
	stack_write_at(c, sp, size, v);
	sp_set(c, sp);
}

static inline uint64_t pop(struct cpu *c, unsigned size)
{
	uint64_t sp = sp_get(c);
	uint64_t v = stack_read_at(c, sp, size);
	sp_set(c, sp + size);
	return v;
}

/* Jcc-style conditions */
static inline bool cond(struct cpu *c, unsigned cc)
{
	return cc_cond(c, cc);
}

/* the memory operand's value/target */
static inline uint64_t load_op(struct cpu *c, const struct insn *i, unsigned size)
{
	return mem_read(c, insn_la(c, i, size, ACC_R), size);
}

static inline void store_op(struct cpu *c, const struct insn *i, unsigned size, uint64_t v)
{
	mem_write(c, insn_la(c, i, size, ACC_W), size, v);
}

/*
 * Fast-path load/store for handlers: on a TLB hit the access is done inline;
 * otherwise the handler tail-calls slowfn, which redoes the instruction the
 * general way. No call on the fast path means no callee-saved registers.
 */
#define FAST_LOAD(c, i, size, out, slowfn)                                                         \
	do {                                                                                       \
		uint64_t _la = (c->segbase[i->seg] + insn_ea(c, i)) & c->la_mask;                  \
		const struct tlb_entry *_e = &c->tlb->r[TLB_INDEX(_la)];                           \
		if (unlikely((c->segchk & (1u << i->seg)) || !tlb_hit(_e, _la, size)))             \
			return slowfn(c, i);                                                       \
		out = ld_n((const void *)(_e->addend + _la), size);                                \
	} while (0)
/* a read-modify-write through the write TLB (the page is writable and dirty) */
#define FAST_RMW(c, i, size, ptr, slowfn)                                                          \
	do {                                                                                       \
		uint64_t _la = (c->segbase[i->seg] + insn_ea(c, i)) & c->la_mask;                  \
		const struct tlb_entry *_e = &c->tlb->w[TLB_INDEX(_la)];                           \
		if (unlikely((c->segchk & (1u << i->seg)) || !tlb_hit(_e, _la, size)))             \
			return slowfn(c, i);                                                       \
		ptr = (void *)(_e->addend + _la);                                                  \
	} while (0)
#define FAST_STORE(c, i, size, v, slowfn)                                                          \
	do {                                                                                       \
		uint64_t _la = (c->segbase[i->seg] + insn_ea(c, i)) & c->la_mask;                  \
		const struct tlb_entry *_e = &c->tlb->w[TLB_INDEX(_la)];                           \
		if (unlikely((c->segchk & (1u << i->seg)) || !tlb_hit(_e, _la, size)))             \
			return slowfn(c, i);                                                       \
		st_n((void *)(_e->addend + _la), size, v);                                         \
	} while (0)

#endif
