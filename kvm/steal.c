/* SPDX-License-Identifier: MIT */
/*
 * Stolen time (Documentation/virt/kvm/x86/msr.rst, MSR_KVM_STEAL_TIME;
 * Linux 6.1 arch/x86/kvm/x86.c record_steal_time()). The guest gives the
 * address of a 64-byte aligned struct kvm_steal_time; before it runs again
 * the hypervisor adds the time the vCPU's host thread was runnable but not
 * running (the scheduler's run_delay: /proc/thread-self/schedstat, second
 * field, in ns), bumping the version to odd during the update and to even
 * after, as Linux does.
 *
 * Linux records at KVM_REQ_STEAL_UPDATE, made by the MSR write and by every
 * vcpu_load (each KVM_RUN and each time the thread is scheduled back in).
 * A user-space vCPU thread cannot see its own sched-in, and reading
 * run_delay is a /proc read of a few microseconds (as much as a whole port
 * I/O exit round trip), so softkvm records when the MSR was written (before
 * the guest's next instruction), at KVM_RUN entry when user space had the
 * thread for STEAL_AWAY_NS or more since the last KVM_RUN returned (time in
 * which it may have been scheduled out, as the selftest steal_time's
 * stealing thread does), and otherwise at KVM_RUN entry and in the run loop
 * (which passes by at every exit and interrupt, so at least at each guest
 * timer tick) once STEAL_PERIOD_NS passed since the last record: the guest's
 * steal is at most that old, and none of it is lost.
 *
 * `preempted`: Linux 6.1 writes KVM_VCPU_PREEMPTED in
 * kvm_steal_time_set_preempted() (kvm_arch_vcpu_put) when the vCPU stops
 * running in the kernel while it was preempted, and clears it at the next
 * record (vcpu_load). A user-space vCPU thread cannot see its own
 * preemption, so softkvm sets it whenever the thread leaves KVM_RUN (the
 * vCPU does not run while user space has the thread: an exit being handled,
 * a paused VM) and clears it at the next KVM_RUN entry, before the guest's
 * next instruction; other vCPUs' vcpu_is_preempted() then tells them so (a
 * spinning lock waiter yields). PV_TLB_FLUSH is not offered: the flush bit
 * is never set.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm_internal.h"

#define KVM_MSR_ENABLED		1ull
#define KVM_STEAL_VALID_BITS	(~0x3full) /* 64-byte aligned */
#define KVM_STEAL_RESERVED_MASK 0x3eull	   /* bits 5:1 */
#define STEAL_PERIOD_NS		1000000ull /* 1 ms */
#define KVM_VCPU_PREEMPTED	1	   /* asm/kvm_para.h */
#define STEAL_AWAY_NS		50000ull   /* 50 us */

struct steal_time {
	uint64_t steal;
	uint32_t version;
	uint32_t flags;
	uint8_t preempted;
	uint8_t u8_pad[3];
	uint32_t pad[11];
};
_Static_assert(sizeof(struct steal_time) == 64, "struct kvm_steal_time is 64 bytes");

static int open_schedstat(void)
{
	return open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
}

/* run_delay of the thread fd was opened by, or -1 */
static int64_t read_run_delay(int fd)
{
	char buf[96];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = buf, *end;
	strtoull(p, &end, 10); /* time on the CPU */
	if (end == p)
		return -1;
	p = end;
	unsigned long long d = strtoull(p, &end, 10);
	return end == p ? -1 : (int64_t)d;
}

static bool supported;
static pthread_once_t supported_once = PTHREAD_ONCE_INIT;

static void probe(void)
{
	int fd = open_schedstat();
	supported = fd >= 0 && read_run_delay(fd) >= 0;
	if (fd >= 0)
		close(fd);
}

/* Linux's sched_info_on(): the host keeps per-thread run_delay */
bool kvm_steal_supported(void)
{
	pthread_once(&supported_once, probe);
	return supported;
}

void kvm_steal_init(struct kvm_vcpu *v)
{
	v->st_fd = -1;
}

void kvm_steal_destroy(struct kvm_vcpu *v)
{
	if (v->st_fd >= 0)
		close(v->st_fd);
	v->st_fd = -1;
}

/* the calling thread's run_delay; a thread other than the last one starts
 * from its current value (*fresh) */
static int64_t thread_run_delay(struct kvm_vcpu *v, bool *fresh)
{
	pthread_t self = pthread_self();
	*fresh = false;
	if (v->st_fd < 0 || !pthread_equal(self, v->st_thread)) {
		if (v->st_fd >= 0)
			close(v->st_fd);
		v->st_fd = open_schedstat();
		v->st_thread = self;
		*fresh = true;
	}
	return v->st_fd >= 0 ? read_run_delay(v->st_fd) : -1;
}

/* record_steal_time() */
void kvm_steal_record(struct kvm_vcpu *v)
{
	v->st_pending = false;
	v->st_last_ns = kvm_host_ns();
	if (!(v->st_msr & KVM_MSR_ENABLED))
		return;
	uint64_t gpa = v->st_msr & KVM_STEAL_VALID_BITS;
	bool fresh;
	int64_t rd = thread_run_delay(v, &fresh);
	if (rd < 0)
		return;
	if (fresh)
		v->st_last = (uint64_t)rd;

	cpu_mem_begin(v->cpu);
	uint64_t avail;
	uint32_t flags;
	struct steal_time *st = cpu_mem_gpa_to_hva(v->vm->mem, gpa, &avail, &flags);
	/* RAM the guest may write, as kvm_gfn_to_hva_cache_init() wants */
	if (st && avail >= sizeof(*st) && !(flags & CPU_MEM_READONLY)) {
		__atomic_store_n(&st->preempted, 0, __ATOMIC_RELAXED);
		uint32_t version = __atomic_load_n(&st->version, __ATOMIC_RELAXED);
		if (version & 1)
			version += 1; /* first write: junk */
		version += 1;
		__atomic_store_n(&st->version, version, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		uint64_t steal = __atomic_load_n(&st->steal, __ATOMIC_RELAXED);
		steal += (uint64_t)rd - v->st_last;
		__atomic_store_n(&st->steal, steal, __ATOMIC_RELAXED);
		version += 1;
		__atomic_store_n(&st->version, version, __ATOMIC_RELEASE);
		cpu_mem_note_write(v->cpu, gpa, sizeof(*st));
		v->st_last = (uint64_t)rd;
	}
	/* not written (no RAM there): the time stays due, as Linux's last_steal */
	cpu_mem_end(v->cpu);
}

/* the preempted byte of the enabled struct (kvm_steal_time_set_preempted) */
static void write_preempted(struct kvm_vcpu *v, uint8_t val)
{
	uint64_t gpa = v->st_msr & KVM_STEAL_VALID_BITS, avail;
	uint32_t flags;

	cpu_mem_begin(v->cpu);
	struct steal_time *st = cpu_mem_gpa_to_hva(v->vm->mem, gpa, &avail, &flags);
	if (st && avail >= sizeof(*st) && !(flags & CPU_MEM_READONLY)) {
		__atomic_store_n(&st->preempted, val, __ATOMIC_RELEASE);
		cpu_mem_note_write(v->cpu, gpa + offsetof(struct steal_time, preempted), 1);
	}
	cpu_mem_end(v->cpu);
}

/* the thread leaves KVM_RUN: the vCPU is not running until it comes back */
void kvm_steal_leave(struct kvm_vcpu *v, uint64_t now)
{
	v->st_exit_ns = now; /* kvm_steal_entry(): how long user space had it */
	if (!(v->st_msr & KVM_MSR_ENABLED))
		return;
	write_preempted(v, KVM_VCPU_PREEMPTED);
	v->st_preempted = true;
}

/* in the run loop: a record is due (requested, or STEAL_PERIOD_NS passed) */
void kvm_steal_tick(struct kvm_vcpu *v, uint64_t now)
{
	if (v->st_pending || now - v->st_last_ns >= STEAL_PERIOD_NS)
		kvm_steal_record(v);
}

/* at KVM_RUN entry: also when user space had the thread for STEAL_AWAY_NS
 * (it may have been scheduled out meanwhile: Linux's vcpu_load record) */
void kvm_steal_entry(struct kvm_vcpu *v, uint64_t now)
{
	if (v->st_preempted) {
		v->st_preempted = false;
		write_preempted(v, 0); /* record_steal_time()'s xchg, before the guest runs */
	}
	if (now - v->st_exit_ns >= STEAL_AWAY_NS)
		v->st_pending = true;
	kvm_steal_tick(v, now);
}

/* 1: handled (value in *val), 0: not MSR_KVM_STEAL_TIME. Without
 * KVM_CAP_ENFORCE_PV_FEATURE_CPUID (not offered) guest_pv_has() is true, so
 * the guest's CPUID is not consulted, as in Linux. */
int kvm_steal_msr_get(struct kvm_vcpu *v, uint32_t index, uint64_t *val)
{
	if (index != MSR_KVM_STEAL_TIME)
		return 0;
	*val = v->st_msr;
	return 1;
}

/* 1: handled, -1: refused (#GP / failed KVM_SET_MSRS), 0: not this MSR */
int kvm_steal_msr_set(struct kvm_vcpu *v, uint32_t index, uint64_t val)
{
	if (index != MSR_KVM_STEAL_TIME)
		return 0;
	if (!kvm_steal_supported())
		return -1;
	if (val & KVM_STEAL_RESERVED_MASK)
		return -1;
	v->st_msr = val;
	if (val & KVM_MSR_ENABLED)
		v->st_pending = true; /* KVM_REQ_STEAL_UPDATE: at the next entry */
	return 1;
}
