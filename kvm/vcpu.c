/* SPDX-License-Identifier: MIT */
/*
 * The vCPU: creation, KVM_RUN and its exits, signals and kicks.
 *
 * KVM_RUN follows Linux 6.1's kvm_arch_vcpu_ioctl_run(): a pending
 * user-space completion (PIO, MMIO, MSR) is finished first, then
 * immediate_exit is honoured (-EINTR, exit_reason unchanged), then the guest
 * runs until an exit. While the guest runs, the thread's signals are
 * blocked; a signal the run mask does not block ends KVM_RUN with -EINTR and
 * KVM_EXIT_INTR and is delivered when the ioctl returns, as on Linux. Kicks
 * (pthread_kill through the preload library, and the service thread's 1 ms
 * poll) make the processor stop at the next block boundary so pending signals
 * are seen. With the in-kernel irqchip a halted vCPU sleeps in ppoll() on an
 * eventfd (wake-ups), a signalfd (pending signals, left pending) and its
 * LAPIC timer deadline.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "kvm_internal.h"
#include "irq.h"

/* ---- cpu_ops: the processor's view of the machine ---- */

static bool coalesced(struct kvm_vm *vm, uint64_t addr, unsigned len, bool pio)
{
	/* inside cpu_run(): the array lives until a grace period after its replacement */
	const struct kvm_coalesced_zones *zs =
	    atomic_load_explicit(&vm->coalesced, memory_order_acquire);
	for (unsigned k = 0; zs && k < zs->n; k++) {
		const struct kvm_coalesced_mmio_zone *z = &zs->z[k];
		if ((z->pio != 0) == pio && addr >= z->addr && addr + len <= z->addr + z->size)
			return true;
	}
	return false;
}

/* append to the VM's coalesced ring; false if full */
static bool coalesced_push(struct kvm_vcpu *v, uint64_t addr, const void *data, unsigned len,
			   bool pio)
{
	struct kvm_coalesced_mmio_ring *ring = v->vm->coalesced_ring;
	const uint32_t max = (KVM_PAGE_SIZE - sizeof(*ring)) / sizeof(struct kvm_coalesced_mmio);
	bool ok = false;

	if (!ring)
		return false;
	pthread_mutex_lock(&v->vm->ring_lock);
	uint32_t last = __atomic_load_n(&ring->last, __ATOMIC_RELAXED);
	uint32_t first = __atomic_load_n(&ring->first, __ATOMIC_ACQUIRE);
	if (last < max && first < max && (last + 1) % max != first) {
		struct kvm_coalesced_mmio *e = &ring->coalesced_mmio[last];
		e->phys_addr = addr;
		e->len = len;
		e->pio = pio;
		memset(e->data, 0, sizeof(e->data));
		memcpy(e->data, data, len);
		__atomic_store_n(&ring->last, (last + 1) % max, __ATOMIC_RELEASE);
		ok = true;
	}
	pthread_mutex_unlock(&v->vm->ring_lock);
	return ok;
}

#define IOAPIC_SIZE 0x100

static int op_mmio_read(void *o, uint64_t gpa, void *data, unsigned len)
{
	struct kvm_vcpu *v = o;
	struct kvm_vm *vm = v->vm;

	if (v->lapic && lapic_xapic_mmio_enabled(v->lapic, gpa))
		return lapic_mmio_read(v->lapic, gpa & 0xfff, data, len);
	if (vm->ioapic && gpa - ioapic_base(vm->ioapic) < IOAPIC_SIZE) {
		pthread_mutex_lock(&vm->irq_lock);
		ioapic_mmio_read(vm->ioapic, gpa - ioapic_base(vm->ioapic), data, len);
		pthread_mutex_unlock(&vm->irq_lock);
		return CPU_OPS_OK;
	}
	return CPU_OPS_EXIT;
}

static int op_mmio_write(void *o, uint64_t gpa, const void *data, unsigned len)
{
	struct kvm_vcpu *v = o;
	struct kvm_vm *vm = v->vm;

	if (v->lapic && lapic_xapic_mmio_enabled(v->lapic, gpa)) {
		int r = lapic_mmio_write(v->lapic, gpa & 0xfff, data, len);
		/* an EOI for the user-space IOAPIC exits right after the instruction */
		if (r == CPU_OPS_OK && v->pending_ioapic_eoi >= 0)
			r = CPU_OPS_STOP;
		return r;
	}
	if (vm->ioapic && gpa - ioapic_base(vm->ioapic) < IOAPIC_SIZE) {
		pthread_mutex_lock(&vm->irq_lock);
		ioapic_mmio_write(vm->ioapic, gpa - ioapic_base(vm->ioapic), data, len);
		pthread_mutex_unlock(&vm->irq_lock);
		return CPU_OPS_OK;
	}
	if (ioeventfd_write(vm, gpa, len, data, false))
		return CPU_OPS_OK;
	if (coalesced(vm, gpa, len, false) && coalesced_push(v, gpa, data, len, false))
		return CPU_OPS_OK;
	return CPU_OPS_EXIT;
}

/* in-kernel port devices: PIC, ELCR, PIT, the speaker port with KVM_PIT_SPEAKER_DUMMY */
static bool pio_kernel(struct kvm_vcpu *v, uint16_t port, bool in, void *data, unsigned len)
{
	struct kvm_vm *vm = v->vm;
	bool done = false;

	if (!vm->pic)
		return false;
	pthread_mutex_lock(&vm->irq_lock);
	if (pic_port(port)) {
		pic_io(vm->pic, port, in, data, len);
		done = true;
	} else if (vm->pit && (pit_port(port) || (port == 0x61 && pit_has_speaker(vm->pit)))) {
		pit_io(vm->pit, port, in, data, len);
		done = true;
	}
	pthread_mutex_unlock(&vm->irq_lock);
	if (done && !in && vm->pit)
		service_wake(vm); /* the PIT may have been reprogrammed */
	return done;
}

static int op_pio_in(void *o, uint16_t port, void *data, unsigned len)
{
	if (pio_kernel(o, port, true, data, len))
		return CPU_OPS_OK;
	return CPU_OPS_EXIT;
}

static int op_pio_out(void *o, uint16_t port, const void *data, unsigned len)
{
	struct kvm_vcpu *v = o;
	if (pio_kernel(v, port, false, (void *)data, len))
		return CPU_OPS_OK;
	if (ioeventfd_write(v->vm, port, len, data, true))
		return CPU_OPS_OK;
	if (coalesced(v->vm, port, len, true) && coalesced_push(v, port, data, len, true))
		return CPU_OPS_OK;
	return CPU_OPS_EXIT;
}

static int op_rdmsr(void *o, uint32_t index, uint64_t *value)
{
	return kvm_guest_rdmsr(o, index, value);
}

static int op_wrmsr(void *o, uint32_t index, uint64_t value)
{
	return kvm_guest_wrmsr(o, index, value);
}

static void op_cpuid(void *o, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	kvm_cpuid_guest(o, leaf, sub, out);
}

/* the PIC's output reaches this vCPU (its LAPIC takes ExtINT) */
static bool extint_pending(struct kvm_vcpu *v)
{
	if (v->vm->split_irqchip)
		return v->pending_extint >= 0 && lapic_accepts_pic(v->lapic);
	return v->vm->pic && pic_has_output(v->vm->pic) && lapic_accepts_pic(v->lapic);
}

static bool irq_pending(struct kvm_vcpu *v)
{
	return extint_pending(v) || lapic_has_interrupt(v->lapic);
}

/* Recompute the processor's interrupt line (and wake the vCPU if it waits). */
void vcpu_notify_irq(struct kvm_vcpu *v)
{
	if (!v->lapic)
		return;
	if (irq_pending(v)) {
		cpu_set_irq_pending(v->cpu, true);
		vcpu_wake(v);
	}
}

void vcpu_wake(struct kvm_vcpu *v)
{
	uint64_t one = 1;
	if (atomic_load(&v->blocked) && v->wake_fd >= 0 && write(v->wake_fd, &one, 8) < 0) {
		/* counter saturated: already woken */
	}
}

static int op_intr_ack(void *o)
{
	struct kvm_vcpu *v = o;

	if (v->lapic) {
		int vec = -1;
		/* ExtINT (the PIC) comes first, as in kvm_cpu_get_interrupt() */
		if (extint_pending(v)) {
			if (v->vm->split_irqchip) {
				vec = v->pending_extint;
				v->pending_extint = -1;
			} else {
				pthread_mutex_lock(&v->vm->irq_lock);
				vec = pic_ack(v->vm->pic);
				pthread_mutex_unlock(&v->vm->irq_lock);
			}
		} else {
			vec = lapic_ack(v->lapic);
		}
		/* clear the line first, then re-check: no lost wake-up */
		cpu_set_irq_pending(v->cpu, false);
		if (irq_pending(v))
			cpu_set_irq_pending(v->cpu, true);
		return vec;
	}
	if (v->pending_irq >= 0) {
		int vec = v->pending_irq;
		v->pending_irq = -1;
		cpu_set_irq_pending(v->cpu, false);
		return vec;
	}
	if (v->run->request_interrupt_window)
		return CPU_INTR_WINDOW;
	cpu_set_irq_pending(v->cpu, false);
	return CPU_INTR_NONE;
}

static void op_monitor_hit(void *o)
{
	vcpu_wake(o);
}

static void op_cr4_changed(void *o, uint64_t old, uint64_t cr4)
{
	kvm_cpuid_cr4_changed(o, old, cr4);
}

static void op_xcr0_changed(void *o, uint64_t xcr0)
{
	kvm_cpuid_xcr0_changed(o, xcr0);
}

static void op_cr8_write(void *o, uint64_t tpr)
{
	struct kvm_vcpu *v = o;
	if (v->lapic)
		lapic_set_tpr(v->lapic, (unsigned)tpr);
}

static uint64_t op_cr8_read(void *o)
{
	struct kvm_vcpu *v = o;
	if (v->lapic)
		return lapic_get_tpr(v->lapic);
	struct cpu_sregs sr;
	cpu_get_sregs(v->cpu, &sr);
	return sr.cr8;
}

/* ---- hypercalls (Linux kvm_emulate_hypercall; include/uapi/linux/kvm_para.h) ---- */

#define KVM_HC_VAPIC_POLL_IRQ 1
#define KVM_HC_KICK_CPU	      5
#define KVM_HC_CLOCK_PAIRING  9
#define KVM_HC_SEND_IPI	      10
#define KVM_HC_SCHED_YIELD    11
#define KVM_EPERM	      1
#define KVM_EINVAL	      22
#define KVM_EOPNOTSUPP	      95
#define KVM_ENOSYS	      1000

/* KVM_HC_KICK_CPU (kvm_pv_kick_cpu_op): the vCPU with this APIC ID leaves its halt */
static void pv_kick(struct kvm_vm *vm, uint64_t apic_id)
{
	pthread_mutex_lock(&vm->lock);
	for (unsigned k = 0; k < vm->nvcpus; k++) {
		struct kvm_vcpu *t = vm->vcpus[k];
		if (t->lapic && lapic_id(t->lapic) == apic_id) {
			atomic_store(&t->pv_unhalted, true);
			vcpu_wake(t);
		}
	}
	pthread_mutex_unlock(&vm->lock);
}

/* KVM_HC_SEND_IPI (kvm_pv_send_ipi): a fixed-format IPI to each APIC ID of a bitmap */
static uint64_t pv_send_ipi(struct kvm_vm *vm, uint64_t lo, uint64_t hi, uint64_t min, uint64_t icr,
			    bool mode64)
{
	unsigned cluster = mode64 ? 64 : 32;
	int64_t count = 0;

	if (icr & (0x800 | 0xc0000)) /* logical destination or a shorthand */
		return (uint64_t)-KVM_EINVAL;
	struct apic_irq irq = {
	    .vector = icr & 0xff,
	    .delivery_mode = (icr >> 8) & 7,
	    .level = (icr & 0x4000) != 0,
	    .trig_level = (icr >> 15) & 1,
	    .shorthand = SH_NONE,
	};
	for (unsigned half = 0; half < 2; half++) {
		uint64_t bits = half ? hi : lo;
		for (unsigned b = 0; b < cluster; b++) {
			if (!(bits >> b & 1))
				continue;
			irq.dest_id = (uint32_t)(min + half * cluster + b);
			if (apic_deliver(vm, NULL, &irq) > 0)
				count++;
		}
	}
	return (uint64_t)count;
}

static uint64_t op_hypercall(void *o, uint64_t nr, const uint64_t a[4], int cpl, bool mode64)
{
	struct kvm_vcpu *v = o;

	if (cpl != 0)
		return (uint64_t)-KVM_EPERM;
	switch (nr) {
	case KVM_HC_VAPIC_POLL_IRQ:
		return 0;
	case KVM_HC_KICK_CPU:
		pv_kick(v->vm, a[1]);
		sched_yield();
		return 0;
	case KVM_HC_CLOCK_PAIRING:
		/* needs a TSC-based host clock: never the case here */
		return (uint64_t)-KVM_EOPNOTSUPP;
	case KVM_HC_SEND_IPI:
		if (!v->lapic)
			return 0; /* no APIC map: nobody to deliver to */
		return pv_send_ipi(v->vm, a[0], a[1], a[2], a[3], mode64);
	case KVM_HC_SCHED_YIELD:
		sched_yield();
		return 0;
	}
	return (uint64_t)-KVM_ENOSYS;
}

/* Split irqchip EOI (kvm_ioapic_send_eoi): exit to user space after the instruction. */
void kvm_split_eoi(struct kvm_vcpu *v, uint8_t vector)
{
	if (!irq_split_handles_vector(v->vm, v->lapic, vector))
		return;
	v->pending_ioapic_eoi = vector;
	cpu_kick(v->cpu);
}

void kvm_ioapic_eoi_broadcast(struct kvm_vcpu *v, uint8_t vector)
{
	struct kvm_vm *vm = v->vm;
	if (!vm->ioapic)
		return;
	pthread_mutex_lock(&vm->irq_lock);
	ioapic_eoi(vm->ioapic, vector);
	pthread_mutex_unlock(&vm->irq_lock);
}

static uint64_t op_read_tsc(void *o)
{
	return kvm_guest_tsc(o);
}

const struct cpu_ops kvm_cpu_ops = {
    .mmio_read = op_mmio_read,
    .mmio_write = op_mmio_write,
    .pio_in = op_pio_in,
    .pio_out = op_pio_out,
    .rdmsr = op_rdmsr,
    .wrmsr = op_wrmsr,
    .cpuid = op_cpuid,
    .intr_ack = op_intr_ack,
    .read_tsc = op_read_tsc,
    .hypercall = op_hypercall,
    .cr8_write = op_cr8_write,
    .cr8_read = op_cr8_read,
    .monitor_hit = op_monitor_hit,
    .cr4_changed = op_cr4_changed,
    .xcr0_changed = op_xcr0_changed,
};

void kvm_vcpu_cpuid_changed(struct kvm_vcpu *v)
{
	uint32_t f = 0;
	/* the "enable user wait and pause" control follows the guest's WAITPKG */
	if (kvm_guest_has(v, 7, 0, CPUID_ECX, 5))
		f |= CPU_FEAT_WAITPKG;
	/* MONITOR/MWAIT: in the guest (no MWAIT/MONITOR exiting), or exits that
	 * kvm_emulate_monitor_mwait() makes NOPs, or #UD without the quirk
	 * MWAIT_NEVER_UD_FAULTS and the guest's MONITOR bit */
	if (v->mwait_in_guest)
		f |= CPU_FEAT_MWAIT;
	else if ((v->vm->quirks_disabled & KVM_X86_QUIRK_MWAIT_NEVER_UD_FAULTS) &&
		 !kvm_guest_has(v, 1, 0, CPUID_ECX, 3))
		f |= CPU_FEAT_MWAIT_UD;
	/* VMX: opt-in only (kvm_nested_enabled), and only with CPUID.1:ECX.VMX */
	if (kvm_nested_enabled() && kvm_guest_has(v, 1, 0, CPUID_ECX, 5))
		f |= CPU_FEAT_VMX;
	cpu_set_features(v->cpu, f);
}

/* ---- creation ---- */

int kvm_vcpu_create(struct kvm_vm *vm, unsigned long id, struct kvm_run *run, struct kvm_vcpu **out)
{
	struct kvm_vcpu *v;
	int r = 0;

	if (id >= SOFTKVM_MAX_VCPU_ID)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->nvcpus >= SOFTKVM_MAX_VCPUS) {
		r = -EINVAL;
		goto out;
	}
	/* kvm_arch_vcpu_precreate(): the first vCPU fixes KVM_CAP_MAX_VCPU_ID */
	if (!vm->max_vcpu_ids)
		vm->max_vcpu_ids = SOFTKVM_MAX_VCPU_ID;
	if (id >= vm->max_vcpu_ids) {
		r = -EINVAL;
		goto out;
	}
	for (unsigned k = 0; k < vm->nvcpus; k++) {
		if (vm->vcpus[k]->id == id) {
			r = -EEXIST;
			goto out;
		}
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	v->vm = vm;
	v->id = (uint32_t)id;
	v->run = run;
	v->pending_irq = -1;
	v->pending_extint = -1;
	v->pending_ioapic_eoi = -1;
	v->tsc_khz = vm->tsc_khz;
	v->wake_fd = -1;
	v->sig_fd = -1;
	kvm_steal_init(v);
	/* with an in-kernel irqchip, APs wait for INIT/SIPI (kvm_arch_vcpu_create) */
	v->mp_state = (vm->irqchip_in_kernel || vm->split_irqchip) && id != 0
			  ? KVM_MP_STATE_UNINITIALIZED
			  : KVM_MP_STATE_RUNNABLE;
	pthread_mutex_init(&v->mutex, NULL);
	v->cpu = cpu_create(vm->mem, &kvm_cpu_ops, v);
	if (!v->cpu) {
		pthread_mutex_destroy(&v->mutex);
		free(v);
		r = -ENOMEM;
		goto out;
	}
	kvm_msr_vcpu_init(v);
	kvm_fpu_reset(v);
	kvm_synchronize_tsc(v, 0);
	v->mwait_in_guest = __atomic_load_n(&vm->mwait_in_guest, __ATOMIC_RELAXED);
	kvm_vcpu_cpuid_changed(v);
	/* KVM: the BSP is vCPU 0 (APIC base BSP flag) */
	cpu_msr_set(v->cpu, MSR_IA32_APICBASE, 0xfee00000ull | (1u << 11) | (id == 0 ? 1u << 8 : 0),
		    true);
	if (vm->irqchip_in_kernel || vm->split_irqchip) {
		v->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		v->lapic = lapic_create(v);
		if (!v->lapic || v->wake_fd < 0) {
			cpu_destroy(v->cpu);
			lapic_destroy(v->lapic);
			if (v->wake_fd >= 0)
				close(v->wake_fd);
			pthread_mutex_destroy(&v->mutex);
			free(v);
			r = -ENOMEM;
			goto out;
		}
	}
	memset(run, 0, sizeof(*run));
	unsigned n = atomic_load_explicit(&vm->nvcpus, memory_order_relaxed);
	vm->vcpus[n] = v;
	atomic_store_explicit(&vm->nvcpus, n + 1, memory_order_release);
	vm->vcpu_created = true;
	if (service_start(vm)) {
		/* without the service thread signals still end KVM_RUN at the next exit */
	}
	*out = v;
out:
	pthread_mutex_unlock(&vm->lock);
	return r;
}

struct kvm_vm *kvm_vcpu_vm(struct kvm_vcpu *v)
{
	return v->vm;
}

void kvm_vcpu_lock(struct kvm_vcpu *v)
{
	pthread_mutex_lock(&v->mutex);
}

void kvm_vcpu_unlock(struct kvm_vcpu *v)
{
	pthread_mutex_unlock(&v->mutex);
}

void kvm_vcpu_kick(struct kvm_vcpu *v)
{
	atomic_store(&v->kicked, true);
	cpu_kick(v->cpu);
}

void kvm_vcpu_interrupt_run(struct kvm_vcpu *v)
{
	uint64_t one = 1;

	atomic_store(&v->run_intr, true);
	kvm_vcpu_kick(v);
	if (v->wake_fd >= 0 && write(v->wake_fd, &one, 8) < 0) {
		/* the counter is full: the vCPU wakes anyway */
	}
}

/* ---- KVM_RUN ---- */

/* Give the suspended instruction what user space answered (complete_userspace_io). */
static void complete_pending(struct kvm_vcpu *v)
{
	struct kvm_run *run = v->run;
	/* what the exit was, from our own record: user space may have rewritten
	 * kvm_run's direction, data_offset or is_write meanwhile */
	const struct cpu_exit_info *x = cpu_exit_info(v->cpu);

	switch (v->pending) {
	case PEND_IO:
		if (x->io.in)
			cpu_complete(v->cpu, (uint8_t *)run + KVM_PIO_PAGE_OFFSET * KVM_PAGE_SIZE,
				     false);
		else
			cpu_complete(v->cpu, NULL, false);
		break;
	case PEND_MMIO:
		cpu_complete(v->cpu, x->mmio.is_write ? NULL : run->mmio.data, false);
		break;
	case PEND_RDMSR:
		cpu_complete(v->cpu, &run->msr.data, run->msr.error != 0);
		break;
	case PEND_WRMSR:
		cpu_complete(v->cpu, NULL, run->msr.error != 0);
		break;
	case PEND_NONE:
	case PEND_WAIT:
		break;
	}
	v->pending = PEND_NONE;
}

static void fill_internal_error(struct kvm_vcpu *v)
{
	const struct cpu_exit_info *x = cpu_exit_info(v->cpu);
	struct kvm_run *run = v->run;

	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror =
	    x->internal.suberror ? x->internal.suberror : KVM_INTERNAL_ERROR_EMULATION;
	run->internal.ndata = 1;
	run->internal.data[0] = x->internal.rip;
}

/* Translate a processor exit into kvm_run; true if KVM_RUN returns to user space. */
static bool handle_exit(struct kvm_vcpu *v, enum cpu_exit e)
{
	const struct cpu_exit_info *x = cpu_exit_info(v->cpu);
	struct kvm_run *run = v->run;

	switch (e) {
	case CPU_EXIT_IO:
		run->exit_reason = KVM_EXIT_IO;
		run->io.direction = x->io.in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
		run->io.size = x->io.size;
		run->io.port = x->io.port;
		run->io.count = x->io.in ? x->io.count : 1;
		run->io.data_offset = KVM_PIO_PAGE_OFFSET * KVM_PAGE_SIZE;
		memcpy((uint8_t *)run + run->io.data_offset, x->io.data, x->io.size);
		v->pending = PEND_IO;
		return true;
	case CPU_EXIT_MMIO:
		run->exit_reason = KVM_EXIT_MMIO;
		run->mmio.phys_addr = x->mmio.gpa;
		run->mmio.len = x->mmio.len;
		run->mmio.is_write = x->mmio.is_write;
		memcpy(run->mmio.data, x->mmio.data, 8);
		v->pending = PEND_MMIO;
		return true;
	case CPU_EXIT_RDMSR:
	case CPU_EXIT_WRMSR:
		run->exit_reason = e == CPU_EXIT_RDMSR ? KVM_EXIT_X86_RDMSR : KVM_EXIT_X86_WRMSR;
		run->msr.error = 0;
		memset(run->msr.pad, 0, sizeof(run->msr.pad));
		run->msr.index = x->msr.index;
		run->msr.data = e == CPU_EXIT_WRMSR ? x->msr.data : 0;
		/* msr.reason was set by kvm_guest_rdmsr/wrmsr */
		v->pending = e == CPU_EXIT_RDMSR ? PEND_RDMSR : PEND_WRMSR;
		return true;
	case CPU_EXIT_HLT:
		run->exit_reason = KVM_EXIT_HLT;
		return true;
	case CPU_EXIT_SHUTDOWN:
		run->exit_reason = KVM_EXIT_SHUTDOWN;
		return true;
	case CPU_EXIT_INTERNAL:
		fill_internal_error(v);
		return true;
	case CPU_EXIT_DEBUG:
		run->exit_reason = KVM_EXIT_DEBUG;
		run->debug.arch.exception = x->debug.exception;
		run->debug.arch.pc = x->debug.pc;
		run->debug.arch.dr6 = x->debug.dr6;
		run->debug.arch.dr7 = x->debug.dr7;
		return true;
	case CPU_EXIT_IRQ_WINDOW:
		run->exit_reason = KVM_EXIT_IRQ_WINDOW_OPEN;
		return true;
	default:
		return false;
	}
}

static bool signal_interrupts(const sigset_t *runmask)
{
	sigset_t p;
	if (sigpending(&p) != 0)
		return false;
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&p, s) == 1 && sigismember(runmask, s) != 1)
			return true;
	return false;
}

static void post_run_save(struct kvm_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct cpu_regs r;
	struct cpu_sregs s;

	cpu_get_regs(v->cpu, &r);
	cpu_get_sregs(v->cpu, &s);
	run->if_flag = (r.rflags & FL_IF) != 0;
	run->cr8 = v->lapic ? lapic_get_tpr(v->lapic) : s.cr8;
	run->apic_base = v->lapic ? lapic_get_base(v->lapic) : s.apic_base;
	run->ready_for_interrupt_injection =
	    v->vm->pic != NULL || (v->pending_irq < 0 && cpu_interrupts_open(v->cpu));
	run->flags = 0;
}

/* ---- the in-kernel irqchip side of KVM_RUN ---- */

/* INIT and SIPI sent to this vCPU (kvm_apic_accept_events) */
static void accept_apic_events(struct kvm_vcpu *v)
{
	if (!v->lapic)
		return;
	/* VMX operation blocks INIT: it stays latched in the LAPIC until
	 * VMXOFF (Linux vmx_apic_init_signal_blocked; in VMX non-root
	 * operation Linux exits to L1 instead, not yet done here) */
	if (!cpu_init_blocked(v->cpu) && lapic_take_init(v->lapic)) {
		cpu_init_signal(v->cpu);
		lapic_reset(v->lapic, true);
		v->st_msr = 0; /* kvm_vcpu_reset() clears MSR_KVM_STEAL_TIME, INIT too */
		kvm_cpuid_refresh(v);
		v->mp_state = v->id == 0 ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_INIT_RECEIVED;
		cpu_set_halted(v->cpu, false);
	}
	int sipi = lapic_take_sipi(v->lapic);
	if (sipi >= 0 && v->mp_state == KVM_MP_STATE_INIT_RECEIVED) {
		struct cpu_sregs s;
		struct cpu_regs r;
		cpu_get_sregs(v->cpu, &s);
		s.seg[SEG_CS].sel = (uint16_t)(sipi << 8);
		s.seg[SEG_CS].base = (uint64_t)sipi << 12;
		cpu_set_sregs(v->cpu, &s);
		cpu_get_regs(v->cpu, &r);
		r.rip = 0;
		cpu_set_regs(v->cpu, &r);
		v->mp_state = KVM_MP_STATE_RUNNABLE;
	}
}

/* Something that ends a halt (kvm_vcpu_has_events). */
static bool has_events(struct kvm_vcpu *v)
{
	struct cpu_events e;
	if (v->mp_state == KVM_MP_STATE_UNINITIALIZED || v->mp_state == KVM_MP_STATE_INIT_RECEIVED)
		return false; /* only INIT/SIPI, handled by accept_apic_events */
	if (atomic_load(&v->pv_unhalted))
		return true;
	cpu_get_events(v->cpu, &e);
	if (e.nmi_pending && !e.nmi_masked)
		return true;
	if (e.exc_pending)
		return true;
	struct cpu_regs r;
	cpu_get_regs(v->cpu, &r);
	return (r.rflags & FL_IF) && irq_pending(v);
}

/* HALTED -> RUNNABLE; a KVM_HC_KICK_CPU wake-up completes the HLT itself */
static void halt_ends(struct kvm_vcpu *v)
{
	v->mp_state = KVM_MP_STATE_RUNNABLE;
	if (atomic_exchange(&v->pv_unhalted, false))
		cpu_set_halted(v->cpu, false);
}

static bool vcpu_runnable(struct kvm_vcpu *v)
{
	return v->mp_state == KVM_MP_STATE_RUNNABLE;
}

/* the signals that end KVM_RUN: everything the run mask does not block */
static int sigfd_for(struct kvm_vcpu *v, const sigset_t *runmask)
{
	sigset_t want;
	sigfillset(&want);
	for (int s = 1; s < NSIG; s++)
		if (sigismember(runmask, s) == 1)
			sigdelset(&want, s);
	if (v->sig_fd >= 0 && !memcmp(&want, &v->sig_fd_set, sizeof(want)))
		return v->sig_fd;
	v->sig_fd = signalfd(v->sig_fd, &want, SFD_CLOEXEC | SFD_NONBLOCK);
	v->sig_fd_set = want;
	return v->sig_fd;
}

/*
 * Sleep until an event, a wake-up or this vCPU's timer deadline. Returns
 * -EINTR if a signal became pending (it stays pending), 0 otherwise.
 */
static int vcpu_block(struct kvm_vcpu *v, const sigset_t *runmask)
{
	int sfd = sigfd_for(v, runmask);
	uint64_t cnt;

	atomic_store(&v->blocked, true);
	for (;;) {
		uint64_t now = kvm_host_ns();
		uint64_t d = v->lapic ? lapic_check_timer(v->lapic, now) : 0;
		accept_apic_events(v);
		if (vcpu_runnable(v) || has_events(v))
			break;
		struct pollfd p[2] = {{.fd = v->wake_fd, .events = POLLIN},
				      {.fd = sfd, .events = POLLIN}};
		struct timespec ts, *tsp = NULL;
		if (d) {
			uint64_t left = d > now ? d - now : 0;
			ts.tv_sec = (time_t)(left / 1000000000ull);
			ts.tv_nsec = (long)(left % 1000000000ull);
			tsp = &ts;
		}
		int n = ppoll(p, sfd >= 0 ? 2 : 1, tsp, NULL);
		if (n > 0 && (p[0].revents & POLLIN) && read(v->wake_fd, &cnt, 8) < 0) {
			/* raced with another reader: fine */
		}
		if ((n > 0 && sfd >= 0 && (p[1].revents & POLLIN)) ||
		    atomic_exchange(&v->run_intr, false)) {
			atomic_store(&v->blocked, false);
			return -EINTR;
		}
		if (atomic_exchange(&v->kicked, false)) {
			/* kicked while blocked (e.g. INIT): re-evaluate */
		}
	}
	atomic_store(&v->blocked, false);
	return 0;
}

/* anything that ends a UMWAIT/TPAUSE besides time: interrupts (even masked), NMI, INIT.
 * MWAIT: maskable interrupts only with IF = 1 or ECX[0] = 1 (SDM vol. 2, MWAIT) */
static bool wait_wake_event(struct kvm_vcpu *v, bool masked_intr)
{
	struct cpu_events e;
	cpu_get_events(v->cpu, &e);
	if (e.nmi_pending || e.exc_pending)
		return true;
	if (!masked_intr) {
		struct cpu_regs r;
		cpu_get_regs(v->cpu, &r);
		if (!(r.rflags & (1u << 9)))
			return v->lapic && lapic_init_pending(v->lapic);
	}
	if (v->lapic)
		return irq_pending(v) || lapic_init_pending(v->lapic);
	return v->pending_irq >= 0;
}

static uint64_t tsc_delta_ns(struct kvm_vcpu *v, uint64_t ticks)
{
	return (uint64_t)(((unsigned __int128)ticks * 1000000u) / (v->tsc_khz ? v->tsc_khz : 1));
}

/* a copy of the 64-byte guest line at gpa; false if it is not RAM (any
 * more: it is looked up afresh each time, the slot may go while we sleep) */
static bool line_read(struct kvm_vcpu *v, uint64_t gpa, uint8_t *out)
{
	cpu_mem_begin(v->cpu);
	const uint8_t *p = cpu_mem_gpa_to_hva(v->vm->mem, gpa, NULL, NULL);
	if (p)
		memcpy(out, p, 64);
	cpu_mem_end(v->cpu);
	return p != NULL;
}

/* the monitored line differs from snap, or is RAM no more */
static bool line_changed(struct kvm_vcpu *v, uint64_t gpa, const uint8_t *snap)
{
	uint8_t now[64];
	return !line_read(v, gpa, now) || memcmp(snap, now, 64) != 0;
}

/*
 * UMWAIT / TPAUSE (cpu_run returned CPU_EXIT_MWAIT): sleep on the host until
 * the deadline (EDX:EAX against the guest TSC), the OS limit of
 * IA32_UMWAIT_CONTROL[31:2] (then CF=1), a store to the monitored line, an
 * interrupt or NMI, or a signal (-EINTR: the wait resumes on the next KVM_RUN).
 */
static int vcpu_user_wait(struct kvm_vcpu *v, const sigset_t *runmask)
{
	const struct cpu_exit_info *x = cpu_exit_info(v->cpu);
	uint64_t tsc = kvm_guest_tsc(v), deadline = x->wait.deadline;
	uint64_t limit = v->umwait_control & 0xfffffffcull;
	bool os = false, line = false, mwait = x->wait.kind == CPU_WAIT_MWAIT;
	uint8_t snap[64];

	if (!v->wait_start_tsc)
		v->wait_start_tsc = tsc;
	/* the OS limit counts from the start of the wait */
	if (!mwait && limit && v->wait_start_tsc + limit < deadline) {
		deadline = v->wait_start_tsc + limit;
		os = true;
	}
	if (x->wait.line) {
		/* stores by the VMM or devices bypass the processor: compare the line */
		line = line_read(v, x->wait.line, snap);
	}
	int sfd = sigfd_for(v, runmask);
	uint64_t cf = 0;
	atomic_store(&v->blocked, true);
	for (;;) {
		tsc = kvm_guest_tsc(v);
		if (tsc >= deadline) {
			cf = os;
			break;
		}
		if (cpu_monitor_triggered(v->cpu) ||
		    wait_wake_event(v, !mwait || (x->wait.hint & 1)))
			break;
		if (line && line_changed(v, x->wait.line, snap))
			break;
		if (v->lapic)
			lapic_check_timer(v->lapic, kvm_host_ns());
		uint64_t left = tsc_delta_ns(v, deadline - tsc) + 1;
		if (line && left > 1000000)
			left = 1000000; /* poll the line every millisecond */
		if (v->lapic && lapic_deadline(v->lapic)) {
			uint64_t now = kvm_host_ns(), d = lapic_deadline(v->lapic);
			if (d > now && d - now < left)
				left = d - now;
		}
		struct timespec ts = {(time_t)(left / 1000000000ull), (long)(left % 1000000000ull)};
		struct pollfd p[2] = {{.fd = v->wake_fd, .events = POLLIN},
				      {.fd = sfd, .events = POLLIN}};
		int n = ppoll(p, v->wake_fd >= 0 ? (sfd >= 0 ? 2 : 1) : 0, &ts, NULL);
		uint64_t cnt;
		if (n > 0 && (p[0].revents & POLLIN) && read(v->wake_fd, &cnt, 8) < 0) {
			/* drained by someone else */
		}
		if ((n > 0 && sfd >= 0 && (p[1].revents & POLLIN)) ||
		    atomic_exchange(&v->run_intr, false)) {
			atomic_store(&v->blocked, false);
			v->pending = PEND_WAIT;
			return -EINTR;
		}
	}
	atomic_store(&v->blocked, false);
	v->pending = PEND_NONE;
	v->wait_start_tsc = 0;
	cpu_complete(v->cpu, &cf, false);
	return 0;
}

int kvm_vcpu_run(struct kvm_vcpu *v, const sigset_t *thread_mask)
{
	struct kvm_run *run = v->run;
	sigset_t runmask;
	int r = 0;

	v->ran = true;
	if (run->kvm_valid_regs || run->kvm_dirty_regs)
		return -EINVAL; /* KVM_CAP_SYNC_REGS is not offered */
	/* without an in-kernel LAPIC, user space owns the TPR (kvm_set_cr8) */
	if (!v->lapic) {
		struct cpu_sregs s;
		if (run->cr8 > 15)
			return -EINVAL;
		cpu_get_sregs(v->cpu, &s);
		if (s.cr8 != run->cr8) {
			s.cr8 = run->cr8;
			cpu_set_sregs(v->cpu, &s);
		}
	}
	/* memory may have changed while user space ran */
	cpu_note_external_write(v->cpu);
	if (v->kvmclock_dirty)
		kvmclock_update(v);
	if (v->st_msr & 1)
		kvm_steal_entry(v, kvm_host_ns()); /* vcpu_load's KVM_REQ_STEAL_UPDATE */
	kvm_vapic_sync_from(v);
	if (v->shutdown_request) {
		v->shutdown_request = false;
		run->exit_reason = KVM_EXIT_SHUTDOWN;
		post_run_save(v);
		return 0;
	}
	/* without an in-kernel irqchip HLT went to user space, which resumes after it */
	if (!v->lapic)
		cpu_set_halted(v->cpu, false);
	if (run->request_interrupt_window || v->pending_irq >= 0)
		cpu_set_irq_pending(v->cpu, true);

	v->thread = pthread_self();
	/* the caller blocked the signals; they end KVM_RUN unless the run mask blocks them */
	runmask = v->sigmask_set ? v->sigmask : *thread_mask;

	if (v->mp_state == KVM_MP_STATE_UNINITIALIZED) {
		/* an AP before INIT/SIPI: block, then -EAGAIN (or -EINTR) */
		if (run->immediate_exit) {
			r = -EINTR;
			goto out;
		}
		r = vcpu_block(v, &runmask);
		accept_apic_events(v);
		if (r == -EINTR)
			run->exit_reason = KVM_EXIT_INTR;
		else
			r = -EAGAIN;
		goto out;
	}

	if (v->pending == PEND_WAIT) {
		if (run->immediate_exit) {
			r = -EINTR;
			goto out;
		}
		r = vcpu_user_wait(v, &runmask);
		if (r == -EINTR) {
			run->exit_reason = KVM_EXIT_INTR;
			goto out;
		}
		enum cpu_exit e = cpu_finish_suspended(v->cpu);
		if (e != CPU_EXIT_NONE && handle_exit(v, e)) {
			r = 0;
			goto out;
		}
	} else if (v->pending != PEND_NONE) {
		complete_pending(v);
		enum cpu_exit e = cpu_finish_suspended(v->cpu);
		if (e != CPU_EXIT_NONE && handle_exit(v, e)) {
			r = 0;
			goto out;
		}
	}
	if (run->immediate_exit) {
		r = -EINTR;
		goto out;
	}

	for (;;) {
		if (signal_interrupts(&runmask) || atomic_exchange(&v->run_intr, false)) {
			run->exit_reason = KVM_EXIT_INTR;
			r = -EINTR;
			break;
		}
		if (v->lapic) {
			accept_apic_events(v);
			lapic_check_timer(v->lapic, kvm_host_ns());
			if (!vcpu_runnable(v)) {
				if (v->mp_state == KVM_MP_STATE_HALTED && has_events(v)) {
					halt_ends(v);
				} else {
					r = vcpu_block(v, &runmask);
					if (r == -EINTR) {
						run->exit_reason = KVM_EXIT_INTR;
						break;
					}
					if (v->mp_state == KVM_MP_STATE_HALTED && has_events(v))
						halt_ends(v);
					continue;
				}
			}
		}
		if (v->st_msr & 1)
			kvm_steal_tick(v, kvm_host_ns());
		atomic_store(&v->in_run, true);
		/* the service thread sleeps past its poll when nothing ran: start it again */
		service_vcpu_enters(v->vm);
		enum cpu_exit e = cpu_run(v->cpu);
		atomic_store(&v->in_run, false);
		if (e == CPU_EXIT_MWAIT) {
			r = vcpu_user_wait(v, &runmask);
			if (r == -EINTR) {
				run->exit_reason = KVM_EXIT_INTR;
				break;
			}
			continue; /* cpu_run finishes the instruction */
		}
		if (e == CPU_EXIT_HLT && v->lapic) {
			/* the in-kernel irqchip: halt here until an event (kvm_emulate_halt) */
			v->mp_state = KVM_MP_STATE_HALTED;
			continue;
		}
		if (handle_exit(v, e)) {
			r = 0;
			break;
		}
		if (e == CPU_EXIT_REQUEST) {
			cpu_clear_kick(v->cpu);
			atomic_store(&v->kicked, false);
			if (v->pending_ioapic_eoi >= 0) {
				/* KVM_REQ_IOAPIC_EOI_EXIT */
				run->exit_reason = KVM_EXIT_IOAPIC_EOI;
				run->eoi.vector = (uint8_t)v->pending_ioapic_eoi;
				v->pending_ioapic_eoi = -1;
				r = 0;
				break;
			}
			if (v->tpr_access_pending) {
				/* KVM_TPR_ACCESS_REPORTING: after the accessing instruction */
				v->tpr_access_pending = false;
				run->exit_reason = KVM_EXIT_TPR_ACCESS;
				run->tpr_access.rip = v->tpr_access_rip;
				run->tpr_access.is_write = v->tpr_access_write;
				r = 0;
				break;
			}
			continue; /* signals, INIT/SIPI and timers are checked at the top */
		}
	}
out:
	kvm_vapic_sync_to(v);
	post_run_save(v);
	if (v->st_msr & 1)
		kvm_steal_leave(v, kvm_host_ns()); /* the preempted flag, the time away */
	return r;
}

/* ---- user-space interrupt controller ---- */

int kvm_vcpu_interrupt(struct kvm_vcpu *v, uint32_t irq)
{
	if (irq >= 256)
		return -EINVAL;
	cpu_mem_note_external_write(v->vm->mem);
	if (v->vm->irqchip_in_kernel)
		return -ENXIO; /* the in-kernel PIC does ExtINT */
	if (v->vm->split_irqchip) {
		/* split irqchip: KVM_INTERRUPT injects the user-space PIC's ExtINT */
		if (v->pending_extint >= 0)
			return -EEXIST;
		v->pending_extint = (int)irq;
		vcpu_notify_irq(v);
		return 0;
	}
	/* one injected interrupt at a time (kvm_vcpu_ioctl_interrupt) */
	if (v->pending_irq >= 0)
		return -ENXIO;
	v->pending_irq = (int)irq;
	cpu_set_irq_pending(v->cpu, true);
	return 0;
}

int kvm_vcpu_nmi(struct kvm_vcpu *v)
{
	cpu_mem_note_external_write(v->vm->mem);
	cpu_inject_nmi(v->cpu);
	return 0;
}

int kvm_vcpu_set_signal_mask(struct kvm_vcpu *v, const sigset_t *mask)
{
	if (!mask) {
		v->sigmask_set = false;
		return 0;
	}
	v->sigmask = *mask;
	sigdelset(&v->sigmask, SIGKILL);
	sigdelset(&v->sigmask, SIGSTOP);
	v->sigmask_set = true;
	return 0;
}

int kvm_vcpu_enable_cap(struct kvm_vcpu *v, const struct kvm_enable_cap *cap)
{
	(void)v;
	if (cap->flags)
		return -EINVAL;
	return -EINVAL;
}

int kvm_vcpu_get_lapic(struct kvm_vcpu *v, struct kvm_lapic_state *s)
{
	if (!v->lapic)
		return -EINVAL;
	lapic_get_state(v->lapic, s->regs);
	return 0;
}

int kvm_vcpu_set_lapic(struct kvm_vcpu *v, const struct kvm_lapic_state *s)
{
	if (!v->lapic)
		return -EINVAL;
	return lapic_set_state(v->lapic, s->regs);
}
