/* SPDX-License-Identifier: MIT */
/*
 * Segmentation: descriptor caches, segment-register loads with their
 * checks, and the cached state derived from them (SDM vol. 3A, chapter 3
 * and 5).
 */
#include <Zydis/Zydis.h>

#include "sys.h"

static bool seg_flat(const struct cpu_seg *s)
{
	return !s->unusable && s->present && s->s && !(s->type & TY_CODE) && (s->type & TY_W) &&
	       !(s->type & TY_E) && s->limit == 0xffffffffu;
}

void cpu_update_mode(struct cpu *c)
{
	const struct cpu_seg *cs = &c->seg[SEG_CS];
	uint32_t mode;

	if (!(c->cr0 & CR0_PE) || (c->rflags & FL_VM))
		mode = ZYDIS_MACHINE_MODE_REAL_16;
	else if (c->efer & EFER_LMA)
		mode = cs->l ? ZYDIS_MACHINE_MODE_LONG_64
			     : (cs->db ? ZYDIS_MACHINE_MODE_LONG_COMPAT_32
				       : ZYDIS_MACHINE_MODE_LONG_COMPAT_16);
	else
		mode = cs->db ? ZYDIS_MACHINE_MODE_LEGACY_32 : ZYDIS_MACHINE_MODE_LEGACY_16;
	c->mode = mode;
}

void seg_update_cache(struct cpu *c)
{
	bool pe = c->cr0 & CR0_PE, vm = (c->rflags & FL_VM) != 0;

	cpu_update_mode(c);
	if (!pe)
		c->cpl = 0;
	else if (vm)
		c->cpl = 3;
	c->tlb = &c->tlbs[c->cpl == 3];

	if (in_64bit_mode(c)) {
		c->la_mask = ~0ull;
		c->segchk = 0;
		for (int s = 0; s < 6; s++)
			c->segbase[s] = (s == SEG_FS || s == SEG_GS) ? c->seg[s].base : 0;
		c->stack_mask = ~0ull;
	} else {
		c->la_mask = 0xffffffffull;
		c->segchk = 0;
		for (int s = 0; s < 6; s++) {
			const struct cpu_seg *sg = &c->seg[s];
			c->segbase[s] = sg->base & 0xffffffffull;
			if (!pe || vm) {
				if (sg->limit != 0xffffffffu)
					c->segchk |= 1u << s;
			} else if (s == SEG_CS || !seg_flat(sg)) {
				c->segchk |= 1u << s;
			}
		}
		c->stack_mask = (pe && !vm && c->seg[SEG_SS].db) || (!pe && c->seg[SEG_SS].db)
				    ? 0xffffffffull
				    : 0xffffull;
	}
	c->segbase[SEG_LDTR] = c->seg[SEG_LDTR].base;
	c->segbase[SEG_TR] = c->seg[SEG_TR].base;
}

void seg_check_slow(struct cpu *c, int seg, uint64_t ea, unsigned size, int acc)
{
	const struct cpu_seg *s = &c->seg[seg];
	int exc = seg == SEG_SS ? EXC_SS : EXC_GP;
	uint64_t last = ea + size - 1;
	bool pe = c->cr0 & CR0_PE, vm = (c->rflags & FL_VM) != 0;

	if (!pe || vm) {
		if (last > s->limit)
			cpu_raise(c, exc, 0);
		return;
	}
	if (s->unusable || !s->present)
		cpu_raise(c, exc, 0);
	if (s->type & TY_CODE) {
		if (acc == ACC_W || !(s->type & TY_R))
			cpu_raise(c, exc, 0);
	} else if (acc == ACC_W && !(s->type & TY_W)) {
		cpu_raise(c, exc, 0);
	}
	if (s->s && !(s->type & TY_CODE) && (s->type & TY_E)) {
		uint64_t upper = s->db ? 0xffffffffull : 0xffffull;
		if (ea <= s->limit || last > upper || last < ea)
			cpu_raise(c, exc, 0);
	} else if (last > s->limit || last < ea) {
		cpu_raise(c, exc, 0);
	}
}

void seg_from_desc(struct cpu_seg *s, uint16_t sel, uint32_t lo, uint32_t hi)
{
	uint32_t limit = (lo & 0xffff) | (hi & 0x000f0000);
	s->sel = sel;
	s->base = (lo >> 16) | ((uint64_t)(hi & 0xff) << 16) | ((uint64_t)(hi & 0xff000000));
	s->type = (hi >> 8) & 15;
	s->s = (hi >> 12) & 1;
	s->dpl = (hi >> 13) & 3;
	s->present = (hi >> 15) & 1;
	s->avl = (hi >> 20) & 1;
	s->l = (hi >> 21) & 1;
	s->db = (hi >> 22) & 1;
	s->g = (hi >> 23) & 1;
	s->limit = s->g ? (limit << 12) | 0xfff : limit;
	s->unusable = 0;
}

/* Read a descriptor of a system-table access (implicit supervisor access). */
static uint64_t sys_read(struct cpu *c, uint64_t la, unsigned size)
{
	return mem_read_slow(c, sys_la(c, la), size, ACCF_IMPLICIT_SV);
}

static void sys_write(struct cpu *c, uint64_t la, unsigned size, uint64_t v)
{
	mem_write_slow(c, sys_la(c, la), size, v, ACCF_IMPLICIT_SV);
}

bool seg_read_desc(struct cpu *c, uint16_t sel, uint32_t *lo, uint32_t *hi, int exc)
{
	uint64_t base, limit;
	unsigned idx = sel & ~7u;

	if (sel & 4) {
		if (c->seg[SEG_LDTR].unusable || !c->seg[SEG_LDTR].present) {
			if (exc >= 0)
				cpu_raise(c, exc, sel & 0xfffc);
			return false;
		}
		base = c->seg[SEG_LDTR].base;
		limit = c->seg[SEG_LDTR].limit;
	} else {
		base = c->gdt_base;
		limit = c->gdt_limit;
	}
	if (idx + 7 > limit) {
		if (exc >= 0)
			cpu_raise(c, exc, sel & 0xfffc);
		return false;
	}
	uint64_t d = sys_read(c, base + idx, 8);
	*lo = (uint32_t)d;
	*hi = (uint32_t)(d >> 32);
	return true;
}

/* Set the accessed bit of a descriptor (SDM 3.4.5.1). */
void seg_mark_accessed(struct cpu *c, uint16_t sel, uint32_t hi)
{
	uint64_t base = (sel & 4) ? c->seg[SEG_LDTR].base : c->gdt_base;
	if (hi & (TY_A << 8))
		return;
	sys_write(c, base + (sel & ~7u) + 5, 1, ((hi >> 8) & 0xff) | TY_A);
}

bool seg_read_desc_high(struct cpu *c, uint16_t sel, uint64_t *high)
{
	uint64_t base = c->gdt_base, limit = c->gdt_limit;
	unsigned idx = (sel & ~7u) + 8;

	if (sel & 4) {
		if (c->seg[SEG_LDTR].unusable || !c->seg[SEG_LDTR].present)
			return false;
		base = c->seg[SEG_LDTR].base;
		limit = c->seg[SEG_LDTR].limit;
	}
	if (idx + 7 > limit)
		return false;
	*high = sys_read(c, base + idx, 8);
	return true;
}

void seg_set_flat(struct cpu_seg *s, uint16_t sel, uint8_t type, uint8_t dpl, bool l, bool db)
{
	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->limit = 0xffffffffu;
	s->type = type;
	s->s = 1;
	s->dpl = dpl;
	s->present = 1;
	s->l = l;
	s->db = db;
	s->g = 1;
}

void seg_make_null(struct cpu *c, int seg)
{
	c->seg[seg].sel = 0;
	c->seg[seg].unusable = 1;
	c->seg[seg].present = 0;
}

/* SDM vol. 2, RET/IRET: "FOR each of segment register ES, FS, GS, and DS" */
void seg_null_inaccessible(struct cpu *c)
{
	static const int segs[] = {SEG_ES, SEG_DS, SEG_FS, SEG_GS};
	for (unsigned k = 0; k < 4; k++) {
		struct cpu_seg *s = &c->seg[segs[k]];
		bool conf_code = (s->type & TY_CODE) && (s->type & TY_C);
		if (s->unusable || !s->s)
			continue;
		if (!conf_code && s->dpl < c->cpl)
			seg_make_null(c, segs[k]);
	}
	seg_update_cache(c);
}

void seg_load_real(struct cpu *c, int seg, uint16_t sel)
{
	struct cpu_seg *s = &c->seg[seg];
	s->sel = sel;
	s->base = (uint64_t)sel << 4;
	if (c->rflags & FL_VM) {
		/* VM86: all attributes are fixed (SDM 20.2.1) */
		s->limit = 0xffff;
		s->type = seg == SEG_CS ? 0xb : 3;
		s->s = 1;
		s->dpl = 3;
		s->present = 1;
		s->db = s->l = s->g = 0;
		s->unusable = 0;
	}
	/* real mode keeps limit and attributes (unreal mode) */
	seg_update_cache(c);
}

void seg_load_desc(struct cpu *c, int seg, uint16_t sel, uint32_t lo, uint32_t hi)
{
	seg_from_desc(&c->seg[seg], sel, lo, hi);
	if (seg == SEG_CS) /* KVM reports CS as accessed */
		c->seg[seg].type |= TY_A;
	seg_update_cache(c);
}

static void seg_load_null(struct cpu *c, int seg, uint16_t sel)
{
	struct cpu_seg *s = &c->seg[seg];
	s->sel = sel;
	s->unusable = 1;
	s->present = 0;
	/* Intel clears the base (Linux, common.c detect_null_seg_behavior());
	 * AMD keeps it in 64-bit mode unless CPUID.80000021:EAX[6] says
	 * NULL_SEL_CLR_BASE (VB_NULL_KEEPS_BASE) */
	if (!(in_64bit_mode(c) && (c->vflags & VB_NULL_KEEPS_BASE)))
		s->base = 0;
	seg_update_cache(c);
}

/* MOV/POP/LxS to a data segment register or SS (SDM vol. 2, MOV, "protected mode"). */
void seg_load(struct cpu *c, int seg, uint16_t sel)
{
	uint32_t lo, hi;
	unsigned rpl = sel & 3, dpl, type;

	if (!(c->cr0 & CR0_PE) || (c->rflags & FL_VM)) {
		seg_load_real(c, seg, sel);
		return;
	}
	if ((sel & ~3u) == 0) {
		if (seg == SEG_SS) {
			/* null SS is allowed in 64-bit mode at CPL < 3 when RPL == CPL */
			if (!(in_64bit_mode(c) && c->cpl < 3 && (int)rpl == c->cpl))
				cpu_raise(c, EXC_GP, 0);
			seg_load_null(c, seg, sel);
			c->seg[SEG_SS].dpl = (uint8_t)c->cpl;
			return;
		}
		seg_load_null(c, seg, sel);
		return;
	}
	seg_read_desc(c, sel, &lo, &hi, EXC_GP);
	type = (hi >> 8) & 15;
	dpl = (hi >> 13) & 3;
	if (!((hi >> 12) & 1))
		cpu_raise(c, EXC_GP, sel & 0xfffc); /* system descriptor */
	if (seg == SEG_SS) {
		if (rpl != (unsigned)c->cpl || dpl != (unsigned)c->cpl || (type & TY_CODE) ||
		    !(type & TY_W))
			cpu_raise(c, EXC_GP, sel & 0xfffc);
		if (!((hi >> 15) & 1))
			cpu_raise(c, EXC_SS, sel & 0xfffc);
	} else {
		if ((type & TY_CODE) && !(type & TY_R))
			cpu_raise(c, EXC_GP, sel & 0xfffc);
		if (!((type & TY_CODE) && (type & TY_C))) {
			unsigned need = rpl > (unsigned)c->cpl ? rpl : (unsigned)c->cpl;
			if (dpl < need)
				cpu_raise(c, EXC_GP, sel & 0xfffc);
		}
		if (!((hi >> 15) & 1))
			cpu_raise(c, EXC_NP, sel & 0xfffc);
	}
	seg_mark_accessed(c, sel, hi);
	hi |= TY_A << 8;
	seg_from_desc(&c->seg[seg], sel, lo, hi);
	if (in_64bit_mode(c) && (seg == SEG_FS || seg == SEG_GS))
		c->seg[seg].base &= 0xffffffffull;
	seg_update_cache(c);
}
