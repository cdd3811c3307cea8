/* SPDX-License-Identifier: MIT */
/*
 * cpu/ internals shared by the processor's modules: the vCPU state, the
 * decoded-instruction record, lazy flags and the inline memory fast paths.
 */
#ifndef SOFTKVM_CPU_INTERNAL_H
#define SOFTKVM_CPU_INTERNAL_H

#include <setjmp.h>
#include <string.h>
#include <stdatomic.h>

#include "cpu.h"
#include "vmx/vmx.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define NORETURN    __attribute__((noreturn))
#define HOT	    __attribute__((hot))
#define UNUSED	    __attribute__((unused))

/* gpr[] slots beyond the 16 architectural registers */
#define GPR_ZERO  16 /* always 0: "no base/index" in address computations */
#define GPR_RIP	  17 /* the RIP of the current instruction (RIP-relative base) */
#define GPR_TMP	  18 /* scratch */
#define GPR_2G	  19 /* always 1 << 31: large RIP-relative displacements (decode.c) */
#define GPR_SLOTS 20

/* ---- decoded instructions ---- */

struct insn;
typedef const struct insn *(*insn_fn)(struct cpu *c, const struct insn *i);

/*
 * The compact record an instruction decodes into (DESIGN.md: "handler pointer
 * plus pre-resolved operands"). Meaning of the fields is up to the handler;
 * the usual layout is:
 *   r1  destination register (gpr index; for 8-bit ops a byte offset into gpr[])
 *   r2  source register
 *   base/index/scale/disp/seg: memory operand, disp already includes the
 *       instruction length when base is GPR_RIP
 */
struct insn {
	insn_fn fn;
	uint64_t imm;
	int32_t disp;
	uint8_t len;
	uint8_t r1, r2;
	uint8_t base, index, scale, seg;
	uint8_t ashift; /* address-size mask as a shift: 0 (64), 32 (32), 48 (16) */
	uint8_t osz;	/* operand size in bytes */
	uint8_t flags;	/* INSN_* */
	uint16_t aux;	/* handler specific */
	uint32_t aux2;	/* handler specific */
	uint8_t ccout;	/* the cc_op this instruction always leaves, + 1 (0: unknown) */
};

#define INSN_LOCK	   (1u << 0)
#define INSN_REP	   (1u << 1) /* REP / REPE */
#define INSN_REPNE	   (1u << 2)
#define INSN_MEM	   (1u << 3) /* has a memory operand */
#define INSN_O16	   (1u << 4) /* 0x66 prefix present */
#define INSN_CHAIN	   (1u << 5) /* near branch: its block may chain to the next */
#define INSN_FLAGNEUTRAL   (1u << 6) /* writes none of CF PF AF ZF SF OF */
#define CCOUT(kind, szlog) ((uint8_t)(CC_OP(kind, szlog) + 1))
/* Jcc fused with the flag-setting instruction before it (ops_jcc.c); NULL if none */
insn_fn jcc_fused(unsigned ccop, unsigned cond);
insn_fn jcc_generic(unsigned cond);

/* A decoded block: straight-line instructions within one guest page. */
#define BLOCK_MAX_INSNS 64
struct jit_hdr;
struct block {
	uint64_t gpa;  /* guest-physical address of the first byte */
	uint32_t mode; /* decode mode (ZydisMachineMode) */
	uint32_t epoch;
	const _Atomic uint32_t *gen_ptr; /* code generation of the page */
	uint32_t gen;
	struct block *hnext;
	uint16_t nbytes, ninsns;
	bool chainable;	      /* ends with a near branch or a plain instruction */
	uint8_t chain_next;   /* slot to replace */
	const uint8_t *bytes; /* copy of the guest bytes the block was decoded from */
	/* direct successors in the same page, by RIP (see cpu_run) */
	uint64_t chain_rip[2];
	struct block *chain[2];
	/* the JIT's translation (cpu/jit/): entry and header in the code
	 * buffer, valid while jit_flushes equals the buffer's flush count */
	void *jit;
	void *jit_noev;		/* the entry past the events check (from the dispatcher) */
	struct block *jit_prev; /* the invalid block this one replaces */
	struct jit_hdr *jit_hdr;
	uint64_t jit_flushes;
	bool jit_failed;
	struct insn insns[];
};

/* ---- software TLB ---- */

#define TLB_BITS 9
#define TLB_SIZE (1u << TLB_BITS)
#define TLB_MASK (TLB_SIZE - 1)
/* direct-mapped; the index folds in the 2 MiB frame so regions laid out at
 * megabyte-aligned addresses (code, data, stack) do not evict each other, by
 * addition so that two consecutive pages never share an index (the JIT's
 * inline probe checks the page of an access's last byte against the tag) */
#define TLB_INDEX(la)	((unsigned)(((la) >> 12) + ((la) >> 21)) & TLB_MASK)
#define PAGE_MASK_4K	(~0xfffull)
#define TLB_INVALID	1ull
#define TLB_LOG		512 /* struct cpu.tlb_log */
#define TLB_LARGE_BITS	12  /* the maps of cached large pages (struct cpu) */
#define TLB_LARGE_WORDS ((1u << TLB_LARGE_BITS) / 64)

struct tlb_entry {
	uint64_t tag;	  /* linear page address, or TLB_INVALID */
	uintptr_t addend; /* host address = addend + linear address */
	uint64_t gpa;	  /* guest-physical page address */
	uint64_t pad;	  /* 32 bytes: the JIT indexes with a shift */
};

struct tlb {
	struct tlb_entry r[TLB_SIZE], w[TLB_SIZE], x[TLB_SIZE];
};

/*
 * Three TLB sets, one per kind of access right: supervisor, user, and
 * supervisor with the SMAP override (CR4.SMAP and RFLAGS.AC = 1: explicit
 * data accesses may touch user pages, SDM vol. 3A, 4.6.1). User pages are
 * cached for supervisor data accesses only in the last, so STAC; copy; CLAC
 * (Linux's copy_to/from_user) runs on the TLB fast paths, and clearing AC
 * needs no flush: it only switches sets.
 */
enum { TLB_SUPER = 0, TLB_USER = 1, TLB_SUPER_AC = 2, TLB_SETS = 3 };

/* jump cache: linear RIP -> block */
#define JC_BITS 14
#define JC_SIZE (1u << JC_BITS)
struct jc_entry {
	uint64_t la;
	struct block *b;
};

/* decoded instructions that cross a page boundary (no block holds them):
 * keyed by the host addresses of both parts, checked against their bytes */
#define STRADDLE_N 8
struct straddle {
	const uint8_t *hp1, *hp2; /* hp2 NULL: the decode needed no second page */
	uint32_t mode;
	uint8_t first, len;
	uint8_t bytes[16];
	struct insn ins;
};

/* ---- lazy flags ---- */

enum cc_kind {
	CC_EFLAGS = 0, /* arithmetic flags are in rflags */
	CC_ADD,	       /* res, src1 = aux, src2 = src */
	CC_ADC,	       /* like ADD with carry-in 1 */
	CC_SUB,
	CC_SBB,
	CC_LOGIC, /* res; CF = OF = AF = 0 */
	CC_INC,	  /* res, aux = src1, src = old CF */
	CC_DEC,
	CC_RESCO, /* res gives ZF SF PF; CF = src & 1, OF = aux & 1, AF = 0 */
	CC_KINDS
};
#define CC_OP(kind, szlog) (((kind) << 2) | (szlog))
#define CC_KIND(op)	   ((op) >> 2)
#define CC_SZLOG(op)	   ((op)&3)

/* size in bytes -> log2 */
static inline unsigned szlog(unsigned bytes)
{
	return bytes == 8 ? 3 : bytes == 4 ? 2 : bytes == 2 ? 1 : 0;
}

/* ---- suspended instructions: the replay log ---- */

enum { XLOG_PIO_IN = 1, XLOG_PIO_OUT, XLOG_MMIO_R, XLOG_MMIO_W, XLOG_RDMSR, XLOG_WRMSR, XLOG_WAIT };
#define XLOG_MAX 8
struct xlog_entry {
	uint8_t kind, len, done, error;
	uint64_t addr;
	uint64_t data;
};

/* events checked at block boundaries (c->events) */
#define EV_IRQ	    (1u << 0)
#define EV_NMI	    (1u << 1)
#define EV_KICK	    (1u << 2)
#define EV_TLBFLUSH (1u << 3) /* flush write TLB: a page became code elsewhere */
#define EV_SLOW	    (1u << 4) /* re-evaluate slow-mode conditions */
#define EV_CODEW    (1u << 5) /* code was written: a new epoch (translations revalidate) */
#define EV_MONHIT   (1u << 6) /* this vCPU stored to monitored lines: trigger them (mem.c) */
#define EV_VMX	    (1u << 7) /* VMX non-root: check the preemption timer and windows */

struct cpu_mem;

struct cpu {
	/* hot state first */
	uint64_t gpr[GPR_SLOTS];
	uint32_t cc_op;
	uint64_t cc_res, cc_src, cc_aux;
	uint64_t rflags;     /* non-arithmetic bits always; arithmetic when cc_op == CC_EFLAGS */
	uint64_t segbase[8]; /* effective segment bases used for address computation */
	uint64_t la_mask;    /* ~0 in 64-bit mode, 0xffffffff otherwise */
	uint32_t segchk;     /* bit per segment: limit/usability check needed */
	uint32_t mode;	     /* ZydisMachineMode of the current code segment */
	uint64_t stack_mask; /* 0xffff, 0xffffffff or ~0 */
	struct tlb *tlb;     /* the set in use: see tlb_select() */
	_Atomic uint32_t events;
	uint32_t epoch;
	int cpl;
	uint32_t ext_seen;     /* cpu_mem.ext_gen when an interrupt last started an epoch */
	bool single_step_mode; /* execute one instruction per dispatch (TF, DR7, shadows) */

	/* architectural state */
	struct cpu_seg seg[SEG_COUNT];
	uint64_t gdt_base, idt_base;
	uint16_t gdt_limit, idt_limit;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer, xcr0;
	uint32_t pkru;	/* protection-key rights (SDM vol. 3A, 4.6.2); XSAVE component 9 */
	uint64_t dr[8]; /* dr[4], dr[5] unused (aliases) */
	uint64_t apic_base;
	uint64_t star, lstar, cstar, sfmask, kernel_gs_base;
	uint64_t sysenter_cs, sysenter_esp, sysenter_eip;
	uint64_t tsc_aux, pat, tsc_offset, tsc_adjust, debugctl, misc_enable;
	uint64_t mtrr_def_type, mtrr_fixed[11], mtrr_var[16];

	/* x87/MMX/SSE (fpu_state.c): the FXSAVE64 image (SDM vol. 1, 10.5.1:
	 * FIP/FDP 64-bit, MXCSR at 24, ST(i) in stack order), the selectors that
	 * image lacks, and the host execution unit's stub arena (fpu_host.c) */
	uint8_t fx[512] __attribute__((aligned(64)));
	/* YMM_Hi128 (XSAVE component 2): bits 255:128 of YMM0-15 (ops_avx.c) */
	uint8_t ymmh[16][16] __attribute__((aligned(16)));
	uint16_t fx_fcs, fx_fds;
	uint64_t xcr0_allowed; /* XCR0 bits the guest's CPUID permits */
	struct fpu_host *fpu_host;

	/* events and interrupts */
	uint8_t intr_shadow; /* 1 = STI, 2 = MOV SS/POP SS */
	bool nmi_masked;
	bool halted;
	bool exc_pending; /* queued exception (cpu_queue_exception) */
	uint8_t exc_vector;
	bool exc_has_error;
	uint32_t exc_error;
	int delivering;	     /* nesting level of exception delivery (double/triple fault) */
	uint8_t last_vector; /* vector being delivered, for #DF classification */
	_Atomic bool irq_line;
	_Atomic uint32_t nmi_req; /* NMIs sent, not yet latched (any thread) */
	uint8_t nmi_pending;	  /* latched: at most one beyond one in service */

	/* exits */
	jmp_buf jb;
	int raise_vec;
	uint32_t raise_err;
	uint32_t deliver_count;	  /* bumped by every event delivery (single-step logic) */
	struct block *cur_block;  /* block being executed (self-modifying code) */
	bool dbg_exec_bp;	  /* DR7 enables an instruction breakpoint */
	uint32_t pending_db_trap; /* data breakpoint hits (B0-B3) of this instruction */
	uint8_t maxphyaddr;
	enum cpu_exit exit_reason;
	struct cpu_exit_info exit;
	struct xlog_entry xlog[XLOG_MAX];
	unsigned xlog_n, xlog_pos;
	uint64_t xlog_rip;
	/*
	 * REP INS read-ahead (Linux's emulator read cache): one I/O exit asks
	 * for io_batch elements; the caller's answer holds all of them and the
	 * following iterations take theirs from here. Dropped when the
	 * instruction ends, faults or is abandoned.
	 */
	unsigned io_batch; /* elements the next PIO IN exit asks for (>= 1) */
	struct {
		bool active;
		uint16_t port;
		uint8_t size;
		uint16_t n, pos;
		uint8_t data[1024];
	} inb;
	bool finish_only;		    /* cpu_finish_suspended() */
	uint32_t features;		    /* CPU_FEAT_* enabled by the guest's CPUID */
	uint32_t vflags;		    /* VB_*: vendor behaviour (vendor.c); 0 = Intel */
	struct cpu_vendor_info vendor_info; /* as cpu_set_vendor() gave it */
	_Atomic uint64_t mon_line;	    /* armed monitor: line address | 1, 0 = none */
	_Atomic bool mon_hit;		    /* a store hit the monitored line */
	uint64_t mon_defer[4];		    /* lines this vCPU stored to, not yet triggered */
	unsigned mon_ndefer;

	/* run control */
	uint64_t icount;
	uint64_t budget_end; /* 0 = unlimited */
	uint32_t guest_debug;
	uint64_t guest_dr[8];
	bool rf_skip; /* the instruction loaded RF (IRET): step_one keeps it */

	/* memory */
	struct cpu_mem *mem;
	_Atomic uint32_t nocode_gen;
	bool tlb_has_large; /* a large page was cached in 4K pieces */
	/* where: bit (la >> 21) hashed for 2/4 MiB pages (each 2 MiB they
	 * span), (la >> 30) hashed for 1 GiB pages; an INVLPG that hits no bit
	 * flushes only its own 4 KiB entry (mem.c, tlb_flush_page) */
	uint64_t tlb_large_2m[TLB_LARGE_WORDS], tlb_large_1g[TLB_LARGE_WORDS];
	/* the non-global entries filled since the last flush, so that a CR3
	 * write clears those instead of scanning every set (tlb_flush_nonglobal) */
	struct tlb_entry *tlb_log[TLB_LOG];
	unsigned tlb_nlog; /* TLB_LOG + 1: overflowed, scan */
	bool dr7_data_bp;  /* enabled data breakpoints: all accesses slow */
	/* memory map read side (mem.c): the grace-period generation this vCPU
	 * is known to have caught up with while in a section, 0 outside */
	struct mem_reader *mem_rd;
	uint64_t mem_synced; /* generation the TLB was last brought up to */
	unsigned mem_nest;   /* section nesting: only the owning thread touches it */
	uint32_t mem_gen;    /* map generation the TLB and code cache belong to */
	struct tlb tlbs[TLB_SETS];
	struct jc_entry jc[JC_SIZE];
	struct straddle straddle[STRADDLE_N];

	/* code cache */
	struct block **bhash;
	uint8_t *arena;
	size_t arena_used, arena_size;
	uint32_t code_flushes; /* bumped by cpu_flush_code(): cached block pointers die */
	bool nochain;	       /* executing single instructions (step_one): no chaining */

	/* the JIT (cpu/jit/): NULL when the vCPU interprets */
	struct jit *jit;
	uint64_t jit_icount_limit; /* translated code exits when icount reaches it */
	uint64_t jit_rot_res;	   /* result of a rotate whose CF/OF wait (cpu/jit/emit.c) */
	void *jit_patch;	   /* the exit the last run of translated code took */
	uint64_t jit_patch_flushes;
	uint8_t jit_stop; /* a store hit a code page: leave translated code */
	uint8_t jit_why;  /* why translated code left (statistics) */
	bool jit_budget;  /* translations check the instruction budget (cpu_set_budget) */

	/* VMX (cpu/vmx/): NULL unless CPU_FEAT_VMX */
	struct vmx *vmx;
	bool vmx_nonroot; /* L2 runs: exits are checked (cpu/vmx/vmx.h) */

	const struct cpu_ops *ops;
	void *opaque;
	void *decoder_state; /* Zydis decoders, see decode.c */
};

#define RIP(c) ((c)->gpr[GPR_RIP])

/* Pick the TLB set for the current CPL, CR4.SMAP and RFLAGS.AC; called
 * wherever one of them changes. */
static inline void tlb_select(struct cpu *c)
{
	unsigned set = c->cpl == 3				    ? TLB_USER
		       : (c->rflags & FL_AC) && (c->cr4 & CR4_SMAP) ? TLB_SUPER_AC
								    : TLB_SUPER;
	c->tlb = &c->tlbs[set];
}

/* ---- exceptions (except.c) ---- */

/* Raise an exception from inside an instruction: unwinds to cpu_run(). */
NORETURN void cpu_raise(struct cpu *c, int vector, uint32_t error);
NORETURN void cpu_raise_noerr(struct cpu *c, int vector);
/* Leave cpu_run() with an exit (state must be consistent). */
NORETURN void cpu_exit_now(struct cpu *c, enum cpu_exit why);
/* Deliver an exception or interrupt through the IDT (interrupt.c). */
void cpu_deliver(struct cpu *c, int vector, int kind, bool has_error, uint32_t error,
		 uint64_t next_rip);
enum { DELIVER_EXC, DELIVER_EXT, DELIVER_SOFT, DELIVER_NMI, DELIVER_PRIVSW };

/* ---- flags (flags.c) ---- */
uint64_t cpu_get_rflags(struct cpu *c);
void cpu_set_rflags_raw(struct cpu *c, uint64_t v); /* no privilege checks */
bool cc_cf(struct cpu *c);
bool cc_zf(struct cpu *c);
bool cc_sf(struct cpu *c);
bool cc_of(struct cpu *c);
bool cc_pf(struct cpu *c);
bool cc_af(struct cpu *c);
bool cc_cond(struct cpu *c, unsigned cond); /* cond = low nibble of Jcc opcode */
void cc_materialize(struct cpu *c);

/* ---- memory (mem.c, paging.c) ---- */

enum { ACC_R = 0, ACC_W = 1, ACC_X = 2 };
/* access flags for slow paths */
#define ACCF_IMPLICIT_SV (1u << 4) /* supervisor-mode implicit access (GDT, IDT, TSS) */
#define ACCF_NOFAULT	 (1u << 5) /* probe only */
#define ACCF_STACK	 (1u << 6) /* SS-relative: non-canonical gives #SS */
#define TLB_LOG		 512
#define TLB_GPA_GLOBAL	 1ull /* in tlb_entry.gpa: global page */

uint64_t mem_read_slow(struct cpu *c, uint64_t la, unsigned size, unsigned accf);
void mem_write_slow(struct cpu *c, uint64_t la, unsigned size, uint64_t val, unsigned accf);
/* Host pointer for an aligned-in-page RMW access (LOCK), or NULL (use slow path). */
void *mem_rmw_ptr(struct cpu *c, uint64_t la, unsigned size);
/* Guest-physical access used by the page walker and descriptor tables. */
void tlb_flush_all(struct cpu *c);
void tlb_flush_nonglobal(struct cpu *c);
void tlb_flush_page(struct cpu *c, uint64_t la);
void tlb_flush_write(struct cpu *c);
/* drop the read and write entries (their rights depend on PKRU) */
void tlb_flush_data(struct cpu *c);
/* WRPKRU, XRSTOR: a new PKRU; the data TLB goes if it changed */
void cpu_load_pkru(struct cpu *c, uint32_t v);
/* page walk: fills *gpa; returns 0 or the #PF error code | (1u << 31) on fault */
struct walk_result {
	uint64_t gpa;
	uint64_t page_size;
	bool user, writable, nx, global, dirty;
};
int paging_walk(struct cpu *c, uint64_t la, int acc, int cpl, unsigned accf, struct walk_result *w);
void paging_update_mode(struct cpu *c);

/* Raw memory of the machine (mem.c). */
void *mem_gpa_ptr(struct cpu *c, uint64_t gpa, unsigned len, bool write);
void mem_note_code(struct cpu *c, uint64_t gpa, const _Atomic uint32_t **gen_ptr, uint32_t *gen);

static inline uint64_t ld_n(const void *p, unsigned size)
{
	switch (size) {
	case 1:
		return *(const uint8_t *)p;
	case 2: {
		uint16_t v;
		memcpy(&v, p, 2);
		return v;
	}
	case 4: {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	default: {
		uint64_t v;
		memcpy(&v, p, 8);
		return v;
	}
	}
}

static inline void st_n(void *p, unsigned size, uint64_t v)
{
	switch (size) {
	case 1:
		*(uint8_t *)p = (uint8_t)v;
		break;
	case 2: {
		uint16_t x = (uint16_t)v;
		memcpy(p, &x, 2);
		break;
	}
	case 4: {
		uint32_t x = (uint32_t)v;
		memcpy(p, &x, 4);
		break;
	}
	default:
		memcpy(p, &v, 8);
		break;
	}
}

static inline bool tlb_hit(const struct tlb_entry *e, uint64_t la, unsigned size)
{
	return e->tag == (la & PAGE_MASK_4K) && (la & 0xfff) <= 0x1000u - size;
}

/* Read size bytes at linear address la with the current privilege. */
static inline uint64_t mem_read(struct cpu *c, uint64_t la, unsigned size)
{
	const struct tlb_entry *e = &c->tlb->r[TLB_INDEX(la)];
	if (likely(tlb_hit(e, la, size)))
		return ld_n((const void *)(e->addend + la), size);
	return mem_read_slow(c, la, size, 0);
}

static inline void mem_write(struct cpu *c, uint64_t la, unsigned size, uint64_t v)
{
	const struct tlb_entry *e = &c->tlb->w[TLB_INDEX(la)];
	if (likely(tlb_hit(e, la, size))) {
		st_n((void *)(e->addend + la), size, v);
		return;
	}
	mem_write_slow(c, la, size, v, 0);
}

/* Check that a write would succeed (before committing other state). */
void mem_probe_write(struct cpu *c, uint64_t la, unsigned size);
/* A non-canonical data address of the current instruction: #SS (SS-relative) or #GP? */
bool mem_noncanonical_is_ss(struct cpu *c);

/* ---- segmentation (seg.c) ---- */

/* Limit/type check for an access through segment seg at offset ea. */
void seg_check_slow(struct cpu *c, int seg, uint64_t ea, unsigned size, int acc);
/* Recompute segbase/segchk/la_mask/mode/cpl-derived state after a change. */
void seg_update_cache(struct cpu *c);
/* Load a segment register as MOV/POP do (checks, #GP/#SS/#NP). */
void seg_load(struct cpu *c, int seg, uint16_t sel);
/* Load a segment register directly from a descriptor (no checks). */
void seg_load_desc(struct cpu *c, int seg, uint16_t sel, uint32_t lo, uint32_t hi);
/* Real-mode / VM86 style load. */
void seg_load_real(struct cpu *c, int seg, uint16_t sel);
/* Read the 8-byte descriptor for sel from the GDT/LDT; #GP(sel) if outside. */
bool seg_read_desc(struct cpu *c, uint16_t sel, uint32_t *lo, uint32_t *hi, int exc);
void seg_from_desc(struct cpu_seg *s, uint16_t sel, uint32_t lo, uint32_t hi);
void cpu_update_mode(struct cpu *c);

static inline uint64_t insn_ea(const struct cpu *c, const struct insn *i)
{
	uint64_t ea = c->gpr[i->base] + (c->gpr[i->index] << i->scale) + (uint64_t)(int64_t)i->disp;
	return (ea << i->ashift) >> i->ashift;
}

static inline uint64_t seg_la(struct cpu *c, int seg, uint64_t ea, unsigned size, int acc)
{
	if (unlikely(c->segchk & (1u << seg)))
		seg_check_slow(c, seg, ea, size, acc);
	return (c->segbase[seg] + ea) & c->la_mask;
}

/* linear address of the memory operand of i */
static inline uint64_t insn_la(struct cpu *c, const struct insn *i, unsigned size, int acc)
{
	return seg_la(c, i->seg, insn_ea(c, i), size, acc);
}

/* ---- registers ---- */

static inline uint64_t reg_get(const struct cpu *c, unsigned r, unsigned size)
{
	switch (size) {
	case 1:
		return ((const uint8_t *)c->gpr)[r];
	case 2:
		return (uint16_t)c->gpr[r];
	case 4:
		return (uint32_t)c->gpr[r];
	default:
		return c->gpr[r];
	}
}

/* r is a byte offset for size 1, a register number otherwise */
static inline void reg_set(struct cpu *c, unsigned r, unsigned size, uint64_t v)
{
	switch (size) {
	case 1:
		((uint8_t *)c->gpr)[r] = (uint8_t)v;
		break;
	case 2:
		memcpy(&c->gpr[r], &(uint16_t){(uint16_t)v}, 2);
		break;
	case 4:
		c->gpr[r] = (uint32_t)v;
		break;
	default:
		c->gpr[r] = v;
		break;
	}
}

static inline uint64_t size_mask(unsigned size)
{
	return size == 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

static inline uint64_t sext(uint64_t v, unsigned size)
{
	switch (size) {
	case 1:
		return (uint64_t)(int64_t)(int8_t)v;
	case 2:
		return (uint64_t)(int64_t)(int16_t)v;
	case 4:
		return (uint64_t)(int64_t)(int32_t)v;
	default:
		return v;
	}
}

/* ---- debug (debug.c) ---- */
void debug_check_data(struct cpu *c, uint64_t la, unsigned size, bool write);

/* ---- stack ---- */
void stack_push(struct cpu *c, unsigned size, uint64_t v);
uint64_t stack_pop(struct cpu *c, unsigned size);
uint64_t stack_read(struct cpu *c, unsigned size, uint64_t off);

/* ---- I/O and MSR through cpu_ops with suspension (io.c) ---- */
uint64_t io_in(struct cpu *c, uint16_t port, unsigned size);
void io_out(struct cpu *c, uint16_t port, unsigned size, uint64_t v);
/* #GP unless CPL <= IOPL (and not VM86) or the TSS I/O bitmap allows it. */
void io_check_perm(struct cpu *c, uint16_t port, unsigned size);
uint64_t msr_read_guest(struct cpu *c, uint32_t index);
void msr_write_guest(struct cpu *c, uint32_t index, uint64_t v);
/* replay-log access for MMIO (mem.c) */
bool xlog_replay(struct cpu *c, int kind, uint64_t addr, unsigned len, uint64_t *data);
NORETURN void xlog_suspend(struct cpu *c, int kind, uint64_t addr, unsigned len, uint64_t data,
			   enum cpu_exit why);
void xlog_record_done(struct cpu *c, int kind, uint64_t addr, unsigned len, uint64_t data);
void xlog_iteration_done(struct cpu *c);

/* ---- decode (decode.c) and the instruction tables ---- */

struct dctx; /* decoder context, see decode.h */
void decode_init(struct cpu *c);
void decode_fini(struct cpu *c);
/* Decode one instruction; returns its length, and whether it ends the block. */
int decode_one(struct cpu *c, const uint8_t *bytes, unsigned avail, uint32_t mode, struct insn *out,
	       bool *ends_block);

/* handlers everybody needs */
const struct insn *op_ud(struct cpu *c, const struct insn *i);
const struct insn *op_block_end(struct cpu *c, const struct insn *i);

/* end a block after this instruction: handlers that change mode/flags/CS return this */
#define END_BLOCK(c, i)                                                                            \
	do {                                                                                       \
		RIP(c) += (i)->len;                                                                \
		return NULL;                                                                       \
	} while (0)
#define NEXT(c, i)                                                                                 \
	do {                                                                                       \
		RIP(c) += (i)->len;                                                                \
		return (i) + 1;                                                                    \
	} while (0)

/* ---- vendor behaviour (vendor.c, cpu/README.md) ---- */
/*
 * Where Intel and AMD differ, c->vflags holds the AMD behaviour's bit (0 is
 * Intel's), from the vendor table and the CPUID bits in vendor.c.
 */
#define VB_BRANCH_O16	   (1u << 0)  /* 66h makes near branches 16-bit in 64-bit mode */
#define VB_REP_KEEP_RCX_HI (1u << 1)  /* 67h REP string, ECX = 0: RCX[63:32] kept */
#define VB_NO_SYSENTER_LM  (1u << 2)  /* SYSENTER/SYSEXIT #UD in long mode */
#define VB_SYSCALL_LEGACY  (1u << 3)  /* SYSCALL/SYSRET outside 64-bit mode */
#define VB_SYSRET_NC_USER  (1u << 4)  /* SYSRET to non-canonical RCX: #GP at CPL 3 */
#define VB_NULL_KEEPS_BASE (1u << 5)  /* null selector load keeps FS/GS base (64-bit) */
#define VB_FOP_ALWAYS	   (1u << 6)  /* FOP follows every x87 non-control instruction */
#define VB_FXSAVE_PTRS_ES  (1u << 7)  /* FXSAVE/XSAVE store FIP/FDP/FOP only if FSW.ES */
#define VB_SYSENTER_MSR32  (1u << 8)  /* SYSENTER_ESP/EIP keep 32 bits */
#define VB_FDP_EXCPTN_ONLY (1u << 9)  /* CPUID.7.0:EBX[6] */
#define VB_ZERO_FCS_FDS	   (1u << 10) /* CPUID.7.0:EBX[13] */
#define VB_BEXTR_AF	   (1u << 11) /* BEXTR sets AF (undefined in the SDM) */
#define VB_ARPL_WRITE_CHK  (1u << 12) /* ARPL m16 checks for writing only when it writes */

/* Zydis decoder options that follow the vendor (decode.c) */
void decode_set_vendor(struct cpu *c, bool amd);

/* ---- misc ---- */
void cpu_recompute_slow_mode(struct cpu *c);
/* CR4 bits the guest's CPUID allows (ops_system.c) */
uint64_t cpu_cr4_supported(struct cpu *c);
void cpu_flush_code(struct cpu *c);
uint64_t cpu_rdtsc(struct cpu *c);
/* Privilege checks */
static inline void require_cpl0(struct cpu *c)
{
	if (c->cpl != 0)
		cpu_raise(c, EXC_GP, 0);
}
static inline bool in_long_mode(const struct cpu *c)
{
	return (c->efer & EFER_LMA) != 0;
}
static inline bool in_64bit_mode(const struct cpu *c)
{
	return c->mode == 0; /* ZYDIS_MACHINE_MODE_LONG_64 */
}
static inline bool in_real_mode(const struct cpu *c)
{
	return !(c->cr0 & CR0_PE);
}
static inline bool in_vm86(const struct cpu *c)
{
	return (c->rflags & FL_VM) != 0;
}

#endif
