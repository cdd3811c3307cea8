/* SPDX-License-Identifier: MIT */
/*
 * pc-testdev, with QEMU's semantics (hw/misc/pc-testdev.c):
 *   0xe0-0xe3   a 32-bit register; an access of n bytes at 0xe0+k reads or
 *               replaces bytes k..k+n-1 of it
 *   0xe4-0xe7   flush-page (a 32-bit write of a guest address); nothing to
 *               flush here, so writes are accepted and ignored
 *   0xe8-0xeb   the same register as 0xe0, accessed one byte at a time
 *   0x2000+n    IRQ line n (n < 24) set to (byte != 0): GSI n's level
 *   0xff000000  64 KiB of device memory that reads back what was written
 */
#include <string.h>

#include "dev_pctestdev.h"

void pctestdev_init(struct pctestdev *d)
{
	memset(d, 0, sizeof(*d));
}

static void ioport_rw(struct pctestdev *d, unsigned start, uint64_t *val, unsigned len, bool write)
{
	for (unsigned k = 0; k < len && start + k < 4; k++) {
		unsigned sh = 8 * (start + k);
		if (write) {
			d->ioport_data &= ~(0xffu << sh);
			d->ioport_data |= (uint32_t)((*val >> (8 * k)) & 0xff) << sh;
		} else {
			*val &= ~(0xffull << (8 * k));
			*val |= (uint64_t)((d->ioport_data >> sh) & 0xff) << (8 * k);
		}
	}
	/* bytes past the register read as zero */
	if (!write) {
		for (unsigned k = 4 - start; k < len && k < 8; k++)
			*val &= ~(0xffull << (8 * k));
	}
}

void pctestdev_ioport_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	ioport_rw(dev, (unsigned)off & 3, val, len, write);
}

void pctestdev_flush_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	(void)dev, (void)off, (void)val, (void)len, (void)write;
}

void pctestdev_irq_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct pctestdev *d = dev;

	if (!write) {
		*val = 0;
		return;
	}
	for (unsigned k = 0; k < len && off + k < PCTESTDEV_NIRQ; k++) {
		d->irq[off + k] = ((*val >> (8 * k)) & 0xff) != 0;
		if (d->set_irq)
			d->set_irq(d->irq_opaque, (unsigned)off + k, d->irq[off + k]);
	}
}

void pctestdev_iomem_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct pctestdev *d = dev;
	unsigned n = len;

	if (off + n > PCTESTDEV_IOMEM_LEN)
		n = (unsigned)(PCTESTDEV_IOMEM_LEN - off);
	if (write) {
		memcpy(&d->iomem[off], val, n);
	} else {
		*val = 0;
		memcpy(val, &d->iomem[off], n);
	}
}
