/* SPDX-License-Identifier: MIT */
/*
 * User wait instructions through the ABI (seeds 000-002): WAITPKG in
 * KVM_GET_SUPPORTED_CPUID; #UD without it in the guest's CPUID; UMONITOR/
 * UMWAIT/TPAUSE deadlines, CF=1 when IA32_UMWAIT_CONTROL's limit ends the
 * wait, wake-up by a store from the VMM and from another vCPU, and the vCPU
 * sleeping on the host (thread CPU time) during a long TPAUSE; the MSR's #GP
 * rules, reserved bits, KVM_GET/SET_MSRS and the MSR index list.
 * argv[1]: the guest binary (guest_wait.asm).
 */
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "kvmtest.h"

/* two vCPUs, two stacks (by fd parity, as before) */
#define STACK(vcpu) (0x8000 - 0x1000 * (uint64_t)((vcpu)&1))

#define MSR_UMWAIT_CONTROL 0xe1
#define TSC_HZ		   2000000000ull /* softkvm's default guest TSC rate */

enum { T_TPAUSE, T_UMWAIT, T_UNARMED, T_RESERVED, T_RDMSR, T_WRMSR_BAD, T_WRMSR, T_PEER };

static uint8_t image[0x1000];
static size_t image_len;
static uint32_t entry[8], vars[4];

static uint64_t clk(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct vmx {
	int kvm, vm, vcpu[2];
	struct kvm_run *run[2];
	uint8_t *mem;
};

static void set_cpuid(int kvm, int vcpu, bool waitpkg)
{
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[100];
	} cp = {.c.nent = 100};
	KT_EQ(KT_IOCTL(kvm, KVM_GET_SUPPORTED_CPUID, &cp), 0);
	for (uint32_t k = 0; k < cp.c.nent; k++) {
		if (cp.e[k].function == 7 && cp.e[k].index == 0) {
			if (k == 0 || waitpkg)
				KT_CHECK(cp.e[k].ecx & (1u << 5)); /* advertised */
			if (!waitpkg)
				cp.e[k].ecx &= ~(1u << 5);
		}
	}
	KT_EQ(KT_IOCTL(vcpu, KVM_SET_CPUID2, &cp), 0);
}

static void vmx_create(struct vmx *x, bool waitpkg, int nvcpus)
{
	memset(x, 0, sizeof(*x));
	x->kvm = kt_open();
	x->vm = KT_IOCTL(x->kvm, KVM_CREATE_VM, 0);
	x->mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = {0, 0, 0, 1 << 20, (uintptr_t)x->mem};
	KT_EQ(KT_IOCTL(x->vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	memcpy(x->mem + 0x1000, image, image_len);
	int sz = KT_IOCTL(x->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	for (int k = 0; k < nvcpus; k++) {
		x->vcpu[k] = KT_IOCTL(x->vm, KVM_CREATE_VCPU, k);
		x->run[k] = kt_mmap((size_t)sz, x->vcpu[k]);
		set_cpuid(x->kvm, x->vcpu[k], waitpkg);
	}
}

static void vmx_destroy(struct vmx *x)
{
	for (int k = 0; k < 2; k++)
		if (x->vcpu[k] > 0)
			kt_close(x->vcpu[k]);
	kt_close(x->vm);
	kt_close(x->kvm);
	munmap(x->mem, 1 << 20);
}

/* run a scenario on vCPU 0 to its first reporting OUT; returns port, *val the byte/dword */
static int scenario(struct vmx *x, int which, uint32_t *val)
{
	kt_flat32(x->vcpu[0], entry[which], STACK(x->vcpu[0]));
	if (KT_IOCTL(x->vcpu[0], KVM_RUN, 0) != 0 || x->run[0]->exit_reason != KVM_EXIT_IO)
		return -1;
	uint32_t v = 0;
	memcpy(&v, (uint8_t *)x->run[0] + x->run[0]->io.data_offset, x->run[0]->io.size);
	*val = v;
	return x->run[0]->io.port;
}

static void set_delta(struct vmx *x, uint64_t ticks)
{
	memcpy(x->mem + vars[0], &ticks, 8);
}

static void test_without_waitpkg(void)
{
	struct vmx x;
	uint32_t v;
	vmx_create(&x, false, 1);
	set_delta(&x, 1000);
	KT_EQ(scenario(&x, T_TPAUSE, &v), 0x20);
	KT_EQ(v, 6); /* #UD */
	KT_EQ(scenario(&x, T_RDMSR, &v), 0x20);
	KT_EQ(v, 13); /* #GP: no WAITPKG in the guest's CPUID */
	/* host-initiated access works regardless */
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e.index = MSR_UMWAIT_CONTROL, .e.data = 0x100};
	KT_EQ(KT_IOCTL(x.vcpu[0], KVM_SET_MSRS, &m), 1);
	vmx_destroy(&x);
}

struct poke {
	uint8_t *p;
	unsigned ms;
};

static void *poke_later(void *arg)
{
	struct poke *k = arg;
	struct timespec ts = {0, (long)k->ms * 1000000};
	nanosleep(&ts, NULL);
	__atomic_store_n((uint32_t *)k->p, 0xfeedf00d, __ATOMIC_SEQ_CST);
	return NULL;
}

struct peer {
	struct vmx *x;
	int port;
};

static void *run_peer(void *arg)
{
	struct peer *p = arg;
	kt_flat32(p->x->vcpu[1], entry[T_PEER], STACK(p->x->vcpu[1]));
	if (KT_IOCTL(p->x->vcpu[1], KVM_RUN, 0) == 0 && p->x->run[1]->exit_reason == KVM_EXIT_IO)
		p->port = p->x->run[1]->io.port;
	return NULL;
}

static void test_with_waitpkg(void)
{
	struct vmx x;
	uint32_t v;
	vmx_create(&x, true, 2);

	KT_EQ(scenario(&x, T_RDMSR, &v), 0x22);
	KT_EQ(v, 0);
	KT_EQ(scenario(&x, T_WRMSR_BAD, &v), 0x20);
	KT_EQ(v, 13); /* bit 1 reserved */
	KT_EQ(scenario(&x, T_RESERVED, &v), 0x20);
	KT_EQ(v, 13); /* hint bits 31:1 reserved */

	/* a long TPAUSE sleeps on the host */
	set_delta(&x, TSC_HZ / 10); /* 100 ms */
	uint64_t w0 = clk(CLOCK_MONOTONIC), c0 = clk(CLOCK_THREAD_CPUTIME_ID);
	KT_EQ(scenario(&x, T_TPAUSE, &v), 0x21);
	uint64_t wall = clk(CLOCK_MONOTONIC) - w0, cpu = clk(CLOCK_THREAD_CPUTIME_ID) - c0;
	KT_EQ(v, 0); /* CF=0: the deadline ended it */
	printf("TPAUSE 100 ms: wall %.1f ms, vCPU thread CPU %.2f ms\n", wall / 1e6, cpu / 1e6);
	KT_CHECK(wall >= 95000000ull);
	KT_CHECK(cpu < wall / 10);

	/* the OS limit: IA32_UMWAIT_CONTROL[31:2] = 20M TSC ticks (10 ms), CF=1 */
	uint32_t limit = (uint32_t)(TSC_HZ / 100);
	memcpy(x.mem + vars[1], &limit, 4);
	KT_EQ(scenario(&x, T_WRMSR, &v), 0x22);
	set_delta(&x, TSC_HZ); /* 1 s */
	w0 = clk(CLOCK_MONOTONIC);
	KT_EQ(scenario(&x, T_TPAUSE, &v), 0x21);
	wall = clk(CLOCK_MONOTONIC) - w0;
	KT_EQ(v, 1);
	KT_CHECK(wall >= 9000000ull && wall < 500000000ull);

	/* saved by KVM_GET_MSRS, restored into a fresh vCPU with KVM_SET_MSRS */
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e.index = MSR_UMWAIT_CONTROL};
	KT_EQ(KT_IOCTL(x.vcpu[0], KVM_GET_MSRS, &m), 1);
	KT_EQ(m.e.data, limit);
	struct vmx y;
	vmx_create(&y, true, 1);
	KT_EQ(KT_IOCTL(y.vcpu[0], KVM_SET_MSRS, &m), 1);
	m.e.data = 0;
	KT_EQ(KT_IOCTL(y.vcpu[0], KVM_GET_MSRS, &m), 1);
	KT_EQ(m.e.data, limit);
	m.e.data = 2; /* reserved bit: refused even host-initiated */
	KT_EQ(KT_IOCTL(y.vcpu[0], KVM_SET_MSRS, &m), 0);
	m.e.data = 1ull << 32;
	KT_EQ(KT_IOCTL(y.vcpu[0], KVM_SET_MSRS, &m), 0);
	vmx_destroy(&y);

	/* no limit again; UMWAIT woken by a store from the VMM */
	limit = 0;
	memcpy(x.mem + vars[1], &limit, 4);
	KT_EQ(scenario(&x, T_WRMSR, &v), 0x22);
	set_delta(&x, 10 * TSC_HZ);		 /* 10 s */
	KT_EQ(scenario(&x, T_UMWAIT, &v), 0x23); /* armed */
	struct poke pk = {x.mem + vars[3], 30};
	pthread_t th;
	pthread_create(&th, NULL, poke_later, &pk);
	w0 = clk(CLOCK_MONOTONIC);
	KT_EQ(KT_IOCTL(x.vcpu[0], KVM_RUN, 0), 0);
	wall = clk(CLOCK_MONOTONIC) - w0;
	pthread_join(th, NULL);
	KT_EQ(x.run[0]->io.port, 0x21);
	KT_EQ(*((uint8_t *)x.run[0] + x.run[0]->io.data_offset), 0);
	KT_CHECK(wall < 1000000000ull);

	/* UMWAIT woken by another vCPU's store */
	uint32_t zero = 0;
	memcpy(x.mem + vars[2], &zero, 4);
	struct peer peer = {&x, 0};
	pthread_create(&th, NULL, run_peer, &peer);
	KT_EQ(scenario(&x, T_UMWAIT, &v), 0x23);
	uint32_t one = 1;
	__atomic_store_n((uint32_t *)(x.mem + vars[2]), one, __ATOMIC_SEQ_CST);
	w0 = clk(CLOCK_MONOTONIC);
	KT_EQ(KT_IOCTL(x.vcpu[0], KVM_RUN, 0), 0);
	wall = clk(CLOCK_MONOTONIC) - w0;
	pthread_join(th, NULL);
	KT_EQ(peer.port, 0x24);
	KT_EQ(x.run[0]->io.port, 0x21);
	KT_EQ(*((uint8_t *)x.run[0] + x.run[0]->io.data_offset), 0);
	printf("UMWAIT woken by the other vCPU's store after %.2f ms\n", wall / 1e6);
	KT_CHECK(wall < 1000000000ull);

	/* no armed monitor: UMWAIT does not wait */
	w0 = clk(CLOCK_MONOTONIC);
	KT_EQ(scenario(&x, T_UNARMED, &v), 0x21);
	KT_EQ(v, 0);
	KT_CHECK(clk(CLOCK_MONOTONIC) - w0 < 1000000000ull);
	vmx_destroy(&x);
}

static void test_msr_list(void)
{
	int kvm = kt_open();
	struct kvm_msr_list probe = {.nmsrs = 0};
	KT_IOCTL(kvm, KVM_GET_MSR_INDEX_LIST, &probe);
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + probe.nmsrs * 4);
	l->nmsrs = probe.nmsrs;
	KT_EQ(KT_IOCTL(kvm, KVM_GET_MSR_INDEX_LIST, l), 0);
	bool found = false;
	for (uint32_t k = 0; k < l->nmsrs; k++)
		found = found || l->indices[k] == MSR_UMWAIT_CONTROL;
	KT_CHECK(found);
	free(l);
	kt_close(kvm);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s guest_wait.bin\n", argv[0]);
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	image_len = fread(image, 1, sizeof(image), f);
	fclose(f);
	memcpy(entry, image, sizeof(entry));
	memcpy(vars, image + sizeof(entry), sizeof(vars));
	test_msr_list();
	test_without_waitpkg();
	test_with_waitpkg();
	return kt_done("test_waitpkg");
}
