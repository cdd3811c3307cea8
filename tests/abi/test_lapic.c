/* SPDX-License-Identifier: MIT */
/*
 * The in-kernel LAPIC through the ABI, as QEMU drives it (Linux 6.1
 * semantics): KVM_SIGNAL_MSI, MSI routes and irqfds with addresses as QEMU
 * passes them (the offset in the 0xfee00000 window), KVM_NMI counting
 * (process_nmi: one NMI in service and one more latched), KVM_SET_LAPIC
 * restoring a running timer the way QEMU's loadvm and incoming migration do
 * (TMCCT = 0: a periodic timer keeps ticking, a one-shot fires at once;
 * TMCCT > TMICT counts one period), TSC-deadline state across KVM_SET_LAPIC,
 * the x2APIC ID and LDR rules, IRR rescans and the LVT count.
 * argv[1]: the guest binary (guest_lapic.asm).
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <stdbool.h>
#include <time.h>

#include "kvmtest.h"

#define VEC_TIMER 0x40
#define VEC_MSI	  0x50
#define VEC_NMI	  0x02

#define APIC_ID	     0x20
#define APIC_LVR     0x30
#define APIC_PPR     0xa0
#define APIC_LDR     0xd0
#define APIC_IRR     0x200
#define APIC_LVTCMCI 0x2f0
#define APIC_LVTT    0x320
#define APIC_TMICT   0x380
#define APIC_TMCCT   0x390
#define APIC_TDCR    0x3e0

#define LVT_MASKED     (1u << 16)
#define TIMER_PERIODIC (1u << 17)
#define TIMER_TSCDL    (2u << 17)

#define MSR_IA32_TSC	      0x10
#define MSR_IA32_APICBASE     0x1b
#define MSR_IA32_TSC_DEADLINE 0x6e0

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t reg(const struct kvm_lapic_state *s, unsigned off)
{
	uint32_t v;
	memcpy(&v, s->regs + off, 4);
	return v;
}

static void set_reg(struct kvm_lapic_state *s, unsigned off, uint32_t v)
{
	memcpy(s->regs + off, &v, 4);
}

/* ---- a watchdog that ends a blocked KVM_RUN with a signal ---- */

struct watchdog {
	pthread_t target, thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ms;
	int done;
};

static void on_usr1(int s)
{
	(void)s;
}

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += w->ms / 1000;
	ts.tv_nsec += (long)(w->ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&w->lock);
	while (!w->done) {
		if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) != 0) {
			/* timed out: interrupt KVM_RUN until the runner notices */
			while (!w->done) {
				pthread_kill(w->target, SIGUSR1);
				pthread_mutex_unlock(&w->lock);
				usleep(2000);
				pthread_mutex_lock(&w->lock);
			}
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/*
 * Run until the guest reports an interrupt on port 0x11: its vector, or -1
 * if none came within ms milliseconds (KVM_RUN ended by the watchdog).
 */
static int next_irq(struct kt_vm *t, unsigned ms)
{
	struct watchdog w = {.target = pthread_self(), .ms = ms};
	int vec = -1;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	pthread_create(&w.thread, NULL, watchdog_main, &w);
	for (;;) {
		errno = 0;
		int r = KT_IOCTL(t->vcpu, KVM_RUN, 0);
		if (r < 0) {
			if (errno != EINTR)
				fprintf(stderr, "KVM_RUN: %s\n", strerror(errno));
			break;
		}
		if (t->run->exit_reason != KVM_EXIT_IO) {
			fprintf(stderr, "unexpected exit %u\n", t->run->exit_reason);
			break;
		}
		if (t->run->io.port == 0x11) {
			vec = *((uint8_t *)t->run + t->run->io.data_offset);
			break;
		}
	}
	pthread_mutex_lock(&w.lock);
	w.done = 1;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	pthread_join(w.thread, NULL);
	/* a signal sent just before `done` may still be pending: let it end here */
	if (vec >= 0) {
		t->run->immediate_exit = 1;
		KT_IOCTL(t->vcpu, KVM_RUN, 0);
		t->run->immediate_exit = 0;
	}
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return vec;
}

/* count the interrupts of vector vec until none comes for quiet_ms (others are errors) */
static unsigned count_irqs(struct kt_vm *t, int vec, unsigned quiet_ms)
{
	unsigned n = 0;
	for (int v; (v = next_irq(t, quiet_ms)) >= 0; n++)
		KT_EQ(v, vec);
	return n;
}

/*
 * Wait for n + 1 interrupts of vector vec (3 s at most): the ns from the
 * first to the last, 0 if they did not all come.
 */
static uint64_t time_ticks(struct kt_vm *t, int vec, unsigned n)
{
	uint64_t t0 = 0;
	for (unsigned k = 0; k <= n; k++) {
		int v = next_irq(t, 3000);
		if (v < 0)
			return 0;
		KT_EQ(v, vec);
		if (!k)
			t0 = now_ns();
	}
	return now_ns() - t0;
}

static void create_irqchip(struct kt_vm *t)
{
	KT_EQ(KT_IOCTL(t->vm, KVM_CREATE_IRQCHIP, 0), 0);
}

/* the supported CPUID (TSC deadline, x2APIC) as the vCPU's */
static void set_supported_cpuid(struct kt_vm *t, int vcpu)
{
	struct {
		struct kvm_cpuid2 h;
		struct kvm_cpuid_entry2 e[100];
	} c = {.h.nent = 100};
	KT_EQ(KT_IOCTL(t->kvm, KVM_GET_SUPPORTED_CPUID, &c), 0);
	KT_EQ(KT_IOCTL(vcpu, KVM_SET_CPUID2, &c), 0);
}

/* a VM with the in-kernel irqchip whose guest has reached its idle loop */
static int guest_start(struct kt_vm *t, const char *guest, bool cpuid)
{
	if (kt_vm_create_setup(t, 1 << 20, create_irqchip))
		return -1;
	if (cpuid)
		set_supported_cpuid(t, t->vcpu);
	if (!kt_load_guest(t, guest))
		return -1;
	kt_flat32(t->vcpu, 0x1000, 0x8000);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	KT_EQ(t->run->exit_reason, KVM_EXIT_IO);
	KT_EQ(t->run->io.port, 0x10);
	return 0;
}

static int signal_msi(struct kt_vm *t, uint32_t lo, uint32_t hi, uint32_t data)
{
	struct kvm_msi m = {.address_lo = lo, .address_hi = hi, .data = data};
	return KT_IOCTL(t->vm, KVM_SIGNAL_MSI, &m);
}

/* ---- MSIs ---- */

static void test_msi(const char *guest)
{
	struct kt_vm t;
	if (guest_start(&t, guest, false))
		return;

	/* QEMU's APIC MSI region passes the offset inside its 0xfee00000 window */
	KT_EQ(signal_msi(&t, 0, 0, VEC_MSI), 1);
	KT_EQ(next_irq(&t, 2000), VEC_MSI);
	KT_EQ(signal_msi(&t, 0xfee00000, 0, VEC_MSI), 1);
	KT_EQ(next_irq(&t, 2000), VEC_MSI);
	/* address_hi only matters with KVM_CAP_X2APIC_API */
	KT_EQ(signal_msi(&t, 0, 1, VEC_MSI), 1);
	KT_EQ(next_irq(&t, 2000), VEC_MSI);
	/* destination APIC 1: nobody */
	KT_EQ(signal_msi(&t, 0x1000, 0, VEC_MSI), 0);
	KT_EQ(next_irq(&t, 50), -1);
	/* logical destination 1 (flat model, LDR 0): nobody */
	KT_EQ(signal_msi(&t, 0x1004, 0, VEC_MSI), 0);
	KT_EQ(next_irq(&t, 50), -1);

	/* an MSI route with the same address, raised by KVM_IRQ_LINE and by an irqfd */
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[1];
	} rt = {.r.nr = 1};
	rt.e[0].gsi = 30;
	rt.e[0].type = KVM_IRQ_ROUTING_MSI;
	rt.e[0].u.msi.address_lo = 0;
	rt.e[0].u.msi.data = VEC_MSI;
	KT_EQ(KT_IOCTL(t.vm, KVM_SET_GSI_ROUTING, &rt), 0);
	struct kvm_irq_level lvl = {.irq = 30, .level = 1};
	KT_EQ(KT_IOCTL(t.vm, KVM_IRQ_LINE, &lvl), 0);
	KT_EQ(next_irq(&t, 2000), VEC_MSI);
	int efd = eventfd(0, EFD_CLOEXEC);
	struct kvm_irqfd irqfd = {.fd = (uint32_t)efd, .gsi = 30};
	KT_EQ(KT_IOCTL(t.vm, KVM_IRQFD, &irqfd), 0);
	uint64_t one = 1;
	KT_EQ(write(efd, &one, 8), 8);
	KT_EQ(next_irq(&t, 2000), VEC_MSI);
	irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
	KT_EQ(KT_IOCTL(t.vm, KVM_IRQFD, &irqfd), 0);
	close(efd);
	kt_vm_destroy(&t);
}

/* ---- NMIs ---- */

static void test_nmi(const char *guest)
{
	struct kt_vm t;
	if (guest_start(&t, guest, false))
		return;

	/* two NMIs before the vCPU runs: one is delivered, the other latched behind it */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_NMI, 0), 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_NMI, 0), 0);
	struct kvm_vcpu_events ev;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_VCPU_EVENTS, &ev), 0);
	KT_EQ(ev.nmi.pending, 1);
	KT_EQ(ev.nmi.masked, 0);
	KT_EQ(count_irqs(&t, VEC_NMI, 500), 2);

	/* three: still two */
	for (int k = 0; k < 3; k++)
		KT_EQ(KT_IOCTL(t.vcpu, KVM_NMI, 0), 0);
	KT_EQ(count_irqs(&t, VEC_NMI, 500), 2);

	/* three while the handler runs (NMIs blocked): one more after its IRET */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_NMI, 0), 0);
	KT_EQ(next_irq(&t, 2000), VEC_NMI);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_VCPU_EVENTS, &ev), 0);
	KT_EQ(ev.nmi.masked, 1);
	KT_EQ(ev.nmi.pending, 0);
	for (int k = 0; k < 3; k++)
		KT_EQ(KT_IOCTL(t.vcpu, KVM_NMI, 0), 0);
	KT_EQ(count_irqs(&t, VEC_NMI, 500), 1);
	kt_vm_destroy(&t);
}

/*
 * An NMI sent from another thread while the vCPU finishes taking an
 * interrupt must not be lost: an MSI and an NMI MSI with a varying gap to a
 * vCPU idling in sti; hlt, until both handlers counted, for up to 2 s. (The
 * processor cleared its event bits after checking for new work, so an NMI
 * landing in between left the vCPU halted with the NMI pending: before the
 * fix this failed in about 2 runs out of 5.)
 */
struct runner {
	struct kt_vm *t;
	pthread_t thread;
	volatile int stop;
};

static void *run_quiet(void *arg)
{
	struct runner *r = arg;
	while (!r->stop) {
		errno = 0;
		int ret = KT_IOCTL(r->t->vcpu, KVM_RUN, 0);
		if (ret < 0 && errno != EINTR)
			break;
	}
	return NULL;
}

/*
 * Rounds of an MSI and an NMI MSI at most gap_max loop iterations apart, for
 * up to 2 s: the rounds done; *lost is set if one never arrived.
 */
static unsigned nmi_race_rounds(struct kt_vm *t, unsigned max_rounds, uint32_t gap_max, bool *lost)
{
	volatile uint32_t *n_msi = (uint32_t *)(t->mem + 0x3008),
			  *n_nmi = (uint32_t *)(t->mem + 0x300c);
	uint32_t seed = 12345;
	uint64_t end = now_ns() + 2000000000ull;
	unsigned rounds = 0;

	while (rounds < max_rounds && now_ns() < end) {
		uint32_t m0 = __atomic_load_n(n_msi, __ATOMIC_SEQ_CST);
		uint32_t k0 = __atomic_load_n(n_nmi, __ATOMIC_SEQ_CST);
		KT_EQ(signal_msi(t, 0xfee00000, 0, VEC_MSI), 1);
		seed = seed * 1103515245u + 12345u;
		for (volatile uint32_t d = (seed >> 16) % gap_max; d; d--)
			;
		KT_EQ(signal_msi(t, 0xfee00000, 0, 0x400 /* NMI */), 1);
		uint64_t t0 = now_ns(), t1;
		while ((__atomic_load_n(n_msi, __ATOMIC_SEQ_CST) == m0 ||
			__atomic_load_n(n_nmi, __ATOMIC_SEQ_CST) == k0) &&
		       (t1 = now_ns()) - t0 < 1000000000ull) {
			if (t1 - t0 > 50000)
				sched_yield(); /* spin briefly, then leave the CPU to the vCPU */
		}
		if (__atomic_load_n(n_nmi, __ATOMIC_SEQ_CST) == k0 ||
		    __atomic_load_n(n_msi, __ATOMIC_SEQ_CST) == m0) {
			fprintf(stderr, "round %u: the NMI or the interrupt never came\n", rounds);
			*lost = true;
			break;
		}
		rounds++;
	}
	return rounds;
}

static void test_nmi_race(const char *guest)
{
	struct kt_vm t;
	if (guest_start(&t, guest, false))
		return;
	t.mem[0x3000] = 1; /* quiet: count, no exits */
	struct runner r = {.t = &t};
	pthread_create(&r.thread, NULL, run_quiet, &r);

	bool lost = false;
	unsigned rounds = nmi_race_rounds(&t, 100000, 4000, &lost);
	printf("MSI + NMI MSI from another thread to a halting vCPU: %u rounds\n", rounds);
	KT_CHECK(!lost);
	KT_CHECK(rounds >= 100);
	r.stop = 1;
	for (int k = 0; k < 5000; k++) {
		if (pthread_tryjoin_np(r.thread, NULL) == 0)
			break;
		pthread_kill(r.thread, SIGUSR1);
		usleep(1000);
	}
	kt_vm_destroy(&t);
}

/* ---- KVM_SET_LAPIC ---- */

/* the state QEMU's kvm_put_apic_state() writes: no TMCCT, PPR or version */
static void qemu_style(struct kvm_lapic_state *s)
{
	set_reg(s, APIC_LVR, 0);
	set_reg(s, APIC_PPR, 0);
	set_reg(s, APIC_TMCCT, 0);
}

static void set_timer(struct kt_vm *t, uint32_t lvtt, uint32_t tmict, uint32_t tmcct)
{
	struct kvm_lapic_state s;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_LAPIC, &s), 0);
	set_reg(&s, APIC_TDCR, 0xb); /* divide by 1: TMICT counts ns */
	set_reg(&s, APIC_LVTT, lvtt);
	set_reg(&s, APIC_TMICT, tmict);
	set_reg(&s, APIC_TMCCT, tmcct);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_LAPIC, &s), 0);
}

static void test_restore_timer(const char *guest)
{
	struct kt_vm a, b;
	if (guest_start(&a, guest, false))
		return;

	/* a guest whose periodic timer ticks every 5 ms */
	set_timer(&a, TIMER_PERIODIC | VEC_TIMER, 5000000, 0);
	uint64_t ns = time_ticks(&a, VEC_TIMER, 5);
	printf("periodic 5 ms: 5 periods took %.1f ms\n", (double)ns / 1e6);
	KT_CHECK(ns >= 10000000ull); /* ticks came, and not in a storm */

	/* save it as QEMU does and restore it into a new VM (incoming migration) */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_lapic_state ls;
	KT_EQ(KT_IOCTL(a.vcpu, KVM_GET_REGS, &regs), 0);
	KT_EQ(KT_IOCTL(a.vcpu, KVM_GET_SREGS, &sregs), 0);
	KT_EQ(KT_IOCTL(a.vcpu, KVM_GET_LAPIC, &ls), 0);
	uint32_t tmcct = reg(&ls, APIC_TMCCT);
	KT_CHECK(tmcct > 0 && tmcct <= 5000000);
	qemu_style(&ls);
	KT_EQ(kt_vm_create_setup(&b, 1 << 20, create_irqchip), 0);
	memcpy(b.mem, a.mem, 1 << 20);
	KT_EQ(KT_IOCTL(b.vcpu, KVM_SET_SREGS, &sregs), 0);
	KT_EQ(KT_IOCTL(b.vcpu, KVM_SET_REGS, &regs), 0);
	KT_EQ(KT_IOCTL(b.vcpu, KVM_SET_LAPIC, &ls), 0);
	struct kvm_lapic_state got;
	KT_EQ(KT_IOCTL(b.vcpu, KVM_GET_LAPIC, &got), 0);
	KT_EQ(reg(&got, APIC_LVR), 0x50014); /* the version is KVM's, not the state's */
	KT_EQ(reg(&got, APIC_TMICT), 5000000);
	KT_CHECK(reg(&got, APIC_TMCCT) > 0); /* a new period runs */
	ns = time_ticks(&b, VEC_TIMER, 5);
	printf("restored with TMCCT = 0: 5 periods took %.1f ms\n", (double)ns / 1e6);
	KT_CHECK(ns >= 10000000ull); /* ticks came, and not in a storm */
	kt_vm_destroy(&a);

	/* loadvm into the same vCPU: a one-shot timer restored with TMCCT = 0 fires at once */
	set_timer(&b, VEC_TIMER, 1000000000, 0);
	uint64_t t0 = now_ns();
	KT_EQ(next_irq(&b, 900), VEC_TIMER);
	printf("one-shot 1 s restored with TMCCT = 0: fired after %.1f ms\n",
	       (double)(now_ns() - t0) / 1e6);
	KT_EQ(next_irq(&b, 100), -1); /* once */
	KT_EQ(KT_IOCTL(b.vcpu, KVM_GET_LAPIC, &got), 0);
	KT_EQ(reg(&got, APIC_TMCCT), 0);

	/* TMCCT above TMICT counts one period (20 ms), not 4 s */
	set_timer(&b, VEC_TIMER, 20000000, 0xffffffffu);
	KT_EQ(KT_IOCTL(b.vcpu, KVM_GET_LAPIC, &got), 0);
	KT_CHECK(reg(&got, APIC_TMCCT) <= 20000000);
	KT_EQ(next_irq(&b, 1000), VEC_TIMER);

	/* a restored TMCCT is where the count goes on from */
	set_timer(&b, VEC_TIMER, 1000000000, 30000000);
	KT_EQ(KT_IOCTL(b.vcpu, KVM_GET_LAPIC, &got), 0);
	KT_CHECK(reg(&got, APIC_TMCCT) <= 30000000 && reg(&got, APIC_TMCCT) > 0);
	KT_EQ(next_irq(&b, 900), VEC_TIMER);

	/* a masked periodic timer keeps counting through its expiries */
	set_timer(&b, LVT_MASKED | TIMER_PERIODIC | VEC_TIMER, 1000000, 0);
	bool nonzero = true;
	for (int k = 0; k < 20; k++) {
		KT_EQ(KT_IOCTL(b.vcpu, KVM_GET_LAPIC, &got), 0);
		uint32_t c = reg(&got, APIC_TMCCT);
		nonzero &= c > 0 && c <= 1000000;
		usleep(700);
	}
	KT_CHECK(nonzero);
	KT_EQ(next_irq(&b, 30), -1);
	set_timer(&b, LVT_MASKED | VEC_TIMER, 0, 0);
	kt_vm_destroy(&b);
}

static int set_msr(int vcpu, uint32_t index, uint64_t value)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e = {.index = index, .data = value}};
	return KT_IOCTL(vcpu, KVM_SET_MSRS, &m);
}

static uint64_t get_msr(int vcpu, uint32_t index)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e = {.index = index}};
	KT_EQ(KT_IOCTL(vcpu, KVM_GET_MSRS, &m), 1);
	return m.e.data;
}

static void test_restore_tscdeadline(const char *guest)
{
	struct kt_vm t;
	if (guest_start(&t, guest, true))
		return;
	uint64_t khz = (uint64_t)KT_IOCTL(t.vcpu, KVM_GET_TSC_KHZ, 0);
	KT_CHECK(khz > 0);

	/* as QEMU restores it: KVM_SET_LAPIC in TSC-deadline mode, then the MSR */
	set_timer(&t, TIMER_TSCDL | VEC_TIMER, 0, 0);
	KT_EQ(set_msr(t.vcpu, MSR_IA32_TSC_DEADLINE, get_msr(t.vcpu, MSR_IA32_TSC) + khz * 20), 1);
	KT_EQ(next_irq(&t, 1000), VEC_TIMER);
	KT_EQ(get_msr(t.vcpu, MSR_IA32_TSC_DEADLINE), 0); /* disarmed once it fired */

	/* an armed deadline survives KVM_SET_LAPIC when the mode stays */
	uint64_t dl = get_msr(t.vcpu, MSR_IA32_TSC) + khz * 30;
	KT_EQ(set_msr(t.vcpu, MSR_IA32_TSC_DEADLINE, dl), 1);
	struct kvm_lapic_state s;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_LAPIC, &s), 0);
	KT_EQ(reg(&s, APIC_TMCCT), 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_LAPIC, &s), 0);
	KT_EQ(get_msr(t.vcpu, MSR_IA32_TSC_DEADLINE), dl);
	KT_EQ(next_irq(&t, 1000), VEC_TIMER);

	/* and is lost when KVM_SET_LAPIC changes the mode (Linux apic_update_lvtt) */
	KT_EQ(set_msr(t.vcpu, MSR_IA32_TSC_DEADLINE, get_msr(t.vcpu, MSR_IA32_TSC) + khz * 60000),
	      1);
	set_timer(&t, LVT_MASKED | VEC_TIMER, 0, 0);
	KT_EQ(get_msr(t.vcpu, MSR_IA32_TSC_DEADLINE), 0);
	set_timer(&t, TIMER_TSCDL | VEC_TIMER, 0, 0);
	KT_EQ(get_msr(t.vcpu, MSR_IA32_TSC_DEADLINE), 0);
	KT_EQ(next_irq(&t, 50), -1);
	kt_vm_destroy(&t);
}

static void test_state_rules(const char *guest)
{
	struct kt_vm t;
	if (guest_start(&t, guest, false))
		return;
	struct kvm_lapic_state s;

	/* 6 LVT entries (no CMCI without MCG_CMCI_P): LVT CMCI is not there */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_LAPIC, &s), 0);
	KT_EQ(reg(&s, APIC_LVR), 0x50014);
	KT_EQ(reg(&s, APIC_LVTCMCI), 0);

	/* a restored IRR is delivered */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_LAPIC, &s), 0);
	set_reg(&s, APIC_IRR + 0x10 * (VEC_MSI / 32), 1u << (VEC_MSI % 32));
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_LAPIC, &s), 0);
	KT_EQ(next_irq(&t, 2000), VEC_MSI);

	/* x2APIC mode: the ID comes shifted, the LDR follows from it */
	int v5 = KT_IOCTL(t.vm, KVM_CREATE_VCPU, 5);
	KT_CHECK(v5 >= 0);
	set_supported_cpuid(&t, v5);
	/* the host may go from disabled straight to x2APIC (only the guest may not) */
	KT_EQ(set_msr(v5, MSR_IA32_APICBASE, 0xfee00000), 1);
	KT_EQ(set_msr(v5, MSR_IA32_APICBASE, 0xfee00c00), 1);
	KT_EQ(get_msr(v5, MSR_IA32_APICBASE), 0xfee00c00);
	KT_EQ(KT_IOCTL(v5, KVM_GET_LAPIC, &s), 0);
	KT_EQ(reg(&s, APIC_ID), 5u << 24);
	KT_EQ(reg(&s, APIC_LDR), 1u << 5);
	set_reg(&s, APIC_LDR, 0x12345678);
	KT_EQ(KT_IOCTL(v5, KVM_SET_LAPIC, &s), 0);
	KT_EQ(KT_IOCTL(v5, KVM_GET_LAPIC, &s), 0);
	KT_EQ(reg(&s, APIC_LDR), 1u << 5);
	set_reg(&s, APIC_ID, 0x17u << 24);
	KT_EQ(KT_IOCTL(v5, KVM_SET_LAPIC, &s), 0);
	KT_EQ(KT_IOCTL(v5, KVM_GET_LAPIC, &s), 0);
	KT_EQ(reg(&s, APIC_ID), 0x17u << 24);
	KT_EQ(reg(&s, APIC_LDR), (1u << 16) | (1u << 7));
	/* invalid: x2APIC without the enable bit, even for the host */
	KT_EQ(set_msr(v5, MSR_IA32_APICBASE, 0xfee00400), 0);
	kt_close(v5);
	kt_vm_destroy(&t);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_lapic GUEST\n");
		return 2;
	}
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	test_msi(argv[1]);
	test_nmi(argv[1]);
	test_nmi_race(argv[1]);
	test_restore_timer(argv[1]);
	test_restore_tscdeadline(argv[1]);
	test_state_rules(argv[1]);
	return kt_done("test_lapic");
}
