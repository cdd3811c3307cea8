/* SPDX-License-Identifier: MIT */
/*
 * Timer interrupts reach a guest that spins: the in-kernel LAPIC timer runs
 * periodically at its fastest rate (200 us) while the guest loops in code
 * that never exits on its own (jmp-to-self, DEC/JNZ in one page, PAUSE, a
 * REPE CMPSB restarted for ever; guest_tick.asm). Each phase ends after 1000
 * ticks. A watcher thread fails the test if the tick count stands still for
 * 3 s (the host stalled the guest's interrupts: the service thread went to
 * sleep while the vCPU was inside the processor, or the processor did not
 * look at its events). Ticks must also land inside the REP (SDM vol. 1,
 * 7.3.9.1 / vol. 2B REP: interrupts are taken between iterations).
 * argv[1]: the guest binary (guest_tick.asm).
 */
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "kvmtest.h"

#define COUNT_GPA 0x1ff0

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static volatile int phase;
static volatile bool finished;

static void *watch(void *arg)
{
	volatile uint32_t *count = (volatile uint32_t *)((uint8_t *)arg + COUNT_GPA);
	uint32_t last = *count;
	uint64_t since = now_ns();
	struct timespec ts = {0, 20000000};

	while (!finished) {
		nanosleep(&ts, NULL);
		uint32_t c = *count;
		uint64_t n = now_ns();
		if (c != last) {
			last = c;
			since = n;
		} else if (phase > 0 && n - since > 3000000000ull) {
			printf("FAIL: no timer interrupt for 3 s in phase %d (%u ticks so far)\n",
			       phase, c);
			fflush(stdout);
			_exit(1);
		}
	}
	return NULL;
}

/* Run to the next OUT; returns its port, the value in *v */
static int next_out(struct kt_vm *t, uint32_t *v)
{
	int r;
	do
		r = KT_IOCTL(t->vcpu, KVM_RUN, 0);
	while (r == -1 && errno == EINTR);
	if (r != 0 || t->run->exit_reason != KVM_EXIT_IO)
		return -1;
	*v = 0;
	memcpy(v, (uint8_t *)t->run + t->run->io.data_offset, t->run->io.size);
	return t->run->io.port;
}

static void create_irqchip(struct kt_vm *t)
{
	KT_EQ(KT_IOCTL(t->vm, KVM_CREATE_IRQCHIP, 0), 0);
}

int main(int argc, char **argv)
{
	static const char *const names[] = {"", "jmp-to-self", "dec/jnz", "pause", "repe cmpsb"};
	struct kt_vm t;
	pthread_t th;
	uint32_t v;

	if (argc < 2) {
		fprintf(stderr, "usage: %s guest_tick.bin\n", argv[0]);
		return 2;
	}
	KT_EQ(kt_vm_create_setup(&t, 1 << 20, create_irqchip), 0);
	if (!kt_load_guest(&t, argv[1]))
		return kt_done("test_tick");
	kt_flat32(t.vcpu, 0x1000, 0x8000);
	pthread_create(&th, NULL, watch, t.mem);

	KT_EQ(next_out(&t, &v), 0x10);
	KT_EQ(v, 1u);
	for (int p = 1; p <= 4; p++) {
		uint64_t t0 = now_ns();
		phase = p;
		int port = next_out(&t, &v);
		phase = 0;
		uint64_t ms = (now_ns() - t0) / 1000000;
		printf("%-12s 1000 ticks in %lu ms\n", names[p], (unsigned long)ms);
		if (p < 4) {
			KT_EQ(port, 0x10);
			KT_EQ(v, (uint32_t)p + 1);
		} else {
			KT_EQ(port, 0x11);
			printf("ticks inside the REP: %u\n", v);
			KT_CHECK(v > 0);
		}
	}
	finished = true;
	pthread_join(th, NULL);
	kt_vm_destroy(&t);
	return kt_done("test_tick");
}
