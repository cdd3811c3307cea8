/* SPDX-License-Identifier: MIT */
/*
 * System, VM and vCPU basics: API version, extensions, memory slots and
 * their checks, vCPU creation, KVM_RUN with IO, MMIO and HLT exits
 * completed on the next KVM_RUN, immediate_exit, register access.
 */
#include "kvmtest.h"

static void test_system(void)
{
	int kvm = kt_open();
	KT_CHECK(kvm >= 0);
	KT_EQ(KT_IOCTL(kvm, KVM_GET_API_VERSION, 0), 12);
	KT_EQ(KT_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1);
	KT_EQ(KT_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT), 1);
	KT_CHECK(KT_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS) >= 1);
	KT_EQ(KT_IOCTL(kvm, KVM_CHECK_EXTENSION, 0x7fffffff), 0);
	KT_CHECK(KT_IOCTL(kvm, KVM_GET_VCPU_MMAP_SIZE, 0) >= 4096);
	/* an unknown request on /dev/kvm is EINVAL (kvm_arch_dev_ioctl) */
	KT_FAILS(KT_IOCTL(kvm, _IO(KVMIO, 0xfe), 0), EINVAL);
	/* request numbers are truncated to 32 bits, as QEMU's sign-extended ones need */
	KT_EQ(KT_IOCTL(kvm, 0xffffffff00000000ul | KVM_GET_API_VERSION, 0), 12);
	KT_FAILS(KT_IOCTL(kvm, KVM_CREATE_VM, 5), EINVAL);

	/* MSR index list: the E2BIG probe gives the count */
	struct kvm_msr_list probe = {.nmsrs = 0};
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_MSR_INDEX_LIST, &probe), E2BIG);
	KT_CHECK(probe.nmsrs > 0);
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + probe.nmsrs * 4);
	l->nmsrs = probe.nmsrs;
	KT_EQ(KT_IOCTL(kvm, KVM_GET_MSR_INDEX_LIST, l), 0);
	free(l);

	/* supported CPUID: too small is E2BIG, the count is not updated */
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[1];
	} small = {.c.nent = 1};
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, &small), E2BIG);
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[100];
	} big = {.c.nent = 100};
	KT_EQ(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, &big), 0);
	KT_CHECK(big.c.nent > 1 && big.c.nent < 100);
	/* bad pointer: EFAULT, not a crash */
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, (void *)8), EFAULT);
	kt_close(kvm);
}

static void test_memslots(void)
{
	int kvm = kt_open(), vm = KT_IOCTL(kvm, KVM_CREATE_VM, 0);
	uint8_t *m =
	    mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = {0, 0, 0x10000, 0x10000, (uintptr_t)m};

	KT_EQ(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	/* overlapping slot */
	struct kvm_userspace_memory_region o = {1, 0, 0x18000, 0x10000, (uintptr_t)m + 0x20000};
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &o), EEXIST);
	/* misaligned */
	struct kvm_userspace_memory_region a = {2, 0, 0x100800, 0x1000, (uintptr_t)m};
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &a), EINVAL);
	/* bad flags */
	struct kvm_userspace_memory_region f = {3, 0x80, 0x200000, 0x1000, (uintptr_t)m};
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &f), EINVAL);
	/* changing the size of an existing slot */
	struct kvm_userspace_memory_region g = {0, 0, 0x10000, 0x20000, (uintptr_t)m};
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &g), EINVAL);
	/* move, then delete, then delete again */
	r.guest_phys_addr = 0x40000;
	KT_EQ(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	r.memory_size = 0;
	KT_EQ(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r), EINVAL);
	/* slot number out of range, address space 1 */
	struct kvm_userspace_memory_region s = {40000, 0, 0, 0x1000, (uintptr_t)m};
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &s), EINVAL);
	s.slot = 1u << 16;
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &s), EINVAL);
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, (void *)16), EFAULT);
	/* unknown VM ioctl: ENOTTY */
	KT_FAILS(KT_IOCTL(vm, _IO(KVMIO, 0xfe), 0), ENOTTY);
	/* vCPU ids */
	int v0 = KT_IOCTL(vm, KVM_CREATE_VCPU, 0);
	KT_CHECK(v0 >= 0);
	KT_FAILS(KT_IOCTL(vm, KVM_CREATE_VCPU, 0), EEXIST);
	KT_FAILS(KT_IOCTL(vm, KVM_CREATE_VCPU, 1u << 20), EINVAL);
	KT_FAILS(KT_IOCTL(v0, _IO(KVMIO, 0xfe), 0), EINVAL);
	kt_close(v0);
	kt_close(vm);
	kt_close(kvm);
	munmap(m, 1 << 20);
}

static void test_run_exits(void)
{
	struct kt_vm t;
	/* 512 KiB of RAM: 0xf0000 and up is MMIO */
	KT_EQ(kt_vm_create(&t, 0x80000), 0);
	/* real mode at 0x1000:
	 *   mov al, 0x42; out 0x10, al; in al, 0x11; mov [0x500], al;
	 *   mov byte [0xf0000 >> 4 ...] -- MMIO: mov ax, 0xf000; mov ds, ax; mov bl, [0x10]
	 *   mov [0x20], bl (MMIO write); hlt */
	static const uint8_t code[] = {
	    0xb0, 0x42, 0xe6, 0x10, 0xe4, 0x11, 0xa2, 0x00, 0x05, 0xb8, 0x00, 0xf0, 0x8e, 0xd8,
	    0x8a, 0x1e, 0x10, 0x00, 0x88, 0x1e, 0x20, 0x00, 0x31, 0xc0, 0x8e, 0xd8, 0xf4,
	};
	memcpy(t.mem + 0x1000, code, sizeof(code));
	kt_real_mode(&t, 0x1000);

	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_IO);
	KT_EQ(t.run->io.direction, KVM_EXIT_IO_OUT);
	KT_EQ(t.run->io.port, 0x10);
	KT_EQ(t.run->io.size, 1);
	KT_EQ(t.run->io.count, 1);
	KT_EQ(*((uint8_t *)t.run + t.run->io.data_offset), 0x42);

	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_IO);
	KT_EQ(t.run->io.direction, KVM_EXIT_IO_IN);
	KT_EQ(t.run->io.port, 0x11);
	*((uint8_t *)t.run + t.run->io.data_offset) = 0x99;

	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.mem[0x500], 0x99);
	KT_EQ(t.run->exit_reason, KVM_EXIT_MMIO);
	KT_EQ(t.run->mmio.phys_addr, 0xf0010);
	KT_EQ(t.run->mmio.is_write, 0);
	KT_EQ(t.run->mmio.len, 1);
	t.run->mmio.data[0] = 0x77;

	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_MMIO);
	KT_EQ(t.run->mmio.phys_addr, 0xf0020);
	KT_EQ(t.run->mmio.is_write, 1);
	KT_EQ(t.run->mmio.data[0], 0x77);

	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_HLT);
	struct kvm_regs regs;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_REGS, &regs), 0);
	KT_EQ(regs.rip, 0x1000 + sizeof(code));
	KT_EQ(regs.rbx & 0xff, 0x77);

	/* immediate_exit: -EINTR, exit_reason unchanged */
	t.run->immediate_exit = 1;
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_RUN, 0), EINTR);
	KT_EQ(t.run->exit_reason, KVM_EXIT_HLT);
	t.run->immediate_exit = 0;
	kt_vm_destroy(&t);
}

static void test_immediate_exit_completes_pio(void)
{
	struct kt_vm t;
	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	static const uint8_t code[] = {0xe4, 0x11, 0xf4}; /* in al, 0x11; hlt */
	memcpy(t.mem + 0x1000, code, sizeof(code));
	kt_real_mode(&t, 0x1000);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_IO);
	*((uint8_t *)t.run + t.run->io.data_offset) = 0x5a;
	/* as the selftests' ucall does: the pending IN completes, then -EINTR */
	t.run->immediate_exit = 1;
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_RUN, 0), EINTR);
	KT_EQ(t.run->exit_reason, KVM_EXIT_IO);
	struct kvm_regs regs;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_REGS, &regs), 0);
	KT_EQ(regs.rip, 0x1002);
	KT_EQ(regs.rax & 0xff, 0x5a);
	kt_vm_destroy(&t);
}

int main(void)
{
	test_system();
	test_memslots();
	test_run_exits();
	test_immediate_exit_completes_pio();
	return kt_done("test_basic");
}
