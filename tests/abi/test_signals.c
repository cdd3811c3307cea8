/* SPDX-License-Identifier: MIT */
/*
 * KVM_RUN and signals, as Linux 6.1 (api.rst 4.21 KVM_SET_SIGNAL_MASK and
 * "kvm_run.immediate_exit"; kvm_sigset_activate()):
 * - a signal sent to the vCPU thread with pthread_kill() ends KVM_RUN with
 *   -1/EINTR and exit_reason KVM_EXIT_INTR; through `softkvm exec` within a
 *   millisecond;
 * - KVM_SET_SIGNAL_MASK replaces the thread's mask while KVM_RUN runs: a
 *   signal the thread blocks but the run mask does not ends KVM_RUN and stays
 *   pending afterwards (the dirty_log_test kick); a signal the run mask
 *   blocks does not end KVM_RUN and is delivered once it returns;
 * - KVM_SET_SIGNAL_MASK(NULL) goes back to the thread's own mask;
 * - immediate_exit: -1/EINTR at once, exit_reason as it was, the guest does
 *   not run;
 * - the same (signal latency, immediate_exit) with the guest in a DEC/JNZ
 *   loop and in a REPE CMPSB restarted for ever, besides jmp-to-self;
 * - through `softkvm exec`: an asynchronous pthread_cancel() of a thread in
 *   KVM_RUN cancels it (result PTHREAD_CANCELED) without leaving the vCPU
 *   locked (xapic_ipi_test ends this way).
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>

#include "kvmtest.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static volatile sig_atomic_t usr1_seen, usr2_seen;
static volatile uint64_t usr1_when;
static void on_usr1(int s)
{
	(void)s;
	usr1_seen = 1;
	usr1_when = now_ns();
}
static void on_usr2(int s)
{
	(void)s;
	usr2_seen = 1;
}

struct kick {
	pthread_t target;
	int sig;
	unsigned delay_ms;
	uint64_t sent_ns;
	int done; /* set by the target once its KVM_RUN returned */
};

/* Send sig after delay_ms; again every 200 ms until the target says its
 * KVM_RUN returned: on a loaded machine the target may reach KVM_RUN only
 * after the first signal, which then (handled, not pending) ends nothing.
 * sent_ns is the last one's time. */
static void *kick_later(void *arg)
{
	struct kick *k = arg;
	struct timespec ts = {k->delay_ms / 1000, (long)(k->delay_ms % 1000) * 1000000};
	struct timespec poll = {0, 1000000};
	nanosleep(&ts, NULL);
	do {
		k->sent_ns = now_ns();
		pthread_kill(k->target, k->sig);
		for (int n = 0; n < 200 && !__atomic_load_n(&k->done, __ATOMIC_ACQUIRE); n++)
			nanosleep(&poll, NULL);
	} while (!__atomic_load_n(&k->done, __ATOMIC_ACQUIRE));
	return NULL;
}

static void kick_done(struct kick *k)
{
	__atomic_store_n(&k->done, 1, __ATOMIC_RELEASE);
}

/* a guest that spins at 0x1000 (real mode, jmp $) */
static void spin_guest(struct kt_vm *t)
{
	static const uint8_t spin[] = {0xeb, 0xfe};
	memcpy(t->mem + 0x1000, spin, sizeof(spin));
	kt_real_mode(t, 0x1000);
}

/* other loops that never exit: DEC ECX/JNZ (a fused compare-and-branch chained
 * to itself) and REPE CMPSB over 64 KiB restarted for ever */
static void loop_guest(struct kt_vm *t, int kind)
{
	static const uint8_t decjnz[] = {0x66, 0x49, 0x75, 0xfc, 0xeb, 0xfa};
	static const uint8_t rep[] = {0xb9, 0xff, 0xff, 0x31, 0xf6, 0x31,
				      0xff, 0xf3, 0xa6, 0xeb, 0xf5};
	if (kind == 0)
		memcpy(t->mem + 0x1000, decjnz, sizeof(decjnz));
	else
		memcpy(t->mem + 0x1000, rep, sizeof(rep));
	kt_real_mode(t, 0x1000);
}

/* the run mask in the kernel's layout: 64 bits, signal n is bit n-1 */
static int set_run_mask(int vcpu, const int *blocked, int n)
{
	/* struct kvm_signal_mask is 4 bytes: the set follows unaligned */
	uint8_t buf[sizeof(struct kvm_signal_mask) + 8];
	struct kvm_signal_mask *sm = (struct kvm_signal_mask *)buf;
	uint64_t bits = 0;
	for (int k = 0; k < n; k++)
		bits |= 1ull << (blocked[k] - 1);
	sm->len = 8;
	memcpy(sm->sigset, &bits, 8);
	return KT_IOCTL(vcpu, KVM_SET_SIGNAL_MASK, sm);
}

static bool pending(int sig)
{
	sigset_t p;
	sigpending(&p);
	return sigismember(&p, sig) == 1;
}

/* The best of five (up to 25 rounds while above a millisecond), so a
 * loaded machine's scheduling does not decide. */
static void test_kick_latency(struct kt_vm *t)
{
	uint64_t best = ~0ull;

	for (int k = 0; k < 25 && (k < 5 || best >= 1000000ull); k++) {
		struct kick kk = {pthread_self(), SIGUSR1, 20, 0, 0};
		pthread_t th;

		usr1_seen = 0;
		pthread_create(&th, NULL, kick_later, &kk);
		errno = 0;
		int r = KT_IOCTL(t->vcpu, KVM_RUN, 0);
		uint64_t back = now_ns();
		kick_done(&kk);
		pthread_join(th, NULL);
		KT_EQ(r, -1);
		KT_EQ(errno, EINTR);
		KT_EQ(t->run->exit_reason, KVM_EXIT_INTR);
		/* the handler runs as KVM_RUN returns */
		KT_CHECK(usr1_seen);
		if (back - kk.sent_ns < best)
			best = back - kk.sent_ns;
	}
	printf("pthread_kill to KVM_RUN returning: %.1f us (best round)\n", (double)best / 1e3);
#ifdef SOFTKVM_INPROC
	/* in-process there is no pthread_kill interposition: the 1 ms poll
	 * sees the signal; allow for a loaded machine */
	KT_CHECK(best < 500000000ull); /* bounded (0.5 s: a loaded host) */
#else
	KT_CHECK(best < 1000000ull);
#endif
}

/* The dirty_log_test kick: blocked in the thread, open in the run mask. */
static void test_kick_stays_pending(struct kt_vm *t)
{
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	KT_EQ(set_run_mask(t->vcpu, NULL, 0), 0);

	struct kick k = {pthread_self(), SIGUSR1, 20, 0, 0};
	pthread_t th;
	usr1_seen = 0;
	pthread_create(&th, NULL, kick_later, &k);
	errno = 0;
	int r = KT_IOCTL(t->vcpu, KVM_RUN, 0);
	uint64_t back = now_ns();
	kick_done(&k);
	pthread_join(th, NULL);
	KT_EQ(r, -1);
	KT_EQ(errno, EINTR);
	KT_EQ(t->run->exit_reason, KVM_EXIT_INTR);
	KT_CHECK(back - k.sent_ns < 500000000ull); /* bounded (0.5 s: a loaded host) */
	/* not delivered: the thread's mask is back and the signal waits */
	KT_CHECK(!usr1_seen);
	KT_CHECK(pending(SIGUSR1));
	struct timespec zero = {0, 0};
	KT_EQ(sigtimedwait(&block, NULL, &zero), SIGUSR1);
	KT_CHECK(!pending(SIGUSR1));

	/* a second KVM_RUN is not disturbed by the consumed signal: kick again */
	k.done = 0;
	pthread_create(&th, NULL, kick_later, &k);
	errno = 0;
	r = KT_IOCTL(t->vcpu, KVM_RUN, 0);
	kick_done(&k);
	pthread_join(th, NULL);
	KT_EQ(r, -1);
	KT_EQ(errno, EINTR);
	KT_EQ(sigtimedwait(&block, NULL, &zero), SIGUSR1);

	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_SIGNAL_MASK, NULL), 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A signal the run mask blocks does not end KVM_RUN; it is delivered after. */
static void test_run_mask_blocks(struct kt_vm *t)
{
	int blocked[] = {SIGUSR1};
	KT_EQ(set_run_mask(t->vcpu, blocked, 1), 0);

	struct kick k1 = {pthread_self(), SIGUSR1, 10, 0, 0};
	struct kick k2 = {pthread_self(), SIGUSR2, 150, 0, 0};
	pthread_t th1, th2;
	usr1_seen = usr2_seen = 0;
	pthread_create(&th1, NULL, kick_later, &k1);
	pthread_create(&th2, NULL, kick_later, &k2);
	uint64_t t0 = now_ns();
	errno = 0;
	int r = KT_IOCTL(t->vcpu, KVM_RUN, 0);
	uint64_t back = now_ns();
	kick_done(&k1);
	kick_done(&k2);
	pthread_join(th1, NULL);
	pthread_join(th2, NULL);
	KT_EQ(r, -1);
	KT_EQ(errno, EINTR);
	KT_EQ(t->run->exit_reason, KVM_EXIT_INTR);
	/* SIGUSR2 ended it, not SIGUSR1 */
	KT_CHECK(back - t0 >= 140000000ull);
	KT_CHECK(usr2_seen);
	/* SIGUSR1 was pending during KVM_RUN and is delivered once it returns */
	KT_CHECK(usr1_seen);
	KT_CHECK(usr1_when >= back - 1000000ull);

	/* KVM_SET_SIGNAL_MASK(NULL): the thread's mask again, SIGUSR1 ends KVM_RUN */
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_SIGNAL_MASK, NULL), 0);
	usr1_seen = 0;
	k1.delay_ms = 20;
	k1.done = 0;
	pthread_create(&th1, NULL, kick_later, &k1);
	t0 = now_ns();
	errno = 0;
	r = KT_IOCTL(t->vcpu, KVM_RUN, 0);
	back = now_ns();
	kick_done(&k1);
	pthread_join(th1, NULL);
	KT_EQ(r, -1);
	KT_EQ(errno, EINTR);
	KT_CHECK(usr1_seen);
	KT_CHECK(back - t0 < 2000000000ull); /* SIGUSR1 ended it (nothing else would) */
}

static void test_immediate_exit(struct kt_vm *t)
{
	struct kvm_regs before, after;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_REGS, &before), 0);
	t->run->exit_reason = KVM_EXIT_HLT; /* whatever was there stays */
	t->run->immediate_exit = 1;
	errno = 0;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), -1);
	KT_EQ(errno, EINTR);
	KT_EQ(t->run->exit_reason, KVM_EXIT_HLT);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_REGS, &after), 0);
	KT_EQ(after.rip, before.rip);
	t->run->immediate_exit = 0;
}

struct runner {
	struct kt_vm *t;
	int r, err;
	uint32_t exit_reason;
};

static void *run_thread(void *arg)
{
	struct runner *x = arg;
	errno = 0;
	x->r = KT_IOCTL(x->t->vcpu, KVM_RUN, 0);
	x->err = errno;
	x->exit_reason = x->t->run->exit_reason;
	return NULL;
}

/* KVM_RUN in one thread, the kick and other vCPU ioctls from another */
static void test_other_thread_runs(struct kt_vm *t)
{
	/* inc byte [0x2000]; jmp back: the counter shows that KVM_RUN runs
	 * before the kick and the GET_REGS that must wait for it */
	static const uint8_t count[] = {0xfe, 0x06, 0x00, 0x20, 0xeb, 0xfa};
	memcpy(t->mem + 0x1100, count, sizeof(count));
	t->mem[0x2000] = 0;
	struct kvm_regs r;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_REGS, &r), 0);
	r.rip = 0x1100;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_REGS, &r), 0);
	struct runner x = {t, 0, 0, 0};
	pthread_t th, kt;
	pthread_create(&th, NULL, run_thread, &x);
	struct timespec ts = {0, 1000000};
	bool moved = false; /* (a byte counter: it wraps, so look once) */
	for (int k = 0; k < 10000 && !moved; k++) {
		moved = __atomic_load_n(t->mem + 0x2000, __ATOMIC_RELAXED) != 0;
		if (!moved)
			nanosleep(&ts, NULL);
	}
	KT_CHECK(moved);
	struct kick k = {th, SIGUSR1, 20, 0, 0};
	pthread_create(&kt, NULL, kick_later, &k);
	/* a vCPU ioctl waits for KVM_RUN to end (vcpu->mutex), then works */
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_REGS, &r), 0);
	uint64_t back = now_ns();
	kick_done(&k);
	pthread_join(kt, NULL);
	uint64_t sent = k.sent_ns;
	pthread_join(th, NULL);
	KT_EQ(x.r, -1);
	KT_EQ(x.err, EINTR);
	KT_EQ(x.exit_reason, KVM_EXIT_INTR);
	KT_CHECK(back - sent < 500000000ull); /* bounded (0.5 s: a loaded host) */
	KT_CHECK(r.rip == 0x1100 || r.rip == 0x1104);
	spin_guest(t);
}

/* Closing the descriptors while another thread is in KVM_RUN: the ioctl keeps
 * the vCPU and VM alive until it returns, as the kernel's file reference does. */
static void test_close_while_running(void)
{
	struct kt_vm t;
	/* inc byte [0x2000]; jmp back: the counter shows the guest runs, so the
	 * runner is inside KVM_RUN before the close (a fixed sleep was not
	 * enough on a loaded host: KVM_RUN then began after the close, EBADF) */
	static const uint8_t count[] = {0xfe, 0x06, 0x00, 0x20, 0xeb, 0xfa};
	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	memcpy(t.mem + 0x1000, count, sizeof(count));
	kt_real_mode(&t, 0x1000);
	struct runner x = {&t, 0, 0, 0};
	pthread_t th;
	pthread_create(&th, NULL, run_thread, &x);
	struct timespec ts = {0, 20000000};
	bool moved = false; /* (a byte counter: it wraps, so look once) */
	for (int k = 0; k < 500 && !moved; k++) {
		moved = __atomic_load_n(t.mem + 0x2000, __ATOMIC_RELAXED) != 0;
		if (!moved)
			nanosleep(&ts, NULL);
	}
	KT_CHECK(moved);
	KT_EQ(kt_close(t.vcpu), 0);
	KT_EQ(kt_close(t.vm), 0);
	KT_EQ(kt_close(t.kvm), 0);
	nanosleep(&ts, NULL);
	pthread_kill(th, SIGUSR1);
	pthread_join(th, NULL);
	KT_EQ(x.r, -1);
	KT_EQ(x.err, EINTR);
	KT_EQ(x.exit_reason, KVM_EXIT_INTR);
	munmap(t.mem, t.mem_size);
}

#ifndef SOFTKVM_INPROC
static void *cancel_target(void *arg)
{
	struct kt_vm *t = arg;
	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
	for (;;)
		KT_IOCTL(t->vcpu, KVM_RUN, 0);
	return NULL;
}

static void test_async_cancel(struct kt_vm *t)
{
	pthread_t th;
	void *ret = NULL;
	struct timespec ts = {0, 20000000};

	pthread_create(&th, NULL, cancel_target, t);
	nanosleep(&ts, NULL);
	KT_EQ(pthread_cancel(th), 0);
	KT_EQ(pthread_join(th, &ret), 0);
	KT_CHECK(ret == PTHREAD_CANCELED);
	/* nothing stayed locked: the vCPU answers and runs from this thread */
	struct kvm_regs r;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_REGS, &r), 0);
	KT_EQ(r.rip, 0x1000);
	t->run->immediate_exit = 1;
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_RUN, 0), EINTR);
	t->run->immediate_exit = 0;
}
#endif

int main(void)
{
	struct kt_vm t;
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);

	KT_EQ(kt_vm_create(&t, 1 << 20), 0);
	spin_guest(&t);
	test_immediate_exit(&t);
	test_kick_latency(&t);
	test_kick_stays_pending(&t);
	test_run_mask_blocks(&t);
	test_other_thread_runs(&t);
	for (int kind = 0; kind < 2; kind++) {
		loop_guest(&t, kind);
		test_immediate_exit(&t);
		test_kick_latency(&t);
	}
	spin_guest(&t);
#ifndef SOFTKVM_INPROC
	test_async_cancel(&t);
#endif
	kt_vm_destroy(&t);
	test_close_while_running();
	return kt_done("test_signals");
}
