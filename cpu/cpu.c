/* SPDX-License-Identifier: MIT */
/*
 * The run loop, the decoded-block cache and vCPU life cycle.
 *
 * Blocks are keyed by guest-physical address and decode mode, hold a copy
 * of the bytes they were decoded from, and are validated three ways:
 *  - the page's code generation (bumped by any guest store to the page);
 *  - the vCPU epoch: after memory may have changed behind our back (the VMM
 *    or a device wrote guest RAM: every cpu_run() entry, every interrupt
 *    after cpu_mem_note_external_write()) a
 *    block is compared against guest memory once before it runs again;
 *  - the jump cache maps linear RIP to block and is checked against the
 *    fetch TLB, so a TLB flush needs no jump-cache flush.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <Zydis/Zydis.h>

#include "fpu.h"
#include "internal.h"
#include "jit/jit.h"
#include "mem.h"

#define ARENA_SIZE (32u << 20)
#define BHASH_BITS 16
#define BHASH_SIZE (1u << BHASH_BITS)

struct cpu *cpu_create(struct cpu_mem *mem, const struct cpu_ops *ops, void *opaque)
{
	struct cpu *c = aligned_alloc(64, (sizeof(struct cpu) + 63) & ~(size_t)63);
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->mem = mem;
	c->ops = ops;
	c->opaque = opaque;
	c->maxphyaddr = 46;
	c->xcr0_allowed = CPU_XCR0_SUPPORTED;
	c->arena_size = ARENA_SIZE;
	c->arena =
	    mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	c->bhash = calloc(BHASH_SIZE, sizeof(struct block *));
	if (c->arena == MAP_FAILED || !c->bhash) {
		if (c->arena != MAP_FAILED)
			munmap(c->arena, ARENA_SIZE);
		free(c->bhash);
		free(c);
		return NULL;
	}
	if (!mem_register_cpu(mem, c)) { /* as many vCPUs as MEM_MAX_CPUS */
		munmap(c->arena, ARENA_SIZE);
		free(c->bhash);
		free(c);
		return NULL;
	}
	decode_init(c);
	if (jit_engine_selected())
		c->jit = jit_create(); /* NULL: the host refuses executable memory; interpret */
	cpu_reset(c);
	return c;
}

void cpu_destroy(struct cpu *c)
{
	if (!c)
		return;
	mem_unregister_cpu(c->mem, c);
	jit_print_stats(c);
	jit_destroy(c->jit);
	decode_fini(c);
	fpu_host_destroy(c);
	vmx_enable(c, false);
	munmap(c->arena, c->arena_size);
	free(c->bhash);
	free(c);
}

void cpu_flush_code(struct cpu *c)
{
	memset(c->bhash, 0, BHASH_SIZE * sizeof(struct block *));
	memset(c->jc, 0, sizeof(c->jc));
	memset(c->straddle, 0, sizeof(c->straddle));
	c->arena_used = 0;
	c->cur_block = NULL;
	c->code_flushes++;
	jit_flush(c->jit);
	c->jit_patch = NULL;
}

static void reset_seg(struct cpu_seg *s, uint16_t sel, uint64_t base, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->base = base;
	s->limit = 0xffff;
	s->type = type;
	s->s = 1;
	s->present = 1;
}

static void reset_common(struct cpu *c)
{
	memset(c->gpr, 0, sizeof(c->gpr));
	c->gpr[GPR_2G] = 1ull << 31;
	c->gpr[REG_RDX] = 0x600; /* as KVM: family 6 */
	c->cc_op = CC_EFLAGS;
	c->rflags = FL_1;
	reset_seg(&c->seg[SEG_CS], 0xf000, 0xffff0000ull, 0xb);
	for (int s = SEG_ES; s <= SEG_GS; s++)
		if (s != SEG_CS)
			reset_seg(&c->seg[s], 0, 0, 3);
	reset_seg(&c->seg[SEG_LDTR], 0, 0, 2);
	c->seg[SEG_LDTR].s = 0;
	reset_seg(&c->seg[SEG_TR], 0, 0, 0xb);
	c->seg[SEG_TR].s = 0;
	RIP(c) = 0xfff0;
	c->gdt_base = c->idt_base = 0;
	c->gdt_limit = c->idt_limit = 0xffff;
	c->cr0 = CR0_ET | CR0_NW | CR0_CD;
	c->cr2 = c->cr3 = c->cr4 = c->cr8 = 0;
	c->efer = 0;
	memset(c->dr, 0, sizeof(c->dr));
	c->dr[6] = 0xffff0ff0;
	c->dr[7] = 0x400;
	c->dr7_data_bp = false;
	c->intr_shadow = 0;
	c->nmi_masked = false;
	atomic_store(&c->nmi_req, 0); /* RESET and INIT drop pending NMIs (kvm_vcpu_reset) */
	c->nmi_pending = 0;
	c->halted = false;
	c->exc_pending = false;
	c->delivering = 0;
	c->xlog_n = c->xlog_pos = 0;
	c->inb.active = false;
	c->io_batch = 1;
	c->cpl = 0;
	c->star = c->lstar = c->cstar = c->sfmask = c->kernel_gs_base = 0;
	c->sysenter_cs = c->sysenter_esp = c->sysenter_eip = 0;
	c->debugctl = 0;
	seg_update_cache(c);
	tlb_flush_all(c);
}

void cpu_reset(struct cpu *c)
{
	reset_common(c);
	c->xcr0 = 1; /* INIT keeps XCR0 and the x87/SSE state (SDM vol. 3A, table 10-1) */
	fpu_reset(c);
	c->tsc_aux = 0;
	c->pat = 0x0007040600070406ull;
	c->misc_enable = 1; /* fast strings */
	c->mtrr_def_type = 0;
	memset(c->mtrr_fixed, 0, sizeof(c->mtrr_fixed));
	memset(c->mtrr_var, 0, sizeof(c->mtrr_var));
	c->apic_base = 0xfee00000ull | (1u << 11) | (1u << 8); /* BSP, enabled */
	vmx_reset(c);
}

void cpu_init_signal(struct cpu *c)
{
	/* INIT keeps MSRs such as PAT, MTRRs, APIC base (SDM vol. 3A, table 10-1) */
	uint64_t efer = c->efer;
	reset_common(c);
	(void)efer; /* EFER is cleared by INIT */
	c->efer = 0;
	seg_update_cache(c);
}

bool cpu_init_blocked(const struct cpu *c)
{
	return vmx_in_operation(c);
}

/* ---- exits and faults ---- */

NORETURN void cpu_raise(struct cpu *c, int vector, uint32_t error)
{
	c->raise_vec = vector;
	c->raise_err = error;
	c->exit_reason = CPU_EXIT_NONE;
	longjmp(c->jb, 1);
}

NORETURN void cpu_raise_noerr(struct cpu *c, int vector)
{
	cpu_raise(c, vector, 0);
}

NORETURN void cpu_exit_now(struct cpu *c, enum cpu_exit why)
{
	c->exit_reason = why;
	longjmp(c->jb, 2);
}

static bool exc_has_error(int v)
{
	return v == EXC_DF || v == EXC_TS || v == EXC_NP || v == EXC_SS || v == EXC_GP ||
	       v == EXC_PF || v == EXC_AC || v == 21;
}

static bool exc_contributory(int v)
{
	return v == EXC_DE || (v >= EXC_TS && v <= EXC_GP);
}

/* Deliver a fault raised by an instruction or by a delivery (SDM 6.15, table 6-5). */
static bool handle_fault(struct cpu *c)
{
	int vec = c->raise_vec;
	uint32_t err = c->raise_err;

	c->xlog_n = c->xlog_pos = 0;
	c->inb.active = false;
	c->pending_db_trap = 0; /* data breakpoints of a faulting instruction are lost */
	if (c->delivering) {
		int prev = c->last_vector;
		if (prev == EXC_DF && (exc_contributory(vec) || vec == EXC_PF)) {
			c->delivering = 0;
			return false; /* triple fault */
		}
		if ((exc_contributory(prev) && exc_contributory(vec)) ||
		    (prev == EXC_PF && (exc_contributory(vec) || vec == EXC_PF))) {
			vec = EXC_DF;
			err = 0;
		}
	}
	c->delivering++;
	if (c->delivering > 3) {
		c->delivering = 0;
		return false;
	}
	c->last_vector = (uint8_t)vec;
	/* faults push RFLAGS with RF set (SDM 17.3.1.1); traps and #DB do not */
	if (unlikely(c->vmx_nonroot)) {
		c->delivering = 0;
		vmx_exit_exception(c, vec, exc_has_error(vec), err, NULL);
		c->delivering++;
	}
	if (vec != EXC_DB && vec != EXC_BP && vec != EXC_OF)
		c->rflags |= FL_RF;
	cpu_deliver(c, vec, DELIVER_EXC, exc_has_error(vec), err, RIP(c));
	c->delivering = 0;
	return true;
}

/* ---- replay log (suspended instructions) ---- */

bool xlog_replay(struct cpu *c, int kind, uint64_t addr, unsigned len, uint64_t *data)
{
	if (c->xlog_pos < c->xlog_n) {
		struct xlog_entry *e = &c->xlog[c->xlog_pos];
		if (e->kind == kind && e->addr == addr && e->len == len && e->done) {
			c->xlog_pos++;
			*data = e->data;
			if (e->error)
				cpu_raise(c, EXC_GP, 0);
			return true;
		}
		/* the instruction did something else this time: forget the log */
		c->xlog_n = c->xlog_pos = 0;
	}
	return false;
}

NORETURN void xlog_suspend(struct cpu *c, int kind, uint64_t addr, unsigned len, uint64_t data,
			   enum cpu_exit why)
{
	if (c->xlog_n >= XLOG_MAX) {
		c->exit.internal.what = "too many I/O operations in one instruction";
		c->exit.internal.suberror = 1;
		c->exit.internal.rip = RIP(c);
		c->xlog_n = c->xlog_pos = 0;
		cpu_exit_now(c, CPU_EXIT_INTERNAL);
	}
	struct xlog_entry *e = &c->xlog[c->xlog_n++];
	e->kind = (uint8_t)kind;
	e->addr = addr;
	e->len = (uint8_t)len;
	e->data = data;
	e->done = (kind == XLOG_PIO_OUT || kind == XLOG_MMIO_W || kind == XLOG_WRMSR);
	e->error = 0;
	c->xlog_pos = c->xlog_n;
	c->xlog_rip = RIP(c);
	cpu_exit_now(c, why);
}

void xlog_record_done(struct cpu *c, int kind, uint64_t addr, unsigned len, uint64_t data)
{
	(void)c, (void)kind, (void)addr, (void)len, (void)data;
}

void xlog_iteration_done(struct cpu *c)
{
	if (c->xlog_n && c->xlog_pos >= c->xlog_n)
		c->xlog_n = c->xlog_pos = 0;
}

void cpu_complete(struct cpu *c, const void *data, bool error)
{
	if (!c->xlog_n)
		return;
	struct xlog_entry *e = &c->xlog[c->xlog_n - 1];
	if (data && !e->done) {
		uint64_t v = 0;
		memcpy(&v, data, e->len > 8 ? 8 : e->len);
		e->data = v;
		if (e->kind == XLOG_PIO_IN && c->exit.io.count > 1) {
			/* a batched REP INS: data holds count elements */
			unsigned n = c->exit.io.count;
			memcpy(c->inb.data, data, n * e->len);
			c->inb.port = (uint16_t)e->addr;
			c->inb.size = e->len;
			c->inb.n = (uint16_t)n;
			c->inb.pos = 1; /* element 0 is replayed from the log */
			c->inb.active = true;
		}
	}
	e->done = 1;
	e->error = error;
}

const struct cpu_exit_info *cpu_exit_info(const struct cpu *c)
{
	return &c->exit;
}

/* ---- control from other threads ---- */

void cpu_kick(struct cpu *c)
{
	atomic_fetch_or(&c->events, EV_KICK);
}

void cpu_clear_kick(struct cpu *c)
{
	atomic_fetch_and(&c->events, ~EV_KICK);
}

void cpu_set_irq_pending(struct cpu *c, bool pending)
{
	atomic_store(&c->irq_line, pending);
	if (pending)
		atomic_fetch_or(&c->events, EV_IRQ);
}

void cpu_inject_nmi(struct cpu *c)
{
	atomic_fetch_add(&c->nmi_req, 1);
	atomic_fetch_or(&c->events, EV_NMI);
}

void cpu_set_budget(struct cpu *c, uint64_t n)
{
	/* event deliveries count too: a budgeted run still ends when the guest
	 * loops on a fault (a handler that faults again) */
	c->budget_end = n ? c->icount + c->deliver_count + n : 0;
	/* translations check the budget only if made to (cpu/jit/) */
	if (n && c->jit && !c->jit_budget) {
		c->jit_budget = true;
		cpu_flush_code(c);
	}
}

uint64_t cpu_insn_count(const struct cpu *c)
{
	return c->icount;
}

void cpu_note_external_write(struct cpu *c)
{
	c->epoch++;
}

void cpu_queue_exception(struct cpu *c, int vector, bool has_error, uint32_t error)
{
	c->exc_pending = true;
	c->exc_vector = (uint8_t)vector;
	c->exc_has_error = has_error;
	c->exc_error = error;
}

/* ---- the block cache ---- */

static inline unsigned bhash_of(uint64_t gpa, uint32_t mode)
{
	uint64_t h = (gpa ^ (gpa >> BHASH_BITS) ^ ((uint64_t)mode << 7)) * 0x9e3779b97f4a7c15ull;
	return (unsigned)(h >> (64 - BHASH_BITS));
}

static void *arena_alloc(struct cpu *c, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (c->arena_used + n > c->arena_size)
		return NULL;
	void *p = c->arena + c->arena_used;
	c->arena_used += n;
	return p;
}

const struct insn *op_block_end(struct cpu *c, const struct insn *i)
{
	(void)c, (void)i;
	return NULL;
}

const struct insn *op_ud(struct cpu *c, const struct insn *i)
{
	(void)i;
	cpu_raise_noerr(c, EXC_UD);
}

/* Decode a block from host bytes hp (guest-physical gpa). NULL: the first
 * instruction crosses the page (or the arena is full: retried after a flush). */
static struct block *block_translate(struct cpu *c, uint64_t gpa, const uint8_t *hp)
{
	struct insn tmp[BLOCK_MAX_INSNS + 1];
	unsigned avail = 4096 - (unsigned)(gpa & 0xfff), off = 0, n = 0;
	bool ends = false;

	unsigned ccop = 0; /* the cc_op left by the instructions so far, + 1 (0: unknown) */
	while (n < BLOCK_MAX_INSNS && off < avail && !ends) {
		int len = decode_one(c, hp + off, avail - off, c->mode, &tmp[n], &ends);
		if (len < 0)
			break; /* crosses the page end */
		/* a Jcc after a known flag producer evaluates its condition directly */
		if (ccop && tmp[n].fn == jcc_generic(tmp[n].aux)) {
			insn_fn f = jcc_fused(ccop - 1, tmp[n].aux);
			if (f)
				tmp[n].fn = f;
		}
		if (tmp[n].ccout)
			ccop = tmp[n].ccout;
		else if (!(tmp[n].flags & INSN_FLAGNEUTRAL))
			ccop = 0;
		off += (unsigned)len;
		n++;
	}
	if (n == 0)
		return NULL;
	/* an instruction decoded as ending exactly at avail might extend past it
	 * (invalid decode of a truncated instruction): decode_one handles that */
	size_t sz = sizeof(struct block) + (n + 1) * sizeof(struct insn);
	struct block *b = arena_alloc(c, sz + off);
	if (!b) {
		cpu_flush_code(c);
		b = arena_alloc(c, sz + off);
		if (!b)
			return NULL;
	}
	memcpy(b->insns, tmp, n * sizeof(struct insn));
	memset(&b->insns[n], 0, sizeof(struct insn));
	b->insns[n].fn = op_block_end;
	b->gpa = gpa;
	b->mode = c->mode;
	b->epoch = c->epoch;
	b->ninsns = (uint16_t)n;
	b->nbytes = (uint16_t)off;
	b->chainable = !ends || (tmp[n - 1].flags & INSN_CHAIN);
	b->chain_next = 0;
	b->chain_rip[0] = b->chain_rip[1] = 0;
	b->chain[0] = b->chain[1] = NULL;
	b->jit = NULL;
	b->jit_noev = NULL;
	b->jit_prev = NULL;
	b->jit_hdr = NULL;
	b->jit_flushes = 0;
	b->jit_failed = false;
	uint8_t *copy = (uint8_t *)b + sz;
	memcpy(copy, hp, off);
	b->bytes = copy;
	mem_note_code(c, gpa, &b->gen_ptr, &b->gen);
	/* the bytes may have changed between decode and marking: re-check */
	if (memcmp(copy, hp, off) != 0)
		b->gen = b->gen - 1; /* never valid; decoded again next time */
	unsigned h = bhash_of(gpa, c->mode);
	b->hnext = c->bhash[h];
	c->bhash[h] = b;
	return b;
}

static inline bool block_valid(struct cpu *c, struct block *b, const uint8_t *hp)
{
	if (unlikely(atomic_load_explicit(b->gen_ptr, memory_order_relaxed) != b->gen))
		return false;
	if (unlikely(b->epoch != c->epoch)) {
		if (memcmp(b->bytes, hp, b->nbytes) != 0) {
			b->gen = ~atomic_load(b->gen_ptr); /* dead */
			return false;
		}
		b->epoch = c->epoch;
		if (b->jit)
			jit_block_revalidated(c, b);
	}
	return true;
}

/* An instruction whose last byte is beyond the CS limit raises #GP(0) before it
 * runs (SDM vol. 3A, 5.3): one straddling 4 GiB in 32-bit code, too. */
static inline void code_limit_check(struct cpu *c, unsigned len)
{
	if (unlikely(c->segchk & (1u << SEG_CS)) && RIP(c) + len - 1 > c->seg[SEG_CS].limit)
		cpu_raise(c, EXC_GP, 0);
}

static const uint8_t *straddle_second_page(struct cpu *c, uint64_t la, unsigned first)
{
	uint64_t gpa2;
	const uint8_t *hp2 = mem_fetch_page(c, (la + first) & c->la_mask, &gpa2);
	if (!hp2) {
		c->exit.internal.what = "instruction fetch from MMIO";
		c->exit.internal.suberror = 1;
		c->exit.internal.rip = RIP(c);
		cpu_exit_now(c, CPU_EXIT_INTERNAL);
	}
	return hp2;
}

/* Execute a single instruction decoded from up to 15 bytes fetched across a page boundary. */
static void exec_straddling(struct cpu *c, uint64_t la, const uint8_t *hp)
{
	uint8_t buf[16];
	unsigned first = 4096 - (unsigned)(la & 0xfff);
	bool ends;
	struct insn ins[2];
	int len;

	const uint8_t *hp2 = NULL;
	/* the decode of this instruction, kept from an earlier run if its bytes
	 * are still the same (decoding is the costly part: busybox's shell runs
	 * some instruction across a page boundary on every loop) */
	struct straddle *s = &c->straddle[((uintptr_t)hp >> 12) % STRADDLE_N];
	if (s->hp1 == hp && s->mode == c->mode && s->first == first &&
	    !memcmp(hp, s->bytes, first < s->len ? first : s->len)) {
		if (s->len <= first) {
			ins[0] = s->ins;
			goto decoded;
		}
		hp2 = straddle_second_page(c, la, first);
		if (hp2 == s->hp2 && !memcmp(hp2, s->bytes + first, s->len - first)) {
			ins[0] = s->ins;
			goto decoded;
		}
	}
	memcpy(buf, hp, first);
	len = decode_one(c, buf, first, c->mode, &ins[0], &ends);
	if (len < 0) {
		if (!hp2)
			hp2 = straddle_second_page(c, la, first);
		memcpy(buf + first, hp2, 15 - first);
		len = decode_one(c, buf, 15, c->mode, &ins[0], &ends);
	} else {
		hp2 = NULL;
	}
	if (len > 0 && len <= 15) {
		s->hp1 = hp;
		s->hp2 = hp2;
		s->mode = c->mode;
		s->first = (uint8_t)first;
		s->len = (uint8_t)len;
		memcpy(s->bytes, buf, (unsigned)len);
		s->ins = ins[0];
	}
decoded:
	code_limit_check(c, ins[0].len);
	memset(&ins[1], 0, sizeof(ins[1]));
	ins[1].fn = op_block_end;
	c->cur_block = NULL;
	c->icount++;
	c->nochain = true; /* a temporary block: nothing to chain from */
	ins[0].fn(c, &ins[0]);
	c->nochain = false;
}

static NORETURN void fetch_mmio_exit(struct cpu *c, uint64_t gpa)
{
	c->exit.internal.what = "instruction fetch from MMIO";
	c->exit.internal.suberror = 1; /* KVM_INTERNAL_ERROR_EMULATION */
	c->exit.internal.rip = RIP(c);
	(void)gpa;
	cpu_exit_now(c, CPU_EXIT_INTERNAL);
}

/* Find or build the block at the current RIP. NULL: execute via exec_straddling(). */
static struct block *block_lookup(struct cpu *c, uint64_t *la_out, const uint8_t **hp_out)
{
	uint64_t la = (c->segbase[SEG_CS] + RIP(c)) & c->la_mask, gpa;
	const uint8_t *hp;
	struct block *b;

	if (unlikely(c->segchk & (1u << SEG_CS)) && RIP(c) > c->seg[SEG_CS].limit) {
		/* EIP (IP) wraps: after an instruction that ends at 4 GiB (64 KiB)
		 * execution goes on at 0 (SDM vol. 3A, 5.3) */
		uint64_t m = c->seg[SEG_CS].db ? 0xffffffffull : 0xffffull;
		if (RIP(c) > m) {
			RIP(c) &= m;
			la = (c->segbase[SEG_CS] + RIP(c)) & c->la_mask;
		}
		if (RIP(c) > c->seg[SEG_CS].limit)
			cpu_raise(c, EXC_GP, 0);
	}
	const struct tlb_entry *e = &c->tlb->x[TLB_INDEX(la)];
	if (likely(e->tag == (la & PAGE_MASK_4K))) {
		gpa = (e->gpa & PAGE_MASK_4K) | (la & 0xfff);
		hp = (const uint8_t *)(e->addend + la);
	} else {
		hp = mem_fetch_page(c, la, &gpa);
		if (unlikely(!hp))
			fetch_mmio_exit(c, gpa);
	}
	*la_out = la;
	*hp_out = hp;
	struct jc_entry *j = &c->jc[(la ^ (la >> JC_BITS)) & (JC_SIZE - 1)];
	b = j->b;
	struct block *dead = NULL; /* an invalid block of this code: its translation is
				      redirected to the new one's */
	if (likely(b && j->la == la && b->gpa == gpa && b->mode == c->mode)) {
		if (likely(block_valid(c, b, hp)))
			return b;
		dead = b;
	}
	for (struct block **pb = &c->bhash[bhash_of(gpa, c->mode)]; (b = *pb) != NULL;) {
		if (b->gpa == gpa && b->mode == c->mode) {
			if (block_valid(c, b, hp))
				break;
			/* invalid blocks never become valid again: unlink them so
			 * rewritten code does not grow the chain (the arena keeps
			 * the memory for jump-cache references) */
			*pb = b->hnext;
			dead = b;
			continue;
		}
		pb = &b->hnext;
	}
	if (!b) {
		/* an instruction known to cross the page end: no block can start
		 * here, exec_straddling() runs it without decoding it again */
		const struct straddle *s = &c->straddle[((uintptr_t)hp >> 12) % STRADDLE_N];
		if (s->hp1 == hp && s->hp2 && s->mode == c->mode)
			return NULL;
		b = block_translate(c, gpa, hp);
		if (b)
			b->jit_prev = dead;
	}
	if (b) {
		j->la = la;
		j->b = b;
	}
	return b;
}

/* ---- events ---- */

/* an interrupt is taken: if something outside the processors wrote RAM
 * since the last one (a device's DMA, which the interrupt announces), a new
 * epoch makes every block compare itself with memory before it runs again.
 * Timer interrupts and IPIs need none: processors' own stores invalidate
 * code precisely (mem_note_write). */
static void epoch_after_external_write(struct cpu *c)
{
	uint32_t g = atomic_load(&c->mem->ext_gen);
	if (g != c->ext_seen) {
		c->ext_seen = g;
		c->epoch++;
	}
}

/* Returns an exit reason, or CPU_EXIT_NONE to continue. Called at block boundaries. */
static enum cpu_exit handle_events(struct cpu *c)
{
	uint32_t ev = atomic_load(&c->events);

	if (ev & EV_TLBFLUSH) {
		atomic_fetch_and(&c->events, ~EV_TLBFLUSH);
		mem_quiesce(c); /* a quiescent point of the memory map (mem.c) */
	}
	if (ev & EV_CODEW) {
		atomic_fetch_and(&c->events, ~EV_CODEW);
		c->epoch++;
	}
	if (ev & EV_MONHIT) {
		atomic_fetch_and(&c->events, ~EV_MONHIT);
		mem_monitor_flush(c);
	}
	if (ev & EV_KICK)
		return CPU_EXIT_REQUEST;
	if (c->exc_pending) {
		c->exc_pending = false;
		c->raise_vec = c->exc_vector;
		c->raise_err = c->exc_error;
		if (!handle_fault(c)) {
			if (c->vmx_nonroot)
				vmx_exit_triple_fault(c);
			return CPU_EXIT_SHUTDOWN;
		}
	}
	if (ev & EV_VMX) {
		if (c->vmx_nonroot)
			vmx_boundary(c);
		else
			atomic_fetch_and(&c->events, ~EV_VMX);
	} else if (unlikely(c->vmx_nonroot) &&
		   (atomic_load(&c->irq_line) || atomic_load(&c->nmi_req) || c->nmi_pending)) {
		vmx_boundary(c);
	}
	if (c->intr_shadow)
		return CPU_EXIT_NONE;
	if (atomic_load(&c->nmi_req)) {
		/* Linux process_nmi: one NMI in service and one latched at most */
		unsigned limit = c->nmi_masked ? 1 : 2;
		unsigned n = c->nmi_pending + atomic_exchange(&c->nmi_req, 0);
		c->nmi_pending = (uint8_t)(n < limit ? n : limit);
	}
	if (c->nmi_pending && !c->nmi_masked) {
		c->nmi_pending--;
		epoch_after_external_write(c);
		c->delivering = 1;
		c->last_vector = EXC_NMI;
		cpu_deliver(c, EXC_NMI, DELIVER_NMI, false, 0, RIP(c));
		c->delivering = 0;
	}
	if (atomic_load(&c->irq_line) && (c->rflags & FL_IF)) {
		int v = c->ops->intr_ack ? c->ops->intr_ack(c->opaque) : -1;
		if (v == CPU_INTR_WINDOW)
			return CPU_EXIT_IRQ_WINDOW;
		if (v >= 0) {
			epoch_after_external_write(c);
			c->delivering = 1;
			c->last_vector = 0x20; /* benign */
			cpu_deliver(c, v, DELIVER_EXT, false, 0, RIP(c));
			c->delivering = 0;
		}
	}
	/* keep EV_IRQ set while an interrupt is pending but masked; it is
	 * re-checked at every boundary until IF opens */
	if (!atomic_load(&c->irq_line) && !atomic_load(&c->nmi_req) && !c->nmi_pending) {
		atomic_fetch_and(&c->events, ~(EV_IRQ | EV_NMI));
		/* an interrupt line raised or an NMI sent by another thread after the
		 * loads above must keep its event bit */
		if (atomic_load(&c->irq_line) || atomic_load(&c->nmi_req))
			atomic_fetch_or(&c->events, EV_IRQ | EV_NMI);
	}
	return CPU_EXIT_NONE;
}

/* ---- single-instruction execution with debug checks ---- */

static void check_insn_breakpoints(struct cpu *c, uint64_t la)
{
	uint64_t dr7 = c->dr[7], hit = 0;

	if (c->rflags & FL_RF)
		return;
	for (int n = 0; n < 4; n++) {
		if (!((dr7 >> (2 * n)) & 3))
			continue;
		if (((dr7 >> (16 + 4 * n)) & 3) != 0) /* R/W = 00: execution */
			continue;
		if (c->dr[n] == la)
			hit |= 1u << n;
	}
	if (hit) {
		c->dr[6] = (c->dr[6] & ~0xfull) | hit | 0xffff0ff0ull;
		cpu_raise_noerr(c, EXC_DB);
	}
}

static void step_one(struct cpu *c)
{
	uint64_t la;
	const uint8_t *hp;
	bool tf = (c->rflags & FL_TF) != 0;
	uint32_t dcount = c->deliver_count;
	uint64_t rip0 = RIP(c);

	la = (c->segbase[SEG_CS] + RIP(c)) & c->la_mask;
	if (c->dbg_exec_bp)
		check_insn_breakpoints(c, la);
	if (c->guest_debug & CPU_DEBUG_HW_BP) {
		for (int n = 0; n < 4; n++) {
			uint64_t dr7 = c->guest_dr[7];
			if (((dr7 >> (2 * n)) & 3) && !((dr7 >> (16 + 4 * n)) & 3) &&
			    c->guest_dr[n] == la && !(c->rflags & FL_RF)) {
				c->exit.debug.exception = EXC_DB;
				c->exit.debug.pc = RIP(c);
				c->exit.debug.dr6 = 0xffff0ff0ull | (1u << n);
				c->exit.debug.dr7 = dr7;
				cpu_exit_now(c, CPU_EXIT_DEBUG);
			}
		}
	}
	struct block *b = block_lookup(c, &la, &hp);
	c->cur_block = b;
	c->nochain = true;
	/* an interrupt shadow covers exactly this instruction; STI/MOV SS set a new one */
	c->intr_shadow = 0;
	c->rf_skip = false;
	if (b) {
		code_limit_check(c, b->insns[0].len);
		c->icount++;
		b->insns[0].fn(c, &b->insns[0]);
	} else {
		exec_straddling(c, la, hp);
	}
	c->nochain = false;
	/* RF is cleared after every instruction but one that loads it (IRET) */
	if (!c->rf_skip)
		c->rflags &= ~(uint64_t)FL_RF;
	/*
	 * MOV SS/POP SS hold debug traps until after the next instruction (SDM
	 * vol. 3A, 6.8.3): a data breakpoint hit by the SS load waits in
	 * pending_db_trap, a single-step trap is not taken, and neither is the
	 * debugger's single step (KVM single-steps with TF: its exit comes after
	 * the instruction that follows).
	 */
	if (c->intr_shadow == 2)
		return;
	if (c->guest_debug & CPU_DEBUG_SINGLESTEP) {
		c->exit.debug.exception = EXC_DB;
		c->exit.debug.pc = RIP(c);
		c->exit.debug.dr6 = 0xffff4ff0ull;
		c->exit.debug.dr7 = c->guest_dr[7];
		cpu_exit_now(c, CPU_EXIT_DEBUG);
	}
	if (c->pending_db_trap) {
		c->dr[6] = (c->dr[6] & ~0xfull) | 0xffff0ff0ull | c->pending_db_trap;
		c->pending_db_trap = 0;
		if (tf && dcount == c->deliver_count)
			c->dr[6] |= 0x4000;
		cpu_raise_noerr(c, EXC_DB);
	}
	if (tf && dcount == c->deliver_count) {
		c->dr[6] |= 0x4000; /* BS */
		(void)rip0;
		cpu_raise_noerr(c, EXC_DB);
	}
}

static inline bool need_slow_step(const struct cpu *c)
{
	return (c->rflags & (FL_TF | FL_RF)) || c->intr_shadow || c->dbg_exec_bp ||
	       c->dr7_data_bp || c->guest_debug;
}

/* ---- the run loop ---- */

enum cpu_exit cpu_run(struct cpu *c)
{
	volatile enum cpu_exit why = CPU_EXIT_NONE;
	volatile bool replaying;
	const unsigned mem_nest = c->mem_nest;

	/* a read-side section of the memory map (mem.c); no stale TLB entry
	 * or decoded block survives its start */
	mem_run_enter(c);
	c->exit_reason = CPU_EXIT_NONE;
	replaying = c->xlog_n != 0;
	if (replaying && c->xlog_rip != RIP(c))
		c->xlog_n = c->xlog_pos = 0, replaying = false;
	if (c->inb.active && c->xlog_rip != RIP(c))
		c->inb.active = false;
	c->io_batch = 1;

	switch (setjmp(c->jb)) {
	case 0:
		break;
	case 1: /* an exception */
		c->cur_block = NULL;
		c->nochain = false;
		replaying = false;
		if (!handle_fault(c)) {
			if (c->vmx_nonroot)
				vmx_exit_triple_fault(c);
			why = CPU_EXIT_SHUTDOWN;
			goto out;
		}
		if (c->finish_only)
			goto out;
		break;
	case 3: /* a VM exit (cpu/vmx/exit.c): L1's host state is loaded */
		c->cur_block = NULL;
		c->nochain = false;
		replaying = false;
		if (c->finish_only)
			goto out;
		break;
	default: /* an exit */
		c->cur_block = NULL;
		c->nochain = false;
		why = c->exit_reason;
		goto out;
	}

	if (replaying) {
		/* finish the suspended instruction first, but not through a TLB
		 * entry or decoded block of memory that was unmapped meanwhile */
		if (atomic_load(&c->events) & EV_TLBFLUSH) {
			atomic_fetch_and(&c->events, ~EV_TLBFLUSH);
			mem_quiesce(c);
		}
		c->xlog_pos = 0;
		step_one(c);
		c->xlog_n = c->xlog_pos = 0;
		replaying = false;
		if (c->finish_only)
			goto out;
	}

	/*
	 * prev: the block that just ran to its end, with the linear address it
	 * ran at. A block ending in a near branch (or a plain instruction) keeps
	 * up to two successors in the same page by RIP: the next lookup is then
	 * one compare, the translation being the one prev ran under.
	 */
	struct block *prev = NULL;
	uint64_t prev_la = 0;
	for (;;) {
		if (unlikely(atomic_load_explicit(&c->events, memory_order_relaxed) ||
			     c->exc_pending)) {
			why = handle_events(c);
			if (why != CPU_EXIT_NONE)
				goto out;
			prev = NULL; /* an event may have changed RIP, mode or CPL */
			c->jit_patch = NULL;
		}
		if (unlikely(c->halted)) {
			why = CPU_EXIT_HLT;
			goto out;
		}
		if (unlikely(c->budget_end) && c->icount + c->deliver_count >= c->budget_end) {
			why = CPU_EXIT_BUDGET;
			goto out;
		}
		if (unlikely(need_slow_step(c))) {
			c->jit_patch = NULL;
			step_one(c);
			prev = NULL;
			continue;
		}
		struct block *b = NULL;
		uint64_t la;
		if (prev) {
			uint64_t rip = RIP(c);
			unsigned k = prev->chain_rip[1] == rip;
			struct block *n = prev->chain[k];
			if (n && prev->chain_rip[k] == rip && n->mode == c->mode &&
			    n->epoch == c->epoch &&
			    atomic_load_explicit(n->gen_ptr, memory_order_relaxed) == n->gen) {
				b = n;
				la = (prev_la & PAGE_MASK_4K) | (n->gpa & 0xfff);
			}
		}
		if (!b) {
			const uint8_t *hp;
			uint32_t flushes = c->code_flushes;
			b = block_lookup(c, &la, &hp);
			if (c->code_flushes != flushes)
				prev = NULL; /* the arena was recycled under prev */
			if (unlikely(!b)) {
				c->jit_patch = NULL;
				exec_straddling(c, la, hp);
				prev = NULL;
				continue;
			}
			if (unlikely(c->segchk & (1u << SEG_CS)) &&
			    RIP(c) + b->nbytes - 1 > c->seg[SEG_CS].limit) {
				step_one(c);
				prev = NULL;
				continue;
			}
			/* remember the successor if it is in prev's page (same translation) */
			if (prev && !((la ^ prev_la) & PAGE_MASK_4K) &&
			    !(c->segchk & (1u << SEG_CS))) {
				unsigned k = prev->chain_next;
				prev->chain_rip[k] = RIP(c);
				prev->chain[k] = b;
				prev->chain_next = (uint8_t)(k ^ 1);
			}
		}
		if (c->jit && jit_may_run(c)) {
			/* translated code: it chains and looks blocks up itself */
			enum jit_result r = jit_run(c, b, la);
			if (r != JIT_CANNOT) {
				prev = NULL;
				continue;
			}
		}
		c->jit_patch = NULL;
		c->cur_block = b;
		c->icount += b->ninsns;
		prev_la = la;
		const struct insn *i = b->insns;
		do {
			i = i->fn(c, i);
		} while (i);
		/* branches may have chained on within the page: continue from the last */
		b = c->cur_block;
		prev = b && b->chainable ? b : NULL;
		if (prev)
			prev_la = (prev_la & PAGE_MASK_4K) | (b->gpa & 0xfff);
	}
out:
	c->cur_block = NULL;
	if (c->mon_ndefer)
		mem_monitor_flush(c);
	mem_run_exit(c, mem_nest);
	return why;
}

enum cpu_exit cpu_finish_suspended(struct cpu *c)
{
	enum cpu_exit e;

	if (!c->xlog_n)
		return CPU_EXIT_NONE;
	c->finish_only = true;
	e = cpu_run(c);
	c->finish_only = false;
	return e;
}

bool cpu_has_suspended(const struct cpu *c)
{
	return c->xlog_n != 0;
}

bool cpu_interrupts_open(struct cpu *c)
{
	return (c->rflags & FL_IF) && !c->intr_shadow;
}

/* ---- state access ---- */

void cpu_get_regs(const struct cpu *c, struct cpu_regs *r)
{
	memcpy(r->gpr, c->gpr, sizeof(r->gpr));
	r->rip = RIP(c);
	r->rflags = cpu_get_rflags((struct cpu *)c);
}

void cpu_set_regs(struct cpu *c, const struct cpu_regs *r)
{
	memcpy(c->gpr, r->gpr, sizeof(r->gpr));
	if (RIP(c) != r->rip) {
		c->xlog_n = c->xlog_pos = 0;
		c->inb.active = false;
	}
	RIP(c) = r->rip;
	cpu_set_rflags_raw(c, r->rflags);
	seg_update_cache(c);
}

void cpu_get_sregs(const struct cpu *c, struct cpu_sregs *s)
{
	memcpy(s->seg, c->seg, sizeof(s->seg));
	/* SS.DPL is the CPL, as KVM reports it (vmx_get_cpl reads SS.DPL;
	 * svm_get_segment puts the VMCB's CPL there) and cpu_set_sregs takes it:
	 * after an AMD SYSRET the cached SS attributes still say DPL 0 */
	s->seg[SEG_SS].dpl = (uint8_t)c->cpl;
	s->gdt_base = c->gdt_base;
	s->gdt_limit = c->gdt_limit;
	s->idt_base = c->idt_base;
	s->idt_limit = c->idt_limit;
	s->cr0 = c->cr0;
	s->cr2 = c->cr2;
	s->cr3 = c->cr3;
	s->cr4 = c->cr4;
	s->cr8 = c->cr8;
	s->efer = c->efer;
	s->apic_base = c->apic_base;
}

void cpu_set_sregs(struct cpu *c, const struct cpu_sregs *s)
{
	memcpy(c->seg, s->seg, sizeof(c->seg));
	c->gdt_base = s->gdt_base;
	c->gdt_limit = s->gdt_limit;
	c->idt_base = s->idt_base;
	c->idt_limit = s->idt_limit;
	c->cr0 = s->cr0;
	c->cr2 = s->cr2;
	c->cr3 = s->cr3;
	uint64_t old_cr4 = c->cr4;
	c->cr4 = s->cr4;
	c->cr8 = s->cr8;
	c->efer = s->efer;
	c->apic_base = s->apic_base;
	/* CPL is SS.DPL, as with VMX (KVM's vmx_get_cpl) */
	c->cpl = c->seg[SEG_SS].dpl;
	if (c->cr0 & CR0_PE && !(c->rflags & FL_VM) && !c->seg[SEG_SS].present &&
	    !c->seg[SEG_SS].unusable)
		c->cpl = c->seg[SEG_CS].sel & 3;
	seg_update_cache(c);
	tlb_flush_all(c);
	if (old_cr4 != c->cr4 && c->ops->cr4_changed)
		c->ops->cr4_changed(c->opaque, old_cr4, c->cr4);
}

uint64_t cpu_get_dr(const struct cpu *c, int n)
{
	if (n == 4)
		n = 6;
	if (n == 5)
		n = 7;
	return c->dr[n & 7];
}

void cpu_set_dr(struct cpu *c, int n, uint64_t v)
{
	if (n == 4)
		n = 6;
	if (n == 5)
		n = 7;
	c->dr[n & 7] = v;
	cpu_recompute_slow_mode(c);
}

void cpu_recompute_slow_mode(struct cpu *c)
{
	uint64_t dr7 = c->dr[7];
	bool exec = false, data = false;

	for (int n = 0; n < 4; n++) {
		if (!((dr7 >> (2 * n)) & 3))
			continue;
		if (((dr7 >> (16 + 4 * n)) & 3) == 0)
			exec = true;
		else
			data = true;
	}
	c->dbg_exec_bp = exec;
	if (data != c->dr7_data_bp) {
		c->dr7_data_bp = data;
		tlb_flush_all(c);
	}
}

void cpu_get_events(const struct cpu *c, struct cpu_events *e)
{
	e->exc_pending = c->exc_pending;
	e->exc_vector = c->exc_vector;
	e->exc_has_error = c->exc_has_error;
	e->exc_error = c->exc_error;
	e->nmi_pending = c->nmi_pending || atomic_load(&((struct cpu *)c)->nmi_req);
	e->nmi_masked = c->nmi_masked;
	e->intr_shadow = c->intr_shadow;
	e->halted = c->halted;
}

void cpu_set_events(struct cpu *c, const struct cpu_events *e)
{
	c->exc_pending = e->exc_pending;
	c->exc_vector = e->exc_vector;
	c->exc_has_error = e->exc_has_error;
	c->exc_error = e->exc_error;
	atomic_store(&c->nmi_req, 0);
	c->nmi_pending = e->nmi_pending ? 1 : 0;
	if (e->nmi_pending)
		atomic_fetch_or(&c->events, EV_NMI);
	c->nmi_masked = e->nmi_masked;
	c->intr_shadow = e->intr_shadow;
	c->halted = e->halted;
}

void cpu_set_features(struct cpu *c, uint32_t features)
{
	c->features = features;
	vmx_enable(c, (features & CPU_FEAT_VMX) != 0);
	cpu_flush_code(c); /* decode may depend on it */
}

bool cpu_monitor_triggered(struct cpu *c)
{
	return atomic_load(&c->mon_hit);
}

uint64_t cpu_monitor_line(struct cpu *c)
{
	uint64_t l = atomic_load(&c->mon_line);
	return l ? l & ~1ull : 0;
}

void cpu_set_halted(struct cpu *c, bool halted)
{
	c->halted = halted;
}

void cpu_set_guest_debug(struct cpu *c, uint32_t flags, const uint64_t dr[8])
{
	c->guest_debug = flags;
	if (dr)
		memcpy(c->guest_dr, dr, sizeof(c->guest_dr));
}

void cpu_set_maxphyaddr(struct cpu *c, unsigned bits)
{
	if (bits < 32 || bits > 52)
		bits = 36;
	c->maxphyaddr = (uint8_t)bits;
	tlb_flush_all(c);
}

uint64_t cpu_rdtsc(struct cpu *c)
{
	return c->ops->read_tsc ? c->ops->read_tsc(c->opaque) : c->icount;
}
