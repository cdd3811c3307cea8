/* SPDX-License-Identifier: MIT */
/*
 * The VM object: memory slots (KVM_SET_USER_MEMORY_REGION with Linux 6.1's
 * checks), dirty logging, TSS/identity-map addresses, KVM_ENABLE_CAP, and
 * and the in-kernel irqchip objects (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm_internal.h"
#include "irq.h"

#define KVM_MEM_MAX_NR_PAGES ((1ull << 31) - 1)
#define TASK_SIZE_MAX	     0x00007ffffffff000ull

int kvm_vm_create(unsigned long type, struct kvm_vm **out)
{
	struct kvm_vm *vm;

	if (type != 0) /* KVM_X86_DEFAULT_VM only */
		return -EINVAL;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->mem = cpu_mem_create();
	if (!vm->mem) {
		free(vm);
		return -ENOMEM;
	}
	atomic_init(&vm->refs, 1);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->slots_lock, NULL);
	pthread_mutex_init(&vm->ring_lock, NULL);
	pthread_mutex_init(&vm->irq_lock, NULL);
	vm->svc_ep = vm->svc_ctl = vm->svc_timer = -1;
	vm->tsc_khz = SOFTKVM_DEFAULT_TSC_KHZ;
	vm->kvmclock_offset = -(int64_t)kvm_host_ns();
	*out = vm;
	return 0;
}

void kvm_vm_get(struct kvm_vm *vm)
{
	atomic_fetch_add(&vm->refs, 1);
}

static void vcpu_destroy(struct kvm_vcpu *v);

void kvm_vm_put(struct kvm_vm *vm)
{
	if (atomic_fetch_sub(&vm->refs, 1) != 1)
		return;
	irqfd_forget_vm(vm); /* no signaller reaches it any more */
	service_stop(vm);
	for (unsigned k = 0; k < vm->nvcpus; k++)
		vcpu_destroy(vm->vcpus[k]);
	ioapic_destroy(vm->ioapic);
	pic_destroy(vm->pic);
	pit_destroy(vm->pit);
	free(vm->routes);
	for (unsigned k = 0; k < vm->nirqfds; k++) {
		close(vm->irqfds[k]->fd);
		if (vm->irqfds[k]->resamplefd >= 0)
			close(vm->irqfds[k]->resamplefd);
		free(vm->irqfds[k]);
	}
	for (unsigned k = 0; k < vm->nioeventfds; k++)
		close(vm->ioeventfds[k].fd);
	pthread_mutex_destroy(&vm->irq_lock);
	cpu_mem_destroy(vm->mem);
	free(vm->slots);
	free(atomic_load(&vm->coalesced));
	if (vm->coalesced_ring)
		munmap(vm->coalesced_ring, KVM_PAGE_SIZE);
	if (vm->ring_fd > 0)
		close(vm->ring_fd);
	struct kvm_msr_filter_int *f = atomic_load(&vm->msr_filter);
	if (f) {
		for (unsigned r = 0; r < f->nranges; r++)
			free(f->r[r].bitmap);
		free(f);
	}
	pthread_mutex_destroy(&vm->slots_lock);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

static void vcpu_destroy(struct kvm_vcpu *v)
{
	if (!v)
		return;
	cpu_destroy(v->cpu);
	lapic_destroy(v->lapic);
	if (v->wake_fd >= 0)
		close(v->wake_fd);
	if (v->sig_fd >= 0)
		close(v->sig_fd);
	kvm_steal_destroy(v);
	free(v->cpuid);
	free(v->cpuid_index);
	munmap(v->run, KVM_PAGE_SIZE * SOFTKVM_VCPU_MMAP_PAGES);
	pthread_mutex_destroy(&v->mutex);
	free(v);
}

void kvm_vm_synchronize(struct kvm_vm *vm)
{
	cpu_mem_synchronize(vm->mem);
}

void kvm_vm_set_coalesced_ring(struct kvm_vm *vm, void *page, int fd)
{
	vm->coalesced_ring = page;
	vm->ring_fd = fd;
}

int kvm_vm_ring_fd(struct kvm_vm *vm)
{
	return vm->ring_fd;
}

/* ---- memory slots ---- */

static struct kvm_slot *slot_find(struct kvm_vm *vm, uint32_t id)
{
	for (unsigned k = 0; k < vm->nslots; k++)
		if (vm->slots[k].id == id)
			return &vm->slots[k];
	return NULL;
}

static bool slot_overlaps(struct kvm_vm *vm, uint32_t id, uint64_t gpa, uint64_t size)
{
	for (unsigned k = 0; k < vm->nslots; k++) {
		const struct kvm_slot *s = &vm->slots[k];
		if (s->id == id)
			continue;
		if (gpa < s->gpa + s->size && s->gpa < gpa + size)
			return true;
	}
	return false;
}

static uint64_t manual_dirty_log(struct kvm_vm *vm)
{
	return __atomic_load_n(&vm->manual_dirty_log, __ATOMIC_RELAXED);
}

static uint32_t cpu_flags_of(const struct kvm_slot *s, bool initially_set)
{
	uint32_t f = 0;
	if (s->flags & KVM_MEM_READONLY)
		f |= CPU_MEM_READONLY;
	if (s->flags & KVM_MEM_LOG_DIRTY_PAGES) {
		f |= CPU_MEM_LOG_DIRTY;
		if (initially_set)
			f |= CPU_MEM_DIRTY_INIT_SET;
	}
	return f;
}

int kvm_vm_set_memory_region(struct kvm_vm *vm, const struct kvm_userspace_memory_region *m)
{
	uint32_t as_id = m->slot >> 16, id = (uint16_t)m->slot;
	struct kvm_slot *old, ns;
	int r = 0;

	if (m->flags & ~(uint32_t)(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY))
		return -EINVAL;
	if (id >= SOFTKVM_USER_MEM_SLOTS || as_id != 0)
		return -EINVAL;
	if ((m->memory_size | m->guest_phys_addr) & (KVM_PAGE_SIZE - 1))
		return -EINVAL;
	if ((m->userspace_addr & (KVM_PAGE_SIZE - 1)) || m->userspace_addr > TASK_SIZE_MAX ||
	    m->memory_size > TASK_SIZE_MAX - m->userspace_addr)
		return -EINVAL;
	if (m->guest_phys_addr + m->memory_size < m->guest_phys_addr)
		return -EINVAL;

	/* slots_lock, not vm->lock: the change waits for the vCPUs in cpu_run(),
	 * which take vm->lock (IPIs, hypercalls) but never slots_lock */
	pthread_mutex_lock(&vm->slots_lock);
	old = slot_find(vm, id);
	if (!m->memory_size) {
		if (!old) {
			r = -EINVAL;
			goto out;
		}
		/* returns when no vCPU can touch the old memory any more */
		r = cpu_mem_set_slot(vm->mem, id, 0, 0, NULL, 0);
		if (!r)
			*old = vm->slots[--vm->nslots];
		goto out;
	}
	if ((m->memory_size >> 12) > KVM_MEM_MAX_NR_PAGES) {
		r = -EINVAL;
		goto out;
	}
	ns.id = id;
	ns.flags = m->flags;
	ns.gpa = m->guest_phys_addr;
	ns.size = m->memory_size;
	ns.hva = m->userspace_addr;
	ns.dirty_initially_set = false;
	if (old) {
		if (old->hva != ns.hva || old->size != ns.size ||
		    ((old->flags ^ ns.flags) & KVM_MEM_READONLY)) {
			r = -EINVAL;
			goto out;
		}
		if (old->gpa == ns.gpa && old->flags == ns.flags)
			goto out; /* no change */
	}
	if ((!old || old->gpa != ns.gpa) && slot_overlaps(vm, id, ns.gpa, ns.size)) {
		r = -EEXIST;
		goto out;
	}
	if (!old && vm->nslots == vm->slots_cap) {
		unsigned cap = vm->slots_cap ? vm->slots_cap * 2 : 16;
		struct kvm_slot *p = realloc(vm->slots, cap * sizeof(*p));
		if (!p) {
			r = -ENOMEM;
			goto out;
		}
		vm->slots = p;
		vm->slots_cap = cap;
	}
	/* dirty logging switched on: start from a clear (or, with manual
	 * protection and KVM_DIRTY_LOG_INITIALLY_SET, a full) bitmap */
	bool init_set = (ns.flags & KVM_MEM_LOG_DIRTY_PAGES) &&
			(!old || !(old->flags & KVM_MEM_LOG_DIRTY_PAGES)) &&
			(manual_dirty_log(vm) & KVM_DIRTY_LOG_INITIALLY_SET);
	/* a move or flags change also returns only when the old placement is unused */
	r = cpu_mem_set_slot(vm->mem, id, ns.gpa, ns.size, (void *)(uintptr_t)ns.hva,
			     cpu_flags_of(&ns, init_set));
	if (r)
		goto out;
	if (old)
		*old = ns;
	else
		vm->slots[vm->nslots++] = ns;
out:
	pthread_mutex_unlock(&vm->slots_lock);
	return r;
}

/* the dirty-logged slot's pages; slots_lock held */
static int slot_npages_locked(struct kvm_vm *vm, uint32_t slot, uint64_t *npages)
{
	struct kvm_slot *s;

	if ((slot >> 16) || (uint16_t)slot >= SOFTKVM_USER_MEM_SLOTS)
		return -EINVAL;
	s = slot_find(vm, (uint16_t)slot);
	if (!s || !(s->flags & KVM_MEM_LOG_DIRTY_PAGES))
		return -ENOENT;
	*npages = s->size >> 12;
	return 0;
}

int kvm_vm_slot_npages(struct kvm_vm *vm, uint32_t slot, uint64_t *npages)
{
	pthread_mutex_lock(&vm->slots_lock);
	int r = slot_npages_locked(vm, slot, npages);
	pthread_mutex_unlock(&vm->slots_lock);
	return r;
}

int kvm_vm_get_dirty_log(struct kvm_vm *vm, uint32_t slot, uint64_t **bitmap, size_t *bytes)
{
	uint64_t npages;
	uint64_t *b = NULL;

	/* the slot cannot change size between sizing the buffer and filling it */
	pthread_mutex_lock(&vm->slots_lock);
	int r = slot_npages_locked(vm, slot, &npages);
	if (r)
		goto out;
	size_t words = (npages + 63) / 64;
	b = calloc(words ? words : 1, 8);
	if (!b) {
		r = -ENOMEM;
		goto out;
	}
	/* with manual protection, KVM_GET_DIRTY_LOG does not clear */
	r = cpu_mem_get_dirty(vm->mem, (uint16_t)slot, b,
			      !(manual_dirty_log(vm) & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE));
	if (r) {
		free(b);
		r = -ENOENT;
		goto out;
	}
	*bitmap = b;
	*bytes = words * 8;
out:
	pthread_mutex_unlock(&vm->slots_lock);
	return r;
}

int kvm_vm_clear_dirty_log(struct kvm_vm *vm, const struct kvm_clear_dirty_log *c,
			   const uint64_t *bitmap)
{
	uint64_t npages;

	pthread_mutex_lock(&vm->slots_lock);
	int r = slot_npages_locked(vm, c->slot, &npages);
	if (r)
		goto out;
	if ((c->first_page & 63) || c->first_page > npages ||
	    c->num_pages > npages - c->first_page ||
	    (c->num_pages < npages - c->first_page && (c->num_pages & 63))) {
		r = -EINVAL;
		goto out;
	}
	r = cpu_mem_clear_dirty(vm->mem, (uint16_t)c->slot, c->first_page, c->num_pages, bitmap)
		? -EINVAL
		: 0;
out:
	pthread_mutex_unlock(&vm->slots_lock);
	return r;
}

int kvm_vm_set_tss_addr(struct kvm_vm *vm, unsigned long addr)
{
	/* VMX: the three-page TSS must lie below 4 GiB */
	if (addr > 0xffffffffull - 3 * KVM_PAGE_SIZE + 1)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	vm->tss_addr = addr;
	vm->tss_set = true;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

int kvm_vm_set_identity_map_addr(struct kvm_vm *vm, uint64_t addr)
{
	int r = 0;
	pthread_mutex_lock(&vm->lock);
	/* must come before the first vCPU (Linux: -EINVAL afterwards) */
	if (vm->vcpu_created)
		r = -EINVAL;
	else {
		vm->ident_addr = addr;
		vm->ident_set = true;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

/*
 * The zones are an immutable array the vCPUs read inside cpu_run() without a
 * lock; a change publishes a new one and frees the old after a grace period.
 */
int kvm_vm_register_coalesced_mmio(struct kvm_vm *vm, const struct kvm_coalesced_mmio_zone *z,
				   bool add)
{
	struct kvm_coalesced_zones *old, *nz;
	int r = 0;

	if (z->pio > 1)
		return -EINVAL;
	nz = malloc(sizeof(*nz) + KVM_MAX_COALESCED * sizeof(nz->z[0]));
	if (!nz)
		return -ENOMEM;
	pthread_mutex_lock(&vm->lock);
	old = atomic_load_explicit(&vm->coalesced, memory_order_relaxed);
	nz->n = 0;
	for (unsigned k = 0; old && k < old->n; k++) {
		const struct kvm_coalesced_mmio_zone *e = &old->z[k];
		/* unregister every zone that contains the given range
		 * (kvm_vm_ioctl_unregister_coalesced_mmio, coalesced_mmio_in_range) */
		if (!add && e->pio == z->pio && z->addr >= e->addr &&
		    z->addr + z->size >= z->addr && z->addr + z->size <= e->addr + e->size)
			continue;
		nz->z[nz->n++] = *e;
	}
	if (add) {
		/* a full I/O bus is ENOSPC (kvm_io_bus_register_dev) */
		if (nz->n == KVM_MAX_COALESCED)
			r = -ENOSPC;
		else
			nz->z[nz->n++] = *z;
	}
	if (r || (old ? old->n : 0) == nz->n) {
		pthread_mutex_unlock(&vm->lock);
		free(nz); /* nothing changed */
		return r;
	}
	atomic_store_explicit(&vm->coalesced, nz, memory_order_release);
	pthread_mutex_unlock(&vm->lock);
	if (old) {
		kvm_vm_synchronize(vm);
		free(old);
	}
	return 0;
}

int kvm_vm_enable_cap(struct kvm_vm *vm, const struct kvm_enable_cap *cap)
{
	int r = 0;

	if (cap->flags)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	switch (cap->cap) {
	case KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: {
		/* INITIALLY_SET only together with ENABLE (kvm_vm_ioctl_enable_cap_generic) */
		uint64_t allowed = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
		if (cap->args[0] & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)
			allowed |= KVM_DIRTY_LOG_INITIALLY_SET;
		if (cap->args[0] & ~allowed)
			r = -EINVAL;
		else
			__atomic_store_n(&vm->manual_dirty_log, cap->args[0], __ATOMIC_RELAXED);
		break;
	}
	case KVM_CAP_SPLIT_IRQCHIP:
		if (cap->args[0] > 48) /* MAX_NR_RESERVED_IOAPIC_PINS */
			r = -EINVAL;
		else if (vm->irqchip_in_kernel || vm->split_irqchip || vm->vcpu_created)
			r = -EEXIST;
		else {
			vm->split_irqchip = true;
			vm->nr_reserved_ioapic_pins = (uint32_t)cap->args[0];
			r = service_start(vm);
		}
		break;
	case KVM_CAP_SOFTKVM_QUIRKS:
		if ((cap->args[0] & ~SOFTKVM_QUIRKS_ALL) || vm->vcpu_created)
			r = -EINVAL;
		else
			vm->softkvm_quirks = cap->args[0];
		break;
	case KVM_CAP_MAX_VCPU_ID:
		/* once, before the first vCPU fixes it (Linux kvm_vm_ioctl_enable_cap) */
		if (cap->args[0] > SOFTKVM_MAX_VCPU_ID ||
		    (vm->max_vcpu_ids && vm->max_vcpu_ids != cap->args[0]))
			r = -EINVAL;
		else
			vm->max_vcpu_ids = (uint32_t)cap->args[0];
		break;
	case KVM_CAP_X86_DISABLE_EXITS:
		/* Linux 6.1: any time, but vCPUs take it at creation (their VMCS) */
		if (cap->args[0] & ~(uint64_t)KVM_X86_DISABLE_VALID_EXITS)
			r = -EINVAL;
		else if (cap->args[0] & KVM_X86_DISABLE_EXITS_MWAIT)
			__atomic_store_n(&vm->mwait_in_guest, true, __ATOMIC_RELAXED);
		break;
	case KVM_CAP_X86_USER_SPACE_MSR:
		if (cap->args[0] &
		    ~(uint64_t)(KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN |
				KVM_MSR_EXIT_REASON_FILTER))
			r = -EINVAL;
		else
			vm->user_space_msr_mask = (uint32_t)cap->args[0];
		break;
	default:
		r = -EINVAL;
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

/* ---- in-kernel irqchip ---- */

int kvm_vm_create_irqchip(struct kvm_vm *vm)
{
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->irqchip_in_kernel || vm->split_irqchip) {
		r = -EEXIST;
		goto out;
	}
	if (vm->vcpu_created) {
		r = -EINVAL;
		goto out;
	}
	vm->pic = pic_create(vm);
	vm->ioapic = ioapic_create(vm);
	if (!vm->pic || !vm->ioapic) {
		pic_destroy(vm->pic);
		ioapic_destroy(vm->ioapic);
		vm->pic = NULL;
		vm->ioapic = NULL;
		r = -ENOMEM;
		goto out;
	}
	r = irq_setup_default_routing(vm);
	if (!r)
		r = service_start(vm);
	if (!r)
		vm->irqchip_in_kernel = true;
out:
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int kvm_vm_create_pit2(struct kvm_vm *vm, const struct kvm_pit_config *cfg)
{
	int r = 0;
	pthread_mutex_lock(&vm->lock);
	if (vm->pit)
		r = -EEXIST;
	else if (!vm->pic)
		r = -ENOENT;
	else {
		struct kvm_pit *p = pit_create(vm, cfg->flags);
		if (!p)
			r = -ENOMEM;
		pthread_mutex_lock(&vm->irq_lock);
		vm->pit = p;
		pthread_mutex_unlock(&vm->irq_lock);
	}
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int kvm_vm_get_irqchip(struct kvm_vm *vm, struct kvm_irqchip *c)
{
	if (!vm->irqchip_in_kernel)
		return -ENXIO;
	pthread_mutex_lock(&vm->irq_lock);
	int r = 0;
	switch (c->chip_id) {
	case KVM_IRQCHIP_PIC_MASTER:
	case KVM_IRQCHIP_PIC_SLAVE:
		memset(&c->chip, 0, sizeof(c->chip));
		pic_get_state(vm->pic, (int)c->chip_id, &c->chip.pic);
		break;
	case KVM_IRQCHIP_IOAPIC:
		ioapic_get_state(vm->ioapic, &c->chip.ioapic);
		break;
	default:
		r = -EINVAL;
	}
	pthread_mutex_unlock(&vm->irq_lock);
	return r;
}

int kvm_vm_set_irqchip(struct kvm_vm *vm, const struct kvm_irqchip *c)
{
	if (!vm->irqchip_in_kernel)
		return -ENXIO;
	pthread_mutex_lock(&vm->irq_lock);
	int r = 0;
	switch (c->chip_id) {
	case KVM_IRQCHIP_PIC_MASTER:
	case KVM_IRQCHIP_PIC_SLAVE:
		pic_set_state(vm->pic, (int)c->chip_id, &c->chip.pic);
		break;
	case KVM_IRQCHIP_IOAPIC:
		ioapic_set_state(vm->ioapic, &c->chip.ioapic);
		break;
	default:
		r = -EINVAL;
	}
	pthread_mutex_unlock(&vm->irq_lock);
	return r;
}

int kvm_vm_get_pit2(struct kvm_vm *vm, struct kvm_pit_state2 *s)
{
	if (!vm->pit)
		return -ENXIO;
	pthread_mutex_lock(&vm->irq_lock);
	pit_get_state(vm->pit, s);
	pthread_mutex_unlock(&vm->irq_lock);
	return 0;
}

int kvm_vm_set_pit2(struct kvm_vm *vm, const struct kvm_pit_state2 *s)
{
	if (!vm->pit)
		return -ENXIO;
	pthread_mutex_lock(&vm->irq_lock);
	pit_set_state(vm->pit, s);
	pthread_mutex_unlock(&vm->irq_lock);
	service_wake(vm);
	return 0;
}
