/* SPDX-License-Identifier: MIT */
/*
 * KVM_CHECK_EXTENSION: only what is implemented, with Linux 6.1's values.
 * A capability listed here must behave as on Linux; anything else is 0.
 */
#include <unistd.h>

#include "kvm_internal.h"

long kvm_vcpu_mmap_size(void)
{
	return SOFTKVM_VCPU_MMAP_PAGES * KVM_PAGE_SIZE;
}

int kvm_check_extension(struct kvm_vm *vm, long ext)
{
	(void)vm;
	switch (ext) {
	case KVM_CAP_HLT:
	case KVM_CAP_USER_MEMORY:
	case KVM_CAP_SET_TSS_ADDR:
	case KVM_CAP_EXT_CPUID:
	case KVM_CAP_MP_STATE:
	case KVM_CAP_DESTROY_MEMORY_REGION_WORKS:
	case KVM_CAP_JOIN_MEMORY_REGIONS_WORKS:
	case KVM_CAP_IMMEDIATE_EXIT:
	case KVM_CAP_SET_IDENTITY_MAP_ADDR:
	case KVM_CAP_COALESCED_PIO:
	case KVM_CAP_READONLY_MEM:
	case KVM_CAP_VCPU_EVENTS:
	case KVM_CAP_DEBUGREGS:
	case KVM_CAP_XSAVE:
	case KVM_CAP_XCRS:
	case KVM_CAP_SET_GUEST_DEBUG:
	case KVM_CAP_GET_TSC_KHZ:
	case KVM_CAP_TSC_CONTROL:
	case KVM_CAP_VM_TSC_CONTROL:
	case KVM_CAP_SYNC_MMU:
	case KVM_CAP_GET_MSR_FEATURES:
	case KVM_CAP_X86_USER_SPACE_MSR:
	case KVM_CAP_X86_MSR_FILTER:
	case KVM_CAP_SREGS2:
	case KVM_CAP_CHECK_EXTENSION_VM:
	case KVM_CAP_NOP_IO_DELAY:
	case KVM_CAP_X86_ROBUST_SINGLESTEP:
	case KVM_CAP_INTERNAL_ERROR_DATA:
	case KVM_CAP_MMU_SHADOW_CACHE_CONTROL:
	case KVM_CAP_ENABLE_CAP_VM:
	case KVM_CAP_USER_NMI:
		return 1;
	case KVM_CAP_IRQCHIP:
	case KVM_CAP_PIT:
	case KVM_CAP_PIT2:
	case KVM_CAP_PIT_STATE2:
	case KVM_CAP_IRQ_INJECT_STATUS:
	case KVM_CAP_SIGNAL_MSI:
	case KVM_CAP_IRQFD:
	case KVM_CAP_IRQFD_RESAMPLE:
	case KVM_CAP_IOEVENTFD:
	case KVM_CAP_IOEVENTFD_ANY_LENGTH:
	case KVM_CAP_SPLIT_IRQCHIP:
	case KVM_CAP_TSC_DEADLINE_TIMER:
	case KVM_CAP_REINJECT_CONTROL:
	case KVM_CAP_KVMCLOCK_CTRL:
	case KVM_CAP_VAPIC:
		return 1;
	case KVM_CAP_STEAL_TIME:
		return kvm_steal_supported();
	case KVM_CAP_MCE:
		return 32; /* KVM_MAX_MCE_BANKS */
	case KVM_CAP_IRQ_ROUTING:
		return 4096; /* KVM_MAX_IRQ_ROUTES */
	case KVM_CAP_SOFTKVM_QUIRKS:
		return (int)SOFTKVM_QUIRKS_ALL;
	case KVM_CAP_COALESCED_MMIO:
		return KVM_COALESCED_MMIO_PAGE_OFFSET;
	case KVM_CAP_NR_VCPUS: {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		return n > 0 && n < SOFTKVM_MAX_VCPUS ? (int)n : SOFTKVM_MAX_VCPUS;
	}
	case KVM_CAP_MAX_VCPUS:
		return SOFTKVM_MAX_VCPUS;
	case KVM_CAP_MAX_VCPU_ID:
		return SOFTKVM_MAX_VCPU_ID;
	case KVM_CAP_NR_MEMSLOTS:
		return SOFTKVM_USER_MEM_SLOTS;
	case KVM_CAP_X86_DISABLE_EXITS:
		/* MWAIT (kvm_can_mwait_in_guest(): this processor has MONITOR/MWAIT
		 * and ARAT) and PAUSE (no pause-loop exits here anyway); not HLT and
		 * CSTATE, which kvm_vm_enable_cap() accepts and ignores, as Linux 6.1
		 * does on a host that mitigates SMT_RSB */
		return KVM_X86_DISABLE_EXITS_MWAIT | KVM_X86_DISABLE_EXITS_PAUSE;
	case KVM_CAP_XSAVE2:
		return 4096; /* sizeof(struct kvm_xsave): the supported XCR0 fits */
	case KVM_CAP_ADJUST_CLOCK:
		return KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC;
	case KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2:
		return KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET;
	default:
		return 0;
	}
}
