/* SPDX-License-Identifier: MIT */
/* The in-process API of include/softkvm/softkvm.h. */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abi.h"
#include "../include/softkvm/softkvm.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int softkvm_open(int flags)
{
	int r = abi_open_dev(flags);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return r;
}

EXPORT int softkvm_ioctl(int fd, unsigned long request, void *arg)
{
	long r = abi_ioctl(fd, request, arg);
	/* as the system call and glibc's ioctl(): only -4095..-1 is an error
	 * number; any other result is returned truncated to int (UBSan found
	 * LONG_MIN from KVM_GET_NR_MMU_PAGES after a budget of 2^63) */
	if (r < 0 && r >= -4095) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}

EXPORT int softkvm_close(int fd)
{
	abi_close(fd);
	return close(fd);
}

EXPORT int softkvm_eventfd_signal(int fd)
{
	uint64_t one = 1;

	if (kvm_irqfd_signal(fd))
		return 0;
	return write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -1;
}

EXPORT bool softkvm_owns_fd(int fd)
{
	return fdtab_get(fd) != NULL;
}

EXPORT void *softkvm_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!fdtab_get(fd))
		return mmap(addr, len, prot, flags, fd, off);
	return abi_mmap(addr, len, prot, flags, fd, off, mmap);
}
