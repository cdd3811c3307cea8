/* SPDX-License-Identifier: MIT */
/*
 * Memory slot changes racing running vCPUs (api.rst 4.35
 * KVM_SET_USER_MEMORY_REGION; Linux's set_memory_region_test): once the
 * ioctl that deletes a slot returns, no thread of softkvm may touch the
 * slot's host memory any more, so the caller may unmap it at once.
 *
 * Each round maps fresh memory as slot 0 (32-bit paging: page directory,
 * page table and a loop that reads an MMIO address and writes RAM), starts
 * vCPU 0 on it (a thread doing KVM_RUN and answering the MMIO exits) and
 * has vCPU 1 translate addresses through the same page tables in another
 * thread (KVM_TRANSLATE). While both run, the main thread deletes slot 0 and
 * at once replaces its memory with an inaccessible mapping: any later access
 * by softkvm is a SIGSEGV of the test. After the delete the vCPU must end
 * with KVM_EXIT_SHUTDOWN or KVM_EXIT_INTERNAL_ERROR (its code and page
 * tables are gone; Linux gives the same) and translations become invalid.
 * Then the slot is moved in the same way (a move invalidates the old
 * placement just as a delete does).
 *
 * Second part: slot changes while a vCPU with the in-kernel LAPIC sends
 * IPIs in a loop. Delivering one takes the VM's lock inside cpu_run(); a
 * slot change that held that lock while waiting for the vCPUs would never
 * end (a watchdog fails the test after 20 s).
 *
 *   test_memslot_race [ROUNDS [unmap|ipi]]   (default: 1000, both parts)
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "kvmtest.h"

#define MEM_SIZE  0x10000ull
#define CODE	  0x3000
#define DATA	  0x4000
#define MMIO_LA	  0x10000     /* mapped by the page table to MMIO_GPA */
#define MMIO_GPA  0x100000ull /* in no slot */
#define MOVED_GPA 0x200000ull /* where a move puts slot 0 */

static int vm, vcpu[2];
static struct kvm_run *run[2];
static _Atomic int round_no; /* the round the threads work on; -1: stop */
static _Atomic int removing; /* round whose slot 0 is being deleted or moved */
static _Atomic int removed;  /* ... and the ioctl has returned */
static _Atomic unsigned long exits, translations;
static _Atomic int runner_done, translator_done; /* last round each finished */
static _Atomic int bad_exits, bad_translations;

static void on_segv(int sig)
{
	static const char msg[] = "test_memslot_race: SIGSEGV: softkvm touched the memory of a "
				  "slot after KVM_SET_USER_MEMORY_REGION had removed it\n";
	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

static void paging_sregs(int fd)
{
	struct kvm_sregs s;
	KT_EQ(KT_IOCTL(fd, KVM_GET_SREGS, &s), 0);
	struct kvm_segment cs = {.base = 0,
				 .limit = 0xffffffff,
				 .selector = 0x08,
				 .type = 0xb,
				 .present = 1,
				 .dpl = 0,
				 .db = 1,
				 .s = 1,
				 .g = 1};
	struct kvm_segment ds = cs;
	ds.selector = 0x10;
	ds.type = 3;
	s.cs = cs;
	s.ds = s.es = s.fs = s.gs = s.ss = ds;
	s.cr3 = 0x1000;
	s.cr4 = 0;
	s.cr0 = 0x80000011; /* PG | ET | PE */
	s.efer = 0;
	KT_EQ(KT_IOCTL(fd, KVM_SET_SREGS, &s), 0);
}

/* page directory at 0x1000, page table at 0x2000, code at CODE */
static void build_guest(uint8_t *m)
{
	uint32_t *pd = (uint32_t *)(m + 0x1000), *pt = (uint32_t *)(m + 0x2000);
	pd[0] = 0x2000 | 7;
	for (unsigned k = 0; k < MEM_SIZE / 4096; k++)
		pt[k] = (k << 12) | 7;
	pt[MMIO_LA >> 12] = (uint32_t)MMIO_GPA | 7;
	static const uint8_t code[] = {
	    0xa1, 0x00, 0x00, 0x01, 0x00, /* mov eax, [MMIO_LA] */
	    0xa3, 0x00, 0x40, 0x00, 0x00, /* mov [DATA], eax */
	    0xeb, 0xf4,			  /* jmp back */
	};
	memcpy(m + CODE, code, sizeof(code));
}

static void wait_round(int done_round)
{
	while (atomic_load(&round_no) == done_round)
		sched_yield();
}

static void *runner(void *arg)
{
	int prev = 0;
	(void)arg;
	for (;;) {
		wait_round(prev);
		int r = atomic_load(&round_no);
		if (r < 0)
			return NULL;
		prev = r;
		paging_sregs(vcpu[0]);
		struct kvm_regs regs = {.rip = CODE, .rsp = 0x8000, .rflags = 2};
		KT_EQ(KT_IOCTL(vcpu[0], KVM_SET_REGS, &regs), 0);
		for (;;) {
			int rc = KT_IOCTL(vcpu[0], KVM_RUN, 0);
			uint32_t why = run[0]->exit_reason;
			if (rc < 0 && errno == EINTR)
				continue;
			if (rc == 0 && why == KVM_EXIT_MMIO) {
				if (!run[0]->mmio.is_write)
					memset(run[0]->mmio.data, 0x5a, 8);
				atomic_fetch_add(&exits, 1);
				continue;
			}
			/* the code and page tables are gone: a shutdown (triple fault
			 * through the missing IDT) or an emulation failure, after the
			 * slot went away */
			if (rc != 0 ||
			    (why != KVM_EXIT_SHUTDOWN && why != KVM_EXIT_INTERNAL_ERROR) ||
			    atomic_load(&removing) != r) {
				fprintf(stderr, "round %d: KVM_RUN %d errno %d exit %u\n", r, rc,
					errno, why);
				atomic_fetch_add(&bad_exits, 1);
			}
			break;
		}
		atomic_store(&runner_done, r);
	}
}

static void *translator(void *arg)
{
	int prev = 0;
	(void)arg;
	paging_sregs(vcpu[1]);
	for (;;) {
		wait_round(prev);
		int r = atomic_load(&round_no);
		if (r < 0)
			return NULL;
		prev = r;
		for (unsigned n = 0;; n++) {
			bool gone = atomic_load(&removed) == r;
			struct kvm_translation t = {.linear_address = n & 1 ? CODE : MMIO_LA};
			KT_EQ(KT_IOCTL(vcpu[1], KVM_TRANSLATE, &t), 0);
			if (t.valid) {
				uint64_t want = n & 1 ? CODE : MMIO_GPA;
				if (t.physical_address != want || gone) {
					fprintf(stderr,
						"round %d: translation %#llx after removal\n", r,
						(unsigned long long)t.physical_address);
					atomic_fetch_add(&bad_translations, 1);
					break;
				}
				atomic_fetch_add(&translations, 1);
			} else if (atomic_load(&removing) == r) {
				break; /* invalid once the page tables are gone */
			} else {
				fprintf(stderr, "round %d: no translation with the slot present\n",
					r);
				atomic_fetch_add(&bad_translations, 1);
				break;
			}
		}
		atomic_store(&translator_done, r);
	}
}

static bool wait_for(_Atomic unsigned long *counter, unsigned long above)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (atomic_load(counter) <= above) {
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 20)
			return false;
	}
	return true;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void wait_done(_Atomic int *done, int r)
{
	while (atomic_load(done) != r)
		sched_yield();
}

/* ---- slot changes against IPIs ---- */

static _Atomic bool ipi_stop;
static _Atomic unsigned long ipi_exits;

static void on_alarm(int sig)
{
	static const char msg[] = "test_memslot_race: hang: a slot change did not end while a "
				  "vCPU sent IPIs\n";
	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(2);
}

static void *ipi_runner(void *arg)
{
	struct kt_vm *t = arg;
	while (!atomic_load(&ipi_stop)) {
		int rc = KT_IOCTL(t->vcpu, KVM_RUN, 0);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc != 0 || t->run->exit_reason != KVM_EXIT_IO || t->run->io.port != 0x10) {
			fprintf(stderr, "IPI loop: KVM_RUN %d errno %d exit %u\n", rc, errno,
				t->run->exit_reason);
			atomic_fetch_add(&bad_exits, 1);
			break;
		}
		atomic_fetch_add(&ipi_exits, 1);
	}
	return NULL;
}

static void irqchip(struct kt_vm *t)
{
	KT_EQ(KT_IOCTL(t->vm, KVM_CREATE_IRQCHIP, 0), 0);
}

static void ipi_part(int rounds)
{
	static const uint8_t code[] = {
	    0xb9, 0xe8, 0x03, 0x00, 0x00, /* top: mov ecx, 1000 */
	    0xb8, 0x40, 0x40, 0x00, 0x00, /* mov eax, fixed IPI, vector 0x40 */
	    0xa3, 0x00, 0x03, 0xe0, 0xfe, /* l: mov [0xfee00300], eax (ICR) */
	    0xe2, 0xf9,			  /* loop l */
	    0xe6, 0x10,			  /* out 0x10, al */
	    0xeb, 0xeb,			  /* jmp top */
	};
	struct kt_vm t;
	pthread_t th;

	KT_EQ(kt_vm_create_setup(&t, MEM_SIZE, irqchip), 0);
	memcpy(t.mem + 0x1000, code, sizeof(code));
	kt_flat32(t.vcpu, 0x1000, 0x8000);
	uint8_t *extra =
	    mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_CHECK(extra != MAP_FAILED);
	signal(SIGALRM, on_alarm);
	alarm(20);
	pthread_create(&th, NULL, ipi_runner, &t);
	wait_for(&ipi_exits, 0);
	for (int r = 0; r < rounds; r++) {
		struct kvm_userspace_memory_region reg = {.slot = 1,
							  .guest_phys_addr = MOVED_GPA,
							  .memory_size = MEM_SIZE,
							  .userspace_addr = (uintptr_t)extra};
		KT_EQ(KT_IOCTL(t.vm, KVM_SET_USER_MEMORY_REGION, &reg), 0);
		reg.memory_size = 0;
		KT_EQ(KT_IOCTL(t.vm, KVM_SET_USER_MEMORY_REGION, &reg), 0);
	}
	atomic_store(&ipi_stop, true);
	pthread_join(th, NULL);
	alarm(0);
	printf("test_memslot_race: %d slot changes during %lu IPI loops\n", 2 * rounds,
	       atomic_load(&ipi_exits));
	munmap(extra, MEM_SIZE);
	kt_vm_destroy(&t);
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 1000;
	const char *part = argc > 2 ? argv[2] : NULL;
	pthread_t th[2];
	struct sigaction sa = {.sa_handler = on_segv};

	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	int kvm = kt_open();
	KT_CHECK(kvm >= 0);
	vm = KT_IOCTL(kvm, KVM_CREATE_VM, 0);
	KT_CHECK(vm >= 0);
	int sz = KT_IOCTL(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	for (int k = 0; k < 2; k++) {
		vcpu[k] = KT_IOCTL(vm, KVM_CREATE_VCPU, k);
		KT_CHECK(vcpu[k] >= 0);
		run[k] = kt_mmap((size_t)sz, vcpu[k]);
		KT_CHECK(run[k] != MAP_FAILED);
	}
	if (kt_failures)
		return kt_done("test_memslot_race");
	pthread_create(&th[0], NULL, runner, NULL);
	pthread_create(&th[1], NULL, translator, NULL);

	double t_start = 0, t_remove = 0, t_end = 0;
	for (int r = 1; r <= rounds && !kt_failures && (!part || !strcmp(part, "unmap")); r++) {
		double ta = now_ms();
		uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		KT_CHECK(mem != MAP_FAILED);
		build_guest(mem);
		struct kvm_userspace_memory_region reg = {.slot = 0,
							  .guest_phys_addr = 0,
							  .memory_size = MEM_SIZE,
							  .userspace_addr = (uintptr_t)mem};
		KT_EQ(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &reg), 0);
		unsigned long e0 = atomic_load(&exits), t0 = atomic_load(&translations);
		atomic_store(&round_no, r);
		bool ok = wait_for(&exits, e0 + 1) && wait_for(&translations, t0 + 1);
		KT_CHECK(ok);
		if (!ok)
			break;
		double t1 = now_ms();
		/* odd rounds delete the slot, even rounds move it away */
		if (r & 1)
			reg.memory_size = 0;
		else
			reg.guest_phys_addr = MOVED_GPA;
		atomic_store(&removing, r);
		KT_EQ(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &reg), 0);
		double t2 = now_ms();
		/* from here on the memory must be left alone: make every access fault
		 * (and keep the range reserved so no later mapping lands there) */
		KT_CHECK(mmap(mem, MEM_SIZE, PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
			      0) == mem);
		atomic_store(&removed, r);
		wait_done(&runner_done, r);
		wait_done(&translator_done, r);
		t_start += t1 - ta;
		t_remove += t2 - t1;
		t_end += now_ms() - t2;
		if (!(r & 1)) {
			reg.memory_size = 0;
			KT_EQ(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &reg), 0);
		}
	}
	atomic_store(&round_no, -1);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	if (!part || !strcmp(part, "ipi"))
		ipi_part(rounds / 4 + 1);
	KT_EQ(atomic_load(&bad_exits), 0);
	KT_EQ(atomic_load(&bad_translations), 0);
	printf("test_memslot_race: %d rounds, %lu MMIO exits, %lu translations; per round "
	       "%.3f ms to start, %.3f ms in the removing ioctl, %.3f ms to stop\n",
	       rounds, atomic_load(&exits), atomic_load(&translations), t_start / rounds,
	       t_remove / rounds, t_end / rounds);
	return kt_done("test_memslot_race");
}
