/* SPDX-License-Identifier: MIT */
/*
 * Reset through chipset registers (Intel 82371SB PIIX3 data sheet, 4.1.18
 * "RC - Reset Control Register"; QEMU's hw/pci-host/i440fx.c and
 * hw/i386/port92.c): writing 0xcf9 with RST_CPU (bit 2) set resets the
 * machine (Linux's reboot=pci writes 0x02 then 0x06); writing 0x92 with bit
 * 0 set is the fast reset. Both reach the VMM through the reset callback.
 * Only byte accesses reach 0xcf9: wider ones at 0xcf8 are PCI configuration
 * addresses, which is why this region is registered before it.
 */
#include <string.h>

#include "dev_reset.h"

#define RCR_SYS_RST 0x02
#define RCR_RST_CPU 0x04
#define RCR_FULL    0x08

void reset_ctl_init(struct reset_ctl *r)
{
	memset(r, 0, sizeof(*r));
	r->port92 = 0x02; /* A20 enabled */
}

static void do_reset(struct reset_ctl *r)
{
	if (r->reset)
		r->reset(r->opaque);
}

void reset_cf9_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct reset_ctl *r = dev;

	(void)off;
	if (len != 1) {
		if (!write)
			*val = ~0ull;
		return;
	}
	if (!write) {
		*val = r->rcr;
		return;
	}
	r->rcr = (uint8_t)(*val & (RCR_SYS_RST | RCR_FULL));
	if (*val & RCR_RST_CPU)
		do_reset(r);
}

void reset_92_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct reset_ctl *r = dev;

	(void)off;
	if (len != 1) {
		if (!write)
			*val = ~0ull;
		return;
	}
	if (!write) {
		*val = r->port92;
		return;
	}
	/* bit 0 resets on its rising edge; it reads back as written */
	bool edge = (*val & 1) && !(r->port92 & 1);
	r->port92 = (uint8_t)(*val & 0x03);
	if (edge)
		do_reset(r);
}
