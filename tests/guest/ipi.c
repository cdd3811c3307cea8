/* SPDX-License-Identifier: MIT */
/*
 * Inter-processor interrupts across 4 CPUs (SDM Vol. 3A, 11.6): fixed,
 * lowest-priority, NMI, INIT and SIPI delivery; the self, all and
 * all-but-self shorthands; physical destinations (one CPU, broadcast) and
 * logical ones in the flat and cluster models; self-IPIs held by IF and by
 * the TPR, and served by priority; ISR/PPR while a handler runs. Every AP
 * counts what it receives; the BSP checks the counts.
 */
#include "apic.h"

#define NCPUS	  4
#define VEC_FIXED 0x40
#define VEC_LOW	  0x41
#define VEC_PRIO1 0x55
#define VEC_PRIO2 0x85

enum { K_FIXED, K_LOW, K_NMI, K_NK };
static volatile u32 got[MAX_CPUS][K_NK];
static volatile u32 order[4], norder;
static volatile bool isr_seen, ppr_ok;

static void fixed_irq(struct ex_regs *r)
{
	(void)r;
	got[apic_id() % MAX_CPUS][K_FIXED]++;
	if (apic_id() == 0) {
		isr_seen = apic_vec_bit(APIC_ISR, VEC_FIXED) && !apic_vec_bit(APIC_IRR, VEC_FIXED);
		ppr_ok = (apic_read(APIC_PROCPRI) & 0xf0) == (VEC_FIXED & 0xf0);
	}
	apic_eoi();
}

static void lowest_irq(struct ex_regs *r)
{
	(void)r;
	got[apic_id() % MAX_CPUS][K_LOW]++;
	apic_eoi();
}

static void nmi(struct ex_regs *r)
{
	(void)r;
	got[apic_id() % MAX_CPUS][K_NMI]++; /* NMIs are not EOIed */
}

static void prio_irq(struct ex_regs *r)
{
	if (norder < ARRAY_SIZE(order))
		order[norder++] = (u32)r->vector;
	apic_eoi();
}

static u32 total(int kind)
{
	u32 n = 0;
	for (int c = 0; c < NCPUS; c++)
		n += got[c][kind];
	return n;
}

static void clear_counts(void)
{
	memset((void *)got, 0, sizeof(got));
}

/* wait until `want` deliveries of kind arrived, then a little longer for extra ones */
static bool settle(int kind, u32 want)
{
	bool ok = wait_until(total(kind) >= want, 3000);
	udelay(3000);
	return ok && total(kind) == want;
}

/* exactly the CPUs in mask received one of kind */
static bool got_mask(int kind, u32 mask)
{
	for (int c = 0; c < NCPUS; c++)
		if (got[c][kind] != ((mask >> c) & 1))
			return false;
	return true;
}

static bool send_check(const char *name, u32 dest, u32 icr, int kind, u32 mask)
{
	u32 n = 0;

	for (u32 m = mask; m; m &= m - 1)
		n++;
	clear_counts();
	apic_icr(dest, icr);
	bool ok = settle(kind, n) && got_mask(kind, mask);
	if (!ok)
		info("%s: counts %u %u %u %u", name, got[0][kind], got[1][kind], got[2][kind],
		     got[3][kind]);
	report(name, ok);
	return ok;
}

static volatile u32 ldr_val, dfr_val;

static void set_logical(void *arg)
{
	(void)arg;
	apic_write(APIC_DFR, dfr_val);
	apic_write(APIC_LDR, ldr_val);
}

static void logical_ids(u32 dfr, const u32 ldr[NCPUS])
{
	for (unsigned c = 1; c < NCPUS; c++) {
		dfr_val = dfr;
		ldr_val = ldr[c];
		on_cpu(c, set_logical, NULL);
	}
	apic_write(APIC_DFR, dfr);
	apic_write(APIC_LDR, ldr[0]);
}

static void test_fixed(void)
{
	for (u32 c = 1; c < NCPUS; c++) {
		char name[64];
		snprintf(name, sizeof(name), "fixed, physical destination %u", c);
		send_check(name, c, ICR_FIXED | ICR_ASSERT | VEC_FIXED, K_FIXED, 1u << c);
	}
	send_check("fixed, physical broadcast 0xff", 0xff, ICR_FIXED | ICR_ASSERT | VEC_FIXED,
		   K_FIXED, 0xf);
	send_check("fixed, shorthand self", 0, ICR_SELF | ICR_FIXED | ICR_ASSERT | VEC_FIXED,
		   K_FIXED, 0x1);
	report("self-IPI handler: vector in ISR, not in IRR", isr_seen);
	report("self-IPI handler: PPR is the vector's class", ppr_ok);
	report("after EOI: ISR clear", !apic_vec_bit(APIC_ISR, VEC_FIXED));
	send_check("fixed, shorthand all including self", 0,
		   ICR_ALL | ICR_FIXED | ICR_ASSERT | VEC_FIXED, K_FIXED, 0xf);
	send_check("fixed, shorthand all excluding self", 0,
		   ICR_OTHERS | ICR_FIXED | ICR_ASSERT | VEC_FIXED, K_FIXED, 0xe);
	/* the shorthand wins over the destination field */
	send_check("shorthand self ignores the destination field", 2,
		   ICR_SELF | ICR_FIXED | ICR_ASSERT | VEC_FIXED, K_FIXED, 0x1);
}

static void test_logical(void)
{
	static const u32 flat[NCPUS] = {0x01u << 24, 0x02u << 24, 0x04u << 24, 0x08u << 24};
	/* cluster model: LDR[31:28] cluster, LDR[27:24] member bits */
	static const u32 cluster[NCPUS] = {0x01u << 24, 0x02u << 24, 0x11u << 24, 0x12u << 24};

	logical_ids(0xffffffffu, flat);
	report("LDR and DFR read back (flat)",
	       apic_read(APIC_LDR) >> 24 == 0x01 && apic_read(APIC_DFR) == 0xffffffffu);
	send_check("logical flat 0x0a: CPUs 1 and 3", 0x0a,
		   ICR_LOGICAL | ICR_FIXED | ICR_ASSERT | VEC_FIXED, K_FIXED, 0xa);
	send_check("logical flat 0x05: CPUs 0 and 2", 0x05,
		   ICR_LOGICAL | ICR_FIXED | ICR_ASSERT | VEC_FIXED, K_FIXED, 0x5);
	send_check("logical flat 0xff: every CPU", 0xff,
		   ICR_LOGICAL | ICR_FIXED | ICR_ASSERT | VEC_FIXED, K_FIXED, 0xf);

	/* lowest priority: exactly one CPU of the set takes each */
	bool one = true;
	u32 any = 0;
	for (int k = 0; k < 6; k++) {
		clear_counts();
		apic_icr(0x0e, ICR_LOGICAL | ICR_LOWEST | ICR_ASSERT | VEC_LOW);
		one &= settle(K_LOW, 1) && got[0][K_LOW] == 0;
		for (int c = 1; c < NCPUS; c++)
			any |= got[c][K_LOW] << c;
	}
	info("lowest priority to 0x0e went to CPU mask %#x", any);
	report("lowest priority, logical 0x0e: one CPU of the three each time", one);

	logical_ids(0x0fffffffu, cluster);
	report("DFR reads back (cluster)", apic_read(APIC_DFR) == 0x0fffffffu);
	send_check("logical cluster 0x13: cluster 1, members 0 and 1 (CPUs 2, 3)", 0x13,
		   ICR_LOGICAL | ICR_FIXED | ICR_ASSERT | VEC_FIXED, K_FIXED, 0xc);
	send_check("logical cluster 0x02: cluster 0, member 1 (CPU 1)", 0x02,
		   ICR_LOGICAL | ICR_FIXED | ICR_ASSERT | VEC_FIXED, K_FIXED, 0x2);
	send_check("logical cluster 0x12: cluster 1, member 1 (CPU 3)", 0x12,
		   ICR_LOGICAL | ICR_FIXED | ICR_ASSERT | VEC_FIXED, K_FIXED, 0x8);
	clear_counts();
	apic_icr(0x10, ICR_LOGICAL | ICR_FIXED | ICR_ASSERT | VEC_FIXED);
	udelay(5000);
	report("logical cluster 0x10: no member bits, nobody", total(K_FIXED) == 0);

	/* back to flat for the rest */
	logical_ids(0xffffffffu, flat);
}

static void test_nmi(void)
{
	send_check("NMI, physical destination 2", 2, ICR_NMI | ICR_ASSERT, K_NMI, 0x4);
	send_check("NMI, shorthand all excluding self", 0, ICR_OTHERS | ICR_NMI | ICR_ASSERT, K_NMI,
		   0xe);
	send_check("NMI to self", 0, ICR_SELF | ICR_NMI | ICR_ASSERT, K_NMI, 0x1);
	send_check("NMI, logical flat 0x06", 0x06, ICR_LOGICAL | ICR_NMI | ICR_ASSERT, K_NMI, 0x6);
}

static void test_init_sipi(void)
{
	u32 before = smp_online, boots = ap_boots[2];

	apic_icr(2, ICR_INIT | ICR_ASSERT);
	udelay(10000);
	/* in wait-for-SIPI, a CPU takes no fixed interrupts */
	clear_counts();
	apic_icr(2, ICR_FIXED | ICR_ASSERT | VEC_FIXED);
	udelay(5000);
	report("INIT: the CPU stops taking interrupts (wait for SIPI)", total(K_FIXED) == 0);
	apic_icr(2, ICR_SIPI | ICR_ASSERT | SIPI_VECTOR);
	bool back = wait_until(smp_online == before + 1, 5000);
	report("SIPI: the CPU starts at the vector and comes up again",
	       back && ap_boots[2] == boots + 1 && ap_sipi_cs[2] == SIPI_VECTOR << 8);
	/* INIT resets the LAPIC: the logical ID is gone, the APIC ID stays */
	send_check("after INIT/SIPI: fixed IPIs reach it again", 2,
		   ICR_FIXED | ICR_ASSERT | VEC_FIXED, K_FIXED, 0x4);
	clear_counts();
	apic_icr(0x04, ICR_LOGICAL | ICR_FIXED | ICR_ASSERT | VEC_FIXED);
	udelay(5000);
	report("after INIT: its LDR is reset (logical 0x04 reaches nobody)", total(K_FIXED) == 0);
}

static void test_self_priority(void)
{
	/* IF = 0 holds a self-IPI in IRR */
	irq_disable();
	clear_counts();
	apic_icr(0, ICR_SELF | ICR_FIXED | ICR_ASSERT | VEC_FIXED);
	udelay(1000);
	bool pending = apic_vec_bit(APIC_IRR, VEC_FIXED) && total(K_FIXED) == 0;
	irq_enable();
	udelay(1000);
	report("IF = 0 holds a self-IPI in IRR until STI", pending && got[0][K_FIXED] == 1);

	/* two pending vectors: the higher class first */
	irq_disable();
	norder = 0;
	apic_icr(0, ICR_SELF | ICR_FIXED | ICR_ASSERT | VEC_PRIO1);
	apic_icr(0, ICR_SELF | ICR_FIXED | ICR_ASSERT | VEC_PRIO2);
	udelay(500);
	irq_enable();
	udelay(1000);
	report("pending vectors are taken by priority",
	       norder == 2 && order[0] == VEC_PRIO2 && order[1] == VEC_PRIO1);

	/* TPR blocks classes at or below it */
	norder = 0;
	apic_write(APIC_TASKPRI, 0x90);
	apic_icr(0, ICR_SELF | ICR_FIXED | ICR_ASSERT | VEC_PRIO2);
	udelay(2000);
	bool held = norder == 0 && apic_vec_bit(APIC_IRR, VEC_PRIO2);
	apic_write(APIC_TASKPRI, 0x00);
	udelay(1000);
	report("TPR 0x90 holds vector 0x85 back until lowered", held && norder == 1);
}

int main(void)
{
	set_ex_handler(VEC_FIXED, fixed_irq);
	set_ex_handler(VEC_LOW, lowest_irq);
	set_ex_handler(NMI_VECTOR, nmi);
	set_ex_handler(VEC_PRIO1, prio_irq);
	set_ex_handler(VEC_PRIO2, prio_irq);
	unsigned n = smp_boot(NCPUS, 5000);
	reportf(n == NCPUS, "%u CPUs online", NCPUS);
	if (n != NCPUS)
		report_summary();
	irq_enable();
	test_fixed();
	test_logical();
	test_nmi();
	test_self_priority();
	test_init_sipi();
	report_summary();
}
