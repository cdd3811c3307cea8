/* SPDX-License-Identifier: MIT */
/*
 * In-kernel interrupt controllers and timers: LAPIC (per vCPU), IOAPIC,
 * the 8259 PIC pair, the 8254 PIT, GSI routing, irqfd and ioeventfd, and the
 * VM service thread that fires timers and watches eventfds.
 *
 * Locking: each LAPIC has its own mutex; the PIC, IOAPIC, PIT and routing
 * table are under vm->irq_lock. Order: irq_lock before a LAPIC lock. A LAPIC
 * timer is fired only by its own vCPU thread (the service thread or the halt
 * wait wakes it at the deadline); the PIT is fired by the service thread.
 */
#ifndef SOFTKVM_KVM_IRQ_H
#define SOFTKVM_KVM_IRQ_H

#include <stdbool.h>
#include <stdint.h>

struct kvm_vm;
struct kvm_vcpu;
struct kvm_lapic;

/* ---- APIC interrupt messages ---- */
enum {
	DM_FIXED = 0,
	DM_LOWEST = 1,
	DM_SMI = 2,
	DM_REMRD = 3,
	DM_NMI = 4,
	DM_INIT = 5,
	DM_SIPI = 6,
	DM_EXTINT = 7
};
enum { SH_NONE = 0, SH_SELF = 1, SH_ALL = 2, SH_OTHERS = 3 };

struct apic_irq {
	uint8_t vector;
	uint8_t delivery_mode;
	bool dest_logical;
	bool level;	 /* assert (for INIT: level assert vs de-assert) */
	bool trig_level; /* level-triggered */
	uint8_t shorthand;
	uint32_t dest_id;
	bool
	    redir_hint; /* MSI address bit 3: delivered as lowest priority (Linux msi_redir_hint) */
};

/* Deliver to every matching LAPIC (from IOAPIC, MSI, IPI). Returns the number of
 * LAPICs that accepted it, or -1 if none matched. src may be NULL. */
int apic_deliver(struct kvm_vm *vm, struct kvm_lapic *src, const struct apic_irq *irq);
/* does t accept a message for dest (physical or logical, xAPIC-format message)? */
bool lapic_match_dest(struct kvm_lapic *t, uint32_t dest, bool logical);
/* split irqchip: is vector one of the user-space IOAPIC's level-triggered routes to t? */
bool irq_split_handles_vector(struct kvm_vm *vm, struct kvm_lapic *t, uint8_t vector);

/* ---- LAPIC ---- */
struct kvm_lapic *lapic_create(struct kvm_vcpu *v);
void lapic_destroy(struct kvm_lapic *l);
void lapic_reset(struct kvm_lapic *l, bool init);
int lapic_mmio_read(struct kvm_lapic *l, uint64_t off, void *data, unsigned len);
int lapic_mmio_write(struct kvm_lapic *l, uint64_t off, const void *data, unsigned len);
/* x2APIC MSRs and IA32_TSC_DEADLINE; 0 ok, -1 #GP */
int lapic_msr_read(struct kvm_lapic *l, uint32_t msr, uint64_t *val);
int lapic_msr_write(struct kvm_lapic *l, uint32_t msr, uint64_t val);
/* IA32_APIC_BASE write (host: KVM_SET_MSRS/SREGS); 0 ok, -1 invalid */
int lapic_set_base(struct kvm_lapic *l, uint64_t value, bool host);
uint64_t lapic_get_base(struct kvm_lapic *l);
bool lapic_xapic_mmio_enabled(struct kvm_lapic *l, uint64_t gpa);
/* accept an interrupt into the IRR; true if accepted */
bool lapic_accept(struct kvm_lapic *l, const struct apic_irq *irq);
/* highest deliverable vector moved to ISR, or -1 */
int lapic_ack(struct kvm_lapic *l);
bool lapic_has_interrupt(struct kvm_lapic *l);
bool lapic_accepts_pic(struct kvm_lapic *l);
/* run expired timers (own vCPU thread); returns the next deadline (host ns, 0 none) */
uint64_t lapic_check_timer(struct kvm_lapic *l, uint64_t now);
uint64_t lapic_deadline(struct kvm_lapic *l);
void lapic_get_state(struct kvm_lapic *l, void *regs1024);
int lapic_set_state(struct kvm_lapic *l, const void *regs1024);
void lapic_set_tpr(struct kvm_lapic *l, unsigned cr8);
unsigned lapic_get_tpr(struct kvm_lapic *l);
/* the VAPIC word: TPR | max ISR priority << 8 | max IRR vector << 24 */
uint32_t lapic_vapic_word(struct kvm_lapic *l);
uint32_t lapic_id(struct kvm_lapic *l);
/* pending INIT/SIPI for the vCPU thread to process */
bool lapic_take_init(struct kvm_lapic *l);
bool lapic_init_pending(struct kvm_lapic *l);
int lapic_take_sipi(struct kvm_lapic *l);
/* LINT0/LINT1 (the PIC's INTR is LINT0 in ExtINT mode; NMI through LINT1) */
void lapic_lint(struct kvm_lapic *l, int pin, bool level);

/* ---- IOAPIC, PIC, PIT ---- */
struct kvm_ioapic *ioapic_create(struct kvm_vm *vm);
void ioapic_destroy(struct kvm_ioapic *io);
int ioapic_set_irq(struct kvm_ioapic *io, unsigned pin, bool level);
void ioapic_eoi(struct kvm_ioapic *io, uint8_t vector);
int ioapic_mmio_read(struct kvm_ioapic *io, uint64_t off, void *data, unsigned len);
int ioapic_mmio_write(struct kvm_ioapic *io, uint64_t off, const void *data, unsigned len);

struct kvm_pic *pic_create(struct kvm_vm *vm);
void pic_destroy(struct kvm_pic *p);
int pic_set_irq(struct kvm_pic *p, unsigned irq, bool level);
bool pic_has_output(struct kvm_pic *p);
int pic_ack(struct kvm_pic *p);
bool pic_port(uint16_t port);
int pic_io(struct kvm_pic *p, uint16_t port, bool in, void *data, unsigned len);

struct kvm_pit *pit_create(struct kvm_vm *vm, uint32_t flags);
void pit_destroy(struct kvm_pit *p);
bool pit_port(uint16_t port);
int pit_io(struct kvm_pit *p, uint16_t port, bool in, void *data, unsigned len);
/* Advance channel 0 to `now`; *fire says an edge is due on GSI 0, which the caller
 * raises with irq_set_gsi() after dropping irq_lock. Returns the next deadline. */
uint64_t pit_check_timer(struct kvm_pit *p, uint64_t now, bool *fire);

/* ---- GSI routing ---- */
int irq_set_gsi(struct kvm_vm *vm, uint32_t gsi, bool level, int source);
int irq_setup_default_routing(struct kvm_vm *vm);
/* MSI message -> LAPICs */
int irq_deliver_msi(struct kvm_vm *vm, uint64_t addr, uint32_t data);
/* EOI of a level-triggered IOAPIC vector: irqfd resamplers and ack notifiers */
void irq_ack_notify(struct kvm_vm *vm, unsigned gsi);

/* ---- service thread ---- */
void service_wake(struct kvm_vm *vm);
void service_deadline(struct kvm_vm *vm, uint64_t ns);
void service_vcpu_enters(struct kvm_vm *vm);

/* ---- the vCPU side ---- */
void vcpu_notify_irq(struct kvm_vcpu *v);
void vcpu_wake(struct kvm_vcpu *v);

#endif
