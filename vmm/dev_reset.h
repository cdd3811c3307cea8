/* SPDX-License-Identifier: MIT */
/* Reset registers: the PIIX3 reset control register (0xcf9) and System Control Port A (0x92). */
#ifndef SOFTKVM_VMM_DEV_RESET_H
#define SOFTKVM_VMM_DEV_RESET_H

#include <stdbool.h>
#include <stdint.h>

#define RESET_CF9_PORT 0xcf9
#define RESET_92_PORT  0x92

struct reset_ctl {
	uint8_t rcr;	/* 0xcf9: bit 1 SYS_RST, bit 2 RST_CPU, bit 3 FULL_RST */
	uint8_t port92; /* bit 0 fast reset, bit 1 fast A20 */
	void (*reset)(void *opaque);
	void *opaque;
};

void reset_ctl_init(struct reset_ctl *r);
void reset_cf9_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);
void reset_92_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);

#endif
