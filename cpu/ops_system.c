/* SPDX-License-Identifier: MIT */
/*
 * System instructions: port I/O (IN/OUT; INS/OUTS are in ops_string.c),
 * MOV to/from control, debug and segment registers, LxS, descriptor-table
 * instructions, LAR/LSL/VERR/VERW/ARPL, TLB and cache control, MSRs,
 * SWAPGS, the FSGSBASE family and XGETBV/XSETBV. SDM vol. 2 for each
 * instruction, vol. 3A chapter 2 for the control registers.
 */
#include "decode.h"
#include "ops.h"
#include "sys.h"

/* ---- port I/O ---- */

/* i->aux: port from DX (0xffff marker) or the immediate; i->osz: size */
static uint16_t io_port(struct cpu *c, const struct insn *i)
{
	return i->aux2 ? (uint16_t)c->gpr[REG_RDX] : (uint16_t)i->aux;
}

static const struct insn *op_in(struct cpu *c, const struct insn *i)
{
	uint16_t port = io_port(c, i);
	io_check_perm(c, port, i->osz);
	if (unlikely(c->vmx_nonroot))
		vmx_exit_io(c, i, port, i->osz, true, false, false, !i->aux2);
	reg_set(c, REG_RAX, i->osz == 1 ? 1 : i->osz, io_in(c, port, i->osz));
	if (i->osz == 1)
		reg_set(c, 0, 1, c->gpr[REG_RAX] & 0xff);
	NEXT(c, i);
}

static const struct insn *op_out(struct cpu *c, const struct insn *i)
{
	uint16_t port = io_port(c, i);
	io_check_perm(c, port, i->osz);
	if (unlikely(c->vmx_nonroot))
		vmx_exit_io(c, i, port, i->osz, false, false, false, !i->aux2);
	io_out(c, port, i->osz, reg_get(c, REG_RAX, i->osz));
	NEXT(c, i);
}

static bool decode_io(struct dctx *d, struct insn *i, bool in)
{
	/* IN: op0 = AL/AX/EAX, op1 = imm8 or DX; OUT: op0 = imm8 or DX, op1 = AL/AX/EAX */
	const ZydisDecodedOperand *port = in ? &d->op[1] : &d->op[0];
	const ZydisDecodedOperand *acc = in ? &d->op[0] : &d->op[1];
	unsigned size;

	if (dreg(acc->reg.value, &size) < 0)
		return false;
	i->osz = (uint8_t)size;
	if (dop_is_imm(port)) {
		i->aux = (uint16_t)(port->imm.value.u & 0xff);
		i->aux2 = 0;
	} else {
		i->aux2 = 1;
	}
	i->fn = in ? op_in : op_out;
	return true;
}

static bool decode_in(struct dctx *d, struct insn *i)
{
	return decode_io(d, i, true);
}

static bool decode_out(struct dctx *d, struct insn *i)
{
	return decode_io(d, i, false);
}

/* ---- helpers ---- */

static void cpuid_query(struct cpu *c, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	out[0] = out[1] = out[2] = out[3] = 0;
	if (c->ops->cpuid)
		c->ops->cpuid(c->opaque, leaf, sub, out);
}

/* protected mode outside VM86 */
static void require_prot(struct cpu *c)
{
	if (!(c->cr0 & CR0_PE) || (c->rflags & FL_VM))
		cpu_raise_noerr(c, EXC_UD);
}

/* CR4.UMIP: SGDT SIDT SLDT STR SMSW at CPL > 0 */
static void umip_check(struct cpu *c)
{
	if ((c->cr4 & CR4_UMIP) && c->cpl > 0)
		cpu_raise(c, EXC_GP, 0);
}

/* ZF as the result of LAR/LSL/VERR/VERW/ARPL */
static void set_zf(struct cpu *c, bool z)
{
	cc_materialize(c);
	if (z)
		c->rflags |= FL_ZF;
	else
		c->rflags &= ~(uint64_t)FL_ZF;
}

/* A 16-bit selector operand: register (r2) or memory. */
static uint16_t sel_operand(struct cpu *c, const struct insn *i)
{
	if (i->flags & INSN_MEM)
		return (uint16_t)load_op(c, i, 2);
	return (uint16_t)c->gpr[i->r2];
}

/* Store a 16-bit system value: memory gets 16 bits, a register osz bits zero-extended. */
static void sel_store(struct cpu *c, const struct insn *i, uint64_t v)
{
	if (i->flags & INSN_MEM)
		store_op(c, i, 2, v & 0xffff);
	else
		reg_set(c, i->r1, i->osz, i->osz == 2 ? (v & 0xffff) : v);
}

/* Physical address width as the page walker uses it */
static uint64_t cr3_reserved_lm(const struct cpu *c)
{
	return ~((1ull << c->maxphyaddr) - 1);
}

/* PAE paging outside long mode: the PDPTEs are loaded with CR3 (SDM 4.4.1) */
static void check_pdptes(struct cpu *c, uint64_t cr3)
{
	uint64_t rsvd = cr3_reserved_lm(c) | 0x1e6ull | (1ull << 63);
	for (int k = 0; k < 4; k++) {
		uint64_t *p = mem_gpa_ptr(c, (cr3 & 0xffffffe0ull) + 8 * k, 8, false);
		uint64_t e = p ? __atomic_load_n(p, __ATOMIC_RELAXED) : 0;
		if ((e & 1) && (e & rsvd))
			cpu_raise(c, EXC_GP, 0);
	}
}

static bool pae_legacy_paging(uint64_t cr0, uint64_t cr4, uint64_t efer)
{
	return (cr0 & CR0_PG) && (cr4 & CR4_PAE) && !(efer & EFER_LMA);
}

/* ---- control registers ---- */

#define CR0_VALID                                                                                  \
	(CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_NW | CR0_CD | \
	 CR0_PG)

void cpu_write_cr0(struct cpu *c, uint64_t v)
{
	uint64_t old = c->cr0, efer = c->efer;

	if (v >> 32)
		cpu_raise(c, EXC_GP, 0);
	v = (v | CR0_ET) & CR0_VALID; /* reserved bits 31:0 are ignored (SDM 2.5) */
	if ((v & CR0_PG) && !(v & CR0_PE))
		cpu_raise(c, EXC_GP, 0);
	if ((v & CR0_NW) && !(v & CR0_CD))
		cpu_raise(c, EXC_GP, 0);
	/* in VMX operation the IA32_VMX_CR0_FIXED bits hold (SDM 23.8) */
	if (unlikely(c->vmx) && !vmx_cr0_allowed(c, v))
		cpu_raise(c, EXC_GP, 0);
	if (!(old & CR0_PG) && (v & CR0_PG) && (efer & EFER_LME)) {
		/* activating IA-32e mode (SDM 9.8.5) */
		if (!(c->cr4 & CR4_PAE) || c->seg[SEG_CS].l)
			cpu_raise(c, EXC_GP, 0);
		efer |= EFER_LMA;
	}
	if ((old & CR0_PG) && !(v & CR0_PG)) {
		if (in_64bit_mode(c) || (c->cr4 & CR4_PCIDE))
			cpu_raise(c, EXC_GP, 0);
		efer &= ~EFER_LMA;
	}
	if (!(old & CR0_PG) && pae_legacy_paging(v, c->cr4, efer))
		check_pdptes(c, c->cr3);
	c->cr0 = v;
	c->efer = efer;
	if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE | CR0_CD | CR0_NW))
		tlb_flush_all(c);
	seg_update_cache(c);
}

uint64_t cpu_cr4_supported(struct cpu *c)
{
	uint32_t l0[4], l1[4], l7[4] = {0, 0, 0, 0};
	uint64_t ok = CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE |
		      CR4_PCE | CR4_OSFXSR | CR4_OSXMMEXCPT;

	if (!c->ops->cpuid)
		return ok | CR4_FSGSBASE | CR4_PCIDE | CR4_OSXSAVE | CR4_SMEP | CR4_SMAP |
		       CR4_UMIP | CR4_PKE;
	cpuid_query(c, 0, 0, l0);
	cpuid_query(c, 1, 0, l1);
	if (l0[0] >= 7)
		cpuid_query(c, 7, 0, l7);
	if (l1[2] & (1u << 5))
		ok |= CR4_VMXE;
	if (l1[2] & (1u << 17))
		ok |= CR4_PCIDE;
	if (l1[2] & (1u << 26))
		ok |= CR4_OSXSAVE;
	if (l7[1] & (1u << 0))
		ok |= CR4_FSGSBASE;
	if (l7[1] & (1u << 7))
		ok |= CR4_SMEP;
	if (l7[1] & (1u << 20))
		ok |= CR4_SMAP;
	if (l7[2] & (1u << 2))
		ok |= CR4_UMIP;
	if (l7[2] & (1u << 3))
		ok |= CR4_PKE;
	if (l7[2] & (1u << 16))
		ok |= CR4_LA57;
	return ok;
}

void cpu_write_cr4(struct cpu *c, uint64_t v)
{
	uint64_t old = c->cr4;

	if (v & ~cpu_cr4_supported(c))
		cpu_raise(c, EXC_GP, 0);
	/* in VMX operation the IA32_VMX_CR4_FIXED bits hold (SDM 23.8) */
	if (unlikely(c->vmx) && !vmx_cr4_allowed(c, v))
		cpu_raise(c, EXC_GP, 0);
	if (in_long_mode(c)) {
		if (!(v & CR4_PAE) || ((v ^ old) & CR4_LA57))
			cpu_raise(c, EXC_GP, 0);
	}
	if ((v & CR4_PCIDE) && !(old & CR4_PCIDE)) {
		if (!in_long_mode(c) || (c->cr3 & 0xfff))
			cpu_raise(c, EXC_GP, 0);
	}
	if (pae_legacy_paging(c->cr0, v, c->efer) &&
	    ((v ^ old) & (CR4_PAE | CR4_PSE | CR4_PGE | CR4_SMEP)))
		check_pdptes(c, c->cr3);
	c->cr4 = v;
	if ((old ^ v) &
	    (CR4_PGE | CR4_PAE | CR4_PSE | CR4_SMEP | CR4_SMAP | CR4_PCIDE | CR4_LA57 | CR4_PKE))
		tlb_flush_all(c);
	seg_update_cache(c);
	if (old != v && c->ops->cr4_changed)
		c->ops->cr4_changed(c->opaque, old, v);
}

static void write_cr3(struct cpu *c, uint64_t v)
{
	uint64_t old = c->cr3;
	bool noflush = false;

	if (in_long_mode(c)) {
		if (c->cr4 & CR4_PCIDE) {
			noflush = (v >> 63) != 0;
			v &= ~(1ull << 63);
		}
		if (v & cr3_reserved_lm(c))
			cpu_raise(c, EXC_GP, 0);
	} else {
		v &= 0xffffffffull;
		if (pae_legacy_paging(c->cr0, c->cr4, c->efer))
			check_pdptes(c, v);
	}
	c->cr3 = v;
	/*
	 * The TLB is not tagged by PCID: entries of another address space must
	 * go even with the no-flush hint; the same PCID may keep them (SDM 4.10.4.1).
	 */
	if (!noflush || ((old ^ v) & 0xfff))
		tlb_flush_nonglobal(c);
}

static void write_cr8(struct cpu *c, uint64_t v)
{
	if (v & ~0xfull)
		cpu_raise(c, EXC_GP, 0);
	c->cr8 = v;
	if (c->ops->cr8_write)
		c->ops->cr8_write(c->opaque, v);
}

static uint64_t read_cr8(struct cpu *c)
{
	if (c->ops->cr8_read)
		c->cr8 = c->ops->cr8_read(c->opaque) & 0xf;
	return c->cr8;
}

/* aux = CR number, r1 = GPR, osz = 4 or 8 */
static const struct insn *op_mov_to_cr(struct cpu *c, const struct insn *i)
{
	uint64_t v = reg_get(c, i->r1, i->osz);

	require_cpl0(c);
	if (unlikely(c->vmx_nonroot))
		v = vmx_cr_write(c, i, i->aux, v, i->r1);
	switch (i->aux) {
	case 0:
		cpu_write_cr0(c, v);
		break;
	case 2:
		c->cr2 = v;
		break;
	case 3:
		write_cr3(c, v);
		break;
	case 4:
		cpu_write_cr4(c, v);
		break;
	case 8:
		write_cr8(c, v);
		break;
	default:
		cpu_raise_noerr(c, EXC_UD);
	}
	END_BLOCK(c, i);
}

static const struct insn *op_mov_from_cr(struct cpu *c, const struct insn *i)
{
	uint64_t v;

	require_cpl0(c);
	switch (i->aux) {
	case 0:
		v = c->cr0;
		break;
	case 2:
		v = c->cr2;
		break;
	case 3:
		v = c->cr3;
		break;
	case 4:
		v = c->cr4;
		break;
	case 8:
		v = read_cr8(c);
		break;
	default:
		cpu_raise_noerr(c, EXC_UD);
	}
	if (unlikely(c->vmx_nonroot))
		v = vmx_cr_read(c, i, i->aux, v, i->r1);
	reg_set(c, i->r1, i->osz, v);
	NEXT(c, i);
}

/* ---- debug registers (SDM vol. 3B, 17.2) ---- */

#define DR6_FIXED1   0xffff0ff0ull
#define DR6_VOLATILE 0xe00full
#define DR7_FIXED1   0x400ull
#define DR7_VOLATILE 0xffff2bffull
#define DR7_GD	     (1ull << 13)
#define DR6_BD	     (1ull << 13)

static int dr_access(struct cpu *c, unsigned n)
{
	require_cpl0(c);
	if (n == 4 || n == 5) {
		if (c->cr4 & CR4_DE)
			cpu_raise_noerr(c, EXC_UD);
		n += 2;
	}
	if (n > 7)
		cpu_raise_noerr(c, EXC_UD);
	if (c->dr[7] & DR7_GD) {
		/* general detect: a fault, GD is cleared for the handler */
		c->dr[6] = (c->dr[6] & ~0xfull) | DR6_BD | DR6_FIXED1;
		c->dr[7] &= ~DR7_GD;
		cpu_recompute_slow_mode(c);
		cpu_raise_noerr(c, EXC_DB);
	}
	return (int)n;
}

static const struct insn *op_mov_to_dr(struct cpu *c, const struct insn *i)
{
	uint64_t v = reg_get(c, i->r1, i->osz);
	int n = dr_access(c, i->aux);

	if (n >= 6 && (v >> 32))
		cpu_raise(c, EXC_GP, 0);
	if (n < 4)
		c->dr[n] = v;
	else if (n == 6)
		c->dr[6] = (v & DR6_VOLATILE) | DR6_FIXED1;
	else
		c->dr[7] = (v & DR7_VOLATILE) | DR7_FIXED1;
	cpu_recompute_slow_mode(c);
	END_BLOCK(c, i);
}

static const struct insn *op_mov_from_dr(struct cpu *c, const struct insn *i)
{
	int n = dr_access(c, i->aux);
	reg_set(c, i->r1, i->osz, c->dr[n]);
	NEXT(c, i);
}

/* ---- segment registers ---- */

/* aux = SEG_*, r2 = source GPR or memory */
static const struct insn *op_mov_to_sreg(struct cpu *c, const struct insn *i)
{
	uint16_t sel = sel_operand(c, i);
	seg_load(c, i->aux, sel);
	if (i->aux == SEG_SS) {
		c->intr_shadow = 2; /* SDM 6.8.3: MOV SS blocks events for one instruction */
		END_BLOCK(c, i);
	}
	NEXT(c, i);
}

static const struct insn *op_mov_from_sreg(struct cpu *c, const struct insn *i)
{
	sel_store(c, i, c->seg[i->aux].sel);
	NEXT(c, i);
}

/* LDS/LES/LFS/LGS/LSS r, m16:xx: aux = SEG_*, r1 = GPR, osz = offset size */
static const struct insn *op_lxs(struct cpu *c, const struct insn *i)
{
	uint64_t la = insn_la(c, i, i->osz + 2, ACC_R);
	uint64_t off = mem_read(c, la, i->osz);
	uint16_t sel = (uint16_t)mem_read(c, (la + i->osz) & c->la_mask, 2);
	seg_load(c, i->aux, sel);
	reg_set(c, i->r1, i->osz, off);
	if (i->aux == SEG_SS)
		END_BLOCK(c, i);
	NEXT(c, i);
}

bool decode_mov_sys(struct dctx *d, struct insn *i)
{
	const ZydisDecodedOperand *o0 = &d->op[0], *o1 = &d->op[1];
	unsigned size;
	int r, s;

	if (dop_is_reg(o0) && o0->reg.value >= ZYDIS_REGISTER_CR0 &&
	    o0->reg.value <= ZYDIS_REGISTER_CR15) {
		r = dreg(o1->reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
		i->osz = (uint8_t)size;
		i->aux = (uint16_t)(o0->reg.value - ZYDIS_REGISTER_CR0);
		if (i->aux == 8 && d->mode != ZYDIS_MACHINE_MODE_LONG_64)
			return false;
		i->fn = op_mov_to_cr;
		d->ends_block = true;
		return true;
	}
	if (dop_is_reg(o1) && o1->reg.value >= ZYDIS_REGISTER_CR0 &&
	    o1->reg.value <= ZYDIS_REGISTER_CR15) {
		r = dreg(o0->reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
		i->osz = (uint8_t)size;
		i->aux = (uint16_t)(o1->reg.value - ZYDIS_REGISTER_CR0);
		if (i->aux == 8 && d->mode != ZYDIS_MACHINE_MODE_LONG_64)
			return false;
		i->fn = op_mov_from_cr;
		return true;
	}
	if (dop_is_reg(o0) && o0->reg.value >= ZYDIS_REGISTER_DR0 &&
	    o0->reg.value <= ZYDIS_REGISTER_DR15) {
		r = dreg(o1->reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
		i->osz = (uint8_t)size;
		i->aux = (uint16_t)(o0->reg.value - ZYDIS_REGISTER_DR0);
		i->fn = op_mov_to_dr;
		d->ends_block = true;
		return true;
	}
	if (dop_is_reg(o1) && o1->reg.value >= ZYDIS_REGISTER_DR0 &&
	    o1->reg.value <= ZYDIS_REGISTER_DR15) {
		r = dreg(o0->reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
		i->osz = (uint8_t)size;
		i->aux = (uint16_t)(o1->reg.value - ZYDIS_REGISTER_DR0);
		i->fn = op_mov_from_dr;
		return true;
	}
	if (dop_is_reg(o0) && (s = dsreg(o0->reg.value)) >= 0) {
		if (s == SEG_CS)
			return false; /* MOV CS is #UD */
		i->aux = (uint16_t)s;
		if (dop_is_reg(o1)) {
			r = dreg(o1->reg.value, &size);
			if (r < 0)
				return false;
			i->r2 = (uint8_t)r;
		} else if (!dmem(d, o1, i)) {
			return false;
		}
		i->fn = op_mov_to_sreg;
		if (s == SEG_SS)
			d->ends_block = true;
		return true;
	}
	if (dop_is_reg(o1) && (s = dsreg(o1->reg.value)) >= 0) {
		i->aux = (uint16_t)s;
		if (dop_is_reg(o0)) {
			r = dreg(o0->reg.value, &size);
			if (r < 0)
				return false;
			i->r1 = (uint8_t)r;
			i->osz = (uint8_t)size;
		} else if (!dmem(d, o0, i)) {
			return false;
		}
		i->fn = op_mov_from_sreg;
		return true;
	}
	return false;
}

static bool decode_lxs(struct dctx *d, struct insn *i, int seg)
{
	unsigned size;
	int r = dreg(d->op[0].reg.value, &size);

	if (r < 0 || !dop_is_mem(&d->op[1]) || !dmem(d, &d->op[1], i))
		return false;
	i->r1 = (uint8_t)r;
	i->osz = (uint8_t)size;
	i->aux = (uint16_t)seg;
	i->fn = op_lxs;
	if (seg == SEG_SS)
		d->ends_block = true;
	return true;
}

#define LXS(name, seg)                                                                             \
	static bool decode_##name(struct dctx *d, struct insn *i)                                  \
	{                                                                                          \
		return decode_lxs(d, i, seg);                                                      \
	}
LXS(lds, SEG_DS)
LXS(les, SEG_ES)
LXS(lfs, SEG_FS)
LXS(lgs, SEG_GS)
LXS(lss, SEG_SS)

/* ---- descriptor tables ---- */

/* aux: 0 = GDTR, 1 = IDTR */
static const struct insn *op_lgdt(struct cpu *c, const struct insn *i)
{
	unsigned bsz = in_64bit_mode(c) ? 8 : 4;
	uint64_t la, base;
	uint16_t limit;

	require_cpl0(c);
	la = insn_la(c, i, 2 + bsz, ACC_R);
	limit = (uint16_t)mem_read(c, la, 2);
	base = mem_read(c, (la + 2) & c->la_mask, bsz);
	if (i->osz == 2 && bsz == 4)
		base &= 0xffffff; /* 16-bit operand size: 24-bit base */
	/* 64-bit mode: a non-canonical base is not loaded (KVM's em_lgdt_lidt, hardware) */
	if (bsz == 8 && !la_canonical(c, base))
		cpu_raise(c, EXC_GP, 0);
	if (i->aux) {
		c->idt_base = base;
		c->idt_limit = limit;
	} else {
		c->gdt_base = base;
		c->gdt_limit = limit;
	}
	NEXT(c, i);
}

static const struct insn *op_sgdt(struct cpu *c, const struct insn *i)
{
	unsigned bsz = in_64bit_mode(c) ? 8 : 4;
	uint64_t la;

	umip_check(c);
	la = insn_la(c, i, 2 + bsz, ACC_W);
	mem_probe_write(c, la, 2 + bsz);
	mem_write(c, la, 2, i->aux ? c->idt_limit : c->gdt_limit);
	mem_write(c, (la + 2) & c->la_mask, bsz, i->aux ? c->idt_base : c->gdt_base);
	NEXT(c, i);
}

static const struct insn *op_sldt(struct cpu *c, const struct insn *i)
{
	require_prot(c);
	umip_check(c);
	sel_store(c, i, c->seg[SEG_LDTR].sel);
	NEXT(c, i);
}

static const struct insn *op_str(struct cpu *c, const struct insn *i)
{
	require_prot(c);
	umip_check(c);
	sel_store(c, i, c->seg[SEG_TR].sel);
	NEXT(c, i);
}

/* Read a system descriptor for LLDT/LTR: GDT only, 16 bytes in long mode. */
static void read_sys_desc(struct cpu *c, uint16_t sel, uint32_t *lo, uint32_t *hi, uint64_t *high)
{
	if (sel & 4)
		cpu_raise(c, EXC_GP, sel & 0xfffc);
	seg_read_desc(c, sel, lo, hi, EXC_GP);
	*high = 0;
	if (in_long_mode(c)) {
		if (!seg_read_desc_high(c, sel, high))
			cpu_raise(c, EXC_GP, sel & 0xfffc);
		if ((*high >> 40) & 0x1f)
			cpu_raise(c, EXC_GP, sel & 0xfffc);
	}
}

static const struct insn *op_lldt(struct cpu *c, const struct insn *i)
{
	uint16_t sel;
	uint32_t lo, hi;
	uint64_t high;

	require_prot(c);
	require_cpl0(c);
	sel = sel_operand(c, i);
	if ((sel & ~3u) == 0) {
		c->seg[SEG_LDTR].sel = sel;
		c->seg[SEG_LDTR].unusable = 1;
		c->seg[SEG_LDTR].present = 0;
		NEXT(c, i);
	}
	read_sys_desc(c, sel, &lo, &hi, &high);
	if (D_S(hi) || D_TYPE(hi) != SYS_LDT)
		cpu_raise(c, EXC_GP, sel & 0xfffc);
	if (!D_P(hi))
		cpu_raise(c, EXC_NP, sel & 0xfffc);
	if (in_long_mode(c) && !la_canonical(c, ((high & 0xffffffffull) << 32)))
		cpu_raise(c, EXC_GP, sel & 0xfffc);
	seg_from_desc(&c->seg[SEG_LDTR], sel, lo, hi);
	c->seg[SEG_LDTR].base |= (high & 0xffffffffull) << 32;
	seg_update_cache(c);
	NEXT(c, i);
}

static const struct insn *op_ltr(struct cpu *c, const struct insn *i)
{
	uint16_t sel;
	uint32_t lo, hi;
	uint64_t high;
	unsigned type;

	require_prot(c);
	require_cpl0(c);
	sel = sel_operand(c, i);
	if ((sel & ~3u) == 0)
		cpu_raise(c, EXC_GP, 0);
	read_sys_desc(c, sel, &lo, &hi, &high);
	type = D_TYPE(hi);
	if (D_S(hi) || (type != SYS_TSS_AVAIL && (in_long_mode(c) || type != SYS_TSS16_AVAIL)))
		cpu_raise(c, EXC_GP, sel & 0xfffc);
	if (!D_P(hi))
		cpu_raise(c, EXC_NP, sel & 0xfffc);
	/* IA-32e mode: a non-canonical base faults before the TSS is made busy
	 * (as LLDT; KVM's __load_segment_descriptor) */
	if (in_long_mode(c) && !la_canonical(c, ((high & 0xffffffffull) << 32)))
		cpu_raise(c, EXC_GP, sel & 0xfffc);
	/* mark it busy (SDM vol. 2, LTR) */
	mem_write_slow(c, sys_la(c, c->gdt_base + (sel & ~7u) + 5), 1, ((hi >> 8) & 0xff) | 2,
		       ACCF_IMPLICIT_SV);
	hi |= 2u << 8;
	seg_from_desc(&c->seg[SEG_TR], sel, lo, hi);
	c->seg[SEG_TR].base |= (high & 0xffffffffull) << 32;
	seg_update_cache(c);
	NEXT(c, i);
}

/* ---- CR0 low word ---- */

static const struct insn *op_lmsw(struct cpu *c, const struct insn *i)
{
	uint64_t v;

	require_cpl0(c);
	v = sel_operand(c, i) & 0xf;
	/* LMSW can set PE but not clear it */
	v |= c->cr0 & CR0_PE;
	cpu_write_cr0(c, (c->cr0 & ~0xfull) | v);
	END_BLOCK(c, i);
}

static const struct insn *op_smsw(struct cpu *c, const struct insn *i)
{
	umip_check(c);
	if (i->flags & INSN_MEM)
		store_op(c, i, 2, c->cr0 & 0xffff);
	else
		reg_set(c, i->r1, i->osz, c->cr0);
	NEXT(c, i);
}

static const struct insn *op_clts(struct cpu *c, const struct insn *i)
{
	require_cpl0(c);
	if (unlikely(c->vmx_nonroot) && !vmx_clts(c, i))
		NEXT(c, i);
	c->cr0 &= ~CR0_TS;
	NEXT(c, i);
}

/* ---- LAR, LSL, VERR, VERW, ARPL ---- */

/* The descriptor of sel if LAR/LSL/VERx may see it at CPL/RPL; false: ZF=0. */
static bool visible_desc(struct cpu *c, uint16_t sel, uint32_t *lo, uint32_t *hi)
{
	unsigned rpl = sel & 3;

	if ((sel & ~3u) == 0)
		return false;
	if (!seg_read_desc(c, sel, lo, hi, -1))
		return false;
	if (desc_is_conforming(*hi))
		return true;
	return D_DPL(*hi) >= (unsigned)c->cpl && D_DPL(*hi) >= rpl;
}

static bool lar_type_ok(struct cpu *c, uint32_t hi, bool lsl)
{
	if (D_S(hi))
		return true;
	switch (D_TYPE(hi)) {
	case SYS_LDT:
	case SYS_TSS_AVAIL:
	case SYS_TSS_BUSY:
		return true;
	case SYS_TSS16_AVAIL:
	case SYS_TSS16_BUSY:
		return !in_long_mode(c);
	case SYS_CALL:
		return !lsl;
	case SYS_CALL16:
	case SYS_TASK:
		return !lsl && !in_long_mode(c);
	default:
		return false;
	}
}

/* aux = 0 LAR, 1 LSL */
static const struct insn *op_lar_lsl(struct cpu *c, const struct insn *i)
{
	uint32_t lo, hi;
	uint16_t sel;
	bool ok;

	require_prot(c);
	sel = sel_operand(c, i);
	ok = visible_desc(c, sel, &lo, &hi) && lar_type_ok(c, hi, i->aux);
	set_zf(c, ok);
	if (ok) {
		uint64_t v = i->aux ? desc_limit(lo, hi) : (hi & 0x00f0ff00u);
		reg_set(c, i->r1, i->osz, v & size_mask(i->osz));
	}
	NEXT(c, i);
}

/* aux = 0 VERR, 1 VERW */
static const struct insn *op_verx(struct cpu *c, const struct insn *i)
{
	uint32_t lo, hi;
	uint16_t sel;
	bool ok;

	require_prot(c);
	sel = sel_operand(c, i);
	ok = visible_desc(c, sel, &lo, &hi) && D_S(hi);
	if (ok) {
		unsigned t = D_TYPE(hi);
		if (i->aux)
			ok = !(t & TY_CODE) && (t & TY_W);
		else
			ok = !(t & TY_CODE) || (t & TY_R);
	}
	set_zf(c, ok);
	NEXT(c, i);
}

/*
 * ARPL r/m16, r16. A memory destination in a segment that is not writable
 * (a code segment through CS:, a read-only data segment): Intel faults #GP(0)
 * whether or not ARPL changes it (SDM vol. 2, ARPL, "Protected Mode
 * Exceptions"); AMD reads it and faults only when it writes the new RPL
 * (VB_ARPL_WRITE_CHK; seen on an EPYC Zen 3 in compatibility mode, with CS:
 * and with a read-only LDT data segment). Page protection: read first, a
 * write only to change it, on both.
 */
static const struct insn *op_arpl(struct cpu *c, const struct insn *i)
{
	uint16_t dst, src = (uint16_t)c->gpr[i->r2];
	uint64_t la = 0;
	bool lazy = (c->vflags & VB_ARPL_WRITE_CHK) != 0;

	require_prot(c);
	if (i->flags & INSN_MEM) {
		la = insn_la(c, i, 2, lazy ? ACC_R : ACC_W);
		dst = (uint16_t)mem_read(c, la, 2);
	} else {
		dst = (uint16_t)c->gpr[i->r1];
	}
	if ((dst & 3) < (src & 3)) {
		dst = (uint16_t)((dst & ~3u) | (src & 3));
		if ((i->flags & INSN_MEM) && lazy)
			la = insn_la(c, i, 2, ACC_W);
		if (i->flags & INSN_MEM)
			mem_write(c, la, 2, dst);
		else
			reg_set(c, i->r1, 2, dst);
		set_zf(c, true);
	} else {
		set_zf(c, false);
	}
	NEXT(c, i);
}

/* ---- TLB and caches ---- */

static const struct insn *op_invlpg(struct cpu *c, const struct insn *i)
{
	require_cpl0(c);
	/* no segment checks: the linear address is invalidated (SDM vol. 2, INVLPG) */
	tlb_flush_page(c, (c->segbase[i->seg] + insn_ea(c, i)) & c->la_mask);
	END_BLOCK(c, i);
}

static const struct insn *op_invpcid(struct cpu *c, const struct insn *i)
{
	uint64_t type = reg_get(c, i->r1, i->osz), la, d0, d1;

	require_cpl0(c);
	la = insn_la(c, i, 16, ACC_R);
	d0 = mem_read(c, la, 8);
	d1 = mem_read(c, (la + 8) & c->la_mask, 8);
	if (type > 3 || (d0 >> 12))
		cpu_raise(c, EXC_GP, 0);
	switch (type) {
	case 0:
		if (((d0 & 0xfff) && !(c->cr4 & CR4_PCIDE)) || !la_canonical(c, d1))
			cpu_raise(c, EXC_GP, 0);
		tlb_flush_page(c, d1);
		break;
	case 1:
		if ((d0 & 0xfff) && !(c->cr4 & CR4_PCIDE))
			cpu_raise(c, EXC_GP, 0);
		tlb_flush_nonglobal(c);
		break;
	case 2:
		tlb_flush_all(c);
		break;
	default:
		tlb_flush_nonglobal(c);
		break;
	}
	END_BLOCK(c, i);
}

static const struct insn *op_wbinvd(struct cpu *c, const struct insn *i)
{
	require_cpl0(c);
	NEXT(c, i);
}

/* CLFLUSH family: the address is checked like a byte read, nothing else happens */
static const struct insn *op_clflush(struct cpu *c, const struct insn *i)
{
	uint64_t la = insn_la(c, i, 1, ACC_R);
	struct walk_result w;

	if (in_long_mode(c) && !la_canonical(c, la))
		cpu_raise(c, i->seg == SEG_SS ? EXC_SS : EXC_GP, 0);
	if (c->cr0 & CR0_PG) {
		int err = paging_walk(c, la, ACC_R, c->cpl, 0, &w);
		if (err) {
			c->cr2 = la;
			cpu_raise(c, EXC_PF, (uint32_t)err & 0xffff);
		}
	}
	NEXT(c, i);
}

/* ---- MSRs ---- */

static const struct insn *op_rdmsr(struct cpu *c, const struct insn *i)
{
	uint64_t v;

	require_cpl0(c);
	if (unlikely(c->vmx_nonroot))
		vmx_exit_msr(c, i, (uint32_t)c->gpr[REG_RCX], false);
	v = msr_read_guest(c, (uint32_t)c->gpr[REG_RCX]);
	c->gpr[REG_RAX] = (uint32_t)v;
	c->gpr[REG_RDX] = v >> 32;
	NEXT(c, i);
}

static const struct insn *op_wrmsr(struct cpu *c, const struct insn *i)
{
	uint64_t v = (uint32_t)c->gpr[REG_RAX] | (c->gpr[REG_RDX] << 32);

	require_cpl0(c);
	if (unlikely(c->vmx_nonroot))
		vmx_exit_msr(c, i, (uint32_t)c->gpr[REG_RCX], true);
	msr_write_guest(c, (uint32_t)c->gpr[REG_RCX], v);
	END_BLOCK(c, i);
}

static const struct insn *op_rdpmc(struct cpu *c, const struct insn *i)
{
	(void)i;
	/* no performance counters: every counter index is invalid */
	cpu_raise(c, EXC_GP, 0);
}

/* ---- 64-bit mode: SWAPGS, FSGSBASE ---- */

static const struct insn *op_swapgs(struct cpu *c, const struct insn *i)
{
	uint64_t t;

	if (!in_64bit_mode(c))
		cpu_raise_noerr(c, EXC_UD);
	require_cpl0(c);
	t = c->seg[SEG_GS].base;
	c->seg[SEG_GS].base = c->kernel_gs_base;
	c->kernel_gs_base = t;
	seg_update_cache(c);
	NEXT(c, i);
}

/* aux: SEG_FS or SEG_GS; aux2: 1 = write */
static const struct insn *op_fsgsbase(struct cpu *c, const struct insn *i)
{
	if (!in_64bit_mode(c) || !(c->cr4 & CR4_FSGSBASE))
		cpu_raise_noerr(c, EXC_UD);
	if (i->aux2) {
		uint64_t v = reg_get(c, i->r1, i->osz);
		if (!la_canonical(c, v))
			cpu_raise(c, EXC_GP, 0);
		c->seg[i->aux].base = v;
		seg_update_cache(c);
	} else {
		reg_set(c, i->r1, i->osz, c->seg[i->aux].base);
	}
	NEXT(c, i);
}

/* ---- XCR0 ---- */

static const struct insn *op_xgetbv(struct cpu *c, const struct insn *i)
{
	if (!(c->cr4 & CR4_OSXSAVE))
		cpu_raise_noerr(c, EXC_UD);
	if ((uint32_t)c->gpr[REG_RCX] != 0)
		cpu_raise(c, EXC_GP, 0);
	c->gpr[REG_RAX] = (uint32_t)c->xcr0;
	c->gpr[REG_RDX] = c->xcr0 >> 32;
	NEXT(c, i);
}

static const struct insn *op_xsetbv(struct cpu *c, const struct insn *i)
{
	uint64_t v = (uint32_t)c->gpr[REG_RAX] | (c->gpr[REG_RDX] << 32);

	if (!(c->cr4 & CR4_OSXSAVE))
		cpu_raise_noerr(c, EXC_UD);
	require_cpl0(c);
	if ((uint32_t)c->gpr[REG_RCX] != 0 || cpu_set_xcr0(c, v) != 0)
		cpu_raise(c, EXC_GP, 0);
	END_BLOCK(c, i);
}

/* ---- decoders ---- */

#define SIMPLE(name, fnp, ends)                                                                    \
	static bool decode_##name(struct dctx *d, struct insn *i)                                  \
	{                                                                                          \
		d->ends_block = ends;                                                              \
		i->fn = fnp;                                                                       \
		return true;                                                                       \
	}
SIMPLE(clts, op_clts, false)
SIMPLE(wbinvd, op_wbinvd, false)
SIMPLE(rdmsr, op_rdmsr, false)
SIMPLE(wrmsr, op_wrmsr, true)
SIMPLE(rdpmc, op_rdpmc, true)
SIMPLE(swapgs, op_swapgs, false)
SIMPLE(xgetbv, op_xgetbv, false)
SIMPLE(xsetbv, op_xsetbv, true)

/* memory-only operand: op[0] */
static bool decode_mem0(struct dctx *d, struct insn *i, insn_fn fn, uint16_t aux, bool ends)
{
	if (!dop_is_mem(&d->op[0]) || !dmem(d, &d->op[0], i))
		return false;
	i->aux = aux;
	i->fn = fn;
	d->ends_block = ends;
	return true;
}

static bool decode_lgdt(struct dctx *d, struct insn *i)
{
	return decode_mem0(d, i, op_lgdt, 0, false);
}
static bool decode_lidt(struct dctx *d, struct insn *i)
{
	return decode_mem0(d, i, op_lgdt, 1, false);
}
static bool decode_sgdt(struct dctx *d, struct insn *i)
{
	return decode_mem0(d, i, op_sgdt, 0, false);
}
static bool decode_sidt(struct dctx *d, struct insn *i)
{
	return decode_mem0(d, i, op_sgdt, 1, false);
}
static bool decode_invlpg(struct dctx *d, struct insn *i)
{
	return decode_mem0(d, i, op_invlpg, 0, true);
}
static bool decode_clflush(struct dctx *d, struct insn *i)
{
	return decode_mem0(d, i, op_clflush, 0, false);
}

/* r/m16 source operand in op[opn] into r2 or memory */
static bool decode_rm_src(struct dctx *d, struct insn *i, unsigned opn)
{
	const ZydisDecodedOperand *o = &d->op[opn];
	unsigned size;

	if (dop_is_reg(o)) {
		int r = dreg(o->reg.value, &size);
		if (r < 0)
			return false;
		i->r2 = (uint8_t)r;
		return true;
	}
	return dop_is_mem(o) && dmem(d, o, i);
}

/* r/m destination operand in op[0] into r1/osz or memory */
static bool decode_rm_dst(struct dctx *d, struct insn *i)
{
	const ZydisDecodedOperand *o = &d->op[0];
	unsigned size;

	if (dop_is_reg(o)) {
		int r = dreg(o->reg.value, &size);
		if (r < 0)
			return false;
		i->r1 = (uint8_t)r;
		i->osz = (uint8_t)size;
		return true;
	}
	return dop_is_mem(o) && dmem(d, o, i);
}

static bool decode_lldt(struct dctx *d, struct insn *i)
{
	i->fn = op_lldt;
	return decode_rm_src(d, i, 0);
}
static bool decode_ltr(struct dctx *d, struct insn *i)
{
	i->fn = op_ltr;
	return decode_rm_src(d, i, 0);
}
static bool decode_lmsw(struct dctx *d, struct insn *i)
{
	i->fn = op_lmsw;
	d->ends_block = true;
	return decode_rm_src(d, i, 0);
}
static bool decode_verr(struct dctx *d, struct insn *i)
{
	i->fn = op_verx;
	i->aux = 0;
	return decode_rm_src(d, i, 0);
}
static bool decode_verw(struct dctx *d, struct insn *i)
{
	i->fn = op_verx;
	i->aux = 1;
	return decode_rm_src(d, i, 0);
}
static bool decode_sldt(struct dctx *d, struct insn *i)
{
	i->fn = op_sldt;
	return decode_rm_dst(d, i);
}
static bool decode_str(struct dctx *d, struct insn *i)
{
	i->fn = op_str;
	return decode_rm_dst(d, i);
}
static bool decode_smsw(struct dctx *d, struct insn *i)
{
	i->fn = op_smsw;
	return decode_rm_dst(d, i);
}

static bool decode_lar_lsl(struct dctx *d, struct insn *i, uint16_t lsl)
{
	unsigned size;
	int r = dreg(d->op[0].reg.value, &size);

	if (r < 0)
		return false;
	i->r1 = (uint8_t)r;
	i->osz = (uint8_t)size;
	i->aux = lsl;
	i->fn = op_lar_lsl;
	return decode_rm_src(d, i, 1);
}
static bool decode_lar(struct dctx *d, struct insn *i)
{
	return decode_lar_lsl(d, i, 0);
}
static bool decode_lsl(struct dctx *d, struct insn *i)
{
	return decode_lar_lsl(d, i, 1);
}

static bool decode_arpl(struct dctx *d, struct insn *i)
{
	unsigned size;
	int r = dreg(d->op[1].reg.value, &size);

	if (r < 0 || !decode_rm_dst(d, i))
		return false;
	i->r2 = (uint8_t)r;
	i->fn = op_arpl;
	return true;
}

static bool decode_invpcid(struct dctx *d, struct insn *i)
{
	unsigned size;
	int r = dreg(d->op[0].reg.value, &size);

	if (r < 0 || !dop_is_mem(&d->op[1]) || !dmem(d, &d->op[1], i))
		return false;
	i->r1 = (uint8_t)r;
	i->osz = (uint8_t)size;
	i->fn = op_invpcid;
	d->ends_block = true;
	return true;
}

static bool decode_fsgs(struct dctx *d, struct insn *i, int seg, bool wr)
{
	unsigned size;
	int r = dreg(d->op[0].reg.value, &size);

	if (r < 0)
		return false;
	i->r1 = (uint8_t)r;
	i->osz = (uint8_t)size;
	i->aux = (uint16_t)seg;
	i->aux2 = wr;
	i->fn = op_fsgsbase;
	return true;
}
static bool decode_rdfsbase(struct dctx *d, struct insn *i)
{
	return decode_fsgs(d, i, SEG_FS, false);
}
static bool decode_rdgsbase(struct dctx *d, struct insn *i)
{
	return decode_fsgs(d, i, SEG_GS, false);
}
static bool decode_wrfsbase(struct dctx *d, struct insn *i)
{
	return decode_fsgs(d, i, SEG_FS, true);
}
static bool decode_wrgsbase(struct dctx *d, struct insn *i)
{
	return decode_fsgs(d, i, SEG_GS, true);
}

/* STAC/CLAC (SDM vol. 2): set/clear EFLAGS.AC for SMAP; CPL 0 and SMAP in CPUID */
static const struct insn *op_stac_clac(struct cpu *c, const struct insn *i)
{
	uint32_t l7[4] = {0, 0, 0, 0};
	cpuid_query(c, 7, 0, l7);
	if (!(l7[1] & (1u << 20)) || c->cpl > 0)
		cpu_raise_noerr(c, EXC_UD);
	if (i->aux)
		c->rflags |= FL_AC;
	else
		c->rflags &= ~(uint64_t)FL_AC;
	tlb_select(c);
	NEXT(c, i);
}

static bool decode_stac(struct dctx *d, struct insn *i)
{
	(void)d;
	i->aux = 1;
	i->fn = op_stac_clac;
	return true;
}

static bool decode_clac(struct dctx *d, struct insn *i)
{
	(void)d;
	i->aux = 0;
	i->fn = op_stac_clac;
	return true;
}

void ops_system_register(void)
{
	decode_register(ZYDIS_MNEMONIC_STAC, decode_stac);
	decode_register(ZYDIS_MNEMONIC_CLAC, decode_clac);
	decode_register(ZYDIS_MNEMONIC_IN, decode_in);
	decode_register(ZYDIS_MNEMONIC_OUT, decode_out);
	decode_register(ZYDIS_MNEMONIC_LDS, decode_lds);
	decode_register(ZYDIS_MNEMONIC_LES, decode_les);
	decode_register(ZYDIS_MNEMONIC_LFS, decode_lfs);
	decode_register(ZYDIS_MNEMONIC_LGS, decode_lgs);
	decode_register(ZYDIS_MNEMONIC_LSS, decode_lss);
	decode_register(ZYDIS_MNEMONIC_LGDT, decode_lgdt);
	decode_register(ZYDIS_MNEMONIC_LIDT, decode_lidt);
	decode_register(ZYDIS_MNEMONIC_SGDT, decode_sgdt);
	decode_register(ZYDIS_MNEMONIC_SIDT, decode_sidt);
	decode_register(ZYDIS_MNEMONIC_LLDT, decode_lldt);
	decode_register(ZYDIS_MNEMONIC_SLDT, decode_sldt);
	decode_register(ZYDIS_MNEMONIC_LTR, decode_ltr);
	decode_register(ZYDIS_MNEMONIC_STR, decode_str);
	decode_register(ZYDIS_MNEMONIC_LMSW, decode_lmsw);
	decode_register(ZYDIS_MNEMONIC_SMSW, decode_smsw);
	decode_register(ZYDIS_MNEMONIC_CLTS, decode_clts);
	decode_register(ZYDIS_MNEMONIC_LAR, decode_lar);
	decode_register(ZYDIS_MNEMONIC_LSL, decode_lsl);
	decode_register(ZYDIS_MNEMONIC_VERR, decode_verr);
	decode_register(ZYDIS_MNEMONIC_VERW, decode_verw);
	decode_register(ZYDIS_MNEMONIC_ARPL, decode_arpl);
	decode_register(ZYDIS_MNEMONIC_INVLPG, decode_invlpg);
	decode_register(ZYDIS_MNEMONIC_INVPCID, decode_invpcid);
	decode_register(ZYDIS_MNEMONIC_WBINVD, decode_wbinvd);
	decode_register(ZYDIS_MNEMONIC_INVD, decode_wbinvd);
	decode_register(ZYDIS_MNEMONIC_CLFLUSH, decode_clflush);
	decode_register(ZYDIS_MNEMONIC_CLFLUSHOPT, decode_clflush);
	decode_register(ZYDIS_MNEMONIC_CLWB, decode_clflush);
	decode_register(ZYDIS_MNEMONIC_RDMSR, decode_rdmsr);
	decode_register(ZYDIS_MNEMONIC_WRMSR, decode_wrmsr);
	decode_register(ZYDIS_MNEMONIC_RDPMC, decode_rdpmc);
	decode_register(ZYDIS_MNEMONIC_SWAPGS, decode_swapgs);
	decode_register(ZYDIS_MNEMONIC_RDFSBASE, decode_rdfsbase);
	decode_register(ZYDIS_MNEMONIC_RDGSBASE, decode_rdgsbase);
	decode_register(ZYDIS_MNEMONIC_WRFSBASE, decode_wrfsbase);
	decode_register(ZYDIS_MNEMONIC_WRGSBASE, decode_wrgsbase);
	decode_register(ZYDIS_MNEMONIC_XGETBV, decode_xgetbv);
	decode_register(ZYDIS_MNEMONIC_XSETBV, decode_xsetbv);
}
