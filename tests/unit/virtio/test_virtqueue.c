/* SPDX-License-Identifier: MIT */
/*
 * The split-virtqueue parser (vmm/virtio/virtqueue.c) against rings a
 * hostile driver writes: the rules one by one, the memory map changing
 * under a queue, EVENT_IDX, and then random rings (random descriptors,
 * addresses, flags, lengths, indices) where every buffer handed out is
 * checked to lie in guest RAM and is read and written whole, so that an
 * access outside the guest's memory (each region is its own exactly-sized
 * allocation) is caught by ASan in the sanitizer build. All of it once more
 * on the benchmark's slow path (rings translated on every access), after a
 * test that tells the two paths apart.
 *
 *   test_virtqueue [ITERATIONS [SEED]]
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../unit.h"
#include "virtio/virtio.h"

#define LOW_GPA	 0x10000ull
#define LOW_SIZE 0x10000ull /* rings and buffers */
#define HI_GPA	 0x100000ull
#define HI_SIZE	 0x8000ull

#define DESC  (LOW_GPA + 0x0000)
#define AVAIL (LOW_GPA + 0x1000)
#define USED  (LOW_GPA + 0x2000)
#define ITAB  (LOW_GPA + 0x3000)
#define BUF   (LOW_GPA + 0x8000)

static struct virtio_mem mem;

static void *hva(uint64_t gpa)
{
	return virtio_mem_map(&mem, gpa, 1);
}

static void mem_init(void)
{
	for (unsigned k = 0; k < mem.n; k++)
		free(mem.r[k].hva);
	memset(&mem, 0, sizeof(mem));
	mem.r[0] = (struct virtio_mem_region){LOW_GPA, LOW_SIZE, calloc(1, LOW_SIZE)};
	mem.r[1] = (struct virtio_mem_region){HI_GPA, HI_SIZE, calloc(1, HI_SIZE)};
	mem.n = 2;
}

static void set_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc *d = (struct virtq_desc *)hva(DESC) + i;
	*d = (struct virtq_desc){addr, len, flags, next};
}

static uint16_t *avail(void)
{
	return hva(AVAIL);
}

static uint16_t *used(void)
{
	return hva(USED);
}

/* the driver makes chain `head` available */
static void offer(struct virtq *vq, uint16_t head)
{
	uint16_t *a = avail();
	a[2 + (a[1] & (vq->size - 1))] = head;
	a[1]++;
}

static void setup(struct virtq *vq, uint16_t size)
{
	virtq_reset(vq);
	memset(mem.r[0].hva, 0, LOW_SIZE);
	vq->size = size;
	vq->desc_gpa = DESC;
	vq->avail_gpa = AVAIL;
	vq->used_gpa = USED;
	vq->indirect = true;
	CHECK_EQ(virtq_setup(vq, &mem), 0);
}

static struct virtq_chain chain;

static int pop(struct virtq *vq)
{
	return virtq_pop(vq, &mem, &chain);
}

static void test_valid_chain(void)
{
	struct virtq vq;

	setup(&vq, 8);
	CHECK_EQ(pop(&vq), 0); /* empty */
	set_desc(3, BUF, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(5, HI_GPA, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
	set_desc(0, BUF + 16, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(&vq, 3);
	CHECK_EQ(pop(&vq), 1);
	CHECK_EQ(chain.head, 3);
	CHECK_EQ(chain.nout, 1);
	CHECK_EQ(chain.nin, 2);
	CHECK_EQ(chain.out_len, 16);
	CHECK_EQ(chain.in_len, 513);
	CHECK(chain.iov[1].iov_base == mem.r[1].hva);
	CHECK_EQ(pop(&vq), 0);
	virtq_push(&vq, 3, 513);
	CHECK_EQ(used()[1], 1);
	CHECK_EQ(((uint32_t *)(used() + 2))[0], 3);
	CHECK_EQ(((uint32_t *)(used() + 2))[1], 513);
	CHECK(vq.error == NULL);
	/* a zero-length descriptor is passed over */
	set_desc(1, 0, 0, VIRTQ_DESC_F_NEXT, 2);
	set_desc(2, BUF, 8, 0, 0);
	offer(&vq, 1);
	CHECK_EQ(pop(&vq), 1);
	CHECK_EQ(chain.nout, 1);
	CHECK_EQ(chain.out_len, 8);
}

/* one broken chain: pop fails, the error sticks */
static void expect_broken(struct virtq *vq, const char *what)
{
	int r = pop(vq);
	CHECK_EQ(r, -EINVAL);
	CHECK(vq->error != NULL);
	if (r != -EINVAL)
		fprintf(stderr, "  (%s was accepted)\n", what);
	CHECK_EQ(pop(vq), -EINVAL);
}

static void test_rules(void)
{
	struct virtq vq;

	setup(&vq, 8);
	offer(&vq, 8);
	expect_broken(&vq, "a head out of range");

	setup(&vq, 8);
	set_desc(0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, BUF, 4, VIRTQ_DESC_F_NEXT, 0);
	offer(&vq, 0);
	expect_broken(&vq, "a loop");

	setup(&vq, 8);
	set_desc(0, BUF, 4, VIRTQ_DESC_F_NEXT, 0);
	offer(&vq, 0);
	expect_broken(&vq, "a descriptor pointing at itself");

	setup(&vq, 8);
	set_desc(0, BUF, 4, VIRTQ_DESC_F_NEXT, 9);
	offer(&vq, 0);
	expect_broken(&vq, "a next index out of range");

	setup(&vq, 8);
	set_desc(0, 0x50000, 4, 0, 0);
	offer(&vq, 0);
	expect_broken(&vq, "a buffer outside RAM");

	setup(&vq, 8);
	set_desc(0, LOW_GPA + LOW_SIZE - 4, 8, 0, 0);
	offer(&vq, 0);
	expect_broken(&vq, "a buffer across the end of RAM");

	setup(&vq, 8);
	set_desc(0, ~0ull - 10, 100, 0, 0);
	offer(&vq, 0);
	expect_broken(&vq, "a buffer whose address + length overflows");

	setup(&vq, 8);
	set_desc(0, BUF, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, BUF, 4, 0, 0);
	offer(&vq, 0);
	expect_broken(&vq, "a readable buffer after a writable one");

	setup(&vq, 8);
	avail()[1] = 9;
	expect_broken(&vq, "an avail index 9 ahead of a queue of 8");

	/* indirect tables */
	setup(&vq, 8);
	struct virtq_desc *it = hva(ITAB);
	it[0] = (struct virtq_desc){BUF, 16, VIRTQ_DESC_F_NEXT, 2};
	it[2] = (struct virtq_desc){BUF + 16, 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1};
	it[1] = (struct virtq_desc){BUF + 200, 1, VIRTQ_DESC_F_WRITE, 0};
	set_desc(4, ITAB, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(&vq, 4);
	CHECK_EQ(pop(&vq), 1);
	CHECK_EQ(chain.head, 4);
	CHECK_EQ(chain.nout, 1);
	CHECK_EQ(chain.nin, 2);
	CHECK_EQ(chain.in_len, 101);
	/* a direct buffer, then the indirect table, is allowed too */
	set_desc(5, BUF, 8, VIRTQ_DESC_F_NEXT, 4);
	offer(&vq, 5);
	CHECK_EQ(pop(&vq), 1);
	CHECK_EQ(chain.nout, 2);

	setup(&vq, 8);
	vq.indirect = false;
	set_desc(4, ITAB, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(&vq, 4);
	expect_broken(&vq, "an indirect descriptor without the feature");

	setup(&vq, 8);
	it = hva(ITAB);
	it[0] = (struct virtq_desc){ITAB, 32, VIRTQ_DESC_F_INDIRECT, 0};
	set_desc(4, ITAB, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(&vq, 4);
	expect_broken(&vq, "an indirect table in an indirect table");

	setup(&vq, 8);
	set_desc(4, ITAB, 2 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	offer(&vq, 4);
	expect_broken(&vq, "an indirect descriptor with NEXT");

	setup(&vq, 8);
	set_desc(4, ITAB, 17, VIRTQ_DESC_F_INDIRECT, 0);
	offer(&vq, 4);
	expect_broken(&vq, "an indirect table of 17 bytes");

	setup(&vq, 8);
	set_desc(4, ITAB, 9 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(&vq, 4);
	expect_broken(&vq, "an indirect table larger than the queue");

	setup(&vq, 8);
	set_desc(4, LOW_GPA + LOW_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	offer(&vq, 4);
	expect_broken(&vq, "an indirect table across the end of RAM");

	setup(&vq, 8);
	it = hva(ITAB);
	it[0] = (struct virtq_desc){BUF, 4, VIRTQ_DESC_F_NEXT, 1};
	it[1] = (struct virtq_desc){BUF, 4, VIRTQ_DESC_F_NEXT, 0};
	set_desc(4, ITAB, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(&vq, 4);
	expect_broken(&vq, "a loop in an indirect table");

	/* set-up: size, alignment, rings in RAM */
	struct virtq bad;
	virtq_reset(&bad);
	bad.size = 6;
	bad.desc_gpa = DESC, bad.avail_gpa = AVAIL, bad.used_gpa = USED;
	CHECK_EQ(virtq_setup(&bad, &mem), -EINVAL);
	virtq_reset(&bad);
	bad.size = 2 * VIRTQ_MAX_SIZE;
	bad.desc_gpa = DESC, bad.avail_gpa = AVAIL, bad.used_gpa = USED;
	CHECK_EQ(virtq_setup(&bad, &mem), -EINVAL);
	virtq_reset(&bad);
	bad.size = 8;
	bad.desc_gpa = DESC + 8, bad.avail_gpa = AVAIL, bad.used_gpa = USED;
	CHECK_EQ(virtq_setup(&bad, &mem), -EINVAL);
	virtq_reset(&bad);
	bad.size = 256;
	bad.desc_gpa = LOW_GPA + LOW_SIZE - 16 * 128, bad.avail_gpa = AVAIL, bad.used_gpa = USED;
	CHECK_EQ(virtq_setup(&bad, &mem), -EINVAL); /* the table runs off RAM */
	virtq_reset(&bad);
	bad.size = 8;
	bad.desc_gpa = DESC, bad.avail_gpa = 0x20000, bad.used_gpa = USED;
	CHECK_EQ(virtq_setup(&bad, &mem), -EINVAL);
	CHECK(bad.error != NULL);
}

/* the memory map changes under a live queue: the rings are found again at their new home */
static void test_remap(void)
{
	struct virtq vq;

	setup(&vq, 8);
	set_desc(0, BUF, 16, 0, 0);
	offer(&vq, 0);
	CHECK_EQ(pop(&vq), 1);
	uint8_t *moved = malloc(LOW_SIZE);
	memcpy(moved, mem.r[0].hva, LOW_SIZE);
	free(mem.r[0].hva); /* a stale pointer is now a use after free (ASan) */
	mem.r[0].hva = moved;
	mem.gen++;
	offer(&vq, 0);
	CHECK_EQ(pop(&vq), 1);
	CHECK(chain.iov[0].iov_base == moved + (BUF - LOW_GPA));
	virtq_push(&vq, 0, 0);
	CHECK_EQ(used()[1], 1);
	/* the map shrinks under the rings: the queue breaks instead of reading freed memory */
	offer(&vq, 0);
	mem.r[0].size = 0x1000;
	mem.gen++;
	CHECK_EQ(pop(&vq), -EINVAL);
	mem.r[0].size = LOW_SIZE;
	mem.gen++;
}

static void test_event_idx(void)
{
	struct virtq vq;

	CHECK(virtq_need_event(0, 1, 0));
	CHECK(!virtq_need_event(1, 1, 0));
	CHECK(virtq_need_event(4, 8, 2));
	CHECK(!virtq_need_event(8, 8, 2));
	CHECK(virtq_need_event(0xffff, 0, 0xfffe)); /* wrap */

	setup(&vq, 8);
	vq.event_idx = true;
	set_desc(0, BUF, 16, 0, 0);
	for (int k = 0; k < 3; k++)
		offer(&vq, 0);
	while (pop(&vq) == 1)
		virtq_push(&vq, 0, 0);
	CHECK(!virtq_arm_notify(&vq));
	/* avail_event follows what was consumed */
	CHECK_EQ(*(uint16_t *)((uint8_t *)used() + 4 + 8 * 8), 3);
	CHECK(virtq_need_interrupt(&vq)); /* the first one always */
	avail()[2 + 8] = 10;		  /* used_event: interrupt me after the 11th */
	offer(&vq, 0);
	CHECK(virtq_arm_notify(&vq)); /* a buffer came after we looked */
	CHECK_EQ(pop(&vq), 1);
	virtq_push(&vq, 0, 0);
	CHECK(!virtq_need_interrupt(&vq));
	avail()[2 + 8] = 4; /* used_event 4: the 5th completion (this one) wants one */
	offer(&vq, 0);
	CHECK_EQ(pop(&vq), 1);
	virtq_push(&vq, 0, 0);
	CHECK(virtq_need_interrupt(&vq));

	/* without EVENT_IDX: VIRTQ_AVAIL_F_NO_INTERRUPT */
	setup(&vq, 8);
	avail()[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
	CHECK(!virtq_need_interrupt(&vq));
	avail()[0] = 0;
	CHECK(virtq_need_interrupt(&vq));
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* an address a hostile driver might use: in RAM, near its edges, or anywhere */
static uint64_t rnd_addr(void)
{
	switch (rnd() % 6) {
	case 0:
		return LOW_GPA + rnd() % LOW_SIZE;
	case 1:
		return HI_GPA + rnd() % HI_SIZE;
	case 2:
		return LOW_GPA + LOW_SIZE - rnd() % 64;
	case 3:
		return HI_GPA + HI_SIZE - rnd() % 64;
	case 4:
		return ~0ull - rnd() % 4096;
	default:
		return rnd();
	}
}

static uint32_t rnd_len(void)
{
	switch (rnd() % 4) {
	case 0:
		return (uint32_t)(rnd() % 64);
	case 1:
		return (uint32_t)(rnd() % 4096);
	case 2:
		return (uint32_t)rnd();
	default:
		return 16 * (uint32_t)(rnd() % 20);
	}
}

static bool in_ram(const void *p, size_t len)
{
	for (unsigned k = 0; k < mem.n; k++) {
		const uint8_t *b = mem.r[k].hva;
		if ((const uint8_t *)p >= b && (const uint8_t *)p + len <= b + mem.r[k].size)
			return true;
	}
	return false;
}

static void test_random(unsigned iterations)
{
	static uint8_t sink[1 << 16];
	unsigned chains = 0, broken = 0;

	for (unsigned it = 0; it < iterations; it++) {
		struct virtq vq;
		uint16_t size = (uint16_t)(1u << (rnd() % 9)); /* 1 .. 256 */
		uint8_t *low = mem.r[0].hva;

		virtq_reset(&vq);
		vq.size = size;
		vq.desc_gpa = DESC;
		vq.avail_gpa = AVAIL;
		vq.used_gpa = USED;
		vq.indirect = rnd() & 1;
		vq.event_idx = rnd() & 1;
		if (virtq_setup(&vq, &mem)) {
			CHECK(0);
			continue;
		}
		/* random descriptors, indirect tables, avail ring and index */
		for (unsigned k = 0; k < 0x4000 / 8; k++)
			((uint64_t *)low)[k] = rnd();
		/* half the queues are nearly sane: buffers in RAM, indices in range */
		bool gentle = rnd() & 1;
		for (unsigned k = 0; k < size; k++) {
			struct virtq_desc *d = (struct virtq_desc *)hva(DESC) + k;
			d->addr = rnd() % 4 ? rnd_addr() : ITAB + 16 * (rnd() % 64);
			d->len = rnd_len();
			d->flags = (uint16_t)(rnd() % 8);
			d->next = (uint16_t)(rnd() % 3 ? rnd() % size : rnd());
			if (gentle) {
				d->addr =
				    rnd() % 8 ? BUF + rnd() % 0x4000 : ITAB + 16 * (rnd() % 64);
				d->len = d->addr >= BUF ? (uint32_t)(rnd() % 4096)
							: 16 * (uint32_t)(rnd() % 9);
				d->flags = (uint16_t)((rnd() % 3 ? VIRTQ_DESC_F_NEXT : 0) |
						      (rnd() % 3 ? 0 : VIRTQ_DESC_F_WRITE) |
						      (d->addr < BUF ? VIRTQ_DESC_F_INDIRECT : 0));
				d->next = (uint16_t)(rnd() % size);
			}
			struct virtq_desc *i = (struct virtq_desc *)hva(ITAB) + k % 256;
			i->addr = rnd_addr();
			i->len = rnd_len();
			i->flags = (uint16_t)(rnd() % 8);
			i->next = (uint16_t)(rnd() % 4 ? rnd() % 16 : rnd());
		}
		uint16_t *a = avail();
		for (unsigned k = 0; k < size; k++)
			a[2 + k] = (uint16_t)(rnd() % 4 ? rnd() % size : rnd());
		a[1] = (uint16_t)(rnd() % 2 || gentle ? rnd() % (size + 1u) : rnd());
		if (gentle)
			for (unsigned k = 0; k < size; k++)
				a[2 + k] = (uint16_t)(rnd() % size);
		for (unsigned n = 0; n <= size + 1u; n++) {
			int r = pop(&vq);
			if (r <= 0) {
				broken += r < 0;
				CHECK(r == 0 || vq.error != NULL);
				break;
			}
			CHECK(n < size); /* never more chains than the index allows */
			CHECK(chain.nout + chain.nin <= size);
			chains++;
			for (unsigned k = 0; k < chain.nout + chain.nin; k++) {
				struct iovec *v = &chain.iov[k];
				CHECK(in_ram(v->iov_base, v->iov_len));
				/* touch it all: outside RAM is a heap overflow for ASan */
				for (size_t off = 0; off < v->iov_len; off += sizeof(sink)) {
					size_t l = v->iov_len - off < sizeof(sink)
						       ? v->iov_len - off
						       : sizeof(sink);
					memcpy(sink, (uint8_t *)v->iov_base + off, l);
					if (k >= chain.nout)
						memset((uint8_t *)v->iov_base + off, 0xa5, l);
				}
			}
			virtq_push(&vq, chain.head, (uint32_t)chain.in_len);
			virtq_need_interrupt(&vq);
			virtq_arm_notify(&vq);
		}
	}
	printf("random rings: %u queues, %u chains taken, %u queues found broken\n", iterations,
	       chains, broken);
	CHECK(chains > 0 && broken > 0);
}

/*
 * The benchmark's slow path (virtio_ring_copy): each ring access translates
 * the guest address again. A region whose host memory is replaced without a
 * generation change shows the difference: the mapped rings still read the
 * old memory, the translated ones the new.
 */
static void test_ring_copy(void)
{
	for (int copy = 0; copy < 2; copy++) {
		struct virtq vq;
		uint8_t *old, *fresh;

		virtio_ring_copy = copy;
		setup(&vq, 8);
		CHECK_EQ(vq.copy, (bool)copy);
		set_desc(0, BUF, 16, 0, 0);
		set_desc(1, BUF + 16, 16, VIRTQ_DESC_F_WRITE, 0);
		offer(&vq, 0);
		old = mem.r[0].hva;
		fresh = malloc(LOW_SIZE);
		memcpy(fresh, old, LOW_SIZE);
		mem.r[0].hva = fresh;
		offer(&vq, 1); /* only in the new memory */
		CHECK_EQ(pop(&vq), 1);
		CHECK_EQ(chain.head, 0);
		/* the buffers are translated per descriptor on both paths */
		CHECK(chain.iov[0].iov_base == fresh + (BUF - LOW_GPA));
		CHECK_EQ(pop(&vq), copy ? 1 : 0);
		if (copy) {
			CHECK_EQ(chain.head, 1);
			virtq_push(&vq, 1, 16);
			CHECK_EQ(((uint16_t *)(fresh + (USED - LOW_GPA)))[1], 1);
			CHECK_EQ(((uint16_t *)(old + (USED - LOW_GPA)))[1], 0);
		}
		mem.r[0].hva = old;
		free(fresh);
	}
	virtio_ring_copy = false;
}

int main(int argc, char **argv)
{
	unsigned iterations = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 20000;

	rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x5eed1234abcdull;
	if (!rng_state)
		rng_state = 1;
	mem_init();
	test_valid_chain();
	test_rules();
	test_remap();
	test_event_idx();
	test_random(iterations);
	test_ring_copy();
	/* the slow path obeys every rule the mapped one does */
	virtio_ring_copy = true;
	test_valid_chain();
	test_rules();
	test_remap();
	test_event_idx();
	test_random(iterations / 4);
	virtio_ring_copy = false;
	for (unsigned k = 0; k < mem.n; k++)
		free(mem.r[k].hva);
	return unit_done("test_virtqueue");
}
