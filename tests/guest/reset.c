/* SPDX-License-Identifier: MIT */
/*
 * Resetting the machine the ways Linux's reboot= methods do, run with
 * --append "method=kbd|cf9|port92": the i8042 reset pulse (command 0xfe on
 * port 0x64), the PIIX3 reset control register (0x02 then 0x06 to 0xcf9),
 * the fast reset of System Control Port A (bit 0 of port 0x92). The VMM is
 * run with --reboot exit and QEMU with -no-reboot, so a reset ends both with
 * status 0. Before the reset, the i8042 commands Linux's driver and reboot
 * code use: controller self-test, the command byte, the keyboard interface
 * test, a keyboard echo and reset, the output port.
 */
#include "libtest.h"

#define KBD_DATA   0x60
#define KBD_STATUS 0x64

/* wait for the input buffer to drain (status bit 1), as Linux's kb_wait() */
static bool kbd_wait_write(void)
{
	for (int k = 0; k < 100000; k++)
		if (!(inb(KBD_STATUS) & 0x02))
			return true;
	return false;
}

/* the next output byte (status bit 0), or -1 */
static int kbd_read(void)
{
	for (int k = 0; k < 100000; k++)
		if (inb(KBD_STATUS) & 0x01)
			return inb(KBD_DATA);
	return -1;
}

static void kbd_flush(void)
{
	for (int k = 0; k < 64 && (inb(KBD_STATUS) & 0x01); k++)
		inb(KBD_DATA);
}

static int kbd_command(u8 cmd)
{
	kbd_wait_write();
	outb(KBD_STATUS, cmd);
	return kbd_read();
}

static void i8042_checks(void)
{
	kbd_flush();
	report("i8042: not busy (IBF clear)", kbd_wait_write());
	report("i8042: controller self-test (0xaa) answers 0x55", kbd_command(0xaa) == 0x55);
	report("i8042: keyboard interface test (0xab) answers 0", kbd_command(0xab) == 0x00);
	/* command byte: write 0x45 (interrupt off below), read it back */
	kbd_wait_write();
	outb(KBD_STATUS, 0x60);
	kbd_wait_write();
	outb(KBD_DATA, 0x44); /* system flag, translation; IRQ 1 off */
	report("i8042: the command byte reads back (0x20 after 0x60)", kbd_command(0x20) == 0x44);
	report("i8042: status has the system flag", inb(KBD_STATUS) & 0x04);
	kbd_wait_write();
	outb(KBD_DATA, 0xee);
	report("keyboard: echo (0xee)", kbd_read() == 0xee);
	kbd_wait_write();
	outb(KBD_DATA, 0xff);
	int ack = kbd_read(), bat = kbd_read();
	report("keyboard: reset acknowledged (0xfa), self-test passed (0xaa)",
	       ack == 0xfa && bat == 0xaa);
	int out = kbd_command(0xd0);
	report("i8042: output port (0xd0) has the reset line high", out >= 0 && (out & 1));
	kbd_flush();
}

int main(void)
{
	char method[16];

	cmdline_arg("method", method, sizeof(method));
	if (!strcmp(method, "kbd"))
		i8042_checks();
	report_summary_print();
	if (!strcmp(method, "kbd")) {
		kbd_wait_write();
		outb(KBD_STATUS, 0xfe); /* pulse the reset line */
	} else if (!strcmp(method, "cf9")) {
		outb(0xcf9, 0x02);
		outb(0xcf9, 0x06);
	} else if (!strcmp(method, "port92")) {
		outb(0x92, inb(0x92) | 1);
	}
	for (volatile int k = 0; k < 10000000; k++)
		;
	puts("the machine did not reset\n");
	exit(3);
}
