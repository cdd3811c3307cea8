/* SPDX-License-Identifier: MIT */
/*
 * VM exits (SDM vol. 3C, chapter 28 in current numbering, "VM Exits"):
 * the exit information fields, saving the guest state into the VMCS,
 * loading the host state, and unwinding to cpu_run() so that L1 goes on
 * at HOST_RIP on the same software processor.
 */
#include "../sys.h"
#include "vmx_internal.h"

static uint32_t seg_to_ar(const struct cpu_seg *s)
{
	if (s->unusable)
		return 1u << 16;
	return (uint32_t)s->type | (uint32_t)s->s << 4 | (uint32_t)s->dpl << 5 |
	       (uint32_t)s->present << 7 | (uint32_t)s->avl << 12 | (uint32_t)s->l << 13 |
	       (uint32_t)s->db << 14 | (uint32_t)s->g << 15;
}

static void save_guest(struct cpu *c)
{
	struct vmx *v = c->vmx;
	uint32_t exit_ctl = (uint32_t)vmcs_get(v, VF_VM_EXIT_CONTROLS);

	vmcs_set(v, VF_GUEST_CR0, c->cr0);
	vmcs_set(v, VF_GUEST_CR3, c->cr3);
	vmcs_set(v, VF_GUEST_CR4, c->cr4);
	if (exit_ctl & EXIT_SAVE_DEBUG) {
		vmcs_set(v, VF_GUEST_DR7, c->dr[7]);
		vmcs_set(v, VF_GUEST_IA32_DEBUGCTL, c->debugctl);
	}
	vmcs_set(v, VF_GUEST_SYSENTER_CS, (uint32_t)c->sysenter_cs);
	vmcs_set(v, VF_GUEST_SYSENTER_ESP, c->sysenter_esp);
	vmcs_set(v, VF_GUEST_SYSENTER_EIP, c->sysenter_eip);
	for (int s = 0; s < SEG_COUNT; s++) {
		const struct cpu_seg *sg = &c->seg[s];
		vmcs_set(v, VF_GUEST_ES_SELECTOR + s, sg->sel);
		vmcs_set(v, VF_GUEST_ES_BASE + s, sg->base);
		vmcs_set(v, VF_GUEST_ES_LIMIT + s, sg->limit);
		vmcs_set(v, VF_GUEST_ES_AR_BYTES + s, seg_to_ar(sg));
	}
	vmcs_set(v, VF_GUEST_GDTR_BASE, c->gdt_base);
	vmcs_set(v, VF_GUEST_GDTR_LIMIT, c->gdt_limit);
	vmcs_set(v, VF_GUEST_IDTR_BASE, c->idt_base);
	vmcs_set(v, VF_GUEST_IDTR_LIMIT, c->idt_limit);
	vmcs_set(v, VF_GUEST_RIP, RIP(c));
	vmcs_set(v, VF_GUEST_RSP, c->gpr[REG_RSP]);
	vmcs_set(v, VF_GUEST_RFLAGS, cpu_get_rflags(c));
	if (exit_ctl & EXIT_SAVE_PAT)
		vmcs_set(v, VF_GUEST_IA32_PAT, c->pat);
	if (exit_ctl & EXIT_SAVE_EFER)
		vmcs_set(v, VF_GUEST_IA32_EFER, c->efer);
	if (exit_ctl & EXIT_SAVE_PREEMPT) {
		uint64_t now = cpu_rdtsc(c) >> VMX_MISC_TIMER_RATE;
		uint64_t val = vmcs_get(v, VF_VMX_PREEMPTION_TIMER_VALUE);
		uint64_t gone = now - v->timer_start;
		vmcs_set(v, VF_VMX_PREEMPTION_TIMER_VALUE, gone >= val ? 0 : val - gone);
	}
	uint32_t intr = 0;
	if (c->intr_shadow == 1)
		intr |= 1; /* blocking by STI */
	else if (c->intr_shadow == 2)
		intr |= 2; /* blocking by MOV SS */
	if (c->nmi_masked)
		intr |= 8;
	vmcs_set(v, VF_GUEST_INTERRUPTIBILITY_INFO, intr);
	vmcs_set(v, VF_GUEST_ACTIVITY_STATE, c->halted ? 1 : 0);
	vmcs_set(v, VF_GUEST_PENDING_DBG_EXCEPTIONS, 0);
	/* "IA-32e mode guest" follows EFER.LMA (SDM 27.2) */
	uint64_t entry = vmcs_get(v, VF_VM_ENTRY_CONTROLS) & ~(uint64_t)ENTRY_IA32E;
	if (c->efer & EFER_LMA)
		entry |= ENTRY_IA32E;
	vmcs_set(v, VF_VM_ENTRY_CONTROLS, entry);
}

static void flat_seg(struct cpu_seg *s, uint16_t sel, uint64_t base, uint8_t type, bool l, bool db)
{
	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->base = base;
	s->limit = 0xffffffffu;
	s->type = type;
	s->s = 1;
	s->present = 1;
	s->l = l;
	s->db = db;
	s->g = 1;
}

void vmx_load_host(struct cpu *c)
{
	struct vmx *v = c->vmx;
	uint32_t exit_ctl = (uint32_t)vmcs_get(v, VF_VM_EXIT_CONTROLS);
	bool host64 = (exit_ctl & EXIT_HOST_64) != 0;
	uint64_t old_cr4 = c->cr4;

	/* CR0: bits the processor fixes keep their values (SDM 28.5.1) */
	c->cr0 = (vmcs_get(v, VF_HOST_CR0) & 0xffffffffull) | CR0_ET;
	c->cr3 = vmcs_get(v, VF_HOST_CR3);
	c->cr4 = vmcs_get(v, VF_HOST_CR4);
	cpu_set_dr(c, 7, 0x400);
	c->debugctl = 0;
	c->sysenter_cs = (uint32_t)vmcs_get(v, VF_HOST_IA32_SYSENTER_CS);
	c->sysenter_esp = vmcs_get(v, VF_HOST_IA32_SYSENTER_ESP);
	c->sysenter_eip = vmcs_get(v, VF_HOST_IA32_SYSENTER_EIP);
	if (exit_ctl & EXIT_LOAD_EFER)
		c->efer = vmcs_get(v, VF_HOST_IA32_EFER);
	else if (host64)
		c->efer |= EFER_LMA | EFER_LME;
	else
		c->efer &= ~(EFER_LMA | EFER_LME);
	if (exit_ctl & EXIT_LOAD_PAT)
		c->pat = vmcs_get(v, VF_HOST_IA32_PAT);

	flat_seg(&c->seg[SEG_CS], (uint16_t)vmcs_get(v, VF_HOST_CS_SELECTOR), 0, 11, host64,
		 !host64);
	static const int data_seg[] = {SEG_SS, SEG_DS, SEG_ES, SEG_FS, SEG_GS};
	for (unsigned k = 0; k < 5; k++) {
		int s = data_seg[k];
		/* HOST_ES..HOST_GS selectors are in SEG_* order */
		uint16_t sel = (uint16_t)vmcs_get(v, VF_HOST_ES_SELECTOR + s);
		uint64_t base = s == SEG_FS   ? vmcs_get(v, VF_HOST_FS_BASE)
				: s == SEG_GS ? vmcs_get(v, VF_HOST_GS_BASE)
					      : 0;
		flat_seg(&c->seg[s], sel, base, 3, false, true);
		if (!sel)
			c->seg[s].unusable = 1;
	}
	struct cpu_seg *tr = &c->seg[SEG_TR];
	memset(tr, 0, sizeof(*tr));
	tr->sel = (uint16_t)vmcs_get(v, VF_HOST_TR_SELECTOR);
	tr->base = vmcs_get(v, VF_HOST_TR_BASE);
	tr->limit = 0x67;
	tr->type = 11;
	tr->present = 1;
	struct cpu_seg *ldt = &c->seg[SEG_LDTR];
	memset(ldt, 0, sizeof(*ldt));
	ldt->unusable = 1;
	c->gdt_base = vmcs_get(v, VF_HOST_GDTR_BASE);
	c->idt_base = vmcs_get(v, VF_HOST_IDTR_BASE);
	c->gdt_limit = c->idt_limit = 0xffff;
	RIP(c) = vmcs_get(v, VF_HOST_RIP);
	c->gpr[REG_RSP] = vmcs_get(v, VF_HOST_RSP);
	cpu_set_rflags_raw(c, FL_1);
	c->intr_shadow = 0;
	c->halted = false;
	c->cpl = 0;
	v->guest = false;
	c->vmx_nonroot = false;
	c->xlog_n = c->xlog_pos = 0;
	c->inb.active = false;
	/* no VPID: no translation of L2 survives (SDM 28.5.5) */
	seg_update_cache(c);
	tlb_flush_all(c);
	if (old_cr4 != c->cr4 && c->ops->cr4_changed)
		c->ops->cr4_changed(c->opaque, old_cr4, c->cr4);
}

NORETURN void vmx_vmexit_info(struct cpu *c, uint32_t reason, uint64_t qual, const struct insn *i,
			      uint32_t info)
{
	struct vmx *v = c->vmx;

	vmcs_set(v, VF_VM_EXIT_REASON, reason);
	vmcs_set(v, VF_EXIT_QUALIFICATION, qual);
	vmcs_set(v, VF_VM_EXIT_INSTRUCTION_LEN, i ? i->len : 0);
	vmcs_set(v, VF_VMX_INSTRUCTION_INFO, info);
	vmcs_set(v, VF_IDT_VECTORING_INFO_FIELD, 0);
	if (reason != EXIT_EXCEPTION_NMI && reason != EXIT_EXTERNAL_INTR)
		vmcs_set(v, VF_VM_EXIT_INTR_INFO, 0);
	save_guest(c);
	vmx_load_host(c);
	atomic_fetch_and(&c->events, ~EV_VMX);
	c->exit_reason = CPU_EXIT_NONE;
	longjmp(c->jb, 3);
}

NORETURN void vmx_vmexit(struct cpu *c, uint32_t reason, uint64_t qual, const struct insn *i)
{
	vmx_vmexit_info(c, reason, qual, i, 0);
}

/* ---- exits the rest of cpu/ asks for (vmx.h) ---- */

NORETURN void vmx_exit_insn(struct cpu *c, const struct insn *i, uint32_t reason)
{
	vmx_vmexit(c, reason, 0, i);
}

bool vmx_exit_hlt(struct cpu *c, const struct insn *i)
{
	if (vmcs_get(c->vmx, VF_CPU_BASED_VM_EXEC_CONTROL) & PROC_HLT)
		vmx_vmexit(c, EXIT_HLT, 0, i);
	return false;
}

/* I/O (SDM 26.1.3): unconditional I/O exiting, or the I/O bitmaps */
void vmx_exit_io(struct cpu *c, const struct insn *i, uint16_t port, unsigned size, bool in,
		 bool string, bool rep, bool imm)
{
	struct vmx *v = c->vmx;
	uint32_t proc = (uint32_t)vmcs_get(v, VF_CPU_BASED_VM_EXEC_CONTROL);
	bool exit;
	if (proc & PROC_IO_BITMAPS) {
		exit = false;
		for (unsigned k = 0; k < size; k++) {
			unsigned p = port + k;
			if (p > 0xffff) { /* wraps around: exits */
				exit = true;
				break;
			}
			uint64_t bm = vmcs_get(v, p < 0x8000 ? VF_IO_BITMAP_A : VF_IO_BITMAP_B);
			const uint8_t *b = mem_gpa_ptr(c, bm + ((p & 0x7fff) >> 3), 1, false);
			if (!b || (*b >> (p & 7) & 1)) {
				exit = true;
				break;
			}
		}
	} else {
		exit = (proc & PROC_UNCOND_IO) != 0;
	}
	if (!exit)
		return;
	/* exit qualification (SDM table 28-5) */
	uint64_t q = (size - 1) | (in ? 8 : 0) | (string ? 16 : 0) | (rep ? 32 : 0) |
		     (imm ? 64 : 0) | (uint64_t)port << 16;
	uint32_t info = 0;
	if (string) {
		/* INS/OUTS instruction information (table 28-8): address size,
		 * segment (ES for INS); the guest-linear address of the operand */
		unsigned asz = i->ashift == 0 ? 2 : i->ashift == 32 ? 1 : 0;
		int seg = in ? SEG_ES : i->seg;
		info = asz << 7 | (uint32_t)seg << 15;
		uint64_t ea = c->gpr[in ? REG_RDI : REG_RSI];
		ea = (ea << i->ashift) >> i->ashift;
		vmcs_set(v, VF_GUEST_LINEAR_ADDRESS, (c->segbase[seg] + ea) & c->la_mask);
	}
	vmx_vmexit_info(c, EXIT_IO, q, i, info);
}

/* RDMSR/WRMSR (SDM 26.1.3): the MSR bitmaps, or always without them */
void vmx_exit_msr(struct cpu *c, const struct insn *i, uint32_t index, bool write)
{
	struct vmx *v = c->vmx;
	uint32_t proc = (uint32_t)vmcs_get(v, VF_CPU_BASED_VM_EXEC_CONTROL);
	bool exit = true;
	if (proc & PROC_MSR_BITMAPS) {
		unsigned off;
		if (index <= 0x1fff)
			off = 0;
		else if (index >= 0xc0000000u && index <= 0xc0001fffu)
			off = 1024;
		else
			off = 4096; /* outside both ranges: exits */
		if (off < 4096) {
			unsigned bit = index & 0x1fff;
			off += (write ? 2048 : 0) + bit / 8;
			const uint8_t *b =
			    mem_gpa_ptr(c, vmcs_get(v, VF_MSR_BITMAP) + off, 1, false);
			exit = !b || (*b >> (bit & 7) & 1);
		}
	}
	if (exit)
		vmx_vmexit(c, write ? EXIT_WRMSR : EXIT_RDMSR, 0, i);
}

/* exceptions (SDM 26.2): the exception bitmap, #PF through the error-code
 * mask and match; the exit comes instead of the delivery */
void vmx_exit_exception(struct cpu *c, int vector, bool has_error, uint32_t error,
			const struct insn *i)
{
	struct vmx *v = c->vmx;
	uint32_t bitmap = (uint32_t)vmcs_get(v, VF_EXCEPTION_BITMAP);
	if (vector > 31)
		return;
	bool exit = bitmap >> vector & 1;
	if (vector == EXC_PF) {
		uint32_t mask = (uint32_t)vmcs_get(v, VF_PAGE_FAULT_ERROR_CODE_MASK);
		uint32_t match = (uint32_t)vmcs_get(v, VF_PAGE_FAULT_ERROR_CODE_MATCH);
		bool eq = (error & mask) == match;
		exit = exit ? eq : !eq;
	}
	if (!exit)
		return;
	uint32_t type = vector == EXC_NMI ? INTR_TYPE_NMI
			: i		  ? INTR_TYPE_SOFT_EXC
					  : INTR_TYPE_HW_EXC;
	uint32_t info = (uint32_t)vector | type << 8 | INTR_INFO_VALID;
	if (has_error) {
		info |= INTR_INFO_ERRCODE;
		vmcs_set(v, VF_VM_EXIT_INTR_ERROR_CODE, error);
	}
	vmcs_set(v, VF_VM_EXIT_INTR_INFO, info);
	uint64_t qual = vector == EXC_PF ? c->cr2 : 0;
	vmx_vmexit(c, EXIT_EXCEPTION_NMI, qual, i);
}

NORETURN void vmx_exit_triple_fault(struct cpu *c)
{
	c->delivering = 0;
	vmx_vmexit(c, EXIT_TRIPLE_FAULT, 0, NULL);
}

/*
 * At an instruction boundary (handle_events, while EV_VMX or an event is
 * pending), in the priority order of SDM vol. 3C 26.2 ("Other Causes of
 * VM Exits"): the preemption timer, the NMI window, NMIs (NMI exiting), the
 * interrupt window, external interrupts (external-interrupt exiting).
 * Returns when nothing exits.
 */
void vmx_boundary(struct cpu *c)
{
	struct vmx *v = c->vmx;
	uint32_t pin = (uint32_t)vmcs_get(v, VF_PIN_BASED_VM_EXEC_CONTROL);
	uint32_t proc = (uint32_t)vmcs_get(v, VF_CPU_BASED_VM_EXEC_CONTROL);

	if (pin & PIN_PREEMPT_TIMER) {
		uint64_t now = cpu_rdtsc(c) >> VMX_MISC_TIMER_RATE;
		if (now - v->timer_start >= vmcs_get(v, VF_VMX_PREEMPTION_TIMER_VALUE)) {
			if (vmcs_get(v, VF_VM_EXIT_CONTROLS) & EXIT_SAVE_PREEMPT)
				vmcs_set(v, VF_VMX_PREEMPTION_TIMER_VALUE, 0);
			v->timer_start = now;
			vmx_vmexit(c, EXIT_PREEMPT_TIMER, 0, NULL);
		}
	}
	if ((proc & PROC_NMI_WINDOW) && !c->nmi_masked && c->intr_shadow != 2)
		vmx_vmexit(c, EXIT_NMI_WINDOW, 0, NULL);
	/* NMIs exit with NMI exiting (reason 0, NMI interruption type) */
	if ((pin & PIN_NMI_EXITING) && c->intr_shadow != 2 &&
	    (c->nmi_pending || atomic_load(&c->nmi_req))) {
		if (c->nmi_pending)
			c->nmi_pending--;
		else
			atomic_fetch_sub(&c->nmi_req, 1);
		vmcs_set(v, VF_VM_EXIT_INTR_INFO, 2 | INTR_TYPE_NMI << 8 | INTR_INFO_VALID);
		vmx_vmexit(c, EXIT_EXCEPTION_NMI, 0, NULL);
	}
	if ((proc & PROC_INTR_WINDOW) && (c->rflags & FL_IF) && !c->intr_shadow)
		vmx_vmexit(c, EXIT_INTR_WINDOW, 0, NULL);
	if ((pin & PIN_EXT_INTR) && !c->intr_shadow && atomic_load(&c->irq_line)) {
		uint32_t info = 0;
		if (vmcs_get(v, VF_VM_EXIT_CONTROLS) & EXIT_ACK_INTR) {
			int vec = c->ops->intr_ack ? c->ops->intr_ack(c->opaque) : -1;
			if (vec < 0)
				return; /* gone meanwhile */
			info = (uint32_t)vec | INTR_TYPE_EXT << 8 | INTR_INFO_VALID;
		}
		vmcs_set(v, VF_VM_EXIT_INTR_INFO, info);
		vmx_vmexit(c, EXIT_EXTERNAL_INTR, 0, NULL);
	}
}

/* ---- control registers (SDM 26.1.3, exit qualification table 28-3) ---- */

static NORETURN void exit_cr(struct cpu *c, const struct insn *i, unsigned cr, unsigned type,
			     unsigned gpr)
{
	vmx_vmexit(c, EXIT_CR_ACCESS, cr | type << 4 | gpr << 8, i);
}

uint64_t vmx_cr_write(struct cpu *c, const struct insn *i, unsigned cr, uint64_t val, unsigned gpr)
{
	struct vmx *v = c->vmx;
	uint32_t proc = (uint32_t)vmcs_get(v, VF_CPU_BASED_VM_EXEC_CONTROL);
	uint64_t mask, shadow, cur;
	switch (cr) {
	case 0:
		mask = vmcs_get(v, VF_CR0_GUEST_HOST_MASK);
		shadow = vmcs_get(v, VF_CR0_READ_SHADOW);
		cur = c->cr0;
		break;
	case 4:
		mask = vmcs_get(v, VF_CR4_GUEST_HOST_MASK);
		shadow = vmcs_get(v, VF_CR4_READ_SHADOW);
		cur = c->cr4;
		break;
	case 3:
		if (proc & PROC_CR3_LOAD)
			exit_cr(c, i, 3, 0, gpr);
		return val;
	case 8:
		if (proc & PROC_CR8_LOAD)
			exit_cr(c, i, 8, 0, gpr);
		return val;
	default:
		return val;
	}
	if ((val ^ shadow) & mask)
		exit_cr(c, i, cr, 0, gpr);
	return (val & ~mask) | (cur & mask);
}

uint64_t vmx_cr_read(struct cpu *c, const struct insn *i, unsigned cr, uint64_t val, unsigned gpr)
{
	struct vmx *v = c->vmx;
	uint32_t proc = (uint32_t)vmcs_get(v, VF_CPU_BASED_VM_EXEC_CONTROL);
	switch (cr) {
	case 0: {
		uint64_t mask = vmcs_get(v, VF_CR0_GUEST_HOST_MASK);
		return (val & ~mask) | (vmcs_get(v, VF_CR0_READ_SHADOW) & mask);
	}
	case 4: {
		uint64_t mask = vmcs_get(v, VF_CR4_GUEST_HOST_MASK);
		return (val & ~mask) | (vmcs_get(v, VF_CR4_READ_SHADOW) & mask);
	}
	case 3:
		if (proc & PROC_CR3_STORE)
			exit_cr(c, i, 3, 1, gpr);
		return val;
	case 8:
		if (proc & PROC_CR8_STORE)
			exit_cr(c, i, 8, 1, gpr);
		return val;
	default:
		return val;
	}
}

bool vmx_clts(struct cpu *c, const struct insn *i)
{
	struct vmx *v = c->vmx;
	uint64_t mask = vmcs_get(v, VF_CR0_GUEST_HOST_MASK);
	if (!(mask & CR0_TS))
		return true;
	if (vmcs_get(v, VF_CR0_READ_SHADOW) & CR0_TS)
		exit_cr(c, i, 0, 2, 0);
	return false;
}

bool vmx_ext_intr_exits(const struct cpu *c)
{
	return vmcs_get(c->vmx, VF_PIN_BASED_VM_EXEC_CONTROL) & PIN_EXT_INTR;
}
