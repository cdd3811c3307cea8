/* SPDX-License-Identifier: MIT */
/*
 * pci-testdev with QEMU's semantics (hw/misc/pci-testdev.c), as used by
 * kvm-unit-tests' pci test:
 *
 * Both BARs hold three tests each (mmio-*, portio-*). Writing n to offset 0
 * of a BAR selects test n of that BAR's type and zeroes its hit count; then
 * reads return the selected test's header byte by byte:
 *   u8 test, u8 width, u8 pad[2], u32 offset, u8 data, u8 pad[3], u32 count,
 *   char name[]
 * and each write to `offset` counts a hit (for the datamatch test only a
 * one-byte write of `data`). The device is byte-wide: wider accesses are
 * split into bytes, as QEMU's .impl.max_access_size = 1 does.
 *
 * QEMU backs the wildcard and datamatch tests with ioeventfds, which consume
 * the matching writes without counting them; without ioeventfds they count.
 * A guest must accept either 0 or the number of writes for those two (as
 * kvm-unit-tests does); the no-eventfd tests always count.
 */
#include <stdio.h>
#include <string.h>

#include "dev_pcitestdev.h"

#define IOTEST_DATAMATCH 0xfa
#define IOTEST_NOMATCH	 0xce
#define HDR_OFFSET	 4
#define HDR_DATA	 8
#define HDR_COUNT	 12
#define HDR_NAME	 16

static const char *const test_names[3] = {"no-eventfd", "wildcard-eventfd", "datamatch-eventfd"};

void pcitestdev_init(struct pcitestdev *t)
{
	memset(t, 0, sizeof(*t));
	t->current = -1;
	for (unsigned i = 0; i < PCITESTDEV_NTESTS; i++) {
		struct pcitestdev_test *x = &t->tests[i];
		bool mem = i < 3;
		uint32_t off = (mem ? PCITESTDEV_MEM_SIZE / 2 : PCITESTDEV_IO_SIZE / 2) + i;
		char name[32];

		snprintf(name, sizeof(name), "%s-%s", mem ? "mmio" : "portio", test_names[i % 3]);
		x->match_data = i % 3 != 1;
		x->hdr[0] = (uint8_t)i;
		x->hdr[1] = 1; /* access width */
		for (int b = 0; b < 4; b++)
			x->hdr[HDR_OFFSET + b] = (uint8_t)(off >> (8 * b));
		x->hdr[HDR_DATA] = x->match_data ? IOTEST_DATAMATCH : IOTEST_NOMATCH;
		memcpy(x->hdr + HDR_NAME, name, strlen(name) + 1);
		x->bufsize = HDR_NAME + (unsigned)strlen(name) + 1;
	}
	/* QEMU sets class_id PCI_CLASS_OTHERS (0xff) as the 16-bit class: base 00, sub ff */
	pci_device_init(&t->pci, "pci-testdev", 0x1b36, 0x0005, 0x00, 0x00ff00);
	t->pci.cfg[PCI_INTERRUPT_PIN] = 0; /* no interrupt pin */
	pci_device_add_bar(&t->pci, 0, false, PCITESTDEV_MEM_SIZE, t, pcitestdev_mmio_access);
	pci_device_add_bar(&t->pci, 1, true, PCITESTDEV_IO_SIZE, t, pcitestdev_pio_access);
}

static uint32_t hdr32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void write_byte(struct pcitestdev *t, unsigned type, uint64_t addr, uint8_t v)
{
	struct pcitestdev_test *x;

	if (addr == 0) {
		/* select a test of this BAR's type */
		t->current = -1;
		if (v >= 3)
			return;
		t->current = (int)(type * 3 + v);
		memset(t->tests[t->current].hdr + HDR_COUNT, 0, 4);
		return;
	}
	if (t->current < 0)
		return;
	x = &t->tests[t->current];
	if (addr != hdr32(x->hdr + HDR_OFFSET))
		return;
	if (x->match_data && v != x->hdr[HDR_DATA])
		return;
	uint32_t c = hdr32(x->hdr + HDR_COUNT) + 1;
	for (int b = 0; b < 4; b++)
		x->hdr[HDR_COUNT + b] = (uint8_t)(c >> (8 * b));
}

static uint8_t read_byte(struct pcitestdev *t, uint64_t addr)
{
	const struct pcitestdev_test *x;

	if (t->current < 0)
		return 0;
	x = &t->tests[t->current];
	if (addr + 1 >= x->bufsize)
		return 0;
	return x->hdr[addr];
}

static void pcitestdev_access(struct pcitestdev *t, unsigned type, uint64_t off, uint64_t *val,
			      unsigned len, bool write)
{
	for (unsigned k = 0; k < len; k++) {
		if (write) {
			write_byte(t, type, off + k, (uint8_t)(*val >> (8 * k)));
		} else {
			*val &= ~(0xffull << (8 * k));
			*val |= (uint64_t)read_byte(t, off + k) << (8 * k);
		}
	}
}

void pcitestdev_mmio_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	pcitestdev_access(dev, 0, off, val, len, write);
}

void pcitestdev_pio_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	pcitestdev_access(dev, 1, off, val, len, write);
}
