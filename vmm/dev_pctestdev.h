/* SPDX-License-Identifier: MIT */
/* QEMU's pc-testdev: ISA test device used by kvm-unit-tests. */
#ifndef SOFTKVM_VMM_DEV_PCTESTDEV_H
#define SOFTKVM_VMM_DEV_PCTESTDEV_H

#include <stdbool.h>
#include <stdint.h>

#define PCTESTDEV_IOPORT      0xe0   /* 4-byte data register */
#define PCTESTDEV_FLUSH	      0xe4   /* flush-page: writes ignored */
#define PCTESTDEV_IOPORT_BYTE 0xe8   /* the same register, accessed byte by byte */
#define PCTESTDEV_IRQ	      0x2000 /* 24 IRQ lines, one byte each */
#define PCTESTDEV_NIRQ	      24
#define PCTESTDEV_IOMEM	      0xff000000ull
#define PCTESTDEV_IOMEM_LEN   0x10000

struct pctestdev {
	uint32_t ioport_data;
	uint8_t irq[PCTESTDEV_NIRQ]; /* line levels */
	uint8_t iomem[PCTESTDEV_IOMEM_LEN];
	/* drives GSI `line` (every write, as QEMU's qemu_set_irq); NULL: levels are only kept */
	void (*set_irq)(void *opaque, unsigned line, bool level);
	void *irq_opaque;
};

void pctestdev_init(struct pctestdev *d);
void pctestdev_ioport_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);
void pctestdev_flush_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);
void pctestdev_irq_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);
void pctestdev_iomem_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);

#endif
