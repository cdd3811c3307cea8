/* SPDX-License-Identifier: MIT */
/* The i8042 keyboard controller at ports 0x60/0x64: a keyboard with no keys, no AUX port. */
#ifndef SOFTKVM_VMM_DEV_I8042_H
#define SOFTKVM_VMM_DEV_I8042_H

#include <stdbool.h>
#include <stdint.h>

#define I8042_DATA_PORT	   0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_IRQ	   1

struct i8042 {
	uint8_t ccb;	  /* controller command byte ("CTR") */
	uint8_t outport;  /* output port: bit 0 reset (active low), bit 1 A20 */
	uint8_t pending;  /* the command whose parameter the next data write is, or 0 */
	uint8_t a2;	  /* status bit 3: the last write was to the command port */
	uint8_t queue[8]; /* bytes for the output buffer */
	unsigned head, count;
	bool kbd_scanning;
	bool irq;
	void (*set_irq)(void *opaque, bool level); /* IRQ 1; may be NULL */
	void *irq_opaque;
	void (*reset)(void *opaque); /* pulse of the CPU reset line */
	void *reset_opaque;
};

void i8042_init(struct i8042 *k);
/* Port 0x60 (off 0) and port 0x64, registered as two regions on the same device. */
void i8042_data_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);
void i8042_command_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);

#endif
