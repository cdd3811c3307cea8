/* SPDX-License-Identifier: MIT */
/*
 * The 8259A PIC pair (master at 0x20/0x21, slave at 0xa0/0xa1 cascaded on
 * IRQ2) with the ELCR at 0x4d0/0x4d1: ICW1-4, OCW1-3, fully nested and
 * special mask modes, rotation, auto-EOI, poll mode, edge and level
 * triggering. Its INTR output goes to the vCPUs whose LAPIC accepts ExtINT.
 * Caller holds vm->irq_lock.
 */
#include <stdlib.h>
#include <string.h>

#include "kvm_internal.h"
#include "irq.h"

struct pic_chip {
	uint8_t last_irr, irr, imr, isr;
	uint8_t priority_add, irq_base, read_reg_select, poll, special_mask;
	uint8_t init_state, auto_eoi, rotate_on_auto_eoi, special_fully_nested_mode, init4;
	uint8_t elcr, elcr_mask;
};

struct kvm_pic {
	struct kvm_vm *vm;
	struct pic_chip c[2];
	_Atomic bool output; /* written under irq_lock, read without it by vCPUs */
};

static void chip_reset(struct pic_chip *s)
{
	s->last_irr = 0;
	s->irr &= s->elcr;
	s->imr = 0;
	s->isr = 0;
	s->priority_add = 0;
	s->special_mask = 0;
	s->read_reg_select = 0;
	if (!s->init4) {
		s->special_fully_nested_mode = 0;
		s->auto_eoi = 0;
	}
	s->init_state = 1;
}

struct kvm_pic *pic_create(struct kvm_vm *vm)
{
	struct kvm_pic *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->vm = vm;
	p->c[0].elcr_mask = 0xf8;
	p->c[1].elcr_mask = 0xde;
	chip_reset(&p->c[0]);
	chip_reset(&p->c[1]);
	p->c[0].init_state = p->c[1].init_state = 0;
	return p;
}

void pic_destroy(struct kvm_pic *p)
{
	free(p);
}

/* priority of the highest bit in mask, 8 if none */
static int get_priority(const struct pic_chip *s, uint8_t mask)
{
	int prio = 0;
	if (!mask)
		return 8;
	while (!(mask & (1u << ((prio + s->priority_add) & 7))))
		prio++;
	return prio;
}

static int chip_get_irq(const struct pic_chip *s, bool master)
{
	uint8_t mask = s->irr & ~s->imr;
	int prio = get_priority(s, mask);
	if (prio == 8)
		return -1;
	/* with special fully nested mode, IRQ2 in service does not block the slave */
	mask = s->isr;
	if (s->special_fully_nested_mode && master)
		mask &= ~(1u << 2);
	if (s->special_mask)
		mask &= ~s->imr;
	int cur = get_priority(s, mask);
	if (prio < cur)
		return (prio + s->priority_add) & 7;
	return -1;
}

static void chip_set_irq(struct pic_chip *s, int irq, bool level)
{
	uint8_t mask = 1u << irq;
	if (s->elcr & mask) {
		if (level) {
			s->irr |= mask;
			s->last_irr |= mask;
		} else {
			s->irr &= ~mask;
			s->last_irr &= ~mask;
		}
	} else {
		if (level) {
			if (!(s->last_irr & mask))
				s->irr |= mask;
			s->last_irr |= mask;
		} else {
			s->last_irr &= ~mask;
		}
	}
}

static void pic_update(struct kvm_pic *p)
{
	int irq2 = chip_get_irq(&p->c[1], false);
	chip_set_irq(&p->c[0], 2, irq2 >= 0);
	bool out = chip_get_irq(&p->c[0], true) >= 0;
	p->output = out;
	if (out) {
		/* tell every vCPU that takes ExtINT */
		struct kvm_vm *vm = p->vm;
		for (unsigned k = 0; k < vm->nvcpus; k++)
			vcpu_notify_irq(vm->vcpus[k]);
	}
}

static void clear_isr(struct kvm_pic *p, struct pic_chip *s, int irq)
{
	s->isr &= ~(1u << irq);
	/* a level-triggered line is acknowledged: irqfd resamplers */
	int gsi = irq + (s == &p->c[1] ? 8 : 0);
	if (gsi != 2)
		irq_ack_notify_pic(p->vm, (unsigned)gsi);
}

int pic_set_irq(struct kvm_pic *p, unsigned irq, bool level)
{
	if (irq >= 16)
		return -1;
	struct pic_chip *s = &p->c[irq >> 3];
	uint8_t mask = 1u << (irq & 7);
	int ret = !(s->imr & mask) ? 1 : -1;
	if ((s->irr & mask) && level && !(s->elcr & mask))
		ret = 0; /* already pending: coalesced */
	chip_set_irq(s, irq & 7, level);
	pic_update(p);
	return ret;
}

bool pic_has_output(struct kvm_pic *p)
{
	return p->output;
}

static void intack(struct kvm_pic *p, struct pic_chip *s, int irq)
{
	s->isr |= 1u << irq;
	if (!(s->elcr & (1u << irq)))
		s->irr &= ~(1u << irq);
	if (s->auto_eoi) {
		if (s->rotate_on_auto_eoi)
			s->priority_add = (irq + 1) & 7;
		clear_isr(p, s, irq);
	}
}

int pic_ack(struct kvm_pic *p)
{
	int irq = chip_get_irq(&p->c[0], true), intno;

	p->output = false;
	if (irq >= 0) {
		intack(p, &p->c[0], irq);
		if (irq == 2) {
			int irq2 = chip_get_irq(&p->c[1], false);
			if (irq2 >= 0)
				intack(p, &p->c[1], irq2);
			else
				irq2 = 7; /* spurious on the slave */
			intno = p->c[1].irq_base + irq2;
		} else {
			intno = p->c[0].irq_base + irq;
		}
	} else {
		intno = p->c[0].irq_base + 7; /* spurious on the master */
	}
	pic_update(p);
	return intno;
}

bool pic_port(uint16_t port)
{
	return port == 0x20 || port == 0x21 || port == 0xa0 || port == 0xa1 || port == 0x4d0 ||
	       port == 0x4d1;
}

static void chip_write(struct kvm_pic *p, struct pic_chip *s, bool data, uint8_t val)
{
	if (!data) {
		if (val & 0x10) { /* ICW1 */
			s->init4 = val & 1;
			chip_reset(s);
			pic_update(p);
		} else if (val & 0x08) { /* OCW3 */
			if (val & 0x04)
				s->poll = 1;
			if (val & 0x02)
				s->read_reg_select = val & 1;
			if (val & 0x40)
				s->special_mask = (val >> 5) & 1;
		} else { /* OCW2 */
			unsigned cmd = val >> 5;
			int prio, irq;
			switch (cmd) {
			case 0:
			case 4:
				s->rotate_on_auto_eoi = cmd >> 2;
				break;
			case 1: /* non-specific EOI */
			case 5: /* rotate on non-specific EOI */
				prio = get_priority(s, s->isr);
				if (prio != 8) {
					irq = (prio + s->priority_add) & 7;
					if (cmd == 5)
						s->priority_add = (irq + 1) & 7;
					clear_isr(p, s, irq);
					pic_update(p);
				}
				break;
			case 3: /* specific EOI */
				clear_isr(p, s, val & 7);
				pic_update(p);
				break;
			case 6: /* set priority */
				s->priority_add = (val + 1) & 7;
				pic_update(p);
				break;
			case 7: /* rotate on specific EOI */
				irq = val & 7;
				s->priority_add = (irq + 1) & 7;
				clear_isr(p, s, irq);
				pic_update(p);
				break;
			default:
				break;
			}
		}
		return;
	}
	switch (s->init_state) {
	case 0: /* OCW1: interrupt mask */
		s->imr = val;
		pic_update(p);
		break;
	case 1: /* ICW2 */
		s->irq_base = val & 0xf8;
		s->init_state = 2;
		break;
	case 2: /* ICW3 */
		s->init_state = s->init4 ? 3 : 0;
		break;
	case 3: /* ICW4 */
		s->special_fully_nested_mode = (val >> 4) & 1;
		s->auto_eoi = (val >> 1) & 1;
		s->init_state = 0;
		break;
	}
}

static uint8_t poll_read(struct kvm_pic *p, struct pic_chip *s, bool slave)
{
	int irq = chip_get_irq(s, !slave);
	if (irq < 0)
		return 0x07;
	if (slave) {
		p->c[0].isr &= ~(1u << 2);
		p->c[0].irr &= ~(1u << 2);
	}
	s->irr &= ~(1u << irq);
	clear_isr(p, s, irq);
	if (slave || irq != 2)
		pic_update(p);
	return (uint8_t)(irq | 0x80);
}

int pic_io(struct kvm_pic *p, uint16_t port, bool in, void *data, unsigned len)
{
	uint8_t *d = data;

	if (port == 0x4d0 || port == 0x4d1) {
		struct pic_chip *s = &p->c[port & 1];
		if (in) {
			memset(data, 0, len);
			d[0] = s->elcr;
		} else {
			s->elcr = d[0] & s->elcr_mask;
		}
		return 0;
	}
	struct pic_chip *s = &p->c[port >= 0xa0];
	bool data_port = port & 1;
	if (in) {
		memset(data, 0, len);
		if (s->poll) {
			s->poll = 0;
			d[0] = poll_read(p, s, port >= 0xa0);
		} else if (!data_port) {
			d[0] = s->read_reg_select ? s->isr : s->irr;
		} else {
			d[0] = s->imr;
		}
		return 0;
	}
	chip_write(p, s, data_port, d[0]);
	return 0;
}

void pic_get_state(struct kvm_pic *p, int chip, struct kvm_pic_state *st)
{
	const struct pic_chip *s = &p->c[chip];
	memset(st, 0, sizeof(*st));
	st->last_irr = s->last_irr;
	st->irr = s->irr;
	st->imr = s->imr;
	st->isr = s->isr;
	st->priority_add = s->priority_add;
	st->irq_base = s->irq_base;
	st->read_reg_select = s->read_reg_select;
	st->poll = s->poll;
	st->special_mask = s->special_mask;
	st->init_state = s->init_state;
	st->auto_eoi = s->auto_eoi;
	st->rotate_on_auto_eoi = s->rotate_on_auto_eoi;
	st->special_fully_nested_mode = s->special_fully_nested_mode;
	st->init4 = s->init4;
	st->elcr = s->elcr;
	st->elcr_mask = s->elcr_mask;
}

void pic_set_state(struct kvm_pic *p, int chip, const struct kvm_pic_state *st)
{
	struct pic_chip *s = &p->c[chip];
	s->last_irr = st->last_irr;
	s->irr = st->irr;
	s->imr = st->imr;
	s->isr = st->isr;
	s->priority_add = st->priority_add;
	s->irq_base = st->irq_base;
	s->read_reg_select = st->read_reg_select;
	s->poll = st->poll;
	s->special_mask = st->special_mask;
	s->init_state = st->init_state;
	s->auto_eoi = st->auto_eoi;
	s->rotate_on_auto_eoi = st->rotate_on_auto_eoi;
	s->special_fully_nested_mode = st->special_fully_nested_mode;
	s->init4 = st->init4;
	s->elcr = st->elcr;
	s->elcr_mask = st->elcr_mask;
	pic_update(p);
}
