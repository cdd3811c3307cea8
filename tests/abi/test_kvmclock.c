/* SPDX-License-Identifier: MIT */
/*
 * kvmclock: the PV features in KVM_GET_SUPPORTED_CPUID, a guest enabling
 * MSR_KVM_SYSTEM_TIME_NEW gets a pvclock_vcpu_time_info that converts its TSC
 * to the VM clock of KVM_GET_CLOCK; MSR_KVM_WALL_CLOCK_NEW gives the boot
 * wall-clock time; KVM_KVMCLOCK_CTRL sets PVCLOCK_GUEST_STOPPED.
 */
#include <time.h>

#include "kvmtest.h"

struct pvti {
	uint32_t version, pad0;
	uint64_t tsc_timestamp, system_time;
	uint32_t mul;
	int8_t shift;
	uint8_t flags, pad[2];
} __attribute__((packed));

static uint64_t scale(uint64_t ticks, const struct pvti *t)
{
	if (t->shift >= 0)
		ticks <<= t->shift;
	else
		ticks >>= -t->shift;
	return (uint64_t)(((unsigned __int128)ticks * t->mul) >> 32);
}

int main(void)
{
	struct kt_vm t;
	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[100];
	} cp = {.c.nent = 100};
	KT_EQ(KT_IOCTL(t.kvm, KVM_GET_SUPPORTED_CPUID, &cp), 0);
	uint32_t pv = 0;
	for (uint32_t k = 0; k < cp.c.nent; k++)
		if (cp.e[k].function == 0x40000001)
			pv = cp.e[k].eax;
	KT_CHECK(pv & (1u << 3));  /* KVM_FEATURE_CLOCKSOURCE2 */
	KT_CHECK(pv & (1u << 24)); /* KVM_FEATURE_CLOCKSOURCE_STABLE_BIT */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_CPUID2, &cp), 0);
	KT_EQ(KT_IOCTL(t.kvm, KVM_CHECK_EXTENSION, KVM_CAP_KVMCLOCK_CTRL), 1);
	/* stopped-flag request before kvmclock is on: EINVAL */
	KT_FAILS(KT_IOCTL(t.vcpu, KVM_KVMCLOCK_CTRL, 0), EINVAL);

	/* real mode: wrmsr 0x4b564d01 = 0x2001 (struct at 0x2000, enabled);
	 * wrmsr 0x4b564d00 = 0x3000; out 0x10, al; hlt */
	static const uint8_t code[] = {
	    0x66, 0xb9, 0x01, 0x4d, 0x56, 0x4b, /* mov ecx, 0x4b564d01 */
	    0x66, 0xb8, 0x01, 0x20, 0,	  0,	/* mov eax, 0x2001 */
	    0x66, 0x31, 0xd2,			/* xor edx, edx */
	    0x0f, 0x30,				/* wrmsr */
	    0x66, 0xb9, 0x00, 0x4d, 0x56, 0x4b, /* mov ecx, 0x4b564d00 */
	    0x66, 0xb8, 0x00, 0x30, 0,	  0,	/* mov eax, 0x3000 */
	    0x0f, 0x30,				/* wrmsr */
	    0xe6, 0x10, 0xf4,			/* out 0x10, al; hlt */
	};
	memcpy(t.mem + 0x1000, code, sizeof(code));
	kt_real_mode(&t, 0x1000);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_IO);

	struct pvti p;
	memcpy(&p, t.mem + 0x2000, sizeof(p));
	KT_EQ(p.version & 1, 0);
	KT_CHECK(p.version != 0);
	KT_CHECK(p.flags & 1); /* PVCLOCK_TSC_STABLE_BIT */
	/* the scale: one second of TSC ticks is one second */
	int khz = KT_IOCTL(t.vcpu, KVM_GET_TSC_KHZ, 0);
	uint64_t one_s = scale((uint64_t)khz * 1000, &p);
	KT_CHECK(one_s > 999999000ull && one_s < 1000001000ull);
	/* guest time now from its TSC agrees with KVM_GET_CLOCK */
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e.index = 0x10};
	struct kvm_clock_data cd;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_MSRS, &m), 1);
	KT_EQ(KT_IOCTL(t.vm, KVM_GET_CLOCK, &cd), 0);
	uint64_t guest_ns = p.system_time + scale(m.e.data - p.tsc_timestamp, &p);
	int64_t diff = (int64_t)(cd.clock - guest_ns);
	printf("kvmclock vs KVM_GET_CLOCK: %lld ns\n", (long long)diff);
	KT_CHECK(diff >= 0 && diff < 5000000); /* read a little later */

	/* wall clock: boot time + kvmclock ~ now */
	uint32_t wv, sec, nsec;
	memcpy(&wv, t.mem + 0x3000, 4);
	memcpy(&sec, t.mem + 0x3004, 4);
	memcpy(&nsec, t.mem + 0x3008, 4);
	KT_EQ(wv & 1, 0);
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	int64_t wall = (int64_t)sec * 1000000000ll + nsec + (int64_t)cd.clock;
	int64_t real = (int64_t)rt.tv_sec * 1000000000ll + rt.tv_nsec;
	KT_CHECK(llabs(real - wall) < 1000000000ll);

	/* KVMCLOCK_CTRL: the next update carries PVCLOCK_GUEST_STOPPED */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_KVMCLOCK_CTRL, 0), 0);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	memcpy(&p, t.mem + 0x2000, sizeof(p));
	KT_CHECK(p.flags & 2);
	kt_vm_destroy(&t);
	return kt_done("test_kvmclock");
}
