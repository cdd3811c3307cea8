/* SPDX-License-Identifier: MIT */
/* ioctl decoding for the in-kernel irqchip, PIT, routing, irqfd and ioeventfd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"

#define MAX_ROUTES 4096

#define COPY_IN(var)                                                                               \
	do {                                                                                       \
		if (abi_copy_from_user(&(var), arg, sizeof(var)))                                  \
			return -EFAULT;                                                            \
	} while (0)
#define COPY_OUT(var)                                                                              \
	do {                                                                                       \
		if (abi_copy_to_user(arg, &(var), sizeof(var)))                                    \
			return -EFAULT;                                                            \
	} while (0)

static long set_gsi_routing(struct kvm_vm *vm, void *arg)
{
	struct kvm_irq_routing hdr;
	if (abi_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	if (hdr.nr > MAX_ROUTES || hdr.flags)
		return -EINVAL;
	size_t size = (size_t)hdr.nr * sizeof(struct kvm_irq_routing_entry);
	struct kvm_irq_routing_entry *e = calloc(1, size ? size : 1);
	if (!e)
		return -ENOMEM;
	long r = abi_copy_from_user(e, (uint8_t *)arg + sizeof(hdr), size)
		     ? -EFAULT
		     : kvm_vm_set_gsi_routing(vm, e, hdr.nr, hdr.flags);
	free(e);
	return r;
}

long abi_vm_ioctl_irq(struct kvm_vm *vm, unsigned req, void *arg)
{
	switch (req) {
	case KVM_CREATE_IRQCHIP:
		return kvm_vm_create_irqchip(vm);
	case KVM_CREATE_PIT2: {
		struct kvm_pit_config c;
		COPY_IN(c);
		return kvm_vm_create_pit2(vm, &c);
	}
	case KVM_GET_IRQCHIP: {
		struct kvm_irqchip c;
		COPY_IN(c);
		int r = kvm_vm_get_irqchip(vm, &c);
		if (r)
			return r;
		COPY_OUT(c);
		return 0;
	}
	case KVM_SET_IRQCHIP: {
		struct kvm_irqchip c;
		COPY_IN(c);
		return kvm_vm_set_irqchip(vm, &c);
	}
	case KVM_GET_PIT2: {
		struct kvm_pit_state2 s;
		int r = kvm_vm_get_pit2(vm, &s);
		if (r)
			return r;
		COPY_OUT(s);
		return 0;
	}
	case KVM_SET_PIT2: {
		struct kvm_pit_state2 s;
		COPY_IN(s);
		return kvm_vm_set_pit2(vm, &s);
	}
	case KVM_GET_PIT: {
		struct kvm_pit_state2 s2;
		struct kvm_pit_state s;
		int r = kvm_vm_get_pit2(vm, &s2);
		if (r)
			return r;
		memcpy(s.channels, s2.channels, sizeof(s.channels));
		COPY_OUT(s);
		return 0;
	}
	case KVM_SET_PIT: {
		struct kvm_pit_state s;
		struct kvm_pit_state2 s2;
		COPY_IN(s);
		int r = kvm_vm_get_pit2(vm, &s2);
		if (r)
			return r;
		memcpy(s2.channels, s.channels, sizeof(s.channels));
		return kvm_vm_set_pit2(vm, &s2);
	}
	case KVM_REINJECT_CONTROL: {
		struct kvm_reinject_control c;
		COPY_IN(c);
		struct kvm_pit_state2 s;
		/* ticks are always coalesced; the control exists with the PIT */
		return kvm_vm_get_pit2(vm, &s);
	}
	case KVM_IRQ_LINE: {
		struct kvm_irq_level l;
		int status;
		COPY_IN(l);
		return kvm_vm_irq_line(vm, l.irq, l.level, &status);
	}
	case KVM_IRQ_LINE_STATUS: {
		struct kvm_irq_level l;
		int status;
		COPY_IN(l);
		int r = kvm_vm_irq_line(vm, l.irq, l.level, &status);
		if (r)
			return r;
		l.status = status;
		COPY_OUT(l);
		return 0;
	}
	case KVM_SET_GSI_ROUTING:
		return set_gsi_routing(vm, arg);
	case KVM_SIGNAL_MSI: {
		struct kvm_msi m;
		COPY_IN(m);
		return kvm_vm_signal_msi(vm, &m);
	}
	case KVM_IRQFD: {
		struct kvm_irqfd f;
		COPY_IN(f);
		return kvm_vm_irqfd(vm, &f);
	}
	case KVM_IOEVENTFD: {
		struct kvm_ioeventfd e;
		COPY_IN(e);
		return kvm_vm_ioeventfd(vm, &e);
	}
	default:
		return -ENOTTY;
	}
}

long abi_sys_ioctl_extra(unsigned req, void *arg)
{
	switch (req) {
	case KVM_X86_GET_MCE_CAP_SUPPORTED: {
		uint64_t cap = kvm_mce_cap_supported();
		COPY_OUT(cap);
		return 0;
	}
	default:
		return -EINVAL;
	}
}

long abi_vcpu_ioctl_irq(struct kvm_vcpu *v, unsigned req, void *arg)
{
	switch (req) {
	case KVM_X86_SETUP_MCE: {
		uint64_t cap;
		COPY_IN(cap);
		return kvm_vcpu_x86_setup_mce(v, cap);
	}
	case KVM_GET_LAPIC: {
		struct kvm_lapic_state s;
		int r = kvm_vcpu_get_lapic(v, &s);
		if (r)
			return r;
		COPY_OUT(s);
		return 0;
	}
	case KVM_SET_LAPIC: {
		struct kvm_lapic_state s;
		COPY_IN(s);
		return kvm_vcpu_set_lapic(v, &s);
	}
	case KVM_KVMCLOCK_CTRL:
		return kvm_vcpu_kvmclock_ctrl(v);
	case KVM_X86_SET_MCE: {
		struct kvm_x86_mce m;
		COPY_IN(m);
		return kvm_vcpu_x86_set_mce(v, &m);
	}
	case KVM_SET_VAPIC_ADDR: {
		struct kvm_vapic_addr a;
		COPY_IN(a);
		return kvm_vcpu_set_vapic_addr(v, a.vapic_addr);
	}
	case KVM_TPR_ACCESS_REPORTING: {
		struct kvm_tpr_access_ctl t;
		COPY_IN(t);
		int r = kvm_vcpu_tpr_access_reporting(v, &t);
		if (r)
			return r;
		COPY_OUT(t);
		return 0;
	}
	default:
		return -EINVAL;
	}
}
