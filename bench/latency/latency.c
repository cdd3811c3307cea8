/* SPDX-License-Identifier: MIT */
/*
 * The guest of `make bench-latency`: interrupt latencies and exit costs on
 * 4 vCPUs, modelled on kvm-unit-tests' x86/vmexit.c (a fixed number of
 * iterations per test, cycles from the guest TSC) and the arm64 micro-bench
 * IPI / vtimer latency tests (the receiver timestamps its handler entry; a
 * timer's latency is handler entry minus the programmed deadline).
 *
 * Output, one line per figure, read by run-latency.py:
 *   BENCH <name> <median> <mean> <iterations> <minimum> <90th percentile> (TSC cycles)
 *   (timer_spinning_max: the worst of the timer_spinning samples in every field)
 *   TSC_KHZ <guest TSC kHz, measured against the ACPI PM timer>
 *   IDLE-START <s> ... IDLE-END         every vCPU halted, nothing pending
 *   TICK-START <s> ... TICK-END         every vCPU halted between 100 Hz LAPIC ticks
 * Command line: iters=N (default 200), idle=S, tick=S (seconds, default 3).
 *
 * With a virtio-rng device on the PCI bus (softkvm run --rng; QEMU
 * -device virtio-rng-pci,disable-legacy=on), a minimal virtio 1 driver
 * (one queue, MSI-X to the BSP) times device completions: the BSP posts a
 * 64-byte buffer, notifies and halts; AP 1 spins on the used index and
 * timestamps the moment the device's completion becomes visible; the BSP's
 * MSI-X handler timestamps its entry. virtio_irq is handler minus
 * completion (the device's interrupt path: irqfd, routing, LAPIC, wake-up),
 * over the iterations where AP 1 saw this request's completion before the
 * handler ran (a descheduled AP sees it late: the figure is then a lower
 * bound); virtio_rtt is notify to handler.
 */
#include "apic.h"

#define VEC_PING  0x40
#define VEC_TIMER 0xe0
#define VEC_TICK  0xe1
#define VEC_SELF  0x41
#define MAXITER	  1000

static volatile u32 ping_seen;
static volatile u64 ping_tsc;
static volatile u32 timer_seen;
static volatile u64 timer_tsc;
static volatile u32 ticks[MAX_CPUS];
static volatile bool spin_stop;
static u64 samples[MAXITER];

static void ping_irq(struct ex_regs *r)
{
	(void)r;
	ping_tsc = rdtsc();
	__atomic_store_n(&ping_seen, ping_seen + 1, __ATOMIC_RELEASE);
	apic_eoi();
}

static volatile ulong loop_exit; /* set: the timer handler sends the IRET there */

static void timer_irq(struct ex_regs *r)
{
	timer_tsc = rdtsc();
	timer_seen++;
	if (loop_exit) {
		r->ip = loop_exit;
		loop_exit = 0;
	}
	apic_eoi();
}

static void tick_irq(struct ex_regs *r)
{
	(void)r;
	ticks[apic_id() % MAX_CPUS]++;
	apic_eoi();
}

static void self_irq(struct ex_regs *r)
{
	(void)r;
	apic_eoi();
}

/* ---- a minimal virtio-rng driver (virtio 1.2, 4.1 and 5.4) ---- */
#define VEC_VIRTIO 0x42
#define VQSIZE	   8

struct vdesc {
	u64 addr;
	u32 len;
	u16 flags, next;
};

static u8 vring[8192] aligned(4096);
static u8 vbuf[64] aligned(64);
static volatile u32 vq_seen;
static volatile u64 vq_tsc, vcomp_tsc;
static volatile u16 vcomp_idx;
static volatile bool watch_stop;

static void vq_irq(struct ex_regs *r)
{
	(void)r;
	vq_tsc = rdtsc();
	__atomic_store_n(&vq_seen, vq_seen + 1, __ATOMIC_RELEASE);
	apic_eoi();
}

static u32 pci_rd32(int dev, int reg)
{
	outl(0xcf8, 0x80000000u | (u32)dev << 11 | (u32)(reg & 0xfc));
	return inl(0xcfc);
}

static u8 pci_rd8(int dev, int reg)
{
	outl(0xcf8, 0x80000000u | (u32)dev << 11 | (u32)(reg & 0xfc));
	return inb(0xcfc + (reg & 3));
}

static void pci_wr16(int dev, int reg, u16 v)
{
	outl(0xcf8, 0x80000000u | (u32)dev << 11 | (u32)(reg & 0xfc));
	outw(0xcfc + (reg & 2), v);
}

/* BAR `bar` of dev (32 or 64-bit memory) if it lies below 4 GiB, else 0 */
static ulong pci_bar(int dev, int bar)
{
	u32 lo = pci_rd32(dev, 0x10 + 4 * bar);
	if (lo & 1)
		return 0;
	if ((lo & 6) == 4 && pci_rd32(dev, 0x14 + 4 * bar))
		return 0;
	return lo & ~0xfu;
}

static struct {
	u8 *common, *notify;
	volatile u16 *avail, *used;
	struct vdesc *desc;
	u16 avail_idx;
} vr;

static volatile void *mmio8(ulong a)
{
	return (volatile void *)a;
}

/* find, reset and set up the virtio-rng device; false if there is none */
static bool virtio_rng_setup(void)
{
	int dev = -1, msix = 0;
	u32 nmult = 0;
	volatile u32 *table = NULL;

	for (int s = 0; s < 32 && dev < 0; s++)
		if (pci_rd32(s, 0) == (0x1af4u | 0x1044u << 16))
			dev = s;
	if (dev < 0)
		return false;
	pci_wr16(dev, 0x04, 0x6); /* memory decoding, bus master */
	for (int p = pci_rd8(dev, 0x34), n = 0; p && n < 24; p = pci_rd8(dev, p + 1), n++) {
		u8 id = pci_rd8(dev, p);
		if (id == 0x11) {
			u32 t = pci_rd32(dev, p + 4);
			ulong b = pci_bar(dev, (int)(t & 7));
			msix = p;
			table = b ? (volatile u32 *)(b + (t & ~7u)) : NULL;
			continue;
		}
		if (id != 0x09)
			continue;
		ulong b = pci_bar(dev, pci_rd8(dev, p + 4));
		u8 type = pci_rd8(dev, p + 3);
		if (!b)
			continue;
		u8 *at = (u8 *)(b + pci_rd32(dev, p + 8));
		if (type == 1 && !vr.common)
			vr.common = at;
		else if (type == 2 && !vr.notify) {
			vr.notify = at;
			nmult = pci_rd32(dev, p + 16);
		}
	}
	if (!vr.common || !vr.notify || !msix || !table)
		return false;
	volatile u8 *c = mmio8((ulong)vr.common);
	c[0x14] = 0; /* reset */
	while (c[0x14])
		cpu_relax();
	c[0x14] = 1 | 2;
	*(volatile u32 *)(c + 0x08) = 1;
	*(volatile u32 *)(c + 0x0c) = 1; /* VERSION_1 */
	c[0x14] = 1 | 2 | 8;
	if (!(c[0x14] & 8))
		return false;
	pci_wr16(dev, msix + 2, 0x8000); /* MSI-X on; vector 0 to the BSP */
	table[0] = 0xfee00000u;
	table[1] = 0;
	table[2] = VEC_VIRTIO;
	table[3] = 0;
	*(volatile u16 *)(c + 0x10) = 0xffff; /* no configuration vector */
	memset(vring, 0, sizeof(vring));
	vr.desc = (struct vdesc *)vring;
	vr.avail = (volatile u16 *)(vring + 16 * VQSIZE);
	vr.used = (volatile u16 *)(vring + 4096);
	*(volatile u16 *)(c + 0x16) = 0;
	*(volatile u16 *)(c + 0x18) = VQSIZE;
	*(volatile u16 *)(c + 0x1a) = 0;
	*(volatile u64 *)(c + 0x20) = (ulong)vr.desc;
	*(volatile u64 *)(c + 0x28) = (ulong)vr.avail;
	*(volatile u64 *)(c + 0x30) = (ulong)vr.used;
	u16 noff = *(volatile u16 *)(c + 0x1e);
	vr.notify += (ulong)noff * nmult;
	*(volatile u16 *)(c + 0x1c) = 1;
	c[0x14] = 1 | 2 | 8 | 4;
	return *(volatile u16 *)(c + 0x1a) == 0 && c[0x14] == (1 | 2 | 8 | 4);
}

/* on AP 1: timestamp each completion as soon as it is visible in the used ring */
static void watch_used(void *arg)
{
	u16 last = vr.used[1];
	(void)arg;
	while (!watch_stop) {
		u16 u = vr.used[1];
		if (u != last) {
			vcomp_tsc = rdtsc();
			vcomp_idx = u;
			last = u;
		}
	}
}

static void result(const char *name, u64 *s, unsigned n);

static void bench_virtio(unsigned n, unsigned ncpu)
{
	static u64 irq[MAXITER];
	unsigned m = 0;

	if (ncpu < 2 || !virtio_rng_setup()) {
		printf("NOVIRTIO\n");
		return;
	}
	watch_stop = false;
	on_cpu_async(1, watch_used, NULL);
	udelay(1000);
	for (unsigned k = 0; k < n; k++) {
		u32 seen = vq_seen;
		vr.desc[0] = (struct vdesc){(ulong)vbuf, sizeof(vbuf), 2 /* WRITE */, 0};
		vr.avail[2 + vr.avail_idx % VQSIZE] = 0;
		vcomp_tsc = 0;
		udelay(200);
		__sync_synchronize();
		vr.avail[1] = ++vr.avail_idx;
		__sync_synchronize();
		u64 t0 = rdtsc();
		*(volatile u16 *)vr.notify = 0;
		irq_disable();
		while (__atomic_load_n(&vq_seen, __ATOMIC_ACQUIRE) == seen) {
			asm volatile("sti; hlt; cli" ::: "memory");
		}
		irq_enable();
		samples[k] = vq_tsc - t0;
		for (int w = 0; w < 1000 && !vcomp_tsc; w++)
			cpu_relax();
		/* only this request's completion, seen before the handler ran */
		if (vcomp_tsc && vcomp_idx == vr.avail_idx && vcomp_tsc >= t0 &&
		    vcomp_tsc <= vq_tsc)
			irq[m++] = vq_tsc - vcomp_tsc;
	}
	watch_stop = true;
	result("virtio_rtt", samples, n);
	if (m)
		result("virtio_irq", irq, m);
}

static void sort(u64 *a, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		u64 x = a[i];
		unsigned j = i;
		for (; j > 0 && a[j - 1] > x; j--)
			a[j] = a[j - 1];
		a[j] = x;
	}
}

static void result(const char *name, u64 *s, unsigned n)
{
	u64 sum = 0;

	for (unsigned k = 0; k < n; k++)
		sum += s[k];
	sort(s, n);
	printf("BENCH %s %lu %lu %u %lu %lu\n", name, (ulong)s[n / 2], (ulong)(sum / (n ? n : 1)),
	       n, (ulong)s[0], (ulong)s[n * 9 / 10]);
}

/* on AP 1: spin with interrupts enabled until told to stop */
static void spin(void *arg)
{
	(void)arg;
	irq_enable();
	while (!spin_stop)
		cpu_relax();
}

/* IPI to `cpu`; the round trip ends when the sender sees the handler's flag */
static void bench_ipi(const char *rtt_name, const char *oneway_name, unsigned cpu, unsigned n)
{
	static u64 oneway[MAXITER];

	for (unsigned k = 0; k < n; k++) {
		u32 seen = ping_seen;
		udelay(200); /* let a halted target settle back into HLT */
		u64 t0 = rdtsc();
		apic_icr(cpu, ICR_FIXED | ICR_ASSERT | VEC_PING);
		while (__atomic_load_n(&ping_seen, __ATOMIC_ACQUIRE) == seen)
			cpu_relax();
		u64 t1 = rdtsc();
		samples[k] = t1 - t0;
		oneway[k] = ping_tsc - t0;
	}
	result(rtt_name, samples, n);
	if (oneway_name)
		result(oneway_name, oneway, n);
}

/* one-shot LAPIC timer of `us` on this (halted) CPU: handler entry minus expiry */
static void bench_timer_oneshot(unsigned n, u64 counts_per_ms)
{
	u64 tms = tsc_per_ms();
	u32 us = 100;
	u32 count = (u32)(counts_per_ms * us / 1000);

	apic_write(APIC_TDCR, 0xb);
	apic_write(APIC_LVTT, VEC_TIMER);
	for (unsigned k = 0; k < n; k++) {
		u32 seen = timer_seen;
		irq_disable();
		u64 t0 = rdtsc();
		apic_write(APIC_TMICT, count);
		while (timer_seen == seen) {
			safe_halt();
			irq_disable();
		}
		irq_enable();
		u64 expiry = t0 + tms * us / 1000;
		samples[k] = timer_tsc > expiry ? timer_tsc - expiry : 0;
	}
	result("timer_oneshot", samples, n);
}

/*
 * The same timer while this vCPU spins in jmp-to-self with IF = 1 (nothing
 * makes the processor stop on its own): the median and the worst of n.
 */
static void bench_timer_spinning(unsigned n, u64 counts_per_ms)
{
	u64 tms = tsc_per_ms(), worst = 0;
	u32 us = 100;
	u32 count = (u32)(counts_per_ms * us / 1000);
	ulong out;

	apic_write(APIC_TDCR, 0xb);
	apic_write(APIC_LVTT, VEC_TIMER);
	for (unsigned k = 0; k < n; k++) {
		irq_disable();
		asm volatile(ASM_LEA("2f", "%0") : "=r"(out));
		loop_exit = out;
		u64 t0 = rdtsc();
		apic_write(APIC_TMICT, count);
		asm volatile("sti\n1:\tjmp 1b\n2:" : : : "memory");
		u64 expiry = t0 + tms * us / 1000;
		samples[k] = timer_tsc > expiry ? timer_tsc - expiry : 0;
		if (samples[k] > worst)
			worst = samples[k];
	}
	result("timer_spinning", samples, n);
	printf("BENCH timer_spinning_max %lu %lu %u %lu %lu\n", (ulong)worst, (ulong)worst, n,
	       (ulong)worst, (ulong)worst);
}

static void bench_timer_tscdeadline(unsigned n)
{
	u32 c[4];
	u64 tms = tsc_per_ms();

	cpuid2(1, 0, c);
	if (!(c[2] & (1u << 24))) {
		printf("BENCH timer_tscdeadline - - 0\n");
		return;
	}
	apic_write(APIC_LVTT, APIC_TIMER_TSCDL | VEC_TIMER);
	for (unsigned k = 0; k < n; k++) {
		u32 seen = timer_seen;
		irq_disable();
		u64 dl = rdtsc() + tms / 10;
		wrmsr(MSR_TSC_DEADLINE, dl);
		while (timer_seen == seen) {
			safe_halt();
			irq_disable();
		}
		irq_enable();
		samples[k] = timer_tsc > dl ? timer_tsc - dl : 0;
	}
	result("timer_tscdeadline", samples, n);
	apic_write(APIC_LVTT, APIC_LVT_MASKED | VEC_TIMER);
}

/* kvm-unit-tests vmexit style: the cost of one operation, averaged over a loop */
static void bench_exits(unsigned n)
{
	static const char *names[] = {"cpuid", "inl_pmtimer", "lapic_tpr_read", "self_ipi"};
	for (unsigned t = 0; t < ARRAY_SIZE(names); t++) {
		for (unsigned k = 0; k < n; k++) {
			u64 t0 = rdtsc();
			for (int i = 0; i < 10; i++) {
				u32 r[4];
				switch (t) {
				case 0:
					cpuid2(0, 0, r);
					break;
				case 1:
					(void)inl(PM_TIMER_PORT);
					break;
				case 2:
					(void)apic_read(APIC_TASKPRI);
					break;
				case 3:
					apic_icr(0, ICR_SELF | ICR_FIXED | ICR_ASSERT | VEC_SELF);
					break;
				}
			}
			samples[k] = (rdtsc() - t0) / 10;
		}
		result(names[t], samples, n);
	}
}

/* counts of the LAPIC timer per ms at divide 1 */
static u64 lapic_rate(void)
{
	apic_write(APIC_LVTT, APIC_LVT_MASKED | VEC_TIMER);
	apic_write(APIC_TDCR, 0xb);
	apic_write(APIC_TMICT, 0xffffffff);
	u32 p0 = pm_timer(), c0 = apic_read(APIC_TMCCT);
	while (pm_elapsed(p0) < PM_TIMER_HZ / 100)
		cpu_relax();
	u32 c1 = apic_read(APIC_TMCCT), dt = pm_elapsed(p0);
	apic_write(APIC_TMICT, 0);
	return (u64)(c0 - c1) * PM_TIMER_HZ / dt / 1000;
}

static void tick_start(void *arg)
{
	(void)arg;
	apic_write(APIC_TDCR, 0xb);
	apic_write(APIC_LVTT, APIC_TIMER_PERIODIC | VEC_TICK);
	apic_write(APIC_TMICT, (u32)(ulong)arg);
}

static void tick_stop(void *arg)
{
	(void)arg;
	apic_write(APIC_LVTT, APIC_LVT_MASKED | VEC_TICK);
	apic_write(APIC_TMICT, 0);
}

/* every vCPU halted for s seconds; the BSP wakes from a one-shot at the end */
static void idle(unsigned s, u64 rate)
{
	printf("IDLE-START %u\n", s);
	apic_write(APIC_TDCR, 0xa); /* divide by 128 */
	apic_write(APIC_LVTT, VEC_TIMER);
	u32 seen = timer_seen;
	irq_disable();
	apic_write(APIC_TMICT, (u32)(rate * 1000 * s / 128));
	while (timer_seen == seen) {
		safe_halt();
		irq_disable();
	}
	irq_enable();
	printf("IDLE-END\n");
	apic_write(APIC_TDCR, 0xb);
}

static void idle_tick(unsigned s, u64 rate, unsigned ncpu)
{
	u32 period = (u32)(rate * 10); /* 10 ms */

	printf("TICK-START %u\n", s);
	for (unsigned c = 1; c < ncpu; c++)
		on_cpu(c, tick_start, (void *)(ulong)period);
	ticks[0] = 0;
	tick_start((void *)(ulong)period);
	while (ticks[0] < 100 * s)
		safe_halt();
	tick_stop(NULL);
	for (unsigned c = 1; c < ncpu; c++)
		on_cpu(c, tick_stop, NULL);
	printf("TICK-END\n");
}

int main(void)
{
	unsigned n = (unsigned)cmdline_ulong("iters", 200);
	unsigned idle_s = (unsigned)cmdline_ulong("idle", 3);
	unsigned tick_s = (unsigned)cmdline_ulong("tick", 3);

	if (n > MAXITER)
		n = MAXITER;
	set_ex_handler(VEC_PING, ping_irq);
	set_ex_handler(VEC_TIMER, timer_irq);
	set_ex_handler(VEC_TICK, tick_irq);
	set_ex_handler(VEC_SELF, self_irq);
	set_ex_handler(VEC_VIRTIO, vq_irq);
	unsigned ncpu = smp_boot(fwcfg_nb_cpus(), 5000);
	printf("CPUS %u\n", ncpu);
	printf("TSC_KHZ %lu\n", (ulong)tsc_per_ms());
	u64 rate = lapic_rate();
	printf("LAPIC_KHZ %lu\n", (ulong)rate);
	irq_enable();

	if (ncpu >= 3) {
		spin_stop = false;
		on_cpu_async(1, spin, NULL);
		udelay(1000);
		bench_ipi("ipi_spinning", "ipi_spinning_oneway", 1, n);
		spin_stop = true;
		bench_ipi("ipi_halted", "hlt_wakeup", 2, n);
	}
	bench_virtio(n, ncpu);
	bench_timer_oneshot(n, rate);
	bench_timer_spinning(n, rate);
	bench_timer_tscdeadline(n);
	bench_exits(n);
	if (idle_s)
		idle(idle_s, rate);
	if (tick_s)
		idle_tick(tick_s, rate, ncpu);
	/* the VMM must still be running when the host samples its CPU time at the last marker */
	udelay(300000);
	printf("DONE\n");
	exit(0);
}
