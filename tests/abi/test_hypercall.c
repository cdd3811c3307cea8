/* SPDX-License-Identifier: MIT */
/*
 * KVM hypercalls (Linux 6.1 kvm_emulate_hypercall, Documentation/virt/kvm/
 * x86/hypercalls.rst): VMCALL and VMMCALL at CPL 0 with the in-kernel
 * irqchip. VAPIC_POLL_IRQ and SCHED_YIELD return 0, an unknown number
 * -KVM_ENOSYS, CLOCK_PAIRING -KVM_EOPNOTSUPP (no TSC-based host clock),
 * SEND_IPI delivers to the APIC IDs of its bitmap and returns how many took
 * it (-KVM_EINVAL for a logical destination), KICK_CPU makes the kicked
 * vCPU's next HLT end at once. Results are 32-bit outside 64-bit mode.
 * argv[1]: the guest binary (guest_hc.asm).
 */
#include <unistd.h>

#include "kvmtest.h"

/* Run to the next OUT; returns its port, the value in *v */
static int next_out(struct kt_vm *t, uint32_t *v)
{
	if (KT_IOCTL(t->vcpu, KVM_RUN, 0) != 0 || t->run->exit_reason != KVM_EXIT_IO)
		return -1;
	*v = 0;
	memcpy(v, (uint8_t *)t->run + t->run->io.data_offset, t->run->io.size);
	return t->run->io.port;
}

static void expect(struct kt_vm *t, int port, uint32_t value)
{
	uint32_t v;
	KT_EQ(next_out(t, &v), port);
	KT_EQ(v, value);
}

static void create_irqchip(struct kt_vm *t)
{
	KT_EQ(KT_IOCTL(t->vm, KVM_CREATE_IRQCHIP, 0), 0);
}

int main(int argc, char **argv)
{
	struct kt_vm t;
	if (argc < 2) {
		fprintf(stderr, "usage: %s guest_hc.bin\n", argv[0]);
		return 2;
	}
	KT_EQ(kt_vm_create_setup(&t, 1 << 20, create_irqchip), 0);
	if (!kt_load_guest(&t, argv[1]))
		return kt_done("test_hypercall");
	kt_flat32(t.vcpu, 0x1000, 0x8000);

	expect(&t, 0x10, 0);		   /* VAPIC_POLL_IRQ */
	expect(&t, 0x10, (uint32_t)-1000); /* unknown: -KVM_ENOSYS, 32 bits */
	expect(&t, 0x10, (uint32_t)-95);   /* CLOCK_PAIRING: -KVM_EOPNOTSUPP */
	expect(&t, 0x10, 0);		   /* SCHED_YIELD */
	expect(&t, 0x10, (uint32_t)-22);   /* SEND_IPI, logical: -KVM_EINVAL */
	expect(&t, 0x11, 0x50);		   /* SEND_IPI to itself: the handler runs */
	expect(&t, 0x10, 1);		   /* ... and one APIC took it */
	expect(&t, 0x10, 0);		   /* SEND_IPI to an absent APIC ID */
	expect(&t, 0x10, (uint32_t)-1000); /* VMMCALL */
	expect(&t, 0x10, 0);		   /* KICK_CPU */
	alarm(20);			   /* a HLT the kick did not end would sleep for good */
	expect(&t, 0x14, 0x14);		   /* the HLT after the kick ended */
	alarm(0);
	kt_vm_destroy(&t);
	return kt_done("test_hypercall");
}
