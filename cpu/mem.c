/* SPDX-License-Identifier: MIT */
/*
 * Guest-physical memory map, software TLB and the memory slow paths.
 *
 * TLB entries hold the host addend, so a hit is one compare and one add
 * (DESIGN.md). Write entries are filled only for pages that hold no decoded
 * code and that dirty logging has already marked, so a write through the TLB
 * never needs to invalidate code or log anything.
 *
 * Memory map changes while vCPUs run (read-copy-update with grace periods,
 * as Linux's SRCU-protected memslots):
 *
 * - A map (struct mem_map, the slots sorted by address) never changes once
 *   published. A change builds a new one and publishes it with one atomic
 *   store, so lookups take no lock and never see a half-made array.
 *   Writers are serialized by wlock.
 * - Readers work in read-side sections. cpu_run() is one from entry to
 *   return; anything else that uses a host pointer of guest memory (kvm/'s
 *   kvmclock, VAPIC and UMWAIT accesses, KVM_TRANSLATE's page walk) takes it
 *   and drops it between cpu_mem_begin() and cpu_mem_end() of its vCPU, on
 *   the thread that owns the vCPU. Sections nest. A vCPU's reader record
 *   holds the grace-period generation it has caught up with, 0 outside.
 * - A writer publishes the new map, bumps map_gen and then gen (the target),
 *   sets EV_TLBFLUSH on every vCPU and waits until each reader record is 0
 *   or has reached the target. A vCPU in cpu_run() gets there at its next
 *   block boundary (mem_quiesce): it drops its TLB and, if the map changed,
 *   its decoded blocks (which point into slot metadata), then records the
 *   generation. cpu_run() need not return, and the fast path is unchanged:
 *   a TLB hit touches no shared state. A vCPU entering cpu_run() catches up
 *   before its first access (mem_run_enter).
 * - After the grace period the old map and the replaced slot's metadata are
 *   freed and the writer returns: once KVM_SET_USER_MEMORY_REGION returns,
 *   no thread dereferences the old slot's host memory or metadata, and an
 *   access to a removed range finds no slot (an MMIO exit, as on Linux).
 * - Dirty logging uses the same grace period without a map change: after
 *   the bitmap is read and cleared, no vCPU keeps a write TLB entry that
 *   would let it write a page without marking it again.
 * - Rules: a reader never waits for a writer; a writer waits holding no lock
 *   a reader may take (kvm/ serializes slot changes with its slots_lock, not
 *   vm->lock); nobody keeps a host pointer across cpu_run() or past
 *   cpu_mem_end(). Writers reach struct cpu only in short scans counted in
 *   scanners, which mem_unregister_cpu() waits out before a cpu is freed;
 *   they wait on the reader records, which belong to cpu_mem.
 */
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "mem.h"

struct mem_reader {
	_Atomic uint64_t seen; /* generation caught up with inside a section, 0 outside */
} __attribute__((aligned(64)));

struct cpu_mem *cpu_mem_create(void)
{
	struct cpu_mem *m = calloc(1, sizeof(*m));
	size_t rsize = MEM_MAX_CPUS * sizeof(struct mem_reader);
	if (!m)
		return NULL;
	m->readers = aligned_alloc(64, rsize);
	if (!m->readers) {
		free(m);
		return NULL;
	}
	memset(m->readers, 0, rsize);
	pthread_mutex_init(&m->wlock, NULL);
	pthread_mutex_init(&m->lock, NULL);
	atomic_init(&m->gen, 1);
	return m;
}

static void slot_free(struct mem_slot *s)
{
	if (!s)
		return;
	free((void *)s->dirty);
	free((void *)s->code);
	free((void *)s->gen);
	free(s);
}

void cpu_mem_destroy(struct cpu_mem *m)
{
	if (!m)
		return;
	struct mem_map *map = atomic_load(&m->map);
	if (map) {
		for (unsigned k = 0; k < map->n; k++)
			slot_free(map->slots[k]);
		free(map);
	}
	free(m->readers);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->wlock);
	free(m);
}

/* a short walk over cpus[]: the cpus seen stay allocated until scan_end() */
static unsigned scan_begin(struct cpu_mem *m)
{
	atomic_fetch_add(&m->scanners, 1);
	return atomic_load(&m->ncpus);
}

static void scan_end(struct cpu_mem *m)
{
	atomic_fetch_sub(&m->scanners, 1);
}

bool mem_register_cpu(struct cpu_mem *m, struct cpu *c)
{
	bool ok = false;

	pthread_mutex_lock(&m->lock);
	for (unsigned k = 0; k < MEM_MAX_CPUS; k++) {
		if (!atomic_load(&m->cpus[k])) {
			c->mem_rd = &m->readers[k];
			atomic_store(&c->mem_rd->seen, 0);
			atomic_store(&m->cpus[k], c);
			if (k >= atomic_load(&m->ncpus))
				atomic_store(&m->ncpus, k + 1);
			ok = true;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}

void mem_unregister_cpu(struct cpu_mem *m, struct cpu *c)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned k = 0; k < MEM_MAX_CPUS; k++)
		if (atomic_load(&m->cpus[k]) == c)
			atomic_store(&m->cpus[k], NULL);
	pthread_mutex_unlock(&m->lock);
	/* a scan that still holds c ends soon: scans never block */
	while (atomic_load(&m->scanners))
		sched_yield();
}

/* ---- the read side ---- */

/* A reader record changed: wake a writer that sleeps on the acknowledgements. */
static void ack_notify(struct cpu_mem *m)
{
	/* the record store before the load of waiting (pairs with grace_period) */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&m->waiting, memory_order_relaxed)) {
		atomic_fetch_add(&m->acks, 1);
		syscall(SYS_futex, &m->acks, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	}
}

void cpu_mem_begin(struct cpu *c)
{
	if (c->mem_nest++ == 0) {
		atomic_store_explicit(&c->mem_rd->seen,
				      atomic_load_explicit(&c->mem->gen, memory_order_acquire),
				      memory_order_relaxed);
		/* the record is visible before any map load (pairs with grace_period) */
		atomic_thread_fence(memory_order_seq_cst);
	}
}

void cpu_mem_end(struct cpu *c)
{
	if (--c->mem_nest == 0) {
		atomic_store_explicit(&c->mem_rd->seen, 0, memory_order_release);
		ack_notify(c->mem);
	}
}

/* Drop what was cached from older maps: the whole TLB and the decoded blocks
 * when the map changed, else the write TLB if a grace period asked for it. */
static void catch_up(struct cpu *c, uint64_t g, bool write_flush)
{
	uint32_t mg = atomic_load_explicit(&c->mem->map_gen, memory_order_acquire);

	if (mg != c->mem_gen) {
		c->mem_gen = mg;
		tlb_flush_all(c);
		cpu_flush_code(c);
	} else if (write_flush || g != c->mem_synced) {
		tlb_flush_write(c);
	}
	c->mem_synced = g;
}

void mem_run_enter(struct cpu *c)
{
	bool outer = c->mem_nest == 0;

	cpu_mem_begin(c);
	uint64_t g = atomic_load_explicit(&c->mem->gen, memory_order_acquire);
	catch_up(c, g, false);
	if (outer) {
		atomic_store_explicit(&c->mem_rd->seen, g, memory_order_release);
		ack_notify(c->mem);
	}
}

void mem_run_exit(struct cpu *c, unsigned nest)
{
	/* an exception may have unwound past a nested section's end */
	c->mem_nest = nest + 1;
	cpu_mem_end(c);
}

void mem_quiesce(struct cpu *c)
{
	uint64_t g = atomic_load_explicit(&c->mem->gen, memory_order_acquire);

	catch_up(c, g, true);
	if (c->mem_nest) {
		atomic_store_explicit(&c->mem_rd->seen, g, memory_order_release);
		ack_notify(c->mem);
	}
}

/* ---- the write side ---- */

/* Wait until no reader can still use what was published before. wlock held. */
static void grace_period(struct cpu_mem *m)
{
	uint64_t target = atomic_fetch_add(&m->gen, 1) + 1;
	unsigned n = scan_begin(m);

	for (unsigned k = 0; k < n; k++) {
		struct cpu *c = atomic_load(&m->cpus[k]);
		if (c)
			atomic_fetch_or(&c->events, EV_TLBFLUSH);
	}
	scan_end(m);
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned k = 0; k < n; k++) {
		for (unsigned spins = 0;; spins++) {
			uint64_t seen = atomic_load(&m->readers[k].seen);
			if (!seen || seen >= target)
				break;
			if (spins < 1000) { /* a vCPU in cpu_run() answers within microseconds */
				__builtin_ia32_pause();
				continue;
			}
			/* sleep until a reader acknowledges (ack_notify), 1 ms at most */
			atomic_fetch_add(&m->waiting, 1);
			uint32_t acks = atomic_load(&m->acks);
			seen = atomic_load(&m->readers[k].seen);
			if (seen && seen < target) {
				struct timespec ts = {0, 1000000};
				syscall(SYS_futex, &m->acks, FUTEX_WAIT_PRIVATE, acks, &ts, NULL,
					0);
			}
			atomic_fetch_sub(&m->waiting, 1);
		}
	}
}

void cpu_mem_synchronize(struct cpu_mem *m)
{
	pthread_mutex_lock(&m->wlock);
	grace_period(m);
	pthread_mutex_unlock(&m->wlock);
}

static struct mem_slot *slot_new(uint32_t id, uint64_t gpa, uint64_t size, void *hva,
				 uint32_t flags)
{
	uint64_t pages = size >> 12;
	struct mem_slot *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = id;
	s->gpa = gpa;
	s->size = size;
	s->hva = hva;
	s->flags = flags & (CPU_MEM_READONLY | CPU_MEM_LOG_DIRTY);
	s->code = calloc(pages, 1);
	s->gen = calloc(pages, sizeof(uint32_t));
	s->dirty = calloc((pages + 63) / 64, sizeof(uint64_t));
	if (!s->code || !s->gen || !s->dirty) {
		slot_free(s);
		return NULL;
	}
	if (flags & CPU_MEM_DIRTY_INIT_SET)
		memset((void *)s->dirty, 0xff, (pages + 63) / 64 * 8);
	return s;
}

/* What the replacement of a slot keeps, once nobody uses the old one: the
 * dirty bitmap while logging stays on (Linux keeps old->dirty_bitmap for a
 * flags change or a move), the armed monitors of a flags-only change. */
static void slot_carry_over(const struct mem_slot *old, struct mem_slot *ns)
{
	uint64_t pages = ns->size >> 12;

	if (old->size != ns->size)
		return;
	if ((old->flags & CPU_MEM_LOG_DIRTY) && (ns->flags & CPU_MEM_LOG_DIRTY))
		for (uint64_t w = 0; w < (pages + 63) / 64; w++)
			atomic_fetch_or(&ns->dirty[w], atomic_load(&old->dirty[w]));
	if (old->gpa == ns->gpa && old->hva == ns->hva)
		for (uint64_t p = 0; p < pages; p++)
			if (atomic_load_explicit(&old->code[p], memory_order_relaxed) & PG_MON)
				atomic_fetch_or(&ns->code[p], PG_MON);
}

int cpu_mem_set_slot(struct cpu_mem *m, uint32_t id, uint64_t gpa, uint64_t size, void *hva,
		     uint32_t flags)
{
	struct mem_slot *ns = NULL, *old = NULL;
	struct mem_map *om, *nm;
	unsigned n = 0;

	if ((gpa | size) & 0xfff)
		return -22; /* EINVAL */
	if (size && !(ns = slot_new(id, gpa, size, hva, flags)))
		return -12; /* ENOMEM */
	pthread_mutex_lock(&m->wlock);
	om = atomic_load_explicit(&m->map, memory_order_relaxed);
	nm = malloc(sizeof(*nm) + ((om ? om->n : 0) + 1) * sizeof(nm->slots[0]));
	if (!nm) {
		pthread_mutex_unlock(&m->wlock);
		slot_free(ns);
		return -12;
	}
	for (unsigned k = 0; om && k < om->n; k++) {
		if (om->slots[k]->id == id)
			old = om->slots[k];
		else
			nm->slots[n++] = om->slots[k];
	}
	if (ns) {
		unsigned k;
		if (n == MEM_MAX_SLOTS) {
			pthread_mutex_unlock(&m->wlock);
			free(nm);
			slot_free(ns);
			return -28; /* ENOSPC */
		}
		for (k = n; k > 0 && nm->slots[k - 1]->gpa > gpa; k--)
			nm->slots[k] = nm->slots[k - 1];
		nm->slots[k] = ns;
		n++;
	} else if (!old) {
		pthread_mutex_unlock(&m->wlock); /* nothing to delete */
		free(nm);
		return 0;
	}
	nm->n = n;
	atomic_init(&nm->hint, NULL);
	atomic_store_explicit(&m->map, nm, memory_order_release);
	atomic_fetch_add(&m->map_gen, 1);
	grace_period(m);
	/* nobody uses om or old any more */
	if (old && ns)
		slot_carry_over(old, ns);
	slot_free(old);
	free(om);
	pthread_mutex_unlock(&m->wlock);
	return 0;
}

struct mem_slot *mem_find_slot(struct cpu_mem *m, uint64_t gpa)
{
	struct mem_map *map = atomic_load_explicit(&m->map, memory_order_acquire);
	struct mem_slot *s;
	unsigned lo = 0, hi;

	if (!map)
		return NULL;
	s = atomic_load_explicit(&map->hint, memory_order_relaxed);
	if (s && gpa - s->gpa < s->size)
		return s;
	/* the last slot starting at or below gpa */
	hi = map->n;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (map->slots[mid]->gpa <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	s = map->slots[lo - 1];
	if (gpa - s->gpa >= s->size)
		return NULL;
	atomic_store_explicit(&map->hint, s, memory_order_relaxed);
	return s;
}

void cpu_mem_note_external_write(struct cpu_mem *m)
{
	atomic_fetch_add(&m->ext_gen, 1);
}

void *cpu_mem_gpa_to_hva(struct cpu_mem *m, uint64_t gpa, uint64_t *avail, uint32_t *flags)
{
	struct mem_slot *s = mem_find_slot(m, gpa);
	if (!s)
		return NULL;
	if (avail)
		*avail = s->size - (gpa - s->gpa);
	if (flags)
		*flags = s->flags;
	return s->hva + (gpa - s->gpa);
}

/* the current slot with this id; wlock held, so it stays allocated */
static struct mem_slot *slot_by_id(struct cpu_mem *m, uint32_t id)
{
	struct mem_map *map = atomic_load_explicit(&m->map, memory_order_relaxed);
	for (unsigned k = 0; map && k < map->n; k++)
		if (map->slots[k]->id == id)
			return map->slots[k];
	return NULL;
}

int cpu_mem_get_dirty(struct cpu_mem *m, uint32_t id, uint64_t *bitmap, bool clear)
{
	struct mem_slot *s;
	uint64_t words;

	pthread_mutex_lock(&m->wlock);
	s = slot_by_id(m, id);
	if (!s) {
		pthread_mutex_unlock(&m->wlock);
		return -2;
	}
	words = ((s->size >> 12) + 63) / 64;
	for (uint64_t w = 0; w < words; w++)
		bitmap[w] = clear ? atomic_exchange(&s->dirty[w], 0) : atomic_load(&s->dirty[w]);
	/* no vCPU keeps writing a cleaned page through its write TLB */
	if (clear)
		grace_period(m);
	pthread_mutex_unlock(&m->wlock);
	return 0;
}

int cpu_mem_clear_dirty(struct cpu_mem *m, uint32_t id, uint64_t first, uint64_t n,
			const uint64_t *mask)
{
	struct mem_slot *s;
	uint64_t pages;

	pthread_mutex_lock(&m->wlock);
	s = slot_by_id(m, id);
	if (!s) {
		pthread_mutex_unlock(&m->wlock);
		return -2;
	}
	pages = s->size >> 12;
	if (first > pages || n > pages - first) {
		pthread_mutex_unlock(&m->wlock);
		return -22;
	}
	for (uint64_t p = 0; p < n; p++) {
		if (mask[p / 64] & (1ull << (p % 64))) {
			uint64_t pg = first + p;
			atomic_fetch_and(&s->dirty[pg / 64], ~(1ull << (pg % 64)));
		}
	}
	grace_period(m);
	pthread_mutex_unlock(&m->wlock);
	return 0;
}

/* ---- code tracking ---- */

void mem_note_code(struct cpu *c, uint64_t gpa, const _Atomic uint32_t **gen_ptr, uint32_t *gen)
{
	struct cpu_mem *m = c->mem;
	struct mem_slot *s = mem_find_slot(m, gpa);
	uint64_t pg;

	if (!s) {
		/* code outside RAM (ROM-less MMIO execution is refused earlier) */
		*gen_ptr = &c->nocode_gen;
		*gen = atomic_load(&c->nocode_gen);
		return;
	}
	pg = (gpa - s->gpa) >> 12;
	*gen_ptr = &s->gen[pg];
	*gen = atomic_load(&s->gen[pg]);
	if (!(atomic_load(&s->code[pg]) & PG_CODE)) {
		atomic_fetch_or(&s->code[pg], PG_CODE);
		/* nobody may keep a write TLB entry for a code page */
		mem_flush_write_all(c);
	}
}

/* every vCPU drops its write TLB (this one now, the others at their next boundary) */
void mem_flush_write_all(struct cpu *c)
{
	struct cpu_mem *m = c->mem;
	tlb_flush_write(c);
	unsigned n = scan_begin(m);
	for (unsigned k = 0; k < n; k++) {
		struct cpu *o = atomic_load(&m->cpus[k]);
		if (o && o != c)
			atomic_fetch_or(&o->events, EV_TLBFLUSH);
	}
	scan_end(m);
}

/* ---- address-range monitors (UMONITOR/MONITOR) ---- */

bool mem_monitor_arm(struct cpu *c, uint64_t gpa)
{
	struct mem_slot *s = mem_find_slot(c->mem, gpa);
	if (!s)
		return false;
	uint64_t pg = (gpa - s->gpa) >> 12;
	atomic_store(&c->mon_hit, false);
	atomic_store(&c->mon_line, (gpa & ~63ull) | 1);
	if (!(atomic_load(&s->code[pg]) & PG_MON)) {
		atomic_fetch_or(&s->code[pg], PG_MON);
		mem_flush_write_all(c); /* stores to the page must take the slow path */
	}
	return true;
}

/* a store to a monitored page: trigger every monitor armed on that line */
static void monitor_hit(struct cpu *c, uint64_t gpa)
{
	struct cpu_mem *m = c->mem;
	uint64_t line = (gpa & ~63ull) | 1;
	unsigned n = scan_begin(m);
	for (unsigned k = 0; k < n; k++) {
		struct cpu *o = atomic_load(&m->cpus[k]);
		if (o && atomic_load(&o->mon_line) == line) {
			atomic_store(&o->mon_hit, true);
			if (o->ops->monitor_hit)
				o->ops->monitor_hit(o->opaque);
		}
	}
	scan_end(m);
}

/*
 * A store to a monitored page is noted before the bytes land (the slow
 * paths, LOCK'd read-modify-writes through mem_rmw_ptr()), so the monitors
 * it hits are triggered at the next block boundary (EV_MONHIT) or when
 * cpu_run() returns: a vCPU woken from MWAIT/UMWAIT then reads the new data.
 */
static void monitor_defer(struct cpu *c, uint64_t gpa)
{
	uint64_t line = gpa & ~63ull;
	for (unsigned k = 0; k < c->mon_ndefer; k++)
		if (c->mon_defer[k] == line)
			return;
	if (c->mon_ndefer == 4)
		mem_monitor_flush(c);
	c->mon_defer[c->mon_ndefer++] = line;
	atomic_fetch_or_explicit(&c->events, EV_MONHIT, memory_order_relaxed);
}

void mem_monitor_flush(struct cpu *c)
{
	unsigned n = c->mon_ndefer;
	c->mon_ndefer = 0;
	atomic_thread_fence(memory_order_seq_cst); /* the stores before the triggers */
	for (unsigned k = 0; k < n; k++)
		monitor_hit(c, c->mon_defer[k]);
}

/* A write to RAM page pg of slot s: invalidate code, log dirtiness. */
static void smc_hit(struct cpu *c, uint64_t gpa)
{
	struct block *b = c->cur_block;
	c->jit_stop = 1; /* translated code leaves after this instruction */
	/* the running block was decoded from this page: stop it after this instruction */
	if (b && (b->gpa >> 12) == (gpa >> 12)) {
		for (unsigned k = 0; k < b->ninsns; k++)
			b->insns[k].fn = op_block_end;
	}
}

static inline void mem_note_write(struct cpu *c, struct mem_slot *s, uint64_t gpa)
{
	uint64_t pg = (gpa - s->gpa) >> 12;
	uint8_t f = atomic_load_explicit(&s->code[pg], memory_order_relaxed);
	if (unlikely(f)) {
		if (f & PG_CODE) {
			atomic_fetch_and(&s->code[pg], (uint8_t)~PG_CODE);
			atomic_fetch_add(&s->gen[pg], 1);
			smc_hit(c, gpa);
			/* translated code checks only the epoch on entry: make every
			 * vCPU start a new one (cpu.c, handle_events) */
			struct cpu_mem *m = c->mem;
			for (unsigned k = 0; k < MEM_MAX_CPUS; k++)
				if (m->cpus[k])
					atomic_fetch_or(&m->cpus[k]->events, EV_CODEW);
		}
		if (f & PG_MON)
			monitor_defer(c, gpa);
	}
	if (s->flags & CPU_MEM_LOG_DIRTY)
		atomic_fetch_or(&s->dirty[pg / 64], 1ull << (pg % 64));
}

void cpu_mem_note_write(struct cpu *c, uint64_t gpa, uint64_t len)
{
	uint64_t last = gpa + len - 1;

	for (uint64_t p = gpa; len; p = (p | 0xfff) + 1) {
		struct mem_slot *s = mem_find_slot(c->mem, p);
		if (s && !(s->flags & CPU_MEM_READONLY))
			mem_note_write(c, s, p);
		if ((p | 0xfff) >= last)
			break;
	}
	if (c->mon_ndefer) /* the writes are done */
		mem_monitor_flush(c);
}

void *mem_gpa_ptr(struct cpu *c, uint64_t gpa, unsigned len, bool write)
{
	struct mem_slot *s = mem_find_slot(c->mem, gpa);
	if (!s || gpa - s->gpa > s->size - len)
		return NULL;
	if (write) {
		if (s->flags & CPU_MEM_READONLY)
			return NULL;
		mem_note_write(c, s, gpa);
		if (((gpa + len - 1) ^ gpa) >> 12)
			mem_note_write(c, s, gpa + len - 1);
	}
	return s->hva + (gpa - s->gpa);
}

/* ---- TLB ---- */

static void tlb_clear(struct tlb_entry *e, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		e[k].tag = TLB_INVALID;
}

static inline unsigned large_hash(uint64_t region)
{
	return (unsigned)(region ^ (region >> TLB_LARGE_BITS)) & ((1u << TLB_LARGE_BITS) - 1);
}

static inline bool large_test(const uint64_t *map, uint64_t region)
{
	unsigned h = large_hash(region);
	return map[h / 64] >> (h % 64) & 1;
}

static inline void large_set(uint64_t *map, uint64_t region)
{
	unsigned h = large_hash(region);
	map[h / 64] |= 1ull << (h % 64);
}

static void large_forget(struct cpu *c)
{
	c->tlb_has_large = false;
	memset(c->tlb_large_2m, 0, sizeof(c->tlb_large_2m));
	memset(c->tlb_large_1g, 0, sizeof(c->tlb_large_1g));
}

void tlb_flush_all(struct cpu *c)
{
	if (c->tlb_has_large)
		large_forget(c);
	c->tlb_nlog = 0;
	for (int t = 0; t < TLB_SETS; t++) {
		tlb_clear(c->tlbs[t].r, TLB_SIZE);
		tlb_clear(c->tlbs[t].w, TLB_SIZE);
		tlb_clear(c->tlbs[t].x, TLB_SIZE);
	}
}

static void tlb_clear_nonglobal(struct tlb_entry *e, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		if (!(e[k].gpa & TLB_GPA_GLOBAL))
			e[k].tag = TLB_INVALID;
}

void tlb_flush_nonglobal(struct cpu *c)
{
	if (!(c->cr4 & CR4_PGE)) {
		tlb_flush_all(c);
		return;
	}
	if (c->tlb_nlog <= TLB_LOG) {
		/* entries refilled since (perhaps global now) just miss once */
		for (unsigned k = 0; k < c->tlb_nlog; k++)
			if (!(c->tlb_log[k]->gpa & TLB_GPA_GLOBAL))
				c->tlb_log[k]->tag = TLB_INVALID;
		c->tlb_nlog = 0;
		return;
	}
	c->tlb_nlog = 0;
	for (int t = 0; t < TLB_SETS; t++) {
		tlb_clear_nonglobal(c->tlbs[t].r, TLB_SIZE);
		tlb_clear_nonglobal(c->tlbs[t].w, TLB_SIZE);
		tlb_clear_nonglobal(c->tlbs[t].x, TLB_SIZE);
	}
}

void tlb_flush_page(struct cpu *c, uint64_t la)
{
	unsigned k = TLB_INDEX(la);
	/* large pages are cached as 4 KiB pieces: the pieces of the large page
	 * that holds la could be cached anywhere, so an INVLPG in one flushes
	 * everything. Which 2 MiB and 1 GiB regions hold cached pieces is kept
	 * (hashed: a collision only costs a needless flush), so the INVLPGs of
	 * 4 KiB pages elsewhere (Linux's, of user pages, all the time) flush
	 * only their entry */
	if (c->tlb_has_large &&
	    (large_test(c->tlb_large_2m, la >> 21) || large_test(c->tlb_large_1g, la >> 30))) {
		tlb_flush_all(c);
		return;
	}
	for (int t = 0; t < TLB_SETS; t++) {
		if (c->tlbs[t].r[k].tag == (la & PAGE_MASK_4K))
			c->tlbs[t].r[k].tag = TLB_INVALID;
		if (c->tlbs[t].w[k].tag == (la & PAGE_MASK_4K))
			c->tlbs[t].w[k].tag = TLB_INVALID;
		if (c->tlbs[t].x[k].tag == (la & PAGE_MASK_4K))
			c->tlbs[t].x[k].tag = TLB_INVALID;
	}
}

void tlb_flush_write(struct cpu *c)
{
	for (int t = 0; t < TLB_SETS; t++)
		tlb_clear(c->tlbs[t].w, TLB_SIZE);
}

/*
 * The protection-key check is folded into the TLB: an entry is filled only
 * after the walk allowed the access under the PKRU of that time, so the
 * fast paths (the interpreter's and the JIT's inline probe) need no key
 * test. A real processor need not flush on WRPKRU (it checks PKRU on every
 * access); this TLB must drop the data entries instead. Fetches are not
 * subject to keys: the fetch TLB stays.
 */
void tlb_flush_data(struct cpu *c)
{
	for (int t = 0; t < TLB_SETS; t++) {
		tlb_clear(c->tlbs[t].r, TLB_SIZE);
		tlb_clear(c->tlbs[t].w, TLB_SIZE);
	}
}

void cpu_load_pkru(struct cpu *c, uint32_t v)
{
	if (v == c->pkru)
		return;
	c->pkru = v;
	tlb_flush_data(c);
}

static inline bool is_canonical(const struct cpu *c, uint64_t la)
{
	unsigned bits = (c->cr4 & CR4_LA57) ? 57 : 48;
	return (uint64_t)((int64_t)(la << (64 - bits)) >> (64 - bits)) == la;
}

/*
 * Translate la for an access, raising #PF/#GP on failure. Fills *w with the
 * guest-physical address. accf may carry ACCF_IMPLICIT_SV.
 */
static void translate(struct cpu *c, uint64_t la, int acc, unsigned accf, struct walk_result *w)
{
	if (in_long_mode(c) && !is_canonical(c, la)) {
		/* #SS(0) for a stack reference (SDM vol. 3A, 6.15); instruction
		 * fetches and the processor's own accesses raise #GP(0) and must
		 * not look at the instruction (a fetch at the top of the lower half
		 * would look at itself) */
		bool ss = (accf & ACCF_STACK) ||
			  (acc != ACC_X && !(accf & ACCF_IMPLICIT_SV) && mem_noncanonical_is_ss(c));
		cpu_raise(c, ss ? EXC_SS : EXC_GP, 0);
	}
	if (!(c->cr0 & CR0_PG)) {
		w->gpa = la & 0xffffffffull;
		if (in_long_mode(c))
			w->gpa = la;
		w->page_size = 4096;
		w->user = w->writable = true;
		w->nx = w->global = false;
		w->dirty = true;
		return;
	}
	int cpl = (accf & ACCF_IMPLICIT_SV) ? 0 : c->cpl;
	int err = paging_walk(c, la, acc, cpl, accf, w);
	if (err) {
		c->cr2 = la;
		cpu_raise(c, EXC_PF, (uint32_t)err & 0xffff);
	}
}

/* Fill a TLB entry for the 4 KiB piece of la after a successful access check. */
static void tlb_fill(struct cpu *c, struct tlb_entry *e, uint64_t la, const struct walk_result *w,
		     uint8_t *host_page)
{
	e->tag = la & PAGE_MASK_4K;
	e->addend = (uintptr_t)host_page - (la & PAGE_MASK_4K);
	e->gpa = (w->gpa & PAGE_MASK_4K) | (w->global ? TLB_GPA_GLOBAL : 0);
	if (!w->global && c->tlb_nlog <= TLB_LOG) {
		if (c->tlb_nlog < TLB_LOG)
			c->tlb_log[c->tlb_nlog] = e;
		c->tlb_nlog++;
	}
	if (w->page_size > 4096) {
		c->tlb_has_large = true;
		uint64_t base = la & ~(w->page_size - 1);
		if (w->page_size >= (1ull << 30)) {
			large_set(c->tlb_large_1g, base >> 30);
		} else {
			for (uint64_t r = base; r < base + w->page_size; r += 1ull << 21)
				large_set(c->tlb_large_2m, r >> 21);
		}
	}
}

static bool tlb_may_cache(struct cpu *c, const struct walk_result *w, unsigned accf)
{
	if (accf & (ACCF_IMPLICIT_SV | ACCF_NOFAULT))
		return false;
	/* SMAP: a supervisor access to a user page depends on RFLAGS.AC: cached
	 * only in the set that is in use while AC = 1 (tlb_select) */
	if (c->cpl < 3 && w->user && (c->cr4 & CR4_SMAP) && (c->cr0 & CR0_PG))
		return c->tlb == &c->tlbs[TLB_SUPER_AC];
	/* data breakpoints need every access on the slow path */
	if (c->dr7_data_bp)
		return false;
	return true;
}

/* ---- MMIO with suspension ---- */

static uint64_t mmio_read(struct cpu *c, uint64_t gpa, unsigned size)
{
	uint64_t v = 0;
	uint8_t buf[8] = {0};

	if (xlog_replay(c, XLOG_MMIO_R, gpa, size, &v))
		return v;
	if (!c->ops->mmio_read || c->ops->mmio_read(c->opaque, gpa, buf, size) == CPU_OPS_EXIT) {
		c->exit.mmio.gpa = gpa;
		c->exit.mmio.len = (uint8_t)size;
		c->exit.mmio.is_write = 0;
		memset(c->exit.mmio.data, 0, 8);
		xlog_suspend(c, XLOG_MMIO_R, gpa, size, 0, CPU_EXIT_MMIO);
	}
	return ld_n(buf, size);
}

static void mmio_write(struct cpu *c, uint64_t gpa, unsigned size, uint64_t v)
{
	uint8_t buf[8];
	uint64_t dummy;

	if (xlog_replay(c, XLOG_MMIO_W, gpa, size, &dummy))
		return;
	st_n(buf, size, v);
	int r = c->ops->mmio_write ? c->ops->mmio_write(c->opaque, gpa, buf, size) : CPU_OPS_EXIT;
	if (r == CPU_OPS_STOP) /* done: replayed from the log when the instruction resumes */
		xlog_suspend(c, XLOG_MMIO_W, gpa, size, v, CPU_EXIT_REQUEST);
	if (r == CPU_OPS_EXIT) {
		c->exit.mmio.gpa = gpa;
		c->exit.mmio.len = (uint8_t)size;
		c->exit.mmio.is_write = 1;
		memset(c->exit.mmio.data, 0, 8);
		memcpy(c->exit.mmio.data, buf, size);
		xlog_suspend(c, XLOG_MMIO_W, gpa, size, v, CPU_EXIT_MMIO);
	}
}

/* ---- slow paths ---- */

/* One access that does not cross a page. */
static uint64_t read_in_page(struct cpu *c, uint64_t la, unsigned size, unsigned accf)
{
	struct walk_result w;
	struct mem_slot *s;
	uint64_t gpa;

	translate(c, la, ACC_R, accf, &w);
	gpa = (w.gpa & ~(w.page_size - 1)) | (la & (w.page_size - 1));
	s = mem_find_slot(c->mem, gpa);
	if (!s)
		return mmio_read(c, gpa, size);
	if (c->dr7_data_bp)
		debug_check_data(c, la, size, false);
	uint8_t *hp = s->hva + (gpa - s->gpa);
	if (tlb_may_cache(c, &w, accf) && gpa - s->gpa + 4096 - (gpa & 0xfff) <= s->size) {
		w.gpa = gpa;
		tlb_fill(c, &c->tlb->r[TLB_INDEX(la)], la, &w, hp - (la & 0xfff));
	}
	return ld_n(hp, size);
}

/* Translate for write; returns host pointer or NULL for MMIO / read-only. */
static uint8_t *write_target(struct cpu *c, uint64_t la, unsigned size, unsigned accf,
			     uint64_t *gpa_out, struct mem_slot **slot_out, struct walk_result *w)
{
	struct mem_slot *s;
	uint64_t gpa;

	translate(c, la, ACC_W, accf, w);
	gpa = (w->gpa & ~(w->page_size - 1)) | (la & (w->page_size - 1));
	*gpa_out = gpa;
	s = mem_find_slot(c->mem, gpa);
	*slot_out = s;
	(void)size;
	if (!s || (s->flags & CPU_MEM_READONLY))
		return NULL;
	return s->hva + (gpa - s->gpa);
}

static void write_in_page(struct cpu *c, uint64_t la, unsigned size, uint64_t v, unsigned accf)
{
	struct walk_result w;
	struct mem_slot *s;
	uint64_t gpa;
	uint8_t *hp = write_target(c, la, size, accf, &gpa, &s, &w);

	if (!hp) {
		mmio_write(c, gpa, size, v);
		return;
	}
	if (c->dr7_data_bp)
		debug_check_data(c, la, size, true);
	st_n(hp, size, v);
	/* after the store: a vCPU that a monitor hit wakes must see it */
	mem_note_write(c, s, gpa);
	if (tlb_may_cache(c, &w, accf) && !atomic_load(&s->code[(gpa - s->gpa) >> 12]) &&
	    gpa - s->gpa + 4096 - (gpa & 0xfff) <= s->size) {
		w.gpa = gpa;
		tlb_fill(c, &c->tlb->w[TLB_INDEX(la)], la, &w, hp - (la & 0xfff));
	}
}

/* the wrap of an access that crosses a page: system structures (and event
 * delivery) use 64-bit addresses in all of IA-32e mode */
static inline uint64_t cross_mask(const struct cpu *c, unsigned accf)
{
	return (accf & ACCF_IMPLICIT_SV) && in_long_mode(c) ? ~0ull : c->la_mask;
}

uint64_t mem_read_slow(struct cpu *c, uint64_t la, unsigned size, unsigned accf)
{
	unsigned first = 4096 - (unsigned)(la & 0xfff);
	uint64_t lo, hi, m = cross_mask(c, accf);

	if (likely(first >= size))
		return read_in_page(c, la, size, accf);
	/* crossing a page: both translations must succeed before anything happens */
	lo = 0;
	for (unsigned k = 0; k < size; k++) {
		uint64_t b = read_in_page(c, (la + k) & m, 1, accf);
		lo |= b << (8 * k);
	}
	hi = 0;
	(void)hi;
	return lo;
}

void mem_write_slow(struct cpu *c, uint64_t la, unsigned size, uint64_t v, unsigned accf)
{
	unsigned first = 4096 - (unsigned)(la & 0xfff);
	uint64_t m = cross_mask(c, accf);

	if (likely(first >= size)) {
		write_in_page(c, la, size, v, accf);
		return;
	}
	/* probe both pages first so a fault leaves memory untouched */
	{
		struct walk_result w;
		struct mem_slot *s;
		uint64_t gpa;
		write_target(c, la, 1, accf, &gpa, &s, &w);
		/* CR2 of a fault on the second page is that page's first byte */
		write_target(c, (la + first) & m, 1, accf, &gpa, &s, &w);
	}
	for (unsigned k = 0; k < size; k++)
		write_in_page(c, (la + k) & m, 1, (v >> (8 * k)) & 0xff, accf);
}

void mem_probe_write(struct cpu *c, uint64_t la, unsigned size)
{
	const struct tlb_entry *e = &c->tlb->w[TLB_INDEX(la)];
	struct walk_result w;
	struct mem_slot *s;
	uint64_t gpa;

	if (tlb_hit(e, la, size))
		return;
	write_target(c, la, 1, 0, &gpa, &s, &w);
	if (((la + size - 1) ^ la) >> 12)
		write_target(c, ((la | 0xfff) + 1) & c->la_mask, 1, 0, &gpa, &s, &w);
}

void *mem_rmw_ptr(struct cpu *c, uint64_t la, unsigned size)
{
	const struct tlb_entry *e = &c->tlb->w[TLB_INDEX(la)];
	struct walk_result w;
	struct mem_slot *s;
	uint64_t gpa;
	uint8_t *hp;

	if (likely(tlb_hit(e, la, size) && !(la & (size - 1))))
		return (void *)(e->addend + la);
	if (((la + size - 1) ^ la) >> 12)
		return NULL; /* split lock: done non-atomically by the caller */
	/* the read side must be allowed too */
	hp = write_target(c, la, size, 0, &gpa, &s, &w);
	if (!hp)
		return NULL;
	if (c->dr7_data_bp)
		return NULL;
	mem_note_write(c, s, gpa);
	if (la & (size - 1))
		return NULL; /* misaligned: the caller does it under the machine's lock */
	/* later LOCK operations on the page take the fast path */
	if (tlb_may_cache(c, &w, 0) && !atomic_load(&s->code[(gpa - s->gpa) >> 12]) &&
	    gpa - s->gpa + 4096 - (gpa & 0xfff) <= s->size) {
		w.gpa = gpa;
		tlb_fill(c, &c->tlb->w[TLB_INDEX(la)], la, &w, hp - (la & 0xfff));
	}
	return hp;
}

/* ---- instruction fetch ---- */

const uint8_t *mem_fetch_page(struct cpu *c, uint64_t la, uint64_t *gpa_out)
{
	struct tlb_entry *e = &c->tlb->x[TLB_INDEX(la)];
	struct walk_result w;
	struct mem_slot *s;
	uint64_t gpa;

	if (likely(e->tag == (la & PAGE_MASK_4K))) {
		*gpa_out = (e->gpa & PAGE_MASK_4K) | (la & 0xfff);
		return (const uint8_t *)(e->addend + la);
	}
	translate(c, la, ACC_X, 0, &w);
	gpa = (w.gpa & ~(w.page_size - 1)) | (la & (w.page_size - 1));
	s = mem_find_slot(c->mem, gpa);
	*gpa_out = gpa;
	if (!s || gpa - s->gpa + 4096 - (gpa & 0xfff) > s->size)
		return NULL; /* executing MMIO */
	uint8_t *hp = s->hva + (gpa - s->gpa);
	w.gpa = gpa;
	if (tlb_may_cache(c, &w, 0))
		tlb_fill(c, e, la, &w, hp - (la & 0xfff));
	return hp;
}

/* The code byte at la for a look that must not fault (mem_noncanonical_is_ss):
 * NULL where a fetch would fault or find no RAM. Fills no TLB entry. */
const uint8_t *mem_fetch_probe(struct cpu *c, uint64_t la)
{
	const struct tlb_entry *e = &c->tlb->x[TLB_INDEX(la)];
	struct walk_result w;
	uint64_t gpa;

	if (e->tag == (la & PAGE_MASK_4K))
		return (const uint8_t *)(e->addend + la);
	if (in_long_mode(c) && !is_canonical(c, la))
		return NULL;
	if (c->cr0 & CR0_PG) {
		if (paging_walk(c, la, ACC_X, c->cpl, ACCF_NOFAULT, &w))
			return NULL;
		gpa = w.gpa;
	} else {
		gpa = in_long_mode(c) ? la : (la & 0xffffffffull);
	}
	return mem_gpa_ptr(c, gpa, 1, false);
}
