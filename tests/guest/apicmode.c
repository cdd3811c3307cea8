/* SPDX-License-Identifier: MIT */
/*
 * LAPIC modes and register rules (SDM Vol. 3A, 11.4.3, 11.5.4, 11.12):
 *
 * - the current count of a masked periodic timer keeps counting down and
 *   reloading (it is never stuck at 0);
 * - x2APIC mode (where CPUID.1:ECX[21] offers it; QEMU 7.2 TCG does not):
 *   the xAPIC page reads all ones and ignores writes (11.12.2); SELF_IPI
 *   with any of bits 31:8 set and ICR with reserved bits set are #GP
 *   (11.12.11, 11.12.9); the mode transitions of 11.12.5 (x2APIC -> xAPIC
 *   and disabled -> x2APIC are #GP, EXTD without EN is #GP; x2APIC ->
 *   disabled -> xAPIC -> x2APIC is the legal way round);
 * - last, because QEMU 7.2 cannot re-enable a disabled APIC: with the xAPIC
 *   globally disabled (IA32_APIC_BASE[11] = 0) the page reads all ones
 *   (11.4.3: the processor behaves as one without an APIC, so nothing
 *   answers at 0xfee00000), and setting the bit again brings it back.
 */
#include "apic.h"

#define VEC	    0xe1
#define BASE_EXTD   (1ull << 10)
#define BASE_EN	    (1ull << 11)
#define X2_TPR	    0x808
#define X2_EOI	    0x80b
#define X2_ICR	    0x830
#define X2_SELF_IPI 0x83f
#define ALL_ONES    0xffffffffu

static volatile u32 hits;
static volatile bool x2;

static void irq(struct ex_regs *r)
{
	(void)r;
	hits++;
	if (x2)
		wrmsr(X2_EOI, 0);
	else
		apic_eoi();
}

static int wrmsr_safe(u32 idx, u64 v)
{
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "wrmsr\n1:"
		     :
		     : "c"(idx), "a"((u32)v), "d"((u32)(v >> 32))
		     : FIXUP_CLOBBERS);
	return ex_vector();
}

/* timer counts per millisecond with divide by 1 */
static u32 count_rate(void)
{
	apic_write(APIC_LVTT, APIC_LVT_MASKED | VEC);
	apic_write(APIC_TDCR, 0xb);
	apic_write(APIC_TMICT, 0xffffffff);
	u32 p0 = pm_timer(), c0 = apic_read(APIC_TMCCT);
	while (pm_elapsed(p0) < PM_TIMER_HZ / 200)
		cpu_relax();
	u32 c1 = apic_read(APIC_TMCCT), dt = pm_elapsed(p0);
	apic_write(APIC_TMICT, 0);
	u64 r = (u64)(c0 - c1) * PM_TIMER_HZ / dt / 1000;
	return r ? (u32)r : 1;
}

static void test_masked_periodic(void)
{
	u32 tmict = count_rate(); /* a 1 ms period */
	apic_write(APIC_LVTT, APIC_LVT_MASKED | APIC_TIMER_PERIODIC | VEC);
	apic_write(APIC_TMICT, tmict);
	u32 prev = apic_read(APIC_TMCCT), wraps = 0, zero_runs = 0, above = 0, run = 0, reads = 0;
	u32 p0 = pm_timer();
	while (pm_elapsed(p0) < PM_TIMER_HZ / 20) { /* 50 ms */
		/* reads without exits in between: the vCPU keeps running */
		for (int k = 0; k < 256; k++) {
			u32 c = apic_read(APIC_TMCCT);
			reads++;
			if (c > tmict)
				above++;
			if (c > prev)
				wraps++;
			/* a count of 0 lasts one bus clock: reads of 0 in a row mean it is stuck */
			run = c == 0 ? run + 1 : 0;
			if (run == 2)
				zero_runs++;
			prev = c;
		}
	}
	info("masked periodic 1 ms (TMICT %u): %u reads, %u reloads seen in 50 ms", tmict, reads,
	     wraps);
	report("masked periodic timer: the current count is never stuck at 0", zero_runs == 0);
	report("masked periodic timer: the current count stays within TMICT", above == 0);
	report("masked periodic timer: the current count reloads", wraps >= 5);
	report("masked periodic timer: no interrupt", hits == 0 && !apic_vec_bit(APIC_IRR, VEC));
	apic_write(APIC_TMICT, 0);
}

static const char *const x2_checks[] = {
    "x2APIC: the xAPIC page reads all ones (0xfee00030)",
    "x2APIC: the xAPIC page reads all ones (0xfee00080)",
    "x2APIC: writes to the xAPIC page are ignored",
    "x2APIC: SELF_IPI with a vector interrupts",
    "x2APIC: SELF_IPI with bit 8 set is #GP",
    "x2APIC: SELF_IPI with bits 15:8 set is #GP",
    "x2APIC: SELF_IPI with bits 31:24 set is #GP",
    "x2APIC: a refused SELF_IPI sends nothing",
    "x2APIC: ICR with reserved bit 13 is #GP",
    "x2APIC: ICR with reserved bits 17:16 is #GP",
    "x2APIC: ICR with reserved bits 31:20 is #GP",
    "x2APIC: ICR self-IPI interrupts",
    "x2APIC -> xAPIC is #GP",
    "x2APIC -> disabled is allowed",
    "disabled (from x2APIC): the xAPIC page reads all ones",
    "disabled -> x2APIC is #GP",
    "EXTD without EN is #GP",
    "disabled -> xAPIC is allowed",
    "xAPIC again: the version register reads",
    "xAPIC -> x2APIC is allowed",
    "back to xAPIC through disabled",
};

static void test_x2apic(void)
{
	u32 c[4];
	cpuid2(1, 0, c);
	if (!(c[2] & (1u << 21))) {
		for (unsigned k = 0; k < ARRAY_SIZE(x2_checks); k++)
			report_skip(x2_checks[k]);
		return;
	}
	const char *const *name = x2_checks;
	u64 base = rdmsr(MSR_APIC_BASE);
	u32 ver = apic_read(APIC_LVR);

	wrmsr(MSR_APIC_BASE, base | BASE_EXTD);
	x2 = true;
	report(*name++, readl(APIC_DEFAULT_BASE + APIC_LVR) == ALL_ONES);
	report(*name++, readl(APIC_DEFAULT_BASE + APIC_TASKPRI) == ALL_ONES);
	wrmsr(X2_TPR, 0x20);
	writel(APIC_DEFAULT_BASE + APIC_TASKPRI, 0x50);
	report(*name++, rdmsr(X2_TPR) == 0x20);
	wrmsr(X2_TPR, 0);

	irq_enable();
	hits = 0;
	wrmsr(X2_SELF_IPI, VEC);
	udelay(100);
	report(*name++, hits == 1);
	hits = 0;
	report(*name++, wrmsr_safe(X2_SELF_IPI, 0x100 | VEC) == GP_VECTOR);
	report(*name++, wrmsr_safe(X2_SELF_IPI, 0xff00 | VEC) == GP_VECTOR);
	report(*name++, wrmsr_safe(X2_SELF_IPI, 0xff000000u | VEC) == GP_VECTOR);
	udelay(100);
	report(*name++, hits == 0);
	report(*name++, wrmsr_safe(X2_ICR, ICR_SELF | ICR_ASSERT | (1u << 13) | VEC) == GP_VECTOR);
	report(*name++, wrmsr_safe(X2_ICR, ICR_SELF | ICR_ASSERT | (3u << 16) | VEC) == GP_VECTOR);
	report(*name++, wrmsr_safe(X2_ICR, ICR_SELF | ICR_ASSERT | (1u << 20) | VEC) == GP_VECTOR);
	hits = 0;
	wrmsr(X2_ICR, ICR_SELF | ICR_ASSERT | VEC);
	udelay(100);
	report(*name++, hits == 1);
	irq_disable();

	u64 b = base & ~(BASE_EN | BASE_EXTD);
	report(*name++, wrmsr_safe(MSR_APIC_BASE, b | BASE_EN) == GP_VECTOR &&
			    rdmsr(MSR_APIC_BASE) == (base | BASE_EXTD));
	report(*name++, wrmsr_safe(MSR_APIC_BASE, b) == -1 && rdmsr(MSR_APIC_BASE) == b);
	x2 = false;
	report(*name++, readl(APIC_DEFAULT_BASE + APIC_LVR) == ALL_ONES &&
			    readl(APIC_DEFAULT_BASE + APIC_TASKPRI) == ALL_ONES);
	report(*name++, wrmsr_safe(MSR_APIC_BASE, b | BASE_EN | BASE_EXTD) == GP_VECTOR &&
			    rdmsr(MSR_APIC_BASE) == b);
	report(*name++, wrmsr_safe(MSR_APIC_BASE, b | BASE_EXTD) == GP_VECTOR);
	report(*name++, wrmsr_safe(MSR_APIC_BASE, b | BASE_EN) == -1 &&
			    rdmsr(MSR_APIC_BASE) == (b | BASE_EN));
	apic_sw_enable();
	report(*name++, apic_read(APIC_LVR) == ver);
	report(*name++, wrmsr_safe(MSR_APIC_BASE, b | BASE_EN | BASE_EXTD) == -1);
	bool back = wrmsr_safe(MSR_APIC_BASE, b) == -1 && wrmsr_safe(MSR_APIC_BASE, base) == -1;
	apic_sw_enable();
	report(*name++, back && apic_read(APIC_LVR) == ver);
}

static void test_xapic_disabled(void)
{
	u64 base = rdmsr(MSR_APIC_BASE);
	u32 ver = apic_read(APIC_LVR);

	wrmsr(MSR_APIC_BASE, base & ~BASE_EN);
	u32 v = readl(APIC_DEFAULT_BASE + APIC_LVR), t = readl(APIC_DEFAULT_BASE + APIC_TASKPRI);
	info("disabled xAPIC: 0xfee00030 reads %#x, 0xfee00080 reads %#x", v, t);
	report("xAPIC disabled: 0xfee00030 reads all ones", v == ALL_ONES);
	report("xAPIC disabled: 0xfee00080 reads all ones", t == ALL_ONES);
	wrmsr(MSR_APIC_BASE, base);
	apic_sw_enable();
	report("xAPIC enabled again: the version register reads", apic_read(APIC_LVR) == ver);
	irq_enable();
	hits = 0;
	apic_icr(0, ICR_SELF | ICR_FIXED | ICR_ASSERT | VEC);
	udelay(100);
	irq_disable();
	report("xAPIC enabled again: a self-IPI interrupts", hits == 1);
}

int main(void)
{
	set_ex_handler(VEC, irq);
	irq_platform_init();
	tsc_per_ms();
	test_masked_periodic();
	test_x2apic();
	test_xapic_disabled();
	report_summary();
}
