/* SPDX-License-Identifier: MIT */
/*
 * Exception and interrupt delivery through the IVT (real mode) or the IDT
 * (protected mode, VM86, long mode), SDM vol. 3A, chapter 6 and 20.
 * Everything that can fault is read or written before any register state
 * changes, so a fault during delivery leaves the state of the interrupted
 * instruction intact for the double-fault logic in cpu.c.
 */
#include "sys.h"

static uint64_t idt_read(struct cpu *c, uint64_t off, unsigned size)
{
	return mem_read_slow(c, sys_la(c, c->idt_base + off), size, ACCF_IMPLICIT_SV);
}

/* Write to the new stack with the privilege of the handler. */
static void stack_write(struct cpu *c, uint64_t la, unsigned size, uint64_t v, int newcpl)
{
	mem_write_slow(c, la, size, v, newcpl < 3 ? ACCF_IMPLICIT_SV | ACCF_STACK : ACCF_STACK);
}

static void deliver_real(struct cpu *c, int vector, uint64_t next_rip)
{
	uint64_t off = (uint64_t)vector * 4;
	uint16_t sp = (uint16_t)c->gpr[REG_RSP];
	uint64_t ssb = c->seg[SEG_SS].base;
	uint32_t flags = (uint32_t)cpu_get_rflags(c);

	if (off + 3 > c->idt_limit)
		cpu_raise(c, EXC_GP, 0);
	uint32_t vec = (uint32_t)idt_read(c, off, 4);
	/* push FLAGS, CS, IP (16-bit, wrapping in the 64 KiB stack) */
	mem_write_slow(c, (ssb + (uint16_t)(sp - 2)) & 0xffffffff, 2, flags, ACCF_STACK);
	mem_write_slow(c, (ssb + (uint16_t)(sp - 4)) & 0xffffffff, 2, c->seg[SEG_CS].sel,
		       ACCF_STACK);
	mem_write_slow(c, (ssb + (uint16_t)(sp - 6)) & 0xffffffff, 2, (uint16_t)next_rip,
		       ACCF_STACK);
	reg_set(c, REG_RSP, 2, (uint16_t)(sp - 6));
	c->rflags &= ~(uint64_t)(FL_IF | FL_TF | FL_AC | FL_RF);
	seg_load_real(c, SEG_CS, (uint16_t)(vec >> 16));
	RIP(c) = vec & 0xffff;
}

static uint64_t tss_read(struct cpu *c, uint64_t off, unsigned size)
{
	const struct cpu_seg *tr = &c->seg[SEG_TR];
	if (off + size - 1 > tr->limit)
		cpu_raise(c, EXC_TS, tr->sel & 0xfffc);
	return mem_read_slow(c, sys_la(c, tr->base + off), size, ACCF_IMPLICIT_SV);
}

/* SS:ESP for privilege level dpl from the current TSS (SDM 7.2.1). */
void tss_stack(struct cpu *c, unsigned dpl, uint16_t *ss, uint64_t *sp)
{
	const struct cpu_seg *tr = &c->seg[SEG_TR];
	unsigned type = tr->type & 0xd; /* 1 = 16-bit TSS, 9 = 32-bit TSS */

	if (!tr->present || tr->unusable)
		cpu_raise(c, EXC_TS, tr->sel & 0xfffc);
	if (type == 9) {
		*sp = (uint32_t)tss_read(c, 4 + 8 * dpl, 4);
		*ss = (uint16_t)tss_read(c, 8 + 8 * dpl, 2);
	} else {
		*sp = (uint16_t)tss_read(c, 2 + 4 * dpl, 2);
		*ss = (uint16_t)tss_read(c, 4 + 4 * dpl, 2);
	}
}

uint64_t tss_stack64(struct cpu *c, unsigned dpl)
{
	const struct cpu_seg *tr = &c->seg[SEG_TR];
	if (!tr->present || tr->unusable)
		cpu_raise(c, EXC_TS, tr->sel & 0xfffc);
	return tss_read(c, 4 + 8 * dpl, 8);
}

void check_new_ss(struct cpu *c, uint16_t sel, unsigned cpl, uint32_t ext, uint32_t *lo,
		  uint32_t *hi)
{
	uint32_t err = (sel & 0xfffc) | ext;

	if ((sel & ~3u) == 0)
		cpu_raise(c, EXC_TS, ext);
	if (!seg_read_desc(c, sel, lo, hi, -1))
		cpu_raise(c, EXC_TS, err);
	if ((sel & 3) != cpl || D_DPL(*hi) != cpl || !D_S(*hi) || (D_TYPE(*hi) & TY_CODE) ||
	    !(D_TYPE(*hi) & TY_W))
		cpu_raise(c, EXC_TS, err);
	if (!D_P(*hi))
		cpu_raise(c, EXC_SS, err);
}

struct gate {
	uint16_t sel;
	uint64_t off;
	unsigned type, dpl, present, ist;
};

static uint32_t ext_bit(int kind)
{
	/* EXT: the event is not a software interrupt (SDM 6.13); INT1 counts as external */
	return kind == DELIVER_SOFT ? 0 : 1;
}

static void read_gate(struct cpu *c, int vector, int kind, bool lm, struct gate *g)
{
	unsigned sz = lm ? 16 : 8;
	uint32_t err = (uint32_t)vector * 8 + 2 + ext_bit(kind);
	uint64_t lo, hi = 0;

	if ((uint64_t)vector * sz + sz - 1 > c->idt_limit)
		cpu_raise(c, EXC_GP, err);
	lo = idt_read(c, (uint64_t)vector * sz, 8);
	if (lm)
		hi = idt_read(c, (uint64_t)vector * sz + 8, 8);
	g->sel = (uint16_t)(lo >> 16);
	g->off = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ull) | (hi << 32);
	g->type = (lo >> 40) & 0x1f; /* includes S bit (bit 4) */
	g->dpl = (lo >> 45) & 3;
	g->present = (lo >> 47) & 1;
	g->ist = lm ? (lo >> 32) & 7 : 0;
	if (lm) {
		if (g->type != SYS_INT && g->type != SYS_TRAP)
			cpu_raise(c, EXC_GP, err);
	} else if (g->type != SYS_INT16 && g->type != SYS_TRAP16 && g->type != SYS_INT &&
		   g->type != SYS_TRAP && g->type != SYS_TASK) {
		cpu_raise(c, EXC_GP, err);
	}
	/* software interrupts check the gate's DPL (INT n, INT3, INTO) */
	if (kind == DELIVER_SOFT && g->dpl < (unsigned)c->cpl)
		cpu_raise(c, EXC_GP, err);
	if (!g->present)
		cpu_raise(c, EXC_NP, err);
	if (g->type == SYS_TASK)
		cpu_raise(c, EXC_GP, err); /* hardware task switching is not implemented */
}

/* Check the handler's code segment; returns its descriptor. */
static void read_target_cs(struct cpu *c, uint16_t sel, uint32_t ext, uint32_t *lo, uint32_t *hi)
{
	if ((sel & ~3u) == 0)
		cpu_raise(c, EXC_GP, ext);
	if (!seg_read_desc(c, sel, lo, hi, -1))
		cpu_raise(c, EXC_GP, (sel & 0xfffc) | ext);
	if (!desc_is_code(*hi) || D_DPL(*hi) > (unsigned)c->cpl)
		cpu_raise(c, EXC_GP, (sel & 0xfffc) | ext);
	if (!D_P(*hi))
		cpu_raise(c, EXC_NP, (sel & 0xfffc) | ext);
}

static void deliver_long(struct cpu *c, int vector, int kind, bool has_error, uint32_t error,
			 uint64_t next_rip)
{
	struct gate g;
	uint32_t cs_lo, cs_hi, ext = ext_bit(kind);
	uint64_t rsp, old_rsp = c->gpr[REG_RSP], rflags = cpu_get_rflags(c);
	unsigned newcpl;
	uint16_t old_ss = c->seg[SEG_SS].sel, old_cs = c->seg[SEG_CS].sel;

	read_gate(c, vector, kind, true, &g);
	read_target_cs(c, g.sel, ext, &cs_lo, &cs_hi);
	/* target must be a 64-bit code segment */
	if (!D_L(cs_hi) || D_DB(cs_hi))
		cpu_raise(c, EXC_GP, (g.sel & 0xfffc) | ext);
	newcpl = desc_is_conforming(cs_hi) ? (unsigned)c->cpl : D_DPL(cs_hi);
	if (!la_canonical(c, g.off))
		cpu_raise(c, EXC_GP, ext);

	if (g.ist) {
		const struct cpu_seg *tr = &c->seg[SEG_TR];
		if (!tr->present || tr->unusable)
			cpu_raise(c, EXC_TS, tr->sel & 0xfffc);
		rsp = tss_read(c, 0x24 + 8 * (g.ist - 1), 8);
	} else if (newcpl < (unsigned)c->cpl) {
		rsp = tss_stack64(c, newcpl);
	} else {
		rsp = old_rsp;
	}
	rsp &= ~0xfull; /* SDM 6.14.2: 16-byte aligned frame */
	/* push SS, RSP, RFLAGS, CS, RIP, error code */
	uint64_t frame[6];
	int n = 0;
	frame[n++] = old_ss;
	frame[n++] = old_rsp;
	frame[n++] = rflags;
	frame[n++] = old_cs;
	frame[n++] = next_rip;
	if (has_error)
		frame[n++] = error;
	for (int k = 0; k < n; k++)
		stack_write(c, rsp - 8 * (k + 1), 8, frame[k], (int)newcpl);

	/* commit */
	c->gpr[REG_RSP] = rsp - 8 * n;
	if (newcpl < (unsigned)c->cpl) {
		/* SS gets a null selector with RPL = new CPL */
		c->seg[SEG_SS].sel = (uint16_t)newcpl;
		c->seg[SEG_SS].unusable = 1;
		c->seg[SEG_SS].present = 0;
		c->seg[SEG_SS].dpl = (uint8_t)newcpl;
	}
	c->cpl = (int)newcpl;
	seg_load_desc(c, SEG_CS, (uint16_t)((g.sel & 0xfffc) | newcpl), cs_lo, cs_hi);
	if (g.type == SYS_INT)
		c->rflags &= ~(uint64_t)FL_IF;
	c->rflags &= ~(uint64_t)(FL_TF | FL_NT | FL_RF | FL_VM);
	RIP(c) = g.off;
	seg_update_cache(c);
}

static void deliver_prot(struct cpu *c, int vector, int kind, bool has_error, uint32_t error,
			 uint64_t next_rip)
{
	struct gate g;
	uint32_t cs_lo, cs_hi, ext = ext_bit(kind);
	uint64_t rflags = cpu_get_rflags(c);
	unsigned newcpl, gsz;
	bool vm = (rflags & FL_VM) != 0;
	uint16_t new_ss = c->seg[SEG_SS].sel;
	uint32_t ss_lo = 0, ss_hi = 0;
	struct cpu_seg nss;

	/* VM86: INT n with IOPL < 3 is #GP(0) (no VME redirection) */
	if (vm && kind == DELIVER_SOFT && ((rflags & FL_IOPL) >> 12) < 3)
		cpu_raise(c, EXC_GP, 0);
	read_gate(c, vector, kind, false, &g);
	gsz = (g.type & 8) ? 4 : 2;
	read_target_cs(c, g.sel, ext, &cs_lo, &cs_hi);
	newcpl = desc_is_conforming(cs_hi) ? (unsigned)c->cpl : D_DPL(cs_hi);
	if (vm && newcpl != 0)
		cpu_raise(c, EXC_GP, (g.sel & 0xfffc) | ext);
	uint64_t target = gsz == 2 ? (g.off & 0xffff) : (g.off & 0xffffffff);
	if (target > desc_limit(cs_lo, cs_hi))
		cpu_raise(c, EXC_GP, ext);

	uint64_t frame[10], sp;
	int n = 0;
	bool privsw = newcpl < (unsigned)c->cpl;
	if (privsw) {
		tss_stack(c, newcpl, &new_ss, &sp);
		check_new_ss(c, new_ss, newcpl, ext, &ss_lo, &ss_hi);
		seg_from_desc(&nss, new_ss, ss_lo, ss_hi);
		if (vm) {
			frame[n++] = c->seg[SEG_GS].sel;
			frame[n++] = c->seg[SEG_FS].sel;
			frame[n++] = c->seg[SEG_DS].sel;
			frame[n++] = c->seg[SEG_ES].sel;
		}
		frame[n++] = c->seg[SEG_SS].sel;
		frame[n++] = c->gpr[REG_RSP] & (c->seg[SEG_SS].db ? 0xffffffffull : 0xffffull);
	} else {
		nss = c->seg[SEG_SS];
		sp = c->gpr[REG_RSP];
	}
	frame[n++] = rflags;
	frame[n++] = c->seg[SEG_CS].sel;
	frame[n++] = next_rip;
	if (has_error)
		frame[n++] = error;

	uint64_t smask = nss.db ? 0xffffffffull : 0xffffull;
	uint64_t upper = (nss.type & TY_E) ? smask : nss.limit;
	uint64_t lower = (nss.type & TY_E) ? (uint64_t)nss.limit + 1 : 0;
	uint32_t sserr = privsw ? (new_ss & 0xfffc) | ext : ext;
	for (int k = 0; k < n; k++) {
		uint64_t off = (sp - gsz * (k + 1)) & smask;
		if (off < lower || off + gsz - 1 > upper)
			cpu_raise(c, EXC_SS, sserr);
		stack_write(c, (nss.base + off) & 0xffffffff, gsz, frame[k], (int)newcpl);
	}
	uint64_t nsp = (sp - gsz * n) & smask;

	/* commit */
	if (privsw) {
		if (vm) {
			c->rflags &= ~(uint64_t)FL_VM;
			for (int s = SEG_ES; s <= SEG_GS; s++) {
				if (s == SEG_CS || s == SEG_SS)
					continue;
				seg_make_null(c, s);
				c->seg[s].base = 0;
			}
		}
		c->seg[SEG_SS] = nss;
		c->seg[SEG_SS].type |= TY_A;
	}
	if (nss.db)
		c->gpr[REG_RSP] = (uint32_t)nsp;
	else
		reg_set(c, REG_RSP, 2, nsp);
	c->cpl = (int)newcpl;
	seg_load_desc(c, SEG_CS, (uint16_t)((g.sel & 0xfffc) | newcpl), cs_lo, cs_hi);
	if (g.type == SYS_INT || g.type == SYS_INT16)
		c->rflags &= ~(uint64_t)FL_IF;
	c->rflags &= ~(uint64_t)(FL_TF | FL_NT | FL_RF | FL_VM);
	RIP(c) = target;
	seg_update_cache(c);
}

void cpu_deliver(struct cpu *c, int vector, int kind, bool has_error, uint32_t error,
		 uint64_t next_rip)
{
	c->halted = false;
	/* a trap after an instruction that ended at 4 GiB (64 KiB) returns to 0 */
	if (!in_64bit_mode(c) && next_rip > 0xffffffffull)
		next_rip &= c->seg[SEG_CS].db ? 0xffffffffull : 0xffffull;
	/* ICEBP's #DB is the debug exception that data breakpoints held by MOV SS
	 * or POP SS were waiting for: one delivery, their B0-B3 in DR6 (INT3 and
	 * INT n are no #DB: the held trap follows their transfer) */
	if (vector == EXC_DB && kind == DELIVER_PRIVSW && c->pending_db_trap) {
		c->dr[6] = (c->dr[6] & ~0xfull) | 0xffff0ff0ull | c->pending_db_trap;
		c->pending_db_trap = 0;
	}
	if (!(c->cr0 & CR0_PE))
		deliver_real(c, vector, next_rip);
	else if (in_long_mode(c))
		deliver_long(c, vector, kind, has_error, error, next_rip);
	else
		deliver_prot(c, vector, kind, has_error, error, next_rip);
	if (kind == DELIVER_NMI)
		c->nmi_masked = true;
	c->intr_shadow = 0;
	c->deliver_count++;
}
