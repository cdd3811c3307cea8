/* SPDX-License-Identifier: MIT */
/*
 * MSRs, layered as in Linux's arch/x86/kvm: for a guest access the MSR
 * filter comes first, then the MSRs kvm/ itself emulates, then those the
 * processor holds; what fails may go to user space (KVM_CAP_X86_USER_SPACE_MSR)
 * or becomes #GP. Host-initiated accesses (KVM_GET/SET_MSRS) skip the filter
 * and may write what the guest may not.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvm_internal.h"
#include "irq.h"

#define MSR_IA32_P5_MC_ADDR	   0x00000000
#define MSR_IA32_P5_MC_TYPE	   0x00000001
#define MSR_IA32_SPEC_CTRL	   0x00000048
#define MSR_IA32_PRED_CMD	   0x00000049
#define MSR_IA32_UCODE_REV	   0x0000008b
#define MSR_IA32_SMBASE		   0x0000009e
#define MSR_PLATFORM_INFO	   0x000000ce
#define MSR_IA32_UMWAIT_CONTROL	   0x000000e1
#define MSR_IA32_ARCH_CAPABILITIES 0x0000010a
#define MSR_K7_HWCR		   0xc0010015
#define MSR_IA32_FLUSH_CMD	   0x0000010b
#define MSR_MISC_FEATURES_ENABLES  0x00000140
#define MSR_IA32_MCG_CAP	   0x00000179
#define MSR_IA32_MCG_STATUS	   0x0000017a
#define MSR_IA32_MCG_CTL	   0x0000017b
#define MSR_IA32_POWER_CTL	   0x000001fc
#define MSR_IA32_PERF_CAPABILITIES 0x00000345
#define MSR_IA32_TSC_DEADLINE	   0x000006e0
#define MSR_IA32_MC0_CTL	   0x00000400
#define MSR_AMD64_VIRT_SPEC_CTRL   0xc001011f

/* KVM_MSR_RET_* */
#define RET_OK	     0
#define RET_ERR	     1 /* known MSR, invalid access or value */
#define RET_UNKNOWN  2 /* not an MSR we emulate */
#define RET_FILTERED 3

#define MCE_BANKS 32

/* MSRs saved and restored by KVM_GET/SET_MSRS (KVM_GET_MSR_INDEX_LIST) */
static const uint32_t msrs_to_save[] = {
    MSR_IA32_SYSENTER_CS,
    MSR_IA32_SYSENTER_ESP,
    MSR_IA32_SYSENTER_EIP,
    MSR_STAR,
    MSR_CSTAR,
    MSR_KERNEL_GS_BASE,
    MSR_SYSCALL_MASK,
    MSR_LSTAR,
    MSR_IA32_TSC,
    MSR_IA32_CR_PAT,
    MSR_TSC_AUX,
    /* emulated MSRs */
    MSR_IA32_TSC_ADJUST,
    MSR_IA32_MISC_ENABLE,
    MSR_IA32_MCG_STATUS,
    MSR_IA32_MCG_CTL,
    MSR_IA32_SMBASE,
    MSR_PLATFORM_INFO,
    MSR_MISC_FEATURES_ENABLES,
    MSR_IA32_POWER_CTL,
    MSR_IA32_UCODE_REV,
    MSR_IA32_UMWAIT_CONTROL,
    MSR_IA32_ARCH_CAPABILITIES,
    MSR_IA32_PERF_CAPABILITIES,
    MSR_IA32_TSC_DEADLINE,
    MSR_K7_HWCR,
    MSR_IA32_SPEC_CTRL,
    MSR_AMD64_VIRT_SPEC_CTRL,
    /* kvmclock */
    0x11,
    0x12,
    0x4b564d00,
    0x4b564d01,
    MSR_KVM_STEAL_TIME,
};

static const uint32_t feature_msrs[] = {MSR_IA32_ARCH_CAPABILITIES, MSR_IA32_UCODE_REV,
					MSR_IA32_PERF_CAPABILITIES};

static int list_copy(struct kvm_msr_list *out, uint32_t max, const uint32_t *l, uint32_t n)
{
	if (max < n) {
		out->nmsrs = n;
		return -E2BIG;
	}
	memcpy(out->indices, l, n * sizeof(uint32_t));
	out->nmsrs = n;
	return 0;
}

int kvm_get_msr_index_list(struct kvm_msr_list *out, uint32_t max)
{
	return list_copy(out, max, msrs_to_save, sizeof(msrs_to_save) / sizeof(msrs_to_save[0]));
}

int kvm_get_msr_feature_index_list(struct kvm_msr_list *out, uint32_t max)
{
	return list_copy(out, max, feature_msrs, sizeof(feature_msrs) / sizeof(feature_msrs[0]));
}

/* The value of a feature MSR as this host supports it. */
static int feature_msr(uint32_t index, uint64_t *v)
{
	switch (index) {
	case MSR_IA32_ARCH_CAPABILITIES:
		/*
		 * A software CPU does not speculate: report every "not affected"
		 * bit Linux 6.1's KVM can pass on (RDCL_NO, SKIP_VMENTRY_L1DFLUSH,
		 * SSB_NO, MDS_NO, PSCHANGE_MC_NO, TAA_NO, SBDR_SSDP_NO, FBSDP_NO,
		 * PSDP_NO, BHI_NO, PBRSB_NO, GDS_NO, RFDS_NO, ITS_NO). IBRS_ALL
		 * (enhanced IBRS) is not claimed: Linux keeps its retpolines.
		 */
		*v = (1ull << 0) | (1ull << 3) | (1ull << 4) | (1ull << 5) | (1ull << 6) |
		     (1ull << 8) | (1ull << 13) | (1ull << 14) | (1ull << 15) | (1ull << 20) |
		     (1ull << 24) | (1ull << 26) | (1ull << 27) | (1ull << 62);
		return 0;
	case MSR_IA32_UCODE_REV:
		*v = 0x100000000ull;
		return 0;
	case MSR_IA32_PERF_CAPABILITIES:
		*v = 0; /* no PMU: no full-width writes, no LBR format */
		return 0;
	default:
		return -1;
	}
}

int kvm_get_feature_msrs(struct kvm_msr_entry *e, uint32_t n)
{
	uint32_t k;
	for (k = 0; k < n; k++) {
		uint64_t v;
		if (feature_msr(e[k].index, &v))
			break;
		e[k].data = v;
	}
	return (int)k;
}

/* ---- the MSR filter (KVM_X86_SET_MSR_FILTER) ---- */

int kvm_msr_filter_allows(struct kvm_vm *vm, uint32_t index, bool write)
{
	/* x2APIC MSRs are never filtered */
	if (index >= 0x800 && index <= 0x8ff)
		return 1;
	struct kvm_msr_filter_int *f = atomic_load_explicit(&vm->msr_filter, memory_order_acquire);
	if (!f)
		return 1;
	uint32_t type = write ? KVM_MSR_FILTER_WRITE : KVM_MSR_FILTER_READ;
	for (uint32_t k = 0; k < f->nranges; k++) {
		const struct kvm_msr_filter_range_int *r = &f->r[k];
		if (index >= r->base && index - r->base < r->nmsrs && (r->flags & type)) {
			uint32_t b = index - r->base;
			return (r->bitmap[b / 64] >> (b % 64)) & 1;
		}
	}
	return !(f->flags & KVM_MSR_FILTER_DEFAULT_DENY);
}

/* f: ranges with bitmaps already copied in by abi/ (bitmap pointers are ours) */
int kvm_vm_set_msr_filter(struct kvm_vm *vm, const struct kvm_msr_filter *f)
{
	struct kvm_msr_filter_int *nf;
	bool empty = true;

	if (f->flags & ~(uint32_t)KVM_MSR_FILTER_DEFAULT_DENY)
		return -EINVAL;
	for (unsigned k = 0; k < KVM_MSR_FILTER_MAX_RANGES; k++)
		empty = empty && !f->ranges[k].nmsrs;
	/* denying everything with no ranges is refused (Linux 6.1) */
	if (empty && (f->flags & KVM_MSR_FILTER_DEFAULT_DENY))
		return -EINVAL;
	if (empty) {
		nf = NULL; /* default allow, no ranges: no filter at all */
	} else {
		nf = calloc(1, sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		nf->flags = f->flags;
		for (unsigned k = 0; k < KVM_MSR_FILTER_MAX_RANGES; k++) {
			const struct kvm_msr_filter_range *r = &f->ranges[k];
			if (!r->nmsrs)
				continue;
			size_t bytes = (r->nmsrs + 63) / 64 * 8;
			if ((r->flags & ~(uint32_t)(KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE)) ||
			    !r->flags || bytes > 0x600) {
				for (unsigned j = 0; j < nf->nranges; j++)
					free(nf->r[j].bitmap);
				free(nf);
				return -EINVAL;
			}
			uint64_t *bm = calloc(1, bytes);
			if (!bm) {
				for (unsigned j = 0; j < nf->nranges; j++)
					free(nf->r[j].bitmap);
				free(nf);
				return -ENOMEM;
			}
			memcpy(bm, r->bitmap, bytes);
			nf->r[nf->nranges++] = (struct kvm_msr_filter_range_int){
			    .flags = r->flags, .base = r->base, .nmsrs = r->nmsrs, .bitmap = bm};
		}
	}
	struct kvm_msr_filter_int *old = atomic_exchange(&vm->msr_filter, nf);
	if (old) {
		/* vCPUs read filters only inside cpu_run(): once each has passed a
		 * block boundary, nobody holds the old one */
		kvm_vm_synchronize(vm);
		for (unsigned r = 0; r < old->nranges; r++)
			free(old->r[r].bitmap);
		free(old);
	}
	return 0;
}

/* ---- MSRs kvm/ emulates ---- */

/*
 * Host-initiated TSC writes (Linux kvm_synchronize_tsc()): a write of 0 (a
 * new vCPU) or of a value within one second of where the previous write's
 * TSC would be now is an attempt to synchronize the vCPUs: at the same
 * frequency the vCPU takes the offset of the last unsynchronized write, so
 * all vCPUs read the same TSC. Any other write starts a new offset.
 */
void kvm_synchronize_tsc(struct kvm_vcpu *v, uint64_t data)
{
	struct kvm_vm *vm = v->vm;
	uint64_t ns = kvm_host_ns();
	uint64_t hz = (uint64_t)v->tsc_khz * 1000;
	bool sync;

	if (data == 0) {
		sync = true;
	} else {
		uint64_t elapsed = ns - vm->last_tsc_nsec;
		uint64_t expect = vm->last_tsc_write +
				  (uint64_t)((unsigned __int128)elapsed * v->tsc_khz / 1000000u);
		sync = data < expect + hz && data + hz > expect;
	}
	if (sync && v->tsc_khz == vm->last_tsc_khz) {
		v->tsc_offset = vm->cur_tsc_offset;
	} else {
		kvm_set_guest_tsc(v, data);
		vm->cur_tsc_offset = v->tsc_offset;
	}
	vm->last_tsc_write = data;
	vm->last_tsc_nsec = ns;
	vm->last_tsc_khz = v->tsc_khz;
}

static bool is_mce_bank(uint32_t index, uint64_t mcg_cap)
{
	uint32_t banks = mcg_cap & 0xff;
	if (banks > MCE_BANKS) /* mce_banks[] has room for these */
		banks = MCE_BANKS;
	return index >= MSR_IA32_MC0_CTL && index < MSR_IA32_MC0_CTL + 4 * banks;
}

/* K7 EVNTSEL0-3/PERFCTR0-3, P6 PERFCTR0-1 and EVNTSEL0-1: no vPMU behind them */
static bool is_legacy_perf_msr(uint32_t index)
{
	return (index >= 0xc0010000 && index <= 0xc0010007) || index == 0xc1 || index == 0xc2 ||
	       index == 0x186 || index == 0x187;
}

/*
 * Model-specific MSRs Linux 6.1's KVM answers for every guest whatever its
 * CPUID (kvm_get_msr_common/kvm_set_msr_common): Intel and AMD registers
 * that read as 0, and those whose writes are dropped. Guests probe them on
 * the vendor the VMM presents (QEMU's -cpu host copies an AMD host's vendor).
 */
static bool reads_as_zero(uint32_t index)
{
	switch (index) {
	case 0x17:	 /* IA32_PLATFORM_ID */
	case 0x2a:	 /* EBL_CR_POWERON */
	case 0x1db:	 /* LASTBRANCHFROMIP */
	case 0x1dc:	 /* LASTBRANCHTOIP */
	case 0x1dd:	 /* LASTINTFROMIP */
	case 0x1de:	 /* LASTINTTOIP */
	case 0x199:	 /* IA32_PERF_CTL */
	case 0x606:	 /* RAPL_POWER_UNIT */
	case 0x639:	 /* PP0_ENERGY_STATUS */
	case 0x641:	 /* PP1_ENERGY_STATUS */
	case 0x611:	 /* PKG_ENERGY_STATUS */
	case 0x619:	 /* DRAM_ENERGY_STATUS */
	case 0xc0010010: /* SYSCFG */
	case 0xc0010112: /* TSEG_ADDR */
	case 0xc0010113: /* TSEG_MASK */
	case 0xc0010117: /* VM_HSAVE_PA */
	case 0xc0010055: /* INT_PENDING_MSG */
	case 0xc001001f: /* NB_CFG */
	case 0xc0010058: /* FAM10H_MMIO_CONF_BASE */
	case 0xc001102a: /* BU_CFG2 */
	case 0xc0011022: /* DC_CFG */
	case 0xc0011023: /* TW_CFG */
	case 0xc001102c: /* F15H_EX_CFG */
		return true;
	default:
		return is_legacy_perf_msr(index);
	}
}

static bool writes_ignored(uint32_t index)
{
	switch (index) {
	case 0xc001001f: /* NB_CFG */
	case 0x79:	 /* IA32_UCODE_WRITE */
	case 0xc0010117: /* VM_HSAVE_PA */
	case 0xc0010020: /* PATCH_LOADER */
	case 0xc001102a: /* BU_CFG2 */
	case 0xc0011022: /* DC_CFG */
	case 0xc0011023: /* TW_CFG */
	case 0xc001102c: /* F15H_EX_CFG */
		return true;
	default:
		return is_legacy_perf_msr(index); /* no vPMU: counters and selectors drop writes */
	}
}

/*
 * Linux 6.1's guest_has_spec_ctrl_msr() and guest_has_pred_cmd_msr() (cpuid.h):
 * Intel's CPUID.7.0:EDX.SPEC_CTRL, or the AMD-defined bits of
 * CPUID.80000008:EBX (AMD_STIBP, AMD_IBRS, AMD_SSBD; AMD_IBPB) that a guest
 * identified as AMD looks at instead.
 */
static bool guest_has_spec_ctrl_msr(const struct kvm_vcpu *v)
{
	return kvm_guest_has(v, 7, 0, CPUID_EDX, 26) ||
	       kvm_guest_has(v, 0x80000008, 0, CPUID_EBX, 15) ||
	       kvm_guest_has(v, 0x80000008, 0, CPUID_EBX, 14) ||
	       kvm_guest_has(v, 0x80000008, 0, CPUID_EBX, 24);
}

static bool guest_has_pred_cmd_msr(const struct kvm_vcpu *v)
{
	return kvm_guest_has(v, 7, 0, CPUID_EDX, 26) ||
	       kvm_guest_has(v, 0x80000008, 0, CPUID_EBX, 12);
}

/* MSR_AMD64_VIRT_SPEC_CTRL: with CPUID.80000008:EBX.VIRT_SSBD (svm_get_msr) */
static bool guest_has_virt_ssbd(const struct kvm_vcpu *v)
{
	return kvm_guest_has(v, 0x80000008, 0, CPUID_EBX, 25);
}

static int emulated_get(struct kvm_vcpu *v, uint32_t index, uint64_t *val, bool host)
{
	/* the in-kernel LAPIC: APIC base, x2APIC registers, TSC deadline */
	if (v->lapic) {
		if (index == MSR_IA32_APICBASE) {
			*val = lapic_get_base(v->lapic);
			return RET_OK;
		}
		if ((index >= 0x800 && index <= 0x8ff) || index == 0x6e0)
			return lapic_msr_read(v->lapic, index, val) ? RET_ERR : RET_OK;
	}
	if (kvmclock_msr_get(v, index, val) || kvm_steal_msr_get(v, index, val))
		return RET_OK;
	if (reads_as_zero(index)) {
		*val = 0;
		return RET_OK;
	}
	switch (index) {
	case MSR_K7_HWCR:
		*val = v->msr_hwcr;
		return RET_OK;
	case MSR_IA32_SPEC_CTRL:
		if (!host && !guest_has_spec_ctrl_msr(v))
			return RET_ERR;
		*val = v->spec_ctrl;
		return RET_OK;
	case MSR_AMD64_VIRT_SPEC_CTRL:
		if (!host && !guest_has_virt_ssbd(v))
			return RET_ERR;
		*val = v->virt_spec_ctrl;
		return RET_OK;
	case MSR_IA32_TSC_DEADLINE:
		*val = 0; /* no in-kernel LAPIC: reads 0 (kvm_get_lapic_tscdeadline_msr) */
		return RET_OK;
	case MSR_IA32_PERF_CAPABILITIES:
		if (!host && !kvm_guest_has(v, 1, 0, CPUID_ECX, 15)) /* PDCM */
			return RET_ERR;
		*val = 0;
		return RET_OK;
	case MSR_IA32_UMWAIT_CONTROL:
		/* only with WAITPKG in the guest's CPUID, unless host-initiated */
		if (!host && !kvm_guest_has(v, 7, 0, CPUID_ECX, 5))
			return RET_ERR;
		*val = v->umwait_control;
		return RET_OK;
	case MSR_IA32_TSC:
		*val = kvm_guest_tsc(v);
		return RET_OK;
	case MSR_IA32_TSC_ADJUST:
		*val = v->tsc_adjust;
		return RET_OK;
	case MSR_IA32_P5_MC_ADDR:
	case MSR_IA32_P5_MC_TYPE:
		*val = 0;
		return RET_OK;
	case MSR_IA32_UCODE_REV:
		*val = 0x100000000ull;
		return RET_OK;
	case MSR_PLATFORM_INFO:
		*val = v->platform_info;
		return RET_OK;
	case MSR_MISC_FEATURES_ENABLES:
		*val = v->misc_features_enables;
		return RET_OK;
	case MSR_IA32_POWER_CTL:
		*val = 0;
		return RET_OK;
	case MSR_IA32_SMBASE:
		if (!host)
			return RET_ERR;
		*val = v->smbase;
		return RET_OK;
	case MSR_IA32_MCG_CAP:
		*val = v->mcg_cap;
		return RET_OK;
	case MSR_IA32_MCG_STATUS:
		*val = v->mcg_status;
		return RET_OK;
	case MSR_IA32_MCG_CTL:
		if (!(v->mcg_cap & (1ull << 8)) && !host)
			return RET_ERR;
		*val = v->mcg_ctl;
		return RET_OK;
	case MSR_IA32_ARCH_CAPABILITIES:
		if (!host && !kvm_guest_has(v, 7, 0, CPUID_EDX, 29))
			return RET_ERR;
		*val = v->arch_capabilities;
		return RET_OK;
	default:
		if (is_mce_bank(index, v->mcg_cap)) {
			*val = v->mce_banks[index - MSR_IA32_MC0_CTL];
			return RET_OK;
		}
		return RET_UNKNOWN;
	}
}

static int emulated_set(struct kvm_vcpu *v, uint32_t index, uint64_t val, bool host)
{
	if (v->lapic) {
		if (index == MSR_IA32_APICBASE)
			return lapic_set_base(v->lapic, val, host) ? RET_ERR : RET_OK;
		if ((index >= 0x800 && index <= 0x8ff) || index == 0x6e0)
			return lapic_msr_write(v->lapic, index, val) ? RET_ERR : RET_OK;
	}
	if (kvmclock_msr_set(v, index, val))
		return RET_OK;
	switch (kvm_steal_msr_set(v, index, val)) {
	case 1:
		if (!host && v->st_pending)
			cpu_kick(v->cpu); /* record before the guest's next instruction block */
		return RET_OK;
	case -1:
		return RET_ERR;
	}
	if (writes_ignored(index))
		return RET_OK;
	switch (index) {
	case MSR_IA32_SPEC_CTRL:
		if (!host && !guest_has_spec_ctrl_msr(v))
			return RET_ERR;
		/* what the "host" accepts (kvm_spec_ctrl_test_value): IBRS, STIBP, SSBD */
		if (val & ~7ull)
			return RET_ERR;
		v->spec_ctrl = val;
		return RET_OK;
	case MSR_IA32_PRED_CMD:
		/* IBPB: a barrier with nothing to flush; write-only, bit 0 only
		 * (SBPB, bit 7, is refused as Linux 6.1 refuses it) */
		if (!host && !guest_has_pred_cmd_msr(v))
			return RET_ERR;
		return val & ~1ull ? RET_ERR : RET_OK;
	case MSR_AMD64_VIRT_SPEC_CTRL:
		/* only SSBD (bit 2), as svm_set_msr; nothing to do */
		if (!host && !guest_has_virt_ssbd(v))
			return RET_ERR;
		if (val & ~(1ull << 2))
			return RET_ERR;
		v->virt_spec_ctrl = val;
		return RET_OK;
	case MSR_K7_HWCR:
		/* flush filter, IGNNE and TLB cache disables are ignored; of the
		 * rest only McStatusWrEn (bit 18) may be set (Linux) */
		val &= ~(uint64_t)(0x40 | 0x100 | 0x8);
		if (val != 0 && val != (1ull << 18))
			return RET_ERR;
		v->msr_hwcr = val;
		return RET_OK;
	case 0xc0010058: /* FAM10H_MMIO_CONF_BASE: only 0 */
		return val ? RET_ERR : RET_OK;
	case MSR_IA32_TSC_DEADLINE:
		return RET_OK; /* no in-kernel LAPIC: ignored, as Linux does */
	case MSR_IA32_PERF_CAPABILITIES: {
		/* host-initiated only, and only what the feature MSR offers */
		uint64_t supported = 0;
		feature_msr(index, &supported);
		return host && !(val & ~supported) ? RET_OK : RET_ERR;
	}
	case MSR_IA32_UMWAIT_CONTROL:
		if (!host && !kvm_guest_has(v, 7, 0, CPUID_ECX, 5))
			return RET_ERR;
		/* bit 1 and bits 63:32 are reserved (Linux vmx_set_msr: host too) */
		if (val & ((1ull << 1) | 0xffffffff00000000ull))
			return RET_ERR;
		v->umwait_control = val;
		return RET_OK;
	case MSR_IA32_TSC:
		if (host) {
			pthread_mutex_lock(&v->vm->lock);
			kvm_synchronize_tsc(v, val);
			pthread_mutex_unlock(&v->vm->lock);
		} else {
			/* a guest TSC write moves TSC_ADJUST by the same amount (SDM 17.17.3) */
			v->tsc_adjust += val - kvm_guest_tsc(v);
			kvm_set_guest_tsc(v, val);
		}
		v->kvmclock_dirty = true;
		return RET_OK;
	case MSR_IA32_TSC_ADJUST:
		if (!host) {
			uint64_t now = kvm_guest_tsc(v);
			kvm_set_guest_tsc(v, now + (val - v->tsc_adjust));
		}
		v->tsc_adjust = val;
		return RET_OK;
	case MSR_IA32_P5_MC_ADDR:
	case MSR_IA32_P5_MC_TYPE:
	case MSR_IA32_POWER_CTL:
		return RET_OK;
	case MSR_IA32_UCODE_REV:
		/* a guest write (Intel's "write 0, CPUID, read" idiom) is ignored, as in
		 * Linux kvm_set_msr_common() */
		return RET_OK;
	case MSR_PLATFORM_INFO:
		if (!host)
			return RET_ERR;
		v->platform_info = val;
		return RET_OK;
	case MSR_MISC_FEATURES_ENABLES:
		/* only CPUID faulting (bit 0), and only if PLATFORM_INFO offers it */
		if ((val & ~1ull) || ((val & 1) && !(v->platform_info & (1ull << 31))))
			return RET_ERR;
		v->misc_features_enables = val;
		return RET_OK;
	case MSR_IA32_SMBASE:
		if (!host)
			return RET_ERR;
		v->smbase = val;
		return RET_OK;
	case MSR_IA32_MCG_CAP:
		/* read-only, for the host too: KVM_X86_SETUP_MCE sets it (Linux 6.1's
		 * set_msr_mce() has no case for it); its bank count sizes mce_banks */
		return RET_ERR;
	case MSR_IA32_MCG_STATUS:
		v->mcg_status = val;
		return RET_OK;
	case MSR_IA32_MCG_CTL:
		if (!(v->mcg_cap & (1ull << 8)) && !host)
			return RET_ERR;
		if (val != 0 && val != ~0ull)
			return RET_ERR;
		v->mcg_ctl = val;
		return RET_OK;
	case MSR_IA32_ARCH_CAPABILITIES:
		if (!host)
			return RET_ERR;
		v->arch_capabilities = val;
		return RET_OK;
	default:
		if (is_mce_bank(index, v->mcg_cap)) {
			uint32_t off = index - MSR_IA32_MC0_CTL;
			/* MCi_CTL accepts 0 or all ones; MCi_STATUS only 0 from the guest */
			if ((off & 3) == 0 && val != 0 && val != ~0ull)
				return RET_ERR;
			if ((off & 3) == 1 && val != 0 && !host)
				return RET_ERR;
			v->mce_banks[off] = val;
			return RET_OK;
		}
		return RET_UNKNOWN;
	}
}

static int msr_get_ret(struct kvm_vcpu *v, uint32_t index, uint64_t *val, bool host)
{
	int r = emulated_get(v, index, val, host);
	if (r != RET_UNKNOWN)
		return r;
	return cpu_msr_get(v->cpu, index, val) == 0 ? RET_OK : RET_UNKNOWN;
}

static int msr_set_ret(struct kvm_vcpu *v, uint32_t index, uint64_t val, bool host)
{
	int r = emulated_set(v, index, val, host);
	if (r != RET_UNKNOWN)
		return r;
	/* EFER bits need the matching CPUID features from the guest */
	if (index == MSR_EFER && !host) {
		if ((val & EFER_NXE) && !kvm_guest_has(v, 0x80000001, 0, CPUID_EDX, 20))
			return RET_ERR;
		if ((val & EFER_SCE) && !kvm_guest_has(v, 0x80000001, 0, CPUID_EDX, 11))
			return RET_ERR;
		if ((val & EFER_LME) && !kvm_guest_has(v, 0x80000001, 0, CPUID_EDX, 29))
			return RET_ERR;
	}
	if (index == MSR_TSC_AUX && !host && !kvm_guest_has(v, 0x80000001, 0, CPUID_EDX, 27) &&
	    !kvm_guest_has(v, 7, 0, CPUID_ECX, 22))
		return RET_ERR;
	switch (cpu_msr_set(v->cpu, index, val, host)) {
	case 0:
		if (index == MSR_IA32_MISC_ENABLE)
			kvm_cpuid_misc_enable_changed(v, val);
		if (index == MSR_IA32_APICBASE) /* no in-kernel LAPIC: still the CPUID bit */
			kvm_cpuid_update_apic_bit(v, (val & (1ull << 11)) != 0);
		return RET_OK;
	case -2:
		return RET_ERR;
	default:
		return RET_UNKNOWN;
	}
}

int kvm_msr_get(struct kvm_vcpu *v, uint32_t index, uint64_t *val, bool host)
{
	return msr_get_ret(v, index, val, host) == RET_OK ? 0 : -1;
}

int kvm_msr_set(struct kvm_vcpu *v, uint32_t index, uint64_t val, bool host)
{
	return msr_set_ret(v, index, val, host) == RET_OK ? 0 : -1;
}

static uint32_t exit_reason_of(int r)
{
	switch (r) {
	case RET_UNKNOWN:
		return KVM_MSR_EXIT_REASON_UNKNOWN;
	case RET_FILTERED:
		return KVM_MSR_EXIT_REASON_FILTER;
	default:
		return KVM_MSR_EXIT_REASON_INVAL;
	}
}

/* cpu_ops: a guest RDMSR */
int kvm_guest_rdmsr(struct kvm_vcpu *v, uint32_t index, uint64_t *val)
{
	int r = kvm_msr_filter_allows(v->vm, index, false) ? msr_get_ret(v, index, val, false)
							   : RET_FILTERED;
	if (r == RET_OK)
		return CPU_OPS_OK;
	uint32_t reason = exit_reason_of(r);
	if (v->vm->user_space_msr_mask & reason) {
		v->run->msr.reason = reason;
		return CPU_OPS_EXIT;
	}
	return CPU_OPS_GP;
}

int kvm_guest_wrmsr(struct kvm_vcpu *v, uint32_t index, uint64_t val)
{
	int r = kvm_msr_filter_allows(v->vm, index, true) ? msr_set_ret(v, index, val, false)
							  : RET_FILTERED;
	if (r == RET_OK)
		return CPU_OPS_OK;
	uint32_t reason = exit_reason_of(r);
	if (v->vm->user_space_msr_mask & reason) {
		v->run->msr.reason = reason;
		return CPU_OPS_EXIT;
	}
	return CPU_OPS_GP;
}

/* KVM_GET_MSRS / KVM_SET_MSRS: stop at the first failure, return the count */
int kvm_vcpu_get_msrs(struct kvm_vcpu *v, struct kvm_msr_entry *e, uint32_t n)
{
	uint32_t k;
	for (k = 0; k < n; k++) {
		uint64_t val;
		if (msr_get_ret(v, e[k].index, &val, true) != RET_OK)
			break;
		e[k].data = val;
	}
	return (int)k;
}

int kvm_vcpu_set_msrs(struct kvm_vcpu *v, const struct kvm_msr_entry *e, uint32_t n)
{
	uint32_t k;
	for (k = 0; k < n; k++)
		if (msr_set_ret(v, e[k].index, e[k].data, true) != RET_OK)
			break;
	return (int)k;
}

void kvm_msr_vcpu_init(struct kvm_vcpu *v)
{
	v->arch_capabilities = 0;
	feature_msr(MSR_IA32_ARCH_CAPABILITIES, &v->arch_capabilities);
	v->mcg_cap = 0;
}

int kvm_vcpu_x86_setup_mce(struct kvm_vcpu *v, uint64_t mcg_cap)
{
	unsigned banks = mcg_cap & 0xff;
	/* MCG_CTL_P (8), MCG_SER_P (24), MCG_LMCE_P (27) with up to 32 banks */
	if (!banks || banks > MCE_BANKS)
		return -EINVAL;
	/* supported capabilities, the bank count and MCG_EXT_CNT (Linux 6.1) */
	if (mcg_cap & ~(KVM_MCE_CAP_SUPPORTED | 0xffull | 0xff0000ull))
		return -EINVAL;
	v->mcg_cap = mcg_cap;
	v->mcg_ctl = (mcg_cap & (1ull << 8)) ? ~0ull : 0;
	for (unsigned b = 0; b < banks; b++)
		v->mce_banks[b * 4] = ~0ull;
	return 0;
}
