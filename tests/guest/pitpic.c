/* SPDX-License-Identifier: MIT */
/*
 * The 8259A pair and the 8254 PIT as a real-mode BIOS-era kernel uses them
 * (pitpic_rm.S): ICW1-4 initialisation with vectors 0x08/0x70, IRQ0 from
 * PIT channel 0 (mode 2) at the programmed rate through IVT entry 8,
 * non-specific, specific and automatic EOI, a missing EOI holding IRQ0 in
 * service, masking in OCW1, IRR/ISR through OCW3, counter latches. Then, in
 * protected mode, channel 2 through port 0x61 (gate and OUT2, the way Linux
 * calibrates the TSC), the IMR and the ELCR.
 *
 * Interrupts must never come faster than programmed; how late a busy host
 * lets them come is not checked (missed ticks are coalesced).
 */
#include "apic.h"

#define RM_BASE 0x8000
extern char rm_start[], rm_end[], rm_irq0[], rm_spurious[];
extern char p_count[], p_ticks[], p_target[], p_mode[], r_count[], r_first[], r_last[];
extern char r_spurious[], r_irr[], r_isr[], r_imr[];
extern char r_latch1[], r_latch2[];
void rm_run(void);

#define M_EOI	   1
#define M_AEOI	   2
#define M_MASK	   4
#define M_SPECIFIC 8

/* a field of the copy at RM_BASE */
#define RM(sym) ((volatile void *)(RM_BASE + (ulong)((sym)-rm_start)))

struct run {
	u32 count, spurious, span; /* span: PM ticks from the first interrupt to the last */
	u16 latch1, latch2;
	u8 irr, isr, imr;
};

/* run until `target` interrupts (0: no target) or ms milliseconds */
static struct run rm_experiment(u16 pit_count, u32 target, u32 ms, u16 mode)
{
	struct run r;

	*(volatile u16 *)RM(p_count) = pit_count;
	*(volatile u16 *)RM(p_mode) = mode;
	*(volatile u32 *)RM(p_ticks) = (u32)((u64)PM_TIMER_HZ * ms / 1000);
	*(volatile u32 *)RM(p_target) = target;
	rm_run();
	r.count = *(volatile u32 *)RM(r_count);
	r.span = (*(volatile u32 *)RM(r_last) - *(volatile u32 *)RM(r_first)) & 0xffffff;
	r.spurious = *(volatile u32 *)RM(r_spurious);
	r.latch1 = *(volatile u16 *)RM(r_latch1);
	r.latch2 = *(volatile u16 *)RM(r_latch2);
	r.irr = *(volatile u8 *)RM(r_irr);
	r.isr = *(volatile u8 *)RM(r_isr);
	r.imr = *(volatile u8 *)RM(r_imr);
	return r;
}

/*
 * n interrupts at a PIT reload value of count: from the first to the last
 * there must be at least n - 1 periods (never faster than programmed; the
 * first may have waited while IF was clear, so one period of slack). A busy
 * host may make them slower: missed ticks are coalesced.
 */
static bool rate_ok(const struct run *r, u32 n, u16 count)
{
	u64 period = (u64)count * PM_TIMER_HZ / 1193182; /* in PM-timer ticks */
	/* one more may slip in between the guest's last count check and its CLI */
	return r->count >= n && r->count <= n + 1 &&
	       r->span + period >= (u64)(r->count - 1) * period * 98 / 100;
}

static u32 span_us(const struct run *r)
{
	return (u32)((u64)r->span * 1000000 / PM_TIMER_HZ);
}

/* real-mode IVT entry vec -> RM_BASE's segment:off */
static void ivt_set(unsigned vec, u16 off)
{
	volatile u16 *ivt;

	asm("" : "=r"(ivt) : "0"(0ul)); /* guest physical 0, hidden from -Warray-bounds */
	ivt[vec * 2] = off;
	ivt[vec * 2 + 1] = RM_BASE >> 4;
}

static void test_real_mode(void)
{
	struct run r;

	memcpy((void *)RM_BASE, rm_start, (size_t)(rm_end - rm_start));
	/* IVT: IRQ0 (vector 8) and the master's spurious IRQ7 (vector 0x0f) */
	ivt_set(8, (u16)(rm_irq0 - rm_start));
	ivt_set(0x0f, (u16)(rm_spurious - rm_start));

	r = rm_experiment(11932, 20, 4000, M_EOI);
	info("100 Hz: 20 interrupts in %u us; latches %u, %u", span_us(&r), r.latch1, r.latch2);
	report("real mode: IRQ0 through IVT entry 8, 20 times", r.count >= 20 && r.count <= 21);
	report("real mode: IRQ0 at the programmed rate (100 Hz), not faster",
	       rate_ok(&r, 20, 11932));
	report("real mode: OCW1 reads back as the IMR", r.imr == 0xfe);
	report("PIT: latched counts are within the reload value and count down",
	       r.latch1 <= 11932 && r.latch2 <= 11932 && r.latch1 != r.latch2);
	report("8259: no spurious IRQ7", r.spurious == 0);

	r = rm_experiment(1193, 50, 4000, M_EOI);
	info("1000 Hz: 50 interrupts in %u us", span_us(&r));
	report("real mode: IRQ0 at the programmed rate (1000 Hz), not faster",
	       rate_ok(&r, 50, 1193));

	r = rm_experiment(11932, 10, 4000, M_EOI | M_SPECIFIC);
	report("specific EOI (OCW2 0x60) ends IRQ0's service", rate_ok(&r, 10, 11932));

	r = rm_experiment(11932, 0, 100, 0);
	report("without EOI: one IRQ0, then it stays in service", r.count == 1);
	report("without EOI: ISR bit 0 set (OCW3 read ISR)", r.isr & 1);
	report("without EOI: the next request waits in IRR", r.irr & 1);

	r = rm_experiment(11932, 10, 4000, M_AEOI);
	report("auto-EOI (ICW4): IRQ0 repeats without EOI", rate_ok(&r, 10, 11932));
	report("auto-EOI: ISR stays clear", (r.isr & 1) == 0);

	r = rm_experiment(11932, 0, 100, M_EOI | M_MASK);
	report("IRQ0 masked in OCW1: no interrupts", r.count == 0);
	report("IRQ0 masked: the request is still latched in IRR", r.irr & 1);
}

static void test_channel2(void)
{
	/* gate on, speaker data off; mode 0, 10 ms */
	outb(0x61, (u8)((inb(0x61) & ~0x03) | 0x01));
	outb(0x43, 0xb0);
	outb(0x42, 11932 & 0xff);
	outb(0x42, 11932 >> 8);
	u32 p0 = pm_timer();
	bool low = !(inb(0x61) & 0x20);
	bool high = wait_until(inb(0x61) & 0x20, 2000);
	u32 took = pm_elapsed(p0);
	info("channel 2, mode 0, count 11932: OUT2 high after %u us",
	     (u32)((u64)took * 1000000 / PM_TIMER_HZ));
	report("port 0x61: gate bit reads back", inb(0x61) & 0x01);
	report("port 0x61: OUT2 low while channel 2 counts (mode 0)", low);
	report("port 0x61: OUT2 goes high at terminal count, not before 10 ms",
	       high && took >= (u32)((u64)PM_TIMER_HZ * 95 / 10000));
	udelay(2000);
	report("port 0x61: OUT2 stays high after terminal count (mode 0)", inb(0x61) & 0x20);
	/* read-back command: status of channel 2 (OUT, access, mode) */
	outb(0x43, 0xe8); /* read-back, latch status only, channel 2 */
	u8 st = inb(0x42);
	info("channel 2 status %#x", st);
	report("PIT read-back status: OUT high, LSB/MSB access, mode 0", (st & 0xbf) == 0xb0);
	outb(0x61, inb(0x61) & ~0x03);
}

static void test_registers(void)
{
	pic_init(0x20, 0x28, 0xffff);
	pic_set_mask(0x5aa5);
	report("IMR reads back (master and slave)", inb(0x21) == 0xa5 && inb(0xa1) == 0x5a);
	pic_set_mask(0xffff);
	u8 e0 = inb(0x4d0), e1 = inb(0x4d1);
	outb(0x4d0, 0xff);
	outb(0x4d1, 0xff);
	u8 m0 = inb(0x4d0), m1 = inb(0x4d1);
	info("ELCR was %#x %#x; writable %#x %#x", e0, e1, m0, m1);
	report("ELCR: IRQ0-2 and 8 and 13 are always edge (writable 0xf8, 0xde)",
	       m0 == 0xf8 && m1 == 0xde);
	outb(0x4d0, e0);
	outb(0x4d1, e1);
}

int main(void)
{
	irq_disable();
	test_real_mode();
	test_channel2();
	test_registers();
	report_summary();
}
