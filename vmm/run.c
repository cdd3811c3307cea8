/* SPDX-License-Identifier: MIT */
/*
 * The run loop (kvmtool style): KVM_RUN on the boot vCPU, then a plain
 * switch on exit_reason. Port I/O and MMIO go through the trap registry;
 * everything that ends the guest is reported in one line on stderr.
 *
 * Until the in-kernel irqchip exists nothing can wake a halted vCPU or start
 * an AP: only vCPU 0 runs (the others are created, with their CPUID, and
 * stay un-run), and HLT stops the guest with status 0, the status QEMU gives
 * a guest that powers off.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm.h"

static void handle_pio(struct vmm *vm, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;

	if (run->io.data_offset + (uint64_t)size * run->io.count > vm->run_size || size > 8)
		return;
	for (uint32_t k = 0; k < run->io.count; k++) {
		iobus_access(&vm->pio, run->io.port, data + k * size, size, out, 0xff);
		if (vm->debugexit.fired)
			break;
	}
}

static void handle_mmio(struct vmm *vm, struct kvm_run *run)
{
	unsigned len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data))
		return;
	/* unassigned memory reads as zero, as on QEMU */
	iobus_access(&vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write, 0);
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

/* One line on stderr: what happened and where; returns the exit status. */
static int guest_stopped(struct vmm *vm, struct vmm_vcpu *v, int status, const char *what)
{
	char where[256];

	serial_flush(&vm->serial);
	describe_cpu(vm, v, where, sizeof(where));
	fprintf(stderr, "softkvm: vCPU 0: %s %s\n", what, where);
	return status;
}

int vmm_run(struct vmm *vm)
{
	struct vmm_vcpu *v = &vm->vcpu[0];
	struct kvm_run *run = v->run;
	char what[256];
	int r;

	for (;;) {
		r = kvmdev_ioctl(&vm->kvm, v->fd, KVM_RUN, NULL);
		if (r < 0) {
			if (r == -EINTR || r == -EAGAIN)
				continue;
			serial_flush(&vm->serial);
			fprintf(stderr, "softkvm: vCPU 0: KVM_RUN failed: %s\n", strerror(-r));
			return VMM_EXIT_FAILED;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			handle_pio(vm, run);
			break;
		case KVM_EXIT_MMIO:
			handle_mmio(vm, run);
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_HLT:
			/* no irqchip: nothing will ever deliver an interrupt */
			return guest_stopped(vm, v, VMM_EXIT_STOPPED,
					     run->if_flag
						 ? "halted (no interrupt controller yet to wake "
						   "it): the guest has stopped"
						 : "halted with interrupts disabled: the guest "
						   "has stopped");
		case KVM_EXIT_SHUTDOWN:
			return guest_stopped(vm, v, VMM_EXIT_SHUTDOWN,
					     "triple fault (KVM_EXIT_SHUTDOWN)");
		case KVM_EXIT_INTERNAL_ERROR: {
			size_t n = (size_t)snprintf(
			    what, sizeof(what), "internal error: %s (suberror %u",
			    internal_suberror(run->internal.suberror), run->internal.suberror);
			for (uint32_t k = 0; k < run->internal.ndata && k < 4 && n < sizeof(what);
			     k++)
				n += (size_t)snprintf(what + n, sizeof(what) - n, "%s%#llx",
						      k ? " " : ", data ",
						      (unsigned long long)run->internal.data[k]);
			if (n < sizeof(what))
				snprintf(what + n, sizeof(what) - n, ")");
			return guest_stopped(vm, v, VMM_EXIT_FAILED, what);
		}
		case KVM_EXIT_FAIL_ENTRY:
			snprintf(
			    what, sizeof(what),
			    "entry failed (KVM_EXIT_FAIL_ENTRY, hardware reason %#llx, cpu %u)",
			    (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
			    run->fail_entry.cpu);
			return guest_stopped(vm, v, VMM_EXIT_FAILED, what);
		case KVM_EXIT_SYSTEM_EVENT:
			if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
				serial_flush(&vm->serial);
				return VMM_EXIT_STOPPED;
			}
			snprintf(what, sizeof(what), "system event %u (reset is not supported)",
				 run->system_event.type);
			return guest_stopped(vm, v, VMM_EXIT_FAILED, what);
		default:
			snprintf(what, sizeof(what), "unexpected exit reason %u", run->exit_reason);
			return guest_stopped(vm, v, VMM_EXIT_FAILED, what);
		}
		if (vm->debugexit.fired) {
			serial_flush(&vm->serial);
			return debugexit_status(&vm->debugexit);
		}
		if (vm->pm.poweroff) {
			serial_flush(&vm->serial);
			return VMM_EXIT_STOPPED;
		}
	}
}
