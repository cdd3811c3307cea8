/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the system side of the processor: descriptor fields,
 * far control transfers, task-state-segment stacks (seg.c, interrupt.c,
 * ops_system.c, ops_far.c).
 */
#ifndef SOFTKVM_CPU_SYS_H
#define SOFTKVM_CPU_SYS_H

#include "internal.h"

/* fields of the high dword of a segment descriptor */
#define D_TYPE(hi) (((hi) >> 8) & 15)
#define D_S(hi)	   (((hi) >> 12) & 1)
#define D_DPL(hi)  (((hi) >> 13) & 3)
#define D_P(hi)	   (((hi) >> 15) & 1)
#define D_L(hi)	   (((hi) >> 21) & 1)
#define D_DB(hi)   (((hi) >> 22) & 1)

/* S=1 type bits */
#define TY_A	1
#define TY_W	2 /* data: writable */
#define TY_R	2 /* code: readable */
#define TY_E	4 /* data: expand-down */
#define TY_C	4 /* code: conforming */
#define TY_CODE 8

/* S=0 system types */
#define SYS_TSS16_AVAIL 1
#define SYS_LDT		2
#define SYS_TSS16_BUSY	3
#define SYS_CALL16	4
#define SYS_TASK	5
#define SYS_INT16	6
#define SYS_TRAP16	7
#define SYS_TSS_AVAIL	9
#define SYS_TSS_BUSY	11
#define SYS_CALL	12
#define SYS_INT		14
#define SYS_TRAP	15

static inline bool desc_is_code(uint32_t hi)
{
	return D_S(hi) && (D_TYPE(hi) & TY_CODE);
}

static inline bool desc_is_conforming(uint32_t hi)
{
	return desc_is_code(hi) && (D_TYPE(hi) & TY_C);
}

static inline uint32_t desc_limit(uint32_t lo, uint32_t hi)
{
	uint32_t l = (lo & 0xffff) | (hi & 0x000f0000);
	return (hi & (1u << 23)) ? (l << 12) | 0xfff : l;
}

static inline bool la_canonical(const struct cpu *c, uint64_t la)
{
	unsigned bits = (c->cr4 & CR4_LA57) ? 57 : 48;
	return (uint64_t)((int64_t)(la << (64 - bits)) >> (64 - bits)) == la;
}

/*
 * The linear address of a system-structure access (GDT, LDT, IDT, TSS): their
 * bases are 64-bit throughout IA-32e mode, compatibility mode included, where
 * the current code's own addresses wrap at 4 GiB (SDM vol. 3A, 2.1.1.1, 7.7).
 */
static inline uint64_t sys_la(const struct cpu *c, uint64_t la)
{
	return in_long_mode(c) ? la : (la & 0xffffffffull);
}

/* seg.c */
/* Set the accessed bit of the descriptor of sel (may fault on the table write). */
void seg_mark_accessed(struct cpu *c, uint16_t sel, uint32_t hi);
/* Upper 8 bytes of a 16-byte system descriptor (long mode); false if beyond the limit. */
bool seg_read_desc_high(struct cpu *c, uint16_t sel, uint64_t *high);
/* A flat 4 GiB segment cache as SYSCALL/SYSENTER load it. */
void seg_set_flat(struct cpu_seg *s, uint16_t sel, uint8_t type, uint8_t dpl, bool l, bool db);
/* Make a data segment register unusable (null selector), keeping its base. */
void seg_make_null(struct cpu *c, int seg);
/* After a return to an outer level: null ES/DS/FS/GS the new CPL may not use. */
void seg_null_inaccessible(struct cpu *c);

/* interrupt.c: SS:ESP for privilege level dpl from a 16/32-bit TSS (#TS on errors). */
void tss_stack(struct cpu *c, unsigned dpl, uint16_t *ss, uint64_t *sp);
/* RSPn from a 64-bit TSS */
uint64_t tss_stack64(struct cpu *c, unsigned dpl);
/* Check the SS descriptor of a stack switch; #TS(sel | ext) or #SS on errors. */
void check_new_ss(struct cpu *c, uint16_t sel, unsigned cpl, uint32_t ext, uint32_t *lo,
		  uint32_t *hi);

/* ops_system.c: control-register writes with the checks of MOV CRn (#GP on errors) */
void cpu_write_cr0(struct cpu *c, uint64_t v);
void cpu_write_cr4(struct cpu *c, uint64_t v);

#endif
