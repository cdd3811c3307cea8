/* SPDX-License-Identifier: MIT */
/* kvm/ internals: the VM and vCPU objects. */
#ifndef SOFTKVM_KVM_INTERNAL_H
#define SOFTKVM_KVM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "kvm.h"
#define SOFTKVM_NO_REG_NAMES
#include "../cpu/cpu.h"
#include "../include/softkvm/softkvm.h"

#define KVM_PAGE_SIZE 4096ull
/* the guest TSC runs at 2 GHz unless KVM_SET_TSC_KHZ says otherwise */
#define SOFTKVM_DEFAULT_TSC_KHZ 2000000u

struct kvm_slot {
	uint32_t id;
	uint32_t flags;
	uint64_t gpa, size, hva;
	bool dirty_initially_set;
};

#define KVM_MAX_COALESCED 100

struct kvm_msr_filter_range_int {
	uint32_t flags, base, nmsrs;
	uint64_t *bitmap; /* nmsrs bits */
};

struct kvm_msr_filter_int {
	uint32_t flags; /* KVM_MSR_FILTER_DEFAULT_DENY */
	uint32_t nranges;
	struct kvm_msr_filter_range_int r[KVM_MSR_FILTER_MAX_RANGES];
};

struct kvm_vm {
	_Atomic int refs;
	pthread_mutex_t lock;	   /* slots, vCPU list, caps */
	pthread_rwlock_t run_lock; /* read: a vCPU inside cpu_run(); write: memory map change */
	struct cpu_mem *mem;
	struct kvm_slot *slots;
	unsigned nslots, slots_cap;
	struct kvm_vcpu *vcpus[SOFTKVM_MAX_VCPUS];
	unsigned nvcpus;
	bool vcpu_created;

	uint64_t tss_addr;
	bool tss_set;
	uint64_t ident_addr;
	bool ident_set;

	/* capabilities enabled with KVM_ENABLE_CAP */
	uint64_t manual_dirty_log; /* KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | _INITIALLY_SET */
	uint32_t user_space_msr_mask; /* KVM_MSR_EXIT_REASON_* */
	bool split_irqchip;
	uint32_t quirks_disabled;
	uint64_t softkvm_quirks; /* SOFTKVM_QUIRK_* */
	bool irqchip_in_kernel;
	bool pit_created;

	struct kvm_msr_filter_int *_Atomic msr_filter;
	struct kvm_msr_filter_int *old_filters[64]; /* retired filters, freed at destroy */
	unsigned nold_filters;

	struct kvm_coalesced_mmio_zone coalesced[KVM_MAX_COALESCED];
	unsigned ncoalesced;
	struct kvm_coalesced_mmio_ring *coalesced_ring; /* one page, shared by all vCPUs */
	int ring_fd;
	pthread_mutex_t ring_lock;

	/* time */
	uint32_t tsc_khz;	 /* default for new vCPUs */
	int64_t kvmclock_offset; /* guest ns = host monotonic ns + offset */

	/* ticker: kicks running vCPUs every millisecond to poll signals/timers */
	pthread_t ticker;
	bool ticker_started;
	_Atomic bool ticker_stop;
};

enum kvm_pending {
	PEND_NONE,
	PEND_IO,
	PEND_MMIO,
	PEND_RDMSR,
	PEND_WRMSR,
};

struct kvm_vcpu {
	struct kvm_vm *vm;
	uint32_t id;
	struct cpu *cpu;
	struct kvm_run *run;
	pthread_mutex_t mutex;

	enum kvm_pending pending;
	_Atomic bool in_run;
	_Atomic bool kicked;
	pthread_t thread;

	struct kvm_cpuid_entry2 *cpuid;
	uint32_t ncpuid;
	bool ran; /* KVM_RUN was called at least once */

	bool sigmask_set;
	sigset_t sigmask;

	uint32_t mp_state;
	uint32_t guest_debug;

	/* MSRs kvm/ owns */
	uint64_t tsc_offset;	/* guest TSC = host TSC scaled + offset */
	uint32_t tsc_khz;
	uint64_t tsc_adjust;
	uint64_t misc_features_enables;
	uint64_t mcg_cap, mcg_status, mcg_ctl;
	uint64_t mce_banks[32 * 4];
	uint64_t spec_ctrl;
	uint64_t arch_capabilities;
	uint64_t platform_info;
	uint64_t kvm_system_time, kvm_wall_clock;
	uint64_t smbase;
	uint64_t umwait_control;

	/* x87/SSE state in the XSAVE layout (legacy area + header) until cpu/ has an FPU */
	uint8_t xsave[4096] __attribute__((aligned(64)));
	uint64_t xcr0;

	/* user-space interrupt injection (no in-kernel irqchip) */
	int pending_irq; /* -1 none */
	struct cpu_exit_info last_exit;
};

/* helpers between kvm/ files */
extern const struct cpu_ops kvm_cpu_ops;
const struct kvm_cpuid_entry2 *kvm_cpuid_find(const struct kvm_vcpu *v, uint32_t fn, uint32_t idx);
bool kvm_guest_has(const struct kvm_vcpu *v, uint32_t fn, uint32_t idx, int reg, unsigned bit);
void kvm_cpuid_guest(struct kvm_vcpu *v, uint32_t fn, uint32_t idx, uint32_t out[4]);
int kvm_msr_get(struct kvm_vcpu *v, uint32_t index, uint64_t *val, bool host);
int kvm_msr_set(struct kvm_vcpu *v, uint32_t index, uint64_t val, bool host);
uint64_t kvm_host_tsc(void);
uint64_t kvm_guest_tsc(struct kvm_vcpu *v);
void kvm_set_guest_tsc(struct kvm_vcpu *v, uint64_t value);
int kvm_guest_rdmsr(struct kvm_vcpu *v, uint32_t index, uint64_t *val);
int kvm_guest_wrmsr(struct kvm_vcpu *v, uint32_t index, uint64_t val);
void kvm_msr_vcpu_init(struct kvm_vcpu *v);
uint64_t kvm_host_ns(void);
void kvm_vm_pause_vcpus(struct kvm_vm *vm);
void kvm_vm_resume_vcpus(struct kvm_vm *vm);
void kvm_vm_start_ticker(struct kvm_vm *vm);
void kvm_fpu_reset(struct kvm_vcpu *v);
uint64_t kvm_supported_xcr0(void);
int kvm_msr_filter_allows(struct kvm_vm *vm, uint32_t index, bool write);

/* CPUID register indices for kvm_guest_has */
enum { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

#endif
