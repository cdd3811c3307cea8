/* SPDX-License-Identifier: MIT */
/*
 * Guest time: the guest TSC follows the host's monotonic clock scaled to the
 * vCPU's TSC frequency (KVM_SET_TSC_KHZ), plus a per-vCPU offset that guest
 * and host-initiated TSC writes adjust.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "kvm_internal.h"

uint64_t kvm_host_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t ns_to_tsc(uint64_t ns, uint32_t khz)
{
	return (uint64_t)(((unsigned __int128)ns * khz) / 1000000u);
}

/* TSC before the offset */
static uint64_t raw_tsc(const struct kvm_vcpu *v)
{
	return ns_to_tsc(kvm_host_ns(), v->tsc_khz);
}

uint64_t kvm_guest_tsc(struct kvm_vcpu *v)
{
	return raw_tsc(v) + v->tsc_offset;
}

/* IA32_TSC write: the offset makes the TSC read v now (SDM 17.17) */
void kvm_set_guest_tsc(struct kvm_vcpu *v, uint64_t value)
{
	v->tsc_offset = value - raw_tsc(v);
}

int kvm_vcpu_get_tsc_khz(struct kvm_vcpu *v)
{
	return (int)v->tsc_khz;
}

int kvm_vcpu_set_tsc_khz(struct kvm_vcpu *v, uint32_t khz)
{
	if (khz == 0) /* the host's frequency (Linux: tsc_khz) */
		khz = SOFTKVM_DEFAULT_TSC_KHZ;
	if (khz > 0x7fffffffu / 1000u * 1000u)
		return -EINVAL;
	uint64_t now = kvm_guest_tsc(v);
	v->tsc_khz = khz;
	kvm_set_guest_tsc(v, now); /* continuous across the rate change */
	v->kvmclock_dirty = true;
	return 0;
}

int kvm_vm_get_tsc_khz(struct kvm_vm *vm)
{
	return (int)vm->tsc_khz;
}

int kvm_vm_set_tsc_khz(struct kvm_vm *vm, uint32_t khz)
{
	if (khz == 0) /* the host's frequency (Linux: tsc_khz) */
		khz = SOFTKVM_DEFAULT_TSC_KHZ;
	if (khz > 0x7fffffffu / 1000u * 1000u)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	vm->tsc_khz = khz;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int kvm_vm_get_clock(struct kvm_vm *vm, struct kvm_clock_data *d)
{
	memset(d, 0, sizeof(*d));
	uint64_t ns = kvm_host_ns();
	d->clock = ns + (uint64_t)vm->kvmclock_offset;
	d->flags = KVM_CLOCK_HOST_TSC | KVM_CLOCK_REALTIME;
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	d->realtime = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
	d->host_tsc = ns_to_tsc(ns, SOFTKVM_DEFAULT_TSC_KHZ);
	return 0;
}

int kvm_vm_set_clock(struct kvm_vm *vm, const struct kvm_clock_data *d)
{
	if (d->flags & ~(uint32_t)(KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC | KVM_CLOCK_TSC_STABLE))
		return -EINVAL;
	uint64_t ns = kvm_host_ns();
	int64_t clock = (int64_t)d->clock;
	/* with REALTIME, advance by the real time that passed since d->realtime */
	if (d->flags & KVM_CLOCK_REALTIME) {
		struct timespec rt;
		clock_gettime(CLOCK_REALTIME, &rt);
		int64_t now = (int64_t)rt.tv_sec * 1000000000ll + rt.tv_nsec;
		if (now > (int64_t)d->realtime)
			clock += now - (int64_t)d->realtime;
	}
	vm->kvmclock_offset = clock - (int64_t)ns;
	pthread_mutex_lock(&vm->lock);
	for (unsigned k = 0; k < vm->nvcpus; k++)
		vm->vcpus[k]->kvmclock_dirty = true;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}
