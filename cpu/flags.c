/* SPDX-License-Identifier: MIT */
/*
 * Lazy arithmetic flags. An arithmetic instruction stores its result and
 * inputs (cc_res, cc_aux = first source, cc_src = second source) with cc_op
 * naming the operation and size; the flags are computed when something reads
 * them. cc_op == CC_EFLAGS means they are in rflags.
 */
#include "internal.h"

static inline uint64_t msb(uint64_t v, unsigned sl)
{
	return (v >> ((8u << sl) - 1)) & 1;
}

static inline uint64_t szt(uint64_t v, unsigned sl)
{
	return sl == 3 ? v : v & ((1ull << (8u << sl)) - 1);
}

bool cc_cf(struct cpu *c)
{
	unsigned sl = CC_SZLOG(c->cc_op);
	uint64_t res = c->cc_res, a = c->cc_aux, b = c->cc_src;

	switch (CC_KIND(c->cc_op)) {
	case CC_EFLAGS:
		return c->rflags & FL_CF;
	case CC_ADD:
		return szt(res, sl) < szt(a, sl);
	case CC_ADC:
		return szt(res, sl) <= szt(a, sl);
	case CC_SUB:
		return szt(a, sl) < szt(b, sl);
	case CC_SBB:
		return szt(a, sl) <= szt(b, sl);
	case CC_LOGIC:
		return false;
	case CC_INC:
	case CC_DEC:
		return b & 1;
	case CC_RESCO:
		return b & 1;
	}
	return false;
}

bool cc_zf(struct cpu *c)
{
	if (CC_KIND(c->cc_op) == CC_EFLAGS)
		return c->rflags & FL_ZF;
	return szt(c->cc_res, CC_SZLOG(c->cc_op)) == 0;
}

bool cc_sf(struct cpu *c)
{
	if (CC_KIND(c->cc_op) == CC_EFLAGS)
		return c->rflags & FL_SF;
	return msb(c->cc_res, CC_SZLOG(c->cc_op));
}

bool cc_pf(struct cpu *c)
{
	if (CC_KIND(c->cc_op) == CC_EFLAGS)
		return c->rflags & FL_PF;
	return !__builtin_parity((unsigned)(c->cc_res & 0xff));
}

bool cc_af(struct cpu *c)
{
	uint64_t res = c->cc_res, a = c->cc_aux, b = c->cc_src;

	switch (CC_KIND(c->cc_op)) {
	case CC_EFLAGS:
		return c->rflags & FL_AF;
	case CC_ADD:
	case CC_ADC:
	case CC_SUB:
	case CC_SBB:
		return ((a ^ b ^ res) >> 4) & 1;
	case CC_INC:
	case CC_DEC:
		return ((a ^ 1 ^ res) >> 4) & 1;
	default:
		return false;
	}
}

bool cc_of(struct cpu *c)
{
	unsigned sl = CC_SZLOG(c->cc_op);
	uint64_t res = c->cc_res, a = c->cc_aux, b = c->cc_src;

	switch (CC_KIND(c->cc_op)) {
	case CC_EFLAGS:
		return c->rflags & FL_OF;
	case CC_ADD:
	case CC_ADC:
		return msb((a ^ res) & (b ^ res), sl);
	case CC_SUB:
	case CC_SBB:
		return msb((a ^ b) & (a ^ res), sl);
	case CC_LOGIC:
		return false;
	case CC_INC:
		return szt(res, sl) == (1ull << ((8u << sl) - 1));
	case CC_DEC:
		return szt(res, sl) == (1ull << ((8u << sl) - 1)) - 1;
	case CC_RESCO:
		return a & 1;
	}
	return false;
}

void cc_materialize(struct cpu *c)
{
	uint64_t f;

	if (CC_KIND(c->cc_op) == CC_EFLAGS)
		return;
	f = c->rflags & ~(uint64_t)FL_ARITH;
	if (cc_cf(c))
		f |= FL_CF;
	if (cc_pf(c))
		f |= FL_PF;
	if (cc_af(c))
		f |= FL_AF;
	if (cc_zf(c))
		f |= FL_ZF;
	if (cc_sf(c))
		f |= FL_SF;
	if (cc_of(c))
		f |= FL_OF;
	c->rflags = f;
	c->cc_op = CC_EFLAGS;
}

uint64_t cpu_get_rflags(struct cpu *c)
{
	cc_materialize(c);
	return c->rflags | FL_1;
}

void cpu_set_rflags_raw(struct cpu *c, uint64_t v)
{
	c->rflags = (v | FL_1) & 0x3f7fd5ull;
	c->cc_op = CC_EFLAGS;
	tlb_select(c); /* AC may have changed */
}

/* Jcc/SETcc/CMOVcc condition, cond = 0..15 as in the opcode's low nibble. */
bool cc_cond(struct cpu *c, unsigned cond)
{
	bool r;

	switch (cond >> 1) {
	case 0:
		r = cc_of(c);
		break;
	case 1:
		r = cc_cf(c);
		break;
	case 2:
		r = cc_zf(c);
		break;
	case 3:
		r = cc_cf(c) || cc_zf(c);
		break;
	case 4:
		r = cc_sf(c);
		break;
	case 5:
		r = cc_pf(c);
		break;
	case 6:
		r = cc_sf(c) != cc_of(c);
		break;
	default:
		r = cc_zf(c) || (cc_sf(c) != cc_of(c));
		break;
	}
	return r ^ (cond & 1);
}
