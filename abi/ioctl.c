/* SPDX-License-Identifier: MIT */
/*
 * ioctl decoding for the system, VM and vCPU descriptors: request numbers
 * (truncated to 32 bits as the kernel does), argument sizes, copy in and out
 * with EFAULT, and the errno Linux 6.1 gives an unknown request.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abi.h"

#define MAX_IO_MSRS 256
#define MAX_CPUID   256

struct abi_libc abi_libc;

static int new_memfd(const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (size && ftruncate(fd, (off_t)size) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int install_new(int fd, struct kobj *o)
{
	int r = fdtab_install(fd, o);
	if (r) {
		close(fd);
		free(o);
	}
	return r ? r : fd;
}

int abi_open_dev(int flags)
{
	(void)flags;
	int fd = new_memfd("softkvm-dev", 0);
	if (fd < 0)
		return fd;
	struct kobj *o = calloc(1, sizeof(*o));
	if (!o) {
		close(fd);
		return -ENOMEM;
	}
	o->type = KOBJ_SYS;
	atomic_init(&o->refs, 1);
	return install_new(fd, o);
}

int abi_close(int fd)
{
	struct kobj *o = fdtab_remove(fd);
	if (o)
		kobj_put(o);
	return o ? 0 : -EBADF;
}

int abi_dup(int oldfd, int newfd)
{
	struct kobj *o = fdtab_get_ref(oldfd);
	if (!o)
		return 0;
	struct kobj *prev = fdtab_remove(newfd);
	if (prev)
		kobj_put(prev);
	return fdtab_install(newfd, o);
}

/* ---- system ---- */

static long create_vm(unsigned long type)
{
	struct kvm_vm *vm;
	int r = kvm_vm_create(type, &vm);
	if (r)
		return r;
	int ring_fd = new_memfd("softkvm-mmio-ring", KVM_PAGE_SIZE_ABI);
	if (ring_fd < 0) {
		kvm_vm_put(vm);
		return ring_fd;
	}
	void *ring = mmap(NULL, KVM_PAGE_SIZE_ABI, PROT_READ | PROT_WRITE, MAP_SHARED, ring_fd, 0);
	if (ring == MAP_FAILED) {
		close(ring_fd);
		kvm_vm_put(vm);
		return -ENOMEM;
	}
	kvm_vm_set_coalesced_ring(vm, ring, ring_fd);
	int fd = new_memfd("softkvm-vm", 0);
	if (fd < 0) {
		kvm_vm_put(vm);
		return fd;
	}
	struct kobj *o = calloc(1, sizeof(*o));
	if (!o) {
		close(fd);
		kvm_vm_put(vm);
		return -ENOMEM;
	}
	o->type = KOBJ_VM;
	atomic_init(&o->refs, 1);
	o->vm = vm;
	return install_new(fd, o);
}

static long get_supported_cpuid(void *arg)
{
	struct kvm_cpuid2 hdr;
	if (abi_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	uint32_t max = hdr.nent > MAX_CPUID ? MAX_CPUID : hdr.nent;
	struct kvm_cpuid2 *c =
	    calloc(1, sizeof(*c) + (max ? max : 1) * sizeof(struct kvm_cpuid_entry2));
	if (!c)
		return -ENOMEM;
	int r = kvm_get_supported_cpuid(c, max);
	if (!r) {
		if (abi_copy_to_user(arg, c,
				     sizeof(*c) + c->nent * sizeof(struct kvm_cpuid_entry2)))
			r = -EFAULT;
	}
	free(c);
	return r;
}

static long msr_list(void *arg, bool feature)
{
	struct kvm_msr_list hdr;
	if (abi_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + 256 * sizeof(uint32_t));
	if (!l)
		return -ENOMEM;
	int r = feature ? kvm_get_msr_feature_index_list(l, hdr.nmsrs)
			: kvm_get_msr_index_list(l, hdr.nmsrs);
	/* the count is written back whether or not the array was big enough */
	if (abi_copy_to_user(arg, l, sizeof(*l)))
		r = -EFAULT;
	else if (!r && abi_copy_to_user((uint8_t *)arg + sizeof(*l), l->indices,
					l->nmsrs * sizeof(uint32_t)))
		r = -EFAULT;
	free(l);
	return r;
}

/* KVM_GET_MSRS / KVM_SET_MSRS: returns the number of MSRs processed */
static long msr_io(void *arg, struct kvm_vcpu *v, bool set, bool system)
{
	struct kvm_msrs hdr;
	if (abi_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	if (hdr.nmsrs >= MAX_IO_MSRS)
		return -E2BIG;
	size_t size = hdr.nmsrs * sizeof(struct kvm_msr_entry);
	struct kvm_msr_entry *e = calloc(1, size ? size : 1);
	if (!e)
		return -ENOMEM;
	long r;
	if (abi_copy_from_user(e, (uint8_t *)arg + sizeof(hdr), size)) {
		free(e);
		return -EFAULT;
	}
	if (system)
		r = kvm_get_feature_msrs(e, hdr.nmsrs);
	else if (set)
		r = kvm_vcpu_set_msrs(v, e, hdr.nmsrs);
	else
		r = kvm_vcpu_get_msrs(v, e, hdr.nmsrs);
	if (!set && abi_copy_to_user((uint8_t *)arg + sizeof(hdr), e, size))
		r = -EFAULT;
	free(e);
	return r;
}

static long sys_ioctl(unsigned req, void *arg)
{
	switch (req) {
	case KVM_GET_API_VERSION:
		if (arg)
			return -EINVAL;
		return SOFTKVM_API_VERSION;
	case KVM_CREATE_VM:
		return create_vm((unsigned long)arg);
	case KVM_CHECK_EXTENSION:
		return kvm_check_extension(NULL, (long)arg);
	case KVM_GET_VCPU_MMAP_SIZE:
		if (arg)
			return -EINVAL;
		return kvm_vcpu_mmap_size();
	case KVM_GET_SUPPORTED_CPUID:
		return get_supported_cpuid(arg);
	case KVM_GET_MSR_INDEX_LIST:
		return msr_list(arg, false);
	case KVM_GET_MSR_FEATURE_INDEX_LIST:
		return msr_list(arg, true);
	case KVM_GET_MSRS:
		return msr_io(arg, NULL, false, true);
	default:
		return abi_sys_ioctl_extra(req, arg); /* else -EINVAL (kvm_arch_dev_ioctl) */
	}
}

/* ---- VM ---- */

static long create_vcpu(struct kobj *vmo, unsigned long id)
{
	size_t size = (size_t)kvm_vcpu_mmap_size();
	int fd = new_memfd("softkvm-vcpu", size);
	if (fd < 0)
		return fd;
	void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		close(fd);
		return -ENOMEM;
	}
	struct kvm_vcpu *v;
	int r = kvm_vcpu_create(vmo->vm, id, map, &v);
	if (r) {
		munmap(map, size);
		close(fd);
		return r;
	}
	struct kobj *o = calloc(1, sizeof(*o));
	if (!o) {
		close(fd);
		return -ENOMEM; /* the vCPU stays with the VM, as a failed fd install does on Linux
				 */
	}
	o->type = KOBJ_VCPU;
	atomic_init(&o->refs, 1);
	o->vcpu = v;
	o->run_map = map;
	kvm_vm_get(vmo->vm);
	r = fdtab_install(fd, o);
	if (r) {
		kvm_vm_put(vmo->vm);
		free(o);
		close(fd);
		return r;
	}
	return fd;
}

static long get_dirty_log(struct kvm_vm *vm, void *arg)
{
	struct kvm_dirty_log d;
	uint64_t *bm;
	size_t bytes;

	if (abi_copy_from_user(&d, arg, sizeof(d)))
		return -EFAULT;
	int r = kvm_vm_get_dirty_log(vm, d.slot, &bm, &bytes);
	if (r)
		return r;
	if (abi_copy_to_user(d.dirty_bitmap, bm, bytes))
		r = -EFAULT;
	free(bm);
	return r;
}

static long clear_dirty_log(struct kvm_vm *vm, void *arg)
{
	struct kvm_clear_dirty_log c;
	uint64_t npages;

	if (abi_copy_from_user(&c, arg, sizeof(c)))
		return -EFAULT;
	/* kvm_clear_dirty_log_protect(): alignment before the slot lookup, the
	 * range before the bitmap is read */
	if (c.first_page & 63)
		return -EINVAL;
	int r = kvm_vm_slot_npages(vm, c.slot, &npages);
	if (r)
		return r;
	if (c.first_page > npages || c.num_pages > npages - c.first_page ||
	    (c.num_pages < npages - c.first_page && (c.num_pages & 63)))
		return -EINVAL;
	size_t bytes = ((size_t)c.num_pages + 63) / 64 * 8;
	uint64_t *bm = calloc(1, bytes ? bytes : 8);
	if (!bm)
		return -ENOMEM;
	if (abi_copy_from_user(bm, c.dirty_bitmap, bytes)) {
		free(bm);
		return -EFAULT;
	}
	r = kvm_vm_clear_dirty_log(vm, &c, bm);
	free(bm);
	return r;
}

static long set_msr_filter(struct kvm_vm *vm, void *arg)
{
	struct kvm_msr_filter f;
	void *bitmaps[KVM_MSR_FILTER_MAX_RANGES] = {0};
	long r = 0;

	if (abi_copy_from_user(&f, arg, sizeof(f)))
		return -EFAULT;
	/* kvm_vm_ioctl_set_msr_filter(): flags first, then each range in turn */
	if (f.flags & ~(uint32_t)KVM_MSR_FILTER_DEFAULT_DENY)
		return -EINVAL;
	for (unsigned k = 0; k < KVM_MSR_FILTER_MAX_RANGES; k++) {
		struct kvm_msr_filter_range *rg = &f.ranges[k];
		if (!rg->nmsrs)
			continue;
		size_t bytes = ((size_t)rg->nmsrs + 63) / 64 * 8;
		if (bytes > 0x600 || !rg->flags ||
		    (rg->flags & ~(uint32_t)(KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE))) {
			r = -EINVAL;
			goto out;
		}
		bitmaps[k] = malloc(bytes);
		if (!bitmaps[k]) {
			r = -ENOMEM;
			goto out;
		}
		if (abi_copy_from_user(bitmaps[k], rg->bitmap, bytes)) {
			r = -EFAULT;
			goto out;
		}
		rg->bitmap = bitmaps[k];
	}
	r = kvm_vm_set_msr_filter(vm, &f);
out:
	for (unsigned k = 0; k < KVM_MSR_FILTER_MAX_RANGES; k++)
		free(bitmaps[k]);
	return r;
}

#define COPY_IN(var)                                                                               \
	do {                                                                                       \
		if (abi_copy_from_user(&(var), arg, sizeof(var)))                                  \
			return -EFAULT;                                                            \
	} while (0)
#define COPY_OUT(var)                                                                              \
	do {                                                                                       \
		if (abi_copy_to_user(arg, &(var), sizeof(var)))                                    \
			return -EFAULT;                                                            \
	} while (0)

static long vm_ioctl(struct kobj *o, unsigned req, void *arg)
{
	struct kvm_vm *vm = o->vm;

	switch (req) {
	case KVM_CREATE_VCPU:
		return create_vcpu(o, (unsigned long)arg);
	case KVM_SET_USER_MEMORY_REGION: {
		struct kvm_userspace_memory_region m;
		COPY_IN(m);
		return kvm_vm_set_memory_region(vm, &m);
	}
	case KVM_GET_DIRTY_LOG:
		return get_dirty_log(vm, arg);
	case KVM_CLEAR_DIRTY_LOG:
		return clear_dirty_log(vm, arg);
	case KVM_SET_TSS_ADDR:
		return kvm_vm_set_tss_addr(vm, (unsigned long)arg);
	case KVM_SET_IDENTITY_MAP_ADDR: {
		uint64_t a;
		COPY_IN(a);
		return kvm_vm_set_identity_map_addr(vm, a);
	}
	case KVM_ENABLE_CAP: {
		struct kvm_enable_cap c;
		COPY_IN(c);
		return kvm_vm_enable_cap(vm, &c);
	}
	case KVM_CHECK_EXTENSION:
		return kvm_check_extension(vm, (long)arg);
	case KVM_REGISTER_COALESCED_MMIO:
	case KVM_UNREGISTER_COALESCED_MMIO: {
		struct kvm_coalesced_mmio_zone z;
		COPY_IN(z);
		return kvm_vm_register_coalesced_mmio(vm, &z, req == KVM_REGISTER_COALESCED_MMIO);
	}
	case KVM_X86_SET_MSR_FILTER:
		return set_msr_filter(vm, arg);
	case KVM_GET_CLOCK: {
		struct kvm_clock_data d;
		kvm_vm_get_clock(vm, &d);
		COPY_OUT(d);
		return 0;
	}
	case KVM_SET_CLOCK: {
		struct kvm_clock_data d;
		COPY_IN(d);
		return kvm_vm_set_clock(vm, &d);
	}
	case KVM_SET_TSC_KHZ:
		return kvm_vm_set_tsc_khz(vm, (uint32_t)(unsigned long)arg);
	case KVM_GET_TSC_KHZ:
		return kvm_vm_get_tsc_khz(vm);
	case KVM_SET_NR_MMU_PAGES:
		return kvm_vm_set_nr_mmu_pages(vm, (unsigned long)arg);
	case KVM_GET_NR_MMU_PAGES:
		return kvm_vm_get_nr_mmu_pages(vm);
	default:
		return abi_vm_ioctl_irq(vm, req, arg); /* else -ENOTTY (kvm_arch_vm_ioctl) */
	}
}

/* ---- vCPU ---- */

static long vcpu_cpuid2(struct kvm_vcpu *v, void *arg, bool get)
{
	struct kvm_cpuid2 hdr;
	if (abi_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	if (!get && hdr.nent > MAX_CPUID)
		return -E2BIG;
	uint32_t n = hdr.nent > MAX_CPUID ? MAX_CPUID : hdr.nent;
	size_t size = sizeof(hdr) + (size_t)n * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = calloc(1, size);
	if (!c)
		return -ENOMEM;
	long r;
	if (get) {
		/* Linux 6.1 writes the entries only: nent stays as given, also on E2BIG */
		r = kvm_vcpu_get_cpuid2(v, c, n);
		if (!r && abi_copy_to_user((uint8_t *)arg + sizeof(hdr), c->entries,
					   c->nent * sizeof(c->entries[0])))
			r = -EFAULT;
	} else {
		if (abi_copy_from_user(c->entries, (uint8_t *)arg + sizeof(hdr),
				       n * sizeof(struct kvm_cpuid_entry2)))
			r = -EFAULT;
		else
			r = kvm_vcpu_set_cpuid2(v, c->entries, n);
	}
	free(c);
	return r;
}

static long vcpu_cpuid1(struct kvm_vcpu *v, void *arg)
{
	struct kvm_cpuid hdr;
	if (abi_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	if (hdr.nent > MAX_CPUID)
		return -E2BIG;
	size_t size = (size_t)hdr.nent * sizeof(struct kvm_cpuid_entry);
	struct kvm_cpuid_entry *e = calloc(1, size ? size : 1);
	if (!e)
		return -ENOMEM;
	long r = abi_copy_from_user(e, (uint8_t *)arg + sizeof(hdr), size)
		     ? -EFAULT
		     : kvm_vcpu_set_cpuid(v, e, hdr.nent);
	free(e);
	return r;
}

static long vcpu_signal_mask(struct kvm_vcpu *v, void *arg)
{
	struct kvm_signal_mask hdr;
	sigset_t set;
	uint64_t bits;

	if (!arg)
		return kvm_vcpu_set_signal_mask(v, NULL);
	if (abi_copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	if (hdr.len != 8) /* sizeof the kernel's sigset_t */
		return -EINVAL;
	if (abi_copy_from_user(&bits, (uint8_t *)arg + sizeof(hdr), 8))
		return -EFAULT;
	sigemptyset(&set);
	for (int s = 1; s <= 64 && s < NSIG; s++)
		if (bits & (1ull << (s - 1)))
			sigaddset(&set, s);
	return kvm_vcpu_set_signal_mask(v, &set);
}

static long vcpu_ioctl_locked(struct kvm_vcpu *v, unsigned req, void *arg)
{
	switch (req) {
	case KVM_RUN:
		return -EINVAL; /* vcpu_run() below */
	case KVM_GET_REGS: {
		struct kvm_regs r;
		kvm_vcpu_get_regs(v, &r);
		COPY_OUT(r);
		return 0;
	}
	case KVM_SET_REGS: {
		struct kvm_regs r;
		COPY_IN(r);
		return kvm_vcpu_set_regs(v, &r);
	}
	case KVM_GET_SREGS: {
		struct kvm_sregs s;
		kvm_vcpu_get_sregs(v, &s);
		COPY_OUT(s);
		return 0;
	}
	case KVM_SET_SREGS: {
		struct kvm_sregs s;
		COPY_IN(s);
		return kvm_vcpu_set_sregs(v, &s);
	}
	case KVM_GET_SREGS2: {
		struct kvm_sregs2 s;
		kvm_vcpu_get_sregs2(v, &s);
		COPY_OUT(s);
		return 0;
	}
	case KVM_SET_SREGS2: {
		struct kvm_sregs2 s;
		COPY_IN(s);
		return kvm_vcpu_set_sregs2(v, &s);
	}
	case KVM_GET_FPU: {
		struct kvm_fpu f;
		kvm_vcpu_get_fpu(v, &f);
		COPY_OUT(f);
		return 0;
	}
	case KVM_SET_FPU: {
		struct kvm_fpu f;
		COPY_IN(f);
		return kvm_vcpu_set_fpu(v, &f);
	}
	case KVM_GET_XSAVE: {
		struct kvm_xsave x;
		kvm_vcpu_get_xsave(v, &x, sizeof(x));
		COPY_OUT(x);
		return 0;
	}
	case KVM_GET_XSAVE2: {
		/* the buffer is as large as KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) said */
		size_t size = (size_t)kvm_check_extension(NULL, KVM_CAP_XSAVE2);
		struct kvm_xsave *x = calloc(1, size);
		if (!x)
			return -ENOMEM;
		kvm_vcpu_get_xsave(v, x, size);
		long r = abi_copy_to_user(arg, x, size) ? -EFAULT : 0;
		free(x);
		return r;
	}
	case KVM_SET_XSAVE: {
		struct kvm_xsave x;
		COPY_IN(x);
		return kvm_vcpu_set_xsave(v, &x);
	}
	case KVM_GET_XCRS: {
		struct kvm_xcrs x;
		kvm_vcpu_get_xcrs(v, &x);
		COPY_OUT(x);
		return 0;
	}
	case KVM_SET_XCRS: {
		struct kvm_xcrs x;
		COPY_IN(x);
		return kvm_vcpu_set_xcrs(v, &x);
	}
	case KVM_GET_MSRS:
		return msr_io(arg, v, false, false);
	case KVM_SET_MSRS:
		return msr_io(arg, v, true, false);
	case KVM_SET_CPUID:
		return vcpu_cpuid1(v, arg);
	case KVM_SET_CPUID2:
		return vcpu_cpuid2(v, arg, false);
	case KVM_GET_CPUID2:
		return vcpu_cpuid2(v, arg, true);
	case KVM_GET_MP_STATE: {
		struct kvm_mp_state m;
		kvm_vcpu_get_mp_state(v, &m);
		COPY_OUT(m);
		return 0;
	}
	case KVM_SET_MP_STATE: {
		struct kvm_mp_state m;
		COPY_IN(m);
		return kvm_vcpu_set_mp_state(v, &m);
	}
	case KVM_GET_VCPU_EVENTS: {
		struct kvm_vcpu_events e;
		kvm_vcpu_get_events(v, &e);
		COPY_OUT(e);
		return 0;
	}
	case KVM_SET_VCPU_EVENTS: {
		struct kvm_vcpu_events e;
		COPY_IN(e);
		return kvm_vcpu_set_events(v, &e);
	}
	case KVM_GET_DEBUGREGS: {
		struct kvm_debugregs d;
		kvm_vcpu_get_debugregs(v, &d);
		COPY_OUT(d);
		return 0;
	}
	case KVM_SET_DEBUGREGS: {
		struct kvm_debugregs d;
		COPY_IN(d);
		return kvm_vcpu_set_debugregs(v, &d);
	}
	case KVM_TRANSLATE: {
		struct kvm_translation t;
		COPY_IN(t);
		kvm_vcpu_translate(v, &t);
		COPY_OUT(t);
		return 0;
	}
	case KVM_SET_GUEST_DEBUG: {
		struct kvm_guest_debug d;
		COPY_IN(d);
		return kvm_vcpu_set_guest_debug(v, &d);
	}
	case KVM_SET_SIGNAL_MASK:
		return vcpu_signal_mask(v, arg);
	case KVM_INTERRUPT: {
		struct kvm_interrupt i;
		COPY_IN(i);
		return kvm_vcpu_interrupt(v, i.irq);
	}
	case KVM_NMI:
		return kvm_vcpu_nmi(v);
	case KVM_ENABLE_CAP: {
		struct kvm_enable_cap c;
		COPY_IN(c);
		return kvm_vcpu_enable_cap(v, &c);
	}
	case KVM_GET_TSC_KHZ:
		return kvm_vcpu_get_tsc_khz(v);
	case KVM_SET_TSC_KHZ:
		return kvm_vcpu_set_tsc_khz(v, (uint32_t)(unsigned long)arg);
	default:
		return abi_vcpu_ioctl_irq(v, req, arg); /* else -EINVAL (kvm_arch_vcpu_ioctl) */
	}
}

/* threads inside KVM_RUN, so pthread_kill() can kick their vCPU */
#define RUNNERS 1024
static struct {
	_Atomic unsigned long thread;
	struct kvm_vcpu *_Atomic vcpu;
	_Atomic bool async_cancel; /* the thread had asynchronous cancellation enabled */
} runners[RUNNERS];

static int runner_add(struct kvm_vcpu *v, bool async_cancel)
{
	unsigned long self = (unsigned long)pthread_self();
	for (int k = 0; k < RUNNERS; k++) {
		unsigned long zero = 0;
		if (atomic_compare_exchange_strong(&runners[k].thread, &zero, self)) {
			atomic_store(&runners[k].async_cancel, async_cancel);
			atomic_store(&runners[k].vcpu, v);
			return k;
		}
	}
	return -1;
}

static void runner_del(int k)
{
	if (k < 0)
		return;
	atomic_store(&runners[k].vcpu, NULL);
	atomic_store(&runners[k].thread, 0);
}

void abi_cancel_thread(unsigned long thread)
{
	/* deferred cancellation sends no signal on Linux: KVM_RUN goes on */
	for (int k = 0; k < RUNNERS; k++) {
		if (atomic_load(&runners[k].thread) == thread &&
		    atomic_load(&runners[k].async_cancel)) {
			struct kvm_vcpu *v = atomic_load(&runners[k].vcpu);
			if (v)
				kvm_vcpu_interrupt_run(v);
		}
	}
}

void abi_kick_thread(unsigned long thread)
{
	for (int k = 0; k < RUNNERS; k++) {
		if (atomic_load(&runners[k].thread) == thread) {
			struct kvm_vcpu *v = atomic_load(&runners[k].vcpu);
			if (v)
				kvm_vcpu_kick(v);
		}
	}
}

/*
 * KVM_RUN with every asynchronous signal blocked from before the vCPU is
 * taken until after it is released: a handler, or a longjmp out of one, then
 * happens after the ioctl, never inside softkvm with the vCPU locked.
 * glibc never blocks SIGCANCEL, so thread cancellation is disabled as well;
 * an asynchronous pthread_cancel() (xapic_ipi_test) ends KVM_RUN through
 * the preload library's pthread_cancel() and takes effect when the state is
 * restored at the end.
 */
static long vcpu_run(struct kvm_vcpu *v, void *arg)
{
	sigset_t block, thread_mask;
	int cancel_state, cancel_type;
	long r;

	if (arg)
		return -EINVAL;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
	pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &cancel_type);
	bool async_cancel =
	    cancel_state == PTHREAD_CANCEL_ENABLE && cancel_type == PTHREAD_CANCEL_ASYNCHRONOUS;
	sigfillset(&block);
	/* synchronous signals stay deliverable (a fault in softkvm itself) */
	sigdelset(&block, SIGSEGV);
	sigdelset(&block, SIGBUS);
	sigdelset(&block, SIGILL);
	sigdelset(&block, SIGFPE);
	sigdelset(&block, SIGTRAP);
	sigdelset(&block, SIGABRT);
	sigdelset(&block, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &block, &thread_mask);
	kvm_vcpu_lock(v);
	int slot = runner_add(v, async_cancel);
	r = kvm_vcpu_run(v, &thread_mask);
	runner_del(slot);
	kvm_vcpu_unlock(v);
	pthread_sigmask(SIG_SETMASK, &thread_mask, NULL);
	/*
	 * A cancellation that came during KVM_RUN acts now, outside softkvm:
	 * through pthread_testcancel(), which sets the PTHREAD_CANCELED result
	 * (glibc 2.36 acting on it inside pthread_setcancelstate() does not).
	 */
	pthread_setcancelstate(cancel_state, NULL);
	if (async_cancel)
		pthread_testcancel();
	pthread_setcanceltype(cancel_type, NULL);
	return r;
}

static long vcpu_ioctl(struct kobj *o, unsigned req, void *arg)
{
	if (req == KVM_RUN)
		return vcpu_run(o->vcpu, arg);
	kvm_vcpu_lock(o->vcpu);
	long r = vcpu_ioctl_locked(o->vcpu, req, arg);
	kvm_vcpu_unlock(o->vcpu);
	return r;
}

long abi_ioctl(int fd, unsigned long request, void *arg)
{
	struct kobj *o = fdtab_get_ref(fd);
	unsigned req = (unsigned)request; /* the kernel truncates to 32 bits */
	long r;

	if (!o)
		return -EBADF;
	switch (o->type) {
	case KOBJ_SYS:
		r = sys_ioctl(req, arg);
		break;
	case KOBJ_VM:
		r = vm_ioctl(o, req, arg);
		break;
	case KOBJ_VCPU:
		r = vcpu_ioctl(o, req, arg);
		break;
	default:
		r = -ENOTTY;
	}
	kobj_put(o);
	return r;
}

void *abi_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off,
	       void *(*real_mmap)(void *, size_t, int, int, int, off_t))
{
	struct kobj *o = fdtab_get_ref(fd);
	size_t size = (size_t)kvm_vcpu_mmap_size();

	if (!o || o->type != KOBJ_VCPU) {
		if (o)
			kobj_put(o);
		errno = ENODEV;
		return MAP_FAILED;
	}
	if (off < 0 || (size_t)off > size || len > size - (size_t)off) {
		kobj_put(o);
		errno = EINVAL;
		return MAP_FAILED;
	}
	void *p = real_mmap(addr, len, prot, flags, fd, off);
	if (p == MAP_FAILED) {
		int e = errno;
		kobj_put(o);
		errno = e;
		return p;
	}
	/* the coalesced MMIO ring page is the VM's, shared by all its vCPUs */
	size_t ring_off = KVM_COALESCED_MMIO_PAGE_OFFSET * KVM_PAGE_SIZE_ABI;
	if ((size_t)off <= ring_off && ring_off + KVM_PAGE_SIZE_ABI <= (size_t)off + len) {
		struct kvm_vm *vm = kvm_vcpu_vm(o->vcpu);
		int ring_fd = kvm_vm_ring_fd(vm);
		if (ring_fd >= 0)
			real_mmap((uint8_t *)p + (ring_off - (size_t)off), KVM_PAGE_SIZE_ABI, prot,
				  (flags & ~MAP_FIXED_NOREPLACE) | MAP_FIXED, ring_fd, 0);
	}
	kobj_put(o);
	return p;
}
