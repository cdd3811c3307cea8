/* SPDX-License-Identifier: MIT */
/*
 * VMLAUNCH/VMRESUME (SDM vol. 3C, "VM Entries"): the checks on the VMX
 * controls (VMfailValid 7) and the host-state area (VMfailValid 8), the
 * checks on the guest-state area (a VM-entry failure: exit reason 33 with
 * bit 31 set, host state loaded), loading the guest state and event
 * injection. Linux 6.1 makes the same checks for its L1
 * (nested_vmx_check_controls, nested_vmx_check_host_state,
 * nested_vmx_check_guest_state in arch/x86/kvm/vmx/nested.c).
 */
#include "../sys.h"
#include "vmx_internal.h"

static bool canonical(uint64_t v)
{
	return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

static bool pa_ok(const struct cpu *c, uint64_t pa)
{
	return !(pa >> c->maxphyaddr);
}

static bool page_ok(const struct cpu *c, uint64_t pa)
{
	return !(pa & 0xfff) && pa_ok(c, pa);
}

/* a control against its capability MSR: must-be-1 low, may-be-1 high */
static bool ctl_ok(uint32_t val, uint64_t cap)
{
	uint32_t must1 = (uint32_t)cap, may1 = (uint32_t)(cap >> 32);
	return (val & must1) == must1 && !(val & ~may1);
}

static bool pat_ok(uint64_t pat)
{
	for (int k = 0; k < 8; k++) {
		unsigned t = (pat >> (8 * k)) & 0xff;
		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

static bool efer_ok(uint64_t efer)
{
	return !(efer & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE));
}

/* ---- controls (SDM 27.2.1 in current numbering; error 7) ---- */

static bool check_controls(struct cpu *c)
{
	struct vmx *v = c->vmx;
	uint32_t pin = (uint32_t)vmcs_get(v, VF_PIN_BASED_VM_EXEC_CONTROL);
	uint32_t proc = (uint32_t)vmcs_get(v, VF_CPU_BASED_VM_EXEC_CONTROL);
	uint32_t proc2 =
	    proc & PROC_SECONDARY ? (uint32_t)vmcs_get(v, VF_SECONDARY_VM_EXEC_CONTROL) : 0;
	uint32_t exit = (uint32_t)vmcs_get(v, VF_VM_EXIT_CONTROLS);
	uint32_t entry = (uint32_t)vmcs_get(v, VF_VM_ENTRY_CONTROLS);

	if (!ctl_ok(pin, vmx_cap(c, MSR_VMX_TRUE_PINBASED)) ||
	    !ctl_ok(proc, vmx_cap(c, MSR_VMX_TRUE_PROCBASED)) ||
	    !ctl_ok(proc2, vmx_cap(c, MSR_VMX_PROCBASED_CTLS2)) ||
	    !ctl_ok(exit, vmx_cap(c, MSR_VMX_TRUE_EXIT)) ||
	    !ctl_ok(entry, vmx_cap(c, MSR_VMX_TRUE_ENTRY)))
		return false;
	/* IA32_VMX_MISC reports no CR3-target values */
	if (vmcs_get(v, VF_CR3_TARGET_COUNT) != 0)
		return false;
	if ((proc & PROC_IO_BITMAPS) &&
	    (!page_ok(c, vmcs_get(v, VF_IO_BITMAP_A)) || !page_ok(c, vmcs_get(v, VF_IO_BITMAP_B))))
		return false;
	if ((proc & PROC_MSR_BITMAPS) && !page_ok(c, vmcs_get(v, VF_MSR_BITMAP)))
		return false;
	if (!(pin & PIN_NMI_EXITING) && (pin & PIN_VIRTUAL_NMIS))
		return false;
	if (!(pin & PIN_VIRTUAL_NMIS) && (proc & PROC_NMI_WINDOW))
		return false;
	/* exit controls: saving the timer needs the timer; MSR areas aligned */
	if (!(pin & PIN_PREEMPT_TIMER) && (exit & EXIT_SAVE_PREEMPT))
		return false;
	if ((vmcs_get(v, VF_VM_EXIT_MSR_STORE_COUNT) &&
	     ((vmcs_get(v, VF_VM_EXIT_MSR_STORE_ADDR) & 15) ||
	      !pa_ok(c, vmcs_get(v, VF_VM_EXIT_MSR_STORE_ADDR)))) ||
	    (vmcs_get(v, VF_VM_EXIT_MSR_LOAD_COUNT) &&
	     ((vmcs_get(v, VF_VM_EXIT_MSR_LOAD_ADDR) & 15) ||
	      !pa_ok(c, vmcs_get(v, VF_VM_EXIT_MSR_LOAD_ADDR)))) ||
	    (vmcs_get(v, VF_VM_ENTRY_MSR_LOAD_COUNT) &&
	     ((vmcs_get(v, VF_VM_ENTRY_MSR_LOAD_ADDR) & 15) ||
	      !pa_ok(c, vmcs_get(v, VF_VM_ENTRY_MSR_LOAD_ADDR)))))
		return false;
	/* the MSR lists are not implemented: only empty ones */
	if (vmcs_get(v, VF_VM_EXIT_MSR_STORE_COUNT) || vmcs_get(v, VF_VM_EXIT_MSR_LOAD_COUNT) ||
	    vmcs_get(v, VF_VM_ENTRY_MSR_LOAD_COUNT))
		return false;
	/* event injection (27.2.1.3) */
	uint32_t info = (uint32_t)vmcs_get(v, VF_VM_ENTRY_INTR_INFO_FIELD);
	if (info & INTR_INFO_VALID) {
		unsigned vec = info & 0xff, type = (info >> 8) & 7;
		bool pe = vmcs_get(v, VF_GUEST_CR0) & CR0_PE;
		if (type == 1 || (info & 0x7ffff000u))
			return false;
		if (type == INTR_TYPE_NMI && vec != 2)
			return false;
		if (type == INTR_TYPE_HW_EXC && vec > 31)
			return false;
		if (type == INTR_TYPE_OTHER && vec != 0)
			return false;
		bool errvec = vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21;
		bool want = type == INTR_TYPE_HW_EXC && errvec && pe;
		if (!!(info & INTR_INFO_ERRCODE) != want)
			return false;
		if ((info & INTR_INFO_ERRCODE) &&
		    (vmcs_get(v, VF_VM_ENTRY_EXCEPTION_ERROR_CODE) >> 16))
			return false;
		if ((type == INTR_TYPE_SOFT_INT || type == INTR_TYPE_PRIV_SW ||
		     type == INTR_TYPE_SOFT_EXC)) {
			uint64_t len = vmcs_get(v, VF_VM_ENTRY_INSTRUCTION_LEN);
			if (len < 1 || len > 15)
				return false;
		}
	}
	if (entry & (ENTRY_SMM | ENTRY_DUAL_MONITOR))
		return false;
	return true;
}

/* ---- host state (27.2.2, 27.2.3; error 8) ---- */

static bool check_host(struct cpu *c)
{
	struct vmx *v = c->vmx;
	uint32_t exit = (uint32_t)vmcs_get(v, VF_VM_EXIT_CONTROLS);
	uint32_t entry = (uint32_t)vmcs_get(v, VF_VM_ENTRY_CONTROLS);
	bool host64 = exit & EXIT_HOST_64;
	uint64_t cr0 = vmcs_get(v, VF_HOST_CR0), cr4 = vmcs_get(v, VF_HOST_CR4);
	uint64_t f0 = vmx_cap(c, MSR_VMX_CR0_FIXED0), f1 = vmx_cap(c, MSR_VMX_CR0_FIXED1);
	uint64_t g0 = vmx_cap(c, MSR_VMX_CR4_FIXED0), g1 = vmx_cap(c, MSR_VMX_CR4_FIXED1);

	if ((cr0 & f0) != f0 || (cr0 & ~f1) || (cr4 & g0) != g0 || (cr4 & ~g1))
		return false;
	if (!pa_ok(c, vmcs_get(v, VF_HOST_CR3)))
		return false;
	if (!canonical(vmcs_get(v, VF_HOST_IA32_SYSENTER_ESP)) ||
	    !canonical(vmcs_get(v, VF_HOST_IA32_SYSENTER_EIP)))
		return false;
	if ((exit & EXIT_LOAD_PAT) && !pat_ok(vmcs_get(v, VF_HOST_IA32_PAT)))
		return false;
	if (exit & EXIT_LOAD_EFER) {
		uint64_t efer = vmcs_get(v, VF_HOST_IA32_EFER);
		if (!efer_ok(efer) || !!(efer & EFER_LMA) != host64 ||
		    !!(efer & EFER_LME) != host64)
			return false;
	}
	/* selectors: RPL and TI 0; CS and TR not null; SS not null outside 64-bit */
	for (int s = VF_HOST_ES_SELECTOR; s <= VF_HOST_TR_SELECTOR; s++)
		if (vmcs_get(v, s) & 7)
			return false;
	if (!vmcs_get(v, VF_HOST_CS_SELECTOR) || !vmcs_get(v, VF_HOST_TR_SELECTOR))
		return false;
	if (!host64 && !vmcs_get(v, VF_HOST_SS_SELECTOR))
		return false;
	if (!canonical(vmcs_get(v, VF_HOST_FS_BASE)) || !canonical(vmcs_get(v, VF_HOST_GS_BASE)) ||
	    !canonical(vmcs_get(v, VF_HOST_GDTR_BASE)) ||
	    !canonical(vmcs_get(v, VF_HOST_IDTR_BASE)) || !canonical(vmcs_get(v, VF_HOST_TR_BASE)))
		return false;
	/* address-space size: the same as the processor's now */
	if (in_long_mode(c)) {
		if (!host64)
			return false;
	} else if (host64 || (entry & ENTRY_IA32E)) {
		return false;
	}
	if (host64) {
		if (!(cr4 & CR4_PAE) || !canonical(vmcs_get(v, VF_HOST_RIP)))
			return false;
	} else if ((cr4 & CR4_PCIDE) || (vmcs_get(v, VF_HOST_RIP) >> 32)) {
		return false;
	}
	return true;
}

/* ---- guest state (27.3.1): false = VM-entry failure, *qual its qualification ---- */

static bool seg_limit_g_ok(uint32_t limit, uint32_t ar)
{
	bool g = ar >> 15 & 1;
	if ((limit & 0xfff) != 0xfff && g)
		return false;
	if ((limit >> 20) && !g)
		return false;
	return true;
}

static bool check_guest(struct cpu *c, uint64_t *qual)
{
	struct vmx *v = c->vmx;
	uint32_t entry = (uint32_t)vmcs_get(v, VF_VM_ENTRY_CONTROLS);
	bool ia32e = entry & ENTRY_IA32E;
	uint64_t cr0 = vmcs_get(v, VF_GUEST_CR0), cr4 = vmcs_get(v, VF_GUEST_CR4);
	uint64_t f0 = vmx_cap(c, MSR_VMX_CR0_FIXED0), f1 = vmx_cap(c, MSR_VMX_CR0_FIXED1);
	uint64_t g0 = vmx_cap(c, MSR_VMX_CR4_FIXED0), g1 = vmx_cap(c, MSR_VMX_CR4_FIXED1);

	*qual = 0;
	/* control registers, debug registers, MSRs (27.3.1.1) */
	if ((cr0 & f0) != f0 || (cr0 & ~f1) || (cr4 & g0) != g0 || (cr4 & ~g1))
		return false;
	if ((cr0 & CR0_PG) && !(cr0 & CR0_PE))
		return false;
	if (ia32e && (!(cr0 & CR0_PG) || !(cr4 & CR4_PAE)))
		return false;
	if (!ia32e && (cr4 & CR4_PCIDE))
		return false;
	if (!pa_ok(c, vmcs_get(v, VF_GUEST_CR3)))
		return false;
	if ((entry & ENTRY_LOAD_DEBUG) && (vmcs_get(v, VF_GUEST_DR7) >> 32))
		return false;
	if (!canonical(vmcs_get(v, VF_GUEST_SYSENTER_ESP)) ||
	    !canonical(vmcs_get(v, VF_GUEST_SYSENTER_EIP)))
		return false;
	if ((entry & ENTRY_LOAD_PAT) && !pat_ok(vmcs_get(v, VF_GUEST_IA32_PAT)))
		return false;
	if (entry & ENTRY_LOAD_EFER) {
		uint64_t efer = vmcs_get(v, VF_GUEST_IA32_EFER);
		if (!efer_ok(efer) || !!(efer & EFER_LMA) != ia32e ||
		    ((cr0 & CR0_PG) && !!(efer & EFER_LME) != ia32e))
			return false;
	}

	/* segment registers (27.3.1.2); virtual-8086 guests are not supported */
	uint64_t rflags = vmcs_get(v, VF_GUEST_RFLAGS);
	if (rflags & FL_VM)
		return false;
	uint32_t ar[SEG_COUNT], lim[SEG_COUNT];
	uint64_t base[SEG_COUNT];
	uint16_t sel[SEG_COUNT];
	for (int s = 0; s < SEG_COUNT; s++) {
		ar[s] = (uint32_t)vmcs_get(v, VF_GUEST_ES_AR_BYTES + s);
		lim[s] = (uint32_t)vmcs_get(v, VF_GUEST_ES_LIMIT + s);
		base[s] = vmcs_get(v, VF_GUEST_ES_BASE + s);
		sel[s] = (uint16_t)vmcs_get(v, VF_GUEST_ES_SELECTOR + s);
	}
	if (sel[SEG_TR] & 4)
		return false;
	if (!(ar[SEG_LDTR] >> 16 & 1) && (sel[SEG_LDTR] & 4))
		return false;
	if ((sel[SEG_SS] & 3) != (sel[SEG_CS] & 3))
		return false;
	if (!canonical(base[SEG_TR]) || !canonical(base[SEG_FS]) || !canonical(base[SEG_GS]))
		return false;
	if (!(ar[SEG_LDTR] >> 16 & 1) && !canonical(base[SEG_LDTR]))
		return false;
	if (base[SEG_CS] >> 32)
		return false;
	for (int s = SEG_ES; s <= SEG_DS; s++)
		if (s != SEG_CS && !(ar[s] >> 16 & 1) && (base[s] >> 32))
			return false;
	/* CS: an accessed code segment */
	unsigned cs_type = ar[SEG_CS] & 15, cs_dpl = ar[SEG_CS] >> 5 & 3;
	unsigned ss_dpl = ar[SEG_SS] >> 5 & 3;
	if ((cs_type != 9 && cs_type != 11 && cs_type != 13 && cs_type != 15) ||
	    (ar[SEG_CS] >> 16 & 1))
		return false;
	if ((cs_type == 9 || cs_type == 11) && cs_dpl != ss_dpl)
		return false;
	if ((cs_type == 13 || cs_type == 15) && cs_dpl > ss_dpl)
		return false;
	if (ia32e && (ar[SEG_CS] >> 13 & 1) && (ar[SEG_CS] >> 14 & 1))
		return false;
	if (!(ar[SEG_SS] >> 16 & 1)) {
		unsigned t = ar[SEG_SS] & 15;
		if ((t != 3 && t != 7) || ss_dpl != (sel[SEG_SS] & 3u))
			return false;
	}
	if (!(cr0 & CR0_PE) && ss_dpl != 0)
		return false;
	for (int s = SEG_ES; s <= SEG_GS; s++) {
		uint32_t a = ar[s];
		if (a >> 16 & 1)
			continue;
		unsigned t = a & 15;
		if (!(t & 1))
			return false; /* not accessed */
		if (s != SEG_CS && (t & 8) && !(t & 2))
			return false; /* code that cannot be read in a data register */
		if (!(a >> 4 & 1) || !(a >> 7 & 1) || (a & 0xf00) || (a >> 17))
			return false; /* S, P, reserved bits */
		if (!seg_limit_g_ok(lim[s], a))
			return false;
		/* DPL of data segments and non-conforming code >= RPL */
		if (s != SEG_CS && s != SEG_SS && t < 12 && (a >> 5 & 3) < (sel[s] & 3u))
			return false;
	}
	/* TR: a busy TSS, always usable */
	unsigned tr_type = ar[SEG_TR] & 15;
	if ((ia32e ? tr_type != 11 : tr_type != 3 && tr_type != 11) || (ar[SEG_TR] >> 4 & 1) ||
	    !(ar[SEG_TR] >> 7 & 1) || (ar[SEG_TR] & 0xf00) || (ar[SEG_TR] >> 16) ||
	    !seg_limit_g_ok(lim[SEG_TR], ar[SEG_TR]))
		return false;
	if (!(ar[SEG_LDTR] >> 16 & 1)) {
		uint32_t a = ar[SEG_LDTR];
		if ((a & 15) != 2 || (a >> 4 & 1) || !(a >> 7 & 1) || (a & 0xf00) || (a >> 17) ||
		    !seg_limit_g_ok(lim[SEG_LDTR], a))
			return false;
	}
	/* descriptor tables (27.3.1.3) */
	if (!canonical(vmcs_get(v, VF_GUEST_GDTR_BASE)) ||
	    !canonical(vmcs_get(v, VF_GUEST_IDTR_BASE)) ||
	    (vmcs_get(v, VF_GUEST_GDTR_LIMIT) >> 16) || (vmcs_get(v, VF_GUEST_IDTR_LIMIT) >> 16))
		return false;
	/* RIP and RFLAGS (27.3.1.4) */
	uint64_t rip = vmcs_get(v, VF_GUEST_RIP);
	bool cs_l = ar[SEG_CS] >> 13 & 1;
	if ((!ia32e || !cs_l) && (rip >> 32))
		return false;
	if (ia32e && cs_l && !canonical(rip))
		return false;
	if ((rflags >> 22) || (rflags & ((1u << 15) | (1u << 5) | (1u << 3))) || !(rflags & 2))
		return false;
	uint32_t inj = (uint32_t)vmcs_get(v, VF_VM_ENTRY_INTR_INFO_FIELD);
	bool inj_ext = (inj & INTR_INFO_VALID) && ((inj >> 8) & 7) == INTR_TYPE_EXT;
	if (inj_ext && !(rflags & FL_IF))
		return false;
	/* non-register state (27.3.1.5): activity active or HLT */
	uint64_t act = vmcs_get(v, VF_GUEST_ACTIVITY_STATE);
	uint32_t intr = (uint32_t)vmcs_get(v, VF_GUEST_INTERRUPTIBILITY_INFO);
	if (act > 1 || (act == 1 && ss_dpl != 0))
		return false;
	if ((intr >> 5) || (intr & 3) == 3 || ((intr & 1) && !(rflags & FL_IF)))
		return false;
	if (act == 1 && (intr & 3))
		return false;
	if (inj_ext && (intr & 3))
		return false;
	if ((inj & INTR_INFO_VALID) && ((inj >> 8) & 7) == INTR_TYPE_NMI && (intr & 2))
		return false;
	if (intr & 4) /* blocking by SMI outside SMM */
		return false;
	uint64_t pend = vmcs_get(v, VF_GUEST_PENDING_DBG_EXCEPTIONS);
	/* B3-B0, BS and enabled breakpoint (bits 3:0, 14, 12); RTM (16) is not
	 * offered */
	if (pend & ~0x500full)
		return false;
	/* the VMCS link pointer (27.3.1.5): all ones, or a VMCS of our revision */
	uint64_t link = vmcs_get(v, VF_VMCS_LINK_POINTER);
	if (link != VMPTR_INVALID) {
		uint32_t rev;
		if (!page_ok(c, link) || !vmx_read_phys32(c, link, &rev) || rev != VMX_REVISION) {
			*qual = 4;
			return false;
		}
	}
	return true;
}

/* ---- loading the guest state (27.3.2) ---- */

static void seg_from_vmcs(struct cpu_seg *s, uint16_t sel, uint64_t base, uint32_t limit,
			  uint32_t ar)
{
	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->base = base;
	s->limit = limit;
	s->type = ar & 15;
	s->s = ar >> 4 & 1;
	s->dpl = ar >> 5 & 3;
	s->present = ar >> 7 & 1;
	s->avl = ar >> 12 & 1;
	s->l = ar >> 13 & 1;
	s->db = ar >> 14 & 1;
	s->g = ar >> 15 & 1;
	s->unusable = ar >> 16 & 1;
	if (s->unusable)
		s->present = 0;
}

static void load_guest(struct cpu *c)
{
	struct vmx *v = c->vmx;
	uint32_t entry = (uint32_t)vmcs_get(v, VF_VM_ENTRY_CONTROLS);
	uint64_t old_cr4 = c->cr4;

	c->cr0 = vmcs_get(v, VF_GUEST_CR0) | CR0_ET;
	c->cr3 = vmcs_get(v, VF_GUEST_CR3);
	c->cr4 = vmcs_get(v, VF_GUEST_CR4);
	if (entry & ENTRY_LOAD_DEBUG) {
		cpu_set_dr(c, 7, vmcs_get(v, VF_GUEST_DR7));
		c->debugctl = vmcs_get(v, VF_GUEST_IA32_DEBUGCTL);
	}
	c->sysenter_cs = (uint32_t)vmcs_get(v, VF_GUEST_SYSENTER_CS);
	c->sysenter_esp = vmcs_get(v, VF_GUEST_SYSENTER_ESP);
	c->sysenter_eip = vmcs_get(v, VF_GUEST_SYSENTER_EIP);
	if (entry & ENTRY_LOAD_EFER) {
		c->efer = vmcs_get(v, VF_GUEST_IA32_EFER);
	} else {
		c->efer &= ~(EFER_LMA | EFER_LME);
		if (entry & ENTRY_IA32E)
			c->efer |= EFER_LMA | EFER_LME;
	}
	if (entry & ENTRY_LOAD_PAT)
		c->pat = vmcs_get(v, VF_GUEST_IA32_PAT);
	for (int s = 0; s < SEG_COUNT; s++)
		seg_from_vmcs(&c->seg[s], (uint16_t)vmcs_get(v, VF_GUEST_ES_SELECTOR + s),
			      vmcs_get(v, VF_GUEST_ES_BASE + s),
			      (uint32_t)vmcs_get(v, VF_GUEST_ES_LIMIT + s),
			      (uint32_t)vmcs_get(v, VF_GUEST_ES_AR_BYTES + s));
	c->gdt_base = vmcs_get(v, VF_GUEST_GDTR_BASE);
	c->gdt_limit = (uint16_t)vmcs_get(v, VF_GUEST_GDTR_LIMIT);
	c->idt_base = vmcs_get(v, VF_GUEST_IDTR_BASE);
	c->idt_limit = (uint16_t)vmcs_get(v, VF_GUEST_IDTR_LIMIT);
	RIP(c) = vmcs_get(v, VF_GUEST_RIP);
	c->gpr[REG_RSP] = vmcs_get(v, VF_GUEST_RSP);
	cpu_set_rflags_raw(c, vmcs_get(v, VF_GUEST_RFLAGS));
	uint32_t intr = (uint32_t)vmcs_get(v, VF_GUEST_INTERRUPTIBILITY_INFO);
	c->intr_shadow = intr & 1 ? 1 : intr & 2 ? 2 : 0;
	c->nmi_masked = intr & 8;
	c->halted = vmcs_get(v, VF_GUEST_ACTIVITY_STATE) == 1;
	c->cpl = c->seg[SEG_SS].dpl;
	c->xlog_n = c->xlog_pos = 0;
	c->inb.active = false;
	/* no VPID and no EPT: L2's linear translations start from nothing, and
	 * so do L1's after the exit (vmx_load_host); the decoded blocks are
	 * keyed by physical address and stay valid */
	seg_update_cache(c);
	tlb_flush_all(c);
	if (old_cr4 != c->cr4 && c->ops->cr4_changed)
		c->ops->cr4_changed(c->opaque, old_cr4, c->cr4);
}

/* deliver the event of the VM-entry interruption-information field (27.6) */
static void inject_event(struct cpu *c)
{
	struct vmx *v = c->vmx;
	uint32_t info = (uint32_t)vmcs_get(v, VF_VM_ENTRY_INTR_INFO_FIELD);
	if (!(info & INTR_INFO_VALID))
		return;
	/* the field is consumed (SDM 28.2.1: its valid bit is cleared on exit) */
	vmcs_set(v, VF_VM_ENTRY_INTR_INFO_FIELD, info & ~INTR_INFO_VALID);
	int vec = info & 0xff;
	unsigned type = (info >> 8) & 7;
	bool has_err = info & INTR_INFO_ERRCODE;
	uint32_t err = (uint32_t)vmcs_get(v, VF_VM_ENTRY_EXCEPTION_ERROR_CODE);
	uint64_t next = RIP(c) + vmcs_get(v, VF_VM_ENTRY_INSTRUCTION_LEN);
	c->halted = false;
	c->delivering = 1;
	c->last_vector = (uint8_t)vec;
	switch (type) {
	case INTR_TYPE_EXT:
		cpu_deliver(c, vec, DELIVER_EXT, false, 0, RIP(c));
		break;
	case INTR_TYPE_NMI:
		cpu_deliver(c, vec, DELIVER_NMI, false, 0, RIP(c));
		break;
	case INTR_TYPE_HW_EXC:
		cpu_deliver(c, vec, DELIVER_EXC, has_err, err, RIP(c));
		break;
	case INTR_TYPE_PRIV_SW:
		cpu_deliver(c, vec, DELIVER_PRIVSW, false, 0, next);
		break;
	default: /* software interrupt or exception: after the instruction */
		cpu_deliver(c, vec, DELIVER_SOFT, false, 0, next);
		break;
	}
	c->delivering = 0;
}

/* ---- VMLAUNCH / VMRESUME ---- */

static const struct insn *vm_enter(struct cpu *c, const struct insn *i, bool launch)
{
	struct vmx *v = c->vmx;
	if (!v || !v->on || !(c->cr0 & CR0_PE) || (c->rflags & FL_VM) ||
	    (in_long_mode(c) && !in_64bit_mode(c)))
		cpu_raise_noerr(c, EXC_UD);
	if (v->guest)
		vmx_exit_insn(c, i, launch ? EXIT_VMLAUNCH : EXIT_VMRESUME);
	require_cpl0(c);
	if (v->cur == VMPTR_INVALID) {
		vmx_fail_invalid(c);
		END_BLOCK(c, i);
	}
	uint32_t err = 0;
	if (c->intr_shadow == 2)
		err = VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS;
	else if (launch && v->launch != VMCS_LAUNCH_CLEAR)
		err = VMXERR_VMLAUNCH_NONCLEAR_VMCS;
	else if (!launch && v->launch != VMCS_LAUNCH_LAUNCHED)
		err = VMXERR_VMRESUME_NONLAUNCHED_VMCS;
	else if (!check_controls(c))
		err = VMXERR_ENTRY_INVALID_CONTROL_FIELD;
	else if (!check_host(c))
		err = VMXERR_ENTRY_INVALID_HOST_STATE_FIELD;
	if (err) {
		vmx_fail_valid(c, err);
		END_BLOCK(c, i);
	}
	uint64_t qual;
	if (!check_guest(c, &qual)) {
		/* a VM-entry failure: it looks like a VM exit to L1, with no
		 * guest state saved (SDM 27.8) */
		vmcs_set(v, VF_VM_EXIT_REASON, EXIT_INVALID_GUEST_STATE | EXIT_REASON_ENTRY_FAIL);
		vmcs_set(v, VF_EXIT_QUALIFICATION, qual);
		vmcs_set(v, VF_VM_EXIT_INTR_INFO, 0);
		vmx_load_host(c);
		return NULL;
	}
	/* the launch state changes once the checks passed */
	v->launch = VMCS_LAUNCH_LAUNCHED;
	vmcs_set(v, VF_VM_INSTRUCTION_ERROR, 0);
	load_guest(c);
	v->guest = true;
	c->vmx_nonroot = true;
	uint32_t pin = (uint32_t)vmcs_get(v, VF_PIN_BASED_VM_EXEC_CONTROL);
	uint32_t proc = (uint32_t)vmcs_get(v, VF_CPU_BASED_VM_EXEC_CONTROL);
	v->timer_start = cpu_rdtsc(c) >> VMX_MISC_TIMER_RATE;
	/* the preemption timer and the windows are checked at every boundary */
	if ((pin & PIN_PREEMPT_TIMER) || (proc & (PROC_INTR_WINDOW | PROC_NMI_WINDOW)))
		atomic_fetch_or(&c->events, EV_VMX);
	inject_event(c);
	return NULL;
}

const struct insn *vmx_op_vmlaunch(struct cpu *c, const struct insn *i)
{
	return vm_enter(c, i, true);
}

const struct insn *vmx_op_vmresume(struct cpu *c, const struct insn *i)
{
	return vm_enter(c, i, false);
}

/* VMX instruction information of a memory operand (SDM table 28-11..28-14) */
uint32_t vmx_mem_insn_info(struct cpu *c, const struct insn *i)
{
	(void)c;
	unsigned asz = i->ashift == 0 ? 2 : i->ashift == 32 ? 1 : 0;
	uint32_t info = i->scale | asz << 7 | (uint32_t)i->seg << 15;
	if (i->index >= 16)
		info |= 1u << 22;
	else
		info |= (uint32_t)i->index << 18;
	if (i->base >= 16)
		info |= 1u << 27;
	else
		info |= (uint32_t)i->base << 23;
	return info;
}
