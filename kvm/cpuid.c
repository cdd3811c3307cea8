/* SPDX-License-Identifier: MIT */
/*
 * CPUID: the CPU model softkvm supports (KVM_GET_SUPPORTED_CPUID, holding
 * only what cpu/ implements), the guest's table (KVM_SET_CPUID2) with an
 * O(1) index by function and index, and the guest's CPUID instruction with
 * Linux 6.1's lookup rules (arch/x86/kvm/cpuid.c, kvm_cpuid()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvm_internal.h"

#define MAX_CPUID_ENTRIES 256 /* KVM_MAX_CPUID_ENTRIES */
#define SIG		  KVM_CPUID_FLAG_SIGNIFCANT_INDEX

#define BIT(n) (1u << (n))

/* Features the processor implements, by leaf. Keep in step with cpu/. */
/* CPUID.1:EDX */
#define F1_EDX                                                                                     \
	(BIT(7) /* MCE */ | BIT(14) /* MCA */ | BIT(2) /* DE */ | BIT(11) /* SEP */ |              \
	 BIT(19) /* CLFSH */ | BIT(9) /* APIC */ | BIT(3) /* PSE */ | BIT(4) /* TSC */ |           \
	 BIT(5) /* MSR */ | BIT(6) /* PAE */ | BIT(8) /* CX8 */ | BIT(12) /* MTRR */ |             \
	 BIT(13) /* PGE */ | BIT(15) /* CMOV */ | BIT(16) /* PAT */ | BIT(17) /* PSE36 */ |        \
	 BIT(0) /* FPU */ | BIT(23) /* MMX */ | BIT(24) /* FXSR */ | BIT(25) /* SSE */ |           \
	 BIT(26) /* SSE2 */)
/* CPUID.1:ECX */
#define F1_ECX                                                                                     \
	(BIT(17) /* PCID */ | BIT(21) /* x2APIC */ | BIT(24) /* TSC deadline */ |                  \
	 BIT(13) /* CX16 */ | BIT(22) /* MOVBE */ | BIT(23) /* POPCNT */ |                         \
	 BIT(31) /* hypervisor */ | BIT(0) /* SSE3 */ | BIT(9) /* SSSE3 */ |                       \
	 BIT(19) /* SSE4.1 */ | BIT(20) /* SSE4.2 */ | BIT(26) /* XSAVE */)
#define F1_ECX_HOST (BIT(0) | BIT(9) | BIT(19) | BIT(20))
/* CPUID.1:ECX and CPUID.7.0:EBX of the VEX set (cpu/ops_avx.c), offered
 * only when the host runs AVX, AVX2, FMA and F16C (cpu_avx_supported());
 * OSXSAVE (27) follows the guest's CR4 (cause_osxsave) */
#define F1_ECX_AVX (BIT(12) /* FMA */ | BIT(28) /* AVX */ | BIT(29) /* F16C */)
#define F7_EBX_AVX (BIT(5) /* AVX2 */)
/* CPUID.7.0:EBX (TSC_ADJUST: IA32_TSC_ADJUST, emulated as KVM always does;
 * FDP_EXCPTN_ONLY and ZERO_FCS_FDS: the x87 pointers of current Intel cores,
 * cpu/README.md, "Vendor behaviour") */
#define F7_EBX                                                                                     \
	(BIT(0) /* FSGSBASE */ | BIT(1) /* TSC_ADJUST */ | BIT(3) /* BMI1 */ | BIT(7) /* SMEP */ | \
	 BIT(6) /* FDP_EXCPTN_ONLY */ | BIT(13) /* ZERO_FCS_FDS */ | BIT(8) /* BMI2 */ |           \
	 BIT(9) /* ERMS */ | BIT(10) /* INVPCID */ | BIT(19) /* ADX */ | BIT(20) /* SMAP */ |      \
	 BIT(23) /* CLFLUSHOPT */ | BIT(24) /* CLWB */)
/* CPUID.7.0:ECX */
#define F7_ECX (BIT(2) /* UMIP */ | BIT(22) /* RDPID */ | BIT(5) /* WAITPKG */ | BIT(16) /* LA57   \
											  */)
#define F7_ECX_PKU BIT(3) /* with cpu_pku_offered() (SOFTKVM_PKU=1) */
/* CPUID.7.0:EDX: IA32_SPEC_CTRL with IBRS/IBPB, STIBP and SSBD (controls of a
 * processor that does not speculate: accepted, nothing to do), and
 * IA32_ARCH_CAPABILITIES, emulated as KVM always does */
#define F7_EDX (BIT(26) | BIT(27) | BIT(29) | BIT(31))
/* CPUID.80000001:ECX / EDX */
#define F81_ECX                                                                                    \
	(BIT(0) /* LAHF/SAHF in 64-bit mode */ | BIT(5) /* LZCNT */ | BIT(8) /* PREFETCHW */)
#define F81_EDX                                                                                    \
	(BIT(11) /* SYSCALL */ | BIT(20) /* NX */ | BIT(26) /* 1G pages */ |                       \
	 BIT(27) /* RDTSCP */ | BIT(29) /* LM */)

bool kvm_nested_enabled(void)
{
	const char *e = getenv("SOFTKVM_NESTED");
	return e && !strcmp(e, "1");
}

static void put(struct kvm_cpuid_entry2 *e, uint32_t fn, uint32_t idx, uint32_t flags, uint32_t a,
		uint32_t b, uint32_t c, uint32_t d)
{
	memset(e, 0, sizeof(*e));
	e->function = fn;
	e->index = idx;
	e->flags = flags;
	e->eax = a;
	e->ebx = b;
	e->ecx = c;
	e->edx = d;
}

static uint32_t str4(const char *s)
{
	uint32_t v;
	memcpy(&v, s, 4);
	return v;
}

static void guest_cpuid_cb(void *opaque, uint32_t fn, uint32_t idx, uint32_t out[4])
{
	kvm_cpuid_guest(opaque, fn, idx, out);
}

static uint32_t xsave_size(uint64_t xcr0)
{
	/* legacy area + header, + YMM_Hi128 (256 bytes at 576): the same in the
	 * standard and the compacted format */
	return cpu_xsave_size(xcr0);
}

/* with XSAVE component 9 (PKRU): its end in the standard format, or its 8
 * bytes after the others in the compacted one */
static uint32_t xsave_size_pkru(uint64_t xcr0, bool compacted)
{
	uint32_t n = xsave_size(xcr0 & ~CPU_XCR0_PKRU);
	if (!(xcr0 & CPU_XCR0_PKRU))
		return n;
	return compacted ? n + 8 : CPU_XSAVE_SIZE_PKRU;
}

/* CPUID.80000008:EBX: the AMD-defined speculation controls, as Linux 6.1's
 * kvm_set_cpu_caps() derives them from the host's IBPB/IBRS/STIBP/SSBD:
 * AMD_IBPB, AMD_IBRS, AMD_STIBP, AMD_SSBD, VIRT_SSBD (MSR_AMD64_VIRT_SPEC_CTRL,
 * emulated as SVM does) and AMD_SSB_NO (no speculative store bypass). A guest
 * the VMM identifies as AMD finds them where it looks (guest_has_pred_cmd_msr
 * and guest_has_spec_ctrl_msr accept them as well as CPUID.7.0:EDX) */
#define F88_EBX (BIT(12) | BIT(14) | BIT(15) | BIT(24) | BIT(25) | BIT(26))
/* KVM_CPUID_FEATURES: kvmclock (old and new MSRs) and its stable bit,
 * NOP_IO_DELAY (a hint: port 0x80 delays are not needed), and the
 * hypercalls kvm/vcpu.c implements: PV_UNHALT (KVM_HC_KICK_CPU wakes a
 * halted vCPU), PV_SEND_IPI and PV_SCHED_YIELD; STEAL_TIME (kvm/steal.c) is
 * added where the host has per-thread scheduler statistics. Not offered,
 * their MSRs not being implemented: ASYNC_PF*, PV_EOI, PV_TLB_FLUSH and
 * POLL_CONTROL */
#define KVM_FEATURES (BIT(0) | BIT(1) | BIT(3) | BIT(7) | BIT(11) | BIT(13) | BIT(24))

#define MAX_BASIC 0xd
#define MAX_EXT	  0x80000008u

/*
 * Fill the supported model; returns the number of entries (<= max) or
 * -E2BIG. As Linux 6.1's kvm_dev_ioctl_get_cpuid(): every basic leaf from 0
 * to CPUID.0:EAX, every extended leaf from 0x80000000 to CPUID.80000000:EAX,
 * then the KVM leaves, in that order, each leaf's sub-leaves in index order,
 * and KVM_CPUID_FLAG_SIGNIFCANT_INDEX on exactly the leaves Linux's
 * cpuid_function_is_indexed() names (4, 7, 0xb, 0xd here). Leaves with nothing
 * to say are present and zero, as __do_cpuid_func makes them.
 */
static int build_supported(struct kvm_cpuid_entry2 *e, uint32_t max)
{
	static const char brand[48] = "softkvm virtual CPU (software x86-64)";
	struct kvm_cpuid_entry2 tmp[64];
	uint32_t n = 0;

	put(&tmp[n++], 0, 0, 0, MAX_BASIC, str4("Genu"), str4("ntel"), str4("ineI"));
	/* family 6 model 0x86 stepping 1 (Tremont, QEMU's "Snowridge"; a model
	 * Linux lists for no speculation bug that IA32_ARCH_CAPABILITIES cannot
	 * clear). With AVX/AVX2/FMA/F16C (where the host runs them) the feature
	 * set is that of Tremont's successor Gracemont (Alder Lake-N's E-core:
	 * x86-64-v3, WAITPKG, no AVX-512) without its AES/SHA/PCLMUL/GFNI/
	 * RDRAND; the identity stays Tremont's. CLFLUSH line 8 qwords; the VMM
	 * sets APIC IDs. SSE3..SSE4.2 run on the host's unit: only those the
	 * host has */
	put(&tmp[n++], 1, 0, 0, 0x00080661, 0x00000800,
	    (F1_ECX & ~F1_ECX_HOST) | (F1_ECX_HOST & cpu_simd_cpuid1_ecx()) |
		(cpu_avx_supported() ? F1_ECX_AVX : 0) |
		(kvm_nested_enabled() ? BIT(5) /* VMX */ : 0),
	    F1_EDX);
	/* cache and TLB descriptors: AL = 1 (the count Linux's WARN checks), no
	 * descriptor; leaf 4 has no cache either (type 0 in sub-leaf 0) */
	put(&tmp[n++], 2, 0, 0, 1, 0, 0, 0);
	put(&tmp[n++], 3, 0, 0, 0, 0, 0, 0);
	put(&tmp[n++], 4, 0, SIG, 0, 0, 0, 0);
	/* MONITOR/MWAIT are not advertised: leaf 5 is zero */
	put(&tmp[n++], 5, 0, 0, 0, 0, 0, 0);
	/* thermal and power: only ARAT (the LAPIC timer runs in every C-state),
	 * which KVM always sets */
	put(&tmp[n++], 6, 0, 0, BIT(2), 0, 0, 0);
	/* sub-leaf 0 only (EAX = 0); TSC_ADJUST is emulated, as KVM always does */
	put(&tmp[n++], 7, 0, SIG, 0, F7_EBX | (cpu_avx_supported() ? F7_EBX_AVX : 0),
	    F7_ECX | (cpu_pku_offered() ? F7_ECX_PKU : 0), F7_EDX);
	put(&tmp[n++], 8, 0, 0, 0, 0, 0, 0);
	put(&tmp[n++], 9, 0, 0, 0, 0, 0, 0);
	/* architectural performance monitoring: no vPMU (version 0) */
	put(&tmp[n++], 0xa, 0, 0, 0, 0, 0, 0);
	/* extended topology: "no topology" (EBX = 0, no sub-leaf 1), as Linux
	 * 6.1 reports it; the VMM describes its own (vmm/vmm.c). A template
	 * with EBX != 0 passed through unchanged (kvmtool does) made Linux
	 * compute zero cores per package and divide by it */
	put(&tmp[n++], 0xb, 0, SIG, 0, 0, 0, 0);
	put(&tmp[n++], 0xc, 0, 0, 0, 0, 0, 0);
	/* XSAVE: XCR0 may hold x87 | SSE (the 576-byte legacy area + header),
	 * YMM (256 bytes at 576) when the host runs AVX, and PKRU (8 bytes at
	 * 0xa80); EBX = ECX = the size for everything permitted, as Linux 6.1's
	 * __do_cpuid_func(); sub-leaf 1: XSAVEOPT, XSAVEC, with EBX the
	 * compacted size for all of XCR0 | XSS; sub-leaves 2 and 9: the
	 * components' sizes and offsets (PKRU a user component, not aligned) */
	put(&tmp[n++], 0xd, 0, SIG, (uint32_t)CPU_XCR0_SUPPORTED,
	    xsave_size_pkru(CPU_XCR0_SUPPORTED, false), xsave_size_pkru(CPU_XCR0_SUPPORTED, false),
	    0);
	put(&tmp[n++], 0xd, 1, SIG, BIT(0) | BIT(1), xsave_size_pkru(CPU_XCR0_SUPPORTED, true), 0,
	    0);
	if (CPU_XCR0_SUPPORTED & 4)
		put(&tmp[n++], 0xd, 2, SIG, 256, CPU_XSAVE_YMM_OFF, 0, 0);
	if (CPU_XCR0_SUPPORTED & CPU_XCR0_PKRU)
		put(&tmp[n++], 0xd, 9, SIG, 8, CPU_XSAVE_PKRU_OFFSET, 0, 0);
	put(&tmp[n++], 0x80000000, 0, 0, MAX_EXT, 0, 0, 0);
	put(&tmp[n++], 0x80000001, 0, 0, 0, 0, F81_ECX, F81_EDX);
	for (int k = 0; k < 3; k++) {
		const char *p = brand + 16 * k;
		put(&tmp[n++], 0x80000002 + k, 0, 0, str4(p), str4(p + 4), str4(p + 8),
		    str4(p + 12));
	}
	/* L1 (AMD's) and L2 cache descriptions: none */
	put(&tmp[n++], 0x80000005, 0, 0, 0, 0, 0, 0);
	put(&tmp[n++], 0x80000006, 0, 0, 0, 0, 0, 0);
	/* invariant TSC: the guest TSC follows the host monotonic clock */
	put(&tmp[n++], 0x80000007, 0, 0, 0, 0, 0, BIT(8));
	/* 46 physical address bits, 57 linear (LA57; Linux 6.1 reports the
	 * host's width, 57 on a host with LA57) */
	put(&tmp[n++], 0x80000008, 0, 0, 0x392e, F88_EBX, 0, 0);
	/* KVM paravirt signature and features */
	put(&tmp[n++], 0x40000000, 0, 0, 0x40000001, str4("KVMK"), str4("VMKV"), str4("M\0\0\0"));
	/* STEAL_TIME (bit 5) when the host keeps per-thread run_delay, as
	 * Linux's sched_info_on() */
	put(&tmp[n++], 0x40000001, 0, 0, KVM_FEATURES | (kvm_steal_supported() ? BIT(5) : 0), 0, 0,
	    0);
	if (n > max)
		return -E2BIG;
	memcpy(e, tmp, n * sizeof(*e));
	return (int)n;
}

int kvm_get_supported_cpuid(struct kvm_cpuid2 *out, uint32_t max)
{
	if (max < 1)
		return -E2BIG;
	if (max > MAX_CPUID_ENTRIES)
		max = MAX_CPUID_ENTRIES;
	int n = build_supported(out->entries, max);
	if (n < 0)
		return n;
	out->nent = (uint32_t)n;
	return 0;
}

/* ---- the guest's table ---- */

/*
 * v->cpuid is the table exactly as KVM_SET_CPUID2 gave it (KVM_GET_CPUID2
 * returns it in that order, with the runtime bits current). v->cpuid_index is
 * an open-addressing hash built at KVM_SET_CPUID2 from (function, index) -
 * or (function, any) for entries whose index is not significant - to the
 * first such entry in table order, so every lookup, and every per-cause
 * update below, is O(1) whatever the table's size.
 */
#define ANY_INDEX 0xffffffffu

static uint32_t cpuid_hash(uint32_t fn, uint32_t idx)
{
	uint32_t h = fn * 0x9e3779b1u ^ (idx + 0x7f4a7c15u) * 0x85ebca77u;
	return h ^ (h >> 15);
}

/* build the index for table e of n entries: size is a power of two >= 2n */
static int32_t *index_build(const struct kvm_cpuid_entry2 *e, uint32_t n, uint32_t *mask_out)
{
	uint32_t size = 16;
	while (size < 2 * n)
		size <<= 1;
	int32_t *ix = malloc(size * sizeof(*ix));
	if (!ix)
		return NULL;
	for (uint32_t k = 0; k < size; k++)
		ix[k] = -1;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t key_idx = (e[k].flags & SIG) ? e[k].index : ANY_INDEX;
		uint32_t h = cpuid_hash(e[k].function, key_idx) & (size - 1);
		for (;; h = (h + 1) & (size - 1)) {
			if (ix[h] < 0) {
				ix[h] = (int32_t)k;
				break;
			}
			const struct kvm_cpuid_entry2 *o = &e[ix[h]];
			if (o->function == e[k].function &&
			    ((o->flags & SIG) ? o->index : ANY_INDEX) == key_idx)
				break; /* keep the first in table order */
		}
	}
	*mask_out = size - 1;
	return ix;
}

static int32_t index_probe(const struct kvm_cpuid_entry2 *e, const int32_t *ix, uint32_t mask,
			   uint32_t fn, uint32_t key_idx)
{
	for (uint32_t h = cpuid_hash(fn, key_idx) & mask;; h = (h + 1) & mask) {
		int32_t k = ix[h];
		if (k < 0)
			return -1;
		if (e[k].function == fn && ((e[k].flags & SIG) ? e[k].index : ANY_INDEX) == key_idx)
			return k;
	}
}

/* Linux's cpuid_entry2_find(): the first entry in table order with the
 * function whose index matches or is not significant - two probes */
static struct kvm_cpuid_entry2 *index_find(struct kvm_cpuid_entry2 *e, const int32_t *ix,
					   uint32_t mask, uint32_t fn, uint32_t idx)
{
	if (!ix)
		return NULL;
	int32_t a = index_probe(e, ix, mask, fn, idx);
	int32_t b = index_probe(e, ix, mask, fn, ANY_INDEX);
	if (a < 0)
		return b < 0 ? NULL : &e[b];
	if (b < 0 || a < b)
		return &e[a];
	return &e[b];
}

static struct kvm_cpuid_entry2 *cpuid_entry(const struct kvm_vcpu *v, uint32_t fn, uint32_t idx)
{
	return index_find(v->cpuid, v->cpuid_index, v->cpuid_index_mask, fn, idx);
}

const struct kvm_cpuid_entry2 *kvm_cpuid_find(const struct kvm_vcpu *v, uint32_t fn, uint32_t idx)
{
	return cpuid_entry(v, fn, idx);
}

bool kvm_guest_has(const struct kvm_vcpu *v, uint32_t fn, uint32_t idx, int reg, unsigned bit)
{
	const struct kvm_cpuid_entry2 *e = kvm_cpuid_find(v, fn, idx);
	if (!e)
		return false;
	uint32_t r = reg == CPUID_EAX	? e->eax
		     : reg == CPUID_EBX ? e->ebx
		     : reg == CPUID_ECX ? e->ecx
					: e->edx;
	return (r >> bit) & 1;
}

/* The same predicate on the model KVM_GET_SUPPORTED_CPUID reports. */
bool kvm_supported_has(uint32_t fn, uint32_t idx, int reg, unsigned bit)
{
	struct kvm_cpuid_entry2 e[MAX_CPUID_ENTRIES];
	int n = build_supported(e, MAX_CPUID_ENTRIES);

	for (int k = 0; k < n; k++) {
		if (e[k].function != fn || ((e[k].flags & SIG) && e[k].index != idx))
			continue;
		uint32_t r = reg == CPUID_EAX	? e[k].eax
			     : reg == CPUID_EBX ? e[k].ebx
			     : reg == CPUID_ECX ? e[k].ecx
						: e[k].edx;
		return (r >> bit) & 1;
	}
	return false;
}

static void change_bit(uint32_t *reg, unsigned bit, bool on)
{
	if (on)
		*reg |= 1u << bit;
	else
		*reg &= ~(1u << bit);
}

/*
 * Per-cause runtime updates (the seed "Split kvm_update_cpuid_runtime()"):
 * each cause touches only the entries it affects, found through the index.
 * They run on an arbitrary table so KVM_SET_CPUID2 can apply them to the
 * incoming one.
 */
static void cause_osxsave(struct kvm_cpuid_entry2 *e, const int32_t *ix, uint32_t mask,
			  uint64_t cr4)
{
	struct kvm_cpuid_entry2 *l1 = index_find(e, ix, mask, 1, 0);
	if (l1)
		change_bit(&l1->ecx, 27, (cr4 & CR4_OSXSAVE) != 0);
}

static void cause_ospke(struct kvm_cpuid_entry2 *e, const int32_t *ix, uint32_t mask, uint64_t cr4)
{
	/* OSPKE follows CR4.PKE wherever the processor has PKU, whatever the
	 * guest's PKU bit (Linux 6.1's kvm_update_cpuid_runtime()) */
	struct kvm_cpuid_entry2 *l7 = index_find(e, ix, mask, 7, 0);
	if (l7)
		change_bit(&l7->ecx, 4, (cr4 & CR4_PKE) != 0);
}

static void cause_apic(struct kvm_cpuid_entry2 *e, const int32_t *ix, uint32_t mask, bool enabled)
{
	struct kvm_cpuid_entry2 *l1 = index_find(e, ix, mask, 1, 0);
	if (l1)
		change_bit(&l1->edx, 9, enabled);
}

static void cause_xstate(struct kvm_cpuid_entry2 *e, const int32_t *ix, uint32_t mask,
			 uint64_t xcr0, uint64_t xss)
{
	struct kvm_cpuid_entry2 *d0 = index_find(e, ix, mask, 0xd, 0);
	if (d0)
		d0->ebx = xsave_size_pkru(xcr0, false);
	/* with XSAVEC (or XSAVES): the compacted size for XCR0 | IA32_XSS */
	struct kvm_cpuid_entry2 *d1 = index_find(e, ix, mask, 0xd, 1);
	if (d1 && (d1->eax & (BIT(1) | BIT(3))))
		d1->ebx = xsave_size_pkru(xcr0 | xss, true);
}

static void cause_mwait(struct kvm_vcpu *v, struct kvm_cpuid_entry2 *e, const int32_t *ix,
			uint32_t mask, uint64_t misc_enable)
{
	/* only with KVM_X86_QUIRK_MISC_ENABLE_NO_MWAIT disabled (Linux 6.1) */
	if (!(v->vm->quirks_disabled & KVM_X86_QUIRK_MISC_ENABLE_NO_MWAIT))
		return;
	struct kvm_cpuid_entry2 *l1 = index_find(e, ix, mask, 1, 0);
	if (l1)
		change_bit(&l1->ecx, 3, (misc_enable & (1ull << 18)) != 0);
}

/* every cause once, from the vCPU's current state */
static void update_all(struct kvm_vcpu *v, struct kvm_cpuid_entry2 *e, const int32_t *ix,
		       uint32_t mask)
{
	struct cpu_sregs s;
	uint64_t misc = 0;

	cpu_get_sregs(v->cpu, &s);
	cause_osxsave(e, ix, mask, s.cr4);
	cause_ospke(e, ix, mask, s.cr4);
	cause_apic(e, ix, mask, (s.apic_base & (1u << 11)) != 0);
	cause_xstate(e, ix, mask, cpu_get_xcr0(v->cpu), 0);
	kvm_msr_get(v, MSR_IA32_MISC_ENABLE, &misc, true);
	cause_mwait(v, e, ix, mask, misc);
}

/* after INIT or a reset of the vCPU's state: every cause again */
void kvm_cpuid_refresh(struct kvm_vcpu *v)
{
	if (v->cpuid_index)
		update_all(v, v->cpuid, v->cpuid_index, v->cpuid_index_mask);
}

/* the causes, called where the state changes */
void kvm_cpuid_cr4_changed(struct kvm_vcpu *v, uint64_t old, uint64_t cr4)
{
	if ((old ^ cr4) & CR4_OSXSAVE)
		cause_osxsave(v->cpuid, v->cpuid_index, v->cpuid_index_mask, cr4);
	if ((old ^ cr4) & CR4_PKE)
		cause_ospke(v->cpuid, v->cpuid_index, v->cpuid_index_mask, cr4);
}

void kvm_cpuid_update_apic_bit(struct kvm_vcpu *v, bool enabled)
{
	cause_apic(v->cpuid, v->cpuid_index, v->cpuid_index_mask, enabled);
}

void kvm_cpuid_xcr0_changed(struct kvm_vcpu *v, uint64_t xcr0)
{
	cause_xstate(v->cpuid, v->cpuid_index, v->cpuid_index_mask, xcr0, 0);
}

void kvm_cpuid_misc_enable_changed(struct kvm_vcpu *v, uint64_t misc)
{
	cause_mwait(v, v->cpuid, v->cpuid_index, v->cpuid_index_mask, misc);
}

/* Linux's kvm_check_cpuid(): the linear address width must be 48 or 57 (or 0). */
static int check_cpuid(struct kvm_cpuid_entry2 *e, const int32_t *ix, uint32_t mask)
{
	const struct kvm_cpuid_entry2 *x = index_find(e, ix, mask, 0x80000008, 0);

	if (x) {
		unsigned vbits = (x->eax >> 8) & 0xff;
		if (vbits != 48 && vbits != 57 && vbits != 0)
			return -EINVAL;
	}
	return 0;
}

static int cpuid_install(struct kvm_vcpu *v, struct kvm_cpuid_entry2 *e, uint32_t n)
{
	uint32_t mask;
	int32_t *ix = index_build(e, n, &mask);
	int r = 0;

	if (!ix) {
		free(e);
		return -ENOMEM;
	}
	/* the runtime bits as this vCPU's state makes them */
	update_all(v, e, ix, mask);
	if (v->ran) {
		/*
		 * After KVM_RUN only the identical table is accepted (Linux
		 * kvm_cpuid_check_equal(): E2BIG for another count, else EINVAL).
		 */
		if (n != v->ncpuid)
			r = -E2BIG;
		for (uint32_t k = 0; !r && k < n; k++) {
			const struct kvm_cpuid_entry2 *a = &e[k], *b = &v->cpuid[k];
			if (a->function != b->function || a->index != b->index ||
			    a->flags != b->flags || a->eax != b->eax || a->ebx != b->ebx ||
			    a->ecx != b->ecx || a->edx != b->edx)
				r = -EINVAL;
		}
		free(e);
		free(ix);
		return r;
	}
	r = check_cpuid(e, ix, mask);
	if (r) {
		free(e);
		free(ix);
		return r;
	}
	free(v->cpuid);
	free(v->cpuid_index);
	v->cpuid = e;
	v->ncpuid = n;
	v->cpuid_index = ix;
	v->cpuid_index_mask = mask;
	/* MAXPHYADDR for the page walker's reserved-bit checks */
	const struct kvm_cpuid_entry2 *p = kvm_cpuid_find(v, 0x80000008, 0);
	cpu_set_maxphyaddr(v->cpu, p && (p->eax & 0xff) ? p->eax & 0xff : 36);
	/* XCR0 bits XSETBV and KVM_SET_XCRS accept (guest_supported_xcr0) */
	p = kvm_cpuid_find(v, 0xd, 0);
	cpu_set_xcr0_allowed(v->cpu, p ? p->eax | (uint64_t)p->edx << 32 : 0);
	/* the processor behaves as the vendor this CPUID names (cpu/README.md) */
	struct cpu_vendor_info vi;
	cpu_vendor_from_cpuid(&vi, guest_cpuid_cb, v);
	cpu_set_vendor(v->cpu, &vi);
	kvm_vcpu_cpuid_changed(v);
	return 0;
}

int kvm_vcpu_set_cpuid2(struct kvm_vcpu *v, const struct kvm_cpuid_entry2 *e, uint32_t n)
{
	if (n > MAX_CPUID_ENTRIES)
		return -E2BIG;
	struct kvm_cpuid_entry2 *c = calloc(n ? n : 1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	memcpy(c, e, n * sizeof(*c));
	return cpuid_install(v, c, n);
}

int kvm_vcpu_set_cpuid(struct kvm_vcpu *v, const struct kvm_cpuid_entry *e, uint32_t n)
{
	if (n > MAX_CPUID_ENTRIES)
		return -E2BIG;
	struct kvm_cpuid_entry2 *c = calloc(n ? n : 1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	for (uint32_t k = 0; k < n; k++) {
		c[k].function = e[k].function;
		c[k].eax = e[k].eax;
		c[k].ebx = e[k].ebx;
		c[k].ecx = e[k].ecx;
		c[k].edx = e[k].edx;
	}
	return cpuid_install(v, c, n);
}

int kvm_vcpu_get_cpuid2(struct kvm_vcpu *v, struct kvm_cpuid2 *out, uint32_t max)
{
	if (max < v->ncpuid)
		return -E2BIG;
	if (v->ncpuid) /* none set yet: v->cpuid is NULL */
		memcpy(out->entries, v->cpuid, v->ncpuid * sizeof(*v->cpuid));
	out->nent = v->ncpuid;
	return 0;
}

/*
 * Linux's get_out_of_range_cpuid_entry(): on an Intel-compatible model a
 * leaf above its class's range - or in a class with no entry at all - is
 * the highest basic leaf, with the requested index. The class of a
 * hypervisor leaf is its 0x100 block's base entry (0x40000000, 0x40000100...),
 * then 0xc0000000, 0x80000000, 0.
 */
static const struct kvm_cpuid_entry2 *out_of_range(const struct kvm_vcpu *v, uint32_t *fn,
						   uint32_t idx)
{
	const struct kvm_cpuid_entry2 *basic = kvm_cpuid_find(v, 0, 0), *class;

	if (!basic)
		return NULL;
	if ((basic->ebx == str4("Auth") && basic->ecx == str4("cAMD") &&
	     basic->edx == str4("enti")) ||
	    (basic->ebx == str4("Hygo") && basic->ecx == str4("uine") &&
	     basic->edx == str4("nGen")))
		return NULL;
	if (*fn >= 0x40000000 && *fn <= 0x4fffffff)
		class = kvm_cpuid_find(v, *fn & 0xffffff00, 0);
	else if (*fn >= 0xc0000000)
		class = kvm_cpuid_find(v, 0xc0000000, 0);
	else
		class = kvm_cpuid_find(v, *fn & 0x80000000, 0);
	if (class && *fn <= class->eax)
		return NULL;
	*fn = basic->eax;
	return kvm_cpuid_find(v, basic->eax, idx);
}

/* The guest's CPUID instruction: Linux 6.1's kvm_cpuid(). */
void kvm_cpuid_guest(struct kvm_vcpu *v, uint32_t fn, uint32_t idx, uint32_t out[4])
{
	const struct kvm_cpuid_entry2 *e = kvm_cpuid_find(v, fn, idx);

	if (!e)
		e = out_of_range(v, &fn, idx);
	if (e) {
		out[0] = e->eax;
		out[1] = e->ebx;
		out[2] = e->ecx;
		out[3] = e->edx;
		return;
	}
	out[0] = out[1] = out[2] = out[3] = 0;
	/* leaves 0xB and 0x1F, where defined (sub-leaf 1 exists): an undefined
	 * sub-leaf still has its number in CL and the x2APIC ID in EDX */
	if (fn == 0xb || fn == 0x1f) {
		e = kvm_cpuid_find(v, fn, 1);
		if (e) {
			out[2] = idx & 0xff;
			out[3] = e->edx;
		}
	}
}
