/* SPDX-License-Identifier: MIT */
/*
 * Interrupts reach a CPU that spins with IF = 1 in code that never leaves by
 * itself: jmp-to-self, a DEC/JNZ loop and a LOOP loop within one page, a
 * PAUSE loop, and a long REPE CMPSB, which takes the interrupt between two
 * iterations (SDM Vol. 1, 7.3.9.1 and Vol. 2B, REP: RIP on the instruction,
 * RCX counting the iterations left). A one-shot LAPIC timer of about 5 ms
 * interrupts each loop; its handler sends the IRET out of the loop. The
 * interrupt must hit inside the loop and come within a generous bound (2 s:
 * the host may be busy; the latency itself is `make bench-latency`).
 */
#include "apic.h"

#define VEC	  0xe1
#define BOUND_MS  2000
#define REP_BYTES (8ul << 20)
#define REP_AREA  0x200000ul /* compared with itself: all equal */

static volatile int hits;
static volatile ulong irq_ip, irq_cx, exit_to;

static void timer_irq(struct ex_regs *r)
{
	hits++;
	irq_ip = r->ip;
	irq_cx = r->rcx;
	if (exit_to)
		r->ip = exit_to;
	exit_to = 0;
	apic_eoi();
}

static u64 t0;

static void arm(ulong exit)
{
	hits = 0;
	irq_ip = irq_cx = 0;
	exit_to = exit;
	t0 = rdtsc();
	apic_write(APIC_LVTT, APIC_TIMER_ONESHOT | VEC);
	apic_write(APIC_TMICT, 5000000); /* 5 ms at the 1 GHz of KVM's and QEMU's LAPIC */
}

static void check(const char *what, ulong lo, ulong hi)
{
	u64 ms = (rdtsc() - t0) / tsc_per_ms();
	reportf(hits == 1 && irq_ip >= lo && irq_ip < hi, "%s: the timer interrupt hits the loop",
		what);
	reportf(hits == 1 && ms < BOUND_MS, "%s: it comes within %d ms", what, BOUND_MS);
	if (hits != 1 || irq_ip < lo || irq_ip >= hi || ms >= BOUND_MS)
		info("%s: %d interrupts, at %#lx (loop %#lx-%#lx), after %lu ms", what, hits,
		     irq_ip, lo, hi, (ulong)ms);
}

int main(void)
{
	ulong lo, hi, exit;

	irq_platform_init();
	set_ex_handler(VEC, timer_irq);
	apic_write(APIC_TDCR, 0xb); /* divide by 1 */
	tsc_per_ms();

	asm volatile(ASM_LEA("2f", "%0") : "=r"(exit));
	arm(exit);
	asm volatile("sti\n"
		     "1:\tjmp 1b\n"
		     "2:\tcli\n\t" ASM_LEA("1b", "%0") ASM_LEA("2b", "%1")
		     : "=r"(lo), "=r"(hi)
		     :
		     : "memory");
	check("jmp-to-self", lo, hi);

	asm volatile(ASM_LEA("2f", "%0") : "=r"(exit));
	arm(exit);
	asm volatile("mov $-1, %%ecx\n\t"
		     "sti\n"
		     "1:\tdec %%ecx\n\t"
		     "jnz 1b\n"
		     "2:\tcli\n\t" ASM_LEA("1b", "%0") ASM_LEA("2b", "%1")
		     : "=r"(lo), "=r"(hi)
		     :
		     : "rcx", "memory", "cc");
	check("dec/jnz", lo, hi);

	asm volatile(ASM_LEA("2f", "%0") : "=r"(exit));
	arm(exit);
	asm volatile("mov $0x1000000, %%rcx\n\t" /* ends on its own (QEMU) */
		     "sti\n"
		     "1:\tloop 1b\n"
		     "2:\tcli\n\t" ASM_LEA("1b", "%0") ASM_LEA("2b", "%1")
		     : "=r"(lo), "=r"(hi)
		     :
		     : "rcx", "memory");
	check("loop", lo, hi);

	asm volatile(ASM_LEA("2f", "%0") : "=r"(exit));
	arm(exit);
	asm volatile("sti\n"
		     "1:\tpause\n\t"
		     "jmp 1b\n"
		     "2:\tcli\n\t" ASM_LEA("1b", "%0") ASM_LEA("2b", "%1")
		     : "=r"(lo), "=r"(hi)
		     :
		     : "memory");
	check("pause", lo, hi);

	/* the REP runs for far longer than 5 ms: the interrupt comes between iterations */
	asm volatile(ASM_LEA("2f", "%0") : "=r"(exit));
	arm(exit);
	asm volatile("cld\n\t"
		     "mov %2, %%rsi\n\t"
		     "mov %2, %%rdi\n\t"
		     "mov %3, %%rcx\n\t"
		     "sti\n"
		     "1:\trepe cmpsb\n"
		     "2:\tcli\n\t" ASM_LEA("1b", "%0") ASM_LEA("2b", "%1")
		     : "=r"(lo), "=r"(hi)
		     : "i"(REP_AREA), "i"(REP_BYTES)
		     : "rsi", "rdi", "rcx", "memory", "cc");
	check("repe cmpsb", lo, lo + 1);
	reportf(irq_ip == lo && irq_cx > 0 && irq_cx < REP_BYTES,
		"repe cmpsb: interrupted between iterations (RIP on it, RCX part-way)");
	info("repe cmpsb: interrupted with RCX = %#lx of %#lx", irq_cx, REP_BYTES);

	apic_write(APIC_LVTT, APIC_LVT_MASKED);
	report_summary();
}
