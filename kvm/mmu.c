/* SPDX-License-Identifier: MIT */
/*
 * The shadow-MMU page budget (KVM_SET/GET_NR_MMU_PAGES,
 * KVM_CAP_MMU_SHADOW_CACHE_CONTROL). softkvm's processor walks guest page
 * tables itself and keeps no shadow pages, so the budget only has to be
 * accepted and reported back as Linux 6.1 does (arch/x86/kvm/x86.c,
 * kvm_vm_ioctl_set_nr_mmu_pages(); mmu.c, kvm_mmu_calculate_default_mmu_pages()).
 */
#include <errno.h>

#include "kvm_internal.h"

#define KVM_MIN_ALLOC_MMU_PAGES 64
#define KVM_PERMILLE_MMU_PAGES	20

int kvm_vm_set_nr_mmu_pages(struct kvm_vm *vm, unsigned long n)
{
	if (n < KVM_MIN_ALLOC_MMU_PAGES)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	vm->nr_mmu_pages = n;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/* what was set, else 2% of guest memory in pages, at least 64 */
long kvm_vm_get_nr_mmu_pages(struct kvm_vm *vm)
{
	uint64_t pages = 0;
	long r;

	pthread_mutex_lock(&vm->lock);
	r = (long)vm->nr_mmu_pages;
	pthread_mutex_unlock(&vm->lock);
	if (!r) {
		pthread_mutex_lock(&vm->slots_lock);
		for (unsigned k = 0; k < vm->nslots; k++)
			pages += vm->slots[k].size / KVM_PAGE_SIZE;
		pthread_mutex_unlock(&vm->slots_lock);
		pages = pages * KVM_PERMILLE_MMU_PAGES / 1000;
		r = pages < KVM_MIN_ALLOC_MMU_PAGES ? KVM_MIN_ALLOC_MMU_PAGES : (long)pages;
	}
	return r;
}
