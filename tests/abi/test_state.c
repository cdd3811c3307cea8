/* SPDX-License-Identifier: MIT */
/*
 * vCPU state through the ABI structs (Linux 6.1 arch/x86/kvm/x86.c):
 * every GET/SET pair round-trips (REGS, SREGS, SREGS2, FPU, XSAVE, XCRS,
 * MSRS over KVM_GET_MSR_INDEX_LIST, MP_STATE, VCPU_EVENTS, DEBUGREGS,
 * CPUID2, TSC_KHZ) and a whole state moves to a vCPU of another VM, as
 * state_test does; the validation: CR4 bits the CPU model or, once set, the
 * guest's CPUID does not have are refused with nothing changed, and so are
 * bad XCR0, XSAVE headers, event flags and debug registers; KVM_SET_CPUID2
 * after KVM_RUN accepts only the same table.
 */
#include <stdbool.h>

#include "kvmtest.h"

#define X86_CR4_SMEP	(1ull << 20)
#define X86_CR4_LA57	(1ull << 12)
#define X86_CR4_PKE	(1ull << 22)
#define X86_CR4_OSXSAVE (1ull << 18)

static struct kvm_cpuid2 *supported_cpuid(int kvm)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 256 * sizeof(struct kvm_cpuid_entry2));
	c->nent = 256;
	KT_EQ(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, c), 0);
	return c;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t k = 0; k < c->nent; k++)
		if (c->entries[k].function == fn && c->entries[k].index == idx)
			return &c->entries[k];
	return NULL;
}

/* 64-bit mode as the selftest library sets it up: CR0 PE|NE|PG, CR4 PAE|OSFXSR,
 * EFER LME|LMA|NX, CS L=1, page tables at 0x10000 */
static void long_mode_sregs(struct kvm_sregs *s)
{
	struct kvm_segment cs = {.base = 0,
				 .limit = 0xffffffff,
				 .selector = 0x8,
				 .type = 0xb,
				 .present = 1,
				 .dpl = 0,
				 .l = 1,
				 .s = 1,
				 .g = 1};
	struct kvm_segment ds = cs;
	ds.selector = 0x10;
	ds.type = 3;
	ds.l = 0;
	ds.db = 1;
	s->cs = cs;
	s->ds = s->es = s->fs = s->gs = s->ss = ds;
	s->fs.base = 0x12345000;
	s->gs.base = 0xffff888000000000ull;
	s->tr = (struct kvm_segment){
	    .base = 0x3000, .limit = 0x67, .selector = 0x18, .type = 0xb, .present = 1, .s = 0};
	s->ldt = (struct kvm_segment){.selector = 0, .unusable = 1, .type = 2};
	s->gdt.base = 0x2000;
	s->gdt.limit = 0x27;
	s->idt.base = 0x4000;
	s->idt.limit = 0xfff;
	s->cr0 = 0x80000021;
	s->cr2 = 0xdead0000;
	s->cr3 = 0x10000;
	s->cr4 = 0x220;
	s->efer = 0xd00;
}

static void compare_sregs(const struct kvm_sregs *a, const struct kvm_sregs *b)
{
	KT_EQ(a->cr0, b->cr0);
	KT_EQ(a->cr2, b->cr2);
	KT_EQ(a->cr3, b->cr3);
	KT_EQ(a->cr4, b->cr4);
	KT_EQ(a->efer, b->efer);
	KT_EQ(a->apic_base, b->apic_base);
	KT_EQ(a->gdt.base, b->gdt.base);
	KT_EQ(a->gdt.limit, b->gdt.limit);
	KT_EQ(a->idt.base, b->idt.base);
	KT_EQ(a->idt.limit, b->idt.limit);
	KT_EQ(memcmp(&a->cs, &b->cs, sizeof(a->cs)), 0);
	KT_EQ(memcmp(&a->ss, &b->ss, sizeof(a->ss)), 0);
	KT_EQ(a->fs.base, b->fs.base);
	KT_EQ(a->gs.base, b->gs.base);
	KT_EQ(a->tr.base, b->tr.base);
	KT_EQ(a->tr.selector, b->tr.selector);
}

static void test_regs_sregs(struct kt_vm *t)
{
	struct kvm_regs r, r2;
	__u64 *g = &r.rax;
	for (int k = 0; k < 16; k++)
		g[k] = 0x1111111111111111ull * (uint64_t)(k + 1);
	r.rip = 0xffffffff81000000ull;
	r.rflags = 0x246;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_REGS, &r), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_REGS, &r2), 0);
	KT_EQ(memcmp(&r, &r2, sizeof(r)), 0);
	/* RFLAGS bit 1 is always set */
	r.rflags = 0;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_REGS, &r), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_REGS, &r2), 0);
	KT_EQ(r2.rflags, 2);

	struct kvm_sregs s, s2;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_SREGS, &s), 0);
	long_mode_sregs(&s);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_SREGS, &s), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_SREGS, &s2), 0);
	compare_sregs(&s, &s2);

	/* inconsistent modes are refused: LMA without paging, L=1 outside long mode,
	 * PG without PE, NW without CD, high CR0 bits, CR3 beyond MAXPHYADDR */
	struct kvm_sregs bad = s;
	bad.cr0 = 0x21;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_SREGS, &bad), EINVAL);
	bad = s;
	bad.cr4 = 0x200; /* no PAE with LME|PG */
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_SREGS, &bad), EINVAL);
	bad = s;
	bad.cr0 = 0x80000000;
	bad.efer = 0;
	bad.cs.l = 0;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_SREGS, &bad), EINVAL);
	bad = s;
	bad.cr0 = 0x20000021;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_SREGS, &bad), EINVAL);
	bad = s;
	bad.cr0 |= 1ull << 32;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_SREGS, &bad), EINVAL);
	bad = s;
	bad.cr3 = 1ull << 60;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_SREGS, &bad), EINVAL);
	/* APIC base: x2APIC without xAPIC enabled, reserved bits */
	bad = s;
	bad.apic_base = 1u << 10;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_SREGS, &bad), EINVAL);
	bad.apic_base = 0xfee00000ull | (1u << 11) | 1;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_SREGS, &bad), EINVAL);
	/* nothing of the refused ones took effect */
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_SREGS, &s2), 0);
	compare_sregs(&s, &s2);

	/* SREGS2: the same registers; PDPTRs only with PAE paging outside long mode */
	struct kvm_sregs2 x, x2;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_SREGS2, &x), 0);
	KT_EQ(x.cr3, s.cr3);
	KT_EQ(x.flags & KVM_SREGS2_FLAGS_PDPTRS_VALID, 0);
	x.cr2 = 0xbeef000;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_SREGS2, &x), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_SREGS2, &x2), 0);
	KT_EQ(x2.cr2, 0xbeef000);
	x.flags = KVM_SREGS2_FLAGS_PDPTRS_VALID;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_SREGS2, &x), EINVAL);
	x.flags = 1u << 5;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_SREGS2, &x), EINVAL);
	/* 32-bit PAE paging: PDPTRs from the caller */
	x.flags = KVM_SREGS2_FLAGS_PDPTRS_VALID;
	x.efer = 0;
	x.cs.l = 0;
	x.cs.db = 1;
	x.cr3 = 0x20000;
	for (int k = 0; k < 4; k++)
		x.pdptrs[k] = 0x21001 + 0x1000ull * (uint64_t)k;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_SREGS2, &x), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_SREGS2, &x2), 0);
	KT_EQ(x2.efer, 0);
	KT_EQ(x2.cr3, 0x20000);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_SREGS, &s), 0);
}

static void test_fpu_xsave(struct kt_vm *t)
{
	struct kvm_fpu f, f2;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_FPU, &f), 0);
	KT_EQ(f.fcw, 0x37f);
	KT_EQ(f.mxcsr, 0x1f80);
	f.fcw = 0x27f;
	f.fsw = 0x3800;
	f.ftwx = 0x80;
	f.mxcsr = 0x1fa0;
	for (int k = 0; k < 16; k++)
		memset(f.xmm[k], 0x10 + k, 16);
	memset(f.fpr[7], 0x33, 10);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_FPU, &f), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_FPU, &f2), 0);
	KT_EQ(f2.fcw, 0x27f);
	KT_EQ(f2.fsw, 0x3800);
	KT_EQ(f2.ftwx, 0x80);
	KT_EQ(f2.mxcsr, 0x1fa0);
	KT_EQ(memcmp(f.xmm, f2.xmm, sizeof(f.xmm)), 0);
	KT_EQ(memcmp(f.fpr[7], f2.fpr[7], 10), 0);

	/* XSAVE carries the same state; the header says what is there */
	struct kvm_xsave x, x2;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_XSAVE, &x), 0);
	uint64_t bv;
	memcpy(&bv, (uint8_t *)x.region + 512, 8);
	KT_CHECK(bv & 2); /* SSE state is not in its initial configuration */
	KT_EQ(memcmp((uint8_t *)x.region + 160, f.xmm, 256), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_XSAVE, &x), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_XSAVE, &x2), 0);
	KT_EQ(memcmp(x.region, x2.region, 576), 0);
	/* XSAVE2 is at least struct kvm_xsave and starts the same */
	int size = KT_IOCTL(t->kvm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	KT_CHECK(size >= (int)sizeof(struct kvm_xsave));
	uint8_t *big = calloc(1, (size_t)size);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_XSAVE2, big), 0);
	KT_EQ(memcmp(big, x.region, 576), 0);
	free(big);
	/* refused: unknown components, compacted format, reserved MXCSR bits */
	struct kvm_xsave y = x;
	uint64_t bad = bv | (1ull << 62);
	memcpy((uint8_t *)y.region + 512, &bad, 8);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_XSAVE, &y), EINVAL);
	y = x;
	bad = 1ull << 63;
	memcpy((uint8_t *)y.region + 520, &bad, 8);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_XSAVE, &y), EINVAL);
	y = x;
	uint32_t mx = 0xffff0000;
	memcpy((uint8_t *)y.region + 24, &mx, 4);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_XSAVE, &y), EINVAL);

	/* XCR0: x87 always, nothing the guest's CPUID does not allow */
	struct kvm_xcrs xc, xc2;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_XCRS, &xc), 0);
	KT_EQ(xc.nr_xcrs, 1);
	KT_EQ(xc.xcrs[0].xcr, 0);
	KT_CHECK(xc.xcrs[0].value & 1);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_XCRS, &xc), 0);
	xc2 = xc;
	xc2.xcrs[0].value = 0;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_XCRS, &xc2), EINVAL);
	xc2.xcrs[0].value = 1ull << 9; /* PKRU */
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_XCRS, &xc2), EINVAL);
	xc2 = xc;
	xc2.flags = 1;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_XCRS, &xc2), EINVAL);
	xc2 = xc;
	xc2.nr_xcrs = KVM_MAX_XCRS + 1;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_XCRS, &xc2), EINVAL);
	/* other XCR indices are skipped */
	xc2 = xc;
	xc2.nr_xcrs = 2;
	xc2.xcrs[1] = xc.xcrs[0];
	xc2.xcrs[0].xcr = 1;
	xc2.xcrs[0].value = 12345;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_XCRS, &xc2), 0);
}

static void test_msrs(struct kt_vm *t, struct kt_vm *u)
{
	struct kvm_msr_list probe = {.nmsrs = 0};
	KT_FAILS(KT_IOCTL(t->kvm, KVM_GET_MSR_INDEX_LIST, &probe), E2BIG);
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + probe.nmsrs * 4);
	l->nmsrs = probe.nmsrs;
	KT_EQ(KT_IOCTL(t->kvm, KVM_GET_MSR_INDEX_LIST, l), 0);

	/* every listed MSR reads (state_test needs that), and writes back */
	struct kvm_msrs *m = calloc(1, sizeof(*m) + l->nmsrs * sizeof(struct kvm_msr_entry));
	m->nmsrs = l->nmsrs;
	for (uint32_t k = 0; k < l->nmsrs; k++)
		m->entries[k].index = l->indices[k];
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_MSRS, m), l->nmsrs);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_MSRS, m), l->nmsrs);
	/* and into a vCPU of another VM, which then reads the same values
	 * (the TSC moves on, skip it) */
	KT_EQ(KT_IOCTL(u->vcpu, KVM_SET_MSRS, m), l->nmsrs);
	struct kvm_msrs *m2 = calloc(1, sizeof(*m2) + l->nmsrs * sizeof(struct kvm_msr_entry));
	m2->nmsrs = l->nmsrs;
	for (uint32_t k = 0; k < l->nmsrs; k++)
		m2->entries[k].index = l->indices[k];
	KT_EQ(KT_IOCTL(u->vcpu, KVM_GET_MSRS, m2), l->nmsrs);
	for (uint32_t k = 0; k < l->nmsrs; k++) {
		if (m->entries[k].index == 0x10)
			continue;
		if (m->entries[k].data != m2->entries[k].data) {
			kt_failures++;
			fprintf(stderr, "MSR %#x: %#llx in, %#llx out\n", m->entries[k].index,
				(unsigned long long)m->entries[k].data,
				(unsigned long long)m2->entries[k].data);
		}
		kt_checks++;
	}
	/* host-initiated writes of values the guest may not write */
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[2];
	} w = {.h.nmsrs = 2};
	w.e[0].index = 0x10; /* TSC */
	w.e[0].data = 1000000000000ull;
	w.e[1].index = 0xc0000081; /* STAR */
	w.e[1].data = 0x0023001000000000ull;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_MSRS, &w), 2);
	w.e[0].data = w.e[1].data = 0;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_MSRS, &w), 2);
	KT_CHECK(w.e[0].data >= 1000000000000ull &&
		 w.e[0].data < 1000000000000ull + 100000000000ull);
	KT_EQ(w.e[1].data, 0x0023001000000000ull);
	free(m);
	free(m2);
	free(l);
}

static void test_events_misc(struct kt_vm *t)
{
	/* MP state: only RUNNABLE without an in-kernel irqchip */
	struct kvm_mp_state mp;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_MP_STATE, &mp), 0);
	KT_EQ(mp.mp_state, KVM_MP_STATE_RUNNABLE);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_MP_STATE, &mp), 0);
	mp.mp_state = KVM_MP_STATE_HALTED;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_MP_STATE, &mp), EINVAL);
	mp.mp_state = 99;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_MP_STATE, &mp), EINVAL);

	/* events: an injected exception, NMI state, interrupt shadow round trip */
	struct kvm_vcpu_events e, e2;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_VCPU_EVENTS, &e), 0);
	KT_CHECK(e.flags & KVM_VCPUEVENT_VALID_NMI_PENDING);
	KT_CHECK(e.flags & KVM_VCPUEVENT_VALID_SHADOW);
	e.exception.injected = 1;
	e.exception.nr = 13;
	e.exception.has_error_code = 1;
	e.exception.error_code = 0x18;
	e.nmi.pending = 1;
	e.nmi.masked = 1;
	e.interrupt.shadow = KVM_X86_SHADOW_INT_MOV_SS;
	e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_VCPU_EVENTS, &e), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_VCPU_EVENTS, &e2), 0);
	KT_EQ(e2.exception.injected, 1);
	KT_EQ(e2.exception.nr, 13);
	KT_EQ(e2.exception.has_error_code, 1);
	KT_EQ(e2.exception.error_code, 0x18);
	KT_EQ(e2.nmi.pending, 1);
	KT_EQ(e2.nmi.masked, 1);
	KT_EQ(e2.interrupt.shadow, KVM_X86_SHADOW_INT_MOV_SS);
	/* refused: unknown flags, payloads without the capability, #NMI or a
	 * vector above 31 as an exception */
	e2 = e;
	e2.flags = 1u << 12;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_VCPU_EVENTS, &e2), EINVAL);
	e2.flags = KVM_VCPUEVENT_VALID_PAYLOAD;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_VCPU_EVENTS, &e2), EINVAL);
	e2 = e;
	e2.exception.nr = 32;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_VCPU_EVENTS, &e2), EINVAL);
	e2.exception.nr = 2;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_VCPU_EVENTS, &e2), EINVAL);
	/* clear them again */
	memset(&e2, 0, sizeof(e2));
	e2.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_VCPU_EVENTS, &e2), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_VCPU_EVENTS, &e), 0);
	KT_EQ(e.exception.injected, 0);
	KT_EQ(e.nmi.pending, 0);

	/* debug registers: stored as given (Linux), high halves refused */
	struct kvm_debugregs d, d2;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_DEBUGREGS, &d), 0);
	KT_EQ(d.dr6, 0xffff0ff0);
	KT_EQ(d.dr7, 0x400);
	d.db[0] = 0x1000;
	d.db[3] = 0xffffffff81000000ull;
	d.dr7 = 0x401;
	d.dr6 = 0;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_DEBUGREGS, &d), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_DEBUGREGS, &d2), 0);
	KT_EQ(d2.db[0], 0x1000);
	KT_EQ(d2.db[3], 0xffffffff81000000ull);
	KT_EQ(d2.dr7, 0x401);
	KT_EQ(d2.dr6, 0);
	d.dr6 = 0xffff0ff1;
	d.dr7 = 1ull << 32;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_DEBUGREGS, &d), EINVAL);
	d.dr7 = 0x400;
	d.flags = 1;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_DEBUGREGS, &d), EINVAL);
	d.flags = 0;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_DEBUGREGS, &d), 0);
}

static void test_cr4_and_cpuid(void)
{
	struct kt_vm t;
	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	struct kvm_cpuid2 *sup = supported_cpuid(t.kvm);
	struct kvm_cpuid_entry2 *l7 = find(sup, 7, 0);
	bool smep = l7 && (l7->ebx & (1u << 7));
	bool la57 = l7 && (l7->ecx & (1u << 16));
	bool pku = l7 && (l7->ecx & (1u << 3));

	/* before KVM_SET_CPUID2 every bit of the CPU model is allowed (set_sregs_test) */
	struct kvm_sregs s, s2;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_SREGS, &s), 0);
	s2 = s;
	s2.cr4 |= 0x7ff;
	if (smep)
		s2.cr4 |= X86_CR4_SMEP;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &s2), 0);
	/* bits the model lacks are refused, and nothing changes */
	if (!la57) {
		struct kvm_sregs b = s2;
		b.cr4 |= X86_CR4_LA57;
		KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &b), EINVAL);
	}
	if (!pku) {
		struct kvm_sregs b = s2;
		b.cr4 |= X86_CR4_PKE;
		KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &b), EINVAL);
	}
	struct kvm_sregs b = s2;
	b.cr4 |= 1ull << 25; /* reserved */
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &b), EINVAL);
	struct kvm_sregs now;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_SREGS, &now), 0);
	KT_EQ(now.cr4, s2.cr4);

	/* a guest CPUID without SMEP and XSAVE: CR4.SMEP and OSXSAVE are refused */
	struct kvm_cpuid2 *g = supported_cpuid(t.kvm);
	struct kvm_cpuid_entry2 *g7 = find(g, 7, 0), *g1 = find(g, 1, 0);
	if (g7)
		g7->ebx &= ~(1u << 7);
	if (g1)
		g1->ecx &= ~(1u << 26);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &s), 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_CPUID2, g), 0);
	b = s;
	b.cr4 |= X86_CR4_SMEP;
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &b), EINVAL);
	b = s;
	b.cr4 |= X86_CR4_OSXSAVE;
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &b), EINVAL);
	b = s;
	b.cr4 |= 0x600; /* OSFXSR | OSXMMEXCPT need no CPUID bit */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &b), 0);

	/* GET_CPUID2 returns the table in the order it was set */
	struct kvm_cpuid2 *back = calloc(1, sizeof(*back) + 256 * sizeof(struct kvm_cpuid_entry2));
	back->nent = 256;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_CPUID2, back), 0);
	for (uint32_t k = 0; k < g->nent; k++) {
		KT_EQ(back->entries[k].function, g->entries[k].function);
		KT_EQ(back->entries[k].index, g->entries[k].index);
	}

	/* after KVM_RUN: the same table is accepted, a changed one is not */
	static const uint8_t hlt[] = {0xf4};
	memcpy(t.mem + 0x1000, hlt, 1);
	kt_real_mode(&t, 0x1000);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_HLT);
	back->nent = g->nent;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_CPUID2, back), 0);
	if (g7) {
		struct kvm_cpuid_entry2 *b7 = find(back, 7, 0);
		b7->ebx ^= 1u << 20;
		KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_CPUID2, back), EINVAL);
		b7->ebx ^= 1u << 20;
	}
	struct kvm_cpuid_entry2 *p = find(back, 0x80000008, 0);
	if (p) {
		p->eax -= 1; /* MAXPHYADDR */
		KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_CPUID2, back), EINVAL);
		p->eax += 1;
	}
	back->nent = g->nent - 1;
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_CPUID2, back), E2BIG);
	back->nent = g->nent;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_CPUID2, back), 0);
	/* the linear address width must be 48 or 57 (a new vCPU, it has not run) */
	int v2 = KT_IOCTL(t.vm, KVM_CREATE_VCPU, 1);
	struct kvm_cpuid_entry2 *q = find(g, 0x80000008, 0);
	if (q) {
		q->eax = (q->eax & ~0xff00u) | (40u << 8);
		KT_FAILS(KT_IOCTL(v2, KVM_SET_CPUID2, g), EINVAL);
	}
	kt_close(v2);
	free(back);
	free(g);
	free(sup);
	kt_vm_destroy(&t);
}

/* state_test in small: everything out of one vCPU, into another VM's */
static void test_migrate(struct kt_vm *t, struct kt_vm *u)
{
	struct kvm_regs r, r2;
	struct kvm_sregs s, s2;
	struct kvm_fpu f, f2;
	struct kvm_vcpu_events e;
	struct kvm_debugregs d, d2;
	struct kvm_xcrs x;

	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_REGS, &r), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_SREGS, &s), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_FPU, &f), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_VCPU_EVENTS, &e), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_DEBUGREGS, &d), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_XCRS, &x), 0);

	KT_EQ(KT_IOCTL(u->vcpu, KVM_SET_SREGS, &s), 0);
	KT_EQ(KT_IOCTL(u->vcpu, KVM_SET_XCRS, &x), 0);
	KT_EQ(KT_IOCTL(u->vcpu, KVM_SET_FPU, &f), 0);
	KT_EQ(KT_IOCTL(u->vcpu, KVM_SET_VCPU_EVENTS, &e), 0);
	KT_EQ(KT_IOCTL(u->vcpu, KVM_SET_DEBUGREGS, &d), 0);
	KT_EQ(KT_IOCTL(u->vcpu, KVM_SET_REGS, &r), 0);

	KT_EQ(KT_IOCTL(u->vcpu, KVM_GET_REGS, &r2), 0);
	KT_EQ(memcmp(&r, &r2, sizeof(r)), 0);
	KT_EQ(KT_IOCTL(u->vcpu, KVM_GET_SREGS, &s2), 0);
	compare_sregs(&s, &s2);
	KT_EQ(KT_IOCTL(u->vcpu, KVM_GET_FPU, &f2), 0);
	KT_EQ(memcmp(f.xmm, f2.xmm, sizeof(f.xmm)), 0);
	KT_EQ(f.fcw, f2.fcw);
	KT_EQ(KT_IOCTL(u->vcpu, KVM_GET_DEBUGREGS, &d2), 0);
	KT_EQ(memcmp(d.db, d2.db, sizeof(d.db)), 0);
	KT_EQ(d.dr7, d2.dr7);
}

static void test_tsc_khz(struct kt_vm *t)
{
	int khz = KT_IOCTL(t->vcpu, KVM_GET_TSC_KHZ, 0);
	KT_CHECK(khz > 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_TSC_KHZ, 3000000), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_TSC_KHZ, 0), 3000000);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_TSC_KHZ, khz), 0);
}

/* with the in-kernel LAPIC, SREGS.cr8 is its TPR and SREGS.apic_base its base */
static void test_lapic_sregs(void)
{
	struct kt_vm t;
	memset(&t, 0, sizeof(t));
	t.kvm = kt_open();
	t.vm = KT_IOCTL(t.kvm, KVM_CREATE_VM, 0);
	KT_EQ(KT_IOCTL(t.vm, KVM_CREATE_IRQCHIP, 0), 0);
	t.vcpu = KT_IOCTL(t.vm, KVM_CREATE_VCPU, 0);
	KT_CHECK(t.vcpu >= 0);

	struct kvm_sregs s, s2;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_SREGS, &s), 0);
	KT_EQ(s.apic_base, 0xfee00900);
	s.cr8 = 5;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &s), 0);
	struct kvm_lapic_state ls;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_LAPIC, &ls), 0);
	uint32_t tpr;
	memcpy(&tpr, ls.regs + 0x80, 4);
	KT_EQ(tpr, 5u << 4);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_SREGS, &s2), 0);
	KT_EQ(s2.cr8, 5);
	/* a TPR set through the LAPIC shows in SREGS */
	tpr = 9u << 4;
	memcpy(ls.regs + 0x80, &tpr, 4);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_LAPIC, &ls), 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_SREGS, &s2), 0);
	KT_EQ(s2.cr8, 9);
	/* the base: moved and disabled through SREGS, seen by KVM_GET_MSRS */
	s.cr8 = 0;
	s.apic_base = 0xfed00000 | (1u << 11) | (1u << 8);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &s), 0);
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e.index = 0x1b};
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_MSRS, &m), 1);
	KT_EQ(m.e.data, 0xfed00900);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_SREGS, &s2), 0);
	KT_EQ(s2.apic_base, 0xfed00900);
	s.apic_base = 1u << 10; /* x2APIC without enable */
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &s), EINVAL);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_MSRS, &m), 1);
	KT_EQ(m.e.data, 0xfed00900);
	kt_vm_destroy(&t);
}

int main(void)
{
	struct kt_vm t, u;
	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	KT_EQ(kt_vm_create(&u, 1 << 20), 0);
	struct kvm_cpuid2 *c = supported_cpuid(t.kvm);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_CPUID2, c), 0);
	KT_EQ(KT_IOCTL(u.vcpu, KVM_SET_CPUID2, c), 0);
	free(c);

	test_regs_sregs(&t);
	test_fpu_xsave(&t);
	test_msrs(&t, &u);
	test_events_misc(&t);
	test_tsc_khz(&t);
	test_migrate(&t, &u);
	kt_vm_destroy(&u);
	kt_vm_destroy(&t);
	test_cr4_and_cpuid();
	test_lapic_sregs();
	return kt_done("test_state");
}
