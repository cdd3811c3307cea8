/* SPDX-License-Identifier: MIT */
/*
 * NMIs between 2 CPUs (SDM Vol. 3A, 6.7.1 and 11.6): while an NMI handler
 * runs, further NMIs are held, and however many were sent, exactly one is
 * taken after its IRET; the same for self-NMIs sent from inside the handler.
 * Then a stress run: the BSP sends a fixed IPI and an NMI back to back to an
 * AP idling in sti; hlt, and waits for both, many times, with the xAPIC and
 * (where CPUID offers it; not QEMU 7.2 TCG) with both CPUs in x2APIC mode.
 * An NMI lost on the way leaves the AP halted and the round times out.
 */
#include "apic.h"

#define VEC_FIXED 0x41
#define BASE_EXTD (1ull << 10)
#define X2_ID	  0x802
#define X2_EOI	  0x80b
#define X2_ICR	  0x830
#define ROUNDS	  3000
#define NO_CPU	  0xffffffffu

static volatile u32 nmis[MAX_CPUS], fixed[MAX_CPUS];
static volatile u32 hold_cpu = NO_CPU, burst_cpu = NO_CPU;
static volatile u32 in_nmi, release;

static bool in_x2(void)
{
	return (rdmsr(MSR_APIC_BASE) & BASE_EXTD) != 0;
}

static u32 my_id(void)
{
	return (in_x2() ? (u32)rdmsr(X2_ID) : apic_id()) % MAX_CPUS;
}

static void send(u32 dest, u32 lo)
{
	if (in_x2())
		wrmsr(X2_ICR, (u64)dest << 32 | lo);
	else
		apic_icr(dest, lo);
}

static void nmi(struct ex_regs *r)
{
	(void)r;
	u32 id = my_id();
	u32 n = __atomic_add_fetch(&nmis[id], 1, __ATOMIC_SEQ_CST);
	if (id == hold_cpu && n == 1) {
		/* stay in the handler (NMIs blocked) until the BSP has sent more */
		in_nmi = 1;
		while (!release)
			cpu_relax();
	}
	if (id == burst_cpu && n == 1) {
		send(0, ICR_SELF | ICR_NMI | ICR_ASSERT);
		send(0, ICR_SELF | ICR_NMI | ICR_ASSERT);
		send(0, ICR_SELF | ICR_NMI | ICR_ASSERT);
		udelay(1000);
	}
}

static void fixed_irq(struct ex_regs *r)
{
	(void)r;
	fixed[my_id()]++;
	if (in_x2())
		wrmsr(X2_EOI, 0);
	else
		apic_eoi();
}

static void clear(void)
{
	memset((void *)nmis, 0, sizeof(nmis));
	memset((void *)fixed, 0, sizeof(fixed));
}

static void test_held(void)
{
	clear();
	in_nmi = release = 0;
	hold_cpu = 1;
	send(1, ICR_NMI | ICR_ASSERT);
	bool entered = wait_until(in_nmi, 3000);
	send(1, ICR_NMI | ICR_ASSERT);
	send(1, ICR_NMI | ICR_ASSERT);
	send(1, ICR_NMI | ICR_ASSERT);
	udelay(3000);
	bool held = nmis[1] == 1;
	release = 1;
	wait_until(nmis[1] >= 2, 3000);
	udelay(5000);
	hold_cpu = NO_CPU;
	info("NMIs taken by CPU 1: %u", nmis[1]);
	report("NMIs sent while the handler runs wait for its IRET", entered && held);
	report("three NMIs sent while the handler runs: exactly one more after its IRET",
	       nmis[1] == 2);

	clear();
	burst_cpu = 0;
	send(0, ICR_SELF | ICR_NMI | ICR_ASSERT);
	wait_until(nmis[0] >= 2, 3000);
	udelay(5000);
	burst_cpu = NO_CPU;
	info("NMIs taken by CPU 0: %u", nmis[0]);
	report("three self-NMIs from inside the handler: exactly one more after its IRET",
	       nmis[0] == 2);
}

/* fixed IPI and NMI back to back to CPU 1, ROUNDS times; the rounds completed */
static u32 stress(void)
{
	clear();
	for (u32 k = 0; k < ROUNDS; k++) {
		u32 n0 = nmis[1], f0 = fixed[1];
		send(1, ICR_FIXED | ICR_ASSERT | VEC_FIXED);
		send(1, ICR_NMI | ICR_ASSERT);
		if (!wait_until(nmis[1] != n0 && fixed[1] != f0, 2000)) {
			info("round %u: CPU 1 took %u NMIs and %u fixed IPIs", k, nmis[1],
			     fixed[1]);
			return k;
		}
	}
	return ROUNDS;
}

static void to_x2apic(void *arg)
{
	(void)arg;
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | BASE_EXTD);
}

int main(void)
{
	set_ex_handler(NMI_VECTOR, nmi);
	set_ex_handler(VEC_FIXED, fixed_irq);
	if (smp_boot(2, 5000) != 2) {
		report("CPU 1 came up", false);
		report_summary();
	}
	irq_enable();
	test_held();
	report("xAPIC: NMI right after a fixed IPI to a CPU in sti; hlt, 3000 times: none lost",
	       stress() == ROUNDS);

	u32 c[4];
	cpuid2(1, 0, c);
	const char *x2name =
	    "x2APIC: NMI right after a fixed IPI to a CPU in sti; hlt, 3000 times: none lost";
	if (!(c[2] & (1u << 21))) {
		report_skip(x2name);
		report_summary();
	}
	on_cpu(1, to_x2apic, NULL);
	to_x2apic(NULL);
	report(x2name, stress() == ROUNDS);
	report_summary();
}
