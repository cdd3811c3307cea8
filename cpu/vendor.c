/* SPDX-License-Identifier: MIT */
/*
 * Vendor behaviour: the one table of what differs between Intel and AMD
 * processors, chosen by the vendor the guest's CPUID names, plus the CPUID
 * bits that select behaviour within a vendor. cpu/README.md ("Vendor
 * behaviour") describes every entry and how it was verified.
 */
#include "internal.h"

/* what each vendor does where they differ (0 = the Intel behaviour) */
static const uint32_t vendor_table[] = {
    [CPU_VENDOR_INTEL] = 0,
    [CPU_VENDOR_AMD] = VB_BRANCH_O16 | VB_REP_KEEP_RCX_HI | VB_NO_SYSENTER_LM | VB_SYSCALL_LEGACY |
		       VB_SYSRET_NC_USER | VB_NULL_KEEPS_BASE | VB_FOP_ALWAYS | VB_FXSAVE_PTRS_ES |
		       VB_SYSENTER_MSR32 | VB_BEXTR_AF | VB_ARPL_WRITE_CHK,
};

static uint32_t str4(const char *s)
{
	return (uint32_t)(uint8_t)s[0] | (uint32_t)(uint8_t)s[1] << 8 |
	       (uint32_t)(uint8_t)s[2] << 16 | (uint32_t)(uint8_t)s[3] << 24;
}

void cpu_vendor_from_cpuid(struct cpu_vendor_info *v,
			   void (*cpuid)(void *opaque, uint32_t leaf, uint32_t subleaf,
					 uint32_t out[4]),
			   void *opaque)
{
	uint32_t r[4], max, maxext;

	memset(v, 0, sizeof(*v));
	cpuid(opaque, 0, 0, r);
	max = r[0];
	/* KVM's rule (emulate.c, em_syscall_is_enabled()): AMD and Hygon are
	 * AMD, anything else gets Intel's behaviour */
	if ((r[1] == str4("Auth") && r[3] == str4("enti") && r[2] == str4("cAMD")) ||
	    (r[1] == str4("Hygo") && r[3] == str4("nGen") && r[2] == str4("uine")))
		v->vendor = CPU_VENDOR_AMD;
	if (max >= 7) {
		cpuid(opaque, 7, 0, r);
		v->fdp_excptn_only = (r[1] >> 6) & 1;
		v->zero_fcs_fds = (r[1] >> 13) & 1;
	}
	cpuid(opaque, 0x80000000, 0, r);
	maxext = r[0];
	if (maxext >= 0x80000008 && maxext < 0x8000ffff) {
		cpuid(opaque, 0x80000008, 0, r);
		v->xsave_err_ptr = (r[1] >> 2) & 1;
	}
	if (maxext >= 0x80000021 && maxext < 0x8000ffff) {
		cpuid(opaque, 0x80000021, 0, r);
		v->null_sel_clr_base = (r[0] >> 6) & 1;
	}
}

void cpu_set_vendor(struct cpu *c, const struct cpu_vendor_info *v)
{
	bool amd = v->vendor == CPU_VENDOR_AMD;
	uint32_t f = vendor_table[amd ? CPU_VENDOR_AMD : CPU_VENDOR_INTEL];

	if (v->fdp_excptn_only)
		f |= VB_FDP_EXCPTN_ONLY;
	if (v->zero_fcs_fds)
		f |= VB_ZERO_FCS_FDS;
	if (v->xsave_err_ptr)
		f &= ~VB_FXSAVE_PTRS_ES;
	if (v->null_sel_clr_base)
		f &= ~VB_NULL_KEEPS_BASE;
	c->vendor_info = *v;
	c->vendor_info.vendor = amd ? CPU_VENDOR_AMD : CPU_VENDOR_INTEL;
	if (f == c->vflags)
		return;
	c->vflags = f;
	decode_set_vendor(c, amd);
	cpu_flush_code(c); /* decoded blocks depend on it */
}

void cpu_get_vendor(const struct cpu *c, struct cpu_vendor_info *v)
{
	*v = c->vendor_info;
}
