/* SPDX-License-Identifier: MIT */
/*
 * kvmclock (Documentation/virt/kvm/x86/msr.rst): MSR_KVM_SYSTEM_TIME(_NEW)
 * points at a pvclock_vcpu_time_info the hypervisor keeps current,
 * MSR_KVM_WALL_CLOCK(_NEW) asks for the wall-clock time at kvmclock 0.
 * The guest TSC is the host monotonic clock scaled, so one (system_time,
 * tsc_timestamp, mul, shift) tuple stays exact; it is rewritten at KVM_RUN
 * entry when something changed (TSC writes, KVM_SET_CLOCK, TSC rate).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "kvm_internal.h"

#define MSR_KVM_WALL_CLOCK	0x11
#define MSR_KVM_SYSTEM_TIME	0x12
#define MSR_KVM_WALL_CLOCK_NEW	0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01

#define PVCLOCK_TSC_STABLE_BIT (1u << 0)
#define PVCLOCK_GUEST_STOPPED  (1u << 1)

struct pvclock_vcpu_time_info {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
} __attribute__((packed));

struct pvclock_wall_clock {
	uint32_t version;
	uint32_t sec;
	uint32_t nsec;
} __attribute__((packed));

/* ns = ((ticks << shift, or >> -shift) * mul) >> 32 for a clock of hz */
static void time_scale(uint64_t hz, int8_t *shift, uint32_t *mul)
{
	const unsigned __int128 ns = 1000000000u, h = hz;
	int s = 0;

	/* the smallest s with 1e9 < hz * 2^s: then mul is in [2^31, 2^32) */
	while (s < 31 && ns >= (s >= 0 ? h << s : h >> -s))
		s++;
	while (s > -31 && ns < (s >= 1 ? h << (s - 1) : h >> (1 - s)))
		s--;
	unsigned __int128 m = s >= 0 ? (ns << 32) / (h << s) : ((ns << 32) << -s) / h;
	*shift = (int8_t)s;
	*mul = m >> 32 ? 0xffffffffu : (uint32_t)m;
}

/* len writable bytes of guest RAM at gpa (not in a read-only slot, as
 * kvm_write_guest()), or NULL; inside a section */
static void *guest_ptr(struct kvm_vcpu *v, uint64_t gpa, size_t len)
{
	uint64_t avail;
	uint32_t flags;
	void *p = cpu_mem_gpa_to_hva(v->vm->mem, gpa, &avail, &flags);
	return p && avail >= len && !(flags & CPU_MEM_READONLY) ? p : NULL;
}

static void kvmclock_write(struct kvm_vcpu *v, struct pvclock_vcpu_time_info *t);

/* rewrite the guest's pvclock_vcpu_time_info */
void kvmclock_update(struct kvm_vcpu *v)
{
	if (!(v->kvm_system_time & 1))
		return;
	/* the page is used inside a read-side section only (cpu/mem.c) */
	cpu_mem_begin(v->cpu);
	struct pvclock_vcpu_time_info *t = guest_ptr(v, v->kvm_system_time & ~1ull, sizeof(*t));
	if (t) {
		kvmclock_write(v, t);
		cpu_mem_note_write(v->cpu, v->kvm_system_time & ~1ull, sizeof(*t));
	}
	cpu_mem_end(v->cpu);
}

static void kvmclock_write(struct kvm_vcpu *v, struct pvclock_vcpu_time_info *t)
{
	uint64_t ns = kvm_host_ns();
	uint64_t tsc = kvm_guest_tsc(v); /* the same instant, to the nanosecond */
	int8_t shift;
	uint32_t mul;
	time_scale((uint64_t)v->tsc_khz * 1000u, &shift, &mul);
	uint32_t ver = __atomic_load_n(&t->version, __ATOMIC_RELAXED);
	__atomic_store_n(&t->version, (ver | 1) + (ver & 1 ? 2 : 0), __ATOMIC_RELEASE);
	t->tsc_timestamp = tsc;
	t->system_time = ns + (uint64_t)v->vm->kvmclock_offset;
	t->tsc_to_system_mul = mul;
	t->tsc_shift = shift;
	t->flags = PVCLOCK_TSC_STABLE_BIT | (v->kvmclock_stopped ? PVCLOCK_GUEST_STOPPED : 0);
	v->kvmclock_stopped = false;
	__atomic_store_n(&t->version, ((ver | 1) + (ver & 1 ? 2 : 0)) + 1, __ATOMIC_RELEASE);
	v->kvmclock_dirty = false;
}

static void wall_clock_write(struct kvm_vcpu *v, struct pvclock_wall_clock *w);

static void wall_clock(struct kvm_vcpu *v, uint64_t gpa)
{
	cpu_mem_begin(v->cpu);
	struct pvclock_wall_clock *w = guest_ptr(v, gpa, sizeof(*w));
	if (w) {
		wall_clock_write(v, w);
		cpu_mem_note_write(v->cpu, gpa, sizeof(*w));
	}
	cpu_mem_end(v->cpu);
}

static void wall_clock_write(struct kvm_vcpu *v, struct pvclock_wall_clock *w)
{
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	/* wall time when kvmclock read 0 */
	int64_t boot = (int64_t)rt.tv_sec * 1000000000ll + rt.tv_nsec -
		       (int64_t)(kvm_host_ns() + (uint64_t)v->vm->kvmclock_offset);
	uint32_t ver = w->version;
	__atomic_store_n(&w->version, ver + (ver & 1 ? 2 : 1), __ATOMIC_RELEASE);
	w->sec = (uint32_t)(boot / 1000000000ll);
	w->nsec = (uint32_t)(boot % 1000000000ll);
	__atomic_store_n(&w->version, ver + (ver & 1 ? 3 : 2), __ATOMIC_RELEASE);
}

/* 1: handled (value in *val), 0: not a kvmclock MSR */
int kvmclock_msr_get(struct kvm_vcpu *v, uint32_t index, uint64_t *val)
{
	switch (index) {
	case MSR_KVM_SYSTEM_TIME:
	case MSR_KVM_SYSTEM_TIME_NEW:
		*val = v->kvm_system_time;
		return 1;
	case MSR_KVM_WALL_CLOCK:
	case MSR_KVM_WALL_CLOCK_NEW:
		*val = v->kvm_wall_clock;
		return 1;
	default:
		return 0;
	}
}

int kvmclock_msr_set(struct kvm_vcpu *v, uint32_t index, uint64_t val)
{
	switch (index) {
	case MSR_KVM_SYSTEM_TIME:
	case MSR_KVM_SYSTEM_TIME_NEW:
		v->kvm_system_time = val;
		v->kvmclock_dirty = true;
		kvmclock_update(v);
		return 1;
	case MSR_KVM_WALL_CLOCK:
	case MSR_KVM_WALL_CLOCK_NEW:
		v->kvm_wall_clock = val;
		wall_clock(v, val);
		return 1;
	default:
		return 0;
	}
}

int kvm_vcpu_kvmclock_ctrl(struct kvm_vcpu *v)
{
	if (!(v->kvm_system_time & 1))
		return -EINVAL;
	v->kvmclock_stopped = true;
	v->kvmclock_dirty = true;
	return 0;
}
