/* SPDX-License-Identifier: MIT */
/* LAPIC, IOAPIC, 8259A and PM-timer helpers; AP bring-up (see apic.h). */
#include "apic.h"

void apic_sw_enable(void)
{
	u64 base = rdmsr(MSR_APIC_BASE);

	if (!(base & (1u << 11)))
		wrmsr(MSR_APIC_BASE, base | (1u << 11));
	apic_write(APIC_SPIV, 0x1ff);
}

void irq_platform_init(void)
{
	pic_init(0x20, 0x28, 0xffff);
	/* PIT channel 0: mode 0 with count 1 fires once and then stays quiet, so no stray
	 * IRQ0 edges reach IOAPIC pin 2 (SeaBIOS leaves it running at 18.2 Hz) */
	outb(0x43, 0x30);
	outb(0x40, 1);
	outb(0x40, 0);
	udelay(100);
	apic_sw_enable();
}

void apic_icr(u32 dest, u32 lo)
{
	for (int k = 0; k < 1000000 && (apic_read(APIC_ICR) & ICR_BUSY); k++)
		cpu_relax();
	apic_write(APIC_ICR2, dest << 24);
	apic_write(APIC_ICR, lo);
}

u32 ioapic_read(unsigned reg)
{
	writel(IOAPIC_BASE, reg);
	return readl(IOAPIC_BASE + 0x10);
}

void ioapic_write(unsigned reg, u32 v)
{
	writel(IOAPIC_BASE, reg);
	writel(IOAPIC_BASE + 0x10, v);
}

void ioapic_set_redir(unsigned pin, u32 lo, u8 dest)
{
	ioapic_write(0x10 + 2 * pin + 1, (u32)dest << 24);
	ioapic_write(0x10 + 2 * pin, lo);
}

u32 ioapic_redir_lo(unsigned pin)
{
	return ioapic_read(0x10 + 2 * pin);
}

void pic_init(u8 base, u8 base2, u16 mask)
{
	outb(0x20, 0x11); /* ICW1: edge, cascade, ICW4 follows */
	outb(0xa0, 0x11);
	outb(0x21, base); /* ICW2: vector base */
	outb(0xa1, base2);
	outb(0x21, 0x04); /* ICW3: slave on IRQ2 */
	outb(0xa1, 0x02);
	outb(0x21, 0x01); /* ICW4: 8086 mode, normal EOI */
	outb(0xa1, 0x01);
	pic_set_mask(mask);
}

void pic_set_mask(u16 mask)
{
	outb(0x21, (u8)mask);
	outb(0xa1, (u8)(mask >> 8));
}

void udelay(u32 us)
{
	u32 start = pm_timer();
	u64 ticks = (u64)us * PM_TIMER_HZ / 1000000u, done = 0;
	u32 last = start;

	while (done < ticks) {
		u32 now = pm_timer();
		done += (now - last) & 0xffffff;
		last = now;
		cpu_relax();
	}
}

static u64 tsc_ms;

/*
 * A preempted vCPU can only make one measurement too high (the TSC runs on
 * while the PM timer window's end goes unseen), so the lowest of a few wins.
 */
u64 tsc_per_ms(void)
{
	if (!tsc_ms) {
		u64 best = ~0ull;
		for (int k = 0; k < 5; k++) {
			u32 p0 = pm_timer();
			u64 t0 = rdtsc();
			u32 p;
			while ((p = pm_elapsed(p0)) < PM_TIMER_HZ / 250) /* 4 ms */
				cpu_relax();
			u64 t = (rdtsc() - t0) * PM_TIMER_HZ / p / 1000;
			if (t < best)
				best = t;
		}
		tsc_ms = best ? best : 1;
	}
	return tsc_ms;
}

/* ---- SMP ---- */

volatile u32 smp_online = 1;
volatile u32 ap_boots[MAX_CPUS];
volatile u16 ap_sipi_cs[MAX_CPUS];
volatile u32 ap_init_eflags[MAX_CPUS];
volatile u32 ap_cpuid_apic[MAX_CPUS];
u8 ap_stacks[MAX_CPUS][8192] aligned(16);

static struct mailbox {
	void (*volatile fn)(void *);
	void *volatile arg;
	volatile u32 done;
} mailbox[MAX_CPUS];

extern char sipi_start[], sipi_end[];
void setup_ap_descriptors(void);
void ap_main_c(u32 id);

unsigned fwcfg_nb_cpus(void)
{
	outw(0x510, 0x05);
	return inb(0x511) | (unsigned)inb(0x511) << 8;
}

static void call_ipi(struct ex_regs *r)
{
	(void)r;
	apic_eoi();
}

void ap_main_c(u32 id)
{
	u32 c[4];

	setup_ap_descriptors();
	cpuid2(1, 0, c);
	ap_cpuid_apic[id] = c[1] >> 24;
	apic_sw_enable();
	ap_boots[id]++;
	__atomic_fetch_add(&smp_online, 1, __ATOMIC_SEQ_CST);
	ap_idle();
}

noreturn void ap_idle(void)
{
	struct mailbox *m = &mailbox[apic_id() % MAX_CPUS];

	for (;;) {
		irq_disable();
		void (*fn)(void *) = m->fn;
		if (fn) {
			void *arg = m->arg;
			m->fn = NULL;
			irq_enable();
			fn(arg);
			__atomic_fetch_add(&m->done, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		safe_halt();
	}
}

void on_cpu_async(unsigned id, void (*fn)(void *), void *arg)
{
	struct mailbox *m = &mailbox[id % MAX_CPUS];

	m->arg = arg;
	__atomic_store_n(&m->fn, fn, __ATOMIC_SEQ_CST);
	apic_icr(id, ICR_FIXED | ICR_ASSERT | IPI_CALL_VECTOR);
}

void on_cpu(unsigned id, void (*fn)(void *), void *arg)
{
	struct mailbox *m = &mailbox[id % MAX_CPUS];
	u32 done = m->done;

	on_cpu_async(id, fn, arg);
	if (!wait_until(m->done != done, 5000))
		printf("INFO: on_cpu(%u) timed out\n", id);
}

unsigned smp_boot(unsigned expect, unsigned timeout_ms)
{
	set_ex_handler(IPI_CALL_VECTOR, call_ipi);
	memcpy((void *)(ulong)(SIPI_VECTOR << 12), sipi_start, (size_t)(sipi_end - sipi_start));
	irq_platform_init();
	tsc_per_ms();
	/* SDM Vol. 3A, 9.4.4.1: INIT, 10 ms, SIPI, 200 us, SIPI */
	apic_icr(0, ICR_OTHERS | ICR_INIT | ICR_ASSERT);
	udelay(10000);
	apic_icr(0, ICR_OTHERS | ICR_SIPI | ICR_ASSERT | SIPI_VECTOR);
	udelay(200);
	apic_icr(0, ICR_OTHERS | ICR_SIPI | ICR_ASSERT | SIPI_VECTOR);
	wait_until(smp_online >= expect, timeout_ms);
	return smp_online;
}
