/* SPDX-License-Identifier: MIT */
/*
 * SMP bring-up: the VMM's description of the CPUs (fw_cfg NB_CPUS, the ACPI
 * MADT with its IOAPIC, overrides and LINT1 NMI entries), then INIT-SIPI-SIPI
 * to all other CPUs (SDM Vol. 3A, 9.4.4): every AP must come up once, in
 * real mode at CS = vector << 8 with flags clear, see its own APIC ID in
 * CPUID, and run code posted to it; locked increments from every CPU at once
 * must not lose updates; an AP sent INIT and SIPI again restarts. Run with
 * "cpus=N" on the command line, matching --cpus / -smp.
 */
#include "apic.h"

static u32 rd32(const u8 *p)
{
	return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

static u8 sum(const u8 *p, u32 n)
{
	u8 s = 0;
	while (n--)
		s = (u8)(s + *p++);
	return s;
}

static const u8 *find_madt(void)
{
	const u8 *rsdp = NULL;

	for (ulong a = 0xe0000; a < 0x100000 && !rsdp; a += 16)
		if (!memcmp((const void *)a, "RSD PTR ", 8) && sum((const u8 *)a, 20) == 0)
			rsdp = (const u8 *)a;
	if (!rsdp)
		return NULL;
	const u8 *rsdt = (const u8 *)(ulong)rd32(rsdp + 16);
	u32 n = (rd32(rsdt + 4) - 36) / 4;
	for (u32 k = 0; k < n; k++) {
		const u8 *t = (const u8 *)(ulong)rd32(rsdt + 36 + 4 * k);
		if (!memcmp(t, "APIC", 4))
			return t;
	}
	return NULL;
}

static volatile u32 shared_counter;
static volatile u32 work_done[MAX_CPUS];
#define INCS 20000

static void lock_incs(void *arg)
{
	(void)arg;
	for (int k = 0; k < INCS; k++)
		asm volatile("lock incl %0" : "+m"(shared_counter));
	__atomic_fetch_add(&work_done[apic_id() % MAX_CPUS], 1, __ATOMIC_SEQ_CST);
}

static volatile u32 seen_id[MAX_CPUS];

static void report_id(void *arg)
{
	(void)arg;
	seen_id[apic_id() % MAX_CPUS] = apic_id() + 100;
}

static void check_madt(unsigned want)
{
	const u8 *m = find_madt();
	unsigned cpus = 0, ioapics = 0;
	bool ids_ok = true, ioapic_ok = false, irq0 = false, sci = false, nmi = false;

	report("MADT found through the RSDT", m && sum(m, rd32(m + 4)) == 0);
	if (!m)
		return;
	report("MADT: local APIC address 0xfee00000", rd32(m + 36) == 0xfee00000);
	for (const u8 *p = m + 44; p < m + rd32(m + 4) && p[1]; p += p[1]) {
		switch (p[0]) {
		case 0: /* Processor Local APIC */
			if (rd32(p + 4) & 1) {
				if (p[3] >= want)
					ids_ok = false;
				cpus++;
			}
			break;
		case 1: /* I/O APIC */
			ioapics++;
			ioapic_ok = rd32(p + 4) == 0xfec00000 && rd32(p + 8) == 0;
			break;
		case 2: /* Interrupt Source Override */
			if (p[2] == 0 && p[3] == 0 && rd32(p + 4) == 2)
				irq0 = true;
			if (p[2] == 0 && p[3] == 9 && rd32(p + 4) == 9 && (p[8] & 0xf) == 0xd)
				sci = true;
			break;
		case 4: /* Local APIC NMI */
			if (p[2] == 0xff && p[5] == 1)
				nmi = true;
			break;
		}
	}
	reportf(cpus == want && ids_ok, "MADT: %u enabled processors with APIC IDs below %u", want,
		want);
	report("MADT: one IOAPIC at 0xfec00000, GSI base 0", ioapics == 1 && ioapic_ok);
	report("MADT: ISA IRQ0 overridden to GSI 2", irq0);
	report("MADT: SCI IRQ9 level-triggered, active high", sci);
	report("MADT: LINT1 is NMI on every processor", nmi);
}

int main(void)
{
	unsigned want = (unsigned)cmdline_ulong("cpus", 1);
	u32 c[4];

	if (want > MAX_CPUS)
		want = MAX_CPUS;
	reportf(fwcfg_nb_cpus() == want, "fw_cfg NB_CPUS is %u", want);
	check_madt(want);
	cpuid2(1, 0, c);
	report("the BSP is APIC ID 0 (LAPIC and CPUID)", apic_id() == 0 && (c[1] >> 24) == 0);
	report("IA32_APIC_BASE: enabled, BSP flag, default base",
	       (rdmsr(MSR_APIC_BASE) & 0xfffff900ull) == 0xfee00900ull);

	unsigned online = smp_boot(want, 5000);
	udelay(20000); /* late or repeated arrivals */
	online = smp_online;
	info("%u of %u CPUs online", online, want);
	reportf(online == want, "INIT-SIPI-SIPI: %u CPUs online", want);

	bool once = true, cs = true, fl = true, cpuid_ok = true;
	for (unsigned id = 1; id < want; id++) {
		once &= ap_boots[id] == 1;
		cs &= ap_sipi_cs[id] == SIPI_VECTOR << 8;
		fl &= ap_init_eflags[id] == 0x2;
		if (ap_init_eflags[id] != 0x2)
			info("AP %u: EFLAGS %#x", id, ap_init_eflags[id]);
		cpuid_ok &= ap_cpuid_apic[id] == id;
	}
	report("every AP ran the trampoline exactly once", once && ap_boots[0] == 0);
	report("APs start at CS = SIPI vector << 8", cs);
	report("APs start with EFLAGS[7:0] = 0x02", fl);
	report("each AP's CPUID.1:EBX[31:24] is its APIC ID", cpuid_ok);

	irq_enable();
	bool ran = true;
	for (unsigned id = 1; id < want; id++) {
		on_cpu(id, report_id, NULL);
		ran &= seen_id[id] == id + 100;
	}
	report("every AP runs code posted to it (fixed IPI wake-up)", ran);

	/* locked increments from every CPU at once */
	for (unsigned id = 1; id < want; id++)
		on_cpu_async(id, lock_incs, NULL);
	lock_incs(NULL);
	bool all = true;
	for (unsigned id = 1; id < want; id++)
		all &= wait_until(work_done[id] == 1, 20000);
	reportf(all && shared_counter == INCS * want, "lock inc from %u CPUs: no lost updates",
		want);
	info("counter %u, expected %u", shared_counter, INCS * want);

	if (want > 1) {
		unsigned last = want - 1;
		/* INIT puts the AP back into wait-for-SIPI; SIPI starts it again */
		apic_icr(last, ICR_INIT | ICR_ASSERT);
		udelay(10000);
		u32 before = smp_online;
		apic_icr(last, ICR_SIPI | ICR_ASSERT | SIPI_VECTOR);
		bool back = wait_until(smp_online == before + 1, 5000);
		udelay(5000);
		report("INIT and SIPI restart a running AP", back && ap_boots[last] == 2);
		seen_id[last] = 0;
		on_cpu(last, report_id, NULL);
		report("the restarted AP runs posted code", seen_id[last] == last + 100);
	}
	report_summary();
}
