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
	KVMDEV_SOFT, /* softkvm in-process (the default) */
	KVMDEV_KVM,  /* the host's /dev/kvm, or an error */
	KVMDEV_AUTO, /* the host's /dev/kvm when it can be opened, softkvm otherwise */
};

struct kvmdev {
	bool soft; /* descriptors belong to in-process softkvm */
	enum kvmdev_accel asked;
	int kvm_errno;	 /* why /dev/kvm was not used (KVMDEV_AUTO), or 0 */
	bool irq_routed; /* SOFTKVM_IRQFD_ROUTED=1: irqfds always by eventfd write */
};

/* open("/dev/kvm"): a system descriptor, or -errno */
int kvmdev_open(struct kvmdev *d, enum kvmdev_accel accel);
/* ioctl() on a descriptor from this device: the ioctl's result, or -errno */
int kvmdev_ioctl(const struct kvmdev *d, int fd, unsigned long req, void *arg);
/* mmap() of a vCPU descriptor's kvm_run area; NULL on failure */
void *kvmdev_mmap_run(const struct kvmdev *d, int fd, size_t len);
void kvmdev_close(const struct kvmdev *d, int fd);
/*
 * A device's thread signals irqfd eventfd fd. On softkvm an irqfd routed to
 * an MSI is delivered from this very thread (IRQ offload,
 * softkvm_eventfd_signal); otherwise, and with SOFTKVM_IRQFD_ROUTED=1 (the
 * comparison of make bench-latency), the eventfd is written and KVM's side
 * delivers it (softkvm: its service thread).
 */
void kvmdev_signal_irqfd(const struct kvmdev *d, int fd);
const char *kvmdev_name(const struct kvmdev *d);
/* one line (no newline) saying which KVM runs the guest and why */
void kvmdev_describe(const struct kvmdev *d, char *buf, size_t len);

#endif
