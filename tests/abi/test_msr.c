/* SPDX-License-Identifier: MIT */
/*
 * The MSR filter and user-space MSR exits (Linux 6.1, api.rst 4.126
 * KVM_X86_SET_MSR_FILTER, 7.21 KVM_CAP_X86_USER_SPACE_MSR): the filter's
 * validation and errno order, a filter replaced between runs, RDMSR/WRMSR
 * exits for unknown and filtered MSRs whose msr.data is the guest's result
 * and whose msr.error injects #GP, host-initiated KVM_SET/GET_MSRS that the
 * filter does not apply to, and the x2APIC range that is never filtered.
 * argv[1]: the guest binary (guest_msr.asm).
 */
#include "kvmtest.h"

#define STAR	   0xc0000081u
#define STAR_VALUE 0x0023001000000000ull

static int set_filter(int vm, uint32_t flags, uint32_t base, uint32_t nmsrs, uint32_t rflags,
		      uint8_t *bitmap)
{
	struct kvm_msr_filter f = {.flags = flags};
	if (nmsrs) {
		f.ranges[0].flags = rflags;
		f.ranges[0].base = base;
		f.ranges[0].nmsrs = nmsrs;
		f.ranges[0].bitmap = bitmap;
	}
	return KT_IOCTL(vm, KVM_X86_SET_MSR_FILTER, &f);
}

static int user_space_msr(int vm, uint64_t mask)
{
	struct kvm_enable_cap cap = {.cap = KVM_CAP_X86_USER_SPACE_MSR, .args = {mask}};
	return KT_IOCTL(vm, KVM_ENABLE_CAP, &cap);
}

static uint64_t get_msr(int vcpu, uint32_t index)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e.index = index};
	KT_EQ(KT_IOCTL(vcpu, KVM_GET_MSRS, &m), 1);
	return m.e.data;
}

static int set_msr_n(int vcpu, uint32_t index, uint64_t value)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e.index = index, .e.data = value};
	return KT_IOCTL(vcpu, KVM_SET_MSRS, &m);
}

static void set_msr(int vcpu, uint32_t index, uint64_t value)
{
	KT_EQ(set_msr_n(vcpu, index, value), 1);
}

static uint32_t out_value(struct kt_vm *t)
{
	uint32_t v = 0;
	memcpy(&v, (uint8_t *)t->run + t->run->io.data_offset, t->run->io.size);
	return v;
}

static void run_to_port(struct kt_vm *t, uint16_t port)
{
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	KT_EQ(t->run->exit_reason, KVM_EXIT_IO);
	KT_EQ(t->run->io.port, port);
}

static void test_validation(struct kt_vm *t)
{
	uint8_t bm[0x700] = {0};

	KT_EQ(KT_IOCTL(t->kvm, KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER), 1);
	KT_CHECK(KT_IOCTL(t->kvm, KVM_CHECK_EXTENSION, KVM_CAP_X86_USER_SPACE_MSR) > 0);
	KT_FAILS(user_space_msr(t->vm, 1u << 3), EINVAL);

	/* unknown filter flags: EINVAL, before the ranges are looked at */
	KT_FAILS(set_filter(t->vm, 2, STAR, 1, KVM_MSR_FILTER_READ, (void *)16), EINVAL);
	/* deny everything without a single range */
	KT_FAILS(set_filter(t->vm, KVM_MSR_FILTER_DEFAULT_DENY, 0, 0, 0, NULL), EINVAL);
	/* a range needs READ and/or WRITE and nothing else */
	KT_FAILS(set_filter(t->vm, 0, STAR, 1, 0, bm), EINVAL);
	KT_FAILS(set_filter(t->vm, 0, STAR, 1, 4, bm), EINVAL);
	/* at most 0x600 bytes of bitmap */
	KT_FAILS(set_filter(t->vm, 0, 0, 0x600 * 8 + 1, KVM_MSR_FILTER_READ, bm), EINVAL);
	KT_EQ(set_filter(t->vm, 0, 0, 0x600 * 8, KVM_MSR_FILTER_READ, bm), 0);
	/* the bitmap is read from the caller */
	KT_FAILS(set_filter(t->vm, 0, STAR, 1, KVM_MSR_FILTER_READ, (void *)16), EFAULT);
	/* an empty default-allow filter is no filter */
	KT_EQ(set_filter(t->vm, 0, 0, 0, 0, NULL), 0);
}

static void test_exits(struct kt_vm *t)
{
	uint8_t deny = 0, allow = 1;

	set_msr(t->vcpu, STAR, STAR_VALUE);
	KT_EQ(user_space_msr(t->vm, KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_UNKNOWN), 0);

	/* A: handled in the kernel */
	run_to_port(t, 0x10);
	KT_EQ(out_value(t), (uint32_t)STAR_VALUE);
	run_to_port(t, 0x11);
	KT_EQ(out_value(t), (uint32_t)(STAR_VALUE >> 32));

	/* B: an unknown MSR exits; msr.data is what RDMSR returns */
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	KT_EQ(t->run->exit_reason, KVM_EXIT_X86_RDMSR);
	KT_EQ(t->run->msr.reason, KVM_MSR_EXIT_REASON_UNKNOWN);
	KT_EQ(t->run->msr.index, 0xdeadbeef);
	t->run->msr.data = 0xcafef00d;
	t->run->msr.error = 0;
	run_to_port(t, 0x10);
	KT_EQ(out_value(t), 0xcafef00d);

	/* C: a filter denying writes of STAR, installed between runs: the write
	 * exits with the value; msr.error makes it #GP and nothing is written */
	KT_EQ(set_filter(t->vm, 0, STAR, 1, KVM_MSR_FILTER_WRITE, &deny), 0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	KT_EQ(t->run->exit_reason, KVM_EXIT_X86_WRMSR);
	KT_EQ(t->run->msr.reason, KVM_MSR_EXIT_REASON_FILTER);
	KT_EQ(t->run->msr.index, STAR);
	KT_EQ(t->run->msr.data, 0x5566778811223344ull);
	t->run->msr.error = 1;
	run_to_port(t, 0x1d);
	run_to_port(t, 0x12);
	/* the host's own accesses are not filtered */
	KT_EQ(get_msr(t->vcpu, STAR), STAR_VALUE);
	set_msr(t->vcpu, STAR, STAR_VALUE + 1);
	KT_EQ(get_msr(t->vcpu, STAR), STAR_VALUE + 1);

	/* D: no user-space exits any more: the unknown MSR is #GP in the guest */
	KT_EQ(user_space_msr(t->vm, 0), 0);
	run_to_port(t, 0x1d);
	run_to_port(t, 0x10);
	KT_EQ(out_value(t), 0);

	/* E: deny by default with exits for the filter; x2APIC MSRs are never
	 * filtered (here #GP: no in-kernel LAPIC) */
	KT_EQ(user_space_msr(t->vm, KVM_MSR_EXIT_REASON_FILTER), 0);
	KT_EQ(set_filter(t->vm, KVM_MSR_FILTER_DEFAULT_DENY, 0x10, 1, KVM_MSR_FILTER_READ, &allow),
	      0);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	KT_EQ(t->run->exit_reason, KVM_EXIT_IO);
	KT_EQ(t->run->io.port, 0x1d);
	run_to_port(t, 0x13);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	KT_EQ(t->run->exit_reason, KVM_EXIT_HLT);
}

/* Linux's vendor-agnostic model-specific MSRs (what an AMD-vendor guest probes) */
static void test_common_msrs(struct kt_vm *t)
{
	static const uint32_t zero[] = {0x17,	    0x1db,	0xc0010010, 0xc001001f, 0xc0010117,
					0xc0011022, 0xc0010004, 0xc1,	    0x186,	0x606};
	for (unsigned k = 0; k < sizeof(zero) / sizeof(zero[0]); k++)
		KT_EQ(get_msr(t->vcpu, zero[k]), 0);
	KT_EQ(set_msr_n(t->vcpu, 0xc001001f, 0x0000400000000000ull), 1); /* NB_CFG: dropped */
	KT_EQ(get_msr(t->vcpu, 0xc001001f), 0);
	KT_EQ(set_msr_n(t->vcpu, 0xc0010015, 1ull << 18), 1); /* HWCR.McStatusWrEn */
	KT_EQ(get_msr(t->vcpu, 0xc0010015), 1ull << 18);
	KT_EQ(set_msr_n(t->vcpu, 0xc0010015, 0x148), 1); /* ignored bits only: HWCR = 0 */
	KT_EQ(get_msr(t->vcpu, 0xc0010015), 0);
	KT_EQ(set_msr_n(t->vcpu, 0xc0010015, 1), 0); /* anything else is refused */
	KT_EQ(set_msr_n(t->vcpu, 0xc0010058, 1), 0); /* MMIO_CONF_BASE: only 0 */
	KT_EQ(set_msr_n(t->vcpu, 0xc0010058, 0), 1);
	KT_EQ(set_msr_n(t->vcpu, 0x199, 1), 0); /* PERF_CTL reads 0, not writable */

	/* IA32_SPEC_CTRL: IBRS | STIBP | SSBD; PRED_CMD: write-only IBPB */
	KT_EQ(set_msr_n(t->vcpu, 0x48, 7), 1);
	KT_EQ(get_msr(t->vcpu, 0x48), 7);
	KT_EQ(set_msr_n(t->vcpu, 0x48, 8), 0);
	KT_EQ(get_msr(t->vcpu, 0x48), 7);
	KT_EQ(set_msr_n(t->vcpu, 0x49, 1), 1);
	KT_EQ(set_msr_n(t->vcpu, 0x49, 2), 0);
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e.index = 0x49};
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_MSRS, &m), 0);
}

/*
 * Non-canonical bases through KVM_SET_MSRS (Linux 6.1 __kvm_set_msr): FS/GS/
 * KERNEL_GS base, LSTAR and CSTAR are refused even from the host;
 * SYSENTER_ESP/EIP are made canonical (bits 63:48 copied from bit 47) and
 * accepted. (A guest WRMSR of either faults: tests/guest/canonical64.)
 */
static void test_noncanonical(struct kt_vm *t)
{
	static const uint32_t refused[] = {0xc0000100, 0xc0000101, 0xc0000102, 0xc0000082,
					   0xc0000083};
	for (unsigned k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
		uint64_t old = get_msr(t->vcpu, refused[k]);
		KT_EQ(set_msr_n(t->vcpu, refused[k], 0x8000000000001000ull), 0);
		KT_EQ(get_msr(t->vcpu, refused[k]), old);
	}
	KT_EQ(set_msr_n(t->vcpu, 0x175, 0x8000000000001000ull), 1);
	KT_EQ(get_msr(t->vcpu, 0x175), 0x1000ull);
	KT_EQ(set_msr_n(t->vcpu, 0x176, 0x0000900000002000ull), 1);
	KT_EQ(get_msr(t->vcpu, 0x176), 0xffff900000002000ull);
}

int main(int argc, char **argv)
{
	struct kt_vm t;
	if (argc < 2) {
		fprintf(stderr, "usage: %s guest_msr.bin\n", argv[0]);
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	KT_CHECK(f != NULL);
	if (!f)
		return kt_done("test_msr");
	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	size_t n = fread(t.mem + 0x1000, 1, 0x4000, f);
	fclose(f);
	KT_CHECK(n > 0);
	kt_real_mode(&t, 0x1000);
	test_validation(&t);
	test_exits(&t);
	test_common_msrs(&t);
	test_noncanonical(&t);
	kt_vm_destroy(&t);
	return kt_done("test_msr");
}
