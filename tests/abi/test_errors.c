/* SPDX-License-Identifier: MIT */
/*
 * Argument validation of every ioctl, with the errno Linux 6.1 gives
 * (virt/kvm/kvm_main.c, arch/x86/kvm/x86.c): unknown requests per descriptor
 * kind, bad pointers (EFAULT, never a crash), counts and sizes (E2BIG,
 * EINVAL), what is written back on failure; and the descriptors themselves:
 * a vCPU outliving its VM descriptor, dup'ed descriptors, many VMs with
 * independent state, KVM_RUN with no memory.
 */
#include <sys/syscall.h>

#include "kvmtest.h"

#define BAD ((void *)16) /* an unmapped user address */

/* 8 readable bytes right before an unmapped page: a header whose entries fault */
static void *edge_header(void)
{
	uint8_t *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	munmap(p + 4096, 4096);
	return p + 4096 - 8;
}

static void test_system_fd(void)
{
	int kvm = kt_open();
	KT_CHECK(kvm >= 0);

	/* arguments that must be 0 */
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_API_VERSION, 1), EINVAL);
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_VCPU_MMAP_SIZE, 1), EINVAL);
	KT_FAILS(KT_IOCTL(kvm, KVM_CREATE_VM, 1), EINVAL);
	/* VM and vCPU requests on /dev/kvm: kvm_arch_dev_ioctl's EINVAL */
	KT_FAILS(KT_IOCTL(kvm, KVM_CREATE_VCPU, 0), EINVAL);
	KT_FAILS(KT_IOCTL(kvm, KVM_RUN, 0), EINVAL);
	struct kvm_regs regs;
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_REGS, &regs), EINVAL);
	/* the same number with another size is another (unknown) request */
	KT_FAILS(KT_IOCTL(kvm, _IOWR(KVMIO, 0x02, uint64_t), 0), EINVAL);
	KT_EQ(KT_IOCTL(kvm, KVM_CHECK_EXTENSION, -1), 0);

	/* MSR lists: E2BIG writes the count back; bad pointers are EFAULT */
	struct kvm_msr_list probe = {.nmsrs = 1};
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_MSR_INDEX_LIST, &probe), E2BIG);
	KT_CHECK(probe.nmsrs > 1);
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_MSR_INDEX_LIST, BAD), EFAULT);
	struct kvm_msr_list fprobe = {.nmsrs = 0};
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_MSR_FEATURE_INDEX_LIST, &fprobe), E2BIG);
	KT_CHECK(fprobe.nmsrs > 0);
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_MSR_FEATURE_INDEX_LIST, BAD), EFAULT);

	/* feature MSRs on /dev/kvm: the count read, stopping at the first unknown */
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[3];
	} fm = {.h.nmsrs = 3};
	fm.e[0].index = 0x10a; /* ARCH_CAPABILITIES */
	fm.e[1].index = 0x345; /* PERF_CAPABILITIES */
	fm.e[2].index = 0x10;  /* TSC: not a feature MSR */
	KT_EQ(KT_IOCTL(kvm, KVM_GET_MSRS, &fm), 2);
	fm.h.nmsrs = 256; /* MAX_IO_MSRS */
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_MSRS, &fm), E2BIG);
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_MSRS, BAD), EFAULT);
	/* the header is readable, the entries are not */
	struct kvm_msrs *edge = edge_header();
	KT_CHECK(edge != NULL);
	edge->nmsrs = 2;
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_MSRS, edge), EFAULT);

	/* supported CPUID: nent 0 is E2BIG; too small is E2BIG with nent kept */
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[300];
	} cp = {.c.nent = 0};
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, &cp), E2BIG);
	cp.c.nent = 2;
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, &cp), E2BIG);
	KT_EQ(cp.c.nent, 2);
	/* more than KVM_MAX_CPUID_ENTRIES is fine (capped) */
	cp.c.nent = 300;
	KT_EQ(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, &cp), 0);
	KT_CHECK(cp.c.nent > 2 && cp.c.nent <= 256);
	struct kvm_cpuid2 *half = (struct kvm_cpuid2 *)edge;
	half->nent = 100;
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, half), EFAULT);
	/* the MSR list: the count fits, the indices do not */
	struct kvm_msr_list *ml = (struct kvm_msr_list *)edge;
	ml->nmsrs = 1000;
	KT_FAILS(KT_IOCTL(kvm, KVM_GET_MSR_INDEX_LIST, ml), EFAULT);
	KT_EQ(ml->nmsrs, probe.nmsrs); /* the count was written before the fault */
	munmap((uint8_t *)edge + 8 - 4096, 4096);
	kt_close(kvm);
}

static void test_vm_fd(void)
{
	int kvm = kt_open(), vm = KT_IOCTL(kvm, KVM_CREATE_VM, 0);
	KT_CHECK(vm >= 0);

	/* unknown and system-only requests on a VM: kvm_arch_vm_ioctl's ENOTTY */
	KT_FAILS(KT_IOCTL(vm, KVM_GET_API_VERSION, 0), ENOTTY);
	KT_FAILS(KT_IOCTL(vm, KVM_GET_VCPU_MMAP_SIZE, 0), ENOTTY);
	KT_FAILS(KT_IOCTL(vm, KVM_RUN, 0), ENOTTY);
	KT_FAILS(KT_IOCTL(vm, _IO(0x54, 0x01), 0), ENOTTY);
	KT_EQ(KT_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1);

	/* bad pointers */
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, BAD), EFAULT);
	KT_FAILS(KT_IOCTL(vm, KVM_GET_DIRTY_LOG, BAD), EFAULT);
	KT_FAILS(KT_IOCTL(vm, KVM_CLEAR_DIRTY_LOG, BAD), EFAULT);
	KT_FAILS(KT_IOCTL(vm, KVM_ENABLE_CAP, BAD), EFAULT);
	KT_FAILS(KT_IOCTL(vm, KVM_REGISTER_COALESCED_MMIO, BAD), EFAULT);
	KT_FAILS(KT_IOCTL(vm, KVM_X86_SET_MSR_FILTER, BAD), EFAULT);
	KT_FAILS(KT_IOCTL(vm, KVM_GET_CLOCK, BAD), EFAULT);
	KT_FAILS(KT_IOCTL(vm, KVM_SET_CLOCK, BAD), EFAULT);
	KT_FAILS(KT_IOCTL(vm, KVM_SET_IDENTITY_MAP_ADDR, BAD), EFAULT);

	/* KVM_ENABLE_CAP: flags must be 0; unknown capabilities are EINVAL */
	struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR, .flags = 1};
	KT_FAILS(KT_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	cap.flags = 0;
	cap.args[0] = 1u << 7;
	KT_FAILS(KT_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	cap.cap = 0x7fff;
	cap.args[0] = 0;
	KT_FAILS(KT_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	/* MANUAL_DIRTY_LOG_PROTECT2: INITIALLY_SET needs ENABLE */
	cap.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
	cap.args[0] = KVM_DIRTY_LOG_INITIALLY_SET;
	KT_FAILS(KT_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	cap.args[0] = 1u << 5;
	KT_FAILS(KT_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);

	/* KVM_CAP_MAX_VCPU_ID: at most the cap, once, before vCPUs; it bounds ids */
	int max_id = KT_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);
	KT_CHECK(max_id > 1);
	cap.cap = KVM_CAP_MAX_VCPU_ID;
	cap.args[0] = (uint64_t)max_id + 1;
	KT_FAILS(KT_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	cap.args[0] = 4;
	KT_EQ(KT_IOCTL(vm, KVM_ENABLE_CAP, &cap), 0);
	KT_EQ(KT_IOCTL(vm, KVM_ENABLE_CAP, &cap), 0); /* the same value again */
	cap.args[0] = 5;
	KT_FAILS(KT_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	KT_FAILS(KT_IOCTL(vm, KVM_CREATE_VCPU, 4), EINVAL);
	int v3 = KT_IOCTL(vm, KVM_CREATE_VCPU, 3);
	KT_CHECK(v3 >= 0);
	KT_FAILS(KT_IOCTL(vm, KVM_CREATE_VCPU, 3), EEXIST);
	/* identity map address only before the first vCPU */
	uint64_t ident = 0xfeffc000;
	KT_FAILS(KT_IOCTL(vm, KVM_SET_IDENTITY_MAP_ADDR, &ident), EINVAL);

	/* KVM_SET_CLOCK: unknown flags */
	struct kvm_clock_data cd = {.flags = 1u << 9};
	KT_FAILS(KT_IOCTL(vm, KVM_SET_CLOCK, &cd), EINVAL);
	struct kvm_clock_data cd2;
	KT_EQ(KT_IOCTL(vm, KVM_GET_CLOCK, &cd2), 0);

	/* VM TSC frequency: 0 means the host's */
	KT_EQ(KT_IOCTL(vm, KVM_SET_TSC_KHZ, 1000000), 0);
	KT_EQ(KT_IOCTL(vm, KVM_GET_TSC_KHZ, 0), 1000000);
	KT_EQ(KT_IOCTL(vm, KVM_SET_TSC_KHZ, 0), 0);
	KT_CHECK(KT_IOCTL(vm, KVM_GET_TSC_KHZ, 0) > 0);

	/* shadow MMU budget: at least 64 pages */
	KT_FAILS(KT_IOCTL(vm, KVM_SET_NR_MMU_PAGES, 63), EINVAL);
	KT_EQ(KT_IOCTL(vm, KVM_SET_NR_MMU_PAGES, 64), 0);
	KT_EQ(KT_IOCTL(vm, KVM_GET_NR_MMU_PAGES, 0), 64);
	/* the budget is an unsigned long; read back through ioctl()'s int, as
	 * glibc truncates a result that is not -4095..-1 (2^63 is not an error) */
	KT_EQ(KT_IOCTL(vm, KVM_SET_NR_MMU_PAGES, 1ull << 63), 0);
	KT_EQ(KT_IOCTL(vm, KVM_GET_NR_MMU_PAGES, 0), 0);
	KT_EQ(KT_IOCTL(vm, KVM_SET_NR_MMU_PAGES, (1ull << 32) + 100), 0);
	KT_EQ(KT_IOCTL(vm, KVM_GET_NR_MMU_PAGES, 0), 100);
	KT_EQ(KT_IOCTL(vm, KVM_SET_NR_MMU_PAGES, 64), 0);

	/* coalesced zones: pio is 0 or 1 */
	struct kvm_coalesced_mmio_zone z = {.addr = 0xd0000, .size = 0x1000, .pio = 2};
	KT_FAILS(KT_IOCTL(vm, KVM_REGISTER_COALESCED_MMIO, &z), EINVAL);
	KT_FAILS(KT_IOCTL(vm, KVM_UNREGISTER_COALESCED_MMIO, &z), EINVAL);

	kt_close(v3);
	kt_close(vm);
	kt_close(kvm);
}

static void test_memslots(void)
{
	int kvm = kt_open(), vm = KT_IOCTL(kvm, KVM_CREATE_VM, 0);
	uint8_t *m =
	    mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int nslots = KT_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	KT_CHECK(nslots > 2);

	struct kvm_userspace_memory_region r = {0, 0, 0x100000, 0x10000, (uintptr_t)m};
	KT_EQ(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	/* sizes and addresses in pages; userspace_addr page aligned */
	struct kvm_userspace_memory_region e = {1, 0, 0x200000, 0x1800, (uintptr_t)m};
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &e), EINVAL);
	e.memory_size = 0x1000;
	e.userspace_addr = (uintptr_t)m + 8;
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &e), EINVAL);
	/* a guest-physical range that wraps */
	e.userspace_addr = (uintptr_t)m;
	e.guest_phys_addr = ~0xfffull;
	e.memory_size = 0x2000;
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &e), EINVAL);
	/* a user range beyond the user address space */
	e.guest_phys_addr = 0x200000;
	e.userspace_addr = 0xfffffffffffff000ull;
	e.memory_size = 0x1000;
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &e), EINVAL);
	/* the slot number: below KVM_CAP_NR_MEMSLOTS, address space 0 */
	e.userspace_addr = (uintptr_t)m;
	e.slot = (uint32_t)nslots;
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &e), EINVAL);
	e.slot = (uint32_t)nslots - 1;
	KT_EQ(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &e), 0);
	/* overlaps, at either end and inside */
	struct kvm_userspace_memory_region o = {2, 0, 0x10f000, 0x2000, (uintptr_t)m + 0x20000};
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &o), EEXIST);
	o.guest_phys_addr = 0xff000;
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &o), EEXIST);
	o.guest_phys_addr = 0x104000;
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &o), EEXIST);
	/* adjacent is fine */
	o.guest_phys_addr = 0x110000;
	KT_EQ(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &o), 0);
	/* moving a slot onto another is EEXIST; its flags may change, READONLY may not */
	r.guest_phys_addr = 0x111000;
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r), EEXIST);
	r.guest_phys_addr = 0x100000;
	r.flags = KVM_MEM_LOG_DIRTY_PAGES;
	KT_EQ(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	r.flags = KVM_MEM_READONLY;
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r), EINVAL);
	/* a slot's host address may not change */
	r.flags = 0;
	r.userspace_addr += 0x1000;
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r), EINVAL);
	r.userspace_addr -= 0x1000;
	/* delete; deleting again is EINVAL */
	r.memory_size = 0;
	KT_EQ(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	KT_FAILS(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r), EINVAL);
	/* the freed range can be used again */
	o.slot = 3;
	o.guest_phys_addr = 0x100000;
	o.userspace_addr = (uintptr_t)m + 0x40000;
	KT_EQ(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &o), 0);

	/* dirty log of a slot without logging, of a slot that does not exist */
	uint64_t bitmap[4];
	struct kvm_dirty_log dl = {.slot = 3, .dirty_bitmap = bitmap};
	KT_FAILS(KT_IOCTL(vm, KVM_GET_DIRTY_LOG, &dl), ENOENT);
	dl.slot = 7;
	KT_FAILS(KT_IOCTL(vm, KVM_GET_DIRTY_LOG, &dl), ENOENT);
	dl.slot = (uint32_t)nslots;
	KT_FAILS(KT_IOCTL(vm, KVM_GET_DIRTY_LOG, &dl), EINVAL);
	dl.slot = 1u << 16;
	KT_FAILS(KT_IOCTL(vm, KVM_GET_DIRTY_LOG, &dl), EINVAL);
	struct kvm_clear_dirty_log cl = {
	    .slot = 3, .first_page = 1, .num_pages = 1, .dirty_bitmap = bitmap};
	/* an unaligned first page is EINVAL before the slot is looked at */
	cl.slot = 7;
	KT_FAILS(KT_IOCTL(vm, KVM_CLEAR_DIRTY_LOG, &cl), EINVAL);
	cl.first_page = 0;
	KT_FAILS(KT_IOCTL(vm, KVM_CLEAR_DIRTY_LOG, &cl), ENOENT);
	kt_close(vm);
	kt_close(kvm);
	munmap(m, 1 << 20);
}

static void test_vcpu_fd(void)
{
	struct kt_vm t;
	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	int v = t.vcpu;

	/* unknown requests, and requests of another type: kvm_vcpu_ioctl's EINVAL */
	KT_FAILS(KT_IOCTL(v, _IO(KVMIO, 0xfe), 0), EINVAL);
	KT_FAILS(KT_IOCTL(v, _IO(0x54, 0x01), 0), EINVAL);
	KT_FAILS(KT_IOCTL(v, KVM_CREATE_VCPU, 1), EINVAL);
	KT_FAILS(KT_IOCTL(v, KVM_RUN, 1), EINVAL);

	/* every state request with a bad pointer */
	static const unsigned long reqs[] = {
	    KVM_GET_REGS,	 KVM_SET_REGS,	      KVM_GET_SREGS,	   KVM_SET_SREGS,
	    KVM_GET_SREGS2,	 KVM_SET_SREGS2,      KVM_GET_FPU,	   KVM_SET_FPU,
	    KVM_GET_XSAVE,	 KVM_SET_XSAVE,	      KVM_GET_XSAVE2,	   KVM_GET_XCRS,
	    KVM_SET_XCRS,	 KVM_GET_MSRS,	      KVM_SET_MSRS,	   KVM_SET_CPUID,
	    KVM_SET_CPUID2,	 KVM_GET_CPUID2,      KVM_GET_MP_STATE,	   KVM_SET_MP_STATE,
	    KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_GET_DEBUGREGS,   KVM_SET_DEBUGREGS,
	    KVM_TRANSLATE,	 KVM_SET_GUEST_DEBUG, KVM_SET_SIGNAL_MASK, KVM_INTERRUPT,
	    KVM_ENABLE_CAP,
	};
	for (size_t k = 0; k < sizeof(reqs) / sizeof(reqs[0]); k++) {
		errno = 0;
		int r = KT_IOCTL(v, reqs[k], BAD);
		kt_checks++;
		if (r != -1 || errno != EFAULT) {
			kt_failures++;
			fprintf(stderr, "request %#lx with a bad pointer: %d/%s, expected EFAULT\n",
				reqs[k], r, strerror(errno));
		}
	}

	/* counts */
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[2];
	} ms = {.h.nmsrs = 256};
	KT_FAILS(KT_IOCTL(v, KVM_GET_MSRS, &ms), E2BIG);
	KT_FAILS(KT_IOCTL(v, KVM_SET_MSRS, &ms), E2BIG);
	/* a read stops at the first MSR that fails, returning how many were read */
	ms.h.nmsrs = 2;
	ms.e[0].index = 0x10;	    /* TSC */
	ms.e[1].index = 0xdeadbeef; /* none */
	KT_EQ(KT_IOCTL(v, KVM_GET_MSRS, &ms), 1);
	KT_EQ(KT_IOCTL(v, KVM_SET_MSRS, &ms), 1);
	ms.h.nmsrs = 0;
	KT_EQ(KT_IOCTL(v, KVM_GET_MSRS, &ms), 0);

	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[4];
	} cp = {.c.nent = 257};
	KT_FAILS(KT_IOCTL(v, KVM_SET_CPUID2, &cp), E2BIG);
	struct kvm_cpuid c1 = {.nent = 257};
	KT_FAILS(KT_IOCTL(v, KVM_SET_CPUID, &c1), E2BIG);
	/* GET_CPUID2 too small: E2BIG, nent not written back (Linux 6.1) */
	cp.c.nent = 2;
	cp.e[0].function = 0;
	cp.e[1].function = 1;
	KT_EQ(KT_IOCTL(v, KVM_SET_CPUID2, &cp), 0);
	cp.c.nent = 1;
	KT_FAILS(KT_IOCTL(v, KVM_GET_CPUID2, &cp), E2BIG);
	KT_EQ(cp.c.nent, 1);
	cp.c.nent = 4;
	KT_EQ(KT_IOCTL(v, KVM_GET_CPUID2, &cp), 0);
	KT_EQ(cp.e[1].function, 1);

	/* KVM_SET_SIGNAL_MASK: the kernel's sigset_t is 8 bytes; NULL clears */
	struct {
		struct kvm_signal_mask m;
		uint64_t bits;
	} sm = {.m.len = 16};
	KT_FAILS(KT_IOCTL(v, KVM_SET_SIGNAL_MASK, &sm), EINVAL);
	sm.m.len = 8;
	KT_EQ(KT_IOCTL(v, KVM_SET_SIGNAL_MASK, &sm), 0);
	KT_EQ(KT_IOCTL(v, KVM_SET_SIGNAL_MASK, NULL), 0);

	/* KVM_INTERRUPT without an irqchip: a vector, one at a time */
	struct kvm_interrupt irq = {.irq = 256};
	KT_FAILS(KT_IOCTL(v, KVM_INTERRUPT, &irq), EINVAL);
	irq.irq = 0x20;
	KT_EQ(KT_IOCTL(v, KVM_INTERRUPT, &irq), 0);
	KT_FAILS(KT_IOCTL(v, KVM_INTERRUPT, &irq), ENXIO);

	/* guest debug: unknown control bits */
	struct kvm_guest_debug dbg = {.control = 1u << 30};
	KT_FAILS(KT_IOCTL(v, KVM_SET_GUEST_DEBUG, &dbg), EINVAL);

	/* per-vCPU capabilities: none that take arguments here */
	struct kvm_enable_cap cap = {.cap = 0x7fff};
	KT_FAILS(KT_IOCTL(v, KVM_ENABLE_CAP, &cap), EINVAL);

	/* TSC frequency: 0 is the host's */
	KT_EQ(KT_IOCTL(v, KVM_SET_TSC_KHZ, 1500000), 0);
	KT_EQ(KT_IOCTL(v, KVM_GET_TSC_KHZ, 0), 1500000);
	KT_EQ(KT_IOCTL(v, KVM_SET_TSC_KHZ, 0), 0);
	KT_CHECK(KT_IOCTL(v, KVM_GET_TSC_KHZ, 0) > 0);

	/* mmap: a VM descriptor has no mapping */
	errno = 0;
	void *p = kt_mmap(4096, t.vm);
	KT_CHECK(p == MAP_FAILED && errno == ENODEV);
	kt_vm_destroy(&t);
}

/* real-mode guest at 0x1000: out 0x10, al with AL = the byte at 0x500; hlt */
static const uint8_t report_code[] = {0xa0, 0x00, 0x05, 0xe6, 0x10, 0xf4};

static void real_mode(int vcpu, uint16_t ip)
{
	struct kvm_sregs s;
	struct kvm_regs r = {.rip = ip, .rflags = 2, .rsp = 0x8000};
	KT_EQ(KT_IOCTL(vcpu, KVM_GET_SREGS, &s), 0);
	s.cs.base = 0;
	s.cs.selector = 0;
	KT_EQ(KT_IOCTL(vcpu, KVM_SET_SREGS, &s), 0);
	KT_EQ(KT_IOCTL(vcpu, KVM_SET_REGS, &r), 0);
}

static void test_descriptors(void)
{
	/* a vCPU keeps its VM: close /dev/kvm and the VM, the vCPU still runs */
	struct kt_vm t;
	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	memcpy(t.mem + 0x1000, report_code, sizeof(report_code));
	t.mem[0x500] = 0x3c;
	real_mode(t.vcpu, 0x1000);
	KT_EQ(kt_close(t.vm), 0);
	KT_EQ(kt_close(t.kvm), 0);
	t.vm = t.kvm = -1;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_IO);
	KT_EQ(*((uint8_t *)t.run + t.run->io.data_offset), 0x3c);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_HLT);
	kt_close(t.vcpu);
	munmap(t.run, (size_t)4096 * 3);
	munmap(t.mem, t.mem_size);

#ifndef SOFTKVM_INPROC
	/* dup'ed descriptors name the same object (not with the in-process API,
	 * which has no dup) */
	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	int vm2 = dup(t.vm);
	KT_CHECK(vm2 >= 0);
	int vc2 = fcntl(t.vcpu, F_DUPFD_CLOEXEC, 100);
	KT_CHECK(vc2 >= 100);
	KT_EQ(close(t.vm), 0);
	t.vm = -1;
	/* the VM is still there through the copy: its slot 0 exists */
	struct kvm_userspace_memory_region r = {0, 0, 0, t.mem_size, (uintptr_t)t.mem};
	r.guest_phys_addr = 0x100000;
	KT_EQ(KT_IOCTL(vm2, KVM_SET_USER_MEMORY_REGION, &r), 0);
	struct kvm_regs regs = {.rax = 0x1234, .rflags = 2};
	KT_EQ(KT_IOCTL(vc2, KVM_SET_REGS, &regs), 0);
	struct kvm_regs back;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_REGS, &back), 0);
	KT_EQ(back.rax, 0x1234);
	/* dup2 over a KVM descriptor drops it; the original stays */
	int pipefd[2];
	KT_EQ(pipe(pipefd), 0);
	KT_EQ(dup2(pipefd[0], vc2), vc2);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_REGS, &back), 0);
	errno = 0;
	KT_CHECK(ioctl(vc2, KVM_GET_REGS, &back) == -1 && errno != 0);
	close(pipefd[0]);
	close(pipefd[1]);
	close(vc2);
	close(vm2);
	kt_vm_destroy(&t);
	/* a closed descriptor is EBADF */
	KT_FAILS(KT_IOCTL(vm2, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), EBADF);
#endif
}

#define NVMS 8

static void test_many_vms(void)
{
	struct kt_vm t[NVMS];

	for (int k = 0; k < NVMS; k++) {
		KT_EQ(kt_vm_create(&t[k], 1 << 20), 0);
		memcpy(t[k].mem + 0x1000, report_code, sizeof(report_code));
		t[k].mem[0x500] = (uint8_t)(0x40 + k);
		real_mode(t[k].vcpu, 0x1000);
		struct kvm_regs r;
		KT_EQ(KT_IOCTL(t[k].vcpu, KVM_GET_REGS, &r), 0);
		r.rbx = 0x1000u + (unsigned)k;
		KT_EQ(KT_IOCTL(t[k].vcpu, KVM_SET_REGS, &r), 0);
	}
	/* each VM sees its own memory, registers and TSC frequency */
	for (int k = NVMS - 1; k >= 0; k--) {
		KT_EQ(KT_IOCTL(t[k].vcpu, KVM_SET_TSC_KHZ, 1000000 + 1000 * k), 0);
		KT_EQ(KT_IOCTL(t[k].vcpu, KVM_RUN, 0), 0);
		KT_EQ(t[k].run->exit_reason, KVM_EXIT_IO);
		KT_EQ(*((uint8_t *)t[k].run + t[k].run->io.data_offset), 0x40 + k);
	}
	for (int k = 0; k < NVMS; k++) {
		struct kvm_regs r;
		KT_EQ(KT_IOCTL(t[k].vcpu, KVM_GET_REGS, &r), 0);
		KT_EQ(r.rbx, 0x1000u + (unsigned)k);
		KT_EQ(KT_IOCTL(t[k].vcpu, KVM_GET_TSC_KHZ, 0), 1000000 + 1000 * k);
		kt_vm_destroy(&t[k]);
	}
}

static void test_run_without_memory(void)
{
	/* no memory slot at all: the reset vector cannot be fetched (Linux:
	 * KVM_EXIT_INTERNAL_ERROR, as set_memory_region_test checks) */
	int kvm = kt_open(), vm = KT_IOCTL(kvm, KVM_CREATE_VM, 0);
	int v = KT_IOCTL(vm, KVM_CREATE_VCPU, 0);
	int sz = KT_IOCTL(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = kt_mmap((size_t)sz, v);
	KT_CHECK(run != MAP_FAILED);
	KT_EQ(KT_IOCTL(vm, KVM_SET_NR_MMU_PAGES, 64), 0);
	KT_EQ(KT_IOCTL(v, KVM_RUN, 0), 0);
	KT_EQ(run->exit_reason, KVM_EXIT_INTERNAL_ERROR);
	KT_EQ(run->internal.suberror, KVM_INTERNAL_ERROR_EMULATION);
	/* and it stays so */
	KT_EQ(KT_IOCTL(v, KVM_RUN, 0), 0);
	KT_EQ(run->exit_reason, KVM_EXIT_INTERNAL_ERROR);
	munmap(run, (size_t)sz);
	kt_close(v);
	kt_close(vm);
	kt_close(kvm);
}

int main(void)
{
	test_system_fd();
	test_vm_fd();
	test_memslots();
	test_vcpu_fd();
	test_descriptors();
	test_many_vms();
	test_run_without_memory();
	return kt_done("test_errors");
}
