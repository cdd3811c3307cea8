/* SPDX-License-Identifier: MIT */
/*
 * Guest memory through the ABI (Linux 6.1, api.rst 4.8 KVM_GET_DIRTY_LOG,
 * 4.35 KVM_SET_USER_MEMORY_REGION, 4.116 KVM_CLEAR_DIRTY_LOG, 4.67
 * KVM_REGISTER_COALESCED_MMIO, 7.18 KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2):
 * dirty logging with and without manual protection and INITIALLY_SET, the
 * CLEAR_DIRTY_LOG range rules, read-only slots (reads from memory, writes
 * exit as MMIO), the coalesced MMIO and PIO ring, including a full ring.
 * argv[1]: the guest binary (guest_mem.asm).
 */
#include "kvmtest.h"

#define LOG_SLOT  1
#define LOG_GPA	  0x10000
#define RO_SLOT	  2
#define RO_GPA	  0x20000
#define BIG_SLOT  3
#define BIG_GPA	  0x30000
#define BIG_PAGES 128

static uint8_t *alloc(size_t n)
{
	return mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void add_slot(int vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva, uint32_t flags)
{
	struct kvm_userspace_memory_region r = {slot, flags, gpa, size, (uintptr_t)hva};
	KT_EQ(KT_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
}

static uint64_t dirty_word(int vm, uint32_t slot, unsigned word)
{
	uint64_t bm[BIG_PAGES / 64] = {0};
	struct kvm_dirty_log d = {.slot = slot, .dirty_bitmap = bm};
	if (KT_IOCTL(vm, KVM_GET_DIRTY_LOG, &d))
		return ~0ull;
	return bm[word];
}

static void run_to_port(struct kt_vm *t, uint16_t port)
{
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	KT_EQ(t->run->exit_reason, KVM_EXIT_IO);
	KT_EQ(t->run->io.port, port);
	KT_EQ(t->run->io.direction, KVM_EXIT_IO_OUT);
}

static int clear_log(int vm, uint32_t slot, uint64_t first, uint32_t num, const uint64_t *bm)
{
	struct kvm_clear_dirty_log c = {
	    .slot = slot, .num_pages = num, .first_page = first, .dirty_bitmap = (void *)bm};
	return KT_IOCTL(vm, KVM_CLEAR_DIRTY_LOG, &c);
}

static void test_dirty_log(struct kt_vm *t, uint8_t *big)
{
	/* no manual protection: GET_DIRTY_LOG returns and clears */
	run_to_port(t, 0x10);
	KT_EQ(dirty_word(t->vm, LOG_SLOT, 0), (1u << 0) | (1u << 3) | (1u << 9));
	KT_EQ(dirty_word(t->vm, LOG_SLOT, 0), 0);
	run_to_port(t, 0x10);
	KT_EQ(dirty_word(t->vm, LOG_SLOT, 0), 1u << 5);

	/* bad bitmap pointer */
	struct kvm_dirty_log d = {.slot = LOG_SLOT, .dirty_bitmap = (void *)16};
	KT_FAILS(KT_IOCTL(t->vm, KVM_GET_DIRTY_LOG, &d), EFAULT);

	/* manual protection with INITIALLY_SET: a slot that starts logging is all dirty */
	KT_EQ(KT_IOCTL(t->vm, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2),
	      KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET);
	struct kvm_enable_cap cap = {
	    .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
	    .args = {KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET}};
	KT_EQ(KT_IOCTL(t->vm, KVM_ENABLE_CAP, &cap), 0);
	add_slot(t->vm, BIG_SLOT, BIG_GPA, BIG_PAGES * 4096ull, big, KVM_MEM_LOG_DIRTY_PAGES);
	KT_EQ(dirty_word(t->vm, BIG_SLOT, 0), ~0ull);
	KT_EQ(dirty_word(t->vm, BIG_SLOT, 1), ~0ull);
	/* GET does not clear any more; CLEAR does */
	KT_EQ(dirty_word(t->vm, BIG_SLOT, 1), ~0ull);
	uint64_t ones[2] = {~0ull, ~0ull};
	KT_EQ(clear_log(t->vm, BIG_SLOT, 0, BIG_PAGES, ones), 0);
	KT_EQ(dirty_word(t->vm, BIG_SLOT, 0), 0);
	KT_EQ(dirty_word(t->vm, BIG_SLOT, 1), 0);

	run_to_port(t, 0x10);
	KT_EQ(dirty_word(t->vm, BIG_SLOT, 0), 1u << 1);
	KT_EQ(dirty_word(t->vm, BIG_SLOT, 1), 1u << 6);
	KT_EQ(dirty_word(t->vm, BIG_SLOT, 1), 1u << 6);
	/* clear only what the mask says, from an aligned first page */
	uint64_t bit6 = 1u << 6, bit0 = 1;
	KT_EQ(clear_log(t->vm, BIG_SLOT, 64, 64, &bit6), 0);
	KT_EQ(dirty_word(t->vm, BIG_SLOT, 1), 0);
	KT_EQ(dirty_word(t->vm, BIG_SLOT, 0), 1u << 1);
	KT_EQ(clear_log(t->vm, BIG_SLOT, 0, 64, &bit0), 0);
	KT_EQ(dirty_word(t->vm, BIG_SLOT, 0), 1u << 1);
	uint64_t bit1 = 1u << 1;
	KT_EQ(clear_log(t->vm, BIG_SLOT, 0, 64, &bit1), 0);
	KT_EQ(dirty_word(t->vm, BIG_SLOT, 0), 0);

	/* the range rules of kvm_clear_dirty_log_protect() */
	KT_FAILS(clear_log(t->vm, BIG_SLOT, 1, 63, ones), EINVAL);  /* unaligned first page */
	KT_FAILS(clear_log(t->vm, BIG_SLOT, 0, 10, ones), EINVAL);  /* short, not 64n */
	KT_FAILS(clear_log(t->vm, BIG_SLOT, 64, 65, ones), EINVAL); /* beyond the slot */
	KT_FAILS(clear_log(t->vm, BIG_SLOT, 192, 0, ones), EINVAL); /* first page beyond */
	KT_EQ(clear_log(t->vm, BIG_SLOT, 128, 0, ones), 0);	    /* nothing, at the end */
	KT_FAILS(clear_log(t->vm, BIG_SLOT, 0, 64, (void *)16), EFAULT);
	KT_FAILS(clear_log(t->vm, 0, 0, 64, ones), ENOENT); /* slot 0 does not log */

	/* logging switched off and on again: INITIALLY_SET applies again */
	struct kvm_userspace_memory_region r = {BIG_SLOT, 0, BIG_GPA, BIG_PAGES * 4096ull,
						(uintptr_t)big};
	KT_EQ(KT_IOCTL(t->vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	KT_FAILS(clear_log(t->vm, BIG_SLOT, 0, 64, ones), ENOENT);
	r.flags = KVM_MEM_LOG_DIRTY_PAGES;
	KT_EQ(KT_IOCTL(t->vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	KT_EQ(dirty_word(t->vm, BIG_SLOT, 0), ~0ull);
}

static void test_readonly(struct kt_vm *t, uint8_t *ro)
{
	/* the read comes from memory */
	run_to_port(t, 0x11);
	KT_EQ(*((uint8_t *)t->run + t->run->io.data_offset), 0x5a);
	/* the write exits as MMIO and does not reach memory */
	KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
	KT_EQ(t->run->exit_reason, KVM_EXIT_MMIO);
	KT_EQ(t->run->mmio.phys_addr, RO_GPA);
	KT_EQ(t->run->mmio.is_write, 1);
	KT_EQ(t->run->mmio.len, 1);
	KT_EQ(t->run->mmio.data[0], 0x77);
	KT_EQ(ro[0], 0x5a);
	run_to_port(t, 0x12);
}

static struct kvm_coalesced_mmio_ring *ring_of(struct kt_vm *t)
{
	return (void *)((uint8_t *)t->run + KVM_COALESCED_MMIO_PAGE_OFFSET * 4096);
}

static unsigned ring_max(void)
{
	return (4096 - sizeof(struct kvm_coalesced_mmio_ring)) / sizeof(struct kvm_coalesced_mmio);
}

static unsigned ring_count(struct kvm_coalesced_mmio_ring *r)
{
	return (r->last + ring_max() - r->first) % ring_max();
}

static void test_coalesced(struct kt_vm *t)
{
	struct kvm_coalesced_mmio_ring *ring = ring_of(t);
	unsigned max = ring_max();
	struct kvm_coalesced_mmio *e;

	KT_EQ(KT_IOCTL(t->kvm, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO),
	      KVM_COALESCED_MMIO_PAGE_OFFSET);
	KT_EQ(KT_IOCTL(t->kvm, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO), 1);

	/* three writes of different sizes, no exit for any */
	run_to_port(t, 0x13);
	KT_EQ(ring_count(ring), 3);
	e = &ring->coalesced_mmio[ring->first];
	KT_EQ(e->phys_addr, 0xd0000);
	KT_EQ(e->len, 1);
	KT_EQ(e->pio, 0);
	KT_EQ(e->data[0], 0xa1);
	e = &ring->coalesced_mmio[(ring->first + 1) % max];
	KT_EQ(e->phys_addr, 0xd0002);
	KT_EQ(e->len, 2);
	KT_EQ(e->data[0] | e->data[1] << 8, 0xb2c3);
	e = &ring->coalesced_mmio[(ring->first + 2) % max];
	KT_EQ(e->phys_addr, 0xd0004);
	KT_EQ(e->len, 4);
	uint32_t d;
	memcpy(&d, e->data, 4);
	KT_EQ(d, 0xd4e5f607);
	ring->first = ring->last;

	/* a coalesced port write */
	run_to_port(t, 0x14);
	KT_EQ(ring_count(ring), 1);
	e = &ring->coalesced_mmio[ring->first];
	KT_EQ(e->pio, 1);
	KT_EQ(e->phys_addr, 0x70);
	KT_EQ(e->len, 1);
	KT_EQ(e->data[0], 0x42);
	ring->first = ring->last;

	/* 200 writes: the ring holds max - 1, then a write exits as MMIO */
	unsigned coalesced = 0, exited = 0;
	for (;;) {
		KT_EQ(KT_IOCTL(t->vcpu, KVM_RUN, 0), 0);
		coalesced += ring_count(ring);
		if (t->run->exit_reason == KVM_EXIT_MMIO) {
			KT_EQ(ring_count(ring), max - 1);
			KT_EQ(t->run->mmio.phys_addr, 0xd0008);
			KT_EQ(t->run->mmio.is_write, 1);
			exited++;
		} else {
			KT_EQ(t->run->exit_reason, KVM_EXIT_IO);
			KT_EQ(t->run->io.port, 0x15);
			break;
		}
		ring->first = ring->last;
		if (exited > 200)
			break;
	}
	KT_EQ(coalesced + exited, 200);
	KT_CHECK(exited >= 1);
	ring->first = ring->last;

	/* unregistering a range inside a zone removes the zone (coalesced_mmio_in_range) */
	struct kvm_coalesced_mmio_zone z = {.addr = 0xd0010, .size = 4, .pio = 0};
	KT_EQ(KT_IOCTL(t->vm, KVM_UNREGISTER_COALESCED_MMIO, &z), 0);
	KT_EQ(KT_IOCTL(t->vm, KVM_UNREGISTER_COALESCED_MMIO, &z), 0); /* nothing left: still 0 */
}

int main(int argc, char **argv)
{
	struct kt_vm t;
	if (argc < 2) {
		fprintf(stderr, "usage: %s guest_mem.bin\n", argv[0]);
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	KT_CHECK(f != NULL);
	if (!f)
		return kt_done("test_memory");
	/* slot 0: 64 KiB of RAM with the code at 0x1000 */
	KT_EQ(kt_vm_create(&t, 0x10000), 0);
	size_t n = fread(t.mem + 0x1000, 1, 0x4000, f);
	fclose(f);
	KT_CHECK(n > 0);
	kt_real_mode(&t, 0x1000);

	uint8_t *logged = alloc(0x10000), *ro = alloc(4096), *big = alloc(BIG_PAGES * 4096);
	add_slot(t.vm, LOG_SLOT, LOG_GPA, 0x10000, logged, KVM_MEM_LOG_DIRTY_PAGES);
	KT_EQ(KT_IOCTL(t.kvm, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM), 1);
	ro[0] = 0x5a;
	add_slot(t.vm, RO_SLOT, RO_GPA, 4096, ro, KVM_MEM_READONLY);
	/* a fresh logged slot starts clean without INITIALLY_SET */
	KT_EQ(dirty_word(t.vm, LOG_SLOT, 0), 0);

	struct kvm_coalesced_mmio_zone mz = {.addr = 0xd0000, .size = 0x1000, .pio = 0};
	struct kvm_coalesced_mmio_zone pz = {.addr = 0x70, .size = 1, .pio = 1};
	KT_EQ(KT_IOCTL(t.vm, KVM_REGISTER_COALESCED_MMIO, &mz), 0);
	KT_EQ(KT_IOCTL(t.vm, KVM_REGISTER_COALESCED_MMIO, &pz), 0);

	test_dirty_log(&t, big);
	KT_EQ(logged[0], 1);
	KT_EQ(logged[0x5000], 2);
	KT_EQ(big[0x1000], 3);
	test_readonly(&t, ro);
	test_coalesced(&t);
	KT_EQ(KT_IOCTL(t.vcpu, KVM_RUN, 0), 0);
	KT_EQ(t.run->exit_reason, KVM_EXIT_HLT);
	kt_vm_destroy(&t);
	return kt_done("test_memory");
}
