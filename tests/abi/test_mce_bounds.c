/* SPDX-License-Identifier: MIT */
/*
 * The machine-check banks stay within the 32 KVM has (KVM_MAX_MCE_BANKS):
 * IA32_MCG_CAP, whose low byte is the bank count, is set only by
 * KVM_X86_SETUP_MCE (Linux 6.1's set_msr_mce() has no MCG_CAP case, so
 * KVM_SET_MSRS stops there), and no bank MSR or KVM_X86_SET_MCE beyond the
 * banks reaches memory. Found by fuzz_abi: a host-written MCG_CAP with 255
 * banks let MCi_CTL writes land far past the bank array.
 */
#include "kvmtest.h"

#define MSR_IA32_MCG_CAP 0x179
#define MSR_IA32_MC0_CTL 0x400

static int set_msr(int vcpu, uint32_t index, uint64_t value)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m;
	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 1;
	m.e.index = index;
	m.e.data = value;
	return KT_IOCTL(vcpu, KVM_SET_MSRS, &m);
}

static uint64_t get_msr(int vcpu, uint32_t index, int *n)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m;
	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 1;
	m.e.index = index;
	*n = KT_IOCTL(vcpu, KVM_GET_MSRS, &m);
	return m.e.data;
}

int main(void)
{
	struct kt_vm t;
	int n;

	KT_EQ(kt_vm_create(&t, 0x10000), 0);
	uint64_t cap = 0x100 | 10; /* MCG_CTL_P, 10 banks */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_X86_SETUP_MCE, &cap), 0);
	KT_EQ(get_msr(t.vcpu, MSR_IA32_MCG_CAP, &n), cap);
	KT_EQ(n, 1);

	/* MCG_CAP is not writable, by the host either */
	KT_EQ(set_msr(t.vcpu, MSR_IA32_MCG_CAP, 0x1ff), 0);
	KT_EQ(get_msr(t.vcpu, MSR_IA32_MCG_CAP, &n), cap);
	cap = 0x100 | 33;
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_X86_SETUP_MCE, &cap), EINVAL);

	/* banks 0-9 exist, 10 and far beyond do not */
	KT_EQ(set_msr(t.vcpu, MSR_IA32_MC0_CTL + 4 * 9, ~0ull), 1);
	KT_EQ(set_msr(t.vcpu, MSR_IA32_MC0_CTL + 4 * 10, ~0ull), 0);
	KT_EQ(set_msr(t.vcpu, MSR_IA32_MC0_CTL + 4 * 100, ~0ull), 0);
	get_msr(t.vcpu, MSR_IA32_MC0_CTL + 4 * 100, &n);
	KT_EQ(n, 0);
	struct kvm_x86_mce m = {.status = 1ull << 63, .bank = 100};
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_X86_SET_MCE, &m), EINVAL);

	kt_vm_destroy(&t);
	return kt_done("test_mce_bounds");
}
