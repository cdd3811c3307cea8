/* SPDX-License-Identifier: MIT */
/*
 * The JIT's code buffer, trampoline and block translation driver (the
 * instruction emitters are in emit.c). See README.md in this folder.
 *
 * A translated block lives in the vCPU's code buffer as
 *
 *   [struct jit_hdr][hot code][cold code][exit records]
 *
 * The hot code is the prologue (events, epoch, code generation, instruction
 * count) and each instruction's inline fast path in order; the cold code
 * holds what rarely runs: calls of interpreter handlers when a fast path
 * does not apply, and the exits. JIT code runs with
 *
 *   rbx = struct cpu *, r12 = the guest RIP of the running block's first
 *   instruction, r13 = c->tlb (the TLB set in use), rsp 16-byte aligned,
 *
 * (rbp, r14, r15: the write-through register cache of emit.c; rdi: a
 * read-modify-write operand's host address) and
 * keeps guest registers and lazy flags in struct cpu (so an interpreter
 * handler can be called between any two instructions, and a fault in one
 * leaves exactly the interpreter's state), and leaves through the epilogue
 * with rax = 0 (RIP(c) is set: look it up) or the address of an exit record
 * (a direct branch to RIP(c) that may be patched to jump straight into the
 * target's translation).
 */

#include <pthread.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <Zydis/Zydis.h>

#include "jit_internal.h"

#define JIT_BUF_SIZE  (64u << 20)
#define JIT_STUB_SIZE 4096u
/* the jump cache translated code probes on indirect branches, after the stubs */
#define JIT_CODE_START (JIT_STUB_SIZE + JJC_SIZE * sizeof(struct jjc_entry))

/* ---- handler descriptions ---- */

#define DESC_BITS 12
#define DESC_SIZE (1u << DESC_BITS)
static struct {
	insn_fn fn;
	struct jit_desc d;
} desc_tab[DESC_SIZE];

static unsigned desc_hash(insn_fn fn)
{
	uint64_t h = (uint64_t)(uintptr_t)fn * 0x9e3779b97f4a7c15ull;
	return (unsigned)(h >> (64 - DESC_BITS));
}

void jit_describe(insn_fn fn, unsigned kind, unsigned op, unsigned size)
{
	unsigned h = desc_hash(fn);
	for (unsigned n = 0; n < DESC_SIZE; n++, h = (h + 1) & (DESC_SIZE - 1)) {
		if (!desc_tab[h].fn || desc_tab[h].fn == fn) {
			desc_tab[h].fn = fn;
			desc_tab[h].d.kind = (uint8_t)kind;
			desc_tab[h].d.op = (uint8_t)op;
			desc_tab[h].d.size = (uint8_t)size;
			return;
		}
	}
}

const struct jit_desc *jit_desc_of(insn_fn fn)
{
	unsigned h = desc_hash(fn);
	for (unsigned n = 0; n < DESC_SIZE; n++, h = (h + 1) & (DESC_SIZE - 1)) {
		if (desc_tab[h].fn == fn)
			return &desc_tab[h].d;
		if (!desc_tab[h].fn)
			return NULL;
	}
	return NULL;
}

static int engine_choice = -1;
static FILE *jit_perfmap; /* SOFTKVM_JIT_PERFMAP=1: /tmp/perf-PID.map */
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void engine_init(void)
{
	const char *e = getenv("SOFTKVM_ENGINE");
	if (e && *e && strcmp(e, "interp") && strcmp(e, "jit")) {
		fprintf(stderr, "softkvm: SOFTKVM_ENGINE=%s: expected interp or jit\n", e);
		exit(2);
	}
	engine_choice = !(e && !strcmp(e, "interp"));
	if (getenv("SOFTKVM_JIT_PERFMAP")) {
		char name[64];
		snprintf(name, sizeof(name), "/tmp/perf-%d.map", (int)getpid());
		jit_perfmap = fopen(name, "a");
	}
}

bool jit_engine_selected(void)
{
	pthread_once(&engine_once, engine_init);
	return engine_choice == 1;
}

static void prof_print(void);

/* ---- the code buffer ---- */

static void jjc_clear(struct jit *j);

struct jit *jit_create(void)
{
	struct jit *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->size = JIT_BUF_SIZE;
	/* write xor execute: one memory object, a writable and an executable view */
	j->fd = memfd_create("softkvm-jit", MFD_CLOEXEC);
	if (j->fd < 0 || ftruncate(j->fd, (off_t)j->size) != 0)
		goto fail;
	j->rw = mmap(NULL, j->size, PROT_READ | PROT_WRITE, MAP_SHARED, j->fd, 0);
	j->rx = mmap(NULL, j->size, PROT_READ | PROT_EXEC, MAP_SHARED, j->fd, 0);
	if (j->rw == MAP_FAILED || j->rx == MAP_FAILED)
		goto fail;
	if (jit_emit_stubs(j) != 0)
		goto fail;
	j->jjc = (struct jjc_entry *)(j->rw + JIT_STUB_SIZE);
	j->jjc_rx = j->rx + JIT_STUB_SIZE;
	jjc_clear(j);
	j->used = JIT_CODE_START;
	if (jit_perfmap) {
		/* the buffer itself: where scripts/jit-blocks.py finds its base */
		fprintf(jit_perfmap, "%llx %zx softkvm_jit_buffer\n",
			(unsigned long long)(uintptr_t)j->rx, j->size);
		fflush(jit_perfmap);
	}
	return j;
fail:
	jit_destroy(j);
	return NULL;
}

void jit_destroy(struct jit *j)
{
	if (!j)
		return;

	if (j->rw && j->rw != MAP_FAILED)
		munmap(j->rw, j->size);
	if (j->rx && j->rx != MAP_FAILED)
		munmap(j->rx, j->size);
	if (j->fd >= 0)
		close(j->fd);
	free(j);
}

/* SOFTKVM_JIT_STATS=1: what the JIT did for this vCPU, on stderr */
void jit_print_stats(const struct cpu *c)
{
	const struct jit *j = c->jit;
	const char *st = getenv("SOFTKVM_JIT_STATS");
	if (j && getenv("SOFTKVM_JIT_PROFILE"))
		prof_print();
	if (!j || !st || *st != '1')
		return;
	fprintf(stderr,
		"softkvm jit: %llu insns, %llu blocks translated, %llu flushes, %llu runs from the "
		"dispatcher, %llu lookups (%llu missed), %llu chains patched, %u epochs, %zu KiB "
		"code\nsoftkvm jit: back to the dispatcher: %llu direct branches, %llu events, "
		"%llu epochs, %llu code changes, %llu budget, %llu lookups, %llu handlers, %llu "
		"code writes, %llu block ends\n",
		(unsigned long long)c->icount, (unsigned long long)j->translated,
		(unsigned long long)j->flushes, (unsigned long long)j->runs,
		(unsigned long long)j->lookups, (unsigned long long)j->lookup_misses,
		(unsigned long long)j->chains, c->epoch, j->used >> 10,
		(unsigned long long)j->why[0], (unsigned long long)j->why[1],
		(unsigned long long)j->why[2], (unsigned long long)j->why[3],
		(unsigned long long)j->why[4], (unsigned long long)j->why[5],
		(unsigned long long)j->why[6], (unsigned long long)j->why[7],
		(unsigned long long)j->why[8]);
}

/* An empty jump-cache entry must never match: a zeroed one would match
 * 64-bit code at linear address 0 on page 0 and send the inline probe to a
 * NULL entry (fuzz_abi). A non-canonical address is no 64-bit RIP. */
static void jjc_clear(struct jit *j)
{
	for (unsigned k = 0; k < JJC_SIZE; k++) {
		j->jjc[k].la = JJC_EMPTY;
		j->jjc[k].gpa = 0;
		j->jjc[k].code = NULL;
	}
}

void jit_flush(struct jit *j)
{
	if (j) {
		j->used = JIT_CODE_START;
		jjc_clear(j);
		j->flushes++;
		if (jit_perfmap) {
			fprintf(jit_perfmap, "%llx %zx softkvm_jit_buffer\n",
				(unsigned long long)(uintptr_t)j->rx, j->size);
			fflush(jit_perfmap);
		}
	}
}

/* ---- profiling (SOFTKVM_JIT_PROFILE=1): interpreter calls by handler ---- */

#define PROF_SIZE 4096
static struct {
	_Atomic(insn_fn) fn;
	_Atomic uint64_t n;
} prof[PROF_SIZE];

static struct {
	_Atomic uint64_t stub;
	_Atomic uint64_t n;
} prof_simd[256];

void jit_prof_hit(const struct insn *i)
{
	const struct jit_desc *d = jit_desc_of(i->fn);
	if (d && d->kind == JK_SIMD) {
		unsigned h = (unsigned)(i->imm >> 4) & 255;
		for (unsigned k = 0; k < 256; k++, h = (h + 1) & 255) {
			uint64_t s = atomic_load(&prof_simd[h].stub);
			if (s == i->imm ||
			    (!s &&
			     atomic_compare_exchange_strong(&prof_simd[h].stub, &s, i->imm)) ||
			    s == i->imm) {
				atomic_fetch_add(&prof_simd[h].n, 1);
				break;
			}
		}
	}
	unsigned h = desc_hash(i->fn) & (PROF_SIZE - 1);
	for (unsigned k = 0; k < PROF_SIZE; k++, h = (h + 1) & (PROF_SIZE - 1)) {
		insn_fn f = atomic_load(&prof[h].fn);
		if (f == i->fn || (!f && atomic_compare_exchange_strong(&prof[h].fn, &f, i->fn)) ||
		    f == i->fn) {
			atomic_fetch_add(&prof[h].n, 1);
			return;
		}
	}
}

static void prof_print(void)
{
	uint64_t total = 0;
	for (unsigned k = 0; k < PROF_SIZE; k++)
		total += prof[k].n;
	fprintf(stderr, "softkvm jit: %llu interpreter calls; top handlers (addr2line -f -e):\n",
		(unsigned long long)total);
	for (int r = 0; r < 40; r++) {
		unsigned best = 0;
		for (unsigned k = 1; k < PROF_SIZE; k++)
			if (prof[k].n > prof[best].n)
				best = k;
		if (!prof[best].n)
			break;
		Dl_info di;
		const char *name = "?";
		uintptr_t off = (uintptr_t)prof[best].fn;
		if (dladdr((void *)(uintptr_t)prof[best].fn, &di) && di.dli_fbase)
			off -= (uintptr_t)di.dli_fbase;
		if (di.dli_sname)
			name = di.dli_sname;
		fprintf(stderr, "  %12llu  0x%llx %s\n", (unsigned long long)prof[best].n,
			(unsigned long long)off, name);
		prof[best].n = 0;
	}
	fprintf(stderr, "softkvm jit: generic SIMD handler calls by host stub (its bytes):\n");
	for (int r = 0; r < 20; r++) {
		unsigned best = 0;
		for (unsigned k = 1; k < 256; k++)
			if (prof_simd[k].n > prof_simd[best].n)
				best = k;
		if (!prof_simd[best].n)
			break;
		const uint8_t *p = (const uint8_t *)(uintptr_t)prof_simd[best].stub;
		fprintf(stderr, "  %12llu ", (unsigned long long)prof_simd[best].n);
		for (int k = 0; k < 40; k++)
			fprintf(stderr, "%02x", p[k]);
		fprintf(stderr, "\n");
		prof_simd[best].n = 0;
	}
}

/* ---- the trampoline and shared stubs ---- */

int jit_emit_stubs(struct jit *j)
{
	/* emitted through the writable view; a rel32 between two places of the
	 * buffer is the same in both views */
	struct xbuf b = {j->rw, j->rw, j->rw + JIT_STUB_SIZE, false};
	uint8_t *enter, *epilogue, *exit0, *lookup;

	/* void *enter(struct cpu *c, void *code) */
	enter = b.p;
	xpush(&b, XBP);
	xpush(&b, XBX);
	xpush(&b, X12);
	xpush(&b, X13);
	xpush(&b, X14);
	xpush(&b, X15);
	xalu_ri(&b, XSUB, 8, XSP, 8); /* rsp % 16 == 0 inside JIT code */
	xmov_rr(&b, 8, XBX, XDI);
	xload(&b, 8, X12, xm(XBX, (int32_t)OFF_RIP));
	xload(&b, 8, X13, xm(XBX, (int32_t)OFF_TLB));
	xjmp_r(&b, XSI);

	epilogue = b.p;
	xalu_ri(&b, XADD, 8, XSP, 8);
	xpop(&b, X15);
	xpop(&b, X14);
	xpop(&b, X13);
	xpop(&b, X12);
	xpop(&b, XBX);
	xpop(&b, XBP);
	xret(&b);

	/* leave with RIP(c) already set */
	exit0 = b.p;
	xalu_rr(&b, XXOR, 4, XAX, XAX);
	xjmp_to(&b, epilogue);

	uint8_t *why[JW_N];
	for (unsigned n = 0; n < JW_N; n++) {
		why[n] = b.p;
		xstore_imm(&b, 1, xm(XBX, (int32_t)OFF_JIT_WHY), (int32_t)n);
		xjmp_to(&b, exit0);
	}

	/*
	 * call an interpreter handler: rax = the instruction's RIP, rsi = its
	 * struct insn (whose first field is the handler). Returns when the
	 * handler returned the next instruction and no code was written; else
	 * leaves translated code (RIP(c) is what the handler made it).
	 */
	uint8_t *handler = b.p;
	xstore(&b, 8, XAX, xm(XBX, (int32_t)OFF_RIP));
	if (getenv("SOFTKVM_JIT_PROFILE")) {
		/* count interpreter calls by handler (printed at exit) */
		xpush(&b, XSI);
		xpush(&b, XSI);
		xmov_rr(&b, 8, XDI, XSI);
		xcall(&b, (const void *)jit_prof_hit);
		xpop(&b, XSI);
		xpop(&b, XSI);
	}
	xmov_rr(&b, 8, XDI, XBX);
	xalu_ri(&b, XSUB, 8, XSP, 8);
	xb(&b, 0xff), xb(&b, 0x16); /* call [rsi] */
	xalu_ri(&b, XADD, 8, XSP, 8);
	xtest_rr(&b, 8, XAX, XAX);
	uint8_t *ended = xjcc32(&b, CC_E);
	xload(&b, 8, X13, xm(XBX, (int32_t)OFF_TLB)); /* STAC/CLAC, CPL: the TLB set may differ */
	xalu_mi(&b, XCMP, 1, xm(XBX, (int32_t)OFF_JIT_STOP), 0);
	uint8_t *stopped = xjcc32(&b, CC_NE);
	xret(&b);
	xpatch32(ended, b.p);
	xalu_ri(&b, XADD, 8, XSP, 8);
	xjmp_to(&b, why[JW_HANDLER]);
	xpatch32(stopped, b.p);
	xalu_ri(&b, XADD, 8, XSP, 8);
	xjmp_to(&b, why[JW_STOP]);

	/* an indirect branch (or one to another page): RIP(c) holds the target */
	lookup = b.p;
	xmov_rr(&b, 8, XDI, XBX);
	xcall(&b, (const void *)jit_lookup);
	xtest_rr(&b, 8, XAX, XAX);
	xjcc_to(&b, CC_E, why[JW_LOOKUP]);
	xload(&b, 8, X12, xm(XBX, (int32_t)OFF_RIP));
	xjmp_r(&b, XAX);
	if (b.overflow)
		return -1;
#define RX(p) ((void *)(j->rx + ((p)-j->rw)))
	j->enter = (void *(*)(struct cpu *, void *))RX(enter);
	j->epilogue = RX(epilogue);
	j->exit0 = RX(exit0);
	j->lookup = RX(lookup);
	j->handler = RX(handler);
	for (unsigned n = 0; n < JW_N; n++)
		j->exit_why[n] = RX(why[n]);
#undef RX
	return 0;
}

/* ---- running translated code ---- */

/* Called by a block's prologue when c->events is non-zero: does any event
 * need the dispatcher now? (A masked interrupt or NMI does not.) */
bool jit_events_need_exit(struct cpu *c)
{
	uint32_t ev = atomic_load(&c->events);
	if (ev & ~(uint32_t)(EV_IRQ | EV_NMI))
		return true;
	bool irq = atomic_load(&c->irq_line);
	if (atomic_load(&c->nmi_req))
		return true; /* to be latched (cpu.c, handle_events) */
	if (!irq && !c->nmi_pending)
		return true; /* stale bits: the dispatcher clears them */
	if (c->nmi_pending && !c->nmi_masked)
		return true;
	/* in VMX non-root operation an interrupt may exit whatever IF says */
	return irq && ((c->rflags & FL_IF) || (c->vmx_nonroot && vmx_ext_intr_exits(c)));
}

/* Entry of the translated block for RIP(c), or NULL to go back to the
 * dispatcher (called from JIT code on indirect branches: never faults). */
void *jit_lookup(struct cpu *c)
{
	c->jit->lookups++;
	if ((atomic_load_explicit(&c->events, memory_order_relaxed) && jit_events_need_exit(c)) ||
	    c->exc_pending || !jit_may_run(c))
		return NULL;
	uint64_t la = (c->segbase[SEG_CS] + RIP(c)) & c->la_mask;
	const struct tlb_entry *e = &c->tlb->x[TLB_INDEX(la)];
	if (e->tag != (la & PAGE_MASK_4K))
		return NULL;
	uint64_t gpa = (e->gpa & PAGE_MASK_4K) | (la & 0xfff);
	struct jc_entry *jc = &c->jc[(la ^ (la >> JC_BITS)) & (JC_SIZE - 1)];
	struct block *b = jc->b;
	if (!b || jc->la != la || b->gpa != gpa || b->mode != c->mode || !b->jit ||
	    b->jit_flushes != c->jit->flushes ||
	    atomic_load_explicit(b->gen_ptr, memory_order_relaxed) != b->gen ||
	    (b->epoch != c->epoch && !jit_revalidate(c, b->jit_hdr))) {
		c->jit->lookup_misses++;
		return NULL;
	}
	if (c->mode == ZYDIS_MACHINE_MODE_LONG_64) {
		/* for the inline probe of 64-bit code (emit.c, emit_indirect_exit) */
		struct jjc_entry *e = &c->jit->jjc[JJC_INDEX(la)];
		e->la = la;
		e->gpa = gpa & PAGE_MASK_4K;
		e->code = b->jit;
	}
	return b->jit;
}

/* A block's prologue found a new epoch: is the block still what guest
 * memory holds? (Then it runs on; the dispatcher's block_valid() alike.) */
bool jit_revalidate(struct cpu *c, const struct jit_hdr *h)
{
	struct block *b = h->b;
	if (b->jit_hdr != h || b->jit_flushes != c->jit->flushes ||
	    atomic_load_explicit(b->gen_ptr, memory_order_relaxed) != b->gen)
		return false;
	const uint8_t *hp = mem_gpa_ptr(c, b->gpa, b->nbytes, false);
	if (!hp || memcmp(b->bytes, hp, b->nbytes) != 0)
		return false;
	b->epoch = c->epoch;
	jit_block_revalidated(c, b);
	return true;
}

void jit_block_revalidated(struct cpu *c, struct block *b)
{
	struct jit *j = c->jit;
	if (!j || !b->jit || b->jit_flushes != j->flushes)
		return;
	struct jit_hdr *h = (struct jit_hdr *)(j->rw + ((uint8_t *)b->jit_hdr - j->rx));
	h->epoch = b->epoch;
}

enum jit_result jit_run(struct cpu *c, struct block *b, uint64_t la)
{
	struct jit *j = c->jit;

	if (!b->jit || b->jit_flushes != j->flushes) {
		if (b->jit_failed && b->jit_flushes == j->flushes)
			return JIT_CANNOT;
		enum jit_result r = jit_translate(c, b);
		if (r != JIT_RAN)
			return r;
	}
	/* the direct branch the last run left through, to b: patch it */
	if (c->jit_patch)
		jit_chain(c, b);
	if (c->mode == ZYDIS_MACHINE_MODE_LONG_64) {
		/* and indirect branches of 64-bit code find it inline */
		struct jjc_entry *e = &j->jjc[JJC_INDEX(la)];
		e->la = la;
		e->gpa = b->gpa & PAGE_MASK_4K;
		e->code = b->jit;
	}
	j->runs++;
	c->jit_stop = 0;
	c->nochain = true; /* handlers called from JIT code never chain */
	c->cur_block = NULL;
	c->jit_icount_limit = c->budget_end ? c->budget_end - c->deliver_count : ~0ull;
	/* the dispatcher has just handled the events: enter past their check,
	 * so a pending interrupt the guest masks does not stop the block */
	struct jit_exit *x = j->enter(c, b->jit_noev);
	c->nochain = false;
	j->why[x ? JW_PATCH : c->jit_why]++;
	/* a direct branch within the source block's page: jit_chain() may patch it */
	c->jit_patch = x;
	c->jit_patch_flushes = j->flushes;
	return JIT_RAN;
}

void jit_chain(struct cpu *c, struct block *b)
{
	struct jit *j = c->jit;
	struct jit_exit *x = c->jit_patch;

	c->jit_patch = NULL;
	if (!x || c->jit_patch_flushes != j->flushes || !b->jit || b->jit_flushes != j->flushes)
		return;
	const struct jit_hdr *src = (const struct jit_hdr *)(j->rx + x->hdr_off);
	if (((src->b->gpa ^ b->gpa) & PAGE_MASK_4K) || (b->gpa & 0xfff) != x->target_off ||
	    src->b->mode != b->mode)
		return;
	/* the rel32 as the executable view sees it */
	int32_t d = (int32_t)((uint8_t *)b->jit - (j->rx + x->rel_off + 4));
	memcpy(j->rw + x->rel_off, &d, 4);
	j->chains++;
}

/* ---- translation ---- */

enum jit_result jit_translate(struct cpu *c, struct block *b)
{
	struct jit *j = c->jit;
	struct jctx *x = &j->ctx;

	if ((b->mode != ZYDIS_MACHINE_MODE_LONG_64 &&
	     b->mode != ZYDIS_MACHINE_MODE_LONG_COMPAT_32 &&
	     b->mode != ZYDIS_MACHINE_MODE_LEGACY_32) ||
	    jit_emit_block(c, x, b) != 0) {
		b->jit = NULL;
		b->jit_failed = true;
		b->jit_flushes = j->flushes;
		return JIT_CANNOT;
	}
	size_t hot = (size_t)(x->s[SEC_HOT].p - x->s[SEC_HOT].start);
	size_t cold = (size_t)(x->s[SEC_COLD].p - x->s[SEC_COLD].start);
	size_t data = (size_t)(x->s[SEC_DATA].p - x->s[SEC_DATA].start);
	size_t pos = (j->used + 15) & ~(size_t)15;
	size_t off_hot = sizeof(struct jit_hdr);
	size_t off_cold = off_hot + hot;
	size_t off_data = (off_cold + cold + 7) & ~(size_t)7;
	if (pos + off_data + data > j->size) {
		/* full: start again with an empty buffer and block cache (whose
		 * blocks point into the buffer); b is gone with the cache */
		cpu_flush_code(c);
		return JIT_FLUSHED;
	}
	uint8_t *rw = j->rw + pos, *rx = j->rx + pos;
	struct jit_hdr *h = (struct jit_hdr *)rw;
	h->gen_ptr = b->gen_ptr;
	h->gen = b->gen;
	h->epoch = b->epoch;
	h->b = b;
	memcpy(rw + off_hot, x->s[SEC_HOT].start, hot);
	memcpy(rw + off_cold, x->s[SEC_COLD].start, cold);
	memcpy(rw + off_data, x->s[SEC_DATA].start, data);
	size_t sec_off[NSEC] = {off_hot, off_cold, off_data};
	/* exit records name their rel32 and header by buffer offset */
	for (unsigned k = 0; k < x->nexits; k++) {
		struct jit_exit *e = (struct jit_exit *)(rw + off_data + x->exits[k].data_off);
		e->rel_off = (uint32_t)(pos + off_hot + x->exits[k].hot_rel);
		e->hdr_off = (uint32_t)pos;
		e->target_off = x->exits[k].target_off;
	}
	for (unsigned k = 0; k < x->nfix; k++) {
		const struct jfix *f = &x->fix[k];
		const uint8_t *target;
		switch (f->kind) {
		case FIX_SEC:
			target = rx + sec_off[f->tsec] + f->toff;
			break;
		case FIX_INSN:
			target = rx + off_hot + x->insn_start[f->toff];
			break;
		case FIX_RESUME:
			target = x->resume[f->toff] != UINT32_MAX
				     ? rx + off_cold + x->resume[f->toff]
				     : rx + off_hot + x->insn_start[f->toff];
			break;
		case FIX_HDR:
			target = rx + f->toff;
			break;
		default:
			target = f->abs;
			break;
		}
		int32_t d = (int32_t)(target - (rx + sec_off[f->sec] + f->at + 4));
		memcpy(rw + sec_off[f->sec] + f->at, &d, 4);
	}
	j->used = pos + off_data + data;
	if (getenv("SOFTKVM_JIT_DUMP")) {
		/* debugging: each translation as raw code, for objdump -b binary */
		char name[256];
		snprintf(name, sizeof(name), "%s/%llx-%llx.bin", getenv("SOFTKVM_JIT_DUMP"),
			 (unsigned long long)b->gpa, (unsigned long long)(uintptr_t)(rx + off_hot));
		FILE *f = fopen(name, "wb");
		if (f) {
			fwrite(rw + off_hot, 1, off_data - off_hot, f);
			fclose(f);
		}
	}
	if (jit_perfmap) {
		/* profiling: perf's map of JIT code (/tmp/perf-PID.map) */
		fprintf(jit_perfmap, "%llx %zx guest_%llx\n",
			(unsigned long long)(uintptr_t)(rx + off_hot), off_data - off_hot,
			(unsigned long long)b->gpa);
		fflush(jit_perfmap);
	}
	/* whoever still jumps to the translation of the code this block
	 * replaces (patched branches, the jump cache) is sent here */
	struct block *old = b->jit_prev;
	if (old && old->jit && old->jit_flushes == j->flushes) {
		uint8_t *o = j->rw + ((uint8_t *)old->jit - j->rx);
		int32_t d = (int32_t)((rx + off_hot) - ((uint8_t *)old->jit + 5));
		o[0] = 0xe9;
		memcpy(o + 1, &d, 4);
	}
	b->jit_prev = NULL;
	b->jit = rx + off_hot;
	b->jit_noev = rx + off_hot + x->noev;
	b->jit_hdr = (struct jit_hdr *)rx;
	b->jit_flushes = j->flushes;
	b->jit_failed = false;
	j->translated++;
	return JIT_RAN;
}
