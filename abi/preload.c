/* SPDX-License-Identifier: MIT */
/*
 * libsoftkvm-preload.so: serves /dev/kvm to an unmodified, dynamically
 * linked program. It interposes the open family for the path "/dev/kvm",
 * and ioctl, mmap, close and dup* for the descriptors it handed out; every
 * other call goes to libc untouched. pthread_kill() to a thread inside
 * KVM_RUN also kicks the vCPU so the signal ends KVM_RUN at once.
 */
/* we define both the plain and the 64-bit names ourselves */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abi.h"

#define EXPORT __attribute__((visibility("default")))

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_pthread_kill)(pthread_t, int);
static int (*real_pthread_cancel)(pthread_t);
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void resolve(void)
{
	real_open = dlsym(RTLD_NEXT, "open");
	real_openat = dlsym(RTLD_NEXT, "openat");
	real_dup = dlsym(RTLD_NEXT, "dup");
	real_dup2 = dlsym(RTLD_NEXT, "dup2");
	real_dup3 = dlsym(RTLD_NEXT, "dup3");
	real_fcntl = dlsym(RTLD_NEXT, "fcntl");
	real_write = dlsym(RTLD_NEXT, "write");
	real_pthread_kill = dlsym(RTLD_NEXT, "pthread_kill");
	real_pthread_cancel = dlsym(RTLD_NEXT, "pthread_cancel");
	abi_libc.close = dlsym(RTLD_NEXT, "close");
	abi_libc.ioctl = dlsym(RTLD_NEXT, "ioctl");
	abi_libc.mmap = dlsym(RTLD_NEXT, "mmap");
}

#define RESOLVE() pthread_once(&resolve_once, resolve)

void preload_host_cpuid_init(void); /* preload_cpuid.c */

/* Before the program runs: its own CPUID instructions as on a KVM host. */
__attribute__((constructor)) static void preload_init(void)
{
	preload_host_cpuid_init();
}

static bool is_kvm_path(const char *p)
{
	return p && !strcmp(p, "/dev/kvm");
}

/* as the system call and glibc's ioctl(): -4095..-1 is an error number,
 * anything else (a value that only looks negative, e.g. a page budget of
 * 2^63 read back by KVM_GET_NR_MMU_PAGES) is the result, truncated to int */
static int ret_errno(long r)
{
	if (r < 0 && r >= -4095) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}

static int kvm_open(int flags)
{
	int r = abi_open_dev(flags);
	if (r >= 0 && !(flags & O_CLOEXEC))
		real_fcntl(r, F_SETFD, 0); /* memfds are created close-on-exec */
	return ret_errno(r);
}

static mode_t va_mode(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	RESOLVE();
	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	if (is_kvm_path(path))
		return kvm_open(flags);
	return real_open(path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	RESOLVE();
	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	if (is_kvm_path(path))
		return kvm_open(flags);
	return real_open(path, flags | O_LARGEFILE, mode);
}

EXPORT int __open_2(const char *path, int flags)
{
	RESOLVE();
	if (is_kvm_path(path))
		return kvm_open(flags);
	return real_open(path, flags);
}

EXPORT int __open64_2(const char *path, int flags)
{
	RESOLVE();
	if (is_kvm_path(path))
		return kvm_open(flags);
	return real_open(path, flags | O_LARGEFILE);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	RESOLVE();
	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	if (is_kvm_path(path))
		return kvm_open(flags);
	return real_openat(dirfd, path, flags, mode);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	RESOLVE();
	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	if (is_kvm_path(path))
		return kvm_open(flags);
	return real_openat(dirfd, path, flags | O_LARGEFILE, mode);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	RESOLVE();
	if (is_kvm_path(path))
		return kvm_open(flags);
	return real_openat(dirfd, path, flags);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	RESOLVE();
	if (is_kvm_path(path))
		return kvm_open(flags);
	return real_openat(dirfd, path, flags | O_LARGEFILE);
}

EXPORT int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;
	RESOLVE();
	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (fdtab_get(fd))
		return ret_errno(abi_ioctl(fd, request, arg));
	return abi_libc.ioctl(fd, request, arg);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	RESOLVE();
	if (fd >= 0 && !(flags & MAP_ANONYMOUS) && fdtab_get(fd))
		return abi_mmap(addr, len, prot, flags, fd, off, abi_libc.mmap);
	return abi_libc.mmap(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

/*
 * IRQ offload for a client under softkvm exec (QEMU's event_notifier_set()
 * is a write() of a 64-bit count): a non-zero count written to an irqfd
 * routed to an MSI is delivered from the writing thread, as
 * softkvm_eventfd_signal() does; any other write is the libc's.
 */
EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
	if (count == 8 && kvm_irqfd_candidate(fd)) {
		uint64_t v;
		memcpy(&v, buf, sizeof(v));
		if (v && kvm_irqfd_signal(fd))
			return 8;
	}
	RESOLVE();
	return real_write(fd, buf, count);
}

EXPORT int close(int fd)
{
	RESOLVE();
	if (fdtab_get(fd))
		abi_close(fd);
	return abi_libc.close(fd);
}

EXPORT int dup(int oldfd)
{
	RESOLVE();
	int r = real_dup(oldfd);
	if (r >= 0 && fdtab_get(oldfd))
		abi_dup(oldfd, r);
	return r;
}

EXPORT int dup2(int oldfd, int newfd)
{
	RESOLVE();
	int r = real_dup2(oldfd, newfd);
	if (r >= 0 && oldfd != newfd) {
		if (fdtab_get(oldfd))
			abi_dup(oldfd, r);
		else if (fdtab_get(newfd))
			abi_close(newfd);
	}
	return r;
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	RESOLVE();
	int r = real_dup3(oldfd, newfd, flags);
	if (r >= 0) {
		if (fdtab_get(oldfd))
			abi_dup(oldfd, r);
		else if (fdtab_get(newfd))
			abi_close(newfd);
	}
	return r;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;
	RESOLVE();
	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	int r = real_fcntl(fd, cmd, arg);
	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && fdtab_get(fd))
		abi_dup(fd, r);
	return r;
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	long arg;
	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return fcntl(fd, cmd, arg);
}

EXPORT int pthread_kill(pthread_t thread, int sig)
{
	RESOLVE();
	if (sig)
		abi_kick_thread((unsigned long)thread);
	return real_pthread_kill(thread, sig);
}

/* A thread inside KVM_RUN has cancellation disabled (abi/ioctl.c vcpu_run):
 * end its KVM_RUN so the cancellation takes effect, as SIGCANCEL would. */
EXPORT int pthread_cancel(pthread_t thread)
{
	RESOLVE();
	int r = real_pthread_cancel(thread);
	if (!r)
		abi_cancel_thread((unsigned long)thread);
	return r;
}
