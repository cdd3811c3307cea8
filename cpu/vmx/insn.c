/* SPDX-License-Identifier: MIT */
/*
 * The VMX instructions (SDM vol. 3C, chapter 31 "VMX instruction
 * reference"): VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE.
 * Each follows its "Operation" pseudocode: #UD first, then (in VMX
 * non-root operation) the VM exit, then #GP for CPL > 0, then the
 * VMfail conditions in the SDM's order. Linux 6.1's nested.c (handle_vmxon
 * and friends) makes the same checks for its L1.
 */
#include "../decode.h"
#include "vmx_internal.h"

_Static_assert(VMCS_FIELDS_OFF + 8 * VF_COUNT <= VMCS_SIZE, "VMCS image too large");

/* ---- VMsucceed / VMfail (SDM 31.2) ---- */

void vmx_succeed(struct cpu *c)
{
	cc_materialize(c);
	c->rflags &= ~(uint64_t)FL_ARITH;
}

void vmx_fail_invalid(struct cpu *c)
{
	cc_materialize(c);
	c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | FL_CF;
}

void vmx_fail_valid(struct cpu *c, uint32_t err)
{
	cc_materialize(c);
	c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | FL_ZF;
	vmcs_set(c->vmx, VF_VM_INSTRUCTION_ERROR, err);
}

void vmx_fail(struct cpu *c, uint32_t err)
{
	if (c->vmx->cur == VMPTR_INVALID)
		vmx_fail_invalid(c);
	else
		vmx_fail_valid(c, err);
}

/* ---- common checks ---- */

static bool compat_mode(const struct cpu *c)
{
	return in_long_mode(c) && !in_64bit_mode(c);
}

/* in VMX non-root operation: the VM exit of a VMX instruction, with the
 * instruction information and (memory operands) the displacement as the
 * exit qualification (SDM 28.2.1, 28.2.5) */
static NORETURN void exit_vmx_insn(struct cpu *c, const struct insn *i, uint32_t reason)
{
	uint32_t info;
	uint64_t qual = 0;
	bool rw = reason == EXIT_VMREAD || reason == EXIT_VMWRITE;
	if (rw && i->aux) {
		info = (uint32_t)i->r2 << 3 | 1u << 10;
	} else {
		info = vmx_mem_insn_info(c, i);
		qual = i->base == GPR_RIP ? RIP(c) + (uint64_t)(int64_t)i->disp
					  : (uint64_t)(int64_t)i->disp;
	}
	if (rw)
		info |= (uint32_t)i->r1 << 28;
	else if (reason == EXIT_VMXOFF)
		info = 0, qual = 0;
	vmx_vmexit_info(c, reason, qual, i, info);
}

/* #UD outside VMX operation, in real, virtual-8086 and compatibility mode;
 * the VM exit in VMX non-root operation; #GP(0) at CPL > 0 */
static struct vmx *vmx_check(struct cpu *c, const struct insn *i, uint32_t reason)
{
	struct vmx *v = c->vmx;
	if (!v || !v->on || !(c->cr0 & CR0_PE) || (c->rflags & FL_VM) || compat_mode(c))
		cpu_raise_noerr(c, EXC_UD);
	if (v->guest)
		exit_vmx_insn(c, i, reason);
	require_cpl0(c);
	return v;
}

/* a 4 KiB aligned physical address within MAXPHYADDR */
static bool vmptr_ok(const struct cpu *c, uint64_t pa)
{
	return !(pa & 0xfff) && !(pa >> c->maxphyaddr);
}

static uint64_t read_m64(struct cpu *c, const struct insn *i)
{
	return mem_read(c, insn_la(c, i, 8, ACC_R), 8);
}

/* ---- VMXON / VMXOFF ---- */

static const struct insn *op_vmxon(struct cpu *c, const struct insn *i)
{
	struct vmx *v = c->vmx;
	if (!v || !(c->cr0 & CR0_PE) || !(c->cr4 & CR4_VMXE) || (c->rflags & FL_VM) ||
	    compat_mode(c))
		cpu_raise_noerr(c, EXC_UD);
	if (v->guest)
		exit_vmx_insn(c, i, EXIT_VMXON);
	if (v->on) {
		require_cpl0(c);
		vmx_fail(c, VMXERR_VMXON_IN_ROOT);
		END_BLOCK(c, i);
	}
	/* CR0/CR4 must satisfy the FIXED MSRs; IA32_FEATURE_CONTROL locked with
	 * VMX outside SMX enabled (SMX is not implemented) */
	uint64_t f0 = vmx_cap(c, MSR_VMX_CR0_FIXED0), f1 = vmx_cap(c, MSR_VMX_CR0_FIXED1);
	uint64_t g0 = vmx_cap(c, MSR_VMX_CR4_FIXED0), g1 = vmx_cap(c, MSR_VMX_CR4_FIXED1);
	if (c->cpl != 0 || (c->cr0 & f0) != f0 || (c->cr0 & ~f1) || (c->cr4 & g0) != g0 ||
	    (c->cr4 & ~g1) ||
	    (v->feature_control & (FEAT_CTL_LOCKED | FEAT_CTL_VMX_OUT_SMX)) !=
		(FEAT_CTL_LOCKED | FEAT_CTL_VMX_OUT_SMX))
		cpu_raise(c, EXC_GP, 0);
	uint64_t pa = read_m64(c, i);
	uint32_t rev;
	/* unbacked memory reads as all ones: a bad revision */
	if (!vmptr_ok(c, pa) || !vmx_read_phys32(c, pa, &rev) || rev != VMX_REVISION) {
		vmx_fail_invalid(c);
		END_BLOCK(c, i);
	}
	v->on = true;
	v->guest = false;
	v->vmxon_ptr = pa;
	v->cur = VMPTR_INVALID;
	/* VMXON clears address-range monitoring */
	atomic_store(&c->mon_line, 0);
	vmx_succeed(c);
	END_BLOCK(c, i);
}

static const struct insn *op_vmxoff(struct cpu *c, const struct insn *i)
{
	struct vmx *v = vmx_check(c, i, EXIT_VMXOFF);
	vmcs_flush(c);
	v->on = false;
	v->cur = VMPTR_INVALID;
	vmx_succeed(c);
	END_BLOCK(c, i);
}

/* ---- VMCS pointers ---- */

static const struct insn *op_vmclear(struct cpu *c, const struct insn *i)
{
	struct vmx *v = vmx_check(c, i, EXIT_VMCLEAR);
	uint64_t pa = read_m64(c, i);
	if (!vmptr_ok(c, pa)) {
		vmx_fail(c, VMXERR_VMCLEAR_INVALID_ADDRESS);
		END_BLOCK(c, i);
	}
	if (pa == v->vmxon_ptr) {
		vmx_fail(c, VMXERR_VMCLEAR_VMXON_POINTER);
		END_BLOCK(c, i);
	}
	/* the data of the VMCS goes to memory, its launch state becomes clear */
	if (pa == v->cur) {
		v->launch = VMCS_LAUNCH_CLEAR;
		vmcs_flush(c);
		v->cur = VMPTR_INVALID;
	} else {
		vmcs_mem_set_launch(c, pa, VMCS_LAUNCH_CLEAR);
	}
	vmx_succeed(c);
	END_BLOCK(c, i);
}

static const struct insn *op_vmptrld(struct cpu *c, const struct insn *i)
{
	struct vmx *v = vmx_check(c, i, EXIT_VMPTRLD);
	uint64_t pa = read_m64(c, i);
	if (!vmptr_ok(c, pa)) {
		vmx_fail(c, VMXERR_VMPTRLD_INVALID_ADDRESS);
		END_BLOCK(c, i);
	}
	if (pa == v->vmxon_ptr) {
		vmx_fail(c, VMXERR_VMPTRLD_VMXON_POINTER);
		END_BLOCK(c, i);
	}
	if (pa != v->cur) {
		uint32_t rev;
		/* bit 31 (shadow VMCS) is refused: VMCS shadowing is not offered */
		if (!vmx_read_phys32(c, pa, &rev) || rev != VMX_REVISION ||
		    !mem_gpa_ptr(c, pa, VMCS_SIZE, false)) {
			vmx_fail(c, VMXERR_VMPTRLD_INCORRECT_REVISION);
			END_BLOCK(c, i);
		}
		vmcs_flush(c);
		vmcs_load(c, pa);
	}
	vmx_succeed(c);
	END_BLOCK(c, i);
}

static const struct insn *op_vmptrst(struct cpu *c, const struct insn *i)
{
	struct vmx *v = vmx_check(c, i, EXIT_VMPTRST);
	mem_write(c, insn_la(c, i, 8, ACC_W), 8, v->cur);
	vmx_succeed(c);
	END_BLOCK(c, i);
}

/* ---- VMREAD / VMWRITE ---- */

/*
 * i->r1: the register holding the field encoding; i->r2: the register
 * operand (aux = 1) or none (memory operand). The other operand is 64 bits
 * wide in 64-bit mode, 32 bits otherwise (SDM: VMREAD/VMWRITE ignore
 * operand-size prefixes).
 */
static const struct insn *op_vmread(struct cpu *c, const struct insn *i)
{
	struct vmx *v = vmx_check(c, i, EXIT_VMREAD);
	unsigned sz = in_64bit_mode(c) ? 8 : 4;
	if (v->cur == VMPTR_INVALID) {
		vmx_fail_invalid(c);
		END_BLOCK(c, i);
	}
	uint64_t enc = reg_get(c, i->r1, sz);
	int slot = vmcs_slot_of(enc);
	if (slot < 0) {
		vmx_fail_valid(c, VMXERR_UNSUPPORTED_VMCS_COMPONENT);
		END_BLOCK(c, i);
	}
	uint64_t val = vmcs_read_enc(v, enc, slot);
	if (i->aux)
		reg_set(c, i->r2, sz, val);
	else
		mem_write(c, insn_la(c, i, sz, ACC_W), sz, val);
	vmx_succeed(c);
	END_BLOCK(c, i);
}

static const struct insn *op_vmwrite(struct cpu *c, const struct insn *i)
{
	struct vmx *v = vmx_check(c, i, EXIT_VMWRITE);
	unsigned sz = in_64bit_mode(c) ? 8 : 4;
	if (v->cur == VMPTR_INVALID) {
		vmx_fail_invalid(c);
		END_BLOCK(c, i);
	}
	uint64_t val = i->aux ? reg_get(c, i->r2, sz) : mem_read(c, insn_la(c, i, sz, ACC_R), sz);
	uint64_t enc = reg_get(c, i->r1, sz);
	int slot = vmcs_slot_of(enc);
	if (slot < 0) {
		vmx_fail_valid(c, VMXERR_UNSUPPORTED_VMCS_COMPONENT);
		END_BLOCK(c, i);
	}
	/* VM-exit information fields (type 1) are read-only: IA32_VMX_MISC[29]
	 * ("VMWRITE to any field") is not offered */
	if (((enc >> 10) & 3) == 1) {
		vmx_fail_valid(c, VMXERR_VMWRITE_READ_ONLY_COMPONENT);
		END_BLOCK(c, i);
	}
	/* the access-rights fields keep only their defined bits (Linux
	 * handle_vmwrite does the same, as some Intel processors do) */
	if (enc >= VE_GUEST_ES_AR_BYTES && enc <= VE_GUEST_TR_AR_BYTES)
		val &= 0x1f0ff;
	vmcs_write_enc(v, enc, slot, val);
	vmx_succeed(c);
	END_BLOCK(c, i);
}

/* ---- decoding ---- */

static bool decode_m64(struct dctx *d, struct insn *i, insn_fn fn)
{
	if (!dop_is_mem(&d->op[0]) || !dmem(d, &d->op[0], i))
		return false;
	i->fn = fn;
	d->ends_block = true;
	return true;
}

static bool decode_vmxon(struct dctx *d, struct insn *i)
{
	return decode_m64(d, i, op_vmxon);
}
static bool decode_vmclear(struct dctx *d, struct insn *i)
{
	return decode_m64(d, i, op_vmclear);
}
static bool decode_vmptrld(struct dctx *d, struct insn *i)
{
	return decode_m64(d, i, op_vmptrld);
}
static bool decode_vmptrst(struct dctx *d, struct insn *i)
{
	return decode_m64(d, i, op_vmptrst);
}

static bool decode_vmxoff(struct dctx *d, struct insn *i)
{
	i->fn = op_vmxoff;
	d->ends_block = true;
	return true;
}

static bool decode_vmlaunch(struct dctx *d, struct insn *i)
{
	i->fn = vmx_op_vmlaunch;
	d->ends_block = true;
	return true;
}
static bool decode_vmresume(struct dctx *d, struct insn *i)
{
	i->fn = vmx_op_vmresume;
	d->ends_block = true;
	return true;
}

/* VMREAD r/m, r (op 0 = r/m); VMWRITE r, r/m (op 1 = r/m) */
static bool decode_vmrw(struct dctx *d, struct insn *i, unsigned rm, unsigned reg, insn_fn fn)
{
	unsigned size;
	int r = dreg(d->op[reg].reg.value, &size);
	if (!dop_is_reg(&d->op[reg]) || r < 0)
		return false;
	i->r1 = (uint8_t)r;
	if (dop_is_reg(&d->op[rm])) {
		int r2 = dreg(d->op[rm].reg.value, &size);
		if (r2 < 0)
			return false;
		i->r2 = (uint8_t)r2;
		i->aux = 1;
	} else if (!dop_is_mem(&d->op[rm]) || !dmem(d, &d->op[rm], i)) {
		return false;
	}
	i->fn = fn;
	d->ends_block = true;
	return true;
}

static bool decode_vmread(struct dctx *d, struct insn *i)
{
	return decode_vmrw(d, i, 0, 1, op_vmread);
}
static bool decode_vmwrite(struct dctx *d, struct insn *i)
{
	return decode_vmrw(d, i, 1, 0, op_vmwrite);
}

void vmx_register(void)
{
	decode_register(ZYDIS_MNEMONIC_VMXON, decode_vmxon);
	decode_register(ZYDIS_MNEMONIC_VMXOFF, decode_vmxoff);
	decode_register(ZYDIS_MNEMONIC_VMCLEAR, decode_vmclear);
	decode_register(ZYDIS_MNEMONIC_VMPTRLD, decode_vmptrld);
	decode_register(ZYDIS_MNEMONIC_VMPTRST, decode_vmptrst);
	decode_register(ZYDIS_MNEMONIC_VMREAD, decode_vmread);
	decode_register(ZYDIS_MNEMONIC_VMWRITE, decode_vmwrite);
	decode_register(ZYDIS_MNEMONIC_VMLAUNCH, decode_vmlaunch);
	decode_register(ZYDIS_MNEMONIC_VMRESUME, decode_vmresume);
}
