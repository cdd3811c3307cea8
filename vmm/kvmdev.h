/* SPDX-License-Identifier: MIT */
/*
 * The VMM's only way to /dev/kvm: softkvm in-process, or the host's real
 * /dev/kvm. Everything above this speaks the <linux/kvm.h> ABI unchanged.
 */
#ifndef SOFTKVM_VMM_KVMDEV_H
#define SOFTKVM_VMM_KVMDEV_H

#include <stdbool.h>
#include <stddef.h>

enum kvmdev_accel {
	KVMDEV_AUTO, /* kvm when /dev/kvm can be opened, soft otherwise */
	KVMDEV_SOFT,
	KVMDEV_KVM,
};

struct kvmdev {
	bool soft; /* descriptors belong to in-process softkvm */
};

/* open("/dev/kvm"): a system descriptor, or -errno */
int kvmdev_open(struct kvmdev *d, enum kvmdev_accel accel);
/* ioctl() on a descriptor from this device: the ioctl's result, or -errno */
int kvmdev_ioctl(const struct kvmdev *d, int fd, unsigned long req, void *arg);
/* mmap() of a vCPU descriptor's kvm_run area; NULL on failure */
void *kvmdev_mmap_run(const struct kvmdev *d, int fd, size_t len);
void kvmdev_close(const struct kvmdev *d, int fd);
const char *kvmdev_name(const struct kvmdev *d);

#endif
