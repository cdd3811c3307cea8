/* SPDX-License-Identifier: MIT */
/*
 * PKU and LA57 through the KVM ABI (Linux 6.1): KVM_GET_SUPPORTED_CPUID
 * advertises PKU (not OSPKE), LA57, XCR0 bit 9 with leaf 0xD sub-leaf 9 and
 * 57 linear-address bits; CR4.PKE and CR4.LA57 through KVM_SET_SREGS only
 * with the guest CPUID bit; OSPKE follows CR4.PKE; PKRU in KVM_GET/SET_XSAVE
 * at 0xa80 with XSTATE_BV[9] (set from outside and seen by RDPKRU, written by
 * WRPKRU and seen in KVM_GET_XSAVE; XSTATE_BV[9] clear loads 0).
 */
#include "kvmtest.h"

#define CR4_PKE	 (1ull << 22)
#define CR4_LA57 (1ull << 12)

static struct kvm_cpuid2 *supported_cpuid(int kvm)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 256 * sizeof(struct kvm_cpuid_entry2));
	c->nent = 256;
	KT_EQ(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, c), 0);
	return c;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t k = 0; k < c->nent; k++)
		if (c->entries[k].function == fn && c->entries[k].index == idx)
			return &c->entries[k];
	return NULL;
}

static int run_io(struct kt_vm *t, uint32_t *value)
{
	*value = 0;
	if (KT_IOCTL(t->vcpu, KVM_RUN, 0) != 0 || t->run->exit_reason != KVM_EXIT_IO)
		return -1;
	memcpy(value, (uint8_t *)t->run + t->run->io.data_offset, t->run->io.size);
	return t->run->io.port;
}

static uint32_t region_pkru(const struct kvm_xsave *x)
{
	uint32_t v;
	memcpy(&v, (const uint8_t *)x->region + 0xa80, 4);
	return v;
}

static uint64_t region_bv(const struct kvm_xsave *x)
{
	uint64_t v;
	memcpy(&v, (const uint8_t *)x->region + 512, 8);
	return v;
}

int main(int argc, char **argv)
{
	/* PKU is opt-in (cpu_pku_offered()): set before the processor is made
	 * (in process, and under softkvm exec the same process) */
	setenv("SOFTKVM_PKU", "1", 1);
	struct kt_vm t;
	struct kvm_xsave *xs = calloc(1, 4096);
	struct kvm_sregs s, b;
	uint32_t v;

	if (argc < 2) {
		fprintf(stderr, "usage: %s guest_pku.bin\n", argv[0]);
		return 2;
	}
	if (kt_vm_create(&t, 1 << 20)) {
		fprintf(stderr, "cannot create a VM\n");
		return 1;
	}
	kt_load_guest(&t, argv[1]);

	struct kvm_cpuid2 *sup = supported_cpuid(t.kvm);
	struct kvm_cpuid_entry2 *l7 = find(sup, 7, 0), *d0 = find(sup, 0xd, 0),
				*d9 = find(sup, 0xd, 9), *x8 = find(sup, 0x80000008, 0);
	KT_CHECK(l7 && d0 && d9 && x8);
	if (!l7 || !d0 || !d9 || !x8)
		return kt_done("test_pku_la57");
	KT_EQ(l7->ecx & (1u << 3), 1u << 3);   /* PKU */
	KT_EQ(l7->ecx & (1u << 4), 0);	       /* OSPKE is the guest's */
	KT_EQ(l7->ecx & (1u << 16), 1u << 16); /* LA57 */
	KT_EQ(d0->eax & (1u << 9), 1u << 9);   /* XCR0[9] */
	KT_EQ(d0->ecx, 0xa88);
	KT_EQ(d9->eax, 8);
	KT_EQ(d9->ebx, 0xa80);
	KT_EQ(d9->ecx, 0);
	KT_EQ((x8->eax >> 8) & 0xff, 57);

	/* a guest CPUID without PKU and LA57: both CR4 bits refused */
	struct kvm_cpuid2 *g = supported_cpuid(t.kvm);
	find(g, 7, 0)->ecx &= ~((1u << 3) | (1u << 16));
	find(g, 0x80000008, 0)->eax = (find(g, 0x80000008, 0)->eax & ~0xff00u) | (48u << 8);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_CPUID2, g), 0);
	kt_flat32(t.vcpu, 0x1000, 0x8000);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_SREGS, &s), 0);
	b = s;
	b.cr4 |= CR4_PKE;
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &b), EINVAL);
	b = s;
	b.cr4 |= CR4_LA57;
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &b), EINVAL);

	/* with the supported model: accepted and read back; OSPKE follows */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_CPUID2, sup), 0);
	b = s;
	b.cr4 |= CR4_LA57;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &b), 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_SREGS, &b), 0);
	KT_EQ(b.cr4 & CR4_LA57, CR4_LA57);
	b.cr4 = (b.cr4 & ~CR4_LA57) | CR4_PKE;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_SREGS, &b), 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_SREGS, &b), 0);
	KT_EQ(b.cr4 & (CR4_PKE | CR4_LA57), CR4_PKE);
	struct kvm_cpuid2 *back = calloc(1, sizeof(*back) + 256 * sizeof(struct kvm_cpuid_entry2));
	back->nent = 256;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_CPUID2, back), 0);
	KT_EQ(find(back, 7, 0)->ecx & (1u << 4), 1u << 4);

	/* PKRU through KVM_SET_XSAVE, seen by the guest's RDPKRU */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XSAVE, xs), 0);
	KT_EQ(region_bv(xs) & (1u << 9), 0); /* PKRU = 0: initial configuration */
	KT_EQ(region_pkru(xs), 0);
	uint64_t bv = region_bv(xs) | (1u << 9);
	memcpy((uint8_t *)xs->region + 512, &bv, 8);
	v = 0x12345674;
	memcpy((uint8_t *)xs->region + 0xa80, &v, 4);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_XSAVE, xs), 0);
	KT_EQ(run_io(&t, &v), 0x20);
	KT_EQ(v, 0x12345674);
	/* WRPKRU in the guest, seen in KVM_GET_XSAVE */
	KT_EQ(run_io(&t, &v), 0x21);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XSAVE, xs), 0);
	KT_EQ(region_bv(xs) & (1u << 9), 1u << 9);
	KT_EQ(region_pkru(xs), 0xc);
	/* XSTATE_BV[9] clear: PKRU = 0 */
	bv = region_bv(xs) & ~(1ull << 9);
	memcpy((uint8_t *)xs->region + 512, &bv, 8);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_XSAVE, xs), 0);
	KT_EQ(run_io(&t, &v), 0x20);
	KT_EQ(v, 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XSAVE, xs), 0);
	KT_EQ(region_bv(xs) & (1u << 9), 0);

	kt_vm_destroy(&t);
	free(sup);
	free(g);
	free(back);
	free(xs);
	return kt_done("test_pku_la57");
}
