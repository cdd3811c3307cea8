/* SPDX-License-Identifier: MIT */
/*
 * KVM semantics on the software processor: the objects (VM, vCPU, memory
 * slots) and operations behind the /dev/kvm ioctls, in the terms of
 * <linux/kvm.h>. abi/ decodes ioctls, copies arguments in and out and calls
 * these functions; they return 0 (or a positive value) or a negative errno,
 * exactly what the ioctl returns on Linux 6.1.
 */
#ifndef SOFTKVM_KVM_H
#define SOFTKVM_KVM_H

#include <linux/kvm.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm_vm;
struct kvm_vcpu;

#define SOFTKVM_API_VERSION	12
#define SOFTKVM_MAX_VCPUS	1024
#define SOFTKVM_MAX_VCPU_ID	4096
#define SOFTKVM_USER_MEM_SLOTS	512 /* cpu/mem.h MEM_MAX_SLOTS; Linux has 32764 */
#define SOFTKVM_VCPU_MMAP_PAGES 3   /* kvm_run, PIO data, coalesced MMIO ring */

/* --- system --- */
int kvm_check_extension(struct kvm_vm *vm, long ext);
int kvm_get_supported_cpuid(struct kvm_cpuid2 *out, uint32_t max_entries);
int kvm_get_msr_index_list(struct kvm_msr_list *out, uint32_t max);
int kvm_get_msr_feature_index_list(struct kvm_msr_list *out, uint32_t max);
/* KVM_GET_MSRS on the system fd: feature MSRs; returns number read */
int kvm_get_feature_msrs(struct kvm_msr_entry *e, uint32_t n);
long kvm_vcpu_mmap_size(void);

/* --- VM --- */
int kvm_vm_create(unsigned long type, struct kvm_vm **out);
/* the VM's coalesced MMIO ring: one page mapped at page 2 of every vCPU mapping */
void kvm_vm_set_coalesced_ring(struct kvm_vm *vm, void *page, int fd);
int kvm_vm_ring_fd(struct kvm_vm *vm);
void kvm_vm_get(struct kvm_vm *vm);
void kvm_vm_put(struct kvm_vm *vm);
int kvm_vm_set_memory_region(struct kvm_vm *vm, const struct kvm_userspace_memory_region *m);
/* bitmap: caller buffer of ceil(npages/64) u64; returns size in bytes through *bytes */
int kvm_vm_get_dirty_log(struct kvm_vm *vm, uint32_t slot, uint64_t **bitmap, size_t *bytes);
int kvm_vm_clear_dirty_log(struct kvm_vm *vm, const struct kvm_clear_dirty_log *c,
			   const uint64_t *bitmap);
int kvm_vm_slot_npages(struct kvm_vm *vm, uint32_t slot, uint64_t *npages);
int kvm_vm_set_tss_addr(struct kvm_vm *vm, unsigned long addr);
int kvm_vm_set_identity_map_addr(struct kvm_vm *vm, uint64_t addr);
int kvm_vm_enable_cap(struct kvm_vm *vm, const struct kvm_enable_cap *cap);
int kvm_vm_check_extension(struct kvm_vm *vm, long ext);
int kvm_vm_register_coalesced_mmio(struct kvm_vm *vm, const struct kvm_coalesced_mmio_zone *z,
				   bool add);
int kvm_vm_set_msr_filter(struct kvm_vm *vm, const struct kvm_msr_filter *f);
int kvm_vm_get_clock(struct kvm_vm *vm, struct kvm_clock_data *d);
int kvm_vm_set_clock(struct kvm_vm *vm, const struct kvm_clock_data *d);
int kvm_vm_set_tsc_khz(struct kvm_vm *vm, uint32_t khz);
int kvm_vm_get_tsc_khz(struct kvm_vm *vm);
int kvm_vm_set_nr_mmu_pages(struct kvm_vm *vm, unsigned long n);
long kvm_vm_get_nr_mmu_pages(struct kvm_vm *vm);
/* in-kernel irqchip */
int kvm_vm_create_irqchip(struct kvm_vm *vm);
int kvm_vm_create_pit2(struct kvm_vm *vm, const struct kvm_pit_config *cfg);
int kvm_vm_get_irqchip(struct kvm_vm *vm, struct kvm_irqchip *c);
int kvm_vm_set_irqchip(struct kvm_vm *vm, const struct kvm_irqchip *c);
int kvm_vm_get_pit2(struct kvm_vm *vm, struct kvm_pit_state2 *s);
int kvm_vm_set_pit2(struct kvm_vm *vm, const struct kvm_pit_state2 *s);
int kvm_vm_irq_line(struct kvm_vm *vm, uint32_t irq, uint32_t level, int *status);
int kvm_vm_set_gsi_routing(struct kvm_vm *vm, const struct kvm_irq_routing_entry *e, uint32_t n,
			   uint32_t flags);
int kvm_vm_signal_msi(struct kvm_vm *vm, const struct kvm_msi *m);
int kvm_vm_irqfd(struct kvm_vm *vm, const struct kvm_irqfd *a);
/*
 * The client's thread signals eventfd `fd`: when fd is an irqfd of one of
 * the process's VMs whose GSI routes to an MSI, deliver it from this thread
 * (IRR set, the vCPU kicked or woken) and return 1; else 0 (the caller
 * writes the eventfd).
 */
int kvm_irqfd_signal(int fd);
/* might fd be such an irqfd (a lock-free first test for the preload's write())? */
bool kvm_irqfd_candidate(int fd);
int kvm_vm_ioeventfd(struct kvm_vm *vm, const struct kvm_ioeventfd *a);

/* --- vCPU --- */
/* run: the shared kvm_run mapping (SOFTKVM_VCPU_MMAP_PAGES pages) */
int kvm_vcpu_create(struct kvm_vm *vm, unsigned long id, struct kvm_run *run,
		    struct kvm_vcpu **out);
struct kvm_vm *kvm_vcpu_vm(struct kvm_vcpu *v);
/* Serialize vCPU ioctls, as Linux's vcpu->mutex does. */
void kvm_vcpu_lock(struct kvm_vcpu *v);
void kvm_vcpu_unlock(struct kvm_vcpu *v);
/*
 * KVM_RUN. The caller blocks every asynchronous signal first and passes the
 * thread's own mask; it restores that mask only after it released the vCPU,
 * so no signal handler (or asynchronous thread cancellation) runs inside
 * softkvm while it holds the vCPU, as on Linux where handlers run after the
 * ioctl returned.
 */
int kvm_vcpu_run(struct kvm_vcpu *v, const sigset_t *thread_mask);
/* Make KVM_RUN return soon (another thread's signal to the vCPU thread). */
void kvm_vcpu_kick(struct kvm_vcpu *v);
/* Make KVM_RUN return -EINTR (KVM_EXIT_INTR) now, as a pending signal does:
 * pthread_cancel() of the vCPU thread, whose SIGCANCEL cannot be blocked. */
void kvm_vcpu_interrupt_run(struct kvm_vcpu *v);
int kvm_vcpu_get_regs(struct kvm_vcpu *v, struct kvm_regs *r);
int kvm_vcpu_set_regs(struct kvm_vcpu *v, const struct kvm_regs *r);
int kvm_vcpu_get_sregs(struct kvm_vcpu *v, struct kvm_sregs *s);
int kvm_vcpu_set_sregs(struct kvm_vcpu *v, const struct kvm_sregs *s);
int kvm_vcpu_get_sregs2(struct kvm_vcpu *v, struct kvm_sregs2 *s);
int kvm_vcpu_set_sregs2(struct kvm_vcpu *v, const struct kvm_sregs2 *s);
int kvm_vcpu_get_fpu(struct kvm_vcpu *v, struct kvm_fpu *f);
int kvm_vcpu_set_fpu(struct kvm_vcpu *v, const struct kvm_fpu *f);
int kvm_vcpu_get_xsave(struct kvm_vcpu *v, struct kvm_xsave *x, size_t size);
int kvm_vcpu_set_xsave(struct kvm_vcpu *v, const struct kvm_xsave *x);
int kvm_vcpu_get_xcrs(struct kvm_vcpu *v, struct kvm_xcrs *x);
int kvm_vcpu_set_xcrs(struct kvm_vcpu *v, const struct kvm_xcrs *x);
/* returns the number of MSRs processed */
int kvm_vcpu_get_msrs(struct kvm_vcpu *v, struct kvm_msr_entry *e, uint32_t n);
int kvm_vcpu_set_msrs(struct kvm_vcpu *v, const struct kvm_msr_entry *e, uint32_t n);
int kvm_vcpu_set_cpuid2(struct kvm_vcpu *v, const struct kvm_cpuid_entry2 *e, uint32_t n);
int kvm_vcpu_set_cpuid(struct kvm_vcpu *v, const struct kvm_cpuid_entry *e, uint32_t n);
int kvm_vcpu_get_cpuid2(struct kvm_vcpu *v, struct kvm_cpuid2 *out, uint32_t max);
int kvm_vcpu_get_mp_state(struct kvm_vcpu *v, struct kvm_mp_state *m);
int kvm_vcpu_set_mp_state(struct kvm_vcpu *v, const struct kvm_mp_state *m);
int kvm_vcpu_get_events(struct kvm_vcpu *v, struct kvm_vcpu_events *e);
int kvm_vcpu_set_events(struct kvm_vcpu *v, const struct kvm_vcpu_events *e);
int kvm_vcpu_get_debugregs(struct kvm_vcpu *v, struct kvm_debugregs *d);
int kvm_vcpu_set_debugregs(struct kvm_vcpu *v, const struct kvm_debugregs *d);
int kvm_vcpu_translate(struct kvm_vcpu *v, struct kvm_translation *t);
int kvm_vcpu_set_guest_debug(struct kvm_vcpu *v, const struct kvm_guest_debug *d);
int kvm_vcpu_set_signal_mask(struct kvm_vcpu *v, const sigset_t *mask);
int kvm_vcpu_interrupt(struct kvm_vcpu *v, uint32_t irq);
int kvm_vcpu_nmi(struct kvm_vcpu *v);
int kvm_vcpu_enable_cap(struct kvm_vcpu *v, const struct kvm_enable_cap *cap);
int kvm_vcpu_get_tsc_khz(struct kvm_vcpu *v);
int kvm_vcpu_set_tsc_khz(struct kvm_vcpu *v, uint32_t khz);
int kvm_vcpu_x86_setup_mce(struct kvm_vcpu *v, uint64_t mcg_cap);
int kvm_vcpu_get_lapic(struct kvm_vcpu *v, struct kvm_lapic_state *s);
int kvm_vcpu_kvmclock_ctrl(struct kvm_vcpu *v);
uint64_t kvm_mce_cap_supported(void);
int kvm_vcpu_x86_set_mce(struct kvm_vcpu *v, const struct kvm_x86_mce *m);
int kvm_vcpu_set_vapic_addr(struct kvm_vcpu *v, uint64_t addr);
int kvm_vcpu_tpr_access_reporting(struct kvm_vcpu *v, struct kvm_tpr_access_ctl *t);
int kvm_vcpu_set_lapic(struct kvm_vcpu *v, const struct kvm_lapic_state *s);

#endif
