/* SPDX-License-Identifier: MIT */
/*
 * abi/: the /dev/kvm ABI. KVM objects are represented by real file
 * descriptors (memfds), so close, dup, poll and mmap work on them; a table
 * maps descriptor numbers to objects. This is the only place that knows
 * ioctl numbers. The table is per process by nature (descriptors are).
 */
#ifndef SOFTKVM_ABI_H
#define SOFTKVM_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../kvm/kvm.h"

#define KVM_PAGE_SIZE_ABI 4096

enum kobj_type { KOBJ_SYS = 1, KOBJ_VM, KOBJ_VCPU };

struct kobj {
	int type;
	_Atomic int refs; /* descriptors pointing at it */
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	void *run_map; /* vCPU: our mapping of the kvm_run pages */
};

/* descriptor table */
struct kobj *fdtab_get(int fd);
/* fdtab_get() with a reference (kobj_put() when done) */
struct kobj *fdtab_get_ref(int fd);
int fdtab_install(int fd, struct kobj *o);
struct kobj *fdtab_remove(int fd);
void kobj_put(struct kobj *o);
void kobj_get(struct kobj *o);

/* user memory access with EFAULT for bad pointers (copy_from_user/copy_to_user) */
int abi_copy_from_user(void *dst, const void *src, size_t n);
int abi_copy_to_user(void *dst, const void *src, size_t n);
/* tests: copy through a pipe as when process_vm_readv/writev are refused */
void abi_uaccess_force_pipe(bool on);

/* the core entry points shared by the public API and the preload library */
int abi_open_dev(int flags);
long abi_ioctl(int fd, unsigned long req, void *arg);
int abi_close(int fd);
int abi_dup(int oldfd, int newfd);
/* validation and splicing for mmap of a vCPU descriptor; returns MAP_FAILED w/ errno */
void *abi_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off,
	       void *(*real_mmap)(void *, size_t, int, int, int, off_t));
/* irqchip ioctls (ioctl_irq.c) */
long abi_vm_ioctl_irq(struct kvm_vm *vm, unsigned req, void *arg);
long abi_sys_ioctl_extra(unsigned req, void *arg);
long abi_vcpu_ioctl_irq(struct kvm_vcpu *v, unsigned req, void *arg);
/* the vCPU thread table, for kicks from pthread_kill */
void abi_kick_thread(unsigned long thread);
/* pthread_cancel(): a thread inside KVM_RUN returns from it (-EINTR) */
void abi_cancel_thread(unsigned long thread);

/* real libc functions (the preload library resolves them with dlsym(RTLD_NEXT)) */
struct abi_libc {
	int (*close)(int);
	int (*ioctl)(int, unsigned long, ...);
	void *(*mmap)(void *, size_t, int, int, int, off_t);
};
extern struct abi_libc abi_libc;

#endif
