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
#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

#define BIT(n) (1u << (n))

/* Features the processor implements, by leaf. Keep in step with cpu/. */
/* CPUID.1:EDX */
#define F1_EDX (BIT(7) /* MCE */ | BIT(14) /* MCA */ | BIT(2) /* DE */ | BIT(11) /* SEP */ | BIT(19) /* CLFSH */ | BIT(9) /* APIC */ | BIT(3) /* PSE */ | BIT(4) /* TSC */ | BIT(5) /* MSR */ | BIT(6) /* PAE */ |        \
		BIT(8) /* CX8 */ | BIT(12) /* MTRR */ | BIT(13) /* PGE */ | BIT(15) /* CMOV */ |      \
		BIT(16) /* PAT */ | BIT(17) /* PSE36 */ |                                             \
		BIT(0) /* FPU */ | BIT(23) /* MMX */ | BIT(24) /* FXSR */ | BIT(25) /* SSE */ |     \
		BIT(26) /* SSE2 */)
/* CPUID.1:ECX */
#define F1_ECX (BIT(17) /* PCID */ | BIT(21) /* x2APIC */ | BIT(24) /* TSC deadline */ | BIT(13) /* CX16 */ | BIT(22) /* MOVBE */ | BIT(23) /* POPCNT */ |               \
		BIT(31) /* hypervisor */ |                                                            \
		BIT(0) /* SSE3 */ | BIT(9) /* SSSE3 */ | BIT(19) /* SSE4.1 */ | BIT(20) /* SSE4.2 */ | \
		BIT(26) /* XSAVE */)
#define F1_ECX_HOST (BIT(0) | BIT(9) | BIT(19) | BIT(20))
/* CPUID.7.0:EBX */
#define F7_EBX (BIT(0) /* FSGSBASE */ | BIT(3) /* BMI1 */ | BIT(7) /* SMEP */ | BIT(8) /* BMI2 */ |  \
		BIT(9) /* ERMS */ | BIT(10) /* INVPCID */ | BIT(19) /* ADX */ |        \
		BIT(20) /* SMAP */ | BIT(23) /* CLFLUSHOPT */ | BIT(24) /* CLWB */)
/* CPUID.7.0:ECX */
#define F7_ECX (BIT(2) /* UMIP */ | BIT(22) /* RDPID */ | BIT(5) /* WAITPKG */)
/* CPUID.80000001:ECX / EDX */
#define F81_ECX (BIT(0) /* LAHF/SAHF in 64-bit mode */ | BIT(5) /* LZCNT */ | BIT(8) /* PREFETCHW */)
#define F81_EDX (BIT(11) /* SYSCALL */ | BIT(20) /* NX */ | BIT(26) /* 1G pages */ |            \
		 BIT(27) /* RDTSCP */ | BIT(29) /* LM */)

static void put(struct kvm_cpuid_entry2 *e, uint32_t fn, uint32_t idx, uint32_t flags,
		uint32_t a, uint32_t b, uint32_t c, uint32_t d)
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

/* Fill the supported model; returns the number of entries (<= max) or -E2BIG. */
static int build_supported(struct kvm_cpuid_entry2 *e, uint32_t max)
{
	static const char brand[48] = "softkvm virtual CPU (software x86-64)";
	struct kvm_cpuid_entry2 tmp[64];
	uint32_t n = 0;

	put(&tmp[n++], 0, 0, 0, 0xd, str4("Genu"), str4("ntel"), str4("ineI"));
	/* family 6, model 0x55-like; CLFLUSH line 8 qwords; the VMM sets APIC IDs.
	 * SSE3..SSE4.2 run on the host's unit: only those the host has */
	put(&tmp[n++], 1, 0, 0, 0x00050654, 0x00000800,
	    (F1_ECX & ~F1_ECX_HOST) | (F1_ECX_HOST & cpu_simd_cpuid1_ecx()), F1_EDX);
	put(&tmp[n++], 7, 0, SIG, 0, F7_EBX, F7_ECX, 0);
	/* topology leaf: the VMM describes the topology; KVM passes a template */
	put(&tmp[n++], 0xb, 0, SIG, 0, 1, 0x100, 0);
	put(&tmp[n++], 0xb, 1, SIG, 0, 0, 0x201, 0);
	/* XSAVE: XCR0 may hold x87 | SSE, both in the 576-byte legacy area + header;
	 * sub-leaf 1: XSAVEOPT, XSAVEC */
	put(&tmp[n++], 0xd, 0, SIG, (uint32_t)CPU_XCR0_SUPPORTED, CPU_XSAVE_SIZE, CPU_XSAVE_SIZE, 0);
	put(&tmp[n++], 0xd, 1, SIG, BIT(0) | BIT(1), 0, 0, 0);
	put(&tmp[n++], 0x80000000, 0, 0, 0x80000008, 0, 0, 0);
	put(&tmp[n++], 0x80000001, 0, 0, 0, 0, F81_ECX, F81_EDX);
	for (int k = 0; k < 3; k++) {
		const char *p = brand + 16 * k;
		put(&tmp[n++], 0x80000002 + k, 0, 0, str4(p), str4(p + 4), str4(p + 8),
		    str4(p + 12));
	}
	/* invariant TSC: the guest TSC follows the host monotonic clock */
	put(&tmp[n++], 0x80000007, 0, 0, 0, 0, 0, BIT(8));
	/* 46 physical address bits, 48 linear */
	put(&tmp[n++], 0x80000008, 0, 0, 0x302e, 0, 0, 0);
	/* KVM paravirt signature and features: kvmclock (old and new MSRs), stable bit */
	put(&tmp[n++], 0x40000000, 0, 0, 0x40000001, str4("KVMK"), str4("VMKV"), str4("M\0\0\0"));
	put(&tmp[n++], 0x40000001, 0, 0, BIT(0) | BIT(3) | BIT(24), 0, 0, 0);
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
 * v->cpuid holds 2 * ncpuid entries in one allocation: the table exactly as
 * KVM_SET_CPUID2 gave it (KVM_GET_CPUID2 returns it in that order), then a
 * copy sorted by function, stable, for the lookup.
 */
static struct kvm_cpuid_entry2 *sorted_table(const struct kvm_vcpu *v)
{
	return v->cpuid ? v->cpuid + v->ncpuid : NULL;
}

/*
 * Linux's cpuid_entry2_find(): the first entry, in table order, with the
 * function whose index matches or is not significant. Binary search finds the
 * run of entries with the function; the stable sort kept their order.
 */
static struct kvm_cpuid_entry2 *table_find(struct kvm_cpuid_entry2 *sorted, uint32_t n,
					   uint32_t fn, uint32_t idx)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (sorted[mid].function < fn)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && sorted[lo].function == fn; lo++)
		if (!(sorted[lo].flags & SIG) || sorted[lo].index == idx)
			return &sorted[lo];
	return NULL;
}

const struct kvm_cpuid_entry2 *kvm_cpuid_find(const struct kvm_vcpu *v, uint32_t fn, uint32_t idx)
{
	return table_find(sorted_table(v), v->ncpuid, fn, idx);
}

bool kvm_guest_has(const struct kvm_vcpu *v, uint32_t fn, uint32_t idx, int reg, unsigned bit)
{
	const struct kvm_cpuid_entry2 *e = kvm_cpuid_find(v, fn, idx);
	if (!e)
		return false;
	uint32_t r = reg == CPUID_EAX ? e->eax : reg == CPUID_EBX ? e->ebx
		   : reg == CPUID_ECX ? e->ecx : e->edx;
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
		uint32_t r = reg == CPUID_EAX ? e[k].eax : reg == CPUID_EBX ? e[k].ebx
			   : reg == CPUID_ECX ? e[k].ecx : e[k].edx;
		return (r >> bit) & 1;
	}
	return false;
}

/* Linux's kvm_check_cpuid(): the linear address width must be 48 or 57 (or 0). */
static int check_cpuid(struct kvm_cpuid_entry2 *sorted, uint32_t n)
{
	const struct kvm_cpuid_entry2 *e = table_find(sorted, n, 0x80000008, 0);

	if (e) {
		unsigned vbits = (e->eax >> 8) & 0xff;
		if (vbits != 48 && vbits != 57 && vbits != 0)
			return -EINVAL;
	}
	return 0;
}

static void change_bit(uint32_t *reg, unsigned bit, bool on)
{
	if (on)
		*reg |= 1u << bit;
	else
		*reg &= ~(1u << bit);
}

/* XSAVE area size for the features in xcr0 (legacy area, header, AVX) */
static uint32_t xsave_size(uint64_t xcr0)
{
	return 576 + ((xcr0 & 4) ? 256 : 0);
}

/*
 * The bits that follow vCPU state (Linux __kvm_update_cpuid_runtime()):
 * OSXSAVE mirrors CR4.OSXSAVE, APIC mirrors IA32_APIC_BASE.EN, MWAIT mirrors
 * IA32_MISC_ENABLE.MWAIT, and CPUID.0xD.0:EBX is the size XCR0 needs. Applied
 * to the table order copy; the caller re-sorts or patches the sorted copy.
 */
static void update_runtime(struct kvm_vcpu *v, struct kvm_cpuid_entry2 *sorted, uint32_t n)
{
	struct cpu_sregs s;
	uint64_t misc = 0;
	struct kvm_cpuid_entry2 *e;

	cpu_get_sregs(v->cpu, &s);
	e = table_find(sorted, n, 1, 0);
	if (e) {
		change_bit(&e->ecx, 27, (s.cr4 & CR4_OSXSAVE) != 0);
		change_bit(&e->edx, 9, (s.apic_base & (1u << 11)) != 0);
		kvm_msr_get(v, MSR_IA32_MISC_ENABLE, &misc, true);
		change_bit(&e->ecx, 3, (misc & (1ull << 18)) != 0);
	}
	e = table_find(sorted, n, 0xd, 0);
	if (e)
		e->ebx = xsave_size(cpu_get_xcr0(v->cpu));
	/* with XSAVEC (or XSAVES): the compacted size for XCR0 | IA32_XSS (no XSS here) */
	e = table_find(sorted, n, 0xd, 1);
	if (e && (e->eax & (BIT(1) | BIT(3))))
		e->ebx = xsave_size(cpu_get_xcr0(v->cpu));
}

/* Copy the sorted copy's entries back over the table order copy (same entries). */
static void sync_table_order(struct kvm_cpuid_entry2 *tab, const uint32_t *pos,
			     const struct kvm_cpuid_entry2 *sorted, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++)
		tab[pos[k]] = sorted[k];
}

static int cpuid_install(struct kvm_vcpu *v, struct kvm_cpuid_entry2 *e, uint32_t n)
{
	struct kvm_cpuid_entry2 *sorted = e + n;
	uint32_t *pos = calloc(n ? n : 1, sizeof(*pos));
	int r = 0;

	if (!pos) {
		free(e);
		return -ENOMEM;
	}
	/* stable insertion sort by function; pos[] remembers table positions */
	for (uint32_t k = 0; k < n; k++) {
		uint32_t j = k;
		while (j && sorted[j - 1].function > e[k].function) {
			sorted[j] = sorted[j - 1];
			pos[j] = pos[j - 1];
			j--;
		}
		sorted[j] = e[k];
		pos[j] = k;
	}
	update_runtime(v, sorted, n);
	sync_table_order(e, pos, sorted, n);
	free(pos);
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
		return r;
	}
	r = check_cpuid(sorted, n);
	if (r) {
		free(e);
		return r;
	}
	free(v->cpuid);
	v->cpuid = e;
	v->ncpuid = n;
	/* MAXPHYADDR for the page walker's reserved-bit checks */
	const struct kvm_cpuid_entry2 *p = kvm_cpuid_find(v, 0x80000008, 0);
	cpu_set_maxphyaddr(v->cpu, p && (p->eax & 0xff) ? p->eax & 0xff : 36);
	/* XCR0 bits XSETBV and KVM_SET_XCRS accept (guest_supported_xcr0) */
	p = kvm_cpuid_find(v, 0xd, 0);
	cpu_set_xcr0_allowed(v->cpu, p ? p->eax | (uint64_t)p->edx << 32 : 0);
	kvm_vcpu_cpuid_changed(v);
	return 0;
}

int kvm_vcpu_set_cpuid2(struct kvm_vcpu *v, const struct kvm_cpuid_entry2 *e, uint32_t n)
{
	if (n > MAX_CPUID_ENTRIES)
		return -E2BIG;
	struct kvm_cpuid_entry2 *c = calloc(n ? 2 * n : 1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	memcpy(c, e, n * sizeof(*c));
	return cpuid_install(v, c, n);
}

int kvm_vcpu_set_cpuid(struct kvm_vcpu *v, const struct kvm_cpuid_entry *e, uint32_t n)
{
	if (n > MAX_CPUID_ENTRIES)
		return -E2BIG;
	struct kvm_cpuid_entry2 *c = calloc(n ? 2 * n : 1, sizeof(*c));
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
	memcpy(out->entries, v->cpuid, v->ncpuid * sizeof(*v->cpuid));
	out->nent = v->ncpuid;
	return 0;
}

/* The guest's CPUID instruction (kvm_cpuid(): out-of-range leaves give the
 * highest basic leaf on Intel-compatible models). */
void kvm_cpuid_guest(struct kvm_vcpu *v, uint32_t fn, uint32_t idx, uint32_t out[4])
{
	const struct kvm_cpuid_entry2 *e = kvm_cpuid_find(v, fn, idx);

	if (!e) {
		uint32_t base = fn & 0xc0000000u;
		const struct kvm_cpuid_entry2 *max = kvm_cpuid_find(v, base, 0);
		const struct kvm_cpuid_entry2 *vendor = kvm_cpuid_find(v, 0, 0);
		bool amd = vendor && vendor->ebx == str4("Auth");
		if (!amd && max && fn > max->eax && (base == 0 || base == 0x80000000)) {
			const struct kvm_cpuid_entry2 *b0 = kvm_cpuid_find(v, 0, 0);
			if (b0)
				e = kvm_cpuid_find(v, b0->eax, idx);
		}
	}
	if (!e) {
		out[0] = out[1] = out[2] = out[3] = 0;
		return;
	}
	out[0] = e->eax;
	out[1] = e->ebx;
	out[2] = e->ecx;
	out[3] = e->edx;
	/* what follows CR4.OSXSAVE and XCR0 as the guest changes them (Linux
	 * updates the entries on each change: kvm_update_cpuid_runtime()) */
	if (e->function == 1 || e->function == 0xd) {
		struct cpu_sregs s;
		cpu_get_sregs(v->cpu, &s);
		if (e->function == 1)
			change_bit(&out[2], 27, (s.cr4 & CR4_OSXSAVE) != 0);
		else if (e->index == 0 || (e->index == 1 && (out[0] & (BIT(1) | BIT(3)))))
			out[1] = xsave_size(cpu_get_xcr0(v->cpu));
	}
}

/* CPUID.1:EDX.APIC follows IA32_APIC_BASE.EN (Linux kvm_update_cpuid_runtime) */
void kvm_cpuid_update_apic_bit(struct kvm_vcpu *v, bool enabled)
{
	struct kvm_cpuid_entry2 *e = (struct kvm_cpuid_entry2 *)kvm_cpuid_find(v, 1, 0);
	if (!e)
		return;
	/* the same entry in table order: the k-th entry of function 1 in both */
	unsigned nth = 0;
	for (struct kvm_cpuid_entry2 *s = sorted_table(v); s < e; s++)
		nth += s->function == 1;
	for (uint32_t k = 0; k < v->ncpuid; k++) {
		if (v->cpuid[k].function == 1 && !nth--) {
			change_bit(&v->cpuid[k].edx, 9, enabled);
			break;
		}
	}
	change_bit(&e->edx, 9, enabled);
}
