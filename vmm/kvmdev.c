/* SPDX-License-Identifier: MIT */
/*
 * Opening /dev/kvm: the one place that chooses between in-process softkvm
 * and the host kernel's KVM. Both hand out descriptors that take the same
 * ioctls and mmap, so nothing else in the VMM knows which one it talks to.
 * softkvm is the default; the host's KVM only when asked for (--accel kvm,
 * or --accel auto and /dev/kvm opens): a /dev/kvm on the machine may be a
 * different hypervisor with other limits, and is never taken silently.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "softkvm/softkvm.h"
#include "kvmdev.h"

int kvmdev_open(struct kvmdev *d, enum kvmdev_accel accel)
{
	int fd;

	d->asked = accel;
	d->kvm_errno = 0;
	if (accel != KVMDEV_SOFT) {
		fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			d->soft = false;
			return fd;
		}
		if (accel == KVMDEV_KVM)
			return -errno;
		d->kvm_errno = errno;
	}
	fd = softkvm_open(O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d->soft = true;
	{
		const char *routed = getenv("SOFTKVM_IRQFD_ROUTED");
		d->irq_routed = routed && !strcmp(routed, "1");
	}
	return fd;
}

void kvmdev_signal_irqfd(const struct kvmdev *d, int fd)
{
	uint64_t one = 1;

	if (d->soft && !d->irq_routed) {
		if (softkvm_eventfd_signal(fd) < 0) {
			/* counter saturated: the interrupt is pending anyway */
		}
		return;
	}
	if (write(fd, &one, sizeof(one)) < 0) {
		/* counter saturated: the interrupt is pending anyway */
	}
}

int kvmdev_ioctl(const struct kvmdev *d, int fd, unsigned long req, void *arg)
{
	int r = d->soft ? softkvm_ioctl(fd, req, arg) : ioctl(fd, req, arg);

	return r < 0 ? -errno : r;
}

void *kvmdev_mmap_run(const struct kvmdev *d, int fd, size_t len)
{
	void *p;

	if (d->soft)
		p = softkvm_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	else
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

void kvmdev_close(const struct kvmdev *d, int fd)
{
	if (fd < 0)
		return;
	if (d->soft)
		softkvm_close(fd);
	else
		close(fd);
}

const char *kvmdev_name(const struct kvmdev *d)
{
	return d->soft ? "softkvm" : "kvm";
}

void kvmdev_describe(const struct kvmdev *d, char *buf, size_t len)
{
	/* the engine softkvm's processor uses (cpu/jit/jit.c reads the same variable) */
	const char *e = getenv("SOFTKVM_ENGINE");
	const char *engine = e && !strcmp(e, "interp") ? "interpreter" : "JIT";
	if (!d->soft)
		snprintf(buf, len, "kvm (the host's /dev/kvm, --accel %s)",
			 d->asked == KVMDEV_AUTO ? "auto" : "kvm");
	else if (d->asked == KVMDEV_AUTO)
		snprintf(buf, len,
			 "softkvm (software x86-64 processor, %s; --accel auto: /dev/kvm: %s)",
			 engine, strerror(d->kvm_errno));
	else
		snprintf(buf, len, "softkvm (software x86-64 processor, %s)", engine);
}
