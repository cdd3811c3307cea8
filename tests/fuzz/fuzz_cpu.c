/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the software processor: random bytes become guest code,
 * run on cpu/ through the harness (cpu/harness.h) in a mode, privilege level
 * and paging setup chosen by a small header, with an instruction budget and
 * a wall-clock watchdog. The invariants: no crash, no leak, no undefined
 * behaviour (the sanitizers), no hang (a watchdog kicks the vCPU after
 * 1 s and aborts if cpu_run() has not returned 5 s later; libFuzzer's
 * -timeout is the last resort), and every cpu_run() returns a known exit
 * that respects the instruction budget.
 *
 * The same entry point (LLVMFuzzerTestOneInput) is linked into libFuzzer by
 * scripts/fuzz-cpu.sh and into the replay driver of the 'fast' test suite
 * (tests/fuzz/replay.c).
 *
 * Input layout (struct fuzz_hdr, then the code):
 *   mode   bits 0-2: 0 real, 1 prot16, 2/6 prot32, 3/7 long64, 4 compat32,
 *                    5 compat16
 *          bit 3 CPL 3, bit 4 paging (protected modes; long mode always
 *          pages), bit 5 PAE (32-bit) / 4 KiB page table with random
 *          permissions for the first 2 MiB (long mode), bit 6 IDT gates into
 *          the code, bit 7 random descriptors in GDT entries 12-31
 *   flags  CF PF AF ZF SF DF OF IF
 *   events bit 0 TF, 1 NMI pending, 2 IRQ line, 3 CR4 extras (SMEP SMAP PGE
 *          OSFXSR FSGSBASE UMIP), 4 IOPL 3, 5 AC, 6 run again after the
 *          first exit, 7 CR0 extras (TS EM MP AM, WP off)
 *   where  code offset in its page / 16 (instructions straddle pages)
 *   seed   32-bit seed for registers, data, page tables and descriptors; its
 *          top bit selects the long instruction budget
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "replay.h"
#include "watchdog.h"

#define FUZZ_RAM      (4ull << 20)
#define FUZZ_STACK    0x3ff0ull /* initial stack top (also ring-0 stack) */
#define FUZZ_CODE     0x4000ull /* code page; the code starts at + where * 16 */
#define FUZZ_CODE_MAX 0x3000ull
#define FUZZ_DATA     0x8000ull	 /* 32 KiB of pseudo-random data */
#define FUZZ_PT	      0x20000ull /* page tables built here */
/* instructions and deliveries per run: short runs by default (more inputs
 * per second), long ones when the seed's top bit says so */
#define FUZZ_BUDGET_SHORT 2000
#define FUZZ_BUDGET_LONG  10000
/*
 * A guest can loop without retiring instructions (a fault whose handler
 * faults again, e.g. a non-executable handler page): the instruction budget
 * does not end that, the watchdog's kick must. A kicked run is accepted.
 */
#define FUZZ_WATCHDOG_MS 1000

struct fuzz_hdr {
	uint8_t mode, flags, events, where;
	uint8_t seed[4];
};

enum { M_REAL, M_PROT16, M_PROT32, M_LONG64, M_COMPAT32, M_COMPAT16, M_PROT32B, M_LONG64B };

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void put(struct hx *h, uint64_t gpa, const void *p, size_t n)
{
	if (gpa < h->ram_size && n <= h->ram_size - gpa)
		memcpy(h->ram + gpa, p, n);
}

static void put32(struct hx *h, uint64_t gpa, uint32_t v)
{
	put(h, gpa, &v, 4);
}

static void put64(struct hx *h, uint64_t gpa, uint64_t v)
{
	put(h, gpa, &v, 8);
}

/* a register value: often an address in RAM, sometimes an edge value */
static uint64_t rand_reg(uint64_t *s)
{
	static const uint64_t edge[] = {
	    0,
	    1,
	    2,
	    0x7f,
	    0x80,
	    0xff,
	    0x7fff,
	    0x8000,
	    0xffff,
	    0x7fffffff,
	    0x80000000ull,
	    0xffffffffull,
	    0x100000000ull,
	    0x7fffffffffffffffull,
	    0x8000000000000000ull,
	    ~0ull,
	    0xfee00000ull,
	    0x00007ffffffff000ull,
	    0xffff800000000000ull,
	};
	uint64_t r = rng_next(s);
	switch (r & 7) {
	case 0:
	case 1:
	case 2:
		return FUZZ_DATA + ((r >> 8) & 0x7ff8);
	case 3:
		return edge[(r >> 8) % (sizeof(edge) / sizeof(edge[0]))];
	case 4:
		return (r >> 8) & 0xff;
	case 5:
		return FUZZ_RAM - HX_SYS_SIZE + ((r >> 8) & 0x1fff8);
	default:
		return rng_next(s);
	}
}

/* 4 KiB page-table entry bits: mostly present, writable, user */
static uint64_t rand_pte_bits(uint64_t *s, bool nx)
{
	uint64_t r = rng_next(s), bits = 0x7;
	if ((r & 15) == 0)
		bits &= ~1ull; /* not present */
	if (((r >> 4) & 15) == 0)
		bits &= ~2ull; /* read-only */
	if (((r >> 8) & 15) == 0)
		bits &= ~4ull; /* supervisor */
	if (((r >> 12) & 15) == 0)
		bits |= 1ull << 8; /* global */
	if (nx && ((r >> 16) & 15) == 0)
		bits |= 1ull << 63;
	if (((r >> 20) & 31) == 0)
		bits |= 1ull << 51; /* reserved (above MAXPHYADDR of the harness) */
	return bits;
}

static void gate32(struct hx *h, uint64_t idt, int vec, uint32_t off, uint16_t sel, uint8_t attr)
{
	uint32_t lo = (off & 0xffff) | ((uint32_t)sel << 16);
	uint32_t hi = (off & 0xffff0000u) | ((uint32_t)attr << 8);
	put32(h, idt + 8 * vec, lo);
	put32(h, idt + 8 * vec + 4, hi);
}

static void gate64(struct hx *h, uint64_t idt, int vec, uint64_t off, uint16_t sel, uint8_t attr,
		   uint8_t ist)
{
	uint64_t lo = (off & 0xffff) | ((uint64_t)sel << 16) | ((uint64_t)(ist & 7) << 32) |
		      ((uint64_t)attr << 40) | ((off & 0xffff0000ull) << 32);
	put64(h, idt + 16 * vec, lo);
	put64(h, idt + 16 * vec + 8, off >> 32);
}

static void seg_flat(struct cpu_seg *s, uint16_t sel, uint32_t limit, uint8_t type, uint8_t dpl,
		     uint8_t l, uint8_t db, uint8_t g)
{
	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->limit = limit;
	s->type = type;
	s->s = 1;
	s->dpl = dpl;
	s->present = 1;
	s->l = l;
	s->db = db;
	s->g = g;
}

/* what the runs ended with (fuzz_stats()) */
static unsigned long stat_runs, stat_kicked, stat_exits[32];
static struct {
	const char *what;
	unsigned long n;
} stat_internal[16];

static void count_internal(const char *what)
{
	for (unsigned k = 0; k < 16; k++) {
		if (!stat_internal[k].what || !strcmp(stat_internal[k].what, what)) {
			stat_internal[k].what = what;
			stat_internal[k].n++;
			return;
		}
	}
}

static void kick(void *c)
{
	cpu_kick(c);
}

static void fail(const char *what, enum cpu_exit e, struct hx *h)
{
	struct cpu_regs r;
	cpu_get_regs(h->cpu, &r);
	fprintf(stderr, "fuzz_cpu: invariant violated: %s (exit %d %s, rip %#llx, insns %llu)\n",
		what, (int)e, hx_exit_name(e), (unsigned long long)r.rip,
		(unsigned long long)cpu_insn_count(h->cpu));
	abort();
}

/* ---- machine setup ---- */

static void setup_mode(struct hx *h, const struct fuzz_hdr *hd, uint64_t *s, uint64_t entry)
{
	int mode = hd->mode & 7;
	bool user = hd->mode & 8, paging = hd->mode & 16, alt = hd->mode & 32;
	struct cpu_sregs sr;

	switch (mode) {
	case M_REAL:
		hx_setup_real(h, (uint16_t)entry, (uint16_t)FUZZ_STACK);
		return;
	case M_LONG64:
	case M_LONG64B:
	case M_COMPAT32:
	case M_COMPAT16:
		hx_setup_long64(h, entry, FUZZ_STACK, user);
		if (alt) {
			/* first 2 MiB through a 4 KiB page table with random permissions */
			uint64_t pt = FUZZ_PT;
			for (int k = 0; k < 512; k++) {
				uint64_t bits = rand_pte_bits(s, true);
				put64(h, pt + 8 * k, ((uint64_t)k << 12) | bits);
			}
			put64(h, h->pml4 + 0x2000, pt | 7);
		}
		if (mode == M_COMPAT32 || mode == M_COMPAT16) {
			cpu_get_sregs(h->cpu, &sr);
			if (mode == M_COMPAT32)
				seg_flat(&sr.seg[SEG_CS], user ? HX_SEL_UCODE32 | 3 : HX_SEL_CODE32,
					 0xffffffff, 0xb, user ? 3 : 0, 0, 1, 1);
			else
				seg_flat(&sr.seg[SEG_CS], HX_SEL_CODE16, 0xffff, 0xb, 0, 0, 0, 0);
			cpu_set_sregs(h->cpu, &sr);
		}
		return;
	default: /* protected mode */
		hx_setup_prot32(h, (uint32_t)entry, (uint32_t)FUZZ_STACK, user && mode != M_PROT16);
		cpu_get_sregs(h->cpu, &sr);
		if (mode == M_PROT16)
			seg_flat(&sr.seg[SEG_CS], HX_SEL_CODE16, 0xffff, 0xb, 0, 0, 0, 0);
		if (paging && !alt) {
			/* 2-level: 4 KiB table for the first 4 MiB, 4 MiB pages above */
			uint64_t pd = FUZZ_PT, pt = FUZZ_PT + 0x1000;
			for (int k = 0; k < 1024; k++)
				put32(h, pt + 4 * k,
				      (uint32_t)(((uint64_t)k << 12) |
						 (rand_pte_bits(s, false) & 0x1ff)));
			put32(h, pd, (uint32_t)pt | 7);
			for (int k = 1; k < 1024; k++)
				put32(h, pd + 4 * k, ((uint32_t)k << 22) | 0x87);
			sr.cr3 = pd;
			sr.cr4 |= CR4_PSE;
			sr.cr0 |= CR0_PG | CR0_WP;
		} else if (paging) {
			/* PAE: PDPT -> 4 PDs of 2 MiB pages, a 4 KiB table for the first 2 MiB */
			uint64_t pdpt = FUZZ_PT, pd = FUZZ_PT + 0x1000, pt = FUZZ_PT + 0x5000;
			for (int k = 0; k < 4; k++)
				put64(h, pdpt + 8 * k, (pd + 0x1000 * k) | 1);
			for (int k = 0; k < 2048; k++)
				put64(h, pd + 8 * k, ((uint64_t)k << 21) | 0x87);
			for (int k = 0; k < 512; k++)
				put64(h, pt + 8 * k, ((uint64_t)k << 12) | rand_pte_bits(s, true));
			put64(h, pd, pt | 7);
			sr.cr3 = pdpt;
			sr.cr4 |= CR4_PAE;
			sr.cr0 |= CR0_PG | CR0_WP;
			if (rng_next(s) & 1)
				sr.efer |= EFER_NXE;
		}
		cpu_set_sregs(h->cpu, &sr);
		return;
	}
}

static void setup_tables(struct hx *h, const struct fuzz_hdr *hd, uint64_t *s, uint64_t code,
			 size_t code_len)
{
	int mode = hd->mode & 7;
	bool long_mode =
	    mode == M_LONG64 || mode == M_LONG64B || mode == M_COMPAT32 || mode == M_COMPAT16;

	/* ring-0 stacks for privilege changes: 32-bit ESP0/SS0 or 64-bit RSP0, IST1-7 */
	if (long_mode) {
		put64(h, h->tss + 4, FUZZ_STACK);
		for (int k = 1; k <= 7; k++)
			put64(h, h->tss + 0x24 + 8 * (k - 1), FUZZ_STACK - 0x200 * k);
	} else if (mode != M_REAL) {
		put32(h, h->tss + 4, (uint32_t)FUZZ_STACK);
		put32(h, h->tss + 8, HX_SEL_DATA);
	}
	if (hd->mode & 0x80) {
		/* GDT entries 12-31: random but plausible descriptors */
		for (int k = 12; k < 32; k++) {
			uint64_t r = rng_next(s);
			uint64_t d = (r & 0xffff) | ((r & 0x0f0000ull) << 32) | /* limit */
				     (((r >> 24) & 0xff) << 40) |		/* access */
				     (((r >> 32) & 0xf) << 52);			/* AVL L DB G */
			if ((r >> 40) & 1)
				d |= (FUZZ_DATA & 0xffffff) << 16; /* base */
			if (((r >> 41) & 7) == 0)
				d = rng_next(s);
			put64(h, h->gdt + 8 * k, d);
		}
	}
	if (!(hd->mode & 0x40) || !code_len)
		return;
	/* exceptions and interrupts jump back into the code */
	for (int v = 0; v < 256; v++) {
		uint64_t r = rng_next(s);
		uint64_t target = code + (r >> 8) % code_len;
		uint8_t dpl = (r & 1) ? 3 : 0;
		uint8_t type = (r & 2) ? 0xf : 0xe; /* trap or interrupt gate */
		if (mode == M_REAL) {
			put32(h, 4 * v, (uint32_t)target & 0xffff);
		} else if (long_mode) {
			uint8_t ist = (r & 0x80) ? (uint8_t)((r >> 4) & 7) : 0;
			gate64(h, h->idt, v, target, HX_SEL_CODE64,
			       (uint8_t)(0x80 | (dpl << 5) | type), ist);
		} else {
			gate32(h, h->idt, v, (uint32_t)target, HX_SEL_CODE32,
			       (uint8_t)(0x80 | (dpl << 5) | type));
		}
	}
}

static void setup_state(struct hx *h, const struct fuzz_hdr *hd, uint64_t *s)
{
	struct cpu_regs r;
	struct cpu_sregs sr;
	uint64_t fl = FL_1;
	int mode = hd->mode & 7;

	cpu_get_regs(h->cpu, &r);
	for (int k = 0; k < 16; k++)
		if (k != REG_RSP)
			r.gpr[k] = rand_reg(s);
	if ((rng_next(s) & 7) == 0)
		r.gpr[REG_RSP] = rand_reg(s);
	static const uint64_t fbits[8] = {FL_CF, FL_PF, FL_AF, FL_ZF, FL_SF, FL_DF, FL_OF, FL_IF};
	for (int k = 0; k < 8; k++)
		if (hd->flags & (1u << k))
			fl |= fbits[k];
	if (hd->events & 1)
		fl |= FL_TF;
	if (hd->events & 16)
		fl |= FL_IOPL;
	if (hd->events & 32)
		fl |= FL_AC;
	r.rflags = fl;
	cpu_set_regs(h->cpu, &r);

	if (mode != M_REAL && (hd->events & (8 | 128))) {
		cpu_get_sregs(h->cpu, &sr);
		if (hd->events & 8)
			sr.cr4 |=
			    CR4_SMEP | CR4_SMAP | CR4_PGE | CR4_OSFXSR | CR4_FSGSBASE | CR4_UMIP;
		if (hd->events & 128) {
			uint64_t x = rng_next(s);
			if (x & 1)
				sr.cr0 |= CR0_TS;
			if (x & 2)
				sr.cr0 |= CR0_EM;
			if (x & 4)
				sr.cr0 |= CR0_MP;
			if (x & 8)
				sr.cr0 |= CR0_AM;
			if (x & 16)
				sr.cr0 &= ~CR0_WP;
		}
		cpu_set_sregs(h->cpu, &sr);
	}
	if (hd->events & 2)
		cpu_inject_nmi(h->cpu);
	if (hd->events & 4)
		cpu_set_irq_pending(h->cpu, true);
}

/* Run with the budget and the watchdog; check what cpu_run() returned. */
static enum cpu_exit run_checked(struct hx *h, uint64_t budget)
{
	uint64_t i0 = cpu_insn_count(h->cpu);
	enum cpu_exit e;

	wd_arm(kick, h->cpu, FUZZ_WATCHDOG_MS);
	e = hx_run(h, budget);
	stat_runs++;
	stat_exits[(unsigned)e & 31]++;
	if (wd_disarm()) {
		stat_kicked++;
		if (e != CPU_EXIT_REQUEST)
			fail("kicked run returned without CPU_EXIT_REQUEST", e, h);
	}
	if (e == CPU_EXIT_NONE || !strcmp(hx_exit_name(e), "?"))
		fail("cpu_run() returned an unknown exit", e, h);
	/* the budget is checked at block boundaries: a block has at most 64 */
	if (cpu_insn_count(h->cpu) - i0 > budget + 64)
		fail("instruction budget overrun", e, h);
	if (e == CPU_EXIT_INTERNAL && !cpu_exit_info(h->cpu)->internal.what)
		fail("internal-error exit without a reason", e, h);
	if (e == CPU_EXIT_INTERNAL)
		count_internal(cpu_exit_info(h->cpu)->internal.what);
	return e;
}

/* Exercise the state accessors on whatever state the guest left. */
static void poke_state(struct hx *h, uint64_t *s)
{
	struct cpu_regs r;
	struct cpu_sregs sr;
	struct cpu_events ev;
	uint64_t gpa;
	bool w, u;

	cpu_get_regs(h->cpu, &r);
	cpu_get_sregs(h->cpu, &sr);
	cpu_get_events(h->cpu, &ev);
	for (int k = 0; k < 4; k++)
		cpu_translate(h->cpu, k == 0 ? r.rip : rand_reg(s), &gpa, &w, &u);
	for (int k = 0; k < 8; k++)
		(void)cpu_get_dr(h->cpu, k);
}

static bool initialised;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/*
 * Random inputs shaped like real ones (the replay driver's --random): every
 * mode in turn, and code mixing random bytes with common opcodes and
 * prefixes so that more of it decodes.
 */
size_t fuzz_random_input(uint64_t *s, unsigned long k, uint8_t *buf, size_t cap)
{
	static const uint8_t common[] = {
	    0x66, 0x67, 0xf3, 0xf2, 0xf0, 0x2e, 0x26, 0x64, 0x65, 0x48, 0x4c, 0x0f, 0x0f,
	    0x89, 0x8b, 0x01, 0x31, 0x83, 0xff, 0xe8, 0xc3, 0x74, 0x75, 0xeb, 0xcd, 0xcf,
	    0x9c, 0x9d, 0x50, 0x58, 0xa4, 0xa5, 0xab, 0xc1, 0xd3, 0xf7, 0xfa, 0xfb, 0xf4,
	    0x8e, 0xea, 0x9a, 0xca, 0xcb, 0x05, 0x07, 0x34, 0x35, 0x01, 0x20, 0x22, 0xa2,
	};
	size_t n = 8 + (size_t)(xorshift(s) % 256);

	if (n > cap)
		n = cap;
	for (size_t i = 0; i < n; i++) {
		uint64_t r = xorshift(s);
		buf[i] = (r & 3) ? (uint8_t)(r >> 8) : common[(r >> 8) % sizeof(common)];
	}
	buf[0] = (uint8_t)((buf[0] & ~7u) | (k & 7)); /* cycle through the modes */
	if (k % 8)
		buf[7] &= 0x7f; /* mostly the short instruction budget */
	return n;
}

void fuzz_stats(FILE *f)
{
	fprintf(f, "fuzz_cpu: %lu runs, %lu stopped by the watchdog; exits:", stat_runs,
		stat_kicked);
	for (unsigned k = 0; k < 32; k++)
		if (stat_exits[k])
			fprintf(f, " %s %lu", hx_exit_name((enum cpu_exit)k), stat_exits[k]);
	fprintf(f, "\n");
	for (unsigned k = 0; k < 16 && stat_internal[k].what; k++)
		fprintf(f, "fuzz_cpu: internal error \"%s\": %lu\n", stat_internal[k].what,
			stat_internal[k].n);
}

static void stats_at_exit(void)
{
	fuzz_stats(stderr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_hdr hd;
	struct hx *h;
	uint64_t seed, s, code, budget;
	size_t code_len;
	enum cpu_exit e;

	if (size < sizeof(hd))
		return -1; /* not interesting: keep it out of the corpus */
	if (!initialised) {
		wd_init();
		wd_set_message(
		    "fuzz_cpu: invariant violated: hang: cpu_run() does not return after "
		    "cpu_kick()\n");
		if (getenv("FUZZ_STATS"))
			atexit(stats_at_exit);
		initialised = true;
	}
	memcpy(&hd, data, sizeof(hd));
	data += sizeof(hd);
	size -= sizeof(hd);
	code_len = size < FUZZ_CODE_MAX ? size : FUZZ_CODE_MAX;
	seed = (uint64_t)hd.seed[0] | (uint64_t)hd.seed[1] << 8 | (uint64_t)hd.seed[2] << 16 |
	       (uint64_t)hd.seed[3] << 24;
	s = seed;
	code = FUZZ_CODE + 16u * hd.where;

	h = hx_create(FUZZ_RAM);
	if (!h)
		abort();
	/* pseudo-random data for loads, then the code */
	for (uint64_t off = 0; off < 0x8000; off += 8)
		put64(h, FUZZ_DATA + off, rng_next(&s));
	hx_load(h, code, data, code_len);
	setup_mode(h, &hd, &s, code);
	setup_tables(h, &hd, &s, code, code_len);
	setup_state(h, &hd, &s);
	cpu_note_external_write(h->cpu);

	budget = (hd.seed[3] & 0x80) ? FUZZ_BUDGET_LONG : FUZZ_BUDGET_SHORT;
	e = run_checked(h, budget);
	poke_state(h, &s);
	if ((hd.events & 64) && !h->exited && e != CPU_EXIT_SHUTDOWN && e != CPU_EXIT_INTERNAL) {
		/* continue after the exit: an NMI or interrupt line may wake a HLT */
		if (e == CPU_EXIT_HLT)
			cpu_inject_nmi(h->cpu);
		cpu_clear_kick(h->cpu);
		run_checked(h, budget);
		poke_state(h, &s);
	}
	hx_destroy(h);
	return 0;
}
