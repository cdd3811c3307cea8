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

static void flat32(struct kt_vm *t, uint32_t eip)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	KT_IOCTL(t->vcpu, KVM_GET_SREGS, &s);
	struct kvm_segment cs = { .base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 0xb,
				  .present = 1, .dpl = 0, .db = 1, .s = 1, .g = 1 };
	struct kvm_segment ds = cs;
	ds.selector = 0x10;
	ds.type = 3;
	s.cs = cs;
	s.ds = s.es = s.fs = s.gs = s.ss = ds;
	s.cr0 |= 1;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_SREGS, &s), 0);
	memset(&r, 0, sizeof(r));
	r.rip = eip;
	r.rsp = 0x8000;
	r.rflags = 2;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_REGS, &r), 0);
}

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
	struct kvm_irq_level line = { .irq = gsi, .level = 1 };
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

int main(int argc, char **argv)
{
	struct kt_vm t;
	memset(&t, 0, sizeof(t));
	t.kvm = kt_open();
	KT_CHECK(KT_IOCTL(t.kvm, KVM_CHECK_EXTENSION, KVM_CAP_SPLIT_IRQCHIP) > 0);
	t.vm = KT_IOCTL(t.kvm, KVM_CREATE_VM, 0);

	struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 49 } };
	KT_FAILS(KT_IOCTL(t.vm, KVM_ENABLE_CAP, &cap), EINVAL); /* > MAX_NR_RESERVED_IOAPIC_PINS */
	cap.args[0] = 24;
	KT_EQ(KT_IOCTL(t.vm, KVM_ENABLE_CAP, &cap), 0);
	KT_FAILS(KT_IOCTL(t.vm, KVM_ENABLE_CAP, &cap), EEXIST);
	KT_FAILS(KT_IOCTL(t.vm, KVM_CREATE_IRQCHIP, 0), EEXIST);

	t.mem_size = 1 << 20;
	t.mem = mmap(NULL, t.mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = { 0, 0, 0, t.mem_size, (uintptr_t)t.mem };
	KT_EQ(KT_IOCTL(t.vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	t.vcpu = KT_IOCTL(t.vm, KVM_CREATE_VCPU, 0);
	t.run = kt_mmap((size_t)KT_IOCTL(t.kvm, KVM_GET_VCPU_MMAP_SIZE, 0), t.vcpu);
	cap.args[0] = 24;
	KT_FAILS(KT_IOCTL(t.vm, KVM_ENABLE_CAP, &cap), EEXIST); /* vCPUs exist */

	if (argc < 2) {
		fprintf(stderr, "no guest binary given: skipping the run tests\n");
		return kt_done("test_split_irqchip");
	}
	FILE *f = fopen(argv[1], "rb");
	KT_CHECK(f != NULL);
	if (!f)
		return kt_done("test_split_irqchip");
	size_t n = fread(t.mem + 0x1000, 1, 0x4000, f);
	fclose(f);
	KT_CHECK(n > 0);
	flat32(&t, 0x1000);

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
