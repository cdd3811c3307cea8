/* SPDX-License-Identifier: MIT */
/*
 * LOCK-prefixed instructions are atomic between vCPUs: two vCPUs on one
 * cpu_mem, each on its own host thread, run the same loop of LOCK ADD, LOCK
 * XADD, a LOCK CMPXCHG retry loop, a LOCK BTS/BTR spinlock around a plain
 * increment, an XCHG spinlock, LOCK INC/DEC, and a CMPXCHG16B retry loop on a
 * 128-bit counter. Every final count must be exact.
 */
#include <pthread.h>
#include <string.h>

#include "harness.h"
#include "unit.h"

#define CODE_GPA 0x100000
#define DATA_GPA 0x200000
#define ITERS	 500000

/* guest code: r8 = data, r9 = iterations; ends with HLT */
__asm__(".pushsection .rodata\n"
	".globl smp_guest, smp_guest_end\n"
	"smp_guest:\n"
	"1:	lock addq $1, (%r8)\n"
	"	movl $1, %eax\n"
	"	lock xaddq %rax, 8(%r8)\n"
	"	movq 16(%r8), %rax\n"
	"2:	leaq 1(%rax), %rdx\n"
	"	lock cmpxchgq %rdx, 16(%r8)\n"
	"	jnz 2b\n"
	"3:	lock btsq $0, 24(%r8)\n"
	"	jc 3b\n"
	"	incq 32(%r8)\n"
	"	lock btrq $0, 24(%r8)\n"
	"	movl $1, %ecx\n"
	"4:	xchgl %ecx, 40(%r8)\n" /* implicitly locked */
	"	testl %ecx, %ecx\n"
	"	jnz 4b\n"
	"	addq $3, 48(%r8)\n"
	"	movl $0, 40(%r8)\n"
	"	lock incl 56(%r8)\n"
	"	lock decw 60(%r8)\n"
	"	lock subb $1, 62(%r8)\n"
	"	movq 64(%r8), %rax\n"
	"	movq 72(%r8), %rdx\n"
	"5:	movq %rax, %rbx\n"
	"	movq %rdx, %rcx\n"
	"	addq $0x40000000, %rbx\n" /* carries into the high half now and then */
	"	adcq $0, %rcx\n"
	"	lock cmpxchg16b 64(%r8)\n"
	"	jnz 5b\n"
	"	decq %r9\n"
	"	jnz 1b\n"
	"	hlt\n"
	"smp_guest_end:\n"
	".popsection\n");
extern const uint8_t smp_guest[], smp_guest_end[];

struct vcpu_thread {
	struct cpu *cpu;
	pthread_barrier_t *start;
	enum cpu_exit exit;
};

static void *run_vcpu(void *arg)
{
	struct vcpu_thread *t = arg;
	pthread_barrier_wait(t->start);
	t->exit = cpu_run(t->cpu);
	return NULL;
}

static int ops_none(void *o, uint16_t port, void *data, unsigned len)
{
	(void)o, (void)port, (void)data, (void)len;
	return CPU_OPS_OK;
}

static int ops_none_out(void *o, uint16_t port, const void *data, unsigned len)
{
	(void)o, (void)port, (void)data, (void)len;
	return CPU_OPS_OK;
}

static const struct cpu_ops second_ops = {
    .pio_in = ops_none,
    .pio_out = ops_none_out,
};

int main(void)
{
	struct hx *h = hx_create(64ull << 20);
	struct cpu *c1;
	struct cpu_regs r;
	struct cpu_sregs s;
	struct vcpu_thread t[2];
	pthread_t th[2];
	pthread_barrier_t start;
	uint64_t v[10];

	hx_load(h, CODE_GPA, smp_guest, (size_t)(smp_guest_end - smp_guest));
	memset(h->ram + DATA_GPA, 0, 4096);
	hx_setup_long64(h, CODE_GPA, 0x300000, false);
	c1 = cpu_create(h->mem, &second_ops, NULL);
	CHECK(c1 != NULL);
	if (!c1)
		return unit_done("test_atomic_smp");
	cpu_get_sregs(h->cpu, &s);
	cpu_set_sregs(c1, &s);
	cpu_get_regs(h->cpu, &r);
	r.gpr[REG_R8] = DATA_GPA;
	r.gpr[REG_R9] = ITERS;
	cpu_set_regs(h->cpu, &r);
	r.gpr[REG_RSP] = 0x380000;
	cpu_set_regs(c1, &r);

	pthread_barrier_init(&start, NULL, 2);
	t[0] = (struct vcpu_thread){.cpu = h->cpu, .start = &start};
	t[1] = (struct vcpu_thread){.cpu = c1, .start = &start};
	for (int k = 0; k < 2; k++)
		pthread_create(&th[k], NULL, run_vcpu, &t[k]);
	for (int k = 0; k < 2; k++)
		pthread_join(th[k], NULL);
	pthread_barrier_destroy(&start);

	CHECK_EQ(t[0].exit, CPU_EXIT_HLT);
	CHECK_EQ(t[1].exit, CPU_EXIT_HLT);
	memcpy(v, h->ram + DATA_GPA, sizeof(v));
	CHECK_EQ(v[0], 2 * ITERS);		/* LOCK ADD */
	CHECK_EQ(v[1], 2 * ITERS);		/* LOCK XADD */
	CHECK_EQ(v[2], 2 * ITERS);		/* LOCK CMPXCHG loop */
	CHECK_EQ(v[3], 0);			/* the BTS lock is free */
	CHECK_EQ(v[4], 2 * ITERS);		/* increments under the BTS lock */
	CHECK_EQ(v[5] & 0xffffffff, 0);		/* the XCHG lock is free */
	CHECK_EQ(v[6], 3 * 2 * ITERS);		/* additions under the XCHG lock */
	CHECK_EQ(v[7] & 0xffffffff, 2 * ITERS); /* LOCK INC dword */
	CHECK_EQ((v[7] >> 32) & 0xffff, (uint16_t)(0 - 2 * ITERS)); /* LOCK DEC word */
	CHECK_EQ((v[7] >> 48) & 0xff, (uint8_t)(0 - 2 * ITERS));    /* LOCK SUB byte */
	{
		unsigned __int128 want = (unsigned __int128)0x40000000 * (2 * ITERS), got;
		got = ((unsigned __int128)v[9] << 64) | v[8];
		CHECK(got == want); /* CMPXCHG16B loop */
	}
	cpu_destroy(c1);
	hx_destroy(h);
	return unit_done("test_atomic_smp");
}
