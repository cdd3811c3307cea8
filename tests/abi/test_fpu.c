/* SPDX-License-Identifier: MIT */
/*
 * x87/SSE state through the ABI: the CPUID model (SSE to SSE4.2, FXSR,
 * XSAVE with leaf 0xD for x87|SSE), KVM_CAP_XSAVE2; a guest loads XMM and
 * x87 registers and MXCSR, and KVM_GET_FPU, KVM_GET_XSAVE, KVM_GET_XSAVE2
 * and KVM_GET_XCRS show exactly that state; KVM_SET_FPU, KVM_SET_XSAVE and
 * KVM_SET_XCRS change it and the guest's own FXSAVE/XSAVE/XGETBV see the
 * change; Linux 6.1's validation of KVM_SET_XSAVE and KVM_SET_XCRS.
 * argv[1]: the guest binary (guest_fpu.asm).
 */
#include <stdbool.h>

#include "kvmtest.h"

enum { T_START, T_PAT, T_VAL, T_MX, T_XCR0, T_FXAREA, T_XAREA, T_X87 };

static uint8_t image[0x1000];
static size_t image_len;
static uint32_t tab[8];

static void flat32(int vcpu, uint32_t eip)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	KT_IOCTL(vcpu, KVM_GET_SREGS, &s);
	struct kvm_segment cs = {.base = 0,
				 .limit = 0xffffffff,
				 .selector = 0x08,
				 .type = 0xb,
				 .present = 1,
				 .db = 1,
				 .s = 1,
				 .g = 1};
	struct kvm_segment ds = cs;
	ds.selector = 0x10;
	ds.type = 3;
	s.cs = cs;
	s.ds = s.es = s.fs = s.gs = s.ss = ds;
	s.cr0 |= 1 | (1u << 5); /* PE, NE */
	KT_EQ(KT_IOCTL(vcpu, KVM_SET_SREGS, &s), 0);
	memset(&r, 0, sizeof(r));
	r.rip = eip;
	r.rsp = 0x8000;
	r.rflags = 2;
	KT_EQ(KT_IOCTL(vcpu, KVM_SET_REGS, &r), 0);
}

/* run to the next OUT; returns the port and fills *value */
static int run_io(struct kt_vm *t, uint32_t *value)
{
	*value = 0;
	if (KT_IOCTL(t->vcpu, KVM_RUN, 0) != 0 || t->run->exit_reason != KVM_EXIT_IO)
		return -1;
	memcpy(value, (uint8_t *)t->run + t->run->io.data_offset, t->run->io.size);
	return t->run->io.port;
}

/* what softkvm needs to offer AVX: AVX FMA F16C OSXSAVE, XCR0 SSE|YMM, AVX2 */
static bool host_avx(void)
{
	uint32_t a, b, c, d, lo, hi;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if ((c & 0x38001000u) != 0x38001000u)
		return false;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
	return (lo & 6) == 6 && (b & (1u << 5));
}

static void check_cpuid_model(int kvm, int vcpu)
{
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[100];
	} cp = {.c.nent = 100};
	bool leaf1 = false, leafd0 = false, leafd1 = false, leafd2 = false;
	bool avx = !getenv("SOFTKVM_NO_AVX") && host_avx();
	const char *pk = getenv("SOFTKVM_PKU");
	bool pku = pk && !strcmp(pk, "1");

	KT_EQ(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, &cp), 0);
	for (uint32_t k = 0; k < cp.c.nent; k++) {
		const struct kvm_cpuid_entry2 *e = &cp.e[k];
		if (e->function == 1) {
			leaf1 = true;
			/* FPU MMX FXSR SSE SSE2 */
			KT_EQ(e->edx & 0x07800001u, 0x07800001u);
			/* SSE3 SSSE3 SSE4.1 SSE4.2 XSAVE; OSXSAVE is the guest's; AVX FMA
			 * F16C where the host runs them (SOFTKVM_NO_AVX says it does not) */
			KT_EQ(e->ecx & 0x04180201u, 0x04180201u);
			KT_EQ(e->ecx & (1u << 27), 0);
			KT_EQ(e->ecx & 0x30001000u, avx ? 0x30001000u : 0);
		}
		if (e->function == 7 && e->index == 0)
			KT_EQ(e->ebx & (1u << 5), avx ? 1u << 5 : 0); /* AVX2 */
		if (e->function == 0xd && e->index == 0) {
			leafd0 = true;
			/* x87 | SSE | YMM | PKRU (SOFTKVM_PKU=1) */
			KT_EQ(e->eax, (avx ? 7 : 3) | (pku ? 0x200 : 0));
			KT_EQ(e->edx, 0);
			/* legacy area + header (+ YMM_Hi128), PKRU at 0xa80 */
			KT_EQ(e->ebx, pku ? 0xa88 : avx ? 832 : 576);
			KT_EQ(e->ecx, pku ? 0xa88 : avx ? 832 : 576);
		}
		if (e->function == 0xd && e->index == 2) {
			leafd2 = true;
			KT_EQ(e->eax, 256); /* YMM_Hi128: size, offset */
			KT_EQ(e->ebx, 576);
			KT_EQ(e->ecx, 0);
			KT_EQ(e->edx, 0);
		}
		if (e->function == 0xd && e->index == 1) {
			leafd1 = true;
			KT_EQ(e->eax & 3, 3); /* XSAVEOPT, XSAVEC */
			KT_EQ(e->eax & 8, 0); /* not XSAVES */
		}
	}
	KT_CHECK(leaf1 && leafd0 && leafd1 && leafd2 == avx);
	KT_EQ(KT_IOCTL(vcpu, KVM_SET_CPUID2, &cp), 0);
	KT_EQ(KT_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2), 4096);
	KT_EQ(KT_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE), 1);
	KT_EQ(KT_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_XCRS), 1);
}

int main(int argc, char **argv)
{
	static const uint8_t one80[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
	static const uint8_t x25[10] = {0, 0, 0, 0, 0, 0, 0, 0xa0, 0x00, 0x40}; /* 2.5 */
	struct kt_vm t;
	struct kvm_fpu f;
	struct kvm_xcrs xc;
	struct kvm_xsave *xs = calloc(1, 4096), *xs2 = calloc(1, 4096);
	uint32_t v;
	FILE *fp;

	if (argc < 2 || !(fp = fopen(argv[1], "rb"))) {
		fprintf(stderr, "usage: %s guest_fpu.bin\n", argv[0]);
		return 2;
	}
	image_len = fread(image, 1, sizeof(image), fp);
	fclose(fp);
	memcpy(tab, image, sizeof(tab));
	if (kt_vm_create(&t, 1 << 20)) {
		fprintf(stderr, "cannot create a VM\n");
		return 1;
	}
	memcpy(t.mem + 0x1000, image, image_len);
	for (int k = 0; k < 128; k++)
		t.mem[tab[T_PAT] + k] = (uint8_t)(k * 7 + 1);
	check_cpuid_model(t.kvm, t.vcpu);

	/* a new vCPU: FCW 037FH, MXCSR 1F80H, XCR0 1, XSTATE_BV 0 */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_FPU, &f), 0);
	KT_EQ(f.fcw, 0x37f);
	KT_EQ(f.mxcsr, 0x1f80);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XCRS, &xc), 0);
	KT_EQ(xc.nr_xcrs, 1);
	KT_EQ(xc.xcrs[0].value, 1);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XSAVE, xs), 0);
	KT_EQ(xs->region[128], 0);

	/* the guest loads its state */
	flat32(t.vcpu, tab[T_START]);
	KT_EQ(run_io(&t, &v), 0x22);
	KT_CHECK(v & (1u << 27)); /* CPUID.1:ECX.OSXSAVE follows CR4 */
	KT_EQ(run_io(&t, &v), 0x20);
	KT_EQ(v & 0xff, 1);

	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_FPU, &f), 0);
	KT_EQ(f.fcw, 0x37f);
	KT_EQ(f.fsw, 5 << 11); /* TOP = 5 */
	KT_EQ(f.ftwx, 0xe0);
	KT_CHECK(!memcmp(f.fpr[0], x25, 10));
	KT_CHECK(!memcmp(f.fpr[2], one80, 10));
	KT_EQ(f.mxcsr, 0x9fc0);
	KT_EQ(f.last_ip, tab[T_X87]);
	/* the model is Intel with CPUID.7.0:EBX[6] (FDP_EXCPTN_ONLY): FLD m64
	 * incurred no unmasked exception, so FDP and FOP keep their reset value
	 * (cpu/README.md, "Vendor behaviour") */
	KT_EQ(f.last_dp, 0);
	KT_EQ(f.last_opcode, 0);
	for (int k = 0; k < 8; k++)
		KT_CHECK(!memcmp(f.xmm[k], t.mem + tab[T_PAT] + 16 * k, 16));

	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XSAVE, xs), 0);
	{
		uint8_t *r = (uint8_t *)xs->region;
		uint64_t bv;
		memcpy(&bv, r + 512, 8);
		KT_EQ(bv, 3);
		KT_CHECK(!memcmp(r + 160, t.mem + tab[T_PAT], 128));
		KT_EQ(*(uint32_t *)(r + 24), 0x9fc0);
		KT_EQ(*(uint32_t *)(r + 28), 0xffff); /* MXCSR_MASK */
		KT_CHECK(!memcmp(r + 32, x25, 10));
	}
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XSAVE2, xs2), 0);
	KT_CHECK(!memcmp(xs, xs2, 4096));
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XCRS, &xc), 0);
	KT_EQ(xc.xcrs[0].xcr, 0);
	KT_EQ(xc.xcrs[0].value, 3);

	/* KVM_SET_XSAVE validation (copy_uabi_to_xstate()) */
	{
		uint8_t *r = (uint8_t *)xs2->region;
		memcpy(xs2, xs, 4096);
		r[512] |= 8; /* BNDREGS state: not supported */
		KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_XSAVE, xs2), EINVAL);
		memcpy(xs2, xs, 4096);
		r[520 + 7] = 0x80; /* compacted format */
		KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_XSAVE, xs2), EINVAL);
		memcpy(xs2, xs, 4096);
		r[540] = 1; /* reserved header bytes */
		KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_XSAVE, xs2), EINVAL);
		memcpy(xs2, xs, 4096);
		r[26] = 1; /* MXCSR bit 16 */
		KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_XSAVE, xs2), EINVAL);
	}
	/* KVM_SET_XCRS validation (__kvm_set_xcr()) */
	memset(&xc, 0, sizeof(xc));
	xc.nr_xcrs = 1;
	xc.xcrs[0].value = 0; /* x87 bit clear */
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_XCRS, &xc), EINVAL);
	xc.xcrs[0].value = 0xf; /* BNDREGS: not in the guest's leaf 0xD */
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_XCRS, &xc), EINVAL);
	xc.xcrs[0].value = 5; /* YMM without SSE */
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_XCRS, &xc), EINVAL);
	xc.xcrs[0].value = 3;
	xc.flags = 1;
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_XCRS, &xc), EINVAL);
	xc.flags = 0;
	xc.nr_xcrs = KVM_MAX_XCRS + 1;
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_XCRS, &xc), EINVAL);
	xc.nr_xcrs = 2;
	xc.xcrs[0].xcr = 5; /* other XCRs are skipped */
	xc.xcrs[1].xcr = 0;
	xc.xcrs[1].value = 1;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_XCRS, &xc), 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XCRS, &xc), 0);
	KT_EQ(xc.xcrs[0].value, 1);
	xc.xcrs[0].value = 3;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_XCRS, &xc), 0);

	/* change the state from outside: KVM_SET_FPU (XMM1, FCW), KVM_SET_XSAVE (XMM2) */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_FPU, &f), 0);
	memset(f.xmm[1], 0xa1, 16);
	f.fcw = 0x27f;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_FPU, &f), 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XSAVE, xs), 0);
	memset((uint8_t *)xs->region + 160 + 32, 0xb2, 16);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_XSAVE, xs), 0);

	/* the guest sees it */
	KT_EQ(run_io(&t, &v), 0x20);
	KT_EQ(v & 0xff, 2);
	{
		const uint8_t *fx = t.mem + tab[T_FXAREA], *xa = t.mem + tab[T_XAREA];
		uint8_t a1[16], b2[16];
		uint64_t bv;
		memset(a1, 0xa1, 16);
		memset(b2, 0xb2, 16);
		KT_EQ(*(uint16_t *)fx, 0x27f);
		KT_CHECK(!memcmp(fx + 160 + 16, a1, 16));
		KT_CHECK(!memcmp(fx + 160 + 32, b2, 16));
		KT_CHECK(!memcmp(fx + 160 + 48, t.mem + tab[T_PAT] + 48, 16));
		KT_CHECK(!memcmp(fx + 32, x25, 10));
		KT_EQ(*(uint32_t *)(fx + 24), 0x9fc0);
		KT_CHECK(!memcmp(xa + 160, fx + 160, 128));
		memcpy(&bv, xa + 512, 8);
		KT_EQ(bv, 3);
		KT_EQ(*(uint32_t *)(t.mem + tab[T_XCR0]), 3);
	}

	/* XSTATE_BV clear in KVM_SET_XSAVE: the components are initialised */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XSAVE, xs), 0);
	memset((uint8_t *)xs->region + 512, 0, 8);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_XSAVE, xs), 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_FPU, &f), 0);
	KT_EQ(f.fcw, 0x37f);
	KT_EQ(f.ftwx, 0);
	KT_EQ(f.xmm[1][0], 0);
	KT_EQ(f.mxcsr, 0x9fc0); /* MXCSR is not part of either: left alone */

	kt_vm_destroy(&t);
	free(xs);
	free(xs2);
	return kt_done("test_fpu");
}
