/* SPDX-License-Identifier: MIT */
/* Helpers shared by the integer instruction groups (shift, muldiv, bit, atomic, string). */
#ifndef SOFTKVM_CPU_OPS_INT_H
#define SOFTKVM_CPU_OPS_INT_H

#include "ops.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Host pointer for a plain read-modify-write of size bytes at la (write TLB hit), or NULL. */
static ALWAYS_INLINE void *rmw_fast(struct cpu *c, uint64_t la, unsigned size)
{
	const struct tlb_entry *e = &c->tlb->w[TLB_INDEX(la)];
	if (likely(tlb_hit(e, la, size)))
		return (void *)(e->addend + la);
	return NULL;
}

/* Read for a read-modify-write on the slow path: the write is checked first. */
static inline uint64_t rmw_slow_read(struct cpu *c, uint64_t la, unsigned size)
{
	mem_probe_write(c, la, size);
	return mem_read(c, la, size);
}

/* Atomic compare-and-swap of size bytes; returns the old value, *ok whether it stored. */
static ALWAYS_INLINE uint64_t cas_n(void *p, unsigned size, uint64_t expect, uint64_t nv, bool *ok)
{
	switch (size) {
	case 1: {
		uint8_t e = (uint8_t)expect;
		*ok = __atomic_compare_exchange_n((uint8_t *)p, &e, (uint8_t)nv, false,
						  __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		return e;
	}
	case 2: {
		uint16_t e = (uint16_t)expect;
		*ok = __atomic_compare_exchange_n((uint16_t *)p, &e, (uint16_t)nv, false,
						  __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		return e;
	}
	case 4: {
		uint32_t e = (uint32_t)expect;
		*ok = __atomic_compare_exchange_n((uint32_t *)p, &e, (uint32_t)nv, false,
						  __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		return e;
	}
	default: {
		uint64_t e = expect;
		*ok = __atomic_compare_exchange_n((uint64_t *)p, &e, nv, false, __ATOMIC_SEQ_CST,
						  __ATOMIC_SEQ_CST);
		return e;
	}
	}
}

/* Set CF and OF in rflags, leaving the other arithmetic flags as they are. */
static inline void set_cf_of(struct cpu *c, bool cf, bool of)
{
	cc_materialize(c);
	c->rflags = (c->rflags & ~(uint64_t)(FL_CF | FL_OF)) | (cf ? FL_CF : 0) | (of ? FL_OF : 0);
}

/* Lazy flags: ZF SF PF from res, CF and OF given, AF = 0. */
static ALWAYS_INLINE void cc_set_resco(struct cpu *c, unsigned size, uint64_t res, bool cf, bool of)
{
	c->cc_op = CC_OP(CC_RESCO, szlog(size));
	c->cc_res = res;
	c->cc_src = cf;
	c->cc_aux = of;
}

static ALWAYS_INLINE uint64_t msb_of(uint64_t v, unsigned size)
{
	return (v >> (size * 8 - 1)) & 1;
}

#endif
