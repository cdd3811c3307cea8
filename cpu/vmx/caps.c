/* SPDX-License-Identifier: MIT */
/*
 * IA32_FEATURE_CONTROL and the VMX capability MSRs (SDM vol. 3C, 23.7 and
 * appendix A). The controls offered are the ones cpu/vmx implements
 * (vmx_internal.h, *_ALLOWED1), in the form Linux 6.1 gives its L1
 * (nested_vmx_setup_ctls_msrs, vmx_get_vmx_msr): the non-TRUE MSRs report
 * every default1 bit as required, the TRUE ones let software clear those
 * that the processor does not need (CR3 load/store exiting, save/load
 * debug controls).
 */
#include <stdlib.h>

#include "vmx_internal.h"

uint64_t cpu_cr4_supported(struct cpu *c);

static uint64_t ctl(uint32_t must1, uint32_t may1)
{
	return (uint64_t)may1 << 32 | must1;
}

static uint64_t vmcs_enum(void)
{
	static const uint32_t enc[] = {
#define X(name, e) e,
#include "vmcs_fields.h"
#undef X
	};
	unsigned max = 0;
	for (unsigned k = 0; k < sizeof(enc) / sizeof(enc[0]); k++) {
		unsigned idx = (enc[k] >> 1) & 0x1ff;
		if (idx > max)
			max = idx;
	}
	return (uint64_t)max << 1;
}

uint64_t vmx_cap(struct cpu *c, uint32_t index)
{
	switch (index) {
	case MSR_VMX_BASIC:
		/* revision, region size (bits 44:32), write-back (bits 53:50 = 6),
		 * INS/OUTS instruction information (54), TRUE_* MSRs (55) */
		return VMX_REVISION | (uint64_t)VMCS_SIZE << 32 | 6ull << 50 | 1ull << 54 |
		       1ull << 55;
	case MSR_VMX_PINBASED_CTLS:
		return ctl(PIN_DEFAULT1, PIN_ALLOWED1);
	case MSR_VMX_TRUE_PINBASED:
		return ctl(PIN_DEFAULT1, PIN_ALLOWED1);
	case MSR_VMX_PROCBASED_CTLS:
		return ctl(PROC_DEFAULT1, PROC_ALLOWED1);
	case MSR_VMX_TRUE_PROCBASED:
		return ctl(PROC_TRUE_DEFAULT1, PROC_ALLOWED1);
	case MSR_VMX_EXIT_CTLS:
		return ctl(EXIT_DEFAULT1, EXIT_ALLOWED1);
	case MSR_VMX_TRUE_EXIT:
		return ctl(EXIT_TRUE_DEFAULT1, EXIT_ALLOWED1);
	case MSR_VMX_ENTRY_CTLS:
		return ctl(ENTRY_DEFAULT1, ENTRY_ALLOWED1);
	case MSR_VMX_TRUE_ENTRY:
		return ctl(ENTRY_TRUE_DEFAULT1, ENTRY_ALLOWED1);
	case MSR_VMX_PROCBASED_CTLS2:
		return ctl(0, PROC2_ALLOWED1);
	case MSR_VMX_MISC:
		/* bits 24:16 CR3-target count 0; 27:25 MSR-list size 0 (512);
		 * bit 29 (VMWRITE to read-only fields) clear: such a VMWRITE
		 * fails with error 13 */
		return VMX_MISC_TIMER_RATE | VMX_MISC_SAVE_LMA | VMX_MISC_ACT_HLT;
	case MSR_VMX_CR0_FIXED0:
		return CR0_PE | CR0_NE | CR0_PG;
	case MSR_VMX_CR0_FIXED1:
		return 0xffffffffull;
	case MSR_VMX_CR4_FIXED0:
		return CR4_VMXE;
	case MSR_VMX_CR4_FIXED1:
		return cpu_cr4_supported(c);
	case MSR_VMX_VMCS_ENUM:
		return vmcs_enum();
	case MSR_VMX_EPT_VPID_CAP:
	case MSR_VMX_VMFUNC:
		return 0;
	}
	return 0;
}

int vmx_msr_get(struct cpu *c, uint32_t index, uint64_t *value)
{
	struct vmx *v = c->vmx;
	if (!v)
		return -1;
	if (index == MSR_IA32_FEATURE_CONTROL) {
		*value = v->feature_control;
		return 0;
	}
	if (index < MSR_VMX_BASIC || index > MSR_VMX_VMFUNC)
		return -1;
	/* EPT_VPID_CAP and VMFUNC read as 0 without EPT, VPID or VM
	 * functions, as Linux 6.1 answers (vmx_get_vmx_msr) */
	*value = vmx_cap(c, index);
	return 0;
}

int vmx_msr_set(struct cpu *c, uint32_t index, uint64_t value, bool host)
{
	struct vmx *v = c->vmx;
	if (!v)
		return -1;
	if (index == MSR_IA32_FEATURE_CONTROL) {
		/* Linux vmx_set_msr: only the valid bits, and nothing once
		 * locked but by the host (a restore) */
		uint64_t valid = FEAT_CTL_LOCKED | FEAT_CTL_VMX_IN_SMX | FEAT_CTL_VMX_OUT_SMX;
		if ((value & ~valid) || ((v->feature_control & FEAT_CTL_LOCKED) && !host))
			return -2;
		v->feature_control = value;
		return 0;
	}
	if (index < MSR_VMX_BASIC || index > MSR_VMX_VMFUNC)
		return -1;
	/* read-only for the guest; the host may write back what it read (a
	 * restore). Linux also accepts a restricted subset: not yet here */
	if (!host)
		return -2;
	uint64_t cur;
	if (vmx_msr_get(c, index, &cur) != 0 || cur != value)
		return -2;
	return 0;
}

bool vmx_cr0_allowed(struct cpu *c, uint64_t cr0)
{
	if (!c->vmx || !c->vmx->on || c->vmx->guest)
		return true;
	uint64_t f0 = vmx_cap(c, MSR_VMX_CR0_FIXED0), f1 = vmx_cap(c, MSR_VMX_CR0_FIXED1);
	return (cr0 & f0) == f0 && !(cr0 & ~f1);
}

bool vmx_cr4_allowed(struct cpu *c, uint64_t cr4)
{
	if (!c->vmx || !c->vmx->on || c->vmx->guest)
		return true;
	uint64_t f0 = vmx_cap(c, MSR_VMX_CR4_FIXED0), f1 = vmx_cap(c, MSR_VMX_CR4_FIXED1);
	return (cr4 & f0) == f0 && !(cr4 & ~f1);
}

bool vmx_in_operation(const struct cpu *c)
{
	return c->vmx && c->vmx->on;
}

void vmx_reset(struct cpu *c)
{
	struct vmx *v = c->vmx;
	if (!v)
		return;
	memset(v, 0, sizeof(*v));
	v->cur = VMPTR_INVALID;
	c->vmx_nonroot = false;
}

void vmx_enable(struct cpu *c, bool on)
{
	if (on && !c->vmx) {
		c->vmx = calloc(1, sizeof(struct vmx));
		if (c->vmx)
			vmx_reset(c);
	} else if (!on && c->vmx) {
		free(c->vmx);
		c->vmx = NULL;
		c->vmx_nonroot = false;
	}
}
