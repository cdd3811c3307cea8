/* SPDX-License-Identifier: MIT */
/*
 * Bad ioctl argument pointers give EFAULT, never a crash (abi/uaccess.c),
 * both with process_vm_readv/writev and through the pipe softkvm copies with
 * when those are refused (seccomp): NULL, an unmapped page, a read-only page
 * for an ioctl that writes its argument, a structure that runs from a
 * mapped page into an unmapped one, a kernel address and a range that wraps
 * around the top of the address space. Good pointers
 * still work, also on those paths. In-process only: it switches the copy
 * path with abi_uaccess_force_pipe().
 */
#include "kvmtest.h"

void abi_uaccess_force_pipe(bool on);

static uint8_t *page_rw, *page_none, *page_ro;

/* a structure of n bytes whose first half is readable, the rest not */
static void *straddling(size_t n)
{
	return page_none - n / 2;
}

static void bad_pointers(struct kt_vm *t)
{
	struct kvm_regs r;

	/* reads of the argument (SET) */
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_REGS, NULL), EFAULT);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_REGS, page_none), EFAULT);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_REGS, straddling(sizeof(r))), EFAULT);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_REGS, 0xffff888000000000ull), EFAULT);
	/* a wild pointer: unmapped here, AddressSanitizer's reserved shadow gap
	 * in its builds */
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_REGS, 0x10000000000ull), EFAULT);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_GET_REGS, 0x10000000000ull), EFAULT);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_SREGS, straddling(sizeof(struct kvm_sregs))), EFAULT);
	/* a range that wraps around the end of the address space (found by
	 * fuzz_abi: the pipe copy stepped its pointers past the top) */
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_SET_REGS, 0xfffffffffffffff0ull), EFAULT);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_GET_REGS, 0xffffffffffffffffull), EFAULT);
	/* writes of the argument (GET) */
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_GET_REGS, NULL), EFAULT);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_GET_REGS, page_none), EFAULT);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_GET_REGS, page_ro), EFAULT);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_GET_REGS, straddling(sizeof(r))), EFAULT);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_GET_SREGS, page_ro + 4096 - 16), EFAULT);
	KT_FAILS(KT_IOCTL(t->vcpu, KVM_GET_XSAVE, page_ro), EFAULT);
	/* the read-only page is unchanged */
	for (unsigned k = 0; k < 4096; k++)
		if (page_ro[k] != 0x5a) {
			KT_CHECK(!"read-only page written");
			break;
		}
	/* a pointer inside the argument */
	struct kvm_dirty_log d = {.slot = 0, .dirty_bitmap = page_ro};
	struct kvm_userspace_memory_region m = {0, KVM_MEM_LOG_DIRTY_PAGES, 0, t->mem_size,
						(uintptr_t)t->mem};
	KT_EQ(KT_IOCTL(t->vm, KVM_SET_USER_MEMORY_REGION, &m), 0);
	KT_FAILS(KT_IOCTL(t->vm, KVM_GET_DIRTY_LOG, &d), EFAULT);
	d.dirty_bitmap = page_none;
	KT_FAILS(KT_IOCTL(t->vm, KVM_GET_DIRTY_LOG, &d), EFAULT);
	d.dirty_bitmap = page_rw;
	KT_EQ(KT_IOCTL(t->vm, KVM_GET_DIRTY_LOG, &d), 0);
	m.flags = 0;
	KT_EQ(KT_IOCTL(t->vm, KVM_SET_USER_MEMORY_REGION, &m), 0);
	/* good pointers */
	memset(&r, 0, sizeof(r));
	r.rip = 0x1234;
	r.rflags = 2;
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_REGS, &r), 0);
	memset(&r, 0, sizeof(r));
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_REGS, &r), 0);
	KT_EQ(r.rip, 0x1234);
	/* a good structure right before the unmapped page */
	struct kvm_regs *edge = (struct kvm_regs *)(page_none - sizeof(r));
	KT_EQ(KT_IOCTL(t->vcpu, KVM_GET_REGS, edge), 0);
	KT_EQ(edge->rip, 0x1234);
	KT_EQ(KT_IOCTL(t->vcpu, KVM_SET_REGS, edge), 0);
}

int main(void)
{
	struct kt_vm t;

	page_rw = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_CHECK(page_rw != MAP_FAILED);
	page_none = page_rw + 4096;
	page_ro = page_rw + 8192;
	memset(page_ro, 0x5a, 4096);
	KT_EQ(mprotect(page_none, 4096, PROT_NONE), 0);
	KT_EQ(mprotect(page_ro, 4096, PROT_READ), 0);
	KT_EQ(kt_vm_create(&t, 0x10000), 0);

	bad_pointers(&t);	      /* process_vm_readv/writev */
	abi_uaccess_force_pipe(true); /* as under a seccomp filter */
	bad_pointers(&t);
	abi_uaccess_force_pipe(false);

	kt_vm_destroy(&t);
	return kt_done("test_uaccess");
}
