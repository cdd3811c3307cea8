/* SPDX-License-Identifier: MIT */
/*
 * The MC146818 RTC at ports 0x70/0x71 (Motorola MC146818A data sheet; what
 * Linux's rtc-cmos and mc146818-lib rely on): the control registers after
 * power-on, a clock that runs and reads as valid BCD, the UIP window before
 * each update, binary and 12-hour formats chosen by register B, SET
 * freezing the clock for a write and starting it from what was written, the
 * update-ended and alarm flags in register C (read to clear), the CMOS RAM.
 * Timing uses the ACPI PM timer (3.579545 MHz, 24 bits).
 */
#include "libtest.h"

#define PM_TMR	0x608
#define PM_HZ	3579545u
#define REG_A	10
#define REG_B	11
#define REG_C	12
#define REG_D	13
#define CENTURY 0x32

static u8 rtc_read(u8 reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static void rtc_write(u8 reg, u8 v)
{
	outb(0x70, reg);
	outb(0x71, v);
}

static u32 pm_now(void)
{
	return inl(PM_TMR) & 0xffffff;
}

static u32 pm_elapsed_us(u32 since)
{
	return (u32)((((pm_now() - since) & 0xffffff) * 1000000ull) / PM_HZ);
}

/* busy-wait in steps of at most 4 s of PM timer (24 bits wrap after 4.7 s) */
static void delay_us(u32 us)
{
	u32 t = pm_now();
	while (pm_elapsed_us(t) < us)
		;
}

/* Wait until the seconds register changes (at most 1.5 s); true if it did. */
static bool wait_next_second(void)
{
	u8 s = rtc_read(0);
	u32 t = pm_now();
	while (pm_elapsed_us(t) < 1500000)
		if (rtc_read(0) != s)
			return true;
	return false;
}

static bool bcd_ok(u8 v, unsigned max)
{
	return (v & 0xf) <= 9 && (v >> 4) <= 9 && (unsigned)((v >> 4) * 10 + (v & 0xf)) <= max;
}

static unsigned bcd(u8 v)
{
	return (v >> 4) * 10 + (v & 0xf);
}

int main(void)
{
	report("register D: VRT (valid RAM and time)", rtc_read(REG_D) == 0x80);
	report("register A: 32.768 kHz divider, 1024 Hz rate (0x26)",
	       (rtc_read(REG_A) & 0x7f) == 0x26);
	report("register B: 24-hour BCD, no interrupts (0x02)", rtc_read(REG_B) == 0x02);
	report("the index port reads as 0xff", inb(0x70) == 0xff);

	/* the time, in BCD: wait past an update so the fields are consistent */
	wait_next_second();
	delay_us(10000);
	u8 sec = rtc_read(0), min = rtc_read(2), hour = rtc_read(4), mday = rtc_read(7),
	   mon = rtc_read(8), year = rtc_read(9), cent = rtc_read(CENTURY);
	info("RTC: %02x%02x-%02x-%02x %02x:%02x:%02x", cent, year, mon, mday, hour, min, sec);
	report("time registers hold valid BCD", bcd_ok(sec, 59) && bcd_ok(min, 59) &&
						    bcd_ok(hour, 23) && bcd_ok(mday, 31) && mday &&
						    bcd_ok(mon, 12) && mon && bcd_ok(year, 99));
	report("the century (CMOS 0x32) and year are this century's",
	       cent == 0x20 && bcd(year) >= 24);
	report("the clock runs: the seconds change within 1.5 s", wait_next_second());

	/* UIP is set in the 244 us before each update (rtc-cmos polls it) */
	bool uip = false;
	u32 t = pm_now();
	while (!uip && pm_elapsed_us(t) < 2500000)
		uip = rtc_read(REG_A) & 0x80;
	report("UIP is seen set within 2.5 s", uip);
	bool cleared = false;
	t = pm_now();
	while (uip && !cleared && pm_elapsed_us(t) < 20000)
		cleared = !(rtc_read(REG_A) & 0x80);
	report("UIP clears within 20 ms (the update ends)", cleared);

	/* binary mode: the same second in both formats */
	wait_next_second();
	delay_us(10000);
	u8 s_bcd = rtc_read(0), h_bcd = rtc_read(4);
	rtc_write(REG_B, 0x06);
	u8 s_bin = rtc_read(0), h_bin = rtc_read(4);
	report("DM=1: seconds and hours in binary", s_bin == bcd(s_bcd) && h_bin == bcd(h_bcd));

	/* 12-hour BCD: 1-12, bit 7 for PM */
	rtc_write(REG_B, 0x00);
	u8 h12 = rtc_read(4);
	unsigned h24 = bcd(h_bcd), want = h24 % 12 ? h24 % 12 : 12;
	report("12-hour mode: hour 1-12 with the PM bit",
	       bcd(h12 & 0x7f) == want && !!(h12 & 0x80) == (h24 >= 12));
	rtc_write(REG_B, 0x02);

	/* SET freezes the clock; writes then take; clearing SET starts from them */
	rtc_write(REG_B, 0x82);
	rtc_write(0, 0x56);
	rtc_write(2, 0x34);
	rtc_write(4, 0x12);
	rtc_write(7, 0x28);
	rtc_write(8, 0x02);
	rtc_write(9, 0x01);
	rtc_write(CENTURY, 0x20);
	delay_us(1200000);
	report("SET: the written time reads back and stands still",
	       rtc_read(0) == 0x56 && rtc_read(2) == 0x34 && rtc_read(4) == 0x12 &&
		   rtc_read(7) == 0x28 && rtc_read(8) == 0x02 && rtc_read(9) == 0x01);
	rtc_write(REG_B, 0x02);
	wait_next_second();
	wait_next_second();
	u8 s2 = rtc_read(0), m2 = rtc_read(2);
	report("SET cleared: the clock runs on from the written time",
	       m2 == 0x34 && s2 >= 0x57 && s2 <= 0x59);
	/* 23:59:59 on 28 Feb 2001 rolls over to 1 Mar (2001 is not a leap year) */
	rtc_write(REG_B, 0x82);
	rtc_write(0, 0x59);
	rtc_write(2, 0x59);
	rtc_write(4, 0x23);
	rtc_write(REG_B, 0x02);
	wait_next_second();
	delay_us(10000);
	report("the date rolls over: 2001-02-28 23:59:59 -> 2001-03-01 00:00",
	       rtc_read(7) == 0x01 && rtc_read(8) == 0x03 && rtc_read(4) == 0x00 &&
		   rtc_read(2) == 0x00);

	/*
	 * register C: UF after an update; AF with don't-care alarm fields; read
	 * clears. PF is set at the RS rate even with PIE off (1024 Hz after
	 * power-on), so the rate is turned off for this part.
	 */
	rtc_write(REG_A, 0x20);
	/* up to three seconds: a vCPU (or QEMU) thread that lost the host CPU
	 * across the update must not decide */
	u8 c = 0;
	for (int k = 0; k < 3 && (c & 0x90) != 0x10; k++) {
		rtc_read(REG_C);
		wait_next_second();
		delay_us(10000);
		c = rtc_read(REG_C);
	}
	report("register C: UF after an update, IRQF clear with UIE off", (c & 0x90) == 0x10);
	report("register C reads as zero right after a read", rtc_read(REG_C) == 0);
	rtc_write(1, 0xc0);
	rtc_write(3, 0xc0);
	rtc_write(5, 0xc0);
	rtc_read(REG_C);
	wait_next_second();
	delay_us(10000);
	report("alarm with every field don't-care: AF each second", rtc_read(REG_C) & 0x20);
	rtc_write(1, 0);
	rtc_write(3, 0);
	rtc_write(5, 0);
	rtc_write(REG_A, 0x26);

	/* CMOS RAM */
	for (unsigned k = 0x40; k < 0x80; k++)
		rtc_write((u8)k, (u8)(k * 7 + 3));
	bool ram = true;
	for (unsigned k = 0x40; k < 0x80; k++)
		ram &= rtc_read((u8)k) == (u8)(k * 7 + 3);
	report("CMOS RAM 0x40-0x7f keeps what is written", ram);
	report("bit 7 of the index (NMI mask) does not select another register",
	       (outb(0x70, 0x80 | 0x41), inb(0x71)) == (u8)(0x41 * 7 + 3));
	report_summary();
}
