/* SPDX-License-Identifier: MIT */
/*
 * copy_from_user/copy_to_user for a KVM served in the caller's own address
 * space: a bad pointer must give EFAULT, not a crash. process_vm_readv/writev
 * on our own pid check the range. Where they are unavailable (seccomp), the
 * kernel still does the copy: through a pipe, written from the source and
 * read into the destination, so an unreadable source or an unwritable
 * destination is an EFAULT of write() or read() (no probe-then-copy window
 * in which another thread could unmap the range).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "abi.h"

/* -1 unknown, 1 process_vm_readv/writev work, 0 they do not (or tests said so) */
static _Atomic int vm_rw_works = -1;

void abi_uaccess_force_pipe(bool on)
{
	atomic_store(&vm_rw_works, on ? 0 : -1);
}

/*
 * n bytes from src to dst through a pipe; -EFAULT if either side faults.
 * Raw system calls: the kernel is to judge the pointers, not a sanitizer's
 * write()/read() interceptor (which would report a wild pointer itself).
 */
static int pipe_copy(void *dst, const void *src, size_t n)
{
	uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
	int fds[2], r = 0;

	/* a range that wraps around the address space is refused whole, as
	 * Linux's access_ok() does; the addresses are only integers here */
	if (d + n < d || s + n < s)
		return -EFAULT;
	if (pipe2(fds, O_CLOEXEC))
		return -errno; /* out of descriptors */
	while (n && !r) {
		size_t chunk = n > 4096 ? 4096 : n;
		ssize_t w = syscall(SYS_write, fds[1], s, chunk);
		if (w <= 0) {
			r = -EFAULT;
			break;
		}
		for (size_t got = 0; got < (size_t)w;) {
			ssize_t k = syscall(SYS_read, fds[0], d + got, (size_t)w - got);
			if (k <= 0) {
				r = -EFAULT;
				break;
			}
			got += (size_t)k;
		}
		s += (size_t)w;
		d += (size_t)w;
		n -= (size_t)w;
	}
	close(fds[0]);
	close(fds[1]);
	return r;
}

int abi_copy_from_user(void *dst, const void *src, size_t n)
{
	if (!n)
		return 0;
	if (!src)
		return -EFAULT;
	if (atomic_load_explicit(&vm_rw_works, memory_order_relaxed) != 0) {
		struct iovec l = {dst, n}, r = {(void *)src, n};
		ssize_t got = process_vm_readv(getpid(), &l, 1, &r, 1, 0);
		if (got == (ssize_t)n) {
			atomic_store_explicit(&vm_rw_works, 1, memory_order_relaxed);
			return 0;
		}
		if (got >= 0 || errno == EFAULT)
			return -EFAULT;
		/* ENOSYS/EPERM: fall back */
		atomic_store_explicit(&vm_rw_works, 0, memory_order_relaxed);
	}
	return pipe_copy(dst, src, n);
}

int abi_copy_to_user(void *dst, const void *src, size_t n)
{
	if (!n)
		return 0;
	if (!dst)
		return -EFAULT;
	if (atomic_load_explicit(&vm_rw_works, memory_order_relaxed) != 0) {
		struct iovec l = {(void *)src, n}, r = {dst, n};
		ssize_t put = process_vm_writev(getpid(), &l, 1, &r, 1, 0);
		if (put == (ssize_t)n) {
			atomic_store_explicit(&vm_rw_works, 1, memory_order_relaxed);
			return 0;
		}
		if (put >= 0 || errno == EFAULT)
			return -EFAULT;
		atomic_store_explicit(&vm_rw_works, 0, memory_order_relaxed);
	}
	return pipe_copy(dst, src, n);
}
