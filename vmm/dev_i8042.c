/* SPDX-License-Identifier: MIT */
/*
 * i8042 keyboard controller, the part a PC guest needs (IBM PC/AT technical
 * reference; QEMU's hw/input/pckbd.c): the status register, the controller
 * command byte (0x20/0x60), self tests (0xaa -> 0x55, 0xab -> 0x00), port
 * enable/disable (0xad/0xae), the output port (0xd0/0xd1: bit 0 low resets
 * the CPU, bit 1 is A20) and the reset pulse 0xf0-0xff with bit 0 clear,
 * which is how Linux's reboot=kbd (its default after ACPI) resets the
 * machine. The keyboard answers the commands of a PS/2 keyboard (ACK, reset
 * with self-test passed, identify as MF2) but has no keys. There is no AUX
 * (mouse) port: its commands are ignored, as on an AT controller. Output
 * raises IRQ 1 when the command byte enables it.
 */
#include <string.h>

#include "dev_i8042.h"

#define ST_OBF	  0x01
#define ST_SYS	  0x04
#define ST_A2	  0x08
#define ST_UNLOCK 0x10

#define CCB_KBD_INT	 0x01
#define CCB_SYS		 0x04
#define CCB_KBD_DISABLED 0x10
#define CCB_XLATE	 0x40

#define OUT_RESET 0x01
#define OUT_A20	  0x02

#define KBD_ACK 0xfa

void i8042_init(struct i8042 *k)
{
	memset(k, 0, sizeof(*k));
	/* as firmware leaves it: interrupt on, system flag, translation on */
	k->ccb = CCB_KBD_INT | CCB_SYS | CCB_XLATE;
	k->outport = OUT_RESET | OUT_A20;
	k->kbd_scanning = true;
}

static void update_irq(struct i8042 *k)
{
	bool irq = k->count && (k->ccb & CCB_KBD_INT);

	if (irq != k->irq && k->set_irq)
		k->set_irq(k->irq_opaque, irq);
	k->irq = irq;
}

static void put(struct i8042 *k, uint8_t v)
{
	if (k->count < sizeof(k->queue)) {
		k->queue[(k->head + k->count) % sizeof(k->queue)] = v;
		k->count++;
	}
}

static void reset_cpu(struct i8042 *k)
{
	if (k->reset)
		k->reset(k->reset_opaque);
}

/* A byte for the keyboard itself (PS/2 keyboard command set). */
static void keyboard_write(struct i8042 *k, uint8_t v)
{
	switch (v) {
	case 0xff: /* reset: ACK, then BAT passed */
		put(k, KBD_ACK);
		put(k, 0xaa);
		k->kbd_scanning = true;
		break;
	case 0xf2: /* identify: MF2 keyboard (0x41 after translation) */
		put(k, KBD_ACK);
		put(k, 0xab);
		put(k, (k->ccb & CCB_XLATE) ? 0x41 : 0x83);
		break;
	case 0xee: /* echo */
		put(k, 0xee);
		break;
	case 0xf4: /* enable scanning */
		k->kbd_scanning = true;
		put(k, KBD_ACK);
		break;
	case 0xf5: /* disable scanning */
		k->kbd_scanning = false;
		put(k, KBD_ACK);
		break;
	default: /* set LEDs, typematic rate, scan code set, their parameters... */
		put(k, KBD_ACK);
		break;
	}
}

static void command(struct i8042 *k, uint8_t cmd)
{
	if (cmd >= 0xf0) {
		/* pulse output port bits 0-3 low for those clear in cmd: bit 0 is reset */
		if (!(cmd & 1))
			reset_cpu(k);
		return;
	}
	switch (cmd) {
	case 0x20: /* read the command byte */
		put(k, k->ccb);
		break;
	case 0x60: /* write the command byte */
	case 0xd1: /* write the output port */
	case 0xd2: /* write the keyboard output buffer */
		k->pending = cmd;
		break;
	case 0xaa: /* controller self-test */
		put(k, 0x55);
		break;
	case 0xab: /* keyboard interface test */
		put(k, 0x00);
		break;
	case 0xad:
		k->ccb |= CCB_KBD_DISABLED;
		break;
	case 0xae:
		k->ccb &= (uint8_t)~CCB_KBD_DISABLED;
		break;
	case 0xd0: /* read the output port */
		put(k, k->outport);
		break;
	default: /* AUX port commands and the rest: no AUX port, nothing to do */
		break;
	}
}

void i8042_data_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct i8042 *k = dev;

	(void)off;
	if (len != 1) {
		if (!write)
			*val = ~0ull;
		return;
	}
	if (!write) {
		uint8_t v = 0;
		if (k->count) {
			v = k->queue[k->head];
			k->head = (k->head + 1) % sizeof(k->queue);
			k->count--;
		}
		*val = v;
		update_irq(k);
		return;
	}
	k->a2 = 0;
	uint8_t v = (uint8_t)*val, cmd = k->pending;
	k->pending = 0;
	switch (cmd) {
	case 0x60:
		k->ccb = v;
		break;
	case 0xd1:
		k->outport = v;
		if (!(v & OUT_RESET))
			reset_cpu(k);
		break;
	case 0xd2:
		put(k, v);
		break;
	default:
		keyboard_write(k, v);
		break;
	}
	update_irq(k);
}

void i8042_command_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct i8042 *k = dev;

	(void)off;
	if (len != 1) {
		if (!write)
			*val = ~0ull;
		return;
	}
	if (!write) {
		/* never busy (IBF clear): input is taken at once */
		*val = (uint8_t)((k->count ? ST_OBF : 0) | ((k->ccb & CCB_SYS) ? ST_SYS : 0) |
				 k->a2 | ST_UNLOCK);
		return;
	}
	k->a2 = ST_A2;
	command(k, (uint8_t)*val);
	update_irq(k);
}
