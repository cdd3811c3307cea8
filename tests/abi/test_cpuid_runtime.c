/* SPDX-License-Identifier: MIT */
/*
 * Per-cause CPUID updates (seed: "Split kvm_update_cpuid_runtime()"): the
 * guest's CPUID follows its state - CR4.OSXSAVE -> CPUID.1:ECX.OSXSAVE,
 * IA32_APIC_BASE.EN -> CPUID.1:EDX.APIC, XCR0 -> CPUID.0xD.0:EBX - for the
 * guest's CPUID instruction and for KVM_GET_CPUID2, whether the change comes
 * from the guest or from KVM_SET_SREGS.
 * argv[1]: the guest binary (guest_cpuid.asm).
 */
#include "kvmtest.h"

struct g {
	struct kt_vm t;
	uint16_t entry[3], vars;
};

static uint32_t run_report(struct g *g, int which, uint32_t *ecx1, uint32_t *edx1)
{
	struct kvm_regs r;
	KT_EQ(KT_IOCTL(g->t.vcpu, KVM_GET_REGS, &r), 0);
	r.rip = g->entry[which];
	KT_EQ(KT_IOCTL(g->t.vcpu, KVM_SET_REGS, &r), 0);
	uint32_t vals[3] = {0, 0, 0};
	for (int k = 0; k < 3; k++) {
		KT_EQ(KT_IOCTL(g->t.vcpu, KVM_RUN, 0), 0);
		KT_EQ(g->t.run->exit_reason, KVM_EXIT_IO);
		memcpy(&vals[k], (uint8_t *)g->t.run + g->t.run->io.data_offset, 4);
	}
	*ecx1 = vals[0];
	*edx1 = vals[1];
	return vals[2];
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t k = 0; k < c->nent; k++)
		if (c->entries[k].function == fn && c->entries[k].index == idx)
			return &c->entries[k];
	return NULL;
}

int main(int argc, char **argv)
{
	struct g g;
	if (argc < 2)
		return 2;
	KT_EQ(kt_vm_create(&g.t, 1 << 20), 0);
	FILE *f = fopen(argv[1], "rb");
	KT_CHECK(f != NULL);
	if (!f)
		return 1;
	size_t n = fread(g.t.mem + 0x1000, 1, 0x1000, f);
	fclose(f);
	KT_CHECK(n > 8);
	memcpy(g.entry, g.t.mem + 0x1000, 6);
	memcpy(&g.vars, g.t.mem + 0x1006, 2);

	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[100];
	} cp = {.c.nent = 100}, got;
	KT_EQ(KT_IOCTL(g.t.kvm, KVM_GET_SUPPORTED_CPUID, &cp), 0);
	struct kvm_cpuid_entry2 *l1 = find(&cp.c, 1, 0);
	KT_CHECK(l1 && (l1->ecx & (1u << 26))); /* XSAVE supported */
	KT_EQ(KT_IOCTL(g.t.vcpu, KVM_SET_CPUID2, &cp), 0);
	kt_real_mode(&g.t, g.entry[0]);

	/* CR4.OSXSAVE off: the bit reads 0; on: 1 - in the guest and in GET_CPUID2 */
	uint32_t ecx, edx, d0;
	d0 = run_report(&g, 0, &ecx, &edx);
	KT_EQ((ecx >> 27) & 1, 0);
	KT_EQ((edx >> 9) & 1, 1); /* APIC enabled at reset */
	KT_EQ(d0, 576);		  /* XSAVE area for XCR0 = x87 | SSE... as set */
	uint32_t bit = 1u << 18;
	memcpy(g.t.mem + g.vars, &bit, 4); /* set_bits = CR4.OSXSAVE */
	run_report(&g, 0, &ecx, &edx);
	KT_EQ((ecx >> 27) & 1, 1);
	got.c.nent = 100;
	KT_EQ(KT_IOCTL(g.t.vcpu, KVM_GET_CPUID2, &got), 0);
	KT_EQ((find(&got.c, 1, 0)->ecx >> 27) & 1, 1);

	/* the host clears CR4.OSXSAVE with KVM_SET_SREGS: the bit follows */
	struct kvm_sregs s;
	KT_EQ(KT_IOCTL(g.t.vcpu, KVM_GET_SREGS, &s), 0);
	s.cr4 &= ~(1ull << 18);
	KT_EQ(KT_IOCTL(g.t.vcpu, KVM_SET_SREGS, &s), 0);
	got.c.nent = 100;
	KT_EQ(KT_IOCTL(g.t.vcpu, KVM_GET_CPUID2, &got), 0);
	KT_EQ((find(&got.c, 1, 0)->ecx >> 27) & 1, 0);

	/* the guest disables its APIC: CPUID.1:EDX.APIC clears */
	bit = 0;
	memcpy(g.t.mem + g.vars, &bit, 4);
	run_report(&g, 1, &ecx, &edx);
	KT_EQ((edx >> 9) & 1, 0);
	got.c.nent = 100;
	KT_EQ(KT_IOCTL(g.t.vcpu, KVM_GET_CPUID2, &got), 0);
	KT_EQ((find(&got.c, 1, 0)->edx >> 9) & 1, 0);

	/* XCR0 from the host: leaf 0xD's size is the one XCR0 needs */
	struct kvm_xcrs x = {.nr_xcrs = 1, .xcrs[0] = {.xcr = 0, .value = 3}};
	KT_EQ(KT_IOCTL(g.t.vcpu, KVM_SET_XCRS, &x), 0);
	got.c.nent = 100;
	KT_EQ(KT_IOCTL(g.t.vcpu, KVM_GET_CPUID2, &got), 0);
	KT_EQ(find(&got.c, 0xd, 0)->ebx, 576);

	kt_vm_destroy(&g.t);
	return kt_done("test_cpuid_runtime");
}
