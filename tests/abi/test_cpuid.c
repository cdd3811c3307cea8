/* SPDX-License-Identifier: MIT */
/*
 * KVM_GET_SUPPORTED_CPUID as Linux 6.1 builds it (arch/x86/kvm/cpuid.c,
 * kvm_dev_ioctl_get_cpuid and __do_cpuid_func):
 *  - every basic leaf 0..CPUID.0:EAX, then every extended leaf
 *    0x80000000..CPUID.80000000:EAX, then the KVM leaves from 0x40000000, in
 *    that order, each sub-leaf once and in index order;
 *  - KVM_CPUID_FLAG_SIGNIFCANT_INDEX on exactly the indexed leaves;
 *  - leaves 0xB and 0x1F say "no topology": sub-leaf 0 with EAX = EBX = ECX
 *    = 0 and no sub-leaf 1 (a template with EBX = 1 in sub-leaf 0 and 0 in
 *    sub-leaf 1, passed through as kvmtool does, makes Linux divide by zero);
 *  - leaf 2 with AL = 1, leaf 4 ending with a null cache type, leaf 6 with
 *    only ARAT, leaf 7's sub-leaves up to 7.0:EAX, leaf 0xD sub-leaf 1 with the
 *    compacted size when XSAVEC is offered, the leaves KVM zeroes (3, 5, 8,
 *    9, 0xA without a vPMU, 0xC), 0x80000008 with the AMD speculation
 *    controls, the KVM signature and features;
 *  - nent: E2BIG below 1 or below the count (nent left as it was), the count
 *    written back on success, more than 256 taken as 256.
 * And the MSRs those bits stand for, from the guest: IA32_PRED_CMD and
 * IA32_SPEC_CTRL with Intel's CPUID.7.0:EDX.SPEC_CTRL or with only the AMD
 * bits (guest_has_pred_cmd_msr / guest_has_spec_ctrl_msr), #GP with neither;
 * MSR_AMD64_VIRT_SPEC_CTRL with VIRT_SSBD; PRED_CMD's SBPB bit refused.
 * And the guest's CPUID instruction as kvm_cpuid() answers it: an undefined
 * sub-leaf of a defined leaf 0xB gives its number in ECX and the x2APIC ID
 * in EDX; a leaf beyond its class (basic, extended, a hypervisor block,
 * Centaur's) is the highest basic leaf with the requested index on an
 * Intel-compatible model and zero on an AMD one.
 * argv[1]: the guest binary (guest_spec.asm).
 */
#include "kvmtest.h"

#define SIG  KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define MAXE 256

struct cpuid_buf {
	struct kvm_cpuid2 c;
	struct kvm_cpuid_entry2 e[MAXE + 8];
};

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t k = 0; k < c->nent; k++)
		if (c->entries[k].function == fn && c->entries[k].index == idx)
			return &c->entries[k];
	return NULL;
}

static unsigned count_fn(struct kvm_cpuid2 *c, uint32_t fn)
{
	unsigned n = 0;
	for (uint32_t k = 0; k < c->nent; k++)
		n += c->entries[k].function == fn;
	return n;
}

/* Linux's cpuid_function_is_indexed() */
static int indexed(uint32_t fn)
{
	switch (fn) {
	case 4:
	case 7:
	case 0xb:
	case 0xd:
	case 0xf:
	case 0x10:
	case 0x12:
	case 0x14:
	case 0x17:
	case 0x18:
	case 0x1d:
	case 0x1e:
	case 0x1f:
	case 0x8000001d:
		return 1;
	}
	return 0;
}

static int zero(const struct kvm_cpuid_entry2 *e)
{
	return e && !e->eax && !e->ebx && !e->ecx && !e->edx;
}

/* the number of sub-leaves Linux emits for an indexed leaf, from its sub-leaf 0 */
static void check_layout(struct kvm_cpuid2 *c)
{
	uint32_t k = 0, range[3][2];
	struct kvm_cpuid_entry2 *b = find(c, 0, 0), *x = find(c, 0x80000000, 0);
	struct kvm_cpuid_entry2 *h = find(c, 0x40000000, 0);

	KT_CHECK(b && x && h);
	if (!b || !x || !h)
		return;
	KT_CHECK(b->eax >= 0xd && b->eax <= 0x1f);
	KT_CHECK(x->eax >= 0x80000008 && x->eax <= 0x80000021);
	range[0][0] = 0, range[0][1] = b->eax;
	range[1][0] = 0x80000000, range[1][1] = x->eax;
	range[2][0] = 0x40000000, range[2][1] = h->eax;
	/* each range, each leaf in it, in order, nothing else */
	for (int r = 0; r < 3; r++) {
		for (uint32_t fn = range[r][0]; fn <= range[r][1]; fn++) {
			uint32_t sub = 0;
			KT_CHECK(k < c->nent && c->entries[k].function == fn);
			if (k >= c->nent || c->entries[k].function != fn) {
				fprintf(stderr, "   leaf %#x missing or out of order (entry %u)\n",
					fn, k);
				return;
			}
			for (; k < c->nent && c->entries[k].function == fn; k++, sub++) {
				const struct kvm_cpuid_entry2 *e = &c->entries[k];
				KT_EQ(e->flags, indexed(fn) ? SIG : 0);
				if (!indexed(fn)) {
					KT_EQ(sub, 0);
					KT_EQ(e->index, 0);
				} else if (fn != 0xd) {
					KT_EQ(e->index, sub); /* 0, 1, 2...: in order */
				}
				KT_CHECK(!e->padding[0] && !e->padding[1] && !e->padding[2]);
			}
		}
	}
	KT_EQ(k, c->nent);
}

static void check_leaves(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e;
	uint32_t maxb = find(c, 0, 0) ? find(c, 0, 0)->eax : 0;

	/* 0xB and 0x1F: no topology */
	e = find(c, 0xb, 0);
	KT_CHECK(e && !e->eax && !e->ebx && !e->ecx);
	KT_EQ(count_fn(c, 0xb), 1);
	if (maxb >= 0x1f) {
		e = find(c, 0x1f, 0);
		KT_CHECK(e && !e->eax && !e->ebx && !e->ecx);
		KT_EQ(count_fn(c, 0x1f), 1);
	} else {
		KT_EQ(count_fn(c, 0x1f), 0);
	}
	/* 2: AL = 1 ("always 01H"), a stateless leaf */
	e = find(c, 2, 0);
	KT_CHECK(e && (e->eax & 0xff) == 1);
	/* 3 and 5 (MONITOR is not advertised), 8, 9, 0xC: zero */
	KT_CHECK(zero(find(c, 3, 0)));
	KT_CHECK(zero(find(c, 5, 0)));
	KT_CHECK(zero(find(c, 8, 0)));
	KT_CHECK(zero(find(c, 9, 0)));
	KT_CHECK(zero(find(c, 0xc, 0)));
	KT_EQ(find(c, 1, 0)->ecx & (1u << 3), 0);
	/* 4: sub-leaves until a null cache type, that one included */
	unsigned n4 = count_fn(c, 4);
	KT_CHECK(n4 >= 1);
	e = find(c, 4, n4 - 1);
	KT_CHECK(e && (e->eax & 0x1f) == 0);
	for (unsigned k = 0; k + 1 < n4; k++)
		KT_CHECK(find(c, 4, k) && (find(c, 4, k)->eax & 0x1f));
	/* 6: only ARAT */
	e = find(c, 6, 0);
	KT_CHECK(e && e->eax == 4 && !e->ebx && !e->ecx && !e->edx);
	/* 7: sub-leaves 0..7.0:EAX; TSC_ADJUST and ARCH_CAPABILITIES, which KVM
	 * always emulates */
	e = find(c, 7, 0);
	KT_CHECK(e && e->eax <= 2);
	if (e) {
		KT_EQ(count_fn(c, 7), e->eax + 1);
		KT_EQ((e->ebx >> 1) & 1, 1);
		KT_EQ((e->edx >> 29) & 1, 1);
	}
	/* 0xA: no vPMU without PDCM: version 0 and no counters */
	e = find(c, 0xa, 0);
	if (!(find(c, 1, 0)->ecx & (1u << 15)))
		KT_CHECK(zero(e));
	/* 0xD: sub-leaf 0 sizes for every permitted XCR0 bit, sub-leaf 1 the
	 * compacted size when XSAVEC (or XSAVES) is offered */
	struct kvm_cpuid_entry2 *d0 = find(c, 0xd, 0), *d1 = find(c, 0xd, 1);
	KT_CHECK(d0 && d1);
	if (d0 && d1) {
		KT_EQ(d0->eax & 3, 3);
		KT_EQ(d0->ebx, d0->ecx);
		KT_CHECK(d0->ebx >= 576);
		if (d1->eax & ((1u << 1) | (1u << 3)))
			KT_CHECK(d1->ebx >= 576);
		else
			KT_EQ(d1->ebx, 0);
		uint64_t xcr0 = d0->eax | (uint64_t)d0->edx << 32;
		for (unsigned i = 2; i < 64; i++)
			KT_EQ(find(c, 0xd, i) != NULL, (xcr0 >> i) & 1);
	}
	/* 0x80000008: 48 linear bits, the AMD speculation-control bits
	 * (AMD_IBPB, AMD_IBRS, AMD_STIBP, AMD_SSBD, VIRT_SSBD, AMD_SSB_NO) */
	e = find(c, 0x80000008, 0);
	KT_CHECK(e && ((e->eax >> 8) & 0xff) == 48);
	uint32_t amd = (1u << 12) | (1u << 14) | (1u << 15) | (1u << 24) | (1u << 25) | (1u << 26);
	KT_CHECK(e && (e->ebx & amd) == amd);
	/* the KVM leaves: signature, features (kvmclock 1 and 2, its stable bit) */
	e = find(c, 0x40000000, 0);
	KT_CHECK(e && e->eax == 0x40000001 && !memcmp(&e->ebx, "KVMK", 4) &&
		 !memcmp(&e->ecx, "VMKV", 4) && !memcmp(&e->edx, "M\0\0\0", 4));
	e = find(c, 0x40000001, 0);
	KT_CHECK(e && (e->eax & 0x01000009) == 0x01000009 && !e->ebx && !e->ecx && !e->edx);
}

static void check_nent(int kvm, uint32_t count)
{
	static struct cpuid_buf b;

	memset(&b, 0, sizeof(b));
	b.c.nent = 0;
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, &b), E2BIG);
	KT_EQ(b.c.nent, 0);
	b.c.nent = count - 1;
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, &b), E2BIG);
	KT_EQ(b.c.nent, count - 1);
	b.c.nent = count;
	KT_EQ(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, &b), 0);
	KT_EQ(b.c.nent, count);
	/* more than KVM_MAX_CPUID_ENTRIES is taken as 256 */
	b.c.nent = 100000;
	KT_EQ(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, &b), 0);
	KT_EQ(b.c.nent, count);
}

/* ---- the MSRs the speculation bits stand for, from the guest ---- */

#define PRED_CMD      0x49u
#define SPEC_CTRL     0x48u
#define VIRT_SPEC_CTL 0xc001011fu

/* One guest instruction (op: 0 WRMSR, 1 RDMSR, 2 CPUID) on a new vCPU whose
 * CPUID is `c`; 0 when it completed, 13 on #GP. */
static int guest_op(struct kt_vm *t, int id, struct kvm_cpuid2 *c, uint32_t ecx, uint64_t value,
		    int op)
{
	struct kvm_regs r;

	int vcpu = KT_IOCTL(t->vm, KVM_CREATE_VCPU, id);
	KT_CHECK(vcpu >= 0);
	if (vcpu < 0)
		return -1;
	KT_EQ(KT_IOCTL(vcpu, KVM_SET_CPUID2, c), 0);
	int sz = KT_IOCTL(t->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = kt_mmap((size_t)sz, vcpu);
	KT_CHECK(run != MAP_FAILED);
	if (run == MAP_FAILED)
		return -1;
	struct kvm_sregs s;
	KT_EQ(KT_IOCTL(vcpu, KVM_GET_SREGS, &s), 0);
	s.cs.base = 0;
	s.cs.selector = 0;
	KT_EQ(KT_IOCTL(vcpu, KVM_SET_SREGS, &s), 0);
	memset(&r, 0, sizeof(r));
	r.rip = 0x1000;
	r.rflags = 2;
	r.rsp = 0x8000;
	KT_EQ(KT_IOCTL(vcpu, KVM_SET_REGS, &r), 0);
	uint32_t cmd[4] = {ecx, (uint32_t)value, (uint32_t)(value >> 32), (uint32_t)op};
	memcpy(t->mem + 0x500, cmd, sizeof(cmd));
	int res = -1;
	KT_EQ(KT_IOCTL(vcpu, KVM_RUN, 0), 0);
	KT_EQ(run->exit_reason, KVM_EXIT_IO);
	if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0x30)
		res = *((uint8_t *)run + run->io.data_offset);
	munmap(run, (size_t)sz);
	kt_close(vcpu);
	return res;
}

/* an MSR access with 7.0:EDX and 0x80000008:EBX replaced */
static int guest_msr(struct kt_vm *t, int id, struct kvm_cpuid2 *c, uint32_t edx7, uint32_t ebx88,
		     uint32_t msr, uint64_t value, int read)
{
	static struct cpuid_buf mine;

	memcpy(&mine, c, sizeof(*c) + c->nent * sizeof(c->entries[0]));
	find(&mine.c, 7, 0)->edx = edx7;
	find(&mine.c, 0x80000008, 0)->ebx = ebx88;
	return guest_op(t, id, &mine.c, msr, value, read);
}

/* the guest's CPUID(leaf, sub) with table c */
static void guest_cpuid(struct kt_vm *t, int id, struct kvm_cpuid2 *c, uint32_t leaf, uint32_t sub,
			uint32_t out[4])
{
	memset(t->mem + 0x510, 0xee, 16);
	KT_EQ(guest_op(t, id, c, sub, leaf, 2), 0);
	memcpy(out, t->mem + 0x510, 16);
}

static void expect_entry(const uint32_t got[4], const struct kvm_cpuid_entry2 *e)
{
	KT_CHECK(e != NULL);
	if (!e)
		return;
	KT_EQ(got[0], e->eax);
	/* leaf 0xD.0/0xD.1 EBX: the XSAVE size for the guest's XCR0 (x87 only
	 * here: 576), whatever the table said (kvm_update_cpuid_runtime()) */
	if (e->function == 0xd && e->index <= 1 && e->ebx)
		KT_EQ(got[1], 576);
	else
		KT_EQ(got[1], e->ebx);
	KT_EQ(got[2], e->ecx);
	KT_EQ(got[3], e->edx);
}

static void check_guest_cpuid(struct kt_vm *t, struct kvm_cpuid2 *c, int *id)
{
	static struct cpuid_buf mine;
	uint32_t o[4];
	struct kvm_cpuid_entry2 *maxb = find(c, find(c, 0, 0)->eax, 0);

	/* a leaf beyond its class: the highest basic leaf (0xD here), same index */
	guest_cpuid(t, (*id)++, c, 0x80000000 + 0x40, 0, o);
	expect_entry(o, maxb);
	guest_cpuid(t, (*id)++, c, 0x40000005, 0, o); /* beyond 0x40000001 */
	expect_entry(o, maxb);
	guest_cpuid(t, (*id)++, c, 0x40000100, 0, o); /* a block with no entry */
	expect_entry(o, maxb);
	guest_cpuid(t, (*id)++, c, 0xc0000000, 0, o); /* Centaur's: no entry */
	expect_entry(o, maxb);
	guest_cpuid(t, (*id)++, c, 0x20, 1, o); /* basic, beyond 0xD: 0xD.1 */
	expect_entry(o, find(c, find(c, 0, 0)->eax, 1));
	/* in range but absent: zero */
	guest_cpuid(t, (*id)++, c, 0xd, 5, o);
	KT_CHECK(!o[0] && !o[1] && !o[2] && !o[3]);
	/* leaf 0xB as KVM reports it (no sub-leaf 1): sub-leaf 2 is zero */
	guest_cpuid(t, (*id)++, c, 0xb, 2, o);
	KT_CHECK(!o[0] && !o[1] && !o[2] && !o[3]);

	/* a VMM's topology (sub-leaves 0 and 1, x2APIC ID 5): sub-leaf 3 has CL = 3
	 * and EDX = 5 */
	memcpy(&mine, c, sizeof(*c) + c->nent * sizeof(c->entries[0]));
	struct kvm_cpuid_entry2 *b = find(&mine.c, 0xb, 0);
	*b = (struct kvm_cpuid_entry2){
	    .function = 0xb, .index = 0, .flags = SIG, .ebx = 1, .ecx = 0x100, .edx = 5};
	mine.c.entries[mine.c.nent++] = (struct kvm_cpuid_entry2){
	    .function = 0xb, .index = 1, .flags = SIG, .eax = 1, .ebx = 2, .ecx = 0x201, .edx = 5};
	guest_cpuid(t, (*id)++, &mine.c, 0xb, 3, o);
	KT_EQ(o[0], 0);
	KT_EQ(o[1], 0);
	KT_EQ(o[2], 3);
	KT_EQ(o[3], 5);
	guest_cpuid(t, (*id)++, &mine.c, 0xb, 1, o);
	KT_EQ(o[1], 2);
	KT_EQ(o[3], 5);

	/* an AMD-identified model: beyond the range is zero */
	memcpy(&mine, c, sizeof(*c) + c->nent * sizeof(c->entries[0]));
	struct kvm_cpuid_entry2 *v0 = find(&mine.c, 0, 0);
	KT_CHECK(v0 != NULL);
	if (!v0)
		return;
	uint32_t vendor[3];
	memcpy(vendor, "AuthenticAMD", 12);
	v0->ebx = vendor[0];
	v0->edx = vendor[1];
	v0->ecx = vendor[2];
	guest_cpuid(t, (*id)++, &mine.c, 0x80000040, 0, o);
	KT_CHECK(!o[0] && !o[1] && !o[2] && !o[3]);
	guest_cpuid(t, (*id)++, &mine.c, 0x40000005, 0, o);
	KT_CHECK(!o[0] && !o[1] && !o[2] && !o[3]);
}

static void check_msrs(struct kt_vm *t, struct kvm_cpuid2 *c, const char *guest)
{
	uint32_t intel = find(c, 7, 0)->edx, amd = find(c, 0x80000008, 0)->ebx;
	uint32_t intel_none = intel & ~((1u << 26) | (1u << 27) | (1u << 31));
	int id = 1;

	if (!kt_load_guest(t, guest))
		return;
	/* what the model offers: both */
	KT_EQ(guest_msr(t, id++, c, intel, amd, PRED_CMD, 1, 0), 0);
	KT_EQ(guest_msr(t, id++, c, intel, amd, SPEC_CTRL, 4, 0), 0);
	/* SBPB (bit 7) is refused, as Linux 6.1 refuses it */
	KT_EQ(guest_msr(t, id++, c, intel, amd, PRED_CMD, 1u << 7, 0), 13);
	/* Intel's bit alone */
	KT_EQ(guest_msr(t, id++, c, intel, 0, PRED_CMD, 1, 0), 0);
	KT_EQ(guest_msr(t, id++, c, intel, 0, SPEC_CTRL, 1, 0), 0);
	/* an AMD-identified guest: only the AMD bits */
	KT_EQ(guest_msr(t, id++, c, intel_none, 1u << 12, PRED_CMD, 1, 0), 0);	    /* AMD_IBPB */
	KT_EQ(guest_msr(t, id++, c, intel_none, 1u << 14, SPEC_CTRL, 1, 0), 0);	    /* AMD_IBRS */
	KT_EQ(guest_msr(t, id++, c, intel_none, 1u << 15, SPEC_CTRL, 2, 0), 0);	    /* AMD_STIBP */
	KT_EQ(guest_msr(t, id++, c, intel_none, 1u << 24, SPEC_CTRL, 4, 0), 0);	    /* AMD_SSBD */
	KT_EQ(guest_msr(t, id++, c, intel_none, 1u << 24, SPEC_CTRL, 0, 1), 0);	    /* read */
	KT_EQ(guest_msr(t, id++, c, intel_none, 1u << 25, VIRT_SPEC_CTL, 4, 0), 0); /* VIRT_SSBD */
	KT_EQ(guest_msr(t, id++, c, intel_none, 1u << 25, VIRT_SPEC_CTL, 0, 1), 0);
	KT_EQ(guest_msr(t, id++, c, intel_none, 1u << 25, VIRT_SPEC_CTL, 1, 0), 13);
	/* AMD_IBPB gives PRED_CMD, not SPEC_CTRL; AMD_IBRS not PRED_CMD */
	KT_EQ(guest_msr(t, id++, c, intel_none, 1u << 12, SPEC_CTRL, 0, 0), 13);
	KT_EQ(guest_msr(t, id++, c, intel_none, 1u << 14, PRED_CMD, 1, 0), 13);
	/* neither */
	KT_EQ(guest_msr(t, id++, c, intel_none, 0, PRED_CMD, 1, 0), 13);
	KT_EQ(guest_msr(t, id++, c, intel_none, 0, SPEC_CTRL, 0, 1), 13);
	KT_EQ(guest_msr(t, id++, c, intel_none, 0, VIRT_SPEC_CTL, 0, 1), 13);
	/* the VMM may always save and restore them */
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e.index = VIRT_SPEC_CTL, .e.data = 4};
	int vcpu = KT_IOCTL(t->vm, KVM_CREATE_VCPU, id++);
	KT_EQ(KT_IOCTL(vcpu, KVM_SET_MSRS, &m), 1);
	m.e.data = 0;
	KT_EQ(KT_IOCTL(vcpu, KVM_GET_MSRS, &m), 1);
	KT_EQ(m.e.data, 4);
	kt_close(vcpu);
	check_guest_cpuid(t, c, &id);
}

int main(int argc, char **argv)
{
	static struct cpuid_buf b;
	struct kt_vm t;

	if (argc < 2)
		return 2;
	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	b.c.nent = MAXE;
	KT_EQ(KT_IOCTL(t.kvm, KVM_GET_SUPPORTED_CPUID, &b), 0);
	KT_CHECK(b.c.nent > 0 && b.c.nent <= MAXE);
	check_layout(&b.c);
	check_leaves(&b.c);
	check_nent(t.kvm, b.c.nent);
	check_msrs(&t, &b.c, argv[1]);
	kt_vm_destroy(&t);
	return kt_done("test_cpuid");
}
