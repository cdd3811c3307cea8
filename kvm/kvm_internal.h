/* SPDX-License-Identifier: MIT */
/* kvm/ internals: the VM and vCPU objects. */
#ifndef SOFTKVM_KVM_INTERNAL_H
#define SOFTKVM_KVM_INTERNAL_H

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "kvm.h"
#define SOFTKVM_NO_REG_NAMES
#include "../cpu/cpu.h"
#include "../include/softkvm/softkvm.h"

#define KVM_PAGE_SIZE 4096ull
/* MCG_CTL_P | MCG_SER_P (KVM_X86_GET_MCE_CAP_SUPPORTED; LMCE would need IA32_FEATURE_CONTROL) */
#define KVM_MCE_CAP_SUPPORTED ((1ull << 8) | (1ull << 24))
/* the guest TSC runs at 2 GHz unless KVM_SET_TSC_KHZ says otherwise */
#define SOFTKVM_DEFAULT_TSC_KHZ 2000000u

struct kvm_slot {
	uint32_t id;
	uint32_t flags;
	uint64_t gpa, size, hva;
	bool dirty_initially_set;
};

#define KVM_MAX_COALESCED 100

struct kvm_coalesced_zones {
	unsigned n;
	struct kvm_coalesced_mmio_zone z[];
};

struct kvm_msr_filter_range_int {
	uint32_t flags, base, nmsrs;
	uint64_t *bitmap; /* nmsrs bits */
};

struct kvm_msr_filter_int {
	uint32_t flags; /* KVM_MSR_FILTER_DEFAULT_DENY */
	uint32_t nranges;
	struct kvm_msr_filter_range_int r[KVM_MSR_FILTER_MAX_RANGES];
};

#define MAX_IRQFDS     256
#define MAX_IOEVENTFDS 1024

enum { IRQ_SOURCE_USER = 0, IRQ_SOURCE_RESAMPLE = 1, IRQ_SOURCE_PIT = 2 };

struct kvm_irqfd_int {
	int fd;	     /* our duplicate of the client's eventfd */
	int user_fd; /* the number the client registered, for DEASSIGN */
	uint32_t gsi;
	int resamplefd;
	bool pending_deassert;
};

struct kvm_ioeventfd_int {
	uint64_t addr, data;
	uint32_t len;
	bool pio, datamatch;
	int fd;
};

struct kvm_irq_routes;
struct kvm_ioapic;
struct kvm_pic;
struct kvm_pit;
struct kvm_lapic;

struct kvm_vm {
	_Atomic int refs;
	pthread_mutex_t lock; /* vCPU list, caps */
	/* memory slot changes and dirty logs (slots, nslots, slots_cap). Held
	 * while waiting for vCPUs (cpu/mem.c): never taken by a vCPU in cpu_run() */
	pthread_mutex_t slots_lock;
	struct cpu_mem *mem;
	struct kvm_slot *slots;
	unsigned nslots, slots_cap;
	struct kvm_vcpu *vcpus[SOFTKVM_MAX_VCPUS];
	/* published after vcpus[n] (release): threads that route interrupts read
	 * it without vm->lock (ThreadSanitizer, make fuzz-abi-tsan) */
	_Atomic unsigned nvcpus;
	bool vcpu_created;
	uint32_t max_vcpu_ids;	    /* KVM_CAP_MAX_VCPU_ID; 0 until set or a vCPU exists */
	unsigned long nr_mmu_pages; /* KVM_SET_NR_MMU_PAGES, 0 = default (kvm/mmu.c) */

	uint64_t tss_addr;
	bool tss_set;
	uint64_t ident_addr;
	bool ident_set;

	/* capabilities enabled with KVM_ENABLE_CAP */
	uint64_t manual_dirty_log;    /* KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | _INITIALLY_SET */
	uint32_t user_space_msr_mask; /* KVM_MSR_EXIT_REASON_* */
	bool split_irqchip;
	uint32_t quirks_disabled;
	bool mwait_in_guest;	 /* KVM_X86_DISABLE_EXITS_MWAIT */
	uint64_t softkvm_quirks; /* SOFTKVM_QUIRK_* */
	bool irqchip_in_kernel;
	bool pit_created;

	struct kvm_msr_filter_int *_Atomic msr_filter; /* read inside cpu_run() only */

	/* coalesced MMIO/PIO zones: replaced under lock, read in cpu_run() without (vm.c) */
	struct kvm_coalesced_zones *_Atomic coalesced;
	struct kvm_coalesced_mmio_ring *coalesced_ring; /* one page, shared by all vCPUs */
	int ring_fd;
	pthread_mutex_t ring_lock;

	/* time */
	/* atomic: KVM_SET_TSC_KHZ and KVM_SET_CLOCK change them while vCPUs read */
	_Atomic uint32_t tsc_khz;	 /* default for new vCPUs */
	_Atomic int64_t kvmclock_offset; /* guest ns = host monotonic ns + offset */
	/* TSC writes that synchronize vCPUs (kvm/msr.c kvm_synchronize_tsc), under lock */
	uint64_t last_tsc_write, last_tsc_nsec, cur_tsc_offset;
	uint32_t last_tsc_khz;

	/* in-kernel irqchip (kvm/irq.h); PIC, IOAPIC, PIT, routes under irq_lock */
	pthread_mutex_t irq_lock;
	struct kvm_ioapic *ioapic;
	struct kvm_pic *pic;
	struct kvm_pit *pit;
	struct kvm_irq_routes *routes;
	uint32_t ioapic_lines[24]; /* per-source line levels */
	uint32_t pic_lines[16];
	uint64_t ack_pending; /* IOAPIC pins EOIed, for resamplers (irq_lock) */
	uint32_t ack_pending_pic;
	uint32_t nr_reserved_ioapic_pins; /* split irqchip */
	struct kvm_irqfd_int *irqfds[MAX_IRQFDS];
	unsigned nirqfds;
	atomic_ulong irqfd_direct; /* MSIs kvm_irqfd_signal() delivered from the signaller */
	struct kvm_ioeventfd_int ioeventfds[MAX_IOEVENTFDS];
	unsigned nioeventfds;
	_Atomic unsigned nioeventfds_pub;

	/* the service thread (kvm/service.c) */
	pthread_t svc_thread;
	bool svc_started;
	_Atomic bool svc_stop;
	int svc_ep, svc_ctl, svc_timer;
	_Atomic uint64_t svc_target;
};

enum kvm_pending {
	PEND_NONE,
	PEND_IO,
	PEND_MMIO,
	PEND_RDMSR,
	PEND_WRMSR,
	PEND_WAIT, /* UMWAIT/TPAUSE interrupted by a signal: wait again */
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
	_Atomic bool run_intr; /* end KVM_RUN with -EINTR, as a signal would */
	_Atomic bool blocked;  /* waiting in vcpu_block() */
	pthread_t thread;
	uint64_t last_poll;
	struct kvm_lapic *lapic; /* NULL without an in-kernel irqchip */
	int wake_fd;		 /* eventfd: wakes a blocked vCPU */
	int sig_fd;		 /* signalfd of the signals that end KVM_RUN */
	sigset_t sig_fd_set;
	int pending_extint;    /* split irqchip: KVM_INTERRUPT's ExtINT vector */
	bool shutdown_request; /* KVM_X86_SET_MCE with MCE disabled: triple fault */
	uint64_t vapic_addr;   /* KVM_SET_VAPIC_ADDR */
	bool tpr_access_reporting;
	bool tpr_access_pending;
	_Atomic bool pv_unhalted; /* KVM_HC_KICK_CPU: the next or current HLT ends */
	uint64_t msr_hwcr;	  /* AMD HWCR: McStatusWrEn */
	int pending_ioapic_eoi;	  /* split irqchip: vector for KVM_EXIT_IOAPIC_EOI, or -1 */
	uint64_t tpr_access_rip;
	bool tpr_access_write;

	struct kvm_cpuid_entry2 *cpuid;
	uint32_t ncpuid;
	int32_t *cpuid_index; /* (function, index) -> entry, see kvm/cpuid.c */
	uint32_t cpuid_index_mask;
	bool ran; /* KVM_RUN was called at least once */

	bool sigmask_set;
	sigset_t sigmask;

	uint32_t mp_state;
	uint32_t guest_debug;

	/* MSRs kvm/ owns */
	uint64_t tsc_offset; /* guest TSC = host TSC scaled + offset */
	uint32_t tsc_khz;
	uint64_t tsc_adjust;
	uint64_t misc_features_enables;
	uint64_t mcg_cap, mcg_status, mcg_ctl;
	uint64_t mce_banks[32 * 4];
	uint64_t spec_ctrl;
	uint64_t virt_spec_ctrl; /* MSR_AMD64_VIRT_SPEC_CTRL */
	uint64_t arch_capabilities;
	uint64_t platform_info;
	uint64_t kvm_system_time, kvm_wall_clock;
	_Atomic bool kvmclock_dirty; /* KVM_SET_CLOCK sets it from the VM's thread */
	bool kvmclock_stopped;
	uint64_t smbase;
	uint64_t umwait_control;
	uint64_t wait_start_tsc; /* UMWAIT/TPAUSE in progress */
	/* MONITOR/MWAIT run in the guest: the VM's setting when the vCPU was
	 * created (Linux 6.1 fixes the VMCS execution controls then) */
	bool mwait_in_guest;
	/* stolen time (kvm/steal.c) */
	uint64_t st_msr;     /* MSR_KVM_STEAL_TIME */
	uint64_t st_last;    /* run_delay at the last record */
	uint64_t st_last_ns; /* host ns of the last record */
	uint64_t st_exit_ns; /* host ns of the last return from KVM_RUN */
	bool st_pending;     /* KVM_REQ_STEAL_UPDATE */
	bool st_preempted;   /* KVM_VCPU_PREEMPTED was written when KVM_RUN returned */
	int st_fd;	     /* schedstat of st_thread */
	pthread_t st_thread;

	/* user-space interrupt injection (no in-kernel irqchip) */
	int pending_irq; /* -1 none */
	struct cpu_exit_info last_exit;
};

/* helpers between kvm/ files */
extern const struct cpu_ops kvm_cpu_ops;
const struct kvm_cpuid_entry2 *kvm_cpuid_find(const struct kvm_vcpu *v, uint32_t fn, uint32_t idx);
bool kvm_guest_has(const struct kvm_vcpu *v, uint32_t fn, uint32_t idx, int reg, unsigned bit);
bool kvm_supported_has(uint32_t fn, uint32_t idx, int reg, unsigned bit);
/*
 * Nested VMX is incomplete (cpu/vmx/README.md): offered only when the
 * environment has SOFTKVM_NESTED=1. Then KVM_GET_SUPPORTED_CPUID reports
 * CPUID.1:ECX.VMX and a vCPU whose CPUID has it runs VMX (CPU_FEAT_VMX).
 */
bool kvm_nested_enabled(void);
void kvm_cpuid_guest(struct kvm_vcpu *v, uint32_t fn, uint32_t idx, uint32_t out[4]);
int kvm_msr_get(struct kvm_vcpu *v, uint32_t index, uint64_t *val, bool host);
int kvm_msr_set(struct kvm_vcpu *v, uint32_t index, uint64_t val, bool host);
uint64_t kvm_host_tsc(void);
uint64_t kvm_guest_tsc(struct kvm_vcpu *v);
void kvm_set_guest_tsc(struct kvm_vcpu *v, uint64_t value);
/* host-initiated TSC write, vCPU creation (data 0); caller holds vm->lock */
void kvm_synchronize_tsc(struct kvm_vcpu *v, uint64_t data);
int kvm_guest_rdmsr(struct kvm_vcpu *v, uint32_t index, uint64_t *val);
int kvm_guest_wrmsr(struct kvm_vcpu *v, uint32_t index, uint64_t val);
void kvm_msr_vcpu_init(struct kvm_vcpu *v);
uint64_t kvm_host_ns(void);
/* every vCPU inside cpu_run() passes a block boundary (an RCU grace period) */
void kvm_vm_synchronize(struct kvm_vm *vm);
void kvm_fpu_reset(struct kvm_vcpu *v);
uint64_t kvm_supported_xcr0(void);
int kvm_msr_filter_allows(struct kvm_vm *vm, uint32_t index, bool write);

int service_start(struct kvm_vm *vm);
void service_stop(struct kvm_vm *vm);
void service_add_fd(struct kvm_vm *vm, int fd, void *tag);
void service_del_fd(struct kvm_vm *vm, int fd);
void irqfd_fire(struct kvm_vm *vm, struct kvm_irqfd_int *f);
/* drop vm's irqfds from kvm_irqfd_signal()'s registry (VM destruction) */
void irqfd_forget_vm(struct kvm_vm *vm);
void irq_process_acks(struct kvm_vm *vm);
void irq_ack_notify_pic(struct kvm_vm *vm, unsigned irq);
bool ioeventfd_write(struct kvm_vm *vm, uint64_t addr, unsigned len, const void *data, bool pio);
void kvm_ioapic_eoi_broadcast(struct kvm_vcpu *v, uint8_t vector);
void kvm_split_eoi(struct kvm_vcpu *v, uint8_t vector);
void kvm_cpuid_update_apic_bit(struct kvm_vcpu *v, bool enabled);
void kvm_cpuid_cr4_changed(struct kvm_vcpu *v, uint64_t old, uint64_t cr4);
void kvm_cpuid_xcr0_changed(struct kvm_vcpu *v, uint64_t xcr0);
void kvm_cpuid_misc_enable_changed(struct kvm_vcpu *v, uint64_t misc);
void kvm_cpuid_refresh(struct kvm_vcpu *v);
/* the guest's CPUID changed: features the processor must enable or refuse */
void kvm_vcpu_cpuid_changed(struct kvm_vcpu *v);
void kvmclock_update(struct kvm_vcpu *v);
void kvm_tpr_accessed(struct kvm_vcpu *v, bool write);
void kvm_vapic_sync_to(struct kvm_vcpu *v);
void kvm_vapic_sync_from(struct kvm_vcpu *v);
int kvmclock_msr_get(struct kvm_vcpu *v, uint32_t index, uint64_t *val);
int kvmclock_msr_set(struct kvm_vcpu *v, uint32_t index, uint64_t val);
#define MSR_KVM_STEAL_TIME 0x4b564d03
bool kvm_steal_supported(void);
void kvm_steal_init(struct kvm_vcpu *v);
void kvm_steal_destroy(struct kvm_vcpu *v);
void kvm_steal_record(struct kvm_vcpu *v);
void kvm_steal_tick(struct kvm_vcpu *v, uint64_t now);
void kvm_steal_entry(struct kvm_vcpu *v, uint64_t now);
void kvm_steal_leave(struct kvm_vcpu *v, uint64_t now);
int kvm_steal_msr_get(struct kvm_vcpu *v, uint32_t index, uint64_t *val);
int kvm_steal_msr_set(struct kvm_vcpu *v, uint32_t index, uint64_t val);
uint64_t ioapic_base(struct kvm_ioapic *io);
void ioapic_get_state(struct kvm_ioapic *io, struct kvm_ioapic_state *s);
void ioapic_set_state(struct kvm_ioapic *io, const struct kvm_ioapic_state *s);
void pic_get_state(struct kvm_pic *p, int chip, struct kvm_pic_state *st);
void pic_set_state(struct kvm_pic *p, int chip, const struct kvm_pic_state *st);
bool pit_has_speaker(struct kvm_pit *p);
void pit_get_state(struct kvm_pit *p, struct kvm_pit_state2 *s);
void pit_set_state(struct kvm_pit *p, const struct kvm_pit_state2 *s);

/* small fd helpers */
static inline bool fcntl_valid(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}
static inline int fcntl_dup(int fd)
{
	return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* CPUID register indices for kvm_guest_has */
enum { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

#endif
