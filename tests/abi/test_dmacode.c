/* SPDX-License-Identifier: MIT */
/*
 * Code written into guest RAM behind the processor's back (by another thread
 * of the VMM, as a device's DMA is) and announced by an interrupt must run
 * as written: the vCPU loops calling a function whose immediate the host
 * rewrites while KVM_RUN is in progress, then raises the interrupt through
 * KVM_IRQ_LINE, KVM_SIGNAL_MSI or an irqfd. Translations (decoded blocks,
 * JIT code) made before the write must not be used after the interrupt.
 * argv[1]: the guest binary (guest_dmacode.asm).
 */
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <time.h>

#include "kvmtest.h"

#define FN 0x3000

struct dma {
	struct kt_vm *t;
	int how; /* 0: KVM_IRQ_LINE, 1: KVM_SIGNAL_MSI, 2: irqfd */
	int efd;
	uint8_t value;
};

static void *dma_then_interrupt(void *arg)
{
	struct dma *d = arg;
	struct timespec ts = {0, 50 * 1000000};
	nanosleep(&ts, NULL); /* the guest's loop is translated and chained by now */
	d->t->mem[FN + 1] = d->value;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (d->how == 0) {
		struct kvm_irq_level l = {.irq = 5, .level = 1};
		KT_EQ(KT_IOCTL(d->t->vm, KVM_IRQ_LINE, &l), 0);
		l.level = 0;
		KT_EQ(KT_IOCTL(d->t->vm, KVM_IRQ_LINE, &l), 0);
	} else if (d->how == 1) {
		struct kvm_msi m = {.address_lo = 0xfee00000, .data = 0x40};
		KT_CHECK(KT_IOCTL(d->t->vm, KVM_SIGNAL_MSI, &m) >= 0);
	} else {
		uint64_t one = 1;
		KT_EQ(write(d->efd, &one, 8), 8);
	}
	return NULL;
}

static volatile sig_atomic_t timed_out;
static void on_usr1(int sig)
{
	(void)sig;
	timed_out = 1;
}

/* ends the vCPU thread's KVM_RUN with a signal after 5 s unless cancelled */
static void *watchdog(void *arg)
{
	struct timespec ts = {5, 0};
	nanosleep(&ts, NULL);
	pthread_kill(*(pthread_t *)arg, SIGUSR1);
	return NULL;
}

static void create_irqchip(struct kt_vm *t)
{
	KT_EQ(KT_IOCTL(t->vm, KVM_CREATE_IRQCHIP, 0), 0);
}

int main(int argc, char **argv)
{
	struct kt_vm t;
	if (argc < 2)
		return 2;
	KT_EQ(kt_vm_create_setup(&t, 1 << 20, create_irqchip), 0);
	if (!kt_load_guest(&t, argv[1]))
		return kt_done("test_dmacode");
	/* the function: mov eax, 1; ret */
	static const uint8_t fn[] = {0xb8, 1, 0, 0, 0, 0xc3};
	memcpy(t.mem + FN, fn, sizeof(fn));
	kt_flat32(t.vcpu, 0x1000, 0x8000);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_IO);
	KT_EQ(t.run->io.port, 0x10);

	int efd = eventfd(0, EFD_CLOEXEC);
	struct kvm_irqfd irqfd = {.fd = (uint32_t)efd, .gsi = 5};
	KT_EQ(KT_IOCTL(t.vm, KVM_IRQFD, &irqfd), 0);

	/* KVM_RUN ends after 5 s (SIGUSR1) if the guest never sees its new code */
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	pthread_t self = pthread_self();
	static const char *const names[3] = {"KVM_IRQ_LINE", "KVM_SIGNAL_MSI", "irqfd"};
	for (int how = 0; how < 3; how++) {
		struct dma d = {&t, how, efd, (uint8_t)(2 + how)};
		pthread_t th, wd;
		timed_out = 0;
		pthread_create(&wd, NULL, watchdog, &self);
		pthread_create(&th, NULL, dma_then_interrupt, &d);
		int r = KT_IOCTL(t.vcpu, KVM_RUN, 0);
		pthread_cancel(wd);
		pthread_join(wd, NULL);
		pthread_join(th, NULL);
		if (r != 0 || t.run->exit_reason != KVM_EXIT_IO || t.run->io.port != 0x11) {
			printf("%s: the guest did not see the code written before the interrupt "
			       "(KVM_RUN %d, exit %u%s)\n",
			       names[how], r, t.run->exit_reason, timed_out ? ", 5 s" : "");
			KT_CHECK(0);
			break;
		}
		KT_EQ(*((uint8_t *)t.run + t.run->io.data_offset), d.value);
		printf("%s: new code ran after the interrupt\n", names[how]);
	}
	close(efd);
	kt_vm_destroy(&t);
	return kt_done("test_dmacode");
}
