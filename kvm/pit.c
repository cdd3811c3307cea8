/* SPDX-License-Identifier: MIT */
/*
 * The 8254 PIT at ports 0x40-0x43 (1.193182 MHz): modes 0-5, latch and
 * read-back commands, LSB/MSB/word access, BCD flag kept, channel 2's gate
 * and output on port 0x61 (with KVM_PIT_SPEAKER_DUMMY). Channel 0 drives
 * GSI 0. Caller holds vm->irq_lock.
 */
#include <stdlib.h>
#include <string.h>

#include "kvm_internal.h"
#include "irq.h"

#define PIT_HZ 1193182ull

enum { RW_LSB = 1, RW_MSB = 2, RW_WORD0 = 3, RW_WORD1 = 4 };

struct pit_ch {
	uint32_t count; /* 1..0x10000 */
	uint16_t latched_count;
	uint8_t count_latched, status_latched, status, read_state, write_state, write_latch;
	uint8_t rw_mode, mode, bcd, gate;
	uint64_t load_ns; /* host ns when the count was loaded */
};

struct kvm_pit {
	struct kvm_vm *vm;
	uint32_t flags;
	struct pit_ch ch[3];
	bool speaker_data;
	uint64_t next_ns; /* channel 0 next interrupt, 0 none */
};

static uint64_t ns_to_ticks(uint64_t ns)
{
	return (uint64_t)(((unsigned __int128)ns * PIT_HZ) / 1000000000u);
}

static uint64_t ticks_to_ns(uint64_t t)
{
	return (uint64_t)(((unsigned __int128)t * 1000000000u + PIT_HZ - 1) / PIT_HZ);
}

static uint64_t elapsed(const struct pit_ch *c, uint64_t now)
{
	return now > c->load_ns ? ns_to_ticks(now - c->load_ns) : 0;
}

static uint16_t get_count(const struct pit_ch *c, uint64_t now)
{
	uint64_t d = elapsed(c, now);
	switch (c->mode) {
	case 0:
	case 1:
	case 4:
	case 5:
		return (uint16_t)((c->count - d) & 0xffff);
	case 3:
		return (uint16_t)(c->count - ((2 * d) % c->count));
	default:
		return (uint16_t)(c->count - (d % c->count));
	}
}

static int get_out(const struct pit_ch *c, uint64_t now)
{
	uint64_t d = elapsed(c, now);
	switch (c->mode) {
	default:
	case 0:
		return d >= c->count;
	case 1:
		return d < c->count;
	case 2:
		return (d % c->count) == 0 && d != 0;
	case 3:
		return (d % c->count) < ((c->count + 1) >> 1);
	case 4:
	case 5:
		return d == c->count;
	}
}

static void arm_channel0(struct kvm_pit *p, uint64_t now)
{
	struct pit_ch *c = &p->ch[0];
	uint64_t period = ticks_to_ns(c->count);
	/* modes 2 and 3 repeat; the others fire once when the count runs out */
	p->next_ns = now + period;
	service_deadline(p->vm, p->next_ns);
}

static void load_count(struct kvm_pit *p, int ch, uint32_t val, uint64_t now)
{
	struct pit_ch *c = &p->ch[ch];
	if (val == 0)
		val = 0x10000;
	c->count = val;
	c->load_ns = now;
	if (ch == 0) {
		if (c->mode <= 4 && c->mode != 0xff)
			arm_channel0(p, now); /* modes 0, 1, 4 once; 2, 3 periodic */
		else
			p->next_ns = 0;
	}
}

struct kvm_pit *pit_create(struct kvm_vm *vm, uint32_t flags)
{
	struct kvm_pit *p = calloc(1, sizeof(*p));
	uint64_t now = kvm_host_ns();
	if (!p)
		return NULL;
	p->vm = vm;
	p->flags = flags;
	for (int k = 0; k < 3; k++) {
		struct pit_ch *c = &p->ch[k];
		c->mode = 0xff; /* not programmed: no interrupts until the guest sets it up */
		c->gate = k != 2;
		c->count = 0x10000;
		c->load_ns = now;
	}
	return p;
}

void pit_destroy(struct kvm_pit *p)
{
	free(p);
}

bool pit_port(uint16_t port)
{
	return port >= 0x40 && port <= 0x43;
}

uint64_t pit_check_timer(struct kvm_pit *p, uint64_t now, bool *fire)
{
	struct pit_ch *c = &p->ch[0];
	*fire = false;
	if (!p->next_ns || now < p->next_ns)
		return p->next_ns;
	/* an edge on GSI 0 (the PIT's own source), raised by the caller without irq_lock */
	*fire = true;
	if (c->mode == 2 || c->mode == 3) {
		uint64_t period = ticks_to_ns(c->count);
		uint64_t next = p->next_ns + period;
		if (next <= now) /* missed ticks are coalesced */
			next = now + period - ((now - p->next_ns) % period);
		p->next_ns = next;
	} else {
		p->next_ns = 0;
	}
	return p->next_ns;
}

static void latch_count(struct pit_ch *c, uint64_t now)
{
	if (!c->count_latched) {
		c->latched_count = get_count(c, now);
		c->count_latched = c->rw_mode;
	}
}

static void write_port(struct kvm_pit *p, uint16_t port, uint8_t val, uint64_t now)
{
	if (port == 0x43) {
		int ch = val >> 6;
		if (ch == 3) { /* read-back */
			for (int k = 0; k < 3; k++) {
				if (!(val & (2 << k)))
					continue;
				struct pit_ch *c = &p->ch[k];
				if (!(val & 0x20))
					latch_count(c, now);
				if (!(val & 0x10) && !c->status_latched) {
					c->status =
					    (uint8_t)((get_out(c, now) << 7) | (c->rw_mode << 4) |
						      (c->mode << 1) | c->bcd);
					c->status_latched = 1;
				}
			}
			return;
		}
		struct pit_ch *c = &p->ch[ch];
		unsigned access = (val >> 4) & 3;
		if (access == 0) {
			latch_count(c, now);
			return;
		}
		c->rw_mode = (uint8_t)access;
		c->read_state = c->write_state = (uint8_t)access;
		c->mode = (val >> 1) & 7;
		if (c->mode > 5)
			c->mode -= 4; /* 6 and 7 are aliases of 2 and 3 */
		c->bcd = val & 1;
		if (ch == 0)
			p->next_ns = 0; /* stopped until a count is written */
		return;
	}
	int ch = port - 0x40;
	struct pit_ch *c = &p->ch[ch];
	switch (c->write_state) {
	default:
	case RW_LSB:
		load_count(p, ch, val, now);
		break;
	case RW_MSB:
		load_count(p, ch, (uint32_t)val << 8, now);
		break;
	case RW_WORD0:
		c->write_latch = val;
		c->write_state = RW_WORD1;
		break;
	case RW_WORD1:
		load_count(p, ch, c->write_latch | ((uint32_t)val << 8), now);
		c->write_state = RW_WORD0;
		break;
	}
}

static uint8_t read_port(struct kvm_pit *p, uint16_t port, uint64_t now)
{
	if (port == 0x43)
		return 0xff; /* the control word register is write-only */
	struct pit_ch *c = &p->ch[port - 0x40];
	uint8_t ret;
	if (c->status_latched) {
		c->status_latched = 0;
		return c->status;
	}
	if (c->count_latched) {
		switch (c->count_latched) {
		default:
		case RW_LSB:
			ret = c->latched_count & 0xff;
			c->count_latched = 0;
			break;
		case RW_MSB:
			ret = c->latched_count >> 8;
			c->count_latched = 0;
			break;
		case RW_WORD0:
			ret = c->latched_count & 0xff;
			c->count_latched = RW_MSB;
			break;
		}
		return ret;
	}
	uint16_t count = get_count(c, now);
	switch (c->read_state) {
	default:
	case RW_LSB:
		return count & 0xff;
	case RW_MSB:
		return count >> 8;
	case RW_WORD0:
		c->read_state = RW_WORD1;
		return count & 0xff;
	case RW_WORD1:
		c->read_state = RW_WORD0;
		return count >> 8;
	}
}

int pit_io(struct kvm_pit *p, uint16_t port, bool in, void *data, unsigned len)
{
	uint8_t *d = data;
	uint64_t now = kvm_host_ns();

	if (port == 0x61) {
		struct pit_ch *c = &p->ch[2];
		if (in) {
			memset(data, 0, len);
			/* bit 4 toggles with DRAM refresh (every 15.085 us) */
			d[0] = (uint8_t)(c->gate | (p->speaker_data << 1) |
					 (((now / 15085) & 1) << 4) | (get_out(c, now) << 5));
		} else {
			uint8_t gate = d[0] & 1;
			/* a rising gate restarts counting in modes 1, 2, 3 and 5 */
			if (gate && !c->gate &&
			    (c->mode == 1 || c->mode == 2 || c->mode == 3 || c->mode == 5))
				c->load_ns = now;
			c->gate = gate;
			p->speaker_data = (d[0] >> 1) & 1;
		}
		return 0;
	}
	if (in) {
		memset(data, 0, len);
		d[0] = read_port(p, port, now);
	} else {
		write_port(p, port, d[0], now);
	}
	return 0;
}

bool pit_has_speaker(struct kvm_pit *p)
{
	return (p->flags & KVM_PIT_SPEAKER_DUMMY) != 0;
}

void pit_get_state(struct kvm_pit *p, struct kvm_pit_state2 *s)
{
	memset(s, 0, sizeof(*s));
	for (int k = 0; k < 3; k++) {
		const struct pit_ch *c = &p->ch[k];
		struct kvm_pit_channel_state *o = &s->channels[k];
		o->count = c->count;
		o->latched_count = c->latched_count;
		o->count_latched = c->count_latched;
		o->status_latched = c->status_latched;
		o->status = c->status;
		o->read_state = c->read_state;
		o->write_state = c->write_state;
		o->write_latch = c->write_latch;
		o->rw_mode = c->rw_mode;
		o->mode = c->mode == 0xff ? 0 : c->mode;
		o->bcd = c->bcd;
		o->gate = c->gate;
		o->count_load_time = (int64_t)c->load_ns;
	}
	s->flags = 0;
	if (p->speaker_data)
		s->flags |= KVM_PIT_FLAGS_SPEAKER_DATA_ON;
}

void pit_set_state(struct kvm_pit *p, const struct kvm_pit_state2 *s)
{
	uint64_t now = kvm_host_ns();
	for (int k = 0; k < 3; k++) {
		struct pit_ch *c = &p->ch[k];
		const struct kvm_pit_channel_state *o = &s->channels[k];
		c->latched_count = o->latched_count;
		c->count_latched = o->count_latched;
		c->status_latched = o->status_latched;
		c->status = o->status;
		c->read_state = o->read_state;
		c->write_state = o->write_state;
		c->write_latch = o->write_latch;
		c->rw_mode = o->rw_mode;
		c->mode = o->mode;
		c->bcd = o->bcd;
		c->gate = o->gate;
		/* as KVM: the count is reloaded now */
		load_count(p, k, o->count, now);
	}
	p->speaker_data = (s->flags & KVM_PIT_FLAGS_SPEAKER_DATA_ON) != 0;
}
