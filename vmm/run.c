/* SPDX-License-Identifier: MIT */
/*
 * The run loop (kvmtool style): one host thread per vCPU, each calling
 * KVM_RUN and then a plain switch on exit_reason. Port I/O and MMIO go
 * through the trap registry under vm->io_lock (devices are shared by every
 * vCPU thread); everything that ends the guest is reported in one line on
 * stderr and stops every thread.
 *
 * With the in-kernel irqchip (the default) the BSP starts at the multiboot
 * entry and the APs in KVM_MP_STATE_UNINITIALIZED: their KVM_RUN sleeps in
 * the kernel until the guest sends INIT and SIPI, returning -EAGAIN after
 * INIT (Linux 6.1 kvm_arch_vcpu_ioctl_run); HLT waits in the kernel too.
 * Without an irqchip (--irqchip off) nothing can wake a halted vCPU or start
 * an AP: only vCPU 0 runs and KVM_EXIT_HLT stops the guest with status 0.
 *
 * Stopping (QEMU's qemu_cpu_kick / kvmtool's kvm_cpu__reboot): the first
 * vCPU to stop the guest records the status; vmm_run() then sets
 * immediate_exit in every kvm_run and sends each vCPU thread SIGUSR1, whose
 * handler does nothing. A thread inside KVM_RUN gets -EINTR; one about to
 * enter it gets -EINTR from immediate_exit (KVM API 4.10).
 *
 * Pausing (QMP stop, vmm_pause()) uses the same kick: with vm->paused set a
 * vCPU thread parks at the top of its loop, outside KVM_RUN, until
 * vmm_resume() or the end of the run; the pauser waits until every thread
 * parked. A pending I/O completion stays pending in the kvm_run (the next
 * KVM_RUN after the resume finishes it), as when QEMU stops a vCPU.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm.h"

#define VMM_KICK_SIGNAL SIGUSR1

static void handle_pio(struct vmm *vm, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;

	if (run->io.data_offset + (uint64_t)size * run->io.count > vm->run_size || size > 8)
		return;
	pthread_mutex_lock(&vm->io_lock);
	for (uint32_t k = 0; k < run->io.count; k++) {
		iobus_access(&vm->pio, run->io.port, data + k * size, size, out, 0xff);
		if (vm->debugexit.fired)
			break;
	}
	pthread_mutex_unlock(&vm->io_lock);
}

static void handle_mmio(struct vmm *vm, struct kvm_run *run)
{
	unsigned len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data))
		return;
	/* unassigned memory reads as zero, as on QEMU */
	pthread_mutex_lock(&vm->io_lock);
	iobus_access(&vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write, 0);
	pthread_mutex_unlock(&vm->io_lock);
}

/* "at rip 0x..., cs 0x..., cr0 0x..." plus the instruction bytes when they can be read */
static void describe_cpu(struct vmm *vm, struct vmm_vcpu *v, char *buf, size_t n)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_translation tr;
	size_t len;

	if (kvmdev_ioctl(&vm->kvm, v->fd, KVM_GET_REGS, &regs) < 0 ||
	    kvmdev_ioctl(&vm->kvm, v->fd, KVM_GET_SREGS, &sregs) < 0) {
		snprintf(buf, n, "(registers unavailable)");
		return;
	}
	len = (size_t)snprintf(buf, n, "at rip %#llx (cs %#x, cr0 %#llx, efer %#llx)",
			       (unsigned long long)regs.rip, sregs.cs.selector,
			       (unsigned long long)sregs.cr0, (unsigned long long)sregs.efer);
	memset(&tr, 0, sizeof(tr));
	tr.linear_address = sregs.cs.base + regs.rip;
	if (len >= n || kvmdev_ioctl(&vm->kvm, v->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
		return;
	if (tr.physical_address >= vm->low_size || vm->low_size - tr.physical_address < 16)
		return;
	len += (size_t)snprintf(buf + len, n - len, ", bytes");
	for (int k = 0; k < 8 && len < n; k++)
		len += (size_t)snprintf(buf + len, n - len, " %02x",
					vm->ram[tr.physical_address + (unsigned)k]);
}

static const char *internal_suberror(uint32_t s)
{
	switch (s) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "emulation failure";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "event delivery failed";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
		return "unexpected exit reason";
	default:
		return "unknown suberror";
	}
}

bool vmm_stop(struct vmm *vm, int status)
{
	bool first;

	pthread_mutex_lock(&vm->stop_lock);
	first = !vm->stopped;
	if (first) {
		vm->status = status;
		__atomic_store_n(&vm->stopped, true, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&vm->stop_cond);
		pthread_cond_broadcast(&vm->pause_cond); /* parked threads end, pausers return */
	}
	pthread_mutex_unlock(&vm->stop_lock);
	return first;
}

static bool vmm_stopping(struct vmm *vm)
{
	return __atomic_load_n(&vm->stopped, __ATOMIC_ACQUIRE);
}

/* Stop the guest; the first stopper prints one line on stderr: what happened and where. */
static void guest_stopped(struct vmm *vm, struct vmm_vcpu *v, int status, const char *what)
{
	char where[256];

	describe_cpu(vm, v, where, sizeof(where));
	if (!vmm_stop(vm, status))
		return;
	pthread_mutex_lock(&vm->io_lock);
	serial_flush(&vm->serial);
	pthread_mutex_unlock(&vm->io_lock);
	fprintf(stderr, "softkvm: vCPU %u: %s %s\n", v->id, what, where);
}

/* After a device access: did the guest ask to stop (isa-debug-exit, ACPI S5)? */
static void check_device_stop(struct vmm *vm)
{
	int status = -1;

	pthread_mutex_lock(&vm->io_lock);
	if (vm->debugexit.fired)
		status = debugexit_status(&vm->debugexit);
	else if (vm->pm.poweroff)
		status = VMM_EXIT_STOPPED;
	if (status >= 0)
		serial_flush(&vm->serial);
	pthread_mutex_unlock(&vm->io_lock);
	if (status >= 0)
		vmm_stop(vm, status);
}

/* Handle one exit; false when the guest stopped. */
static bool handle_exit(struct vmm *vm, struct vmm_vcpu *v)
{
	struct kvm_run *run = v->run;
	char what[256];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_pio(vm, run);
		check_device_stop(vm);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(vm, run);
		check_device_stop(vm);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_HLT:
		/* no irqchip: nothing will ever deliver an interrupt */
		guest_stopped(vm, v, VMM_EXIT_STOPPED,
			      run->if_flag
				  ? "halted (no interrupt controller, --irqchip off, to "
				    "wake it): the guest has stopped"
				  : "halted with interrupts disabled: the guest has stopped");
		return false;
	case KVM_EXIT_SHUTDOWN:
		guest_stopped(vm, v, VMM_EXIT_SHUTDOWN, "triple fault (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_INTERNAL_ERROR: {
		size_t n = (size_t)snprintf(what, sizeof(what), "internal error: %s (suberror %u",
					    internal_suberror(run->internal.suberror),
					    run->internal.suberror);
		for (uint32_t k = 0; k < run->internal.ndata && k < 4 && n < sizeof(what); k++)
			n += (size_t)snprintf(what + n, sizeof(what) - n, "%s%#llx",
					      k ? " " : ", data ",
					      (unsigned long long)run->internal.data[k]);
		if (n < sizeof(what))
			snprintf(what + n, sizeof(what) - n, ")");
		guest_stopped(vm, v, VMM_EXIT_FAILED, what);
		return false;
	}
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what),
			 "entry failed (KVM_EXIT_FAIL_ENTRY, hardware reason %#llx, cpu %u)",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
			 run->fail_entry.cpu);
		guest_stopped(vm, v, VMM_EXIT_FAILED, what);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
			pthread_mutex_lock(&vm->io_lock);
			serial_flush(&vm->serial);
			pthread_mutex_unlock(&vm->io_lock);
			vmm_stop(vm, VMM_EXIT_STOPPED);
			return false;
		}
		if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
			vmm_stop(vm, VMM_EXIT_RESET); /* cmd_run reboots or exits (--reboot) */
			return false;
		}
		snprintf(what, sizeof(what), "unknown system event %u", run->system_event.type);
		guest_stopped(vm, v, VMM_EXIT_FAILED, what);
		return false;
	default:
		snprintf(what, sizeof(what), "unexpected exit reason %u", run->exit_reason);
		guest_stopped(vm, v, VMM_EXIT_FAILED, what);
		return false;
	}
}

/* vmm_pause(): wait outside KVM_RUN until resumed or stopped */
static void vcpu_park(struct vmm *vm)
{
	pthread_mutex_lock(&vm->stop_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (vm->paused && !vm->stopped)
		pthread_cond_wait(&vm->pause_cond, &vm->stop_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->stop_lock);
}

bool vmm_paused(struct vmm *vm)
{
	return __atomic_load_n(&vm->paused, __ATOMIC_ACQUIRE);
}

bool vmm_pause(struct vmm *vm)
{
	pthread_mutex_lock(&vm->stop_lock);
	if (vm->paused) {
		pthread_mutex_unlock(&vm->stop_lock);
		return false;
	}
	__atomic_store_n(&vm->paused, true, __ATOMIC_RELEASE);
	/* out of KVM_RUN, or kept from entering it (the thread checks paused first) */
	for (unsigned k = 0; k < vm->ncpus && !vm->stopped; k++) {
		struct vmm_vcpu *v = &vm->vcpu[k];

		/* a thread is joined only after stopped is set: pthread_kill is safe here */
		if (!v->tid)
			continue;
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(v->thread, VMM_KICK_SIGNAL);
	}
	while (!vm->stopped && vm->parked + vm->exited < vm->nthreads)
		pthread_cond_wait(&vm->pause_cond, &vm->stop_lock);
	/* the guest's clock stops with it */
	memset(&vm->pause_clock, 0, sizeof(vm->pause_clock));
	vm->pause_clock_valid = vm->vm_fd >= 0 && kvmdev_ioctl(&vm->kvm, vm->vm_fd, KVM_GET_CLOCK,
							       &vm->pause_clock) == 0;
	pthread_mutex_unlock(&vm->stop_lock);
	return true;
}

bool vmm_resume(struct vmm *vm)
{
	pthread_mutex_lock(&vm->stop_lock);
	if (!vm->paused) {
		pthread_mutex_unlock(&vm->stop_lock);
		return false;
	}
	/* the guest's clock goes on from where it stopped (KVM_CLOCK_REALTIME and
	 * HOST_TSC are outputs of KVM_GET_CLOCK only) */
	if (vm->pause_clock_valid && !vm->stopped) {
		struct kvm_clock_data clk = vm->pause_clock;
		clk.flags = 0;
		kvmdev_ioctl(&vm->kvm, vm->vm_fd, KVM_SET_CLOCK, &clk);
	}
	vm->pause_clock_valid = false;
	__atomic_store_n(&vm->paused, false, __ATOMIC_RELEASE);
	/* once stopped, vmm_run() owns immediate_exit (it ends every thread) */
	for (unsigned k = 0; k < vm->ncpus && !vm->stopped; k++)
		if (vm->vcpu[k].tid)
			__atomic_store_n(&vm->vcpu[k].run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->stop_lock);
	return true;
}

static void *vcpu_thread(void *arg)
{
	struct vmm_vcpu *v = arg;
	struct vmm *vm = v->vm;
	sigset_t kick;
	int r;

	/*
	 * A halted vCPU sleeps in KVM_RUN until its LAPIC timer's deadline; the
	 * default 50 us timer slack would be added to every timer interrupt.
	 */
	prctl(PR_SET_TIMERSLACK, 1000ul);
	/* vmm_run() blocks the kick signal while it starts threads; take it here */
	sigemptyset(&kick);
	sigaddset(&kick, VMM_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	pthread_mutex_lock(&vm->stop_lock);
	v->thread = pthread_self();
	v->tid = (int)syscall(SYS_gettid);
	pthread_mutex_unlock(&vm->stop_lock);
	bool ran = false;
	while (!vmm_stopping(vm)) {
		if (vmm_paused(vm)) {
			/*
			 * Finish a pending I/O or MMIO completion first: KVM applies it
			 * only in the next KVM_RUN, and the state a snapshot reads must
			 * hold it (KVM API 4.10 / 5: re-enter with immediate_exit set,
			 * which vmm_pause() did before the kick, so no guest
			 * instruction runs).
			 */
			if (ran) {
				ran = false;
				r = kvmdev_ioctl(&vm->kvm, v->fd, KVM_RUN, NULL);
				if (r == 0 && !vmm_stopping(vm)) {
					/* it ran before the kick came: this exit's completion is
					 * pending in turn */
					if (!handle_exit(vm, v))
						break;
					ran = true;
				}
				continue;
			}
			vcpu_park(vm);
			continue;
		}
		ran = true;
		r = kvmdev_ioctl(&vm->kvm, v->fd, KVM_RUN, NULL);
		if (vmm_stopping(vm))
			break;
		if (r < 0) {
			/* a kick, or an AP leaving UNINITIALIZED (INIT received) */
			if (r == -EINTR || r == -EAGAIN)
				continue;
			if (vmm_stop(vm, VMM_EXIT_FAILED)) {
				pthread_mutex_lock(&vm->io_lock);
				serial_flush(&vm->serial);
				pthread_mutex_unlock(&vm->io_lock);
				fprintf(stderr, "softkvm: vCPU %u: KVM_RUN failed: %s\n", v->id,
					strerror(-r));
			}
			break;
		}
		if (!handle_exit(vm, v))
			break;
	}
	pthread_mutex_lock(&vm->stop_lock);
	vm->exited++;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->stop_lock);
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig; /* only here to interrupt KVM_RUN with -EINTR */
}

int vmm_run(struct vmm *vm)
{
	/* without an irqchip nothing can start the APs: they are created but never run */
	unsigned nthreads = vm->irqchip == VMM_IRQCHIP_OFF ? 1 : vm->ncpus;
	struct sigaction sa;
	sigset_t kick, saved;
	int r = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler; /* no SA_RESTART: KVM_RUN must return -EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(VMM_KICK_SIGNAL, &sa, NULL);
	/* only the vCPU threads take the kick signal */
	sigemptyset(&kick);
	sigaddset(&kick, VMM_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &kick, &saved);

	pthread_mutex_lock(&vm->stop_lock);
	vm->nthreads = nthreads;
	pthread_mutex_unlock(&vm->stop_lock);
	for (unsigned k = 0; k < nthreads; k++) {
		struct vmm_vcpu *v = &vm->vcpu[k];

		r = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (r) {
			if (vmm_stop(vm, VMM_EXIT_FAILED))
				fprintf(stderr, "softkvm: cannot start the thread of vCPU %u: %s\n",
					k, strerror(r));
			break;
		}
		v->thread_started = true;
	}

	pthread_mutex_lock(&vm->stop_lock);
	while (!vm->stopped)
		pthread_cond_wait(&vm->stop_cond, &vm->stop_lock);
	pthread_mutex_unlock(&vm->stop_lock);

	/* kick every vCPU out of KVM_RUN (or keep it from entering) and wait for it */
	for (unsigned k = 0; k < nthreads; k++) {
		struct vmm_vcpu *v = &vm->vcpu[k];

		if (!v->thread_started)
			continue;
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(v->thread, VMM_KICK_SIGNAL);
	}
	for (unsigned k = 0; k < nthreads; k++) {
		struct vmm_vcpu *v = &vm->vcpu[k];

		if (v->thread_started)
			pthread_join(v->thread, NULL);
		v->thread_started = false;
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	pthread_mutex_lock(&vm->io_lock);
	serial_flush(&vm->serial);
	pthread_mutex_unlock(&vm->io_lock);
	return vm->status;
}
