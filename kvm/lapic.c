/* SPDX-License-Identifier: MIT */
/*
 * The local APIC (SDM vol. 3A, chapter 11), as Linux 6.1's arch/x86/kvm/lapic.c
 * presents it: xAPIC MMIO page at the relocatable base, x2APIC MSRs
 * 0x800-0x8ff, IRR/ISR/TMR, TPR/PPR, EOI, logical and physical destinations,
 * IPIs of every delivery mode and shorthand, LVT entries, and the timer in
 * one-shot, periodic and TSC-deadline modes with a 1 GHz bus clock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kvm_internal.h"
#include "irq.h"

#define APIC_ID	      0x20
#define APIC_LVR      0x30
#define APIC_TASKPRI  0x80
#define APIC_ARBPRI   0x90
#define APIC_PROCPRI  0xa0
#define APIC_EOI      0xb0
#define APIC_RRR      0xc0
#define APIC_LDR      0xd0
#define APIC_DFR      0xe0
#define APIC_SPIV     0xf0
#define APIC_ISR      0x100
#define APIC_TMR      0x180
#define APIC_IRR      0x200
#define APIC_ESR      0x280
#define APIC_ICR      0x300
#define APIC_ICR2     0x310
#define APIC_LVTT     0x320
#define APIC_LVTTHMR  0x330
#define APIC_LVTPC    0x340
#define APIC_LVT0     0x350
#define APIC_LVT1     0x360
#define APIC_LVTERR   0x370
#define APIC_TMICT    0x380
#define APIC_TMCCT    0x390
#define APIC_TDCR     0x3e0
#define APIC_SELF_IPI 0x3f0

#define LVT_MASKED     (1u << 16)
#define LVT_PENDING    (1u << 12)
#define LVT_VECTOR     0xffu
#define LVT_MODE       (7u << 8)
#define LVT_POLARITY   (1u << 13)
#define LVT_REMOTE_IRR (1u << 14)
#define LVT_LEVEL      (1u << 15)
#define LVT_BASE_MASK  (LVT_MASKED | LVT_PENDING | LVT_VECTOR)
#define LINT_MASK      (LVT_BASE_MASK | LVT_MODE | LVT_POLARITY | LVT_REMOTE_IRR | LVT_LEVEL)

#define TIMER_ONESHOT	  0
#define TIMER_PERIODIC	  1
#define TIMER_TSCDEADLINE 2

#define BASE_BSP	  (1ull << 8)
#define BASE_X2APIC	  (1ull << 10)
#define BASE_ENABLE	  (1ull << 11)
#define BASE_ADDR	  0xfffffffffffff000ull
#define APIC_DEFAULT_BASE 0xfee00000ull

/* KVM limits how fast a periodic timer may fire (min_timer_period_us = 200) */
#define MIN_PERIOD_NS 200000ull

struct kvm_lapic {
	pthread_mutex_t lock;
	struct kvm_vcpu *vcpu;
	_Alignas(16) uint8_t regs[1024];
	uint64_t base;		   /* base_of(), base_set() */
	unsigned divide;	   /* timer divide count */
	uint64_t period_ns;	   /* one-shot/periodic: TMICT * divide ns */
	_Atomic uint64_t deadline; /* host ns of the next expiry, 0 = not running */
	uint64_t tscdeadline;	   /* IA32_TSC_DEADLINE */
	_Atomic bool init_pending;
	_Atomic int sipi_vector; /* -1: none */
	/* work deferred until the lock is dropped (owning vCPU thread only) */
	bool pending_ipi;
	uint32_t ipi_lo, ipi_dest;
	int pending_eoi;
};

/*
 * The register page and the base are written under l->lock but read without
 * it where an interrupt is routed (lapic_accepts_pic, from the thread that
 * raised it): every access is a relaxed atomic one, a plain MOV on x86, so
 * those readers see a whole old or new value (ThreadSanitizer found the race
 * with KVM_SET_SREGS2, make fuzz-abi-tsan).
 */
static inline uint32_t rd(const struct kvm_lapic *l, unsigned off)
{
	uint32_t v;
	if (!(off & 3))
		return __atomic_load_n((const uint32_t *)(const void *)(l->regs + off),
				       __ATOMIC_RELAXED);
	memcpy(&v, l->regs + off, 4);
	return v;
}

static inline void wr(struct kvm_lapic *l, unsigned off, uint32_t v)
{
	if (!(off & 3)) {
		__atomic_store_n((uint32_t *)(void *)(l->regs + off), v, __ATOMIC_RELAXED);
		return;
	}
	memcpy(l->regs + off, &v, 4);
}

static inline uint64_t base_of(const struct kvm_lapic *l)
{
	return __atomic_load_n(&l->base, __ATOMIC_RELAXED);
}

static inline void base_set(struct kvm_lapic *l, uint64_t v)
{
	__atomic_store_n(&l->base, v, __ATOMIC_RELAXED);
}

static inline bool x2apic_mode(const struct kvm_lapic *l)
{
	return (base_of(l) & BASE_X2APIC) != 0;
}

static inline bool hw_enabled(const struct kvm_lapic *l)
{
	return (base_of(l) & BASE_ENABLE) != 0;
}

static inline bool sw_enabled(const struct kvm_lapic *l)
{
	return (rd(l, APIC_SPIV) & 0x100) != 0;
}

static inline bool apic_enabled(const struct kvm_lapic *l)
{
	return hw_enabled(l) && sw_enabled(l);
}

/* highest set bit of the 256-bit register at off (stride 16), -1 if none */
static int vec_highest(const struct kvm_lapic *l, unsigned off)
{
	for (int w = 7; w >= 0; w--) {
		uint32_t v = rd(l, off + 16 * w);
		if (v)
			return w * 32 + 31 - __builtin_clz(v);
	}
	return -1;
}

static inline bool vec_test(const struct kvm_lapic *l, unsigned off, int v)
{
	return (rd(l, off + 16 * (v / 32)) >> (v % 32)) & 1;
}

static inline void vec_set(struct kvm_lapic *l, unsigned off, int v, bool on)
{
	uint32_t w = rd(l, off + 16 * (v / 32));
	if (on)
		w |= 1u << (v % 32);
	else
		w &= ~(1u << (v % 32));
	wr(l, off + 16 * (v / 32), w);
}

static uint32_t compute_ppr(const struct kvm_lapic *l)
{
	uint32_t tpr = rd(l, APIC_TASKPRI) & 0xff;
	int isr = vec_highest(l, APIC_ISR);
	uint32_t isrv = isr < 0 ? 0 : (uint32_t)isr;
	if ((tpr & 0xf0) >= (isrv & 0xf0))
		return tpr;
	return isrv & 0xf0;
}

static void update_ppr(struct kvm_lapic *l)
{
	wr(l, APIC_PROCPRI, compute_ppr(l));
}

static bool has_interrupt_locked(const struct kvm_lapic *l)
{
	if (!apic_enabled(l))
		return false;
	int irr = vec_highest(l, APIC_IRR);
	return irr >= 0 && ((uint32_t)irr & 0xf0) > (rd(l, APIC_PROCPRI) & 0xf0);
}

/* ---- creation, reset, base ---- */

static uint32_t x2apic_ldr(uint32_t id)
{
	return ((id >> 4) << 16) | (1u << (id & 0xf));
}

static void set_version(struct kvm_lapic *l)
{
	uint32_t v = 0x14 | (5u << 16); /* 6 LVT entries */
	/* directed EOI only with the split irqchip and an x2APIC guest (as KVM) */
	struct kvm_vcpu *vc = l->vcpu;
	if (vc->vm->split_irqchip && kvm_guest_has(vc, 1, 0, CPUID_ECX, 21))
		v |= 1u << 24;
	wr(l, APIC_LVR, v);
}

static void update_divide(struct kvm_lapic *l)
{
	uint32_t t = rd(l, APIC_TDCR) & 0xf;
	unsigned tmp = ((t & 3) | ((t & 8) >> 1)) + 1;
	l->divide = 1u << (tmp & 7);
}

static unsigned timer_mode(const struct kvm_lapic *l)
{
	return (rd(l, APIC_LVTT) >> 17) & 3;
}

void lapic_reset(struct kvm_lapic *l, bool init)
{
	struct kvm_vcpu *v = l->vcpu;

	pthread_mutex_lock(&l->lock);
	atomic_store(&l->deadline, 0);
	l->tscdeadline = 0;
	l->period_ns = 0;
	if (!init) {
		for (unsigned off = 0; off < sizeof(l->regs); off += 4)
			wr(l, off, 0);
		base_set(l, APIC_DEFAULT_BASE | BASE_ENABLE | (v->id == 0 ? BASE_BSP : 0));
		wr(l, APIC_ID, v->id << 24);
	}
	set_version(l);
	for (unsigned off = APIC_LVTT; off <= APIC_LVTERR; off += 16)
		wr(l, off, LVT_MASKED);
	/* KVM_X86_QUIRK_LINT0_REENABLED: the BSP's LINT0 is ExtINT, so the PIC reaches it */
	if (v->id == 0 && !(v->vm->quirks_disabled & KVM_X86_QUIRK_LINT0_REENABLED))
		wr(l, APIC_LVT0, DM_EXTINT << 8);
	wr(l, APIC_DFR, 0xffffffffu);
	wr(l, APIC_SPIV, 0xff);
	wr(l, APIC_TASKPRI, 0);
	if (!x2apic_mode(l))
		wr(l, APIC_LDR, 0);
	wr(l, APIC_ESR, 0);
	wr(l, APIC_ICR, 0);
	wr(l, APIC_ICR2, 0);
	wr(l, APIC_TDCR, 0);
	wr(l, APIC_TMICT, 0);
	for (int w = 0; w < 8; w++) {
		wr(l, APIC_IRR + 16 * w, 0);
		wr(l, APIC_ISR + 16 * w, 0);
		wr(l, APIC_TMR + 16 * w, 0);
	}
	update_divide(l);
	update_ppr(l);
	pthread_mutex_unlock(&l->lock);
	cpu_msr_set(v->cpu, MSR_IA32_APICBASE, base_of(l), true);
}

struct kvm_lapic *lapic_create(struct kvm_vcpu *v)
{
	struct kvm_lapic *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	l->vcpu = v;
	l->pending_eoi = -1;
	atomic_init(&l->sipi_vector, -1);
	lapic_reset(l, false);
	return l;
}

void lapic_destroy(struct kvm_lapic *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

uint64_t lapic_get_base(struct kvm_lapic *l)
{
	return base_of(l);
}

uint32_t lapic_id(struct kvm_lapic *l)
{
	uint32_t id = rd(l, APIC_ID);
	return x2apic_mode(l) ? id : id >> 24;
}

int lapic_set_base(struct kvm_lapic *l, uint64_t value, bool host)
{
	struct kvm_vcpu *v = l->vcpu;
	unsigned maxphy = 36;
	const struct kvm_cpuid_entry2 *e = kvm_cpuid_find(v, 0x80000008, 0);
	if (e && (e->eax & 0xff))
		maxphy = e->eax & 0xff;
	uint64_t rsvd = ~((1ull << maxphy) - 1) | 0x2ff;
	if (!kvm_guest_has(v, 1, 0, CPUID_ECX, 21))
		rsvd |= BASE_X2APIC;
	/* LAPIC modes: disabled, xAPIC, x2APIC; x2APIC-without-enable is invalid */
	bool invalid = (value & BASE_X2APIC) && !(value & BASE_ENABLE);
	if ((value & rsvd) || invalid)
		return -1;
	pthread_mutex_lock(&l->lock);
	uint64_t old = base_of(l);
	/*
	 * SDM Vol. 3A, 11.12.5: x2APIC -> xAPIC and disabled -> x2APIC are
	 * illegal transitions (#GP); the host may restore any valid mode
	 * (Linux kvm_set_apic_base).
	 */
	bool old_x2 = (old & BASE_X2APIC) && (old & BASE_ENABLE);
	bool new_x2 = (value & BASE_X2APIC) && (value & BASE_ENABLE);
	bool old_off = !(old & BASE_ENABLE);
	bool new_xapic = (value & BASE_ENABLE) && !(value & BASE_X2APIC);
	if (!host && ((old_x2 && new_xapic) || (old_off && new_x2))) {
		pthread_mutex_unlock(&l->lock);
		return -1;
	}
	base_set(l, value);
	if ((old ^ value) & BASE_ENABLE) {
		if (value & BASE_ENABLE)
			wr(l, APIC_ID, v->id << 24);
	}
	if (((old ^ value) & BASE_X2APIC) && (value & BASE_X2APIC)) {
		wr(l, APIC_ID, v->id);
		wr(l, APIC_LDR, x2apic_ldr(v->id));
	}
	pthread_mutex_unlock(&l->lock);
	cpu_msr_set(v->cpu, MSR_IA32_APICBASE, value, true);
	/* CPUID.1:EDX.APIC follows the enable bit (kvm_update_cpuid_runtime) */
	kvm_cpuid_update_apic_bit(v, (value & BASE_ENABLE) != 0);
	vcpu_notify_irq(v);
	return 0;
}

/*
 * Does the LAPIC's MMIO page claim gpa? The page follows IA32_APIC_BASE even
 * while the APIC is disabled or in x2APIC mode; then reads return all ones and
 * writes are dropped (Linux apic_mmio_read/write with the default
 * KVM_X86_QUIRK_LAPIC_MMIO_HOLE). With the quirk disabled the accesses go to
 * user space instead.
 */
bool lapic_xapic_mmio_enabled(struct kvm_lapic *l, uint64_t gpa)
{
	if ((gpa & BASE_ADDR) != (base_of(l) & BASE_ADDR))
		return false;
	if ((!hw_enabled(l) || x2apic_mode(l)) &&
	    (l->vcpu->vm->quirks_disabled & KVM_X86_QUIRK_LAPIC_MMIO_HOLE))
		return false;
	return true;
}

/* ---- timer ---- */

/* TMICT in ns, periodic periods no shorter than KVM's min_timer_period_us */
static void update_period(struct kvm_lapic *l)
{
	l->period_ns = (uint64_t)rd(l, APIC_TMICT) * l->divide;
	if (timer_mode(l) == TIMER_PERIODIC && l->period_ns && l->period_ns < MIN_PERIOD_NS)
		l->period_ns = MIN_PERIOD_NS;
}

/*
 * Start the one-shot/periodic timer (Linux set_target_expiration). A TMICT
 * write counts a full period. A restored or rescaled count (count_reg is
 * TMCCT) counts from there: 0 means a one-shot expires at once and a periodic
 * timer starts a new period (QEMU never saves TMCCT), more than TMICT counts a
 * period.
 */
static void timer_start(struct kvm_lapic *l, uint64_t now, bool from_tmict, uint32_t count)
{
	update_period(l);
	if (!l->period_ns || timer_mode(l) == 3 /* reserved: no timer, as in Linux */) {
		atomic_store(&l->deadline, 0);
		return;
	}
	uint64_t first = l->period_ns;
	if (!from_tmict) {
		first = (uint64_t)count * l->divide;
		if (!first)
			first = timer_mode(l) == TIMER_PERIODIC ? l->period_ns : 0;
		else if (first > l->period_ns)
			first = l->period_ns;
	}
	atomic_store(&l->deadline, now + first);
	service_deadline(l->vcpu->vm, now + first);
}

/*
 * TMCCT (Linux apic_get_tmcct): the time left to the deadline in bus cycles.
 * A periodic timer counts on through expiries its vCPU has not processed yet,
 * masked or not.
 */
static uint32_t timer_current_count(struct kvm_lapic *l, uint64_t now)
{
	uint64_t d = atomic_load(&l->deadline);
	uint32_t tmict = rd(l, APIC_TMICT);
	if (!d || timer_mode(l) == TIMER_TSCDEADLINE || !l->divide || !tmict || !l->period_ns)
		return 0;
	uint64_t left;
	if (d > now)
		left = d - now;
	else if (timer_mode(l) == TIMER_PERIODIC)
		left = l->period_ns - (now - d) % l->period_ns;
	else
		return 0;
	left /= l->divide;
	return left > tmict ? tmict : (uint32_t)left;
}

static void tscdeadline_arm(struct kvm_lapic *l, uint64_t now)
{
	struct kvm_vcpu *v = l->vcpu;
	if (!l->tscdeadline) {
		atomic_store(&l->deadline, 0);
		return;
	}
	uint64_t tsc_now = kvm_guest_tsc(v);
	uint64_t delta_ns = 0;
	if (l->tscdeadline > tsc_now)
		delta_ns = (uint64_t)(((unsigned __int128)(l->tscdeadline - tsc_now) * 1000000u) /
				      v->tsc_khz);
	atomic_store(&l->deadline, now + delta_ns + (delta_ns ? 0 : 1));
	service_deadline(v->vm, now + delta_ns);
}

uint64_t lapic_deadline(struct kvm_lapic *l)
{
	return atomic_load(&l->deadline);
}

/* Fire the timer if due. Called by the owning vCPU's thread. */
uint64_t lapic_check_timer(struct kvm_lapic *l, uint64_t now)
{
	uint64_t d = atomic_load(&l->deadline);
	bool fired = false;

	if (!d || now < d)
		return d;
	pthread_mutex_lock(&l->lock);
	d = atomic_load(&l->deadline);
	if (d && now >= d) {
		uint32_t lvtt = rd(l, APIC_LVTT);
		if (!(lvtt & LVT_MASKED) && apic_enabled(l)) {
			int vec = (int)(lvtt & LVT_VECTOR);
			vec_set(l, APIC_TMR, vec, false);
			vec_set(l, APIC_IRR, vec, true);
			fired = true;
		}
		if (timer_mode(l) == TIMER_PERIODIC && l->period_ns) {
			/* next period; ticks missed while nobody ran are coalesced */
			uint64_t next = d + l->period_ns;
			if (next <= now)
				next = now + l->period_ns - ((now - d) % l->period_ns);
			atomic_store(&l->deadline, next);
		} else {
			atomic_store(&l->deadline, 0);
			if (timer_mode(l) == TIMER_TSCDEADLINE)
				l->tscdeadline = 0;
		}
	}
	d = atomic_load(&l->deadline);
	pthread_mutex_unlock(&l->lock);
	if (fired)
		vcpu_notify_irq(l->vcpu);
	return d;
}

static void update_lvtt(struct kvm_lapic *l, uint32_t old, uint32_t val, uint64_t now)
{
	unsigned om = (old >> 17) & 3, nm = (val >> 17) & 3;
	if (om == nm)
		return;
	/* entering or leaving TSC-deadline mode stops the timer (Linux apic_update_lvtt) */
	if ((om == TIMER_TSCDEADLINE) != (nm == TIMER_TSCDEADLINE)) {
		wr(l, APIC_TMICT, 0);
		atomic_store(&l->deadline, 0);
		l->period_ns = 0;
		l->tscdeadline = 0;
		return;
	}
	/*
	 * One-shot <-> periodic: a running timer keeps its deadline and follows
	 * the new mode when it expires; an expired one-shot stays expired (count
	 * 0, no interrupts), as on hardware. The opt-in quirk restarts it.
	 */
	if (l->period_ns)
		update_period(l); /* a periodic timer has a minimum period */
	if (om == TIMER_ONESHOT && nm == TIMER_PERIODIC && !atomic_load(&l->deadline) &&
	    (l->vcpu->vm->softkvm_quirks & SOFTKVM_QUIRK_LAPIC_PERIODIC_RESTART) &&
	    rd(l, APIC_TMICT)) {
		wr(l, APIC_LVTT, val);
		timer_start(l, now, true, 0);
	}
}

/* ---- register access ---- */

static bool valid_reg(unsigned off, bool x2)
{
	switch (off) {
	case APIC_ID:
	case APIC_LVR:
	case APIC_TASKPRI:
	case APIC_PROCPRI:
	case APIC_LDR:
	case APIC_SPIV:
	case APIC_ESR:
	case APIC_ICR:
	case APIC_LVTT:
	case APIC_LVTTHMR:
	case APIC_LVTPC:
	case APIC_LVT0:
	case APIC_LVT1:
	case APIC_LVTERR:
	case APIC_TMICT:
	case APIC_TMCCT:
	case APIC_TDCR:
		return true;
	case APIC_ARBPRI:
	case APIC_DFR:
	case APIC_ICR2:
		return !x2;
	default:
		if (off >= APIC_ISR && off < APIC_ISR + 0x180 && !(off & 0xf))
			return true; /* ISR, TMR, IRR */
		return false;
	}
}

static uint32_t reg_read(struct kvm_lapic *l, unsigned off, uint64_t now)
{
	switch (off) {
	case APIC_ARBPRI:
		return 0;
	case APIC_TMCCT:
		return timer_current_count(l, now);
	case APIC_PROCPRI:
		return compute_ppr(l);
	default:
		return rd(l, off);
	}
}

static void send_ipi(struct kvm_lapic *l, uint32_t icr_lo, uint32_t dest)
{
	struct apic_irq irq = {
	    .vector = icr_lo & 0xff,
	    .delivery_mode = (icr_lo >> 8) & 7,
	    .dest_logical = (icr_lo >> 11) & 1,
	    .level = (icr_lo >> 14) & 1,
	    .trig_level = (icr_lo >> 15) & 1,
	    .shorthand = (icr_lo >> 18) & 3,
	    .dest_id = dest,
	};
	apic_deliver(l->vcpu->vm, l, &irq);
}

static void apic_eoi(struct kvm_lapic *l)
{
	int vec = vec_highest(l, APIC_ISR);
	if (vec < 0)
		return;
	vec_set(l, APIC_ISR, vec, false);
	update_ppr(l);
	if (l->vcpu->vm->split_irqchip) {
		/* the IOAPIC is in user space: after_write decides on KVM_EXIT_IOAPIC_EOI */
		l->pending_eoi = vec;
		return;
	}
	bool level = vec_test(l, APIC_TMR, vec);
	/* suppress EOI broadcast (directed EOI) */
	bool suppress = (rd(l, APIC_SPIV) & (1u << 12)) != 0;
	l->pending_eoi = level && !suppress ? vec : -1;
}

/* Write a register; l->lock held. Returns -1 for a #GP (x2APIC rules). */
static int reg_write(struct kvm_lapic *l, unsigned off, uint32_t val, uint64_t now)
{
	bool x2 = x2apic_mode(l);
	struct kvm_vcpu *v = l->vcpu;

	switch (off) {
	case APIC_ID:
		if (x2)
			return -1;
		wr(l, APIC_ID, val & 0xff000000u);
		break;
	case APIC_TASKPRI:
		wr(l, APIC_TASKPRI, val & 0xff);
		update_ppr(l);
		break;
	case APIC_EOI:
		if (x2 && val)
			return -1;
		apic_eoi(l);
		break;
	case APIC_LDR:
		if (x2)
			return -1;
		wr(l, APIC_LDR, val & 0xff000000u);
		break;
	case APIC_DFR:
		if (x2)
			return -1;
		wr(l, APIC_DFR, val | 0x0fffffffu);
		break;
	case APIC_SPIV: {
		uint32_t mask = 0x3ff;
		if (rd(l, APIC_LVR) & (1u << 24))
			mask |= 1u << 12;
		wr(l, APIC_SPIV, val & mask);
		if (!(val & 0x100)) {
			for (unsigned o = APIC_LVTT; o <= APIC_LVTERR; o += 16)
				wr(l, o, rd(l, o) | LVT_MASKED);
		}
		break;
	}
	case APIC_ICR:
		wr(l, APIC_ICR, val & ~LVT_PENDING);
		if (x2) /* the x2APIC MSR path writes ICR as one 64-bit value */
			break;
		l->pending_ipi = true;
		l->ipi_lo = val & ~LVT_PENDING;
		l->ipi_dest = rd(l, APIC_ICR2) >> 24;
		break;
	case APIC_ICR2:
		if (x2)
			return -1;
		wr(l, APIC_ICR2, val & 0xff000000u);
		break;
	case APIC_LVT0:
	case APIC_LVT1:
	case APIC_LVTT:
	case APIC_LVTTHMR:
	case APIC_LVTPC:
	case APIC_LVTERR: {
		/* no LVT CMCI: KVM without MCG_CMCI_P has 6 LVT entries */
		uint32_t mask = (off == APIC_LVT0 || off == APIC_LVT1) ? LINT_MASK
				: (off == APIC_LVTTHMR || off == APIC_LVTPC)
				    ? LVT_BASE_MASK | LVT_MODE
				    : LVT_BASE_MASK;
		if (off == APIC_LVTT)
			mask |= kvm_guest_has(v, 1, 0, CPUID_ECX, 24) ? (3u << 17) : (1u << 17);
		if (!sw_enabled(l))
			val |= LVT_MASKED;
		uint32_t old = rd(l, off);
		val &= mask;
		wr(l, off, val);
		if (off == APIC_LVTT)
			update_lvtt(l, old, val, now);
		break;
	}
	case APIC_TMICT:
		if (timer_mode(l) == TIMER_TSCDEADLINE)
			break;
		wr(l, APIC_TMICT, val);
		timer_start(l, now, true, 0);
		break;
	case APIC_TDCR: {
		uint32_t cnt = timer_current_count(l, now);
		wr(l, APIC_TDCR, val & 0xb);
		update_divide(l);
		if (atomic_load(&l->deadline))
			timer_start(l, now, false, cnt);
		break;
	}
	case APIC_ESR:
		if (x2 && val)
			return -1;
		wr(l, APIC_ESR, 0);
		break;
	case APIC_SELF_IPI:
		/* x2APIC only; bits 31:8 are reserved (#GP), Linux kvm_lapic_reg_write */
		if (!x2)
			return 0;
		if (val & ~0xffu)
			return -1;
		l->pending_ipi = true;
		l->ipi_lo = (val & 0xff) | (SH_SELF << 18);
		l->ipi_dest = 0;
		break;
	default:
		/* read-only or reserved: ignored in xAPIC mode, #GP in x2APIC mode */
		if (x2)
			return -1;
		break;
	}
	return 0;
}

/* Work that must not run under the LAPIC lock: IPIs and EOI broadcasts. */
static void after_write(struct kvm_lapic *l)
{
	if (l->pending_ipi) {
		l->pending_ipi = false;
		send_ipi(l, l->ipi_lo, l->ipi_dest);
	}
	if (l->pending_eoi >= 0) {
		int vec = l->pending_eoi;
		l->pending_eoi = -1;
		if (l->vcpu->vm->split_irqchip)
			kvm_split_eoi(l->vcpu, (uint8_t)vec);
		else
			kvm_ioapic_eoi_broadcast(l->vcpu, (uint8_t)vec);
	}
	vcpu_notify_irq(l->vcpu);
}

int lapic_mmio_read(struct kvm_lapic *l, uint64_t off, void *data, unsigned len)
{
	unsigned reg = (unsigned)(off & 0xff0), align = (unsigned)(off & 0xf);
	uint32_t v = 0;

	memset(data, 0, len);
	if (!hw_enabled(l) || x2apic_mode(l)) {
		memset(data, 0xff, len);
		return 0;
	}
	if (align + len > 4 || off >= 0x400)
		return 0;
	pthread_mutex_lock(&l->lock);
	if (valid_reg(reg, false))
		v = reg_read(l, reg, kvm_host_ns());
	pthread_mutex_unlock(&l->lock);
	if (reg == APIC_TASKPRI)
		kvm_tpr_accessed(l->vcpu, false);
	v >>= 8 * align;
	memcpy(data, &v, len);
	return 0;
}

int lapic_mmio_write(struct kvm_lapic *l, uint64_t off, const void *data, unsigned len)
{
	uint32_t v;

	/* only aligned 32-bit writes count; others are dropped, as KVM does */
	if (len != 4 || (off & 0xf) || off >= 0x400 || x2apic_mode(l) || !hw_enabled(l))
		return 0;
	memcpy(&v, data, 4);
	pthread_mutex_lock(&l->lock);
	reg_write(l, (unsigned)off, v, kvm_host_ns());
	pthread_mutex_unlock(&l->lock);
	if (off == APIC_TASKPRI)
		kvm_tpr_accessed(l->vcpu, true);
	after_write(l);
	return 0;
}

#define MSR_TSC_DEADLINE 0x6e0

int lapic_msr_read(struct kvm_lapic *l, uint32_t msr, uint64_t *val)
{
	if (msr == MSR_TSC_DEADLINE) {
		pthread_mutex_lock(&l->lock);
		*val = timer_mode(l) == TIMER_TSCDEADLINE && hw_enabled(l) ? l->tscdeadline : 0;
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	if (!x2apic_mode(l))
		return -1;
	unsigned reg = (msr - 0x800) << 4;
	if (reg == APIC_ICR2 || reg == APIC_DFR || reg == APIC_ARBPRI || reg == APIC_EOI ||
	    reg == APIC_SELF_IPI || !valid_reg(reg, true))
		return -1;
	pthread_mutex_lock(&l->lock);
	uint64_t v = reg_read(l, reg, kvm_host_ns());
	if (reg == APIC_ICR)
		v |= (uint64_t)rd(l, APIC_ICR2) << 32;
	pthread_mutex_unlock(&l->lock);
	*val = v;
	return 0;
}

int lapic_msr_write(struct kvm_lapic *l, uint32_t msr, uint64_t val)
{
	int r = 0;

	if (msr == MSR_TSC_DEADLINE) {
		pthread_mutex_lock(&l->lock);
		/* kvm_set_lapic_tscdeadline_msr: a hardware-enabled APIC in TSC-deadline mode */
		if (timer_mode(l) == TIMER_TSCDEADLINE && hw_enabled(l)) {
			l->tscdeadline = val;
			tscdeadline_arm(l, kvm_host_ns());
		}
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	if (!x2apic_mode(l))
		return -1;
	unsigned reg = (msr - 0x800) << 4;
	/* reserved bits of 32-bit registers, read-only registers: #GP */
	if (reg != APIC_ICR && (val >> 32))
		return -1;
	if (reg == APIC_ID || reg == APIC_LVR || reg == APIC_PROCPRI || reg == APIC_LDR ||
	    reg == APIC_TMCCT || reg == APIC_ICR2 || reg == APIC_DFR || reg == APIC_ARBPRI ||
	    (reg >= APIC_ISR && reg < APIC_ISR + 0x180))
		return -1;
	if (reg != APIC_EOI && reg != APIC_SELF_IPI && !valid_reg(reg, true))
		return -1;
	/* x2APIC ICR bits 31:20, 17:16 and 13 are reserved (Linux kvm_x2apic_icr_write) */
	if (reg == APIC_ICR && (val & 0xfff32000ull))
		return -1;
	pthread_mutex_lock(&l->lock);
	if (reg == APIC_ICR) {
		wr(l, APIC_ICR2, (uint32_t)(val >> 32));
		r = reg_write(l, APIC_ICR, (uint32_t)val, kvm_host_ns());
		l->pending_ipi = true;
		l->ipi_lo = (uint32_t)val & ~LVT_PENDING;
		l->ipi_dest = (uint32_t)(val >> 32);
	} else {
		r = reg_write(l, reg, (uint32_t)val, kvm_host_ns());
	}
	pthread_mutex_unlock(&l->lock);
	after_write(l);
	return r;
}

void lapic_set_tpr(struct kvm_lapic *l, unsigned cr8)
{
	pthread_mutex_lock(&l->lock);
	wr(l, APIC_TASKPRI, (cr8 & 15) << 4);
	update_ppr(l);
	pthread_mutex_unlock(&l->lock);
	vcpu_notify_irq(l->vcpu);
}

uint32_t lapic_vapic_word(struct kvm_lapic *l)
{
	pthread_mutex_lock(&l->lock);
	uint32_t tpr = rd(l, APIC_TASKPRI) & 0xff;
	int isr = vec_highest(l, APIC_ISR), irr = vec_highest(l, APIC_IRR);
	pthread_mutex_unlock(&l->lock);
	uint32_t isrv = isr < 0 ? 0 : (uint32_t)isr & 0xf0;
	uint32_t irrv = irr < 0 ? 0 : (uint32_t)irr;
	return tpr | (isrv << 8) | (irrv << 24);
}

unsigned lapic_get_tpr(struct kvm_lapic *l)
{
	return (rd(l, APIC_TASKPRI) >> 4) & 15;
}

/* ---- interrupt acceptance and acknowledge ---- */

bool lapic_accept(struct kvm_lapic *l, const struct apic_irq *irq)
{
	struct kvm_vcpu *v = l->vcpu;
	bool ok = false;

	switch (irq->delivery_mode) {
	case DM_FIXED:
	case DM_LOWEST:
		if (irq->trig_level && !irq->level)
			return false; /* a level de-assert message carries nothing
					 (__apic_accept_irq) */
		pthread_mutex_lock(&l->lock);
		if (apic_enabled(l)) {
			vec_set(l, APIC_TMR, irq->vector, irq->trig_level);
			vec_set(l, APIC_IRR, irq->vector, true);
			ok = true;
		}
		pthread_mutex_unlock(&l->lock);
		if (ok)
			vcpu_notify_irq(v);
		return ok;
	case DM_NMI:
		cpu_inject_nmi(v->cpu);
		vcpu_wake(v);
		return true;
	case DM_INIT:
		if (irq->trig_level && !irq->level)
			return false; /* INIT level de-assert */
		atomic_store(&l->init_pending, true);
		kvm_vcpu_kick(v);
		vcpu_wake(v);
		return true;
	case DM_SIPI:
		atomic_store(&l->sipi_vector, irq->vector);
		kvm_vcpu_kick(v);
		vcpu_wake(v);
		return true;
	case DM_REMRD:
		/* KVM takes remote read as a paravirtual unhalt (KVM_HC_KICK_CPU) */
		atomic_store(&v->pv_unhalted, true);
		vcpu_wake(v);
		return true;
	default: /* SMI (no SMM), ExtINT through an IPI: dropped */
		return false;
	}
}

bool lapic_has_interrupt(struct kvm_lapic *l)
{
	pthread_mutex_lock(&l->lock);
	bool r = has_interrupt_locked(l);
	pthread_mutex_unlock(&l->lock);
	return r;
}

int lapic_ack(struct kvm_lapic *l)
{
	int vec = -1;
	pthread_mutex_lock(&l->lock);
	if (has_interrupt_locked(l)) {
		vec = vec_highest(l, APIC_IRR);
		vec_set(l, APIC_IRR, vec, false);
		vec_set(l, APIC_ISR, vec, true);
		update_ppr(l);
	}
	pthread_mutex_unlock(&l->lock);
	return vec;
}

bool lapic_accepts_pic(struct kvm_lapic *l)
{
	uint32_t lvt0 = rd(l, APIC_LVT0);
	if (!hw_enabled(l))
		return true;
	return !(lvt0 & LVT_MASKED) && ((lvt0 >> 8) & 7) == DM_EXTINT;
}

void lapic_lint(struct kvm_lapic *l, int pin, bool level)
{
	uint32_t lvt = rd(l, pin ? APIC_LVT1 : APIC_LVT0);
	/* kvm_apic_local_deliver: a hardware-enabled APIC with the entry unmasked */
	if (!level || (lvt & LVT_MASKED) || !hw_enabled(l))
		return;
	struct apic_irq irq = {.vector = lvt & 0xff,
			       .delivery_mode = (lvt >> 8) & 7,
			       .trig_level = (lvt & LVT_LEVEL) != 0,
			       .level = true};
	if (irq.delivery_mode == DM_EXTINT)
		return; /* the PIC's output, taken through intr_ack */
	lapic_accept(l, &irq);
}

bool lapic_init_pending(struct kvm_lapic *l)
{
	return atomic_load(&l->init_pending);
}

bool lapic_take_init(struct kvm_lapic *l)
{
	return atomic_exchange(&l->init_pending, false);
}

int lapic_take_sipi(struct kvm_lapic *l)
{
	return atomic_exchange(&l->sipi_vector, -1);
}

/* ---- destinations (kvm_apic_match_dest) ---- */

/*
 * The destination as target t sees it (Linux kvm_apic_mda): without
 * KVM_CAP_X2APIC_API an IOAPIC or MSI message to 0xff is a broadcast for
 * x2APIC-mode targets too.
 */
static uint32_t message_dest(const struct kvm_lapic *t, uint32_t dest, bool ipi)
{
	if (!ipi && dest == 0xff && x2apic_mode(t))
		return 0xffffffffu;
	return dest;
}

static bool is_broadcast(const struct kvm_lapic *t, uint32_t mda)
{
	return mda == (x2apic_mode(t) ? 0xffffffffu : 0xffu);
}

static bool match_physical(struct kvm_lapic *t, uint32_t mda)
{
	if (is_broadcast(t, mda))
		return true;
	/* x2APIC IDs are the vCPU ids; an xAPIC-mode APIC answers to its x2APIC ID
	 * for destinations above 0xff (KVM's hotplug rule) */
	if (x2apic_mode(t) || mda > 0xff)
		return mda == t->vcpu->id;
	return mda == rd(t, APIC_ID) >> 24;
}

static bool match_logical(struct kvm_lapic *t, uint32_t mda)
{
	uint32_t ldr = rd(t, APIC_LDR);

	if (is_broadcast(t, mda))
		return true;
	if (x2apic_mode(t))
		return (ldr >> 16) == (mda >> 16) && (ldr & mda & 0xffff) != 0;
	uint32_t lid = ldr >> 24;
	switch (rd(t, APIC_DFR)) {
	case 0xffffffffu: /* flat */
		return (lid & mda) != 0;
	case 0x0fffffffu: /* cluster */
		return (lid >> 4) == (mda >> 4) && (lid & mda & 0xf) != 0;
	default:
		return false;
	}
}

static bool match_dest(struct kvm_lapic *t, uint32_t dest, bool logical, bool ipi)
{
	uint32_t mda = message_dest(t, dest, ipi);
	return logical ? match_logical(t, mda) : match_physical(t, mda);
}

bool lapic_match_dest(struct kvm_lapic *t, uint32_t dest, bool logical)
{
	return match_dest(t, dest, logical, false);
}

/*
 * Deliver a message to the matching APICs (Linux kvm_irq_delivery_to_apic).
 * A lowest-priority message (or an MSI with the redirection hint) goes to
 * the software-enabled candidate with the lowest TPR class; sent to the
 * physical broadcast 0xff it becomes a fixed broadcast, as in KVM.
 */
int apic_deliver(struct kvm_vm *vm, struct kvm_lapic *src, const struct apic_irq *irq)
{
	struct kvm_lapic *targets[SOFTKVM_MAX_VCPUS];
	struct apic_irq m = *irq;
	unsigned n = 0;
	bool lowest = m.delivery_mode == DM_LOWEST || m.redir_hint;

	if (lowest && m.shorthand == SH_NONE && !m.dest_logical && m.dest_id == 0xff &&
	    !(src && x2apic_mode(src))) {
		m.delivery_mode = DM_FIXED;
		lowest = m.redir_hint;
	}
	pthread_mutex_lock(&vm->lock);
	for (unsigned k = 0; k < vm->nvcpus; k++) {
		struct kvm_lapic *t = vm->vcpus[k]->lapic;
		if (!t || !hw_enabled(t))
			continue;
		bool hit;
		switch (m.shorthand) {
		case SH_SELF:
			hit = t == src;
			break;
		case SH_ALL:
			hit = true;
			break;
		case SH_OTHERS:
			hit = t != src;
			break;
		default:
			hit = match_dest(t, m.dest_id, m.dest_logical, src != NULL);
		}
		if (hit)
			targets[n++] = t;
	}
	pthread_mutex_unlock(&vm->lock);
	if (!n)
		return -1;
	if (lowest) {
		/* candidates are software-enabled APICs; the lowest TPR class wins, the
		 * first on a tie */
		int best = -1;
		for (unsigned k = 0; k < n; k++) {
			if (!sw_enabled(targets[k]))
				continue;
			if (best < 0 || (rd(targets[k], APIC_TASKPRI) & 0xf0) <
					    (rd(targets[best], APIC_TASKPRI) & 0xf0))
				best = (int)k;
		}
		if (best < 0)
			return -1;
		targets[0] = targets[best];
		n = 1;
	}
	int accepted = 0;
	for (unsigned k = 0; k < n; k++)
		accepted += lapic_accept(targets[k], &m);
	return accepted;
}

/* ---- KVM_GET_LAPIC / KVM_SET_LAPIC ---- */

void lapic_get_state(struct kvm_lapic *l, void *out)
{
	uint8_t *regs = out;
	uint64_t now = kvm_host_ns();

	pthread_mutex_lock(&l->lock);
	for (unsigned off = 0; off < 1024; off += 4) {
		uint32_t r = rd(l, off);
		memcpy(regs + off, &r, 4);
	}
	uint32_t cnt = timer_current_count(l, now), ppr = compute_ppr(l);
	memcpy(regs + APIC_TMCCT, &cnt, 4);
	memcpy(regs + APIC_PROCPRI, &ppr, 4);
	if (x2apic_mode(l)) {
		/* without KVM_CAP_X2APIC_API the x2APIC ID is reported shifted */
		uint32_t id = rd(l, APIC_ID) << 24;
		memcpy(regs + APIC_ID, &id, 4);
	}
	pthread_mutex_unlock(&l->lock);
}

/*
 * KVM_SET_LAPIC (Linux kvm_apic_set_state): every register is taken as
 * given except the version, PPR and TMCCT; in x2APIC mode the ID comes
 * shifted (no KVM_CAP_X2APIC_API) and the LDR follows from it; IRR and ISR
 * are rescanned; the timer restarts from the restored TMCCT (0, as QEMU
 * saves it: a one-shot timer expires at once, a periodic one starts a new
 * period); a TSC-deadline timer keeps its IA32_TSC_DEADLINE when the mode
 * did not change, and loses it when it did (user space writes the MSR
 * after KVM_SET_LAPIC).
 */
int lapic_set_state(struct kvm_lapic *l, const void *in)
{
	uint8_t regs[1024];
	uint64_t now = kvm_host_ns();

	memcpy(regs, in, 1024);
	pthread_mutex_lock(&l->lock);
	unsigned old_mode = timer_mode(l);
	if (x2apic_mode(l)) {
		uint32_t id;
		memcpy(&id, regs + APIC_ID, 4);
		id >>= 24;
		memcpy(regs + APIC_ID, &id, 4);
		uint32_t ldr = x2apic_ldr(id);
		memcpy(regs + APIC_LDR, &ldr, 4);
	}
	for (unsigned off = 0; off < 1024; off += 4) {
		uint32_t r;
		memcpy(&r, regs + off, 4);
		wr(l, off, r);
	}
	set_version(l);
	update_ppr(l);
	atomic_store(&l->deadline, 0);
	if ((old_mode == TIMER_TSCDEADLINE) != (timer_mode(l) == TIMER_TSCDEADLINE)) {
		/* apic_update_lvtt: a mode change stops the timer */
		wr(l, APIC_TMICT, 0);
		l->period_ns = 0;
		l->tscdeadline = 0;
	}
	update_divide(l);
	if (timer_mode(l) == TIMER_TSCDEADLINE) {
		if (hw_enabled(l))
			tscdeadline_arm(l, now);
	} else {
		timer_start(l, now, false, rd(l, APIC_TMCCT));
	}
	wr(l, APIC_TMCCT, 0);
	pthread_mutex_unlock(&l->lock);
	vcpu_notify_irq(l->vcpu);
	return 0;
}
