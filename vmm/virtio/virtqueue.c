/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.2, 2.7), the device's side, shared by every
 * device.
 *
 * The rings are reached through host pointers into guest memory, resolved
 * once when the driver enables the queue (virtq_setup) and again only when
 * the memory map's generation changes (vhost's "metadata access through a
 * direct mapping", seed 001): no translation per ring access. Descriptor
 * buffers are translated once per descriptor. The guest writes the rings
 * while we read them, so every ring field is read once (atomically) into a
 * local before it is checked and used, and nothing the guest can write
 * makes us index outside what was resolved:
 *
 *   - avail->idx may run at most `size` entries ahead of what we consumed;
 *   - a head or a `next` must be < the table's size, and a chain may visit
 *     at most as many descriptors as its table has (else it loops);
 *   - buffers must lie wholly in one RAM region, addr + len not
 *     overflowing; a chain holds at most `size` buffers, readable ones
 *     before writable ones;
 *   - an indirect descriptor (with VIRTIO_RING_F_INDIRECT_DESC) must not
 *     have NEXT, must not be inside an indirect table, and its table must be
 *     a non-zero multiple of 16 bytes of at most `size` entries, in RAM.
 *
 * Breaking a rule returns -EINVAL with vq->error set; the transport then
 * marks the device DEVICE_NEEDS_RESET. Ordering follows 2.7.13 (the driver)
 * mirrored, with atomic accesses rather than fences: avail->idx is an
 * acquire load (then the ring and descriptors); used->idx is stored after
 * the element, sequentially consistent, as are avail_event and the loads
 * that must come after a store (avail->idx again, used_event, the avail
 * flags): no interrupt or notification is lost between the two sides.
 */
#include <errno.h>
#include <string.h>

#include "virtio.h"

void *virtio_mem_map(const struct virtio_mem *m, uint64_t gpa, uint64_t len)
{
	if (gpa + len < gpa)
		return NULL;
	for (unsigned k = 0; k < m->n; k++) {
		const struct virtio_mem_region *r = &m->r[k];
		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

static uint16_t ld16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

bool virtio_ring_copy;

/*
 * Byte `off` of a ring whose resolved host address is `base` and guest
 * address `gpa`: base + off on the direct path; with vq->copy (the
 * benchmark's slow path, SOFTKVM_VIRTIO_RING_COPY=1) the guest address is
 * translated again on every access, as a VMM without the mapping would (the
 * value is then read or written through that translation).
 */
static inline void *ring_at(const struct virtq *vq, void *base, uint64_t gpa, size_t off,
			    size_t len)
{
	if (__builtin_expect(vq->copy, 0)) {
		void *p = virtio_mem_map(vq->mem, gpa + off, len);
		if (p)
			return p;
	}
	return (uint8_t *)base + off;
}

#define AVAIL_AT(vq, off)     ((uint16_t *)ring_at(vq, (vq)->avail, (vq)->avail_gpa, (off), 2))
#define USED_AT(vq, off, len) ring_at(vq, (vq)->used, (vq)->used_gpa, (off), (len))
#define AVAIL_FLAGS(vq)	      AVAIL_AT(vq, 0)
#define AVAIL_IDX(vq)	      AVAIL_AT(vq, 2)
#define AVAIL_RING(vq, i)     AVAIL_AT(vq, 4 + 2 * (size_t)(i))
#define USED_EVENT(vq)	      AVAIL_AT(vq, 4 + 2 * (size_t)(vq)->size)
#define USED_IDX(vq)	      ((uint16_t *)USED_AT(vq, 2, 2))
#define USED_ELEM(vq, i)      ((struct virtq_used_elem *)USED_AT(vq, 4 + 8 * (size_t)(i), 8))
#define AVAIL_EVENT(vq)	      ((uint16_t *)USED_AT(vq, 4 + 8 * (size_t)(vq)->size, 2))

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
	vq->size = VIRTQ_MAX_SIZE;
	vq->msix_vector = VIRTIO_MSI_NO_VECTOR;
}

static int fail(struct virtq *vq, const char *why)
{
	if (!vq->error)
		vq->error = why;
	vq->ready = false;
	return -EINVAL;
}

static int resolve(struct virtq *vq, const struct virtio_mem *m)
{
	size_t n = vq->size;

	vq->desc = virtio_mem_map(m, vq->desc_gpa, 16 * n);
	vq->avail = virtio_mem_map(m, vq->avail_gpa, 6 + 2 * n);
	vq->used = virtio_mem_map(m, vq->used_gpa, 6 + 8 * n);
	vq->mem_gen = m->gen;
	vq->mem = m;
	if (!vq->desc)
		return fail(vq, "the descriptor table is not in RAM");
	if (!vq->avail)
		return fail(vq, "the available ring is not in RAM");
	if (!vq->used)
		return fail(vq, "the used ring is not in RAM");
	vq->ready = true;
	return 0;
}

int virtq_setup(struct virtq *vq, const struct virtio_mem *m)
{
	if (!vq->size || vq->size > VIRTQ_MAX_SIZE || (vq->size & (vq->size - 1)))
		return fail(vq, "the queue size is not a power of two up to the maximum");
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return fail(vq, "a ring is misaligned");
	if (resolve(vq, m))
		return -EINVAL;
	vq->copy = virtio_ring_copy;
	/* the driver starts with the rings as it left them: our indices start at zero */
	vq->last_avail = vq->used_idx = 0;
	vq->signalled_valid = false;
	return 0;
}

/* one descriptor, read once (an indirect table need not be aligned) */
static void load_desc(const struct virtq_desc *p, struct virtq_desc *d)
{
	memcpy(d, p, sizeof(*d));
}

int virtq_pop(struct virtq *vq, const struct virtio_mem *m, struct virtq_chain *c)
{
	const struct virtq_desc *table;
	uint64_t table_gpa;
	unsigned tsize, steps = 0, nbufs = 0;
	uint16_t avail_idx, head, idx;
	bool indirect = false;

	if (vq->error)
		return -EINVAL;
	if (!vq->ready || vq->mem_gen != m->gen) {
		/* the memory map changed since the rings were resolved */
		if (resolve(vq, m))
			return -EINVAL;
	}
	/* acquire: the ring entries and descriptors are read after the index */
	avail_idx = __atomic_load_n(AVAIL_IDX(vq), __ATOMIC_ACQUIRE);
	if ((uint16_t)(avail_idx - vq->last_avail) > vq->size)
		return fail(vq, "the available index moved by more than the queue size");
	if (avail_idx == vq->last_avail)
		return 0;
	head = ld16(AVAIL_RING(vq, vq->last_avail & (vq->size - 1)));
	if (head >= vq->size)
		return fail(vq, "a chain head is out of range");

	c->head = head;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;
	table = vq->desc;
	table_gpa = vq->desc_gpa;
	tsize = vq->size;
	idx = head;
	for (;;) {
		struct virtq_desc d;

		if (++steps > tsize)
			return fail(vq, "a descriptor chain loops");
		load_desc(ring_at(vq, (void *)table, table_gpa, 16 * (size_t)idx, 16), &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq->indirect)
				return fail(vq, "an indirect descriptor without INDIRECT_DESC");
			if (indirect)
				return fail(vq, "an indirect descriptor in an indirect table");
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return fail(vq, "an indirect descriptor with NEXT");
			if (!d.len || (d.len & 15) || d.len / 16 > vq->size)
				return fail(vq, "an indirect table of a bad length");
			table = virtio_mem_map(m, d.addr, d.len);
			if (!table)
				return fail(vq, "an indirect table is not in RAM");
			table_gpa = d.addr;
			tsize = d.len / 16;
			idx = 0;
			steps = 0;
			indirect = true;
			continue;
		}
		if (d.len) {
			void *p = virtio_mem_map(m, d.addr, d.len);

			if (!p)
				return fail(vq, "a buffer is not in RAM");
			if (++nbufs > vq->size)
				return fail(vq, "a chain has more buffers than the queue size");
			if (d.flags & VIRTQ_DESC_F_WRITE) {
				c->in_len += d.len;
				c->nin++;
			} else {
				if (c->nin)
					return fail(vq, "a readable buffer after a writable one");
				c->out_len += d.len;
				c->nout++;
			}
			c->iov[nbufs - 1] = (struct iovec){p, d.len};
		}
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		idx = d.next;
		if (idx >= tsize)
			return fail(vq, "a next index is out of range");
	}
	vq->last_avail++;
	return 1;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
	struct virtq_used_elem *e = USED_ELEM(vq, vq->used_idx & (vq->size - 1));

	__atomic_store_n(&e->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, written, __ATOMIC_RELAXED);
	vq->used_idx++;
	/* the element before the index; sequentially consistent, so that the
	 * used_event read of virtq_need_interrupt() comes after it */
	__atomic_store_n(USED_IDX(vq), vq->used_idx, __ATOMIC_SEQ_CST);
	if (vq->mem) {
		virtio_mem_mark(vq->mem, e, sizeof(*e));
		virtio_mem_mark(vq->mem, USED_IDX(vq), 2);
	}
}

void virtq_push_chain(struct virtq *vq, const struct virtq_chain *c, uint32_t written)
{
	for (unsigned k = c->nout; vq->mem && k < c->nout + c->nin; k++)
		virtio_mem_mark(vq->mem, c->iov[k].iov_base, c->iov[k].iov_len);
	virtq_push(vq, c->head, written);
}

void virtio_mem_mark(const struct virtio_mem *m, const void *hva, size_t len)
{
	const uint8_t *p = hva;

	for (unsigned k = 0; k < m->n && len; k++) {
		const struct virtio_mem_region *r = &m->r[k];
		if (!r->dirty || p < r->hva || p >= r->hva + r->size)
			continue;
		uint64_t first = (uint64_t)(p - r->hva) >> 12;
		uint64_t last = ((uint64_t)(p - r->hva) + len - 1) >> 12;
		for (uint64_t pg = first; pg <= last && pg < r->size >> 12; pg++)
			__atomic_fetch_or(&r->dirty[pg / 64], 1ull << (pg % 64), __ATOMIC_RELEASE);
		return;
	}
}

bool virtq_arm_notify(struct virtq *vq)
{
	if (!vq->ready || vq->error)
		return false;
	/* publish avail_event, then look at the index again (store, then load: both seq_cst) */
	if (vq->event_idx) {
		__atomic_store_n(AVAIL_EVENT(vq), vq->last_avail, __ATOMIC_SEQ_CST);
		if (vq->mem)
			virtio_mem_mark(vq->mem, AVAIL_EVENT(vq), 2);
	}
	return __atomic_load_n(AVAIL_IDX(vq), __ATOMIC_SEQ_CST) != vq->last_avail;
}

bool virtq_need_interrupt(struct virtq *vq)
{
	uint16_t old, new_idx;
	bool valid;

	if (!vq->ready)
		return false;
	/* after used->idx (a seq_cst store in virtq_push): seq_cst loads */
	if (!vq->event_idx)
		return !(__atomic_load_n(AVAIL_FLAGS(vq), __ATOMIC_SEQ_CST) &
			 VIRTQ_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	valid = vq->signalled_valid;
	new_idx = vq->signalled_used = vq->used_idx;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	return virtq_need_event(__atomic_load_n(USED_EVENT(vq), __ATOMIC_SEQ_CST), new_idx, old);
}

static size_t chain_copy(const struct virtq_chain *c, bool in, uint64_t off, void *buf, size_t len)
{
	unsigned first = in ? c->nout : 0, n = in ? c->nin : c->nout;
	size_t done = 0;

	for (unsigned k = first; k < first + n && done < len; k++) {
		const struct iovec *v = &c->iov[k];
		if (off >= v->iov_len) {
			off -= v->iov_len;
			continue;
		}
		size_t chunk = v->iov_len - off;
		if (chunk > len - done)
			chunk = len - done;
		if (in)
			memcpy((uint8_t *)v->iov_base + off, (const uint8_t *)buf + done, chunk);
		else
			memcpy((uint8_t *)buf + done, (const uint8_t *)v->iov_base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, size_t len)
{
	return chain_copy(c, false, off, dst, len);
}

size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, size_t len)
{
	return chain_copy(c, true, off, (void *)src, len);
}
