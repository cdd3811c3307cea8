/* SPDX-License-Identifier: MIT */
/*
 * The IOAPIC (82093AA, version 0x11 as KVM models it): 24 pins, edge and
 * level triggering with remote IRR, EOI broadcast from the LAPICs. MMIO at
 * 0xfec00000: IOREGSEL at +0, IOWIN at +0x10. Caller holds vm->irq_lock.
 */
#include <stdlib.h>
#include <string.h>

#include "kvm_internal.h"
#include "irq.h"

#define IOAPIC_PINS    24
#define RTE_MASKED     (1ull << 16)
#define RTE_LEVEL      (1ull << 15)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_POLARITY   (1ull << 13)
#define RTE_DELIV_STAT (1ull << 12)
#define RTE_LOGICAL    (1ull << 11)

struct kvm_ioapic {
	struct kvm_vm *vm;
	_Atomic uint64_t base; /* written under irq_lock, tested without it by vCPUs */
	uint32_t ioregsel;
	uint32_t id;
	uint32_t irr; /* pin levels (asserted lines) */
	uint64_t rte[IOAPIC_PINS];
};

struct kvm_ioapic *ioapic_create(struct kvm_vm *vm)
{
	struct kvm_ioapic *io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	io->vm = vm;
	io->base = 0xfec00000ull;
	for (int k = 0; k < IOAPIC_PINS; k++)
		io->rte[k] = RTE_MASKED;
	return io;
}

void ioapic_destroy(struct kvm_ioapic *io)
{
	free(io);
}

uint64_t ioapic_base(struct kvm_ioapic *io)
{
	return io->base;
}

/* Send pin's interrupt to the LAPICs; returns delivered count (or -1). */
static int ioapic_service(struct kvm_ioapic *io, unsigned pin)
{
	uint64_t e = io->rte[pin];
	struct apic_irq irq = {
	    .vector = e & 0xff,
	    .delivery_mode = (e >> 8) & 7,
	    .dest_logical = (e & RTE_LOGICAL) != 0,
	    .trig_level = (e & RTE_LEVEL) != 0,
	    .level = true,
	    .shorthand = SH_NONE,
	    .dest_id = (uint32_t)(e >> 56),
	};
	if (e & RTE_MASKED)
		return -1;
	if (irq.trig_level) {
		if (e & RTE_REMOTE_IRR)
			return 0; /* still being serviced: coalesced */
		io->rte[pin] |= RTE_REMOTE_IRR;
	}
	if (irq.delivery_mode == DM_EXTINT) {
		/* ExtINT through the IOAPIC: the PIC delivers the vector */
		return 1;
	}
	int r = apic_deliver(io->vm, NULL, &irq);
	if (r <= 0 && irq.trig_level)
		io->rte[pin] &= ~RTE_REMOTE_IRR;
	return r;
}

int ioapic_set_irq(struct kvm_ioapic *io, unsigned pin, bool level)
{
	if (pin >= IOAPIC_PINS)
		return -1;
	uint32_t mask = 1u << pin;
	uint64_t e = io->rte[pin];
	bool old = (io->irr & mask) != 0;
	/* polarity: active-low pins are inverted by the board; KVM takes the line level */
	if (!level) {
		io->irr &= ~mask;
		return 1;
	}
	io->irr |= mask;
	/* an edge pin's IRR follows the line, so only a low-to-high transition is an
	 * edge; raising a line that is already high is coalesced (Linux ioapic_set_irq) */
	if (!(e & RTE_LEVEL) && old)
		return 0;
	return ioapic_service(io, pin);
}

/* EOI broadcast from a LAPIC for a level-triggered vector */
void ioapic_eoi(struct kvm_ioapic *io, uint8_t vector)
{
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t e = io->rte[pin];
		if ((e & 0xff) != vector || !(e & RTE_LEVEL) || !(e & RTE_REMOTE_IRR))
			continue;
		io->rte[pin] &= ~RTE_REMOTE_IRR;
		irq_ack_notify(io->vm, pin);
		/* a still-asserted line delivers again */
		if ((io->irr & (1u << pin)) && !(io->rte[pin] & RTE_MASKED))
			ioapic_service(io, pin);
	}
}

static uint32_t ioapic_read_reg(struct kvm_ioapic *io)
{
	uint32_t sel = io->ioregsel;
	switch (sel) {
	case 0:
		return io->id << 24;
	case 1:
		return 0x11 | ((IOAPIC_PINS - 1) << 16); /* version, max redirection entry */
	case 2:
		return io->id << 24; /* arbitration ID */
	default:
		if (sel >= 0x10 && sel < 0x10 + 2 * IOAPIC_PINS) {
			uint64_t e = io->rte[(sel - 0x10) / 2];
			return (sel & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
		}
		return 0xffffffffu;
	}
}

static void ioapic_write_reg(struct kvm_ioapic *io, uint32_t val)
{
	uint32_t sel = io->ioregsel;
	if (sel == 0) {
		io->id = (val >> 24) & 0xf;
		return;
	}
	if (sel < 0x10 || sel >= 0x10 + 2 * IOAPIC_PINS)
		return;
	unsigned pin = (sel - 0x10) / 2;
	uint64_t e = io->rte[pin];
	if (sel & 1) {
		e = (e & 0xffffffffull) | ((uint64_t)val << 32);
	} else {
		/* delivery status and remote IRR are read-only */
		uint64_t ro = RTE_DELIV_STAT | RTE_REMOTE_IRR;
		e = (e & (0xffffffff00000000ull | ro)) | (val & ~(uint32_t)ro);
		/* remote IRR only makes sense for level-triggered pins */
		if (!(e & RTE_LEVEL))
			e &= ~RTE_REMOTE_IRR;
	}
	io->rte[pin] = e;
	/* unmasking a level-triggered pin whose line is asserted delivers it */
	if (!(e & RTE_MASKED) && (e & RTE_LEVEL) && (io->irr & (1u << pin)) &&
	    !(e & RTE_REMOTE_IRR))
		ioapic_service(io, pin);
}

int ioapic_mmio_read(struct kvm_ioapic *io, uint64_t off, void *data, unsigned len)
{
	uint32_t v = 0;
	memset(data, 0, len);
	switch (off & ~3ull) {
	case 0x00:
		v = io->ioregsel;
		break;
	case 0x10:
		v = ioapic_read_reg(io);
		break;
	default:
		v = 0;
		break;
	}
	v >>= 8 * (off & 3);
	memcpy(data, &v, len > 4 ? 4 : len);
	return 0;
}

int ioapic_mmio_write(struct kvm_ioapic *io, uint64_t off, const void *data, unsigned len)
{
	uint32_t v = 0;
	memcpy(&v, data, len > 4 ? 4 : len);
	switch (off) {
	case 0x00:
		io->ioregsel = v & 0xff;
		break;
	case 0x10:
		ioapic_write_reg(io, v);
		break;
	default:
		break;
	}
	return 0;
}

void ioapic_get_state(struct kvm_ioapic *io, struct kvm_ioapic_state *s)
{
	memset(s, 0, sizeof(*s));
	s->base_address = io->base;
	s->ioregsel = io->ioregsel;
	s->id = io->id;
	s->irr = io->irr;
	for (int k = 0; k < IOAPIC_PINS; k++)
		s->redirtbl[k].bits = io->rte[k];
}

void ioapic_set_state(struct kvm_ioapic *io, const struct kvm_ioapic_state *s)
{
	io->base = s->base_address;
	io->ioregsel = s->ioregsel;
	io->id = s->id;
	io->irr = s->irr;
	for (int k = 0; k < IOAPIC_PINS; k++)
		io->rte[k] = s->redirtbl[k].bits;
}
