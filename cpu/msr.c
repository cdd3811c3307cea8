/* SPDX-License-Identifier: MIT */
/* The architectural MSRs that cpu/ holds (SDM vol. 4). */
#include "internal.h"

/* at the vCPU's current width: 57 bits with CR4.LA57 (Linux 6.1's
 * is_noncanonical_address(), vcpu_virt_addr_bits()) */
static unsigned va_bits(const struct cpu *c)
{
	return (c->cr4 & CR4_LA57) ? 57 : 48;
}

static bool canonical_va(const struct cpu *c, uint64_t v)
{
	unsigned s = 64 - va_bits(c);
	return (uint64_t)((int64_t)(v << s) >> s) == v;
}

static bool pat_valid(uint64_t v)
{
	for (int k = 0; k < 8; k++) {
		unsigned t = (v >> (8 * k)) & 0xff;
		if (t != 0 && t != 1 && t != 4 && t != 5 && t != 6 && t != 7)
			return false;
	}
	return true;
}

static bool mtrr_index(uint32_t index, uint64_t **slot, struct cpu *c)
{
	static const uint32_t fixed[11] = {0x250, 0x258, 0x259, 0x268, 0x269, 0x26a,
					   0x26b, 0x26c, 0x26d, 0x26e, 0x26f};
	if (index >= 0x200 && index < 0x210) {
		*slot = &c->mtrr_var[index - 0x200];
		return true;
	}
	for (int k = 0; k < 11; k++) {
		if (fixed[k] == index) {
			*slot = &c->mtrr_fixed[k];
			return true;
		}
	}
	if (index == 0x2ff) {
		*slot = &c->mtrr_def_type;
		return true;
	}
	return false;
}

int cpu_msr_get(struct cpu *c, uint32_t index, uint64_t *value)
{
	uint64_t *slot;

	switch (index) {
	case MSR_EFER:
		*value = c->efer;
		return 0;
	case MSR_STAR:
		*value = c->star;
		return 0;
	case MSR_LSTAR:
		*value = c->lstar;
		return 0;
	case MSR_CSTAR:
		*value = c->cstar;
		return 0;
	case MSR_SYSCALL_MASK:
		*value = c->sfmask;
		return 0;
	case MSR_FS_BASE:
		*value = c->seg[SEG_FS].base;
		return 0;
	case MSR_GS_BASE:
		*value = c->seg[SEG_GS].base;
		return 0;
	case MSR_KERNEL_GS_BASE:
		*value = c->kernel_gs_base;
		return 0;
	case MSR_IA32_SYSENTER_CS:
		*value = c->sysenter_cs;
		return 0;
	case MSR_IA32_SYSENTER_ESP:
		*value = c->sysenter_esp;
		return 0;
	case MSR_IA32_SYSENTER_EIP:
		*value = c->sysenter_eip;
		return 0;
	case MSR_TSC_AUX:
		*value = c->tsc_aux;
		return 0;
	case MSR_IA32_CR_PAT:
		*value = c->pat;
		return 0;
	case MSR_IA32_DEBUGCTL:
		*value = c->debugctl;
		return 0;
	case MSR_IA32_MISC_ENABLE:
		*value = c->misc_enable;
		return 0;
	case MSR_IA32_APICBASE:
		*value = c->apic_base;
		return 0;
	case 0xfe: /* MTRRcap: 8 variable ranges, fixed ranges, write-combining */
		*value = 0x508;
		return 0;
	default:
		if (mtrr_index(index, &slot, c)) {
			*value = *slot;
			return 0;
		}
		return vmx_msr_get(c, index, value);
	}
}

int cpu_msr_set(struct cpu *c, uint32_t index, uint64_t v, bool host)
{
	uint64_t *slot;

	switch (index) {
	case MSR_EFER: {
		uint64_t allowed = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
		if (v & ~allowed)
			return -2;
		if (!host) {
			/* LME may not change while paging is on; LMA is read-only */
			if ((c->cr0 & CR0_PG) && ((v ^ c->efer) & EFER_LME))
				return -2;
			v = (v & ~EFER_LMA) | (c->efer & EFER_LMA);
		}
		c->efer = v;
		seg_update_cache(c);
		tlb_flush_all(c);
		return 0;
	}
	case MSR_STAR:
		c->star = v;
		return 0;
	case MSR_LSTAR:
		if (!canonical_va(c, v))
			return -2;
		c->lstar = v;
		return 0;
	case MSR_CSTAR:
		if (!canonical_va(c, v))
			return -2;
		c->cstar = v;
		return 0;
	case MSR_SYSCALL_MASK:
		c->sfmask = v & 0xffffffffull;
		return 0;
	case MSR_FS_BASE:
	case MSR_GS_BASE:
		if (!canonical_va(c, v))
			return -2;
		c->seg[index == MSR_FS_BASE ? SEG_FS : SEG_GS].base = v;
		seg_update_cache(c);
		return 0;
	case MSR_KERNEL_GS_BASE:
		if (!canonical_va(c, v))
			return -2;
		c->kernel_gs_base = v;
		return 0;
	case MSR_IA32_SYSENTER_CS:
		c->sysenter_cs = v & 0xffff;
		return 0;
	/* AMD keeps 32 bits (Linux svm.c, svm_set_msr(): the high half is
	 * tracked only for an Intel-identified guest) */
	case MSR_IA32_SYSENTER_ESP:
	case MSR_IA32_SYSENTER_EIP:
		if (c->vflags & VB_SYSENTER_MSR32) {
			v = (uint32_t)v;
		} else if (!canonical_va(c, v)) {
			/* the guest's WRMSR faults (Intel: KVM passes these MSRs
			 * through); KVM_SET_MSRS makes the value canonical (Linux's
			 * __kvm_set_msr) */
			if (!host)
				return -2;
			v = (uint64_t)((int64_t)(v << (64 - va_bits(c))) >> (64 - va_bits(c)));
		}
		*(index == MSR_IA32_SYSENTER_ESP ? &c->sysenter_esp : &c->sysenter_eip) = v;
		return 0;
	case MSR_TSC_AUX:
		if (!host && (v >> 32))
			return -2;
		c->tsc_aux = v;
		return 0;
	case MSR_IA32_CR_PAT:
		if (!pat_valid(v))
			return -2;
		c->pat = v;
		return 0;
	case MSR_IA32_DEBUGCTL:
		/* no LBR/BTF support: only 0 is accepted from the guest */
		if (v && !host)
			return -2;
		c->debugctl = v;
		return 0;
	case MSR_IA32_MISC_ENABLE:
		c->misc_enable = v;
		return 0;
	case MSR_IA32_APICBASE:
		c->apic_base = v;
		return 0;
	case 0xfe:
		return host ? 0 : -2;
	default:
		if (mtrr_index(index, &slot, c)) {
			*slot = v;
			return 0;
		}
		return vmx_msr_set(c, index, v, host);
	}
}
