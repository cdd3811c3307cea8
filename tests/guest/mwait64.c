/* SPDX-License-Identifier: MIT */
/*
 * MONITOR/MWAIT (SDM vol. 2) under KVM's rules (Linux 6.1).
 * mode=nop (the default VM): CPUID does not advertise MONITOR; at CPL 0 both
 * are NOPs (KVM skips them: no operand checks, no wait even with an armed
 * monitor and IF = 0); at CPL 3 #UD.
 * mode=run (softkvm run --overcommit cpu-pm=on: KVM_X86_DISABLE_EXITS_MWAIT):
 * CPUID.1:ECX.MONITOR and leaf 5 as the VMM sets them; the #UD/#GP rules;
 * MWAIT without an armed monitor, or after a store to the line, does not
 * wait; an AP that waits with IF = 0 sleeps until the BSP stores to its
 * monitored line (one MWAIT, woken only after the store), and with ECX[0] = 1
 * an IPI wakes it though IF = 0.
 */
#include "apic.h"
#include "libtest.h"

static volatile u64 line[8] aligned(64);
static volatile u64 line2[8] aligned(64);
static volatile u64 ap_ready, ap_done, ap_mwaits, ap_saw, ap_t0, ap_t1;

static inline void monitor(const volatile void *p, u32 ecx)
{
	asm volatile("monitor" : : "a"(p), "c"(ecx), "d"(0) : "memory");
}

static inline void mwait(u32 eax, u32 ecx)
{
	asm volatile("mwait" : : "a"(eax), "c"(ecx) : "memory");
}

static int fault_monitor(u32 ecx)
{
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "monitor\n1:"
		     :
		     : "a"(line), "c"(ecx), "d"(0)
		     : FIXUP_CLOBBERS);
	return ex_vector();
}

static int fault_mwait(u32 ecx)
{
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "mwait\n1:" : : "a"(0), "c"(ecx) : FIXUP_CLOBBERS);
	return ex_vector();
}

static volatile int user_mon, user_mw;
static void user_part(void)
{
	user_mon = fault_monitor(0);
	user_mw = fault_mwait(0);
}

/* on the AP: wait with IF = 0 until line[0] is written; ecx = MWAIT's ECX */
static void ap_wait(void *arg)
{
	u32 ecx = (u32)(ulong)arg;
	irq_disable();
	ap_mwaits = 0;
	ap_t0 = rdtsc();
	ap_ready = 1;
	while (!line[0]) {
		monitor(line, 0);
		if (line[0])
			break;
		mwait(0, ecx);
		ap_mwaits++;
		if (ecx & 1)
			break; /* an interrupt may end it: report once */
	}
	ap_t1 = rdtsc();
	ap_saw = line[0];
	ap_done = 1;
	irq_enable();
}

int main(void)
{
	char mode[8] = "nop";
	u32 c[4];

	cmdline_arg("mode", mode, sizeof(mode));
	bool run = !strcmp(mode, "run");
	cpuid2(1, 0, c);
	paging_allow_user();
	run_user(user_part);
	report("MONITOR at CPL 3: #UD", user_mon == UD_VECTOR);
	report("MWAIT at CPL 3: #UD", user_mw == UD_VECTOR);

	if (!run) {
		report("CPUID.1:ECX.MONITOR not advertised by KVM", !(c[2] & (1u << 3)));
		report("MONITOR with ECX != 0 at CPL 0: a NOP (no #GP)", fault_monitor(1) == -1);
		report("MWAIT with ECX reserved bits at CPL 0: a NOP (no #GP)",
		       fault_mwait(2) == -1);
		irq_disable();
		monitor(line, 0);
		mwait(0, 0);
		irq_enable();
		report("MWAIT with an armed monitor and IF = 0 returns at once", true);
		report_summary();
	}

	report("CPUID.1:ECX.MONITOR set (cpu-pm=on)", (c[2] & (1u << 3)) != 0);
	cpuid2(5, 0, c);
	report("CPUID.5: 64-byte lines, EMX and IBE", c[0] == 64 && c[1] == 64 && (c[2] & 3) == 3);
	report("MONITOR with ECX != 0: #GP(0)",
	       fault_monitor(1) == GP_VECTOR && ex_last.error_code == 0);
	report("MWAIT with ECX[31:1] != 0: #GP(0)",
	       fault_mwait(2) == GP_VECTOR && ex_last.error_code == 0);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "monitor\n1:"
		     :
		     : "a"(0x0000800000000000ull), "c"(0), "d"(0)
		     : FIXUP_CLOBBERS);
	report("MONITOR of a non-canonical address: #GP(0)", ex_vector() == GP_VECTOR);

	/* these would sleep for ever (IF = 0, no other event) if they waited */
	irq_disable();
	mwait(0, 0);
	report("MWAIT after an MWAIT (no monitor armed) returns", true);
	monitor(line2, 0);
	line2[1] = 5;
	mwait(0, 0);
	irq_enable();
	report("MWAIT after a store to the monitored line returns", true);

	if (smp_boot(2, 5000) != 2) {
		report("two CPUs online", false);
		report_summary();
	}
	u64 ms = tsc_per_ms();
	line[0] = 0;
	ap_ready = ap_done = 0;
	on_cpu_async(1, ap_wait, (void *)0ul);
	report("the AP starts waiting", wait_until(ap_ready, 2000));
	udelay(100000);
	report("the AP sleeps in MWAIT (IF = 0) while the line is not written", !ap_done);
	u64 t_store = rdtsc();
	line[0] = 0x1234; /* another vCPU's store to the monitored line */
	report("the store wakes it", wait_until(ap_done, 2000));
	info("AP slept %llu ms in %llu MWAIT(s)", (unsigned long long)((ap_t1 - ap_t0) / ms),
	     (unsigned long long)ap_mwaits);
	report("one MWAIT, woken after the store and seeing it",
	       ap_mwaits == 1 && ap_saw == 0x1234 && ap_t1 >= t_store - ms);

	/* ECX[0] = 1: an interrupt wakes it though IF = 0 */
	line[0] = 0;
	ap_ready = ap_done = 0;
	on_cpu_async(1, ap_wait, (void *)1ul);
	report("the AP starts waiting (ECX[0] = 1)", wait_until(ap_ready, 2000));
	udelay(100000);
	report("the AP sleeps in MWAIT until an event", !ap_done);
	apic_icr(1, ICR_FIXED | ICR_ASSERT | IPI_CALL_VECTOR);
	report("a fixed IPI wakes it with IF = 0 (ECX[0] = 1), the line unwritten",
	       wait_until(ap_done, 2000) && ap_saw == 0 && ap_mwaits == 1);
	report_summary();
}
