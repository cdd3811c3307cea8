/* SPDX-License-Identifier: MIT */
/*
 * YMM state through the ABI: a guest enables XCR0 = x87 | SSE | YMM and
 * loads YMM0-7; KVM_GET_XSAVE and KVM_GET_XSAVE2 show bits 255:128 in
 * YMM_Hi128 (offset 576, XSTATE_BV[2]); KVM_SET_XSAVE changes them and the
 * guest's own stores and XSAVE see it; an image the host writes is loaded by
 * the guest's XRSTOR, and XSAVEC writes the compacted form (YMM_Hi128 again
 * at 576, XCOMP_BV = 8000000000000007H); KVM_SET_XSAVE with XSTATE_BV[2]
 * clear puts the upper halves in their initial state; KVM_GET/SET_XCRS
 * carry XCR0 bit 2. Skips (77) where softkvm does not offer AVX (a host
 * without AVX2/FMA/F16C, or SOFTKVM_NO_AVX).
 * argv[1]: the guest binary (guest_avx.asm).
 */
#include <stdbool.h>

#include "kvmtest.h"

enum { T_START, T_PAT, T_OUT1, T_XAREA, T_XAREA2, T_OUT2, T_XAREA3 };

static uint8_t image[0x2000];
static size_t image_len;
static uint32_t tab[7];

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

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

int main(int argc, char **argv)
{
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[100];
	} cp = {.c.nent = 100};
	struct kt_vm t;
	struct kvm_xcrs xc;
	struct kvm_xsave *xs = calloc(1, 4096), *xs2 = calloc(1, 4096);
	uint8_t *pat, *r = (uint8_t *)xs->region;
	bool avx = false;
	uint32_t v;
	FILE *fp;

	if (argc < 2 || !(fp = fopen(argv[1], "rb"))) {
		fprintf(stderr, "usage: %s guest_avx.bin\n", argv[0]);
		return 2;
	}
	image_len = fread(image, 1, sizeof(image), fp);
	fclose(fp);
	memcpy(tab, image, sizeof(tab));
	if (kt_vm_create(&t, 1 << 20)) {
		fprintf(stderr, "cannot create a VM\n");
		return 1;
	}
	KT_EQ(KT_IOCTL(t.kvm, KVM_GET_SUPPORTED_CPUID, &cp), 0);
	for (uint32_t k = 0; k < cp.c.nent; k++)
		if (cp.e[k].function == 0xd && cp.e[k].index == 0)
			avx = cp.e[k].eax & 4;
	if (!host_avx() || getenv("SOFTKVM_NO_AVX")) {
		KT_CHECK(!avx);
		printf("SKIP: the host cannot run AVX (or SOFTKVM_NO_AVX): none offered\n");
		return kt_done("test_avx") ? 1 : 77;
	}
	KT_CHECK(avx); /* a host with AVX2, FMA and F16C: softkvm offers YMM state */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_CPUID2, &cp), 0);
	memcpy(t.mem + 0x1000, image, image_len);
	pat = t.mem + tab[T_PAT];
	for (int k = 0; k < 256; k++)
		pat[k] = (uint8_t)(k * 13 + 7);
	flat32(t.vcpu, tab[T_START]);

	/* 1: YMM0-7 loaded */
	KT_EQ(run_io(&t, &v), 0x20);
	KT_EQ(v & 0xff, 1);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XCRS, &xc), 0);
	KT_EQ(xc.xcrs[0].value, 7);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XSAVE, xs), 0);
	KT_EQ(get64(r + 512) & 6, 6); /* XSTATE_BV: SSE | YMM (x87 untouched) */
	for (int k = 0; k < 8; k++) {
		KT_CHECK(!memcmp(r + 160 + 16 * k, pat + 32 * k, 16));
		KT_CHECK(!memcmp(r + 576 + 16 * k, pat + 32 * k + 16, 16));
	}
	for (int k = 8; k < 16; k++)
		KT_EQ(get64(r + 576 + 16 * k) | get64(r + 584 + 16 * k), 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XSAVE2, xs2), 0);
	KT_CHECK(!memcmp(xs, xs2, 4096));
	/* the host changes YMM1's upper half */
	memset(r + 576 + 16, 0xab, 16);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_XSAVE, xs), 0);

	/* 2: the guest's stores and XSAVE */
	KT_EQ(run_io(&t, &v), 0x20);
	KT_EQ(v & 0xff, 2);
	{
		const uint8_t *o = t.mem + tab[T_OUT1], *x = t.mem + tab[T_XAREA];
		uint8_t ab[16];
		memset(ab, 0xab, 16);
		KT_CHECK(!memcmp(o, pat, 32));
		KT_CHECK(!memcmp(o + 32, pat + 32, 16));
		KT_CHECK(!memcmp(o + 48, ab, 16));
		for (int k = 2; k < 8; k++)
			KT_CHECK(!memcmp(o + 32 * k, pat + 32 * k, 32));
		KT_EQ(get64(x + 512) & 4, 4);
		KT_CHECK(!memcmp(x + 576 + 16, ab, 16));
		KT_CHECK(!memcmp(x + 576 + 32, pat + 80, 16));
		/* the image the guest's XRSTOR loads: its own, YMM2's upper half CDH */
		uint8_t *x2 = t.mem + tab[T_XAREA2];
		memcpy(x2, x, 832);
		memset(x2 + 576 + 32, 0xcd, 16);
	}

	/* 3: XRSTOR, the stores after it, XSAVEC */
	KT_EQ(run_io(&t, &v), 0x20);
	KT_EQ(v & 0xff, 3);
	{
		const uint8_t *o = t.mem + tab[T_OUT2], *x = t.mem + tab[T_XAREA3];
		uint8_t cd[16];
		memset(cd, 0xcd, 16);
		KT_CHECK(!memcmp(o + 64, pat + 64, 16));
		KT_CHECK(!memcmp(o + 80, cd, 16));
		KT_CHECK(!memcmp(o + 112, pat + 112, 16));
		KT_EQ(get64(x + 520), 0x8000000000000007ull); /* XCOMP_BV */
		KT_EQ(get64(x + 512) & 6, 6);
		KT_CHECK(!memcmp(x + 576 + 32, cd, 16));
		KT_CHECK(!memcmp(x + 576 + 48, pat + 112, 16));
	}

	/* XSTATE_BV[2] clear: the upper halves return to their initial state */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XSAVE, xs), 0);
	KT_EQ(get64(r + 512) & 4, 4);
	r[512] &= (uint8_t)~4;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_XSAVE, xs), 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XSAVE, xs2), 0);
	KT_EQ(get64((uint8_t *)xs2->region + 512) & 4, 0);
	for (int k = 0; k < 16; k++)
		KT_EQ(get64((uint8_t *)xs2->region + 576 + 16 * k), 0);
	KT_CHECK(!memcmp((uint8_t *)xs2->region + 160, r + 160, 128)); /* XMM kept */

	/* XCR0 through KVM_SET_XCRS: YMM accepted, YMM without SSE refused */
	memset(&xc, 0, sizeof(xc));
	xc.nr_xcrs = 1;
	xc.xcrs[0].value = 3;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_XCRS, &xc), 0);
	xc.xcrs[0].value = 5;
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_SET_XCRS, &xc), EINVAL);
	xc.xcrs[0].value = 7;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_XCRS, &xc), 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_XCRS, &xc), 0);
	KT_EQ(xc.xcrs[0].value, 7);

	kt_vm_destroy(&t);
	free(xs);
	free(xs2);
	return kt_done("test_avx");
}
