/* SPDX-License-Identifier: MIT */
/*
 * Instruction emitters: a decoded block (struct block) into host code. Each
 * instruction the ops_*.c files describe (jit_describe) gets an inline fast
 * path; whatever that path cannot do (a TLB miss, a segment that needs its
 * checks, a form not covered) runs the instruction's interpreter handler from
 * a cold stub, so the result is the interpreter's by construction. Every
 * other instruction calls its handler inline.
 *
 * Guest registers and the lazy flags live in struct cpu; an inline
 * instruction loads what it reads (from the register cache when it has the
 * register) and stores what it writes, and stores the
 * lazy-flag fields only when a later reader can see them (flags_live_after).
 * After an inline flag producer the host's own EFLAGS equal the guest's, so
 * a following Jcc/SETcc/CMOVcc tests them directly.
 */
#include <Zydis/Zydis.h>

#include "../fpu.h"
#include "jit_internal.h"

#define H(x) (&(x)->s[SEC_HOT])
#define C(x) (&(x)->s[SEC_COLD])
#define D(x) (&(x)->s[SEC_DATA])

/* guest register r (a gpr[] index; a byte offset for byte registers) */
static struct xmem greg(unsigned r)
{
	return xm(XBX, (int32_t)(OFF_GPR + 8 * r));
}

static struct xmem greg8(unsigned byte_off)
{
	return xm(XBX, (int32_t)(OFF_GPR + byte_off));
}

static struct xmem gfield(size_t off)
{
	return xm(XBX, (int32_t)off);
}

/* load guest register r of size into host reg (zero-extended) */
static void ld_greg(struct xbuf *b, unsigned size, int host, unsigned r)
{
	xload(b, size, host, size == 1 ? greg8(r) : greg(r));
}

/* store host reg as guest register r with reg_set()'s rules: size 4 clears
 * the upper half (host must hold the value zero-extended), 1 and 2 merge */
static void st_greg(struct xbuf *b, unsigned size, int host, unsigned r)
{
	if (size == 1)
		xstore(b, 1, host, greg8(r));
	else if (size == 2)
		xstore(b, 2, host, greg(r));
	else
		xstore(b, 8, host, greg(r));
}

/* ---- the register cache ----
 *
 * Within a block, the last guest GPRs written or read are kept in host
 * registers rbp, r14, r15 (callee-saved) and r9, r10, r11 (caller-saved:
 * spill_volatile() empties them before a call of C from the hot path),
 * write-back: a write goes to the
 * cache register only, and struct cpu gets it (a flush) where something else
 * may read it: before every exit from the block (direct, indirect, Jcc, the
 * end), before every interpreter call (the hot path's handler calls and the
 * cold fallbacks, which deliver the faults: so a fault still finds exactly
 * the interpreter's state), when a dirty register is evicted, and before a
 * partial (8/16-bit) write or a byte-register read of it through memory.
 * Reads of a cached register come from the host register (no store-to-load
 * forwarding on the dependency chains of compute loops). Everything that
 * writes a guest GPR goes through stg() or forgets it first; an interpreter
 * call invalidates the cache (the handler may write any register), and where
 * an instruction's interpreter fallback rejoins the translated code, a cold
 * entry reloads the cache registers first (from struct cpu, which the
 * fallback brought up to date: a slot dirty on the hot path is then clean,
 * and flushing it again stores the same value).
 */
static const int cache_host[JIT_NCACHE] = {XBP, X14, X15, X9, X10, X11};

static int cache_find(const struct jctx *x, unsigned g)
{
	for (int s = 0; s < JIT_NCACHE; s++)
		if (x->cache_g[s] == (int)g)
			return s;
	return -1;
}

/* store cache slot s into struct cpu if it is dirty (code into b) */
static void cache_flush_slot(struct jctx *x, struct xbuf *b, int s)
{
	if (x->cache_g[s] >= 0 && x->cache_dirty[s])
		xstore(b, 8, cache_host[s], greg((unsigned)x->cache_g[s]));
	x->cache_dirty[s] = false;
}

/* every dirty slot into struct cpu (the hot path, before leaving it) */
static void cache_flush_all(struct jctx *x)
{
	for (int s = 0; s < JIT_NCACHE; s++)
		cache_flush_slot(x, H(x), s);
}

/* the slots dirty at the start of the instruction being emitted, into
 * buffer b (an interpreter call for it, hot or cold; the static state is
 * not changed) */
static void cache_flush_start(const struct jctx *x, struct xbuf *b)
{
	for (int s = 0; s < JIT_NCACHE; s++)
		if (x->cache_start[s] >= 0 && x->dirty_start[s])
			xstore(b, 8, cache_host[s], greg((unsigned)x->cache_start[s]));
}

/* guest register g stops being cached; a value only the cache had goes to
 * struct cpu first (what follows may write part of it there) */
static void cache_forget(struct jctx *x, unsigned g)
{
	int s = cache_find(x, g);
	if (s >= 0) {
		cache_flush_slot(x, H(x), s);
		x->cache_g[s] = -1;
	}
}

/* guest register g is about to be overwritten whole in struct cpu: its
 * cached value, dirty or not, is dropped */
static void cache_drop(struct jctx *x, unsigned g)
{
	int s = cache_find(x, g);
	if (s >= 0) {
		x->cache_g[s] = -1;
		x->cache_dirty[s] = false;
	}
}

static void cache_clear(struct jctx *x)
{
	for (int s = 0; s < JIT_NCACHE; s++) {
		x->cache_g[s] = -1;
		x->cache_dirty[s] = false;
	}
}

/* before a call of C from the hot path of the instruction being emitted:
 * the caller-saved slots go to struct cpu (if dirty) and stop being cached,
 * now and in the instruction's start state (a fallback created after this
 * point finds them in struct cpu: nothing before a fallback jump changes
 * guest state, so the value stored is the start value) */
static void spill_volatile(struct jctx *x)
{
	for (int s = JIT_NCACHE_SAVED; s < JIT_NCACHE; s++) {
		/* a fallback made before the call would store the clobbered
		 * register: such an emission is not kept */
		if (*x->cur_stub != UINT32_MAX && x->cache_start[s] >= 0 && x->dirty_start[s])
			x->emit_bad = true;
		if (x->cache_g[s] >= 0) {
			cache_flush_slot(x, H(x), s);
			x->cache_g[s] = -1;
		}
		x->cache_start[s] = -1;
		x->dirty_start[s] = false;
	}
}

static bool cache_empty(const int8_t *g)
{
	for (int s = 0; s < JIT_NCACHE; s++)
		if (g[s] >= 0)
			return false;
	return true;
}

/* the cache registers of state g, loaded from struct cpu (into buffer b) */
static void cache_reload(struct xbuf *b, const int8_t *g)
{
	for (int s = 0; s < JIT_NCACHE; s++)
		if (g[s] >= 0)
			xload(b, 8, cache_host[s], greg((unsigned)g[s]));
}

/* a slot to cache a register read in: a free one, else the least recently
 * used clean one (evicting it costs nothing), else -1; never the slot of
 * host register keep (in use by the caller) */
static int cache_pick_clean(const struct jctx *x, int keep)
{
	int best = -1;
	for (int s = 0; s < JIT_NCACHE; s++) {
		if (cache_host[s] == keep)
			continue;
		if (x->cache_g[s] < 0)
			return s;
		if (!x->cache_dirty[s] && (best < 0 || x->cache_age[s] < x->cache_age[best]))
			best = s;
	}
	return best;
}

/* guest register g's full value is now in host register host: keep it (only
 * there: dirty) */
static void cache_put(struct jctx *x, unsigned g, int host)
{
	int s = cache_find(x, g);
	if (s < 0)
		s = cache_pick_clean(x, XNONE);
	if (s < 0) {
		s = 0;
		for (int t = 1; t < JIT_NCACHE; t++)
			if (x->cache_age[t] < x->cache_age[s])
				s = t;
		cache_flush_slot(x, H(x), s); /* the evicted register */
	}
	xmov_rr(H(x), 8, cache_host[s], host);
	x->cache_g[s] = (int8_t)g;
	x->cache_dirty[s] = true;
	x->cache_age[s] = ++x->cache_tick;
}

/* load guest register r (a gpr[] index; a byte offset for size 1) of size
 * into host reg, zero-extended */
static void ldg(struct jctx *x, unsigned size, int host, unsigned r)
{
	struct xbuf *h = H(x);
	int s = cache_find(x, size == 1 ? r / 8 : r);
	if (s >= 0 && (size != 1 || r % 8 == 0)) {
		x->cache_age[s] = ++x->cache_tick;
		if (size == 8)
			xmov_rr(h, 8, host, cache_host[s]);
		else if (size == 4)
			xmov_rr(h, 4, host, cache_host[s]);
		else
			xmovzx_rr(h, size, host, cache_host[s]);
		return;
	}
	if (s >= 0)
		cache_flush_slot(x, h, s); /* AH..BH: read through memory */
	ld_greg(h, size, host, r);
}

/* the host register holding guest register r (all 64 bits) for an address
 * (keep: a host register the caller holds, e.g. the base's for the index):
 * its cache register, cached now (clean) if a slot is free or clean (base
 * registers are read again and again: the stack pointer, a structure's
 * pointer), else host loaded from struct cpu */
static int ldg_addr(struct jctx *x, unsigned r, int host, int keep)
{
	int s = cache_find(x, r);
	if (s < 0 && !x->rc_off && r < 16) {
		s = cache_pick_clean(x, keep);
		if (s >= 0) {
			xload(H(x), 8, cache_host[s], greg(r));
			x->cache_g[s] = (int8_t)r;
			x->cache_dirty[s] = false;
		}
	}
	if (s < 0) {
		ld_greg(H(x), 8, host, r);
		return host;
	}
	x->cache_age[s] = ++x->cache_tick;
	return cache_host[s];
}

/* store host reg as guest register r (st_greg's rules); a full value
 * (size 4 zero-extended, 8) stays in the cache only, a part goes to struct
 * cpu (after the cached whole, if only the cache had it) */
static void stg(struct jctx *x, unsigned size, int host, unsigned r)
{
	if (size >= 4) {
		cache_put(x, r, host);
		return;
	}
	cache_forget(x, size == 1 ? r / 8 : r);
	st_greg(H(x), size, host, r);
}

/* the r/m operand of i: guest register r1, or (mem) the host address in
 * rdi that emit_rmw_addr() left */
static void ld_rm(struct jctx *x, bool mem, unsigned size, int host, const struct insn *i)
{
	if (mem)
		xload(H(x), size, host, xm(XDI, 0));
	else
		ldg(x, size, host, i->r1);
}

/* store: 4-byte registers need the value zero-extended (st_greg) */
static void st_rm(struct jctx *x, bool mem, unsigned size, int host, const struct insn *i)
{
	if (mem)
		xstore(H(x), size, host, xm(XDI, 0));
	else
		stg(x, size, host, i->r1);
}

/* ---- fixups and labels ---- */

static void fixup(struct jctx *x, unsigned sec, uint8_t *at, unsigned kind, unsigned tsec,
		  uint32_t toff, const void *abs)
{
	if (x->s[sec].overflow || !at)
		return;
	if (x->nfix >= MAX_FIX) {
		x->fix_overflow = true;
		return;
	}
	struct jfix *f = &x->fix[x->nfix++];
	f->sec = (uint8_t)sec;
	f->kind = (uint8_t)kind;
	f->tsec = (uint8_t)tsec;
	f->at = (uint32_t)(at - x->s[sec].start);
	f->toff = toff;
	f->abs = abs;
}

static uint32_t here(struct jctx *x, unsigned sec)
{
	return (uint32_t)(x->s[sec].p - x->s[sec].start);
}

static void jmp_sec(struct jctx *x, unsigned sec, unsigned tsec, uint32_t toff)
{
	fixup(x, sec, xjmp32(&x->s[sec]), FIX_SEC, tsec, toff, NULL);
}

static void jcc_sec(struct jctx *x, unsigned sec, enum xcc cc, unsigned tsec, uint32_t toff)
{
	fixup(x, sec, xjcc32(&x->s[sec], cc), FIX_SEC, tsec, toff, NULL);
}

static void jmp_abs(struct jctx *x, unsigned sec, const void *abs)
{
	fixup(x, sec, xjmp32(&x->s[sec]), FIX_ABS, 0, 0, abs);
}

static void jmp_resume(struct jctx *x, unsigned sec, unsigned k)
{
	fixup(x, sec, xjmp32(&x->s[sec]), FIX_RESUME, 0, k, NULL);
}

/* op reg, [rip + header field] (no immediate): the disp32 is fixed up */
static void op_hdr(struct jctx *x, unsigned size, unsigned opc, int reg, size_t field)
{
	struct xbuf *b = H(x);
	xprefix(b, size, reg, 0, 0, false);
	if (opc > 0xff)
		xb(b, (uint8_t)(opc >> 8));
	xb(b, (uint8_t)opc);
	xb(b, (uint8_t)(((reg & 7) << 3) | 5));
	uint8_t *at = b->p;
	x32(b, 0);
	fixup(x, SEC_HOT, at, FIX_HDR, 0, (uint32_t)field, NULL);
}

/* ---- leaving translated code ---- */

static void emit_indirect_exit(struct jctx *x);

/* RIP(c) = r12 + delta (the block's RIP plus a byte offset) */
static void set_rip(struct xbuf *b, int32_t delta)
{
	xlea(b, 8, XAX, xm(X12, delta));
	xstore(b, 8, XAX, gfield(OFF_RIP));
}

/*
 * A direct branch to r12 + delta. Within the block's page (same translation,
 * the chaining rule of cpu_run) it is a jmp that jit_chain() may patch to
 * enter the target's translation; otherwise it goes through jit_lookup().
 * canon_fail: cold offset to jump to if the target is not canonical (only
 * used across pages in 64-bit mode).
 */
static void emit_direct_exit(struct jctx *x, int64_t delta, uint32_t canon_fail)
{
	struct xbuf *h = H(x);
	int64_t pgoff = (int64_t)(x->b->gpa & 0xfff) + delta;

	cache_flush_all(x); /* the next block reads struct cpu */

	if (pgoff >= 0 && pgoff < 4096 && x->nexits < MAX_EXITS) {
		if (delta)
			xlea(h, 8, X12, xm(X12, (int32_t)delta));
		uint8_t *at = xjmp32(h);
		uint32_t stub = here(x, SEC_COLD);
		fixup(x, SEC_HOT, at, FIX_SEC, SEC_COLD, stub, NULL);
		/* the exit's record */
		uint32_t rec = here(x, SEC_DATA);
		x64(D(x), 0);
		x64(D(x), 0);
		x->exits[x->nexits].hot_rel = (uint32_t)(at - h->start);
		x->exits[x->nexits].data_off = rec;
		x->exits[x->nexits].target_off = (uint32_t)pgoff;
		x->nexits++;
		/* cold: leave with RIP = r12, rax = the record */
		struct xbuf *c = C(x);
		xstore(c, 8, X12, gfield(OFF_RIP));
		xb(c, 0x48), xb(c, 0x8d), xb(c, 0x05); /* lea rax, [rip + rec] */
		uint8_t *r = c->p;
		x32(c, 0);
		fixup(x, SEC_COLD, r, FIX_SEC, SEC_DATA, rec, NULL);
		jmp_abs(x, SEC_COLD, x->j->epilogue);
		return;
	}
	if (x->mode64) {
		xlea(h, 8, XAX, xm(X12, (int32_t)delta));
		/* canonical at 48 bits; otherwise the interpreter decides (at 57
		 * bits with CR4.LA57) */
		xmov_rr(h, 8, XCX, XAX);
		xshift_ri(h, XSHL, 8, XCX, 16);
		xshift_ri(h, XSAR, 8, XCX, 16);
		xalu_rr(h, XCMP, 8, XCX, XAX);
		jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, canon_fail);
		/* another page: its translation through the jump cache */
		emit_indirect_exit(x);
		return;
	}
	xlea(h, 4, XAX, xm(X12, (int32_t)delta)); /* wraps at 4 GiB */
	xstore(h, 8, XAX, gfield(OFF_RIP));
	jmp_abs(x, SEC_HOT, x->j->lookup);
}

/* rcx = the TLB entry offset of linear address rsi: TLB_INDEX() * 32 */
static void emit_tlb_index(struct xbuf *h)
{
	/* with p = la >> 12: (p + (p >> 9)) & mask = ((p * 513) >> 9) & mask
	 * (p << 9 has no bits below 9 to carry); the low 32 bits suffice */
	_Static_assert(TLB_BITS == 9 && sizeof(struct tlb_entry) == 32, "the probe's arithmetic");
	xmov_rr(h, 8, XCX, XSI);
	xshift_ri(h, XSHR, 8, XCX, 12);
	ximul_rri(h, 4, XCX, XCX, 513);
	xshift_ri(h, XSHR, 4, XCX, 9 - 5);
	xalu_ri(h, XAND, 4, XCX, TLB_MASK << 5);
}

/* an indirect target in rax (already checked): in 64-bit code probe the
 * jump cache inline (the fetch TLB must still map the page to the
 * physical page the entry was made for); else, or on a miss, jit_lookup() */
static void emit_indirect_exit(struct jctx *x)
{
	struct xbuf *h = H(x), *cs = C(x);
	cache_flush_all(x);
	if (!x->mode64) {
		xstore(h, 8, XAX, gfield(OFF_RIP));
		jmp_abs(x, SEC_HOT, x->j->lookup);
		return;
	}
	uint32_t miss = here(x, SEC_COLD);
	xstore(cs, 8, XAX, gfield(OFF_RIP));
	jmp_abs(x, SEC_COLD, x->j->lookup);
	xmov_rr(h, 8, XSI, XAX);
	emit_tlb_index(h);
	xmov_rr(h, 8, XDX, XSI);
	xalu_ri(h, XAND, 8, XDX, -4096);
	xalu_rm(
	    h, XCMP, 8, XDX,
	    xmi(X13, XCX, 0, (int32_t)(offsetof(struct tlb, x) + offsetof(struct tlb_entry, tag))));
	jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, miss);
	xload(
	    h, 8, XDX,
	    xmi(X13, XCX, 0, (int32_t)(offsetof(struct tlb, x) + offsetof(struct tlb_entry, gpa))));
	xalu_ri(h, XAND, 8, XDX, -4096);
	xmov_rr(h, 8, XCX, XSI);
	xshift_ri(h, XSHR, 8, XCX, 12);
	xalu_rr(h, XXOR, 8, XCX, XSI);
	xalu_ri(h, XAND, 4, XCX, JJC_SIZE - 1);
	xshift_ri(h, XSHL, 4, XCX, 5);
	xb(h, 0x48), xb(h, 0x8d), xb(h, 0x3d); /* lea rdi, [rip + jump cache] */
	{
		uint8_t *at = h->p;
		x32(h, 0);
		fixup(x, SEC_HOT, at, FIX_ABS, 0, 0, x->j->jjc_rx);
	}
	xalu_rm(h, XCMP, 8, XSI, xmi(XDI, XCX, 0, offsetof(struct jjc_entry, la)));
	jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, miss);
	xalu_rm(h, XCMP, 8, XDX, xmi(XDI, XCX, 0, offsetof(struct jjc_entry, gpa)));
	jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, miss);
	xmov_rr(h, 8, X12, XSI);
	xop_rm(h, 4, 0xff, 4, xmi(XDI, XCX, 0, offsetof(struct jjc_entry, code))); /* jmp [..] */
}

/* reg canonical at 48 bits, or to fail: the fallback, the interpreter's
 * handler, which checks at 57 bits with CR4.LA57 */
static void emit_canon_check(struct jctx *x, int reg, uint32_t fail)
{
	struct xbuf *h = H(x);
	xmov_rr(h, 8, XDX, reg);
	xshift_ri(h, XSHL, 8, XDX, 16);
	xshift_ri(h, XSAR, 8, XDX, 16);
	xalu_rr(h, XCMP, 8, XDX, reg);
	jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, fail);
}

/* ---- calling the interpreter ---- */

/* the call of instruction k's handler, RIP(c) set first; falls through when
 * the handler returned the next instruction and nothing asks to stop */
static void jit_set_cf_of(struct cpu *c, uint64_t cf, uint64_t of);

/* CF and OF of the deferred ROL/ROR (op << 8 | size) from its result */
static void jit_rot_fix(struct cpu *c, unsigned opsize)
{
	unsigned op = opsize >> 8, bits = (opsize & 0xff) * 8;
	uint64_t r = c->jit_rot_res, cf, of;
	if (op == JS_ROL) {
		cf = r & 1;
		of = ((r >> (bits - 1)) & 1) ^ cf;
	} else {
		cf = (r >> (bits - 1)) & 1;
		of = cf ^ ((r >> (bits - 2)) & 1);
	}
	jit_set_cf_of(c, cf, of);
}

/* a rotate's deferred CF/OF into struct cpu (before anything can see them) */
static void emit_rot_fix(struct jctx *x, struct xbuf *b)
{
	if (!x->rot_size)
		return;
	xmov_rr(b, 8, XDI, XBX);
	xmov_ri(b, XSI, x->rot_op << 8 | x->rot_size);
	xcall(b, (const void *)jit_rot_fix);
}

static void emit_handler_call(struct jctx *x, unsigned sec, unsigned k)
{
	struct xbuf *b = &x->s[sec];
	const struct insn *i = &x->b->insns[k];
	/* the interpreter sees exact registers and flags (a fault there is
	 * delivered): the instruction's start state */
	cache_flush_start(x, b);
	emit_rot_fix(x, b);
	xlea(b, 8, XAX, xm(X12, (int32_t)x->goff[k]));
	xmov_ri(b, XSI, (uint64_t)(uintptr_t)i);
	xb(b, 0xe8); /* call the shared stub */
	uint8_t *at = b->p;
	x32(b, 0);
	fixup(x, sec, at, FIX_ABS, 0, 0, x->j->handler);
}

/* the cold stub that runs instruction k through its handler when the inline
 * path cannot; created on first use. Returns its cold offset. */
static uint32_t fallback(struct jctx *x, uint32_t *stub)
{
	if (*stub != UINT32_MAX)
		return *stub;
	*stub = here(x, SEC_COLD);
	emit_handler_call(x, SEC_COLD, x->k);
	jmp_resume(x, SEC_COLD, x->k + 1);
	return *stub;
}

/* ---- memory operands ---- */

/* linear address of i's memory operand into rsi; a segment that needs its
 * checks (outside 64-bit mode) goes to fail */
static void emit_la(struct jctx *x, const struct insn *i, uint32_t *stub)
{
	struct xbuf *h = H(x);
	int64_t disp = i->disp;
	unsigned base = i->base, index = i->index;
	bool a32 = i->ashift == 32;
	int breg = XNONE, ireg = XNONE;

	if (index == GPR_2G) {
		disp += 1ll << 31;
		index = GPR_ZERO;
	}
	if (base == GPR_RIP) {
		disp += x->goff[x->k];
		breg = X12;
	} else if (base != GPR_ZERO) {
		breg = ldg_addr(x, base, XSI, XNONE);
	}
	if (index != GPR_ZERO)
		ireg = ldg_addr(x, index, XCX, breg);
	if (!xfits32(disp)) {
		xmov_ri(h, XDX, (uint64_t)disp);
		if (breg != XNONE)
			xalu_rr(h, XADD, 8, XDX, breg);
		breg = XDX;
		disp = 0;
	}
	if (breg == XNONE && ireg == XNONE)
		xmov_ri(h, XSI, a32 ? (uint32_t)disp : (uint64_t)disp);
	else if (!(breg == XSI && ireg == XNONE && disp == 0 && !a32))
		xlea(h, a32 ? 4 : 8, XSI, xmi(breg, ireg, i->scale, (int32_t)disp));
	if (x->mode64) {
		if (i->seg == SEG_FS || i->seg == SEG_GS)
			xalu_rm(h, XADD, 8, XSI, gfield(OFF_SEGBASE + 8 * i->seg));
	} else {
		/* test dword [segchk], bit */
		xop_rm(h, 4, 0xf7, 0, gfield(OFF_SEGCHK));
		x32(h, 1u << i->seg);
		jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, fallback(x, stub));
		xalu_rm(h, XADD, 4, XSI, gfield(OFF_SEGBASE + 8 * i->seg));
	}
}

/* host address of [rsi, rsi + size) in rax through TLB table tbl (offset of
 * r/w/x in struct tlb); a miss goes to the fallback. Clobbers rcx, rdx. */
static void emit_tlb(struct jctx *x, size_t tbl, unsigned size, uint32_t *stub)
{
	struct xbuf *h = H(x);
	emit_tlb_index(h);
	/* the page of the last byte is the entry's tag: a hit that does not
	 * cross into the next page (whose index differs) */
	xlea(h, 8, XDX, xm(XSI, (int32_t)size - 1));
	xalu_ri(h, XAND, 8, XDX, -4096);
	xalu_rm(h, XCMP, 8, XDX,
		xmi(X13, XCX, 0, (int32_t)(tbl + offsetof(struct tlb_entry, tag))));
	jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, fallback(x, stub));
	xmov_rr(h, 8, XAX, XSI);
	xalu_rm(h, XADD, 8, XAX,
		xmi(X13, XCX, 0, (int32_t)(tbl + offsetof(struct tlb_entry, addend))));
}

#define TLB_R offsetof(struct tlb, r)
#define TLB_W offsetof(struct tlb, w)

/* a read-modify-write operand: its host address (through the write TLB,
 * which also allows the read) into rdi; a miss or a segment that needs
 * checks runs the whole instruction in the interpreter, before any state
 * changes */
static void emit_rmw_addr(struct jctx *x, const struct insn *i, unsigned size, uint32_t *stub)
{
	emit_la(x, i, stub);
	emit_tlb(x, TLB_W, size, stub);
	xmov_rr(H(x), 8, XDI, XAX);
}

/* ---- flags ---- */

/* hf_kind of an instruction that leaves only the guest's CF in the host's
 * EFLAGS (BT): good for the conditions B and AE */
#define HF_CF_ONLY 64

/* reload host flags equal to the guest's from the lazy fields of static
 * cc_op op for condition cond; false if that cannot be done exactly */
static bool reload_flags(struct xbuf *b, unsigned op, unsigned cond)
{
	unsigned kind = CC_KIND(op), size = 1u << CC_SZLOG(op);
	bool uses_cf = (cond >> 1) == 1 || (cond >> 1) == 3;
	switch (kind) {
	case CC_SUB:
		xload(b, 8, XAX, gfield(OFF_CC_AUX));
		xalu_rm(b, XCMP, size, XAX, gfield(OFF_CC_SRC));
		return true;
	case CC_ADD:
		xload(b, 8, XAX, gfield(OFF_CC_AUX));
		xalu_rm(b, XADD, size, XAX, gfield(OFF_CC_SRC));
		return true;
	case CC_LOGIC:
		xload(b, 8, XAX, gfield(OFF_CC_RES));
		xtest_rr(b, size, XAX, XAX);
		return true;
	case CC_EFLAGS: /* in rflags: the arithmetic bits only into the host's */
		xload(b, 4, XAX, gfield(OFF_RFLAGS));
		xalu_ri(b, XAND, 4, XAX, FL_ARITH);
		xpush(b, XAX);
		xb(b, 0x9d); /* popfq */
		return true;
	case CC_RESCO: /* shifts: ZF SF PF from the result, AF 0; CF, OF stored apart */
		if ((cond >> 1) != 2 && (cond >> 1) != 4 && (cond >> 1) != 5)
			return false;
		xload(b, 8, XAX, gfield(OFF_CC_RES));
		xtest_rr(b, size, XAX, XAX);
		return true;
	case CC_INC:
	case CC_DEC:
		if (uses_cf)
			return false;
		xload(b, 8, XAX, gfield(OFF_CC_AUX));
		if (kind == CC_INC)
			xinc(b, size, XAX);
		else
			xdec(b, size, XAX);
		return true;
	default:
		return false;
	}
}

/* host flags of the previous instruction are the guest's for cond */
static bool host_flags_ok(const struct jctx *x, unsigned cond)
{
	if (x->hf_kind < 0)
		return false;
	if (x->hf_kind == HF_CF_ONLY)
		return (cond >> 1) == 1;
	if (x->hf_kind == CC_INC || x->hf_kind == CC_DEC)
		return (cond >> 1) != 1 && (cond >> 1) != 3;
	return true;
}

static bool cc_cond_call(struct cpu *c, unsigned cond)
{
	return cc_cond(c, cond);
}

/* the conditions whose pair (cond >> 1) reads one flag: its function, called
 * directly (no dispatch on cond); the rest through cc_cond_call */
static const void *cond_flag_fn(unsigned cond)
{
	switch (cond >> 1) {
	case 0:
		return (const void *)cc_of;
	case 1:
		return (const void *)cc_cf;
	case 2:
		return (const void *)cc_zf;
	case 4:
		return (const void *)cc_sf;
	default:
		return NULL;
	}
}

/*
 * Make host EFLAGS answer guest condition cond; returns the host condition
 * code that is true when cond is. If the previous instruction left the
 * flags in the host's EFLAGS, an interpreter run of it (its fallback) must
 * come back through a reload: resume[k] is set to one.
 */
static enum xcc emit_cond(struct jctx *x, unsigned cond)
{
	struct xbuf *h = H(x);
	if (host_flags_ok(x, cond) && x->ccop) {
		/* the previous instruction's fallback resumes through a reload
		 * (of the cache registers too: it replaces the rejoin entry) */
		uint32_t r = here(x, SEC_COLD);
		cache_reload(C(x), x->cache_start);
		if (reload_flags(C(x), (unsigned)x->ccop - 1, cond)) {
			jmp_sec(x, SEC_COLD, SEC_HOT, here(x, SEC_HOT));
			x->resume[x->k] = r;
			return (enum xcc)cond;
		}
		x->s[SEC_COLD].p = x->s[SEC_COLD].start + r;
	}
	if (x->ccop && reload_flags(h, (unsigned)x->ccop - 1, cond))
		return (enum xcc)cond;
	spill_volatile(x);
	xmov_rr(h, 8, XDI, XBX);
	const void *fn = cond_flag_fn(cond);
	if (fn) {
		xcall(h, fn);
		xtest_rr(h, 1, XAX, XAX);
		return cond & 1 ? CC_E : CC_NE;
	}
	xmov_ri(h, XSI, cond);
	xcall(h, (const void *)cc_cond_call);
	xtest_rr(h, 1, XAX, XAX);
	return CC_NE;
}

/* ---- instruction emitters ---- */

/* r8 = the guest's CF (0 or 1) before the instruction being emitted */
static void emit_get_cf(struct jctx *x)
{
	struct xbuf *h = H(x);
	int kind = x->ccop ? (int)CC_KIND(x->ccop - 1) : -1;
	/* the host's CF (if the previous instruction cannot have run in the
	 * interpreter instead) */
	if (x->hf_kind >= 0 && x->hf_nofb && x->hf_kind != CC_INC && x->hf_kind != CC_DEC) {
		xsetcc(h, CC_B, X8);
		xmovzx_rr(h, 1, X8, X8);
	} else if (kind == CC_SUB || kind == CC_ADD) {
		reload_flags(h, (unsigned)x->ccop - 1, 2);
		xsetcc(h, CC_B, X8);
		xmovzx_rr(h, 1, X8, X8);
	} else if (kind == CC_LOGIC) {
		xalu_rr(h, XXOR, 4, X8, X8);
	} else if (kind == CC_RESCO || kind == CC_INC || kind == CC_DEC || kind == CC_EFLAGS) {
		xload(h, 8, X8, gfield(kind == CC_EFLAGS ? OFF_RFLAGS : OFF_CC_SRC));
		xalu_ri(h, XAND, 4, X8, 1);
	} else {
		spill_volatile(x);
		xmov_rr(h, 8, XDI, XBX);
		xcall(h, (const void *)cc_cf);
		xmovzx_rr(h, 1, X8, XAX);
	}
}

/* host CF = r8 (bt r8d, 0) */
static void emit_set_cf(struct xbuf *h)
{
	xop_rr(h, 4, 0x0fba, 4, X8);
	xb(h, 0);
}

/* the host's arithmetic flags become the guest's: rflags, cc_op = CC_EFLAGS */
static void emit_store_host_flags(struct jctx *x)
{
	struct xbuf *h = H(x);
	xb(h, 0x9c); /* pushfq */
	xload(h, 8, XSI, xm(XSP, 0));
	xalu_ri(h, XAND, 4, XSI, FL_ARITH);
	xload(h, 8, XDI, gfield(OFF_RFLAGS));
	xalu_ri(h, XAND, 8, XDI, (int32_t)~FL_ARITH);
	xalu_rr(h, XOR_, 8, XDI, XSI);
	xstore(h, 8, XDI, gfield(OFF_RFLAGS));
	xstore_imm(h, 4, gfield(OFF_CC_OP), CC_EFLAGS);
	xb(h, 0x9d); /* popfq: the host's flags stay the guest's for a following Jcc */
	x->ccop_next = CC_OP(CC_EFLAGS, 0) + 1;
}

static bool is_jcc(const struct jctx *x, const struct insn *i)
{
	unsigned cond = i->aux & 15;
	if (i->fn == jcc_generic(cond))
		return true;
	return x->ccop && i->fn == jcc_fused((unsigned)x->ccop - 1, cond);
}

static bool emit_jcc(struct jctx *x, const struct insn *i, uint32_t *stub)
{
	int64_t taken = (int64_t)x->goff[x->k] + i->len + (int64_t)i->imm;
	int64_t fall = (int64_t)x->goff[x->k] + i->len;
	if (i->osz == 2 || !xfits32(taken))
		return false;
	/* both exits leave clean: flush before the branch between them (MOV
	 * keeps the host flags emit_cond may use) */
	cache_flush_all(x);
	enum xcc cc = emit_cond(x, i->aux & 15);
	struct xbuf *h = H(x);
	/* over the taken exit when the condition is false */
	uint8_t *nt = xjcc32(h, (enum xcc)(cc ^ 1));
	emit_direct_exit(x, taken, fallback(x, stub));
	if (!h->overflow)
		xpatch32(nt, h->p);
	emit_direct_exit(x, fall, fallback(x, stub));
	return true;
}

static void jit_set_cf_of(struct cpu *c, uint64_t cf, uint64_t of)
{
	cc_materialize(c);
	c->rflags = (c->rflags & ~(uint64_t)(FL_CF | FL_OF)) | (cf ? FL_CF : 0) | (of ? FL_OF : 0);
}

/* BT's flags: CF = the bit, the others as they were (materialised); returns cf */
static uint64_t jit_set_cf(struct cpu *c, uint64_t cf)
{
	cc_materialize(c);
	c->rflags = (c->rflags & ~(uint64_t)FL_CF) | (cf ? FL_CF : 0);
	return cf;
}

/*
 * ROL/ROR whose flags are live: CF and OF change, the other four stay as the
 * previous operation left them. With that operation known statically its
 * flags are reloaded into the host's EFLAGS and merged with the rotate's CF
 * and OF into rflags (cc_op = CC_EFLAGS); else a helper merges them.
 */
static bool emit_rotate_live(struct jctx *x, const struct insn *i, unsigned op, unsigned size,
			     unsigned cnt)
{
	struct xbuf *h = H(x);
	unsigned bits = size * 8;
	int kind = x->ccop ? (int)CC_KIND(x->ccop - 1) : -1;
	bool known = kind == CC_SUB || kind == CC_ADD || kind == CC_LOGIC || kind == CC_INC ||
		     kind == CC_DEC || kind == CC_EFLAGS || kind == CC_RESCO;

	if (x->rot_size) {
		spill_volatile(x);
		emit_rot_fix(x, h);
		x->rot_size = 0;
		known = false;
	}

	if (kind == CC_EFLAGS) {
		/* the flags are in rflags already (another rotate before) */
		xload(h, 4, XSI, gfield(OFF_RFLAGS));
		xalu_ri(h, XAND, 4, XSI, (int32_t)(FL_ZF | FL_SF | FL_PF | FL_AF));
	} else if (known) {
		/* ZF SF AF PF of the previous operation (cond 4: any that reloads) */
		reload_flags(h, (unsigned)x->ccop - 1, 4);
		xb(h, 0x9c); /* pushfq */
		xpop(h, XSI);
		xalu_ri(h, XAND, 4, XSI,
			(int32_t)(FL_ZF | FL_SF | FL_PF |
				  (kind == CC_LOGIC || kind == CC_RESCO ? 0 : FL_AF)));
	}
	ldg(x, size, XAX, i->r1);
	xshift_ri(h, op == JS_ROL ? XROL : XROR, size, XAX, (uint8_t)cnt);
	stg(x, size, XAX, i->r1);
	/* CF: ROL the result's bit 0, ROR its sign; OF: ROL sign ^ CF, ROR the
	 * two top bits' xor (the interpreter's values for every count) */
	xmov_rr(h, 8, XCX, XAX);
	xmov_rr(h, 8, XDX, XAX);
	if (op == JS_ROL) {
		xalu_ri(h, XAND, 4, XCX, 1);
		xshift_ri(h, XSHR, 8, XDX, (uint8_t)(bits - 1));
		xalu_ri(h, XAND, 4, XDX, 1);
		xalu_rr(h, XXOR, 4, XDX, XCX);
	} else {
		xshift_ri(h, XSHR, 8, XCX, (uint8_t)(bits - 1));
		xalu_ri(h, XAND, 4, XCX, 1);
		xshift_ri(h, XSHR, 8, XDX, (uint8_t)(bits - 2));
		xalu_ri(h, XAND, 4, XDX, 1);
		xalu_rr(h, XXOR, 4, XDX, XCX);
	}
	if (!known) {
		spill_volatile(x);
		xmov_rr(h, 8, XDI, XBX);
		xmov_rr(h, 8, XSI, XCX);
		xcall(h, (const void *)jit_set_cf_of);
		return true;
	}
	/* rflags = (rflags & ~arith) | ZF SF AF PF | CF | OF << 11 */
	xalu_rr(h, XOR_, 4, XSI, XCX);
	xshift_ri(h, XSHL, 4, XDX, 11);
	xalu_rr(h, XOR_, 4, XSI, XDX);
	xload(h, 8, XAX, gfield(OFF_RFLAGS));
	xalu_ri(h, XAND, 8, XAX, (int32_t)~FL_ARITH);
	xalu_rr(h, XOR_, 8, XAX, XSI);
	xstore(h, 8, XAX, gfield(OFF_RFLAGS));
	xstore_imm(h, 4, gfield(OFF_CC_OP), CC_EFLAGS);
	x->ccop_next = CC_OP(CC_EFLAGS, 0) + 1;
	return true;
}

static struct xmem xmm_of(unsigned r)
{
	return xm(XBX, (int32_t)(OFF_XMM + 16 * r));
}

/*
 * The integer SSE instructions of string loops and the 128-bit moves: the
 * host's own instruction on the register file in struct cpu. The checks
 * (CR0.EM/TS, CR4.OSFXSR, alignment, the TLB) go to the interpreter when
 * they do not pass, which raises what is due.
 */
static bool emit_sse(struct jctx *x, const struct insn *i, const struct jit_desc *d, uint32_t *stub)
{
	struct xbuf *h = H(x);
	bool mem = (i->flags & INSN_MEM) != 0;
	bool aligned = d->kind == JK_SSE_OP || (i->aux2 & 1);

	if (mem && i->ashift == 48)
		return false;
	/* SSE usable: CR0.EM = CR0.TS = 0, CR4.OSFXSR = 1 */
	xop_rm(h, 4, 0xf7, 0, gfield(OFF_CR0)); /* test dword [cr0], EM | TS */
	x32(h, (uint32_t)(CR0_EM | CR0_TS));
	jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, fallback(x, stub));
	xop_rm(h, 4, 0xf7, 0, gfield(OFF_CR4));
	x32(h, (uint32_t)CR4_OSFXSR);
	jcc_sec(x, SEC_HOT, CC_E, SEC_COLD, fallback(x, stub));
	if (d->kind == JK_PMOVMSKB) {
		xsse_m(h, 0xf3, 0x6f, 0, xmm_of(i->r2)); /* movdqu xmm0, [r2] */
		xsse_r(h, 0x66, 0xd7, XAX, 0);		 /* pmovmskb eax, xmm0 */
		stg(x, i->aux & 15, XAX, i->r1);
		return true;
	}
	if (mem) {
		emit_la(x, i, stub);
		if (aligned) {
			xtest_ri(h, 1, XSI, 15);
			jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, fallback(x, stub));
		}
		emit_tlb(x, d->kind == JK_MOV128_STORE ? TLB_W : TLB_R, 16, stub);
	}
	switch (d->kind) {
	case JK_MOV128_STORE:
		xsse_m(h, 0xf3, 0x6f, 0, xmm_of(i->r1));
		xsse_m(h, 0xf3, 0x7f, 0, xm(XAX, 0)); /* movdqu [rax], xmm0 */
		return true;
	case JK_MOV128_LOAD:
		xsse_m(h, 0xf3, 0x6f, 0, mem ? xm(XAX, 0) : xmm_of(i->r2));
		xsse_m(h, 0xf3, 0x7f, 0, xmm_of(i->r1));
		return true;
	default:
		xsse_m(h, 0xf3, 0x6f, 0, xmm_of(i->r1));
		xsse_m(h, 0xf3, 0x6f, 1, mem ? xm(XAX, 0) : xmm_of(i->r2));
		xsse_r(h, 0x66, d->op, 0, 1); /* op xmm0, xmm1 */
		xsse_m(h, 0xf3, 0x7f, 0, xmm_of(i->r1));
		return true;
	}
}

/* the generic SIMD handler's flag word (ops_sse.c) */
#define SF_REGK(f) ((f)&7)
#define SF_RMK(f)  (((f) >> 3) & 7)
#define SF_REG_W   (1u << 7)
#define SF_RM_W	   (1u << 9)
#define SF_MXCSR   (1u << 10)
#define SF_RFLAGS  (1u << 11)
#define SF_ALIGN   (1u << 12)
#define SF_XMM0	   (1u << 13)
#define SF_GPR_IN  (1u << 15)
#define SF_MMX	   (1u << 16)
#define SF_RCX_OUT (1u << 18)
#define SF_DPPS	   (1u << 19)
#define SF_DPPD	   (1u << 20)

/*
 * An instruction of the generic SIMD handler that needs neither MXCSR nor
 * MMX state nor implicit registers in: the host's own instruction, with
 * the guest's XMM registers loaded into xmm0 (ModRM.reg) and xmm1 (r/m), a
 * memory operand at [rax], a GPR r/m in rcx. Flags and ECX out as it leaves
 * them.
 */
static bool emit_simd(struct jctx *x, const struct insn *i, uint32_t *stub)
{
	struct xbuf *h = H(x);
	uint32_t fl = i->aux2;
	unsigned rk = SF_REGK(fl), mk = SF_RMK(fl), n = i->osz;
	struct simd_enc e;

	if (fl & (SF_MXCSR | SF_MMX | SF_XMM0 | SF_GPR_IN | SF_DPPS | SF_DPPD))
		return false;
	if ((rk != SK_XMM && rk != SK_NONE) || (mk != SK_XMM && mk != SK_MEM && mk != SK_GPR))
		return false;
	if (!fpu_host_simd_enc(x->c, (simd_fn)(uintptr_t)i->imm, &e) || e.xmm0_read ||
	    e.xmm0_write || e.gpr_in || e.mxcsr)
		return false;
	if (mk == SK_MEM && (i->ashift == 48 || n > 16))
		return false;
	/* SSE usable: CR0.EM = CR0.TS = 0, CR4.OSFXSR = 1 */
	xop_rm(h, 4, 0xf7, 0, gfield(OFF_CR0));
	x32(h, (uint32_t)(CR0_EM | CR0_TS));
	jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, fallback(x, stub));
	xop_rm(h, 4, 0xf7, 0, gfield(OFF_CR4));
	x32(h, (uint32_t)CR4_OSFXSR);
	jcc_sec(x, SEC_HOT, CC_E, SEC_COLD, fallback(x, stub));
	if (mk == SK_MEM) {
		emit_la(x, i, stub);
		if (fl & SF_ALIGN) {
			xtest_ri(h, 1, XSI, 15);
			jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, fallback(x, stub));
		}
		emit_tlb(x, (fl & SF_RM_W) ? TLB_W : TLB_R, n, stub);
	}
	if (rk == SK_XMM)
		xsse_m(h, 0xf3, 0x6f, 0, xmm_of(i->r1));
	if (mk == SK_XMM)
		xsse_m(h, 0xf3, 0x6f, 1, xmm_of(i->r2));
	else if (mk == SK_GPR)
		ldg(x, i->aux >> 4, XCX, i->r2);
	/* the instruction */
	for (unsigned k = 0; k < e.nprefix; k++)
		xb(h, e.prefix[k]);
	if (e.rex_w)
		xb(h, 0x48);
	xb(h, 0x0f);
	if (e.map == 2)
		xb(h, 0x38);
	else if (e.map == 3)
		xb(h, 0x3a);
	xb(h, e.opcode);
	unsigned reg = e.reg_kind == SK_NONE ? (e.modrm_reg & 7) : 0;
	if (mk == SK_MEM)
		xb(h, (uint8_t)(reg << 3)); /* [rax] */
	else
		xb(h, (uint8_t)(0xc0 | (reg << 3) | 1)); /* xmm1 or rcx */
	if (e.has_imm)
		xb(h, e.imm);
	if (rk == SK_XMM && (fl & SF_REG_W))
		xsse_m(h, 0xf3, 0x7f, 0, xmm_of(i->r1));
	if (mk == SK_XMM && (fl & SF_RM_W))
		xsse_m(h, 0xf3, 0x7f, 1, xmm_of(i->r2));
	if (mk == SK_GPR && (fl & SF_RM_W)) {
		unsigned sz = i->aux >> 4;
		if (sz == 4)
			xmov_rr(h, 4, XCX, XCX);
		stg(x, sz, XCX, i->r2);
	}
	if (fl & SF_RCX_OUT) {
		xmov_rr(h, 4, XCX, XCX);
		stg(x, 8, XCX, GPR_RCX);
	}
	if (fl & SF_RFLAGS) {
		emit_store_host_flags(x);
		x->hf_next = CC_EFLAGS;
	}
	return true;
}

/* ---- VEX (AVX/AVX2) ----
 *
 * Guest YMM r is struct cpu's XMM r (low half) and ymmh[r] (high half). An
 * instruction that leaves MXCSR alone (vex_enc.nomxcsr: integer, logic,
 * moves) runs inline as the host's own, on host ymm1 or eax/rax (ModRM.reg),
 * ymm2, ecx/rcx or [rax] for memory through the TLB (ModRM.rm) and ymm3
 * (VEX.vvvv),
 * loaded from and stored back to struct cpu; VZEROUPPER follows so the
 * host's SSE code pays no transition penalty. The #UD/#NM conditions (CR4.
 * OSXSAVE, XCR0 SSE|YMM, CR0.TS), an alignment fault or a TLB miss run the
 * interpreter's handler instead.
 */

static void vex_rbx(struct xbuf *h, int d, size_t off)
{
	xb(h, (uint8_t)(0x80 | (d << 3) | XBX)); /* [rbx + disp32] */
	x32(h, (uint32_t)off);
}

/* ymmD (D < 8) = guest YMM r (the low half only when !L) */
static void vex_load(struct xbuf *h, int d, unsigned r, bool L)
{
	xb(h, 0xc5), xb(h, 0xfa), xb(h, 0x6f); /* vmovdqu xmmD, m128 */
	vex_rbx(h, d, OFF_XMM + 16 * r);
	if (L) {
		/* vinserti128 ymmD, ymmD, m128, 1 */
		xb(h, 0xc4), xb(h, 0xe3), xb(h, (uint8_t)(((~d & 15) << 3) | 4 | 1)), xb(h, 0x38);
		vex_rbx(h, d, OFF_YMMH + 16 * r);
		xb(h, 1);
	}
}

/* guest YMM r = ymmD, all 256 bits (a VEX.128 result has 255:128 zero) */
static void vex_store(struct xbuf *h, int d, unsigned r)
{
	xb(h, 0xc5), xb(h, 0xfa), xb(h, 0x7f); /* vmovdqu m128, xmmD */
	vex_rbx(h, d, OFF_XMM + 16 * r);
	xb(h, 0xc4), xb(h, 0xe3), xb(h, 0x7d), xb(h, 0x39); /* vextracti128 m128, ymmD, 1 */
	vex_rbx(h, d, OFF_YMMH + 16 * r);
	xb(h, 1);
}

/* the VEX #UD/#NM conditions: usable, or to the fallback */
static void emit_avx_usable(struct jctx *x, uint32_t *stub)
{
	struct xbuf *h = H(x);
	xop_rm(h, 4, 0xf7, 0, gfield(OFF_CR4)); /* test dword [cr4], OSXSAVE */
	x32(h, (uint32_t)CR4_OSXSAVE);
	jcc_sec(x, SEC_HOT, CC_E, SEC_COLD, fallback(x, stub));
	xload(h, 4, XDX, gfield(OFF_XCR0));
	xalu_ri(h, XAND, 4, XDX, 6);
	xalu_ri(h, XCMP, 4, XDX, 6);
	jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, fallback(x, stub));
	xop_rm(h, 4, 0xf7, 0, gfield(OFF_CR0)); /* test dword [cr0], TS */
	x32(h, (uint32_t)CR0_TS);
	jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, fallback(x, stub));
}

static bool emit_avx(struct jctx *x, const struct insn *i, uint32_t *stub)
{
	struct xbuf *h = H(x);
	struct vex_enc e;
	uint32_t fl = i->aux2;
	unsigned rk = AF_REGK(fl), mk = AF_RMK(fl), n = i->osz, vr = i->aux & 15;
	bool mem = mk == SK_MEM;

	if (!fpu_host_vex_enc(x->c, (avx_fn)(uintptr_t)i->imm, &e) || !e.nomxcsr)
		return false;
	if (e.is4 || e.xmm0_read || e.xmm0_write || e.gpr_in || e.gpr_out)
		return false;
	if (rk != SK_XMM && rk != SK_NONE && !(rk == SK_GPR && (fl & AF_REG_W) && mk == SK_XMM))
		return false;
	if (mk != SK_XMM && mk != SK_GPR && !mem)
		return false;
	if (mem && (i->ashift == 48 || n == 0 || n > 32))
		return false;
	emit_avx_usable(x, stub);
	if (mem) {
		emit_la(x, i, stub);
		if (fl & AF_ALIGN) {
			xtest_ri(h, 1, XSI, (int32_t)(n - 1));
			jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, fallback(x, stub));
		}
		emit_tlb(x, (fl & AF_RM_W) ? TLB_W : TLB_R, n, stub);
	}
	if (rk == SK_XMM)
		vex_load(h, 1, i->r1, e.L);
	if (mk == SK_XMM)
		vex_load(h, 2, i->r2, e.L);
	else if (mk == SK_GPR)
		ldg(x, i->aux >> 12, XCX, i->r2);
	if (e.vvvv)
		vex_load(h, 3, vr, e.L);
	/* the instruction: C4 RXB.mmmmm W.vvvv.L.pp opcode ModRM [imm8] */
	xb(h, 0xc4);
	xb(h, (uint8_t)(0xe0 | e.map)); /* R X B not: ymm1, ymm2, rax */
	xb(h, (uint8_t)((e.W ? 0x80 : 0) | ((e.vvvv ? (~3u & 15) : 15) << 3) | (e.L ? 4 : 0) |
			(e.pp & 3)));
	xb(h, e.opcode);
	unsigned reg = rk == SK_NONE ? (e.modrm_reg & 7u) : rk == SK_GPR ? 0u : 1u;
	xb(h, (uint8_t)(mem	       ? (reg << 3) | 0	       /* [rax] */
			: mk == SK_GPR ? 0xc0 | (reg << 3) | 1 /* rcx */
				       : 0xc0 | (reg << 3) | 2));
	if (e.has_imm)
		xb(h, e.imm);
	if (e.rflags) {
		emit_store_host_flags(x); /* the interpreter's run leaves CC_EFLAGS too */
		x->ccop_interp_same = true;
		x->hf_next = CC_EFLAGS;
	}
	if (fl & AF_REG_W) {
		if (rk == SK_XMM)
			vex_store(h, 1, i->r1);
		else if (rk == SK_GPR)
			stg(x, (i->aux >> 8) & 15, XAX, i->r1); /* (a 32-bit write zero-extends) */
	}
	if ((fl & AF_RM_W) && mk == SK_XMM)
		vex_store(h, 2, i->r2);
	else if ((fl & AF_RM_W) && mk == SK_GPR)
		stg(x, i->aux >> 12, XCX, i->r2); /* (a 32-bit write zero-extends) */
	if (fl & AF_VVVV_W)
		vex_store(h, 3, vr);
	xb(h, 0xc5), xb(h, 0xf8), xb(h, 0x77); /* vzeroupper */
	return true;
}

/* VZEROUPPER / VZEROALL: YMM8-15 too only in 64-bit mode */
static bool emit_vzero(struct jctx *x, const struct insn *i, uint32_t *stub)
{
	struct xbuf *h = H(x);
	unsigned nr = x->mode64 ? 16 : 8;
	emit_avx_usable(x, stub);
	xb(h, 0xc5), xb(h, 0xf9), xb(h, 0xef), xb(h, 0xc0); /* vpxor xmm0, xmm0, xmm0 */
	for (unsigned r = 0; r < nr; r++) {
		xb(h, 0xc5), xb(h, 0xfa), xb(h, 0x7f); /* vmovdqu m128, xmm0 */
		vex_rbx(h, 0, OFF_YMMH + 16 * r);
		if (i->aux) {
			xb(h, 0xc5), xb(h, 0xfa), xb(h, 0x7f);
			vex_rbx(h, 0, OFF_XMM + 16 * r);
		}
	}
	return true;
}

static bool emit_insn(struct jctx *x, const struct insn *i, uint32_t *stub)
{
	const struct jit_desc *d = jit_desc_of(i->fn);
	struct xbuf *h = H(x);
	unsigned size = d ? d->size : 0, sl = szlog(size ? size : 1);

	if (!d)
		return is_jcc(x, i) ? emit_jcc(x, i, stub) : false;
	switch (d->kind) {
	case JK_NOP:
		x->hf_keep = true;
		return true;
	case JK_MOV_RR:
		ldg(x, size, XAX, i->r2);
		stg(x, size, XAX, i->r1);
		x->hf_keep = true;
		return true;
	case JK_MOV_RI:
		x->hf_keep = true; /* (MOV only) */
		if (size == 8 && !xfits32((int64_t)i->imm)) {
			xmov_ri(h, XAX, i->imm);
			stg(x, 8, XAX, i->r1);
		} else if (size == 8) {
			cache_drop(x, i->r1);
			xstore_imm(h, 8, greg(i->r1), (int32_t)i->imm);
		} else if (size == 4) {
			xmov_ri(h, XAX, (uint32_t)i->imm);
			stg(x, 4, XAX, i->r1);
		} else {
			cache_forget(x, size == 1 ? i->r1 / 8u : i->r1);
			xstore_imm(h, size, size == 1 ? greg8(i->r1) : greg(i->r1),
				   (int32_t)i->imm);
		}
		return true;
	case JK_MOV_RM:
		if (i->ashift == 48)
			return false;
		emit_la(x, i, stub);
		emit_tlb(x, TLB_R, size, stub);
		xload(h, size, XDX, xm(XAX, 0));
		stg(x, size, XDX, i->r1);
		return true;
	case JK_MOV_MR:
	case JK_MOV_MI:
		if (i->ashift == 48)
			return false;
		emit_la(x, i, stub);
		emit_tlb(x, TLB_W, size, stub);
		if (d->kind == JK_MOV_MR) {
			ldg(x, size, XDX, i->r2);
			xstore(h, size, XDX, xm(XAX, 0));
		} else if (size == 8 && !xfits32((int64_t)i->imm)) {
			xmov_ri(h, XDX, i->imm);
			xstore(h, 8, XDX, xm(XAX, 0));
		} else {
			xstore_imm(h, size, xm(XAX, 0), (int32_t)i->imm);
		}
		return true;
	case JK_LEA:
		if (i->ashift == 48 || i->osz < 4)
			return false;
		{
			/* the effective address without a segment: emit_la in 64-bit
			 * style, then size it */
			bool m64 = x->mode64;
			unsigned seg = i->seg;
			struct insn t = *i;
			t.seg = SEG_DS;
			x->mode64 = true;
			emit_la(x, &t, stub);
			x->mode64 = m64;
			(void)seg;
			/* emit_la adds with ADD only a displacement wider than 32 bits */
			int64_t disp = (int64_t)i->disp + (i->index == GPR_2G ? 1ll << 31 : 0) +
				       (i->base == GPR_RIP ? (int64_t)x->goff[x->k] : 0);
			x->hf_keep = xfits32(disp);
			if (i->osz == 4)
				xmov_rr(h, 4, XSI, XSI);
			stg(x, i->osz, XSI, i->r1);
		}
		return true;
	case JK_ZERO:
		if (i->osz == 2) {
			cache_forget(x, i->r1);
			xstore_imm(h, 2, greg(i->r1), 0);
		} else {
			cache_drop(x, i->r1);
			xstore_imm(h, 8, greg(i->r1), 0);
		}
		if (x->flags_live_after[x->k]) {
			/* (CC_LOGIC reads the result alone) */
			xstore_imm(h, 8, gfield(OFF_CC_RES), 0);
			xstore_imm(h, 4, gfield(OFF_CC_OP),
				   (int32_t)CC_OP(CC_LOGIC, szlog(i->osz)));
		}
		return true;
	case JK_ALU_RR:
	case JK_ALU_RI:
	case JK_ALU_RM:
	case JK_ALU_MR:
	case JK_ALU_MI: {
		unsigned op = d->op;
		bool carry = op == JA_ADC || op == JA_SBB;
		bool mem = d->kind == JK_ALU_RM || d->kind == JK_ALU_MR || d->kind == JK_ALU_MI;
		if (carry)
			emit_get_cf(x); /* before the TLB probe clobbers the host's flags */
		bool dst_mem = d->kind == JK_ALU_MR || d->kind == JK_ALU_MI;
		bool wb = op != JA_CMP && op != JA_TEST;
		if (mem && i->ashift == 48)
			return false;
		/* a in rdx, b in rcx (after the TLB probe, which uses both) */
		if (mem) {
			emit_la(x, i, stub);
			emit_tlb(x, dst_mem && wb ? TLB_W : TLB_R, size, stub);
		}
		if (dst_mem)
			xload(h, size, XDX, xm(XAX, 0));
		else
			ldg(x, size, XDX, i->r1);
		/* an immediate that sign-extends from 32 bits stays one */
		bool use_imm = (d->kind == JK_ALU_RI || d->kind == JK_ALU_MI) && !carry &&
			       xfits32((int64_t)i->imm);
		if (d->kind == JK_ALU_RM)
			xload(h, size, XCX, xm(XAX, 0));
		else if (d->kind == JK_ALU_RR || d->kind == JK_ALU_MR)
			ldg(x, size, XCX, i->r2);
		else if (!use_imm)
			xmov_ri(h, XCX, i->imm);
		bool live = x->flags_live_after[x->k];
		if (carry) {
			/* ADC/SBB: the host's own instruction on the guest's CF; its
			 * flags are exactly the guest's */
			emit_set_cf(h);
			xalu_rr(h, op == JA_ADC ? XADC : XSBB, size, XDX, XCX);
			if (live)
				emit_store_host_flags(x);
			if (dst_mem)
				xstore(h, size, XDX, xm(XAX, 0));
			else
				stg(x, size, XDX, i->r1);
			x->hf_next = CC_EFLAGS;
			return true;
		}
		/* the lazy operands (CC_LOGIC's flags come from the result alone) */
		if (live && (op == JA_ADD || op == JA_SUB || op == JA_CMP)) {
			xstore(h, 8, XDX, gfield(OFF_CC_AUX));
			if (use_imm)
				xstore_imm(h, 8, gfield(OFF_CC_SRC), (int32_t)i->imm);
			else
				xstore(h, 8, XCX, gfield(OFF_CC_SRC));
		}
		unsigned kind;
#define alu(o) (use_imm ? xalu_ri(h, o, size, XDX, (int32_t)i->imm) : xalu_rr(h, o, size, XDX, XCX))
		switch (op) {
		case JA_ADD:
			alu(XADD);
			kind = CC_ADD;
			break;
		case JA_SUB:
		case JA_CMP:
			alu(XSUB);
			kind = CC_SUB;
			break;
		case JA_OR:
			alu(XOR_);
			kind = CC_LOGIC;
			break;
		case JA_XOR:
			alu(XXOR);
			kind = CC_LOGIC;
			break;
		default:
			alu(XAND);
			kind = CC_LOGIC;
			break; /* AND, TEST */
		}
#undef alu
		if (wb) {
			if (dst_mem)
				xstore(h, size, XDX, xm(XAX, 0));
			else
				stg(x, size, XDX, i->r1);
		}
		if (live) {
			xstore(h, 8, XDX, gfield(OFF_CC_RES));
			xstore_imm(h, 4, gfield(OFF_CC_OP), (int32_t)CC_OP(kind, sl));
		}
		x->hf_next = (int)kind;
		return true;
	}
	case JK_UNARY_R:
	case JK_UNARY_M: {
		unsigned op = d->op;
		bool mem = d->kind == JK_UNARY_M;
		bool live = x->flags_live_after[x->k];
		if (mem && i->ashift == 48)
			return false;
		if ((op == JU_INC || op == JU_DEC) && live) {
			/* CF carries over: the old CF into r8, before the TLB probe
			 * clobbers the host's flags */
			emit_get_cf(x);
			if (mem)
				emit_rmw_addr(x, i, size, stub);
			ld_rm(x, mem, size, XDX, i);
			xstore(h, 8, XDX, gfield(OFF_CC_AUX));
			xstore(h, 8, X8, gfield(OFF_CC_SRC));
			if (op == JU_INC)
				xinc(h, size, XDX);
			else
				xdec(h, size, XDX);
			st_rm(x, mem, size, XDX, i);
			xstore(h, 8, XDX, gfield(OFF_CC_RES));
			xstore_imm(h, 4, gfield(OFF_CC_OP),
				   (int32_t)CC_OP(op == JU_INC ? CC_INC : CC_DEC, sl));
			x->hf_next = op == JU_INC ? CC_INC : CC_DEC;
			return true;
		}
		if (mem)
			emit_rmw_addr(x, i, size, stub);
		ld_rm(x, mem, size, XDX, i);
		switch (op) {
		case JU_INC:
			xinc(h, size, XDX);
			break;
		case JU_DEC:
			xdec(h, size, XDX);
			break;
		case JU_NEG:
			if (live) {
				xstore_imm(h, 8, gfield(OFF_CC_AUX), 0);
				xstore(h, 8, XDX, gfield(OFF_CC_SRC));
			}
			xneg(h, size, XDX);
			break;
		default:
			xnot(h, size, XDX);
			break;
		}
		st_rm(x, mem, size, XDX, i);
		if (op == JU_NEG) {
			if (live) {
				xstore(h, 8, XDX, gfield(OFF_CC_RES));
				xstore_imm(h, 4, gfield(OFF_CC_OP), (int32_t)CC_OP(CC_SUB, sl));
			}
			x->hf_next = CC_SUB;
		}
		return true;
	}
	case JK_BSWAP:
		if (i->osz != 4 && i->osz != 8)
			return false;
		ldg(x, i->osz, XAX, i->r1);
		xbswap(h, i->osz, XAX);
		stg(x, i->osz, XAX, i->r1);
		x->hf_keep = true;
		return true;
	case JK_MOVZX_R:
	case JK_MOVSX_R: {
		unsigned from = i->aux, to = i->osz;
		if (from == 1)
			ldg(x, 1, XAX, i->r2);
		else
			ldg(x, from, XAX, i->r2);
		if (d->kind == JK_MOVSX_R && from < to)
			xmovsx_rr(h, from, 8, XAX, XAX);
		if (to == 4 && d->kind == JK_MOVSX_R) /* (ldg zero-extends) */
			xmov_rr(h, 4, XAX, XAX);
		stg(x, to, XAX, i->r1);
		x->hf_keep = true;
		return true;
	}
	case JK_MOVZX_M:
	case JK_MOVSX_M: {
		unsigned from = i->aux, to = i->osz;
		if (i->ashift == 48)
			return false;
		emit_la(x, i, stub);
		emit_tlb(x, TLB_R, from, stub);
		if (d->kind == JK_MOVSX_M)
			xload_sx(h, from, XDX, xm(XAX, 0));
		else
			xload(h, from, XDX, xm(XAX, 0));
		if (to == 4 && d->kind == JK_MOVSX_M) /* (xload zero-extends) */
			xmov_rr(h, 4, XDX, XDX);
		stg(x, to, XDX, i->r1);
		return true;
	}
	case JK_PUSH_R:
	case JK_PUSH_I:
		if (!x->mode64 || i->osz != 8)
			return false;
		ldg(x, 8, XSI, GPR_RSP);
		xalu_ri(h, XSUB, 8, XSI, 8);
		emit_tlb(x, TLB_W, 8, stub);
		if (d->kind == JK_PUSH_R)
			ldg(x, 8, XDX, i->r1);
		else
			xmov_ri(h, XDX, i->imm);
		xstore(h, 8, XDX, xm(XAX, 0));
		stg(x, 8, XSI, GPR_RSP);
		return true;
	case JK_POP_R:
		if (!x->mode64 || i->osz != 8)
			return false;
		ldg(x, 8, XSI, GPR_RSP);
		emit_tlb(x, TLB_R, 8, stub);
		xload(h, 8, XDX, xm(XAX, 0));
		xlea(h, 8, XSI, xm(XSI, 8));
		stg(x, 8, XSI, GPR_RSP);
		stg(x, 8, XDX, i->r1);
		return true;
	case JK_JMP_REL:
		if (i->osz == 2)
			return false;
		emit_direct_exit(x, (int64_t)x->goff[x->k] + i->len + (int64_t)i->imm,
				 fallback(x, stub));
		return true;
	case JK_CALL_REL: {
		if (!x->mode64 || i->osz != 8)
			return false;
		int64_t target = (int64_t)x->goff[x->k] + i->len + (int64_t)i->imm;
		int64_t pgoff = (int64_t)(x->b->gpa & 0xfff) + target;
		if (pgoff < 0 || pgoff >= 4096) {
			/* the target is checked before anything is pushed */
			xlea(h, 8, XAX, xm(X12, (int32_t)target));
			emit_canon_check(x, XAX, fallback(x, stub));
		}
		ldg(x, 8, XSI, GPR_RSP);
		xalu_ri(h, XSUB, 8, XSI, 8);
		emit_tlb(x, TLB_W, 8, stub);
		xlea(h, 8, XDX, xm(X12, (int32_t)(x->goff[x->k] + i->len)));
		xstore(h, 8, XDX, xm(XAX, 0));
		stg(x, 8, XSI, GPR_RSP);
		emit_direct_exit(x, target, fallback(x, stub));
		return true;
	}
	case JK_RET:
		if (!x->mode64 || i->osz != 8)
			return false;
		ldg(x, 8, XSI, GPR_RSP);
		emit_tlb(x, TLB_R, 8, stub);
		xload(h, 8, XAX, xm(XAX, 0));
		emit_canon_check(x, XAX, fallback(x, stub));
		xlea(h, 8, XSI, xm(XSI, (int32_t)(8 + i->imm)));
		stg(x, 8, XSI, GPR_RSP);
		emit_indirect_exit(x);
		return true;
	case JK_JMP_R:
	case JK_CALL_R:
	case JK_JMP_M:
	case JK_CALL_M: {
		bool call = d->kind == JK_CALL_R || d->kind == JK_CALL_M;
		bool m = d->kind == JK_JMP_M || d->kind == JK_CALL_M;
		if (!x->mode64 || i->osz != 8 || (m && i->ashift == 48))
			return false;
		if (m) {
			emit_la(x, i, stub);
			emit_tlb(x, TLB_R, 8, stub);
			xload(h, 8, XDI, xm(XAX, 0));
		} else {
			ldg(x, 8, XDI, i->r1);
		}
		emit_canon_check(x, XDI, fallback(x, stub));
		if (call) {
			ldg(x, 8, XSI, GPR_RSP);
			xalu_ri(h, XSUB, 8, XSI, 8);
			emit_tlb(x, TLB_W, 8, stub);
			xlea(h, 8, XDX, xm(X12, (int32_t)(x->goff[x->k] + i->len)));
			xstore(h, 8, XDX, xm(XAX, 0));
			stg(x, 8, XSI, GPR_RSP);
		}
		xmov_rr(h, 8, XAX, XDI);
		emit_indirect_exit(x);
		return true;
	}
	case JK_SHIFT_RI:
	case JK_SHIFT_MI: {
		unsigned op = d->op, bits = size * 8;
		unsigned cnt = (unsigned)i->imm & (size == 8 ? 0x3f : 0x1f);
		bool live = x->flags_live_after[x->k];
		bool mem = d->kind == JK_SHIFT_MI;
		if (mem &&
		    (i->ashift == 48 || cnt == 0 || ((op == JS_ROL || op == JS_ROR) && live)))
			return false;
		if (cnt == 0) {
			ldg(x, size, XAX, i->r1);
			stg(x, size, XAX, i->r1);
			return true;
		}
		bool defer =
		    (op == JS_ROL || op == JS_ROR) && live && !mem && x->flags_fault_only[x->k];
		if ((op == JS_ROL || op == JS_ROR) && live && !defer)
			return emit_rotate_live(x, i, op, size, cnt);
		if (op != JS_ROL && op != JS_ROR && op != JS_SHL && op != JS_SAL && op != JS_SHR &&
		    op != JS_SAR)
			return false;
		if (op != JS_ROL && op != JS_ROR && cnt >= bits)
			return false; /* CF of a count past the size: the handler's value */
		if (mem)
			emit_rmw_addr(x, i, size, stub);
		ld_rm(x, mem, size, XAX, i);
		if (op == JS_ROL || op == JS_ROR) {
			xshift_ri(h, op == JS_ROL ? XROL : XROR, size, XAX, (uint8_t)cnt);
			st_rm(x, mem, size, XAX, i);
			if (defer) {
				/* only an interpreter run before the next writer of
				 * all flags can see CF/OF: it computes them then */
				xstore(h, 8, XAX, gfield(OFF_ROT_RES));
				x->rot_op = op;
				x->rot_size = size;
			}
			return true;
		}
		if (live && (op == JS_SHR) && cnt == 1) {
			/* OF = the operand's old sign */
			xmov_rr(h, 8, XDX, XAX);
			xshift_ri(h, XSHR, 8, XDX, (uint8_t)(bits - 1));
			xalu_ri(h, XAND, 4, XDX, 1);
		}
		xshift_ri(h,
			  op == JS_SHR	 ? XSHR
			  : op == JS_SAR ? XSAR
					 : XSHL,
			  size, XAX, (uint8_t)cnt);
		if (live) {
			xsetcc(h, CC_B, XCX);
			xmovzx_rr(h, 1, XCX, XCX);
			if (op == JS_SHL || op == JS_SAL) {
				/* OF = MSB(result) ^ CF */
				xmov_rr(h, 8, XDX, XAX);
				xshift_ri(h, XSHR, 8, XDX, (uint8_t)(bits - 1));
				xalu_ri(h, XAND, 4, XDX, 1);
				xalu_rr(h, XXOR, 4, XDX, XCX);
			} else if (!(op == JS_SHR && cnt == 1)) {
				xalu_rr(h, XXOR, 4, XDX, XDX);
			}
		}
		st_rm(x, mem, size, XAX, i);
		if (live) {
			xstore(h, 8, XAX, gfield(OFF_CC_RES));
			xstore(h, 8, XCX, gfield(OFF_CC_SRC));
			xstore(h, 8, XDX, gfield(OFF_CC_AUX));
			xstore_imm(h, 4, gfield(OFF_CC_OP), (int32_t)CC_OP(CC_RESCO, sl));
			x->ccop_next = CC_OP(CC_RESCO, sl) + 1;
		}
		return true;
	}
	case JK_SHIFT_RC: {
		/* SHL/SHR/SAR reg, cl: a count of 0 leaves the operand and the
		 * flags; one past the size (byte and word) goes to the handler */
		unsigned op = d->op, bits = size * 8;
		bool live = x->flags_live_after[x->k];
		if (op != JS_SHL && op != JS_SAL && op != JS_SHR && op != JS_SAR)
			return false;
		if (size == 4) {
			/* even a count of 0 writes the register: zero its upper half */
			ldg(x, 4, XAX, i->r1);
			stg(x, 4, XAX, i->r1);
		}
		ldg(x, 4, XCX, GPR_RCX);
		/* the store below may be skipped: r1 goes to struct cpu, not to
		 * the cache, so the operand is there on both paths */
		{
			int s = cache_find(x, size == 1 ? i->r1 / 8u : i->r1);
			if (s >= 0)
				cache_flush_slot(x, h, s);
		}
		xalu_ri(h, XAND, 4, XCX, size == 8 ? 0x3f : 0x1f);
		uint8_t *zero = xjcc32(h, CC_E);
		x->rc_off = true; /* up to the patch: the count-0 path skips it */
		if (bits < 32) {
			xalu_ri(h, XCMP, 4, XCX, (int32_t)bits);
			jcc_sec(x, SEC_HOT, CC_AE, SEC_COLD, fallback(x, stub));
		}
		ldg(x, size, XAX, i->r1);
		if (live && op == JS_SHR) {
			/* OF = the operand's old sign if the count is 1, else 0 */
			xmov_rr(h, 8, XDX, XAX);
			xshift_ri(h, XSHR, 8, XDX, (uint8_t)(bits - 1));
			xalu_ri(h, XAND, 4, XDX, 1);
			xmov_ri(h, XSI, 0);
			xalu_ri(h, XCMP, 4, XCX, 1);
			xcmov_rr(h, 4, CC_NE, XDX, XSI);
		}
		xshift_rcl(h, op == JS_SHR ? XSHR : op == JS_SAR ? XSAR : XSHL, size, XAX);
		if (size == 4)
			xmov_rr(h, 4, XAX, XAX);
		if (live) {
			xsetcc(h, CC_B, XCX);
			xmovzx_rr(h, 1, XCX, XCX);
			if (op == JS_SHL || op == JS_SAL) {
				xmov_rr(h, 8, XDX, XAX);
				xshift_ri(h, XSHR, 8, XDX, (uint8_t)(bits - 1));
				xalu_ri(h, XAND, 4, XDX, 1);
				xalu_rr(h, XXOR, 4, XDX, XCX);
			} else if (op == JS_SAR) {
				xalu_rr(h, XXOR, 4, XDX, XDX);
			}
		}
		st_greg(h, size, XAX, i->r1);
		if (live) {
			xstore(h, 8, XAX, gfield(OFF_CC_RES));
			xstore(h, 8, XCX, gfield(OFF_CC_SRC));
			xstore(h, 8, XDX, gfield(OFF_CC_AUX));
			xstore_imm(h, 4, gfield(OFF_CC_OP), (int32_t)CC_OP(CC_RESCO, sl));
		}
		if (!h->overflow)
			xpatch32(zero, h->p);
		x->rc_off = false;
		/* the cached copy (clean, flushed above) is the old value */
		cache_drop(x, size == 1 ? i->r1 / 8u : i->r1);
		/* count 0 keeps the flags: the static cc_op is unknown after */
		x->ccop_next = 0;
		return true;
	}
	case JK_IMUL_RR:
	case JK_IMUL_RRI:
	case JK_IMUL_RM: {
		bool live = x->flags_live_after[x->k];
		if (size == 2 || (d->kind == JK_IMUL_RM && i->ashift == 48))
			return false;
		if (d->kind == JK_IMUL_RM) {
			emit_la(x, i, stub);
			emit_tlb(x, TLB_R, size, stub);
			xload(h, size, XCX, xm(XAX, 0));
			ldg(x, size, XDX, i->r1);
		} else if (d->kind == JK_IMUL_RR) {
			ldg(x, size, XDX, i->r1);
			ldg(x, size, XCX, i->r2);
		} else {
			ldg(x, size, XDX, i->r2);
			xmov_ri(h, XCX, i->imm);
		}
		ximul_rr(h, size, XDX, XCX);
		if (live) {
			/* CF = OF = the product did not fit; SF ZF PF from the result
			 * (the interpreter's values for flags the SDM leaves undefined) */
			xsetcc(h, CC_O, XAX);
			xmovzx_rr(h, 1, XAX, XAX);
			xstore(h, 8, XDX, gfield(OFF_CC_RES));
			xstore(h, 8, XAX, gfield(OFF_CC_SRC));
			xstore(h, 8, XAX, gfield(OFF_CC_AUX));
			xstore_imm(h, 4, gfield(OFF_CC_OP), (int32_t)CC_OP(CC_RESCO, sl));
			x->ccop_next = CC_OP(CC_RESCO, sl) + 1;
			x->ccop_interp_same = true;
		}
		stg(x, size, XDX, i->r1);
		return true;
	}
	case JK_CMPXCHG_M: {
		/* the host's CMPXCHG on the host address (through the write
		 * TLB: the destination is written either way): the same
		 * accumulator rule (written only on failure, a 32-bit one then
		 * zero-extended) and the flags of CMP accumulator, destination */
		unsigned osz = i->osz;
		bool live = x->flags_live_after[x->k];
		if (i->ashift == 48)
			return false;
		emit_rmw_addr(x, i, osz, stub);
		ldg(x, 8, XAX, GPR_RAX);
		xmov_rr(h, 8, X8, XAX);
		ldg(x, osz, XDX, i->r2);
		if (d->op)
			xb(h, 0xf0); /* lock */
		xop_rm(h, osz, osz == 1 ? 0x0fb0 : 0x0fb1, XDX, xm(XDI, 0));
		if (live) {
			/* the lazy SUB: res = acc - dest by NOT and LEA, which
			 * keep the host's flags (they are the guest's) */
			xstore(h, 8, X8, gfield(OFF_CC_AUX));
			xstore(h, 8, XAX, gfield(OFF_CC_SRC));
			xmov_rr(h, 8, XCX, XAX);
			xnot(h, 8, XCX);
			xlea(h, 8, XCX, xmi(X8, XCX, 0, 1));
			xstore(h, 8, XCX, gfield(OFF_CC_RES));
			xstore_imm(h, 4, gfield(OFF_CC_OP), (int32_t)CC_OP(CC_SUB, szlog(osz)));
		}
		stg(x, 8, XAX, GPR_RAX);
		x->hf_next = CC_SUB;
		/* the interpreter's run leaves the same cc_op */
		x->ccop_next = (int)CC_OP(CC_SUB, szlog(osz)) + 1;
		x->ccop_interp_same = true;
		return true;
	}
	case JK_BSF: {
		/* BSF/BSR: a zero source sets ZF and keeps the destination (all
		 * 64 bits); the interpreter's flags: RESCO of the source, CF = OF
		 * = 0 */
		unsigned osz = i->osz, osl = szlog(osz);
		bool mem = i->flags & INSN_MEM;
		if (osz < 2 || (mem && i->ashift == 48))
			return false;
		if (mem) {
			emit_la(x, i, stub);
			emit_tlb(x, TLB_R, osz, stub);
			xload(h, osz, XDX, xm(XAX, 0));
		} else {
			ldg(x, osz, XDX, i->r2);
		}
		if (d->op == 2) {
			/* TZCNT: the count, the operand's width for 0; CF = (source
			 * == 0), ZF from the result (RESCO of the result) */
			xop_rr(h, 8, 0x0fbc, XCX, XDX); /* bsf rcx, rdx */
			xsetcc(h, CC_E, X8);
			xmovzx_rr(h, 1, X8, X8);
			xmov_ri(h, XAX, osz * 8u);
			xcmov_rr(h, 4, CC_NE, XAX, XCX);
			if (x->flags_live_after[x->k]) {
				xstore(h, 8, XAX, gfield(OFF_CC_RES));
				xstore(h, 8, X8, gfield(OFF_CC_SRC));
				xstore_imm(h, 8, gfield(OFF_CC_AUX), 0);
				xstore_imm(h, 4, gfield(OFF_CC_OP), (int32_t)CC_OP(CC_RESCO, osl));
				x->ccop_next = CC_OP(CC_RESCO, osl) + 1;
				x->ccop_interp_same = true;
			}
			stg(x, osz, XAX, i->r1);
			return true;
		}
		if (x->flags_live_after[x->k]) {
			xstore(h, 8, XDX, gfield(OFF_CC_RES));
			xstore_imm(h, 8, gfield(OFF_CC_SRC), 0);
			xstore_imm(h, 8, gfield(OFF_CC_AUX), 0);
			xstore_imm(h, 4, gfield(OFF_CC_OP), (int32_t)CC_OP(CC_RESCO, osl));
			x->ccop_next = CC_OP(CC_RESCO, osl) + 1;
			x->ccop_interp_same = true;
		}
		ldg(x, 8, XAX, i->r1);
		xop_rr(h, 8, d->op ? 0x0fbd : 0x0fbc, XCX, XDX); /* ZF = (source == 0) */
		xcmov_rr(h, osz == 2 ? 2 : 8, CC_NE, XAX, XCX);
		stg(x, 8, XAX, i->r1);
		return true;
	}
	case JK_BT: {
		/* CF = the bit; the other flags as they were: materialised into
		 * rflags unless they are there already (cc_op CC_EFLAGS). The
		 * host's CF stays the guest's for a following Jcc/SETcc. */
		unsigned osz = i->osz;
		bool eflags = x->ccop && CC_KIND(x->ccop - 1) == CC_EFLAGS;
		if (osz < 2 || (d->op == 2 && i->ashift == 48))
			return false;
		if (x->rot_size)
			spill_volatile(x);
		emit_rot_fix(x, h);
		x->rot_size = 0;
		if (d->op == 2) {
			emit_la(x, i, stub);
			emit_tlb(x, TLB_R, osz, stub);
			xload(h, osz, XDX, xm(XAX, 0));
		} else {
			ldg(x, osz, XDX, i->r1);
		}
		if (d->op == 1) {
			ldg(x, 4, XCX, i->r2);
			xalu_ri(h, XAND, 4, XCX, (int32_t)(osz * 8 - 1));
			xop_rr(h, 8, 0x0fa3, XCX, XDX); /* bt rdx, rcx */
		} else {
			xop_rr(h, 8, 0x0fba, 4, XDX); /* bt rdx, imm8 */
			xb(h, (uint8_t)(i->imm & (osz * 8 - 1)));
		}
		xsetcc(h, CC_B, X8);
		xmovzx_rr(h, 1, X8, X8);
		if (eflags) {
			xalu_mi(h, XAND, 8, gfield(OFF_RFLAGS), ~(int32_t)FL_CF);
			xalu_mr(h, XOR_, 8, gfield(OFF_RFLAGS), X8);
		} else {
			spill_volatile(x);
			xmov_rr(h, 8, XDI, XBX);
			xmov_rr(h, 8, XSI, X8);
			xcall(h, (const void *)jit_set_cf);
			xmov_rr(h, 8, X8, XAX);
		}
		emit_set_cf(h);
		x->hf_next = HF_CF_ONLY;
		x->ccop_next = CC_OP(CC_EFLAGS, 0) + 1;
		x->ccop_interp_same = true;
		return true;
	}
	case JK_SETCC_M: {
		/* the condition before the address and the TLB probe (which
		 * change the host's flags); a miss runs it all in the
		 * interpreter */
		if (i->ashift == 48)
			return false;
		enum xcc cc = emit_cond(x, i->aux & 15);
		xsetcc(h, cc, X8);
		emit_la(x, i, stub);
		emit_tlb(x, TLB_W, 1, stub);
		xstore(h, 1, X8, xm(XAX, 0));
		return true;
	}
	case JK_XCHG_M: {
		/* the host's XCHG (locked) on the host address */
		unsigned osz = i->osz;
		if (i->ashift == 48)
			return false;
		emit_rmw_addr(x, i, osz, stub);
		ldg(x, osz, XDX, i->r1);
		xop_rm(h, osz, osz == 1 ? 0x86 : 0x87, XDX, xm(XDI, 0));
		stg(x, osz, XDX, i->r1);
		return true;
	}
	case JK_MULDIV: {
		/* MUL/DIV r/m32, r/m64 on the host's unit; a DIV that would
		 * raise #DE (zero divisor, quotient too wide: RDX >= divisor)
		 * runs in the interpreter, which raises it */
		bool mem = i->flags & INSN_MEM;
		if (size < 4 || (mem && i->ashift == 48))
			return false;
		if (mem) {
			emit_la(x, i, stub);
			emit_tlb(x, TLB_R, size, stub);
			xload(h, size, XCX, xm(XAX, 0));
		} else {
			ldg(x, size, XCX, i->r1);
		}
		ldg(x, 8, XAX, GPR_RAX);
		if (d->op == JM_DIV) {
			ldg(x, 8, XDX, GPR_RDX);
			xalu_rr(h, XCMP, size, XDX, XCX);
			jcc_sec(x, SEC_HOT, CC_AE, SEC_COLD, fallback(x, stub));
			xop_rr(h, size, 0xf7, 6, XCX); /* div */
		} else {
			xop_rr(h, size, 0xf7, 4, XCX); /* mul: CF = OF = high half != 0 */
			if (x->flags_live_after[x->k]) {
				xsetcc(h, CC_B, X8);
				xmovzx_rr(h, 1, X8, X8);
				xstore(h, 8, XAX, gfield(OFF_CC_RES));
				xstore(h, 8, X8, gfield(OFF_CC_SRC));
				xstore(h, 8, X8, gfield(OFF_CC_AUX));
				xstore_imm(h, 4, gfield(OFF_CC_OP), (int32_t)CC_OP(CC_RESCO, sl));
				x->ccop_next = CC_OP(CC_RESCO, sl) + 1;
				x->ccop_interp_same = true;
			}
		}
		stg(x, size, XAX, GPR_RAX);
		stg(x, size, XDX, GPR_RDX);
		return true;
	}
	case JK_AVX:
		return emit_avx(x, i, stub);
	case JK_VZERO:
		return emit_vzero(x, i, stub);
	case JK_SIMD:
		return emit_simd(x, i, stub);
	case JK_SSE_OP:
	case JK_MOV128_LOAD:
	case JK_MOV128_STORE:
	case JK_PMOVMSKB:
		return emit_sse(x, i, d, stub);
	case JK_SETCC_R: {
		enum xcc cc = emit_cond(x, i->aux & 15);
		xsetcc(h, cc, XAX);
		cache_forget(x, i->r1 / 8u); /* (MOV does not change the flags) */
		xstore(h, 1, XAX, greg8(i->r1));
		return true;
	}
	case JK_CMOV_R: {
		if (i->osz == 2)
			return false;
		enum xcc cc = emit_cond(x, i->aux & 15);
		ldg(x, i->osz, XDX, i->r1);
		ldg(x, i->osz, XCX, i->r2);
		xcmov_rr(h, i->osz, cc, XDX, XCX);
		stg(x, i->osz, XDX, i->r1);
		return true;
	}
	default:
		return false;
	}
}

/* ---- flag liveness ---- */

/* how instruction i treats the arithmetic flags, for the backward pass:
 * 1 = writes all of them and reads none and cannot fault (kills),
 * 0 = leaves them and cannot fault (transparent), -1 = may read them */
static int flag_effect(const struct jctx *x, const struct insn *i, int ccop)
{
	const struct jit_desc *d = jit_desc_of(i->fn);
	(void)x;
	(void)ccop;
	if (!d)
		return -1;
	switch (d->kind) {
	case JK_NOP:
	case JK_MOV_RR:
	case JK_MOV_RI:
	case JK_MOVZX_R:
	case JK_MOVSX_R:
	case JK_BSWAP:
		return 0;
	case JK_LEA:
		return i->ashift == 48 || i->osz < 4 ? -1 : 0;
	case JK_ZERO:
		return 1;
	case JK_ALU_RR:
	case JK_ALU_RI:
		return d->op == JA_ADC || d->op == JA_SBB ? -1 : 1;
	case JK_IMUL_RR:
	case JK_IMUL_RRI:
		return d->size == 2 ? -1 : 1;
	case JK_UNARY_R:
		return d->op == JU_NEG ? 1 : d->op == JU_NOT ? 0 : -1;
	case JK_BSF:
		return i->flags & INSN_MEM ? -1 : 1;
	case JK_MULDIV:
		return d->op == JM_MUL && !(i->flags & INSN_MEM) ? 1 : -1;
	case JK_SHIFT_RI: {
		unsigned cnt = (unsigned)i->imm & (d->size == 8 ? 0x3f : 0x1f);
		if (cnt == 0)
			return 0;
		if ((d->op == JS_SHL || d->op == JS_SAL || d->op == JS_SHR || d->op == JS_SAR) &&
		    cnt < d->size * 8u)
			return 1;
		return -1;
	}
	default:
		return -1;
	}
}

/* for the deferral of rotates' CF/OF: 2 = like 0 but may fault through
 * its interpreter fallback, 3 = like 1 but may fault that way first, 4 = a
 * ROL/ROR of a register (CF and OF written, the others kept) */
static int flag_effect_ext(const struct jctx *x, const struct insn *i)
{
	const struct jit_desc *d = jit_desc_of(i->fn);
	if (!d)
		return -1;
	switch (d->kind) {
	case JK_MOV_RM:
	case JK_MOV_MR:
	case JK_MOV_MI:
	case JK_MOVZX_M:
	case JK_MOVSX_M:
	case JK_PUSH_R:
	case JK_POP_R:
	case JK_PUSH_I:
	case JK_MOV128_LOAD:
	case JK_MOV128_STORE:
		return 2;
	case JK_ALU_RM:
	case JK_ALU_MR:
	case JK_ALU_MI:
		return d->op == JA_ADC || d->op == JA_SBB ? -1 : 3;
	case JK_XCHG_M:
		return 2;
	case JK_IMUL_RM:
		return d->size == 2 ? -1 : 3;
	case JK_BSF:
		return i->flags & INSN_MEM ? 3 : 1;
	case JK_MULDIV:
		/* DIV keeps them (may fault), MUL writes them all */
		if (d->size < 4)
			return -1;
		if (d->op == JM_DIV)
			return 2;
		return i->flags & INSN_MEM ? 3 : 1;
	case JK_SHIFT_RI:
		if ((d->op == JS_ROL || d->op == JS_ROR) &&
		    ((unsigned)i->imm & (d->size == 8 ? 0x3f : 0x1f)) != 0)
			return 4;
		break;
	default:
		break;
	}
	return flag_effect(x, i, 0);
}

static void flag_liveness(struct jctx *x)
{
	const struct block *b = x->b;
	enum { DEAD, FAULT, LIVE } st = LIVE; /* live out of the block */
	for (int k = (int)b->ninsns - 1; k >= 0; k--) {
		x->flags_live_after[k] = st != DEAD;
		x->flags_fault_only[k] = st == FAULT;
		switch (flag_effect_ext(x, &b->insns[k])) {
		case 0:
		case 4: /* its own flags dead: the earlier ones too */
			break;
		case 1:
			st = DEAD;
			break;
		case 2:
			if (st == DEAD)
				st = FAULT;
			break;
		case 3:
			st = FAULT;
			break;
		default:
			st = LIVE;
			break;
		}
	}
}

/* ---- the block ---- */

int jit_emit_block(struct cpu *c, struct jctx *x, struct block *b)
{
	x->c = c;
	x->b = b;
	x->j = c->jit;
	for (unsigned s = 0; s < NSEC; s++) {
		x->s[s].start = x->s[s].p = x->mem[s];
		x->s[s].end = x->mem[s] + SEC_BYTES;
		x->s[s].overflow = false;
	}
	x->nfix = 0;
	x->fix_overflow = false;
	x->nexits = 0;
	x->ninsns = b->ninsns;
	x->mode64 = b->mode == ZYDIS_MACHINE_MODE_LONG_64;
	uint32_t off = 0;
	for (unsigned k = 0; k <= b->ninsns; k++) {
		x->goff[k] = off;
		x->resume[k] = UINT32_MAX;
		if (k < b->ninsns)
			off += b->insns[k].len;
	}
	flag_liveness(x);

	struct xbuf *h = H(x), *cs = C(x);
	/* prologue: events, then the epoch and code generation of the page,
	 * then the instruction budget */
	uint32_t pro_exit[JW_N];
	for (unsigned n = JW_EVENTS; n <= JW_BUDGET; n++) {
		pro_exit[n] = here(x, SEC_COLD);
		xstore(cs, 8, X12, gfield(OFF_RIP));
		jmp_abs(x, SEC_COLD, x->j->exit_why[n]);
	}

	/* events: a masked interrupt keeps EV_IRQ set, so ask whether any of
	 * them needs the dispatcher before leaving */
	uint32_t ev = here(x, SEC_COLD);
	xmov_rr(cs, 8, XDI, XBX);
	xcall(cs, (const void *)jit_events_need_exit);
	xtest_rr(cs, 1, XAX, XAX);
	jcc_sec(x, SEC_COLD, CC_NE, SEC_COLD, pro_exit[JW_EVENTS]);
	uint8_t *back = xjmp32(cs);
	xalu_mi(h, XCMP, 4, gfield(OFF_EVENTS), 0);
	jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, ev);
	fixup(x, SEC_COLD, back, FIX_SEC, SEC_HOT, here(x, SEC_HOT), NULL);
	x->noev = here(x, SEC_HOT);
	/* a new epoch (guest memory may have been written behind the
	 * processor's back): compare the block with memory in place */
	uint32_t reval = here(x, SEC_COLD);
	xmov_rr(cs, 8, XDI, XBX);
	xb(cs, 0x48), xb(cs, 0x8d), xb(cs, 0x35); /* lea rsi, [rip + header] */
	{
		uint8_t *at = cs->p;
		x32(cs, 0);
		fixup(x, SEC_COLD, at, FIX_HDR, 0, 0, NULL);
	}
	xcall(cs, (const void *)jit_revalidate);
	xtest_rr(cs, 1, XAX, XAX);
	jcc_sec(x, SEC_COLD, CC_E, SEC_COLD, pro_exit[JW_EPOCH]);
	uint8_t *back2 = xjmp32(cs);
	xload(h, 4, XAX, gfield(OFF_EPOCH));
	op_hdr(x, 4, 0x3b, XAX, offsetof(struct jit_hdr, epoch)); /* cmp eax, [hdr.epoch] */
	jcc_sec(x, SEC_HOT, CC_NE, SEC_COLD, reval);
	fixup(x, SEC_COLD, back2, FIX_SEC, SEC_HOT, here(x, SEC_HOT), NULL);
	if (c->jit_budget) {
		/* tests and fuzzing: stop after about the budget */
		xload(h, 8, XAX, gfield(OFF_ICOUNT));
		xalu_rm(h, XCMP, 8, XAX, gfield(OFF_ILIMIT));
		jcc_sec(x, SEC_HOT, CC_AE, SEC_COLD, pro_exit[JW_BUDGET]);
		xalu_ri(h, XADD, 8, XAX, (int32_t)b->ninsns);
		xstore(h, 8, XAX, gfield(OFF_ICOUNT));
	} else {
		xalu_mi(h, XADD, 8, gfield(OFF_ICOUNT), (int32_t)b->ninsns);
	}

	x->ccop = 0;
	x->hf_kind = -1;
	x->rot_size = 0;
	cache_clear(x);
	x->cache_tick = 0;
	bool prev_stub = false;
	for (unsigned k = 0; k < b->ninsns; k++) {
		const struct insn *i = &b->insns[k];
		uint32_t stub = UINT32_MAX;
		x->k = k;
		x->insn_start[k] = here(x, SEC_HOT);
		memcpy(x->cache_start, x->cache_g, sizeof(x->cache_start));
		memcpy(x->dirty_start, x->cache_dirty, sizeof(x->dirty_start));
		/* (spill_volatile() changes the start state: a roll-back needs it) */
		int8_t roll_g[JIT_NCACHE];
		bool roll_dirty[JIT_NCACHE];
		memcpy(roll_g, x->cache_g, sizeof(roll_g));
		memcpy(roll_dirty, x->cache_dirty, sizeof(roll_dirty));
		if (prev_stub && !cache_empty(x->cache_g)) {
			/* instruction k - 1's interpreter fallback rejoins here */
			uint32_t r = here(x, SEC_COLD);
			cache_reload(C(x), x->cache_g);
			jmp_sec(x, SEC_COLD, SEC_HOT, x->insn_start[k]);
			x->resume[k] = r;
		}
		uint32_t resume_k = x->resume[k];
		unsigned rot_op = x->rot_op, rot_size = x->rot_size;
		uint8_t *hot_mark = h->p, *cold_mark = cs->p, *data_mark = D(x)->p;
		unsigned nfix = x->nfix, nexits = x->nexits;
		x->hf_next = -1;
		x->ccop_next = -1;
		x->ccop_interp_same = false;
		x->hf_keep = false;
		x->rc_off = false;
		x->cur_stub = &stub;
		x->emit_bad = false;
		if (emit_insn(x, i, &stub) && !x->emit_bad) {
			if (x->hf_keep && stub == UINT32_MAX && x->hf_kind >= 0 && x->hf_nofb) {
				/* flag-neutral host code: the host's flags are
				 * still the earlier instruction's */
			} else {
				x->hf_kind = x->hf_next;
				x->hf_nofb = stub == UINT32_MAX;
			}
			prev_stub = stub != UINT32_MAX;
			/* an interpreter run of it leaves the interpreter's cc_op,
			 * not necessarily what the inline path does */
			if (stub != UINT32_MAX && x->ccop_next >= 0 && !x->ccop_interp_same)
				x->ccop_next = 0;
		} else {
			/* roll back anything the emitter wrote, then call the handler */
			h->p = hot_mark;
			cs->p = cold_mark;
			D(x)->p = data_mark;
			x->nfix = nfix;
			x->nexits = nexits;
			x->resume[k] = resume_k;
			x->ccop_next = -1;
			memcpy(x->cache_g, roll_g, sizeof(x->cache_g));
			memcpy(x->cache_dirty, roll_dirty, sizeof(x->cache_dirty));
			memcpy(x->cache_start, roll_g, sizeof(x->cache_start));
			memcpy(x->dirty_start, roll_dirty, sizeof(x->dirty_start));
			x->rot_op = rot_op;
			x->rot_size = rot_size;
			emit_handler_call(x, SEC_HOT, k); /* applies a deferred CF/OF */
			x->rot_size = 0;
			/* the handler may have written any register */
			cache_clear(x);
			prev_stub = false;
			x->hf_kind = -1;
		}
		{
			int e = flag_effect_ext(x, i);
			if (e == 1 || e == 3)
				x->rot_size = 0; /* all flags written: nothing waits */
		}
		/* the static cc_op, as block_translate() tracks it (or as the
		 * emitter left it) */
		if (x->ccop_next >= 0)
			x->ccop = x->ccop_next;
		else if (i->ccout)
			x->ccop = i->ccout;
		else if (!(i->flags & INSN_FLAGNEUTRAL))
			x->ccop = 0;
		if (h->overflow || cs->overflow || D(x)->overflow || x->fix_overflow)
			return -1;
	}
	/* the end of a block that was cut (size, page end): on to the next RIP */
	if (x->rot_size)
		spill_volatile(x);
	emit_rot_fix(x, h); /* (liveness never leaves one pending here) */
	x->rot_size = 0;
	x->k = b->ninsns;
	x->insn_start[b->ninsns] = here(x, SEC_HOT);
	if (prev_stub && !cache_empty(x->cache_g)) {
		/* the last instruction's fallback rejoins here too: the exit
		 * flushes the cache registers, so they are reloaded first */
		uint32_t r = here(x, SEC_COLD);
		cache_reload(C(x), x->cache_g);
		jmp_sec(x, SEC_COLD, SEC_HOT, x->insn_start[b->ninsns]);
		x->resume[b->ninsns] = r;
	}
	if (b->chainable) {
		uint32_t none = here(x, SEC_COLD);
		jmp_abs(x, SEC_COLD,
			x->j->exit0); /* never a canonical failure: same page or 64-bit */
		int64_t next = x->goff[b->ninsns];
		if ((b->gpa & 0xfff) + (uint64_t)next < 4096 || !x->mode64) {
			emit_direct_exit(x, next, none);
		} else {
			/* on into the next page (a non-canonical RIP faults at the
			 * dispatcher's fetch) */
			xlea(h, 8, XAX, xm(X12, (int32_t)next));
			emit_indirect_exit(x);
		}
	} else {
		cache_flush_all(x);
		set_rip(h, (int32_t)x->goff[b->ninsns]);
		jmp_abs(x, SEC_HOT, x->j->exit_why[JW_END]);
	}
	if (h->overflow || cs->overflow || D(x)->overflow || x->fix_overflow)
		return -1;
	return 0;
}
