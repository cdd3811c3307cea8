/* SPDX-License-Identifier: MIT */
/*
 * Stolen time (MSR_KVM_STEAL_TIME, Linux 6.1 record_steal_time() and
 * kvm_set_msr_common()): KVM_FEATURE_STEAL_TIME in KVM_GET_SUPPORTED_CPUID
 * and KVM_CAP_STEAL_TIME where the host keeps per-thread run_delay; the MSR
 * in KVM_GET_MSR_INDEX_LIST; reserved bits 5:1 refused for the guest (#GP)
 * and for KVM_SET_MSRS, bit 6 and up accepted (64-byte alignment); the value
 * read back; the version protocol (odd junk skipped, even after an update),
 * preempted set when KVM_RUN returns and cleared before the guest runs (it
 * reads 0), the rest of the struct untouched; nothing written while
 * disabled, into a read-only slot or outside RAM; and the steal field growing
 * by at least the time a competing thread on the same host CPU kept the
 * vCPU's thread waiting; INIT clearing the MSR (kvm_vcpu_reset()).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <time.h>

#include "kvmtest.h"

#define MSR_KVM_STEAL_TIME 0x4b564d03
#define ST		   0x2000 /* the struct in guest RAM */
#define VALUE		   0x500  /* the value the guest writes */

struct kvm_steal_time_t {
	uint64_t steal;
	uint32_t version;
	uint32_t flags;
	uint8_t preempted;
	uint8_t u8_pad[3];
	uint32_t pad[11];
};

static int64_t run_delay(void)
{
	FILE *f = fopen("/proc/thread-self/schedstat", "r");
	unsigned long long a, b;
	if (!f)
		return -1;
	int n = fscanf(f, "%llu %llu", &a, &b);
	fclose(f);
	return n == 2 ? (int64_t)b : -1;
}

static int set_msr(int vcpu, uint64_t v)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e = {.index = MSR_KVM_STEAL_TIME, .data = v}};
	return KT_IOCTL(vcpu, KVM_SET_MSRS, &m);
}

static uint64_t get_msr(int vcpu)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = {.h.nmsrs = 1, .e = {.index = MSR_KVM_STEAL_TIME}};
	KT_EQ(KT_IOCTL(vcpu, KVM_GET_MSRS, &m), 1);
	return m.e.data;
}

/* the guest writes *VALUE to the MSR: port 0x10 if it took, 0x11 on #GP */
static int guest_wrmsr(struct kt_vm *t, uint32_t value)
{
	memcpy(t->mem + VALUE, &value, 4);
	kt_real_mode(t, 0x1000);
	if (KT_IOCTL(t->vcpu, KVM_RUN, 0) != 0 || t->run->exit_reason != KVM_EXIT_IO)
		return -1;
	return t->run->io.port;
}

/* run the guest to an OUT again (the steal update at entry). Not the OUT at
 * 0x1010: re-entering at the RIP of the last OUT exit completes (skips) it,
 * as Linux's complete_fast_pio_out() does */
static void reenter(struct kt_vm *t)
{
	kt_real_mode(t, 0x1020);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	KT_EQ(t->run->exit_reason, KVM_EXIT_IO);
	KT_EQ(t->run->io.port, 0x10);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static atomic_bool spin_stop;

static void *spinner(void *arg)
{
	(void)arg;
	while (!atomic_load(&spin_stop))
		;
	return NULL;
}

/* keep this thread waiting for its CPU (a spinning thread on it) for 50 ms of
 * run_delay; the run_delay it got */
static int64_t steal_some(pthread_attr_t *attr)
{
	int64_t rd0 = run_delay();
	pthread_t th;
	atomic_store(&spin_stop, false);
	KT_EQ(pthread_create(&th, attr, spinner, NULL), 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (run_delay() - rd0 < 50000000 && t1.tv_sec - t0.tv_sec < 20);
	atomic_store(&spin_stop, true);
	pthread_join(th, NULL);
	return run_delay() - rd0;
}

static struct kvm_steal_time_t st_read(struct kt_vm *t)
{
	struct kvm_steal_time_t s;
	memcpy(&s, t->mem + ST, sizeof(s));
	return s;
}

static void irqchip(struct kt_vm *t)
{
	KT_EQ(KT_IOCTL(t->vm, KVM_CREATE_IRQCHIP, 0), 0);
}

/* INIT (kvm_vcpu_reset(), init_event too) clears the MSR: the vCPU sends
 * INIT to its own APIC ID and resumes at the reset vector */
static void init_clears(void)
{
	struct kt_vm t;
	KT_EQ(kt_vm_create_setup(&t, 1 << 20, irqchip), 0);
	KT_EQ(set_msr(t.vcpu, ST | 1), 1);
	/* 0x1000: mov dword [0xfee00310], 0; mov dword [0xfee00300], 0x4500 (INIT);
	 * out 0x12, al; hlt */
	static const uint8_t code[] = {
	    0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00, 0xc7, 0x05,
	    0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00, 0xe6, 0x12, 0xf4,
	};
	memcpy(t.mem + 0x1000, code, sizeof(code));
	/* the reset vector 0xfffffff0: out 0x13, al; hlt */
	uint8_t *rom =
	    mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	static const uint8_t rv[] = {0xe6, 0x13, 0xf4};
	memcpy(rom + 0xfff0, rv, sizeof(rv));
	struct kvm_userspace_memory_region r = {.slot = 2,
						.guest_phys_addr = 0xffff0000,
						.memory_size = 0x10000,
						.userspace_addr = (uintptr_t)rom};
	KT_EQ(KT_IOCTL(t.vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	kt_flat32(t.vcpu, 0x1000, 0x8000);
	int port = 0;
	for (int k = 0; k < 3 && port != 0x13; k++) {
		if (KT_IOCTL(t.vcpu, KVM_RUN, 0) != 0 || t.run->exit_reason != KVM_EXIT_IO)
			break;
		port = t.run->io.port;
	}
	KT_EQ(port, 0x13);
	KT_EQ(get_msr(t.vcpu), 0);
	kt_vm_destroy(&t);
}

int main(void)
{
	struct kt_vm t;
	bool host_has = run_delay() >= 0;
	KT_EQ(kt_vm_create(&t, 1 << 20), 0);

	KT_EQ(KT_IOCTL(t.kvm, KVM_CHECK_EXTENSION, KVM_CAP_STEAL_TIME), host_has);
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[100];
	} cp = {.c.nent = 100};
	KT_EQ(KT_IOCTL(t.kvm, KVM_GET_SUPPORTED_CPUID, &cp), 0);
	uint32_t pv = 0;
	for (uint32_t k = 0; k < cp.c.nent; k++)
		if (cp.e[k].function == 0x40000001)
			pv = cp.e[k].eax;
	KT_EQ((pv >> 5) & 1, host_has); /* KVM_FEATURE_STEAL_TIME */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_CPUID2, &cp), 0);

	struct {
		struct kvm_msr_list l;
		uint32_t i[256];
	} ml = {.l.nmsrs = 256};
	KT_EQ(KT_IOCTL(t.kvm, KVM_GET_MSR_INDEX_LIST, &ml), 0);
	bool listed = false;
	for (uint32_t k = 0; k < ml.l.nmsrs; k++)
		listed = listed || ml.l.indices[k] == MSR_KVM_STEAL_TIME;
	KT_CHECK(listed);
	if (!host_has) {
		printf("no /proc/thread-self/schedstat: only the negative checks\n");
		KT_EQ(set_msr(t.vcpu, ST | 1), 0);
		kt_vm_destroy(&t);
		return kt_done("test_steal");
	}

	/* 0x1000: mov ecx, MSR; mov eax, [VALUE]; xor edx, edx; wrmsr;
	 * 0x1010: out 0x10, al; hlt. #GP (IVT 13) -> 0x1100: out 0x11, al; hlt */
	static const uint8_t code[] = {
	    0x66, 0xb9, 0x03, 0x4d, 0x56, 0x4b, /* mov ecx, 0x4b564d03 */
	    0x66, 0xa1, 0x00, 0x05,		/* mov eax, [0x500] */
	    0x66, 0x31, 0xd2,			/* xor edx, edx */
	    0x0f, 0x30,				/* wrmsr */
	    0x90,				/* nop */
	    0xe6, 0x10, 0xf4,			/* 0x1010: out 0x10, al; hlt */
	};
	memcpy(t.mem + 0x1000, code, sizeof(code));
	/* 0x1020: mov al, [ST + 16] (the preempted byte as the guest sees it); out 0x10, al; hlt */
	static const uint8_t again[] = {0xa0, 0x10, 0x20, 0xe6, 0x10, 0xf4};
	memcpy(t.mem + 0x1020, again, sizeof(again));
	static const uint8_t gp[] = {0xe6, 0x11, 0xf4};
	memcpy(t.mem + 0x1100, gp, sizeof(gp));
	uint16_t ivt13[2] = {0x1100, 0};
	memcpy(t.mem + 13 * 4, ivt13, 4);

	/* reserved bits 5:1, one at a time: #GP for the guest, KVM_SET_MSRS refuses */
	for (unsigned b = 1; b <= 5; b++) {
		KT_EQ(guest_wrmsr(&t, ST | (1u << b) | 1), 0x11);
		KT_EQ(set_msr(t.vcpu, ST | (1u << b) | 1), 0);
		KT_EQ(get_msr(t.vcpu), 0);
	}
	/* disabled: accepted, read back, nothing written */
	memset(t.mem + ST, 0x5a, 128);
	KT_EQ(guest_wrmsr(&t, ST + 0x40), 0x10); /* bit 6: a 64-byte aligned address */
	KT_EQ(get_msr(t.vcpu), ST + 0x40);
	reenter(&t);
	uint8_t untouched[128];
	memset(untouched, 0x5a, sizeof(untouched));
	KT_CHECK(!memcmp(t.mem + ST, untouched, 128));

	/* enabled by the guest: the struct is written before it runs on */
	struct kvm_steal_time_t init = {.steal = 1000, .version = 5, .flags = 0, .preempted = 1};
	memset(init.pad, 0xa5, sizeof(init.pad));
	init.u8_pad[0] = 7;
	memcpy(t.mem + ST, &init, sizeof(init));
	KT_EQ(guest_wrmsr(&t, ST | 1), 0x10);
	KT_EQ(get_msr(t.vcpu), ST | 1);
	struct kvm_steal_time_t s = st_read(&t);
	/* odd junk 5 -> 6, then 7 while writing, 8 (more if the run took 1 ms: a
	 * periodic record before the OUT, on a loaded host) */
	KT_CHECK(s.version >= 8 && !(s.version & 1));
	/* KVM_VCPU_PREEMPTED since KVM_RUN returned (kvm_steal_time_set_preempted) */
	KT_EQ(s.preempted, 1);
	KT_EQ(s.flags, 0);
	KT_EQ(s.u8_pad[0], 7);
	KT_CHECK(!memcmp(s.pad, init.pad, sizeof(s.pad)));
	KT_CHECK(s.steal >= 1000);

	/* an entry 1 ms (STEAL_PERIOD_NS) after the last record updates: the version
	 * goes up by 2 */
	s.preempted = 1;
	memcpy(t.mem + ST, &s, sizeof(s));
	usleep(2000);
	int64_t t_prev = now_ns(); /* the record below is after this */
	reenter(&t);
	struct kvm_steal_time_t s2 = st_read(&t);
	KT_CHECK(s2.version >= s.version + 2 && !(s2.version & 1));
	/* cleared before the guest ran (it read 0), set again when KVM_RUN returned */
	KT_EQ(((uint8_t *)t.run)[t.run->io.data_offset], 0);
	KT_EQ(s2.preempted, 1);
	/* also when the entry is no record (within the 1 ms, user space quick) */
	reenter(&t);
	KT_EQ(((uint8_t *)t.run)[t.run->io.data_offset], 0);
	KT_EQ(st_read(&t).preempted, 1);
	KT_CHECK(s2.steal >= s.steal);
	/* so does an entry after user space kept the thread 50 us (it may have been
	 * scheduled out: Linux records at every vcpu_load), within the 1 ms */
	uint32_t before = s2.version;
	usleep(200);
	reenter(&t);
	s2 = st_read(&t);
	if (now_ns() - t_prev < 900000) /* not the 1 ms rule: it must be this one */
		KT_CHECK(s2.version >= before + 2 && !(s2.version & 1));
	else
		printf("loaded host: the 50 us rule not told apart from the 1 ms one\n");

	/* a competing thread on this thread's CPU: the stolen time shows */
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	KT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setaffinity_np(&attr, sizeof(one), &one);
	reenter(&t);
	s = st_read(&t);
	int64_t waited = steal_some(&attr);
	reenter(&t);
	s2 = st_read(&t);
	int64_t stolen = (int64_t)(s2.steal - s.steal);
	printf("run_delay grew %lld ns, guest steal grew %lld ns\n", (long long)waited,
	       (long long)stolen);
	KT_CHECK(waited >= 50000000);
	KT_CHECK(stolen >= waited);
	KT_CHECK(stolen < waited + 1000000000ll);
	KT_EQ(s2.version & 1, 0);

	/* KVM_SET_MSRS (a restore): accepted as the guest's write, updated at entry */
	memset(t.mem + 0x3000, 0, 64);
	KT_EQ(set_msr(t.vcpu, 0x3000 | 1), 1);
	KT_EQ(get_msr(t.vcpu), 0x3001);
	reenter(&t);
	uint32_t v3;
	memcpy(&v3, t.mem + 0x3000 + 8, 4);
	KT_CHECK(v3 >= 2 && !(v3 & 1));

	/* outside RAM: accepted, nothing to write, no harm */
	KT_EQ(set_msr(t.vcpu, 0xfff00000ull | 1), 1);
	reenter(&t);
	/* a read-only slot: not written (kvm_gfn_to_hva_cache_init wants it writable) */
	uint8_t *ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(ro, 0x33, 4096);
	struct kvm_userspace_memory_region r = {.slot = 1,
						.flags = KVM_MEM_READONLY,
						.guest_phys_addr = 0x200000,
						.memory_size = 4096,
						.userspace_addr = (uintptr_t)ro};
	KT_EQ(KT_IOCTL(t.vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	KT_EQ(set_msr(t.vcpu, 0x200000 | 1), 1);
	reenter(&t);
	KT_EQ(ro[0], 0x33);
	KT_EQ(ro[8], 0x33);
	/* time stolen while the struct could not be written stays due (Linux's
	 * last_steal moves only with a record): it shows at the next good address */
	waited = steal_some(&attr);
	reenter(&t);
	KT_EQ(ro[0], 0x33);
	memset(t.mem + 0x4000, 0, 64);
	KT_EQ(set_msr(t.vcpu, 0x4000 | 1), 1);
	reenter(&t);
	uint64_t steal4;
	memcpy(&steal4, t.mem + 0x4000, 8);
	printf("stolen while unwritable: %lld ns of run_delay, %llu ns reported after\n",
	       (long long)waited, (unsigned long long)steal4);
	KT_CHECK(waited >= 50000000);
	KT_CHECK(steal4 >= (uint64_t)waited);
	pthread_attr_destroy(&attr);
	munmap(ro, 4096);
	kt_vm_destroy(&t);
	init_clears();
	return kt_done("test_steal");
}
