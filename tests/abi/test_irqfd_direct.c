/* SPDX-License-Identifier: MIT */
/*
 * IRQ offload (seed 003): softkvm_eventfd_signal() on an irqfd whose GSI
 * routes to an MSI delivers it from the calling thread. When the call
 * returns, the vector is already in the destination LAPIC's IRR (KVM_GET_LAPIC
 * shows it) and the eventfd was not written (its counter reads EAGAIN). To
 * tell this from the service thread's delivery, every thread softkvm started
 * for the VM (the service thread among them) is parked in a signal handler
 * meanwhile: only the calling thread can deliver. Then the fallbacks: an
 * eventfd that is no irqfd, and an irqfd deassigned, are written as
 * write(2) would.
 *
 * In process the signal is softkvm_eventfd_signal(); under softkvm exec it
 * is a plain write(2) of a 64-bit 1, which the preload library takes (as
 * QEMU's event_notifier_set() writes its irqfds).
 */
#include <dirent.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include "kvmtest.h"

#define GSI 30

static int signal_fd(int fd)
{
#ifdef SOFTKVM_INPROC
	return softkvm_eventfd_signal(fd);
#else
	uint64_t one = 1;
	return write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -1;
#endif
}

static void irqchip(struct kt_vm *t)
{
	KT_EQ(KT_IOCTL(t->vm, KVM_CREATE_IRQCHIP, 0), 0);
}

static void route(struct kt_vm *t, uint8_t vector)
{
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[1];
	} rt = {0};
	rt.r.nr = 1;
	rt.e[0].gsi = GSI;
	rt.e[0].type = KVM_IRQ_ROUTING_MSI;
	rt.e[0].u.msi.address_lo = 0xfee00000; /* physical destination 0 */
	rt.e[0].u.msi.data = vector;	       /* fixed, edge */
	KT_EQ(KT_IOCTL(t->vm, KVM_SET_GSI_ROUTING, &rt), 0);
}

static bool irr(struct kt_vm *t, uint8_t vector)
{
	struct kvm_lapic_state s;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_LAPIC, &s), 0);
	uint32_t w;
	memcpy(&w, s.regs + 0x200 + 16 * (vector / 32), 4);
	return w >> (vector % 32) & 1;
}

static bool counter_empty(int fd)
{
	uint64_t v;
	return read(fd, &v, sizeof(v)) < 0 && errno == EAGAIN;
}

/* the process's thread ids */
static int tids(pid_t *out, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)) && n < max)
		if (e->d_name[0] != '.')
			out[n++] = (pid_t)atoi(e->d_name);
	if (d)
		closedir(d);
	return n;
}

static int park_pipe[2];
static atomic_int parked;

static void park(int sig)
{
	char c;
	(void)sig;
	atomic_fetch_add(&parked, 1);
	while (read(park_pipe[0], &c, 1) < 0 && errno == EINTR) {
	}
}

int main(void)
{
	struct kt_vm t;
	struct kvm_lapic_state s;
	pid_t before[64], after[64], vm_threads[64];
	int nb = tids(before, 64), nvt = 0;

	KT_EQ(kt_vm_create_setup(&t, 1 << 20, irqchip), 0);
	/* software-enable the LAPIC (SPIV bit 8): a disabled one drops fixed interrupts */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_GET_LAPIC, &s), 0);
	s.regs[0xf0 + 1] |= 1;
	KT_EQ(KT_IOCTL(t.vcpu, KVM_SET_LAPIC, &s), 0);

	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct kvm_irqfd f = {.fd = (uint32_t)efd, .gsi = GSI};
	KT_EQ(KT_IOCTL(t.vm, KVM_IRQFD, &f), 0);
	/* park the VM's threads (the service thread) */
	KT_EQ(pipe(park_pipe), 0);
	signal(SIGUSR2, park);
	int na = tids(after, 64);
	for (int i = 0; i < na; i++) {
		bool old = false;
		for (int j = 0; j < nb; j++)
			old |= after[i] == before[j];
		if (!old && after[i] != (pid_t)syscall(SYS_gettid))
			vm_threads[nvt++] = after[i];
	}
	KT_CHECK(nvt >= 1); /* at least the service thread */
	for (int i = 0; i < nvt; i++)
		syscall(SYS_tgkill, getpid(), vm_threads[i], SIGUSR2);
	for (int spin = 0; atomic_load(&parked) < nvt && spin < 5000; spin++)
		usleep(1000);
	KT_EQ(atomic_load(&parked), nvt);
	int direct = 0, unwritten = 0;
	for (uint8_t v = 0x40; v < 0x40 + 20; v++) {
		route(&t, v);
		KT_CHECK(!irr(&t, v));
		KT_EQ(signal_fd(efd), 0);
		direct += irr(&t, v);
		unwritten += counter_empty(efd);
	}
	printf("delivered when the call returned: %d of 20; eventfd untouched: %d of 20\n", direct,
	       unwritten);
	KT_EQ(direct, 20);
	KT_EQ(unwritten, 20);
	for (int i = 0; i < nvt; i++)
		KT_EQ(write(park_pipe[1], "x", 1), 1);

	/* an eventfd that is no irqfd: written */
	int plain = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t v = 0;
	KT_EQ(signal_fd(plain), 0);
	KT_EQ(read(plain, &v, sizeof(v)), 8);
	KT_EQ(v, 1);
	close(plain);

	/* deassigned: written, and nothing delivered */
	f.flags = KVM_IRQFD_FLAG_DEASSIGN;
	KT_EQ(KT_IOCTL(t.vm, KVM_IRQFD, &f), 0);
	route(&t, 0x70);
	KT_EQ(signal_fd(efd), 0);
	KT_EQ(read(efd, &v, sizeof(v)), 8);
	KT_EQ(v, 1);
	KT_CHECK(!irr(&t, 0x70));
	close(efd);
	kt_vm_destroy(&t);
	return kt_done("test_irqfd_direct");
}
