/* SPDX-License-Identifier: MIT */
/*
 * Writes the hypervisor side makes into guest RAM (the kvmclock page, the
 * wall clock, the VAPIC page) follow the memory slot's rules, as Linux's
 * kvm_write_guest() does: never into a KVM_MEM_READONLY slot (whose host
 * memory here is mapped read-only: a write would kill the process), and
 * marked in the dirty log of a slot that logs.
 * argv: none (the guest is a two-instruction loop written here).
 */
#include "kvmtest.h"

#define MSR_KVM_WALL_CLOCK_NEW	0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define RO_SLOT			1
#define RO_GPA			0x100000
#define LOG_SLOT		2
#define LOG_GPA			0x200000
#define PAGES			4

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

static uint64_t dirty_bits(int vm, uint32_t slot)
{
	uint64_t bm = 0;
	struct kvm_dirty_log d = {.slot = slot, .dirty_bitmap = &bm};
	if (KT_IOCTL(vm, KVM_GET_DIRTY_LOG, &d))
		return ~0ull;
	return bm;
}

static void irqchip(struct kt_vm *t)
{
	KT_EQ(KT_IOCTL(t->vm, KVM_CREATE_IRQCHIP, 0), 0);
}

int main(void)
{
	struct kt_vm t;
	uint8_t *ro, *log;

	KT_EQ(kt_vm_create_setup(&t, 0x10000, irqchip), 0);
	/* ROM: filled, then read-only for the host too */
	ro = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	log = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_CHECK(ro != MAP_FAILED && log != MAP_FAILED);
	memset(ro, 0x5a, PAGES * 4096);
	KT_EQ(mprotect(ro, PAGES * 4096, PROT_READ), 0);
	struct kvm_userspace_memory_region r = {RO_SLOT, KVM_MEM_READONLY, RO_GPA, PAGES * 4096,
						(uintptr_t)ro};
	KT_EQ(KT_IOCTL(t.vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	r = (struct kvm_userspace_memory_region){LOG_SLOT, KVM_MEM_LOG_DIRTY_PAGES, LOG_GPA,
						 PAGES * 4096, (uintptr_t)log};
	KT_EQ(KT_IOCTL(t.vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	KT_EQ(dirty_bits(t.vm, LOG_SLOT), 0);

	/* read-only: the MSR writes are taken, the pages stay as they are */
	KT_EQ(set_msr(t.vcpu, MSR_KVM_SYSTEM_TIME_NEW, RO_GPA | 1), 1);
	KT_EQ(set_msr(t.vcpu, MSR_KVM_WALL_CLOCK_NEW, RO_GPA + 0x1000), 1);
	struct kvm_vapic_addr va = {RO_GPA + 0x2000};
	KT_IOCTL(t.vcpu, KVM_SET_VAPIC_ADDR, &va);
	/* a guest that exits at once: KVM_RUN syncs kvmclock and the VAPIC page */
	static const uint8_t code[] = {0xe6, 0x10, 0xeb, 0xfc}; /* out 0x10, al; jmp back */
	memcpy(t.mem + 0x1000, code, sizeof(code));
	kt_real_mode(&t, 0x1000);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_IO);
	int intact = 1;
	for (unsigned k = 0; k < PAGES * 4096; k++)
		intact &= ro[k] == 0x5a;
	KT_CHECK(intact);

	/* dirty logging: each page written is in the log */
	KT_EQ(set_msr(t.vcpu, MSR_KVM_SYSTEM_TIME_NEW, LOG_GPA | 1), 1);
	KT_EQ(set_msr(t.vcpu, MSR_KVM_WALL_CLOCK_NEW, LOG_GPA + 0x1000), 1);
	KT_CHECK(log[0] != 0 || log[1] != 0); /* the version moved */
	KT_CHECK(log[0x1000] != 0 || log[0x1001] != 0);
	KT_EQ(dirty_bits(t.vm, LOG_SLOT), 3);
	va.vapic_addr = LOG_GPA + 0x3000;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_VAPIC_ADDR, &va), 0);
	kt_real_mode(&t, 0x1000);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(dirty_bits(t.vm, LOG_SLOT) & 8, 8); /* the VAPIC page, written at the exit */

	kt_vm_destroy(&t);
	return kt_done("test_guest_writes");
}
