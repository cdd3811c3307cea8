/* SPDX-License-Identifier: MIT */
/*
 * Machine-check injection (KVM_X86_SET_MCE) and the VAPIC/TPR-access
 * interfaces QEMU uses with the in-kernel LAPIC (KVM_SET_VAPIC_ADDR,
 * KVM_TPR_ACCESS_REPORTING), with Linux 6.1's rules (arch/x86/kvm/x86.c,
 * lapic.c).
 */
#include <errno.h>
#include <string.h>

#include "kvm_internal.h"
#include "irq.h"

#define MCI_STATUS_VAL	(1ull << 63)
#define MCI_STATUS_OVER (1ull << 62)
#define MCI_STATUS_UC	(1ull << 61)
#define MCG_STATUS_MCIP (1ull << 2)
#define MCG_CTL_P	(1ull << 8)

uint64_t kvm_mce_cap_supported(void)
{
	return KVM_MCE_CAP_SUPPORTED;
}

int kvm_vcpu_x86_set_mce(struct kvm_vcpu *v, const struct kvm_x86_mce *m)
{
	unsigned nbanks = v->mcg_cap & 0xff;
	uint64_t status = m->status;

	if (m->bank >= nbanks || m->bank >= sizeof(v->mce_banks) / sizeof(v->mce_banks[0]) / 4 ||
	    !(status & MCI_STATUS_VAL))
		return -EINVAL;
	uint64_t *banks = &v->mce_banks[4 * m->bank];
	/* reporting disabled globally or for the bank: dropped */
	if ((v->mcg_cap & MCG_CTL_P) && v->mcg_ctl != ~0ull)
		return 0;
	if (banks[0] != ~0ull)
		return 0;
	if (status & MCI_STATUS_UC) {
		struct cpu_sregs s;
		cpu_get_sregs(v->cpu, &s);
		/* a second #MC in progress, or CR4.MCE off: the processor shuts down */
		if ((v->mcg_status & MCG_STATUS_MCIP) || !(s.cr4 & CR4_MCE)) {
			v->shutdown_request = true;
			return 0;
		}
		if (banks[1] & MCI_STATUS_VAL)
			status |= MCI_STATUS_OVER;
		banks[2] = m->addr;
		banks[3] = m->misc;
		v->mcg_status = m->mcg_status;
		banks[1] = status;
		cpu_queue_exception(v->cpu, EXC_MC, false, 0);
	} else if (!(banks[1] & MCI_STATUS_VAL) || !(banks[1] & MCI_STATUS_UC)) {
		if (banks[1] & MCI_STATUS_VAL)
			status |= MCI_STATUS_OVER;
		banks[2] = m->addr;
		banks[3] = m->misc;
		banks[1] = status;
	} else {
		banks[1] |= MCI_STATUS_OVER;
	}
	return 0;
}

int kvm_vcpu_set_vapic_addr(struct kvm_vcpu *v, uint64_t addr)
{
	if (!v->lapic)
		return -EINVAL;
	v->vapic_addr = addr;
	return 0;
}

int kvm_vcpu_tpr_access_reporting(struct kvm_vcpu *v, struct kvm_tpr_access_ctl *t)
{
	if (!v->lapic)
		return -EINVAL;
	if (t->flags)
		return -EINVAL;
	v->tpr_access_reporting = t->enabled != 0;
	return 0;
}

/* the TPR was accessed through the xAPIC page (lapic.c): report it after the instruction */
void kvm_tpr_accessed(struct kvm_vcpu *v, bool write)
{
	if (!v->tpr_access_reporting || v->tpr_access_pending)
		return;
	struct cpu_regs r;
	cpu_get_regs(v->cpu, &r);
	v->tpr_access_pending = true;
	v->tpr_access_rip = r.rip;
	v->tpr_access_write = write;
	cpu_kick(v->cpu);
}

/*
 * The VAPIC page (QEMU's kvmvapic option ROM): at entry KVM writes the TPR
 * and the highest ISR and IRR priorities; at exit it takes the TPR back.
 */
void kvm_vapic_sync_to(struct kvm_vcpu *v)
{
	if (!v->vapic_addr || !v->lapic)
		return;
	uint64_t avail;
	uint32_t flags;
	cpu_mem_begin(v->cpu);
	uint8_t *p = cpu_mem_gpa_to_hva(v->vm->mem, v->vapic_addr, &avail, &flags);
	/* never into a read-only slot (kvm_write_guest_cached() fails there) */
	if (p && avail >= 4 && !(flags & CPU_MEM_READONLY)) {
		uint32_t data = lapic_vapic_word(v->lapic);
		memcpy(p, &data, 4);
		cpu_mem_note_write(v->cpu, v->vapic_addr, 4);
	}
	cpu_mem_end(v->cpu);
}

void kvm_vapic_sync_from(struct kvm_vcpu *v)
{
	if (!v->vapic_addr || !v->lapic)
		return;
	uint64_t avail;
	uint32_t data = 0;
	cpu_mem_begin(v->cpu);
	uint8_t *p = cpu_mem_gpa_to_hva(v->vm->mem, v->vapic_addr, &avail, NULL);
	if (p && avail >= 4)
		memcpy(&data, p, 4);
	cpu_mem_end(v->cpu);
	if (p && avail >= 4)
		lapic_set_tpr(v->lapic, (data & 0xff) >> 4);
}
