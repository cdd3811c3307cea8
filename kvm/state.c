/* SPDX-License-Identifier: MIT */
/*
 * vCPU state in and out as the KVM ABI structs: REGS, SREGS(2), FPU,
 * XSAVE(2), XCRS, VCPU_EVENTS, MP_STATE, DEBUGREGS, TRANSLATE, GUEST_DEBUG,
 * with Linux 6.1's validation (arch/x86/kvm/x86.c).
 */
#include <errno.h>
#include <string.h>

#include "kvm_internal.h"
#include "irq.h"

/* kvm_regs order -> our register numbers */
static const int kvm_gpr_order[16] = {
    GPR_RAX, GPR_RBX, GPR_RCX, GPR_RDX, GPR_RSI, GPR_RDI, GPR_RSP, GPR_RBP,
    GPR_R8,  GPR_R9,  GPR_R10, GPR_R11, GPR_R12, GPR_R13, GPR_R14, GPR_R15,
};

int kvm_vcpu_get_regs(struct kvm_vcpu *v, struct kvm_regs *r)
{
	struct cpu_regs c;
	__u64 *dst = &r->rax;

	cpu_get_regs(v->cpu, &c);
	for (int k = 0; k < 16; k++)
		dst[k] = c.gpr[kvm_gpr_order[k]];
	r->rip = c.rip;
	r->rflags = c.rflags;
	return 0;
}

int kvm_vcpu_set_regs(struct kvm_vcpu *v, const struct kvm_regs *r)
{
	struct cpu_regs c;
	const __u64 *src = &r->rax;

	for (int k = 0; k < 16; k++)
		c.gpr[kvm_gpr_order[k]] = src[k];
	c.rip = r->rip;
	c.rflags = r->rflags | FL_1;
	cpu_set_regs(v->cpu, &c);
	/* KVM_SET_REGS drops a pending (not yet injected) exception */
	struct cpu_events e;
	cpu_get_events(v->cpu, &e);
	if (e.exc_pending) {
		e.exc_pending = false;
		cpu_set_events(v->cpu, &e);
	}
	return 0;
}

static void seg_to_kvm(const struct cpu_seg *s, struct kvm_segment *k)
{
	memset(k, 0, sizeof(*k));
	k->base = s->base;
	k->limit = s->limit;
	k->selector = s->sel;
	k->type = s->type;
	k->s = s->s;
	k->dpl = s->dpl;
	k->db = s->db;
	k->l = s->l;
	k->g = s->g;
	k->avl = s->avl;
	k->unusable = s->unusable;
	/* VMX: an unusable segment reads back as not present */
	k->present = !s->unusable;
}

static void seg_from_kvm(const struct kvm_segment *k, struct cpu_seg *s)
{
	memset(s, 0, sizeof(*s));
	s->base = k->base;
	s->limit = k->limit;
	s->sel = k->selector;
	s->type = k->type & 15;
	s->s = k->s & 1;
	s->dpl = k->dpl & 3;
	s->db = k->db & 1;
	s->l = k->l & 1;
	s->g = k->g & 1;
	s->avl = k->avl & 1;
	s->unusable = k->unusable || !k->present;
	s->present = !s->unusable;
}

static const int kvm_seg_order[8] = {SEG_CS, SEG_DS, SEG_ES, SEG_FS,
				     SEG_GS, SEG_SS, SEG_TR, SEG_LDTR};

static void get_sregs_common(struct kvm_vcpu *v, struct cpu_sregs *c, struct kvm_segment *segs,
			     struct kvm_dtable *gdt, struct kvm_dtable *idt)
{
	cpu_get_sregs(v->cpu, c);
	for (int k = 0; k < 8; k++)
		seg_to_kvm(&c->seg[kvm_seg_order[k]], &segs[k]);
	memset(gdt, 0, sizeof(*gdt));
	memset(idt, 0, sizeof(*idt));
	gdt->base = c->gdt_base;
	gdt->limit = c->gdt_limit;
	idt->base = c->idt_base;
	idt->limit = c->idt_limit;
}

int kvm_vcpu_get_sregs(struct kvm_vcpu *v, struct kvm_sregs *s)
{
	struct cpu_sregs c;
	memset(s, 0, sizeof(*s));
	get_sregs_common(v, &c, &s->cs, &s->gdt, &s->idt);
	s->cr0 = c.cr0;
	s->cr2 = c.cr2;
	s->cr3 = c.cr3;
	s->cr4 = c.cr4;
	s->cr8 = c.cr8;
	s->efer = c.efer;
	s->apic_base = c.apic_base;
	/* with the in-kernel LAPIC, CR8 is its TPR and the base is its own (kvm_get_cr8) */
	if (v->lapic) {
		s->cr8 = lapic_get_tpr(v->lapic);
		s->apic_base = lapic_get_base(v->lapic);
	}
	/* an external interrupt queued by KVM_INTERRUPT but not yet delivered */
	if (v->pending_irq >= 0)
		s->interrupt_bitmap[v->pending_irq / 64] |= 1ull << (v->pending_irq % 64);
	return 0;
}

/*
 * CR4 (Linux kvm_is_valid_cr4()): bits KVM never supports, bits the CPU model
 * softkvm supports lacks (cr4_reserved_bits, from KVM_GET_SUPPORTED_CPUID),
 * and, once KVM_SET_CPUID2 defined the vCPU model, bits its CPUID lacks
 * (cr4_guest_rsvd_bits). Before KVM_SET_CPUID2 every supported bit is allowed.
 */
#define CR4_KVM_BITS                                                                               \
	(CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE |  \
	 CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_UMIP | CR4_LA57 | CR4_VMXE | CR4_FSGSBASE | CR4_PCIDE | \
	 CR4_OSXSAVE | CR4_SMEP | CR4_SMAP | CR4_PKE)

static const struct {
	uint64_t cr4;
	uint32_t fn, reg, bit;
} cr4_features[] = {
    {CR4_OSXSAVE, 1, CPUID_ECX, 26}, {CR4_SMEP, 7, CPUID_EBX, 7}, {CR4_SMAP, 7, CPUID_EBX, 20},
    {CR4_FSGSBASE, 7, CPUID_EBX, 0}, {CR4_PKE, 7, CPUID_ECX, 3},  {CR4_LA57, 7, CPUID_ECX, 16},
    {CR4_UMIP, 7, CPUID_ECX, 2},     {CR4_VMXE, 1, CPUID_ECX, 5}, {CR4_PCIDE, 1, CPUID_ECX, 17},
};

static uint64_t cr4_reserved(const struct kvm_vcpu *v)
{
	uint64_t rsvd = ~(uint64_t)CR4_KVM_BITS;

	for (size_t k = 0; k < sizeof(cr4_features) / sizeof(cr4_features[0]); k++) {
		uint32_t fn = cr4_features[k].fn, reg = cr4_features[k].reg;
		unsigned bit = cr4_features[k].bit;
		bool ok = v ? kvm_guest_has(v, fn, 0, (int)reg, bit)
			    : kvm_supported_has(fn, 0, (int)reg, bit);
		if (!ok)
			rsvd |= cr4_features[k].cr4;
	}
	return rsvd;
}

static bool cr4_valid(struct kvm_vcpu *v, uint64_t cr4)
{
	if (cr4 & cr4_reserved(NULL))
		return false;
	return !v->cpuid || !(cr4 & cr4_reserved(v));
}

static bool cr0_valid(uint64_t cr0)
{
	if (cr0 >> 32)
		return false;
	if ((cr0 & CR0_NW) && !(cr0 & CR0_CD))
		return false;
	if ((cr0 & CR0_PG) && !(cr0 & CR0_PE))
		return false;
	return true;
}

static bool apic_base_valid(struct kvm_vcpu *v, uint64_t base)
{
	unsigned maxphy = 36;
	const struct kvm_cpuid_entry2 *e = kvm_cpuid_find(v, 0x80000008, 0);
	if (e && (e->eax & 0xff))
		maxphy = e->eax & 0xff;
	uint64_t rsvd = ~((1ull << maxphy) - 1) | 0x2ff;
	if (!kvm_guest_has(v, 1, 0, CPUID_ECX, 21))
		rsvd |= 1ull << 10; /* x2APIC enable */
	if (base & rsvd)
		return false;
	/* x2APIC enabled while the APIC is disabled is an invalid mode */
	if ((base & (1ull << 10)) && !(base & (1ull << 11)))
		return false;
	return true;
}

static bool sregs_valid(struct kvm_vcpu *v, uint64_t cr0, uint64_t cr4, uint64_t efer,
			const struct kvm_segment *cs, uint64_t cr3)
{
	if ((efer & EFER_LME) && (cr0 & CR0_PG)) {
		if (!(cr4 & CR4_PAE) || !(efer & EFER_LMA))
			return false;
		const struct kvm_cpuid_entry2 *e = kvm_cpuid_find(v, 0x80000008, 0);
		unsigned maxphy = e && (e->eax & 0xff) ? e->eax & 0xff : 36;
		if (cr3 >> maxphy)
			return false;
	} else if ((efer & EFER_LMA) || cs->l) {
		return false;
	}
	return cr4_valid(v, cr4) && cr0_valid(cr0);
}

static int set_sregs_common(struct kvm_vcpu *v, const struct kvm_segment *segs,
			    const struct kvm_dtable *gdt, const struct kvm_dtable *idt,
			    uint64_t cr0, uint64_t cr2, uint64_t cr3, uint64_t cr4, uint64_t cr8,
			    uint64_t efer, uint64_t apic_base)
{
	struct cpu_sregs c;

	if (!sregs_valid(v, cr0, cr4, efer, &segs[0], cr3))
		return -EINVAL;
	if (!apic_base_valid(v, apic_base))
		return -EINVAL;
	cpu_get_sregs(v->cpu, &c);
	for (int k = 0; k < 8; k++)
		seg_from_kvm(&segs[k], &c.seg[kvm_seg_order[k]]);
	c.gdt_base = gdt->base;
	c.gdt_limit = gdt->limit;
	c.idt_base = idt->base;
	c.idt_limit = idt->limit;
	c.cr0 = cr0;
	c.cr2 = cr2;
	c.cr3 = cr3;
	c.cr4 = cr4;
	c.cr8 = cr8 & 15;
	c.efer = efer;
	c.apic_base = apic_base;
	/* the in-kernel LAPIC moves and switches mode with the base
	 * (kvm_set_apic_base, host-initiated) and holds the TPR (kvm_set_cr8) */
	if (v->lapic) {
		if (lapic_set_base(v->lapic, apic_base, true))
			return -EINVAL;
		lapic_set_tpr(v->lapic, (unsigned)(cr8 & 15));
	}
	cpu_set_sregs(v->cpu, &c);
	return 0;
}

int kvm_vcpu_set_sregs(struct kvm_vcpu *v, const struct kvm_sregs *s)
{
	int r = set_sregs_common(v, &s->cs, &s->gdt, &s->idt, s->cr0, s->cr2, s->cr3, s->cr4,
				 s->cr8, s->efer, s->apic_base);
	if (r)
		return r;
	/* a pending external interrupt from the bitmap (user-space irqchip) */
	for (int k = 0; k < 256; k++) {
		if (s->interrupt_bitmap[k / 64] & (1ull << (k % 64))) {
			if (!v->vm->irqchip_in_kernel) {
				v->pending_irq = k;
				cpu_set_irq_pending(v->cpu, true);
			}
			break;
		}
	}
	return 0;
}

int kvm_vcpu_get_sregs2(struct kvm_vcpu *v, struct kvm_sregs2 *s)
{
	struct cpu_sregs c;
	memset(s, 0, sizeof(*s));
	get_sregs_common(v, &c, &s->cs, &s->gdt, &s->idt);
	s->cr0 = c.cr0;
	s->cr2 = c.cr2;
	s->cr3 = c.cr3;
	s->cr4 = c.cr4;
	s->cr8 = c.cr8;
	s->efer = c.efer;
	s->apic_base = c.apic_base;
	/* with the in-kernel LAPIC, CR8 is its TPR and the base is its own (kvm_get_cr8) */
	if (v->lapic) {
		s->cr8 = lapic_get_tpr(v->lapic);
		s->apic_base = lapic_get_base(v->lapic);
	}
	/* PDPTRs are not cached by this processor: report them only in PAE mode */
	if ((c.cr0 & CR0_PG) && (c.cr4 & CR4_PAE) && !(c.efer & EFER_LMA)) {
		cpu_mem_begin(v->cpu);
		for (int k = 0; k < 4; k++) {
			uint64_t gpa = (c.cr3 & ~0x1full) + 8 * k;
			void *p = cpu_mem_gpa_to_hva(v->vm->mem, gpa, NULL, NULL);
			if (p)
				memcpy(&s->pdptrs[k], p, 8);
		}
		cpu_mem_end(v->cpu);
		s->flags |= KVM_SREGS2_FLAGS_PDPTRS_VALID;
	}
	return 0;
}

int kvm_vcpu_set_sregs2(struct kvm_vcpu *v, const struct kvm_sregs2 *s)
{
	if (s->flags & ~(uint64_t)KVM_SREGS2_FLAGS_PDPTRS_VALID)
		return -EINVAL;
	/* PDPTRs given without PAE paging are invalid (Linux 6.1 __set_sregs2) */
	if ((s->flags & KVM_SREGS2_FLAGS_PDPTRS_VALID) &&
	    !((s->cr0 & CR0_PG) && (s->cr4 & CR4_PAE) && !(s->efer & EFER_LMA)))
		return -EINVAL;
	return set_sregs_common(v, &s->cs, &s->gdt, &s->idt, s->cr0, s->cr2, s->cr3, s->cr4, s->cr8,
				s->efer, s->apic_base);
}

/* ---- FPU / XSAVE ---- */

/*
 * The x87/SSE state lives in cpu/ (the FXSAVE64 image and XCR0); these turn
 * it into the ABI structs with Linux 6.1's rules (arch/x86/kvm/x86.c and
 * arch/x86/kernel/fpu/xstate.c, copy_uabi_to_xstate()).
 */
uint64_t kvm_supported_xcr0(void)
{
	return CPU_XCR0_SUPPORTED; /* x87 | SSE | PKRU, | YMM where the host runs AVX */
}

void kvm_fpu_reset(struct kvm_vcpu *v)
{
	/* cpu_create() reset the state; until KVM_SET_CPUID2 says otherwise
	 * the guest may enable x87 state only (guest_supported_xcr0 = 0) */
	cpu_set_xcr0_allowed(v->cpu, 0);
}

int kvm_vcpu_get_fpu(struct kvm_vcpu *v, struct kvm_fpu *f)
{
	uint8_t x[512] __attribute__((aligned(16)));

	cpu_get_fxsave(v->cpu, x);
	memset(f, 0, sizeof(*f));
	memcpy(&f->fcw, x + 0, 2);
	memcpy(&f->fsw, x + 2, 2);
	f->ftwx = x[4];
	memcpy(&f->last_opcode, x + 6, 2);
	memcpy(&f->last_ip, x + 8, 8);
	memcpy(&f->last_dp, x + 16, 8);
	memcpy(&f->mxcsr, x + 24, 4);
	for (int k = 0; k < 8; k++)
		memcpy(f->fpr[k], x + 32 + 16 * k, 16);
	for (int k = 0; k < 16; k++)
		memcpy(f->xmm[k], x + 160 + 16 * k, 16);
	return 0;
}

int kvm_vcpu_set_fpu(struct kvm_vcpu *v, const struct kvm_fpu *f)
{
	uint8_t x[512] __attribute__((aligned(16)));

	/* Linux copies the fields as they are; MXCSR bits the processor does
	 * not have are dropped by cpu_set_fxsave() (XRSTOR would #GP) */
	cpu_get_fxsave(v->cpu, x);
	memcpy(x + 0, &f->fcw, 2);
	memcpy(x + 2, &f->fsw, 2);
	x[4] = f->ftwx;
	memcpy(x + 6, &f->last_opcode, 2);
	memcpy(x + 8, &f->last_ip, 8);
	memcpy(x + 16, &f->last_dp, 8);
	memcpy(x + 24, &f->mxcsr, 4);
	for (int k = 0; k < 8; k++)
		memcpy(x + 32 + 16 * k, f->fpr[k], 16);
	for (int k = 0; k < 16; k++)
		memcpy(x + 160 + 16 * k, f->xmm[k], 16);
	cpu_set_fxsave(v->cpu, x);
	return 0;
}

/*
 * XSAVE component 9, PKRU, outside cpu_get/set_xsave()'s image: Linux 6.1
 * keeps it in vcpu->arch.pkru and __copy_xstate_to_uabi_buf() writes that
 * value at 0xa80 when the component is in the guest's user_xfeatures
 * (guest_supported_xcr0); XSTATE_BV[9] says PKRU is not 0 (the XSAVE init
 * optimization). KVM_SET_XSAVE loads it from there with XSTATE_BV[9], else 0.
 */
static void xsave_get_pkru(struct kvm_vcpu *v, uint8_t *region)
{
	uint32_t pkru = cpu_get_pkru(v->cpu);
	uint64_t bv;

	if (!kvm_guest_has(v, 0xd, 0, CPUID_EAX, 9) || !pkru)
		return;
	memcpy(region + CPU_XSAVE_PKRU_OFFSET, &pkru, 4);
	memcpy(&bv, region + 512, 8);
	bv |= CPU_XCR0_PKRU;
	memcpy(region + 512, &bv, 8);
}

static void xsave_set_pkru(struct kvm_vcpu *v, const uint8_t *region, uint64_t bv)
{
	uint32_t pkru = 0;

	if (bv & CPU_XCR0_PKRU)
		memcpy(&pkru, region + CPU_XSAVE_PKRU_OFFSET, 4);
	cpu_set_pkru(v->cpu, pkru);
}

int kvm_vcpu_get_xsave(struct kvm_vcpu *v, struct kvm_xsave *x, size_t size)
{
	memset(x, 0, size);
	/* XSTATE_BV: the components not in their initial configuration, within
	 * fpstate->user_xfeatures (guest_supported_xcr0 | x87 | SSE) */
	cpu_get_xsave(v->cpu, x->region, kvm_supported_xcr0());
	xsave_get_pkru(v, (uint8_t *)x->region);
	return 0;
}

int kvm_vcpu_set_xsave(struct kvm_vcpu *v, const struct kvm_xsave *x)
{
	uint8_t img[CPU_XSAVE_SIZE] __attribute__((aligned(64)));
	uint64_t hdr[8];
	uint32_t mxcsr;

	memcpy(img, x->region, sizeof(img));
	memcpy(hdr, img + 512, sizeof(hdr));
	memcpy(&mxcsr, img + 24, 4);
	/* fpu_copy_uabi_to_guest_fpstate(), validate_user_xstate_header():
	 * known components only, standard format, reserved header bytes zero */
	if (hdr[0] & ~kvm_supported_xcr0())
		return -EINVAL;
	if (hdr[1])
		return -EINVAL;
	for (int k = 2; k < 8; k++)
		if (hdr[k])
			return -EINVAL;
	if (hdr[0] & 7) {
		/* MXCSR comes with x87, SSE or YMM state and must have no reserved
		 * bits (copy_uabi_to_xstate()) */
		if (mxcsr & ~CPU_MXCSR_MASK)
			return -EINVAL;
	} else {
		uint8_t cur[CPU_XSAVE_SIZE];
		cpu_get_xsave(v->cpu, cur, 0);
		memcpy(img + 24, cur + 24, 4); /* MXCSR is left as it is */
	}
	cpu_set_xsave(v->cpu, img);
	xsave_set_pkru(v, (const uint8_t *)x->region, hdr[0]);
	return 0;
}

int kvm_vcpu_get_xcrs(struct kvm_vcpu *v, struct kvm_xcrs *x)
{
	memset(x, 0, sizeof(*x));
	/* as Linux on a host with XSAVE: XCR0, whatever the guest's CPUID */
	x->nr_xcrs = 1;
	x->flags = 0;
	x->xcrs[0].xcr = 0;
	x->xcrs[0].value = cpu_get_xcr0(v->cpu);
	return 0;
}

int kvm_vcpu_set_xcrs(struct kvm_vcpu *v, const struct kvm_xcrs *x)
{
	if (x->nr_xcrs > KVM_MAX_XCRS || x->flags)
		return -EINVAL;
	/* only XCR0 is supported; other indexes are skipped (Linux) and the first
	 * XCR0 entry is applied with __kvm_set_xcr()'s checks */
	for (uint32_t k = 0; k < x->nr_xcrs; k++)
		if (x->xcrs[k].xcr == 0)
			return cpu_set_xcr0(v->cpu, x->xcrs[k].value) ? -EINVAL : 0;
	return 0;
}

/* ---- events, MP state, debug registers ---- */

int kvm_vcpu_get_events(struct kvm_vcpu *v, struct kvm_vcpu_events *ev)
{
	struct cpu_events e;

	cpu_get_events(v->cpu, &e);
	memset(ev, 0, sizeof(*ev));
	ev->exception.injected = 0;
	ev->exception.pending = 0;
	if (e.exc_pending) {
		/* without KVM_CAP_EXCEPTION_PAYLOAD, a pending exception reads as injected */
		ev->exception.injected = 1;
		ev->exception.nr = e.exc_vector;
		ev->exception.has_error_code = e.exc_has_error;
		ev->exception.error_code = e.exc_error;
	}
	if (v->pending_irq >= 0) {
		ev->interrupt.injected = 1;
		ev->interrupt.nr = (uint8_t)v->pending_irq;
	}
	ev->interrupt.shadow = e.intr_shadow == 1   ? KVM_X86_SHADOW_INT_STI
			       : e.intr_shadow == 2 ? KVM_X86_SHADOW_INT_MOV_SS
						    : 0;
	ev->nmi.pending = e.nmi_pending;
	ev->nmi.masked = e.nmi_masked;
	ev->flags =
	    KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
	return 0;
}

int kvm_vcpu_set_events(struct kvm_vcpu *v, const struct kvm_vcpu_events *ev)
{
	struct cpu_events e;

	if (ev->flags & ~(uint32_t)(KVM_VCPUEVENT_VALID_NMI_PENDING |
				    KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SHADOW |
				    KVM_VCPUEVENT_VALID_SMM | KVM_VCPUEVENT_VALID_PAYLOAD))
		return -EINVAL;
	if (ev->flags & KVM_VCPUEVENT_VALID_PAYLOAD)
		return -EINVAL; /* KVM_CAP_EXCEPTION_PAYLOAD is not enabled */
	if (ev->exception.injected && (ev->exception.nr > 31 || ev->exception.nr == EXC_NMI))
		return -EINVAL;
	if ((ev->flags & KVM_VCPUEVENT_VALID_SMM) && (ev->smi.smm || ev->smi.pending))
		return -EINVAL; /* no SMM */
	cpu_get_events(v->cpu, &e);
	e.exc_pending = ev->exception.injected;
	e.exc_vector = ev->exception.nr;
	e.exc_has_error = ev->exception.has_error_code;
	e.exc_error = ev->exception.error_code;
	if (ev->interrupt.injected && !v->vm->irqchip_in_kernel) {
		v->pending_irq = ev->interrupt.nr;
		cpu_set_irq_pending(v->cpu, true);
	} else if (!ev->interrupt.injected) {
		v->pending_irq = -1;
	}
	e.nmi_masked = ev->nmi.masked;
	if (ev->flags & KVM_VCPUEVENT_VALID_NMI_PENDING)
		e.nmi_pending = ev->nmi.pending || ev->nmi.injected;
	if (ev->flags & KVM_VCPUEVENT_VALID_SHADOW)
		e.intr_shadow = (ev->interrupt.shadow & KVM_X86_SHADOW_INT_MOV_SS) ? 2
				: (ev->interrupt.shadow & KVM_X86_SHADOW_INT_STI)  ? 1
										   : 0;
	cpu_set_events(v->cpu, &e);
	return 0;
}

int kvm_vcpu_get_mp_state(struct kvm_vcpu *v, struct kvm_mp_state *m)
{
	m->mp_state = v->mp_state;
	return 0;
}

int kvm_vcpu_set_mp_state(struct kvm_vcpu *v, const struct kvm_mp_state *m)
{
	if (!v->vm->irqchip_in_kernel && m->mp_state != KVM_MP_STATE_RUNNABLE)
		return -EINVAL;
	if (m->mp_state > KVM_MP_STATE_SIPI_RECEIVED)
		return -EINVAL;
	v->mp_state = m->mp_state;
	cpu_set_halted(v->cpu, m->mp_state == KVM_MP_STATE_HALTED);
	return 0;
}

int kvm_vcpu_get_debugregs(struct kvm_vcpu *v, struct kvm_debugregs *d)
{
	memset(d, 0, sizeof(*d));
	for (int k = 0; k < 4; k++)
		d->db[k] = cpu_get_dr(v->cpu, k);
	d->dr6 = cpu_get_dr(v->cpu, 6);
	d->dr7 = cpu_get_dr(v->cpu, 7);
	return 0;
}

int kvm_vcpu_set_debugregs(struct kvm_vcpu *v, const struct kvm_debugregs *d)
{
	if (d->flags)
		return -EINVAL;
	if ((d->dr6 >> 32) || (d->dr7 >> 32))
		return -EINVAL;
	/* stored as given, fixed bits or not (kvm_vcpu_ioctl_x86_set_debugregs) */
	for (int k = 0; k < 4; k++)
		cpu_set_dr(v->cpu, k, d->db[k]);
	cpu_set_dr(v->cpu, 6, d->dr6);
	cpu_set_dr(v->cpu, 7, d->dr7);
	return 0;
}

int kvm_vcpu_translate(struct kvm_vcpu *v, struct kvm_translation *t)
{
	uint64_t gpa;
	bool w, u;
	/* the page walk reads guest memory: a read-side section (cpu/mem.c) */
	cpu_mem_begin(v->cpu);
	int r = cpu_translate(v->cpu, t->linear_address, &gpa, &w, &u);
	cpu_mem_end(v->cpu);

	t->physical_address = r == 0 ? gpa : ~0ull;
	t->valid = r == 0;
	/* as KVM: writeable and usermode are not computed */
	t->writeable = 1;
	t->usermode = 0;
	return 0;
}

int kvm_vcpu_set_guest_debug(struct kvm_vcpu *v, const struct kvm_guest_debug *d)
{
	const uint32_t valid = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP |
			       KVM_GUESTDBG_USE_SW_BP | KVM_GUESTDBG_USE_HW_BP |
			       KVM_GUESTDBG_INJECT_DB | KVM_GUESTDBG_INJECT_BP |
			       KVM_GUESTDBG_BLOCKIRQ;
	uint32_t flags = 0;

	if (d->control & ~valid)
		return -EINVAL;
	if (d->control & (KVM_GUESTDBG_INJECT_DB | KVM_GUESTDBG_INJECT_BP)) {
		struct cpu_events e;
		cpu_get_events(v->cpu, &e);
		if (e.exc_pending)
			return -EBUSY;
		cpu_queue_exception(v->cpu, (d->control & KVM_GUESTDBG_INJECT_DB) ? EXC_DB : EXC_BP,
				    false, 0);
	}
	if (d->control & KVM_GUESTDBG_ENABLE) {
		if (d->control & KVM_GUESTDBG_SINGLESTEP)
			flags |= CPU_DEBUG_SINGLESTEP;
		if (d->control & KVM_GUESTDBG_USE_SW_BP)
			flags |= CPU_DEBUG_SW_BP;
		if (d->control & KVM_GUESTDBG_USE_HW_BP)
			flags |= CPU_DEBUG_HW_BP;
	}
	/* without KVM_GUESTDBG_ENABLE nothing stays on */
	v->guest_debug = (d->control & KVM_GUESTDBG_ENABLE) ? d->control : 0;
	uint64_t dr[8];
	for (int k = 0; k < 8; k++)
		dr[k] = d->arch.debugreg[k];
	cpu_set_guest_debug(v->cpu, flags, dr);
	return 0;
}
