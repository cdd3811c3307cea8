/* SPDX-License-Identifier: MIT */
/* QEMU's pci-testdev (1b36:0005): BAR0 memory, BAR1 I/O. */
#ifndef SOFTKVM_VMM_DEV_PCITESTDEV_H
#define SOFTKVM_VMM_DEV_PCITESTDEV_H

#include <stdbool.h>
#include <stdint.h>

#include "dev_pci.h"

#define PCITESTDEV_NTESTS                                                                          \
	6 /* {mmio, portio} x {no-eventfd, wildcard-eventfd, datamatch-eventfd}                    \
	   */
#define PCITESTDEV_HDR_MAX  48
#define PCITESTDEV_MEM_SIZE 4096
#define PCITESTDEV_IO_SIZE  256

struct pcitestdev_test {
	uint8_t hdr[PCITESTDEV_HDR_MAX]; /* header as the guest reads it; count at offset 12 */
	unsigned bufsize;
	bool match_data;
};

struct pcitestdev {
	struct pci_device pci;
	struct pcitestdev_test tests[PCITESTDEV_NTESTS];
	int current; /* selected test, -1 for none */
};

void pcitestdev_init(struct pcitestdev *t);
void pcitestdev_mmio_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);
void pcitestdev_pio_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);

#endif
