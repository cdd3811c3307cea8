/* SPDX-License-Identifier: MIT */
/*
 * Guest-physical memory map, software TLB and the memory slow paths.
 *
 * TLB entries hold the host addend, so a hit is one compare and one add
 * (DESIGN.md). Write entries are filled only for pages that hold no decoded
 * code and that dirty logging has already marked, so a write through the TLB
 * never needs to invalidate code or log anything.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sched.h>

#include "internal.h"
#include "mem.h"

struct cpu_mem *cpu_mem_create(void)
{
	struct cpu_mem *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
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
	for (unsigned k = 0; k < m->nslots; k++)
		slot_free(m->slots[k]);
	/* and the replaced slots kept for vCPUs that had not noticed yet */
	while (m->dead) {
		struct mem_slot *d = m->dead;
		m->dead = d->next_dead;
		slot_free(d);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void mem_register_cpu(struct cpu_mem *m, struct cpu *c)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned k = 0; k < MEM_MAX_CPUS; k++) {
		if (!m->cpus[k]) {
			m->cpus[k] = c;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

void mem_unregister_cpu(struct cpu_mem *m, struct cpu *c)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned k = 0; k < MEM_MAX_CPUS; k++)
		if (m->cpus[k] == c)
			m->cpus[k] = NULL;
	pthread_mutex_unlock(&m->lock);
}

int cpu_mem_set_slot(struct cpu_mem *m, uint32_t id, uint64_t gpa, uint64_t size, void *hva,
		     uint32_t flags)
{
	struct mem_slot *ns = NULL, *old = NULL;
	unsigned k, n;

	if ((gpa | size) & 0xfff)
		return -22; /* EINVAL */
	if (size) {
		uint64_t pages = size >> 12;
		ns = calloc(1, sizeof(*ns));
		if (!ns)
			return -12;
		ns->id = id;
		ns->gpa = gpa;
		ns->size = size;
		ns->hva = hva;
		ns->flags = flags;
		ns->code = calloc(pages, 1);
		ns->gen = calloc(pages, sizeof(uint32_t));
		ns->dirty = calloc((pages + 63) / 64, sizeof(uint64_t));
		if (!ns->code || !ns->gen || !ns->dirty) {
			slot_free(ns);
			return -12;
		}
	}
	pthread_mutex_lock(&m->lock);
	for (k = 0; k < m->nslots; k++) {
		if (m->slots[k]->id == id) {
			old = m->slots[k];
			memmove(&m->slots[k], &m->slots[k + 1],
				(m->nslots - k - 1) * sizeof(void *));
			m->nslots--;
			break;
		}
	}
	if (ns) {
		/* a flags-only change keeps the dirty bitmap, as KVM does */
		if (old && old->gpa == gpa && old->size == size && old->hva == hva)
			memcpy((void *)ns->dirty, (void *)old->dirty, ((size >> 12) + 63) / 64 * 8);
		if (m->nslots == MEM_MAX_SLOTS) {
			pthread_mutex_unlock(&m->lock);
			slot_free(ns);
			return -28; /* ENOSPC */
		}
		n = m->nslots;
		for (k = 0; k < n && m->slots[k]->gpa < gpa; k++)
			;
		memmove(&m->slots[k + 1], &m->slots[k], (n - k) * sizeof(void *));
		m->slots[k] = ns;
		m->nslots++;
	}
	if (ns && (flags & CPU_MEM_DIRTY_INIT_SET))
		memset((void *)ns->dirty, 0xff, ((size >> 12) + 63) / 64 * 8);
	atomic_fetch_add(&m->gen, 1);
	m->last = NULL;
	/* every vCPU drops its TLB and code cache before running again */
	for (unsigned c = 0; c < MEM_MAX_CPUS; c++)
		if (m->cpus[c])
			atomic_fetch_or(&m->cpus[c]->events, EV_TLBFLUSH);
	pthread_mutex_unlock(&m->lock);
	/* Old slot structures may still be referenced by blocks (gen_ptr) of vCPUs
	 * that have not yet noticed m->gen; they are kept until destroy. */
	if (old) {
		pthread_mutex_lock(&m->lock);
		old->next_dead = m->dead;
		m->dead = old;
		pthread_mutex_unlock(&m->lock);
	}
	return 0;
}

struct mem_slot *mem_find_slot(struct cpu_mem *m, uint64_t gpa)
{
	struct mem_slot *s = atomic_load_explicit(&m->last, memory_order_relaxed);
	if (s && gpa - s->gpa < s->size)
		return s;
	for (unsigned k = 0; k < m->nslots; k++) {
		s = m->slots[k];
		if (gpa - s->gpa < s->size) {
			atomic_store_explicit(&m->last, s, memory_order_relaxed);
			return s;
		}
	}
	return NULL;
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

static struct mem_slot *slot_by_id(struct cpu_mem *m, uint32_t id)
{
	for (unsigned k = 0; k < m->nslots; k++)
		if (m->slots[k]->id == id)
			return m->slots[k];
	return NULL;
}

/* Make every vCPU drop its write TLB before returning (dirty log protection). */
static void mem_sync_write_flush(struct cpu_mem *m, struct cpu *self)
{
	uint32_t seen[MEM_MAX_CPUS];
	for (unsigned k = 0; k < MEM_MAX_CPUS; k++) {
		struct cpu *c = m->cpus[k];
		if (!c || c == self)
			continue;
		seen[k] = atomic_load(&c->flush_ack);
		atomic_fetch_or(&c->events, EV_TLBFLUSH);
	}
	for (unsigned k = 0; k < MEM_MAX_CPUS; k++) {
		struct cpu *c = m->cpus[k];
		if (!c || c == self)
			continue;
		while (atomic_load(&c->running) && atomic_load(&c->flush_ack) == seen[k] &&
		       (atomic_load(&c->events) & EV_TLBFLUSH))
			sched_yield();
	}
}

int cpu_mem_get_dirty(struct cpu_mem *m, uint32_t id, uint64_t *bitmap, bool clear)
{
	struct mem_slot *s;
	uint64_t words;

	pthread_mutex_lock(&m->lock);
	s = slot_by_id(m, id);
	if (!s) {
		pthread_mutex_unlock(&m->lock);
		return -2;
	}
	words = ((s->size >> 12) + 63) / 64;
	for (uint64_t w = 0; w < words; w++)
		bitmap[w] = clear ? atomic_exchange(&s->dirty[w], 0) : atomic_load(&s->dirty[w]);
	pthread_mutex_unlock(&m->lock);
	if (clear)
		mem_sync_write_flush(m, NULL);
	return 0;
}

int cpu_mem_clear_dirty(struct cpu_mem *m, uint32_t id, uint64_t first, uint64_t n,
			const uint64_t *mask)
{
	struct mem_slot *s;
	uint64_t pages;

	pthread_mutex_lock(&m->lock);
	s = slot_by_id(m, id);
	if (!s) {
		pthread_mutex_unlock(&m->lock);
		return -2;
	}
	pages = s->size >> 12;
	if (first > pages || n > pages - first) {
		pthread_mutex_unlock(&m->lock);
		return -22;
	}
	for (uint64_t p = 0; p < n; p++) {
		if (mask[p / 64] & (1ull << (p % 64))) {
			uint64_t pg = first + p;
			atomic_fetch_and(&s->dirty[pg / 64], ~(1ull << (pg % 64)));
		}
	}
	pthread_mutex_unlock(&m->lock);
	mem_sync_write_flush(m, NULL);
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
	for (unsigned k = 0; k < MEM_MAX_CPUS; k++) {
		struct cpu *o = m->cpus[k];
		if (o && o != c)
			atomic_fetch_or(&o->events, EV_TLBFLUSH);
	}
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
	for (unsigned k = 0; k < MEM_MAX_CPUS; k++) {
		struct cpu *o = m->cpus[k];
		if (o && atomic_load(&o->mon_line) == line) {
			atomic_store(&o->mon_hit, true);
			if (o->ops->monitor_hit)
				o->ops->monitor_hit(o->opaque);
		}
	}
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
			monitor_hit(c, gpa);
	}
	if (s->flags & CPU_MEM_LOG_DIRTY)
		atomic_fetch_or(&s->dirty[pg / 64], 1ull << (pg % 64));
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

void tlb_flush_all(struct cpu *c)
{
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
	/* large pages are cached as 4 KiB pieces: flush every piece could be cached
	 * anywhere, so a large-page INVLPG flushes everything */
	if (c->tlb_has_large) {
		tlb_flush_all(c);
		c->tlb_has_large = false;
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
	if (w->page_size > 4096)
		c->tlb_has_large = true;
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
	mem_note_write(c, s, gpa);
	st_n(hp, size, v);
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
