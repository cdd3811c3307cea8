/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables (ACPI 6.4, 5.2): the RSDP found by the BIOS-area scan, the
 * RSDT/XSDT, FADT, FACS and DSDT with valid checksums and headers, the PM
 * register blocks where QEMU's PIIX4 has them, and the PM timer (4.8.3.3):
 * it counts at 3.579545 MHz, is 24 bits wide unless TMR_VAL_EXT, advances.
 * With "poweroff" on the command line the kernel ends by entering S5
 * through PM1a_CNT (SLP_TYP from \_S5 = 0, SLP_EN) instead of
 * isa-debug-exit: the VMM must exit with status 0.
 */
#include "libtest.h"

static u8 sum(const void *p, u32 len)
{
	const u8 *b = p;
	u8 s = 0;
	while (len--)
		s = (u8)(s + *b++);
	return s;
}

static u32 rd32(const void *p)
{
	const u8 *b = p;
	return (u32)b[0] | (u32)b[1] << 8 | (u32)b[2] << 16 | (u32)b[3] << 24;
}

static const u8 *find_rsdp(void)
{
	for (ulong a = 0xe0000; a < 0x100000; a += 16)
		if (!memcmp((const void *)a, "RSD PTR ", 8) && sum((const void *)a, 20) == 0)
			return (const u8 *)a;
	return NULL;
}

static bool table_ok(const u8 *t, const char *sig)
{
	return t && !memcmp(t, sig, 4) && rd32(t + 4) >= 36 && rd32(t + 4) < 0x100000 &&
	       sum(t, rd32(t + 4)) == 0;
}

static u32 pm_timer(u16 port)
{
	return inl(port);
}

int main(void)
{
	char buf[8];
	bool poweroff = cmdline_arg("poweroff", buf, sizeof(buf)) != NULL;
	const u8 *rsdp = find_rsdp();

	report("RSDP found in 0xe0000-0xfffff with a valid checksum", rsdp != NULL);
	if (!rsdp)
		report_summary();
	u8 rev = rsdp[15];
	if (rev >= 2)
		report("RSDP extended checksum", sum(rsdp, rd32(rsdp + 20)) == 0);
	const u8 *rsdt = (const u8 *)(ulong)rd32(rsdp + 16);
	report("RSDT: signature, length and checksum", table_ok(rsdt, "RSDT"));
	u32 n = (rd32(rsdt + 4) - 36) / 4;
	report("RSDT lists at least one table", n >= 1 && n < 64);

	const u8 *fadt = NULL;
	bool all_ok = true;
	for (u32 k = 0; k < n; k++) {
		const u8 *t = (const u8 *)(ulong)rd32(rsdt + 36 + 4 * k);
		if (sum(t, rd32(t + 4)) != 0)
			all_ok = false;
		if (!memcmp(t, "FACP", 4))
			fadt = t;
	}
	report("every table in the RSDT has a valid checksum", all_ok);
	report("FADT (FACP) present and valid", table_ok(fadt, "FACP"));
	if (!fadt)
		report_summary();
	u32 flen = rd32(fadt + 4);
	report("FADT: at least the ACPI 1.0 length (116)", flen >= 116);

	u32 facs_addr = rd32(fadt + 36);
	if (!facs_addr && flen >= 140)
		facs_addr = rd32(fadt + 132); /* X_FIRMWARE_CTRL (low half) */
	const u8 *facs = (const u8 *)(ulong)facs_addr;
	report("FACS: signature, length >= 64, 64-byte aligned",
	       facs && !memcmp(facs, "FACS", 4) && rd32(facs + 4) >= 64 && !(facs_addr & 63));
	const u8 *dsdt = (const u8 *)(ulong)rd32(fadt + 40);
	report("DSDT: signature, length and checksum", table_ok(dsdt, "DSDT"));
	report("DSDT defines \\_S5", dsdt && ({
					     bool f = false;
					     for (u32 k = 36; k + 4 <= rd32(dsdt + 4); k++)
						     if (!memcmp(dsdt + k, "_S5_", 4))
							     f = true;
					     f;
				     }));
	/* Name (_HID, EisaId ("PNP0A03")): Linux scans PCI only below such a root bridge */
	report("DSDT has a PCI root bridge (_HID PNP0A03)",
	       dsdt && ({
		       static const u8 hid[] = {'_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03};
		       bool f = false;
		       for (u32 k = 36; k + sizeof(hid) <= rd32(dsdt + 4); k++)
			       if (!memcmp(dsdt + k, hid, sizeof(hid)))
				       f = true;
		       f;
	       }));

	u32 pm1a_evt = rd32(fadt + 56), pm1a_cnt = rd32(fadt + 64), pm_tmr = rd32(fadt + 76);
	report("PM_TMR_BLK = 0x608, PM_TMR_LEN = 4", pm_tmr == 0x608 && fadt[91] == 4);
	report("PM1a_EVT_BLK = 0x600 (4 bytes), PM1a_CNT_BLK = 0x604 (2 bytes)",
	       pm1a_evt == 0x600 && pm1a_cnt == 0x604 && fadt[88] == 4 && fadt[89] == 2);
	report("SCI on IRQ 9", rd32(fadt + 46) % 65536 == 9);
	bool ext = rd32(fadt + 112) & (1u << 8);

	/* the timer: monotonic modulo its width, at about 3.58 MHz */
	u32 mask = ext ? 0xffffffffu : 0xffffffu;
	u32 t0 = pm_timer((u16)pm_tmr), prev = t0;
	bool mono = true, width = true;
	u64 total = 0;
	for (int k = 0; k < 2000; k++) {
		u32 t = pm_timer((u16)pm_tmr);
		if (t & ~mask)
			width = false;
		u32 d = (t - prev) & mask;
		if (d > mask / 2)
			mono = false;
		total += d;
		prev = t;
	}
	report("PM timer stays within its width (24 bits unless TMR_VAL_EXT)", width);
	report("PM timer never goes backwards", mono);
	report("PM timer advances", total > 0);
	/* ~5 ms by the timer: the TSC must advance too (the rates are not compared) */
	u64 tsc0 = rdtsc();
	u32 start = pm_timer((u16)pm_tmr);
	while (((pm_timer((u16)pm_tmr) - start) & mask) < 17898)
		;
	report("5 ms of PM timer take time on the TSC too", rdtsc() > tsc0);

	if (poweroff) {
		report_summary_print();
		/* S5: SLP_TYP = 0 (\_S5), SLP_EN; the machine turns off (QEMU: shortly after) */
		outw((u16)pm1a_cnt, (u16)(1u << 13));
		start = pm_timer((u16)pm_tmr);
		for (u32 waited = 0; waited < 3 * 3579545u;) {
			u32 t = pm_timer((u16)pm_tmr);
			waited += (t - start) & mask;
			start = t;
		}
		printf("still running 3 s after entering S5\n");
		exit(1);
	}
	report_summary();
}
