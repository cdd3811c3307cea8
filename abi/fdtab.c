/* SPDX-License-Identifier: MIT */
/* The descriptor table: descriptor number -> KVM object, two levels, lock-free reads. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abi.h"

#define L2_BITS 10
#define L2_SIZE (1u << L2_BITS)
#define L1_SIZE 4096 /* descriptors below 4M */

static struct kobj *_Atomic *_Atomic fdtab_l1[L1_SIZE];
static pthread_mutex_t fdtab_lock = PTHREAD_MUTEX_INITIALIZER;

struct kobj *fdtab_get(int fd)
{
	if (fd < 0 || (unsigned)fd >= L1_SIZE * L2_SIZE)
		return NULL;
	struct kobj *_Atomic *l2 =
	    atomic_load_explicit(&fdtab_l1[fd >> L2_BITS], memory_order_acquire);
	if (!l2)
		return NULL;
	return atomic_load_explicit(&l2[fd & (L2_SIZE - 1)], memory_order_acquire);
}

/*
 * The object with a reference the caller drops with kobj_put(): an ioctl or
 * mmap keeps its object alive even if another thread closes the descriptor
 * meanwhile, as the kernel's fdget() does.
 */
struct kobj *fdtab_get_ref(int fd)
{
	if (fd < 0 || (unsigned)fd >= L1_SIZE * L2_SIZE)
		return NULL;
	pthread_mutex_lock(&fdtab_lock);
	struct kobj *o = fdtab_get(fd);
	if (o)
		kobj_get(o);
	pthread_mutex_unlock(&fdtab_lock);
	return o;
}

int fdtab_install(int fd, struct kobj *o)
{
	if (fd < 0 || (unsigned)fd >= L1_SIZE * L2_SIZE)
		return -EMFILE;
	pthread_mutex_lock(&fdtab_lock);
	struct kobj *_Atomic *l2 = atomic_load(&fdtab_l1[fd >> L2_BITS]);
	if (!l2) {
		l2 = calloc(L2_SIZE, sizeof(*l2));
		if (!l2) {
			pthread_mutex_unlock(&fdtab_lock);
			return -ENOMEM;
		}
		atomic_store(&fdtab_l1[fd >> L2_BITS], l2);
	}
	atomic_store(&l2[fd & (L2_SIZE - 1)], o);
	pthread_mutex_unlock(&fdtab_lock);
	return 0;
}

struct kobj *fdtab_remove(int fd)
{
	if (fd < 0 || (unsigned)fd >= L1_SIZE * L2_SIZE)
		return NULL;
	pthread_mutex_lock(&fdtab_lock);
	struct kobj *_Atomic *l2 = atomic_load(&fdtab_l1[fd >> L2_BITS]);
	struct kobj *o = l2 ? atomic_exchange(&l2[fd & (L2_SIZE - 1)], NULL) : NULL;
	pthread_mutex_unlock(&fdtab_lock);
	return o;
}

void kobj_get(struct kobj *o)
{
	atomic_fetch_add(&o->refs, 1);
}

void kobj_put(struct kobj *o)
{
	if (atomic_fetch_sub(&o->refs, 1) != 1)
		return;
	switch (o->type) {
	case KOBJ_VM:
		/* the ring page stays mapped while vCPUs may still use it: the VM
		 * object is freed with its last reference */
		kvm_vm_put(o->vm);
		break;
	case KOBJ_VCPU:
		kvm_vm_put(kvm_vcpu_vm(o->vcpu));
		break;
	default:
		break;
	}
	free(o);
}
