/* SPDX-License-Identifier: MIT */
/*
 * The guest of the QMP test (run-qmp.py): a multiboot kernel that shows it
 * is making progress and answers the ACPI power button.
 *
 * It prints "qmpguest: start" and then "tick N" every 20 ms of the ACPI PM
 * timer (which runs on while the VM is stopped, so a stop shows as a pause
 * in the ticks, not as a burst after it), enables PWRBTN_EN and polls
 * PM1_STS; when the power button is pressed (QMP system_powerdown) it prints
 * "qmpguest: power button (sci L)", L being IRQ 9 in the slave 8259's IRR
 * (the SCI was raised), clears the status and enters S5: the VMM powers off.
 */
#include "libtest.h"

#define PM1_STS	    0x600
#define PM1_EN	    0x602
#define PM1_CNT	    0x604
#define PM_TMR	    0x608
#define PWRBTN	    0x100
#define TICK_CYCLES (3579545u / 50)

int main(void)
{
	u32 last, elapsed = 0, tick = 0;

	printf("qmpguest: start\n");
	outw(PM1_EN, PWRBTN);
	last = inl(PM_TMR) & 0xffffff;
	for (;;) {
		u32 now = inl(PM_TMR) & 0xffffff;
		elapsed += (now - last) & 0xffffff;
		last = now;
		if (elapsed >= TICK_CYCLES) {
			elapsed = 0;
			printf("tick %u\n", ++tick);
		}
		if (inw(PM1_STS) & PWRBTN) {
			outb(0xa0, 0x0a); /* OCW3: read the IRR */
			u8 irr = inb(0xa0);
			printf("qmpguest: power button (sci %u)\n", (irr >> 1) & 1);
			outw(PM1_STS, PWRBTN);	 /* write 1 to clear */
			outw(PM1_CNT, 1u << 13); /* SLP_EN, SLP_TYP 0: \_S5 */
			for (;;)
				asm volatile("cli; hlt");
		}
	}
}
