/* SPDX-License-Identifier: MIT */
/*
 * Events raised by another thread are never lost: one thread runs a vCPU
 * that spins with interrupts on, the main thread raises its interrupt line
 * and, a varying moment later, sends an NMI, and waits until both handlers
 * counted, many times. handle_events() once cleared the event bits after
 * finding no work, so an NMI (or an interrupt line) raised between that check
 * and the clearing stayed pending with no event bit: the vCPU never took it
 * (in a KVM guest idling in sti; hlt: a halt that never ends). Also: two
 * NMIs sent before the vCPU runs are both taken, as Linux's process_nmi
 * latches one behind the one in service.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "unit.h"

#define CODE_GPA   0x100000
#define DATA_GPA   0x200000 /* +0: NMIs taken, +8: interrupts taken */
#define IRQ_VECTOR 0x40
#define ROUNDS	   200000

/* spin with IF = 1; the handlers count with locked increments */
__asm__(".pushsection .rodata\n"
	".globl race_guest, race_nmi, race_irq, race_guest_end\n"
	"race_guest:\n"
	"1:	sti\n"
	"	pause\n"
	"	jmp 1b\n"
	"race_nmi:\n"
	"	lock incq 0x200000\n"
	"	iretq\n"
	"race_irq:\n"
	"	lock incq 0x200008\n"
	"	iretq\n"
	"race_guest_end:\n"
	".popsection\n");
extern const uint8_t race_guest[], race_nmi[], race_irq[], race_guest_end[];

static struct cpu *vcpu;
static atomic_bool stop;

/* the interrupt controller: one vector, acknowledged by lowering the line */
static int intr_ack(void *o)
{
	(void)o;
	cpu_set_irq_pending(vcpu, false);
	return IRQ_VECTOR;
}

static const struct cpu_ops ops = {
    .intr_ack = intr_ack,
};

static void *run_vcpu(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		enum cpu_exit e = cpu_run(vcpu);
		if (e == CPU_EXIT_REQUEST)
			cpu_clear_kick(vcpu);
		else
			break;
	}
	return NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t count(struct hx *h, unsigned off)
{
	return __atomic_load_n((uint64_t *)(h->ram + DATA_GPA + off), __ATOMIC_SEQ_CST);
}

/* a 64-bit interrupt gate at vector v to gpa */
static void gate(struct hx *h, unsigned v, uint64_t gpa)
{
	uint8_t g[16] = {0};
	g[0] = gpa & 0xff;
	g[1] = (gpa >> 8) & 0xff;
	g[2] = HX_SEL_CODE64;
	g[5] = 0x8e;
	g[6] = (gpa >> 16) & 0xff;
	g[7] = (gpa >> 24) & 0xff;
	hx_load(h, h->idt + 16 * v, g, sizeof(g));
}

int main(void)
{
	struct hx *h = hx_create(64ull << 20);
	struct cpu_regs r;
	struct cpu_sregs s;

	hx_load(h, CODE_GPA, race_guest, (size_t)(race_guest_end - race_guest));
	memset(h->ram + DATA_GPA, 0, 4096);
	hx_setup_long64(h, CODE_GPA, 0x300000, false);
	gate(h, 2, CODE_GPA + (uint64_t)(race_nmi - race_guest));
	gate(h, IRQ_VECTOR, CODE_GPA + (uint64_t)(race_irq - race_guest));
	vcpu = cpu_create(h->mem, &ops, NULL);
	CHECK(vcpu != NULL);
	if (!vcpu)
		return unit_done("test_nmi_race");
	cpu_get_sregs(h->cpu, &s);
	cpu_set_sregs(vcpu, &s);
	cpu_get_regs(h->cpu, &r);
	cpu_set_regs(vcpu, &r);

	/* two NMIs before the vCPU runs: both are taken (one now, one after IRET) */
	cpu_inject_nmi(vcpu);
	cpu_inject_nmi(vcpu);
	cpu_set_budget(vcpu, 1000);
	CHECK_EQ(cpu_run(vcpu), CPU_EXIT_BUDGET);
	CHECK_EQ(count(h, 0), 2);
	/* three: still two */
	for (int k = 0; k < 3; k++)
		cpu_inject_nmi(vcpu);
	cpu_set_budget(vcpu, 1000);
	CHECK_EQ(cpu_run(vcpu), CPU_EXIT_BUDGET);
	CHECK_EQ(count(h, 0), 4);
	cpu_set_budget(vcpu, 0);

	pthread_t th;
	pthread_create(&th, NULL, run_vcpu, NULL);
	uint32_t seed = 1;
	unsigned rounds = 0, lost = 0;
	uint64_t end =
	    now_ns() + (getenv("RACE_NS") ? strtoull(getenv("RACE_NS"), 0, 10) : 1500000000ull);
	while (rounds < ROUNDS && now_ns() < end) {
		uint64_t n0 = count(h, 0), i0 = count(h, 8);
		cpu_set_irq_pending(vcpu, true);
		seed = seed * 1103515245u + 12345u;
		for (volatile unsigned d = (seed >> 16) % 200; d; d--)
			;
		cpu_inject_nmi(vcpu);
		uint64_t t0 = now_ns();
		uint64_t t1;
		while ((count(h, 0) == n0 || count(h, 8) == i0) &&
		       (t1 = now_ns()) - t0 < 500000000ull)
			if (t1 - t0 > 20000)
				sched_yield(); /* spin briefly, then leave the CPU to the vCPU
						  thread */
		if (count(h, 0) == n0 || count(h, 8) == i0) {
			fprintf(stderr, "round %u: NMIs %lu -> %lu, interrupts %lu -> %lu\n",
				rounds, (unsigned long)n0, (unsigned long)count(h, 0),
				(unsigned long)i0, (unsigned long)count(h, 8));
			lost++;
			break;
		}
		rounds++;
	}
	printf("interrupt line + NMI from another thread: %u rounds, %u lost\n", rounds, lost);
	CHECK_EQ(lost, 0);
	CHECK(rounds >= 100);
	atomic_store(&stop, true);
	cpu_kick(vcpu);
	pthread_join(th, NULL);
	cpu_destroy(vcpu);
	hx_destroy(h);
	return unit_done("test_nmi_race");
}
