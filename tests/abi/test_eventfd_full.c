/* SPDX-License-Identifier: MIT */
/*
 * KVM signals an ioeventfd with eventfd_signal(), which never blocks: a
 * counter already at its maximum stays there (the event is pending
 * anyway). Here the VMM's eventfd is blocking and full; a guest write to
 * its port must not stop the vCPU thread in write(2) for good.
 * argv: none (the guest is a three-instruction loop written here).
 */
#include <signal.h>
#include <sys/eventfd.h>

#include "kvmtest.h"

static void on_alarm(int sig)
{
	static const char msg[] = "test_eventfd_full: hang: KVM_RUN blocked on a full eventfd\n";
	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(2);
}

int main(void)
{
	static const uint8_t code[] = {
	    0xe6, 0x60, /* out 0x60, al: the ioeventfd */
	    0xe6, 0x10, /* out 0x10, al: to the VMM */
	    0xeb, 0xfa, /* jmp back */
	};
	struct kt_vm t;
	uint64_t v;

	KT_EQ(kt_vm_create(&t, 0x10000), 0);
	memcpy(t.mem + 0x1000, code, sizeof(code));
	kt_real_mode(&t, 0x1000);
	int efd = eventfd(0, EFD_CLOEXEC); /* blocking */
	KT_CHECK(efd >= 0);
	v = 0xfffffffffffffffeull; /* the largest count write(2) accepts */
	KT_EQ(write(efd, &v, 8), 8);
	struct kvm_ioeventfd io = {
	    .addr = 0x60, .len = 1, .fd = efd, .flags = KVM_IOEVENTFD_FLAG_PIO};
	KT_EQ(KT_IOCTL(t.vm, KVM_IOEVENTFD, &io), 0);

	signal(SIGALRM, on_alarm);
	alarm(10);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_IO);
	KT_EQ(t.run->io.port, 0x10);
	alarm(0);
	/* still full: nothing was added, nothing lost */
	KT_EQ(read(efd, &v, 8), 8);
	KT_EQ(v, 0xfffffffffffffffeull);
	/* with room again, the next write signals it */
	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->io.port, 0x10);
	KT_EQ(read(efd, &v, 8), 8);
	KT_EQ(v, 1);

	close(efd);
	kt_vm_destroy(&t);
	return kt_done("test_eventfd_full");
}
