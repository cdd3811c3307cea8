/* SPDX-License-Identifier: MIT */
/*
 * KVM_CAP_SPLIT_IRQCHIP: LAPICs in the kernel, IOAPIC and PIC in user space.
 * The enable rules (pin count, before vCPUs, once, not with
 * KVM_CREATE_IRQCHIP), then a guest taking interrupts through MSI routes:
 * the EOI of a vector that a level-triggered route of a reserved IOAPIC pin
 * targets at the vCPU ends KVM_RUN with KVM_EXIT_IOAPIC_EOI before the
 * instruction after the EOI; edge routes and routes of GSIs beyond the
 * reserved pins do not (Linux's kvm_scan_ioapic_routes/kvm_ioapic_send_eoi).
 * argv[1]: the guest binary (guest_split.asm).
 */
#include "kvmtest.h"

static void route_msi(struct kvm_irq_routing_entry *e, uint32_t gsi, uint32_t data)
{
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = 0xfee00000; /* physical destination APIC 0 */
	e->u.msi.data = data;
}

/* Raise GSI (an MSI route) and run: the reported exits, in order. */
static void raise_and_run(struct kt_vm *t, uint32_t gsi, int eoi_vector, uint8_t vector)
{
	struct kvm_irq_level line = {.irq = gsi, .level = 1};
	KT_EQ(KT_IOCTL(t->vm, KVM_IRQ_LINE, &line), 0);
	line.level = 0;
	KT_EQ(KT_IOCTL(t->vm, KVM_IRQ_LINE, &line), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	if (eoi_vector >= 0) {
		KT_EQ(t->run->exit_reason, KVM_EXIT_IOAPIC_EOI);
		KT_EQ(t->run->eoi.vector, eoi_vector);
		KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	}
	KT_EQ(t->run->exit_reason, KVM_EXIT_IO);
	KT_EQ(t->run->io.port, 0x13);
	KT_EQ(*((uint8_t *)t->run + t->run->io.data_offset), vector);
}

/* the enable rules, before any vCPU exists */
static void enable_split(struct kt_vm *t)
{
	KT_CHECK(KT_IOCTL(t->kvm, KVM_CHECK_EXTENSION, KVM_CAP_SPLIT_IRQCHIP) > 0);
	struct kvm_enable_cap cap = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {49}};
	KT_FAILS(KT_IOCTL(t->vm, KVM_ENABLE_CAP, &cap), EINVAL); /* > MAX_NR_RESERVED_IOAPIC_PINS */
	cap.args[0] = 24;
	KT_EQ(KT_IOCTL(t->vm, KVM_ENABLE_CAP, &cap), 0);
	KT_FAILS(KT_IOCTL(t->vm, KVM_ENABLE_CAP, &cap), EEXIST);
	KT_FAILS(KT_IOCTL(t->vm, KVM_CREATE_IRQCHIP, 0), EEXIST);
}

int main(int argc, char **argv)
{
	struct kt_vm t;
	KT_EQ(kt_vm_create_setup(&t, 1 << 20, enable_split), 0);
	struct kvm_enable_cap cap = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {24}};
	KT_FAILS(KT_IOCTL(t.vm, KVM_ENABLE_CAP, &cap), EEXIST); /* vCPUs exist */

	if (argc < 2) {
		fprintf(stderr, "no guest binary given: skipping the run tests\n");
		return kt_done("test_split_irqchip");
	}
	if (!kt_load_guest(&t, argv[1]))
		return kt_done("test_split_irqchip");
	kt_flat32(t.vcpu, 0x1000, 0x8000);

	struct {
		struct kvm_irq_routing table;
		struct kvm_irq_routing_entry e[3];
	} rt;
	memset(&rt, 0, sizeof(rt));
	rt.table.nr = 3;
	route_msi(&rt.e[0], 5, 0xc041);	 /* level, assert: vector 0x41 */
	route_msi(&rt.e[1], 6, 0x0042);	 /* edge: vector 0x42 */
	route_msi(&rt.e[2], 30, 0xc043); /* level, but GSI 30 is no reserved IOAPIC pin */
	KT_EQ(KT_IOCTL(t.vm, KVM_SET_GSI_ROUTING, &rt), 0);

	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_IO);
	KT_EQ(t.run->io.port, 0x10);

	raise_and_run(&t, 5, 0x41, 0x41);
	raise_and_run(&t, 6, -1, 0x42);
	raise_and_run(&t, 30, -1, 0x43);
	raise_and_run(&t, 5, 0x41, 0x41);
	/* the routing table is what counts at the EOI: GSI 5 made edge, no exit */
	route_msi(&rt.e[0], 5, 0x4041);
	KT_EQ(KT_IOCTL(t.vm, KVM_SET_GSI_ROUTING, &rt), 0);
	raise_and_run(&t, 5, -1, 0x41);
	/* with the reserved pins covering GSI 30 it would; here they do not */
	raise_and_run(&t, 30, -1, 0x43);

	kt_vm_destroy(&t);
	return kt_done("test_split_irqchip");
}
