/* SPDX-License-Identifier: MIT */
/*
 * Opening /dev/kvm: the one place that chooses between in-process softkvm
 * and the host kernel's KVM. Both hand out descriptors that take the same
 * ioctls and mmap, so nothing else in the VMM knows which one it talks to.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "softkvm/softkvm.h"
#include "kvmdev.h"

int kvmdev_open(struct kvmdev *d, enum kvmdev_accel accel)
{
	int fd;

	if (accel != KVMDEV_SOFT) {
		fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			d->soft = false;
			return fd;
		}
		if (accel == KVMDEV_KVM)
			return -errno;
	}
	fd = softkvm_open(O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d->soft = true;
	return fd;
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
