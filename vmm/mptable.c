/* SPDX-License-Identifier: MIT */
/*
 * The MP table (Intel MultiProcessor Specification 1.4, chapter 4), saying
 * what the ACPI MADT says for kernels that read this one instead (Linux with
 * CONFIG_X86_MPPARSE and no ACPI, older systems): one processor entry per
 * vCPU (APIC ID = index, vCPU 0 the BSP), a PCI bus 0 and an ISA bus 1, the
 * IOAPIC (ID 0, 0xfec00000), the ISA IRQs on their IOAPIC pins with IRQ 0 on
 * pin 2 and the SCI (IRQ 9) level triggered, active high, as the MADT's
 * overrides say, and LINT0 ExtINT / LINT1 NMI on every local APIC. The
 * floating pointer is 16-byte aligned in 0xf0000-0xfffff, where the
 * specification (4.1) says an operating system looks; IMCR is absent (virtual
 * wire mode).
 */
#include <string.h>

#include "mptable.h"

#define LAPIC_ADDR    0xfee00000u
#define IOAPIC_ADDR   0xfec00000u
#define IOAPIC_ID     0
#define IOAPIC_VER    0x11
#define LAPIC_VER     0x14
#define BUS_PCI	      0
#define BUS_ISA	      1
#define SCI_IRQ	      9
#define CPU_SIGNATURE 0x00000600u /* family 6: the OS reads CPUID itself */
#define CPU_FEATURES  0x00000201u /* FPU, APIC */

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static uint8_t checksum(const uint8_t *p, unsigned len)
{
	uint8_t s = 0;
	for (unsigned k = 0; k < len; k++)
		s = (uint8_t)(s + p[k]);
	return (uint8_t)-s;
}

static uint8_t *intsrc(uint8_t *p, uint8_t type, uint16_t flags, uint8_t bus, uint8_t irq,
		       uint8_t pin)
{
	p[0] = MP_INTSRC;
	p[1] = type;
	put16(p + 2, flags);
	p[4] = bus;
	p[5] = irq;
	p[6] = IOAPIC_ID;
	p[7] = pin;
	return p + 8;
}

void mptable_build(uint8_t *low, unsigned ncpus)
{
	uint8_t *fp = low + MPTABLE_FLOATING_ADDR, *t = low + MPTABLE_CONFIG_ADDR, *p;
	unsigned n = 0;

	if (ncpus > 255)
		ncpus = 255;
	memset(t, 0, MPTABLE_MAX_SIZE);
	p = t + 44;
	for (unsigned k = 0; k < ncpus; k++, n++, p += 20) {
		p[0] = MP_PROCESSOR;
		p[1] = (uint8_t)k; /* local APIC ID */
		p[2] = LAPIC_VER;
		p[3] = (uint8_t)(1 | (k == 0 ? 2 : 0)); /* enabled, bootstrap processor */
		put32(p + 4, CPU_SIGNATURE);
		put32(p + 8, CPU_FEATURES);
	}
	static const struct {
		uint8_t id;
		char type[7];
	} buses[] = {{BUS_PCI, "PCI   "}, {BUS_ISA, "ISA   "}};
	for (unsigned k = 0; k < 2; k++, n++, p += 8) {
		p[0] = MP_BUS;
		p[1] = buses[k].id;
		memcpy(p + 2, buses[k].type, 6);
	}
	p[0] = MP_IOAPIC;
	p[1] = IOAPIC_ID;
	p[2] = IOAPIC_VER;
	p[3] = 1; /* enabled */
	put32(p + 4, IOAPIC_ADDR);
	p += 8;
	n++;
	/* the 8259 through pin 0 (ExtINT), then ISA IRQs 0-15: IRQ 0 on pin 2, no IRQ 2 */
	p = intsrc(p, MP_EXTINT, 0, BUS_ISA, 0, 0);
	n++;
	for (unsigned irq = 0; irq < 16; irq++) {
		if (irq == 2)
			continue;
		/* flags: polarity bits 1:0, trigger 3:2; 0 conforms to the bus (edge, high) */
		uint16_t flags = irq == SCI_IRQ ? 0x000d : 0;
		p = intsrc(p, MP_INT, flags, BUS_ISA, (uint8_t)irq, (uint8_t)(irq ? irq : 2));
		n++;
	}
	for (unsigned lint = 0; lint < 2; lint++, n++, p += 8) {
		p[0] = MP_LINTSRC;
		p[1] = lint ? MP_NMI : MP_EXTINT;
		put16(p + 2, 0);
		p[4] = BUS_ISA;
		p[5] = 0;
		p[6] = 0xff; /* every local APIC */
		p[7] = (uint8_t)lint;
	}

	/* the configuration table header (4.2) */
	memcpy(t, "PCMP", 4);
	put16(t + 4, (uint16_t)(p - t));
	t[6] = 4; /* version 1.4 */
	memcpy(t + 8, "SOFTKVM ", 8);
	memcpy(t + 16, "SOFTKVM PC  ", 12);
	put16(t + 34, (uint16_t)n);
	put32(t + 36, LAPIC_ADDR);
	t[7] = checksum(t, (unsigned)(p - t));

	/* the floating pointer structure (4.1) */
	memset(fp, 0, 16);
	memcpy(fp, "_MP_", 4);
	put32(fp + 4, MPTABLE_CONFIG_ADDR);
	fp[8] = 1; /* length in 16-byte units */
	fp[9] = 4; /* version 1.4 */
	fp[10] = checksum(fp, 16);
}
